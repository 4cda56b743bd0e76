"""Property-based tests of the binding (hypothesis): the deterministic kernels of pydbn._core,
and the public methods built on them, equal exact NumPy formulas for random shapes (one row,
one column included), dtypes, memory layouts (C, Fortran, sliced with steps, reversed) and
parameters; and a call with malformed arguments raises ValueError or TypeError, never crashes
or writes a wrong result.

Every property runs twice: a fast tier (a few dozen examples, the whole file well under a
minute) and a slow tier with many more examples (``PYDBN_SLOW=1 pytest -m slow``).

Notation of the references (float64 throughout, on the very values the core received):
RBM  W (n_hidden, n_visible), b visible bias, c hidden bias; the last ``n_softmax`` visible
     units form a softmax (label) group; Gaussian visible units have unit variance.
     p(h | v) = sigmoid(c + v W'),
     F(v) = -b.v - sum_j softplus(c + v W')_j                   (binary; label units alike)
     F(v) = |v - b|^2 / 2 - b_y.v_y - sum_j softplus(...)_j     (Gaussian, y the label group)
DBM  biases b_0..b_L, W_k (n_{k+1}, n_k); E = -sum_k b_k.h_k - sum_k h_{k+1}' W_k h_k.
"""
from collections import Counter

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.special import expit, logsumexp, softmax
from threadpoolctl import threadpool_limits

import pydbn
from pydbn import _core

FAST, MANY = 30, 600
TIERS = pytest.mark.parametrize(
    "examples", [FAST, pytest.param(MANY, marks=pytest.mark.slow, id="many")],
    ids=lambda n: "fast" if n == FAST else "many")
DTYPES = (np.float32, np.float64)
RTOL = {np.float32: 2e-4, np.float64: 1e-10}
LEAKY_SLOPE = 0.2  # pdbn_mlp.h


@pytest.fixture(autouse=True)
def _one_blas_thread():
    # tiny GEMMs: OpenBLAS threads only add overhead (and stall on a loaded machine)
    with threadpool_limits(1):
        yield


def run(examples, body, **strategies):
    """Run ``body`` as a hypothesis test with ``examples`` examples."""
    test = given(**strategies)(body)
    settings(max_examples=examples, deadline=None, derandomize=examples == FAST,
             suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])(test)()


def assert_close(actual, expected, dtype, scale=1.0):
    """|actual - expected| <= rtol (|expected| + scale): relative, with an absolute floor for
    results that are sums of larger terms (scale: their magnitude)."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    assert np.all(np.isfinite(actual) == np.isfinite(expected))
    rtol = RTOL[np.dtype(dtype).type]
    bound = rtol * (np.abs(expected) + scale)
    err = np.abs(actual - expected)
    assert np.all(err <= bound), f"max error {err.max():.3g}, bound {bound[err > bound].min():.3g}"


# ---------------------------------------------------------------------------------------------
# strategies
# ---------------------------------------------------------------------------------------------
@st.composite
def layouts(draw, values):
    """``values`` (a 2-D array of the wanted dtype) in a random memory layout: C or Fortran
    order, rows and columns taken with steps, either axis reversed, or the transpose of the
    other order. The returned view equals ``values`` element for element."""
    rows, cols = values.shape
    kind = draw(st.sampled_from(["C", "F", "strided", "transposed"]))
    order = draw(st.sampled_from("CF"))
    if kind in ("C", "F"):
        out = np.empty((rows, cols), dtype=values.dtype, order=kind)
    elif kind == "transposed":
        out = np.empty((cols, rows), dtype=values.dtype, order=order).T
    else:
        rs, cs = draw(st.integers(1, 3)), draw(st.integers(1, 3))
        out = np.full((rows * rs, cols * cs), np.nan, dtype=values.dtype, order=order)
        out = out[::rs, ::cs]
    if draw(st.booleans()):
        out = out[::-1]
    if draw(st.booleans()):
        out = out[:, ::-1]
    out[...] = values
    return out


@st.composite
def rbm_cases(draw, gaussian=None, labels=True, max_visible=8, max_hidden=6):
    """(dtype, W, b, c, visible code, n_softmax, X values) of a random RBM and data."""
    dtype = draw(st.sampled_from(DTYPES))
    nv = draw(st.integers(1, max_visible))
    nh = draw(st.integers(1, max_hidden))
    ns = draw(st.integers(0, min(3, nv))) if labels else 0
    gauss = draw(st.booleans()) if gaussian is None else gaussian
    n = draw(st.integers(1, 9))
    scale = draw(st.sampled_from([0.01, 0.3, 1.0, 4.0]))
    rng = np.random.RandomState(draw(st.integers(0, 2**32 - 1)))
    W = (scale * rng.randn(nh, nv)).astype(dtype)
    b = rng.randn(nv).astype(dtype)
    c = rng.randn(nh).astype(dtype)
    if gauss:
        X = 1.5 * rng.randn(n, nv)
    else:
        X = rng.rand(n, nv) if draw(st.booleans()) else (rng.rand(n, nv) < 0.5) * 1.0
    if ns:  # a one-hot label group
        X[:, nv - ns:] = np.eye(ns)[rng.randint(0, ns, n)]
    code = _core.VISIBLE_GAUSSIAN if gauss else _core.VISIBLE_BERNOULLI
    return dtype, W, b, c, code, ns, X.astype(dtype)


def f64(*arrays):
    return [np.asarray(a, dtype=np.float64) for a in arrays]


# ---------------------------------------------------------------------------------------------
# NumPy references
# ---------------------------------------------------------------------------------------------
def softplus(a):
    return np.logaddexp(0.0, a)


def ref_hidden(X, W, c):
    return expit(X @ W.T + c)


def ref_visible_mean(P, W, b, gaussian, ns):
    a = P @ W + b
    nb = a.shape[1] - ns
    out = a.copy()
    if not gaussian:
        out[:, :nb] = expit(a[:, :nb])
    if ns:
        out[:, nb:] = softmax(a[:, nb:], axis=1)
    return out


def ref_free_energy(X, W, b, c, gaussian, ns):
    """(F(v) of each row, the magnitude of the terms summed)."""
    nb = X.shape[1] - ns
    hidden = softplus(X @ W.T + c).sum(axis=1)
    if gaussian:
        visible = -0.5 * ((X[:, :nb] - b[:nb]) ** 2).sum(axis=1) + X[:, nb:] @ b[nb:]
    else:
        visible = X @ b
    scale = np.abs(visible) + hidden + np.abs(X * b).sum(axis=1) + \
        np.abs(X @ np.abs(W.T)).sum(axis=1)
    return -visible - hidden, scale


def ref_rbm_log_partition(W, b, c, ns):
    """log Z of a binary RBM by enumerating every joint state (v, h), v's label group one-hot."""
    nh, nv = W.shape
    nb = nv - ns
    bits = lambda n: ((np.arange(2**n)[:, None] >> np.arange(n)) & 1).astype(float)  # noqa
    V = bits(nb)
    if ns:
        V = np.hstack([np.repeat(V, ns, axis=0), np.tile(np.eye(ns), (len(V), 1))])
    H = bits(nh)
    neg_energy = (V @ b)[:, None] + (H @ c)[None, :] + V @ W.T @ H.T
    return logsumexp(neg_energy)


