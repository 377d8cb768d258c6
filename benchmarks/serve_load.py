"""Load test of `extractor serve` (issue 31): cold start, latency and throughput at 1-64 clients,
batching on and off, the server's peak RSS, and an overload probe (bursts past --max-queue get 429).

Starts `extractor serve` as a subprocess on a free loopback port (--no-auth), waits for /readyz
(the cold start), then for each concurrency level runs that many async clients (one keep-alive
connection each), each sending
single-item requests (one shopper query each, cycling through examples/queries.jsonl) back to back
for --seconds. Prints one table; --record adds its rows to BENCHMARKS.md's "## Serving" tables.

    python benchmarks/serve_load.py --engine tagger --model runs/tagger/apparel --schema apparel
    python benchmarks/serve_load.py --engine-spec benchmarks/recipes/SPEC.yaml --levels 1,4,16,64 --seconds 10
    python benchmarks/serve_load.py --engine tagger --model DIR --compare-batching --overload --record

`--rate R` offers R requests/s in all at every level (the clients' Poisson arrivals) instead of
sending back to back: the latency callers see at that traffic, not at the server's saturation.

Everything after `--` goes to `extractor serve` unchanged (engine options, e.g. `-- --decoding free`).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from extractor import append_table_row, clean_commit, recorded_command, table_row

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the load client beside this script
from load_client import LevelResult, OverloadResult, overload, run_level  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
QUERIES = REPO / "examples" / "queries.jsonl"
SECTION = "## Serving"
LOAD_HEADER = ("| date | commit | engine | batching | clients | p50 ms | p95 ms | p99 ms | requests/s | products/s "
               "| 5xx | statuses | command |")
LOAD_RULE = "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|"
START_HEADER = ("| date | commit | engine | batching | cold start to ready s | server peak RSS MiB "
                "| overload burst statuses |")
START_RULE = "|---|---|---|---|---:|---:|---|"
SERVE = [sys.executable, "-c", "import sys; from extractor.cli import main; sys.exit(main(sys.argv[1:]))"]
"""How `extractor serve` is started: this interpreter, so the checkout's extractor (tests replace it)."""


# --- the server ----------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    process: subprocess.Popen
    base: str
    log_path: Path
    cold_start_s: float = float("nan")
    temporary_log: bool = False

    def peak_rss_mb(self) -> float:
        return peak_rss_mb(self.process.pid)

    def stop(self, timeout: float = 30) -> int | None:
        """SIGTERM, then wait (SIGKILL past ``timeout``); the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.temporary_log and self.process.returncode == 0:
            self.log_path.unlink(missing_ok=True)
        return self.process.returncode


def peak_rss_mb(pid: int) -> float:
    """VmHWM of ``pid`` and of every process under it (`serve --workers`), summed, in MiB (NaN where
    /proc has none)."""
    total, found = 0.0, False
    for process in [pid, *descendants(pid)]:
        try:
            for line in Path(f"/proc/{process}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1]) / 1024
                    found = True
        except (OSError, ValueError, IndexError):
            pass
    return total if found else float("nan")


def descendants(pid: int) -> list[int]:
    """The processes under ``pid`` (children, theirs, ...), as /proc lists them."""
    out: list[int] = []
    try:
        children = [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except (OSError, ValueError):
        return out
    for child in children:
        out += [child, *descendants(child)]
    return out


def serve_args(schema: str, *, max_batch_size: int, max_wait_ms: float, max_queue: int,
               engine_spec: str | None = None, engine: str | None = None, model: str | None = None,
               extra: list[str] | None = None) -> list[str]:
    args = ["serve", "--schema", schema, "--no-auth", "--max-batch-size", str(max_batch_size),
            "--max-wait-ms", str(max_wait_ms), "--max-queue", str(max_queue),
            "--max-items", str(min(64, max_queue))]
    if engine_spec:
        args += ["--engine-spec", engine_spec]
    if engine:
        args += ["--engine", engine]
    if model:
        args += ["--model", model]
    return args + list(extra or [])


def start_server(args: list[str], *, command: list[str] | None = None, ready_timeout: float = 600,
                 log_path: Path | None = None, env: dict[str, str] | None = None) -> Server:
    """`extractor serve ARGS --host 127.0.0.1 --port FREE`; returns once /readyz is 200, with the
    seconds from the start of the process to that (cold start). Raises if it exits or times out."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
           **(env or {})}
    temporary = log_path is None
    if log_path is None:
        handle, name = tempfile.mkstemp(prefix="serve_load-", suffix=".log")
        os.close(handle)
        log_path = Path(name)
    started = time.monotonic()
    with open(log_path, "wb") as log:
        process = subprocess.Popen([*(command or SERVE), *args, "--host", "127.0.0.1", "--port", str(port)],
                                   env=env, stdout=log, stderr=subprocess.STDOUT)
    server = Server(process, f"http://127.0.0.1:{port}", log_path, temporary_log=temporary)
    deadline = started + ready_timeout
    while True:
        if process.poll() is not None:
            tail = log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"extractor serve exited with {process.returncode} before it was ready\n{tail}")
        try:
            if httpx.get(f"{server.base}/readyz", timeout=2).status_code == 200:
                server.cold_start_s = time.monotonic() - started
                return server
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            server.stop(5)
            raise RuntimeError(f"extractor serve was not ready within {ready_timeout:.0f} s; its log: {log_path}")
        time.sleep(0.05)


