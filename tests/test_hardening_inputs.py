"""The bad-input matrix (issue 9): every estimator, every public method that takes data.

For each kind of bad input the call raises a clear exception of scikit-learn's type (ValueError
or TypeError; MemoryError for allocations that cannot succeed) and leaves the estimator exactly
as it was: every attribute, fitted array, random-stream counter and ``history_`` entry is
compared byte for byte before and after. Each kind of unusual but valid input gives byte for
byte the results (and the model state) of plain float64 C-ordered input, the models' dtype
(sparse input to rounding: sums follow the order in which the entries are stored):

- bool, integer and object-of-number arrays are binary data (converted to float, as
  scikit-learn's ``check_array`` does) and give the float results;
- big-endian floats (``'>f4'``, ``'>f8'``) are converted to the native float64 - also at
  ``fit``, where scikit-learn keeps only native float32 / float64 - and give the native results;
- float32 input to a float64 model is converted (``fit`` would make a float32 model: not
  compared there);
- read-only, Fortran-ordered, strided, negatively strided and unaligned arrays, nested lists,
  and sparse matrices (CSR, CSC, COO, the ``*_array`` classes, unsorted indices, int64 indices,
  explicit zeros) are accepted everywhere X is.

Values outside [0, 1] are not refused (probabilities and Gaussian units are valid input), so no
case expects a range error for X; ranges are checked for VPF's top-layer prior and for masks.
Sparse matrices are refused with a TypeError where only dense input makes sense (masks, priors,
labels).

Absurd sizes (10**12 hidden units, 10**13 samples) run in a child process with an 8 GiB
address-space limit, so that a regression cannot take the test machine down.
"""
import copy
import json
import os
import pickle
import re
import resource
import subprocess
import sys
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError

from pydbn import DBM, DBN, DCIM, RBM, VPF, AdversarialDBN

N_FEATURES = 6
CLASSES = np.array([3, 7])


def _binary(n_rows, n_cols, seed):
    return (np.random.RandomState(seed).rand(n_rows, n_cols) > 0.5).astype(np.float64)


X_TRAIN = _binary(24, N_FEATURES, 0)
Y_TRAIN = CLASSES[np.arange(24) % 2]
X_EVAL = _binary(8, N_FEATURES, 1)
X_EVAL[0], X_EVAL[1] = 0, 1  # an empty row (no entry in CSR) and a full one
Y_EVAL = CLASSES[np.arange(8) % 2]
X_WIDE = _binary(24, N_FEATURES + 1, 3)  # a refit on other data
MASK_EVAL = _binary(8, N_FEATURES, 2).astype(bool)

# ---------------------------------------------------------------------------------------------
# the estimators: small models on tiny data, fitted once per module
# ---------------------------------------------------------------------------------------------
# target -> (estimator, factory, fitted with labels)
TARGETS = {
    "RBM": ("RBM", lambda: RBM(3, n_iter=2, batch_size=5, random_state=0), False),
    "DBN": ("DBN", lambda: DBN((4, 3), n_iter=2, batch_size=5, random_state=0), True),
    "DBN-unsupervised": ("DBN", lambda: DBN((4, 3), n_iter=2, batch_size=5, random_state=0),
                         False),
    "DBM": ("DBM", lambda: DBM((4, 3), n_iter=2, batch_size=5, n_chains=5, n_mean_field=5,
                               pretrain_n_iter=1, random_state=0), False),
    "VPF": ("VPF", lambda: VPF((4,), n_iter=2, batch_size=5, random_state=0), False),
    "AdversarialDBN": ("AdversarialDBN", lambda: AdversarialDBN(
        (4,), discriminator_layer_sizes=(4,), n_iter=3, batch_size=5, random_state=0), False),
    "AdversarialDBN-conditional": ("AdversarialDBN", lambda: AdversarialDBN(
        (4,), discriminator_layer_sizes=(4,), n_iter=3, batch_size=5, random_state=0), True),
    "DCIM": ("DCIM", lambda: DCIM((4,), n_iter=2, batch_size=5, random_state=0), True),
}


def _fit(target, est, X=X_TRAIN, y=Y_TRAIN):
    return est.fit(X, y) if TARGETS[target][2] else est.fit(X)


@pytest.fixture(scope="module")
def fitted_models():
    return {t: _fit(t, TARGETS[t][1]()) for t in TARGETS}


def _copy(fitted_models, target):
    """A private deep copy of the module's fitted model of a target."""
    return copy.deepcopy(fitted_models[target])


# Every public method that takes data: target -> {name: call(estimator, X, y)}. Only the
# methods in Y_METHODS read y.
METHODS = {
    "RBM": {
        "fit": lambda e, X, y: e.fit(X),
        "partial_fit": lambda e, X, y: e.partial_fit(X),
        "fit_transform": lambda e, X, y: e.fit_transform(X),
        "transform": lambda e, X, y: e.transform(X),
        "score_samples": lambda e, X, y: e.score_samples(X),
        "free_energy": lambda e, X, y: e.free_energy(X),
        "gibbs": lambda e, X, y: e.gibbs(X),
        "reconstruct": lambda e, X, y: e.reconstruct(X),
        "reconstruct_mask": lambda e, X, y: e.reconstruct(X, mask=MASK_EVAL, n_gibbs=2),
        "log_likelihood": lambda e, X, y: e.log_likelihood(X, method="exact"),
    },
    "DBN": {
        "fit": lambda e, X, y: e.fit(X, y),
        "fit_transform": lambda e, X, y: e.fit_transform(X, y),
        "transform": lambda e, X, y: e.transform(X),
        "predict": lambda e, X, y: e.predict(X),
        "predict_proba": lambda e, X, y: e.predict_proba(X),
        "score": lambda e, X, y: e.score(X, y),
        "lower_bound": lambda e, X, y: e.lower_bound(X, n_samples=3, log_z=0.0),
        "lower_bound_exact": lambda e, X, y: e.lower_bound(X, method="exact"),
        "log_likelihood": lambda e, X, y: e.log_likelihood(X, method="exact"),
    },
    "DBN-unsupervised": {
        "fit": lambda e, X, y: e.fit(X),
        "transform": lambda e, X, y: e.transform(X),
        "lower_bound": lambda e, X, y: e.lower_bound(X, n_samples=3, log_z=0.0),
        "log_likelihood": lambda e, X, y: e.log_likelihood(X, method="exact"),
    },
    "DBM": {
        "fit": lambda e, X, y: e.fit(X),
        "partial_fit": lambda e, X, y: e.partial_fit(X),
        "fit_transform": lambda e, X, y: e.fit_transform(X),
        "transform": lambda e, X, y: e.transform(X),
        "mean_field": lambda e, X, y: e.mean_field(X),
        "lower_bound": lambda e, X, y: e.lower_bound(X, log_z=0.0),
        "log_likelihood": lambda e, X, y: e.log_likelihood(X, method="exact"),
    },
    "VPF": {
        "fit": lambda e, X, y: e.fit(X),
        "partial_fit": lambda e, X, y: e.partial_fit(X),
        "fit_transform": lambda e, X, y: e.fit_transform(X),
        "transform": lambda e, X, y: e.transform(X),
        "objective": lambda e, X, y: e.objective(X),
        "score": lambda e, X, y: e.score(X),
        "reconstruct": lambda e, X, y: e.reconstruct(X, MASK_EVAL),
        "log_likelihood": lambda e, X, y: e.log_likelihood(X, method="exact"),
    },
    "AdversarialDBN": {
        "fit": lambda e, X, y: e.fit(X),
        "partial_fit": lambda e, X, y: e.partial_fit(X),
        "log_likelihood": lambda e, X, y: e.log_likelihood(X, n_samples=5),
        "score": lambda e, X, y: e.score(X),
        "discriminate": lambda e, X, y: e.discriminate(X),
    },
    "AdversarialDBN-conditional": {
        "fit": lambda e, X, y: e.fit(X, y),
        "partial_fit": lambda e, X, y: e.partial_fit(X, y),
        "log_likelihood": lambda e, X, y: e.log_likelihood(X, y, n_samples=5),
        "score": lambda e, X, y: e.score(X, y),
        "discriminate": lambda e, X, y: e.discriminate(X, y),
    },
    "DCIM": {
        "fit": lambda e, X, y: e.fit(X, y),
        "partial_fit": lambda e, X, y: e.partial_fit(X, y),
        "fit_transform": lambda e, X, y: e.fit_transform(X, y),
        "transform": lambda e, X, y: e.transform(X),
        "predict": lambda e, X, y: e.predict(X),
        "predict_proba": lambda e, X, y: e.predict_proba(X),
        "score": lambda e, X, y: e.score(X, y),
        "reverse_log_likelihood": lambda e, X, y: e.reverse_log_likelihood(X, y),
    },
}
Y_METHODS = {
    "DBN": {"fit", "fit_transform", "score"},
    "AdversarialDBN-conditional": {"fit", "partial_fit", "log_likelihood", "score",
                                   "discriminate"},
    "DCIM": {"fit", "partial_fit", "fit_transform", "score", "reverse_log_likelihood"},
}
FIT_METHODS = {"fit", "fit_transform"}  # a new width of X is a refit, not an error

