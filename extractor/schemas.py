"""Attribute schemas: load, check the supported JSON Schema subset, and give each a stable id.

An attribute schema is a JSON Schema (draft 2020-12) object with one property per attribute.
The checker accepts exactly what the pipeline honours and names the offending keyword and path
for anything else, so a schema never silently means less than its author thinks."""

from __future__ import annotations

import codecs
import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import SchemaError
from .resources import schemas_dir

DRAFT = "https://json-schema.org/draft/2020-12/schema"
SCALAR_TYPES = ("string", "number", "integer", "boolean")
_TOP_KEYS = {"$schema", "$id", "title", "description", "type", "properties", "additionalProperties",
             "required", "x-category"}
_ATTR_KEYS = {"type", "enum", "description", "examples", "items", "maxLength", "minLength",
              "minimum", "maximum", "maxItems", "x-grounded", "x-shared-span", "x-normalize"}
_ITEM_KEYS = {"type", "enum", "maxLength", "minLength", "minimum", "maximum"}

MAX_DEPTH = 32
"""Most levels of objects and arrays a schema document may nest. The supported subset needs about
six (``/properties/<attribute>/x-normalize/<key>/...``); a bound keeps a hostile or broken file from
ending in a RecursionError instead of a SchemaError."""
MAX_NAME_LENGTH = 100
NAME_PUNCTUATION = " .,&+'()-"
"""Characters a schema name may hold besides letters, digits and ``_``: enough for category names
("Home & Kitchen", "Men's Shoes (EU)"), and none that a file system or an id reads specially
(``/ \\ : * ? " < > |``, NUL, ``@`` which separates name and digest in a schema id)."""
_NAME = re.compile(rf"\w[\w{re.escape(NAME_PUNCTUATION)}]*")
_SURROGATE = re.compile("[\ud800-\udfff]")
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
"""Byte order marks, longest first (a UTF-32 LE mark starts with the UTF-16 LE one)."""


@dataclass(frozen=True)
class Attribute:
    """One attribute of a schema, as the pipeline uses it."""

    name: str
    types: tuple[str, ...]
    """JSON types allowed besides null: any of string, number, integer, boolean, array."""
    description: str = ""
    examples: tuple[Any, ...] = ()
    enum: tuple[Any, ...] | None = None
    """Allowed values (null excluded) when the attribute is a closed set."""
    item_types: tuple[str, ...] = ()
    """For arrays: the allowed item types."""
    item_enum: tuple[Any, ...] | None = None
    item_max_length: int | None = None
    max_length: int | None = None
    minimum: float | None = None
    maximum: float | None = None
    max_items: int | None = None
    grounded: bool = True
    """Free-text string values must be spans of the input text (constrained decoding)."""
    shared_span: bool = False
    """``x-shared-span``: the value may be a span another attribute of the record took, at no penalty."""
    normalize: dict[str, Any] | None = None
    """The attribute's ``x-normalize`` block, checked by the normalizer."""

    @property
    def is_array(self) -> bool:
        return "array" in self.types


@dataclass(frozen=True)
class Schema:
    """A checked attribute schema."""

    name: str
    id: str
    """``<name>@<12 hex digits of sha256 over the canonical JSON>``: changes whenever the schema does."""
    attributes: tuple[Attribute, ...]
    document: dict[str, Any] = field(repr=False, compare=False)
    description: str = ""
    path: Path | None = field(default=None, compare=False)

    @property
    def names(self) -> list[str]:
        return [a.name for a in self.attributes]

    def attribute(self, name: str) -> Attribute:
        for a in self.attributes:
            if a.name == name:
                return a
        raise KeyError(name)


