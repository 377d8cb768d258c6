"""A Label Studio export read back as training lines (extractor/label/annotations.py), on an export
written in Label Studio's documented JSON export shape (tests/fixtures/label-studio/export.json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from extractor.errors import InputError
from extractor.label import labelled_lines, read_export
from extractor.label.annotations import latest_annotation
from extractor.schemas import load_schema

FIXTURES = Path(__file__).parent / "fixtures" / "label-studio"
SCHEMA = load_schema(FIXTURES / "shoes.schema.json")


@pytest.fixture(scope="module")
def imported() -> tuple[dict[str, dict[str, Any]], Any]:
    lines, report = labelled_lines(read_export(FIXTURES / "export.json"), SCHEMA)
    return {line["id"]: line for line in lines}, report


def test_each_annotated_task_becomes_a_line_of_text_and_record(imported) -> None:  # type: ignore[no-untyped-def]
    lines, report = imported
    assert sorted(lines) == ["p1", "p2", "p5", "p6"]
    assert report.lines == 4
    assert lines["p1"] == {"id": "p1", "text": "Nike Air Zoom running shoe black size 10",
                           "record": {"Brand": "Nike", "Color": ["black"], "Size": "10", "Waterproof": None}}


def test_the_latest_annotation_not_cancelled_counts(imported) -> None:  # type: ignore[no-untyped-def]
    lines, _ = imported
    # p1 has an older annotation without Size and a newer cancelled one labelling "Air" as Brand
    assert lines["p1"]["record"]["Size"] == "10"
    assert lines["p1"]["record"]["Brand"] == "Nike"


def test_tasks_without_an_annotation_or_with_only_cancelled_ones_are_skipped_and_counted(imported) -> None:  # type: ignore[no-untyped-def]
    lines, report = imported
    assert "p3" not in lines and "p4" not in lines
    assert report.unannotated == 2
    assert any("2 task(s) without an annotation" in m for m in report.messages())


def test_an_annotation_without_regions_is_a_record_of_nulls(imported) -> None:  # type: ignore[no-untyped-def]
    lines, _ = imported
    assert lines["p5"]["record"] == {"Brand": None, "Color": None, "Size": None, "Waterproof": None}


def test_emoji_before_a_span_keep_it_in_place(imported) -> None:  # type: ignore[no-untyped-def]
    lines, _ = imported
    record = lines["p2"]["record"]
    assert record["Brand"] == "Hanes" and record["Size"] == "XL"


def test_overlapping_regions_of_one_attribute_keep_the_longer_and_arrays_take_the_others(imported) -> None:  # type: ignore[no-untyped-def]
    lines, _ = imported
    # "navy blue" and "navy" inside it: the longer; a second "navy" elsewhere: an item, once
    assert lines["p2"]["record"]["Color"] == ["navy blue", "navy"]


def test_labels_outside_the_schema_are_counted(imported) -> None:  # type: ignore[no-untyped-def]
    _, report = imported
    assert report.unknown_labels == {"Material": 1}


def test_astral_cjk_offsets_and_a_boolean_choice(imported) -> None:  # type: ignore[no-untyped-def]
    lines, _ = imported
    assert lines["p6"]["record"] == {"Brand": "𠮷野家", "Color": ["赤", "Red"], "Size": "27", "Waterproof": True}


def test_each_task_names_its_schema_when_none_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(FIXTURES)  # the tasks name shoes.schema.json, relative to where label ran
    lines, _ = labelled_lines(read_export("export.json"))
    assert {line["schema"] for line in lines} == {"shoes.schema.json"}
    assert lines[0]["record"]["Size"] == "10"


def _task(result: list[dict[str, Any]], text: str = "Nike Air black 10") -> dict[str, Any]:
    return {"id": 7, "data": {"text": text}, "annotations": [{"id": 1, "result": result, "was_cancelled": False}]}


def _labels(start: int, end: int, label: str, text: str | None = None) -> dict[str, Any]:
    value: dict[str, Any] = {"start": start, "end": end, "labels": [label]}
    if text is not None:
        value["text"] = text
    return {"id": "x", "from_name": "label", "to_name": "text", "type": "labels", "value": value}


@pytest.mark.parametrize(("result", "expected"), [
    ([_labels(0, 4, "Brand", "Nike")], {"Brand": "Nike"}),
    ([_labels(0, 4, "Brand")], {"Brand": "Nike"}),  # no text in the region: the offsets say it
    ([_labels(9, 14, "Brand"), _labels(0, 4, "Brand")], {"Brand": "Nike"}),  # single value: the first in the text
    ([_labels(9, 14, "Color"), _labels(0, 4, "Color")], {"Color": ["Nike", "black"]}),  # array: text order
    ([_labels(9, 14, "Color"), _labels(9, 14, "Color")], {"Color": ["black"]}),  # the same region twice
    ([_labels(15, 17, "Size"), _labels(4, 4, "Brand")], {"Size": "10", "Brand": None}),  # an empty region: nothing
    ([{"id": "c", "from_name": "choice0", "to_name": "text", "type": "choices", "value": {"choices": ["false"]}}],
     {"Waterproof": False}),
])
def test_regions_become_values(result: list[dict[str, Any]], expected: dict[str, Any]) -> None:
    lines, _ = labelled_lines([_task(result)], SCHEMA)
    assert {k: v for k, v in lines[0]["record"].items() if k in expected} == expected


@pytest.mark.parametrize(("start", "end"), [(3, 7), (2, 6)])  # UTF-16 units; code points (other versions)
def test_offsets_in_either_unit_that_give_the_region_text_are_read(start: int, end: int) -> None:
    lines, _ = labelled_lines([_task([_labels(start, end, "Brand", "Nike")], "😀 Nike 😀 x")], SCHEMA)
    assert lines[0]["record"]["Brand"] == "Nike"


def test_a_region_whose_text_disagrees_with_its_offsets_is_an_error() -> None:
    with pytest.raises(InputError, match="does not match its texts"):
        labelled_lines([_task([_labels(4, 8, "Brand", "Nike")], "😀 Nike 😀 x")], SCHEMA)
    with pytest.raises(InputError, match="does not match its texts"):  # inside the emoji as UTF-16, wrong as points
        labelled_lines([_task([_labels(1, 3, "Brand", "Ni")], "😀 Nike")], SCHEMA)


def test_a_region_that_splits_an_emoji_is_an_error() -> None:
    with pytest.raises(InputError, match="no usable offsets"):
        labelled_lines([_task([_labels(1, 3, "Brand")], "😀 Nike")], SCHEMA)


def test_latest_annotation_falls_back_to_list_order_without_timestamps() -> None:
    task = {"annotations": [{"id": 1, "result": []}, {"id": 2, "result": []}, {"id": 3, "result": [],
                                                                              "was_cancelled": True}]}
    assert latest_annotation(task)["id"] == 2  # type: ignore[index]


def test_a_file_that_is_not_an_export_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "export.json"
    path.write_text(json.dumps({"data": {"text": "x"}}), encoding="utf-8")
    with pytest.raises(InputError, match="JSON array of tasks"):
        read_export(path)
    path.write_text("[{", encoding="utf-8")
    with pytest.raises(InputError, match="cannot read"):
        read_export(path)


def test_predictions_stand_in_for_tasks_nobody_annotated() -> None:
    scored = [{**_labels(0, 4, "Brand", "Nike"), "score": 0.9}, {**_labels(9, 14, "Color", "black"), "score": 0.3},
              _labels(15, 17, "Size", "10")]  # unscored
    tasks = [{"data": {"text": "Nike Air black 10", "offer_id": "a"},
              "predictions": [{"model_version": "old", "result": []}, {"model_version": "new", "result": scored}]},
             {"data": {"text": "Puma", "offer_id": "b"}, "predictions": [3]}]  # an export lists prediction ids only
    lines, report = labelled_lines(tasks, SCHEMA, predictions=True)
    assert lines[0]["record"] == {"Brand": "Nike", "Color": ["black"], "Size": "10", "Waterproof": None}
    assert (report.predicted, report.unannotated) == (1, 1)
    lines, report = labelled_lines(tasks, SCHEMA, predictions=True, min_confidence=0.5)
    assert lines[0]["record"] == {"Brand": "Nike", "Color": None, "Size": None, "Waterproof": None}
    assert report.low_confidence == 2
    lines, report = labelled_lines(tasks, SCHEMA)  # without predictions=True: annotations only
    assert lines == [] and report.unannotated == 2
