"""The decoders and prompt building on their own, without an Extractor: ConstrainedDecoder on the
tiny model, FreeDecoder on a scripted backend, build_prompt, and the decoding package's imports."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from extractor.backends.scripted import ScriptedBackend
from extractor.config import ExtractConfig
from extractor.decoding.constrained import ConstrainedDecoder, Decoded
from extractor.decoding.free import FreeDecoder, FreeRow
from extractor.demos import DemoPool, Shot
from extractor.errors import ConfigError
from extractor.prompt_build import (PromptBuilder, PromptSettings, build_prompt, null_lost_values,
                                    system_message, system_prompt_ids)
from extractor.prompts import render_messages
from extractor.schemas import DRAFT, check_schema

SCHEMA = check_schema({"$schema": DRAFT, "title": "shop", "type": "object", "additionalProperties": False,
                       "properties": {"Brand": {"type": ["string", "null"]},
                                      "Color": {"type": ["string", "null"]},
                                      "Size": {"enum": ["S", "M", "L", "XL", None]}}}, name="shop")
TEXTS = ["Nike tee black M", "Hanes mens crew tee 6-pack navy blue XL 100% cotton", "x"]


def _prompts(backend, texts):
    return [backend.render_chat(render_messages(SCHEMA, t)) for t in texts]


def _decoder(backend, **settings):
    return ConstrainedDecoder(backend, SCHEMA, system_ids=system_prompt_ids(backend, system_message(SCHEMA, "extract.v1")),
                              **settings)


def _plain(rows: list[Decoded]) -> list[tuple]:
    return [(r.values, r.spans, r.confidence, r.removed, r.warnings, r.attempts) for r in rows]


def test_constrained_decoder_decodes_a_batch_without_an_extractor(tiny_backend):
    decoder = _decoder(tiny_backend, null_bias=20.0)  # values over nulls, so the spans are exercised
    rows = decoder.decode(_prompts(tiny_backend, TEXTS), TEXTS)
    assert len(rows) == len(TEXTS)
    wrote = 0
    for text, row in zip(TEXTS, rows):
        assert list(row.values) == SCHEMA.names and row.attempts == 1
        assert set(row.confidence) == set(row.removed) == set(SCHEMA.names)
        assert all(c is None or 0 < c <= 1 for c in row.confidence.values())
        assert all(m is None or 0 <= m <= 1 for m in row.removed.values())
        assert row.values["Size"] in ("S", "M", "L", "XL", None)
        for name in ("Brand", "Color"):  # grounded: a value is the text's own characters at its span
            value, span = row.values[name], row.spans.get(name)
            if value is not None:
                wrote += 1
                assert span is not None and text[span[0]: span[1]] == value
    assert wrote
    # The decoder keeps its caches and statistics, typed, between batches.
    assert decoder.prefixes.system_done and decoder.prefixes.system is not None
    assert decoder.prefixes.system.ids == decoder.prefixes.system_ids
    assert decoder.stats.seconds >= decoder.stats.constraint_seconds > 0
    assert set(decoder.shared_slots) == {"Size"}  # an enum's slot reads no text: shared by every row
    # Results depend neither on the batch nor on what the decoder has cached.
    again = decoder.decode(_prompts(tiny_backend, TEXTS[1:]), TEXTS[1:])
    fresh = [_decoder(tiny_backend, null_bias=20.0).decode(_prompts(tiny_backend, [t]), [t])[0] for t in TEXTS]
    assert _plain(again) == _plain(rows[1:])
    assert _plain(fresh) == _plain(rows)


def test_constrained_decoder_appends_warnings_to_the_callers_lists(tiny_backend, monkeypatch):
    monkeypatch.setattr("extractor.decoding.constrained.value_budget", lambda attr, backend: 1)
    mine: list[list[str]] = [["before"]]
    rows = _decoder(tiny_backend, null_bias=20.0).decode(_prompts(tiny_backend, TEXTS[:1]), TEXTS[:1], warnings=mine)
    assert rows[0].warnings is mine[0] and mine[0][0] == "before" and len(mine[0]) > 1


def test_constrained_decoder_needs_token_level_access():
    with pytest.raises(ConfigError, match="free"):
        ConstrainedDecoder(ScriptedBackend([]), SCHEMA)


def test_free_decoder_reasks_until_valid_and_reports_each_row():
    replies = iter(['{"Brand": "Nike", "Size": "huge"}', "no json here",  # first attempt, both rows
                    '{"Brand": "Nike", "Size": "M", "Extra": 1}', "still none"])  # both re-asked
    backend = ScriptedBackend(lambda prompt: next(replies))
    rows = [FreeRow(messages=render_messages(SCHEMA, t)) for t in TEXTS[:2]]
    FreeDecoder(backend, SCHEMA, budget=32, max_retries=1).decode(rows)
    first, second = rows
    assert first.ok and first.attempts == 2 and first.checked.attributes["Size"] == "M"
    assert first.checked.dropped == ["Extra"] and len(first.messages) > 2  # the re-ask was appended
    assert not second.ok and second.attempts == 2 and second.raw == "still none" and second.problems
    assert backend.calls == [2, 2]


def test_null_lost_values():
    assert null_lost_values({"A": "Nike", "B": "red", "C": 3, "D": None}, "Nike shoe") == \
        {"A": "Nike", "B": None, "C": 3, "D": None}


def test_build_prompt_truncates_shortens_shots_and_says_so(tiny_backend):
    shot = Shot("Hanes mens crew tee 6-pack navy blue XL 100% cotton short sleeve",
                {"Brand": "Hanes", "Color": "navy blue", "Size": "XL"})
    settings = PromptSettings.of(ExtractConfig(k=1, max_text_tokens=8, max_shot_tokens=8))
    long_text = "Samsung 1TB portable SSD T7 USB 3.2 gray 15.6 inch laptop 16GB RAM"
    prompt = build_prompt(tiny_backend, SCHEMA, long_text, DemoPool([shot]), settings, reply_budget=32)
    assert prompt.error is None and prompt.text != long_text and long_text.startswith(prompt.text)
    assert prompt.warnings and prompt.warnings[0].startswith("input truncated to its first 8 tokens")
    [short] = prompt.shots
    assert short.record == null_lost_values(shot.record, short.text) and short.record["Size"] is None
    builder = PromptBuilder(tiny_backend, SCHEMA, DemoPool([shot]), settings, reply_budget=32)
    assert builder.build(long_text) == prompt
    assert builder.system_ids() == system_prompt_ids(tiny_backend, builder.system_message())
    assert build_prompt(tiny_backend, SCHEMA, "  ", DemoPool([]), settings, 32).error == "empty text"


def test_no_decoding_module_imports_the_pipeline():
    folder = Path(__file__).resolve().parents[1] / "extractor" / "decoding"
    for path in folder.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):  # function-level imports too
            if isinstance(node, ast.ImportFrom):
                names = [f"{'.' * node.level}{node.module or ''}"] + \
                    [f"{'.' * node.level}{node.module + '.' if node.module else ''}{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            assert not any(n.endswith("pipeline") or ".pipeline." in n for n in names), (path.name, names)
