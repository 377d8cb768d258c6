"""Tests for extractor.schemas: the shipped schemas, schema ids, the subset checker, load_schema."""

from __future__ import annotations

import codecs
import copy
import hashlib
import json
import re
from pathlib import Path
from typing import Any, Callable

import jsonschema
import pytest

from extractor.errors import ExtractorError, SchemaError
from extractor.schemas import (DRAFT, check_schema, load_schema, name_problem, schema_from_attributes, schema_id,
                               shipped_schemas)

SHIPPED = ("apparel", "electronics", "home")


# --- the shipped schemas ---------------------------------------------------------------------

def test_the_three_schemas_ship() -> None:
    assert set(SHIPPED) <= set(shipped_schemas())


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_schema_loads_with_its_own_name(name: str) -> None:
    schema = load_schema(name)
    assert schema.name == name
    assert schema.document["title"] == name
    assert schema.description
    assert schema.path == shipped_schemas()[name]
    assert 8 <= len(schema.attributes) <= 12


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_schema_is_real_draft_2020_12(name: str) -> None:
    # The subset must also be valid JSON Schema, or the validation stage would read it differently.
    jsonschema.Draft202012Validator.check_schema(load_schema(name).document)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_attributes_are_described_and_their_examples_validate(name: str) -> None:
    schema = load_schema(name)
    for attr in schema.attributes:
        assert attr.description, attr.name
        spec = schema.document["properties"][attr.name]
        validator = jsonschema.Draft202012Validator(spec)
        assert validator.is_valid(None), f"{attr.name} must accept null"
        if attr.enum is None and attr.types != ("boolean",):
            # Free values need examples so a small model sees the expected surface form.
            assert attr.examples, attr.name
        for example in attr.examples:
            assert validator.is_valid(example), (attr.name, example)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_id_is_name_and_sha256_of_canonical_json(name: str) -> None:
    schema = load_schema(name)
    canonical = json.dumps(schema.document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    order = json.dumps(list(schema.document["properties"]), ensure_ascii=False)
    expected = hashlib.sha256((canonical + "\n" + order).encode("utf-8")).hexdigest()[:12]
    assert re.fullmatch(rf"{name}@[0-9a-f]{{12}}", schema.id)
    assert schema.id == f"{name}@{expected}"


@pytest.mark.parametrize("name", SHIPPED)
def test_id_is_stable_across_reloads_and_reformatting(name: str, tmp_path: Path) -> None:
    first = load_schema(name)
    again = load_schema(name)
    assert again.id == first.id
    # Indentation is not part of the schema's meaning; attribute order is (prompt and record order).
    copy_path = tmp_path / f"{name}.schema.json"
    copy_path.write_text(json.dumps(first.document, indent=None), encoding="utf-8")
    assert load_schema(copy_path).id == first.id
    reordered = dict(first.document)
    reordered["properties"] = dict(reversed(list(first.document["properties"].items())))
    copy_path.write_text(json.dumps(reordered), encoding="utf-8")
    assert load_schema(copy_path).id != first.id


@pytest.mark.parametrize("name", SHIPPED)
def test_id_changes_when_a_description_changes(name: str, tmp_path: Path) -> None:
    original = load_schema(name)
    document = copy.deepcopy(original.document)
    first_attribute = original.attributes[0].name
    document["properties"][first_attribute]["description"] += " Prefer the longest form."
    path = tmp_path / f"{name}.schema.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    changed = load_schema(path)
    assert changed.name == name
    assert changed.id != original.id


def test_shipped_attribute_kinds() -> None:
    apparel = load_schema("apparel")
    assert apparel.attribute("Gender").enum == ("Men", "Women", "Unisex", "Boys", "Girls", "Baby")
    assert apparel.attribute("Pack Count").types == ("integer",)
    assert apparel.attribute("Brand").grounded
    connectivity = load_schema("electronics").attribute("Connectivity")
    assert connectivity.is_array and connectivity.item_types == ("string",)
    assert load_schema("home").attribute("Dishwasher Safe").types == ("boolean",)
    with pytest.raises(KeyError):
        apparel.attribute("Wattage")


# --- the checker: what it accepts ------------------------------------------------------------

def _base() -> dict[str, Any]:
    return {
        "$schema": DRAFT,
        "title": "t",
        "type": "object",
        "properties": {
            "Color": {"type": ["string", "null"], "description": "color as written", "examples": ["Navy Blu"]},
            "Size": {"enum": ["S", "M", "L", None]},
            "Count": {"type": ["integer", "null"], "minimum": 1},
            "Tags": {"type": ["array", "null"], "items": {"type": "string"}, "maxItems": 3},
        },
        "additionalProperties": False,
    }


def test_base_document_is_accepted() -> None:
    schema = check_schema(_base(), name="t")
    assert schema.names == ["Color", "Size", "Count", "Tags"]
    assert schema.attribute("Size").enum == ("S", "M", "L")
    assert schema.attribute("Size").types == ("string",)
    assert schema.attribute("Count").minimum == 1
    assert schema.attribute("Tags").max_items == 3


def test_schema_keyword_may_be_omitted_and_title_names_the_schema() -> None:
    document = _base()
    del document["$schema"]
    assert check_schema(document, name="fallback").name == "t"
    del document["title"]
    assert check_schema(document, name="fallback").name == "fallback"


def test_x_grounded_false_is_read() -> None:
    document = _base()
    document["properties"]["Color"]["x-grounded"] = False
    assert check_schema(document).attribute("Color").grounded is False
    assert check_schema(_base()).attribute("Color").grounded is True


# --- the checker: a table of rejected schemas -----------------------------------------------

def _set(path: list[str], value: Any) -> Callable[[dict[str, Any]], None]:
    def apply(document: dict[str, Any]) -> None:
        node = document
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return apply


def _delete(path: list[str]) -> Callable[[dict[str, Any]], None]:
    def apply(document: dict[str, Any]) -> None:
        node = document
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]
    return apply


