"""Prefill for constrained decoding: the KV cache of the prompts, before the first value token.

Prefill is where a few-shot extraction spends most of its time on a CPU (it is compute-bound, and
a prompt is hundreds to thousands of tokens, while a record is a few dozen generated tokens), so
two kinds of work are avoided here:

* **Shared prefix.** Every prompt of one schema starts with the same system turn (instructions,
  attribute descriptions, example values); with fixed demonstrations (``selection`` first or a
  fixed seed) the demonstrations are shared too. The longest token prefix common to a batch is
  computed once, kept by the decoder (``PrefixCache``), and reused by later batches that start with it. Token
  prefixes of the *whole* prompt's tokenization are compared, so the cached keys are exactly
  those the full prompt would produce.
* **Padding.** A batch of prompts of different lengths, left-padded to the longest, wastes the
  padded positions' compute (a large share when lengths vary as widely as texts with descriptions
  do), while one pass per row gives up the speed of larger matrix products. After a shared prefix,
  rows are therefore run in groups of about the same length (``length_groups``: little padding),
  each group one pass against the one prefix; without one, each row on its own. The rows' caches
  are stacked afterwards, left-padded with masked zeros; the decoding steps that follow run batched
  as before, appending in place to buffers with room to spare (``kvcache.py``).
"""

from __future__ import annotations

import copy
import inspect
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .attention import SharedKV, over_prefix, step_mask
from .kvcache import empty_buffers, grouped_query_attention, growing_layer

if TYPE_CHECKING:
    from ..backends.transformers import TransformersBackend

MIN_SHARED = 16
"""A shared prefix shorter than this is not worth a cache of its own."""
MIN_GAIN = 32
"""A batch prefix replaces the system prefix only when it is at least this much longer."""


def _cache_kwarg(backend: TransformersBackend) -> str:
    """transformers renamed ``past_key_values`` to ``cache`` (5.x); speak whichever this one knows."""
    model = backend.model.get_base_model() if hasattr(backend.model, "get_base_model") else backend.model
    return "cache" if "cache" in inspect.signature(type(model).forward).parameters else "past_key_values"


def run(backend: TransformersBackend, cache: Any, keep: int, **inputs: Any) -> tuple[Any, Any]:
    """One forward pass with a KV cache; returns (logits of the last ``keep`` positions, cache).
    A cache that holds only the rows' own positions (``shared``, set by ``prefill``) is read with
    the shared prefix's attention (``attention.py``), its 2-D mask turned into the step's 4-D one."""
    import torch

    key = _cache_kwarg(backend)
    shared = getattr(cache, "shared", None)
    if shared is not None:
        inputs["attention_mask"] = step_mask(inputs["attention_mask"], inputs["input_ids"].shape[1])
    scope = over_prefix(backend.model, shared) if shared is not None else grouped_query_attention(backend.model)
    with torch.inference_mode(), scope:
        out = backend.model(**inputs, **{key: cache}, use_cache=True, logits_to_keep=keep)
    new_cache = getattr(out, "cache", None) or getattr(out, "past_key_values", None)
    return out.logits[:, -keep:, :], new_cache


class Prefix:
    """Token ids shared by prompts and the batch-1 KV cache that computing them left."""

    def __init__(self, ids: list[int], cache: Any) -> None:
        self.ids = ids
        self.cache = cache

    def starts(self, prompt: list[int]) -> bool:
        return len(prompt) > len(self.ids) and prompt[: len(self.ids)] == self.ids


def _common_prefix(prompts: list[list[int]]) -> int:
    first, n = prompts[0], min(len(p) for p in prompts) - 1  # every row keeps at least one token
    for i in range(max(n, 0)):
        if any(p[i] != first[i] for p in prompts):
            return i
    return max(n, 0)


def _extend(backend: TransformersBackend, base: Prefix | None, ids: list[int]) -> Prefix:
    import torch

    cache, done = (copy.deepcopy(base.cache), len(base.ids)) if base is not None else (None, 0)
    n = len(ids)
    positions = torch.arange(done, n, device=backend.device).unsqueeze(0)
    _, cache = run(backend, cache, 1, input_ids=torch.tensor([ids[done:]], device=backend.device),
                   attention_mask=torch.ones(1, n, dtype=torch.long, device=backend.device), position_ids=positions)
    return Prefix(list(ids), cache)


@dataclass
class PrefixCache:
    """The prefixes one schema's decoder keeps between batches."""

    system_ids: list[int] = field(default_factory=list)
    """Token ids of the system turn (``prompt_build.system_prompt_ids``), the same in every prompt."""
    system: Prefix | None = None
    """The system turn's cache (computed on first use; None when too short to be worth one)."""
    system_done: bool = False
    """Whether ``system`` has been computed."""
    batch: Prefix | None = None
    """The longest prefix a batch shared (system turn + fixed demonstrations), when longer."""
    last: list[int] = field(default_factory=list)
    """The last prompt decoded, so that a batch of one finds what it shares with the one before."""


