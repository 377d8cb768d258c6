"""The Extractor: text -> prompt -> model -> decoding -> JSON -> validation -> record.

Read top to bottom, the methods follow the data."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .backends.base import Backend
from .config import ExtractConfig, ModelConfig
from .decoding.free import FreeDecoder, FreeRow, output_budget
from .demos import DemoPool, Shot, load_shots
from .engine import Engine, batches
from .errors import ConfigError, ExtractorError, PromptError
from .prompt_build import PromptBuilder, PromptSettings
from .prompts import render_messages, restore_escaped
from .records import Document, Provenance, Record
from .resources import schemas_dir
from .schemas import Schema, load_schema
from .validate import check_record, not_in_text

if TYPE_CHECKING:
    from .decoding.constrained import ConstrainedDecoder, Decoded

ShotsArg = str | Path | list[Shot] | None


def resolve_shots(shots: ShotsArg, schema: Schema) -> list[Shot]:
    """Demonstrations for ``schema``: a list as given; a JSONL file; a folder holding
    ``<schema name>.jsonl``; or None for the ones shipped with the schema (if any). The name
    never reaches outside the folder: one that is not a plain name (a ``"title": "../../x"``) has
    no shipped shots, and in a folder of the user's it is a PromptError."""
    from .demos import shots_file
    from .schemas import name_problem

    if isinstance(shots, list):
        return shots
    if shots is None:
        if name_problem(schema.name) is not None:  # not a plain name: never a file, so no shipped shots
            return []
        shipped = shots_file(schemas_dir() / "shots", schema.name)
        return load_shots(shipped, schema) if shipped.is_file() else []
    path = Path(shots)
    if path.is_dir():
        path = shots_file(path, schema.name)  # PromptError for a name that is not a plain name
        if not path.is_file():
            raise PromptError(f"shots folder {shots} has no {schema.name}.jsonl")
    return load_shots(path, schema)


@dataclass
class _Job:
    """One document on its way through the pipeline."""

    doc: Document
    text: str
    messages: list[dict[str, str]]
    warnings: list[str] = field(default_factory=list)
    attempts: int = 0
    raw: str | None = None
    problems: list[str] = field(default_factory=list)
    record: Record | None = None


