"""pydbn.DBM as a scikit-learn estimator: API conventions, pipelines, parameter and input
validation, dtypes, sparse input, transform/mean_field/sample API, history_, verbose output,
the learning-rate schedule, partial_fit, pre-training attributes, persistence, read-only
models, likelihood argument errors and Ctrl-C.

Enumeration-based correctness (likelihoods, log Z, the mean-field fixed point, the sampler's
distribution, expected updates) lives in test_dbm_exact.py; this file checks the estimator's
contracts."""

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
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks
from threadpoolctl import threadpool_limits

import pydbn.dbm as dbm_module
from pydbn import DBM, RBM


def binary_data(n, n_features, seed=0, density=0.5, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return (rng.random((n, n_features)) < density).astype(dtype)


SMALL = dict(hidden_layer_sizes=(8, 4), n_iter=2, n_chains=10, batch_size=10,
             pretrain_n_iter=2, random_state=0)


def small(**kw):
    return DBM(**dict(SMALL, **kw))


def model_arrays(dbm, velocity=True):
    """Every fitted parameter / state array of the DBM, with a name."""
    out = {}
    for i, w in enumerate(dbm.components_):
        out[f"components_[{i}]"] = w
    for i, b in enumerate(dbm.intercepts_):
        out[f"intercepts_[{i}]"] = b
    for i, c in enumerate(dbm.chains_):
        out[f"chains_[{i}]"] = c
    if velocity and dbm._velocity is not None:
        vw, vb = dbm._velocity
        for i, v in enumerate(vw):
            out[f"_velocity_w[{i}]"] = v
        for i, v in enumerate(vb):
            out[f"_velocity_b[{i}]"] = v
    return out


def snapshot(dbm):
    return {k: v.copy() for k, v in model_arrays(dbm).items()}


def assert_same_model(a, b, exact=True, rtol=1e-10, atol=1e-12):
    pa = a if isinstance(a, dict) else model_arrays(a)
    pb = b if isinstance(b, dict) else model_arrays(b)
    assert pa.keys() == pb.keys()
    for name in pa:
        x, y = pa[name], pb[name]
        assert x.dtype == y.dtype and x.shape == y.shape, name
        if exact:
            assert x.tobytes() == y.tobytes(), f"{name} differs"
        else:
            np.testing.assert_allclose(x, y, rtol=rtol, atol=atol, err_msg=name)


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


HISTORY_KEYS = {"epoch", "reconstruction_error", "mean_field_sweeps", "mean_field_time",
                "gibbs_time", "time"}


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return (X / 16.0 > 0.5).astype(np.float64), y


@pytest.fixture(scope="module")
def fitted_module():
    """A fitted (12 -> 8 -> 6 -> 4) model shared by read-only tests (do not modify)."""
    X = binary_data(60, 12, seed=1)
    return DBM((8, 6, 4), n_iter=3, n_chains=10, batch_size=10, pretrain_n_iter=2,
               random_state=0).fit(X), X


# ---------------------------------------------------------------------------------------------
# 1. scikit-learn's estimator checks
# ---------------------------------------------------------------------------------------------
@parametrize_with_checks(
    [
        small(),
        small(pretrain=False),
        small(transform_layers="all", momentum=0.0),
    ],
    xfail_strict=True,
)
def test_sklearn_estimator_checks_pass(estimator, check):
    check(estimator)


# ---------------------------------------------------------------------------------------------
# 2. pipeline
# ---------------------------------------------------------------------------------------------
def test_pipeline_with_logistic_regression_learns_digits(digits):
    X, y = digits
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
    pipe = Pipeline([
        ("dbm", DBM((32, 16), n_iter=3, pretrain_n_iter=20, batch_size=20, n_chains=20,
                    random_state=0)),
        ("lr", LogisticRegression(max_iter=1000)),
    ])
    with threadpool_limits(1):
        pipe.fit(Xtr, ytr)
        score = pipe.score(Xte, yte)
    dbm = pipe.named_steps["dbm"]
    assert [w.shape for w in dbm.components_] == [(32, 64), (16, 32)]
    assert dbm.transform(Xte[:5]).shape == (5, 16)
    assert pipe.predict(Xte[:10]).shape == (10,)
    # 10 classes: chance is 0.1; held-out accuracy over random_state 0..5 was 0.78 - 0.79
    # (0.64 - 0.66 with pretrain_n_iter=10)
    assert score > 0.6


# ---------------------------------------------------------------------------------------------
# 3. parameter validation
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("sizes", [(8,), [8], np.array([8])], ids=["tuple", "list", "array"])
def test_a_single_hidden_layer_is_rejected_pointing_to_rbm(sizes):
    X = binary_data(30, 8, seed=2)
    dbm = DBM(sizes, n_iter=1, random_state=0)
    with pytest.raises(ValueError, match="RBM"):
        dbm.fit(X)
    assert not hasattr(dbm, "components_")
    with pytest.raises(ValueError, match="RBM"):
        DBM(sizes, random_state=0).partial_fit(X)


BAD_SIZES = [8, (), (8, 0), (0, 4), (8, -1), (-3, 4), (8, 2.5), (True, 4), (8, 4, 0),
             ("8", 4), (8, None)]


@pytest.mark.parametrize("sizes", BAD_SIZES, ids=[repr(s) for s in BAD_SIZES])
def test_invalid_hidden_layer_sizes_raise_and_keep_the_previous_fit(sizes):
    X = binary_data(30, 8, seed=2)
    dbm = DBM(sizes, n_iter=1, random_state=0)
    assert dbm.get_params()["hidden_layer_sizes"] is sizes  # the constructor only stores
    with pytest.raises(ValueError, match="hidden_layer_sizes"):
        dbm.fit(X)
    assert not hasattr(dbm, "components_")
    fitted = small().fit(X)
    before = snapshot(fitted)
    H = fitted.transform(X)
    fitted.set_params(hidden_layer_sizes=sizes)
    with pytest.raises(ValueError, match="hidden_layer_sizes"):
        fitted.fit(X)
    assert_same_model(fitted, before)
    fitted.set_params(hidden_layer_sizes=(8, 4))
    assert fitted.transform(X).tobytes() == H.tobytes()


@pytest.mark.parametrize("sizes", [(8, 4), [8, 4], np.array([8, 4]), (np.int64(8), 4),
                                   (5, 4, 3, 2)])
def test_valid_hidden_layer_sizes_give_one_weight_matrix_per_pair_of_layers(sizes):
    X = binary_data(30, 8, seed=3)
    dbm = DBM(sizes, n_iter=1, n_chains=5, batch_size=10, pretrain_n_iter=1,
              random_state=0).fit(X)
    widths = [8] + [int(s) for s in sizes]
    assert [w.shape for w in dbm.components_] == list(zip(widths[1:], widths[:-1]))
    assert [b.shape for b in dbm.intercepts_] == [(n,) for n in widths]
    assert [c.shape for c in dbm.chains_] == [(5, n) for n in widths]
    assert dbm.transform(X).shape == (30, widths[-1])


INVALID = [
    ("learning_rate", 0.0),
    ("learning_rate", -0.1),
    ("learning_rate_decay", -1.0),
    ("batch_size", 0),
    ("batch_size", 2.5),
    ("n_iter", -1),
    ("n_mean_field", 0),
    ("mean_field_tol", -1e-3),
    ("n_chains", 0),
    ("k", 0),
    ("pretrain", "yes"),
    ("pretrain_n_iter", -1),
    ("pretrain_learning_rate", 0.0),
    ("momentum", 1.0),
    ("momentum", -0.1),
    ("weight_decay", -1e-4),
    ("transform_layers", "bottom"),
    ("random_state", "seed"),
]


@pytest.mark.parametrize("name, value", INVALID, ids=[f"{n}={v!r}" for n, v in INVALID])
def test_invalid_parameter_raises_value_error_naming_it_and_keeps_previous_fit(name, value):
    X = binary_data(30, 8, seed=4)
    dbm = small(**{name: value})  # the constructor only stores
    assert dbm.get_params()[name] == value
    with pytest.raises(ValueError, match=name):
        dbm.fit(X)
    assert not hasattr(dbm, "components_")
    with pytest.raises(ValueError, match=name):
        small(**{name: value}).partial_fit(X)
    fitted = small().fit(X)
    before = snapshot(fitted)
    history = copy.deepcopy(fitted.history_)
    H = fitted.transform(X)
    original = fitted.get_params()[name]
    fitted.set_params(**{name: value})
    with pytest.raises(ValueError, match=name):
        fitted.fit(X)
    assert_same_model(fitted, before)
    assert fitted.history_ == history
    fitted.set_params(**{name: original})
    assert fitted.transform(X).tobytes() == H.tobytes()


# partial_fit validates parameters itself (scikit-learn skips it once fitted)
INVALID_FOR_PARTIAL_FIT = [
    ("learning_rate", 0.0), ("momentum", 1.0), ("k", 0), ("n_mean_field", 0),
    ("weight_decay", -1e-4), ("mean_field_tol", -1e-3),
    ("learning_rate_decay", -0.1), ("learning_rate_decay", -1.0), ("batch_size", 2.5),
    ("n_chains", 0), ("transform_layers", "bottom"),
]


@pytest.mark.parametrize("name, value", INVALID_FOR_PARTIAL_FIT)
def test_invalid_parameter_set_after_fit_is_refused_by_partial_fit(name, value):
    X = binary_data(30, 8, seed=4)
    fitted = small().fit(X)
    before = snapshot(fitted)
    history = copy.deepcopy(fitted.history_)
    fitted.set_params(**{name: value})
    with pytest.raises(ValueError, match=name):
        fitted.partial_fit(X)
    assert_same_model(fitted, before)
    assert fitted.history_ == history
    assert fitted.n_samples_seen_ == 30


def test_boundary_parameter_values_are_accepted():
    X = binary_data(30, 8, seed=5)
    dbm = small(n_iter=0, pretrain_n_iter=0, learning_rate_decay=0.0, momentum=0.0,
                mean_field_tol=0.0, weight_decay=0.0, n_chains=1, k=1, batch_size=1,
                n_mean_field=1).fit(X)
    assert dbm.history_["epoch"] == []
    dbm.set_params(n_iter=1).fit(X)
    assert dbm.history_["epoch"] == [1]
    assert dbm.history_["mean_field_sweeps"] == [1.0]  # n_mean_field=1: exactly one sweep
    assert np.isfinite(dbm.transform(X)).all()


# ---------------------------------------------------------------------------------------------
# 4. dtypes
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "in_dtype, model_dtype",
    [(np.float32, np.float32), (np.float64, np.float64), (np.int64, np.float64),
     (np.int32, np.float64), (np.bool_, np.float64)],
)
def test_model_and_output_dtype_follow_input_dtype(in_dtype, model_dtype):
    X = binary_data(60, 10, seed=6).astype(in_dtype)
    dbm = small().fit(X)
    for name, arr in model_arrays(dbm).items():
        assert arr.dtype == model_dtype, name
    for r in dbm.rbms_:
        assert r.components_.dtype == model_dtype
    assert dbm.transform(X).dtype == model_dtype
    assert all(m.dtype == model_dtype for m in dbm.mean_field(X))
    assert dbm.set_params(transform_layers="all").transform(X).dtype == model_dtype
    assert dbm.fit_transform(X).dtype == model_dtype
    assert dbm.sample(3, n_gibbs=2).dtype == model_dtype
    assert dbm.sample(3, n_gibbs=2, return_means=True).dtype == model_dtype
    # likelihoods are documented float64
    assert dbm.lower_bound(X, log_z=0.0).dtype == np.float64
    assert dbm.log_likelihood(X, method="exact").dtype == np.float64
    assert isinstance(dbm.log_partition("exact"), float)
    # input of another dtype is converted to the model's
    other = np.float64 if model_dtype == np.float32 else np.float32
    assert dbm.transform(X.astype(other)).dtype == model_dtype
    if in_dtype not in (np.float32, np.float64):
        # integer / bool input is converted exactly: the same model as float64 input
        reference = small(transform_layers="all").fit(X.astype(np.float64))
        assert_same_model(dbm, reference)
        assert dbm.history_["reconstruction_error"] == reference.history_["reconstruction_error"]


