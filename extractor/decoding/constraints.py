"""Byte-level value constraints: which bytes may come next while the model writes one value.

Each constraint is a small automaton over hashable states: ``start()``, ``step(state, byte)``
(None = dead), ``next_bytes(state)``, ``accepting(state)`` and ``close(state)`` (the bytes that
finish the value the shortest way when its token budget runs out, or None when no valid value
can be finished from here; the caller feeds those bytes to the model as text, so they never
start inside a UTF-8 character: there, close() gives None). Values are written the way ``json.dumps`` writes them after
``": "``, so a value's text starts with its space: `` "Nike"``, `` null``, `` 12``."""

from __future__ import annotations

import json
from typing import Any

from ..schemas import Attribute
from ..validate import grounded_attribute, written_numbers

QUOTE, BACKSLASH, COMMA, SPACE = ord('"'), ord("\\"), ord(","), ord(" ")
DIGITS = frozenset(range(ord("0"), ord("9") + 1))
_OPENERS = frozenset("$£€#+-.(")
_CLOSERS = frozenset(')%"+°]\'')


def _as_text(tail: bytes | None) -> bytes | None:
    """``tail`` unless it starts with a UTF-8 continuation byte (the value stopped mid-character)."""
    return None if tail is None or (tail and 0x80 <= tail[0] < 0xC0) else tail


class Literals:
    """One of a fixed set of byte strings (enum members, null, true/false)."""

    def __init__(self, options: list[bytes]) -> None:
        self.options = frozenset(options)
        self._next: dict[bytes, set[int]] = {}
        for opt in self.options:
            for i in range(len(opt)):
                self._next.setdefault(opt[:i], set()).add(opt[i])

    def start(self) -> bytes:
        return b""

    def step(self, state: bytes, byte: int) -> bytes | None:
        return state + bytes((byte,)) if byte in self._next.get(state, ()) else None

    def next_bytes(self, state: bytes) -> set[int]:
        return self._next.get(state, set())

    def accepting(self, state: bytes) -> bool:
        return state in self.options

    def close(self, state: bytes) -> bytes | None:
        # Ties go to byte order: set order varies with PYTHONHASHSEED, a closed value must not.
        done = sorted((o for o in self.options if o.startswith(state)), key=lambda o: (len(o), o))
        return _as_text(done[0][len(state):]) if done else None


class Number:
    """A JSON number (or integer), at most ``max_digits`` digits: -?(0|[1-9][0-9]*)(.[0-9]+)?"""

    def __init__(self, integer: bool, max_digits: int = 12) -> None:
        self.integer = integer
        self.max_digits = max_digits

    def start(self) -> tuple[str, int]:
        return ("sign", 0)

    def next_bytes(self, state: tuple[str, int]) -> set[int]:
        phase, n = state
        room = n < self.max_digits
        if phase == "sign":
            return set(DIGITS) | {ord("-")}
        if phase == "minus":
            return set(DIGITS)
        # A dot needs a digit after it, so it is offered only while there is room for one.
        if phase == "zero":
            return {ord(".")} if room and not self.integer else set()
        if phase == "int":
            return (set(DIGITS) | (set() if self.integer else {ord(".")})) if room else set()
        if phase == "dot":
            return set(DIGITS) if room else set()
        return set(DIGITS) if room else set()  # frac

    def step(self, state: tuple[str, int], byte: int) -> tuple[str, int] | None:
        if byte not in self.next_bytes(state):
            return None
        phase, n = state
        if byte == ord("-"):
            return ("minus", n)
        if byte == ord("."):
            return ("dot", n)
        if phase in ("sign", "minus"):
            return ("zero", n + 1) if byte == ord("0") else ("int", n + 1)
        return ("frac" if phase in ("dot", "frac") else "int", n + 1)

    def accepting(self, state: tuple[str, int]) -> bool:
        return state[0] in ("zero", "int", "frac")

    def close(self, state: tuple[str, int]) -> bytes | None:
        return {"sign": b"0", "minus": b"0", "dot": b"0"}.get(state[0], b"")


class WrittenNumber(Literals):
    """A number the source text writes in digits (``validate.written_numbers``: "3-pack" gives 3,
    "1,000" gives 1000), as JSON writes it; an integer attribute takes only whole numbers. Numbers
    are grounded like strings: a text without digits leaves a number attribute nothing but null,
    where ``Number`` would let the model invent one."""

    def __init__(self, source: str, integer: bool) -> None:
        super().__init__([_json_bytes(n) for n in written_numbers(source) if not integer or isinstance(n, int)])


