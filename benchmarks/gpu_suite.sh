#!/usr/bin/env bash
# The GPU check in one call: geostp's training and inference speed for simvpv2, simvp, stlight, convlstm and
# swinlstm at their Moving MNIST configs (batch 16, eager and the fastest variant) beside the reference code
# timed in the same run, then the Moving MNIST SimVPv2 learning curve by the peer protocol.
#
# Usage:  benchmarks/gpu_suite.sh OUT_DIR [--dry-run]
#   OUT_DIR    receives every table, JSON and the curve (and a copy goes to benchmarks/results/gpu/)
#   --dry-run  the same steps CPU-sized (tiny presets, 1+2 timed steps, 4 training steps): checks the path
# Environment:
#   PYTHON      interpreter with geostp installed (default: .venv/bin/python, else python)
#   PEER_PATH   folder holding the reference code and the peer scripts, prepared as ../shared/peers/README.md
#               says (default .peer); skipped with a note when absent
#   MNIST_IDX   MNIST IDX digits for the curve (default: $PEER_PATH/t10k-images-idx3-ubyte.gz, then
#               ../shared/data/mnist/t10k-images-idx3-ubyte.gz)
#   VARIANTS    bench_models variants (default: eager bf16+fused channels_last+bf16+fused compile+bf16+fused)
#   EPOCHS      curve epochs (default 10)
# Budget on an H100-class GPU (estimate): bench ~4 min, peers ~2 min, curve ~3 min.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { sed -n '2,19p' "$0"; exit 2; }
out=$1; dry=${2:-}
mkdir -p "$out"
PY=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python )}
PEER_PATH=${PEER_PATH:-.peer}
MODELS="simvpv2 simvp stlight convlstm swinlstm"
log() { echo "[gpu_suite $(date -u +%H:%M:%S)] $*" | tee -a "$out/suite.log"; }

if [ "$dry" = "--dry-run" ]; then
  device=cpu; presets=tiny; quick=--quick; variants=${VARIANTS:-eager bf16+fused}; curve_flags=--dry-run
else
  device=cuda; presets=mmnist; quick=; variants=${VARIANTS:-eager bf16+fused channels_last+bf16+fused compile+bf16+fused}
  curve_flags=
  "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device: run with --dry-run on a CPU')"
fi
log "device $device; $("$PY" -c 'import torch; print(torch.__version__, torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu")')"

log "1/4 geostp models ($MODELS; presets $presets; variants $variants)"
"$PY" benchmarks/bench_models.py --device "$device" --models $MODELS --presets $presets --batch 16 \
    --variants $variants $quick --out "$out" 2>&1 | tee "$out/bench_models.log"

log "2/4 reference code"
if [ -f "$PEER_PATH/bench_peer_models.py" ] && [ "$dry" != "--dry-run" ]; then
  PEER_PATH="$PEER_PATH" "$PY" "$PEER_PATH/bench_peer_models.py" 2>&1 | tee "$out/peers.txt"
else
  echo "skipped: $([ "$dry" = "--dry-run" ] && echo 'dry run' || echo "no $PEER_PATH/bench_peer_models.py (see ../shared/peers/README.md)")" | tee "$out/peers.txt"
fi

log "3/4 Moving MNIST SimVPv2 curve"
digits=${MNIST_IDX:-$PEER_PATH/t10k-images-idx3-ubyte.gz}
[ -f "$digits" ] || digits=../shared/data/mnist/t10k-images-idx3-ubyte.gz
"$PY" benchmarks/mmnist_curve.py --digits "$digits" --out "$out/mmnist" --epochs "${EPOCHS:-10}" $curve_flags \
    2>&1 | tee "$out/mmnist_curve.log"

log "4/4 comparison"
"$PY" benchmarks/gpu_compare.py "$out" | tee "$out/gpu_vs_reference.md"
if [ "$dry" != "--dry-run" ]; then
  mkdir -p benchmarks/results/gpu
  cp "$out"/*.md "$out"/*.json "$out"/peers.txt "$out"/mmnist/mmnist_curve.* benchmarks/results/gpu/ 2>/dev/null || true
fi
log "done: $out"
