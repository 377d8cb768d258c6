"""Throughput of `extractor extract-distributed` (Ray Data, issue 32) against single-process `extract`
on the same offers, measured in the same run: products/s with 1 and 2 workers and their ratio to the
single-process baseline, each worker's actor start and model-load seconds and peak RSS, and one run
in which a worker is killed mid-shard (its time, the attempts and the lines extracted again).

Offers are the texts of a benchmark's split files under --data (read in place, never copied into the
repo), repeated with new ids when --offers asks for more than the files hold. The baseline is
`extractor extract` in a subprocess (model load included, as for the workers); the distributed runs
start a local Ray once (--cpus) and time `run_distributed` end to end (actor start and model load
included). The killed worker is a factory that ends its own process at one line of the middle shard,
the first time only, so Ray restarts it and the shard is continued.

    python benchmarks/distributed.py --engine tagger --model runs/tagger/apparel --schema apparel
    python benchmarks/distributed.py --engine-spec spec.yaml --schema apparel --offers 2000 --record

--record adds the rows to BENCHMARKS.md's "## Scale-out (Ray Data)" table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from extractor import (DistributedConfig, EngineSpec, LLMSpec, ModelConfig, TaggerSpec, append_table_row,
                       build_engine, clean_commit, load_spec, read_offers, recorded_command, resolve_dataset,
                       run_distributed, table_row)

REPO = Path(__file__).resolve().parents[1]
SECTION = "## Scale-out (Ray Data)"
HEADER = ("| date | commit | engine | offers | run | workers | seconds | products/s | vs single | actor start s "
          "| model load s | peak RSS MiB | attempts | reprocessed lines | command |")
RULE = "|---|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
EXTRACT = [sys.executable, "-c", "import sys; from extractor.cli import main; sys.exit(main(sys.argv[1:]))"]
"""How single-process `extract` is started: this interpreter, so the checkout's extractor."""


# --- offers and engine ---------------------------------------------------------------------------

def write_offers(path: Path, data: str, dataset: str, splits: list[str], n: int) -> int:
    """``n`` offers as JSONL {"id", "text"} at ``path``, from the dataset's split files, repeated as needed."""
    folder = resolve_dataset(dataset, data)
    texts = [doc.text for split in splits for doc in read_offers(folder / f"{split}.jsonl")[0]]
    if not texts:
        raise SystemExit(f"no offers in {folder} ({', '.join(splits)})")
    with path.open("w", encoding="utf-8") as out:
        for i in range(n):
            out.write(json.dumps({"id": f"offer-{i}", "text": texts[i % len(texts)]}, ensure_ascii=False) + "\n")
    return n


def engine_spec(args: argparse.Namespace) -> EngineSpec:
    if args.engine_spec:
        return load_spec(args.engine_spec)
    if args.engine == "tagger":
        if not args.model:
            raise SystemExit("--engine tagger needs --model DIR (a folder written by `extractor finetune-tagger`)")
        return EngineSpec(taggers=[TaggerSpec(folder=args.model, device=args.device)])
    return EngineSpec(llm=LLMSpec(model=ModelConfig(model=args.model or "smollm2-135m", device=args.device)))


def describe(args: argparse.Namespace, spec: EngineSpec) -> str:
    if args.engine_spec:
        return f"spec {args.engine_spec}"
    if spec.taggers:
        return "tagger " + spec.taggers[0].folder
    return "llm " + spec.llm.model.model  # type: ignore[union-attr]


@dataclass
class KillOnce:
    """Builds the spec's engine; the first worker to reach line ``kill_id`` ends its own process (the
    marker file remembers it happened), as a machine lost mid-shard would."""

    marker: str
    kill_id: str

    def __call__(self, spec, schema):  # type: ignore[no-untyped-def]
        engine = build_engine(spec, schema)
        inner, marker, kill_id = engine.extract_batch, Path(self.marker), self.kill_id

        def extract_batch(docs):  # type: ignore[no-untyped-def]
            if any(doc.id == kill_id for doc in docs) and not marker.exists():
                marker.write_text("killed", encoding="utf-8")
                os._exit(1)
            return inner(docs)

        engine.extract_batch = extract_batch
        return engine


# --- the runs --------------------------------------------------------------------------------------

