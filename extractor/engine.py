"""What every extraction engine offers: the LLM Extractor (pipeline.py), the tagger
(tagger/engine.py) and an ensemble of them (ensemble.py).

An engine turns a batch of documents into one record each (``extract_batch``) for one schema,
and makes siblings for other schemas on the same loaded model (``with_schema``); ``extract`` and
``extract_documents`` are built on those, so ``extract_stream``, the CLI and the benchmark runner
take any engine."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from .records import Document, Provenance, Record
from .schemas import Schema


def batches(items: Iterable[Document], size: int) -> Iterator[list[Document]]:
    """Consecutive lists of ``size`` items (the last one shorter), read lazily."""
    batch: list[Document] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


class Engine:
    """Base of the engines; subclasses set the three attributes and ``with_schema`` and
    ``extract_batch``."""

    schema: Schema
    config: Any
    """The engine's settings; ``config.batch_size`` documents go to each ``extract_batch``."""
    provenance: Provenance

    def with_schema(self, schema: Schema | str, shots: Any = None) -> Engine:
        """Another engine of the same kind on the same loaded model, for ``schema``."""
        raise NotImplementedError

    def extract_batch(self, docs: list[Document]) -> list[Record]:
        """One record per document, in order (an unusable document gets an error record)."""
        raise NotImplementedError

    def _error_record(self, job: Any, status: str, message: str) -> Record:
        """The record for ``job.doc`` when it cannot be extracted (e.g. its schema does not load):
        every attribute null, the error, and the job's warnings."""
        return Record(id=job.doc.id, attributes=dict.fromkeys(self.schema.names), provenance=self.provenance,
                      error=message, status=status, warnings=list(job.warnings), attempts=0)

    def extract(self, texts: Iterable[str]) -> list[Record]:
        """Records for plain texts (ids are their 1-based positions)."""
        return list(self.extract_documents(Document(id=str(i), text=t) for i, t in enumerate(texts, 1)))

    def extract_documents(self, documents: Iterable[Document]) -> Iterator[Record]:
        """One record per document, in input order, extracted in batches."""
        for batch in batches(documents, self.config.batch_size):
            yield from self.extract_batch(batch)
