"""Tests of pydbn.datasets: IDX and .amat parsing on small files written here,
error messages, and (when the data are on this machine) the real data sets."""

import gzip
import os
import struct
from pathlib import Path

import numpy as np
import pytest

from pydbn import datasets
from pydbn.datasets import (
    load_digits_binary,
    load_fashion_mnist,
    load_mnist,
    read_amat,
    read_idx,
)

MNIST_TEST_HISTOGRAM = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
MNIST_TRAIN_HISTOGRAM = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


# ---------------------------------------------------------------------------
# helpers that write small synthetic files
# ---------------------------------------------------------------------------

def idx_bytes(array, magic=None):
    array = np.asarray(array, dtype=np.uint8)
    if magic is None:
        magic = 0x0800 + array.ndim
    header = struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


def write(path, data, compress):
    if compress:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)
    return path


def write_idx_pair(directory, prefix, images, labels, compress):
    write(directory / f"{prefix}-images-idx3-ubyte", idx_bytes(images), compress)
    write(directory / f"{prefix}-labels-idx1-ubyte", idx_bytes(labels), compress)


def synthetic_images(n=5, h=28, w=28, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, h, w), dtype=np.uint8)
    images[0, 0, 0] = 0
    images[0, 0, 1] = 255
    labels = rng.integers(0, 10, size=n, dtype=np.uint8)
    return images, labels


def amat_bytes(X, sep=" ", end="\n"):
    return "".join(sep.join(str(int(v)) for v in row) + end for row in X).encode()


# ---------------------------------------------------------------------------
# IDX
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gzip"])
def test_read_idx_returns_header_shape_and_bytes(tmp_path, compress):
    images, labels = synthetic_images(n=3, h=4, w=5)
    f = write(tmp_path / "x-images-idx3-ubyte", idx_bytes(images), compress)
    got = read_idx(f, datasets.IDX_IMAGES_MAGIC)
    assert got.shape == (3, 4, 5)
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got, images)
    got.flat[0] = 7  # the result is an owned, writeable array


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gzip"])
@pytest.mark.parametrize("kind,prefix", [("train", "train"), ("test", "t10k")])
def test_load_fashion_mnist_reads_synthetic_idx_pair(tmp_path, compress, kind, prefix):
    images, labels = synthetic_images(n=6)
    write_idx_pair(tmp_path, prefix, images, labels, compress)
    X, y = load_fashion_mnist(tmp_path, kind=kind)
    assert X.shape == (6, 784) and X.dtype == np.float32
    assert y.shape == (6,) and y.dtype == np.int64
    np.testing.assert_array_equal(y, labels)
    np.testing.assert_allclose(X, images.reshape(6, -1) / 255.0, rtol=1e-6)
    assert X[0, 0] == 0.0 and X[0, 1] == 1.0
    assert X.min() >= 0.0 and X.max() <= 1.0


def test_as_float_false_gives_raw_uint8(tmp_path):
    images, labels = synthetic_images(n=4)
    write_idx_pair(tmp_path, "train", images, labels, compress=True)
    X, y = load_fashion_mnist(tmp_path, as_float=False)
    assert X.dtype == np.uint8
    np.testing.assert_array_equal(X, images.reshape(4, -1))


def test_load_mnist_reads_synthetic_idx_pair(tmp_path):
    images, labels = synthetic_images(n=7, seed=3)
    write_idx_pair(tmp_path, "t10k", images, labels, compress=False)
    X, y = load_mnist(tmp_path, kind="test")
    assert X.shape == (7, 784)
    np.testing.assert_array_equal(y, labels)


def test_gzip_detected_by_content_not_name(tmp_path):
    # A decompressed file that kept no .gz suffix but is gzip inside, and the reverse.
    images, labels = synthetic_images(n=2)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(gzip.compress(idx_bytes(images)))
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(idx_bytes(labels))
    X, y = load_fashion_mnist(tmp_path)
    np.testing.assert_array_equal(y, labels)


def test_wrong_magic_number_is_value_error(tmp_path):
    images, labels = synthetic_images(n=2)
    # labels file written where the images should be: magic 2049, not 2051
    write(tmp_path / "train-images-idx3-ubyte", idx_bytes(labels), False)
    write(tmp_path / "train-labels-idx1-ubyte", idx_bytes(labels), False)
    with pytest.raises(ValueError, match="magic number 2049.*expected 2051"):
        load_fashion_mnist(tmp_path)


def test_garbage_magic_number_is_value_error(tmp_path):
    f = tmp_path / "junk"
    f.write_bytes(b"\x12\x34\x56\x78" + bytes(100))
    with pytest.raises(ValueError, match="magic"):
        read_idx(f)


