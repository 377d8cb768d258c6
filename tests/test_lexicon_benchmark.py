"""benchmarks/lexicon.py: values moved onto known train values, and the snapped records scored."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from extractor.evaluate.scorer import load_gold
from extractor.records import Provenance, Record
from conftest import load_script

REPO = Path(__file__).resolve().parent.parent
lexicon = load_script("benchmarks/lexicon.py", "benchmarks_lexicon")

BRANDS = Counter({"Oral-B": 5, "Nescafe Dolce Gusto": 2, "Post": 3, "Post Consumer Brands": 1, "Colgate": 4})


@pytest.mark.parametrize("value,text,cut,expected", [
    ("Oral-B Pro 1000", "Oral-B Pro 1000 Electric Toothbrush", True, "Oral-B"),          # cut to the known brand
    ("Oral-B Pro 1000", "Oral-B Pro 1000 Electric Toothbrush", False, "Oral-B Pro 1000"),  # cutting not allowed
    ("Dolce", "Nescafe Dolce Gusto Capsules, 16 ct", False, "Nescafe Dolce Gusto"),        # widened
    ("Dolce", "Dolce Latte Pods", False, "Dolce"),                   # the known value is not in the text
    ("Colgate", "Colgate Plus Toothbrush", True, "Colgate"),          # known values stay
    ("Post Honey", "Post Honey Bunches of Oats", True, "Post"),      # the most frequent known value inside
    ("Oral", "Oral-B Pro", False, "Oral-B"),                         # '-' is a word boundary
    ("Colgat", "Colgate Toothbrush", True, "Colgat"),                # inside a word: no known value at a boundary
    ("Crest 3D", "Crest 3D White", True, "Crest 3D"),                # nothing known
])
def test_snap_value(value: str, text: str, cut: bool, expected: str) -> None:
    assert lexicon.snap_value(value, text, BRANDS, cut) == expected


TRAIN = [
    {"input": "Oral-B Pro 1000 Toothbrush", "category": "Toothbrush",
     "target_scores": {"Brand": {"Oral-B": 1}, "Specialty": {"n/a": 1}}},
    {"input": "Oral-B Kids Toothbrush Soft", "category": "Toothbrush",
     "target_scores": {"Brand": {"Oral-B": 1}, "Specialty": {"Kids": 1}}},
    {"input": "Sensitive Soft Toothbrush", "category": "Toothbrush",
     "target_scores": {"Brand": {"n/a": 1}, "Specialty": {"Sensitive Soft": 1}}},
]
GOLD = [
    {"input": "Oral-B Vitality Toothbrush Sensitive Soft", "category": "Toothbrush",
     "target_scores": {"Brand": {"Oral-B": 1}, "Specialty": {"Sensitive Soft": 1}}},
    {"input": "Dr. Plotka Mouthwatchers", "category": "Toothbrush",
     "target_scores": {"Brand": {"Dr. Plotka": 1}}},
]


def test_lexicon_lists_every_known_form_but_absent_ones() -> None:
    known = lexicon.build_lexicon(load_gold(TRAIN))
    assert known[("Toothbrush", "Brand")] == Counter({"Oral-B": 2})
    assert known[("Toothbrush", "Specialty")] == Counter({"Kids": 1, "Sensitive Soft": 1})


def test_main_snaps_scores_and_writes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    train, gold, records, out = (tmp_path / n for n in ("train.jsonl", "gold.jsonl", "records.jsonl", "out.jsonl"))
    train.write_text("".join(json.dumps(r) + "\n" for r in TRAIN), encoding="utf-8")
    gold.write_text("".join(json.dumps(r) + "\n" for r in GOLD), encoding="utf-8")
    provenance = Provenance(model="t", adapter=None, prompt="tagger", schema="Toothbrush", decoding="tagger")
    rows = [Record(id="0", attributes={"Brand": "Oral-B Vitality", "Specialty": "Soft"}, provenance=provenance,
                   spans={"Brand": [0, 15], "Specialty": [36, 40]}),
            Record(id="1", attributes={"Brand": "Dr. Plotka", "Specialty": None}, provenance=provenance,
                   spans={"Brand": [0, 10], "Specialty": None})]
    records.write_text("".join(json.dumps(r.to_dict()) + "\n" for r in rows), encoding="utf-8")

    assert lexicon.main(["--train", str(train), "--gold", str(gold), str(records), "--out", str(out)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith(" 33.33") and printed[1].startswith("100.00  snapped")
    assert "1 records changed, VC 1 -> 3, VW 2 -> 0" in printed[1]
    snapped = [json.loads(line) for line in out.read_text().splitlines()]
    assert snapped[0]["attributes"] == {"Brand": "Oral-B", "Specialty": "Sensitive Soft"}
    assert snapped[0]["spans"] == {"Brand": [0, 6], "Specialty": [27, 41]}  # where the text holds them
    assert snapped[1]["attributes"] == {"Brand": "Dr. Plotka", "Specialty": None}


def test_records_of_other_offers_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    train, gold, records = (tmp_path / n for n in ("train.jsonl", "gold.jsonl", "records.jsonl"))
    train.write_text(json.dumps(TRAIN[0]) + "\n", encoding="utf-8")
    gold.write_text("".join(json.dumps(r) + "\n" for r in GOLD), encoding="utf-8")
    provenance = Provenance(model="t", adapter=None, prompt="tagger", schema="Toothbrush", decoding="tagger")
    records.write_text(json.dumps(Record(id="1", attributes={"Brand": None}, provenance=provenance).to_dict()) + "\n",
                       encoding="utf-8")
    assert lexicon.main(["--train", str(train), "--gold", str(gold), str(records)]) == 2
    assert "not the offers of" in capsys.readouterr().err
