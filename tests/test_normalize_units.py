"""Tests for extractor.normalize.units and numbers: reading numbers, counts and measurements."""

from __future__ import annotations

from typing import Any

import pytest

from extractor.errors import NormalizationError
from extractor.normalize.numbers import CountReader, parse_number, to_plain
from extractor.normalize.spec import parse_spec
from extractor.normalize.units import _UNITS, UnitReader, factor


def reader(**unit: Any) -> UnitReader:
    spec = parse_spec({"unit": unit}, "A").unit
    assert spec is not None
    return UnitReader(spec, "A")


@pytest.mark.parametrize("text,value", [
    ("12", 12.0), ("1,000", 1000.0), ("12,500.5", 12500.5), (".75", 0.75), ("3/4", 0.75), ("11/16", 0.6875),
    ("2 1/2", 2.5), ("2-1/2", 2.5), ("13-3/8", 13.375), ("3 9/10", 3.9),
    ("160/320", None), ("5/4", None), ("abc", None),
])
def test_parse_number(text: str, value: float | None) -> None:
    assert parse_number(text) == value


@pytest.mark.parametrize("value,precision,out", [
    (7.0, None, 7), (2.54 * 3, None, 7.62), (2 * 1000.0000000000001, None, 2000), (1234567.0, None, 1234567), (61.0, 1, 61.0), (6.35, 1, 6.3), (340.19, 0, 340), (0.25, 1, 0.2),
])
def test_to_plain(value: float, precision: int | None, out: int | float) -> None:
    assert to_plain(value, precision) == out
    assert type(to_plain(value, precision)) is type(out)


# --- counts ----------------------------------------------------------------------------------------

COUNTS = [
    ("50/Pack", "first", 50), ("Box of 50", "first", 50), ("1,000 per carton", "first", 1000),
    ("100 Sheets/Pad, 12 Pads/Pack", "first", 100), ("trio", "first", 3), ("One dozen", "first", 1),
    ("Dozen", "first", 12), ("Quad-Core", "first", 4), ("single port", "first", 1),
    ("Dual Port (DP)", "first", 2), ("2-ports int / 4-ports ext", "sum", 6), ("8 + 8 ports", "sum", 16),
    ("3 pack, 6 count", "max", 6), ("no number here", "first", None),
]


@pytest.mark.parametrize("text,several,value", COUNTS)
def test_counts(text: str, several: str, value: float | None) -> None:
    assert CountReader().read(text, several) == value


@pytest.mark.parametrize("text,value", [("7.2K", 7200), ("10k RPM", 10000), ("15K rpm", 15000), ("5400 RPM", 5400)])
def test_thousands_suffix(text: str, value: int) -> None:
    assert CountReader(thousands_suffix=True).read(text) == value


def test_k_is_not_thousands_unless_asked() -> None:
    assert CountReader().read("7.2K") == 7.2


def test_extra_words_and_no_builtin_words() -> None:
    assert CountReader({"DP": 2}).read("DP") == 2
    assert CountReader(builtin_words=False).read("dual") is None
    # "G8" is a name, not a count.
    assert CountReader().read("G8 server") is None


# --- measurements ------------------------------------------------------------------------------

LENGTH_CM = dict(dimension="length", to="cm", default="in", precision=1, format="number")
LENGTHS = [
    ("4In", 10.2), ('4"', 10.2), ("4 in.", 10.2), ("4 inches", 10.2), ("48-in", 121.9), ("24", 61.0),
    ('.70"', 1.8), ('11/32"', 0.9), ("2 1/2 in", 6.3), ('13-1/2"', 34.3), ("8 1/2", 21.6), ("3'", 91.4),
    ("6 ft 9 in", 205.7), ("6'9\"", 205.7), ("5' 6", 167.6), ("60 yds", 5486.4), ("18mm", 1.8), ("55m", 5500.0),
    ('56" - 62"', 157.5), ('1-1/4" to 2-1/2"', 6.3), ('30" - 35', 88.9), ("17-22", 55.9),
    ("1.5 m", 150.0), ("0.5 km", 50000.0), ("12 cm", 12.0),
]


@pytest.mark.parametrize("text,cm", LENGTHS)
def test_lengths_to_cm(text: str, cm: float) -> None:
    result = reader(**LENGTH_CM).read(text)
    assert result is not None and result.value == cm and result.unit == "cm"


@pytest.mark.parametrize("policy,value", [("max", 157.5), ("min", 142.2), ("mean", 149.9), ("first", 142.2),
                                          ("last", 157.5), ("keep", "142.2-157.5")])
def test_range_policies(policy: str, value: Any) -> None:
    assert reader(**LENGTH_CM, range=policy).read('56" - 62"').value == value


@pytest.mark.parametrize("policy,value", [("each", "25.4 x 50.8 cm"), ("max", "50.8 cm"), ("first", "25.4 cm")])
def test_dimension_policies(policy: str, value: str) -> None:
    assert reader(dimension="length", to="cm", precision=1, dims=policy).read("10 x 20 in").value == value


def test_dimensions_keep_one_unit_written_once() -> None:
    assert reader(dimension="length").read("10 x 20 cm").value == "10 x 20 cm"
    assert reader(dimension="length", to="mm").read("10 x 20 x 5 cm").value == "100 x 200 x 50 mm"


