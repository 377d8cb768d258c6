"""Reading inputs (JSONL or CSV) and writing outputs (JSONL, flushed per record, resumable).

A bad input line becomes a Document with ``error`` set, which the pipeline turns into an error
record: every input line yields exactly one output line."""

from __future__ import annotations

import csv
import io
import os
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from .errors import ConfigError, ExtractorError, InputError
from .lines import DEFAULT_ENCODING, dump_line, lone_surrogate, parse_line, read_lines
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


def _document(obj: Any, n: int, spec: InputSpec, line: int | None = None) -> Document:
    """The Document of one parsed input line (``n``: its position among the documents, the id of a
    line without one; ``line``: its line number in the file, for messages, when it differs)."""
    where = f"line {line or n}"
    if not isinstance(obj, dict):
        return Document(id=str(n), text="", error=f"{where}: not a JSON object")
    raw_id = obj.get(spec.id_field)
    doc_id = str(raw_id) if raw_id not in (None, "") else str(n)
    text, error = _text_of(obj, spec)
    schema = obj.get(spec.schema_field) if spec.schema_field else None
    if schema is not None and not isinstance(schema, str):
        error = error or f"field {spec.schema_field!r} is not a string"
        schema = None
    category = obj.get("category") if isinstance(obj.get("category"), str) else None
    used = [spec.schema_field, "category", *(spec.text_fields or [f for g in AUTO_TEXT_FIELDS for f in g])]
    for name in used:
        if error is None and name in obj:
            error = lone_surrogate(obj[name], f"field {name!r}")
    return Document(id=doc_id, text=(text or "") if not error else "", error=f"{where}: {error}" if error else None,
                    category=category, schema=(schema or None) if not error else None)


def read_documents(path: str | Path, spec: InputSpec | None = None,
                   encoding: str = DEFAULT_ENCODING) -> Iterator[Document]:
    """Documents of a JSONL or CSV file (``-`` = standard input), one per line (per row of a CSV
    file), bad lines included as Documents with ``error`` set: a line that is not JSON, not an
    object, not ``encoding`` text, nested too deeply, or whose text holds a lone surrogate. A CSV
    file's header is checked before the first Document (InputError: see ``_csv_documents``)."""
    spec = spec or InputSpec()
    fmt = spec.format
    if fmt == "auto":
        fmt = "csv" if str(path).lower().endswith((".csv", ".tsv")) else "jsonl"
    if fmt == "csv":
        return _csv_documents(path, spec, encoding)
    return _jsonl_documents(path, spec, encoding)


def _jsonl_documents(path: str | Path, spec: InputSpec, encoding: str) -> Iterator[Document]:
    for line in read_lines(path, encoding):
        n = line.number
        if line.error:
            yield Document(id=str(n), text="", error=f"line {n}: {line.error}")
        elif not line.text.strip():
            yield Document(id=str(n), text="", error=f"line {n}: empty line")
        else:
            obj, error = parse_line(line.text)
            yield Document(id=str(n), text="", error=f"line {n}: {error}") if error else _document(obj, n, spec)


def _csv_documents(path: str | Path, spec: InputSpec, encoding: str) -> Iterator[Document]:
    """Documents of a CSV (or, by extension, TSV) file whose first row names its columns. The header
    is checked at once: it must name the text column(s) (else the first row is likely data, and
    taking it for names would lose it), with no name twice. A row with more or fewer fields than
    the header (an unquoted comma) or a line that is not ``encoding`` text becomes an error Document."""
    undecoded: list[tuple[int, str]] = []
    """(line number, why) of lines that could not be decoded since the last row."""

    def texts() -> Iterator[str]:
        for line in read_lines(path, encoding):
            if line.error:
                undecoded.append((line.number, line.error))
            yield line.text + "\n"

    csv.field_size_limit(2**31 - 1)  # the default (131,072 characters) refuses long descriptions
    dialect = "excel-tab" if str(path).lower().endswith(".tsv") else "excel"
    reader = csv.reader(texts(), dialect=dialect)
    try:
        header = next(reader)
    except StopIteration:
        return iter(())
    except csv.Error as exc:
        raise InputError(f"{path}: the header row is not CSV ({exc})") from exc
    if undecoded:
        raise InputError(f"{path}: the header row, line {undecoded[0][0]}, is {undecoded[0][1]}")
    _check_header(path, header, spec)
    return _csv_rows(reader, header, spec, undecoded)


