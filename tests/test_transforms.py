"""Batch image transforms: hand-worked values, exact geometric identities (a 90° rotation is
np.rot90), per-image randomness, seeding, the DataLoader hook, and the error messages."""
from __future__ import annotations

import numpy as np
import pytest

import tinydl
from tinydl.data import DataLoader, TensorDataset
from tinydl.data import transforms as T


def _images(n=2, c=3, h=5, w=5):
    return np.arange(n * c * h * w, dtype=np.float32).reshape(n, c, h, w)


def test_to_float_scales_and_adds_the_channel_axis():
    batch = np.array([[[0, 255], [51, 102]]], dtype=np.uint8)  # (1, 2, 2)
    out = T.ToFloat()(batch)
    assert out.dtype == np.float32 and out.shape == (1, 1, 2, 2)
    np.testing.assert_allclose(out[0, 0], [[0.0, 1.0], [0.2, 0.4]], rtol=1e-6)


def test_normalize_per_channel_by_hand():
    batch = np.array([3.0, 5.0], np.float32).reshape(1, 2, 1, 1)
    out = T.Normalize(mean=[1.0, 1.0], std=[2.0, 4.0])(batch)
    np.testing.assert_allclose(out.ravel(), [1.0, 1.0])
    assert out.dtype == np.float32
    np.testing.assert_allclose(T.Normalize(0.5, 0.5)(np.zeros((1, 3, 1, 1), np.float32)).ravel(),
                               [-1.0, -1.0, -1.0])


def test_random_crop_returns_windows_of_the_padded_images():
    tinydl.manual_seed(0)
    batch = np.repeat(_images(1, 2, 6, 7), 40, axis=0)  # 40 copies of one image
    out = T.RandomCrop((6, 7), padding=2)(batch)
    assert out.shape == batch.shape
    padded = np.pad(batch[0], ((0, 0), (2, 2), (2, 2)))
    windows = {(i, j): padded[:, i:i + 6, j:j + 7] for i in range(5) for j in range(5)}
    offsets = set()
    for image in out:
        match = [k for k, window in windows.items() if np.array_equal(window, image)]
        assert match, "each crop must be a window of the padded image"
        offsets.add(match[0])
    assert len(offsets) > 5  # a new position per image, not one per batch
    np.testing.assert_array_equal(T.RandomCrop(5)(_images()), _images())  # full size: unchanged


def test_horizontal_flip_probability_and_content():
    batch = _images(400, 1, 2, 3)
    assert np.array_equal(T.RandomHorizontalFlip(p=1.0)(batch), batch[..., ::-1])
    assert np.array_equal(T.RandomHorizontalFlip(p=0.0)(batch), batch)
    tinydl.manual_seed(1)
    out = T.RandomHorizontalFlip()(batch)
    flipped = np.array([np.array_equal(o, b[..., ::-1]) for o, b in zip(out, batch)])
    kept = np.array([np.array_equal(o, b) for o, b in zip(out, batch)])
    assert np.all(flipped | kept) and 0.4 < flipped.mean() < 0.6


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_rotation_by_90_and_180_degrees_is_exact(interpolation):
    square, rectangle = _images(2, 3, 5, 5), _images(2, 1, 4, 6)
    out = T.RandomRotation((90, 90), interpolation=interpolation)(square)  # counter-clockwise
    np.testing.assert_allclose(out, np.rot90(square, 1, axes=(2, 3)), atol=1e-4)
    out = T.RandomRotation((180, 180), interpolation=interpolation)(rectangle)
    np.testing.assert_allclose(out, rectangle[:, :, ::-1, ::-1], atol=1e-4)
    np.testing.assert_allclose(T.RandomRotation(0)(square), square)


def test_rotation_fills_the_corners_and_keeps_the_centre():
    tinydl.manual_seed(2)
    batch = np.ones((8, 1, 9, 9), dtype=np.float32)
    out = T.RandomRotation((30, 40), fill=0.0)(batch)
    assert np.all(out[:, 0, 4, 4] == 1.0)  # the centre stays put
    assert np.all(out[:, 0, 0, 0] < 0.5)   # a corner comes from outside the image


