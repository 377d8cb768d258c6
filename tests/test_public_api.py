"""extractor's public API (``extractor.__all__``): every name resolves, ``import extractor`` stays
light (the heavy modules load on first use), and benchmarks/ imports extractor's names from it."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import extractor

REPO = Path(__file__).resolve().parent.parent


def test_every_public_name_resolves_and_is_listed_once() -> None:
    assert len(extractor.__all__) == len(set(extractor.__all__)) and extractor.__all__ == sorted(extractor.__all__)
    for name in extractor.__all__:
        assert getattr(extractor, name) is not None, name
    assert set(extractor.__all__) <= set(dir(extractor))


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        extractor.nope  # noqa: B018


def test_the_lazy_names_are_the_library_objects() -> None:
    from extractor.evaluate.scorer import score
    from extractor.pipeline import Extractor
    from extractor.spec import EngineSpec, build_engine

    assert (extractor.Extractor, extractor.EngineSpec, extractor.build_engine, extractor.score) == (
        Extractor, EngineSpec, build_engine, score)


def test_import_extractor_loads_no_model_code() -> None:
    code = ("import sys, extractor; heavy = [m for m in ('torch', 'transformers', 'peft', 'extractor.pipeline', "
            "'extractor.tagger') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "[]"


def test_benchmarks_take_extractor_names_from_the_public_api() -> None:
    """`from extractor import X` in benchmarks/ names only public names (what else they import
    from extractor's modules is listed, with the reason, in each script)."""
    for script in sorted((REPO / "benchmarks").glob("*.py")):
        for node in ast.walk(ast.parse(script.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module == "extractor":
                missing = {alias.name for alias in node.names} - set(extractor.__all__)
                assert not missing, f"{script.name} imports {missing} from extractor, which __all__ lacks"
