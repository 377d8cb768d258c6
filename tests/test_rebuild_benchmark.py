"""benchmarks/rebuild.py: each recipe's commands parse with the scripts they call, and a rebuild goes
on from what is on disk (trained taggers reused, unfinished adapters resumed, whole records kept)."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

import yaml

from extractor import EngineSpec
from extractor.adapter import FORMAT, MANIFEST
from extractor.cli import main as cli
from conftest import load_script

REPO = Path(__file__).resolve().parent.parent


def _load(name: str, file: str):  # type: ignore[no-untyped-def]
    return load_script(f"benchmarks/{file}", name)


rebuild = _load("benchmarks_rebuild", "rebuild.py")
tagger_bench = _load("benchmarks_tagger_for_rebuild", "tagger.py")

OFFERS = [{"id": str(i), "category": "Shorts", "input": f"Nike Shorts {i}",
           "target_scores": {"Brand": {"Nike": 1}}} for i in range(3)]


@pytest.fixture()
def data(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    for folder in ("ae-110k", "oa-mine", "wdc-pave/extraction", "wdc-pave/normalized"):
        (root / folder).mkdir(parents=True)
        for split in ("train", "validation"):
            (root / folder / f"{split}.jsonl").write_text("".join(json.dumps(o) + "\n" for o in OFFERS))
    return root


def places(tmp_path: Path, data: Path, dataset: str = "ae-110k", encoder: str | None = "/enc") -> "rebuild.Places":
    return rebuild.Places(dataset, "validation", data, tmp_path / "runs", tmp_path / "adapters", encoder,
                          python="python")


@pytest.mark.parametrize("dataset", sorted(rebuild.RECIPES))
def test_every_command_of_a_recipe_parses_with_the_script_it_calls(tmp_path: Path, data: Path, dataset: str) -> None:
    recipe = rebuild.RECIPES[dataset]
    at = places(tmp_path, data, dataset)
    names = {step.name for step in recipe.steps}
    assert set(recipe.merge) <= names and len(names) == len(recipe.steps)
    for step in recipe.steps:
        if isinstance(step, rebuild.Average):
            assert set(step.members) <= names
        for command in rebuild.pending(step, at, len(OFFERS)):
            script, args = command[1], command[2:]
            if script == "benchmarks/tagger.py":
                parsed = tagger_bench.parse_args(args)
                assert parsed.dataset == dataset and parsed.out.endswith(f"{step.name}/validation.records.jsonl")
                if isinstance(step, rebuild.Tagger):
                    assert parsed.output_dir.endswith(step.name)
                    assert parsed.model == ("/enc" if step.mpnet else "minilm-l6")
            elif args[:2] == ["extractor", "finetune"]:
                assert (REPO / args[3]).is_file()
                # parses and type-checks, runs nothing; under the group's context, as the CLI runs it (a bare
                # command context would leave click's cached help option without the group's -h)
                with cli.make_context("extractor", ["finetune"]) as parent:
                    cli.commands["finetune"].make_context("finetune", args[2:], parent=parent)
            else:
                assert script == "benchmarks/quality.py" and "--adapter" in args


def test_a_trained_tagger_only_extracts_and_whole_records_are_kept(tmp_path: Path, data: Path) -> None:
    at = places(tmp_path, data)
    step = rebuild.Tagger("ae-110k-minilm-x", ("--epochs", "2", "--seed", "1"))
    [train] = rebuild.pending(step, at, 3)
    assert "--output-dir" in train and "--model" not in train
    (at.runs / step.name).mkdir(parents=True)
    (at.runs / step.name / "tagger_manifest.json").write_text("{}")
    [extract] = rebuild.pending(step, at, 3)
    assert extract[extract.index("--tagger") + 1] == str(at.runs / step.name) and "--epochs" not in extract
    records = at.records(step.name)
    records.write_text('{"id": "0"}\n{"id": "1"}\n')  # a writer killed after two of three offers
    assert rebuild.pending(step, at, 3) == [extract]
    records.write_text('{"id": "0"}\n{"id": "1"}\n{"id": "2"}\n')
    assert rebuild.pending(step, at, 3) == []


def test_an_mpnet_member_needs_the_encoder_folder(tmp_path: Path, data: Path) -> None:
    step = rebuild.Tagger("ae-110k-mpnet-x", ("--seed", "1"), mpnet=True)
    with pytest.raises(SystemExit, match=r"^error: ae-110k-mpnet-x fine-tunes all-mpnet-base-v2: give its folder with "
                                         r"--encoder \(how to get it: python benchmarks/rebuild.py --help\)$"):
        rebuild.pending(step, places(tmp_path, data, encoder=None), 3)


@pytest.mark.parametrize("manifest, checkpoint, trains, resumes", [
    (None, None, True, False),                                          # never started
    ({"history": [{"step": 0}]}, None, True, False),                    # killed before its first checkpoint
    ({"history": [{"step": 0}]}, "checkpoint", True, True),             # interrupted: resume
    ({"history": [{"step": 0}]}, "checkpoint.old", True, True),         # interrupted during a save
    ({"history": [{"step": 0}]}, "checkpoint.tmp", True, False),        # a save cut short, nothing to resume
    ({"history": [{"step": 0}], "run_steps": 60}, None, False, False),  # finished
    ({"history": []}, None, False, False),                              # finished, trained without validation
])
def test_an_adapter_is_trained_resumed_or_reused(tmp_path: Path, data: Path, manifest: dict | None,
                                                 checkpoint: str | None, trains: bool, resumes: bool) -> None:
    at = places(tmp_path, data)
    step = rebuild.Adapter("a", "finetune/configs/smollm2-ae110k-k3.yaml", ("--max-steps", "60"))
    folder = at.adapters / "a"
    folder.mkdir(parents=True)
    if manifest is not None:
        (folder / MANIFEST).write_text(json.dumps({"format": FORMAT, **manifest}))
    if checkpoint:  # the files finetune's own find_checkpoint looks for
        (folder / checkpoint).mkdir()
        for name in ("state.json", "trainer.pt"):
            (folder / checkpoint / name).write_text("{}")
    commands = rebuild.pending(step, at, 3)
    assert len(commands) == 1 + trains
    assert ("--resume" in commands[0]) == resumes
    assert commands[-1][1] == "benchmarks/quality.py"


def test_dry_run_prints_the_recipe_and_runs_nothing(tmp_path: Path, data: Path, capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rebuild.subprocess, "run", lambda *a, **k: pytest.fail("ran a command"))
    assert rebuild.main(["wdc-pave", "--dry-run", "--data", str(data), "--runs", str(tmp_path / "r")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("wdc-pave, validation (3 offers): the recipe of 90.73")
    assert sum("<all-mpnet-base-v2 folder>" in line for line in lines) == 3
    results = [shlex.split(line.split("] ", 1)[1]) for line in lines if line.startswith("[result]")]
    assert [r[1:3] for r in results] == [["-m", "extractor"], ["benchmarks/normalized_e2e.py", "--data"]]


def test_a_missing_split_is_refused_before_anything_runs(tmp_path: Path, data: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert rebuild.main(["oa-mine", "--split", "test", "--data", str(data)]) == 2
    assert "oa-mine/test.jsonl" in capsys.readouterr().err


def test_a_failed_step_stops_the_rebuild(tmp_path: Path, data: Path, capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[list[str]] = []

    class Failed:
        returncode = 1

    monkeypatch.setattr(rebuild.subprocess, "run", lambda command, cwd: ran.append(command) or Failed())
    args = ["ae-110k", "--encoder", "/enc", "--data", str(data), "--runs", str(tmp_path / "r"),
            "--adapters", str(tmp_path / "a")]
    assert rebuild.main(args) == 1
    assert len(ran) == 1 and "failed; run the same command again" in capsys.readouterr().err


def test_every_dataset_has_a_recipe_file_and_nothing_else_is_one() -> None:
    assert sorted(rebuild.RECIPES) == ["ae-110k", "oa-mine", "wdc-pave"]
    for dataset in rebuild.RECIPES:
        data = yaml.safe_load((REPO / "benchmarks" / "recipes" / f"{dataset}.yaml").read_text())
        assert data["dataset"] == dataset


@pytest.mark.parametrize("dataset", sorted(rebuild.RECIPES))
def test_every_member_is_an_engine_spec_at_extraction_time(tmp_path: Path, data: Path, dataset: str) -> None:
    at = places(tmp_path, data, dataset)
    for step in rebuild.RECIPES[dataset].steps:
        spec = rebuild.engine_spec(step, at)
        assert isinstance(spec, EngineSpec) and EngineSpec.from_dict(spec.to_dict()) == spec
        if isinstance(step, rebuild.Adapter):
            assert spec.llm is not None and spec.llm.model.adapter == str(at.adapters / step.name) and not spec.taggers
        else:
            [tagger] = spec.taggers
            assert spec.llm is None and tagger.folder == str(at.runs / (step.members[0] if isinstance(
                step, rebuild.Average) else step.name))
            if isinstance(step, rebuild.Average):
                assert tagger.average == [str(at.runs / m) for m in step.members[1:]]


def test_flags_are_data_in_the_recipe_order() -> None:
    assert rebuild.flag_words({"augment-copies": 2, "augment": ["swap", "drop"], "head-lr": "2e-3",
                               "span-threshold": 0.05, "validation-share": 0, "fast": True, "off": False}) == (
        "--augment-copies", "2", "--augment", "swap", "--augment", "drop", "--head-lr", "2e-3",
        "--span-threshold", "0.05", "--validation-share", "0", "--fast")


def test_a_recipe_file_with_an_unknown_kind_is_refused(tmp_path: Path) -> None:
    (tmp_path / "x.yaml").write_text("figure: f\nmembers: [{name: a, kind: tokenizer}]\n")
    with pytest.raises(ValueError, match="kind is tagger, average or adapter"):
        rebuild.load_recipe(tmp_path / "x.yaml")


@pytest.mark.parametrize("dataset", sorted(rebuild.RECIPES))
def test_the_recipes_are_the_figures_of_benchmarks_md(dataset: str) -> None:
    """The flags BENCHMARKS.md's figures were trained with (as rebuild.py held them in code)."""
    recipe = rebuild.RECIPES[dataset]
    flags = {step.name: " ".join(step.flags) for step in recipe.steps if not isinstance(step, rebuild.Average)}
    expected = {
        "ae-110k": {
            "ae-110k-minilm-full-r": "--epochs 12 --head-lr 2e-3 --validation-share 0 --span-threshold 0.1 --seed 1",
            "ae-110k-mpnet-full-s2": "--lr 6e-5 --head-lr 2e-3 --epochs 15 --patience 15 --validation-share 0 "
                                     "--span-threshold 0.1 --seed 2",
            "smollm2-ae110k-k3": "--max-steps 60 --null-bias 0.5"},
        "oa-mine": {
            "oa-mine-mpnet-aug2-s1": "--augment-copies 2 --augment swap --augment drop --lr 6e-5 --head-lr 2e-3 "
                                     "--epochs 10 --validation-share 0 --span-threshold 0.05 --seed 1",
            "oa-mine-mpnet-head-r": "--lr 6e-5 --head-lr 2e-3 --epochs 15 --patience 15",
            "smollm2-oa-mine-k3": "--max-steps 40 --eval-every 20 --null-bias 0 --null-bias 0.5 --null-bias 1 "
                                  "--null-bias 2"},
        "wdc-pave": {
            "wdc-pave-mpnet-full-s3": "--lr 6e-5 --head-lr 2e-3 --epochs 6 --patience 6 --validation-share 0 --seed 3",
            "wdc-pave-minilm-full": "--epochs 15 --head-lr 2e-3 --validation-share 0 --seed 1"},
    }[dataset]
    assert {name: flags[name] for name in expected} == expected
    assert len(recipe.steps) == {"ae-110k": 7, "oa-mine": 10, "wdc-pave": 6}[dataset]
    assert recipe.normalized == (dataset == "wdc-pave")


def test_a_trained_adapter_member_extracts_with_its_trained_settings(tmp_path: Path, data: Path) -> None:
    at = places(tmp_path, data)
    [step] = [s for s in rebuild.RECIPES["ae-110k"].steps if isinstance(s, rebuild.Adapter)]
    assert rebuild.engine_spec(step, at).llm.extract.null_bias == 0.0  # untrained: the library's defaults
    (at.adapters / step.name).mkdir(parents=True)
    (at.adapters / step.name / MANIFEST).write_text(json.dumps({
        "format": FORMAT, "prompt_settings": {"k": 3, "selection": "similar"},
        "decoding_settings": {"null_bias": 1.5}}))
    llm = rebuild.engine_spec(step, at).llm
    assert (llm.extract.k, llm.extract.selection, llm.extract.null_bias) == (3, "similar", 1.5)
    assert llm.model.model == "smollm2-135m"
