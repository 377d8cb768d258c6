"""LoRA / QLoRA instruction tuning for extraction.

Rows come from :mod:`.prepare` and :mod:`.data` (the inference prompt + the constrained decoder's
answer, loss on the answer only). A plain torch loop trains them: AdamW, gradient accumulation, length-bucketed
batches, the vocabulary projection computed only at answer positions. Validation runs the real
extraction path (constrained decoding, the papers' scorer) and keeps the best adapter; a
checkpoint written every ``save_every`` steps (and on Ctrl-C) lets an interrupted run resume."""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import validation as checks
from ...adapter import FORMAT, MANIFEST, update_manifest, write_adapter_files
from ...errors import ConfigError
from .checkpoint import find_checkpoint, read_state, remove_checkpoint, restore_trainer, save_checkpoint
from .config import FinetuneConfig
from .data import IGNORE, check_rows, collate, length_batches
from .prepare import Prepared, prepare

if TYPE_CHECKING:
    from ...backends.transformers import TransformersBackend


@dataclass
class TuneResult:
    """What a run did: where the adapter is, its steps and the validation history."""

    output: Path
    steps: int
    best: dict[str, Any] | None
    history: list[dict[str, Any]] = field(default_factory=list)
    stopped_early: bool = False
    seconds: float = 0.0
    calibration: dict[str, Any] | None = None
    """The null-bias calibration of the kept adapter (``null_bias_grid``): every bias's figures and the chosen one."""


# --- the model -----------------------------------------------------------------------------

def _with_lora(backend: TransformersBackend, config: FinetuneConfig, checkpoint: Path | None) -> Any:
    import torch
    from peft import LoraConfig, PeftModel, get_peft_model

    model = backend.model
    if config.quantize == "4bit":
        from peft import prepare_model_for_kbit_training

        # Explicit: torch warns that checkpointing without use_reentrant will become an error.
        model = prepare_model_for_kbit_training(model, gradient_checkpointing_kwargs={"use_reentrant": False})
    if checkpoint is not None:
        return PeftModel.from_pretrained(model, str(checkpoint), is_trainable=True)
    torch.manual_seed(config.seed)
    lora = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                      target_modules=list(config.target_modules), task_type="CAUSAL_LM")
    try:
        return get_peft_model(model, lora)
    except ValueError as exc:  # peft: "Target modules {...} not found in the base model"
        raise ConfigError(f"cannot put LoRA on {config.target_modules}: {exc}") from exc


def _checkpointing(model: Any) -> bool:
    base = model.get_base_model()
    for name in ("is_activation_checkpointing", "is_gradient_checkpointing"):  # the first is transformers 5's
        if hasattr(type(base), name):
            return bool(getattr(base, name))
    return False


def _cache_kwarg(decoder: Any) -> str:
    """transformers 5 calls the KV cache argument ``cache``, 4.x ``past_key_values``."""
    import inspect

    return "cache" if "cache" in inspect.signature(type(decoder).forward).parameters else "past_key_values"


def answer_loss(model: Any, batch: dict[str, Any], prefix: int = 0) -> tuple[Any, int]:
    """Summed cross-entropy over the supervised positions, and their number. The vocabulary
    projection runs only where a label is taken (a large share of the work, and most of the memory).

    With ``prefix`` > 0 the first ``prefix`` tokens are the same in every row (the system turn):
    they go through the model once and their KV cache, gradients included, serves every row."""
    import torch
    import torch.nn.functional as F

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    decoder = base.get_decoder()
    ids, mask, labels = batch["input_ids"], batch["attention_mask"], batch["labels"]
    if prefix > 0:
        key = _cache_kwarg(decoder)
        first = decoder(input_ids=ids[:1, :prefix], use_cache=True)
        cache = getattr(first, "cache", None) or getattr(first, "past_key_values", None)
        cache.batch_repeat_interleave(ids.shape[0])
        positions = torch.arange(prefix, ids.shape[1], device=ids.device).unsqueeze(0).expand(ids.shape[0], -1)
        hidden = decoder(input_ids=ids[:, prefix:], attention_mask=mask, position_ids=positions,
                         use_cache=True, **{key: cache}).last_hidden_state
        labels = labels[:, prefix + 1:]  # the prefix's last position predicts a prompt token: no label
    else:
        hidden = decoder(input_ids=ids, attention_mask=mask, use_cache=False).last_hidden_state
        labels = labels[:, 1:]
    keep = labels != IGNORE
    logits = base.get_output_embeddings()(hidden[:, :-1][keep]).float()
    return F.cross_entropy(logits, labels[keep], reduction="sum"), int(keep.sum())