def test_truncated_file_is_value_error(tmp_path):
    images, labels = synthetic_images(n=3)
    data = idx_bytes(images)
    write(tmp_path / "train-images-idx3-ubyte", data[:-10], True)
    write(tmp_path / "train-labels-idx1-ubyte", idx_bytes(labels), True)
    with pytest.raises(ValueError, match="does not match its IDX header"):
        load_fashion_mnist(tmp_path)


def test_trailing_bytes_are_value_error(tmp_path):
    images, _ = synthetic_images(n=3)
    f = write(tmp_path / "a", idx_bytes(images) + b"\x00", False)
    with pytest.raises(ValueError, match="does not match"):
        read_idx(f, datasets.IDX_IMAGES_MAGIC)


def test_truncated_header_is_value_error(tmp_path):
    f = write(tmp_path / "a", struct.pack(">I", 2051) + b"\x00\x00", False)
    with pytest.raises(ValueError, match="truncated IDX header"):
        read_idx(f, datasets.IDX_IMAGES_MAGIC)


def test_corrupt_gzip_is_value_error(tmp_path):
    images, labels = synthetic_images(n=3)
    blob = gzip.compress(idx_bytes(images))
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(blob[: len(blob) // 2])
    write(tmp_path / "train-labels-idx1-ubyte", idx_bytes(labels), True)
    with pytest.raises(ValueError, match="corrupt gzip"):
        load_fashion_mnist(tmp_path)


def test_image_and_label_counts_must_agree(tmp_path):
    images, labels = synthetic_images(n=4)
    write_idx_pair(tmp_path, "train", images, labels[:3], compress=False)
    with pytest.raises(ValueError, match="4 images but .* 3 labels"):
        load_fashion_mnist(tmp_path)


def test_invalid_kind_is_value_error(tmp_path):
    with pytest.raises(ValueError, match="kind"):
        load_fashion_mnist(tmp_path, kind="valid")
    with pytest.raises(ValueError, match="kind"):
        load_mnist(tmp_path, kind="bogus", binarized=True)


def test_missing_folder_message_says_how_to_get_the_data(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError) as info:
        load_fashion_mnist(missing)
    message = str(info.value)
    assert str(missing) in message
    assert "apt-get install dataset-fashion-mnist" in message
    assert "path=" in message


def test_missing_file_message_names_the_file(tmp_path):
    images, labels = synthetic_images(n=2)
    write(tmp_path / "train-images-idx3-ubyte", idx_bytes(images), False)
    with pytest.raises(FileNotFoundError, match="train-labels-idx1-ubyte.*apt-get install"):
        load_fashion_mnist(tmp_path)


def test_fashion_mnist_path_from_environment(tmp_path, monkeypatch):
    images, labels = synthetic_images(n=2)
    write_idx_pair(tmp_path, "t10k", images, labels, compress=True)
    monkeypatch.setenv(datasets.FASHION_MNIST_ENV, str(tmp_path))
    X, y = load_fashion_mnist(kind="test")
    np.testing.assert_array_equal(y, labels)


def test_mnist_path_from_environment_and_missing_message(tmp_path, monkeypatch):
    monkeypatch.setenv(datasets.MNIST_ENV, str(tmp_path / "absent"))
    with pytest.raises(FileNotFoundError, match="absent"):
        load_mnist()


# ---------------------------------------------------------------------------
# .amat (binarized MNIST)
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gzip"])
def test_read_amat_fast_layout(tmp_path, compress):
    rng = np.random.default_rng(1)
    X = rng.integers(0, 2, size=(5, 784))
    f = write(tmp_path / "binarized_mnist_test.amat", amat_bytes(X), compress)
    got = read_amat(f)
    assert got.dtype == np.float32 and got.shape == (5, 784)
    np.testing.assert_array_equal(got, X)


@pytest.mark.parametrize(
    "sep,end,fmt",
    [("  ", "\n", "int"), (" ", "\r\n", "int"), (" ", "\n", "float"), ("\t", " \n", "int")],
    ids=["double-space", "crlf", "0.0-values", "tab-trailing-space"],
)
def test_read_amat_other_layouts_fall_back(tmp_path, sep, end, fmt):
    rng = np.random.default_rng(2)
    X = rng.integers(0, 2, size=(4, 6))
    conv = (lambda v: f"{float(v):.1f}") if fmt == "float" else (lambda v: str(int(v)))
    text = "".join(sep.join(conv(v) for v in row) + end for row in X)
    f = tmp_path / "a.amat"
    f.write_text(text, newline="")
    np.testing.assert_array_equal(read_amat(f, n_features=6), X)


def test_read_amat_fast_path_and_fallback_agree_on_small_width(tmp_path):
    X = np.array([[0, 1, 1], [1, 0, 0]])
    f = tmp_path / "a.amat"
    f.write_bytes(amat_bytes(X))
    np.testing.assert_array_equal(read_amat(f, n_features=3), X)


def test_read_amat_ragged_rows_are_value_error(tmp_path):
    f = tmp_path / "a.amat"
    f.write_text("0 1 0\n1 0\n0 0 1 1\n")
    with pytest.raises(ValueError, match="row 1 has 2 values"):
        read_amat(f, n_features=3)


def test_read_amat_wrong_width_is_value_error(tmp_path):
    f = tmp_path / "a.amat"
    f.write_bytes(amat_bytes(np.zeros((2, 5))))
    with pytest.raises(ValueError, match="expected 784 values"):
        read_amat(f)


def test_read_amat_non_binary_values_are_value_error(tmp_path):
    f = tmp_path / "a.amat"
    f.write_text("0 2 1\n1 0 0\n")
    with pytest.raises(ValueError, match="other than 0 and 1"):
        read_amat(f, n_features=3)


@pytest.mark.parametrize("subfolder", [True, False], ids=["binarized-subfolder", "flat"])
def test_load_mnist_binarized_from_folder(tmp_path, subfolder):
    rng = np.random.default_rng(3)
    X = rng.integers(0, 2, size=(3, 784))
    folder = tmp_path / "binarized" if subfolder else tmp_path
    folder.mkdir(exist_ok=True)
    write(folder / "binarized_mnist_valid.amat", amat_bytes(X), True)
    got, y = load_mnist(tmp_path, kind="valid", binarized=True)
    assert y is None
    np.testing.assert_array_equal(got, X)
    with pytest.raises(FileNotFoundError, match="binarized_mnist_train.amat"):
        load_mnist(tmp_path, kind="train", binarized=True)


# ---------------------------------------------------------------------------
# 8x8 digits
# ---------------------------------------------------------------------------

def test_load_digits_binary_thresholds_pixels():
    from sklearn.datasets import load_digits

    X, y = load_digits_binary()
    assert X.shape == (1797, 64) and X.dtype == np.float64
    assert set(np.unique(X)) <= {0.0, 1.0}
    raw = load_digits().data
    np.testing.assert_array_equal(X, (raw / 16.0 > 0.5))
    np.testing.assert_array_equal(y, load_digits().target)
    X_hi, _ = load_digits_binary(threshold=0.9)
    assert X_hi.sum() < X.sum()


# ---------------------------------------------------------------------------
# the real data, when present on this machine
# ---------------------------------------------------------------------------

def _fashion_present():
    path = os.environ.get(datasets.FASHION_MNIST_ENV) or str(datasets.FASHION_MNIST_DEFAULT)
    return (Path(path) / "train-images-idx3-ubyte.gz").exists() or (
        Path(path) / "train-images-idx3-ubyte"
    ).exists()


def _mnist_path():
    path, _ = datasets._default_mnist_path()
    return path


@pytest.mark.skipif(not _fashion_present(), reason="Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
def test_real_fashion_mnist_shapes_and_balanced_labels():
    X, y = load_fashion_mnist(kind="train")
    assert X.shape == (60000, 784) and X.dtype == np.float32
    assert X.min() == 0.0 and X.max() == 1.0
    np.testing.assert_array_equal(np.bincount(y), [6000] * 10)
    X, y = load_fashion_mnist(kind="test", as_float=False)
    assert X.shape == (10000, 784) and X.dtype == np.uint8
    np.testing.assert_array_equal(np.bincount(y), [1000] * 10)


@pytest.mark.skipif(
    _mnist_path() is None or not (_mnist_path() / "t10k-labels-idx1-ubyte.gz").exists(),
    reason="MNIST not found beside the repository",
)
def test_real_mnist_shapes_and_label_histograms():
    X, y = load_mnist(kind="test")
    assert X.shape == (10000, 784) and X.dtype == np.float32
    np.testing.assert_array_equal(np.bincount(y), MNIST_TEST_HISTOGRAM)
    X, y = load_mnist(kind="train")
    assert X.shape == (60000, 784)
    np.testing.assert_array_equal(np.bincount(y), MNIST_TRAIN_HISTOGRAM)


@pytest.mark.skipif(
    _mnist_path() is None or not (_mnist_path() / "binarized").is_dir(),
    reason="binarized MNIST not found beside the repository",
)
@pytest.mark.parametrize("kind,n_rows", [("train", 50000), ("valid", 10000), ("test", 10000)])
def test_real_binarized_mnist_shapes(kind, n_rows):
    X, y = load_mnist(kind=kind, binarized=True)
    assert y is None
    assert X.shape == (n_rows, 784) and X.dtype == np.float32
    assert set(np.unique(X)) == {0.0, 1.0}
    # about 13% of the pixels are on in every split
    assert 0.12 < X.mean() < 0.14
