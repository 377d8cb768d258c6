"""A learning curve of the tagger on a public benchmark: one tagger per point, trained on a seeded
random subset of the train split's gold offers (25, 50, 100, 200, 400, all), scored on the
validation split with the papers' rules; prints validation P/R/F1, training seconds and products/s
per point, and the smallest point at which the tagger overtakes few-shot prompting.

    python benchmarks/learning_curve.py --data ../shared/data --dataset ae-110k \\
        --llm-f1 F --plot docs/learning-curve-ae-110k.png --json $OUT/ae-curve.json --record

The subsets are nested (the 50 hold the 25, and so on): one permutation of train, drawn once with
--seed, cut at each point. Every point trains with the same settings, declared in SETTINGS per
dataset: those of the dataset's "MiniLM-L6 tagger, all of train" row of BENCHMARKS.md's
"Extraction quality" table (benchmarks/tagger.py with those flags), so the "all" point repeats that
row; flags override them. The epochs are fixed, so a small point takes fewer optimizer steps, as a
user training on that many labels with the same recipe would; --min-steps N gives a point more
epochs until it takes about N steps (a text counted as one window), the one setting that then
varies. The schemas are derived from all of train at every point, so each tagger carries every
category's labels, trained or not.

--llm-f1 F: the few-shot LLM's validation F1 on the same split, drawn as a horizontal line; the
figure is the dataset's "SmolLM2-135M, k=3 similar, constrained" row of BENCHMARKS.md's "Extraction
quality" table (benchmarks/quality.py --k 3). "Overtakes at N labels": the smallest gold point whose
F1 is above it.

--silver RECORDS.jsonl adds the point "N gold + silver" (N: --silver-gold, default 50): the first N
of the same draw keep their gold, and every other train offer is labelled by the engine's record
of it instead (``extractor.silver_set``, what ``finetune-tagger --silver`` trains on; records below
--min-confidence become null). RECORDS is what an engine wrote for train.jsonl, one record per line
in the split's order: ``extractor extract`` (ids: the offer's id, else its 1-based line number) or
benchmarks/distill.py's train.teacher.records.jsonl (the benchmark's ids); either is accepted.

--replot --plot PNG trains nothing: it draws the dataset's curve from the rows BENCHMARKS.md (or
--benchmarks-file) records, the latest row of each point with the settings of the latest gold-only
run, and the latest silver point with them (a silver point is usually a run of its own):

    python benchmarks/learning_curve.py --dataset ae-110k --replot --llm-f1 72.34 --plot docs/learning-curve-ae-110k.png"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import random
import re
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from extractor import (PACKAGED_ENCODER, Benchmark, ConfigError, ExtractorError, GoldOffer, InputError, TaggerConfig,
                       TaggerExtractor, TrainConfig, TrainingSet, append_table_row, clean_commit, first_category,
                       load_benchmark, read_offers, read_records, recorded_command, resolve_dataset, run_quality,
                       silver_set, table_row, train_tagger)

REPO = Path(__file__).resolve().parent.parent
SECTION = "## Learning curve"
INTRO = ("Taggers trained on nested random subsets of the train split (`benchmarks/learning_curve.py`: the same "
         "seed and settings at every point, scored on the validation split); \"+ silver\": those gold offers plus an "
         "engine's records of the rest of train. Figures in `docs/learning-curve-<dataset>.png`, beside the few-shot "
         "LLM's F1 of \"Extraction quality\".")
HEADER = ("| date | commit | dataset (offers) | tagger | point | gold offers | training texts | epochs | F1 "
          "| training s | products/s | command |")
RULE = "|---|---|---|---|---|---:|---:|---:|---:|---:|---:|---|"
DEFAULT_POINTS = "25,50,100,200,400,all"

SETTINGS: dict[str, dict[str, Any]] = {
    "ae-110k": {"epochs": 12, "head_lr": 2e-3, "validation_share": 0.0, "seed": 1, "span_threshold": 0.1},
    "oa-mine": {"epochs": 12, "head_lr": 2e-3, "validation_share": 0.0, "seed": 1, "span_threshold": 0.2},
    "wdc-pave": {"epochs": 15, "head_lr": 2e-3, "validation_share": 0.0, "seed": 1, "span_threshold": None},
}
"""Per dataset, the training flags of its MiniLM "all of train" row; other datasets take TrainConfig's."""


