"""Constrained slot filling (decoding/constrained.py) end to end on the tiny random model.

A random model has no idea what a brand is, which is the point: whatever it prefers, the records
must be valid by construction. Left alone it writes ``null`` for almost every string, which would
leave the grounding paths untested, so most tests use an "eager" copy whose output layer is
biased against the tokens that spell null."""

from __future__ import annotations

import copy
import json
from typing import Any, Callable
from unittest import mock

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from extractor.backends.scripted import ScriptedBackend
from extractor.config import ExtractConfig
from extractor.errors import ConfigError
from extractor.pipeline import Extractor
from extractor.records import Record
from extractor.schemas import DRAFT, Schema, check_schema

NULL_PENALTY = 40.0  # far below any value: a value the model writes is never less likely than null


@pytest.fixture(scope="module")
def plain_backend(tiny_model):
    from extractor.backends.transformers import TransformersBackend

    model, tokenizer = tiny_model
    return TransformersBackend(model, tokenizer, name="tiny-random")


def biased_backend(tiny_model, name: str, bias: Callable[[bytes], float]):
    """The tiny model with an output bias of ``bias(piece)`` on every token (special tokens: none)."""
    import torch

    from extractor.backends.transformers import TransformersBackend
    from extractor.decoding.tokens import token_bytes

    model, tokenizer = tiny_model
    model = copy.deepcopy(model)
    pieces = token_bytes(tokenizer)
    head = torch.nn.Linear(model.config.hidden_size, len(pieces), bias=True)
    with torch.no_grad():
        head.weight.copy_(model.get_output_embeddings().weight)
        head.bias.zero_()
        for i, piece in enumerate(pieces):
            if piece:
                head.bias[i] = bias(piece)
    model.lm_head = head
    return TransformersBackend(model, tokenizer, name=name)


@pytest.fixture(scope="module")
def eager_backend(tiny_model):
    """The tiny model with an output bias against `` n``/``null`` tokens, so it writes values."""
    return biased_backend(tiny_model, "tiny-eager",
                          lambda piece: -NULL_PENALTY if piece.startswith(b" n") or b"null".startswith(piece) else 0.0)


def make_schema(properties: dict[str, dict[str, Any]], name: str = "prop") -> Schema:
    document = {"$schema": DRAFT, "title": name, "type": "object", "properties": properties,
                "additionalProperties": False}
    return check_schema(document, name=name)


def extract(backend: Any, schema: Schema, texts: list[str], **config: Any) -> list[Record]:
    return Extractor(backend, schema, ExtractConfig(**{"k": 0, "decoding": "constrained", **config})).extract(texts)


def assert_valid(record: Record, schema: Schema, text: str) -> None:
    """Everything constrained decoding promises about one record."""
    assert record.status == "ok" and record.error is None, record
    assert list(record.attributes) == schema.names
    Draft202012Validator(schema.document).validate(record.attributes)
    # Valid by construction, not by clean-up: no value was unreadable or nulled by the validator.
    assert not [w for w in record.warnings if "unreadable" in w or "(set to null)" in w], record.warnings
    assert record.provenance.decoding == "constrained"
    for attr in schema.attributes:
        value = record.attributes[attr.name]
        conf = record.confidence[attr.name]
        removed = record.removed_mass[attr.name]
        assert conf is None or 0.0 < conf <= 1.0, (attr.name, conf)
        assert removed is None or 0.0 <= removed <= 1.0, (attr.name, removed)
        if value is None:
            assert record.spans[attr.name] is None
            continue
        assert conf is not None
        if attr.enum is not None:
            assert value in attr.enum
        elif attr.is_array and attr.item_enum is not None:
            assert all(v in attr.item_enum for v in value)
        elif attr.is_array and "string" in attr.item_types:
            assert all(isinstance(v, str) and v and v in text for v in value), value
        elif "string" in attr.types:
            start, end = record.spans[attr.name]
            assert text[start:end] == value, (text, value, record.spans[attr.name])


# --- the property: random texts x random schemas --------------------------------------------------

