"""Tolerant extraction of one JSON object from free model output.

Small models wrap JSON in code fences or prose, use Python literals, leave trailing commas,
or get cut off by the token limit. Each repair is named in the result, so a record can say
what was fixed rather than hide it."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)(?:```|$)", re.DOTALL)
_TRAILING_COMMA = re.compile(r",\s*([}\]])")
_PY_LITERALS = re.compile(r'("(?:[^"\\]|\\.)*")|\b(None|True|False)\b')


@dataclass
class Parsed:
    """The outcome of parsing: an object, or None with the reason."""

    value: dict[str, Any] | None
    error: str | None = None
    repairs: list[str] = field(default_factory=list)


def object_end(text: str, start: int) -> int | None:
    """Index just past the object that opens at ``start``, or None when it never closes."""
    depth = 0
    in_string = escaped = False
    for i in range(start, len(text)):
        ch = text[i]
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
            if depth == 0:
                return i + 1
    return None


def _python_literals(text: str) -> str:
    table = {"None": "null", "True": "true", "False": "false"}
    return _PY_LITERALS.sub(lambda m: m.group(1) or table[m.group(2)], text)


def _close_truncated(fragment: str) -> str | None:
    """Keep the complete ``"key": value`` pairs of a cut-off object and close it."""
    cut = len(fragment)
    while cut > 0:
        cut = fragment.rfind(",", 0, cut)
        if cut <= 0:
            return None
        candidate = fragment[:cut] + "}"
        try:
            json.loads(candidate)
            return candidate
        except json.JSONDecodeError:
            continue
    return None


def _loads(candidate: str) -> tuple[Any, list[str]] | None:
    """json.loads, then again after each repair in turn (each kept only when it changed something)."""
    repairs = [("trailing comma removed", lambda s: _TRAILING_COMMA.sub(r"\1", s)),
               ("Python literals converted", _python_literals)]
    text, applied = candidate, []
    for name, repair in [(None, None)] + repairs:
        if repair is not None:
            fixed = repair(text)
            if fixed == text:
                continue
            text = fixed
            applied.append(name)
        try:
            return json.loads(text), applied
        except json.JSONDecodeError:
            continue
    return None


def parse_json_object(output: str) -> Parsed:
    """Find and parse the first JSON object in ``output``."""
    text = output.strip()
    repairs: list[str] = []
    fence = _FENCE.search(text)
    if fence and "{" in fence.group(1):
        text = fence.group(1).strip()
        repairs.append("code fence removed")
    start = text.find("{")
    if start < 0:
        return Parsed(None, "no JSON object in the output", repairs)
    if start > 0 and text[:start].strip():
        repairs.append("text before the object ignored")
    end = object_end(text, start)
    if end is None:
        closed = _close_truncated(_python_literals(_TRAILING_COMMA.sub(r"\1", text[start:])))
        if closed is None:
            return Parsed(None, "the JSON object is cut off and no complete attribute could be kept", repairs)
        value = json.loads(closed)
        return Parsed(value, None, repairs + ["cut-off object closed after its last complete attribute"])
    if text[end:].strip():
        repairs.append("text after the object ignored")
    loaded = _loads(text[start:end])
    if loaded is None:
        return Parsed(None, f"not valid JSON: {text[start:end][:200]}", repairs)
    value, applied = loaded
    if not isinstance(value, dict):
        return Parsed(None, "the output is not a JSON object", repairs)
    return Parsed(value, None, repairs + applied)
