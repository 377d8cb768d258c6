"""Several server processes on one port (``extractor serve --workers N``).

One process runs one engine thread, so a closed loop of clients leaves it idle between batches: the
answers go out, the next queries come back and are gathered, and only then does the engine run
again. On a small machine a second process fills those gaps with its own batches. Each worker builds
its own engine from the same spec, with its share of the cores for torch (``threads``), and uvicorn's
supervisor hands it connections on the shared socket, restarts a worker that dies, and passes SIGTERM
on (each worker then finishes its accepted requests, as a single server does).

The workers are fresh processes, so the parent hands them the app's description as JSON in an
environment variable (:data:`ENVIRONMENT`): the engine spec, the settings, the schema and the hashes
of the API keys (never the keys). Prometheus series are kept in files under
``PROMETHEUS_MULTIPROC_DIR`` (a temporary folder unless the operator names one), so ``/metrics``
answers for all workers whichever one is asked (``metrics.Metrics``)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import asdict
from typing import Any

from .app import ServeSettings
from .metrics import MULTIPROC_DIR

ENVIRONMENT = "EXTRACTOR_SERVE_APP"
"""The environment variable that carries the app's description to the workers."""


def threads_per_worker(workers: int, cores: int | None = None) -> int:
    """Torch threads for each of ``workers`` processes: the cores shared out, at least one each (more
    threads than cores in all would make the workers' parallel regions wait on each other)."""
    cores = cores or os.cpu_count() or 1
    return max(1, cores // workers)


def describe(spec: Any, settings: ServeSettings, schema: str, keys: Any, workers: int) -> str:
    """The JSON a worker rebuilds the app from (:func:`app_from_environment`)."""
    return json.dumps({"spec": spec.to_dict(), "settings": asdict(settings), "schema": schema,
                       "key_hashes": None if keys is None else keys.hashes(), "workers": workers})


class Peers:
    """Readiness across the workers: each marks itself ready with a file in the shared metrics
    folder, and /readyz is 200 only once as many live workers as were started have (a load
    balancer must not send queries to a port where one worker still loads its model)."""

    def __init__(self, folder: str, workers: int) -> None:
        self.folder, self.workers = folder, workers

    def mark_ready(self) -> None:
        with open(os.path.join(self.folder, f"ready-{os.getpid()}"), "w", encoding="ascii"):
            pass

    def waiting(self) -> str | None:
        """None when every worker is ready, else what /readyz says."""
        ready = 0
        for name in os.listdir(self.folder):
            if name.startswith("ready-") and _alive(int(name[len("ready-"):])):
                ready += 1
        return None if ready >= self.workers else f"{ready} of {self.workers} workers ready"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def app_from_environment() -> Any:
    """The app a worker serves, from :data:`ENVIRONMENT` (uvicorn calls this in each worker)."""
    from ..spec import EngineSpec
    from .app import create_app
    from .auth import KeyChecker

    data = json.loads(os.environ[ENVIRONMENT])
    hashes = data["key_hashes"]
    return create_app(EngineSpec.from_dict(data["spec"]), ServeSettings(**data["settings"]), schema=data["schema"],
                      keys=None if hashes is None else KeyChecker(hashes),
                      peers=Peers(os.environ[MULTIPROC_DIR], data["workers"]))


def run_workers(workers: int, description: str, host: str, port: int, **uvicorn_options: Any) -> None:
    """Serve with ``workers`` processes until SIGTERM or SIGINT; the metrics folder made for them is
    removed afterwards (one the operator named is left alone, but for the ready marks of this run)."""
    import uvicorn

    made = None
    if not os.environ.get(MULTIPROC_DIR):
        made = tempfile.mkdtemp(prefix="extractor-metrics-")
        os.environ[MULTIPROC_DIR] = made
    os.environ[ENVIRONMENT] = description
    try:
        uvicorn.run("extractor.serve.workers:app_from_environment", factory=True, workers=workers, host=host,
                    port=port, **uvicorn_options)
    finally:
        if made is not None:
            shutil.rmtree(made, ignore_errors=True)
            del os.environ[MULTIPROC_DIR]
        else:
            for name in os.listdir(os.environ[MULTIPROC_DIR]):
                if name.startswith("ready-"):
                    os.remove(os.path.join(os.environ[MULTIPROC_DIR], name))
