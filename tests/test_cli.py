"""The command line through click's CliRunner, with the model loader replaced by a script."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from extractor.backends.scripted import ScriptedBackend
from extractor.cli import EXIT_SOME_LINES, main
from extractor.schemas import load_schema, shipped_schemas

APPAREL = load_schema("apparel")
# ScriptedBackend has no token-level access, so runs that should succeed pin free decoding.
EXTRACT = ["extract", "--decoding", "free"]

INPUT_LINES = [
    '{"id": "ap-01", "title": "Hanes Mens Crew Tee 6-Pack", "description": "Navy Blu, XL"}',
    '{"id": "ap-02", "text": "NIKE Womens Revolution 7 Running Shoes Sz 8.5"}',
    '{"id": "ap-03", "text": "Levis 511 Slim Fit Jeans',  # cut off: not JSON
    "",
    '{"id": "ap-05", "name": "no text field here"}',
    '{"text": "Carhartt Knit Cuffed Beanie Brown"}',
]


def _reply(prompt: str) -> str:
    text = prompt.rsplit("Product: ", 1)[1]
    brand = text.split()[0].strip('"').title()
    return json.dumps({"Brand": brand, "Pack Count": "6" if "6-Pack" in text else None})


@pytest.fixture()
def loads(monkeypatch):
    """Replace model loading with a ScriptedBackend; the list records each ModelConfig asked for."""
    configs = []

    def fake_load_model(config=None, **overrides):
        configs.append(config)
        return ScriptedBackend(_reply, name=config.model)

    monkeypatch.setattr("extractor.models.load_model", fake_load_model)
    return configs


@pytest.fixture()
def offers(tmp_path) -> Path:
    path = tmp_path / "offers.jsonl"
    path.write_text("\n".join(INPUT_LINES) + "\n", encoding="utf-8")
    return path


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_help():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0, result.output
    commands = result.output.split("Commands:\n")[1]
    listed = {line.split()[0] for line in commands.splitlines() if line.strip()}
    assert {"extract", "schemas", "finetune", "normalize", "evaluate"} <= listed, commands
    result = CliRunner().invoke(main, ["extract", "--help"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Usage: main extract [OPTIONS] INPUT") and "-s, --schema" in result.output


def test_importing_cli_does_not_import_torch():
    code = ("import extractor.cli, sys; "
            "heavy = [m for m in ('torch', 'transformers', 'peft', 'matplotlib') if m in sys.modules]; "
            "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# --- schemas -------------------------------------------------------------------------------

def test_schemas_list():
    result = CliRunner().invoke(main, ["schemas", "list"])
    assert result.exit_code == 0, result.output
    for name in shipped_schemas():
        assert name in result.output
    assert APPAREL.id in result.output


def test_schemas_show():
    result = CliRunner().invoke(main, ["schemas", "show", "apparel"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == APPAREL.document  # standard output is the schema, nothing else
    assert result.stderr == f"# id: {APPAREL.id}\n"


@pytest.mark.parametrize("name", sorted(shipped_schemas()))
def test_schemas_show_output_is_a_schema_with_the_same_id(tmp_path, name):
    # `extractor schemas show NAME > my.schema.json` gives a file `schemas check` accepts, same id.
    shown = CliRunner().invoke(main, ["schemas", "show", name])
    assert shown.exit_code == 0, shown.output
    path = tmp_path / "my.schema.json"
    path.write_text(shown.stdout, encoding="utf-8")
    checked = CliRunner().invoke(main, ["schemas", "check", str(path)])
    assert checked.exit_code == 0, checked.output
    assert checked.stdout.startswith(f"ok: {load_schema(name).id} ")
    assert load_schema(path).id == load_schema(name).id


def test_schemas_show_says_when_a_copy_would_change_the_id(tmp_path):
    path = tmp_path / "untitled.schema.json"
    path.write_text(json.dumps({k: v for k, v in APPAREL.document.items() if k != "title"}), encoding="utf-8")
    result = CliRunner().invoke(main, ["schemas", "show", str(path)])
    assert result.exit_code == 0, result.output
    assert "title" not in json.loads(result.stdout)
    assert 'no "title"' in result.stderr and "untitled@" in result.stderr


def test_schemas_check_good_file():
    result = CliRunner().invoke(main, ["schemas", "check", str(APPAREL.path)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"ok: {APPAREL.id} (10 attributes)"


@pytest.mark.parametrize("content,needle", [
    ('{"type": "object", "additionalProperties": false, "properties": {"Color": {"type": "string"}}}',
     "every attribute must allow null"),
    ('{"type": "object", "properties": {"Color": {"type": ["string", "null"]}}}', "additionalProperties"),
    ('{"type": "object", "additionalProperties": false, "properties": {"Color": {"type": ["string", "null"], '
     '"pattern": "^[A-Z]"}}}', "'pattern' is not supported"),
    ('{"type": "object", ', "not valid JSON"),
    ('{"a":' * 30000 + "1" + "}" * 30000, "nested too deeply"),
    ("[" * 30000 + "]" * 30000, "nested too deeply"),
    (json.dumps({**APPAREL.document, "title": "../../x"}), "not a plain name"),
])
def test_schemas_check_bad_file(tmp_path, content, needle):
    path = tmp_path / "bad.schema.json"
    path.write_text(content, encoding="utf-8")
    result = CliRunner().invoke(main, ["schemas", "check", str(path)])
    assert result.exit_code == 1, result.output
    assert needle in result.output
    assert result.output.startswith("Error:")
    assert "Traceback" not in result.output


@pytest.mark.parametrize("command", ["show", "check"])
@pytest.mark.parametrize("data,needle", [(b'{"title": "caf\xe9"}', "not UTF-8 text"),
                                         (b"[" * 50000, "nested too deeply")])
def test_schemas_show_and_check_refuse_odd_bytes_with_an_error(tmp_path, command, data, needle):
    path = tmp_path / "odd.schema.json"
    path.write_bytes(data)
    result = CliRunner().invoke(main, ["schemas", command, str(path)])
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    assert result.output.startswith("Error:") and needle in result.output
    assert not isinstance(result.exception, RecursionError) and "Traceback" not in result.output


def test_schemas_show_unknown_name():
    result = CliRunner().invoke(main, ["schemas", "show", "furniture"])
    assert result.exit_code == 1, result.output
    assert "no shipped schema named 'furniture'" in result.output


# --- extract -------------------------------------------------------------------------------

def test_extract_writes_one_line_per_input_line(loads, offers, tmp_path):
    out = tmp_path / "records.jsonl"
    result = CliRunner().invoke(main, [*EXTRACT, str(offers), "--schema", "apparel", "-o", str(out),
                                       "-k", "1", "--no-progress"])
    assert result.exit_code == EXIT_SOME_LINES, result.output  # three lines failed
    records = _records(out)
    assert len(records) == len(INPUT_LINES)
    assert [r["id"] for r in records] == ["ap-01", "ap-02", "3", "4", "ap-05", "6"]
    assert [r["status"] for r in records] == ["ok", "ok", "failed", "failed", "failed", "ok"]
    assert records[0]["attributes"]["Brand"] == "Hanes" and records[0]["attributes"]["Pack Count"] == 6
    assert "not valid JSON" in records[2]["error"] and "empty line" in records[3]["error"]
    assert all(list(r["attributes"]) == APPAREL.names for r in records)
    assert records[0]["provenance"]["model"] == "smollm2-135m"
    assert records[0]["provenance"]["schema"] == APPAREL.id
    assert result.stdout == ""
    assert "6 records: 3 ok, 0 invalid, 3 failed" in result.stderr
    [config] = loads
    assert config.model == "smollm2-135m" and config.quantize is None


def test_extract_to_stdout(loads, offers):
    result = CliRunner().invoke(main, [*EXTRACT, str(offers), "-s", "apparel", "--no-progress"])
    assert result.exit_code == EXIT_SOME_LINES, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == len(INPUT_LINES)
    assert json.loads(lines[1])["attributes"]["Brand"] == "Nike"
    assert "records:" in result.stderr and "records:" not in result.stdout


def test_extract_with_progress_bar(loads, offers, tmp_path):
    out = tmp_path / "records.jsonl"
    result = CliRunner().invoke(main, [*EXTRACT, str(offers), "-s", "apparel", "-o", str(out)])
    assert result.exit_code == EXIT_SOME_LINES, result.output
    assert len(_records(out)) == len(INPUT_LINES)
    # the bar counts every input line, on stderr only
    assert f"{len(INPUT_LINES)}/{len(INPUT_LINES)}" in result.stderr and "product/s" in result.stderr
    assert "product/s" not in result.stdout


def test_extract_resume_skips_written_ids_and_appends(loads, offers, tmp_path):
    out = tmp_path / "records.jsonl"
    first = CliRunner().invoke(main, [*EXTRACT, str(offers), "-s", "apparel", "-o", str(out), "--no-progress"])
    assert first.exit_code == EXIT_SOME_LINES, first.output
    complete = _records(out)
    # Simulate an interrupted run: two whole records and half of the third.
    lines = out.read_text(encoding="utf-8").splitlines(keepends=True)
    out.write_text(lines[0] + lines[1] + lines[2][:25], encoding="utf-8")
    result = CliRunner().invoke(main, [*EXTRACT, str(offers), "-s", "apparel", "-o", str(out), "--resume",
                                       "--no-progress"])
    assert result.exit_code == EXIT_SOME_LINES, result.output
    assert _records(out) == complete
    assert "2 skipped" in result.stderr and "4 records" in result.stderr


def test_extract_schema_field(loads, tmp_path):
    path = tmp_path / "mixed.jsonl"
    path.write_text('{"id": "e", "schema": "electronics", "text": "Dell XPS 13 16GB"}\n'
                    '{"id": "a", "schema": "apparel", "text": "Hanes Tee"}\n'
                    '{"id": "z", "text": "Hanes Socks"}\n', encoding="utf-8")
    out = tmp_path / "records.jsonl"
    result = CliRunner().invoke(main, [*EXTRACT, str(path), "--schema-field", "schema", "-o", str(out),
                                       "--no-progress"])
    assert result.exit_code == 0, result.output
    records = {r["id"]: r for r in _records(out)}
    assert records["e"]["provenance"]["schema"] == load_schema("electronics").id
    assert records["a"]["provenance"]["schema"] == APPAREL.id
    # A line without the field uses the run's schema: the first one named in the input.
    assert records["z"]["provenance"]["schema"] == load_schema("electronics").id


def test_extract_csv_with_text_field(loads, tmp_path):
    path = tmp_path / "offers.csv"
    path.write_text('sku,name,notes\nS1,"Hanes Tee, 6-Pack",navy\nS2,Gap Chinos,\n', encoding="utf-8")
    out = tmp_path / "records.jsonl"
    result = CliRunner().invoke(main, [*EXTRACT, str(path), "-s", "apparel", "--id-field", "sku",
                                       "--text-field", "name", "-o", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    records = _records(out)
    assert [r["id"] for r in records] == ["S1", "S2"]
    assert records[0]["attributes"]["Pack Count"] == 6


def test_extract_passes_model_options(loads, offers, tmp_path):
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    result = CliRunner().invoke(main, [*EXTRACT, str(offers), "-s", "apparel", "-m", "some/model",
                                       "--adapter", str(adapter), "--dtype", "float32", "--device", "cpu",
                                       "--no-progress", "-o", str(tmp_path / "out.jsonl")])
    assert result.exit_code == EXIT_SOME_LINES, result.output
    [config] = loads
    assert (config.model, config.adapter, config.dtype, config.device) == ("some/model", str(adapter),
                                                                           "float32", "cpu")


def test_extract_without_schema_is_usage_error(loads, offers):
    result = CliRunner().invoke(main, [*EXTRACT, str(offers)])
    assert result.exit_code == 2, result.output
    assert "Error: give --schema (or --schema-field to read each line's schema)" in result.output
    assert loads == []


def test_extract_unknown_schema_is_clear_error(loads, offers):
    result = CliRunner().invoke(main, [*EXTRACT, str(offers), "--schema", "furniture"])
    assert result.exit_code == 1, result.output
    assert "no shipped schema named 'furniture'" in result.output
    assert "Traceback" not in result.output


def test_extract_missing_input_is_clear_error(loads, tmp_path):
    result = CliRunner().invoke(main, [*EXTRACT, str(tmp_path / "absent.jsonl"), "-s", "apparel",
                                       "-o", str(tmp_path / "out.jsonl")])
    assert result.exit_code == 2, result.output  # a usage error, raised before the model is loaded
    assert "input file not found" in result.output and "absent.jsonl" in result.output
    assert not loads  # the model was never loaded for a typo
    assert isinstance(result.exception, SystemExit) and "Traceback" not in result.output


def test_extract_unwritable_output_is_clear_error(loads, offers, tmp_path):
    result = CliRunner().invoke(main, [*EXTRACT, str(offers), "-s", "apparel", "--no-progress",
                                       "-o", str(tmp_path / "no-such-folder" / "out.jsonl")])
    assert result.exit_code == 1, result.output
    assert "cannot write" in result.output and "no-such-folder" in result.output
    assert not loads  # said before the model loads


def test_constrained_decoding_on_a_backend_without_token_access_is_clear_error(loads, offers):
    result = CliRunner().invoke(main, ["extract", str(offers), "-s", "apparel", "--decoding", "constrained"])
    assert result.exit_code == 1, result.output
    assert "Error: decoding 'constrained' needs token-level access to the model" in result.output
    assert "Traceback" not in result.output


def test_extract_resume_needs_output_file(loads, offers):
    result = CliRunner().invoke(main, [*EXTRACT, str(offers), "-s", "apparel", "--resume"])
    assert result.exit_code == 2, result.output
    assert "--resume needs an output file" in result.output


def test_model_load_error_is_clear(monkeypatch, offers):
    from extractor.errors import ModelLoadError

    def failing_load_model(config=None, **overrides):
        raise ModelLoadError("--quantize 4bit uses bitsandbytes NF4 kernels, which need a CUDA GPU")

    monkeypatch.setattr("extractor.models.load_model", failing_load_model)
    result = CliRunner().invoke(main, [*EXTRACT, str(offers), "-s", "apparel", "--quantize", "4bit"])
    assert result.exit_code == 1, result.output
    assert "Error: --quantize 4bit uses bitsandbytes NF4 kernels, which need a CUDA GPU" in result.output


def test_extract_says_when_a_schema_has_no_demonstrations(loads, offers, tmp_path):
    schema = tmp_path / "plain.schema.json"
    schema.write_text(json.dumps({**APPAREL.document, "title": "plain"}))  # a schema with no shipped shots
    args = [*EXTRACT, str(offers), "-s", str(schema), "--no-progress", "-o", str(tmp_path / "out.jsonl")]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == EXIT_SOME_LINES, result.output
    assert "no demonstrations for schema plain: zero-shot instead of k=3 (give --shots)" in result.output
    for quiet in ([*args, "-k", "0"], [*args[:5], "apparel", *args[6:]]):  # none asked for; apparel ships its own
        result = CliRunner().invoke(main, quiet)
        assert result.exit_code == EXIT_SOME_LINES, result.output
        assert "records: 3 ok" in result.output and "no demonstrations" not in result.output


# --- hostile input: nothing lost, exit statuses scripts can rely on -------------------------------

def test_output_naming_the_input_is_refused_and_the_input_kept(loads, offers, tmp_path):
    before = offers.read_bytes()
    link = tmp_path / "link.jsonl"
    link.symlink_to(offers)
    for output in (str(offers), str(link)):
        for extra in ([], ["--resume"]):
            result = CliRunner().invoke(main, [*EXTRACT, str(offers), "-s", "apparel", "-o", output, *extra])
            assert result.exit_code == 1 and "is the input file" in result.output, result.output
    assert offers.read_bytes() == before
    assert not loads  # refused before the model loads


def test_all_ok_exits_0(loads, tmp_path):
    path = tmp_path / "ok.jsonl"
    path.write_text('{"id": "a", "text": "Hanes Tee"}\n{"id": "b", "text": "Nike Shoes"}\n', encoding="utf-8")
    result = CliRunner().invoke(main, [*EXTRACT, str(path), "-s", "apparel", "-o", str(tmp_path / "o.jsonl"),
                                       "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "2 records: 2 ok, 0 invalid, 0 failed" in result.stderr


def test_resume_with_repeated_ids_finishes_every_line(loads, tmp_path):
    path = tmp_path / "dups.jsonl"
    # line 2 has no id, so it is "2", which line 4 also says; line 5 repeats line 1
    path.write_text("".join(json.dumps(row) + "\n" for row in [
        {"id": "1", "text": "Hanes Tee"}, {"text": "Nike Shoes"}, {"id": "x", "text": "Gap Chinos"},
        {"id": "2", "text": "Levis Jeans"}, {"id": "1", "text": "Carhartt Beanie"}]), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    args = [*EXTRACT, str(path), "-s", "apparel", "-o", str(out), "--no-progress"]
    assert CliRunner().invoke(main, args).exit_code == 0
    complete = out.read_text(encoding="utf-8")
    lines = complete.splitlines(keepends=True)
    for cut in (lines[0], lines[0] + lines[1][:-1], "".join(lines[:3]) + lines[3][:40]):
        out.write_text(cut, encoding="utf-8")
        result = CliRunner().invoke(main, [*args, "--resume"])
        assert result.exit_code == 0, result.output
        assert out.read_text(encoding="utf-8") == complete
    assert "2 records" in result.stderr and "3 skipped" in result.stderr


def test_resume_refuses_another_inputs_output(loads, offers, tmp_path):
    out = tmp_path / "out.jsonl"
    out.write_text(json.dumps({"id": "zz", "status": "ok", "attributes": {}, "provenance": {
        "model": "m", "adapter": None, "prompt": "p", "schema": "s", "decoding": "free"}}) + "\n", encoding="utf-8")
    result = CliRunner().invoke(main, [*EXTRACT, str(offers), "-s", "apparel", "-o", str(out), "--resume"])
    assert result.exit_code == 1 and "not a run of this input" in result.output
    assert not loads


def test_a_bad_byte_fails_its_line_and_the_run_goes_on(loads, tmp_path):
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b'{"id": "a", "text": "Hanes Tee"}\n{"id": "b", "text": "Caf\xe9 Tee"}\n'
                     b'{"id": "c", "text": "\\udc80"}\n' + b"[" * 100_000 + b'\n{"id": "e", "text": "Nike"}\n')
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(main, [*EXTRACT, str(path), "-s", "apparel", "-o", str(out), "--no-progress"])
    assert result.exit_code == EXIT_SOME_LINES, result.output
    records = _records(out)
    assert [r["status"] for r in records] == ["ok", "failed", "failed", "failed", "ok"]
    assert records[1]["error"].startswith("line 2: not utf-8 text (byte 0xe9")
    assert "line 3: field 'text' holds a lone surrogate" in records[2]["error"]
    assert records[3]["error"] == "line 4: not valid JSON (nested too deeply)"
    again = CliRunner().invoke(main, [*EXTRACT, str(path), "-s", "apparel", "-o", str(out), "--no-progress",
                                      "--encoding", "latin-1"])
    assert _records(out)[1]["status"] == "ok" and again.exit_code == EXIT_SOME_LINES


@pytest.mark.parametrize("args,message", [
    (["--encoding", "klingon"], "unknown text encoding 'klingon'"),
    (["--text-field", "name"], "names no text column (name)"),
])
def test_input_problems_are_said_before_the_model_loads(loads, tmp_path, args, message):
    path = tmp_path / "no-header.csv"
    path.write_text("S1,Hanes Tee\nS2,Gap Chinos\n", encoding="utf-8")
    result = CliRunner().invoke(main, [*EXTRACT, str(path), "-s", "apparel", "-o", str(tmp_path / "o.jsonl"), *args])
    assert result.exit_code == 1 and message in result.output, result.output
    assert not loads and "Traceback" not in result.output


def test_ctrl_c_exits_130_and_leaves_whole_lines(monkeypatch, offers, tmp_path):
    calls = []

    def reply(prompt: str) -> str:
        calls.append(prompt)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return _reply(prompt)

    monkeypatch.setattr("extractor.models.load_model", lambda config=None, **kw: ScriptedBackend(reply, name="m"))
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(main, [*EXTRACT, str(offers), "-s", "apparel", "-o", str(out), "--no-progress",
                                       "--batch-size", "1"])
    assert result.exit_code == 130 and "--resume continues it" in result.stderr
    assert [r["id"] for r in _records(out)] == ["ap-01"]


def test_exit_statuses_are_documented():
    from extractor import cli

    listed = {int(line.split()[0]) for line in CliRunner().invoke(main, ["--help"]).output.split("Exit status:")[1]
              .split("\n\n")[0].splitlines()[1:]}
    assert listed == {value for name, value in vars(cli).items() if name.startswith("EXIT_")} == {0, 1, 2, 3, 130}


def test_option_defaults_are_the_config_defaults():
    """The CLI takes its defaults from the config dataclasses (written once, in config.py)."""
    from dataclasses import fields

    from extractor.config import ExtractConfig, ModelConfig
    from extractor.tagger import TrainConfig

    def defaults(command):  # type: ignore[no-untyped-def]
        return {p.name: p.default for p in main.commands[command].params}

    extract = defaults("extract")
    for config in (ExtractConfig(), ModelConfig()):
        for field in fields(config):
            if field.name in extract and field.name not in ("adapter", "quantize"):
                assert extract[field.name] == getattr(config, field.name), field.name
    tagger_help = CliRunner().invoke(main, ["finetune-tagger", "--help"], terminal_width=200).output
    assert f"Most epochs (default {TrainConfig().epochs})." in tagger_help
    assert f"Windows per step (default {TrainConfig().batch_size})." in tagger_help
