"""Backends: batching must not change greedy outputs; truncation, chat rendering, stop check."""

from __future__ import annotations

import copy

import pytest

from extractor.backends import create
from extractor.backends.base import json_object_closed
from extractor.backends.scripted import ScriptedBackend
from extractor.errors import ConfigError

TEXTS = [
    "Hanes",
    "Nike Air Zoom Pegasus running shoe black white size 10",
    "Samsung 1TB portable SSD T7 USB 3.2 gray",
    "mens crew tee 6-pack navy blue XL 100% cotton short sleeve, Hanes, {\"Brand\": null}",
]


def _prompts(backend) -> list[str]:
    return [backend.render_chat([{"role": "system", "content": "Extract JSON."},
                                 {"role": "user", "content": f"Product: {t}"}]) for t in TEXTS]


def test_batched_generation_equals_one_at_a_time(tiny_backend):
    prompts = _prompts(tiny_backend)
    lengths = {tiny_backend.count_tokens(p) for p in prompts}
    assert len(lengths) == len(prompts)  # really different lengths, so left padding is exercised
    batched = tiny_backend.generate(prompts, 12)
    single = [tiny_backend.generate([p], 12)[0] for p in prompts]
    assert len(batched) == 4
    assert batched == single
    assert any(out for out in batched)  # a random model still writes something


def test_generation_is_deterministic(tiny_backend):
    prompts = _prompts(tiny_backend)[:2]
    assert tiny_backend.generate(prompts, 8) == tiny_backend.generate(prompts, 8)


def test_generation_respects_token_budget(tiny_backend):
    for out in tiny_backend.generate(_prompts(tiny_backend), 5):
        assert tiny_backend.count_tokens(out) <= 5


@pytest.mark.parametrize("text", TEXTS + ["Café crème sweater — 100% laine", "   leading spaces kept"])
@pytest.mark.parametrize("max_tokens", [1, 3, 8, 200])
def test_truncate_returns_prefix_within_budget(tiny_backend, text, max_tokens):
    out = tiny_backend.truncate(text, max_tokens)
    assert text.startswith(out)
    assert tiny_backend.count_tokens(out) <= max_tokens
    if tiny_backend.count_tokens(text) <= max_tokens:
        assert out == text
    else:
        assert out and len(out) < len(text)


def test_render_chat_uses_chat_template(tiny_backend):
    prompt = tiny_backend.render_chat([{"role": "system", "content": "Extract."},
                                       {"role": "user", "content": "Product: Hanes Tee"}])
    assert prompt == ("<|im_start|>system\nExtract.<|im_end|>\n<|im_start|>user\nProduct: Hanes Tee<|im_end|>\n"
                      "<|im_start|>assistant\n")


def test_render_chat_without_template(tiny_model):
    from extractor.backends.transformers import TransformersBackend

    model, tokenizer = tiny_model
    tokenizer = copy.deepcopy(tokenizer)
    tokenizer.chat_template = None
    backend = TransformersBackend(model, tokenizer)
    assert backend.render_chat([{"role": "user", "content": "Product: Hanes Tee"}]) == \
        "user: Product: Hanes Tee\nassistant: "


def test_backend_attributes(tiny_backend, tiny_model):
    tokenizer = tiny_model[1]
    assert tiny_backend.name == "tiny-random"
    assert tiny_backend.context_window == 4096
    assert tiny_backend.supports_constrained
    assert tokenizer.padding_side == "left"
    assert tokenizer.convert_tokens_to_ids("<|im_end|>") in tiny_backend.stop_token_ids()
    assert tiny_backend.describe() == {"name": "tiny-random", "adapter": None, "context_window": 4096}


@pytest.mark.parametrize("text,closed", [
    ("", False),
    ('{"Brand": "Nike"}', True),
    ('{"Brand": "Nike"', False),
    ('{"Brand": "Nike", "Size": {"US": 10}', False),
    ('{"Brand": "Nike", "Size": {"US": 10}}', True),
    ('{"Brand": "Nike }"', False),
    ('{"Brand": "say \\"}\\" twice"', False),
    ('{"Brand": "say \\"}\\" twice"}', True),
    ('Sure! {"Brand": null} and more text', True),
    ('} stray close first {"Brand": "x"', False),
    # Before the object, quotes are prose (inches, nicknames), so a brace inside them still opens it.
    ('Size 10" {"a": 1}', True),
    ('{"Colors": ["Red", "Blue"]', False),
    ('```json\n{"Colors": ["Red", "Blue"]}\n', True),
])
def test_json_object_closed(text, closed):
    assert json_object_closed(text) is closed


def test_scripted_backend_replies_in_order_then_runs_out():
    backend = ScriptedBackend(["one", "two"])
    assert backend.generate(["a", "b"], 5) == ["one", "two"]
    assert backend.calls == [2] and backend.prompts == ["a", "b"]
    with pytest.raises(RuntimeError, match="ran out"):
        backend.generate(["c"], 5)


@pytest.mark.parametrize("text,max_tokens,expected", [
    ("Hanes crew tee navy", 2, "Hanes crew"),
    ("Hanes crew tee navy", 4, "Hanes crew tee navy"),
    ("Hanes  crew", 8, "Hanes  crew"),
])
def test_scripted_backend_word_tokens(text, max_tokens, expected):
    backend = ScriptedBackend()
    assert backend.truncate(text, max_tokens) == expected
    assert backend.count_tokens(expected) <= max_tokens


def test_backend_registry():
    assert isinstance(create("scripted", replies=["x"]), ScriptedBackend)
    with pytest.raises(ConfigError, match="unknown backend 'vllm'"):
        create("vllm")
