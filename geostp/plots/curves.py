"""Skill against lead time: one panel per variable, a line per model with its bootstrap interval."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from geostp.errors import DataError
from geostp.timeaxis import lead_numbers

STYLE = {"persistence": {"color": "0.45", "linestyle": "--"}, "climatology": {"color": "0.2", "linestyle": ":"}}


def _lead_axis(lead: xr.DataArray) -> tuple[np.ndarray, str]:
    return lead_numbers(lead.values, dict(lead.attrs))


def skill_figure(scores: xr.Dataset, metric: str = "rmse") -> Any:
    """Figure of `metric` against lead for every model (scores from `geostp.evaluation.scorecard.summarize`)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    if metric not in scores["metric"].values:
        raise DataError(f"metric {metric!r} is not in the scores; they have {list(map(str, scores['metric'].values))}")
    if "region" in scores.dims:  # one region per figure: the first (global by default)
        scores = scores.isel(region=0)
    variables = [str(v) for v in scores["variable"].values]
    x, xlabel = _lead_axis(scores["lead_time"])
    fig, axes = plt.subplots(1, len(variables), figsize=(4.6 * len(variables), 3.4), squeeze=False, layout="constrained")
    for ax, var in zip(axes[0], variables):
        sub = scores.sel(variable=var, metric=metric)
        for model in [str(m) for m in sub["model"].values]:
            s = sub.sel(model=model)
            style = STYLE.get(model, {})
            ax.plot(x, s["value"], marker="o", markersize=3, label=model, **style)
            ax.fill_between(x, s["ci_low"], s["ci_high"], alpha=0.2, color=ax.lines[-1].get_color())
        units = scores.attrs.get(f"units_{var}", "")
        ax.set_title(f"{metric.upper()} of {var}")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(f"{metric.upper()}" + (f" [{units}]" if units and metric in ("rmse", "mae", "bias") else ""))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return fig


def plot_skill(scores: xr.Dataset, out: str | Path, metric: str = "rmse", dpi: int = 110) -> Path:
    """Write the skill-against-lead figure to a PNG and return its path."""
    import io

    import matplotlib.pyplot as plt

    from geostp.io import atomic_write_bytes

    fig = skill_figure(scores, metric)
    bio = io.BytesIO()
    fig.savefig(bio, format="png", dpi=dpi)
    plt.close(fig)
    atomic_write_bytes(out, bio.getvalue())
    return Path(out)
