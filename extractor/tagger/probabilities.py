"""Token probabilities: text -> windows -> encoder(s) -> per token, P(O, B/I of each attribute).

One tagger, or several averaged. Each member reads the text with its own tokenizer, in windows of
its own size; each token takes its probabilities from the window where it has the most context on
both sides. A member whose tokenizer cuts the text elsewhere than the first member's is projected
onto the first member's tokens by character offsets, so taggers of different encoders average too
(MiniLM and all-mpnet-base-v2 read the same words but not the same token ids)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .data import Tokens, Window, tokenize, windows
from .model import Tagger
from .packed import packed_logits, supports


@dataclass(frozen=True)
class Member:
    """One tagger of an averaged engine, with its labels in the first tagger's order."""

    tagger: Tagger
    allowed: list[int]
    """Label ids of O, then B and I of each attribute, in the order of the engine's attributes."""
    window: int
    overlap: int


def token_probabilities(members: Sequence[Member], texts: list[str],
                        batch_size: int) -> list[tuple[Tokens, Any]]:
    """Per text: the first member's tokens and a (tokens x labels) tensor, the mean over members."""
    first, *others = members
    tokens, probs = _member_probabilities(first, texts, batch_size)
    for member in others:
        own_tokens, own_probs = _member_probabilities(member, texts, batch_size)
        for i, (source, p) in enumerate(zip(own_tokens, own_probs)):
            probs[i] = probs[i] + project(source, p, tokens[i])
    return [(tok, p / len(members)) for tok, p in zip(tokens, probs)]


def _member_probabilities(member: Member, texts: list[str], batch_size: int) -> tuple[list[Tokens], list[Any]]:
    import torch

    tagger = member.tagger
    tokenized = [tokenize(tagger.tokenizer, t) for t in texts]
    flat = [(i, w) for i, tok in enumerate(tokenized)
            for w in windows(tok, tagger.frame, member.window, member.overlap)]
    # each token's row among all windows' positions: that of the window where it has the most context
    rows = [[0] * len(tok.ids) for tok in tokenized]
    best_context = [[-1] * len(tok.ids) for tok in tokenized]
    outputs: list[Any] = []
    base = 0
    for at in range(0, len(flat), batch_size):
        chunk = flat[at:at + batch_size]
        outputs.append(_forward(member, [w for _, w in chunk]))
        for i, window in chunk:
            for j in range(window.length):
                t = window.start + j
                context = min(j, window.length - 1 - j)
                if context > best_context[i][t]:
                    best_context[i][t] = context
                    rows[i][t] = base + window.offset + j
            base += len(window.input_ids)
    every = torch.cat(outputs) if outputs else torch.zeros((0, len(member.allowed)))
    return tokenized, [every[torch.tensor(r, dtype=torch.long)] for r in rows]


def _forward(member: Member, batch: list[Window]) -> Any:
    """Probabilities over O and the engine's labels of every position of the windows, one window
    after another: (positions x labels). A BERT encoder reads the windows packed, without padding
    (:mod:`.packed`); others padded to the longest."""
    import torch

    model = member.tagger.model
    was_training = model.training
    if was_training:  # eval() and train() visit every module: only when there is a mode to change
        model.eval()
    with torch.inference_mode():
        if supports(model):
            logits = packed_logits(model, [w.input_ids for w in batch])
        else:
            padded = _padded_logits(member, batch)
            logits = torch.cat([row[:len(w.input_ids)] for row, w in zip(padded, batch)])
        probs = logits[:, member.allowed].float().softmax(-1).cpu()
    if was_training:
        model.train()
    return probs


def _padded_logits(member: Member, batch: list[Window]) -> Any:
    """The encoder's logits on the windows padded to the longest, (windows x positions x labels)."""
    import torch

    width = max(len(w.input_ids) for w in batch)
    pad = member.tagger.tokenizer.pad_token_id or 0
    ids = torch.full((len(batch), width), pad, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, w in enumerate(batch):
        ids[row, :len(w.input_ids)] = torch.tensor(w.input_ids)
        mask[row, :len(w.input_ids)] = 1
    device = member.tagger.device
    return member.tagger.model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits


def project(source: Tokens, probs: Any, target: Tokens) -> Any:
    """``probs`` of ``source``'s tokens as probabilities of ``target``'s (the same text tokenized
    otherwise): each target token takes those of the source token holding its first character. A
    target token that starts inside a source token continues that token's span, so the source's
    B mass counts as I there."""
    if source.offsets == target.offsets:
        return probs
    out = probs.new_zeros((len(target.offsets), probs.shape[1]))
    if not source.offsets:
        return out
    s = 0
    for t, (start, _) in enumerate(target.offsets):
        while s + 1 < len(source.offsets) and source.offsets[s][1] <= start:
            s += 1
        row = probs[s].clone()
        if source.offsets[s][0] < start:
            row[2::2] += row[1::2]  # positions: O, then B and I of each attribute
            row[1::2] = 0
        out[t] = row
    return out
