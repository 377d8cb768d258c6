"""Normalization rules learned from WDC-PAVE's normalization pairs: one single-attribute
:class:`Normalizer` per (category, attribute) of the train pairs, with vocabularies learned from the
pairs (and the categories' descriptions) written to a folder. ``benchmarks/normalization.py`` scores
them on the pairs, ``benchmarks/normalized_e2e.py`` on extraction records."""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from .curation import build_vocabularies, write_vocabularies
from .normalizer import Normalizer
from .spec import NormalizeSpec
from .spec import parse_spec as parse_normalize_spec
from .vocab import VocabEntry, Vocabulary, load_vocab, match_key

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



# --- the normalizers ---------------------------------------------------------------------------------

def normalizers_from_pairs(train: list[dict[str, Any]], descriptions: Path, folder: Path
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
