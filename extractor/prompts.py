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
