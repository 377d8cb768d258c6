"""Endings: a full stop or a possessive "'s" right after a value, part of the value or not, as the
training gold writes them.

Titles and sentences often end on a value ("..., Pack Of 3."), abbreviations end on a stop
("16 oz."), and ages and genders carry a possessive ("Kid's", "Women's"). Whether such an ending
belongs to the value is a benchmark's convention, and the training texts teach it unevenly:
OA-Mine's train gold mostly leaves a final stop out but sometimes keeps it ("5 fl. oz."), and
always keeps a possessive "'s" after a value; WDC-PAVE's mostly leaves both out (the counts:
docs/notes/2026-11-30-tagger-augmentation-and-endings.md, "Tagger: endings"). A tagger labels
tokens, and tokenizers cut both endings off their word, so it ends some values on a stop the gold
leaves out ("1.69 fl.oz." for "1.69 fl.oz") and some before a possessive the gold keeps ("Kid"
for "Kid's").

Training counts, per kind of ending (:data:`ENDINGS`), the located gold values that end on one
(``kept``) and those right before one (``dropped``) (:func:`learn_endings`). Extraction follows the
majority of at least :data:`MIN_SUPPORT` values (:func:`follow_endings`): it cuts the ending off a
span that ends on it, or takes it into a span that ends right before it. The value stays the
input's own characters.

The same is counted for a word joined to a value by a hyphen or a slash (:data:`JOINERS`), per
joiner and side (:data:`JOINED`): a tagger sometimes stops at the joiner ("Angelfish" of
"Angelfish-W", "STARLA" of "711-STARLA"), where OA-Mine's train gold mostly takes the joined word
in. :func:`follow_joined` follows those counts only when asked (``TaggerConfig.joined_words``): it
helps weaker taggers that stop at the joiner too early, but overrides stronger taggers that were
right to stop there ("3 Bars" of "3 Bars-7 Oz") and cuts into spec lists ("2-core" of
"3.40GHz/2-core/6MB/80W"), so it can cost more than it gains (docs/notes/2026-11-30-tagger-augmentation-and-endings.md,
"Tagger: joined words")."""

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


JOINERS = {"hyphen": "-", "slash": "/"}
"""Characters that join two words into one run ("Yellow-9", "12.5g/50mm"), by name."""
JOINED = {f"{name} word {side}": (joiner, side) for name, joiner in JOINERS.items() for side in ("after", "before")}
"""Kinds of joined word at a value's edge ("hyphen word after": "-W" after "Angelfish"), as
(joiner, side of the value)."""


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
                for kind, (joiner, side) in JOINED.items():
                    if _joined_inside(text.text, start, end, joiner, side) is not None:
                        counts.setdefault(kind, {"kept": 0, "dropped": 0})["kept"] += 1
                    elif _joined_outside(text.text, start, end, joiner, side) is not None:
                        counts.setdefault(kind, {"kept": 0, "dropped": 0})["dropped"] += 1
    return counts


def describe(kind: str, counts: dict[str, int]) -> str:
    """One line on a learned kind: "stop after values: the gold kept 13, left out 31 (extraction
    follows: dropped)"."""
    rule = majority(counts)
    return (f"{kind if kind in JOINED else kind + ' after'} values: the gold kept {counts['kept']}, "
            f"left out {counts['dropped']}" + (f" (extraction follows: {rule})" if rule else ""))


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


def _in_word(text: str, at: int) -> bool:
    """``text[at]`` is part of a joined word: a letter, a digit, or the point of a decimal ("12.5g")."""
    c = text[at]
    return c.isalnum() or (c in ".," and 0 < at < len(text) - 1 and text[at - 1].isdigit() and text[at + 1].isdigit())


def _joined_outside(text: str, start: int, end: int, joiner: str, side: str) -> int | None:
    """The far edge of the word ``joiner`` glues to the span on ``side`` ("-W" after "Angelfish":
    the end of "W"), or None when no word is glued there."""
    n = len(text)
    if side == "after":
        if not (0 < end < n - 1 and text[end] == joiner and text[end - 1].isalnum() and text[end + 1].isalnum()):
            return None
        end += 1
        while end < n and _in_word(text, end):
            end += 1
        return end
    if not (1 < start < n and text[start - 1] == joiner and text[start - 2].isalnum() and text[start].isalnum()):
        return None
    start -= 1
    while start > 0 and _in_word(text, start - 1):
        start -= 1
    return start


def _joined_inside(text: str, start: int, end: int, joiner: str, side: str) -> int | None:
    """Where the span would end (``side`` "after") or start ("before") without the word ``joiner``
    glues to its inside edge ("Tennis-M" → the end of "Tennis"), or None when it has none. A span
    that ends or starts inside a word (a value that is part of one) has none."""
    if side == "after":
        if end < len(text) and text[end].isalnum():
            return None
        at = end
        while at > start and _in_word(text, at - 1):
            at -= 1
        ok = start + 1 < at < end and text[at - 1] == joiner and text[at - 2].isalnum()
        return at - 1 if ok else None
    if start > 0 and text[start - 1].isalnum():
        return None
    at = start
    while at < end and _in_word(text, at):
        at += 1
    return at + 1 if start < at < end - 1 and text[at] == joiner and text[at + 1].isalnum() else None


def follow_joined(text: str, start: int, end: int, rules: dict[str, str]) -> tuple[int, int]:
    """Span [start, end) grown over the words glued to it where ``rules`` (kind → majority) say
    ``kept`` for their joiner and side ("Angelfish" → "Angelfish-W", "12.5g/50mm" whole), or with
    the word glued to its edge cut off where they say ``dropped`` ("Multi-Color" → "Multi")."""
    grown = True
    while grown:
        grown = False
        for kind, (joiner, side) in JOINED.items():
            if rules.get(kind) == "kept" and (edge := _joined_outside(text, start, end, joiner, side)) is not None:
                start, end = (start, edge) if side == "after" else (edge, end)
                grown = True
    for kind, (joiner, side) in JOINED.items():
        if rules.get(kind) == "dropped" and (edge := _joined_inside(text, start, end, joiner, side)) is not None:
            start, end = (start, edge) if side == "after" else (edge, end)
    return start, end
