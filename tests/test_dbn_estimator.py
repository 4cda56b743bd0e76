"""pydbn.DBN as a scikit-learn estimator: API conventions, pipelines, classification, per-layer
settings, dtypes, sparse input, sampling API, history, fine-tuning, bad input, persistence,
read-only models and Ctrl-C.

Enumeration-based correctness (likelihoods, bounds, sampling distributions, the predict_proba
formula) lives in test_dbn_exact.py; this file checks the estimator's contracts."""

import copy
import os
import pickle
import re
import signal
import threading
import time
from collections import Counter

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import DataConversionWarning, NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

import pydbn.dbn as dbn_module
from pydbn import DBN, RBM


def binary_data(n, n_features, seed=0, density=0.5, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return (rng.random((n, n_features)) < density).astype(dtype)


def labels(n, n_classes=3, seed=0):
    return np.random.default_rng(seed + 1000).integers(0, n_classes, n)


RBM_ARRAYS = ("components_", "intercept_hidden_", "intercept_visible_", "h_samples_")


def network_arrays(dbn):
    """Every fitted parameter array of the network, with a name."""
    out = {}
    for i, rbm in enumerate(dbn.rbms_):
        for name in RBM_ARRAYS:
            out[f"rbms_[{i}].{name}"] = getattr(rbm, name)
    for i, (w, b) in enumerate(zip(dbn.recognition_weights_, dbn.recognition_intercepts_)):
        out[f"recognition_weights_[{i}]"] = w
        out[f"recognition_intercepts_[{i}]"] = b
    return out


def assert_same_network(a, b, exact=True, rtol=1e-10, atol=1e-12):
    pa, pb = network_arrays(a), network_arrays(b)
    assert pa.keys() == pb.keys()
    for name in pa:
        x, y = pa[name], pb[name]
        assert x.dtype == y.dtype and x.shape == y.shape, name
        if exact:
            assert x.tobytes() == y.tobytes(), f"{name} differs"
        else:
            np.testing.assert_allclose(x, y, rtol=rtol, atol=atol, err_msg=name)


@pytest.fixture(scope="module")
def digits():
    d = load_digits()
    return d.data / 16.0, d.target


# ---------------------------------------------------------------------------------------------
# 1. scikit-learn's estimator checks
# ---------------------------------------------------------------------------------------------
@parametrize_with_checks(
    [
        DBN(hidden_layer_sizes=(8, 4), n_iter=3, random_state=0),
        DBN(hidden_layer_sizes=(8, 4), n_iter=3, fine_tune="up-down", n_iter_fine_tune=2,
            random_state=0),
        DBN(hidden_layer_sizes=(8, 4), n_iter=3, visible="gaussian", learning_rate=0.01,
            random_state=0),
        DBN(hidden_layer_sizes=(6, 5, 4), n_iter=2, transform_layers="all",
            propagate="sample", random_state=0),
    ],
    xfail_strict=True,
)
def test_sklearn_estimator_checks_pass(estimator, check):
    check(estimator)


# ---------------------------------------------------------------------------------------------
# 2. pipelines and grid search
# ---------------------------------------------------------------------------------------------
def test_pipeline_with_use_labels_false_ignores_y(digits):
    X, y = digits
    pipe = Pipeline([
        ("dbn", DBN((32, 16), n_iter=3, use_labels=False, random_state=0)),
        ("lr", LogisticRegression(max_iter=1000)),
    ]).fit(X, y)
    dbn = pipe.named_steps["dbn"]
    assert dbn.classes_ is None
    assert [r.components_.shape for r in dbn.rbms_] == [(32, 64), (16, 32)]  # no label units
    pred = pipe.predict(X[:50])
    assert pred.shape == (50,) and set(pred) <= set(range(10))
    assert pipe.score(X, y) > 0.3  # 10 classes: chance is 0.1 (measured ~0.55)
    # y was ignored: the very same network as an unsupervised fit with the same seed
    unsupervised = DBN((32, 16), n_iter=3, random_state=0).fit(X)
    assert_same_network(dbn, unsupervised)
    for key in ("layer", "epoch", "score"):
        assert dbn.history_[key] == unsupervised.history_[key], key
    with pytest.raises(AttributeError, match="label"):
        dbn.predict(X[:5])


def test_pipeline_with_use_labels_true_trains_label_units(digits):
    X, y = digits
    pipe = Pipeline([
        ("dbn", DBN((32, 16), n_iter=3, random_state=0)),
        ("lr", LogisticRegression(max_iter=1000)),
    ]).fit(X, y)
    dbn = pipe.named_steps["dbn"]
    np.testing.assert_array_equal(dbn.classes_, np.arange(10))
    # the top RBM's visible layer is the 32 units below plus 10 label units
    assert dbn.rbms_[-1].components_.shape == (16, 32 + 10)
    assert dbn.rbms_[-1]._n_labels == 10
    assert pipe.predict(X[:20]).shape == (20,)
    assert pipe.named_steps["dbn"].transform(X[:7]).shape == (7, 16)
    unsupervised = DBN((32, 16), n_iter=3, random_state=0).fit(X)
    assert unsupervised.rbms_[-1].components_.shape == (16, 32)


def test_grid_search_over_a_dbn_parameter_in_a_pipeline(digits):
    X, y = digits
    pipe = Pipeline([
        ("dbn", DBN((16,), n_iter=3, use_labels=False, random_state=0)),
        ("lr", LogisticRegression(max_iter=500)),
    ])
    search = GridSearchCV(pipe, {"dbn__hidden_layer_sizes": [(16,), (32, 16)]}, cv=3)
    search.fit(X, y)
    assert len(search.cv_results_["mean_test_score"]) == 2
    assert search.best_params_["dbn__hidden_layer_sizes"] in [(16,), (32, 16)]
    best = search.best_estimator_.named_steps["dbn"]
    assert best.rbms_[-1].components_.shape[0] == 16
    assert len(best.rbms_) == len(search.best_params_["dbn__hidden_layer_sizes"])
    assert search.best_score_ > 0.3


def test_grid_search_on_the_dbn_as_a_classifier_uses_its_accuracy(digits):
    X, y = digits
    search = GridSearchCV(DBN((32,), n_iter=3, random_state=0), {"n_iter": [1, 3]}, cv=3)
    search.fit(X, y)
    assert search.best_params_["n_iter"] in (1, 3)
    assert all(0.0 <= s <= 1.0 for s in search.cv_results_["mean_test_score"])
    best = search.best_estimator_
    assert best.score(X, y) == pytest.approx(np.mean(best.predict(X) == y))


# ---------------------------------------------------------------------------------------------
# 3. the DBN as a generative classifier
# ---------------------------------------------------------------------------------------------
def test_digits_classifier_accuracy_well_above_chance(digits):
    X, y = digits
    dbn = DBN((100, 100), n_iter=20, random_state=0).fit(X, y)
    # chance is 0.1; over random_state 0..9 training accuracy was 0.73 - 0.84 (0.84 for 0)
    assert dbn.score(X, y) > 0.6
    pred = dbn.predict(X)
    assert pred.shape == (len(X),) and pred.dtype == dbn.classes_.dtype
    assert set(np.unique(pred)) <= set(dbn.classes_)
    assert dbn.score(X, y) == np.mean(pred == y)
    proba = dbn.predict_proba(X)
    assert proba.shape == (len(X), 10) and proba.dtype == np.float64
    assert np.all(proba >= 0) and np.all(proba <= 1)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(dbn.classes_[np.argmax(proba, axis=1)], pred)


def test_digits_classifier_generalizes(digits):
    X, y = digits
    dbn = DBN((100, 100), n_iter=20, random_state=0).fit(X[:1200], y[:1200])
    # held-out accuracy over random_state 0..4: 0.70 - 0.77
    assert dbn.score(X[1200:], y[1200:]) > 0.6


def test_string_labels_predict_labels_from_classes(digits):
    X, y = digits
    X, y = X[:400], y[:400]
    names = np.array([f"digit-{d}" for d in range(10)])
    numeric = DBN((32, 32), n_iter=5, random_state=0).fit(X, y)
    named = DBN((32, 32), n_iter=5, random_state=0).fit(X, names[y])
    np.testing.assert_array_equal(named.classes_, names)
    pred = named.predict(X)
    assert pred.dtype.kind == "U"
    assert set(pred) <= set(names)
    # the labels are only names: same network and the same decisions as with integers
    assert_same_network(named, numeric)
    np.testing.assert_array_equal(pred, names[numeric.predict(X)])
    np.testing.assert_array_equal(named.predict_proba(X), numeric.predict_proba(X))
    assert named.score(X, names[y]) == numeric.score(X, y)
    # list input for y works too
    listed = DBN((32, 32), n_iter=5, random_state=0).fit(X, list(names[y]))
    np.testing.assert_array_equal(listed.predict(X[:20]), pred[:20])


def test_predict_proba_rows_sum_to_one_with_classes_order():
    X = binary_data(70, 10, seed=1)
    y = np.array(["b", "a", "c"])[labels(70)]
    dbn = DBN((6, 5), n_iter=3, random_state=0).fit(X, y)
    np.testing.assert_array_equal(dbn.classes_, ["a", "b", "c"])
    proba = dbn.predict_proba(X)
    assert proba.shape == (70, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(dbn.predict(X), dbn.classes_[proba.argmax(axis=1)])


@pytest.mark.parametrize("how", ["no_y", "use_labels_false"])
@pytest.mark.parametrize("method", ["predict", "predict_proba", "score"])
def test_predict_without_label_units_raises_a_clear_error(how, method):
    X = binary_data(40, 8, seed=2)
    y = labels(40)
    dbn = DBN((5, 4), n_iter=2, random_state=0)
    dbn.fit(X) if how == "no_y" else dbn.set_params(use_labels=False).fit(X, y)
    assert dbn.classes_ is None
    args = (X, y) if method == "score" else (X,)
    with pytest.raises((AttributeError, ValueError), match="label"):
        getattr(dbn, method)(*args)


def test_refit_without_labels_drops_the_label_units():
    X = binary_data(40, 8, seed=3)
    dbn = DBN((5, 4), n_iter=2, random_state=0).fit(X, labels(40))
    assert dbn.classes_ is not None
    dbn.fit(X)
    assert dbn.classes_ is None
    assert dbn.rbms_[-1].components_.shape == (4, 5)
    with pytest.raises(AttributeError, match="label"):
        dbn.predict(X)


# ---------------------------------------------------------------------------------------------
# 4. per-layer settings
# ---------------------------------------------------------------------------------------------
PER_LAYER = dict(
    learning_rate=(0.1, 0.05, 0.02),
    n_iter=(1, 2, 3),
    batch_size=(5, 10, 20),
    method=("pcd", "cd", "pcd"),
    k=(1, 2, 3),
    momentum=(0.0, 0.5, 0.9),
    weight_decay=(0.0, 1e-4, 1e-3),
)


@pytest.mark.parametrize("container", [tuple, list, np.array])
def test_per_layer_sequences_reach_the_layer_rbms(container):
    X = binary_data(80, 15, seed=4, density=0.3)
    params = {name: container(values) for name, values in PER_LAYER.items()}
    dbn = DBN((6, 5, 4), random_state=0, **params).fit(X)
    assert len(dbn.rbms_) == 3
    for i, rbm in enumerate(dbn.rbms_):
        assert isinstance(rbm, RBM)
        for name, values in PER_LAYER.items():
            assert getattr(rbm, name) == values[i], (i, name)
        assert rbm.n_components == (6, 5, 4)[i]
        assert len(rbm.history_["epoch"]) == PER_LAYER["n_iter"][i]
    assert [r.components_.shape for r in dbn.rbms_] == [(6, 15), (5, 6), (4, 5)]
    assert dbn.rbms_[0].h_samples_.shape == (5, 6)  # PCD chains: batch_size rows
    assert dbn.rbms_[2].h_samples_.shape == (20, 4)
    assert Counter(dbn.history_["layer"]) == {1: 1, 2: 2, 3: 3}


def test_layers_are_trained_with_their_own_settings_on_the_layer_below():
    # Greedy stacking: layer 1 is an RBM on X, layer 2 an RBM on layer 1's transform, each with
    # its own settings and seed. Rebuilding them with pydbn.RBM gives the same weights.
    X = binary_data(80, 15, seed=4, density=0.3)
    dbn = DBN((6, 5, 4), random_state=0, **PER_LAYER).fit(X)
    data = X
    for i, layer in enumerate(dbn.rbms_):
        settings = {name: values[i] for name, values in PER_LAYER.items()}
        ref = RBM(layer.n_components, random_state=layer.random_state, **settings).fit(data)
        for name in RBM_ARRAYS:
            assert getattr(ref, name).tobytes() == getattr(layer, name).tobytes(), (i, name)
        assert ref.history_["pseudo_likelihood"] == layer.history_["pseudo_likelihood"]
        data = ref.transform(data)
    # distinct layers get distinct seeds
    assert len({r.random_state for r in dbn.rbms_}) == 3


def test_scalar_settings_apply_to_every_layer():
    X = binary_data(50, 10, seed=5)
    dbn = DBN((6, 5, 4), learning_rate=0.07, batch_size=7, n_iter=2, method="cd", k=2,
              momentum=0.3, weight_decay=1e-3, random_state=0).fit(X)
    for rbm in dbn.rbms_:
        assert (rbm.learning_rate, rbm.batch_size, rbm.n_iter, rbm.method, rbm.k,
                rbm.momentum, rbm.weight_decay) == (0.07, 7, 2, "cd", 2, 0.3, 1e-3)
    assert len(dbn.history_["layer"]) == 6


def test_propagate_sample_changes_the_layers_above_the_first():
    X = binary_data(80, 15, seed=4, density=0.3)
    mean = DBN((6, 5, 4), n_iter=2, random_state=0).fit(X)
    sample = DBN((6, 5, 4), n_iter=2, propagate="sample", random_state=0).fit(X)
    # layer 1 sees the data either way; the layers above train on binary samples of the
    # layer below instead of its probabilities
    assert sample.rbms_[0].components_.tobytes() == mean.rbms_[0].components_.tobytes()
    for i in (1, 2):
        assert np.abs(sample.rbms_[i].components_ - mean.rbms_[i].components_).max() > 1e-6, i
    assert [r._sample_input for r in sample.rbms_] == [False, True, True]
    assert [r._sample_input for r in mean.rbms_] == [False, False, False]


def test_visible_type_applies_to_the_data_layer_only():
    X = np.random.default_rng(6).normal(size=(50, 8))
    dbn = DBN((6, 5, 4), n_iter=2, visible="gaussian", learning_rate=0.01,
              random_state=0).fit(X)
    assert [r.visible for r in dbn.rbms_] == ["gaussian", "bernoulli", "bernoulli"]
    H = dbn.transform(X)
    assert H.shape == (50, 4) and np.all((H >= 0) & (H <= 1))


@pytest.mark.parametrize("name", sorted(PER_LAYER))
@pytest.mark.parametrize("length", [1, 3])
def test_wrong_length_sequence_raises_naming_the_parameter(name, length):
    X = binary_data(30, 8, seed=7)
    value = list(PER_LAYER[name][:length])  # 1 or 3 values for a network of 2 layers
    dbn = DBN((5, 4), random_state=0, **{name: value})
    with pytest.raises(ValueError, match=rf"{name}.*{length} values.*2 layers"):
        dbn.fit(X)
    assert not hasattr(dbn, "rbms_")


INVALID = [
    ("learning_rate", -0.1),
    ("learning_rate", 0.0),
    ("learning_rate", (0.1, -0.1)),
    ("k", 0),
    ("k", (1, 0)),
    ("method", "x"),
    ("method", ("pcd", "x")),
    ("batch_size", 0),
    ("batch_size", (10, 0)),
    ("n_iter", -1),
    ("n_iter", (2, -1)),
    ("momentum", 1.0),
    ("momentum", (0.5, -0.1)),
    ("weight_decay", -1e-4),
    ("weight_decay", (0.0, -1.0)),
    ("hidden_layer_sizes", 0),
    ("hidden_layer_sizes", ()),
    ("hidden_layer_sizes", (4, 0)),
    ("hidden_layer_sizes", (4, 2.5)),
    ("visible", "poisson"),
    ("propagate", "mode"),
    ("fine_tune", "backprop"),
    ("n_iter_fine_tune", -1),
    ("learning_rate_fine_tune", 0.0),
    ("k_fine_tune", 0),
    ("transform_layers", "bottom"),
]


@pytest.mark.parametrize("name, value", INVALID, ids=[f"{n}={v!r}" for n, v in INVALID])
def test_invalid_parameter_raises_value_error_naming_it_and_keeps_previous_fit(name, value):
    X = binary_data(30, 8, seed=8)
    params = {"hidden_layer_sizes": (5, 4), "n_iter": 1, "random_state": 0}
    params[name] = value
    dbn = DBN(**params)  # the constructor only stores
    assert dbn.get_params()[name] == value
    with pytest.raises(ValueError, match=name):
        dbn.fit(X)
    assert not hasattr(dbn, "rbms_")
    fitted = DBN((5, 4), n_iter=1, random_state=0).fit(X)
    before = {k: v.copy() for k, v in network_arrays(fitted).items()}
    H = fitted.transform(X)
    original = fitted.get_params()[name]
    fitted.set_params(**{name: value})
    with pytest.raises(ValueError, match=name):
        fitted.fit(X)
    after = network_arrays(fitted)
    assert after.keys() == before.keys()
    for k in before:
        assert after[k].tobytes() == before[k].tobytes(), k
    fitted.set_params(**{name: original})
    assert fitted.transform(X).tobytes() == H.tobytes()


# ---------------------------------------------------------------------------------------------
# 5. dtypes
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "in_dtype, model_dtype",
    [(np.float32, np.float32), (np.float64, np.float64), (np.int64, np.float64),
     (np.int32, np.float64), (np.bool_, np.float64)],
)
def test_model_and_output_dtype_follow_input_dtype(in_dtype, model_dtype):
    X = binary_data(60, 10, seed=9).astype(in_dtype)
    y = labels(60)
    dbn = DBN((6, 5, 4), n_iter=2, fine_tune="up-down", n_iter_fine_tune=1,
              random_state=0).fit(X, y)
    for name, arr in network_arrays(dbn).items():
        assert arr.dtype == model_dtype, name
    assert dbn.transform(X).dtype == model_dtype
    assert dbn.set_params(transform_layers="all").transform(X).dtype == model_dtype
    assert dbn.fit_transform(X, y).dtype == model_dtype
    assert dbn.sample(3, n_gibbs=2).dtype == model_dtype
    assert dbn.sample(3, n_gibbs=2, return_means=True).dtype == model_dtype
    assert dbn.predict_proba(X).dtype == np.float64  # documented: float64
    # input of another dtype is converted to the model's
    other = np.float64 if model_dtype == np.float32 else np.float32
    assert dbn.transform(X.astype(other)).dtype == model_dtype
    if in_dtype != model_dtype:
        # integer / bool input is converted exactly: the same network as float64 input
        reference = DBN((6, 5, 4), n_iter=2, fine_tune="up-down", n_iter_fine_tune=1,
                        transform_layers="all", random_state=0).fit(X.astype(np.float64), y)
        assert_same_network(dbn, reference)


def test_float32_network_trains_close_to_float64_network():
    X = binary_data(100, 10, seed=10)
    d64 = DBN((6, 4), n_iter=1, batch_size=20, random_state=0).fit(X)
    d32 = DBN((6, 4), n_iter=1, batch_size=20, random_state=0).fit(X.astype(np.float32))
    np.testing.assert_allclose(d32.rbms_[0].components_, d64.rbms_[0].components_, atol=0.05)
    np.testing.assert_allclose(d32.transform(X), d64.transform(X), atol=0.05)


# ---------------------------------------------------------------------------------------------
# 6. sparse input
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "params",
    [dict(), dict(fine_tune="up-down", n_iter_fine_tune=2), dict(propagate="sample"),
     dict(transform_layers="all")],
    ids=["greedy", "up-down", "propagate-sample", "all-layers"],
)
@pytest.mark.parametrize("with_labels", [False, True])
def test_sparse_csr_input_gives_the_same_network_and_outputs_as_dense(params, with_labels):
    X = binary_data(80, 15, seed=11, density=0.3)
    y = labels(80) if with_labels else None
    Xs = sp.csr_matrix(X)
    Xs_before = Xs.copy()
    dense = DBN((6, 5, 4), n_iter=3, batch_size=7, random_state=0, **params).fit(X, y)
    sparse = DBN((6, 5, 4), n_iter=3, batch_size=7, random_state=0, **params).fit(Xs, y)
    assert_same_network(sparse, dense, exact=False)
    ref = dense.transform(X)
    for model in (dense, sparse):
        for data in (X, Xs, sp.csr_array(X)):
            np.testing.assert_allclose(model.transform(data), ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(sparse.fit_transform(Xs, y), ref, rtol=1e-10, atol=1e-12)
    if with_labels:
        np.testing.assert_allclose(sparse.predict_proba(Xs), dense.predict_proba(X),
                                   rtol=1e-10, atol=1e-12)
    assert (Xs != Xs_before).nnz == 0 and Xs.format == "csr"


# ---------------------------------------------------------------------------------------------
# 7. transform_layers and feature names
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("with_labels", [False, True])
def test_transform_layers_all_concatenates_every_hidden_layer(with_labels):
    X = binary_data(40, 12, seed=12)
    y = labels(40) if with_labels else None
    sizes = (7, 5, 3)
    top = DBN(sizes, n_iter=2, random_state=0).fit(X, y)
    every = DBN(sizes, n_iter=2, transform_layers="all", random_state=0).fit(X, y)
    H_top, H_all = top.transform(X), every.transform(X)
    assert H_top.shape == (40, 3)
    assert H_all.shape == (40, sum(sizes))
    names_top, names_all = top.get_feature_names_out(), every.get_feature_names_out()
    assert len(names_top) == 3 and len(names_all) == sum(sizes)
    assert list(names_all) == [f"dbn{i}" for i in range(sum(sizes))]
    # the last block is the top layer's output; the first is layer 1's up-pass means
    np.testing.assert_array_equal(H_all[:, -3:], H_top)
    np.testing.assert_allclose(H_all[:, :7], every.rbms_[0].transform(X), rtol=1e-12,
                               atol=1e-15)
    assert np.all((H_all >= 0) & (H_all <= 1))
    # the setting is read at transform time
    every.set_params(transform_layers="top")
    np.testing.assert_array_equal(every.transform(X), H_top)
    assert len(every.get_feature_names_out()) == 3


def test_feature_names_out_and_int_hidden_layer_sizes():
    X = binary_data(30, 6, seed=13)
    dbn = DBN(5, n_iter=2, random_state=0).fit(X)
    assert len(dbn.rbms_) == 1
    assert list(dbn.get_feature_names_out()) == [f"dbn{i}" for i in range(5)]
    assert dbn.transform(X).shape == (30, 5)
    assert dbn.recognition_weights_ == [] and dbn.recognition_intercepts_ == []


def test_fit_transform_equals_fit_then_transform():
    X = binary_data(50, 10, seed=14)
    y = labels(50)
    Z = DBN((6, 4), n_iter=2, random_state=1).fit_transform(X, y)
    dbn = DBN((6, 4), n_iter=2, random_state=1).fit(X, y)
    assert Z.tobytes() == dbn.transform(X).tobytes()


def test_fit_is_reproducible_and_seed_dependent():
    X = binary_data(60, 10, seed=15)
    y = labels(60)
    kw = dict(n_iter=3, fine_tune="up-down", n_iter_fine_tune=2)
    a = DBN((6, 4), random_state=7, **kw).fit(X, y)
    b = DBN((6, 4), random_state=7, **kw).fit(X, y)
    c = DBN((6, 4), random_state=8, **kw).fit(X, y)
    assert_same_network(a, b)
    assert not np.array_equal(a.rbms_[0].components_, c.rbms_[0].components_)
    # refitting the same object replays the same fit
    a.fit(X, y)
    assert_same_network(a, b)


# ---------------------------------------------------------------------------------------------
# 8. sample()
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def labelled():
    X = binary_data(80, 12, seed=16)
    y = np.array(["x", "y", "z"])[labels(80)]
    return DBN((8, 6), n_iter=3, random_state=0).fit(X, y), X


@pytest.fixture(scope="module")
def unlabelled():
    X = binary_data(80, 12, seed=17)
    return DBN((8, 6), n_iter=3, random_state=0).fit(X), X


@pytest.mark.parametrize("which", ["labelled", "unlabelled"])
def test_sample_shape_dtype_and_values(which, request):
    dbn, X = request.getfixturevalue(which)
    S = dbn.sample(25, n_gibbs=5)
    assert S.shape == (25, 12) and S.dtype == np.float64
    assert np.all((S == 0) | (S == 1))
    M = dbn.sample(25, n_gibbs=5, return_means=True)
    assert M.shape == (25, 12) and M.dtype == np.float64
    assert np.all((M >= 0) & (M <= 1))
    assert not np.all((M == 0) | (M == 1))  # probabilities, not states
    default = dbn.sample(n_gibbs=2)
    assert default.shape == (100, 12)


@pytest.mark.parametrize("which", ["labelled", "unlabelled"])
def test_sample_zero_samples(which, request):
    dbn, _ = request.getfixturevalue(which)
    S = dbn.sample(0, n_gibbs=3)
    assert S.shape == (0, 12) and S.dtype == np.float64
    if which == "labelled":
        assert dbn.sample(0, y="x", n_gibbs=3).shape == (0, 12)


def test_sample_with_clamped_labels(labelled):
    dbn, _ = labelled
    S = dbn.sample(10, y="y", n_gibbs=5, random_state=3)
    assert S.shape == (10, 12) and np.all((S == 0) | (S == 1))
    # a scalar label is the same as that label repeated
    same = dbn.sample(10, y=["y"] * 10, n_gibbs=5, random_state=3)
    assert S.tobytes() == same.tobytes()
    mixed = dbn.sample(6, y=np.array(["x", "z", "y", "x", "z", "y"]), n_gibbs=5)
    assert mixed.shape == (6, 12)
    means = dbn.sample(6, y="z", n_gibbs=5, return_means=True)
    assert np.all((means >= 0) & (means <= 1))


def test_clamped_labels_change_the_draws(digits):
    # Same random stream, different clamped label: the Gibbs chains of the top RBM move
    # differently, so the draws differ (which label gives which digit is test_dbn_exact's job).
    X, y = digits
    dbn = DBN((32, 32), n_iter=10, random_state=0).fit(X[:500], y[:500])
    kw = dict(n_gibbs=20, random_state=9, return_means=True)
    by_label = {c: dbn.sample(20, y=c, **kw) for c in (0, 1, 2)}
    free = dbn.sample(20, **kw)
    assert not np.allclose(by_label[0], by_label[1])
    assert not np.allclose(by_label[0], by_label[2])
    assert not np.allclose(by_label[1], free)
    # the clamp is per row: row i follows its own label
    mixed = dbn.sample(20, y=[0, 1] * 10, **kw)
    assert not np.allclose(mixed, by_label[0]) and not np.allclose(mixed, by_label[1])


@pytest.mark.parametrize("bad_y", ["w", 1, ["x", "nope", "y"]])
def test_sample_with_unknown_label_raises(labelled, bad_y):
    dbn, _ = labelled
    n = 3
    with pytest.raises(ValueError, match="unknown label"):
        dbn.sample(n, y=bad_y, n_gibbs=2)


def test_sample_with_wrong_number_of_labels_raises(labelled):
    dbn, _ = labelled
    with pytest.raises(ValueError, match="one label per sample"):
        dbn.sample(4, y=["x", "y"], n_gibbs=2)


def test_sample_with_labels_on_a_model_without_label_units_raises(unlabelled):
    dbn, _ = unlabelled
    with pytest.raises(ValueError, match="label"):
        dbn.sample(3, y=0, n_gibbs=2)


@pytest.mark.parametrize("kwargs", [dict(n_samples=-1), dict(n_samples=2.5), dict(n_gibbs=0),
                                    dict(n_samples=True)])
def test_sample_invalid_counts_raise(unlabelled, kwargs):
    dbn, _ = unlabelled
    name = next(iter(kwargs))
    with pytest.raises(ValueError, match=name):
        dbn.sample(**kwargs)


def test_sample_random_streams():
    X = binary_data(80, 12, seed=18)
    dbn = DBN((8, 6), n_iter=2, random_state=5).fit(X)
    first = [dbn.sample(20, n_gibbs=3) for _ in range(3)]
    # 240 Bernoulli draws: successive calls without random_state continue the model's stream
    assert not np.array_equal(first[0], first[1])
    assert not np.array_equal(first[1], first[2])
    # the whole sequence is reproducible from the model's random_state
    again = DBN((8, 6), n_iter=2, random_state=5).fit(X)
    for a in first:
        assert a.tobytes() == again.sample(20, n_gibbs=3).tobytes()
    # an int random_state gives the same draw whatever came before
    s1 = dbn.sample(20, n_gibbs=3, random_state=11)
    dbn.sample(5, n_gibbs=3)
    s2 = dbn.sample(20, n_gibbs=3, random_state=11)
    assert s1.tobytes() == s2.tobytes()
    assert not np.array_equal(s1, dbn.sample(20, n_gibbs=3, random_state=12))


@pytest.mark.parametrize("method, args", [("transform", True), ("predict", True),
                                          ("predict_proba", True), ("sample", False),
                                          ("log_partition", False)])
def test_methods_before_fit_raise_not_fitted_error(method, args):
    with pytest.raises(NotFittedError):
        getattr(DBN((3,)), method)(*((binary_data(4, 5),) if args else ()))


# ---------------------------------------------------------------------------------------------
# 9. history_ and verbose output
# ---------------------------------------------------------------------------------------------
def test_history_has_one_entry_per_epoch_and_agrees_with_the_layers():
    X = binary_data(80, 12, seed=19)
    y = labels(80)
    dbn = DBN((8, 6, 4), n_iter=(2, 3, 1), fine_tune="up-down", n_iter_fine_tune=3,
              random_state=0).fit(X, y)
    h = dbn.history_
    assert set(h) == {"layer", "epoch", "score", "time"}
    assert all(len(v) == 2 + 3 + 1 + 3 for v in h.values())
    assert h["layer"] == [1, 1, 2, 2, 2, 3] + ["up-down"] * 3
    assert h["epoch"] == [1, 2, 1, 2, 3, 1, 1, 2, 3]
    assert all(t >= 0 for t in h["time"])
    # greedy entries are each layer's own pseudo-likelihood history
    greedy = [s for s, layer in zip(h["score"], h["layer"]) if layer != "up-down"]
    assert greedy == sum((r.history_["pseudo_likelihood"] for r in dbn.rbms_), [])
    assert np.all(np.isfinite(greedy)) and all(s <= 0 for s in greedy)
    ud = h["score"][-3:]
    assert all(0.0 <= s <= 1.0 for s in ud)
    # with at most 1000 rows the accuracy is over every training row: the last one is
    # the final model's training accuracy
    assert ud[-1] == dbn.score(X, y)


def test_history_up_down_scores_are_nan_without_labels():
    X = binary_data(50, 10, seed=20)
    dbn = DBN((6, 4), n_iter=1, fine_tune="up-down", n_iter_fine_tune=2,
              random_state=0).fit(X)
    assert dbn.history_["layer"] == [1, 2, "up-down", "up-down"]
    assert np.isnan(dbn.history_["score"][2]) and np.isnan(dbn.history_["score"][3])


UP_DOWN_LINE = re.compile(
    r"^\[DBN\] Up-down iteration (\d+), training accuracy = (\d\.\d{4}), time = \d+\.\d\ds$")
RBM_LINE = re.compile(
    r"^\[RBM\] Iteration (\d+), pseudo-likelihood = (-?\d+\.\d\d), time = \d+\.\d\ds$")


def test_verbose_prints_a_line_per_layer_and_epoch(capsys):
    X = binary_data(50, 10, seed=21)
    y = labels(50)
    dbn = DBN((6, 4), n_iter=(2, 3), fine_tune="up-down", n_iter_fine_tune=2, verbose=1,
              random_state=0).fit(X, y)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert lines[0] == "[DBN] Layer 1: 6 units"
    assert lines[3] == "[DBN] Layer 2: 4 units"
    rbm_lines = [RBM_LINE.match(line) for line in lines[1:3] + lines[4:7]]
    assert all(rbm_lines), lines
    assert [int(m.group(1)) for m in rbm_lines] == [1, 2, 1, 2, 3]
    assert [float(m.group(2)) for m in rbm_lines] == [
        float("%.2f" % s) for s in dbn.history_["score"][:5]]
    ud = [UP_DOWN_LINE.match(line) for line in lines[7:]]
    assert len(ud) == 2 and all(ud), lines
    assert [float(m.group(2)) for m in ud] == [
        float("%.4f" % s) for s in dbn.history_["score"][5:]]
    DBN((6, 4), n_iter=1, random_state=0).fit(X, y)
    assert capsys.readouterr().out == ""


# ---------------------------------------------------------------------------------------------
# 10. fine-tuning unties the recognition weights
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("with_labels", [False, True])
def test_up_down_unties_recognition_from_generative_weights(with_labels):
    X = binary_data(80, 12, seed=22)
    y = labels(80) if with_labels else None
    greedy = DBN((8, 6, 4), n_iter=2, random_state=0).fit(X, y)
    tuned = DBN((8, 6, 4), n_iter=2, fine_tune="up-down", n_iter_fine_tune=2,
                learning_rate_fine_tune=0.05, random_state=0).fit(X, y)
    assert len(tuned.recognition_weights_) == len(tuned.recognition_intercepts_) == 2
    for i in range(2):
        rec, gen = tuned.recognition_weights_[i], tuned.rbms_[i].components_
        assert rec.shape == gen.shape
        assert np.abs(rec - gen).max() > 1e-4, i
        assert np.abs(tuned.recognition_intercepts_[i]
                      - tuned.rbms_[i].intercept_hidden_).max() > 1e-5, i
        # both moved away from the greedy solution
        assert np.abs(rec - greedy.recognition_weights_[i]).max() > 1e-4
        assert np.abs(gen - greedy.rbms_[i].components_).max() > 1e-4
    assert np.abs(tuned.rbms_[-1].components_ - greedy.rbms_[-1].components_).max() > 1e-4
    assert np.all(np.isfinite(tuned.transform(X)))


@pytest.mark.parametrize("fine_tune, n_iter_fine_tune", [(None, 5), ("up-down", 0)])
def test_without_up_down_epochs_recognition_weights_are_tied_copies(fine_tune,
                                                                    n_iter_fine_tune):
    X = binary_data(60, 12, seed=23)
    dbn = DBN((8, 6, 4), n_iter=2, fine_tune=fine_tune, n_iter_fine_tune=n_iter_fine_tune,
              random_state=0).fit(X, labels(60))
    assert len(dbn.recognition_weights_) == 2
    for i in range(2):
        rec, gen = dbn.recognition_weights_[i], dbn.rbms_[i].components_
        assert rec.tobytes() == gen.tobytes() and rec.dtype == gen.dtype
        assert rec is not gen and not np.shares_memory(rec, gen)
        b = dbn.recognition_intercepts_[i]
        assert b.tobytes() == dbn.rbms_[i].intercept_hidden_.tobytes()
        assert not np.shares_memory(b, dbn.rbms_[i].intercept_hidden_)
    assert "up-down" not in dbn.history_["layer"]
    # so the up-pass is each layer RBM's transform
    np.testing.assert_allclose(
        dbn.set_params(transform_layers="all").transform(X)[:, :8],
        dbn.rbms_[0].transform(X), rtol=1e-12, atol=1e-15)


# ---------------------------------------------------------------------------------------------
# 11. bad input
# ---------------------------------------------------------------------------------------------
N_FEATURES = 6


@pytest.fixture
def fitted():
    X = binary_data(40, N_FEATURES, seed=24)
    return DBN((5, 4), n_iter=2, batch_size=10, random_state=0).fit(X, labels(40))


CALLS = {
    "fit": lambda est, X: est.fit(X),
    "fit_y": lambda est, X: est.fit(X, labels(len(X))),
    "transform": lambda est, X: est.transform(X),
    "predict": lambda est, X: est.predict(X),
    "predict_proba": lambda est, X: est.predict_proba(X),
    "score": lambda est, X: est.score(X, labels(len(X))),
}


def _non_finite():
    good = binary_data(5, N_FEATURES, seed=25)
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
    before = {k: v.copy() for k, v in network_arrays(fitted).items()}
    classes = fitted.classes_.copy()
    with pytest.raises(ValueError, match=message):
        CALLS[call](fitted, X)
    np.testing.assert_array_equal(X, X_before)
    after = network_arrays(fitted)
    assert after.keys() == before.keys()
    for k in before:
        assert after[k].tobytes() == before[k].tobytes(), k
    np.testing.assert_array_equal(fitted.classes_, classes)
    assert fitted.predict(binary_data(3, N_FEATURES)).shape == (3,)


@pytest.mark.parametrize("call", sorted(set(CALLS) - {"fit", "fit_y"}))
@pytest.mark.parametrize("n_features", [N_FEATURES - 1, N_FEATURES + 2])
def test_wrong_number_of_features_raises(fitted, call, n_features):
    X = binary_data(5, n_features, seed=26)
    with pytest.raises(ValueError, match=rf"{n_features} features.*{N_FEATURES}"):
        CALLS[call](fitted, X)


@pytest.mark.parametrize("bad_y, message", [
    (labels(39), r"one label per row|shape|inconsistent"),
    (labels(41), r"one label per row|shape|inconsistent"),
    (labels(40).reshape(8, 5), r"(?i)shape|1-D|1d"),
    (np.linspace(0, 1, 40), r"(?i)continuous|unknown label type"),
], ids=["short", "long", "2-D", "continuous"])
def test_bad_y_raises_value_error_and_keeps_previous_fit(fitted, bad_y, message):
    X = binary_data(40, N_FEATURES, seed=27)
    before = {k: v.copy() for k, v in network_arrays(fitted).items()}
    classes = fitted.classes_.copy()
    with pytest.raises(ValueError, match=message):
        fitted.fit(X, bad_y)
    after = network_arrays(fitted)
    for k in before:
        assert after[k].tobytes() == before[k].tobytes(), k
    np.testing.assert_array_equal(fitted.classes_, classes)
    with pytest.raises(ValueError, match=message):
        DBN((5, 4), n_iter=1).fit(X, bad_y)


def test_column_vector_y_is_raveled_with_a_warning_like_sklearn_classifiers():
    X = binary_data(40, N_FEATURES, seed=27)
    y = labels(40)
    with pytest.warns(DataConversionWarning):
        column = DBN((5, 4), n_iter=1, random_state=0).fit(X, y[:, None])
    flat = DBN((5, 4), n_iter=1, random_state=0).fit(X, y)
    assert_same_network(column, flat)
    np.testing.assert_array_equal(column.classes_, flat.classes_)


def test_bad_y_is_ignored_with_use_labels_false():
    X = binary_data(40, N_FEATURES, seed=28)
    dbn = DBN((5, 4), n_iter=1, use_labels=False, random_state=0)
    dbn.fit(X, np.linspace(0, 1, 40))
    assert dbn.classes_ is None
    assert_same_network(dbn, DBN((5, 4), n_iter=1, random_state=0).fit(X))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("fmt", ["dense", "fortran", "csr"])
def test_fit_and_inference_do_not_modify_x(dtype, fmt):
    X0 = binary_data(60, 10, seed=29, density=0.3).astype(dtype)
    X = {"dense": X0.copy(), "fortran": np.asfortranarray(X0), "csr": sp.csr_matrix(X0)}[fmt]
    X_before = copy.deepcopy(X)
    y = labels(60)
    y_before = y.copy()
    dbn = DBN((6, 4), n_iter=2, fine_tune="up-down", n_iter_fine_tune=1,
              propagate="sample", random_state=0).fit(X, y)
    dbn.transform(X)
    dbn.predict_proba(X)
    dbn.fit_transform(X, y)
    if fmt == "csr":
        assert (X != X_before).nnz == 0
        assert X.data.dtype == dtype
    else:
        assert X.tobytes() == X_before.tobytes() and X.flags.f_contiguous == (fmt == "fortran")
    np.testing.assert_array_equal(y, y_before)


def test_non_contiguous_and_list_input_give_identical_results():
    X = binary_data(60, 8, seed=30)
    wide = np.full((60, 16), 7.0)
    wide[:, ::2] = X
    y = labels(60)
    ref = DBN((5, 4), n_iter=2, random_state=0).fit(X, y)
    for Xv in (wide[:, ::2], np.asfortranarray(X), X.tolist()):
        other = DBN((5, 4), n_iter=2, random_state=0).fit(Xv, y)
        assert_same_network(ref, other)
        assert other.transform(Xv).tobytes() == ref.transform(X).tobytes()
        assert other.predict_proba(Xv).tobytes() == ref.predict_proba(X).tobytes()


# ---------------------------------------------------------------------------------------------
# 12. pickle, deepcopy, clone
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_pickle_round_trip_and_deepcopy_give_identical_outputs(dtype):
    X = binary_data(60, 12, seed=31).astype(dtype)
    y = labels(60)
    dbn = DBN((8, 6), n_iter=2, fine_tune="up-down", n_iter_fine_tune=2,
              random_state=0).fit(X, y)
    restored = pickle.loads(pickle.dumps(dbn))
    duplicate = copy.deepcopy(dbn)
    for other in (restored, duplicate):
        assert type(other) is DBN
        assert other.get_params() == dbn.get_params()
        assert_same_network(dbn, other)
        assert other.transform(X).tobytes() == dbn.transform(X).tobytes()
        assert other.predict_proba(X).tobytes() == dbn.predict_proba(X).tobytes()
        np.testing.assert_array_equal(other.predict(X), dbn.predict(X))
        np.testing.assert_array_equal(other.classes_, dbn.classes_)
        assert other.history_["layer"] == dbn.history_["layer"]
        np.testing.assert_array_equal(other.history_["score"], dbn.history_["score"])
        assert other.n_features_in_ == dbn.n_features_in_
        assert not np.shares_memory(other.rbms_[0].components_, dbn.rbms_[0].components_)
        assert (other.sample(5, n_gibbs=3, random_state=1).tobytes()
                == dbn.sample(5, n_gibbs=3, random_state=1).tobytes())
    # the copy carries on the model's random stream from where it was
    a = pickle.loads(pickle.dumps(dbn))
    assert a.sample(7, n_gibbs=3).tobytes() == dbn.sample(7, n_gibbs=3).tobytes()


def test_clone_copies_parameters_and_no_fitted_state():
    params = dict(hidden_layer_sizes=(7, 5, 3), learning_rate=(0.1, 0.05, 0.02),
                  learning_rate_decay=(0.0, 0.5, 1.0), learning_rate_schedule=("inverse", "linear", "inverse"), batch_size=7, n_iter=(1, 2, 1), method=["cd", "pcd", "pcd"], k=2, momentum=0.5,
                  weight_decay=1e-4, visible="gaussian", propagate="sample", layer_init="transpose",
                  fine_tune="up-down", n_iter_fine_tune=1, learning_rate_fine_tune=0.02,
                  k_fine_tune=2, use_labels=False, transform_layers="all", random_state=4,
                  verbose=0)
    dbn = DBN(**params).fit(np.random.default_rng(0).normal(size=(30, 4)))
    twin = clone(dbn)
    assert twin.get_params() == params == dbn.get_params()
    for name in ("rbms_", "recognition_weights_", "classes_", "history_"):
        assert not hasattr(twin, name)
    with pytest.raises(NotFittedError):
        twin.transform(np.zeros((2, 4)))
    # and the clone fits to the same network
    twin.fit(np.random.default_rng(0).normal(size=(30, 4)))
    assert_same_network(twin, dbn)


# ---------------------------------------------------------------------------------------------
# 13. read-only fitted arrays (e.g. a memory-mapped model)
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_read_only_fitted_arrays_still_serve_inference(dtype):
    X = binary_data(60, 12, seed=32).astype(dtype)
    y = labels(60)
    dbn = DBN((8, 6, 4), n_iter=2, fine_tune="up-down", n_iter_fine_tune=1,
              random_state=0).fit(X, y)
    expected = {
        "transform": dbn.transform(X),
        "predict": dbn.predict(X),
        "predict_proba": dbn.predict_proba(X),
        "sample": dbn.sample(5, n_gibbs=3, random_state=1),
        "sample_y": dbn.sample(5, y=1, n_gibbs=3, random_state=1),
    }
    n_frozen = 0
    for rbm in dbn.rbms_:
        for value in vars(rbm).values():
            if isinstance(value, np.ndarray):
                value.setflags(write=False)
                n_frozen += 1
    for arr in dbn.recognition_weights_ + dbn.recognition_intercepts_ + [dbn.classes_]:
        arr.setflags(write=False)
        n_frozen += 1
    assert n_frozen >= 3 * 4 + 4 + 1
    got = {
        "transform": dbn.transform(X),
        "predict": dbn.predict(X),
        "predict_proba": dbn.predict_proba(X),
        "sample": dbn.sample(5, n_gibbs=3, random_state=1),
        "sample_y": dbn.sample(5, y=1, n_gibbs=3, random_state=1),
    }
    for name in expected:
        assert got[name].tobytes() == expected[name].tobytes(), name
    assert dbn.score(X, y) == np.mean(expected["predict"] == y)
    assert dbn.set_params(transform_layers="all").transform(X).shape == (60, 18)
    assert dbn.sample(3, n_gibbs=2).shape == (3, 12)


# ---------------------------------------------------------------------------------------------
# 14. Ctrl-C during fit
# ---------------------------------------------------------------------------------------------
SIGINT_X = binary_data(1000, 100, seed=33)
SIGINT_Y = labels(1000, n_classes=4)
SIGINT_PARAMS = dict(batch_size=20, random_state=0)
# On an unloaded machine a layer-2 epoch (1000 x 50 -> 100 plus its pseudo-likelihood) takes
# ~10 ms and an up-down epoch ~10 ms; the layers before the interrupted one take ~20 ms, far
# less than the 0.5 s delay, and the interrupted stage would take 30 s to finish.
SIGINT_CASES = {
    "top_layer": dict(sizes=(50, 100), n_iter=(2, 3000)),
    "middle_layer": dict(sizes=(50, 100, 20), n_iter=(2, 3000, 2)),
    "up_down": dict(sizes=(50, 50), n_iter=2, fine_tune="up-down", n_iter_fine_tune=3000),
}


def _fit_interrupted(dbn, X, y, delay=0.5):
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(delay, os.kill, args=(os.getpid(), signal.SIGINT))
    try:
        t0 = time.perf_counter()
        timer.start()
        with pytest.raises(KeyboardInterrupt):
            dbn.fit(X, y)
        elapsed = time.perf_counter() - t0
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, previous)
    return elapsed


