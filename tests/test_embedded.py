"""The real embedded model (SmolLM2-135M) end to end, through the library and through the CLI.

Constrained decoding promises `ok`, schema-valid records whose string values are the input's own
characters at their spans; these tests hold the real model to that, and to a few values a person
would call obviously right. The model is converted into a temporary cache, never the user's."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from extractor.cli import EXIT_OK, main
from extractor.schemas import load_schema

pytestmark = pytest.mark.embedded

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "products.jsonl"
# offers of examples/products.jsonl and the brand each plainly names (three schemas)
BRANDS = {"ap-01": "Hanes", "ap-02": "NIKE", "el-03": "Anker", "el-09": "JBL", "ho-01": "Lodge"}


@pytest.fixture(scope="module", autouse=True)
def temporary_cache(tmp_path_factory):
    """Converted models go to a temporary folder for this module, not ~/.cache/extractor."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EXTRACTOR_CACHE", str(tmp_path_factory.mktemp("extractor-cache")))
        yield


def _text(row: dict) -> str:
    return "\n".join(row[f] for f in ("title", "description") if row.get(f))


def _check_constrained_record(record: dict, text: str) -> None:
    """What constrained decoding promises for every record."""
    schema = load_schema(record["provenance"]["schema"].split("@")[0])
    assert record["status"] == "ok" and record["error"] is None, record
    assert list(record["attributes"]) == schema.names
    jsonschema.validate(record["attributes"], schema.document)
    for name, value in record["attributes"].items():
        span = record["spans"][name]
        if isinstance(value, str) and schema.attribute(name).grounded and schema.attribute(name).enum is None:
            assert span is not None and text[span[0]:span[1]] == value, (name, value, span)
        if value is None:
            assert span is None
    assert set(record["confidence"]) == set(schema.names)
    assert record["provenance"]["model"] == "smollm2-135m" and record["provenance"]["decoding"] == "constrained"
    assert record["provenance"]["schema"] == schema.id and record["provenance"]["prompt"] == "extract.v1"


def test_cli_extracts_examples_with_constrained_decoding(tmp_path: Path) -> None:
    rows = [json.loads(line) for line in EXAMPLES.read_text(encoding="utf-8").splitlines()]
    chosen = [row for row in rows if row["id"] in BRANDS]
    source = tmp_path / "offers.jsonl"
    source.write_text("".join(json.dumps(row) + "\n" for row in chosen), encoding="utf-8")
    out = tmp_path / "records.jsonl"
    result = CliRunner().invoke(main, ["extract", str(source), "--schema-field", "schema", "-o", str(out),
                                       "--no-progress"])
    assert result.exit_code == EXIT_OK, result.output
    assert f"{len(chosen)} records: {len(chosen)} ok" in result.stderr
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in records] == [row["id"] for row in chosen]
    for record, row in zip(records, chosen):
        _check_constrained_record(record, _text(row))
        assert record["provenance"]["schema"].startswith(row["schema"] + "@")
    assert {r["id"]: r["attributes"]["Brand"] for r in records} == BRANDS


def test_library_extracts_with_free_decoding():
    from extractor.pipeline import Extractor

    # Free decoding lets the model write the JSON: the records must still be whole and traceable.
    ex = Extractor.from_pretrained("smollm2-135m", schema="apparel", k=2, decoding="free", max_new_tokens=100,
                                   max_retries=0)
    records = ex.extract(["Hanes Mens Crew Neck Tee 6-Pack Navy XL", "Levis 511 Slim Fit Jeans 32W x 30L"])
    assert [r.id for r in records] == ["1", "2"]
    for record in records:
        assert list(record.attributes) == ex.schema.names
        assert record.provenance.model == "smollm2-135m" and record.provenance.schema == ex.schema.id
        assert record.status in ("ok", "invalid"), record.error  # free decoding promises no more
        assert record.attempts == 1
