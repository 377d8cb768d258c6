"""benchmarks/nf4_cpu_quality.py (quality.py --nf4-cpu in a child process): its refusals, and the
clear error without bitsandbytes."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import extractor.models as models
from conftest import load_script

REPO = Path(__file__).resolve().parent.parent
ROOT = Path(__file__).parent / "fixtures" / "benchmarks"


def _load(name: str, file: str):  # type: ignore[no-untyped-def]
    return load_script(f"benchmarks/{file}", name)


nf4 = _load("benchmarks_nf4_cpu_quality", "nf4_cpu_quality.py")
quality = _load("benchmarks_quality_nf4", "quality.py")


@pytest.mark.parametrize("flag", [["--device", "cuda"], ["--device=cpu"]])
def test_it_refuses_a_device(flag: list[str]) -> None:
    with pytest.raises(SystemExit, match="drop --device"):
        nf4.main(["--dataset", "oa-mine", *flag])


def test_it_runs_quality_py_with_nf4_on_the_cpu() -> None:
    argv = ["--dataset", "oa-mine", "--adapter", "adapters/x"]
    assert nf4.command(argv) == [sys.executable, str(REPO / "benchmarks" / "quality.py"), *argv, "--nf4-cpu"]
    args = quality.parse_args([*argv, "--nf4-cpu"])
    assert (args.nf4_cpu, args.quantize) == (True, "4bit")  # the row says 4bit
    with pytest.raises(SystemExit):
        quality.parse_args([*argv, "--nf4-cpu", "--device", "cpu"])


def test_without_bitsandbytes_it_says_what_to_install_and_restores_the_loader(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "bitsandbytes", None)  # an import of it now fails
    loader = models.load_model
    assert quality.main(["--data", str(ROOT), "--dataset", "oa-mine", "--k", "0", "--no-record", "--nf4-cpu"]) == 1
    assert "--quantize 4bit needs bitsandbytes" in capsys.readouterr().err
    assert models.load_model is loader and not models._loaders  # the hook is gone with its block
