"""Attention over a prompt prefix the whole batch shares, held once instead of once per row.

Every prompt of a schema starts with the same system turn (instructions, attribute descriptions,
example values: about 600 tokens with the shipped prompt), and with fixed demonstrations the
demonstrations are shared too. In a batched decoding step each row attends to its whole cache, so
with the prefix copied into every row the step reads the prefix's keys and values once per row:
at 16 rows on a CPU that read, not the arithmetic, is what attention costs, and it grows with the
batch while the weights' read does not.

Here the prefix's keys and values are kept once ([1, key/value heads, prefix, dim]) and each row's
cache holds only its own positions. A step's attention is computed in two parts, exactly as one
softmax over both: the scores of every row's queries against the one prefix (a single matrix
product with the rows stacked as extra query positions) and against the row's own keys (masked:
padding, rejected drafts, and causal order among the step's new tokens), a common maximum, and
one normalization. The logits equal those of the copied-prefix path to float rounding
(``tests/test_attention.py``).

transformers is told to call ``attend`` by a registered attention implementation name, switched
on only around our forward passes (``over_prefix``); the model receives the 4-D mask we build and
leaves it as it is. The prefix travels in a thread-local: a model serves one decoding loop at a
time (the serve batcher's worker thread, a CLI run)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..errors import ExtractorError

NAME = "extractor_shared_prefix"
"""The attention implementation name ``attend`` is registered under."""

_local = threading.local()
_registered: list[bool] = []


@dataclass
class SharedKV:
    """A prefix's keys and values, per layer, held once for every row of a batch."""

    keys: list[Any]
    """Per layer: [1, key/value heads, prefix length, head dim]."""
    values: list[Any]
    """Per layer, shaped as ``keys``."""
    calls: int = 0
    """Attention calls that read this prefix during the current forward pass (a check that the
    model did route its attention through ``attend``)."""

    @classmethod
    def of(cls, cache: Any) -> SharedKV:
        """The prefix held by a batch-1 transformers cache (``Prefix.cache``)."""
        return cls(keys=[layer.keys for layer in cache.layers], values=[layer.values for layer in cache.layers])

    @property
    def length(self) -> int:
        return int(self.keys[0].shape[-2])


FUSED_NEW = 16
"""A pass feeding more tokens per row than this (prefill) reads the prefix through torch's fused
attention kernel, over the prefix copied to each row: there the kernel is many times faster than
the split softmax below, and the copy is small beside the pass. Decoding steps feed a token or a
few, where copying the prefix to every row at every step is what the split softmax avoids."""


def _register() -> None:
    if _registered:
        return
    from transformers import AttentionInterface

    AttentionInterface.register(NAME, attend)
    _registered.append(True)


def step_mask(mask: Any, new: int) -> Any:
    """The 4-D boolean mask [rows, 1, new, keys] of a step feeding ``new`` tokens per row, from
    the rows' 2-D mask over their own positions (the new ones included, last): a key is visible
    when the 2-D mask keeps it and it is not after the query (causal order among the new tokens)."""
    import torch

    keys = mask.shape[1]
    query_at = torch.arange(keys - new, keys, device=mask.device).unsqueeze(1)  # [new, 1]
    causal = torch.arange(keys, device=mask.device).unsqueeze(0) <= query_at  # [new, keys]
    return mask.bool()[:, None, None, :] & causal[None, None]


@contextlib.contextmanager
def over_prefix(model: Any, shared: SharedKV) -> Iterator[None]:
    """Route ``model``'s attention through ``attend`` with ``shared`` as the prefix, for the
    duration of one forward pass."""
    _register()
    config = model.config
    before = config._attn_implementation
    _local.shared = shared
    shared.calls = 0
    config._attn_implementation = NAME
    try:
        yield
    finally:
        config._attn_implementation = before
        _local.shared = None
    if shared.calls != len(shared.keys):
        raise ExtractorError(f"shared-prefix attention was called {shared.calls} times for a model with "
                             f"{len(shared.keys)} cached layers: this architecture does not route its attention "
                             f"through transformers' attention interface")


