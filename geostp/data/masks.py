"""Static masks: grid cells that are NaN at every time of the train split (land in SST, ocean in soil
moisture) are not missing data but a mask. `prepare` stores one per variable as ``mask_<var>`` (uint8,
1 = masked, dims of the grid); windows carry it, losses and metrics ignore masked cells and forecasts
write NaN there. NaNs that come and go stay missing data (stop, or `--fill`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr

MASK_PREFIX = "mask_"


def mask_name(variable: str) -> str:
    """Store name of a variable's static mask."""
    return f"{MASK_PREFIX}{variable}"


def find_static_masks(ds: xr.Dataset, variables: Sequence[str], grid: Sequence[str]) -> dict[str, xr.DataArray]:
    """Per variable, the cells NaN at every time of the train split (only variables that have some); one dask pass."""
    import dask

    train = np.flatnonzero(ds["split"].values == "train")
    if len(train) == 0:
        return {}
    lazy = {v: ds[v].isel(time=train).isnull().all("time") for v in variables
            if np.issubdtype(ds[v].dtype, np.floating)}
    (masks,) = dask.compute(lazy)
    # a mask covering every cell is not a mask but a variable without data: left to the NaN policy
    return {v: m.drop_vars([c for c in m.coords if c not in grid]).astype(bool)
            for v, m in masks.items() if bool(m.any()) and not bool(m.all())}


def attach_masks(ds: xr.Dataset, masks: dict[str, xr.DataArray]) -> xr.Dataset:
    """NaN every masked cell at every time (so the mask is exact in the store) and add the ``mask_<v>`` variables."""
    for v, m in masks.items():
        ds[v] = ds[v].where(~m)
        ds[mask_name(v)] = m.astype(np.uint8).assign_attrs(
            long_name=f"static mask of {v}: 1 where {v} is NaN at every time of the train split",
            flag_values=[0, 1], flag_meanings="valid masked")
    return ds


def store_masks(store: xr.Dataset, variables: Sequence[str]) -> np.ndarray | None:
    """(C, H, W) bool, True where channel c is masked; None when no variable has a mask."""
    names = [mask_name(v) for v in variables]
    if not any(n in store.variables for n in names):
        return None
    grid = [d for d in store[variables[0]].dims if d != "time"]
    shape = tuple(store.sizes[d] for d in grid)
    return np.stack([np.asarray(store[n].values, bool) if n in store.variables else np.zeros(shape, bool)
                     for n in names])


def variable_mask(store: xr.Dataset, variable: str) -> xr.DataArray | None:
    """A variable's mask as a bool DataArray on the grid (None when it has none)."""
    name = mask_name(variable)
    if name not in store.variables:
        return None
    return store[name].astype(bool).load()


class OutputMask:
    """Forward hook that sets a model's (normalised) output to 0 at masked cells, so masked cells add no
    gradient and no error to any loss (targets there are 0 too) and rollouts never feed back garbage."""

    def __init__(self, mask: np.ndarray) -> None:
        import torch

        self.mask = torch.from_numpy(np.array(mask, dtype=bool, copy=True))

    def __call__(self, module: Any, inputs: Any, output: Any) -> Any:
        if not hasattr(output, "masked_fill"):
            return output
        return output.masked_fill(self.mask.to(output.device), 0.0)


def apply_output_mask(model: Any, mask: np.ndarray | None) -> Any:
    """Register `OutputMask` on `model` (no-op without a mask); returns the hook handle or None."""
    if mask is None or not mask.any():
        return None
    return model.register_forward_hook(OutputMask(mask))
