"""Reports of an Evaluation (table, JSON dict, plot) and the `extractor evaluate` command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from extractor.cli import main
from extractor.evaluate.report import evaluation_to_dict, format_report, plot_attribute_f1
from extractor.evaluate.scorer import Evaluation, load_gold, score

GOLD = [
    {"id": 1, "category": "Lure", "target_scores": {"Length": {"7cm": 1}, "Weight": {"n/a": 1}}},
    {"id": 2, "category": "Lure", "target_scores": {"Length": {"10cm": 1}, "Weight": {"9g": 1}}},
    {"id": 3, "category": "Shorts", "target_scores": {"Length": {"Knee Length": 1}}},
]
PRED = [
    {"id": "1", "attributes": {"Length": "7cm", "Weight": "5g"}, "error": None},
    {"id": "2", "attributes": {"Length": "10CM", "Weight": None, "Brand": "Reelmax"}, "error": None},
    {"id": "3", "attributes": {"Length": None}, "error": "no JSON object in the output"},
]


@pytest.fixture()
def evaluation() -> Evaluation:
    return score(load_gold(GOLD), PRED)


def test_dict_holds_counts_and_figures_at_every_level(evaluation: Evaluation) -> None:
    out = evaluation_to_dict(evaluation)
    json.dumps(out)  # must be JSON-serialisable as it stands
    assert out["offers"] == 3 and out["slots"] == 5 and out["matched_by"] == "order" and out["error_records"] == 1
    assert out["exact"]["micro"] == {"NN": 0, "NV": 1, "VN": 2, "VC": 1, "VW": 1,
                                     "precision": 33.33, "recall": 25.0, "f1": 28.57}
    assert out["lenient"]["micro"]["VC"] == 2
    assert out["exact"]["categories"]["Shorts"]["VN"] == 1
    rows = {(r["category"], r["attribute"]): r for r in out["exact"]["attributes"]}
    assert set(rows) == {("Lure", "Length"), ("Lure", "Weight"), ("Shorts", "Length")}
    assert rows[("Lure", "Length")]["VW"] == 1 and rows[("Lure", "Length")]["f1"] == 50.0
    assert out["unscored"] == {"Brand": 1}


def test_table_shows_both_levels_categories_and_attributes(evaluation: Evaluation) -> None:
    text = format_report(evaluation)
    lines = text.splitlines()
    assert lines[0].startswith("3 offers matched by order, 5 slots scored; 1 error record(s) (33.33%)")
    exact_row = next(line for line in lines if line.startswith("exact"))
    assert exact_row.split() == ["exact", "0", "1", "2", "1", "1", "33.33", "25.00", "28.57"]
    lenient_row = next(line for line in lines if line.startswith("lenient"))
    assert lenient_row.split()[-1] == "57.14"
    assert any(line.startswith("Lure / Weight") for line in lines)
    assert any(line.startswith("Shorts ") for line in lines)
    assert "not scored" in text and "Brand (1)" in text


def test_plot_writes_a_png(evaluation: Evaluation, tmp_path: Path) -> None:
    path = plot_attribute_f1(evaluation, tmp_path / "f1.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _write(path: Path, rows: list[dict[str, Any]]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def test_cli_table_json_and_plot(tmp_path: Path) -> None:
    gold, pred = _write(tmp_path / "gold.jsonl", GOLD), _write(tmp_path / "pred.jsonl", PRED)
    runner = CliRunner()
    result = runner.invoke(main, ["evaluate", "--gold", gold, "--pred", pred])
    assert result.exit_code == 0, result.output
    assert "33.33" in result.output and "Lure / Length" in result.output

    result = runner.invoke(main, ["evaluate", "--gold", gold, "--pred", pred, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["exact"]["micro"]["f1"] == 28.57

    plot = tmp_path / "bars.png"
    result = runner.invoke(main, ["evaluate", "--gold", gold, "--pred", pred, "--plot", str(plot)])
    assert result.exit_code == 0, result.output
    assert plot.stat().st_size > 0


def test_cli_turns_a_mismatch_into_a_message(tmp_path: Path) -> None:
    gold = _write(tmp_path / "gold.jsonl", GOLD)
    pred = _write(tmp_path / "pred.jsonl", PRED[:2])
    result = CliRunner().invoke(main, ["evaluate", "--gold", gold, "--pred", pred])
    assert result.exit_code == 1
    assert "1 gold offer(s) have no prediction" in result.output
    assert "Traceback" not in result.output

    result = CliRunner().invoke(main, ["evaluate", "--gold", gold, "--pred", pred, "--subset", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["offers"] == 2


def test_table_columns_stay_apart_at_a_million_slots() -> None:
    from extractor.evaluate.scorer import LevelResult

    level = LevelResult()
    for kind, n in (("NN", 7), ("NV", 123_456), ("VN", 1), ("VC", 1_000_000), ("VW", 99_999)):
        level.add("Lure", "Length", kind)
        for counts in (level.micro, level.categories["Lure"], level.attributes[("Lure", "Length")]):
            counts.add(kind, n - 1)
    evaluation = Evaluation(exact=level, lenient=level, offers=1_223_463, matched_by="order", error_records=0,
                            unscored={})
    lines = format_report(evaluation).splitlines()
    for label in ("exact", "Lure ", "Lure / Length"):
        row = next(line for line in lines if line.startswith(label))
        assert row.split()[-8 if label == "exact" else -9:][:5] == ["7", "123456", "1", "1000000", "99999"], row


def test_evaluate_reads_records_whose_values_hold_line_separators(tmp_path: Path) -> None:
    from extractor.io import write_records
    from extractor.records import Provenance, Record

    gold = tmp_path / "gold.jsonl"
    gold.write_text("".join(json.dumps(g) + "\n" for g in GOLD), encoding="utf-8")
    provenance = Provenance(model="m", adapter=None, prompt="p", schema="s", decoding="free")
    pred = tmp_path / "pred.jsonl"
    write_records(pred, [Record(id=p["id"], attributes=p["attributes"], provenance=provenance) for p in PRED])
    # extract writes what its engines give; a value may hold U+2028 or U+0085, which str.splitlines cuts at
    text = pred.read_text(encoding="utf-8").replace('"5g"', '"5\u2028g"').replace('"10CM"', '"10\x85CM"')
    pred.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(main, ["evaluate", "--gold", str(gold), "--pred", str(pred), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["offers"] == 3
