"""Tests for the normalize and vocab commands of the CLI."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from extractor.cli import main
from extractor.schemas import DRAFT

SCHEMA = {"$schema": DRAFT, "title": "shop", "type": "object", "additionalProperties": False, "properties": {
    "Color": {"type": ["string", "null"], "x-normalize": {"vocab": "colors", "match": {"contains": "first"}}},
    "Width": {"type": ["string", "null"], "x-normalize": {"unit": {"dimension": "length", "to": "cm", "default": "in",
                                                                     "precision": 1}}},
}}


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_normalize_command(tmp_path: Path) -> None:
    schema = write(tmp_path / "shop.schema.json", json.dumps(SCHEMA))
    records = write(tmp_path / "records.jsonl", "\n".join(json.dumps(r) for r in [
        {"id": "1", "attributes": {"Color": "Navy Blue", "Width": "4In"}, "error": None},
        {"id": "2", "attributes": {"Color": "Heliotrope Mist", "Width": None}, "error": None},
    ]) + "\n")
    out = tmp_path / "normalized.jsonl"
    result = CliRunner().invoke(main, ["normalize", str(records), "--schema", str(schema), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "2 records" in result.output and "unmatched: Color 1" in result.output
    first = json.loads(out.read_text(encoding="utf-8").splitlines()[0])
    assert first["attributes"]["Color"] == "Navy Blue"
    assert first["normalized"]["Color"]["value"] == "Blue"
    assert first["normalized"]["Width"] == {"value": "10.2 cm", "raw": "4In", "method": "unit", "score": 1.0,
                                            "matched": True, "unit": "cm"}
    assert "2/2 [" in result.output  # the progress bar over the records file's lines
    again = CliRunner().invoke(main, ["normalize", str(out), "--schema", str(schema), "-o", str(out), "--no-progress"])
    assert again.exit_code == 0, again.output
    assert "2 records" in again.output and "2/2 [" not in again.output
    assert [json.loads(line)["normalized"]["Color"]["value"] for line in out.read_text(encoding="utf-8").splitlines()] \
        == ["Blue", "Heliotrope Mist"]  # normalized in place, line for line


def test_normalize_command_reports_bad_blocks_clearly(tmp_path: Path) -> None:
    bad = json.loads(json.dumps(SCHEMA))
    bad["properties"]["Color"]["x-normalize"] = {"vocab": "colors", "match": {"cutof": 80}}
    schema = write(tmp_path / "bad.schema.json", json.dumps(bad))
    records = write(tmp_path / "r.jsonl", "{}\n")
    result = CliRunner().invoke(main, ["normalize", str(records), "--schema", str(schema), "-o", str(tmp_path / "o")])
    assert result.exit_code == 1
    assert "at /properties/Color/x-normalize/match/cutof: unknown key 'cutof'" in result.output
    assert "Traceback" not in result.output


def test_vocab_build_then_suggest(tmp_path: Path) -> None:
    pairs = write(tmp_path / "pairs.jsonl", "\n".join(json.dumps(r) for r in [
        {"attribute": "Finish", "raw": "Oil Rubbed Bronze", "canonical": "Bronze"},
        {"attribute": "Finish", "raw": "ORB", "canonical": "Bronze"},
        {"attribute": "Finish", "raw": "Brushed Nickle", "canonical": "Satin Nickel"},
    ]) + "\n")
    runner = CliRunner()
    result = runner.invoke(main, ["vocab", "build", str(pairs), "-o", str(tmp_path / "vocab")])
    assert result.exit_code == 0, result.output
    assert "finish.json" in result.output and "2 canonicals" in result.output
    schema = json.loads(json.dumps(SCHEMA))
    schema["properties"]["Finish"] = {"type": ["string", "null"], "x-normalize": {"vocab": "vocab/finish.json"}}
    schema_path = write(tmp_path / "shop.schema.json", json.dumps(schema))
    records = write(tmp_path / "records.jsonl", "".join(
        json.dumps({"id": str(i), "attributes": {"Finish": raw}}) + "\n" for i, raw in
        enumerate(["ORB", "Matte Black", "matte black", "Oil Rubbed Bronze"])))
    out = tmp_path / "normalized.jsonl"
    result = runner.invoke(main, ["normalize", str(records), "--schema", str(schema_path), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "4 records" in result.output and "(alias 2, unmatched 2)" in result.output
    result = runner.invoke(main, ["vocab", "suggest", str(out), "-o", str(tmp_path / "proposals")])
    assert result.exit_code == 0, result.output
    proposal = json.loads((tmp_path / "proposals" / "finish.suggested.json").read_text(encoding="utf-8"))
    # The two unmatched spellings share a key, so they make one cluster; on a tie of counts the spelling seen
    # first is proposed as the canonical and the other becomes its alias. The aliases already matched do not come back.
    assert proposal["entries"] == [{"canonical": "Matte Black", "aliases": ["matte black"], "_count": 2}], proposal


def test_vocab_suggest_with_nothing_to_propose(tmp_path: Path) -> None:
    records = write(tmp_path / "n.jsonl", json.dumps({"id": "1", "attributes": {}, "normalized": {}}) + "\n")
    result = CliRunner().invoke(main, ["vocab", "suggest", str(records), "-o", str(tmp_path / "p")])
    assert result.exit_code == 0, result.output
    assert "no unmatched values" in result.output


def test_vocab_list_shows_the_shipped_ones() -> None:
    result = CliRunner().invoke(main, ["vocab", "list"])
    assert result.exit_code == 0, result.output
    assert {"colors", "materials", "sizes", "brands"} <= {line.split()[0] for line in result.output.splitlines()}


def test_vocab_build_bad_pairs_file(tmp_path: Path) -> None:
    pairs = write(tmp_path / "pairs.jsonl", "not json\n")
    result = CliRunner().invoke(main, ["vocab", "build", str(pairs), "-o", str(tmp_path / "v")])
    assert result.exit_code == 1, result.output
    assert "pairs.jsonl:1: not valid JSON" in result.output


def test_normalize_to_standard_output_and_bad_lines_exit_3(tmp_path: Path) -> None:
    schema = write(tmp_path / "shop.schema.json", json.dumps(SCHEMA))
    records = write(tmp_path / "records.jsonl", "\n".join([
        json.dumps({"id": "1", "attributes": {"Color": "Navy Blue", "Width": None}}),
        json.dumps({"id": "2", "attributes": {"Color": {"rgb": [0, 0, 128]}}}),  # not a value an engine writes
        json.dumps({"id": "3", "attributes": {"Width": float("nan")}}),  # NaN: Python writes it, JSON has none
        "",
    ]) + "\n")
    result = CliRunner().invoke(main, ["normalize", str(records), "--schema", str(schema), "-o", "-", "--no-progress"])
    assert result.exit_code == 3, result.output
    assert not (Path.cwd() / "-").exists()
    lines = [json.loads(line) for line in result.stdout.splitlines()]  # stdout holds the records alone
    assert [line["id"] for line in lines] == ["1", "2", "3", None]
    assert lines[0]["normalized"]["Color"]["value"] == "Blue"
    assert [line["status"] for line in lines[1:]] == ["failed"] * 3
    assert "attribute 'Color'" in lines[1]["error"] and "line 4: empty line" in lines[3]["error"]
    assert "4 records" in result.stderr and "3 lines were not records" in result.stderr
