"""Scoring: count NN/NV/VN/VC/VW per (offer, attribute) slot of a benchmark gold file, the way the
WDC-PAVE / ExtractGPT papers do (wbsg-uni-mannheim/ExtractGPT, pieutils/evaluation.py), so our
figures can be set beside theirs.

Rules, each one the papers' unless marked *ours*:

- Only the attributes a gold line lists are slots; an attribute only the prediction has is not
  scored (*ours*: such values are counted in ``Evaluation.unscored``).
- A gold slot is absent when its *first* listed form is ``"n/a"`` (a few slots list ``"n/a"`` beside
  real values; the first decides). Gold forms are whitespace-stripped; predictions are not.
- A prediction is absent when it is null, its key is missing, it is ``"n/a"`` or ``"None"``, or the
  record carries an error (*ours*: the papers fail to parse such an answer and treat it the same).
- VC when the prediction equals one of the gold forms (exact, case-sensitive). Any non-string
  value (number, boolean, list, object) is a value that never equals a gold form, so it counts as
  VW (or NV). The papers' pydantic models only ever produce strings; a list is neither joined nor
  searched, because any rule for it would be a rule the papers never applied.
- Precision = VC/(NV+VC+VW), recall = VC/(VN+VC+VW), in percent rounded to 2 decimals; F1 is the
  harmonic mean of those rounded figures, rounded again.
- *ours*: a second, lenient level compares case-folded, whitespace-collapsed strings; absence is
  decided identically at both levels, so only VC and VW move between them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import EvaluationError

KINDS = ("NN", "NV", "VN", "VC", "VW")
GOLD_ABSENT = "n/a"
PREDICTION_ABSENT = ("n/a", "None")
LEVELS = ("exact", "lenient")


@dataclass(frozen=True)
class GoldOffer:
    """One gold line: the offer's id, category and, per attribute, its correct forms."""

    id: str
    """The line's ``id`` field as a string, or its 0-based line number when it has none."""
    has_id: bool
    """Whether the line carried its own ``id`` (only then are records matched by id)."""
    category: str
    targets: dict[str, tuple[str, ...]]
    """Attribute → correct forms in file order, stripped; ``"n/a"`` kept where it was listed."""

    def absent(self, attribute: str) -> bool:
        return self.targets[attribute][0] == GOLD_ABSENT


@dataclass
class Counts:
    """The five slot counts of one cell (micro, a category, or a category's attribute)."""

    NN: int = 0
    NV: int = 0
    VN: int = 0
    VC: int = 0
    VW: int = 0

    def add(self, kind: str, n: int = 1) -> None:
        setattr(self, kind, getattr(self, kind) + n)

    @property
    def slots(self) -> int:
        return self.NN + self.NV + self.VN + self.VC + self.VW

    @property
    def precision(self) -> float:
        return percent(self.VC, self.NV + self.VC + self.VW)

    @property
    def recall(self) -> float:
        return percent(self.VC, self.VN + self.VC + self.VW)

    @property
    def f1(self) -> float:
        return f1_of(self.precision, self.recall)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {k: getattr(self, k) for k in KINDS}
        out.update(precision=self.precision, recall=self.recall, f1=self.f1)
        return out


def percent(numerator: int, denominator: int) -> float:
    """A share in percent, rounded to 2 decimals as the papers do; 0.0 when nothing to divide."""
    return round(numerator / denominator * 100, 2) if denominator > 0 else 0.0


def f1_of(precision: float, recall: float) -> float:
    """Harmonic mean of percent figures that were already rounded (the papers' order of rounding)."""
    return round(2 * precision * recall / (precision + recall), 2) if precision + recall > 0 else 0.0


@dataclass
class LevelResult:
    """Counts at one comparison level."""

    micro: Counts = field(default_factory=Counts)
    categories: dict[str, Counts] = field(default_factory=dict)
    attributes: dict[tuple[str, str], Counts] = field(default_factory=dict)
    """(category, attribute) → counts; attribute names repeat across categories with other meanings."""

    def add(self, category: str, attribute: str, kind: str) -> None:
        self.micro.add(kind)
        self.categories.setdefault(category, Counts()).add(kind)
        self.attributes.setdefault((category, attribute), Counts()).add(kind)


