"""pydbn.RBM as a scikit-learn estimator: API conventions, input handling, dtypes, determinism,
threads, signals and errors."""

import copy
import os
import pickle
import re
import signal
import threading
import time

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks
from threadpoolctl import threadpool_info, threadpool_limits

from pydbn import RBM

try:  # tests/ may or may not be a package
    from . import _enumerate as en
except ImportError:  # pragma: no cover
    import _enumerate as en


def binary_data(n, n_features, seed=0, density=0.5, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return (rng.random((n, n_features)) < density).astype(dtype)


FITTED_ARRAYS = ("components_", "intercept_hidden_", "intercept_visible_", "h_samples_")


def assert_same_model(a, b):
    """Bit-identical fitted parameters and persistent chains."""
    for name in FITTED_ARRAYS:
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and x.shape == y.shape, name
        assert x.tobytes() == y.tobytes(), f"{name} differs"


def fitted_state(est):
    """Copy of every fitted attribute (name ending in '_'): arrays with their bytes."""
    state = {}
    for name, value in vars(est).items():
        if not name.endswith("_") or name.endswith("__"):
            continue
        if isinstance(value, np.ndarray):
            state[name] = (value.copy(), value.tobytes(), value.dtype, value.shape)
        else:
            state[name] = copy.deepcopy(value)
    return state


def assert_fitted_state_unchanged(est, before):
    after = fitted_state(est)
    assert after.keys() == before.keys()
    for name, old in before.items():
        new = after[name]
        if isinstance(old, tuple) and len(old) == 4 and isinstance(old[0], np.ndarray):
            arr = getattr(est, name)
            assert arr.dtype == old[2] and arr.shape == old[3], name
            assert np.array_equal(arr, old[0], equal_nan=True), name
            assert arr.tobytes() == old[1], name
        else:
            assert new == old, name


# ---------------------------------------------------------------------------------------------
# 1. scikit-learn's estimator checks
# ---------------------------------------------------------------------------------------------
def _expected_failed_checks(estimator):
    # score_samples is scikit-learn's pseudo-likelihood: the bit flipped in row i is the i-th
    # draw of RandomState(random_state).randint, so a row's score depends on its position in X.
    # scikit-learn marks the same two checks as expected failures for BernoulliRBM
    # (sklearn/utils/_test_common/instance_generator.py, PER_ESTIMATOR_XFAIL_CHECKS).
    if estimator.visible == "gaussian":
        return {}  # gaussian score_samples is -F(x): row-wise, no random flips
    return {
        "check_methods_subset_invariance": "score_samples flips a position-dependent random bit",
        "check_methods_sample_order_invariance": "score_samples flips a position-dependent "
                                                 "random bit",
    }


@parametrize_with_checks(
    [
        RBM(n_components=8, n_iter=5, random_state=0),
        RBM(n_components=8, n_iter=5, method="cd", k=2, random_state=0),
        RBM(n_components=8, n_iter=5, visible="gaussian", learning_rate=0.01, random_state=0),
        RBM(n_components=8, n_iter=5, method="vpf", learning_rate=1e-3, random_state=0),
    ],
    expected_failed_checks=_expected_failed_checks,
    xfail_strict=True,
)
def test_sklearn_estimator_checks_pass(estimator, check):
    check(estimator)


# ---------------------------------------------------------------------------------------------
# 2. pipelines, grid search, clone, pickle, deepcopy
# ---------------------------------------------------------------------------------------------
def test_pipeline_with_logistic_regression_in_grid_search_learns_digits():
    digits = load_digits()
    X, y = digits.data / 16.0, digits.target
    pipe = Pipeline([
        ("rbm", RBM(n_components=16, n_iter=5, learning_rate=0.06, random_state=0)),
        ("clf", LogisticRegression(max_iter=1000)),
    ])
    search = GridSearchCV(pipe, {"rbm__n_components": [16, 48]}, cv=3).fit(X, y)
    assert search.best_params_["rbm__n_components"] in (16, 48)
    assert len(search.cv_results_["mean_test_score"]) == 2
    # 10 classes: chance is 0.1; scikit-learn's BernoulliRBM in this pipeline scores ~0.73
    assert search.best_score_ > 0.5
    best_rbm = search.best_estimator_.named_steps["rbm"]
    assert best_rbm.components_.shape == (search.best_params_["rbm__n_components"], 64)
    assert search.best_estimator_.predict(X[:10]).shape == (10,)


def test_clone_copies_parameters_and_no_fitted_state():
    est = RBM(n_components=5, learning_rate=0.02, batch_size=7, n_iter=3, random_state=4,
              method="cd", k=3, momentum=0.5, weight_decay=1e-4, visible="gaussian")
    est.fit(np.random.default_rng(0).normal(size=(30, 4)))
    twin = clone(est)
    assert twin.get_params() == est.get_params()
    assert not hasattr(twin, "components_")
    with pytest.raises(NotFittedError):
        twin.transform(np.zeros((2, 4)))


def test_pickle_round_trip_and_deepcopy_give_identical_outputs():
    X = binary_data(60, 12, seed=1)
    est = RBM(n_components=6, n_iter=3, random_state=0).fit(X)
    restored = pickle.loads(pickle.dumps(est))
    duplicate = copy.deepcopy(est)
    for other in (restored, duplicate):
        assert_same_model(est, other)
        assert other.transform(X).tobytes() == est.transform(X).tobytes()
        assert other.score_samples(X).tobytes() == est.score_samples(X).tobytes()
        assert other.history_ == est.history_
        # the copy owns its arrays
        assert not np.shares_memory(other.components_, est.components_)


# ---------------------------------------------------------------------------------------------
# 3. bit-identical results with 1 and 2 BLAS threads
# ---------------------------------------------------------------------------------------------
def _blas_libraries():
    return [lib for lib in threadpool_info() if lib["user_api"] == "blas"]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fit_is_bit_identical_with_one_and_two_blas_threads(dtype):
    # 100 x 200 x 256 products (5e6 multiply-adds each) are well above OpenBLAS's threading
    # threshold, so with two threads the products really are split.
    X = binary_data(2000, 200, seed=2, density=0.3, dtype=dtype)
    models = {}
    for n_threads in (1, 2):
        with threadpool_limits(limits=n_threads, user_api="blas"):
            assert all(lib["num_threads"] == n_threads for lib in _blas_libraries())
            est = RBM(n_components=256, batch_size=100, n_iter=2, random_state=0).fit(X)
            models[n_threads] = (est, est.transform(X))
    assert models[1][0].components_.dtype == dtype
    assert_same_model(models[1][0], models[2][0])
    assert models[1][1].tobytes() == models[2][1].tobytes()


def test_threadpoolctl_controls_the_blas_pydbn_uses():
    # The thread test above is only meaningful if threadpoolctl sees the OpenBLAS the extension
    # links to (numpy and scipy bring their own copies, which would satisfy a looser check).
    from pydbn import _core

    with open(_core.__file__, "rb") as f:
        needed = {m.decode() for m in re.findall(rb"lib[\w.-]*blas[\w.-]*\.so[\w.]*", f.read())}
    assert needed, "the extension names no BLAS shared library"
    controlled = {os.path.basename(lib["filepath"]) for lib in _blas_libraries()}
    assert needed & controlled, (needed, controlled)


# ---------------------------------------------------------------------------------------------
# 4. random streams: fresh draws, reproducible sequences
# ---------------------------------------------------------------------------------------------
def _call_sequence(est, V):
    return [
        est.gibbs(V),
        est.gibbs(V),
        est.sample(n_samples=30, n_steps=5),
        est.sample(n_samples=30, n_steps=5),
        est.gibbs(V),
    ]


def test_repeated_gibbs_and_sample_draw_fresh_numbers_reproducibly():
    X = binary_data(80, 16, seed=3)
    V = X[:50]
    est = RBM(n_components=8, n_iter=2, random_state=42).fit(X)
    first = _call_sequence(est, V)
    for out in first:
        assert np.all((out == 0) | (out == 1))
    # 800 / 480 Bernoulli draws: two identical outputs would mean the stream did not advance
    assert not np.array_equal(first[0], first[1])
    assert not np.array_equal(first[1], first[4])
    assert not np.array_equal(first[2], first[3])

    # refitting the same object with the same int random_state replays the whole sequence
    est.fit(X)
    second = _call_sequence(est, V)
    # and so does a new estimator
    third = _call_sequence(RBM(n_components=8, n_iter=2, random_state=42).fit(X), V)
    for a, b, c in zip(first, second, third):
        assert a.tobytes() == b.tobytes() == c.tobytes()

    # an explicit int random_state in sample() gives the same draw whatever came before
    s1 = est.sample(n_samples=30, n_steps=5, random_state=7)
    est.gibbs(V)
    s2 = est.sample(n_samples=30, n_steps=5, random_state=7)
    assert s1.tobytes() == s2.tobytes()
    assert not np.array_equal(s1, est.sample(n_samples=30, n_steps=5, random_state=8))


def test_fit_with_same_int_random_state_is_reproducible_and_seed_dependent():
    X = binary_data(100, 10, seed=4)
    a = RBM(n_components=6, n_iter=3, random_state=11).fit(X)
    b = RBM(n_components=6, n_iter=3, random_state=11).fit(X)
    c = RBM(n_components=6, n_iter=3, random_state=12).fit(X)
    assert_same_model(a, b)
    assert not np.array_equal(a.components_, c.components_)


def test_fit_transform_equals_fit_then_transform():
    X = binary_data(50, 10, seed=5)
    Z = RBM(n_components=6, n_iter=3, random_state=1).fit_transform(X)
    est = RBM(n_components=6, n_iter=3, random_state=1).fit(X)
    assert Z.tobytes() == est.transform(X).tobytes()
    assert list(est.get_feature_names_out()) == [f"rbm{i}" for i in range(6)]


# ---------------------------------------------------------------------------------------------
# 5. bad input and invalid parameters
# ---------------------------------------------------------------------------------------------
N_FEATURES = 6


@pytest.fixture
def fitted():
    X = binary_data(40, N_FEATURES, seed=6)
    return RBM(n_components=4, n_iter=2, batch_size=10, random_state=0).fit(X)


CALLS = {
    "fit": lambda est, X: est.fit(X),
    "partial_fit": lambda est, X: est.partial_fit(X),
    "transform": lambda est, X: est.transform(X),
    "score_samples": lambda est, X: est.score_samples(X),
    "gibbs": lambda est, X: est.gibbs(X),
    "free_energy": lambda est, X: est.free_energy(X),
    "log_likelihood": lambda est, X: est.log_likelihood(X, method="exact"),
    "reconstruct": lambda est, X: est.reconstruct(X),
}


def _bad_inputs():
    good = binary_data(5, N_FEATURES, seed=7)
    with_nan = good.copy()
    with_nan[2, 3] = np.nan
    with_inf = good.copy()
    with_inf[1, 0] = np.inf
    with_neg_inf = good.copy()
    with_neg_inf[4, 5] = -np.inf
    return {
        "nan": (with_nan, r"NaN"),
        "inf": (with_inf, r"(?i)inf"),
        "-inf": (with_neg_inf, r"(?i)inf"),
        "1d": (good[0], r"2D|1D|dim"),
        "3d": (good[None, :, :], r"dim 3|3D|2D|dimension"),
        "no_rows": (np.empty((0, N_FEATURES)), r"0 sample"),
        "no_features": (np.empty((5, 0)), r"0 feature"),
        "strings": (np.full((3, N_FEATURES), "a"), r"(?i)string|convert|numeric|dtype"),
        "object_strings": (np.full((3, N_FEATURES), "x", dtype=object),
                           r"(?i)string|convert|numeric|dtype"),
        "complex": (good.astype(np.complex128), r"(?i)complex"),
    }


BAD_INPUTS = _bad_inputs()


@pytest.mark.parametrize("call", sorted(CALLS))
@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_raises_value_error_and_leaves_fitted_model_unchanged(fitted, call, case):
    X, message = BAD_INPUTS[case]
    X_before = X.copy()
    before = fitted_state(fitted)
    with pytest.raises(ValueError, match=message):
        CALLS[call](fitted, X)
    assert_fitted_state_unchanged(fitted, before)
    np.testing.assert_array_equal(X, X_before)  # caller's array untouched
    # and the estimator still works
    assert fitted.transform(binary_data(3, N_FEATURES)).shape == (3, 4)


@pytest.mark.parametrize("call", sorted(set(CALLS) - {"fit"}))
@pytest.mark.parametrize("n_features", [N_FEATURES - 1, N_FEATURES + 2])
def test_wrong_number_of_features_raises_and_leaves_fitted_model_unchanged(fitted, call,
                                                                          n_features):
    X = binary_data(5, n_features, seed=8)
    before = fitted_state(fitted)
    with pytest.raises(ValueError, match=rf"{n_features} features.*{N_FEATURES}"):
        CALLS[call](fitted, X)
    assert_fitted_state_unchanged(fitted, before)


@pytest.mark.parametrize("call", sorted(set(CALLS) - {"fit", "partial_fit"}))
def test_methods_before_fit_raise_not_fitted_error(call):
    with pytest.raises(NotFittedError):
        CALLS[call](RBM(n_components=3), binary_data(4, 5))


@pytest.mark.parametrize("call", ["sample", "log_partition"])
def test_model_methods_before_fit_raise_not_fitted_error(call):
    with pytest.raises(NotFittedError):
        getattr(RBM(n_components=3), call)()


INVALID_PARAMS = [
    ("n_components", 0),
    ("n_components", -2),
    ("batch_size", 0),
    ("batch_size", -5),
    ("learning_rate", 0.0),
    ("learning_rate", -0.1),
    ("n_iter", -1),
    ("method", "ml"),
    ("visible", "poisson"),
    ("k", 0),
    ("k", -1),
    ("momentum", -0.1),
    ("momentum", 1.0),
    ("momentum", 1.5),
    ("weight_decay", -1e-4),
]


@pytest.mark.parametrize("name, value", INVALID_PARAMS)
def test_invalid_parameter_raises_at_fit_and_keeps_previous_fit(fitted, name, value):
    X = binary_data(20, N_FEATURES, seed=9)
    est = RBM(**{name: value})  # the constructor only stores
    assert est.get_params()[name] == value
    with pytest.raises(ValueError, match=name):
        est.fit(X)
    assert not hasattr(est, "components_")
    # an already fitted estimator keeps its model when a refit is refused
    before = fitted_state(fitted)
    fitted.set_params(**{name: value})
    with pytest.raises(ValueError, match=name):
        fitted.fit(X)
    assert_fitted_state_unchanged(fitted, before)


def test_invalid_parameter_error_is_sklearns_invalid_parameter_error():
    from sklearn.utils._param_validation import InvalidParameterError

    with pytest.raises(InvalidParameterError):
        RBM(n_components=0).fit(binary_data(5, 3))


def test_valid_boundary_parameters_are_accepted():
    X = binary_data(20, 5, seed=10)
    RBM(n_components=1, batch_size=1, n_iter=1, momentum=0.0, weight_decay=0.0, k=1).fit(X)
    RBM(n_components=2, momentum=0.99, weight_decay=0.5, n_iter=1).fit(X)


# ---------------------------------------------------------------------------------------------
# 6. memory layouts, lists, sparse input; the caller's X is never modified
# ---------------------------------------------------------------------------------------------
def _layout_variants(X):
    n, d = X.shape
    wide = np.zeros((n, 2 * d))
    wide[:, ::2] = X
    wide[:, 1::2] = 7.0  # garbage in the skipped columns
    tall = np.full((2 * n, d), 7.0)
    tall[::2] = X
    read_only = X.copy()
    read_only.setflags(write=False)
    variants = {
        "fortran": np.asfortranarray(X),
        "strided_columns": wide[:, ::2],
        "strided_rows": tall[::2],
        "read_only": read_only,
        "list": X.tolist(),
    }
    assert not variants["strided_columns"].flags.c_contiguous
    assert not variants["strided_rows"].flags.c_contiguous
    assert not variants["fortran"].flags.c_contiguous
    return variants


def _outputs(est, X):
    return {
        "transform": est.transform(X),
        "score_samples": est.score_samples(X),
        "free_energy": est.free_energy(X),
        "reconstruct": est.reconstruct(X),
        "log_likelihood": est.log_likelihood(X, method="exact"),
    }


LAYOUT_X = binary_data(60, 8, seed=11)


@pytest.mark.parametrize("variant", sorted(_layout_variants(LAYOUT_X)))
def test_non_contiguous_read_only_and_list_inputs_give_identical_results(variant):
    X = LAYOUT_X.copy()
    Xv = _layout_variants(X)[variant]
    Xv_before = copy.deepcopy(Xv)
    reference = RBM(n_components=5, n_iter=3, batch_size=7, random_state=0).fit(X)
    other = RBM(n_components=5, n_iter=3, batch_size=7, random_state=0).fit(Xv)
    assert_same_model(reference, other)
    ref_out = _outputs(reference, X)
    for name, value in _outputs(reference, Xv).items():
        assert value.tobytes() == ref_out[name].tobytes(), name
    # partial_fit from both layouts stays identical
    reference.partial_fit(X)
    other.partial_fit(Xv)
    assert_same_model(reference, other)
    # nothing was written into the caller's arrays
    if isinstance(Xv, list):
        assert Xv == Xv_before
    else:
        assert Xv.tobytes() == Xv_before.tobytes()
    np.testing.assert_array_equal(X, LAYOUT_X)


@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_sparse_input_gives_same_outputs_and_training_as_dense(fmt):
    X = binary_data(60, 8, seed=12, density=0.3)
    Xs = sp.csr_matrix(X) if fmt == "csr" else sp.csc_matrix(X)
    Xs_before = Xs.copy()
    dense = RBM(n_components=5, n_iter=3, batch_size=7, random_state=0).fit(X)
    sparse = RBM(n_components=5, n_iter=3, batch_size=7, random_state=0).fit(Xs)
    # A sparse kernel may add the same products in another order: differences are rounding
    # (~1e-16 relative per operation, a few hundred operations), and a Bernoulli draw u < p can
    # only change if u falls within that rounding of p (probability ~1e-15 per draw).
    for name in FITTED_ARRAYS:
        np.testing.assert_allclose(getattr(sparse, name), getattr(dense, name), rtol=1e-10,
                                   atol=1e-12, err_msg=name)
    dense_out = _outputs(dense, X)
    for name, value in _outputs(dense, Xs).items():
        assert isinstance(value, np.ndarray), name
        np.testing.assert_allclose(value, dense_out[name], rtol=1e-12, atol=1e-12, err_msg=name)
    # the caller's sparse matrix is untouched
    assert (Xs != Xs_before).nnz == 0
    assert Xs.format == fmt


def test_sparse_array_input_is_accepted():
    X = binary_data(30, 8, seed=13, density=0.3)
    est = RBM(n_components=4, n_iter=2, random_state=0).fit(X)
    np.testing.assert_allclose(est.transform(sp.csr_array(X)), est.transform(X), rtol=1e-12,
                               atol=1e-14)


def test_c_contiguous_input_is_never_modified():
    X = binary_data(60, 8, seed=14)
    X_before = X.copy()
    est = RBM(n_components=5, n_iter=2, batch_size=7, random_state=0).fit(X)
    est.partial_fit(X)
    _outputs(est, X)
    est.gibbs(X)
    assert X.tobytes() == X_before.tobytes()
    X32 = X.astype(np.float32)
    X32_before = X32.copy()
    est32 = RBM(n_components=5, n_iter=2, batch_size=7, random_state=0).fit(X32)
    est32.partial_fit(X32)
    _outputs(est32, X32)
    est32.gibbs(X32)
    assert X32.tobytes() == X32_before.tobytes()


# ---------------------------------------------------------------------------------------------
# 7. dtype rules
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "in_dtype, model_dtype",
    [
        (np.float32, np.float32),
        (np.float64, np.float64),
        (np.int64, np.float64),
        (np.int32, np.float64),
        (np.bool_, np.float64),
        (np.float16, np.float64),
    ],
)
def test_model_and_output_dtype_follow_input_dtype(in_dtype, model_dtype):
    X = binary_data(40, 7, seed=15).astype(in_dtype)
    est = RBM(n_components=4, n_iter=2, batch_size=10, random_state=0).fit(X)
    for name in FITTED_ARRAYS:
        assert getattr(est, name).dtype == model_dtype, name
    outputs = _outputs(est, X)
    # free energies and log-likelihoods are checked separately below
    del outputs["free_energy"], outputs["log_likelihood"]
    outputs["gibbs"] = est.gibbs(X)
    outputs["sample"] = est.sample(n_samples=5, n_steps=3)
    outputs["sample_means"] = est.sample(n_samples=5, n_steps=3, return_means=True)
    outputs["fit_transform"] = RBM(n_components=4, n_iter=1, random_state=0).fit_transform(X)
    for name, value in outputs.items():
        assert value.dtype == model_dtype, name
    if model_dtype == np.float64 and in_dtype != np.float64:
        # integer / bool / half input is converted to float64 exactly: same model as float64 X
        reference = RBM(n_components=4, n_iter=2, batch_size=10, random_state=0).fit(
            X.astype(np.float64))
        assert_same_model(est, reference)


