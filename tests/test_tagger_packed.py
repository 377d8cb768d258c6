"""The packed encoder (extractor/tagger/packed.py): windows laid end to end give the logits the
padded model gives, group boundaries included; encoders it cannot run are left to their own forward."""

from __future__ import annotations

from typing import Any

import pytest

from extractor.tagger.packed import groups, packed_logits, supports


def tiny_classifier(**overrides: Any) -> Any:
    import torch
    from transformers import BertConfig, BertForTokenClassification

    torch.manual_seed(0)
    config = BertConfig(vocab_size=120, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=64, num_labels=5, **overrides)
    return BertForTokenClassification(config).eval()


def padded(model: Any, rows: list[list[int]]) -> Any:
    """Every row's logits from transformers' own forward, rows padded to the longest."""
    import torch

    width = max(map(len, rows))
    ids = torch.zeros((len(rows), width), dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, row in enumerate(rows):
        ids[i, :len(row)] = torch.tensor(row)
        mask[i, :len(row)] = 1
    with torch.inference_mode():
        logits = model(input_ids=ids, attention_mask=mask).logits
    return torch.cat([logits[i, :len(row)] for i, row in enumerate(rows)])


@pytest.mark.parametrize("lengths, limit, expected", [
    ([10, 11, 10], 256, [(0, 31)]),                     # queries: one group
    ([100, 100, 100], 256, [(0, 200), (200, 300)]),     # a group closes before it would pass the limit
    ([300, 5], 256, [(0, 300), (300, 305)]),            # a window longer than the limit is a group alone
    ([5, 300, 5], 256, [(0, 5), (5, 305), (305, 310)]),
    ([128, 128], 256, [(0, 256)]),                      # exactly the limit fits
    ([], 256, []),
])
def test_groups_cut_consecutive_windows_at_the_limit(lengths: list[int], limit: int,
                                                     expected: list[tuple[int, int]]) -> None:
    assert groups(lengths, limit) == expected


@pytest.mark.parametrize("limit", [256, 12])  # one mask over all rows; groups of a row or two
def test_packed_logits_equal_the_padded_models(limit: int) -> None:
    import torch

    model = tiny_classifier()
    generator = torch.Generator().manual_seed(1)
    rows = [torch.randint(5, 120, (n,), generator=generator).tolist() for n in (7, 15, 3, 10, 1, 22)]
    with torch.inference_mode():
        got = packed_logits(model, rows, limit=limit)
    assert got.shape == (sum(map(len, rows)), 5)
    assert torch.allclose(got, padded(model, rows), atol=1e-5)


def test_a_row_does_not_see_its_neighbours() -> None:
    """Changing one window's tokens leaves the logits of the windows packed beside it unchanged."""
    import torch

    model = tiny_classifier()
    rows = [[5, 6, 7, 8], [9, 10, 11], [12, 13, 14, 15, 16]]
    changed = [rows[0], [40, 41, 42], rows[2]]
    with torch.inference_mode():
        before, after = packed_logits(model, rows), packed_logits(model, changed)
    assert torch.equal(before[:4], after[:4]) and torch.equal(before[7:], after[7:])
    assert not torch.allclose(before[4:7], after[4:7])


def test_supports_only_bert_with_absolute_positions() -> None:
    from transformers import RobertaConfig, RobertaForTokenClassification

    assert supports(tiny_classifier())
    assert not supports(tiny_classifier(position_embedding_type="relative_key"))
    roberta = RobertaForTokenClassification(RobertaConfig(vocab_size=120, hidden_size=32, num_hidden_layers=1,
                                                          num_attention_heads=4, intermediate_size=64))
    assert not supports(roberta)
    assert not supports(object())
