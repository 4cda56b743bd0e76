"""The deep conditional independent model (DCIM) kernels of pydbn._core against an independent
NumPy reference (tests/_dcim_reference.py).

Source: Flach, Shekhovtsov & Fikar, "Generative learning for deep networks" (shared paper 001),
Sec. 2: the forward recursion (Eq. 14-15, a dense network with sigmoid / tanh hidden units and
a softmax class layer), the reverse model with transposed weights (Eq. 18-20), the
bidirectional objective (Eq. 21), the sampled objective (Eq. 22), the 0/1 and +-1 encodings
(Example 1, Eq. 6-9) and Remark 2 (d = 1: one joint RBM, the objective a pseudo-likelihood).

Deterministic checks use float64 to 1e-12 relative and float32 to ~1e-5. Random draws of the
core are regenerated through _core.random_words (streams of pdbn_rng.h: purpose HIDDEN = 3 for
the sampled objective's x^{d-1}, step d - 1; GENERATIVE = 10 for the reverse model, step j for
layer j - 1; SHUFFLE = 1 for an epoch's permutation), so the sampled objective and the sampled
reverse pass are compared with the reference on the very same states. Statistical bounds:
binomial frequencies within 5 standard errors (normal tail 6e-7 per unit), with a power check.
"""

import numpy as np
import pytest
from scipy.special import expit, softmax
from threadpoolctl import threadpool_limits

from pydbn import _core

try:  # tests/ may or may not be a package
    from . import _dcim_reference as ref
except ImportError:  # pragma: no cover - depends on how pytest imports the tests
    import _dcim_reference as ref

# stream purposes of pdbn_rng.h
PURPOSE_SHUFFLE, PURPOSE_HIDDEN, PURPOSE_GENERATIVE = 1, 3, 10
ENCODINGS = (ref.BINARY, ref.PM1)
ENC_NAMES = {ref.BINARY: "binary", ref.PM1: "pm1"}
OBJ_NAMES = {ref.DISCRIMINATIVE: "discriminative", ref.BIDIRECTIONAL: "bidirectional",
             ref.SAMPLED: "sampled"}


@pytest.fixture(autouse=True)
def _one_blas_thread():
    # tiny GEMMs: OpenBLAS threads only add overhead (and stall on a loaded machine)
    with threadpool_limits(1):
        yield


def test_constants_match_the_reference():
    assert (_core.DCIM_BINARY, _core.DCIM_PM1) == (ref.BINARY, ref.PM1)
    assert (_core.DCIM_DISCRIMINATIVE, _core.DCIM_BIDIRECTIONAL, _core.DCIM_SAMPLED) == (
        ref.DISCRIMINATIVE, ref.BIDIRECTIONAL, ref.SAMPLED)


# ---------------------------------------------------------------------------------------------
# calls into the binding
# ---------------------------------------------------------------------------------------------
def core_model(Ws, bs, encoding, dtype=np.float64):
    return ([np.array(w, dtype=dtype, order="C") for w in Ws],
            [np.array(b, dtype=dtype, order="C") for b in bs], int(encoding))


def as64(model):
    return [w.astype(np.float64) for w in model[0]], [b.astype(np.float64) for b in model[1]]


def core_forward(model, X, hidden=True):
    dtype = model[1][0].dtype
    n = X.shape[0] if not isinstance(X, tuple) else X[4]
    proba = np.full((n, model[1][-1].size), np.nan, dtype=dtype)
    hid = [np.full((n, b.size), np.nan, dtype=dtype) for b in model[1][1:-1]] if hidden else None
    _core.dcim_forward(model, X, proba, hid, False)
    return proba, hid


def core_reverse(model, start, states, n_sampled=0, seed=0, epoch=0):
    dtype = model[1][0].dtype
    logits = np.full((states.shape[0], model[1][0].size), np.nan, dtype=dtype)
    _core.dcim_reverse(model, start, np.ascontiguousarray(states, dtype=dtype), n_sampled, seed,
                       epoch, logits, False)
    return logits


def core_objective(model, which, X, y, seed=0, epoch=0, grads=True):
    dtype = model[1][0].dtype
    gw = [np.full(w.shape, np.nan, dtype=dtype) for w in model[0]] if grads else None
    gb = [np.full(b.shape, np.nan, dtype=dtype) for b in model[1]] if grads else None
    fwd, rev = _core.dcim_objective(model, which, X, np.ascontiguousarray(y, dtype=np.int64),
                                    seed, epoch, gw, gb, False)
    return fwd, rev, gw, gb


def sgd(lr, wd=0.0, momentum=0.0):
    return ("sgd", float(lr), float(momentum), 0.9, 0.999, 0.9, 1e-8, float(wd))


def adam(lr, wd=0.0):
    return ("adam", float(lr), 0.0, 0.9, 0.999, 0.9, 1e-8, float(wd))


def zero_state(model):
    params = list(model[0]) + list(model[1])
    return ([np.zeros_like(a) for a in params], [np.zeros_like(a) for a in params])


def core_epoch(model, X, y, state, t, which, batch_size, optimizer, seed, epoch):
    return _core.dcim_epoch(model, X, np.ascontiguousarray(y, dtype=np.int64), state, t,
                            objective=which, batch_size=batch_size, optimizer=optimizer,
                            seed=seed, epoch=epoch, check_signals=False)


def hidden_uniforms(n_rows, width, seed, epoch, depth, first_row=0, dtype=np.float64):
    """Uniforms of the sampled objective's draw of x^{d-1}: stream (seed, HIDDEN, d - 1, epoch,
    batch 0), word row first_row + r for data row r (dcim_impl.h, dcim_batch)."""
    return np.stack([ref.uniform_from_words(
        _core.random_words(seed, PURPOSE_HIDDEN, depth - 1, epoch, 0, first_row + r, width),
        dtype) for r in range(n_rows)])