def test_free_energy_and_log_likelihood_follow_the_model_dtype():
    # The spec: "float32 X -> float32 model & outputs".
    X = binary_data(40, 7, seed=15)
    for dtype in (np.float32, np.float64):
        est = RBM(n_components=4, n_iter=2, batch_size=10, random_state=0).fit(X.astype(dtype))
        assert est.free_energy(X.astype(dtype)).dtype == dtype
        assert est.log_likelihood(X.astype(dtype), method="exact").dtype == dtype


def test_read_only_fitted_arrays_still_serve_inference():
    # e.g. a model loaded with joblib.load(..., mmap_mode="r"), or shared between processes:
    # methods that only read the parameters must not need writeable arrays.
    X = binary_data(40, 7, seed=23)
    est = RBM(n_components=4, n_iter=2, batch_size=10, random_state=0).fit(X)
    expected = _outputs(est, X)
    expected_log_z = est.log_partition("exact")
    for name in FITTED_ARRAYS:
        getattr(est, name).setflags(write=False)
    for name, value in _outputs(est, X).items():
        assert value.tobytes() == expected[name].tobytes(), name
    assert est.log_partition("exact") == expected_log_z
    assert est.gibbs(X).shape == X.shape
    assert est.sample(n_samples=3, n_steps=2).shape == (3, 7)


