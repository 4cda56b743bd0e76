"""Loaders for the image data sets used in pydbn's examples and benchmarks.

Nothing is downloaded and nothing is copied into the repository: every loader
reads files that already exist on the machine and takes a ``path`` argument,
so users can point it at their own copies.

- Fashion-MNIST (Xiao, Rasul and Vollgraf 2017): the Debian package
  ``dataset-fashion-mnist`` installs the IDX files under
  ``/usr/share/datasets/fashion-mnist/``.
- MNIST (LeCun, Cortes and Burges) in IDX format, and the standard fixed
  binarization of Larochelle and Murray (2011) (``binarized_mnist_*.amat``),
  looked for in ``../shared/data/mnist`` beside the repository.
- The 8x8 digits shipped with scikit-learn, thresholded to binary pixels.

and one synthetic generator, :func:`make_spike_trains`: sparse binary spike trains of neurons
firing in correlated groups, a stand-in for the calcium-imaging recordings of the adversarial
DBN text (Huang et al., Sec. 3.3), which are not public.
"""

import gzip
import os
import zlib
from pathlib import Path

import numpy as np

__all__ = [
    "load_fashion_mnist",
    "load_mnist",
    "load_digits_binary",
    "read_idx",
    "read_amat",
    "make_spike_trains",
]

FASHION_MNIST_ENV = "PYDBN_FASHION_MNIST"
FASHION_MNIST_DEFAULT = Path("/usr/share/datasets/fashion-mnist")
MNIST_ENV = "PYDBN_MNIST"

# IDX magic numbers: two zero bytes, the element type (0x08 = unsigned byte)
# and the number of dimensions.
IDX_IMAGES_MAGIC = 2051
IDX_LABELS_MAGIC = 2049

_IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_IDX_PREFIX = {"train": "train", "test": "t10k"}
_AMAT_KINDS = ("train", "valid", "test")
_AMAT_N_FEATURES = 784


# ---------------------------------------------------------------------------
# low-level readers
# ---------------------------------------------------------------------------

def _read_bytes(filename):
    """Return the (decompressed) contents of ``filename``.

    gzip is recognised by its magic bytes, not by the file name, so a
    decompressed file that kept its ``.gz`` name (or the reverse) still loads.
    A damaged gzip stream raises ValueError.
    """
    filename = Path(filename)
    with open(filename, "rb") as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise ValueError(
                f"{filename}: corrupt gzip file ({exc}); delete it and get a "
                f"fresh copy"
            ) from exc
    return data


def read_idx(filename, expected_magic=None):
    """Read one IDX file (optionally gzip-compressed) into an array.

    Parameters
    ----------
    filename : str or path-like
        The file to read.
    expected_magic : int, optional
        The magic number the file must carry, e.g. 2051 for an image file or
        2049 for a label file.

    Returns
    -------
    array : ndarray
        The data, shaped as the header says, in native byte order.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the magic number is wrong or unknown, or the file length does not
        match the dimensions in its header.
    """
    filename = Path(filename)
    data = _read_bytes(filename)
    if len(data) < 4:
        raise ValueError(f"{filename}: not an IDX file (only {len(data)} bytes)")
    magic = int.from_bytes(data[:4], "big")
    if expected_magic is not None and magic != expected_magic:
        raise ValueError(
            f"{filename}: bad IDX magic number {magic} (expected {expected_magic}); "
            f"the file is corrupt or is not the file its name says"
        )
    type_code, ndim = data[2], data[3]
    if data[0] != 0 or data[1] != 0 or type_code not in _IDX_DTYPES or ndim == 0:
        raise ValueError(f"{filename}: bad IDX magic number {magic}")
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise ValueError(
            f"{filename}: truncated IDX header ({len(data)} bytes, "
            f"{header_len} needed for {ndim} dimensions)"
        )
    shape = tuple(int(d) for d in np.frombuffer(data, ">u4", count=ndim, offset=4))
    dtype = _IDX_DTYPES[type_code]
    expected_len = header_len + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected_len:
        raise ValueError(
            f"{filename}: file length {len(data)} bytes does not match its IDX "
            f"header (dimensions {shape} need {expected_len} bytes); the file "
            f"is truncated or corrupt"
        )
    array = np.frombuffer(data, dtype, offset=header_len).reshape(shape)
    # frombuffer over bytes is read-only; return an owned, writeable array.
    return array.astype(dtype.newbyteorder("="), copy=True)


