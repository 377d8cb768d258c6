"""`benchmarks/quality.py` with the base model in bitsandbytes NF4 on the CPU, to score a QLoRA
adapter on the 4-bit base it was trained on when no GPU is at hand (a GPU lease can end before its
validation pass). extractor itself refuses `--quantize 4bit` without CUDA; this benchmark uses
bitsandbytes' own CPU kernels (0.50 ships them), slow and unsupported by us, for figures only.
The NF4 settings are extractor's (`extractor.nf4_config`).

    PYTHONPATH=<folder with bitsandbytes> python benchmarks/nf4_cpu_quality.py --dataset oa-mine \\
        --adapter adapters/smollm2-oa-mine-k3-qlora --out runs/qlora-gpu/nf4-cpu.records.jsonl

Takes every option of `benchmarks/quality.py` but --device; --quantize 4bit is implied (it labels
the benchmark row). It runs `benchmarks/quality.py --nf4-cpu` (which loads the model through the
public hook `extractor.model_loader`) in a child process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

QUALITY = Path(__file__).resolve().with_name("quality.py")


def command(argv: list[str]) -> list[str]:
    """The quality.py command line that runs ``argv`` with the model in NF4 on the CPU."""
    flags = {a.split("=")[0] for a in argv}
    if "--device" in flags:
        raise SystemExit("nf4_cpu_quality.py always loads the model on the CPU: drop --device")
    return [sys.executable, str(QUALITY), *argv, "--nf4-cpu"]


def main(argv: list[str] | None = None) -> int:
    return subprocess.run(command(list(sys.argv[1:] if argv is None else argv))).returncode


if __name__ == "__main__":
    sys.exit(main())
