"""benchmarks/quality.py end to end with a scripted backend on the hand-written fixture benchmarks."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from extractor import (QUALITY_SECTION, QUALITY_TABLE_HEADER, QUALITY_TABLE_RULE, ExtractorError, append_quality_row,
                       append_table_row, clean_commit, first_category, git_commit, recorded_command, shots_for)
from extractor.backends.scripted import ScriptedBackend
from extractor.cli import main as cli_main
from extractor.config import ExtractConfig
from extractor.evaluate.datasets import load_benchmark
from extractor.pipeline import Extractor
from conftest import load_script

REPO = Path(__file__).resolve().parent.parent
ROOT = Path(__file__).parent / "fixtures" / "benchmarks"

quality = load_script("benchmarks/quality.py", "benchmarks_quality")

# Replies keyed by a word of the offer being asked about (the text after the last "Product: ").
REPLIES = {
    "Pencil": '{"Brand Name": "REELMAX", "Length": "12cm", "Weight": "18G", "Model Number": null}',
    "Trucker": "Sorry, I cannot answer that.",
}


def reply(prompt: str) -> str:
    asked = prompt.rsplit("Product: ", 1)[1]
    return next(answer for word, answer in REPLIES.items() if word in asked)


def scripted(schema: Any, shots: Any, **config: Any) -> Extractor:
    # A scripted backend has no token-level access: it can only be run with free decoding.
    return Extractor(ScriptedBackend(reply), schema, ExtractConfig(**{"decoding": "free", **config}), shots=shots)


def test_run_quality_per_category_schemas_shots_and_scores() -> None:
    bench = load_benchmark("ae-110k", "validation", data_root=ROOT)
    category = first_category(bench)
    base = scripted(bench.schemas[category], shots_for(bench, category), k=1, selection="first", max_retries=0)
    run = quality.run_quality(base, bench)

    assert [r.id for r in run.records] == ["0", "1"]
    assert run.records[0].attributes["Weight"] == "18G"
    assert run.records[1].error is not None
    # The caps offer ran under the caps schema (its error record lists the caps attributes).
    assert list(run.records[1].attributes) == ["Style", "Gender"]
    prompts = base.backend.prompts  # type: ignore[attr-defined]
    assert "REELMAX 7cm 9g Floating Minnow" in prompts[0]          # the first Lure training offer as shot
    assert "Summer Snapback Baseball Cap" in prompts[1]             # the first caps training offer as shot
    assert "Category: Baseball Caps." in prompts[1]

    micro = run.evaluation.exact.micro
    # Lure: Brand VC, Length VC, Weight VW ("18G" vs "18g"); caps: Style VN (error), Gender NN.
    assert (micro.NN, micro.NV, micro.VN, micro.VC, micro.VW) == (1, 0, 1, 2, 1)
    assert (micro.precision, micro.recall, micro.f1) == (66.67, 50.0, 57.14)
    assert run.evaluation.lenient.micro.VC == 3
    assert run.valid_percent == 50.0
    assert run.per_second > 0


def _fake_from_pretrained(calls: list[dict[str, Any]]):
    def from_pretrained(cls, model: str, schema: Any, shots: Any, adapter=None, quantize=None, dtype="auto",
                        device="auto", **config: Any) -> Extractor:
        calls.append({"model": model, "schema": schema.name, "shots": len(shots), **config})
        return scripted(schema, shots, **config)
    return classmethod(from_pretrained)


def test_main_writes_records_prints_tables_and_appends_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(quality.Extractor, "from_pretrained", _fake_from_pretrained(calls))
    monkeypatch.setattr(quality, "clean_commit", lambda root, allow=(): "abc1234")  # the work tree may be dirty
    records, table = tmp_path / "records.jsonl", tmp_path / "BENCHMARKS.md"
    argv = ["--data", str(ROOT), "--dataset", "ae-110k", "--k", "1", "--selection", "first", "--max-retries", "0",
            "--decoding", "free",
            "--out", str(records), "--benchmarks-file", str(table)]

    assert quality.main(argv) == 0
    assert not table.exists()  # BENCHMARKS.md is written only when asked (--record)
    argv.append("--record")
    assert quality.main(argv) == 0
    assert calls[0] == calls[1] == {"model": "smollm2-135m", "schema": "Lure", "shots": 2, "k": 1,
                                    "selection": "first", "seed": 0, "decoding": "free", "batch_size": 8,
                                    "max_retries": 0, "null_bias": 0.0}
    assert len(calls) == 2
    out = capsys.readouterr().out
    assert "Lure / Weight" in out and "50.0% valid records" in out
    lines = [json.loads(line) for line in records.read_text().splitlines()]
    assert [line["id"] for line in lines] == ["0", "1"]

    # The records file scores the same through the CLI (gold without ids: matched by order).
    result = CliRunner().invoke(cli_main, ["evaluate", "--gold", str(ROOT / "ae-110k" / "validation.jsonl"),
                                           "--pred", str(records), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["matched_by"] == "order"
    assert json.loads(result.output)["exact"]["micro"]["f1"] == 57.14

    assert quality.main(argv + ["--limit", "1"]) == 0
    text = table.read_text()
    assert text.startswith("# Benchmarks")
    rows = [line for line in text.splitlines() if line.startswith("| 20")]
    assert len(rows) == 2
    cells = [c.strip() for c in rows[0].strip("|").split("|")]
    assert cells[1:] == ["abc1234", "ae-110k/validation (2)",
                         "smollm2-135m, k=1 selection=first decoding=free text=title",
                         "66.67", "50.00", "57.14", cells[-2],
                         f"`python benchmarks/quality.py --data {ROOT} --dataset ae-110k --k 1 --selection first "
                         f"--max-retries 0 --decoding free --out {records}`"]
    assert float(cells[-2]) > 0  # products/s
    assert "limit=1" in rows[1] and "ae-110k/validation (1)" in rows[1] and "--limit 1`" in rows[1]
    assert text.index(QUALITY_SECTION) < text.index(QUALITY_TABLE_HEADER)


@pytest.mark.parametrize("flags, record", [([], False), (["--record"], True), (["--no-record"], False),
                                            (["--record", "--no-record"], False)])
def test_writing_to_benchmarks_md_is_opt_in(flags: list[str], record: bool) -> None:
    assert quality.parse_args(["--dataset", "oa-mine", *flags]).record is record


def test_main_reports_library_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert quality.main(["--data", str(tmp_path), "--dataset", "oa-mine", "--no-record"]) == 1
    assert "no dataset folder" in capsys.readouterr().err


def test_append_quality_row_keeps_other_tables(tmp_path: Path) -> None:
    path = tmp_path / "BENCHMARKS.md"
    path.write_text("# Benchmarks\n\n## Speed\n\n| a | b |\n|---|---|\n| 1 | 2 |\n")
    append_quality_row(path, "| first |")
    append_quality_row(path, "| second |")
    path.write_text(path.read_text() + "\n## Later section\n\n| x |\n")
    append_quality_row(path, "| third |")
    lines = path.read_text().splitlines()
    header = lines.index(QUALITY_TABLE_HEADER)
    assert lines[header - 2] == QUALITY_SECTION
    assert lines[header + 1:header + 5] == [QUALITY_TABLE_RULE, "| first |", "| second |", "| third |"]
    assert lines[lines.index("| 1 | 2 |") - 2] == "| a | b |"
    assert lines[-1] == "| x |"


def test_append_table_row_goes_to_its_areas_table(tmp_path: Path) -> None:
    """A row lands at the end of its area's table, before later areas; a missing table or area is made."""
    path = tmp_path / "B.md"
    path.write_text("# Benchmarks\n\n## One\n\nIntro.\n\n| h |\n|---|\n| 1 |\n\nA note.\n\n## Two\n\nNone yet.\n")
    append_table_row(path, "## One", "| h |", "|---|", "| 2 |")
    append_table_row(path, "## Two", "| k |", "|---|", "| a |")
    append_table_row(path, "## Three", "| z |", "|---|", "| q |", intro="New area.")
    append_table_row(path, "## Two", "| k |", "|---|", "| b |")
    assert path.read_text() == ("# Benchmarks\n\n## One\n\nIntro.\n\n| h |\n|---|\n| 1 |\n| 2 |\n\nA note.\n\n"
                                "## Two\n\nNone yet.\n\n| k |\n|---|\n| a |\n| b |\n\n"
                                "## Three\n\nNew area.\n\n| z |\n|---|\n| q |\n")
    fresh = tmp_path / "new.md"
    append_table_row(fresh, "## One", "| h |", "|---|", "| 1 |")
    text = fresh.read_text()
    assert text.startswith("# Benchmarks\n") and text.endswith("## One\n\n| h |\n|---|\n| 1 |\n")