# The methods that take no data, with an argument each: used by the not-fitted check.
MODEL_METHODS = {
    "RBM": {"sample": lambda e: e.sample(2, n_steps=2),
            "log_partition": lambda e: e.log_partition()},
    "DBN": {"sample": lambda e: e.sample(2, n_gibbs=2),
            "log_partition": lambda e: e.log_partition("exact")},
    "DBN-unsupervised": {},
    "DBM": {"sample": lambda e: e.sample(2, n_gibbs=2),
            "log_partition": lambda e: e.log_partition("exact")},
    "VPF": {"sample": lambda e: e.sample(2),
            "log_partition": lambda e: e.log_partition("exact"),
            "as_boltzmann_machine": lambda e: e.as_boltzmann_machine()},
    "AdversarialDBN": {"sample": lambda e: e.sample(2)},
    "AdversarialDBN-conditional": {},
    "DCIM": {"sample": lambda e: e.sample([3, 7])},
}

# ---------------------------------------------------------------------------------------------
# deep snapshots
# ---------------------------------------------------------------------------------------------


def _canon(obj, drop_times=False):
    """A comparable copy of an estimator's whole state: arrays as (dtype, shape, bytes),
    estimators as their __dict__, floats by repr (so NaN equals NaN)."""
    if isinstance(obj, BaseEstimator):
        return ("estimator", type(obj).__name__, _canon(vars(obj), drop_times))
    if isinstance(obj, dict):
        return {k: _canon(v, drop_times) for k, v in obj.items()
                if not (drop_times and isinstance(k, str) and "time" in k)}
    if isinstance(obj, (list, tuple)):
        return (type(obj).__name__, [_canon(v, drop_times) for v in obj])
    if isinstance(obj, np.ndarray):
        if obj.dtype == object:
            return ("object-array", obj.shape, [_canon(v, drop_times) for v in obj.ravel()])
        return ("ndarray", obj.dtype.str, obj.shape, obj.tobytes())
    if isinstance(obj, np.generic):
        return ("scalar", obj.dtype.str, obj.tobytes())
    if isinstance(obj, float):
        return ("float", repr(obj))
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    return ("pickle", pickle.dumps(obj))


def _differences(a, b, path=""):
    if type(a) is not type(b):
        return [path or "<root>"]
    if isinstance(a, dict):
        keys = sorted(set(a) | set(b), key=str)
        return [d for k in keys
                for d in (_differences(a[k], b[k], f"{path}.{k}") if k in a and k in b
                          else [f"{path}.{k}"])]
    if isinstance(a, tuple) and a[:1] == ("estimator",):
        return _differences(a[2], b[2], path)
    return [] if a == b else [path or "<root>"]


def snapshot(est):
    return _canon(est)


def assert_unchanged(est, before):
    diff = _differences(before, snapshot(est))
    assert not diff, f"the failed call changed {diff}"


def _close(a, b):
    """Canonical states or outputs equal, floating-point arrays and floats to rounding."""
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, tuple) and a and a[0] == "ndarray" and a[1][1] == "f":
        x, y = (np.frombuffer(t[3], dtype=t[1]) for t in (a, b))
        return a[1:3] == b[1:3] and np.allclose(x, y, rtol=1e-12, atol=1e-14, equal_nan=True)
    if isinstance(a, tuple) and a and a[0] == "float":
        return np.isclose(float(a[1]), float(b[1]), rtol=1e-12, atol=1e-14, equal_nan=True)
    if isinstance(a, tuple) and isinstance(b, tuple) and a and a[0] in ("list", "tuple"):
        return len(a[1]) == len(b[1]) and all(map(_close, a[1], b[1]))
    if isinstance(a, tuple) and a and a[0] == "estimator":
        return a[:2] == b[:2] and _close(a[2], b[2])
    return a == b


def assert_same_state(a, b, exact=True):
    """Two estimators hold the same model (training times aside)."""
    ca, cb = _canon(a, drop_times=True), _canon(b, drop_times=True)
    diff = _differences(ca, cb)
    assert (_close(ca, cb) if diff and not exact else not diff), f"states differ in {diff}"


def _dense(out):
    return out.toarray() if sp.issparse(out) else np.asarray(out)


def assert_same_output(got, want, exact=True):
    """Byte-identical results, or equal to rounding (an estimator returned by fit is compared
    by its state)."""
    if isinstance(want, BaseEstimator):
        assert got is not None
        return
    if isinstance(want, (list, tuple)):
        assert type(got) is type(want) and len(got) == len(want)
        for g, w in zip(got, want):
            assert_same_output(g, w, exact)
        return
    g, w = _dense(got), _dense(want)
    assert g.dtype == w.dtype and g.shape == w.shape, (g.dtype, g.shape, w.dtype, w.shape)
    if exact or g.dtype.kind != "f":
        assert g.tobytes() == w.tobytes(), f"max |difference| {np.max(np.abs(g - w))}"
    else:
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-14)


def assert_input_unchanged(X, before):
    if isinstance(X, np.ndarray):
        assert X.dtype == before.dtype and X.shape == before.shape
        np.testing.assert_array_equal(X, before)
    elif sp.issparse(X):
        assert X.shape == before.shape and X.nnz == before.nnz
        np.testing.assert_array_equal(X.toarray(), before.toarray())


# ---------------------------------------------------------------------------------------------
# bad X: a clear exception, nothing changed
# ---------------------------------------------------------------------------------------------


def _with(X, value, dtype=np.float64):
    X = X.astype(dtype)
    X[1, 2] = value
    return X


def _object_with_none():
    X = X_EVAL.astype(object)
    X[0, 0] = None
    return X


def _sparse_with(value):
    X = sp.csr_matrix(X_EVAL)
    X.data[0] = value
    return X


# name -> (build X, exception, message pattern)
BAD_X = {
    "nan": (lambda: _with(X_EVAL, np.nan), ValueError, r"NaN"),
    "nan_float32": (lambda: _with(X_EVAL, np.nan, np.float32), ValueError, r"NaN"),
    "posinf": (lambda: _with(X_EVAL, np.inf), ValueError, r"infinity"),
    "neginf": (lambda: _with(X_EVAL, -np.inf), ValueError, r"infinity"),
    "no_rows": (lambda: np.empty((0, N_FEATURES)), ValueError, r"0 sample"),
    "no_features": (lambda: np.empty((8, 0)), ValueError, r"0 feature"),
    "no_rows_no_features": (lambda: np.empty((0, 0)), ValueError, r"0 sample"),
    "one_d": (lambda: X_EVAL[0].copy(), ValueError, r"2D"),
    "three_d": (lambda: X_EVAL[None].copy(), ValueError, r"dim 3|3D|2D"),
    "scalar": (lambda: 1.0, ValueError, r"2D"),
    "none": (lambda: None, ValueError, r"2D"),
    "string": (lambda: "X.csv", ValueError, r"(?i)convert|string"),
    "fewer_features": (lambda: X_EVAL[:, :-1].copy(), ValueError,
                       rf"{N_FEATURES - 1} features.*{N_FEATURES}"),
    "more_features": (lambda: _binary(8, N_FEATURES + 2, 5), ValueError,
                      rf"{N_FEATURES + 2} features.*{N_FEATURES}"),
    "strings": (lambda: np.full((8, N_FEATURES), "a"), ValueError, r"(?i)string|convert"),
    "object_strings": (lambda: np.full((8, N_FEATURES), "a", dtype=object), ValueError,
                       r"(?i)string|convert"),
    "object_none": (_object_with_none, ValueError, r"NaN"),
    "complex": (lambda: X_EVAL.astype(np.complex128), ValueError, r"(?i)complex"),
    "complex_zero_imaginary": (lambda: X_EVAL + 0j, ValueError, r"(?i)complex"),
    "ragged_list": (lambda: [[0.0] * N_FEATURES, [1.0] * (N_FEATURES - 1)], ValueError,
                    r"(?i)inhomogeneous|sequence"),
    "sparse_nan": (lambda: _sparse_with(np.nan), ValueError, r"NaN"),
    "sparse_inf": (lambda: _sparse_with(np.inf), ValueError, r"infinity"),
    "sparse_no_rows": (lambda: sp.csr_matrix((0, N_FEATURES)), ValueError, r"0 sample"),
    "sparse_fewer_features": (lambda: sp.csr_matrix(X_EVAL[:, :-1]), ValueError,
                              rf"{N_FEATURES - 1} features.*{N_FEATURES}"),
    "sparse_complex": (lambda: sp.csr_matrix(X_EVAL.astype(np.complex128)), ValueError,
                       r"(?i)complex"),
    "sparse_one_d": (lambda: sp.coo_array(X_EVAL[0]), ValueError, r"2D"),
}
WIDTH_CASES = {"fewer_features", "more_features", "sparse_fewer_features"}