def read_amat(filename, n_features=_AMAT_N_FEATURES):
    """Read a binarized-MNIST ``.amat`` file (optionally gzip-compressed).

    The files of Larochelle and Murray (2011) hold one image per line, its
    ``n_features`` pixels written as ``0`` or ``1`` separated by single spaces.
    That layout is parsed straight from the bytes (every other byte is a
    digit); a file laid out differently (other spacing, ``0.0``, CRLF) is
    parsed token by token instead.

    Parameters
    ----------
    filename : str or path-like
        The file to read.
    n_features : int, default=784
        Number of values per row.

    Returns
    -------
    X : ndarray of shape (n_rows, n_features), dtype float32
        The pixels, each 0.0 or 1.0.

    Raises
    ------
    ValueError
        If the rows do not all have ``n_features`` values or a value is not
        0 or 1.
    """
    filename = Path(filename)
    data = _read_bytes(filename)
    row_len = 2 * n_features
    buf = np.frombuffer(data, np.uint8)
    if buf.size and buf.size % row_len == 0:
        rows = buf.reshape(-1, row_len)
        digits = rows[:, 0::2]
        seps = rows[:, 1::2]
        if (
            np.all(seps[:, :-1] == ord(" "))
            and np.all(seps[:, -1] == ord("\n"))
            and np.all((digits == ord("0")) | (digits == ord("1")))
        ):
            return (digits - np.uint8(ord("0"))).astype(np.float32)
    return _read_amat_tokens(filename, data, n_features)


def _read_amat_tokens(filename, data, n_features):
    """Token-by-token fallback for :func:`read_amat`."""
    lines = [line for line in data.splitlines() if line.strip()]
    if not lines:
        raise ValueError(f"{filename}: no data rows")
    tokens = data.split()
    if len(tokens) != len(lines) * n_features:
        raise ValueError(
            f"{filename}: expected {n_features} values on each of {len(lines)} "
            f"rows, found {len(tokens)} values in all"
        )
    try:
        X = np.array(tokens).astype(np.float32)
    except ValueError as exc:
        raise ValueError(f"{filename}: non-numeric value ({exc})") from exc
    X = X.reshape(len(lines), n_features)
    # Each line must hold exactly n_features values (not merely the total).
    counts = np.array([len(line.split()) for line in lines])
    if np.any(counts != n_features):
        bad = int(np.argmax(counts != n_features))
        raise ValueError(
            f"{filename}: row {bad} has {counts[bad]} values, expected {n_features}"
        )
    if not np.all((X == 0) | (X == 1)):
        raise ValueError(f"{filename}: values other than 0 and 1")
    return X


# ---------------------------------------------------------------------------
# locating the files
# ---------------------------------------------------------------------------

def _find_file(directory, names):
    """Return the first of ``names`` (each tried raw, then ``.gz``) in ``directory``."""
    for name in names:
        for candidate in (name, name + ".gz"):
            p = directory / candidate
            if p.is_file():
                return p
    return None


def _idx_names(prefix, part):
    # The standard names, and the "train-images.idx3-ubyte" form some mirrors use.
    ext = "idx3-ubyte" if part == "images" else "idx1-ubyte"
    return [f"{prefix}-{part}-{ext}", f"{prefix}-{part}.{ext}"]