def _lr_factor(config: FinetuneConfig, total: int) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if step < config.warmup_steps:
            return (step + 1) / (config.warmup_steps + 1)
        progress = min(1.0, (step - config.warmup_steps) / max(1, total - config.warmup_steps))
        if config.schedule == "linear":
            return 1.0 - progress
        if config.schedule == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * progress))
        return 1.0

    return factor


# --- saving --------------------------------------------------------------------------------

def _manifest(prep: Prepared, config: FinetuneConfig, state: dict[str, Any]) -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    try:
        ours = version("extractor")
    except PackageNotFoundError:
        ours = "unknown"
    schemas = {e.schema.id: e.schema for e in prep.examples}
    combined = hashlib.sha256("".join(f["sha256"] for f in prep.files).encode()).hexdigest()
    return {
        "format": FORMAT, "base_model": prep.backend.name, "prompt": config.prompt,
        "prompt_settings": {"k": config.k, "selection": config.selection, "max_text_tokens": config.max_text_tokens,
                            "max_shot_tokens": config.max_shot_tokens, "title_only": config.title_only},
        "schemas": [{"name": s.name, "id": s.id} for s in schemas.values()],
        "training_data": {"files": prep.files, "sha256": combined, "examples": len(prep.examples) - prep.augmented,
                          "augmented": prep.augmented},
        "settings": config.to_dict(), "steps": state["step"], "validation": state["best"],
        "history": state["history"], "created": dt.datetime.now().isoformat(timespec="seconds"),
        "extractor_version": ours,
    }


