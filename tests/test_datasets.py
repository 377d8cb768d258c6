"""Benchmark adapters on hand-written fixture lines in the three layouts (tests/fixtures/benchmarks;
no line of the real benchmarks)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from extractor.errors import EvaluationError
from extractor.evaluate.datasets import (derive_schemas, load_benchmark, offer_text, read_offers,
                                         resolve_dataset)
from extractor.evaluate.scorer import load_gold, score

ROOT = Path(__file__).parent / "fixtures" / "benchmarks"


def test_wdc_documents_have_line_ids_and_title_plus_description() -> None:
    bench = load_benchmark("wdc-pave", "validation", data_root=ROOT)
    assert [d.id for d in bench.documents] == ["701", "702"]
    assert [d.category for d in bench.documents] == ["Jewelry", "Office Products"]
    assert bench.documents[0].text == "Rose Gold Plated Pendant Necklace\nHeart pendant on an 18 inch chain."
    assert [g.id for g in bench.gold] == ["701", "702"]


def test_wdc_title_only() -> None:
    bench = load_benchmark("wdc-pave", "validation", data_root=ROOT, title_only=True)
    assert bench.documents[0].text == "Rose Gold Plated Pendant Necklace"
    assert bench.pools["Jewelry"][0]["text"] == "Sterling Silver Hoop Earrings 25mm"   # shots follow suit


@pytest.mark.parametrize("dataset, title_only, fields", [
    ("wdc-pave", False, "title+description"),
    ("wdc-pave", True, "title"),
    ("oa-mine", False, "title"),
])
def test_text_fields_are_recorded(dataset: str, title_only: bool, fields: str) -> None:
    assert load_benchmark(dataset, "validation", data_root=ROOT, title_only=title_only).text_fields == fields


@pytest.mark.parametrize("row, title_only, text", [
    ({"input_title": "Gel Pens", "input_description": ""}, False, "Gel Pens"),      # no dangling newline
    ({"input_title": "Gel Pens", "input_description": "  "}, False, "Gel Pens"),
    ({"input_title": "Gel Pens", "input_description": "Smooth."}, False, "Gel Pens\nSmooth."),
    ({"input_title": "Gel Pens", "input_description": "Smooth."}, True, "Gel Pens"),
    ({"input": "Trailpace Loafer Tan"}, False, "Trailpace Loafer Tan"),
    ({"input": "Trailpace Loafer Tan"}, True, "Trailpace Loafer Tan"),
])
def test_offer_text(row: dict[str, str], title_only: bool, text: str) -> None:
    assert offer_text(row, 0, title_only) == text


def test_offer_text_needs_a_known_layout() -> None:
    with pytest.raises(EvaluationError, match="input_title"):
        offer_text({"title": "x"}, 4)


@pytest.mark.parametrize("dataset", ["oa-mine", "ae-110k"])
def test_title_layouts_use_line_numbers_as_ids(dataset: str) -> None:
    documents, gold = read_offers(ROOT / dataset / "validation.jsonl")
    assert [d.id for d in documents] == ["0", "1"] == [g.id for g in gold]
    assert all(not g.has_id for g in gold)


def test_wdc_schema_attributes_descriptions_and_examples() -> None:
    bench = load_benchmark("wdc-pave", "validation", data_root=ROOT)
    office = bench.schemas["Office Products"]
    assert office.names == ["Color(s)", "Paper Weight", "Pack Quantity"]
    assert office.name == "Office Products"
    assert office.description == "Supplies for the office: paper, pens and toner."
    assert office.attribute("Paper Weight").description == "The basis weight of the paper."
    assert office.attribute("Pack Quantity").description == ""          # no description row for it
    # Most frequent first forms first, ties in file order; n/a never becomes an example.
    assert office.attribute("Color(s)").examples == ("Black", "White")
    assert office.attribute("Paper Weight").examples == ("20 lb",)
    assert office.attribute("Pack Quantity").examples == ("500 Sheets/Ream", "12/Pack", "24/Pack")
    # Only the first form of a slot is an example (not the alternative "925 sterling silver").
    assert bench.schemas["Jewelry"].attribute("Metal").examples == ("Sterling Silver",)


def test_examples_come_from_train_only() -> None:
    bench = load_benchmark("wdc-pave", "validation", data_root=ROOT)
    validation_values = {form for g in bench.gold for forms in g.targets.values() for form in forms}
    examples = {e for s in bench.schemas.values() for a in s.attributes for e in a.examples}
    assert examples and not examples & validation_values


def test_examples_are_capped() -> None:
    gold = load_gold([{"category": "Tea", "target_scores": {"Brand": {f"Brand {i}": 1}}} for i in range(15)])
    assert len(derive_schemas(gold, max_examples=10)["Tea"].attribute("Brand").examples) == 10


def _offer(category: str, **values: str | None) -> dict:
    return {"category": category, "target_scores": {k: ({v: 1} if v else {"n/a": 1}) for k, v in values.items()}}


@pytest.mark.parametrize("texts, values, grounded", [
    # extraction gold: spans of the text
    (["Nike Air Zoom navy", "Gap tee red"], ["navy", "red"], True),
    # canonical gold: "Blue" for "navy", "25.4" for "10 in"
    (["Nike Air Zoom navy", "Gap tee red"], ["Blue", "Red"], False),
    (["Shelf 10 in wide", "Shelf 20 in wide"], ["25.4", "50.8"], False),
    # 9 of 10 spelled out: an annotation slip, still grounded; 8 of 10 is not
    ([f"mug {i} oz" for i in range(10)], [f"{i} oz" for i in range(9)] + ["1 cup"], True),
    ([f"mug {i} oz" for i in range(10)], [f"{i} oz" for i in range(8)] + ["1 cup", "2 cups"], False),
])
def test_attributes_whose_values_are_not_in_the_texts_are_not_grounded(texts, values, grounded) -> None:
    gold = load_gold([_offer("Mugs", Color=v, Brand=t.split()[0]) for t, v in zip(texts, values)])
    schema = derive_schemas(gold, texts=texts)["Mugs"]
    assert schema.attribute("Color").grounded is grounded
    assert schema.attribute("Brand").grounded                       # the first word is always there
    assert derive_schemas(gold)["Mugs"].attribute("Color").grounded  # without texts nothing is judged
    if grounded:
        assert schema.id == derive_schemas(gold)["Mugs"].id           # extraction schemas keep their ids


def test_grounding_needs_one_text_per_offer() -> None:
    gold = load_gold([_offer("Mugs", Color="navy")])
    with pytest.raises(EvaluationError, match="1 training offers"):
        derive_schemas(gold, texts=["a", "b"])


def test_title_only_judges_grounding_on_the_whole_offer() -> None:
    # "White" is only in a description: with titles alone it would look like a canonical value.
    titles = load_benchmark("wdc-pave", "validation", data_root=ROOT, title_only=True)
    whole = load_benchmark("wdc-pave", "validation", data_root=ROOT)
    assert all(a.grounded for s in titles.schemas.values() for a in s.attributes)
    assert {c: s.id for c, s in titles.schemas.items()} == {c: s.id for c, s in whole.schemas.items()}


def test_normalized_layout_gets_ungrounded_attributes() -> None:
    schema = load_benchmark("wdc-pave-normalized", "validation", data_root=ROOT).schemas["Home And Garden"]
    assert [a.name for a in schema.attributes if not a.grounded] == ["Width", "Color"]   # "25.4" for "10 in"
    assert schema.attribute("Manufacturer").grounded


def test_wdc_demonstration_pool() -> None:
    bench = load_benchmark("wdc-pave", "validation", data_root=ROOT)
    office = bench.pools["Office Products"]
    assert len(office) == 3 and len(bench.pools["Jewelry"]) == 1
    assert office[1] == {"text": "Quillmate Gel Pens, Black Ink, 12/Pack",
                         "record": {"Color(s)": "Black", "Paper Weight": None, "Pack Quantity": "12/Pack"}}
    assert office[0]["record"]["Pack Quantity"] == "500 Sheets/Ream"
    assert office[0]["text"].startswith("Blue Ridge Copy Paper, 20 lb, 8.5 x 11, 500 Sheets/Ream - BRP20811\nBright")


def test_oa_mine_pool_fills_unlisted_attributes_with_none_and_strips_forms() -> None:
    bench = load_benchmark("oa-mine", "validation", data_root=ROOT)
    shoes = bench.schemas["Shoes"]
    assert shoes.names == ["Brand", "Gender", "Color", "Size", "Shoe type"]
    assert shoes.description == ""                                        # OA-Mine has no descriptions file
    second = bench.pools["Shoes"][1]
    assert second["record"] == {"Brand": "Trailpace", "Gender": "Women's", "Color": "Tan", "Size": None,
                                "Shoe type": "Slip-On Loafer"}


def test_ae_110k_first_form_na_is_none_in_demonstrations() -> None:
    bench = load_benchmark("ae-110k", "validation", data_root=ROOT)
    caps = bench.pools["Baseball Caps"][0]["record"]
    assert caps == {"Style": None, "Gender": "Men Women"}
    assert bench.schemas["Baseball Caps"].attribute("Style").examples == ()
    assert bench.pools["Lure"][1]["record"] == {"Brand Name": None, "Length": "10cm", "Weight": None,
                                                "Model Number": None}


def test_schemas_are_valid_for_the_pipeline() -> None:
    bench = load_benchmark("ae-110k", "validation", data_root=ROOT)
    for schema in bench.schemas.values():
        assert all(a.types == ("string",) for a in schema.attributes)
        assert schema.id.startswith(schema.name + "@")


def test_head_limits_documents_and_gold_together() -> None:
    bench = load_benchmark("oa-mine", "validation", data_root=ROOT).head(1)
    assert len(bench.documents) == len(bench.gold) == 1
    with pytest.raises(EvaluationError):
        bench.head(0)


def test_sample_draws_offers_in_file_order_with_their_gold() -> None:
    """--limit of the distillation benchmark: a seeded draw, not the first offers (the files are
    sorted by category)."""
    bench = load_benchmark("ae-110k", "validation", data_root=ROOT)  # Lure, then Baseball Caps
    draws = {seed: bench.sample(1, seed) for seed in range(12)}
    for part in draws.values():
        assert len(part.documents) == 1 and [d.id for d in part.documents] == [g.id for g in part.gold]
    assert [d.id for d in bench.sample(1, 3).documents] == [d.id for d in draws[3].documents]
    assert {part.documents[0].category for part in draws.values()} == {"Lure", "Baseball Caps"}
    assert bench.sample(None) is bench and bench.sample(2) is bench
    with pytest.raises(EvaluationError):
        bench.sample(0)


def test_documents_and_gold_line_up_for_the_scorer() -> None:
    bench = load_benchmark("ae-110k", "validation", data_root=ROOT)
    # A perfect prediction built from the gold itself must score 100 at the exact level.
    predictions = [{"id": d.id, "error": None,
                    "attributes": {a: (None if g.absent(a) else g.targets[a][0]) for a in g.targets}}
                   for d, g in zip(bench.documents, bench.gold)]
    ev = score(bench.gold, predictions)
    assert ev.exact.micro.f1 == 100.0 and ev.exact.micro.NN == 1


def test_folder_path_instead_of_a_name() -> None:
    assert resolve_dataset(str(ROOT / "oa-mine")) == ROOT / "oa-mine"
    bench = load_benchmark(str(ROOT / "oa-mine"), "validation")
    assert bench.name == "oa-mine"


@pytest.mark.parametrize("kwargs, message", [
    ({"dataset": "oa-mine"}, "data root"),
    ({"dataset": "no-such-set", "data_root": ROOT}, "no dataset folder"),
    ({"dataset": "oa-mine", "data_root": ROOT, "split": "train"}, "train split"),
    ({"dataset": "oa-mine", "data_root": ROOT, "split": "test"}, "missing"),
])
def test_refusals(kwargs: dict, message: str) -> None:
    with pytest.raises(EvaluationError, match=message):
        load_benchmark(**kwargs)


def test_category_without_training_offers_is_refused(tmp_path: Path) -> None:
    (tmp_path / "train.jsonl").write_text(json.dumps({"input": "a", "category": "Tea", "target_scores": {"Brand": {"A": 1}}}) + "\n")
    (tmp_path / "validation.jsonl").write_text(json.dumps({"input": "b", "category": "Coffee", "target_scores": {"Brand": {"B": 1}}}) + "\n")
    with pytest.raises(EvaluationError, match="Coffee"):
        load_benchmark(str(tmp_path), "validation")
