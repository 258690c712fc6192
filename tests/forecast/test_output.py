"""The forecast Zarr: CF schema and units, xr.open_zarr round trip, refusal, overwrite and bit-exact appends."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from geostp.data.store import open_store
from geostp.errors import StoreError
from geostp.forecast.output import open_forecast, write_forecast
from geostp.forecast.predict import Predictor, predict_blocks, resolve_inits


def _blocks(pred, store, inits, n_frames=4):
    yield from predict_blocks(pred, store, inits, n_frames, batch_size=3, progress=False, source="tiny test store")


@pytest.fixture
def setup(run_dir, tiny_store):
    path, _ = tiny_store
    store = open_store(path)
    pred = Predictor.from_run(run_dir)
    inits = resolve_inits(store, "2003-02-01/2003-02-05", pred, 4, 1)  # 17 six-hourly inits
    return pred, store, inits


def test_schema_units_and_round_trip(setup, tmp_path):
    pred, store, inits = setup
    out = tmp_path / "fc.zarr"
    counts = write_forecast(_blocks(pred, store, inits), out, chunk=4)
    assert counts == {"written": 17, "skipped": 0}
    ds = xr.open_zarr(out)
    assert ds["t850"].dims == ("init_time", "lead_time", "lat", "lon")
    assert ds["t850"].attrs["units"] == "K"
    assert ds["t850"].encoding["chunks"] == (4, 4, 4, 8)  # chunked along init_time only
    assert ds["lead_time"].dtype == "timedelta64[ns]"
    np.testing.assert_array_equal(ds["lead_time"].values, np.arange(1, 5) * np.timedelta64(6, "h"))
    assert ds["valid_time"].dims == ("init_time", "lead_time")
    np.testing.assert_array_equal(ds["valid_time"].values, ds["init_time"].values[:, None] + ds["lead_time"].values)
    assert ds["lat"].attrs["units"] == "degrees_north" and ds["lon"].attrs["units"] == "degrees_east"
    assert ds["lat"].attrs["standard_name"] == "latitude" and ds["init_time"].attrs["standard_name"] == "forecast_reference_time"
    for key in ("model", "run", "config_hash", "data_source", "geostp_version", "Conventions"):
        assert ds.attrs[key], key
    assert ds.attrs["model"] == "vip_mixer" and ds.attrs["data_source"] == "tiny test store"
    assert len(ds.attrs["config_hash"]) == 16
    # physical units: values near the store's 250 K, not normalised ~0
    assert 200 < float(ds["t850"].mean()) < 300
    assert not list(out.parent.glob(".fc.zarr.tmp-*"))  # nothing left behind


def test_refuses_existing_without_overwrite_and_overwrites_atomically(setup, tmp_path):
    pred, store, inits = setup
    out = tmp_path / "fc.zarr"
    write_forecast(_blocks(pred, store, inits[:5]), out)
    with pytest.raises(StoreError, match="exists; pass --append .* or --overwrite"):
        write_forecast(_blocks(pred, store, inits), out)
    assert open_forecast(out).sizes["init_time"] == 5  # untouched

    def failing():
        yield from _blocks(pred, store, inits[:3])
        raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError):
        write_forecast(failing(), out, overwrite=True)
    assert open_forecast(out).sizes["init_time"] == 5  # the old store survives a failed overwrite
    write_forecast(_blocks(pred, store, inits), out, overwrite=True)
    assert open_forecast(out).sizes["init_time"] == 17


def test_append_keeps_earlier_init_times_bit_for_bit(setup, tmp_path):
    pred, store, inits = setup
    out = tmp_path / "fc.zarr"
    write_forecast(_blocks(pred, store, inits[:6]), out, chunk=4)  # 6 inits: one full chunk, one half-full
    before = open_forecast(out).load()
    counts = write_forecast(_blocks(pred, store, inits[4:]), out, append=True)  # overlaps 2, adds 11
    assert counts == {"written": 11, "skipped": 2}
    after = open_forecast(out).load()
    assert after.sizes["init_time"] == 17
    head = after.isel(init_time=slice(0, 6))
    for name in ("t850", "valid_time", "init_time"):
        assert head[name].values.tobytes() == before[name].values.tobytes(), name
    whole = tmp_path / "whole.zarr"
    write_forecast(_blocks(pred, store, inits), whole, chunk=4)
    assert open_forecast(whole).load()["t850"].values.tobytes() == after["t850"].values.tobytes()


def test_append_refuses_a_different_forecast(setup, tmp_path):
    pred, store, inits = setup
    out = tmp_path / "fc.zarr"
    write_forecast(_blocks(pred, store, inits[:3]), out)
    with pytest.raises(StoreError, match=r"lead_time .* vs .*existing vs new"):
        write_forecast(_blocks(pred, store, inits[3:6], n_frames=2), out, append=True)
    assert open_forecast(out).sizes["init_time"] == 3


def test_blocks_carry_their_coordinates_and_take_a_member_dim(setup):
    from geostp.forecast.labels import forecast_dataset

    pred, store, inits = setup
    block = next(predict_blocks(pred, store, inits[:2], 3, progress=False))
    assert block["t850"].dims == ("init_time", "lead_time", "lat", "lon")
    np.testing.assert_array_equal(block["init_time"].values, inits[:2])
    np.testing.assert_array_equal(block["valid_time"].values, inits[:2, None] + block["lead_time"].values)
    np.testing.assert_array_equal(block["lat"].values, store["lat"].values)
    assert block.attrs["model"] == "vip_mixer" and block["lat"].attrs["units"] == "degrees_north"
    # an ensemble: values (B, M, L, C, H, W) get a `member` dim after init_time
    values = np.stack([block["t850"].values[:, :, None], block["t850"].values[:, :, None] + 1], axis=1)
    ens = forecast_dataset(pred, store, inits[:2], values, block["lead_time"].values, members=np.arange(2))
    assert ens["t850"].dims == ("init_time", "member", "lead_time", "lat", "lon")
    np.testing.assert_array_equal(ens["t850"].sel(member=1).values - 1, block["t850"].values)


def test_appending_later_hours_to_midnight_inits_keeps_the_times(setup, tmp_path):
    pred, store, inits = setup
    out = tmp_path / "fc.zarr"
    midnight = inits[inits.astype("datetime64[h]").astype(int) % 24 == 0]
    write_forecast(_blocks(pred, store, midnight[:1]), out)  # one 00 UTC init: units xarray would pick in days
    write_forecast(_blocks(pred, store, inits), out, append=True)  # then 06, 12, 18 UTC ones
    ds = open_forecast(out)
    np.testing.assert_array_equal(ds["init_time"].values, np.concatenate([midnight[:1], inits[inits != midnight[0]]]))
    np.testing.assert_array_equal(ds["valid_time"].values, ds["init_time"].values[:, None] + ds["lead_time"].values)
