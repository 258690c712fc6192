"""Animations for scientists: one colour scale per variable over all frames (errors symmetric), --lead
respected, titles that fit, progress while rendering, an error colour bar labelled as an error, graticule."""

from __future__ import annotations

import numpy as np
from PIL import Image

from tests.plots.test_plots import _forecast


def _meshes(fig):
    maps = [ax for ax in fig.axes if hasattr(ax, "projection")]
    return [next(c for c in ax.collections if hasattr(c, "get_clim")) for ax in maps]


def test_colour_limits_are_fixed_over_all_frames_and_errors_symmetric():
    import matplotlib.pyplot as plt

    from geostp.plots.maps import frame_limits, map_figure, offline_cartopy, truth_field

    fc, truth = _forecast(leads=3)
    fc["t850"][:, 2] += 8.0  # the error grows with lead: a per-frame scale would hide it
    lims = frame_limits(fc, "t850", 0, range(3), truth)
    field = fc["t850"].isel(init_time=0).values
    truths = [truth_field(truth, "t850", fc["valid_time"].values[0, k]).values for k in range(3)]
    assert lims[0] == min(field.min(), min(t.min() for t in truths))
    assert lims[2] == max(np.abs(field[k] - truths[k]).max() for k in range(3))
    with offline_cartopy():
        for k in range(3):
            fig = map_figure(fc, "t850", k, 0, truth_field(truth, "t850", fc["valid_time"].values[0, k]), limits=lims)
            fc_mesh, truth_mesh, err_mesh = _meshes(fig)
            assert fc_mesh.get_clim() == truth_mesh.get_clim() == (lims[0], lims[1])
            assert err_mesh.get_clim() == (-lims[2], lims[2])
            labels = [ax.get_xlabel() for ax in fig.axes if not hasattr(ax, "projection")]
            assert "t850 error (forecast − truth) [K]" in labels and "t850 [K]" in labels
            plt.close(fig)


def test_animation_runs_up_to_lead_with_progress_and_titles_that_fit(tmp_path, capsys):
    import matplotlib.pyplot as plt

    from geostp.plots.maps import animate_map, map_figure, offline_cartopy

    fc, truth = _forecast(leads=3)
    gif = animate_map(fc, "t850", tmp_path / "a.gif", lead="12h", truth_store=truth, dpi=40)
    assert Image.open(gif).n_frames == 2  # 6 h and 12 h, not the 18 h lead
    assert "rendering a.gif" in capsys.readouterr().err
    fc["t850"].attrs["long_name"] = "A very long variable name that would not fit on one line of a one-panel map"
    with offline_cartopy():
        fig = map_figure(fc, "t850", 0, 0, None)  # one panel: the narrowest figure
        fig.canvas.draw()
        title = fig._suptitle
        box = title.get_window_extent(fig.canvas.get_renderer())
        assert "\n" in title.get_text() and box.x0 >= 0 and box.x1 <= fig.bbox.x1
        plt.close(fig)


def test_graticule_has_labels_and_draws_offline(tmp_path):
    import matplotlib.pyplot as plt

    from geostp.plots.maps import map_figure, offline_cartopy, plot_map

    fc, truth = _forecast()
    with offline_cartopy():
        fig = map_figure(fc, "t850", 0, 0, None, graticule=True)
        fig.canvas.draw()
        ax = next(ax for ax in fig.axes if hasattr(ax, "projection"))
        from cartopy.mpl.gridliner import Gridliner

        liners = [a for a in ax.artists if isinstance(a, Gridliner)]
        labels = [t.get_text() for gl in liners for t in gl.label_artists if t.get_visible()]
        assert any("°" in t for t in labels), labels
        plt.close(fig)
    assert plot_map(fc, "t850", tmp_path / "g.png", graticule=True).stat().st_size > 10_000
