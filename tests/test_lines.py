"""The one line reader and writer: lines end at \\n only, each decoded on its own, and every
line written is read back as exactly one line, by us and by str.splitlines alike."""

from __future__ import annotations

import codecs
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from extractor.errors import InputError
from extractor.lines import check_encoding, dump_line, lone_surrogate, parse_line, read_lines

# (file bytes, expected lines: text, or ("error", fragment) for a line that does not decode)
LINE_CASES = [
    (b"", []),
    (b"a\nb\n", ["a", "b"]),
    (b"a\nb", ["a", "b"]),  # a last line without its newline is still a line
    (b"a\r\nb\r\n", ["a", "b"]),  # Windows line ends
    (b"a\rb\n", ["a\rb"]),  # a bare CR is inside the line
    ("a\u2028b\u2029c\x85d\x0ce\n".encode(), ["a\u2028b\u2029c\x85d\x0ce"]),  # splitlines would make five
    (b"\n\n", ["", ""]),
    (codecs.BOM_UTF8 + b'{"id": 1}\n', ['{"id": 1}']),
    ("caf\u00e9\nt\u00eate\n".encode("utf-16"), ["caf\u00e9", "t\u00eate"]),  # UTF-16 with its mark
    (codecs.BOM_UTF16_BE + "caf\u00e9\n".encode("utf-16-be"), ["caf\u00e9"]),
    ("caf\u00e9\n\U0001f45f\n".encode("utf-32"), ["caf\u00e9", "\U0001f45f"]),
    (b"ok\ncaf\xe9 au lait\nok 2\n", ["ok", ("error", "byte 0xe9 at byte 4"), "ok 2"]),
    (codecs.BOM_UTF16_LE + "ok".encode("utf-16-le"), ["ok"]),
    (b"x\xc3\n", [("error", "byte 0xc3")]),  # a cut multi-byte character
]


@pytest.mark.parametrize("raw,expected", LINE_CASES)
def test_read_lines(tmp_path: Path, raw: bytes, expected: list) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(raw)
    lines = list(read_lines(path))
    assert [line.number for line in lines] == list(range(1, len(expected) + 1))
    for line, want in zip(lines, expected):
        if isinstance(want, tuple):
            assert line.text == "" and want[1] in line.error and "--encoding" in line.error
        else:
            assert (line.text, line.error) == (want, None)


def test_another_encoding_is_read_when_asked(tmp_path: Path) -> None:
    path = tmp_path / "latin1.jsonl"
    path.write_bytes('{"text": "Caf\u00e9 cr\u00e8me"}\n'.encode("latin-1"))
    [line] = read_lines(path, "latin-1")
    assert json.loads(line.text)["text"] == "Caf\u00e9 cr\u00e8me"
    with pytest.raises(InputError, match="unknown text encoding 'klingon'"):
        check_encoding("klingon")
    with pytest.raises(InputError, match="cannot read"):
        list(read_lines(tmp_path / "absent.jsonl"))


@pytest.mark.parametrize("text,error", [
    ('{"id": "a"}', None),
    ("[" * 50_000 + "]" * 50_000, "nested too deeply"),
    ('{"a":' * 50_000 + "1" + "}" * 50_000, "nested too deeply"),
    ("9" * 5000, "not valid JSON"),  # past Python's digit limit for int()
    ('{"id": "a", ', "not valid JSON"),
    ("NaN", None),  # Python's json reads it; records refuse it later
])
def test_parse_line(text: str, error: str | None) -> None:
    value, why = parse_line(text)
    if error is None:
        assert why is None and value is not None
    else:
        assert value is None and error in why


def test_lone_surrogate_names_the_field() -> None:
    value, _ = parse_line('{"text": "Tee \\udc80", "tags": ["ok", {"\\ud800": 1}]}')
    assert lone_surrogate(value["text"], "field 'text'") == "field 'text' holds a lone surrogate (\\udc80), which is not text"
    assert "\\ud800" in lone_surrogate(value["tags"], "field 'tags'")
    assert lone_surrogate("Tee \U0001f45f", "field 'text'") is None  # a pair is a real character


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(codec=None, categories=None))  # every code point, lone surrogates included
    | st.sampled_from(["\udc80", "Tee\u2028Navy", "a\u2029b", "x\x85y", "cr\rlf", "\ud83d"]),  # the hard ones, often
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=12)


@given(JSON_VALUES)
def test_a_dumped_line_is_one_line_of_utf8_json_for_every_reader(value) -> None:
    line = dump_line(value)
    assert line.endswith("\n") and line.count("\n") == 1
    assert len(line.splitlines()) == 1  # Python's splitlines, which cuts at U+2028 and more
    raw = line.encode("utf-8")  # never a lone surrogate in what is written
    assert json.loads(raw.decode("utf-8")) == value


def test_dump_line_refuses_nan() -> None:
    with pytest.raises(ValueError):
        dump_line({"Weight": float("nan")})
