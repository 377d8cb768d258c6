"""benchmarks/tagger.py with a tiny random encoder and a scripted LLM: the tagger and the LLM runs
extract the same offers in one run, and --record writes the comparison block beside the quality row."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from extractor import first_category, load_benchmark, score, shots_for
from extractor.backends.scripted import ScriptedBackend
from extractor.config import ExtractConfig
from extractor.pipeline import Extractor

sys.path.insert(0, str(Path(__file__).parent))
from test_decoding_benchmark import ROOT, reply  # noqa: E402
from test_tagger import build_encoder  # noqa: E402
from conftest import load_script  # noqa: E402

REPO = Path(__file__).resolve().parent.parent

tagger_bench = load_script("benchmarks/tagger.py", "benchmarks_tagger")


@pytest.fixture()
def scripted_quality(monkeypatch: pytest.MonkeyPatch) -> list:
    """The real LLM runs, loading a scripted LLM instead of a model; returns the settings it was asked for."""
    asked: list = []

    def load_llm(benchmark, model, device, settings):  # type: ignore[no-untyped-def]
        asked.append((settings["k"], settings["selection"], settings["adapter"]))
        category = first_category(benchmark)
        return Extractor(ScriptedBackend(reply), benchmark.schemas[category],
                         ExtractConfig(k=settings["k"], selection="first", decoding="free", max_retries=0),
                         shots=shots_for(benchmark, category))

    monkeypatch.setattr(tagger_bench, "load_llm", load_llm)
    monkeypatch.setattr(tagger_bench, "clean_commit", lambda root, allow=(): "abc1234")  # the tree may be dirty
    monkeypatch.setattr("extractor.adapter.trained_settings", lambda adapter: {"k": 0})
    return asked


def tiny_run(tmp_path: Path, bench_file: Path, *extra: str) -> int:
    """One epoch of a tiny random encoder on the fixture AE-110K, recorded to ``bench_file``."""
    encoder = build_encoder(tmp_path / "tiny-bert")
    return tagger_bench.main(["--data", str(ROOT), "--dataset", "ae-110k", "--model", str(encoder), "--epochs", "1",
                              "--window", "32", "--overlap", "8", "--validation-share", "0.34",
                              "--output-dir", str(tmp_path / "tagger"), "--record", "--benchmarks-file", str(bench_file),
                              *extra])


def test_tagger_and_llm_on_the_same_offers_in_one_run(tmp_path: Path, scripted_quality: list,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    bench_file = tmp_path / "BENCHMARKS.md"
    assert tiny_run(tmp_path, bench_file, "--llm-k", "1", "--llm-adapter", "adapters/x") == 0
    # Few-shot with the k asked for; the adapter with its manifest's prompt settings.
    assert scripted_quality == [(1, "similar", None), (0, "similar", "adapters/x")]
    text = bench_file.read_text(encoding="utf-8")
    quality = text.split("## Extraction quality")[1].split("## Tagger speed")[0]
    rows = [line for line in quality.splitlines() if line.startswith("| 20")]
    assert len(rows) == 3 and rows[0].split(" | ")[3].startswith("tagger: ")
    assert all(row.split(" | ")[1] == "abc1234" and " (2) | " in row for row in rows)  # the same two offers
    assert all("`python benchmarks/tagger.py --data" in row and "--record" not in row for row in rows)
    assert " | LLM smollm2-135m + adapters/x (k=0 similar, constrained) | " in rows[2]
    # The scripted LLM reads the lure right and answers the cap with prose (as in test_decoding_benchmark).
    assert [row.split(" | ")[4:7] for row in rows[1:]] == [["66.67", "50.00", "57.14"]] * 2
    speed = [line for line in text.split("## Tagger speed")[1].splitlines() if line.startswith("| 20")]
    assert len(speed) == 1 and speed[0].split(" | ")[3].startswith("tagger: ")
    ratios = [line for line in capsys.readouterr().out.splitlines() if line.startswith("- tagger vs ")]
    assert len(ratios) == 2 and all("x products/s; F1 " in line for line in ratios)
    for name in ("k1", "x"):  # each LLM run's records, one per offer, beside the tagger's
        lines = (tmp_path / "tagger" / f"validation.llm-{name}.records.jsonl").read_text(encoding="utf-8").splitlines()
        assert len(lines) == 2 and all(json.loads(line)["id"] for line in lines)


def test_no_llm_options_no_comparison(tmp_path: Path, scripted_quality: list) -> None:
    assert tiny_run(tmp_path, tmp_path / "B.md") == 0
    assert scripted_quality == []
    text = (tmp_path / "B.md").read_text(encoding="utf-8")
    assert len([line for line in text.splitlines() if line.startswith("| 20")]) == 2  # quality and speed rows


def test_augment_copies_reach_the_training_and_the_recorded_row(tmp_path: Path, scripted_quality: list) -> None:
    assert tiny_run(tmp_path, tmp_path / "B.md", "--augment", "drop", "--augment-copies", "2") == 0
    manifest = json.loads((tmp_path / "tagger" / "tagger_manifest.json").read_text(encoding="utf-8"))
    assert manifest["settings"]["augment"] == ["drop"] and manifest["settings"]["augment_copies"] == 2
    assert "augment=drop augment-copies=2" in (tmp_path / "B.md").read_text(encoding="utf-8")


def test_ensemble_rows_merge_each_llm_run_with_the_tagger(tmp_path: Path, scripted_quality: list) -> None:
    bench_file = tmp_path / "BENCHMARKS.md"
    assert tiny_run(tmp_path, bench_file, "--llm-k", "1", "--llm-adapter", "adapters/x", "--ensemble") == 0
    quality = bench_file.read_text(encoding="utf-8").split("## Tagger speed")[0]
    rows = [line for line in quality.splitlines() if line.startswith("| 20")]
    labels = [row.split(" | ")[3] for row in rows]
    assert len(rows) == 6 and all(label.startswith("ensemble: LLM smollm2-135m") for label in labels[3:5])
    assert labels[5].startswith("ensemble: all 2 LLM runs + tagger")

    def read(suffix: str) -> list[dict]:
        path = tmp_path / "tagger" / f"validation.{suffix}.jsonl"
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]

    tagged = read("records")
    cases = [(read(f"ensemble-{name}.records"), [read(f"llm-{name}.records")]) for name in ("k1", "x")]
    cases.append((read("ensemble-all.records"), [read("llm-k1.records"), read("llm-x.records")]))
    for merged, llm in cases:
        assert len(merged) == 2
        for record, *members in zip(merged, *llm, tagged):
            assert record["provenance"]["decoding"] == "ensemble"
            assert [m["model"] for m in record["provenance"]["members"]] == [m["provenance"]["model"] for m in members]
            for attribute, value in record["attributes"].items():
                # a merged value is one engine's, and null only where every engine's was
                found = [m["attributes"][attribute] for m in members]
                assert value in found and (value is None) == all(v is None for v in found)
    # the F1 cell of each ensemble row is the score of its merged records
    benchmark = load_benchmark("ae-110k", "validation", data_root=str(ROOT))
    for row, (merged, _) in zip(rows[3:], cases):
        assert row.split(" | ")[6] == f"{score(benchmark.gold, merged).exact.micro.f1:.2f}"


def test_recorded_llm_runs_merge_as_the_runs_that_wrote_them(tmp_path: Path, scripted_quality: list) -> None:
    first = tmp_path / "first.md"
    assert tiny_run(tmp_path, first, "--llm-adapter", "adapters/x", "--ensemble") == 0
    folder = tmp_path / "tagger"
    recorded = folder / "validation.llm-x.records.jsonl"
    merged = (folder / "validation.ensemble-x.records.jsonl").read_text(encoding="utf-8")
    again = tmp_path / "again.md"
    assert tagger_bench.main(["--data", str(ROOT), "--dataset", "ae-110k", "--tagger", str(folder), "--ensemble",
                              "--llm-records", str(recorded), "--record", "--benchmarks-file", str(again)]) == 0
    assert len(scripted_quality) == 1  # the LLM ran in the first run only
    assert (folder / "validation.ensemble-x.records.jsonl").read_text(encoding="utf-8") == merged

    def rows(path: Path) -> list[list[str]]:
        quality = path.read_text(encoding="utf-8").split("## Tagger speed")[0]
        return [line.split(" | ") for line in quality.splitlines() if line.startswith("| 20")]

    # the same F1 cells; products/s left blank where the LLM's time is not known
    assert [r[6] for r in rows(again)] == [r[6] for r in rows(first)]
    assert [r[7] for r in rows(again)[1:]] == ["–", "–"] and "recorded: validation.llm-x.records.jsonl" in rows(again)[1][3]


def test_recorded_llm_runs_must_be_the_benchmarks_offers(tmp_path: Path, scripted_quality: list,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert tiny_run(tmp_path, tmp_path / "first.md", "--llm-adapter", "adapters/x") == 0
    folder = tmp_path / "tagger"
    lines = (folder / "validation.llm-x.records.jsonl").read_text(encoding="utf-8").splitlines()
    short = tmp_path / "short.jsonl"
    short.write_text(lines[0] + "\n", encoding="utf-8")
    assert tagger_bench.main(["--data", str(ROOT), "--dataset", "ae-110k", "--tagger", str(folder),
                              "--llm-records", str(short)]) == 1
    assert "are not the 2 offers of" in capsys.readouterr().err
    short.write_text('{"id": "0", "attributes": {}}\n', encoding="utf-8")  # no provenance
    assert tagger_bench.main(["--data", str(ROOT), "--dataset", "ae-110k", "--tagger", str(folder),
                              "--llm-records", str(short)]) == 1
    assert "not a records file this project wrote" in capsys.readouterr().err
