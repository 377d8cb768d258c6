"""Callable classes for Ray Data's ``map_batches``: each builds its engine once, from an engine spec,
in the actor that runs it (never pickled: only the spec travels), then takes batches.

``ExtractUDF`` is for users with their own Ray pipelines: rows with an id and a text column in, the
same rows out with each one's record (a JSON line, as ``extract`` writes it) and status::

    ds = ray.data.read_parquet("offers/")
    ds = ds.map_batches(ExtractUDF, fn_constructor_args=(spec,), fn_constructor_kwargs={"schema": "apparel"},
                        batch_size=64, compute=ray.data.ActorPoolStrategy(size=4), num_gpus=1)

``ShardWorker`` is what ``extract-distributed`` maps over its shards (``run.run_distributed``). Neither
imports Ray: Ray calls them."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ..engine import Engine
from ..io import InputSpec
from ..lines import DEFAULT_ENCODING, dump_line
from ..records import Document, Record
from ..schemas import Schema
from ..spec import EngineSpec
from .shards import Shard, ShardLayout
from .work import extract_batch_safely, peak_rss_mb, run_shard

EngineFactory = Callable[[EngineSpec, "Schema | str"], Engine]
"""Builds a worker's engine from the spec and the run's schema; ``spec.build_engine`` unless a caller
(a test, a benchmark) gives another."""


def as_spec(spec: EngineSpec | Mapping[str, Any] | str | Path) -> EngineSpec:
    """An EngineSpec from a spec, its ``to_dict()`` data, or a spec file's path."""
    if isinstance(spec, EngineSpec):
        return spec
    if isinstance(spec, Mapping):
        return EngineSpec.from_dict(dict(spec))
    from ..spec import load_spec

    return load_spec(spec)


def build_worker_engine(spec: EngineSpec, schema: Schema | str, factory: EngineFactory | None) -> tuple[Engine, float]:
    """The engine ``spec`` describes for ``schema``, and the seconds building it took (the model load)."""
    start = time.perf_counter()
    if factory is None:
        from ..spec import build_engine

        factory = build_engine
    engine = factory(spec, schema)
    return engine, time.perf_counter() - start


def record_json(record: Record) -> str:
    """The record's JSON line without its newline; a record that is not JSON becomes a failed one."""
    try:
        return dump_line(record.to_dict()).rstrip("\n")
    except ValueError as exc:
        failed = Record(id=record.id, attributes=dict.fromkeys(record.attributes), status="failed",
                        provenance=record.provenance, error=f"record is not JSON: {exc}")
        return dump_line(failed.to_dict()).rstrip("\n")


def column(batch: Mapping[str, Any], name: str) -> list[Any]:
    """A batch's column as a list (Ray hands numpy arrays, pandas series or lists)."""
    if name not in batch:
        raise KeyError(f"the batch has no column {name!r} (columns: {', '.join(map(str, batch))})")
    values = batch[name]
    return values.tolist() if hasattr(values, "tolist") else list(values)


class ExtractUDF:
    """A row-level callable class for ``Dataset.map_batches``: adds ``record`` (the record's JSON line)
    and ``status`` columns to each batch of rows with an id and a text column. A batch that makes the
    engine raise gets ``failed`` records, not a failed task; a row whose text is empty or not a string
    gets a ``failed`` record of its own."""

    def __init__(self, spec: EngineSpec | Mapping[str, Any] | str | Path, schema: Schema | str = "apparel", *,
                 id_column: str = "id", text_column: str = "text", schema_column: str | None = None,
                 factory: EngineFactory | None = None) -> None:
        self.id_column = id_column
        """Column with each row's id (written into its record)."""
        self.text_column = text_column
        """Column with each row's product text."""
        self.schema_column = schema_column
        """Column naming each row's schema (empty: ``schema``); None: every row uses ``schema``."""
        self.engine, self.load_seconds = build_worker_engine(as_spec(spec), schema, factory)

    def documents(self, batch: Mapping[str, Any]) -> list[Document]:
        """The batch's rows as Documents."""
        ids, texts = column(batch, self.id_column), column(batch, self.text_column)
        schemas = column(batch, self.schema_column) if self.schema_column else [None] * len(ids)
        docs = []
        for row_id, text, schema in zip(ids, texts, schemas):
            schema = schema if isinstance(schema, str) and schema else None
            if not isinstance(text, str) or not text.strip():
                docs.append(Document(id=str(row_id), text="", error=f"column {self.text_column!r} holds no text"))
            else:
                docs.append(Document(id=str(row_id), text=text, schema=schema))
        return docs

    def __call__(self, batch: Mapping[str, Any]) -> dict[str, list[Any]]:
        records = extract_batch_safely(self.engine, self.documents(batch))
        out = {name: column(batch, name) for name in batch}
        out["record"] = [record_json(r) for r in records]
        out["status"] = [r.status for r in records]
        return out


class ShardWorker:
    """The actor of ``extract-distributed``: builds the engine once, then extracts each shard it is
    handed (a batch of shard rows) into the output folder with ``work.run_shard``; returns one
    ``result`` column, each shard's ``ShardResult`` with the worker's start and load times, as JSON."""

    def __init__(self, spec: EngineSpec | Mapping[str, Any], schema: Schema | str, folder: str, *,
                 batch_size: int, input_spec: InputSpec | None = None, encoding: str = DEFAULT_ENCODING,
                 factory: EngineFactory | None = None) -> None:
        self.started = time.time()
        """When the actor's process began building (wall clock, compared with the job's start)."""
        self.layout = ShardLayout(Path(folder))
        self.batch_size = batch_size
        self.input_spec = input_spec
        self.encoding = encoding
        self.engine, self.load_seconds = build_worker_engine(as_spec(spec), schema, factory)

    def __call__(self, batch: Mapping[str, Any]) -> dict[str, list[str]]:
        fields = ("index", "source", "start", "count")
        rows = zip(*(column(batch, name) for name in fields))
        results = []
        for index, source, start, count in rows:
            shard = Shard(int(index), str(source), int(start), int(count))
            result = run_shard(self.engine, self.layout, shard, batch_size=self.batch_size,
                               input_spec=self.input_spec, encoding=self.encoding)
            result.load_seconds = self.load_seconds
            result.peak_rss_mb = result.peak_rss_mb or peak_rss_mb()
            results.append(json.dumps({**result.to_dict(), "worker_started": self.started}))
        return {"result": results}