def _check_header(path: str | Path, header: list[str], spec: InputSpec) -> None:
    twice = sorted({name for name in header if header.count(name) > 1})
    if twice:
        raise InputError(f"{path}: the header row names {', '.join(map(repr, twice))} more than once")
    wanted = spec.text_fields or tuple(group[0] for group in AUTO_TEXT_FIELDS)
    if not set(wanted) & set(header):
        raise InputError(f"{path}: the first row ({', '.join(map(repr, header[:8]))}) names no text column "
                         f"({' or '.join(wanted)}). A CSV file must start with a header row naming its columns; "
                         "choose the text column with --text-field")


def _csv_rows(reader: Any, header: list[str], spec: InputSpec,
              undecoded: list[tuple[int, str]]) -> Iterator[Document]:
    end = reader.line_num
    n = 0
    while True:
        start = end + 1
        try:
            row = next(reader)
            error = None
        except StopIteration:
            return
        except csv.Error as exc:
            row, error = [], f"not CSV ({exc})"
        end = reader.line_num
        n += 1
        if undecoded:
            start, error = undecoded[0]
            undecoded.clear()
        elif error is None and not row:
            error = "empty line"
        elif error is None and len(row) != len(header):
            error = (f"{len(row)} fields where the header names {len(header)} "
                     "(an unquoted comma or quote inside a field?)")
        if error:
            yield Document(id=str(n), text="", error=f"line {start}: {error}")
        else:
            yield _document(dict(zip(header, row)), n, spec, line=start)


