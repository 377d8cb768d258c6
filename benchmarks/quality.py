"""Extraction quality on a public benchmark split: extract every offer, score the records with the
papers' rules, print the tables; with --record, append one row to BENCHMARKS.md.

    python benchmarks/quality.py --data ../shared/data --dataset wdc-pave --split validation \\
        --model smollm2-135m --k 3 --selection similar --limit 50 --record

Schemas and demonstrations are derived per category from the dataset's train split
(extractor/evaluate/datasets.py); one Extractor per category shares the loaded model. The model is
loaded once, before the clock starts: products/s measures extraction only."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import sys
from pathlib import Path

from extractor import (DATASETS, DECODINGS, SELECTIONS, Backend, Benchmark, ExtractConfig, Extractor, ExtractorError,
                       ModelConfig, append_quality_row, benchmark_extractor, clean_commit, format_report, load_benchmark,
                       load_pretrained, model_loader, nf4_config, peak_rss_gb, plot_attribute_f1, prompt_settings,
                       quality_row, recorded_command, run_quality, slug, write_records)

REPO = Path(__file__).resolve().parent.parent


def settings_text(args: argparse.Namespace, benchmark: Benchmark) -> str:
    parts = [f"k={args.k}", f"selection={args.selection}", f"decoding={args.decoding}"]
    if args.selection == "random":
        parts.append(f"seed={args.seed}")
    if args.null_bias:
        parts.append(f"null_bias={args.null_bias:g}")
    if args.reuse_penalty not in (None, ExtractConfig().reuse_penalty):
        parts.append(f"reuse_penalty={args.reuse_penalty:g}")
    parts.append(f"text={benchmark.text_fields}")
    if args.limit:
        parts.append(f"limit={args.limit}")
    return " ".join(parts)


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
    p.add_argument("--nf4-cpu", action="store_true",
                   help="load the weights in bitsandbytes NF4 on the CPU with bitsandbytes' own CPU kernels (slow, "
                        "unsupported by extractor, for figures only; implies --quantize 4bit, takes no --device); "
                        "what benchmarks/nf4_cpu_quality.py runs")
    p.add_argument("--dtype", default="auto")
    p.add_argument("--device", default="auto")
    p.add_argument("--k", type=int, default=None,
                   help="demonstrations per input (0 = zero-shot); default 3, or what --adapter was trained with")
    p.add_argument("--selection", default=None, choices=SELECTIONS,
                   help="default similar, or what --adapter was trained with")
    p.add_argument("--seed", type=int, default=0, help="seed for --selection random")
    p.add_argument("--null-bias", type=float, default=None,
                   help="constrained decoding's bias for values over null; default 0, or --adapter's calibrated one")
    p.add_argument("--reuse-penalty", type=float, default=None,
                   help="constrained decoding's margin over null for a span another attribute took "
                        "(0: off); default: the library's (extract --reuse-penalty)")
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
    if args.nf4_cpu:
        if args.device != "auto":
            p.error("--nf4-cpu always loads the model on the CPU: drop --device")
        args.quantize = "4bit"  # it labels the benchmark row
    return args


def load_nf4_on_cpu(config: ModelConfig) -> Backend:
    """``load_model`` with the weights quantized to NF4 (extractor's settings) on the CPU, which
    extractor itself refuses (--quantize 4bit wants CUDA)."""
    return load_pretrained(config, None, quantization_config=nf4_config(), device_map={"": "cpu"})


def resolve_prompt_settings(args: argparse.Namespace) -> None:
    """Fill the prompt and decoding settings left unset: an adapter's trained (or calibrated)
    ones, else the library defaults, so a tuned adapter is scored as it was trained and validated."""
    settings = prompt_settings(args.adapter, k=args.k, selection=args.selection, null_bias=args.null_bias)
    args.k, args.selection, args.null_bias = settings.pop("k"), settings.pop("selection"), settings.pop("null_bias")
    args.truncation = settings


def load_extractor(args: argparse.Namespace, benchmark: Benchmark) -> Extractor:
    """Load the model once, with the first category's schema and demonstrations."""
    return benchmark_extractor(
        benchmark, args.model, adapter=args.adapter, quantize=args.quantize, dtype=args.dtype, device=args.device,
        k=args.k, selection=args.selection, seed=args.seed, decoding=args.decoding,
        batch_size=args.batch_size, max_retries=args.max_retries, null_bias=args.null_bias,
        **({} if args.reuse_penalty is None else {"reuse_penalty": args.reuse_penalty}),
        **getattr(args, "truncation", {}))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        resolve_prompt_settings(args)
        # A row names the commit whose code measured it: refuse before the run, not after it.
        commit = clean_commit(REPO, allow=(args.benchmarks_file,)) if args.record else ""
        benchmark = load_benchmark(args.dataset, args.split, data_root=args.data,
                                   title_only=args.title_only).head(args.limit)
        with model_loader(load_nf4_on_cpu) if args.nf4_cpu else contextlib.nullcontext():
            base = load_extractor(args, benchmark)
        run = run_quality(base, benchmark)
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        out = Path(args.out) if args.out else \
            REPO / "runs" / "quality" / f"{slug(benchmark.name)}-{args.split}-{slug(args.model)}-{stamp}.jsonl"
        out.parent.mkdir(parents=True, exist_ok=True)
        write_records(out, run.records)
        print(format_report(run.evaluation))
        print(f"\n{len(run.records)} offers in {run.seconds:.1f} s ({run.per_second:.2f} products/s), "
              f"{run.valid_percent:.1f}% valid records, peak RSS {peak_rss_gb():.2f} GB; records written to {out}")
        if args.plot:
            plot_attribute_f1(run.evaluation, args.plot)
        if args.record:
            model = args.model + (f" + {args.adapter}" if args.adapter else "") + (" 4bit" if args.quantize else "")
            command = recorded_command("benchmarks/quality.py", sys.argv[1:] if argv is None else argv)
            row = quality_row(run, model, settings_text(args, benchmark), commit, dt.date.today().isoformat(), command)
            append_quality_row(Path(args.benchmarks_file), row)
            print(f"row appended to {args.benchmarks_file}")
    except ExtractorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
