"""Final stops: a "." that ends a value, kept or dropped as the training gold writes them."""

from __future__ import annotations

import pytest

from extractor.tagger import LabelSet
from extractor.tagger.data import Span, TaggedText
from extractor.tagger.periods import MIN_SUPPORT, drop_final_period, drops, final_stop, learn_final_period


@pytest.mark.parametrize("text, at, stop", [
    ("Granola, 11 oz.", 14, True),            # ends the title
    ("16.2 Oz. Pack Of 3", 7, True),          # an abbreviation mid-title
    ("Vitamin C 4.5 mg", 11, False),          # a decimal point
    ("Made in U.S.A now", 8, False),          # inner points of an abbreviation
    ("Made in U.S.A. now", 13, True),         # its last point
    ("Rocket ... 12", 8, False),              # after a space, not a word
    ("Sale.", 0, False),                      # at the start: nothing before it
    ("Sale", 4, False),                       # past the end
])
def test_final_stop(text: str, at: int, stop: bool) -> None:
    assert final_stop(text, at) is stop


@pytest.mark.parametrize("text, span, value", [
    ("Suncream SPF 50+, 1.69 fl.oz.", "1.69 fl.oz.", "1.69 fl.oz"),
    ("Laundry Detergent, 640 fl. oz.", "640 fl. oz.", "640 fl. oz"),
    ("Vitamin C 4.5 mg", "4.5", "4.5"),       # no stop at its end
    ("Made in the U.S.A", "U.S.A", "U.S.A"),
    ("Size M.", "M.", "M"),
    ("a . b", ".", "."),                      # nothing but a stop (and not a final one)
])
def test_drop_final_period(text: str, span: str, value: str) -> None:
    start = text.index(span)
    s, e = drop_final_period(text, start, start + len(span))
    assert text[s:e] == value


LABELS = LabelSet([("Cereal", "Net content"), ("Cereal", "Pack size")])


def _text(text: str, **values: str) -> TaggedText:
    candidates = []
    for attribute, value in values.items():
        start = text.index(value)
        candidates.append((attribute, [Span(start, start + len(value), LABELS.key("Cereal", attribute.replace("_", " ")))]))
    return TaggedText(id="x", text=text, schema="Cereal", candidates=candidates)


def test_learning_counts_stops_kept_in_values_and_left_after_them() -> None:
    tagged = [_text("Granola, 11 oz.", Net_content="11 oz"),                       # left out
              _text("Flakes 14.25 Oz. Pack Of 3.", Net_content="14.25 Oz", Pack_size="Pack Of 3"),
              _text("Honey Cereal - 10.6 oz.", Net_content="10.6 oz."),            # kept
              _text("Vitamin 4.5 mg tablets", Net_content="4.5 mg"),               # no stop at all
              _text("Oats 3.5 lb", Net_content="3.5")]                             # a decimal point is no stop
    assert learn_final_period(tagged) == {"kept": 1, "dropped": 3}


def test_a_value_found_inside_a_word_counts_by_its_own_characters() -> None:
    text = "Box of 12ct."
    tagged = [TaggedText(id="x", text=text, schema="Cereal",
                         candidates=[("Pack size", [Span(7, 11, LABELS.key("Cereal", "Pack size"), (7, 9))])])]
    assert learn_final_period(tagged) == {"kept": 0, "dropped": 0}  # "12" is followed by "c", not a stop


@pytest.mark.parametrize("counts, dropped", [
    ({"kept": 13, "dropped": 31}, True),     # OA-Mine train
    ({"kept": 14, "dropped": 195}, True),    # WDC-PAVE train
    ({"kept": 3, "dropped": 3}, False),      # a tie keeps the model's spans
    ({"kept": 0, "dropped": MIN_SUPPORT - 1}, False),  # too few to go by
    ({}, False),                             # a tagger trained before final stops were counted
])
def test_drops_needs_support_and_a_majority(counts: dict[str, int], dropped: bool) -> None:
    assert drops(counts) is dropped