# (edit to the valid base, JSON-pointer path the error must name, text the message must contain)
BAD: dict[str, tuple[Callable[[dict[str, Any]], None], str, str]] = {
    "pattern": (_set(["properties", "Color", "pattern"], "^[A-Z]"), "/properties/Color/pattern", "'pattern'"),
    "oneOf": (_set(["properties", "Color", "oneOf"], [{"type": "string"}]), "/properties/Color/oneOf", "'oneOf'"),
    "$ref": (_set(["properties", "Color", "$ref"], "#/$defs/color"), "/properties/Color/$ref", "'$ref'"),
    "format": (_set(["properties", "Color", "format"], "email"), "/properties/Color/format", "'format'"),
    "top-level $defs": (_set(["$defs"], {"color": {"type": "string"}}), "/$defs", "'$defs'"),
    "top-level allOf": (_set(["allOf"], [{"required": ["Color"]}]), "/allOf", "'allOf'"),
    "non-nullable type": (_set(["properties", "Color", "type"], "string"), "/properties/Color", "allow null"),
    "non-nullable enum": (_set(["properties", "Size", "enum"], ["S", "M"]), "/properties/Size", "allow null"),
    "only null": (_set(["properties", "Color", "type"], ["null"]), "/properties/Color", "besides null"),
    "no type nor enum": (_set(["properties", "Color"], {"description": "x"}), "/properties/Color", "'type' or 'enum'"),
    "object type": (_set(["properties", "Color", "type"], ["object", "null"]), "/properties/Color/type", "'object'"),
    "empty type list": (_set(["properties", "Color", "type"], []), "/properties/Color/type", "'type'"),
    "attribute not an object": (_set(["properties", "Color"], "string"), "/properties/Color", "object"),
    "no additionalProperties": (_delete(["additionalProperties"]), "/additionalProperties", "additionalProperties"),
    "additionalProperties true": (_set(["additionalProperties"], True), "/additionalProperties",
                                  "additionalProperties"),
    "draft-07": (_set(["$schema"], "http://json-schema.org/draft-07/schema#"), "/$schema", "2020-12"),
    "top type array": (_set(["type"], "array"), "/type", "object"),
    "no properties": (_delete(["properties"]), "/properties", "properties"),
    "empty properties": (_set(["properties"], {}), "/properties", "properties"),
    "required unknown": (_set(["required"], ["Colour"]), "/required", "required"),
    "top description": (_set(["description"], 42), "/description", "description"),
    "array without items": (_delete(["properties", "Tags", "items"]), "/properties/Tags/items", "'items'"),
    "array items nullable": (_set(["properties", "Tags", "items"], {"type": ["string", "null"]}),
                             "/properties/Tags/items", "null"),
    "array items pattern": (_set(["properties", "Tags", "items", "pattern"], "x"),
                            "/properties/Tags/items/pattern", "'pattern'"),
    "array of arrays": (_set(["properties", "Tags", "items"], {"type": "array"}),
                        "/properties/Tags/items/type", "'array'"),
    "array and scalar": (_set(["properties", "Tags", "type"], ["array", "string", "null"]),
                         "/properties/Tags/type", "array"),
    "items on a string": (_set(["properties", "Color", "items"], {"type": "string"}), "/properties/Color/items",
                          "'items'"),
    "enum duplicates": (_set(["properties", "Size", "enum"], ["S", "M", "S", None]), "/properties/Size/enum",
                        "twice"),
    "enum of objects": (_set(["properties", "Size", "enum"], [{"S": 1}, None]), "/properties/Size/enum",
                        "unsupported type"),
    "maxLength zero": (_set(["properties", "Color", "maxLength"], 0), "/properties/Color/maxLength", "'maxLength'"),
    "maxLength string": (_set(["properties", "Color", "maxLength"], "40"), "/properties/Color/maxLength",
                         "'maxLength'"),
    "maxLength bool": (_set(["properties", "Color", "maxLength"], True), "/properties/Color/maxLength",
                       "'maxLength'"),
    "maxItems negative": (_set(["properties", "Tags", "maxItems"], -1), "/properties/Tags/maxItems", "'maxItems'"),
    "minimum string": (_set(["properties", "Count", "minimum"], "1"), "/properties/Count/minimum", "'minimum'"),
    "maximum bool": (_set(["properties", "Count", "maximum"], False), "/properties/Count/maximum", "'maximum'"),
    "x-grounded string": (_set(["properties", "Color", "x-grounded"], "yes"), "/properties/Color/x-grounded",
                          "'x-grounded'"),
    "x-normalize list": (_set(["properties", "Color", "x-normalize"], ["lower"]), "/properties/Color/x-normalize",
                         "'x-normalize'"),
    "description number": (_set(["properties", "Color", "description"], 3), "/properties/Color/description",
                           "'description'"),
    "examples not a list": (_set(["properties", "Color", "examples"], "Navy"), "/properties/Color/examples",
                            "'examples'"),
}


