"""pydbn.AdversarialDBN as a scikit-learn estimator: API conventions, parameter and input
validation, layer shapes and initialization, dtypes, sparse input, history_ and verbose output,
sample / log_likelihood / score / discriminate, conditional mode, partial_fit, persistence,
read-only models, divergence and Ctrl-C.

The kernels (forward sampling, the discriminator's forward and backward passes, the
score-function generator gradient of Eq. 9 and the training step) are checked against NumPy
references in test_adbn_core.py; this file checks the estimator's contracts. Where an output is
checked exactly, the generator is set by hand so that every layer below the data layer is
certain (inputs of +-50 or more): the samples of the penultimate layer are then known and
p_L(x | h^{L-1}) has a closed form. Where it is not certain, tiny generators are enumerated
exactly.

Every test runs with one BLAS thread (a module fixture): on a loaded 2-core machine OpenBLAS
with 2 threads is far slower on these tiny products."""

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
from scipy.special import logsumexp
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.utils.estimator_checks import parametrize_with_checks
from threadpoolctl import threadpool_limits

import pydbn
import pydbn.adbn as adbn_module
from pydbn import AdversarialDBN


@pytest.fixture(autouse=True, scope="module")
def single_blas_thread():
    with threadpool_limits(1):
        yield


def binary_data(n, n_features, seed=0, density=0.5, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return (rng.random((n, n_features)) < density).astype(dtype)


SMALL = dict(hidden_layer_sizes=(6, 4), discriminator_layer_sizes=(5,), n_iter=200,
             batch_size=10, random_state=0)


def small(**kw):
    return AdversarialDBN(**dict(SMALL, **kw))


HISTORY_KEYS = {"discriminator_objective", "generator_objective", "real_score", "fake_score"}
PARAMETERS = ("components_", "intercepts_", "discriminator_weights_",
              "discriminator_intercepts_")


def model_arrays(m):
    """Every fitted parameter and optimizer-state array, with a name."""
    out = {}
    for name in PARAMETERS:
        for i, a in enumerate(getattr(m, name)):
            out[f"{name}[{i}]"] = a
    for name in ("_g_state", "_d_state"):
        for j, arrays in enumerate(getattr(m, name)):
            for i, a in enumerate(arrays):
                out[f"{name}[{j}][{i}]"] = a
    return out


def snapshot(m):
    return {k: v.copy() for k, v in model_arrays(m).items()}


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
    if not isinstance(a, dict) and not isinstance(b, dict):
        assert list(a._t) == list(b._t) and a.n_iter_ == b.n_iter_
        if a.classes_ is None:
            assert b.classes_ is None
        else:
            np.testing.assert_array_equal(a.classes_, b.classes_)


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def logit(p):
    return np.log(p) - np.log1p(-p)


def all_states(n):
    """Every binary vector of length n, one a row."""
    return ((np.arange(2**n)[:, None] >> np.arange(n)) & 1).astype(np.float64)


def bernoulli_log(H, A):
    """log p(H_k | logits A_m) of independent Bernoulli units: (M, K) for A (M, n), H (K, n)."""
    return A @ H.T - np.logaddexp(0.0, A).sum(axis=1)[:, None]


def penultimate_distribution(m, label=None):
    """Exact distribution of the layer below the data layer: (states (K, n), log p (K,)),
    by enumerating every layer of the (tiny) generator; `label` is a class index."""
    W = [w.astype(np.float64) for w in m.components_]
    b = [x.astype(np.float64) for x in m.intercepts_]
    if m.classes_ is not None:
        H, logp = np.eye(len(b[0]))[[label]], np.zeros(1)
    else:
        H = all_states(len(b[0]))
        logp = bernoulli_log(H, b[0][None])[0]
    for l in range(1, len(b) - 1):
        nxt = all_states(len(b[l]))
        logp = logsumexp(logp[:, None] + bernoulli_log(nxt, H @ W[l - 1].T + b[l]), axis=0)
        H = nxt
    return H, logp


def exact_log_likelihoods(m, X, label=None):
    """(log p(x), E_h log p_L(x | h)) of each row, h the penultimate layer."""
    H, logp = penultimate_distribution(m, label)
    A = H @ m.components_[-1].T.astype(np.float64) + m.intercepts_[-1]
    L = bernoulli_log(np.asarray(X, np.float64), A)  # (K, n_rows)
    return logsumexp(logp[:, None] + L, axis=0), np.exp(logp) @ L


def mlp_output(m, Z):
    """The discriminator's linear output a, in float64 (leaky ReLU has slope 0.2)."""
    act = {"relu": lambda z: np.maximum(z, 0.0),
           "leaky_relu": lambda z: np.where(z > 0, z, 0.2 * z),
           "tanh": np.tanh, "sigmoid": sigmoid}[m.discriminator_activation]
    a = np.asarray(Z, dtype=np.float64)
    n = len(m.discriminator_weights_)
    for k, (W, b) in enumerate(zip(m.discriminator_weights_, m.discriminator_intercepts_)):
        a = a @ W.T.astype(np.float64) + b
        if k < n - 1:
            a = act(a)
    return a[:, 0]


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return (X / 16.0 > 0.5).astype(np.float64), y


@pytest.fixture(scope="module")
def fitted_module():
    """A fitted unconditional (6, 4) generator on 12 pixels, shared by read-only tests (do not
    modify; deepcopy it first)."""
    X = binary_data(60, 12, seed=1, density=0.3)
    return small().fit(X), X


@pytest.fixture(scope="module")
def conditional_module():
    """A fitted conditional model with string labels, shared by read-only tests."""
    X = binary_data(60, 12, seed=2, density=0.3)
    y = np.array(["a", "b", "c"])[np.arange(60) % 3]
    return small().fit(X, y), X, y


# ---------------------------------------------------------------------------------------------
# 1. scikit-learn's estimator checks
# ---------------------------------------------------------------------------------------------
def _check_config(**kw):
    return AdversarialDBN(**dict(dict(hidden_layer_sizes=(6,), discriminator_layer_sizes=(5,),
                                      n_iter=3, batch_size=10, random_state=0), **kw))


@parametrize_with_checks(
    [
        _check_config(),
        _check_config(loss="wgan", optimizer="rmsprop", n_critic=2),
        _check_config(loss="mle"),
        _check_config(hidden_layer_sizes=(6, 5, 4)),
        _check_config(discriminator_layer_sizes=()),
    ],
    xfail_strict=True,
)
def test_sklearn_estimator_checks_pass(estimator, check):
    check(estimator)


# ---------------------------------------------------------------------------------------------
# 2. parameter validation, layer sizes, initialization
# ---------------------------------------------------------------------------------------------
INVALID = [
    ("hidden_layer_sizes", 0), ("hidden_layer_sizes", -1), ("hidden_layer_sizes", (8, 0)),
    ("hidden_layer_sizes", (0,)), ("hidden_layer_sizes", (8, -1)),
    ("hidden_layer_sizes", (8, 2.5)), ("hidden_layer_sizes", (True,)),
    ("hidden_layer_sizes", (8, True)), ("hidden_layer_sizes", True),
    ("hidden_layer_sizes", ("8",)), ("hidden_layer_sizes", "8"), ("hidden_layer_sizes", 2.5),
    ("hidden_layer_sizes", None), ("hidden_layer_sizes", [[8]]),
    ("hidden_layer_sizes", np.array([8.0])),
    ("discriminator_layer_sizes", 0), ("discriminator_layer_sizes", -2),
    ("discriminator_layer_sizes", (5, 0)), ("discriminator_layer_sizes", (True,)),
    ("discriminator_layer_sizes", "5"), ("discriminator_layer_sizes", 2.5),
    ("discriminator_layer_sizes", None), ("discriminator_layer_sizes", [[5]]),
    ("discriminator_activation", "softmax"), ("discriminator_activation", "RELU"),
    ("discriminator_activation", "identity"),
    ("loss", "lsgan"), ("loss", "GAN"), ("loss", None),
    ("n_iter", -1), ("n_iter", 1.5),
    ("batch_size", 1), ("batch_size", 0), ("batch_size", 2.5),
    ("n_critic", 0), ("n_critic", 1.5),
    ("learning_rate", 0.0), ("learning_rate", -1e-3), ("learning_rate", "0.1"),
    ("discriminator_learning_rate", 0.0), ("discriminator_learning_rate", -1.0),
    ("optimizer", "adagrad"), ("optimizer", "Adam"),
    ("beta_1", 1.0), ("beta_1", -0.1), ("beta_2", 1.0), ("beta_2", -0.5),
    ("epsilon", 0.0), ("epsilon", -1e-8),
    ("rho", 1.0), ("rho", -0.1),
    ("momentum", 1.0), ("momentum", -0.1),
    ("clip", 0.0), ("clip", -0.01),
    ("baseline", "yes"), ("baseline", 1), ("baseline", None),
    ("weight_decay", -1e-4),
    ("random_state", "seed"),
    ("verbose", -1), ("verbose", "loud"),
]


@pytest.mark.parametrize("name, value", INVALID, ids=[f"{n}={v!r}" for n, v in INVALID])
def test_invalid_parameter_raises_value_error_naming_it_and_keeps_previous_fit(name, value):
    X = binary_data(30, 8, seed=6)
    m = small(**{name: value})  # the constructor only stores
    assert m.get_params()[name] is value
    with pytest.raises(ValueError, match=name):
        m.fit(X)
    assert not hasattr(m, "components_") and not hasattr(m, "n_features_in_")
    with pytest.raises(ValueError, match=name):
        small(**{name: value}).partial_fit(X)
    fitted = small().fit(X)
    before = snapshot(fitted)
    history = copy.deepcopy(fitted.history_)
    S = fitted.sample(5, random_state=0)
    original = fitted.get_params()[name]
    fitted.set_params(**{name: value})
    with pytest.raises(ValueError, match=name):
        fitted.fit(X)
    # partial_fit validates itself (scikit-learn skips it once fitted)
    with pytest.raises(ValueError, match=name):
        fitted.partial_fit(X)
    assert_same_model(fitted, before)
    assert fitted.history_ == history and fitted.n_iter_ == 200
    assert fitted.n_features_in_ == 8
    fitted.set_params(**{name: original})
    assert fitted.sample(5, random_state=0).tobytes() == S.tobytes()


def test_a_generator_without_hidden_layers_needs_labels():
    X = binary_data(30, 8, seed=7)
    y = np.arange(30) % 2
    with pytest.raises(ValueError, match="hidden_layer_sizes"):
        small(hidden_layer_sizes=()).fit(X)
    m = small(hidden_layer_sizes=())
    with pytest.raises(ValueError, match="hidden_layer_sizes"):
        m.partial_fit(X)
    assert not hasattr(m, "components_") and not hasattr(m, "n_features_in_")
    fitted = small().fit(X)
    before = snapshot(fitted)
    fitted.set_params(hidden_layer_sizes=[])
    with pytest.raises(ValueError, match="hidden_layer_sizes"):
        fitted.fit(binary_data(30, 9, seed=7))
    assert_same_model(fitted, before)
    assert fitted.n_features_in_ == 8
    # with labels, the label layer is the generator's first layer: label -> data
    cond = small(hidden_layer_sizes=()).fit(X, y)
    assert [w.shape for w in cond.components_] == [(8, 2)]
    assert [b.shape for b in cond.intercepts_] == [(2,), (8,)]
    assert cond.sample(3, y=1).shape == (3, 8)


@pytest.mark.parametrize("sizes", [4, np.int64(4), (4,), [4], np.array([4]), (5, 3), [5, 3],
                                   np.array([5, 3]), (np.int64(5), 3), (5, 4, 3, 2)],
                         ids=repr)
def test_valid_hidden_layer_sizes_give_the_generator_layers(sizes):
    X = binary_data(30, 8, seed=3)
    m = small(hidden_layer_sizes=sizes, n_iter=2).fit(X)
    widths = [int(s) for s in np.atleast_1d(sizes)] + [8]
    assert [w.shape for w in m.components_] == list(zip(widths[1:], widths[:-1]))
    assert [b.shape for b in m.intercepts_] == [(n,) for n in widths]
    assert m.sample(3).shape == (3, 8)
    # conditional: a label layer of n_classes units comes first
    y = np.arange(30) % 3
    c = small(hidden_layer_sizes=sizes, n_iter=2).fit(X, y)
    widths = [3] + widths
    assert [w.shape for w in c.components_] == list(zip(widths[1:], widths[:-1]))
    assert [b.shape for b in c.intercepts_] == [(n,) for n in widths]


@pytest.mark.parametrize("sizes", [5, np.int64(5), (5,), [5, 3], np.array([5, 3]), (), []],
                         ids=repr)
def test_valid_discriminator_layer_sizes_give_the_discriminator_layers(sizes):
    X = binary_data(30, 8, seed=4)
    m = small(discriminator_layer_sizes=sizes, n_iter=2).fit(X)
    widths = [8] + [int(s) for s in np.atleast_1d(np.asarray(sizes, dtype=np.int64))] + [1]
    assert [w.shape for w in m.discriminator_weights_] == list(zip(widths[1:], widths[:-1]))
    assert [b.shape for b in m.discriminator_intercepts_] == [(n,) for n in widths[1:]]
    assert m.discriminate(X).shape == (30,)
    # conditional: the discriminator sees (one-hot label, row)
    y = np.arange(30) % 4
    c = small(discriminator_layer_sizes=sizes, n_iter=2).fit(X, y)
    assert c.discriminator_weights_[0].shape == (widths[1], 8 + 4)
    assert c.discriminate(X, y).shape == (30,)


def test_initialization_data_bias_at_the_logits_of_the_marginals():
    X = binary_data(50, 10, seed=5, density=0.3)
    X[:, 0] = 0.0  # marginals 0 and 1 are clipped to [1e-3, 1 - 1e-3]
    X[:, 1] = 1.0
    for Xin in (X, sp.csr_matrix(X), X.astype(np.float32)):
        m = small(hidden_layer_sizes=(7, 5), discriminator_layer_sizes=(6, 4), n_iter=0).fit(Xin)
        p = np.clip(X.mean(axis=0), 1e-3, 1 - 1e-3)
        tol = 1e-12 if m.intercepts_[0].dtype == np.float64 else 1e-5
        np.testing.assert_allclose(m.intercepts_[-1], logit(p), rtol=tol, atol=tol)
        assert m.intercepts_[-1][0] == pytest.approx(logit(1e-3), rel=1e-5)
        assert m.intercepts_[-1][1] == pytest.approx(logit(1 - 1e-3), rel=1e-5)
        # the data layer's marginals are the data's: an untrained sample's mean matches
        P = m.sample(200, return_probabilities=True, random_state=0)
        np.testing.assert_allclose(P.mean(axis=0), p, atol=0.05)
        for b in m.intercepts_[:-1]:
            assert not np.any(b)
        # N(0, 0.01) generator weights, Glorot-uniform discriminator weights, zero biases
        W = np.concatenate([w.ravel() for w in m.components_])
        assert 0.007 < W.std() < 0.013 and np.abs(W).max() < 0.06
        for w in m.discriminator_weights_:
            bound = np.sqrt(6.0 / sum(w.shape))
            assert np.abs(w).max() <= bound and np.abs(w).max() > 0.5 * bound
        assert all(not np.any(b) for b in m.discriminator_intercepts_)
        assert m.n_iter_ == 0 and m.history_ == {k: [] for k in HISTORY_KEYS}
        assert list(m._t) == [0, 0]


def test_wgan_discriminator_starts_and_stays_clipped():
    X = binary_data(60, 12, seed=8)
    start = small(loss="wgan", clip=0.05, n_iter=0).fit(X)
    for w in start.discriminator_weights_:
        assert np.abs(w).max() == pytest.approx(0.05)
    m = small(loss="wgan", clip=0.05, n_iter=300, n_critic=3, optimizer="rmsprop",
              discriminator_learning_rate=1e-2).fit(X)
    arrays = m.discriminator_weights_ + m.discriminator_intercepts_
    for a in arrays:
        assert np.abs(a).max() <= 0.05
    # clipping is active: many weights sit on the bound, and the biases moved
    assert np.mean(np.isclose(np.abs(m.discriminator_weights_[0]), 0.05)) > 0.2
    assert any(np.any(b) for b in m.discriminator_intercepts_)
    # the same for a float32 model (bounds compared in float32)
    m32 = small(loss="wgan", clip=0.05, n_iter=300, discriminator_learning_rate=1e-2).fit(
        X.astype(np.float32))
    for a in m32.discriminator_weights_ + m32.discriminator_intercepts_:
        assert a.dtype == np.float32 and np.abs(a).max() <= np.float32(0.05)
    # other losses are not clipped
    free = small(loss="gan", clip=0.05, n_iter=300, discriminator_learning_rate=1e-2).fit(X)
    assert max(np.abs(w).max() for w in free.discriminator_weights_) > 0.1


TRAINING_PARAMETERS = [
    ("learning_rate", 1e-2, {}), ("discriminator_learning_rate", 1e-2, {}),
    ("batch_size", 7, {}), ("n_critic", 3, {}), ("optimizer", "sgd", {}),
    ("optimizer", "rmsprop", {}), ("beta_1", 0.9, {}), ("beta_2", 0.9, {}),
    ("epsilon", 1e-2, {}), ("rho", 0.5, {"optimizer": "rmsprop"}),
    ("momentum", 0.9, {"optimizer": "sgd"}), ("clip", 0.02, {"loss": "wgan"}),
    ("baseline", False, {}), ("weight_decay", 0.5, {}),
    ("discriminator_activation", "tanh", {}), ("discriminator_activation", "leaky_relu", {}),
    ("discriminator_activation", "sigmoid", {}), ("loss", "wgan", {}), ("loss", "mle", {}),
]


@pytest.mark.parametrize("name, value, base", TRAINING_PARAMETERS,
                         ids=[f"{n}={v!r}" for n, v, _ in TRAINING_PARAMETERS])
def test_every_training_parameter_reaches_the_fit(name, value, base):
    X = binary_data(60, 10, seed=9)
    kw = dict(SMALL, n_iter=100, learning_rate=3e-3, **base)
    if base.get("optimizer") == "sgd":
        kw.update(learning_rate=0.05, discriminator_learning_rate=0.05)
    reference = AdversarialDBN(**kw).fit(X)
    other = AdversarialDBN(**dict(kw, **{name: value})).fit(X)
    for attr in ("components_", "discriminator_weights_"):
        diff = max(np.abs(a - b).max() for a, b in zip(getattr(other, attr),
                                                        getattr(reference, attr)))
        assert diff > 1e-6, (attr, diff)


def test_weight_decay_shrinks_weights_but_not_biases():
    X = binary_data(60, 10, seed=10, density=0.15)
    kw = dict(SMALL, n_iter=300, optimizer="sgd", learning_rate=0.05,
              discriminator_learning_rate=0.05)
    plain = AdversarialDBN(**kw).fit(X)
    decayed = AdversarialDBN(weight_decay=2.0, **kw).fit(X)
    for attr in ("components_", "discriminator_weights_"):
        n0 = sum(np.linalg.norm(w) for w in getattr(plain, attr))
        n1 = sum(np.linalg.norm(w) for w in getattr(decayed, attr))
        assert n1 < 0.5 * n0, (attr, n0, n1)
    # the data bias, which starts far from zero, is not pulled to zero
    np.testing.assert_allclose(decayed.intercepts_[-1], plain.intercepts_[-1], atol=0.5)
    assert np.abs(decayed.intercepts_[-1]).max() > 1.0


# ---------------------------------------------------------------------------------------------
# 3. dtypes, sparse input, X unchanged, list input, reproducibility
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "in_dtype, model_dtype",
    [(np.float32, np.float32), (np.float64, np.float64), (np.int64, np.float64),
     (np.bool_, np.float64)],
)
@pytest.mark.parametrize("conditional", [False, True], ids=["plain", "conditional"])
def test_model_and_output_dtype_follow_input_dtype(in_dtype, model_dtype, conditional):
    X = binary_data(60, 10, seed=11).astype(in_dtype)
    y = np.arange(60) % 3 if conditional else None
    yk = dict(y=y) if conditional else {}
    m = small(n_iter=100).fit(X, y)
    if in_dtype not in (np.float32, np.float64):
        # integer / bool input is converted exactly: the same model as float64 input
        reference = small(n_iter=100).fit(X.astype(np.float64), y)
        assert_same_model(m, reference)
        assert m.history_ == reference.history_
    for name, arr in model_arrays(m).items():
        assert arr.dtype == model_dtype and arr.flags.c_contiguous, name
    assert m.sample(3, **({"y": 0} if conditional else {})).dtype == model_dtype
    assert m.sample(3, return_probabilities=True,
                    **({"y": 0} if conditional else {})).dtype == model_dtype
    ll = m.log_likelihood(X, n_samples=10, **yk)
    assert ll.dtype == np.float64 and ll.shape == (60,)
    assert isinstance(m.score(X, y), float)
    f = m.discriminate(X, **yk)
    assert f.shape == (60,) and np.issubdtype(f.dtype, np.floating)
    # input of another dtype is converted to the model's
    other = np.float64 if model_dtype == np.float32 else np.float32
    assert m.log_likelihood(X.astype(other), n_samples=10, random_state=0, **yk).tobytes() == \
        m.log_likelihood(X, n_samples=10, random_state=0, **yk).tobytes()
    m.partial_fit(X.astype(other), y)  # float64 chunks go into a float32 model, and back
    assert all(a.dtype == model_dtype for a in model_arrays(m).values())
    assert m.n_iter_ == 106


