"""Learn a trained tagger's word forms and markers again, with the current
``extractor.tagger.wordforms`` and ``extractor.tagger.markers``, on the very training texts it was
trained on, and write a copy of the tagger that carries them:

    python benchmarks/relearn.py --dataset wdc-pave --tagger runs/tagger/wdc-pave-minilm-masked-wf \\
        --output-dir runs/tagger/wdc-pave-minilm-masked-tails

So a change to how they are learned can be measured on an existing model without training it
again (the model's labels do not depend on them). The training split is rebuilt from
the dataset's train file by the tagger's own settings (held-out share and seed) and must hash to
the manifest's ``training_data``; the copy's records files are not copied (they belong to the old
forms)."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from extractor.errors import ConfigError, ExtractorError
from extractor.evaluate.datasets import load_benchmark, read_offers, resolve_dataset
from extractor.tagger import LabelSet, TrainingSet
from extractor.tagger.data import LocateReport, tag_offers
from extractor.tagger.markers import learn_markers
from extractor.tagger.model import MANIFEST
from extractor.tagger.wordforms import learn_word_forms


def relearn(dataset: str, data_root: str, source: Path, output: Path,
            title_only: bool = False) -> tuple[dict, dict]:
    """Write ``source`` with word forms and markers learned again to ``output``; returns them."""
    manifest = json.loads((source / MANIFEST).read_text(encoding="utf-8"))
    benchmark = load_benchmark(dataset, "validation", data_root=data_root, title_only=title_only)
    documents, gold = read_offers(resolve_dataset(dataset, data_root) / "train.jsonl", title_only)
    settings = manifest["settings"]
    train, _ = TrainingSet(documents, gold, benchmark.schemas).split(settings["validation_share"], settings["seed"])
    if train.digest() != manifest["training_data"]:
        raise ConfigError(f"{source} was not trained on {dataset}'s train split with held-out share "
                          f"{settings['validation_share']} and seed {settings['seed']} (the training data hash differs)")
    labels = LabelSet([tuple(key) for key in manifest["keys"]])
    tagged = tag_offers(train.documents, train.gold, labels, LocateReport())
    forms, markers = learn_word_forms(tagged, labels), learn_markers(tagged, labels)
    if output.resolve() != source.resolve():
        shutil.copytree(source, output, ignore=shutil.ignore_patterns("*.records.jsonl"), dirs_exist_ok=True)
    manifest["word_forms"], manifest["markers"] = forms, markers
    (output / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return forms, markers


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="../shared/data", help="data root holding the dataset folders")
    p.add_argument("--dataset", required=True, help="the dataset the tagger was trained on (as benchmarks/tagger.py)")
    p.add_argument("--title-only", action="store_true", help="WDC-PAVE: the tagger read titles only")
    p.add_argument("--tagger", required=True, type=Path, help="trained tagger folder")
    p.add_argument("--output-dir", required=True, type=Path, help="where the copy goes (may be --tagger itself)")
    args = p.parse_args(argv)
    try:
        forms, markers = relearn(args.dataset, args.data, args.tagger, args.output_dir, args.title_only)
    except (ExtractorError, OSError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for kind in ("words", "affixes", "tails"):
        print(f"{sum(len(f[kind]) for f in forms.values())} {kind}")
    for key, f in sorted(forms.items()):
        if f["affixes"] or f["tails"]:
            print(f"  {key}: affixes {f['affixes']}, tails {f['tails']}")
    for schema, letters in markers.items():
        print(f"markers of {schema}: " + ", ".join(f"{m} -> {a}" for m, a in letters.items()))
    print(f"tagger with relearned word forms and markers written to {args.output_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
