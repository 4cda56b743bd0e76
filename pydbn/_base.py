"""Machinery shared by pydbn's estimators: random streams, input plumbing, the epoch loop."""
import contextlib
import signal
import threading

import numpy as np
import scipy.sparse as sp
from sklearn.utils import check_random_state

_UINT32 = 2**32


def draw_seed(random_state):
    """A 32-bit key for the core's counter-based generator, drawn from ``random_state``.

    Follows :func:`sklearn.utils.check_random_state`: ``None`` draws from NumPy's global
    generator, an int gives the same key every time, a ``RandomState`` advances.
    """
    return int(check_random_state(random_state).randint(_UINT32, dtype=np.uint64))


class StreamMixin:
    """Gives a fitted estimator its own random stream.

    ``fit`` sets ``_seed`` (from ``random_state``) and a call counter ``_calls``; every core
    call that draws random numbers takes the next counter value as its stream's epoch, so
    repeated ``sample`` / ``gibbs`` calls draw fresh numbers while the whole sequence of calls
    is reproducible from ``random_state``.
    """

    def _reset_stream(self, rng):
        self._seed = int(rng.randint(_UINT32, dtype=np.uint64))
        self._calls = 0

    def _next_stream(self, random_state=None):
        """(seed, epoch) for one core call: the model's own stream, or ``random_state``'s."""
        if random_state is not None:
            return draw_seed(random_state), 0
        epoch = self._calls % _UINT32
        self._calls += 1
        return self._seed, epoch


def on_main_thread():
    """Signals (Ctrl-C) are only delivered to the main thread; only it polls for them."""
    return threading.current_thread() is threading.main_thread()


class InterruptGuard:
    """Ctrl-C during a fit: stop inside the core, or after the epoch's bookkeeping.

    While the core runs (``in_core``, set by the binding with the GIL held), SIGINT raises
    ``KeyboardInterrupt`` inside the core's poll, and the core restores the parameters of the
    last finished epoch. A SIGINT that arrives once the core has finished its epoch is held
    until :meth:`check`, after ``history_`` records that epoch, so the model and its history
    always agree. Only installed on the main thread over Python's default handler.
    """

    def __init__(self):
        self.in_core = False
        self.pending = False
        self._previous = None

    def _handle(self, signum, frame):
        if self.in_core:
            raise KeyboardInterrupt
        self.pending = True

    def __enter__(self):
        if on_main_thread() and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def check(self):
        """Raise the interrupt held since the core finished, if any."""
        if self.pending:
            self.pending = False
            raise KeyboardInterrupt

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None
        return False


def as_source(X, dtype):
    """Describe validated input for the core without copying it where possible.

    Dense arrays of the model's dtype are passed as they are, whatever their strides (C or
    Fortran order, slices); other dtypes are converted once. CSR matrices are passed as a
    ``("csr", data, indices, indptr, n_rows, n_cols)`` tuple.
    """
    if sp.issparse(X):
        X = X.tocsr()
        data = np.ascontiguousarray(X.data, dtype=dtype)
        indices, indptr = X.indices, X.indptr
        if indices.dtype != indptr.dtype or indices.dtype not in (np.int32, np.int64):
            indices, indptr = indices.astype(np.int64), indptr.astype(np.int64)
        return ("csr", data, np.ascontiguousarray(indices), np.ascontiguousarray(indptr),
                X.shape[0], X.shape[1])
    X = np.asarray(X)
    if X.dtype != dtype:
        X = X.astype(dtype)
    if not X.flags.aligned:
        X = X.copy()
    return X


def column_mean(X):
    """Mean of each column of a dense or sparse 2-D array, as float64."""
    if sp.issparse(X):
        return np.asarray(X.mean(axis=0), dtype=np.float64).ravel()
    return np.asarray(X).mean(axis=0, dtype=np.float64)


class keep_input_attributes_on_failure:
    """Until the block finishes, n_features_in_ / feature_names_in_ may change; if it fails
    (bad data, an interrupt during pre-training) they are put back, so the estimator keeps
    describing the model it still holds (or stays unfitted)."""

    _NAMES = ("n_features_in_", "feature_names_in_")

    def __init__(self, estimator):
        self.estimator = estimator

    def __enter__(self):
        d = self.estimator.__dict__
        self.saved = {k: d[k] for k in self._NAMES if k in d}
        return self

    def __exit__(self, kind, value, tb):
        if kind is not None:
            d = self.estimator.__dict__
            for k in self._NAMES:
                d.pop(k, None)
            d.update(self.saved)
        return False


def update_visible_mean(estimator, X):
    """Fold the column means of a chunk X into ``visible_mean_`` and count its rows in
    ``n_samples_seen_`` (the running mean over every row seen, for AIS base rates)."""
    n = X.shape[0]
    total = estimator.n_samples_seen_ + n
    estimator.visible_mean_ = estimator.visible_mean_ + (
        column_mean(X) - estimator.visible_mean_) * (n / total)
    estimator.n_samples_seen_ = total


def log_mean_exp(logw):
    """(log mean(exp(logw)), its delta-method standard error) of AIS log importance weights.

    The standard error is std(w) / (sqrt(n) mean(w)), as the core reports for one run.
    """
    logw = np.asarray(logw, dtype=np.float64)
    top = logw.max()
    w = np.exp(logw - top)
    mean = w.mean()
    std = np.std(w, ddof=1) / np.sqrt(w.size) / mean if w.size > 1 else np.inf
    return float(top + np.log(mean)), float(std)


# GEMMs this small (rows x widest layer) run fastest on one thread; with two, OpenBLAS's thread
# hand-offs cost more than the work, and on a busy machine an update took 3-50x longer.
SMALL_GEMM = 1 << 16


def blas_threads_for(rows, width):
    """A context limiting pydbn's own OpenBLAS to one thread when the model's GEMMs are small
    (``rows * width <= SMALL_GEMM``); other BLAS libraries in the process are left alone, and
    nothing changes when pydbn links another BLAS."""
    if rows * width > SMALL_GEMM:
        return contextlib.nullcontext()
    import threadpoolctl

    controller = threadpoolctl.ThreadpoolController()
    ours = [lib.filepath for lib in controller.lib_controllers
            if "scipy_openblas32" in (lib.filepath or "")]
    if not ours:
        return contextlib.nullcontext()
    return controller.select(filepath=ours[0]).limit(limits=1)


def layer_sizes(value, message, minimum=1):
    """Layer widths from an int or a sequence of ints (booleans refused), at least ``minimum``
    of them; otherwise ``ValueError(f"{message}, got {value!r}")``."""
    from numbers import Integral

    sizes = (value,) if isinstance(value, Integral) else tuple(value)
    if len(sizes) < minimum or any(
        isinstance(s, (bool, np.bool_)) or not isinstance(s, Integral) or s < 1 for s in sizes
    ):
        raise ValueError(f"{message}, got {value!r}")
    return tuple(int(s) for s in sizes)

