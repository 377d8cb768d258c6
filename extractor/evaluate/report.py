"""Reporting an Evaluation: a terminal table, a JSON-ready dict, and a per-attribute F1 bar chart
(matplotlib is imported only when a plot is asked for)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import EvaluationError
from .scorer import KINDS, LEVELS, Counts, Evaluation, LevelResult


def level_to_dict(level: LevelResult) -> dict[str, Any]:
    return {
        "micro": level.micro.to_dict(),
        "categories": {category: counts.to_dict() for category, counts in level.categories.items()},
        "attributes": [{"category": category, "attribute": attribute, **counts.to_dict()}
                       for (category, attribute), counts in level.attributes.items()],
    }


def evaluation_to_dict(evaluation: Evaluation) -> dict[str, Any]:
    """The machine-readable report (``extractor evaluate --json``)."""
    return {
        "offers": evaluation.offers,
        "slots": evaluation.exact.micro.slots,
        "matched_by": evaluation.matched_by,
        "error_records": evaluation.error_records,
        "unscored": dict(evaluation.unscored),
        **{name: level_to_dict(evaluation.level(name)) for name in LEVELS},
    }


def _head(cell: int) -> str:
    return "".join(f"{k:>{cell}}" for k in KINDS) + f"{'P':>8}{'R':>8}{'F1':>8}"


def _row(label: str, width: int, counts: Counts, cell: int) -> str:
    cells = "".join(f"{getattr(counts, k):>{cell}}" for k in KINDS)
    return f"{label:<{width}}{cells}{counts.precision:>8.2f}{counts.recall:>8.2f}{counts.f1:>8.2f}"


def format_report(evaluation: Evaluation) -> str:
    """The terminal report: micro figures at both levels, then per category and per attribute
    (exact counts, with the lenient F1 beside them as ``F1~``)."""
    exact, lenient = evaluation.exact, evaluation.lenient
    error_share = evaluation.error_records / evaluation.offers * 100 if evaluation.offers else 0.0
    lines = [f"{evaluation.offers} offers matched by {evaluation.matched_by}, {exact.micro.slots} slots scored; "
             f"{evaluation.error_records} error record(s) ({error_share:.2f}%)", ""]
    # count columns as wide as the largest count (micro holds the largest) and two spaces, at least 6
    cell = max(6, 2 + max(len(str(getattr(level.micro, k))) for level in (exact, lenient) for k in KINDS))
    lines += [f"{'micro':<10}{_head(cell)}", _row("exact", 10, exact.micro, cell),
              _row("lenient", 10, lenient.micro, cell), ""]

    width = max([len("category")] + [len(c) for c in exact.categories]) + 2
    lines.append(f"{'category':<{width}}{_head(cell)}{'F1~':>8}")
    for category, counts in exact.categories.items():
        lines.append(_row(category, width, counts, cell) + f"{lenient.categories[category].f1:>8.2f}")
    lines.append("")

    labels = {key: f"{key[0]} / {key[1]}" for key in exact.attributes}
    width = max([len("category / attribute")] + [len(v) for v in labels.values()]) + 2
    lines.append(f"{'category / attribute':<{width}}{_head(cell)}{'F1~':>8}")
    for key, counts in exact.attributes.items():
        lines.append(_row(labels[key], width, counts, cell) + f"{lenient.attributes[key].f1:>8.2f}")

    if evaluation.unscored:
        listed = ", ".join(f"{name} ({n})" for name, n in evaluation.unscored.items())
        lines += ["", f"not scored (values for attributes the gold line does not list): {listed}"]
    return "\n".join(lines)


def plot_attribute_f1(evaluation: Evaluation, path: str | Path) -> Path:
    """Write a horizontal bar chart of per-attribute F1 (exact, with lenient behind it) to ``path``."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise EvaluationError("--plot needs matplotlib: pip install 'extractor[plot]'") from exc
    keys = list(evaluation.exact.attributes)
    labels = [f"{category} / {attribute}" for category, attribute in keys]
    exact = [evaluation.exact.attributes[k].f1 for k in keys]
    lenient = [evaluation.lenient.attributes[k].f1 for k in keys]
    # Figure + Agg canvas rather than pyplot: no global backend switch inside a library call.
    figure = Figure(figsize=(8, 1.0 + 0.28 * len(keys)))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    positions = list(range(len(keys)))[::-1]
    axes.barh(positions, lenient, color="#c6dbef", label="lenient")
    axes.barh(positions, exact, color="#2171b5", height=0.5, label="exact")
    axes.axvline(evaluation.exact.micro.f1, color="black", linewidth=1,
                 label=f"micro F1 {evaluation.exact.micro.f1:.2f}")
    axes.set_yticks(positions)
    axes.set_yticklabels(labels, fontsize=8)
    axes.set_xlim(0, 100)
    axes.set_xlabel("F1 (%)")
    axes.legend(loc="lower right", fontsize=8)
    figure.tight_layout()
    path = Path(path)
    try:
        figure.savefig(path, dpi=120)
    except OSError as exc:
        raise EvaluationError(f"cannot write plot {path}: {exc}") from exc
    return path
