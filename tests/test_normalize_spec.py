"""Tests for extractor.normalize.spec: the x-normalize block checker."""

from __future__ import annotations

from typing import Any

import pytest

from extractor.errors import NormalizationError
from extractor.normalize.spec import MatchSpec, NormalizeSpec, SpecError, parse_spec
from extractor.schemas import DRAFT, check_schema


def test_a_full_block_parses_into_typed_specs() -> None:
    spec = parse_spec({
        "ops": ["trim", {"strip": ["Brand:"]}, {"replace": [["\\s+", " "]]}, {"slice": [1, 6]}],
        "vocab": ["colors", "my/colors.json"],
        "match": {"contains": "first", "cutoff": 90, "margin": 8, "scorer": "ratio",
                  "several": {"at_least": 3, "value": "Multicolor"}},
    }, "Color")
    assert isinstance(spec, NormalizeSpec)
    assert spec.ops == (("trim", None), ("strip", ("Brand:",)), ("replace", (("\\s+", " "),)), ("slice", (1, 6)))
    assert spec.vocab == ("colors", "my/colors.json")
    assert spec.match == MatchSpec(fuzzy=True, scorer="ratio", cutoff=90.0, margin=8.0, contains="first",
                                   several_at_least=3, several_value="Multicolor")
    assert spec.unit is None and spec.number is None


def test_match_words_parses_and_defaults_off() -> None:
    assert parse_spec({"vocab": "v", "match": {"words": True}}, "Product Type").match.words is True
    assert parse_spec({"vocab": "v"}, "Product Type").match.words is False
    assert parse_spec({"vocab": "v", "match": {"otherwise": "Other"}}, "Product Type").match.otherwise == "Other"
    assert parse_spec({"vocab": "v"}, "Product Type").match.otherwise is None
    with pytest.raises(SpecError, match="x-normalize/match/words"):
        parse_spec({"vocab": "v", "match": {"words": "yes"}}, "Product Type")


def test_unit_block_defaults_and_lists() -> None:
    spec = parse_spec({"unit": {"dimension": "length", "to": "cm", "default": "in", "precision": 1}}, "Width")
    assert spec.unit is not None
    assert spec.unit.dimensions == ("length",)
    assert (spec.unit.range, spec.unit.dims, spec.unit.several, spec.unit.format) == ("max", "each", "first", "symbol")
    assert parse_spec({"unit": {"dimension": ["information", "power"]}}, "C").unit.dimensions == ("information", "power")


def test_number_true_is_the_default_count_reader() -> None:
    spec = parse_spec({"number": True}, "Pack")
    assert spec.number is not None and spec.number.several == "first" and spec.number.builtin_words
    words = parse_spec({"number": {"words": {"DP": 2}}}, "Ports").number.words
    assert words == {"dp": 2.0}


def test_fuzzy_is_off_by_default_next_to_units_and_counts() -> None:
    # A fuzzy alias match would snap "25 in" onto a learned "24 in".
    assert parse_spec({"vocab": "v", "unit": {"dimension": "length"}}, "W").match.fuzzy is False
    assert parse_spec({"vocab": "v", "number": True}, "N").match.fuzzy is False
    assert parse_spec({"vocab": "v"}, "C").match.fuzzy is True
    assert parse_spec({"vocab": "v", "number": True, "match": {"fuzzy": True}}, "N").match.fuzzy is True


