"""Validation: light coercions, unknown and missing keys, jsonschema errors, the re-ask message."""

from __future__ import annotations

import pytest

from extractor.schemas import check_schema
from extractor.validate import check_record, reask_messages

SCHEMA = check_schema({
    "type": "object", "additionalProperties": False,
    "properties": {
        "Brand": {"type": ["string", "null"], "maxLength": 12},
        "Pack Count": {"type": ["integer", "null"], "minimum": 1},
        "Weight": {"type": ["number", "null"]},
        "Dishwasher Safe": {"type": ["boolean", "null"]},
        "Gender": {"enum": ["Men", "Women", "Unisex", None]},
        "Connectivity": {"type": ["array", "null"], "items": {"type": "string"}, "maxItems": 3},
    },
}, name="mixed")


@pytest.mark.parametrize("attr,raw,expected", [
    # Ways a small model says "not stated".
    ("Brand", "n/a", None),
    ("Brand", "N/A", None),
    ("Brand", "None", None),
    ("Brand", "", None),
    ("Brand", "  ", None),
    ("Brand", "unknown", None),
    ("Brand", "Not specified", None),
    ("Gender", "null", None),
    ("Pack Count", "n/a", None),
    ("Connectivity", "n/a", None),
    ("Connectivity", ["n/a"], None),
    ("Connectivity", [], None),
    # Numbers written as strings.
    ("Pack Count", "12", 12),
    ("Pack Count", " 6 ", 6),
    ("Pack Count", 6.0, 6),
    ("Pack Count", "1,000", 1000),
    ("Weight", "2.5", 2.5),
    ("Weight", "3", 3.0),
    # Booleans written as words.
    ("Dishwasher Safe", "true", True),
    ("Dishwasher Safe", "False", False),
    ("Dishwasher Safe", "yes", True),
    ("Dishwasher Safe", "no", False),
    # A scalar where the schema wants a list.
    ("Connectivity", "Bluetooth", ["Bluetooth"]),
    ("Connectivity", ["USB-C", None, "n/a", "HDMI"], ["USB-C", "HDMI"]),
    # A number where the schema wants a string.
    ("Brand", 3, "3"),
    # Already right: left alone.
    ("Brand", "Hanes", "Hanes"),
    ("Pack Count", 6, 6),
    ("Dishwasher Safe", True, True),
    ("Gender", "Women", "Women"),
    ("Connectivity", ["Wi-Fi 6"], ["Wi-Fi 6"]),
])
def test_coercions(attr, raw, expected):
    checked = check_record({attr: raw}, SCHEMA)
    assert checked.ok, checked.errors
    value = checked.attributes[attr]
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize("attr,raw,coerced", [
    ("Pack Count", "12", True),
    ("Dishwasher Safe", "yes", True),
    ("Connectivity", "Bluetooth", True),
    ("Brand", "Hanes", False),
    ("Pack Count", 12, False),
])
def test_coercions_are_reported(attr, raw, coerced):
    assert (attr in check_record({attr: raw}, SCHEMA).coerced) is coerced


def test_unknown_keys_dropped_and_reported_missing_filled():
    checked = check_record({"Brand": "Hanes", "Colour": "Navy", "Sleeve": "Short"}, SCHEMA)
    assert checked.ok
    assert checked.dropped == ["Colour", "Sleeve"]
    assert list(checked.attributes) == SCHEMA.names
    assert checked.attributes["Brand"] == "Hanes"
    assert all(checked.attributes[n] is None for n in SCHEMA.names if n != "Brand")


@pytest.mark.parametrize("obj,attr,needle", [
    ({"Gender": "Male"}, "Gender", "is not one of"),
    ({"Brand": "Under Armour Performance"}, "Brand", "too long"),
    ({"Pack Count": 0}, "Pack Count", "minimum"),
    ({"Pack Count": "six"}, "Pack Count", "not of type"),
    ({"Pack Count": 2.5}, "Pack Count", "not of type"),
    ({"Dishwasher Safe": "sometimes"}, "Dishwasher Safe", "not of type"),
    ({"Connectivity": ["a", "b", "c", "d"]}, "Connectivity", "too long"),
    ({"Brand": {"name": "Hanes"}}, "Brand", "not of type"),
])
def test_invalid_values_give_errors_naming_the_attribute(obj, attr, needle):
    checked = check_record(obj, SCHEMA)
    assert not checked.ok
    assert len(checked.errors) == 1
    assert checked.errors[0].startswith(f"{attr}: ")
    assert needle in checked.errors[0]


def test_several_errors_are_all_reported():
    checked = check_record({"Gender": "Male", "Pack Count": 0}, SCHEMA)
    assert len(checked.errors) == 2
    assert {e.split(":")[0] for e in checked.errors} == {"Gender", "Pack Count"}


def test_reask_messages_append_reply_and_problems():
    messages = [{"role": "system", "content": "Extract."}, {"role": "user", "content": "Product: Hanes Tee"}]
    problems = ["Gender: 'Male' is not one of ['Men', 'Women', 'Unisex', None]"]
    out = reask_messages(messages, '  {"Gender": "Male"}\n', problems)
    assert out[:2] == messages and len(messages) == 2  # the original list is not modified
    assert out[2] == {"role": "assistant", "content": '{"Gender": "Male"}'}
    assert out[3]["role"] == "user"
    assert problems[0] in out[3]["content"]
    assert "corrected JSON" in out[3]["content"]


def test_reask_lists_at_most_eight_problems():
    problems = [f"A{i}: bad" for i in range(12)]
    content = reask_messages([], "{}", problems)[-1]["content"]
    assert "A7: bad" in content and "A8: bad" not in content
