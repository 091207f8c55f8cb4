#!/usr/bin/env bash
# The GPU checks of prd-metric, as one script for a lent GPU machine (see benchmarks/README.md):
# the gpu-marked tests and the PRD benchmark. Needs torch, torchmetrics, scikit-learn, matplotlib there; torch-fidelity
# (pure Python) travels in .devsite/ when it is missing. Results go to $OUT (or ./gpu_out).
set -o pipefail
OUT=${OUT:-gpu_out}; mkdir -p "$OUT"
export PYTHONPATH=$PWD/.devsite:$PWD/packages/common/src:$PWD/packages/prd-metric/src PYTHONUNBUFFERED=1
PY=${PY:-python3}
nvidia-smi --query-gpu=name,memory.total --format=csv | tee "$OUT/gpu.txt"
$PY -c "import torch, torchmetrics, sklearn; print('torch', torch.__version__, 'torchmetrics', torchmetrics.__version__, 'sklearn', sklearn.__version__)" | tee -a "$OUT/gpu.txt"
$PY -m pytest -q -p no:cacheprovider -m gpu packages/prd-metric/tests 2>&1 | tee "$OUT/gpu_tests.log"
$PY benchmarks/bench_prd.py --json "$OUT/bench_prd_gpu.json" 2>&1 | tee "$OUT/bench_prd_gpu.log"
$PY benchmarks/bench_prd.py --n 50000 --skip-reference --seeds 1 --json "$OUT/bench_prd_gpu_50k.json" 2>&1 | tee "$OUT/bench_prd_gpu_50k.log"