@pytest.mark.parametrize("edit,path,fragment", BAD.values(), ids=list(BAD))
def test_bad_schema_is_rejected_naming_keyword_and_path(edit: Callable[[dict[str, Any]], None], path: str,
                                                        fragment: str) -> None:
    document = _base()
    edit(document)
    with pytest.raises(SchemaError) as info:
        check_schema(document, name="bad")
    assert info.value.path == path
    assert info.value.schema == "bad"
    message = str(info.value)
    assert f"at {path}" in message
    assert fragment in message


# Cases that once slipped through the checker (nullability and types of enums, bounds of items).
MORE_BAD: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    # "type" allows null but the enum does not: jsonschema then rejects every null value.
    "nullable type, enum without null": (_set(["properties", "Size"], {"type": ["string", "null"],
                                                                       "enum": ["S", "M"]}), "/properties/Size/enum"),
    # "enum" that is not a list crashes with TypeError instead of a SchemaError.
    "enum is a string": (_set(["properties", "Size", "enum"], "SML"), "/properties/Size/enum"),
    "enum is a number": (_set(["properties", "Size", "enum"], 3), "/properties/Size/enum"),
    # minLength and the item-level bounds are accepted but never checked.
    "minLength negative": (_set(["properties", "Color", "minLength"], -3), "/properties/Color/minLength"),
    "items maxLength string": (_set(["properties", "Tags", "items", "maxLength"], "x"),
                               "/properties/Tags/items/maxLength"),
    # enum values of another type than "type" names: no value but null can ever validate.
    "integer type, string enum": (_set(["properties", "Count"], {"type": ["integer", "null"], "enum": ["S", None]}),
                                  "/properties/Count/enum"),
}


