"""Resumable training checkpoints.

``<output>/checkpoint/`` holds the adapter weights as peft writes them, ``trainer.pt`` (optimizer,
scheduler and random-number state) and ``state.json`` (step, epoch, position in the epoch's
batches, best validation so far, history, the config and the training files' hashes). Batches
are a function of (seed, epoch), so a resumed run takes exactly the steps the interrupted one
would have taken."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from ...errors import ConfigError
from .config import FinetuneConfig

RESUMABLE_CHANGES = {"epochs", "max_steps", "patience", "min_delta", "eval_every", "eval_limit", "eval_batch_size",
                     "save_every", "device", "output"}
"""Settings a resumed run may change; any other difference would make it another run."""


def save_checkpoint(model: Any, optimizer: Any, scheduler: Any, folder: Path, config: FinetuneConfig,
                    state: dict[str, Any]) -> None:
    """Write a checkpoint; the previous one is replaced only once the new one is complete."""
    import torch

    tmp, old = folder.with_name(folder.name + ".tmp"), folder.with_name(folder.name + ".old")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(str(tmp))
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "rng": torch.get_rng_state()}, tmp / "trainer.pt")
    (tmp / "state.json").write_text(json.dumps({**state, "config": config.to_dict()}, indent=1), encoding="utf-8")
    if folder.exists():
        shutil.rmtree(old, ignore_errors=True)
        folder.rename(old)
    tmp.rename(folder)
    shutil.rmtree(old, ignore_errors=True)


def find_checkpoint(folder: Path) -> Path | None:
    """The checkpoint folder to resume from (the previous one if a save was cut short), or None."""
    for candidate in (folder, folder.with_name(folder.name + ".old")):
        if (candidate / "state.json").is_file() and (candidate / "trainer.pt").is_file():
            return candidate
    return None


def remove_checkpoint(folder: Path) -> None:
    for candidate in (folder, folder.with_name(folder.name + ".old"), folder.with_name(folder.name + ".tmp")):
        shutil.rmtree(candidate, ignore_errors=True)


def read_state(folder: Path, config: FinetuneConfig, data: list[str]) -> dict[str, Any]:
    """The loop state of a checkpoint, refused when the run it belongs to was set up differently."""
    state = json.loads((folder / "state.json").read_text(encoding="utf-8"))
    saved = state.pop("config")
    changed = sorted(k for k, v in config.to_dict().items() if saved.get(k) != v and k not in RESUMABLE_CHANGES)
    if changed:
        raise ConfigError(f"cannot resume {folder}: settings changed since it was written ({', '.join(changed)})")
    if data != state["data"]:
        raise ConfigError(f"cannot resume {folder}: the training files changed since it was written")
    return state


def restore_trainer(folder: Path, optimizer: Any, scheduler: Any) -> None:
    """Put the optimizer, the scheduler and torch's random-number state back as they were saved."""
    import torch

    saved = torch.load(folder / "trainer.pt", weights_only=True)
    optimizer.load_state_dict(saved["optimizer"])
    scheduler.load_state_dict(saved["scheduler"])
    torch.set_rng_state(saved["rng"])
