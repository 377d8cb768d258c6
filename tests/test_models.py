"""Model loading: folders, GGUF paths, adapters, 4-bit refusal on CPU, the embedded file."""

from __future__ import annotations

import sys

import pytest
import torch  # a hard dependency: a broken install must fail here, not skip

from extractor.config import ModelConfig
from extractor.errors import ModelLoadError
from extractor.models import embedded_gguf, load_model, nf4_config



@pytest.fixture(scope="module")
def model_dir(tiny_model, tmp_path_factory):
    """The tiny random model and its tokenizer saved the way a Hugging Face folder is."""
    folder = tmp_path_factory.mktemp("tiny-model")
    model, tokenizer = tiny_model
    model.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return folder


@pytest.fixture(scope="module")
def adapter_dir(model_dir, tmp_path_factory):
    """A real peft LoRA adapter whose weights are not zero, so applying it changes the logits."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    folder = tmp_path_factory.mktemp("tiny-lora")
    base = AutoModelForCausalLM.from_pretrained(str(model_dir))
    torch.manual_seed(1)
    peft_model = get_peft_model(base, LoraConfig(r=4, lora_alpha=16, target_modules=["q_proj", "v_proj"],
                                                 init_lora_weights=False))
    peft_model.save_pretrained(str(folder))
    return folder


def _logits(backend, text: str = "Hanes crew tee navy XL") -> torch.Tensor:
    ids = torch.tensor([backend.encode(text)])
    with torch.inference_mode():
        return backend.model(input_ids=ids).logits


def test_folder_loads_into_transformers_backend(model_dir, tiny_model):
    from extractor.backends.transformers import TransformersBackend

    backend = load_model(ModelConfig(model=str(model_dir), device="cpu"))
    assert isinstance(backend, TransformersBackend)
    assert backend.name == str(model_dir) and backend.adapter is None
    assert backend.model.dtype == torch.float32  # auto on CPU
    assert not backend.model.training
    assert backend.context_window == tiny_model[0].config.max_position_embeddings == 4096
    assert backend.render_chat([{"role": "user", "content": "x"}]).endswith("<|im_start|>assistant\n")
    # Same weights as the model that was saved.
    reference = tiny_model[0]
    ids = torch.tensor([backend.encode("Hanes crew tee")])
    with torch.inference_mode():
        assert torch.allclose(reference(input_ids=ids).logits, _logits(backend, "Hanes crew tee"), atol=1e-5)


def test_explicit_dtype(model_dir):
    backend = load_model(model=str(model_dir), device="cpu", dtype="bfloat16")
    assert backend.model.dtype == torch.bfloat16


@pytest.mark.parametrize(("amx", "device", "dtype", "expected"), [
    (False, "cpu", "auto", torch.float32),  # bfloat16 is slow without bf16 units
    (True, "cpu", "auto", torch.bfloat16),  # AMX tiles run it faster than float32
    (True, "cpu", "float32", torch.float32),  # an explicit dtype wins
    (False, "cuda", "auto", torch.bfloat16),
    (True, "cuda:1", "auto", torch.bfloat16),
])
def test_auto_dtype_is_bfloat16_on_cuda_and_on_cpus_with_amx(monkeypatch, amx, device, dtype, expected):
    import extractor.models as models

    monkeypatch.setattr(models, "cpu_has_amx", lambda: amx)
    assert models.resolve_dtype(ModelConfig(dtype=dtype).dtype, device) == expected  # the LLM's and the taggers'


def test_cpu_has_amx_asks_torch_and_is_false_where_torch_cannot_tell(monkeypatch):
    import extractor.models as models

    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True, raising=False)
    assert models.cpu_has_amx() is True
    monkeypatch.delattr(torch.cpu, "_is_amx_tile_supported", raising=False)
    assert models.cpu_has_amx() is False

    def broken() -> bool:
        raise RuntimeError("no cpuinfo")

    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", broken, raising=False)
    assert models.cpu_has_amx() is False


@pytest.mark.skipif(torch.cuda.is_available(), reason="the refusal is for machines without CUDA")
def test_4bit_without_cuda_says_a_gpu_is_needed(model_dir):
    with pytest.raises(ModelLoadError) as info:
        load_model(ModelConfig(model=str(model_dir), quantize="4bit"))
    message = str(info.value)
    assert "CUDA GPU" in message and "--quantize" in message


def test_4bit_without_bitsandbytes_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "bitsandbytes", None)  # an import of it now fails
    with pytest.raises(ModelLoadError, match=r"needs bitsandbytes: pip install 'extractor\[gpu\]'"):
        nf4_config()


@pytest.mark.parametrize("name,needle", [
    ("missing/offers-model.gguf", "GGUF file not found"),
    ("./no-such-model-folder", "cannot load model"),
])
def test_missing_model_raises_model_load_error(tmp_path, name, needle):
    with pytest.raises(ModelLoadError, match=needle):
        load_model(ModelConfig(model=str(tmp_path / name) if name.endswith(".gguf") else name))


def test_a_plain_file_is_not_a_model(tmp_path):
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"\0" * 16)
    with pytest.raises(ModelLoadError, match="is a file"):
        load_model(ModelConfig(model=str(weights)))


def test_adapter_folder_without_config_raises(model_dir, tmp_path):
    (tmp_path / "adapter_model.safetensors").write_bytes(b"")
    with pytest.raises(ModelLoadError, match="no adapter_config.json"):
        load_model(ModelConfig(model=str(model_dir), adapter=str(tmp_path), device="cpu"))


def test_lora_adapter_loads_and_changes_logits(model_dir, adapter_dir):
    plain = load_model(ModelConfig(model=str(model_dir), device="cpu"))
    tuned = load_model(ModelConfig(model=str(model_dir), adapter=str(adapter_dir), device="cpu"))
    assert tuned.adapter == str(adapter_dir)
    assert tuned.describe()["adapter"] == str(adapter_dir)
    assert type(tuned.model).__name__.startswith("Peft")
    difference = (_logits(plain) - _logits(tuned)).abs().max().item()
    assert difference > 1e-3


def test_adapter_for_another_model_raises(model_dir, adapter_dir, tmp_path):
    import json

    config = json.loads((adapter_dir / "adapter_config.json").read_text())
    config["target_modules"] = ["no_such_proj"]
    bad = tmp_path / "bad-adapter"
    bad.mkdir()
    (bad / "adapter_config.json").write_text(json.dumps(config))
    (bad / "adapter_model.safetensors").write_bytes((adapter_dir / "adapter_model.safetensors").read_bytes())
    with pytest.raises(ModelLoadError, match="cannot apply adapter"):
        load_model(ModelConfig(model=str(model_dir), adapter=str(bad), device="cpu"))


def test_embedded_gguf_is_installed():
    path = embedded_gguf()
    assert path.is_file() and path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert path.stat().st_size > 50_000_000


def test_model_loader_replaces_load_model_inside_its_block_only():
    from extractor import Extractor, model_loader
    from extractor.backends.scripted import ScriptedBackend

    seen: list[ModelConfig] = []

    def loader(config):
        seen.append(config)
        return ScriptedBackend(lambda prompt: "{}")

    with model_loader(loader):
        assert isinstance(load_model(model="anything", quantize="4bit"), ScriptedBackend)
        Extractor.from_pretrained("other", schema="apparel", decoding="free")
    assert [(c.model, c.quantize) for c in seen] == [("anything", "4bit"), ("other", None)]
    import extractor.models as models

    assert not models._loaders  # the block is over: load_model loads again


# --- converting a GGUF file once, with several processes asking ----------------------------------

class _StubGGUF:
    """Stands in for transformers' GGUF loading: counts conversions, takes ``seconds`` each, and
    writes a config.json where a real save_pretrained would."""

    def __init__(self, seconds: float = 0.0, before_save=None) -> None:  # type: ignore[no-untyped-def]
        self.loads = 0
        self.seconds, self.before_save = seconds, before_save

    def install(self, monkeypatch) -> None:  # type: ignore[no-untyped-def]
        import time
        import types

        import transformers

        stub = self

        class Saved:
            def __init__(self) -> None:
                self.config = types.SimpleNamespace()
                self.hf_quantizer = object()

            def save_pretrained(self, folder: str) -> None:
                from pathlib import Path

                if stub.before_save is not None:
                    stub.before_save()
                Path(folder).mkdir(parents=True, exist_ok=True)
                (Path(folder) / "config.json").write_text("{}", encoding="utf-8")

        def model_from_pretrained(*args, **kwargs):  # type: ignore[no-untyped-def]
            stub.loads += 1
            time.sleep(stub.seconds)
            return Saved()

        monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", model_from_pretrained)
        monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", lambda *a, **k: Saved())


def test_concurrent_conversions_convert_once_and_share_the_copy(tmp_path, monkeypatch):
    import threading

    from extractor.models import convert_gguf

    monkeypatch.setenv("EXTRACTOR_CACHE", str(tmp_path / "cache"))
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"GGUF")
    stub = _StubGGUF(seconds=0.3)
    stub.install(monkeypatch)
    results: list = []
    threads = [threading.Thread(target=lambda: results.append(convert_gguf(gguf))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert stub.loads == 1  # the others waited on the lock, then used the copy
    assert len(results) == 3 and len(set(results)) == 1 and (results[0] / "config.json").is_file()
    assert not [p for p in results[0].parent.iterdir() if ".tmp" in p.name]


def test_a_copy_finished_by_another_process_first_is_used(tmp_path, monkeypatch):
    """A process without the lock (another machine on a shared cache, say) renames its copy into place
    while this one is saving: this one's rename fails, and it uses that copy and removes its own."""
    from extractor.models import _gguf_cache_path, convert_gguf

    monkeypatch.setenv("EXTRACTOR_CACHE", str(tmp_path / "cache"))
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"GGUF")
    target = _gguf_cache_path(gguf)

    def other_finishes() -> None:
        if not target.exists():
            target.mkdir(parents=True)
            (target / "config.json").write_text('{"by": "other"}', encoding="utf-8")

    _StubGGUF(before_save=other_finishes).install(monkeypatch)
    assert convert_gguf(gguf) == target
    assert (target / "config.json").read_text(encoding="utf-8") == '{"by": "other"}'
    assert not [p for p in target.parent.iterdir() if ".tmp" in p.name]