def _save_adapter(model: Any, folder: Path, prep: Prepared, config: FinetuneConfig, state: dict[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(folder))
    write_adapter_files(folder, _manifest(prep, config, state), list({e.schema.id: e.schema for e in prep.examples}.values()))


# --- training ------------------------------------------------------------------------------

def finetune(config: FinetuneConfig, backend: TransformersBackend | None = None, *, resume: bool = False,
             progress: bool = True, echo: Callable[[str], None] = print,
             on_step: Callable[[dict[str, Any]], None] | None = None) -> TuneResult:
    """Train a LoRA adapter as ``config`` says and write it (with its manifest) to ``config.output``.

    ``backend`` is an already loaded model (else ``config.base_model`` is loaded); ``resume``
    continues from ``<output>/checkpoint``; ``on_step`` receives each step's figures."""
    import torch
    from tqdm import tqdm

    if not config.output:
        raise ConfigError("no output folder: give -o/--output or `output:` in the config")
    out = Path(config.output)
    checkpoint = out / "checkpoint"
    found = find_checkpoint(checkpoint)
    if resume and found is None:
        raise ConfigError(f"nothing to resume: {checkpoint} holds no checkpoint")
    if not resume and found is not None:
        raise ConfigError(f"{out} holds the checkpoint of an unfinished run: pass --resume, or remove {found}")
    prep = prepare(config, backend)
    check_rows(prep.rows, prep.examples)
    state: dict[str, Any] = {"step": 0, "epoch": 0, "batch": 0, "best": None, "bad": 0, "history": [],
                             "last_eval": -1, "tokens": 0, "seconds": 0.0, "data": [f["sha256"] for f in prep.files]}
    if found is not None:
        state = read_state(found, config, state["data"])
    model = _with_lora(prep.backend, config, found)
    prep.backend.model = model
    model.train()
    device = next(model.parameters()).device
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=config.weight_decay)
    lengths, groups = [len(r.input_ids) for r in prep.rows], [r.schema for r in prep.rows]
    per_epoch = math.ceil(len(length_batches(lengths, groups, config.batch_size, config.seed, 0)) / config.grad_accum)
    share = config.share_prefix and not _checkpointing(model)
    total = config.max_steps or config.epochs * per_epoch
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_factor(config, total))
    if found is not None:
        restore_trainer(found, optimizer, scheduler)
        echo(f"resumed from {found} at step {state['step']}")
    pad = prep.backend.tokenizer.pad_token_id
    bar = tqdm(total=total, initial=state["step"], unit="step", dynamic_ncols=True, disable=not progress)
    started, tokens_start, seconds_start, stopped_early = time.perf_counter(), state["tokens"], state["seconds"], False

    def evaluate() -> None:
        nonlocal stopped_early
        figures = {"step": state["step"], **checks.validate(prep, config)}
        state["history"].append(figures)
        state["last_eval"] = state["step"]
        best = state["best"]
        if best is None or figures["f1"] > best["f1"] + config.min_delta:
            state["best"], state["bad"] = figures, 0
            _save_adapter(model, out, prep, config, state)
            mark = " (best: adapter saved)"
        else:
            state["bad"] += 1
            mark = f" (best {best['f1']:.2f} at step {best['step']})"
        bar.write(f"step {state['step']}: validation P {figures['precision']:.2f} R {figures['recall']:.2f} "
                  f"F1 {figures['f1']:.2f} on {figures['offers']} offers in {figures['seconds']:.0f} s{mark}")
        if config.patience and state["bad"] >= config.patience:
            stopped_early = True

    try:
        if config.eval_at_start and prep.validation and state["step"] == 0 and not state["history"]:
            evaluate()
        while state["step"] < total and not stopped_early:
            batches = length_batches(lengths, groups, config.batch_size, config.seed, state["epoch"])
            while state["batch"] < len(batches) and state["step"] < total and not stopped_early:
                group = batches[state["batch"]: state["batch"] + config.grad_accum]
                rows = [[prep.rows[i] for i in b] for b in group]
                supervised = sum(r.supervised for b in rows for r in b)
                loss_total = 0.0
                for batch_rows in rows:
                    batch = {k: v.to(device) for k, v in collate(batch_rows, pad).items()}
                    prefixes = {r.prefix for r in batch_rows}
                    loss, _ = answer_loss(model, batch, prefixes.pop() if share and len(prefixes) == 1 else 0)
                    (loss / supervised).backward()
                    loss_total += float(loss.detach())
                    state["tokens"] += int(batch["attention_mask"].sum())
                if config.max_grad_norm:
                    torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                state["step"] += 1
                state["batch"] += len(group)
                elapsed = time.perf_counter() - started
                state["seconds"] = seconds_start + elapsed
                figures = {"step": state["step"], "loss": loss_total / supervised, "lr": scheduler.get_last_lr()[0],
                           "tokens_per_second": (state["tokens"] - tokens_start) / max(elapsed, 1e-9)}
                bar.update(1)
                bar.set_postfix(loss=f"{figures['loss']:.4f}", tok_s=f"{figures['tokens_per_second']:.0f}")
                if on_step is not None:
                    on_step(figures)
                epoch_end = state["batch"] >= len(batches)
                if prep.validation and ((config.eval_every and state["step"] % config.eval_every == 0)
                                        or (not config.eval_every and epoch_end)):
                    evaluate()
                    if config.save_every:
                        save_checkpoint(model, optimizer, scheduler, checkpoint, config, state)
                elif config.save_every and state["step"] % config.save_every == 0:
                    save_checkpoint(model, optimizer, scheduler, checkpoint, config, state)
            if state["batch"] >= len(batches):
                state["epoch"] += 1
                state["batch"] = 0
        if prep.validation and state["last_eval"] != state["step"] and not stopped_early:
            evaluate()
    except KeyboardInterrupt:
        bar.close()
        save_checkpoint(model, optimizer, scheduler, checkpoint, config, state)
        echo(f"interrupted at step {state['step']}: checkpoint written to {checkpoint}; continue with --resume")
        raise
    bar.close()
    state["seconds"] = seconds_start + time.perf_counter() - started
    calibration = None
    if not prep.validation:
        _save_adapter(model, out, prep, config, state)
    elif (out / MANIFEST).is_file():
        # The weights are the best step's; the manifest also tells how the whole run went.
        fields = {"history": state["history"], "run_steps": state["step"], "stopped_early": stopped_early}
        if config.null_bias_grid:
            checks.load_kept(model, out)
            calibration = checks.calibrate_null_bias(prep, config, echo, state["best"])
            fields.update(checks.manifest_fields(calibration))
        update_manifest(out, **fields)
    remove_checkpoint(checkpoint)
    prep.backend.adapter = str(out)
    if stopped_early:
        echo(f"stopped early: no F1 gain in {config.patience} validations")
    return TuneResult(output=out, steps=state["step"], best=state["best"], history=state["history"],
                      stopped_early=stopped_early, seconds=state["seconds"], calibration=calibration)
