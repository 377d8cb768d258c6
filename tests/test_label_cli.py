"""`extractor label` and `finetune-tagger --silver` (extractor/cli/label.py, extractor/cli/train.py),
and the whole path for a schema without labels on tiny models: label -> a person's corrections
(the export edited) -> import -> finetune-tagger -> extract with the trained tagger; and
distillation: extract -> finetune-tagger --silver."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from extractor.cli import main

from conftest import save_tiny_bert, wordpiece_tokenizer

FIXTURES = Path(__file__).parent / "fixtures" / "label-studio"
TRUTH = [
    ("😀 Nike Air Zoom running shoe black size 10", {"Brand": "Nike", "Color": ["black"], "Size": "10"}),
    ("Hanes crew tee navy blue XL 🎉", {"Brand": "Hanes", "Color": ["navy blue"], "Size": "XL"}),
    ("Levis slim jeans dark indigo 32W", {"Brand": "Levis", "Color": ["dark indigo"], "Size": "32W"}),
    ("Puma suede sneaker red white size 9 waterproof", {"Brand": "Puma", "Color": ["red", "white"], "Size": "9"}),
    ("𠮷野家 shoe Asics gel blue 11", {"Brand": "Asics", "Color": ["blue"], "Size": "11"}),
    ("Salomon trail boot grey 42 🥾", {"Brand": "Salomon", "Color": ["grey"], "Size": "42"}),
]


@pytest.fixture(scope="module")
def encoder(tmp_path_factory: pytest.TempPathFactory) -> str:
    import torch
    from tokenizers import trainers

    torch.set_num_threads(1)  # tiny matrices: more threads only add overhead
    tok = wordpiece_tokenizer()
    tok.train_from_iterator([t for t, _ in TRUTH] * 3, trainers.WordPieceTrainer(
        vocab_size=200, show_progress=False, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]))
    return str(save_tiny_bert(tmp_path_factory.mktemp("tiny-bert"), tok, positions=128))


@pytest.fixture()
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copy(FIXTURES / "shoes.schema.json", tmp_path / "shoes.schema.json")
    (tmp_path / "offers.jsonl").write_text(
        "".join(json.dumps({"id": f"o{i}", "text": t}, ensure_ascii=False) + "\n" for i, (t, _) in enumerate(TRUTH)),
        encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture()
def tiny_llm(monkeypatch: pytest.MonkeyPatch, tiny_model: Any) -> None:
    """Every LLM the CLI loads is the tiny random Llama (constrained decoding: spans and confidences)."""
    from extractor.backends.transformers import TransformersBackend

    model, tokenizer = tiny_model
    monkeypatch.setattr("extractor.models.load_model",
                        lambda config=None, **kw: TransformersBackend(model, tokenizer, name="tiny-random"))


def run(*args: str) -> Any:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result


def utf16(text: str, value: str) -> tuple[int, int]:
    """Label Studio's offsets of ``value`` in ``text``, counted independently (UTF-16 code units)."""
    start = text.index(value)
    return len(text[:start].encode("utf-16-le")) // 2, len(text[:start + len(value)].encode("utf-16-le")) // 2


def corrected(task: dict[str, Any], truth: dict[str, Any], n: int) -> dict[str, Any]:
    """The task as Label Studio exports it after a person replaced the pre-annotations with ``truth``."""
    text = task["data"]["text"]
    result = []
    for attribute, value in truth.items():
        for item in value if isinstance(value, list) else [value]:
            start, end = utf16(text, item)
            result.append({"id": f"h{len(result)}", "from_name": "label", "to_name": "text", "type": "labels",
                           "origin": "manual", "value": {"start": start, "end": end, "text": item,
                                                         "labels": [attribute]}})
    return {**task, "id": n, "predictions": [n],
            "annotations": [{"id": 10 * n, "result": task["predictions"][0]["result"], "was_cancelled": False,
                             "created_at": "2026-12-01T10:00:00.000000Z", "updated_at": "2026-12-01T10:00:00.000000Z"},
                            {"id": 10 * n + 1, "result": result, "was_cancelled": False,
                             "created_at": "2026-12-01T10:01:00.000000Z", "updated_at": "2026-12-01T10:02:00.000000Z"}]}