def ref_dbm_mean_field(X, Ws, bs, n_sweeps):
    """The core's schedule: a bottom-up pass with doubled input below the top, then n_sweeps
    sequential sweeps of mu_k = sigmoid(b_k + mu_{k-1} W_{k-1}' + mu_{k+1} W_k)."""
    L = len(Ws)
    mus, below = [], X
    for k in range(1, L + 1):
        mus.append(expit(bs[k] + (2.0 if k < L else 1.0) * below @ Ws[k - 1].T))
        below = mus[-1]
    for _ in range(n_sweeps):
        for k in range(1, L + 1):
            z = bs[k] + (X if k == 1 else mus[k - 2]) @ Ws[k - 1].T
            if k < L:
                z = z + mus[k] @ Ws[k]
            mus[k - 1] = expit(z)
    return mus


def ref_dbm_log_unnormalised(X, Ws, bs):
    """log sum_h exp(-E(v, h)) of each row by enumerating every hidden state."""
    sizes = [len(b) for b in bs]
    total = sum(sizes[1:])
    H = ((np.arange(2**total)[:, None] >> np.arange(total)) & 1).astype(float)
    layers = np.split(H, np.cumsum(sizes[1:])[:-1], axis=1)
    out = np.empty(X.shape[0])
    for r, v in enumerate(X):
        hs = [np.broadcast_to(v, (len(H), len(v)))] + layers
        neg = sum(h @ b for h, b in zip(hs, bs))
        neg = neg + sum(np.einsum("ri,ij,rj->r", hs[k + 1], Ws[k], hs[k]) for k in range(len(Ws)))
        out[r] = logsumexp(neg)
    return out


def ref_mlp(X, Ws, bs, acts):
    a = X
    for W, b, code in zip(Ws, bs, acts):
        z = a @ W.T + b
        a = {_core.ACT_IDENTITY: z, _core.ACT_SIGMOID: expit(z), _core.ACT_RELU: np.maximum(z, 0),
             _core.ACT_TANH: np.tanh(z),
             _core.ACT_LEAKY_RELU: np.where(z > 0, z, LEAKY_SLOPE * z)}[code]
    return a


def ref_dcim_forward(X, Ws, bs, pm1):
    """Class probabilities and hidden means of the DCIM forward model (Eq. 14-15 of paper 001):
    inputs 2v - 1 and tanh means for the +-1 encoding, v and sigmoid means for the 0/1 one."""
    h = 2.0 * X - 1.0 if pm1 else X
    hidden = []
    for W, b in zip(Ws[:-1], bs[1:-1]):
        h = np.tanh(h @ W.T + b) if pm1 else expit(h @ W.T + b)
        hidden.append(h)
    return softmax(h @ Ws[-1].T + bs[-1], axis=1), hidden


def ref_mpf(states, Ws, bs):
    """MPF objective: mean over rows and over the single-unit flips y -> y' (one per unit)
    of exp((E(y) - E(y')) / 2), with E evaluated on every flipped configuration."""
    def energy(Y):
        e = -sum(y @ b for y, b in zip(Y, bs))
        return e - sum(np.einsum("ri,ij,rj->r", Y[k + 1], W, Y[k]) for k, W in enumerate(Ws))

    base = energy(states)
    total = np.zeros(len(states[0]))
    for k, y in enumerate(states):
        for j in range(y.shape[1]):
            flipped = [s.copy() for s in states]
            flipped[k][:, j] = 1.0 - flipped[k][:, j]
            total += np.exp((base - energy(flipped)) / 2.0)
    return float(total.mean()) / sum(y.shape[1] for y in states)