def _load_idx_pair(directory, kind, as_float, how_to_get):
    if kind not in _IDX_PREFIX:
        raise ValueError(f"kind must be one of {sorted(_IDX_PREFIX)}, got {kind!r}")
    directory = Path(directory)
    prefix = _IDX_PREFIX[kind]
    found = {}
    for part in ("images", "labels"):
        names = _idx_names(prefix, part)
        f = _find_file(directory, names)
        if f is None:
            raise FileNotFoundError(
                f"{names[0]}(.gz) not found in {directory}. {how_to_get}"
            )
        found[part] = f
    images = read_idx(found["images"], IDX_IMAGES_MAGIC)
    labels = read_idx(found["labels"], IDX_LABELS_MAGIC)
    if images.ndim != 3:
        raise ValueError(f"{found['images']}: expected 3 dimensions, got {images.ndim}")
    if labels.ndim != 1:
        raise ValueError(f"{found['labels']}: expected 1 dimension, got {labels.ndim}")
    if images.shape[0] != labels.shape[0]:
        raise ValueError(
            f"{found['images']} holds {images.shape[0]} images but "
            f"{found['labels']} holds {labels.shape[0]} labels"
        )
    X = images.reshape(images.shape[0], -1)
    if as_float:
        X = X.astype(np.float32)
        X /= np.float32(255.0)
    return X, labels.astype(np.int64)


def _repo_relative_candidates(*parts):
    """``<repo root>/../shared/<parts>`` found from this file and from the cwd."""
    here = Path(__file__).resolve().parent.parent
    cwd = Path.cwd()
    roots = [here, cwd, cwd.parent]
    out = []
    for root in roots:
        p = (root / ".." / "shared" / Path(*parts)).resolve()
        if p not in out:
            out.append(p)
    return out


def _mnist_candidates():
    return _repo_relative_candidates("data", "mnist") + [
        Path.home() / ".pydbn" / "mnist",
        Path("/usr/share/datasets/mnist"),
    ]


def _default_mnist_path():
    env = os.environ.get(MNIST_ENV)
    if env:
        return Path(env), [Path(env)]
    candidates = _mnist_candidates()
    for c in candidates:
        if c.is_dir():
            return c, candidates
    return None, candidates


_FASHION_HOW_TO = (
    "Install the Debian package with `apt-get install dataset-fashion-mnist` "
    f"(it puts the files in {FASHION_MNIST_DEFAULT}/), set the environment "
    f"variable {FASHION_MNIST_ENV} to the folder holding the IDX files, or pass "
    "path=... ."
)

_MNIST_HOW_TO = (
    "Put the MNIST IDX files (train-images-idx3-ubyte.gz, ...) and, for the "
    "binarized set, binarized/binarized_mnist_{train,valid,test}.amat(.gz) in a "
    f"folder and pass path=... or set the environment variable {MNIST_ENV}."
)


# ---------------------------------------------------------------------------
# public loaders
# ---------------------------------------------------------------------------

def load_fashion_mnist(path=None, kind="train", as_float=True):
    """Load Fashion-MNIST from its IDX files.

    Parameters
    ----------
    path : str or path-like, optional
        Folder holding ``train-images-idx3-ubyte(.gz)``,
        ``train-labels-idx1-ubyte(.gz)``, ``t10k-images-idx3-ubyte(.gz)`` and
        ``t10k-labels-idx1-ubyte(.gz)``. Default: the environment variable
        ``PYDBN_FASHION_MNIST``, else ``/usr/share/datasets/fashion-mnist/``
        (Debian package ``dataset-fashion-mnist``).
    kind : {'train', 'test'}, default='train'
        Which split: 60000 training or 10000 test images.
    as_float : bool, default=True
        If True, return pixels as float32 scaled to [0, 1]; if False, the raw
        uint8 grey levels.

    Returns
    -------
    X : ndarray of shape (n_samples, 784)
        The images, one flattened 28x28 image per row.
    y : ndarray of shape (n_samples,), dtype int64
        The class labels 0-9.

    Raises
    ------
    FileNotFoundError
        If the files are not in the folder (the message says how to get them).
    ValueError
        If ``kind`` is invalid or a file is corrupt.
    """
    if path is None:
        env = os.environ.get(FASHION_MNIST_ENV)
        path = Path(env) if env else FASHION_MNIST_DEFAULT
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(
            f"Fashion-MNIST folder {path} does not exist. {_FASHION_HOW_TO}"
        )
    return _load_idx_pair(path, kind, as_float, _FASHION_HOW_TO)