def test_float32_model_trains_close_to_float64_model():
    X = binary_data(100, 10, seed=7)
    d64 = small(n_iter=1).fit(X)
    d32 = small(n_iter=1).fit(X.astype(np.float32))
    for w32, w64 in zip(d32.components_, d64.components_):
        np.testing.assert_allclose(w32, w64, atol=0.05)
    np.testing.assert_allclose(d32.transform(X), d64.transform(X), atol=0.05)


# ---------------------------------------------------------------------------------------------
# 5. sparse input
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("pretrain", [True, False])
def test_sparse_csr_input_gives_the_same_model_and_outputs_as_dense(pretrain):
    X = binary_data(80, 15, seed=8, density=0.3)
    Xs = sp.csr_matrix(X)
    Xs_before = Xs.copy()
    kw = dict(hidden_layer_sizes=(6, 5, 4), n_iter=3, batch_size=7, n_chains=9,
              pretrain_n_iter=2, pretrain=pretrain, random_state=0)
    dense = DBM(**kw).fit(X)
    sparse = DBM(**kw).fit(Xs)
    # a sparse kernel may add the same products in another order: rounding differences only
    assert_same_model(sparse, dense, exact=False)
    np.testing.assert_allclose(sparse.history_["reconstruction_error"],
                               dense.history_["reconstruction_error"], rtol=1e-10)
    np.testing.assert_allclose(sparse.visible_mean_, dense.visible_mean_, rtol=1e-12)
    ref = dense.transform(X)
    for model in (dense, sparse):
        for data in (X, Xs, sp.csr_array(X), sp.csc_matrix(X)):
            np.testing.assert_allclose(model.transform(data), ref, rtol=1e-10, atol=1e-12)
            for a, b in zip(model.mean_field(data), dense.mean_field(X)):
                np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dense.lower_bound(Xs, log_z=1.5), dense.lower_bound(X, log_z=1.5),
                               rtol=1e-12)
    np.testing.assert_allclose(dense.log_likelihood(Xs, method="exact"),
                               dense.log_likelihood(X, method="exact"), rtol=1e-12)
    # partial_fit on sparse chunks continues identically too
    dense.partial_fit(X)
    sparse.partial_fit(Xs)
    assert_same_model(sparse, dense, exact=False)
    assert (Xs != Xs_before).nnz == 0 and Xs.format == "csr"


