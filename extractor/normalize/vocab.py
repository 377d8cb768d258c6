"""Vocabularies: canonical values with aliases (and optional properties), and matching onto them.

A vocabulary file is JSON::

    {"name": "colors", "description": "...",
     "entries": [{"canonical": "Blue", "aliases": ["navy", "sky blue"], "properties": {"hex": "#0000FF"}}]}

Keys starting with ``_`` (in the file or an entry) are comments for reviewers and are ignored.
Matching order: exact canonical -> alias -> case/punctuation(/plural)-insensitive key -> contains
(an alias as whole words inside the value, when asked) -> rapidfuzz with an explicit scorer and
processor, a cutoff and a margin over the best *other* canonical -> a vote of the value's words over
the spellings' words (when asked) -> unmatched. An empty value never matches."""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..errors import NormalizationError
from ..resources import vocab_dir
from .spec import MatchSpec

_SEPARATORS = re.compile(r"[\W_]+")
# Words that say nothing about which canonical a value means ("Racks and Fixtures").
_FUNCTION_WORDS = frozenset("a an and or of the for with in on to by".split())


def _fold_token(token: str) -> str:
    if len(token) > 3 and not token.isdigit():
        if token.endswith("ies"):
            return token[:-3] + "y"
        if token.endswith("s") and not token.endswith(("ss", "us", "is")):
            return token[:-1]
    return token