def load_mnist(path=None, kind="train", binarized=False, as_float=True):
    """Load MNIST, or the standard binarized MNIST of Larochelle and Murray.

    Parameters
    ----------
    path : str or path-like, optional
        Folder holding the MNIST IDX files (``train-images-idx3-ubyte(.gz)``
        and so on) and, for ``binarized=True``, either a ``binarized/``
        sub-folder or the ``binarized_mnist_*.amat(.gz)`` files themselves.
        Default: the environment variable ``PYDBN_MNIST``, else the first
        existing of ``<repository>/../shared/data/mnist`` (found relative to
        this file and to the current directory), ``~/.pydbn/mnist`` and
        ``/usr/share/datasets/mnist``.
    kind : str, default='train'
        ``'train'`` (60000 images) or ``'test'`` (10000) for MNIST;
        ``'train'`` (50000), ``'valid'`` (10000) or ``'test'`` (10000) for the
        binarized set.
    binarized : bool, default=False
        If True, read ``binarized_mnist_{kind}.amat(.gz)``: the fixed
        stochastic binarization used to evaluate generative models
        (Salakhutdinov and Murray 2008; Larochelle and Murray 2011).
    as_float : bool, default=True
        For the IDX files: float32 in [0, 1] if True, raw uint8 if False.
        The binarized set is always float32 0/1.

    Returns
    -------
    X : ndarray of shape (n_samples, 784)
        The images, one flattened 28x28 image per row.
    y : ndarray of shape (n_samples,), dtype int64, or None
        The labels 0-9; None for the binarized set, which ships none.

    Raises
    ------
    FileNotFoundError
        If the data cannot be found (the message lists where it was looked for).
    ValueError
        If ``kind`` is invalid or a file is corrupt.
    """
    if path is None:
        path, candidates = _default_mnist_path()
        if path is None:
            where = ", ".join(str(c) for c in candidates)
            raise FileNotFoundError(
                f"MNIST not found; looked in: {where}. {_MNIST_HOW_TO}"
            )
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"MNIST folder {path} does not exist. {_MNIST_HOW_TO}")

    if not binarized:
        return _load_idx_pair(path, kind, as_float, _MNIST_HOW_TO)

    if kind not in _AMAT_KINDS:
        raise ValueError(f"kind must be one of {list(_AMAT_KINDS)}, got {kind!r}")
    name = f"binarized_mnist_{kind}.amat"
    f = None
    for directory in (path / "binarized", path):
        if directory.is_dir():
            f = _find_file(directory, [name])
            if f is not None:
                break
    if f is None:
        raise FileNotFoundError(
            f"{name}(.gz) not found in {path / 'binarized'} or {path}. {_MNIST_HOW_TO}"
        )
    return read_amat(f), None


def load_digits_binary(threshold=0.5):
    """The 8x8 digits of scikit-learn with binary pixels.

    Parameters
    ----------
    threshold : float, default=0.5
        A pixel is 1 where its grey level divided by 16 exceeds ``threshold``.

    Returns
    -------
    X : ndarray of shape (1797, 64), dtype float64
        The binary images (0.0 or 1.0).
    y : ndarray of shape (1797,)
        The digit labels 0-9.
    """
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return (X / 16.0 > threshold).astype(np.float64), y


# ---------------------------------------------------------------------------
# synthetic data
# ---------------------------------------------------------------------------

def _check_int(value, name, minimum):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _check_real(value, name, low, high, low_closed, high_closed=False):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer,
                                                                      np.floating)):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    ok_low = value >= low if low_closed else value > low
    ok_high = value <= high if high_closed else value < high
    if not (ok_low and ok_high):  # also rejects NaN
        interval = ("[" if low_closed else "(") + f"{low}, {high}" + ("]" if high_closed else ")")
        raise ValueError(f"{name} must lie in {interval}, got {value}")
    return value