def test_recorded_command_leaves_out_the_recording_options() -> None:
    assert recorded_command("benchmarks/quality.py", ["--dataset", "oa-mine", "--record", "--benchmarks-file", "B.md",
                                                      "--out", "a b.jsonl", "--benchmarks-file=C.md", "--no-record"]) \
        == "python benchmarks/quality.py --dataset oa-mine --out 'a b.jsonl'"


def test_clean_commit_refuses_a_changed_tree_but_the_benchmarks_file(tmp_path: Path) -> None:
    def git(*args: str) -> None:
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path, check=True,
                       capture_output=True)

    with pytest.raises(ExtractorError, match="commit"):
        clean_commit(tmp_path)
    git("init", "-q")
    (tmp_path / "code.py").write_text("x = 1\n")
    (tmp_path / "BENCHMARKS.md").write_text("# Benchmarks\n")
    git("add", ".")
    git("commit", "-q", "-m", "first")
    head = git_commit(tmp_path)
    assert clean_commit(tmp_path) == head and "+" not in head
    (tmp_path / "BENCHMARKS.md").write_text("# Benchmarks\n\n| row |\n")
    assert clean_commit(tmp_path, allow=(tmp_path / "BENCHMARKS.md",)) == head
    with pytest.raises(ExtractorError, match="BENCHMARKS.md"):
        clean_commit(tmp_path)
    (tmp_path / "code.py").write_text("x = 2\n")
    with pytest.raises(ExtractorError, match="code.py"):
        clean_commit(tmp_path, allow=(tmp_path / "BENCHMARKS.md",))
    assert git_commit(tmp_path) == head + "+dirty"


