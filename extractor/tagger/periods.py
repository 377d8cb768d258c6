"""A full stop right after a value: part of the value or not, as the training gold writes it.

Titles and sentences often end on a value ("..., Pack Of 3."), and abbreviations end on a stop
("16 oz."). Whether that stop belongs to the value is a benchmark's convention, and the training
texts teach it unevenly: OA-Mine's train gold leaves it out 31 times and keeps it 13 ("5 fl. oz."),
WDC-PAVE's 256 to 14. A tagger labels tokens, sees both, and ends some values on the stop
("1.69 fl.oz." where the gold says "1.69 fl.oz").

Training counts how the gold treats a *final stop*: a "." right after a letter or digit and not
followed by one, so the point of "4.5" or the inner points of "U.S.A" never count
(:func:`learn_final_period`). Extraction drops a final stop that ends a span when the gold left
it out more often than it kept it, at least :data:`MIN_SUPPORT` times (:func:`drop_final_period`).
The value stays the input's own characters."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .data import TaggedText

MIN_SUPPORT = 3
"""Gold values that must leave a final stop out before extraction drops one."""


def final_stop(text: str, at: int) -> bool:
    """Whether ``text[at]`` is a full stop that ends a word: after a letter or digit, before none."""
    return (0 < at < len(text) and text[at] == "." and text[at - 1].isalnum()
            and (at + 1 == len(text) or not text[at + 1].isalnum()))


def learn_final_period(tagged: Sequence[TaggedText]) -> dict[str, int]:
    """``{"kept": n, "dropped": m}``: located gold values that end on a final stop, and those that
    a final stop follows without being part of them."""
    kept = dropped = 0
    for text in tagged:
        for _, spans in text.candidates:
            for span in spans:
                start, end = span.value or (span.start, span.end)
                if end - start > 1 and final_stop(text.text, end - 1):
                    kept += 1
                elif final_stop(text.text, end):
                    dropped += 1
    return {"kept": kept, "dropped": dropped}


def drops(counts: dict[str, int]) -> bool:
    """Whether counts learned by :func:`learn_final_period` say a final stop is not part of a value."""
    dropped = counts.get("dropped", 0)
    return dropped >= MIN_SUPPORT and dropped > counts.get("kept", 0)


def drop_final_period(text: str, start: int, end: int) -> tuple[int, int]:
    """Span [start, end) without the final stop it ends on (unchanged when it ends on none, or is
    nothing but one)."""
    if end - start > 1 and final_stop(text, end - 1):
        return start, end - 1
    return start, end
