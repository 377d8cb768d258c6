"""Markers: a letter written right after a value that names its attribute, learned at training.

Catalog texts label dimensions by a letter glued to the number: '31-1/2"L x 16-1/4"W x 36"H',
"19-1/4w x 3-1/2d x 1h". The tagger finds the three numbers but, with several alike side by
side, often gives one the wrong dimension. Training counts, per schema, which attribute's gold
values each such letter follows (case-insensitive; a one-letter word, so "White" and "w/" are not
markers), and keeps a letter that followed at least :data:`MIN_SUPPORT` values, at least
:data:`MIN_SHARE` of them of one attribute. Extraction then moves a span the model found to the
attribute its marker names; it never makes up a span."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .data import TaggedText
    from .model import LabelSet

MIN_SUPPORT = 3
"""Gold values a letter must follow before it is kept as a marker."""
MIN_SHARE = 0.8
"""Share of those values that must be of one attribute."""
_MARKER = re.compile(r"[\"']?\s?([A-Za-z])(?![A-Za-z/])")


def marker_after(text: str, end: int) -> str | None:
    """The (lowercased) letter that marks the value ending at ``end``: right after it, or after an
    inch/foot sign or one space; None when no such letter follows."""
    found = _MARKER.match(text, end)
    return found.group(1).lower() if found else None


def learn_markers(tagged: Sequence[TaggedText], labels: LabelSet) -> dict[str, dict[str, str]]:
    """Schema → {marker letter: attribute}, for the schemas that have any."""
    seen: dict[str, dict[str, Counter[str]]] = {}
    for text in tagged:
        for _, spans in text.candidates:
            for span in spans:
                letter = marker_after(text.text, span.value[1] if span.value else span.end)
                if letter is not None:
                    attribute = labels.keys[span.key][1]
                    seen.setdefault(text.schema, {}).setdefault(letter, Counter())[attribute] += 1
    table: dict[str, dict[str, str]] = {}
    for schema, letters in sorted(seen.items()):
        for letter, attributes in sorted(letters.items()):
            attribute, n = attributes.most_common(1)[0]
            if n >= MIN_SUPPORT and n >= MIN_SHARE * sum(attributes.values()):
                table.setdefault(schema, {})[letter] = attribute
    return table


def relocate(text: str, found: dict[str, list[Any]], markers: dict[str, str]) -> dict[str, list[Any]]:
    """``found`` (attribute → spans, best first; spans with ``end`` and ``score``) with each span
    whose marker names another attribute moved there, ahead of that attribute's own spans."""
    if not markers:
        return found
    kept: dict[str, list[Any]] = {a: [] for a in found}
    marked: dict[str, list[Any]] = {a: [] for a in found}
    for attribute, spans in found.items():
        for span in spans:
            target = markers.get(marker_after(text, span.end) or "")
            if target in found and target != attribute:
                marked[target].append(span)
            else:
                kept[attribute].append(span)
    return {a: sorted(marked[a], key=lambda s: -s.score) + kept[a] for a in found}

