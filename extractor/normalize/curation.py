"""Learning and curating vocabularies: build alias tables from raw -> canonical pairs, and cluster
the values a run left unmatched into proposed entries for a person to review.

Pairs files are JSONL in either of two shapes::

    {"attribute": "Color", "raw": "navy blu", "canonical": "Blue"}            (optional "category")
    {"attribute": "Color", "raw_values": {"Navy": [0]}, "normalized_values": {"Blue": [0]}}

In the second (the WDC-PAVE layout) raw and normalized values are tied by the ids in their lists;
a raw value whose ids touch several normalized values gives each a fractional vote."""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError, NormalizationError
from .vocab import VocabEntry, Vocabulary, match_key


def slug(name: str) -> str:
    """A file-name-safe form of an attribute (or category/attribute) name."""
    return re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-").lower() or "attribute"


def _read_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    from ..io import read_jsonl

    return read_jsonl(path, InputError)


def pair_votes(row: dict[str, Any]) -> list[tuple[str, str, float]]:
    """(raw, canonical, weight) votes of one pairs line, in either accepted shape."""
    if "raw" in row or "canonical" in row:
        raw, canonical = row.get("raw"), row.get("canonical")
        if not isinstance(raw, str) or not isinstance(canonical, str) or not canonical.strip():
            raise ValueError("'raw' and 'canonical' must be strings (canonical non-empty)")
        return [(raw, canonical.strip(), 1.0)]
    raws, normalized = row.get("raw_values"), row.get("normalized_values")
    if not isinstance(raws, dict) or not isinstance(normalized, dict):
        raise ValueError("needs 'raw' and 'canonical', or 'raw_values' and 'normalized_values' objects")
    votes = []
    for raw, ids in raws.items():
        targets = [c for c, cids in normalized.items() if set(ids or []) & set(cids or [])]
        if not targets and len(normalized) == 1:
            targets = list(normalized)
        for canonical in targets:
            if canonical.strip():
                votes.append((raw, canonical.strip(), 1.0 / len(targets)))
    return votes


@dataclass
class BuildReport:
    """What ``build_vocabularies`` learned for one vocabulary."""

    name: str
    votes: float = 0.0
    entries: int = 0
    aliases: int = 0
    heads: int = 0
    dropped: list[str] = field(default_factory=list)
    """Raw spellings left out, with why (too few votes, no clear majority, clash with a canonical)."""


def _group_name(row: dict[str, Any], by_category: bool) -> str | None:
    attribute = row.get("attribute")
    if not isinstance(attribute, str) or not attribute:
        return None
    category = row.get("category")
    return f"{category}/{attribute}" if by_category and isinstance(category, str) and category else attribute


def _heads(groups: dict[str, Counter[str]], winners: dict[str, str], taken: set[str], min_count: int,
           purity: float) -> dict[str, str]:
    """Single head words (the last word: ``ring`` of ``wedding ring``) that point to one canonical."""
    per_head: dict[str, Counter[str]] = defaultdict(Counter)
    for key, canonical in winners.items():
        tokens = key.split()
        if len(tokens) > 1 and not tokens[-1].isdigit():
            per_head[tokens[-1]][canonical] += sum(groups[key].values())
    out = {}
    for head, counts in per_head.items():
        canonical, best = counts.most_common(1)[0]
        if head not in taken and best >= min_count and best / sum(counts.values()) >= purity:
            out[head] = canonical
    return out


