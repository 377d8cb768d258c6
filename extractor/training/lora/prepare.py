"""Everything LoRA training needs before its first step: the training files read (and augmented),
the validation files read, the model loaded and every example rendered into a training row; and
the dry run that shows those rows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ...config import ModelConfig
from ...demos import Shot
from ...errors import ConfigError
from ..augment import augment
from ..examples import Example
from .config import FinetuneConfig
from .data import (Row, RowBuilder, ValidationSet, file_layout, file_sha256, hold_out, load_examples,
                   load_validation, rows_summary, show_row)

if TYPE_CHECKING:
    from ...backends.transformers import TransformersBackend


@dataclass
class Prepared:
    """Everything training needs before the first step."""

    backend: TransformersBackend
    examples: list[Example]
    rows: list[Row]
    validation: list[ValidationSet]
    builder: RowBuilder
    files: list[dict[str, Any]]
    augmented: int


def load_backend(config: FinetuneConfig) -> TransformersBackend:
    import torch

    from ...models import load_model

    dtype = config.dtype
    if dtype == "auto" and (config.device == "cpu" or (config.device == "auto" and not torch.cuda.is_available())):
        dtype = "float32"  # inference's bfloat16 on AMX CPUs is not measured for training: it stays float32
    return load_model(ModelConfig(model=config.base_model, quantize=config.quantize, dtype=dtype,
                                  device=config.device))


def prepare(config: FinetuneConfig, backend: TransformersBackend | None = None) -> Prepared:
    """Read (and augment) the training files, read the validation files, load the model unless
    ``backend`` is given, and render every example into a training row."""
    if not config.train:
        raise ConfigError("no training files: give --train (repeatable) or `train:` in the config")
    examples, files = [], []
    for path in config.train:
        found = load_examples(path, config)
        files.append({"path": str(path), "layout": file_layout(path), "sha256": file_sha256(path),
                      "examples": len(found)})
        examples.extend(found)
    examples, held_out = hold_out(examples, config.dev_share, config.seed)
    pools: dict[str, list[Shot]] = {}
    for ex in examples:
        pools.setdefault(ex.schema.id, []).append(Shot(ex.text, ex.record))
    extra = augment(examples, config.augment, config.augment_copies, config.seed) if config.augment else []
    validation = [load_validation(path, config) for path in config.validation]
    if held_out is not None:
        validation.append(held_out)
    backend = backend or load_backend(config)
    builder = RowBuilder(backend, config, pools)
    everything = examples + extra
    return Prepared(backend, everything, [builder.row(e) for e in everything], validation, builder, files, len(extra))


def dry_run(config: FinetuneConfig, backend: TransformersBackend | None = None, show: int = 1) -> str:
    """A report of what training would see: ``show`` rendered rows with the supervised tokens in
    ``[[ ]]``, and the counts of supervised and ignored tokens."""
    prep = prepare(config, backend)
    lines = []
    for i, (row, ex) in enumerate(zip(prep.rows[:show], prep.examples)):
        lines.append(f"--- example {i + 1} of {len(prep.rows)} ({ex.source}, schema {row.schema}) ---")
        lines.append(show_row(row, prep.backend.tokenizer))
    lines.append("")
    lines.append(rows_summary(prep.rows) + (f" (incl. {prep.augmented} augmented)" if prep.augmented else ""))
    empty = sum(r.supervised == 0 for r in prep.rows)
    if empty:
        lines.append(f"{empty} example(s) have no supervised token: training would refuse to start")
    offers = sum(len(v.head(config.eval_limit).documents) for v in prep.validation)
    lines.append(f"validation: {len(prep.validation)} file(s), {offers} offers per evaluation" if prep.validation
                 else "validation: none (the final adapter is kept)")
    return "\n".join(lines)
