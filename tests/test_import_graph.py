"""The import graph's guard rails for the refactor: no new import cycle inside extractor/, benchmarks
that use no new non-public name, a CLI whose --help loads no heavy library and answers within 1 s.

Today's exceptions are listed here (KNOWN_CYCLES, KNOWN_PRIVATE_IMPORTS), each with why; the lists
only shrink: a new entry fails, and so does an entry that no longer exists (remove it from the list
in the commit that removes it, so the list always says what is left to do).

The plain "importing extractor.cli loads no torch" check is tests/test_cli.py's
``test_importing_cli_does_not_import_torch``; here the --help of every command is added to it, in a
fresh interpreter, and timed.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"
HEAVY = ("torch", "transformers", "peft", "matplotlib", "tokenizers", "accelerate", "bitsandbytes", "fastapi",
         "starlette", "uvicorn", "prometheus_client")
"""Libraries that take seconds to import; the CLI imports them inside the commands that need them."""
HELP_SECONDS = 1.0


def _env() -> dict[str, str]:
    """This checkout's extractor first on the path (an editable install may point at another checkout)."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}


# --- the module graph -------------------------------------------------------------------------------

def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_modules(root: Path = ROOT) -> dict[str, Path]:
    """Every module of ROOT/extractor/, by dotted name (a package by its __init__.py)."""
    modules: dict[str, Path] = {}
    for path in sorted((root / "extractor").rglob("*.py")):
        name = module_name(path, root)
        if name not in modules or path.name == "__init__.py":  # a package shadows a module of its name
            modules[name] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING"
            or isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def import_nodes(tree: ast.Module) -> Iterator[tuple[ast.Import | ast.ImportFrom, str]]:
    """Every import statement with its kind: ``top`` (runs when the module is imported, class bodies
    and module-level if/try included), ``lazy`` (inside a function) or ``type`` (under ``if
    TYPE_CHECKING:``, never run, but a dependency of the code's types all the same)."""

    def walk(node: ast.AST, kind: str) -> Iterator[tuple[ast.Import | ast.ImportFrom, str]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                yield child, kind
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                yield from walk(child, "type" if kind == "type" else "lazy")
            elif isinstance(child, ast.If) and _is_type_checking(child.test):
                for stmt in child.body:
                    yield from walk(ast.Module(body=[stmt], type_ignores=[]), "type")
                for stmt in child.orelse:
                    yield from walk(ast.Module(body=[stmt], type_ignores=[]), kind)
            else:
                yield from walk(child, kind)

    yield from walk(tree, "top")


def _targets(node: ast.Import | ast.ImportFrom, importer: str, is_package: bool,
             modules: dict[str, Path]) -> Iterator[str]:
    """The extractor modules an import statement loads (the named submodule, else its package)."""

    def known(dotted: str) -> str | None:
        parts = dotted.split(".")
        while parts and ".".join(parts) not in modules:
            parts.pop()
        return ".".join(parts) or None

    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.name == "extractor" or alias.name.startswith("extractor."):
                if (found := known(alias.name)) is not None:
                    yield found
        return
    if node.level:
        base = importer.split(".") if is_package else importer.split(".")[:-1]
        base = base[:len(base) - (node.level - 1)]
        source = ".".join([*base, node.module] if node.module else base)
    else:
        source = node.module or ""
    if not (source == "extractor" or source.startswith("extractor.")):
        return
    for alias in node.names:
        submodule = f"{source}.{alias.name}"
        found = submodule if submodule in modules else known(source)
        if found is not None:
            yield found


def import_graph(root: Path = ROOT) -> dict[str, dict[str, set[str]]]:
    """importer → imported extractor module → the kinds of import (top, lazy, type) that load it."""
    modules = package_modules(root)
    graph: dict[str, dict[str, set[str]]] = {name: {} for name in modules}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node, kind in import_nodes(tree):
            for target in _targets(node, name, path.name == "__init__.py", modules):
                if target != name:
                    graph[name].setdefault(target, set()).add(kind)
    return graph


def simple_cycles(graph: dict[str, dict[str, set[str]]], limit: int = 10_000) -> list[tuple[str, ...]]:
    """Every elementary cycle, each once, starting at its smallest module name and followed in the
    direction of its imports (enough for a graph this size; stops after ``limit``)."""
    found: list[tuple[str, ...]] = []

    def visit(start: str, path: list[str]) -> None:
        for nxt in sorted(graph.get(path[-1], {})):
            if len(found) >= limit:
                return
            if nxt == start:
                found.append(tuple(path))
            elif nxt > start and nxt not in path:
                visit(start, [*path, nxt])

    for start in sorted(graph):
        visit(start, [start])
    return found


def _describe(cycle: tuple[str, ...], graph: dict[str, dict[str, set[str]]]) -> str:
    steps = zip(cycle, (*cycle[1:], cycle[0]))
    return " ".join(f"{a} -[{'/'.join(sorted(graph[a][b]))}]->" for a, b in steps) + f" {cycle[0]}"


KNOWN_CYCLES: set[tuple[str, ...]] = set()
"""Import cycles inside extractor/ today (module-level, function-level and TYPE_CHECKING imports),
each as its modules from the smallest name on, in import order. The refactor removes them."""


def test_no_new_import_cycle_and_no_known_cycle_left_listed() -> None:
    graph = import_graph()
    assert len(graph) > 20, f"found only {sorted(graph)} under {ROOT / 'extractor'}"
    cycles = simple_cycles(graph)
    new = [_describe(c, graph) for c in sorted((c for c in cycles if c not in KNOWN_CYCLES), key=lambda c: (len(c), c))]
    gone = sorted(" -> ".join(c) for c in KNOWN_CYCLES - set(cycles))
    problems = []
    if new:  # shortest first: one new import often closes many longer cycles through the same edge
        problems.append(f"{len(new)} new import cycle(s) inside extractor/ (kinds: top = module level, lazy = in a "
                        "function, type = under TYPE_CHECKING), shortest first:\n  " + "\n  ".join(new[:10])
                        + (f"\n  ... and {len(new) - 10} more" if len(new) > 10 else ""))
    if gone:
        problems.append("known cycle(s) no longer exist; remove them from KNOWN_CYCLES in "
                        "tests/test_import_graph.py:\n  " + "\n  ".join(gone))
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


def test_cycle_finder_finds_cycles_through_every_kind_of_import(tmp_path: Path) -> None:
    """The finder itself: relative imports at every level, absolute ones, lazy and TYPE_CHECKING
    imports; a name imported from a package is an edge to its __init__, a submodule one to itself."""
    code = {
        "__init__.py": "from .a import A\n",
        "a.py": "from .sub import b\nA = 1\n",
        "sub/__init__.py": "",
        "sub/b.py": "def f():\n    from ..c import C\n",
        "c.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from extractor.a import A\nC = 1\n",
        "d.py": "import extractor.e\n",
        "e.py": "from . import d\nfrom extractor import A\n",
    }
    for name, text in code.items():
        (tmp_path / "extractor" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "extractor" / name).write_text(text)
    graph = import_graph(tmp_path)
    assert graph["extractor.sub.b"] == {"extractor.c": {"lazy"}}
    assert graph["extractor.c"] == {"extractor.a": {"type"}}
    assert graph["extractor.e"] == {"extractor.d": {"top"}, "extractor": {"top"}}
    assert set(simple_cycles(graph)) == {("extractor.a", "extractor.sub.b", "extractor.c"),
                                         ("extractor.d", "extractor.e")}


# --- benchmarks use the public API ----------------------------------------------------------------------

def public_names() -> set[str]:
    import extractor

    return set(extractor.__all__)


def benchmark_imports() -> dict[str, str]:
    """Every use of extractor by benchmarks/**/*.py beyond ``extractor.__all__``: ``<file>: <name>``
    (the dotted module for a module imported whole) → where it is imported from. Keyed by name, not
    module, so that a name whose module moves stays the same entry."""
    public = public_names()
    found: dict[str, str] = {}
    for path in sorted(BENCHMARKS.rglob("*.py")):
        where = path.relative_to(BENCHMARKS).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        aliases = set()  # names bound to the package itself by `import extractor [as x]`
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and (
                    node.module == "extractor" or node.module.startswith("extractor.")):
                for alias in node.names:
                    if node.module != "extractor" or alias.name not in public:
                        found[f"{where}: {alias.name}"] = node.module
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name == "extractor":
                        aliases.add(alias.asname or "extractor")
                    elif alias.name.startswith("extractor."):
                        found[f"{where}: {alias.name}"] = "module"
            elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
                  and isinstance(node.args[0].value, str) and node.args[0].value.startswith("extractor.")
                  and (getattr(node.func, "attr", None) or getattr(node.func, "id", None)) == "import_module"):
                found[f"{where}: {node.args[0].value}"] = "module"
        for node in ast.walk(tree):  # extractor.<name> after `import extractor`
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases
                    and node.attr not in public):
                found[f"{where}: {node.attr}"] = "extractor"
    return found