# ---------------------------------------------------------------------------------------------
# RBM kernels
# ---------------------------------------------------------------------------------------------
@TIERS
def test_rbm_hidden_probs_and_reconstruction_equal_numpy_for_any_layout(examples):
    def body(case, data):
        dtype, W, b, c, code, ns, values = case
        X = data.draw(layouts(values))
        gauss = code == _core.VISIBLE_GAUSSIAN
        model = (W, b, c, code, ns)
        Xd, Wd, bd, cd = f64(values, W, b, c)
        hidden = np.empty((len(X), W.shape[0]), dtype=dtype)
        _core.rbm_hidden_probs(model, X, hidden, False)
        assert_close(hidden, ref_hidden(Xd, Wd, cd), dtype)
        recon = np.full((len(X), W.shape[1]), np.nan, dtype=dtype)
        _core.rbm_reconstruct(model, X, recon, False)
        want = ref_visible_mean(ref_hidden(Xd, Wd, cd), Wd, bd, gauss, ns)
        assert_close(recon, want, dtype, scale=1.0 + np.abs(bd).max() + np.abs(Wd).sum(0).max())
        np.testing.assert_array_equal(X, values)  # the input is read, never written

    run(examples, body, case=rbm_cases(), data=st.data())


@TIERS
def test_rbm_free_energy_equals_numpy_for_any_layout(examples):
    def body(case, data):
        dtype, W, b, c, code, ns, values = case
        X = data.draw(layouts(values))
        out = np.empty(len(X))
        _core.rbm_free_energy((W, b, c, code, ns), X, out, False)
        want, scale = ref_free_energy(*f64(values, W, b, c), code == _core.VISIBLE_GAUSSIAN, ns)
        assert_close(out, want, dtype, scale=scale)

    run(examples, body, case=rbm_cases(), data=st.data())


@TIERS
def test_rbm_pseudo_loglik_is_n_visible_log_sigmoid_of_the_free_energy_gap(examples):
    def body(case, data, seed):
        dtype, W, b, c, code, ns, values = case
        X = data.draw(layouts(values))
        nv = W.shape[1]
        flips = np.random.RandomState(seed).randint(0, nv - ns, len(X)).astype(np.int64)
        out = np.empty(len(X))
        _core.rbm_pseudo_loglik((W, b, c, code, ns), X, flips, out, False)
        Xd, Wd, bd, cd = f64(values, W, b, c)
        flipped = Xd.copy()
        flipped[np.arange(len(X)), flips] = 1.0 - flipped[np.arange(len(X)), flips]
        f, scale = ref_free_energy(Xd, Wd, bd, cd, False, ns)
        f_flipped, scale_flipped = ref_free_energy(flipped, Wd, bd, cd, False, ns)
        want = -nv * softplus(f - f_flipped)  # nv log sigmoid(F(v') - F(v))
        assert_close(out, want, dtype, scale=nv * (scale + scale_flipped))

    st_case = rbm_cases(gaussian=False).filter(lambda case: case[1].shape[1] > case[5])
    run(examples, body, case=st_case, data=st.data(), seed=st.integers(0, 2**32 - 1))


@TIERS
def test_rbm_label_free_energy_and_label_summed_hidden_means_equal_numpy(examples):
    def body(case, data):
        dtype, W, b, c, code, ns, values = case
        nb = W.shape[1] - ns
        X = data.draw(layouts(np.ascontiguousarray(values[:, :nb])))
        free = np.empty((len(X), ns))
        hidden = np.empty((len(X), W.shape[0]), dtype=dtype)
        _core.rbm_label_free_energy((W, b, c, code, ns), X, free, hidden, False)
        Xd, Wd, bd, cd = f64(values[:, :nb], W, b, c)
        want, scale = np.empty((len(X), ns)), np.empty((len(X), ns))
        means = np.zeros((len(X), W.shape[0]))
        for y in range(ns):
            full = np.hstack([Xd, np.tile(np.eye(ns)[y], (len(X), 1))])
            want[:, y], scale[:, y] = ref_free_energy(full, Wd, bd, cd,
                                                      code == _core.VISIBLE_GAUSSIAN, ns)
        p_label = softmax(-want, axis=1)
        for y in range(ns):
            full = np.hstack([Xd, np.tile(np.eye(ns)[y], (len(X), 1))])
            means += p_label[:, [y]] * ref_hidden(full, Wd, cd)
        assert_close(free, want, dtype, scale=scale)
        # the label posterior is a softmax of free energies: float32 errors scale with them
        assert_close(hidden, means, dtype, scale=scale.max())

    st_case = rbm_cases().filter(lambda case: case[5] > 0 and case[1].shape[1] > case[5])
    run(examples, body, case=st_case, data=st.data())


