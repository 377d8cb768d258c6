"""The one place that knows where the shipped prompts/ and schemas/ live.

In a source checkout (and an editable install) they are the top-level ``prompts/`` and
``schemas/`` folders; in a wheel they are packaged as ``extractor/_data/prompts`` and
``extractor/_data/schemas`` (see ``package-dir`` in pyproject.toml)."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _find(name: str) -> Path:
    for candidate in (_PACKAGE / "_data" / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"shipped folder {name!r} not found next to {_PACKAGE}")


def prompts_dir() -> Path:
    """Folder of the shipped, versioned prompt templates."""
    return _find("prompts")


def schemas_dir() -> Path:
    """Folder of the shipped attribute schemas (``<name>.schema.json``)."""
    return _find("schemas")


def vocab_dir() -> Path:
    """Folder of the shipped normalization vocabularies (``schemas/vocab/<name>.json``)."""
    return schemas_dir() / "vocab"