def test_float32_model_trains_close_to_float64_model():
    X = binary_data(200, 10, seed=16)
    est64 = RBM(n_components=5, n_iter=1, batch_size=20, random_state=0).fit(X)
    est32 = RBM(n_components=5, n_iter=1, batch_size=20, random_state=0).fit(X.astype(np.float32))
    # one short epoch from the same initial weights; a Bernoulli draw may differ where float32
    # and float64 probabilities straddle the uniform, so compare loosely (weights move ~0.1)
    np.testing.assert_allclose(est32.components_, est64.components_, atol=0.05)
    assert np.isfinite(est32.components_).all()


# ---------------------------------------------------------------------------------------------
# 8. the GIL is released while the C core trains
# ---------------------------------------------------------------------------------------------
# One epoch = one C call: PCD-12 on 4000 x 400 -> 400 takes ~1 s with one BLAS thread here.
GIL_DATA = dict(n=4000, n_features=400, n_components=400, batch_size=20, k=12)


def test_gil_is_released_during_fit():
    X = binary_data(GIL_DATA["n"], GIL_DATA["n_features"], seed=17)
    est = RBM(n_components=GIL_DATA["n_components"], batch_size=GIL_DATA["batch_size"],
              k=GIL_DATA["k"], n_iter=1, random_state=0)
    stop = threading.Event()
    record = {"count": 0, "max_gap": 0.0}

    def counter():
        last = time.perf_counter()
        while not stop.is_set():
            now = time.perf_counter()
            record["max_gap"] = max(record["max_gap"], now - last)
            last = now
            record["count"] += 1

    with threadpool_limits(limits=1, user_api="blas"):
        worker = threading.Thread(target=counter, daemon=True)
        worker.start()
        time.sleep(0.05)
        count_before = record["count"]
        record["max_gap"] = 0.0
        t0 = time.perf_counter()
        est.fit(X)
        elapsed = time.perf_counter() - t0
        count_during = record["count"] - count_before
        max_gap = record["max_gap"]
        stop.set()
        worker.join()
    assert elapsed > 0.4, "fit too fast for the test to mean anything; enlarge GIL_DATA"
    # With the GIL held for the whole epoch the counter would stall for `elapsed` seconds; with
    # it released, the counter thread only waits for the interpreter's 5 ms switch interval
    # around the Python parts of fit (and OS scheduling on 2 cores).
    assert count_during > 1000
    assert max_gap < 0.3 * elapsed, (max_gap, elapsed)


