"""Reading inputs (JSONL or CSV) and writing outputs (JSONL, flushed per record, resumable).

A bad input line becomes a Document with ``error`` set, which the pipeline turns into an error
record: every input line yields exactly one output line."""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from .errors import ConfigError, ExtractorError, InputError
from .records import Document, Record

AUTO_TEXT_FIELDS = (("text",), ("title", "description"), ("query",), ("input",))
FORMATS = ("auto", "jsonl", "csv")


@dataclass
class InputSpec:
    """Which fields of an input line hold what."""

    id_field: str = "id"
    """Field with the record id; lines without it get their 1-based line number."""
    text_fields: tuple[str, ...] | None = None
    """Fields joined (newline) into the text; None = the first of text, title(+description), query, input."""
    schema_field: str | None = None
    """Field naming each line's schema (falls back to the run's schema when empty)."""
    format: str = "auto"
    """`jsonl`, `csv`, or `auto` (by file extension; JSONL otherwise)."""

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ConfigError(f"input format must be one of {FORMATS}, not {self.format!r}")
        if self.text_fields is not None and not self.text_fields:
            raise ConfigError("text_fields must name at least one field")


def _text_of(obj: dict[str, Any], spec: InputSpec) -> tuple[str | None, str | None]:
    """(text, error) for one parsed line."""
    if spec.text_fields is not None:
        fields = spec.text_fields
        missing = [f for f in fields if f not in obj]
        if len(missing) == len(fields):
            return None, f"missing text field(s): {', '.join(fields)}"
    else:
        fields = next((group for group in AUTO_TEXT_FIELDS if group[0] in obj), ())
        if not fields:
            return None, ("no text field (looked for " + ", ".join(g[0] for g in AUTO_TEXT_FIELDS)
                          + "; choose one with --text-field)")
    parts = []
    for name in fields:
        value = obj.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            return None, f"field {name!r} is not a string"
        if value.strip():
            parts.append(value.strip())
    if not parts:
        return None, f"empty text in field(s) {', '.join(fields)}"
    return "\n".join(parts), None


def _document(obj: Any, n: int, spec: InputSpec) -> Document:
    if not isinstance(obj, dict):
        return Document(id=str(n), text="", error=f"line {n}: not a JSON object")
    raw_id = obj.get(spec.id_field)
    doc_id = str(raw_id) if raw_id not in (None, "") else str(n)
    text, error = _text_of(obj, spec)
    schema = obj.get(spec.schema_field) if spec.schema_field else None
    if schema is not None and not isinstance(schema, str):
        error = error or f"field {spec.schema_field!r} is not a string"
        schema = None
    category = obj.get("category") if isinstance(obj.get("category"), str) else None
    return Document(id=doc_id, text=text or "", error=f"line {n}: {error}" if error else None,
                    category=category, schema=schema or None)