# ---------------------------------------------------------------------------------------------
# 6. transform, transform_layers, feature names, mean_field
# ---------------------------------------------------------------------------------------------
def test_transform_layers_all_concatenates_every_hidden_layer():
    X = binary_data(40, 12, seed=9)
    sizes = (7, 5, 3)
    kw = dict(n_iter=2, n_chains=10, batch_size=10, pretrain_n_iter=2, random_state=0)
    top = DBM(sizes, **kw).fit(X)
    every = DBM(sizes, transform_layers="all", **kw).fit(X)
    assert_same_model(top, every)  # transform_layers does not affect training
    H_top, H_all = top.transform(X), every.transform(X)
    assert H_top.shape == (40, 3)
    assert H_all.shape == (40, sum(sizes))
    names_top, names_all = top.get_feature_names_out(), every.get_feature_names_out()
    assert list(names_top) == ["dbm0", "dbm1", "dbm2"]
    assert list(names_all) == [f"dbm{i}" for i in range(sum(sizes))]
    # blocks bottom to top; the last is the top layer's output
    mu = every.mean_field(X)
    np.testing.assert_array_equal(H_all, np.hstack(mu))
    np.testing.assert_array_equal(H_all[:, -3:], H_top)
    np.testing.assert_array_equal(H_all[:, :7], mu[0])
    assert np.all((H_all >= 0) & (H_all <= 1))
    # the setting is read at transform time
    every.set_params(transform_layers="top")
    np.testing.assert_array_equal(every.transform(X), H_top)
    assert len(every.get_feature_names_out()) == 3
    top.set_params(transform_layers="all")
    assert top.transform(X).shape == (40, 15) and len(top.get_feature_names_out()) == 15


def test_mean_field_returns_one_array_per_hidden_layer(fitted_module):
    dbm, X = fitted_module
    mu = dbm.mean_field(X)
    assert isinstance(mu, list) and len(mu) == 3
    assert [m.shape for m in mu] == [(60, 8), (60, 6), (60, 4)]
    for m in mu:
        assert isinstance(m, np.ndarray) and m.dtype == np.float64
        assert np.all((m >= 0) & (m <= 1)) and np.isfinite(m).all()
        assert not np.all((m == 0) | (m == 1))  # probabilities, not states
    np.testing.assert_array_equal(dbm.transform(X), mu[-1])
    # rows are independent: a subset or a single row gives the same posterior
    sub = dbm.mean_field(X[10:13])
    for a, b in zip(sub, mu):
        np.testing.assert_allclose(a, b[10:13], rtol=1e-12, atol=1e-14)


def test_fit_transform_equals_fit_then_transform():
    X = binary_data(50, 10, seed=10)
    Z = small(random_state=1).fit_transform(X)
    dbm = small(random_state=1).fit(X)
    assert Z.tobytes() == dbm.transform(X).tobytes()


def test_fit_is_reproducible_and_seed_dependent():
    X = binary_data(60, 10, seed=11)
    a = small(random_state=7).fit(X)
    b = small(random_state=7).fit(X)
    c = small(random_state=8).fit(X)
    assert_same_model(a, b)
    assert a.history_["reconstruction_error"] == b.history_["reconstruction_error"]
    assert not np.array_equal(a.components_[0], c.components_[0])
    # refitting the same object replays the same fit, whatever happened in between
    a.sample(5, n_gibbs=2)
    a.partial_fit(X)
    a.fit(X)
    assert_same_model(a, b)
    # a RandomState instance is accepted
    assert small(random_state=np.random.RandomState(3)).fit(X).transform(X).shape == (60, 4)


def test_non_contiguous_and_list_input_give_identical_results():
    X = binary_data(60, 8, seed=12)
    wide = np.full((60, 16), 7.0)
    wide[:, ::2] = X
    ref = small().fit(X)
    for Xv in (wide[:, ::2], np.asfortranarray(X), X.tolist()):
        other = small().fit(Xv)
        assert_same_model(ref, other)
        assert other.transform(Xv).tobytes() == ref.transform(X).tobytes()


# ---------------------------------------------------------------------------------------------
# 7. sample()
# ---------------------------------------------------------------------------------------------
def test_sample_shape_dtype_and_values(fitted_module):
    dbm, _ = fitted_module
    dbm = copy.deepcopy(dbm)
    S = dbm.sample(25, n_gibbs=5)
    assert S.shape == (25, 12) and S.dtype == np.float64
    assert np.all((S == 0) | (S == 1))
    assert 0 < S.sum() < S.size
    M = dbm.sample(25, n_gibbs=5, return_means=True)
    assert M.shape == (25, 12) and M.dtype == np.float64
    assert np.all((M >= 0) & (M <= 1))
    assert not np.all((M == 0) | (M == 1))  # probabilities, not states
    assert dbm.sample(n_gibbs=2).shape == (100, 12)
    assert dbm.sample().shape == (100, 12)  # the defaults run


def test_sample_zero_samples(fitted_module):
    dbm, _ = fitted_module
    dbm = copy.deepcopy(dbm)
    for means in (False, True):
        S = dbm.sample(0, n_gibbs=3, return_means=means)
        assert S.shape == (0, 12) and S.dtype == np.float64


@pytest.mark.parametrize("kwargs", [dict(n_samples=-1), dict(n_samples=2.5), dict(n_gibbs=0),
                                    dict(n_gibbs=-2), dict(n_samples=True), dict(n_gibbs=1.5)])
def test_sample_invalid_counts_raise(fitted_module, kwargs):
    dbm, _ = fitted_module
    name = next(iter(kwargs))
    with pytest.raises(ValueError, match=name):
        dbm.sample(**kwargs)


def test_sample_random_streams():
    X = binary_data(80, 12, seed=13)
    dbm = small(random_state=5).fit(X)
    first = [dbm.sample(20, n_gibbs=3) for _ in range(3)]
    # 240 Bernoulli draws: successive calls without random_state continue the model's stream
    assert not np.array_equal(first[0], first[1])
    assert not np.array_equal(first[1], first[2])
    # the whole sequence is reproducible from the model's random_state
    again = small(random_state=5).fit(X)
    for a in first:
        assert a.tobytes() == again.sample(20, n_gibbs=3).tobytes()
    # an int random_state gives the same draw whatever came before
    s1 = dbm.sample(20, n_gibbs=3, random_state=11)
    dbm.sample(5, n_gibbs=3)
    s2 = dbm.sample(20, n_gibbs=3, random_state=11)
    assert s1.tobytes() == s2.tobytes()
    assert s1.tobytes() == again.sample(20, n_gibbs=3, random_state=11).tobytes()
    assert not np.array_equal(s1, dbm.sample(20, n_gibbs=3, random_state=12))
    m1 = dbm.sample(20, n_gibbs=3, random_state=11, return_means=True)
    assert m1.tobytes() == dbm.sample(20, n_gibbs=3, random_state=11,
                                      return_means=True).tobytes()
    # a RandomState instance advances: two draws from it differ
    rs = np.random.RandomState(0)
    assert not np.array_equal(dbm.sample(20, n_gibbs=3, random_state=rs),
                              dbm.sample(20, n_gibbs=3, random_state=rs))


CALLS_BEFORE_FIT = {
    "transform": lambda d: d.transform(binary_data(4, 5)),
    "mean_field": lambda d: d.mean_field(binary_data(4, 5)),
    "sample": lambda d: d.sample(3, n_gibbs=2),
    "log_partition": lambda d: d.log_partition("exact"),
    "lower_bound": lambda d: d.lower_bound(binary_data(4, 5), log_z=0.0),
    "log_likelihood": lambda d: d.log_likelihood(binary_data(4, 5), method="exact"),
    "get_feature_names_out": lambda d: d.get_feature_names_out(),
}


@pytest.mark.parametrize("call", sorted(CALLS_BEFORE_FIT))
def test_methods_before_fit_raise_not_fitted_error(call):
    with pytest.raises(NotFittedError):
        CALLS_BEFORE_FIT[call](small())