def _mmapped_bytes() -> int | None:
    """glibc's count of bytes in blocks it gave out by ``mmap`` (``mallinfo2().hblkhd``), or None
    where there is no such glibc (2.33 or later)."""
    import ctypes
    import ctypes.util

    fields = [(name, ctypes.c_size_t) for name in
              ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]

    class MallInfo2(ctypes.Structure):
        _fields_ = fields

    try:
        mallinfo2 = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallinfo2
    except (OSError, AttributeError):
        return None
    mallinfo2.restype = MallInfo2
    return int(mallinfo2().hblkhd)


@pytest.mark.skipif(not sys.platform.startswith("linux") or _mmapped_bytes() is None, reason="needs glibc 2.33+")
def test_keep_freed_memory_serves_a_prefills_large_blocks_from_the_heap():
    """A 12 MB tensor (one MLP intermediate of a batched prefill) comes from the heap, where its
    pages are reused by the next pass, not from an mmap of its own that faults in new pages."""
    import extractor.models as models

    assert models.keep_freed_memory() is True
    before = _mmapped_bytes()
    block = torch.ones(12 * 1024 * 1024, dtype=torch.uint8)
    assert _mmapped_bytes() - before < block.numel()  # with glibc's defaults it is mmapped: +12 MB
    del block


@pytest.mark.parametrize("name", ["MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_", "GLIBC_TUNABLES"])
def test_keep_freed_memory_leaves_a_users_own_malloc_settings(monkeypatch, name):
    import extractor.models as models

    monkeypatch.setenv(name, "131072")
    assert models.keep_freed_memory() is False
