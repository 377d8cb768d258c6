"""The README's commands, checked so that neither the demo nor a documented flag can rot.

Every command line in the README's ```bash blocks is read as a shell would (a trailing backslash
continues a line, ``#`` starts a comment, ``&&``, ``;`` and ``|`` separate commands). Each
``extractor ...`` command must parse with the real click CLI: an unknown subcommand or option,
a bad choice or number fails, naming the README line. Each ``make TARGET`` must name a Makefile
target, and the extractor commands of its recipe must parse too. Then the commands run for real,
in README order, in a scratch folder, with the models replaced by tiny random ones (the LLM by
conftest's tiny Llama, every tagger encoder by a tiny BERT built here) and the files the README
names but nobody ships (``offers.csv``, ``labelled.jsonl``, ``taggers/...``) made as small fixtures.

Written for any README: nothing here names a README command; what a fixture is made of follows
from the command and option that read it (``MAKERS``)."""

from __future__ import annotations

import csv
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from extractor.cli import main

from conftest import save_tiny_bert, wordpiece_tokenizer

ROOT = Path(__file__).resolve().parents[1]
SHELL_BLOCKS = {"bash", "sh", "shell", "zsh", "console"}
SEPARATORS = {"&&", "||", ";", "|", "&"}
RUN_FOR_REAL = {"extract", "finetune-tagger", "merge", "normalize", "evaluate", "schemas list", "schemas show",
                "schemas check", "vocab list"}
"""Commands run for real when a README names them (with tiny models); any other (finetune, export,
...) is only parsed."""


def readme_path() -> Path:
    """The README whose commands are checked (a test of this file points it at a broken copy)."""
    return ROOT / "README.md"


# --- reading the README's commands ------------------------------------------------------------

@dataclass
class Command:
    """One simple command of a README bash block."""

    source: str
    """Where it was written: ``README.md:LINE`` (its first line), or the make target it came from."""
    text: str
    """The shell line it is part of, continuations joined, comment dropped."""
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    """``NAME=value`` assignments before the command."""
    stdout: str | None = None
    """The file a ``>`` redirection sends standard output to."""

    def describe(self) -> str:
        return f"{self.source}: {self.text}"


def _drop_comment(line: str) -> str:
    """``line`` without its shell comment (a ``#`` that starts a word outside quotes); trailing
    blanks are kept, since a backslash followed by a blank does not continue a line."""
    quote = None
    escaped = False
    for i, char in enumerate(line):
        if escaped:
            escaped = False
        elif char == "\\" and quote != "'":
            escaped = True
        elif quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i]
    return line


def shell_lines(text: str, name: str = "README.md") -> Iterator[tuple[str, str]]:
    """(``name:LINE``, shell line) for every command line of the shell blocks, continuations joined."""
    block = None
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        fence = re.match(r"^\s*```+\s*([\w-]*)", raw)
        if fence:
            if block is None:
                block = fence.group(1).lower()
            else:
                if pending:  # a backslash on the block's last line: the command is still whole
                    yield f"{name}:{start}", " ".join(pending)
                    pending = []
                block = None
            continue
        if block not in SHELL_BLOCKS:
            continue
        line = _drop_comment(re.sub(r"^\s*\$ ", "", raw) if not pending else raw)
        if not pending:
            start = number
        continued = line.endswith("\\")
        if continued:
            line = line[:-1].strip()
        else:  # a backslash and a blank at the end: an escaped blank, an argument of its own (bash)
            line = line.strip() + (" " if re.search(r"\\\s+$", line) else "")
        if line:
            pending.append(line)
        if not continued and pending:
            yield f"{name}:{start}", " ".join(pending)
            pending = []