# ---------------------------------------------------------------------------------------------
# 8. history_ and verbose output
# ---------------------------------------------------------------------------------------------
def test_history_has_one_entry_per_epoch():
    X = binary_data(80, 12, seed=14)
    dbm = small(n_iter=4, n_mean_field=7).fit(X)
    h = dbm.history_
    assert set(h) == HISTORY_KEYS
    assert all(len(v) == 4 for v in h.values())
    assert h["epoch"] == [1, 2, 3, 4]
    assert all(1.0 <= s <= 7.0 for s in h["mean_field_sweeps"]), h["mean_field_sweeps"]
    assert all(np.isfinite(e) and 0.0 <= e <= 1.0 for e in h["reconstruction_error"])
    for key in ("mean_field_time", "gibbs_time", "time"):
        assert all(np.isfinite(t) and t >= 0 for t in h[key]), key
    for mf, gibbs, total in zip(h["mean_field_time"], h["gibbs_time"], h["time"]):
        assert mf + gibbs <= total + 1e-3  # parts of the epoch's wall time
    # the last reconstruction error is the final model's (at most 1000 rows: every row):
    # mean squared error of sigmoid(mu_1 W_0 + b_0)
    mu1 = dbm.mean_field(X)[0]
    recon = sigmoid(mu1 @ dbm.components_[0] + dbm.intercepts_[0])
    assert h["reconstruction_error"][-1] == pytest.approx(np.mean((X - recon) ** 2),
                                                          rel=1e-10)
    np.testing.assert_allclose(dbm.visible_mean_, X.mean(axis=0), rtol=1e-12)
    assert dbm.n_samples_seen_ == 80 and dbm.n_features_in_ == 12
    # n_iter=0: pre-training only, an empty history with every key
    empty = small(n_iter=0).fit(X)
    assert set(empty.history_) == HISTORY_KEYS
    assert all(v == [] for v in empty.history_.values())


def test_mean_field_sweeps_hit_the_cap_with_zero_tolerance():
    X = binary_data(60, 12, seed=15)
    capped = small(n_iter=3, n_mean_field=3, mean_field_tol=0.0).fit(X)
    assert capped.history_["mean_field_sweeps"] == [3.0, 3.0, 3.0]
    loose = small(n_iter=3, n_mean_field=50, mean_field_tol=0.5).fit(X)
    # a tolerance of 0.5 is met within a couple of sweeps, far below the cap
    assert all(1.0 <= s <= 3.0 for s in loose.history_["mean_field_sweeps"])


VERBOSE_LINE = re.compile(
    r"^\[DBM\] Iteration (\d+), reconstruction error = (\d\.\d{4}), mean-field sweeps = "
    r"(\d+\.\d), time = \d+\.\d\ds$")
PRETRAIN_LINE = re.compile(r"^\[DBM\] Pre-training layer (\d+): (\d+) units$")


def test_verbose_prints_pretraining_and_iteration_lines(capfd):
    X = binary_data(50, 10, seed=16)
    dbm = DBM((6, 5, 4), n_iter=3, pretrain_n_iter=2, n_chains=10, batch_size=10, verbose=1,
              random_state=0).fit(X)
    lines = [line for line in capfd.readouterr().out.splitlines() if line.strip()]
    pre = [(i, PRETRAIN_LINE.match(line)) for i, line in enumerate(lines)]
    pre = [(i, m) for i, m in pre if m]
    assert [(int(m.group(1)), int(m.group(2))) for _, m in pre] == [(1, 6), (2, 5), (3, 4)]
    # each layer's RBM reports its own epochs under its header
    assert [i for i, _ in pre] == [0, 3, 6]
    assert all(lines[i].startswith("[RBM] Iteration") for i in (1, 2, 4, 5, 7, 8)), lines
    its = [VERBOSE_LINE.match(line) for line in lines[9:]]
    assert len(its) == 3 and all(its), lines
    assert [int(m.group(1)) for m in its] == [1, 2, 3]
    assert [m.group(2) for m in its] == ["%.4f" % e for e in dbm.history_["reconstruction_error"]]
    assert [m.group(3) for m in its] == ["%.1f" % s for s in dbm.history_["mean_field_sweeps"]]
    # partial_fit reports its epoch too; verbose=0 prints nothing
    dbm.partial_fit(X)
    out = capfd.readouterr().out.strip().splitlines()
    assert len(out) == 1 and VERBOSE_LINE.match(out[0]) and "Iteration 4," in out[0]
    small().fit(X)
    small(pretrain=False).partial_fit(X)
    assert capfd.readouterr().out == ""


def test_verbose_without_pretraining_prints_only_iterations(capfd):
    X = binary_data(50, 10, seed=16)
    small(pretrain=False, verbose=1, n_iter=2).fit(X)
    lines = [line for line in capfd.readouterr().out.splitlines() if line.strip()]
    assert len(lines) == 2 and all(VERBOSE_LINE.match(line) for line in lines), lines


# ---------------------------------------------------------------------------------------------
# 9. the learning-rate schedule
# ---------------------------------------------------------------------------------------------
def _all_params(dbm):
    return np.concatenate([a.ravel() for a in dbm.components_ + dbm.intercepts_])


@pytest.mark.parametrize("pretrain", [True, False])
def test_huge_learning_rate_decay_freezes_the_model_after_the_first_epoch(pretrain):
    # Without momentum, epoch t moves the parameters by learning_rate / (1 + decay * t) times
    # the gradient estimates: with decay 1e9 the epochs after the first barely move them.
    X = binary_data(100, 12, seed=17)
    kw = dict(learning_rate=0.05, momentum=0.0, pretrain=pretrain)
    one = small(n_iter=1, **kw).fit(X)
    one_decayed = small(n_iter=1, learning_rate_decay=1e9, **kw).fit(X)
    # the first epoch uses the full rate whatever the decay
    assert_same_model(one, one_decayed)
    free = small(n_iter=4, **kw).fit(X)
    frozen = small(n_iter=4, learning_rate_decay=1e9, **kw).fit(X)
    move_free = np.abs(_all_params(free) - _all_params(one)).max()
    move_frozen = np.abs(_all_params(frozen) - _all_params(one)).max()
    assert move_free > 1e-3
    assert move_frozen < 1e-6 * move_free, (move_frozen, move_free)
    # a moderate decay moves the parameters less than no decay (steps 1/2, 1/3, 1/4 as large)
    mild = small(n_iter=4, learning_rate_decay=1.0, **kw).fit(X)
    move_mild = np.abs(_all_params(mild) - _all_params(one)).max()
    assert move_frozen < move_mild < move_free


@pytest.mark.parametrize("momentum", [0.0, 0.5])
def test_epoch_t_uses_learning_rate_over_one_plus_decay_times_t(momentum):
    # fit(n_iter=3) with a decay equals one epoch at the base rate followed by partial_fit
    # epochs at the rates the documented schedule gives (decay 0 from then on).
    X = binary_data(60, 10, seed=18)
    lr, decay = 0.04, 0.7
    kw = dict(momentum=momentum, learning_rate=lr)
    decayed = small(n_iter=3, learning_rate_decay=decay, **kw).fit(X)
    stepwise = small(n_iter=1, learning_rate_decay=decay, **kw).fit(X)
    # after one finished epoch, partial_fit's epoch is t = 1, then t = 2
    stepwise.partial_fit(X)
    stepwise.partial_fit(X)
    assert_same_model(decayed, stepwise)
    # the same with the documented rates set by hand, without decay
    manual = small(n_iter=1, **kw).fit(X)
    for t in (1, 2):
        manual.set_params(learning_rate=lr / (1.0 + decay * t))
        manual.partial_fit(X)
    assert_same_model(manual, decayed)
    undecayed = small(n_iter=3, **kw).fit(X)
    assert not np.allclose(_all_params(undecayed), _all_params(decayed), rtol=0, atol=1e-8)


