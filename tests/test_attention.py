"""Attention over a shared prefix (decoding/attention.py): a batch whose rows hold only their own
positions, with the prefix once, must give the logits of rows that each hold a copy of it, through
multi-token steps, rejected drafts, rows leaving and buffer growth."""

from __future__ import annotations

import copy
import types

import pytest

from extractor.decoding import attention, kvcache
from extractor.decoding.attention import NAME, SharedKV, over_prefix, step_mask
from extractor.decoding.prefill import Prefix, forward, prefill
from extractor.errors import ExtractorError

HEAD = "<|im_start|>system\nExtract the brand, colour and size of the product.<|im_end|>\n"
ROWS = ["Nike tee black M", "Levi's 501 jeans navy blue W32 L30 on sale", "x", "Hanes crew 6-pack white L"]


@pytest.mark.parametrize(("mask", "new", "want"), [
    # one new token sees every kept position
    ([[1, 1, 1]], 1, [[[1, 1, 1]]]),
    # two new tokens: the first does not see the second
    ([[1, 1, 1, 1]], 2, [[[1, 1, 1, 0], [1, 1, 1, 1]]]),
    # left padding and a rejected draft stay hidden from every new token
    ([[0, 1, 0, 1, 1]], 2, [[[0, 1, 0, 1, 0], [0, 1, 0, 1, 1]]]),
])
def test_step_mask(mask, new, want):
    import torch

    got = step_mask(torch.tensor(mask), new)
    assert got.dtype == torch.bool
    assert got[:, 0].int().tolist() == want


def _prefix(backend):
    import torch

    head = backend.encode(HEAD)
    _, cache = forward(backend, [head], None, torch.zeros(1, 0, dtype=torch.long), torch.zeros(1, dtype=torch.long))[:2]
    return Prefix(head, cache)


def _both(backend, prefix):
    import torch

    rows = [backend.encode(t) for t in ROWS]
    done = len(prefix.ids)
    ours = list(prefill(backend, prefix, rows))
    base = copy.deepcopy(prefix.cache)
    base.batch_repeat_interleave(len(rows))
    theirs = list(forward(backend, rows, base, torch.ones(len(rows), done, dtype=torch.long),
                          torch.full((len(rows),), done)))
    return ours, theirs


def _step(backend, state, chunks, keep=1):
    _, cache, mask, pos = state
    return list(forward(backend, chunks, cache, mask, pos, keep=keep))


@pytest.mark.parametrize("merged", [True, False])
@pytest.mark.parametrize("fused_new", [attention.FUSED_NEW, 3, 0])
def test_shared_prefix_gives_the_logits_of_copied_prefixes(tiny_backend, monkeypatch, fused_new, merged):
    """With the default threshold these short rows take the split softmax throughout; with 3 the
    prefill and the longer steps take the fused kernel; with 0 every pass does. The split softmax
    runs as two fused-kernel calls merged by their log-sum-exps on a CPU (``merged``), or as
    matrix products where torch has no such kernel."""
    import torch

    monkeypatch.setattr(kvcache, "ROOM", 3)  # grow on the way
    monkeypatch.setattr(attention, "FUSED_NEW", fused_new)
    if not merged:
        monkeypatch.setattr(attention, "_cpu_kernel", lambda: None)
    prefix = _prefix(tiny_backend)
    ours, theirs = _both(tiny_backend, prefix)
    assert isinstance(ours[1].shared, SharedKV) and ours[1].shared.length == len(prefix.ids)
    assert ours[1].get_seq_length() < theirs[1].get_seq_length()  # the rows hold their own part only
    assert torch.allclose(ours[0], theirs[0], atol=1e-5)
    token = tiny_backend.encode(" the")
    for n in [1, 4, 2, 1, 5]:
        chunks = [token * n] * len(ROWS)
        ours = _step(tiny_backend, ours, chunks, keep=n)
        theirs = _step(tiny_backend, theirs, chunks, keep=n)
        assert torch.allclose(ours[0], theirs[0], atol=1e-5)
    # Drafts rejected by two rows: their last positions are masked out for good, positions step back.
    for state in (ours, theirs):
        state[2][1, -3:] = 0
        state[2][3, -1:] = 0
        state[3][1] -= 3
        state[3][3] -= 1
    ours, theirs = _step(tiny_backend, ours, [token * 2] * 4, keep=2), _step(tiny_backend, theirs, [token * 2] * 4, keep=2)
    assert torch.allclose(ours[0], theirs[0], atol=1e-5)
    # Rows leave the batch, down to one.
    for keep in (torch.tensor([0, 1, 3]), torch.tensor([2])):
        for state in (ours, theirs):
            state[1].batch_select_indices(keep)
            state[2], state[3] = state[2][keep], state[3][keep]
        ours, theirs = _step(tiny_backend, ours, [token] * len(keep)), _step(tiny_backend, theirs, [token] * len(keep))
        assert torch.allclose(ours[0], theirs[0], atol=1e-5)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_merged_kernel_equals_the_split_softmax(monkeypatch, dtype):
    """``_merged`` against the matrix-product split softmax on one layer: 16 rows of grouped heads,
    keys that are views of buffers with room, left padding, a rejected draft, and a query that sees
    none of its own keys (the prefix alone answers it)."""
    import torch

    torch.manual_seed(0)
    kind = getattr(torch, dtype)
    rows, heads, kv_heads, new, dim, own = 16, 6, 2, 3, 16, 40
    shared = SharedKV(keys=[torch.randn(1, kv_heads, 25, dim, dtype=kind)],
                      values=[torch.randn(1, kv_heads, 25, dim, dtype=kind)])
    keys, values = (torch.randn(rows, kv_heads, own + 9, dim, dtype=kind)[:, :, :own] for _ in range(2))
    query = torch.randn(rows, heads, new, dim, dtype=kind)
    mask = torch.ones(rows, own, dtype=torch.long)
    mask[:, :5] = 0  # left padding
    mask[2, 30:34] = 0  # a rejected draft
    mask[7, :] = 0  # nothing of its own visible
    layer = types.SimpleNamespace(layer_idx=0)
    answers = []
    for kernel in (attention._cpu_kernel, lambda: None):
        monkeypatch.setattr(attention, "_cpu_kernel", kernel)
        attention._local.shared = shared
        try:
            answers.append(attention.attend(layer, query, keys, values, step_mask(mask, new))[0])
        finally:
            attention._local.shared = None
    merged, split = answers
    assert merged.shape == split.shape == (rows, new, heads, dim) and torch.isfinite(merged).all()
    assert torch.allclose(merged.float(), split.float(), atol=1e-5 if dtype == "float32" else 2e-2)


def test_model_config_is_restored_and_the_prefix_released(tiny_backend):
    prefix = _prefix(tiny_backend)
    config = tiny_backend.model.config
    before = config._attn_implementation
    ours, _ = _both(tiny_backend, prefix)
    _step(tiny_backend, ours, [tiny_backend.encode(" the")] * len(ROWS))
    assert config._attn_implementation == before != NAME
    assert attention._local.shared is None


def test_a_model_that_bypasses_the_attention_interface_is_refused():
    import torch

    config = types.SimpleNamespace(_attn_implementation="sdpa")
    model = types.SimpleNamespace(config=config)
    shared = SharedKV(keys=[torch.zeros(1, 1, 2, 4)] * 3, values=[torch.zeros(1, 1, 2, 4)] * 3)
    with pytest.raises(ExtractorError, match="called 0 times for a model with 3 cached layers"):
        with over_prefix(model, shared):
            pass  # a forward pass that never calls ``attend``
    assert config._attn_implementation == "sdpa"