def test_float32_model_trains_close_to_float64_model():
    X = binary_data(100, 10, seed=12, density=0.4)
    d64 = small().fit(X)
    d32 = small().fit(X.astype(np.float32))
    # the same draws against close probabilities, the same updates up to float32 rounding:
    # measured differences ~1e-6
    for name in PARAMETERS:
        for a32, a64 in zip(getattr(d32, name), getattr(d64, name)):
            np.testing.assert_allclose(a32, a64, atol=1e-4, err_msg=name)
    np.testing.assert_allclose(d32.history_["real_score"], d64.history_["real_score"],
                               atol=1e-4)


@pytest.mark.parametrize("conditional", [False, True], ids=["plain", "conditional"])
def test_sparse_csr_input_gives_the_same_model_and_outputs_as_dense(conditional):
    X = binary_data(80, 15, seed=13, density=0.3)
    y = np.arange(80) % 4 if conditional else None
    yk = dict(y=y) if conditional else {}
    Xs = sp.csr_matrix(X)
    Xs_before = Xs.copy()
    dense = small(n_iter=150).fit(X, y)
    sparse = small(n_iter=150).fit(Xs, y)
    # a sparse gather may round differently: measured differences ~1e-16
    assert_same_model(sparse, dense, exact=False)
    for key in HISTORY_KEYS:
        np.testing.assert_allclose(sparse.history_[key], dense.history_[key], rtol=1e-9,
                                   atol=1e-12)
    ref_ll = dense.log_likelihood(X, n_samples=20, random_state=3, **yk)
    ref_f = dense.discriminate(X, **yk)
    for data in (Xs, sp.csr_array(X), sp.csc_matrix(X)):
        np.testing.assert_allclose(dense.log_likelihood(data, n_samples=20, random_state=3, **yk),
                                   ref_ll, rtol=1e-12)
        np.testing.assert_allclose(dense.discriminate(data, **yk), ref_f, rtol=1e-12)
    assert dense.score(Xs, y) == pytest.approx(dense.score(X, y), rel=1e-12)
    # partial_fit on sparse chunks continues identically too
    dense.partial_fit(X, y)
    sparse.partial_fit(Xs, y)
    assert_same_model(sparse, dense, exact=False)
    assert (Xs != Xs_before).nnz == 0 and Xs.format == "csr"


