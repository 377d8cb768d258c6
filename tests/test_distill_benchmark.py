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
    for needle in ("teacher: P", "student: F1", "student against the teacher's records: P", "products/s ratio"):
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
    [line] = [line for line in printed.splitlines() if line.startswith("teacher: P")]
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


def test_write_folds_splits_the_train_offers_into_complements(tmp_path: Path) -> None:
    """Each fold file holds the offers outside its fold, as shots lines naming schema files of the
    whole train split: the schemas (and ids) the benchmark extracts with, so the adapters match."""
    from extractor import load_benchmark, load_schema

    texts = [json.loads(line)["input"] for line in (ROOT / "ae-110k" / "train.jsonl").read_text().splitlines()]
    args = distill.parse_args(["--data", str(ROOT), "--dataset", "ae-110k", "--write-folds", "2", "--seed", "3"])
    paths = distill.write_folds(args, tmp_path)
    assert [p.name for p in paths] == ["fold-0.train.jsonl", "fold-1.train.jsonl"]
    kept = [[json.loads(line) for line in p.read_text(encoding="utf-8").splitlines()] for p in paths]
    held = [[t for t in texts if t not in {row["text"] for row in part}] for part in kept]
    assert sorted(held[0] + held[1]) == sorted(texts)  # every offer held out of exactly one fold
    assert all(held) and all(len(part) + len(out) == len(texts) for part, out in zip(kept, held))
    benchmark = load_benchmark("ae-110k", "validation", str(ROOT))
    for row in kept[0] + kept[1]:
        schema = load_schema(row["schema"])
        assert schema.id in {s.id for s in benchmark.schemas.values()}
        assert set(row["record"]) == set(schema.names)
    again = distill.write_folds(args, tmp_path / "again")  # the same seed, the same folds
    moved = [p.read_text().replace(str(tmp_path / "again"), str(tmp_path)) for p in again]
    assert moved == [p.read_text() for p in paths]
    with pytest.raises(Exception, match="at least 2"):
        distill.write_folds(distill.parse_args(["--data", str(ROOT), "--dataset", "ae-110k", "--write-folds", "1"]),
                            tmp_path / "one")


def fake_adapter(folder: Path, train: Path) -> Path:
    """An adapter folder whose manifest says it was tuned on ``train`` (no weights: the teacher is faked)."""
    import hashlib

    from extractor.adapter import FORMAT, write_manifest

    folder.mkdir(parents=True)
    write_manifest(folder, {"format": FORMAT, "training_data": {"files": [
        {"path": str(train), "layout": "shots", "sha256": hashlib.sha256(train.read_bytes()).hexdigest()}]}})
    return folder


def test_cross_fitted_adapters_never_label_a_text_they_were_tuned_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """Each train offer goes to an adapter whose training files lack its text; every adapter is scored
    on validation and the teacher's F1 is their mean. The teacher is faked (it answers the gold),
    the student is a tiny random BERT."""
    from extractor import Provenance, Record

    real_extract = distill.extract_benchmark
    labelled: dict[str, str] = {}  # text -> adapter that labelled it

    def fake_extract(engine: Any, benchmark: Any) -> tuple[list[Any], float]:
        if not isinstance(engine, str):
            return real_extract(engine, benchmark)  # the student
        records = []
        for document, offer in zip(benchmark.documents, benchmark.gold):
            if benchmark.split == "train":
                labelled[document.text] = engine
            values = {a: None if a not in offer.targets or offer.absent(a) else offer.targets[a][0]
                      for a in benchmark.schemas[offer.category].names}
            records.append(Record(id=document.id, attributes=values, provenance=Provenance(
                model="fake", adapter=engine, prompt="p", schema="s", decoding="constrained")))
        return records, 1.0

    monkeypatch.setattr(distill, "extract_benchmark", fake_extract)
    monkeypatch.setattr(distill, "teacher_engine", lambda args, benchmark, adapter=None: str(adapter))
    folds = distill.write_folds(distill.parse_args(["--data", str(ROOT), "--dataset", "ae-110k", "--write-folds", "2"]),
                                tmp_path / "folds")
    adapters = [fake_adapter(tmp_path / f"a{i}", path) for i, path in enumerate(folds)]
    encoder = build_encoder(tmp_path / "encoder")
    common = ["--data", str(ROOT), "--dataset", "ae-110k", "--student-model", str(encoder), "--epochs", "1",
              "--window", "64", "--overlap", "16", "--validation-share", "0", "--device", "cpu"]
    out = tmp_path / "run"
    assert distill.main(common + ["--teacher-adapter", str(adapters[0]), "--teacher-adapter", str(adapters[1]),
                                  "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    train_texts = {json.loads(line)["input"] for line in (ROOT / "ae-110k" / "train.jsonl").read_text().splitlines()}
    assert set(labelled) == train_texts
    for adapter, fold in zip(adapters, folds):
        tuned = {json.loads(line)["text"] for line in fold.read_text().splitlines()}
        mine = {text for text, by in labelled.items() if by == str(adapter)}
        assert mine and mine.isdisjoint(tuned)
    for index in (0, 1):
        assert f"teacher {index} ({adapters[index]}): P 100.00 R 100.00 F1 100.00" in printed, printed
        assert (out / f"validation.teacher-{index}.records.jsonl").is_file()
    n = len((ROOT / "ae-110k" / "validation.jsonl").read_text().splitlines())  # the fake takes 1 s per split
    assert f"teacher: mean F1 100.00 of 2 adapters, mean {n:.2f} products/s" in printed
    assert "student/teacher: F1 ratio" in printed

    # label on one machine, train and time on another: --label-only writes the train records and stops
    # (no student: the encoder given does not exist), and a later run extracts validation with each
    # adapter itself, so the teacher's products/s is measured where the student's is
    labels = tmp_path / "labels"
    assert distill.main(common[:4] + ["--student-model", str(tmp_path / "absent"), "--label-only", "--teacher-adapter",
                                      str(adapters[0]), "--teacher-adapter", str(adapters[1]), "--out", str(labels)]) == 0
    assert capsys.readouterr().out.endswith(f"wrote {labels / 'train.teacher.records.jsonl'}\n")
    assert sorted(p.name for p in labels.iterdir()) == ["train.teacher.records.jsonl"]
    assert (labels / "train.teacher.records.jsonl").read_text() == (out / "train.teacher.records.jsonl").read_text()
    assert distill.main(common + ["--teacher-adapter", str(adapters[0]), "--teacher-adapter", str(adapters[1]),
                                  "--teacher-records", str(labels), "--out", str(tmp_path / "timed")]) == 0
    assert f"teacher: mean F1 100.00 of 2 adapters, mean {n:.2f} products/s" in capsys.readouterr().out

    # an offer every adapter was tuned on is refused, and so is a training file changed since
    both = fake_adapter(tmp_path / "both", ROOT / "ae-110k" / "train.jsonl")
    with pytest.raises(Exception, match="every --teacher-adapter was tuned on train offer"):
        distill.main(common + ["--teacher-adapter", str(adapters[0]), "--teacher-adapter", str(both),
                               "--out", str(tmp_path / "no")])
    folds[1].write_text(folds[1].read_text() + "\n")
    with pytest.raises(Exception, match="gone or has changed"):
        distill.main(common + ["--teacher-adapter", str(adapters[0]), "--teacher-adapter", str(adapters[1]),
                               "--out", str(tmp_path / "no")])
