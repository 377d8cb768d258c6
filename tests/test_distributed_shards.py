"""extractor/distributed without Ray: the shard plan, one shard's extraction (resume, the batch
exception policy, attempts), the join, the row-level UDF called directly, and the CLI's refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from extractor.backends.scripted import ScriptedBackend
from extractor.cli import main
from extractor.config import ExtractConfig
from extractor.distributed.shards import (ShardLayout, collect, pending, plan_shards, read_attempts, reprocessed,
                                          split_counts, write_plan)
from extractor.distributed.udf import ExtractUDF
from extractor.distributed.work import run_shard
from extractor.errors import ExtractorError, InputError
from extractor.models import model_loader
from extractor.schemas import load_schema
from extractor.spec import EngineSpec, LLMSpec, build_engine

SPEC = EngineSpec(llm=LLMSpec(extract=ExtractConfig(decoding="free")))


def reply(prompt: str) -> str:
    text = prompt.rsplit("Product: ", 1)[1]
    return json.dumps({"Brand": text.split()[0].strip('"').title(), "Pack Count": None})


def scripted_engine(fail_on: str | None = None):  # type: ignore[no-untyped-def]
    """The spec's engine on a ScriptedBackend; a batch holding the text ``fail_on`` raises an ExtractorError
    (which extract_stream passes on, so only the worker's batch policy can save the run)."""
    with model_loader(lambda config: ScriptedBackend(reply, name=config.model)):
        engine = build_engine(SPEC, "apparel")
    if fail_on is not None:
        inner = engine.extract_batch

        def extract_batch(docs):  # type: ignore[no-untyped-def]
            if any(fail_on in doc.text for doc in docs):
                raise ExtractorError("engine gave up")
            return inner(docs)

        engine.extract_batch = extract_batch  # type: ignore[method-assign]
    return engine


def write_offers(path: Path, n: int, with_ids: bool = True) -> Path:
    rows = [{"id": f"o{i}", "text": f"Brand{i} crew tee"} if with_ids and i % 3 else {"text": f"Brand{i} crew tee"}
            for i in range(1, n + 1)]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


# --- the plan ---------------------------------------------------------------------------------------

@given(st.lists(st.integers(0, 40), max_size=5), st.integers(1, 17))
def test_every_line_is_in_exactly_one_shard_in_order(counts, size):
    files = [(f"f{i}.jsonl", n) for i, n in enumerate(counts)]
    shards = split_counts(files, size)
    lines = [(s.source, s.start + k) for s in shards for k in range(s.count)]
    assert lines == [(name, k) for name, n in files for k in range(n)]
    assert [s.index for s in shards] == list(range(len(shards)))
    assert all(1 <= s.count <= size for s in shards)
    assert [s.name for s in shards] == sorted(s.name for s in shards)


@given(st.lists(st.integers(0, 7), min_size=1, max_size=4), st.integers(1, 5))
def test_collect_joins_shard_files_in_input_order(tmp_path_factory, counts, size):
    folder = tmp_path_factory.mktemp("out")
    layout = ShardLayout(folder)
    shards = split_counts([(f"f{i}", n) for i, n in enumerate(counts)], size)
    write_plan(layout, shards, size)
    for shard in reversed(shards):  # written in any order
        layout.final(shard).write_text("".join(f'{{"id": "{shard.source}:{shard.start + k}", "status": "ok"}}\n'
                                               for k in range(shard.count)), encoding="utf-8")
    out = folder / "all.jsonl"
    assert collect(folder, out) == sum(counts)
    ids = [json.loads(line)["id"] for line in out.read_text(encoding="utf-8").splitlines()]
    assert ids == [f"f{i}:{k}" for i, n in enumerate(counts) for k in range(n)]


def test_plan_counts_lines_and_refuses_a_folder_of_other_inputs(tmp_path):
    a, b = write_offers(tmp_path / "a.jsonl", 5), write_offers(tmp_path / "b.jsonl", 3)
    shards = plan_shards([a, b], 2)
    assert [(Path(s.source).name, s.start, s.count) for s in shards] == [
        ("a.jsonl", 0, 2), ("a.jsonl", 2, 2), ("a.jsonl", 4, 1), ("b.jsonl", 0, 2), ("b.jsonl", 2, 1)]
    layout = ShardLayout(tmp_path / "out")
    write_plan(layout, shards, 2)
    write_plan(layout, shards, 2)  # the same plan again: a rerun
    with pytest.raises(InputError, match="another run"):
        write_plan(layout, plan_shards([a, b], 3), 3)
    with pytest.raises(InputError, match="not found"):
        plan_shards([tmp_path / "missing.jsonl"], 2)


def test_collect_refuses_unfinished_shards_naming_them(tmp_path):
    layout = ShardLayout(tmp_path / "out")
    shards = plan_shards([write_offers(tmp_path / "a.jsonl", 4)], 2)
    write_plan(layout, shards, 2)
    layout.final(shards[0]).write_text('{"id": "1"}\n{"id": "2"}\n', encoding="utf-8")
    with pytest.raises(InputError, match="1 of 2 shards are not finished \\(part-00001\\)"):
        collect(layout.folder, tmp_path / "all.jsonl")
    assert not (tmp_path / "all.jsonl").exists()


# --- one shard --------------------------------------------------------------------------------------

def test_a_batch_that_raises_becomes_failed_records_for_that_batch_only(tmp_path):
    source = write_offers(tmp_path / "in.jsonl", 10)
    layout = ShardLayout(tmp_path / "out")
    [shard] = plan_shards([source], 10)
    write_plan(layout, [shard], 10)
    result = run_shard(scripted_engine(fail_on="Brand5 "), layout, shard, batch_size=3)
    records = [json.loads(line) for line in layout.final(shard).read_text(encoding="utf-8").splitlines()]
    assert [r["status"] for r in records] == ["ok"] * 3 + ["failed"] * 3 + ["ok"] * 4  # lines 4-6: one batch
    assert "engine gave up" in records[4]["error"]
    assert list(records[4]["attributes"]) == load_schema("apparel").names and not any(records[4]["attributes"].values())
    assert (result.ok, result.failed, result.attempts) == (7, 3, 1)
    assert not layout.partial(shard).exists()


def test_a_partial_shard_is_continued_not_redone(tmp_path):
    source = write_offers(tmp_path / "in.jsonl", 8)
    layout = ShardLayout(tmp_path / "out")
    [shard] = plan_shards([source], 8)
    write_plan(layout, [shard], 8)
    run_shard(scripted_engine(), layout, shard, batch_size=2)
    whole = layout.final(shard).read_text(encoding="utf-8")
    # An attempt that died: it had started lines up to 6 and written three records and half a fourth.
    lines = whole.splitlines(keepends=True)
    layout.final(shard).unlink()
    layout.partial(shard).write_text("".join(lines[:3]) + lines[3][:10], encoding="utf-8")
    layout.attempts(shard).write_text('{"attempt": 1, "resumed_at": 0, "pid": 1}\n{"attempt": 1, "through": 6}\n',
                                      encoding="utf-8")
    result = run_shard(scripted_engine(), layout, shard, batch_size=2)
    assert layout.final(shard).read_text(encoding="utf-8") == whole
    assert (result.resumed, result.attempts, result.reprocessed, result.ok) == (3, 2, 3, 8)
    assert [e["resumed_at"] for e in read_attempts(layout, shard) if "resumed_at" in e] == [0, 3]
    assert pending(layout, [shard]) == []
    again = run_shard(scripted_engine(), layout, shard)  # a finished shard is left alone
    assert layout.final(shard).read_text(encoding="utf-8") == whole and again.ok == 0


def test_reprocessed_counts_lines_started_by_a_dead_attempt_and_not_written():
    log = [{"attempt": 1, "resumed_at": 0}, {"attempt": 1, "through": 4}, {"attempt": 1, "through": 8},
           {"attempt": 2, "resumed_at": 5}, {"attempt": 2, "through": 10}]
    assert reprocessed(log) == 3
    assert reprocessed(log[:3]) == 0


# --- the row-level UDF, called as Ray would -----------------------------------------------------------

def test_extract_udf_adds_record_and_status_columns():
    import numpy as np

    def factory(spec, schema):  # type: ignore[no-untyped-def]
        return scripted_engine(fail_on="Broken")

    udf = ExtractUDF(SPEC.to_dict(), "apparel", factory=factory)
    out = udf({"id": np.array(["a", "b", "c"]), "text": np.array(["Hanes tee", "", "Nike shoe"]),
               "price": np.array([1, 2, 3])})
    assert out["id"] == ["a", "b", "c"] and out["price"] == [1, 2, 3]
    assert out["status"] == ["ok", "failed", "ok"]
    records = [json.loads(r) for r in out["record"]]
    assert [r["id"] for r in records] == ["a", "b", "c"] and records[0]["attributes"]["Brand"] == "Hanes"
    failed = udf({"id": ["x", "y"], "text": ["Broken thing", "Fine thing"]})
    assert failed["status"] == ["failed", "failed"]  # one batch, one exception: its rows fail, the call does not
    assert "engine gave up" in json.loads(failed["record"][0])["error"]


# --- the CLI before Ray starts --------------------------------------------------------------------------

def test_collect_command_writes_jsonl_and_refuses_a_folder_without_a_plan(tmp_path):
    layout = ShardLayout(tmp_path / "out")
    shards = plan_shards([write_offers(tmp_path / "a.jsonl", 3)], 2)
    write_plan(layout, shards, 2)
    layout.final(shards[0]).write_text('{"id": "1", "status": "ok"}\n{"id": "2", "status": "ok"}\n', encoding="utf-8")
    layout.final(shards[1]).write_text('{"id": "3", "status": "ok"}\n', encoding="utf-8")
    result = CliRunner().invoke(main, ["collect", str(layout.folder), "-o", str(tmp_path / "all.jsonl")])
    assert result.exit_code == 0, result.output
    assert [json.loads(x)["id"] for x in (tmp_path / "all.jsonl").read_text().splitlines()] == ["1", "2", "3"]
    empty = tmp_path / "empty"
    empty.mkdir()
    result = CliRunner().invoke(main, ["collect", str(empty), "-o", str(tmp_path / "x.jsonl")])
    assert result.exit_code == 1 and "not an output folder of extract-distributed" in result.output


@pytest.mark.parametrize("args, needle", [
    (["--schema", "apparel"], "input file not found"),
    ([], "give --schema"),
    (["--schema", "apparel", "--engine-spec", "SPEC", "--selection", "first"], "--selection cannot be given with it"),
])
def test_extract_distributed_refuses_bad_command_lines_before_ray(tmp_path, args, needle):
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC.to_yaml(), encoding="utf-8")
    source = write_offers(tmp_path / "in.jsonl", 2) if "input file not found" not in needle else tmp_path / "no.jsonl"
    args = [str(spec) if a == "SPEC" else a for a in args]
    result = CliRunner().invoke(main, ["extract-distributed", str(source), "-o", str(tmp_path / "out"), *args])
    assert result.exit_code == 2 and needle in result.output, result.output
    assert not (tmp_path / "out").exists()
