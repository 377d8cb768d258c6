"""Records as Label Studio tasks with pre-annotations, and the labelling config
(extractor/label/tasks.py); tasks made here, exported as Label Studio would, read back the same."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from extractor.label import TaskConfig, labelled_lines, labelling_config, make_tasks, write_tasks
from extractor.records import Document, Provenance, Record
from extractor.schemas import load_schema

FIXTURES = Path(__file__).parent / "fixtures" / "label-studio"
SCHEMA = load_schema(FIXTURES / "shoes.schema.json")
PROVENANCE = Provenance(model="m", adapter=None, prompt="p", schema="shoes", decoding="constrained", spec="abc123")


def record(id: str, attributes: dict[str, Any], confidence: dict[str, float | None] | None = None,
           spans: dict[str, list[int] | None] | None = None, status: str = "ok") -> Record:
    full = {name: attributes.get(name) for name in SCHEMA.names}
    return Record(id=id, attributes=full, provenance=PROVENANCE, confidence=confidence, spans=spans, status=status)


def exported(tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What Label Studio exports after a person accepts every pre-annotation as it is."""
    return [{**task, "id": i, "annotations": [{"id": i, "result": task.get("predictions", [{}])[0].get("result", []),
                                               "was_cancelled": False}],
             "predictions": [i]} for i, task in enumerate(tasks, start=1)]


def test_the_labelling_config_labels_spans_and_asks_booleans() -> None:
    view = ET.fromstring(labelling_config(SCHEMA))
    labels = view.find("Labels")
    assert labels is not None and labels.get("name") == "label" and labels.get("toName") == "text"
    assert [label.get("value") for label in labels] == ["Brand", "Color", "Size"]
    assert view.find("Text").get("value") == "$text"  # type: ignore[union-attr]
    choices = view.find("Choices")
    assert choices is not None and [c.get("value") for c in choices] == ["true", "false"]


def test_attribute_names_are_escaped_in_the_config() -> None:
    from extractor.schemas import schema_from_attributes

    schema = schema_from_attributes("odd", {'Size "US" & <EU>': {}})
    view = ET.fromstring(labelling_config(schema))
    assert view.find("Labels/Label").get("value") == 'Size "US" & <EU>'  # type: ignore[union-attr]


def test_values_become_scored_regions_at_utf16_offsets() -> None:
    doc = Document(id="a", text="😀 Nike shoe 🎉 black and white, waterproof")
    rec = record("a", {"Brand": "Nike", "Color": ["black", "white"], "Waterproof": True},
                 confidence={"Brand": 0.9, "Color": 0.6, "Size": 0.8, "Waterproof": 0.7}, spans={"Brand": [2, 6]})
    tasks, report = make_tasks([doc], [rec], SCHEMA)
    (task,) = tasks
    assert task["data"] == {"text": doc.text, "offer_id": "a", "schema": "shoes"}
    prediction = task["predictions"][0]
    assert prediction["model_version"] == "abc123" and prediction["score"] == 0.6
    by_label = {(r["value"].get("labels") or r["value"]["choices"])[0]: r for r in prediction["result"]}
    assert by_label["Brand"]["value"] == {"start": 3, "end": 7, "text": "Nike", "labels": ["Brand"]}
    assert by_label["Brand"]["score"] == 0.9
    assert [r["value"]["text"] for r in prediction["result"] if r["value"].get("labels") == ["Color"]] == \
        ["black", "white"]
    assert by_label["true"]["from_name"] == "choice0"
    assert report.regions == 4 and report.tasks == 1


@pytest.mark.parametrize(("spans", "value", "expected"), [
    ({"Brand": [10, 14]}, "Nike", (10, 14)),  # the record's span: the second "Nike", as decoded
    ({"Brand": [0, 3]}, "Nike", (0, 4)),  # a span that does not hold the value: located instead
    (None, "nike", (0, 4)),  # ignoring case
    (None, "Nik", (0, 3)),  # inside a word: the value's own characters, so accepting it keeps the value
])
def test_where_a_value_span_comes_from(spans: dict[str, list[int]] | None, value: str,
                                       expected: tuple[int, int]) -> None:
    doc = Document(id="a", text="Nike shoe Nike")
    tasks, _ = make_tasks([doc], [record("a", {"Brand": value}, spans=spans)], SCHEMA)
    region = tasks[0]["predictions"][0]["result"][0]["value"]
    assert (region["start"], region["end"]) == expected


def test_a_value_not_in_the_text_is_counted_not_pre_annotated() -> None:
    doc = Document(id="a", text="Nike shoe")
    tasks, report = make_tasks([doc], [record("a", {"Brand": "Adidas"})], SCHEMA)
    assert tasks[0]["predictions"][0]["result"] == []
    assert report.unlocated == ["a/Brand: 'Adidas'"]
    assert any("not found in their text" in line for line in report.lines())