# --- the load ------------------------------------------------------------------------------------

def load_queries(path: Path = QUERIES, schema: str | None = None) -> list[str]:
    """The texts of ``path`` (JSONL with "text"), those of ``schema`` when it names any."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    mine = [r["text"] for r in rows if schema is None or r.get("schema") == schema]
    return mine or [r["text"] for r in rows]


@dataclass
class Run:
    """One server start: its settings, cold start, levels, peak RSS and (maybe) overload probe."""
    label: str
    max_batch_size: int
    max_wait_ms: float
    cold_start_s: float
    levels: list[LevelResult]
    peak_rss_mb: float
    overload: OverloadResult | None = None
    exit_code: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"label": self.label, "max_batch_size": self.max_batch_size, "max_wait_ms": self.max_wait_ms,
                "cold_start_s": self.cold_start_s, "peak_rss_mb": self.peak_rss_mb, "exit_code": self.exit_code,
                "levels": [lv.as_dict() for lv in self.levels],
                "overload": self.overload.as_dict() if self.overload else None}


def run_server_load(args: list[str], texts: list[str], schema: str, levels: list[int], seconds: float, *,
                    label: str, max_batch_size: int, max_wait_ms: float, max_queue: int,
                    probe_overload: bool = False, overload_items: int = 16, command: list[str] | None = None,
                    ready_timeout: float = 600, max_requests: int = 1_000_000, request_timeout: float = 60.0,
                    log_path: Path | None = None, warmup: int = 8, settle: float = 0.0, replicas: int = 1,
                    rate: float | None = None) -> Run:
    """Start the server (``replicas`` of it, one after another, on their own ports: the clients split
    evenly over them, as a least-connections balancer splits them), send ``warmup`` requests to each
    (not counted), run every level (each after ``settle`` seconds of the same load, not counted; then
    the overload probe), read the peak RSS (summed over the replicas; cold start: the slowest), stop.
    ``rate``: the requests per second every level offers (``run_level``), instead of back to back."""
    servers: list[Server] = []
    try:
        for n in range(replicas):
            log = log_path.with_name(f"{log_path.name}.{n}") if log_path is not None and n else log_path
            servers.append(start_server(args, command=command, ready_timeout=ready_timeout, log_path=log))
        bases = [server.base for server in servers]
        if warmup:
            asyncio.run(run_level(bases, texts, schema, len(bases), ready_timeout, max_requests=warmup * len(bases),
                                  request_timeout=request_timeout))

        def load(clients: int, duration: float) -> LevelResult:
            return asyncio.run(run_level(bases, texts, schema, clients, duration, max_requests=max_requests,
                                         request_timeout=request_timeout, rate=rate))

        results = []
        for c in levels:
            if settle > 0:
                load(c, settle)
            results.append(load(c, seconds))
        probe = None
        if probe_overload:
            probe = asyncio.run(overload(bases, texts, schema, max_queue=max_queue,
                                         items_per_request=overload_items, request_timeout=request_timeout))
        rss = sum(server.peak_rss_mb() for server in servers)
    finally:
        codes = [server.stop() for server in servers]
    code = next((c for c in codes if c != 0), codes[0] if codes else None)
    return Run(label, max_batch_size, max_wait_ms, max(s.cold_start_s for s in servers), results, rss, probe, code)


# --- the report ----------------------------------------------------------------------------------

def _statuses(statuses: dict[str, int]) -> str:
    return " ".join(f"{code}:{n}" for code, n in statuses.items()) or "-"


def table(runs: list[Run]) -> str:
    """The plain table: one line per run and level, then cold start, RSS, overload and batching ratios."""
    head = ["run", "clients", "requests", "p50 ms", "p95 ms", "p99 ms", "req/s", "products/s", "5xx", "statuses"]
    rows = [[run.label, str(lv.concurrency), str(lv.requests), f"{lv.p50_ms:.1f}", f"{lv.p95_ms:.1f}",
             f"{lv.p99_ms:.1f}", f"{lv.requests_per_s:.1f}", f"{lv.products_per_s:.1f}", str(lv.errors_5xx),
             _statuses(lv.statuses)] for run in runs for lv in run.levels]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in [head, *rows]]
    for run in runs:
        lines.append(f"{run.label}: --max-batch-size {run.max_batch_size} --max-wait-ms {run.max_wait_ms:g}; "
                     f"cold start to ready {run.cold_start_s:.2f} s; server peak RSS {run.peak_rss_mb:.0f} MiB; "
                     f"exit {run.exit_code}")
        for lv in run.levels:
            if lv.errors_5xx:
                lines.append(f"  {run.label} at {lv.concurrency} clients: {lv.errors_5xx} 5xx answers")
        if run.overload:
            o = run.overload
            lines.append(f"  overload: {o.requests} concurrent requests x {o.items_per_request} items -> "
                         f"{_statuses(o.statuses)} in {o.seconds:.2f} s: "
                         + ("429s and no timeouts/5xx (ok)" if o.ok else "NOT OK (want 429s, no timeouts/5xx)"))
    rates = sorted({lv.rate for run in runs for lv in run.levels if lv.rate is not None})
    lines += [f"offered: {rate:g} requests/s at every level (Poisson arrivals; latency from when each was due)"
              for rate in rates]
    lines += [f"batching on/off products/s at {c} clients: {ratio:.2f}x" for c, ratio in batching_ratios(runs)]
    return "\n".join(lines)


def batching_ratios(runs: list[Run]) -> list[tuple[int, float]]:
    """(clients, products/s with batching / without) where both a batching and a --max-batch-size 1 run exist."""
    on = next((r for r in runs if r.max_batch_size > 1), None)
    off = next((r for r in runs if r.max_batch_size == 1), None)
    if on is None or off is None:
        return []
    offs = {lv.concurrency: lv for lv in off.levels}
    return [(lv.concurrency, lv.products_per_s / offs[lv.concurrency].products_per_s)
            for lv in on.levels if lv.concurrency in offs and offs[lv.concurrency].products_per_s > 0]


def record_rows(path: Path, runs: list[Run], *, engine: str, commit: str, date: str, command: str) -> None:
    """Add the runs to BENCHMARKS.md's Serving area: a row per run and level to the load table, a
    row per run to the start-up table (cold start, peak RSS, overload burst)."""
    first = True
    for run in runs:
        batching = "on" if run.max_batch_size > 1 else "off"
        for lv in run.levels:
            append_table_row(path, SECTION, LOAD_HEADER, LOAD_RULE, table_row([
                date, commit, engine, batching, str(lv.concurrency), f"{lv.p50_ms:.1f}", f"{lv.p95_ms:.1f}",
                f"{lv.p99_ms:.1f}", f"{lv.requests_per_s:.1f}", f"{lv.products_per_s:.1f}", str(lv.errors_5xx),
                _statuses(lv.statuses), f"`{command}`" if first else "the same"]))
            first = False
    for run in runs:
        burst = _statuses(run.overload.statuses) if run.overload else "-"
        append_table_row(path, SECTION, START_HEADER, START_RULE, table_row([
            date, commit, engine, "on" if run.max_batch_size > 1 else "off", f"{run.cold_start_s:.2f}",
            f"{run.peak_rss_mb:.0f}", burst]))


# --- the command ---------------------------------------------------------------------------------

def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        at = argv.index("--")
        argv, extra = argv[:at], argv[at + 1:]
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--engine-spec", default=None, help="engine spec file (extract --print-spec)")
    p.add_argument("--engine", default=None, help="extract's --engine (llm, tagger, ...)")
    p.add_argument("--model", default=None, help="extract's --model")
    p.add_argument("--schema", default="apparel", help="schema the server is built for and the requests name")
    p.add_argument("--queries", default=str(QUERIES), help="JSONL of {\"text\"} (those of --schema, else all)")
    p.add_argument("--levels", default="1,4,16,64", help="concurrency levels, comma-separated")
    p.add_argument("--seconds", type=float, default=10.0, help="seconds per level")
    p.add_argument("--max-requests", type=int, default=1_000_000, help="most requests per level")
    p.add_argument("--warmup", type=int, default=8, help="requests sent after /readyz, before the levels (not counted)")
    p.add_argument("--settle", type=float, default=0.0,
                   help="seconds of each level's load before it is measured (not counted): the level then "
                        "measures the service settled at that load, its batch sizes and throughput estimate, "
                        "not its first batches after the load changed")
    p.add_argument("--rate", type=float, default=None,
                   help="requests/s offered at every level, the clients' Poisson arrivals together (latency counts "
                        "from when a request was due); default: each client sends back to back")
    p.add_argument("--replicas", type=int, default=1,
                   help="servers started on their own ports, the clients split evenly over them (as behind a "
                        "least-connections balancer); give each its share of the cores: -- --threads N")
    p.add_argument("--max-batch-size", type=int, default=32, help="passed to the server")
    p.add_argument("--max-wait-ms", type=float, default=5.0, help="passed to the server")
    p.add_argument("--max-queue", type=int, default=256, help="passed to the server")
    p.add_argument("--compare-batching", action="store_true",
                   help="two runs: --max-batch-size as given, then 1 (batching off); prints the products/s ratio")
    p.add_argument("--overload", action="store_true",
                   help="after the levels, one burst of 4x --max-queue products: the answers should be 429s")
    p.add_argument("--overload-items", type=int, default=16, help="items per overload request")
    p.add_argument("--ready-timeout", type=float, default=600.0, help="seconds to wait for /readyz")
    p.add_argument("--request-timeout", type=float, default=60.0, help="client timeout per request")
    p.add_argument("--server-log", default=None, help="write the server's output here")
    p.add_argument("--json", dest="json_out", default=None, help="also write the report as JSON here")
    p.add_argument("--record", action="store_true",
                   help="add rows to the Serving tables of --benchmarks-file (needs a clean work tree)")
    p.add_argument("--label", default=None, help="the engine column of recorded rows (default: the engine options)")
    p.add_argument("--benchmarks-file", default=str(REPO / "BENCHMARKS.md"))
    args = p.parse_args(argv)
    args.extra = extra
    args.level_list = [int(x) for x in args.levels.split(",") if x.strip()]
    if not args.level_list or min(args.level_list) < 1:
        p.error("--levels: positive integers, comma-separated")
    if args.seconds <= 0:
        p.error("--seconds must be positive")
    if args.settle < 0:
        p.error("--settle must be >= 0")
    if args.replicas < 1:
        p.error("--replicas must be >= 1")
    if args.rate is not None and args.rate <= 0:
        p.error("--rate must be positive")
    return args


def describe_engine(args: argparse.Namespace) -> str:
    if args.engine_spec:
        return f"spec {args.engine_spec}"
    parts = [f"--engine {args.engine}" if args.engine else "", f"--model {args.model}" if args.model else "",
             " ".join(args.extra)]
    return " ".join(p for p in parts if p) or "default engine"


def main(argv: list[str] | None = None, *, command: list[str] | None = None) -> list[Run]:
    args = parse_args(argv)
    commit = clean_commit(REPO, allow=(args.benchmarks_file,)) if args.record else ""  # before the run measures
    texts = load_queries(Path(args.queries), args.schema)
    sizes = [args.max_batch_size] + ([1] if args.compare_batching and args.max_batch_size != 1 else [])
    runs = []
    for size in sizes:
        label = "batching" if size > 1 else "no batching"
        server_args = serve_args(args.schema, max_batch_size=size, max_wait_ms=args.max_wait_ms,
                                 max_queue=args.max_queue, engine_spec=args.engine_spec, engine=args.engine,
                                 model=args.model, extra=args.extra)
        print(f"[{label}] starting: extractor {' '.join(server_args)}", file=sys.stderr, flush=True)
        runs.append(run_server_load(
            server_args, texts, args.schema, args.level_list, args.seconds, label=label, max_batch_size=size,
            max_wait_ms=args.max_wait_ms, max_queue=args.max_queue, probe_overload=args.overload,
            overload_items=args.overload_items, command=command, ready_timeout=args.ready_timeout,
            max_requests=args.max_requests, request_timeout=args.request_timeout,
            log_path=Path(args.server_log) if args.server_log else None, warmup=args.warmup,
            settle=args.settle, replicas=args.replicas, rate=args.rate))
    print(table(runs))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps([r.as_dict() for r in runs], indent=2), encoding="utf-8")
    if args.record:
        engine = args.label or describe_engine(args)
        if args.rate is not None:
            engine += f", {args.rate:g} requests/s offered"
        record_rows(Path(args.benchmarks_file), runs, engine=engine, commit=commit,
                    date=dt.date.today().isoformat(),
                    command=recorded_command("benchmarks/serve_load.py", sys.argv[1:] if argv is None else argv))
        print(f"recorded in {args.benchmarks_file}", file=sys.stderr)
    return runs


if __name__ == "__main__":
    main()
