"""How a distributed run spreads its work: a typed config, light to import (the CLI reads its defaults)."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError

@dataclass
class DistributedConfig:
    """How ``run_distributed`` spreads the work."""

    workers: int = 2
    """Actors, each with its own engine (its own copy of the model)."""
    gpus_per_worker: float = 0.0
    """GPUs Ray reserves for each actor (fractions share one GPU among actors); 0: none."""
    cpus_per_worker: float = 1.0
    """CPUs Ray reserves for each actor."""
    batch_size: int = 64
    """Lines a worker hands its engine at a time; a batch that makes the engine raise becomes failed records."""
    shard_lines: int = 1000
    """Lines per shard: the unit written, retried and resumed (a dead worker costs at most one shard's work)."""
    address: str = "local"
    """`local`: Ray on this machine (the Ray this process already started, if any); `auto`: join the
    running cluster (``ray start``); or a cluster's address (``ray://host:10001``)."""
    progress: bool = False
    """Show Ray Data's progress bars."""

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ConfigError("workers must be at least 1")
        if self.batch_size < 1 or self.shard_lines < 1:
            raise ConfigError("batch_size and shard_lines must be at least 1")
        if self.gpus_per_worker < 0 or self.cpus_per_worker < 0:
            raise ConfigError("gpus_per_worker and cpus_per_worker cannot be negative")
