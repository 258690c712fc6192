"""The `geostp forecast` job: resolve data and run, predict, write the Zarr, score it against persistence and
climatology, draw the map.

`forecast(predictor, source, inits, n_frames, out)` is the job over objects; `run_forecast(request)` resolves a
request's names (model, variables, data, init times, lead) into them first and is what the CLI calls.
A default output (no --out) lives next to the run and is keyed by what made it (weights, data, init
times, leads), so asking again reuses it instead of recomputing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from geostp.data.resolve import DataSource, resolve_data
from geostp.errors import ConfigError, DataError, GeostpError, RunMismatchError, StoreError
from geostp.forecast.output import open_forecast, write_forecast
from geostp.forecast.ensemble import EnsembleSpec, choose_method
from geostp.forecast.predict import Predictor, parse_lead, predict_blocks, resolve_inits, unknown_variable
from geostp.forecast.runs import check_model_name, list_runs, matching_runs, quick_train
from geostp import timeaxis
from geostp.kinds import kind_of
from geostp.forecast.distributed import process_group, write_distributed
from geostp.locks import target_lock
from geostp.storage import is_url
from geostp.timeaxis import coord_labels, lead_label

Echo = Callable[[str], Any]


@dataclass
class ForecastRequest:
    """What `geostp forecast` was asked: model, variables, run, data, init times, lead, outputs."""

    model: str
    variables: list[str]
    run: str | None = None
    data: str | None = None  # None = the embedded sample
    init: list[str] | None = None  # None = the test split
    lead: str | None = None  # None = the run's T_out
    t_in: int | None = None  # input frames of a quick run (None: per the store's step, see forecast.runs)
    quick_steps: int | None = None  # training steps of a quick run (None: the recipe's)
    out: str | None = None
    plot: bool = True
    plot_out: str | None = None
    device: str = "auto"
    batch_size: int = 32
    overwrite: bool = False
    append: bool = False
    score: bool = True
    progress: bool = True
    wait: bool = False  # queue behind another writer of --out (the default output always waits)
    members: int = 1  # > 1: an ensemble made by `ensemble` (geostp.forecast.ensemble)
    ensemble: str = "auto"  # auto: crps for a CRPS-trained run, sample for S-HR-VQVAE, perturb otherwise
    perturb_amplitude: float = 0.1  # perturb: noise std in train-split standard deviations
    temperature: float = 1.0  # sample: temperature of the model's own sampling (0 = greedy)
    zarr_format: int | None = None  # of a new --out (None: the default, 3)
    init_chunk: int | None = None  # init times per Zarr chunk of a new --out (None: ~8 MB chunks)


@dataclass
class ForecastResult:
    """Where the outputs are and what they scored."""

    zarr: Path | str  # a URL for forecasts on object storage
    run_dir: Path | None
    n_init: int
    reused: bool = False
    trained: bool = False
    map_png: Path | None = None
    scores: xr.Dataset | None = None
    scores_csv: Path | None = None
    notes: list[str] = field(default_factory=list)


def _store_id(src: DataSource) -> str:
    """Identity of a store for cache keys: its path plus its sample key (the sample is a pure function of it,
    so two builds are the same data), else its provenance."""
    attrs = src.store.attrs
    if attrs.get("sample_key"):
        return json.dumps([src.path, attrs["sample_key"]])
    return json.dumps([src.path, "", attrs.get("provenance", "")], sort_keys=True)


def find_predictor(req: ForecastRequest, src: DataSource, echo: Echo) -> tuple[Predictor, bool, int]:
    """(predictor, trained now, frame stride): --run, else the latest matching run that fits the data, else a
    quick-start run on the sample. Each run considered is checked against the data once (`Predictor.run.fit`)."""
    if req.run:
        pred = _load(Path(req.run))
        if pred.model_name != req.model:
            raise RunMismatchError(f"--run {req.run} holds a {pred.model_name} model but --model {req.model} was asked; "
                                   f"pass --model {pred.model_name}, or a {req.model} run with --run")
        missing = [v for v in req.variables if v not in pred.variables]
        if missing:
            raise RunMismatchError(f"--run {req.run} was trained on {pred.variables}, not on {missing}")
        return pred, False, pred.run.fit(src.store, source=src.label)
    objective = "crps" if req.ensemble == "crps" else "mse"  # CRPS runs are picked by --ensemble crps (or --run)
    candidates = matching_runs(req.model, req.variables, objective=objective)
    mismatches = []
    for entry in candidates:
        try:
            pred = _load(entry.path)
            stride = pred.run.fit(src.store, source=src.label)
            if req.t_in and pred.t_in != req.t_in:
                raise RunMismatchError(f"it takes {pred.t_in} input frames, --t-in {req.t_in} was asked")
        except GeostpError as exc:  # a mismatching, torn or corrupt run: try the next one
            mismatches.append(f"{entry.path}: {exc}")
            continue
        return pred, False, stride
    if mismatches:
        echo(f"note: no {req.model} run for {', '.join(req.variables)} fits {src.label} ("
             + " | ".join(mismatches[:2]) + "); training a quick one on it")
    t_out = _quick_t_out(req, src)
    run_dir = quick_train(req.model, req.variables, src.path, _store_id(src), echo=echo,
                          sample=src.store if src.is_sample else None, t_in=req.t_in, t_out=t_out, label=src.label,
                          steps=req.quick_steps, objective=objective)
    pred = Predictor.from_run(run_dir)
    return pred, True, pred.run.fit(src.store, source=src.label)


def _quick_t_out(req: ForecastRequest, src: DataSource) -> int | None:
    """T_out of a quick run: the frames of --lead in the store's step (None: the default per step)."""
    if not req.lead:
        return None
    from geostp.timeaxis import parse_step

    step = parse_step(src.store.attrs["time_step"])
    want = parse_step(req.lead, "--lead")
    return want.n if want.kind == "frames" else want.frames_of(step, "lead")


