"""Extraction quality on a public benchmark split: extract every offer, score the records with the
papers' rules, print the tables; with --record, append one row to BENCHMARKS.md.

    python benchmarks/quality.py --data ../shared/data --dataset wdc-pave --split validation \\
        --model smollm2-135m --k 3 --selection similar --limit 50 --record

Schemas and demonstrations are derived per category from the dataset's train split
(extractor/evaluate/datasets.py); one Extractor per category shares the loaded model. The model is
loaded once, before the clock starts: products/s measures extraction only."""

from __future__ import annotations

import argparse
import datetime as dt
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from extractor import (DATASETS, DECODINGS, SELECTIONS, Benchmark, Evaluation, Extractor, ExtractorError, Record, Shot,
                       format_report, load_benchmark, plot_attribute_f1, score, trained_settings, write_records)

REPO = Path(__file__).resolve().parent.parent
TABLE_HEADER = ("| date | commit | dataset/split (offers) | model | settings "
                "| P | R | F1 | F1 lenient | valid % | products/s | peak RSS GB |")
TABLE_RULE = "|---|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|"
FILE_INTRO = """# Benchmarks

## Quality

Rows appended by `benchmarks/quality.py`: micro precision, recall and F1 in percent over all gold
(offer, attribute) slots, exact match, counted as in the WDC-PAVE / ExtractGPT papers (see
`extractor/evaluate/scorer.py`); `valid %` is the share of records without an error; products/s
excludes model loading; peak RSS is the process's peak resident memory (model included). Runs with
`limit` score only the first N offers of the split.

"""


@dataclass
class QualityRun:
    """One benchmark run: the records (in the benchmark's order), their scores and the time taken."""

    benchmark: Benchmark
    records: list[Record]
    evaluation: Evaluation
    seconds: float

    @property
    def valid_percent(self) -> float:
        return 100.0 * sum(r.error is None for r in self.records) / len(self.records) if self.records else 0.0

    @property
    def per_second(self) -> float:
        return len(self.records) / self.seconds if self.seconds > 0 else 0.0


def shots_for(benchmark: Benchmark, category: str) -> list[Shot]:
    return [Shot(text=d["text"], record=d["record"]) for d in benchmark.pools[category]]


def extract_benchmark(base: Extractor, benchmark: Benchmark) -> tuple[list[Record], float]:
    """Records for every offer, in benchmark order, and the seconds extraction took.

    Offers are grouped by category so each group runs under its own schema and demonstrations;
    ``base`` is reused as is for the category whose schema it already carries."""
    by_category: dict[str, list[int]] = {}
    for index, document in enumerate(benchmark.documents):
        by_category.setdefault(document.category or "", []).append(index)
    records: list[Record | None] = [None] * len(benchmark.documents)
    start = time.perf_counter()
    for category, indices in by_category.items():
        schema = benchmark.schemas[category]
        extractor = base if base.schema.id == schema.id else base.with_schema(schema, shots=shots_for(benchmark, category))
        documents = [benchmark.documents[i] for i in indices]
        for index, record in zip(indices, extractor.extract_documents(documents)):
            records[index] = record
    seconds = time.perf_counter() - start
    missing = [benchmark.documents[i].id for i, r in enumerate(records) if r is None]
    if missing:
        raise ExtractorError(f"the pipeline returned no record for {len(missing)} offer(s) (first id {missing[0]!r})")
    return records, seconds  # type: ignore[return-value]


def run_quality(base: Extractor, benchmark: Benchmark) -> QualityRun:
    """Extract ``benchmark`` with ``base`` (and its per-category siblings) and score the records."""
    records, seconds = extract_benchmark(base, benchmark)
    evaluation = score(benchmark.gold, [r.to_dict() for r in records])
    return QualityRun(benchmark=benchmark, records=records, evaluation=evaluation, seconds=seconds)


def first_category(benchmark: Benchmark) -> str:
    return benchmark.documents[0].category or ""