def reverse_uniforms(sizes, start, n_sampled, n_rows, seed, epoch, dtype=np.float64):
    """{layer j-1: uniforms} of dcim_reverse's draws: stream (seed, GENERATIVE, j, epoch, 0),
    word row r, for the first n_sampled layers below start (never the input layer)."""
    out = {}
    for j in range(start, 1, -1):
        if start - j < n_sampled:
            out[j - 1] = np.stack([ref.uniform_from_words(
                _core.random_words(seed, PURPOSE_GENERATIVE, j, epoch, 0, r, sizes[j - 1]),
                dtype) for r in range(n_rows)])
    return out


def epoch_permutation(n, seed, epoch):
    return ref.permutation_from_words(n, _core.random_words(seed, PURPOSE_SHUFFLE, 0, epoch, 0, 0,
                                                            max(n, 1)))


def data(n, n0, seed, n_classes):
    """Grey values in [0, 1] (a third exactly 0 or 1) and labels."""
    rng = np.random.default_rng(seed)
    X = rng.random((n, n0))
    X[rng.random((n, n0)) < 0.2] = 0.0
    X[rng.random((n, n0)) < 0.2] = 1.0
    y = np.ascontiguousarray(rng.integers(0, n_classes, n), dtype=np.int64)
    return X, y


def assert_close_lists(got, want, rtol, atol, what=""):
    assert len(got) == len(want)
    for k, (g, w) in enumerate(zip(got, want)):
        np.testing.assert_allclose(np.asarray(g, dtype=np.float64), w, rtol=rtol, atol=atol,
                                   err_msg=f"{what}[{k}]")


# =============================================================================================
# 0. the reference's own building blocks
# =============================================================================================
def test_reference_backprop_matches_its_own_finite_differences():
    """The reference's hand-written gradients against central differences of its own values
    (every objective, both encodings, d = 3), so that the binding is checked against something
    that is itself checked."""
    sizes = (4, 3, 3, 3)
    X, y = data(5, 4, 1, 3)
    for enc in ENCODINGS:
        Ws, bs = ref.random_model(sizes, scale=1.0, seed=2)
        sample = ref.draw(ref.forward(Ws, bs, X, enc)[1][-1],
                          np.random.default_rng(3).random((5, 3)), enc)
        for which in (ref.DISCRIMINATIVE, ref.BIDIRECTIONAL, ref.SAMPLED):
            _, _, gw, gb = ref.objective(Ws, bs, X, y, enc, which, sample)
            num = []
            for arr in Ws + bs:
                for i in np.ndindex(arr.shape):
                    old = arr[i]
                    arr[i] = old + 1e-6
                    fp = sum(ref.objective(Ws, bs, X, y, enc, which, sample)[:2])
                    arr[i] = old - 1e-6
                    fm = sum(ref.objective(Ws, bs, X, y, enc, which, sample)[:2])
                    arr[i] = old
                    num.append((fp - fm) / 2e-6)
            np.testing.assert_allclose(ref.flatten(gw, gb), num, rtol=1e-6, atol=1e-8)


def test_reference_log_likelihoods_are_normalised():
    a = np.array([[-3.0, -0.2, 0.0, 0.7, 4.0]])
    for enc in ENCODINGS:
        off = -1.0 if enc == ref.PM1 else 0.0
        l_on = ref.input_log_likelihood(a.T, np.full((5, 1), 1.0), enc)
        l_off = ref.input_log_likelihood(a.T, np.full((5, 1), off), enc)
        np.testing.assert_allclose(np.exp(l_on) + np.exp(l_off), 1.0, rtol=1e-14)
        np.testing.assert_allclose(np.exp(l_on), ref.prob_on(a.T, enc)[:, 0], rtol=1e-14)


# =============================================================================================
# 1. forward pass = a dense network
# =============================================================================================
def dense_network(Ws, bs, X, encoding):
    """A plain dense network: input v or 2v - 1, sigmoid / tanh hidden, softmax output."""
    h = 2 * X - 1 if encoding == ref.PM1 else X
    hidden = []
    for W, b in zip(Ws[:-1], bs[1:-1]):
        z = h @ W.T + b
        h = np.tanh(z) if encoding == ref.PM1 else 1 / (1 + np.exp(-z))
        hidden.append(h)
    return softmax(h @ Ws[-1].T + bs[-1], axis=1), hidden


DEPTHS = [(7, 3), (7, 5, 4), (7, 6, 5, 3), (7, 6, 5, 4, 2)]


@pytest.mark.parametrize("sizes", DEPTHS, ids=lambda s: f"d{len(s) - 1}")
@pytest.mark.parametrize("enc", ENCODINGS, ids=ENC_NAMES.get)
def test_forward_is_a_dense_network(sizes, enc):
    Ws, bs = ref.random_model(sizes, scale=1.5, seed=len(sizes))
    X, _ = data(300, sizes[0], 4, sizes[-1])  # more than one block of 256 rows
    want_p, want_h = dense_network(Ws, bs, X, enc)
    assert np.allclose(want_p, ref.forward(Ws, bs, X, enc)[3], rtol=1e-13)
    for dtype, rtol, atol in ((np.float64, 1e-12, 1e-14), (np.float32, 2e-5, 1e-6)):
        model = core_model(Ws, bs, enc, dtype)
        p, h = core_forward(model, X.astype(dtype))
        assert p.dtype == dtype and len(h) == len(sizes) - 2
        np.testing.assert_allclose(p, want_p, rtol=rtol, atol=atol)
        assert_close_lists(h, want_h, rtol, atol, "hidden")
        if h and enc == ref.PM1:  # means of +-1 units (tanh), some negative
            assert all((np.abs(a) <= 1).all() for a in h) and any((a < 0).any() for a in h)
        elif h:  # means of 0/1 units (sigmoid)
            assert all(((a >= 0) & (a <= 1)).all() for a in h)
        # without the optional outputs
        _core.dcim_forward(model, X.astype(dtype), None, None, False)
        p2, _ = core_forward(model, X.astype(dtype), hidden=False)
        np.testing.assert_array_equal(p2, p)


