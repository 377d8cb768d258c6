"""The real embedded model end to end on two short offers (loads SmolLM2-135M: seconds, not minutes)."""

from __future__ import annotations

import pytest

from extractor.schemas import load_schema

pytestmark = pytest.mark.embedded

OFFERS = [
    "Hanes Mens Crew Neck Tee 6-Pack Navy XL",
    "Levis 511 Slim Fit Jeans 32W x 30L Dark Indigo",
]


def test_embedded_model_extracts_records():
    from extractor.pipeline import Extractor

    # A whole apparel answer is ~75 tokens; the schema-derived budget (240) and a re-ask let a
    # looping reply cost minutes on a laptop CPU, which this check of the wiring does not need.
    ex = Extractor.from_pretrained("smollm2-135m", schema="apparel", k=2, max_new_tokens=100, max_retries=0)
    records = ex.extract(OFFERS)
    names = load_schema("apparel").names
    assert [r.id for r in records] == ["1", "2"]
    for record in records:
        assert list(record.attributes) == names
        assert record.provenance.model == "smollm2-135m"
        assert record.provenance.schema == ex.schema.id
        assert record.status in ("ok", "invalid"), record.error
        assert record.attempts == 1
