"""Free generation: the model writes the whole JSON reply, which is then parsed tolerantly.

Kept as the baseline for constrained decoding, and for backends without token-level access."""

from __future__ import annotations

import json

from ..backends.base import Backend
from ..prompts import format_answer
from ..schemas import Attribute, Schema

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
