"""The one time axis: step parsing and labels, calendar months, every CF calendar, lead coordinates."""

import cftime
import numpy as np
import pytest
import xarray as xr

from geostp import timeaxis as ta
from geostp.errors import ConfigError, DataError

CALENDARS = ["standard", "proleptic_gregorian", "noleap", "365_day", "all_leap", "366_day", "360_day", "julian"]


@pytest.mark.parametrize("text,label", [("6h", "6h"), ("30min", "30min"), ("1d", "1d"), ("5d", "5d"), ("1D", "1d"),
                                        ("month", "1month"), ("3month", "3month"), ("6month", "6month"),
                                        ("year", "1year"), ("20f", "20f"), ("1", "1f"), ("2w", "14d")])
def test_parse_and_label(text, label):
    assert ta.parse_step(text).label == label


def test_equality_ratio_and_errors():
    assert ta.parse_step("24h") == ta.parse_step("1d") and ta.parse_step("year") == ta.parse_step("12month")
    assert ta.parse_step("6month").frames_of(ta.parse_step("month")) == 6
    assert ta.parse_step("year").frames_of(ta.parse_step("3month")) == 4
    with pytest.raises(DataError, match="whole multiple"):
        ta.parse_step("9h").frames_of(ta.parse_step("6h"))
    with pytest.raises(DataError, match="calendar vs duration"):
        ta.parse_step("month").frames_of(ta.parse_step("1d"))
    with pytest.raises(ConfigError, match="neither a duration"):
        ta.parse_step("6x")


def test_one_lead_label_everywhere():
    assert ta.lead_labels(4, "6h") == ["6h", "12h", "18h", "24h"]
    assert ta.lead_labels(3, "1d") == ["1d", "2d", "3d"]
    assert ta.lead_labels(2, "3month") == ["3month", "6month"] and ta.lead_labels(2, "year") == ["1year", "2year"]
    assert ta.lead_labels(2, "10f") == ["10f", "20f"]
    for step in ("6h", "1d", "1month", "1year", "1f"):  # the coordinate written to Zarr reads back as the same labels
        vals, attrs = ta.lead_values(step, 5), ta.lead_attrs(step)
        assert ta.coord_labels(vals, attrs) == ta.lead_labels(5, step)
        assert ta.lead_index(vals, attrs, ta.lead_label(3, step)) == 2


def _monthly_mid_month() -> np.ndarray:
    # the mid-month stamps of a CF monthly analysis: 16T00:00 / 16T12:00 / 15T12:00 (February), irregular hours
    return np.array(["2006-01-16T12", "2006-02-15T00", "2006-03-16T12", "2006-04-16T00", "2006-05-16T12",
                     "2006-06-16T00", "2006-08-16T12", "2006-09-16T00"], dtype="datetime64[ns]")


def test_calendar_months_are_one_step_and_gaps_are_real():
    t = _monthly_mid_month()
    assert ta.infer_step(t, "f") == ta.parse_step("month")
    assert ta.one_step(t, "month").tolist() == [True] * 5 + [False, True]  # July is missing: one real gap
    first_of_month = np.array(["1979-01-01", "1979-02-01", "1979-03-01", "1980-03-01"], dtype="datetime64[ns]")
    assert ta.one_step(first_of_month, "month").tolist() == [True, True, False]


@pytest.mark.parametrize("calendar", CALENDARS)
def test_every_cf_calendar(calendar):
    daily = xr.date_range("2000-02-27", periods=6, freq="D", calendar=calendar, use_cftime=True).values
    assert ta.infer_step(daily, "d") == ta.parse_step("1d") and ta.one_step(daily, "1d").all()
    monthly = xr.date_range("2000-01-01", periods=14, freq="MS", calendar=calendar, use_cftime=True).values
    assert ta.infer_step(monthly, "m") == ta.parse_step("month")
    yearly = xr.date_range("1860-06-01", periods=5, freq="YS-JUN", calendar=calendar, use_cftime=True).values
    assert ta.infer_step(yearly, "y") == ta.parse_step("year")
    # init + k months, in the file's calendar: exact stamps of the data
    assert (ta.add_steps(monthly[:1], "month", np.arange(14)) == monthly).all()
    assert (ta.add_steps(yearly[:1], "year", np.arange(5)) == yearly).all()
    assert ta.calendar_of(monthly) == ta.CALENDARS[calendar]
    assert ta.format_time(ta.parse_time("2001-02-01T06", monthly)) == "2001-02-01T06:00:00"


def test_calendar_specific_arithmetic():
    assert ta.days_in_month(2001, 2, "360_day") == 30 and ta.days_in_month(2000, 2, "noleap") == 28
    assert ta.days_in_month(2001, 2, "all_leap") == 29
    feb30 = ta.parse_time("2001-02-30", np.array([cftime.Datetime360Day(2001, 1, 1)]))
    assert (feb30.month, feb30.day) == (2, 30)
    jan31 = np.array([cftime.DatetimeNoLeap(2000, 1, 31)])
    assert [(t.month, t.day) for t in ta.add_steps(jan31, "month", [1, 2])] == [(2, 28), (3, 31)]
    dt = np.array(["2000-01-31"], dtype="datetime64[ns]")
    assert ta.add_steps(dt, "month", [1, 13]).astype("datetime64[D]").astype(str).tolist() == ["2000-02-29", "2001-02-28"]
    # mid-month stamps: init + k months lands on the data's own stamp of that month
    t = _monthly_mid_month()
    valid = ta.snap_to(ta.add_steps(t[:1], "month", [1, 2]), t, "month")
    assert (valid == t[1:3]).all()


def test_irregular_step_is_an_error():
    t = np.array(["2000-01-01", "2000-01-02", "2000-01-05T07", "2000-01-09T03", "2000-01-10"], dtype="datetime64[ns]")
    with pytest.raises(DataError, match="neither a regular duration nor a calendar step"):
        ta.infer_step(t, "odd.nc")
    with pytest.raises(DataError, match="not strictly increasing"):
        ta.infer_step(t[::-1], "back.nc")
