"""Labelled forecast blocks: predictions in physical units as CF datasets with their coordinates.

Layout: gridded data get one data variable per short name (``t850`` in K, ...) with dims
``(init_time, lead_time, lat, lon)``; video and traffic get one variable ``frames`` with dims
``(init_time, lead_time, channel, y, x)`` (``channel`` labelled with the store's variable names). An
ensemble adds a ``member`` dim after ``init_time``. Coordinates: ``lead_time`` (timedelta, or frame counts
for video), ``valid_time(init_time, lead_time)``, ``lat``/``lon`` with CF attributes.
`geostp.forecast.predict.predict_blocks` yields these; `geostp.forecast.output` only writes them.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import xarray as xr

import geostp
from geostp import timeaxis
from geostp import cf
from geostp.cf import vertical_of
from geostp.io import provenance
from geostp.kinds import FRAMES_VAR, kind_of

FORMAT = "geostp-forecast"
COORD_ATTRS = cf.COORD_ATTRS  # one table of coordinate attributes for every writer (geostp.cf)
VAR_ATTRS = ("units", "long_name", "standard_name")


def forecast_dataset(pred: Any, store: xr.Dataset, inits: np.ndarray, values: np.ndarray, leads: np.ndarray,
                     variables: list[str] | None = None, source: str = "",
                     members: np.ndarray | None = None) -> xr.Dataset:
    """CF dataset for predictions `values` (B, L, C, H, W) in physical units at init times `inits`, lead times `leads`.

    `pred` is a `geostp.forecast.predict.Predictor` (model name, variables, grid, run); `variables` picks
    which of its channels to keep. With `members`, values are (B, M, L, C, H, W) and get a `member` dim.
    """
    inits = np.asarray(inits)
    # init + k steps in the data's own calendar (months by calendar), snapped to the data's own monthly stamp
    k = timeaxis.lead_counts(leads, pred.frame_step)
    valid = timeaxis.snap_to(timeaxis.add_steps(inits[:, None], pred.frame_step, k[None, :]),
                             store["time"].values if "time" in store.variables else [], pred.frame_step)
    keep = variables or pred.variables
    lead_dims: tuple[str, ...] = ("init_time", "member", "lead_time") if members is not None else ("init_time", "lead_time")
    coords: dict[str, Any] = {"init_time": ("init_time", inits), "lead_time": ("lead_time", leads),
                              "valid_time": (("init_time", "lead_time"), valid)}
    if members is not None:
        coords["member"] = ("member", np.asarray(members))
    for d, v in pred.grid.items():
        coords[d] = (d, store[d].values if d in store.coords else v)
    if kind_of(pred.grid).per_variable:
        data = {v: ((*lead_dims, "lat", "lon"), values[..., pred.variables.index(v), :, :]) for v in keep}
        ds = xr.Dataset(data, coords=coords)
        for v in keep:
            ds[v].attrs = {a: store[v].attrs[a] for a in VAR_ATTRS if a in store[v].attrs}
            level = vertical_of(store, v)  # t850's 850 hPa coordinate travels with it (CF, geostp.cf)
            if level is not None:
                ds = ds.assign_coords({level.name: level.variable.load()})
                ds[v].attrs["_vertical"] = level.name
    else:
        chans = [pred.variables.index(v) for v in keep]
        coords["channel"] = ("channel", np.array(keep, dtype=str))
        ds = xr.Dataset({FRAMES_VAR: ((*lead_dims, "channel", "y", "x"), values[..., chans, :, :])}, coords=coords)
        units = {store[v].attrs.get("units", "1") for v in keep}
        ds[FRAMES_VAR].attrs = {"long_name": "predicted frames: " + ", ".join(keep)}
        if len(units) == 1:
            ds[FRAMES_VAR].attrs["units"] = units.pop()
    for name, attrs in COORD_ATTRS.items():
        if name in ds.coords:
            ds[name].attrs.update(attrs)
    ds["lead_time"].attrs.update(timeaxis.lead_attrs(pred.frame_step))
    ds.attrs = global_attrs(pred, store, source)
    return ds


def global_attrs(pred: Any, store: xr.Dataset, source: str) -> dict[str, Any]:
    """Global attributes: CF conventions, model, run, config hash, data source, geostp version, provenance."""
    return {
        "Conventions": "CF-1.10",
        "title": f"{pred.model_name} forecast of {', '.join(pred.variables)}",
        "geostp_format": FORMAT,
        "geostp_version": geostp.__version__,
        "model": pred.model_name,
        "run": str(pred.run_dir) if pred.run_dir else "(model built in code)",
        "config_hash": pred.config_hash,
        "weights_hash": pred.weights_hash,
        "data_source": source or str(store.attrs.get("catalog", "")),
        "data_catalog": str(store.attrs.get("catalog", "")),
        "frame_step": pred.frame_step,
        "t_in": int(pred.t_in),
        "t_out": int(pred.t_out),
        "grid_kind": pred.grid_kind,
        "normalisation": "inputs normalised and outputs de-normalised with the run's train statistics",
        "provenance": json.dumps(provenance(), default=str),
    }
