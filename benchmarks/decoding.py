"""Decoding benchmark: constrained slot filling vs free generation vs outlines' JSON-schema
generation, on the same offers, prompts, demonstrations and loaded model. Prints products/s,
schema-valid rate, micro P/R/F1 and the time share spent in constraint code per mode, and the
ratios; --record adds one row per mode to BENCHMARKS.md's decoding table.

    python benchmarks/decoding.py --dataset wdc-pave,ae-110k --limit 200 --record

The model is loaded once and shared by every mode. Each mode first extracts one offer as a warmup
(reported, not timed: constrained builds its token index, outlines compiles its mask kernel);
the timed run then builds fresh per-category Extractors (and, for outlines, fresh per-schema
indexes), so per-schema costs are counted. outlines is installed for this benchmark only
(`.venv/bin/pip install outlines==1.3.3`; it leaves torch and transformers as they are); without
it the outlines mode is skipped with a message."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from extractor import (DATASETS, SELECTIONS, Backend, Benchmark, Document, ExtractConfig, Extractor, ExtractorError,
                       ModelConfig, Record, Schema, append_table_row, check_record, clean_commit, git_commit,
                       gqa_switch, load_benchmark, load_model, parse_json_object, recorded_command, render_messages,
                       score, shots_for, slug, table_row, write_records)

# This benchmark rebuilds decoding modes from the pipeline's public stages (render_messages,
# parse_json_object, check_record) and measures the KV cache's attention switch (gqa_switch).

REPO = Path(__file__).resolve().parent.parent
MODES = ("constrained", "free", "outlines")
SECTION = "## Decoding: constrained against free generation and outlines"
SECTION_INTRO = """The three decoders on the same offers, prompts, demonstrations and loaded model, greedy, the same
output token budget. products/s excludes each mode's one-off warmup (shown apart); schema-valid: status
ok and valid against the category's JSON Schema; constraint share: time in constraint code over decoding
time."""
ROW_HEADER = ("| date | commit | dataset (offers) | mode | products/s | warmup s | schema-valid % | F1 "
              "| constraint share % | command |")
ROW_RULE = "|---|---|---|---|---:|---:|---:|---:|---:|---|"
TABLE_HEADER = ("| mode | offers | products/s | warmup s | schema-valid % | P | R | F1 "
                "| constraint share % | attempts/record |")
TABLE_RULE = "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"


@dataclass
class ModeResult:
    """One mode's figures on one dataset."""

    mode: str
    offers: int = 0
    seconds: float = 0.0
    """Extraction wall time (no model load, no warmup)."""
    warmup_seconds: float = 0.0
    schema_valid: int = 0
    precision: float = 0.0
    recall: float = 0.0
    f1: float = 0.0
    constraint_seconds: float | None = None
    decode_seconds: float | None = None
    attempts: float = 0.0
    """Mean generations per record (free generation re-asks after an invalid answer)."""
    skipped: str | None = None
    """Why the mode did not run (outlines not installed); all figures are then meaningless."""

    @property
    def per_second(self) -> float:
        return self.offers / self.seconds if self.seconds > 0 else 0.0

    @property
    def valid_percent(self) -> float:
        return 100.0 * self.schema_valid / self.offers if self.offers else 0.0

    @property
    def constraint_share(self) -> float | None:
        if self.constraint_seconds is None or not self.decode_seconds:
            return None
        return 100.0 * self.constraint_seconds / self.decode_seconds


# --- the three decoders ------------------------------------------------------------------------

def category_groups(benchmark: Benchmark) -> dict[str, list[int]]:
    """Category → indices of its offers, in benchmark order."""
    groups: dict[str, list[int]] = {}
    for index, document in enumerate(benchmark.documents):
        groups.setdefault(document.category or "", []).append(index)
    return groups


def make_extractor(backend: Backend, benchmark: Benchmark, category: str, config: ExtractConfig) -> Extractor:
    return Extractor(backend, benchmark.schemas[category], config, shots=shots_for(benchmark, category))


