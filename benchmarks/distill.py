"""Distillation on a public benchmark: a teacher engine (an LLM by default) labels the train split's
texts with their gold removed, a tagger (the student) is fine-tuned on those silver labels only
(``extractor.silver_set``: what ``extractor finetune-tagger --silver`` trains on), and both extract
the evaluated split. Prints the teacher's and the student's F1 against the gold, the student's F1
against the teacher's records (how much of the teacher it learned), and products/s of each with
their ratio. Writes the records and the student's folder under --out.

    python benchmarks/distill.py --data ../shared/data --dataset ae-110k \\
        --teacher-model smollm2-135m --teacher-adapter adapters/smollm2-ae110k-k3 --student-model minilm-l6

The teacher is an LLM (``--teacher-model``, ``--teacher-adapter``, ``--k``: its prompt settings
are the adapter's trained ones unless given, as benchmarks/quality.py runs it) or any engine spec
(``--teacher-spec FILE``, as ``extractor extract --print-spec`` writes one). Schemas and
demonstrations come from the train split, as for every benchmark; a demonstration whose text is
the offer being labelled is never shown (``DemoPool.select``), so the teacher sees no gold of
the texts it labels. An adapter tuned on the same train split has seen that gold in training,
though: its labels of those texts are better than it would give unseen ones, and so the
student's figures with it are an upper bound. ``--min-confidence`` drops silver values the
teacher is less sure of."""

from __future__ import annotations

import argparse
import functools
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from extractor import (GOLD_ABSENT, PACKAGED_ENCODER, Benchmark, ExtractorError, GoldOffer, TaggerConfig,
                       TaggerExtractor, TrainConfig, TrainingSet, benchmark_extractor, build_engine,
                       extract_benchmark, first_category, load_benchmark, load_spec, prompt_settings,
                       read_offers, read_records, resolve_dataset, score, shots_for, silver_set, train_tagger,
                       write_records)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    defaults = TrainConfig()
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="../shared/data", help="folder holding the datasets (default: ../shared/data)")
    p.add_argument("--dataset", required=True, help="ae-110k, oa-mine, wdc-pave, or a dataset folder")
    p.add_argument("--split", default="validation", help="split to evaluate (default: validation)")
    p.add_argument("--title-only", action="store_true", help="WDC-PAVE: read titles only, not title + description")
    p.add_argument("--limit", type=int, default=None,
                   help="label only N train offers, drawn at random with --seed (default: all)")
    p.add_argument("--eval-limit", type=int, default=None, help="evaluate only the first N offers (default: all)")
    p.add_argument("--teacher-spec", default=None, help="engine spec file of the teacher (instead of the LLM options)")
    p.add_argument("--teacher-model", default="smollm2-135m", help="the teacher LLM (default: smollm2-135m)")
    p.add_argument("--teacher-adapter", default=None, help="a LoRA adapter folder for the teacher LLM")
    p.add_argument("--k", type=int, default=None,
                   help="the teacher's demonstrations per offer (default: the adapter's, else 3)")
    p.add_argument("--teacher-batch-size", type=int, default=8, help="offers the teacher LLM decodes together")
    p.add_argument("--teacher-records", default=None, metavar="DIR",
                   help="reuse the teacher's records of an earlier run's --out DIR instead of labelling again "
                        "(its train.teacher.records.jsonl, and <split>.teacher.records.jsonl when there: the "
                        "teacher's products/s is then not measured); their ids must be this run's offers")
    p.add_argument("--min-confidence", type=float, default=0.0,
                   help="silver values below this teacher confidence become null (default: 0, keep all)")
    p.add_argument("--student-model", default=PACKAGED_ENCODER,
                   help=f"encoder to fine-tune (default: {PACKAGED_ENCODER})")
    p.add_argument("--epochs", type=int, default=defaults.epochs)
    p.add_argument("--lr", type=float, default=defaults.learning_rate, help="encoder peak learning rate")
    p.add_argument("--head-lr", type=float, default=defaults.head_learning_rate,
                   help="peak learning rate of the classification head (default: --lr)")
    p.add_argument("--batch-size", type=int, default=defaults.batch_size, help="training windows per step")
    p.add_argument("--window", type=int, default=defaults.window, help="model positions per window")
    p.add_argument("--overlap", type=int, default=defaults.overlap, help="tokens consecutive windows share")
    p.add_argument("--validation-share", type=float, default=defaults.validation_share,
                   help="share of the silver texts held out for early stopping (scored against silver labels)")
    p.add_argument("--seed", type=int, default=defaults.seed)
    p.add_argument("--span-threshold", type=float, default=None,
                   help="the student's span threshold, recorded in its manifest (default: calibrated on the "
                        "held-out silver texts, or the most probable labels when none are held out); the "
                        "learning curve's taggers use 0.1 on AE-110K and 0.2 on OA-Mine")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, ... (teacher and student)")
    p.add_argument("--out", default=None, help="folder for records and the student (default: runs/distill/<dataset>)")
    return p.parse_args(argv)


