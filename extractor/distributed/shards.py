"""Shards: a run's input lines cut into numbered runs of whole lines, each written to its own file in
the output folder, so that many workers can extract at once and the CLI's promises still hold.

Every input line belongs to exactly one shard, and every shard's file holds one record per line, in
input order; ``collect`` joins the files in shard order into the output a single-process ``extract``
would have written. The plan (which lines each shard holds) is kept in ``_shards.json``, so a rerun
knows which shards are done (their file exists), which are half done (a ``.partial`` file, continued
as ``extract --resume`` would) and refuses an output folder made from other inputs.

This module never imports Ray: the plan, the files and the join work without it."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from itertools import islice
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..io import InputSpec, read_documents
from ..lines import DEFAULT_ENCODING
from ..records import Document

MANIFEST = "_shards.json"
"""The plan of an output folder: the inputs, the shard size, and every shard's lines."""
SUMMARY = "_summary.json"
"""What the last run did, shard by shard (``run.run_distributed`` writes it)."""
ATTEMPTS = "_attempts"
"""Sub-folder with one log per shard: a line each time a worker starts it, and each batch it starts."""
COLLECT_FORMATS = ("jsonl", "parquet")


@dataclass(frozen=True)
class Shard:
    """A run of whole input lines of one input file, the unit a worker extracts and writes."""

    index: int
    """Position among all the run's shards (input files in the order given, lines in file order)."""
    source: str
    """The input file the lines come from."""
    start: int
    """0-based position of the shard's first line among the file's documents (CSV: rows)."""
    count: int
    """How many lines (documents) the shard holds."""

    @property
    def name(self) -> str:
        """The shard's file name without extension: ``part-00000``, sorting in shard order."""
        return f"part-{self.index:05d}"


@dataclass(frozen=True)
class ShardLayout:
    """Where an output folder keeps each thing."""

    folder: Path
    """The output folder."""

    def final(self, shard: Shard) -> Path:
        """The shard's finished file (it exists only once every line has its record)."""
        return self.folder / f"{shard.name}.jsonl"

    def partial(self, shard: Shard) -> Path:
        """The file a shard is written to until it is whole, then moved to ``final``."""
        return self.folder / f"{shard.name}.jsonl.partial"

    def attempts(self, shard: Shard) -> Path:
        """The shard's attempt log (``read_attempts``)."""
        return self.folder / ATTEMPTS / f"{shard.name}.jsonl"

    @property
    def manifest(self) -> Path:
        return self.folder / MANIFEST

    @property
    def summary(self) -> Path:
        return self.folder / SUMMARY


# --- the plan -------------------------------------------------------------------------------------

def count_documents(path: str | Path, spec: InputSpec | None = None, encoding: str = DEFAULT_ENCODING) -> int:
    """How many documents (output records) ``path`` yields: one per line, one per CSV row."""
    return sum(1 for _ in read_documents(path, spec, encoding))


def split_counts(counts: Sequence[tuple[str, int]], shard_lines: int) -> list[Shard]:
    """Shards of at most ``shard_lines`` lines over files of the given (path, document count): each
    file cut in order, a shard never spanning two files, the shards numbered across all files."""
    if shard_lines < 1:
        raise InputError("shard_lines must be at least 1")
    shards: list[Shard] = []
    for source, count in counts:
        for start in range(0, count, shard_lines):
            shards.append(Shard(len(shards), str(source), start, min(shard_lines, count - start)))
    return shards


def plan_shards(inputs: Sequence[str | Path], shard_lines: int, spec: InputSpec | None = None,
                encoding: str = DEFAULT_ENCODING) -> list[Shard]:
    """The shards of ``inputs`` (files, not standard input: each worker reads its own lines)."""
    counts = []
    for path in inputs:
        if str(path) == "-" or not Path(path).is_file():
            raise InputError(f"input file not found: {path} (extract-distributed reads files, not standard input)")
        counts.append((str(path), count_documents(path, spec, encoding)))
    return split_counts(counts, shard_lines)


def shard_documents(shard: Shard, spec: InputSpec | None = None,
                    encoding: str = DEFAULT_ENCODING) -> Iterator[Document]:
    """The shard's documents, ids as a whole-file run gives them (a line without an id: its line number)."""
    return islice(read_documents(shard.source, spec, encoding), shard.start, shard.start + shard.count)


def write_plan(layout: ShardLayout, shards: Sequence[Shard], shard_lines: int) -> None:
    """Keep the plan in the output folder; a folder holding another plan (other inputs, another
    shard size, files that changed length) is InputError: its shards are not this run's."""
    plan = {"shard_lines": shard_lines, "shards": [asdict(s) for s in shards]}
    if layout.manifest.is_file():
        known = read_plan(layout)
        if [asdict(s) for s in known] != plan["shards"]:
            raise InputError(f"{layout.folder} holds the shards of another run (other inputs, another shard size, or "
                             "inputs that changed since); write to a new folder, or remove it")
        return
    layout.folder.mkdir(parents=True, exist_ok=True)
    (layout.folder / ATTEMPTS).mkdir(exist_ok=True)
    write_json(layout.manifest, plan)


