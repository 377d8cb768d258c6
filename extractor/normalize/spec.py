"""The ``x-normalize`` block of a schema attribute: parse and check it into a NormalizeSpec.

A block says, for one attribute, which string operations run first (``ops``), which vocabulary the
value snaps onto (``vocab`` + ``match``), or how it is read as a measurement (``unit``) or a count
(``number``). Every key is checked here and an unknown or ill-typed one is an error that names the
attribute and the key path, so a schema never silently means less than its author thinks.
``docs/normalization.md`` documents every key with examples.

This module only checks the block; vocabularies are loaded (and their existence checked) by
``Normalizer.from_schema``, which knows the schema file's folder."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..errors import NormalizationError

SCORERS = ("ratio", "token_sort_ratio", "token_set_ratio", "partial_ratio", "WRatio", "QRatio")
PROCESSORS = ("default", "none")
CONTAINS = ("first", "last", "longest")
DIMENSIONS = ("length", "mass", "volume", "information", "frequency", "power", "voltage", "current",
              "area")
RANGE_POLICIES = ("max", "min", "mean", "first", "last", "keep")
DIMS_POLICIES = ("each", "max", "first", "product")
SEVERAL_UNIT = ("first", "sum", "max", "each")
SEVERAL_NUMBER = ("first", "sum", "max")
FORMATS = ("number", "symbol", "name")
SIMPLE_OPS = ("trim", "collapse_spaces", "upper", "lower", "title", "delete_marks", "strip_accents")
ARG_OPS = ("strip", "delete", "replace", "slice", "extract", "expand")


class SpecError(NormalizationError):
    """An ``x-normalize`` block is invalid; ``key`` is the path inside the block (``match/cutoff``)."""

    def __init__(self, message: str, *, attribute: str, key: str = "") -> None:
        self.attribute = attribute
        self.key = key
        self.reason = message
        """The message without the attribute and key (for callers that give their own location)."""
        where = f"attribute {attribute!r}, x-normalize" + (f"/{key}" if key else "")
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class MatchSpec:
    """How a raw value is matched against the vocabulary, after exact and alias look-ups."""

    fuzzy: bool = True
    """Try rapidfuzz when exact, alias, case/punctuation-insensitive and contains matching fail."""
    scorer: str = "token_sort_ratio"
    """rapidfuzz.fuzz scorer; token_sort_ratio keeps ``red`` from scoring high against ``dark red``."""
    processor: str = "default"
    """``default`` (rapidfuzz.utils.default_process: lowercase, punctuation to spaces) or ``none``."""
    cutoff: float = 85.0
    """Lowest fuzzy score (0-100) that counts as a match."""
    margin: float = 5.0
    """The best canonical must beat the best *other* canonical by at least this many points."""
    contains: str | None = None
    """Also match when a known alias occurs as whole words inside the value: ``first`` (earliest
    mention), ``last`` (latest: the head noun of a product type) or ``longest``; null disables."""
    several_at_least: int | None = None
    """With ``contains``: when this many distinct canonicals are mentioned, answer ``several_value``."""
    several_value: str | None = None
    """The canonical for values that mention many (e.g. ``Multicolor`` for 3+ colours)."""
    fold_plurals: bool = True
    """The case/punctuation-insensitive key also folds simple English plurals (``pens`` = ``pen``)."""
    words: bool = False
    """Last resort for closed sets (a product-type taxonomy), where any canonical beats a raw value:
    each word of the value votes for the canonicals whose spellings contain it, split by how often
    each uses it, the last word (usually the head noun) twice; the most votes win unless tied."""
    otherwise: str | None = None
    """The canonical a value gets when nothing read it (a closed set's catch-all, or its most common
    member); method ``otherwise`` with score 0, so such guesses can be found and reviewed."""


@dataclass(frozen=True)
class UnitSpec:
    """How a value is read as a measurement and written back."""

    dimensions: tuple[str, ...]
    """Accepted dimensions; a value in any other dimension is left unmatched."""
    to: str | None = None
    """Target unit (a spelling the parser knows, e.g. ``cm``); null keeps each value's own unit."""
    default: str | None = None
    """Unit assumed for bare numbers (``24`` in a width given in inches)."""
    precision: int | None = None
    """Decimals to round to; 0 gives integers; null rounds to 6 significant digits."""
    range: str = "max"
    """For ``54 - 62 in``: max, min, mean, first, last, or keep (write the range)."""
    dims: str = "each"
    """For ``10 x 20 cm``: each (write all), max, first, or product (count x quantity: ``2 x 4GB``)."""
    several: str = "first"
    """For unrelated quantities in one value: first, sum, max, or each (rewrite each in place)."""
    format: str = "symbol"
    """``number`` (JSON number, unit in the ``unit`` field), ``symbol`` (``10.2 cm``) or ``name``."""
    labels: dict[str, str] = field(default_factory=dict)
    """Display text per unit spelling, overriding the symbol/name (``{"GB": "Gigabytes"}``)."""
    aliases: dict[str, str] = field(default_factory=dict)
    """Extra spellings for this attribute (``{"K": "KB"}``), mapped onto known spellings."""
    factors: dict[str, str] = field(default_factory=dict)
    """Conversion overrides (``{"lb": "0.453 kg"}``) where a source defines its own factor."""


