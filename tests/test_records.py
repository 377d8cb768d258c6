"""Records read back from output lines are the records that were written."""

from __future__ import annotations

import json

import pytest

from extractor.records import Provenance, Record

LLM = Provenance(model="smollm2-135m", adapter="adapters/x", prompt="extract-v1", schema="shoes@1", decoding="constrained")
TAGGER = Provenance(model="runs/tagger/t", adapter=None, prompt="tagger", schema="shoes@1", decoding="tagger")


@pytest.mark.parametrize("record", [
    Record(id="1", attributes={"Brand": "Nike", "Size": None}, provenance=LLM, spans={"Brand": [0, 4], "Size": None},
           confidence={"Brand": 0.93, "Size": 0.7}, removed_mass={"Brand": 0.01, "Size": None}, attempts=1),
    Record(id="2", attributes={"Brand": None, "Size": None}, provenance=LLM, error="unparsable answer",
           status="invalid", raw='{"Brand": ', warnings=["input truncated"], attempts=3),
    Record(id="3", attributes={"Brand": "Nike", "Size": "10"}, normalized={"Brand": "Nike", "Size": 10.0},
           provenance=Provenance(model="smollm2-135m+runs/tagger/t", adapter="adapters/x", prompt="extract-v1+tagger",
                                 schema="shoes@1", decoding="ensemble", members=[LLM, TAGGER]), attempts=1),
])
def test_a_record_survives_a_json_line(record: Record) -> None:
    line = json.dumps(record.to_dict())
    back = Record.from_dict(json.loads(line))
    assert back == record
    assert json.dumps(back.to_dict()) == line


def test_a_line_without_provenance_is_refused() -> None:
    with pytest.raises(KeyError, match="provenance"):
        Record.from_dict({"id": "1", "attributes": {}})