@dataclass
class Point:
    """One trained and scored tagger of the curve."""

    name: str
    """``25``, ``all``, ``50 + silver``."""
    gold: int
    """Gold-labelled training offers (the x axis: labels a person wrote)."""
    texts: int
    """Training texts (gold and silver)."""
    epochs: int
    precision: float
    recall: float
    f1: float
    train_seconds: float
    per_second: float
    """Validation products/s of the trained tagger (extraction only)."""


# --- the points and their training sets ------------------------------------------------------------

def parse_points(text: str) -> list[int | None]:
    """``25,50,all`` -> [25, 50, None] (None: all of train); increasing sizes, ``all`` only last."""
    points: list[int | None] = []
    last = 0
    for part in (p.strip() for p in text.split(",")):
        if points and points[-1] is None:
            raise ConfigError(f"--points {text!r}: 'all' must be the last point")
        if part == "all":
            points.append(None)
            continue
        try:
            size = int(part)
        except ValueError:
            raise ConfigError(f"--points {text!r}: {part!r} is neither a number nor 'all'") from None
        if size <= last:
            raise ConfigError(f"--points {text!r}: sizes must be positive and increasing")
        points.append(size)
        last = size
    return points


def draw(total: int, seed: int) -> list[int]:
    """One seeded permutation of the train offers' positions: a point of size n takes its first n,
    so every subset holds the smaller ones."""
    order = list(range(total))
    random.Random(seed).shuffle(order)
    return order


def subset(order: list[int], size: int | None) -> list[int]:
    """The positions of a point, in file order (``size`` None: all of them)."""
    if size is not None and size >= len(order):
        raise ConfigError(f"point {size} is not below the train split's {len(order)} offers: use 'all'")
    return sorted(order[:size] if size is not None else order)


def gold_set(documents: list, gold: list[GoldOffer], positions: list[int], schemas: dict) -> TrainingSet:
    """The gold offers at ``positions`` with every category's schema."""
    return TrainingSet([documents[i] for i in positions], [gold[i] for i in positions], schemas)


def aligned_records(documents: list, records: list) -> list:
    """``records`` (one per train offer, in order) with the benchmark's ids: the records' ids must all
    be their offers' ids, or all their 1-based line numbers (what ``extract`` gives a line without an id)."""
    if len(records) != len(documents):
        raise ConfigError(f"--silver holds {len(records)} records for the train split's {len(documents)} offers: "
                          "one record per offer, in order, is needed")
    ids = [r.id for r in records]
    for expected in ([d.id for d in documents], [str(n) for n in range(1, len(documents) + 1)]):
        if ids == expected:
            return [replace(record, id=document.id) for document, record in zip(documents, records)]
    scheme = [d.id for d in documents] if ids[:1] == [documents[0].id] else [str(n) for n in range(1, len(ids) + 1)]
    n = next(n for n, (got, want) in enumerate(zip(ids, scheme), start=1) if got != want)
    raise ConfigError(f"--silver line {n}: record {ids[n - 1]!r} is not of train offer {documents[n - 1].id!r} "
                      f"(line {n}): the records were not written from train.jsonl in order")


def with_silver(gold: TrainingSet, documents: list, records: list, keep: set[int], schemas: dict,
                min_confidence: float) -> tuple[TrainingSet, list[str]]:
    """``gold`` plus the silver labels of every train offer not in ``keep``, per category (``silver_set``
    reads one schema), and its report lines."""
    docs, offers, lines = list(gold.documents), list(gold.gold), []
    for category, schema in schemas.items():
        rest = [i for i, d in enumerate(documents) if i not in keep and d.category == category]
        if not rest:
            continue
        try:
            part, report = silver_set([documents[i] for i in rest], [records[i] for i in rest], schema,
                                      min_confidence)
        except InputError as exc:  # no usable record of this category
            lines.append(f"{category}: {exc}")
            continue
        docs += part.documents
        offers += part.gold
        lines.append(f"{category}: {report.line()}")
    return TrainingSet(docs, offers, schemas), lines