class _TimedProcessor:
    """Wraps an outlines logits processor and adds up the seconds spent inside it."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.seconds = 0.0

    def reset(self) -> None:
        self.inner.reset()

    def __call__(self, input_ids: Any, logits: Any) -> Any:
        start = time.perf_counter()
        out = self.inner(input_ids, logits)
        self.seconds += time.perf_counter() - start
        return out


class OutlinesDecoder:
    """outlines' JSON-schema constrained generation on the backend's own model and tokenizer, fed
    the prompts the pipeline would render, its replies parsed and validated as free output is."""

    def __init__(self, backend: Any) -> None:
        import outlines
        from outlines.backends.outlines_core import OutlinesCoreBackend

        self.backend = backend
        self.model = outlines.from_transformers(backend.model, backend.tokenizer)
        # Our prompts are already chat-rendered; outlines would wrap a plain string in the chat
        # template a second time.
        self.model.type_adapter.has_chat_template = False
        # One vocabulary for every schema (outlines' own factory rebuilds it per schema).
        self.core = OutlinesCoreBackend(self.model)
        self.constraint_seconds = 0.0
        self.decode_seconds = 0.0

    def prompt(self, extractor: Extractor, document: Document) -> tuple[str, list[str]]:
        """The prompt Extractor renders for ``document`` and the warnings that go with it."""
        config, backend = extractor.config, self.backend
        text = backend.truncate(document.text, config.max_text_tokens)
        warnings = [] if text == document.text else [f"input truncated to its first {config.max_text_tokens} tokens"]
        shots = extractor.pool.select(text, config.k, config.selection, config.seed)
        return backend.render_chat(render_messages(extractor.schema, text, shots, config.prompt)), warnings

    def extract(self, extractor: Extractor, documents: list[Document]) -> list[Record]:
        from outlines.generator import SteerableGenerator

        start = time.perf_counter()
        processor = _TimedProcessor(self.core.get_json_schema_logits_processor(json.dumps(extractor.schema.document)))
        compile_seconds = time.perf_counter() - start
        generator = SteerableGenerator.from_processor(self.model, processor)
        provenance = replace(extractor.provenance, decoding="outlines")
        stops = self.backend.stop_token_ids()
        records = []
        for at in range(0, len(documents), extractor.config.batch_size):
            batch = documents[at: at + extractor.config.batch_size]
            prompts, warnings = zip(*(self.prompt(extractor, d) for d in batch))
            raws = generator.batch(list(prompts), max_new_tokens=extractor.budget, do_sample=False, num_beams=1,
                                   pad_token_id=self.backend.tokenizer.pad_token_id, eos_token_id=stops,
                                   temperature=None, top_p=None, top_k=None)
            for document, raw, warned in zip(batch, raws, warnings):
                records.append(record_from_output(extractor.schema, document, raw, list(warned), provenance))
        self.constraint_seconds += compile_seconds + processor.seconds
        self.decode_seconds += time.perf_counter() - start
        return records


def record_from_output(schema: Schema, document: Document, raw: str, warnings: list[str], provenance: Any) -> Record:
    """A Record from one reply, parsed and validated as the free path does (no re-ask)."""
    parsed = parse_json_object(raw)
    if parsed.value is not None:
        checked = check_record(parsed.value, schema)
        if checked.ok:
            return Record(id=document.id, attributes=checked.attributes, provenance=provenance,
                          warnings=warnings + parsed.repairs, attempts=1)
        problems = checked.errors
    else:
        problems = [parsed.error or "no JSON object"]
    return Record(id=document.id, attributes={name: None for name in schema.names}, provenance=provenance,
                  error="invalid output after 1 attempt(s): " + "; ".join(problems), status="invalid",
                  warnings=warnings, raw=raw, attempts=1)


def schema_valid(record: Record, schema: Schema) -> bool:
    """Status ok and the attributes valid against the schema's JSON Schema document."""
    from jsonschema import Draft202012Validator

    return record.ok and Draft202012Validator(schema.document).is_valid(record.attributes)


