"""benchmarks/normalization.py end to end on hand-written pairs in the WDC-PAVE layout (no line of
the real benchmark)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import load_script

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "normalization.py"


@pytest.fixture(scope="module")
def bench() -> Any:
    return load_script(BENCHMARK, "normalization_benchmark")


def pair(ident: int, category: str, attribute: str, op: str, family: str, raw: dict[str, list[int]],
         gold: dict[str, list[int]]) -> dict[str, Any]:
    return {"id": ident, "category": category, "attribute": attribute, "normalization_op": op,
            "normalization_family": family, "raw_values": raw, "normalized_values": gold}


def shelf_pairs(start: int) -> list[dict[str, Any]]:
    g, w, u, n = "Generalisation", "Wrangling", "Unit of Measurement Conversion", "Name Expansion"
    return [
        pair(start, "Shop", "Kind", "Product Type Generalisation", g, {"Oak Bookshelf": [0]}, {"Furniture": [0]}),
        pair(start + 1, "Shop", "Kind", "Product Type Generalisation", g, {"pine bookshelf": [1]}, {"Furniture": [1]}),
        pair(start + 2, "Shop", "Kind", "Product Type Generalisation", g, {"Desk Lamp": [0]}, {"Lighting": [0]}),
        pair(start + 7, "Shop", "Kind", "Product Type Generalisation", g, {"Maple Bookshelf": [0]}, {"Furniture": [0]}),
        pair(start + 3, "Shop", "Shade", "Color Generalization", g, {"Navy": [0]}, {"Blue": [0]}),
        pair(start + 4, "Shop", "SKU", "Delete Marks", w, {"AB-12.3": [0]}, {"AB123": [0]}),
        pair(start + 5, "Shop", "Width", "Unit Conversion", u, {'10"': [0]}, {"25.4": [0]}),
        pair(start + 6, "Shop", "Manufacturer", "Name Expansion", n, {"HP": [0]}, {"Hewlett-Packard": [0]}),
    ]


def test_benchmark_prints_the_tables(bench: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    train = tmp_path / "normalization_pairs_train.jsonl"
    train.write_text("".join(json.dumps(p) + "\n" for p in shelf_pairs(1)), encoding="utf-8")
    (tmp_path / "descriptions.jsonl").write_text(json.dumps({
        "Category": "Shop", "Attribute": "Kind", "Normalization_params": "[Product Type Generalisation]",
        "Normalization_instruction": "Give the kind as ONE of:\n- Furniture\n- Lighting\n- Rugs",
        "Normalization_Function_Description": "* Lighting: lamps and fixtures, including floor lamps, sconces.",
    }) + "\n", encoding="utf-8")
    validation = tmp_path / "normalization_pairs_validation.jsonl"
    validation.write_text("".join(json.dumps(p) + "\n" for p in [
        pair(90, "Shop", "Kind", "Product Type Generalisation", "Generalisation", {"Walnut Bookshelf": [0]},
             {"Furniture": [0]}),
        pair(91, "Shop", "Kind", "Product Type Generalisation", "Generalisation", {"Brass Sconces": [0]},
             {"Lighting": [0]}),
        pair(92, "Shop", "Kind", "Product Type Generalisation", "Generalisation", {"Area Rug": [0]}, {"Rugs": [0]}),
        pair(93, "Shop", "SKU", "Delete Marks", "Wrangling", {"ZZ 9/9": [0]}, {"ZZ99": [0]}),
        pair(94, "Shop", "Width", "Unit Conversion", "Unit of Measurement Conversion", {"2 1/2 ft": [0]},
             {"76.2": [0]}),
        pair(95, "Shop", "Manufacturer", "Name Expansion", "Name Expansion", {"HPE": [0]},
             {"Hewlett-Packard Enterprise": [0]}),
    ]), encoding="utf-8")
    assert bench.main([str(validation), "--repeat", "1"]) == 0
    out = capsys.readouterr().out
    lines = {line.split("  ")[0].strip(): line.split() for line in out.splitlines() if line.strip()}
    # Bookshelf by head word, sconces from the description, rug from the instruction's list.
    assert lines["Generalisation"][1:4] == ["3", "100.0", "100.0"]
    assert lines["Wrangling"][1:3] == ["1", "100.0"]
    assert lines["Unit of Measurement Conversion"][-1] == "83.5"
    assert lines["overall (micro)"][2:4] == ["6", "100.0"]
    assert "values/s" in out


def test_dev_split_is_by_offer_and_disjoint(bench: Any) -> None:
    rows = [pair(i, "S", "A", "Delete Marks", "Wrangling", {"x": [0]}, {"x": [0]}) for i in range(200)]
    rows += [dict(r, attribute="B") for r in rows]
    learn, held = bench.dev_split(rows)
    assert len(learn) + len(held) == len(rows) and 40 <= len(held) <= 120
    assert {r["id"] for r in learn}.isdisjoint({r["id"] for r in held})
