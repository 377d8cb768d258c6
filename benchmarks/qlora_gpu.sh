#!/usr/bin/env bash
# QLoRA on one CUDA GPU beside the CPU run of BENCHMARKS.md ("Tuning cost", the smollm2-oa-mine-k3 rows): the
# same config, steps, validations and null-bias grid, with the frozen base in bitsandbytes NF4.
#   1. time training steps without validation, QLoRA and then bf16 LoRA, for the speed ratio
#      (first: about a minute each, and a short lease ran out before it when it came last), and
#      profile 24 validation offers,
#   2. train (held-out F1 at steps 0, 20 and 40, then the null-bias calibration; about 6 min on
#      an H200, most of it the 7 validation passes),
#   3. score the validation split with the kept adapter (4-bit base, as it was trained; over 2 min).
# Needs: extractor importable by $PY, bitsandbytes, a CUDA GPU, the data under $DATA. Writes
# logs, the manifest, the records, a profile and a sampled GPU memory trace to $OUT (6 files), the adapters
# to $ADAPTERS. Each stage runs under a share of $BUDGET seconds, so a short lease still returns
# the stages that finished.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
DATA=${DATA:-../shared/data}
OUT=${OUT:-runs/qlora-gpu}
ADAPTERS=${ADAPTERS:-adapters}
BUDGET=${BUDGET:-3600}
STEPS=${STEPS:-40}; EVERY=${EVERY:-20}; SPEED_STEPS=${SPEED_STEPS:-20}
mkdir -p "$OUT"
exec > >(tee "$OUT/run.log") 2>&1
T0=$(date +%s)
left() { echo $(( BUDGET - ($(date +%s) - T0) )); }
stamp() { echo "=== [$(( $(date +%s) - T0 )) s] $*"; }
CONFIG=finetune/configs/smollm2-oa-mine-k3.yaml
TRAIN="$DATA/oa-mine/train.jsonl"
A="$ADAPTERS/smollm2-oa-mine-k3-qlora"

"$PY" -c "import torch, bitsandbytes; assert torch.cuda.is_available(), 'no CUDA GPU'; print(torch.cuda.get_device_name(), 'torch', torch.__version__, 'bitsandbytes', bitsandbytes.__version__)" || exit 2
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=timestamp,memory.used,utilization.gpu --format=csv,noheader -lms 500 > "$OUT/gpu.csv" &
  SAMPLER=$!
  trap 'kill $SAMPLER 2>/dev/null' EXIT
fi

for kind in qlora lora; do
  stamp "1. $SPEED_STEPS $kind steps without validation; $(left) s left"
  quant=(); [ "$kind" = qlora ] && quant=(--quantize 4bit)
  timeout $(( $(left) / 4 )) "$PY" -m extractor finetune -c "$CONFIG" --train "$TRAIN" --dev-share 0 "${quant[@]}" \
    -o "$ADAPTERS/speed-$kind" --max-steps "$SPEED_STEPS" --no-progress
  echo "$kind rc=$?"
done

# The H200 sat idle 75 to 87 % of the validation passes; on the CPU 93 % of that time is the
# model's forward passes. The same 24-offer profile on the GPU shows where its time goes.
stamp "1b. profile of 24 validation offers, bf16, no adapter; $(left) s left"
timeout $(( $(left) / 6 )) "$PY" -m cProfile -o /tmp/validation.prof benchmarks/quality.py --data "$DATA" --dataset oa-mine \
  --limit 24 --no-record --out /tmp/profile.records.jsonl && \
  "$PY" -c "import pstats; pstats.Stats('/tmp/validation.prof').sort_stats('cumulative').print_stats(40)" > "$OUT/profile.txt"

stamp "2. QLoRA, the CPU run's settings; $(left) s left"
timeout $(( $(left) * 6 / 10 )) "$PY" -m extractor finetune -c "$CONFIG" --train "$TRAIN" --quantize 4bit -o "$A" \
  --max-steps "$STEPS" --eval-every "$EVERY" --null-bias 0 --null-bias 0.5 --null-bias 1 --null-bias 2 --no-progress
echo "finetune rc=$?"
cp "$A/extractor_manifest.json" "$OUT/manifest.json" 2>/dev/null

stamp "3. validation split with the adapter; $(left) s left"
timeout $(( $(left) - 15 )) "$PY" benchmarks/quality.py --data "$DATA" --dataset oa-mine --adapter "$A" --quantize 4bit \
  --out "$OUT/oa-mine-validation.qlora.records.jsonl" --benchmarks-file "$OUT/bench.md" --record
echo "quality rc=$?"

stamp done
