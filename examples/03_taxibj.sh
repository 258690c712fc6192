#!/usr/bin/env bash
# TaxiBJ crowd flows (Zhang, Zheng, Qi, AAAI 2017): prepare, train SimVPv2 4 -> 4 frames, forecast the test
# split (last 28 days), evaluate with OpenSTL's video metrics, draw an input | truth | prediction grid.
#
# Usage: examples/03_taxibj.sh [-h|--help]
#   ROOT=DIR   where the four files BJ13_M32x32_T30_InOut.h5 ... BJ16_M32x32_T30_InOut.h5 are (default: ~/data/TaxiBJ)
#   WORK=DIR   where the store, run, forecast, scores and frames go (default: ~/geostp-examples/03_taxibj);
#              nothing is written into the repository
#   STEPS=N    training steps (default 20000; STEPS=200 is a smoke run of a few minutes on a CPU)
#
# Data: the files of the ST-ResNet release (https://github.com/lucktroy/DeepST, data/TaxiBJ; OpenSTL's
# tools/prepare_data/download_taxibj.sh fetches the same files).
# Time: prepare under a minute; 20000 steps take hours on a 2-core CPU, about half an hour on one GPU.
#
# Expected: the store holds inflow and outflow (32 x 32, 30-minute slots), min-max scaled to [0, 1] on the
# train split. `geostp evaluate` reports MSE and MAE as OpenSTL does (per-frame sums over channel, y, x on
# the [0, 1] scale, averaged over frames), SSIM (7x7 uniform window, data range 2 as OpenSTL) and PSNR.
# For scale: OpenSTL's SimVP+gSTA-S after 50 epochs reaches MSE 0.3246, MAE 15.03, SSIM 0.9844, PSNR 39.71
# (docs/en/model_zoos/traffic_benchmarks.md); persistence is far behind.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
for arg in "$@"; do
  case "$arg" in
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "error: unknown option $arg (see --help)" >&2; exit 2 ;;
  esac
done
ROOT=${ROOT:-$HOME/data/TaxiBJ}
WORK=${WORK:-$HOME/geostp-examples/03_taxibj}
STEPS=${STEPS:-20000}
ROOT=$(cd "$ROOT" 2>/dev/null && pwd || echo "$ROOT")
for year in 13 14 15 16; do
  if [ ! -f "$ROOT/BJ${year}_M32x32_T30_InOut.h5" ]; then
    echo "error: TaxiBJ file BJ${year}_M32x32_T30_InOut.h5 not found in $ROOT; set ROOT=DIR to the folder holding BJ13..BJ16 (see --help)" >&2
    exit 2
  fi
done

mkdir -p "$WORK" && cd "$WORK"
echo "writing to $WORK"
geostp data prepare taxibj --root "$ROOT" --out taxibj.zarr
geostp train --config "$HERE/../pipelines/configs/tiny.yaml" --out runs/simvpv2-taxibj --set data.store=taxibj.zarr \
    --set data.variables=null --set data.t_in=4 --set data.t_out=4 --set data.step=null \
    --set model.name=simvpv2 --set model.preset=taxibj --set "train.max_steps=$STEPS" --set train.batch_size=16 \
    --set optim.lr=0.001 --set eval.every=1000 --set train.checkpoint_every=1000
geostp forecast --model simvpv2 --var inflow --var outflow --run runs/simvpv2-taxibj --data taxibj.zarr \
    --init test --out fc_taxibj.zarr
geostp evaluate fc_taxibj.zarr --truth taxibj.zarr --out eval_taxibj
geostp plot fc_taxibj.zarr --var inflow --out taxibj_frames.png
