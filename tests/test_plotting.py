"""Tests of pydbn.plotting: mosaic layout, PNG files read back independently."""

import importlib.util
import struct
import zlib

import numpy as np
import pytest

from pydbn.plotting import plot_history, save_png, tile_images


def parse_png(path):
    """An independent minimal PNG reader: chunks, CRCs, IHDR and the zlib stream."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, []
    while pos < len(data):
        length = struct.unpack(">I", data[pos : pos + 4])[0]
        kind = data[pos + 4 : pos + 8]
        payload = data[pos + 8 : pos + 8 + length]
        crc = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])[0]
        assert crc == zlib.crc32(kind + payload), kind
        chunks.append((kind, payload))
        pos += 12 + length
    kinds = [k for k, _ in chunks]
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND"
    width, height, depth, color, comp, filt, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    assert (depth, color, comp, filt, interlace) == (8, 0, 0, 0, 0)
    raw = zlib.decompress(b"".join(p for k, p in chunks if k == b"IDAT"))
    rows = np.frombuffer(raw, np.uint8).reshape(height, width + 1)
    assert np.all(rows[:, 0] == 0)  # filter type "none" on every scanline
    return rows[:, 1:]


# ---------------------------------------------------------------------------
# tile_images
# ---------------------------------------------------------------------------

def test_tile_layout_places_image_i_at_row_i_div_cols_col_i_mod_cols():
    # 5 images of 2x3, each constant-free so scale_each maps them to 0..1
    base = np.arange(6, dtype=float).reshape(2, 3)
    images = np.stack([base + 10 * i for i in range(5)])
    mosaic = tile_images(images, n_cols=3, pad=1, pad_value=-1.0)
    assert mosaic.shape == (2 * 2 + 1, 3 * 3 + 2)
    expected_tile = base / 5.0
    for i in range(5):
        r, c = divmod(i, 3)
        tile = mosaic[r * 3 : r * 3 + 2, c * 4 : c * 4 + 3]
        np.testing.assert_allclose(tile, expected_tile)
    # padding rows/cols and the empty 6th tile hold pad_value
    assert np.all(mosaic[2, :] == -1.0)
    assert np.all(mosaic[:, 3] == -1.0) and np.all(mosaic[:, 7] == -1.0)
    assert np.all(mosaic[3:5, 8:11] == -1.0)


def test_tile_flat_rows_with_explicit_shape_and_no_pad():
    images = np.arange(2 * 6, dtype=float).reshape(2, 6)
    mosaic = tile_images(images, shape=(2, 3), n_cols=2, pad=0, scale_each=False)
    expected = np.hstack([images[0].reshape(2, 3), images[1].reshape(2, 3)]) / 11.0
    np.testing.assert_allclose(mosaic, expected)


def test_tile_square_default_shape_and_columns():
    images = np.random.default_rng(0).random((10, 64))
    mosaic = tile_images(images)  # 8x8 tiles, ceil(sqrt(10)) = 4 columns, 3 rows
    assert mosaic.shape == (3 * 9 - 1, 4 * 9 - 1)
    assert mosaic.min() == 0.0 and mosaic.max() == 1.0


def test_scale_each_false_keeps_relative_grey_levels():
    images = np.zeros((2, 4))
    images[0] = [0, 0.5, 0.5, 0.5]
    images[1] = [1, 1, 1, 1]
    joint = tile_images(images, n_cols=2, pad=0, scale_each=False)
    np.testing.assert_allclose(joint, [[0, 0.5, 1, 1], [0.5, 0.5, 1, 1]])
    each = tile_images(images, n_cols=2, pad=0, scale_each=True)
    # image 0 stretched to [0, 1]; image 1 is constant and becomes 0
    np.testing.assert_allclose(each, [[0, 1, 0, 0], [1, 1, 0, 0]])


def test_tile_rejects_bad_input():
    with pytest.raises(ValueError, match="square"):
        tile_images(np.zeros((3, 10)))
    with pytest.raises(ValueError, match="does not match"):
        tile_images(np.zeros((3, 10)), shape=(3, 3))
    with pytest.raises(ValueError, match="NaN"):
        tile_images(np.full((1, 4), np.nan))
    with pytest.raises(ValueError):
        tile_images(np.zeros(4))


# ---------------------------------------------------------------------------
# save_png
# ---------------------------------------------------------------------------

def test_png_round_trip_float(tmp_path):
    rng = np.random.default_rng(0)
    a = rng.random((17, 23))
    a[0, 0], a[0, 1], a[0, 2], a[0, 3] = 0.0, 1.0, -0.5, 2.0  # out of range is clipped
    path = save_png(tmp_path / "a.png", a)
    got = parse_png(path)
    assert got.shape == (17, 23)
    np.testing.assert_array_equal(got, np.rint(np.clip(a, 0, 1) * 255).astype(np.uint8))
    assert got[0, :4].tolist() == [0, 255, 0, 255]


def test_png_round_trip_uint8_and_bool(tmp_path):
    a = np.arange(256, dtype=np.uint8).reshape(16, 16)
    np.testing.assert_array_equal(parse_png(save_png(tmp_path / "u.png", a)), a)
    b = np.eye(5, 7, dtype=bool)
    np.testing.assert_array_equal(parse_png(save_png(tmp_path / "b.png", b)), b * 255)


def test_png_of_a_mosaic(tmp_path):
    images = np.random.default_rng(1).random((6, 16))
    mosaic = tile_images(images, n_cols=3)
    got = parse_png(save_png(tmp_path / "m.png", mosaic))
    assert got.shape == mosaic.shape
    np.testing.assert_array_equal(got, np.rint(mosaic * 255).astype(np.uint8))


def test_save_png_rejects_non_2d(tmp_path):
    with pytest.raises(ValueError, match="2-D"):
        save_png(tmp_path / "x.png", np.zeros((2, 2, 3)))


# ---------------------------------------------------------------------------
# plot_history
# ---------------------------------------------------------------------------

HISTORY = {"epoch": [1, 2, 3], "pseudo_likelihood": [-30.0, -25.0, -22.0], "time": [0.1, 0.1, 0.1]}


@pytest.mark.skipif(
    importlib.util.find_spec("matplotlib") is not None, reason="matplotlib is installed"
)
def test_plot_history_without_matplotlib_says_what_to_install():
    with pytest.raises(ImportError, match="pip install matplotlib"):
        plot_history(HISTORY)


def test_plot_history_draws_the_curve():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    ax = plot_history(HISTORY)
    x, y = ax.lines[0].get_data()
    np.testing.assert_array_equal(x, [1, 2, 3])
    np.testing.assert_array_equal(y, [-30.0, -25.0, -22.0])


@pytest.mark.parametrize("history, keys", [
    ({"objective": [3.0, 2.0]}, ["objective"]),
    ({"forward_log_likelihood": [-2.0, -1.0], "reverse_log_likelihood": [-9.0, -8.0],
      "time": [0.1, 0.1]}, ["forward_log_likelihood", "reverse_log_likelihood"]),
    ({"discriminator_objective": [-1.4, -1.3, -1.2], "generator_objective": [-0.7, -0.6, -0.5],
      "real_score": [0.5] * 3, "fake_score": [0.5] * 3},
     ["discriminator_objective", "generator_objective"]),
    ({"epoch": [1, 2], "reconstruction_error": [0.03, 0.02]}, ["reconstruction_error"]),
])
def test_plot_history_picks_each_estimators_curves(history, keys):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    ax = plot_history(history)
    assert len(ax.lines) == len(keys)
    for line, key in zip(ax.lines, keys):
        np.testing.assert_array_equal(line.get_data()[1], history[key])
        np.testing.assert_array_equal(line.get_data()[0], np.arange(1, len(history[key]) + 1))


def test_plot_history_keys_and_errors():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    h = {"epoch": ["layer 1", "up-down"], "score": [0.1, 0.2], "time": [1.0, 2.0]}
    ax = plot_history(h)  # non-numeric epochs: plotted against the entry number
    np.testing.assert_array_equal(ax.lines[0].get_data()[0], [1, 2])
    ax = plot_history(h, keys="time")
    np.testing.assert_array_equal(ax.lines[0].get_data()[1], [1.0, 2.0])
    with pytest.raises(ValueError, match="no known learning curve"):
        plot_history({"time": [1.0]})
    with pytest.raises(ValueError, match="has no"):
        plot_history(h, keys=["loss"])