def canonical_json(document: dict[str, Any]) -> str:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def schema_id(name: str, document: dict[str, Any]) -> str:
    """``<name>@<12 hex digits>``: sha256 over the canonical JSON plus the attribute order (which
    canonical JSON sorts away, yet it is the order of the prompt and the record)."""
    order = json.dumps(list(document.get("properties") or {}), ensure_ascii=False)
    digest = hashlib.sha256((canonical_json(document) + "\n" + order).encode("utf-8")).hexdigest()[:12]
    return f"{name}@{digest}"


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a schema, or None when it can.

    A schema's name becomes a file name (demonstrations are ``<shots folder>/<name>.jsonl``) and
    the part of its id before ``@``, so it must be a name and never a path: it starts with a
    letter, digit or ``_``, holds only those and NAME_PUNCTUATION, has no ``..``, does not end in
    ``.`` or a space (Windows drops those from file names), and has at most MAX_NAME_LENGTH
    characters. The shipped schema names and benchmark categories ("Baseball Caps", "Home And
    Garden") pass. Checked where a schema is loaded from a file (``load_schema``); schemas built
    in memory (``schema_from_attributes``) keep their names, and the shots lookup
    (``demos.shots_file``) checks again."""
    if not name:
        return "it is empty"
    if len(name) > MAX_NAME_LENGTH:
        return f"it is longer than {MAX_NAME_LENGTH} characters"
    for bad, what in (("/", "a path separator '/'"), ("\\", "a path separator '\\'"), ("\x00", "a NUL character"),
                      ("..", "'..'")):
        if bad in name:
            return f"it holds {what}"
    if not _NAME.match(name[0]):
        return "it must start with a letter, a digit or '_'"
    if not _NAME.fullmatch(name):
        bad_char = next(ch for ch in name[1:] if not _NAME.fullmatch("a" + ch))
        return f"it holds {bad_char!r}"
    if name[-1] in ". ":
        return "it must not end in '.' or a space"
    return None


def _name_error(name: str, from_title: bool, path: Path) -> SchemaError | None:
    """The SchemaError ``load_schema`` raises for a name that ``name_problem`` refuses, or None."""
    problem = name_problem(name)
    if problem is None:
        return None
    shown = name if len(name) <= 60 else name[:60] + "..."
    where = "its \"title\"" if from_title else "from its file name, as it has no \"title\""
    return SchemaError(f"{path}: schema name {shown!r} ({where}) is not a plain name: {problem}. A schema "
                       "name is a name, not a path: letters, digits, '_', spaces and . , & + ' ( ) -, "
                       "starting with a letter, digit or '_'")


def _json_type(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return type(value).__name__


def _matches(value: Any, types: list[str]) -> bool:
    t = _json_type(value)
    return t in types or (t == "integer" and "number" in types)


def _check_values(spec: dict[str, Any], path: str, name: str,
                  allowed: tuple[str, ...]) -> tuple[list[str], bool, tuple[Any, ...] | None]:
    """(non-null types, nullable, enum without null) of a property or item spec."""
    enum = None
    enum_nullable = False
    if "enum" in spec:
        values = spec["enum"]
        if not isinstance(values, list) or not [v for v in values if v is not None]:
            raise SchemaError("'enum' must be a list with at least one non-null value", schema=name, path=f"{path}/enum")
        if len({json.dumps(v, sort_keys=True) for v in values}) != len(values):
            raise SchemaError("'enum' lists a value twice", schema=name, path=f"{path}/enum")
        for v in values:
            if v is not None and _json_type(v) not in allowed:
                raise SchemaError(f"enum value {v!r} has unsupported type {_json_type(v)}", schema=name,
                                  path=f"{path}/enum")
        enum = tuple(v for v in values if v is not None)
        enum_nullable = None in values
    if "type" not in spec:
        if enum is None:
            raise SchemaError("needs 'type' or 'enum'", schema=name, path=path)
        inferred: list[str] = []
        for v in enum:
            if _json_type(v) not in inferred:
                inferred.append(_json_type(v))  # type: ignore[arg-type]
        return inferred, enum_nullable, enum
    raw = spec["type"]
    types = [raw] if isinstance(raw, str) else raw
    if not isinstance(types, list) or not types or not all(isinstance(t, str) for t in types):
        raise SchemaError("'type' must be a type name or a non-empty list of them", schema=name, path=f"{path}/type")
    if len(set(types)) != len(types):
        raise SchemaError("'type' lists a type twice", schema=name, path=f"{path}/type")
    for t in types:
        if t not in allowed + ("null",):
            raise SchemaError(f"type {t!r} is not supported (use {', '.join(allowed)} or null)",
                              schema=name, path=f"{path}/type")
    nonnull, nullable = [t for t in types if t != "null"], "null" in types
    if enum is not None:
        if nullable != enum_nullable:
            raise SchemaError("'type' and 'enum' disagree about null (list null in both or in neither)",
                              schema=name, path=f"{path}/enum")
        for v in enum:
            if not _matches(v, nonnull):
                raise SchemaError(f"enum value {v!r} is not of type {'/'.join(nonnull)}", schema=name,
                                  path=f"{path}/enum")
    return nonnull, nullable, enum


def _check_bounds(spec: dict[str, Any], path: str, name: str) -> dict[str, Any]:
    """minLength/maxLength (non-negative integers) and minimum/maximum (numbers), consistent."""
    out: dict[str, Any] = {}
    for key in ("minLength", "maxLength", "maxItems"):
        if key in spec:
            value = spec[key]
            low = 1 if key in ("maxLength", "maxItems") else 0
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise SchemaError(f"{key!r} must be an integer >= {low}", schema=name, path=f"{path}/{key}")
            out[key] = value
    for key in ("minimum", "maximum"):
        if key in spec:
            value = spec[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise SchemaError(f"{key!r} must be a number", schema=name, path=f"{path}/{key}")
            out[key] = value
    if out.get("minLength", 0) > out.get("maxLength", float("inf")):
        raise SchemaError("'minLength' is larger than 'maxLength'", schema=name, path=f"{path}/minLength")
    if out.get("minimum", float("-inf")) > out.get("maximum", float("inf")):
        raise SchemaError("'minimum' is larger than 'maximum'", schema=name, path=f"{path}/minimum")
    return out


def _check_attribute(attr: str, spec: Any, name: str) -> Attribute:
    path = f"/properties/{attr}"
    if not isinstance(spec, dict):
        raise SchemaError("an attribute must be an object", schema=name, path=path)
    for key in spec:
        if key not in _ATTR_KEYS:
            raise SchemaError(f"keyword {key!r} is not supported for attributes "
                              f"(supported: {', '.join(sorted(_ATTR_KEYS))})", schema=name, path=f"{path}/{key}")
    types, nullable, enum = _check_values(spec, path, name, SCALAR_TYPES + ("array",))
    if not nullable:
        raise SchemaError("every attribute must allow null (add \"null\" to its type or enum), "
                          "because a product may not mention it", schema=name, path=path)
    if not types:
        raise SchemaError("an attribute needs a type besides null", schema=name, path=path)
    description = spec.get("description", "")
    if not isinstance(description, str):
        raise SchemaError("'description' must be a string", schema=name, path=f"{path}/description")
    examples = spec.get("examples", [])
    if not isinstance(examples, list):
        raise SchemaError("'examples' must be a list", schema=name, path=f"{path}/examples")
    bounds = _check_bounds(spec, path, name)
    item_types: list[str] = []
    item_enum = None
    item_max_length = None
    if "array" in types:
        if len(types) > 1:
            raise SchemaError("an array attribute cannot also be a scalar", schema=name, path=f"{path}/type")
        items = spec.get("items")
        if not isinstance(items, dict):
            raise SchemaError("an array attribute needs an 'items' object", schema=name, path=f"{path}/items")
        for key in items:
            if key not in _ITEM_KEYS:
                raise SchemaError(f"keyword {key!r} is not supported for items", schema=name, path=f"{path}/items/{key}")
        item_types, item_nullable, item_enum = _check_values(items, f"{path}/items", name, SCALAR_TYPES)
        if item_nullable:
            raise SchemaError("array items cannot be null", schema=name, path=f"{path}/items")
        item_max_length = _check_bounds(items, f"{path}/items", name).get("maxLength")
    elif "items" in spec:
        raise SchemaError("'items' only applies to array attributes", schema=name, path=f"{path}/items")
    flags = {key: spec.get(key, default) for key, default in (("x-grounded", True), ("x-shared-span", False))}
    for key, flag in flags.items():
        if not isinstance(flag, bool):
            raise SchemaError(f"'{key}' must be true or false", schema=name, path=f"{path}/{key}")
    normalize = spec.get("x-normalize")
    if normalize is not None:
        if not isinstance(normalize, dict):
            raise SchemaError("'x-normalize' must be an object", schema=name, path=f"{path}/x-normalize")
        from .normalize.spec import SpecError, parse_spec

        try:
            parse_spec(normalize, attr)
        except SpecError as exc:
            raise SchemaError(exc.reason, schema=name,
                              path=f"{path}/x-normalize" + (f"/{exc.key}" if exc.key else "")) from exc
    return Attribute(
        name=attr, types=tuple(types), description=description, examples=tuple(examples), enum=enum,
        item_types=tuple(item_types), item_enum=item_enum, item_max_length=item_max_length,
        max_length=bounds.get("maxLength"),
        minimum=bounds.get("minimum"), maximum=bounds.get("maximum"), max_items=bounds.get("maxItems"),
        grounded=flags["x-grounded"], shared_span=flags["x-shared-span"], normalize=normalize,
    )


def _check_tree(document: dict[str, Any], name: str) -> None:
    """Refuse what would otherwise fail far from the schema, with a traceback: nesting deeper than
    MAX_DEPTH (recursive code downstream), a lone surrogate in a string or key (the ``"\\ud800"``
    escape is valid JSON, but no UTF encoding can write it, so the id's hash would fail), and a
    float that is not finite (NaN is not JSON). Walks without recursion."""
    stack: list[tuple[Any, str, int]] = [(document, "", 1)]
    while stack:
        value, where, depth = stack.pop()
        if isinstance(value, str):
            match = _SURROGATE.search(value)
            if match:
                raise SchemaError(f"a string holds a lone surrogate (\\u{ord(match.group()):04x}), which is not text",
                                  schema=name, path=where or "/")
            continue
        if isinstance(value, float) and not math.isfinite(value):
            raise SchemaError(f"{value!r} is not a JSON number", schema=name, path=where or "/")
        if not isinstance(value, (dict, list)):
            continue
        if depth > MAX_DEPTH:
            raise SchemaError(f"nested more than {MAX_DEPTH} levels deep (a schema needs about six)",
                              schema=name, path=where)
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            key = str(key)
            if _SURROGATE.search(key):
                raise SchemaError("a key holds a lone surrogate, which is not text", schema=name, path=where or "/")
            stack.append((item, f"{where}/{key}", depth + 1))


def check_schema(document: Any, name: str = "schema", path: Path | None = None) -> Schema:
    """Check ``document`` against the supported subset and return the Schema it describes."""
    if not isinstance(document, dict):
        raise SchemaError("a schema must be a JSON object", schema=name, path="/")
    _check_tree(document, name)
    for key in document:
        if key not in _TOP_KEYS:
            raise SchemaError(f"keyword {key!r} is not supported at the top level "
                              f"(supported: {', '.join(sorted(_TOP_KEYS))})", schema=name, path=f"/{key}")
    if document.get("$schema", DRAFT) != DRAFT:
        raise SchemaError(f"only JSON Schema draft 2020-12 is supported ($schema must be {DRAFT!r})",
                          schema=name, path="/$schema")
    if document.get("type") != "object":
        raise SchemaError("the top level must have \"type\": \"object\"", schema=name, path="/type")
    if document.get("additionalProperties") is not False:
        raise SchemaError("the top level must have \"additionalProperties\": false", schema=name,
                          path="/additionalProperties")
    properties = document.get("properties")
    if not isinstance(properties, dict) or not properties:
        raise SchemaError("'properties' must be an object with at least one attribute", schema=name, path="/properties")
    for key in ("title", "$id"):
        if key in document and not isinstance(document[key], str):
            raise SchemaError(f"{key!r} must be a string", schema=name, path=f"/{key}")
    required = document.get("required", [])
    if not isinstance(required, list) or any(not isinstance(r, str) or r not in properties for r in required):
        raise SchemaError("'required' must list attributes that exist in 'properties'", schema=name, path="/required")
    attributes = tuple(_check_attribute(attr, spec, name) for attr, spec in properties.items())
    description = document.get("description", "")
    if not isinstance(description, str):
        raise SchemaError("'description' must be a string", schema=name, path="/description")
    schema_name = document.get("title") or name
    return Schema(name=schema_name, id=schema_id(schema_name, document), attributes=attributes,
                  document=document, description=description, path=path)


def shipped_schemas() -> dict[str, Path]:
    """Names and paths of the schemas that ship with extractor."""
    folder = schemas_dir()
    return {p.name[: -len(".schema.json")]: p for p in sorted(folder.glob("*.schema.json"))}


def load_schema(name_or_path: str | Path) -> Schema:
    """Load a shipped schema by name (``apparel``) or any schema file by path, and check it.

    Whatever the file holds, the answer is a Schema or a SchemaError saying what is wrong: bytes
    that are not UTF-8 text, text that is not JSON, nesting too deep, a key given twice, or a name
    (its ``title``, else its file name) that is not a plain name (see ``name_problem``)."""
    path = Path(name_or_path)
    shipped = shipped_schemas()
    if str(name_or_path) in shipped:
        path = shipped[str(name_or_path)]
    elif not path.is_file():
        raise SchemaError(f"no shipped schema named {str(name_or_path)!r} and no such file "
                          f"(shipped: {', '.join(shipped) or 'none'})")
    document = _parse(_read_text(path), path)
    stem = path.name[: -len(".schema.json")] if path.name.endswith(".schema.json") else path.stem
    schema = check_schema(document, name=stem, path=path)
    error = _name_error(schema.name, bool(document.get("title")), path)
    if error is not None:
        raise error
    return schema


def _read_text(path: Path) -> str:
    """The text of a schema file: UTF-8, or the UTF-8/16/32 its byte order mark names (Windows
    PowerShell's ``>`` writes UTF-16, so ``schemas show NAME > file`` still reads back)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SchemaError(f"cannot read {path}: {exc.strerror or exc}") from exc
    encoding = next((name for bom, name in _BOMS if raw.startswith(bom)), "utf-8")
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        label = {"utf-8-sig": "UTF-8"}.get(encoding, encoding.upper())
        raise SchemaError(f"{path} is not {label} text (byte 0x{raw[exc.start:exc.start + 1].hex()} at byte "
                          f"{exc.start + 1}); save it as UTF-8") from exc


class _NotJson(ValueError):
    """Raised from json.loads's hooks for what the parser accepts but JSON is not."""


def _parse(text: str, path: Path) -> Any:
    """The JSON value of ``text``. Refused as SchemaError besides bad JSON: a key twice in one
    object (json.loads keeps the last, so an attribute would vanish without a word), NaN and
    Infinity (not JSON), and nesting too deep for the parser (a RecursionError otherwise)."""

    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in pairs:
            if key in out:
                raise _NotJson(f"key {key!r} appears twice in one object (only one of them would be kept)")
            out[key] = value
        return out

    def constant(word: str) -> Any:
        raise _NotJson(f"{word} is not a JSON number")

    try:
        return json.loads(text, object_pairs_hook=unique, parse_constant=constant)
    except RecursionError:
        raise SchemaError(f"{path} is nested too deeply to be a schema (a schema needs about six levels, "
                          f"at most {MAX_DEPTH})") from None
    except _NotJson as exc:
        raise SchemaError(f"{path}: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise SchemaError(f"{path} is not valid JSON: {exc}") from exc
    except ValueError as exc:  # e.g. an integer with more digits than Python converts
        raise SchemaError(f"{path} is not valid JSON: {exc}") from exc


def schema_from_attributes(name: str, attributes: dict[str, dict[str, Any]], description: str = "") -> Schema:
    """Build a schema of nullable string attributes (benchmark adapters derive schemas this way).

    ``attributes`` maps attribute name to optional ``description``, ``examples`` and ``grounded``
    (False: values need not be spans of the text, e.g. canonical values)."""
    properties = {}
    for attr, info in attributes.items():
        spec: dict[str, Any] = {"type": ["string", "null"]}
        if info.get("description"):
            spec["description"] = info["description"]
        if info.get("examples"):
            spec["examples"] = list(info["examples"])
        if info.get("grounded") is False:
            spec["x-grounded"] = False
        properties[attr] = spec
    document = {"$schema": DRAFT, "title": name, "type": "object", "properties": properties,
                "additionalProperties": False}
    if description:
        document["description"] = description
    return check_schema(document, name=name)