@pytest.mark.parametrize("edit,path", MORE_BAD.values(), ids=list(MORE_BAD))
def test_more_bad_schemas_are_rejected(edit: Callable[[dict[str, Any]], None], path: str) -> None:
    document = _base()
    edit(document)
    with pytest.raises(SchemaError) as info:
        check_schema(document, name="bad")
    assert info.value.path == path


def test_non_object_document_is_rejected() -> None:
    with pytest.raises(SchemaError) as info:
        check_schema(["Color"], name="bad")
    assert info.value.path == "/"


def test_schema_error_is_an_extractor_error() -> None:
    # The CLI turns ExtractorError into a clean message; SchemaError must be one.
    assert issubclass(SchemaError, ExtractorError)


# --- load_schema -----------------------------------------------------------------------------

def test_load_by_name_and_by_path_agree() -> None:
    by_name = load_schema("electronics")
    path = shipped_schemas()["electronics"]
    assert load_schema(path).id == by_name.id
    assert load_schema(str(path)).id == by_name.id


def test_unknown_name_lists_the_shipped_names() -> None:
    with pytest.raises(SchemaError) as info:
        load_schema("furniture")
    message = str(info.value)
    assert "'furniture'" in message
    for name in SHIPPED:
        assert name in message


def test_missing_file_is_a_schema_error(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match="no such file"):
        load_schema(tmp_path / "nope.schema.json")


def test_invalid_json_is_a_schema_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.schema.json"
    path.write_text('{"type": "object",', encoding="utf-8")
    with pytest.raises(SchemaError, match="not valid JSON"):
        load_schema(path)


@pytest.mark.parametrize("filename,expected", [("toys.schema.json", "toys"), ("toys.json", "toys")])
def test_untitled_file_is_named_after_the_file(tmp_path: Path, filename: str, expected: str) -> None:
    document = _base()
    del document["title"]
    path = tmp_path / filename
    path.write_text(json.dumps(document), encoding="utf-8")
    schema = load_schema(path)
    assert schema.name == expected
    assert schema.id.startswith(f"{expected}@")
    assert schema.path == path


def test_checker_errors_from_a_file_name_the_file_stem(tmp_path: Path) -> None:
    document = _base()
    del document["title"]
    document["properties"]["Color"]["pattern"] = "x"
    path = tmp_path / "toys.schema.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(SchemaError) as info:
        load_schema(path)
    assert info.value.schema == "toys"
    assert info.value.path == "/properties/Color/pattern"


# --- schema_from_attributes ------------------------------------------------------------------

def test_schema_from_attributes_builds_nullable_strings() -> None:
    schema = schema_from_attributes("Shoes", {"Brand": {"description": "maker", "examples": ["Nike"]},
                                              "Heel Height": {}}, description="benchmark category")
    assert schema.names == ["Brand", "Heel Height"]
    assert schema.attribute("Brand").examples == ("Nike",)
    assert all(a.types == ("string",) and a.grounded for a in schema.attributes)
    assert schema.description == "benchmark category"
    jsonschema.Draft202012Validator.check_schema(schema.document)
    assert schema.id == schema_id("Shoes", schema.document)
    assert schema_from_attributes("Shoes", {"Brand": {}}).id != schema_from_attributes("Shoes", {"Color": {}}).id


# --- whatever the file holds: a Schema or a SchemaError ------------------------------------------

def _write_bytes(tmp_path: Path, data: bytes, filename: str = "odd.schema.json") -> Path:
    path = tmp_path / filename
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("text", [
    '{"a":' * 50_000 + "1" + "}" * 50_000,  # deeper than the JSON parser recurses
    "[" * 50_000 + "]" * 50_000,
])
def test_deeply_nested_file_is_a_schema_error_not_a_recursion_error(tmp_path: Path, text: str) -> None:
    with pytest.raises(SchemaError, match="nested too deeply"):
        load_schema(_write_bytes(tmp_path, text.encode()))


def test_nesting_the_parser_reads_but_no_schema_needs_is_refused_with_its_path(tmp_path: Path) -> None:
    document = _base()
    document["properties"]["Color"]["examples"] = [json.loads("[" * 200 + "]" * 200)]
    with pytest.raises(SchemaError) as info:
        load_schema(_write_bytes(tmp_path, json.dumps(document).encode()))
    assert "nested more than 32 levels" in str(info.value)
    assert info.value.path.startswith("/properties/Color/examples/0/0/")


