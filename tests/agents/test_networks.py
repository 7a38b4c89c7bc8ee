"""The image encoder: its matmul convolution against Flax's own, and its keypoint pooling."""

from __future__ import annotations

import flax.linen as nn
import jax
import numpy as np
import pytest

from agents.config import ENCODER_POOLINGS, EncoderConfig
from agents.networks import ImageEncoder, StridedConv, spatial_softmax


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


def test_spatial_softmax_reports_where_each_channel_peaks():
    feature_map = np.zeros((1, 4, 5, 2), np.float32)
    feature_map[0, 3, 0, 0] = 50.0  # channel 0 peaks at the bottom-left cell
    feature_map[0, 1, 4, 1] = 50.0  # channel 1 at row 1, the rightmost column
    keypoints = np.asarray(spatial_softmax(jax.numpy.asarray(feature_map), 1.0))
    # (x, y) per channel, in [-1, 1]: rows are y, columns x.
    np.testing.assert_allclose(keypoints[0], [-1.0, 1.0, 1.0, -1.0 / 3.0], atol=1e-4)
    # A flat map has no peak: the mean position is the centre.
    np.testing.assert_allclose(spatial_softmax(jax.numpy.zeros((1, 4, 5, 2)), 1.0), 0.0, atol=1e-6)


def test_image_encoder_pools_to_keypoints_when_asked():
    images = jax.random.randint(jax.random.key(0), (3, 2, 16, 16, 3), 0, 256).astype(np.uint8)
    encoders = {pooling: ImageEncoder((4, 8), feature_dim=5, pooling=pooling)
                for pooling in ENCODER_POOLINGS}
    params = {pooling: encoder.init(jax.random.key(0), images) for pooling, encoder in encoders.items()}
    # The keypoint head sees 2 coordinates a channel (8 channels), the flat one every cell.
    assert params["spatial_softmax"]["params"]["Dense_0"]["kernel"].shape == (16, 5)
    assert params["flatten"]["params"]["Dense_0"]["kernel"].shape == (2 * 2 * 8, 5)
    for pooling, encoder in encoders.items():
        features = encoder.apply(params[pooling], images)
        assert features.shape == (3, 2 * 5) and np.isfinite(features).all()
    # The keypoints' learned temperature is used: a sharper softmax moves them.
    sharper = jax.tree.map(lambda x: x, params["spatial_softmax"])
    sharper["params"]["log_softmax_temperature"] = jax.numpy.asarray(-3.0)
    moved = encoders["spatial_softmax"].apply(sharper, images)
    assert not np.allclose(moved, encoders["spatial_softmax"].apply(params["spatial_softmax"], images))


def test_encoder_config_refuses_unknown_pooling():
    with pytest.raises(ValueError, match="pooling must be one of"):
        EncoderConfig(pooling="max")