def _load(run_dir: Path) -> Predictor:
    """Predictor.from_run, turning weights that no longer fit the model code into a clear StoreError."""
    try:
        return Predictor.from_run(run_dir)
    except RuntimeError as exc:  # load_state_dict: the model's code or preset changed since training
        first = str(exc).splitlines()[0:2]
        raise StoreError(f"the weights of run {run_dir} do not fit the current model code ({' '.join(first)}): "
                         "the model or its preset changed since it was trained; retrain it") from None


def _request_key(pred: Predictor, src: DataSource, inits: np.ndarray, n_frames: int, variables: Sequence[str],
                 ensemble: EnsembleSpec | None = None) -> str:
    h = hashlib.sha256()
    ens = [] if ensemble is None or ensemble.members == 1 else [dataclasses.asdict(ensemble)]  # deterministic keys unchanged
    h.update(json.dumps([pred.weights_hash, pred.config_hash, _store_id(src), n_frames, list(variables), *ens]).encode())
    h.update(timeaxis.ordinal_us(inits).tobytes())  # any calendar: microseconds in the times' own calendar
    h.update(timeaxis.calendar_of(inits).encode())
    return h.hexdigest()[:10]


def _default_out(pred: Predictor, variables: Sequence[str], init_label: str, lead_label: str, key: str) -> Path:
    base = pred.run_dir / "forecasts" if pred.run_dir else Path("forecasts")
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in init_label)[:40]
    return base / f"{'-'.join(variables)}-{safe}-{lead_label}-{key}.zarr"


def _lead_label(pred: Predictor, n_frames: int) -> str:
    return lead_label(n_frames, pred.frame_step)


@contextlib.contextmanager
def cpu_threads() -> Iterator[int]:
    """Run torch on the thread count that measures fastest now (geostp.threads), unless OMP_NUM_THREADS is set.

    Small models on a busy machine run 10-30x slower with more threads than idle cores (measured on 2
    loaded cores: vip_mixer tiny 0.16 s per call with 2 threads, 0.014 s with 1), and faster with all
    cores on an idle one; the load average lags, so the count is timed. Restored on exit.
    """
    import torch

    from geostp.threads import candidates, conv_probe, probe_threads, user_chose

    before = torch.get_num_threads()
    if user_chose() or len(candidates()) < 2:
        yield before
        return
    torch.set_num_threads(probe_threads(conv_probe(), candidates()))
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(before)


