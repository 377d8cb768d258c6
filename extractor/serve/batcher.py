"""One engine thread fed by an asyncio queue: concurrent requests' products are micro-batched.

The engine is not thread-safe and holds the model, so exactly one thread (a one-worker executor)
builds it and runs every batch. Requests put their documents on the queue; the dispatcher takes the
first waiting request, then gathers more for up to ``max_wait_ms`` (longer when a batch takes
seconds, shorter once requests stop coming: GATHER_SHARE) or until ``max_batch_size`` products, and
hands the batch to the engine thread; a batch holds at most half a deadline's worth of work
(BATCH_SHARE). A request that has had no company for a while (COMPANY_SECONDS) is not held back
waiting for more: a lone client's queries run at once. While that batch runs, new requests wait in
the queue and make up the next batch, so batches grow with load. More throughput comes from more
processes or replicas, not more threads.

The queue is bounded in products (``max_queue``): a request that does not fit is refused at once
(QueueFull, 429) rather than waiting. Each request has a deadline (DeadlineExceeded, 504); a
request whose deadline passed before its batch started is dropped from the batch, and one whose
wait left it less time than its batch will take is answered Overloaded (429) when the batch starts.

Admission by expected wait: the batcher keeps the engine's recent throughput (products per second
over the last batches, the warm-up's first). A request that would queue behind other work and, at
that throughput, could not be answered within its deadline (less a margin, ADMIT_SHARE) is refused
at once (Overloaded, 429 with a Retry-After of about the excess) instead of being accepted to time
out: under overload a client learns in milliseconds to come back later, and the accepted requests
still meet their deadline. A request with nothing ahead of it is always accepted (if the engine
alone is slower than the deadline, that is a 504, not an overload)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ..engine import Engine
from ..errors import ExtractorError
from ..records import Document, Record


class QueueFull(Exception):
    """The queue holds ``max_queue`` products already."""


class DeadlineExceeded(Exception):
    """The request's records were not ready within its deadline."""


class ShuttingDown(Exception):
    """The batcher no longer takes requests."""


class Overloaded(Exception):
    """The work queued ahead would keep the request past its deadline."""

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


ADMIT_SHARE = 0.8
"""A request queued behind others is admitted while its expected wait is at most this share of its
deadline: the estimate is an average over batches of other texts, and the margin absorbs a batch
that runs slower than it."""
BATCH_SHARE = 0.5
"""A batch holds at most this share of its requests' deadline in expected run time (``batch_limit``
products). All its products are answered when it ends, so a request's wait is counted in whole
batches: the running one, the full batches ahead of it, and its own as large as the running one
(requests that come after it fill it as they filled that one). Admission by that count keeps at
most about a batch queued behind the running one under overload, every batch full, and every
admitted request's batch ending in time."""
GATHER_SHARE = 0.05
"""A batch waits for more requests for ``max_wait_ms`` or for this share of the time the engine
will take to run what it has gathered, whichever is longer: when a batch runs for seconds (an LLM),
clients answered together come back within tens of milliseconds, and a few more of those fill the
next batch instead of splitting it in two. It stops waiting sooner once no request has come for
``max_wait_ms`` or this share of one product's time, whichever is longer (the quiet gap): the
clients that come back together have come, and the engine should not idle for the rest."""
COMPANY_SECONDS = 1.0
"""A batch waits for more requests only when, within this many seconds, two requests were
outstanding at once (or the batcher started). A client alone, one request at a time, gains nothing
from the wait and paid it on every request: twice the latency of a tagger's query (20 against
10 ms). Under concurrent load requests overlap all the time, so the wait stays."""
RATE_WEIGHT = 0.3
"""Weight of the newest product in the throughput estimate (an exponential moving average over
products: a batch of n weighs 1 - 0.7**n)."""


@dataclass
class _Job:
    docs: list[Document]
    future: asyncio.Future
    cancelled: bool = False
    enqueued: float = field(default_factory=time.perf_counter)
    timeout: float | None = None
    """The request's deadline in seconds (None: none)."""