# --- training and scoring ----------------------------------------------------------------------------

def train_config(args: argparse.Namespace) -> TrainConfig:
    """The one TrainConfig of every point: the flags given, else the dataset's SETTINGS, else the defaults."""
    defaults = TrainConfig()
    recipe = SETTINGS.get(args.dataset, {})

    def pick(name: str, default: Any) -> Any:
        given = getattr(args, name)
        return given if given is not None else recipe.get(name, default)

    return TrainConfig(epochs=pick("epochs", defaults.epochs), learning_rate=pick("lr", defaults.learning_rate),
                       head_learning_rate=pick("head_lr", defaults.head_learning_rate),
                       batch_size=pick("batch_size", defaults.batch_size), window=pick("window", defaults.window),
                       overlap=pick("overlap", defaults.overlap), patience=pick("patience", defaults.patience),
                       validation_share=pick("validation_share", defaults.validation_share),
                       seed=pick("seed", defaults.seed), device=args.device,
                       span_threshold=pick("span_threshold", defaults.span_threshold))


def epochs_for(texts: int, config: TrainConfig, min_steps: int) -> int:
    """The point's epochs: the configured ones, or more until about ``min_steps`` optimizer steps
    (one window per text; 0: no minimum)."""
    steps_per_epoch = max(1, math.ceil(texts / config.batch_size))
    return max(config.epochs, math.ceil(min_steps / steps_per_epoch))


def describe(model: str, config: TrainConfig, text_fields: str, min_steps: int = 0) -> str:
    """The settings of a curve, for its first recorded row."""
    parts = [f"{model}, epochs={config.epochs} lr={config.learning_rate:g}"]
    if config.head_learning_rate is not None:
        parts.append(f"head-lr={config.head_learning_rate:g}")
    parts.append(f"validation-share={config.validation_share:g} seed={config.seed}")
    if config.span_threshold is not None:
        parts.append(f"span-threshold={config.span_threshold:g}")
    if min_steps:
        parts.append(f"min-steps={min_steps}")
    return " ".join(parts) + f" text={text_fields}"


def train_and_score(name: str, gold: int, data: TrainingSet, benchmark: Benchmark, model: str, config: TrainConfig,
                    folder: Path, extract_batch_size: int, min_steps: int = 0) -> Point:
    """Train a tagger on ``data`` into ``folder`` and score it on ``benchmark``."""
    config = replace(config, epochs=epochs_for(len(data.documents), config, min_steps))
    print(f"point {name}: training on {len(data.documents)} texts ({gold} gold), {config.epochs} epochs", flush=True)
    start = time.perf_counter()
    result = train_tagger(data, folder, base_model=model, config=config)
    seconds = time.perf_counter() - start
    engine = TaggerExtractor(result.tagger, benchmark.schemas[first_category(benchmark)],
                             TaggerConfig(batch_size=extract_batch_size, span_threshold=config.span_threshold))
    list(engine.extract_documents(benchmark.documents[:extract_batch_size]))  # untimed: the one-off start-up
    run = run_quality(engine, benchmark)
    micro = run.evaluation.exact.micro
    point = Point(name=name, gold=gold, texts=len(data.documents), epochs=config.epochs, precision=micro.precision,
                  recall=micro.recall, f1=micro.f1, train_seconds=seconds, per_second=run.per_second)
    print(f"point {name}: F1 {point.f1:.2f}, trained in {seconds:.0f} s, {point.per_second:.1f} products/s", flush=True)
    return point


# --- the results -------------------------------------------------------------------------------------

def overtake(points: list[Point], llm_f1: float) -> Point | None:
    """The gold point with the fewest labels whose F1 is above ``llm_f1`` (None: none is)."""
    above = [p for p in points if p.f1 > llm_f1]
    return min(above, key=lambda p: p.gold) if above else None


