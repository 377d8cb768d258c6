"""Benchmark evaluation: the papers' NN/NV/VN/VC/VW scorer, its reports, and the adapters that
read the WDC-PAVE, OA-Mine and AE-110K layouts."""

from __future__ import annotations

from .scorer import Counts, Evaluation, GoldOffer, LevelResult, evaluate_files, load_gold, load_predictions, score

__all__ = ["Counts", "Evaluation", "GoldOffer", "LevelResult", "evaluate_files", "load_gold", "load_predictions",
           "score"]
