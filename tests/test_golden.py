"""Golden files: what users and scripts see, recorded byte for byte before the refactor moves code.

Each test renders one output and compares it with its file under tests/golden/; a move that keeps
behaviour keeps every file identical. A difference fails with a diff naming the file. When a change
is meant (a help text reworded on purpose), rewrite the files and review them in the diff:

    UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_golden.py

What is recorded:
  extract/     records (standard output) of ``extract`` through the CLI on examples/products.jsonl
               with --schema-field schema: the tiny random LLM of conftest.py (constrained, free,
               --normalize), a tiny random tagger (--engine tagger, --average-tagger, --normalize,
               tagger + tagger at --span-threshold 0.3), and the LLM with --with-tagger (alone, and
               averaged + normalized);
               beside each, ``<run>.stderr``: the exit status and standard error (timing masked);
               and ``llm-free.prompts.txt``: every prompt the free run sent the model.
  help/        ``--help`` of every command and subcommand (the click group walked recursively).
  finetune-configs/  the resolved config of every finetune/configs/*.yaml, as sorted JSON.
  rebuild/     ``python benchmarks/rebuild.py <dataset> --dry-run`` for each dataset, and its --help.

The models are random but seeded, and torch runs on one thread here so that the figures do not
depend on the machine's core count. The records' confidences and masses are rounded by the library
(4 significant digits), which keeps them stable; a machine whose float kernels differ could still
move a last digit: regenerate there and compare the rest before trusting such a diff.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from extractor.cli import main

from conftest import save_tiny_bert, wordpiece_tokenizer

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).resolve().parent / "golden"
PRODUCTS = ROOT / "examples" / "products.jsonl"
UPDATE = os.environ.get("UPDATE_GOLDEN", "") not in ("", "0")
HELP_WIDTH = 100
"""Terminal width for every help text (click and argparse wrap to it)."""
LLM_BUDGET = ["-k", "1", "--max-new-tokens", "24"]
"""Small budgets so that each LLM run takes a second or two (one demonstration, 24 new tokens)."""


def check_golden(name: str, actual: str) -> None:
    """``actual`` must equal the golden file ``name`` byte for byte (UPDATE_GOLDEN=1: write it)."""
    path = GOLDEN / name
    data = actual.encode("utf-8")
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.is_file() or path.read_bytes() != data:
            path.write_bytes(data)
        return
    if not path.is_file():
        pytest.fail(f"golden file tests/golden/{name} is missing: write it with "
                    "UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_golden.py, and review it", pytrace=False)
    expected = path.read_bytes()
    if data == expected:
        return
    diff = list(difflib.unified_diff(expected.decode("utf-8", "replace").splitlines(keepends=True),
                                     actual.splitlines(keepends=True),
                                     f"tests/golden/{name} (golden)", f"tests/golden/{name} (now)"))
    shown = "".join(diff[:120]) + (f"\n... {len(diff) - 120} more diff lines\n" if len(diff) > 120 else "")
    if not diff:  # the same lines: the bytes differ in line endings or a trailing newline
        shown = f"same lines, other bytes: golden {expected[-40:]!r}, now {data[-40:]!r}"
    if name.endswith(".jsonl"):  # records are long lines: say which fields differ first
        shown = _record_changes(expected.decode("utf-8", "replace"), actual) + shown
    pytest.fail(f"output differs from tests/golden/{name} (if the change is meant: UPDATE_GOLDEN=1 "
                f"pytest tests/test_golden.py, then review the diff)\n{shown}", pytrace=False)


def _field_changes(old: object, new: object, path: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        out = [f"{path}{key}: only in the golden file" for key in old if key not in new]
        out += [f"{path}{key}: new, {new[key]!r}" for key in new if key not in old]
        for key in old:
            if key in new:
                out += _field_changes(old[key], new[key], f"{path}{key}.")
        if not out and list(old) != list(new):
            out.append(f"{path or 'record'}: keys in another order")
        return out
    return [] if old == new and type(old) is type(new) else [f"{path.rstrip('.')}: {old!r} -> {new!r}"]


def _record_changes(expected: str, actual: str, limit: int = 15) -> str:
    """The first fields that differ between two JSONL texts, line by line."""
    old_lines, new_lines = expected.splitlines(), actual.splitlines()
    changes = [] if len(old_lines) == len(new_lines) else [f"{len(old_lines)} lines -> {len(new_lines)} lines"]
    for number, (old, new) in enumerate(zip(old_lines, new_lines), 1):
        if old != new:
            try:
                fields = _field_changes(json.loads(old), json.loads(new)) or ["the same JSON, other bytes"]
            except ValueError:
                fields = ["not JSON"]
            changes += [f"line {number}: {field}" for field in fields]
        if len(changes) > limit:
            break
    return "changed fields:\n  " + "\n  ".join(changes[:limit]) + "\n"


def check_no_stale(folder: str, expected: set[str]) -> None:
    """The golden files in ``folder`` are exactly ``expected``: a command, config or dataset that
    disappeared leaves a file behind, which fails here (UPDATE_GOLDEN=1 deletes it)."""
    where = GOLDEN / folder
    present = {p.name for p in where.iterdir()} if where.is_dir() else set()
    if UPDATE:
        for name in present - expected:
            (where / name).unlink()
        return
    if present != expected:
        pytest.fail(f"tests/golden/{folder}: files without an output {sorted(present - expected)}, outputs "
                    f"without a file {sorted(expected - present)} (UPDATE_GOLDEN=1 writes and deletes them)",
                    pytrace=False)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """torch on one thread: the tiny models' figures then do not depend on the core count (and the
    tiny matrices run faster)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# --- extract: the tiny random LLM -----------------------------------------------------------------