# ---------------------------------------------------------------------------------------------
# 9. Ctrl-C during fit
# ---------------------------------------------------------------------------------------------
# Two epoch lengths (unloaded machine): ~5 ms epochs (about a hundred finish before the signal,
# which then almost surely lands inside a short C call) and ~0.2 s epochs (the signal lands in
# the middle of an epoch).  In both cases n_iter epochs take far longer than the 0.5 s delay.
SIGINT_CASES = {
    "short_epochs": dict(n=1000, n_features=100, n_components=100, batch_size=20, k=1,
                         n_iter=2000),
    "long_epochs": dict(n=3000, n_features=300, n_components=300, batch_size=20, k=4,
                        n_iter=40),
}


@pytest.mark.parametrize("case", sorted(SIGINT_CASES))
def test_keyboard_interrupt_keeps_last_finished_epoch_and_model_usable(case):
    cfg = SIGINT_CASES[case]
    X = binary_data(cfg["n"], cfg["n_features"], seed=18)
    params = dict(n_components=cfg["n_components"], batch_size=cfg["batch_size"], k=cfg["k"],
                  random_state=0, verbose=0)
    est = RBM(n_iter=cfg["n_iter"], **params)
    previous_handler = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(0.5, os.kill, args=(os.getpid(), signal.SIGINT))
    try:
        t0 = time.perf_counter()
        timer.start()
        with pytest.raises(KeyboardInterrupt):
            est.fit(X)
        raised_after = time.perf_counter() - t0
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, previous_handler)
    n_done = len(est.history_["epoch"])
    assert n_done < cfg["n_iter"]
    assert est.history_["epoch"] == list(range(1, n_done + 1))
    assert all(len(v) == n_done for v in est.history_.values())
    # interrupted promptly: within a few epochs of the signal, not at the end of n_iter epochs
    per_epoch = float(np.mean(est.history_["time"])) if n_done else raised_after
    assert raised_after < 0.5 + 3 * per_epoch + 1.0
    for name in FITTED_ARRAYS:
        assert np.isfinite(getattr(est, name)).all(), name
    Z = est.transform(X[:10])
    assert Z.shape == (10, cfg["n_components"]) and np.isfinite(Z).all()
    # "keeps the last finished epoch": the parameters are exactly those after the n_done epochs
    # that history_ reports (the random stream of epoch e does not depend on n_iter), so an
    # epoch that ran to completion but is missing from history_ (or a half-done epoch) fails.
    reference = RBM(n_iter=n_done, **params).fit(X)
    for name in FITTED_ARRAYS:
        assert getattr(est, name).tobytes() == getattr(reference, name).tobytes(), (
            f"{name}: the interrupted model is not the model after the {n_done} epochs "
            f"recorded in history_")


