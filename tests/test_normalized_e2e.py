"""benchmarks/normalized_e2e.py: extraction records become canonical values, attribute by attribute."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from extractor.normalize import Normalizer, parse_spec

_spec = importlib.util.spec_from_file_location(
    "benchmarks_normalized_e2e", Path(__file__).resolve().parents[1] / "benchmarks" / "normalized_e2e.py")
_module = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
_spec.loader.exec_module(_module)  # type: ignore[union-attr]
normalize_records = _module.normalize_records


def test_values_with_a_rule_are_normalized_and_the_rest_kept():
    normalizers = {
        ("Office", "Part"): Normalizer({"Part": parse_spec({"ops": ["trim", "delete_marks"]}, "Part")}),
        ("Office", "Width"): Normalizer({"Width": parse_spec({"unit": {"dimension": "length", "to": "cm",
                                                                        "precision": 1}}, "Width")}),
    }
    records = [{"id": "7", "attributes": {"Part": "481726-B22", "Width": "4 in", "Brand": "HP", "Size": None}},
               {"id": "8", "attributes": {"Part": "Q-1"}}]
    out, changed = normalize_records(records, {"7": "Office"}, normalizers)
    assert out[0]["attributes"] == {"Part": "481726B22", "Width": "10.2 cm", "Brand": "HP", "Size": None}
    assert out[1]["attributes"] == {"Part": "Q-1"}  # offer 8 has no category: nothing to apply
    assert changed == 2
    assert records[0]["attributes"]["Part"] == "481726-B22"  # the input records are left as they were