def _mask_timing(stderr: str) -> str:
    # Left out of the comparison: the summary line's seconds and products per second, which
    # are wall-clock time and differ on every run. The counts before them are compared.
    return re.sub(r" in \d+\.\d s \(\d+\.\d\d products/s\)", " in <seconds> s (<rate> products/s)", stderr)


def run_extract(name: str, args: list[str]) -> None:
    """``extract PRODUCTS --schema-field schema ARGS`` through the CLI; its records (standard
    output) go to extract/NAME.jsonl and its exit status and standard error to extract/NAME.stderr."""
    result = CliRunner().invoke(main, ["extract", str(PRODUCTS), "--schema-field", "schema", "--no-progress", *args],
                                prog_name="extractor")
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    check_golden(f"extract/{name}.jsonl", result.stdout)
    check_golden(f"extract/{name}.stderr", f"exit status {result.exit_code}\n{_mask_timing(result.stderr)}")


@pytest.fixture()
def tiny_llm(monkeypatch, tiny_model) -> list[str]:
    """`extract` gets conftest's tiny random Llama (seed 0) instead of loading a model, as in
    tests/test_hostile_input.py's ``tiny_loads``; returns the list of the prompts it is asked to
    continue (free decoding's ``generate``; constrained decoding runs the model itself)."""
    from extractor.backends.transformers import TransformersBackend

    model, tokenizer = tiny_model
    sent: list[str] = []

    def load(config=None, **kw):  # type: ignore[no-untyped-def]
        backend = TransformersBackend(model, tokenizer, name="tiny-random")
        generate = backend.generate

        def recording(prompts, *args, **kwargs):  # type: ignore[no-untyped-def]
            sent.extend(prompts)
            return generate(prompts, *args, **kwargs)

        backend.generate = recording  # type: ignore[method-assign]
        return backend

    monkeypatch.setattr("extractor.models.load_model", load)
    return sent


LLM_RUNS = [
    ("llm-constrained", []),
    ("llm-free", ["--decoding", "free"]),  # the random model writes no JSON: invalid records after a re-ask
    ("llm-normalize", ["--normalize"]),
]


@pytest.mark.parametrize("name, args", LLM_RUNS)
def test_extract_llm(tiny_llm: list[str], name: str, args: list[str]) -> None:
    run_extract(name, [*LLM_BUDGET, *args])
    if name == "llm-free":
        # The prompts themselves, as the model got them (chat template applied): the template, the
        # demonstration picked, truncation and the re-ask after an invalid answer. The random model's
        # figures move only in a last digit when a prompt changes; these show the change itself.
        check_golden("extract/llm-free.prompts.txt",
                     "".join(f"=== prompt {i} ===\n{prompt}\n" for i, prompt in enumerate(tiny_llm, 1)))