def teacher_engine(args: argparse.Namespace, benchmark: Benchmark) -> Any:
    """The teacher, loaded with the schema (and demonstrations) of the benchmark's first category."""
    if args.teacher_spec:
        return build_engine(load_spec(args.teacher_spec), benchmark.schemas[first_category(benchmark)])
    settings = prompt_settings(args.teacher_adapter, k=args.k)
    return benchmark_extractor(benchmark, args.teacher_model, adapter=args.teacher_adapter, quantize=None,
                               dtype="auto", device=args.device, seed=0, decoding="constrained",
                               batch_size=args.teacher_batch_size, max_retries=1, **settings)


def train_split(args: argparse.Namespace, evaluated: Benchmark) -> Benchmark:
    """The train split's texts as a Benchmark beside the evaluated one (same schemas and pools)."""
    documents, gold = read_offers(resolve_dataset(args.dataset, args.data) / "train.jsonl", args.title_only)
    known = [(d, g) for d, g in zip(documents, gold) if d.text.strip() and g.category in evaluated.schemas]
    return replace(evaluated, split="train", documents=[d for d, _ in known],
                   gold=[g for _, g in known]).sample(args.limit, args.seed)


def silver(train: Benchmark, records: list[Any], min_confidence: float) -> tuple[TrainingSet, list[str]]:
    """One TrainingSet over every category of the teacher's train records, and the report lines. The
    student is built for every schema of the split, also those of categories the labelled texts do
    not reach (``--limit``): it must read every evaluated offer, as the learning curve's taggers do."""
    documents, gold, schemas, lines = [], [], dict(train.schemas), []
    for category, schema in train.schemas.items():
        pairs = [(d, r) for d, r in zip(train.documents, records) if d.category == category]
        if not pairs:
            continue
        try:
            part, report = silver_set([d for d, _ in pairs], [r for _, r in pairs], schema, min_confidence)
        except ExtractorError as exc:
            lines.append(f"{category}: {exc}")
            continue
        documents += part.documents
        gold += part.gold
        schemas.update(part.schemas)
        lines.append(f"{category}: {report.line()}")
    return TrainingSet(documents, gold, schemas), lines


