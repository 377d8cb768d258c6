"""An engine's records as Label Studio tasks: each offer's text with the engine's values as
pre-annotations (character spans labelled with the attribute, each with the engine's confidence),
and the labelling config (XML) that shows them, so a person corrects values instead of typing them.

Where a value's span comes from: the record's own span (``Record.spans``: constrained decoding and
the tagger write one for single values) when it holds the value, else the value's first occurrence
in the text, found as the tagger's training finds gold values (``tagger.data.locate``: exact, then
ignoring case, then inside a word); array values item by item. A value found nowhere in the text
cannot be a span: it is counted (``TaskReport.unlocated``), not pre-annotated. Boolean attributes,
which no span says, are a yes/no choice each.

A region's ``score`` is the record's confidence of that attribute (``Record.confidence``: the
constrained decoder's geometric mean token probability of the value, the tagger's mean label
probability over the span's tokens; none for free decoding). A task's score is the lowest
confidence of any attribute of its record (values and nulls alike): ``order="least-confident"``
puts the offers the engine is least sure of first, and records without any confidence before all
others, since nothing vouches for them."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

from ..records import Document, Record
from ..schemas import Attribute, Schema
from .offsets import to_utf16

ORDERS = ("input", "least-confident")
"""Task orders: as the input lines, or least confident record first."""
OFFSETS = ("utf-16", "code-points")
"""How a task's region offsets count characters (``TaskConfig.offsets``)."""
LABELS_NAME = "label"
"""The ``name`` of the config's Labels control (each region's ``from_name``)."""
TEXT_NAME = "text"
"""The ``name`` of the config's Text object (each region's ``to_name``); tasks keep the text in data.text."""


@dataclass
class TaskConfig:
    """How records become tasks."""

    order: str = "input"
    """`input`: tasks in input order; `least-confident`: the lowest task score first (see the module docstring)."""
    offsets: str = "utf-16"
    """How regions' offsets count: `utf-16` (JavaScript string positions, what Label Studio's text
    labelling uses) or `code-points` (Python string positions, for a Label Studio version that
    stores those: emoji then shift the pre-annotations by one unit per emoji before them)."""
    schema_name: str | None = None
    """Written to each task's data as ``schema`` (the name or path the user gave), so the import
    knows the schema without being told again; None: the schema's own name."""


@dataclass
class TaskReport:
    """What became of the records."""

    tasks: int = 0
    regions: int = 0
    """Values pre-annotated as spans or choices."""
    unlocated: list[str] = field(default_factory=list)
    """``id/attribute: value`` of values not found in their text (not pre-annotated)."""
    unreadable: int = 0
    """Input lines without a usable text (no task)."""
    failed: int = 0
    """Records the engine could not make (their task has no pre-annotation)."""

    def lines(self) -> list[str]:
        out = [f"{self.tasks} task(s), {self.regions} pre-annotated value(s)"]
        if self.unlocated:
            shown = "; ".join(self.unlocated[:5])
            out.append(f"{len(self.unlocated)} value(s) not found in their text, not pre-annotated: {shown}")
        if self.unreadable:
            out.append(f"{self.unreadable} input line(s) without a usable text skipped")
        if self.failed:
            out.append(f"{self.failed} record(s) the engine could not make: their tasks have no pre-annotation")
        return out


def choice_name(index: int) -> str:
    """The Choices control of the ``index``-th boolean attribute (names stay plain whatever the attribute's)."""
    return f"choice{index}"


def boolean_attributes(schema: Schema) -> list[Attribute]:
    """The schema's single boolean attributes, in order: each is a yes/no choice, not a span."""
    return [a for a in schema.attributes if not a.is_array and set(a.types) <= {"boolean", "null"}
            and "boolean" in a.types]