# ---------------------------------------------------------------------------------------------
# 10. partial_fit
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("pretrain", [True, False])
def test_partial_fit_initialises_then_trains_one_epoch_per_call(pretrain):
    X = binary_data(90, 12, seed=19)
    dbm = DBM((8, 4), batch_size=10, n_chains=6, pretrain=pretrain, pretrain_n_iter=3,
              n_iter=50, random_state=0)
    assert not hasattr(dbm, "components_")
    assert dbm.partial_fit(X[:30]) is dbm
    assert [w.shape for w in dbm.components_] == [(8, 12), (4, 8)]
    assert [c.shape for c in dbm.chains_] == [(6, 12), (6, 8), (6, 4)]
    assert dbm.n_features_in_ == 12
    assert dbm.n_samples_seen_ == 30
    assert dbm.history_["epoch"] == [1]  # one epoch, not n_iter
    assert all(len(v) == 1 for v in dbm.history_.values())
    if pretrain:
        # pre-training ran on the first chunk with pretrain_n_iter epochs per layer
        assert len(dbm.rbms_) == 2
        assert [r.history_["epoch"] for r in dbm.rbms_] == [[1, 2, 3]] * 2
        assert dbm.rbms_[0].n_features_in_ == 12
    else:
        assert dbm.rbms_ is None
    W = [w.copy() for w in dbm.components_]
    assert dbm.partial_fit(X[30:60]) is dbm
    assert dbm.history_["epoch"] == [1, 2]
    assert dbm.partial_fit(X[60:]) is dbm
    assert dbm.history_["epoch"] == [1, 2, 3]
    assert all(len(v) == 3 for v in dbm.history_.values())
    assert dbm.n_samples_seen_ == 90
    np.testing.assert_allclose(dbm.visible_mean_, X.mean(axis=0), rtol=1e-12)
    assert not np.array_equal(W[0], dbm.components_[0])
    assert np.isfinite(_all_params(dbm)).all()


@pytest.mark.parametrize("pretrain", [True, False])
def test_partial_fit_calls_on_the_same_data_equal_fit(pretrain):
    X = binary_data(50, 10, seed=20)
    a = small(n_iter=3, pretrain=pretrain).fit(X)
    b = small(n_iter=999, pretrain=pretrain)
    for _ in range(3):
        b.partial_fit(X)
    assert_same_model(a, b)
    assert a.history_["reconstruction_error"] == b.history_["reconstruction_error"]
    assert b.n_samples_seen_ == 150
    np.testing.assert_allclose(b.visible_mean_, a.visible_mean_, rtol=1e-12)


def test_partial_fit_continues_from_fit_instead_of_reinitialising():
    X = binary_data(100, 12, seed=21)
    dbm = small(n_iter=3).fit(X)
    before = _all_params(dbm)
    rbms = dbm.rbms_
    dbm.set_params(learning_rate=1e-9, momentum=0.0)
    dbm.partial_fit(X)
    # a re-initialisation would pre-train afresh, ~1e-1 away
    np.testing.assert_allclose(_all_params(dbm), before, rtol=0, atol=1e-6)
    assert not np.array_equal(_all_params(dbm), before)
    assert dbm.rbms_ is rbms
    assert dbm.history_["epoch"] == [1, 2, 3, 4]
    assert dbm.n_samples_seen_ == 200


@pytest.mark.parametrize("n_features", [9, 13])
def test_partial_fit_with_another_feature_count_raises_and_keeps_the_model(n_features):
    X = binary_data(40, 11, seed=22)
    dbm = small().partial_fit(X)
    before = snapshot(dbm)
    history = copy.deepcopy(dbm.history_)
    with pytest.raises(ValueError, match=rf"{n_features} features.*11"):
        dbm.partial_fit(binary_data(40, n_features, seed=23))
    assert_same_model(dbm, before)
    assert dbm.history_ == history
    assert dbm.n_samples_seen_ == 40 and dbm.n_features_in_ == 11
    dbm.partial_fit(X)
    assert dbm.history_["epoch"] == [1, 2]


def test_partial_fit_keeps_the_model_dtype_and_follows_n_chains_changes():
    X = binary_data(40, 10, seed=24)
    dbm = small().partial_fit(X.astype(np.float32))
    dbm.partial_fit(X)  # float64 input is converted to the float32 model
    assert all(a.dtype == np.float32 for a in model_arrays(dbm).values())
    dbm.set_params(n_chains=7)
    dbm.partial_fit(X)
    assert [c.shape for c in dbm.chains_] == [(7, 10), (7, 8), (7, 4)]
    assert all(np.isin(c, (0, 1)).all() for c in dbm.chains_)
    assert dbm.history_["epoch"] == [1, 2, 3]


# ---------------------------------------------------------------------------------------------
# 11. pre-training and momentum
# ---------------------------------------------------------------------------------------------
def test_pretrain_true_keeps_one_rbm_per_layer():
    X = binary_data(60, 12, seed=25)
    dbm = DBM((8, 6, 4), n_iter=2, n_chains=10, batch_size=10, pretrain_n_iter=3,
              pretrain_learning_rate=0.07, random_state=0).fit(X)
    assert isinstance(dbm.rbms_, list) and len(dbm.rbms_) == 3
    assert all(isinstance(r, RBM) for r in dbm.rbms_)
    assert [r.n_components for r in dbm.rbms_] == [8, 6, 4]
    assert [r.n_features_in_ for r in dbm.rbms_] == [12, 8, 6]
    for r in dbm.rbms_:
        assert r.n_iter == 3 and r.learning_rate == 0.07 and r.batch_size == 10
        assert r.history_["epoch"] == [1, 2, 3]
    assert len({r.random_state for r in dbm.rbms_}) == 3  # distinct seeds


def test_without_joint_training_the_dbm_is_built_from_the_pretraining_rbms():
    # n_iter=0: the documented hand-over from the RBMs: their weights; the visible bias of the
    # first, the hidden bias of the last, the mean of the two RBM biases of a middle layer.
    X = binary_data(60, 12, seed=25)
    dbm = DBM((8, 6, 4), n_iter=0, n_chains=10, batch_size=10, pretrain_n_iter=3,
              random_state=0).fit(X)
    r = dbm.rbms_
    for k in range(3):
        np.testing.assert_array_equal(dbm.components_[k], r[k].components_)
    np.testing.assert_array_equal(dbm.intercepts_[0], r[0].intercept_visible_)
    for k in (1, 2):
        np.testing.assert_allclose(dbm.intercepts_[k],
                                   (r[k - 1].intercept_hidden_ + r[k].intercept_visible_) / 2,
                                   rtol=1e-15, atol=0)
    np.testing.assert_array_equal(dbm.intercepts_[3], r[2].intercept_hidden_)


def test_joint_training_leaves_the_pretraining_rbms_untouched():
    # rbms_ are the pre-training RBMs: the DBM trains its own copy of their weights
    X = binary_data(60, 12, seed=25)
    kw = dict(n_chains=10, batch_size=10, pretrain_n_iter=3, random_state=0)
    pretrained_only = DBM((8, 6, 4), n_iter=0, **kw).fit(X)
    pretrained = [r.components_.copy() for r in pretrained_only.rbms_]
    trained = DBM((8, 6, 4), n_iter=3, **kw).fit(X)
    assert not np.array_equal(trained.components_[0], pretrained[0])  # joint training moved W
    for k, r in enumerate(trained.rbms_):
        assert not np.shares_memory(r.components_, trained.components_[k]), k
        assert r.components_.tobytes() == pretrained[k].tobytes(), k
    np.testing.assert_array_equal(trained.rbms_[0].transform(X),
                                  pretrained_only.rbms_[0].transform(X))


