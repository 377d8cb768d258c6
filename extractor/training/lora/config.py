"""The fine-tuning configuration: one typed dataclass, loadable from YAML (finetune/configs/*.yaml).

Every field's docstring is its documentation (finetune/README.md lists the same keys); unknown
keys are refused, so a misspelt key never silently does nothing."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ...config import DTYPES, QUANTIZATIONS, SELECTIONS, from_dict
from ...errors import ConfigError
from ..augment import AUGMENTATIONS, check_augmentation_kinds  # noqa: F401  (AUGMENTATIONS: the CLI's choices)

SCHEDULES = ("linear", "cosine", "constant")
ALL_LINEAR = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


@dataclass
class FinetuneConfig:
    """How to train a LoRA adapter for extraction."""

    train: list[str] = field(default_factory=list)
    """Training JSONL files: benchmark layout (``target_scores`` per line; schemas are derived per
    category from the file) or shots layout (``{"text", "record"}``, optional ``"schema"``). Several
    files train one adapter over all their schemas."""
    validation: list[str] = field(default_factory=list)
    """Validation JSONL files in the same layouts. A benchmark file takes its schemas and
    demonstrations from ``train.jsonl`` beside it, exactly as ``benchmarks/quality.py`` does.
    Choosing the adapter on a split makes that split's F1 optimistic: to quote a benchmark's
    validation F1, leave this empty and set ``dev_share``."""
    dev_share: float = 0.0
    """Share of the training offers (per schema, seeded) held out as the validation set that picks
    the best adapter and stops early, instead of ``validation`` files; they are not trained on.
    Held-out offers are scored against the one answer the training target shows (the first gold
    form), so their F1 is a little lower than the benchmark scorer's."""
    schema: str | None = None
    """Schema (shipped name or .schema.json path) for shots-layout lines without a ``schema`` field."""
    output: str | None = None
    """Adapter folder to write (weights, ``extractor_manifest.json``, ``schemas/``, ``checkpoint/``)."""
    base_model: str = "smollm2-135m"
    """Model to adapt: `smollm2-135m` (embedded), a Hugging Face id, a folder or a .gguf file."""
    quantize: str | None = None
    """`4bit`: QLoRA, the frozen base loaded as bitsandbytes NF4 (CUDA only); None: full precision."""
    dtype: str = "auto"
    """Base model dtype: `auto` = float32 on CPU, bfloat16 on CUDA."""
    device: str = "auto"
    """`auto` = CUDA when available, else CPU; or a torch device string."""
    prompt: str = "extract.v1"
    """Prompt template id; extraction with the adapter must use the same one."""
    k: int = 0
    """Demonstrations in each training and validation prompt (chosen from the training pool of
    the example's schema, never the example itself). ``extract --adapter`` takes it from the
    manifest unless ``-k`` is given."""
    selection: str = "similar"
    """How those demonstrations are chosen: `first`, `random` or `similar` (BM25)."""
    max_text_tokens: int = 512
    """Input texts are cut to this many tokens, as at extraction; values no longer in the cut text
    become null in the training answer, so the adapter never learns to answer from unseen text."""
    max_shot_tokens: int = 192
    """Demonstration texts are cut to this many tokens, as at extraction."""
    title_only: bool = False
    """Benchmark files with descriptions (WDC-PAVE): train and validate on titles only."""
    max_length: int = 2048
    """Training sequences (prompt + answer) longer than this many tokens are cut at the end (an
    example left with no answer token stops training before it starts)."""
    share_prefix: bool = True
    """Compute each batch's system prompt once, not once per row (batches hold one schema): the
    same loss, several times less work when the attribute list dominates the prompt. Off under
    gradient checkpointing (QLoRA), which cannot keep a cache."""
    lora_r: int = 16
    """LoRA rank."""
    lora_alpha: int = 32
    """LoRA scaling numerator (the update is scaled by alpha / r)."""
    lora_dropout: float = 0.05
    """Dropout on the LoRA input during training."""
    target_modules: list[str] = field(default_factory=lambda: list(ALL_LINEAR))
    """Linear layers that get LoRA matrices (names inside each transformer block)."""
    epochs: int = 3
    """Passes over the training examples (``max_steps`` stops earlier when set)."""
    max_steps: int | None = None
    """Stop after this many optimizer steps; None: ``epochs`` decide."""
    batch_size: int = 8
    """Examples per forward pass; a batch holds examples of one schema and of similar length."""
    grad_accum: int = 1
    """Forward passes per optimizer step (effective batch = batch_size x grad_accum)."""
    learning_rate: float = 3e-4
    """AdamW peak learning rate."""
    weight_decay: float = 0.0
    """AdamW weight decay on the LoRA matrices."""
    warmup_steps: int = 10
    """Steps of linear warm-up from 0 to the peak learning rate."""
    schedule: str = "linear"
    """Learning rate after warm-up: `linear` or `cosine` decay to 0 at the last step, or `constant`."""
    max_grad_norm: float = 1.0
    """Gradient norm clipping; 0 disables it."""
    seed: int = 0
    """Seed for LoRA initialisation, batch order, demonstration choice and augmentation."""
    eval_every: int = 0
    """Validate every this many optimizer steps; 0: at the end of every epoch (always at the end)."""
    eval_limit: int | None = 200
    """Validate on the first N offers of each validation file; None: all of them."""
    eval_batch_size: int = 8
    """Offers decoded together during validation."""
    eval_at_start: bool = False
    """Also validate before the first step: the untuned model with the same prompts and offers, the
    baseline every later figure is compared with (and kept, as an identity adapter, if none beats it)."""
    null_bias_grid: list[float] = field(default_factory=list)
    """After training, validate the kept adapter once per null bias listed (log-probabilities by
    which values are favoured over null, see ``extract --null-bias``) and record the best in the
    manifest, where extraction takes it as its default. Empty: no calibration (bias 0). A model
    tuned on mostly-null targets learns to answer null too often; this buys recall back."""
    patience: int = 3
    """Stop after this many validations without an F1 gain above ``min_delta``; 0: never stop early."""
    min_delta: float = 0.0
    """F1 points a validation must gain over the best so far to count as better."""
    save_every: int = 50
    """Write a resumable checkpoint every this many optimizer steps (and at every validation); 0: never."""
    augment: list[str] = field(default_factory=list)
    """Augmentations added to the training set: `swap` (a value exchanged with another offer of
    the same schema, in text and record), `drop` (a title segment without gold values removed),
    `shuffle` (title segments reordered). Empty: none."""
    augment_copies: int = 1
    """Augmented variants tried per training example and augmentation."""

    def __post_init__(self) -> None:
        self._check_types()
        self.train = [str(p) for p in self.train]
        self.validation = [str(p) for p in self.validation]
        self.target_modules = list(self.target_modules)
        self.augment = list(self.augment)
        if self.quantize not in QUANTIZATIONS:
            raise ConfigError(f"quantize must be one of {QUANTIZATIONS}, not {self.quantize!r}")
        if self.dtype not in DTYPES:
            raise ConfigError(f"dtype must be one of {DTYPES}, not {self.dtype!r}")
        if self.selection not in SELECTIONS:
            raise ConfigError(f"selection must be one of {SELECTIONS}, not {self.selection!r}")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"schedule must be one of {SCHEDULES}, not {self.schedule!r}")
        check_augmentation_kinds(self.augment)
        if not self.target_modules:
            raise ConfigError("target_modules must name at least one layer")
        positive = {"lora_r": self.lora_r, "lora_alpha": self.lora_alpha, "epochs": self.epochs,
                    "batch_size": self.batch_size, "grad_accum": self.grad_accum, "eval_batch_size": self.eval_batch_size,
                    "max_text_tokens": self.max_text_tokens, "max_shot_tokens": self.max_shot_tokens,
                    "max_length": self.max_length, "augment_copies": self.augment_copies}
        for name, value in positive.items():
            if value < 1:
                raise ConfigError(f"{name} must be >= 1, not {value}")
        for name in ("max_steps", "eval_limit"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(f"{name} must be >= 1 or null, not {value}")
        for name in ("k", "warmup_steps", "eval_every", "patience", "save_every"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0")
        if not 0.0 <= self.dev_share < 0.5:
            raise ConfigError(f"dev_share must be in [0, 0.5), not {self.dev_share}")
        if self.dev_share and self.validation:
            raise ConfigError("give either validation files or dev_share (a held-out share of train), not both")
        if not 0.0 <= self.lora_dropout < 1.0:
            raise ConfigError("lora_dropout must be in [0, 1)")
        if self.learning_rate <= 0:
            raise ConfigError("learning_rate must be > 0")
        if self.null_bias_grid and not (self.validation or self.dev_share):
            raise ConfigError("null_bias_grid needs validation offers: give validation files or dev_share")
        if any(not -20.0 <= b <= 20.0 for b in self.null_bias_grid):
            raise ConfigError(f"null_bias_grid values must be between -20 and 20, not {self.null_bias_grid}")
        if self.weight_decay < 0 or self.max_grad_norm < 0 or self.min_delta < 0:
            raise ConfigError("weight_decay, max_grad_norm and min_delta must be >= 0")

    def _check_types(self) -> None:
        """YAML reads `3e-4` as a string and `1.0` as a float: say so instead of failing later."""
        for f in fields(self):
            value = getattr(self, f.name)
            kind = str(f.type)
            if value is None and "None" in kind:
                continue
            if kind.startswith("float"):
                if isinstance(value, str):
                    try:
                        value = float(value)
                    except ValueError:
                        pass
                if isinstance(value, int) and not isinstance(value, bool):
                    value = float(value)
                ok = isinstance(value, float)
                if ok:
                    setattr(self, f.name, value)
            elif kind.startswith("int"):
                ok = isinstance(value, int) and not isinstance(value, bool)
            elif kind.startswith("bool"):
                ok = isinstance(value, bool)
            elif kind.startswith("str"):
                ok = isinstance(value, str)
            elif kind == "list[float]":
                ok = isinstance(value, (list, tuple)) and all(
                    isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
                if ok:
                    setattr(self, f.name, [float(v) for v in value])
            else:  # list[str]
                ok = isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)
            if not ok:
                raise ConfigError(f"{f.name} must be {kind.replace(' | None', ' or null')}, not {value!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_finetune_config(path: str | Path | None = None, **overrides: Any) -> FinetuneConfig:
    """A FinetuneConfig from a YAML file (or the defaults), with ``overrides`` (None values are
    ignored, so unset command-line options keep the file's values) applied on top."""
    values: dict[str, Any] = {}
    if path is not None:
        import yaml  # installed with transformers; imported here so the CLI starts fast

        try:
            loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read fine-tuning config {path}: {exc}") from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path} is not valid YAML: {exc}") from exc
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path} must hold a mapping of config keys")
        values.update(loaded)
    values.update({k: v for k, v in overrides.items() if v is not None})
    for name in ("train", "validation", "target_modules", "augment"):
        if isinstance(values.get(name), str):
            values[name] = [values[name]]
    return from_dict(FinetuneConfig, values)
