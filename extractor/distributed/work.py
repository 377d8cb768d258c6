"""One shard, extracted by one engine: what a worker does with each shard it is handed.

The shard's records go to its ``.partial`` file, flushed as they come, and the file is moved to its
final name once it holds every line's record; a partial file left by a worker that died is continued
from its last whole record (as ``extract --resume`` continues an output file). Lines are handed to the
engine ``batch_size`` at a time; anything a batch raises becomes ``failed`` records for that batch's
lines, so one bad batch costs its lines, never the shard or the job. No Ray here: the Ray job
(``run``) calls ``run_shard`` inside its actors, and tests call it directly."""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from itertools import islice
from typing import Any

from ..engine import Engine
from ..io import InputSpec, RecordWriter, resume_point
from ..lines import DEFAULT_ENCODING
from ..pipeline import Summary, extract_stream
from ..records import Document, Record
from .shards import Shard, ShardLayout, log_attempt, read_attempts, reprocessed, shard_documents


@dataclass
class ShardResult:
    """What one attempt at a shard did (one row of ``_summary.json``'s shards, with the run's additions)."""

    shard: str
    """The shard's name (``part-00000``)."""
    lines: int
    """Lines (records) the shard holds."""
    ok: int = 0
    invalid: int = 0
    failed: int = 0
    resumed: int = 0
    """Records an earlier, interrupted attempt had written and this one kept."""
    seconds: float = 0.0
    """Time this attempt spent extracting (model load not included)."""
    attempts: int = 0
    """How many times a worker started the shard (2 or more: a worker died, or a run was interrupted)."""
    reprocessed: int = 0
    """Lines extracted again because an attempt died after starting them and before writing them."""
    worker: int = 0
    """Process id of the worker that finished it."""
    load_seconds: float = 0.0
    """How long that worker took to build its engine (load the model)."""
    peak_rss_mb: float = 0.0
    """That worker's peak resident memory when it finished the shard."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def failed_records(engine: Engine, docs: list[Document], message: str) -> list[Record]:
    """A ``failed`` record for each of ``docs``, saying ``message`` (a batch whose engine raised)."""
    return [Record(id=doc.id, attributes={name: None for name in engine.schema.names}, provenance=engine.provenance,
                   error=message, status="failed") for doc in docs]


def extract_batch_safely(engine: Engine, docs: list[Document]) -> list[Record]:
    """The records of ``docs`` (``extract_stream``: per-line schemas, one bad line costing itself), or
    failed records for all of them when the batch raises anyway (an ExtractorError, a crash in the
    engine): the policy a worker follows, so a batch never fails the job."""
    records: list[Record] = []
    try:
        extract_stream(engine, docs, on_record=records.append)
    except Exception as exc:  # noqa: BLE001  (the batch's lines get failed records; the job goes on)
        return failed_records(engine, docs, f"batch error: {type(exc).__name__}: {exc}")
    return records


def peak_rss_mb() -> float:
    """This process's peak resident memory in MiB (0 where the platform does not say)."""
    try:
        import resource
    except ImportError:  # pragma: no cover  (Windows)
        return 0.0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1 << 20) if os.uname().sysname == "Darwin" else peak / 1024


def run_shard(engine: Engine, layout: ShardLayout, shard: Shard, *, batch_size: int = 64,
              input_spec: InputSpec | None = None, encoding: str = DEFAULT_ENCODING) -> ShardResult:
    """Extract ``shard`` with ``engine`` into its file (continuing a partial one), log the attempt,
    and move the file into place when whole. A shard already finished is left as it is."""
    result = ShardResult(shard=shard.name, lines=shard.count, worker=os.getpid())
    final, partial = layout.final(shard), layout.partial(shard)
    if final.is_file():
        result.attempts = sum(1 for e in read_attempts(layout, shard) if "resumed_at" in e)
        return result
    skip = resume_point(partial, shard_documents(shard, input_spec, encoding)) if partial.is_file() else 0
    attempt = sum(1 for e in read_attempts(layout, shard) if "resumed_at" in e) + 1
    log_attempt(layout, shard, {"attempt": attempt, "resumed_at": skip, "pid": os.getpid()})
    summary = Summary(skipped=skip)
    start = time.perf_counter()
    docs = islice(shard_documents(shard, input_spec, encoding), skip, None)
    position = skip
    with RecordWriter(partial, append=True) as writer:
        while batch := list(islice(docs, batch_size)):
            position += len(batch)
            log_attempt(layout, shard, {"attempt": attempt, "through": position})
            for record in extract_batch_safely(engine, batch):
                summary.add(record)
                writer.write(record)
    if skip:  # the counts cover the whole shard: add those of the records an earlier attempt wrote
        for line in islice(partial.read_text(encoding="utf-8").splitlines(), skip):
            status = json.loads(line)["status"]
            setattr(summary, status, getattr(summary, status) + 1)
    os.replace(partial, final)
    result.ok, result.invalid, result.failed = summary.ok, summary.invalid, summary.failed
    result.resumed = skip
    result.seconds = time.perf_counter() - start
    result.attempts = attempt
    result.reprocessed = reprocessed(read_attempts(layout, shard))
    result.peak_rss_mb = peak_rss_mb()
    return result
