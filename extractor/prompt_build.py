"""Prompt building: input text -> the chat messages a model is sent (public; extraction and LoRA
training build their prompts here, so a tuned adapter sees exactly the prompts extraction sends).

Steps, in order: truncate the input to ``max_text_tokens``; choose ``k`` demonstrations
(``DemoPool.select``), each cut to ``max_shot_tokens`` with the values its cut text lost set to null
(``null_lost_values``); render the messages (``prompts.render_messages``); drop the least similar
demonstrations until the rendered prompt and the reply budget fit the model's context window."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .demos import DemoPool, Shot
from .prompts import render_messages
from .schemas import Schema

if TYPE_CHECKING:
    from .backends.base import Backend


def null_lost_values(record: dict[str, Any], text: str) -> dict[str, Any]:
    """``record`` with every string value ``text`` no longer contains set to null: a shortened
    text (a cut demonstration, a truncated training input) must never be shown or taught with a
    value it does not hold."""
    return {k: (None if isinstance(v, str) and v not in text else v) for k, v in record.items()}


def system_message(schema: Schema, prompt_id: str) -> str:
    """The instructions every prompt for ``schema`` starts with (the template's system turn)."""
    return render_messages(schema, "", (), prompt_id)[0]["content"]


def system_prompt_ids(backend: Any, message: str) -> list[int]:
    """The token ids of the system turn alone, as the chat template starts every prompt with it
    ([] without a chat template): the prefix extraction caches and training computes once."""
    text = backend.render_system(message)
    return backend.encode(text) if text else []


@dataclass(frozen=True)
class PromptSettings:
    """What prompt building reads of a configuration (``ExtractConfig`` and ``FinetuneConfig``
    fields of the same names, documented and defaulted there: ``of`` takes them)."""

    prompt: str
    k: int
    selection: str
    seed: int
    max_text_tokens: int
    max_shot_tokens: int

    @classmethod
    def of(cls, config: Any) -> PromptSettings:
        return cls(prompt=config.prompt, k=config.k, selection=config.selection, seed=config.seed,
                   max_text_tokens=config.max_text_tokens, max_shot_tokens=config.max_shot_tokens)


@dataclass
class Prompt:
    """One input's prompt."""

    text: str
    """The input as the prompt holds it (truncated to ``max_text_tokens``)."""
    messages: list[dict[str, str]]
    """Chat messages: instructions, demonstrations, the input ([] when ``error`` is set)."""
    shots: list[Shot] = field(default_factory=list)
    """The demonstrations shown (shortened), least similar first."""
    warnings: list[str] = field(default_factory=list)
    """What building changed (input truncated, demonstrations dropped to fit)."""
    error: str | None = None
    """Why no prompt can be built for this input (an empty text)."""


def shorten_shot(shot: Shot, backend: Any, max_tokens: int) -> Shot:
    """``shot`` with its text cut to ``max_tokens`` tokens and the values the cut text lost nulled."""
    text = backend.truncate(shot.text, max_tokens)
    return Shot(text, null_lost_values(shot.record, text)) if text != shot.text else shot


def build_prompt(backend: Any, schema: Schema, text: str, pool: DemoPool, settings: PromptSettings,
                 reply_budget: int, exclude: Collection[str] = (),
                 shorten: Any = None) -> Prompt:
    """The prompt for ``text``: truncated, with ``settings.k`` demonstrations from ``pool``
    (never one whose text is in ``exclude``), fitted with a reply of ``reply_budget`` tokens into
    ``backend.context_window``. ``shorten``: a function Shot -> Shot (a caching ``shorten_shot``)."""
    if not text.strip():
        return Prompt(text=text, messages=[], error="empty text")
    prompt = Prompt(text=text, messages=[])
    limit = settings.max_text_tokens
    truncated = backend.truncate(text, limit)
    if truncated != text:
        prompt.warnings.append(f"input truncated to its first {limit} tokens "
                               f"({len(truncated)} of {len(text)} characters)")
        prompt.text = truncated
    cut = shorten or (lambda s: shorten_shot(s, backend, settings.max_shot_tokens))
    shots = [cut(s) for s in pool.select(prompt.text, settings.k, settings.selection, settings.seed, exclude)]
    prompt.messages = render_messages(schema, prompt.text, shots, settings.prompt)
    window = backend.context_window - reply_budget
    dropped = 0
    while shots and backend.count_tokens(backend.render_chat(prompt.messages)) > window:
        shots = shots[1:]  # the least similar first
        dropped += 1
        prompt.messages = render_messages(schema, prompt.text, shots, settings.prompt)
    if dropped:
        prompt.warnings.append(f"demonstrations reduced to {len(shots)} to fit the model's context window")
    prompt.shots = shots
    return prompt


class PromptBuilder:
    """``build_prompt`` for one schema, demonstration pool and settings, keeping each
    demonstration's shortened form (a pool's shots are cut once, not once per input)."""

    def __init__(self, backend: Any, schema: Schema, pool: DemoPool, settings: PromptSettings,
                 reply_budget: int) -> None:
        self.backend = backend
        self.schema = schema
        self.pool = pool
        self.settings = settings
        self.reply_budget = reply_budget
        self._short: dict[int, Shot] = {}

    def shorten(self, shot: Shot) -> Shot:
        short = self._short.get(id(shot))
        if short is None:
            short = self._short[id(shot)] = shorten_shot(shot, self.backend, self.settings.max_shot_tokens)
        return short

    def build(self, text: str, exclude: Collection[str] = ()) -> Prompt:
        return build_prompt(self.backend, self.schema, text, self.pool, self.settings, self.reply_budget,
                            exclude, self.shorten)

    def system_message(self) -> str:
        return system_message(self.schema, self.settings.prompt)

    def system_ids(self) -> list[int]:
        """Token ids of the system turn (``system_prompt_ids``)."""
        return system_prompt_ids(self.backend, self.system_message())
