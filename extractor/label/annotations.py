"""A Label Studio export read back as training lines: ``{"id", "text", "record"}`` (plus
``"schema"`` when the task names one), the shots layout that ``finetune`` and ``finetune-tagger``
read (``training.examples.read_shots``, ``demos.load_shots``).

Which annotation counts, per task: the latest one not cancelled (``was_cancelled``), by
``updated_at``, else ``created_at``, else its place in the list. A task without one is skipped and
counted; an annotation with no regions is a record of nulls (the person found no value).

Regions: a ``labels`` region gives its attributes (its labels) the text between its offsets, which
are converted from Label Studio's UTF-16 units (``offsets.from_utf16``) and must give the region's
own ``text`` when it has one. Label Studio versions differ here (some store code points, as Python
counts): offsets that give the region's text only when read as code points are read so; offsets
that give it neither way mean the export does not belong to these texts (InputError). Per
attribute, a region inside or around a longer one of the same attribute is dropped; an array
attribute takes its regions' distinct texts in text order, a single-valued one the first region
(the others are counted). A ``choices`` region of a boolean attribute gives true or false. Values
then pass the schema's validation (``validate.check_record``: numbers read from their text, enums
checked); a value it refuses becomes null and is counted."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..schemas import Schema
from .offsets import from_utf16
from .tasks import TEXT_NAME, boolean_attributes, choice_name


@dataclass
class ImportReport:
    """What became of the export's tasks."""

    lines: int = 0
    """Training lines written."""
    unannotated: int = 0
    """Tasks without an annotation that is not cancelled (skipped, unless their prediction is taken)."""
    predicted: int = 0
    """Lines made from a task's prediction (``predictions=True``), for tasks nobody annotated."""
    low_confidence: int = 0
    """Prediction regions scored below ``min_confidence`` (left out)."""
    extra_regions: list[str] = field(default_factory=list)
    """``id/attribute`` of single-valued attributes with several regions (the first in the text kept)."""
    unknown_labels: dict[str, int] = field(default_factory=dict)
    """Labels the schema has no attribute for, with their counts (ignored)."""
    invalid: list[str] = field(default_factory=list)
    """``id/attribute: problem`` of values the schema refused (set to null)."""

    def messages(self) -> list[str]:
        out = [f"{self.lines} labelled line(s)"]
        if self.predicted:
            out.append(f"{self.predicted} line(s) from the engine's pre-annotations (tasks nobody annotated), "
                       f"{self.low_confidence} region(s) below the confidence threshold left out")
        if self.unannotated:
            out.append(f"{self.unannotated} task(s) without an annotation (or only cancelled ones) skipped")
        if self.extra_regions:
            out.append(f"{len(self.extra_regions)} single-valued attribute(s) with several regions, the first "
                       f"kept: {'; '.join(self.extra_regions[:5])}")
        if self.unknown_labels:
            out.append("labels outside the schema ignored: "
                       + ", ".join(f"{k} ({n})" for k, n in sorted(self.unknown_labels.items())))
        if self.invalid:
            out.append(f"{len(self.invalid)} value(s) the schema refused, set to null: {'; '.join(self.invalid[:5])}")
        return out


def read_export(path: str | Path) -> list[dict[str, Any]]:
    """The tasks of a Label Studio JSON export (a JSON array of task objects); InputError otherwise."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"cannot read Label Studio export {path}: {exc}") from exc
    if not isinstance(data, list) or not all(isinstance(t, dict) for t in data):
        raise InputError(f"{path}: a Label Studio export is a JSON array of tasks")
    return data


def region_offsets(text: str, value: dict[str, Any], where: str) -> tuple[int, int]:
    """Python [start, end) of a region of ``text``: its offsets read as UTF-16 units, or, when
    that slice is not the region's own ``text`` and reading them as code points gives it, as code
    points (some Label Studio versions store those); InputError when neither fits."""
    try:
        units = int(value["start"]), int(value["end"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"{where} has no usable offsets ({exc})") from exc
    said = value.get("text")
    try:
        start, end = from_utf16(text, units[0]), from_utf16(text, units[1])
    except ValueError as exc:
        if said is None:
            raise InputError(f"{where} has no usable offsets ({exc})") from exc
        start = end = -1
    if said is None or text[start:end] == said and start >= 0:
        return start, end
    if 0 <= units[0] <= units[1] <= len(text) and text[units[0]:units[1]] == said:
        return units
    raise InputError(f"{where} says {said!r} but its offsets give {text[max(start, 0):max(end, 0)]!r}: "
                     "the export does not match its texts")


def latest_annotation(task: dict[str, Any]) -> dict[str, Any] | None:
    """The task's latest annotation that was not cancelled, or None."""
    usable = [(a.get("updated_at") or a.get("created_at") or "", i, a)
              for i, a in enumerate(task.get("annotations") or [])
              if isinstance(a, dict) and not a.get("was_cancelled") and isinstance(a.get("result"), list)]
    return max(usable, key=lambda item: (str(item[0]), item[1]))[2] if usable else None


