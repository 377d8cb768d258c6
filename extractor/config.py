"""Typed configuration. Every field has a docstring (it is the documentation) and is checked in
``__post_init__``; ``from_dict`` rejects unknown keys so a typo never silently does nothing."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, TypeVar

from .errors import ConfigError

T = TypeVar("T")

SELECTIONS = ("first", "random", "similar")
DECODINGS = ("free", "constrained")
QUANTIZATIONS = (None, "4bit")
DTYPES = ("auto", "float32", "bfloat16", "float16")


def check_dtype(dtype: str) -> None:
    """Refuse a dtype that is not one of :data:`DTYPES` (the LLM's, a tagger's)."""
    if dtype not in DTYPES:
        raise ConfigError(f"dtype must be one of {DTYPES}, not {dtype!r}")


def from_dict(cls: type[T], values: dict[str, Any]) -> T:
    """Build a config dataclass from a mapping, refusing keys it does not know."""
    known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"unknown {cls.__name__} key(s): {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    return cls(**values)


@dataclass
class ModelConfig:
    """Which model to load and how."""

    model: str = "smollm2-135m"
    """`smollm2-135m` (the embedded default), a Hugging Face id, a local folder, or a `.gguf` file."""
    adapter: str | None = None
    """Optional peft (LoRA) adapter folder applied on top of the model."""
    quantize: str | None = None
    """`4bit` loads the weights as bitsandbytes NF4 (CUDA only); None keeps full precision."""
    dtype: str = "auto"
    """`auto` = bfloat16 on CUDA and on CPUs with AMX tiles (where its matrix products are faster),
    float32 on other CPUs (where bfloat16 is much slower); or an explicit dtype. LoRA training keeps
    float32 on every CPU."""
    device: str = "auto"
    """`auto` = CUDA when available, else CPU; or an explicit torch device string."""

    def __post_init__(self) -> None:
        if not self.model:
            raise ConfigError("model must be a name, id, folder or .gguf file")
        if self.quantize not in QUANTIZATIONS:
            raise ConfigError(f"quantize must be one of {QUANTIZATIONS}, not {self.quantize!r}")
        check_dtype(self.dtype)


@dataclass
class ExtractConfig:
    """How to prompt and decode."""

    prompt: str = "extract.v1"
    """Prompt template id: a file `prompts/<id>.jinja`."""
    k: int = 3
    """Number of demonstrations (shots) shown before each input; 0 for zero-shot."""
    selection: str = "similar"
    """How shots are chosen: `first` k, `random` k (seeded), or the k most `similar` to the input (BM25)."""
    seed: int = 0
    """Seed for `random` shot selection."""
    batch_size: int = 8
    """Inputs generated together (left-padded batch); results do not depend on it."""
    max_retries: int = 1
    """Re-asks after an invalid answer, each showing the model the validator's messages."""
    decoding: str = "constrained"
    """`constrained`: the program writes the JSON, the model the values (valid by construction);
    `free`: the model writes the JSON, parsed tolerantly and re-asked on errors (needs no token access)."""
    max_text_tokens: int = 512
    """Input text longer than this many tokens is truncated (with a warning in the record)."""
    max_shot_tokens: int = 192
    """Demonstration texts are cut to this many tokens (their values no longer in the text become
    null): long product descriptions would otherwise make every prompt thousands of tokens."""
    max_new_tokens: int | None = None
    """Output budget; None derives it from the schema (keys plus a per-attribute value budget)."""
    min_confidence: float = 0.0
    """Constrained decoding: values whose confidence is below this become null (with a warning)."""
    null_bias: float = 0.0
    """Constrained decoding: log-probability by which a value is favoured over null when the model
    chooses between them (> 0: more values, recall; < 0: more nulls, precision). A tuned adapter
    records the bias chosen on its held-out offers, and extraction takes it as the default."""
    reuse_penalty: float = 1.0
    """Constrained decoding: log-probability by which a span of the input that an earlier attribute
    of the same record took (the same characters, start and end) must beat null to be taken again;
    a model that has nothing better to say repeats one word ("Navy" as color, sleeve and pattern).
    A penalty of 1 asks such a value to be e times as likely as null; 0 turns the rule off. An
    attribute marked `"x-shared-span": true` in the schema shares its spans freely."""

    def __post_init__(self) -> None:
        if self.k < 0:
            raise ConfigError("k (number of shots) must be >= 0")
        if self.selection not in SELECTIONS:
            raise ConfigError(f"selection must be one of {SELECTIONS}, not {self.selection!r}")
        if self.batch_size < 1:
            raise ConfigError("batch_size must be >= 1")
        if self.max_retries < 0:
            raise ConfigError("max_retries must be >= 0")
        if self.decoding not in DECODINGS:
            raise ConfigError(f"decoding must be one of {DECODINGS}, not {self.decoding!r}")
        if self.max_text_tokens < 8:
            raise ConfigError("max_text_tokens must be >= 8")
        if self.max_shot_tokens < 8:
            raise ConfigError("max_shot_tokens must be >= 8")
        if not 0.0 <= self.min_confidence <= 1.0:
            raise ConfigError("min_confidence must be between 0 and 1")
        if not -20.0 <= self.null_bias <= 20.0:
            raise ConfigError("null_bias must be between -20 and 20 (a log-probability shift)")
        if not 0.0 <= self.reuse_penalty <= 20.0:
            raise ConfigError("reuse_penalty must be between 0 and 20 (a log-probability margin)")
        if self.max_new_tokens is not None and self.max_new_tokens < 1:
            raise ConfigError("max_new_tokens must be >= 1")