def split_commands(source: str, line: str) -> list[Command]:
    """The simple commands of one shell line (``a && b | c`` gives three)."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = ""
    commands: list[Command] = []
    words: list[str] = []
    for token in [*lexer, ";"]:
        if token not in SEPARATORS:
            words.append(token)
            continue
        env: dict[str, str] = {}
        while words and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0]):
            key, _, value = words.pop(0).partition("=")
            env[key] = value
        stdout = None
        for i, word in enumerate(words):
            if word in (">", ">>") and i + 1 < len(words):
                stdout = words[i + 1]
                words = words[:i] + words[i + 2:]
                break
        if words:
            commands.append(Command(source, line, words, env, stdout))
        words = []
    return commands


def readme_commands(path: Path) -> list[Command]:
    """Every simple command of the file's shell blocks; a line no shell could read is a Command
    whose argv is ``["<unreadable>", message]``."""
    commands = []
    for source, line in shell_lines(path.read_text(encoding="utf-8"), path.name):
        try:
            commands += split_commands(source, line)
        except ValueError as exc:  # shlex: an unclosed quote, a lone escape
            commands.append(Command(source, line, ["<unreadable>", str(exc)]))
    return commands


def _console_scripts() -> set[str]:
    import tomllib

    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    return {name for name, target in scripts.items() if target == "extractor.cli:main"}


def extractor_args(command: Command) -> list[str] | None:
    """The arguments after the program when ``command`` runs this CLI (``.venv/bin/extractor``,
    ``extractor`` or ``python -m extractor``), else None."""
    argv = command.argv
    if Path(argv[0]).name in _console_scripts():
        return argv[1:]
    if re.fullmatch(r"python[\d.]*", Path(argv[0]).name) and argv[1:3] == ["-m", "extractor"]:
        return argv[3:]
    return None


def make_commands(command: Command) -> tuple[list[str], list[Command]]:
    """For a ``make TARGET...`` line: the problems (unknown target), and the commands of the recipes
    as make would run them (``make -n``, variables expanded)."""
    targets = [a for a in command.argv[1:] if not a.startswith("-") and "=" not in a] or [""]
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    problems, commands = [], []
    for target in targets:
        make = shutil.which("make")
        if make is None:
            problems.append(f"{command.describe()}\n  `make` is not installed, so its target cannot be checked")
            continue
        done = subprocess.run([make, "-n", "-C", str(ROOT), *([target] if target else [])], capture_output=True,
                              text=True, env=env)
        if done.returncode != 0:
            problems.append(f"{command.describe()}\n  make -n {target}: {done.stderr.strip()}")
            continue
        source = f"{command.source} (make {target}, Makefile recipe)"
        for line in done.stdout.splitlines():
            if line.startswith("make") and ("Entering" in line or "Leaving" in line):
                continue
            commands += split_commands(source, line)
    return problems, commands


# --- parsing with the real CLI, callbacks replaced ---------------------------------------------

def _walk(group: click.Group, prefix: str = "") -> Iterator[tuple[str, click.Command]]:
    for name, command in group.commands.items():
        path = f"{prefix}{name}"
        yield path, command
        if isinstance(command, click.Group):
            yield from _walk(command, path + " ")


def _path_types() -> Iterator[click.Path]:
    for command in [main, *(c for _, c in _walk(main))]:
        for param in command.params:
            if isinstance(param.type, click.Path):
                yield param.type


@dataclass
class Parsed:
    """What click made of a command line: the command (``schemas list``), its parameters, or the
    output of a command line that ended in usage (help, version, an error)."""

    exit_code: int
    output: str
    command: str | None = None
    params: dict[str, Any] = field(default_factory=dict)


class Parser:
    """Parses command lines with the real CLI, every command's body replaced by a recorder and
    existing-path checks off (parsing checks names, choices and numbers; files are made later)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.monkeypatch = monkeypatch

    def parse(self, args: list[str]) -> Parsed:
        calls: list[tuple[str, dict[str, Any]]] = []
        with self.monkeypatch.context() as patch:
            for path, command in _walk(main):
                if not isinstance(command, click.Group):
                    patch.setattr(command, "callback", lambda *a, _path=path, **kw: calls.append((_path, kw)))
            for kind in _path_types():
                patch.setattr(kind, "exists", False)
            result = CliRunner().invoke(main, args, prog_name="extractor", catch_exceptions=False)
        command, params = calls[-1] if calls else (None, {})
        return Parsed(result.exit_code, result.output, command, params)


def _problem(command: Command, parsed: Parsed) -> str | None:
    if parsed.exit_code == 0:
        return None
    return f"{command.describe()}\n  does not parse (exit {parsed.exit_code}):\n    " + \
        parsed.output.strip().replace("\n", "\n    ")