def _regions(task_id: str, text: str, result: list[dict[str, Any]], schema: Schema,
             report: ImportReport) -> dict[str, Any]:
    """The attribute values the annotation's regions give (before validation)."""
    names = set(schema.names)
    booleans = {choice_name(i): a.name for i, a in enumerate(boolean_attributes(schema))}
    spans: dict[str, list[tuple[int, int]]] = {}
    values: dict[str, Any] = {}
    for region in result:
        kind, value = region.get("type"), region.get("value") or {}
        if kind == "choices" and region.get("from_name") in booleans:
            choices = value.get("choices") or []
            if choices:
                values[booleans[region["from_name"]]] = choices[0] == "true"
            continue
        if kind != "labels" or region.get("to_name", TEXT_NAME) != TEXT_NAME:
            continue
        start, end = region_offsets(text, value, f"task {task_id}: region {region.get('id')!r}")
        if end <= start:
            continue
        for label in value.get("labels") or []:
            if label in names:
                spans.setdefault(label, []).append((start, end))
            else:
                report.unknown_labels[label] = report.unknown_labels.get(label, 0) + 1
    by_name = {a.name: a for a in schema.attributes}
    for name, found in spans.items():
        kept: list[tuple[int, int]] = []
        for s, e in sorted(set(found), key=lambda sp: (-(sp[1] - sp[0]), sp[0])):  # longest first
            if not any(s < ke and ks < e for ks, ke in kept):
                kept.append((s, e))
        kept.sort()
        texts = list(dict.fromkeys(text[s:e] for s, e in kept))
        if by_name[name].is_array:
            values[name] = texts
        else:
            values[name] = texts[0]
            if len(texts) > 1:
                report.extra_regions.append(f"{task_id}/{name}")
    return values


def latest_prediction(task: dict[str, Any], min_confidence: float, report: ImportReport) -> dict[str, Any] | None:
    """The task's last prediction as an annotation, its regions scored below ``min_confidence``
    (or unscored, when it is above 0) left out; None when it has none (an export lists ids only)."""
    found = [p for p in task.get("predictions") or [] if isinstance(p, dict) and isinstance(p.get("result"), list)]
    if not found:
        return None
    kept = []
    for region in found[-1]["result"]:
        score = region.get("score")
        if min_confidence > 0 and (not isinstance(score, (int, float)) or score < min_confidence):
            report.low_confidence += 1
        else:
            kept.append(region)
    return {"result": kept}


def labelled_lines(tasks: list[dict[str, Any]], schema: Schema | None = None, predictions: bool = False,
                   min_confidence: float = 0.0) -> tuple[list[dict[str, Any]], ImportReport]:
    """The training lines of an export's annotated tasks, and what became of the rest. ``schema``:
    the tasks' schema; None: each task's ``data.schema`` (as ``extractor label`` writes it).
    ``predictions``: a task nobody annotated gives its pre-annotations instead (silver labels:
    ``extractor label``'s own tasks file becomes training lines), without the regions scored below
    ``min_confidence``."""
    from ..schemas import load_schema
    from ..validate import check_record

    report = ImportReport()
    loaded: dict[str, Schema] = {}
    out = []
    for n, task in enumerate(tasks, start=1):
        data = task.get("data") or {}
        task_id = str(data.get("offer_id", task.get("id", n)))
        text = data.get(TEXT_NAME)
        if not isinstance(text, str):
            raise InputError(f"task {task_id}: no text in data.{TEXT_NAME}")
        annotation = latest_annotation(task)
        if annotation is None and predictions:
            annotation = latest_prediction(task, min_confidence, report)
            report.predicted += annotation is not None
        if annotation is None:
            report.unannotated += 1
            continue
        task_schema = schema
        if task_schema is None:
            name = data.get("schema")
            if not name:
                raise InputError(f"task {task_id} names no schema (data.schema): give the schema")
            task_schema = loaded.setdefault(name, load_schema(name))
        values = _regions(task_id, text, annotation["result"], task_schema, report)
        checked = check_record(values, task_schema)
        record = checked.attributes
        for name in checked.invalid:
            record[name] = None
        report.invalid.extend(f"{task_id}/{problem}" for problem in checked.errors)
        line: dict[str, Any] = {"id": task_id, "text": text, "record": record}
        if data.get("schema") and schema is None:
            line["schema"] = data["schema"]
        out.append(line)
    report.lines = len(out)
    return out, report
