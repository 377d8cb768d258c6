"""Word forms: values annotated as part of a word ("Men" in "Mens"), learned and cut back."""

from __future__ import annotations

import pytest

from extractor.tagger import LabelSet
from extractor.tagger.data import Span, TaggedText
from extractor.tagger.wordforms import cut, learn_word_forms, widen


@pytest.mark.parametrize("text, start, end, widened", [
    ("Mens Shorts", 0, 3, (0, 4)),            # "Men" -> "Mens"
    ("Cherry Printed Swimsuit", 7, 12, (7, 14)),  # "Print" -> "Printed"
    ("Basketball Jerseys", 11, 17, (11, 18)),
    ("Soft lure 4.5cm", 10, 13, (10, 15)),    # "4.5" -> "4.5cm": "." is no letter, "5c" joins
    ("Mens Shorts", 0, 4, (0, 4)),            # already whole
    ("SN-3400 goggles", 3, 7, (3, 7)),        # "-" ends a word
    ("ab", 1, 2, (0, 2)),
])
def test_widen_grows_to_whole_words(text: str, start: int, end: int, widened: tuple[int, int]) -> None:
    assert widen(text, start, end) == widened


LABELS = LabelSet([("Shorts", "Gender"), ("Shorts", "Pattern")])


def _text(text: str, *spans: tuple[str, str, str]) -> TaggedText:
    """``spans``: (attribute, whole words, gold value inside them) located in ``text``."""
    candidates = []
    for attribute, words, value in spans:
        start = text.index(words)
        inner = start + words.index(value)
        span = Span(start, start + len(words), LABELS.key("Shorts", attribute),
                    None if value == words else (inner, inner + len(value)))
        candidates.append((attribute, [span]))
    return TaggedText(id="x", text=text, schema="Shorts", candidates=candidates)


def test_the_most_frequent_form_of_a_word_wins_and_a_tie_keeps_the_word() -> None:
    tagged = [
        _text("Mens Shorts", ("Gender", "Mens", "Men")),
        _text("Mens Gym Shorts", ("Gender", "Mens", "Men")),
        _text("Mens Run Shorts", ("Gender", "Mens", "Mens")),
        _text("Printed Shorts", ("Pattern", "Printed", "Print")),
        _text("Printed Yoga Shorts", ("Pattern", "Printed", "Printed")),
        _text("Dots Shorts", ("Pattern", "Dots", "Dots")),
    ]
    forms = learn_word_forms(tagged, LABELS)
    assert forms["Shorts/Gender"]["words"] == {"Mens": "Men"} and "Shorts/Pattern" not in forms
    # the suffix "s" cut "Mens" right twice but "Mens" (whole) wrong once: 2 > 1, kept
    assert forms["Shorts/Gender"]["affixes"] == [["", "s"]]


def test_an_affix_needs_support_and_more_right_cuts_than_wrong() -> None:
    glued = [_text(f"UPC {upc}INNER", ("Gender", f"{upc}INNER", upc)) for upc in ("0123", "4567", "8901")]
    plural = [_text("Dots Shorts", ("Pattern", "Dots", "Dot")), _text("Bars Shorts", ("Pattern", "Bars", "Bars")),
              _text("Camos Shorts", ("Pattern", "Camos", "Camos"))]
    forms = learn_word_forms(glued + plural, LABELS)
    assert forms["Shorts/Gender"] == {"words": {"0123INNER": "0123", "4567INNER": "4567", "8901INNER": "8901"},
                                      "affixes": [["", "INNER"]]}
    assert forms["Shorts/Pattern"] == {"words": {"Dots": "Dot"}, "affixes": []}  # "s": right once, wrong twice
    once = learn_word_forms(glued[:1], LABELS)
    assert once["Shorts/Gender"]["affixes"] == []  # one value is no rule


def test_word_forms_are_per_attribute() -> None:
    tagged = [_text("Mens Shorts Printed", ("Gender", "Mens", "Men"), ("Pattern", "Printed", "Print"))]
    assert learn_word_forms(tagged, LABELS) == {"Shorts/Gender": {"words": {"Mens": "Men"}, "affixes": []},
                                                "Shorts/Pattern": {"words": {"Printed": "Print"}, "affixes": []}}


FORMS = {"words": {"Mens": "Men"}, "affixes": [["", "INNER"], ["#", ""]]}


@pytest.mark.parametrize("text, start, end, expected", [
    ("New Mens Shorts", 4, 8, (4, 7)),        # the word: "Mens" -> "Men"
    ("New Mens Shorts", 4, 15, (4, 15)),      # "Mens Shorts" has no form of its own
    ("New Womens Shorts", 4, 10, (4, 10)),
    ("NEW MENS SHORTS", 4, 8, (4, 8)),        # forms are case-sensitive, as the gold is
    ("UPC 9999INNER box", 4, 13, (4, 8)),     # an affix: a word never seen in training
    ("UPC INNER box", 4, 9, (4, 9)),          # the affix alone would leave nothing
    ("No. #42 blue", 4, 7, (5, 7)),
])
def test_cut_takes_the_learned_part_of_a_span(text: str, start: int, end: int, expected: tuple[int, int]) -> None:
    assert cut(text, start, end, FORMS) == expected
    assert cut(text, start, end, {}) == (start, end)