class Batcher:
    """Micro-batches requests onto the one engine thread (see the module docstring)."""

    def __init__(self, max_batch_size: int = 32, max_wait_ms: float = 5.0, max_queue: int = 1024,
                 metrics: Any = None) -> None:
        if max_batch_size < 1 or max_queue < 1 or max_wait_ms < 0:
            raise ValueError("max_batch_size and max_queue must be >= 1, max_wait_ms >= 0")
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait_ms / 1000
        self.max_queue = max_queue
        self.metrics = metrics
        self.engine: Engine | None = None
        self.pending = 0
        """Products queued and not yet handed to the engine thread."""
        self.batches: list[int] = []
        """The size of every batch run (tests and benchmarks read it)."""
        self.rate: float | None = None
        """Products per second the engine thread ran lately (None before the first batch)."""
        self._running = 0
        self._run_started = 0.0
        self._outstanding = 0
        """Requests submitted and not yet answered or refused."""
        self._company_at = time.perf_counter()
        """When two requests were last outstanding at once (start: company is assumed at first)."""
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="extractor-engine")
        self._queue: asyncio.Queue[_Job | None] | None = None
        self._task: asyncio.Task | None = None
        self._siblings: dict[str, Engine] = {}
        self._closing = False

    # --- the engine thread -------------------------------------------------------------------------

    async def run_on_engine_thread(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn(*args)`` on the engine thread (building the engine there, for one)."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def _extract(self, docs: list[Document]) -> list[Record]:
        """On the engine thread: records for ``docs`` (each with its schema), in order, grouped by
        schema and run as ``extractor extract`` runs them (``pipeline.extract_stream``), each
        group as one engine batch: the micro-batch is the engine's batch (``max_batch_size``), not
        the spec's ``batch_size`` (a batch shares its prompt prefix and its decoding steps)."""
        from ..pipeline import extract_stream

        assert self.engine is not None
        groups: dict[str, list[int]] = {}
        for i, doc in enumerate(docs):
            groups.setdefault(doc.schema or self.engine.schema.name, []).append(i)
        out: list[Record | None] = [None] * len(docs)
        for name, idx in groups.items():
            engine = self._sibling(name)
            records: list[Record] = []
            extract_stream(engine, [docs[i] for i in idx], on_record=records.append, batch_size=self.max_batch_size)
            for i, record in zip(idx, records):
                out[i] = record
        return [r for r in out if r is not None]

    def observe(self, products: int, seconds: float) -> None:
        """Fold a batch of ``products`` that took ``seconds`` into the throughput estimate."""
        if products <= 0 or seconds <= 0:
            return
        latest = products / seconds
        # Weighted by products, not batches: under load the large batches are most of the work,
        # and one lone product (a slower rate per product) must not undo their estimate.
        weight = 1 - (1 - RATE_WEIGHT) ** products
        self.rate = latest if self.rate is None else (1 - weight) * self.rate + weight * latest

    def batch_limit(self, timeout: float | None) -> int:
        """Products per batch for requests with this deadline: ``max_batch_size``, and no more
        than the recent throughput runs in BATCH_SHARE of the deadline."""
        if self.rate is None or timeout is None:
            return self.max_batch_size
        return max(1, min(self.max_batch_size, int(BATCH_SHARE * timeout * self.rate)))

    def expected_wait(self, products: int, timeout: float | None = None) -> float | None:
        """Seconds until a request of ``products`` submitted now would be answered, at the recent
        throughput: the running batch's rest, then full batches of ``batch_limit`` products, then
        its own batch: what is queued for it, or as many products as the running batch holds if
        that is more (requests that come after it join it as they joined the running one), up to
        the limit. None when nothing is ahead of it or no batch has run yet."""
        ahead = self.pending + self._running
        if self.rate is None or ahead == 0:
            return None
        running_left = max(0.0, self._running / self.rate - (time.perf_counter() - self._run_started))
        limit = self.batch_limit(timeout)
        full, rest = divmod(self.pending + products, limit)
        own = min(limit, max(rest, self._running)) if rest else 0
        return running_left + (full * limit + own) / self.rate

    def _gather_seconds(self, products: int) -> float:
        """How long a batch of ``products`` waits for more (``GATHER_SHARE``)."""
        if self.rate is None:
            return self.max_wait
        return max(self.max_wait, GATHER_SHARE * products / self.rate)

    def _quiet_seconds(self) -> float:
        """How long without a new request ends the wait for more (``GATHER_SHARE``)."""
        return self._gather_seconds(1)

    def _sibling(self, name: str) -> Engine:
        """The engine for schema ``name`` (siblings on the same model are built once and kept); when
        one cannot be built, the engine itself, whose extract_stream then gives failed records."""
        assert self.engine is not None
        if name == self.engine.schema.name:
            return self.engine
        if name not in self._siblings:
            try:
                self._siblings[name] = self.engine.with_schema(name)
            except ExtractorError:
                return self.engine
        return self._siblings[name]

    # --- the queue ---------------------------------------------------------------------------------

    def start(self, engine: Engine | None = None) -> None:
        """Start the dispatcher in the running event loop (the engine may be set later)."""
        if engine is not None:
            self.engine = engine
        self._queue = asyncio.Queue()
        self._task = asyncio.get_running_loop().create_task(self._dispatch())

    async def submit(self, docs: list[Document], timeout: float | None = None) -> list[Record]:
        """The records for ``docs``, in order; QueueFull, DeadlineExceeded or ShuttingDown instead."""
        if self._closing or self._queue is None:
            raise ShuttingDown("the service is shutting down")
        if self.pending + len(docs) > self.max_queue:
            raise QueueFull(f"the queue holds {self.pending} products (at most {self.max_queue})")
        wait = self.expected_wait(len(docs), timeout) if timeout is not None else None
        if wait is not None and timeout is not None and wait > ADMIT_SHARE * timeout:
            raise Overloaded(f"about {wait:.1f} s of work is ahead of this request, past its {timeout:g} s deadline",
                             wait - ADMIT_SHARE * timeout)
        job = _Job(docs, asyncio.get_running_loop().create_future())
        job.timeout = timeout
        self.pending += len(docs)
        self._gauge()
        self._queue.put_nowait(job)
        self._outstanding += 1
        if self._outstanding > 1:
            self._company_at = time.perf_counter()
        try:
            return await asyncio.wait_for(asyncio.shield(job.future), timeout)
        except asyncio.TimeoutError:
            job.cancelled = True
            raise DeadlineExceeded(f"no records within {timeout:g} s") from None
        finally:
            self._outstanding -= 1

    async def _dispatch(self) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        held: _Job | None = None
        while True:
            job = held if held is not None else await self._queue.get()
            held = None
            if job is None:
                return
            batch = [job]
            size = len(job.docs)
            stop = False
            opened = last = loop.time()
            limit = self.batch_limit(job.timeout)
            alone = time.perf_counter() - self._company_at > COMPANY_SECONDS  # take what is queued, no more
            while size < limit:
                remaining = 0.0 if alone else \
                    min(opened + self._gather_seconds(size), last + self._quiet_seconds()) - loop.time()
                try:
                    nxt = self._queue.get_nowait() if remaining <= 0 else \
                        await asyncio.wait_for(self._queue.get(), remaining)
                except (asyncio.QueueEmpty, asyncio.TimeoutError):
                    break
                last = loop.time()
                if nxt is None:
                    stop = True
                    break
                limit = min(limit, self.batch_limit(nxt.timeout))
                if size + len(nxt.docs) > limit:
                    held = nxt  # the next batch starts with it
                    break
                batch.append(nxt)
                size += len(nxt.docs)
            await self._run(batch)
            if stop:
                while not self._queue.empty():  # what was queued before the stop is still answered
                    rest = self._queue.get_nowait()
                    if rest is not None:
                        await self._run([rest])
                return

    async def _run(self, batch: list[_Job]) -> None:
        self.pending -= sum(len(job.docs) for job in batch)
        self._gauge()
        live = self._in_time([job for job in batch if not job.cancelled])
        if not live:
            return
        docs = [doc for job in live for doc in job.docs]
        if self.metrics is not None:
            self.metrics.batch_size.observe(len(docs))
        self.batches.append(len(docs))
        self._running, self._run_started = len(docs), time.perf_counter()
        try:
            records = await self.run_on_engine_thread(self._extract, docs)
        except Exception as exc:  # noqa: BLE001  (an engine failure answers the requests, it does not stop the loop)
            for job in live:
                if not job.future.done():
                    job.future.set_exception(exc)
            return
        finally:
            self._running = 0
        self.observe(len(docs), time.perf_counter() - self._run_started)
        start = 0
        for job in live:
            if not job.future.done():
                job.future.set_result(records[start:start + len(job.docs)])
            start += len(job.docs)

    def _in_time(self, jobs: list[_Job]) -> list[_Job]:
        """``jobs`` less those whose wait in the queue has left them less time than their batch will
        take (at the recent throughput): each of those is answered Overloaded (429) now instead of
        DeadlineExceeded (504) when its deadline passes mid-batch. Batches ahead that ran slower than
        their estimate cause it; the margin at admission (ADMIT_SHARE) makes it rare. A job whose
        whole deadline is shorter than the batch stays: the engine is too slow for it, not busy."""
        if self.rate is None:
            return jobs
        now = time.perf_counter()
        run = sum(len(job.docs) for job in jobs) / self.rate
        kept = []
        for job in jobs:
            left = None if job.timeout is None else job.enqueued + job.timeout - now
            if left is not None and left < run <= job.timeout and not job.future.done():
                job.future.set_exception(Overloaded(
                    f"the work queued ahead left {max(left, 0):.1f} s of the {job.timeout:g} s deadline, "
                    f"less than this batch's {run:.1f} s", run))
                continue
            kept.append(job)
        return kept

    def _gauge(self) -> None:
        if self.metrics is not None:
            self.metrics.queue_depth.set(self.pending)

    async def close(self) -> None:
        """Refuse new requests, answer every queued one, then stop the engine thread."""
        self._closing = True
        if self._queue is not None and self._task is not None:
            self._queue.put_nowait(None)
            await self._task
        self._executor.shutdown(wait=True)