@TIERS
def test_rbm_exact_log_partition_equals_enumeration_of_every_joint_state(examples):
    def body(case):
        dtype, W, b, c, code, ns, _ = case
        nh, nv = W.shape
        log_z = _core.rbm_log_partition_exact((W, b, c, code, ns), 24, False)
        want = ref_rbm_log_partition(*f64(W, b, c), ns)
        scale = np.abs(W).sum() + np.abs(b).sum() + np.abs(c).sum()
        assert_close(log_z, want, dtype, scale=scale)
        smaller = min(nh, nv - ns)
        if smaller > 1:  # one unit over the limit: a clear error, no enumeration
            with pytest.raises(ValueError, match="enumerates"):
                _core.rbm_log_partition_exact((W, b, c, code, ns), smaller - 1, False)

    run(examples, body, case=rbm_cases(gaussian=False, max_visible=6, max_hidden=5))


# ---------------------------------------------------------------------------------------------
# the RBM estimator: public methods on random parameters
# ---------------------------------------------------------------------------------------------
def rbm_with(W, b, c, dtype, visible, random_state):
    """A fitted RBM (no training epochs) whose parameters are then set to W, b, c."""
    nh, nv = W.shape
    est = pydbn.RBM(nh, n_iter=0, visible=visible, random_state=random_state)
    est.fit(np.zeros((2, nv), dtype=dtype))
    est.components_, est.intercept_visible_, est.intercept_hidden_ = W, b, c
    return est


@TIERS
def test_rbm_public_methods_equal_numpy_on_random_parameters(examples):
    def body(case, data, random_state):
        dtype, W, b, c, code, _, values = case
        gauss = code == _core.VISIBLE_GAUSSIAN
        est = rbm_with(W, b, c, dtype, "gaussian" if gauss else "bernoulli", random_state)
        X = data.draw(layouts(values))
        Xd, Wd, bd, cd = f64(values, W, b, c)
        h = est.transform(X)
        assert h.dtype == dtype
        assert_close(h, ref_hidden(Xd, Wd, cd), dtype)
        assert_close(est.reconstruct(X), ref_visible_mean(ref_hidden(Xd, Wd, cd), Wd, bd, gauss, 0),
                     dtype, scale=1.0 + np.abs(bd).max() + np.abs(Wd).sum(0).max())
        free, scale = ref_free_energy(Xd, Wd, bd, cd, gauss, 0)
        assert est.free_energy(X).dtype == dtype
        assert_close(est.free_energy(X), free, dtype, scale=scale)
        scores = est.score_samples(X)
        if gauss:
            assert_close(scores, -free, dtype, scale=scale)
        else:  # scikit-learn's flips: one unit per row from check_random_state(random_state)
            flips = np.random.RandomState(random_state).randint(0, W.shape[1], len(X))
            flipped = Xd.copy()
            flipped[np.arange(len(X)), flips] = 1.0 - flipped[np.arange(len(X)), flips]
            free_flipped, scale_flipped = ref_free_energy(flipped, Wd, bd, cd, False, 0)
            assert_close(scores, -W.shape[1] * softplus(free - free_flipped), dtype,
                         scale=W.shape[1] * (scale + scale_flipped))
        if not gauss and min(W.shape) <= 10:
            log_z = ref_rbm_log_partition(Wd, bd, cd, 0)
            assert_close(est.log_likelihood(X), -free - log_z, dtype, scale=scale + abs(log_z))

    run(examples, body, case=rbm_cases(labels=False), data=st.data(),
        random_state=st.integers(0, 2**31 - 1))


# ---------------------------------------------------------------------------------------------
# DBM kernels and estimator
# ---------------------------------------------------------------------------------------------
@st.composite
def dbm_cases(draw, max_units=4):
    dtype = draw(st.sampled_from(DTYPES))
    sizes = draw(st.lists(st.integers(1, max_units), min_size=3, max_size=4))
    scale = draw(st.sampled_from([0.1, 0.5, 1.5]))
    rng = np.random.RandomState(draw(st.integers(0, 2**32 - 1)))
    Ws = [(scale * rng.randn(sizes[k + 1], sizes[k])).astype(dtype) for k in range(len(sizes) - 1)]
    bs = [rng.randn(n).astype(dtype) for n in sizes]
    X = (rng.rand(draw(st.integers(1, 7)), sizes[0]) < 0.5).astype(dtype)
    return dtype, Ws, bs, X


@TIERS
def test_dbm_mean_field_follows_the_numpy_schedule_for_any_layout(examples):
    def body(case, data, sweeps):
        dtype, Ws, bs, values = case
        X = data.draw(layouts(values))
        mu = [np.empty((len(X), len(b)), dtype=dtype) for b in bs[1:]]
        # tol 0: exactly `sweeps` sweeps, like the reference
        done = _core.dbm_mean_field((Ws, bs), X, sweeps, 0.0, mu, False)
        assert done == sweeps
        want = ref_dbm_mean_field(*f64(values), f64(*Ws), f64(*bs), sweeps)
        for got, expected in zip(mu, want):
            assert_close(got, expected, dtype, scale=1.0)

    run(examples, body, case=dbm_cases(), data=st.data(), sweeps=st.integers(1, 4))


