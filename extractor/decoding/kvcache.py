"""The KV cache of constrained decoding, and the attention kernel it is read with.

Two costs of transformers' defaults grow with the cached length, and a few-shot prompt makes that
length large (thousands of tokens per row for texts with descriptions), while each decoding step
feeds only a few tokens per row:

* **Copying.** ``DynamicLayer`` appends by ``torch.cat``, which copies every row's whole cache at
  every forward pass. ``GrowingLayer`` keeps the keys and values in a buffer with room to spare
  and writes new positions in place; the tensors it hands to attention are views of that buffer.
* **Repeated heads.** SmolLM2 has 9 query heads and 3 key/value heads. transformers' SDPA path
  repeats the keys and values to 9 heads before attention whenever a mask is given (it lets SDPA
  do grouped-query attention itself only without a mask, because CUDA kernels would fall back to
  a slow one). On CPU, torch's SDPA does grouped-query attention with a mask, so
  ``grouped_query_attention`` turns transformers' own switch on around our forward passes.

Each change alone shortens a decoding step, the more the longer the cache, and together they
shorten it most; the logits stay identical (timings:
docs/notes/2026-11-28-constrained-decoding-speed.md)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

GQA_SWITCH = "TRANSFORMERS_SDPA_FORCE_GQA"
"""transformers' environment switch that passes ``enable_gqa`` to SDPA even with a mask."""
ROOM = 64
"""Positions a fresh buffer keeps free for the tokens still to come (it grows by a quarter when full)."""


@contextlib.contextmanager
def gqa_switch() -> Iterator[None]:
    """transformers' grouped-query switch on for the duration (a user's own setting, on or off,
    is left as it is)."""
    if os.environ.get(GQA_SWITCH) is not None:
        yield
        return
    os.environ[GQA_SWITCH] = "1"
    try:
        yield
    finally:
        os.environ.pop(GQA_SWITCH, None)


@contextlib.contextmanager
def grouped_query_attention(model: Any) -> Iterator[None]:
    """Let SDPA attend with the key/value heads as they are (CPU only; elsewhere a no-op)."""
    if next(model.parameters()).device.type != "cpu":
        yield
        return
    with gqa_switch():
        yield


def _layer_base() -> type:
    from transformers.cache_utils import DynamicLayer

    return DynamicLayer


def empty_buffers(keys: Any, values: Any, rows: int, length: int, room: int | None = None) -> tuple[Any, Any]:
    """Zeroed key and value buffers for ``rows`` rows of ``length`` positions plus ``room``, shaped
    like the cache tensors ``keys`` and ``values`` ([rows, heads, length, dim]; dims may differ)."""
    extra = ROOM if room is None else room
    return (keys.new_zeros(rows, keys.shape[1], length + extra, keys.shape[3]),
            values.new_zeros(rows, values.shape[1], length + extra, values.shape[3]))


def growing_layer(keys: Any, values: Any, length: int) -> Any:
    """A cache layer over filled buffers (from ``empty_buffers``) whose first ``length`` positions hold data.
    (``crop`` needs no override: a shorter view of the same buffer, and later writes land after it.)"""
    return _growing_class()().hold(keys, values, length)


_CLASS: list[type] = []


def _growing_class() -> type:
    # Built on first use, so that importing this module does not import transformers.
    if _CLASS:
        return _CLASS[0]

    class GrowingLayer(_layer_base()):  # type: ignore[misc]
        """A ``DynamicLayer`` whose keys and values are views of a buffer with room to spare."""

        def hold(self, keys: Any, values: Any, length: int) -> GrowingLayer:
            """Take ``keys``/``values`` buffers whose first ``length`` positions hold data."""
            self._keys, self._values = keys, values
            self._view(length)
            self.device = keys.device
            self.is_initialized = True
            return self

        def _view(self, length: int) -> None:
            self.keys = self._keys[:, :, :length]
            self.values = self._values[:, :, :length]

        def update(self, key_states: Any, value_states: Any, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
            start = self.keys.shape[-2]
            end = start + key_states.shape[-2]
            if end > self._keys.shape[-2]:  # full: a bigger buffer, a quarter more at least
                keys, values = empty_buffers(self.keys, self.values, self.keys.shape[0], start,
                                             max(end - start, start // 4))
                keys[:, :, :start], values[:, :, :start] = self.keys, self.values
                self.hold(keys, values, start)
            self._keys[:, :, start:end] = key_states
            self._values[:, :, start:end] = value_states
            self._view(end)
            return self.keys, self.values

        def batch_select_indices(self, indices: Any) -> None:
            self._keys, self._values = self._keys[indices], self._values[indices]
            self._view(self.keys.shape[-2])

        def batch_repeat_interleave(self, repeats: int) -> None:
            self._keys = self._keys.repeat_interleave(repeats, dim=0)
            self._values = self._values.repeat_interleave(repeats, dim=0)
            self._view(self.keys.shape[-2])

        def reorder_cache(self, beam_idx: Any) -> None:
            self.batch_select_indices(beam_idx.to(self._keys.device))

    _CLASS.append(GrowingLayer)
    return GrowingLayer
