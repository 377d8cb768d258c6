"""The encoder on packed windows: a BERT tagger's windows laid end to end, without padding.

A batch of windows padded to its longest spends much of its matrix products on padding when the
windows are of uneven length: 16 shopper queries of 7 to 15 positions are 152 positions padded to
240. Here the windows are laid end to end as one sequence, so every linear layer runs on real
positions only, and attention is kept inside each window by a block-diagonal mask. The mask is
built per group of consecutive windows of about :data:`GROUP_POSITIONS` positions, so attention
stays close to linear in the batch. The same weights go through the same operations as
transformers' ``BertForTokenClassification`` in eval mode (embeddings, then per layer self-attention,
residual and LayerNorm, the feed-forward block, residual and LayerNorm, then the classifier), minus
the padding and transformers' per-module wrappers. On 2 CPU cores that took a batch of 16 queries
from about 16 to 9 ms in bfloat16; float32 logits match the padded model's to rounding.

Only BERT encoders with absolute positions are run this way (MiniLM, BGE, E5 and the like:
:func:`supports`); others (MPNet, RoBERTa, DeBERTa) go through their own padded forward."""

from __future__ import annotations

from typing import Any

GROUP_POSITIONS = 256
"""Most positions attended over under one block-diagonal mask. Its attention costs the square of
this, wasted outside the diagonal blocks, so groups stay small; a window longer than this is a
group of its own. 64, 128 and 256 ran alike on a batch of 32 product titles (971 positions)."""

ROUND_POSITIONS = 32
"""The packed sequence is filled up to a multiple of this many positions (a filler window, whose
logits are dropped): oneDNN compiles and keeps a kernel per matrix shape, and exact lengths give a
new shape for nearly every batch of a service's uneven traffic. After 600 batches of 1 to 16
random shopper queries the process held 870 MB with exact lengths, 626 MB with padded batches and
547 MB rounded to 32 positions (at 2.4, 2.8 and 2.4 ms a query)."""


def supports(model: Any) -> bool:
    """Whether ``model`` is a BERT token classifier this module can run packed."""
    config = getattr(model, "config", None)
    return (getattr(config, "model_type", None) == "bert" and hasattr(model, "bert") and hasattr(model, "classifier")
            and getattr(config, "position_embedding_type", "absolute") == "absolute"
            and not getattr(config, "is_decoder", False))


def groups(lengths: list[int], limit: int = GROUP_POSITIONS) -> list[tuple[int, int]]:
    """[start, end) positions of consecutive windows under one attention mask: windows are added
    to a group while it stays within ``limit`` positions (a longer window is a group alone)."""
    out: list[tuple[int, int]] = []
    start = end = 0
    for n in lengths:
        if end > start and end - start + n > limit:
            out.append((start, end))
            start = end
        end += n
    if end > start:
        out.append((start, end))
    return out


def packed_logits(model: Any, rows: list[list[int]], limit: int = GROUP_POSITIONS) -> Any:
    """The logits of every position of ``rows`` (windows' input ids, special tokens included), the
    rows one after another: (positions of all rows x labels).
    Call under ``torch.inference_mode()`` with the model in eval mode (no dropout is applied)."""
    import torch
    import torch.nn.functional as F

    bert, config = model.bert, model.config
    device = next(model.parameters()).device
    real = sum(len(r) for r in rows)
    filler = -real % ROUND_POSITIONS
    if filler:
        rows = [*rows, [getattr(config, "pad_token_id", None) or 0] * filler]
    lengths = [len(r) for r in rows]
    ids = torch.tensor([t for r in rows for t in r], dtype=torch.long, device=device)
    positions = torch.cat([torch.arange(n, device=device) for n in lengths])
    embeddings = bert.embeddings
    x = embeddings.word_embeddings(ids) + embeddings.token_type_embeddings.weight[0]
    x = embeddings.LayerNorm(x + embeddings.position_embeddings(positions))
    window = torch.repeat_interleave(torch.arange(len(rows), device=device),
                                     torch.tensor(lengths, device=device))
    spans = groups(lengths, limit)
    masks = [window[a:b, None] == window[None, a:b] for a, b in spans]
    total, heads = len(ids), config.num_attention_heads
    size = config.hidden_size // heads
    for layer in bert.encoder.layer:
        attention = layer.attention.self
        q, k, v = (proj(x).view(total, heads, size).transpose(0, 1)
                   for proj in (attention.query, attention.key, attention.value))
        context = torch.cat([F.scaled_dot_product_attention(q[None, :, a:b], k[None, :, a:b], v[None, :, a:b],
                                                            attn_mask=mask)[0]
                             for (a, b), mask in zip(spans, masks)], dim=1)
        context = context.transpose(0, 1).reshape(total, heads * size)
        out = layer.attention.output
        x = out.LayerNorm(out.dense(context) + x)
        hidden = layer.intermediate.intermediate_act_fn(layer.intermediate.dense(x))
        x = layer.output.LayerNorm(layer.output.dense(hidden) + x)
    return model.classifier(x[:real])