MEASURES: list[tuple[dict[str, Any], str, Any]] = [
    (dict(dimension="mass", to="g", precision=0, format="number"), "12 oz", 340),
    (dict(dimension="mass", to="g", precision=0, format="number"), "1 3/4oz", 50),
    (dict(dimension="mass", to="g", precision=0, format="number"), "10lbs", 4536),
    (dict(dimension="mass", to="kg", precision=1), "5 lb 3 oz", "2.4 kg"),
    (dict(dimension="mass", to="kg", precision=1, format="number", factors={"lb": "0.453 kg"}), "65 lb", 29.4),
    (dict(dimension="mass", to="kg", precision=1, format="number"), "65 lb", 29.5),
    (dict(dimension="volume", to="ml", precision=0), "16.9 fl oz", "500 mL"),
    (dict(dimension="volume", to="l", precision=2), "1 gallon", "3.79 L"),
    (dict(dimension="information"), "18-GB", "18 GB"),
    (dict(dimension="information", format="name"), "1.5TB", "1.5 terabytes"),
    (dict(dimension="information", to="GB"), "2 TB", "2000 GB"),
    (dict(dimension="information", dims="product"), "2 x 4GB", "8 GB"),
    (dict(dimension="information", dims="product"), "1x4GB", "4 GB"),
    (dict(dimension="information", format="name", labels={"GB": "Gigabytes"}), "160/320-GB", "160/320 Gigabytes"),
    (dict(dimension="information", format="name", labels={"GB": "Gigabytes"}), "160GB/230GB",
     "160 Gigabytes/230 Gigabytes"),
    (dict(dimension="information", several="each"), "4MB L2 cache, 8MB L3 cache", "4 MB L2 cache, 8 MB L3 cache"),
    (dict(dimension="information", several="sum"), "4MB L2 cache, 8MB L3 cache", "12 MB"),
    (dict(dimension="information", several="max"), "4MB L2 cache, 8MB L3 cache", "8 MB"),
    (dict(dimension="information", default="MB", format="name"), "256", "256 megabytes"),
    (dict(dimension="information", aliases={"K": "KB"}), "512K", "512 kB"),
    (dict(dimension="frequency", to="GHz"), "2400 MHz", "2.4 GHz"),
    (dict(dimension="frequency"), "3.2GHz", "3.2 GHz"),
    (dict(dimension="power", format="name", labels={"W": "Watts"}), "1000W", "1000 Watts"),
    (dict(dimension="power", to="W"), "1.5 kW", "1500 W"),
    (dict(dimension=["information", "power"]), "750W", "750 W"),
    (dict(dimension="mass", to="kg", precision=1, format="number", aliases={"g/m2": "g"}), "300g/m2", 0.3),
    (dict(dimension="mass", to="kg", precision=1, format="number"), "20 lbs. (75 g)", 9.1),
]


@pytest.mark.parametrize("unit,text,value", MEASURES)
def test_measurements(unit: dict[str, Any], text: str, value: Any) -> None:
    result = reader(**unit).read(text)
    assert result is not None and result.value == value


@pytest.mark.parametrize("unit,text", [
    (dict(dimension="mass", to="g"), "5in"),
    (dict(dimension="length", to="cm"), "24"),
    (dict(dimension="length", to="cm", default="in"), "Dual-Height"),
    (dict(dimension="length", to="cm", default="in"), ""),
    (dict(dimension="information"), "L2 cache"),
])
def test_unreadable_values_give_none(unit: dict[str, Any], text: str) -> None:
    assert reader(**unit).read(text) is None


@pytest.mark.parametrize("unit,message", [
    (dict(dimension="length", to="parsec"), "unknown unit 'parsec' in attribute 'A', x-normalize/unit/to"),
    (dict(dimension="length", to="kg"), "x-normalize/unit/to: kilogram is a mass unit, not length"),
    (dict(dimension="length", default="GB"), "x-normalize/unit/default: gigabyte is a information unit"),
    (dict(dimension="length", aliases={"zoll": "furlong"}), "unknown unit 'furlong'"),
    (dict(dimension="mass", factors={"lb": "heavy"}), "x-normalize/unit/factors/lb: write the factor"),
    (dict(dimension="mass", factors={"lb": "0.45 m"}), "different dimensions"),
    (dict(dimension="mass", labels={"stone": "st"}), "unknown unit 'stone'"),
])
def test_bad_unit_specs(unit: dict[str, Any], message: str) -> None:
    with pytest.raises(NormalizationError) as info:
        reader(**unit)
    assert message in str(info.value)


def test_factors_come_from_pint() -> None:
    assert factor("inch", "centimeter") == pytest.approx(2.54)
    assert factor("pound", "gram") == pytest.approx(453.59237)
    assert factor("gigabyte", "megabyte") == pytest.approx(1000)


@pytest.mark.parametrize("name", sorted(_UNITS))
@pytest.mark.parametrize("fmt", ["symbol", "name"])
def test_every_unit_reads_back_what_it_writes(name: str, fmt: str) -> None:
    dimension, spellings = _UNITS[name]
    r = reader(dimension=dimension, format=fmt)
    first = r.read(f"2.5 {spellings[0]}")
    assert first is not None
    again = r.read(str(first.value))
    assert again is not None and again.value == first.value