@TIERS
def test_dbm_exact_log_partition_and_log_prob_equal_enumeration(examples):
    def body(case, data):
        dtype, Ws, bs, values = case
        X = data.draw(layouts(values))
        Wd, bd = f64(*Ws), f64(*bs)
        log_z = _core.dbm_log_partition_exact((Ws, bs), 24, False)
        sizes = [len(b) for b in bs]
        H = ((np.arange(2**sizes[0])[:, None] >> np.arange(sizes[0])) & 1).astype(float)
        want_z = logsumexp(ref_dbm_log_unnormalised(H, Wd, bd))
        scale = sum(np.abs(w).sum() for w in Wd) + sum(np.abs(b).sum() for b in bd)
        assert_close(log_z, want_z, dtype, scale=scale)
        out = np.empty(len(X))
        _core.dbm_log_prob_exact((Ws, bs), X, log_z, 24, out, False)
        assert_close(out, ref_dbm_log_unnormalised(f64(values)[0], Wd, bd) - log_z, dtype,
                     scale=scale)

    run(examples, body, case=dbm_cases(max_units=3), data=st.data())


@TIERS
def test_dbm_estimator_mean_field_and_transform_on_random_parameters(examples):
    def body(case, data):
        dtype, Ws, bs, values = case
        sizes = tuple(len(b) for b in bs[1:])
        est = pydbn.DBM(sizes, n_iter=0, pretrain=False, n_chains=2, n_mean_field=3,
                        mean_field_tol=0.0, transform_layers="all", random_state=0)
        est.fit(np.zeros((2, len(bs[0])), dtype=dtype))
        est.components_, est.intercepts_ = list(Ws), list(bs)
        X = data.draw(layouts(values))
        want = ref_dbm_mean_field(*f64(values), f64(*Ws), f64(*bs), 3)
        assert_close(est.transform(X), np.hstack(want), dtype, scale=1.0)

    run(examples, body, case=dbm_cases(), data=st.data())


# ---------------------------------------------------------------------------------------------
# dense networks, DCIM forward model, MPF objective
# ---------------------------------------------------------------------------------------------
@st.composite
def network_cases(draw):
    dtype = draw(st.sampled_from(DTYPES))
    sizes = draw(st.lists(st.integers(1, 6), min_size=2, max_size=5))
    rng = np.random.RandomState(draw(st.integers(0, 2**32 - 1)))
    Ws = [rng.randn(sizes[k + 1], sizes[k]).astype(dtype) for k in range(len(sizes) - 1)]
    bs = [rng.randn(n).astype(dtype) for n in sizes[1:]]
    codes = [_core.ACT_IDENTITY, _core.ACT_SIGMOID, _core.ACT_RELU, _core.ACT_TANH,
             _core.ACT_LEAKY_RELU]
    acts = draw(st.lists(st.sampled_from(codes), min_size=len(Ws), max_size=len(Ws)))
    X = rng.randn(draw(st.integers(1, 8)), sizes[0]).astype(dtype)
    return dtype, Ws, bs, acts, X


@TIERS
def test_mlp_forward_equals_numpy_and_refuses_non_contiguous_input(examples):
    def body(case):
        dtype, Ws, bs, acts, X = case
        out = np.empty((len(X), len(bs[-1])), dtype=dtype)
        _core.mlp_forward((Ws, bs, acts), X, out, False)
        want = ref_mlp(*f64(X), f64(*Ws), f64(*bs), acts)
        scale = 1.0 + np.abs(want).max()
        assert_close(out, want, dtype, scale=scale * len(Ws))
        if X.shape[1] > 1:
            with pytest.raises(ValueError, match="C-contiguous"):
                _core.mlp_forward((Ws, bs, acts), np.asfortranarray(np.repeat(X, 2, 0)),
                                  np.empty((2 * len(X), len(bs[-1])), dtype=dtype), False)

    run(examples, body, case=network_cases())


@TIERS
def test_adversarial_dbn_discriminate_on_random_parameters(examples):
    def body(case, activation, loss, data):
        dtype, Ws, bs, _, X = case
        Ws, bs = list(Ws), list(bs)
        if len(bs[-1]) != 1:  # the discriminator has one output
            Ws[-1], bs[-1] = Ws[-1][:1].copy(), bs[-1][:1].copy()
        est = pydbn.AdversarialDBN((2,), discriminator_layer_sizes=tuple(len(b) for b in bs[:-1]),
                                   discriminator_activation=activation, loss=loss, n_iter=0,
                                   random_state=0)
        est.fit(np.zeros((2, X.shape[1]), dtype=dtype))
        est.discriminator_weights_, est.discriminator_intercepts_ = Ws, bs
        code = getattr(_core, f"ACT_{activation.upper()}")
        acts = [code] * (len(Ws) - 1) + [_core.ACT_IDENTITY]  # hidden layers, then a linear head
        a = ref_mlp(*f64(X), f64(*Ws), f64(*bs), acts)[:, 0]
        want = {"gan": expit(a), "wgan": a, "mle": np.exp(np.minimum(a, 80.0))}[loss]
        got = est.discriminate(data.draw(layouts(X)))
        assert_close(got, want, dtype, scale=(1.0 + np.abs(a).max()) * np.abs(want).max())

    run(examples, body, case=network_cases(), data=st.data(),
        activation=st.sampled_from(["relu", "leaky_relu", "tanh", "sigmoid"]),
        loss=st.sampled_from(["gan", "wgan", "mle"]))