@dataclass
class Row:
    label: str
    workers: int
    offers: int
    seconds: float
    actor_start_s: float = float("nan")
    load_s: float = float("nan")
    peak_rss_mb: float = float("nan")
    attempts: int = 1
    reprocessed: int = 0
    statuses: dict[str, int] = field(default_factory=dict)

    @property
    def per_second(self) -> float:
        return self.offers / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "products_per_s": self.per_second}


def run_single(source: Path, spec_file: Path, schema: str, n: int, workdir: Path) -> Row:
    """`extractor extract` in a subprocess: wall time, and the peak RSS of the largest child so far."""
    out = workdir / "single.jsonl"
    start = time.perf_counter()
    done = subprocess.run([*EXTRACT, "extract", str(source), "-s", schema, "--engine-spec", str(spec_file), "-o",
                           str(out), "--no-progress"], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode not in (0, 3):
        raise SystemExit(f"single-process extract failed ({done.returncode}):\n{done.stderr[-3000:]}")
    statuses: dict[str, int] = {}
    for line in out.read_text(encoding="utf-8").splitlines():
        status = json.loads(line)["status"]
        statuses[status] = statuses.get(status, 0) + 1
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return Row("single process", 1, n, seconds, peak_rss_mb=rss, statuses=statuses)


def run_ray(label: str, spec: EngineSpec, source: Path, schema: str, n: int, folder: Path, config: DistributedConfig,
            factory: Any = None) -> Row:
    start = time.perf_counter()
    summary = run_distributed(spec, [source], folder, schema, config, factory=factory)
    seconds = time.perf_counter() - start
    workers = summary["workers"]
    shards = summary["shards"]
    totals = summary["totals"]
    return Row(label, config.workers, n, seconds,
               actor_start_s=max(w["start_seconds"] for w in workers), load_s=max(w["load_seconds"] for w in workers),
               peak_rss_mb=max(w["peak_rss_mb"] for w in workers),
               attempts=max(s.get("attempts", 1) for s in shards), reprocessed=totals["reprocessed"],
               statuses={k: totals[k] for k in ("ok", "invalid", "failed") if totals[k]})


def _seconds(value: float) -> str:
    return "-" if value != value else f"{value:.1f}"  # NaN: not measured (the single-process run)


def _statuses(statuses: dict[str, int]) -> str:
    return " ".join(f"{k}:{v}" for k, v in sorted(statuses.items()))


def table(rows: list[Row]) -> str:
    base = rows[0].per_second
    head = ["run", "workers", "offers", "seconds", "products/s", "vs single", "actor start s", "model load s",
            "peak RSS MiB", "attempts", "reprocessed", "statuses"]
    body = [[r.label, str(r.workers), str(r.offers), f"{r.seconds:.1f}", f"{r.per_second:.2f}",
             f"{r.per_second / base:.2f}x" if base else "-", _seconds(r.actor_start_s), _seconds(r.load_s),
             f"{r.peak_rss_mb:.0f}", str(r.attempts), str(r.reprocessed), _statuses(r.statuses)] for r in rows]
    widths = [max(len(row[i]) for row in [head, *body]) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in [head, *body])


def record_rows(path: Path, rows: list[Row], *, engine: str, commit: str, date: str, command: str) -> None:
    """A row per run in BENCHMARKS.md's Scale-out table (the command on the first, "the same" after)."""
    base = rows[0].per_second
    for i, r in enumerate(rows):
        append_table_row(path, SECTION, HEADER, RULE, table_row([
            date, commit, engine, str(r.offers), r.label, str(r.workers), f"{r.seconds:.1f}", f"{r.per_second:.2f}",
            f"{r.per_second / base:.2f}x" if base else "-", _seconds(r.actor_start_s), _seconds(r.load_s),
            f"{r.peak_rss_mb:.0f}", str(r.attempts), str(r.reprocessed), f"`{command}`" if i == 0 else "the same"]))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--engine-spec", default=None, help="engine spec file (extract --print-spec)")
    p.add_argument("--engine", choices=["llm", "tagger"], default="llm", help="without --engine-spec: which engine")
    p.add_argument("--model", default=None, help="without --engine-spec: the LLM (default the embedded one) or the "
                                                  "tagger folder")
    p.add_argument("--device", default="auto", help="without --engine-spec: the engine's device")
    p.add_argument("--schema", default="apparel", help="schema the engine is built for")
    p.add_argument("--data", default="../shared/data", help="data root holding the dataset folders")
    p.add_argument("--dataset", default="oa-mine", help="dataset whose offers are extracted")
    p.add_argument("--splits", default="train,validation", help="split files read, comma-separated")
    p.add_argument("--offers", type=int, default=2000, help="offers extracted by every run")
    p.add_argument("--workers", default="1,2", help="worker counts of the distributed runs, comma-separated")
    p.add_argument("--shard-lines", type=int, default=None, help="lines per shard (default: offers / 8)")
    p.add_argument("--batch-size", type=int, default=DistributedConfig.batch_size, help="lines per worker batch")
    p.add_argument("--cpus", type=int, default=None, help="CPUs of the local Ray (default: all)")
    p.add_argument("--gpus-per-worker", type=float, default=0.0)
    p.add_argument("--no-kill", action="store_true", help="skip the run with a worker killed mid-shard")
    p.add_argument("--json", dest="json_out", default=None, help="also write the rows as JSON here")
    p.add_argument("--record", action="store_true",
                   help="add the rows to the Scale-out table of --benchmarks-file (needs a clean work tree)")
    p.add_argument("--label", default=None, help="the engine column of recorded rows (default: the engine options)")
    p.add_argument("--benchmarks-file", default=str(REPO / "BENCHMARKS.md"))
    args = p.parse_args(argv)
    args.worker_list = [int(x) for x in args.workers.split(",") if x.strip()]
    if args.offers < 1 or not args.worker_list or min(args.worker_list) < 1:
        p.error("--offers and --workers must be positive")
    return args


def main(argv: list[str] | None = None) -> list[Row]:
    import ray

    args = parse_args(argv)
    commit = clean_commit(REPO, allow=(args.benchmarks_file,)) if args.record else ""  # before the run measures
    spec = engine_spec(args)
    shard_lines = args.shard_lines or max(1, -(-args.offers // 8))
    with tempfile.TemporaryDirectory(prefix="distributed-bench-") as tmp:
        work = Path(tmp)
        source = work / "offers.jsonl"
        n = write_offers(source, args.data, args.dataset, args.splits.split(","), args.offers)
        spec_file = work / "spec.yaml"
        spec_file.write_text(spec.to_yaml(), encoding="utf-8")
        print(f"single process: extractor extract ({n} offers)", file=sys.stderr, flush=True)
        rows = [run_single(source, spec_file, args.schema, n, work)]
        ray.init(num_cpus=args.cpus, include_dashboard=False, logging_level="WARNING")
        try:
            def config(workers: int) -> DistributedConfig:
                return DistributedConfig(workers=workers, shard_lines=shard_lines, batch_size=args.batch_size,
                                         gpus_per_worker=args.gpus_per_worker)

            for workers in args.worker_list:
                print(f"ray: {workers} worker(s)", file=sys.stderr, flush=True)
                rows.append(run_ray(f"ray, {workers} worker(s)", spec, source, args.schema, n,
                                    work / f"out-{workers}", config(workers)))
            if not args.no_kill:
                workers = max(args.worker_list)
                middle = (n // shard_lines) // 2 * shard_lines + min(shard_lines, n) // 2  # mid-shard of the middle
                print(f"ray: {workers} worker(s), one killed at offer-{middle}", file=sys.stderr, flush=True)
                rows.append(run_ray(f"ray, {workers} worker(s), one killed", spec, source, args.schema, n,
                                    work / "out-killed", config(workers),
                                    factory=KillOnce(str(work / "killed"), f"offer-{min(middle, n - 1)}")))
        finally:
            ray.shutdown()
    print(table(rows))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps([r.as_dict() for r in rows], indent=2), encoding="utf-8")
    if args.record:
        record_rows(Path(args.benchmarks_file), rows, engine=args.label or describe(args, spec), commit=commit,
                    date=dt.date.today().isoformat(),
                    command=recorded_command("benchmarks/distributed.py", sys.argv[1:] if argv is None else argv))
        print(f"recorded in {args.benchmarks_file}", file=sys.stderr)
    return rows


if __name__ == "__main__":
    main()
