"""Reader of the embedded synthetic sample, so `geostp data prepare sample --vars t2m --step 12h ...` can cut
a custom store from it like from any catalog (the sample itself is built by `geostp.data.sample`).

It lives in the data layer (it builds a data store) and registers with the catalog registry from here;
`geostp.data.prepare` imports it, so catalogs never import data."""

from __future__ import annotations

import xarray as xr

from geostp.catalogs.base import CatalogReader, PrepareRequest, Source
from geostp.catalogs.registry import register_catalog
from geostp.catalogs.spec import CatalogSpec
from geostp.data.sample import build_sample, default_years
from geostp.data.store import open_store


@register_catalog("sample")
class SampleReader(CatalogReader):
    """Builds (or reuses) the cached sample and hands its fields on; no --root needed."""

    def __init__(self, spec: CatalogSpec) -> None:
        self.spec = spec
        self.options = dict(spec.options)  # owned by geostp.data.sample, which validates them

    def open(self, req: PrepareRequest) -> Source:
        years = default_years()
        if req.splits:  # build only the years asked for (a year outside the sample then has no data)
            years = (max(years[0], min(a for a, _ in req.splits.values())), min(years[1], max(b for _, b in req.splits.values())))
            years = years if years[0] <= years[1] else default_years()
        path = build_sample(years=years, progress=False)
        store = open_store(path)
        names = self.variables(req)
        ds = xr.Dataset({n: store[n] for n in names}).drop_vars(["split", "segment"], errors="ignore")
        return Source(ds=ds, time_step=store.attrs["time_step"], files=[str(path)], attrs={"synthetic": 1})
