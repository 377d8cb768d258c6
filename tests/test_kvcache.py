"""The decoding KV cache (decoding/kvcache.py): a cache that appends in place must give the logits
transformers' own cache gives, through growth, rows leaving and crops; the grouped-query switch is
on only during our passes."""

from __future__ import annotations

import os

from extractor.decoding import kvcache
from extractor.decoding.prefill import forward, prefill

ROWS = ["Nike tee black M", "Levi's 501 jeans navy blue W32 L30 on sale", "x"]


def _both(backend):
    import torch

    rows = [backend.encode(t) for t in ROWS]
    ours = prefill(backend, None, rows)
    theirs = forward(backend, rows, None, torch.zeros(len(rows), 0, dtype=torch.long),
                     torch.zeros(len(rows), dtype=torch.long))
    return list(ours), list(theirs)


def _step(backend, state, chunks, keep=1):
    _, cache, mask, pos = state
    return list(forward(backend, chunks, cache, mask, pos, keep=keep))


def test_in_place_cache_matches_transformers_cache(tiny_backend, monkeypatch):
    import torch

    monkeypatch.setattr(kvcache, "ROOM", 4)  # grow often
    ours, theirs = _both(tiny_backend)
    layer = ours[1].layers[0]
    assert type(layer).__name__ == "GrowingLayer"
    assert layer._keys.shape[2] == layer.keys.shape[2] + 4
    token = tiny_backend.encode(" the")
    for n in [1, 3, 2, 5, 1, 4, 1]:  # past the spare room several times
        chunks = [token * n] * 3
        ours, theirs = _step(tiny_backend, ours, chunks, keep=n), _step(tiny_backend, theirs, chunks, keep=n)
        assert torch.allclose(ours[0], theirs[0], atol=1e-5)
    assert ours[1].get_seq_length() == theirs[1].get_seq_length()
    assert ours[1].layers[0]._keys.shape[2] > ours[1].layers[0].keys.shape[2]
    # A row leaves the batch, as finished rows do in the decoding loop.
    keep = torch.tensor([0, 2])
    for state in (ours, theirs):
        state[1].batch_select_indices(keep)
        state[2], state[3] = state[2][keep], state[3][keep]
    ours, theirs = _step(tiny_backend, ours, [token * 2] * 2, keep=2), _step(tiny_backend, theirs, [token * 2] * 2, keep=2)
    assert torch.allclose(ours[0], theirs[0], atol=1e-5)
    # A crop then a write: the write must land right after the cropped view.
    for state in (ours, theirs):
        state[1].crop(-2)
        state[2], state[3] = state[2][:, :-2], state[3] - 2
    ours, theirs = _step(tiny_backend, ours, [token] * 2), _step(tiny_backend, theirs, [token] * 2)
    assert torch.allclose(ours[0], theirs[0], atol=1e-5)


def test_grouped_query_switch_is_scoped(tiny_backend, monkeypatch):
    monkeypatch.delenv(kvcache.GQA_SWITCH, raising=False)
    with kvcache.grouped_query_attention(tiny_backend.model):
        assert os.environ[kvcache.GQA_SWITCH] == "1"
    assert kvcache.GQA_SWITCH not in os.environ
    # A user's own setting is left alone, inside and after.
    monkeypatch.setenv(kvcache.GQA_SWITCH, "0")
    with kvcache.grouped_query_attention(tiny_backend.model):
        assert os.environ[kvcache.GQA_SWITCH] == "0"
    assert os.environ[kvcache.GQA_SWITCH] == "0"


def test_grouped_query_attention_changes_no_logits(tiny_backend, monkeypatch):
    import torch

    rows = [tiny_backend.encode(t) for t in ROWS]
    logits = {}
    for switch in ("0", "1"):  # transformers' repeated heads, then SDPA's grouped-query attention
        monkeypatch.setenv(kvcache.GQA_SWITCH, switch)
        logits[switch] = prefill(tiny_backend, None, rows)[0]
    assert torch.allclose(logits["0"], logits["1"], atol=1e-5)