def shared_prefix(cache: PrefixCache, backend: TransformersBackend, prompts: list[list[int]]) -> Prefix | None:
    """The longest cached prefix every prompt starts with (computing and keeping the system turn,
    and a longer batch prefix when the prompts share one), or None."""
    if not cache.system_done:
        ids = cache.system_ids
        cache.system = _extend(backend, None, ids) if len(ids) >= MIN_SHARED else None
        cache.system_done = True
    system = cache.system
    base = system if system is not None and all(system.starts(p) for p in prompts) else None
    batch = cache.batch
    last, cache.last = cache.last, prompts[-1]
    if batch is not None and all(batch.starts(p) for p in prompts):
        return batch
    # A prefix shared by the batch, or by a lone prompt and the one before it (requests served one
    # at a time, with fixed demonstrations, share them too).
    rows = prompts if len(prompts) > 1 or not last else [last, *prompts]
    if len(rows) > 1:
        common = _common_prefix(rows)
        floor = len(base.ids) if base is not None else 0
        if common >= max(MIN_SHARED, floor + MIN_GAIN):
            cache.batch = _extend(backend, base, prompts[0][:common])
            return cache.batch
    return base


def _stackable(cache: Any) -> bool:
    from transformers.cache_utils import DynamicLayer

    layers = getattr(cache, "layers", None)
    return bool(layers) and all(type(layer) is DynamicLayer for layer in layers)


def prefill(backend: TransformersBackend, prefix: Prefix | None, chunks: list[list[int]],
            room: int | None = None) -> tuple:
    """Run every row's ``chunk`` after ``prefix``; returns (next-token logits [rows, 1, vocab],
    batched cache, attention mask, next positions), as the decoding loop continues from them.

    With a prefix and several rows, the batched cache holds only each row's own positions and the
    prefix once (``cache.shared``, read by ``attention.py``), and the mask covers the rows' own
    positions.
    ``room``: positions each row's buffer keeps free for the tokens still to come."""
    import torch

    device = backend.device
    done = len(prefix.ids) if prefix is not None else 0
    # With a prefix and several rows, only the positions after it are stacked: the prefix stays one
    # shared copy (a single row reads it once either way, and the plain kernel is quicker there).
    shared = prefix is not None and len(chunks) > 1
    if shared:
        grouped = _prefill_grouped(backend, prefix, chunks, room)  # type: ignore[arg-type]
        if grouped is not None:
            return grouped
    skip = done if shared else 0
    lengths = [done + len(c) - skip for c in chunks]
    width = max(lengths)
    logits, stacked, first = [], None, None
    for b, (chunk, n) in enumerate(zip(chunks, lengths)):
        cache = copy.deepcopy(prefix.cache) if prefix is not None else None
        out, cache = run(backend, cache, 1, input_ids=torch.tensor([chunk], device=device),
                         attention_mask=torch.ones(1, done + len(chunk), dtype=torch.long, device=device),
                         position_ids=torch.arange(done, done + len(chunk), device=device).unsqueeze(0))
        logits.append(out)
        if b == 0:
            if not _stackable(cache):  # a cache kind we do not stack (sliding windows)
                if len(chunks) > 1:
                    return forward_padded(backend, chunks, _repeat(prefix, len(chunks)), done)
                mask = torch.ones(1, done + len(chunk), dtype=torch.long, device=device)
                return out, cache, mask, torch.tensor([done + len(chunk)], dtype=torch.long, device=device)
            # Buffers for every row with room for the values to come (``kvcache.py``), rows
            # left-padded with masked zeros; each row is copied in as soon as it is computed.
            first = cache
            stacked = [empty_buffers(layer.keys, layer.values, len(chunks), width, room) for layer in cache.layers]
        for (keys, values), layer in zip(stacked, cache.layers):  # type: ignore[arg-type]
            keys[b, :, width - n:width] = layer.keys[0, :, skip:]
            values[b, :, width - n:width] = layer.values[0, :, skip:]
    mask = torch.zeros(len(chunks), width, dtype=torch.long, device=device)
    for b, n in enumerate(lengths):
        mask[b, width - n:] = 1
    for at, (keys, values) in enumerate(stacked):  # type: ignore[arg-type]
        first.layers[at] = growing_layer(keys, values, width)  # type: ignore[union-attr]
    if shared:
        first.shared = SharedKV.of(prefix.cache)  # type: ignore[union-attr]
    positions = torch.tensor([done + len(c) for c in chunks], dtype=torch.long, device=device)
    return torch.cat(logits), first, mask, positions


PAD_SHARE = 0.25
"""A prefill group takes the next longer row while its padded positions stay within this share of
its real ones: one pass over several rows outruns one pass per row by more than that."""
GROUP_TOKENS = 4096
"""At most this many positions (padding included) per prefill group, which bounds the attention
scores a pass holds."""


