"""benchmarks/decoding.py without a model: argument checks, reply parsing for the outlines mode,
the table, ratios and targets, the BENCHMARKS.md section, and a free-mode run on a scripted backend."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from extractor.backends.scripted import ScriptedBackend
from extractor.config import ExtractConfig
from extractor.evaluate.datasets import load_benchmark
from extractor.records import Document, Provenance
from extractor.schemas import schema_from_attributes
from conftest import load_script

REPO = Path(__file__).resolve().parent.parent
ROOT = Path(__file__).parent / "fixtures" / "benchmarks"

decoding = load_script("benchmarks/decoding.py", "benchmarks_decoding")

SCHEMA = schema_from_attributes("Lure", {"Brand Name": {}, "Length": {}})
PROVENANCE = Provenance(model="m", adapter=None, prompt="extract.v1", schema=SCHEMA.id, decoding="outlines")


def result(mode: str, offers: int, seconds: float, f1: float, valid: int | None = None, **kw: float) -> object:
    return decoding.ModeResult(mode=mode, offers=offers, seconds=seconds, warmup_seconds=1.5,
                               schema_valid=offers if valid is None else valid, precision=f1, recall=f1, f1=f1, **kw)


def test_parse_args_defaults_and_lists() -> None:
    args = decoding.parse_args(["--dataset", "wdc-pave,ae-110k"])
    assert args.datasets == ["wdc-pave", "ae-110k"]
    assert args.mode_list == ["constrained", "free", "outlines"]
    assert (args.split, args.limit, args.k, args.selection, args.batch_size) == ("validation", 200, 3, "similar", 8)
    assert Path(args.data_root) == REPO.parent / "shared" / "data"


@pytest.mark.parametrize("argv, message", [
    (["--dataset", "ae-110k", "--modes", "constrained,beam"],
     "--modes takes a comma-separated subset of constrained, free, outlines (got 'constrained,beam')"),
    (["--dataset", "ae-110k", "--modes", ","],
     "--modes takes a comma-separated subset of constrained, free, outlines (got ',')"),
    (["--dataset", "ae-110k", "--limit", "0"], "--limit must be >= 1"),
])
def test_parse_args_refuses(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        decoding.parse_args(argv)
    err = capsys.readouterr().err
    assert exit_.value.code == 2, err  # argparse's usage error, not a crash or a clean exit
    assert f"error: {message}" in err, err


@pytest.mark.parametrize("raw, status, brand", [
    ('{"Brand Name": "REELMAX", "Length": "12cm"}', "ok", "REELMAX"),
    ('{"Brand Name": "REELMAX", "Length": "12cm"}<|im_end|>', "ok", "REELMAX"),
    ('{"Brand Name": "REELMAX", "Length": "12cm 12cm 12cm 12', "ok", "REELMAX"),   # cut off by the budget
    ('{"Brand Name": "REELMAX"', "invalid", None),                                # nothing complete to keep
    ('{"Brand Name": ["REELMAX", 3], "Length": null}', "invalid", None),          # not a string or null
])
def test_record_from_output_parses_like_the_free_path(raw: str, status: str, brand: str | None) -> None:
    record = decoding.record_from_output(SCHEMA, Document(id="7", text="t"), raw, [], PROVENANCE)
    assert (record.id, record.status, record.attributes["Brand Name"]) == ("7", status, brand)
    assert record.attempts == 1
    assert decoding.schema_valid(record, SCHEMA) is (status == "ok")
    if status == "invalid":
        assert record.raw == raw and record.error


def test_table_and_comparisons() -> None:
    results = [result("constrained", 10, 20.0, 40.0, constraint_seconds=1.0, decode_seconds=18.0),
               result("free", 10, 50.0, 38.5, valid=7),
               decoding.ModeResult(mode="outlines", skipped="outlines is not importable")]
    text = decoding.table(results)
    assert "| constrained | 10 | 0.500 | 1.5 | 100.0 | 40.00 | 40.00 | 40.00 | 5.6 | 0.00 |" in text
    assert "| free | 10 | 0.200 | 1.5 | 70.0 |" in text
    assert "| outlines | skipped: outlines is not importable |" in text
    assert all(line.count("|") == text.splitlines()[0].count("|") for line in text.splitlines())
    lines = decoding.comparisons(results)
    assert lines[0] == "constrained/free products/s: 2.50x; F1 constrained - free: +1.50"
    assert "100% schema-valid: met" in lines[-1] and ">= 2x free products/s: met" in lines[-1]
    assert "F1 >= free: met" in lines[-1] and "outlines" not in lines[-1]
    slower = decoding.comparisons([result("constrained", 10, 30.0, 30.0, valid=9), result("free", 10, 50.0, 38.5)])
    assert "100% schema-valid: missed (90.0%)" in slower[-1]
    assert ">= 2x free products/s: missed" in slower[-1] and "F1 >= free: missed" in slower[-1]


def test_append_rows_creates_the_area_and_keeps_later_areas(tmp_path: Path) -> None:
    path = tmp_path / "BENCHMARKS.md"
    decoding.append_rows(path, ["| row one |"])
    decoding.append_rows(path, ["| row two |"])
    text = path.read_text(encoding="utf-8")
    assert text.count(decoding.SECTION) == 1 and text.count(decoding.ROW_HEADER) == 1
    assert text.index("| row one |") < text.index("| row two |")
    path.write_text("# Benchmarks\n\n" + decoding.SECTION + "\n\n" + decoding.ROW_HEADER + "\n" + decoding.ROW_RULE
                    + "\n| old |\n\n## Quality\n\n| row |\n", encoding="utf-8")
    decoding.append_rows(path, ["| new |"])
    text = path.read_text(encoding="utf-8")
    assert text.index("| old |") < text.index("| new |") < text.index("## Quality")
    assert text.endswith("## Quality\n\n| row |\n")


REPLIES = {"Pencil": '{"Brand Name": "REELMAX", "Length": "12cm", "Weight": "18G", "Model Number": null}',
           "Trucker": "Sorry, I cannot answer that."}


def reply(prompt: str) -> str:
    asked = prompt.rsplit("Product: ", 1)[1]
    return next(answer for word, answer in REPLIES.items() if word in asked)


def test_run_mode_free_scores_and_counts_schema_valid() -> None:
    bench = load_benchmark("ae-110k", "validation", data_root=ROOT)
    config = ExtractConfig(k=1, selection="first", max_retries=0)
    records, res = decoding.run_mode("free", ScriptedBackend(reply), bench, config, None)
    assert [r.status for r in records] == ["ok", "invalid"]
    assert (res.offers, res.schema_valid, res.constraint_share) == (2, 1, None)
    assert (res.precision, res.recall, res.f1) == (66.67, 50.0, 57.14)


def test_main_records_the_block_and_skips_unrunnable_modes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    from extractor.decoding.kvcache import GQA_SWITCH

    seen = []

    def load(config):  # every mode, outlines too, runs with the grouped-query switch on
        seen.append(os.environ.get(GQA_SWITCH))
        return ScriptedBackend(reply)

    monkeypatch.delenv(GQA_SWITCH, raising=False)
    monkeypatch.setattr(decoding, "load_model", load)
    monkeypatch.setattr(decoding, "outlines_missing", lambda: "outlines is not importable (test)")
    monkeypatch.setattr(decoding, "clean_commit", lambda root, allow=(): "abc1234")  # the tree may be dirty
    bench_file = tmp_path / "BENCHMARKS.md"
    argv = ["--dataset", "ae-110k", "--data-root", str(ROOT), "--modes", "free,outlines", "--k", "1",
            "--max-retries", "0", "--out-dir", str(tmp_path / "runs"), "--record", "--benchmarks-file", str(bench_file)]
    assert decoding.main(argv) == 0
    assert seen == ["1"] and GQA_SWITCH not in os.environ  # and it does not outlive the run
    text = bench_file.read_text(encoding="utf-8")
    rows = [line for line in text.splitlines() if line.startswith("| 20")]
    assert decoding.SECTION in text and len(rows) == 1  # a skipped mode has no row
    assert rows[0].split(" | ")[1:4] == ["abc1234", "ae-110k/validation (2)", "free"]
    assert "`python benchmarks/decoding.py --dataset ae-110k" in rows[0] and "--record" not in rows[0]
    captured = capsys.readouterr()
    assert "| outlines | skipped: outlines is not importable (test) |" in captured.out
    summary = json.loads(next((tmp_path / "runs").glob("*.json")).read_text(encoding="utf-8"))
    assert [r["mode"] for r in summary["results"]] == ["free", "outlines"]
    assert len(list((tmp_path / "runs").glob("*-free-*.jsonl"))) == 1
    assert "skipping outlines" in captured.err
