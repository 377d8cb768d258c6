"""Prefill for constrained decoding (decoding/prefill.py): the shared-prefix cache and the unpadded
per-row prefill must give the same next-token logits, and the same records, as plain batched
passes over whole prompts."""

from __future__ import annotations

import pytest

from extractor.config import ExtractConfig
from extractor.decoding.prefill import Prefix, PrefixCache, _common_prefix, forward, prefill, shared_prefix
from extractor.demos import Shot
from extractor.pipeline import Extractor
from extractor.schemas import DRAFT, check_schema

SCHEMA = check_schema({"$schema": DRAFT, "title": "shop", "type": "object", "additionalProperties": False,
                       "properties": {"Brand": {"type": ["string", "null"]},
                                      "Color": {"type": ["string", "null"]},
                                      "Size": {"enum": ["S", "M", "L", "XL", None]}}}, name="shop")
SHOTS = [Shot("Nike Air Zoom Pegasus running shoe black white size 10",
              {"Brand": "Nike", "Color": "black", "Size": None}),
         Shot("Hanes mens crew tee 6-pack navy blue XL 100% cotton",
              {"Brand": "Hanes", "Color": "navy blue", "Size": "XL"})]
TEXTS = ["Samsung 1TB portable SSD T7 USB 3.2 gray",
         "Nike tee black M",
         "Levi's 501 jeans navy blue W32 L30 on sale now, 100% cotton, made to last",
         "x",
         "Hanes crew 6-pack white L"]


@pytest.mark.parametrize(("prompts", "want"), [
    ([[1, 2, 3, 4], [1, 2, 3, 5]], 3),
    ([[1, 2, 3], [1, 2, 3, 4, 5]], 2),  # every row keeps at least one token of its own
    ([[7, 2], [1, 2]], 0),
    ([[1, 2, 3, 4]], 3),
    ([[1], [1]], 0),
])
def test_common_prefix(prompts, want):
    assert _common_prefix(prompts) == want


@pytest.fixture(scope="module")
def backend(tiny_model):
    from extractor.backends.transformers import TransformersBackend

    model, tokenizer = tiny_model
    return TransformersBackend(model, tokenizer, name="tiny-random")


def _ids(backend, texts):
    return [backend.encode(t) for t in texts]


@pytest.mark.parametrize(("lengths", "pad_share", "group_tokens", "want"), [
    ([5, 9, 5], 0.25, 4096, [[0, 2], [1]]),  # 9 beside two 5s would pad 8 of 19
    ([5, 9, 5], 1.0, 4096, [[0, 2, 1]]),
    ([10, 11, 12, 40], 0.25, 4096, [[0, 1, 2], [3]]),
    ([10, 10, 10, 10], 0.25, 25, [[0, 1], [2, 3]]),  # at most 25 positions a pass
    ([7], 0.25, 4096, [[0]]),
    ([50], 0.25, 10, [[0]]),  # a row longer than a pass is a group of its own
])
def test_length_groups(monkeypatch, lengths, pad_share, group_tokens, want):
    from extractor.decoding import prefill as module

    monkeypatch.setattr(module, "PAD_SHARE", pad_share)
    monkeypatch.setattr(module, "GROUP_TOKENS", group_tokens)
    assert module.length_groups(lengths) == want


