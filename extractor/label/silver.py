"""An engine's own records as a tagger's training data (silver labels, for distillation): the
texts an engine read and the records it wrote, line by line, become a ``tagger.TrainingSet``, so
``finetune-tagger`` can learn a fast tagger from a slow engine's output without a person labelling.

Records are matched to texts by position (``extract`` writes one record per input line, ids
checked). A line whose text was unusable, or whose record is not ``ok``, is left out. A value whose
confidence (``Record.confidence``) is below ``min_confidence`` becomes null, which teaches the
tagger that the text has no value there: a high threshold trades recall for precision. With
``min_confidence`` above 0 a value without a confidence (free decoding) is dropped too, since it
cannot show it clears the threshold."""

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


@dataclass
class SilverReport:
    """What became of the engine's records."""

    texts: int = 0
    """Lines that became training texts."""
    values: int = 0
    """Values kept as labels."""
    dropped: int = 0
    """Values below the confidence threshold (set to null)."""
    skipped: int = 0
    """Lines left out: an unusable text, or a record that is not ``ok``."""

    def line(self) -> str:
        return (f"silver labels: {self.texts} text(s), {self.values} value(s) kept, {self.dropped} below the "
                f"confidence threshold dropped, {self.skipped} line(s) left out")


def silver_set(documents: Iterable[Document], records: Iterable[Record | None], schema: Schema,
               min_confidence: float = 0.0) -> tuple[TrainingSet, SilverReport]:
    """A TrainingSet of ``schema`` from the ``records`` an engine made of ``documents`` (aligned by
    position; a None record, an unreadable line of a records file, is left out)."""
    from ..tagger.data import TrainingSet, gold_from_records

    if not 0.0 <= min_confidence <= 1.0:
        raise ValueError("min_confidence must be between 0 and 1")
    report = SilverReport()
    kept_docs: list[Document] = []
    kept: list[dict[str, Any]] = []
    for doc, record in aligned(documents, records):
        if doc.error is not None or not doc.text.strip() or record is None or not record.ok:
            report.skipped += 1
            continue
        values: dict[str, Any] = {}
        for name in schema.names:
            value = record.attributes.get(name)
            confidence = (record.confidence or {}).get(name)
            if value is not None and min_confidence > 0 and (confidence is None or confidence < min_confidence):
                report.dropped += 1
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


def silver_training_set(texts: str | Path, records: str | Path, schema: Schema, min_confidence: float = 0.0,
                        spec: InputSpec | None = None, encoding: str = "utf-8") -> tuple[TrainingSet, SilverReport]:
    """``silver_set`` of a texts file (what ``extract`` read: JSONL or CSV, read by ``io.read_documents``
    with ``spec``) and the records file ``extract`` wrote from it."""
    from ..io import iter_records, read_documents

    return silver_set(read_documents(texts, spec, encoding), iter_records(records), schema, min_confidence)
