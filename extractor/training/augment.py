"""Training-data augmentation, shared by LoRA tuning (``lora.prepare``) and the tagger
(``tagger.augment``): synthetic variants whose text and gold record still agree.

- ``swap``: one attribute's value is replaced, in the text and the record, by the value another
  example of the same schema has for that attribute (a new brand, colour or size in a real context).
- ``drop``: one title segment (``-``, ``|``, ``/``, ``,`` separated) holding no gold value is removed.
- ``shuffle``: the title segments are put in another order.

A variant is kept only when every string value of its record still occurs verbatim in its text,
so the constrained decoder's grounding rule holds for augmented examples too. Only the first line
(the title) is changed; a description below it is kept as it is."""

from __future__ import annotations

import random
import re
from typing import Any

from ..errors import ConfigError
from .examples import Example

AUGMENTATIONS = ("swap", "drop", "shuffle")

def check_augmentation_kinds(kinds: list[str]) -> None:
    """ConfigError naming the kinds that are not in AUGMENTATIONS (LoRA tuning and tagger training share them)."""
    unknown = sorted(set(kinds) - set(AUGMENTATIONS))
    if unknown:
        raise ConfigError(f"unknown augmentation(s) {', '.join(unknown)} (known: {', '.join(AUGMENTATIONS)})")


_SEPARATOR = re.compile(r"(\s+[-|/\u2013]\s+|,\s+)")


def _grounded(text: str, record: dict[str, Any]) -> bool:
    return all(v in text for v in record.values() if isinstance(v, str))


def _split_title(text: str) -> tuple[list[str], list[str], str]:
    """(segments, separators, rest): the title's segments and separators, and the text after it."""
    title, newline, rest = text.partition("\n")
    parts = _SEPARATOR.split(title)
    return parts[0::2], parts[1::2], newline + rest


def _join(segments: list[str], separators: list[str], rest: str) -> str:
    out = segments[0]
    for sep, seg in zip(separators, segments[1:]):
        out += sep + seg
    return out + rest


def _variant(example: Example, text: str, record: dict[str, Any], kind: str) -> Example:
    """A synthetic ``kind`` variant of ``example``, remembering the real offer it came from."""
    return Example(text, record, example.schema, f"{example.source}+{kind}", example.origin or example.text)


def swap(example: Example, donors: dict[str, list[str]], rng: random.Random) -> Example | None:
    # Only a value written once, as a whole word: replacing "M" inside "Men" would garble the text.
    candidates = [n for n, v in example.record.items() if isinstance(v, str) and v and example.text.count(v) == 1
                  and re.search(r"(?<!\w)" + re.escape(v) + r"(?!\w)", example.text)
                  and any(d != v for d in donors.get(n, ()))]
    if not candidates:
        return None
    name = rng.choice(candidates)
    old = example.record[name]
    new = rng.choice([d for d in donors[name] if d != old])
    text = example.text.replace(old, new)
    record = dict(example.record, **{name: new})
    if not _grounded(text, record):
        return None
    return _variant(example, text, record, "swap")


def drop(example: Example, rng: random.Random) -> Example | None:
    segments, separators, rest = _split_title(example.text)
    if len(segments) < 3:
        return None
    values = [v for v in example.record.values() if isinstance(v, str) and v]
    free = [i for i, s in enumerate(segments) if s.strip() and not any(v in s or s in v for v in values)]
    if not free:
        return None
    i = rng.choice(free)
    # Drop the segment with the separator before it (after it, for the first segment).
    seps = separators[:i - 1] + separators[i:] if i else separators[1:]
    text = _join(segments[:i] + segments[i + 1:], seps, rest)
    if not _grounded(text, example.record):
        return None
    return _variant(example, text, example.record, "drop")


def shuffle(example: Example, rng: random.Random) -> Example | None:
    segments, separators, rest = _split_title(example.text)
    if len(segments) < 2:
        return None
    order = list(range(len(segments)))
    for _ in range(5):
        rng.shuffle(order)
        if order != sorted(order):
            break
    else:
        return None
    text = _join([segments[i] for i in order], separators, rest)
    if not _grounded(text, example.record):
        return None
    return _variant(example, text, example.record, "shuffle")


def augment(examples: list[Example], kinds: list[str], copies: int = 1, seed: int = 0) -> list[Example]:
    """Synthetic variants of ``examples`` (not including them); duplicates of any existing text
    for the same schema are left out. Deterministic for a given seed."""
    donors: dict[str, dict[str, list[str]]] = {}
    for ex in examples:
        by_name = donors.setdefault(ex.schema.id, {})
        for name, value in ex.record.items():
            if isinstance(value, str) and value and value not in by_name.setdefault(name, []):
                by_name[name].append(value)
    seen = {(ex.schema.id, ex.text) for ex in examples}
    out = []
    for index, ex in enumerate(examples):
        for kind in kinds:
            for copy in range(copies):
                rng = random.Random(f"{seed}/{index}/{kind}/{copy}")
                if kind == "swap":
                    variant = swap(ex, donors[ex.schema.id], rng)
                elif kind == "drop":
                    variant = drop(ex, rng)
                else:
                    variant = shuffle(ex, rng)
                if variant is not None and (ex.schema.id, variant.text) not in seen:
                    seen.add((ex.schema.id, variant.text))
                    out.append(variant)
    return out
