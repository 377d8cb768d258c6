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
import re
import sys
import tempfile
import time
import zlib
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from extractor import (Normalizer, NormalizeSpec, VocabEntry, Vocabulary, build_vocabularies, load_vocab, match_key,
                       parse_normalize_spec, write_vocabularies)

GPT4 = {"Name Expansion": 98.3, "Generalisation": 88.6, "Unit of Measurement Conversion": 83.5, "Wrangling": 95.2}
"""GPT-4's figures per normalization family, as quoted in the issue (paper: WDC-PAVE)."""

GENERALISATION_OPS = {"Product Type Generalisation", "Color Generalization", "Name Generalisation"}
_LABELS = {"GB": "Gigabytes", "TB": "Terabytes", "MB": "Megabytes", "KB": "Kilobytes", "W": "Watts"}
_LENGTH = {"unit": {"dimension": "length", "to": "cm", "default": "in", "precision": 1, "range": "max",
                    "format": "number"}}
# Abbreviations the Generation instructions and train pairs expand (G8, Gen9, DDR4, AIT-3, DLT1, LTO2).
_GENERATIONS = {"Generation": ["G", "Gen"], "Double Data Rate": ["DDR"], "Advanced Intelligent Tape": ["AIT"],
                "Digital Linear Tape": ["DLT"], "Linear Tape-Open": ["LTO"]}


def rules(category: str, attribute: str, op: str, vocab: dict[str, str], pooled: list[str],
          canonicals: set[str], common: str | None = None) -> dict[str, Any] | None:
    """The x-normalize block for one benchmark attribute (None: leave it as it is); ``pooled``
    names the learned tables of other attributes with the same canonical set (Color, Color(s));
    ``common`` is the canonical the train pairs give most often."""
    own = f"{category}/{attribute}"
    learned = [vocab[k] for k in [own, *pooled, f"described:{own}", f"bridged:{own}"] if k in vocab]
    if op == "Delete Marks":
        return {"ops": ["trim", "delete_marks"]}
    if op == "To Uppercase":
        return {"ops": ["trim", "upper"]}
    if op == "Substring Extraction":
        return {"ops": ["trim", {"delete": " -"}, {"slice": [1, 6]}]}
    if op == "Name Expansion" and attribute == "Manufacturer":
        return {"ops": ["trim", {"expand": "brands"}]}
    if op == "Name Expansion":
        return {"ops": ["trim", {"expand": vocab["generations"]}]}
    if op == "Unit Expansion":
        unit: dict[str, Any] = {"dimension": ["information", "power"], "format": "name", "labels": _LABELS,
                                "dims": "product", "aliases": {"G": "GB", "K": "KB"}}
        if attribute == "Cache":
            unit.update(dimension="information", default="MB")
        else:
            unit.update(several="each")
        return {"unit": unit}
    if op == "Numeric Standardization":
        if attribute == "Ports":
            return {"number": {"several": "sum", "words": {"DP": 2, "SP": 1}}}
        if attribute == "Processor Core":
            return {"number": {"words": {"QC": 4}}}
        if attribute == "Rotational Speed":
            return {"number": {"thousands_suffix": True}}
        return {"number": True}
    if op == "Unit Conversion" and attribute == "Paper Weight":
        return {"unit": {"dimension": "mass", "to": "kg", "precision": 1, "format": "number",
                         "factors": {"lb": "0.453 kg"}, "aliases": {"g/m2": "g", "gsm": "g"}}}
    if op == "Unit Conversion" and attribute == "Size/Weight":
        return {"unit": {"dimension": "mass", "to": "g", "precision": 0, "format": "number"}}
    if op == "Unit Conversion":
        return _LENGTH
    if op in GENERALISATION_OPS and learned:
        match: dict[str, Any] = {"contains": "last", "cutoff": 85, "margin": 5}
        if op == "Color Generalization":
            # "more than two colours: Assorted/Others", when the attribute has that value
            match.update(contains="first")
            if "Assorted/Others" in canonicals:
                match.update(several={"at_least": 3, "value": "Assorted/Others"})
        if op == "Product Type Generalisation":
            match.update(words=True)  # the taxonomy is closed: any category beats the raw words
            if common:  # ... and the category train gives most often beats it too, for unknown words
                match.update(otherwise=common)
        return {"vocab": learned, "match": match}
    return None


# --- knowledge from descriptions.jsonl -----------------------------------------------------------

_STOP = set("""a an the all any both various other others related more specific similar items products
their its""".split())
_LISTS = re.compile(r"\b(?:including|like|such as|e\.g\.)\s+(.*?)(?:\.(?:\s|$)|$)", re.IGNORECASE)


def bridge(shipped: Vocabulary, canonicals: set[str]) -> Vocabulary | None:
    """A shipped vocabulary re-pointed at a benchmark's canonical set: each shipped entry whose
    name or alias spells a canonical (or a part of one: "gray" of "Gray and Metallic") lends that
    canonical its aliases (cyan -> Blue). Entries that fit none or several are left out."""
    targets: dict[str, set[str]] = defaultdict(set)
    for canonical in canonicals:
        for part in [canonical, *re.split(r"[,/()]|\band\b", canonical)]:
            if match_key(part):
                targets[match_key(part)].add(canonical)
    entries = []
    for entry in shipped.entries:
        hits = set().union(*(targets.get(match_key(s), set()) for s in (entry.canonical, *entry.aliases)))
        if len(hits) == 1:
            entries.append(VocabEntry(hits.pop(), (entry.canonical, *entry.aliases)))
    return Vocabulary(f"bridged:{shipped.name}", entries, strict=False) if entries else None