@pytest.mark.parametrize("case", sorted(SIGINT_CASES))
def test_keyboard_interrupt_keeps_the_layers_trained_so_far(case):
    cfg = dict(SIGINT_CASES[case])
    sizes = cfg.pop("sizes")
    dbn = DBN(sizes, **cfg, **SIGINT_PARAMS)
    elapsed = _fit_interrupted(dbn, SIGINT_X, SIGINT_Y)
    assert elapsed < 5.0  # promptly, not after 3000 epochs
    counts = Counter(dbn.history_["layer"])
    h = dbn.history_
    assert all(len(v) == len(h["layer"]) for v in h.values())
    if case == "up_down":
        assert len(dbn.rbms_) == 2
        assert counts[1] == counts[2] == 2
        n_done = counts["up-down"]
        assert 0 < n_done < 3000
        assert h["epoch"][-n_done:] == list(range(1, n_done + 1))
        reference = DBN(sizes, **dict(cfg, n_iter_fine_tune=n_done), **SIGINT_PARAMS)
        np.testing.assert_array_equal(dbn.classes_, np.arange(4))
    else:
        # layer 2 interrupted: a network of layers 1 and 2 (the top, or the middle layer now
        # on top), layer 2 at its last finished epoch
        assert len(dbn.rbms_) == 2
        assert counts[1] == 2 and 3 not in counts
        n_done = counts[2]
        assert 0 < n_done < 3000
        assert dbn.rbms_[1].history_["epoch"] == list(range(1, n_done + 1))
        reference = DBN(sizes[:2], n_iter=(2, n_done), **SIGINT_PARAMS)
        if case == "top_layer":  # the top RBM with its label units
            np.testing.assert_array_equal(dbn.classes_, np.arange(4))
        else:  # the label units belonged to layer 3, which never trained
            assert dbn.classes_ is None
            reference.set_params(use_labels=False)
    # history_ agrees with the layers: greedy scores are each layer's own history
    greedy = [s for s, layer in zip(h["score"], h["layer"]) if layer != "up-down"]
    assert greedy == sum((r.history_["pseudo_likelihood"] for r in dbn.rbms_), [])
    for name, arr in network_arrays(dbn).items():
        assert np.isfinite(arr).all(), name
    # the kept parameters are exactly those after the epochs history_ records
    reference.fit(SIGINT_X, SIGINT_Y)
    for i, (got, ref) in enumerate(zip(dbn.rbms_, reference.rbms_)):
        for name in RBM_ARRAYS:
            assert getattr(got, name).tobytes() == getattr(ref, name).tobytes(), (i, name)
    assert h["layer"] == reference.history_["layer"]
    assert h["score"] == reference.history_["score"]
    # a consistent network: one recognition matrix per directed layer, and usable
    assert len(dbn.recognition_weights_) == len(dbn.recognition_intercepts_) == 1
    assert_same_network(dbn, reference, exact=True)
    S = dbn.sample(3, n_gibbs=2, random_state=0)
    assert S.tobytes() == reference.sample(3, n_gibbs=2, random_state=0).tobytes()
    Z = dbn.transform(SIGINT_X[:10])
    assert Z.shape == (10, dbn.rbms_[-1].n_components) and np.isfinite(Z).all()
    np.testing.assert_array_equal(Z, reference.transform(SIGINT_X[:10]))
    if dbn.classes_ is not None:
        np.testing.assert_array_equal(dbn.predict_proba(SIGINT_X[:10]),
                                      reference.predict_proba(SIGINT_X[:10]))


