"""Validation during and after LoRA tuning: the real extraction path (constrained decoding, the
papers' scorer) on held-out offers, and the calibration of the null bias on them."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...adapter import MANIFEST, update_manifest
from ...errors import ConfigError
from .config import FinetuneConfig
from .prepare import Prepared, prepare

if TYPE_CHECKING:
    from ...backends.transformers import TransformersBackend


# --- validation ----------------------------------------------------------------------------

def _scored(record: Any) -> dict[str, Any]:
    row = record.to_dict()
    row["attributes"] = {k: (v if v is None or isinstance(v, str) else json.dumps(v, ensure_ascii=False))
                         for k, v in (row.get("attributes") or {}).items()}
    return row


def validate(prep: Prepared, config: FinetuneConfig, null_bias: float = 0.0) -> dict[str, Any]:
    """Extract the validation offers with the model as it is now and score them: micro P/R/F1
    over all files (exact match, the papers' rules), and per file."""
    from ...evaluate.scorer import Counts, score

    model = prep.backend.model
    model.eval()
    total, per_file, start = Counts(), [], time.perf_counter()
    for vset in prep.validation:
        vset = vset.head(config.eval_limit)
        groups: dict[str, list[int]] = {}
        for i, doc in enumerate(vset.documents):
            groups.setdefault(doc.category or "", []).append(i)
        records: list[Any] = [None] * len(vset.documents)
        for category, indices in groups.items():
            schema = vset.schemas[category]
            # A fresh Extractor each time: its cached system-prompt KV belongs to the old weights.
            extractor = prep.builder.extractor(schema, vset.pools.get(category), config.eval_batch_size, null_bias)
            for i, record in zip(indices, extractor.extract_documents([vset.documents[i] for i in indices])):
                records[i] = record
        micro = score(vset.gold, [_scored(r) for r in records]).exact.micro
        for kind in ("NN", "NV", "VN", "VC", "VW"):
            total.add(kind, getattr(micro, kind))
        per_file.append({"path": vset.path, "offers": len(records), "f1": micro.f1})
    model.train()
    return {"f1": total.f1, "precision": total.precision, "recall": total.recall,
            "offers": sum(f["offers"] for f in per_file), "seconds": round(time.perf_counter() - start, 1),
            "files": per_file}


def calibrate_null_bias(prep: Prepared, config: FinetuneConfig, echo: Callable[[str], None],
                        unbiased: dict[str, Any] | None = None) -> dict[str, Any]:
    """Validate the model as it is now once per bias of ``config.null_bias_grid``; the chosen bias
    has the best F1 (on a tie, the one nearest 0). ``unbiased``: the kept step's own figures,
    which are bias 0's (decoding is deterministic), so that bias is not decoded again."""
    runs = []
    for bias in config.null_bias_grid:
        figures = unbiased if bias == 0.0 and unbiased is not None else validate(prep, config, bias)
        runs.append({"null_bias": bias, **{k: figures[k] for k in ("precision", "recall", "f1", "offers", "seconds")}})
        echo(f"null bias {bias:g}: validation P {figures['precision']:.2f} R {figures['recall']:.2f} "
             f"F1 {figures['f1']:.2f} on {figures['offers']} offers")
    return {"runs": runs, "chosen": max(runs, key=lambda r: (r["f1"], -abs(r["null_bias"])))}


def load_kept(model: Any, folder: Path) -> None:
    """Put the kept (best) adapter weights back into ``model``, which holds the last step's."""
    from peft.utils import set_peft_model_state_dict
    from safetensors.torch import load_file

    set_peft_model_state_dict(model, load_file(str(folder / "adapter_model.safetensors")))


def calibrate_adapter(config: FinetuneConfig, backend: TransformersBackend | None = None,
                      echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Calibrate the null bias of the adapter already in ``config.output`` (trained earlier, or
    with another grid) on ``config``'s validation offers, and record it in its manifest."""
    from peft import PeftModel

    out = Path(config.output or "")
    if not config.null_bias_grid:
        raise ConfigError("nothing to calibrate: give null_bias_grid (--null-bias, repeatable)")
    if not (out / MANIFEST).is_file():
        raise ConfigError(f"{out} holds no adapter manifest to calibrate")
    prep = prepare(config, backend)
    prep.backend.model = PeftModel.from_pretrained(prep.backend.model, str(out))
    calibration = calibrate_null_bias(prep, config, echo)
    update_manifest(out, **manifest_fields(calibration))
    return calibration


def manifest_fields(calibration: dict[str, Any]) -> dict[str, Any]:
    """What a calibration adds to the adapter's manifest: the chosen bias, which extraction takes
    as its default, and every bias's figures."""
    return {"decoding_settings": {"null_bias": calibration["chosen"]["null_bias"]},
            "null_bias_calibration": calibration}