# ---------------------------------------------------------------------------------------------
# 10. verbose output
# ---------------------------------------------------------------------------------------------
VERBOSE_LINE = re.compile(
    r"^\[RBM\] Iteration (\d+), pseudo-likelihood = (-?\d+\.\d\d), time = (\d+\.\d\d)s$")


def test_verbose_prints_sklearn_format_lines(capfd):
    X = binary_data(50, 9, seed=19)
    est = RBM(n_components=4, n_iter=3, verbose=1, random_state=0).fit(X)
    lines = [line for line in capfd.readouterr().out.splitlines() if line.strip()]
    assert len(lines) == 3, lines
    matches = [VERBOSE_LINE.match(line) for line in lines]
    assert all(matches), lines
    assert [int(m.group(1)) for m in matches] == [1, 2, 3]
    printed = [float(m.group(2)) for m in matches]
    assert printed == [float("%.2f" % v) for v in est.history_["pseudo_likelihood"]]
    # The figure is a pseudo-likelihood of the training rows (pydbn draws its own flipped bits,
    # on at most 1000 rows): a mean over rows of -V softplus(F(v) - F(v')) for one flipped bit
    # per row, so it lies between the row-wise minimum and maximum over all V possible flips,
    # computed here from the final parameters with our own free energy.
    W, b, c = en.model_arrays(est)
    V = X.shape[1]
    F = en.free_energy_formula(X, W, b, c)
    per_flip = np.empty((len(X), V))
    for i in range(V):
        Xf = X.copy()
        Xf[:, i] = 1 - Xf[:, i]
        per_flip[:, i] = -V * np.logaddexp(0.0, F - en.free_energy_formula(Xf, W, b, c))
    last = est.history_["pseudo_likelihood"][-1]
    assert per_flip.min(axis=1).mean() - 1e-9 <= last <= per_flip.max(axis=1).mean() + 1e-9
    RBM(n_components=4, n_iter=2, verbose=0, random_state=0).fit(X)
    assert capfd.readouterr().out == ""


