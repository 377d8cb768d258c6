"""Tests for extractor.normalize.normalizer: values, records, files, and the properties that hold
for every input (hypothesis)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from extractor.errors import InputError, NormalizationError, SchemaError
from extractor.normalize import Normalizer, normalize_file
from extractor.records import Provenance, Record
from extractor.schemas import DRAFT, check_schema, load_schema

PROPERTIES: dict[str, Any] = {
    "Color": {"type": ["string", "null"], "x-normalize": {
        "vocab": "colors", "match": {"contains": "first", "several": {"at_least": 3, "value": "Multicolor"}}}},
    "Sizes": {"type": ["array", "null"], "items": {"type": "string"}, "x-normalize": {"vocab": "sizes"}},
    "Manufacturer": {"type": ["string", "null"], "x-normalize": {"ops": ["trim", {"expand": "brands"}]}},
    "Part Number": {"type": ["string", "null"], "x-normalize": {"ops": ["delete_marks", "upper"]}},
    "Width": {"type": ["string", "number", "null"], "x-normalize": {
        "unit": {"dimension": "length", "to": "cm", "default": "in", "precision": 1}}},
    "Capacity": {"type": ["string", "null"], "x-normalize": {
        "unit": {"dimension": ["information", "power"], "dims": "product"}}},
    "Pack": {"type": ["string", "integer", "null"], "x-normalize": {"number": True}},
    "Title": {"type": ["string", "null"]},
}


def make_schema(properties: dict[str, Any] | None = None, path: Path | None = None):
    document = {"$schema": DRAFT, "title": "shop", "type": "object", "additionalProperties": False,
                "properties": properties or PROPERTIES}
    if path is None:
        return check_schema(document, name="shop")
    path.write_text(json.dumps(document), encoding="utf-8")
    return load_schema(path)


@pytest.fixture(scope="module")
def normalizer() -> Normalizer:
    return Normalizer.from_schema(make_schema())


VALUES: list[tuple[str, Any, Any, str]] = [
    ("Color", "Navy Blu", "Blue", "contains"),
    ("Color", "Crimsn", "Red", "fuzzy"),
    ("Color", "GREY", "Gray", "casefold"),
    ("Color", "navy", "Blue", "alias"),
    ("Color", "Blue", "Blue", "exact"),
    ("Color", "black, white and red", "Multicolor", "contains"),
    ("Manufacturer", "HPE", "Hewlett-Packard Enterprise", "op"),
    ("Manufacturer", "  HP ProLiant ", "Hewlett-Packard ProLiant", "op"),
    ("Part Number", "ab-123.x", "AB123X", "op"),
    ("Part Number", "x-\u0390", "X\u0399\u0308\u0301", "op"),  # "ΐ" upper-cased keeps its accents
    ("Width", "4In", "10.2 cm", "unit"),
    ("Width", '3 1/2"', "8.9 cm", "unit"),
    ("Width", 24, "61.0 cm", "unit"),
    ("Capacity", "2 x 8GB", "16 GB", "unit"),
    ("Capacity", "3.2 GHz", None, "unmatched"),
    ("Pack", "50/Pack", 50, "number"),
    ("Pack", 12, 12, "number"),
    ("Title", "Anything at all", "Anything at all", "none"),
]


@pytest.mark.parametrize("attribute,raw,value,method", VALUES)
def test_normalize_value(normalizer: Normalizer, attribute: str, raw: Any, value: Any, method: str) -> None:
    item = normalizer.normalize_value(attribute, raw)
    assert item is not None
    assert item.method == method
    assert item.raw == raw
    if method == "unmatched":
        assert item.value == raw and item.matched is False
    else:
        assert item.value == value and item.matched is True


def test_properties_and_units_are_reported(normalizer: Normalizer) -> None:
    assert normalizer.normalize_value("Color", "navy").to_dict() == {
        "value": "Blue", "raw": "navy", "method": "alias", "score": 1.0, "matched": True,
        "properties": {"hex": "#0000FF"}}
    assert normalizer.normalize_value("Width", "4In").to_dict()["unit"] == "cm"


@pytest.mark.parametrize("attribute,raw", [("Color", "Heliotrope Mist"), ("Color", ""), ("Width", "Dual-Height"),
                                           ("Pack", "some"), ("Part Number", "--"), ("Sizes", "gigantic")])
def test_unmatched_values_are_kept_raw_and_flagged(normalizer: Normalizer, attribute: str, raw: str) -> None:
    item = normalizer.normalize_value(attribute, raw)
    assert item is not None
    assert (item.value, item.matched, item.method) == (raw, False, "unmatched")


def test_unmatched_vocabulary_values_name_the_nearest(normalizer: Normalizer) -> None:
    item = normalizer.normalize_value("Color", "Zorgle")
    assert item.matched is False and item.nearest == "Orange" and 0 < item.score < 0.85


def test_none_stays_none_and_unknown_attributes_are_errors(normalizer: Normalizer) -> None:
    assert normalizer.normalize_value("Color", None) is None
    with pytest.raises(NormalizationError, match="attribute 'Colour' is not in schema 'shop'"):
        normalizer.normalize_value("Colour", "red")


def test_record_level_merges_drops_and_keeps_raw(normalizer: Normalizer) -> None:
    provenance = Provenance(model="m", adapter=None, prompt="p", schema="shop@x", decoding="free")
    record = Record(id="7", attributes={"Color": "navy", "Sizes": ["Small", "S", "XL", "gigantic", "sm"],
                                        "Pack": None, "Extra": "dropped"}, provenance=provenance)
    out = normalizer.normalize_record(record)
    assert out.attributes == record.attributes  # the raw values stay where they were
    assert out is not record and record.normalized is None
    assert list(out.normalized) == list(PROPERTIES)
    sizes = out.normalized["Sizes"]
    assert [s["value"] for s in sizes] == ["S", "XL", "gigantic"]
    assert sizes[0]["raw"] == "Small" and sizes[0]["merged"] == ["S", "sm"]
    assert sizes[2]["matched"] is False
    assert out.normalized["Pack"] is None and out.normalized["Title"] is None
    assert "Extra" not in out.normalized
    assert out.warnings == ["normalization dropped attribute 'Extra': not in schema 'shop'"]
    assert out.to_dict()["normalized"]["Color"]["value"] == "Blue"


def test_error_records_pass_through(normalizer: Normalizer) -> None:
    provenance = Provenance(model="m", adapter=None, prompt="p", schema="s", decoding="free")
    record = Record(id="1", attributes={"Color": None}, provenance=provenance, error="model output was not JSON")
    assert normalizer.normalize_record(record) is record


def test_without_a_schema_every_attribute_is_kept() -> None:
    normalizer = Normalizer({})
    normalized, warnings = normalizer.normalize_attributes({"Anything": "x", "More": ["a", "a"]})
    assert warnings == []
    assert normalized["Anything"]["method"] == "none"
    assert len(normalized["More"]) == 1 and normalized["More"][0]["merged"] == ["a"]


def test_vocabulary_paths_resolve_next_to_the_schema(tmp_path: Path) -> None:
    (tmp_path / "vocab").mkdir()
    (tmp_path / "vocab" / "fabrics.json").write_text(json.dumps(
        {"entries": [{"canonical": "Merino", "aliases": ["merino wool"]}]}), encoding="utf-8")
    schema = make_schema({"Fabric": {"type": ["string", "null"], "x-normalize": {"vocab": "vocab/fabrics.json"}}},
                         path=tmp_path / "fabric.schema.json")
    assert Normalizer.from_schema(schema).normalize_value("Fabric", "Merino Wool").value == "Merino"


def test_a_closed_taxonomy_places_every_value(tmp_path: Path) -> None:
    # Learned aliases, the words vote, then the catch-all: no product type is left as raw text.
    (tmp_path / "types.json").write_text(json.dumps({"entries": [
        {"canonical": "Furniture", "aliases": ["Office Desk", "Wire Shelf"]},
        {"canonical": "Cooking Equipment", "aliases": ["Contact Grill", "Countertop Fryer"]},
        {"canonical": "Miscellaneous"}]}), encoding="utf-8")
    schema = make_schema({"Product Type": {"type": ["string", "null"], "x-normalize": {
        "vocab": "types.json", "match": {"words": True, "otherwise": "Miscellaneous"}}}},
        path=tmp_path / "types.schema.json")
    normalizer = Normalizer.from_schema(schema)
    found = [normalizer.normalize_value("Product Type", raw) for raw in ("Contact Grill", "Corner Desk", "Boiler")]
    assert [(n.value, n.method, n.matched) for n in found] == [
        ("Cooking Equipment", "alias", True), ("Furniture", "words", True), ("Miscellaneous", "otherwise", True)]
    assert found[2].raw == "Boiler" and found[2].score == 0.0  # a guess, findable for review
    assert normalizer.normalize_value("Product Type", "  ").method == "unmatched"  # nothing to place


@pytest.mark.parametrize("block,message", [
    ({"vocab": "colors", "match": {"otherwise": "Rainbow"}}, "match/otherwise: 'Rainbow' is not a canonical"),
    ({"vocab": "no-such-vocab"}, "attribute 'A': no vocabulary file 'no-such-vocab'"),
    ({"vocab": "colors", "match": {"contains": "first", "several": {"at_least": 3, "value": "Rainbow"}}},
     "'Rainbow' is not a canonical"),
    ({"ops": [{"expand": "missing.json"}]}, "attribute 'A': no vocabulary file 'missing.json'"),
    ({"unit": {"dimension": "length", "to": "kg"}}, "kilogram is a mass unit"),
])
def test_bad_blocks_fail_when_the_normalizer_is_built(block: dict[str, Any], message: str) -> None:
    with pytest.raises(NormalizationError) as info:
        Normalizer.from_schema(make_schema({"A": {"type": ["string", "null"], "x-normalize": block}}))
    assert message in str(info.value)


def test_ill_typed_blocks_are_refused_when_the_schema_is_loaded() -> None:
    # Key and type errors are caught by the schema checker already, with the schema path.
    with pytest.raises(SchemaError) as info:
        make_schema({"A": {"type": ["string", "null"], "x-normalize": {"unit": {"dimension": "length", "to": 5}}}})
    assert info.value.path == "/properties/A/x-normalize/unit/to"


def test_normalize_file_lines_up_and_reports(tmp_path: Path, normalizer: Normalizer) -> None:
    source = tmp_path / "records.jsonl"
    source.write_text("\n".join([
        json.dumps({"id": "a", "attributes": {"Color": "navy blue", "Width": "4in"}, "error": None}),
        "not json",
        json.dumps({"id": "b", "attributes": {"Color": "Heliotrope Mist"}}),
        json.dumps({"id": "c", "text": "no attributes"}),
        json.dumps({"id": "d", "attributes": {"Color": None}, "error": "timeout"}),
    ]) + "\n", encoding="utf-8")
    target = tmp_path / "out" / "normalized.jsonl"
    stats = normalize_file(source, target, normalizer)
    lines = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    assert [line["id"] for line in lines] == ["a", None, "b", "c", "d"]
    assert lines[0]["normalized"]["Color"]["value"] == "Blue"
    assert lines[0]["normalized"]["Width"]["value"] == "10.2 cm"
    assert "line 2" in lines[1]["error"] and "line 4" in lines[3]["error"]
    assert lines[2]["normalized"]["Color"]["matched"] is False
    assert "normalized" not in lines[4]
    assert (stats.records, stats.bad_lines) == (5, 2)
    assert stats.unmatched["Color"] == 1
    assert stats.methods["alias"] == 1 and stats.methods["unit"] == 1


def test_normalize_file_in_place_and_nothing_left_by_an_unreadable_file(tmp_path: Path, normalizer: Normalizer) -> None:
    source = tmp_path / "records.jsonl"
    source.write_text(json.dumps({"id": "a", "attributes": {"Color": "navy blue"}}) + "\n", encoding="utf-8")
    stats = normalize_file(source, source, normalizer)  # read as it is written: the output replaces it at the end
    assert stats.records == 1
    assert json.loads(source.read_text(encoding="utf-8"))["normalized"]["Color"]["value"] == "Blue"
    bad = tmp_path / "bad.jsonl"  # one undecodable line costs that line, not the file
    bad.write_bytes(json.dumps({"id": "a", "attributes": {"Color": "red"}}).encode() + b"\n\xff\xfe\n")
    target = tmp_path / "out.jsonl"
    stats = normalize_file(bad, target, normalizer)
    lines = [json.loads(line) for line in target.read_text(encoding="utf-8").split("\n")[:-1]]
    assert (stats.records, stats.bad_lines) == (2, 1)
    assert lines[0]["normalized"]["Color"]["value"] == "Red"
    assert lines[1]["status"] == "failed" and "line 2: not utf-8 text (byte 0xff" in lines[1]["error"]
    target.write_text("an earlier run\n", encoding="utf-8")
    with pytest.raises(InputError, match="cannot read"):
        normalize_file(tmp_path / "missing.jsonl", target, normalizer)
    assert target.read_text(encoding="utf-8") == "an earlier run\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.jsonl", "out.jsonl", "records.jsonl"]


def test_an_interrupted_normalize_leaves_the_earlier_output(tmp_path: Path, normalizer: Normalizer) -> None:
    source = tmp_path / "records.jsonl"
    source.write_text("".join(json.dumps({"id": str(i), "attributes": {"Color": "red"}}) + "\n" for i in range(3)),
                      encoding="utf-8")
    target = tmp_path / "out.jsonl"
    target.write_text("an earlier run\n", encoding="utf-8")

    def interrupt() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        normalize_file(source, target, normalizer, interrupt)
    assert target.read_text(encoding="utf-8") == "an earlier run\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl", "records.jsonl"]


# --- properties --------------------------------------------------------------------------------

TEXT = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["navy", "Navy Blu", "red and black", "XL", "x-large", "HP G8", "481726-B22", "6 ft 9 in",
                     '56" - 62"', "10 x 20 cm", "2 x 4GB", "1.5TB", "50/Pack", "dozen", "", "  ", "160/320-GB"]),
    st.builds(lambda n, u: f"{n} {u}", st.floats(0.01, 5000, allow_nan=False).map(lambda f: round(f, 2)),
              st.sampled_from(["in", "cm", "ft", "mm", "GB", "TB", "W", "kW", "oz", '"'])),
)
ATTRIBUTES = st.sampled_from([a for a in PROPERTIES if a != "Sizes"] + ["Sizes"])


@settings(max_examples=300, deadline=None)
@given(attribute=ATTRIBUTES, raw=TEXT)
def test_normalizing_twice_changes_nothing(normalizer: Normalizer, attribute: str, raw: str) -> None:
    once = normalizer.normalize_value(attribute, raw)
    assert once is not None
    twice = normalizer.normalize_value(attribute, once.value)
    assert twice is not None
    assert twice.value == once.value
    assert twice.matched == once.matched


@settings(max_examples=300, deadline=None)
@given(attribute=ATTRIBUTES, raw=TEXT)
def test_a_value_never_becomes_null(normalizer: Normalizer, attribute: str, raw: str) -> None:
    item = normalizer.normalize_value(attribute, raw)
    assert item is not None and item.value is not None
    if not item.matched:
        assert item.value == raw


@settings(max_examples=100, deadline=None)
@given(raws=st.lists(TEXT, max_size=6))
def test_lists_lose_no_value(normalizer: Normalizer, raws: list[str]) -> None:
    items = normalizer.normalize_values("Sizes", raws)
    assert sorted(map(str, [i.raw for i in items] + [m for i in items for m in i.merged])) == sorted(map(str, raws))