def test_non_contiguous_and_list_input_give_identical_results():
    X = binary_data(60, 8, seed=14)
    y = np.arange(60) % 2
    wide = np.full((60, 16), 7.0)
    wide[:, ::2] = X
    for labels in (None, y):
        ref = small(n_iter=150).fit(X, labels)
        for Xv, yv in ((wide[:, ::2], labels), (np.asfortranarray(X), labels),
                       (X.tolist(), None if labels is None else labels.tolist())):
            other = small(n_iter=150).fit(Xv, yv)
            assert_same_model(ref, other)
            assert other.history_ == ref.history_
            yk = {} if labels is None else dict(y=yv)
            assert other.discriminate(Xv, **yk).tobytes() == \
                ref.discriminate(X, **({} if labels is None else dict(y=labels))).tobytes()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("fmt", ["dense", "fortran", "csr"])
def test_fit_and_inference_do_not_modify_x_or_y(dtype, fmt):
    X0 = binary_data(60, 10, seed=15, density=0.3).astype(dtype)
    X = {"dense": X0.copy(), "fortran": np.asfortranarray(X0), "csr": sp.csr_matrix(X0)}[fmt]
    X_before = copy.deepcopy(X)
    y = np.arange(60) % 3
    y_before = y.copy()
    for labels in (None, y):
        yk = {} if labels is None else dict(y=labels)
        m = small(n_iter=100).fit(X, labels)
        m.partial_fit(X, labels)
        m.log_likelihood(X, n_samples=10, **yk)
        m.score(X, labels)
        m.discriminate(X, **yk)
        if labels is not None:
            m.sample(60, y=labels)
    np.testing.assert_array_equal(y, y_before)
    if fmt == "csr":
        assert (X != X_before).nnz == 0
        assert X.data.dtype == dtype
        assert X.indices.tobytes() == X_before.indices.tobytes()
    else:
        assert X.tobytes() == X_before.tobytes() and X.flags.f_contiguous == (fmt == "fortran")


def test_fit_is_reproducible_and_seed_dependent():
    X = binary_data(60, 10, seed=16)
    a = small(random_state=7).fit(X)
    b = small(random_state=7).fit(X)
    c = small(random_state=8).fit(X)
    assert_same_model(a, b)
    assert a.history_ == b.history_
    assert not np.array_equal(a.components_[0], c.components_[0])
    # refitting the same object replays the same fit, whatever happened in between
    a.sample(5)
    a.partial_fit(X)
    a.fit(X)
    assert_same_model(a, b)
    assert a.sample(10).tobytes() == b.sample(10).tobytes()
    # a RandomState instance is accepted
    assert small(random_state=np.random.RandomState(3)).fit(X).sample(2).shape == (2, 10)


