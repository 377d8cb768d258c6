"""benchmarks/learning_curve.py: the points and their nested seeded subsets, the overtake point, the
silver point's records, the recorded rows, and one tiny curve end to end (a random 2-layer BERT on
the fixture AE-110K, with silver records, a plot, JSON and BENCHMARKS rows)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from extractor import ConfigError, Document, Provenance, Record, write_records

sys.path.insert(0, str(Path(__file__).parent))
from test_tagger import build_encoder  # noqa: E402
from conftest import load_script  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
ROOT = Path(__file__).parent / "fixtures" / "benchmarks"

curve = load_script("benchmarks/learning_curve.py", "benchmarks_learning_curve")


@pytest.mark.parametrize("text, points", [
    ("25,50,100,200,400,all", [25, 50, 100, 200, 400, None]),
    ("3", [3]),
    ("all", [None]),
    (" 1, 2 ,all", [1, 2, None]),
])
def test_points_parse(text: str, points: list) -> None:
    assert curve.parse_points(text) == points


@pytest.mark.parametrize("text", ["50,25", "25,25", "0,5", "all,25", "25,x", ""])
def test_points_refused(text: str) -> None:
    with pytest.raises(ConfigError):
        curve.parse_points(text)


def test_subsets_are_nested_seeded_and_in_file_order() -> None:
    order = curve.draw(1000, seed=0)
    subsets = [curve.subset(order, size) for size in (25, 50, 100, 200, 400, None)]
    assert [len(s) for s in subsets] == [25, 50, 100, 200, 400, 1000]
    for small, large in zip(subsets, subsets[1:]):
        assert set(small) < set(large)
    assert all(s == sorted(s) for s in subsets)
    assert subsets[-1] == list(range(1000))
    assert curve.draw(1000, seed=0) == order  # drawn again: the same offers
    assert curve.subset(curve.draw(1000, seed=1), 25) != subsets[0]
    assert subsets[0] != list(range(25))  # random, not the first lines
    with pytest.raises(ConfigError, match="use 'all'"):
        curve.subset(order, 1000)


def point(gold: int, f1: float) -> Any:
    return curve.Point(name=str(gold), gold=gold, texts=gold, epochs=12, precision=f1, recall=f1, f1=f1,
                       train_seconds=1.0, per_second=1.0)


@pytest.mark.parametrize("f1s, llm, expected", [
    ([10.0, 20.0, 30.0], 15.0, 50),
    ([10.0, 20.0, 30.0], 5.0, 25),
    ([10.0, 20.0, 30.0], 30.0, None),  # equal is not above
    ([10.0, 20.0, 30.0], 31.0, None),
    ([10.0, 40.0, 20.0], 30.0, 50),  # not monotone: the first point above
    ([50.0, 10.0, 60.0], 55.0, 100),
])
def test_overtake_is_the_fewest_labels_above_the_llm(f1s: list[float], llm: float, expected: int | None) -> None:
    points = [point(gold, f1) for gold, f1 in zip((25, 50, 100), f1s)]
    first = curve.overtake(points, llm)
    assert (first.gold if first else None) == expected
    line = curve.verdict(points, llm)
    assert (f"at {expected} labels" in line) if expected else ("does not overtake" in line and "within" in line)


@pytest.mark.parametrize("texts, epochs, min_steps, expected", [
    (25, 12, 0, 12),  # no minimum: the configured epochs
    (25, 12, 100, 50),  # 2 steps an epoch (batch 16): 50 epochs for 100 steps
    (1000, 12, 100, 12),  # 63 steps an epoch: the configured epochs already take more
    (16, 3, 10, 10),
    (17, 3, 10, 5),
])
def test_epochs_for_a_minimum_of_steps(texts: int, epochs: int, min_steps: int, expected: int) -> None:
    assert curve.epochs_for(texts, curve.TrainConfig(epochs=epochs, batch_size=16), min_steps) == expected


def test_silver_records_align_by_position_with_either_id() -> None:
    documents = [Document(id=str(i), text=f"text {i}", category="c") for i in range(3)]
    prov = Provenance(model="m", adapter=None, prompt="p", schema="c", decoding="constrained")
    by_line = [Record(id=str(n), attributes={}, provenance=prov) for n in (1, 2, 3)]  # extract: 1-based lines
    assert [r.id for r in curve.aligned_records(documents, by_line)] == ["0", "1", "2"]
    own = [Record(id=str(i), attributes={}, provenance=prov) for i in range(3)]  # the benchmark's ids
    assert [r.id for r in curve.aligned_records(documents, own)] == ["0", "1", "2"]
    with pytest.raises(ConfigError, match="line 2"):
        curve.aligned_records(documents, [own[0], own[2], own[1]])
    with pytest.raises(ConfigError, match="2 records"):
        curve.aligned_records(documents, own[:2])


def test_record_rows_one_per_point_command_on_the_first(tmp_path: Path) -> None:
    path = tmp_path / "BENCHMARKS.md"
    path.write_text("# Benchmarks\n\n## Serving\n\n| a |\n|---|\n| 1 |\n", encoding="utf-8")
    points = [point(25, 40.0), point(50, 55.5)]
    curve.record_rows(path, points, dataset="ae-110k/validation (261)", tagger="minilm-l6, epochs=12", commit="abc1234",
                      date="2026-12-02", command="python benchmarks/learning_curve.py --dataset ae-110k")
    text = path.read_text(encoding="utf-8")
    area = text.split(curve.SECTION)[1]
    assert "| 1 |" in text.split(curve.SECTION)[0] and curve.INTRO in area and curve.HEADER in area
    rows = [line for line in area.splitlines() if line.startswith("| 2026")]
    assert [row.split(" | ")[4:9] for row in rows] == [["25", "25", "25", "12", "40.00"],
                                                       ["50", "50", "50", "12", "55.50"]]
    assert rows[0].endswith("| `python benchmarks/learning_curve.py --dataset ae-110k` |")
    assert rows[1].endswith("| the same |") and " | the same | 50 | " in rows[1]


def test_replot_draws_the_latest_recorded_point_of_each_size_and_the_silver_one(tmp_path: Path) -> None:
    """Rows of two runs with the same settings (the later one repeats 50 and adds a silver point), a
    run with other settings and another dataset: the plot takes the later 50, the silver point,
    and nothing of the others."""
    path = tmp_path / "BENCHMARKS.md"
    same = "minilm-l6, epochs=12 seed=1"
    record = dict(commit="abc1234", date="2026-12-02", command="python benchmarks/learning_curve.py")
    curve.record_rows(path, [point(25, 40.0), point(50, 55.5), point(1307, 85.6)],
                      dataset="ae-110k/validation (261)", tagger=same, **record)
    curve.record_rows(path, [point(25, 99.0)], dataset="oa-mine/validation (245)", tagger=same, **record)
    silver = curve.Point(name="50 + silver", gold=50, texts=1307, epochs=12, precision=80.0, recall=70.0, f1=75.75,
                         train_seconds=399, per_second=216.9)
    curve.record_rows(path, [point(50, 56.0), silver], dataset="ae-110k/validation (261)", tagger=same, **record)
    curve.record_rows(path, [point(25, 10.0)], dataset="ae-110k/validation (261)", tagger="mpnet, epochs=6", **record)
    curve.record_rows(path, [point(50, 56.0)], dataset="ae-110k/validation (261)", tagger=same, **record)

    points, got_silver, rows_of = curve.recorded_points(path, "ae-110k")
    assert [(p.gold, p.f1) for p in points] == [(25, 40.0), (50, 56.0), (1307, 85.6)]
    assert got_silver is not None and (got_silver.gold, got_silver.f1, got_silver.texts) == (50, 75.75, 1307)
    assert rows_of == "ae-110k/validation (261)"
    with pytest.raises(ConfigError, match="wdc-pave"):
        curve.recorded_points(path, "wdc-pave")

    pytest.importorskip("matplotlib")
    png = tmp_path / "curve.png"
    assert curve.main(["--dataset", "ae-110k", "--replot", "--llm-f1", "72.34", "--plot", str(png),
                       "--benchmarks-file", str(path)]) == 0
    assert png.read_bytes().startswith(b"\x89PNG")


def test_replot_needs_a_plot_and_records_nothing() -> None:
    for argv in (["--dataset", "ae-110k", "--replot"], ["--dataset", "ae-110k", "--replot", "--plot", "x.png", "--record"]):
        with pytest.raises(SystemExit):
            curve.parse_args(argv)


def test_a_tiny_curve_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    torch.set_num_threads(1)  # tiny matrices: more threads only add overhead
    trained: list[Any] = []
    real_train = curve.train_tagger

    def spy(data, folder, **kw):  # type: ignore[no-untyped-def]
        trained.append(data)
        return real_train(data, folder, **kw)

    monkeypatch.setattr(curve, "train_tagger", spy)
    monkeypatch.setattr(curve, "clean_commit", lambda root, allow=(): "abc1234")  # the tree may be dirty
    prov = Provenance(model="teacher", adapter=None, prompt="p", schema="s", decoding="constrained")
    silver = tmp_path / "train.records.jsonl"  # as `extract` writes it: ids are 1-based line numbers
    write_records(silver, [
        Record(id="1", attributes={"Brand Name": "REELMAX", "Length": "7cm", "Weight": None, "Model Number": None},
               provenance=prov),
        Record(id="2", attributes={"Brand Name": None, "Length": "10cm", "Weight": None}, provenance=prov),
        Record(id="3", attributes={"Style": "Snapback", "Gender": None}, provenance=prov)])
    encoder = build_encoder(tmp_path / "tiny-bert")
    bench_file, plot, out = tmp_path / "BENCHMARKS.md", tmp_path / "docs" / "curve.png", tmp_path / "curve.json"
    assert curve.main(["--data", str(ROOT), "--dataset", "ae-110k", "--points", "1,2,all", "--model", str(encoder),
                       "--epochs", "1", "--window", "32", "--overlap", "8", "--validation-share", "0", "--seed", "0",
                       "--device", "cpu", "--llm-f1=-1", "--silver", str(silver), "--silver-gold", "1",
                       "--plot", str(plot), "--json", str(out), "--record", "--benchmarks-file", str(bench_file),
                       "--output-dir", str(tmp_path / "taggers")]) == 0

    # Three nested gold subsets of the seed's draw, then the silver point: its one gold offer, the rest silver.
    ids = [[d.id for d in data.documents] for data in trained]
    kept = str(curve.draw(3, seed=0)[0])
    assert ids[:3] == [[kept], sorted({kept, str(curve.draw(3, seed=0)[1])}), ["0", "1", "2"]]
    assert ids[3][0] == kept and sorted(ids[3]) == ["0", "1", "2"]
    assert trained[3].gold[0].targets == trained[2].gold[int(kept)].targets  # the kept offer's gold
    silver_targets = {g.id: g.targets for g in trained[3].gold[1:]}
    assert set(silver_targets) == {"0", "1", "2"} - {kept}
    expected = {  # the records' values, not the gold's (the cap's gold Gender is "Men Women")
        "0": {"Brand Name": ("REELMAX",), "Length": ("7cm",), "Weight": ("n/a",), "Model Number": ("n/a",)},
        "1": {"Brand Name": ("n/a",), "Length": ("10cm",), "Weight": ("n/a",), "Model Number": ("n/a",)},
        "2": {"Style": ("Snapback",), "Gender": ("n/a",)}}
    assert silver_targets == {i: expected[i] for i in silver_targets}

    result = json.loads(out.read_text(encoding="utf-8"))
    assert [(p["name"], p["gold"], p["texts"]) for p in result["points"]] == [("1", 1, 1), ("2", 2, 2), ("all", 3, 3)]
    assert (result["silver"]["name"], result["silver"]["gold"], result["silver"]["texts"]) == ("1 + silver", 1, 3)
    assert result["overtakes_at"] == 1 and result["offers"] == 2  # every F1 >= 0 is above -1
    assert all(0 <= p["f1"] <= 100 and p["train_seconds"] > 0 and p["per_second"] > 0 and p["epochs"] == 1
               for p in result["points"])
    printed = capsys.readouterr().out
    assert "overtakes few-shot prompting (F1 -1.00) at 1 labels" in printed
    assert "| 1 + silver | 1 | 3 |" in printed
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = [line for line in bench_file.read_text(encoding="utf-8").split(curve.SECTION)[1].splitlines()
            if line.startswith("| 20")]
    assert [row.split(" | ")[4] for row in rows] == ["1", "2", "all", "1 + silver"]
    assert " | abc1234 | ae-110k/validation (2) | " in rows[0] and "epochs=1 " in rows[0]
    assert "`python benchmarks/learning_curve.py --data" in rows[0] and "--record" not in rows[0]
    assert all(row.endswith("| the same |") for row in rows[1:])
    assert (tmp_path / "taggers" / "all" / "tagger_manifest.json").is_file()
