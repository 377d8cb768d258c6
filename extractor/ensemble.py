"""Several engines on the same documents, one merged record each.

The LLM and the tagger both extract with high precision and modest recall, and they miss different
values. Merging their records keeps a value wherever either engine found one, so recall rises while
precision barely moves (measured: docs/notes/2026-11-29-llm-and-tagger-merged.md). Per
attribute:

- every value some engine wrote is a candidate; engines that wrote the same value pool their
  confidences (the sum), and the candidate with the highest pooled confidence wins (ties: the
  engine listed first);
- the attribute is null only when no engine wrote a value.

An engine that reports no confidence (free decoding) counts 0, so in a conflict any engine that
does report one wins.

The winner's span and confidence are kept. Normalization is not the ensemble's: it runs once, on
the merged records (``spec.SpecEngine``), so canonical values belong to the winners."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import zip_longest
from pathlib import Path
from typing import Any

from .engine import Engine
from .errors import ConfigError, InputError, SchemaError
from .records import Document, Provenance, Record
from .schemas import Schema


@dataclass
class _Candidate:
    value: Any
    score: float = 0.0
    best: tuple[float, int] = (-1.0, 0)
    """(confidence, member index) of the surest member that wrote this value."""


def _confidence(record: Record, name: str) -> float:
    value = (record.confidence or {}).get(name)
    return float(value) if value is not None else 0.0


def merge_records(records: Sequence[Record], provenance: Provenance) -> Record:
    """One record from the records several engines wrote for the same document (same schema,
    same attribute order), by the rule in this module's docstring. Records that are not ``ok``
    take no part; when none is, the result is the first one's error, under ``provenance``."""
    if not records:
        raise ConfigError("merge_records needs at least one record")
    usable = [(i, r) for i, r in enumerate(records) if r.ok]
    if not usable:
        first = records[0]
        errors = "; ".join(f"{r.provenance.model}: {r.error}" for r in records if r.error)
        return Record(id=first.id, attributes=dict.fromkeys(first.attributes), provenance=provenance,
                      error=errors or first.error, status=first.status, warnings=_warnings(records),
                      attempts=max(r.attempts for r in records))
    first = usable[0][1]
    attributes: dict[str, Any] = {}
    spans: dict[str, list[int] | None] = {}
    confidence: dict[str, float | None] = {}
    for name in first.attributes:
        candidates: dict[str, _Candidate] = {}
        for index, record in usable:
            value = record.attributes.get(name)
            if value is None:
                continue
            conf = _confidence(record, name)
            candidate = candidates.setdefault(json.dumps(value, sort_keys=True), _Candidate(value))
            candidate.score += conf
            if conf > candidate.best[0]:
                candidate.best = (conf, index)
        if not candidates:
            attributes[name] = None
            spans[name] = None
            nulls = [c for _, r in usable if (c := (r.confidence or {}).get(name)) is not None]
            confidence[name] = max(nulls) if nulls else None
            continue
        # max() keeps the first of equal scores, and candidates are in member order
        winner = max(candidates.values(), key=lambda c: c.score)
        source = records[winner.best[1]]
        attributes[name] = winner.value
        spans[name] = (source.spans or {}).get(name)
        confidence[name] = (source.confidence or {}).get(name)
    warnings = _warnings(records)
    warnings += [f"{r.provenance.model}: {r.status}: {r.error}" for r in records if not r.ok]
    return Record(id=first.id, attributes=attributes, provenance=provenance, warnings=warnings, spans=spans,
                  confidence=confidence, attempts=max(r.attempts for r in records))


def _warnings(records: Sequence[Record]) -> list[str]:
    return [f"{r.provenance.model}: {w}" for r in records for w in r.warnings]


def ensemble_provenance(members: Sequence[Provenance]) -> Provenance:
    """The members' provenances side by side: models, adapters and prompts joined with '+'."""
    adapters = [m.adapter for m in members if m.adapter]
    return Provenance(model="+".join(m.model for m in members), adapter="+".join(adapters) if adapters else None,
                      prompt="+".join(m.prompt for m in members), schema=members[0].schema, decoding="ensemble",
                      members=list(members))


class Ensemble(Engine):
    """Runs every member engine on each batch and merges their records (``merge_records``).
    Members must read the same schema; the first member's batch size sets the batches."""

    def __init__(self, members: Sequence[Engine]) -> None:
        if len(members) < 2:
            raise ConfigError("an ensemble needs at least two engines")
        schema = members[0].schema
        other = [m for m in members[1:] if m.schema.id != schema.id]
        if other:
            raise SchemaError(f"ensemble members read different schemas: {schema.id} and "
                              f"{', '.join(m.schema.id for m in other)}", schema=schema.name)
        self.members = list(members)
        self.schema = schema
        self.config = members[0].config
        self.provenance = ensemble_provenance([m.provenance for m in members])

    def with_schema(self, schema: Schema | str, shots: Any = None) -> Ensemble:
        """The same engines for another schema (each member loads nothing new). The first member
        resolves ``schema``; the others are given the schema it resolved, so all read the same one."""
        first = self.members[0].with_schema(schema, shots)
        rest = [m.with_schema(first.schema, shots) for m in self.members[1:]]
        return Ensemble([first, *rest])

    def extract_batch(self, docs: list[Document]) -> list[Record]:
        per_member = [m.extract_batch(docs) for m in self.members]
        return [merge_records(records, self.provenance) for records in zip(*per_member)]