class Extractor(Engine):
    """Extracts attribute records for one schema with one loaded model."""

    def __init__(self, backend: Backend, schema: Schema | str, config: ExtractConfig | None = None,
                 shots: ShotsArg = None, force_adapter: bool = False) -> None:
        self.backend = backend
        self.schema = schema if isinstance(schema, Schema) else load_schema(schema)
        self.requested = config or ExtractConfig()
        self.force_adapter = force_adapter
        """Use an adapter even when its manifest names another prompt, schema or base model."""
        if backend.adapter and not force_adapter:
            from .adapter import check_adapter

            check_adapter(backend.adapter, self.schema, self.requested.prompt, backend.name)
        if self.requested.decoding == "constrained" and not backend.supports_constrained:
            raise ConfigError(f"decoding 'constrained' needs token-level access to the model; backend "
                              f"{backend.name!r} supports only decoding 'free'")
        """The config as asked; ``config`` may differ (k=0 when there are no shots)."""
        self.shots_source = shots
        self.pool = DemoPool(resolve_shots(shots, self.schema))
        self.config = replace(self.requested, k=0) if not len(self.pool) else self.requested
        self.provenance = Provenance(model=backend.name, adapter=backend.adapter, prompt=self.config.prompt,
                                     schema=self.schema.id, decoding=self.config.decoding)
        self.budget = self.config.max_new_tokens or output_budget(self.schema, backend)
        # A prompt that cannot hold even a one-word product, plus its reply, would fail every line
        # (or leave a model generating past its window): say so now, with the numbers.
        least = backend.count_tokens(backend.render_chat(render_messages(self.schema, "x", (), self.config.prompt)))
        if least + self.budget > backend.context_window:
            reply = ("max_new_tokens (--max-new-tokens)" if self.config.max_new_tokens
                     else f"the output budget of its {len(self.schema.attributes)} attributes")
            raise ConfigError(
                f"schema {self.schema.name!r} does not fit the context window of model {backend.name!r}: the "
                f"instructions alone (zero-shot, a one-word product) take {least} tokens and a reply up to "
                f"{self.budget} ({reply}), {least + self.budget} in all, over the window of "
                f"{backend.context_window} tokens. Use a schema with fewer attributes (split it into several), "
                "or a model with a larger context window" + (", or a smaller max_new_tokens"
                                                             if self.config.max_new_tokens else ""))
        self.prompt_builder = PromptBuilder(backend, self.schema, self.pool, PromptSettings.of(self.config),
                                            self.budget)
        """Builds each input's prompt (``prompt_build.build_prompt``), as training does."""
        self._constrained: ConstrainedDecoder | None = None
        """The constrained decoder (made on first use); it keeps its caches between batches."""

    @property
    def constrained_decoder(self) -> ConstrainedDecoder:
        """This Extractor's ConstrainedDecoder (it keeps the schema's prefix cache and statistics)."""
        if self._constrained is None:
            from .decoding.constrained import ConstrainedDecoder

            self._constrained = ConstrainedDecoder(self.backend, self.schema,
                                                   system_ids=self.prompt_builder.system_ids(),
                                                   null_bias=self.config.null_bias,
                                                   reuse_penalty=self.config.reuse_penalty)
        return self._constrained

    @classmethod
    def from_pretrained(cls, model: str = "smollm2-135m", schema: Schema | str = "apparel", *,
                        shots: ShotsArg = None, adapter: str | None = None, quantize: str | None = None,
                        dtype: str = "auto", device: str = "auto", force_adapter: bool = False,
                        **config: Any) -> Extractor:
        """Load ``model`` (the embedded default, a Hugging Face id/folder or a .gguf file) and
        build an Extractor; ``config`` takes ExtractConfig fields (k, selection, decoding, ...)."""
        from .models import load_model

        backend = load_model(ModelConfig(model=model, adapter=adapter, quantize=quantize, dtype=dtype, device=device))
        return cls(backend, schema, ExtractConfig(**config), shots=shots, force_adapter=force_adapter)

    def with_schema(self, schema: Schema | str, shots: ShotsArg = None) -> Extractor:
        """Another Extractor on the same loaded model, for another schema. Without ``shots`` it
        takes ``<schema>.jsonl`` from this one's shots folder, else the schema's shipped shots."""
        from .demos import shots_file
        from .schemas import name_problem

        schema = schema if isinstance(schema, Schema) else load_schema(schema)
        if shots is None and self.shots_source is not None and not isinstance(self.shots_source, list) \
                and name_problem(schema.name) is None and shots_file(self.shots_source, schema.name).is_file():
            shots = self.shots_source
        return Extractor(self.backend, schema, self.requested, shots=shots, force_adapter=self.force_adapter)

    # --- public entry points -------------------------------------------------------------------

    def extract_batch(self, docs: list[Document]) -> list[Record]:
        jobs = [self._prepare(doc) for doc in docs]
        live = [j for j in jobs if j.record is None]
        if live:
            try:
                self._decode(live)
            except ExtractorError:
                raise
            except Exception as exc:  # a model failure must not lose the batch's records
                for job in live:
                    job.record = self._error_record(job, "failed", f"model error: {type(exc).__name__}: {exc}")
        return [j.record for j in jobs]  # type: ignore[misc]  (normalization: spec.SpecEngine, once)

    def system_message(self) -> str:
        """The instructions every prompt of this Extractor starts with."""
        return self.prompt_builder.system_message()

    # --- text -> prompt --------------------------------------------------------------------------

    def _prepare(self, doc: Document, exclude: Collection[str] = ()) -> _Job:
        """The prompt for ``doc``; ``exclude``: texts never shown as its demonstrations."""
        job = _Job(doc=doc, text=doc.text, messages=[])
        if doc.error:
            job.record = self._error_record(job, "failed", doc.error)
            return job
        prompt = self.prompt_builder.build(doc.text, exclude)
        job.text, job.messages, job.warnings = prompt.text, prompt.messages, prompt.warnings
        if prompt.error is not None:
            job.record = self._error_record(job, "failed", prompt.error)
        return job

    # --- model -> decoding -> JSON -> validation -> record ---------------------------------------

    def _decode(self, jobs: list[_Job]) -> None:
        if self.config.decoding == "constrained":
            decoder = self.constrained_decoder
            decoded = decoder.decode([self.backend.render_chat(j.messages) for j in jobs], [j.text for j in jobs],
                                     warnings=[j.warnings for j in jobs])
            for job, out in zip(jobs, decoded):
                job.record = self._constrained_record(job, out)
            return
        free = FreeDecoder(self.backend, self.schema, budget=self.budget, max_retries=self.config.max_retries)
        rows = [FreeRow(messages=j.messages) for j in jobs]
        try:
            free.decode(rows)
        finally:  # a model error's record still shows the last reply and the attempts made
            for job, row in zip(jobs, rows):
                job.messages, job.raw, job.attempts, job.problems = row.messages, row.raw, row.attempts, row.problems
        for job, row in zip(jobs, rows):
            job.record = self._free_record(job, row)

    def _free_record(self, job: _Job, row: FreeRow) -> Record:
        if row.checked is None:
            return self._error_record(job, "invalid", f"invalid output after {job.attempts} attempt(s): "
                                      + "; ".join(job.problems))
        checked = row.checked
        warnings = job.warnings + row.repairs
        if checked.dropped:
            warnings.append("dropped keys outside the schema: " + ", ".join(checked.dropped))
        if checked.coerced:
            warnings.append("coerced to the schema's type: " + ", ".join(checked.coerced))
        # Values as the input writes them (the prompt showed it escaped, same length); nothing kept
        # the model to the text, so say which values it does not hold.
        shown = self.backend.escape(job.text)
        attributes = {k: restore_escaped(v, shown, job.text) for k, v in checked.attributes.items()}
        missing = not_in_text(attributes, self.schema, job.text)
        if missing:
            warnings.append("not found in the text: " + ", ".join(missing))
        return Record(id=job.doc.id, attributes=attributes, provenance=self.provenance, warnings=warnings,
                      attempts=job.attempts)

    def _constrained_record(self, job: _Job, out: Decoded) -> Record:
        checked = check_record(out.values, self.schema)
        attributes = checked.attributes
        warnings = list(out.warnings)
        # Constraints cover types, enums, lengths and grounding; what they do not (e.g. a number's
        # minimum) is nulled rather than failing the whole record.
        for name in checked.invalid:
            attributes[name] = None
        warnings.extend(f"{problem} (set to null)" for problem in checked.errors)
        minimum = self.config.min_confidence
        for name, value in attributes.items():
            conf = out.confidence.get(name)
            if value is not None and minimum and conf is not None and conf < minimum:
                attributes[name] = None
                warnings.append(f"{name}: {value!r} dropped, confidence {conf:.2f} < {minimum:.2f}")
        spans = {name: (out.spans.get(name) if attributes[name] is not None else None) for name in attributes}
        return Record(id=job.doc.id, attributes=attributes, provenance=self.provenance, warnings=warnings,
                      spans=spans, confidence=out.confidence, removed_mass=out.removed, attempts=out.attempts)

    def _error_record(self, job: _Job, status: str, message: str) -> Record:
        return Record(id=job.doc.id, attributes={name: None for name in self.schema.names},
                      provenance=self.provenance, error=message, status=status, warnings=job.warnings,
                      raw=job.raw, attempts=job.attempts)


