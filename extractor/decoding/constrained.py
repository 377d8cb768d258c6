"""Constrained slot filling: the program writes the JSON, the model writes only the values.

For each attribute, in schema order, the fixed text (``{"Brand":``, ``, "Color":`` ... ``}``) is
ours and the model chooses the value's tokens under that attribute's constraint (a grounded span
of the input, an enum member, a number the input writes, null). The record is valid JSON by
construction and always closes, because every value has a token budget and a shortest way to finish.

Seams. Fixed text ends right after the colon; the value's own leading space is the model's to
write, so the natural token `` "`` (space + quote) stays available, and a value's last token may
run into the following fixed text (`",` is one token) — the rest of the fixed text is then fed
in the same forward pass as that token. This is token healing at every seam: the model always
sees the tokenization it would have produced itself.

Null or value. The model chooses between null and a value at the value's first token, before
the constraint has shown it what it may write; when the value it had in mind is not in the text,
the constraint forces another one. A finished value is kept only when its probability under the
model is at least that of starting ``null`` at the same place. ``null_bias`` shifts both
decisions by a fixed log-probability in favour of values: a tuned model trained on targets that
are mostly null (as most benchmark slots are) learns that prior, and a bias chosen on held-out
offers buys back recall without retraining.

One span, one attribute. A grounded value whose span (the same start and end in the input) an
earlier attribute of the record already took must beat null by ``reuse_penalty`` more: a model
with nothing better to say repeats one word in every slot. Attributes marked ``x-shared-span``
neither pay this nor make others pay it (``shared``).

Speed. The prompt prefix shared by a schema's prompts (system turn, fixed demonstrations) is
computed once and its KV cache reused, and each row's own part is prefilled without padding
(``prefill.py``); a batch holds that prefix once, not once per row (``attention.py``); each step
appends to a KV buffer in place and attention reads the key/value heads without repeating them
(``kvcache.py``); fixed text costs no extra forward passes; finished rows leave the batch.

Interface. A ``ConstrainedDecoder`` is built for one backend and schema with its settings
(``null_bias``, ``reuse_penalty``); it owns what it keeps between batches (the prefix caches, the
slots shared by every row, timing statistics) and returns, per prompt, the values, spans,
confidences, removed mass and warnings (``Decoded``). Validating them and building the record is
the engine's work (the Extractor)."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ..prompts import restore_escaped
from ..schemas import Schema
from .constraints import Grounded
from .free import value_budget
from .prefill import PrefixCache, forward, prefill, shared_prefix
from .slots import Slot, build_slots, token_index
from .tokens import TokenIndex

if TYPE_CHECKING:
    from ..backends.transformers import TransformersBackend

@dataclass
class DecodingStats:
    """Where a decoder's time went, summed over its batches."""

    seconds: float = 0.0
    """Decoding, prefill included."""
    constraint_seconds: float = 0.0
    """Of which: choosing tokens under the constraints (masks, automata), not the model."""


@dataclass
class Decoded:
    """What constrained decoding wrote for one prompt (the record is the engine's to build)."""

    values: dict[str, Any]
    """Every attribute in schema order: its value as the input writes it, or None."""
    spans: dict[str, list[int] | None]
    """Grounded attributes: [start, end) of the value in the input text (None: no span)."""
    confidence: dict[str, float | None]
    """exp(mean log-probability) of each value's tokens under the unconstrained model."""
    removed: dict[str, float | None]
    """Mean share of probability mass the constraint took away while each value was written."""
    warnings: list[str]
    """What decoding changed (a value closed at its budget, one set to null)."""
    attempts: int = 1


@dataclass
class _Row:
    text: str
    """The input as the prompt holds it (what values are copied from)."""
    warnings: list[str]
    names: list[str]
    slots: list[Slot]
    shown: str
    """The input as the prompt shows it (control strings escaped, the same length as text)."""
    attr: int = 0
    state: tuple = ()
    vstate: Any = None
    """The value automaton's last state (kept when the slot moves on into the fixed text)."""
    value: bytearray = field(default_factory=bytearray)
    tokens: int = 0
    logprobs: list[float] = field(default_factory=list)
    kept_mass: list[float] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)
    spans: dict[str, list[int] | None] = field(default_factory=dict)
    draft: list[int] = field(default_factory=list)
    """Tokens proposed from the source text, fed after the chosen token and verified next step."""
    confidence: dict[str, float | None] = field(default_factory=dict)
    """exp(mean log-probability) of the value's tokens under the unconstrained model."""
    removed: dict[str, float | None] = field(default_factory=dict)
    """Mean share of probability mass the constraint took away while the value was written."""
    null_logprob: float | None = None
    """Log-probability (unconstrained) of starting ``null`` where the current value began."""
    null_bias: float = 0.0
    """Log-probability taken off ``null`` in the null-or-value decisions (ExtractConfig.null_bias)."""
    reuse_penalty: float = 0.0
    """Margin a span taken by an earlier attribute needs over null (ExtractConfig.reuse_penalty)."""
    shared: frozenset[str] = frozenset()
    """Attributes whose spans are not the record's alone (``x-shared-span``)."""
    done: bool = False