def test_pretrain_false_starts_from_small_random_weights_and_zero_biases():
    X = binary_data(60, 12, seed=26)
    dbm = small(pretrain=False, n_iter=0).fit(X)
    assert dbm.rbms_ is None
    assert all(not np.any(b) for b in dbm.intercepts_)
    W = np.concatenate([w.ravel() for w in dbm.components_])
    assert 0.005 < W.std() < 0.02 and np.abs(W).max() < 0.1  # N(0, 0.01)
    trained = small(pretrain=False).fit(X)
    assert trained.rbms_ is None
    assert np.isfinite(trained.transform(X)).all()
    pretrained = small().fit(X)
    assert not np.allclose(pretrained.components_[0], trained.components_[0])


def test_momentum_zero_trains_without_velocity_arrays():
    X = binary_data(60, 12, seed=27)
    dbm = small(momentum=0.0, n_iter=3).fit(X)
    assert dbm._velocity is None
    assert len(dbm.history_["epoch"]) == 3
    assert np.isfinite(_all_params(dbm)).all()
    with_momentum = small(momentum=0.5, n_iter=3).fit(X)
    assert with_momentum._velocity is not None
    vw, vb = with_momentum._velocity
    assert [v.shape for v in vw] == [w.shape for w in with_momentum.components_]
    assert [v.shape for v in vb] == [b.shape for b in with_momentum.intercepts_]
    assert not np.allclose(_all_params(dbm), _all_params(with_momentum))
    dbm.partial_fit(X)
    assert dbm._velocity is None
    # switching momentum on later creates the velocities
    dbm.set_params(momentum=0.3).partial_fit(X)
    assert dbm._velocity is not None and len(dbm.history_["epoch"]) == 5


# ---------------------------------------------------------------------------------------------
# 12. bad input
# ---------------------------------------------------------------------------------------------
N_FEATURES = 6


@pytest.fixture
def fitted():
    X = binary_data(40, N_FEATURES, seed=28)
    return small().fit(X)


CALLS = {
    "fit": lambda est, X: est.fit(X),
    "partial_fit": lambda est, X: est.partial_fit(X),
    "fit_transform": lambda est, X: est.fit_transform(X),
    "transform": lambda est, X: est.transform(X),
    "mean_field": lambda est, X: est.mean_field(X),
    "lower_bound": lambda est, X: est.lower_bound(X, log_z=0.0),
    "log_likelihood_exact": lambda est, X: est.log_likelihood(X, method="exact"),
    "log_likelihood_ais": lambda est, X: est.log_likelihood(X, n_chains=3, n_betas=5),
}


def _non_finite():
    good = binary_data(5, N_FEATURES, seed=29)
    nan, inf, ninf = good.copy(), good.copy(), good.copy()
    nan[2, 3] = np.nan
    inf[1, 0] = np.inf
    ninf[4, 5] = -np.inf
    return {"nan": (nan, "NaN"), "inf": (inf, "(?i)inf"), "-inf": (ninf, "(?i)inf")}


NON_FINITE = _non_finite()


@pytest.mark.parametrize("call", sorted(CALLS))
@pytest.mark.parametrize("case", sorted(NON_FINITE))
def test_non_finite_input_raises_and_leaves_the_fitted_model_unchanged(fitted, call, case):
    X, message = NON_FINITE[case]
    X_before = X.copy()
    before = snapshot(fitted)
    history = copy.deepcopy(fitted.history_)
    with pytest.raises(ValueError, match=message):
        CALLS[call](fitted, X)
    np.testing.assert_array_equal(X, X_before)
    assert_same_model(fitted, before)
    assert fitted.history_ == history
    assert fitted.n_samples_seen_ == 40
    with pytest.raises(ValueError, match=message):
        CALLS[call](fitted, sp.csr_matrix(X))
    assert fitted.transform(binary_data(3, N_FEATURES)).shape == (3, 4)


@pytest.mark.parametrize("call", sorted(set(CALLS) - {"fit", "fit_transform"}))
@pytest.mark.parametrize("n_features", [N_FEATURES - 1, N_FEATURES + 2])
def test_wrong_number_of_features_raises(fitted, call, n_features):
    X = binary_data(5, n_features, seed=30)
    before = snapshot(fitted)
    with pytest.raises(ValueError, match=rf"{n_features} features.*{N_FEATURES}"):
        CALLS[call](fitted, X)
    assert_same_model(fitted, before)


@pytest.mark.parametrize("bad", [np.zeros(6), np.zeros((2, 3, 2)), np.zeros((0, 6)),
                                 np.zeros((3, 0))], ids=["1-D", "3-D", "no rows", "no cols"])
def test_degenerate_shapes_raise_value_error_at_fit(bad):
    with pytest.raises(ValueError):
        small().fit(bad)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("fmt", ["dense", "fortran", "csr"])
def test_fit_and_inference_do_not_modify_x(dtype, fmt):
    X0 = binary_data(60, 10, seed=31, density=0.3).astype(dtype)
    X = {"dense": X0.copy(), "fortran": np.asfortranarray(X0), "csr": sp.csr_matrix(X0)}[fmt]
    X_before = copy.deepcopy(X)
    dbm = small(transform_layers="all").fit(X)
    dbm.partial_fit(X)
    dbm.transform(X)
    dbm.mean_field(X)
    dbm.lower_bound(X, log_z=0.0)
    dbm.log_likelihood(X, method="exact")
    dbm.fit_transform(X)
    if fmt == "csr":
        assert (X != X_before).nnz == 0
        assert X.data.dtype == dtype
        assert X.indices.tobytes() == X_before.indices.tobytes()
    else:
        assert X.tobytes() == X_before.tobytes() and X.flags.f_contiguous == (fmt == "fortran")


# ---------------------------------------------------------------------------------------------
# 13. log_partition / log_likelihood / lower_bound arguments
# ---------------------------------------------------------------------------------------------
def test_likelihood_methods_return_the_documented_types(fitted_module):
    dbm, X = fitted_module
    dbm = copy.deepcopy(dbm)
    log_z = dbm.log_partition("exact")
    assert isinstance(log_z, float) and np.isfinite(log_z)
    assert dbm.log_partition("exact", return_std=True) == (log_z, 0.0)
    ais = dbm.log_partition(n_chains=4, n_betas=20, random_state=0)
    assert isinstance(ais, float) and np.isfinite(ais)
    ais_z, ais_std = dbm.log_partition("ais", n_chains=4, n_betas=20, random_state=0,
                                       return_std=True)
    assert ais_z == ais and ais_std >= 0 and np.isfinite(ais_std)
    lp = dbm.log_likelihood(X, method="exact")
    assert lp.shape == (60,) and lp.dtype == np.float64 and np.all(lp < 0)
    # a given log Z is used as it is
    np.testing.assert_allclose(dbm.log_likelihood(X, method="exact", log_z=log_z + 2.0),
                               lp - 2.0, rtol=1e-12, atol=1e-12)
    lb = dbm.lower_bound(X, log_z=log_z)
    assert lb.shape == (60,) and lb.dtype == np.float64 and np.isfinite(lb).all()
    np.testing.assert_allclose(dbm.lower_bound(X, log_z=log_z + 1.0), lb - 1.0, rtol=1e-12,
                               atol=1e-12)
    np.testing.assert_allclose(dbm.lower_bound(X, method="exact"), lb, rtol=1e-12, atol=1e-12)
    bound = dbm.log_likelihood(X, log_z=log_z)  # method='ais' with a given log Z: the bound
    np.testing.assert_array_equal(bound, lb)
    kw = dict(n_chains=4, n_betas=20, random_state=0)
    np.testing.assert_array_equal(dbm.log_likelihood(X, **kw), dbm.lower_bound(X, **kw))