@dataclass
class Summary:
    """Counts and speed of one run."""

    ok: int = 0
    invalid: int = 0
    failed: int = 0
    skipped: int = 0
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return self.ok + self.invalid + self.failed

    @property
    def per_second(self) -> float:
        return self.total / self.seconds if self.seconds > 0 else 0.0

    def add(self, record: Record) -> None:
        setattr(self, record.status, getattr(self, record.status) + 1)

    def line(self) -> str:
        return (f"{self.total} records: {self.ok} ok, {self.invalid} invalid, {self.failed} failed"
                + (f", {self.skipped} skipped (already in output)" if self.skipped else "")
                + f" in {self.seconds:.1f} s ({self.per_second:.2f} products/s)")


def extract_stream(extractor: Engine, documents: Iterable[Document], skip: int = 0,
                   on_record: Callable[[Record], None] | None = None, batch_size: int | None = None) -> Summary:
    """Run ``documents`` through ``extractor`` (per-document schemas routed to sibling engines on
    the same model), calling ``on_record`` for each record in input order; returns the Summary.
    ``batch_size``: documents per engine batch (default: the engine's ``config.batch_size``).

    ``skip``: how many documents at the start a resumed run already wrote (``io.resume_point``);
    they are counted, not extracted. A document that makes its engine raise something other than
    an ExtractorError (a tokenizer failing on odd text) gets a ``failed`` record of its own: its
    batch is retried one document at a time, so the others of the batch still get theirs."""
    summary = Summary()
    siblings: dict[str, Engine] = {}
    start = time.perf_counter()

    def pick(doc: Document) -> Engine:
        if not doc.schema or doc.schema in (extractor.schema.name, str(extractor.schema.path)):
            return extractor
        if doc.schema not in siblings:
            siblings[doc.schema] = extractor.with_schema(doc.schema)
        return siblings[doc.schema]

    def failed(doc: Document, message: str) -> Record:
        return extractor._error_record(_Job(doc, doc.text, []), "failed", message)

    def run(engine: Engine, docs: list[Document]) -> list[Record]:
        try:
            return engine.extract_batch(docs)
        except ExtractorError:
            raise
        except Exception as exc:  # noqa: BLE001  (one document's failure must not lose the others)
            if len(docs) > 1:
                return [record for doc in docs for record in run(engine, [doc])]
            return [failed(docs[0], f"engine error: {type(exc).__name__}: {exc}")]

    def flush(batch: list[Document]) -> None:
        groups: dict[int, tuple[Engine, list[int]]] = {}
        results: list[Record | None] = [None] * len(batch)
        for i, doc in enumerate(batch):
            try:
                ex = pick(doc)
            except ExtractorError as exc:
                results[i] = failed(doc, str(exc))
                continue
            groups.setdefault(id(ex), (ex, []))[1].append(i)
        for ex, idx in groups.values():
            for i, record in zip(idx, run(ex, [batch[i] for i in idx])):
                results[i] = record
        for record in results:
            assert record is not None
            summary.add(record)
            if on_record:
                on_record(record)

    def unskipped() -> Iterator[Document]:
        for position, doc in enumerate(documents):
            if position < skip:
                summary.skipped += 1
            else:
                yield doc

    for batch in batches(unskipped(), batch_size or extractor.config.batch_size):
        flush(batch)
    summary.seconds = time.perf_counter() - start
    return summary
