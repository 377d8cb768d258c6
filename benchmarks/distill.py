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
teacher is less sure of.

Cross-fitted adapters take that bound away. ``--write-folds N`` splits the train lines into N
folds (drawn with ``--seed``) and writes, for each fold, the lines of all the others; an adapter is
tuned on each of those files (``extractor finetune --train``). Given them all as
``--teacher-adapter`` (repeated), each train offer is labelled by an adapter whose training files
(named, with their hashes, in its manifest) do not hold its text, so no adapter labels a text whose
gold it was tuned on; the run refuses an offer every adapter has seen. Every adapter extracts the
evaluated split: the teacher's F1 is their mean, and each is printed.

    python benchmarks/distill.py --dataset oa-mine --write-folds 2 --out $OUT/oa-folds
    extractor finetune -c finetune/configs/smollm2-oa-mine-k3.yaml \\
        --train $OUT/oa-folds/fold-0.train.jsonl -o $OUT/oa-a0
    extractor finetune -c finetune/configs/smollm2-oa-mine-k3.yaml \\
        --train $OUT/oa-folds/fold-1.train.jsonl -o $OUT/oa-a1
    python benchmarks/distill.py --dataset oa-mine --teacher-adapter $OUT/oa-a0 --teacher-adapter $OUT/oa-a1 ...

