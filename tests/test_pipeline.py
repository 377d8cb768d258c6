"""The Extractor end to end with a ScriptedBackend: records, re-asks, errors, batching, routing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from extractor.backends.scripted import ScriptedBackend
from extractor.config import ExtractConfig
from extractor.demos import Shot
from extractor.errors import ConfigError
from extractor.pipeline import Extractor, extract_stream
from extractor.prompts import render_messages
from extractor.records import Document
from extractor.schemas import load_schema

APPAREL = load_schema("apparel")
ELECTRONICS = load_schema("electronics")
REASK = "That answer is not valid"

OFFERS = {
    "Hanes Mens Crew Tee 6-Pack Navy XL": {"Brand": "Hanes", "Product Type": "Crew Tee", "Color": "Navy",
                                            "Size": "XL", "Gender": "Men", "Pack Count": 6},
    "Levis 511 Slim Fit Jeans 32W x 30L": {"Brand": "Levis", "Fit": "Slim Fit", "Size": "32W x 30L"},
    "Nike Womens Revolution 7 Running Shoes Blk/Wht 8.5": {"Brand": "Nike", "Gender": "Women", "Size": "8.5"},
    "Carhartt Knit Cuffed Beanie Brown": {"Brand": "Carhartt", "Product Type": "Beanie", "Color": "Brown"},
    "Champion Reverse Weave Hoodie Oxford Grey M": {"Brand": "Champion", "Product Type": "Hoodie"},
    "Gildan Heavy Blend Sweatshirt 2-Pack Sport Grey": {"Brand": "Gildan", "Pack Count": "2"},
    "Columbia Fleece Jacket Ladies Navy Small": {"Brand": "Columbia", "Gender": "Women", "Size": "Small"},
}


def _input_of(prompt: str) -> str:
    """The product text of the input (the last user turn that shows a product)."""
    return prompt.rsplit("Product: ", 1)[1].split("\n", 1)[0]


def _answer(prompt: str) -> str:
    return json.dumps(OFFERS[_input_of(prompt)])


def _extractor(backend: ScriptedBackend, schema="apparel", **config) -> Extractor:
    # A ScriptedBackend has no token-level access: free decoding is the path under test here.
    return Extractor(backend, schema, ExtractConfig(**{"decoding": "free", **config}))


def test_valid_reply_gives_ok_record_with_provenance():
    backend = ScriptedBackend(_answer, name="scripted-model")
    ex = _extractor(backend, k=2)
    [record] = ex.extract(["Hanes Mens Crew Tee 6-Pack Navy XL"])
    assert record.ok and record.error is None and record.id == "1"
    assert list(record.attributes) == APPAREL.names
    assert record.attributes["Brand"] == "Hanes" and record.attributes["Pack Count"] == 6
    assert record.attributes["Material"] is None
    assert record.attempts == 1 and record.raw is None
    assert record.provenance.to_dict() == {"model": "scripted-model", "adapter": None, "prompt": "extract.v1",
                                           "schema": APPAREL.id, "decoding": "free"}
    # k=2 shipped shots were shown: three products in the prompt.
    assert backend.prompts[0].count("Product: ") == 3


def test_coercion_is_reported_as_warning():
    ex = _extractor(ScriptedBackend(_answer))
    [record] = ex.extract(["Gildan Heavy Blend Sweatshirt 2-Pack Sport Grey"])
    assert record.ok and record.attributes["Pack Count"] == 2
    assert any("Pack Count" in w for w in record.warnings)


def test_invalid_reply_then_valid_reask():
    def reply(prompt: str) -> str:
        return '{"Brand": "Hanes", "Gender": "Male"}' if REASK not in prompt else '{"Brand": "Hanes", "Gender": "Men"}'

    backend = ScriptedBackend(reply)
    [record] = _extractor(backend, max_retries=1).extract(["Hanes Mens Crew Tee 6-Pack Navy XL"])
    assert record.ok and record.attempts == 2
    assert record.attributes["Gender"] == "Men"
    assert len(backend.prompts) == 2
    reask = backend.prompts[1]
    assert backend.prompts[0] in reask  # the conversation continues
    assert '{"Brand": "Hanes", "Gender": "Male"}' in reask
    assert "Gender: 'Male' is not one of" in reask


def test_unparseable_reply_then_valid_reask():
    backend = ScriptedBackend(["I think it is a Hanes shirt.", '{"Brand": "Hanes"}'])
    [record] = _extractor(backend).extract(["Hanes Mens Crew Tee 6-Pack Navy XL"])
    assert record.ok and record.attempts == 2
    assert "no JSON object" in backend.prompts[1]


@pytest.mark.parametrize("max_retries", [0, 1, 3])
def test_always_invalid_gives_invalid_record(max_retries):
    raw = '{"Brand": "Hanes", "Pack Count": 0}'
    backend = ScriptedBackend(lambda prompt: raw)
    [record] = _extractor(backend, max_retries=max_retries).extract(["Hanes Mens Crew Tee 6-Pack Navy XL"])
    assert record.status == "invalid" and not record.ok
    assert record.attempts == 1 + max_retries == len(backend.prompts)
    assert record.raw == raw
    assert "Pack Count" in record.error and "minimum" in record.error
    assert all(v is None for v in record.attributes.values())
    assert list(record.attributes) == APPAREL.names


def test_unknown_keys_dropped_with_warning():
    backend = ScriptedBackend(lambda p: '{"Brand": "Hanes", "Neckline": "Crew", "Colour": "Navy"}')
    [record] = _extractor(backend).extract(["Hanes Mens Crew Tee 6-Pack Navy XL"])
    assert record.ok and "Neckline" not in record.attributes
    assert any("dropped" in w and "Neckline" in w and "Colour" in w for w in record.warnings)


def test_parse_repairs_become_warnings():
    backend = ScriptedBackend(lambda p: '```json\n{"Brand": "Hanes",}\n```')
    [record] = _extractor(backend).extract(["Hanes Mens Crew Tee 6-Pack Navy XL"])
    assert record.ok and record.attributes["Brand"] == "Hanes"
    assert "code fence removed" in record.warnings and "trailing comma removed" in record.warnings


@pytest.mark.parametrize("doc,error", [
    (Document(id="7", text="", error="line 7: not valid JSON (Expecting value)"), "line 7: not valid JSON"),
    (Document(id="8", text="   "), "empty text"),
])
def test_input_error_gives_failed_record_without_calling_model(doc, error):
    backend = ScriptedBackend(_answer)
    [record] = list(_extractor(backend).extract_documents([doc]))
    assert record.status == "failed" and error in record.error
    assert record.id == doc.id and record.attempts == 0
    assert list(record.attributes) == APPAREL.names
    assert backend.calls == []


def test_over_long_text_is_truncated_with_warning():
    words = [f"word{i}" for i in range(30)]
    backend = ScriptedBackend(lambda p: '{"Brand": null}')
    [record] = _extractor(backend, k=0, max_text_tokens=10).extract(["Hanes " + " ".join(words)])
    assert record.ok
    assert any("truncated to its first 10 tokens" in w for w in record.warnings)
    assert _input_of(backend.prompts[0]) == "Hanes " + " ".join(words[:9])


def test_short_text_is_not_truncated():
    backend = ScriptedBackend(_answer)
    text = "Hanes Mens Crew Tee 6-Pack Navy XL"
    [record] = _extractor(backend).extract([text])
    assert record.ok, record.error
    assert not any("truncated" in w for w in record.warnings), record.warnings
    assert _input_of(backend.prompts[-1]) == text  # the model saw all of it


def test_shots_dropped_to_fit_context_window():
    text = "Hanes Mens Crew Tee 6-Pack Navy XL"
    probe = _extractor(ScriptedBackend(_answer), k=3)
    shots = probe.pool.select(text, 3)
    sizes = [probe.backend.count_tokens(probe.backend.render_chat(render_messages(APPAREL, text, shots[i:])))
             for i in range(4)]  # 3, 2, 1, 0 shots
    # Room for one shot (the most similar, the last) but not two.
    backend = ScriptedBackend(_answer, context_window=probe.budget + sizes[2])
    [record] = _extractor(backend, k=3).extract([text])
    assert record.ok
    assert any("demonstrations reduced to 1" in w for w in record.warnings)
    assert backend.count_tokens(backend.prompts[0]) == sizes[2]
    assert shots[-1].text in backend.prompts[0] and shots[0].text not in backend.prompts[0]


def _mixed_reply(prompt: str) -> str:
    text = _input_of(prompt)
    if text.startswith("Levis") and REASK not in prompt:
        return '{"Brand": "Levis", "Gender": "M"}'  # invalid first, fixed on the re-ask
    if text.startswith("Carhartt"):
        return "no idea"  # invalid every time
    return json.dumps(OFFERS[text])


def test_results_do_not_depend_on_batch_size():
    texts = list(OFFERS)
    assert len(texts) == 7
    runs = {}
    for batch_size in (1, 3):
        backend = ScriptedBackend(_mixed_reply)
        records = _extractor(backend, batch_size=batch_size, selection="random", seed=3).extract(texts)
        runs[batch_size] = [r.to_dict() for r in records]
        assert max(backend.calls) == batch_size
    assert runs[1] == runs[3]
    assert [r["id"] for r in runs[1]] == [str(i) for i in range(1, 8)]
    assert [r["status"] for r in runs[1]].count("invalid") == 1


def _two_schema_reply(prompt: str) -> str:
    if "Category: electronics." in prompt:
        return '{"Brand": "Dell", "RAM": "16GB", "Connectivity": "Bluetooth"}'
    return json.dumps(OFFERS.get(_input_of(prompt), {"Brand": "Hanes"}))


def test_extract_stream_routes_per_document_schemas_in_input_order():
    backend = ScriptedBackend(_two_schema_reply)
    ex = _extractor(backend, batch_size=4)
    docs = [
        Document("a1", "Hanes Mens Crew Tee 6-Pack Navy XL"),
        Document("e1", "Dell XPS 13 16GB RAM Bluetooth", schema="electronics"),
        Document("a2", "Levis 511 Slim Fit Jeans 32W x 30L", schema="apparel"),
        Document("x1", "Mystery item", schema="furniture"),
        Document("e2", "Dell Inspiron 16GB", schema="electronics"),
        Document("a3", "Carhartt Knit Cuffed Beanie Brown", schema=str(APPAREL.path)),
    ]
    records = []
    summary = extract_stream(ex, docs, on_record=records.append)
    assert [r.id for r in records] == ["a1", "e1", "a2", "x1", "e2", "a3"]
    by_id = {r.id: r for r in records}
    for rid in ("a1", "a2", "a3"):
        assert by_id[rid].ok and by_id[rid].provenance.schema == APPAREL.id
        assert list(by_id[rid].attributes) == APPAREL.names
    for rid in ("e1", "e2"):
        assert by_id[rid].ok and by_id[rid].provenance.schema == ELECTRONICS.id
        assert list(by_id[rid].attributes) == ELECTRONICS.names
        assert by_id[rid].attributes["Connectivity"] == ["Bluetooth"]
    assert by_id["x1"].status == "failed" and "furniture" in by_id["x1"].error
    assert (summary.ok, summary.invalid, summary.failed, summary.total) == (5, 0, 1, 6)


def test_extract_stream_skips_the_first_documents_by_position():
    backend = ScriptedBackend(_answer)
    docs = [Document("same", t) for t in OFFERS]  # ids need not be unique: resuming goes by position
    records = []
    summary = extract_stream(_extractor(backend, batch_size=2), docs, skip=2, on_record=records.append)
    assert [r.attributes["Brand"] for r in records] == [OFFERS[t]["Brand"] for t in list(OFFERS)[2:]]
    assert summary.skipped == 2 and summary.ok == 5
    assert "2 skipped" in summary.line() and "5 records: 5 ok" in summary.line()
    assert len(backend.prompts) == 5


def test_backend_exception_fails_only_that_batch():
    def reply(prompt: str) -> str:
        if _input_of(prompt).startswith("Levis"):
            raise RuntimeError("CUDA out of memory")
        return _answer(prompt)

    texts = list(OFFERS)[:4]  # batches: [Hanes, Levis], [Nike, Carhartt]
    records = _extractor(ScriptedBackend(reply), batch_size=2).extract(texts)
    assert [r.status for r in records] == ["failed", "failed", "ok", "ok"]
    assert "model error: RuntimeError: CUDA out of memory" in records[0].error
    assert list(records[0].attributes) == APPAREL.names


def test_a_document_its_engine_chokes_on_fails_alone_in_a_stream():
    class Choking(ScriptedBackend):
        def truncate(self, text: str, max_tokens: int) -> str:  # prompt building, before the model is asked
            if "Levis" in text:
                raise UnicodeEncodeError("utf-8", text, 0, 1, "surrogates not allowed")
            return super().truncate(text, max_tokens)

    backend = Choking(_answer)
    docs = [Document(str(i), t) for i, t in enumerate(list(OFFERS)[:4], 1)]  # batches: [Hanes, Levis], [Nike, Carhartt]
    records = []
    summary = extract_stream(_extractor(backend, batch_size=2), docs, on_record=records.append)
    assert [r.status for r in records] == ["ok", "failed", "ok", "ok"]
    assert records[1].id == "2" and records[1].error.startswith("engine error: UnicodeEncodeError")
    assert records[0].attributes["Brand"] == "Hanes" and (summary.ok, summary.failed) == (3, 1)


def _write_shots(folder: Path, schema_name: str, text: str, record: dict) -> None:
    folder.mkdir(exist_ok=True)
    (folder / f"{schema_name}.jsonl").write_text(json.dumps({"text": text, "record": record}) + "\n", encoding="utf-8")


def test_with_schema_keeps_shots_folder(tmp_path):
    folder = tmp_path / "shots"
    _write_shots(folder, "apparel", "Custom apparel shot Gap Tee", {"Brand": "Gap"})
    _write_shots(folder, "electronics", "Custom electronics shot Anker 65W", {"Brand": "Anker", "Wattage": "65W"})
    ex = Extractor(ScriptedBackend(_answer), "apparel", ExtractConfig(k=2, decoding="free"), shots=folder)
    assert [s.text for s in ex.pool.shots] == ["Custom apparel shot Gap Tee"]
    sibling = ex.with_schema("electronics")
    assert sibling.schema.name == "electronics" and sibling.backend is ex.backend
    assert [s.text for s in sibling.pool.shots] == ["Custom electronics shot Anker 65W"]
    assert sibling.pool.shots[0].record["Wattage"] == "65W"
    assert list(sibling.pool.shots[0].record) == ELECTRONICS.names


def test_with_schema_without_folder_uses_shipped_shots():
    ex = Extractor(ScriptedBackend(_answer), "apparel", ExtractConfig(decoding="free"),
                   shots=[Shot("Gap Tee", {"Brand": "Gap"})])
    sibling = ex.with_schema("electronics")
    assert len(sibling.pool) > 1 and all(list(s.record) == ELECTRONICS.names for s in sibling.pool.shots)


def test_no_shots_means_zero_shot(tmp_path):
    schema = tmp_path / "tiny.schema.json"
    schema.write_text(json.dumps({"type": "object", "additionalProperties": False,
                                  "properties": {"Brand": {"type": ["string", "null"]}}}), encoding="utf-8")
    backend = ScriptedBackend(lambda p: '{"Brand": "Hanes"}')
    ex = Extractor(backend, str(schema), ExtractConfig(k=3, decoding="free"))
    assert ex.config.k == 0 and ex.requested.k == 3
    [record] = ex.extract(["Hanes Tee"])
    assert record.ok and backend.prompts[0].count("Product: ") == 1


def test_constrained_decoding_needs_token_level_access():
    with pytest.raises(ConfigError, match="constrained"):
        Extractor(ScriptedBackend(_answer), "apparel", ExtractConfig(decoding="constrained"))


def test_long_demonstrations_are_cut_and_lose_values_they_no_longer_show():
    shot = Shot("Acme " + "filler " * 40 + "Red", {"Brand": "Acme", "Color": "Red"})
    backend = ScriptedBackend(lambda prompt: '{"Brand": null}')
    ex = Extractor(backend, APPAREL, ExtractConfig(decoding="free", k=1, max_shot_tokens=10), shots=[shot])
    [record] = ex.extract(["Acme red shoe"])
    assert record.ok
    prompt = backend.prompts[0]
    assert "Product: Acme" + " filler" * 9 + "\n" in prompt  # 10 words: Acme + 9 fillers, "Red" cut
    assert '"Brand": "Acme", "Product Type": null, "Color": null' in prompt


def test_normalize_adds_canonical_values_beside_the_raw_ones():
    backend = ScriptedBackend(lambda prompt: '{"Brand": "Hanes", "Color": "Navy Blu", "Material": "100% Cotton"}')
    from extractor.spec import EngineSpec, LLMSpec, SpecEngine

    plain = Extractor(backend, APPAREL, ExtractConfig(decoding="free", k=0))
    assert plain.extract(["Hanes tee Navy Blu 100% Cotton"])[0].normalized is None  # the engine never normalizes
    ex = SpecEngine(plain, EngineSpec(llm=LLMSpec(), normalize=True))  # what build_engine makes of a spec
    [record] = ex.extract(["Hanes tee Navy Blu 100% Cotton"])
    assert record.attributes["Color"] == "Navy Blu"  # raw stays
    assert record.normalized["Color"]["value"] == "Blue"
    assert record.normalized["Color"]["properties"]["hex"] == "#0000FF"
    assert record.normalized["Material"]["value"] == "Cotton"
    # colors.json lists "navy" as an alias of Blue, and apparel's Color matches with contains: "first"; the
    # vocabulary's order (exact -> alias -> casefold -> contains -> fuzzy) finds no exact, alias or casefold
    # spelling of "Navy Blu", so "navy" found as a whole word inside it decides: 4 of its 8 characters.
    color = record.to_dict()["normalized"]["Color"]
    assert (color["method"], color["score"], color["matched"]) == ("contains", 0.5, True), color