def git_commit(root: Path = REPO) -> str:
    """Short hash of HEAD, ``+dirty`` when tracked files changed; ``uncommitted`` without a commit."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "uncommitted"
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                            capture_output=True, text=True).stdout.strip()
    return head + ("+dirty" if status else "")


def settings_text(args: argparse.Namespace, benchmark: Benchmark) -> str:
    parts = [f"k={args.k}", f"selection={args.selection}", f"decoding={args.decoding}"]
    if args.selection == "random":
        parts.append(f"seed={args.seed}")
    if args.null_bias:
        parts.append(f"null_bias={args.null_bias:g}")
    parts.append(f"text={benchmark.text_fields}")
    if args.limit:
        parts.append(f"limit={args.limit}")
    return " ".join(parts)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def peak_rss_gb() -> float:
    """Peak resident memory of this process so far, in GB (Linux reports ru_maxrss in KiB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2


def table_row(run: QualityRun, model: str, settings: str, commit: str, date: str) -> str:
    micro = run.evaluation.exact.micro
    bench = run.benchmark
    cells = [date, commit, f"{bench.name}/{bench.split} ({len(run.records)})", model, settings,
             f"{micro.precision:.2f}", f"{micro.recall:.2f}", f"{micro.f1:.2f}",
             f"{run.evaluation.lenient.micro.f1:.2f}", f"{run.valid_percent:.1f}", f"{run.per_second:.2f}",
             f"{peak_rss_gb():.2f}"]
    return "| " + " | ".join(_cell(c) for c in cells) + " |"


def append_row(path: Path, row: str) -> None:
    """Add ``row`` at the end of the quality table in ``path`` (creating the file or the table)."""
    if not path.is_file():
        path.write_text(FILE_INTRO + TABLE_HEADER + "\n" + TABLE_RULE + "\n" + row + "\n", encoding="utf-8")
        return
    lines = path.read_text(encoding="utf-8").splitlines()
    if TABLE_HEADER in lines:
        at = lines.index(TABLE_HEADER) + 1
        while at < len(lines) and lines[at].startswith("|"):
            at += 1
        lines.insert(at, row)
    else:
        # Another tool owns the file so far: add our table as its own section at the end.
        lines += ["", "## Quality", "", TABLE_HEADER, TABLE_RULE, row]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def append_section_block(path: Path, section: str, intro: str, block: str) -> None:
    """Add ``block`` at the end of the ``section`` heading's section of ``path`` (creating the file,
    or the section with its ``intro``, when missing); later sections stay after it."""
    text = path.read_text(encoding="utf-8") if path.is_file() else "# Benchmarks\n"
    lines = text.rstrip("\n").splitlines()
    if section not in lines:
        lines += ["", section, "", intro]
    at = lines.index(section) + 1
    while at < len(lines) and not lines[at].startswith("## "):
        at += 1
    lines[at:at] = ["", *block.splitlines()] + ([""] if at < len(lines) else [])
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="../shared/data",
                   help="data root holding the dataset folders (default: ../shared/data)")
    p.add_argument("--dataset", required=True, help=f"one of {', '.join(DATASETS)}, or a folder of <split>.jsonl files")
    p.add_argument("--split", default="validation", help="split to evaluate (default: validation)")
    p.add_argument("--title-only", action="store_true", help="WDC-PAVE: read titles only, not title + description")
    p.add_argument("--limit", type=int, default=None, help="evaluate only the first N offers")
    p.add_argument("--model", default="smollm2-135m", help="model name, Hugging Face id, folder or .gguf")
    p.add_argument("--adapter", default=None, help="LoRA adapter folder applied on top of the model")
    p.add_argument("--quantize", default=None, choices=["4bit"], help="4-bit weights (CUDA only)")
    p.add_argument("--dtype", default="auto")
    p.add_argument("--device", default="auto")
    p.add_argument("--k", type=int, default=None,
                   help="demonstrations per input (0 = zero-shot); default 3, or what --adapter was trained with")
    p.add_argument("--selection", default=None, choices=SELECTIONS,
                   help="default similar, or what --adapter was trained with")
    p.add_argument("--seed", type=int, default=0, help="seed for --selection random")
    p.add_argument("--null-bias", type=float, default=None,
                   help="constrained decoding's bias for values over null; default 0, or --adapter's calibrated one")
    p.add_argument("--decoding", default="constrained", choices=DECODINGS)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--max-retries", type=int, default=1)
    p.add_argument("--out", default=None, help="records JSONL (default: runs/quality/<dataset>-<split>-<model>-<time>.jsonl)")
    p.add_argument("--plot", default=None, help="also write per-attribute F1 bars to this PNG")
    p.add_argument("--benchmarks-file", default=str(REPO / "BENCHMARKS.md"))
    p.add_argument("--record", dest="record", action="store_true",
                   help="append a row to the quality table of --benchmarks-file (default: write nothing there)")
    p.add_argument("--no-record", dest="record", action="store_false",
                   help="append nothing (the default; kept for older command lines)")
    args = p.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        p.error("--limit must be >= 1")
    return args


def resolve_prompt_settings(args: argparse.Namespace) -> None:
    """Fill the prompt and decoding settings left unset: an adapter's trained (or calibrated)
    ones, else the library defaults, so a tuned adapter is scored as it was trained and validated."""
    trained = trained_settings(args.adapter) if args.adapter else {}
    if args.k is None:
        args.k = trained.get("k", 3)
    if args.selection is None:
        args.selection = trained.get("selection", "similar")
    if args.null_bias is None:
        args.null_bias = trained.get("null_bias", 0.0)
    args.truncation = {key: trained[key] for key in ("max_text_tokens", "max_shot_tokens") if key in trained}


def load_extractor(args: argparse.Namespace, benchmark: Benchmark) -> Extractor:
    """Load the model once, with the first category's schema and demonstrations."""
    category = first_category(benchmark)
    return Extractor.from_pretrained(
        args.model, schema=benchmark.schemas[category], shots=shots_for(benchmark, category),
        adapter=args.adapter, quantize=args.quantize, dtype=args.dtype, device=args.device,
        k=args.k, selection=args.selection, seed=args.seed, decoding=args.decoding,
        batch_size=args.batch_size, max_retries=args.max_retries, null_bias=args.null_bias,
        **getattr(args, "truncation", {}))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        resolve_prompt_settings(args)
        benchmark = load_benchmark(args.dataset, args.split, data_root=args.data,
                                   title_only=args.title_only).head(args.limit)
        base = load_extractor(args, benchmark)
        run = run_quality(base, benchmark)
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        out = Path(args.out) if args.out else \
            REPO / "runs" / "quality" / f"{_slug(benchmark.name)}-{args.split}-{_slug(args.model)}-{stamp}.jsonl"
        out.parent.mkdir(parents=True, exist_ok=True)
        write_records(out, run.records)
        print(format_report(run.evaluation))
        print(f"\n{len(run.records)} offers in {run.seconds:.1f} s ({run.per_second:.2f} products/s), "
              f"{run.valid_percent:.1f}% valid records, peak RSS {peak_rss_gb():.2f} GB; records written to {out}")
        if args.plot:
            plot_attribute_f1(run.evaluation, args.plot)
        if args.record:
            model = args.model + (f" + {args.adapter}" if args.adapter else "") + (" 4bit" if args.quantize else "")
            row = table_row(run, model, settings_text(args, benchmark), git_commit(), dt.date.today().isoformat())
            append_row(Path(args.benchmarks_file), row)
            print(f"row appended to {args.benchmarks_file}")
    except ExtractorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