def test_forward_reads_strided_and_sparse_inputs():
    Ws, bs = ref.random_model((6, 5, 3), seed=5)
    X, _ = data(40, 6, 6, 3)
    model = core_model(Ws, bs, ref.PM1)
    want = core_forward(model, X)[0]
    np.testing.assert_allclose(core_forward(model, np.asfortranarray(X))[0], want, rtol=1e-13)
    wide = np.zeros((40, 12))
    wide[:, ::2] = X
    np.testing.assert_allclose(core_forward(model, wide[:, ::2])[0], want, rtol=1e-13)
    import scipy.sparse as sp
    C = sp.csr_matrix(X)
    src = ("csr", C.data, C.indices.astype(np.int64), C.indptr.astype(np.int64), 40, 6)
    np.testing.assert_allclose(core_forward(model, src)[0], want, rtol=1e-13)


# =============================================================================================
# 2. reverse pass
# =============================================================================================
def reverse_states(sizes, start, n, enc, seed):
    rng = np.random.default_rng(seed)
    if start == len(sizes) - 1:
        return ref.one_hot(rng.integers(0, sizes[-1], n), sizes[-1])
    m = rng.random((n, sizes[start]))
    return 2 * m - 1 if enc == ref.PM1 else m


@pytest.mark.parametrize("enc", ENCODINGS, ids=ENC_NAMES.get)
def test_reverse_means_match_numpy(enc):
    for sizes in DEPTHS:
        d = len(sizes) - 1
        Ws, bs = ref.random_model(sizes, scale=1.2, seed=10 + d)
        for start in range(1, d + 1):
            S = reverse_states(sizes, start, 9, enc, start)
            # by hand: r <- act(r W^j + b^{j-1}) for j = start .. 2, a = r W^1 + b^0
            r = S
            for j in range(start, 1, -1):
                z = r @ Ws[j - 1] + bs[j - 1]
                r = np.tanh(z) if enc == ref.PM1 else expit(z)
            want = r @ Ws[0] + bs[0]
            np.testing.assert_allclose(ref.reverse(Ws, bs, start, S, enc)[1], want, rtol=1e-13)
            for dtype, rtol, atol in ((np.float64, 1e-12, 1e-13), (np.float32, 2e-5, 2e-5)):
                got = core_reverse(core_model(Ws, bs, enc, dtype), start, S, 0, seed=1)
                np.testing.assert_allclose(got, want, rtol=rtol, atol=atol,
                                           err_msg=f"d={d} start={start} {dtype}")


@pytest.mark.parametrize("enc", ENCODINGS, ids=ENC_NAMES.get)
def test_reverse_sampled_layers_are_the_core_draws(enc):
    """Exact reproduction: the first n_sampled layers below start take draw(means, uniforms)
    with the stream's uniforms, the rest means."""
    sizes = (6, 5, 4, 3, 3)
    d = len(sizes) - 1
    Ws, bs = ref.random_model(sizes, scale=1.0, seed=21)
    n = 25
    for start in (d, 3, 2):
        S = reverse_states(sizes, start, n, enc, 7)
        for n_sampled in (1, 2, 10):
            for dtype, rtol, atol in ((np.float64, 1e-12, 1e-12), (np.float32, 2e-5, 2e-5)):
                u = reverse_uniforms(sizes, start, n_sampled, n, 31, 4, dtype)
                assert len(u) == min(n_sampled, start - 1)
                want = ref.reverse(Ws, bs, start, S, enc, u)[1]
                got = core_reverse(core_model(Ws, bs, enc, dtype), start, S, n_sampled, 31, 4)
                np.testing.assert_allclose(got, want, rtol=rtol, atol=atol,
                                           err_msg=f"start={start} n_sampled={n_sampled}")
        # power: sampling is visible in the logits
        means = ref.reverse(Ws, bs, start, S, enc)[1]
        assert not np.allclose(core_reverse(core_model(Ws, bs, enc), start, S, 1, 31, 4), means,
                               atol=1e-3)


