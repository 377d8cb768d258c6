"""The Normalizer: raw attribute values in, canonical values (with how they were found) out.

Per attribute, in order: the ``ops`` of its ``x-normalize`` block, then its vocabulary (exact ->
alias -> case/punctuation-insensitive -> contains -> fuzzy), then its ``unit`` or ``number`` reading.
What none of these can read is kept raw and flagged ``matched: false``, never dropped or replaced.

>>> normalizer = Normalizer.from_schema(load_schema("my.schema.json"))
>>> normalizer.normalize_value("Color", "Navy Blu").to_dict()
{'value': 'Blue', 'raw': 'Navy Blu', 'method': 'fuzzy', 'score': 0.94, 'matched': True, ...}
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InputError, NormalizationError
from ..io import written_whole
from ..records import Record, check_values
from .numbers import CountReader, to_plain
from .ops import Op, apply_ops, compile_ops
from .spec import NormalizeSpec, parse_spec
from .units import UnitReader
from .vocab import Vocabulary, load_vocab

if TYPE_CHECKING:  # schemas.py may import normalize.spec to check x-normalize blocks
    from ..schemas import Schema


@dataclass(frozen=True)
class NormalizedValue:
    """One normalized value; ``to_dict`` is its shape in ``Record.normalized``."""

    value: Any
    """The canonical value, converted measurement, count or operated string; the raw value itself
    when ``matched`` is false."""
    raw: Any
    """The raw value it came from (the first one, when duplicates were merged)."""
    method: str
    """exact, alias, casefold, contains, fuzzy, words, otherwise (vocabulary); unit; number; op
    (string operations only); none (no x-normalize block: passed through); unmatched."""
    score: float
    """1.0 for deterministic methods; contains/fuzzy scores in [0, 1]; for unmatched, the best
    fuzzy score seen (0 when none)."""
    matched: bool
    unit: str | None = None
    """The unit of a measurement, when it has one (also when the value is a bare number)."""
    properties: dict[str, Any] | None = None
    """The vocabulary entry's properties (a colour's ``hex``), when it has any."""
    nearest: str | None = None
    """For unmatched vocabulary values: the closest canonical, below the cutoff or margin."""
    merged: tuple[Any, ...] = ()
    """Other raw values that normalized to the same value and were merged into this one."""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"value": self.value, "raw": self.raw, "method": self.method,
                               "score": self.score, "matched": self.matched}
        if self.unit is not None:
            out["unit"] = self.unit
        if self.properties:
            out["properties"] = self.properties
        if self.nearest is not None:
            out["nearest"] = self.nearest
        if self.merged:
            out["merged"] = list(self.merged)
        return out


@dataclass
class _Compiled:
    spec: NormalizeSpec
    ops: list[Op]
    vocab: Vocabulary | None
    unit: UnitReader | None
    count: CountReader | None


def _compile(spec: NormalizeSpec, base_dir: Path | None) -> _Compiled:
    def load(ref: str) -> Vocabulary:
        try:
            return load_vocab(ref, base_dir)
        except NormalizationError as exc:
            raise NormalizationError(f"attribute {spec.attribute!r}: {exc}") from exc

    vocab = Vocabulary.merged([load(r) for r in spec.vocab]) if spec.vocab else None
    for key, canonical in (("several/value", spec.match.several_value), ("otherwise", spec.match.otherwise)):
        if vocab is not None and canonical and canonical not in vocab:
            raise NormalizationError(f"attribute {spec.attribute!r}, x-normalize/match/{key}: "
                                     f"{canonical!r} is not a canonical of {vocab.source}")
    unit = UnitReader(spec.unit, spec.attribute) if spec.unit else None
    count = None
    if spec.number:
        count = CountReader(spec.number.words, spec.number.builtin_words, spec.number.thousands_suffix)
    return _Compiled(spec, compile_ops(spec.ops, load), vocab, unit, count)


@dataclass
class NormalizeStats:
    """What ``normalize_file`` did."""

    records: int = 0
    bad_lines: int = 0
    methods: Counter[str] = field(default_factory=Counter)
    unmatched: Counter[str] = field(default_factory=Counter)
    """Unmatched values per attribute."""


class Normalizer:
    """Normalizes values attribute by attribute, following each attribute's NormalizeSpec."""

    def __init__(self, specs: Mapping[str, NormalizeSpec], *, schema: Schema | None = None,
                 base_dir: Path | None = None) -> None:
        """``base_dir`` is where relative vocabulary paths are looked up (the schema's folder)."""
        self.schema = schema
        self.specs = dict(specs)
        self._compiled = {name: _compile(spec, base_dir) for name, spec in self.specs.items()}

    @classmethod
    def from_schema(cls, schema: Schema, base_dir: Path | None = None) -> Normalizer:
        """A normalizer for every attribute of ``schema`` that has an ``x-normalize`` block."""
        if base_dir is None and schema.path is not None:
            base_dir = schema.path.parent
        specs = {a.name: parse_spec(a.normalize, a.name) for a in schema.attributes if a.normalize is not None}
        return cls(specs, schema=schema, base_dir=base_dir)

    def _check_attribute(self, attribute: str) -> None:
        if self.schema is not None and attribute not in self.schema.names:
            raise NormalizationError(f"attribute {attribute!r} is not in schema {self.schema.name!r}")

    def normalize_value(self, attribute: str, raw: Any) -> NormalizedValue | None:
        """Normalize one raw value of ``attribute``; None stays None."""
        self._check_attribute(attribute)
        if raw is None:
            return None
        compiled = self._compiled.get(attribute)
        if compiled is None or isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
            return NormalizedValue(raw, raw, "none", 1.0, True)
        text = raw if isinstance(raw, str) else str(raw)
        work = apply_ops(compiled.ops, text) if text.strip() else None
        if work is None:
            return NormalizedValue(raw, raw, "unmatched", 0.0, False)
        miss = None
        if compiled.vocab is not None:
            found = compiled.vocab.match(work, compiled.spec.match)
            if found.entry is not None:
                return NormalizedValue(found.entry.canonical, raw, found.method, found.score, True,
                                       properties=found.entry.properties or None)
            miss = found
        if compiled.unit is not None:
            result = compiled.unit.read(work)
            if result is not None:
                return NormalizedValue(result.value, raw, "unit", 1.0, True, unit=result.unit)
        elif compiled.count is not None:
            number = compiled.spec.number
            count = compiled.count.read(work, number.several) if number else None
            if count is not None:
                return NormalizedValue(to_plain(count, number.precision if number else None), raw, "number", 1.0, True)
        elif miss is None:
            return NormalizedValue(work, raw, "op", 1.0, True)
        if miss is not None and compiled.spec.match.otherwise:
            return NormalizedValue(compiled.spec.match.otherwise, raw, "otherwise", 0.0, True)
        return NormalizedValue(raw, raw, "unmatched", miss.score if miss else 0.0, False,
                               nearest=miss.nearest if miss else None)

    def normalize_values(self, attribute: str, raws: list[Any]) -> list[NormalizedValue]:
        """Normalize a list of values and merge the ones that end up equal (first one kept)."""
        out: list[NormalizedValue] = []
        index: dict[str, int] = {}
        for raw in raws:
            item = self.normalize_value(attribute, raw)
            if item is None:
                continue
            key = json.dumps([item.matched, item.value, item.unit], sort_keys=True, default=str)
            if key in index:
                first = out[index[key]]
                out[index[key]] = dataclasses.replace(first, merged=first.merged + (raw,))
            else:
                index[key] = len(out)
                out.append(item)
        return out

    def normalize_attributes(self, attributes: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """The ``normalized`` mapping for a record's attributes, and warnings about dropped ones.

        With a schema, the result has every schema attribute in schema order (None when absent)
        and attributes outside the schema are dropped with a warning."""
        names = self.schema.names if self.schema is not None else list(attributes)
        warnings = [f"normalization dropped attribute {k!r}: not in schema {self.schema.name!r}"
                    for k in attributes if self.schema is not None and k not in names]
        normalized: dict[str, Any] = {}
        for name in names:
            raw = attributes.get(name)
            if isinstance(raw, list):
                normalized[name] = [v.to_dict() for v in self.normalize_values(name, raw)]
            else:
                item = self.normalize_value(name, raw)
                normalized[name] = None if item is None else item.to_dict()
        return normalized, warnings

    def normalize_record(self, record: Record) -> Record:
        """A copy of ``record`` with ``normalized`` filled in (error records are returned as they are)."""
        if record.error is not None:
            return record
        normalized, warnings = self.normalize_attributes(record.attributes)
        return dataclasses.replace(record, normalized=normalized, warnings=record.warnings + warnings)

    def normalize_record_dict(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """The same for a record as written to JSONL (``Record.to_dict`` shape)."""
        out = dict(record)
        attributes = record.get("attributes")
        if not isinstance(attributes, dict):
            raise NormalizationError("a record needs an 'attributes' object")
        if record.get("error"):
            return out
        normalized, warnings = self.normalize_attributes(attributes)
        out["normalized"] = normalized
        if warnings:
            out["warnings"] = list(record.get("warnings") or []) + warnings
        return out


def normalize_file(source: Path, target: Path | str, normalizer: Normalizer,
                   on_line: Callable[[], None] | None = None) -> NormalizeStats:
    """Normalize a JSONL file of records into another (``-``: standard output), one output line per
    input line: a line that is not a record (blank, not JSON, not UTF-8, values no record holds)
    becomes an error line, so input and output line up. Streams (files larger than memory),
    writing ``<target>.partial`` and moving it into place at the end, so a file unreadable halfway
    leaves no half output behind and a file can be normalized in place. ``on_line`` is called after
    each line is written (a progress bar)."""
    import sys

    from ..io import check_output
    from ..lines import dump_line, read_lines

    stats = NormalizeStats()
    if str(target) != "-":
        Path(target).parent.mkdir(parents=True, exist_ok=True)
    check_output(target)
    try:
        with written_whole(target) as partial:
            out = sys.stdout if partial == "-" else open(partial, "w", encoding="utf-8")
            try:
                for line in read_lines(source):
                    result = _normalize_line(normalizer, line.text, line.number, stats, line.error)
                    out.write(dump_line(result))
                    out.flush()
                    if on_line is not None:
                        on_line()
            finally:
                if out is not sys.stdout:
                    out.close()
    except OSError as exc:
        raise InputError(f"cannot normalize {source} into {target}: {exc}") from exc
    return stats


def _normalize_line(normalizer: Normalizer, line: str, number: int, stats: NormalizeStats,
                    undecoded: str | None = None) -> dict[str, Any]:
    """One line's normalized record, or its error line; counted into ``stats``."""
    from ..lines import parse_line

    record, error = (None, undecoded or "empty line") if undecoded or not line.strip() else parse_line(line)
    result: dict[str, Any] | None = None
    if error is None:
        try:
            if not isinstance(record, dict):
                raise NormalizationError("a record must be a JSON object")
            if "attributes" in record:
                check_values(record["attributes"])  # values an engine writes, or the line is refused
            result = normalizer.normalize_record_dict(record)
        except NormalizationError as exc:
            error = str(exc)
        except (KeyError, ValueError, TypeError) as exc:
            error = f"not a record ({type(exc).__name__}: {exc})"
    if result is None:
        stats.bad_lines += 1
        ident = record.get("id") if isinstance(record, dict) else None
        result = {"id": ident, "status": "failed", "attributes": {},
                  "error": f"line {number}: {error}"}
    stats.records += 1
    for name, value in (result.get("normalized") or {}).items():
        for item in value if isinstance(value, list) else [value]:
            if item is None:
                continue
            stats.methods[item["method"]] += 1
            if not item["matched"]:
                stats.unmatched[name] += 1
    return result