BAD: list[tuple[Any, str]] = [
    ("colors", "x-normalize: must be an object"),
    ({}, "is empty"),
    ({"vocabulary": "colors"}, "x-normalize/vocabulary: unknown key 'vocabulary'"),
    ({"ops": "trim"}, "x-normalize/ops: must be a list"),
    ({"ops": ["shout"]}, "x-normalize/ops/0: unknown operation 'shout'"),
    ({"ops": ["strip"]}, "x-normalize/ops/0: operation 'strip' needs an argument"),
    ({"ops": [{"upper": True}]}, "x-normalize/ops/0/upper: operation 'upper' takes no argument"),
    ({"ops": [{"strip": []}]}, "x-normalize/ops/0/strip"),
    ({"ops": [{"replace": [["(", "x"]]}]}, "x-normalize/ops/0/replace/0: bad regular expression"),
    ({"ops": [{"replace": [["a"]]}]}, "x-normalize/ops/0/replace/0"),
    ({"ops": [{"slice": [1]}]}, "x-normalize/ops/0/slice"),
    ({"ops": [{"extract": "(a)(b)"}]}, "at most one group"),
    ({"ops": [{"trim": None, "upper": None}]}, "exactly one key"),
    ({"vocab": ""}, "x-normalize/vocab/0: must be a non-empty string"),
    ({"vocab": 3}, "x-normalize/vocab: must be a vocabulary name"),
    ({"match": {"cutoff": 90}}, "x-normalize/match: 'match' needs a 'vocab'"),
    ({"vocab": "v", "match": {"cutoff": 190}}, "x-normalize/match/cutoff: must be a number between 1 and 100"),
    ({"vocab": "v", "match": {"cutoff": True}}, "x-normalize/match/cutoff"),
    ({"vocab": "v", "match": {"scorer": "levenshtein"}}, "x-normalize/match/scorer: must be one of"),
    ({"vocab": "v", "match": {"contains": "middle"}}, "x-normalize/match/contains"),
    ({"vocab": "v", "match": {"several": {"at_least": 3, "value": "Multi"}}}, "only works together with 'contains'"),
    ({"vocab": "v", "match": {"contains": "first", "several": {"at_least": 3}}}, "needs both 'at_least' and 'value'"),
    ({"vocab": "v", "match": {"fold": True}}, "x-normalize/match/fold: unknown key"),
    ({"unit": {"to": "cm"}}, "x-normalize/unit: needs 'dimension'"),
    ({"unit": {"dimension": "smell"}}, "x-normalize/unit/dimension: must be one of"),
    ({"unit": {"dimension": "length", "precision": -1}}, "x-normalize/unit/precision"),
    ({"unit": {"dimension": "length", "precision": 1.5}}, "x-normalize/unit/precision"),
    ({"unit": {"dimension": "length", "range": "median"}}, "x-normalize/unit/range"),
    ({"unit": {"dimension": "length", "format": "roman"}}, "x-normalize/unit/format"),
    ({"unit": {"dimension": "length", "labels": {"cm": ""}}}, "x-normalize/unit/labels"),
    ({"unit": {"dimension": "length", "convert": "cm"}}, "x-normalize/unit/convert: unknown key"),
    ({"unit": {"dimension": "length"}, "number": True}, "either 'unit' or 'number'"),
    ({"number": "yes"}, "x-normalize/number: must be true or an object"),
    ({"number": {"several": "avg"}}, "x-normalize/number/several"),
    ({"number": {"words": {"dp": "two"}}}, "x-normalize/number/words"),
]


@pytest.mark.parametrize("block,message", BAD, ids=[m for _, m in BAD])
def test_bad_blocks_name_the_attribute_and_key(block: Any, message: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_spec(block, "Color")
    assert "attribute 'Color'" in str(info.value)
    assert message in str(info.value)
    assert isinstance(info.value, NormalizationError)


def test_spec_error_carries_the_key_path() -> None:
    with pytest.raises(SpecError) as info:
        parse_spec({"vocab": "v", "match": {"margin": -1}}, "Color")
    assert info.value.attribute == "Color"
    assert info.value.key == "match/margin"


def test_schemas_keep_the_block_for_the_normalizer() -> None:
    block = {"vocab": "colors", "match": {"contains": "first"}}
    schema = check_schema({"$schema": DRAFT, "type": "object", "additionalProperties": False,
                           "properties": {"Color": {"type": ["string", "null"], "x-normalize": block}}})
    assert parse_spec(schema.attribute("Color").normalize, "Color").vocab == ("colors",)


def test_the_schema_checker_can_turn_spec_errors_into_schema_errors() -> None:
    # How schemas._check_attribute is meant to call parse_spec: the key path joins the schema path.
    from extractor.errors import SchemaError

    with pytest.raises(SpecError) as info:
        parse_spec({"unit": {"dimension": "length", "precison": 1}}, "Width")
    error = SchemaError(info.value.reason, schema="shop", path=f"/properties/Width/x-normalize/{info.value.key}")
    assert str(error) == ("schema 'shop' at /properties/Width/x-normalize/unit/precison: unknown key 'precison' "
                          "(allowed: dimension, to, default, precision, range, dims, several, format, labels, "
                          "aliases, factors)")