def labelling_config(schema: Schema) -> str:
    """Label Studio's labelling config for ``schema``: one span label per taggable attribute, one
    yes/no choice per boolean attribute, over the task's ``text``."""
    from ..tagger.labels import taggable

    lines = ["<View>", f"  <Header value={quoteattr(schema.name)}/>",
             f'  <Labels name="{LABELS_NAME}" toName="{TEXT_NAME}">']
    lines += [f"    <Label value={quoteattr(a.name)}/>" for a in schema.attributes if taggable(a)]
    lines += ["  </Labels>", f'  <Text name="{TEXT_NAME}" value="${TEXT_NAME}"/>']
    for i, attribute in enumerate(boolean_attributes(schema)):
        lines += [f"  <Header value={quoteattr(attribute.name)}/>",
                  f'  <Choices name="{choice_name(i)}" toName="{TEXT_NAME}" choice="single-radio">',
                  '    <Choice value="true"/>', '    <Choice value="false"/>', "  </Choices>"]
    return "\n".join([*lines, "</View>"]) + "\n"


def _span_of(text: str, value: Any, given: Any) -> tuple[int, int] | None:
    """Python [start, end) of ``value`` in ``text``: the record's span when it holds the value, else
    its first occurrence (``tagger.data.locate``'s rules)."""
    from ..tagger.data import locate, value_forms

    if isinstance(given, list) and len(given) == 2 and all(isinstance(x, int) for x in given) \
            and 0 <= given[0] < given[1] <= len(text) and text[given[0]:given[1]] == str(value):
        return given[0], given[1]
    for form in value_forms(value) or []:
        found, _ = locate(text, form)
        if found:
            return found[0]
    return None


def _regions(doc: Document, record: Record, schema: Schema, report: TaskReport,
             utf16: bool = True) -> list[dict[str, Any]]:
    from ..tagger.labels import taggable

    confidence = record.confidence or {}
    spans = record.spans or {}
    out: list[dict[str, Any]] = []
    booleans = {a.name: i for i, a in enumerate(boolean_attributes(schema))}
    for attribute in schema.attributes:
        value = record.attributes.get(attribute.name)
        if value is None:
            continue
        score = confidence.get(attribute.name)
        if attribute.name in booleans and isinstance(value, bool):
            region: dict[str, Any] = {"id": f"r{len(out)}", "from_name": choice_name(booleans[attribute.name]),
                                      "to_name": TEXT_NAME, "type": "choices",
                                      "value": {"choices": ["true" if value else "false"]}}
            out.append(region if score is None else {**region, "score": score})
            continue
        if not taggable(attribute):
            continue
        items = value if isinstance(value, list) else [value]
        for item in items:
            span = _span_of(doc.text, item, None if isinstance(value, list) else spans.get(attribute.name))
            if span is None:
                report.unlocated.append(f"{doc.id}/{attribute.name}: {item!r}")
                continue
            start, end = span
            region = {"id": f"r{len(out)}", "from_name": LABELS_NAME, "to_name": TEXT_NAME, "type": "labels",
                      "value": {"start": to_utf16(doc.text, start) if utf16 else start,
                                "end": to_utf16(doc.text, end) if utf16 else end,
                                "text": doc.text[start:end], "labels": [attribute.name]}}
            out.append(region if score is None else {**region, "score": score})
    report.regions += len(out)
    return out


def task_score(record: Record) -> float | None:
    """The lowest confidence of any attribute of ``record``; None when it has none."""
    scores = [c for c in (record.confidence or {}).values() if c is not None]
    return min(scores) if scores else None