@pytest.mark.parametrize("enc", ENCODINGS, ids=ENC_NAMES.get)
def test_reverse_sampled_layer_follows_its_means(enc):
    """d = 2, start = 2, n_sampled = 1: x^1 ~ its means given the class. W^1 (4 x 6) has full
    row rank, so the sampled state is read back from the logits (a = s W^1 + b^0) and must be
    a valid state; per class and unit its frequency is within 5 binomial standard errors of
    P(on) = mean (0/1) or (1 + mean) / 2 (+-1)."""
    sizes = (6, 4, 3)
    Ws, bs = ref.random_model(sizes, scale=1.0, seed=5)
    Ws[1] = np.array([[2.0, -1.5, 0.3, -2.5], [-1.0, 1.2, 2.2, 0.1], [0.4, -2.2, -0.6, 1.7]])
    bs[1] = np.array([-0.3, 0.4, 0.1, -0.2])
    n_per = 2000
    labels = np.repeat(np.arange(3), n_per)
    S = ref.one_hot(labels, 3)
    model = core_model(Ws, bs, enc)
    a = core_reverse(model, 2, S, 1, seed=77, epoch=2)
    s = np.linalg.lstsq(Ws[0].T, (a - bs[0]).T, rcond=None)[0].T
    states = np.rint(s)
    np.testing.assert_allclose(s, states, atol=1e-9)
    allowed = (-1.0, 1.0) if enc == ref.PM1 else (0.0, 1.0)
    assert np.isin(states, allowed).all()
    means = ref.activation(np.eye(3) @ Ws[1] + bs[1], enc)
    p_on = ref.on_probability(means, enc)
    on = states == 1.0
    worst_power = 0.0
    for c in range(3):
        freq = on[labels == c].mean(axis=0)
        bound = 5 * np.sqrt(p_on[c] * (1 - p_on[c]) / n_per) + 1.0 / n_per
        assert (np.abs(freq - p_on[c]) <= bound).all(), (c, freq, p_on[c], bound)
        # power: P(on) = the raw mean (a plausible +-1 mistake) or a fair coin
        alt = np.clip(means[c], 0, 1) if enc == ref.PM1 else np.full(4, 0.5)
        worst_power = max(worst_power, (np.abs(alt - p_on[c]) / bound).max())
    assert worst_power > 2.0


def test_reverse_is_deterministic_by_seed_and_epoch():
    sizes = (6, 5, 4, 3)
    Ws, bs = ref.random_model(sizes, seed=8)
    S = reverse_states(sizes, 3, 30, ref.BINARY, 1)
    for enc in ENCODINGS:
        model = core_model(Ws, bs, enc)
        base = core_reverse(model, 3, S, 2, seed=5, epoch=9)
        np.testing.assert_array_equal(core_reverse(model, 3, S, 2, seed=5, epoch=9), base)
        assert not np.array_equal(core_reverse(model, 3, S, 2, seed=6, epoch=9), base)
        assert not np.array_equal(core_reverse(model, 3, S, 2, seed=5, epoch=10), base)
        means = core_reverse(model, 3, S, 0, seed=5, epoch=9)
        np.testing.assert_array_equal(core_reverse(model, 3, S, 0, seed=123, epoch=4), means)


# =============================================================================================
# 3. objectives and gradients
# =============================================================================================
GRAD_CASES = [((5, 3), ref.DISCRIMINATIVE), ((5, 3), ref.BIDIRECTIONAL),
              ((5, 4, 3), ref.DISCRIMINATIVE), ((5, 4, 3), ref.BIDIRECTIONAL),
              ((5, 4, 3), ref.SAMPLED), ((5, 4, 3, 3), ref.DISCRIMINATIVE),
              ((5, 4, 3, 3), ref.BIDIRECTIONAL), ((5, 4, 3, 3), ref.SAMPLED)]
SEED, EPOCH = 1234, 7


def reference_case(Ws, bs, X, y, enc, which, seed, epoch, dtype=np.float64, first_row=0):
    """(fwd, rev, gw, gb, margin) of the reference on the core's draw; margin = distance of the
    nearest uniform from its threshold (inf unless sampled)."""
    sample, margin = None, np.inf
    if which == ref.SAMPLED:
        d = len(Ws)
        u = hidden_uniforms(X.shape[0], Ws[d - 2].shape[0], seed, epoch, d, first_row, dtype)
        sample, mean = ref.sampled_states(Ws, bs, X, enc, u)
        margin = np.abs(u - ref.on_probability(mean, enc)).min()
    fwd, rev, gw, gb = ref.objective(Ws, bs, X, y, enc, which, sample)
    return fwd, rev, gw, gb, margin


@pytest.mark.parametrize("sizes,which", GRAD_CASES,
                         ids=[f"d{len(s) - 1}-{OBJ_NAMES[o]}" for s, o in GRAD_CASES])
@pytest.mark.parametrize("enc", ENCODINGS, ids=ENC_NAMES.get)
def test_objective_and_gradient_float64(sizes, which, enc):
    Ws, bs = ref.random_model(sizes, scale=1.0, seed=3 + len(sizes))
    X, y = data(7, sizes[0], 11, sizes[-1])
    model = core_model(Ws, bs, enc)
    fwd, rev, gw, gb = core_objective(model, which, X, y, SEED, EPOCH)
    rf, rr, rgw, rgb, margin = reference_case(Ws, bs, X, y, enc, which, SEED, EPOCH)
    # the draws stay put under the perturbations below (|d P(on)| < 1e-5 << margin)
    assert margin > 1e-4
    np.testing.assert_allclose([fwd, rev], [rf, rr], rtol=1e-12, atol=1e-13)
    if which == ref.DISCRIMINATIVE:
        assert rev == 0.0
        assert np.all(gb[0] == 0.0)
    else:
        assert rev < 0.0
    assert_close_lists(gw + gb, rgw + rgb, 1e-11, 1e-13, "grad vs reference")
    # central differences of the core's own objective
    eps = 1e-6
    num = []
    for arr in model[0] + model[1]:
        for i in np.ndindex(arr.shape):
            old = arr[i]
            arr[i] = old + eps
            fp = sum(core_objective(model, which, X, y, SEED, EPOCH, grads=False)[:2])
            arr[i] = old - eps
            fm = sum(core_objective(model, which, X, y, SEED, EPOCH, grads=False)[:2])
            arr[i] = old
            num.append((fp - fm) / (2 * eps))
    np.testing.assert_allclose(ref.flatten(gw, gb), num, rtol=1e-6, atol=1e-8)
    if which == ref.SAMPLED:
        # power: the reverse term is evaluated on the draw, not on the means ...
        d = len(Ws)
        means = ref.forward(Ws, bs, X, enc)[1][-1]
        layers, a = ref.reverse(Ws, bs, d - 1, means, enc)
        assert abs(ref.input_log_likelihood(a, ref.encode(X, enc), enc).mean() - rev) > 1e-3
        # ... and another (seed, epoch) gives another draw
        assert core_objective(model, which, X, y, SEED + 1, EPOCH, grads=False)[1] != rev
        assert core_objective(model, which, X, y, SEED, EPOCH + 1, grads=False)[1] != rev


