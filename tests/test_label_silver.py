"""An engine's records as a tagger's training set (extractor/label/silver.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from extractor.errors import InputError
from extractor.evaluate.scorer import GOLD_ABSENT
from extractor.io import write_records
from extractor.label import silver_set, silver_training_set
from extractor.records import Document, Provenance, Record
from extractor.schemas import load_schema

SCHEMA = load_schema(Path(__file__).parent / "fixtures" / "label-studio" / "shoes.schema.json")
PROVENANCE = Provenance(model="m", adapter=None, prompt="p", schema="shoes", decoding="constrained")


def record(id: str, attributes: dict[str, Any], confidence: dict[str, float | None] | None = None,
           status: str = "ok") -> Record:
    return Record(id=id, attributes={n: attributes.get(n) for n in SCHEMA.names}, provenance=PROVENANCE,
                  confidence=confidence, status=status)


DOCS = [Document(id="1", text="Nike shoe black size 10"), Document(id="2", text="Puma sneaker red"),
        Document(id="3", text="Adidas"), Document(id="4", text="", error="line 4: not JSON")]
RECORDS = [record("1", {"Brand": "Nike", "Color": ["black"], "Size": "10"},
                  {"Brand": 0.9, "Color": 0.4, "Size": 0.8, "Waterproof": None}),
           record("2", {"Brand": "Puma", "Color": ["red"]}, None),  # free decoding: no confidence
           record("3", {}, status="invalid"),
           record("4", {}, status="failed")]


@pytest.mark.parametrize(("minimum", "targets_1", "targets_2", "dropped"), [
    (0.0, {"Brand": ("Nike",), "Color": ("black",), "Size": ("10",)},
     {"Brand": ("Puma",), "Color": ("red",), "Size": (GOLD_ABSENT,)}, 0),
    (0.5, {"Brand": ("Nike",), "Color": (GOLD_ABSENT,), "Size": ("10",)},
     {"Brand": (GOLD_ABSENT,), "Color": (GOLD_ABSENT,), "Size": (GOLD_ABSENT,)}, 3),
    (0.85, {"Brand": ("Nike",), "Color": (GOLD_ABSENT,), "Size": (GOLD_ABSENT,)},
     {"Brand": (GOLD_ABSENT,), "Color": (GOLD_ABSENT,), "Size": (GOLD_ABSENT,)}, 4),
])
def test_values_below_the_confidence_become_null(minimum: float, targets_1: dict[str, Any],
                                                 targets_2: dict[str, Any], dropped: int) -> None:
    training, report = silver_set(DOCS, RECORDS, SCHEMA, minimum)
    assert [d.text for d in training.documents] == ["Nike shoe black size 10", "Puma sneaker red"]
    assert training.gold[0].targets == targets_1  # the boolean attribute takes no span: no target
    assert training.gold[1].targets == targets_2
    assert report.dropped == dropped and report.skipped == 2 and report.texts == 2
    assert report.values == 5 - dropped


def test_records_of_other_texts_are_refused() -> None:
    with pytest.raises(InputError, match="not of text"):
        silver_set(DOCS[:2], list(reversed(RECORDS[:2])), SCHEMA)
    with pytest.raises(InputError, match="records end"):
        silver_set(DOCS, RECORDS[:2], SCHEMA)
    with pytest.raises(InputError, match="more records"):
        silver_set(DOCS[:1], RECORDS[:2], SCHEMA)


def test_no_usable_record_is_an_error() -> None:
    with pytest.raises(InputError, match="no usable record"):
        silver_set(DOCS[2:], RECORDS[2:], SCHEMA)


def test_files_as_extract_reads_and_writes_them(tmp_path: Path) -> None:
    texts = tmp_path / "offers.jsonl"
    texts.write_text("".join(json.dumps({"id": d.id, "text": d.text}) + "\n" for d in DOCS[:3]), encoding="utf-8")
    write_records(tmp_path / "records.jsonl", RECORDS[:3])
    training, report = silver_training_set(texts, tmp_path / "records.jsonl", SCHEMA, 0.5)
    assert [g.targets["Brand"] for g in training.gold] == [("Nike",), (GOLD_ABSENT,)]
    assert report.line() == ("silver labels: 2 text(s), 2 value(s) kept, 3 below the confidence threshold "
                             "dropped, 1 line(s) left out")
