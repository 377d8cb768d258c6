"""benchmarks/nf4_cpu_quality.py: its refusals, and the clear error without bitsandbytes."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

import extractor.models as models

REPO = Path(__file__).resolve().parent.parent
ROOT = Path(__file__).parent / "fixtures" / "benchmarks"

spec = importlib.util.spec_from_file_location("benchmarks_nf4_cpu_quality", REPO / "benchmarks" / "nf4_cpu_quality.py")
nf4 = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
spec.loader.exec_module(nf4)  # type: ignore[union-attr]


@pytest.mark.parametrize("flag", [["--device", "cuda"], ["--device=cpu"]])
def test_it_refuses_a_device(flag: list[str]) -> None:
    with pytest.raises(SystemExit, match="drop --device"):
        nf4.main(["--dataset", "oa-mine", *flag])


def test_without_bitsandbytes_it_says_what_to_install_and_restores_the_loader(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "bitsandbytes", None)  # an import of it now fails
    loader = models.load_model
    assert nf4.main(["--data", str(ROOT), "--dataset", "oa-mine", "--k", "0", "--no-record"]) == 1
    assert "--quantize 4bit needs bitsandbytes" in capsys.readouterr().err
    assert models.load_model is loader