@pytest.mark.parametrize("sizes,which", GRAD_CASES,
                         ids=[f"d{len(s) - 1}-{OBJ_NAMES[o]}" for s, o in GRAD_CASES])
@pytest.mark.parametrize("enc", ENCODINGS, ids=ENC_NAMES.get)
def test_objective_and_gradient_float32(sizes, which, enc):
    Ws, bs = ref.random_model(sizes, scale=1.0, seed=3 + len(sizes))
    X, y = data(7, sizes[0], 11, sizes[-1])
    model = core_model(Ws, bs, enc, np.float32)
    X32 = X.astype(np.float32)
    fwd, rev, gw, gb = core_objective(model, which, X32, y, SEED, EPOCH)
    W64, b64 = as64(model)
    rf, rr, rgw, rgb, margin = reference_case(W64, b64, X32.astype(np.float64), y, enc, which,
                                              SEED, EPOCH, np.float32)
    assert margin > 1e-4
    assert all(g.dtype == np.float32 for g in gw + gb)
    np.testing.assert_allclose([fwd, rev], [rf, rr], rtol=1e-5, atol=1e-5)
    assert_close_lists(gw + gb, rgw + rgb, 1e-4, 2e-6, "float32 grad")


def test_objective_is_a_mean_over_rows():
    sizes = (5, 4, 3)
    Ws, bs = ref.random_model(sizes, seed=2)
    X, y = data(6, 5, 3, 3)
    model = core_model(Ws, bs, ref.BINARY)
    f, r, gw, gb = core_objective(model, ref.BIDIRECTIONAL, X, y)
    parts = [core_objective(model, ref.BIDIRECTIONAL, X[i:i + 1], y[i:i + 1]) for i in range(6)]
    np.testing.assert_allclose([f, r], np.mean([p[:2] for p in parts], axis=0), rtol=1e-12)
    for k, g in enumerate(gw + gb):
        np.testing.assert_allclose(g, np.mean([(p[2] + p[3])[k] for p in parts], axis=0),
                                   rtol=1e-11, atol=1e-14)