# --- extract: a tiny random tagger, alone, averaged and beside the LLM ------------------------------

TAGGER_CORPUS = [
    "Nike Air Zoom Pegasus running shoe black white size 10 mesh upper",
    "Hanes mens crew tee 6 pack navy blue XL cotton short sleeve",
    "Samsung portable SSD T7 USB gray 1TB laptop 16GB RAM",
    "Levis slim fit jeans dark indigo stretch denim 32W",
    "OXO mixing bowl set stainless steel 3 piece kitchen",
]
"""The WordPiece vocabulary's texts (copied from tests/test_tagger.py, so editing that file's
helpers does not move these goldens)."""


def build_encoder(folder: Path) -> None:
    """A 2-layer random BERT (seed 0) and a lowercasing WordPiece tokenizer over TAGGER_CORPUS's
    words and characters, saved like a Hub checkpoint (tests/test_tagger.py's ``build_encoder``,
    except the vocabulary: tokenizers' WordPieceTrainer numbers its vocabulary differently from one
    process to the next, so it is listed here, sorted, instead of trained)."""
    import string

    text = " ".join(TAGGER_CORPUS).lower()
    chars = sorted(set(text.replace(" ", "")) | set(string.ascii_lowercase + string.digits + string.punctuation))
    words = sorted({w for w in text.split() if len(w) > 1})
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars, *(f"##{c}" for c in chars), *words]
    save_tiny_bert(folder, wordpiece_tokenizer(vocab), positions=128)


HEAD_SCALE = 40.0
"""The random head's weights times this: freshly initialised, its labels are near-uniform (each
token's best label under 0.1), so span thresholds and averaging would change nothing; scaled, a
token's best label often passes 0.5 and the decoding rules have something to decide."""


@pytest.fixture(scope="module")
def tagger_dir(tmp_path_factory: pytest.TempPathFactory, one_thread) -> Path:
    """A folder holding ``encoder`` and two taggers, ``tagger-a`` (head seed 0) and ``tagger-b``
    (seed 1), for the three shipped schemas of products.jsonl. Not trained: a random head on the
    random encoder, seeded, which is bit-deterministic and takes a second (training would add
    seconds and float noise); its random labels give values, spans and warnings to record."""
    import torch
    from transformers.utils import logging as hf_logging

    from extractor.schemas import load_schema
    from extractor.tagger import Tagger

    folder = tmp_path_factory.mktemp("golden-taggers")
    hf_logging.disable_progress_bar()  # "Writing model shards" bars on stderr
    try:
        build_encoder(folder / "encoder")
        schemas = [load_schema(name) for name in ("apparel", "electronics", "home")]
        for seed, name in ((0, "tagger-a"), (1, "tagger-b")):
            torch.manual_seed(seed)
            # base_model is recorded in the manifest: relative, so no temporary path enters a record
            old = Path.cwd()
            os.chdir(folder)
            try:
                tagger = Tagger.from_encoder("encoder", schemas, window=32, overlap=8, device="cpu")
                with torch.no_grad():  # peaked probabilities, like a trained head's (see HEAD_SCALE)
                    tagger.model.classifier.weight.mul_(HEAD_SCALE)
                tagger.save(name)
            finally:
                os.chdir(old)
    finally:
        hf_logging.enable_progress_bar()
    return folder


TAGGER_RUNS = [
    ("tagger", ["--engine", "tagger", "--model", "tagger-a"]),
    ("tagger-average", ["--engine", "tagger", "--model", "tagger-a", "--average-tagger", "tagger-b"]),
    ("tagger-normalize", ["--engine", "tagger", "--model", "tagger-a", "--normalize"]),
    ("tagger-with-tagger-threshold",
     ["--engine", "tagger", "--model", "tagger-a", "--with-tagger", "tagger-b", "--span-threshold", "0.3"]),
    ("llm-with-tagger", [*LLM_BUDGET, "--with-tagger", "tagger-a"]),
    ("llm-with-tagger-average-normalize",
     [*LLM_BUDGET, "--with-tagger", "tagger-a", "--average-tagger", "tagger-b", "--normalize"]),
]