def description_aliases(descriptions: Path, canonicals: dict[str, set[str]]) -> dict[str, Vocabulary]:
    """Per category/attribute, the examples each canonical's bullet lists after "including",
    "like" or "such as" ("* Blue: ... including ice blue, navy, sky blue ...") as aliases; a phrase
    listed under two canonicals is dropped."""
    out = {}
    for line in descriptions.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        name = f"{row['Category']}/{row['Attribute']}"
        text = row.get("Normalization_Function_Description") or ""
        known = {match_key(c): c for c in canonicals.get(name, ())}
        # The instruction's list of allowed values adds canonicals the train pairs never showed.
        for listed in re.findall(r"^\s*-\s*(.+?)\s*$", row.get("Normalization_instruction") or "", flags=re.MULTILINE):
            known.setdefault(match_key(listed), listed)
        phrases: dict[str, dict[str, str]] = defaultdict(dict)  # key -> canonical -> spelling
        # Each part of a taxonomy name is an example of it ("Stickers and Badges": stickers, badges).
        for canonical in set(known.values()):
            for part in re.split(r"[,/()]|\band\b", canonical):
                words = [w for w in part.strip().split() if w.lower() not in _STOP]
                key = match_key(" ".join(words))
                if words and key and key not in known:
                    phrases[key].setdefault(canonical, " ".join(words))
        for bullet in re.findall(r"^\s*[*-]\s*([^:\n]+):(.*)$", text, flags=re.MULTILINE):
            canonical = known.get(match_key(bullet[0]))
            if canonical is None:
                continue
            for listing in _LISTS.findall(bullet[1]):
                for part in re.split(r"[,;]|\b(?:and|or)\b", listing):
                    words = [w for w in part.strip().split() if w.lower() not in _STOP]
                    key = match_key(" ".join(words))
                    if 1 <= len(words) <= 3 and key and key not in known:
                        phrases[key].setdefault(canonical, " ".join(words))
        entries: dict[str, list[str]] = defaultdict(list)
        for owners in phrases.values():
            if len(owners) == 1:
                (canonical, spelling), = owners.items()
                entries[canonical].append(spelling)
        for canonical in known.values():
            entries.setdefault(canonical, [])
        if entries and row.get("Normalization_params") not in (None, "None"):
            out[f"described:{name}"] = Vocabulary(f"described:{name}", [VocabEntry(c, tuple(a)) for c, a in entries.items()])
    return out


# --- data ------------------------------------------------------------------------------------------

def read_pairs(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def dev_split(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Four fifths to learn from, one fifth to score, split by offer id."""
    held = [r for r in rows if zlib.crc32(str(r["id"]).encode()) % 5 == 0]
    return [r for r in rows if zlib.crc32(str(r["id"]).encode()) % 5 != 0], held


def build_normalizers(train: list[dict[str, Any]], descriptions: Path, folder: Path
                      ) -> tuple[dict[tuple[str, str], Normalizer], dict[tuple[str, str], str]]:
    """One single-attribute Normalizer per (category, attribute) of the train pairs, and the op of each."""
    pairs_file = folder / "train_pairs.jsonl"
    general = [r for r in train if r["normalization_op"] in GENERALISATION_OPS]
    pairs_file.write_text("".join(json.dumps(r) + "\n" for r in general), encoding="utf-8")
    learned, _ = build_vocabularies([pairs_file], by_category=True, heads=True)
    canonicals = {name: {e.canonical for e in v.entries} for name, v in learned.items()}
    vocabularies = {**learned, **description_aliases(descriptions, canonicals)}
    colors = load_vocab("colors")
    for r in general:
        name = f"{r['category']}/{r['attribute']}"
        if r["normalization_op"] == "Color Generalization" and f"bridged:{name}" not in vocabularies:
            bridged = bridge(colors, canonicals.get(name, set()))
            if bridged is not None:
                vocabularies[f"bridged:{name}"] = bridged
    vocabularies["generations"] = Vocabulary("generations", [VocabEntry(c, tuple(a)) for c, a in _GENERATIONS.items()])
    paths = {name: str(path) for name, path in zip(vocabularies, write_vocabularies(vocabularies, folder))}
    ops = {(r["category"], r["attribute"]): r["normalization_op"] for r in train}
    given: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for r in general:
        given[(r["category"], r["attribute"])].update(list(r["normalized_values"]))
    normalizers = {}
    for (category, attribute), op in sorted(ops.items()):
        own = canonicals.get(f"{category}/{attribute}", set())
        pooled = [name for name, other in canonicals.items() if name != f"{category}/{attribute}"
                  and own and len(own & other) / len(own | other) >= 0.8]
        common = given[(category, attribute)].most_common(1)[0][0] if given[(category, attribute)] else None
        block = rules(category, attribute, op, paths, pooled, own, common)
        specs: dict[str, NormalizeSpec] = {attribute: parse_normalize_spec(block, attribute)} if block else {}
        normalizers[(category, attribute)] = Normalizer(specs)
    return normalizers, ops


def as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


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
        normalizers, _ = build_normalizers(train, descriptions, Path(tmp))
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
