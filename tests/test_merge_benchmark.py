"""benchmarks/merge.py: records files of the same offers merged by the ensemble rule and scored."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from extractor.records import Provenance, Record
from conftest import load_script

REPO = Path(__file__).resolve().parent.parent
merge_bench = load_script("benchmarks/merge.py", "benchmarks_merge")

GOLD = [
    {"id": "1", "category": "Shorts", "input": "Nike Mens Shorts Black",
     "target_scores": {"Brand": {"Nike": 1}, "Color": {"Black": 1}}},
    {"id": "2", "category": "Shorts", "input": "Adidas Shorts Red",
     "target_scores": {"Brand": {"Adidas": 1}, "Color": {"Red": 1}}},
]


def _write(path: Path, model: str, rows: list[tuple[str, dict[str, Any], dict[str, float | None]]]) -> Path:
    provenance = Provenance(model=model, adapter=None, prompt="tagger", schema="Shorts", decoding="tagger")
    path.write_text("".join(json.dumps(Record(id=i, attributes=a, provenance=provenance, confidence=c).to_dict()) + "\n"
                            for i, a, c in rows), encoding="utf-8")
    return path


def test_each_file_and_the_merge_are_scored_and_the_merge_written(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    gold = tmp_path / "validation.jsonl"
    gold.write_text("".join(json.dumps(g) + "\n" for g in GOLD), encoding="utf-8")
    # a: finds the brands; b: finds the colours and, less surely, a wrong brand
    a = _write(tmp_path / "a.jsonl", "a", [("1", {"Brand": "Nike", "Color": None}, {"Brand": 0.9, "Color": None}),
                                           ("2", {"Brand": "Adidas", "Color": None}, {"Brand": 0.9, "Color": None})])
    b = _write(tmp_path / "b.jsonl", "b", [("1", {"Brand": "Mens", "Color": "Black"}, {"Brand": 0.4, "Color": 0.8}),
                                           ("2", {"Brand": None, "Color": "Red"}, {"Brand": None, "Color": 0.8})])
    out = tmp_path / "merged.jsonl"
    assert merge_bench.main(["--gold", str(gold), str(a), str(b), "--out", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["66.67", str(a)] and lines[1].split() == ["57.14", str(b)]
    assert lines[2].startswith("100.00  merged (2 files")
    merged = [json.loads(line) for line in out.read_text().splitlines()]
    assert [m["attributes"] for m in merged] == [{"Brand": "Nike", "Color": "Black"}, {"Brand": "Adidas", "Color": "Red"}]
    assert merged[0]["provenance"]["model"] == "a+b" and merged[0]["provenance"]["decoding"] == "ensemble"


def test_files_of_other_offers_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gold = tmp_path / "validation.jsonl"
    gold.write_text("".join(json.dumps(g) + "\n" for g in GOLD), encoding="utf-8")
    a = _write(tmp_path / "a.jsonl", "a", [("1", {"Brand": "Nike", "Color": None}, {}),
                                           ("2", {"Brand": None, "Color": None}, {})])
    b = _write(tmp_path / "b.jsonl", "b", [("2", {"Brand": None, "Color": None}, {}),
                                           ("1", {"Brand": "Nike", "Color": None}, {})])
    assert merge_bench.main(["--gold", str(gold), str(a), str(b)]) == 2
    assert "has record '2' where" in capsys.readouterr().err
    (tmp_path / "c.jsonl").write_text('{"id": "1"}\n', encoding="utf-8")
    assert merge_bench.main(["--gold", str(gold), str(a), str(tmp_path / "c.jsonl")]) == 2
    assert "not a records file" in capsys.readouterr().err
