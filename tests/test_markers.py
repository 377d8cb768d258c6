"""Markers: a letter right after a value names its attribute ('36"H' -> Height)."""

from __future__ import annotations

import pytest

from extractor.tagger import LabelSet
from extractor.tagger.data import Span, TaggedText
from extractor.tagger.engine import Found
from extractor.tagger.markers import learn_markers, marker_after, relocate


@pytest.mark.parametrize("text, end, letter", [
    ('31-1/2"L x 16-1/4"W', 7, "l"),      # after the inch sign
    ('31-1/2"L x 16-1/4"W', 6, "l"),      # the sign not in the value
    ("19-1/4w x 3-1/2d", 6, "w"),         # glued
    ("72 W, Gas", 2, "w"),                # one space
    ("18 x 29", 2, "x"),
    ("24 White", 2, None),                # a word, not a letter
    ("Sink w/ faucet", 4, None),          # "w/" is "with"
    ("24  H", 2, None),                   # two spaces: too far
    ("24", 2, None),
])
def test_marker_after(text: str, end: int, letter: str | None) -> None:
    assert marker_after(text, end) == letter


LABELS = LabelSet([("Carts", "Width"), ("Carts", "Height"), ("Carts", "Depth")])


def _text(text: str, **values: str) -> TaggedText:
    candidates = []
    for attribute, value in values.items():
        start = text.index(value)
        candidates.append((attribute, [Span(start, start + len(value), LABELS.key("Carts", attribute))]))
    return TaggedText(id="x", text=text, schema="Carts", candidates=candidates)


def test_a_letter_is_kept_with_support_and_a_clear_majority() -> None:
    tagged = [_text('Cart 24"W x 36"H', Width='24"', Height='36"'),
              _text('Cart 18"W x 30"H', Width='18"', Height='30"'),
              _text('Cart 20"W x 40"H', Width='20"', Height='40"'),
              _text('Cart 12"D x 22"W', Depth='12"', Width='22"'),
              _text('Cart 10"D x 9"W', Depth='10"', Height='9"')]  # one "W" after a height: 4 of 5 is 0.8
    assert learn_markers(tagged, LABELS) == {"Carts": {"h": "Height", "w": "Width"}}  # "d": two values only
    assert learn_markers(tagged[:2], LABELS) == {}  # two values are no rule


def test_a_letter_shared_by_attributes_is_no_marker() -> None:
    tagged = [_text(f"Cart {a} x {b} x 5", Width=a, Height=b) for a, b in (("1", "2"), ("3", "4"), ("6", "7"))]
    assert learn_markers(tagged, LABELS) == {}  # "x" follows widths and heights alike


def test_relocate_moves_a_span_to_the_attribute_its_marker_names() -> None:
    text = 'Cart, 23-3/8"W x 33-1/2"D x 36-1/2"H'
    w, d, h = (Found(v, text.index(v), text.index(v) + len(v), s)
               for v, s in (('23-3/8"', 0.6), ('33-1/2"', 0.9), ('36-1/2"', 0.8)))
    # the model's answers are shifted by one: Width 33-1/2", Depth 36-1/2"
    found = {"Width": [d, w], "Depth": [h], "Height": []}
    markers = {"w": "Width", "d": "Depth", "h": "Height"}
    assert relocate(text, found, markers) == {"Width": [w], "Depth": [d], "Height": [h]}
    assert relocate(text, found, {}) == found
    # a marked span goes ahead of the attribute's own unmarked ones
    other = Found("Cart", 0, 4, 0.99)
    assert relocate(text, {"Width": [other], "Depth": [w], "Height": []}, markers)["Width"] == [w, other]
