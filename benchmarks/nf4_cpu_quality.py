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

# Not public: this benchmark swaps the library's model loader for one that quantizes on the CPU,
# something extractor itself refuses (it needs the loader's own module and its NF4 settings).
import extractor.models as models
from extractor import ModelConfig


def load_nf4_on_cpu(config: ModelConfig | None = None, **overrides: Any):
    """``extractor.models.load_model`` with the weights quantized to NF4 on the CPU."""
    config = config or ModelConfig(**overrides)
    return models.load_pretrained(config, None, quantization_config=models.nf4_config(), device_map={"": "cpu"})


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    flags = {a.split("=")[0] for a in argv}
    if "--device" in flags:
        raise SystemExit("nf4_cpu_quality.py always loads the model on the CPU: drop --device")
    if "--quantize" not in flags:
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
