"""benchmarks/distill.py end to end on the fixture benchmark with tiny models: the tiny random Llama
labels the train texts, a tiny random BERT learns from its records, both extract validation."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_tagger import build_encoder  # noqa: E402
from conftest import load_script  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
ROOT = Path(__file__).parent / "fixtures" / "benchmarks"

distill = load_script("benchmarks/distill.py", "benchmarks_distill")


def test_teacher_labels_train_student_learns_both_are_scored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             tiny_model: Any, capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    from extractor.backends.transformers import TransformersBackend

    torch.set_num_threads(1)
    model, tokenizer = tiny_model
    monkeypatch.setattr("extractor.models.load_model",
                        lambda config=None, **kw: TransformersBackend(model, tokenizer, name="tiny-random"))
    encoder = build_encoder(tmp_path / "encoder")
    out = tmp_path / "run"
    assert distill.main(["--data", str(ROOT), "--dataset", "ae-110k", "--k", "0", "--student-model", str(encoder),
                         "--epochs", "1", "--window", "64", "--overlap", "16", "--validation-share", "0",
                         "--device", "cpu", "--out", str(out)]) == 0
    printed = first = capsys.readouterr().out
    train_lines = (ROOT / "ae-110k" / "train.jsonl").read_text(encoding="utf-8").splitlines()
    assert f"teacher labelled {len(train_lines)} train offers" in printed
    for needle in ("teacher: F1", "student: F1", "student against the teacher's records: P", "products/s ratio"):
        assert needle in printed, printed
    teacher = [json.loads(line) for line in (out / "train.teacher.records.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(teacher) == len(train_lines)
    validation = (ROOT / "ae-110k" / "validation.jsonl").read_text(encoding="utf-8").splitlines()
    student = (out / "validation.student.records.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(student) == len(validation)
    assert (out / "student" / "tagger_manifest.json").is_file()

    # the same teacher records again, without loading the teacher: a quicker run of another student
    def no_teacher(config: Any = None, **kw: Any) -> Any:
        raise AssertionError("the teacher was loaded though its records were given")

    monkeypatch.setattr("extractor.models.load_model", no_teacher)
    again = tmp_path / "again"
    assert distill.main(["--data", str(ROOT), "--dataset", "ae-110k", "--k", "0", "--student-model", str(encoder),
                         "--epochs", "1", "--window", "64", "--overlap", "16", "--validation-share", "0",
                         "--device", "cpu", "--out", str(again), "--teacher-records", str(out),
                         "--span-threshold", "0.3"]) == 0
    printed = capsys.readouterr().out
    assert json.loads((out / "student" / "tagger_manifest.json").read_text())["span_threshold"] is None
    assert json.loads((again / "student" / "tagger_manifest.json").read_text())["span_threshold"] == 0.3
    assert f"teacher's records of {len(train_lines)} train offers read from {out}" in printed
    assert "products/s not measured (records reused)" in printed and "products/s ratio not measured" in printed
    assert (again / "train.teacher.records.jsonl").read_text() == (out / "train.teacher.records.jsonl").read_text()
    assert teacher_line(printed) == teacher_line(first)  # the same records, the same score
    # records of other offers are refused rather than trained on
    with pytest.raises(Exception, match="other offers"):
        distill.main(["--data", str(ROOT), "--dataset", "ae-110k", "--limit", "1", "--student-model", str(encoder),
                      "--device", "cpu", "--out", str(tmp_path / "wrong"), "--teacher-records", str(out)])


def teacher_line(printed: str) -> str:
    """The teacher's F1 as the script printed it (the products/s after it left out)."""
    [line] = [line for line in printed.splitlines() if line.startswith("teacher: F1")]
    return line.split(",")[0]


def test_teacher_gold_is_the_teachers_values() -> None:
    from extractor import GOLD_ABSENT, GoldOffer, Provenance, Record

    offer = GoldOffer(id="1", has_id=True, category="Lure", targets={"Brand Name": ("X",), "Length": ("7cm",)})
    record = Record(id="1", attributes={"Brand Name": "REELMAX", "Length": None},
                    provenance=Provenance(model="m", adapter=None, prompt="p", schema="s", decoding="constrained"))
    benchmark = type("B", (), {"gold": [offer]})()
    (gold,) = distill.teacher_gold(benchmark, [record])
    assert gold.targets == {"Brand Name": ("REELMAX",), "Length": (GOLD_ABSENT,)}


def test_the_student_is_built_for_every_schema_even_those_the_labelled_texts_miss() -> None:
    """--limit can stop before a category's first train offer; the student must still read that
    category's evaluated offers, so the silver set keeps every schema of the split."""
    from extractor import Provenance, Record, load_benchmark

    evaluated = load_benchmark("ae-110k", "validation", str(ROOT))
    assert len(evaluated.schemas) >= 2
    train = distill.train_split(distill.parse_args(["--data", str(ROOT), "--dataset", "ae-110k", "--limit", "1"]),
                                evaluated)
    (first,) = train.documents
    record = Record(id=first.id, attributes={name: None for name in train.schemas[first.category].names},
                    provenance=Provenance(model="m", adapter=None, prompt="p", schema="s", decoding="constrained"))
    data, _ = distill.silver(train, [record], 0.0)
    assert [d.category for d in data.documents] == [first.category]
    assert set(data.schemas) == set(evaluated.schemas)  # not only the labelled text's category