@lru_cache(maxsize=65536)
def match_key(text: str, fold_plurals: bool = True) -> str:
    """Case-, accent- and punctuation-insensitive form of ``text``: ``Navy-Blue!`` -> ``navy blue``."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    tokens = _SEPARATORS.sub(" ", plain).split()
    if fold_plurals:
        tokens = [_fold_token(t) for t in tokens]
    return " ".join(tokens)


@dataclass(frozen=True)
class VocabEntry:
    """One canonical value."""

    canonical: str
    aliases: tuple[str, ...] = ()
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class VocabMatch:
    """The outcome of matching one value: ``entry`` is None when unmatched."""

    entry: VocabEntry | None
    method: str
    """exact, alias, casefold, contains, fuzzy, words, or unmatched."""
    score: float
    """1.0 for exact/alias/casefold; the share of the value covered for contains; fuzzy score / 100;
    the winner's share of the votes for words;
    for unmatched, the best fuzzy score seen (0 when none), which curation uses."""
    nearest: str | None = None
    """For unmatched values: the closest canonical seen, if any."""


def _check_entry(raw: Any, i: int, where: str) -> VocabEntry:
    if not isinstance(raw, dict):
        raise NormalizationError(f"{where}: entry {i} must be an object")
    for key in raw:
        if key not in ("canonical", "aliases", "properties") and not key.startswith("_"):
            raise NormalizationError(f"{where}: entry {i} has unknown key {key!r} "
                                     "(allowed: canonical, aliases, properties, or _comments)")
    canonical = raw.get("canonical")
    if not isinstance(canonical, str) or not canonical.strip():
        raise NormalizationError(f"{where}: entry {i} has an empty or missing 'canonical'")
    if canonical != canonical.strip():
        raise NormalizationError(f"{where}: canonical {canonical!r} has leading or trailing spaces")
    aliases = raw.get("aliases", [])
    if not isinstance(aliases, list) or not all(isinstance(a, str) and a.strip() for a in aliases):
        raise NormalizationError(f"{where}: aliases of {canonical!r} must be a list of non-empty strings")
    properties = raw.get("properties", {})
    if not isinstance(properties, dict):
        raise NormalizationError(f"{where}: properties of {canonical!r} must be an object")
    return VocabEntry(canonical, tuple(a.strip() for a in aliases), dict(properties))


class Vocabulary:
    """A checked vocabulary with its look-up tables."""

    def __init__(self, name: str, entries: list[VocabEntry], *, source: str | None = None,
                 description: str = "", strict: bool = True) -> None:
        """Index ``entries``; with ``strict`` an alias claimed by two canonicals is an error,
        otherwise the earlier entry keeps it (used when merging vocabularies by precedence)."""
        self.name = name
        self.source = source or name
        self.description = description
        self.entries: list[VocabEntry] = []
        self._canonical: dict[str, VocabEntry] = {}
        self._alias: dict[str, VocabEntry] = {}
        by_name: dict[str, VocabEntry] = {}
        for entry in entries:
            if entry.canonical in by_name:
                if strict:
                    raise NormalizationError(f"vocabulary {self.source}: canonical {entry.canonical!r} is listed twice")
                old = by_name[entry.canonical]
                entry = VocabEntry(old.canonical, old.aliases + tuple(a for a in entry.aliases if a not in old.aliases),
                                   {**entry.properties, **old.properties})
            by_name[entry.canonical] = entry
        for entry in by_name.values():
            self.entries.append(entry)
            self._canonical[entry.canonical] = entry
        for entry in self.entries:
            seen: set[str] = set()
            for alias in entry.aliases:
                if alias in seen and strict:
                    raise NormalizationError(f"vocabulary {self.source}: alias {alias!r} is listed twice for "
                                             f"{entry.canonical!r}")
                seen.add(alias)
                owner = self._canonical.get(alias) or self._alias.get(alias)
                if owner is not None and owner is not entry:
                    if strict:
                        raise NormalizationError(f"vocabulary {self.source}: alias {alias!r} of {entry.canonical!r} "
                                                 f"already belongs to {owner.canonical!r}")
                    continue
                if alias != entry.canonical:
                    self._alias.setdefault(alias, entry)
        self._keys: dict[bool, dict[str, VocabEntry]] = {}
        self._phrases: dict[bool, tuple[dict[tuple[str, ...], VocabEntry], int]] = {}
        self._choices: dict[str, tuple[list[str], list[VocabEntry]]] = {}
        self._votes: dict[bool, dict[str, dict[str, float]]] = {}
        if strict:
            for fold in (False, True):
                self._key_index(fold, strict=True)

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, canonical: object) -> bool:
        return canonical in self._canonical

    def get(self, canonical: str) -> VocabEntry | None:
        return self._canonical.get(canonical)

    def _surfaces(self) -> list[tuple[str, VocabEntry]]:
        out = [(e.canonical, e) for e in self.entries]
        out += [(alias, e) for alias, e in self._alias.items()]
        return out

    def _key_index(self, fold: bool, strict: bool = False) -> dict[str, VocabEntry]:
        index = self._keys.get(fold)
        if index is not None:
            return index
        index = {}
        ambiguous: set[str] = set()
        for surface, entry in self._surfaces():
            key = match_key(surface, fold)
            if not key:
                continue
            owner = index.get(key)
            if owner is not None and owner is not entry:
                if strict:
                    raise NormalizationError(
                        f"vocabulary {self.source}: {surface!r} ({entry.canonical!r}) and a spelling of "
                        f"{owner.canonical!r} differ only in case, punctuation{' or plural' if fold else ''}; "
                        "they cannot be told apart")
                ambiguous.add(key)
            index.setdefault(key, entry)
        for key in ambiguous:
            del index[key]
        self._keys[fold] = index
        return index

    def _phrase_index(self, fold: bool) -> tuple[dict[tuple[str, ...], VocabEntry], int]:
        if fold not in self._phrases:
            phrases = {tuple(key.split()): entry for key, entry in self._key_index(fold).items()}
            self._phrases[fold] = (phrases, max((len(p) for p in phrases), default=0))
        return self._phrases[fold]

    def _fuzzy_choices(self, processor: str) -> tuple[list[str], list[VocabEntry]]:
        if processor not in self._choices:
            from rapidfuzz import utils

            surfaces = self._surfaces()
            process = utils.default_process if processor == "default" else (lambda s: s)
            self._choices[processor] = ([process(s) for s, _ in surfaces], [e for _, e in surfaces])
        return self._choices[processor]

    def match(self, value: str, spec: MatchSpec | None = None) -> VocabMatch:
        """Match one raw string; see the module docstring for the order."""
        spec = spec or MatchSpec()
        text = value.strip()
        if not text:
            return VocabMatch(None, "unmatched", 0.0)
        entry = self._canonical.get(text)
        if entry is not None:
            return VocabMatch(entry, "exact", 1.0)
        entry = self._alias.get(text)
        if entry is not None:
            return VocabMatch(entry, "alias", 1.0)
        key = match_key(text, spec.fold_plurals)
        if not key:
            return VocabMatch(None, "unmatched", 0.0)
        entry = self._key_index(spec.fold_plurals).get(key)
        if entry is not None:
            return VocabMatch(entry, "casefold", 1.0)
        if spec.contains:
            found = self._contains(key, spec)
            if found is not None:
                return found
        missed = self._fuzzy(text, spec) if spec.fuzzy else VocabMatch(None, "unmatched", 0.0)
        if missed.entry is None and spec.words:
            return self._words(key, spec) or missed
        return missed

    def _contains(self, key: str, spec: MatchSpec) -> VocabMatch | None:
        phrases, longest = self._phrase_index(spec.fold_plurals)
        tokens = key.split()
        hits: list[tuple[int, int, VocabEntry]] = []  # (start, end, entry)
        for start in range(len(tokens)):
            for size in range(min(longest, len(tokens) - start), 0, -1):
                entry = phrases.get(tuple(tokens[start:start + size]))
                if entry is not None:
                    hits.append((start, start + size, entry))
                    break
        if not hits:
            return None
        # A shorter phrase inside a longer hit ("red" inside "dark red") is not a second mention.
        hits = [h for h in hits if not any(o is not h and o[0] <= h[0] and h[1] <= o[1] and o[1] - o[0] > h[1] - h[0]
                                           for o in hits)]
        covered = sum(len(" ".join(tokens[s:e])) for s, e, _ in hits) / len(key)
        distinct = list(dict.fromkeys(e.canonical for _, _, e in hits))
        if spec.several_at_least and len(distinct) >= spec.several_at_least and spec.several_value:
            several = self._canonical.get(spec.several_value)
            if several is not None:
                return VocabMatch(several, "contains", round(min(1.0, covered), 4))
        if spec.contains == "first":
            start, end, entry = min(hits, key=lambda h: (h[0], -(h[1] - h[0])))
        elif spec.contains == "last":
            start, end, entry = max(hits, key=lambda h: (h[1], h[1] - h[0]))
        else:
            start, end, entry = max(hits, key=lambda h: (h[1] - h[0], -h[0]))
        share = len(" ".join(tokens[start:end])) / len(key)
        return VocabMatch(entry, "contains", round(share, 4))

    def _fuzzy(self, text: str, spec: MatchSpec) -> VocabMatch:
        from rapidfuzz import fuzz, process, utils

        choices, owners = self._fuzzy_choices(spec.processor)
        query = utils.default_process(text) if spec.processor == "default" else text
        if not query or not choices:
            return VocabMatch(None, "unmatched", 0.0)
        scorer = getattr(fuzz, spec.scorer)
        floor = max(0.0, min(spec.cutoff - spec.margin, 60.0))
        best: dict[str, float] = {}
        for _, score, index in process.extract(query, choices, scorer=scorer, processor=None,
                                               score_cutoff=floor, limit=None):
            canonical = owners[index].canonical
            if score > best.get(canonical, -1.0):
                best[canonical] = score
        if not best:
            return VocabMatch(None, "unmatched", 0.0)
        ranked = sorted(best.items(), key=lambda kv: -kv[1])
        top_name, top = ranked[0]
        runner_up = ranked[1][1] if len(ranked) > 1 else 0.0
        if top >= spec.cutoff and top - runner_up >= spec.margin:
            return VocabMatch(self._canonical[top_name], "fuzzy", round(top / 100.0, 4))
        return VocabMatch(None, "unmatched", round(top / 100.0, 4), nearest=top_name)

    def _vote_index(self, fold: bool) -> dict[str, dict[str, float]]:
        """word -> canonical -> the share of the word's spellings that belong to that canonical."""
        if fold not in self._votes:
            counts: dict[str, dict[str, int]] = {}
            for surface, entry in self._surfaces():
                for word in set(match_key(surface, fold).split()) - _FUNCTION_WORDS:
                    owners = counts.setdefault(word, {})
                    owners[entry.canonical] = owners.get(entry.canonical, 0) + 1
            self._votes[fold] = {word: {c: n / sum(owners.values()) for c, n in owners.items()}
                                 for word, owners in counts.items()}
        return self._votes[fold]

    def _words(self, key: str, spec: MatchSpec) -> VocabMatch | None:
        index = self._vote_index(spec.fold_plurals)
        words = [w for w in key.split() if w not in _FUNCTION_WORDS]
        tally: dict[str, float] = {}
        for i, word in enumerate(words):
            weight = 2.0 if i == len(words) - 1 else 1.0
            for canonical, share in index.get(word, {}).items():
                tally[canonical] = tally.get(canonical, 0.0) + weight * share
        if not tally:
            return None
        ranked = sorted(tally.values(), reverse=True)
        if len(ranked) > 1 and ranked[0] - ranked[1] < 1e-9:
            return None
        best = max(tally, key=lambda c: tally[c])
        return VocabMatch(self._canonical[best], "words", round(tally[best] / sum(ranked), 4))

    @classmethod
    def from_document(cls, document: Any, source: str) -> Vocabulary:
        """Check a parsed vocabulary file."""
        if not isinstance(document, dict):
            raise NormalizationError(f"vocabulary {source}: must be a JSON object with 'entries'")
        for key in document:
            if key not in ("name", "description", "entries") and not key.startswith("_"):
                raise NormalizationError(f"vocabulary {source}: unknown key {key!r} "
                                         "(allowed: name, description, entries, or _comments)")
        entries = document.get("entries")
        if not isinstance(entries, list) or not entries:
            raise NormalizationError(f"vocabulary {source}: 'entries' must be a non-empty list")
        name = document.get("name", Path(source).stem)
        if not isinstance(name, str) or not name:
            raise NormalizationError(f"vocabulary {source}: 'name' must be a non-empty string")
        description = document.get("description", "")
        return cls(name, [_check_entry(e, i, f"vocabulary {source}") for i, e in enumerate(entries)],
                   source=source, description=description if isinstance(description, str) else "")

    def to_document(self) -> dict[str, Any]:
        entries = []
        for e in self.entries:
            item: dict[str, Any] = {"canonical": e.canonical, "aliases": list(e.aliases)}
            if e.properties:
                item["properties"] = e.properties
            entries.append(item)
        return {"name": self.name, "description": self.description, "entries": entries}

    @classmethod
    def merged(cls, vocabs: list[Vocabulary]) -> Vocabulary:
        """One vocabulary from several; on a conflict the earlier one wins (user before shipped)."""
        if len(vocabs) == 1:
            return vocabs[0]
        entries = [e for v in vocabs for e in v.entries]
        return cls("+".join(v.name for v in vocabs), entries, source="+".join(v.source for v in vocabs), strict=False)