def length_groups(lengths: list[int]) -> list[list[int]]:
    """Row indices in groups for batched prefill: rows sorted by length, a group growing while its
    padding stays within PAD_SHARE of its real positions and its size within GROUP_TOKENS."""
    groups: list[list[int]] = []
    group: list[int] = []
    for b in sorted(range(len(lengths)), key=lambda b: lengths[b]):
        rows = [*group, b]
        width, real = lengths[b], sum(lengths[i] for i in rows)
        if group and (width * len(rows) - real > PAD_SHARE * real or width * len(rows) > GROUP_TOKENS):
            groups.append(group)
            rows = [b]
        group = rows
    if group:
        groups.append(group)
    return groups


def _prefill_grouped(backend: TransformersBackend, prefix: Prefix, chunks: list[list[int]],
                     room: int | None) -> tuple | None:
    """``prefill`` of several rows after a shared prefix, in left-padded passes over groups of
    rows of about the same length (``length_groups``), each read against the one prefix
    (``attention.py``); None when the model's cache cannot be stacked (``prefill`` then falls back)."""
    import torch
    from transformers import DynamicCache

    device = backend.device
    done = len(prefix.ids)
    shared = SharedKV.of(prefix.cache)
    lengths = [len(c) for c in chunks]
    width = max(lengths)
    logits: list[Any] = [None] * len(chunks)
    stacked, first = None, None
    for group in length_groups(lengths):
        own = DynamicCache(config=backend.model.config)  # sliding-window layers where the model has them
        own.shared = shared  # type: ignore[attr-defined]
        out, cache, _, _ = forward(backend, [chunks[b] for b in group], own,
                                   torch.zeros(len(group), 0, dtype=torch.long, device=device),
                                   torch.full((len(group),), done, dtype=torch.long, device=device))
        if first is None:
            if not _stackable(cache):
                return None
            first = cache
            stacked = [empty_buffers(layer.keys, layer.values, len(chunks), width, room) for layer in cache.layers]
        padded = max(lengths[b] for b in group)
        for j, b in enumerate(group):
            logits[b] = out[j:j + 1]
            n = lengths[b]
            for (keys, values), layer in zip(stacked, cache.layers):  # type: ignore[arg-type]
                keys[b, :, width - n:width] = layer.keys[j, :, padded - n:padded]
                values[b, :, width - n:width] = layer.values[j, :, padded - n:padded]
    mask = torch.zeros(len(chunks), width, dtype=torch.long, device=device)
    for b, n in enumerate(lengths):
        mask[b, width - n:] = 1
    for at, (keys, values) in enumerate(stacked):  # type: ignore[arg-type]
        first.layers[at] = growing_layer(keys, values, width)  # type: ignore[union-attr]
    first.shared = shared  # type: ignore[union-attr]
    positions = torch.tensor([done + n for n in lengths], dtype=torch.long, device=device)
    return torch.cat(logits), first, mask, positions


def _repeat(prefix: Prefix | None, rows: int) -> Any:
    if prefix is None:
        return None
    cache = copy.deepcopy(prefix.cache)
    if rows > 1:
        cache.batch_repeat_interleave(rows)
    return cache


def forward_padded(backend: TransformersBackend, chunks: list[list[int]], cache: Any, done: int) -> tuple:
    """The batched fallback for caches that cannot be stacked: one left-padded pass."""
    import torch

    device = backend.device
    mask = torch.ones(len(chunks), done, dtype=torch.long, device=device)
    pos = torch.full((len(chunks),), done, dtype=torch.long, device=device)
    return forward(backend, chunks, cache, mask, pos)


def forward(backend: TransformersBackend, chunks: list[list[int]], cache: Any, mask: Any, pos: Any,
            keep: int = 1) -> tuple:
    """Feed each row its chunk (left-padded to a common length, pads masked) and return the
    next-token logits at the last ``keep`` positions of every row."""
    import torch

    device = backend.device
    width = max(len(c) for c in chunks)
    pad = backend.tokenizer.pad_token_id
    ids = torch.full((len(chunks), width), pad, dtype=torch.long, device=device)
    new_mask = torch.zeros((len(chunks), width), dtype=torch.long, device=device)
    positions = torch.zeros((len(chunks), width), dtype=torch.long, device=device)
    for b, chunk in enumerate(chunks):
        n = len(chunk)
        ids[b, width - n:] = torch.tensor(chunk, dtype=torch.long, device=device)
        new_mask[b, width - n:] = 1
        positions[b, width - n:] = torch.arange(n, device=device) + pos[b]
    full_mask = torch.cat([mask, new_mask], dim=1)
    logits, cache = run(backend, cache, keep, input_ids=ids, attention_mask=full_mask, position_ids=positions)
    lengths = torch.tensor([len(c) for c in chunks], dtype=torch.long, device=device)
    return logits, cache, full_mask, pos + lengths
