"""Character offsets as Label Studio counts them, and back.

Label Studio runs in a browser: a region's ``start`` and ``end`` are positions in a JavaScript
string, which counts UTF-16 code units. A character outside the Basic Multilingual Plane (an emoji,
"𝄞") is one Python character but two JavaScript units, so every offset after one differs by one
per such character. ASCII, accented letters and CJK text count the same in both."""

from __future__ import annotations

from bisect import bisect_left


def _astral_before(text: str) -> list[int]:
    """Python positions of the characters that take two UTF-16 units, in order."""
    return [i for i, c in enumerate(text) if ord(c) > 0xFFFF]


def to_utf16(text: str, index: int) -> int:
    """The UTF-16 position of Python position ``index`` of ``text`` (0 <= index <= len(text))."""
    if not 0 <= index <= len(text):
        raise ValueError(f"position {index} is outside a text of {len(text)} characters")
    return index + bisect_left(_astral_before(text), index)


def from_utf16(text: str, unit: int) -> int:
    """The Python position of UTF-16 position ``unit`` of ``text``; ValueError when ``unit`` lies
    outside the text or between the two halves of one character (no Python position is there)."""
    astral = _astral_before(text)
    if not 0 <= unit <= len(text) + len(astral):
        raise ValueError(f"UTF-16 position {unit} is outside a text of {len(text) + len(astral)} units")
    index = unit
    for k, position in enumerate(astral):  # each astral character before the position counts twice
        if position + k >= unit:
            break
        if position + k + 1 == unit:
            raise ValueError(f"UTF-16 position {unit} falls inside the character {text[position]!r}")
        index -= 1
    return index