class Grounded:
    """A JSON string whose content is a span of the source text, starting on a word boundary and
    ending on one or inside a run of letters (a word's beginning), case and spacing exactly as
    in the source, at most ``max_length`` characters.

    Works on the JSON-escaped source, so the model writes valid escapes for quotes and newlines
    in the text. State: ("open",) | ("in", live positions, characters written) | ("done", ends).
    Only positions from which a valid end is still reachable within ``max_length`` stay live, so
    every byte offered can be finished into a value."""

    def __init__(self, source: str, max_length: int | None = None) -> None:
        pieces = [json.dumps(ch, ensure_ascii=False)[1:-1].encode("utf-8") for ch in source]
        self.escaped = b"".join(pieces)
        self.char_at: dict[int, int] = {}  # byte offset of a char start (and the end) -> char index
        # Characters begun before each byte offset: a character counts from its first byte.
        self._begun: list[int] = []
        offset = 0
        for i, piece in enumerate(pieces):
            self.char_at[offset] = i
            self._begun += [i] + [i + 1] * (len(piece) - 1)
            offset += len(piece)
        self.char_at[offset] = len(source)
        self._begun.append(len(source))

        def inner(i: int) -> bool:  # inside a word: a span may not start or end here
            return 0 < i < len(source) and source[i - 1].isalnum() and source[i].isalnum()

        # word_letters[i]: the word running up to character i (if any) is letters only so far.
        word_letters = [False] * (len(source) + 1)
        for i in range(1, len(source) + 1):
            ch = source[i - 1]
            word_letters[i] = ch.isalpha() and (word_letters[i - 1] or i == 1 or not source[i - 2].isalnum())

        def in_letters(i: int) -> bool:
            return 0 < i < len(source) and word_letters[i] and source[i].isalpha()

        # Values start on a letter, digit or a sign/currency mark and end on a letter, digit or a
        # closing mark: a span like `'s` or `Blk/` is never what a catalog wants. A value may
        # also end inside a word of letters, so it can be the word's beginning: catalogs name the
        # stem ("Men" in "Mens", "Jersey" in "Jerseys", "Print" in "Printed", as AE-110K's gold
        # often does). Words with digits are never cut ("1T" of "1TB", "12" of "123").
        self.word_ends = frozenset(off for off, i in self.char_at.items()
                                   if i > 0 and (source[i - 1].isalnum() or source[i - 1] in _CLOSERS)
                                   and not inner(i))
        self.ends = self.word_ends | frozenset(off for off, i in self.char_at.items() if in_letters(i))
        # Nearest end at or after each byte: any end (what can still be reached) and word ends
        # (where a forced close finishes a value: the whole word, not a cut one).
        self._next_end = self._nearest(self.ends)
        self._next_word_end = self._nearest(self.word_ends)
        self.max_length = max_length or 10_000
        self.source = source
        self.starts = frozenset(off for off, i in self.char_at.items()
                                if i < len(source) and (source[i].isalnum() or source[i] in _OPENERS)
                                and not inner(i) and self._target(off, 0) is not None)

    def _nearest(self, ends: frozenset[int]) -> list[int | None]:
        nearest: list[int | None] = [None] * (len(self.escaped) + 2)
        for off in range(len(self.escaped), -1, -1):
            nearest[off] = off if off in ends else nearest[off + 1]
        return nearest

    def _target(self, q: int, n: int, table: list[int | None] | None = None) -> int | None:
        """The nearest end a value at byte ``q`` with ``n`` characters written can still reach
        (a value is never empty), or None when there is none within ``max_length``."""
        end = (table or self._next_end)[q + (n == 0)]
        if end is None or n + self.char_at[end] - self._begun[q] > self.max_length:
            return None
        return end

    def _advance(self, live: frozenset[int], n: int, byte: int) -> tuple[frozenset[int], int]:
        moved = [q for q in live if q < len(self.escaped) and self.escaped[q] == byte]
        # All live positions read the same bytes from character starts, so they agree on
        # whether this byte begins a character.
        if moved and moved[0] in self.char_at:
            n += 1
        return frozenset(q + 1 for q in moved if self._target(q + 1, n) is not None), n

    def start(self) -> tuple:
        return ("open",)

    def _closable(self, live: frozenset[int]) -> bool:
        return any(q in self.ends for q in live)

    def next_bytes(self, state: tuple) -> set[int]:
        if state[0] == "open":
            return {QUOTE} if self.starts else set()
        if state[0] == "done":
            return set()
        _, live, n = state
        out = {self.escaped[q] for q in live
               if q < len(self.escaped) and self._target(q + 1, n + (q in self.char_at)) is not None}
        if n and self._closable(live):
            out.add(QUOTE)
        return out

    def step(self, state: tuple, byte: int) -> tuple | None:
        if state[0] == "open":
            return ("in", self.starts, 0) if byte == QUOTE and self.starts else None
        if state[0] == "done":
            return None
        _, live, n = state
        # A quote at a valid end closes; inside the escaped source a quote only follows a
        # backslash, and a position right after a backslash is never a valid end.
        if byte == QUOTE and n and self._closable(live):
            return ("done", frozenset(q for q in live if q in self.ends))
        nxt, n = self._advance(live, n, byte)
        return ("in", nxt, n) if nxt else None

    def accepting(self, state: tuple) -> bool:
        return state[0] == "done"

    def close(self, state: tuple) -> bytes | None:
        """Finish the span being copied at its nearest end; None before anything was written
        (closing on a span the model never chose would invent a value) and mid-character."""
        if state[0] != "in" or not state[2]:
            return None
        _, live, n = state
        ends = [self._target(q, n, self._next_word_end) or self._target(q, n) for q in live]
        tails = [self.escaped[q: end] for q, end in zip(live, ends) if end is not None]
        return _as_text(min(tails, key=lambda t: (len(t), t)) + b'"') if tails else None

    def span(self, state: tuple, value: str) -> tuple[int, int] | None:
        """Character offsets [start, end) of the finished value in the source."""
        if state[0] != "done":
            return None
        for end in sorted(self.char_at[q] for q in state[1] if q in self.char_at):
            start = end - len(value)
            if start >= 0 and self.source[start:end] == value:
                return (start, end)
        return None


