"""Measurements in product text: read them, convert them with pint, write them back.

Reads single values (``4In``, ``16-lb.``, ``18-GB``), inch and foot marks (``4"``, ``3'``), fractions
and mixed fractions (``2 1/2 in``, ``13-1/2"``), compounds (``6 ft 9 in``, ``6'9"``), ranges
(``56" - 62"``, ``1-1/4" to 2-1/2"``), dimensions (``10 x 20 cm``), counts times quantities
(``2 x 4GB``), alternatives (``160/320-GB``) and several unrelated quantities in one value. A
UnitSpec decides what to keep of each; see docs/normalization.md."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ..errors import NormalizationError
from .numbers import NUMBER, parse_number, to_plain
from .spec import UnitSpec

_UNITS: dict[str, tuple[str, tuple[str, ...]]] = {
    # pint name: (dimension, spellings; matched case-insensitively, longest first)
    "inch": ("length", ("in", "inch", "inches", '"', "''", "”", "″")),
    "foot": ("length", ("ft", "foot", "feet", "'", "’", "′")),
    "yard": ("length", ("yd", "yds", "yard", "yards")),
    "millimeter": ("length", ("mm", "millimeter", "millimeters", "millimetre", "millimetres")),
    "centimeter": ("length", ("cm", "cms", "centimeter", "centimeters", "centimetre", "centimetres")),
    "meter": ("length", ("m", "meter", "meters", "metre", "metres", "mtr")),
    "kilometer": ("length", ("km", "kilometer", "kilometers", "kilometre", "kilometres")),
    "mile": ("length", ("mi", "mile", "miles")),
    "milligram": ("mass", ("mg", "milligram", "milligrams")),
    "gram": ("mass", ("g", "gm", "gms", "gr", "gram", "grams", "gramme", "grammes")),
    "kilogram": ("mass", ("kg", "kgs", "kilo", "kilos", "kilogram", "kilograms")),
    "pound": ("mass", ("lb", "lbs", "pound", "pounds")),
    "ounce": ("mass", ("oz", "ounce", "ounces")),
    "carat": ("mass", ("ct", "carat", "carats", "ctw")),
    "milliliter": ("volume", ("ml", "milliliter", "milliliters", "millilitre", "millilitres", "cc")),
    "centiliter": ("volume", ("cl", "centiliter", "centiliters", "centilitre", "centilitres")),
    "liter": ("volume", ("l", "ltr", "liter", "liters", "litre", "litres")),
    "fluid_ounce": ("volume", ("fl oz", "fl. oz", "fl.oz", "floz", "fluid ounce", "fluid ounces")),
    "gallon": ("volume", ("gal", "gallon", "gallons")),
    "quart": ("volume", ("qt", "quart", "quarts")),
    "pint": ("volume", ("pt", "pint", "pints")),
    "cup": ("volume", ("cup", "cups")),
    "byte": ("information", ("byte", "bytes")),
    "kilobyte": ("information", ("kb", "kbyte", "kilobyte", "kilobytes")),
    "megabyte": ("information", ("mb", "mbyte", "megabyte", "megabytes")),
    "gigabyte": ("information", ("gb", "gbyte", "gig", "gigs", "gigabyte", "gigabytes")),
    "terabyte": ("information", ("tb", "tbyte", "terabyte", "terabytes")),
    "petabyte": ("information", ("pb", "petabyte", "petabytes")),
    "hertz": ("frequency", ("hz", "hertz")),
    "kilohertz": ("frequency", ("khz", "kilohertz")),
    "megahertz": ("frequency", ("mhz", "megahertz")),
    "gigahertz": ("frequency", ("ghz", "gigahertz")),
    "revolutions_per_minute": ("frequency", ("rpm", "revolutions per minute")),
    "watt": ("power", ("w", "watt", "watts")),
    "kilowatt": ("power", ("kw", "kilowatt", "kilowatts")),
    "horsepower": ("power", ("hp", "horsepower")),
    "volt": ("voltage", ("v", "volt", "volts")),
    "ampere": ("current", ("a", "amp", "amps", "ampere", "amperes")),
    "milliampere": ("current", ("ma", "milliamp", "milliamps", "milliampere", "milliamperes")),
    "square_inch": ("area", ("sq in", "sq. in.", "sq in.", "square inch", "square inches", "in2")),
    "square_foot": ("area", ("sq ft", "sq. ft.", "sq ft.", "sqft", "square foot", "square feet", "ft2")),
    "square_meter": ("area", ("sq m", "m2", "m²", "square meter", "square meters", "square metre")),
}
DIMENSION_OF = {name: dim for name, (dim, _) in _UNITS.items()}
SPELLINGS = {s: name for name, (_, spellings) in _UNITS.items() for s in spellings}
_SYMBOLS = {"byte": "bytes", "fluid_ounce": "fl oz", "cup": "cup", "square_inch": "sq in", "square_foot": "sq ft",
            "square_meter": "m²", "revolutions_per_minute": "rpm", "liter": "L", "milliliter": "mL"}
_PLURALS = {"inch": "inches", "foot": "feet", "revolutions_per_minute": "revolutions per minute",
            "square_inch": "square inches", "square_foot": "square feet", "square_meter": "square meters"}
_PINT_NAMES = {"square_meter": "meter ** 2"}
# Only these read as one quantity when written side by side ("6 ft 9 in", "5 lb 3 oz"); other
# neighbours ("12 oz 340 g") are the same amount said twice.
_COMPOUNDS = {("yard", "foot"), ("yard", "inch"), ("foot", "inch"), ("pound", "ounce"),
              ("meter", "centimeter"), ("kilogram", "gram"), ("gallon", "quart")}


@lru_cache(maxsize=1)
def registry() -> Any:
    """The one pint registry (building it takes a noticeable moment, so only when a unit is first converted)."""
    import pint

    return pint.UnitRegistry()


@lru_cache(maxsize=1024)
def factor(source: str, target: str) -> float:
    """How many ``target`` in one ``source`` (both pint names of multiplicative units), from pint."""
    reg = registry()
    return float(reg.Quantity(1.0, _PINT_NAMES.get(source, source)).to(_PINT_NAMES.get(target, target)).magnitude)


@lru_cache(maxsize=256)
def symbol(name: str) -> str:
    if name in _SYMBOLS:
        return _SYMBOLS[name]
    return format(registry().Unit(name), "~")


def long_name(name: str, value: float) -> str:
    if value == 1 or name.endswith(("hertz", "horsepower")):
        return name.replace("_", " ")
    return _PLURALS.get(name, name.replace("_", " ") + "s")


@dataclass(frozen=True)
class Quantity:
    value: float
    unit: str | None
    """pint name, or None when the text gave no unit."""
    start: int
    end: int


@dataclass
class _Group:
    kind: str  # single, range, dims, alt
    members: list[Quantity]

    @property
    def start(self) -> int:
        return self.members[0].start

    @property
    def end(self) -> int:
        return self.members[-1].end


@dataclass(frozen=True)
class UnitResult:
    """What the unit stage made of a value."""

    value: int | float | str
    unit: str | None
    """Symbol of the unit the value is in (``cm``), when there is exactly one."""


_RANGE = re.compile(r"^\s*(?:-|–|—|~|to)\s*$", re.IGNORECASE)
_DIMS = re.compile(r"^\s*(?:x|×|by|\*)\s*$", re.IGNORECASE)
_ALT = re.compile(r"^\s*/\s*$")
_PARENS = re.compile(r"\([^()]*\)")


def _resolve(spelling: str, table: dict[str, str], what: str) -> str:
    name = table.get(spelling.lower()) or (spelling if spelling in DIMENSION_OF else None)
    if name is None:
        raise NormalizationError(f"unknown unit {spelling!r} in {what} (known: {', '.join(sorted(SPELLINGS))})")
    return name


class UnitReader:
    """A UnitSpec compiled: the spellings it knows, its target unit, and its policies."""

    def __init__(self, spec: UnitSpec, attribute: str = "") -> None:
        self.spec = spec
        where = f"attribute {attribute!r}, x-normalize/unit" if attribute else "x-normalize/unit"
        table = dict(SPELLINGS)
        for extra, known in spec.aliases.items():
            table[extra.lower()] = _resolve(known, SPELLINGS, f"{where}/aliases")
        self.table = table
        self.target = _resolve(spec.to, table, f"{where}/to") if spec.to else None
        self.default = _resolve(spec.default, table, f"{where}/default") if spec.default else None
        for name, key in ((self.target, "to"), (self.default, "default")):
            if name is not None and DIMENSION_OF[name] not in spec.dimensions:
                raise NormalizationError(f"{where}/{key}: {name} is a {DIMENSION_OF[name]} unit, not "
                                         f"{' or '.join(spec.dimensions)}")
        self.labels = {_resolve(k, table, f"{where}/labels"): v for k, v in spec.labels.items()}
        self.factors: dict[str, tuple[float, str]] = {}
        for source, amount in spec.factors.items():
            parts = amount.split(None, 1)
            number = parse_number(parts[0]) if parts else None
            if number is None or len(parts) != 2:
                raise NormalizationError(f"{where}/factors/{source}: write the factor as '<number> <unit>', "
                                         f"not {amount!r}")
            src, dst = _resolve(source, table, f"{where}/factors"), _resolve(parts[1], table, f"{where}/factors")
            if DIMENSION_OF[src] != DIMENSION_OF[dst]:
                raise NormalizationError(f"{where}/factors/{source}: {src} and {dst} are different dimensions")
            self.factors[src] = (number, dst)
        alpha = sorted((s for s in table if s[0].isalnum()), key=len, reverse=True)
        marks = sorted((s for s in table if not s[0].isalnum()), key=len, reverse=True)
        unit_re = "|".join([rf"(?:{'|'.join(re.escape(s) for s in alpha)})\.?(?![A-Za-z0-9])"]
                           + [re.escape(s) for s in marks])
        # Letters may not touch a number's left side ("L2 cache"), except the x of "2x4GB".
        self._pattern = re.compile(rf"(?<![A-WYZa-wyz0-9.,])(?P<num>{NUMBER})(?:\s*-?\s*(?P<unit>{unit_re}))?",
                                   re.IGNORECASE)

    # --- reading ---------------------------------------------------------------------------

    def quantities(self, text: str) -> list[Quantity]:
        found = []
        for m in self._pattern.finditer(text):
            value = parse_number(m.group("num"))
            if value is None:
                continue
            unit = m.group("unit")
            name = None
            if unit:
                name = self.table.get(unit.lower()) or self.table.get(unit.lower().rstrip("."))
            found.append(Quantity(value, name, m.start(), m.end()))
        return self._compounds(text, found)

    def _compounds(self, text: str, found: list[Quantity]) -> list[Quantity]:
        out: list[Quantity] = []
        for q in found:
            prev = out[-1] if out else None
            if prev is not None and prev.unit and not text[prev.end:q.start].strip():
                unit = q.unit or ("inch" if prev.unit == "foot" else None)
                if unit and (prev.unit, unit) in _COMPOUNDS:
                    out[-1] = Quantity(prev.value * factor(prev.unit, unit) + q.value, unit, prev.start, q.end)
                    continue
            out.append(q)
        return out

    def groups(self, text: str) -> list[_Group]:
        groups: list[_Group] = []
        prev: Quantity | None = None
        for q in self.quantities(text):
            kind = None
            if prev is not None:
                gap = text[prev.end:q.start]
                kind = "range" if _RANGE.match(gap) else "dims" if _DIMS.match(gap) else "alt" if _ALT.match(gap) else None
            current = groups[-1] if groups else None
            if kind and current is not None and current.kind in ("single", kind):
                current.kind = kind
                current.members.append(q)
            else:
                groups.append(_Group("single", [q]))
            prev = q
        inside = [(m.start(), m.end()) for m in _PARENS.finditer(text)]
        if inside:
            outside = [g for g in groups if not any(s <= g.start < e for s, e in inside)]
            if outside:
                groups = outside
        return groups

    # --- reducing and converting ----------------------------------------------------------

    def _fill_units(self, group: _Group) -> list[Quantity] | None:
        members = group.members
        if group.kind == "dims" and self.spec.dims == "product":
            return members
        if not any(m.unit for m in members):
            if self.default is None:
                return None
            return [Quantity(m.value, self.default, m.start, m.end) for m in members]
        filled = []
        for i, m in enumerate(members):
            unit = m.unit or next((n.unit for n in members[i + 1:] if n.unit), None) or next(
                (n.unit for n in reversed(members[:i]) if n.unit), None)
            filled.append(Quantity(m.value, unit, m.start, m.end))
        return filled

    def _convert(self, value: float, unit: str) -> tuple[float, str] | None:
        if DIMENSION_OF[unit] not in self.spec.dimensions:
            return None
        if unit in self.factors:
            amount, via = self.factors[unit]
            value, unit = value * amount, via
        if self.target is None or self.target == unit:
            return value, unit
        return value * factor(unit, self.target), self.target

    def _reduce(self, group: _Group) -> list[tuple[float, str]] | None:
        """The values a group stands for, converted, or None when it cannot be read."""
        members = self._fill_units(group)
        if members is None:
            return None
        if group.kind == "dims" and self.spec.dims == "product":
            units = [m.unit for m in members if m.unit] or ([self.default] if self.default else [])
            if len(units) != 1:
                return None
            product = 1.0
            for m in members:
                product *= m.value
            converted = self._convert(product, units[0])
            return None if converted is None else [converted]
        values = []
        for m in members:
            if m.unit is None:
                return None
            converted = self._convert(m.value, m.unit)
            if converted is None:
                return None
            values.append(converted)
        policy = {"range": self.spec.range, "dims": self.spec.dims}.get(group.kind, "keep")
        if policy in ("keep", "each") or len(values) == 1:
            return values
        if policy == "first":
            return values[:1]
        if policy == "last":
            return values[-1:]
        unit = values[0][1]
        common = [v * factor(u, unit) for v, u in values]
        if policy == "max":
            return [values[common.index(max(common))]]
        if policy == "min":
            return [values[common.index(min(common))]]
        return [(sum(common) / len(common), unit)]  # mean

    # --- writing ---------------------------------------------------------------------------

    def _number_text(self, value: float) -> str:
        precision = self.spec.precision
        if precision is not None:
            return f"{round(value, precision):.{precision}f}"
        return str(to_plain(value, None))

    def _unit_text(self, unit: str, value: float) -> str:
        if unit in self.labels:
            return self.labels[unit]
        return long_name(unit, value) if self.spec.format == "name" else symbol(unit)

    def _render(self, group: _Group, values: list[tuple[float, str]]) -> str:
        joiner = {"range": "-", "dims": " x ", "alt": "/"}.get(group.kind, " ")
        numbers = [self._number_text(v) for v, _ in values]
        if self.spec.format == "number":
            return joiner.join(numbers)
        same_unit = len({u for _, u in values}) == 1
        written_once = sum(1 for m in group.members if m.unit) <= 1 or group.kind == "dims"
        if same_unit and (written_once or len(values) == 1):
            return f"{joiner.join(numbers)} {self._unit_text(values[-1][1], values[-1][0])}"
        return joiner.join(f"{n} {self._unit_text(u, v)}" for n, (v, u) in zip(numbers, values))

    def read(self, text: str) -> UnitResult | None:
        """Normalize one value according to the spec, or None when it holds no usable measurement."""
        reduced = [(g, self._reduce(g)) for g in self.groups(text)]
        usable = [(g, r) for g, r in reduced if r]
        if not usable:
            return None
        several = self.spec.several
        if several == "each":
            out, pos = [], 0
            for g, r in usable:
                out.append(text[pos:g.start])
                out.append(self._render(g, r))
                pos = g.end
            out.append(text[pos:])
            return UnitResult(" ".join("".join(out).split()), self._single_unit([r for _, r in usable]))
        if several in ("sum", "max") and len(usable) > 1 and all(len(r) == 1 for _, r in usable):
            unit = usable[0][1][0][1]
            common = [r[0][0] * factor(r[0][1], unit) for _, r in usable]
            total = sum(common) if several == "sum" else max(common)
            group, values = usable[0][0], [(total, unit)]
        else:
            group, values = usable[0]
        if len(values) == 1 and self.spec.format == "number":
            value, unit = values[0]
            return UnitResult(to_plain(value, self.spec.precision), symbol(unit))
        return UnitResult(self._render(group, values), self._single_unit([values]))

    @staticmethod
    def _single_unit(all_values: list[list[tuple[float, str]]]) -> str | None:
        units = {u for values in all_values for _, u in values}
        return symbol(units.pop()) if len(units) == 1 else None
