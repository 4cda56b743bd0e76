"""Machinery shared by pydbn's estimators: random streams, input plumbing, the epoch loop."""
import contextlib
import signal
import threading

import numpy as np
import scipy.sparse as sp
from sklearn.utils import check_random_state

from ._progress import Progress

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

    def __init__(self, total=0, desc=None, unit="epoch"):
        self.in_core = False
        self.pending = False
        self._previous = None
        # a progress bar (when one should be shown) advanced by each check()
        self.progress = Progress(total, desc, unit)

    def _handle(self, signum, frame):
        if self.in_core:
            raise KeyboardInterrupt
        self.pending = True

    def __enter__(self):
        if on_main_thread() and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        self.progress.__enter__()
        return self

    def check(self, steps=1):
        """Advance the progress bar by ``steps``; raise the interrupt held since the core
        finished, if any."""
        self.progress.update(steps)
        if self.pending:
            self.pending = False
            raise KeyboardInterrupt

    def __exit__(self, *exc):
        self.progress.__exit__(*exc)
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


def is_dask_collection(X):
    """Whether X is a dask array, dataframe or series, decided without importing dask."""
    return type(X).__module__.partition(".")[0] in ("dask", "dask_expr")


# asked of the type: a dask Delayed answers any attribute lookup on itself
def _dask_block_count(C):
    if hasattr(type(C), "numblocks"):  # dask.array
        return C.numblocks[0]
    if hasattr(type(C), "partitions"):  # dask.dataframe
        return C.npartitions
    raise TypeError(f"partial_fit streams dask arrays and dataframes block by block, got a "
                    f"{type(C).__name__}; compute it first")


def _dask_block(C, i):
    return C.blocks[i] if hasattr(type(C), "numblocks") else C.partitions[i]


def dask_row_blocks(X, y=None):
    """(X block, y block) for each row block of the dask collection X, in order, each block
    computed (with y's) only when it is reached, so X never exists in memory whole.

    ``y`` may be None, a dask collection with the same number of row blocks (a dask array
    whose row chunks differ from X's is rechunked to them) or an in-memory array-like, cut
    to each block's rows.
    """
    import dask  # X is a dask collection, so dask is installed

    from sklearn.utils import _safe_indexing
    from sklearn.utils.validation import _num_samples

    n_blocks = _dask_block_count(X)
    n_rows = X.shape[0] if hasattr(type(X), "chunks") else np.nan  # a dataframe's is lazy
    lazy_y = is_dask_collection(y)
    if lazy_y:
        y_rows = y.shape[0] if hasattr(type(y), "chunks") else np.nan
        if not np.isnan(n_rows) and not np.isnan(y_rows):
            if y_rows != n_rows:  # refused before any block trains the model
                raise ValueError(f"y must hold one label per row of X: {y_rows} labels, "
                                 f"{n_rows} rows")
            if y.chunks[0] != X.chunks[0]:
                y = y.rechunk({0: X.chunks[0]})
        if _dask_block_count(y) != n_blocks:
            raise ValueError(f"y must be cut into the same row blocks as X: X has {n_blocks} "
                             f"row blocks, y {_dask_block_count(y)}")
    elif y is not None and not np.isnan(n_rows) and _num_samples(y) != n_rows:
        raise ValueError(f"y must hold one label per row of X: {_num_samples(y)} labels, "
                         f"{n_rows} rows")
    start = 0
    for i in range(n_blocks):
        if lazy_y:
            X_block, y_block = dask.compute(_dask_block(X, i), _dask_block(y, i))
        else:
            (X_block,) = dask.compute(_dask_block(X, i))
            stop = start + X_block.shape[0]
            y_block = None if y is None else _safe_indexing(y, slice(start, stop))
            start = stop
        yield X_block, y_block
    if y is not None and not lazy_y and start != _num_samples(y):
        raise ValueError(f"y must hold one label per row of X: {_num_samples(y)} labels, "
                         f"{start} rows")


def partial_fit_dask(estimator, X, y=None, **params):
    """``estimator.partial_fit`` on each row block of the dask collection X in order, with
    the matching rows of y: the same model as calling it on each computed block in turn.

    A block that fails validation raises the estimator's usual error, with a note naming the
    block; the blocks before it have already trained the model (as separate calls would have).
    """
    n_blocks = _dask_block_count(X)
    with Progress(n_blocks, type(estimator).__name__, unit="block", absorb=True) as bar:
        for i, (X_block, y_block) in enumerate(dask_row_blocks(X, y)):
            try:
                estimator.partial_fit(X_block, y_block, **params)
            except (Exception, KeyboardInterrupt) as error:
                if hasattr(error, "add_note"):  # Python >= 3.11
                    error.add_note(f"in row block {i} of the dask input: partial_fit had "
                                   f"already trained the model on blocks 0 to {i - 1}" if i
                                   else "in row block 0 of the dask input")
                raise
            bar.update()
    return estimator


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
    return _ONE_BLAS_THREAD.hold(controller.select(filepath=ours[0]))


class _SharedBlasLimit:
    """One OpenBLAS thread for as long as any Python thread is inside :func:`blas_threads_for`.

    OpenBLAS's thread count is process-wide. Were each thread to set it and put back what it
    found, two threads whose blocks overlap would leave the process at one thread for good
    (the second found 1 and puts 1 back last). So the first thread in sets the limit and the
    last one out restores it. threadpoolctl (>= 3.6) lets only one thread at a time set
    OpenBLAS's count - the first to set it, until it lets go - so each change lets go at once.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._holders = 0
        self._limiter = None

    @staticmethod
    def _let_go():
        import threadpoolctl

        release = getattr(getattr(threadpoolctl, "OpenBLASController", None),
                          "clear_controlling_thread", None)
        if release is not None:
            release()

    @contextlib.contextmanager
    def hold(self, libraries):
        with self._lock:
            if self._holders == 0:
                self._limiter = libraries.limit(limits=1)
                self._let_go()
            self._holders += 1
        try:
            yield
        finally:
            with self._lock:
                self._holders -= 1
                if self._holders == 0:
                    self._limiter.restore_original_limits()
                    self._let_go()
                    self._limiter = None


_ONE_BLAS_THREAD = _SharedBlasLimit()


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

