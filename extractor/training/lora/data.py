"""Training data for LoRA tuning: read example files, render each example the way extraction
prompts it, and mark which tokens the loss is taken on.

A training row is the inference prompt (``prompt_build.build_prompt``: truncation, demonstrations,
``render_messages``; then ``backend.render_chat``) followed by the answer the constrained decoder
writes (``format_answer``: every attribute in schema order, null when absent) and the end-of-turn
token. Only the answer and end-of-turn tokens carry labels; every other label is -100."""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...config import ExtractConfig
from ...demos import Shot
from ...errors import ConfigError
from ...evaluate.scorer import GOLD_ABSENT, GoldOffer
from ...prompt_build import null_lost_values
from ...prompts import render_messages
from ...records import Document
from ...schemas import Schema
from ..examples import Example, examples_of_target_scores, file_layout, read_shots
from .config import FinetuneConfig

if TYPE_CHECKING:
    from ...backends.transformers import TransformersBackend
    from ...pipeline import Extractor

IGNORE = -100
"""The label torch's cross-entropy skips."""


@dataclass
class ValidationSet:
    """One validation file: documents, gold aligned with them, and per-category schemas/pools."""

    path: str
    documents: list[Document]
    gold: list[GoldOffer]
    schemas: dict[str, Schema]
    """Document category -> schema."""
    pools: dict[str, list[Shot]]
    """Document category -> demonstrations (benchmark files: from train.jsonl beside them)."""

    def head(self, limit: int | None) -> ValidationSet:
        if limit is None:
            return self
        return ValidationSet(self.path, self.documents[:limit], self.gold[:limit], self.schemas, self.pools)


@dataclass
class Row:
    """One tokenized training sequence with its labels (IGNORE outside the answer)."""

    input_ids: list[int]
    labels: list[int]
    schema: str
    """The example's schema id."""
    prefix: int = 0
    """Length of the leading system turn, the same tokens in every row of this schema (0: none
    found): training computes it once per batch, as extraction computes it once per schema."""

    @property
    def supervised(self) -> int:
        return sum(label != IGNORE for label in self.labels)


# --- reading -------------------------------------------------------------------------------

def file_sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_examples(path: str | Path, config: FinetuneConfig) -> list[Example]:
    """The training examples of one file (either layout)."""
    path = Path(path)
    if file_layout(path) == "benchmark":
        return examples_of_target_scores(path, config.title_only)
    return [Example(obj["text"], obj["record"], schema, str(path))
            for _, obj, schema in read_shots(path, config.schema)]


def _gold_form(value: Any) -> str:
    if value is None:
        return GOLD_ABSENT
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _one_answer_gold(identifier: str, schema: Schema, record: dict[str, Any]) -> GoldOffer:
    """Gold for an offer whose record is the one correct answer (null: absent)."""
    return GoldOffer(id=identifier, has_id=True, category=schema.id,
                     targets={n: (_gold_form(v),) for n, v in record.items()})


def load_validation(path: str | Path, config: FinetuneConfig) -> ValidationSet:
    """One validation file. Benchmark files go through ``load_benchmark`` (schemas and pools from
    train.jsonl beside them); shots files become gold with one form per value (non-strings as
    compact JSON), null meaning absent."""
    path = Path(path)
    if file_layout(path) == "benchmark":
        from ...evaluate.datasets import load_benchmark

        bench = load_benchmark(str(path.parent), split=path.stem, title_only=config.title_only)
        pools = {c: [Shot(d["text"], d["record"]) for d in items] for c, items in bench.pools.items()}
        return ValidationSet(str(path), bench.documents, bench.gold, bench.schemas, pools)
    documents, gold, schemas = [], [], {}
    for index, (_, obj, schema) in enumerate(read_shots(path, config.schema)):
        identifier = str(obj["id"]) if obj.get("id") is not None else str(index)
        schemas[schema.id] = schema
        documents.append(Document(id=identifier, text=obj["text"], category=schema.id))
        gold.append(_one_answer_gold(identifier, schema, obj["record"]))
    return ValidationSet(str(path), documents, gold, schemas, {})


