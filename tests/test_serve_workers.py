"""extractor/serve/workers.py: `extractor serve --workers N` (several processes on one port): the
threads each gets, readiness across workers, metrics summed over processes, the app rebuilt from its
description, and the real thing with a tiny random tagger, ending on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import wait_until_ready

from extractor.serve.app import ServeSettings
from extractor.serve.auth import KeyChecker, key_hash
from extractor.serve.workers import ENVIRONMENT, MULTIPROC_DIR, Peers, app_from_environment, describe, threads_per_worker
from extractor.spec import EngineSpec, TaggerSpec

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(("workers", "cores", "expected"), [(1, 2, 2), (2, 2, 1), (3, 2, 1), (2, 16, 8), (4, 16, 4)])
def test_each_worker_gets_its_share_of_the_cores(workers: int, cores: int, expected: int) -> None:
    assert threads_per_worker(workers, cores) == expected


def test_ready_only_once_every_live_worker_marked_itself(tmp_path: Path) -> None:
    peers = Peers(str(tmp_path), workers=2)
    assert peers.waiting() == "0 of 2 workers ready"
    peers.mark_ready()
    assert peers.waiting() == "1 of 2 workers ready"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / f"ready-{dead.pid}").touch()  # a worker that died after getting ready does not count
    assert peers.waiting() == "1 of 2 workers ready"
    (tmp_path / f"ready-{os.getppid()}").touch()  # a live one does
    assert peers.waiting() is None


def test_a_worker_rebuilds_the_app_from_its_description(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fastapi.testclient import TestClient

    spec = EngineSpec(taggers=[TaggerSpec(folder=str(tmp_path / "tagger"))])
    settings = ServeSettings(max_items=3, threads=1)
    text = describe(spec, settings, "apparel", KeyChecker([key_hash("k1")]), workers=2)
    assert "k1" not in text  # the keys' hashes travel, never the keys
    monkeypatch.setenv(ENVIRONMENT, text)
    monkeypatch.setenv(MULTIPROC_DIR, str(tmp_path))
    app = app_from_environment()
    assert app.state.settings == settings
    client = TestClient(app)  # no lifespan: nothing loads, the routes answer
    assert client.get("/healthz").status_code == 200
    assert client.post("/v1/extract", json={"schema": "apparel", "items": [{"text": "x"}]}).status_code == 401
    assert client.post("/v1/extract", headers={"X-API-Key": "nope"},
                       json={"schema": "apparel", "items": [{"text": "x"}]}).status_code == 403
    assert client.get("/readyz").status_code == 503


_OBSERVE = textwrap.dedent("""
    import sys
    from extractor.serve.metrics import Metrics
    metrics = Metrics()
    for _ in range(int(sys.argv[1])):
        metrics.batch_size.observe(4)
    metrics.model_load.set(float(sys.argv[2]))
    if len(sys.argv) > 3:
        sys.stdout.write(metrics.render()[0].decode())
""")


def test_metrics_are_summed_over_the_worker_processes(tmp_path: Path) -> None:
    """Two processes (as two workers) observe batches; the second's /metrics text counts both."""
    env = {**os.environ, MULTIPROC_DIR: str(tmp_path),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    subprocess.run([sys.executable, "-c", _OBSERVE, "3", "2.5"], env=env, check=True)
    text = subprocess.run([sys.executable, "-c", _OBSERVE, "2", "1.5", "render"], env=env, check=True,
                          capture_output=True, text=True).stdout
    from prometheus_client.parser import text_string_to_metric_families

    samples = {s.name: s.value for family in text_string_to_metric_families(text) for s in family.samples
               if not s.labels.get("le")}
    assert samples["extractor_batch_size_count"] == 5 and samples["extractor_batch_size_sum"] == 20
    assert samples["extractor_model_load_seconds"] == 2.5  # the slowest worker's


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_workers_serve_one_port_and_stop_on_sigterm(tmp_path: Path) -> None:
    """`extractor serve --workers 2` with a tiny random tagger: /readyz waits for both workers, the
    requests are answered (by either), /metrics counts them all, SIGTERM ends every process with 0."""
    import httpx

    sys.path.insert(0, str(Path(__file__).parent))
    from test_tagger import build_encoder

    from extractor.schemas import load_schema
    from extractor.tagger import Tagger

    folder = Tagger.from_encoder(str(build_encoder(tmp_path / "encoder")), [load_schema("apparel")], window=32,
                                 overlap=8, device="cpu").save(tmp_path / "tagger")
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    env.pop(MULTIPROC_DIR, None)
    process = subprocess.Popen([sys.executable, "-m", "extractor", "serve", "--engine", "tagger", "--model",
                                str(folder), "--schema", "apparel", "--no-auth", "--port", str(port), "--workers", "2"],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_ready(process, base, 120)  # both workers (a worker still loading answers 503)
        for i in range(8):  # new connections: the kernel hands them to either worker
            response = httpx.post(f"{base}/v1/extract", timeout=10,
                                  json={"schema": "apparel", "items": [{"id": str(i), "text": "Hanes crew tee navy XL"}]})
            assert response.status_code == 200, response.text
            assert response.json()["records"][0]["id"] == str(i)
        from prometheus_client.parser import text_string_to_metric_families

        text = httpx.get(f"{base}/metrics", timeout=5).text
        answered = sum(s.value for family in text_string_to_metric_families(text) for s in family.samples
                       if s.name == "extractor_requests_total" and s.labels.get("route") == "/v1/extract")
        assert answered == 8
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        log = process.stdout.read().decode()
        assert log.count("Started server process") == 2 and "Stopping parent process" in log
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
