"""Endings: a full stop or a possessive "'s" right after a value, part of the value or not, as the
training gold writes them.

Titles and sentences often end on a value ("..., Pack Of 3."), abbreviations end on a stop
("16 oz."), and ages and genders carry a possessive ("Kid's", "Women's"). Whether such an ending
belongs to the value is a benchmark's convention, and the training texts teach it unevenly:
OA-Mine's train gold leaves a final stop out 31 times and keeps it 13 ("5 fl. oz."), WDC-PAVE's
256 to 14; OA-Mine's keeps a possessive "'s" after a value 126 times and never leaves it out,
WDC-PAVE's leaves it out 23 times to 5. A tagger labels tokens, and tokenizers cut both endings off their word, so it
ends some values on a stop the gold leaves out ("1.69 fl.oz." for "1.69 fl.oz") and some before a
possessive the gold keeps ("Kid" for "Kid's").

Training counts, per kind of ending (:data:`ENDINGS`), the located gold values that end on one
(``kept``) and those right before one (``dropped``) (:func:`learn_endings`). Extraction follows the
majority of at least :data:`MIN_SUPPORT` values (:func:`follow_endings`): it cuts the ending off a
span that ends on it, or takes it into a span that ends right before it. The value stays the
input's own characters."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .data import TaggedText

MIN_SUPPORT = 3
"""Gold values of the majority before extraction follows it."""
ENDINGS = {
    # a stop after a letter or digit and before none: never the point of "4.5" or inside "U.S.A"
    "stop": re.compile(r"(?<=[^\W_])\.(?![^\W_])"),
    # "'s" or "’s" closing a word: never the start of "'sup" or "'s-Hertogenbosch"
    "possessive": re.compile(r"(?<=[^\W_])['\u2019][sS](?![\w-])"),
}
"""Kinds of ending, by name (the name is what a manifest stores), as a pattern matched at the
position the ending starts."""


def ending_at(text: str, at: int) -> str | None:
    """The kind of ending that starts at ``text[at]`` and ends the word there, or None."""
    for kind, pattern in ENDINGS.items():
        if pattern.match(text, at):
            return kind
    return None


def _ends_on(text: str, start: int, end: int) -> tuple[str, int] | None:
    """(kind, length) of the ending that [start, end) ends on, leaving a value before it."""
    for kind, pattern in ENDINGS.items():
        for length in (1, 2):
            at = end - length
            if at > start and (found := pattern.match(text, at)) and found.end() == end:
                return kind, length
    return None


def learn_endings(tagged: Sequence[TaggedText]) -> dict[str, dict[str, int]]:
    """Kind → ``{"kept": n, "dropped": m}``: located gold values that end on such an ending, and
    values that one follows without being part of them (kinds never seen are left out)."""
    counts: dict[str, dict[str, int]] = {}
    for text in tagged:
        for _, spans in text.candidates:
            for span in spans:
                start, end = span.value or (span.start, span.end)
                if on := _ends_on(text.text, start, end):
                    counts.setdefault(on[0], {"kept": 0, "dropped": 0})["kept"] += 1
                elif kind := ending_at(text.text, end):
                    counts.setdefault(kind, {"kept": 0, "dropped": 0})["dropped"] += 1
    return counts


def majority(counts: dict[str, int]) -> str | None:
    """``"kept"`` or ``"dropped"`` when at least :data:`MIN_SUPPORT` values make a strict majority."""
    kept, dropped = counts.get("kept", 0), counts.get("dropped", 0)
    if kept != dropped and max(kept, dropped) >= MIN_SUPPORT:
        return "kept" if kept > dropped else "dropped"
    return None


def follow_endings(text: str, start: int, end: int, rules: dict[str, str]) -> tuple[int, int]:
    """Span [start, end) with its ending cut off where ``rules`` (kind → majority) say ``dropped``,
    or the ending right after it taken in where they say ``kept``."""
    if (on := _ends_on(text, start, end)) and rules.get(on[0]) == "dropped":
        return start, end - on[1]
    kind = ending_at(text, end)
    if kind is not None and rules.get(kind) == "kept":
        return start, ENDINGS[kind].match(text, end).end()  # type: ignore[union-attr]
    return start, end
