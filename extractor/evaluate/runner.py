"""Running an engine over a public benchmark split, and recording the result in BENCHMARKS.md: what
``benchmarks/quality.py``, ``tagger.py`` and ``decoding.py`` share.

:func:`run_quality` extracts every offer of a :class:`~extractor.evaluate.datasets.Benchmark`
(category by category, each under its own schema and demonstrations) and scores the records;
:func:`benchmark_extractor` loads an LLM Extractor for a benchmark (with :func:`prompt_settings`, an
adapter's trained settings). BENCHMARKS.md is a results page, one table per area (``## <area>``),
one row per measurement with its date, clean commit (:func:`clean_commit`), command
(:func:`recorded_command`) and figures: :func:`append_table_row` adds a row to an area's table,
:func:`quality_row` and :func:`append_quality_row` are the "Extraction quality" area's."""

from __future__ import annotations

import re
import shlex
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..demos import Shot
from ..errors import ExtractorError
from ..records import Record
from .datasets import Benchmark
from .scorer import Evaluation, score

if TYPE_CHECKING:
    from ..pipeline import Extractor

QUALITY_SECTION = "## Extraction quality"
QUALITY_TABLE_HEADER = "| date | commit | dataset (offers) | configuration | P | R | F1 | products/s | command |"
QUALITY_TABLE_RULE = "|---|---|---|---|---:|---:|---:|---:|---|"
BENCHMARKS_FILE_INTRO = """# Benchmarks

One table per area. Each row: the date it was measured, the commit whose code measured it, the command
that reproduces it, and the figures. P / R / F1: micro, exact match, in percent.
"""
"""The start of a new BENCHMARKS.md, before its first area."""


@dataclass
class QualityRun:
    """One benchmark run: the records (in the benchmark's order), their scores and the time taken."""

    benchmark: Benchmark
    records: list[Record]
    evaluation: Evaluation
    seconds: float

    @property
    def valid_percent(self) -> float:
        return 100.0 * sum(r.error is None for r in self.records) / len(self.records) if self.records else 0.0

    @property
    def per_second(self) -> float:
        return len(self.records) / self.seconds if self.seconds > 0 else 0.0


# --- running ---------------------------------------------------------------------------------------

def shots_for(benchmark: Benchmark, category: str) -> list[Shot]:
    """The demonstrations of ``category``: its pool from the benchmark's train split."""
    return [Shot(text=d["text"], record=d["record"]) for d in benchmark.pools[category]]


def first_category(benchmark: Benchmark) -> str:
    """The category of the benchmark's first offer (the one an engine is loaded with)."""
    return benchmark.documents[0].category or ""


def extract_benchmark(base: Any, benchmark: Benchmark) -> tuple[list[Record], float]:
    """Records for every offer, in benchmark order, and the seconds extraction took.

    ``base`` is an engine with ``schema``, ``with_schema(schema, shots=...)`` and
    ``extract_documents`` (an Extractor, a TaggerExtractor). Offers are grouped by category so each
    group runs under its own schema and demonstrations; ``base`` is reused as is for the category
    whose schema it already carries."""
    by_category: dict[str, list[int]] = {}
    for index, document in enumerate(benchmark.documents):
        by_category.setdefault(document.category or "", []).append(index)
    records: list[Record | None] = [None] * len(benchmark.documents)
    start = time.perf_counter()
    for category, indices in by_category.items():
        schema = benchmark.schemas[category]
        extractor = base if base.schema.id == schema.id else base.with_schema(schema, shots=shots_for(benchmark, category))
        documents = [benchmark.documents[i] for i in indices]
        for index, record in zip(indices, extractor.extract_documents(documents)):
            records[index] = record
    seconds = time.perf_counter() - start
    missing = [benchmark.documents[i].id for i, r in enumerate(records) if r is None]
    if missing:
        raise ExtractorError(f"the pipeline returned no record for {len(missing)} offer(s) (first id {missing[0]!r})")
    return records, seconds  # type: ignore[return-value]


def run_quality(base: Any, benchmark: Benchmark) -> QualityRun:
    """Extract ``benchmark`` with ``base`` (and its per-category siblings) and score the records."""
    records, seconds = extract_benchmark(base, benchmark)
    evaluation = score(benchmark.gold, [r.to_dict() for r in records])
    return QualityRun(benchmark=benchmark, records=records, evaluation=evaluation, seconds=seconds)


def prompt_settings(adapter: str | None = None, *, k: int | None = None, selection: str | None = None,
                    null_bias: float | None = None) -> dict[str, Any]:
    """The prompt and decoding settings left unset (None) filled in: an adapter's trained (or
    calibrated) ones, else the library defaults (k 3, similar selection, null bias 0), so a tuned
    adapter is scored as it was trained and validated. Returns ``k``, ``selection``, ``null_bias``
    and the adapter's truncation (``max_text_tokens``, ``max_shot_tokens``) where it has one."""
    from ..adapter import trained_settings

    trained = trained_settings(adapter) if adapter else {}
    return {"k": trained.get("k", 3) if k is None else k,
            "selection": trained.get("selection", "similar") if selection is None else selection,
            "null_bias": trained.get("null_bias", 0.0) if null_bias is None else null_bias,
            **{key: trained[key] for key in ("max_text_tokens", "max_shot_tokens") if key in trained}}