def attend(module: Any, query: Any, key: Any, value: Any, attention_mask: Any, scaling: float | None = None,
           dropout: float = 0.0, **kwargs: Any) -> tuple[Any, None]:
    """One layer's attention: ``query`` [rows, heads, new, dim] against the shared prefix and the
    rows' own ``key``/``value`` [rows, key/value heads, own, dim] under ``attention_mask``
    (``step_mask``); returns [rows, new, heads, dim] as transformers' implementations do."""
    import torch

    shared: SharedKV = _local.shared
    shared.calls += 1
    prefix_keys, prefix_values = shared.keys[module.layer_idx][0], shared.values[module.layer_idx][0]
    rows, heads, new, dim = query.shape
    kv_heads = key.shape[1]
    group = heads // kv_heads  # query head h reads key/value head h // group
    scale = dim ** -0.5 if scaling is None else scaling
    if new > FUSED_NEW:  # prefill: the prefix copied to every row costs little beside the fused kernel
        rows_keys = torch.cat([prefix_keys.expand(rows, -1, -1, -1), key], dim=2)
        rows_values = torch.cat([prefix_values.expand(rows, -1, -1, -1), value], dim=2)
        seen = torch.ones(rows, 1, new, prefix_keys.shape[-2], dtype=torch.bool, device=query.device)
        out = torch.nn.functional.scaled_dot_product_attention(
            query, rows_keys, rows_values, attn_mask=torch.cat([seen, attention_mask], dim=-1), scale=scale,
            enable_gqa=True)
        return out.transpose(1, 2).contiguous(), None
    visible = attention_mask.unsqueeze(2).expand(rows, 1, group, new, key.shape[2]).reshape(rows, 1, group * new, -1)
    q = query.reshape(rows, kv_heads, group * new, dim)
    if query.device.type == "cpu" and (kernel := _cpu_kernel()) is not None:
        out = _merged(kernel, q, key, value, visible, shared.keys[module.layer_idx], shared.values[module.layer_idx],
                      scale)
        return out.view(rows, kv_heads, group, new, dim).reshape(rows, heads, new, dim).transpose(1, 2).contiguous(), None
    # Against the prefix: all rows' queries at once, [kv_heads, rows * group * new, prefix].
    stacked = q.transpose(0, 1).reshape(kv_heads, rows * group * new, dim)
    shared_scores = torch.matmul(stacked, prefix_keys.transpose(-1, -2)).float() * scale
    # Against each row's own positions, [rows, kv_heads, group * new, own].
    own_scores = torch.matmul(q, key.transpose(-1, -2)).float() * scale
    own_scores = own_scores.masked_fill(~visible, float("-inf"))
    shared_scores = shared_scores.view(kv_heads, rows, group * new, -1).transpose(0, 1)
    top = torch.maximum(shared_scores.amax(dim=-1, keepdim=True), own_scores.amax(dim=-1, keepdim=True))
    shared_weights = torch.exp(shared_scores - top)
    own_weights = torch.exp(own_scores - top)
    total = shared_weights.sum(dim=-1, keepdim=True) + own_weights.sum(dim=-1, keepdim=True)
    stacked_weights = shared_weights.transpose(0, 1).reshape(kv_heads, rows * group * new, -1)
    out = torch.matmul(stacked_weights.to(value.dtype), prefix_values)
    out = out.view(kv_heads, rows, group * new, dim).transpose(0, 1)
    out = out + torch.matmul(own_weights.to(value.dtype), value)
    out = (out / total.to(out.dtype)).view(rows, kv_heads, group, new, dim).reshape(rows, heads, new, dim)
    return out.transpose(1, 2).contiguous(), None


def _cpu_kernel() -> Any:
    """torch's fused CPU attention kernel that also returns each query's log-sum-exp, or None
    where this torch has none (a private operator: the split softmax is the fallback)."""
    import torch

    return getattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu", None)


def _merged(kernel: Any, q: Any, key: Any, value: Any, visible: Any, prefix_keys: Any, prefix_values: Any,
            scale: float) -> Any:
    """The split softmax of ``attend`` through the fused kernel, on a CPU: the queries ``q``
    [rows, kv heads, group * new, dim] attend to the prefix (all rows stacked, one call) and to
    their own keys (under ``visible``) separately, and the two results are merged by their
    log-sum-exps, which is exactly one softmax over both. The kernel reads the rows' keys and
    values where they lie, views of buffers with room to spare, which a matrix product would
    first copy (at 16 rows those copies were most of a layer's attention); about 4x quicker per
    layer at 16 rows in bfloat16, and no slower for one row. Returns [rows, kv heads, group * new, dim]."""
    import torch

    rows, kv_heads, queries, dim = q.shape
    stacked = q.transpose(0, 1).reshape(1, kv_heads, rows * queries, dim)
    shared_out, shared_lse = kernel(stacked, prefix_keys, prefix_values, 0.0, False, scale=scale)
    shared_out = shared_out.view(kv_heads, rows, queries, dim).transpose(0, 1)
    shared_lse = shared_lse.view(kv_heads, rows, queries).transpose(0, 1)
    additive = torch.zeros(visible.shape, dtype=q.dtype, device=q.device).masked_fill_(~visible, float("-inf"))
    own_out, own_lse = kernel(q, key, value, 0.0, False, attn_mask=additive, scale=scale)
    # a query that sees none of its own keys gets 0 and a log-sum-exp of 0 from the kernel: no weight
    own_lse = own_lse.masked_fill(~visible.any(dim=-1), float("-inf"))
    top = torch.maximum(shared_lse, own_lse)
    shared_weight = torch.exp(shared_lse - top).unsqueeze(-1)
    own_weight = torch.exp(own_lse - top).unsqueeze(-1)
    out = (shared_out.float() * shared_weight + own_out.float() * own_weight) / (shared_weight + own_weight)
    return out.to(q.dtype)