@pytest.mark.parametrize("data,needle", [
    (b'{"title": "caf\xe9"}', "not UTF-8 text (byte 0xe9 at byte 15)"),
    (b"\xff\xd8\xff\xe0 a JPEG", "not UTF-8 text (byte 0xff at byte 1)"),
    (codecs.BOM_UTF16_LE + b"{\x00\x00\xdc", "not UTF-16 text"),  # a lone low surrogate
    (b"", "not valid JSON"),
    (b"\x00\x01\x02", "not valid JSON"),
    (b'{"type": "object",', "not valid JSON"),
    (b'{"type": "object"} trailing', "not valid JSON"),
    (b'{"type": "object", "properties": {"Count": {"type": ["number", "null"], "maximum": NaN}}}',
     "NaN is not a JSON number"),
    (b'{"type": "object", "maximum": Infinity}', "Infinity is not a JSON number"),
    (b'{"type": "object", "properties": {"Color": {"type": ["string", "null"]}, "Color": {"enum": ["x", null]}}}',
     "key 'Color' appears twice"),
    (b"[" + b"1" * 5000 + b"]", "not valid JSON"),  # more digits than Python turns into an int
])
def test_file_that_is_not_utf8_json_is_a_clear_schema_error(tmp_path: Path, data: bytes, needle: str) -> None:
    path = _write_bytes(tmp_path, data)
    with pytest.raises(SchemaError) as info:
        load_schema(path)
    assert needle in str(info.value)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("encoding,bom", [("utf-8", codecs.BOM_UTF8), ("utf-16-le", codecs.BOM_UTF16_LE),
                                          ("utf-16-be", codecs.BOM_UTF16_BE), ("utf-32-le", codecs.BOM_UTF32_LE)])
def test_a_byte_order_mark_names_the_encoding(tmp_path: Path, encoding: str, bom: bytes) -> None:
    # Windows PowerShell's `>` writes UTF-16 with a mark: `schemas show apparel > my.schema.json` there.
    apparel = load_schema("apparel")
    text = json.dumps(apparel.document, indent=2, ensure_ascii=False)
    assert load_schema(_write_bytes(tmp_path, bom + text.encode(encoding))).id == apparel.id


@pytest.mark.parametrize("where", ["title", "description", "key"])
def test_lone_surrogate_is_a_schema_error(tmp_path: Path, where: str) -> None:
    document = _base()
    if where == "key":
        document["properties"]["Col\udc80r"] = document["properties"].pop("Color")
    else:
        document[where] = "t\ud800"
    path = _write_bytes(tmp_path, json.dumps(document).encode())  # ensure_ascii: written as a \\ud800 escape
    with pytest.raises(SchemaError, match="lone surrogate"):
        load_schema(path)
    with pytest.raises(SchemaError, match="lone surrogate"):
        check_schema(document)


def test_not_finite_number_in_a_document_is_a_schema_error() -> None:
    document = _base()
    document["properties"]["Count"]["maximum"] = float("nan")
    with pytest.raises(SchemaError, match="not a JSON number") as info:
        check_schema(document)
    assert info.value.path == "/properties/Count/maximum"


# --- names are names, not paths ---------------------------------------------------------------

@pytest.mark.parametrize("name", [*SHIPPED, "t", "Shoes", "Baseball Caps", "Home & Kitchen", "Men's Shoes (EU)",
                                  "Color(s)", "schema.v2", "toys_2", "Größe", "家居", "a-b, c+d"])
def test_plain_names_pass(name: str) -> None:
    assert name_problem(name) is None


@pytest.mark.parametrize("name,needle", [
    ("../../x", "path separator '/'"), ("a/b", "path separator '/'"), ("a\\b", "path separator '\\'"),
    ("/etc/passwd", "path separator"), ("a\x00b", "NUL"), ("..", "'..'"), ("a..b", "'..'"),
    (".hidden", "must start with"), ("-rf", "must start with"), (" x", "must start with"),
    ("x.", "must not end"), ("x ", "must not end"), ("", "empty"), ("C:x", "':'"), ("a@b", "'@'"),
    ("a\nb", "'\\n'"), ("a*b", "'*'"), ("x" * 101, "longer than 100"),
])
def test_names_that_are_paths_or_odd_are_refused(name: str, needle: str) -> None:
    problem = name_problem(name)
    assert problem is not None and needle in problem


