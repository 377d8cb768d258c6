"""benchmarks/serve_load.py and its load client (benchmarks/load_client.py): their functions against a
real `extractor serve` subprocess whose model loader is replaced by a scripted backend (no model), one
short level, batching on and off, the overload probe, and the BENCHMARKS.md block."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest
from conftest import load_script

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

ROOT = Path(__file__).resolve().parents[1]

_SERVER = """
import json, sys, time
from extractor.backends.scripted import ScriptedBackend
import extractor.models

def reply(prompt):
    time.sleep(0.002)
    text = prompt.rsplit("Product: ", 1)[1]
    return json.dumps({"Brand": text.split()[0].title(), "Pack Count": None})

extractor.models.load_model = lambda config=None, **kw: ScriptedBackend(reply, name="m")
from extractor.cli import main
sys.exit(main(sys.argv[1:]))
"""
COMMAND = [sys.executable, "-c", _SERVER]


@pytest.fixture(scope="module")
def bench():  # type: ignore[no-untyped-def]
    module = load_script("benchmarks/serve_load.py", "serve_load")
    yield module
    sys.modules.pop("serve_load", None)


@pytest.fixture(scope="module")
def client(bench):  # type: ignore[no-untyped-def]
    """benchmarks/load_client.py, as serve_load.py imported it."""
    return sys.modules["load_client"]


def test_percentile_and_queries(bench, client):  # type: ignore[no-untyped-def]
    assert client.percentile([], 50) != client.percentile([], 50)  # NaN
    assert client.percentile([3.0, 1.0, 2.0, 4.0], 50) == 2.0
    assert client.percentile(list(map(float, range(1, 101))), 99) == 99.0
    texts = bench.load_queries(schema="apparel")
    assert len(texts) >= 30 and all(isinstance(t, str) and t for t in texts)


def test_parse_args_splits_server_options(bench):  # type: ignore[no-untyped-def]
    args = bench.parse_args(["--levels", "1,8", "--seconds", "2", "--compare-batching", "--", "--decoding", "free"])
    assert args.level_list == [1, 8] and args.seconds == 2 and args.compare_batching
    assert args.extra == ["--decoding", "free"]
    assert bench.serve_args("apparel", max_batch_size=1, max_wait_ms=5, max_queue=8, extra=args.extra)[-2:] == \
        ["--decoding", "free"]


def test_load_report_batching_and_overload(bench, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    """Both runs (batching, then --max-batch-size 1) of one 1.5 s level at 4 clients, the overload
    probe on each, the table and the recorded rows."""
    out = tmp_path / "BENCHMARKS.md"
    monkeypatch.setattr(bench, "clean_commit", lambda root, allow=(): "abc1234")  # this checkout may be dirty
    runs = bench.main(["--levels", "4", "--seconds", "1.5", "--max-queue", "32", "--overload", "--overload-items", "8",
                       "--compare-batching", "--record", "--benchmarks-file", str(out), "--ready-timeout", "60",
                       "--request-timeout", "20", "--json", str(tmp_path / "report.json"), "--",
                       "--decoding", "free"], command=COMMAND)
    assert [r.max_batch_size for r in runs] == [32, 1]
    for run in runs:
        assert 0 < run.cold_start_s < 60
        assert run.peak_rss_mb > 10
        assert run.exit_code == 0  # SIGTERM: a graceful stop
        (level,) = run.levels
        assert level.concurrency == 4 and level.requests > 0
        assert level.statuses.get("200", 0) == level.requests, level.statuses
        assert level.products == level.requests and level.errors_5xx == 0
        assert 0 < level.p50_ms <= level.p95_ms <= level.p99_ms
        assert level.requests_per_s > 0 and level.products_per_s > 0
        assert set(level.as_dict()) >= {"p50_ms", "p95_ms", "p99_ms", "requests_per_s", "products_per_s",
                                        "statuses", "errors_5xx"}
        probe = run.overload
        assert probe is not None and probe.requests * probe.items_per_request >= 4 * 32
        assert probe.ok, probe.statuses  # 429s, no timeouts and no 5xx
    assert [c for c, _ in bench.batching_ratios(runs)] == [4]
    lines = out.read_text(encoding="utf-8").splitlines()
    assert bench.SECTION in lines and bench.LOAD_HEADER in lines and bench.START_HEADER in lines
    load = [line for line in lines if line.startswith("| ") and "| abc1234 |" in line and "`python" in line
            or line.endswith("| the same |")]
    assert [row.split(" | ")[3:5] for row in load] == [["on", "4"], ["off", "4"]]
    assert "benchmarks/serve_load.py --levels 4" in load[0] and "--benchmarks-file" not in load[0]
    start = [line for line in lines if line.startswith("| ") and line.count(" | ") == 6 and "abc1234" in line]
    assert [row.split(" | ")[3] for row in start] == ["on", "off"] and all("429:" in row for row in start)
    assert (tmp_path / "report.json").is_file()
    report = bench.table(runs)
    assert "p99 ms" in report and "cold start to ready" in report and "overload" in report


def test_a_connection_idle_past_the_servers_keep_alive_is_replaced(client, monkeypatch):
    """A client that waited out a long Retry-After must not write to a connection the server has
    closed meanwhile: past IDLE_SECONDS it opens a new one (two connections for two requests)."""
    import asyncio

    accepted: list[int] = []

    async def main() -> list[int]:
        async def handle(reader, writer):  # type: ignore[no-untyped-def]
            accepted.append(1)
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                await reader.readexactly(length)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
                await writer.drain()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        connection = client.Connection(f"http://127.0.0.1:{port}")
        statuses = [(await connection.post("/v1/extract", b"{}"))[0]]
        statuses.append((await connection.post("/v1/extract", b"{}"))[0])  # reused: still one connection
        assert len(accepted) == 1
        monkeypatch.setattr(client, "IDLE_SECONDS", 0.0)
        statuses.append((await connection.post("/v1/extract", b"{}"))[0])
        connection.close()
        server.close()
        return statuses

    assert asyncio.run(main()) == [200, 200, 200]
    assert len(accepted) == 2


def test_each_level_is_measured_after_its_settle_period(bench, monkeypatch):  # type: ignore[no-untyped-def]
    """--settle: every level runs that long at its own concurrency first, and only the run after it
    is reported."""
    calls: list[tuple[int, float]] = []

    async def level(base, texts, schema, concurrency, seconds, **options):  # type: ignore[no-untyped-def]
        calls.append((concurrency, seconds))
        return bench.LevelResult(concurrency, seconds, 1, 1, [1.0], {"200": 1})

    class Stub:
        base, cold_start_s = "http://127.0.0.1:1", 0.1

        def peak_rss_mb(self) -> float:
            return 1.0

        def stop(self) -> int:
            return 0

    monkeypatch.setattr(bench, "start_server", lambda *a, **k: Stub())
    monkeypatch.setattr(bench, "run_level", level)
    run = bench.run_server_load([], ["t"], "apparel", [1, 16], 40.0, label="batching", max_batch_size=32,
                                max_wait_ms=5, max_queue=8, warmup=0, settle=20.0)
    assert calls == [(1, 20.0), (1, 40.0), (16, 20.0), (16, 40.0)]
    assert [(r.concurrency, r.seconds) for r in run.levels] == [(1, 40.0), (16, 40.0)]


def test_peak_rss_counts_the_processes_under_the_server(bench) -> None:  # type: ignore[no-untyped-def]
    """`serve --workers` runs the engines in child processes: the peak RSS sums them with the parent."""
    import subprocess

    parent = subprocess.Popen([sys.executable, "-c", "import subprocess, sys, time; "
                               "child = subprocess.Popen([sys.executable, '-c', 'import time; x = b\"x\" * (64 << 20); "
                               "time.sleep(30)']); time.sleep(30)"])
    try:
        deadline = time.monotonic() + 20
        while not bench.descendants(parent.pid) or bench.peak_rss_mb(bench.descendants(parent.pid)[0]) < 64:
            assert time.monotonic() < deadline, "the child did not take its 64 MiB"
            time.sleep(0.1)
        [child] = bench.descendants(parent.pid)
        assert bench.peak_rss_mb(parent.pid) > bench.peak_rss_mb(child) >= 64  # the parent's own pages on top
    finally:
        for pid in bench.descendants(parent.pid):
            os.kill(pid, 9)
        parent.kill()
        parent.wait()


def test_replicas_split_the_clients_evenly(bench, monkeypatch):  # type: ignore[no-untyped-def]
    """--replicas N: client w talks to replica w % N, as a least-connections balancer splits them, and
    the overload burst goes to every replica."""
    import asyncio

    import load_client

    used: list[str] = []

    class Recorded:
        def __init__(self, base: str, headers=None) -> None:  # type: ignore[no-untyped-def]
            used.append(base)

        def close(self) -> None:
            pass

    async def answered(connection, schema, items, timeout):  # type: ignore[no-untyped-def]
        await asyncio.sleep(0.001)
        return "200", len(items), 0.001, None

    monkeypatch.setattr(load_client, "Connection", Recorded)
    monkeypatch.setattr(load_client, "_send", answered)
    level = asyncio.run(load_client.run_level(["http://a", "http://b"], ["t"], "apparel", 6, 0.05))
    assert level.requests > 0 and sorted(used) == ["http://a"] * 3 + ["http://b"] * 3
    used.clear()
    probe = asyncio.run(load_client.overload(["http://a", "http://b"], ["t"], "apparel", max_queue=8, items_per_request=4))
    assert probe.requests == 16 and used.count("http://a") == used.count("http://b") == 8


def test_two_replicas_are_started_measured_and_stopped(bench, tmp_path):  # type: ignore[no-untyped-def]
    runs = bench.main(["--levels", "2", "--seconds", "1", "--replicas", "2", "--ready-timeout", "60",
                       "--request-timeout", "20", "--", "--decoding", "free"], command=COMMAND)
    (run,) = runs
    assert run.exit_code == 0 and 0 < run.cold_start_s < 60
    (level,) = run.levels
    assert level.requests > 0 and level.statuses.get("200", 0) == level.requests, level.statuses


def test_a_paced_level_offers_its_rate_and_counts_lateness(bench, monkeypatch):  # type: ignore[no-untyped-def]
    """--rate: the clients' Poisson arrivals together offer about that many requests per second, and a
    request due while its client still waits is timed from when it was due (no coordinated omission)."""
    import asyncio

    import load_client

    class Quiet:
        def __init__(self, base: str, headers=None) -> None:  # type: ignore[no-untyped-def]
            pass

        def close(self) -> None:
            pass

    answer_s = {"value": 0.001}

    async def answered(connection, schema, items, timeout):  # type: ignore[no-untyped-def]
        await asyncio.sleep(answer_s["value"])
        return "200", len(items), answer_s["value"], None

    monkeypatch.setattr(load_client, "Connection", Quiet)
    monkeypatch.setattr(load_client, "_send", answered)
    paced = asyncio.run(load_client.run_level("http://a", ["t"], "apparel", 4, 1.0, rate=200))
    back_to_back = asyncio.run(load_client.run_level("http://a", ["t"], "apparel", 4, 0.2))
    assert 140 <= paced.requests <= 260 and paced.rate == 200  # Poisson: 200 expected, sd about 14
    assert back_to_back.requests > 2 * 0.2 * 200 and back_to_back.rate is None
    # one client, 40 requests due per second, each answered in 100 ms: they fall ever further behind
    answer_s["value"] = 0.1
    behind = asyncio.run(load_client.run_level("http://a", ["t"], "apparel", 1, 1.0, rate=40))
    assert behind.latencies_ms[0] < 150 and max(behind.latencies_ms) > 400
