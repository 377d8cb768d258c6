"""Demonstration (shot) pools and how k of them are chosen for an input: first, random, similar."""

from __future__ import annotations

import hashlib
import math
import random
import re
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import PromptError
from .schemas import Schema

_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class Shot:
    """One demonstration: a product text and the record a perfect extractor would write for it."""

    text: str
    record: dict[str, Any]


def _words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def load_shots(path: str | Path, schema: Schema | None = None) -> list[Shot]:
    """Read a shots file: JSONL of ``{"text": ..., "record": {attribute: value-or-null}}``.

    With a schema, keys outside it are an error (a demonstration teaching an unknown key would
    teach the model to invent keys) and missing attributes become null."""
    from .io import read_jsonl

    path = Path(path)
    shots = []
    for n, obj in read_jsonl(path, PromptError):
        if not isinstance(obj.get("text"), str) or not isinstance(obj.get("record"), dict):
            raise PromptError(f"{path}:{n}: a shot needs a string 'text' and an object 'record'")
        record = obj["record"]
        if schema is not None:
            extra = sorted(set(record) - set(schema.names))
            if extra:
                raise PromptError(f"{path}:{n}: record has keys outside schema {schema.name!r}: {', '.join(extra)}")
            record = {name: record.get(name) for name in schema.names}
        shots.append(Shot(obj["text"], record))
    if not shots:
        raise PromptError(f"shots file {path} has no demonstrations")
    return shots


def shots_file(folder: str | Path, schema_name: str) -> Path:
    """``<folder>/<schema_name>.jsonl``: where a shots folder keeps a schema's demonstrations.

    The name must be a plain name (``schemas.name_problem``), else PromptError: a schema's name
    comes from its file (``"title": "../../x"``), and must never pick a file outside ``folder``."""
    from .schemas import name_problem

    problem = name_problem(schema_name)
    if problem is not None:
        raise PromptError(f"schema name {schema_name[:60]!r} cannot name a demonstrations file in {folder}: "
                          f"{problem}")
    return Path(folder) / f"{schema_name}.jsonl"


class DemoPool:
    """A pool of demonstrations with first / random (seeded) / similar (BM25) selection."""

    def __init__(self, shots: list[Shot], k1: float = 1.2, b: float = 0.75) -> None:
        self.shots = list(shots)
        self._docs = [Counter(_words(s.text)) for s in self.shots]
        self._lengths = [sum(d.values()) for d in self._docs]
        self._avg = (sum(self._lengths) / len(self._lengths)) if self._lengths else 0.0
        df: Counter[str] = Counter()
        for d in self._docs:
            df.update(d.keys())
        n = len(self._docs)
        self._idf = {w: math.log(1 + (n - c + 0.5) / (c + 0.5)) for w, c in df.items()}
        self.k1, self.b = k1, b

    def __len__(self) -> int:
        return len(self.shots)

    def scores(self, text: str) -> list[float]:
        """BM25 score of every shot for ``text`` used as the query."""
        query = set(_words(text))
        out = []
        for doc, length in zip(self._docs, self._lengths):
            s = 0.0
            norm = self.k1 * (1 - self.b + self.b * length / (self._avg or 1.0))
            for w in query:
                tf = doc.get(w)
                if tf:
                    s += self._idf[w] * tf * (self.k1 + 1) / (tf + norm)
            out.append(s)
        return out

    def select(self, text: str, k: int, selection: str = "similar", seed: int = 0,
               exclude: Collection[str] = ()) -> list[Shot]:
        """k shots for ``text``. Similar shots are ordered least to most similar, so the closest
        example sits right before the input; a shot whose text equals the input, or one of
        ``exclude``, is never shown."""
        skip = {text.strip(), *(e.strip() for e in exclude)}
        candidates = [i for i, s in enumerate(self.shots) if s.text.strip() not in skip]
        k = min(k, len(candidates))
        if k <= 0:
            return []
        if selection == "first":
            chosen = candidates[:k]
        elif selection == "random":
            # Seeded per input, so a record does not depend on batch order or on other inputs.
            digest = hashlib.sha256(f"{seed}\x00{text}".encode("utf-8")).digest()
            chosen = random.Random(int.from_bytes(digest[:8], "big")).sample(candidates, k)
        elif selection == "similar":
            scores = self.scores(text)
            ranked = sorted(candidates, key=lambda i: (-scores[i], i))[:k]
            chosen = list(reversed(ranked))
        else:
            raise PromptError(f"unknown shot selection {selection!r}")
        return [self.shots[i] for i in chosen]