class ConstrainedDecoder:
    """Constrained slot filling for one backend and schema (see the module docstring).

    ``system_ids``: the token ids of the system turn every prompt starts with
    (``prompt_build.system_prompt_ids``), whose KV cache is computed once and reused;
    ``null_bias``, ``reuse_penalty``: ExtractConfig's. The decoder keeps, between batches, the prefix
    caches (``prefixes``), the slots whose constraint does not depend on the input (``shared_slots``)
    and its timing (``stats``)."""

    def __init__(self, backend: Any, schema: Schema, *, system_ids: Sequence[int] = (),
                 null_bias: float = 0.0, reuse_penalty: float = 0.0) -> None:
        if not backend.supports_constrained:
            raise ConfigError(f"decoding 'constrained' needs token-level access to the model; backend "
                              f"{backend.name!r} supports only --decoding free")
        self.backend = backend
        self.schema = schema
        self.null_bias = null_bias
        self.reuse_penalty = reuse_penalty
        self.shared = frozenset(a.name for a in schema.attributes if a.shared_span)
        self.prefixes = PrefixCache(system_ids=list(system_ids))
        self.shared_slots: dict[str, Slot] = {}
        self.stats = DecodingStats()

    def decode(self, prompts: list[str], texts: list[str],
               warnings: list[list[str]] | None = None) -> list[Decoded]:
        """Decode each rendered prompt (``backend.render_chat`` of its messages) whose input text is
        ``texts[i]``; one ``Decoded`` per prompt, in order. ``warnings``: per prompt, the list its
        decoding warnings are appended to as they occur (so a caller keeps them should decoding
        fail midway); by default a new list each."""
        import torch

        backend = self.backend
        index = token_index(backend)
        first_key = backend.escape("{" + json.dumps(self.schema.names[0], ensure_ascii=False) + ":")
        rows = []
        prompts_ids = []
        for i, (prompt, text) in enumerate(zip(prompts, texts, strict=True)):
            shown = backend.escape(text)
            slots = build_slots(self.schema, backend, shown, self.shared_slots)
            rows.append(_Row(text=text, warnings=warnings[i] if warnings is not None else [],
                             names=self.schema.names, slots=slots, shown=shown, state=slots[0].start(),
                             null_bias=self.null_bias, reuse_penalty=self.reuse_penalty, shared=self.shared))
            prompts_ids.append(backend.encode(prompt + first_key))
        t0 = time.perf_counter()
        prefix = shared_prefix(self.prefixes, backend, prompts_ids)
        done = len(prefix.ids) if prefix is not None else 0
        budgets = [value_budget(a, backend) for a in self.schema.attributes]
        # Room in the KV buffers for a whole record (values, the fixed text around them, some
        # rejected drafts), so that they seldom have to grow (a copy of every row's cache).
        room = sum(budgets) + FIXED_TOKENS * len(budgets)
        logits, cache, mask, pos = prefill(backend, prefix, [p[done:] for p in prompts_ids], room)
        active = list(range(len(rows)))
        drafts = [0] * len(rows)
        constraint_seconds = 0.0
        while True:
            c0 = time.perf_counter()
            chunks = []
            still = []
            for b, r in enumerate(active):
                row = rows[r]
                n = drafts[b]
                last = LogProbs(logits[b, logits.shape[1] - 1 - n:])
                chunk, accepted = _advance(row, last, index, backend, budgets)
                if accepted < n:  # rejected draft tokens stay in the cache, masked out for good
                    mask[b, mask.shape[1] - n + accepted:] = 0
                    pos[b] -= n - accepted
                if row.done:
                    continue
                still.append(b)
                chunks.append(chunk)
            constraint_seconds += time.perf_counter() - c0
            if not still:
                break
            if len(still) < len(active):
                keep = torch.tensor(still, device=backend.device)
                cache.batch_select_indices(keep)
                mask, pos = mask[keep], pos[keep]
                active = [active[b] for b in still]
            drafts = [len(rows[r].draft) for r in active]
            logits, cache, mask, pos = forward(backend, chunks, cache, mask, pos, keep=1 + max(drafts))
        self.stats.seconds += time.perf_counter() - t0
        self.stats.constraint_seconds += constraint_seconds
        return [Decoded(values=row.values, spans=row.spans, confidence=row.confidence, removed=row.removed,
                        warnings=row.warnings) for row in rows]


