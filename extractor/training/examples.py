"""A user's training files, read for both engines (LoRA tuning and the tagger), and the training
example they become: a product text, its gold record and the schema it is written for.

A training file is JSONL in one of two layouts (``file_layout``):

- shots: ``{"text": ..., "record": {attribute: value-or-null}}`` lines, with an optional
  ``"schema"`` (shipped name or .schema.json path) and ``"id"`` per line (``read_shots``);
- benchmark: a split's lines with ``target_scores``, one schema per category derived from the file
  as the benchmark runner derives it (``read_target_scores``, by the layout's own parsing in
  ``extractor.evaluate.datasets``, which also reads the named benchmark datasets)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ..schemas import Schema, load_schema

if TYPE_CHECKING:
    from ..evaluate.scorer import GoldOffer
    from ..records import Document


@dataclass(frozen=True)
class Example:
    """One training example: a product text, its gold record and the schema it is written for."""

    text: str
    record: dict[str, Any]
    schema: Schema
    source: str
    """The file it came from, with ``+<augmentation>`` for synthetic variants."""
    origin: str | None = None
    """A synthetic variant's real example's text. Never shown as the variant's demonstration:
    its answer is (nearly) the variant's own, so the model would learn to copy it."""


# --- reading -------------------------------------------------------------------------------

def _lines(path: str | Path) -> list[tuple[int, dict[str, Any]]]:
    from ..io import read_jsonl

    rows = list(read_jsonl(path, ConfigError))
    if not rows:
        raise ConfigError(f"{path} holds no examples")
    return rows


def file_layout(path: str | Path) -> str:
    """`benchmark` (lines with ``target_scores``) or `shots` (lines with ``text`` and ``record``)."""
    _, first = _lines(path)[0]
    if "target_scores" in first:
        return "benchmark"
    if "text" in first and "record" in first:
        return "shots"
    raise ConfigError(f"{path}: lines need either 'target_scores' (benchmark layout) or 'text' and "
                      "'record' (shots layout)")


def read_shots(path: str | Path, default_schema: str | None) -> list[tuple[int, dict[str, Any], Schema]]:
    """The checked lines of a training file in the shots layout: (line number, {id, text, record},
    schema). Each line's ``schema`` field (a shipped name or a .schema.json path), else
    ``default_schema``, names its schema; a record's keys outside it are refused and its missing
    attributes become null."""
    loaded: dict[str, Schema] = {}
    out = []
    for number, obj in _lines(path):
        where = f"{path}:{number}"
        if not isinstance(obj.get("text"), str) or not obj["text"].strip() or not isinstance(obj.get("record"), dict):
            raise ConfigError(f"{where}: a line needs a non-empty string 'text' and an object 'record'")
        name = obj.get("schema") or default_schema
        if not name:
            raise ConfigError(f"{where}: no schema for this line: give --schema or a 'schema' field")
        if name not in loaded:
            loaded[name] = load_schema(name)
        schema = loaded[name]
        extra = sorted(set(obj["record"]) - set(schema.names))
        if extra:
            raise ConfigError(f"{where}: record has keys outside schema {schema.name!r}: {', '.join(extra)}")
        record = {n: obj["record"].get(n) for n in schema.names}
        out.append((number, {"id": obj.get("id"), "text": obj["text"], "record": record}, schema))
    return out


def read_target_scores(path: str | Path, title_only: bool = False, schemas: dict[str, Schema] | None = None,
                       rows: list[dict[str, Any]] | None = None
                       ) -> tuple[list[Document], list[GoldOffer], dict[str, Schema]]:
    """Documents, gold and category -> schema of a training file in the benchmark layout (lines with
    ``target_scores``; ``rows``: its lines, when already read). The schemas are ``schemas`` when
    given (a validation file takes its training file's), else derived from the file as
    ``load_benchmark`` derives them from train.jsonl (``descriptions.jsonl`` beside it or one folder
    up), so schema ids match at evaluation."""
    from ..evaluate.datasets import derive_schemas, descriptions_near, full_texts, load_descriptions, offers_from_rows
    from ..evaluate.scorer import read_rows

    if rows is None:
        rows = read_rows(path)
    documents, gold = offers_from_rows(rows, title_only)
    if not schemas:
        near = descriptions_near(Path(path).parent)
        descriptions = load_descriptions(near) if near else None
        schemas = derive_schemas(gold, descriptions, texts=full_texts(rows))
    return documents, gold, schemas


def examples_of_target_scores(path: str | Path, title_only: bool = False) -> list[Example]:
    """The training examples of a benchmark-layout file: each offer's text with a record of the
    first gold form of every attribute of its category's schema (offers without text left out)."""
    from ..evaluate.datasets import demonstration_pool

    documents, gold, schemas = read_target_scores(path, title_only)
    pools = demonstration_pool(documents, gold, schemas)
    return [Example(d["text"], d["record"], schemas[category], str(path))
            for category, items in pools.items() for d in items if d["text"].strip()]
