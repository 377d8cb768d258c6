"""benchmarks/distributed.py without Ray: the offers it writes, the engine spec its options mean, and the
table and BENCHMARKS.md block with ratios against the single-process row."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from conftest import load_script

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench():  # type: ignore[no-untyped-def]
    module = load_script("benchmarks/distributed.py", "distributed_bench")
    yield module
    sys.modules.pop("distributed_bench", None)


def test_offers_are_repeated_with_new_ids_from_the_split_files(bench, tmp_path):
    folder = tmp_path / "data" / "mini"
    folder.mkdir(parents=True)
    (folder / "train.jsonl").write_text('{"input": "Nike shoe", "category": "Shoes", "target_scores": {}}\n'
                                        '{"input": "Hanes tee", "category": "Shirts", "target_scores": {}}\n',
                                        encoding="utf-8")
    out = tmp_path / "offers.jsonl"
    assert bench.write_offers(out, str(tmp_path / "data"), str(folder), ["train"], 5) == 5
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == [f"offer-{i}" for i in range(5)]
    assert [r["text"] for r in rows] == ["Nike shoe", "Hanes tee"] * 2 + ["Nike shoe"]


def test_engine_options_mean_a_spec(bench):
    tagger = bench.engine_spec(bench.parse_args(["--engine", "tagger", "--model", "runs/t"]))
    assert [t.folder for t in tagger.taggers] == ["runs/t"] and tagger.llm is None
    llm = bench.engine_spec(bench.parse_args([]))
    assert llm.llm.model.model == "smollm2-135m" and not llm.taggers
    with pytest.raises(SystemExit):
        bench.engine_spec(bench.parse_args(["--engine", "tagger"]))


def test_table_and_recorded_rows_give_ratios_against_the_single_process_run(bench, tmp_path):
    rows = [bench.Row("single process", 1, 100, 10.0, peak_rss_mb=400, statuses={"ok": 100}),
            bench.Row("ray, 2 worker(s)", 2, 100, 5.0, actor_start_s=2.0, load_s=1.5, peak_rss_mb=500,
                      statuses={"ok": 100}),
            bench.Row("ray, 2 worker(s), one killed", 2, 100, 8.0, attempts=2, reprocessed=7)]
    text = bench.table(rows)
    assert "1.00x" in text and "2.00x" in text and "1.25x" in text
    out = tmp_path / "BENCHMARKS.md"
    bench.record_rows(out, rows, engine="tagger t", commit="abc1234", date="2026-01-01",
                      command="python benchmarks/distributed.py --offers 100")
    lines = out.read_text(encoding="utf-8").splitlines()
    assert bench.SECTION in lines and bench.HEADER in lines
    recorded = [line for line in lines if line.startswith("| 2026-01-01 | abc1234 |")]
    assert len(recorded) == 3 and "`python benchmarks/distributed.py --offers 100`" in recorded[0]
    assert "| ray, 2 worker(s), one killed | 2 | 8.0 | 12.50 | 1.25x |" in recorded[2]
    assert recorded[2].endswith("| 2 | 7 | the same |")
