"""`benchmarks/quality.py` with the base model in bitsandbytes NF4 on the CPU, to score a QLoRA
adapter on the 4-bit base it was trained on when no GPU is at hand (a GPU lease can end before its
validation pass). extractor itself refuses `--quantize 4bit` without CUDA; this benchmark uses
bitsandbytes' own CPU kernels (0.50 ships them), slow and unsupported by us, for figures only.
The NF4 settings are extractor's (`extractor.models.nf4_config`).

    PYTHONPATH=<folder with bitsandbytes> python benchmarks/nf4_cpu_quality.py --dataset oa-mine \\
        --adapter adapters/smollm2-oa-mine-k3-qlora --out runs/qlora-gpu/nf4-cpu.records.jsonl

Takes every option of `benchmarks/quality.py` but --device; --quantize 4bit is implied (it labels
the benchmark row)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import extractor.models as models
from extractor.config import ModelConfig


def load_nf4_on_cpu(config: ModelConfig | None = None, **overrides: Any):
    """``extractor.models.load_model`` with the weights quantized to NF4 on the CPU."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from extractor.backends.transformers import TransformersBackend

    config = config or ModelConfig(**overrides)
    quantization = models.nf4_config()  # first: without bitsandbytes, say so before loading anything
    source, display = models.resolve_model_path(config.model)
    tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(source, local_files_only=True, device_map={"": "cpu"},
                                                 quantization_config=quantization)
    if config.adapter:
        model = models.apply_adapter(model, config.adapter)
    model.eval()
    return TransformersBackend(model, tokenizer, name=display, adapter=config.adapter)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--device" in {a.split("=")[0] for a in argv}:
        raise SystemExit("nf4_cpu_quality.py always loads the model on the CPU: drop --device")
    if "--quantize" not in {a.split("=")[0] for a in argv}:
        argv += ["--quantize", "4bit"]
    sys.path.insert(0, str(Path(__file__).parent))
    from quality import main as quality_main

    original = models.load_model
    models.load_model = load_nf4_on_cpu  # the pipeline imports it at call time
    try:
        return quality_main(argv)
    finally:
        models.load_model = original


if __name__ == "__main__":
    sys.exit(main())
