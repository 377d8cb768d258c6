"""One span, one attribute (decoding/constrained.py, ExtractConfig.reuse_penalty, ``x-shared-span``).

The texts here hold a single possible span ("T7", "1TB": words with digits are never cut), so every
attribute that writes a value writes the same span; the tiny random model, nudged away from null and
at a null bias of 20, writes one for each. A spy on ``_finish_value`` reads the exact log-probabilities
the rule compares, so the penalties below sit just under and just over each value's own margin."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner

from extractor.cli import main
from extractor.config import ExtractConfig
from extractor.decoding import constrained
from extractor.decoding.constrained import ConstrainedDecoder, Decoded
from extractor.errors import ConfigError, SchemaError
from extractor.pipeline import Extractor
from extractor.prompt_build import system_message, system_prompt_ids
from extractor.prompts import render_messages
from extractor.schemas import DRAFT, Schema, check_schema

from test_constrained import biased_backend

NAMES = ("Color", "Sleeve Length", "Pattern")
TEXTS = ["T7", "1TB"]
NULL_BIAS = 20.0  # the tiny model then opens a value in every slot
FAR = 100.0  # a penalty no value can pay


@pytest.fixture(scope="module")
def nudged(tiny_model):
    """The tiny model with an output bias of -10 on the tokens that spell null."""
    return biased_backend(tiny_model, "tiny-nudged",
                          lambda piece: -10.0 if piece.startswith(b" n") or b"null".startswith(piece) else 0.0)


def _schema(shared: tuple[str, ...] = ()) -> Schema:
    properties = {name: {"type": ["string", "null"], **({"x-shared-span": True} if name in shared else {})}
                  for name in NAMES}
    return check_schema({"$schema": DRAFT, "title": "shirt", "type": "object", "additionalProperties": False,
                         "properties": properties}, name="shirt")


def _decode(backend: Any, schema: Schema, penalty: float, texts: list[str] = TEXTS) -> list[Decoded]:
    decoder = ConstrainedDecoder(backend, schema, null_bias=NULL_BIAS, reuse_penalty=penalty,
                                 system_ids=system_prompt_ids(backend, system_message(schema, "extract.v1")))
    return decoder.decode([backend.render_chat(render_messages(schema, t)) for t in texts], texts)


def _plain(rows: list[Decoded]) -> list[tuple]:
    return [(r.values, r.spans, r.confidence, r.removed, r.warnings, r.attempts) for r in rows]


@pytest.fixture()
def margins(monkeypatch: pytest.MonkeyPatch) -> dict[tuple[str, str], float]:
    """(text, attribute) -> the value's log-probability minus null's (bias included), as decoded."""
    seen: dict[tuple[str, str], float] = {}
    original = constrained._finish_value

    def spy(row: Any, backend: Any, forced_close: bool) -> list[int]:
        assert not forced_close
        if row.null_logprob is not None:
            seen[(row.text, row.names[row.attr])] = sum(row.logprobs) - (row.null_logprob - row.null_bias)
        return original(row, backend, forced_close)

    monkeypatch.setattr(constrained, "_finish_value", spy)
    return seen


def test_a_taken_span_needs_the_penalty_over_null(nudged, margins):
    schema = _schema()
    free = _decode(nudged, schema, 0.0)
    for text, row in zip(TEXTS, free):  # without the rule: one span in every slot
        assert row.values == dict.fromkeys(NAMES, text) and row.spans == dict.fromkeys(NAMES, [0, len(text)])
        assert not row.warnings
    gaps = dict(margins)
    assert all(gap > 0 for gap in gaps.values())
    for text, row in zip(TEXTS, free):
        gap = gaps[(text, "Sleeve Length")]
        # Just over the margin: Sleeve Length gives Color's span up; just under: it keeps it.
        for penalty, kept in ((gap + 0.25, False), (gap - min(0.25, gap / 2), True)):
            [now] = _decode(nudged, schema, penalty, [text])
            assert now.values["Color"] == text and now.spans["Color"] == [0, len(text)]  # the first taker pays nothing
            for name in NAMES[1:]:
                keeps = gaps[(text, name)] >= penalty
                assert now.values[name] == (text if keeps else None), (name, penalty, gaps)
                assert now.spans.get(name) == ([0, len(text)] if keeps else None)
                dropped = [w for w in now.warnings if w.startswith(f"{name}: ")]
                if keeps:
                    assert not dropped
                else:  # the owner is the attribute that kept the span: Color, never a slot that gave it up
                    assert len(dropped) == 1 and dropped[0].endswith("; set to null")
                    assert dropped[0].startswith(f"{name}: {text!r} is Color's span and not ")
            assert (now.values["Sleeve Length"] is not None) is kept
            # Only values change: what the model wrote, and so every confidence, stays as it was.
            assert now.confidence == row.confidence and now.removed == row.removed


def test_shared_attributes_share_spans_at_any_penalty(nudged):
    plain = _decode(nudged, _schema(), 0.0)
    # Sleeve Length may repeat Color; Pattern may not repeat either of them.
    sleeve = _decode(nudged, _schema(("Sleeve Length",)), FAR)
    # Color's spans are free for the taking: Sleeve Length keeps its own, Pattern repeats Sleeve Length's.
    color = _decode(nudged, _schema(("Color",)), FAR)
    everyone = _decode(nudged, _schema(NAMES), FAR)
    assert _plain(everyone) == _plain(plain)  # x- keywords are not in the prompt: same model, same values
    for text, p, s, c in zip(TEXTS, plain, sleeve, color):
        assert s.values == {"Color": text, "Sleeve Length": text, "Pattern": None}
        assert len(s.warnings) == 1 and s.warnings[0].startswith(f"Pattern: {text!r} is Color's span")
        assert c.values == {"Color": text, "Sleeve Length": text, "Pattern": None}
        assert len(c.warnings) == 1 and c.warnings[0].startswith(f"Pattern: {text!r} is Sleeve Length's span")
        assert s.confidence == c.confidence == p.confidence


def test_penalty_zero_decodes_as_without_the_rule(nudged):
    texts = ["Nike tee black M", "Hanes mens crew tee 6-pack navy blue XL 100% cotton", *TEXTS]
    off = _decode(nudged, _schema(), 0.0, texts)
    assert _plain(off) == _plain(_decode(nudged, _schema(NAMES), FAR, texts))
    assert any(len({tuple(s) for s in r.spans.values() if s}) < len([s for s in r.spans.values() if s]) for r in off)


def test_same_span_means_same_start_and_end():
    row = constrained._Row(text="Navy Blue tee", warnings=[], names=list(NAMES), slots=[], shown="Navy Blue tee",
                           reuse_penalty=1.0, spans={"Color": [0, 9], "Sleeve Length": None})
    assert constrained._taken_by(row, "Pattern", (0, 9)) == "Color"
    assert constrained._taken_by(row, "Pattern", (0, 4)) is None  # nested in Color's: not the same span
    assert constrained._taken_by(row, "Pattern", (5, 13)) is None  # overlapping: neither
    row.shared = frozenset({"Pattern"})
    assert constrained._taken_by(row, "Pattern", (0, 9)) is None
    row.shared, row.reuse_penalty = frozenset(), 0.0
    assert constrained._taken_by(row, "Pattern", (0, 9)) is None


def test_the_extractor_decodes_with_the_configured_penalty(nudged):
    assert ExtractConfig().reuse_penalty > 0  # on by default
    schema = _schema()
    assert Extractor(nudged, schema, ExtractConfig(k=0)).constrained_decoder.reuse_penalty \
        == ExtractConfig().reuse_penalty
    assert Extractor(nudged, schema, ExtractConfig(k=0, reuse_penalty=2.5)).constrained_decoder.reuse_penalty == 2.5
    records = Extractor(nudged, schema, ExtractConfig(k=0, null_bias=NULL_BIAS, reuse_penalty=20.0)).extract(TEXTS)
    decoded = _decode(nudged, schema, 20.0)
    assert [r.attributes for r in records] == [d.values for d in decoded]
    assert [r.warnings for r in records] == [d.warnings for d in decoded]
    assert all(r.attributes["Color"] == text for r, text in zip(records, TEXTS))


@pytest.mark.parametrize("penalty", [-0.5, 20.5])
def test_reuse_penalty_is_checked(penalty):
    with pytest.raises(ConfigError, match="reuse_penalty must be between 0 and 20"):
        ExtractConfig(reuse_penalty=penalty)


def test_x_shared_span_is_a_boolean_schema_keyword():
    schema = _schema(("Pattern",))
    assert [a.shared_span for a in schema.attributes] == [False, False, True]
    with pytest.raises(SchemaError, match="'x-shared-span' must be true or false"):
        check_schema({"$schema": DRAFT, "title": "s", "type": "object", "additionalProperties": False,
                      "properties": {"Color": {"type": ["string", "null"], "x-shared-span": "yes"}}}, name="s")


def test_extract_reuse_penalty_option_is_in_the_spec():
    result = CliRunner().invoke(main, ["extract", "--print-spec", "--reuse-penalty", "0"])
    assert result.exit_code == 0, result.output
    assert "reuse_penalty: 0.0" in result.output
    result = CliRunner().invoke(main, ["extract", "--print-spec"])
    assert f"reuse_penalty: {ExtractConfig().reuse_penalty}" in result.output
    result = CliRunner().invoke(main, ["extract", "--print-spec", "--reuse-penalty", "-1"])
    assert result.exit_code == 2 and "--reuse-penalty" in result.output
