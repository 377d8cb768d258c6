"""Demonstration files and shot selection (first / random / similar)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from extractor.demos import DemoPool, Shot, load_shots, shots_file
from extractor.errors import PromptError
from extractor.schemas import load_schema

APPAREL = load_schema("apparel")

POOL_TEXTS = [
    "Hanes Men's Crew Neck T-Shirt 6-Pack White XL Cotton",
    "Levi's 511 Slim Fit Jeans Dark Indigo 32W x 30L",
    "Nike Air Zoom Pegasus 39 Running Shoe Black/White Size 10",
    "Carhartt Knit Cuffed Beanie Acrylic Brown One Size",
    "Champion Reverse Weave Hoodie Oxford Grey Medium",
    "Columbia Women's Benton Springs Fleece Jacket Navy Small",
    "Adidas Ultraboost 22 Running Shoe Core Black Size 9",
    "Fruit of the Loom Boxer Briefs 5-Pack Assorted Large",
]


def _pool() -> DemoPool:
    return DemoPool([Shot(t, {"Brand": None}) for t in POOL_TEXTS])


def _write(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "shots.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _shot_line(text: str, record: dict) -> str:
    return json.dumps({"text": text, "record": record})


# --- load_shots ----------------------------------------------------------------------------------

def test_load_shots_fills_missing_attributes_with_null_in_schema_order(tmp_path):
    path = _write(tmp_path, [_shot_line("Gildan Heavy Cotton Tee Sport Grey",
                                        {"Color": "Sport Grey", "Brand": "Gildan"}),
                             "",
                             _shot_line("Ladies Yoga Pants Black M", {"Gender": "Women"})])
    shots = load_shots(path, APPAREL)
    assert len(shots) == 2  # the blank line is skipped
    assert list(shots[0].record) == APPAREL.names
    assert shots[0].record["Brand"] == "Gildan" and shots[0].record["Size"] is None
    assert shots[1].record["Gender"] == "Women" and shots[1].record["Brand"] is None


def test_load_shots_without_schema_keeps_records_as_written(tmp_path):
    path = _write(tmp_path, [_shot_line("Anything", {"Whatever": "x"})])
    assert load_shots(path) == [Shot("Anything", {"Whatever": "x"})]


def test_bad_json_line_names_file_and_line(tmp_path):
    path = _write(tmp_path, [_shot_line("Gildan Tee", {"Brand": "Gildan"}), '{"text": "Hanes Tee", "record": {'])
    with pytest.raises(PromptError, match=rf"{path.name}:2: not valid JSON"):
        load_shots(path, APPAREL)


def test_keys_outside_schema_are_rejected(tmp_path):
    path = _write(tmp_path, [_shot_line("Gildan Tee Red", {"Brand": "Gildan", "Colour": "Red", "Neck": "Crew"})])
    with pytest.raises(PromptError) as info:
        load_shots(path, APPAREL)
    assert f"{path.name}:1" in str(info.value)
    assert "Colour, Neck" in str(info.value) and "apparel" in str(info.value)


def test_a_line_that_is_not_an_object_is_rejected(tmp_path):
    path = _write(tmp_path, ['["Gildan Tee", {"Brand": "Gildan"}]'])
    with pytest.raises(PromptError, match=r":1: each line must be a JSON object"):
        load_shots(path, APPAREL)


@pytest.mark.parametrize("line", [
    '{"text": "Gildan Tee"}',
    '{"record": {"Brand": "Gildan"}}',
    '{"text": 42, "record": {"Brand": "Gildan"}}',
    '{"text": "Gildan Tee", "record": "Gildan"}',
])
def test_malformed_shot_is_rejected(tmp_path, line):
    path = _write(tmp_path, [line])
    with pytest.raises(PromptError, match=r":1: a shot needs"):
        load_shots(path, APPAREL)


def test_empty_or_missing_shots_file(tmp_path):
    with pytest.raises(PromptError, match="no demonstrations"):
        load_shots(_write(tmp_path, ["", "  "]))
    with pytest.raises(PromptError, match="cannot read"):
        load_shots(tmp_path / "absent.jsonl")


# --- selection -----------------------------------------------------------------------------------

def test_first_takes_pool_order():
    assert [s.text for s in _pool().select("Gap Khaki Chinos", 3, "first")] == POOL_TEXTS[:3]


def test_random_is_reproducible_for_same_seed_and_text():
    pool = _pool()
    a = pool.select("Gap Khaki Chinos 34x32", 3, "random", seed=7)
    b = pool.select("Gap Khaki Chinos 34x32", 3, "random", seed=7)
    assert a == b and len(a) == 3 and len(set(s.text for s in a)) == 3


def test_random_varies_with_seed():
    pool = _pool()
    text = "Gap Khaki Chinos 34x32"
    choices = {tuple(s.text for s in pool.select(text, 3, "random", seed=seed)) for seed in range(10)}
    # 8 choose 3 ordered = 336 options: ten seeds landing on one selection would mean the seed is ignored.
    assert len(choices) > 1


def test_random_does_not_depend_on_other_inputs():
    pool = _pool()
    before = pool.select("Gap Khaki Chinos", 2, "random", seed=1)
    pool.select("Something else entirely", 2, "random", seed=1)
    assert pool.select("Gap Khaki Chinos", 2, "random", seed=1) == before


def test_similar_puts_the_most_similar_shot_last():
    shots = _pool().select("Nike Pegasus Running Shoe Black Size 11", 3, "similar")
    assert len(shots) == 3
    assert shots[-1].text == POOL_TEXTS[2]  # Nike Air Zoom Pegasus ... Running Shoe
    assert shots[-2].text == POOL_TEXTS[6]  # Adidas ... Running Shoe ... Size 9


def test_similar_scores_are_ascending_toward_the_input():
    pool = _pool()
    text = "Men's Crew Neck T-Shirt Cotton White"
    scores = pool.scores(text)
    chosen = pool.select(text, 4, "similar")
    chosen_scores = [scores[POOL_TEXTS.index(s.text)] for s in chosen]
    assert chosen_scores == sorted(chosen_scores)
    assert chosen[-1].text == POOL_TEXTS[0]


@pytest.mark.parametrize("selection", ["first", "random", "similar"])
def test_shot_equal_to_input_is_never_selected(selection):
    pool = _pool()
    text = POOL_TEXTS[2]
    shots = pool.select(f"  {text} ", len(POOL_TEXTS), selection)
    assert text not in [s.text for s in shots]
    assert len(shots) == len(POOL_TEXTS) - 1


@pytest.mark.parametrize("selection", ["first", "random", "similar"])
def test_excluded_texts_are_never_selected(selection):
    pool = _pool()
    shots = pool.select(POOL_TEXTS[0] + " XL", len(POOL_TEXTS), selection, exclude=[POOL_TEXTS[0], POOL_TEXTS[3] + " "])
    assert sorted(s.text for s in shots) == sorted(t for i, t in enumerate(POOL_TEXTS) if i not in (0, 3))


@pytest.mark.parametrize("selection", ["first", "random", "similar"])
def test_k_larger_than_pool_returns_whole_pool(selection):
    shots = _pool().select("Gap Khaki Chinos", 50, selection)
    assert sorted(s.text for s in shots) == sorted(POOL_TEXTS)


@pytest.mark.parametrize("pool,k", [(DemoPool([]), 3), (_pool(), 0)])
def test_no_shots_when_pool_empty_or_k_zero(pool, k):
    assert pool.select("Gap Khaki Chinos", k) == []


def test_unknown_selection_raises():
    with pytest.raises(PromptError, match="unknown shot selection"):
        _pool().select("Gap Khaki Chinos", 2, "nearest")


# --- a shots folder: <folder>/<schema name>.jsonl, and nothing outside it ----------------------

def _escaping_schema():
    """A schema whose title is a path, built in memory (load_schema refuses it from a file)."""
    from extractor.schemas import check_schema

    return check_schema({**APPAREL.document, "title": "../../x"})


def test_shots_file_is_inside_its_folder(tmp_path):
    assert shots_file(tmp_path, "apparel") == tmp_path / "apparel.jsonl"
    assert shots_file(str(tmp_path), "Home & Kitchen") == tmp_path / "Home & Kitchen.jsonl"
    for name in ("../../x", "a/b", "..", "a\x00b", "C:x"):
        with pytest.raises(PromptError, match="cannot name a demonstrations file"):
            shots_file(tmp_path, name)


def test_a_schema_named_like_a_path_never_reads_shots_outside_the_folder(tmp_path):
    from extractor.pipeline import resolve_shots

    folder = tmp_path / "a" / "b"
    folder.mkdir(parents=True)
    # Where "<folder>/../../x.jsonl" points: a file the title must not reach.
    (tmp_path / "x.jsonl").write_text(_shot_line("Outside Tee", {"Brand": "Outside"}) + "\n", encoding="utf-8")
    schema = _escaping_schema()
    with pytest.raises(PromptError, match="cannot name a demonstrations file"):
        resolve_shots(folder, schema)
    assert resolve_shots(None, schema) == []  # no shipped shots for a name that is not a name


def test_a_title_that_is_a_path_is_refused_before_any_shots_are_read(tmp_path):
    from extractor.backends.scripted import ScriptedBackend
    from extractor.errors import SchemaError
    from extractor.pipeline import Extractor

    path = tmp_path / "x.schema.json"
    path.write_text(json.dumps({**APPAREL.document, "title": "../../x"}), encoding="utf-8")
    with pytest.raises(SchemaError, match="not a plain name"):
        Extractor(ScriptedBackend(lambda prompt: "{}"), str(path), shots=tmp_path)


def test_with_schema_takes_the_shots_named_by_the_schemas_title(tmp_path):
    # A copy of a schema under another file name keeps its title, so it keeps its demonstrations.
    from extractor.backends.scripted import ScriptedBackend
    from extractor.config import ExtractConfig
    from extractor.pipeline import Extractor

    folder = tmp_path / "shots"
    folder.mkdir()
    (folder / "apparel.jsonl").write_text(_shot_line("Folder Tee Red", {"Brand": "Folder"}) + "\n", encoding="utf-8")
    (folder / "home.jsonl").write_text(_shot_line("Folder Mug", {"Brand": "Folder"}) + "\n", encoding="utf-8")
    copy = tmp_path / "my-copy.schema.json"
    copy.write_text(json.dumps(load_schema("home").document), encoding="utf-8")
    first = Extractor(ScriptedBackend(lambda prompt: "{}"), "apparel", ExtractConfig(decoding="free"), shots=folder)
    sibling = first.with_schema(str(copy))
    assert sibling.schema.name == "home"
    assert [s.text for s in sibling.pool.shots] == ["Folder Mug"]
