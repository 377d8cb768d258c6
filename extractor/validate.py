"""Schema validation of a parsed record, light coercions, and the re-ask message on failure."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from .schemas import Attribute, Schema, canonical_json

# Ways a model says "not stated". Benchmarks write "n/a"; our format asks for null.
ABSENT_MARKERS = frozenset({"", "n/a", "na", "none", "null", "unknown", "not specified", "not stated", "-"})
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


@dataclass
class Validation:
    """The record as the schema allows it, and what was wrong or changed on the way."""

    attributes: dict[str, Any]
    """Every schema attribute in order (value or None)."""
    errors: list[str] = field(default_factory=list)
    """Validator messages; empty when the record is valid."""
    dropped: list[str] = field(default_factory=list)
    """Keys the model wrote that the schema does not have."""
    coerced: list[str] = field(default_factory=list)
    """Attributes whose value was coerced (e.g. "12" -> 12 for an integer attribute)."""
    invalid: list[str] = field(default_factory=list)
    """Attributes the validator found fault with (item errors count for their attribute)."""

    @property
    def ok(self) -> bool:
        return not self.errors


def _coerce(attr: Attribute, value: Any) -> Any:
    if isinstance(value, str) and value.strip().lower() in ABSENT_MARKERS:
        return None
    if value is None:
        return None
    if attr.is_array:
        if not isinstance(value, list):
            value = [value]
        items = [v for v in value if not (isinstance(v, str) and v.strip().lower() in ABSENT_MARKERS) and v is not None]
        return items or None
    if isinstance(value, str) and ("number" in attr.types or "integer" in attr.types):
        text = value.strip().replace(",", "")
        if _NUMBER.match(text):
            number = float(text)
            return int(number) if "integer" in attr.types and number.is_integer() else number
    if isinstance(value, float) and "integer" in attr.types and value.is_integer():
        return int(value)
    if isinstance(value, str) and "boolean" in attr.types and value.strip().lower() in ("true", "false", "yes", "no"):
        return value.strip().lower() in ("true", "yes")
    if isinstance(value, (int, float)) and not isinstance(value, bool) and attr.types == ("string",) and attr.enum is None:
        return json.dumps(value)
    return value


@lru_cache(maxsize=64)
def _validator(document_json: str) -> Any:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(json.loads(document_json))


def check_record(obj: dict[str, Any], schema: Schema) -> Validation:
    """Drop unknown keys, fill missing attributes with null, coerce, then validate with jsonschema."""
    dropped = [k for k in obj if k not in schema.names]
    attributes: dict[str, Any] = {}
    coerced = []
    for attr in schema.attributes:
        raw = obj.get(attr.name)
        value = _coerce(attr, raw)
        if value != raw or type(value) is not type(raw):
            coerced.append(attr.name)
        attributes[attr.name] = value
    validator = _validator(canonical_json(schema.document))
    errors, invalid = [], []
    for err in sorted(validator.iter_errors(attributes), key=lambda e: [str(p) for p in e.path]):
        where = "/".join(str(p) for p in err.path)
        errors.append(f"{where}: {err.message}" if where else err.message)
        if err.path and err.path[0] not in invalid:
            invalid.append(str(err.path[0]))
    return Validation(attributes, errors, dropped, [c for c in coerced if obj.get(c) is not None], invalid)


_WRITTEN_NUMBER = re.compile(r"(?<!\d)((?<![\w.])-)?(\d{1,3}(?:,\d{3})+(?!\d)|\d+)(\.\d+)?")
MAX_WRITTEN_DIGITS = 12
"""Longer digit runs (barcodes, part numbers) are not numbers an attribute takes."""


def written_numbers(text: str) -> list[int | float]:
    """The numbers ``text`` writes in digits, for grounding number attributes: "3 pack" and
    "3-pack" give 3, "1,000" gives 1000 (commas before groups of three digits separate
    thousands; any other comma separates numbers: "8,10" gives 8 and 10), "2.5" gives 2.5 and
    "2.0" gives 2, "-5" gives -5 and 5 (a minus only right after a space or the start, so "10-12"
    is 10 and 12). Number words ("three") are not numbers here. Sorted, without repeats."""
    found: set[int | float] = set()
    for match in _WRITTEN_NUMBER.finditer(text):
        whole, fraction = match.group(2).replace(",", ""), match.group(3) or ""
        if len(whole) + len(fraction) - (1 if fraction else 0) > MAX_WRITTEN_DIGITS:
            continue
        value: int | float = float(whole + fraction) if fraction else int(whole)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        found.add(value)
        if match.group(1):
            found.add(-value)
    return sorted(found)


def grounded_attribute(attr: Attribute) -> bool:
    """Whether ``attr``'s values must be found in the text: grounded strings (spans) and numbers
    (written in digits), not enums or booleans, nor ``x-grounded: false`` attributes."""
    if not attr.grounded:
        return False
    if attr.is_array:
        return attr.item_enum is None and any(t in attr.item_types for t in ("string", "number", "integer"))
    return attr.enum is None and any(t in attr.types for t in ("string", "number", "integer"))


def not_in_text(attributes: dict[str, Any], schema: Schema, text: str) -> list[str]:
    """Names of the grounded attributes (``grounded_attribute``) whose value does not occur in
    ``text``: a string not contained in it (case ignored), a number not among its
    ``written_numbers``; a list when any of its items does not. Free decoding, which nothing
    keeps from inventing values, warns with these; constrained decoding cannot produce them."""
    folded = text.casefold()
    numbers: list[int | float] | None = None
    missing = []
    for attr in schema.attributes:
        value = attributes.get(attr.name)
        if value is None or not grounded_attribute(attr):
            continue
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, bool):
                continue
            if isinstance(item, str):
                found = item.casefold() in folded
            elif isinstance(item, (int, float)):
                numbers = written_numbers(text) if numbers is None else numbers
                found = item in numbers
            else:
                continue
            if not found:
                missing.append(attr.name)
                break
    return missing


def reask_messages(messages: list[dict[str, str]], raw: str, problems: list[str]) -> list[dict[str, str]]:
    """The conversation so far plus the invalid reply and a request to correct it."""
    listing = "\n".join(f"- {p}" for p in problems[:8])
    return messages + [
        {"role": "assistant", "content": raw.strip()},
        {"role": "user", "content": f"That answer is not valid:\n{listing}\n"
                                    "Reply with the corrected JSON object only."},
    ]