def decode(mode: str, outlines_decoder: OutlinesDecoder | None, extractor: Extractor,
           documents: list[Document]) -> list[Record]:
    if mode == "outlines":
        assert outlines_decoder is not None
        return outlines_decoder.extract(extractor, documents)
    return list(extractor.extract_documents(documents))


def run_mode(mode: str, backend: Backend, benchmark: Benchmark, config: ExtractConfig,
             outlines_decoder: OutlinesDecoder | None) -> tuple[list[Record], ModeResult]:
    """Extract every offer of ``benchmark`` with ``mode`` (fresh Extractors per category) and score."""
    config = replace(config, decoding="free" if mode == "outlines" else mode)
    if outlines_decoder is not None:
        outlines_decoder.constraint_seconds = outlines_decoder.decode_seconds = 0.0
    records: list[Record | None] = [None] * len(benchmark.documents)
    extractors = []
    start = time.perf_counter()
    for category, indices in category_groups(benchmark).items():
        extractor = make_extractor(backend, benchmark, category, config)
        extractors.append(extractor)
        out = decode(mode, outlines_decoder, extractor, [benchmark.documents[i] for i in indices])
        for index, record in zip(indices, out):
            records[index] = record
    seconds = time.perf_counter() - start
    done: list[Record] = [r for r in records if r is not None]
    if len(done) != len(records):
        raise ExtractorError(f"{mode}: {len(records) - len(done)} offer(s) got no record")
    micro = score(benchmark.gold, [r.to_dict() for r in done]).exact.micro
    result = ModeResult(mode=mode, offers=len(done), seconds=seconds, precision=micro.precision,
                        recall=micro.recall, f1=micro.f1, attempts=sum(r.attempts for r in done) / len(done),
                        schema_valid=sum(schema_valid(r, benchmark.schemas[d.category or ""])
                                         for r, d in zip(done, benchmark.documents)))
    if mode == "constrained":
        stats = [e.constrained_decoder.stats for e in extractors]
        result.constraint_seconds = sum(s.constraint_seconds for s in stats)
        result.decode_seconds = sum(s.seconds for s in stats)
    elif mode == "outlines" and outlines_decoder is not None:
        result.constraint_seconds = outlines_decoder.constraint_seconds
        result.decode_seconds = outlines_decoder.decode_seconds
    return done, result


def warm_up(mode: str, backend: Backend, benchmark: Benchmark, config: ExtractConfig) -> tuple[float, OutlinesDecoder | None]:
    """Seconds one offer takes through ``mode`` on a throwaway Extractor (one-off costs: token
    index, outlines' vocabulary and kernel compilation, first forward passes)."""
    start = time.perf_counter()
    decoder = OutlinesDecoder(backend) if mode == "outlines" else None
    document = benchmark.documents[0]
    extractor = make_extractor(backend, benchmark, document.category or "",
                               replace(config, decoding="free" if mode == "outlines" else mode))
    decode(mode, decoder, extractor, [document])
    return time.perf_counter() - start, decoder


def outlines_missing() -> str | None:
    try:
        import outlines  # noqa: F401
        from outlines.backends.outlines_core import OutlinesCoreBackend  # noqa: F401
    except ImportError as exc:
        return (f"outlines is not importable ({exc}); install it for this benchmark only: "
                ".venv/bin/pip install outlines==1.3.3")
    return None


# --- reporting --------------------------------------------------------------------------------

def table(results: list[ModeResult]) -> str:
    """The markdown table of every mode (skipped modes say why)."""
    lines = [TABLE_HEADER, TABLE_RULE]
    for r in results:
        if r.skipped:
            lines.append(f"| {r.mode} | skipped: {r.skipped.replace('|', '/')} |" + " |" * 8)
            continue
        share = "–" if r.constraint_share is None else f"{r.constraint_share:.1f}"
        lines.append(f"| {r.mode} | {r.offers} | {r.per_second:.3f} | {r.warmup_seconds:.1f} | {r.valid_percent:.1f} "
                     f"| {r.precision:.2f} | {r.recall:.2f} | {r.f1:.2f} | {share} "
                     f"| {r.attempts:.2f} |")
    return "\n".join(lines)