def make_tasks(documents: Sequence[Document], records: Sequence[Record], schema: Schema,
               config: TaskConfig | None = None) -> tuple[list[dict[str, Any]], TaskReport]:
    """Label Studio tasks (its JSON import format) for ``documents`` and the ``records`` an engine
    made of them (one per document, in order), and what became of them."""
    config = config or TaskConfig()
    if config.order not in ORDERS:
        raise ValueError(f"order {config.order!r} is not one of {', '.join(ORDERS)}")
    if config.offsets not in OFFSETS:
        raise ValueError(f"offsets {config.offsets!r} is not one of {', '.join(OFFSETS)}")
    report = TaskReport()
    scored: list[tuple[float | None, dict[str, Any]]] = []
    for doc, record in zip(documents, records, strict=True):
        if doc.error is not None or not doc.text.strip():
            report.unreadable += 1
            continue
        task: dict[str, Any] = {"data": {TEXT_NAME: doc.text, "offer_id": doc.id,
                                         "schema": config.schema_name or schema.name}}
        score = task_score(record) if record.ok else None
        if record.ok:
            prediction: dict[str, Any] = {"model_version": record.provenance.spec or record.provenance.model,
                                          "result": _regions(doc, record, schema, report,
                                                             config.offsets == "utf-16")}
            if score is not None:
                prediction["score"] = score
            task["predictions"] = [prediction]
        else:
            report.failed += 1
        scored.append((score, task))
    if config.order == "least-confident":
        scored.sort(key=lambda item: -1.0 if item[0] is None else item[0])  # stable: input order among equals
    report.tasks = len(scored)
    return [task for _, task in scored], report


def tasks_from_engine(engine: Any, documents: Sequence[Document], config: TaskConfig | None = None,
                      on_record: Callable[[Record], None] | None = None
                      ) -> tuple[list[dict[str, Any]], TaskReport, Any]:
    """Run ``engine`` (an ``engine.Engine``, e.g. ``spec.build_engine``'s) over ``documents`` and make
    the tasks of its records (``make_tasks`` for the engine's schema); also the run's ``Summary``."""
    from ..pipeline import extract_stream

    records: list[Record] = []

    def keep(record: Record) -> None:
        records.append(record)
        if on_record is not None:
            on_record(record)

    summary = extract_stream(engine, documents, 0, keep)
    tasks, report = make_tasks(documents, records, engine.schema, config)
    return tasks, report, summary


def aligned(documents: Iterable[Document],
            records: Iterable[Record | None]) -> Iterator[tuple[Document, Record | None]]:
    """(document, record) pairs of a texts file and the records file ``extract`` wrote from it: one
    record per line, in order (None: a line that is not a record); InputError when the counts or
    the ids disagree, since the records were then not written from these texts."""
    from ..errors import InputError

    record_iter = iter(records)
    for n, doc in enumerate(documents, start=1):
        try:
            record = next(record_iter)
        except StopIteration:
            raise InputError(f"the records end at line {n - 1} but the texts go on: one record per text is "
                             "needed") from None
        if record is not None and record.id != doc.id:
            raise InputError(f"line {n}: record {record.id!r} is not of text {doc.id!r}: the records were not "
                             "written from these texts (one record per input line, in order)")
        yield doc, record
    for _ in record_iter:
        raise InputError("there are more records than texts: one record per text is needed")


def tasks_from_records(documents: Iterable[Document], records: Iterable[Record | None], schema: Schema,
                       config: TaskConfig | None = None) -> tuple[list[dict[str, Any]], TaskReport]:
    """``make_tasks`` of the records an earlier ``extract`` run wrote from ``documents`` (aligned by
    ``aligned``; a line that is not a record counts as a record the engine could not make)."""
    from ..records import Provenance

    docs, recs = [], []
    for doc, record in aligned(documents, records):
        docs.append(doc)
        recs.append(record or Record(id=doc.id, attributes=dict.fromkeys(schema.names), status="failed",
                                     provenance=Provenance(model="", adapter=None, prompt="", schema=schema.name,
                                                           decoding=""), error="not a record"))
    return make_tasks(docs, recs, schema, config)


def write_tasks(path: str | Path, tasks: list[dict[str, Any]], config_xml: str | None = None) -> Path | None:
    """Write ``tasks`` as a JSON array (Label Studio's import file) to ``path``, whole or not at all,
    and ``config_xml`` beside it (``<stem>.config.xml``, returned)."""
    from ..io import written_whole

    text = json.dumps(tasks, ensure_ascii=False, indent=1, allow_nan=False) + "\n"
    with written_whole(path) as partial:
        Path(partial).write_text(text, encoding="utf-8")
    if config_xml is None:
        return None
    beside = Path(path).with_suffix(".config.xml")
    beside.write_text(config_xml, encoding="utf-8")
    return beside
