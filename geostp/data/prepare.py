"""`geostp data prepare`: any catalog's published files -> one consolidated, analysis-ready store.

The same steps for every family: open lazily through the catalog's reader, subsample to the time step,
label splits (calendar years, or the family's fixed protocol), check for NaNs (stop, or fill when asked),
then `write_store` (train-only statistics with dask, atomic replacement) with full provenance.
"""

from __future__ import annotations

import contextlib
import importlib.util
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from geostp import timeaxis
from geostp.catalogs.base import PrepareRequest, Source, step_str
from geostp.catalogs.registry import get_reader
from geostp.catalogs.spec import load_catalog
from geostp.data.missing import fill_missing_dates
from geostp.data.regrid import RegridRequest, regrid
from geostp.data import sample_reader  # noqa: F401  (registers the `sample` catalog's reader)
from geostp.data.masks import attach_masks, find_static_masks, mask_name
from geostp.data.store import write_store
from geostp import storage
from geostp.errors import ConfigError, DataError, GeostpError, TargetExistsError, missing_extra
from geostp.io import provenance
from geostp.locks import target_lock

SCHEDULER_TIMEOUT_S = 10

_SPLIT_ITEM = re.compile(r"^\s*(?P<name>[A-Za-z_]\w*)\s*=\s*(?P<a>\d{4})\s*(?:-\s*(?P<b>\d{4}))?\s*$")


def parse_splits(text: str | Mapping[str, str]) -> dict[str, tuple[int, int]]:
    """`train=1979-2015,valid=2016,test=2017-2018` -> {name: (first year, last year)}, checked disjoint."""
    items = list(text.items()) if isinstance(text, Mapping) else [
        tuple(part.split("=", 1)) if "=" in part else (part, "") for part in text.split(",") if part.strip()
    ]
    out: dict[str, tuple[int, int]] = {}
    for name, years in items:
        m = _SPLIT_ITEM.match(f"{name}={years}")
        if not m:
            raise ConfigError(
                f"split {name}={years!r} is not NAME=YEAR or NAME=FIRST-LAST, e.g. --splits train=1979-2015,valid=2016,test=2017-2018"
            )
        a, b = int(m["a"]), int(m["b"] or m["a"])
        if b < a:
            raise ConfigError(f"split {m['name']}={a}-{b}: the last year comes before the first")
        if m["name"] in out:
            raise ConfigError(f"split {m['name']!r} is given twice")
        for other, (oa, ob) in out.items():
            if a <= ob and oa <= b:
                raise ConfigError(f"splits overlap: {other}={oa}-{ob} and {m['name']}={a}-{b}; each year belongs to one split")
        out[m["name"]] = (a, b)
    if not out:
        raise ConfigError("--splits is empty; e.g. --splits train=1979-2015,valid=2016,test=2017-2018")
    return out


def _years(a: int, b: int) -> str:
    return str(a) if a == b else f"{a}-{b}"


def subsample(ds: xr.Dataset, native: str, step: str) -> xr.Dataset:
    """Keep times on multiples of `step`: since midnight for durations (hourly -> 6h keeps 00, 06, 12, 18
    UTC), since January for calendar steps (monthly -> 3month keeps Jan, Apr, Jul, Oct)."""
    st, nat = timeaxis.parse_step(step, "--step"), timeaxis.parse_step(native)
    if st == nat:
        return ds
    st.frames_of(nat, "--step", "the source's time step", ConfigError)  # a whole multiple, or a ConfigError
    if st.kind == "calendar":
        keep = timeaxis.month_index(ds["time"].values) % st.months == 0
    else:
        keep = timeaxis.ordinal_us(ds["time"].values) % st.us == 0
    return ds.isel(time=np.flatnonzero(keep))


def label_splits(ds: xr.Dataset, splits: Mapping[str, tuple[int, int]]) -> xr.Dataset:
    """Label each time with the split whose years contain it; times in no split are dropped."""
    years = timeaxis.years(ds["time"].values)
    labels = np.full(len(years), "", dtype="<U16")
    for name, (a, b) in splits.items():
        labels[(years >= a) & (years <= b)] = name
    ds = ds.assign_coords(split=("time", labels))
    return ds.isel(time=np.flatnonzero(labels != ""))


def _coverage(time: np.ndarray) -> str:
    return f"{timeaxis.format_time(time[0])} .. {timeaxis.format_time(time[-1])}" if len(time) else "nothing"


def check_splits(ds: xr.Dataset, wanted: Mapping[str, str], source_time: np.ndarray) -> None:
    """Every requested split must hold data; say what the source covers when one does not."""
    present = set(np.unique(ds["split"].values).tolist())
    for name, rule in wanted.items():
        if name not in present:
            raise DataError(
                f"split {name!r} ({rule}) has no data: the source covers {_coverage(source_time)}; "
                "change --splits or add the missing files"
            )