def comparisons(results: list[ModeResult]) -> list[str]:
    """Ratios of constrained against the other modes and whether the issue's targets are met."""
    ran = {r.mode: r for r in results if not r.skipped}
    c = ran.get("constrained")
    if c is None:
        return []
    lines, targets = [], [f"100% schema-valid: {'met' if c.schema_valid == c.offers else 'missed'} ({c.valid_percent:.1f}%)"]
    for other in ("free", "outlines"):
        o = ran.get(other)
        if o is None:
            continue
        ratio = c.per_second / o.per_second if o.per_second else float("inf")
        lines.append(f"constrained/{other} products/s: {ratio:.2f}x; F1 constrained - {other}: {c.f1 - o.f1:+.2f}")
        targets.append(f">= 2x {other} products/s: {'met' if ratio >= 2 else 'missed'}")
        if other == "free":
            targets.append(f"F1 >= free: {'met' if c.f1 >= o.f1 else 'missed'}")
    return lines + ["targets: " + "; ".join(targets)]


def run_block(benchmark: Benchmark, results: list[ModeResult], args: argparse.Namespace, command: str,
              device: str, commit: str, date: str) -> str:
    """One run's markdown for BENCHMARKS.md: heading, command, settings, table, ratios."""
    settings = (f"k={args.k} selection={args.selection} batch_size={args.batch_size} max_retries={args.max_retries} "
                f"text={benchmark.text_fields} limit={args.limit} device={device} gqa={args.gqa}")
    body = [f"### {benchmark.name}/{benchmark.split} ({len(benchmark.documents)} offers), {args.model}, {date}, "
            f"commit {commit}", "", f"`{command}`", "", settings, "", table(results), ""]
    body += [f"- {line}" for line in comparisons(results)]
    return "\n".join(body)


def recorded_rows(benchmark: Benchmark, results: list[ModeResult], command: str, commit: str, date: str) -> list[str]:
    """The decoding table's rows of one dataset's run: one per mode that ran (a skipped mode has no figure)."""
    rows = []
    for r in results:
        if r.skipped:
            continue
        share = "–" if r.constraint_share is None else f"{r.constraint_share:.1f}"
        rows.append(table_row([date, commit, f"{benchmark.name}/{benchmark.split} ({r.offers})", r.mode,
                               f"{r.per_second:.3f}", f"{r.warmup_seconds:.1f}", f"{r.valid_percent:.1f}",
                               f"{r.f1:.2f}", share, f"`{command}`"]))
    return rows


def append_rows(path: Path, rows: list[str]) -> None:
    """Add ``rows`` at the end of the decoding table of ``path`` (creating file, area or table)."""
    for row in rows:
        append_table_row(path, SECTION, ROW_HEADER, ROW_RULE, row, SECTION_INTRO)


# --- command line -----------------------------------------------------------------------------

