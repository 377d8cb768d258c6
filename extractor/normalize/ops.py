"""String operations of an ``x-normalize`` block (``ops``), compiled once per attribute.

Each compiled operation maps a string to a string, or to None when it cannot apply (``extract``
found nothing, the value became empty): the normalizer then keeps the raw value, flagged unmatched.

- ``trim``, ``collapse_spaces``: strip the ends; runs of whitespace become one space
- ``upper``, ``lower``, ``title``: change case
- ``delete_marks``: keep only letters (with their accents) and digits (``481726-B22`` -> ``481726B22``)
- ``strip_accents``: ``Crème`` -> ``Creme``
- ``{"strip": [...]}``: remove these substrings, case-insensitively (``Inc.``, ``Brand:``)
- ``{"delete": "-/"}``: remove these characters
- ``{"replace": [[pattern, repl], ...]}``: regular-expression substitutions, in order
- ``{"slice": [start, end]}``: keep ``value[start:end]`` (a UPC's manufacturer code is ``[1, 6]``)
- ``{"extract": pattern}``: keep the first match (its group, if the pattern has one)
- ``{"expand": vocab}``: replace abbreviations, as whole words, by their canonical form
  (``HP ProLiant`` -> ``Hewlett-Packard ProLiant``; ``G8`` -> ``Generation 8``)

All but ``slice`` and ``extract`` are idempotent (applying twice changes nothing), given an
``expand`` vocabulary whose canonical forms do not contain its own abbreviations."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from typing import Any

from .vocab import Vocabulary

Op = Callable[[str], "str | None"]


def _strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return unicodedata.normalize("NFC", "".join(c for c in decomposed if not unicodedata.combining(c)))


def _simple(name: str) -> Op:
    table: dict[str, Op] = {
        "trim": str.strip,
        "collapse_spaces": lambda s: " ".join(s.split()),
        "upper": str.upper,
        "lower": str.lower,
        "title": str.title,
        # accents written as combining characters belong to their letter: "ΐ".upper() is "Ι" + two of them
        "delete_marks": lambda s: "".join(c for c in s if c.isalnum() or unicodedata.combining(c)),
        "strip_accents": _strip_accents,
    }
    return table[name]


def _strip(substrings: tuple[str, ...]) -> Op:
    pattern = re.compile("|".join(re.escape(s) for s in sorted(substrings, key=len, reverse=True)), re.IGNORECASE)
    return lambda s: " ".join(pattern.sub(" ", s).split())


def _delete(chars: str) -> Op:
    table = str.maketrans("", "", chars)
    return lambda s: s.translate(table)


def _replace(pairs: tuple[tuple[str, str], ...]) -> Op:
    compiled = [(re.compile(p), r) for p, r in pairs]

    def run(s: str) -> str:
        for pattern, repl in compiled:
            s = pattern.sub(repl, s)
        return s
    return run


def _slice(bounds: tuple[int | None, int | None]) -> Op:
    start, end = bounds
    return lambda s: s[start:end]


def _extract(pattern: str) -> Op:
    compiled = re.compile(pattern)

    def run(s: str) -> str | None:
        m = compiled.search(s)
        if m is None:
            return None
        return m.group(1) if compiled.groups else m.group(0)
    return run


def expander(vocab: Vocabulary) -> Op:
    """Replace each alias of ``vocab`` that stands as a whole word (or is glued to a following
    number: ``G8``, ``DDR4``, ``AIT-3``) by its canonical form; the number is kept after a space."""
    by_alias = {}
    for entry in vocab.entries:
        for alias in entry.aliases:
            by_alias.setdefault(alias.lower(), entry.canonical)
    if not by_alias:
        return lambda s: s
    alternatives = "|".join(re.escape(a) for a in sorted(by_alias, key=len, reverse=True))
    pattern = re.compile(rf"(?<![A-Za-z0-9])(?P<a>{alternatives})(?P<n>[-\s]?(?=\d))?(?![A-Za-z])", re.IGNORECASE)

    def repl(m: re.Match[str]) -> str:
        canonical = by_alias[m.group("a").lower()]
        return canonical + (" " if m.group("n") is not None else "")
    return lambda s: pattern.sub(repl, s)


def compile_ops(ops: tuple[tuple[str, Any], ...], load_vocab: Callable[[str], Vocabulary]) -> list[Op]:
    """Compile a spec's ``ops``; ``load_vocab`` resolves the vocabulary of an ``expand``."""
    compiled: list[Op] = []
    for name, arg in ops:
        if arg is None:
            compiled.append(_simple(name))
        elif name == "strip":
            compiled.append(_strip(arg))
        elif name == "delete":
            compiled.append(_delete(arg))
        elif name == "replace":
            compiled.append(_replace(arg))
        elif name == "slice":
            compiled.append(_slice(arg))
        elif name == "extract":
            compiled.append(_extract(arg))
        elif name == "expand":
            compiled.append(expander(load_vocab(arg)))
        else:  # parse_spec lets no other name through
            raise ValueError(f"unknown operation {name!r}")
    return compiled


def apply_ops(ops: list[Op], text: str) -> str | None:
    """Run compiled operations in order; None when one cannot apply or the value became empty."""
    for op in ops:
        result = op(text)
        if result is None:
            return None
        text = result
    return text if text.strip() else None
