"""Known-value snapping: move the edges of extracted values onto values the train split's gold
holds for the same category and attribute, then score before and after.

Two moves, each only for a value the train gold never lists:
- widen (every attribute): the value lies inside a known value that the offer's text holds at a
  word boundary: take the known value ("Dolce" → "Nescafe Dolce Gusto");
- cut (the attributes named by --cut; Brand by default): a known value lies inside the value: take
  it ("Oral-B Pro 1000" → "Oral-B").
Among several known values, the most frequent in train wins, then the longest. Which moves apply
where was chosen on two halves of the OA-Mine train split (docs/notes/2026-11-30-tagger-augmentation-and-endings.md,
"Known-value snapping"), never on the scored split. Nulls are never filled.

    python benchmarks/lexicon.py --train ../shared/data/oa-mine/train.jsonl \\
        --gold ../shared/data/oa-mine/validation.jsonl merged.records.jsonl --out snapped.records.jsonl

The records must be the gold file's offers in the same order (as benchmarks/merge.py writes them)."""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path

from extractor import (GOLD_ABSENT, ConfigError, ExtractorError, GoldOffer, Record, load_gold, read_rows,
                       read_records, score, write_records)

Lexicon = dict[tuple[str, str], Counter[str]]


def build_lexicon(train: list[GoldOffer]) -> Lexicon:
    """(category, attribute) → how many train offers list each value (every listed surface form)."""
    lexicon: Lexicon = {}
    for offer in train:
        for attribute, forms in offer.targets.items():
            for form in forms:
                if form and form != GOLD_ABSENT:
                    lexicon.setdefault((offer.category, attribute), Counter())[form] += 1
    return lexicon


def _holds(outer: str, inner: str) -> bool:
    return re.search(r"(?<!\w)" + re.escape(inner) + r"(?!\w)", outer) is not None


def snap_value(value: str, text: str, known: Counter[str], cut: bool) -> str:
    """``value`` moved onto a known value as the module docstring says, or unchanged."""
    if value in known:
        return value
    candidates = [k for k in known if k != value and _holds(k, value) and _holds(text, k)]
    if not candidates and cut:
        candidates = [k for k in known if k != value and _holds(value, k) and _holds(text, k)]
    return max(candidates, key=lambda k: (known[k], len(k))) if candidates else value


def snap_record(record: Record, text: str, category: str, lexicon: Lexicon, cut: set[str]) -> Record:
    attributes, spans = dict(record.attributes), dict(record.spans or {})
    for attribute, value in record.attributes.items():
        known = lexicon.get((category, attribute))
        if not isinstance(value, str) or not known:
            continue
        snapped = snap_value(value, text, known, attribute in cut)
        if snapped != value:
            attributes[attribute] = snapped
            start = text.find(snapped)
            spans[attribute] = [start, start + len(snapped)] if start >= 0 else None
    return replace(record, attributes=attributes, spans=spans if record.spans is not None else None)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--train", required=True, type=Path, help="train split whose gold values are the known ones")
    p.add_argument("--gold", required=True, type=Path, help="the scored split (its texts, categories and gold)")
    p.add_argument("records", type=Path, help="records of the gold file's offers, in its order")
    p.add_argument("--cut", action="append", default=None, help="attribute that may be cut (repeatable; default Brand)")
    p.add_argument("--out", type=Path, default=None, help="write the snapped records here")
    args = p.parse_args(argv)
    cut = set(args.cut or ["Brand"])
    try:
        lexicon = build_lexicon(load_gold(args.train))
        rows = read_rows(args.gold)
        gold, records = load_gold(rows), read_records(args.records)
        if [r.id for r in records] != [g.id for g in gold]:
            raise ConfigError(f"{args.records}: its records are not the offers of {args.gold} in the same order")
        snapped = [snap_record(r, row.get("input", ""), offer.category, lexicon, cut)
                   for r, row, offer in zip(records, rows, gold)]
        before = score(gold, [r.to_dict() for r in records]).exact.micro
        after = score(gold, [r.to_dict() for r in snapped]).exact.micro
    except ExtractorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    changed = sum(a.attributes != b.attributes for a, b in zip(records, snapped))
    print(f"{before.f1:6.2f}  {args.records} (P {before.precision:.2f}, R {before.recall:.2f})")
    print(f"{after.f1:6.2f}  snapped (P {after.precision:.2f}, R {after.recall:.2f}; {changed} records changed, "
          f"VC {before.VC} -> {after.VC}, VW {before.VW} -> {after.VW})")
    if args.out:
        write_records(args.out, snapped)
        print(f"snapped records written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
