"""extractor/serve/batcher.py: the throughput estimate and admission by expected wait, on a batcher
whose engine thread runs a stub (no model)."""

from __future__ import annotations

import asyncio
import time

import pytest

from extractor.records import Document
from extractor.serve.batcher import ADMIT_SHARE, BATCH_SHARE, GATHER_SHARE, Batcher, DeadlineExceeded, Overloaded


def test_the_estimate_starts_at_the_first_batch_and_follows_the_latest():
    batcher = Batcher()
    assert batcher.rate is None and batcher.expected_wait(1) is None
    batcher.observe(1, 0.5)
    assert batcher.rate == pytest.approx(2.0)
    batcher.observe(0, 1.0)  # nothing run: no change
    batcher.observe(3, 0.0)
    assert batcher.rate == pytest.approx(2.0)
    for _ in range(40):
        batcher.observe(10, 1.0)
    assert batcher.rate == pytest.approx(10.0, rel=1e-3)


@pytest.mark.parametrize(("pending", "running", "products", "timeout", "expected"), [
    (0, 0, 5, None, None),  # nothing ahead: always admitted, no estimate
    (4, 0, 1, None, 0.5),  # 5 products at 10 per s: a full batch of 4, then its own of 1
    (0, 3, 1, None, 0.6),  # a batch of 3 just started (0.3 s), then its own, as large as that one
    (0, 10, 2, None, 1.4),  # a batch of 10 just started: 1 s left, then its own, full (4)
    (6, 10, 4, None, 2.2),  # 1 s left, then two full batches and its own, full
    (4, 0, 1, 0.6, 0.5),  # a 0.6 s deadline allows batches of 3 (BATCH_SHARE of it): 3, then 2
    (7, 0, 1, None, 0.8),  # it ends the second full batch: no partial one after
])
def test_expected_wait_counts_whole_batches(pending, running, products, timeout, expected):
    batcher = Batcher(max_batch_size=4)
    batcher.observe(10, 1.0)
    batcher.pending = pending
    batcher._running, batcher._run_started = running, time.perf_counter()
    wait = batcher.expected_wait(products, timeout)
    if expected is None:
        assert wait is None
    else:
        assert wait == pytest.approx(expected, abs=0.05)


def _stub_batcher(seconds_per_product: float, **options) -> Batcher:  # type: ignore[no-untyped-def]
    batcher = Batcher(**options)

    def extract(docs: list[Document]) -> list[Document]:  # the batcher hands back whatever the engine gives
        time.sleep(seconds_per_product * len(docs))
        return docs

    batcher._extract = extract  # type: ignore[method-assign]
    return batcher


def test_overload_is_refused_at_once_and_the_admitted_meet_their_deadline():
    """40 one-product requests at once on an engine estimated at 20 products/s, batches of 1, a 1 s
    deadline: those that would wait past ADMIT_SHARE of it are refused in milliseconds; no admitted
    request times out. (The stub runs a little faster than its estimate, so that a slow test
    machine's scheduling cannot turn the last admitted request into a timeout.)"""

    async def main() -> tuple[list[str], list[float]]:
        batcher = _stub_batcher(0.04, max_batch_size=1, max_wait_ms=0)
        batcher.start()
        batcher.observe(1, 0.05)  # as the warm-up does
        outcomes: list[str] = []
        refused_after: list[float] = []

        async def one(i: int) -> None:
            started = time.perf_counter()
            try:
                await batcher.submit([Document(id=str(i), text="t")], timeout=1.0)
                outcomes.append("ok")
            except Overloaded as exc:
                assert exc.retry_after_s > 0
                refused_after.append(time.perf_counter() - started)
                outcomes.append("overloaded")
            except DeadlineExceeded:
                outcomes.append("deadline")

        await asyncio.gather(*(one(i) for i in range(40)))
        await batcher.close()
        return outcomes, refused_after

    outcomes, refused_after = asyncio.run(main())
    assert "deadline" not in outcomes
    admitted = outcomes.count("ok")
    # the k-th request (k from 0) waits (k + 1) / 20 s by the estimate; the first has nothing ahead
    assert admitted == int(ADMIT_SHARE * 20) + 1 or admitted == int(ADMIT_SHARE * 20), outcomes
    assert outcomes.count("overloaded") == 40 - admitted
    assert max(refused_after) < 0.1


