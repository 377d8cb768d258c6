import pytest

from extractor.decoding.parse import parse_json_object

GOOD = [
    ('{"Brand": "Nike", "Color": null}', {"Brand": "Nike", "Color": None}, []),
    ('  {"Brand": "Nike"}\n', {"Brand": "Nike"}, []),
    ('```json\n{"Brand": "Nike"}\n```', {"Brand": "Nike"}, ["code fence removed"]),
    ('```\n{"Brand": "Nike"}\n```', {"Brand": "Nike"}, ["code fence removed"]),
    ('Here is the JSON: {"Brand": "Nike"}', {"Brand": "Nike"}, ["text before the object ignored"]),
    ('{"Brand": "Nike"} I hope this helps!', {"Brand": "Nike"}, ["text after the object ignored"]),
    ('{"Brand": "Nike", "Color": "Black",}', {"Brand": "Nike", "Color": "Black"}, ["trailing comma removed"]),
    ('{"Brand": "Nike", "Color": None}', {"Brand": "Nike", "Color": None}, ["Python literals converted"]),
    ('{"Size": "10 {US}", "Color": "Black"}', {"Size": "10 {US}", "Color": "Black"}, []),
    ('{"Brand": "Levi\'s", "Fit": "Slim \\"511\\""}', {"Brand": "Levi's", "Fit": 'Slim "511"'}, []),
    ('{"Brand": "None of these", "Pack": 2}', {"Brand": "None of these", "Pack": 2}, []),
    ('{"Colors": ["Red", "Blue"], "Brand": "X"}', {"Colors": ["Red", "Blue"], "Brand": "X"}, []),
    ('{"Brand": "Nike", "Color": "Black", "Size": "10.', {"Brand": "Nike", "Color": "Black"},
     ["cut-off object closed after its last complete attribute"]),
    ('{"Brand": "Nike", "Sleeve": "Medium", "Sleeve": "Medium", "Slee', {"Brand": "Nike", "Sleeve": "Medium"},
     ["cut-off object closed after its last complete attribute"]),
]


@pytest.mark.parametrize("output,expected,repairs", GOOD)
def test_parses_real_looking_outputs(output, expected, repairs):
    parsed = parse_json_object(output)
    assert parsed.error is None
    assert parsed.value == expected
    assert parsed.repairs == repairs


BAD = [
    ("", "no JSON object"),
    ("I cannot find any attributes.", "no JSON object"),
    ('{"Brand": "Nik', "cut off"),
    ('{"Brand": Nike}', "not valid JSON"),
    ("[1, 2, 3]", "no JSON object"),
]


@pytest.mark.parametrize("output,reason", BAD)
def test_reports_why_broken_outputs_fail(output, reason):
    parsed = parse_json_object(output)
    assert parsed.value is None
    assert reason in parsed.error


# --- properties: any object comes back, any text is answered, a cut object keeps a prefix ------

import json  # noqa: E402

from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

SCALARS = st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.text(max_size=12) \
    | st.floats(allow_nan=False, allow_infinity=False, width=32)
OBJECTS = st.dictionaries(st.text(max_size=8), SCALARS | st.lists(SCALARS, max_size=3), max_size=6)
CHATTER = st.text(alphabet=st.characters(blacklist_characters="{}`"), max_size=20)


@given(OBJECTS, CHATTER, CHATTER)
def test_an_object_in_any_chatter_comes_back_whole(value, before, after) -> None:
    parsed = parse_json_object(before + json.dumps(value, ensure_ascii=False) + after)
    assert parsed.error is None and parsed.value == value


@given(OBJECTS)
def test_an_object_in_a_code_fence_comes_back_whole(value) -> None:
    parsed = parse_json_object("Here:\n```json\n" + json.dumps(value, indent=2) + "\n```\nDone.")
    assert parsed.value == value and "code fence removed" in parsed.repairs


@given(st.text(max_size=60))
def test_any_text_gets_an_answer_not_an_exception(text) -> None:
    parsed = parse_json_object(text)
    assert (parsed.value is None) != (parsed.error is None)
    assert parsed.value is None or isinstance(parsed.value, dict)


@given(OBJECTS.filter(bool), st.data())
def test_a_cut_off_object_keeps_only_whole_attributes_it_had(value, data) -> None:
    written = json.dumps(value)
    cut = data.draw(st.integers(1, len(written) - 1), label="cut after")
    parsed = parse_json_object(written[:cut])
    if parsed.value is not None:
        kept = list(parsed.value.items())
        assert kept == list(value.items())[:len(kept)]  # a prefix of the attributes, each value whole
