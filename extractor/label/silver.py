"""An engine's own records as a tagger's training data (silver labels, for distillation): the
texts an engine read and the records it wrote, line by line, become a ``tagger.TrainingSet``, so
``finetune-tagger`` can learn a fast tagger from a slow engine's output without a person labelling.

Records are matched to texts by position (``extract`` writes one record per input line, ids
checked). A line whose text was unusable, or whose record is not ``ok``, is left out. A value whose
confidence (``Record.confidence``) is below ``min_confidence`` becomes null, which teaches the
tagger that the text has no value there: a high threshold trades recall for precision. With
``min_confidence`` above 0 a value without a confidence (free decoding) is dropped too, since it
cannot show it clears the threshold.

A span the engine gave to two attributes of one record (its character offsets overlap) is the
engine unsure what the words are, and a tagger can teach each token one attribute only, the
first of the schema's order, which is arbitrary. With ``shared_spans="drop"`` every value in such
a span becomes null. On AE-110K and OA-Mine train offers the embedded few-shot LLM's values in a
shared span were right 27 % and 22 % of the time, its other values 78 % and 71 %
(docs/notes/2026-12-03-distillation-threshold.md). Records without offsets (free decoding)
compare values instead: the same value, ignoring case, for two attributes is shared."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InputError
from ..records import Document, Record
from ..schemas import Schema
from .tasks import aligned

if TYPE_CHECKING:
    from ..io import InputSpec
    from ..tagger.data import TrainingSet


SHARED_SPANS = ("keep", "drop")
"""What ``silver_set`` does with the values of a span the engine gave to several attributes."""


@dataclass
class SilverReport:
    """What became of the engine's records."""

    texts: int = 0
    """Lines that became training texts."""
    values: int = 0
    """Values kept as labels."""
    dropped: int = 0
    """Values below the confidence threshold (set to null)."""
    shared: int = 0
    """Values in a span the engine also gave another attribute (set to null with ``shared_spans="drop"``)."""
    skipped: int = 0
    """Lines left out: an unusable text, or a record that is not ``ok``."""

    def line(self) -> str:
        shared = f"{self.shared} in a span shared by attributes dropped, " if self.shared else ""
        return (f"silver labels: {self.texts} text(s), {self.values} value(s) kept, {self.dropped} below the "
                f"confidence threshold dropped, {shared}{self.skipped} line(s) left out")


def silver_set(documents: Iterable[Document], records: Iterable[Record | None], schema: Schema,
               min_confidence: float = 0.0, shared_spans: str = "keep") -> tuple[TrainingSet, SilverReport]:
    """A TrainingSet of ``schema`` from the ``records`` an engine made of ``documents`` (aligned by
    position; a None record, an unreadable line of a records file, is left out). ``shared_spans``:
    ``keep`` or ``drop`` the values of a span several attributes were given (module docstring)."""
    from ..tagger.data import TrainingSet, gold_from_records

    if not 0.0 <= min_confidence <= 1.0:
        raise ValueError("min_confidence must be between 0 and 1")
    if shared_spans not in SHARED_SPANS:
        raise ValueError(f"shared_spans must be one of {', '.join(SHARED_SPANS)}")
    report = SilverReport()
    kept_docs: list[Document] = []
    kept: list[dict[str, Any]] = []
    for doc, record in aligned(documents, records):
        if doc.error is not None or not doc.text.strip() or record is None or not record.ok:
            report.skipped += 1
            continue
        values: dict[str, Any] = {}
        shared = shared_attributes(record) if shared_spans == "drop" else set()
        for name in schema.names:
            value = record.attributes.get(name)
            confidence = (record.confidence or {}).get(name)
            if value is not None and min_confidence > 0 and (confidence is None or confidence < min_confidence):
                report.dropped += 1
                value = None
            elif value is not None and name in shared:
                report.shared += 1
                value = None
            report.values += value is not None
            values[name] = value
        kept_docs.append(Document(id=doc.id, text=doc.text, category=schema.name))
        kept.append(values)
    report.texts = len(kept_docs)
    if not kept_docs:
        raise InputError("no usable record: the silver labels hold no training text")
    gold = gold_from_records(kept, schema, [d.id for d in kept_docs])
    return TrainingSet(kept_docs, gold, {schema.name: schema}), report


def shared_attributes(record: Record) -> set[str]:
    """The attributes of ``record`` whose value lies in a span it also gave another attribute:
    overlapping character offsets, or, for a value without offsets, the same value ignoring case."""
    spans = [(name, span) for name, span in (record.spans or {}).items()
             if span is not None and record.attributes.get(name) is not None]
    shared = {a for a, (s, e) in spans for b, (t, u) in spans if a != b and s < u and t < e}
    placed = {name for name, _ in spans}
    seen: dict[str, list[str]] = {}
    for name, value in record.attributes.items():
        if name not in placed and isinstance(value, (str, int, float)) and not isinstance(value, bool):
            seen.setdefault(str(value).strip().casefold(), []).append(name)
    shared.update(name for names in seen.values() if len(names) > 1 for name in names)
    return shared


def silver_training_set(texts: str | Path, records: str | Path, schema: Schema, min_confidence: float = 0.0,
                        spec: InputSpec | None = None, encoding: str = "utf-8",
                        shared_spans: str = "keep") -> tuple[TrainingSet, SilverReport]:
    """``silver_set`` of a texts file (what ``extract`` read: JSONL or CSV, read by ``io.read_documents``
    with ``spec``) and the records file ``extract`` wrote from it."""
    from ..io import iter_records, read_documents

    return silver_set(read_documents(texts, spec, encoding), iter_records(records), schema, min_confidence,
                      shared_spans)