@pytest.mark.parametrize("method", ["AIS", "exakt", "", None])
def test_unknown_likelihood_method_raises(fitted_module, method):
    dbm, X = fitted_module
    with pytest.raises(ValueError, match="method"):
        dbm.log_partition(method)
    with pytest.raises(ValueError, match="method"):
        dbm.log_likelihood(X, method=method)
    with pytest.raises(ValueError, match="method"):
        dbm.lower_bound(X, method=method)


def test_exact_methods_beyond_max_bits_point_to_ais(fitted_module):
    # (12 -> 8 -> 6 -> 4): log Z enumerates the smaller block, odd layers h1 + h3 = 12 units;
    # log p(v) enumerates the smaller block of hidden layers, h2 = 6 units.
    dbm, X = fitted_module
    with pytest.raises(ValueError, match="ais"):
        dbm.log_partition("exact", max_bits=11)
    assert np.isfinite(dbm.log_partition("exact", max_bits=12))
    with pytest.raises(ValueError, match="ais"):
        dbm.log_likelihood(X, method="exact", max_bits=11)
    with pytest.raises(ValueError, match="2\\^6"):  # with log Z given: the per-row sum
        dbm.log_likelihood(X, method="exact", max_bits=5, log_z=1.0)
    assert dbm.log_likelihood(X, method="exact", max_bits=6, log_z=1.0).shape == (60,)
    with pytest.raises(ValueError, match="ais"):
        dbm.lower_bound(X, method="exact", max_bits=11)


@pytest.mark.parametrize("call, kwargs, name", [
    ("log_partition", dict(method="exact", max_bits=0), "max_bits"),
    ("log_partition", dict(method="exact", max_bits=-3), "max_bits"),
    ("log_partition", dict(method="exact", max_bits=2.5), "max_bits"),
    ("log_partition", dict(method="exact", max_bits=True), "max_bits"),
    ("log_partition", dict(n_chains=0), "n_chains"),
    ("log_partition", dict(n_betas=1), "n_betas"),
    ("log_partition", dict(n_betas=10.0), "n_betas"),
    ("log_likelihood", dict(method="exact", max_bits=0), "max_bits"),
    ("log_likelihood", dict(n_chains=-1), "n_chains"),
    ("lower_bound", dict(n_betas=0), "n_betas"),
])
def test_invalid_likelihood_arguments_raise_naming_them(fitted_module, call, kwargs, name):
    dbm, X = fitted_module
    args = () if call == "log_partition" else (X,)
    with pytest.raises(ValueError, match=name):
        getattr(dbm, call)(*args, **kwargs)


# ---------------------------------------------------------------------------------------------
# 14. pickle, deepcopy, clone
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_pickle_round_trip_and_deepcopy_give_identical_outputs(dtype):
    X = binary_data(60, 12, seed=32).astype(dtype)
    dbm = DBM((8, 6), n_iter=2, n_chains=10, batch_size=10, pretrain_n_iter=2,
              random_state=0).fit(X)
    log_z = dbm.log_partition("exact")
    restored = pickle.loads(pickle.dumps(dbm))
    duplicate = copy.deepcopy(dbm)
    for other in (restored, duplicate):
        assert type(other) is DBM
        assert other.get_params() == dbm.get_params()
        assert_same_model(dbm, other)
        assert not np.shares_memory(other.components_[0], dbm.components_[0])
        assert other.transform(X).tobytes() == dbm.transform(X).tobytes()
        assert other.lower_bound(X, log_z=log_z).tobytes() == \
            dbm.lower_bound(X, log_z=log_z).tobytes()
        assert other.log_partition("exact") == log_z
        assert other.history_ == dbm.history_
        assert other.n_features_in_ == dbm.n_features_in_
        assert other.n_samples_seen_ == dbm.n_samples_seen_
        np.testing.assert_array_equal(other.visible_mean_, dbm.visible_mean_)
        assert [type(r) for r in other.rbms_] == [RBM, RBM]
        assert (other.sample(5, n_gibbs=3, random_state=1).tobytes()
                == dbm.sample(5, n_gibbs=3, random_state=1).tobytes())
    # the copies carry on the model's random stream and training from where it was
    a, b = pickle.loads(pickle.dumps(dbm)), copy.deepcopy(dbm)
    assert a.sample(7, n_gibbs=3).tobytes() == b.sample(7, n_gibbs=3).tobytes()
    a.partial_fit(X)
    b.partial_fit(X)
    assert_same_model(a, b)
    assert a.history_["epoch"] == [1, 2, 3]


def test_clone_copies_parameters_and_no_fitted_state():
    params = dict(hidden_layer_sizes=(7, 5, 3), learning_rate=0.01, learning_rate_decay=0.1,
                  batch_size=7, n_iter=2, n_mean_field=9, mean_field_tol=1e-3, n_chains=11,
                  k=2, pretrain=True, pretrain_n_iter=1, pretrain_learning_rate=0.02,
                  momentum=0.3, weight_decay=1e-4, transform_layers="all", random_state=4,
                  verbose=0)
    X = binary_data(30, 6, seed=33)
    dbm = DBM(**params).fit(X)
    twin = clone(dbm)
    assert twin.get_params() == params == dbm.get_params()
    for name in ("components_", "intercepts_", "chains_", "rbms_", "history_",
                 "visible_mean_", "n_features_in_"):
        assert not hasattr(twin, name), name
    with pytest.raises(NotFittedError):
        twin.transform(X)
    # and the clone fits to the same model
    twin.fit(X)
    assert_same_model(twin, dbm)
    assert twin.history_["reconstruction_error"] == dbm.history_["reconstruction_error"]


# ---------------------------------------------------------------------------------------------
# 15. read-only fitted arrays (e.g. a memory-mapped model)
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_read_only_fitted_arrays_still_serve_inference(dtype):
    X = binary_data(60, 12, seed=34).astype(dtype)
    dbm = DBM((8, 6, 4), n_iter=2, n_chains=10, batch_size=10, pretrain_n_iter=2,
              random_state=0).fit(X)

    def outputs():
        return {
            "transform": dbm.transform(X),
            "mean_field": np.hstack(dbm.mean_field(X)),
            "sample": dbm.sample(5, n_gibbs=3, random_state=1),
            "sample_means": dbm.sample(5, n_gibbs=3, random_state=1, return_means=True),
            "lower_bound": dbm.lower_bound(X, log_z=3.0),
            "lower_bound_ais": dbm.lower_bound(X, n_chains=3, n_betas=10, random_state=0),
            "log_partition": np.array(dbm.log_partition("exact")),
            "log_partition_ais": np.array(dbm.log_partition(n_chains=3, n_betas=10,
                                                            random_state=0)),
            "log_likelihood": dbm.log_likelihood(X, method="exact"),
        }

    expected = outputs()
    n_frozen = 0
    for name, value in list(vars(dbm).items()):
        arrays = value if isinstance(value, list) else [value]
        for arr in arrays:
            if isinstance(arr, np.ndarray):
                arr.setflags(write=False)
                n_frozen += 1
    assert n_frozen >= 3 + 4 + 4 + 1
    got = outputs()
    for name in expected:
        assert got[name].tobytes() == expected[name].tobytes(), name
    assert dbm.set_params(transform_layers="all").transform(X).shape == (60, 18)
    assert dbm.sample(3, n_gibbs=2).shape == (3, 12)
    # training needs to write: a clear error, and the model is left as it was
    before = snapshot(dbm)
    with pytest.raises(ValueError, match="(?i)read-only|writeable"):
        dbm.partial_fit(X)
    assert_same_model(dbm, before)
    assert len(dbm.history_["epoch"]) == 2


