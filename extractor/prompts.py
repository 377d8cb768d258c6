"""Render prompts from versioned templates: schema + demonstrations + input -> chat messages.

Training and inference both render through ``render_messages`` and ``format_answer``, so a
tuned adapter sees exactly the text it was trained on."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from .errors import PromptError
from .resources import prompts_dir
from .schemas import Attribute, Schema

if TYPE_CHECKING:
    from .demos import Shot


def tojson_compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def type_hint(attr: Attribute) -> str:
    """A short human-readable type, e.g. ``string``, ``one of "Men", "Women"``, ``list of string``."""
    if attr.enum is not None:
        return "one of " + ", ".join(tojson_compact(v) for v in attr.enum)
    if attr.is_array:
        if attr.item_enum is not None:
            return "list of " + ", ".join(tojson_compact(v) for v in attr.item_enum)
        return "list of " + "/".join(attr.item_types)
    return "/".join(attr.types)


def format_answer(record: dict[str, Any], schema: Schema) -> str:
    """The reply text for a record: every attribute in schema order, null when absent."""
    return json.dumps({a.name: record.get(a.name) for a in schema.attributes}, ensure_ascii=False)


def available_prompts() -> list[str]:
    return sorted(p.name[: -len(".jinja")] for p in prompts_dir().glob("*.jinja"))


@lru_cache(maxsize=16)
def _template(prompt_id: str) -> Any:
    import jinja2

    path = prompts_dir() / f"{prompt_id}.jinja"
    if not path.is_file():
        raise PromptError(f"no prompt template {prompt_id!r} (available: {', '.join(available_prompts())})")
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=False, autoescape=False)
    env.filters["tojson_compact"] = tojson_compact
    env.filters["type_hint"] = type_hint
    try:
        template = env.from_string(path.read_text(encoding="utf-8"))
        module = template.module
    except jinja2.TemplateError as exc:
        raise PromptError(f"prompt template {path} is broken: {exc}") from exc
    for macro in ("system", "user", "answer"):
        if not hasattr(module, macro):
            raise PromptError(f"prompt template {path} lacks the {macro!r} macro")
    return module


def render_messages(schema: Schema, text: str, shots: list[Shot] | tuple[Shot, ...] = (),
                    prompt_id: str = "extract.v1") -> list[dict[str, str]]:
    """Chat messages: instructions, one user/assistant pair per demonstration, then the input."""
    module = _template(prompt_id)
    messages = [{"role": "system", "content": str(module.system(schema)).strip()}]
    for shot in shots:
        messages.append({"role": "user", "content": str(module.user(shot.text))})
        messages.append({"role": "assistant", "content": str(module.answer(format_answer(shot.record, schema)))})
    messages.append({"role": "user", "content": str(module.user(text))})
    return messages


# --- product text is data: control tokens defused ---------------------------------------------

_LOOKALIKES = {"<": "\u2039", ">": "\u203a", "[": "\u2045", "]": "\u2046", "|": "\u00a6", "{": "\u2774",
               "}": "\u2775"}
"""Stand-ins for a control token's first character (``<|im_end|>`` -> ``‹|im_end|>``): the model
still reads a bracket, and the tokenizer no longer finds the control token."""
_FALLBACKS = ("\ufffd", "\ue000")


def control_strings(tokenizer: Any) -> tuple[str, ...]:
    """The strings ``tokenizer`` turns into one added token wherever they occur in its input, and
    that mean something to the model: every special token (``<|im_start|>``, ``<s>``, ``[SEP]``)
    and every other added token that is more than letters, digits and spaces (``<think>``).
    Added plain words and whitespace runs are left alone: they are ordinary text."""
    found = set(getattr(tokenizer, "all_special_tokens", None) or ())
    for token in (getattr(tokenizer, "added_tokens_decoder", None) or {}).values():
        content = str(getattr(token, "content", token))
        if getattr(token, "special", False) or any(not (ch.isalnum() or ch.isspace()) for ch in content):
            found.add(content)
    return tuple(sorted(s for s in found if s))


@lru_cache(maxsize=16)
def _control_pattern(strings: tuple[str, ...]) -> tuple[Any, dict[str, str]]:
    import re

    used = set("".join(strings))
    swap = {}
    for ch in {s[0] for s in strings}:
        # A stand-in no control string contains, so each replacement removes an occurrence for good.
        swap[ch] = next(c for c in (_LOOKALIKES.get(ch), *_FALLBACKS) if c and c not in used)
    pattern = re.compile("|".join(re.escape(s) for s in sorted(strings, key=len, reverse=True)))
    return pattern, swap


def escape_control_tokens(text: str, tokenizer: Any) -> str:
    """``text`` with every control string of ``tokenizer`` (``control_strings``) defused by
    swapping its first character for a look-alike: ``<|im_end|>`` becomes ``‹|im_end|>``.

    Product text (and anything else put into a chat message) is data: encoded as it is, an offer
    holding ``<|im_end|>`` would end its user turn and could open a fake one. The chat template's
    own control tokens are added around the escaped contents, so they stay real. The result has
    the same length as ``text``, so character offsets into it are offsets into ``text`` (a value
    copied from the escaped text maps back: ``restore_escaped``)."""
    strings = control_strings(tokenizer)
    if not strings or not text:
        return text
    pattern, swap = _control_pattern(strings)
    while True:  # one pass can leave a control string that overlapped a replaced one
        escaped = pattern.sub(lambda m: swap[m.group()[0]] + m.group()[1:], text)
        if escaped == text:
            return text
        text = escaped


def restore_escaped(value: Any, shown: str, original: str) -> Any:
    """``value`` as ``original`` writes it, when it was copied from ``shown`` (``original`` after
    ``escape_control_tokens``, the same length): a string (or list item) found in ``shown`` but
    not in ``original`` becomes ``original``'s characters at the same place. Anything else is
    returned as it is."""
    if shown == original:
        return value
    if isinstance(value, list):
        return [restore_escaped(item, shown, original) for item in value]
    if isinstance(value, str) and value and value not in original:
        at = shown.find(value)
        if at >= 0:
            return original[at: at + len(value)]
    return value
