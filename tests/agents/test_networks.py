"""The image encoder's matmul convolution against Flax's own: the same parameters and outputs."""

from __future__ import annotations

import flax.linen as nn
import jax
import numpy as np
import pytest

from agents.networks import StridedConv


@pytest.mark.parametrize(
    ("shape", "kernel", "stride"),
    [
        ((64, 64, 3), 4, 4),  # the patchify stem (a reshape)
        ((16, 16, 16), 3, 2),  # the 3x3 stride-2 layers on even sides
        ((7, 9, 5), 3, 2),  # odd sides: SAME pads unevenly
        ((15, 15, 4), 5, 3),
        ((10, 10, 2), 4, 4),  # kernel == stride but sides not divisible: the padded path
    ],
)
def test_strided_conv_matches_flax_conv(shape, kernel, stride):
    x = jax.random.normal(jax.random.key(1), (2, *shape))
    flax_conv = nn.Conv(6, (kernel, kernel), (stride, stride))
    ours = StridedConv(6, kernel, stride)
    params = flax_conv.init(jax.random.key(0), x)
    # Same names, shapes and initial values: checkpoints fitted with nn.Conv load unchanged.
    jax.tree.map(np.testing.assert_array_equal, ours.init(jax.random.key(0), x), params)
    expected = flax_conv.apply(params, x)
    got = ours.apply(params, x)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=1e-5)
