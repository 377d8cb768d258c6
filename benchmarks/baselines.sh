#!/usr/bin/env bash
# The few-shot baselines of BENCHMARKS.md ("Extraction quality"): the embedded model, constrained decoding,
# 0 / 3 / 10 similar demonstrations, full validation splits of the three public benchmarks.
# Data is read from ../shared/data (override with DATA=...). CPU time: about 10-15 min per run
# at k=0/3 on 2 cores, more at k=10.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data}
for k in ${KS:-3 0 10}; do
  for ds in ${DATASETS:-oa-mine ae-110k wdc-pave}; do
    echo "=== $(date +%T) $ds k=$k"
    .venv/bin/python benchmarks/quality.py --data "$DATA" --dataset "$ds" --k "$k" --selection similar \
      --out "runs/quality/$ds-validation-k$k.jsonl" --record
  done
done
