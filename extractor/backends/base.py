"""The small interface every backend offers the pipeline."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any


class Backend(ABC):
    """A text generator the pipeline can prompt.

    Capability attributes tell the pipeline what else it may ask: ``supports_constrained``
    means the backend exposes token-level access (a tokenizer and a forward pass) for the
    constrained decoder."""

    name: str = "backend"
    adapter: str | None = None
    context_window: int = 2048
    supports_constrained: bool = False

    @abstractmethod
    def render_chat(self, messages: list[dict[str, str]]) -> str:
        """Turn chat messages into the prompt text, ending where the assistant's reply starts."""

    @abstractmethod
    def count_tokens(self, text: str) -> int:
        """Number of tokens ``text`` takes (no special tokens added)."""

    @abstractmethod
    def truncate(self, text: str, max_tokens: int) -> str:
        """The longest prefix of ``text`` that fits in ``max_tokens`` tokens."""

    @abstractmethod
    def generate(self, prompts: list[str], max_new_tokens: int) -> list[str]:
        """Greedy continuations of ``prompts``, one per prompt, stopped at end of turn or once a
        top-level JSON object has closed. Must not depend on how prompts are batched."""

    def escape(self, text: str) -> str:
        """``text`` as this backend's prompts show it: strings its tokenizer would read as control
        tokens defused, the length unchanged (``prompts.escape_control_tokens``). Backends
        without a tokenizer show text as it is."""
        return text

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "adapter": self.adapter, "context_window": self.context_window}


def json_object_closed(text: str) -> bool:
    """True once ``text`` contains a complete top-level JSON object (strings respected)."""
    from ..decoding.parse import object_end

    start = text.find("{")
    return start >= 0 and object_end(text, start) is not None