def teacher_gold(evaluated: Benchmark, records: list[Any]) -> list[GoldOffer]:
    """The teacher's records as gold offers of the evaluated split (its null: absent)."""
    out = []
    for offer, record in zip(evaluated.gold, records):
        targets = {}
        for attribute in offer.targets:
            value = record.attributes.get(attribute)
            items = value if isinstance(value, list) else [] if value is None else [value]
            targets[attribute] = tuple(str(v) for v in items) or (GOLD_ABSENT,)
        out.append(GoldOffer(id=offer.id, has_id=offer.has_id, category=offer.category, targets=targets))
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = Path(args.out or f"runs/distill/{Path(args.dataset).name}")
    out.mkdir(parents=True, exist_ok=True)
    evaluated = load_benchmark(args.dataset, args.split, args.data, title_only=args.title_only).head(args.eval_limit)
    train = train_split(args, evaluated)
    teacher = functools.cache(lambda: teacher_engine(args, evaluated))  # loaded on first use: never, when reused

    reused = Path(args.teacher_records) if args.teacher_records else None
    if reused is not None:
        train_records = earlier_records(reused / "train.teacher.records.jsonl", train)
        print(f"teacher's records of {len(train_records)} train offers read from {reused}", flush=True)
    else:
        train_records, label_seconds = extract_benchmark(teacher(), train)
        print(f"teacher labelled {len(train_records)} train offers in {label_seconds:.0f} s", flush=True)
    write_records(out / "train.teacher.records.jsonl", train_records)
    silver_data, lines = silver(train, train_records, args.min_confidence)
    for line in lines:
        print(line, flush=True)

    start = time.perf_counter()
    config = TrainConfig(epochs=args.epochs, learning_rate=args.lr, head_learning_rate=args.head_lr,
                         batch_size=args.batch_size, window=args.window, overlap=args.overlap,
                         validation_share=args.validation_share, seed=args.seed, device=args.device,
                         span_threshold=args.span_threshold)
    result = train_tagger(silver_data, out / "student", base_model=args.student_model, config=config,
                          log=lambda line: print(line, flush=True))
    print(f"student trained in {time.perf_counter() - start:.0f} s", flush=True)
    student = TaggerExtractor.from_pretrained(result.folder, evaluated.schemas[first_category(evaluated)],
                                              TaggerConfig(), device=args.device)

    earlier = reused / f"{args.split}.teacher.records.jsonl" if reused is not None else None
    if earlier is not None and earlier.is_file():
        teacher_records, teacher_seconds = earlier_records(earlier, evaluated), None
    else:
        teacher_records, teacher_seconds = extract_benchmark(teacher(), evaluated)
    student_records, student_seconds = extract_benchmark(student, evaluated)
    write_records(out / f"{args.split}.teacher.records.jsonl", teacher_records)
    write_records(out / f"{args.split}.student.records.jsonl", student_records)
    teacher_f1 = score(evaluated.gold, [r.to_dict() for r in teacher_records]).exact.micro.f1
    student_f1 = score(evaluated.gold, [r.to_dict() for r in student_records]).exact.micro.f1
    agreement = score(teacher_gold(evaluated, teacher_records), [r.to_dict() for r in student_records]).exact.micro
    n = len(evaluated.documents)
    student_rate = n / max(student_seconds, 1e-9)
    teacher_rate = n / max(teacher_seconds, 1e-9) if teacher_seconds is not None else None
    print(f"{evaluated.name} {args.split}, {n} offers; student trained on {len(silver_data.documents)} silver texts")
    print(f"teacher: F1 {teacher_f1:.2f} against gold, "
          + (f"{teacher_rate:.2f} products/s" if teacher_rate else "products/s not measured (records reused)"))
    print(f"student: F1 {student_f1:.2f} against gold, {student_rate:.2f} products/s")
    print(f"student against the teacher's records: P {agreement.precision:.2f} R {agreement.recall:.2f} "
          f"F1 {agreement.f1:.2f}")
    print(f"student/teacher: F1 ratio {student_f1 / teacher_f1 if teacher_f1 else 0:.2f}, products/s ratio "
          + (f"{student_rate / teacher_rate:.1f}" if teacher_rate else "not measured"))
    return 0


def earlier_records(path: Path, benchmark: Benchmark) -> list[Any]:
    """An earlier run's records of ``benchmark``'s offers, refused unless they are those offers, in order."""
    records = read_records(path)
    ids = [d.id for d in benchmark.documents]
    if [r.id for r in records] != ids:
        raise ExtractorError(f"{path} holds records of other offers than this run's {len(ids)} "
                             f"{benchmark.split} offers (another --dataset, --limit or --seed?)")
    return records


if __name__ == "__main__":
    try:
        sys.exit(main())
    except ExtractorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
