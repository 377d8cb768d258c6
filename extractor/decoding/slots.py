"""Slots of constrained decoding: one attribute's value automaton followed by the fixed JSON text
after it, with the tokens each state allows (cached), and the token index those come from."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ..schemas import Schema
from .constraints import Value, needs_source, typed_constraint
from .tokens import TokenIndex, token_bytes

if TYPE_CHECKING:
    from ..backends.transformers import TransformersBackend

_INDEX_ATTR = "_extractor_token_index"


def token_index(backend: TransformersBackend) -> TokenIndex:
    index = getattr(backend, _INDEX_ATTR, None)
    if index is None:
        index = TokenIndex(token_bytes(backend.tokenizer))
        setattr(backend, _INDEX_ATTR, index)
    return index


class Slot:
    """One attribute's value followed by the fixed text after it; caches allowed tokens per state."""

    def __init__(self, value: Value, suffix: bytes) -> None:
        self.value = value
        self.suffix = suffix
        self._allowed: dict[Any, list[int]] = {}

    def start(self) -> tuple:
        return ("v", self.value.start())

    def next_bytes(self, state: tuple) -> set[int]:
        if state[0] == "s":
            return {self.suffix[state[1]]} if state[1] < len(self.suffix) else set()
        out = set(self.value.next_bytes(state[1]))
        if self.value.accepting(state[1]):
            out.add(self.suffix[0])
        return out

    def step(self, state: tuple, byte: int) -> tuple | None:
        if state[0] == "s":
            i = state[1]
            return ("s", i + 1) if i < len(self.suffix) and self.suffix[i] == byte else None
        nxt = self.value.step(state[1], byte)
        if nxt is not None:
            return ("v", nxt)
        if self.value.accepting(state[1]) and byte == self.suffix[0]:
            return ("s", 1)
        return None

    def allowed(self, index: TokenIndex, state: tuple) -> list[int]:
        ids = self._allowed.get(state)
        if ids is None:
            ids = index.allowed(state, self.step, self.next_bytes)
            self._allowed[state] = ids
        return ids

    def value_complete(self, state: tuple) -> bool:
        """The value can only end here: feed the fixed text without asking the model."""
        return state[0] == "v" and self.value.accepting(state[1]) and not self.value.next_bytes(state[1])


def build_slots(schema: Schema, backend: Any, text: str, shared: dict[str, Slot]) -> list[Slot]:
    """One slot per attribute; slots whose constraint does not read the text are shared.
    ``text`` is the input as the prompt shows it (``backend.escape``): the model copies from that."""
    attrs = schema.attributes
    escape = backend.escape
    slots = []
    for i, attr in enumerate(attrs):
        suffix = escape(", " + json.dumps(attrs[i + 1].name, ensure_ascii=False) + ":").encode("utf-8") \
            if i + 1 < len(attrs) else b"}"
        if needs_source(attr):
            slots.append(Slot(Value(typed_constraint(attr, text)), suffix))
        else:
            if attr.name not in shared:
                shared[attr.name] = Slot(Value(typed_constraint(attr, "")), suffix)
            slots.append(shared[attr.name])
    return slots
