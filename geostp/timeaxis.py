"""The one time axis: steps and leads (durations, calendar months and years, frame counts) and time values in
any CF calendar (numpy datetime64 or cftime objects).

Everything that parses, formats or compares a step or a lead goes through here, so a lead reads the same
in file names, logs, tables and plots: ``6h``, ``30min``, ``1d``, ``1month``, ``3month``, ``1year``, ``20f``.

Steps come in three kinds:

* durations (``30min``, ``6h``, ``1d``): times exactly that far apart are one step;
* calendar steps (``month``, ``3month``, ``year``): months of 28-31 days (or the 30-day months of a
  ``360_day`` calendar), and mid-month stamps with irregular hours (16T12:00, 15T00:00), are one regular
  step; what counts is the calendar month, not the duration;
* frame counts (``20f``; a bare integer such as ``"1"`` is a frame count too) for video.

Time values are handled in their own calendar: cftime's for non-standard calendars (``360_day``, ``noleap``,
``all_leap``, ``julian``), numpy datetime64 for the standard one. pandas is not used for calendar values
because it cannot represent cftime dates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from geostp.errors import ConfigError, DataError

_US = {"s": 10**6, "min": 60 * 10**6, "h": 3600 * 10**6, "d": 86400 * 10**6}
_UNIT_ALIASES = {
    "s": "s", "sec": "s", "second": "s", "seconds": "s",
    "min": "min", "t": "min", "minute": "min", "minutes": "min",
    "h": "h", "hour": "h", "hours": "h",
    "d": "d", "day": "d", "days": "d", "w": "w", "week": "w", "weeks": "w",
    "month": "month", "months": "month", "mon": "month",
    "y": "year", "year": "year", "years": "year", "yr": "year",
    "f": "f", "frame": "f", "frames": "f",
}
_STEP_RE = re.compile(r"^\s*(?P<n>\d+)?\s*(?P<unit>[A-Za-z]+)?\s*$")
#: Default input length of a quick run per step unit (documented in docs/own-data.md).
DEFAULT_T_IN = {"s": 4, "min": 4, "h": 4, "d": 10, "month": 12, "year": 5, "f": 10}
#: Calendars cftime knows, by their CF names (aliases map to one name).
CALENDARS = {
    "standard": "standard", "gregorian": "standard", "proleptic_gregorian": "proleptic_gregorian",
    "noleap": "noleap", "365_day": "noleap", "all_leap": "all_leap", "366_day": "all_leap",
    "360_day": "360_day", "julian": "julian",
}


@dataclass(frozen=True, eq=False)
class Step:
    """A time step or lead: `n` units of `unit` (s, min, h, d, month, year or f for frames)."""

    n: int
    unit: str

    @property
    def kind(self) -> str:
        """"duration", "calendar" or "frames"."""
        return "frames" if self.unit == "f" else "calendar" if self.unit in ("month", "year") else "duration"

    @property
    def months(self) -> int:
        """Calendar months in the step (calendar steps only)."""
        return self.n * (12 if self.unit == "year" else 1)

    @property
    def us(self) -> int:
        """Microseconds in the step (durations only)."""
        return self.n * _US[self.unit]

    @property
    def delta(self) -> pd.Timedelta:
        """The duration as a pandas Timedelta (durations only)."""
        return pd.Timedelta(self.us, "us")

    @property
    def label(self) -> str:
        """Canonical text: 6h, 30min, 1d, 1month, 3month, 1year, 20f."""
        return f"{self.n}{self.unit}"

    def _key(self) -> tuple[str, int]:
        if self.kind == "calendar":
            return ("calendar", self.months)
        return (self.kind, self.n if self.kind == "frames" else self.us)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Step) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __str__(self) -> str:
        return self.label

    def __repr__(self) -> str:
        return f"Step({self.label!r})"

    def __mul__(self, k: int) -> Step:
        return Step(self.n * int(k), self.unit)

    __rmul__ = __mul__

    def ratio(self, base: Step) -> float:
        """How many `base` steps make this step (a float; ValueError across kinds)."""
        if self.kind != base.kind:
            raise ValueError(f"{self.label} and {base.label} are not comparable ({self.kind} vs {base.kind})")
        if self.kind == "calendar":
            return self.months / base.months
        if self.kind == "frames":
            return self.n / base.n
        return self.us / base.us

    def frames_of(self, base: Step, what: str = "step", base_name: str = "the store's time step",
                  error: type[Exception] = DataError) -> int:
        """This step as a whole number (>= 1) of `base` steps, or an `error` (DataError) saying why not."""
        try:
            r = self.ratio(base)
        except ValueError:
            raise error(f"{what} {self.label} cannot be counted in steps of {base_name} {base.label} "
                        f"({self.kind} vs {base.kind}); give a {base.kind} such as {base.label}") from None
        if r < 1 or r != int(r):
            if what == "lead":
                raise error(f"lead {self.label} is not a whole number of frames ({base.label} apart)")
            raise error(f"{what} {self.label} is not a whole multiple of {base_name} {base.label!r}; "
                        f"use {base.label!r} or a multiple of it")
        return int(r)

    @classmethod
    def from_us(cls, us: int, prefer: str | None = None) -> Step:
        """A duration from microseconds, in `prefer`'s unit when whole, else the largest whole unit."""
        us = int(us)
        if prefer in _US and us % _US[prefer] == 0:
            return cls(us // _US[prefer], prefer)
        for unit in ("d", "h", "min", "s"):
            if us % _US[unit] == 0:
                return cls(us // _US[unit], unit)
        raise DataError(f"time step of {us} microseconds is not a whole number of seconds")


def parse_step(text: Any, what: str = "step") -> Step:
    """`6h`, `30min`, `1d`, `5d`, `1D`, `month`, `3month`, `6month`, `year`, `20f`, `"1"` (frames), or a Step."""
    if isinstance(text, Step):
        return text
    if isinstance(text, (int, np.integer)):
        return _checked(Step(int(text), "f"), what, text)
    if isinstance(text, (pd.Timedelta, np.timedelta64)):
        return Step.from_us(pd.Timedelta(text).value // 1000)
    m = _STEP_RE.match(str(text))
    unit = _UNIT_ALIASES.get((m["unit"] or "f").lower()) if m and (m["n"] or m["unit"]) else None
    if unit is None:
        raise ConfigError(
            f"{what} {text!r} is neither a duration (30min, 6h, 1d, 5d), a calendar step (month, 3month, "
            "6month, year) nor a frame count (20f)"
        )
    n = int(m["n"]) if m["n"] else 1
    if unit == "w":
        n, unit = 7 * n, "d"
    return _checked(Step(n, unit), what, text)


def _checked(step: Step, what: str, text: Any) -> Step:
    if step.n < 1:
        raise ConfigError(f"{what} {text!r} must be at least one step")
    return step


def lead_label(k: int, step: Step | str) -> str:
    """Label of lead k (k frames of `step`): 6h x 4 -> '24h', 1month x 3 -> '3month', 1f x 10 -> '10f'."""
    return (parse_step(step) * int(k)).label


def lead_labels(n: int, step: Step | str) -> list[str]:
    """Labels of leads 1..n."""
    return [lead_label(k, step) for k in range(1, n + 1)]


# ------------------------------------------------------------------------------------------ lead coordinate
def lead_values(step: Step | str, n: int) -> np.ndarray:
    """The lead_time coordinate of leads 1..n: timedelta64 for durations, integer counts of the step's
    unit (months, years, frames) otherwise (see `lead_attrs`)."""
    step = parse_step(step)
    k = np.arange(1, n + 1)
    if step.kind == "duration":
        return (k * step.us).astype("timedelta64[us]").astype("timedelta64[ns]")
    return (k * step.n).astype(np.int64)


def lead_counts(leads: np.ndarray, step: Step | str) -> np.ndarray:
    """How many `step`s each lead_time value is (inverse of `lead_values`)."""
    step = parse_step(step)
    leads = np.asarray(leads)
    if np.issubdtype(leads.dtype, np.timedelta64):
        return leads.astype("timedelta64[us]").astype(np.int64) // step.us
    return leads.astype(np.int64) // step.n


def lead_attrs(step: Step | str) -> dict[str, str]:
    """Attributes of the lead_time coordinate that make its values readable as steps."""
    step = parse_step(step)
    attrs = {"geostp_step": step.label}
    if step.kind == "calendar":
        attrs["units"] = "months" if step.unit == "month" else "years"
    elif step.kind == "frames":
        attrs["units"] = "frames"
    return attrs


def coord_step(values: np.ndarray, attrs: dict[str, Any] | None = None) -> Step:
    """The step of a lead_time coordinate (its first value) as written by `lead_values`/`lead_attrs`."""
    attrs = attrs or {}
    values = np.asarray(values)
    prefer = parse_step(attrs["geostp_step"]).unit if "geostp_step" in attrs else None
    if np.issubdtype(values.dtype, np.timedelta64):
        return Step.from_us(int(values[0].astype("timedelta64[us]").astype(np.int64)), prefer or "h")
    unit = {"months": "month", "years": "year"}.get(str(attrs.get("units", "")), prefer or "f")
    return Step(int(values[0]), unit)


def coord_labels(values: np.ndarray, attrs: dict[str, Any] | None = None) -> list[str]:
    """Labels of every value of a lead_time coordinate (the same strings as `lead_label`)."""
    values = np.asarray(values)
    return [coord_step(values[i:i + 1], attrs).label for i in range(len(values))]


def lead_numbers(values: np.ndarray, attrs: dict[str, Any] | None = None) -> tuple[np.ndarray, str]:
    """Numeric lead values and the axis label for plots: hours/days for durations, else the step unit."""
    values = np.asarray(values)
    if np.issubdtype(values.dtype, np.timedelta64):
        unit = coord_step(values[:1], attrs).unit if len(values) else "h"
        unit = unit if unit in ("d", "min") else "h"
        return values / np.timedelta64(_US[unit], "us"), f"lead time [{unit}]"
    unit = coord_step(values[:1], attrs).unit if len(values) else "f"
    return values.astype(float), f"lead time [{'frames' if unit == 'f' else unit + 's'}]"


def lead_index(values: np.ndarray, attrs: dict[str, Any] | None, text: str) -> int:
    """Index of the lead named `text` (72h, 3d, 6month, 10f; a bare number: the same unit as the leads)."""
    labels = coord_labels(values, attrs)
    base = coord_step(values[:1], attrs)
    raw = str(text).strip()
    want = Step(int(raw), base.unit) if raw.isdigit() else parse_step(raw, "lead")
    for i in range(len(values)):
        if coord_step(values[i:i + 1], attrs) == want:
            return i
    raise DataError(f"lead {text} is not in the forecast; its leads: {', '.join(labels)}")


# ------------------------------------------------------------------------------------------ time values
def is_cftime(values: Any) -> bool:
    """True for an array (or scalar) of cftime datetimes."""
    arr = np.asarray(values)
    if arr.dtype != object or arr.size == 0:
        return False
    import cftime

    return isinstance(arr.flat[0], cftime.datetime)


def is_datetime(values: Any) -> bool:
    """True for calendar times (datetime64 or cftime), False for frame counters."""
    arr = np.asarray(values)
    return np.issubdtype(arr.dtype, np.datetime64) or is_cftime(arr)


def calendar_of(values: Any) -> str:
    """CF calendar of the time values: cftime's own, 'standard' for datetime64, '' for frame counters."""
    if is_cftime(values):
        return CALENDARS.get(np.asarray(values).flat[0].calendar, np.asarray(values).flat[0].calendar)
    return "standard" if is_datetime(values) else ""


def ordinal_us(values: Any) -> np.ndarray:
    """Times as int64 microseconds since 1970-01-01 in their own calendar (frame counters unchanged)."""
    arr = np.asarray(values)
    if np.issubdtype(arr.dtype, np.datetime64):
        return arr.astype("datetime64[us]").astype(np.int64)
    if is_cftime(arr):
        import cftime

        cal = arr.flat[0].calendar
        return np.asarray(cftime.date2num(arr, "microseconds since 1970-01-01", calendar=cal), dtype=np.int64)
    return arr.astype(np.int64)


def fields(values: Any) -> dict[str, np.ndarray]:
    """year, month, day, hour of each time (any calendar)."""
    arr = np.asarray(values)
    if np.issubdtype(arr.dtype, np.datetime64):
        idx = pd.DatetimeIndex(arr.reshape(-1))
        out = {"year": idx.year.values, "month": idx.month.values, "day": idx.day.values, "hour": idx.hour.values}
    else:
        flat = arr.reshape(-1)
        out = {k: np.array([getattr(t, k) for t in flat], dtype=np.int64) for k in ("year", "month", "day", "hour")}
    return {k: np.asarray(v, np.int64).reshape(arr.shape) for k, v in out.items()}


def month_index(values: Any) -> np.ndarray:
    """year * 12 + month - 1 of each time: consecutive calendar months differ by exactly 1."""
    f = fields(values)
    return f["year"] * 12 + f["month"] - 1


def one_step(values: Any, step: Step | str) -> np.ndarray:
    """Bool per consecutive pair: are times i and i+1 exactly one `step` apart (calendar-aware)?"""
    step = parse_step(step)
    arr = np.asarray(values)
    if len(arr) < 2:
        return np.zeros(0, bool)
    if step.kind == "calendar":
        mi = month_index(arr)
        return np.diff(mi) == step.months
    if step.kind == "frames":
        return np.diff(arr.astype(np.int64)) == step.n
    return np.diff(ordinal_us(arr)) == step.us


def step_position(values: Any, step: Step | str) -> tuple[np.ndarray, int]:
    """(position of each time, amount of one step) in the step's own unit: calendar month index and months
    for calendar steps, microseconds for durations, counts for frames; so t[j] - t[i] == k * amount
    means "k steps apart"."""
    step = parse_step(step)
    if step.kind == "calendar":
        return month_index(values), step.months
    if step.kind == "frames":
        return np.asarray(values).astype(np.int64), step.n
    return ordinal_us(values), step.us


def snap_to(valid: np.ndarray, times: np.ndarray, step: Step | str) -> np.ndarray:
    """Calendar steps: replace each valid time by the data's own stamp of that calendar month (mid-month
    stamps with irregular hours), where the data has one; other steps are returned unchanged."""
    step = parse_step(step)
    valid = np.asarray(valid)
    if step.kind != "calendar" or len(times) == 0:
        return valid
    mi_t = month_index(times)
    order = np.argsort(mi_t, kind="stable")
    mi_v = month_index(valid).ravel()
    pos = np.clip(np.searchsorted(mi_t[order], mi_v), 0, len(order) - 1)
    hit = mi_t[order][pos] == mi_v
    out = valid.ravel().copy()
    out[hit] = np.asarray(times)[order][pos[hit]]
    return out.reshape(valid.shape)


def infer_step(values: Any, where: str) -> Step:
    """The regular step of a time axis: the most common interval, as a calendar step when it is about a
    month (or a whole number of months/years), else a duration; frame counters give frames.

    Raises when times do not increase, or when no step is regular (the most common interval covers
    fewer than half of the intervals).
    """
    arr = np.asarray(values)
    if len(arr) < 2:
        raise DataError(f"{where} has {len(arr)} time step(s): at least 2 are needed to know its time step")
    if not is_datetime(arr):
        d = np.diff(arr.astype(np.int64))
        if (d <= 0).any():
            raise DataError(f"{where}: time is not strictly increasing")
        vals, counts = np.unique(d, return_counts=True)
        return Step(int(vals[np.argmax(counts)]), "f")
    us = np.diff(ordinal_us(arr))
    if (us <= 0).any():
        i = int(np.argmax(us <= 0))
        raise DataError(f"{where}: time is not strictly increasing (at {format_time(arr[i])} -> {format_time(arr[i + 1])})")
    day = _US["d"]
    if np.median(us) >= 27 * day:  # months or years: count calendar months, not durations
        dm = np.diff(month_index(arr))
        vals, counts = np.unique(dm, return_counts=True)
        m = int(vals[np.argmax(counts)])
        days = us[dm == m] / day
        # a month step spans 28-31 days per month (30 in 360_day); mid-month stamps move by up to ~2 days
        if m >= 1 and counts.max() * 2 > len(dm) and days.min() >= 27 * m - 3 and days.max() <= 31 * m + 3:
            return Step(m // 12, "year") if m % 12 == 0 else Step(m, "month")
        raise DataError(_irregular(where, arr, us))
    vals, counts = np.unique(us, return_counts=True)
    if counts.max() * 2 <= len(us):
        raise DataError(_irregular(where, arr, us))
    return Step.from_us(int(vals[np.argmax(counts)]))


def _irregular(where: str, arr: np.ndarray, us: np.ndarray) -> str:
    vals, counts = np.unique(us, return_counts=True)
    common = ", ".join(f"{Step.from_us(int(v)).label if v % 10**6 == 0 else f'{v}us'} x{c}"
                       for v, c in sorted(zip(vals, counts), key=lambda p: -p[1])[:4])
    return (f"{where}: the time step is neither a regular duration nor a calendar step (month, year): "
            f"intervals between its {len(arr)} times are {common}; give files with a regular time axis "
            "(missing dates are fine: they are gaps), or resample them first (e.g. `cdo monmean`)")


def add_steps(values: Any, step: Step | str, k: Any) -> np.ndarray:
    """values + k * step, calendar-correct: months are added in the values' own calendar (day clamped to
    the month's length), durations exactly; frames add counts. `k` broadcasts against `values`."""
    step = parse_step(step)
    arr = np.asarray(values)
    k = np.asarray(k)
    if step.kind == "frames":
        return (arr.astype(np.int64) + k * step.n).astype(arr.dtype)
    if step.kind == "duration":
        if np.issubdtype(arr.dtype, np.datetime64):
            return (arr.astype("datetime64[ns]") + (k * step.us).astype("timedelta64[us]")).astype("datetime64[ns]")
        import datetime as dt

        a, kk = np.broadcast_arrays(arr, k)
        return np.array([t + dt.timedelta(microseconds=int(j) * step.us) for t, j in zip(a.flat, kk.flat)],
                        dtype=object).reshape(a.shape)
    a, kk = np.broadcast_arrays(arr, k)
    out = [_add_months(t, int(j) * step.months) for t, j in zip(a.flat, kk.flat)]
    if np.issubdtype(arr.dtype, np.datetime64):
        return np.array(out, dtype="datetime64[ns]").reshape(a.shape)
    return np.array(out, dtype=object).reshape(a.shape)


def _add_months(t: Any, months: int) -> Any:
    if isinstance(t, np.datetime64):
        ts = pd.Timestamp(t)
        return (ts + pd.DateOffset(months=months)).to_datetime64()
    idx = t.year * 12 + t.month - 1 + months
    year, month = divmod(idx, 12)
    day = min(t.day, days_in_month(year, month + 1, t.calendar))
    return t.replace(year=year, month=month + 1, day=day)


def days_in_month(year: int, month: int, calendar: str) -> int:
    """Length of a month in a CF calendar (cftime's arithmetic, not a hand table)."""
    import cftime

    a = cftime.datetime(year, month, 1, calendar=calendar)
    b = cftime.datetime(year + month // 12, month % 12 + 1, 1, calendar=calendar)
    return int(round((b - a).total_seconds() / 86400))


_TIME_RE = re.compile(r"^\s*(-?\d{1,4})(?:-(\d{1,2})(?:-(\d{1,2})(?:[T ](\d{1,2})(?::(\d{2})(?::(\d{2}))?)?)?)?)?\s*$")


def parse_time(text: str, like: Any) -> Any:
    """A time given as text (2018-03-01T00, 2018-03, 2018) in the calendar of `like` (datetime64 or cftime
    values); an integer for frame counters."""
    arr = np.asarray(like)
    if not is_datetime(arr):
        try:
            return arr.dtype.type(int(str(text)))
        except ValueError:
            raise DataError(f"time {text!r}: this store counts frames, give an integer") from None
    if np.issubdtype(arr.dtype, np.datetime64):
        try:
            return np.datetime64(pd.Timestamp(str(text)).to_datetime64(), "ns")
        except ValueError:
            raise DataError(f"time {text!r} is not a date such as 2018-01-01T00") from None
    m = _TIME_RE.match(str(text))
    if not m:
        raise DataError(f"time {text!r} is not a date such as 2018-01-01T00")
    parts = [int(g) if g else d for g, d in zip(m.groups(), (0, 1, 1, 0, 0, 0))]
    first = arr.flat[0]
    try:
        return type(first)(*parts, calendar=first.calendar, has_year_zero=first.has_year_zero)
    except (TypeError, ValueError):
        try:
            return type(first)(*parts)
        except ValueError as exc:
            raise DataError(f"time {text!r} does not exist in the {calendar_of(arr)} calendar ({exc})") from None


def format_time(t: Any) -> str:
    """ISO text of one time in any calendar (2018-01-01T00:00:00); frames as integers."""
    if isinstance(t, (np.datetime64, pd.Timestamp)):
        return pd.Timestamp(t).strftime("%Y-%m-%dT%H:%M:%S")
    if hasattr(t, "calendar"):
        return f"{t.year:04d}-{t.month:02d}-{t.day:02d}T{t.hour:02d}:{t.minute:02d}:{t.second:02d}"
    return str(t)


def years(values: Any) -> np.ndarray:
    """Calendar year of each time."""
    return fields(values)["year"]


def default_t_in(step: Step | str) -> int:
    """Default input length of a quick run for a store of this step (see DEFAULT_T_IN)."""
    return DEFAULT_T_IN[parse_step(step).unit if parse_step(step).unit in DEFAULT_T_IN else "h"]
