"""The run contract: what a trained run expects of its data, read once from the run directory into one typed object.

`DataSignature` is written by training (`signature.json`); `RunContract.read(run_dir)` gives training
(resume), forecast, evaluate and plot the same typed view (model, signature, statistics, weights, config)
without importing torch. Whether a run fits a store is decided by `check_fit`, with one grid tolerance
(`same_coords`) used everywhere.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

import geostp
from geostp import timeaxis
from geostp.data.anomalies import read_run_anomalies
from geostp.errors import GeostpError, IntegrityError, RunMismatchError, StoreError

RUN_FORMAT = "geostp-run"
RUN_FORMAT_VERSION = 1
GRID_ATOL, GRID_RTOL = 1e-6, 1e-5  # the tolerance of every run/data grid comparison (float32-stored coordinates pass)
SIGNATURE_KEYS = ("variables", "grid_kind", "grid", "time_step", "frame_step", "t_in", "t_out")


def is_frame_count(step: Any) -> bool:
    """Whether a step counts frames ("1", 3, "20f") rather than time ("6h", "month")."""
    return timeaxis.parse_step(step).kind == "frames"


def times(step: str, n: int) -> str:
    """`n` store time steps as one step label ("6h" * 2 -> "12h"; "1month" * 3 -> "3month"; "1" * 3 -> "3f")."""
    return (timeaxis.parse_step(step) * n).label


def grid_summary(values: Any) -> str:
    """"N points a..b step s" of a coordinate, for error messages."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) < 2:
        return f"{len(values)} points {values.tolist()}"
    return f"{len(values)} points {values[0]:g}..{values[-1]:g} step {values[1] - values[0]:g}"


def same_coords(a: Any, b: Any) -> bool:
    """Whether two grid coordinates agree within the one grid tolerance."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=GRID_RTOL, atol=GRID_ATOL))


def frame_stride(time_step: str, frame_step: str) -> int:
    """How many store time steps one model frame spans (the run's frame step over the store's time step)."""
    base = str(time_step)
    try:
        ratio = timeaxis.parse_step(frame_step).ratio(timeaxis.parse_step(base))
    except ValueError:
        raise RunMismatchError(f"frame step mismatch: the run steps {frame_step!r} per frame, the data {base!r}") from None
    if ratio < 1 or ratio != int(ratio):
        raise RunMismatchError(
            f"frame step mismatch: the run was trained on frames {frame_step} apart, the data has a time step of "
            f"{base}, which does not divide it; use data at {frame_step} (or a divisor of it)"
        )
    return int(ratio)


def check_fit(model_name: str, variables: list[str], grid: dict[str, Any], frame_step: str, store: Any,
              source: str = "the data") -> int:
    """The one check of a run against a store (variables, grid, frame step); returns the frame stride.

    On a mismatch the RunMismatchError shows both sides.
    """
    from geostp.data.store import GRID_DIMS

    store_vars = list(store.attrs["variables"])
    missing = [v for v in variables if v not in store_vars]
    if missing:
        raise RunMismatchError(f"variables mismatch: the run ({model_name}) needs {variables}; {source} has "
                               f"{store_vars} (missing {missing})")
    gdims = GRID_DIMS[store.attrs["grid_kind"]]
    if tuple(grid) != gdims:
        raise RunMismatchError(f"grid mismatch: the run is on a {tuple(grid)} grid, {source} on {gdims}")
    for d in gdims:
        a, b = grid[d], store[d].values
        if not same_coords(a, b):
            raise RunMismatchError(
                f"grid mismatch in {d}: the run has {grid_summary(a)}, {source} has {grid_summary(b)}; "
                "regrid the data to the run's grid or train a run on this grid"
            )
    return frame_stride(str(store.attrs["time_step"]), frame_step)


@dataclass
class DataSignature:
    """What a trained model expects of its data; forecasts and resumes are checked against it."""

    variables: list[str]
    grid_kind: str  # latlon | image
    grid: dict[str, list[float]]  # coordinate values of the two grid dims (lat/lon or y/x)
    time_step: str  # the store's time step ("6h", or "1" for frames)
    frame_step: int  # store time steps between consecutive frames
    t_in: int
    t_out: int
    lead_step: str = ""  # duration between frames ("6h"), or a frame count ("1")
    units: dict[str, str] = field(default_factory=dict)
    catalog: str = ""
    store: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (what `signature.json` holds, with the model name added by the run)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DataSignature:
        """Inverse of to_dict (extra keys such as `model` are ignored)."""
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})

    @property
    def step(self) -> str:
        """Duration between the model's frames ("12h"), or a frame count ("1")."""
        return times(self.time_step, self.frame_step)

    def lead_labels(self, n: int | None = None) -> list[str]:
        """Labels of the lead times 1..n (default T_out): "6h", "12h", ..., "1month", ... or "1f", ... (timeaxis)."""
        return timeaxis.lead_labels(self.t_out if n is None else n, self.step)

    def fit(self, store: Any, model_name: str = "", source: str = "the data") -> int:
        """`check_fit` of this signature against a store; returns the frame stride."""
        return check_fit(model_name or "run", self.variables, self.grid, self.step, store, source)

    def mismatches(self, other: DataSignature) -> list[str]:
        """Human-readable differences that make a model unusable on `other`'s data (empty if compatible)."""
        out = []
        for key in SIGNATURE_KEYS:
            a, b = getattr(self, key), getattr(other, key)
            if key == "grid":
                if a.keys() != b.keys() or not all(same_coords(a[k], b[k]) for k in a):
                    out.append(f"grid: {_grid_text(a)} vs {_grid_text(b)}")
            elif key == "time_step" and _same_step(a, b):
                continue
            elif a != b:
                out.append(f"{key}: {a!r} vs {b!r}")
        return out


