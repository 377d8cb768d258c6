"""The shipped examples: offers and queries are well formed, shots are valid and grounded.

A shot whose value is not a span of its text teaches the model to invent values, and a shot
identical to an example offer would let the model copy the answer; both are checked here."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from extractor.demos import load_shots
from extractor.resources import schemas_dir
from extractor.schemas import load_schema, shipped_schemas
from conftest import load_script

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SHOTS = schemas_dir() / "shots"
SHOT_SCHEMAS = ("apparel", "electronics", "home")


def _lines(path: Path) -> list[dict[str, Any]]:
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        assert line.strip(), f"{path.name}:{number} is blank"
        row = json.loads(line)
        assert isinstance(row, dict), f"{path.name}:{number} is not an object"
        rows.append(row)
    return rows


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


@pytest.mark.parametrize("name", SHOT_SCHEMAS)
def test_shots_validate_against_their_schema(name: str) -> None:
    schema = load_schema(name)
    validator = jsonschema.Draft202012Validator(schema.document)
    shots = _lines(SHOTS / f"{name}.jsonl")
    assert len(shots) >= 12
    for shot in shots:
        assert set(shot) == {"text", "record"}, shot
        assert isinstance(shot["text"], str) and shot["text"].strip()
        # Every attribute present, in schema order, so demonstrations look like the wanted output.
        assert list(shot["record"]) == schema.names, shot["text"]
        errors = [e.message for e in validator.iter_errors(shot["record"])]
        assert not errors, (shot["text"], errors)


@pytest.mark.parametrize("name", SHOT_SCHEMAS)
def test_shots_load_through_the_demonstration_reader(name: str) -> None:
    shots = load_shots(SHOTS / f"{name}.jsonl", load_schema(name))
    assert len(shots) == len(_lines(SHOTS / f"{name}.jsonl"))


@pytest.mark.parametrize("name", SHOT_SCHEMAS)
def test_shot_values_are_spans_of_their_text(name: str) -> None:
    schema = load_schema(name)
    for shot in _lines(SHOTS / f"{name}.jsonl"):
        for attr in schema.attributes:
            value = shot["record"][attr.name]
            if not attr.grounded or attr.enum is not None or attr.item_enum is not None:
                continue
            for text in _strings(value):
                assert text in shot["text"], f"{attr.name}={text!r} is not in {shot['text']!r}"


@pytest.mark.parametrize("name", SHOT_SCHEMAS)
def test_shots_demonstrate_every_attribute_and_vary(name: str) -> None:
    schema = load_schema(name)
    shots = _lines(SHOTS / f"{name}.jsonl")
    for attr in schema.attributes:
        values = [s["record"][attr.name] for s in shots]
        assert any(v is not None for v in values), f"no shot shows a value for {attr.name}"
        if attr.name != "Product Type":
            assert any(v is None for v in values), f"no shot shows {attr.name} absent"
    texts = [s["text"] for s in shots]
    assert len(set(texts)) == len(texts)


def test_shots_do_not_repeat_example_inputs() -> None:
    inputs = [p["title"] for p in _lines(EXAMPLES / "products.jsonl")]
    inputs += [q["text"] for q in _lines(EXAMPLES / "queries.jsonl")]
    for name in SHOT_SCHEMAS:
        for shot in _lines(SHOTS / f"{name}.jsonl"):
            for text in inputs:
                assert text not in shot["text"] and shot["text"] not in text, (name, text)


def test_products_are_well_formed_offers() -> None:
    products = _lines(EXAMPLES / "products.jsonl")
    shipped = set(shipped_schemas())
    assert len(products) >= 24
    ids = [p["id"] for p in products]
    assert len(set(ids)) == len(ids)
    for product in products:
        assert set(product) <= {"id", "schema", "title", "description"}, product
        assert isinstance(product["id"], str) and product["id"]
        assert product["schema"] in shipped, product
        assert isinstance(product["title"], str) and product["title"].strip(), product
        assert isinstance(product.get("description", ""), str)
    for name in SHOT_SCHEMAS:
        assert sum(p["schema"] == name for p in products) >= 6, name


def test_queries_are_well_formed() -> None:
    queries = _lines(EXAMPLES / "queries.jsonl")
    shipped = set(shipped_schemas())
    assert len(queries) >= 8
    ids = [q["id"] for q in queries]
    assert len(set(ids)) == len(ids)
    for query in queries:
        assert set(query) == {"id", "schema", "text"}, query
        assert query["schema"] in shipped
        assert isinstance(query["text"], str) and query["text"].strip()
    assert {q["schema"] for q in queries} == set(SHOT_SCHEMAS)


# --- examples/search_service.py and its training file -------------------------------------------

def test_apparel_labelled_is_a_grounded_training_file() -> None:
    """The tagger's training file: {"text", "record"} lines, every apparel attribute in schema order,
    valid records, free-text values that are spans of the text (ignoring case), no shipped query."""
    schema = load_schema("apparel")
    validator = jsonschema.Draft202012Validator(schema.document)
    rows = _lines(EXAMPLES / "apparel_labelled.jsonl")
    assert 60 <= len(rows) <= 120
    queries = {q["text"].lower() for q in _lines(EXAMPLES / "queries.jsonl")}
    for row in rows:
        assert set(row) == {"text", "record"} and list(row["record"]) == schema.names, row
        assert not [e.message for e in validator.iter_errors(row["record"])], row
        assert row["text"].lower() not in queries
        for attr in schema.attributes:
            if attr.enum is None:
                for text in _strings(row["record"][attr.name]):
                    assert text in row["text"], (attr.name, text, row["text"])
    assert len({r["text"] for r in rows}) == len(rows)


def _search_service():  # type: ignore[no-untyped-def]
    return load_script(EXAMPLES / "search_service.py", "search_service")


def test_search_service_arguments_and_filters(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """search_service.py without a model: its options, the filters it prints from a record (the
    normalized value where there is one), and main's flow with the server calls replaced (training
    the real MiniLM and serving it takes minutes on a small CPU; `python examples/search_service.py`
    runs it for real)."""
    service = _search_service()
    args = service.parse_args(["--tagger", "T", "--limit", "3"])
    assert args.tagger == "T" and args.limit == 3 and args.epochs == 4
    record = {"status": "ok", "attributes": {"Brand": "nike", "Color": "blk", "Size": None},
              "normalized": {"Color": {"value": "Black", "raw": "blk", "method": "vocab"}, "Brand": None}}
    assert service.filters(record) == {"Brand": "nike", "Color": "Black"}

    class Process:
        returncode = 0

        def poll(self):  # type: ignore[no-untyped-def]
            return 0

    sent: list[list[str]] = []
    monkeypatch.setattr(service, "train", lambda *a: pytest.fail("--tagger given: no training"))
    monkeypatch.setattr(service, "start_server", lambda tagger, timeout, log: (Process(), "http://127.0.0.1:1"))
    monkeypatch.setattr(service, "query", lambda base, queries: sent.append([q["text"] for q in queries]) or [
        {"status": "ok", "attributes": {"Color": q["text"].split()[0]}, "normalized": None} for q in queries])
    assert service.main(["--tagger", "T", "--limit", "2"]) == 0
    assert sent == [["red mens cotton t-shirt xl", "womens black running shoes size 7.5"]]
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and out[0].endswith("-> Color=red")
