"""TaggerExtractor: text -> windows -> encoder -> BIO -> spans -> validation -> record.

An :class:`extractor.engine.Engine`, like the LLM Extractor, so ``extract_stream``, the CLI and the
benchmark runner use either engine unchanged.

Decoding, per attribute: every token's label is the argmax over O and this schema's labels; a
candidate span starts at a B (or at an I that follows no B/I of its attribute) and runs over the
following I's (a token without letters or digits never starts one, and a span of such tokens
alone is dropped); its score is the mean probability of its tokens' labels. A span followed by a
letter that training learned names another attribute ('36"H') moves to that one (``markers``).
The value is the text of the highest-scoring span (arrays: every distinct span, in text order),
exactly as written, with its character offsets (edges moved onto whole values, ``_tidy``; cut
back to a part of a word where training learned the gold values are that part: ``wordforms``;
its ending (a full stop, a possessive "'s") cut off or taken in as the training gold writes them:
``endings``);
its confidence is that score. The token probabilities come from :mod:`.probabilities` (windows,
one tagger or several averaged)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..engine import Engine
from ..errors import ConfigError, SchemaError
from ..records import Document, Provenance, Record
from ..schemas import Schema, load_schema
from ..validate import check_record
from .data import Tokens
from .endings import JOINERS, follow_endings, follow_joined, majority
from .model import Tagger, taggable
from .markers import relocate
from .probabilities import Member, token_probabilities
from .wordforms import cut

PROMPT = "tagger"
DECODING = "tagger"
AVERAGED_SPAN_THRESHOLD = 0.5
"""The span threshold of averaged taggers whose first member's manifest chose none: a token is
inside a value when that is at least as likely as not. Averaging flattens the members' peaks, so
where they disagree ``O`` can win the argmax with under half of the probability; the threshold
takes such tokens back in, and does little for a single tagger, whose peaks are sharp
(docs/notes/2026-11-29-averaging-across-encoders.md)."""


@dataclass
class TaggerConfig:
    """How the tagger reads texts."""

    batch_size: int = 32
    """Windows run through the encoder together (documents are handed in by the same number)."""
    min_confidence: float = 0.0
    """Values whose confidence is below this become null (with a warning)."""
    window: int | None = None
    """Model positions per window; None = the window the tagger was trained with."""
    overlap: int | None = None
    """Tokens consecutive windows share; None = as trained."""
    span_threshold: float | None = None
    """Spans are runs of tokens whose most probable label is one attribute's B or I; with a
    threshold, a token also joins an attribute's span when that attribute's B + I probability
    reaches it. Low values find values the model was unsure of (higher recall; a token may then
    belong to two attributes); 1 leaves the most probable labels alone. None: the threshold the
    tagger's manifest chose on its validation texts, or, when it has none, the labels alone
    (averaged taggers: :data:`AVERAGED_SPAN_THRESHOLD`)."""

    word_forms: bool = True
    """Cut a span back to the part of a word that training learned the values are ("Mens" →
    "Men", "012345678905INNER" → "012345678905": the words, affixes and tails of the tagger's
    ``Manifest.word_forms``); False: whole words only."""
    markers: bool = True
    """Move a span to the attribute that the letter written right after it names, where training
    learned such markers ('36"H' → Height: the tagger's ``Manifest.markers``); False: the model's
    attributes alone."""
    endings: bool = True
    """Cut a full stop or a possessive off a span ("16 oz." → "16 oz"), or take one in ("Kid" →
    "Kid's"), as the training gold mostly wrote them (the tagger's ``Manifest.endings``); False:
    spans as the model ends them."""
    joined_words: bool = False
    """Likewise take in a word joined to a span by a hyphen or slash ("Angelfish" → "Angelfish-W"),
    or cut it off, as the training gold mostly wrote them (needs ``endings``). Off by default: it
    helps weaker taggers that stop at a joiner the gold goes past, but hurts stronger ones, since it
    overrides a model that was sure the joined word was apart ("3 Bars" of "3 Bars-7 Oz",
    "Caffeine-Free" of "Fair Trade/Caffeine-Free"); measure it per tagger (
    docs/notes/2026-11-30-tagger-augmentation-and-endings.md, "Tagger: joined words")."""

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ConfigError("batch_size must be >= 1")
        if not 0.0 <= self.min_confidence <= 1.0:
            raise ConfigError("min_confidence must be between 0 and 1")
        if self.window is not None and self.window < 8:
            raise ConfigError("window must be >= 8")
        if self.overlap is not None and self.overlap < 0:
            raise ConfigError("overlap must be >= 0")
        check_span_threshold(self.span_threshold)


def check_span_threshold(value: float | None) -> None:
    """Refuse a span threshold outside (0, 1]; None (the manifest's choice) passes."""
    if value is not None and not 0.0 < value <= 1.0:
        raise ConfigError("span_threshold must be in (0, 1], or None")


@dataclass(frozen=True)
class Found:
    """One decoded span."""

    text: str
    start: int
    end: int
    score: float


@dataclass
class _Job:
    """One document on its way (the fields ``extract_stream`` reads on error records)."""

    doc: Document
    text: str
    messages: list[Any] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    raw: str | None = None
    attempts: int = 0


class TaggerExtractor(Engine):
    """Extracts attribute records for one schema with a fine-tuned tagger, or with several taggers
    (``average``: trained with other seeds, data or encoders) whose token probabilities are
    averaged before decoding (:mod:`.probabilities`); the first tagger's tokens and manifest
    (threshold, word forms, markers, endings) decide the rest; each reads in its own window."""

    def __init__(self, tagger: Tagger, schema: Schema | str, config: TaggerConfig | None = None,
                 average: Sequence[Tagger] = ()) -> None:
        self.tagger = tagger
        self.average = list(average)
        self.schema = self._resolve(schema)
        self.config = config or TaggerConfig()
        self.provenance = Provenance(model="+".join(t.name for t in (tagger, *self.average)), adapter=None,
                                     prompt=PROMPT, schema=self.schema.id, decoding=DECODING)
        labels = tagger.labels
        self.keys = {a: labels.key(self.schema.name, a) for a in labels.attributes(self.schema.name)}
        self.allowed = labels.allowed(self.schema.name)
        self.members = [self._member(tagger, self.allowed), *(self._member(t, self._allowed_in(t)) for t in self.average)]
        self.span_threshold = (self.config.span_threshold if self.config.span_threshold is not None
                               else tagger.manifest.span_threshold)
        if self.span_threshold is None and self.average:
            # Averaging flattens the peaks: where the members disagree, "O" can win the argmax with
            # under half the mass, though the token is more likely inside a value than not.
            self.span_threshold = AVERAGED_SPAN_THRESHOLD
        learned = tagger.manifest.word_forms if self.config.word_forms else {}
        self.word_forms = {a: learned.get(f"{self.schema.name}/{a}", {}) for a in self.keys}
        self.markers = tagger.manifest.markers.get(self.schema.name, {}) if self.config.markers else {}
        learned_endings = tagger.manifest.endings if self.config.endings else {}
        self.endings = {kind: rule for kind, counts in learned_endings.items() if (rule := majority(counts))}

    def _member(self, tagger: Tagger, allowed: list[int]) -> Member:
        window = self.config.window or tagger.manifest.window
        overlap = tagger.manifest.overlap if self.config.overlap is None else self.config.overlap
        if overlap >= window // 2:
            raise ConfigError(f"overlap {overlap} must be below half the window ({window})")
        return Member(tagger, allowed, window, overlap)

    def _allowed_in(self, other: Tagger) -> list[int]:
        """``other``'s label ids in the order of this tagger's (O, then B and I of each attribute),
        refused unless it was trained for this schema's attributes."""
        if sorted(other.labels.attributes(self.schema.name)) != sorted(self.keys):
            raise SchemaError(f"{other.name} was trained for other attributes than {self.tagger.name}",
                              schema=self.schema.name)
        return other.labels.allowed(self.schema.name, list(self.keys))

    def _resolve(self, schema: Schema | str) -> Schema:
        """The schema by name among the tagger's, else loaded as usual; every taggable attribute
        must have been trained for a schema of that name."""
        if not isinstance(schema, Schema):
            name = Path(str(schema)).name.split(".")[0]
            schema = self.tagger.schemas.get(str(schema)) or self.tagger.schemas.get(name) or load_schema(schema)
        trained = self.tagger.labels.attributes(schema.name)
        if not trained:
            raise SchemaError(f"the tagger was trained for schemas {', '.join(sorted(self.tagger.schemas))}, "
                              "not this one", schema=schema.name)
        missing = [a.name for a in schema.attributes if taggable(a) and a.name not in trained]
        if missing:
            raise SchemaError(f"the tagger was not trained for attribute(s) {', '.join(missing)}", schema=schema.name)
        return schema

    @classmethod
    def from_pretrained(cls, folder: str | Path, schema: Schema | str, config: TaggerConfig | None = None,
                        device: str = "auto", average: Sequence[str | Path] = (),
                        dtype: str = "auto") -> TaggerExtractor:
        """Load a tagger folder (written by ``extractor finetune-tagger``) for ``schema``, and the
        folders of taggers whose token probabilities are averaged with its own, their weights in
        ``dtype`` (``Tagger.load``)."""
        return cls(Tagger.load(folder, device=device, dtype=dtype), schema, config,
                   [Tagger.load(other, device=device, dtype=dtype) for other in average])

    def with_schema(self, schema: Schema | str, shots: Any = None) -> TaggerExtractor:
        """Another TaggerExtractor on the same loaded model. ``shots`` is ignored (a tagger uses no
        demonstrations); it is accepted so code written for Extractor runs unchanged."""
        return TaggerExtractor(self.tagger, schema, self.config, self.average)

    # --- public entry points -------------------------------------------------------------------

    def extract_batch(self, docs: list[Document]) -> list[Record]:
        jobs = [_Job(doc=d, text=d.text) for d in docs]
        live = [j for j in jobs if not j.doc.error and j.text.strip()]
        found = self.predict([j.text for j in live]) if live else []
        by_job = {id(j): f for j, f in zip(live, found)}
        records = []
        for job in jobs:
            if job.doc.error:
                records.append(self._error_record(job, "failed", job.doc.error))
            elif not job.text.strip():
                records.append(self._error_record(job, "failed", "empty text"))
            else:
                records.append(self._record(job, by_job[id(job)]))
        return records

    # --- text -> windows -> encoder -> spans -----------------------------------------------------

    def predict(self, texts: list[str]) -> list[dict[str, list[Found]]]:
        """Per text, per attribute of the schema: the decoded spans, best first."""
        found = token_probabilities(self.members, texts, self.config.batch_size)
        return [self._decode(text, tokens, probs) for text, (tokens, probs) in zip(texts, found)]

    def _decode(self, text: str, tokens: Tokens, probs: Any) -> dict[str, list[Found]]:
        n = len(tokens.ids)
        if n == 0:
            return {a: [] for a in self.keys}
        score, label = probs.max(-1)
        label, score = label.tolist(), score.tolist()
        # a token without letters or digits ('"' after "72") never starts a span of its own
        wordlike = [any(c.isalnum() for c in text[s:e]) for s, e in tokens.offsets]
        out: dict[str, list[Found]] = {}
        for slot, attribute in enumerate(self.keys):
            begin, inside = 1 + 2 * slot, 2 + 2 * slot  # positions in self.allowed
            member = [lab in (begin, inside) for lab in label]
            starts = (probs[:, begin] > probs[:, inside]).tolist()  # for a B/I-labelled token: labelled B
            sure = score
            if self.span_threshold is not None:
                sure = (probs[:, begin] + probs[:, inside]).tolist()
                member = [m or p >= self.span_threshold for m, p in zip(member, sure)]
            spans = []
            t = 0
            while t < n:
                if member[t]:
                    end = t + 1
                    while end < n and member[end] and not (starts[end] and wordlike[end]):
                        end += 1
                    if not any(wordlike[t:end]):
                        t = end
                        continue
                    mean = sum(sure[t:end]) / (end - t)
                    first, end = _whole_words(text, tokens, t, end)
                    start_char, end_char = _tidy(text, tokens.offsets[first][0], tokens.offsets[end - 1][1])
                    if self.config.joined_words:  # before the word forms, which may cut a joined word back
                        start_char, end_char = follow_joined(text, start_char, end_char, self.endings)
                    start_char, end_char = cut(text, start_char, end_char, self.word_forms[attribute])
                    if self.endings:
                        start_char, end_char = follow_endings(text, start_char, end_char, self.endings)
                    spans.append(Found(text[start_char:end_char], start_char, end_char, mean))
                    t = end
                else:
                    t += 1
            out[attribute] = sorted(spans, key=lambda f: -f.score)
        return relocate(text, out, self.markers)

    # --- spans -> validation -> record -------------------------------------------------------------

    def _record(self, job: _Job, found: dict[str, list[Found]]) -> Record:
        values: dict[str, Any] = {}
        best: dict[str, Found | None] = {}
        for attribute in self.schema.attributes:
            spans = found.get(attribute.name, [])
            best[attribute.name] = spans[0] if spans else None
            if not spans:
                values[attribute.name] = None
            elif attribute.is_array:
                texts = [f.text for f in sorted(spans, key=lambda f: f.start)]
                values[attribute.name] = list(dict.fromkeys(texts))
            else:
                values[attribute.name] = spans[0].text
        checked = check_record(values, self.schema)
        attributes = checked.attributes
        warnings = list(job.warnings)
        for name in checked.invalid:
            attributes[name] = None
        warnings.extend(f"{problem} (set to null)" for problem in checked.errors)
        confidence = {name: (round(f.score, 4) if f is not None else None) for name, f in best.items()}
        minimum = self.config.min_confidence
        for name, value in attributes.items():
            conf = confidence[name]
            if value is not None and minimum and conf is not None and conf < minimum:
                attributes[name] = None
                warnings.append(f"{name}: {value!r} dropped, confidence {conf:.2f} < {minimum:.2f}")
        spans = {}
        for attribute in self.schema.attributes:
            f = best[attribute.name]
            keep = f is not None and attributes[attribute.name] is not None and not attribute.is_array
            spans[attribute.name] = [f.start, f.end] if keep else None  # type: ignore[union-attr]
        return Record(id=job.doc.id, attributes=attributes, provenance=self.provenance, warnings=warnings,
                      spans=spans, confidence=confidence, attempts=1)


GLUE = "".join(JOINERS.values())
"""Characters that join a compound value into one run ("35-1/2", "Single-core", "12/Carton"): the
joiners whose joined words ``endings`` counts."""
CONNECTORS = "-\u2013\u2014/&,;:|"
"""Characters that link values rather than belong to one ("Multivitamin - Chewable", "SPF 30, 8")."""


_MIXED = re.compile(r"(?<![\w/-])\d{1,3}[- ]\d{1,2}/\d{1,2}(?![\d/])")
"""A whole number and a fraction: "31-1/2", "29 7/8" (not codes such as "152728-001 40/80")."""
_NUMBER = re.compile(r"\d{1,4}(?:\.\d+)?(?:[- ]\d{1,2}/\d{1,2})?|\d{1,2}/\d{1,2}")
"""A measurement without its unit: "36", "22-1/2", "8.9"."""


def _tidy(text: str, start: int, end: int) -> tuple[int, int]:
    """[start, end) on whole values: a span that begins or ends on a joining character glued to
    the next run ('-1/2"' of '35-1/2"', "22-" of '22-1/2"') grows over that run, and a span that
    cuts a mixed number ("1/2" of "31-1/2", "29" of "29 7/8") grows over all of it, since the model
    split a compound; an inch sign right after a number is its unit ('36"'); a connector with
    nothing glued to it ("- Chewable", "SPF 30,", "AT (") is dropped."""
    if text[start] in GLUE and start > 0 and text[start - 1].isalnum():
        while start > 0 and text[start - 1].isalnum():
            start -= 1
    if text[end - 1] in GLUE and end < len(text) and text[end].isalnum():
        while end < len(text) and not text[end].isspace():
            end += 1
    for mixed in _MIXED.finditer(text, max(0, start - 16), min(len(text), end + 16)):
        if mixed.start() < start < mixed.end() or mixed.start() < end < mixed.end():
            start, end = min(start, mixed.start()), max(end, mixed.end())
    if end < len(text) and text[end] == '"' and _NUMBER.fullmatch(text[start:end]):
        end += 1
    while start < end and (text[start] in CONNECTORS or text[start].isspace()):
        start += 1
    while end > start and (text[end - 1] in CONNECTORS + "(" or text[end - 1].isspace()):
        end -= 1
    return start, end


def _whole_words(text: str, tokens: Tokens, first: int, end: int) -> tuple[int, int]:
    """Tokens [first, end) widened to whole words: a span never starts or ends inside a word
    ("s" of "words"), which only word pieces tagged apart from their word would produce."""

    def joined(a: int, b: int) -> bool:
        at = tokens.offsets[b][0]
        return tokens.offsets[a][1] == at and 0 < at < len(text) and text[at - 1].isalnum() and text[at].isalnum()

    while first > 0 and joined(first - 1, first):
        first -= 1
    while end < len(tokens.offsets) and joined(end - 1, end):
        end += 1
    return first, end
