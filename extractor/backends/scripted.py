"""A backend that replies from a script: for tests, dry runs and demos without a model."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from .base import Backend


class ScriptedBackend(Backend):
    """Replies with ``reply(prompt)`` when given a function, else pops replies in order.

    Tokens are whitespace-separated words, which is enough for budget and truncation logic."""

    def __init__(self, replies: Iterable[str] | Callable[[str], str] = (), name: str = "scripted",
                 context_window: int = 4096) -> None:
        self.name = name
        self.adapter = None
        self.context_window = context_window
        self._fn = replies if callable(replies) else None
        self._queue = [] if callable(replies) else list(replies)
        self.prompts: list[str] = []
        """Every prompt received, in order: tests inspect what the pipeline sent."""
        self.calls: list[int] = []
        """The batch size of every generate call."""

    def render_chat(self, messages: list[dict[str, str]]) -> str:
        return "".join(f"<{m['role']}>\n{m['content']}\n" for m in messages) + "<assistant>\n"

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def truncate(self, text: str, max_tokens: int) -> str:
        words = text.split()
        if len(words) <= max_tokens:
            return text
        return " ".join(words[:max_tokens])

    def generate(self, prompts: list[str], max_new_tokens: int) -> list[str]:
        self.calls.append(len(prompts))
        out = []
        for prompt in prompts:
            self.prompts.append(prompt)
            if self._fn is not None:
                out.append(self._fn(prompt))
            elif self._queue:
                out.append(self._queue.pop(0))
            else:
                raise RuntimeError("ScriptedBackend ran out of replies")
        return out
