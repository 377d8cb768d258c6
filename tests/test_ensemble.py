"""Merging several engines' records (extractor/ensemble.py): the merge rule on tables of records,
then the Ensemble over scripted Extractors end to end (routing, errors, normalization)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from extractor.backends.scripted import ScriptedBackend
from extractor.config import ExtractConfig
from extractor.ensemble import Ensemble, ensemble_provenance, merge_records
from extractor.errors import ConfigError, SchemaError
from extractor.pipeline import Extractor, extract_stream
from extractor.records import Document, Provenance, Record
from extractor.schemas import load_schema

APPAREL = load_schema("apparel")
NAMES = ["Brand", "Color", "Size"]


def _record(model: str, values: dict[str, Any], confidence: dict[str, float | None] | None = None,
            status: str = "ok", error: str | None = None, warnings: list[str] | None = None) -> Record:
    attributes = {name: values.get(name) for name in NAMES}
    spans = {name: ([0, len(str(v))] if v is not None and not isinstance(v, list) else None)
             for name, v in attributes.items()}
    return Record(id="7", attributes=attributes, status=status, error=error, warnings=warnings or [],
                  provenance=Provenance(model=model, adapter=None, prompt="p", schema="s@1", decoding=model),
                  spans=spans, confidence=confidence, attempts=1)


def _merge(*records: Record) -> Record:
    return merge_records(records, ensemble_provenance([r.provenance for r in records]))


# (engine A values, A confidence, engine B values, B confidence, merged values)
CASES = [
    pytest.param({}, {}, {}, {}, {}, id="both-null"),
    pytest.param({"Brand": "Hanes"}, {"Brand": 0.9}, {}, {}, {"Brand": "Hanes"}, id="only-first"),
    pytest.param({}, {}, {"Color": "navy blue"}, {"Color": 0.2}, {"Color": "navy blue"},
                 id="only-second-even-unsure"),
    pytest.param({"Size": "XL"}, {"Size": 0.4}, {"Size": "XL"}, {"Size": 0.5}, {"Size": "XL"}, id="agree"),
    pytest.param({"Color": "navy"}, {"Color": 0.6}, {"Color": "navy blue"}, {"Color": 0.8}, {"Color": "navy blue"},
                 id="conflict-surer-wins"),
    pytest.param({"Color": "navy"}, {"Color": 0.7}, {"Color": "navy blue"}, {"Color": 0.7}, {"Color": "navy"},
                 id="tie-first-listed-wins"),
    pytest.param({"Brand": "Hanes"}, None, {"Brand": "HANES"}, {"Brand": 0.1}, {"Brand": "HANES"},
                 id="no-confidence-counts-zero"),
    pytest.param({"Size": ["S", "M"]}, {"Size": 0.5}, {"Size": ["M", "S"]}, {"Size": 0.6}, {"Size": ["M", "S"]},
                 id="arrays-compared-whole"),
]


@pytest.mark.parametrize("a, conf_a, b, conf_b, merged", CASES)
def test_merge_rule(a, conf_a, b, conf_b, merged) -> None:
    record = _merge(_record("llm", a, conf_a), _record("tagger", b, conf_b))
    assert record.ok and record.id == "7"
    assert record.attributes == {name: merged.get(name) for name in NAMES}


def test_engines_that_agree_pool_their_confidence() -> None:
    # 0.5 + 0.4 from two engines beat one engine's 0.8
    record = _merge(_record("a", {"Color": "grey"}, {"Color": 0.5}), _record("b", {"Color": "gray"}, {"Color": 0.8}),
                    _record("c", {"Color": "grey"}, {"Color": 0.4}))
    assert record.attributes["Color"] == "grey"
    assert record.confidence["Color"] == 0.5  # the surest engine that wrote the winner


def test_the_winner_brings_its_span_and_confidence() -> None:
    a = _record("llm", {"Brand": "Hanes", "Color": "navy"}, {"Brand": 0.9, "Color": 0.3, "Size": 0.95})
    b = _record("tagger", {"Color": "navy blue"}, {"Color": 0.6})
    b.spans["Color"] = [10, 19]
    record = _merge(a, b)
    assert record.spans == {"Brand": [0, 5], "Color": [10, 19], "Size": None}
    assert record.confidence == {"Brand": 0.9, "Color": 0.6, "Size": 0.95}  # Size: the null's own confidence


def test_provenance_names_every_engine() -> None:
    record = _merge(_record("llm", {}), _record("tagger", {}))
    assert record.provenance.to_dict() == {
        "model": "llm+tagger", "adapter": None, "prompt": "p+p", "schema": "s@1", "decoding": "ensemble",
        "members": [{"model": m, "adapter": None, "prompt": "p", "schema": "s@1", "decoding": m}
                    for m in ("llm", "tagger")]}


def test_a_failed_engine_is_left_out_and_said() -> None:
    failed = _record("llm", {}, status="invalid", error="invalid output after 2 attempt(s)")
    record = _merge(failed, _record("tagger", {"Brand": "Levis"}, {"Brand": 0.7}, warnings=["text truncated"]))
    assert record.ok and record.attributes["Brand"] == "Levis"
    assert record.warnings == ["tagger: text truncated", "llm: invalid: invalid output after 2 attempt(s)"]


def test_when_every_engine_failed_the_record_is_an_error() -> None:
    record = _merge(_record("llm", {}, status="failed", error="empty text"),
                    _record("tagger", {}, status="failed", error="empty text"))
    assert record.status == "failed" and not record.ok
    assert record.error == "llm: empty text; tagger: empty text"
    assert record.attributes == dict.fromkeys(NAMES)


def test_merge_needs_records() -> None:
    with pytest.raises(ConfigError):
        merge_records([], ensemble_provenance([_record("x", {}).provenance]))


# --- the Ensemble over two scripted LLM engines ---------------------------------------------------

def _engine(name: str, answers: dict[str, dict[str, Any]], **config: Any) -> Extractor:
    def reply(prompt: str) -> str:
        return json.dumps(answers.get(prompt.rsplit("Product: ", 1)[1].split("\n", 1)[0], {}))

    return Extractor(ScriptedBackend(reply, name=name), APPAREL, ExtractConfig(decoding="free", k=0, **config))


TEXTS = ["Hanes Mens Crew Tee Navy Blu XL", "Levis 511 Slim Fit Jeans 32W"]
FIRST = {TEXTS[0]: {"Brand": "Hanes", "Color": "Navy Blu"}, TEXTS[1]: {"Brand": "Levis"}}
SECOND = {TEXTS[0]: {"Brand": "Hanes", "Size": "XL"}, TEXTS[1]: {"Fit": "Slim Fit", "Size": "32W"}}


def test_ensemble_fills_one_engines_gaps_with_the_others_values() -> None:
    ensemble = Ensemble([_engine("a", FIRST), _engine("b", SECOND)])
    first, second = ensemble.extract(TEXTS)
    assert (first.attributes["Brand"], first.attributes["Color"], first.attributes["Size"]) == ("Hanes", "Navy Blu",
                                                                                                "XL")
    assert (second.attributes["Brand"], second.attributes["Fit"], second.attributes["Size"]) == ("Levis", "Slim Fit",
                                                                                                 "32W")
    assert list(first.attributes) == APPAREL.names
    assert first.provenance.model == "a+b" and first.provenance.schema == APPAREL.id


def test_ensemble_normalizes_the_merged_values_only() -> None:
    ensemble = Ensemble([_engine("a", FIRST, normalize=True), _engine("b", SECOND)], normalize=True)
    [record] = ensemble.extract(TEXTS[:1])
    assert record.normalized["Color"]["value"] == "Blue"
    assert Ensemble([_engine("a", FIRST, normalize=True), _engine("b", SECOND)]).extract(TEXTS[:1])[0].normalized \
        is None


def test_ensemble_keeps_one_line_per_input_and_routes_schemas() -> None:
    ensemble = Ensemble([_engine("a", FIRST), _engine("b", SECOND)])
    docs = [Document(id="1", text=TEXTS[0]), Document(id="2", text="", error="line 2 is not JSON"),
            Document(id="3", text="Sony WH-1000XM5 headphones", schema="electronics"),
            Document(id="4", text="x", schema="no-such-schema")]
    records: list[Record] = []
    summary = extract_stream(ensemble, docs, on_record=records.append)
    assert [r.id for r in records] == ["1", "2", "3", "4"]
    assert [r.status for r in records] == ["ok", "failed", "ok", "failed"]
    assert records[1].error == "a: line 2 is not JSON; b: line 2 is not JSON"
    assert records[2].provenance.schema == load_schema("electronics").id
    assert "no-such-schema" in records[3].error and records[3].provenance.decoding == "ensemble"
    assert summary.ok == 2 and summary.failed == 2


def test_ensemble_members_must_agree_on_the_schema() -> None:
    other = Extractor(ScriptedBackend(lambda p: "{}"), "electronics", ExtractConfig(decoding="free", k=0))
    with pytest.raises(SchemaError, match="different schemas"):
        Ensemble([_engine("a", FIRST), other])
    with pytest.raises(ConfigError, match="at least two"):
        Ensemble([_engine("a", FIRST)])
