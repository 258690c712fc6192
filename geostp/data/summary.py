"""Human-readable summary of a geostp store (`geostp data info`): variables, grid, time, splits, provenance."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from geostp.kinds import kind_of
from geostp.data.store import GRID_DIMS, open_store, split_names


def _fmt(x: object) -> str:
    try:
        v = float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(x)
    return "nan" if not np.isfinite(v) else f"{v:.6g}"


def _time(t: object) -> str:
    if isinstance(t, np.datetime64):
        return str(pd.Timestamp(t)).replace(" ", "T").removesuffix(":00")
    return str(t)


def summarize_store(path: str | Path) -> str:
    """A multi-line summary of the store at `path` (opened and checked like any consumer would)."""
    ds = open_store(path)
    a = ds.attrs
    gdims = GRID_DIMS[a["grid_kind"]]
    variables = list(a["variables"])
    time = ds["time"].values
    split = ds["split"].values
    seg = ds["segment"].values
    lines = [f"geostp store {path}", f"  catalog: {a.get('catalog')}   format: {a['geostp_format']} v{a['geostp_format_version']}"]
    grid = " x ".join(str(ds.sizes[d]) for d in gdims)
    if kind_of(ds).per_variable:  # lat/lon fields: give the extent in degrees
        lat, lon = ds["lat"].values, ds["lon"].values
        grid += f" (lat {lat[0]:g}..{lat[-1]:g}, lon {lon[0]:g}..{lon[-1]:g} degrees)"
        if "periodic_lon" in a:
            grid += ", global in longitude (periodic)" if a["periodic_lon"] else ", regional (not wrapped)"
    else:
        grid += " pixels (y, x)"
    lines.append(f"  grid: {grid}")
    lines.append(f"  time: {_time(time[0]) if len(time) else '-'} .. {_time(time[-1]) if len(time) else '-'}, "
                 f"step {a['time_step']}, {len(time)} steps, {len(np.unique(seg))} gap-free segments")
    lines.append(f"  windows: default {a['default_t_in']} -> {a['default_t_out']}")
    lines.append("  variables (channel order; statistics over the train split):")
    for v in variables:
        va = ds[v].attrs
        desc = va.get("long_name", "")
        stats = (
            f"mean {_fmt(va.get('stats_mean'))}  std {_fmt(va.get('stats_std'))}  "
            f"min {_fmt(va.get('stats_min'))}  max {_fmt(va.get('stats_max'))}  n {va.get('stats_count')}"
            if va.get("stats_count") else "no stored train split (generated on the fly)"
        )
        lines.append(
            f"    {v:<8} [{va.get('units', '?')}] {desc}\n             {stats}; "
            f"{va.get('norm_kind')}: (x - {_fmt(va.get('norm_offset'))}) / {_fmt(va.get('norm_scale'))}"
        )
    extra = [n for n in ds.data_vars if n not in variables]
    if extra:
        lines.append("  other arrays: " + ", ".join(f"{n} {tuple(ds[n].shape)} {ds[n].dtype}" for n in extra))
    rules = json.loads(a.get("splits", "{}"))
    lines.append("  splits:")
    for s in split_names(ds):
        idx = np.flatnonzero(split == s)
        lines.append(
            f"    {s:<6} {len(idx):>9} steps  {_time(time[idx[0]])} .. {_time(time[idx[-1]])}  "
            f"{len(np.unique(seg[idx]))} segments" + (f"  ({rules[s]})" if s in rules else "")
        )
    for s in a.get("generated_splits", []):
        lines.append(f"    {s:<6} generated on the fly by {a.get('generator')!r}" + (f"  ({rules[s]})" if s in rules else ""))
    enc = ds[variables[0]].encoding
    chunks = enc.get("chunks") or enc.get("preferred_chunks")
    if chunks:
        nbytes = int(np.prod(chunks)) * ds[variables[0]].dtype.itemsize
        lines.append(f"  chunks: {' x '.join(map(str, chunks))} ({nbytes / 2**20:.2f} MiB per chunk, {ds[variables[0]].dtype})")
    prov = json.loads(a.get("provenance", "{}"))
    if prov:
        files = prov.get("source_files", [])
        lines.append(f"  provenance: geostp {prov.get('geostp_version')}, created {prov.get('created')}")
        lines.append(f"    command: {prov.get('command')}")
        if files:
            lines.append(f"    {len(files)} source file(s) under {prov.get('source_root')}, first {files[0]}")
        for note in prov.get("notes", []):
            lines.append(f"    note: {note}")
        if prov.get("filled"):
            lines.append(f"    filled NaNs ({prov.get('request', {}).get('fill')}): {prov['filled']}")
    if "synthetic" in a:  # stored as int 0/1 (NetCDF has no boolean attributes)
        lines.append(f"  synthetic: {bool(a['synthetic'])}")
    for key in ("description", "title"):
        if key in a:
            lines.append(f"  {key}: {a[key]}")
    lines += leftover_lines(path)
    return "\n".join(lines)


def leftover_lines(path: str | Path) -> list[str]:
    """Lines reporting temporary outputs that dead writers left beside a local store (none: no lines)."""
    from geostp.io import describe_leftovers, find_leftovers

    if "://" in str(path):
        return []
    found = find_leftovers(path)
    if not found:
        return []
    return [f"  leftovers: {len(found)} temporary output(s) of killed or failed writers (remove them with "
            f"`geostp clean {path}`):", describe_leftovers(found)]
