"""Learn a trained tagger's word forms, markers and endings again, with the current
``extractor.tagger.wordforms``, ``.markers`` and ``.endings``, on the very training texts it was
trained on, and write a copy of the tagger that carries them:

    python benchmarks/relearn.py --dataset wdc-pave --tagger runs/tagger/wdc-pave-minilm-masked-wf \\
        --output-dir runs/tagger/wdc-pave-minilm-masked-tails
    python benchmarks/relearn.py --dataset oa-mine --tagger runs/tagger/oa-mine-mpnet-full \\
        --output-dir runs/tagger/oa-mine-mpnet-full-fp --only endings

So a change to how they are learned can be measured on an existing model without training it
again (the model's labels do not depend on them); ``--only`` relearns some and keeps the others as
they are. The training split is rebuilt from the dataset's train file by the tagger's own settings
(held-out share and seed) and must hash to the manifest's ``training_data``; the augmented
variants its settings name are rebuilt too, as training made them. The copy's records files are
not copied (they belong to the old forms)."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from extractor import TAGGER_MANIFEST as MANIFEST
from extractor import (LEARNED_TABLES, ConfigError, ExtractorError, TrainingSet, describe_ending, load_benchmark,
                       read_offers, relearn_tables, resolve_dataset)

OPTIONS = {key.replace("_", "-"): key for key in LEARNED_TABLES}
"""What can be learned again: option name -> manifest key (the tables training learns)."""


def relearn(dataset: str, data_root: str, source: Path, output: Path, title_only: bool = False,
            only: list[str] | None = None) -> dict[str, dict]:
    """Write ``source`` with the ``only`` tables (option names; default: all of :data:`OPTIONS`)
    learned again to ``output``; returns the manifest keys learned, with their tables."""
    manifest = json.loads((source / MANIFEST).read_text(encoding="utf-8"))
    benchmark = load_benchmark(dataset, "validation", data_root=data_root, title_only=title_only)
    documents, gold = read_offers(resolve_dataset(dataset, data_root) / "train.jsonl", title_only)
    settings = manifest["settings"]
    train, _ = TrainingSet(documents, gold, benchmark.schemas).split(settings["validation_share"], settings["seed"])
    if train.digest() != manifest["training_data"]:
        raise ConfigError(f"{source} was not trained on {dataset}'s train split with held-out share "
                          f"{settings['validation_share']} and seed {settings['seed']} (the training data hash differs)")
    learned = relearn_tables(train, manifest, [key for name, key in OPTIONS.items() if name in (only or OPTIONS)])
    if output.resolve() != source.resolve():
        shutil.copytree(source, output, ignore=shutil.ignore_patterns("*.records.jsonl"), dirs_exist_ok=True)
    manifest.update(learned)
    (output / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return learned


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="../shared/data", help="data root holding the dataset folders")
    p.add_argument("--dataset", required=True, help="the dataset the tagger was trained on (as benchmarks/tagger.py)")
    p.add_argument("--title-only", action="store_true", help="WDC-PAVE: the tagger read titles only")
    p.add_argument("--tagger", required=True, type=Path, help="trained tagger folder")
    p.add_argument("--output-dir", required=True, type=Path, help="where the copy goes (may be --tagger itself)")
    p.add_argument("--only", action="append", choices=list(OPTIONS),
                   help="relearn only this (repeatable); the others stay as the manifest has them (default: all)")
    args = p.parse_args(argv)
    try:
        learned = relearn(args.dataset, args.data, args.tagger, args.output_dir, args.title_only, args.only)
    except (ExtractorError, OSError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    forms = learned.get("word_forms", {})
    for kind in ("words", "affixes", "tails") if "word_forms" in learned else ():
        print(f"{sum(len(f[kind]) for f in forms.values())} {kind}")
    for key, f in sorted(forms.items()):
        if f["affixes"] or f["tails"]:
            print(f"  {key}: affixes {f['affixes']}, tails {f['tails']}")
    for schema, letters in learned.get("markers", {}).items():
        print(f"markers of {schema}: " + ", ".join(f"{m} -> {a}" for m, a in letters.items()))
    for kind, counts in learned.get("endings", {}).items():
        print(describe_ending(kind, counts))
    print(f"tagger with relearned {', '.join(learned)} written to {args.output_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
