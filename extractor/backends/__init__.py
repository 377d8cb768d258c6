"""Model backends behind one small interface, chosen by name from a registry."""

from __future__ import annotations

from typing import Any, Callable

from .base import Backend

_REGISTRY: dict[str, Callable[..., Backend]] = {}


def register(name: str, factory: Callable[..., Backend]) -> None:
    _REGISTRY[name] = factory


def create(name: str, **kwargs: Any) -> Backend:
    """Build a backend by registry name (`transformers`, `scripted`)."""
    if name not in _REGISTRY:
        _register_builtins()
    try:
        factory = _REGISTRY[name]
    except KeyError:
        from ..errors import ConfigError

        raise ConfigError(f"unknown backend {name!r} (known: {', '.join(sorted(_REGISTRY))})") from None
    return factory(**kwargs)


def _register_builtins() -> None:
    from ..models import load_model
    from .scripted import ScriptedBackend

    _REGISTRY.setdefault("transformers", load_model)
    _REGISTRY.setdefault("scripted", ScriptedBackend)


__all__ = ["Backend", "create", "register"]