def read_jsonl(path: str | Path, error: type[ExtractorError] = InputError) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for every non-blank line of a JSONL file that must be whole (gold
    sets, shots, pairs): an unreadable file or a line that is not a JSON object raises ``error``
    naming the file and line. Inputs to extract use read_documents instead, which turns bad
    lines into error records."""
    try:
        for line in read_lines(path):
            if line.error:
                raise error(f"{path}:{line.number}: {line.error}")
            if not line.text.strip():
                continue
            row, why = parse_line(line.text)
            if why is not None:
                raise error(f"{path}:{line.number}: {why}")
            if not isinstance(row, dict):
                raise error(f"{path}:{line.number}: each line must be a JSON object")
            yield line.number, row
    except InputError as exc:
        if error is InputError:
            raise
        raise error(str(exc)) from exc


NOT_A_RECORD = (ValueError, KeyError, TypeError, AttributeError)
"""What ``Record.from_dict(json.loads(line))`` raises for a line that is not a record (bad JSON, a
missing key, a JSON array or number)."""


def read_records(path: str | Path) -> list[Record]:
    """The records of an output file this project wrote (``Record.from_dict`` of every non-blank
    line), for reading a run back; anything else raises InputError."""
    records = []
    for line in read_lines(path):
        if line.error:
            raise InputError(f"{path}:{line.number}: {line.error}")
        if line.text.strip():
            record = _record(line.text)
            if record is None:
                raise InputError(f"{path}:{line.number}: not a records file this project wrote")
            records.append(record)
    return records


def _record(text: str) -> Record | None:
    value, error = parse_line(text)
    if error is not None:
        return None
    try:
        return Record.from_dict(value)
    except NOT_A_RECORD:
        return None


def iter_records(path: str | Path) -> Iterator[Record | None]:
    """The records of an output file, one per line, read as they are needed (files larger than
    memory); None for a line that is not a record (blank, not JSON, not UTF-8, a record with a
    value no record holds). InputError when the file cannot be opened."""
    for line in read_lines(path):
        yield None if line.error else _record(line.text)


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


def resume_point(output: str | Path, documents: Iterable[Document]) -> int:
    """How many input lines a run already wrote to ``output`` (for --resume), checked line by line.

    Records line up with input lines by position: line k of the output is the record of input
    line k. Ids need not be unique, so resuming does not go by them; they only check that
    ``output`` is a run of these ``documents``: a line whose id differs from its input line's, or
    more lines than the input has, is InputError. An interrupted run may have left half a line at
    the end: it is cut (a whole record that lacks only its newline gets one), so the rest starts on
    a clean line."""
    path = Path(output)
    if not path.is_file():
        return 0
    _settle_tail(path)
    written = 0
    docs = iter(documents)
    for line in read_lines(path):
        record = None if line.error else _record(line.text)
        if record is None:
            raise InputError(f"{path}:{line.number} is not a record; --resume continues a file that extract wrote")
        doc = next(docs, None)
        if doc is None:
            raise InputError(f"{path} holds more records than the input has lines ({written}); "
                             "it is not a run of this input")
        if doc.id != record.id:
            raise InputError(f"{path}:{line.number} is the record of {record.id!r} but input line {line.number} "
                             f"is {doc.id!r}: it is not a run of this input (resume with the same input file, "
                             "or write to a new output)")
        written += 1
    return written


def _settle_tail(path: Path) -> None:
    """Cut half a line an interrupted run left at the end of ``path``, so resuming rewrites that
    record whole instead of leaving a broken line; a last line that is a whole record and lacks
    only its newline is kept and given one."""
    with path.open("r+b") as handle:
        size = handle.seek(0, os.SEEK_END)
        if not size:
            return
        handle.seek(size - 1)
        if handle.read(1) == b"\n":
            return
        start = size
        while start > 0:  # back to the start of the last line, a block at a time (files may be large)
            step = min(1 << 16, start)
            handle.seek(start - step)
            cut = handle.read(step).rfind(b"\n")
            start -= step
            if cut >= 0:
                start += cut + 1
                break
        handle.seek(start)
        tail = handle.read()
        try:
            whole = _record(tail.decode("utf-8")) is not None
        except UnicodeDecodeError:
            whole = False
        if whole:
            handle.write(b"\n")
        else:
            handle.truncate(start)


def check_output(output: str | Path, inputs: Iterable[str | Path] = ()) -> None:
    """InputError unless ``output`` can be written and is none of ``inputs``. Commands call it
    before any model loads, so a typo costs no waiting, and no command empties the file it reads
    (``-o`` naming the input, also through a link). ``-`` is standard output."""
    name = str(output)
    if name == "-":
        return
    path = Path(name)
    if path.is_dir():
        raise InputError(f"cannot write {name}: it is a folder")
    folder = path.parent
    if not folder.is_dir():
        raise InputError(f"cannot write {name}: folder {folder} does not exist")
    if not os.access(path if path.exists() else folder, os.W_OK):
        raise InputError(f"cannot write {name}: permission denied")
    for source in inputs:
        if str(source) != "-" and path.exists() and Path(source).exists() and os.path.samefile(path, source):
            raise InputError(f"the output {name} is the input file {source}: writing it would delete what is "
                             "being read; write to another file")


class RecordWriter:
    """Writes records as JSONL, one line each (``dump_line``), flushed after each, so an interrupted
    run loses nothing written. ``inputs``: files the run reads, which it refuses to write over."""

    def __init__(self, path: str | Path, append: bool = False, inputs: Iterable[str | Path] = ()) -> None:
        self.path = str(path)
        check_output(self.path, inputs)
        if self.path == "-":
            self._handle: IO[str] = sys.stdout
        else:
            p = Path(path)
            try:
                if append and p.is_file():
                    _settle_tail(p)
                self._handle = io.open(p, "a" if append else "w", encoding="utf-8")
            except OSError as exc:
                raise ExtractorError(f"cannot write {path}: {exc.strerror}") from exc

    def write(self, record: Record) -> None:
        """One line for ``record``; a record that is not JSON (a NaN value from a library caller)
        becomes an error line with its id, so the line is still there."""
        try:
            line = dump_line(record.to_dict())
        except ValueError as exc:
            line = dump_line(Record(id=record.id, attributes=dict.fromkeys(record.attributes), status="failed",
                                    provenance=record.provenance, error=f"record is not JSON: {exc}").to_dict())
        self._handle.write(line)
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