@dataclass(frozen=True)
class NumberSpec:
    """How a value is read as a count (pack quantity, ports, cores, rpm)."""

    several: str = "first"
    """first, sum (``2-ports int / 2-ports ext`` = 4) or max over the numbers mentioned."""
    words: dict[str, float] = field(default_factory=dict)
    """Extra number words or abbreviations (``{"DP": 2}``), on top of the built-in ones."""
    builtin_words: bool = True
    """Use the built-in words (one .. twenty, dozen, pair, single, dual, trio, quad ...)."""
    thousands_suffix: bool = False
    """Read a ``K`` right after a number as thousands (``7.2K`` = 7200)."""
    precision: int | None = None
    """Decimals to round to; null keeps integers as integers."""


@dataclass(frozen=True)
class NormalizeSpec:
    """The checked ``x-normalize`` block of one attribute."""

    attribute: str
    ops: tuple[tuple[str, Any], ...] = ()
    """String operations applied first, in order: (name, argument or None)."""
    vocab: tuple[str, ...] = ()
    """Vocabulary references: shipped names or paths (relative to the schema file); earlier wins."""
    match: MatchSpec = field(default_factory=MatchSpec)
    unit: UnitSpec | None = None
    number: NumberSpec | None = None


def _fail(message: str, attribute: str, key: str = "") -> SpecError:
    return SpecError(message, attribute=attribute, key=key)


def _keys(block: dict[str, Any], allowed: tuple[str, ...], attribute: str, where: str) -> None:
    for key in block:
        if key not in allowed:
            raise _fail(f"unknown key {key!r} (allowed: {', '.join(allowed)})", attribute,
                        f"{where}/{key}".strip("/"))


def _choice(value: Any, allowed: tuple[str, ...], attribute: str, key: str) -> str:
    if value not in allowed:
        raise _fail(f"must be one of {', '.join(allowed)}, not {value!r}", attribute, key)
    return value


