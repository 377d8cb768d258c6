"""Merging several engines' records (extractor/ensemble.py): the merge rule on tables of records,
then the Ensemble over scripted Extractors end to end (routing, errors, normalization), then
records files that separate runs wrote (merge_files, `extractor merge`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from extractor.backends.scripted import ScriptedBackend
from extractor.config import ExtractConfig
from extractor.cli import main
from extractor.ensemble import Ensemble, ensemble_provenance, merge_files, merge_records, merge_runs
from extractor.errors import ConfigError, ExtractorError, InputError, SchemaError
from extractor.io import read_records
from extractor.pipeline import Extractor, extract_stream
from extractor.records import Document, Provenance, Record
from extractor.schemas import load_schema

APPAREL = load_schema("apparel")
NAMES = ["Brand", "Color", "Size"]


def _record(model: str, values: dict[str, Any], confidence: dict[str, float | None] | None = None,
            status: str = "ok", error: str | None = None, warnings: list[str] | None = None) -> Record:
    attributes = {name: values.get(name) for name in NAMES}
    spans = {name: ([0, len(str(v))] if v is not None and not isinstance(v, list) else None)
             for name, v in attributes.items()}
    return Record(id="7", attributes=attributes, status=status, error=error, warnings=warnings or [],
                  provenance=Provenance(model=model, adapter=None, prompt="p", schema="s@1", decoding=model),
                  spans=spans, confidence=confidence, attempts=1)


def _merge(*records: Record) -> Record:
    return merge_records(records, ensemble_provenance([r.provenance for r in records]))


# (engine A values, A confidence, engine B values, B confidence, merged values)
CASES = [
    pytest.param({}, {}, {}, {}, {}, id="both-null"),
    pytest.param({"Brand": "Hanes"}, {"Brand": 0.9}, {}, {}, {"Brand": "Hanes"}, id="only-first"),
    pytest.param({}, {}, {"Color": "navy blue"}, {"Color": 0.2}, {"Color": "navy blue"},
                 id="only-second-even-unsure"),
    pytest.param({"Size": "XL"}, {"Size": 0.4}, {"Size": "XL"}, {"Size": 0.5}, {"Size": "XL"}, id="agree"),
    pytest.param({"Color": "navy"}, {"Color": 0.6}, {"Color": "navy blue"}, {"Color": 0.8}, {"Color": "navy blue"},
                 id="conflict-surer-wins"),
    pytest.param({"Color": "navy"}, {"Color": 0.7}, {"Color": "navy blue"}, {"Color": 0.7}, {"Color": "navy"},
                 id="tie-first-listed-wins"),
    pytest.param({"Brand": "Hanes"}, None, {"Brand": "HANES"}, {"Brand": 0.1}, {"Brand": "HANES"},
                 id="no-confidence-counts-zero"),
    pytest.param({"Size": ["S", "M"]}, {"Size": 0.5}, {"Size": ["M", "S"]}, {"Size": 0.6}, {"Size": ["M", "S"]},
                 id="arrays-compared-whole"),
]


@pytest.mark.parametrize("a, conf_a, b, conf_b, merged", CASES)
def test_merge_rule(a, conf_a, b, conf_b, merged) -> None:
    record = _merge(_record("llm", a, conf_a), _record("tagger", b, conf_b))
    assert record.ok and record.id == "7"
    assert record.attributes == {name: merged.get(name) for name in NAMES}


def test_engines_that_agree_pool_their_confidence() -> None:
    # 0.5 + 0.4 from two engines beat one engine's 0.8
    record = _merge(_record("a", {"Color": "grey"}, {"Color": 0.5}), _record("b", {"Color": "gray"}, {"Color": 0.8}),
                    _record("c", {"Color": "grey"}, {"Color": 0.4}))
    assert record.attributes["Color"] == "grey"
    assert record.confidence["Color"] == 0.5  # the surest engine that wrote the winner


def test_the_winner_brings_its_span_and_confidence() -> None:
    a = _record("llm", {"Brand": "Hanes", "Color": "navy"}, {"Brand": 0.9, "Color": 0.3, "Size": 0.95})
    b = _record("tagger", {"Color": "navy blue"}, {"Color": 0.6})
    b.spans["Color"] = [10, 19]
    record = _merge(a, b)
    assert record.spans == {"Brand": [0, 5], "Color": [10, 19], "Size": None}
    assert record.confidence == {"Brand": 0.9, "Color": 0.6, "Size": 0.95}  # Size: the null's own confidence


def test_provenance_names_every_engine() -> None:
    record = _merge(_record("llm", {}), _record("tagger", {}))
    assert record.provenance.to_dict() == {
        "model": "llm+tagger", "adapter": None, "prompt": "p+p", "schema": "s@1", "decoding": "ensemble",
        "members": [{"model": m, "adapter": None, "prompt": "p", "schema": "s@1", "decoding": m}
                    for m in ("llm", "tagger")]}


def test_a_failed_engine_is_left_out_and_said() -> None:
    failed = _record("llm", {}, status="invalid", error="invalid output after 2 attempt(s)")
    record = _merge(failed, _record("tagger", {"Brand": "Levis"}, {"Brand": 0.7}, warnings=["text truncated"]))
    assert record.ok and record.attributes["Brand"] == "Levis"
    assert record.warnings == ["tagger: text truncated", "llm: invalid: invalid output after 2 attempt(s)"]


def test_when_every_engine_failed_the_record_is_an_error() -> None:
    record = _merge(_record("llm", {}, status="failed", error="empty text"),
                    _record("tagger", {}, status="failed", error="empty text"))
    assert record.status == "failed" and not record.ok
    assert record.error == "llm: empty text; tagger: empty text"
    assert record.attributes == dict.fromkeys(NAMES)


def test_merge_needs_records() -> None:
    with pytest.raises(ConfigError):
        merge_records([], ensemble_provenance([_record("x", {}).provenance]))


# --- the Ensemble over two scripted LLM engines ---------------------------------------------------

def _engine(name: str, answers: dict[str, dict[str, Any]], **config: Any) -> Extractor:
    def reply(prompt: str) -> str:
        return json.dumps(answers.get(prompt.rsplit("Product: ", 1)[1].split("\n", 1)[0], {}))

    return Extractor(ScriptedBackend(reply, name=name), APPAREL, ExtractConfig(decoding="free", k=0, **config))


TEXTS = ["Hanes Mens Crew Tee Navy Blu XL", "Levis 511 Slim Fit Jeans 32W"]
FIRST = {TEXTS[0]: {"Brand": "Hanes", "Color": "Navy Blu"}, TEXTS[1]: {"Brand": "Levis"}}
SECOND = {TEXTS[0]: {"Brand": "Hanes", "Size": "XL"}, TEXTS[1]: {"Fit": "Slim Fit", "Size": "32W"}}


def test_ensemble_fills_one_engines_gaps_with_the_others_values() -> None:
    ensemble = Ensemble([_engine("a", FIRST), _engine("b", SECOND)])
    first, second = ensemble.extract(TEXTS)
    assert (first.attributes["Brand"], first.attributes["Color"], first.attributes["Size"]) == ("Hanes", "Navy Blu",
                                                                                                "XL")
    assert (second.attributes["Brand"], second.attributes["Fit"], second.attributes["Size"]) == ("Levis", "Slim Fit",
                                                                                                 "32W")
    assert list(first.attributes) == APPAREL.names
    assert first.provenance.model == "a+b" and first.provenance.schema == APPAREL.id


def test_normalization_runs_once_on_the_merged_values() -> None:
    from extractor.spec import EngineSpec, LLMSpec, SpecEngine

    ensemble = Ensemble([_engine("a", FIRST), _engine("b", SECOND)])
    assert ensemble.extract(TEXTS[:1])[0].normalized is None  # neither members nor the merge normalize
    [record] = SpecEngine(ensemble, EngineSpec(llm=LLMSpec(), normalize=True)).extract(TEXTS[:1])
    assert record.attributes["Color"] == "Navy Blu" and record.normalized["Color"]["value"] == "Blue"


def test_ensemble_keeps_one_line_per_input_and_routes_schemas() -> None:
    ensemble = Ensemble([_engine("a", FIRST), _engine("b", SECOND)])
    docs = [Document(id="1", text=TEXTS[0]), Document(id="2", text="", error="line 2 is not JSON"),
            Document(id="3", text="Sony WH-1000XM5 headphones", schema="electronics"),
            Document(id="4", text="x", schema="no-such-schema")]
    records: list[Record] = []
    summary = extract_stream(ensemble, docs, on_record=records.append)
    assert [r.id for r in records] == ["1", "2", "3", "4"]
    assert [r.status for r in records] == ["ok", "failed", "ok", "failed"]
    assert records[1].error == "a: line 2 is not JSON; b: line 2 is not JSON"
    assert records[2].provenance.schema == load_schema("electronics").id
    assert "no-such-schema" in records[3].error and records[3].provenance.decoding == "ensemble"
    assert summary.ok == 2 and summary.failed == 2


def test_ensemble_members_must_agree_on_the_schema() -> None:
    other = Extractor(ScriptedBackend(lambda p: "{}"), "electronics", ExtractConfig(decoding="free", k=0))
    with pytest.raises(SchemaError, match="different schemas"):
        Ensemble([_engine("a", FIRST), other])
    with pytest.raises(ConfigError, match="at least two"):
        Ensemble([_engine("a", FIRST)])


# --- records files several runs wrote (merge_files, merge_runs, `extractor merge`) -----------

def _line(model: str, ident: str, values: dict[str, Any], confidence: dict[str, float | None],
          schema: str = "s@1") -> str:
    record = Record(id=ident, attributes={name: values.get(name) for name in NAMES}, confidence=confidence,
                    provenance=Provenance(model=model, adapter=None, prompt="p", schema=schema, decoding=model))
    return json.dumps(record.to_dict()) + "\n"


def _runs(tmp_path: Path) -> tuple[Path, Path]:
    # a finds brands; b finds colours and, less surely, a wrong brand
    a = tmp_path / "a.jsonl"
    a.write_text(_line("a", "1", {"Brand": "Nike"}, {"Brand": 0.9})
                 + _line("a", "2", {"Brand": "Adidas"}, {"Brand": 0.9}), encoding="utf-8")
    b = tmp_path / "b.jsonl"
    b.write_text(_line("b", "1", {"Brand": "Mens", "Color": "Black"}, {"Brand": 0.4, "Color": 0.8})
                 + _line("b", "2", {"Color": "Red"}, {"Color": 0.8}), encoding="utf-8")
    return a, b


def _read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_merge_files_merges_line_by_line(tmp_path: Path) -> None:
    a, b = _runs(tmp_path)
    stats = merge_files([a, b], tmp_path / "merged.jsonl")
    assert (stats.records, stats.errors, stats.bad_lines) == (2, 0, 0)
    merged = _read(tmp_path / "merged.jsonl")
    assert [m["id"] for m in merged] == ["1", "2"]
    assert [m["attributes"] for m in merged] == [{"Brand": "Nike", "Color": "Black", "Size": None},
                                                 {"Brand": "Adidas", "Color": "Red", "Size": None}]
    assert merged[0]["provenance"]["model"] == "a+b" and merged[0]["provenance"]["decoding"] == "ensemble"
    assert not (tmp_path / "merged.jsonl.partial").exists()


def test_merge_files_matches_the_in_memory_merge(tmp_path: Path) -> None:
    a, b = _runs(tmp_path)
    merge_files([a, b], tmp_path / "merged.jsonl")
    in_memory = merge_runs(["a", "b"], [read_records(a), read_records(b)])
    assert _read(tmp_path / "merged.jsonl") == [r.to_dict() for r in in_memory]


def test_a_line_that_is_not_a_record_sits_out_and_is_said(tmp_path: Path) -> None:
    a, b = _runs(tmp_path)
    lines = b.read_text(encoding="utf-8").splitlines(keepends=True)
    b.write_text(lines[0] + '{"id": "2", "attri\n', encoding="utf-8")
    stats = merge_files([a, b], tmp_path / "merged.jsonl")
    assert (stats.records, stats.errors, stats.bad_lines) == (2, 0, 1)
    second = _read(tmp_path / "merged.jsonl")[1]
    assert second["attributes"]["Brand"] == "Adidas" and second["provenance"]["model"] == "a"
    assert any("line 2 is not a record" in w for w in second["warnings"])


def test_a_line_no_file_can_read_is_an_error_line(tmp_path: Path) -> None:
    a = tmp_path / "a.jsonl"
    a.write_text(_line("a", "1", {"Brand": "Nike"}, {"Brand": 0.9}) + "oops\n", encoding="utf-8")
    b = tmp_path / "b.jsonl"
    b.write_text(_line("b", "1", {}, {}) + "[]\n", encoding="utf-8")
    stats = merge_files([a, b], tmp_path / "merged.jsonl")
    assert (stats.records, stats.errors, stats.bad_lines) == (2, 1, 2)
    second = _read(tmp_path / "merged.jsonl")[1]
    assert second["status"] == "failed" and "line 2" in second["error"]


@pytest.mark.parametrize("b_lines, message", [
    pytest.param([("2", "s@1"), ("1", "s@1")], "has record '2' where", id="other-order"),
    pytest.param([("1", "s@1")], "ended after 1 records", id="shorter"),
    pytest.param([("1", "t@1"), ("2", "t@1")], "used schema 't@1'", id="other-schema"),
])
def test_runs_of_other_inputs_are_refused_and_leave_no_output(tmp_path: Path, b_lines: list[tuple[str, str]],
                                                              message: str) -> None:
    a, _ = _runs(tmp_path)
    b = tmp_path / "b.jsonl"
    b.write_text("".join(_line("b", i, {}, {}, schema=s) for i, s in b_lines), encoding="utf-8")
    with pytest.raises(ExtractorError, match=message):
        merge_files([a, b], tmp_path / "merged.jsonl")
    assert not (tmp_path / "merged.jsonl").exists() and not (tmp_path / "merged.jsonl.partial").exists()


def test_merge_files_needs_two_files(tmp_path: Path) -> None:
    a, _ = _runs(tmp_path)
    with pytest.raises(ConfigError, match="two or more"):
        merge_files([a], tmp_path / "merged.jsonl")


def test_merge_runs_refuses_runs_of_other_lengths() -> None:
    one = [Record.from_dict(json.loads(_line("a", "1", {}, {})))]
    with pytest.raises(InputError, match="different numbers of records: a 1, b 0"):
        merge_runs(["a", "b"], [one, []])


def test_an_interrupted_merge_leaves_nothing_behind(tmp_path: Path) -> None:
    a, b = _runs(tmp_path)
    out = tmp_path / "merged.jsonl"
    lines: list[int] = []

    def interrupt_at_the_second_line() -> None:
        lines.append(1)
        if len(lines) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        merge_files([a, b], out, interrupt_at_the_second_line)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jsonl", "b.jsonl"]
    ticks: list[int] = []
    merge_files([a, b], out, lambda: ticks.append(1))
    assert len(ticks) == 2 == len(_read(out))


def test_merge_command(tmp_path: Path) -> None:
    a, b = _runs(tmp_path)
    out = tmp_path / "merged.jsonl"
    result = CliRunner().invoke(main, ["merge", str(a), str(b), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "2 merged records" in result.output and "2/2 [" in result.output  # with a progress bar
    assert [m["attributes"]["Color"] for m in _read(out)] == ["Black", "Red"]
    quiet = CliRunner().invoke(main, ["merge", str(a), str(b), "-o", str(out), "--no-progress"])
    assert quiet.exit_code == 0, quiet.output
    assert "2 merged records" in quiet.output and "2/2 [" not in quiet.output
    (tmp_path / "c.jsonl").write_text(_line("c", "9", {}, {}), encoding="utf-8")
    result = CliRunner().invoke(main, ["merge", str(a), str(tmp_path / "c.jsonl"), "-o", str(out)])
    assert result.exit_code == 1, result.output
    assert "has record '9' where" in result.output


def test_versions_of_one_schema_merge_by_attribute_name_and_are_noted(tmp_path: Path) -> None:
    a, _ = _runs(tmp_path)
    b = tmp_path / "b.jsonl"
    b.write_text(_line("b", "1", {"Color": "Black"}, {"Color": 0.8}, schema="s@2")
                 + _line("b", "2", {}, {}, schema="s@2"), encoding="utf-8")
    stats = merge_files([a, b], tmp_path / "merged.jsonl")
    assert stats.schema_versions == {"s": {"s@1", "s@2"}}
    assert _read(tmp_path / "merged.jsonl")[0]["attributes"]["Color"] == "Black"
    result = CliRunner().invoke(main, ["merge", str(a), str(b), "-o", str(tmp_path / "again.jsonl")])
    assert result.exit_code == 0, result.output
    assert "2 versions of schema s (s@1, s@2)" in result.output


def test_a_version_with_other_attributes_is_refused(tmp_path: Path) -> None:
    a, _ = _runs(tmp_path)
    other = Record(id="1", attributes={"Brand": None, "Fit": "Slim"}, confidence={"Fit": 0.9},
                   provenance=Provenance(model="b", adapter=None, prompt="p", schema="s@3", decoding="b"))
    b = tmp_path / "b.jsonl"
    b.write_text(json.dumps(other.to_dict()) + "\n" + _line("b", "2", {}, {}), encoding="utf-8")
    with pytest.raises(SchemaError, match=r"used schema 's@3' \(Brand, Fit\)"):
        merge_files([a, b], tmp_path / "merged.jsonl")


@pytest.mark.parametrize("value", [{"rgb": [0, 0, 128]}, float("nan"), float("inf"), [["nested"]]])
def test_a_member_value_no_engine_writes_sits_out_and_the_output_stays_json(tmp_path: Path, value: Any) -> None:
    a, b = _runs(tmp_path)
    lines = b.read_text(encoding="utf-8").splitlines(keepends=True)
    bad = json.loads(lines[0])
    bad["attributes"]["Color"] = value
    b.write_text(json.dumps(bad) + "\n" + lines[1], encoding="utf-8")  # json.dumps writes NaN as Python does
    out = tmp_path / "merged.jsonl"
    result = CliRunner().invoke(main, ["merge", str(a), str(b), "-o", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "1 member lines were not records" in result.output
    first = json.loads(out.read_text(encoding="utf-8").splitlines()[0], parse_constant=pytest.fail)
    assert first["attributes"]["Color"] is None and first["provenance"]["model"] == "a"


def test_merge_with_an_error_line_exits_3(tmp_path: Path) -> None:
    a = tmp_path / "a.jsonl"
    a.write_text(_line("a", "1", {"Brand": "Nike"}, {"Brand": 0.9}) + "oops\n", encoding="utf-8")
    b = tmp_path / "b.jsonl"
    b.write_text(_line("b", "1", {}, {}) + "[]\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["merge", str(a), str(b), "-o", str(tmp_path / "m.jsonl"), "--no-progress"])
    assert result.exit_code == 3, result.output
    assert "(1 error lines)" in result.output


def test_merge_may_write_over_one_of_its_inputs(tmp_path: Path) -> None:
    # read lazily, written whole: the output replaces the input only once every line is merged
    a, b = _runs(tmp_path)
    expected = merge_runs(["a", "b"], [read_records(a), read_records(b)])
    result = CliRunner().invoke(main, ["merge", str(a), str(b), "-o", str(a), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert _read(a) == [r.to_dict() for r in expected]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jsonl", "b.jsonl"]