def shipped_vocabularies() -> dict[str, Path]:
    """Names and paths of the vocabularies that ship with extractor."""
    try:
        folder = vocab_dir()
    except FileNotFoundError:
        return {}
    return {p.stem: p for p in sorted(folder.glob("*.json"))} if folder.is_dir() else {}


def resolve_vocab(ref: str, base_dir: Path | None = None) -> Path:
    """Find a vocabulary: a path (relative to ``base_dir``, usually the schema's folder, or the
    working directory), else a shipped name."""
    candidates = []
    path = Path(ref)
    if base_dir is not None and not path.is_absolute():
        candidates.append(base_dir / path)
    candidates.append(path)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    shipped = shipped_vocabularies()
    if ref in shipped:
        return shipped[ref]
    raise NormalizationError(f"no vocabulary file {ref!r} and no shipped vocabulary of that name "
                             f"(shipped: {', '.join(shipped) or 'none'})")


def load_vocab(ref: str | Path, base_dir: Path | None = None) -> Vocabulary:
    """Load and check a vocabulary by shipped name or path."""
    path = resolve_vocab(str(ref), base_dir)
    return _load_path(str(path.resolve()), path.stat().st_mtime_ns)


@lru_cache(maxsize=64)
def _load_path(path: str, _mtime: int) -> Vocabulary:
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise NormalizationError(f"cannot read vocabulary {path}: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise NormalizationError(f"vocabulary {path} is not valid JSON: {exc}") from exc
    return Vocabulary.from_document(document, source=path)