CHARS = ("abcdefghijklmnopqrstuvwxyz" "ABCDEFGHIJKLMNOPQRSTUVWXYZ" "0123456789" "      "
         "\"'\\/.,;:-+%$()#&!?[]{}" "äöüßéñÅ€°½—👟" "\t")
WORDS = ["Nike", "Air", "Zoom", "black", "XL", "10.5", '32"', "Größe", "Weiß", "100%", "$19.99",
         "6-pack", "null", "true", "Levi's", "(M)", "T7", "1TB"]

texts = st.lists(st.one_of(st.sampled_from(WORDS), st.text(alphabet=CHARS, min_size=1, max_size=8)),
                 min_size=1, max_size=8).map(" ".join).filter(lambda t: t.strip())

ENUM_POOL = ["Men", "Women", "Unisex", "Größe 42", 'say "hi"', "a\\b", "XL", "X", 7, 2.5, True]

grounded = st.builds(lambda n: {"type": ["string", "null"], **({"maxLength": n} if n else {})},
                     st.one_of(st.none(), st.integers(1, 12)))
enum = st.lists(st.sampled_from(ENUM_POOL), min_size=1, max_size=4, unique=True).map(
    lambda values: {"enum": values + [None]})
scalar = st.sampled_from([{"type": ["integer", "null"]}, {"type": ["number", "null"]},
                          {"type": ["boolean", "null"]}])
string_array = st.builds(lambda n: {"type": ["array", "null"], "items": {"type": "string"}, "maxItems": n},
                         st.integers(1, 2))
enum_array = st.builds(
    lambda values, n: {"type": ["array", "null"], "items": {"enum": values},
                       **({"maxItems": n} if n else {})},
    st.lists(st.sampled_from(["S", "M", "L", "Größe", 'a"b']), min_size=1, max_size=3, unique=True),
    st.one_of(st.none(), st.integers(1, 3)))
NAMES = ["Brand", "Color", "Size (EU)", "Größe", 'Say "hi"', "Count", "Price", "On Sale", "Tags"]
schemas = st.lists(st.tuples(st.sampled_from(NAMES), st.one_of(grounded, grounded, enum, scalar, string_array,
                                                                 enum_array)),
                   min_size=1, max_size=5, unique_by=lambda pair: pair[0]).map(dict)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(properties=schemas, batch=st.lists(texts, min_size=1, max_size=3), eager=st.booleans(),
       budget=st.one_of(st.none(), st.integers(1, 4)))
def test_any_text_and_schema_give_valid_grounded_records(plain_backend, eager_backend, properties, batch, eager,
                                                         budget):
    schema = make_schema(properties)
    backend = eager_backend if eager else plain_backend
    if budget is None:
        records = extract(backend, schema, batch, batch_size=len(batch))
    else:  # values cut short by their budget must close validly too
        with mock.patch("extractor.decoding.constrained.value_budget", lambda attr, backend: budget):
            records = extract(backend, schema, batch, batch_size=len(batch))
    assert len(records) == len(batch)
    for record, text in zip(records, batch):
        assert_valid(record, schema, text)
        event(f"non-null values: {sum(v is not None for v in record.attributes.values()) > 0}")
        event(f"grounded span: {any(s is not None for s in record.spans.values())}")


# --- batching changes speed, never results --------------------------------------------------------

SHOP = make_schema({
    "Brand": {"type": ["string", "null"], "maxLength": 20},
    "Gender": {"enum": ["Men", "Women", "Unisex", None]},
    "Pack Count": {"type": ["integer", "null"]},
    "Colors": {"type": ["array", "null"], "items": {"type": "string"}, "maxItems": 2},
    "Price": {"type": ["number", "null"]},
    "On Sale": {"type": ["boolean", "null"]},
}, name="shop")

SIX = [
    "Nike Air Zoom Pegasus running shoe black white size 10",
    'Hanes mens crew tee 6-pack navy blue XL 100% cotton, 32" chest',
    "Größe 42 Weiß",
    "Samsung 1TB portable SSD T7 USB 3.2 gray",
    "x",
    "Levi's 501 jeans $59.99 (W32 L30) sale",
]


