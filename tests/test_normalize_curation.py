"""Tests for extractor.normalize.curation: vocab build (pairs -> alias tables) and vocab suggest."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from extractor.errors import InputError
from extractor.normalize.curation import (build_vocabularies, pair_votes, slug, suggest_entries,
                                          write_vocabularies)
from extractor.normalize.vocab import load_vocab


def jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


SIMPLE = [
    {"attribute": "Finish", "raw": "Brushed Nickle", "canonical": "Satin Nickel"},
    {"attribute": "Finish", "raw": "brushed nickle", "canonical": "Satin Nickel"},
    {"attribute": "Finish", "raw": "Satin Nickel", "canonical": "Satin Nickel"},
    {"attribute": "Finish", "raw": "Oil Rubbed Bronze", "canonical": "Bronze"},
    {"attribute": "Finish", "raw": "ORB", "canonical": "Bronze"},
    {"attribute": "Finish", "raw": "ORB", "canonical": "Bronze"},
    {"attribute": "Finish", "raw": "ORB", "canonical": "Black"},
    {"attribute": "Finish", "raw": "Matte", "canonical": "Black"},
    {"attribute": "Finish", "raw": "Matte", "canonical": "White"},
    {"attribute": "Type", "category": "Kitchen", "raw": "Chef Knife", "canonical": "Cutlery"},
]


def test_pair_votes_in_both_shapes() -> None:
    assert pair_votes({"attribute": "A", "raw": "x", "canonical": " Y "}) == [("x", "Y", 1.0)]
    row = {"attribute": "A", "raw_values": {"HP": [0], "HPE": [1], "both": [0, 1]},
           "normalized_values": {"Hewlett-Packard": [0], "Hewlett-Packard Enterprise": [1]}}
    assert pair_votes(row) == [("HP", "Hewlett-Packard", 1.0), ("HPE", "Hewlett-Packard Enterprise", 1.0),
                               ("both", "Hewlett-Packard", 0.5), ("both", "Hewlett-Packard Enterprise", 0.5)]
    # With one normalized value, a raw value with other ids still votes for it.
    assert pair_votes({"raw_values": {"a": [1]}, "normalized_values": {"A": [0]}}) == [("a", "A", 1.0)]
    with pytest.raises(ValueError):
        pair_votes({"attribute": "A", "raw": "x"})


def test_build_learns_majority_aliases(tmp_path: Path) -> None:
    vocabs, reports = build_vocabularies([jsonl(tmp_path / "p.jsonl", SIMPLE)])
    finish = vocabs["Finish"]
    assert {e.canonical for e in finish.entries} == {"Satin Nickel", "Bronze", "Black", "White"}
    assert finish.match("brushed nickle").entry.canonical == "Satin Nickel"
    assert finish.match("Brushed Nickle").method == "alias"
    assert finish.match("ORB").entry.canonical == "Bronze"  # 2 votes of 3
    assert finish.match("Matte").entry is None  # one vote each for Black and White
    report = {r.name: r for r in reports}["Finish"]
    assert report.entries == 4 and report.votes == 9
    assert any("'Matte'" in d and "no clear majority" in d for d in report.dropped)


def test_build_filters_and_groups_by_category(tmp_path: Path) -> None:
    path = jsonl(tmp_path / "p.jsonl", SIMPLE)
    only, _ = build_vocabularies([path], attributes=["Type"], by_category=True)
    assert list(only) == ["Kitchen/Type"]
    strict, reports = build_vocabularies([path], attributes=["Finish"], min_count=2)
    assert strict["Finish"].match("Oil Rubbed Bronze").entry is None
    assert strict["Finish"].match("ORB").entry.canonical == "Bronze"


def test_build_learns_head_words(tmp_path: Path) -> None:
    rows = [{"attribute": "Type", "raw": r, "canonical": "Rings/Bands"} for r in
            ["wedding ring", "engagement ring", "halo ring", "promise ring"]]
    rows += [{"attribute": "Type", "raw": "tennis bracelet", "canonical": "Bracelets"}]
    path = jsonl(tmp_path / "p.jsonl", rows)
    plain, _ = build_vocabularies([path])
    heads, reports = build_vocabularies([path], heads=True)
    assert plain["Type"].match("eternity rings", _contains_last()).entry is None
    found = heads["Type"].match("eternity rings", _contains_last())
    assert found.entry.canonical == "Rings/Bands" and found.method == "contains"
    assert reports[0].heads == 1  # "bracelet" has one vote, below the default of 3


def _contains_last():
    from extractor.normalize.spec import MatchSpec
    return MatchSpec(contains="last", fuzzy=False)


def test_canonicals_that_differ_in_case_become_one(tmp_path: Path) -> None:
    rows = [{"attribute": "Brand", "raw": "ACME", "canonical": "ACME"},
            {"attribute": "Brand", "raw": "Acme", "canonical": "Acme"},
            {"attribute": "Brand", "raw": "acme co", "canonical": "Acme"},
            {"attribute": "Brand", "raw": "Acme", "canonical": "Acme"}]
    vocabs, _ = build_vocabularies([jsonl(tmp_path / "p.jsonl", rows)])
    assert [e.canonical for e in vocabs["Brand"].entries] == ["Acme"]
    assert vocabs["Brand"].match("ACME").entry.canonical == "Acme"


def test_written_vocabularies_load_back(tmp_path: Path) -> None:
    vocabs, _ = build_vocabularies([jsonl(tmp_path / "p.jsonl", SIMPLE)], by_category=True)
    paths = write_vocabularies(vocabs, tmp_path / "out")
    assert sorted(p.name for p in paths) == ["finish.json", "kitchen-type.json"]
    assert load_vocab(str(tmp_path / "out" / "finish.json")).match("ORB").entry.canonical == "Bronze"


@pytest.mark.parametrize("rows,message", [
    (["{oops"], ":1: not valid JSON"),
    ([[1, 2]], ":1: each line must be a JSON object"),
    ([{"raw": "x", "canonical": "y"}], "line 1: needs an 'attribute' string"),
    ([{"attribute": "A", "raw": "x"}], "line 1: 'raw' and 'canonical' must be strings"),
    ([{"attribute": "A", "raw_values": []}], "needs 'raw' and 'canonical', or 'raw_values'"),
])
def test_bad_pairs_files(tmp_path: Path, rows: list[Any], message: str) -> None:
    with pytest.raises(InputError, match=message):
        build_vocabularies([jsonl(tmp_path / "p.jsonl", rows)])


def test_slug() -> None:
    assert slug("Office Products/Color(s)") == "office-products-color-s"
    assert slug("///") == "attribute"


def record(ident: str, **normalized: Any) -> dict[str, Any]:
    return {"id": ident, "attributes": {}, "normalized": normalized}


def unmatched(raw: str, nearest: str | None = None, merged: list[str] | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"value": raw, "raw": raw, "method": "unmatched", "score": 0.5, "matched": False}
    if nearest:
        item["nearest"] = nearest
    if merged:
        item["merged"] = merged
    return item


def test_suggest_clusters_unmatched_values(tmp_path: Path) -> None:
    matched = {"value": "Blue", "raw": "navy", "method": "alias", "score": 1.0, "matched": True}
    path = jsonl(tmp_path / "n.jsonl", [
        record("1", Color=unmatched("Heather Mint", "Green")),
        record("2", Color=unmatched("heather mint", "Green")),
        record("3", Color=unmatched("Heathr Mint")),
        record("4", Color=matched, Tags=[unmatched("eco"), unmatched("Eco", merged=["ECO"])]),
        record("5", Color=unmatched("Sunset Glow")),
        record("6", Color=None),
    ])
    proposals = suggest_entries(path)
    color = proposals["Color"]["entries"]
    assert color == [{"canonical": "Heather Mint", "aliases": ["heather mint", "Heathr Mint"], "_count": 3,
                      "_nearest": "Green"}]
    assert proposals["Tags"]["entries"][0]["_count"] == 3
    assert suggest_entries(path, attributes=["Tags"]).keys() == {"Tags"}
    assert suggest_entries(path, min_count=1)["Color"]["entries"][1]["canonical"] == "Sunset Glow"


def test_suggest_also_offers_the_catch_all_guesses(tmp_path: Path) -> None:
    guess = {"value": "Miscellaneous", "raw": "Boiler", "method": "otherwise", "score": 0.0, "matched": True}
    path = jsonl(tmp_path / "n.jsonl", [record(str(i), Type=guess) for i in range(2)])
    assert suggest_entries(path)["Type"]["entries"] == [{"canonical": "Boiler", "aliases": [], "_count": 2,
                                                        "_nearest": "Miscellaneous"}]


def test_suggestions_are_loadable_once_reviewed(tmp_path: Path) -> None:
    path = jsonl(tmp_path / "n.jsonl", [record(str(i), Color=unmatched("Heather Mint")) for i in range(2)])
    proposal = suggest_entries(path)["Color"]
    (tmp_path / "v.json").write_text(json.dumps(proposal), encoding="utf-8")
    assert load_vocab(str(tmp_path / "v.json")).match("heather mint").entry.canonical == "Heather Mint"
