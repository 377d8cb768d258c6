"""The scorer on hand-made gold and prediction lines (no benchmark data)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from extractor.errors import EvaluationError
from extractor.evaluate.scorer import (Counts, classify, evaluate_files, f1_of, gold_offer, load_gold,
                                       percent, prediction_value, score)


def gold_row(targets: dict[str, list[str]], category: str = "Shoes", id: Any = None) -> dict[str, Any]:
    row: dict[str, Any] = {"category": category, "target_scores": {a: {f: 1 for f in forms} for a, forms in targets.items()}}
    if id is not None:
        row["id"] = id
    return row


def record(attributes: dict[str, Any], id: str | None = None, error: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"attributes": attributes, "error": error}
    if id is not None:
        out["id"] = id
    return out


@pytest.mark.parametrize("forms, value, exact, lenient", [
    (("n/a",), None, "NN", "NN"),
    (("n/a",), "Black", "NV", "NV"),
    (("Black",), None, "VN", "VN"),
    (("Black",), "Black", "VC", "VC"),
    (("Black",), "Navy", "VW", "VW"),
    (("Black",), "black", "VW", "VC"),                      # case only matters at the exact level
    (("14 M US",), " 14  m US", "VW", "VC"),                # whitespace likewise
    (("Black", "Jet Black"), "Jet Black", "VC", "VC"),      # any alternative form counts
    (("n/a", "Snapback"), "Snapback", "NV", "NV"),          # the first form decides absence
    (("n/a", "Snapback"), None, "NN", "NN"),
    (("Snapback", "n/a"), None, "VN", "VN"),
    (("Snapback", "n/a"), "Trucker", "VW", "VW"),
    (("50",), 50, "VW", "VW"),                              # a number never equals a gold form
    (("1.5",), 1.5, "VW", "VW"),
    (("n/a",), 0, "NV", "NV"),
    (("Black",), ["Black"], "VW", "VW"),                    # nor does a list (not joined, not searched)
    (("Black",), "", "VW", "VW"),                           # an empty string is a value, as in the papers
])
def test_classify_table(forms: tuple[str, ...], value: Any, exact: str, lenient: str) -> None:
    assert classify(forms, value, "exact") == exact
    assert classify(forms, value, "lenient") == lenient


@pytest.mark.parametrize("rec, expected", [
    (record({"Color": "Navy"}), "Navy"),
    (record({"Color": None}), None),
    (record({}), None),                                     # missing key
    (record({"Color": "n/a"}), None),
    (record({"Color": "None"}), None),
    (record({"Color": "N/A"}), "N/A"),                      # only the papers' two spellings are absent
    (record({"Color": "Navy"}, error="invalid JSON"), None),  # an error record is absent throughout
    (record({"Color": 0}), 0),
])
def test_prediction_value(rec: dict[str, Any], expected: Any) -> None:
    assert prediction_value(rec, "Color") == expected


def test_gold_forms_are_stripped_but_predictions_are_not() -> None:
    offer = gold_offer(gold_row({"Weight": [" 7.5g"]}), 0)
    assert offer.targets["Weight"] == ("7.5g",)
    assert classify(offer.targets["Weight"], "7.5g") == "VC"
    assert classify(offer.targets["Weight"], " 7.5g") == "VW"
    assert classify(offer.targets["Weight"], " 7.5g", "lenient") == "VC"


def test_gold_without_id_gets_its_line_number() -> None:
    offers = load_gold([gold_row({"Brand": ["A"]}), gold_row({"Brand": ["B"]}, id=16828130)])
    assert [(o.id, o.has_id) for o in offers] == [("0", False), ("16828130", True)]


def test_every_kind_counted_and_micro_figures() -> None:
    gold = load_gold([gold_row({"Brand": ["Ellie"], "Color": ["n/a"], "Size": ["14 M US"], "Gender": ["Women's"],
                                "Material": ["n/a"]})])
    pred = [record({"Brand": "Ellie", "Color": "Red", "Size": None, "Gender": "women's", "Material": None})]
    ev = score(gold, pred)
    assert (ev.exact.micro.NN, ev.exact.micro.NV, ev.exact.micro.VN, ev.exact.micro.VC, ev.exact.micro.VW) == (1, 1, 1, 1, 1)
    assert ev.exact.micro.precision == 33.33   # 1 / (NV+VC+VW = 3)
    assert ev.exact.micro.recall == 33.33      # 1 / (VN+VC+VW = 3)
    assert ev.exact.micro.f1 == 33.33
    assert (ev.lenient.micro.VC, ev.lenient.micro.VW) == (2, 0)
    assert ev.lenient.micro.precision == 66.67 and ev.lenient.micro.recall == 66.67


def test_rounding_follows_the_papers() -> None:
    counts = Counts(VC=1, VN=3, VW=3)
    assert counts.precision == 25.0
    assert counts.recall == 14.29
    # F1 of the rounded figures (18.19), not of the exact shares (18.18).
    assert counts.f1 == 18.19
    assert percent(0, 0) == 0.0 and f1_of(0.0, 0.0) == 0.0


def test_per_category_and_per_attribute_cells_are_separate() -> None:
    gold = load_gold([gold_row({"Length": ["7cm"]}, category="Lure"),
                      gold_row({"Length": ["Knee Length"]}, category="Shorts"),
                      gold_row({"Length": ["10cm"]}, category="Lure")])
    pred = [record({"Length": "7cm"}), record({"Length": "Long"}), record({"Length": None})]
    ev = score(gold, pred)
    assert ev.exact.categories["Lure"].VC == 1 and ev.exact.categories["Lure"].VN == 1
    assert ev.exact.attributes[("Shorts", "Length")].VW == 1
    assert ev.exact.attributes[("Lure", "Length")].slots == 2
    assert ev.exact.micro.slots == 3


def test_attributes_only_in_prediction_are_counted_not_scored() -> None:
    gold = load_gold([gold_row({"Brand": ["Ellie"]}), gold_row({"Brand": ["Acme"]})])
    pred = [record({"Brand": "Ellie", "Material": "Leather", "Color": None}),
            record({"Brand": "Acme", "Material": "n/a"})]
    ev = score(gold, pred)
    assert ev.exact.micro.slots == 2
    assert ev.unscored == {"Material": 1}


def test_error_records_count_as_absent() -> None:
    gold = load_gold([gold_row({"Brand": ["Ellie"], "Color": ["n/a"]})])
    ev = score(gold, [{"id": "0", "attributes": {"Brand": None, "Color": None}, "error": "no JSON in the output"}])
    assert (ev.exact.micro.VN, ev.exact.micro.NN, ev.error_records) == (1, 1, 1)


def test_matched_by_id_regardless_of_order() -> None:
    gold = load_gold([gold_row({"Brand": ["A"]}, id=11), gold_row({"Brand": ["B"]}, id=12)])
    pred = [record({"Brand": "B"}, id="12"), record({"Brand": "A"}, id="11")]
    ev = score(gold, pred)
    assert ev.matched_by == "id"
    assert ev.exact.micro.VC == 2


def test_matched_by_order_when_gold_has_no_ids() -> None:
    gold = load_gold([gold_row({"Brand": ["A"]}), gold_row({"Brand": ["B"]})])
    # The prediction ids are deliberately swapped: without gold ids only the order counts.
    pred = [record({"Brand": "A"}, id="1"), record({"Brand": "B"}, id="0")]
    ev = score(gold, pred)
    assert ev.matched_by == "order"
    assert ev.exact.micro.VC == 2


def test_order_matching_refuses_different_counts() -> None:
    gold = load_gold([gold_row({"Brand": ["A"]}), gold_row({"Brand": ["B"]})])
    with pytest.raises(EvaluationError, match="2 gold offers but 1 predictions"):
        score(gold, [record({"Brand": "A"})])


def test_predictions_without_ids_fall_back_to_order() -> None:
    gold = load_gold([gold_row({"Brand": ["A"]}, id=11), gold_row({"Brand": ["B"]}, id=12)])
    ev = score(gold, [record({"Brand": "A"}), record({"Brand": "B"})])
    assert ev.matched_by == "order" and ev.exact.micro.VC == 2


@pytest.mark.parametrize("pred, message", [
    ([record({"Brand": "A"}, id="11")], "1 gold offer.* have no prediction"),
    ([record({"Brand": "A"}, id="11"), record({"Brand": "B"}, id="12"), record({}, id="99")], "not in the gold file"),
    ([record({"Brand": "A"}, id="11"), record({"Brand": "A"}, id="11")], "occurs twice"),
])
def test_id_matching_refusals(pred: list[dict[str, Any]], message: str) -> None:
    gold = load_gold([gold_row({"Brand": ["A"]}, id=11), gold_row({"Brand": ["B"]}, id=12)])
    with pytest.raises(EvaluationError, match=message):
        score(gold, pred)


def test_subset_scores_only_predicted_offers() -> None:
    gold = load_gold([gold_row({"Brand": ["A"]}, id=11), gold_row({"Brand": ["B"]}, id=12)])
    ev = score(gold, [record({"Brand": "B"}, id="12")], subset=True)
    assert ev.offers == 1 and ev.exact.micro.VC == 1 and ev.exact.micro.slots == 1


def test_subset_uses_line_numbers_for_gold_without_ids() -> None:
    gold = load_gold([gold_row({"Brand": ["A"]}), gold_row({"Brand": ["B"]}), gold_row({"Brand": ["C"]})])
    ev = score(gold, [record({"Brand": "B"}, id="1")], subset=True)
    assert ev.offers == 1 and ev.exact.micro.VC == 1


def test_files_round_trip_and_bad_lines(tmp_path: Path) -> None:
    gold_path, pred_path = tmp_path / "gold.jsonl", tmp_path / "pred.jsonl"
    gold_path.write_text("\n".join(json.dumps(r) for r in [gold_row({"Brand": ["A"]}, id=1),
                                                           gold_row({"Brand": ["n/a"]}, id=2)]) + "\n\n")
    pred_path.write_text(json.dumps(record({"Brand": "A"}, id="1")) + "\n" + json.dumps(record({"Brand": "Z"}, id="2")) + "\n")
    ev = evaluate_files(gold_path, pred_path)
    assert (ev.exact.micro.VC, ev.exact.micro.NV, ev.offers) == (1, 1, 2)
    pred_path.write_text('{"id": "1", "attributes": {}}\nnot json\n')
    with pytest.raises(EvaluationError, match=r"pred.jsonl:2: not valid JSON"):
        evaluate_files(gold_path, pred_path)


@pytest.mark.parametrize("row, message", [
    ({"target_scores": {"Brand": {"A": 1}}}, "category"),
    ({"category": "Shoes"}, "target_scores"),
    ({"category": "Shoes", "target_scores": {"Brand": "A"}}, "non-empty object"),
    ({"category": "Shoes", "target_scores": {"Brand": {}}}, "non-empty object"),
])
def test_malformed_gold_lines(row: dict[str, Any], message: str) -> None:
    with pytest.raises(EvaluationError, match=message):
        load_gold([row])


def test_prediction_without_attributes_or_error_is_refused() -> None:
    gold = load_gold([gold_row({"Brand": ["A"]})])
    with pytest.raises(EvaluationError, match="attributes"):
        score(gold, [{"id": "0", "error": None}])


# --- property: the scorer agrees with a plain re-count of the papers' rules ------------------

from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

FORMS = st.sampled_from(["Nike", "nike", " Nike ", "Navy Blue", "navy  blue", "10cm", "n/a"])
PREDICTED = st.none() | st.sampled_from(["Nike", "nike", "NIKE", "Navy Blue", "navy blue", "10cm", "n/a", "None",
                                         "Adidas", ""]) | st.integers(0, 3) | st.booleans() | st.just(["Nike"])
ATTRIBUTES = ("Brand", "Color", "Length")


def _recount(gold_rows: list[dict], predictions: list[dict], lenient: bool) -> dict[str, int]:
    """The papers' rules, written out once more without the scorer's helpers."""
    counts = dict.fromkeys(("NN", "NV", "VN", "VC", "VW"), 0)
    for row, prediction in zip(gold_rows, predictions):
        for attribute, forms in row["target_scores"].items():
            forms = [f.strip() for f in forms]
            gold_missing = forms[0] == "n/a"
            value = None if prediction.get("error") else prediction["attributes"].get(attribute)
            if value in ("n/a", "None"):
                value = None
            if value is None:
                counts["NN" if gold_missing else "VN"] += 1
            elif gold_missing:
                counts["NV"] += 1
            elif not isinstance(value, str):
                counts["VW"] += 1
            elif lenient:
                same = " ".join(value.split()).lower() in {" ".join(f.split()).lower() for f in forms if f != "n/a"}
                counts["VC" if same else "VW"] += 1
            else:
                counts["VC" if value in forms else "VW"] += 1
    return counts


@given(st.lists(st.tuples(st.dictionaries(st.sampled_from(ATTRIBUTES), st.lists(FORMS, min_size=1, max_size=3,
                                                                                 unique=True), min_size=1),
                          st.dictionaries(st.sampled_from(ATTRIBUTES), PREDICTED), st.booleans()),
                min_size=1, max_size=8))
def test_the_scorer_agrees_with_a_recount(offers) -> None:
    gold_rows = [{"id": str(i), "category": "Tee", "target_scores": {a: dict.fromkeys(f, 1) for a, f in targets.items()}}
                 for i, (targets, _, _) in enumerate(offers)]
    predictions = [{"id": str(i), "attributes": values, "error": "model error" if failed else None}
                   for i, (_, values, failed) in enumerate(offers)]
    evaluation = score(load_gold(gold_rows), predictions)
    for level, lenient in (("exact", False), ("lenient", True)):
        counts = _recount(gold_rows, predictions, lenient)
        micro = evaluation.level(level).micro
        assert {k: getattr(micro, k) for k in counts} == counts
        predicted, actual = counts["NV"] + counts["VC"] + counts["VW"], counts["VN"] + counts["VC"] + counts["VW"]
        precision = round(100 * counts["VC"] / predicted, 2) if predicted else 0.0
        recall = round(100 * counts["VC"] / actual, 2) if actual else 0.0
        assert (micro.precision, micro.recall) == (precision, recall)
        assert micro.f1 == (round(2 * precision * recall / (precision + recall), 2) if precision + recall else 0.0)