Labelling and timing can happen on different machines: ``--label-only`` writes the teacher's train
records and stops (run it where the teacher is fast, a GPU); a run given that folder as
``--teacher-records`` trains the student and extracts the evaluated split with each teacher
there, so both products/s come from the machine the ratio is quoted for."""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from extractor import (GOLD_ABSENT, PACKAGED_ENCODER, Benchmark, ExtractorError, GoldOffer, TaggerConfig,
                       TaggerExtractor, TrainConfig, TrainingSet, benchmark_extractor, build_engine,
                       examples_of_target_scores, extract_benchmark, first_category, load_benchmark, load_spec,
                       offer_text, prompt_settings, read_adapter_manifest, read_offers, read_records, read_rows,
                       resolve_dataset, score, silver_set, train_tagger, write_records)


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
    p.add_argument("--teacher-adapter", action="append", default=None,
                   help="a LoRA adapter folder for the teacher LLM; repeated: cross-fitted adapters, each train "
                        "offer labelled by one whose training files do not hold its text")
    p.add_argument("--write-folds", type=int, default=None, metavar="N",
                   help="write <out>/fold-<i>.train.jsonl for i < N (the train lines outside fold i, folds drawn "
                        "with --seed), for one adapter each, and exit")
    p.add_argument("--k", type=int, default=None,
                   help="the teacher's demonstrations per offer (default: the adapter's, else 3)")
    p.add_argument("--teacher-batch-size", type=int, default=8, help="offers the teacher LLM decodes together")
    p.add_argument("--teacher-dtype", default="auto", choices=["auto", "float32", "bfloat16", "float16"],
                   help="the teacher LLM's weights (default auto: bfloat16 on CUDA, float32 on most CPUs)")
    p.add_argument("--label-only", action="store_true",
                   help="write the teacher's records of the train split and stop: label on one machine (a GPU), "
                        "then train and time students elsewhere with --teacher-records")
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


def teacher_engine(args: argparse.Namespace, benchmark: Benchmark, adapter: str | None = None) -> Any:
    """The teacher (with ``adapter``), loaded with the schema and demonstrations of the benchmark's first category."""
    if args.teacher_spec:
        return build_engine(load_spec(args.teacher_spec), benchmark.schemas[first_category(benchmark)])
    settings = prompt_settings(adapter, k=args.k)
    return benchmark_extractor(benchmark, args.teacher_model, adapter=adapter, quantize=None,
                               dtype=args.teacher_dtype, device=args.device, seed=0, decoding="constrained",
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
    if args.write_folds is not None:
        for path in write_folds(args, out):
            print(f"wrote {path}", flush=True)
        return 0
    evaluated = load_benchmark(args.dataset, args.split, args.data, title_only=args.title_only).head(args.eval_limit)
    train = train_split(args, evaluated)
    adapters = args.teacher_adapter or [None]

    reused = Path(args.teacher_records) if args.teacher_records else None
    if reused is not None:
        train_records = earlier_records(reused / "train.teacher.records.jsonl", train)
        print(f"teacher's records of {len(train_records)} train offers read from {reused}", flush=True)
    else:
        train_records = label_train(args, train, evaluated, adapters)
    write_records(out / "train.teacher.records.jsonl", train_records)
    if args.label_only:
        print(f"wrote {out / 'train.teacher.records.jsonl'}", flush=True)
        return 0
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

    teachers = []  # (records, seconds) of each adapter on the evaluated split
    for index, adapter in enumerate(adapters):
        name = f"{args.split}.teacher{'' if len(adapters) == 1 else f'-{index}'}.records.jsonl"
        earlier = reused / name if reused is not None else None
        if earlier is not None and earlier.is_file():
            teachers.append((earlier_records(earlier, evaluated), None))
        else:
            teachers.append(extract_benchmark(teacher_engine(args, evaluated, adapter), evaluated))
        write_records(out / name, teachers[-1][0])
    student_records, student_seconds = extract_benchmark(student, evaluated)
    write_records(out / f"{args.split}.student.records.jsonl", student_records)
    n = len(evaluated.documents)
    student_f1 = score(evaluated.gold, [r.to_dict() for r in student_records]).exact.micro.f1
    student_rate = n / max(student_seconds, 1e-9)
    print(f"{evaluated.name} {args.split}, {n} offers; student trained on {len(silver_data.documents)} silver texts")
    f1s, rates = [], []
    for index, (records, seconds) in enumerate(teachers):
        micro = score(evaluated.gold, [r.to_dict() for r in records]).exact.micro
        rate = n / max(seconds, 1e-9) if seconds is not None else None
        f1s.append(micro.f1)
        rates.append(rate)
        agreement = score(teacher_gold(evaluated, records), [r.to_dict() for r in student_records]).exact.micro
        label = "teacher" if len(teachers) == 1 else f"teacher {index} ({adapters[index]})"
        print(f"{label}: P {micro.precision:.2f} R {micro.recall:.2f} F1 {micro.f1:.2f} against gold, "
              + (f"{rate:.2f} products/s" if rate else "products/s not measured (records reused)"))
        print(f"student against the {label}'s records: P {agreement.precision:.2f} R {agreement.recall:.2f} "
              f"F1 {agreement.f1:.2f}")
    teacher_f1 = sum(f1s) / len(f1s)
    measured = [r for r in rates if r]
    teacher_rate = sum(measured) / len(measured) if measured else None
    if len(teachers) > 1:
        print(f"teacher: mean F1 {teacher_f1:.2f} of {len(teachers)} adapters"
              + (f", mean {teacher_rate:.2f} products/s" if teacher_rate else ""))
    print(f"student: F1 {student_f1:.2f} against gold, {student_rate:.2f} products/s")
    print(f"student/teacher: F1 ratio {student_f1 / teacher_f1 if teacher_f1 else 0:.2f}, products/s ratio "
          + (f"{student_rate / teacher_rate:.1f}" if teacher_rate else "not measured"))
    return 0


def write_folds(args: argparse.Namespace, out: Path) -> list[Path]:
    """Cross-fitting, step one: the train split's offers in N folds drawn with --seed, and for each
    fold i ``fold-<i>.train.jsonl`` holding every offer outside it, for the adapter that will label
    fold i. The lines are in the shots layout (text, record of first gold forms, schema file), with
    the schemas derived from the whole train split and written to ``<out>/schemas``: an adapter
    tuned on a fold must be tuned for the schemas (and ids) the benchmark extracts with, which a
    fold's own lines would derive differently (other example values, attributes only the other
    fold has)."""
    if args.write_folds < 2:
        raise ExtractorError("--write-folds needs at least 2 folds")
    examples = examples_of_target_scores(resolve_dataset(args.dataset, args.data) / "train.jsonl", args.title_only)
    (out / "schemas").mkdir(parents=True, exist_ok=True)
    files = {}
    for schema in {example.schema.id: example.schema for example in examples}.values():
        path = (out / "schemas" / (re.sub(r"[^\w.-]+", "_", schema.name) + ".schema.json")).resolve()
        path.write_text(json.dumps(schema.document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        files[schema.id] = str(path)
    lines = [json.dumps({"text": e.text, "record": e.record, "schema": files[e.schema.id]}, ensure_ascii=False)
             for e in examples]
    order = list(range(len(lines)))
    random.Random(args.seed).shuffle(order)
    paths = []
    for fold in range(args.write_folds):
        held = set(order[fold::args.write_folds])
        path = out / f"fold-{fold}.train.jsonl"
        path.write_text("".join(line + "\n" for i, line in enumerate(lines) if i not in held), encoding="utf-8")
        paths.append(path)
    return paths


def tuned_texts(adapter: str, title_only: bool) -> set[str]:
    """The offer texts of the training files ``adapter``'s manifest names (benchmark or shots
    layout), refused when the manifest is missing or a file is gone or changed since."""
    manifest = read_adapter_manifest(adapter)
    if manifest is None:
        raise ExtractorError(f"{adapter} has no extractor manifest: the texts it was tuned on are unknown")
    texts: set[str] = set()
    for entry in (manifest.get("training_data") or {}).get("files", []):
        path = Path(entry["path"])
        if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != entry.get("sha256"):
            raise ExtractorError(f"{adapter} was tuned on {path}, which is gone or has changed since")
        for index, row in enumerate(read_rows(path)):
            texts.add(row["text"] if isinstance(row.get("text"), str) else offer_text(row, index, title_only))
    return texts


def label_train(args: argparse.Namespace, train: Benchmark, evaluated: Benchmark,
                adapters: list[str | None]) -> list[Any]:
    """The teacher's records of the train offers. Several adapters: each offer is labelled by the
    first adapter not tuned on its text (refused when every one was)."""
    if len(adapters) == 1:
        records, seconds = extract_benchmark(teacher_engine(args, evaluated, adapters[0]), train)
        print(f"teacher labelled {len(records)} train offers in {seconds:.0f} s", flush=True)
        return records
    seen = [tuned_texts(str(adapter), args.title_only) for adapter in adapters]
    owner = []
    for document in train.documents:
        free = [i for i, texts in enumerate(seen) if document.text not in texts]
        if not free:
            raise ExtractorError(f"every --teacher-adapter was tuned on train offer {document.id}: "
                                 "give adapters tuned on complementary folds (--write-folds)")
        owner.append(free[0])
    by_id = {}
    for index, adapter in enumerate(adapters):
        keep = [j for j, o in enumerate(owner) if o == index]
        if not keep:
            continue
        part = replace(train, documents=[train.documents[j] for j in keep], gold=[train.gold[j] for j in keep])
        records, seconds = extract_benchmark(teacher_engine(args, evaluated, adapter), part)
        print(f"teacher {index} ({adapter}) labelled {len(records)} train offers in {seconds:.0f} s", flush=True)
        by_id.update((record.id, record) for record in records)
    return [by_id[document.id] for document in train.documents]


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
