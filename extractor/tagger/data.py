"""Training data for the tagger: gold values located in the text, BIO labels over the tokenizer's
offsets, and windows with overlap so long texts are read whole, never cut.

How a gold value is located (``locate``), per gold form, first tier that finds anything wins and
gives *all* its occurrences:

1. ``exact``: case-sensitive, at word boundaries (an alphanumeric end of the value must not touch
   another alphanumeric character, so "Red" is not found inside "Reduced");
2. ``ignore-case``: case-insensitive (Python's ``re.IGNORECASE``: simple case folding, which keeps
   offsets, so "ß" does not match "SS"), at word boundaries;
3. ``exact-in-word``, 4. ``ignore-case-in-word``: the same without the boundary rule; such an
   occurrence is labelled on its whole word(s), as extraction reads whole words, and remembers
   its own characters for the word forms (``wordforms``).

Every listed gold form of a slot is located (the benchmarks list variants such as "16GB" and
"16 GB"; a shots record lists array items), longest first; an occurrence overlapping one already
taken for the same attribute is skipped. Values are counted, never silently dropped: a slot
whose forms occur nowhere is ``unlocated``; one whose occurrences all start or end inside a token
is ``unaligned`` (BIO labels tag whole tokens); one whose occurrences all overlap a span of an
earlier attribute of the schema is ``conflict`` (one label per token). Boolean attributes get no
labels at all (no span says "true"). :class:`LocateReport` holds the counts and a few examples."""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..evaluate.scorer import GOLD_ABSENT, GoldOffer
from ..records import Document
from ..schemas import Schema
from .labels import IGNORE, LabelSet, Span, TaggedText, taggable  # noqa: F401  (IGNORE: importers of data)
from .tokens import Frame, Tokens, Window, special_frame, tokenize, window_starts, windows  # noqa: F401
from .wordforms import widen

RULES = ("exact", "ignore-case", "exact-in-word", "ignore-case-in-word")
OUTCOMES = ("tagged", "absent", "unlocated", "unaligned", "conflict")
MAX_EXAMPLES = 5


def _bounded(text: str, start: int, end: int) -> bool:
    """Whether [start, end) does not cut an alphanumeric word at either end."""
    left = start == 0 or not (text[start - 1].isalnum() and text[start].isalnum())
    right = end == len(text) or not (text[end - 1].isalnum() and text[end].isalnum())
    return left and right


def locate(text: str, value: str) -> tuple[list[tuple[int, int]], str | None]:
    """All occurrences [start, end) of ``value`` in ``text`` under the first rule of :data:`RULES`
    that finds any, and that rule's name (None and no occurrences when none does)."""
    if not value:
        return [], None
    for rule in RULES:
        flags = re.IGNORECASE if "ignore-case" in rule else 0
        found = [(m.start(), m.end()) for m in re.finditer(re.escape(value), text, flags)]
        if "in-word" not in rule:
            found = [(s, e) for s, e in found if _bounded(text, s, e)]
        if found:
            return found, rule
    return [], None


def value_forms(value: Any) -> list[str] | None:
    """The strings to look for of one record value: [] when absent, None when a span can never
    express it (booleans, objects); numbers as they are usually written, lists item by item."""
    if value is None:
        return []
    if isinstance(value, bool) or isinstance(value, dict):
        return None
    if isinstance(value, (int, float)):
        return [str(int(value)) if float(value).is_integer() else str(value)]
    if isinstance(value, str):
        return [value] if value.strip() else []
    if isinstance(value, list):
        forms: list[str] = []
        for item in value:
            item_forms = value_forms(item)
            if item_forms is None:
                return None
            forms.extend(item_forms)
        return forms
    return None


@dataclass
class LocateReport:
    """How the gold slots of a training set became labels (see the module docstring)."""

    outcomes: Counter[str] = field(default_factory=Counter)
    """Slot outcome → count (each (text, attribute) slot counts once)."""
    rules: Counter[str] = field(default_factory=Counter)
    """Locate rule → located slots (the best rule among the slot's forms)."""
    examples: dict[str, list[str]] = field(default_factory=dict)
    """Outcome → up to five ``id/attribute: value`` examples, for the problems."""

    def count(self, outcome: str, where: str | None = None) -> None:
        self.outcomes[outcome] += 1
        if where is not None:
            shown = self.examples.setdefault(outcome, [])
            if len(shown) < MAX_EXAMPLES:
                shown.append(where)

    def lines(self) -> list[str]:
        """A short human report: one line of counts, then examples of each problem."""
        counts = ", ".join(f"{o} {self.outcomes[o]}" for o in OUTCOMES if self.outcomes[o])
        rules = ", ".join(f"{r} {self.rules[r]}" for r in RULES if self.rules[r])
        out = [f"gold slots: {counts or 'none'}" + (f" (located by {rules})" if rules else "")]
        for outcome in ("unlocated", "unaligned", "conflict"):
            if self.examples.get(outcome):
                out.append(f"  {outcome}: " + "; ".join(self.examples[outcome]))
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"outcomes": {o: self.outcomes[o] for o in OUTCOMES},
                "rules": {r: self.rules[r] for r in RULES}, "examples": self.examples}