# ---------------------------------------------------------------------------------------------
# 4. history_ and verbose
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("loss", ["gan", "wgan", "mle"])
def test_history_has_one_entry_per_generator_update(loss):
    X = binary_data(80, 12, seed=17, density=0.3)
    m = small(loss=loss, n_iter=250, n_critic=2).fit(X)
    h = m.history_
    assert set(h) == HISTORY_KEYS and m.n_iter_ == 250
    assert all(len(v) == 250 for v in h.values())
    assert all(isinstance(v, float) and np.isfinite(v) for vs in h.values() for v in vs)
    real, fake = np.array(h["real_score"]), np.array(h["fake_score"])
    dis, gen = np.array(h["discriminator_objective"]), np.array(h["generator_objective"])
    if loss == "gan":
        # f = sigmoid(a): scores in (0, 1), phi = log f and psi = log(1 - f) negative
        assert np.all((real > 0) & (real < 1)) and np.all((fake > 0) & (fake < 1))
        assert np.all(dis < 0) and np.all(gen < 0)
        # E log(1 - f(Y)) <= log(1 - E f(Y)) (Jensen) on the generator step's own samples
        assert np.all(gen <= np.log1p(-fake) + 1e-12)
    elif loss == "mle":
        # f = exp(a) > 0, psi = -f: the generator objective is minus the fake score
        assert np.all(real > 0) and np.all(fake > 0)
        np.testing.assert_allclose(gen, -fake, rtol=1e-12)
    else:
        # psi = -f: the generator objective is minus the fake score; clipped weights keep
        # every output small
        np.testing.assert_allclose(gen, -fake, rtol=1e-12)
        assert np.abs(real).max() < 1 and np.abs(fake).max() < 1
    # partial_fit appends; n_iter=0 gives an empty history with every key
    m.partial_fit(X)
    assert all(len(v) == 258 for v in m.history_.values()) and m.n_iter_ == 258
    empty = small(n_iter=0).fit(X)
    assert empty.history_ == {k: [] for k in HISTORY_KEYS} and empty.n_iter_ == 0


def test_optimizer_step_counts_follow_n_critic():
    X = binary_data(40, 8, seed=18)
    m = small(n_critic=3, n_iter=120).fit(X)
    assert list(m._t) == [120, 360]
    m.partial_fit(X)  # 40 // 10 = 4 generator updates
    assert list(m._t) == [124, 372] and m.n_iter_ == 124


VERBOSE_LINE = re.compile(
    r"^\[AdversarialDBN\] Iteration (\d+), discriminator objective = (-?\d+\.\d{4}), "
    r"generator objective = (-?\d+\.\d{4}), real score = (-?\d+\.\d{3}), "
    r"fake score = (-?\d+\.\d{3}), time = \d+\.\d\ds$")


def test_verbose_prints_one_line_per_chunk_of_100_updates(capfd):
    assert adbn_module._CHUNK == 100
    X = binary_data(50, 10, seed=19)
    m = small(n_iter=250, verbose=1).fit(X)
    lines = [line for line in capfd.readouterr().out.splitlines() if line.strip()]
    its = [VERBOSE_LINE.match(line) for line in lines]
    assert len(its) == 3 and all(its), lines
    assert [int(g.group(1)) for g in its] == [100, 200, 250]
    h = m.history_
    for g in its:
        i = int(g.group(1)) - 1
        assert g.group(2) == "%.4f" % h["discriminator_objective"][i]
        assert g.group(3) == "%.4f" % h["generator_objective"][i]
        assert g.group(4) == "%.3f" % h["real_score"][i]
        assert g.group(5) == "%.3f" % h["fake_score"][i]
    # partial_fit reports its updates too; verbose=0 prints nothing
    m.partial_fit(X)
    out = capfd.readouterr().out.strip().splitlines()
    assert len(out) == 1 and VERBOSE_LINE.match(out[0]) and "Iteration 255," in out[0]
    small(n_iter=250).fit(X).partial_fit(X)
    assert capfd.readouterr().out == ""


# ---------------------------------------------------------------------------------------------
# 5. sample()
# ---------------------------------------------------------------------------------------------
def deterministic_generator(dtype=np.float64, seed=20):
    """A fitted (3, 4) generator on 5 pixels whose two hidden layers are certain: h^1 =
    [1, 0, 1] from biases +-50, and h^2 = [1, 0, 0, 1] from h^1 through weights of +-100
    (every input is +-50 or more). The data layer has generic weights: p_L(x = 1 | h^2) =
    sigmoid(b_L + W_L h^2) = sigmoid(b_L + W_L[:, 0] + W_L[:, 3])."""
    m = small(hidden_layer_sizes=(3, 4), n_iter=0).fit(binary_data(20, 5, seed=seed,
                                                                   dtype=dtype))
    rng = np.random.default_rng(seed)
    m.intercepts_[0][...] = [50.0, -50.0, 50.0]
    m.components_[0][...] = [[100.0, 0.0, 0.0], [0.0, 100.0, 0.0], [0.0, 0.0, -100.0],
                             [100.0, 100.0, 100.0]]
    m.intercepts_[1][...] = [-50.0, -50.0, 50.0, -150.0]
    m.components_[1][...] = rng.normal(0.0, 1.5, (5, 4))
    m.intercepts_[2][...] = rng.normal(0.0, 1.0, 5)
    h2 = np.array([1.0, 0.0, 0.0, 1.0])
    a = m.intercepts_[2].astype(np.float64) + m.components_[1].astype(np.float64) @ h2
    return m, h2, a


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sample_probabilities_are_the_sigmoid_of_the_data_layer_input(dtype):
    m, h2, a = deterministic_generator(dtype)
    expected = sigmoid(a)
    assert np.all((expected > 0.02) & (expected < 0.98))
    assert np.abs(expected - sigmoid(m.intercepts_[2].astype(np.float64))).max() > 0.1
    P = m.sample(40, return_probabilities=True, random_state=0)
    assert P.shape == (40, 5) and P.dtype == dtype
    tol = 1e-12 if dtype == np.float64 else 1e-6
    np.testing.assert_allclose(P, np.tile(expected, (40, 1)), rtol=tol, atol=tol)
    # the states are the hidden layers' certain values, and the data layer draws from P
    states, probs = m._forward(3000, None, 1)
    np.testing.assert_array_equal(states[0], np.tile([1.0, 0.0, 1.0], (3000, 1)))
    np.testing.assert_array_equal(states[1], np.tile(h2, (3000, 1)))
    S = m.sample(3000, random_state=1)
    np.testing.assert_array_equal(S, states[-1])
    assert np.all((S == 0) | (S == 1))
    se = np.sqrt(expected * (1 - expected) / 3000)
    assert np.all(np.abs(S.mean(axis=0) - expected) < 4 * se + 1e-3), (S.mean(axis=0), expected)


def test_sample_shape_dtype_and_values(fitted_module):
    m, _ = fitted_module
    m = copy.deepcopy(m)
    S = m.sample(25)
    assert S.shape == (25, 12) and S.dtype == np.float64
    assert np.all((S == 0) | (S == 1)) and 0 < S.sum() < S.size
    P = m.sample(25, return_probabilities=True)
    assert P.shape == (25, 12) and np.all((P > 0) & (P < 1))
    assert len(np.unique(P)) > 12
    assert m.sample().shape == (1, 12)  # the defaults run
    for probs in (False, True):
        Z = m.sample(0, return_probabilities=probs)
        assert Z.shape == (0, 12) and Z.dtype == np.float64


@pytest.mark.parametrize("n_samples", [-1, 2.5, True, None, "3"], ids=repr)
def test_sample_invalid_counts_raise(fitted_module, n_samples):
    m, _ = fitted_module
    with pytest.raises(ValueError, match="n_samples"):
        m.sample(n_samples)


def test_sample_random_streams(fitted_module):
    _, X = fitted_module
    m = small(random_state=5).fit(X)
    first = [m.sample(20) for _ in range(3)]
    # successive calls without random_state continue the model's stream
    assert not np.array_equal(first[0], first[1])
    assert not np.array_equal(first[1], first[2])
    # the whole sequence is reproducible from the model's random_state
    again = small(random_state=5).fit(X)
    for a in first:
        assert a.tobytes() == again.sample(20).tobytes()
    # an int random_state gives the same draw whatever came before
    s1 = m.sample(20, random_state=11)
    m.sample(5)
    assert s1.tobytes() == m.sample(20, random_state=11).tobytes()
    assert s1.tobytes() == again.sample(20, random_state=11).tobytes()
    assert not np.array_equal(s1, m.sample(20, random_state=12))
    # with one random_state, the probabilities are those the states were drawn from
    states, probs = m._forward(20, None, 11)
    assert s1.tobytes() == states[-1].tobytes()
    P = m.sample(20, return_probabilities=True, random_state=11)
    assert P.tobytes() == probs.tobytes()
    assert not np.array_equal(P, m.sample(20, return_probabilities=True, random_state=12))
    # a RandomState instance advances: two draws from it differ
    rs = np.random.RandomState(0)
    assert not np.array_equal(m.sample(20, random_state=rs), m.sample(20, random_state=rs))