def _comparable(record: Record) -> dict[str, Any]:
    out = record.to_dict()
    out.pop("confidence")
    out.pop("removed_mass")
    return out


def test_batch_size_does_not_change_records(eager_backend):
    one = extract(eager_backend, SHOP, SIX, batch_size=1)
    four = extract(eager_backend, SHOP, SIX, batch_size=4)
    for a, b, text in zip(one, four, SIX):
        assert_valid(a, SHOP, text)
        assert _comparable(a) == _comparable(b), text
        for name in SHOP.names:
            for got, want in ((a.confidence[name], b.confidence[name]), (a.removed_mass[name], b.removed_mass[name])):
                assert (got is None) == (want is None)
                assert got is None or abs(got - want) <= 1e-6, (text, name, got, want)
    # Not vacuous: the eager model writes grounded values, with spans.
    assert sum(r.attributes["Brand"] is not None for r in one) >= 3
    assert any(r.attributes["Colors"] for r in one)


def test_plain_random_model_records_are_valid_too(plain_backend):
    for record, text in zip(extract(plain_backend, SHOP, SIX[:3], batch_size=3), SIX[:3]):
        assert_valid(record, SHOP, text)


# --- null against the forced value ------------------------------------------------------------

def _biased_backend(tiny_model, null_bias: float, quote_bias: float):
    """The tiny model with its output biased towards tokens that open a string and towards
    those that spell null: it always opens a string, but the value the constraint then forces
    is one it gives little probability to."""
    def bias(piece: bytes) -> float:
        if piece.lstrip(b" ").startswith(b"n"):
            return null_bias
        return quote_bias if piece.lstrip(b" ") == b'"' else 0.0

    return biased_backend(tiny_model, "tiny-biased", bias)


def test_a_forced_value_less_likely_than_null_becomes_null(tiny_model):
    brand = make_schema({"Brand": {"type": ["string", "null"]}, "Model": {"type": ["string", "null"]}})
    texts = SIX[:4]
    unsure = extract(_biased_backend(tiny_model, null_bias=6.0, quote_bias=8.0), brand, texts)
    for record, text in zip(unsure, texts):
        assert_valid(record, brand, text)
        assert record.attributes == {"Brand": None, "Model": None}
        dropped = [w for w in record.warnings if "less likely than null" in w]
        assert len(dropped) == 2, record.warnings  # both were opened as strings, then dropped
    # The same model without the pull towards null keeps what it writes.
    sure = extract(_biased_backend(tiny_model, null_bias=-12.0, quote_bias=8.0), brand, texts)
    assert all(r.attributes["Brand"] is not None for r in sure)
    assert not any("less likely than null" in w for r in sure for w in r.warnings)


def test_null_bias_trades_nulls_for_values_and_back(tiny_model):
    brand = make_schema({"Brand": {"type": ["string", "null"]}, "Model": {"type": ["string", "null"]}})
    texts = SIX[:4]
    unsure = _biased_backend(tiny_model, null_bias=6.0, quote_bias=8.0)   # all null at bias 0 (test above)
    favoured = extract(unsure, brand, texts, null_bias=20.0)
    for record, text in zip(favoured, texts):
        assert_valid(record, brand, text)
        assert None not in record.attributes.values(), record
        assert not any("less likely than null" in w for w in record.warnings)
    # A model that starts null outright when unbiased (even after a lone space token) opens a
    # value at +20; the values it then writes are too unlikely for even that bias, and say so.
    leaning = _biased_backend(tiny_model, null_bias=4.0, quote_bias=0.0)
    plain = extract(leaning, brand, texts)
    assert all(v is None for r in plain for v in r.attributes.values())
    assert not any(r.warnings for r in plain)
    opened = extract(leaning, brand, texts, null_bias=20.0)
    assert all(sum("less likely than null" in w for w in r.warnings) == 2 for r in opened)
    # A model that keeps every value unbiased writes only nulls at -20.
    sure = _biased_backend(tiny_model, null_bias=-12.0, quote_bias=8.0)
    assert all(v is None for r in extract(sure, brand, texts, null_bias=-20.0) for v in r.attributes.values())


