"""Numbers in product text: decimals, thousands commas, fractions, mixed fractions, number words,
and counts (``50/Pack`` -> 50, ``Dual Port`` -> 2, ``7.2K`` -> 7200).

The number pattern is shared with units.py so both read ``2 1/2``, ``2-1/2`` and ``1,000`` alike."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

BUILTIN_WORDS: dict[str, float] = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30,
    "forty": 40, "fifty": 50, "hundred": 100, "dozen": 12, "pair": 2, "single": 1, "dual": 2, "double": 2,
    "twin": 2, "triple": 3, "trio": 3, "quad": 4, "quadruple": 4, "hexa": 6, "octa": 8,
}
"""Words read as counts (``Quad Core`` = 4, ``trio`` = 3); per attribute, NumberSpec.words adds more."""

# Fractions are only read as fractions with the denominators that measurements use, so
# "160/320 GB" stays two alternatives while "11/16 in" is 0.6875 in.
FRACTION_DENOMINATORS = frozenset({2, 3, 4, 5, 6, 8, 10, 12, 16, 32, 64})
_DECIMAL = r"(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?|\.\d+"
_FRACTION = r"\d{1,2}\s?/\s?(?:64|32|16|12|10|8|6|5|4|3|2)(?!\d)"
NUMBER = rf"(?:\d+(?:\s+|-){_FRACTION}|{_FRACTION}|{_DECIMAL})"
"""A number as written in product text (used inside larger patterns)."""
_MIXED = re.compile(r"^(\d+)(?:\s+|-)(\d+)\s?/\s?(\d+)$")
_FRAC = re.compile(r"^(\d+)\s?/\s?(\d+)$")


def _fraction(numerator: str, denominator: str) -> float | None:
    num, den = int(numerator), int(denominator)
    if den in FRACTION_DENOMINATORS and 0 < num < den:
        return num / den
    return None


def parse_number(text: str) -> float | None:
    """The value of one number as written (``1,000``, ``.5``, ``3/4``, ``2 1/2``, ``2-1/2``), or None."""
    text = text.strip()
    mixed = _MIXED.match(text)
    if mixed:
        part = _fraction(mixed.group(2), mixed.group(3))
        return None if part is None else int(mixed.group(1)) + part
    frac = _FRAC.match(text)
    if frac:
        return _fraction(frac.group(1), frac.group(2))
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return None


def to_plain(value: float, precision: int | None) -> int | float:
    """Round for output: ``precision`` decimals when given; otherwise whole numbers become integers
    and the rest keeps 10 significant digits (so 2.54 * 3 prints 7.62, not 7.620000000000001)."""
    if precision is not None:
        rounded = round(value, precision)
        return int(rounded) if precision == 0 else rounded
    if abs(value - round(value)) <= 1e-9 * max(1.0, abs(value)):
        return int(round(value))
    return float(f"{value:.10g}")


@dataclass(frozen=True)
class Mention:
    """One number found in a text, with where it was."""

    value: float
    start: int
    end: int


def _words_pattern(words: tuple[str, ...]) -> re.Pattern[str] | None:
    if not words:
        return None
    alternatives = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
    return re.compile(rf"(?<![A-Za-z0-9])(?:{alternatives})(?![A-Za-z])", re.IGNORECASE)


# Counts are whole numbers or decimals; "160/320" is two counts, not a fraction.
_COUNT = re.compile(rf"(?<![A-Za-z0-9.,])({_DECIMAL})(\s?[kK](?![A-Za-z]))?")
_PARENS = re.compile(r"\([^()]*\)")


class CountReader:
    """Reads counts from text according to a NumberSpec's options (compiled once per attribute)."""

    def __init__(self, words: Mapping[str, float] | None = None, builtin_words: bool = True,
                 thousands_suffix: bool = False) -> None:
        table = dict(BUILTIN_WORDS) if builtin_words else {}
        table.update({k.lower(): v for k, v in (words or {}).items()})
        self.words = table
        self.thousands_suffix = thousands_suffix
        self._pattern = _words_pattern(tuple(table))

    def mentions(self, text: str) -> list[Mention]:
        """Every number and number word in ``text``, in order. Numbers in parentheses are dropped
        when there are others outside, because there they restate (``Dual Port (DP)``)."""
        found = []
        for m in _COUNT.finditer(text):
            value = parse_number(m.group(1))
            if value is None:
                continue
            if m.group(2) and self.thousands_suffix:
                value *= 1000
            found.append(Mention(value, m.start(), m.end()))
        if self._pattern is not None:
            for m in self._pattern.finditer(text):
                if not any(f.start <= m.start() < f.end for f in found):
                    found.append(Mention(self.words[m.group(0).lower()], m.start(), m.end()))
        found.sort(key=lambda f: f.start)
        inside = [(p.start(), p.end()) for p in _PARENS.finditer(text)]
        if inside:
            outside = [f for f in found if not any(s <= f.start < e for s, e in inside)]
            if outside:
                found = outside
        return found

    def read(self, text: str, several: str = "first") -> float | None:
        """The count in ``text`` (first, sum or max of the mentions), or None when there is none."""
        found = self.mentions(text)
        if not found:
            return None
        values = [f.value for f in found]
        if several == "sum":
            return sum(values)
        if several == "max":
            return max(values)
        return values[0]