def forecast(pred: Predictor, src: DataSource, inits: np.ndarray, n_frames: int, out: str | Path, *,
             variables: Sequence[str] | None = None, stride: int | None = None, overwrite: bool = False,
             append: bool = False, batch_size: int = 32, device: str = "auto", progress: bool = True,
             attrs: dict[str, Any] | None = None, ensemble: EnsembleSpec | None = None,
             zarr_format: int | None = None, chunk: int | None = None) -> dict[str, int]:
    """Predict `n_frames` frames from each init time with `pred` on `src` and write the labelled blocks to `out`
    (geostp.forecast.output); `attrs` are added to the store's attributes. Returns the writer's counts.

    Under `accelerate launch --num_processes N` (WORLD_SIZE > 1) the init times are split across the
    processes, each writing its own region of `out` (geostp.forecast.distributed)."""
    group = process_group()
    if group is not None and ensemble is not None and ensemble.members > 1:
        raise ConfigError("ensembles (--members > 1) are not split across processes yet: run them in one process")
    if group is not None and device == "auto":  # one device per process
        import torch

        device = f"cuda:{group.local_rank}" if torch.cuda.is_available() else "cpu"

    def blocks(these: np.ndarray = inits) -> Iterator[xr.Dataset]:
        for ds in predict_blocks(pred, src.store, these, n_frames, variables=variables, batch_size=batch_size,
                                 device=device, progress=progress and group is None, source=src.label, stride=stride,
                                 ensemble=ensemble):
            check_finite(ds, out, src.store)
            ds.attrs.update(attrs or {})
            yield ds

    if group is None:
        return write_forecast(blocks(), out, overwrite=overwrite, append=append, zarr_format=zarr_format, chunk=chunk)

    def template(these: np.ndarray) -> xr.Dataset:
        """The lazy (dask) dataset of `these` init times: coordinates and attributes without predictions."""
        import dask.array as da

        from geostp.forecast.labels import forecast_dataset
        from geostp.forecast.predict import lead_times

        shape = (len(these), n_frames, len(pred.variables), *(len(v) for v in pred.grid.values()))
        ds = forecast_dataset(pred, src.store, these, da.zeros(shape, dtype=np.float32, chunks=shape),
                              lead_times(pred, n_frames), variables=list(variables) if variables else None,
                              source=src.label)
        ds.attrs.update(attrs or {})
        return ds

    return write_distributed(group, template, blocks, inits, out, overwrite=overwrite, append=append,
                             batch_size=batch_size, zarr_format=zarr_format, chunk=chunk)


def run_forecast(req: ForecastRequest, echo: Echo = print) -> ForecastResult:
    """Do the whole forecast job; see the module docstring."""
    with cpu_threads():
        return _run_forecast(req, echo)


def _run_forecast(req: ForecastRequest, echo: Echo) -> ForecastResult:
    check_model_name(req.model)
    src = resolve_data(req.data)
    store_vars = list(src.store.attrs["variables"])
    for v in req.variables:
        if v not in store_vars:
            raise unknown_variable(v, store_vars, [r.label() for r in list_runs()[:10]])
    pred, trained, stride = find_predictor(req, src, echo)
    n_frames = parse_lead(req.lead, pred)
    inits = resolve_inits(src.store, req.init, pred, n_frames, stride)
    ens = EnsembleSpec(members=req.members, method=choose_method(req.ensemble, pred.model), amplitude=req.perturb_amplitude,
                       temperature=req.temperature)
    if ens.method == "seeds" and ens.members > 1:  # members 1.. are the run's config trained with other seeds
        from geostp.forecast.seeds import seed_predictor, seed_runs

        if pred.run_dir is None:
            raise ConfigError("--ensemble seeds retrains a run's config with other seeds: pass --run RUN_DIR")
        runs = seed_runs(pred.run_dir, ens.members, src.path, _store_id(src), echo=echo, steps=req.quick_steps)
        pred = seed_predictor(pred, runs)
    key = _request_key(pred, src, inits, n_frames, req.variables, ens)
    init_label = "+".join(req.init) if req.init else "test"
    out = (req.out if is_url(req.out) else Path(req.out)) if req.out else \
        _default_out(pred, req.variables, init_label, _lead_label(pred, n_frames), key)
    result = ForecastResult(out, pred.run_dir, len(inits), trained=trained)
    rank = int(os.environ.get("RANK", "0"))  # under `accelerate launch`, rank 0 holds the lock for all ranks
    lock = target_lock(out, wait=req.wait or req.out is None) if rank == 0 else contextlib.nullcontext()
    with lock:  # the default output is a cache: wait, then reuse
        reuse = req.out is None and not req.overwrite and out.exists() and _is_complete_with_key(out, key)
        if reuse:
            result.reused = True
        else:
            counts = forecast(pred, src, inits, n_frames, out, variables=req.variables, stride=stride,
                              overwrite=req.overwrite or (req.out is None and out.exists()), append=req.append,
                              batch_size=req.batch_size, device=req.device, progress=req.progress,
                              attrs={"request_key": key, **_ensemble_attrs(ens)}, ensemble=ens,
                              zarr_format=req.zarr_format, chunk=req.init_chunk)
            if counts["skipped"]:
                result.notes.append(f"{counts['skipped']} init time(s) were already in {out} and kept as they were")
    if rank != 0:  # launched over several processes: rank 0 scores and draws
        return result
    written = open_forecast(out)
    if req.score:
        _score(result, written, src, req, echo)
    if req.plot:
        try:
            result.map_png = _draw(written, src, req, out, reuse=result.reused)
        except ImportError as exc:  # cartopy is an extra: the forecast stands without its map
            result.notes.append(f"no map: {exc}")
    return result