def _bad_x_params():
    out = []
    for target, methods in METHODS.items():
        for method in methods:
            for case in BAD_X:
                if case in WIDTH_CASES and method in FIT_METHODS:
                    continue
                out.append(pytest.param(target, method, case,
                                        id=f"{target}-{method}-{case}"))
    return out


@pytest.mark.parametrize("target, method, case", _bad_x_params())
def test_bad_x_raises_clear_error_and_leaves_estimator_unchanged(fitted_models, target, method,
                                                                 case):
    fitted = _copy(fitted_models, target)
    build, error, message = BAD_X[case]
    X = build()
    X_before = copy.deepcopy(X)
    before = snapshot(fitted)
    with pytest.raises(error, match=message):
        METHODS[target][method](fitted, X, Y_EVAL)
    assert_unchanged(fitted, before)
    assert_input_unchanged(X, X_before)


# ---------------------------------------------------------------------------------------------
# valid but unusual X: the results of plain float64 C-ordered input
# ---------------------------------------------------------------------------------------------


def _read_only(X):
    X = X.copy()
    X.setflags(write=False)
    return X


def _unaligned(X):
    buf = np.zeros(X.nbytes + 1, dtype=np.uint8)
    out = np.frombuffer(buf.data, dtype=X.dtype, count=X.size, offset=1).reshape(X.shape)
    out[...] = X
    assert not out.flags.aligned
    return out


def _csr_unsorted(X):
    A = sp.csr_matrix(X)
    for r in range(A.shape[0]):
        lo, hi = A.indptr[r], A.indptr[r + 1]
        A.indices[lo:hi] = A.indices[lo:hi][::-1].copy()
        A.data[lo:hi] = A.data[lo:hi][::-1].copy()
    A.has_sorted_indices = False
    return A


def _csr_int64(X):
    A = sp.csr_matrix(X)
    return sp.csr_matrix((A.data, A.indices.astype(np.int64), A.indptr.astype(np.int64)),
                         shape=A.shape)


def _csr_explicit_zeros(X):
    rows, cols = np.indices(X.shape)
    A = sp.csr_matrix((X.ravel(), cols.ravel(), np.arange(0, X.size + 1, X.shape[1])),
                      shape=X.shape)
    assert A.nnz == X.size
    return A


def _csr_read_only(X):
    A = sp.csr_matrix(X)
    for a in (A.data, A.indices, A.indptr):
        a.setflags(write=False)
    return A


# name -> (make the variant of X, also compared for fit, byte-identical); sparse results agree
# with dense ones to rounding: the summation order follows the stored order of the entries
VALID_X = {
    "bool": (lambda X: X.astype(bool), True, True),
    "int64": (lambda X: X.astype(np.int64), True, True),
    "uint8": (lambda X: X.astype(np.uint8), True, True),
    "float32": (lambda X: X.astype(np.float32), False, True),
    "big_endian_f8": (lambda X: X.astype(">f8"), True, True),
    "big_endian_f4": (lambda X: X.astype(">f4"), True, True),
    "object_numbers": (lambda X: X.astype(object), True, True),
    "list": (lambda X: X.tolist(), True, True),
    "read_only": (_read_only, True, True),
    "fortran": (np.asfortranarray, True, True),
    "row_strided": (lambda X: np.repeat(X, 2, axis=0)[::2], True, True),
    "column_strided": (lambda X: np.repeat(X, 3, axis=1)[:, ::3], True, True),
    "negative_strides": (lambda X: X[::-1, ::-1].copy()[::-1, ::-1], True, True),
    "unaligned": (_unaligned, True, True),
    "csr": (sp.csr_matrix, True, False),
    "csc": (sp.csc_matrix, True, False),
    "coo": (sp.coo_matrix, True, False),
    "csr_array": (sp.csr_array, True, False),
    "csc_array": (sp.csc_array, True, False),
    "csr_unsorted_indices": (_csr_unsorted, True, False),
    "csr_int64_indices": (_csr_int64, True, False),
    "csr_explicit_zeros": (_csr_explicit_zeros, True, False),
    "csr_read_only": (_csr_read_only, True, False),
}


def _valid_x_params():
    out = []
    for target, methods in METHODS.items():
        for method in methods:
            for case, (_, for_fit, _) in VALID_X.items():
                if method in FIT_METHODS and not for_fit:
                    continue
                out.append(pytest.param(target, method, case,
                                        id=f"{target}-{method}-{case}"))
    return out


@pytest.mark.parametrize("target, method, case", _valid_x_params())
def test_valid_x_variant_gives_the_results_of_float64_input(fitted_models, target, method,
                                                            case):
    fitted = _copy(fitted_models, target)
    call = METHODS[target][method]
    make, _, exact = VALID_X[case]
    X = make(X_EVAL)
    X_before = copy.deepcopy(X)
    reference = copy.deepcopy(fitted)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no conversion warning for any of these
        got = call(fitted, X, Y_EVAL)
    native = X_EVAL.copy()
    want = call(reference, native, Y_EVAL)
    assert_same_output(got, want, exact)
    assert_input_unchanged(X, X_before)
    assert_input_unchanged(native, X_EVAL)  # borrowed by the core, never written
    assert_same_state(fitted, reference, exact)


# ---------------------------------------------------------------------------------------------
# bad y
# ---------------------------------------------------------------------------------------------
# name -> (y for the 8 rows of X_EVAL, exception, message pattern, methods it applies to)
ANY = None
BAD_Y = {
    "short": (lambda: Y_EVAL[:-1], ValueError,
              r"one label per row|inconsistent numbers|8 labels, got shape \(7,\)", ANY),
    "long": (lambda: np.r_[Y_EVAL, Y_EVAL[:2]], ValueError,
             r"one label per row|inconsistent numbers|8 labels, got shape \(10,\)", ANY),
    "nan": (lambda: np.where(Y_EVAL == 3, np.nan, 7.0), ValueError, r"NaN|unknown labels",
            ANY),
    "inf": (lambda: np.where(Y_EVAL == 3, np.inf, 7.0), ValueError,
            r"infinity|unknown labels|not seen|continuous", ANY),
    "continuous": (lambda: np.linspace(0, 1, 8), ValueError,
                   r"(?i)continuous|unknown labels|not seen", ANY),
    "two_d": (lambda: np.c_[Y_EVAL, Y_EVAL], ValueError,
              r"1d array|multilabel|one label or", ANY),
    "none": (lambda: None, (ValueError, TypeError),
             r"pass y|1d array|y_true|labels|required positional argument: 'y'", ANY),
    "sparse": (lambda: sp.csr_matrix(Y_EVAL[:, None]), TypeError, r"(?i)sparse|dense", ANY),
    "unseen": (lambda: np.where(Y_EVAL == 3, 5, 7), ValueError,
               r"unknown labels|not seen|2 classes", {"partial_fit", "log_likelihood",
                                                      "discriminate",
                                                      "reverse_log_likelihood"}),
    "strings_for_int_classes": (lambda: np.array(["a", "b"] * 4), ValueError,
                                r"unknown labels|not seen|Mix of label",
                                {"partial_fit", "log_likelihood", "score", "discriminate",
                                 "reverse_log_likelihood"}),
}