def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", required=True,
                   help=f"comma-separated: {', '.join(DATASETS)}, or folders of <split>.jsonl files")
    p.add_argument("--data-root", default=str(REPO.parent / "shared" / "data"), help="folder holding the datasets")
    p.add_argument("--split", default="validation")
    p.add_argument("--limit", type=int, default=200, help="the first N offers of the split")
    p.add_argument("--k", type=int, default=3, help="demonstrations per offer")
    p.add_argument("--selection", default="similar", choices=SELECTIONS)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--max-retries", type=int, default=1, help="free generation's re-asks (library default 1)")
    p.add_argument("--modes", default=",".join(MODES), help=f"comma-separated subset of {', '.join(MODES)}")
    p.add_argument("--model", default="smollm2-135m")
    p.add_argument("--dtype", default="auto")
    p.add_argument("--device", default="auto")
    p.add_argument("--gqa", default="all", choices=("all", "ours"),
                   help="all: every mode, outlines too, attends with SDPA's grouped-query attention, the kernel "
                        "our decoders use on CPU (extractor/decoding/kvcache.py), so no mode wins by its kernel; "
                        "ours: outlines runs transformers' default (key/value heads repeated)")
    p.add_argument("--out-dir", default=str(REPO / "runs" / "decoding"), help="records and summary JSON go here")
    p.add_argument("--record", action="store_true", help="append the results to --benchmarks-file")
    p.add_argument("--benchmarks-file", default=str(REPO / "BENCHMARKS.md"))
    args = p.parse_args(argv)
    args.datasets = [d for d in args.dataset.split(",") if d]
    args.mode_list = [m for m in args.modes.split(",") if m]
    unknown = sorted(set(args.mode_list) - set(MODES))
    if unknown or not args.mode_list:
        p.error(f"--modes takes a comma-separated subset of {', '.join(MODES)} (got {args.modes!r})")
    if args.limit < 1:
        p.error("--limit must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = recorded_command("benchmarks/decoding.py", sys.argv[1:] if argv is None else argv)
    with gqa_switch() if args.gqa == "all" else contextlib.nullcontext():  # read at each attention call
        return _run(args, command)


def _run(args: argparse.Namespace, command: str) -> int:
    try:
        # A row names the commit whose code measured it: refuse before the run, not after it.
        commit = clean_commit(REPO, allow=(args.benchmarks_file,)) if args.record else git_commit(REPO)
        date = dt.date.today().isoformat()
        benchmarks = [load_benchmark(d, args.split, data_root=args.data_root).head(args.limit) for d in args.datasets]
        start = time.perf_counter()
        backend = load_model(ModelConfig(model=args.model, dtype=args.dtype, device=args.device))
        device = str(getattr(backend, "device", "?"))
        print(f"model {args.model} loaded in {time.perf_counter() - start:.1f} s on {device}", flush=True)
        config = ExtractConfig(k=args.k, selection=args.selection, seed=args.seed, batch_size=args.batch_size,
                               max_retries=args.max_retries)
        warmups: dict[str, tuple[float, OutlinesDecoder | None]] = {}
        skipped = {"outlines": outlines_missing()} if "outlines" in args.mode_list else {}
        if skipped.get("outlines"):
            print(f"skipping outlines: {skipped['outlines']}", file=sys.stderr)
        out_dir = Path(args.out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        rows = []
        for benchmark in benchmarks:
            results = []
            for mode in args.mode_list:
                if skipped.get(mode):
                    results.append(ModeResult(mode=mode, skipped=skipped[mode]))
                    continue
                if mode not in warmups:
                    warmups[mode] = warm_up(mode, backend, benchmark, config)
                    print(f"{mode}: warmup {warmups[mode][0]:.1f} s", flush=True)
                records, result = run_mode(mode, backend, benchmark, config, warmups[mode][1])
                result.warmup_seconds = warmups[mode][0]
                results.append(result)
                path = out_dir / f"{slug(benchmark.name)}-{args.split}-{mode}-{stamp}.jsonl"
                write_records(path, records)
                print(f"{mode}: {result.offers} offers in {result.seconds:.1f} s ({result.per_second:.3f}/s), "
                      f"F1 {result.f1:.2f}; records in {path}", flush=True)
            print("\n" + run_block(benchmark, results, args, command, device, commit, date) + "\n")
            rows += recorded_rows(benchmark, results, command, commit, date)
            summary = {"command": command, "dataset": benchmark.name, "split": args.split,
                       "results": [{**asdict(r), "per_second": r.per_second, "valid_percent": r.valid_percent,
                                    "constraint_share": r.constraint_share} for r in results]}
            (out_dir / f"{slug(benchmark.name)}-{args.split}-{stamp}.json").write_text(
                json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        if args.record:
            append_rows(Path(args.benchmarks_file), rows)
            print(f"{len(rows)} rows appended to {args.benchmarks_file}")
    except ExtractorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
