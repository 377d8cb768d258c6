"""The one line reader every command reads JSONL through, and the one line writer it writes through.

A line ends at ``\\n`` and nowhere else: a bare CR, U+2028, U+0085 or a form feed inside a line stay
part of it (``str.splitlines`` would cut there, so a file written by one command could not be read
by another). One ``\\r`` before the ``\\n`` is dropped, for files written on Windows.

Each line is decoded on its own, so one undecodable byte costs that line, never the run: the line
comes back with ``error`` set, naming its number and the byte, and the reader goes on. A byte order
mark picks UTF-8, UTF-16 or UTF-32 whatever encoding was asked for; without one the file is read
in the encoding given (UTF-8 by default)."""

from __future__ import annotations

import codecs
import io
import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from .errors import InputError

DEFAULT_ENCODING = "utf-8"

_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
"""Byte order marks, longest first (a UTF-32 LE mark starts with the UTF-16 LE one)."""

_SURROGATE = re.compile("[\ud800-\udfff]")
_LINE_BREAKS = {"\u2028": "\\u2028", "\u2029": "\\u2029", "\x85": "\\u0085"}
"""Characters json.dumps(ensure_ascii=False) leaves raw that other readers (str.splitlines,
JavaScript) take for line ends; written escaped, so any line reader sees one record per line."""


@dataclass(frozen=True)
class Line:
    """One line of a text file."""

    number: int
    """1-based line number, for messages."""
    text: str
    """The line without its ending; empty when it could not be decoded."""
    error: str | None = None
    """Why the line could not be decoded (its text is then empty)."""


def check_encoding(encoding: str) -> str:
    """``encoding`` if Python knows it, else InputError (before any file is opened)."""
    try:
        codecs.lookup(encoding)
    except LookupError as exc:
        raise InputError(f"unknown text encoding {encoding!r}") from exc
    return encoding


def _open_binary(path: str | Path) -> IO[bytes]:
    if str(path) == "-":
        return sys.stdin.buffer
    try:
        return open(path, "rb")
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from exc


def _byte_wise(encoding: str) -> bool:
    """Whether ``\\n`` is the single byte 0x0a in ``encoding`` (so bytes can be split before decoding)."""
    return "\n".encode(encoding) == b"\n" and "a".encode(encoding) == b"a"


def _sniff(handle: IO[bytes], encoding: str) -> tuple[IO[bytes], str]:
    """The stream positioned after any byte order mark, and the encoding that mark names."""
    buffered = handle if isinstance(handle, io.BufferedReader) else io.BufferedReader(handle)  # type: ignore[arg-type]
    head = buffered.peek(4)[:4]
    for bom, name in _BOMS:
        if head.startswith(bom):
            if name == "utf-8-sig":
                buffered.read(len(bom))
                return buffered, "utf-8"
            return buffered, name  # the utf-16/utf-32 codecs read their own mark
    return buffered, encoding


def undecodable(raw: bytes, exc: UnicodeDecodeError, encoding: str) -> str:
    """A message for a line ``raw`` that is not ``encoding`` text: the first bad byte and its column."""
    bad = raw[exc.start:exc.start + 1]
    return (f"not {encoding} text (byte 0x{bad.hex()} at byte {exc.start + 1} of the line); "
            "if the file is in another encoding, give --encoding (e.g. latin-1, cp1252)")


def read_lines(path: str | Path, encoding: str = DEFAULT_ENCODING) -> Iterator[Line]:
    """Every line of ``path`` (``-``: standard input), decoded one by one; see the module docstring.
    A file that cannot be opened raises InputError; a line that cannot be decoded comes back with
    ``error`` set."""
    check_encoding(encoding)
    handle = _open_binary(path)
    try:
        stream, encoding = _sniff(handle, encoding)
        if _byte_wise(encoding):
            for number, raw in enumerate(stream, 1):
                raw = raw[:-1] if raw.endswith(b"\n") else raw
                raw = raw[:-1] if raw.endswith(b"\r") else raw
                try:
                    yield Line(number, raw.decode(encoding))
                except UnicodeDecodeError as exc:
                    yield Line(number, "", undecodable(raw, exc, encoding))
            return
        # UTF-16/32: split after decoding; a broken code unit becomes U+FFFD rather than ending the file.
        text = io.TextIOWrapper(stream, encoding=encoding, errors="replace", newline="\n")
        for number, line in enumerate(text, 1):
            line = line[:-1] if line.endswith("\n") else line
            yield Line(number, line[:-1] if line.endswith("\r") else line)
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from exc
    finally:
        if handle is not sys.stdin.buffer:
            handle.close()


def parse_line(text: str) -> tuple[Any, str | None]:
    """(value, None) for a line of JSON, else (None, why): bad JSON, or nesting too deep for the
    parser (which would otherwise raise RecursionError and end the run)."""
    try:
        return json.loads(text), None
    except RecursionError:
        return None, "not valid JSON (nested too deeply)"
    except ValueError as exc:  # JSONDecodeError, or an integer with too many digits
        return None, f"not valid JSON ({getattr(exc, 'msg', exc)})"


def lone_surrogate(value: Any, where: str) -> str | None:
    """Why ``value`` (a parsed field named ``where``) is not text, when a string or key in it holds
    a lone surrogate (the JSON escape ``"\\udc80"`` is valid JSON but no UTF encoding can write
    it, and tokenizers fail on it); None when it is clean."""
    stack = [value]
    while stack:
        item = stack.pop()
        strings = [item] if isinstance(item, str) else list(item) if isinstance(item, dict) else []
        for string in strings:
            match = _SURROGATE.search(string)
            if match:
                return f"{where} holds a lone surrogate (\\u{ord(match.group()):04x}), which is not text"
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None


def dump_line(obj: Any) -> str:
    """``obj`` as one line of JSON text, newline included, that every reader reads back as one line:
    non-ASCII kept readable, U+2028/U+2029/U+0085 escaped, and a lone surrogate (kept from a
    faithful id) escaped too so the line still encodes as UTF-8. A float that is not finite (NaN)
    is not JSON: ValueError."""
    text = json.dumps(obj, ensure_ascii=False, allow_nan=False)
    if _SURROGATE.search(text):
        text = json.dumps(obj, ensure_ascii=True, allow_nan=False)
    for raw, escaped in _LINE_BREAKS.items():
        if raw in text:
            text = text.replace(raw, escaped)
    return text + "\n"