def benchmark_extractor(benchmark: Benchmark, model: str, **options: Any) -> Extractor:
    """``Extractor.from_pretrained(model, **options)`` with the schema and demonstrations of the
    benchmark's first category (the model is loaded once; :func:`run_quality` derives the other
    categories' Extractors from it)."""
    from ..pipeline import Extractor

    category = first_category(benchmark)
    return Extractor.from_pretrained(model, schema=benchmark.schemas[category], shots=shots_for(benchmark, category),
                                     **options)


# --- recording -------------------------------------------------------------------------------------

def git_commit(root: str | Path = ".") -> str:
    """Short hash of HEAD in ``root``, ``+dirty`` when tracked files changed; ``uncommitted`` without a commit."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "uncommitted"
    return head + ("+dirty" if changed_files(root) else "")


def changed_files(root: str | Path = ".") -> list[str]:
    """Tracked files of the work tree in ``root`` that differ from HEAD (paths relative to the root)."""
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                            capture_output=True, text=True).stdout
    return [line[3:].split(" -> ")[-1] for line in status.splitlines() if line.strip()]


def clean_commit(root: str | Path = ".", allow: tuple[str | Path, ...] = ()) -> str:
    """Short hash of HEAD in ``root``, for a row of BENCHMARKS.md; an :class:`ExtractorError` when tracked
    files other than ``allow`` (the benchmarks file itself) changed, since a figure measured on
    uncommitted code names no commit that reproduces it. Call it before the run: the run measures
    the code it imported then."""
    root = Path(root).resolve()
    allowed = set()
    for path in allow:
        path = Path(path).resolve()
        allowed.add(path.relative_to(root).as_posix() if path.is_relative_to(root) else path.as_posix())
    changed = [name for name in changed_files(root) if name not in allowed]
    commit = git_commit(root)
    if commit == "uncommitted":
        raise ExtractorError(f"{root} is not a git checkout with a commit: --record needs one")
    if changed:
        listed = ", ".join(changed[:5]) + (f" and {len(changed) - 5} more" if len(changed) > 5 else "")
        raise ExtractorError(f"--record needs a clean work tree (changed: {listed}); commit first, so that the "
                             "row names the code that measured it")
    return commit.removesuffix("+dirty")


def recorded_command(script: str, argv: list[str]) -> str:
    """The command line a BENCHMARKS.md row gives: ``python <script>`` and ``argv`` without the
    recording options (``--record``, ``--no-record``, ``--benchmarks-file``)."""
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in ("--record", "--no-record"):
            pass
        elif arg == "--benchmarks-file":
            skip = True
        elif not arg.startswith("--benchmarks-file="):
            kept.append(arg)
    return shlex.join(["python", script, *kept])


def peak_rss_gb() -> float:
    """Peak resident memory of this process so far, in GB (Linux reports ru_maxrss in KiB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2


def slug(text: str) -> str:
    """``text`` as a file-name part: runs of anything but letters, digits, ``.``, ``_`` and ``-`` become ``-``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def quality_row(run: QualityRun, model: str, settings: str, commit: str, date: str, command: str = "") -> str:
    """The "Extraction quality" table's row for ``run``: the configuration is ``model`` and ``settings``;
    products/s is "–" for a run that was read, not timed (recorded records, a merge)."""
    micro = run.evaluation.exact.micro
    bench = run.benchmark
    configuration = f"{model}, {settings}" if settings else model
    cells = [date, commit, f"{bench.name}/{bench.split} ({len(run.records)})", configuration,
             f"{micro.precision:.2f}", f"{micro.recall:.2f}", f"{micro.f1:.2f}",
             f"{run.per_second:.2f}" if run.seconds > 0 else "–",
             f"`{command}`" if command else "–"]
    return table_row(cells)


def table_row(cells: list[str]) -> str:
    """A markdown table row of ``cells`` (``|`` in a cell escaped)."""
    return "| " + " | ".join(_cell(c) for c in cells) + " |"


def append_quality_row(path: Path, row: str) -> None:
    """Add ``row`` at the end of the "Extraction quality" table in ``path`` (creating what is missing)."""
    append_table_row(path, QUALITY_SECTION, QUALITY_TABLE_HEADER, QUALITY_TABLE_RULE, row)


def append_table_row(path: Path, section: str, header: str, rule: str, row: str, intro: str = "") -> None:
    """Add ``row`` at the end of the table headed ``header`` in the ``section`` heading's area of ``path``.

    Whatever is missing is made: the file (:data:`BENCHMARKS_FILE_INTRO`), the area (at the end of the
    file, with ``intro``), the table (at the end of the area). Other areas and tables stay as they are."""
    text = path.read_text(encoding="utf-8") if path.is_file() else BENCHMARKS_FILE_INTRO
    lines = text.rstrip("\n").splitlines()
    if section not in lines:
        lines += ["", section, ""] + ([*intro.splitlines(), ""] if intro else [])
        lines += [header, rule, row]
    else:
        start = lines.index(section) + 1
        end = start
        while end < len(lines) and not lines[end].startswith("## "):
            end += 1
        if header in lines[start:end]:
            at = lines.index(header, start) + 1
            while at < len(lines) and lines[at].startswith("|"):
                at += 1
            lines.insert(at, row)
        else:
            while end > start and not lines[end - 1].strip():
                end -= 1
            lines[end:end] = ["", header, rule, row]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
