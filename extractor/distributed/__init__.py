"""Batch extraction on Ray Data, for catalogs larger than one machine: the input cut into shards of
whole lines (``shards``), each extracted by an actor that builds its engine from the engine spec once
(``udf``, ``work``), the job itself (``run``), and the join of the shards into one output
(``shards.collect``). Only ``run`` imports Ray, and only when it runs."""

from __future__ import annotations

from .config import DistributedConfig
from .run import run_distributed
from .shards import Shard, collect, plan_shards
from .udf import ExtractUDF, ShardWorker

__all__ = ["DistributedConfig", "ExtractUDF", "Shard", "ShardWorker", "collect", "plan_shards", "run_distributed"]