def _interrupt_rbm_fit(monkeypatch, call, after_training):
    """Make the call-th RBM.fit raise KeyboardInterrupt, before or after it trains."""
    original = RBM.fit
    calls = {"n": 0}

    def fit(self, X, y=None):
        calls["n"] += 1
        if calls["n"] == call:
            if after_training:
                original(self, X, y)
            raise KeyboardInterrupt
        return original(self, X, y)

    monkeypatch.setattr(dbn_module.RBM, "fit", fit)
    return calls


@pytest.mark.parametrize("with_labels", [False, True])
def test_interrupt_raised_by_the_second_layer_keeps_the_first(monkeypatch, with_labels):
    X = binary_data(60, 12, seed=34)
    y = labels(60) if with_labels else None
    calls = _interrupt_rbm_fit(monkeypatch, call=2, after_training=False)
    dbn = DBN((8, 6, 4), n_iter=3, fine_tune="up-down", n_iter_fine_tune=2, random_state=0)
    with pytest.raises(KeyboardInterrupt):
        dbn.fit(X, y)
    assert calls["n"] == 2  # propagated at once: layer 3 and fine-tuning never ran
    assert len(dbn.rbms_) == 1
    assert dbn.history_["layer"] == [1, 1, 1]
    assert dbn.history_["score"] == dbn.rbms_[0].history_["pseudo_likelihood"]
    assert dbn.classes_ is None
    monkeypatch.undo()
    reference = DBN((8,), n_iter=3, random_state=0).fit(X)
    for name in RBM_ARRAYS:
        assert getattr(dbn.rbms_[0], name).tobytes() == getattr(reference.rbms_[0],
                                                                  name).tobytes()
    np.testing.assert_array_equal(dbn.transform(X), reference.transform(X))