def _bad_y_params():
    out = []
    for target, names in Y_METHODS.items():
        for method in names:
            for case, (_, _, _, applies) in BAD_Y.items():
                if applies is not ANY and method not in applies:
                    continue
                if case == "none" and method in FIT_METHODS and target != "DCIM":
                    continue  # y=None fits an unsupervised DBN / AdversarialDBN: valid
                out.append(pytest.param(target, method, case, id=f"{target}-{method}-y_{case}"))
    return out


@pytest.mark.parametrize("target, method, case", _bad_y_params())
def test_bad_y_raises_clear_error_and_leaves_estimator_unchanged(fitted_models, target, method,
                                                                 case):
    fitted = _copy(fitted_models, target)
    build, error, message, _ = BAD_Y[case]
    y = build()
    before = snapshot(fitted)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # NaN labels cast to int
        with pytest.raises(error, match=message):
            METHODS[target][method](fitted, X_EVAL, y)
    assert_unchanged(fitted, before)


def _refit_bad_y_params():
    return [pytest.param(t, m, id=f"{t}-{m}-wider_X_and_short_y")
            for t, names in Y_METHODS.items() for m in sorted(names & {"fit", "fit_transform"})]


@pytest.mark.parametrize("target, method", _refit_bad_y_params())
def test_refit_refused_for_bad_y_keeps_the_input_description(fitted_models, target, method):
    """validate_data sets n_features_in_ before y is checked: a refused refit on data of
    another width must put it back."""
    fitted = _copy(fitted_models, target)
    before = snapshot(fitted)
    with pytest.raises(ValueError, match=r"one label per row"):
        METHODS[target][method](fitted, X_WIDE, Y_TRAIN[:-1])
    assert_unchanged(fitted, before)


@pytest.mark.parametrize("target", [pytest.param("DCIM", id="DCIM-fit-y_single_class")])
def test_dcim_fit_refuses_a_single_class(fitted_models, target):
    fitted = _copy(fitted_models, target)
    before = snapshot(fitted)
    with pytest.raises(ValueError, match="2 classes"):
        fitted.fit(X_TRAIN, np.full(len(X_TRAIN), 3))
    assert_unchanged(fitted, before)
    with pytest.raises(ValueError, match="2 classes"):
        DCIM((3,), n_iter=1).partial_fit(X_TRAIN, np.full(len(X_TRAIN), 3))


# valid y variants: the results of a plain 1-D integer array
VALID_Y = {
    "list": (lambda y: y.tolist(), False),
    "read_only": (lambda y: _read_only(y), False),
    "column_vector": (lambda y: y[:, None], True),  # scikit-learn's DataConversionWarning
    "strided": (lambda y: np.repeat(y, 2)[::2], False),
}


def _valid_y_params():
    return [pytest.param(t, m, c, id=f"{t}-{m}-y_{c}")
            for t, names in Y_METHODS.items() for m in sorted(names) for c in VALID_Y
            # sklearn's metrics refuse a column; discriminate takes labels as sample does
            if not (c == "column_vector" and m in ("score", "discriminate"))]


@pytest.mark.parametrize("target, method, case", _valid_y_params())
def test_valid_y_variant_gives_the_results_of_a_plain_array(fitted_models, target, method,
                                                            case):
    fitted = _copy(fitted_models, target)
    call = METHODS[target][method]
    make, warns = VALID_Y[case]
    reference = copy.deepcopy(fitted)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore" if warns else "error")
        got = call(fitted, X_EVAL, make(Y_EVAL.copy()))
    want = call(reference, X_EVAL, Y_EVAL.copy())
    assert_same_output(got, want)
    assert_same_state(fitted, reference)


# ---------------------------------------------------------------------------------------------
# bad arguments of the methods (other than X and y)
# ---------------------------------------------------------------------------------------------
BIG = 2**64  # beyond any C integer


def _prior(values):
    return lambda e: e.sample(2, prior=values)


