"""benchmarks/relearn.py: a tagger's word forms and markers learned again on its own training split."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from extractor.evaluate.datasets import load_benchmark, read_offers
from extractor.tagger import TrainingSet
from conftest import load_script

REPO = Path(__file__).resolve().parent.parent
relearn = load_script("benchmarks/relearn.py", "benchmarks_relearn")

ROWS = [('Rack ServerAMD Opteron 19"W', "Server", '19"'), ('Tower ServerPart Number 8"W', "Server", '8"'),
        ('Blade ServerIntel Xeon 17"W', "Server", '17"'), ('Hard Drive kit 4"W', "Drive", '4"')]


STOP_ROWS = [(f"Server rack {name} {w}.", "Server", w)
             for name, w in (("Alpha", '19"W'), ("Beta", '8"W'), ("Gamma", '17"W'), ("Delta", '4"W'))]
"""Titles that end on a final stop right after the width."""


def _dataset(folder: Path, rows: list[tuple[str, str, str]] = ROWS) -> Path:
    folder.mkdir()
    lines = [{"id": str(i), "category": "Computers", "input": text,
              "target_scores": {"Product Type": {value: 1}, "Width": {width: 1}}}
             for i, (text, value, width) in enumerate(rows)]
    for split in ("train", "validation"):
        (folder / f"{split}.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return folder


def _tagger(folder: Path, data: Path, share: float = 0.25, seed: int = 0) -> Path:
    """A tagger folder as far as the script reads it: the manifest (and a file standing for the model)."""
    benchmark = load_benchmark(str(data), "validation")
    documents, gold = read_offers(data / "train.jsonl")
    train, _ = TrainingSet(documents, gold, benchmark.schemas).split(0.25, 0)
    folder.mkdir()
    manifest = {"keys": [["Computers", "Product Type"], ["Computers", "Width"]], "settings": {"validation_share": share, "seed": seed},
                "training_data": train.digest(), "word_forms": {}, "window": 256}
    (folder / "tagger_manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    (folder / "model.safetensors").write_bytes(b"weights")
    (folder / "validation.records.jsonl").write_text("{}\n", encoding="utf-8")
    return folder


def test_the_copy_carries_forms_learned_on_the_training_split(tmp_path: Path) -> None:
    data = _dataset(tmp_path / "computers")
    source = _tagger(tmp_path / "tagger", data)
    out = tmp_path / "relearned"
    assert relearn.main(["--dataset", str(data), "--tagger", str(source), "--output-dir", str(out)]) == 0
    manifest = json.loads((out / "tagger_manifest.json").read_text(encoding="utf-8"))
    forms = manifest["word_forms"]["Computers/Product Type"]
    # three held-in texts of four; at least two glued "Server..." words among them teach the tail
    assert forms["tails"] == ["capitalized"]
    assert manifest["markers"] == {"Computers": {"w": "Width"}}  # three held-in widths before a "W"
    assert manifest["window"] == 256 and (out / "model.safetensors").read_bytes() == b"weights"
    assert not (out / "validation.records.jsonl").exists()  # records of the old forms stay behind
    assert json.loads((source / "tagger_manifest.json").read_text(encoding="utf-8"))["word_forms"] == {}


@pytest.mark.parametrize("share, seed", [(0.5, 0), (0.25, 3)])
def test_another_split_than_the_tagger_was_trained_on_is_refused(tmp_path: Path, share: float, seed: int,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    data = _dataset(tmp_path / "computers")
    source = _tagger(tmp_path / "tagger", data, share=share, seed=seed)
    assert relearn.main(["--dataset", str(data), "--tagger", str(source), "--output-dir",
                            str(tmp_path / "out")]) == 2
    assert "training data hash differs" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()



def test_only_the_named_table_is_relearned(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _dataset(tmp_path / "computers", STOP_ROWS)
    source = _tagger(tmp_path / "tagger", data)
    out = tmp_path / "relearned"
    assert relearn.main(["--dataset", str(data), "--tagger", str(source), "--output-dir", str(out),
                         "--only", "endings"]) == 0
    manifest = json.loads((out / "tagger_manifest.json").read_text(encoding="utf-8"))
    # three held-in widths, each followed by the title's final stop (a 'W' ends them: a letter)
    assert manifest["endings"] == {"stop": {"kept": 0, "dropped": 3}}
    assert manifest["word_forms"] == {} and "markers" not in manifest  # left as they were
    assert "stop after values: the gold kept 0, left out 3" in capsys.readouterr().out


def test_an_augmented_taggers_variants_are_rebuilt(tmp_path: Path) -> None:
    data = _dataset(tmp_path / "computers", STOP_ROWS)
    source = _tagger(tmp_path / "tagger", data)
    manifest = json.loads((source / "tagger_manifest.json").read_text(encoding="utf-8"))
    manifest["settings"].update(augment=["swap"], augment_copies=1)
    (source / "tagger_manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    learned = relearn.relearn(str(data), "", source, tmp_path / "out", only=["endings"])
    # the swapped variants are titles of their own that end on a width and a stop: more than the three texts
    assert learned["endings"]["stop"]["kept"] == 0 and learned["endings"]["stop"]["dropped"] > 3
