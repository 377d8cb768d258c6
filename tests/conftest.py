"""Shared fixtures: a scripted backend and a tiny random causal LM with a real tokenizer; tiny BERT
builders; and ``load_script``, which imports a benchmark or example script for its tests."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from hypothesis import settings

# CI (.ci/run sets CI=true) runs every property test on the same examples each time, so a red run
# is a change in the code, not a new seed; locally each run draws new ones.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _float32_on_every_cpu(monkeypatch):
    """Models load as float32 on the CPU in every test, AMX or not (``dtype="auto"`` picks bfloat16
    on CPUs with AMX tiles): the tests' tolerances and expected records are float32 ones, and must
    not depend on the machine. tests/test_models.py checks the choice itself."""
    import torch

    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)


def load_script(path: str | Path, name: str | None = None):  # type: ignore[no-untyped-def]
    """The script at ``path`` (relative to the repository, e.g. ``benchmarks/tagger.py``) imported as
    a module named ``name`` (default ``benchmarks_<stem>``) and registered in ``sys.modules``, which
    dataclasses need while their classes are built. Benchmarks and examples are scripts, not a
    package, so their tests load them this way."""
    import importlib.util

    path = REPO / path
    name = name or f"benchmarks_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

CORPUS = [
    'Nike Air Zoom Pegasus running shoe black white size 10 {"Brand": "Nike", "Color": null}',
    "Hanes mens crew tee 6-pack navy blue XL 100% cotton short sleeve",
    "Samsung 1TB portable SSD T7 USB 3.2 gray 15.6 inch laptop 16GB RAM",
    "0123456789 {}[]:,\" null true false - / . ' x cm in mm GB",
]


def build_tiny_model(seed: int = 0):
    """A 2-layer random Llama with a byte-level BPE tokenizer trained on a few product lines."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(CORPUS * 3, trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|im_start|>", eos_token="<|im_end|>",
                                        pad_token="<|im_end|>", unk_token="<|endoftext|>")
    tokenizer.chat_template = CHATML
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=True)
    model = LlamaForCausalLM(config).eval()
    return model, tokenizer


@pytest.fixture(scope="session")
def tiny_model():
    return build_tiny_model()


@pytest.fixture()
def tiny_backend(tiny_model):
    from extractor.backends.transformers import TransformersBackend

    model, tokenizer = tiny_model
    return TransformersBackend(model, tokenizer, name="tiny-random")


def wordpiece_tokenizer(vocab: list[str] | None = None):
    """A lowercasing BERT-style WordPiece tokenizer (tokenizers' Tokenizer): over ``vocab`` as given,
    or empty, for the caller to train."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers

    model = models.WordPiece({token: i for i, token in enumerate(vocab)}, unk_token="[UNK]") if vocab \
        else models.WordPiece(unk_token="[UNK]")
    tok = Tokenizer(model)
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    return tok


def save_tiny_bert(folder, tok, positions: int = 128):  # type: ignore[no-untyped-def]
    """Save a 2-layer random BERT (seed 0) with ``tok`` (``wordpiece_tokenizer``, trained or not) to
    ``folder`` like a Hub checkpoint; ``positions``: the model's position embeddings."""
    import torch
    from tokenizers import processors
    from transformers import BertConfig, BertModel, BertTokenizerFast

    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", tok.token_to_id("[CLS]")), ("[SEP]", tok.token_to_id("[SEP]"))])
    tokenizer = BertTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                  sep_token="[SEP]", mask_token="[MASK]")
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=positions)
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def wait_until_ready(process, base: str, seconds: float) -> None:  # type: ignore[no-untyped-def]
    """Poll ``base``/readyz until it answers 200, failing with the server's output if ``process``
    exits first or ``seconds`` pass (the servers tests start as subprocesses)."""
    import time

    import httpx

    deadline = time.monotonic() + seconds
    while True:
        assert process.poll() is None, process.stdout.read().decode()
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the server did not get ready"
        time.sleep(0.1)