# target -> {case: (call, exception, message pattern)}
BAD_ARGS = {
    "RBM": {
        "sample-n_samples=-1": (lambda e: e.sample(-1), ValueError, "n_samples"),
        "sample-n_samples=2.5": (lambda e: e.sample(2.5), ValueError, "n_samples"),
        "sample-n_samples='3'": (lambda e: e.sample("3"), ValueError, "n_samples"),
        "sample-n_samples=None": (lambda e: e.sample(None), ValueError, "n_samples"),
        "sample-n_samples=True": (lambda e: e.sample(True), ValueError, "n_samples"),
        "sample-n_samples=2**64": (lambda e: e.sample(BIG), ValueError, "n_samples"),
        "sample-n_steps=0": (lambda e: e.sample(2, n_steps=0), ValueError, "n_steps"),
        "sample-n_steps=-1": (lambda e: e.sample(2, n_steps=-1), ValueError, "n_steps"),
        "sample-n_steps=2**24": (lambda e: e.sample(2, n_steps=2**24), ValueError, "n_steps"),
        "sample-n_steps=2**64": (lambda e: e.sample(2, n_steps=BIG), ValueError, "n_steps"),
        "log_partition-method=bogus": (lambda e: e.log_partition("bogus"), ValueError,
                                       "method"),
        "log_partition-max_units=0": (lambda e: e.log_partition(max_units=0), ValueError,
                                      "max_units"),
        "log_partition-max_units=2": (lambda e: e.log_partition(max_units=2), ValueError,
                                      r"2\^3 states.*ais"),
        "log_partition-n_chains=0": (lambda e: e.log_partition("ais", n_chains=0), ValueError,
                                     "n_chains"),
        "log_partition-n_betas=1": (lambda e: e.log_partition("ais", n_betas=1), ValueError,
                                    "n_betas"),
        "log_partition-n_betas=2**24": (lambda e: e.log_partition("ais", n_chains=2,
                                                                  n_betas=2**24),
                                        ValueError, "n_betas"),
        "log_partition-n_betas=2**64": (lambda e: e.log_partition("ais", n_chains=2,
                                                                  n_betas=BIG),
                                        ValueError, "n_betas"),
        "log_partition-side=bogus": (lambda e: e.log_partition("ais", side="bogus"),
                                     ValueError, "side"),
        "log_likelihood-method=bogus": (lambda e: e.log_likelihood(X_EVAL, "bogus"),
                                        ValueError, "method"),
        "reconstruct-mask_shape": (lambda e: e.reconstruct(X_EVAL, mask=MASK_EVAL[:-1]),
                                   ValueError, "mask must have"),
        "reconstruct-mask_one_d": (lambda e: e.reconstruct(X_EVAL, mask=MASK_EVAL[0]),
                                   ValueError, "mask must have"),
        "reconstruct-mask_values": (lambda e: e.reconstruct(X_EVAL, mask=MASK_EVAL * 0.5),
                                    ValueError, "boolean"),
        "reconstruct-mask_nan": (lambda e: e.reconstruct(X_EVAL, mask=_with(MASK_EVAL,
                                                                            np.nan)),
                                 ValueError, "boolean"),
        "reconstruct-mask_sparse": (lambda e: e.reconstruct(X_EVAL,
                                                            mask=sp.csr_matrix(MASK_EVAL)),
                                    TypeError, "(?i)sparse"),
        "reconstruct-n_gibbs=0": (lambda e: e.reconstruct(X_EVAL, mask=MASK_EVAL, n_gibbs=0),
                                  ValueError, "n_gibbs"),
        "reconstruct-n_gibbs=2**40": (lambda e: e.reconstruct(X_EVAL, mask=MASK_EVAL,
                                                              n_gibbs=2**40),
                                      ValueError, "n_gibbs.*2\\*\\*32|n_gibbs.*4294967"),
        "reconstruct-n_gibbs=2**64": (lambda e: e.reconstruct(X_EVAL, mask=MASK_EVAL,
                                                              n_gibbs=BIG),
                                      ValueError, "n_gibbs"),
    },
    "DBN": {
        "sample-n_samples=-1": (lambda e: e.sample(-1), ValueError, "n_samples"),
        "sample-n_samples=2**64": (lambda e: e.sample(BIG), ValueError, "n_samples"),
        "sample-n_gibbs=0": (lambda e: e.sample(2, n_gibbs=0), ValueError, "n_gibbs"),
        "sample-n_gibbs=2**24": (lambda e: e.sample(2, n_gibbs=2**24), ValueError, "n_gibbs"),
        "sample-n_gibbs=2**64": (lambda e: e.sample(2, n_gibbs=BIG), ValueError, "n_gibbs"),
        "sample-y_unseen": (lambda e: e.sample(2, y=[3, 5], n_gibbs=2), ValueError,
                            "unknown label"),
        "sample-y_length": (lambda e: e.sample(2, y=[3, 7, 3], n_gibbs=2), ValueError,
                            "one label per sample"),
        "sample-y_two_d": (lambda e: e.sample(2, y=[[3, 7]], n_gibbs=2), ValueError,
                           "one label per sample"),
        "sample-y_nan": (lambda e: e.sample(2, y=[3.0, np.nan], n_gibbs=2), ValueError,
                         "unknown label"),
        "sample-y_sparse": (lambda e: e.sample(2, y=sp.csr_matrix([[3, 7]]), n_gibbs=2),
                            TypeError, "(?i)sparse"),
        "log_partition-method=bogus": (lambda e: e.log_partition("bogus"), ValueError,
                                       "method"),
        "lower_bound-method=bogus": (lambda e: e.lower_bound(X_EVAL, "bogus"), ValueError,
                                     "method"),
        "lower_bound-n_samples=0": (lambda e: e.lower_bound(X_EVAL, n_samples=0, log_z=0.0),
                                    ValueError, "n_samples"),
        "lower_bound-n_samples=2**21": (lambda e: e.lower_bound(X_EVAL, n_samples=2**21,
                                                                log_z=0.0),
                                        ValueError, "n_samples"),
        "lower_bound-n_samples=2**64": (lambda e: e.lower_bound(X_EVAL, n_samples=BIG,
                                                                log_z=0.0),
                                        ValueError, "n_samples"),
        "lower_bound-max_bits=0": (lambda e: e.lower_bound(X_EVAL, "exact", max_bits=0,
                                                           log_z=0.0),
                                   ValueError, "max_bits"),
        "log_likelihood-method=bogus": (lambda e: e.log_likelihood(X_EVAL, "bogus"),
                                        ValueError, "method"),
        "log_likelihood-max_bits=0": (lambda e: e.log_likelihood(X_EVAL, "exact", max_bits=0,
                                                                 log_z=0.0),
                                      ValueError, "max_bits"),
        "log_likelihood-max_bits=2": (lambda e: e.log_likelihood(X_EVAL, "exact", max_bits=2,
                                                                 log_z=0.0),
                                      ValueError, r"2\^4 hidden states"),
    },
    "DBN-unsupervised": {
        "sample-y_without_labels": (lambda e: e.sample(2, y=3), ValueError, "no label units"),
        "predict_without_labels": (lambda e: e.predict(X_EVAL), AttributeError, "label"),
        "predict_proba_without_labels": (lambda e: e.predict_proba(X_EVAL), AttributeError,
                                         "label"),
        "score_without_labels": (lambda e: e.score(X_EVAL, Y_EVAL), AttributeError, "label"),
    },
    "DBM": {
        "sample-n_samples=-1": (lambda e: e.sample(-1), ValueError, "n_samples"),
        "sample-n_samples=2**64": (lambda e: e.sample(BIG), ValueError, "n_samples"),
        "sample-n_gibbs=0": (lambda e: e.sample(2, n_gibbs=0), ValueError, "n_gibbs"),
        "sample-n_gibbs=2**21": (lambda e: e.sample(2, n_gibbs=2**21), ValueError, "n_gibbs"),
        "sample-n_gibbs=2**64": (lambda e: e.sample(2, n_gibbs=BIG), ValueError, "n_gibbs"),
        "log_partition-method=bogus": (lambda e: e.log_partition("bogus"), ValueError,
                                       "method"),
        "log_partition-parity=bogus": (lambda e: e.log_partition(parity="bogus"), ValueError,
                                       "parity"),
        "log_partition-n_chains=0": (lambda e: e.log_partition(n_chains=0), ValueError,
                                     "n_chains"),
        "log_partition-n_betas=1": (lambda e: e.log_partition(n_betas=1), ValueError,
                                    "n_betas"),
        "log_partition-n_betas=2**24": (lambda e: e.log_partition(n_chains=2, n_betas=2**24),
                                        ValueError, "n_betas"),
        "log_partition-max_bits=0": (lambda e: e.log_partition("exact", max_bits=0),
                                     ValueError, "max_bits"),
        "log_partition-max_bits=3": (lambda e: e.log_partition("exact", max_bits=3),
                                     ValueError, r"2\^4 states"),
        "log_likelihood-method=bogus": (lambda e: e.log_likelihood(X_EVAL, "bogus"),
                                        ValueError, "method"),
        "lower_bound-method=bogus": (lambda e: e.lower_bound(X_EVAL, method="bogus"),
                                     ValueError, "method"),
    },
    "VPF": {
        "log_partition-method=bogus": (lambda e: e.log_partition("bogus"), ValueError,
                                       "method"),
        "log_partition-n_chains=0": (lambda e: e.log_partition("ais", n_chains=0), ValueError,
                                     "n_chains"),
        "log_likelihood-method=bogus": (lambda e: e.log_likelihood(X_EVAL, "bogus"),
                                        ValueError, "method"),
        "sample-n_samples=-1": (lambda e: e.sample(-1), ValueError, "n_samples"),
        "sample-n_samples=2**64": (lambda e: e.sample(BIG), ValueError, "n_samples"),
        "sample-n_gibbs=0": (lambda e: e.sample(2, n_gibbs=0), ValueError, "n_gibbs"),
        "sample-n_gibbs=-1": (lambda e: e.sample(2, n_gibbs=-1), ValueError, "n_gibbs"),
        "sample-n_gibbs=2**40": (lambda e: e.sample(2, n_gibbs=2**40), ValueError, "n_gibbs"),
        "sample-n_gibbs=2**64": (lambda e: e.sample(2, n_gibbs=BIG), ValueError, "n_gibbs"),
        "sample-prior=bogus": (_prior("bogus"), ValueError, "prior"),
        "sample-prior_length": (_prior([0.5] * 3), ValueError, "prior"),
        "sample-prior_above_one": (_prior([0.5, 1.5, 0.5, 0.5]), ValueError, "prior"),
        "sample-prior_negative": (_prior([0.5, -0.1, 0.5, 0.5]), ValueError, "prior"),
        "sample-prior_nan": (_prior([0.5, np.nan, 0.5, 0.5]), ValueError, "(?i)prior|NaN"),
        "sample-prior_two_d": (_prior([[0.5] * 4]), ValueError, "prior"),
        "sample-prior_strings": (_prior(["a"] * 4), ValueError, "(?i)convert|string"),
        "sample-prior_sparse": (_prior(sp.csr_matrix([[0.5] * 4])), TypeError, "(?i)sparse"),
        "reconstruct-mask_none": (lambda e: e.reconstruct(X_EVAL, None), ValueError,
                                  "mask must have"),
        "reconstruct-mask_shape": (lambda e: e.reconstruct(X_EVAL, MASK_EVAL[:, :-1]),
                                   ValueError, "mask must have"),
        "reconstruct-mask_values": (lambda e: e.reconstruct(X_EVAL, MASK_EVAL * 2),
                                    ValueError, "boolean"),
        "reconstruct-mask_sparse": (lambda e: e.reconstruct(X_EVAL, sp.csr_matrix(MASK_EVAL)),
                                    TypeError, "(?i)sparse"),
        "reconstruct-n_gibbs=0": (lambda e: e.reconstruct(X_EVAL, MASK_EVAL, n_gibbs=0),
                                  ValueError, "n_gibbs"),
        "reconstruct-n_gibbs=2**40": (lambda e: e.reconstruct(X_EVAL, MASK_EVAL,
                                                              n_gibbs=2**40),
                                      ValueError, "n_gibbs.*4294967"),
        "reconstruct-n_gibbs=2**64": (lambda e: e.reconstruct(X_EVAL, MASK_EVAL, n_gibbs=BIG),
                                      ValueError, "n_gibbs"),
    },
    "AdversarialDBN": {
        "sample-n_samples=-1": (lambda e: e.sample(-1), ValueError, "n_samples"),
        "sample-n_samples=2**64": (lambda e: e.sample(BIG), ValueError, "n_samples"),
        "sample-y_without_labels": (lambda e: e.sample(2, 3), ValueError, "without labels"),
        "log_likelihood-n_samples=0": (lambda e: e.log_likelihood(X_EVAL, n_samples=0),
                                       ValueError, "n_samples"),
        "log_likelihood-y_without_labels": (lambda e: e.log_likelihood(X_EVAL, Y_EVAL),
                                            ValueError, "without labels"),
        "discriminate-y_without_labels": (lambda e: e.discriminate(X_EVAL, Y_EVAL),
                                          ValueError, "without labels"),
        "partial_fit-y_without_labels": (lambda e: e.partial_fit(X_EVAL, Y_EVAL),
                                         ValueError, "without labels"),
    },
    "AdversarialDBN-conditional": {
        "sample-y_missing": (lambda e: e.sample(2), ValueError, "conditional"),
        "sample-y_unseen": (lambda e: e.sample(2, [3, 5]), ValueError, "unknown labels"),
        "sample-y_length": (lambda e: e.sample(2, [3, 7, 3]), ValueError, "2 labels"),
        "sample-y_two_d": (lambda e: e.sample(2, [[3, 7]]), ValueError, "2 labels"),
        "sample-y_sparse": (lambda e: e.sample(2, sp.csr_matrix([[3, 7]])), TypeError,
                            "(?i)sparse"),
        "discriminate-y_sparse": (lambda e: e.discriminate(X_EVAL, sp.csr_matrix(Y_EVAL)),
                                  TypeError, "(?i)sparse"),
        "discriminate-y_column": (lambda e: e.discriminate(X_EVAL, Y_EVAL[:, None]),
                                  ValueError, r"8 labels, got shape \(8, 1\)"),
        "partial_fit-y_missing": (lambda e: e.partial_fit(X_EVAL), ValueError, "pass y"),
    },
    "DCIM": {
        "sample-y_unseen": (lambda e: e.sample([3, 5]), ValueError, "unknown labels"),
        "sample-y_nan": (lambda e: e.sample([3.0, np.nan]), ValueError, "unknown labels"),
        "sample-y_two_d": (lambda e: e.sample([[3, 7]]), ValueError, "1-D"),
        "sample-y_sparse": (lambda e: e.sample(sp.csr_matrix([[3, 7]])), TypeError,
                            "(?i)sparse"),
        "sample-mode=bogus": (lambda e: e.sample([3], mode="bogus"), ValueError, "mode"),
        "partial_fit-y_missing": (lambda e: e.partial_fit(X_EVAL, None), ValueError,
                                  "1d array"),
    },
}