def _check_consistent_interrupted_network(dbn, X, sizes, n_kept):
    assert len(dbn.rbms_) == n_kept
    assert len(dbn.recognition_weights_) == n_kept - 1
    assert len(dbn.recognition_intercepts_) == n_kept - 1
    S = dbn.sample(4, n_gibbs=2, random_state=0)
    assert S.shape == (4, X.shape[1])
    # the same network as one asked for the kept layers only
    reference = DBN(sizes[:n_kept], n_iter=2, random_state=0).fit(X)
    assert_same_network(dbn, reference)
    assert S.tobytes() == reference.sample(4, n_gibbs=2, random_state=0).tobytes()
    assert dbn.history_["layer"] == reference.history_["layer"]
    assert dbn.history_["score"] == reference.history_["score"]


def test_middle_layer_interrupted_after_training_becomes_the_top(monkeypatch):
    X = binary_data(60, 12, seed=35)
    _interrupt_rbm_fit(monkeypatch, call=2, after_training=True)
    dbn = DBN((8, 6, 4), n_iter=2, random_state=0)
    with pytest.raises(KeyboardInterrupt):
        dbn.fit(X)
    monkeypatch.undo()
    _check_consistent_interrupted_network(dbn, X, (8, 6, 4), n_kept=2)


@pytest.mark.parametrize("sizes", [(8, 4), (8, 6, 4)])
def test_layer_failing_before_its_first_epoch_leaves_a_consistent_network(monkeypatch, sizes):
    X = binary_data(60, 12, seed=35)
    _interrupt_rbm_fit(monkeypatch, call=2, after_training=False)
    dbn = DBN(sizes, n_iter=2, random_state=0)
    with pytest.raises(KeyboardInterrupt):
        dbn.fit(X)
    monkeypatch.undo()
    _check_consistent_interrupted_network(dbn, X, sizes, n_kept=1)