# Well-formed UTF-8 (what Python's strict decoder accepts): lead byte -> (range of the first
# continuation byte, continuation bytes in all). Overlongs and surrogates are excluded.
_UTF8_LEADS: dict[int, tuple[int, int, int]] = {
    **{b: (0x80, 0xBF, 1) for b in range(0xC2, 0xE0)},
    0xE0: (0xA0, 0xBF, 2), **{b: (0x80, 0xBF, 2) for b in range(0xE1, 0xF0)}, 0xED: (0x80, 0x9F, 2),
    0xF0: (0x90, 0xBF, 3), 0xF1: (0x80, 0xBF, 3), 0xF2: (0x80, 0xBF, 3), 0xF3: (0x80, 0xBF, 3),
    0xF4: (0x80, 0x8F, 3),
}


class FreeString:
    """Any JSON string of 1 to ``max_length`` characters of well-formed UTF-8 (for attributes that
    opt out of grounding). State: ("open",) | ("in", characters, after a backslash, continuation
    bytes still due as (low, high, count) or None) | ("done",)."""

    ESCAPES = frozenset(b'"\\/bfnrt')

    def __init__(self, max_length: int = 64) -> None:
        self.max_length = max_length
        self._content = (frozenset(range(0x20, 0x80)) - {QUOTE, BACKSLASH}) | frozenset(_UTF8_LEADS)

    def start(self) -> tuple:
        return ("open",)

    def next_bytes(self, state: tuple) -> set[int] | frozenset[int]:
        if state[0] == "open":
            return {QUOTE}
        if state[0] == "done":
            return set()
        _, n, esc, due = state
        if esc:
            return self.ESCAPES
        if due:
            return set(range(due[0], due[1] + 1))
        if n >= self.max_length:
            return {QUOTE}
        return self._content | {BACKSLASH} | ({QUOTE} if n else set())

    def step(self, state: tuple, byte: int) -> tuple | None:
        # The checks of next_bytes without building its set: this runs for every prefix of every
        # token when the allowed tokens of a free string are listed.
        if state[0] == "open":
            return ("in", 0, False, None) if byte == QUOTE else None
        if state[0] == "done":
            return None
        _, n, esc, due = state
        if esc:
            return ("in", n + 1, False, None) if byte in self.ESCAPES else None
        if due:
            if not due[0] <= byte <= due[1]:
                return None
            return ("in", n, False, (0x80, 0xBF, due[2] - 1) if due[2] > 1 else None)
        if byte == QUOTE:
            return ("done",) if n else None
        if n >= self.max_length:
            return None
        if byte == BACKSLASH:
            return ("in", n, True, None)
        return ("in", n + 1, False, _UTF8_LEADS.get(byte)) if byte in self._content else None

    def accepting(self, state: tuple) -> bool:
        return state[0] == "done"

    def close(self, state: tuple) -> bytes | None:
        if state[0] == "in" and state[1] and not state[2] and not state[3]:
            return b'"'
        return None


