"""Quickstart on the embedded synthetic sample: forecast t850 with ViP-Mixer, score it, map it.

Run:  python examples/01_sample_quickstart.py        (same as `geostp forecast --model vip_mixer --var t850`)
      It takes no options (--help prints this text). Everything it writes goes to the geostp cache
      ($GEOSTP_CACHE_DIR or the user cache dir), nothing into the repository.

Time: about 4 minutes on two quiet CPU cores the first time (sample ~15 s, training ~3.5 min, forecast,
scores, map and a 12-frame GIF), seconds when run again.

What happens (nothing is downloaded):
1. the sample store (synthetic WeatherBench-like t850/z500/t2m, 5.625 deg, 6-hourly, 2014-2018; test = 2018)
   is built and cached (~15 s);
2. no vip_mixer run exists for t850, so a small one is trained on the sample and cached under
   <cache>/runs/quick-vip_mixer-t850-<key> (about 3.5 min on two quiet CPU cores, progress bar);
3. every test-split init time (722 of them) is forecast 6 h ... 72 h ahead and written to
   <run>/forecasts/t850-test-72h-<key>.zarr (CF: t850 in K, dims init_time, lead_time, lat, lon);
4. it is scored (latitude-weighted RMSE, ACC) next to persistence and climatology with 95% bootstrap
   intervals, and a forecast | truth | error map is drawn.

Expected output (one run on this repository's 2-core CPU, sample generator of 2026-11-23; the numbers
move with the sample and the quick-start recipe, the layout does not):

    trained run: <cache>/runs/quick-vip_mixer-t850-<key>
    forecast: <cache>/runs/quick-vip_mixer-t850-<key>/forecasts/t850-test-72h-<key>.zarr  (722 init times)
    map: <cache>/runs/quick-vip_mixer-t850-<key>/forecasts/t850-test-72h-<key>-t850-72h.png
    RMSE of t850 [K], region global, wb2 convention, 722 init times (circular block bootstrap over init times, ...)
      lead          vip_mixer               persistence               climatology
        6h  0.5465 [0.543, 0.5501]   0.6429 [0.6366, 0.6492]     2.896 [2.862, 2.928]
       12h  0.8029 [0.7989, 0.8069]     1.179 [1.166, 1.192]     2.896 [2.862, 2.927]
       24h   1.195 [1.187, 1.202]       1.962 [1.938, 1.987]     2.896 [2.862, 2.926]
       72h   2.174 [2.155, 2.194]       3.261 [3.221, 3.303]     2.895 [2.864, 2.925]

The intervals above were printed with the former fixed block length ceil(n^(1/3)); since issue 13 the
block length is chosen per lead (Politis-White) and the intervals are about 25 % wider (climatology at
6 h: [2.853, 2.937], measured on the 718 init times of `geostp forecast --model climatology --var t850`).

A second run reuses the trained run and the forecast and takes seconds. Then the same forecast is
opened with xarray, animated over lead times and evaluated with the `geostp evaluate` machinery.
"""

from __future__ import annotations

import argparse


def main() -> None:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    import xarray as xr

    from geostp.plots.maps import animate_map
    from geostp.workflows.forecast import ForecastRequest, run_forecast, summary_lines

    result = run_forecast(ForecastRequest(model="vip_mixer", variables=["t850"]))
    print("\n".join(summary_lines(result, ["t850"])))

    fc = xr.open_zarr(result.zarr)  # a plain CF dataset: select by time and lead like any xarray data
    one = fc["t850"].sel(lead_time="72h").isel(init_time=0)
    print(f"\n72 h forecast from {str(fc.init_time.values[0])[:16]}: mean {float(one.mean()):.2f} {one.attrs['units']}")

    gif = animate_map(fc, "t850", result.zarr.parent / "t850-leads.gif")  # colour scales fixed over all leads
    print(f"animation over the 12 lead times: {gif}")


if __name__ == "__main__":
    main()
