"""Prompt rendering: message structure, what the system message must tell the model, answers."""

from __future__ import annotations

import json

import pytest

from extractor.demos import Shot
from extractor.errors import PromptError
from extractor.prompts import available_prompts, format_answer, render_messages, type_hint
from extractor.schemas import check_schema, load_schema

APPAREL = load_schema("apparel")
ELECTRONICS = load_schema("electronics")

SHOTS = [
    Shot("Gildan Heavy Cotton Tee Sport Grey 2XL", {"Brand": "Gildan", "Color": "Sport Grey", "Size": "2XL"}),
    Shot("Ladies Yoga Leggings Black S/M", {"Gender": "Women", "Product Type": "Yoga Leggings"}),
]
INPUT = "Hanes Mens ComfortSoft Crew Neck Tee 6-Pack - Navy Blu, XL"


def test_message_structure():
    messages = render_messages(APPAREL, INPUT, SHOTS)
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert SHOTS[0].text in messages[1]["content"]
    assert json.loads(messages[2]["content"])["Brand"] == "Gildan"
    assert SHOTS[1].text in messages[3]["content"]
    assert INPUT in messages[-1]["content"]
    assert all(isinstance(m["content"], str) and m["content"] for m in messages)


def test_zero_shot_is_system_then_input():
    messages = render_messages(APPAREL, INPUT)
    assert [m["role"] for m in messages] == ["system", "user"]


@pytest.mark.parametrize("schema", [APPAREL, ELECTRONICS], ids=lambda s: s.name)
def test_system_message_lists_every_attribute_with_description_and_examples(schema):
    system = render_messages(schema, INPUT)[0]["content"]
    assert schema.name in system
    for attr in schema.attributes:
        assert f'"{attr.name}"' in system
        if attr.description:
            assert attr.description in system
        for example in attr.examples:
            assert json.dumps(example, ensure_ascii=False) in system


def test_system_message_lists_attributes_in_schema_order():
    system = render_messages(APPAREL, INPUT)[0]["content"]
    positions = [system.index(f'- "{name}"') for name in APPAREL.names]
    assert positions == sorted(positions)


def test_enum_type_hint_lists_allowed_values():
    gender = APPAREL.attribute("Gender")
    hint = type_hint(gender)
    assert hint == 'one of "Men", "Women", "Unisex", "Boys", "Girls", "Baby"'
    assert f'"Gender" ({hint})' in render_messages(APPAREL, INPUT)[0]["content"]


TYPES = check_schema({
    "type": "object", "additionalProperties": False,
    "properties": {
        "Name": {"type": ["string", "null"]},
        "Count": {"type": ["integer", "null"]},
        "Weight": {"type": ["number", "string", "null"]},
        "Ports": {"type": ["array", "null"], "items": {"type": "string"}},
        "Sizes": {"type": ["array", "null"], "items": {"enum": ["S", "M", "L"]}},
    },
}, name="types")


@pytest.mark.parametrize("name,hint", [
    ("Name", "string"),
    ("Count", "integer"),
    ("Weight", "number/string"),
    ("Ports", "list of string"),
    ("Sizes", 'list of "S", "M", "L"'),
])
def test_type_hints(name, hint):
    assert type_hint(TYPES.attribute(name)) == hint


def test_format_answer_has_every_attribute_in_order_with_null():
    answer = format_answer({"Size": "XL", "Brand": "Hanes", "Unknown": "x"}, APPAREL)
    parsed = json.loads(answer)
    assert list(parsed) == APPAREL.names
    assert parsed["Brand"] == "Hanes" and parsed["Size"] == "XL" and parsed["Color"] is None
    assert "Unknown" not in parsed
    assert '"Color": null' in answer


def test_format_answer_keeps_non_ascii():
    assert '"Café Noir"' in format_answer({"Color": "Café Noir"}, APPAREL)


def test_unknown_prompt_id_lists_available_ones():
    with pytest.raises(PromptError) as info:
        render_messages(APPAREL, INPUT, prompt_id="extract.v99")
    assert "extract.v99" in str(info.value)
    assert "extract.v1" in available_prompts()
    for prompt_id in available_prompts():
        assert prompt_id in str(info.value)