def verdict(points: list[Point], llm_f1: float | None) -> str:
    """The line the run ends with: where the tagger overtakes few-shot prompting."""
    if llm_f1 is None:
        return "no --llm-f1: no comparison with few-shot prompting"
    first = overtake(points, llm_f1)
    if first is None:
        return f"the tagger does not overtake few-shot prompting (F1 {llm_f1:.2f}) within the points"
    return f"the tagger overtakes few-shot prompting (F1 {llm_f1:.2f}) at {first.gold} labels (F1 {first.f1:.2f})"


def table(points: list[Point]) -> str:
    """The printed table: one line per point."""
    lines = ["| point | gold offers | training texts | epochs | P | R | F1 | training s | products/s |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {p.name} | {p.gold} | {p.texts} | {p.epochs} | {p.precision:.2f} | {p.recall:.2f} | {p.f1:.2f} "
              f"| {p.train_seconds:.0f} | {p.per_second:.1f} |" for p in points]
    return "\n".join(lines)


def plot(points: list[Point], silver: Point | None, llm_f1: float | None, title: str, path: Path) -> Path:
    """F1 against gold offers (log x axis), the silver point apart and the LLM's F1 as a line, as a PNG."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ConfigError("--plot needs matplotlib: pip install 'extractor[plot]'") from exc
    figure = Figure(figsize=(6.4, 4.2))
    FigureCanvasAgg(figure)  # a canvas of its own: no global pyplot backend
    axes = figure.add_subplot()
    axes.plot([p.gold for p in points], [p.f1 for p in points], marker="o", color="#2171b5", label="tagger, gold")
    for p in points:
        axes.annotate(f"{p.f1:.1f}", (p.gold, p.f1), textcoords="offset points", xytext=(0, 6), ha="center",
                      fontsize=7)
    if silver is not None:
        axes.plot([silver.gold], [silver.f1], marker="s", linestyle="none", color="#e6550d", label=silver.name)
        axes.annotate(f"{silver.f1:.1f}", (silver.gold, silver.f1), textcoords="offset points", xytext=(0, 6),
                      ha="center", fontsize=7, color="#e6550d")
    if llm_f1 is not None:
        axes.axhline(llm_f1, color="black", linestyle="--", linewidth=1, label=f"few-shot LLM ({llm_f1:.1f})")
    axes.set_xscale("log")
    ticks = sorted({p.gold for p in points} | ({silver.gold} if silver else set()))
    axes.set_xticks(ticks, [str(t) for t in ticks])  # the points' label counts, not powers of 10
    axes.minorticks_off()
    axes.set_xlabel("gold training offers (log)")
    axes.set_ylabel("validation F1 (%)")
    axes.set_ylim(0, 100)
    axes.set_title(title, fontsize=10)
    axes.legend(loc="best", fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    return path


def record_rows(path: Path, points: list[Point], *, dataset: str, tagger: str, commit: str, date: str,
                command: str) -> None:
    """A row per point in BENCHMARKS.md's Learning curve table (settings and command on the first)."""
    for i, p in enumerate(points):
        append_table_row(path, SECTION, HEADER, RULE, table_row([
            date, commit, dataset, tagger if i == 0 else "the same", p.name, str(p.gold), str(p.texts),
            str(p.epochs), f"{p.f1:.2f}", f"{p.train_seconds:.0f}", f"{p.per_second:.1f}",
            f"`{command}`" if i == 0 else "the same"]), intro=INTRO)


def _cells(line: str) -> list[str]:
    """A markdown table row's cells (``\\|`` inside a cell is not a separator)."""
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]