def test_affine_shift_and_zoom_by_hand():
    image = _images(1, 1, 5, 5)
    shifted = T.affine_resample(image, np.zeros(1), np.ones(1), np.array([[1.0, 0.0]]))
    np.testing.assert_allclose(shifted[0, 0, 1:], image[0, 0, :-1])  # one row down
    np.testing.assert_allclose(shifted[0, 0, 0], 0.0)                 # fill from above
    zoomed = T.affine_resample(image, np.zeros(1), np.full(1, 2.0), np.zeros((1, 2)),
                               interpolation="nearest")
    # output (y, x) reads (y - 2) / 2 + 2: corners read the pixels next to the centre's ring
    assert zoomed[0, 0, 0, 0] == image[0, 0, 1, 1] and zoomed[0, 0, 4, 4] == image[0, 0, 3, 3]
    assert zoomed[0, 0, 2, 2] == image[0, 0, 2, 2]


def test_random_affine_draws_per_image_and_repeats_with_the_seed():
    batch = np.repeat(_images(1, 1, 8, 8), 6, axis=0)
    augment = T.RandomAffine(degrees=15, translate=(0.1, 0.1), scale=(0.9, 1.1))
    tinydl.manual_seed(3)
    first = augment(batch)
    tinydl.manual_seed(3)
    again = augment(batch)
    np.testing.assert_array_equal(first, again)
    assert len({image.tobytes() for image in first}) == 6  # every image its own transform


def test_compose_in_a_data_loader():
    images = np.full((6, 4, 4), 255, dtype=np.uint8)
    labels = np.arange(6)
    pipeline = T.Compose([T.ToFloat(), T.Normalize(0.5, 0.5), T.RandomHorizontalFlip(1.0)])
    loader = DataLoader(TensorDataset(images, labels), batch_size=4, transform=pipeline)
    inputs, targets = next(iter(loader))
    assert inputs.shape == (4, 1, 4, 4) and inputs.dtype == np.float32
    np.testing.assert_allclose(inputs.numpy(), 1.0)
    assert targets.numpy().tolist() == [0, 1, 2, 3]
    assert "ToFloat" in repr(pipeline) and "RandomHorizontalFlip(p=1.0)" in repr(pipeline)


def test_transform_errors_say_what_to_do():
    with pytest.raises(ValueError, match=r"RandomCrop: expected a batch of images \(N, C, H, W\), "
                                         r"got shape \(5, 5\).*batch\[:, None\]"):
        T.RandomCrop(3)(np.zeros((5, 5)))
    with pytest.raises(TypeError, match=r"RandomHorizontalFlip: expected a NumPy array.*"
                                        r"tensor.numpy\(\)"):
        T.RandomHorizontalFlip()(tinydl.zeros(1, 1, 2, 2))
    with pytest.raises(ValueError, match=r"RandomCrop: crop size \(9, 9\) is larger than the "
                                         r"padded images \(7, 7\)"):
        T.RandomCrop(9, padding=1)(np.zeros((1, 1, 5, 5)))
    with pytest.raises(ValueError, match=r"Normalize: mean has 2 values but the images have 3 "):
        T.Normalize([0.5, 0.5], [1.0, 1.0])(np.zeros((1, 3, 2, 2)))
    with pytest.raises(ValueError, match=r"Normalize: std must be positive"):
        T.Normalize(0.0, 0.0)
    with pytest.raises(ValueError, match=r"RandomAffine: scale must be a pair \(low, high\)"):
        T.RandomAffine(scale=(1.2, 0.8))
    with pytest.raises(ValueError, match=r"RandomAffine: translate must be a pair \(fy, fx\) of "
                                         r"fractions in \[0, 1\]"):
        T.RandomAffine(translate=(0.5, 2.0))
    with pytest.raises(ValueError, match=r"RandomRotation: interpolation must be 'bilinear' or "
                                         r"'nearest'"):
        T.RandomRotation(10, interpolation="cubic")