def test_history_records_every_epoch():
    X = binary_data(50, 9, seed=20)
    est = RBM(n_components=4, n_iter=4, random_state=0).fit(X)
    assert set(est.history_) >= {"epoch", "pseudo_likelihood", "time"}
    assert est.history_["epoch"] == [1, 2, 3, 4]
    assert len(est.history_["pseudo_likelihood"]) == 4
    assert np.isfinite(est.history_["pseudo_likelihood"]).all()
    assert all(t >= 0 for t in est.history_["time"])
    np.testing.assert_allclose(est.visible_mean_, X.mean(axis=0), rtol=1e-12)
    assert est.n_features_in_ == 9


# ---------------------------------------------------------------------------------------------
# 11. partial_fit
# ---------------------------------------------------------------------------------------------
def test_partial_fit_initialises_on_first_call_and_returns_self():
    X = binary_data(90, 12, seed=21)
    est = RBM(n_components=5, batch_size=10, random_state=0)
    assert not hasattr(est, "components_")
    assert est.partial_fit(X[:30]) is est
    assert est.components_.shape == (5, 12)
    assert est.intercept_hidden_.shape == (5,)
    assert est.intercept_visible_.shape == (12,)
    assert est.h_samples_.shape == (10, 5)
    assert est.n_features_in_ == 12
    assert est.n_samples_seen_ == 30
    W1 = est.components_.copy()
    assert est.partial_fit(X[30:60]) is est
    assert est.partial_fit(X[60:]) is est
    assert est.n_samples_seen_ == 90
    assert not np.array_equal(W1, est.components_)
    assert np.isfinite(est.components_).all()


