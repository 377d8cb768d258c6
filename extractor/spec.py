"""The engine description: one spec, written to a file or sent to another process, that every way
of running extractor builds its engine from (``build_engine``): the CLI (whose engine flags are
shortcuts that produce a spec: ``extract --print-spec``, ``extract --engine-spec FILE``), and the
service and batch workers to come.

A spec names an LLM (a decoder model prompted per product), taggers (fine-tuned encoders), or
both (an ensemble, merged per attribute by ``ensemble.merge_records``), and whether values are
normalized. Normalization runs once, on the engine's records, never inside a member. Each record
names the spec it came from (``Provenance.spec``, a hash of the spec's canonical JSON)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .config import ExtractConfig, ModelConfig, check_dtype, from_dict
from .engine import Engine
from .errors import ConfigError
from .records import Document, Record
from .schemas import Schema

SPEC_VERSION = 1


@dataclass
class LLMSpec:
    """A decoder model prompted per product: the model to load and how to prompt and decode."""

    model: ModelConfig = field(default_factory=ModelConfig)
    """Which model, adapter, quantization, dtype and device (``config.ModelConfig``)."""
    extract: ExtractConfig = field(default_factory=ExtractConfig)
    """How to prompt and decode (``config.ExtractConfig``)."""
    shots: str | None = None
    """Demonstrations: a JSONL file, or a folder of ``<schema name>.jsonl``; None: the schema's shipped ones."""
    force_adapter: bool = False
    """Use an adapter even when its manifest names another prompt, schema or base model."""


def _tagger_default(name: str) -> Any:
    """``TaggerConfig``'s default for ``name``: the tagger's settings are written once, there."""
    from dataclasses import fields

    from .tagger.engine import TaggerConfig

    return next(f.default for f in fields(TaggerConfig) if f.name == name)


@dataclass
class TaggerSpec:
    """A fine-tuned encoder that tags value spans (a folder written by ``extractor finetune-tagger``)."""

    folder: str
    """The tagger's folder."""
    average: list[str] = field(default_factory=list)
    """Folders of taggers whose token probabilities are averaged with this one's (one member)."""
    device: str = "auto"
    """`auto` = CUDA when available, else CPU; or an explicit torch device string."""
    dtype: str = "auto"
    """The weights' dtype: `auto` = bfloat16 on CUDA and on CPUs with AMX tiles, float32 on other
    CPUs (``models.resolve_dtype``); or an explicit one (``config.DTYPES``)."""
    batch_size: int = _tagger_default("batch_size")
    """Windows run through the encoder together."""
    min_confidence: float = _tagger_default("min_confidence")
    """Values whose confidence is below this become null (with a warning)."""
    span_threshold: float | None = None
    """B + I probability at which a token joins an attribute's span; None: the tagger's own choice."""
    word_forms: bool = _tagger_default("word_forms")
    """Cut spans back to the word forms training learned (``TaggerConfig.word_forms``)."""
    markers: bool = _tagger_default("markers")
    """Move a span to the attribute a following marker letter names (``TaggerConfig.markers``)."""
    endings: bool = _tagger_default("endings")
    """Cut or take in full stops and possessives as the gold wrote them (``TaggerConfig.endings``)."""
    joined_words: bool = _tagger_default("joined_words")
    """Likewise for words joined by a hyphen or slash (``TaggerConfig.joined_words``)."""

    def __post_init__(self) -> None:
        check_dtype(self.dtype)

    def to_dict(self) -> dict[str, Any]:
        """The member as plain data; ``dtype`` only when it is not `auto`, so specs written before
        it existed keep their hash."""
        out = asdict(self)
        if self.dtype == "auto":
            del out["dtype"]
        return out

    def config(self) -> Any:
        """The ``TaggerConfig`` this spec means (normalization left to the engine spec)."""
        from .tagger import TaggerConfig

        return TaggerConfig(batch_size=self.batch_size, min_confidence=self.min_confidence,
                            span_threshold=self.span_threshold, word_forms=self.word_forms, markers=self.markers,
                            endings=self.endings, joined_words=self.joined_words)