def _open_text(path: str | Path) -> IO[str]:
    if str(path) == "-":
        return sys.stdin
    try:
        # utf-8-sig: spreadsheet programs start "UTF-8" CSV with a byte order mark, which would
        # otherwise become part of the first field name (or make the first JSON line invalid).
        return open(path, encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from exc


def read_documents(path: str | Path, spec: InputSpec | None = None) -> Iterator[Document]:
    """Documents of a JSONL or CSV file (``-`` = standard input), one per line, bad lines included."""
    spec = spec or InputSpec()
    fmt = spec.format
    if fmt == "auto":
        fmt = "csv" if str(path).lower().endswith((".csv", ".tsv")) else "jsonl"
    handle = _open_text(path)
    try:
        if fmt == "csv":
            dialect = "excel-tab" if str(path).lower().endswith(".tsv") else "excel"
            for n, row in enumerate(csv.DictReader(handle, dialect=dialect), 1):
                yield _document(dict(row), n, spec)
            return
        for n, line in enumerate(handle, 1):
            if not line.strip():
                yield Document(id=str(n), text="", error=f"line {n}: empty line")
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                yield Document(id=str(n), text="", error=f"line {n}: not valid JSON ({exc.msg})")
                continue
            yield _document(obj, n, spec)
    except UnicodeDecodeError as exc:
        raise InputError(f"{path} is not UTF-8 text: {exc}") from exc
    finally:
        if handle is not sys.stdin:
            handle.close()


def read_jsonl(path: str | Path, error: type[ExtractorError] = InputError) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for every non-blank line of a JSONL file that must be whole (gold
    sets, shots, pairs): an unreadable file or a line that is not a JSON object raises ``error``
    naming the file and line. Inputs to extract use read_documents instead, which turns bad
    lines into error records."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"cannot read {path}: {exc}") from exc
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise error(f"{path}:{number}: not valid JSON: {exc}") from exc
        if not isinstance(row, dict):
            raise error(f"{path}:{number}: each line must be a JSON object")
        yield number, row


NOT_A_RECORD = (ValueError, KeyError, TypeError, AttributeError)
"""What ``Record.from_dict(json.loads(line))`` raises for a line that is not a record (bad JSON, a
missing key, a JSON array or number)."""


def read_records(path: str | Path) -> list[Record]:
    """The records of an output file this project wrote (``Record.from_dict`` of every non-blank
    line), for reading a run back; anything else raises InputError."""
    path = Path(path)
    try:
        return [Record.from_dict(json.loads(line)) for line in path.read_text(encoding="utf-8").splitlines()
                if line.strip()]
    except (OSError, *NOT_A_RECORD) as exc:
        raise InputError(f"{path}: not a records file this project wrote ({exc!r})") from exc


def iter_records(path: str | Path) -> Iterator[Record | None]:
    """The records of an output file, one per non-blank line, read as they are needed (files larger
    than memory); None for a line that is not a record. InputError when the file cannot be read."""
    path = Path(path)
    try:
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                if not line.strip():
                    continue
                try:
                    yield Record.from_dict(json.loads(line))
                except NOT_A_RECORD:
                    yield None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {path}: {exc}") from exc


def count_lines(path: str | Path) -> int | None:
    """Number of input lines (for the progress bar), or None for standard input."""
    if str(path) == "-":
        return None
    try:
        with open(path, "rb") as handle:
            n = sum(1 for _ in handle)
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from exc
    return max(n - 1, 0) if str(path).lower().endswith((".csv", ".tsv")) else n


def done_ids(path: str | Path) -> set[str]:
    """Ids already written to an output file (for --resume); unreadable lines are ignored,
    since an interrupted run may have left half a line."""
    ids: set[str] = set()
    p = Path(path)
    if not p.is_file():
        return ids
    with p.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(obj, dict) and "id" in obj:
                ids.add(str(obj["id"]))
    return ids


def _drop_partial_last_line(path: Path) -> None:
    """An interrupted run may leave half a line at the end: cut it, so resuming rewrites that
    record whole instead of leaving a broken line in the output."""
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        with path.open("r+b") as handle:
            handle.truncate(data.rfind(b"\n") + 1)


class RecordWriter:
    """Writes records as JSONL, flushed after each, so an interrupted run loses nothing written."""

    def __init__(self, path: str | Path, append: bool = False) -> None:
        self.path = str(path)
        if self.path == "-":
            self._handle: IO[str] = sys.stdout
        else:
            p = Path(path)
            try:
                if append and p.is_file():
                    _drop_partial_last_line(p)
                self._handle = io.open(p, "a" if append else "w", encoding="utf-8")
            except OSError as exc:
                raise ExtractorError(f"cannot write {path}: {exc.strerror}") from exc

    def write(self, record: Record) -> None:
        self._handle.write(json.dumps(record.to_dict(), ensure_ascii=False) + "\n")
        self._handle.flush()

    def close(self) -> None:
        if self._handle is not sys.stdout:
            self._handle.close()

    def __enter__(self) -> RecordWriter:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


@contextmanager
def written_whole(target: str | Path) -> Iterator[str]:
    """The path to write ``target`` through: ``<target>.partial``, moved into place when the block
    ends and removed when it raises (a refusal, an unreadable input, an interrupt), so ``target`` is
    never left half written and may be the block's own input. ``-`` (standard output) is written as is."""
    name = str(target)
    if name == "-":
        yield name
        return
    partial = name + ".partial"
    try:
        yield partial
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    os.replace(partial, name)


def write_records(path: str | Path, records: Iterable[Record]) -> None:
    """Write ``records`` to a new JSONL file at ``path`` (``-``: standard output)."""
    with RecordWriter(path) as writer:
        for record in records:
            writer.write(record)