def build_vocabularies(paths: Iterable[Path], *, attributes: Iterable[str] = (), by_category: bool = False,
                       min_count: float = 1.0, min_share: float = 0.5, heads: bool = False,
                       head_min_count: float = 3.0, head_purity: float = 0.8
                       ) -> tuple[dict[str, Vocabulary], list[BuildReport]]:
    """Alias tables from raw -> canonical pairs, one vocabulary per attribute (or category/attribute).

    Raw spellings are grouped by their case/punctuation/plural-insensitive key; each group goes to
    the canonical with most votes if it has at least ``min_count`` votes and ``min_share`` of them.
    With ``heads``, a head word shared by enough aliases of one canonical becomes an alias too, so
    that ``contains`` matching generalises (``fountain pen`` -> ``pen``)."""
    wanted = set(attributes)
    votes: dict[str, dict[str, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
    spellings: dict[str, dict[str, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
    canon_counts: dict[str, Counter[str]] = defaultdict(Counter)
    for path in paths:
        for number, row in _read_jsonl(path):
            name = _group_name(row, by_category)
            if name is None:
                raise InputError(f"{path}, line {number}: needs an 'attribute' string")
            if wanted and row["attribute"] not in wanted:
                continue
            try:
                pairs = pair_votes(row)
            except ValueError as exc:
                raise InputError(f"{path}, line {number}: {exc}") from exc
            for raw, canonical, weight in pairs:
                canon_counts[name][canonical] += weight
                key = match_key(raw)
                if key:
                    votes[name][key][canonical] += weight
                    spellings[name][key][raw.strip()] += 1
    vocabularies, reports = {}, []
    for name in sorted(canon_counts):
        report = BuildReport(name)
        report.votes = round(sum(canon_counts[name].values()), 2)
        # One spelling per canonical key: the most frequent one wins ("COMPAQ" vs "Compaq").
        canonical_of_key: dict[str, str] = {}
        for canonical, _ in canon_counts[name].most_common():
            canonical_of_key.setdefault(match_key(canonical), canonical)
        entries: dict[str, list[str]] = {c: [] for c in canonical_of_key.values()}
        winners: dict[str, str] = {}
        for key, counter in votes[name].items():
            ranked = counter.most_common(2)
            canonical, best = ranked[0]
            canonical = canonical_of_key.get(match_key(canonical), canonical)
            total = sum(counter.values())
            forms = sorted(spellings[name][key], key=lambda s: -spellings[name][key][s])
            tie = len(ranked) > 1 and ranked[1][1] == best
            if best < min_count or best / total < min_share or tie:
                report.dropped.append(f"{forms[0]!r}: {dict(counter)} has no clear majority")
                continue
            owner = canonical_of_key.get(key)
            if owner is not None and owner != canonical:
                report.dropped.append(f"{forms[0]!r}: voted {canonical!r} but spells canonical {owner!r}")
                continue
            winners[key] = canonical
            entries[canonical].extend(f for f in forms if f != canonical)
        extra = _heads(votes[name], winners, set(votes[name]) | set(canonical_of_key), head_min_count,
                       head_purity) if heads else {}
        for head, canonical in sorted(extra.items()):
            entries[canonical].append(head)
        report.heads = len(extra)
        built = [VocabEntry(c, tuple(dict.fromkeys(a))) for c, a in entries.items()]
        try:
            vocabularies[name] = Vocabulary(name, built, source=f"built:{name}",
                                            description=f"Built by extractor vocab build from {report.votes} votes.")
        except NormalizationError as exc:  # a learned table that contradicts itself is a bug here
            raise NormalizationError(f"building {name!r}: {exc}") from exc
        report.entries = len(built)
        report.aliases = sum(len(e.aliases) for e in built)
        reports.append(report)
    return vocabularies, reports


def write_vocabularies(vocabularies: dict[str, Vocabulary], folder: Path) -> list[Path]:
    """Write each vocabulary as ``<slug>.json`` in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, vocab in vocabularies.items():
        path = folder / f"{slug(name)}.json"
        path.write_text(json.dumps(vocab.to_document(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(path)
    return written


def _unmatched(records: Path, attributes: set[str]) -> dict[str, list[tuple[str, str | None]]]:
    found: dict[str, list[tuple[str, str | None]]] = defaultdict(list)
    for _, record in _read_jsonl(records):
        for name, value in (record.get("normalized") or {}).items():
            if attributes and name not in attributes:
                continue
            for item in value if isinstance(value, list) else [value]:
                # A catch-all guess (match.otherwise) is as much in need of an entry as a miss.
                if isinstance(item, dict) and (item.get("matched") is False or item.get("method") == "otherwise"):
                    near = item.get("nearest") if item.get("matched") is False else item.get("value")
                    for raw in [item.get("raw")] + list(item.get("merged") or []):
                        if isinstance(raw, str) and raw.strip():
                            found[name].append((raw.strip(), near))
    return found


def suggest_entries(records: Path, *, attributes: Iterable[str] = (), min_count: int = 2,
                    threshold: float = 85.0) -> dict[str, dict[str, Any]]:
    """Cluster the unmatched values (and the ``otherwise`` guesses) in a normalized records file
    into proposed vocabulary entries.

    Values with the same case/punctuation-insensitive key, or a token_sort_ratio of at least
    ``threshold`` to a cluster's leader, join that cluster; the most frequent spelling is proposed
    as the canonical. Clusters seen fewer than ``min_count`` times are left out. The result maps
    attribute -> a vocabulary document whose entries carry ``_count`` and ``_nearest`` (the closest
    existing canonical) for the reviewer; loaders ignore ``_`` keys."""
    from rapidfuzz import fuzz, utils

    out = {}
    for name, values in sorted(_unmatched(records, set(attributes)).items()):
        counts = Counter(v for v, _ in values)
        nearest: dict[str, Counter[str]] = defaultdict(Counter)
        for value, near in values:
            if near:
                nearest[value][near] += 1
        clusters: list[dict[str, Any]] = []
        by_key: dict[str, dict[str, Any]] = {}
        for value, count in counts.most_common():
            key = match_key(value)
            cluster = by_key.get(key)
            if cluster is None:
                leader = utils.default_process(value)
                cluster = next((c for c in clusters if fuzz.token_sort_ratio(leader, c["leader"]) >= threshold), None)
            if cluster is None:
                cluster = {"leader": utils.default_process(value), "forms": Counter(), "nearest": Counter()}
                clusters.append(cluster)
            by_key[key] = cluster
            cluster["forms"][value] += count
            cluster["nearest"].update(nearest[value])
        entries = []
        for cluster in clusters:
            total = sum(cluster["forms"].values())
            if total < min_count:
                continue
            forms = [f for f, _ in cluster["forms"].most_common()]
            entry: dict[str, Any] = {"canonical": forms[0], "aliases": forms[1:], "_count": total}
            if cluster["nearest"]:
                entry["_nearest"] = cluster["nearest"].most_common(1)[0][0]
            entries.append(entry)
        if entries:
            out[name] = {"name": slug(name), "_review": "Proposed by extractor vocab suggest from unmatched "
                         "values; edit, then merge into a vocabulary.", "entries": entries}
    return out
