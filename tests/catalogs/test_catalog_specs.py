"""Every packaged catalog validates into a typed spec with a registered reader; specs are strict."""

from __future__ import annotations

import pytest

from geostp.catalogs.registry import CATALOG_READERS, get_reader, load_families
from geostp.catalogs.spec import CatalogSpec, list_catalogs, load_catalog
from geostp.errors import ConfigError, UnknownNameError
from tests.fixtures import run_cli

FAMILIES = ["weatherbench", "weatherbench2", "taxibj", "mmnist", "kth", "custom"]


@pytest.mark.parametrize("name", FAMILIES)
def test_packaged_catalogs_validate(name):
    spec = load_catalog(name)
    assert isinstance(spec, CatalogSpec) and spec.name == name
    reader = get_reader(spec)
    assert reader.spec is spec
    assert spec.default_t_in >= 1 and spec.default_t_out >= 1
    for short in spec.default_variables:
        assert spec.variable(short).name


def test_registry_has_every_family():
    load_families()
    assert set(FAMILIES) <= set(CATALOG_READERS.names())
    assert set(FAMILIES) <= set(list_catalogs())


def test_weatherbench_facts():
    spec = load_catalog("weatherbench")
    assert spec.splits == {"train": "1979-2015", "valid": "2016", "test": "2017-2018"}
    assert spec.time_step == "1h" and spec.default_step == "6h"
    t850 = spec.variable("t850")
    assert (t850.name, t850.level, t850.source) == ("t", 850, ["temperature_850", "temperature"])
    assert spec.variable("z500").source == ["geopotential_500", "geopotential"]
    assert spec.variable("r850").source == ["relative_humidity"] and spec.variable("t2m").units == "K"
    assert len(spec.pressure_levels) == 13
    wb2 = load_catalog("weatherbench2")
    assert (wb2.variable("z500").name, wb2.variable("z500").level) == ("geopotential", 500)
    assert load_catalog("taxibj").normalization == "minmax_shared"  # one min/max over both channels (ST-ResNet, OpenSTL)
    assert load_catalog("mmnist").fixed_norm == {"frames": (0.0, 255.0)}


def test_unknown_names_list_the_known():
    with pytest.raises(UnknownNameError, match="unknown catalog 'weatherbnch'.*known: .*weatherbench.*did you mean"):
        load_catalog("weatherbnch")
    with pytest.raises(UnknownNameError, match="unknown variable 'inflw'.*known: inflow, outflow"):
        load_catalog("taxibj").variable("inflw")


def test_specs_are_strict(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("title: x\nreader: custom\ngrid: latlon\ntime_kind: datetime\ntime_step: 1h\n"
                   "default_t_in: 1\ndefault_t_out: 1\nnormalization: zscore\nsplitz: {}\n")
    with pytest.raises(ConfigError, match="unknown key.*splitz.*valid keys"):
        load_catalog(bad)
    bad.write_text(bad.read_text().replace("splitz: {}", "default_variables: [t2m]"))
    with pytest.raises(ConfigError, match="default variable 't2m' is not defined"):
        load_catalog(bad)
    bad.write_text(bad.read_text().replace("normalization: zscore", "normalization: robust"))
    with pytest.raises(ConfigError, match="normalization.*not one of"):
        load_catalog(bad)


def test_cli_help_and_catalog_list():
    res = run_cli("data", "prepare", "--help")
    assert res.exit_code == 0
    for opt in ("--root", "--vars", "--out", "--splits", "--step", "--resolution", "--fill", "--overwrite", "--scheduler"):
        assert opt in res.output
    assert "Examples:" in res.output and "train=1979-2015,valid=2016,test=2017-2018" in res.output
    res = run_cli("data", "catalogs")
    assert res.exit_code == 0 and "weatherbench2" in res.output and "inflow, outflow" in res.output


def test_prepare_from_the_sample(tmp_path, monkeypatch):
    monkeypatch.setenv("GEOSTP_CACHE_DIR", str(tmp_path / "cache"))
    from geostp.data import open_store
    from tests.fixtures import prepare_cli

    out = tmp_path / "s.zarr"
    prepare_cli("sample", "--vars", "t2m", "--step", "12h", "--splits", "train=2014,test=2016", "--out", out)
    ds = open_store(out)
    assert ds.attrs["variables"] == ["t2m"] and ds.attrs["time_step"] == "12h" and ds.attrs["synthetic"]
    assert sorted(set(ds["split"].values)) == ["test", "train"]