def check_commands(path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], list[tuple[Command, Parsed]]]:
    """Every problem with the README's commands (each naming its line), and each extractor command
    with what click made of it, make recipes' commands included, in README order."""
    parser = Parser(monkeypatch)
    problems: list[str] = []
    parsed: list[tuple[Command, Parsed]] = []
    found = 0
    for command in readme_commands(path):
        if command.argv[0] == "<unreadable>":
            problems.append(f"{command.describe()}\n  is not a shell command: {command.argv[1]}")
            continue
        if command.argv[0].startswith("-"):
            problems.append(f"{command.describe()}\n  starts with an option: the line above lacks its continuation "
                            "backslash (or has a space after it)")
            continue
        if Path(command.argv[0]).name == "make":
            make_problems, recipe = make_commands(command)
            problems += make_problems
        else:
            recipe = [command]
        for each in recipe:
            args = extractor_args(each)
            if args is None:
                continue
            found += 1
            result = parser.parse(args)
            problem = _problem(each, result)
            if problem:
                problems.append(problem)
            else:
                parsed.append((each, result))
    if not found:
        problems.append(f"{path.name}: no extractor command in its bash blocks (has the layout changed?)")
    return problems, parsed


# --- fixtures for the files a command reads -----------------------------------------------------

def _shipped() -> list[str]:
    from extractor.schemas import shipped_schemas

    return list(shipped_schemas())


def _shots(schema: str) -> list[dict[str, Any]]:
    from extractor.demos import shots_file
    from extractor.resources import schemas_dir

    path = Path(schema)
    name = path.name[: -len(".schema.json")] if path.name.endswith(".schema.json") else schema
    return [json.loads(line) for line in shots_file(schemas_dir() / "shots", name).read_text().splitlines() if line]


class Fixtures:
    """Makes, in the scratch folder, the inputs a README command reads that do not exist yet."""

    def __init__(self, folder: Path, encoder: Path, default_schema: str) -> None:
        self.folder = folder
        self.encoder = encoder
        self.default_schema = default_schema
        self._tagger: Path | None = None
        self.made: list[str] = []

    def schema_of(self, params: dict[str, Any]) -> str:
        """The shipped schema the command names, else the README's most named one (a fixture for
        a schema file or a misspelt name is made of those texts; the command then says what is wrong)."""
        named = params.get("schema") or params.get("schema_ref")
        return named if named in _shipped() else self.default_schema

    def texts(self, path: Path, params: dict[str, Any]) -> None:
        """Input lines: shipped demonstration texts, in the fields the command reads."""
        names = _shipped() if params.get("schema_field") and not params.get("schema") else [self.schema_of(params)]
        fields = list(params.get("text_fields") or ()) or ["text"]
        rows = []
        for name in names:
            for shot in _shots(name)[:3]:
                identifier = f"{Path(name).name[:8]}-{len(rows) + 1}"
                row = {params.get("id_field") or "id": identifier, fields[0]: shot["text"]}
                row.update({f: "" for f in fields[1:]})
                if params.get("schema_field"):
                    row[params["schema_field"]] = name
                rows.append(row)
        if path.suffix.lower() == ".csv" or params.get("fmt") == "csv":
            with path.open("w", newline="", encoding="utf-8") as out:
                writer = csv.DictWriter(out, fieldnames=list(rows[0]))
                writer.writeheader()
                writer.writerows(rows)
        else:
            path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")

    def shots(self, path: Path, params: dict[str, Any]) -> None:
        """Training texts: the schema's shipped demonstrations, as {text, record} lines."""
        path.write_text("".join(json.dumps(s) + "\n" for s in _shots(self.schema_of(params))), encoding="utf-8")

    def tagger(self, path: Path, params: dict[str, Any]) -> None:
        """A tagger for every shipped schema, fine-tuned for one epoch from the tiny encoder."""
        if self._tagger is None:
            from extractor.demos import Shot
            from extractor.records import Document
            from extractor.schemas import load_schema
            from extractor.tagger import TrainConfig, TrainingSet, train_tagger
            from extractor.tagger.data import gold_from_records

            documents, gold, schemas = [], [], {}
            for name in _shipped():
                schema = load_schema(name)
                shots = [Shot(s["text"], s["record"]) for s in _shots(name)]
                ids = [f"{name}-{i}" for i in range(len(shots))]
                documents += [Document(id=i, text=s.text, category=name) for i, s in zip(ids, shots)]
                gold += gold_from_records([s.record for s in shots], schema, ids)
                schemas[name] = schema
            self._tagger = self.folder.parent / "fixture-tagger"
            config = TrainConfig(epochs=1, learning_rate=3e-3, batch_size=16, window=64, overlap=8,
                                 validation_share=0, device="cpu")
            train_tagger(TrainingSet(documents, gold, schemas), self._tagger, base_model=str(self.encoder),
                         config=config, log=lambda line: None)
        shutil.copytree(self._tagger, path)

    def records(self, path: Path, params: dict[str, Any]) -> None:
        """Records a tiny-model run of `extract` wrote for a few input lines of the schema."""
        source = path.with_name(path.stem + ".input.jsonl")
        schema = self.schema_of(params)
        self.texts(source, {"schema": schema})
        result = CliRunner().invoke(main, ["extract", str(source), "--schema", schema, "-o", str(path),
                                           "--no-progress", "-k", "1"])
        assert result.exit_code == 0, result.output

    def gold(self, path: Path, params: dict[str, Any]) -> None:
        """Benchmark gold for the records the command scores (their own values: a perfect score)."""
        pred = Path(params.get("pred_path") or "")
        if not pred.is_file():
            pred = path.with_name(path.stem + ".pred.jsonl")
            self.records(pred, params)
        lines = []
        for record in map(json.loads, pred.read_text(encoding="utf-8").splitlines()):
            category = record.get("provenance", {}).get("schema", "product").split("@")[0] or "product"
            scores = {a: {str(v): 1} if v not in (None, "") else {"n/a": 1}
                      for a, v in (record.get("attributes") or {}).items()}
            lines.append({"id": record.get("id"), "category": category, "target_scores": scores})
        path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")

    def schema_file(self, path: Path, params: dict[str, Any]) -> None:
        from extractor.schemas import load_schema

        path.write_text(json.dumps(load_schema(self.default_schema).document), encoding="utf-8")