@pytest.mark.parametrize("name, args", TAGGER_RUNS)
def test_extract_tagger(tiny_llm, tagger_dir: Path, monkeypatch, name: str, args: list[str]) -> None:
    # The taggers are named by relative paths from their folder: a record's provenance names the
    # tagger as given, and a temporary path would differ on every run.
    monkeypatch.chdir(tagger_dir)
    run_extract(name, args)


def test_extract_files_match_the_runs() -> None:
    check_no_stale("extract", {f"{name}.{ext}" for name, _ in LLM_RUNS + TAGGER_RUNS for ext in ("jsonl", "stderr")}
                   | {"llm-free.prompts.txt"})


# --- --help of every command ----------------------------------------------------------------------

def _commands(group: click.Command = main, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = [path]
    if isinstance(group, click.Group):
        for name in sorted(group.commands):
            out += _commands(group.commands[name], (*path, name))
    return out


COMMANDS = _commands()


def _help_file(path: tuple[str, ...]) -> str:
    return ".".join(("extractor", *path)) + ".txt"


@pytest.mark.parametrize("path", COMMANDS, ids=lambda path: " ".join(("extractor", *path)))
def test_help(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(main, [*path, "--help"], prog_name="extractor", terminal_width=HELP_WIDTH)
    assert result.exit_code == 0, result.output
    check_golden(f"help/{_help_file(path)}", result.stdout)


def test_help_files_match_the_commands() -> None:
    check_no_stale("help", {_help_file(path) for path in COMMANDS})


# --- the resolved fine-tuning configs -------------------------------------------------------------

CONFIGS = sorted((ROOT / "finetune" / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda path: path.name)
def test_finetune_config(path: Path, monkeypatch) -> None:
    from extractor.training.lora.config import load_finetune_config

    monkeypatch.chdir(ROOT)  # the configs say "run from the repository root"; read them from there
    resolved = load_finetune_config(path.relative_to(ROOT)).to_dict()
    text = json.dumps(resolved, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    check_golden(f"finetune-configs/{path.stem}.json", text.replace(str(ROOT), "<repo>"))


def test_finetune_config_files_match_the_configs() -> None:
    assert CONFIGS, "no finetune/configs/*.yaml"
    check_no_stale("finetune-configs", {f"{path.stem}.json" for path in CONFIGS})


# --- benchmarks/rebuild.py --dry-run --------------------------------------------------------------

REBUILD_GOLD = {"ae-110k": "ae-110k", "oa-mine": "oa-mine", "wdc-pave": "wdc-pave/extraction"}
"""rebuild.py's datasets (its `dataset` choices) → where their split lies under --data."""


def _script(args: list[str], tmp: Path | None = None) -> str:
    """Standard output of ``python ARGS`` from the repository root, with this checkout's extractor
    first on the path (an editable install may point at another checkout)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
           "COLUMNS": str(HELP_WIDTH)}
    done = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and not done.stderr, done.stdout + done.stderr
    out = done.stdout.replace(sys.executable, "<python>")
    return out.replace(str(tmp), "<tmp>") if tmp else out


@pytest.mark.parametrize("dataset", sorted(REBUILD_GOLD))
def test_rebuild_dry_run(dataset: str, tmp_path: Path) -> None:
    # Independent of the shared data and of what this checkout has trained: a gold split of three
    # offers (rebuild reads only its line count) under a temporary --data, and empty --runs and
    # --adapters, so every step is still to run; temporary paths and the interpreter are masked.
    tmp = tmp_path.resolve()
    gold = tmp / "data" / REBUILD_GOLD[dataset] / "validation.jsonl"
    gold.parent.mkdir(parents=True)
    gold.write_text("{}\n{}\n{}\n")
    out = _script(["benchmarks/rebuild.py", dataset, "--dry-run", "--data", str(tmp / "data"),
                   "--runs", str(tmp / "runs"), "--adapters", str(tmp / "adapters")], tmp)
    check_golden(f"rebuild/{dataset}.txt", out)


def test_rebuild_help() -> None:
    check_golden("rebuild/help.txt", _script(["benchmarks/rebuild.py", "--help"]))


def test_rebuild_files_match_the_datasets() -> None:
    check_no_stale("rebuild", {f"{dataset}.txt" for dataset in REBUILD_GOLD} | {"help.txt"})
