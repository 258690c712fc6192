#!/usr/bin/env bash
# Real WeatherBench t850 at 5.625 deg: prepare an analysis-ready store, train ViP-Mixer, forecast, evaluate
# against persistence and climatology, and map a 72 h forecast.
#
# Usage: examples/02_weatherbench_t850.sh [--download] [-h|--help]
#   --download   fetch the t850 files (~1.4 GB zipped) into $ROOT when they are missing
#   ROOT=DIR     where the WeatherBench files are (default: ~/data/WeatherBench; files in
#                $ROOT/5.625deg/temperature_850/temperature_850hPa_<year>_5.625deg.nc)
#   WORK=DIR     where the store, run, forecasts, scores and map go (default: ~/geostp-examples/02_weatherbench_t850);
#                nothing is written into the repository
#
# Data: WeatherBench v1 (Rasp et al. 2020), hosted by TUM at https://mediatum.ub.tum.de/1524895
# (directory 5.625deg/temperature_850: 40 yearly NetCDF files 1979-2018, hourly, 32x64, ~1.4 GB zipped).
# Disk: ~2 GB raw + ~0.4 GB store.
# Time: download minutes; prepare ~1 min; training hours on a 2-core CPU (well under an hour on one GPU).
#
# Expected: `geostp data prepare` prints a summary with t850 [K] on 32 x 64 lat/lon, 6-hourly,
# train 1979-2015 / valid 2016 / test 2017-2018. `geostp evaluate` prints RMSE per lead; for scale,
# WeatherBench's published T850 RMSE at 72 h is 4.29 K for persistence, 5.51 K for climatology
# (1979-2016 mean), 3.50 K for a weekly climatology and 2.87 K for its direct CNN (Rasp et al. 2020,
# notebooks/4-evaluation.ipynb); geostp's climatology is day-of-year x hour (smoothed), so expect it
# well below 5.51 K.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
DOWNLOAD=0
for arg in "$@"; do
  case "$arg" in
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    --download) DOWNLOAD=1 ;;
    *) echo "error: unknown option $arg (see --help)" >&2; exit 2 ;;
  esac
done
ROOT=${ROOT:-$HOME/data/WeatherBench}
WORK=${WORK:-$HOME/geostp-examples/02_weatherbench_t850}
FILES="$ROOT/5.625deg/temperature_850"
if [ ! -f "$FILES/temperature_850hPa_2018_5.625deg.nc" ]; then
  if [ "$DOWNLOAD" != 1 ]; then
    echo "error: WeatherBench t850 files not found in $FILES; set ROOT=DIR to where they are, or pass --download to fetch them (~1.4 GB)" >&2
    exit 2
  fi
  mkdir -p "$FILES"
  PART="$ROOT/.temperature_850_5.625deg.zip.part"   # renamed only when complete: no broken zip is ever left
  trap 'rm -f "$PART"' EXIT
  if ! wget -q --show-progress -c -O "$PART" \
      "https://dataserv.ub.tum.de/s/m1524895/download?path=%2F5.625deg%2Ftemperature_850&files=temperature_850_5.625deg.zip"; then
    echo "error: download from dataserv.ub.tum.de failed; fetch 5.625deg/temperature_850 from https://mediatum.ub.tum.de/1524895 by hand into $FILES" >&2
    exit 2
  fi
  mv "$PART" "$ROOT/temperature_850_5.625deg.zip"
  unzip -o "$ROOT/temperature_850_5.625deg.zip" -d "$FILES"   # files land flat in the folder
fi

mkdir -p "$WORK" && cd "$WORK"
echo "writing to $WORK"
geostp data prepare weatherbench --root "$ROOT" --vars t850 --step 6h \
    --splits train=1979-2015,valid=2016,test=2017-2018 --out wb_t850.zarr
geostp train --config "$HERE/configs/vip_mixer_weatherbench_t850.yaml" --out runs/vip_mixer-wb-t850
geostp forecast --model vip_mixer --var t850 --run runs/vip_mixer-wb-t850 --data wb_t850.zarr \
    --init test --lead 72h --out fc_vip_mixer_wb_t850.zarr
geostp evaluate fc_vip_mixer_wb_t850.zarr --truth wb_t850.zarr --out eval_wb_t850
geostp plot fc_vip_mixer_wb_t850.zarr --var t850 --lead 72h --init 2017-06-01T00 --out t850_72h.png
# Longer horizons roll the 72 h model out on its own predictions (memory-bounded):
geostp forecast --model vip_mixer --var t850 --run runs/vip_mixer-wb-t850 --data wb_t850.zarr \
    --init 2017-01-01/2017-12-31/12h --lead 5d --out fc_vip_mixer_wb_t850_5d.zarr
