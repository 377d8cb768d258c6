"""The adapter folder a fine-tuning run writes, and the checks and exports that read it.

    <adapter>/adapter_model.safetensors, adapter_config.json   peft LoRA weights
    <adapter>/extractor_manifest.json                          what it was trained with (below)
    <adapter>/schemas/<name>.schema.json                       the schemas it was trained for

The manifest names the base model, prompt id and prompt settings, the schema ids, a hash of the
training data, every setting, the validation F1, and the decoding settings calibrated on the
held-out offers (``null_bias``). Extraction with the adapter refuses another
prompt, schema or base model unless forced: an adapter answers best exactly as it was trained."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ModelLoadError

if TYPE_CHECKING:
    from .schemas import Schema

MANIFEST = "extractor_manifest.json"
FORMAT = "extractor-adapter/1"


def read_manifest(folder: str | Path) -> dict[str, Any] | None:
    """The folder's manifest, or None when it has none (an adapter trained elsewhere)."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"cannot read adapter manifest {path}: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ModelLoadError(f"{path} is not an extractor adapter manifest (format {FORMAT!r})")
    return manifest


PROMPT_SETTINGS = ("k", "selection", "max_text_tokens", "max_shot_tokens")
"""The manifest's prompt settings that extraction takes over when the user does not set them."""
DECODING_SETTINGS = ("null_bias",)
"""The manifest's decoding settings (chosen on held-out offers after training) taken over likewise."""


def trained_settings(folder: str | Path) -> dict[str, Any]:
    """The prompt settings (demonstrations, truncation) the adapter in ``folder`` was trained
    with and the decoding settings calibrated for it, for extraction to render the same prompts
    and decode as validated; empty when it has no manifest."""
    manifest = read_manifest(folder) or {}
    prompt = manifest.get("prompt_settings") or {}
    decoding = manifest.get("decoding_settings") or {}
    return {**{key: prompt[key] for key in PROMPT_SETTINGS if key in prompt},
            **{key: decoding[key] for key in DECODING_SETTINGS if key in decoding}}


def write_adapter_files(folder: str | Path, manifest: dict[str, Any], schemas: list[Schema]) -> None:
    """Write the manifest and the schema files beside the peft weights."""
    folder = Path(folder)
    schema_dir = folder / "schemas"
    schema_dir.mkdir(parents=True, exist_ok=True)
    for schema in schemas:
        # The id hashes the name, which is the document's title or else the file name: a titled
        # schema may take a safe file name, an untitled one must keep its own.
        stem = re.sub(r"[^\w.-]+", "_", schema.name) if schema.document.get("title") else schema.name
        (schema_dir / f"{stem}.schema.json").write_text(
            json.dumps(schema.document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    write_manifest(folder, manifest)


def write_manifest(folder: str | Path, manifest: dict[str, Any]) -> None:
    """Write ``folder``'s manifest whole or not at all (a crash leaves the previous one)."""
    tmp = Path(folder) / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(Path(folder) / MANIFEST)


def update_manifest(folder: str | Path, **fields: Any) -> None:
    """Add or replace top-level ``fields`` in the manifest already in ``folder``."""
    manifest = read_manifest(folder)
    if manifest is None:
        raise ModelLoadError(f"{folder} holds no adapter manifest ({MANIFEST})")
    write_manifest(folder, {**manifest, **fields})


def _same_model(a: str, b: str) -> bool:
    if a == b:
        return True
    pa, pb = Path(a), Path(b)
    return pa.exists() and pb.exists() and pa.resolve() == pb.resolve()


def adapter_mismatches(manifest: dict[str, Any], schema: Schema, prompt: str, model: str | None) -> list[str]:
    """What differs between how the adapter was trained and this extraction (empty: nothing)."""
    problems = []
    if manifest.get("prompt") != prompt:
        problems.append(f"it was trained with prompt {manifest.get('prompt')!r}, this run uses {prompt!r}")
    trained = [s.get("id") for s in manifest.get("schemas", [])]
    if schema.id not in trained:
        names = ", ".join(str(s) for s in trained[:6]) + (" ..." if len(trained) > 6 else "")
        problems.append(f"it was trained for schema(s) {names}, not {schema.id}")
    base = manifest.get("base_model")
    if model is not None and base and not _same_model(str(base), model):
        problems.append(f"it was trained on base model {base!r}, this run loads {model!r}")
    return problems


def check_adapter(folder: str | Path, schema: Schema, prompt: str, model: str | None = None) -> None:
    """Refuse an adapter whose manifest does not match this prompt, schema and base model."""
    manifest = read_manifest(folder)
    if manifest is None:
        return
    problems = adapter_mismatches(manifest, schema, prompt, model)
    if problems:
        raise ModelLoadError(f"adapter {folder} does not match this extraction: " + "; ".join(problems)
                             + f". Use the schema files in {Path(folder) / 'schemas'}, or pass --force-adapter "
                             "(force_adapter=True) to use it anyway")


def export_adapter(adapter: str | Path, output: str | Path, merge: bool = True, base_model: str | None = None,
                   device: str = "cpu", dtype: str = "float32") -> Path:
    """Write ``adapter`` to ``output``: merged into its base model's weights (a plain transformers
    folder that ``--model`` loads without peft), or, without ``merge``, as a clean copy of the
    adapter folder (no checkpoint). The manifest and schemas go along either way."""
    adapter, output = Path(adapter), Path(output)
    if not (adapter / "adapter_config.json").is_file():
        raise ModelLoadError(f"{adapter} is not a peft adapter folder (no adapter_config.json)")
    if output.exists() and any(output.iterdir()):
        raise ModelLoadError(f"{output} exists and is not empty")
    manifest = read_manifest(adapter)
    if not merge:
        shutil.copytree(adapter, output, ignore=shutil.ignore_patterns("checkpoint"), dirs_exist_ok=True)
        return output
    base = base_model or (manifest or {}).get("base_model")
    if not base:
        raise ModelLoadError(f"{adapter} has no manifest naming its base model; give the base model")
    from peft import PeftModel

    from .config import ModelConfig
    from .models import load_model

    # Merging needs full-precision weights: a 4-bit (QLoRA) base is reloaded unquantized here.
    backend = load_model(ModelConfig(model=base, dtype=dtype, device=device))
    try:
        merged = PeftModel.from_pretrained(backend.model, str(adapter)).merge_and_unload()
    except Exception as exc:  # peft raises ValueError/KeyError/RuntimeError on mismatched adapters
        raise ModelLoadError(f"cannot apply adapter {adapter} to {base}: {exc}") from exc
    output.mkdir(parents=True, exist_ok=True)
    merged.save_pretrained(str(output))
    backend.tokenizer.save_pretrained(str(output))
    if (adapter / "schemas").is_dir():
        shutil.copytree(adapter / "schemas", output / "schemas", dirs_exist_ok=True)
    if manifest is not None:
        manifest = dict(manifest, merged_from=str(adapter))
        write_manifest(output, manifest)
    return output