def make_spike_trains(n_frames=20000, n_neurons=50, rate=0.01, n_groups=5,
                      group_correlation=0.3, random_state=None, *, rate_spread=0.5,
                      event_rate=None, return_params=False):
    """Synthetic sparse binary spike trains of neurons that fire in correlated groups.

    A stand-in for the two-photon calcium-imaging recordings of the adversarial DBN text
    (Huang et al., Sec. 3.3: 50 neurons of mouse visual cortex, binary spike trains after
    deconvolution, about 1 spike per 100 frames), which are not public. Like the DBN that
    models them, the generator treats the frames as independent draws of one distribution
    over the population's binary activity (no temporal structure within a train).

    The generative model, frame by frame (all draws independent unless said otherwise):

    1. **Firing rates.** Neuron ``i`` has the marginal firing probability per frame
       ``r_i = rate * (1 + rate_spread * u_i)``, where the ``u_i`` are the ``n_neurons``
       values evenly spaced on [-1, 1] (0 for a single neuron), assigned to the neurons in a
       random order. The mean of the ``r_i`` is exactly ``rate``.
    2. **Groups.** The neurons are split into ``n_groups`` groups of consecutive indices,
       of sizes differing by at most one (``np.array_split``): neuron ``i`` belongs to group
       ``g(i)``.
    3. **Group events.** In every frame ``t`` each group ``g`` has a latent binary event
       ``z[t, g] ~ Bernoulli(q)``, independent across groups and frames, with ``q =
       event_rate``.
    4. **Spikes.** Given the events, neuron ``i`` spikes in frame ``t`` with probability
       ``p_on_i`` if ``z[t, g(i)] = 1`` and ``p_off_i`` otherwise, independently of the
       other neurons, where ``p_on_i = p_off_i + d_i``, ``p_off_i = r_i - q * d_i`` and
       ``d_i = sqrt(c * r_i * (1 - r_i) / (q * (1 - q)))`` with ``c = group_correlation``.

    Hence ``P(x_i = 1) = r_i``, two neurons of the same group have the Pearson correlation
    ``q (1 - q) d_i d_j / sqrt(r_i (1 - r_i) r_j (1 - r_j)) = c`` exactly, and neurons of
    different groups are independent (correlation 0). The probabilities exist (``0 <=
    p_off_i`` and ``p_on_i <= 1`` for every neuron) if and only if ``q_lo <= q <= q_hi``
    with ``q_lo = max_i c r_i / (c r_i + 1 - r_i)`` and ``q_hi = min_i r_i / (r_i + c (1 -
    r_i))``; high correlations with widely spread rates have no such ``q`` (roughly, ``c**2``
    must stay below ``min r_i / max r_i``). The log-likelihood of a frame under this model is
    ``sum_g log(q P(x_g | on) + (1 - q) P(x_g | off))`` over the groups, with ``P(x_g | on) =
    prod_{i in g} p_on_i^x_i (1 - p_on_i)^(1 - x_i)`` (and likewise for off).

    Parameters
    ----------
    n_frames : int, default=20000
        Number of frames (rows).
    n_neurons : int, default=50
        Number of neurons (columns); the text models 50.
    rate : float in (0, 1), default=0.01
        Mean firing probability per neuron and frame (the text: about 1 spike per 100 frames).
    n_groups : int in [1, n_neurons], default=5
        Number of groups of correlated neurons.
    group_correlation : float in [0, 1), default=0.3
        Pearson correlation of any two neurons of the same group (0: independent neurons).
    random_state : int, RandomState instance or None, default=None
        Seeds the assignment of the rates to the neurons, the events and the spikes; the same
        int gives the same array.
    rate_spread : float in [0, 1), default=0.5
        Relative spread of the neurons' rates around ``rate`` (0: every neuron fires at
        ``rate``); ``rate * (1 + rate_spread)`` must stay below 1.
    event_rate : float in (0, 1) or None, default=None
        The group event probability ``q``; it must lie in ``[q_lo, q_hi]`` (above). None:
        the geometric mean ``sqrt(q_lo * q_hi)``, or 0 (no events) when
        ``group_correlation`` is 0.
    return_params : bool, default=False
        Also return the model's parameters.

    Returns
    -------
    X : ndarray of shape (n_frames, n_neurons), dtype float64
        The spike trains: 1.0 where a neuron spiked in a frame, else 0.0.
    params : dict, only if ``return_params``
        ``'groups'`` (int array: each neuron's group), ``'rates'`` (the ``r_i``),
        ``'event_rate'`` (``q``), ``'p_on'`` and ``'p_off'`` (arrays over the neurons).

    Raises
    ------
    TypeError
        If a count is not an integer or a rate not a real number.
    ValueError
        If an argument is out of range, or no event rate makes the requested correlation
        possible with these rates (the message gives the bounds).

    Examples
    --------
    >>> from pydbn.datasets import make_spike_trains
    >>> X = make_spike_trains(n_frames=1000, random_state=0)
    >>> X.shape
    (1000, 50)
    """
    from sklearn.utils import check_random_state

    n_frames = _check_int(n_frames, "n_frames", 1)
    n_neurons = _check_int(n_neurons, "n_neurons", 1)
    rate = _check_real(rate, "rate", 0.0, 1.0, low_closed=False)
    n_groups = _check_int(n_groups, "n_groups", 1)
    if n_groups > n_neurons:
        raise ValueError(f"n_groups must be <= n_neurons ({n_neurons}), got {n_groups}")
    c = _check_real(group_correlation, "group_correlation", 0.0, 1.0, low_closed=True)
    spread = _check_real(rate_spread, "rate_spread", 0.0, 1.0, low_closed=True)
    if rate * (1.0 + spread) >= 1.0:
        raise ValueError(f"rate * (1 + rate_spread) must stay below 1, got "
                         f"{rate * (1.0 + spread)}")
    if event_rate is not None:
        event_rate = _check_real(event_rate, "event_rate", 0.0, 1.0, low_closed=False)
    rng = check_random_state(random_state)

    u = np.linspace(-1.0, 1.0, n_neurons) if n_neurons > 1 else np.zeros(1)
    rates = rate * (1.0 + spread * u[rng.permutation(n_neurons)])
    groups = np.empty(n_neurons, dtype=np.int64)
    for g, members in enumerate(np.array_split(np.arange(n_neurons), n_groups)):
        groups[members] = g

    if c > 0.0:
        q_lo = float(np.max(c * rates / (c * rates + 1.0 - rates)))
        q_hi = float(np.min(rates / (rates + c * (1.0 - rates))))
        if q_lo > q_hi:
            raise ValueError(
                f"group_correlation={c} cannot be reached with rates from {rates.min():.4g} "
                f"to {rates.max():.4g}: no event rate exists (lower bound {q_lo:.4g} > upper "
                f"bound {q_hi:.4g}); lower group_correlation or rate_spread")
        if event_rate is None:
            q = float(np.sqrt(q_lo * q_hi))
        else:
            q = event_rate
            # a relative slack for rounding in the bounds themselves
            if not (q_lo * (1 - 1e-12) <= q <= q_hi * (1 + 1e-12)):
                raise ValueError(
                    f"event_rate must lie in [{q_lo:.6g}, {q_hi:.6g}] for group_correlation="
                    f"{c} with these rates, got {q}")
        d = np.sqrt(c * rates * (1.0 - rates) / (q * (1.0 - q)))
        p_off = np.clip(rates - q * d, 0.0, 1.0)
        p_on = np.clip(p_off + d, 0.0, 1.0)
    else:
        q = 0.0 if event_rate is None else event_rate
        p_off = rates.copy()
        p_on = rates.copy()

    events = rng.random_sample((n_frames, n_groups)) < q
    p = np.where(events[:, groups], p_on, p_off)
    X = (rng.random_sample((n_frames, n_neurons)) < p).astype(np.float64)
    if return_params:
        return X, {"groups": groups, "rates": rates, "event_rate": q, "p_on": p_on,
                   "p_off": p_off}
    return X
