"""benchmarks/normalized_e2e.py: extraction records become canonical values, attribute by attribute."""

from __future__ import annotations


from extractor.normalize import Normalizer, parse_spec
from conftest import load_script

normalize_records = load_script("benchmarks/normalized_e2e.py").normalize_records


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