def _same_step(a: str, b: str) -> bool:
    """Two store time steps written differently (1D and 1d, 24h and 1d) are the same step."""
    try:
        return timeaxis.parse_step(a) == timeaxis.parse_step(b)
    except GeostpError:
        return False


def _grid_text(grid: dict[str, list[float]]) -> str:
    return ", ".join(f"{k} {len(v)} values {v[0]:g}..{v[-1]:g}" if len(v) else f"{k} empty" for k, v in grid.items())


def read_signature(run_dir: Path) -> dict[str, Any]:
    """signature.json of a run, refusing a missing, torn or foreign file or another run-format version."""
    path = Path(run_dir) / "signature.json"
    if not path.is_file():
        raise StoreError(f"{run_dir} is not a geostp run directory (no signature.json); train one with "
                         "`geostp train --config CFG --out RUN_DIR`")
    try:
        sig = json.loads(path.read_text())
        sig.get("format")
    except (OSError, ValueError, AttributeError):
        raise StoreError(f"{path} is unreadable (torn or corrupt): {run_dir} cannot be used; retrain it") from None
    if sig.get("format") != RUN_FORMAT or sig.get("format_version") != RUN_FORMAT_VERSION:
        raise StoreError(
            f"{run_dir} was written by geostp {sig.get('geostp_version', '?')} in run format "
            f"{sig.get('format')!r} version {sig.get('format_version')}; this geostp {geostp.__version__} reads "
            f"{RUN_FORMAT!r} version {RUN_FORMAT_VERSION}: retrain with this version"
        )
    return sig


def file_hash(path: Path | None) -> str:
    """First 16 hex digits of a file's sha256 ("" for None)."""
    if path is None:
        return ""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


WEIGHTS_KEY = "weights_sha256"  # signature.json: {weights file name: [accepted sha256 digests]}


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _safetensors_intact(path: Path) -> bool:
    """Whether a safetensors file's header parses and its tensors fit the file (torch-free)."""
    try:
        with open(path, "rb") as fh:
            n = int.from_bytes(fh.read(8), "little")
            header = json.loads(fh.read(n))
        ends = [int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"]
        return path.stat().st_size == 8 + n + max(ends, default=0)
    except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError):
        return False


