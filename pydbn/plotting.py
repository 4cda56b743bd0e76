"""Pictures of models and data without a plotting library.

:func:`tile_images` lays images (rows of a data matrix, samples, or the
filters in ``components_``) out as one 2-D mosaic, and :func:`save_png` writes
a 2-D array as a grayscale PNG using only :mod:`zlib` and :mod:`struct`.
:func:`plot_history` draws learning curves and is the one function that needs
matplotlib (imported only when it is called).
"""

import struct
import zlib
from pathlib import Path

import numpy as np

__all__ = ["tile_images", "save_png", "read_png", "plot_history"]

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def tile_images(images, shape=None, n_cols=None, pad=1, scale_each=True, pad_value=0.0):
    """Lay out a set of images as one 2-D mosaic.

    Parameters
    ----------
    images : array-like of shape (n_images, height * width) or (n_images, height, width)
        The images, one per row (e.g. ``X[:100]``, ``model.sample(...)`` or
        ``model.components_``).
    shape : tuple of int (height, width), optional
        Shape of one image. Default: taken from 3-D input, else square
        (``n_features`` must be a perfect square).
    n_cols : int, optional
        Number of tiles per row. Default: ``ceil(sqrt(n_images))``.
    pad : int, default=1
        Pixels of ``pad_value`` between neighbouring tiles (none at the border).
    scale_each : bool, default=True
        If True, each image is scaled on its own from its [min, max] to
        [0, 1] (the usual way to show filters); a constant image becomes 0.
        If False, one linear map from the [min, max] of all images to [0, 1]
        is applied to every image, so their grey levels stay comparable.
    pad_value : float, default=0.0
        Value of the padding and of the empty tiles after the last image.

    Returns
    -------
    mosaic : ndarray of shape (n_rows * (height + pad) - pad, n_cols * (width + pad) - pad)
        float64 values in [0, 1] (``pad_value`` in the gaps), ready for
        :func:`save_png` or ``matplotlib.pyplot.imshow(mosaic, cmap='gray')``.
        Image ``i`` sits in tile row ``i // n_cols``, tile column ``i % n_cols``.
    """
    images = np.asarray(images, dtype=np.float64)
    if images.ndim == 3:
        if shape is not None and tuple(shape) != images.shape[1:]:
            raise ValueError(f"shape={shape} does not match images of shape {images.shape[1:]}")
        shape = images.shape[1:]
    elif images.ndim == 2:
        if shape is None:
            side = int(round(np.sqrt(images.shape[1])))
            if side * side != images.shape[1]:
                raise ValueError(
                    f"images have {images.shape[1]} features, not a square number: pass shape=(h, w)"
                )
            shape = (side, side)
        shape = tuple(int(s) for s in shape)
        if len(shape) != 2 or shape[0] * shape[1] != images.shape[1]:
            raise ValueError(f"shape={shape} does not match {images.shape[1]} features per image")
    else:
        raise ValueError(f"images must be 2-D or 3-D, got {images.ndim}-D")
    n = images.shape[0]
    if n == 0:
        raise ValueError("no images to tile")
    if not np.all(np.isfinite(images)):
        raise ValueError("images contain NaN or infinity")
    pad = int(pad)
    if pad < 0:
        raise ValueError(f"pad must be >= 0, got {pad}")
    h, w = shape
    images = images.reshape(n, h, w)

    if scale_each:
        lo = images.min(axis=(1, 2), keepdims=True)
        span = images.max(axis=(1, 2), keepdims=True) - lo
    else:
        lo = images.min()
        span = images.max() - lo
    span = np.where(span > 0, span, 1.0)
    images = (images - lo) / span

    if n_cols is None:
        n_cols = int(np.ceil(np.sqrt(n)))
    n_cols = int(n_cols)
    if n_cols < 1:
        raise ValueError(f"n_cols must be >= 1, got {n_cols}")
    n_rows = -(-n // n_cols)

    grid = np.full((n_rows * n_cols, h + pad, w + pad), float(pad_value))
    grid[:n, :h, :w] = images
    grid = grid.reshape(n_rows, n_cols, h + pad, w + pad).transpose(0, 2, 1, 3)
    grid = grid.reshape(n_rows * (h + pad), n_cols * (w + pad))
    return np.ascontiguousarray(grid[: grid.shape[0] - pad, : grid.shape[1] - pad])


def _chunk(kind, payload):
    return (
        struct.pack(">I", len(payload))
        + kind
        + payload
        + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)
    )