def _ensemble_attrs(ens: EnsembleSpec) -> dict[str, Any]:
    """How the members were made, in the output's attributes (NetCDF-safe types)."""
    if ens.members == 1:
        return {}
    attrs: dict[str, Any] = {"ensemble_method": ens.method, "ensemble_members": ens.members}
    if ens.method == "perturb":
        attrs["ensemble_perturbation"] = (f"amplitude {ens.amplitude} train-split std, length scale {ens.length_scale} "
                                          f"cells, seed {ens.seed} (geostp.forecast.ensemble)")
    elif ens.method == "sample":
        attrs["ensemble_sampling"] = f"the model's own draws at temperature {ens.temperature:g} (geostp.forecast.ensemble)"
    elif ens.method == "seeds":
        attrs["ensemble_seeds"] = ("member k: the run's config trained with train.seed + k (member 0: the run; "
                                   "geostp.forecast.seeds)")
    return attrs


def check_finite(block: xr.Dataset, out: str | Path, store: xr.Dataset | None = None) -> None:
    """Stop on NaN or Inf in a block of model output, naming the first init time and lead where it appears
    (a variable's static mask, NaN by design, is not counted)."""
    from geostp.data.masks import variable_mask

    for name, da in block.data_vars.items():
        bad = ~np.isfinite(da.values)
        mask = variable_mask(store, str(name)) if store is not None and "lat" in da.dims else None
        if mask is not None:
            bad &= ~np.broadcast_to(mask.transpose("lat", "lon").values, bad.shape[-2:])
        if not bad.any():
            continue
        bad = np.moveaxis(bad, (da.dims.index("init_time"), da.dims.index("lead_time")), (0, 1))
        b, lead = (int(i[0]) for i in np.nonzero(bad.reshape(bad.shape[0], bad.shape[1], -1).any(-1)))
        raise DataError(
            f"the model output has {int(bad.sum())} NaN/Inf value(s) in {name}, first at init "
            f"{_label(block['init_time'].values[b])}, lead {coord_labels(block['lead_time'].values, dict(block['lead_time'].attrs))[lead]}; the forecast is "
            f"stopped and {out} is left as it was: check the run's weights (a corrupt or diverged run: retrain it) "
            "and the input data around that init time")


def _label(value: Any) -> str:
    if isinstance(value, np.datetime64):
        return str(np.datetime_as_string(value, unit="m"))
    if isinstance(value, np.timedelta64):
        return f"{value / np.timedelta64(1, 'h'):g}h"
    return timeaxis.format_time(value) if hasattr(value, "calendar") else str(value)


def _is_complete_with_key(path: Path, key: str) -> bool:
    try:
        return open_forecast(path).attrs.get("request_key") == key
    except GeostpError:
        return False


