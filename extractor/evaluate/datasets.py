"""Benchmark adapters: read WDC-PAVE, OA-Mine and AE-110K splits into Documents with stable ids,
and derive from the *training* split the per-category schemas and demonstration pools.

Two line layouts exist (the layout is recognised per line, from its keys):

- WDC-PAVE: ``id``, ``category``, ``input_title``, ``input_description``, ``target_scores``;
  text = title + "\\n" + description (or the title alone with ``title_only``).
- OA-Mine / AE-110K: ``input`` (a title), ``category``, ``target_scores``, no id: the id is the
  0-based line number as a string, the same id :mod:`.scorer` gives the gold line.

The data stays where it is: everything is read from the folder the caller names."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..errors import EvaluationError
from ..records import Document
from ..schemas import Schema, schema_from_attributes
from .scorer import GoldOffer, gold_offer, offer_id, read_rows

DATASETS = {
    "wdc-pave": "wdc-pave/extraction",
    "wdc-pave-normalized": "wdc-pave/normalized",
    "wdc-pave-70": "wdc-pave/extraction-70",
    "oa-mine": "oa-mine",
    "ae-110k": "ae-110k",
}
"""Known dataset names → folder under the data root (each holds ``<split>.jsonl`` files)."""
DESCRIPTIONS_FILE = "descriptions.jsonl"
MAX_EXAMPLES = 10
GROUNDED_SHARE = 0.9
"""An attribute stays grounded (values are spans of the text) when at least this share of its
training values occur in their offer's text: extraction gold nearly always does, while canonical
gold ("Blue" for "navy", "25.4" for "10 in") mostly does not, and then a span would forbid the
right value."""


@dataclass
class Benchmark:
    """One evaluated split with what the pipeline needs beside it (all derived from train)."""

    name: str
    split: str
    documents: list[Document]
    gold: list[GoldOffer]
    """Aligned with ``documents`` (same order, same ids)."""
    schemas: dict[str, Schema]
    """Category → schema derived from the training split."""
    pools: dict[str, list[dict[str, Any]]]
    """Category → demonstrations ``{"text": ..., "record": {attribute: value-or-None}}`` from train."""
    text_fields: str = "title"
    """What the texts hold: ``title`` or ``title+description`` (WDC-PAVE unless title_only)."""

    def head(self, limit: int | None) -> Benchmark:
        """The first ``limit`` offers (all of them for None); schemas and pools are unchanged."""
        if limit is None:
            return self
        if limit < 1:
            raise EvaluationError("limit must be >= 1")
        return replace(self, documents=self.documents[:limit], gold=self.gold[:limit])

    def sample(self, size: int | None, seed: int = 0) -> Benchmark:
        """``size`` offers drawn at random with ``seed``, kept in file order (all of them for None or
        for a size not below their number). The benchmark files are sorted by category, so their
        first offers reach only a few categories, where a random draw reaches them all."""
        if size is None or size >= len(self.documents):
            return self
        if size < 1:
            raise EvaluationError("size must be >= 1")
        keep = sorted(random.Random(seed).sample(range(len(self.documents)), size))
        return replace(self, documents=[self.documents[i] for i in keep], gold=[self.gold[i] for i in keep])


def resolve_dataset(dataset: str, data_root: str | Path | None = None) -> Path:
    """The folder of ``dataset``: a known name under ``data_root``, or a folder path itself."""
    if dataset in DATASETS:
        if data_root is None:
            raise EvaluationError(f"dataset {dataset!r} needs the data root folder (e.g. ../shared/data)")
        folder = Path(data_root) / DATASETS[dataset]
    else:
        folder = Path(dataset)
    if not folder.is_dir():
        raise EvaluationError(f"no dataset folder {folder} (known names: {', '.join(DATASETS)}, "
                              "or give a folder holding <split>.jsonl files)")
    return folder


def offer_text(row: Mapping[str, Any], index: int, title_only: bool = False) -> str:
    """The text the model reads for one benchmark line."""
    if isinstance(row.get("input"), str):
        return row["input"]
    title = row.get("input_title")
    if not isinstance(title, str):
        raise EvaluationError(f"line {index}: needs 'input' (OA-Mine/AE-110K) or 'input_title' (WDC-PAVE)")
    description = row.get("input_description")
    if title_only or not isinstance(description, str) or not description.strip():
        return title
    return f"{title}\n{description}"


def offers_from_rows(rows: list[dict[str, Any]], title_only: bool = False) -> tuple[list[Document], list[GoldOffer]]:
    """Documents and gold offers of one split's lines, aligned and with the same ids."""
    documents, gold = [], []
    for index, row in enumerate(rows):
        offer = gold_offer(row, index)
        identifier, _ = offer_id(row, index)
        documents.append(Document(id=identifier, text=offer_text(row, index, title_only), category=offer.category))
        gold.append(offer)
    return documents, gold


def read_offers(path: str | Path, title_only: bool = False) -> tuple[list[Document], list[GoldOffer]]:
    """Documents and gold offers of one split file, aligned and with the same ids."""
    return offers_from_rows(read_rows(path), title_only)


def full_texts(rows: list[dict[str, Any]]) -> list[str]:
    """The title-and-description text of each benchmark line, even where a run reads titles only:
    grounding is judged on what the offer says, not on the part a run reads."""
    return [offer_text(row, index) for index, row in enumerate(rows)]


