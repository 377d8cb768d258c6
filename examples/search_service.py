"""Shopper queries -> search filters, through `extractor serve` with a MiniLM tagger.

(a) Trains a MiniLM tagger on examples/apparel_labelled.jsonl with `extractor finetune-tagger`
    (a minute or so on a CPU), unless --tagger names a trained tagger folder;
(b) starts `extractor serve --engine tagger --model FOLDER --schema apparel --normalize --no-auth`
    on a free loopback port and waits for /readyz;
(c) sends the apparel queries of examples/queries.jsonl and prints, per query, the filters found
    (attribute -> canonical value, from the record's normalized values);
(d) stops the server with SIGTERM.

    python examples/search_service.py                         # trains into runs/examples/apparel-tagger
    python examples/search_service.py --tagger runs/examples/apparel-tagger   # reuse it
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TRAIN = HERE / "apparel_labelled.jsonl"
QUERIES = HERE / "queries.jsonl"
EXTRACTOR = [sys.executable, "-c", "import sys; from extractor.cli import main; sys.exit(main(sys.argv[1:]))"]
"""`extractor` run by this interpreter (so the checkout's package and its virtual environment)."""
TRAIN_OPTIONS = ["--lr", "5e-4", "--head-lr", "5e-3", "--batch-size", "8", "--window", "48", "--overlap", "8",
                 "--validation-share", "0", "--seed", "0"]
"""As tests/test_tagger.py's real-MiniLM run: short texts, one small window each, higher rates for a small set."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Shopper queries -> normalized search filters via extractor serve.")
    p.add_argument("--tagger", default=None, help="a trained tagger folder (default: train one)")
    p.add_argument("--output", default="runs/examples/apparel-tagger", help="where to train the tagger")
    p.add_argument("--train", default=str(TRAIN), help="labelled {\"text\", \"record\"} JSONL (apparel)")
    p.add_argument("--queries", default=str(QUERIES), help="queries JSONL {\"id\", \"schema\", \"text\"}")
    p.add_argument("--epochs", type=int, default=4, help="training epochs")
    p.add_argument("--device", default="cpu", help="training device")
    p.add_argument("--limit", type=int, default=None, help="send only the first N queries")
    p.add_argument("--ready-timeout", type=float, default=300.0, help="seconds to wait for the server")
    p.add_argument("--json", action="store_true", help="print one JSON line per query instead of text")
    return p.parse_args(argv)


def train(train_file: str, output: str, epochs: int, device: str) -> Path:
    """`extractor finetune-tagger TRAIN -s apparel -o OUTPUT`; the folder."""
    command = [*EXTRACTOR, "finetune-tagger", train_file, "-s", "apparel", "-o", output, "--epochs", str(epochs),
               "--device", device, *TRAIN_OPTIONS]
    print(f"training: extractor {' '.join(command[len(EXTRACTOR):])}", file=sys.stderr, flush=True)
    subprocess.run(command, check=True)
    return Path(output)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(tagger: Path, ready_timeout: float, log: Any) -> tuple[subprocess.Popen, str]:
    import httpx

    port = free_port()
    command = [*EXTRACTOR, "serve", "--engine", "tagger", "--model", str(tagger), "--schema", "apparel",
               "--normalize", "--no-auth", "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + ready_timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"extractor serve exited with {process.returncode}; its log: {log.name}")
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return process, base
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            stop(process)
            raise RuntimeError(f"extractor serve not ready within {ready_timeout:.0f} s; its log: {log.name}")
        time.sleep(0.1)


def stop(process: subprocess.Popen) -> int | None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def filters(record: dict[str, Any]) -> dict[str, Any]:
    """attribute -> canonical value: the normalized value where there is one, else the value found."""
    normalized = record.get("normalized") or {}
    out = {}
    for name, value in (record.get("attributes") or {}).items():
        if value is None:
            continue
        canonical = _canonical(normalized.get(name))
        out[name] = canonical if canonical is not None else value
    return out


def _canonical(entry: Any) -> Any:
    """The ``value`` of a normalized entry ({"value", "raw", "method", ...}), or of each in a list."""
    if isinstance(entry, dict):
        return entry.get("value")
    if isinstance(entry, list):
        values = [_canonical(e) for e in entry]
        return [v for v in values if v is not None] or None
    return entry


def query(base: str, queries: list[dict[str, str]]) -> list[dict[str, Any]]:
    import httpx

    items = [{"id": q["id"], "text": q["text"]} for q in queries]
    records = []
    for start in range(0, len(items), 32):  # under the server's --max-items (64)
        response = httpx.post(f"{base}/v1/extract", timeout=120,
                              json={"schema": "apparel", "items": items[start:start + 32], "normalize": True})
        response.raise_for_status()
        records += response.json()["records"]
    return records


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    rows = [json.loads(line) for line in Path(args.queries).read_text(encoding="utf-8").splitlines() if line.strip()]
    queries = [r for r in rows if r.get("schema", "apparel") == "apparel"][:args.limit]
    tagger = Path(args.tagger) if args.tagger else train(args.train, args.output, args.epochs, args.device)
    with tempfile.NamedTemporaryFile(prefix="search_service-", suffix=".log", delete=False) as log:
        started = time.monotonic()
        process, base = start_server(tagger, args.ready_timeout, log)
        print(f"server ready at {base} in {time.monotonic() - started:.1f} s", file=sys.stderr, flush=True)
        try:
            records = query(base, queries)
        finally:
            code = stop(process)
    for q, record in zip(queries, records):
        found = filters(record)
        if args.json:
            print(json.dumps({"id": q["id"], "query": q["text"], "filters": found, "status": record["status"]}))
        else:
            shown = ", ".join(f"{k}={v}" for k, v in found.items()) or "(no filters)"
            print(f"{q['text']!r:55} -> {shown}")
    print(f"server stopped (exit {code})", file=sys.stderr)
    os.unlink(log.name) if code == 0 else print(f"server log: {log.name}", file=sys.stderr)
    return 0 if code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