def hold_out(examples: list[Example], share: float, seed: int) -> tuple[list[Example], ValidationSet | None]:
    """Split ``share`` of the examples of every schema (seeded) off as a validation set; the rest
    is the training set. Each held-out offer's gold is the one answer its training target shows."""
    if share <= 0:
        return examples, None
    by_schema: dict[str, list[int]] = {}
    for i, example in enumerate(examples):
        by_schema.setdefault(example.schema.id, []).append(i)
    rng = random.Random(seed)
    held: set[int] = set()
    for indices in by_schema.values():
        n = round(len(indices) * share)
        if n and len(indices) - n >= 1:  # a schema keeps at least one training example
            held.update(rng.sample(indices, n))
    documents, gold, schemas = [], [], {}
    order = sorted(held)
    rng.shuffle(order)  # so that ``eval_limit`` takes a sample of every schema, not the first file's
    for i in order:
        example = examples[i]
        identifier = f"dev-{i}"
        schemas[example.schema.id] = example.schema
        documents.append(Document(id=identifier, text=example.text, category=example.schema.id))
        gold.append(_one_answer_gold(identifier, example.schema, example.record))
    train = [e for i, e in enumerate(examples) if i not in held]
    if not documents:
        return train, None
    return train, ValidationSet(f"held-out {share:g} of train", documents, gold, schemas, {})


# --- rendering -----------------------------------------------------------------------------

def answer_text(schema: Schema, record: dict[str, Any], prompt_id: str) -> str:
    """The assistant reply for ``record`` as the template renders a demonstration's answer
    (``format_answer`` inside the template's ``answer`` macro)."""
    return render_messages(schema, "", [Shot("", record)], prompt_id)[2]["content"]


def end_of_turn(backend: TransformersBackend) -> str:
    """The text the chat template closes an assistant turn with (``<|im_end|>`` for ChatML)."""
    tok = backend.tokenizer
    if getattr(tok, "chat_template", None):
        marker = "\x00ANSWER\x00"
        text = tok.apply_chat_template([{"role": "user", "content": "x"}, {"role": "assistant", "content": marker}],
                                       tokenize=False)
        tail = text.split(marker, 1)[1].strip() if marker in text else ""
        if tail:
            return tail
    return tok.eos_token or ""


class RowBuilder:
    """Turns examples into training rows with the prompts extraction would send."""

    def __init__(self, backend: TransformersBackend, config: FinetuneConfig, pools: dict[str, list[Shot]]) -> None:
        self.backend = backend
        self.config = config
        self.pools = pools
        """Schema id -> demonstrations (used when ``config.k`` > 0)."""
        self.eot = end_of_turn(backend)
        self._extractors: dict[str, Extractor] = {}
        self._system_ids: dict[str, list[int]] = {}

    def extractor(self, schema: Schema, pool: list[Shot] | None = None, batch_size: int = 8,
                  null_bias: float = 0.0) -> Extractor:
        """An Extractor with the training prompt settings (constrained decoding, like extraction)."""
        from ...pipeline import Extractor

        c = self.config
        config = ExtractConfig(prompt=c.prompt, k=c.k, selection=c.selection, seed=c.seed, batch_size=batch_size,
                               decoding="constrained", max_text_tokens=c.max_text_tokens,
                               max_shot_tokens=c.max_shot_tokens, null_bias=null_bias)
        return Extractor(self.backend, schema, config, shots=list(pool if pool is not None else
                                                                  self.pools.get(schema.id, [])))

    def _extractor_for(self, schema: Schema) -> Extractor:
        extractor = self._extractors.get(schema.id)
        if extractor is None:
            extractor = self._extractors[schema.id] = self.extractor(schema)
        return extractor

    def system_ids(self, schema: Schema) -> list[int]:
        """The tokens of the system turn alone (what the constrained decoder caches per schema)."""
        ids = self._system_ids.get(schema.id)
        if ids is None:
            ids = self._system_ids[schema.id] = self._extractor_for(schema).prompt_builder.system_ids()
        return ids

    def prompt_and_answer(self, example: Example) -> tuple[str, str]:
        """The rendered prompt and the supervised text (answer + end of turn) of one example."""
        extractor = self._extractor_for(example.schema)
        built = extractor.prompt_builder.build(example.text, [example.origin] if example.origin else ())
        if built.error is not None:
            raise ConfigError(f"training example from {example.source} cannot be prompted: {built.error}")
        record = example.record
        if built.text != example.text:
            # As with shortened demonstrations: never teach a value the prompt no longer shows.
            record = null_lost_values(record, built.text)
        prompt = self.backend.render_chat(built.messages)
        # The answer copies values from the text as the prompt shows it (control strings escaped),
        # which is also what constrained decoding lets the model write.
        answer = self.backend.escape(answer_text(example.schema, record, self.config.prompt))
        return prompt, answer + self.eot

    def row(self, example: Example) -> Row:
        prompt, answer = self.prompt_and_answer(example)
        enc = self.backend.tokenizer(prompt + answer, add_special_tokens=False, return_offsets_mapping=True)
        ids = list(enc["input_ids"])[: self.config.max_length]
        starts = [start for start, _ in enc["offset_mapping"]][: len(ids)]
        # A token that starts inside the prompt belongs to the prompt, even if it runs into the answer.
        labels = [tid if start >= len(prompt) else IGNORE for tid, start in zip(ids, starts)]
        system = self.system_ids(example.schema)
        shared = bool(system) and len(ids) > len(system) and ids[: len(system)] == system
        return Row(ids, labels, example.schema.id, len(system) if shared else 0)