class LogProbs:
    """One row's log-probabilities at its last positions, computed only where read: a row reads
    the positions up to its first rejected draft token, and there only its allowed tokens. (A
    float32 log_softmax over every position of a batch and the whole vocabulary, most of it never
    read, cost about a tenth of a batched decoding step.)"""

    def __init__(self, logits: Any) -> None:
        self.logits = logits
        """``[positions, vocabulary]`` logits, in the model's dtype."""

    def scores(self, j: int, ids: Any) -> Any:
        """float32 log-probabilities of tokens ``ids`` at position ``j``."""
        import torch

        at = self.logits[j]
        return at[ids].float() - torch.logsumexp(at.float(), dim=0)


def _advance(row: _Row, logprobs: LogProbs, index: TokenIndex, backend: TransformersBackend,
             budgets: list[int]) -> tuple[list[int], int]:
    """Choose this row's next token(s) under its constraint. ``logprobs.scores(j, ids)`` is the
    distribution after the row's j first draft tokens; each draft token is kept only while it is
    exactly what greedy constrained decoding would choose, so drafts change speed, never results.
    Returns (ids to feed next, number of draft tokens accepted)."""
    import torch

    draft, row.draft = row.draft, []
    for j in range(len(draft) + 1):
        slot = row.slots[row.attr]
        allowed = slot.allowed(index, row.state)
        if not allowed or row.tokens >= budgets[row.attr]:
            return _finish_value(row, backend, forced_close=True), j
        ids = torch.tensor(allowed, dtype=torch.long, device=logprobs.logits.device)
        scores = logprobs.scores(j, ids)
        choice = scores
        if not row.value.strip():  # null or value is still open (a lone space token decides nothing)
            nullish = [i for i, t in enumerate(allowed) if t in index.nullish]
            if row.tokens == 0:
                row.null_logprob = float(torch.logsumexp(scores[nullish], dim=0)) if nullish else None
            if nullish and row.null_bias:
                choice = scores.clone()
                choice[nullish] -= row.null_bias
        best = int(torch.argmax(choice))
        token = allowed[best]
        row.logprobs.append(float(scores[best]))
        row.kept_mass.append(float(torch.logsumexp(scores, dim=0).exp()))
        row.tokens += 1
        state = row.state
        for byte in index.bytes_of[token]:  # type: ignore[union-attr]
            state = slot.step(state, byte)
            if state[0] == "v":
                row.value.append(byte)
                row.vstate = state[1]
        row.state = state
        if state[0] == "s" or slot.value_complete(state):
            return [token] + _finish_value(row, backend, forced_close=False), j
        if j < len(draft) and token == draft[j]:
            continue
        row.draft = _propose(row, index, backend, budgets[row.attr] - row.tokens)
        return [token] + row.draft, j
    raise AssertionError("unreachable: the last iteration always returns")


FIXED_TOKENS = 8
"""KV positions set aside per attribute, beyond its value's budget, for the fixed text and drafts."""
DRAFT_TOKENS = 4
"""How many tokens of the source text are proposed at once while the model copies a span."""


def _propose(row: _Row, index: TokenIndex, backend: TransformersBackend, room: int) -> list[int]:
    """Draft the next tokens of a grounded span from the source text itself (prompt lookup):
    while the model copies, the source says what comes next, and one forward pass checks
    several tokens. Only tokens the constraint allows are proposed."""
    slot = row.slots[row.attr]
    typed = slot.value.typed
    state = row.state
    if room <= 0 or not isinstance(typed, Grounded) or state[0] != "v" or state[1][0] != "typed" \
            or state[1][1][0] != "in":
        return []
    live = state[1][1][1]
    q = min(live)
    continuation = typed.escaped[q: q + 8 * DRAFT_TOKENS].decode("utf-8", errors="ignore")
    if not continuation:
        return []
    proposal = []
    for token in backend.encode(continuation)[: min(DRAFT_TOKENS, room)]:
        pieces = index.bytes_of[token]
        if not pieces:
            break
        nxt = state
        for byte in pieces:
            nxt = slot.step(nxt, byte)
            if nxt is None or nxt[0] != "v":
                break
        if nxt is None or nxt[0] != "v":
            break
        state = nxt
        proposal.append(token)
    return proposal