def test_learning_rate_decay_reaches_each_layer():
    X = (np.random.default_rng(3).random((40, 6)) < 0.5).astype(float)
    dbn = DBN(hidden_layer_sizes=(4, 3), learning_rate_decay=(0.0, 2.0), n_iter=2,
              random_state=0).fit(X)
    assert [r.learning_rate_decay for r in dbn.rbms_] == [0.0, 2.0]
    with pytest.raises(ValueError, match="learning_rate_decay"):
        DBN(hidden_layer_sizes=(4, 3), learning_rate_decay=(0.0, 1.0, 2.0)).fit(X)


def test_learning_rate_schedule_reaches_each_layer():
    X = (np.random.default_rng(3).random((40, 6)) < 0.5).astype(float)
    dbn = DBN(hidden_layer_sizes=(4, 3), learning_rate_schedule=("linear", "inverse"),
              n_iter=4, random_state=0).fit(X)
    assert [r.learning_rate_schedule for r in dbn.rbms_] == ["linear", "inverse"]
    # the first layer is the stand-alone RBM with the same settings
    from pydbn import RBM
    rbm = RBM(4, learning_rate_schedule="linear", n_iter=4,
              random_state=dbn.rbms_[0].random_state).fit(X)
    np.testing.assert_array_equal(rbm.components_, dbn.rbms_[0].components_)
    with pytest.raises(ValueError, match="learning_rate_schedule"):
        DBN(hidden_layer_sizes=(4, 3), learning_rate_schedule="cosine").fit(X)