def _bad_arg_params():
    return [pytest.param(t, c, id=f"{t}-{c}") for t, cases in BAD_ARGS.items() for c in cases]


@pytest.mark.parametrize("target, case", _bad_arg_params())
def test_bad_argument_raises_clear_error_and_leaves_estimator_unchanged(fitted_models, target,
                                                                        case):
    fitted = _copy(fitted_models, target)
    call, error, message = BAD_ARGS[target][case]
    before = snapshot(fitted)
    with pytest.raises(error, match=message):
        call(fitted)
    assert_unchanged(fitted, before)


# Edge values that are valid: (call, reference call giving the expected output)
EDGE_ARGS = {
    "RBM": {
        "sample-n_samples=0": (lambda e: e.sample(0, random_state=0),
                               lambda e: np.empty((0, N_FEATURES))),
        "sample-n_samples=np.int64": (lambda e: e.sample(np.int64(2), n_steps=np.int32(3),
                                                         random_state=0),
                                      lambda e: e.sample(2, n_steps=3, random_state=0)),
        "log_partition-max_units=2**40": (lambda e: e.log_partition(max_units=2**40),
                                          lambda e: e.log_partition()),
        "log_partition-max_units=2**32+2": (lambda e: e.log_partition(max_units=2**32 + 2),
                                            lambda e: e.log_partition()),
        "reconstruct-mask_int": (lambda e: e.reconstruct(X_EVAL, MASK_EVAL.astype(int),
                                                         random_state=0),
                                 lambda e: e.reconstruct(X_EVAL, MASK_EVAL, random_state=0)),
    },
    "DBN": {
        "sample-n_samples=0": (lambda e: e.sample(0, random_state=0),
                               lambda e: np.empty((0, N_FEATURES))),
        "sample-y_scalar": (lambda e: e.sample(2, y=7, n_gibbs=3, random_state=0),
                            lambda e: e.sample(2, y=[7, 7], n_gibbs=3, random_state=0)),
        "log_likelihood-max_bits=2**40": (lambda e: e.log_likelihood(X_EVAL, "exact",
                                                                     max_bits=2**40),
                                          lambda e: e.log_likelihood(X_EVAL, "exact")),
        "lower_bound-max_bits=2**32+3": (lambda e: e.lower_bound(X_EVAL, "exact",
                                                                 max_bits=2**32 + 3),
                                         lambda e: e.lower_bound(X_EVAL, "exact")),
    },
    "DBM": {
        "sample-n_samples=0": (lambda e: e.sample(0, random_state=0),
                               lambda e: np.empty((0, N_FEATURES))),
        "log_partition-max_bits=2**40": (lambda e: e.log_partition("exact", max_bits=2**40),
                                         lambda e: e.log_partition("exact")),
        "log_likelihood-max_bits=2**32+3": (lambda e: e.log_likelihood(X_EVAL, "exact",
                                                                       max_bits=2**32 + 3),
                                            lambda e: e.log_likelihood(X_EVAL, "exact")),
    },
    "VPF": {
        "sample-n_samples=0": (lambda e: e.sample(0, random_state=0),
                               lambda e: np.empty((0, N_FEATURES))),
        "sample-prior_list": (lambda e: e.sample(3, prior=[0.2, 0.4, 0.6, 0.8],
                                                 random_state=0),
                              lambda e: e.sample(3, prior=np.array([0.2, 0.4, 0.6, 0.8]),
                                                 random_state=0)),
    },
    "AdversarialDBN": {
        "sample-n_samples=0": (lambda e: e.sample(0, random_state=0),
                               lambda e: np.empty((0, N_FEATURES))),
    },
    "AdversarialDBN-conditional": {
        "sample-y_scalar": (lambda e: e.sample(2, 7, random_state=0),
                            lambda e: e.sample(2, [7, 7], random_state=0)),
    },
    "DCIM": {
        "sample-y_scalar": (lambda e: e.sample(7, random_state=0),
                            lambda e: e.sample([7], random_state=0)),
    },
}


def _edge_arg_params():
    return [pytest.param(t, c, id=f"{t}-{c}") for t, cases in EDGE_ARGS.items() for c in cases]


@pytest.mark.parametrize("target, case", _edge_arg_params())
def test_valid_edge_argument_works(fitted_models, target, case):
    fitted = _copy(fitted_models, target)
    call, reference = EDGE_ARGS[target][case]
    other = copy.deepcopy(fitted)
    assert_same_output(call(fitted), reference(other))


def _fitted_on(make, n_features):
    return lambda: make().fit(_binary(6, n_features, 4))


# a limit above the core's own cap: the refusal names the limit that applied
CAPPED = [
    pytest.param(_fitted_on(lambda: RBM(41, n_iter=0, random_state=0), 41),
                 lambda e: e.log_partition(max_units=50), r"2\^41 states.*limit of 2\^40;",
                 id="RBM-log_partition-max_units_above_the_core_cap"),
    pytest.param(_fitted_on(lambda: DBM((41, 41), n_iter=0, pretrain=False,
                                            random_state=0), N_FEATURES),
                 lambda e: e.log_partition("exact", max_bits=2**40),
                 r"2\^41 states.*limit of 2\^40;",
                 id="DBM-log_partition-max_bits_above_the_core_cap"),
    pytest.param(_fitted_on(lambda: DBN((31, 2), n_iter=0, random_state=0), N_FEATURES),
                 lambda e: e.lower_bound(X_EVAL, "exact", max_bits=40, log_z=0.0),
                 r"2\^31 hidden states.*limit of 2\^30;",
                 id="DBN-lower_bound-max_bits_above_the_core_cap"),
]