def check_rows(rows: list[Row], examples: list[Example]) -> None:
    """Refuse to train when any example has no supervised token (e.g. cut off by max_length)."""
    empty = [i for i, row in enumerate(rows) if row.supervised == 0]
    if empty:
        first = examples[empty[0]]
        raise ConfigError(f"{len(empty)} training example(s) have no supervised (answer) tokens, e.g. from "
                          f"{first.source}: {first.text[:60]!r} ({len(rows[empty[0]].input_ids)} tokens); raise "
                          "max_length or lower max_text_tokens / k")


def show_row(row: Row, tokenizer: Any) -> str:
    """The row's text with each run of supervised tokens inside ``[[ ]]``, then its counts."""
    parts: list[str] = []
    inside = False
    for tid, label in zip(row.input_ids, row.labels):
        supervised = label != IGNORE
        if supervised != inside:
            parts.append("[[" if supervised else "]]")
            inside = supervised
        parts.append(tokenizer.decode([tid]))
    if inside:
        parts.append("]]")
    pieces = " | ".join(repr(tokenizer.decode([t]))[1:-1] for t, l in zip(row.input_ids, row.labels) if l != IGNORE)
    return ("".join(parts) + f"\n\nsupervised tokens ({row.supervised}): {pieces}\n"
            f"ignored tokens: {len(row.input_ids) - row.supervised}")


def rows_summary(rows: list[Row]) -> str:
    supervised = sum(r.supervised for r in rows)
    total = sum(len(r.input_ids) for r in rows)
    lengths = sorted(len(r.input_ids) for r in rows)
    return (f"{len(rows)} examples over {len({r.schema for r in rows})} schema(s): {supervised} supervised and "
            f"{total - supervised} ignored tokens ({100 * supervised / max(total, 1):.1f}% supervised); "
            f"sequence length min {lengths[0]}, median {lengths[len(lengths) // 2]}, max {lengths[-1]}")


# --- batching ------------------------------------------------------------------------------

def length_batches(lengths: list[int], groups: list[str], batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """Batches of row indices for one epoch. Rows of one group (schema) only, so a batch shares
    its system prompt; within a group, shuffled, then sorted by length inside windows of 50
    batches so each batch holds similar lengths (little padding); then all batches shuffled.
    Deterministic for (seed, epoch), so a resumed run sees the same order."""
    rng = random.Random(f"{seed}/{epoch}")
    by_group: dict[str, list[int]] = {}
    for i, group in enumerate(groups):
        by_group.setdefault(group, []).append(i)
    window = batch_size * 50
    batches = []
    for group in sorted(by_group):
        order = by_group[group]
        rng.shuffle(order)
        for start in range(0, len(order), window):
            chunk = sorted(order[start: start + window], key=lambda i: lengths[i])
            batches.extend(chunk[i: i + batch_size] for i in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches


def collate(rows: list[Row], pad_id: int) -> dict[str, Any]:
    """Right-padded tensors: input_ids, attention_mask and labels (IGNORE on padding)."""
    import torch

    width = max(len(r.input_ids) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    labels = torch.full((len(rows), width), IGNORE, dtype=torch.long)
    for b, row in enumerate(rows):
        n = len(row.input_ids)
        ids[b, :n] = torch.tensor(row.input_ids)
        mask[b, :n] = 1
        labels[b, :n] = torch.tensor(row.labels)
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}