def verify_weights(path: Path, sig: dict[str, Any] | None = None) -> str | None:
    """Why weights file `path` is unusable (missing, torn, sha256 mismatch), or None when it is intact.

    Runs written before checksums existed are only checked to parse."""
    path = Path(path)
    if not path.is_file():
        return "missing"
    if sig is None:
        sig_path = path.parent / "signature.json"
        try:
            sig = json.loads(sig_path.read_text()) if sig_path.is_file() else {}
        except ValueError:
            sig = {}
    digests = (sig.get(WEIGHTS_KEY) or {}).get(path.name)
    if digests:
        return None if sha256_file(path) in digests else "its sha256 does not match the one recorded in signature.json"
    return None if _safetensors_intact(path) else "it is not a complete safetensors file"


def intact_weights(run_dir: Path, which: str, sig: dict[str, Any]) -> Path | None:
    """The weights file to load: `which` if intact, else the other one (with a note), None when the run has no
    weights yet; IntegrityError when the weights there are all corrupt."""
    from geostp.locks import notice

    first = run_dir / f"{which}.safetensors"
    other = run_dir / ("last.safetensors" if which == "best" else "best.safetensors")
    why = verify_weights(first, sig)
    if why is None:
        return first
    why_other = verify_weights(other, sig)
    if why == "missing" and why_other == "missing":
        return None
    if why_other is None:
        if why != "missing":
            notice(f"{first} is corrupt ({why}); using {other.name} instead (retrain or resume the run to "
                   f"rebuild {first.name})")
        return other
    bad, reason = (first, why) if why != "missing" else (other, why_other)
    raise IntegrityError(f"{bad} is corrupt ({reason}) and {run_dir} has no intact weights to fall back to: "
                         f"resume the run from its state with `geostp train --resume {run_dir}` or retrain it")


@dataclass
class RunContract:
    """A run directory read once: model, resolved model config, data signature, statistics, weights.

    `config` (the typed TrainConfig) is read on first use; nothing here imports torch.
    """

    run_dir: Path
    model_name: str
    signature: DataSignature
    stats: dict[str, dict[str, float]]
    weights: Path | None
    preset: str | None = None
    model_config: dict[str, Any] | None = None  # every hyper-parameter (None: runs from before it was saved)
    step: int = 0  # optimizer step of the weights (set when they are loaded)
    environment: dict[str, Any] = field(default_factory=dict)
    anomalies: Any = None  # geostp.data.anomalies.Anomalies of a run trained on anomalies (data.anomalies), else None

    @classmethod
    def read(cls, run_dir: str | Path, which: str = "best") -> RunContract:
        """The contract of RUN_DIR with its `which` (best, else last) weights; StoreError for a non-run."""
        run_dir = Path(run_dir)
        sig = read_signature(run_dir)
        env_path = run_dir / "environment.json"
        stats_path = run_dir / "stats.json"
        missing = [p.name for p in (stats_path, run_dir / "config.yaml") if not p.is_file()]
        if missing:
            raise StoreError(f"{run_dir} has no {' or '.join(missing)}: the run directory is incomplete (torn while "
                             "being written); retrain it or pass another --run")
        weights = intact_weights(run_dir, which, sig)
        return cls(run_dir=run_dir, model_name=str(sig["model"]), signature=DataSignature.from_dict(sig),
                   stats=json.loads(stats_path.read_text()), weights=weights, preset=sig.get("preset"),
                   model_config=sig.get("model_config"),
                   environment=json.loads(env_path.read_text()) if env_path.is_file() else {},
                   anomalies=read_run_anomalies(run_dir))

    @cached_property
    def config(self) -> Any:
        """The run's resolved TrainConfig (config.yaml)."""
        from geostp.training.config import load_config

        return load_config(self.run_dir / "config.yaml")

    @property
    def frame_step(self) -> str:
        """Duration between the model's frames ("6h"), or a frame count ("1") for video."""
        return self.signature.step

    @cached_property
    def config_hash(self) -> str:
        """Hash of config.yaml (goes into forecast attributes and cache keys)."""
        path = self.run_dir / "config.yaml"
        return file_hash(path) if path.is_file() else ""

    @cached_property
    def weights_hash(self) -> str:
        """Hash of the weights file used."""
        return file_hash(self.weights)

    def fit(self, store: Any, source: str = "the data") -> int:
        """Whether this run fits `store` (RunMismatchError otherwise); returns the frame stride."""
        return self.signature.fit(store, self.model_name, source)