@pytest.mark.parametrize("make, call, message", CAPPED)
def test_enumeration_refused_names_the_limit_that_applied(make, call, message):
    est = make()
    before = snapshot(est)
    with pytest.raises(ValueError, match=message):
        call(est)
    assert_unchanged(est, before)


# ---------------------------------------------------------------------------------------------
# before fit
# ---------------------------------------------------------------------------------------------


def _not_fitted_params():
    out = []
    for target, methods in METHODS.items():
        for method in methods:
            if method not in FIT_METHODS | {"partial_fit"}:
                out.append(pytest.param(target, method, id=f"{target}-{method}-before_fit"))
        for method in MODEL_METHODS[target]:
            out.append(pytest.param(target, method, id=f"{target}-{method}-before_fit"))
    return out


@pytest.mark.parametrize("target, method", _not_fitted_params())
def test_methods_before_fit_raise_not_fitted_error(target, method):
    est = TARGETS[target][1]()
    before = snapshot(est)
    with pytest.raises(NotFittedError):
        if method in METHODS[target]:
            METHODS[target][method](est, X_EVAL, Y_EVAL)
        else:
            MODEL_METHODS[target][method](est)
    assert_unchanged(est, before)


@pytest.mark.parametrize("target", [t for t in METHODS if "partial_fit" in METHODS[t]])
def test_failed_first_partial_fit_leaves_no_model(target):
    est = TARGETS[target][1]()
    with pytest.raises(ValueError, match="NaN"):
        METHODS[target]["partial_fit"](est, _with(X_EVAL, np.nan), Y_EVAL)
    assert vars(est) == vars(TARGETS[target][1]())


# ---------------------------------------------------------------------------------------------
# absurd parameters
# ---------------------------------------------------------------------------------------------
_COMMON = [("n_iter", -1), ("n_iter", 1.5), ("n_iter", "3"), ("learning_rate", 0.0),
           ("learning_rate", -0.1), ("learning_rate", np.nan), ("batch_size", 0),
           ("batch_size", -1), ("batch_size", 2.5), ("batch_size", BIG),
           ("random_state", "bogus"), ("verbose", -1)]
_LAYERS = [("hidden_layer_sizes", ()), ("hidden_layer_sizes", (0,)),
           ("hidden_layer_sizes", (-1,)), ("hidden_layer_sizes", (2.5,)),
           ("hidden_layer_sizes", ("a",)), ("hidden_layer_sizes", 0),
           ("hidden_layer_sizes", -3), ("hidden_layer_sizes", (True,)),
           ("hidden_layer_sizes", (4, 0)), ("hidden_layer_sizes", None)]
# estimator -> (target used, [(parameter, value)])
BAD_PARAMS = {
    "RBM": ("RBM", _COMMON + [
        ("n_components", 0), ("n_components", -1), ("n_components", 2.5),
        ("n_components", None), ("learning_rate_decay", -1.0), ("k", 0), ("k", -1),
        ("k", 2**32), ("k", 2**32 + 1), ("momentum", -0.1), ("momentum", 1.0),
        ("weight_decay", -1e-4), ("method", "bogus"), ("visible", "bogus"),
        ("learning_rate", np.inf)]),
    "DBN": ("DBN", _COMMON + _LAYERS + [
        ("batch_size", [5, 0]), ("learning_rate", [0.1, -0.1]), ("n_iter", [1, 2, 3]),
        ("method", ["cd", "bogus"]), ("k", 0), ("k", 2**32 + 1), ("k_fine_tune", 0),
        ("k_fine_tune", 2**32 + 1), ("n_iter_fine_tune", -1), ("learning_rate_fine_tune", 0),
        ("momentum", 1.0), ("fine_tune", "bogus"), ("propagate", "bogus"),
        ("transform_layers", "bogus"), ("visible", "bogus"), ("use_labels", "yes")]),
    "DBM": ("DBM", _COMMON + _LAYERS + [
        ("hidden_layer_sizes", (3,)), ("n_chains", 0), ("n_chains", BIG),
        ("n_mean_field", 0), ("n_mean_field", BIG), ("mean_field_tol", -1.0), ("k", 0),
        ("k", 2**32 + 1), ("pretrain_n_iter", -1), ("pretrain_learning_rate", 0.0),
        ("momentum", 1.0), ("weight_decay", -1.0), ("transform_layers", "bogus"),
        ("pretrain", "yes")]),
    "VPF": ("VPF", _COMMON + _LAYERS + [
        ("beta_1", 1.0), ("beta_2", -0.1), ("epsilon", 0.0), ("optimizer", "bogus"),
        ("prior", "bogus"), ("n_gibbs_generate", 0), ("momentum", 1.0),
        ("weight_decay", -1.0), ("lateral", "yes"), ("transform_layers", "bogus")]),
    "AdversarialDBN": ("AdversarialDBN", _COMMON + _LAYERS[1:] + [
        ("hidden_layer_sizes", ()), ("discriminator_layer_sizes", (0,)),
        ("discriminator_layer_sizes", (-2,)), ("batch_size", 1), ("n_critic", 0),
        ("n_critic", BIG), ("discriminator_learning_rate", 0.0), ("loss", "bogus"),
        ("optimizer", "bogus"), ("clip", 0.0), ("rho", 1.0), ("beta_1", 1.0),
        ("discriminator_activation", "bogus"), ("baseline", "yes")]),
    "DCIM": ("DCIM", _COMMON + _LAYERS[1:] + [
        ("objective", "bogus"), ("encoding", "bogus"), ("reverse_weight", -1.0),
        ("optimizer", "bogus"), ("beta_2", 1.0), ("epsilon", 0.0), ("momentum", 1.0),
        ("weight_decay", -1.0)]),
}
# a parameter whose message names the rule rather than the parameter
_PARAM_MESSAGE = {("AdversarialDBN", "hidden_layer_sizes", "()"): "at least one layer"}
# valid values that only a new model cannot use: partial_fit continues the fitted one
_FIT_ONLY = {("AdversarialDBN", "hidden_layer_sizes", "()")}


def _bad_param_params():
    return [pytest.param(est, name, value, id=f"{est}-{name}={value!r}")
            for est, (_, cases) in BAD_PARAMS.items() for name, value in cases]


@pytest.mark.parametrize("estimator, name, value", _bad_param_params())
def test_absurd_parameter_is_refused_before_anything_is_touched(fitted_models, estimator,
                                                                name, value):
    target = BAD_PARAMS[estimator][0]
    message = _PARAM_MESSAGE.get((estimator, name, repr(value)), re.escape(name))
    fresh = TARGETS[target][1]().set_params(**{name: value})
    with pytest.raises(ValueError, match=message):
        _fit(target, fresh)
    assert not any(k.endswith("_") for k in vars(fresh)), "a refused fit created a model"
    # a fitted estimator keeps its model when a refit, or a partial_fit, is refused
    for method in ("fit", "partial_fit"):
        if method not in METHODS[target] or (
                method == "partial_fit" and (estimator, name, repr(value)) in _FIT_ONLY):
            continue
        est = copy.deepcopy(fitted_models[target]).set_params(**{name: value})
        before = snapshot(est)
        with pytest.raises(ValueError, match=message):
            METHODS[target][method](est, X_TRAIN, Y_TRAIN)
        assert_unchanged(est, before)


@pytest.mark.parametrize("target", [t for t in TARGETS if t != "AdversarialDBN-conditional"])
def test_n_iter_zero_initializes_without_training(target):
    """n_iter=0 is allowed by every estimator's constraints (closed at 0, as
    scikit-learn's max_iter-like parameters): fit then initializes the model, records no
    epoch, and the model can be used."""
    est = TARGETS[target][1]().set_params(n_iter=0)
    assert _fit(target, est) is est
    history = est.history_
    assert all(len(v) == 0 for v in history.values()), history
    if hasattr(est, "n_iter_"):
        assert est.n_iter_ == 0
    for method, call in METHODS[target].items():
        if method not in FIT_METHODS | {"partial_fit"}:
            call(est, X_EVAL, Y_EVAL)