def _beside(out: Path | str) -> tuple[Path, str]:
    """(folder, stem) for files written next to a forecast; for a URL forecast, the current folder."""
    name = str(out).rstrip("/").rsplit("/", 1)[-1]
    stem = name[:-5] if name.endswith(".zarr") else name
    return (Path.cwd() if is_url(out) else Path(out).parent), stem


def _scores_paths(out: Path | str) -> tuple[Path, Path]:
    folder, stem = _beside(out)
    return folder / f"{stem}-scores.csv", folder / f"{stem}-scores.nc"


def _score(result: ForecastResult, forecast: xr.Dataset, src: DataSource, req: ForecastRequest, echo: Echo) -> None:
    """RMSE/ACC of the forecast next to persistence and climatology on the init times the data can verify."""
    from geostp.evaluation.scorecard import per_time_scores, scored_inits, summarize, write_scores

    csv, nc = _scores_paths(result.zarr)
    if result.reused and nc.is_file():
        result.scores, result.scores_csv = xr.load_dataset(nc), csv
        return
    try:
        ok, dropped = scored_inits(forecast, src.store)
    except DataError as exc:
        result.notes.append(f"not scored: {exc}")
        return
    if len(dropped):
        result.notes.append(f"{len(dropped)} init time(s) have valid times beyond the data and were not scored")
    metrics = list(kind_of(forecast).score_metrics or []) or None
    if metrics and "member" in forecast.dims:  # ensemble: its mean's scores plus CRPS and spread
        metrics += ["crps", "spread"]
    pt = per_time_scores({forecast.attrs.get("model", "model"): forecast}, src.store, ok, metrics=metrics,
                         progress=req.progress, regions=("global",))
    scores = summarize(pt)
    for v in scores["variable"].values:
        if str(v) in forecast.data_vars:
            scores.attrs[f"units_{v}"] = forecast[str(v)].attrs.get("units", "")
    paths = write_scores(scores, csv.parent, stem=csv.name[: -len(".csv")])
    result.scores, result.scores_csv = scores, paths["csv"]


def _draw(forecast: xr.Dataset, src: DataSource, req: ForecastRequest, out: Path | str,
          reuse: bool = False) -> Path | None:
    """Map of the first variable at the first init and last lead (frames grid for video/traffic); a reused
    forecast keeps its existing map."""
    folder, stem = _beside(out)
    if kind_of(forecast).plotter == "map":
        from geostp.plots.maps import plot_map

        var = req.variables[0]
        label = coord_labels(forecast["lead_time"].values, dict(forecast["lead_time"].attrs))[-1]
        png = Path(req.plot_out) if req.plot_out else folder / f"{stem}-{var}-{label}.png"
        if reuse and png.is_file():
            return png
        if "member" in forecast.dims:  # the map shows the ensemble mean
            forecast = forecast.mean("member", keep_attrs=True)
        return plot_map(forecast, var, png, truth_store=src.store)
    from geostp.plots.frames import plot_frames

    png = Path(req.plot_out) if req.plot_out else folder / f"{stem}-frames.png"
    return plot_frames(forecast, src.store, png)


def summary_lines(result: ForecastResult, variables: Sequence[str]) -> list[str]:
    """What the CLI prints at the end: where things are and RMSE per lead next to the baselines."""
    from geostp.evaluation.scorecard import format_table

    lines = []
    if result.trained:
        lines.append(f"trained run: {result.run_dir}")
    lines.append(f"forecast: {result.zarr}  ({result.n_init} init times{'; reused, same run and request' if result.reused else ''})")
    lines.append(f"  open it with: xarray.open_zarr('{result.zarr}')")
    if result.map_png:
        lines.append(f"map: {result.map_png}")
    if result.scores is not None:
        metrics = result.scores["metric"].values
        shown = ["rmse" if "rmse" in metrics else "mse"] + [m for m in ("crps", "spread") if m in metrics]
        for v in result.scores["variable"].values:
            for metric in shown:
                lines.append("")
                lines.append(format_table(result.scores, metric, str(v)).rstrip())
        if result.scores_csv:
            lines.append(f"scores: {result.scores_csv}")
    lines += [f"note: {n}" for n in result.notes]
    return lines