def conditional_generator(dtype=np.float64, seed=21):
    """A fitted conditional label -> data generator (no hidden layer) with string labels:
    the penultimate layer is the one-hot label, so p_L(x = 1 | y = k) = sigmoid(b + W[:, k])."""
    X = binary_data(30, 6, seed=seed, dtype=dtype)
    y = np.array(["cat", "dog", "eel"])[np.arange(30) % 3]
    m = small(hidden_layer_sizes=(), n_iter=0).fit(X, y)
    rng = np.random.default_rng(seed)
    m.components_[0][...] = rng.normal(0.0, 2.0, (6, 3))
    m.intercepts_[1][...] = rng.normal(0.0, 1.0, 6)
    A = (m.intercepts_[1].astype(np.float64)[:, None] + m.components_[0]).T  # (3, 6)
    return m, A


def test_conditional_sample_takes_one_label_or_one_per_sample():
    m, A = conditional_generator()
    np.testing.assert_array_equal(m.classes_, ["cat", "dog", "eel"])
    P = sigmoid(A)
    np.testing.assert_allclose(m.sample(4, y="dog", return_probabilities=True),
                               np.tile(P[1], (4, 1)), rtol=1e-12)
    y = np.array(["eel", "cat", "eel", "dog"])
    np.testing.assert_allclose(m.sample(4, y=y, return_probabilities=True), P[[2, 0, 2, 1]],
                               rtol=1e-12)
    np.testing.assert_allclose(m.sample(4, y=list(y), return_probabilities=True),
                               P[[2, 0, 2, 1]], rtol=1e-12)
    S = m.sample(3000, y="eel", random_state=0)
    assert np.all((S == 0) | (S == 1))
    assert np.abs(S.mean(axis=0) - P[2]).max() < 0.04
    assert m.sample(0, y="cat").shape == (0, 6)
    assert m.sample(0, y=[]).shape == (0, 6)
    # labels are required, must be known, and one or one per sample
    with pytest.raises(ValueError, match="conditional"):
        m.sample(3)
    with pytest.raises(ValueError, match="unknown labels"):
        m.sample(3, y="fox")
    with pytest.raises(ValueError, match="unknown labels"):
        m.sample(2, y=["cat", "fox"])
    with pytest.raises(ValueError, match="unknown labels"):
        m.sample(2, y=[0, 1])
    for bad in (["cat", "dog"], [["cat"] * 3], np.array(["cat"] * 4)):
        with pytest.raises(ValueError, match="labels"):
            m.sample(3, y=bad)


def test_unconditional_model_refuses_labels(fitted_module):
    m, X = fitted_module
    for call in (lambda: m.sample(3, y=0), lambda: m.sample(3, y=[0, 1, 0]),
                 lambda: m.discriminate(X, y=np.zeros(len(X))),
                 lambda: m.log_likelihood(X, y=np.zeros(len(X)), n_samples=5),
                 lambda: m.score(X, np.zeros(len(X)))):
        with pytest.raises(ValueError, match="without labels"):
            call()


# ---------------------------------------------------------------------------------------------
# 6. log_likelihood and score
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_log_likelihood_with_a_certain_penultimate_layer_is_exact(dtype):
    m, h2, a = deterministic_generator(dtype)
    X = all_states(5)  # every binary row
    exact = X @ a - np.logaddexp(0.0, a).sum()
    assert np.isclose(logsumexp(exact), 0.0)  # a distribution over the 32 rows
    tol = 1e-12 if dtype == np.float64 else 1e-5
    for n_samples in (1, 2, 17, 1000):
        ll = m.log_likelihood(X, n_samples=n_samples)
        assert ll.shape == (32,) and ll.dtype == np.float64
        np.testing.assert_allclose(ll, exact, rtol=tol, atol=tol)
    assert m.score(X) == pytest.approx(exact.mean(), rel=tol)
    np.testing.assert_allclose(m.log_likelihood(sp.csr_matrix(X), n_samples=3), exact, rtol=tol,
                               atol=tol)


def test_conditional_log_likelihood_with_label_as_penultimate_layer_is_exact():
    m, A = conditional_generator()
    X = all_states(6)
    y = np.array(["cat", "dog", "eel"])[np.arange(64) % 3]
    k = np.arange(64) % 3
    exact = np.sum(X * A[k], axis=1) - np.logaddexp(0.0, A[k]).sum(axis=1)
    for n_samples in (1, 5, 1000):
        np.testing.assert_allclose(m.log_likelihood(X, y, n_samples=n_samples), exact,
                                   rtol=1e-12)
    assert m.score(X, y) == pytest.approx(exact.mean(), rel=1e-12)
    # each row is scored under its own label: another labelling gives other values
    assert not np.allclose(m.log_likelihood(X, y[::-1], n_samples=1), exact)
    # labels: required, one per row, known
    with pytest.raises(ValueError, match="pass y"):
        m.log_likelihood(X)
    with pytest.raises(ValueError, match="pass y"):
        m.score(X)
    with pytest.raises(ValueError, match="one label per row"):
        m.log_likelihood(X, y[:10])
    with pytest.raises(ValueError, match="unknown labels"):
        m.log_likelihood(X[:2], ["cat", "fox"])


def _tiny_generator(conditional):
    """A generic tiny generator with strong weights: 3 -> 2 hidden units (or a 3-class label
    -> 3 hidden units) on 4 pixels, where p_L(x | h) varies a lot with h."""
    X = binary_data(20, 4, seed=22)
    y = np.arange(20) % 3 if conditional else None
    m = small(hidden_layer_sizes=(3,) if conditional else (3, 2), n_iter=0).fit(X, y)
    rng = np.random.default_rng(1)
    for w in m.components_:
        w[...] = rng.normal(0.0, 2.5, w.shape)
    for b in m.intercepts_[int(conditional):]:
        b[...] = rng.normal(0.0, 1.0, b.shape)
    return m, X, y


def test_log_likelihood_converges_to_the_exact_value_from_below():
    m, X, _ = _tiny_generator(conditional=False)
    exact, expected_log = exact_log_likelihoods(m, X)
    # the Jensen gap of a single sample is large here (measured 0.34 nats per row on average)
    assert (exact - expected_log).mean() > 0.2

    def runs(n_samples, n_runs):
        return np.array([m.log_likelihood(X, n_samples=n_samples, random_state=r).mean()
                         for r in range(n_runs)])

    # S = 1: log p_L(x | h) for one draw of h, whose mean is E_h log p_L(x | h) < log p(x).
    # This pins the distribution the penultimate layer is drawn from.
    one = runs(1, 400)
    se1 = one.std(ddof=1) / np.sqrt(len(one))
    assert abs(one.mean() - expected_log.mean()) < 4 * se1, (one.mean(), expected_log.mean())
    # S = 10 and 1000: closer, still not above the exact value in expectation
    ten, thousand = runs(10, 100), runs(1000, 20)
    gaps = []
    for est in (one, ten, thousand):
        se = est.std(ddof=1) / np.sqrt(len(est))
        assert est.mean() <= exact.mean() + 4 * se + 1e-3
        gaps.append(exact.mean() - est.mean())
    # measured gaps 0.36, 0.046, ~0.001
    assert gaps[0] > 0.2 and gaps[1] < 0.3 * gaps[0] and abs(gaps[2]) < 0.02, gaps
    np.testing.assert_allclose(m.log_likelihood(X, n_samples=20000, random_state=0), exact,
                               atol=0.03)


def test_conditional_log_likelihood_converges_to_log_p_x_given_y():
    m, X, y = _tiny_generator(conditional=True)
    exact, expected_log = np.empty(len(X)), np.empty(len(X))
    for k in range(3):
        rows = y == k
        exact[rows], expected_log[rows] = exact_log_likelihoods(m, X[rows], label=k)
    assert (exact - expected_log).mean() > 0.2
    one = np.array([m.log_likelihood(X, y, n_samples=1, random_state=r).mean()
                    for r in range(300)])
    se1 = one.std(ddof=1) / np.sqrt(len(one))
    assert abs(one.mean() - expected_log.mean()) < 4 * se1, (one.mean(), expected_log.mean())
    np.testing.assert_allclose(m.log_likelihood(X, y, n_samples=20000, random_state=0), exact,
                               atol=0.03)
    # the labels matter: log p(x | y) under the wrong labels is another function
    assert np.abs(m.log_likelihood(X, (y + 1) % 3, n_samples=20000, random_state=0)
                  - exact).max() > 0.5