# a new architecture takes effect at the next fit: partial_fit continues the fitted model
NEW_ARCHITECTURE = {
    "RBM": {"n_components": 5},
    "DBM": {"hidden_layer_sizes": (5, 2)},
    "VPF": {"hidden_layer_sizes": (5,), "lateral": True},
    "AdversarialDBN": {"hidden_layer_sizes": (5,), "discriminator_layer_sizes": (5,)},
    "DCIM": {"hidden_layer_sizes": (5,)},
}


@pytest.mark.parametrize("target", list(NEW_ARCHITECTURE))
def test_partial_fit_after_set_params_of_the_architecture_continues_the_model(fitted_models,
                                                                              target):
    est = _copy(fitted_models, target)
    reference = _copy(fitted_models, target)
    old = {k: est.get_params()[k] for k in NEW_ARCHITECTURE[target]}
    METHODS[target]["partial_fit"](est.set_params(**NEW_ARCHITECTURE[target]), X_TRAIN, Y_TRAIN)
    METHODS[target]["partial_fit"](reference, X_TRAIN, Y_TRAIN)
    assert_same_state(est.set_params(**old), reference)


# ---------------------------------------------------------------------------------------------
# absurd sizes, in a child process with an address-space limit
# ---------------------------------------------------------------------------------------------
MEMORY_LIMIT = 8 << 30
TERA = 10**12
# case -> (target, parameters to set or None, call on the fitted model or None, refit must
# leave the old model: True, or only a consistent one: False)
HUGE = {
    "RBM-n_components=1e12": ("RBM", {"n_components": TERA}, None, True),
    "RBM-batch_size=1e12": ("RBM", {"batch_size": TERA}, None, True),
    "RBM-sample(n_samples=1e13)": ("RBM", None, lambda e: e.sample(10 * TERA), True),
    "RBM-log_partition(ais, n_chains=1e12)": (
        "RBM", None, lambda e: e.log_partition("ais", n_chains=TERA, n_betas=2), True),
    "DBN-hidden_layer_sizes=(1e12,)": ("DBN", {"hidden_layer_sizes": (TERA,)}, None, True),
    # a failing upper layer leaves the network of the layers below (pydbn.DBN's documented
    # behaviour for a failed or interrupted greedy fit)
    "DBN-hidden_layer_sizes=(4,1e12)": ("DBN", {"hidden_layer_sizes": (4, TERA)}, None,
                                        False),
    "DBN-batch_size=1e12": ("DBN", {"batch_size": TERA}, None, True),
    "DBN-sample(n_samples=1e13)": ("DBN", None, lambda e: e.sample(10 * TERA), True),
    "DBM-hidden_layer_sizes=(1e12,3)": ("DBM", {"hidden_layer_sizes": (TERA, 3)}, None,
                                        True),
    "DBM-hidden_layer_sizes=(4,1e12),pretrain=False": (
        "DBM", {"hidden_layer_sizes": (4, TERA), "pretrain": False}, None, True),
    "DBM-n_chains=1e12": ("DBM", {"n_chains": TERA}, None, True),
    "DBM-batch_size=1e12": ("DBM", {"batch_size": TERA}, None, True),
    "DBM-sample(n_samples=1e13)": ("DBM", None, lambda e: e.sample(10 * TERA), True),
    "DBM-log_partition(n_chains=1e12)": (
        "DBM", None, lambda e: e.log_partition(n_chains=TERA, n_betas=2), True),
    "VPF-hidden_layer_sizes=(1e12,)": ("VPF", {"hidden_layer_sizes": (TERA,)}, None, True),
    "VPF-hidden_layer_sizes=(1e12,),lateral": (
        "VPF", {"hidden_layer_sizes": (TERA,), "lateral": True}, None, True),
    "VPF-batch_size=1e12": ("VPF", {"batch_size": TERA}, None, True),
    "VPF-sample(n_samples=1e13)": ("VPF", None, lambda e: e.sample(10 * TERA), True),
    "AdversarialDBN-hidden_layer_sizes=(1e12,)": (
        "AdversarialDBN", {"hidden_layer_sizes": (TERA,)}, None, True),
    "AdversarialDBN-discriminator_layer_sizes=(1e12,)": (
        "AdversarialDBN", {"discriminator_layer_sizes": (TERA,)}, None, True),
    "AdversarialDBN-batch_size=1e12": ("AdversarialDBN", {"batch_size": TERA}, None, True),
    "AdversarialDBN-sample(n_samples=1e13)": (
        "AdversarialDBN", None, lambda e: e.sample(10 * TERA), True),
    "AdversarialDBN-log_likelihood(n_samples=1e13)": (
        "AdversarialDBN", None, lambda e: e.log_likelihood(X_EVAL, n_samples=10 * TERA),
        True),
    "DCIM-hidden_layer_sizes=(1e12,)": ("DCIM", {"hidden_layer_sizes": (TERA,)}, None, True),
    "DCIM-hidden_layer_sizes=(4,1e12)": ("DCIM", {"hidden_layer_sizes": (4, TERA)}, None,
                                         True),
    "DCIM-batch_size=1e12": ("DCIM", {"batch_size": TERA}, None, True),
}


def _consistent(est):
    """A model that describes itself correctly and can be used."""
    try:
        return est.transform(np.ones((3, est.n_features_in_))).shape[0] == 3
    except Exception:
        return False


def _run_huge_case(case):
    """In the child: every way of hitting the absurd size, as (ok, detail)."""
    target, params, call, keep = HUGE[case]
    X = X_TRAIN
    problems = []

    def attempt(label, fn, est, before, keep_model):
        try:
            fn()
        except (MemoryError, ValueError) as e:
            if keep_model:
                diff = _differences(before, snapshot(est))
                if diff:
                    problems.append(f"{label}: {type(e).__name__} but changed {diff}")
            elif not _consistent(est):
                problems.append(f"{label}: inconsistent model")
            return f"{type(e).__name__}: {str(e)[:120]}"
        except BaseException as e:  # the wrong kind of error
            problems.append(f"{label}: {type(e).__name__}: {e}")
            return None
        problems.append(f"{label}: no error")
        return None

    if params is not None:
        fresh = TARGETS[target][1]().set_params(**params)
        detail = attempt("fresh fit", lambda: _fit(target, fresh, X), fresh, snapshot(fresh),
                         keep)
        if "partial_fit" in METHODS[target]:
            first = TARGETS[target][1]().set_params(**params)
            attempt("first partial_fit", lambda: METHODS[target]["partial_fit"](first, X, Y_TRAIN),
                    first, snapshot(first), True)
        fitted = _fit(target, TARGETS[target][1]())
        fitted.set_params(**params)
        attempt("refit on wider X", lambda: _fit(target, fitted, X_WIDE), fitted,
                snapshot(fitted), keep)
    else:
        fitted = _fit(target, TARGETS[target][1]())
        detail = attempt("call", lambda: call(fitted), fitted, snapshot(fitted), True)
    return not problems, "; ".join(problems) or detail


def _child_main():  # pragma: no cover - runs in the child process
    for case in HUGE:
        ok, detail = _run_huge_case(case)
        print(json.dumps({"case": case, "ok": ok, "detail": detail}), flush=True)


def _limit_memory():  # pragma: no cover - runs in the child process before exec
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


@pytest.fixture(scope="module")
def huge_results():
    if os.environ.get("PYDBN_SANITIZE"):
        pytest.skip("an address-space limit cannot be combined with AddressSanitizer's shadow "
                    "memory (the sanitizer tier sets PYDBN_SANITIZE)")
    here = os.path.dirname(os.path.abspath(__file__))
    code = ("import sys; sys.path.insert(0, %r); import test_hardening_inputs as t; "
            "t._child_main()" % here)
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, preexec_fn=_limit_memory, env=env)
    results = {}
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            results[entry["case"]] = (entry["ok"], entry["detail"])
    return proc, results


@pytest.mark.parametrize("case", list(HUGE))
def test_absurd_size_raises_memory_or_value_error_within_a_memory_limit(huge_results, case):
    proc, results = huge_results
    assert case in results, (f"the child died before this case (exit {proc.returncode}): "
                             f"{proc.stderr[-2000:]}")
    ok, detail = results[case]
    assert ok, detail