# --- records files that several runs wrote ---------------------------------------------------

@dataclass
class MergeStats:
    """What ``merge_files`` wrote."""

    records: int = 0
    """Output lines (one per input line)."""
    errors: int = 0
    """Output lines that are errors: no member had a usable record for that line."""
    bad_lines: int = 0
    """Member lines that were not records; those members sat out their line."""
    schema_versions: dict[str, set[str]] = field(default_factory=dict)
    """Schema name → the versions the runs used, where they used more than one."""


def _schema_name(schema_id: str) -> str:
    return schema_id.split("@", 1)[0]


def merge_line(names: Sequence[str], number: int, records: Sequence[Record | None]) -> Record:
    """The merged record of one line of several runs' files (``names``, for messages), by
    ``merge_records``; a member whose line was unreadable (None) sits it out. Runs of other
    documents (other ids) or other schemas (another name or other attributes) are refused: merging
    them would be silently wrong. Versions of one schema (``name@version``) that name the same
    attributes merge by attribute name: an edited description or example changes the version."""
    present = [(name, r) for name, r in zip(names, records) if r is not None]
    if not present:
        raise InputError(f"line {number}: no file has a record there")
    first_name, first = present[0]
    for name, record in present[1:]:
        if record.id != first.id:
            raise InputError(f"line {number}: {name} has record {record.id!r} where {first_name} has {first.id!r}; "
                             "merge only the runs of one input file")
        schema = record.provenance.schema
        if _schema_name(schema) != _schema_name(first.provenance.schema) or (
                record.ok and first.ok and set(record.attributes) != set(first.attributes)):
            raise SchemaError(f"line {number}: {name} used schema {schema!r} ({', '.join(record.attributes)}), "
                              f"{first_name} {first.provenance.schema!r} ({', '.join(first.attributes)})", schema=schema)
    group = [r for _, r in present]
    return merge_records(group, ensemble_provenance([r.provenance for r in group]))


def merge_runs(names: Sequence[str], runs: Sequence[Sequence[Record]]) -> list[Record]:
    """The records of several runs over the same documents (in memory) merged line by line."""
    lengths = {len(run) for run in runs}
    if len(lengths) > 1:
        raise InputError("the runs hold different numbers of records: "
                         + ", ".join(f"{name} {len(run)}" for name, run in zip(names, runs)))
    return [merge_line(names, number, group) for number, group in enumerate(zip(*runs), 1)]


_END: Any = object()
"""What ``zip_longest`` gives for a file that has run out of lines."""


def merge_files(paths: Sequence[str | Path], output: str | Path,
                on_line: Callable[[], None] | None = None) -> MergeStats:
    """Merge the records files several runs wrote for one input file (taggers, LLM runs, in any mix)
    line by line into ``output`` (``-``: standard output), streaming, so the files may be larger than
    memory. Every line yields one output line; where no member has a readable record it is an error
    line. Files of different lengths, ids or schemas are refused, and a refused merge leaves no
    output file behind. ``on_line`` is called after each line is written (a progress bar)."""
    from .io import RecordWriter, iter_records, written_whole

    if len(paths) < 2:
        raise ConfigError("give two or more records files to merge")
    names = [str(p) for p in paths]
    stats = MergeStats()
    with written_whole(output) as partial, RecordWriter(partial) as writer:
        streams = [iter_records(path) for path in paths]
        for number, group in enumerate(zip_longest(*streams, fillvalue=_END), 1):
            ended = [name for name, r in zip(names, group) if r is _END]
            if ended:
                raise InputError(f"{', '.join(ended)} ended after {number - 1} records while the other files go on; "
                                 "merge finished runs of the same input (an interrupted run continues with "
                                 "extract --resume)")
            records: list[Record | None] = list(group)  # type: ignore[arg-type]
            stats.bad_lines += records.count(None)
            _note_versions(stats, records)
            if all(r is None for r in records):
                line = _unreadable(number)
            else:
                line = merge_line(names, number, records)
                line.warnings += [f"{name}: line {number} is not a record" for name, r in zip(names, records)
                                  if r is None]
            stats.records += 1
            stats.errors += not line.ok
            writer.write(line)
            if on_line is not None:
                on_line()
    return stats


def _note_versions(stats: MergeStats, records: Sequence[Record | None]) -> None:
    versions: dict[str, set[str]] = {}
    for record in records:
        if record is not None:
            versions.setdefault(_schema_name(record.provenance.schema), set()).add(record.provenance.schema)
    for name, ids in versions.items():
        if len(ids) > 1:
            stats.schema_versions.setdefault(name, set()).update(ids)


def _unreadable(number: int) -> Record:
    return Record(id=str(number), attributes={}, status="failed", error=f"line {number}: no file has a record there",
                  provenance=Provenance(model="ensemble", adapter=None, prompt="", schema="", decoding="ensemble"))