@TIERS
def test_dbn_transform_is_the_up_pass_on_random_parameters(examples):
    def body(case, data):
        dtype, Ws, bs, _, X = case  # the layers of a sigmoid up-pass
        est = pydbn.DBN(tuple(len(b) for b in bs), n_iter=0, transform_layers="all",
                        random_state=0)
        est.fit(np.zeros((2, X.shape[1]), dtype=dtype))
        # the recognition weights below the top RBM, then the top RBM's p(h | v)
        est.recognition_weights_, est.recognition_intercepts_ = Ws[:-1], bs[:-1]
        top = est.rbms_[-1]
        top.components_, top.intercept_hidden_ = Ws[-1], bs[-1]
        layers, h = [], f64(X)[0]
        for W, b in zip(f64(*Ws), f64(*bs)):
            h = expit(h @ W.T + b)
            layers.append(h)
        got = est.transform(data.draw(layouts(X)))
        assert_close(got, np.hstack(layers), dtype, scale=1.0)

    run(examples, body, case=network_cases(), data=st.data())


@st.composite
def dcim_cases(draw):
    dtype = draw(st.sampled_from(DTYPES))
    sizes = draw(st.lists(st.integers(1, 6), min_size=2, max_size=4))
    sizes[-1] = max(sizes[-1], 2)  # classes
    rng = np.random.RandomState(draw(st.integers(0, 2**32 - 1)))
    Ws = [rng.randn(sizes[k + 1], sizes[k]).astype(dtype) for k in range(len(sizes) - 1)]
    bs = [rng.randn(n).astype(dtype) for n in sizes]
    X = rng.rand(draw(st.integers(1, 8)), sizes[0]).astype(dtype)
    return dtype, Ws, bs, draw(st.booleans()), X


@TIERS
def test_dcim_forward_equals_numpy_for_any_layout(examples):
    def body(case, data):
        dtype, Ws, bs, pm1, values = case
        X = data.draw(layouts(values))
        enc = _core.DCIM_PM1 if pm1 else _core.DCIM_BINARY
        proba = np.empty((len(X), len(bs[-1])), dtype=dtype)
        hidden = [np.empty((len(X), len(b)), dtype=dtype) for b in bs[1:-1]]
        _core.dcim_forward((Ws, bs, enc), X, proba, hidden, False)
        want, want_hidden = ref_dcim_forward(*f64(values), f64(*Ws), f64(*bs), pm1)
        scale = 1.0 + sum(np.abs(w).sum(1).max() for w in Ws)
        assert_close(proba, want, dtype, scale=scale)
        for got, expected in zip(hidden, want_hidden):
            assert_close(got, expected, dtype, scale=scale)

    run(examples, body, case=dcim_cases(), data=st.data())


@TIERS
def test_dcim_estimator_predict_proba_on_random_parameters(examples):
    def body(case, data):
        dtype, Ws, bs, pm1, values = case
        n_classes = len(bs[-1])
        est = pydbn.DCIM(tuple(len(b) for b in bs[1:-1]), n_iter=0,
                         encoding="pm1" if pm1 else "binary", random_state=0)
        est.fit(np.zeros((n_classes, len(bs[0])), dtype=dtype), np.arange(n_classes))
        est.components_, est.intercepts_ = list(Ws), list(bs)
        X = data.draw(layouts(values))
        want, hidden = ref_dcim_forward(*f64(values), f64(*Ws), f64(*bs), pm1)
        scale = 1.0 + sum(np.abs(w).sum(1).max() for w in Ws)
        assert_close(est.predict_proba(X), want, dtype, scale=scale)
        assert_close(est.transform(X), hidden[-1] if hidden else want, dtype, scale=scale)

    run(examples, body, case=dcim_cases(), data=st.data())


@TIERS
def test_mpf_objective_equals_the_mean_flip_rate_over_every_unit(examples):
    def body(case, rows, seed):
        dtype, Ws, bs, _ = case
        rng = np.random.RandomState(seed)
        states = [(rng.rand(rows, len(b)) < 0.5).astype(dtype) for b in bs]
        K = _core.bm_mpf((Ws, [None] * len(bs), bs), states, None, False)
        want = ref_mpf(f64(*states), f64(*Ws), f64(*bs))
        assert_close(K, want, dtype, scale=0.0)

    run(examples, body, case=dbm_cases(), rows=st.integers(1, 6), seed=st.integers(0, 2**32 - 1))


# ---------------------------------------------------------------------------------------------
# malformed calls: a ValueError or TypeError, never a crash or a wrong result
# ---------------------------------------------------------------------------------------------
NOT_ARRAYS = ("list", "none", "scalar")


