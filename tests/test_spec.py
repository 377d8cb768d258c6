"""The engine spec: the CLI's engine options as one serialisable description, --print-spec and
--engine-spec giving byte-identical records, and the spec's hash in every record's provenance."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from extractor.cli import EXIT_OK, main
from extractor.config import ExtractConfig, ModelConfig
from extractor.errors import ConfigError
from extractor.spec import EngineSpec, LLMSpec, TaggerSpec, load_spec

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "products.jsonl"


def test_a_spec_round_trips_through_plain_data_and_yaml(tmp_path: Path) -> None:
    spec = EngineSpec(llm=LLMSpec(model=ModelConfig(model="some/model", adapter="adapters/a"),
                                  extract=ExtractConfig(k=1, decoding="free", null_bias=0.5), shots="shots/"),
                      taggers=[TaggerSpec(folder="taggers/a", average=["taggers/b"], span_threshold=0.4),
                               TaggerSpec(folder="taggers/c", joined_words=True)], normalize=True)
    assert EngineSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    path = tmp_path / "engine.yaml"
    path.write_text(spec.to_yaml(), encoding="utf-8")
    assert load_spec(path) == spec and load_spec(path).hash == spec.hash
    assert "normalize" not in spec.to_dict()["llm"]["extract"]  # normalization is the spec's, once
    other = EngineSpec.from_dict({**spec.to_dict(), "normalize": False})
    assert other.hash != spec.hash and len(spec.hash) == 12


@pytest.mark.parametrize("data,message", [
    ({}, "needs an llm or at least one tagger"),
    ({"llm": {"model": {"modle": "x"}}}, "unknown ModelConfig key(s): modle"),
    ({"llm": {"extract": {"k": -1}}}, "k (number of shots) must be >= 0"),
    ({"llm": {"extract": {"normalize": True}}}, "unknown ExtractConfig key(s): normalize"),  # the spec's, once
    ({"taggers": [{"folder": "t", "threshold": 0.5}]}, "unknown TaggerSpec key(s): threshold"),
    ({"taggers": "t"}, "'taggers' must be a list"),
    ({"llm": {}, "version": 2}, "version 2"),
    ([], "must be a mapping"),
])
def test_a_bad_spec_is_a_clear_error(data, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        EngineSpec.from_dict(data)


@pytest.fixture()
def tiny_loads(monkeypatch, tiny_model):
    from extractor.backends.transformers import TransformersBackend

    model, tokenizer = tiny_model
    monkeypatch.setattr("extractor.models.load_model",
                        lambda config=None, **kw: TransformersBackend(model, tokenizer, name="tiny-random"))


@pytest.mark.parametrize("options", [
    ["-k", "1", "--max-new-tokens", "16"],
    ["-k", "0", "--max-new-tokens", "16", "--normalize"],
    ["-k", "0", "--decoding", "free", "--max-new-tokens", "16"],
])
def test_print_spec_fed_back_gives_byte_identical_records(tiny_loads, tmp_path: Path, options: list[str]) -> None:
    source = tmp_path / "offers.jsonl"
    source.write_text("".join(EXAMPLES.read_text(encoding="utf-8").splitlines(keepends=True)[:4]), encoding="utf-8")
    run = ["extract", str(source), "--schema-field", "schema", "--no-progress"]
    printed = CliRunner().invoke(main, [*run, *options, "--print-spec"])
    assert printed.exit_code == EXIT_OK, printed.output
    spec_file = tmp_path / "engine.yaml"
    spec_file.write_text(printed.stdout, encoding="utf-8")
    assert not (tmp_path / "a.jsonl").exists()  # --print-spec extracts nothing

    by_options = CliRunner().invoke(main, [*run, *options, "-o", str(tmp_path / "a.jsonl")])
    by_spec = CliRunner().invoke(main, [*run, "--engine-spec", str(spec_file), "-o", str(tmp_path / "b.jsonl")])
    assert by_options.exit_code == by_spec.exit_code, (by_options.output, by_spec.output)
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    records = [json.loads(line) for line in (tmp_path / "a.jsonl").read_text(encoding="utf-8").splitlines()]
    assert {r["provenance"]["spec"] for r in records} == {load_spec(spec_file).hash}
    assert all(("normalized" in r) == ("--normalize" in options) for r in records if r["status"] == "ok")
    assert "--decoding" in options or all(r["status"] == "ok" for r in records)


def test_engine_options_cannot_be_given_beside_a_spec(tmp_path: Path) -> None:
    spec_file = tmp_path / "engine.yaml"
    spec_file.write_text(EngineSpec(llm=LLMSpec()).to_yaml(), encoding="utf-8")
    result = CliRunner().invoke(main, ["extract", str(EXAMPLES), "-s", "apparel", "--engine-spec", str(spec_file),
                                       "-k", "1", "--normalize"])
    assert result.exit_code == 2, result.output
    assert "--engine-spec describes the engine; -k, --normalize cannot be given with it" in result.output


def test_the_options_mean_the_spec_they_print(tmp_path: Path) -> None:
    tagger = tmp_path / "tagger"
    tagger.mkdir()
    second = tmp_path / "tagger2"
    second.mkdir()
    result = CliRunner().invoke(main, ["extract", str(EXAMPLES), "-s", "apparel", "--with-tagger", str(tagger),
                                       "--average-tagger", str(second), "--span-threshold", "0.3", "--print-spec"])
    assert result.exit_code == EXIT_OK, result.output
    spec = EngineSpec.from_dict(yaml.safe_load(result.stdout))
    assert spec.llm == LLMSpec() and not spec.normalize
    assert spec.taggers == [TaggerSpec(folder=str(tagger), average=[str(second)], span_threshold=0.3)]
    result = CliRunner().invoke(main, ["extract", str(EXAMPLES), "-s", "apparel", "--engine", "tagger", "-m",
                                       str(tagger), "--batch-size", "4", "--normalize", "--print-spec"])
    assert result.exit_code == EXIT_OK, result.output
    spec = EngineSpec.from_dict(yaml.safe_load(result.stdout))
    assert spec.llm is None and spec.normalize
    assert spec.taggers == [TaggerSpec(folder=str(tagger), batch_size=4)]


def test_the_tagger_rule_switches_are_part_of_the_spec(tmp_path: Path) -> None:
    tagger = tmp_path / "tagger"
    tagger.mkdir()
    result = CliRunner().invoke(main, ["extract", str(EXAMPLES), "-s", "apparel", "--engine", "tagger", "-m",
                                       str(tagger), "--no-markers", "--no-word-forms", "--joined-words",
                                       "--print-spec"])
    assert result.exit_code == EXIT_OK, result.output
    [spec] = EngineSpec.from_dict(yaml.safe_load(result.stdout)).taggers
    assert (spec.word_forms, spec.markers, spec.endings, spec.joined_words) == (False, False, True, True)
    config = spec.config()
    assert (config.word_forms, config.markers, config.endings, config.joined_words) == (False, False, True, True)
    result = CliRunner().invoke(main, ["extract", str(EXAMPLES), "-s", "apparel", "--no-endings", "--print-spec"])
    assert result.exit_code == 2, result.output
    assert "the tagger rule switches apply to a tagger (--engine tagger or --with-tagger)" in result.output


def test_a_tagger_dtype_is_part_of_the_spec_and_auto_keeps_older_hashes(tmp_path: Path) -> None:
    auto = EngineSpec(taggers=[TaggerSpec(folder="a")])
    assert "dtype" not in auto.to_dict()["taggers"][0]  # a spec written before the field hashes the same
    assert EngineSpec.from_dict(auto.to_dict()) == auto
    wide = EngineSpec(taggers=[TaggerSpec(folder="a", dtype="float32")])
    assert wide.to_dict()["taggers"][0]["dtype"] == "float32" and wide.hash != auto.hash
    assert EngineSpec.from_dict(wide.to_dict()) == wide
    with pytest.raises(ConfigError, match="dtype must be one of"):
        EngineSpec.from_dict({"taggers": [{"folder": "a", "dtype": "int8"}]})
    tagger = tmp_path / "tagger"
    tagger.mkdir()
    result = CliRunner().invoke(main, ["extract", str(EXAMPLES), "-s", "apparel", "--engine", "tagger", "-m",
                                       str(tagger), "--dtype", "float32", "--print-spec"])
    assert result.exit_code == EXIT_OK, result.output
    assert [t.dtype for t in EngineSpec.from_dict(yaml.safe_load(result.stdout)).taggers] == ["float32"]


def test_the_llm_may_stand_anywhere_in_the_merge_order() -> None:
    taggers = [TaggerSpec(folder="a"), TaggerSpec(folder="b")]
    last = EngineSpec(llm=LLMSpec(), taggers=taggers, llm_position=2)
    assert EngineSpec.from_dict(last.to_dict()) == last and last.to_dict()["llm_position"] == 2
    first = EngineSpec(llm=LLMSpec(), taggers=taggers)
    assert "llm_position" not in first.to_dict() and first.hash != last.hash
    for bad in (3, -1):
        with pytest.raises(ConfigError, match="llm_position"):
            EngineSpec(llm=LLMSpec(), taggers=taggers, llm_position=bad)
    with pytest.raises(ConfigError, match="needs an llm"):
        EngineSpec(taggers=taggers, llm_position=1)


def test_build_engine_puts_the_llm_where_the_spec_says(monkeypatch) -> None:
    from extractor.backends.scripted import ScriptedBackend
    from extractor.spec import build_engine

    monkeypatch.setattr("extractor.models.load_model", lambda config=None, **kw: ScriptedBackend(lambda p: "{}",
                                                                                                 name="llm"))

    class FakeTagger:
        def __init__(self, folder: str) -> None:
            from extractor.records import Provenance
            from extractor.schemas import load_schema

            self.schema, self.config = load_schema("apparel"), None
            self.provenance = Provenance(model=folder, adapter=None, prompt="", schema=self.schema.id, decoding="tagger")

    monkeypatch.setattr("extractor.tagger.TaggerExtractor.from_pretrained",
                        lambda folder, schema, config, device, average, dtype: FakeTagger(folder))
    spec = EngineSpec(llm=LLMSpec(extract=ExtractConfig(decoding="free")),
                      taggers=[TaggerSpec(folder="a"), TaggerSpec(folder="b")], llm_position=2)
    engine = build_engine(spec, "apparel")
    assert [m.provenance.model for m in engine.members] == ["a", "b", "llm"]
    assert engine.provenance.spec == spec.hash


def test_print_spec_needs_no_input_and_extract_without_one_is_a_usage_error() -> None:
    printed = CliRunner().invoke(main, ["extract", "--engine", "tagger", "--model", "some/tagger", "--print-spec"])
    assert printed.exit_code == EXIT_OK, printed.output
    assert "folder: some/tagger" in printed.stdout
    missing = CliRunner().invoke(main, ["extract", "--schema", "apparel"])
    assert missing.exit_code == 2 and "Missing argument 'INPUT'" in missing.output
