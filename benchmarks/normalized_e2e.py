"""Extraction + normalization end to end on WDC-PAVE: normalize the values of an extraction run
(records written by benchmarks/quality.py on wdc-pave) with the per-attribute rules that
`extractor.normalizers_from_pairs` learns from the train pairs (as
benchmarks/normalization.py does), and score them against the canonical
gold of `wdc-pave/normalized/`.

    .venv/bin/python benchmarks/quality.py --dataset wdc-pave --k 3 --out runs/quality/wdc-pave-validation-k3.jsonl
    .venv/bin/python benchmarks/normalized_e2e.py runs/quality/wdc-pave-validation-k3.jsonl

Both the raw records and the normalized ones are scored, so the table shows what normalization
adds. Nothing of the validation pairs is used: rules and tables come from the train pairs only."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from extractor import Normalizer, format_report, load_gold, normalizers_from_pairs, read_rows, score


def as_text(value: Any) -> str:
    """A canonical value as the gold writes it (text as is, anything else as JSON)."""
    return value if isinstance(value, str) else json.dumps(value)


def normalize_records(records: list[dict[str, Any]], categories: dict[str, str],
                      normalizers: dict[tuple[str, str], Normalizer]) -> tuple[list[dict[str, Any]], int]:
    """Records whose attribute values are replaced by canonical ones (as text, like the gold);
    values no rule reads stay raw. Returns the records and how many values changed."""
    changed = 0
    out = []
    for record in records:
        category = categories.get(str(record.get("id")), "")
        attributes = {}
        for name, value in (record.get("attributes") or {}).items():
            normalizer = normalizers.get((category, name))
            if isinstance(value, str) and normalizer is not None:
                item = normalizer.normalize_value(name, value)
                if item is not None and item.matched:
                    new = as_text(item.value)
                    changed += new != value
                    value = new
            attributes[name] = value
        out.append({**record, "attributes": attributes})
    return out, changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("records", type=Path, help="extraction records of one WDC-PAVE split (--split)")
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1] / ".." / "shared" / "data",
                        help="data root holding wdc-pave/ (default: ../shared/data)")
    parser.add_argument("--split", default="validation", help="split the records are of (default: validation)")
    parser.add_argument("--out", type=Path, help="write the normalized records here")
    args = parser.parse_args(argv)
    wdc = args.data / "wdc-pave"
    gold_rows = read_rows(wdc / "normalized" / f"{args.split}.jsonl")
    categories = {str(row["id"]): row["category"] for row in gold_rows}
    records = read_rows(args.records)
    with tempfile.TemporaryDirectory() as tmp:
        normalizers, _ = normalizers_from_pairs(read_rows(wdc / "normalization_pairs_train.jsonl"),
                                                wdc / "descriptions.jsonl", Path(tmp))
        start = time.perf_counter()
        normalized, changed = normalize_records(records, categories, normalizers)
        seconds = time.perf_counter() - start
    if args.out:
        args.out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in normalized), encoding="utf-8")
    gold = load_gold(gold_rows)
    raw_eval, norm_eval = score(gold, records), score(gold, normalized)
    print(f"{len(records)} records; {changed} values normalized in {seconds * 1000:.1f} ms\n")
    print("raw extraction vs canonical gold:")
    print(format_report(raw_eval).split("\n\n")[1])  # the micro table
    print("\nextraction + normalization vs canonical gold:")
    print(format_report(norm_eval))
    return 0


if __name__ == "__main__":
    sys.exit(main())