def corrupt(draw, array, source=False):
    """One array argument kept, or made malformed. A data source (X) stays an array here, to
    keep successful calls common; a non-array X has its own test below (a TypeError)."""
    kind = draw(st.sampled_from(
        ["keep", "keep", "keep", "int64", "other_float", "float16", "complex", "1-D", "3-D",
         "fortran", "strided", "read_only", "grow", "shrink", "empty"]
        + ([] if source else list(NOT_ARRAYS))))
    other = np.float32 if array.dtype == np.float64 else np.float64
    if kind == "keep":
        return array
    finite = np.clip(np.where(np.isfinite(array), array, 0), -1e4, 1e4)  # outputs: np.empty
    replacement = {
        "int64": lambda: finite.astype(np.int64),
        "other_float": lambda: finite.astype(other),
        "float16": lambda: finite.astype(np.float16),
        "complex": lambda: finite.astype(np.complex128),
        "1-D": lambda: array.ravel().copy(),
        "3-D": lambda: array[None].copy(),
        "list": lambda: array.tolist(),
        "none": lambda: None,
        "scalar": lambda: 1.0,
        "fortran": lambda: np.asfortranarray(np.repeat(np.atleast_2d(array), 2, axis=0)),
        "strided": lambda: np.repeat(np.atleast_2d(array), 2, axis=-1)[..., ::2],
        "read_only": lambda: _read_only(array),
        "grow": lambda: np.concatenate([array, array[..., :1]], axis=-1)
        if array.ndim and array.shape[-1] else np.zeros(1, array.dtype),
        "shrink": lambda: array[..., :-1].copy() if array.ndim and array.shape[-1] else array,
        "empty": lambda: np.empty((0,) * max(array.ndim, 1), dtype=array.dtype),
    }[kind]()
    return replacement


@pytest.mark.parametrize("kernel", ["rbm_hidden_probs", "rbm_free_energy", "dbm_mean_field",
                                    "dcim_forward"])
def test_a_data_argument_that_is_not_an_array_is_a_type_error(kernel):
    X = [[0.0, 1.0]]  # a list (None or a float alike)
    W, b = np.ones((2, 2)), np.zeros(2)
    rbm = (W, b, b, _core.VISIBLE_BERNOULLI, 0)
    calls = {
        "rbm_hidden_probs": lambda: _core.rbm_hidden_probs(rbm, X, np.empty((1, 2)), False),
        "rbm_free_energy": lambda: _core.rbm_free_energy(rbm, X, np.empty(1), False),
        "dbm_mean_field": lambda: _core.dbm_mean_field(([W, W], [b, b, b]), X, 1, 0.0,
                                                       [np.empty((1, 2))] * 2, False),
        "dcim_forward": lambda: _core.dcim_forward(([W], [b, b], _core.DCIM_BINARY), X,
                                                   np.empty((1, 2)), None, False),
    }
    with pytest.raises(TypeError, match="X must be an array or a CSR tuple"):
        calls[kernel]()


def _read_only(a):
    a = a.copy()
    a.setflags(write=False)
    return a


def assert_fails_cleanly_or_is_right(call, check, seen):
    """The call raises ValueError / TypeError (OverflowError for out-of-range integers), or
    succeeds and ``check()`` holds; ``seen`` counts the outcomes."""
    try:
        call()
    except (ValueError, TypeError, OverflowError) as exc:
        seen[type(exc).__name__] += 1
        return
    seen["accepted"] += 1
    check()


def assert_both_outcomes(seen):
    """A fuzz run means something only if it saw accepted and refused calls."""
    assert seen["accepted"] > 0 and sum(seen.values()) > seen["accepted"], seen


@TIERS
def test_malformed_rbm_calls_raise_value_or_type_errors(examples):
    kernels = ["rbm_hidden_probs", "rbm_reconstruct", "rbm_free_energy", "rbm_pseudo_loglik"]

    def body(case, data, kernel):
        dtype, W, b, c, code, ns, X = case
        nh, nv = W.shape
        if kernel == "rbm_pseudo_loglik":  # flips are defined for binary units
            code = _core.VISIBLE_BERNOULLI
        out_cols = {"rbm_hidden_probs": nh, "rbm_reconstruct": nv}.get(kernel, 1)
        out = np.empty((len(X), out_cols) if out_cols > 1 else (len(X),),
                       dtype=dtype if kernel in ("rbm_hidden_probs", "rbm_reconstruct")
                       else np.float64)
        flips = np.zeros(len(X), dtype=np.int64)
        args = {"W": W, "b": b, "c": c, "X": X, "out": out, "flips": flips}
        which = data.draw(st.sampled_from(sorted(args)))
        args[which] = corrupt(data.draw, args[which], source=which == "X")
        code_arg = data.draw(st.sampled_from([code, code, 7, -1]))
        ns_arg = data.draw(st.sampled_from([ns, ns, -1, nv + 1]))
        model = (args["W"], args["b"], args["c"], code_arg, ns_arg)
        if data.draw(st.integers(0, 9)) == 0:
            model = list(model) if data.draw(st.booleans()) else model[:3]
        call_args = [model, args["X"]]
        if kernel == "rbm_pseudo_loglik":
            call_args.append(args["flips"])
        call_args += [args["out"], False]
        fn = getattr(_core, kernel)
        out_arg = args["out"]

        def check():
            # accepted: every argument was usable; the result is the reference's
            Xd = np.asarray(args["X"], dtype=np.float64)
            Wd, bd, cd = f64(args["W"], args["b"], args["c"])
            if kernel == "rbm_hidden_probs":
                want, scale = ref_hidden(Xd, Wd, cd), 1.0
            elif kernel == "rbm_reconstruct":
                want = ref_visible_mean(ref_hidden(Xd, Wd, cd), Wd, bd, code_arg ==
                                        _core.VISIBLE_GAUSSIAN, ns_arg)
                scale = 1.0 + np.abs(bd).max() + np.abs(Wd).sum(0).max()
            elif kernel == "rbm_free_energy":
                want, scale = ref_free_energy(Xd, Wd, bd, cd,
                                              code_arg == _core.VISIBLE_GAUSSIAN, ns_arg)
            else:
                f, scale = ref_free_energy(Xd, Wd, bd, cd, False, ns_arg)
                flipped = Xd.copy()
                flipped[:, 0] = 1.0 - flipped[:, 0]
                f2, scale2 = ref_free_energy(flipped, Wd, bd, cd, False, ns_arg)
                want, scale = -nv * softplus(f - f2), nv * (scale + scale2)
            assert code_arg in (_core.VISIBLE_BERNOULLI, _core.VISIBLE_GAUSSIAN)
            assert 0 <= ns_arg <= nv
            # the core writes the output's buffer in row-major order whatever its shape
            got = np.asarray(out_arg).reshape(want.shape)
            assert_close(got, want, dtype, scale=scale)

        assert_fails_cleanly_or_is_right(lambda: fn(*call_args), check, seen)

    seen = Counter()
    run(examples, body, case=rbm_cases(), data=st.data(), kernel=st.sampled_from(kernels))
    assert_both_outcomes(seen)


