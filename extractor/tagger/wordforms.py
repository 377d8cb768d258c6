"""Values that are part of a word: learned at training, cut back at extraction.

Some benchmarks annotate a value as part of a word. AE-110K's gold says ``Men`` where the title
says "Mens", ``Print`` for "Printed", ``Jersey`` for "Jerseys" (a common pattern there; counts:
docs/notes/2026-11-29-tagger-training.md); WDC-PAVE's scraped descriptions glue words
together ("012345678905INNER" holds a UPC, "24w" a width). The tagger labels and decodes whole
words, so it could only ever answer "Mens". Training therefore labels such a value's whole
word(s), and learns per attribute:

- **words**: a tagged word whose gold value was most often a part of it (never on a tie) maps to
  that part ("Mens" → "Men");
- **affixes**: a (prefix, suffix) around the value, such as ("", "INNER"), kept when it cut at
  least :data:`MIN_SUPPORT` training values right and more values right than wrong, so it also
  applies to words never seen in training;
- **tails**: the same test for a kind of suffix rather than a string (:data:`TAILS`): scraped
  descriptions glue the next heading or number to a value ("Rack ServerAMD", "Hard Drive40"),
  with tails never seen in training.

Extraction cuts a span by its exact word first, else by the best-supported affix that fits, else
by a tail; the result is still the input's own characters."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .labels import LabelSet, TaggedText

MIN_SUPPORT = 2
"""Training values an affix must cut right before it is kept."""
TAILS = {
    "capitalized": re.compile(r"(?<=[a-z0-9])[A-Z][A-Za-z]*$"),  # "ServerAMD", "19COLOR", "DrivePart"
    "digits": re.compile(r"(?<=[A-Za-z])[0-9]+$"),  # "Drive40", "Server1"
}
"""Kinds of glued suffix, by name (the name is what a manifest stores)."""


def widen(text: str, start: int, end: int) -> tuple[int, int]:
    """[start, end) grown to whole words: never starting or ending between two alphanumerics."""
    while start > 0 and text[start - 1].isalnum() and text[start].isalnum():
        start -= 1
    while end < len(text) and text[end - 1].isalnum() and text[end].isalnum():
        end += 1
    return start, end


def _strip(words: str, prefix: str, suffix: str) -> str | None:
    """``words`` without the affix, or None when the affix does not fit (or would leave nothing)."""
    if len(words) > len(prefix) + len(suffix) and words.startswith(prefix) and words.endswith(suffix):
        return words[len(prefix):len(words) - len(suffix)]
    return None


def _tail(words: str, kind: str) -> str | None:
    """``words`` without a glued suffix of this kind, or None when it has none, or when it is glued
    to a single character ("G7", "X5": codes, not glued words)."""
    found = TAILS[kind].search(words)
    if not found or len(re.split(r"\W", words[:found.start()])[-1]) < 2:
        return None
    return words[:found.start()]


def _kept(cuts: list[tuple[str | None, str]]) -> tuple[int, int] | None:
    """(right, wrong) of a cut over an attribute's training values, when it earns its place."""
    right = sum(c == form for c, form in cuts if c is not None)
    wrong = sum(c != form for c, form in cuts if c is not None)
    return (right, wrong) if right >= MIN_SUPPORT and right > wrong else None


def learn_word_forms(tagged: Sequence[TaggedText], labels: LabelSet) -> dict[str, dict[str, Any]]:
    """``"schema/attribute"`` → ``{"words": {word(s): part}, "affixes": [[prefix, suffix], ...],
    "tails": [kind, ...]}`` (best-supported affix and tail first), for the attributes that have any."""
    seen: dict[int, list[tuple[str, str, int]]] = {}
    for text in tagged:
        for _, spans in text.candidates:
            for span in spans:
                words = text.text[span.start:span.end]
                form, at = (text.text[span.value[0]:span.value[1]], span.value[0] - span.start) if span.value \
                    else (words, 0)
                seen.setdefault(span.key, []).append((words, form, at))
    table: dict[str, dict[str, Any]] = {}
    for key, values in seen.items():
        by_words: dict[str, Counter[str]] = {}
        for words, form, _ in values:
            by_words.setdefault(words, Counter())[form] += 1
        parts = {}
        for words, forms in sorted(by_words.items()):
            form, n = max(forms.items(), key=lambda item: (item[1], item[0] == words))
            if form != words and n > forms[words]:
                parts[words] = form
        candidates = {(words[:at], words[at + len(form):]) for words, form, at in values if form != words}
        affixes = []
        for prefix, suffix in candidates:
            if score := _kept([(_strip(words, prefix, suffix), form) for words, form, _ in values]):
                affixes.append((-score[0], score[1], prefix, suffix))
        tails = []
        for kind in TAILS:
            if score := _kept([(_tail(words, kind), form) for words, form, _ in values]):
                tails.append((-score[0], score[1], kind))
        if parts or affixes or tails:
            schema, attribute = labels.keys[key]
            table[f"{schema}/{attribute}"] = {"words": parts, "affixes": [[p, s] for *_, p, s in sorted(affixes)],
                                              "tails": [kind for *_, kind in sorted(tails)]}
    return table


def cut(text: str, start: int, end: int, forms: dict[str, Any]) -> tuple[int, int]:
    """The characters of span [start, end) that its word forms name (the span itself when none
    applies)."""
    words = text[start:end]
    part = forms.get("words", {}).get(words)
    if part is not None:
        at = words.find(part)
        return (start + at, start + at + len(part)) if at >= 0 else (start, end)
    for prefix, suffix in forms.get("affixes", []):
        if _strip(words, prefix, suffix) is not None:
            return start + len(prefix), end - len(suffix)
    for kind in forms.get("tails", []):
        if kind in TAILS and (kept := _tail(words, kind)):
            return start, start + len(kept)
    return start, end