@dataclass
class Evaluation:
    """Everything the scorer found: both levels plus what was not scored."""

    exact: LevelResult
    lenient: LevelResult
    offers: int
    matched_by: str
    """``id`` or ``order``: how predictions were paired with gold lines."""
    error_records: int
    """Predictions that carry an error (all their slots count as absent)."""
    unscored: dict[str, int]
    """Attribute → number of predicted values for attributes the offer's gold line does not list."""

    def level(self, name: str) -> LevelResult:
        if name not in LEVELS:
            raise ValueError(f"level must be one of {LEVELS}")
        return self.exact if name == "exact" else self.lenient


# --- reading -------------------------------------------------------------------------------

Source = str | Path | Iterable[Mapping[str, Any]]


def read_rows(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a whole JSONL file (``io.read_jsonl``, the one reader of such files), as a list;
    blank lines are skipped (they do not count as offers), a bad line is an EvaluationError."""
    from ..io import read_jsonl as rows_of

    return [row for _, row in rows_of(path, EvaluationError)]


def _rows(source: Source) -> list[dict[str, Any]]:
    if isinstance(source, (str, Path)):
        return read_rows(source)
    rows = list(source)
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise EvaluationError(f"row {i}: must be a mapping, not {type(row).__name__}")
    return [dict(row) for row in rows]


def offer_id(row: Mapping[str, Any], index: int) -> tuple[str, bool]:
    """The id of a benchmark line: its ``id`` field, or its 0-based index among the file's lines.

    The dataset adapters give documents the same ids, so records line up with gold lines."""
    if row.get("id") is not None:
        return str(row["id"]), True
    return str(index), False


def gold_offer(row: Mapping[str, Any], index: int) -> GoldOffer:
    """Parse one benchmark line (``category`` and ``target_scores``) into a GoldOffer."""
    where = f"gold line {index}"
    category = row.get("category")
    if not isinstance(category, str) or not category:
        raise EvaluationError(f"{where}: needs a 'category' string")
    scores = row.get("target_scores")
    if not isinstance(scores, dict):
        raise EvaluationError(f"{where}: needs a 'target_scores' object {{attribute: {{value: ...}}}}")
    targets: dict[str, tuple[str, ...]] = {}
    for attribute, forms in scores.items():
        if not isinstance(forms, dict) or not forms:
            raise EvaluationError(f"{where}: target_scores[{attribute!r}] must be a non-empty object "
                                  "whose keys are the correct forms")
        targets[attribute] = tuple(form.strip() for form in forms)
    identifier, has_id = offer_id(row, index)
    return GoldOffer(id=identifier, has_id=has_id, category=category, targets=targets)


def load_gold(source: Source) -> list[GoldOffer]:
    """Gold offers from a benchmark JSONL path or from already parsed rows."""
    return [gold_offer(row, i) for i, row in enumerate(_rows(source))]


def load_predictions(source: Source) -> list[dict[str, Any]]:
    """Prediction records (``Record.to_dict`` rows) from a JSONL path or a list of dicts."""
    rows = _rows(source)
    for i, row in enumerate(rows):
        attributes = row.get("attributes")
        if row.get("error") is None and not isinstance(attributes, dict):
            raise EvaluationError(f"prediction {i}: needs an 'attributes' object (or an 'error')")
    return rows


# --- pairing -------------------------------------------------------------------------------

def pair(gold: list[GoldOffer], predictions: list[dict[str, Any]],
         subset: bool = False) -> tuple[list[tuple[GoldOffer, dict[str, Any]]], str]:
    """Pair each gold offer with its prediction. Records line up with input lines by position (the
    rule extract, --resume and merge follow), so line order comes first: when the predictions are
    the gold lines' records in order (ids agree wherever both have one; ids need not be unique),
    line k pairs with line k (a gold line without an id is known by its 0-based line number, as
    the dataset adapters name its document). Otherwise by id when every gold line has its own id and every
    prediction has one (then ids must be unique), else the counts must be equal.

    ``subset`` scores only the gold offers that have a prediction (a ``--limit`` run): the first
    lines when the predictions are those lines' records in order, else by id, taking a gold line's
    0-based line number where it has no id of its own (the id the dataset adapters give its
    document)."""
    in_order = len(predictions) <= len(gold) and all(
        p.get("id") is None or str(p["id"]) == g.id for g, p in zip(gold, predictions))
    if in_order and (len(predictions) == len(gold) or subset and predictions):
        return list(zip(gold, predictions)), "order"
    predictions_have_ids = all(p.get("id") is not None for p in predictions)
    if subset and not predictions_have_ids:
        raise EvaluationError("scoring a subset needs an id on every prediction")
    if not subset and not (predictions_have_ids and all(g.has_id for g in gold)):
        if len(gold) != len(predictions):
            raise EvaluationError(f"{len(gold)} gold offers but {len(predictions)} predictions, and without ids "
                                  "on both sides they can only be matched line by line")
        return list(zip(gold, predictions)), "order"
    predicted: dict[str, dict[str, Any]] = {}
    for p in predictions:
        key = str(p["id"])
        if key in predicted:
            raise EvaluationError(f"prediction id {key!r} occurs twice")
        predicted[key] = p
    gold_ids = {g.id for g in gold}
    if len(gold_ids) != len(gold):
        raise EvaluationError("gold ids are not unique")
    unknown = [k for k in predicted if k not in gold_ids]
    if unknown:
        raise EvaluationError(f"{len(unknown)} prediction id(s) are not in the gold file (first: {unknown[0]!r})")
    if subset:
        gold = [g for g in gold if g.id in predicted]
        if not gold:
            raise EvaluationError("no prediction matches a gold offer")
    missing = [g.id for g in gold if g.id not in predicted]
    if missing:
        raise EvaluationError(f"{len(missing)} gold offer(s) have no prediction (first id: {missing[0]!r}); "
                              "pass subset=True (--subset) to score only the predicted offers")
    return [(g, predicted[g.id]) for g in gold], "id"


# --- counting ------------------------------------------------------------------------------

def _fold(text: str) -> str:
    return " ".join(text.split()).casefold()


def prediction_value(record: Mapping[str, Any], attribute: str) -> Any:
    """The record's value for ``attribute``, or None when the papers would call it absent."""
    if record.get("error") is not None:
        return None
    value = (record.get("attributes") or {}).get(attribute)
    if isinstance(value, str) and value in PREDICTION_ABSENT:
        return None
    return value


def classify(forms: tuple[str, ...], value: Any, level: str = "exact") -> str:
    """The kind (NN/NV/VN/VC/VW) of one slot: gold ``forms`` against a prediction ``value``
    already reduced by :func:`prediction_value`."""
    gold_absent = forms[0] == GOLD_ABSENT
    if value is None:
        return "NN" if gold_absent else "VN"
    if gold_absent:
        return "NV"
    if not isinstance(value, str):
        return "VW"
    real = [f for f in forms if f != GOLD_ABSENT]
    if level == "lenient":
        return "VC" if _fold(value) in {_fold(f) for f in real} else "VW"
    return "VC" if value in real else "VW"


def score(gold: Sequence[GoldOffer], predictions: Sequence[Mapping[str, Any]], subset: bool = False) -> Evaluation:
    """Score prediction records against gold offers at both levels (see the module docstring)."""
    if not gold:
        raise EvaluationError("the gold file has no offers")
    pairs, matched_by = pair(list(gold), load_predictions(predictions), subset=subset)
    exact, lenient = LevelResult(), LevelResult()
    unscored: dict[str, int] = {}
    errors = 0
    for offer, record in pairs:
        errors += record.get("error") is not None
        for attribute, forms in offer.targets.items():
            value = prediction_value(record, attribute)
            exact.add(offer.category, attribute, classify(forms, value, "exact"))
            lenient.add(offer.category, attribute, classify(forms, value, "lenient"))
        for attribute in (record.get("attributes") or {}):
            if attribute not in offer.targets and prediction_value(record, attribute) is not None:
                unscored[attribute] = unscored.get(attribute, 0) + 1
    return Evaluation(exact=exact, lenient=lenient, offers=len(pairs), matched_by=matched_by,
                      error_records=errors, unscored=dict(sorted(unscored.items())))


def evaluate_files(gold_path: str | Path, pred_path: str | Path, subset: bool = False) -> Evaluation:
    """Score a predictions JSONL file against a benchmark gold JSONL file."""
    return score(load_gold(gold_path), load_predictions(pred_path), subset=subset)