def save_png(path, array):
    """Write a 2-D array as an 8-bit grayscale PNG.

    Parameters
    ----------
    path : str or path-like
        Output file name.
    array : array-like of shape (height, width)
        uint8 grey levels are written as they are; bool as 0/255; any other
        numeric type is taken as intensities in [0, 1] (clipped) and mapped
        to 0-255 by rounding.

    Returns
    -------
    path : pathlib.Path
        The file written.
    """
    a = np.asarray(array)
    if a.ndim != 2 or a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"save_png needs a non-empty 2-D array, got shape {a.shape}")
    if a.dtype == np.uint8:
        pixels = a
    elif a.dtype == np.bool_:
        pixels = a.astype(np.uint8) * np.uint8(255)
    else:
        a = a.astype(np.float64)
        if not np.all(np.isfinite(a)):
            raise ValueError("array contains NaN or infinity")
        pixels = np.rint(np.clip(a, 0.0, 1.0) * 255.0).astype(np.uint8)
    height, width = pixels.shape
    # Each scanline starts with its filter type (0: none).
    raw = np.zeros((height, width + 1), dtype=np.uint8)
    raw[:, 1:] = pixels
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    png = (
        _PNG_SIGNATURE
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"IDAT", zlib.compress(raw.tobytes(), 6))
        + _chunk(b"IEND", b"")
    )
    path = Path(path)
    path.write_bytes(png)
    return path


def read_png(path):
    """Read back an 8-bit grayscale, non-interlaced PNG written by :func:`save_png`.

    Only filter type 0 (none) is supported, which is what :func:`save_png`
    writes; this exists to check round trips, not as a general PNG reader.

    Parameters
    ----------
    path : str or path-like
        The PNG file.

    Returns
    -------
    pixels : ndarray of shape (height, width), dtype uint8
    """
    data = Path(path).read_bytes()
    if data[:8] != _PNG_SIGNATURE:
        raise ValueError(f"{path}: not a PNG file")
    pos = 8
    header = None
    idat = []
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        payload = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        if crc != zlib.crc32(kind + payload) & 0xFFFFFFFF:
            raise ValueError(f"{path}: bad CRC in {kind!r} chunk")
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", payload)
        elif kind == b"IDAT":
            idat.append(payload)
        elif kind == b"IEND":
            break
        pos += 12 + length
    if header is None:
        raise ValueError(f"{path}: no IHDR chunk")
    width, height, depth, color, _, _, interlace = header
    if (depth, color, interlace) != (8, 0, 0):
        raise ValueError(f"{path}: only 8-bit grayscale non-interlaced PNGs are supported")
    raw = np.frombuffer(zlib.decompress(b"".join(idat)), np.uint8).reshape(height, width + 1)
    if np.any(raw[:, 0] != 0):
        raise ValueError(f"{path}: only PNG filter type 0 is supported")
    return raw[:, 1:].copy()


# The learning curves each estimator records in history_, in order of preference.
_CURVES = (
    ("pseudo_likelihood",),                                   # RBM
    ("objective",),                                           # VPF
    ("forward_log_likelihood", "reverse_log_likelihood"),     # DCIM
    ("discriminator_objective", "generator_objective"),       # AdversarialDBN
    ("reconstruction_error",),                                # DBM
    ("score",),                                               # DBN
)


def plot_history(history, ax=None, keys=None):
    """Plot a model's learning curves from its ``history_``.

    Parameters
    ----------
    history : dict or fitted estimator
        A ``history_`` dict of per-epoch (or per-update) lists, or an estimator that has
        ``history_``. Without ``keys`` the curves are picked by estimator: RBM
        ``'pseudo_likelihood'``, VPF ``'objective'``, DCIM forward and reverse
        log-likelihoods, AdversarialDBN discriminator and generator objectives, DBM
        ``'reconstruction_error'``, DBN ``'score'``.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on. Default: a new figure.
    keys : sequence of str, optional
        The entries of ``history`` to draw.

    Returns
    -------
    ax : matplotlib.axes.Axes

    Raises
    ------
    ImportError
        If matplotlib is not installed.
    ValueError
        If ``history`` holds none of the known curves (or a requested key).
    """
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            "plot_history needs matplotlib, which is not installed: "
            "`pip install matplotlib` (tile_images and save_png work without it)"
        ) from exc
    if hasattr(history, "history_"):
        history = history.history_
    if keys is None:
        keys = next((k for k in _CURVES if all(name in history for name in k)), None)
        if keys is None:
            raise ValueError(f"history holds no known learning curve (its keys: "
                             f"{sorted(history)}); pass keys=")
    else:
        keys = (keys,) if isinstance(keys, str) else tuple(keys)
        missing = [k for k in keys if k not in history]
        if missing:
            raise ValueError(f"history has no {missing} entry")
    if ax is None:
        _, ax = plt.subplots()
    for key in keys:
        values = np.asarray(history[key], dtype=float)
        x = np.arange(1, values.size + 1, dtype=float)
        epochs = history.get("epoch")
        if epochs is not None and len(epochs) == values.size:
            try:
                x = np.asarray(epochs, dtype=float)
            except (TypeError, ValueError):  # e.g. a DBN's mixed layer / up-down labels
                pass
        ax.plot(x, values, marker="o" if values.size <= 50 else None,
                label=key.replace("_", " "))
    ax.set_xlabel("epoch" if "epoch" in history else "update")
    if len(keys) == 1:
        ax.set_ylabel(keys[0].replace("_", " "))
    else:
        ax.legend()
    ax.set_title("training history")
    return ax