def find_nans(ds: xr.Dataset, variables: list[str], progress: bool,
              masks: Mapping[str, xr.DataArray] | None = None) -> dict[str, tuple[int, str]]:
    """Per variable with NaNs outside its static mask: (count, first location as 'time=..., lat=..., lon=...');
    one dask pass."""
    import dask

    masks = masks or {}
    grid = [d for d in ds[variables[0]].dims if d != "time"]
    missing = {v: ds[v].isnull() & ~masks[v] if v in masks else ds[v].isnull() for v in variables}
    lazy = {v: missing[v].sum(grid) for v in variables if np.issubdtype(ds[v].dtype, np.floating)}
    if not lazy:
        return {}
    with _progress(progress, "checking for NaNs"):
        (per_time,) = dask.compute(lazy)
    out = {}
    for v, counts in per_time.items():
        total = int(counts.sum())
        if total:
            ti = int(np.argmax(counts.values > 0))
            frame = missing[v].isel(time=ti).values
            idx = np.unravel_index(int(np.argmax(frame)), frame.shape)
            t = ds["time"].values[ti]
            t = timeaxis.format_time(t)
            where = ", ".join([f"time={t}"] + [f"{d}={ds[d].values[i]:g}" for d, i in zip(grid, idx)])
            out[v] = (total, where)
    return out


def apply_fill(ds: xr.Dataset, nans: Mapping[str, tuple[int, str]], fill: str) -> xr.Dataset:
    """Fill NaNs: a number, `mean` (the variable's train-split mean), or `nearest` (nearest valid time).

    A fill that cannot fill (an all-NaN variable for `mean`/`nearest`, an all-NaN train split for `mean`)
    is a DataError rather than a store of NaNs.
    """
    for v in nans:
        total = int(np.prod([ds.sizes[d] for d in ds[v].dims]))
        if fill in ("mean", "nearest") and nans[v][0] >= total:
            raise DataError(f"--fill {fill} cannot fill {v}: all {total} of its values are NaN; leave {v} out "
                            "(--vars) or check the source files")
        if fill == "nearest":
            # interpolate_na needs one chunk along time: rechunk in space to keep chunks small
            chunks = {"time": -1, **{d: "auto" for d in ds[v].dims if d != "time"}}
            ds[v] = ds[v].chunk(chunks).interpolate_na("time", method="nearest", fill_value="extrapolate")
        elif fill == "mean":
            train = ds[v].isel(time=np.flatnonzero(ds["split"].values == "train"))
            mean = float(train.mean(skipna=True).compute())
            if not np.isfinite(mean):
                raise DataError(f"--fill mean cannot fill {v}: its train split has no valid value (mean is {mean}); "
                                "use --fill nearest or --fill VALUE, or check the source files")
            ds[v] = ds[v].fillna(mean)
        else:
            try:
                value = float(fill)
            except ValueError:
                raise ConfigError(f"--fill {fill!r}: expected a number, 'mean' or 'nearest'") from None
            ds[v] = ds[v].fillna(value)
    return ds


@contextlib.contextmanager
def _progress(enabled: bool, desc: str) -> Iterator[None]:
    """A tqdm bar over dask tasks on the local scheduler (no-op when disabled)."""
    if not enabled:
        yield
        return
    from tqdm.dask import TqdmCallback

    with TqdmCallback(desc=desc, leave=False):
        yield


@contextlib.contextmanager
def dask_client(address: str | None) -> Iterator[Any]:
    """Connect to a dask distributed scheduler for the duration of the prepare (None: local threads)."""
    if not address:
        yield None
        return
    if importlib.util.find_spec("distributed") is None:
        raise missing_extra("distributed", "distributed")
    from distributed import Client

    try:
        client = Client(address, timeout=SCHEDULER_TIMEOUT_S)
    except (OSError, TimeoutError) as exc:
        raise GeostpError(
            f"cannot reach the dask scheduler at {address} within {SCHEDULER_TIMEOUT_S} s ({type(exc).__name__}): "
            "start one (`dask scheduler`, then `dask worker ADDRESS` on each machine) or fix --scheduler"
        ) from None
    with client:
        yield client