def test_log_likelihood_random_streams_and_score_is_deterministic(fitted_module):
    m, X = fitted_module
    m = copy.deepcopy(m)
    ll = m.log_likelihood(X, n_samples=50, random_state=3)
    assert ll.shape == (60,) and np.all(ll < 0) and np.all(np.isfinite(ll))
    assert ll.tobytes() == m.log_likelihood(X, n_samples=50, random_state=3).tobytes()
    assert not np.array_equal(ll, m.log_likelihood(X, n_samples=50, random_state=4))
    # without random_state: the model's stream, which moves on
    assert not np.array_equal(m.log_likelihood(X, n_samples=50),
                              m.log_likelihood(X, n_samples=50))
    # a row's estimate does not depend on the other rows (the same S samples for all rows)
    np.testing.assert_allclose(m.log_likelihood(X[5:9], n_samples=50, random_state=3), ll[5:9],
                               rtol=1e-12)
    # score: the mean over the rows, 1000 samples of a fixed stream - the same value whatever
    # came before
    s = m.score(X)
    assert isinstance(s, float)
    m.sample(7)
    m.log_likelihood(X, n_samples=5)
    assert m.score(X) == s
    assert s == pytest.approx(m.log_likelihood(X, random_state=m._seed).mean(), rel=1e-12)
    # 1000 samples of another stream agree closely
    assert s == pytest.approx(m.log_likelihood(X, n_samples=1000, random_state=9).mean(),
                              abs=0.05)


def test_conditional_score_is_deterministic(conditional_module):
    m, X, y = conditional_module
    m = copy.deepcopy(m)
    s = m.score(X, y)
    m.sample(5, y="a")
    assert m.score(X, y) == s
    assert s == pytest.approx(m.log_likelihood(X, y, n_samples=2000, random_state=1).mean(),
                              abs=0.05)
    ll = m.log_likelihood(X, y, n_samples=30, random_state=2)
    assert ll.tobytes() == m.log_likelihood(X, y, n_samples=30, random_state=2).tobytes()


@pytest.mark.parametrize("n_samples", [0, -1, 2.5, True, None], ids=repr)
def test_log_likelihood_invalid_counts_raise(fitted_module, n_samples):
    m, X = fitted_module
    with pytest.raises(ValueError, match="n_samples"):
        m.log_likelihood(X, n_samples=n_samples)


# ---------------------------------------------------------------------------------------------
# 7. discriminate()
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "tanh", "sigmoid"])
@pytest.mark.parametrize("loss", ["gan", "wgan", "mle"])
def test_discriminate_applies_the_head_of_the_loss(loss, activation):
    X = binary_data(60, 10, seed=23, density=0.3)
    # clip=0.5: WGAN's default bound of 0.01 would leave outputs of ~1e-4
    m = small(loss=loss, discriminator_activation=activation, discriminator_layer_sizes=(6, 5),
              n_iter=100, discriminator_learning_rate=1e-2, clip=0.5).fit(X)
    for b in m.discriminator_intercepts_[:-1]:  # give the hidden units both signs
        b += np.linspace(-0.3, 0.3, b.shape[0])
    a = mlp_output(m, X)
    assert a.std() > 1e-3
    f = m.discriminate(X)
    assert f.shape == (60,)
    head = {"gan": sigmoid, "wgan": lambda z: z, "mle": np.exp}[loss]
    np.testing.assert_allclose(f, head(a), rtol=1e-10, atol=1e-14)
    if loss == "gan":
        assert np.all((f > 0) & (f < 1))
    elif loss == "mle":
        assert np.all(f > 0)
    else:
        assert np.any(f < 0) or np.any(f > 0)


def test_conditional_discriminate_sees_the_one_hot_label(conditional_module):
    m, X, y = conditional_module
    onehot = (y[:, None] == m.classes_[None, :]).astype(np.float64)
    expected = sigmoid(mlp_output(m, np.hstack([onehot, X])))
    np.testing.assert_allclose(m.discriminate(X, y), expected, rtol=1e-10)
    np.testing.assert_allclose(m.discriminate(X, "b"),
                               sigmoid(mlp_output(m, np.hstack([np.tile([0, 1, 0], (60, 1)),
                                                                X]))), rtol=1e-10)
    with pytest.raises(ValueError, match="conditional"):
        m.discriminate(X)
    with pytest.raises(ValueError, match="unknown labels"):
        m.discriminate(X[:2], ["a", "z"])
    with pytest.raises(ValueError, match="labels"):
        m.discriminate(X, y[:5])


@pytest.mark.parametrize("loss", ["gan", "wgan", "mle"])
def test_generator_updates_raise_the_score_of_generated_rows_for_a_frozen_discriminator(loss):
    # Eq. 9 descends E psi(f(Y)); psi decreases in f for every loss, so against a fixed
    # discriminator the generator's samples must come to score higher.
    X = binary_data(200, 12, seed=24, density=0.3)
    m = small(loss=loss, n_iter=300, discriminator_learning_rate=1e-2, clip=0.1).fit(X)
    before = m.discriminate(m.sample(4000, random_state=0)).mean()
    D = [w.copy() for w in m.discriminator_weights_ + m.discriminator_intercepts_]
    m.set_params(discriminator_learning_rate=1e-300, learning_rate=1e-2)
    for _ in range(10):
        m.partial_fit(X)  # 20 generator updates each
    for a, b in zip(D, m.discriminator_weights_ + m.discriminator_intercepts_):
        np.testing.assert_array_equal(a, b)
    after = m.discriminate(m.sample(4000, random_state=0)).mean()
    assert after > before + 0.1 * abs(before) + 1e-3, (before, after)


def test_discriminator_updates_separate_real_from_generated_rows_for_a_frozen_generator():
    X = binary_data(200, 12, seed=25, density=0.3)
    X[:, :3] = X[:, [0]]  # correlated pixels the independent-pixel start cannot produce
    m = small(n_iter=0).fit(X)
    G = [w.copy() for w in m.components_ + m.intercepts_]
    m.set_params(learning_rate=1e-300, discriminator_learning_rate=1e-2, n_iter=600)
    m.fit(X)
    for a, b in zip(G, m.components_ + m.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-15, atol=1e-200)  # Adam steps of ~1e-300
    real = m.discriminate(X).mean()
    fake = m.discriminate(m.sample(2000, random_state=0)).mean()
    assert real > fake + 0.1, (real, fake)


# ---------------------------------------------------------------------------------------------
# 8. conditional training on digits
# ---------------------------------------------------------------------------------------------
def _label_accuracy_of_samples(model, X, y, classes, n_per_class=100):
    clf = LogisticRegression(max_iter=2000).fit(X, y)
    labels = np.repeat(classes, n_per_class)
    S = model.sample(len(labels), y=labels, random_state=0)
    return float(np.mean(clf.predict(S) == labels))


def test_conditional_model_generates_recognisable_digits_fast(digits):
    # A (32,) generator below the 10-unit label layer learns quickly: measured 0.89 - 0.91
    # (random_state 0..2) after 2000 updates (~1 s); chance is 0.1, and an untrained model,
    # whose samples ignore the label, scores at chance.
    X, y = digits
    kw = dict(hidden_layer_sizes=(32,), discriminator_layer_sizes=(64,), learning_rate=1e-2,
              discriminator_learning_rate=1e-3, baseline=True, batch_size=64, random_state=0)
    model = AdversarialDBN(n_iter=2000, **kw).fit(X, y)
    untrained = AdversarialDBN(n_iter=0, **kw).fit(X, y)
    np.testing.assert_array_equal(model.classes_, np.arange(10))
    acc = _label_accuracy_of_samples(model, X, y, np.arange(10))
    chance = _label_accuracy_of_samples(untrained, X, y, np.arange(10))
    assert chance < 0.2, chance
    assert acc > 0.7, acc


@pytest.mark.slow
def test_conditional_digits_model_of_the_text_generates_recognisable_digits(digits):
    # The text's 64-64-64 generator (below the label layer) and 64-64-1 discriminator. The
    # maintainer measured 0.876 after 20000 updates (~10 s on one idle core, ~140 s loaded);
    # chance is 0.1.
    X, y = digits
    model = AdversarialDBN((64, 64), discriminator_layer_sizes=(64,), n_iter=20000,
                           learning_rate=1e-2, discriminator_learning_rate=1e-3, baseline=True,
                           batch_size=64, random_state=0).fit(X, y)
    acc = _label_accuracy_of_samples(model, X, y, np.arange(10))
    assert acc > 0.75, acc


# ---------------------------------------------------------------------------------------------
# 9. partial_fit
# ---------------------------------------------------------------------------------------------
def test_partial_fit_initialises_then_makes_n_rows_over_batch_size_updates():
    X = binary_data(95, 12, seed=26)
    m = small(n_iter=5000)
    assert not hasattr(m, "components_")
    assert m.partial_fit(X[:60]) is m
    assert [w.shape for w in m.components_] == [(4, 6), (12, 4)]
    assert m.n_features_in_ == 12 and m.classes_ is None
    assert m.n_iter_ == 6 and all(len(v) == 6 for v in m.history_.values())  # not n_iter
    # the first call is fit with n_iter = 60 // 10 on the same rows
    assert_same_model(m, small(n_iter=6).fit(X[:60]))
    W = [w.copy() for w in m.components_]
    m.partial_fit(X[60:95])  # 35 // 10 = 3
    assert m.n_iter_ == 9 and all(len(v) == 9 for v in m.history_.values())
    m.partial_fit(X[:5])  # fewer rows than a batch: one update
    assert m.n_iter_ == 10
    assert not np.array_equal(W[0], m.components_[0])
    assert all(np.isfinite(a).all() for a in model_arrays(m).values())


