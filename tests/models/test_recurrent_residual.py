"""The recurrent models' own `residual` option (ConvLSTM, SwinLSTM): the read-out starts 100x smaller, so the
untrained forecast is persistence to within a few % of the frames' spread at every lead (random increments would
compound over the closed loop); without the option the same untrained model is far from persistence."""

from __future__ import annotations

import pytest
import torch

from geostp.models import create


@pytest.mark.parametrize(("name", "plain_options", "gap_max", "plain_min"), [
    ("convlstm", {}, 0.05, 0.05),
    ("swinlstm", {"output_activation": "none"}, 0.25, 1.0),  # measured 0.13 against 5.1
])
def test_residual_model_starts_at_persistence(name, plain_options, gap_max, plain_min):
    model = create(name, "tiny", residual=True).eval()
    x = torch.randn(2, *model.config.in_shape)
    with torch.no_grad():
        gap = (model(x) - x[:, -1:]).abs().amax().item()
        torch.manual_seed(0)
        plain = create(name, "tiny", **plain_options).eval()
        assert gap < gap_max and (plain(x) - x[:, -1:]).abs().amax().item() > plain_min