def prepare(
    catalog: str | Path,
    out: str | Path,
    *,
    root: str | None = None,
    variables: list[str] | None = None,
    splits: str | Mapping[str, str] | None = None,
    step: str | None = None,
    resolution: str | None = None,
    levels: list[float] | None = None,
    grid: str | None = None,
    grid_like: str | None = None,
    regrid_method: str = "conservative",
    missing: str = "skip",
    fill: str | None = None,
    overwrite: bool = False,
    scheduler: str | None = None,
    progress: bool = True,
    echo: Callable[[str], None] = print,
    wait: bool = False,
    zarr_format: int | None = None,
    shard_mb: float | None = None,
) -> str | Path:
    """Build the analysis-ready store `out` from catalog `catalog`'s files under `root`; returns `out`.

    The old store at `out` (with `overwrite`) is replaced only once the new one is complete. The whole
    prepare holds `out`'s lock: a second writer of the same `out` is refused naming this one, or queues
    (`wait`).
    """
    spec = load_catalog(catalog)
    reader = get_reader(spec)
    req = PrepareRequest(
        root=root, variables=list(variables) if variables else None,
        splits=parse_splits(splits) if splits else None, step=step, resolution=resolution,
        levels=[float(v) for v in levels] if levels else None,
    )
    reader.check_request(req)
    regrid_req = RegridRequest(grid=grid, grid_like=str(grid_like) if grid_like else None, method=regrid_method)
    if regrid_method != "conservative" and not regrid_req.wanted():
        raise ConfigError(f"--regrid {regrid_method} needs a target: --grid 5.625|2.8125|1.40625 or --grid-like STORE")
    out = out if storage.is_url(out) else storage.local_path(out)
    _refuse_existing(out, overwrite)
    with target_lock(out, wait=wait), dask_client(scheduler):
        _refuse_existing(out, overwrite)  # again under the lock: another writer may have finished meanwhile
        source = reader.open(req)
        source.ds, missing_dates = fill_missing_dates(source.ds, source.time_step, missing)
        if missing_dates["missing"]:
            n, first = missing_dates["count"], missing_dates["missing"][0]
            how = "skipped: windows never span them" if missing == "skip" else f"filled ({missing})"
            source.notes.append(f"{n} missing date(s) in the source (first {first}): {how}")
        ds, time_step, split_rules = _select(source, spec, req)
        regridded = None
        if regrid_req.wanted():
            ds, regridded = regrid(ds, regrid_req)
        names = list(ds.data_vars)
        grid = [d for d in ds[names[0]].dims if d != "time"]
        masks = find_static_masks(ds, names, grid)  # NaN at every train time: land in SST, a mask, not missing data
        nans = find_nans(ds, names, progress and not scheduler, masks)
        if nans and fill is None:
            lines = [f"  {v}: {n} NaN values, first at {where}" for v, (n, where) in nans.items()]
            raise DataError(
                "the source has NaNs that come and go in the selected times"
                + (" (cells NaN at every train time are a static mask and are not counted)" if masks else "")
                + ":\n" + "\n".join(lines)
                + "\npass --fill VALUE, --fill mean or --fill nearest to fill them, or choose other --splits"
            )
        if nans:
            ds = apply_fill(ds, nans, fill)
        ds = attach_masks(ds, masks)
        for v, m in masks.items():
            n = int(m.sum())
            source.notes.append(f"{v}: {n} of {m.size} grid cells ({100 * n / m.size:.1f}%) are NaN at every time of "
                                f"the train split: stored as the static mask {mask_name(v)} (ignored by losses and "
                                "metrics, NaN in forecasts)")
        for note in source.notes:
            echo(f"note: {note}")
        if source.static is not None:
            ds = ds.merge(source.static)
        prov = provenance(
            catalog=spec.name, source_root=str(root), source_files=source.files,
            request={"variables": names, "splits": split_rules, "step": time_step, "resolution": resolution, "fill": fill,
                     "levels": req.levels},
            filled={v: n for v, (n, _) in nans.items()} if fill else {},
            masked_cells={v: int(m.sum()) for v, m in masks.items()}, notes=source.notes, catalog_spec=spec.to_dict(),
            missing_dates=missing_dates, **({"regrid": regridded} if regridded else {}),
        )
        write_store(
            ds, out, catalog=spec.name, time_step=time_step, norm_kind=spec.normalization,
            default_t_in=spec.default_t_in, default_t_out=spec.default_t_out, splits=split_rules,
            provenance=prov, fixed_norm=spec.fixed_norm, overwrite=overwrite, progress=progress and not scheduler, wait=wait,
            extra_attrs={"title": spec.title, "references": list(spec.references), **source.attrs},
            zarr_format=zarr_format, shard_mb=shard_mb,
        )
    return out


def _refuse_existing(out: str | Path, overwrite: bool) -> None:
    if storage.exists(out) and not overwrite:  # on object storage this also checks endpoint, credentials, bucket
        raise TargetExistsError(f"{out} exists; pass --overwrite to replace it (it is kept until the new store is complete)")


def _select(source: Source, spec: Any, req: PrepareRequest) -> tuple[xr.Dataset, str, dict[str, str]]:
    """Apply the time step and the splits; check every split has data."""
    ds = source.ds
    source_time = ds["time"].values
    time_step = source.time_step
    if timeaxis.is_datetime(source_time):
        want = req.step or spec.default_step or time_step
        ds = subsample(ds, time_step, want)
        time_step = step_str(want)
    if "split" in ds.coords and req.splits is None:
        rules = dict(source.split_rule)
        generated = set(source.attrs.get("generated_splits", []))
        check_splits(ds, {k: v for k, v in rules.items() if k not in generated}, source_time)
    else:
        years = req.splits or (parse_splits(spec.splits) if spec.splits else None)
        if years is None:
            raise ConfigError(f"catalog {spec.name!r} has no standard splits: pass --splits, e.g. train=2000-2015,test=2016")
        if "train" not in years and spec.normalization != "fixed":
            raise ConfigError(f"--splits must include train (normalisation statistics come from it); got {', '.join(years)}")
        ds = label_splits(ds, years)
        rules = {k: _years(*v) for k, v in years.items()}
        check_splits(ds, rules, source_time)
    return ds, time_step, rules
