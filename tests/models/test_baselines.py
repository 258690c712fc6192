"""Persistence and climatology forecasts (their parameter-free behaviour; the contract covers the rest)."""

from __future__ import annotations

import pytest
import torch

from geostp.errors import ShapeError
from geostp.models import create


def test_persistence_repeats_the_last_frame():
    model = create("persistence", "tiny", t_out=3)
    x = torch.randn(2, 3, 2, 16, 16)
    out = model(x)
    assert out.shape == (2, 3, 2, 16, 16)
    assert all(torch.equal(out[:, k], x[:, -1]) for k in range(3))
    out.add_(1.0)  # the output owns its memory: writing to it must not touch the input
    assert not torch.equal(out[:, 0], x[:, -1])


def test_climatology_defaults_to_the_train_mean_in_normalised_units():
    out = create("climatology", "tiny")(torch.randn(2, 3, 2, 16, 16))
    assert out.shape == (2, 4, 2, 16, 16) and torch.count_nonzero(out) == 0


@pytest.mark.parametrize("field_shape", [(2,), (2, 16, 16), (2, 1, 16), (16, 16)])
def test_climatology_broadcasts_the_field(field_shape):
    model = create("climatology", "tiny")
    field = torch.randn(field_shape)
    model.set_climatology(field)
    expected = (field[:, None, None] if field.ndim == 1 else field).expand(2, 16, 16)
    out = model(torch.zeros(1, 3, 2, 16, 16))
    assert torch.equal(out[0, -1], expected)
    assert torch.equal(model.state_dict()["table"][:, 0, 0], expected)


def test_climatology_of_the_wrong_shape_names_both_shapes():
    model = create("climatology", "tiny")
    with pytest.raises(ShapeError, match=r"\(3, 16, 16\).*\(2, 16, 16\)"):
        model.set_climatology(torch.zeros(3, 16, 16))


@pytest.mark.parametrize("name", ["persistence", "climatology"])
def test_baselines_have_no_trainable_parameters(name):
    assert not any(p.requires_grad for p in create(name, "tiny").parameters())
