#!/usr/bin/env bash
# TaxiBJ crowd flows (Zhang, Zheng, Qi, AAAI 2017): prepare, train SimVPv2 4 -> 4 frames, forecast the test
# split (last 28 days), evaluate with OpenSTL's video metrics, draw an input | truth | prediction grid.
#
# Data: the four files BJ13_M32x32_T30_InOut.h5 ... BJ16_M32x32_T30_InOut.h5 of the ST-ResNet release
# (https://github.com/lucktroy/DeepST, data/TaxiBJ; OpenSTL's tools/prepare_data/download_taxibj.sh
# fetches the same files) placed in $ROOT.
#
# Expected: the store holds inflow and outflow (32 x 32, 30-minute slots), min-max scaled to [0, 1] on the
# train split. `geostp evaluate` reports MSE and MAE as OpenSTL does (per-frame sums over channel, y, x on
# the [0, 1] scale, averaged over frames), SSIM (7x7 uniform window, data range 2 as OpenSTL) and PSNR.
# For scale: OpenSTL's SimVP+gSTA-S after 50 epochs reaches MSE 0.3246, MAE 15.03, SSIM 0.9844, PSNR 39.71
# (docs/en/model_zoos/traffic_benchmarks.md); persistence is far behind.
set -euo pipefail
ROOT=${ROOT:-data/TaxiBJ}
geostp data prepare taxibj --root "$ROOT" --out taxibj.zarr
geostp train --config pipelines/configs/tiny.yaml --out runs/simvpv2-taxibj --set data.store=taxibj.zarr \
    --set data.variables=null --set data.t_in=4 --set data.t_out=4 --set data.step=null \
    --set model.name=simvpv2 --set model.preset=taxibj --set train.max_steps=20000 --set train.batch_size=16 \
    --set optim.lr=0.001 --set eval.every=1000 --set train.checkpoint_every=1000
geostp forecast --model simvpv2 --var inflow --var outflow --run runs/simvpv2-taxibj --data taxibj.zarr \
    --init test --out fc_taxibj.zarr
geostp evaluate fc_taxibj.zarr --truth taxibj.zarr --out eval_taxibj
geostp plot fc_taxibj.zarr --var inflow --out taxibj_frames.png