def test_partial_fit_continues_from_fit_instead_of_reinitialising():
    X = binary_data(100, 12, seed=22)
    est = RBM(n_components=5, n_iter=5, random_state=0).fit(X)
    W = est.components_.copy()
    est.set_params(learning_rate=1e-9)
    est.partial_fit(X)
    # a re-initialisation would draw fresh small random weights, ~1e-2 away from W
    np.testing.assert_allclose(est.components_, W, rtol=0, atol=1e-6)
    assert not np.array_equal(est.components_, W)


def test_partial_fit_on_chunks_learns_digits():
    X = (load_digits().data / 16 > 0.5).astype(np.float64)
    est = RBM(n_components=32, batch_size=10, learning_rate=0.05, random_state=0)
    est.partial_fit(X[:10])
    initial = est.score_samples(X).mean()
    for _ in range(3):
        for start in range(0, len(X), 300):
            est.partial_fit(X[start:start + 300])
    trained = est.score_samples(X).mean()
    # an untrained model scores about -64 * log 2 = -44 nats; a few passes reach ~-25
    assert initial < -35
    assert trained > initial + 8


# ---------------------------------------------------------------------------------------------
# method='vpf': the layered-Boltzmann-machine kernel of pydbn.VPF
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_vpf_method_is_the_vpf_estimator_with_one_hidden_layer(dtype):
    from pydbn import VPF

    X = binary_data(150, 12, seed=3, dtype=dtype)
    kw = dict(learning_rate=1e-3, n_iter=3, batch_size=20, weight_decay=1e-4, random_state=5)
    rbm = RBM(6, method="vpf", **kw).fit(X)
    vpf = VPF(6, **kw).fit(X)
    # the same initialization, random streams, E-step, MPF gradient and Adam steps: identical
    np.testing.assert_array_equal(rbm.components_, vpf.components_[0])
    np.testing.assert_array_equal(rbm.intercept_visible_, vpf.intercepts_[0])
    np.testing.assert_array_equal(rbm.intercept_hidden_, vpf.intercepts_[1])
    assert rbm.components_.dtype == dtype
    # and training moved the model (the test would pass trivially with n_iter ignored):
    # 3 epochs x 8 minibatches of Adam steps of 1e-3 move a weight by up to ~0.024
    init = RBM(6, method="vpf", **dict(kw, n_iter=0)).fit(X)
    assert np.abs(rbm.components_ - init.components_).max() > 0.01
    # partial_fit continues the same Adam state: one more epoch each stays identical
    rbm.partial_fit(X)
    vpf.partial_fit(X)
    np.testing.assert_array_equal(rbm.components_, vpf.components_[0])


def test_vpf_method_lowers_the_flow_objective_on_digits():
    from sklearn.datasets import load_digits

    from pydbn import VPF

    X = (load_digits().data[:500] / 16 > 0.5).astype(np.float64)
    rbm = RBM(16, method="vpf", learning_rate=1e-3, n_iter=10, batch_size=40, random_state=0)
    rbm.fit(X)
    # score the RBM's parameters through the VPF estimator's objective (an E-step sample and
    # the MPF objective of the completed rows, a mean over rows and units): it falls from
    # about 1 at the initialization; 10 epochs here take it to about 0.8 of that
    probe = VPF(16, n_iter=0, random_state=0).fit(X)
    start = probe.objective(X)
    probe.components_[0][...] = rbm.components_
    probe.intercepts_[0][...] = rbm.intercept_visible_
    probe.intercepts_[1][...] = rbm.intercept_hidden_
    assert start == pytest.approx(1.0, rel=0.02)
    assert probe.objective(X) < 0.9 * start


def test_vpf_method_needs_binary_visible_units_and_keeps_a_fitted_model():
    X = binary_data(40, 6)
    est = RBM(3, n_iter=1, random_state=0).fit(X)
    before = est.components_.copy()
    est.set_params(method="vpf", visible="gaussian")
    with pytest.raises(ValueError, match="binary visible units"):
        est.fit(X)
    with pytest.raises(ValueError, match="binary visible units"):
        est.partial_fit(X)
    np.testing.assert_array_equal(est.components_, before)



