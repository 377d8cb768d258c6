"""The load client of benchmarks/serve_load.py: async clients on keep-alive connections sending
`extractor serve` single-query requests back to back (``run_level``), a burst past the queue
(``overload``), and what each measured (``LevelResult``, ``OverloadResult``).

A module beside the script, not part of extractor: it is the benchmark's client, and it speaks only
the HTTP the benchmark needs (``Connection``)."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0-100); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


@dataclass
class LevelResult:
    concurrency: int
    seconds: float
    requests: int
    products: int
    latencies_ms: list[float] = field(repr=False, default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    rate: float | None = None
    """Requests per second offered (None: back to back)."""

    @property
    def p50_ms(self) -> float:
        return percentile(self.latencies_ms, 50)

    @property
    def p95_ms(self) -> float:
        return percentile(self.latencies_ms, 95)

    @property
    def p99_ms(self) -> float:
        return percentile(self.latencies_ms, 99)

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def products_per_s(self) -> float:
        return self.products / self.seconds if self.seconds else 0.0

    @property
    def errors_5xx(self) -> int:
        return sum(n for code, n in self.statuses.items() if code.startswith("5"))

    def as_dict(self) -> dict[str, Any]:
        return {"concurrency": self.concurrency, "seconds": round(self.seconds, 3), "requests": self.requests,
                "products": self.products, "p50_ms": self.p50_ms, "p95_ms": self.p95_ms, "p99_ms": self.p99_ms,
                "requests_per_s": self.requests_per_s, "products_per_s": self.products_per_s,
                "statuses": dict(self.statuses), "errors_5xx": self.errors_5xx, "offered_rate": self.rate}


IDLE_SECONDS = 4.0
"""How long the client reuses an idle keep-alive connection (uvicorn closes one after 5 s)."""


class Connection:
    """One keep-alive HTTP/1.1 connection to the server on asyncio streams. The load client shares
    the machine's cores with the server, so its own cost per request must stay small next to the
    server's (an httpx client took a large share of a 2-core machine at the tagger's rates, and so
    slowed the server it measured). It speaks only what the benchmark needs: POST a JSON body, read a
    reply with a Content-Length."""

    def __init__(self, base: str, headers: dict[str, str] | None = None) -> None:
        host_port = base.split("://", 1)[-1].rstrip("/")
        self.host, _, port = host_port.partition(":")
        self.port = int(port or 80)
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self._head = (f"Host: {host_port}\r\nContent-Type: application/json\r\n{extra}").encode()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._idle_since = 0.0

    async def post(self, path: str, body: bytes) -> tuple[int, bytes, float | None]:
        """(status, body, Retry-After seconds or None) of POST ``path``; ConnectionError when the
        server closes or sends no reply. A connection left idle longer than the server keeps one
        (a client waiting out a long Retry-After) is replaced first, as HTTP clients' pools do."""
        if self._writer is not None and time.perf_counter() - self._idle_since > IDLE_SECONDS:
            self.close()
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        assert self._reader is not None
        self._writer.write(b"POST " + path.encode() + b" HTTP/1.1\r\n" + self._head
                           + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        try:
            status_line = await self._reader.readline()
            if not status_line:
                raise ConnectionError("the server closed the connection")
            status = int(status_line.split(None, 2)[1])
            length, close, retry_after = None, False, None
            while True:
                line = await self._reader.readline()
                if line in (b"\r\n", b"\n", b""):
                    break
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"connection" and value.strip().lower() == b"close":
                    close = True
                elif name == b"retry-after":
                    retry_after = float(value)
            data = await self._reader.readexactly(length) if length is not None else await self._reader.read()
        except (asyncio.IncompleteReadError, ValueError, IndexError) as exc:
            self.close()
            raise ConnectionError(f"unreadable reply: {exc}") from exc
        if close or length is None:
            self.close()
        self._idle_since = time.perf_counter()
        return status, data, retry_after

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


async def _send(connection: Connection, schema: str, items: list[dict[str, str]],
                timeout: float) -> tuple[str, int, float, float | None]:
    """(status code or "timeout"/"error", ok records, seconds, Retry-After seconds or None)."""
    body = json.dumps({"schema": schema, "items": items}).encode()
    started = time.perf_counter()
    try:
        status, data, retry_after = await asyncio.wait_for(connection.post("/v1/extract", body), timeout)
    except asyncio.TimeoutError:
        connection.close()  # the reply may still come: this connection cannot be reused
        return "timeout", 0, time.perf_counter() - started, None
    except OSError:
        connection.close()
        return "error", 0, time.perf_counter() - started, None
    elapsed = time.perf_counter() - started
    ok = 0
    if status == 200:
        ok = sum(1 for r in json.loads(data).get("records", []) if r.get("status") != "failed")
    return str(status), ok, elapsed, retry_after


async def run_level(base: str | Sequence[str], texts: list[str], schema: str, concurrency: int, seconds: float, *,
                    max_requests: int = 1_000_000, request_timeout: float = 60.0,
                    headers: dict[str, str] | None = None, rate: float | None = None) -> LevelResult:
    """``concurrency`` clients, each on its own keep-alive connection, sending one-query requests
    back to back for ``seconds`` (at most ``max_requests`` in all); a request under way at the
    deadline is waited for and counted. A client answered 429 waits its Retry-After (to the level's
    end at most) before its next request, as a well-behaved caller does. Several bases (replicas):
    client w talks to ``base[w % n]``, an even split, as a least-connections balancer makes it.

    ``rate``: requests per second offered in all, instead of back to back. Each client sends at the
    times of its own Poisson process of ``rate / concurrency`` (seeded per client, so runs offer the
    same schedule), as independent shoppers arrive; a request due while its client still waits for
    the previous answer is sent right after that answer, and its latency counts from when it was
    due, so a server that falls behind shows it in the latency (no coordinated omission)."""
    bases = [base] if isinstance(base, str) else list(base)
    statuses: dict[str, int] = {}
    latencies: list[float] = []
    counter = {"sent": 0, "products": 0}
    started = time.perf_counter()
    deadline = started + seconds

    async def worker(w: int) -> None:
        connection = Connection(bases[w % len(bases)], headers)
        arrivals = random.Random(w)
        due = started
        try:
            while counter["sent"] < max_requests:
                if rate is not None:
                    due += arrivals.expovariate(rate / concurrency)
                    await asyncio.sleep(max(0.0, due - time.perf_counter()))
                if time.perf_counter() >= deadline or (rate is not None and due >= deadline):
                    break
                n = counter["sent"]
                counter["sent"] += 1
                item = {"id": f"c{w}-{n}", "text": texts[n % len(texts)]}
                late = max(0.0, time.perf_counter() - due) if rate is not None else 0.0
                status, ok, elapsed, retry_after = await _send(connection, schema, [item], request_timeout)
                statuses[status] = statuses.get(status, 0) + 1
                if status == "200":
                    latencies.append((late + elapsed) * 1000)
                    counter["products"] += ok
                elif status == "429":
                    await asyncio.sleep(max(0.0, min(retry_after or 1.0, deadline - time.perf_counter())))
                    due = max(due, time.perf_counter())  # the requests due meanwhile were not made
        finally:
            connection.close()

    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    elapsed = time.perf_counter() - started
    return LevelResult(concurrency, elapsed, sum(statuses.values()), counter["products"], latencies,
                       dict(sorted(statuses.items())), rate)


@dataclass
class OverloadResult:
    requests: int
    items_per_request: int
    statuses: dict[str, int]
    seconds: float

    @property
    def ok(self) -> bool:
        """Some 429s, and no timeouts, transport errors or 5xx."""
        bad = sum(n for code, n in self.statuses.items() if code in ("timeout", "error") or code.startswith("5"))
        return self.statuses.get("429", 0) > 0 and bad == 0

    def as_dict(self) -> dict[str, Any]:
        return {"requests": self.requests, "items_per_request": self.items_per_request,
                "statuses": dict(self.statuses), "seconds": round(self.seconds, 3), "ok": self.ok}


async def overload(base: str | Sequence[str], texts: list[str], schema: str, *, max_queue: int,
                   items_per_request: int = 16, burst_factor: float = 4.0, request_timeout: float = 60.0,
                   headers: dict[str, str] | None = None) -> OverloadResult:
    """One burst of concurrent requests carrying ``burst_factor`` x ``max_queue`` products at once
    to each base (replica), the requests spread evenly over them."""
    bases = [base] if isinstance(base, str) else list(base)
    requests = max(2, int(-(-burst_factor * max_queue * len(bases) // items_per_request)))
    connections = [Connection(bases[r % len(bases)], headers) for r in range(requests)]
    started = time.perf_counter()
    answers = await asyncio.gather(*(
        _send(connections[r], schema, [{"id": f"o{r}-{i}", "text": texts[(r * items_per_request + i) % len(texts)]}
                                       for i in range(items_per_request)], request_timeout)
        for r in range(requests)))
    elapsed = time.perf_counter() - started
    for connection in connections:
        connection.close()
    statuses: dict[str, int] = {}
    for status, *_ in answers:
        statuses[status] = statuses.get(status, 0) + 1
    return OverloadResult(requests, items_per_request, dict(sorted(statuses.items())), elapsed)