KNOWN_PRIVATE_IMPORTS: set[str] = set()
"""benchmarks/ uses of extractor beyond ``extractor.__all__`` today (``<file under benchmarks/>:
<name>``). The refactor's benchmarks use the public API only."""


def test_benchmarks_use_no_new_non_public_name() -> None:
    found = benchmark_imports()
    new = sorted(f"{key}  (from {found[key]})" for key in set(found) - KNOWN_PRIVATE_IMPORTS)
    gone = sorted(KNOWN_PRIVATE_IMPORTS - set(found))
    problems = []
    if new:
        problems.append("benchmarks/ uses names that are not in extractor.__all__ (import public names from "
                        "`extractor`, or make the name public):\n  " + "\n  ".join(new))
    if gone:
        problems.append("these non-public uses are gone; remove them from KNOWN_PRIVATE_IMPORTS in "
                        "tests/test_import_graph.py:\n  " + "\n  ".join(gone))
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


# --- the CLI stays light and fast ---------------------------------------------------------------------

HELP_OF_EVERY_COMMAND = """
import contextlib, io, json, sys
import click

def heavy():
    return {m.split(".")[0] for m in sys.modules} & set(HEAVY)

loaded = {m: "import extractor.cli" for m in heavy()}
from extractor.cli import main
loaded.update({m: "import extractor.cli" for m in heavy() - set(loaded)})

def walk(command, path):
    yield path
    if isinstance(command, click.Group):
        for name in sorted(command.commands):
            yield from walk(command.commands[name], [*path, name])

for path in walk(main, []):
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            main([*path, "--help"], prog_name="extractor")
        except SystemExit as exit:
            assert exit.code in (0, None), (path, exit.code)
    loaded.update({m: " ".join(["extractor", *path, "--help"]) for m in heavy() - set(loaded)})
print(json.dumps(loaded, sort_keys=True))
"""


