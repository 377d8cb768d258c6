"""Endings: a full stop or a possessive "'s" after a value, kept or cut as the training gold writes them."""

from __future__ import annotations

import pytest

from extractor.tagger import LabelSet
from extractor.tagger.data import Span, TaggedText
from extractor.tagger.endings import (JOINED, MIN_SUPPORT, describe, ending_at, follow_endings, follow_joined, learn_endings,
                                       majority)


@pytest.mark.parametrize("text, at, kind", [
    ("Granola, 11 oz.", 14, "stop"),                # ends the title
    ("16.2 Oz. Pack Of 3", 7, "stop"),              # an abbreviation mid-title
    ("Vitamin C 4.5 mg", 11, None),                 # a decimal point
    ("Made in U.S.A now", 8, None),                 # inner points of an abbreviation
    ("Made in U.S.A. now", 13, "stop"),             # its last point
    ("Rocket ... 12", 8, None),                     # after a space, not a word
    ("Sale.", 0, None),                             # nothing before it
    ("Sale", 4, None),                              # past the end
    ("Oral-B Kid's Toothbrush", 10, "possessive"),
    ("Oral-B Kid’s Toothbrush", 10, "possessive"),  # a typographic apostrophe
    ("Men's", 3, "possessive"),                     # at the end of the text
    ("the 'sup brand", 4, None),                    # after a space
    ("Kid'sDream", 3, None),                        # not the end of a word
    ("Rock 'n' roll", 7, None),
])
def test_ending_at(text: str, at: int, kind: str | None) -> None:
    assert ending_at(text, at) == kind


DROP = {"stop": "dropped", "possessive": "dropped"}
KEEP = {"stop": "kept", "possessive": "kept"}


@pytest.mark.parametrize("text, span, rules, value", [
    ("Suncream SPF 50+, 1.69 fl.oz.", "1.69 fl.oz.", DROP, "1.69 fl.oz"),
    ("Laundry Detergent, 640 fl. oz.", "640 fl. oz.", DROP, "640 fl. oz"),
    ("Laundry Detergent, 640 fl. oz.", "640 fl. oz", KEEP, "640 fl. oz."),
    ("Laundry Detergent, 640 fl. oz.", "640 fl. oz", DROP, "640 fl. oz"),   # nothing to cut
    ("Vitamin C 4.5 mg", "4.5", DROP, "4.5"),
    ("Vitamin C 4.5 mg", "4", KEEP, "4"),                                    # a decimal point is no stop
    ("Size M.", "M.", DROP, "M"),
    ("a . b", ".", DROP, "."),                                               # nothing but a stop
    ("Oral-B Kid's Toothbrush", "Kid", KEEP, "Kid's"),
    ("Oral-B Kid’s Toothbrush", "Kid", KEEP, "Kid’s"),
    ("Oral-B Kid's Toothbrush", "Kid's", DROP, "Kid"),
    ("Oral-B Kid's Toothbrush", "Kid's", {"stop": "dropped"}, "Kid's"),     # no rule for possessives
    ("Oral-B Kid's Toothbrush", "Kid", {}, "Kid"),
])
def test_follow_endings(text: str, span: str, rules: dict[str, str], value: str) -> None:
    start = text.index(span)
    s, e = follow_endings(text, start, start + len(span), rules)
    assert text[s:e] == value


LABELS = LabelSet([("Cereal", "Net content"), ("Cereal", "Pack size"), ("Cereal", "Age")])


def _text(text: str, **values: str) -> TaggedText:
    candidates = []
    for name, value in values.items():
        attribute = name.replace("_", " ")
        start = text.index(value)
        candidates.append((attribute, [Span(start, start + len(value), LABELS.key("Cereal", attribute))]))
    return TaggedText(id="x", text=text, schema="Cereal", candidates=candidates)


def test_learning_counts_endings_kept_in_values_and_left_after_them() -> None:
    tagged = [_text("Granola, 11 oz.", Net_content="11 oz"),                       # a stop left out
              _text("Flakes 14.25 Oz. Pack Of 3.", Net_content="14.25 Oz", Pack_size="Pack Of 3"),
              _text("Honey Cereal - 10.6 oz.", Net_content="10.6 oz."),            # a stop kept
              _text("Kid's Oats 3.5 lb", Age="Kid's", Net_content="3.5"),          # a possessive kept
              _text("Vitamin 4.5 mg tablets", Net_content="4.5 mg")]               # no ending at all
    assert learn_endings(tagged) == {"stop": {"kept": 1, "dropped": 3}, "possessive": {"kept": 1, "dropped": 0}}