def test_failed_records_and_unreadable_lines() -> None:
    docs = [Document(id="a", text="Nike"), Document(id="b", text="", error="line 2: not JSON")]
    records = [record("a", {}, status="failed"), record("b", {}, status="failed")]
    tasks, report = make_tasks(docs, records, SCHEMA)
    assert tasks == [{"data": {"text": "Nike", "offer_id": "a", "schema": "shoes"}}]
    assert (report.failed, report.unreadable, report.tasks) == (1, 1, 1)


def test_least_confident_first() -> None:
    docs = [Document(id=i, text=f"Nike {i}") for i in "abcd"]
    records = [record("a", {"Brand": "Nike"}, confidence={"Brand": 0.9, "Size": 0.95}),
               record("b", {"Brand": "Nike"}, confidence={"Brand": 0.95, "Size": 0.3}),  # an unsure null counts
               record("c", {"Brand": "Nike"}),  # no confidence at all: nothing vouches for it, first
               record("d", {"Brand": "Nike"}, confidence={"Brand": 0.5})]
    order = [t["data"]["offer_id"] for t in make_tasks(docs, records, SCHEMA, TaskConfig(order="least-confident"))[0]]
    assert order == ["c", "b", "d", "a"]
    assert [t["data"]["offer_id"] for t in make_tasks(docs, records, SCHEMA)[0]] == list("abcd")


def test_write_tasks_writes_json_and_the_config_beside(tmp_path: Path) -> None:
    tasks, _ = make_tasks([Document(id="a", text="Nike 👟")], [record("a", {"Brand": "Nike"})], SCHEMA)
    beside = write_tasks(tmp_path / "tasks.json", tasks, labelling_config(SCHEMA))
    assert beside == tmp_path / "tasks.config.xml"
    assert json.loads((tmp_path / "tasks.json").read_text(encoding="utf-8")) == tasks
    assert ET.fromstring(beside.read_text(encoding="utf-8")).tag == "View"
    assert not list(tmp_path.glob("*.partial"))


words = st.sampled_from(["Nike", "black", "😀", "𠮷野家", "赤", "size", "10", "🎉🎉", "é", "XL"])


@given(st.lists(words, min_size=1, max_size=10), st.data())
def test_tasks_accepted_as_they_are_read_back_to_the_same_values(text_words: list[str], data: st.DataObject) -> None:
    text = " ".join(text_words)
    brand = data.draw(st.sampled_from(text_words))
    colors = data.draw(st.lists(st.sampled_from(text_words), min_size=1, max_size=3, unique=True))
    from extractor.tagger.data import locate

    colors = sorted(colors, key=lambda c: locate(text, c)[0][0][0])  # the import writes text order
    brand_span = locate(text, brand)[0][0]
    tasks, _ = make_tasks([Document(id="x", text=text)],
                          [record("x", {"Brand": brand, "Color": colors}, spans={"Brand": list(brand_span)})], SCHEMA)
    lines, _ = labelled_lines(exported(tasks), SCHEMA)
    back = lines[0]["record"]
    assert back["Brand"] == brand
    # items overlapping a longer one of the same attribute are dropped on import; here none overlap
    # unless one word is part of another ("🎉🎉" holds no other word, so only equal words could)
    assert back["Color"] == list(dict.fromkeys(colors))


def test_code_point_offsets_for_label_studio_versions_that_store_them() -> None:
    doc = Document(id="a", text="😀 Nike")
    tasks, _ = make_tasks([doc], [record("a", {"Brand": "Nike"})], SCHEMA, TaskConfig(offsets="code-points"))
    value = tasks[0]["predictions"][0]["result"][0]["value"]
    assert (value["start"], value["end"]) == (2, 6)
    lines, _ = labelled_lines(exported(tasks), SCHEMA)  # and the import reads them back
    assert lines[0]["record"]["Brand"] == "Nike"


@pytest.mark.parametrize("config", [TaskConfig(order="newest"), TaskConfig(offsets="bytes")])
def test_unknown_settings_are_refused(config: TaskConfig) -> None:
    with pytest.raises(ValueError, match="is not one of"):
        make_tasks([], [], SCHEMA, config)


def test_tasks_from_the_records_an_extract_run_wrote() -> None:
    from extractor.errors import InputError
    from extractor.label import tasks_from_records

    docs = [Document(id="a", text="Nike shoe"), Document(id="b", text="Puma")]
    tasks, report = tasks_from_records(docs, [record("a", {"Brand": "Nike"}), None], SCHEMA)
    assert [t["data"]["offer_id"] for t in tasks] == ["a", "b"]
    assert tasks[0]["predictions"][0]["result"][0]["value"]["text"] == "Nike"
    assert "predictions" not in tasks[1] and report.failed == 1  # a line that is not a record
    with pytest.raises(InputError, match="not of text"):
        tasks_from_records(docs, [record("b", {}), record("a", {})], SCHEMA)