def _number(value: Any, attribute: str, key: str, low: float, high: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < low or (
            high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise _fail(f"must be a number {bound}, not {value!r}", attribute, key)
    return float(value)


def _bool(value: Any, attribute: str, key: str) -> bool:
    if not isinstance(value, bool):
        raise _fail(f"must be true or false, not {value!r}", attribute, key)
    return value


def _text(value: Any, attribute: str, key: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _fail(f"must be a non-empty string, not {value!r}", attribute, key)
    return value


def _precision(value: Any, attribute: str, key: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 12:
        raise _fail(f"must be an integer from 0 to 12 or null, not {value!r}", attribute, key)
    return value


def _str_map(value: Any, attribute: str, key: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(k, str) and k and isinstance(v, str) and v.strip()
                                              for k, v in value.items()):
        raise _fail("must be an object of non-empty strings", attribute, key)
    return dict(value)


def _parse_op(item: Any, attribute: str, key: str) -> tuple[str, Any]:
    if isinstance(item, str):
        if item in SIMPLE_OPS:
            return item, None
        if item in ARG_OPS:
            raise _fail(f"operation {item!r} needs an argument: write {{{item!r}: ...}}", attribute, key)
        raise _fail(f"unknown operation {item!r} (known: {', '.join(SIMPLE_OPS + ARG_OPS)})", attribute, key)
    if not isinstance(item, dict) or len(item) != 1:
        raise _fail("an operation is a name or an object with exactly one key", attribute, key)
    (name, arg), = item.items()
    key = f"{key}/{name}"
    if name in SIMPLE_OPS:
        raise _fail(f"operation {name!r} takes no argument: write it as a plain string", attribute, key)
    if name == "strip":
        if not isinstance(arg, list) or not arg or not all(isinstance(s, str) and s for s in arg):
            raise _fail("'strip' takes a non-empty list of non-empty substrings", attribute, key)
        return name, tuple(arg)
    if name == "delete":
        return name, _text(arg, attribute, key)
    if name == "replace":
        if not isinstance(arg, list) or not arg:
            raise _fail("'replace' takes a non-empty list of [pattern, replacement] pairs", attribute, key)
        pairs = []
        for i, pair in enumerate(arg):
            if (not isinstance(pair, list) or len(pair) != 2 or not all(isinstance(p, str) for p in pair)
                    or not pair[0]):
                raise _fail("each item must be [pattern, replacement] (two strings)", attribute, f"{key}/{i}")
            try:
                re.compile(pair[0])
            except re.error as exc:
                raise _fail(f"bad regular expression {pair[0]!r}: {exc}", attribute, f"{key}/{i}") from exc
            pairs.append((pair[0], pair[1]))
        return name, tuple(pairs)
    if name == "slice":
        if (not isinstance(arg, list) or len(arg) != 2
                or not all(v is None or (isinstance(v, int) and not isinstance(v, bool)) for v in arg)):
            raise _fail("'slice' takes [start, end] (integers or null, Python slice semantics)", attribute, key)
        return name, (arg[0], arg[1])
    if name == "extract":
        pattern = _text(arg, attribute, key)
        try:
            compiled = re.compile(pattern)
        except re.error as exc:
            raise _fail(f"bad regular expression {pattern!r}: {exc}", attribute, key) from exc
        if compiled.groups > 1:
            raise _fail("'extract' pattern may have at most one group (the part kept)", attribute, key)
        return name, pattern
    if name == "expand":
        return name, _text(arg, attribute, key)
    raise _fail(f"unknown operation {name!r} (known: {', '.join(SIMPLE_OPS + ARG_OPS)})", attribute, key)


def _parse_match(block: Any, attribute: str, fuzzy_default: bool) -> MatchSpec:
    if block is None:
        return MatchSpec(fuzzy=fuzzy_default)
    if not isinstance(block, dict):
        raise _fail("must be an object", attribute, "match")
    _keys(block, ("fuzzy", "scorer", "processor", "cutoff", "margin", "contains", "several", "fold_plurals",
                 "words", "otherwise"),
          attribute, "match")
    contains = block.get("contains")
    if contains is not None:
        _choice(contains, CONTAINS, attribute, "match/contains")
    at_least = value = None
    if "several" in block:
        several = block["several"]
        if not isinstance(several, dict):
            raise _fail("must be an object {\"at_least\": N, \"value\": canonical}", attribute, "match/several")
        _keys(several, ("at_least", "value"), attribute, "match/several")
        if "at_least" not in several or "value" not in several:
            raise _fail("needs both 'at_least' and 'value'", attribute, "match/several")
        at_least = int(_number(several["at_least"], attribute, "match/several/at_least", 2))
        value = _text(several["value"], attribute, "match/several/value")
        if contains is None:
            raise _fail("'several' only works together with 'contains'", attribute, "match/several")
    return MatchSpec(
        fuzzy=_bool(block.get("fuzzy", fuzzy_default), attribute, "match/fuzzy"),
        scorer=_choice(block.get("scorer", "token_sort_ratio"), SCORERS, attribute, "match/scorer"),
        processor=_choice(block.get("processor", "default"), PROCESSORS, attribute, "match/processor"),
        cutoff=_number(block.get("cutoff", 85.0), attribute, "match/cutoff", 1, 100),
        margin=_number(block.get("margin", 5.0), attribute, "match/margin", 0, 100),
        contains=contains, several_at_least=at_least, several_value=value,
        fold_plurals=_bool(block.get("fold_plurals", True), attribute, "match/fold_plurals"),
        words=_bool(block.get("words", False), attribute, "match/words"),
        otherwise=_text(block["otherwise"], attribute, "match/otherwise") if "otherwise" in block else None,
    )


def _parse_unit(block: Any, attribute: str) -> UnitSpec:
    if not isinstance(block, dict):
        raise _fail("must be an object", attribute, "unit")
    _keys(block, ("dimension", "to", "default", "precision", "range", "dims", "several", "format", "labels",
                  "aliases", "factors"), attribute, "unit")
    if "dimension" not in block:
        raise _fail(f"needs 'dimension' (one of {', '.join(DIMENSIONS)}, or a list of them)", attribute, "unit")
    dims = block["dimension"]
    dims = [dims] if isinstance(dims, str) else dims
    if not isinstance(dims, list) or not dims:
        raise _fail("must be a dimension name or a non-empty list of them", attribute, "unit/dimension")
    for d in dims:
        _choice(d, DIMENSIONS, attribute, "unit/dimension")
    to = block.get("to")
    default = block.get("default")
    return UnitSpec(
        dimensions=tuple(dims),
        to=None if to is None else _text(to, attribute, "unit/to"),
        default=None if default is None else _text(default, attribute, "unit/default"),
        precision=_precision(block.get("precision"), attribute, "unit/precision"),
        range=_choice(block.get("range", "max"), RANGE_POLICIES, attribute, "unit/range"),
        dims=_choice(block.get("dims", "each"), DIMS_POLICIES, attribute, "unit/dims"),
        several=_choice(block.get("several", "first"), SEVERAL_UNIT, attribute, "unit/several"),
        format=_choice(block.get("format", "symbol"), FORMATS, attribute, "unit/format"),
        labels=_str_map(block.get("labels", {}), attribute, "unit/labels"),
        aliases=_str_map(block.get("aliases", {}), attribute, "unit/aliases"),
        factors=_str_map(block.get("factors", {}), attribute, "unit/factors"),
    )


def _parse_number(block: Any, attribute: str) -> NumberSpec:
    if block is True:
        return NumberSpec()
    if not isinstance(block, dict):
        raise _fail("must be true or an object", attribute, "number")
    _keys(block, ("several", "words", "builtin_words", "thousands_suffix", "precision"), attribute, "number")
    words = block.get("words", {})
    if not isinstance(words, dict) or not all(
            isinstance(k, str) and k.strip() and not isinstance(v, bool) and isinstance(v, (int, float))
            for k, v in words.items()):
        raise _fail("must be an object of word -> number", attribute, "number/words")
    return NumberSpec(
        several=_choice(block.get("several", "first"), SEVERAL_NUMBER, attribute, "number/several"),
        words={k.strip().lower(): float(v) for k, v in words.items()},
        builtin_words=_bool(block.get("builtin_words", True), attribute, "number/builtin_words"),
        thousands_suffix=_bool(block.get("thousands_suffix", False), attribute, "number/thousands_suffix"),
        precision=_precision(block.get("precision"), attribute, "number/precision"),
    )


def parse_spec(block: Any, attribute: str) -> NormalizeSpec:
    """Check one attribute's ``x-normalize`` block; raise SpecError naming the bad key."""
    if not isinstance(block, dict):
        raise _fail("must be an object", attribute)
    _keys(block, ("ops", "vocab", "match", "unit", "number"), attribute, "")
    ops_block = block.get("ops", [])
    if not isinstance(ops_block, list):
        raise _fail("must be a list of operations", attribute, "ops")
    ops = tuple(_parse_op(item, attribute, f"ops/{i}") for i, item in enumerate(ops_block))
    vocab = block.get("vocab", [])
    vocab = [vocab] if isinstance(vocab, str) else vocab
    if not isinstance(vocab, list):
        raise _fail("must be a vocabulary name or path, or a list of them", attribute, "vocab")
    refs = tuple(_text(v, attribute, f"vocab/{i}") for i, v in enumerate(vocab))
    if "unit" in block and "number" in block:
        raise _fail("give either 'unit' or 'number', not both", attribute)
    unit = _parse_unit(block["unit"], attribute) if "unit" in block else None
    number = _parse_number(block["number"], attribute) if "number" in block else None
    if "match" in block and not refs:
        raise _fail("'match' needs a 'vocab' to match against", attribute, "match")
    # Fuzzy matching a measurement or count against aliases would snap "25 in" onto "24 in".
    match = _parse_match(block.get("match"), attribute, fuzzy_default=unit is None and number is None)
    if not (ops or refs or unit or number):
        raise _fail("is empty: give at least one of ops, vocab, unit, number", attribute)
    return NormalizeSpec(attribute=attribute, ops=ops, vocab=refs, match=match, unit=unit, number=number)
