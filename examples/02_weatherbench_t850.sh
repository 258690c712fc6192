#!/usr/bin/env bash
# Real WeatherBench t850 at 5.625 deg: download, prepare an analysis-ready store, train ViP-Mixer, forecast,
# evaluate against persistence and climatology, and map a 72 h forecast.
#
# Data: WeatherBench v1 (Rasp et al. 2020), hosted by TUM at https://mediatum.ub.tum.de/1524895
# (directory 5.625deg/temperature_850: 40 yearly NetCDF files 1979-2018, hourly, 32x64, ~1.4 GB zipped).
# Disk: ~2 GB raw + ~0.4 GB store. Time: download minutes; prepare ~1 min; training hours on a CPU.
#
# Expected: `geostp data prepare` prints a summary with t850 [K] on 32 x 64 lat/lon, 6-hourly,
# train 1979-2015 / valid 2016 / test 2017-2018. `geostp evaluate` prints RMSE per lead; for scale,
# WeatherBench's published T850 RMSE at 72 h is 4.29 K for persistence, 5.51 K for climatology
# (1979-2016 mean), 3.50 K for a weekly climatology and 2.87 K for its direct CNN (Rasp et al. 2020,
# notebooks/4-evaluation.ipynb); geostp's climatology is day-of-year x hour (smoothed), so expect it
# well below 5.51 K.
set -euo pipefail
ROOT=${ROOT:-data/WeatherBench}
mkdir -p "$ROOT/5.625deg/temperature_850"
if [ ! -f "$ROOT/5.625deg/temperature_850/temperature_850hPa_2018_5.625deg.nc" ]; then
  wget -c "https://dataserv.ub.tum.de/s/m1524895/download?path=%2F5.625deg%2Ftemperature_850&files=temperature_850_5.625deg.zip" \
       -O "$ROOT/temperature_850_5.625deg.zip"
  unzip -o "$ROOT/temperature_850_5.625deg.zip" -d "$ROOT/5.625deg/temperature_850"   # files land flat in the folder
fi

geostp data prepare weatherbench --root "$ROOT" --vars t850 --step 6h \
    --splits train=1979-2015,valid=2016,test=2017-2018 --out wb_t850.zarr
geostp train --config examples/configs/vip_mixer_weatherbench_t850.yaml
geostp forecast --model vip_mixer --var t850 --run runs/vip_mixer-wb-t850 --data wb_t850.zarr \
    --init test --lead 72h --out fc_vip_mixer_wb_t850.zarr
geostp evaluate fc_vip_mixer_wb_t850.zarr --truth wb_t850.zarr --out eval_wb_t850
geostp plot fc_vip_mixer_wb_t850.zarr --var t850 --lead 72h --init 2017-06-01T00 --out t850_72h.png
# Longer horizons roll the 72 h model out on its own predictions (memory-bounded):
geostp forecast --model vip_mixer --var t850 --run runs/vip_mixer-wb-t850 --data wb_t850.zarr \
    --init 2017-01-01/2017-12-31/12h --lead 5d --out fc_vip_mixer_wb_t850_5d.zarr