MAKERS: dict[tuple[str, str], Callable[[Fixtures], Callable[[Path, dict[str, Any]], None]]] = {
    ("extract", "input_path"): lambda f: f.texts,
    ("extract", "with_tagger"): lambda f: f.tagger,
    ("extract", "average_tagger"): lambda f: f.tagger,
    ("extract", "model"): lambda f: f.tagger,  # with --engine tagger only (see _inputs)
    ("finetune-tagger", "train_path"): lambda f: f.shots,
    ("finetune-tagger", "validation_path"): lambda f: f.shots,
    ("merge", "records"): lambda f: f.records,
    ("normalize", "records"): lambda f: f.records,
    ("evaluate", "pred_path"): lambda f: f.records,
    ("evaluate", "gold_path"): lambda f: f.gold,
    ("schemas check", "path"): lambda f: f.schema_file,
}
"""What to make for a file a command reads, by (command, parameter); an input that is missing and
has no maker here fails the run with a message saying so."""


def _inputs(command: str, params: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(parameter, path) for each file or folder ``command`` reads."""
    leaf = dict(_walk(main))[command]
    for param in leaf.params:
        value = params.get(param.name)
        reads = isinstance(param.type, click.Path) and (param.type.exists or isinstance(param, click.Argument))
        if command == "extract" and param.name == "model":
            reads = params.get("engine") == "tagger"
        if not reads or value is None:
            continue
        for item in value if isinstance(value, (tuple, list)) else [value]:
            if item != "-":
                yield param.name, str(item)


def _outputs(command: str, params: dict[str, Any]) -> list[str]:
    value = params.get("output")
    return [] if value in (None, "-") else [str(value)]


# --- the tests --------------------------------------------------------------------------------

def test_shell_lines_are_read_as_a_shell_reads_them() -> None:
    text = "\n".join([
        "# title", "```bash", "make demo   # a comment", "extractor extract a.jsonl \\", "    --schema apparel \\",
        "    -o 'out #1.jsonl'   # ends here",
        "A=1 extractor schemas show apparel > my.json && extractor --help | head",
        "# a comment line", "```", "```python", "extractor extract not-shell.jsonl", "```", "```sh",
        "$ extractor schemas list", "```"])
    lines = list(shell_lines(text))
    assert lines == [("README.md:3", "make demo"),
                     ("README.md:4", "extractor extract a.jsonl --schema apparel -o 'out #1.jsonl'"),
                     ("README.md:7", "A=1 extractor schemas show apparel > my.json && extractor --help | head"),
                     ("README.md:14", "extractor schemas list")]
    commands = [c for source, line in lines for c in split_commands(source, line)]
    assert [c.argv for c in commands] == [
        ["make", "demo"], ["extractor", "extract", "a.jsonl", "--schema", "apparel", "-o", "out #1.jsonl"],
        ["extractor", "schemas", "show", "apparel"], ["extractor", "--help"], ["head"],
        ["extractor", "schemas", "list"]]
    assert commands[2].env == {"A": "1"} and commands[2].stdout == "my.json"


def test_every_readme_command_parses(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each extractor command of the README (and of the make targets it names) parses with the CLI."""
    problems, parsed = check_commands(readme_path(), monkeypatch)
    assert not problems, "README commands that would fail:\n" + "\n".join(problems)
    assert parsed


@pytest.mark.parametrize("break_it, expected", [
    (lambda line, sub: line.replace(f" {sub} ", f" {sub} --no-such-flag ", 1), "No such option '--no-such-flag'"),
    (lambda line, sub: line.replace(f" {sub} ", " extrakt ", 1), "No such command 'extrakt'"),
], ids=["unknown-option", "unknown-command"])
def test_a_broken_command_in_a_copy_of_the_readme_fails_naming_its_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, break_it: Callable[[str, str], str], expected: str) -> None:
    """The check catches rot: the README's first extractor command, broken in a copy, is reported
    with the copy's line number and click's message."""
    readme = readme_path()
    lines = readme.read_text(encoding="utf-8").splitlines(keepends=True)
    first = next(c for c in readme_commands(readme) if (extractor_args(c) or ["-"])[0][:1] != "-")
    number = int(first.source.rsplit(":", 1)[1])
    sub = extractor_args(first)[0]
    broken = break_it(lines[number - 1], sub)
    assert broken != lines[number - 1]
    lines[number - 1] = broken
    copy = tmp_path / "README.md"
    copy.write_text("".join(lines), encoding="utf-8")
    monkeypatch.setattr(sys.modules[__name__], "readme_path", lambda: copy)
    problems, _ = check_commands(readme_path(), monkeypatch)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"README.md:{number}: ") and expected in problems[0], problems[0]


