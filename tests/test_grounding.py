"""Values come from the text: numbers are grounded like strings in constrained decoding (a number
the text writes in digits, else null), and free decoding warns about values the text lacks."""

from __future__ import annotations

import json

import pytest

from extractor.backends.scripted import ScriptedBackend
from extractor.config import ExtractConfig
from extractor.decoding.constraints import typed_constraint
from extractor.pipeline import Extractor
from extractor.schemas import DRAFT, check_schema, load_schema
from extractor.validate import not_in_text, written_numbers

from test_constrained import assert_valid, eager_backend, extract  # noqa: F401  (a fixture)
from test_constraints import accepts


def schema_of(properties: dict) -> object:
    return check_schema({"$schema": DRAFT, "type": "object", "additionalProperties": False,
                         "properties": properties}, name="grounding")


# --- which numbers a text writes -----------------------------------------------------------------

@pytest.mark.parametrize("text, numbers", [
    ("Hanes crew tee navy", []),
    ("three pack of tees", []),                       # number words are not digits
    ("Hanes tee 3 pack", [3]),
    ("Hanes tee 3-pack", [3]),
    ("6-Pack Navy XL", [6]),
    ("box of 1,000 pcs", [1000]),                     # a comma before three digits groups thousands
    ("sizes 8,10,12", [8, 10, 12]),                   # any other comma separates numbers
    ("2.5 oz bottle", [2.5]),
    ("2.0 L jug", [2]),
    ("USB 3.2 1TB 16GB", [1, 3.2, 16]),
    ("-5°C to 10-12 hours", [-5, 5, 10, 12]),         # a minus only after a space or the start
    ("EAN 4006381333931", []),                        # digit runs longer than 12 are codes, not numbers
])
def test_written_numbers(text, numbers):
    assert written_numbers(text) == numbers


@pytest.mark.parametrize("spec, text, written, ok", [
    ({"type": ["integer", "null"]}, "Hanes tee 3 pack", b"3", True),
    ({"type": ["integer", "null"]}, "Hanes tee 3 pack", b"4", False),
    ({"type": ["integer", "null"]}, "Hanes tee 3 pack", b"30", False),
    ({"type": ["integer", "null"]}, "Hanes tee pack", b"3", False),
    ({"type": ["integer", "null"]}, "2.5 oz", b"2", False),       # not written as a whole number
    ({"type": ["number", "null"]}, "2.5 oz", b"2.5", True),
    ({"type": ["integer", "null"]}, "box of 1,000", b"1000", True),
    ({"type": ["integer", "null"], "x-grounded": False}, "Hanes tee pack", b"3", True),
    ({"type": ["array", "null"], "items": {"type": "integer"}}, "sizes 8,10,12", b"[8, 12]", True),
    ({"type": ["array", "null"], "items": {"type": "integer"}}, "sizes 8,10,12", b"[9]", False),
])
def test_number_constraint_takes_only_numbers_the_text_writes(spec, text, written, ok):
    attr = schema_of({"A": spec}).attributes[0]  # type: ignore[attr-defined]
    assert accepts(typed_constraint(attr, text), written) is ok


PACK = {"Brand": {"type": ["string", "null"]}, "Pack Count": {"type": ["integer", "null"]},
        "Weight": {"type": ["number", "null"]}}


def test_a_text_without_digits_leaves_number_attributes_null(eager_backend):
    # The eager model never writes null when it may write a value: only grounding keeps these null.
    schema = schema_of(PACK)
    text = "Hanes crew tee navy three pack"
    [record] = extract(eager_backend, schema, [text])
    assert_valid(record, schema, text)
    assert record.attributes["Pack Count"] is None and record.attributes["Weight"] is None


def test_a_number_written_in_the_text_is_taken(eager_backend):
    schema = schema_of(PACK)
    text = "Hanes crew tee navy 3 pack 2.5 oz"
    [record] = extract(eager_backend, schema, [text])
    assert_valid(record, schema, text)
    assert record.attributes["Pack Count"] == 3
    assert record.attributes["Weight"] in (2.5, 3)


# --- free decoding: values the text does not hold are named ---------------------------------------------

APPAREL = load_schema("apparel")
TEXT = "Hanes Mens Crew Tee 6-Pack Navy XL"


def _free(reply: dict) -> object:
    backend = ScriptedBackend(lambda prompt: json.dumps(reply))
    [record] = Extractor(backend, "apparel", ExtractConfig(decoding="free", k=0)).extract([TEXT])
    return record


def test_free_decoding_warns_about_values_not_in_the_text_and_keeps_them():
    record = _free({"Brand": "Fruit of the Loom", "Color": "navy", "Size": "XL", "Pack Count": 3, "Gender": "Men"})
    assert record.status == "ok"
    assert record.attributes["Brand"] == "Fruit of the Loom" and record.attributes["Pack Count"] == 3
    assert "not found in the text: Brand, Pack Count" in record.warnings


def test_free_decoding_values_found_in_the_text_give_no_warning():
    # Case is ignored ("navy" in "Navy"), the pack count's digits are there, an enum is not a span.
    record = _free({"Brand": "Hanes", "Color": "navy", "Size": "XL", "Pack Count": 6, "Gender": "Men"})
    assert record.status == "ok" and not [w for w in record.warnings if "not found" in w]


def test_not_in_text_checks_grounded_attributes_only():
    schema = schema_of({"Brand": {"type": ["string", "null"]},
                        "Canonical": {"type": ["string", "null"], "x-grounded": False},
                        "Gender": {"enum": ["Men", "Women", None]},
                        "Tags": {"type": ["array", "null"], "items": {"type": "string"}},
                        "Sizes": {"type": ["array", "null"], "items": {"type": "integer"}},
                        "Sale": {"type": ["boolean", "null"]}})
    text = "Hanes tee sizes 8,10 navy"
    values = {"Brand": "Gildan", "Canonical": "T-Shirt", "Gender": "Women", "Tags": ["navy", "cotton"],
              "Sizes": [8, 10], "Sale": True}
    assert not_in_text(values, schema, text) == ["Brand", "Tags"]  # type: ignore[arg-type]
    changed = {**values, "Brand": "HANES", "Tags": ["TEE"], "Sizes": [8, 9]}
    assert not_in_text(changed, schema, text) == ["Sizes"]  # type: ignore[arg-type]
