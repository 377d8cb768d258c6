"""Normalization on the WDC-PAVE raw -> normalized pairs: accuracy per operation and family, beside
GPT-4's figures, and the normalizer's speed.

    python benchmarks/normalization.py /path/to/wdc-pave/normalization_pairs_validation.jsonl

Everything the normalizer knows comes from the train pairs and descriptions.jsonl (found next to
the scored file unless --train/--descriptions say otherwise): alias tables are learned with
``extractor.normalize.curation.build_vocabularies`` (the code behind ``extractor vocab build``),
descriptions.jsonl contributes the example lists of each category, and the per-attribute rules
below (RULES) were written from the train pairs and the descriptions' instructions. ``--dev``
scores a held-out fifth of train instead (rules and tables from the other four fifths).

A pair is one attribute of one offer: several raw spellings and the normalized value(s) the
annotators wrote. Pair accuracy: the set of our normalized values equals the gold set. Value
accuracy: each raw value's normalization is among the gold values sharing its text ids."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import zlib
from collections import defaultdict
from pathlib import Path
from typing import Any

from extractor import Normalizer, normalizers_from_pairs

GPT4 = {"Name Expansion": 98.3, "Generalisation": 88.6, "Unit of Measurement Conversion": 83.5, "Wrangling": 95.2}
"""GPT-4's figures per normalization family, as quoted in the issue (paper: WDC-PAVE)."""

# --- data ------------------------------------------------------------------------------------------

def read_pairs(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def dev_split(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Four fifths to learn from, one fifth to score, split by offer id."""
    held = [r for r in rows if zlib.crc32(str(r["id"]).encode()) % 5 == 0]
    return [r for r in rows if zlib.crc32(str(r["id"]).encode()) % 5 != 0], held


def evaluate(rows: list[dict[str, Any]], normalizers: dict[tuple[str, str], Normalizer], show_errors: int
             ) -> dict[str, dict[str, list[int]]]:
    """Per op and per family: [pairs, pairs right, values, values right]."""
    tally: dict[str, dict[str, list[int]]] = {"op": defaultdict(lambda: [0, 0, 0, 0]),
                                              "family": defaultdict(lambda: [0, 0, 0, 0])}
    errors: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        normalizer = normalizers.get((row["category"], row["attribute"])) or Normalizer({})
        gold = row["normalized_values"]
        predicted, value_hits = set(), 0
        for raw, ids in row["raw_values"].items():
            item = normalizer.normalize_value(row["attribute"], raw)
            text = as_text(item.value) if item is not None else raw
            predicted.add(text)
            aligned = [g for g, gids in gold.items() if set(ids) & set(gids)] or list(gold)
            value_hits += text in aligned
        pair_ok = predicted == set(gold)
        for kind in ("op", "family"):
            t = tally[kind][row[f"normalization_{kind}"]]
            t[0] += 1
            t[1] += pair_ok
            t[2] += len(row["raw_values"])
            t[3] += value_hits
        if not pair_ok and show_errors and len(errors[row["normalization_op"]]) < show_errors:
            errors[row["normalization_op"]].append(f"{row['attribute']}: {list(row['raw_values'])} -> "
                                                   f"{sorted(predicted)} gold {sorted(gold)}")
    for op, lines in sorted(errors.items()):
        print(f"\n# errors, {op}", file=sys.stderr)
        for line in lines:
            print("  " + line, file=sys.stderr)
    return tally


def speed(rows: list[dict[str, Any]], normalizers: dict[tuple[str, str], Normalizer], repeat: int) -> tuple[int, float]:
    work = [(normalizers[(r["category"], r["attribute"])], r["attribute"], raw)
            for r in rows if (r["category"], r["attribute"]) in normalizers for raw in r["raw_values"]]
    for normalizer, attribute, raw in work:  # warm up: regexes, pint, fuzzy choice lists
        normalizer.normalize_value(attribute, raw)
    start = time.perf_counter()
    for _ in range(repeat):
        for normalizer, attribute, raw in work:
            normalizer.normalize_value(attribute, raw)
    elapsed = time.perf_counter() - start
    return len(work) * repeat, elapsed


def _pct(right: int, total: int) -> str:
    return f"{100.0 * right / total:5.1f}" if total else "   - "


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path, help="pairs JSONL to score (normalization_pairs_validation.jsonl)")
    parser.add_argument("--train", type=Path, help="train pairs (default: normalization_pairs_train.jsonl beside DATA)")
    parser.add_argument("--descriptions", type=Path, help="descriptions.jsonl (default: beside DATA)")
    parser.add_argument("--dev", action="store_true", help="score a held-out fifth of train instead of DATA")
    parser.add_argument("--errors", type=int, default=0, help="print up to N wrong pairs per op (stderr)")
    parser.add_argument("--repeat", type=int, default=20, help="passes over the values for the speed figure")
    args = parser.parse_args(argv)
    train_path = args.train or args.data.parent / "normalization_pairs_train.jsonl"
    descriptions = args.descriptions or args.data.parent / "descriptions.jsonl"
    train = read_pairs(train_path)
    rows = read_pairs(args.data)
    if args.dev:
        train, rows = dev_split(train)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        normalizers, _ = normalizers_from_pairs(train, descriptions, Path(tmp))
        build_s = time.perf_counter() - t0
        tally = evaluate(rows, normalizers, args.errors)
        values, elapsed = speed(rows, normalizers, args.repeat)
    scored = "held-out fifth of train (--dev)" if args.dev else str(args.data)
    print(f"WDC-PAVE normalization pairs: {scored}; {len(rows)} pairs; rules from {len(train)} train pairs\n")
    print(f"{'family':<32} {'pairs':>5} {'pair acc':>8} {'value acc':>9} {'GPT-4':>6}")
    for family, t in sorted(tally["family"].items()):
        print(f"{family:<32} {t[0]:>5} {_pct(t[1], t[0]):>8} {_pct(t[3], t[2]):>9} {GPT4.get(family, '-'):>6}")
    totals = [sum(t[i] for t in tally["family"].values()) for i in range(4)]
    print(f"{'overall (micro)':<32} {totals[0]:>5} {_pct(totals[1], totals[0]):>8} {_pct(totals[3], totals[2]):>9}")
    print(f"\n{'operation':<32} {'pairs':>5} {'pair acc':>8} {'value acc':>9}")
    for op, t in sorted(tally["op"].items()):
        print(f"{op:<32} {t[0]:>5} {_pct(t[1], t[0]):>8} {_pct(t[3], t[2]):>9}")
    print(f"\nspeed: {values} values in {elapsed:.3f} s = {values / elapsed:,.0f} values/s "
          f"({1e6 * elapsed / values:.1f} µs/value, one CPU thread); building rules and tables took {build_s:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