def test_partial_fit_continues_from_fit_instead_of_reinitialising():
    X = binary_data(100, 12, seed=27)
    m = small().fit(X)
    before = snapshot(m)
    m.set_params(learning_rate=1e-12, discriminator_learning_rate=1e-12)
    m.partial_fit(X)
    after = model_arrays(m)
    for name in before:
        if name.split("[")[0] in PARAMETERS:
            # a re-initialisation would draw new weights and reset the data bias
            np.testing.assert_allclose(after[name], before[name], rtol=0, atol=1e-8,
                                       err_msg=name)
    assert m.n_iter_ == 210 and list(m._t) == [210, 210]


def test_conditional_partial_fit_needs_known_labels():
    X = binary_data(60, 10, seed=28)
    y = np.array([3, 5, 7])[np.arange(60) % 3]
    m = small().partial_fit(X, y)
    np.testing.assert_array_equal(m.classes_, [3, 5, 7])
    assert m.components_[0].shape == (6, 3)
    m.partial_fit(X[:30], y[:30])
    m.partial_fit(X[y == 5], y[y == 5])  # one known class is fine
    assert m.n_iter_ == 6 + 3 + 2
    # the label layer is clamped: its bias is never trained
    assert not np.any(m.intercepts_[0])
    before = snapshot(m)
    history = copy.deepcopy(m.history_)
    for bad_y, message in ((None, "pass y"), (np.full(60, 4), "not seen"),
                           (np.where(np.arange(60) == 7, 9, y), "not seen"),
                           (y[:30], "one label per row"),
                           (np.linspace(0, 1, 60), "(?i)label type|continuous")):
        with pytest.raises(ValueError, match=message):
            m.partial_fit(X, bad_y)
        assert_same_model(m, before)
        assert m.history_ == history
    # labels for a model fitted without them
    plain = small().partial_fit(X)
    with pytest.raises(ValueError, match="without labels"):
        plain.partial_fit(X, y)
    assert plain.n_iter_ == 6


def test_refit_switches_between_conditional_and_unconditional():
    X = binary_data(40, 8, seed=41)
    y = np.arange(40) % 4
    m = small(n_iter=100).fit(X, y)
    assert m.components_[0].shape == (6, 4) and m.discriminator_weights_[0].shape == (5, 12)
    m.fit(X)
    assert m.classes_ is None and [w.shape for w in m.components_] == [(4, 6), (8, 4)]
    assert m.discriminator_weights_[0].shape == (5, 8)
    assert_same_model(m, small(n_iter=100).fit(X))
    assert m.sample(2).shape == (2, 8)
    m.fit(X, y + 10)
    np.testing.assert_array_equal(m.classes_, [10, 11, 12, 13])
    with pytest.raises(ValueError, match="conditional"):
        m.sample(2)


def test_fit_with_invalid_labels_raises_and_keeps_the_previous_fit():
    X = binary_data(40, 8, seed=29)
    m = small().fit(X)
    before = snapshot(m)
    for bad_y, message in ((np.linspace(0, 1, 40), "(?i)label type|continuous"),
                           (np.arange(39), "one label per row")):
        with pytest.raises(ValueError, match=message):
            m.fit(X, bad_y)
        assert_same_model(m, before)
        assert m.classes_ is None and m.n_features_in_ == 8


@pytest.mark.parametrize("n_features", [9, 13])
def test_partial_fit_with_another_feature_count_raises_and_keeps_the_model(n_features):
    X = binary_data(40, 11, seed=30)
    m = small().partial_fit(X)
    before = snapshot(m)
    history = copy.deepcopy(m.history_)
    with pytest.raises(ValueError, match=rf"{n_features} features.*11"):
        m.partial_fit(binary_data(40, n_features, seed=31))
    assert_same_model(m, before)
    assert m.history_ == history
    assert m.n_features_in_ == 11 and m.n_iter_ == 4
    m.partial_fit(X)
    assert m.n_iter_ == 8


# ---------------------------------------------------------------------------------------------
# 10. bad input, methods before fit
# ---------------------------------------------------------------------------------------------
N_FEATURES = 6


@pytest.fixture
def fitted():
    return small().fit(binary_data(40, N_FEATURES, seed=32))


CALLS = {
    "fit": lambda m, X: m.fit(X),
    "partial_fit": lambda m, X: m.partial_fit(X),
    "log_likelihood": lambda m, X: m.log_likelihood(X, n_samples=5),
    "score": lambda m, X: m.score(X),
    "discriminate": lambda m, X: m.discriminate(X),
}


def _non_finite():
    good = binary_data(5, N_FEATURES, seed=33)
    nan, inf, ninf = good.copy(), good.copy(), good.copy()
    nan[2, 3] = np.nan
    inf[1, 0] = np.inf
    ninf[4, 5] = -np.inf
    return {"nan": (nan, "NaN"), "inf": (inf, "(?i)inf"), "-inf": (ninf, "(?i)inf")}


NON_FINITE = _non_finite()


def _assert_unchanged(m, before, history):
    assert_same_model(m, before)
    assert m.history_ == history
    assert m.n_features_in_ == N_FEATURES and m.n_iter_ == 200


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
    _assert_unchanged(fitted, before, history)
    with pytest.raises(ValueError, match=message):
        CALLS[call](fitted, sp.csr_matrix(X))
    _assert_unchanged(fitted, before, history)
    assert fitted.sample(3).shape == (3, N_FEATURES)


@pytest.mark.parametrize("call", sorted(set(CALLS) - {"fit"}))
@pytest.mark.parametrize("n_features", [N_FEATURES - 1, N_FEATURES + 2])
def test_wrong_number_of_features_raises(fitted, call, n_features):
    X = binary_data(5, n_features, seed=34)
    before = snapshot(fitted)
    history = copy.deepcopy(fitted.history_)
    with pytest.raises(ValueError, match=rf"{n_features} features.*{N_FEATURES}"):
        CALLS[call](fitted, X)
    _assert_unchanged(fitted, before, history)


BAD_SHAPES = {"1-D": np.zeros(6), "3-D": np.zeros((2, 3, 2)), "no rows": np.zeros((0, 6)),
              "no cols": np.zeros((3, 0)), "one row": np.zeros((1, 6))}


@pytest.mark.parametrize("bad", sorted(BAD_SHAPES))
@pytest.mark.parametrize("call", sorted(CALLS))
def test_degenerate_shapes_raise_value_error_and_leave_the_fitted_model_unchanged(fitted, call,
                                                                                  bad):
    before = snapshot(fitted)
    history = copy.deepcopy(fitted.history_)
    if bad == "one row" and call not in ("fit", "partial_fit"):
        # inference on a single row is fine
        assert np.shape(CALLS[call](fitted, BAD_SHAPES[bad])) in ((1,), ())
    else:
        with pytest.raises(ValueError, match="n_samples=1" if bad == "one row" else None):
            CALLS[call](fitted, BAD_SHAPES[bad])
    _assert_unchanged(fitted, before, history)


@pytest.mark.parametrize("bad", sorted(BAD_SHAPES))
@pytest.mark.parametrize("call", ["fit", "partial_fit"])
def test_degenerate_shapes_leave_a_new_estimator_unfitted(call, bad):
    m = small()
    with pytest.raises(ValueError):
        CALLS[call](m, BAD_SHAPES[bad])
    assert not hasattr(m, "components_") and not hasattr(m, "n_features_in_")


CALLS_BEFORE_FIT = {
    "sample": lambda m: m.sample(3),
    "log_likelihood": lambda m: m.log_likelihood(binary_data(4, 5)),
    "score": lambda m: m.score(binary_data(4, 5)),
    "discriminate": lambda m: m.discriminate(binary_data(4, 5)),
}


@pytest.mark.parametrize("call", sorted(CALLS_BEFORE_FIT))
def test_methods_before_fit_raise_not_fitted_error(call):
    with pytest.raises(NotFittedError):
        CALLS_BEFORE_FIT[call](small())


# ---------------------------------------------------------------------------------------------
# 11. divergence and Ctrl-C during fit
# ---------------------------------------------------------------------------------------------
def test_divergence_raises_and_restores_the_chunk_start():
    # SGD at learning rates of 1e38 overflows a float32 model in its first updates
    X = binary_data(60, 12, seed=35, dtype=np.float32)
    m = small(n_iter=150).fit(X)
    before = snapshot(m)
    history = copy.deepcopy(m.history_)
    m.set_params(optimizer="sgd", learning_rate=1e38, discriminator_learning_rate=1e38)
    with pytest.raises(FloatingPointError, match="learning rate"):
        m.partial_fit(X)
    assert_same_model(m, before)
    assert m.history_ == history and m.n_iter_ == 150 and list(m._t) == [150, 150]
    # a fresh fit that diverges in its first chunk keeps the initial model
    fresh = small(n_iter=300, optimizer="sgd", learning_rate=1e38,
                  discriminator_learning_rate=1e38)
    with pytest.raises(FloatingPointError):
        fresh.fit(X)
    assert fresh.n_iter_ == 0 and fresh.history_ == {k: [] for k in HISTORY_KEYS}
    assert all(np.isfinite(a).all() for a in model_arrays(fresh).values())
    assert_same_model(fresh, small(n_iter=0).fit(X))


