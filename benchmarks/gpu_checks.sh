#!/usr/bin/env bash
# The GPU checks, as one script for a lent GPU machine (see benchmarks/README.md): prd-metric's gpu-marked tests and
# its PRD benchmark; FRVSR streaming at 1080p (fp32, bf16 + channels_last, + torch.compile; issue 17) and the ENet-PAT
# training step (bf16, batch 32), each side by side with plain PyTorch in the same process. Needs torch, torchmetrics, scikit-learn, matplotlib there; torch-fidelity
# (pure Python) travels in .devsite/ when it is missing. Results go to $OUT (or ./gpu_out).
set -o pipefail
OUT=${OUT:-gpu_out}; mkdir -p "$OUT"
export PYTHONPATH=$PWD/.devsite:$PWD/packages/common/src:$PWD/packages/prd-metric/src:$PWD/packages/sr-video/src:$PWD/packages/sr-image/src PYTHONUNBUFFERED=1
PY=${PY:-python3}
nvidia-smi --query-gpu=name,memory.total --format=csv | tee "$OUT/gpu.txt"
$PY -c "import torch, torchmetrics, sklearn; print('torch', torch.__version__, 'torchmetrics', torchmetrics.__version__, 'sklearn', sklearn.__version__)" | tee -a "$OUT/gpu.txt"
$PY -m pytest -q -p no:cacheprovider -m gpu packages/prd-metric/tests 2>&1 | tee "$OUT/gpu_tests.log"
$PY benchmarks/bench_prd.py --json "$OUT/bench_prd_gpu.json" 2>&1 | tee "$OUT/bench_prd_gpu.log"
$PY benchmarks/bench_prd.py --n 50000 --skip-reference --seeds 1 --json "$OUT/bench_prd_gpu_50k.json" 2>&1 | tee "$OUT/bench_prd_gpu_50k.log"
for mode in "" "--bf16 --channels-last" "--bf16 --channels-last --compile"; do
  tag=$(echo "fp32 $mode" | tr -d '-' | tr ' ' '_')
  $PY benchmarks/bench_frvsr.py --sizes 3-64,10-128 --frames 20 --repeats 3 --device cuda $mode \
    --json "$OUT/bench_frvsr_$tag.json" 2>&1 | tee "$OUT/bench_frvsr_$tag.log"
done
$PY benchmarks/bench_enhancenet.py --device cuda --precision bf16-mixed --batch-size 32 --steps 20 --warmup 5 \
  --json "$OUT/bench_enhancenet_bf16_b32.json" 2>&1 | tee "$OUT/bench_enhancenet_bf16_b32.log"
