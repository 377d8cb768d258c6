"""Token probabilities (extractor/tagger/probabilities.py): projecting one tokenizer's per-token
probabilities onto another's cuts of the same text. Averaging whole taggers is tested with the
engine in test_tagger.py."""

from __future__ import annotations

import pytest

from extractor.tagger.data import Tokens
from extractor.tagger.probabilities import project


@pytest.mark.parametrize("source, target, rows", [
    ([(0, 4), (5, 12)], [(0, 4), (5, 12)], [0, 1]),                 # the same cuts: unchanged
    ([(0, 4), (5, 12)], [(0, 4), (5, 8), (8, 12)], [0, 1, "I1"]),   # a word in two pieces: B then I
    ([(0, 4), (5, 8), (8, 12)], [(0, 4), (5, 12)], [0, 1]),         # two pieces as one: the first's
    ([(0, 4), (6, 9)], [(0, 4), (5, 6), (6, 9)], [0, 1, 1]),        # a character the source skipped
])
def test_project_maps_probabilities_by_characters(source: list[tuple[int, int]], target: list[tuple[int, int]],
                                                  rows: list[int | str]) -> None:
    import torch

    probs = torch.tensor([[0.2, 0.5, 0.3], [0.1, 0.6, 0.3], [0.3, 0.3, 0.4]])[:len(source)]
    out = project(Tokens(list(range(len(source))), source), probs, Tokens(list(range(len(target))), target))
    expected = [probs[r] if isinstance(r, int) else torch.stack([probs[int(r[1:])][0], torch.tensor(0.0),
                                                                 probs[int(r[1:])][1:].sum()]) for r in rows]
    assert torch.allclose(out, torch.stack(expected))