def test_help_of_every_command_imports_no_heavy_library() -> None:
    """Extends tests/test_cli.py::test_importing_cli_does_not_import_torch from the import to the
    --help of every command and subcommand (a group's callback runs before its subcommand's --help,
    and options' defaults and choices are built then)."""
    code = f"HEAVY = {HEAVY!r}\n" + HELP_OF_EVERY_COMMAND
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=_env(), capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout)
    if loaded:
        pytest.fail("heavy libraries loaded by the CLI's help:\n  "
                    + "\n  ".join(f"{module}: first by {where}" for module, where in sorted(loaded.items())),
                    pytrace=False)


def test_extractor_help_takes_under_a_second() -> None:
    """`extractor --help` in a fresh interpreter, best of 3 (the first run may find cold caches, and
    two-core CI machines are noisy)."""
    script = Path(sys.executable).with_name("extractor")
    command = [str(script), "--help"] if script.is_file() else [sys.executable, "-m", "extractor", "--help"]
    times = []
    for _ in range(3):
        start = time.perf_counter()
        done = subprocess.run(command, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=60)
        times.append(time.perf_counter() - start)
        assert done.returncode == 0 and "Usage: extractor" in done.stdout, done.stdout + done.stderr
    if min(times) >= HELP_SECONDS:
        pytest.fail(f"extractor --help took {min(times):.2f} s at best of 3 ({', '.join(f'{t:.2f}' for t in times)} s; "
                    f"the limit is {HELP_SECONDS} s): something imports a heavy library or works at import time",
                    pytrace=False)