def test_a_lone_request_slower_than_its_deadline_is_a_timeout_not_an_overload():
    async def main() -> str:
        batcher = _stub_batcher(0.3, max_batch_size=1, max_wait_ms=0)
        batcher.start()
        batcher.observe(1, 0.3)
        try:
            await batcher.submit([Document(id="1", text="t")], timeout=0.1)
            return "ok"
        except Overloaded:
            return "overloaded"
        except DeadlineExceeded:
            return "deadline"
        finally:
            await batcher.close()

    assert asyncio.run(main()) == "deadline"


def test_a_micro_batch_is_one_engine_batch_whatever_the_spec_batch_size():
    """The spec's batch_size (2 here) does not split what the batcher gathered (up to
    max_batch_size): the whole micro-batch shares one engine batch."""
    import types

    from extractor.engine import Engine
    from extractor.records import Provenance, Record
    from extractor.schemas import load_schema

    seen: list[int] = []

    class Counting(Engine):
        schema = load_schema("apparel")
        config = types.SimpleNamespace(batch_size=2)
        provenance = Provenance(model="stub", adapter=None, prompt="-", schema="apparel", decoding="-")

        def extract_batch(self, docs: list[Document]) -> list[Record]:
            seen.append(len(docs))
            return [Record(id=d.id, attributes={}, provenance=self.provenance) for d in docs]

    batcher = Batcher(max_batch_size=4)
    batcher.engine = Counting()
    records = batcher._extract([Document(id=str(i), text=f"tee {i}") for i in range(6)])
    assert [r.id for r in records] == [str(i) for i in range(6)]
    assert seen == [4, 2]


def test_a_slow_engine_waits_a_share_of_its_batch_time_for_more_requests():
    """At 1 product/s a batch of one waits GATHER_SHARE of a second (50 ms) for company, where
    --max-wait-ms 0 alone would have run the first request by itself."""

    async def main() -> list[int]:
        batcher = _stub_batcher(0.001, max_batch_size=8, max_wait_ms=0)
        batcher.start()
        batcher.observe(1, 1.0)
        first = asyncio.ensure_future(batcher.submit([Document(id="a", text="t")], timeout=10))
        await asyncio.sleep(0.2 * GATHER_SHARE)  # well within the window
        await batcher.submit([Document(id="b", text="t")], timeout=10)
        await first
        await batcher.close()
        return batcher.batches

    assert asyncio.run(main()) == [2]


def test_a_batch_stops_waiting_once_requests_stop_coming():
    """At 0.5 products/s four requests in quick succession may wait 400 ms (GATHER_SHARE of their
    8 s) for more, but a request 200 ms after the last one, past the quiet gap of 100 ms, comes too
    late: the four run without it, and it runs next."""

    async def main() -> list[int]:
        batcher = _stub_batcher(0.001, max_batch_size=8, max_wait_ms=0)
        batcher.start()
        batcher.observe(1, 2.0)
        early = []
        for i in range(4):
            early.append(asyncio.ensure_future(batcher.submit([Document(id=str(i), text="t")], timeout=30)))
            await asyncio.sleep(0.005)
        await asyncio.sleep(4 * GATHER_SHARE)  # 200 ms: inside the 400 ms window, past the gap
        await batcher.submit([Document(id="late", text="t")], timeout=30)
        await asyncio.gather(*early)
        await batcher.close()
        return batcher.batches

    assert asyncio.run(main()) == [4, 1]


def test_a_lone_client_is_not_held_back_waiting_for_company(monkeypatch: pytest.MonkeyPatch):
    """With a 100 ms wait, a request 20 ms after another joins its batch while requests keep company
    (at start, and after two were outstanding at once); once no two have overlapped for
    COMPANY_SECONDS, each runs at once, so the second comes after the first is answered."""
    monkeypatch.setattr("extractor.serve.batcher.COMPANY_SECONDS", 0.3)

    async def pair(batcher: Batcher, name: str) -> None:
        first = asyncio.ensure_future(batcher.submit([Document(id=name, text="t")], timeout=10))
        await asyncio.sleep(0.02)
        await batcher.submit([Document(id=name + "2", text="t")], timeout=10)
        await first

    async def main() -> list[int]:
        batcher = _stub_batcher(0.001, max_batch_size=8, max_wait_ms=100)
        batcher.start()
        await pair(batcher, "start")  # company is assumed at start: one batch of two
        await asyncio.sleep(0.5)  # alone for longer than COMPANY_SECONDS
        await pair(batcher, "alone")  # the first runs at once: two batches
        await asyncio.gather(*(batcher.submit([Document(id=f"c{i}", text="t")], timeout=10) for i in range(2)))
        await pair(batcher, "company")  # two were outstanding at once just now: the wait is back
        await batcher.close()
        return batcher.batches

    assert asyncio.run(main()) == [2, 1, 1, 2, 2]