# Two chunk lengths (single BLAS thread, idle machine): ~45 ms chunks of 100 updates (about
# ten finish before the signal, which then lands in the core or in the Python bookkeeping
# between chunks) and ~0.6 s chunks (the signal lands inside the first or second one; the
# core polls every 16 updates). Either way n_iter updates would take far longer.
SIGINT_CASES = {
    "short_chunks": dict(n=500, n_features=64, sizes=(64, 64), dsizes=(64,), batch_size=64),
    "long_chunks": dict(n=500, n_features=200, sizes=(200, 200), dsizes=(200,),
                        batch_size=128),
}


@pytest.mark.parametrize("case", sorted(SIGINT_CASES))
def test_keyboard_interrupt_keeps_whole_chunks_and_a_usable_model(case):
    cfg = SIGINT_CASES[case]
    X = binary_data(cfg["n"], cfg["n_features"], seed=36, density=0.3)
    params = dict(hidden_layer_sizes=cfg["sizes"], discriminator_layer_sizes=cfg["dsizes"],
                  batch_size=cfg["batch_size"], random_state=0)
    m = AdversarialDBN(n_iter=10**7, **params)
    previous_handler = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(0.5, os.kill, args=(os.getpid(), signal.SIGINT))
    try:
        t0 = time.perf_counter()
        timer.start()
        with pytest.raises(KeyboardInterrupt):
            m.fit(X)
        raised_after = time.perf_counter() - t0
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, previous_handler)
    h = m.history_
    n_done = m.n_iter_
    assert n_done < 10**7 and n_done % adbn_module._CHUNK == 0
    assert {k: len(v) for k, v in h.items()} == {k: n_done for k in HISTORY_KEYS}
    assert list(m._t) == [n_done, n_done]
    for name, arr in model_arrays(m).items():
        assert np.isfinite(arr).all(), name
    # "keeps whole chunks": parameters and optimizer states are exactly those after the
    # n_done updates that history_ reports
    t1 = time.perf_counter()
    reference = AdversarialDBN(n_iter=n_done, **params).fit(X)
    per_chunk = (time.perf_counter() - t1) / max(1, n_done // adbn_module._CHUNK)
    assert_same_model(m, reference)
    assert h == reference.history_
    # interrupted promptly: within a chunk of the signal
    assert raised_after < 0.5 + per_chunk + 1.0, (raised_after, per_chunk)
    # and usable: inference and further training work
    assert m.sample(3).shape == (3, cfg["n_features"])
    assert np.isfinite(m.log_likelihood(X[:5], n_samples=10)).all()
    m.partial_fit(X[:256])
    assert m.n_iter_ == n_done + 256 // cfg["batch_size"]
    assert all(len(v) == m.n_iter_ for v in m.history_.values())


@pytest.mark.parametrize("when", ["before_core", "after_core"])
def test_interrupt_between_core_calls_is_held_until_the_chunk_is_recorded(monkeypatch, when):
    # A SIGINT that arrives while the core is not running (just before or just after the
    # third chunk's core call) is held until that chunk's bookkeeping is done, so history_
    # records exactly the updates the parameters went through.
    X = binary_data(60, 12, seed=37)
    original = adbn_module._core.adbn_train
    calls = {"n": 0}

    def train(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3 and when == "before_core":
            os.kill(os.getpid(), signal.SIGINT)
        out = original(*args, **kwargs)
        if calls["n"] == 3 and when == "after_core":
            os.kill(os.getpid(), signal.SIGINT)
        return out

    monkeypatch.setattr(adbn_module._core, "adbn_train", train)
    m = small(n_iter=1000)
    previous_handler = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            m.fit(X)
        # the guard is gone: the handler in place before fit is back
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, previous_handler)
    monkeypatch.undo()
    assert calls["n"] == 3  # stopped after the third chunk, not later
    assert m.n_iter_ == 300 and all(len(v) == 300 for v in m.history_.values())
    reference = small(n_iter=300).fit(X)
    assert_same_model(m, reference)
    assert m.history_ == reference.history_


# ---------------------------------------------------------------------------------------------
# 12. pickle, deepcopy, clone, save_model / load_model, read-only models
# ---------------------------------------------------------------------------------------------
def _outputs(m, X, y=None):
    yk = {} if y is None else dict(y=y)
    ys = {} if y is None else dict(y=y[:5])
    return {
        "sample": m.sample(5, random_state=1, **ys),
        "probabilities": m.sample(5, return_probabilities=True, random_state=1, **ys),
        "log_likelihood": m.log_likelihood(X, n_samples=20, random_state=2, **yk),
        "score": np.array(m.score(X, y)),
        "discriminate": m.discriminate(X, **yk),
    }


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("conditional", [False, True], ids=["plain", "conditional"])
def test_pickle_round_trip_and_deepcopy_give_identical_outputs(dtype, conditional, tmp_path):
    X = binary_data(60, 12, seed=38, dtype=dtype)
    y = np.array(["x", "y"])[np.arange(60) % 2] if conditional else None
    m = small(n_iter=150).fit(X, y)
    expected = _outputs(m, X, y)
    pydbn.save_model(m, tmp_path / "adbn.joblib")
    loaded = pydbn.load_model(tmp_path / "adbn.joblib")
    restored = pickle.loads(pickle.dumps(m))
    duplicate = copy.deepcopy(m)
    for other in (restored, duplicate, loaded):
        assert type(other) is AdversarialDBN
        assert other.get_params() == m.get_params()
        assert_same_model(m, other)
        assert not np.shares_memory(other.components_[0], m.components_[0])
        got = _outputs(other, X, y)
        for name in expected:
            assert got[name].tobytes() == expected[name].tobytes(), name
        assert other.history_ == m.history_
        assert other.n_features_in_ == m.n_features_in_
    # the copies carry on the model's random stream and training from where it was
    a, b = pickle.loads(pickle.dumps(m)), copy.deepcopy(m)
    ys = {} if y is None else dict(y=y[:7])
    assert a.sample(7, **ys).tobytes() == b.sample(7, **ys).tobytes()
    a.partial_fit(X, y)
    b.partial_fit(X, y)
    assert_same_model(a, b)
    assert a.n_iter_ == 156


def test_clone_copies_parameters_and_no_fitted_state():
    params = dict(hidden_layer_sizes=(7, 5), discriminator_layer_sizes=(4,),
                  discriminator_activation="tanh", loss="wgan", n_iter=120, batch_size=7,
                  n_critic=2, learning_rate=2e-3, discriminator_learning_rate=3e-3,
                  optimizer="rmsprop", beta_1=0.8, beta_2=0.99, epsilon=1e-7, rho=0.8,
                  momentum=0.3, clip=0.05, baseline=False, weight_decay=1e-3, random_state=4,
                  verbose=0)
    X = binary_data(30, 6, seed=39)
    m = AdversarialDBN(**params).fit(X)
    twin = clone(m)
    assert twin.get_params() == params == m.get_params()
    for name in PARAMETERS + ("classes_", "history_", "n_iter_", "n_features_in_", "_g_state",
                              "_d_state", "_t", "_seed"):
        assert not hasattr(twin, name), name
    with pytest.raises(NotFittedError):
        twin.sample(2)
    # and the clone fits to the same model
    twin.fit(X)
    assert_same_model(twin, m)
    assert twin.history_ == m.history_


@pytest.mark.parametrize("conditional", [False, True], ids=["plain", "conditional"])
def test_read_only_fitted_arrays_still_serve_inference(conditional):
    X = binary_data(60, 12, seed=40)
    y = np.arange(60) % 3 if conditional else None
    m = small(n_iter=150).fit(X, y)
    expected = _outputs(m, X, y)
    for arr in model_arrays(m).values():
        arr.setflags(write=False)
    got = _outputs(m, X, y)
    for name in expected:
        assert got[name].tobytes() == expected[name].tobytes(), name
    # training needs to write: a clear error, and the model is left as it was
    before = snapshot(m)
    with pytest.raises(ValueError, match="(?i)read-only|writeable"):
        m.partial_fit(X, y)
    assert_same_model(m, before)
    assert m.n_iter_ == 150 and all(len(v) == 150 for v in m.history_.values())


def test_small_models_train_with_one_blas_thread_and_restore_the_setting():
    import threadpoolctl

    from pydbn._base import SMALL_GEMM, blas_threads_for

    def ours():
        return [lib.num_threads for lib in threadpoolctl.ThreadpoolController().lib_controllers
                if "scipy_openblas32" in (lib.filepath or "")]

    if not ours():
        pytest.skip("pydbn is linked against another BLAS")
    with threadpoolctl.threadpool_limits(2):
        before = ours()
        with blas_threads_for(64, 64):
            assert ours() == [1]
        assert ours() == before
        with blas_threads_for(SMALL_GEMM, 2):  # large GEMMs keep the threads
            assert ours() == before