@TIERS
def test_malformed_layered_model_calls_raise_value_or_type_errors(examples):
    def body(case, data, kernel):
        dtype, Ws, bs, X = case
        Ws, bs = list(Ws), list(bs)
        mu = [np.empty((len(X), len(b)), dtype=dtype) for b in bs[1:]]
        target = data.draw(st.sampled_from(["W", "b", "X", "mu", "model"]))
        if target == "W":
            k = data.draw(st.integers(0, len(Ws) - 1))
            Ws[k] = corrupt(data.draw, Ws[k])
        elif target == "b":
            k = data.draw(st.integers(0, len(bs) - 1))
            bs[k] = corrupt(data.draw, bs[k])
        elif target == "X":
            X = corrupt(data.draw, X, source=True)
        elif target == "mu":
            k = data.draw(st.integers(0, len(mu) - 1))
            mu[k] = corrupt(data.draw, mu[k])
        else:
            variant = data.draw(st.sampled_from(["drop_bias", "extra_weight", "list", "swap"]))
            if variant == "drop_bias":
                bs = bs[:-1]
            elif variant == "extra_weight":
                Ws = Ws + Ws[-1:]
            elif variant == "swap":
                Ws, bs = bs, Ws
        model = (Ws, bs)
        if target == "model" and variant == "list":
            model = [Ws, bs]
        if kernel == "dbm_mean_field":
            def call():
                _core.dbm_mean_field(model, X, 2, 0.0, mu, False)

            def check():
                want = ref_dbm_mean_field(np.asarray(X, dtype=np.float64), f64(*Ws), f64(*bs), 2)
                for got, expected in zip(mu, want):
                    assert_close(np.asarray(got).reshape(expected.shape), expected, dtype)
        else:  # the same arrays as a DCIM (classes = the top layer), 0/1 encoding
            proba = mu[-1]
            hidden = mu[:-1]

            def call():
                _core.dcim_forward((*model, _core.DCIM_BINARY), X, proba, hidden, False)

            def check():
                want, want_hidden = ref_dcim_forward(np.asarray(X, dtype=np.float64),
                                                     f64(*Ws), f64(*bs), False)
                scale = 1.0 + sum(np.abs(w).sum(1).max() for w in f64(*Ws))
                if proba is not None:  # proba=None is legal: only the hidden means are asked
                    assert_close(np.asarray(proba).reshape(want.shape), want, dtype, scale=scale)
                for got, expected in zip(hidden, want_hidden):
                    assert_close(np.asarray(got).reshape(expected.shape), expected, dtype,
                                 scale=scale)

        assert_fails_cleanly_or_is_right(call, check, seen)

    seen = Counter()
    run(examples, body, case=dbm_cases(), data=st.data(),
        kernel=st.sampled_from(["dbm_mean_field", "dcim_forward"]))
    assert_both_outcomes(seen)


@TIERS
def test_malformed_network_calls_raise_value_or_type_errors(examples):
    def body(case, data):
        dtype, Ws, bs, acts, X = case
        Ws, bs, acts = list(Ws), list(bs), list(acts)
        out = np.empty((len(X), len(bs[-1])), dtype=dtype)
        target = data.draw(st.sampled_from(["W", "b", "X", "out", "acts"]))
        if target == "W":
            k = data.draw(st.integers(0, len(Ws) - 1))
            Ws[k] = corrupt(data.draw, Ws[k])
        elif target == "b":
            k = data.draw(st.integers(0, len(bs) - 1))
            bs[k] = corrupt(data.draw, bs[k])
        elif target == "X":
            X = corrupt(data.draw, X)  # mlp_forward's X is a plain array argument
        elif target == "out":
            out = corrupt(data.draw, out)
        else:
            acts[-1] = data.draw(st.sampled_from([-1, 99, "relu", None, 2**70]))

        def check():
            want = ref_mlp(np.asarray(X, dtype=np.float64), f64(*Ws), f64(*bs), acts)
            assert_close(np.asarray(out).reshape(want.shape), want, dtype,
                         scale=(1.0 + np.abs(want).max()) * len(Ws))

        assert_fails_cleanly_or_is_right(
            lambda: _core.mlp_forward((Ws, bs, acts), X, out, False), check, seen)

    seen = Counter()
    run(examples, body, case=network_cases(), data=st.data())
    assert_both_outcomes(seen)