def load_descriptions(path: str | Path) -> tuple[dict[tuple[str, str], str], dict[str, str]]:
    """(category, attribute) → attribute description and category → description, from a WDC-PAVE
    ``descriptions.jsonl`` (fields Category, Attribute, Human_Description, Category_Description)."""
    attributes: dict[tuple[str, str], str] = {}
    categories: dict[str, str] = {}
    for row in read_rows(path):
        category, attribute = row.get("Category"), row.get("Attribute")
        if not isinstance(category, str) or not isinstance(attribute, str):
            raise EvaluationError(f"{path}: every row needs 'Category' and 'Attribute'")
        if isinstance(row.get("Human_Description"), str):
            attributes[(category, attribute)] = row["Human_Description"].strip()
        if isinstance(row.get("Category_Description"), str):
            categories[category] = row["Category_Description"].strip()
    return attributes, categories


def _first_form(offer: GoldOffer, attribute: str) -> str | None:
    if attribute not in offer.targets or offer.absent(attribute):
        return None
    return offer.targets[attribute][0]


def _category_attributes(gold: list[GoldOffer]) -> dict[str, list[str]]:
    """Category → attribute names in order of first appearance (stable schema order)."""
    out: dict[str, list[str]] = {}
    for offer in gold:
        names = out.setdefault(offer.category, [])
        names.extend(a for a in offer.targets if a not in names)
    return out


def derive_schemas(train: list[GoldOffer], descriptions: tuple[dict[tuple[str, str], str], dict[str, str]] | None = None,
                   max_examples: int = MAX_EXAMPLES, texts: list[str] | None = None) -> dict[str, Schema]:
    """One schema per category: its attributes, their descriptions where known, and up to
    ``max_examples`` example values (the most frequent first gold forms, ties in file order).

    ``texts``: the full text (title and description) of each offer of ``train``. Where given, an
    attribute whose values are mostly not in them is marked ``x-grounded: false``, so constrained
    decoding may write values the text does not spell (canonical values)."""
    attribute_text, category_text = descriptions or ({}, {})
    if texts is not None and len(texts) != len(train):
        raise EvaluationError(f"{len(texts)} texts for {len(train)} training offers")
    schemas = {}
    for category, names in _category_attributes(train).items():
        attributes: dict[str, dict[str, Any]] = {}
        for name in names:
            values = Counter(v for o in train if o.category == category
                             for v in [_first_form(o, name)] if v)
            # Counter keeps insertion order for equal counts, so ties stay in file order.
            examples = [v for v, _ in sorted(values.items(), key=lambda item: -item[1])[:max_examples]]
            attributes[name] = {"description": attribute_text.get((category, name), ""), "examples": examples}
            if texts is not None and _grounded_share(train, texts, category, name) < GROUNDED_SHARE:
                attributes[name]["grounded"] = False
        schemas[category] = schema_from_attributes(category, attributes, category_text.get(category, ""))
    return schemas


def _grounded_share(train: list[GoldOffer], texts: list[str], category: str, name: str) -> float:
    """The share of ``name``'s training values with a gold form that occurs in the offer's text."""
    found = total = 0
    for offer, text in zip(train, texts):
        if offer.category == category and _first_form(offer, name):
            total += 1
            found += any(form in text for form in offer.targets[name])
    return found / total if total else 1.0


def demonstration_pool(documents: list[Document], gold: list[GoldOffer],
                       schemas: dict[str, Schema]) -> dict[str, list[dict[str, Any]]]:
    """Category → demonstrations: each training offer's text and a record holding, for every
    attribute of the category's schema, the first gold form (None where absent or not listed)."""
    pools: dict[str, list[dict[str, Any]]] = {category: [] for category in schemas}
    for document, offer in zip(documents, gold):
        names = schemas[offer.category].names
        pools[offer.category].append({"text": document.text,
                                      "record": {name: _first_form(offer, name) for name in names}})
    return pools


def descriptions_near(folder: Path) -> Path | None:
    """``descriptions.jsonl`` in ``folder`` or the folder above it (None: neither has one)."""
    # WDC-PAVE keeps one descriptions file beside its three variants (extraction/, normalized/, ...).
    for candidate in (folder / DESCRIPTIONS_FILE, folder.parent / DESCRIPTIONS_FILE):
        if candidate.is_file():
            return candidate
    return None


def load_benchmark(dataset: str, split: str = "validation", data_root: str | Path | None = None,
                   title_only: bool = False, max_examples: int = MAX_EXAMPLES) -> Benchmark:
    """Read ``split`` of ``dataset`` and derive schemas and demonstration pools from its train split."""
    folder = resolve_dataset(dataset, data_root)
    if split == "train":
        raise EvaluationError("schemas and demonstrations come from the train split; evaluate on another split")
    split_path, train_path = folder / f"{split}.jsonl", folder / "train.jsonl"
    for path in (split_path, train_path):
        if not path.is_file():
            raise EvaluationError(f"missing {path}")
    rows = read_rows(split_path)
    documents, gold = offers_from_rows(rows, title_only)
    train_rows = read_rows(train_path)
    train_documents, train_gold = offers_from_rows(train_rows, title_only)
    descriptions_path = descriptions_near(folder)
    descriptions = load_descriptions(descriptions_path) if descriptions_path else None
    schemas = derive_schemas(train_gold, descriptions, max_examples, full_texts(train_rows))
    unknown = sorted({o.category for o in gold} - set(schemas))
    if unknown:
        raise EvaluationError(f"categories with no training offers, so no schema: {', '.join(unknown)}")
    pools = demonstration_pool(train_documents, train_gold, schemas)
    name = dataset if dataset in DATASETS else folder.name
    described = not title_only and any(isinstance(r.get("input_description"), str) for r in rows)
    return Benchmark(name=name, split=split, documents=documents, gold=gold, schemas=schemas, pools=pools,
                     text_fields="title+description" if described else "title")


__all__ = ["Benchmark", "DATASETS", "demonstration_pool", "derive_schemas", "descriptions_near", "full_texts",
           "load_benchmark", "load_descriptions", "offer_text", "offers_from_rows", "read_offers", "resolve_dataset"]
