"""Free generation: the model writes the whole JSON reply, which is then parsed tolerantly,
validated, and re-asked (the validator's messages shown to the model) while invalid.

Kept as the baseline for constrained decoding, and for backends without token-level access.
``FreeDecoder`` generates, parses, validates and re-asks; building the record from what it
returns is the engine's work (the Extractor). Also here: the token budgets of values
and replies, which constrained decoding uses too."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from ..backends.base import Backend
from ..prompts import format_answer
from ..schemas import Attribute, Schema
from ..validate import Validation, check_record, reask_messages
from .parse import parse_json_object

# Tokens a value may take when the schema gives no bound. Product attribute values are short;
# a larger budget mostly buys the model room to loop.
STRING_VALUE_TOKENS = 16
NUMBER_VALUE_TOKENS = 6
DEFAULT_MAX_ITEMS = 4


def value_budget(attr: Attribute, backend: Backend) -> int:
    """Most tokens a value of ``attr`` should need."""
    if attr.enum is not None:
        return max(backend.count_tokens(format_answer_value(v)) for v in attr.enum) + 1
    if attr.is_array:
        per_item = STRING_VALUE_TOKENS if "string" in attr.item_types else NUMBER_VALUE_TOKENS
        return (attr.max_items or DEFAULT_MAX_ITEMS) * (per_item + 1) + 2
    if "string" in attr.types:
        if attr.max_length:
            return min(STRING_VALUE_TOKENS * 4, attr.max_length // 2 + 3)
        return STRING_VALUE_TOKENS
    return NUMBER_VALUE_TOKENS


def format_answer_value(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def output_budget(schema: Schema, backend: Backend) -> int:
    """Token budget for a whole reply: the skeleton with nulls plus every value's budget."""
    skeleton = format_answer({}, schema)
    return backend.count_tokens(skeleton) + sum(value_budget(a, backend) for a in schema.attributes) + 4


@dataclass
class FreeRow:
    """One prompt through free decoding: the caller gives ``messages``, the decoder fills the rest
    as it goes (so a caller still has the last reply and attempt count should generation fail)."""

    messages: list[dict[str, str]]
    """The chat so far (re-asks append the invalid reply and the validator's messages)."""
    raw: str | None = None
    """The model's last reply."""
    problems: list[str] = field(default_factory=list)
    """Why the last reply was not accepted (parse error or validator messages)."""
    attempts: int = 0
    checked: Validation | None = None
    """The accepted reply, validated against the schema (None: no reply was valid)."""
    repairs: list[str] = field(default_factory=list)
    """What tolerant parsing had to repair in the accepted reply."""

    @property
    def ok(self) -> bool:
        return self.checked is not None


class FreeDecoder:
    """Generate -> parse -> validate -> re-ask, for one backend and schema: each reply of at most
    ``budget`` tokens, and up to ``max_retries`` re-asks per prompt."""

    def __init__(self, backend: Backend, schema: Schema, *, budget: int, max_retries: int = 1) -> None:
        self.backend = backend
        self.schema = schema
        self.budget = budget
        self.max_retries = max_retries

    def decode(self, rows: list[FreeRow]) -> list[FreeRow]:
        """Fill ``rows`` in place (a batch of prompts generated together); returns them."""
        pending = rows
        for attempt in range(1 + self.max_retries):
            prompts = [self.backend.render_chat(r.messages) for r in pending]
            outputs = self.backend.generate(prompts, self.budget)
            retry = []
            for row, raw in zip(pending, outputs):
                row.attempts += 1
                row.raw = raw
                parsed = parse_json_object(raw)
                if parsed.value is None:
                    row.problems = [parsed.error or "no JSON object"]
                else:
                    checked = check_record(parsed.value, self.schema)
                    row.problems = checked.errors
                    if checked.ok:
                        row.checked, row.repairs = checked, list(parsed.repairs)
                        continue
                if attempt < self.max_retries:
                    row.messages = reask_messages(row.messages, raw, row.problems)
                    retry.append(row)
            pending = retry
            if not pending:
                break
        return rows