def _finish_value(row: _Row, backend: TransformersBackend, forced_close: bool) -> list[int]:
    """Record the finished value, move to the next attribute, and return the tokens of what must
    be fed before the model writes again: closing bytes (when the budget ran out) and the rest
    of the fixed text."""
    slot = row.slots[row.attr]
    name = row.names[row.attr]
    state = row.state
    feed = b""
    if forced_close and state[0] == "v":
        closer = slot.value.close(state[1])
        if closer is not None:
            for byte in closer:
                state = slot.step(state, byte)
                row.vstate = state[1]
            row.value.extend(closer)
            feed += closer
            row.warnings.append(f"{name}: value reached its token budget and was closed early")
        else:
            # No valid value can be finished: close what was opened so the model's context stays
            # well-formed JSON, and record null.
            text = bytes(row.value)
            if text.count(b'"') - text.count(b'\\"') == 1:
                feed += b'"'
            if text.lstrip().startswith(b"[") and not text.endswith(b"]"):
                feed += b"]"
            row.value = bytearray(b" null")
            row.vstate = None
            row.warnings.append(f"{name}: no complete value within its token budget; set to null")
    consumed = state[1] if state[0] == "s" else 0
    feed += slot.suffix[consumed:]
    try:
        value = json.loads(bytes(row.value).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        value = None
        row.warnings.append(f"{name}: unreadable value set to null")
    typed = slot.value.typed
    grounded = isinstance(value, str) and isinstance(typed, Grounded) and bool(row.vstate) and row.vstate[0] == "typed"
    span = typed.span(row.vstate[1], value) if grounded else None
    if value is not None and not forced_close and row.null_logprob is not None:
        # The constraint can force a value the model never meant (it wanted one that is not in
        # the text): keep it only when the model rates it at least as likely as null, and a span
        # an earlier attribute took only when clearly more likely.
        logprob, null = sum(row.logprobs), row.null_logprob - row.null_bias
        owner = _taken_by(row, name, span)
        why = None
        if logprob < null:
            why = f"less likely than null ({math.exp(logprob):.3g} < {math.exp(row.null_logprob):.3g})"
        elif owner is not None and logprob < null + row.reuse_penalty:
            why = (f"is {owner}'s span and not {math.exp(row.reuse_penalty):.3g} times as likely as null "
                   f"({math.exp(logprob):.3g} vs {math.exp(row.null_logprob):.3g})")
        if why is not None:
            row.warnings.append(f"{name}: {value!r} {why}; set to null")
            value = None
            row.vstate = None
    if isinstance(value, str) and grounded:
        row.spans[name] = list(span) if span else None
        if span:  # as the input writes it: the model copied the escaped text (same offsets)
            value = row.text[span[0]: span[1]]
    value = restore_escaped(value, row.shown, row.text)
    row.values[name] = value
    if row.logprobs:
        # Four significant digits, never rounded to zero: 0.0 would read as "certainly wrong".
        row.confidence[name] = float(f"{math.exp(sum(row.logprobs) / len(row.logprobs)):.4g}")
        row.removed[name] = round(1 - sum(row.kept_mass) / len(row.kept_mass), 4)
    else:
        row.confidence[name] = row.removed[name] = None
    row.attr += 1
    row.value = bytearray()
    row.vstate = None
    row.tokens = 0
    row.logprobs, row.kept_mass = [], []
    row.null_logprob = None
    if row.attr == len(row.slots):
        row.done = True  # the closing brace needs no forward pass: the row leaves the batch
        return []
    row.state = row.slots[row.attr].start()
    return backend.encode(feed.decode("utf-8")) if feed else []


def _taken_by(row: _Row, name: str, span: tuple[int, int] | None) -> str | None:
    """The earlier attribute of the row whose value is ``span`` (the same start and end: nested and
    overlapping spans are often right, "32W" in "32W x 30L"), when the reuse rule applies: a
    penalty is set and neither attribute is marked ``x-shared-span``."""
    if not row.reuse_penalty or span is None or name in row.shared:
        return None
    return next((other for other, taken in row.spans.items()
                 if taken is not None and tuple(taken) == tuple(span) and other not in row.shared), None)