def test_a_lost_continuation_backslash_is_caught(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy = tmp_path / "README.md"
    copy.write_text("```bash\nextractor schemas list \\ \n    --bogus\n```\n", encoding="utf-8")
    problems, _ = check_commands(copy, monkeypatch)
    assert len(problems) == 2 and problems[1].startswith("README.md:3: --bogus") and "backslash" in problems[1]
    assert problems[0].startswith("README.md:2: ") and "Got unexpected extra argument" in problems[0]


def tiny_encoder(folder: Path) -> Path:
    """A 2-layer random BERT with a WordPiece tokenizer trained on the shipped demonstration texts;
    512 positions, as the real encoders have, so finetune-tagger's default window fits."""
    from tokenizers import trainers

    corpus = [s["text"] for name in _shipped() for s in _shots(name)]
    tok = wordpiece_tokenizer()
    tok.train_from_iterator(corpus, trainers.WordPieceTrainer(
        vocab_size=400, show_progress=False, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]))
    return save_tiny_bert(folder, tok, positions=512)


def _first_error(outputs: list[str]) -> list[str]:
    for output in outputs:
        path = Path(output)
        if path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    error = json.loads(line).get("error")
                except (ValueError, AttributeError):
                    continue
                if error:
                    return [str(error)]
    return []


def _line_count(path: Path) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    return len(lines) - 1 if path.suffix.lower() == ".csv" else len(lines)


