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