# ---------------------------------------------------------------------------------------------
# 16. Ctrl-C during fit
# ---------------------------------------------------------------------------------------------
# Two epoch lengths (single BLAS thread): ~20 ms epochs (a couple of dozen finish
# before the signal, which then lands in the core or in the Python bookkeeping between
# epochs) and ~0.25 s epochs (the signal lands in the middle of the second). Either way n_iter
# epochs would take far longer than the 0.5 s delay.
SIGINT_CASES = {
    "short_epochs": dict(n=600, n_features=64, sizes=(64, 32), n_iter=5000, pretrain=False),
    "long_epochs": dict(n=1000, n_features=200, sizes=(200, 200), n_iter=100, pretrain=True),
}


@pytest.mark.parametrize("case", sorted(SIGINT_CASES))
def test_keyboard_interrupt_keeps_the_last_finished_epoch_and_a_usable_model(case):
    cfg = SIGINT_CASES[case]
    X = binary_data(cfg["n"], cfg["n_features"], seed=35)
    params = dict(hidden_layer_sizes=cfg["sizes"], batch_size=20, n_chains=50, k=5,
                  pretrain=cfg["pretrain"], pretrain_n_iter=1, random_state=0)
    dbm = DBM(n_iter=cfg["n_iter"], **params)
    with threadpool_limits(1):
        previous_handler = signal.signal(signal.SIGINT, signal.default_int_handler)
        timer = threading.Timer(0.5, os.kill, args=(os.getpid(), signal.SIGINT))
        try:
            t0 = time.perf_counter()
            timer.start()
            with pytest.raises(KeyboardInterrupt):
                dbm.fit(X)
            raised_after = time.perf_counter() - t0
        finally:
            timer.cancel()
            signal.signal(signal.SIGINT, previous_handler)
        h = dbm.history_
        n_done = len(h["epoch"])
        assert n_done < cfg["n_iter"]
        assert h["epoch"] == list(range(1, n_done + 1))
        assert {k: len(v) for k, v in h.items()} == {k: n_done for k in HISTORY_KEYS}
        assert dbm._epochs_done == n_done
        # interrupted promptly: within a few epochs of the signal
        per_epoch = float(np.mean(h["time"])) if n_done else raised_after
        assert raised_after < 0.5 + 3 * per_epoch + 1.0
        for name, arr in model_arrays(dbm).items():
            assert np.isfinite(arr).all(), name
        # "keeps the last finished epoch": parameters, chains and velocities are exactly
        # those after the n_done epochs that history_ reports
        reference = DBM(n_iter=n_done, **params).fit(X)
        assert_same_model(dbm, reference)
        assert h["reconstruction_error"] == reference.history_["reconstruction_error"]
        assert h["mean_field_sweeps"] == reference.history_["mean_field_sweeps"]
        # and usable: inference and further training work
        Z = dbm.transform(X[:10])
        assert Z.shape == (10, cfg["sizes"][-1]) and np.isfinite(Z).all()
        np.testing.assert_array_equal(Z, reference.transform(X[:10]))
        dbm.partial_fit(X[:100])
        assert dbm.history_["epoch"] == list(range(1, n_done + 2))


def _interrupt_second_rbm_fit(monkeypatch):
    original = RBM.fit
    calls = {"n": 0}

    def fit(self, X, y=None):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return original(self, X, y)

    monkeypatch.setattr(dbm_module.RBM, "fit", fit)
    return calls


def test_interrupt_during_pretraining_keeps_the_previous_fit(monkeypatch):
    X = binary_data(60, 12, seed=36)
    dbm = DBM((8, 6, 4), n_iter=2, n_chains=10, batch_size=10, pretrain_n_iter=2,
              random_state=0).fit(X)
    before = snapshot(dbm)
    history = copy.deepcopy(dbm.history_)
    rbms = dbm.rbms_
    H = dbm.transform(X)
    calls = _interrupt_second_rbm_fit(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        dbm.fit(X)
    monkeypatch.undo()
    assert calls["n"] == 2  # propagated at once: layer 3 never pre-trained
    assert_same_model(dbm, before)
    assert dbm.history_ == history and dbm.rbms_ is rbms
    assert dbm.transform(X).tobytes() == H.tobytes()


def test_interrupt_during_the_first_pretraining_leaves_the_estimator_unfitted(monkeypatch):
    X = binary_data(60, 12, seed=36)
    calls = _interrupt_second_rbm_fit(monkeypatch)
    dbm = DBM((8, 6, 4), n_iter=2, n_chains=10, batch_size=10, pretrain_n_iter=2,
              random_state=0)
    with pytest.raises(KeyboardInterrupt):
        dbm.fit(X)
    monkeypatch.undo()
    assert calls["n"] == 2
    assert not hasattr(dbm, "components_")
    for call in (lambda: dbm.transform(X), lambda: dbm.sample(2, n_gibbs=2),
                 lambda: dbm.log_partition("exact")):
        with pytest.raises(NotFittedError):
            call()


def test_first_fit_refused_for_hidden_layer_sizes_leaves_the_estimator_unfitted():
    X = binary_data(30, 8, seed=2)
    dbm = DBM((8,), random_state=0)
    with pytest.raises(ValueError, match="RBM"):
        dbm.fit(X)
    with pytest.raises(NotFittedError):
        dbm.transform(X)


def test_refused_refit_on_data_of_another_width_keeps_the_previous_fit():
    X = binary_data(30, 8, seed=2)
    dbm = small().fit(X)
    H = dbm.transform(X)
    dbm.set_params(hidden_layer_sizes=(8,))
    with pytest.raises(ValueError, match="RBM"):
        dbm.fit(binary_data(30, 10, seed=3))
    dbm.set_params(hidden_layer_sizes=(8, 4))
    assert dbm.n_features_in_ == 8
    assert dbm.transform(X).tobytes() == H.tobytes()


@pytest.mark.parametrize("when", ["before_core", "after_core"])
def test_interrupt_between_core_calls_is_held_until_the_epoch_is_recorded(monkeypatch, when):
    # A SIGINT that arrives while the core is not running (here: just before or just after
    # the third epoch's core call) is held by the guard until that epoch's bookkeeping is
    # done, so history_ records exactly the epochs the parameters went through.
    X = binary_data(60, 12, seed=37)
    params = dict(hidden_layer_sizes=(8, 4), n_chains=10, batch_size=10, pretrain_n_iter=2,
                  random_state=0)
    original = dbm_module._core.dbm_epoch
    calls = {"n": 0}

    def epoch(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3 and when == "before_core":
            os.kill(os.getpid(), signal.SIGINT)
        out = original(*args, **kwargs)
        if calls["n"] == 3 and when == "after_core":
            os.kill(os.getpid(), signal.SIGINT)
        return out

    monkeypatch.setattr(dbm_module._core, "dbm_epoch", epoch)
    dbm = DBM(n_iter=50, **params)
    previous_handler = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            dbm.fit(X)
        # the guard is gone: the handler in place before fit is back
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, previous_handler)
    monkeypatch.undo()
    assert calls["n"] == 3  # stopped after the third epoch, not later
    assert dbm.history_["epoch"] == [1, 2, 3]
    assert all(len(v) == 3 for v in dbm.history_.values())
    reference = DBM(n_iter=3, **params).fit(X)
    assert_same_model(dbm, reference)
    assert dbm.history_["reconstruction_error"] == reference.history_["reconstruction_error"]
