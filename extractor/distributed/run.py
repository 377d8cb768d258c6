"""The Ray Data job of ``extract-distributed``: plan the shards, map a pool of actors over those not yet
finished (each actor builds the engine from the spec once: ``udf.ShardWorker``), and record what each
shard took in ``_summary.json``.

Faults: Ray restarts an actor whose process dies and hands its shard to it again; the shard's partial
file is continued from its last whole record, so nothing is lost or written twice. A batch that raises
becomes failed records (``work.extract_batch_safely``). A rerun skips finished shards and continues
partial ones, which is how an interrupted job (or one whose cluster went away) is resumed."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..io import InputSpec
from ..lines import DEFAULT_ENCODING
from ..schemas import Schema
from ..spec import EngineSpec
from .config import DistributedConfig
from .shards import ShardLayout, pending, plan_shards, write_json, write_plan
from .udf import EngineFactory, ShardWorker


def start_ray(address: str) -> bool:
    """Connect to Ray as ``address`` says, unless this process already did; True when it started it
    (then the caller shuts it down)."""
    import ray

    if ray.is_initialized():
        return False
    ray.init(address=None if address == "local" else address, include_dashboard=False,
             logging_level="WARNING", log_to_driver=True)
    return True


def run_distributed(spec: EngineSpec, inputs: Sequence[str | Path], folder: str | Path, schema: Schema | str,
                    config: DistributedConfig | None = None, *, input_spec: InputSpec | None = None,
                    encoding: str = DEFAULT_ENCODING, factory: EngineFactory | None = None) -> dict[str, Any]:
    """Extract ``inputs`` into shard files in ``folder`` on a Ray actor pool and return the run's summary
    (also written to ``folder/_summary.json``). ``collect`` joins the shards afterwards. ``factory``
    builds each worker's engine (default ``build_engine(spec, schema)``)."""
    config = config or DistributedConfig()
    layout = ShardLayout(Path(folder))
    shards = plan_shards(inputs, config.shard_lines, input_spec, encoding)
    write_plan(layout, shards, config.shard_lines)
    todo = pending(layout, shards)
    began = time.time()
    results: list[dict[str, Any]] = []
    if todo:
        results = _map_shards(spec, todo, layout, schema, config, input_spec, encoding, factory)
    summary = _summary(layout, shards, results, time.time() - began, began, config)
    write_json(layout.summary, summary)
    return summary


def _map_shards(spec: EngineSpec, todo: list, layout: ShardLayout, schema: Schema | str, config: DistributedConfig,
                input_spec: InputSpec | None, encoding: str, factory: EngineFactory | None) -> list[dict[str, Any]]:
    try:
        import ray
        import ray.data
    except ImportError as exc:
        raise ConfigError("extract-distributed runs on Ray Data, which is not installed: "
                          "pip install 'extractor[ray]'") from exc
    started = start_ray(config.address)
    try:
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = config.progress
        context.print_on_execution_start = config.progress
        items = [asdict(shard) for shard in todo]
        dataset = ray.data.from_items(items, override_num_blocks=len(items))
        remote: dict[str, Any] = {"num_cpus": config.cpus_per_worker}
        if config.gpus_per_worker:
            remote["num_gpus"] = config.gpus_per_worker
        mapped = dataset.map_batches(
            ShardWorker, batch_size=1,
            compute=ray.data.ActorPoolStrategy(size=min(config.workers, len(items))),
            fn_constructor_args=(spec.to_dict(), schema if isinstance(schema, str) else str(schema.path or schema.name),
                                 str(layout.folder)),
            fn_constructor_kwargs={"batch_size": config.batch_size, "input_spec": input_spec, "encoding": encoding,
                                   "factory": factory},
            **remote)
        return [json.loads(row["result"]) for row in mapped.take_all()]
    finally:
        if started:
            ray.shutdown()


def _summary(layout: ShardLayout, shards: Sequence, results: list[dict[str, Any]], seconds: float, began: float,
             config: DistributedConfig) -> dict[str, Any]:
    """The run's ``_summary.json``: each shard's counts, attempts, seconds and its worker's model-load
    time (shards finished by an earlier run keep that run's entry), the workers, and totals."""
    earlier: dict[str, dict[str, Any]] = {}
    if layout.summary.is_file():
        try:
            earlier = {row["shard"]: row for row in json.loads(layout.summary.read_text(encoding="utf-8"))["shards"]}
        except (OSError, ValueError, KeyError, TypeError):
            earlier = {}
    done = {row["shard"]: row for row in results}
    rows = []
    for shard in shards:
        if shard.name in done:
            row = {**done[shard.name], "this_run": True}
        else:
            row = {**earlier.get(shard.name, {"shard": shard.name, "lines": shard.count}), "this_run": False}
        row.pop("worker_started", None)
        rows.append({**row, "source": shard.source, "start": shard.start})
    workers: dict[int, dict[str, Any]] = {}
    for row in results:
        seen = workers.setdefault(row["worker"], {"pid": row["worker"], "shards": 0,
                                                  "load_seconds": row["load_seconds"],
                                                  "start_seconds": round(row["worker_started"] - began, 3),
                                                  "peak_rss_mb": 0.0})
        seen["shards"] += 1
        seen["peak_rss_mb"] = max(seen["peak_rss_mb"], row["peak_rss_mb"])
    counted = [row for row in rows if "ok" in row]
    totals = {name: sum(row[name] for row in counted) for name in ("ok", "invalid", "failed", "reprocessed")}
    totals["lines"] = sum(shard.count for shard in shards)
    return {"seconds": round(seconds, 3), "config": asdict(config), "totals": totals,
            "workers": sorted(workers.values(), key=lambda w: w["start_seconds"]), "shards": rows}