@pytest.mark.parametrize(("with_prefix", "pad_share"), [(False, 0.25), (True, 0.25), (True, 0.0), (True, 10.0)])
def test_unpadded_prefill_matches_one_padded_pass(backend, monkeypatch, with_prefix, pad_share):
    """With a prefix the rows are prefilled in groups of about equal length: one group per row
    (no padding allowed), the default, and all rows in one padded group give the same."""
    import torch

    from extractor.decoding import prefill as module

    monkeypatch.setattr(module, "PAD_SHARE", pad_share)
    rows = _ids(backend, ["Nike tee black M", "Levi's 501 jeans navy blue W32 L30 on sale", "x"])
    prefix, done = None, 0
    if with_prefix:
        head = backend.encode("<|im_start|>system\nExtract the attributes.<|im_end|>\n")
        _, cache = forward(backend, [head], None, torch.zeros(1, 0, dtype=torch.long), torch.zeros(1, dtype=torch.long))[:2]
        prefix, done = Prefix(head, cache), len(head)
    logits, cache, mask, pos = prefill(backend, prefix, rows)

    import copy
    base = None
    if prefix is not None:
        base = copy.deepcopy(prefix.cache)
        base.batch_repeat_interleave(len(rows))
    want, want_cache, want_mask, want_pos = forward(
        backend, rows, base, torch.ones(len(rows), done, dtype=torch.long), torch.full((len(rows),), done))
    assert logits.shape == want.shape
    assert torch.allclose(logits, want, atol=1e-5)
    assert pos.tolist() == want_pos.tolist() == [done + len(r) for r in rows]
    # With a prefix the stacked cache holds the rows' own positions only, the prefix once.
    own = [len(r) for r in rows] if with_prefix else want_mask.sum(dim=1).tolist()
    assert mask.sum(dim=1).tolist() == own
    assert (getattr(cache, "shared", None) is not None) == with_prefix  # several rows: shared
    # The stacked cache must carry on like the padded one: one more token per row, same logits.
    step = [[backend.encode(" the")[0]]] * len(rows)
    after, *_ = forward(backend, step, cache, mask, pos)
    want_after, *_ = forward(backend, step, want_cache, want_mask, want_pos)
    assert torch.allclose(after, want_after, atol=1e-5)


def _records(backend, **config):
    settings = ExtractConfig(**{"k": 2, "selection": "first", "decoding": "constrained", **config})
    extractor = Extractor(backend, SCHEMA, settings, shots=SHOTS)
    records = extractor.extract(TEXTS)
    return extractor, [{k: v for k, v in r.to_dict().items() if k not in ("confidence", "removed_mass")}
                       for r in records]


def test_fixed_demonstrations_are_computed_once_and_change_nothing(backend):
    batched, records = _records(backend, batch_size=3)
    single, want = _records(backend, batch_size=1)
    assert records == want
    system = batched.constrained_decoder.prefixes.system
    shared = batched.constrained_decoder.prefixes.batch
    # The shared prefix holds the system turn and both demonstrations, not just the system turn.
    assert len(shared.ids) > len(system.ids) + 20
    assert shared.ids[: len(system.ids)] == system.ids
    # Rows decoded one at a time find the same prefix from the row before them.
    assert single.constrained_decoder.prefixes.batch.ids == shared.ids
    stats = batched.constrained_decoder.stats
    assert stats.seconds >= stats.constraint_seconds > 0


def test_similar_demonstrations_share_only_the_system_turn(backend):
    import torch

    extractor = Extractor(backend, SCHEMA, ExtractConfig(k=1, selection="similar"), shots=SHOTS)
    prompts = [backend.encode(backend.render_chat(extractor.prompt_builder.build(t).messages))
               for t in ["Nike shoe black", "Hanes tee XL navy blue"]]
    cache = PrefixCache(system_ids=extractor.prompt_builder.system_ids())
    prefix = shared_prefix(cache, backend, prompts)
    assert prefix is cache.system
    assert cache.batch is None
    assert all(p[: len(prefix.ids)] == prefix.ids for p in prompts)
    assert isinstance(prefix.cache.layers[0].keys, torch.Tensor)


def test_a_lone_prompt_reuses_what_it_shares_with_the_one_before(backend):
    extractor = Extractor(backend, SCHEMA, ExtractConfig(k=2, selection="first"), shots=SHOTS)
    prompts = [backend.encode(backend.render_chat(extractor.prompt_builder.build(t).messages))
               for t in ["Nike shoe black", "Hanes tee XL navy blue"]]
    cache = PrefixCache(system_ids=extractor.prompt_builder.system_ids())
    assert shared_prefix(cache, backend, prompts[:1]) is cache.system  # nothing before it yet
    second = shared_prefix(cache, backend, prompts[1:])
    assert second is cache.batch and len(second.ids) > len(cache.system.ids) + 20
    assert prompts[0][: len(second.ids)] == prompts[1][: len(second.ids)] == second.ids
    assert shared_prefix(cache, backend, prompts[:1]) is second  # and the next one keeps it