def test_a_value_found_inside_a_word_counts_by_its_own_characters() -> None:
    text = "Box of 12ct."
    tagged = [TaggedText(id="x", text=text, schema="Cereal",
                         candidates=[("Pack size", [Span(7, 11, LABELS.key("Cereal", "Pack size"), (7, 9))])])]
    assert learn_endings(tagged) == {}  # "12" is followed by "c", not an ending


@pytest.mark.parametrize("counts, rule", [
    ({"kept": 13, "dropped": 31}, "dropped"),     # OA-Mine train, stops
    ({"kept": 122, "dropped": 0}, "kept"),        # OA-Mine train, possessives
    ({"kept": 3, "dropped": 3}, None),            # a tie: the model's spans
    ({"kept": 0, "dropped": MIN_SUPPORT - 1}, None),  # too few to go by
    ({}, None),
])
def test_majority_needs_support(counts: dict[str, int], rule: str | None) -> None:
    assert majority(counts) == rule


KEEP_JOINED = {kind: "kept" for kind in JOINED}
DROP_JOINED = {kind: "dropped" for kind in JOINED}


@pytest.mark.parametrize("text, span, rules, value", [
    ("Sperry Women's Angelfish-W, Black, 8 M US", "Angelfish", KEEP_JOINED, "Angelfish-W"),
    ("Sandal Stars 711-STARLA Yellow-9", "STARLA", KEEP_JOINED, "711-STARLA"),
    ("Sandal Stars 711-STARLA Yellow-9", "Yellow", KEEP_JOINED, "Yellow-9"),          # at the end of the text
    ("VIB Lures 5.5cm/7.5g Fishing", "7.5g", KEEP_JOINED, "5.5cm/7.5g"),             # a decimal point inside
    ("Unisex Multi-Color/Black Snow", "Multi", KEEP_JOINED, "Multi-Color/Black"),    # joined twice
    ("Unisex Multi-Color/Black Snow", "Multi", {"hyphen word after": "kept"}, "Multi-Color"),
    ("Unisex Multi-Color Snow", "Multi-Color", DROP_JOINED, "Multi"),
    ("Unisex Multi-Color Snow", "Multi-Color", {"hyphen word before": "dropped"}, "Color"),
    ("Unisex Multi-Color Snow", "Multi", {}, "Multi"),                               # nothing learned
    ("Unisex Multi-Color Snow", "Multi", DROP_JOINED, "Multi"),                      # already stops there
    ("Masks - Adult Size", "Masks", KEEP_JOINED, "Masks"),                           # a dash between spaces
    ("Size M-", "M", KEEP_JOINED, "M"),                                              # nothing glued after it
    ("Mens-9 shorts", "Men", KEEP_JOINED, "Men"),                                    # a value inside a word
])
def test_follow_joined(text: str, span: str, rules: dict[str, str], value: str) -> None:
    start = text.index(span)
    s, e = follow_joined(text, start, start + len(span), rules)
    assert text[s:e] == value


def test_learning_counts_joined_words_kept_in_values_and_left_beside_them() -> None:
    tagged = [_text("Yan Tennis-M, Cream", Age="Tennis"),              # the gold stops at the hyphen
              _text("Stars 711-STARLA Yellow-9", Age="711-STARLA", Net_content="Yellow-9"),
              _text("Lure 12.5g/50mm", Net_content="12.5g")]           # and at a slash
    # a value that is one joined run ("711-STARLA") has a joined word at either edge
    assert learn_endings(tagged) == {"hyphen word after": {"kept": 2, "dropped": 1},
                                     "hyphen word before": {"kept": 2, "dropped": 0},
                                     "slash word after": {"kept": 0, "dropped": 1}}


def test_describe_names_the_rule_extraction_follows() -> None:
    assert describe("stop", {"kept": 13, "dropped": 31}) == \
        "stop after values: the gold kept 13, left out 31 (extraction follows: dropped)"
    assert describe("hyphen word before", {"kept": 1, "dropped": 1}) == \
        "hyphen word before values: the gold kept 1, left out 1"
