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
                                      "affixes": [["", "INNER"]], "tails": ["capitalized"]}
    # "s": right once, wrong twice
    assert forms["Shorts/Pattern"] == {"words": {"Dots": "Dot"}, "affixes": [], "tails": []}
    once = learn_word_forms(glued[:1], LABELS)
    assert once["Shorts/Gender"]["affixes"] == []  # one value is no rule


def test_word_forms_are_per_attribute() -> None:
    tagged = [_text("Mens Shorts Printed", ("Gender", "Mens", "Men"), ("Pattern", "Printed", "Print"))]
    assert learn_word_forms(tagged, LABELS) == {
        "Shorts/Gender": {"words": {"Mens": "Men"}, "affixes": [], "tails": []},
        "Shorts/Pattern": {"words": {"Printed": "Print"}, "affixes": [], "tails": []}}


def test_a_tail_kind_is_learned_from_different_glued_words() -> None:
    glued = [_text("Rack ServerAMD Opteron", ("Pattern", "ServerAMD", "Server")),
             _text("Tower ServerPart Number", ("Pattern", "ServerPart", "Server")),
             _text("Hard Drive40 pin", ("Gender", "Drive40", "Drive")),
             _text("Blade Server1 Xeon", ("Gender", "Server1", "Server")),
             _text("Cable Kit2 m", ("Gender", "Kit2", "Kit2"))]
    forms = learn_word_forms(glued, LABELS)
    # no two values share an affix, but two share a kind of tail: capitalized, right twice
    assert forms["Shorts/Pattern"]["affixes"] == [] and forms["Shorts/Pattern"]["tails"] == ["capitalized"]
    assert forms["Shorts/Gender"]["tails"] == ["digits"]  # right twice, wrong once (Kit2)
    assert learn_word_forms(glued[:1], LABELS)["Shorts/Pattern"]["tails"] == []


def test_a_tail_that_cuts_more_values_wrong_is_not_kept() -> None:
    brands = [_text("ArtCarved ring", ("Gender", "ArtCarved", "ArtCarved")),
              _text("CrownRing band", ("Gender", "CrownRing", "CrownRing")),
              _text("ProLiant DL360", ("Gender", "ProLiant", "ProLiant")),
              _text("TacoriGold band", ("Gender", "TacoriGold", "Tacori")),
              _text("BenchmarkSilver band", ("Gender", "BenchmarkSilver", "Benchmark"))]
    assert learn_word_forms(brands, LABELS)["Shorts/Gender"]["tails"] == []  # right 2, wrong 3


FORMS = {"words": {"Mens": "Men"}, "affixes": [["", "INNER"], ["#", ""]], "tails": ["capitalized", "digits"]}


@pytest.mark.parametrize("text, start, end, expected", [
    ("New Mens Shorts", 4, 8, (4, 7)),        # the word: "Mens" -> "Men"
    ("New Mens Shorts", 4, 15, (4, 15)),      # "Mens Shorts" has no form of its own
    ("New Womens Shorts", 4, 10, (4, 10)),
    ("NEW MENS SHORTS", 4, 8, (4, 8)),        # forms are case-sensitive, as the gold is
    ("UPC 9999INNER box", 4, 13, (4, 8)),     # an affix: a word never seen in training
    ("UPC INNER box", 4, 9, (4, 9)),          # the affix alone would leave nothing
    ("No. #42 blue", 4, 7, (5, 7)),
    ("Rack ServerAMD Opteron", 0, 14, (0, 11)),  # a capitalized tail
    ("Tower Server9 Xeon", 0, 13, (0, 12)),      # a digit tail
    ("Size 19COLOR: White", 5, 12, (5, 7)),
    ("ProLiant DL360", 0, 8, (0, 3)),            # a tail is a guess: training decides where it applies
    ("Rack Server", 0, 11, (0, 11)),             # nothing glued
    ("G7 blade", 0, 2, (0, 2)),                  # a tail glued to one character: a code
])
def test_cut_takes_the_learned_part_of_a_span(text: str, start: int, end: int, expected: tuple[int, int]) -> None:
    assert cut(text, start, end, FORMS) == expected
    assert cut(text, start, end, {}) == (start, end)