# --- confidence ------------------------------------------------------------------------------------

def test_min_confidence_turns_unsure_values_to_null(eager_backend):
    texts = SIX[:3]
    sure = extract(eager_backend, SHOP, texts, batch_size=3)
    strict = extract(eager_backend, SHOP, texts, batch_size=3, min_confidence=0.99)
    dropped = 0
    for a, b, text in zip(sure, strict, texts):
        assert_valid(b, SHOP, text)
        for name in SHOP.names:
            if a.attributes[name] is None:
                assert b.attributes[name] is None
                continue
            # A random model is never 99 % sure of anything.
            assert a.confidence[name] < 0.99
            assert b.attributes[name] is None and b.spans[name] is None
            assert any(w.startswith(f"{name}: ") and "confidence" in w for w in b.warnings), b.warnings
            dropped += 1
    assert dropped >= 3


def test_confidence_is_never_zero(eager_backend, monkeypatch):
    # The eager model is biased against the tokens that spell "null" (logit -12); given 3 tokens
    # it starts `` null`` with them and the budget closes the rest.
    monkeypatch.setattr("extractor.decoding.constrained.value_budget", lambda attr, backend: 3)
    schema = make_schema({"Brand": {"type": ["string", "null"]}})
    [record] = extract(eager_backend, schema, ["null"])
    assert 0.0 < record.confidence["Brand"] <= 1.0, record.confidence


# --- budgets: valid by construction must survive the limit ----------------------------------------

@pytest.mark.parametrize("budget", [1, 3])
def test_tiny_value_budget_still_closes_every_record(eager_backend, monkeypatch, budget):
    monkeypatch.setattr("extractor.decoding.constrained.value_budget", lambda attr, backend: budget)
    records = extract(eager_backend, SHOP, SIX, batch_size=3)
    for record, text in zip(records, SIX):
        assert_valid(record, SHOP, text)
        json.dumps(record.to_dict())
    warnings = [w for r in records for w in r.warnings]
    assert any("token budget" in w for w in warnings), warnings
    if budget == 3:
        # ` `, `"` and one token of a span: closed early, the span is finished, still grounded.
        assert any(r.attributes["Brand"] is not None for r in records)


# --- bounds on array items -------------------------------------------------------------------------

SHORT_ITEMS = {"Colors": {"type": ["array", "null"], "items": {"type": "string", "maxLength": 3}, "maxItems": 2}}
LONG_WORDS = ["Nike Air Zoom Pegasus", "Samsung portable", "red Hanes tee"]


def test_an_item_the_validator_rejects_never_stays_in_an_ok_record(eager_backend):
    schema = make_schema(SHORT_ITEMS)
    for record in extract(eager_backend, schema, LONG_WORDS, batch_size=2):
        assert record.status == "ok"
        Draft202012Validator(schema.document).validate(record.attributes)


def test_item_max_length_is_constrained(eager_backend):
    schema = make_schema(SHORT_ITEMS)
    records = extract(eager_backend, schema, LONG_WORDS, batch_size=2)
    assert any(r.attributes["Colors"] for r in records)
    for record in records:
        assert not [w for w in record.warnings if "(set to null)" in w], record.warnings


# --- provenance and backends -----------------------------------------------------------------------

def test_provenance_records_constrained_decoding(plain_backend):
    [record] = extract(plain_backend, SHOP, ["Nike Air"])
    assert record.provenance.decoding == "constrained"
    assert record.to_dict()["provenance"]["decoding"] == "constrained"
    assert record.attempts == 1


def test_constrained_is_the_default_decoding(plain_backend):
    ex = Extractor(plain_backend, SHOP, ExtractConfig(k=0))
    assert ex.config.decoding == "constrained" and ex.provenance.decoding == "constrained"


@pytest.mark.parametrize("config", [ExtractConfig(decoding="constrained"), None])
def test_scripted_backend_cannot_decode_constrained(config):
    with pytest.raises(ConfigError, match="free"):
        Extractor(ScriptedBackend(['{"Brand": "Nike"}']), SHOP, config)
