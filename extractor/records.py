"""What goes in (Document) and what comes out (Record) of the pipeline.

One Record per Document, always: a record that could not be produced carries ``error`` and
null attributes rather than disappearing, so output files line up with input files."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Document:
    """One product offer or search query to extract from."""

    id: str
    """Stable identifier, copied into the output record."""
    text: str
    """The text the model reads (title, description, or several fields joined)."""
    error: str | None = None
    """Set when the input line itself was unusable (not JSON, no text); the pipeline then
    writes an error record without calling the model."""
    category: str | None = None
    """Optional category (benchmarks use it to pick a per-category schema)."""
    schema: str | None = None
    """Optional schema name or path for this document (``--schema-field``); None = the run's schema."""


@dataclass
class Provenance:
    """Where a record came from, so a value can be traced to the run that produced it."""

    model: str
    adapter: str | None
    prompt: str
    schema: str
    decoding: str
    members: list[Provenance] | None = None
    """For a record merged from several engines (``extractor.ensemble``): each engine's own."""
    spec: str | None = None
    """The hash of the engine spec the record's engine was built from (``spec.EngineSpec.hash``)."""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "model": self.model,
            "adapter": self.adapter,
            "prompt": self.prompt,
            "schema": self.schema,
            "decoding": self.decoding,
        }
        if self.members:
            out["members"] = [m.to_dict() for m in self.members]
        if self.spec is not None:
            out["spec"] = self.spec
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Provenance:
        """The inverse of ``to_dict``."""
        members = data.get("members")
        return cls(model=data["model"], adapter=data.get("adapter"), prompt=data["prompt"], schema=data["schema"],
                   decoding=data["decoding"], members=[cls.from_dict(m) for m in members] if members else None,
                   spec=data.get("spec"))


@dataclass
class Record:
    """The output for one Document."""

    id: str
    attributes: dict[str, Any]
    """Every schema attribute, in schema order: a value or None."""
    provenance: Provenance
    error: str | None = None
    """None, or why the record could not be produced (attributes are then all None)."""
    status: str = "ok"
    """`ok`; `invalid` (the model's answer could not be made schema-valid); `failed` (the input
    line was unusable, or the model could not be run)."""
    warnings: list[str] = field(default_factory=list)
    """Things the user should know that did not stop the record (truncated input, dropped keys)."""
    spans: dict[str, list[int] | None] | None = None
    """Character offsets [start, end) of each grounded value in the input text (constrained decoding)."""
    confidence: dict[str, float | None] | None = None
    """Per-attribute confidence in [0, 1] when the decoder computes one."""
    removed_mass: dict[str, float | None] | None = None
    """Per attribute, the mean share of probability mass the decoding constraint removed: high
    values mean the model wanted to write something the constraint forbade."""
    normalized: dict[str, Any] | None = None
    """Canonical values beside the raw ones, when normalization ran."""
    raw: str | None = None
    """The model's last raw output, kept when parsing or validation failed."""
    attempts: int = 0
    """How many generations it took (1 + re-asks); 0 when the model was never called."""

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "status": self.status, "attributes": self.attributes,
                               "error": self.error}
        if self.spans is not None:
            out["spans"] = self.spans
        if self.confidence is not None:
            out["confidence"] = self.confidence
        if self.removed_mass is not None:
            out["removed_mass"] = self.removed_mass
        if self.normalized is not None:
            out["normalized"] = self.normalized
        if self.warnings:
            out["warnings"] = self.warnings
        if self.raw is not None:
            out["raw"] = self.raw
        out["attempts"] = self.attempts
        out["provenance"] = self.provenance.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Record:
        """A record read back from an output line (``to_dict``'s inverse); a line without its
        provenance or attributes is a KeyError, and attributes that are not an object of values
        (strings, finite numbers, booleans, null, or lists of them) a ValueError, so a merge or a
        normalization never passes on a value no engine could have written."""
        check_values(data["attributes"])
        return cls(id=str(data["id"]), attributes=data["attributes"], provenance=Provenance.from_dict(data["provenance"]),
                   error=data.get("error"), status=data.get("status", "ok"), warnings=data.get("warnings", []),
                   spans=data.get("spans"), confidence=data.get("confidence"), removed_mass=data.get("removed_mass"),
                   normalized=data.get("normalized"), raw=data.get("raw"), attempts=data.get("attempts", 0))


def check_values(attributes: Any) -> None:
    """ValueError unless ``attributes`` is an object of values an engine writes: strings, finite
    numbers, booleans, null, or lists of them (array attributes). Read-back records pass through
    here, so a merge or a normalization never carries on an object, a NaN or an infinity."""
    if not isinstance(attributes, dict):
        raise ValueError("'attributes' must be an object")
    for name, value in attributes.items():
        if not (_is_value(value) or isinstance(value, list) and all(_is_value(v) for v in value)):
            raise ValueError(f"attribute {name!r}: {value!r} is not a value")


def _is_value(value: Any) -> bool:
    """Whether ``value`` can be an attribute's value: a string, a finite number, a boolean or null."""
    return value is None or isinstance(value, (str, bool, int)) or isinstance(value, float) and math.isfinite(value)