class Array:
    """``[item, item, ...]`` with 1..max_items items (an empty list is written as null)."""

    def __init__(self, item: Any, max_items: int = 4) -> None:
        self.item = item
        self.max_items = max_items

    def start(self) -> tuple:
        return ("open",)

    def next_bytes(self, state: tuple) -> set[int]:
        kind = state[0]
        if kind == "open":
            return {ord("[")} if self.item.next_bytes(self.item.start()) else set()
        if kind == "sep":
            return {SPACE}
        if kind == "done":
            return set()
        _, k, sub = state
        out = set(self.item.next_bytes(sub))
        if self.item.accepting(sub):
            out.add(ord("]"))
            if k + 1 < self.max_items:
                out.add(COMMA)
        return out

    def step(self, state: tuple, byte: int) -> tuple | None:
        kind = state[0]
        if kind == "open":
            return ("item", 0, self.item.start()) if byte == ord("[") and self.next_bytes(state) else None
        if kind == "sep":
            return ("item", state[1], self.item.start()) if byte == SPACE else None
        if kind == "done":
            return None
        _, k, sub = state
        nxt = self.item.step(sub, byte)
        if nxt is not None:
            return ("item", k, nxt)
        if self.item.accepting(sub):
            if byte == ord("]"):
                return ("done",)
            if byte == COMMA and k + 1 < self.max_items:
                return ("sep", k + 1)
        return None

    def accepting(self, state: tuple) -> bool:
        return state[0] == "done"

    def close(self, state: tuple) -> bytes | None:
        if state[0] in ("item", "sep"):
            # After ", " the list is finished only by one more item (if the item can be invented).
            tail = self.item.close(state[2] if state[0] == "item" else self.item.start())
            return None if tail is None else (b" " if state[0] == "sep" else b"") + tail + b"]"
        return None


class Value:
    """`` null`` or `` `` + a typed value: the text after ``"Attribute":``."""

    def __init__(self, typed: Any) -> None:
        self.null = Literals([b" null"])
        self.typed = typed

    def start(self) -> tuple:
        return ("lead", 0)

    def next_bytes(self, state: tuple) -> set[int] | frozenset[int]:
        if state[0] == "lead":
            return {SPACE}
        if state[0] == "space":
            return {ord("n")} | set(self.typed.next_bytes(self.typed.start()))
        if state[0] == "null":
            return self.null.next_bytes(state[1])
        return self.typed.next_bytes(state[1])

    def step(self, state: tuple, byte: int) -> tuple | None:
        kind = state[0]
        if kind == "lead":
            return ("space",) if byte == SPACE else None
        if kind == "space":
            typed = self.typed.step(self.typed.start(), byte)
            if typed is not None:
                return ("typed", typed)
            return ("null", b" n") if byte == ord("n") else None
        inner = self.null if kind == "null" else self.typed
        nxt = inner.step(state[1], byte)
        return None if nxt is None else (kind, nxt)

    def accepting(self, state: tuple) -> bool:
        if state[0] == "null":
            return self.null.accepting(state[1])
        return state[0] == "typed" and self.typed.accepting(state[1])

    def close(self, state: tuple) -> bytes | None:
        if state[0] == "lead":
            return b" null"
        if state[0] == "space":
            return b"null"
        if state[0] == "null":
            return self.null.close(state[1])
        return self.typed.close(state[1])


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8")


def typed_constraint(attr: Attribute, source: str) -> Any:
    """The constraint for a non-null value of ``attr`` reading ``source``."""
    if attr.enum is not None:
        return Literals([_json_bytes(v) for v in attr.enum])
    if attr.is_array:
        if attr.item_enum is not None:
            item: Any = Literals([_json_bytes(v) for v in attr.item_enum])
        elif "string" in attr.item_types:
            item = Grounded(source, attr.item_max_length) if attr.grounded else FreeString(attr.item_max_length or 64)
        else:
            item = _number(source, "number" not in attr.item_types, attr.grounded)
        return Array(item, attr.max_items or 4)
    if "string" in attr.types:
        return Grounded(source, attr.max_length) if attr.grounded else FreeString(attr.max_length or 64)
    if "number" in attr.types or "integer" in attr.types:
        return _number(source, "number" not in attr.types, attr.grounded)
    return Literals([b"true", b"false"])


def _number(source: str, integer: bool, grounded: bool) -> Any:
    return WrittenNumber(source, integer) if grounded else Number(integer=integer)


def needs_source(attr: Attribute) -> bool:
    """Whether the constraint depends on the input text (so it cannot be shared across inputs):
    grounded strings and numbers (``validate.grounded_attribute``)."""
    return grounded_attribute(attr)