def test_label_correct_import_train_extract(workdir: Path, tiny_llm: None, encoder: str) -> None:
    result = run("label", "offers.jsonl", "--schema", "shoes.schema.json", "-k", "0", "-o", "tasks.json",
                 "--order", "least-confident", "--no-progress")
    assert result.exit_code == 0, result.output
    tasks = json.loads((workdir / "tasks.json").read_text(encoding="utf-8"))
    assert "<Labels" in (workdir / "tasks.config.xml").read_text(encoding="utf-8")
    assert sorted(t["data"]["offer_id"] for t in tasks) == [f"o{i}" for i in range(len(TRUTH))]
    scores = [t["predictions"][0]["score"] for t in tasks]  # constrained decoding scores every record
    assert scores == sorted(scores)
    for task in tasks:  # each pre-annotation is where Label Studio will show it
        text = task["data"]["text"]
        for region in task["predictions"][0]["result"]:
            if region["type"] == "labels":
                value = region["value"]
                assert text.encode("utf-16-le")[2 * value["start"]:2 * value["end"]].decode("utf-16-le") \
                    == value["text"]

    truth = dict(TRUTH)
    export = [corrected(task, truth[task["data"]["text"]], n) for n, task in enumerate(tasks, start=1)]
    export[-1]["annotations"] = []  # one task nobody reached
    (workdir / "export.json").write_text(json.dumps(export, ensure_ascii=False), encoding="utf-8")
    result = run("label", "--import", "tasks.json", "--predictions", "-o", "silver.jsonl")  # label's own output
    assert result.exit_code == 0, result.output
    silver = (workdir / "silver.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(silver) == len(TRUTH) and f"{len(TRUTH)} line(s) from the engine's pre-annotations" in result.stderr

    result = run("label", "--import", "export.json", "-o", "labelled.jsonl")
    assert result.exit_code == 0, result.output
    assert "1 task(s) without an annotation" in result.stderr
    lines = [json.loads(line) for line in (workdir / "labelled.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(lines) == len(TRUTH) - 1
    for line in lines:
        assert line["record"] == {**truth[line["text"]], "Waterproof": None}
        assert line["schema"] == "shoes.schema.json"

    result = run("finetune-tagger", "labelled.jsonl", "--schema", "shoes.schema.json", "-o", "tagger", "-m", encoder,
                 "--epochs", "2", "--window", "64", "--overlap", "16", "--batch-size", "4", "--validation-share", "0", "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert (workdir / "tagger" / "tagger_manifest.json").is_file()
    result = run("extract", "offers.jsonl", "--schema", "shoes.schema.json", "--engine", "tagger",
                 "--model", "tagger", "--device", "cpu", "-o", "records.jsonl", "--no-progress")
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in (workdir / "records.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in records] == [f"o{i}" for i in range(len(TRUTH))]
    assert all(r["status"] == "ok" for r in records)


def test_distill_extract_records_into_a_tagger(workdir: Path, tiny_llm: None, encoder: str) -> None:
    result = run("extract", "offers.jsonl", "--schema", "shoes.schema.json", "-k", "0", "-o", "records.jsonl",
                 "--no-progress")
    assert result.exit_code == 0, result.output
    result = run("finetune-tagger", "offers.jsonl", "--silver", "records.jsonl", "--min-confidence", "0.5",
                 "--schema", "shoes.schema.json", "-o", "student", "-m", encoder, "--epochs", "1", "--window", "64", "--overlap", "16",
                 "--validation-share", "0", "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert f"silver labels: {len(TRUTH)} text(s)" in result.stderr
    assert (workdir / "student" / "tagger_manifest.json").is_file()
    # the same records as tasks to correct, without running the engine again
    result = run("label", "offers.jsonl", "--records", "records.jsonl", "--schema", "shoes.schema.json",
                 "-o", "tasks.json")
    assert result.exit_code == 0, result.output
    tasks = json.loads((workdir / "tasks.json").read_text(encoding="utf-8"))
    records = [json.loads(line) for line in (workdir / "records.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [t["data"]["offer_id"] for t in tasks] == [r["id"] for r in records]
    assert all(t["predictions"][0]["model_version"] == r["provenance"]["spec"] for t, r in zip(tasks, records))


@pytest.mark.parametrize(("args", "message"), [
    (["label", "offers.jsonl", "-o", "tasks.json"], "give --schema"),
    (["label", "offers.jsonl", "--schema", "shoes.schema.json", "-o", "-"], "-o must name a file"),
    (["label", "-o", "tasks.json"], "give INPUT"),
    (["label", "offers.jsonl", "--import", "offers.jsonl", "-o", "x.jsonl"], "INPUT is for making tasks"),
    (["label", "--import", "offers.jsonl", "--model", "m", "-o", "x.jsonl"], "not model"),
    (["finetune-tagger", "offers.jsonl", "--min-confidence", "0.5", "-o", "t"], "applies to --silver"),
    (["label", "offers.jsonl", "--schema", "shoes.schema.json", "--predictions", "-o", "t.json"],
     "--predictions applies to --import"),
    (["label", "--import", "offers.jsonl", "--min-confidence", "0.5", "-o", "x.jsonl"], "not min_confidence"),
    (["label", "offers.jsonl", "--records", "offers.jsonl", "--model", "m", "--schema", "s", "-o", "t.json"],
     "--records holds the engine's records; model"),
    (["finetune-tagger", "offers.jsonl", "--silver", "offers.jsonl", "-o", "t"], "--silver needs --schema"),
])
def test_usage_errors(workdir: Path, args: list[str], message: str) -> None:
    result = run(*args)
    assert result.exit_code == 2 and message in result.output, result.output


def test_import_of_the_fixture_export(workdir: Path) -> None:
    shutil.copy(FIXTURES / "export.json", workdir / "export.json")
    result = run("label", "--import", "export.json", "-o", "labelled.jsonl")
    assert result.exit_code == 0, result.output
    assert "4 labelled line(s)" in result.stderr and "Material (1)" in result.stderr
    first = json.loads((workdir / "labelled.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert first["record"]["Size"] == "10"


def test_engine_spec_and_shortcuts_mean_the_same_engine(workdir: Path) -> None:
    result = run("extract", "offers.jsonl", "--print-spec", "--model", "x", "-k", "0")
    (workdir / "spec.yaml").write_text(result.stdout, encoding="utf-8")
    result = run("label", "offers.jsonl", "--engine-spec", "spec.yaml", "--model", "y", "--schema",
                 "shoes.schema.json", "-o", "tasks.json")
    assert result.exit_code == 2 and "--engine-spec describes the engine" in result.output


def test_the_labelling_page_commands_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    from test_readme import check_commands

    problems, parsed = check_commands(Path(__file__).resolve().parents[1] / "docs" / "labelling.md", monkeypatch)
    assert problems == []
    assert [p.command for _, p in parsed] == ["label", "label", "label", "finetune-tagger", "extract", "extract",
                                              "finetune-tagger", "label", "finetune-tagger", "finetune"]
