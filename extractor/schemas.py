"""Attribute schemas: load, check the supported JSON Schema subset, and give each a stable id.

An attribute schema is a JSON Schema (draft 2020-12) object with one property per attribute.
The checker accepts exactly what the pipeline honours and names the offending keyword and path
for anything else, so a schema never silently means less than its author thinks."""

from __future__ import annotations

import hashlib
import json
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
              "minimum", "maximum", "maxItems", "x-grounded", "x-normalize"}
_ITEM_KEYS = {"type", "enum", "maxLength", "minLength", "minimum", "maximum"}


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
    grounded = spec.get("x-grounded", True)
    if not isinstance(grounded, bool):
        raise SchemaError("'x-grounded' must be true or false", schema=name, path=f"{path}/x-grounded")
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
        grounded=grounded, normalize=normalize,
    )


def check_schema(document: Any, name: str = "schema", path: Path | None = None) -> Schema:
    """Check ``document`` against the supported subset and return the Schema it describes."""
    if not isinstance(document, dict):
        raise SchemaError("a schema must be a JSON object", schema=name, path="/")
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
    """Load a shipped schema by name (``apparel``) or any schema file by path, and check it."""
    path = Path(name_or_path)
    shipped = shipped_schemas()
    if str(name_or_path) in shipped:
        path = shipped[str(name_or_path)]
    elif not path.is_file():
        raise SchemaError(f"no shipped schema named {str(name_or_path)!r} and no such file "
                          f"(shipped: {', '.join(shipped) or 'none'})")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise SchemaError(f"cannot read {path}: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise SchemaError(f"{path} is not valid JSON: {exc}") from exc
    stem = path.name[: -len(".schema.json")] if path.name.endswith(".schema.json") else path.stem
    return check_schema(document, name=stem, path=path)


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
