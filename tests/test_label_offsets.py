"""Python string positions <-> Label Studio's UTF-16 positions (extractor/label/offsets.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from extractor.label.offsets import from_utf16, to_utf16


def utf16_units(text: str) -> int:
    """An independent count: the UTF-16 code units of ``text``, as JavaScript's ``length``."""
    return len(text.encode("utf-16-le")) // 2


@pytest.mark.parametrize(("text", "index", "units"), [
    ("Nike Air", 4, 4),  # ASCII: the same
    ("Café crème", 10, 10),  # accented BMP letters: one unit each
    ("ナイキ 赤", 4, 4),  # CJK in the BMP: one unit each
    ("😀 Nike", 2, 3),  # an emoji before: one more
    ("😀 Nike", 6, 7),
    ("👍🏽 ok", 2, 4),  # emoji with a skin-tone modifier: two astral characters
    ("𠮷野家 Red", 4, 5),  # a CJK character outside the BMP
    ("a\u2028b😀", 4, 5),  # a line separator is one unit; the emoji at the end: end is 5
    ("", 0, 0),
])
def test_python_positions_become_label_studio_positions(text: str, index: int, units: int) -> None:
    assert to_utf16(text, index) == units
    assert from_utf16(text, units) == index


@pytest.mark.parametrize(("text", "unit"), [
    ("😀 Nike", 1),  # between the two halves of the emoji
    ("ab𠮷", 3),
])
def test_a_position_inside_an_astral_character_is_refused(text: str, unit: int) -> None:
    with pytest.raises(ValueError, match="inside the character"):
        from_utf16(text, unit)


@pytest.mark.parametrize(("text", "unit"), [("abc", 4), ("😀", 3), ("abc", -1)])
def test_a_position_outside_the_text_is_refused(text: str, unit: int) -> None:
    with pytest.raises(ValueError, match="outside"):
        from_utf16(text, unit)
    with pytest.raises(ValueError, match="outside"):
        to_utf16(text, unit if unit < 0 else len(text) + 1)


texts = st.text(alphabet=st.sampled_from(list("ab é赤\n") + ["😀", "𠮷", "🎉", "\u2028"]), max_size=30)


@given(texts, st.data())
def test_round_trip_and_agreement_with_utf16_encoding(text: str, data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(text)))
    units = to_utf16(text, index)
    assert units == utf16_units(text[:index])
    assert from_utf16(text, units) == index


@given(texts, st.data())
def test_every_utf16_position_maps_back_or_is_refused_inside_a_character(text: str, data: st.DataObject) -> None:
    unit = data.draw(st.integers(0, utf16_units(text)))
    encoded = text.encode("utf-16-le")
    try:
        index = from_utf16(text, unit)
    except ValueError:
        # only the second half of a surrogate pair lies there (a low surrogate, DC00-DFFF)
        assert 0xDC00 <= int.from_bytes(encoded[2 * unit:2 * unit + 2], "little") <= 0xDFFF
    else:
        assert text[:index].encode("utf-16-le") == encoded[:2 * unit]
