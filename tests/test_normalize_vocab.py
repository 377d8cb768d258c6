"""Tests for extractor.normalize.vocab: vocabulary files, their checks, and the matching order."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from extractor.errors import NormalizationError
from extractor.normalize.spec import MatchSpec
from extractor.normalize.vocab import (VocabEntry, Vocabulary, load_vocab, match_key, resolve_vocab,
                                       shipped_vocabularies)


def vocab(*entries: tuple[str, list[str]]) -> Vocabulary:
    return Vocabulary("test", [VocabEntry(c, tuple(a)) for c, a in entries])


COLORS = vocab(("Blue", ["navy", "navy blue", "sky blue"]), ("Red", ["crimson"]), ("Dark Red", ["oxblood"]),
               ("Black", ["jet black", "onyx"]), ("Multicolor", ["assorted"]))


@pytest.mark.parametrize("text,key", [
    ("Navy-Blue!", "navy blue"),
    ("  SKY   blue ", "sky blue"),
    ("Crème Brûlée", "creme brulee"),
    ("Pens", "pen"),
    ("Batteries", "battery"),
    ("Glass", "glass"),
    ("Kellogg's", "kellogg s"),
    ("---", ""),
    ("日本 製", "日本 製"),
])
def test_match_key(text: str, key: str) -> None:
    assert match_key(text) == key


@pytest.mark.parametrize("raw,canonical,method", [
    ("Blue", "Blue", "exact"),
    ("  Blue ", "Blue", "exact"),
    ("navy", "Blue", "alias"),
    ("NAVY BLUE", "Blue", "casefold"),
    ("navy-blue", "Blue", "casefold"),
    ("Navy Blues", "Blue", "casefold"),
    ("red", "Red", "casefold"),
    ("dark red", "Dark Red", "casefold"),
    ("Crimsn", "Red", "fuzzy"),
    ("Navy Blu", "Blue", "fuzzy"),
    ("jet blak", "Black", "fuzzy"),
])
def test_matching_order(raw: str, canonical: str, method: str) -> None:
    found = COLORS.match(raw)
    assert found.entry is not None and found.entry.canonical == canonical
    assert found.method == method
    assert 0.0 < found.score <= 1.0


@pytest.mark.parametrize("raw", ["", "   ", "!!!", "Heliotrope", "zz"])
def test_unmatched_and_empty_values_never_match(raw: str) -> None:
    found = COLORS.match(raw)
    assert found.entry is None
    assert found.method == "unmatched"


def test_red_does_not_snap_to_dark_red() -> None:
    only_dark = vocab(("Dark Red", []), ("Dark Blue", []))
    assert only_dark.match("red").entry is None
    # WRatio scores "red" inside "dark red" at 90: that is why it is not the default scorer.
    assert only_dark.match("red", MatchSpec(scorer="WRatio")).entry is not None


def test_margin_rule_refuses_a_close_runner_up() -> None:
    # "Sea Flue" is one letter from each: a tie that only a margin of 0 lets through.
    twins = vocab(("Sea Blue", []), ("Sea Glue", []))
    assert twins.match("Sea Flue", MatchSpec(cutoff=80, margin=0)).entry is not None
    refused = twins.match("Sea Flue", MatchSpec(cutoff=80, margin=5))
    # Both score 87.5 (one letter of 8 differs); the reviewer is shown the best, and a tie goes to the
    # vocabulary's first entry.
    assert (refused.entry, refused.method, refused.score, refused.nearest) == (None, "unmatched", 0.875, "Sea Blue")
    # Far enough ahead of the runner-up, the same cutoff and margin accept.
    assert twins.match("Sea Blu", MatchSpec(cutoff=80, margin=5)).entry.canonical == "Sea Blue"


def test_margin_counts_only_other_canonicals() -> None:
    # Two aliases of the same canonical close to each other are no ambiguity.
    same = vocab(("Blue", ["navy blue", "navy blues"]), ("Red", []))
    assert same.match("navi blue", MatchSpec(cutoff=80, margin=10)).entry.canonical == "Blue"


def test_fuzzy_can_be_turned_off() -> None:
    assert COLORS.match("Navy Blu", MatchSpec(fuzzy=False)).entry is None


@pytest.mark.parametrize("raw,policy,canonical", [
    ("Matte Navy Blue finish", "first", "Blue"),
    ("crimson and onyx", "first", "Red"),
    ("crimson and onyx", "last", "Black"),
    ("onyx with navy blue trim", "longest", "Blue"),
    ("dark red velvet", "first", "Dark Red"),
    ("deep dark red", "last", "Dark Red"),
])
def test_contains_policies(raw: str, policy: str, canonical: str) -> None:
    found = COLORS.match(raw, MatchSpec(contains=policy, fuzzy=False))
    assert found.entry is not None and found.entry.canonical == canonical
    assert found.method == "contains"


def test_contains_several_gives_the_catch_all() -> None:
    spec = MatchSpec(contains="first", several_at_least=3, several_value="Multicolor", fuzzy=False)
    assert COLORS.match("navy, crimson and onyx", spec).entry.canonical == "Multicolor"
    assert COLORS.match("navy and crimson", spec).entry.canonical == "Blue"
    # A colour named twice is one colour, and "red" inside "dark red" is not a second mention.
    assert COLORS.match("navy / navy blue / dark red", spec).entry.canonical == "Blue"


# A product-type taxonomy learned from pairs: raw types as aliases of broad categories.
TYPES = vocab(("Furniture, Storage, Racks and Fixtures", ["Office Desk", "Storage Shelving", "Wire Shelf"]),
              ("Food and Drink Preparation and Cooking Equipment", ["Contact Grill", "Coffee Maker", "Countertop Fryer"]),
              ("Tableware", ["Dinner Plate", "Salad Bowl", "Flatware"]))


@pytest.mark.parametrize("raw,canonical", [
    ("Corner Desk", "Furniture, Storage, Racks and Fixtures"),       # one word, seen under one category
    ("Sandwich / Panini Grill", "Food and Drink Preparation and Cooking Equipment"),
    ("Salad Plates", "Tableware"),                                    # plural folded; both words agree
    ("Salad Grill", "Food and Drink Preparation and Cooking Equipment"),  # the last word counts double
    ("Shelving Racks", "Furniture, Storage, Racks and Fixtures"),    # a word of the canonical's own name
])
def test_words_vote_for_a_category(raw: str, canonical: str) -> None:
    found = TYPES.match(raw, MatchSpec(words=True))
    assert (found.entry.canonical, found.method) == (canonical, "words")
    assert 0.5 <= found.score <= 1.0


def test_words_vote_is_off_by_default_and_needs_a_known_word() -> None:
    assert TYPES.match("Corner Desk", MatchSpec()).method == "unmatched"
    found = TYPES.match("Boiler", MatchSpec(words=True))
    assert found.entry is None and found.method == "unmatched"


def test_a_tied_words_vote_stays_unmatched() -> None:
    tied = vocab(("A", ["red box"]), ("B", ["blue box"]))
    found = tied.match("box", MatchSpec(words=True, fuzzy=False))
    assert found.entry is None and found.method == "unmatched"


def test_an_earlier_step_wins_over_the_words_vote() -> None:
    found = TYPES.match("Contact Grill", MatchSpec(words=True))
    assert (found.entry.canonical, found.method) == ("Food and Drink Preparation and Cooking Equipment", "alias")


# --- files and their checks ---------------------------------------------------------------------

def write(tmp_path: Path, document: Any, name: str = "v.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(document) if not isinstance(document, str) else document, encoding="utf-8")
    return path


BAD_VOCABS: list[tuple[Any, str]] = [
    ({"entries": [{"canonical": "Blue", "aliases": ["navy"]}, {"canonical": "Black", "aliases": ["navy"]}]},
     "alias 'navy' of 'Black' already belongs to 'Blue'"),
    ({"entries": [{"canonical": "", "aliases": ["x"]}]}, "entry 0 has an empty or missing 'canonical'"),
    ({"entries": [{"aliases": ["x"]}]}, "entry 0 has an empty or missing 'canonical'"),
    ({"entries": [{"canonical": "  ", "aliases": []}]}, "empty or missing 'canonical'"),
    ({"entries": [{"canonical": "Blue "}]}, "leading or trailing spaces"),
    ({"entries": [{"canonical": "Blue"}, {"canonical": "Blue"}]}, "canonical 'Blue' is listed twice"),
    ({"entries": [{"canonical": "Blue", "aliases": ["navy", "navy"]}]}, "alias 'navy' is listed twice"),
    ({"entries": [{"canonical": "Blue", "aliases": ["Red"]}, {"canonical": "Red"}]}, "alias 'Red' of 'Blue' already belongs to 'Red'"),
    ({"entries": [{"canonical": "Blue", "aliases": ["navy"]}, {"canonical": "Navy"}]}, "differ only in case"),
    ({"entries": [{"canonical": "Pen"}, {"canonical": "Pens"}]}, "or plural"),
    ({"entries": [{"canonical": "Blue", "aliases": ["", "navy"]}]}, "aliases of 'Blue' must be a list of non-empty"),
    ({"entries": [{"canonical": "Blue", "aliases": "navy"}]}, "must be a list"),
    ({"entries": [{"canonical": "Blue", "hex": "#00F"}]}, "unknown key 'hex'"),
    ({"entries": [{"canonical": "Blue", "properties": "#00F"}]}, "properties of 'Blue' must be an object"),
    ({"entries": []}, "'entries' must be a non-empty list"),
    ({"colors": []}, "unknown key 'colors'"),
    ([], "must be a JSON object"),
    ("{not json", "is not valid JSON"),
]


@pytest.mark.parametrize("document,message", BAD_VOCABS, ids=[m for _, m in BAD_VOCABS])
def test_bad_vocabularies_are_rejected_clearly(tmp_path: Path, document: Any, message: str) -> None:
    path = write(tmp_path, document)
    with pytest.raises(NormalizationError) as info:
        load_vocab(str(path))
    assert message in str(info.value)
    assert str(path.name) in str(info.value)


def test_comment_keys_are_allowed(tmp_path: Path) -> None:
    path = write(tmp_path, {"_note": "hand-made", "entries": [{"canonical": "Blue", "_count": 4, "aliases": ["navy"]}]})
    assert load_vocab(str(path)).match("navy").entry.canonical == "Blue"


def test_relative_paths_resolve_against_the_base_dir(tmp_path: Path) -> None:
    (tmp_path / "vocab").mkdir()
    write(tmp_path / "vocab", {"entries": [{"canonical": "Blue"}]}, "mine.json")
    assert resolve_vocab("vocab/mine.json", tmp_path) == tmp_path / "vocab" / "mine.json"
    with pytest.raises(NormalizationError, match="no vocabulary file 'vocab/other.json'"):
        resolve_vocab("vocab/other.json", tmp_path)


def test_reloads_when_the_file_changes(tmp_path: Path) -> None:
    path = write(tmp_path, {"entries": [{"canonical": "Blue"}]})
    assert len(load_vocab(str(path))) == 1
    import os
    path.write_text(json.dumps({"entries": [{"canonical": "Blue"}, {"canonical": "Red"}]}), encoding="utf-8")
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    assert len(load_vocab(str(path))) == 2


def test_merged_vocabularies_give_precedence_to_the_first() -> None:
    mine = vocab(("Navy", ["navy blue"]))
    shipped = load_vocab("colors")
    merged = Vocabulary.merged([mine, shipped])
    assert merged.match("navy blue").entry.canonical == "Navy"
    assert merged.match("crimson").entry.canonical == "Red"


# --- the shipped vocabularies --------------------------------------------------------------------

def test_the_four_vocabularies_ship() -> None:
    assert {"colors", "materials", "sizes", "brands"} <= set(shipped_vocabularies())


@pytest.mark.parametrize("raw,canonical,hex_", [
    ("Navy Blu", "Blue", "#0000FF"),
    ("navy", "Blue", "#0000FF"),
    ("Grey", "Gray", "#808080"),
    ("burgundy", "Red", "#FF0000"),
    ("Off-White", "White", "#FFFFFF"),
])
def test_shipped_colors_carry_rgb(raw: str, canonical: str, hex_: str) -> None:
    found = load_vocab("colors").match(raw)
    assert found.entry.canonical == canonical
    assert found.entry.properties["hex"] == hex_


@pytest.mark.parametrize("name,raw,canonical", [
    ("materials", "18/8 Stainless Steel", "Stainless Steel"),
    ("materials", "aluminium", "Aluminum"),
    ("materials", "Elastane", "Spandex"),
    ("sizes", "X-Large", "XL"),
    ("sizes", "small", "S"),
    ("sizes", "2XL", "XXL"),
    ("brands", "HPE", "Hewlett-Packard Enterprise"),
])
def test_shipped_vocabularies_match(name: str, raw: str, canonical: str) -> None:
    assert load_vocab(name).match(raw).entry.canonical == canonical
