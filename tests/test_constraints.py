"""The byte-level value automata (decoding/constraints.py) and the token index (decoding/tokens.py).

Every table row is driven byte by byte through ``feed``, which also checks that ``next_bytes``
and ``step`` agree at each byte: the token index trusts ``next_bytes`` to enumerate exactly the
bytes ``step`` accepts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from extractor.decoding.constraints import (
    Array,
    FreeString,
    Grounded,
    Literals,
    Number,
    Value,
    WrittenNumber,
    needs_source,
    typed_constraint,
)
from extractor.decoding.tokens import TokenIndex, token_bytes
from extractor.schemas import DRAFT, check_schema


def feed(c: Any, data: bytes, state: Any = None) -> Any:
    """The state after ``data`` (None once a byte is refused), checking next_bytes == step."""
    state = c.start() if state is None else state
    for byte in data:
        offered = byte in c.next_bytes(state)
        nxt = c.step(state, byte)
        assert offered == (nxt is not None), f"next_bytes and step disagree on {bytes([byte])!r} at {state!r}"
        if nxt is None:
            return None
        state = nxt
    return state


def accepts(c: Any, data: bytes) -> bool:
    state = feed(c, data)
    return state is not None and c.accepting(state)


def is_prefix(c: Any, data: bytes) -> bool:
    return feed(c, data) is not None


def q(value: str) -> bytes:
    """A value as the model writes it (json.dumps, non-ASCII kept as UTF-8)."""
    return json.dumps(value, ensure_ascii=False).encode("utf-8")


# --- Grounded ------------------------------------------------------------------------------------

GROUNDED = [
    # (source, written bytes, accepted as a complete value)
    ("NIKE Nike Air", q("Nike"), True),
    ("NIKE Nike Air", q("NIKE"), True),
    ("NIKE Nike Air", q("Nike Air"), True),
    ("NIKE Nike Air", q("NIKE Nike Air"), True),
    ("NIKE Nike Air", q("nike"), False),          # case must match
    ("NIKE Nike Air", q("Nike air"), False),
    ("NIKE Nike Air", q("Nik"), True),            # a word's beginning ("Men" of "Mens")
    ("Mens Jerseys 2XL", q("Men"), True),
    ("Mens Jerseys 2XL", q("Jersey"), True),
    ("Mens Jerseys 2XL", q("Mens Jersey"), True),
    ("Mens Jerseys 2XL", q("2"), False),          # digits are never cut
    ("Samsung 1TB", q("1"), False),
    ("Samsung 1TB", q("1T"), False),              # words with digits stay whole
    ("Samsung T7Pro", q("T7P"), False),
    ("Air-Max", q("Air-M"), True),                # "-" ends a word: "Max" is one of letters
    ("Samsung 1TB 2280", q("228"), False),
    ("NIKE Nike Air", q("ike"), False),           # starts inside a word
    ("NIKE Nike Air", q("Nike  Air"), False),     # spacing as in the source
    ("NIKE Nike Air", q("Nike "), False),         # a space is no valid last character
    ("NIKE Nike Air", q(" Nike"), False),
    ("NIKE Nike Air", q("Adidas"), False),
    ("NIKE Nike Air", b'""', False),
    ("NIKE Nike Air", b"Nike", False),            # must be a JSON string
    ('Levi\'s 501 32" inseam', q('32"'), True),  # the source's quote, escaped
    ('Levi\'s 501 32" inseam', q('32" inseam'), True),
    ('Levi\'s 501 32" inseam', b'"32" inseam"', False),  # an unescaped quote ends the string
    ('Levi\'s 501 32" inseam', q("Levi's"), True),
    ('Levi\'s 501 32" inseam', q("Levi"), True),
    ('Levi\'s 501 32" inseam', q("'s 501"), False),  # a stray mark is no valid first character
    ("Größe 42 Weiß", q("Größe"), True),          # non-ASCII, byte by byte
    ("Größe 42 Weiß", q("Weiß"), True),
    ("Größe 42 Weiß", q("42 Weiß"), True),
    ("Größe 42 Weiß", q("Grö"), True),
    ("Größe 42 Weiß", q("öße"), False),
    ("Größe 42 Weiß", b'"Gr\\u00f6\\u00dfe"', False),  # written as UTF-8, not as \u escapes
    ("Nike\nAir Max", q("Nike\nAir"), True),      # a newline is written as \n
    ("Nike\tAir", q("Nike\tAir"), True),
    ("Nike\nAir Max", b'"Nike\nAir"', False),     # a raw control character is no JSON
    ("a\\b pipe", q("a\\b"), True),               # a backslash is written as \\
    ("$19.99 sale", q("$19.99"), True),           # sign/currency marks may open a value
    ("100% cotton", q("100%"), True),             # closing marks may end one
    ("Blk/Wht tee", q("Blk/"), False),
    ("Blk/Wht tee", q("Blk/Wht"), True),
    ("size (M)", q("(M)"), True),
    ("15.6 inch", q("15.6"), True),
    ("15.6 inch", q("15."), False),
]


@pytest.mark.parametrize("source, written, ok", GROUNDED)
def test_grounded_table(source, written, ok):
    c = Grounded(source)
    assert accepts(c, written) is ok
    if ok:
        value = json.loads(written.decode("utf-8"))
        assert value in source


@pytest.mark.parametrize("source, value, span", [
    ("NIKE Nike Air", "Nike", (5, 9)),
    ("NIKE Nike Air", "NIKE", (0, 4)),
    ("NIKE Nike Air", "Nike Air", (5, 13)),
    ("Größe 42 Weiß", "Weiß", (9, 13)),
    ("Größe 42 Weiß", "42", (6, 8)),
    ('Levi\'s 501 32" inseam', '32" inseam', (11, 21)),
    ("Nike\nAir Max", "Air Max", (5, 12)),
    ("tee tee", "tee", (0, 3)),  # repeated: the first occurrence
])
def test_grounded_span_gives_character_offsets(source, value, span):
    c = Grounded(source)
    state = feed(c, q(value))
    assert c.accepting(state)
    assert c.span(state, value) == span
    assert source[span[0]:span[1]] == value


def test_grounded_span_is_none_before_the_value_closes():
    c = Grounded("Nike Air")
    assert c.span(feed(c, b'"Nike'), "Nike") is None


def test_grounded_has_nothing_to_offer_after_the_closing_quote():
    c = Grounded("Nike Air")
    state = feed(c, q("Nike"))
    assert c.next_bytes(state) == set() and c.step(state, ord(" ")) is None


@pytest.mark.parametrize("source, max_length, value, ok", [
    ("Nike Air Zoom", 8, "Nike Air", True),
    ("Nike Air Zoom", 8, "Nike Air Zoom", False),
    ("Nike Air Zoom", 4, "Nike", True),
    ("Nike Air Zoom", 3, "Nike", False),
    # maxLength counts characters (JSON Schema), not UTF-8 bytes or escape backslashes
    ("Größe 42", 5, "Größe", True),
    ("Größe 42", 4, "Größe", False),
    ('32" inseam', 3, '32"', True),
])
def test_grounded_max_length_counts_characters(source, max_length, value, ok):
    assert accepts(Grounded(source, max_length), q(value)) is ok


@pytest.mark.parametrize("source, written, rest", [
    ("Nike Air", b'"Nike', b'"'),
    ("Nike Air", b'"Nik', b'e"'),                 # finish the word, then close
    ("Größe 42 Weiß", b'"Gr\xc3\xb6', b'\xc3\x9fe"'),
    ('32" inseam', b'"32\\', b'""'),              # mid-escape
])
def test_grounded_close_finishes_the_shortest_way(source, written, rest):
    c = Grounded(source)
    state = feed(c, written)
    assert c.close(state) == rest
    assert accepts(c, written + rest)


@pytest.mark.parametrize("c, written", [
    (Grounded("Größe 42"), b'"Gr\xc3'),
    (Literals([q("Größe"), q("Weiß")]), b'"Gr\xc3'),
    (Value(Literals([q("Größe")])), b' "Gr\xc3'),
    (Array(Literals([q("Größe")]), 2), b'["Gr\xc3'),
    (FreeString(), b'"Gr\xc3'),
])
def test_close_never_starts_inside_a_character(c, written):
    # The closing bytes are fed to the model as text: a continuation byte cannot be.
    assert c.close(feed(c, written)) is None


@pytest.mark.parametrize("c, written", [(Grounded("Nike Air"), b'"'), (FreeString(), b'"')])
def test_close_invents_no_string_the_model_never_began(c, written):
    assert c.close(feed(c, written)) is None


def test_grounded_without_any_closable_span_offers_no_string():
    # "---" has no letter or digit to end on: opening a quote could only lead to a dead end.
    c = Grounded("--- ...")
    assert not is_prefix(c, b'"')
    assert not is_prefix(Value(c), b' "')
    assert accepts(Value(c), b" null")


def test_grounded_never_offers_a_byte_that_leads_nowhere():
    # After "Nike -" only "-" chars remain, which cannot end a value.
    c = Grounded("Nike ---")
    assert is_prefix(c, b'"Nike')
    assert not is_prefix(c, b'"Nike ')


# --- Literals ------------------------------------------------------------------------------------

GENDER = [q("Men"), q("Women"), q("Unisex")]


@pytest.mark.parametrize("written, ok", [
    (q("Men"), True),
    (q("Women"), True),
    (q("Unisex"), True),
    (q("men"), False),
    (q("Wo"), False),
    (q("Menswear"), False),
    (b'"Men" ', False),
    (b"Men", False),
    (b"", False),
])
def test_literals_accept_members_only(written, ok):
    assert accepts(Literals(GENDER), written) is ok


@pytest.mark.parametrize("written, ok", [(b"true", True), (b"false", True), (b"True", False), (b"tru", False),
                                         (b'"true"', False), (b"1", False)])
def test_literals_booleans(written, ok):
    assert accepts(Literals([b"true", b"false"]), written) is ok


@pytest.mark.parametrize("options, written, rest", [
    (GENDER, b"", q("Men")),
    (GENDER, b'"W', b'omen"'),
    (GENDER, b'"U', b'nisex"'),
    ([q("XL"), q("XXL"), q("XXXL")], b'"X', b'L"'),
    ([q("XXL"), q("XL")], b'"XX', b'L"'),
    ([b"true", b"false"], b"", b"true"),
    ([q("Kid"), q("Men")], b"", q("Kid")),  # a tie goes to the first in byte order
])
def test_literals_close_gives_the_shortest_completion(options, written, rest):
    c = Literals(options)
    state = feed(c, written)
    assert c.close(state) == rest
    assert accepts(c, written + rest)


def test_literals_close_is_the_same_in_every_process():
    # Set iteration order of bytes depends on PYTHONHASHSEED; a budget-closed value must not.
    code = ("from extractor.decoding.constraints import Literals; "
            "print(Literals([b'\"%s\"' % w for w in (b'Kid', b'Men', b'Boy', b'Man')]).close(b''))")
    seen = set()
    for seed in ("0", "1", "2", "3"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        seen.add(out.stdout.strip())
    assert seen == {"b'\"Boy\"'"}


# --- Number --------------------------------------------------------------------------------------

@pytest.mark.parametrize("integer, written, ok", [
    (True, b"0", True),
    (True, b"12", True),
    (True, b"-3", True),
    (True, b"1000000", True),
    (True, b"007", False),     # no leading zeros
    (True, b"00", False),
    (True, b"-", False),
    (True, b"--1", False),
    (True, b"+1", False),
    (True, b"1.5", False),     # integers have no fraction
    (True, b"1e3", False),
    (True, b" 1", False),
    (False, b"1.5", True),
    (False, b"0.25", True),
    (False, b"-0.5", True),
    (False, b"42", True),
    (False, b"1.", False),
    (False, b".5", False),
    (False, b"01.5", False),
    (False, b"1.2.3", False),
    (False, b"1,5", False),
])
def test_number_table(integer, written, ok):
    c = Number(integer=integer)
    assert accepts(c, written) is ok
    if ok:
        value = json.loads(written)
        assert isinstance(value, int) if integer else isinstance(value, (int, float))


@pytest.mark.parametrize("integer, written, ok", [
    (True, b"123", True),
    (True, b"1234", False),
    (True, b"-123", True),     # the sign is no digit
    (False, b"1.23", True),
    (False, b"12.34", False),
    (False, b"123.", False),   # no room left for a fraction: the dot must not be offered
])
def test_number_max_digits(integer, written, ok):
    c = Number(integer=integer, max_digits=3)
    assert accepts(c, written) is ok
    if written.endswith(b"."):
        assert not is_prefix(c, written)


def test_number_single_digit_has_no_room_for_a_fraction():
    c = Number(integer=False, max_digits=1)
    assert accepts(c, b"0") and accepts(c, b"7")
    assert not is_prefix(c, b"0.") and not is_prefix(c, b"7.")


@pytest.mark.parametrize("integer, written, rest", [
    (True, b"", b"0"),
    (True, b"-", b"0"),
    (True, b"12", b""),
    (False, b"1.", b"0"),
    (False, b"-", b"0"),
    (False, b"3.14", b""),
])
def test_number_close(integer, written, rest):
    c = Number(integer=integer)
    state = feed(c, written)
    assert c.close(state) == rest
    assert accepts(c, written + rest)


# --- FreeString ----------------------------------------------------------------------------------

@pytest.mark.parametrize("written, ok", [
    (b'"Navy Blu"', True),
    (b'"a\\"b"', True),        # escaped quote
    (b'"a\\\\b"', True),       # escaped backslash
    (b'"a\\/b\\nc\\td"', True),
    (b'"a\\qb"', False),       # no such escape
    (b'"a\\u0041"', False),    # \u escapes are not offered (UTF-8 is written directly)
    (b'""', False),            # an empty string is written as null
    (b'"a"b', False),
    (b'"a\nb"', False),        # raw control characters are no JSON
    (b'"a\\"', False),         # the quote is escaped, the string still open
    ('"Weiß"'.encode(), True),
    ('"€ 5"'.encode(), True),
    ('"👟"'.encode(), True),
    (b'"\xc3"', False),        # a cut UTF-8 sequence
    (b'"\xc3x"', False),
    (b'"\x9f"', False),        # a stray continuation byte
    (b'"\xff"', False),        # never valid in UTF-8
    (b'"\xc0\xaf"', False),    # overlong
    (b'"\xed\xa0\x80"', False),  # a surrogate
])
def test_free_string_table(written, ok):
    c = FreeString()
    assert accepts(c, written) is ok
    if ok:
        assert isinstance(json.loads(written.decode("utf-8")), str)


@pytest.mark.parametrize("value, ok", [("abc", True), ("abcd", False), ('a"b', True), ("ßßß", True),
                                       ("ßßßß", False)])
def test_free_string_max_length_counts_characters(value, ok):
    assert accepts(FreeString(max_length=3), q(value)) is ok


@pytest.mark.parametrize("written, rest", [(b'"ab', b'"'), (b'"', None), (b'"a\\', None)])
def test_free_string_close(written, rest):
    c = FreeString()
    assert c.close(feed(c, written)) == rest


# --- Array ---------------------------------------------------------------------------------------

AB = Literals([q("a"), q("b")])


@pytest.mark.parametrize("item, max_items, written, ok", [
    (AB, 2, b'["a"]', True),
    (AB, 2, b'["a", "b"]', True),
    (AB, 2, b'["a", "a"]', True),
    (AB, 2, b'["a","b"]', False),        # the separator is ", "
    (AB, 2, b'["a", "b", "a"]', False),  # over max_items
    (AB, 2, b"[]", False),               # an empty list is written as null
    (AB, 2, b'["c"]', False),
    (AB, 2, b'"a"', False),
    (Number(integer=True), 3, b"[1, 20, -3]", True),
    (Number(integer=True), 3, b"[1.5]", False),
    (Grounded("Black White Navy"), 4, b'["Black", "Navy"]', True),
    (Grounded("Black White Navy"), 4, b'["Black", "Red"]', False),
])
def test_array_table(item, max_items, written, ok):
    assert accepts(Array(item, max_items), written) is ok


@pytest.mark.parametrize("item, written, rest", [
    (AB, b'["a"', b"]"),
    (AB, b'["', b'a"]'),
    (AB, b'["a", ', b'"a"]'),
    (AB, b'["a",', b' "a"]'),
    (Number(integer=True), b"[1, -", b"0]"),
    (Grounded("Black White"), b'["Bla', b'ck"]'),
])
def test_array_close(item, written, rest):
    c = Array(item, 4)
    state = feed(c, written)
    assert c.close(state) == rest
    assert accepts(c, written + rest)


# --- Value ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("typed, written, ok", [
    (Number(integer=True), b" null", True),
    (Number(integer=True), b" 12", True),
    (Number(integer=True), b"12", False),     # the value's leading space is always written
    (Number(integer=True), b"null", False),
    (Number(integer=True), b"  12", False),
    (Number(integer=True), b" nul", False),
    (Number(integer=True), b" Null", False),
    (Literals([b"true", b"false"]), b" false", True),
    (Literals([b"true", b"false"]), b" null", True),
    (Grounded("Nike Air"), b' "Nike"', True),
    (Grounded("Nike Air"), b' "nike"', False),
    (Grounded("Nike Air"), b' "null"', False),
    (Literals(GENDER), b' "Women"', True),
    (Array(AB, 2), b' ["b"]', True),
    (Array(AB, 2), b" null", True),
])
def test_value_table(typed, written, ok):
    assert accepts(Value(typed), written) is ok


@pytest.mark.parametrize("written, rest", [(b"", b" null"), (b" ", b"null"), (b" nu", b"ll"), (b" 4", b"")])
def test_value_close(written, rest):
    c = Value(Number(integer=True))
    assert c.close(feed(c, written)) == rest


# --- every automaton: no dead ends, close() always completes --------------------------------------

AUTOMATA = {
    "grounded": lambda: Value(Grounded('Größe 42 Weiß "NIKE" Nike Air-Max $19.99 100% --- x', 12)),
    "grounded-tail": lambda: Value(Grounded("Nike Air --- ... Größe", 6)),
    "grounded-array": lambda: Value(Array(Grounded("Black/White Navy; red ... (M)"), 3)),
    "enum": lambda: Value(Literals(GENDER + [q("Größe")])),
    "enum-array": lambda: Value(Array(Literals(GENDER), 2)),
    "integer": lambda: Value(Number(integer=True, max_digits=4)),
    "number": lambda: Value(Number(integer=False, max_digits=4)),
    "number-array": lambda: Value(Array(Number(integer=False, max_digits=3), 2)),
    "boolean": lambda: Value(Literals([b"true", b"false"])),
    "free": lambda: Value(FreeString(max_length=4)),
}


@pytest.mark.parametrize("name", sorted(AUTOMATA))
@settings(max_examples=60, deadline=None)
@given(choices=st.lists(st.integers(min_value=0, max_value=10_000), max_size=40))
def test_random_walks_never_strand_and_always_close(name, choices):
    c = AUTOMATA[name]()
    state, written = c.start(), b""
    for choice in choices:
        offered = sorted(c.next_bytes(state))
        # Every state on the way can still become a value: it accepts or offers a byte.
        assert offered or c.accepting(state), f"dead end after {written!r}"
        rest = c.close(state)
        # None means "nothing worth finishing" (the caller writes null); anything else must finish,
        # and must be text on its own.
        assert rest is None or accepts(c, written + rest), f"close() failed after {written!r}"
        if rest is not None:
            rest.decode("utf-8")
        if not offered:
            break
        byte = offered[choice % len(offered)]
        state = c.step(state, byte)
        assert state is not None
        written += bytes([byte])
    if c.accepting(state):
        json.loads(written.decode("utf-8"))


# --- typed_constraint ----------------------------------------------------------------------------

def _attr(spec: dict) -> Any:
    doc = {"$schema": DRAFT, "type": "object", "additionalProperties": False, "properties": {"A": spec}}
    return check_schema(doc).attributes[0]


@pytest.mark.parametrize("spec, kind, reads_text", [
    ({"type": ["string", "null"]}, Grounded, True),
    ({"type": ["string", "null"], "x-grounded": False}, FreeString, False),
    ({"enum": ["Men", "Women", None]}, Literals, False),
    ({"type": ["integer", "null"]}, WrittenNumber, True),
    ({"type": ["number", "null"]}, WrittenNumber, True),
    ({"type": ["integer", "null"], "x-grounded": False}, Number, False),
    ({"type": ["number", "null"], "x-grounded": False}, Number, False),
    ({"type": ["boolean", "null"]}, Literals, False),
    ({"type": ["array", "null"], "items": {"type": "string"}}, Array, True),
    ({"type": ["array", "null"], "items": {"enum": ["S", "M"]}}, Array, False),
    ({"type": ["array", "null"], "items": {"type": "integer"}}, Array, True),
    ({"type": ["array", "null"], "items": {"type": "integer"}, "x-grounded": False}, Array, False),
])
def test_typed_constraint_picks_the_automaton(spec, kind, reads_text):
    attr = _attr(spec)
    assert isinstance(typed_constraint(attr, "Nike Air 42"), kind)
    assert needs_source(attr) is reads_text


@pytest.mark.parametrize("spec, written, ok", [
    ({"type": ["string", "null"], "maxLength": 4}, q("Nike"), True),
    ({"type": ["string", "null"], "maxLength": 3}, q("Nike"), False),
    ({"type": ["integer", "null"]}, b"42", True),
    ({"type": ["integer", "null"]}, b"4.5", False),
    ({"type": ["integer", "null"]}, b"41", False),           # numbers are grounded: 42 is the text's only one
    ({"type": ["number", "null"]}, b"4.5", False),
    ({"type": ["number", "null"], "x-grounded": False}, b"4.5", True),
    ({"type": ["array", "null"], "items": {"type": "integer"}}, b"[42]", True),
    ({"type": ["array", "null"], "items": {"type": "integer"}}, b"[4]", False),
    ({"enum": [1, 2, None]}, b"2", True),
    ({"enum": [1, 2, None]}, b'"2"', False),
    ({"enum": ["Men", None]}, q("Men"), True),
    ({"type": ["array", "null"], "items": {"type": "string"}, "maxItems": 1}, b'["Nike"]', True),
    ({"type": ["array", "null"], "items": {"type": "string"}, "maxItems": 1}, b'["Nike", "Air"]', False),
    ({"type": ["array", "null"], "items": {"enum": ["S", "M"]}}, b'["M", "S"]', True),
    ({"type": ["boolean", "null"]}, b"true", True),
])
def test_typed_constraint_accepts_what_the_schema_allows(spec, written, ok):
    assert accepts(typed_constraint(_attr(spec), "Nike Air 42"), written) is ok


# --- tokens ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_pieces(tiny_model):
    _, tokenizer = tiny_model
    return tokenizer, token_bytes(tokenizer)


def test_token_bytes_round_trip_the_tiny_tokenizer(tiny_pieces):
    tokenizer, pieces = tiny_pieces
    assert len(pieces) == len(tokenizer)
    for i in tokenizer.all_special_ids:
        assert pieces[i] is None
    ascii_ids = [i for i, p in enumerate(pieces) if p is not None and p.isascii()]
    assert len(ascii_ids) > 200
    for i in ascii_ids:
        assert tokenizer.decode([i]) == pieces[i].decode("ascii"), i
    # Byte-level BPE has every single byte as a token, so any UTF-8 text can be spelled.
    assert {p for p in pieces if p is not None and len(p) == 1} == {bytes([b]) for b in range(256)}


def test_token_bytes_concatenate_to_the_encoded_text(tiny_pieces):
    tokenizer, pieces = tiny_pieces
    text = 'Größe 42 "Weiß" Nike\tAir — 👟'
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert b"".join(pieces[i] for i in ids) == text.encode("utf-8")


class _SentencePieceLike:
    """Just the surface token_bytes reads from a SentencePiece (non byte-level) tokenizer."""

    all_special_ids = [0, 1]
    _pieces = ["<s>", "</s>", "\u2581Nike", "Air", "<0x0A>", "<0xC3>", "\u2581\u2581", "ß"]

    def __len__(self) -> int:
        return len(self._pieces)

    def convert_ids_to_tokens(self, ids: list[int]) -> list[str]:
        return [self._pieces[i] for i in ids]


def test_token_bytes_sentencepiece_style():
    assert token_bytes(_SentencePieceLike()) == [None, None, b" Nike", b"Air", b"\n", b"\xc3", b"  ",
                                                  "ß".encode()]


@pytest.mark.parametrize("options, ids", [
    ([b"abc"], [0, 1, 4]),      # "ab" twice (two ids spell it), "abc"; None is no token
    ([b"b"], [3]),
    ([b"c"], []),
])
def test_token_index_lists_every_id_of_every_live_token(options, ids):
    index = TokenIndex([b"ab", b"abc", None, b"b", b"ab"])
    c = Literals(options)
    assert index.allowed(c.start(), c.step, c.next_bytes) == ids


def _brute_force(pieces: list[bytes | None], c: Any, state: Any) -> list[int]:
    out = []
    for i, piece in enumerate(pieces):
        if not piece:
            continue
        st_ = state
        for byte in piece:
            st_ = c.step(st_, byte)
            if st_ is None:
                break
        if st_ is not None:
            out.append(i)
    return sorted(out)


@pytest.mark.parametrize("make, written", [
    (lambda: Value(Grounded('Nike Air Zoom Pegasus "10" Größe 42 null')), b""),
    (lambda: Value(Grounded('Nike Air Zoom Pegasus "10" Größe 42 null')), b" "),
    (lambda: Value(Grounded('Nike Air Zoom Pegasus "10" Größe 42 null')), b' "Nike'),
    (lambda: Value(Grounded('Nike Air Zoom Pegasus "10" Größe 42 null')), b' "Gr\xc3'),
    (lambda: Value(Grounded('Nike Air Zoom Pegasus "10" Größe 42 null')), b' "'),
    (lambda: Value(Literals(GENDER)), b" "),
    (lambda: Value(Literals(GENDER)), b' "W'),
    (lambda: Value(Number(integer=False)), b" "),
    (lambda: Value(Number(integer=False)), b" 1"),
    (lambda: Value(Array(Grounded("Black White Navy"), 2)), b' ["Black"'),
    (lambda: Value(FreeString(8)), b' "ab'),
    (lambda: Value(FreeString(8)), b' "'),
    (lambda: Value(FreeString(3)), b' "ab'),        # one character left
    (lambda: Value(FreeString(3)), b' "abc'),       # only the closing quote
    (lambda: Value(FreeString(8)), b' "a\\'),      # after a backslash: an escape
    (lambda: Value(FreeString(8)), b' "\xc3'),      # inside a two-byte character
])
def test_token_index_allowed_matches_a_brute_force_scan(tiny_pieces, make, written):
    _, pieces = tiny_pieces
    c = make()
    state = feed(c, written)
    assert state is not None
    index = TokenIndex(pieces)
    got = index.allowed(state, c.step, c.next_bytes)
    assert sorted(got) == _brute_force(pieces, c, state)
    assert len(got) == len(set(got))