# ---------------------------------------------------------------------------------------------
# reconstruct with a mask (the corrupted-image protocol of pydbn.metrics)
# ---------------------------------------------------------------------------------------------
def test_masked_reconstruct_keeps_known_entries_and_matches_the_exact_one_step_expectation():
    rng = np.random.default_rng(2)
    est = RBM(3, n_iter=0, random_state=0).fit(binary_data(10, 5))
    W = rng.normal(0, 4.0, (3, 5))  # strong weights: p(v | h) far from linear in h
    b, c = rng.normal(0, 1, 5), rng.normal(0, 1, 3)
    est.components_[...] = W
    est.intercept_visible_[...] = b
    est.intercept_hidden_[...] = c
    x = np.array([1.0, 0.0, 1.0, 1.0, 0.0])
    mask_row = np.array([False, True, False, True, True])
    n = 200_000
    X = np.repeat(x[None, :], n, axis=0)
    mask = np.repeat(mask_row[None, :], n, axis=0)
    out = est.reconstruct(X, mask, n_gibbs=1, random_state=0)
    np.testing.assert_array_equal(out[:, ~mask_row], X[:, ~mask_row])
    assert np.all((out[:, mask_row] > 0) & (out[:, mask_row] < 1))
    # one step from v = x: h ~ p(h | x), output sigmoid(b + W'h) on the unknown entries; the
    # expectation by enumerating the 8 hidden states
    H = en.binary_states(3)
    ph = 1 / (1 + np.exp(-(c + W @ x)))
    weights = np.prod(np.where(H == 1, ph, 1 - ph), axis=1)
    expected = weights @ (1 / (1 + np.exp(-(b + H @ W))))
    # each output lies in [0, 1]: Hoeffding, 5 sigma-like margin over n rows
    tol = np.sqrt(np.log(2 / 1e-6) / (2 * n))
    np.testing.assert_allclose(out[:, mask_row].mean(axis=0), expected[mask_row], atol=tol)
    # test power: the answer differs from the unclamped mean-field reconstruction
    assert np.abs(est.reconstruct(x[None, :])[0, mask_row] - expected[mask_row]).max() > 3 * tol


def test_masked_reconstruct_errors_and_streams():
    X = binary_data(30, 6)
    est = RBM(4, n_iter=2, random_state=0).fit(X)
    mask = np.zeros_like(X, dtype=bool)
    mask[:, :2] = True
    with pytest.raises(ValueError, match="mask must have"):
        est.reconstruct(X, mask[:, :3])
    with pytest.raises(ValueError, match="boolean"):
        est.reconstruct(X, np.full(X.shape, 2))
    with pytest.raises(ValueError, match="n_gibbs"):
        est.reconstruct(X, mask, n_gibbs=0)
    a = est.reconstruct(X, mask, n_gibbs=3, random_state=1)
    np.testing.assert_array_equal(a, est.reconstruct(X, mask, n_gibbs=3, random_state=1))
    assert not np.array_equal(a, est.reconstruct(X, mask, n_gibbs=3, random_state=2))
    # no mask: the mean-field reconstruction, as before
    np.testing.assert_allclose(
        est.reconstruct(X),
        1 / (1 + np.exp(-(est.intercept_visible_
                          + (1 / (1 + np.exp(-(X @ est.components_.T + est.intercept_hidden_))))
                          @ est.components_))), rtol=1e-10)
    gauss = RBM(3, visible="gaussian", n_iter=1, learning_rate=0.01, random_state=0).fit(X)
    with pytest.raises(ValueError, match="binary visible units"):
        gauss.reconstruct(X, mask)


# ---------------------------------------------------------------------------------------------
# learning_rate_decay
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["pcd", "cd", "vpf"])
def test_epoch_t_runs_at_learning_rate_over_one_plus_decay_t(method):
    X = binary_data(60, 8, seed=5)
    lr = 1e-3 if method == "vpf" else 0.05
    base = dict(n_iter=0, batch_size=10, method=method, random_state=2)
    # three epochs with decay d equal three partial_fit epochs at lr, lr/(1+d), lr/(1+2d)
    decayed = RBM(4, learning_rate=lr, learning_rate_decay=0.5, **dict(base, n_iter=3)).fit(X)
    manual = RBM(4, learning_rate=lr, **base).fit(X)
    for t in range(3):
        manual.set_params(learning_rate=lr / (1 + 0.5 * t)).partial_fit(X)
    np.testing.assert_allclose(decayed.components_, manual.components_, rtol=1e-12, atol=0)
    # the decay is not silently ignored
    constant = RBM(4, learning_rate=lr, **dict(base, n_iter=3)).fit(X)
    assert not np.allclose(constant.components_, decayed.components_)
    # decay 0 is the constant rate exactly
    zero = RBM(4, learning_rate=lr, learning_rate_decay=0.0, **dict(base, n_iter=3)).fit(X)
    np.testing.assert_array_equal(zero.components_, constant.components_)


@pytest.mark.parametrize("method", ["pcd", "cd", "vpf"])
def test_linear_schedule_holds_the_rate_for_half_the_epochs_then_anneals(method):
    X = binary_data(60, 8, seed=5)
    lr = 1e-3 if method == "vpf" else 0.05
    base = dict(n_iter=0, batch_size=10, method=method, random_state=2)
    # n_iter=5: hold 2 epochs, then lr * (5 - t) / 3 for t = 2, 3, 4; a further partial_fit
    # keeps the last rate, lr / 3
    rates = [lr, lr, lr, lr * 2 / 3, lr / 3, lr / 3]
    annealed = RBM(4, learning_rate=lr, learning_rate_schedule="linear",
                   learning_rate_decay=7.0,  # ignored by 'linear'
                   **dict(base, n_iter=5)).fit(X)
    annealed.partial_fit(X)
    manual = RBM(4, learning_rate=lr, **base).fit(X)
    for rate in rates:
        manual.set_params(learning_rate=rate).partial_fit(X)
    np.testing.assert_allclose(annealed.components_, manual.components_, rtol=1e-12, atol=0)
    held = RBM(4, learning_rate=lr, **dict(base, n_iter=5)).fit(X)
    held.partial_fit(X)
    assert not np.allclose(annealed.components_, held.components_)