def test_a_title_that_is_a_path_is_refused_on_load(tmp_path: Path) -> None:
    # Demonstrations are read from <shots folder>/<name>.jsonl: "../../x" would reach outside it.
    document = _base()
    document["title"] = "../../x"
    path = _write_bytes(tmp_path, json.dumps(document).encode())
    with pytest.raises(SchemaError) as info:
        load_schema(path)
    message = str(info.value)
    assert "'../../x'" in message and "title" in message and "not a plain name" in message


def test_an_untitled_file_with_an_odd_name_is_refused_and_told_to_add_a_title(tmp_path: Path) -> None:
    document = _base()
    del document["title"]
    path = _write_bytes(tmp_path, json.dumps(document).encode(), filename="toys@2.schema.json")
    with pytest.raises(SchemaError, match="no \"title\"") as info:
        load_schema(path)
    assert "'@'" in str(info.value)
    document["title"] = "toys"
    path.write_text(json.dumps(document), encoding="utf-8")
    assert load_schema(path).name == "toys"


# --- a schema too large for the model's context ----------------------------------------------

def _wide_document(count: int) -> dict[str, Any]:
    properties = {f"Attribute {i}": {"type": ["string", "null"], "description": f"the product's attribute {i}"}
                  for i in range(count)}
    return {"$schema": DRAFT, "title": "wide", "type": "object", "properties": properties,
            "additionalProperties": False}


def test_a_schema_whose_prompt_cannot_fit_the_context_is_refused_when_the_extractor_is_built(tmp_path: Path) -> None:
    from extractor.backends.scripted import ScriptedBackend
    from extractor.config import ExtractConfig
    from extractor.errors import ConfigError
    from extractor.pipeline import Extractor

    path = _write_bytes(tmp_path, json.dumps(_wide_document(500)).encode(), filename="wide.schema.json")
    wide = load_schema(path)  # the schema itself is fine: a model with a larger context may run it
    backend = ScriptedBackend(lambda prompt: "{}", name="small", context_window=4096)
    with pytest.raises(ConfigError) as info:
        Extractor(backend, wide, ExtractConfig(decoding="free"))
    message = str(info.value)
    assert "'wide'" in message and "'small'" in message and "4096" in message
    assert "fewer attributes" in message and "larger context window" in message
    assert backend.prompts == []  # refused before any generation


def test_the_context_check_is_exact_and_names_max_new_tokens_when_set() -> None:
    from extractor.backends.scripted import ScriptedBackend
    from extractor.config import ExtractConfig
    from extractor.errors import ConfigError
    from extractor.pipeline import Extractor
    from extractor.prompts import render_messages

    wide = check_schema(_wide_document(40), name="wide")
    probe = ScriptedBackend(lambda prompt: "{}")
    budget = Extractor(probe, wide, ExtractConfig(decoding="free")).budget
    least = probe.count_tokens(probe.render_chat(render_messages(wide, "x")))
    # Just fits: builds, and a one-word product gets its record.
    fits = ScriptedBackend(lambda prompt: "{}", context_window=least + budget)
    [record] = Extractor(fits, wide, ExtractConfig(decoding="free")).extract(["x"])
    assert record.ok
    with pytest.raises(ConfigError, match=f"{least} tokens .* up to {budget} "):
        Extractor(ScriptedBackend(lambda prompt: "{}", context_window=least + budget - 1), wide,
                  ExtractConfig(decoding="free"))
    with pytest.raises(ConfigError, match="max_new_tokens"):
        Extractor(fits, wide, ExtractConfig(decoding="free", max_new_tokens=budget + 1))


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_schemas_fit_a_small_context(name: str) -> None:
    from extractor.backends.scripted import ScriptedBackend
    from extractor.config import ExtractConfig
    from extractor.pipeline import Extractor

    Extractor(ScriptedBackend(lambda prompt: "{}", context_window=2048), name, ExtractConfig(decoding="free"))