async def _outcome(batcher: Batcher, doc_id: str, timeout: float, delay: float = 0.0) -> str:
    """Submit one one-product request after ``delay`` s: "ok", "overloaded" or "deadline"."""
    await asyncio.sleep(delay)
    try:
        await batcher.submit([Document(id=doc_id, text="t")], timeout=timeout)
        return "ok"
    except Overloaded:
        return "overloaded"
    except DeadlineExceeded:
        return "deadline"


def test_under_sustained_overload_batches_are_full_and_nobody_admitted_is_late():
    """10 products/s, a 2 s deadline: batches of at most 10 (1 s, BATCH_SHARE). A burst of 30
    requests, then 30 more half-way through the first batch: admission counts whole batches (the
    running one's rest, then its own as if full), so each wave fills one batch, the rest are
    refused at once, and every admitted request is answered within its deadline."""

    async def main() -> tuple[list[str], list[int]]:
        batcher = _stub_batcher(0.09, max_batch_size=32, max_wait_ms=20)  # a little faster than estimated
        batcher.start()
        batcher.observe(1, 0.1)
        outcomes = list(await asyncio.gather(*(_outcome(batcher, str(i), 2.0) for i in range(30)),
                                             *(_outcome(batcher, str(100 + i), 2.0, 0.5) for i in range(30))))
        await batcher.close()
        return outcomes, batcher.batches

    outcomes, batches = asyncio.run(main())
    assert "deadline" not in outcomes, outcomes
    assert batches == [10, 10], batches
    assert outcomes.count("ok") == 20 and outcomes.count("overloaded") == 40


def test_a_batch_holds_at_most_half_a_deadline_of_work():
    """12 one-product requests at once, 10 products/s, a 1 s deadline: no batch holds more than
    BATCH_SHARE of the deadline's worth (5 products), so one batch running slow cannot make them
    all late; admission counts that batch as full and refuses the rest."""

    async def main() -> tuple[list[str], list[int]]:
        batcher = _stub_batcher(0.1, max_batch_size=32, max_wait_ms=50)
        batcher.start()
        batcher.observe(1, 0.1)
        outcomes = list(await asyncio.gather(*(_outcome(batcher, str(i), 1.0) for i in range(12))))
        await batcher.close()
        return outcomes, batcher.batches

    outcomes, batches = asyncio.run(main())
    assert "deadline" not in outcomes
    assert max(batches) == int(BATCH_SHARE * 10), batches
    assert sum(batches) == outcomes.count("ok")


def test_a_request_late_from_queueing_behind_a_slow_batch_is_refused_at_its_batch_start():
    """The estimate says 20 products/s; a lone "slow" product takes 0.5 s. A 4-product request with
    a 0.65 s deadline is admitted behind it (expected wait 0.25 s), but when its batch starts at
    0.5 s only 0.15 s of its deadline is left, less than the batch's expected 0.27 s: it is answered
    Overloaded (429) then, not DeadlineExceeded (504) at 0.65 s in the middle of its batch, and the
    engine does not run it."""

    async def main() -> tuple[list[str], list[int], float]:
        batcher = Batcher(max_batch_size=4, max_wait_ms=0)

        def extract(docs: list[Document]) -> list[Document]:
            time.sleep(sum(0.5 if d.text == "slow" else 0.05 for d in docs))
            return docs

        batcher._extract = extract  # type: ignore[method-assign]
        batcher.start()
        batcher.observe(1, 0.05)
        slow = asyncio.ensure_future(batcher.submit([Document(id="s", text="slow")], timeout=2.0))
        await asyncio.sleep(0.01)
        started = time.perf_counter()
        try:
            await batcher.submit([Document(id=str(i), text="t") for i in range(4)], timeout=0.65)
            outcome = "ok"
        except Overloaded:
            outcome = "overloaded"
        except DeadlineExceeded:
            outcome = "deadline"
        answered_after = time.perf_counter() - started
        await slow
        await batcher.close()
        return [outcome], batcher.batches, answered_after

    outcomes, batches, answered_after = asyncio.run(main())
    assert outcomes == ["overloaded"]
    assert batches == [1]
    assert answered_after < 0.6