@dataclass
class EngineSpec:
    """What engine to build: an LLM, taggers, or both merged; and whether to normalize."""

    llm: LLMSpec | None = None
    """The LLM member (first in the merge order unless ``llm_position`` says otherwise)."""
    taggers: list[TaggerSpec] = field(default_factory=list)
    """Tagger members, in merge order (ties go to the earlier member)."""
    llm_position: int = 0
    """Where the LLM stands in the merge order among the taggers: 0 first, ``len(taggers)`` last."""
    normalize: bool = False
    """Add canonical values (``Record.normalized``) to the engine's records by the schema's ``x-normalize``."""
    version: int = SPEC_VERSION
    """The spec format's version."""

    def __post_init__(self) -> None:
        if self.llm is None and not self.taggers:
            raise ConfigError("an engine spec needs an llm or at least one tagger")
        if self.llm_position and (self.llm is None or not 0 <= self.llm_position <= len(self.taggers)):
            raise ConfigError(f"llm_position {self.llm_position} needs an llm and is 0 to {len(self.taggers)}, "
                              "the number of taggers")
        if self.version != SPEC_VERSION:
            raise ConfigError(f"engine spec version {self.version} is not {SPEC_VERSION}, the one this extractor reads")

    # --- files ---------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The spec as plain data (``from_dict`` reads it back)."""
        out: dict[str, Any] = {"version": self.version}
        if self.llm is not None:
            out["llm"] = asdict(self.llm)
        if self.taggers:
            out["taggers"] = [t.to_dict() for t in self.taggers]
        if self.llm_position:  # written only when it is not the default, so older specs keep their hash
            out["llm_position"] = self.llm_position
        out["normalize"] = self.normalize
        return out

    @classmethod
    def from_dict(cls, data: Any) -> EngineSpec:
        """A spec from plain data; unknown keys (a typo) and wrong shapes are a ConfigError."""
        if not isinstance(data, dict):
            raise ConfigError("an engine spec must be a mapping")
        data = dict(data)
        llm = data.pop("llm", None)
        taggers = data.pop("taggers", None) or []
        if llm is not None:
            if not isinstance(llm, dict):
                raise ConfigError("the spec's 'llm' must be a mapping")
            llm = dict(llm)
            model = from_dict(ModelConfig, _mapping(llm.pop("model", {}), "llm.model"))
            extract = from_dict(ExtractConfig, _mapping(llm.pop("extract", {}), "llm.extract"))
            llm = from_dict(LLMSpec, {**llm, "model": model, "extract": extract})
        if not isinstance(taggers, list):
            raise ConfigError("the spec's 'taggers' must be a list")
        tagger_specs = [from_dict(TaggerSpec, _mapping(t, f"taggers[{i}]")) for i, t in enumerate(taggers)]
        return from_dict(cls, {**data, "llm": llm, "taggers": tagger_specs})

    def to_yaml(self) -> str:
        import yaml

        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)

    @property
    def hash(self) -> str:
        """12 hex digits of the SHA-256 of the spec's canonical JSON: what a record's provenance names."""
        canonical = json.dumps(self.to_dict(), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:12]


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"the spec's '{where}' must be a mapping")
    return value


def load_spec(path: str | Path) -> EngineSpec:
    """An engine spec from a YAML or JSON file (JSON is YAML); ConfigError when it is not one."""
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read engine spec {path}: {exc}") from exc
    try:
        return EngineSpec.from_dict(data)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"engine spec {path}: {exc}") from exc


# --- building --------------------------------------------------------------------------------

def build_engine(spec: EngineSpec, schema: Schema | str) -> Engine:
    """The ONE place that loads models and composes engines: the spec's members for ``schema``
    (the taggers in order, the LLM at ``llm_position``), merged when there are several, normalized
    once when the spec asks; every record names the spec (``Provenance.spec``)."""
    members: list[Engine] = []
    if spec.llm is not None:
        from .pipeline import Extractor

        llm = spec.llm
        members.append(Extractor.from_pretrained(
            llm.model.model, schema, shots=llm.shots, adapter=llm.model.adapter, quantize=llm.model.quantize,
            dtype=llm.model.dtype, device=llm.model.device, force_adapter=llm.force_adapter, **asdict(llm.extract)))
    if spec.taggers:
        from .tagger import TaggerExtractor

        first_schema = members[0].schema if members else schema  # the LLM's, when there is one
        taggers = [TaggerExtractor.from_pretrained(tagger.folder, first_schema, tagger.config(),
                                                   device=tagger.device, average=tagger.average, dtype=tagger.dtype)
                   for tagger in spec.taggers]
        members = [*taggers[:spec.llm_position], *members, *taggers[spec.llm_position:]]
    if len(members) == 1:
        engine = members[0]
    else:
        from .ensemble import Ensemble

        engine = Ensemble(members)
    return SpecEngine(engine, spec)


class SpecEngine(Engine):
    """The engine a spec describes: its (merged) members' records, normalized once when the spec
    asks, each naming the spec's hash. Siblings for other schemas (``with_schema``) keep both."""

    def __init__(self, engine: Engine, spec: EngineSpec) -> None:
        self.engine = engine
        self.spec = spec
        self.spec_hash = spec.hash
        self.schema = engine.schema
        self.config = engine.config
        from dataclasses import replace

        self.provenance = replace(engine.provenance, spec=self.spec_hash)
        self.normalizer = None
        if spec.normalize:
            from .normalize import Normalizer

            self.normalizer = Normalizer.from_schema(self.schema)

    @property
    def members(self) -> list[Engine]:
        """The engines whose records are merged (the engine itself when it is one)."""
        return list(getattr(self.engine, "members", [self.engine]))

    def with_schema(self, schema: Schema | str, shots: Any = None) -> SpecEngine:
        return SpecEngine(self.engine.with_schema(schema, shots), self.spec)

    def extract_batch(self, docs: list[Document]) -> list[Record]:
        from dataclasses import replace

        records = self.engine.extract_batch(docs)
        if self.normalizer is not None:
            records = [self.normalizer.normalize_record(r) for r in records]
        return [replace(r, provenance=replace(r.provenance, spec=self.spec_hash)) for r in records]

    def _error_record(self, job: Any, status: str, message: str) -> Record:
        from dataclasses import replace

        return replace(self.engine._error_record(job, status, message), provenance=self.provenance)