def test_readme_commands_run_with_tiny_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              tiny_model: Any) -> None:
    """The README's extractor commands run, in order, in a scratch folder: every LLM is the tiny
    random Llama and every tagger encoder a tiny BERT. Each exits 0 and writes what it says."""
    import torch

    from extractor.backends.transformers import TransformersBackend

    problems, parsed = check_commands(readme_path(), monkeypatch)
    assert not problems, "\n".join(problems)
    model, tokenizer = tiny_model
    monkeypatch.setattr("extractor.models.load_model",
                        lambda config=None, **kw: TransformersBackend(model, tokenizer, name="tiny-random"))
    encoder = tiny_encoder(tmp_path / "tiny-bert")
    monkeypatch.setattr("extractor.tagger.model.resolve_encoder", lambda name: str(encoder))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: more threads only add overhead
    named = [r.params["schema"] for _, r in parsed if r.params.get("schema") in _shipped()]
    default_schema = max(sorted(set(named)), key=named.count) if named else _shipped()[0]
    fixtures = Fixtures(work, encoder, default_schema)
    failures: list[str] = []
    ran: list[str] = []
    seen: set[tuple[str, ...]] = set()
    try:
        for command, result in parsed:
            if result.command not in RUN_FOR_REAL or tuple(command.argv[1:]) in seen:
                continue  # not runnable here, or the same command again (make demo's is the README's)
            seen.add(tuple(command.argv[1:]))
            try:
                _run(command, result, fixtures)
                ran.append(result.command)
            except AssertionError as exc:
                failures.append(f"{command.describe()}\n  {exc}".replace("\n", "\n  "))
    finally:
        torch.set_num_threads(threads)
    assert not failures, "README commands that fail when run:\n" + "\n".join(failures)
    assert "extract" in ran


def _run(command: Command, parsed: Parsed, fixtures: Fixtures) -> None:
    assert parsed.command is not None
    args = extractor_args(command)
    assert args is not None
    lines_in: list[int] = []
    for name, value in _inputs(parsed.command, parsed.params):
        path = Path(value)
        if not path.exists() and (ROOT / value).exists() and not Path(value).is_absolute():
            # a repository file the README names (examples/products.jsonl): used as it is
            path.parent.mkdir(parents=True, exist_ok=True)
            (shutil.copytree if (ROOT / value).is_dir() else shutil.copyfile)(ROOT / value, path)
        if not path.exists():
            maker = MAKERS.get((parsed.command, name))
            assert maker is not None, (f"reads {value} ({name}), which does not exist; add a maker for "
                                       f"{(parsed.command, name)} to MAKERS in {Path(__file__).name}")
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                maker(fixtures)(path, parsed.params)
            except Exception as exc:  # noqa: BLE001  (reported with the README line, as a failure)
                raise AssertionError(f"could not make a fixture for {value} ({name}): {exc!r}") from exc
            fixtures.made.append(value)
        if parsed.command == "extract" and name == "input_path":
            lines_in.append(_line_count(path))
        if parsed.command in ("merge", "normalize") and name == "records":
            lines_in.append(_line_count(path))
    if "progress" in parsed.params and "--no-progress" not in args:
        args = [*args, "--no-progress"]
    result = CliRunner().invoke(main, args, env=command.env or None)
    allowed = (0, 3) if parsed.params.get("decoding") == "free" else (0,)
    assert result.exit_code in allowed, (
        f"exit {result.exit_code}, not {' or '.join(map(str, allowed))}:\n{result.output}"
        + "".join(f"first error record: {error}\n" for error in _first_error(_outputs(parsed.command, parsed.params)))
        + ("".join(traceback.format_exception(result.exception))
           if result.exception and not isinstance(result.exception, SystemExit) else ""))
    if command.stdout:
        Path(command.stdout).write_text(result.stdout, encoding="utf-8")
    for output in _outputs(parsed.command, parsed.params):
        assert Path(output).exists(), f"wrote no {output}:\n{result.output}"
        if parsed.command == "finetune-tagger":
            assert (Path(output) / "tagger_manifest.json").is_file(), f"{output} holds no tagger:\n{result.output}"
        elif lines_in:
            records = [json.loads(line) for line in Path(output).read_text(encoding="utf-8").splitlines()]
            assert len(records) == lines_in[0], f"{output}: {len(records)} records for {lines_in[0]} input lines"
            assert all(r.get("status") == "ok" for r in records) or 3 in allowed, \
                f"{output}: records not ok: {[r for r in records if r.get('status') != 'ok'][:2]}"
    if parsed.command == "schemas list":
        assert all(name in result.output for name in _shipped()), result.output


@pytest.mark.parametrize("page", sorted((ROOT / "docs").glob("*.md")), ids=lambda page: page.name)
def test_every_docs_page_command_parses(page: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The docs pages' extractor commands parse with the CLI too (they are not run: the README's are)."""
    problems, _ = check_commands(page, monkeypatch)
    problems = [p for p in problems if "no extractor command in its bash blocks" not in p]  # a page may have none
    assert not problems, f"{page.name} commands that would fail:\n" + "\n".join(problems)
