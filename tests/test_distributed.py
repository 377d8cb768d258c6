"""extract-distributed on a local Ray (started once for the session, 2 CPUs): the shards joined equal a
single-process `extract` byte for byte, a worker killed mid-shard is restarted and its shard redone
(every id once, attempts = 2), a batch that raises fails its lines only, a rerun skips finished shards
and continues partial ones, the CLI on the tiny model, and one smoke run on the real embedded model.

Engines reach the actors as factories defined here; Ray pickles this module's functions by value, so
the workers need not import the tests."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

ray = pytest.importorskip("ray")

from extractor.backends.scripted import ScriptedBackend  # noqa: E402
from extractor.cli import EXIT_OK, EXIT_SOME_LINES, main  # noqa: E402
from extractor.config import ExtractConfig, ModelConfig  # noqa: E402
from extractor.distributed import DistributedConfig, collect, run_distributed  # noqa: E402
from extractor.errors import ExtractorError  # noqa: E402
from extractor.io import InputSpec  # noqa: E402
from extractor.models import model_loader  # noqa: E402
from extractor.spec import EngineSpec, LLMSpec, build_engine  # noqa: E402

SPEC = EngineSpec(llm=LLMSpec(extract=ExtractConfig(decoding="free")))


@pytest.fixture(scope="session")
def local_ray():
    """One local Ray for every test here (2 CPUs, no dashboard), shut down at the end of the session."""
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING", configure_logging=False)
    yield
    ray.shutdown()


def reply(prompt: str) -> str:
    text = prompt.rsplit("Product: ", 1)[1]
    brand = text.split()[0].strip('"').title()
    return json.dumps({"Brand": brand, "Pack Count": "6" if "6-Pack" in text else None})


@dataclass
class Scripted:
    """Builds the spec's engine on a ScriptedBackend; optionally kills its own process the first time a
    batch holds ``crash_id`` (the marker file says it happened), or raises on a batch holding ``raise_on``."""

    crash_marker: str | None = None
    crash_id: str | None = None
    raise_on: str | None = None

    def __call__(self, spec, schema):  # type: ignore[no-untyped-def]
        with model_loader(lambda config: ScriptedBackend(reply, name=config.model)):
            engine = build_engine(spec, schema)
        inner = engine.extract_batch

        def extract_batch(docs):  # type: ignore[no-untyped-def]
            if self.crash_id and any(d.id == self.crash_id for d in docs) and not Path(self.crash_marker).exists():
                Path(self.crash_marker).write_text("crashed", encoding="utf-8")
                os._exit(1)
            if self.raise_on and any(self.raise_on in d.text for d in docs):
                raise ExtractorError("engine gave up")
            return inner(docs)

        engine.extract_batch = extract_batch
        return engine


def write_offers(path: Path, n: int) -> Path:
    """``n`` lines: most with an id, every fifth without (its line number is its id), one not JSON."""
    lines = []
    for i in range(1, n + 1):
        row = {"text": f"Brand{i} Mens Crew Tee 6-Pack" if i % 4 == 0 else f"brand{i} cotton tee"}
        if i % 5:
            row["id"] = f"o{i}"
        lines.append(json.dumps(row) if i != 7 else '{"id": "o7", "text": "cut off')
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture()
def single_process(monkeypatch, tmp_path):
    """The output of the single-process `extract` (free decoding on the same script) for an input file."""

    def run(source: Path) -> bytes:
        monkeypatch.setattr("extractor.models.load_model",
                            lambda config=None, **_: ScriptedBackend(reply, name=config.model))
        out = tmp_path / "single.jsonl"
        result = CliRunner().invoke(main, ["extract", str(source), "-s", "apparel", "--decoding", "free",
                                           "-o", str(out), "--no-progress"])
        assert result.exit_code in (EXIT_OK, EXIT_SOME_LINES), result.output
        return out.read_bytes()

    return run


def collected(folder: Path) -> bytes:
    out = folder.parent / (folder.name + ".jsonl")
    collect(folder, out)
    return out.read_bytes()


def test_three_shards_equal_the_single_process_output_byte_for_byte(local_ray, tmp_path, single_process):
    source = write_offers(tmp_path / "in.jsonl", 60)
    folder = tmp_path / "out"
    summary = run_distributed(SPEC, [source], folder, "apparel", DistributedConfig(workers=2, shard_lines=20,
                                                                                    batch_size=6), factory=Scripted())
    assert collected(folder) == single_process(source)
    assert [(row["shard"], row["lines"], row["attempts"], row["this_run"]) for row in summary["shards"]] == [
        (f"part-0000{i}", 20, 1, True) for i in range(3)]
    assert summary["totals"] == {"ok": 59, "invalid": 0, "failed": 1, "reprocessed": 0, "lines": 60}
    assert all(row["load_seconds"] > 0 and row["seconds"] > 0 for row in summary["shards"])
    assert json.loads((folder / "_summary.json").read_text(encoding="utf-8")) == summary
    assert not list(folder.glob("*.partial"))


def test_a_worker_killed_mid_shard_is_restarted_and_its_shard_redone(local_ray, tmp_path, single_process):
    source = write_offers(tmp_path / "in.jsonl", 60)
    folder, marker = tmp_path / "out", tmp_path / "crashed"
    summary = run_distributed(SPEC, [source], folder, "apparel",
                              DistributedConfig(workers=2, shard_lines=20, batch_size=4),
                              factory=Scripted(crash_marker=str(marker), crash_id="o31"))
    assert marker.exists()  # the worker did die
    output = collected(folder)
    ids = [json.loads(line)["id"] for line in output.decode().splitlines()]
    assert len(ids) == 60 and len(set(ids)) == 60  # every line exactly once (ids here are unique)
    assert output == single_process(source)
    attempts = {row["shard"]: row["attempts"] for row in summary["shards"]}
    assert attempts == {"part-00000": 1, "part-00001": 2, "part-00002": 1}
    redone = next(row for row in summary["shards"] if row["shard"] == "part-00001")
    assert redone["resumed"] == 8 and redone["reprocessed"] == 4  # lines 29-32 were started and lost


def test_a_batch_that_raises_fails_its_lines_not_the_job(local_ray, tmp_path):
    source = write_offers(tmp_path / "in.jsonl", 12)
    folder = tmp_path / "out"
    summary = run_distributed(SPEC, [source], folder, "apparel", DistributedConfig(workers=1, shard_lines=6,
                                                                                    batch_size=3),
                              factory=Scripted(raise_on="brand9 "))
    records = [json.loads(line) for line in collected(folder).decode().splitlines()]
    statuses = [r["status"] for r in records]
    assert statuses == ["ok"] * 6 + ["failed"] * 3 + ["ok"] * 3  # line 7 is not JSON: line 7-9 is the batch
    assert "batch error: ExtractorError: engine gave up" in records[8]["error"]
    assert summary["totals"]["failed"] == 3


def test_a_rerun_skips_finished_shards_and_continues_partial_ones(local_ray, tmp_path, single_process):
    source = write_offers(tmp_path / "in.jsonl", 40)
    folder = tmp_path / "out"
    config = DistributedConfig(workers=2, shard_lines=10, batch_size=5)
    run_distributed(SPEC, [source], folder, "apparel", config, factory=Scripted())
    whole = collected(folder)
    # An interrupted run: shard 1 half written (4 records and half a fifth), shard 3 never started.
    lines = (folder / "part-00001.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    (folder / "part-00001.jsonl").unlink()
    (folder / "part-00001.jsonl.partial").write_text("".join(lines[:4]) + lines[4][:20], encoding="utf-8")
    (folder / "part-00003.jsonl").unlink()
    summary = run_distributed(SPEC, [source], folder, "apparel", config, factory=Scripted())
    assert collected(folder) == whole == single_process(source)
    rows = {row["shard"]: row for row in summary["shards"]}
    assert [rows[f"part-0000{i}"]["this_run"] for i in range(4)] == [False, True, False, True]
    assert (rows["part-00001"]["resumed"], rows["part-00001"]["attempts"]) == (4, 2)
    assert (rows["part-00000"]["ok"], rows["part-00000"]["failed"]) == (9, 1)  # kept from the earlier run


def test_cli_on_the_tiny_model_equals_extract_and_collects_parquet(local_ray, tmp_path):
    from conftest import build_tiny_model

    model, tokenizer = build_tiny_model()
    model.save_pretrained(str(tmp_path / "tiny"))
    tokenizer.save_pretrained(str(tmp_path / "tiny"))
    # float32 named: the Ray workers are other processes, where the tests' float32 patch does not
    # reach, and dtype auto is bfloat16 on a CPU with AMX tiles
    spec = EngineSpec(llm=LLMSpec(model=ModelConfig(model=str(tmp_path / "tiny"), dtype="float32"),
                                  extract=ExtractConfig(batch_size=4, k=0, max_new_tokens=12)))
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(spec.to_yaml(), encoding="utf-8")
    source = write_offers(tmp_path / "in.jsonl", 16)
    single = tmp_path / "single.jsonl"
    result = CliRunner().invoke(main, ["extract", str(source), "-s", "apparel", "--engine-spec", str(spec_file),
                                       "-o", str(single), "--no-progress"])
    assert result.exit_code in (EXIT_OK, EXIT_SOME_LINES), result.output
    folder = tmp_path / "out"
    result = CliRunner().invoke(main, ["extract-distributed", str(source), "-s", "apparel", "--engine-spec",
                                       str(spec_file), "-o", str(folder), "--workers", "2", "--shard-lines", "8",
                                       "--batch-size", "4"])
    assert result.exit_code in (EXIT_OK, EXIT_SOME_LINES), result.output
    assert "16 records in 2 shards" in result.stderr
    result = CliRunner().invoke(main, ["collect", str(folder), "-o", str(tmp_path / "all.jsonl")])
    assert result.exit_code == EXIT_OK, result.output
    assert (tmp_path / "all.jsonl").read_bytes() == single.read_bytes()
    pq = pytest.importorskip("pyarrow.parquet")
    result = CliRunner().invoke(main, ["collect", str(folder), "-o", str(tmp_path / "all.parquet"), "--format",
                                       "parquet"])
    assert result.exit_code == EXIT_OK, result.output
    table = pq.read_table(tmp_path / "all.parquet").to_pydict()
    assert table["record"] == single.read_text(encoding="utf-8").splitlines()
    assert table["id"] == [json.loads(line)["id"] for line in table["record"]]


def test_extract_udf_in_a_users_map_batches(local_ray):
    from extractor import ExtractUDF

    rows = [{"id": f"r{i}", "text": f"brand{i} tee" if i != 3 else "", "price": i} for i in range(10)]
    dataset = ray.data.from_items(rows, override_num_blocks=2).map_batches(
        ExtractUDF, fn_constructor_args=(SPEC,), fn_constructor_kwargs={"schema": "apparel", "factory": Scripted()},
        batch_size=4, compute=ray.data.ActorPoolStrategy(size=1))
    out = sorted(dataset.take_all(), key=lambda row: int(row["id"][1:]))
    assert [row["id"] for row in out] == [f"r{i}" for i in range(10)] and [row["price"] for row in out] == list(range(10))
    records = [json.loads(row["record"]) for row in out]
    assert [r["id"] for r in records] == [row["id"] for row in out]
    assert [row["status"] for row in out] == ["ok"] * 3 + ["failed"] + ["ok"] * 6
    assert records[5]["attributes"]["Brand"] == "Brand5"


@dataclass
class EmbeddedInCache:
    """``build_engine`` with the converted embedded model read from ``cache`` (the test's, not the user's)."""

    cache: str

    def __call__(self, spec, schema):  # type: ignore[no-untyped-def]
        os.environ["EXTRACTOR_CACHE"] = self.cache
        return build_engine(spec, schema)


@pytest.mark.embedded
def test_real_model_smoke_run_on_two_actors(local_ray, tmp_path_factory, monkeypatch):
    from extractor.models import resolve_model_path

    cache = tmp_path_factory.mktemp("extractor-cache")
    monkeypatch.setenv("EXTRACTOR_CACHE", str(cache))
    resolve_model_path("smollm2-135m")  # converted once here, so two actors do not convert it at once
    examples = Path(__file__).resolve().parent.parent / "examples" / "products.jsonl"
    rows = [json.loads(line) for line in examples.read_text(encoding="utf-8").splitlines()]
    offers = rows[:10]  # three schemas: each line names its own
    source = tmp_path_factory.mktemp("in") / "offers.jsonl"
    source.write_text("".join(json.dumps(row) + "\n" for row in offers), encoding="utf-8")
    folder = source.parent / "out"
    summary = run_distributed(EngineSpec(llm=LLMSpec()), [source], folder, "apparel",
                              DistributedConfig(workers=2, shard_lines=5, batch_size=5),
                              input_spec=InputSpec(schema_field="schema"), factory=EmbeddedInCache(str(cache)))
    records = [json.loads(line) for line in collected(folder).decode().splitlines()]
    assert [r["id"] for r in records] == [row["id"] for row in offers]
    assert all(r["status"] == "ok" and r["provenance"]["model"] == "smollm2-135m" for r in records)
    # Two actors were asked for; a shard goes to whichever is ready, so the first may take both.
    workers = {w["pid"]: w for w in summary["workers"]}
    assert 1 <= len(workers) <= 2 and {row["worker"] for row in summary["shards"]} == set(workers)
    assert all(w["load_seconds"] > 0 and w["peak_rss_mb"] > 100 for w in workers.values())