def test_git_commit_outside_a_repository(tmp_path: Path) -> None:
    assert git_commit(tmp_path) == "uncommitted"


def test_prompt_settings_default_to_the_adapters_own(tmp_path: Path) -> None:
    args = quality.parse_args(["--dataset", "ae-110k"])
    quality.resolve_prompt_settings(args)
    assert (args.k, args.selection, args.truncation, args.null_bias) == (3, "similar", {}, 0.0)
    (tmp_path / "extractor_manifest.json").write_text(json.dumps(
        {"format": "extractor-adapter/1", "prompt_settings": {"k": 0, "selection": "first", "max_text_tokens": 256},
         "decoding_settings": {"null_bias": 1.5}}),
        encoding="utf-8")
    args = quality.parse_args(["--dataset", "ae-110k", "--adapter", str(tmp_path)])
    quality.resolve_prompt_settings(args)
    assert (args.k, args.selection, args.truncation, args.null_bias) == (0, "first", {"max_text_tokens": 256}, 1.5)
    args = quality.parse_args(["--dataset", "ae-110k", "--adapter", str(tmp_path), "--k", "2", "--null-bias", "0"])
    quality.resolve_prompt_settings(args)
    assert (args.k, args.selection, args.null_bias) == (2, "first", 0.0)  # what is given wins