# =============================================================================================
# 4. Remark 2: d = 1 is one joint RBM and the objective its (block) pseudo-likelihood
# =============================================================================================
@pytest.mark.parametrize("enc", ENCODINGS, ids=ENC_NAMES.get)
def test_remark2_single_layer_conditionals_are_those_of_one_joint_rbm(enc):
    """For d = 1, p(y | x) and q(x | y) of the kernel are the two exact conditionals of
    p(x, y) ∝ exp(<b^0, x> + b^1_y + <W_y, x>), x in {0,1}^4 or {-1,+1}^4 (enumerated),
    y a categorical (softmax) unit; so the bidirectional objective log p(y|x) + log q(x|y)
    is that RBM's block pseudo-likelihood, gradients included."""
    n0, K = 4, 3
    Ws, bs = ref.random_model((n0, K), scale=1.0, seed=42)
    states, log_y_x, log_x_y = ref.joint_conditionals(Ws[0], bs[0], bs[1], enc)
    # sanity of the enumeration: both are normalised conditionals
    np.testing.assert_allclose(np.exp(log_y_x).sum(axis=1), 1.0, rtol=1e-13)
    np.testing.assert_allclose(np.exp(log_x_y).sum(axis=0), 1.0, rtol=1e-13)
    V = (states + 1) / 2 if enc == ref.PM1 else states  # data in [0, 1]
    model = core_model(Ws, bs, enc)
    fwd = np.empty((2**n0, K))
    rev = np.empty((2**n0, K))
    for s in range(2**n0):
        for c in range(K):
            fwd[s, c], rev[s, c] = core_objective(model, ref.BIDIRECTIONAL, V[s:s + 1],
                                                  np.array([c]), grads=False)[:2]
    np.testing.assert_allclose(fwd, log_y_x, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(rev, log_x_y, rtol=1e-12, atol=1e-13)
    # Eq. 19 with d = 1: log p(y|x) - log q(x|y) = log A(y) - log B(x), additively separable
    M = fwd - rev
    np.testing.assert_allclose(M - M[:, :1] - M[:1, :] + M[0, 0], 0.0, atol=1e-12)
    # reverse logits: q(x_i = on | y) of the joint
    logits = core_reverse(model, 1, np.eye(K))
    p_on = np.exp(log_x_y)[(states == 1.0)[:, 0], :].sum(axis=0)  # marginal of unit 0 given y
    np.testing.assert_allclose(ref.prob_on(logits, enc)[:, 0], p_on, rtol=1e-12)

    # the estimator: the gradient of the kernel's objective on a data set is the gradient of
    # the enumerated block pseudo-likelihood mean log p(y|x) + log p(x|y) of the joint RBM
    rng = np.random.default_rng(0)
    rows = rng.integers(0, 2**n0, 20)
    ys = rng.integers(0, K, 20)
    _, _, gw, gb = core_objective(model, ref.BIDIRECTIONAL, V[rows], ys)
    W, b0, b1 = Ws[0].copy(), bs[0].copy(), bs[1].copy()

    def pseudo_likelihood():
        _, ly, lx = ref.joint_conditionals(W, b0, b1, enc)
        return (ly[rows, ys] + lx[rows, ys]).mean()

    num = []
    for arr in (W, b0, b1):
        for i in np.ndindex(arr.shape):
            old = arr[i]
            arr[i] = old + 1e-6
            fp = pseudo_likelihood()
            arr[i] = old - 1e-6
            fm = pseudo_likelihood()
            arr[i] = old
            num.append((fp - fm) / 2e-6)
    np.testing.assert_allclose(ref.flatten(gw, gb), num, rtol=1e-6, atol=1e-8)


# =============================================================================================
# 5. training epochs
# =============================================================================================
EPOCH_CASES = [((5, 3), ref.BIDIRECTIONAL), ((5, 4, 3), ref.DISCRIMINATIVE),
               ((5, 4, 3), ref.BIDIRECTIONAL), ((5, 4, 3), ref.SAMPLED),
               ((5, 4, 3, 3), ref.SAMPLED)]


@pytest.mark.parametrize("sizes,which", EPOCH_CASES,
                         ids=[f"d{len(s) - 1}-{OBJ_NAMES[o]}" for s, o in EPOCH_CASES])
@pytest.mark.parametrize("enc", ENCODINGS, ids=ENC_NAMES.get)
def test_one_full_batch_epoch_is_one_gradient_step(sizes, which, enc):
    Ws, bs = ref.random_model(sizes, seed=9)
    n, seed, epoch, lr = 12, 55, 3, 0.3
    X, y = data(n, sizes[0], 12, sizes[-1])
    before = core_model(Ws, bs, enc)
    f0, r0, gw, gb = core_objective(before, which, X, y)
    perm = epoch_permutation(n, seed, epoch)
    assert sorted(perm) == list(range(n)) and not np.array_equal(perm, np.arange(n))
    # the sampled objective draws row q of the shuffled batch from word row q
    fp, rp, gwp, gbp = core_objective(before, which, X[perm], y[perm], seed, epoch)
    if which != ref.SAMPLED:  # with one batch the order does not matter
        np.testing.assert_allclose([fp, rp], [f0, r0], rtol=1e-12)
        assert_close_lists(gwp + gbp, gw + gb, 1e-11, 1e-14, "order")
    model = core_model(Ws, bs, enc)
    state = zero_state(model)
    f, r, t = core_epoch(model, X, y, state, 5, which, n, sgd(lr), seed, epoch)
    assert t == 6
    np.testing.assert_allclose([f, r], [fp, rp], rtol=1e-12, atol=1e-14)
    want = [p + lr * g for p, g in zip(before[0] + before[1], gwp + gbp)]
    assert_close_lists(model[0] + model[1], want, 1e-12, 1e-14, "params")
    assert all(not a.any() for a in state[0] + state[1])  # momentum 0: no velocity


@pytest.mark.parametrize("which", [ref.BIDIRECTIONAL, ref.SAMPLED], ids=OBJ_NAMES.get)
def test_minibatch_epoch_replays_in_numpy(which):
    """batch_size 4 on 10 rows: 3 batches [0, 3), [3, 6), [6, 10) of the shuffled rows; SGD
    with momentum and weight decay (weights only) replayed with the reference; the sampled
    draws come from word rows lo + q."""
    enc = ref.PM1
    sizes = (5, 4, 3, 3)
    Ws, bs = ref.random_model(sizes, seed=19)
    n, seed, epoch, lr, mu, wd = 10, 8, 2, 0.2, 0.7, 0.05
    X, y = data(n, 5, 20, 3)
    model = core_model(Ws, bs, enc)
    state = zero_state(model)
    rng = np.random.default_rng(1)
    for a in state[0]:
        a[...] = 0.01 * rng.standard_normal(a.shape)
    vel = [a.copy() for a in state[0]]
    f, r, t = core_epoch(model, X, y, state, 0, which, 4, sgd(lr, wd, mu), seed, epoch)
    assert t == 3
    perm = epoch_permutation(n, seed, epoch)
    P = [w.copy() for w in Ws] + [b.copy() for b in bs]
    d = len(Ws)
    fs, rs = [], []
    for bi in range(3):
        lo, hi = bi * n // 3, (bi + 1) * n // 3
        idx = perm[lo:hi]
        bf, br, gw, gb, margin = reference_case(P[:d], P[d:], X[idx], y[idx], enc, which, seed,
                                                epoch, first_row=lo)
        assert margin > 1e-6
        fs.append(bf)
        rs.append(br)
        for k, g in enumerate(gw + gb):
            decay = wd if k < d else 0.0
            vel[k] = mu * vel[k] + lr * (g - decay * P[k])
            P[k] = P[k] + vel[k]
    np.testing.assert_allclose([f, r], [np.mean(fs), np.mean(rs)], rtol=1e-11)
    assert_close_lists(model[0] + model[1], P, 1e-10, 1e-13, "params")
    assert_close_lists(state[0], vel, 1e-10, 1e-13, "velocity")


def test_weight_decay_applies_to_weights_only():
    sizes = (5, 4, 3)
    Ws, bs = ref.random_model(sizes, seed=23)
    X, y = data(9, 5, 21, 3)
    n, lr, wd = 9, 0.1, 0.5
    perm = epoch_permutation(n, 4, 1)
    before = core_model(Ws, bs, ref.BINARY)
    _, _, gw, gb = core_objective(before, ref.BIDIRECTIONAL, X[perm], y[perm], 4, 1)
    plain = core_model(Ws, bs, ref.BINARY)
    core_epoch(plain, X, y, zero_state(plain), 0, ref.BIDIRECTIONAL, n, sgd(lr), 4, 1)
    decayed = core_model(Ws, bs, ref.BINARY)
    core_epoch(decayed, X, y, zero_state(decayed), 0, ref.BIDIRECTIONAL, n, sgd(lr, wd), 4, 1)
    for k in range(2):
        np.testing.assert_allclose(decayed[0][k], Ws[k] + lr * (gw[k] - wd * Ws[k]), rtol=1e-12)
        np.testing.assert_allclose(decayed[0][k] - plain[0][k], -lr * wd * Ws[k], rtol=1e-9,
                                   atol=1e-15)
    for k in range(3):
        np.testing.assert_array_equal(decayed[1][k], plain[1][k])
        np.testing.assert_allclose(decayed[1][k], bs[k] + lr * gb[k], rtol=1e-12)


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits
    X, y = load_digits(return_X_y=True)
    return np.ascontiguousarray(X / 16.0), np.ascontiguousarray(y, dtype=np.int64)


@pytest.mark.parametrize("which", [ref.DISCRIMINATIVE, ref.BIDIRECTIONAL, ref.SAMPLED],
                         ids=OBJ_NAMES.get)
@pytest.mark.parametrize("enc", ENCODINGS, ids=ENC_NAMES.get)
def test_training_improves_the_objective_on_digits(digits, which, enc):
    X, y = digits
    Ws, bs = ref.random_model((64, 32, 10), scale=0.1, seed=0)
    model = core_model(Ws, bs, enc, np.float32)
    X32 = X.astype(np.float32)
    state = zero_state(model)

    def full_objective():
        f, r = core_objective(model, which, X32, y, 99, 0, grads=False)[:2]
        return f + r

    start = full_objective()
    values, t = [start], 0
    for e in range(4):
        f, r, t = core_epoch(model, X32, y, state, t, which, 64, adam(0.01), 3, e)
        assert np.isfinite(f) and np.isfinite(r) and (r == 0.0) == (which == ref.DISCRIMINATIVE)
        values.append(full_objective())
    assert t == 4 * int(np.ceil(len(X) / 64))
    assert all(b > a for a, b in zip(values, values[1:])), values
    assert values[-1] > start + 0.5
    proba = core_forward(model, X32, hidden=False)[0]
    assert (proba.argmax(axis=1) == y).mean() > 0.8


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_divergence_raises_and_restores_everything(opt, dtype):
    """A learning rate near the dtype's largest value overflows the parameters: the epoch
    raises FloatingPointError and every parameter and optimizer array is restored bit for bit.
    (The guard looks for non-finite values: a merely huge but finite lr such as 1e300 in
    float64 saturates every unit and stays finite, so it is not an error.)"""
    sizes = (6, 5, 4, 3)
    Ws, bs = ref.random_model(sizes, seed=31)
    X, y = data(40, 6, 22, 3)
    X = X.astype(dtype)
    model = core_model(Ws, bs, ref.BINARY, dtype)
    state = zero_state(model)
    rng = np.random.default_rng(2)
    for a in state[0] + state[1]:
        a[...] = np.abs(rng.standard_normal(a.shape))
    lr = float(np.finfo(dtype).max) / 2
    optimizer = sgd(lr, momentum=0.5) if opt == "sgd" else adam(lr)
    saved = [a.copy() for a in model[0] + model[1] + state[0] + state[1]]
    for which in (ref.BIDIRECTIONAL, ref.SAMPLED):
        # 20 batches: checked after the 16th and the last
        with pytest.raises(FloatingPointError):
            core_epoch(model, X, y, state, 11, which, 2, optimizer, 1, 0)
        for a, b in zip(model[0] + model[1] + state[0] + state[1], saved):
            np.testing.assert_array_equal(a, b)
    # and the model still trains normally afterwards
    f, r, t = core_epoch(model, X, y, state, 11, ref.BIDIRECTIONAL, 2, sgd(0.01), 1, 0)
    assert t == 31 and np.isfinite(f + r)
    assert all(np.isfinite(a).all() for a in model[0] + model[1])


# ---------------------------------------------------------------------------------------------
# bad inputs
# ---------------------------------------------------------------------------------------------
def _bad_calls():
    sizes = (5, 4, 3)
    Ws, bs = ref.random_model(sizes, seed=1)
    X, y = data(6, 5, 2, 3)
    m = core_model(Ws, bs, ref.BINARY)
    m1 = core_model(*ref.random_model((5, 3), seed=1), ref.BINARY)
    st = zero_state(m)
    gw = [np.zeros_like(w) for w in m[0]]
    gb = [np.zeros_like(b) for b in m[1]]
    lab = y.copy()

    def obj(model=m, which=ref.BIDIRECTIONAL, X=X, labels=lab, gw=gw, gb=gb):
        return lambda: _core.dcim_objective(model, which, X, labels, 0, 0, gw, gb, False)

    def ep(model=m, which=ref.BIDIRECTIONAL, X=X, labels=lab, state=st, bs=3, opt=sgd(0.1)):
        return lambda: _core.dcim_epoch(model, X, labels, state, 0, objective=which,
                                        batch_size=bs, optimizer=opt, seed=0, epoch=0,
                                        check_signals=False)

    def fwd(model=m, X=X, proba=np.zeros((6, 3)), hidden=None):
        return lambda: _core.dcim_forward(model, X, proba, hidden, False)

    def rev(model=m, start=2, states=np.eye(3), n_sampled=0, logits=np.zeros((3, 5))):
        return lambda: _core.dcim_reverse(model, start, states, n_sampled, 0, 0, logits, False)

    bad_enc = (m[0], m[1], 2)
    neg_enc = (m[0], m[1], -1)
    one_class = core_model([np.ones((1, 5))], [np.zeros(5), np.zeros(1)], ref.BINARY)
    mixed = (m[0], [m[1][0].astype(np.float32)] + m[1][1:], ref.BINARY)
    return {
        "label too large": obj(labels=np.array([0, 1, 2, 3, 0, 1])),
        "label negative": obj(labels=np.array([0, 1, -1, 2, 0, 1])),
        "label too large (epoch)": ep(labels=np.array([0, 1, 2, 3, 0, 1])),
        "label negative (epoch)": ep(labels=np.array([0, 1, -1, 2, 0, 1])),
        "labels int32": obj(labels=lab.astype(np.int32)),
        "labels short": obj(labels=lab[:5].copy()),
        "labels missing": obj(labels=None),
        "labels int32 (epoch)": ep(labels=lab.astype(np.int32)),
        "X columns": obj(X=X[:, :4].copy()),
        "X columns (epoch)": ep(X=X[:, :4].copy()),
        "X columns (forward)": fwd(X=X[:, :4].copy()),
        "X dtype": obj(X=X.astype(np.float32)),
        "X dtype (forward)": fwd(X=X.astype(np.float32)),
        "X dtype (epoch)": ep(X=X.astype(np.float32)),
        "X 1-D": obj(X=X[0].copy()),
        "X int": obj(X=np.zeros((6, 5), dtype=np.int64)),
        "X empty": obj(X=np.zeros((0, 5)), labels=np.zeros(0, dtype=np.int64)),
        "sampled with d=1": obj(model=m1, which=ref.SAMPLED,
                                gw=[np.zeros((3, 5))], gb=[np.zeros(5), np.zeros(3)]),
        "sampled with d=1 (epoch)": ep(model=m1, which=ref.SAMPLED, state=zero_state(m1)),
        "objective 3": obj(which=3),
        "objective -1": obj(which=-1),
        "objective 3 (epoch)": ep(which=3),
        "encoding 2": obj(model=bad_enc),
        "encoding -1": obj(model=neg_enc),
        "encoding 2 (forward)": fwd(model=bad_enc),
        "encoding 2 (reverse)": rev(model=bad_enc),
        "encoding 2 (epoch)": ep(model=bad_enc),
        "one class": fwd(model=one_class, proba=np.zeros((6, 1))),
        "weights transposed": fwd(model=([m[0][0].T.copy(), m[0][1]], m[1], 0)),
        "too few biases": fwd(model=(m[0], m[1][:2], 0)),
        "no weights": fwd(model=([], m[1][:1], 0)),
        "mixed dtypes": fwd(model=mixed),
        "weights not arrays": fwd(model=([w.tolist() for w in m[0]], m[1], 0)),
        "model not a tuple": fwd(model=[m[0], m[1], 0]),
        "non-contiguous weights": fwd(model=([np.asfortranarray(m[0][0]), m[0][1]], m[1], 0)),
        "proba size": fwd(proba=np.zeros((6, 4))),
        "proba dtype": fwd(proba=np.zeros((6, 3), dtype=np.float32)),
        "hidden count": fwd(hidden=[np.zeros((6, 4)), np.zeros((6, 4))]),
        "hidden size": fwd(hidden=[np.zeros((6, 3))]),
        "reverse start 0": rev(start=0),
        "reverse start 3": rev(start=3),
        "reverse states width": rev(states=np.eye(4)),
        "reverse states dtype": rev(states=np.eye(3, dtype=np.float32)),
        "reverse logits size": rev(logits=np.zeros((3, 4))),
        "reverse n_sampled negative": rev(n_sampled=-1),
        "gw count": obj(gw=gw[:1]),
        "gb shape": obj(gb=[gb[0], gb[1], np.zeros(4)]),
        "gb without gw": obj(gw=gw, gb=None),
        "batch_size 0": ep(bs=0),
        "learning rate 0": ep(opt=sgd(0.0)),
        "unknown optimizer": ep(opt=("sgdx", 0.1, 0.0, 0.9, 0.999, 0.9, 1e-8, 0.0)),
        "negative weight decay": ep(opt=sgd(0.1, wd=-1.0)),
        "state count": ep(state=(st[0][:4], st[1])),
        "state shape": ep(state=(st[0][:4] + [np.zeros(4)], st[1])),
        "read-only model": ep(model=([w.copy() for w in m[0]],
                                     [b.copy() for b in m[1]][:2] + [_readonly(m[1][2])], 0)),
    }


def _readonly(a):
    a = a.copy()
    a.flags.writeable = False
    return a


BAD = _bad_calls()


# a container of the wrong type is a TypeError (Python's convention); bad contents ValueError
TYPE_ERRORS = {"model not a tuple"}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_inputs_raise_value_error(name):
    with pytest.raises(TypeError if name in TYPE_ERRORS else ValueError):
        BAD[name]()


def test_value_errors_leave_the_model_untouched():
    sizes = (5, 4, 3)
    Ws, bs = ref.random_model(sizes, seed=1)
    X, y = data(6, 5, 2, 3)
    m = core_model(Ws, bs, ref.BINARY)
    st = zero_state(m)
    saved = [a.copy() for a in m[0] + m[1] + st[0] + st[1]]
    for bad_y, which in ((np.array([0, 1, 2, 3, 0, 1]), ref.BIDIRECTIONAL), (y, 7)):
        with pytest.raises(ValueError):
            core_epoch(m, X, bad_y, st, 0, which, 2, sgd(0.1), 0, 0)
    for a, b in zip(m[0] + m[1] + st[0] + st[1], saved):
        np.testing.assert_array_equal(a, b)
