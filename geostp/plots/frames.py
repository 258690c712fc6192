"""Frame grids for video and traffic forecasts: rows input | truth | prediction, one column per frame."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from geostp.errors import DataError
from geostp.kinds import FRAMES_VAR
from geostp.timeaxis import coord_labels


def _frames_of(store: xr.Dataset, channels: list[str], times: np.ndarray) -> np.ndarray | None:
    """(T, C, H, W) frames of the store at `times`, or None if any is missing."""
    pos = pd.Index(store["time"].values).get_indexer(times)
    if (pos < 0).any():
        return None
    return np.stack([store[c].isel(time=pos).values for c in channels], axis=1)


def frames_figure(forecast: xr.Dataset, store: xr.Dataset | None, init_index: int = 0, channel: str | None = None,
                  max_cols: int = 10) -> Any:
    """Figure: input frames (from the store), truth and prediction at each lead, for one init and channel."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    if FRAMES_VAR not in forecast.data_vars:
        raise DataError(f"frame grids are for video/traffic forecasts (a `{FRAMES_VAR}` variable); "
                        "use `geostp plot --var NAME` maps for gridded weather forecasts")
    channels = [str(c) for c in forecast["channel"].values]
    ch = channel or channels[0]
    if ch not in channels:
        raise DataError(f"channel {ch!r} is not in the forecast; it has {channels}")
    pred = forecast[FRAMES_VAR].isel(init_time=init_index).sel(channel=ch).values  # (L, H, W)
    init = forecast["init_time"].values[init_index]
    leads = forecast["lead_time"].values
    n_lead = min(len(leads), max_cols)
    t_in = int(forecast.attrs.get("t_in", 1))
    step = leads[0]
    lead_labels = coord_labels(leads, dict(forecast["lead_time"].attrs))
    inputs = truth = None
    if store is not None:
        in_times = init - step * np.arange(min(t_in, max_cols) - 1, -1, -1)
        got = _frames_of(store, [ch], in_times)
        inputs = got[:, 0] if got is not None else None
        got = _frames_of(store, [ch], forecast["valid_time"].values[init_index, :n_lead])
        truth = got[:, 0] if got is not None else None
    rows = [("input", inputs), ("truth", truth), ("prediction", pred[:n_lead])]
    rows = [(name, r) for name, r in rows if r is not None]
    ncol = max(len(r) for _, r in rows)
    vals = np.concatenate([r.ravel() for _, r in rows])
    vmin, vmax = float(np.nanmin(vals)), float(np.nanmax(vals))
    fig, axes = plt.subplots(len(rows), ncol, figsize=(1.3 * ncol + 0.8, 1.4 * len(rows) + 0.5), squeeze=False,
                             layout="constrained")
    for i, (name, frames) in enumerate(rows):
        for j in range(ncol):
            ax = axes[i, j]
            ax.set_xticks([])
            ax.set_yticks([])
            if j < len(frames):
                im = ax.imshow(frames[j], cmap="gray" if vmin >= 0 and vmax <= 1 else "viridis", vmin=vmin, vmax=vmax)
                label = f"t-{len(frames) - 1 - j}" if name == "input" else f"+{lead_labels[j]}"
                ax.set_title(label, fontsize=7)
            else:
                ax.axis("off")
            if j == 0:
                ax.set_ylabel(name, fontsize=9)
    units = forecast[FRAMES_VAR].attrs.get("units", "")
    fig.colorbar(im, ax=axes, shrink=0.8, label=f"{ch} [{units}]" if units else ch)
    fig.suptitle(f"{forecast.attrs.get('model', 'model')}: {ch}, init {init}", fontsize=10)
    return fig


def plot_frames(forecast: xr.Dataset, store: xr.Dataset | None, out: str | Path, init_index: int = 0,
                channel: str | None = None, dpi: int = 110) -> Path:
    """Write the input | truth | prediction grid of one init to a PNG and return its path."""
    import io

    import matplotlib.pyplot as plt

    from geostp.io import atomic_write_bytes

    fig = frames_figure(forecast, store, init_index, channel)
    bio = io.BytesIO()
    fig.savefig(bio, format="png", dpi=dpi)
    plt.close(fig)
    atomic_write_bytes(out, bio.getvalue())
    return Path(out)