def read_plan(layout: ShardLayout) -> list[Shard]:
    """The shards an output folder's plan lists (InputError when it has none)."""
    try:
        plan = json.loads(layout.manifest.read_text(encoding="utf-8"))
        return [Shard(**row) for row in plan["shards"]]
    except FileNotFoundError:
        raise InputError(f"{layout.folder} has no {MANIFEST}: it is not an output folder of extract-distributed") \
            from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{layout.manifest} is not a shard plan: {exc}") from exc


def write_json(path: Path, data: Any) -> None:
    """``data`` as JSON at ``path``, written to a temporary name first so a reader never sees half."""
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(temporary, path)


def pending(layout: ShardLayout, shards: Sequence[Shard]) -> list[Shard]:
    """The shards that have no finished file yet (to run, or to continue from their partial file)."""
    return [s for s in shards if not layout.final(s).is_file()]


# --- attempts ---------------------------------------------------------------------------------------

def log_attempt(layout: ShardLayout, shard: Shard, entry: dict[str, Any]) -> None:
    """Append one line to the shard's attempt log, flushed at once (a worker may die next)."""
    path = layout.attempts(shard)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def read_attempts(layout: ShardLayout, shard: Shard) -> list[dict[str, Any]]:
    """The shard's attempt log: ``{"attempt", "resumed_at", "pid"}`` when a worker starts it, then
    ``{"attempt", "through"}`` before each batch (the shard position the batch reaches)."""
    path = layout.attempts(shard)
    if not path.is_file():
        return []
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entries.append(json.loads(line))
        except ValueError:  # a line half written when the worker died
            continue
    return entries


def reprocessed(entries: Sequence[dict[str, Any]]) -> int:
    """Lines extracted again because an attempt died after starting them and before writing them:
    per restart, how far the dead attempt had started minus where the next one resumed."""
    starts = [e for e in entries if "resumed_at" in e]
    redone = 0
    for earlier, later in zip(starts, starts[1:]):
        reached = max((e["through"] for e in entries if e.get("attempt") == earlier["attempt"] and "through" in e),
                      default=earlier["resumed_at"])
        redone += max(0, reached - later["resumed_at"])
    return redone


# --- the join ---------------------------------------------------------------------------------------

def collect(folder: str | Path, output: str | Path, fmt: str = "jsonl") -> int:
    """Join an output folder's finished shards, in input order, into ``output`` (``jsonl``: the bytes
    a single-process ``extract`` writes; ``parquet``: one row per record with columns id, status,
    error and record, the record's JSON line). InputError when a shard is not finished (it names
    them: rerun extract-distributed to finish them). Returns the number of records."""
    from ..io import written_whole

    if fmt not in COLLECT_FORMATS:
        raise InputError(f"collect writes {' or '.join(COLLECT_FORMATS)}, not {fmt!r}")
    layout = ShardLayout(Path(folder))
    shards = read_plan(layout)
    missing = pending(layout, shards)
    if missing:
        names = ", ".join(s.name for s in missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise InputError(f"{len(missing)} of {len(shards)} shards are not finished ({names}); "
                         "rerun extract-distributed on the same inputs to finish them")
    with written_whole(output) as target:
        if fmt == "parquet":
            return _write_parquet(layout, shards, target)
        total = 0
        with open(target, "wb") as out:
            for shard in shards:
                data = layout.final(shard).read_bytes()
                lines = data.count(b"\n")
                if lines != shard.count:
                    raise InputError(f"{layout.final(shard)} holds {lines} records where its shard has {shard.count} "
                                     "lines; remove it and rerun extract-distributed")
                out.write(data)
                total += lines
        return total


def _write_parquet(layout: ShardLayout, shards: Sequence[Shard], target: str) -> int:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise InputError("--format parquet needs pyarrow (pip install 'extractor[ray]')") from exc
    columns: dict[str, list[Any]] = {"id": [], "status": [], "error": [], "record": []}
    for shard in shards:
        lines = layout.final(shard).read_text(encoding="utf-8").splitlines()
        if len(lines) != shard.count:
            raise InputError(f"{layout.final(shard)} holds {len(lines)} records where its shard has "
                             f"{shard.count} lines")
        for line in lines:
            row = json.loads(line)
            columns["id"].append(row["id"])
            columns["status"].append(row["status"])
            columns["error"].append(row.get("error"))
            columns["record"].append(line)
    pq.write_table(pa.table({name: pa.array(values, pa.string()) for name, values in columns.items()}), target)
    return len(columns["id"])