def recorded_points(path: Path, dataset: str) -> tuple[list[Point], Point | None, str]:
    """The curve of ``dataset`` as BENCHMARKS.md's Learning curve table holds it: per point, its
    last row with the settings of the dataset's last gold-only row, and the last "+ silver" row
    with those settings; and the rows' dataset cell (``ae-110k/validation (261)``). Rows of other
    settings (another encoder, other epochs) are not mixed in. P and R are not recorded (NaN)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    try:
        start = lines.index(SECTION)
    except ValueError:
        raise ConfigError(f"{path} has no {SECTION!r} section") from None
    rows, settings = [], ""
    for line in lines[start + 1:]:
        if line.startswith("## "):
            break
        cells = _cells(line) if line.startswith("| ") else []
        if len(cells) != HEADER.count("|") - 1 or cells[0] == "date":
            continue
        settings = settings if cells[3] == "the same" else cells[3]
        if cells[2].split("/")[0] == dataset:
            rows.append((settings, cells))
    gold_rows = [r for r in rows if "silver" not in r[1][4]]
    if not gold_rows:
        raise ConfigError(f"{path} records no learning-curve rows of {dataset!r}")
    settings = gold_rows[-1][0]
    latest: dict[str, Point] = {}
    silver = None
    for kept, c in rows:
        if kept != settings:
            continue
        point = Point(name=c[4], gold=int(c[5]), texts=int(c[6]), epochs=int(c[7]), precision=math.nan,
                      recall=math.nan, f1=float(c[8]), train_seconds=float(c[9]), per_second=float(c[10]))
        if "silver" in point.name:
            silver = point
        else:
            latest[point.name] = point
    return sorted(latest.values(), key=lambda p: p.gold), silver, gold_rows[-1][1][2]


# --- the command -------------------------------------------------------------------------------------

def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="../shared/data", help="data root holding the dataset folders")
    p.add_argument("--dataset", required=True, help="ae-110k, oa-mine, wdc-pave, or a folder of <split>.jsonl files")
    p.add_argument("--split", default="validation", help="split to evaluate (default: validation)")
    p.add_argument("--title-only", action="store_true", help="WDC-PAVE: read titles only, not title + description")
    p.add_argument("--points", default=DEFAULT_POINTS, help=f"gold offers per point (default: {DEFAULT_POINTS})")
    p.add_argument("--limit-eval", type=int, default=None, help="score only the first N offers of the split")
    p.add_argument("--model", default=PACKAGED_ENCODER, help=f"encoder to fine-tune (default: {PACKAGED_ENCODER})")
    p.add_argument("--seed", type=int, default=None, help="draws the subsets and seeds training (default: SETTINGS)")
    for flag, kind in (("--epochs", int), ("--lr", float), ("--head-lr", float), ("--batch-size", int),
                       ("--window", int), ("--overlap", int), ("--patience", int), ("--validation-share", float),
                       ("--span-threshold", float)):
        p.add_argument(flag, type=kind, default=None, help="as benchmarks/tagger.py (default: the dataset's SETTINGS)")
    p.add_argument("--min-steps", type=int, default=0,
                   help="give a small point more epochs until about this many steps (default: 0, the same epochs)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, ...")
    p.add_argument("--extract-batch-size", type=int, default=32, help="windows per forward pass when scoring")
    p.add_argument("--llm-f1", type=float, default=None, help="the few-shot LLM's F1 on the split (a line to beat)")
    p.add_argument("--silver", default=None, help="an engine's records of train.jsonl, one per line, in order")
    p.add_argument("--silver-gold", type=int, default=50, help="gold offers of the silver point (default: 50)")
    p.add_argument("--min-confidence", type=float, default=0.0, help="silver values below this become null")
    p.add_argument("--output-dir", default=None, help="keep each point's tagger here (default: a temporary folder)")
    p.add_argument("--plot", default=None, help="write the curve as a PNG here (docs/learning-curve-<dataset>.png)")
    p.add_argument("--replot", action="store_true",
                   help="train nothing: draw --plot from the rows --benchmarks-file records for --dataset (the "
                        "latest of each point, silver included)")
    p.add_argument("--json", dest="json_out", default=None, help="also write the points as JSON here")
    p.add_argument("--record", action="store_true", help="add a row per point to BENCHMARKS.md's Learning curve table")
    p.add_argument("--benchmarks-file", default=str(REPO / "BENCHMARKS.md"))
    args = p.parse_args(argv)
    if args.limit_eval is not None and args.limit_eval < 1:
        p.error("--limit-eval must be >= 1")
    if args.replot and (args.plot is None or args.record):
        p.error("--replot draws --plot (required) from recorded rows; it records nothing")
    if args.silver is None and args.min_confidence:
        p.error("--min-confidence applies to --silver records")
    if not 0.0 <= args.min_confidence <= 1.0:
        p.error("--min-confidence must be between 0 and 1")
    if args.silver_gold < 1 or args.min_steps < 0:
        p.error("--silver-gold must be >= 1 and --min-steps >= 0")
    return args


def run(args: argparse.Namespace, folder: Path, command: str) -> tuple[list[Point], Point | None]:
    """Train and score every point (and the silver one), print the table and the verdict."""
    commit = clean_commit(REPO, allow=(args.benchmarks_file,)) if args.record else ""  # before the run measures
    sizes = parse_points(args.points)
    config = train_config(args)
    benchmark = load_benchmark(args.dataset, args.split, data_root=args.data,
                               title_only=args.title_only).head(args.limit_eval)
    documents, gold = read_offers(resolve_dataset(args.dataset, args.data) / "train.jsonl", args.title_only)
    order = draw(len(documents), config.seed)
    chosen = [subset(order, size) for size in sizes]  # every point checked before the first trains
    silver_keep = subset(order, args.silver_gold) if args.silver else []
    records = aligned_records(documents, read_records(args.silver)) if args.silver else []
    settings = describe(args.model, config, benchmark.text_fields, args.min_steps)
    print(f"{benchmark.name}/{benchmark.split}: {len(benchmark.documents)} offers scored; train: {len(documents)} "
          f"offers; {settings}", flush=True)
    points = []
    for size, positions in zip(sizes, chosen):
        name = str(size) if size is not None else "all"
        points.append(train_and_score(name, len(positions), gold_set(documents, gold, positions, benchmark.schemas),
                                      benchmark, args.model, config, folder / name, args.extract_batch_size,
                                      args.min_steps))
    silver = None
    if args.silver:
        data, lines = with_silver(gold_set(documents, gold, silver_keep, benchmark.schemas), documents, records,
                                  set(silver_keep), benchmark.schemas, args.min_confidence)
        for line in lines:
            print(line, flush=True)
        silver = train_and_score(f"{args.silver_gold} + silver", args.silver_gold, data, benchmark, args.model, config,
                                 folder / "silver", args.extract_batch_size, args.min_steps)
    print("\n" + table(points + ([silver] if silver else [])) + "\n")
    print(verdict(points, args.llm_f1))
    if silver is not None and args.llm_f1 is not None:
        print(f"{silver.name}: F1 {silver.f1:.2f}, {'above' if silver.f1 > args.llm_f1 else 'not above'} the LLM's")
    title = f"{benchmark.name}/{benchmark.split} ({len(benchmark.documents)} offers): {args.model}"
    if args.plot:
        print(f"plot written to {plot(points, silver, args.llm_f1, title, Path(args.plot))}")
    if args.json_out:
        first = overtake(points, args.llm_f1) if args.llm_f1 is not None else None
        Path(args.json_out).write_text(json.dumps({
            "dataset": benchmark.name, "split": benchmark.split, "offers": len(benchmark.documents),
            "settings": settings, "llm_f1": args.llm_f1, "overtakes_at": first.gold if first else None,
            "points": [asdict(p) for p in points], "silver": asdict(silver) if silver else None,
            "command": command}, indent=2) + "\n", encoding="utf-8")
    if args.record:
        record_rows(Path(args.benchmarks_file), points + ([silver] if silver else []),
                    dataset=f"{benchmark.name}/{benchmark.split} ({len(benchmark.documents)})", tagger=settings,
                    commit=commit, date=dt.date.today().isoformat(), command=command)
        print(f"rows appended to {args.benchmarks_file}")
    return points, silver


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = recorded_command("benchmarks/learning_curve.py", sys.argv[1:] if argv is None else argv)
    try:
        if args.replot:
            points, silver, rows_of = recorded_points(Path(args.benchmarks_file), args.dataset)
            title = f"{rows_of.replace(')', ' offers)')}: {args.model}"
            print(f"plot written to {plot(points, silver, args.llm_f1, title, Path(args.plot))}")
            return 0
        if args.output_dir:
            run(args, Path(args.output_dir), command)
        else:
            with tempfile.TemporaryDirectory(prefix="learning-curve-") as tmp:
                run(args, Path(tmp), command)
    except ExtractorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