def tag_offers(documents: Sequence[Document], gold: Sequence[GoldOffer], labels: LabelSet,
               report: LocateReport) -> list[TaggedText]:
    """Locate every gold value of every offer (``document.category`` names its schema)."""
    tagged = []
    for document, offer in zip(documents, gold, strict=True):
        schema = offer.category
        candidates = []
        for attribute in labels.attributes(schema):
            forms = offer.targets.get(attribute)
            if forms is None or forms[0] == GOLD_ABSENT:
                report.count("absent")
                continue
            where = f"{offer.id}/{attribute}: {forms[0]!r}"
            spans: list[Span] = []
            best: str | None = None
            for form in sorted({f for f in forms if f != GOLD_ABSENT}, key=lambda f: (-len(f), f)):
                found, rule = locate(document.text, form)
                if rule is not None and (best is None or RULES.index(rule) < RULES.index(best)):
                    best = rule
                key = labels.key(schema, attribute)
                for s, e in found:
                    start, end = widen(document.text, s, e)
                    if not any(start < other.end and other.start < end for other in spans):
                        spans.append(Span(start, end, key, None if (start, end) == (s, e) else (s, e)))
            if best is None:
                report.count("unlocated", where)
                continue
            report.rules[best] += 1
            candidates.append((where, sorted(spans, key=lambda sp: sp.start)))
        tagged.append(TaggedText(id=offer.id, text=document.text, schema=schema, candidates=candidates))
    return tagged


def gold_from_records(records: Sequence[dict[str, Any]], schema: Schema, ids: Sequence[str]) -> list[GoldOffer]:
    """GoldOffers from shots-style records (attribute → value or None) for the schema's taggable
    attributes; a value no span can express there (a boolean in a string attribute) is an error."""
    gold = []
    for identifier, record in zip(ids, records, strict=True):
        targets: dict[str, tuple[str, ...]] = {}
        for attribute in schema.attributes:
            if not taggable(attribute):
                continue
            forms = value_forms(record.get(attribute.name))
            if forms is None:
                raise ConfigError(f"record {identifier}: {attribute.name} = {record.get(attribute.name)!r} "
                                  "cannot be a span of text")
            targets[attribute.name] = tuple(forms) if forms else (GOLD_ABSENT,)
        gold.append(GoldOffer(id=identifier, has_id=True, category=schema.name, targets=targets))
    return gold


@dataclass
class TrainingSet:
    """Texts with gold values: documents and gold offers aligned, and the schemas the offers'
    categories name."""

    documents: list[Document]
    gold: list[GoldOffer]
    schemas: dict[str, Schema]

    def __post_init__(self) -> None:
        if len(self.documents) != len(self.gold):
            raise ConfigError(f"{len(self.documents)} documents but {len(self.gold)} gold offers")
        unknown = sorted({g.category for g in self.gold} - set(self.schemas))
        if unknown:
            raise ConfigError(f"no schema for categor(ies) {', '.join(unknown)}")

    def split(self, share: float, seed: int) -> tuple[TrainingSet, TrainingSet | None]:
        """(train, held out): ``share`` of the texts, chosen by ``seed``, held out."""
        held = round(len(self.documents) * share)
        if held == 0:
            return self, None
        order = list(range(len(self.documents)))
        random.Random(seed).shuffle(order)
        out, keep = sorted(order[:held]), sorted(order[held:])
        return (TrainingSet([self.documents[i] for i in keep], [self.gold[i] for i in keep], self.schemas),
                TrainingSet([self.documents[i] for i in out], [self.gold[i] for i in out], self.schemas))

    def digest(self) -> str:
        """sha256 over the texts, categories and targets (what the manifest records)."""
        h = hashlib.sha256()
        for document, offer in zip(self.documents, self.gold):
            h.update(json.dumps([document.text, offer.category, offer.targets], ensure_ascii=False,
                                sort_keys=True).encode("utf-8"))
        return h.hexdigest()


def read_training_file(path: str | Path, schema: Schema | None = None,
                       schemas: dict[str, Schema] | None = None) -> TrainingSet:
    """A training (or validation) file: a benchmark split (lines with ``target_scores``; one schema
    per category, ``schemas`` when given (a validation file takes its training file's), else
    derived from the file as the benchmark runner does) or shots JSONL (``{"text", "record"}``
    lines, which need ``schema``)."""
    from ..demos import load_shots
    from ..evaluate.scorer import read_rows
    from ..training.examples import read_target_scores

    rows = read_rows(path)
    if not rows:
        raise ConfigError(f"{path} holds no lines")
    if "target_scores" in rows[0]:
        return TrainingSet(*read_target_scores(path, schemas=schemas, rows=rows))
    if schema is None:
        raise ConfigError(f"{path} holds shots ({{text, record}} lines): name their schema")
    shots = load_shots(path, schema)
    ids = [str(i) for i in range(1, len(shots) + 1)]
    documents = [Document(id=i, text=s.text, category=schema.name) for i, s in zip(ids, shots)]
    return TrainingSet(documents, gold_from_records([s.record for s in shots], schema, ids), {schema.name: schema})


# --- BIO labels over the tokens' offsets -----------------------------------------------------------

def bio_labels(tokens: Tokens, tagged: TaggedText, labels: LabelSet, report: LocateReport) -> list[int]:
    """One label id per token: B-/I- of the span's attribute, O elsewhere; counts each slot's outcome."""
    out = [labels.outside] * len(tokens.ids)
    starts = {s: i for i, (s, e) in enumerate(tokens.offsets) if e > s}
    ends = {e: i for i, (s, e) in enumerate(tokens.offsets) if e > s}
    for where, spans in tagged.candidates:
        aligned = tagged_any = False
        for span in spans:
            first, last = starts.get(span.start), ends.get(span.end)
            if first is None or last is None or last < first:
                continue
            aligned = True
            if any(out[i] != labels.outside for i in range(first, last + 1)):
                continue  # an earlier attribute's span holds these tokens
            out[first] = labels.begin(span.key)
            for i in range(first + 1, last + 1):
                out[i] = labels.inside(span.key)
            tagged_any = True
        report.count("tagged" if tagged_any else "conflict" if aligned else "unaligned",
                     None if tagged_any else where)
    return out
