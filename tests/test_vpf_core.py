"""The Variational Probability Flow (VPF) kernels of pydbn._core against an independent NumPy
reference (tests/_vpf_reference.py) on models small enough to enumerate.

Source: Liu, Quek & Lin, "Variational Probability Flow" (shared paper 003): MPF for fully
observed Boltzmann machines (Eq. 1-2), the VPF E-step and Adam M-step (Algorithm 1),
confabulations (Algorithm 2) and the asynchronous intra-layer Gibbs sweep (Eq. 5). The model:

    E(y) = - sum_k b_k.y_k - sum_k y_{k+1}' W_k y_k - (1/2) sum_k y_k' U_k y_k,
    z_k = b_k + y_{k-1} W_{k-1}' + y_{k+1} W_k + y_k U_k,  alpha = 1/2 - y,
    K = mean over rows of sum over units of exp(alpha z).

The binding's model tuple is (Ws, Us, bs) with Us[k] None where layer k has no lateral weights.

The first section tests the reference itself (it runs without the binding); every test of the
binding is skipped until pydbn._core has the function it needs. Statistical tests use fixed
seeds and bounds that follow from their sample sizes: total variation within
en.tv_bound(p, n) (McDiarmid false-alarm probability < 1e-4, asserted), means within
Hoeffding's t = sqrt(log(2 k / 1e-6) / (2 n)) for k entries in [0, 1] (false alarm < 1e-6),
binomial frequencies within 5 standard errors. Each statistical test also checks its power: a
plausible wrong implementation is at least twice the bound away.
"""

import math

import numpy as np
import pytest
from scipy.special import expit
from threadpoolctl import threadpool_limits

from pydbn import _core

try:  # tests/ may or may not be a package
    from . import _enumerate as en
    from . import _vpf_reference as ref
except ImportError:  # pragma: no cover - depends on how pytest imports the tests
    import _enumerate as en
    import _vpf_reference as ref

VPF_FUNCTIONS = ("bm_mpf", "bm_infer", "bm_lateral_sweep", "vpf_epoch", "bm_generate",
                 "bm_reconstruct")


def requires(*names):
    """Skip a test until the binding has every function it calls."""
    missing = [n for n in names if not hasattr(_core, n)]
    return pytest.mark.skipif(bool(missing),
                              reason=f"pydbn._core has no {', '.join(missing)} (VPF binding "
                                     "not built yet)")


@pytest.fixture(autouse=True)
def _one_blas_thread():
    # tiny GEMMs: OpenBLAS threads only add overhead (and stall on a loaded machine)
    with threadpool_limits(1):
        yield


# ---------------------------------------------------------------------------------------------
# helpers: calls into the binding
# ---------------------------------------------------------------------------------------------
def core_mpf(model, states, grads=None):
    return _core.bm_mpf(model, states, grads, True)


def core_infer(model, X, seed, epoch):
    dtype = model[2][0].dtype
    out = [np.full((len(X), len(b)), np.nan, dtype=dtype) for b in model[2][1:]]
    _core.bm_infer(model, X, seed, epoch, out, True)
    return out


def core_sweep(model, k, below, h, seed, epoch):
    _core.bm_lateral_sweep(model, k, below, h, seed, epoch, True)
    return h


def core_epoch(model, X, state, t, lr, wd, batch_size, seed, epoch, *, beta1=0.9,
               beta2=0.999, eps=1e-8):
    return _core.vpf_epoch(model, X, state, t, lr, beta1, beta2, eps, wd, batch_size, seed,
                           epoch, True)


def core_generate(model, n, r, top_prior, seed, epoch, means):
    out = np.full((n, len(model[2][0])), np.nan, dtype=model[2][0].dtype)
    _core.bm_generate(model, n, r, top_prior, seed, epoch, means, out, True)
    return out


def core_reconstruct(model, X, mask, n_gibbs, seed, epoch):
    out = np.full(X.shape, np.nan, dtype=X.dtype)
    _core.bm_reconstruct(model, X, mask, n_gibbs, seed, epoch, out, True)
    return out


def grads_like(model, fill=np.nan):
    """Output arrays for bm_mpf's gradients, prefilled so unwritten entries show."""
    return ref.zeros_like_model(model, fill)


def states_as(states, dtype):
    return [np.ascontiguousarray(s, dtype=dtype) for s in states]


def match_rows(out, table, tol):
    """Index of the row of `table` each row of `out` equals (to tol); asserts there is one and
    that the rows of `table` are distinct (so the index is unambiguous)."""
    gaps = np.abs(table[:, None] - table[None]).max(axis=2)
    assert gaps[~np.eye(len(table), dtype=bool)].min() > 100 * tol
    d = np.abs(out[:, None, :] - table[None, :, :]).max(axis=2)
    idx = d.argmin(axis=1)
    assert d[np.arange(len(out)), idx].max() <= tol, "an output row is not any expected row"
    return idx


def assert_tv(empirical, p, n, *, wrong=(), factor=4.0):
    """empirical within the TV bound of p; every wrong alternative at least twice as far."""
    assert en.tv_false_alarm_probability(p, n, factor) < 1e-4  # the bound itself is safe
    bound = en.tv_bound(p, n, factor)
    tv = en.tv_distance(empirical, p)
    assert tv < bound, (tv, bound)
    for q in wrong:
        assert en.tv_distance(q, p) > 2 * bound, (en.tv_distance(q, p), bound)


def hoeffding(n, k, alpha=1e-6):
    """Half-width t with P(some of k means of n iid [0, 1] values is off by > t) < alpha."""
    return math.sqrt(math.log(2 * k / alpha) / (2 * n))


# Structures used by several tests: (sizes, layers with lateral weights)
FULL = ((6,), (0,))  # fully observed BM
RBM = ((6, 4), ())
DEEP = ((6, 5, 4, 3), (1, 2, 3))  # laterals in every hidden layer
MIXED = ((5, 4, 3), (0, 2))  # laterals in the visible and the top layer, none in h_1
STRUCTURES = {"full": FULL, "rbm": RBM, "deep": DEEP, "mixed": MIXED}


# =============================================================================================
# 0. the reference itself (runs without the binding)
# =============================================================================================
@pytest.mark.parametrize("name", list(STRUCTURES))
def test_reference_inputs_are_the_energy_changes_of_one_bit_flips(name):
    sizes, lat = STRUCTURES[name]
    model = ref.random_model(sizes, lat, seed=1)
    Y = ref.random_states(sizes, 9, seed=2)
    Z = ref.inputs(Y, model)
    # flipping unit j changes E by -(1 - 2 y_j) z_j = -2 alpha_j z_j, so exp(alpha z) is the
    # MPF rate exp((E(y) - E(y')) / 2); the flips are evaluated through the energy itself
    for d, y, z in zip(ref.flip_energy_differences(Y, model), Y, Z):
        np.testing.assert_allclose(d, -2 * (0.5 - y) * z, rtol=0, atol=1e-12)
    K = ref.mpf_objective(Y, model)
    rates = sum(np.exp(-d / 2).sum() for d in ref.flip_energy_differences(Y, model))
    assert K == pytest.approx(rates / (9 * sum(sizes)), rel=1e-12)
    # at zero parameters every rate is 1: K, a mean over rows and units, is 1
    assert ref.mpf_objective(Y, ref.zero_model(sizes, lat)) == pytest.approx(1.0)


@pytest.mark.parametrize("name", list(STRUCTURES))
def test_reference_gradients_equal_finite_differences_of_the_reference_objective(name):
    sizes, lat = STRUCTURES[name]
    model = ref.random_model(sizes, lat, seed=3)
    Y = ref.random_states(sizes, 11, seed=4)
    theta = ref.pack(model)  # U enters through the shared u_ij = u_ji: perturbed symmetrically
    fd = ref.finite_difference_gradient(lambda t: ref.mpf_objective_vector(t, Y, model), theta)
    g = ref.mpf_gradients(Y, model)
    np.testing.assert_allclose(ref.pack(g), fd, rtol=1e-7, atol=1e-7)
    for u in g[1]:
        if u is not None:
            np.testing.assert_array_equal(u, u.T)
            assert np.all(np.diag(u) == 0)
    # weighted rows are the mean of repeated rows
    w = np.arange(1, 12)
    Yrep = [np.repeat(y, w, axis=0) for y in Y]
    np.testing.assert_allclose(ref.pack(ref.mpf_gradients(Y, model, w)),
                               ref.pack(ref.mpf_gradients(Yrep, model)), rtol=1e-12, atol=1e-14)


def test_reference_hessian_and_newton_minimiser():
    sizes, lat = FULL
    model = ref.random_model(sizes, lat, seed=5)
    Y = ref.random_states(sizes, 40, seed=6)
    theta = ref.pack(model)
    H = ref.mpf_hessian(Y, model)
    Hfd = np.stack([ref.finite_difference_gradient(
        lambda t: ref.mpf_gradient_vector(t, Y, model)[i], theta, 1e-5)
        for i in range(len(theta))])
    np.testing.assert_allclose(H, Hfd, rtol=1e-6, atol=1e-7)
    fit, gmax = ref.mpf_minimiser(Y, ref.zero_model(sizes, lat))
    assert gmax < 1e-10


def test_reference_expected_mpf_gradient_vanishes_at_the_true_parameters():
    # MPF is consistent (Sohl-Dickstein et al. 2011): under the model's own distribution the
    # flows between each pair of one-hop neighbours balance, so E_p[dK/dtheta] = 0
    sizes, lat = FULL
    model = ref.random_model(sizes, lat, seed=7)
    Y, P = ref.joint_distribution(model)
    g = ref.pack(ref.mpf_gradients(Y, model, P))
    assert np.abs(g).max() < 1e-13
    # ... and not at other parameters
    other = ref.random_model(sizes, lat, seed=8)
    assert np.abs(ref.pack(ref.mpf_gradients(Y, other, P))).max() > 1e-2


def _sweep_case():
    """A 4-unit hidden layer with strong lateral weights above a 3-unit visible layer."""
    model = ref.random_model((3, 4), (1,), scale=1.0, lateral_scale=2.0, seed=28)
    below = np.array([1.0, 0.0, 1.0])
    start = np.array([0.0, 0.0, 1.0, 0.0])
    a = model[2][1] + model[0][0] @ below
    return model, below, start, a


def test_reference_sweep_kernel_leaves_the_exact_conditional_invariant():
    model, below, start, a = _sweep_case()
    U = model[1][1]
    pi = ref.lateral_conditional(a, U)
    T = ref.sweep_kernel(a, U)
    np.testing.assert_allclose(T.sum(axis=1), 1.0, rtol=0, atol=1e-14)
    np.testing.assert_allclose(pi @ T, pi, rtol=0, atol=1e-14)
    # each single-unit update satisfies detailed balance with respect to pi
    for j in range(4):
        Kj = ref.unit_update_kernel(a, U, j)
        F = pi[:, None] * Kj
        np.testing.assert_allclose(F, F.T, rtol=0, atol=1e-15)
    # many sweeps from any start converge to pi
    np.testing.assert_allclose(np.linalg.matrix_power(T, 200), np.tile(pi, (16, 1)), atol=1e-10)
    # the order of the sweep matters (the binding test relies on telling them apart), and a
    # factorial layer is far from pi
    T_rev = ref.sweep_kernel(a, U, order=range(3, -1, -1))
    i = en.state_index(start[None])[0]
    assert en.tv_distance(T[i], T_rev[i]) > 0.05
    assert en.tv_distance(pi, ref.factorial_table(a)) > 0.1


def test_reference_e_step_distribution_matches_a_numpy_sampler():
    model = ref.random_model((4, 3, 3), (1, 2), scale=1.0, lateral_scale=1.5, seed=13)
    x = np.array([1.0, 0.0, 1.0, 1.0])
    n = 20_000
    H = ref.sample_e_step(model, np.tile(x, (n, 1)), np.random.default_rng(0))
    emp = en.empirical_distribution(np.hstack(H), 6)
    assert_tv(emp, ref.infer_distribution(model, x), n)


def test_reference_generation_and_reconstruction_match_numpy_samplers():
    rng = np.random.default_rng(1)
    n = 20_000
    model = ref.random_model((3, 3, 3), (1, 2), scale=1.2, lateral_scale=1.5, seed=14)
    prior = np.array([0.2, 0.7, 0.5])
    _, h1 = ref.simulate_generate(model, n, 2, prior, rng)
    assert_tv(en.empirical_distribution(h1, 3), ref.generate_h1_distribution(model, 2, prior), n)
    rmodel = ref.random_model((6, 3), (1,), scale=1.2, lateral_scale=1.5, seed=15)
    x = np.array([1.0, 0.0, 1.0, 1.0, 0.0, 1.0])
    mask = np.array([1, 0, 1, 0, 0, 1], dtype=np.uint8)
    out = ref.simulate_reconstruct(rmodel, np.tile(x, (n, 1)), np.tile(mask, (n, 1)), 3, rng)
    t = hoeffding(n, 3)
    np.testing.assert_array_less(np.abs(out[:, mask == 1].mean(axis=0)
                                        - ref.reconstruct_expected(rmodel, x, mask, 3)), t)


def test_reference_adam_first_step_is_lr_times_the_sign():
    model = ref.random_model(*RBM, seed=16)
    Y = ref.random_states(RBM[0], 10, seed=17)
    g = ref.mpf_gradients(Y, model)
    before = ref.pack(model)
    t = ref.adam_step(model, g, ref.adam_state(model), 0, 0.01, 0.9, 0.999, 0.0)
    assert t == 1
    np.testing.assert_allclose(ref.pack(model), before - 0.01 * np.sign(ref.pack(g)),
                               rtol=0, atol=1e-15)


# =============================================================================================
# 1. bm_mpf: objective and gradients
# =============================================================================================
@requires("bm_mpf")
def test_the_binding_exports_every_vpf_function():
    assert [n for n in VPF_FUNCTIONS if not hasattr(_core, n)] == []


MPF_TOL = {np.float64: 1e-10, np.float32: 2e-4}


@requires("bm_mpf")
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("rows", [1, 37, 1000])
@pytest.mark.parametrize("name", list(STRUCTURES))
def test_mpf_objective_and_gradients_equal_the_reference(name, rows, dtype):
    sizes, lat = STRUCTURES[name]
    model = ref.as_core(ref.random_model(sizes, lat, seed=20 + rows), dtype)
    m64 = ref.to_float64(model)  # the parameters the binding sees, exactly, in float64
    states = states_as(ref.random_states(sizes, rows, seed=21 + rows), dtype)
    S64 = states_as(states, np.float64)
    before = [s.copy() for s in states]
    grads = grads_like(model)  # NaN: every entry must be written, not accumulated
    K = core_mpf(model, states, grads)
    K_ref = ref.mpf_objective(S64, m64)
    g_ref = ref.mpf_gradients(S64, m64)
    assert isinstance(K, float)
    assert K == pytest.approx(K_ref, rel=MPF_TOL[dtype])
    scale = max(float(np.abs(a).max()) for a in g_ref[0] + g_ref[2])
    tol = MPF_TOL[dtype]
    for got_list, exp_list, what in zip(grads, g_ref, ("W", "U", "b")):
        for k, (got, exp) in enumerate(zip(got_list, exp_list)):
            if exp is None:
                assert got is None
                continue
            assert got.dtype == dtype and got.shape == exp.shape
            np.testing.assert_allclose(got, exp, rtol=tol, atol=tol * scale,
                                       err_msg=f"d K / d {what}_{k}")
    for u in grads[1]:
        if u is not None:
            np.testing.assert_allclose(u, u.T, rtol=0, atol=tol * scale)
            assert np.all(np.diag(u) == 0)
    # inputs untouched
    for s, b in zip(states, before):
        np.testing.assert_array_equal(s, b)
    # test power: the gradients are far from zero and from the unsymmetrised lateral term
    assert scale > 1e-2
    for k, u in enumerate(g_ref[1]):
        if u is not None and rows > 1:
            Y = S64[k]
            G = (0.5 - Y) * np.exp((0.5 - Y) * ref.inputs(S64, m64)[k])
            assert np.abs(u - G.T @ Y / rows).max() > 10 * tol * scale


@requires("bm_mpf")
@pytest.mark.parametrize("name", ["full", "mixed", "tiny"])
def test_mpf_gradients_equal_central_differences_of_the_binding_objective(name):
    sizes, lat = ((3, 2, 2), (0, 1, 2)) if name == "tiny" else STRUCTURES[name]
    model = ref.as_core(ref.random_model(sizes, lat, seed=30), np.float64)
    states = ref.random_states(sizes, 13, seed=31)
    grads = grads_like(model)
    core_mpf(model, states, grads)
    h = 1e-6
    # walk the packed parameters: every W entry, each shared u_ij (both entries moved), every b
    entries = []
    for k, w in enumerate(model[0]):
        entries += [([(w, (i, j))], grads[0][k][i, j]) for i in range(w.shape[0])
                    for j in range(w.shape[1])]
    for k, u in enumerate(model[1]):
        if u is not None:
            n = len(u)
            entries += [([(u, (i, j)), (u, (j, i))], grads[1][k][i, j])
                        for i in range(n) for j in range(i + 1, n)]
    for k, b in enumerate(model[2]):
        entries += [([(b, (j,))], grads[2][k][j]) for j in range(len(b))]
    assert len(entries) == len(ref.pack(model))
    fd, got = [], []
    for cells, g in entries:
        vals = []
        for sign in (1, -1):
            for arr, idx in cells:
                arr[idx] += sign * h
            vals.append(core_mpf(model, states))
            for arr, idx in cells:
                arr[idx] -= sign * h
        fd.append((vals[0] - vals[1]) / (2 * h))
        got.append(g)
    # truncation ~h^2 K''' ~ 1e-12, rounding ~1e-16 K / h ~ 1e-9
    np.testing.assert_allclose(got, fd, rtol=1e-6, atol=1e-7)


@requires("bm_mpf")
def test_mpf_without_gradients_returns_the_same_objective():
    sizes, lat = DEEP
    model = ref.as_core(ref.random_model(sizes, lat, seed=32))
    states = ref.random_states(sizes, 25, seed=33)
    params = [a.copy() for a in model[0] + model[2]]
    K0 = core_mpf(model, states)
    K1 = core_mpf(model, states, grads_like(model))
    assert K0 == K1
    assert K0 == pytest.approx(ref.mpf_objective(states, ref.to_float64(model)), rel=1e-12)
    for a, b in zip(model[0] + model[2], params):
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------------------------------
# bad inputs
# ---------------------------------------------------------------------------------------------
def _bad_mpf_calls():
    """(id, model, states, grads) for malformed bm_mpf calls, from a valid MIXED call."""
    sizes, lat = MIXED
    good = ref.as_core(ref.random_model(sizes, lat, seed=34))
    S = ref.random_states(sizes, 5, seed=35)

    def model_with(part, k, value):
        m = ([a for a in good[0]], [a for a in good[1]], [a for a in good[2]])
        m[part][k] = value
        return m

    g = grads_like(good, 0.0)

    def grads_with(part, k, value):
        gg = ([a for a in g[0]], [a for a in g[1]], [a for a in g[2]])
        gg[part][k] = value
        return gg

    ro = np.zeros_like(good[0][0])
    ro.setflags(write=False)
    return [
        ("W shape", model_with(0, 0, np.zeros((4, 6))), S, None),
        ("bias length", model_with(2, 1, np.zeros(5)), S, None),
        ("U shape", model_with(1, 0, np.zeros((4, 4))), S, None),
        ("dtype mix", model_with(2, 1, good[2][1].astype(np.float32)), S, None),
        ("int dtype", model_with(0, 1, good[0][1].astype(np.int64)), S, None),
        ("too few laterals", (good[0], good[1][:2], good[2]), S, None),
        ("too few biases", (good[0], good[1], good[2][:2]), S, None),
        ("too few states", good, S[:2], None),
        ("state columns", good, [S[0], S[1][:, :3], S[2]], None),
        ("state rows differ", good, [S[0], S[1][:4], S[2]], None),
        ("state dtype", good, [S[0].astype(np.float32), S[1], S[2]], None),
        ("state 1-D", good, [S[0][0], S[1][0], S[2][0]], None),
        ("grad shape", good, S, grads_with(0, 0, np.zeros((4, 6)))),
        ("grad dtype", good, S, grads_with(2, 0, np.zeros(5, dtype=np.float32))),
        ("grad U missing", good, S, grads_with(1, 0, None)),
        ("grad U where none", good, S, grads_with(1, 1, np.zeros((4, 4)))),
        ("grad read-only", good, S, grads_with(0, 0, ro)),
        ("grads not a triple", good, S, (g[0], g[2])),
        ("model not a triple", (good[0], good[2]), S, None),
    ]


@requires("bm_mpf")
@pytest.mark.parametrize("case", range(len(_bad_mpf_calls())),
                         ids=[c[0] for c in _bad_mpf_calls()])
def test_mpf_rejects_malformed_arguments(case):
    _, model, states, grads = _bad_mpf_calls()[case]
    with pytest.raises((ValueError, TypeError)):
        core_mpf(model, states, grads)


@requires("bm_mpf")
@pytest.mark.parametrize("defect", ["asymmetric", "diagonal"])
def test_mpf_rejects_lateral_weights_that_are_not_symmetric_with_zero_diagonal(defect):
    sizes, lat = FULL
    model = ref.as_core(ref.random_model(sizes, lat, seed=36))
    U = model[1][0]
    if defect == "asymmetric":
        U[0, 1] += 0.5
    else:
        U[2, 2] = 0.5
    try:
        core_mpf(model, ref.random_states(sizes, 5, seed=37))
    except (ValueError, TypeError):
        return
    pytest.xfail(f"the binding does not check lateral weights for {defect} entries (the "
                 "kernels then assume symmetry and ignore or use the diagonal silently)")


# =============================================================================================
# 2. the asynchronous lateral sweep
# =============================================================================================
SWEEP_N = 20_000


@requires("bm_lateral_sweep")
def test_one_lateral_sweep_follows_the_exact_sequential_kernel():
    model, below, start, a = _sweep_case()
    U = model[1][1]
    core = ref.as_core(model)
    B = np.ascontiguousarray(np.tile(below, (SWEEP_N, 1)))
    h = np.ascontiguousarray(np.tile(start, (SWEEP_N, 1)))
    core_sweep(core, 1, B, h, 5, 0)
    np.testing.assert_array_equal(B, np.tile(below, (SWEEP_N, 1)))  # below untouched
    i = en.state_index(start[None])[0]
    T = ref.sweep_kernel(a, U)
    wrong = [ref.sweep_kernel(a, U, order=range(3, -1, -1))[i],  # reversed order
             ref.factorial_table(a + start @ U),  # all units at once from the start
             ref.factorial_table(a),  # lateral input ignored
             np.eye(16)[i]]  # nothing done
    assert_tv(en.empirical_distribution(h, 4), T[i], SWEEP_N, wrong=wrong)


@requires("bm_lateral_sweep")
def test_one_lateral_sweep_uses_each_rows_own_state_and_input_from_below():
    model, below, start, a = _sweep_case()
    U = model[1][1]
    below2 = np.array([0.0, 1.0, 1.0])
    start2 = np.array([0.0, 1.0, 1.0, 0.0])
    n = SWEEP_N
    # rows alternate between the two (below, start) pairs
    B = np.ascontiguousarray(np.where(np.arange(n)[:, None] % 2 == 0, below, below2))
    h = np.ascontiguousarray(np.where(np.arange(n)[:, None] % 2 == 0, start, start2))
    core_sweep(ref.as_core(model), 1, B, h, 6, 3)
    a2 = model[2][1] + model[0][0] @ below2
    p1 = ref.sweep_kernel(a, U)[en.state_index(start[None])[0]]
    p2 = ref.sweep_kernel(a2, U)[en.state_index(start2[None])[0]]
    assert_tv(en.empirical_distribution(h[0::2], 4), p1, n // 2, wrong=[p2])
    assert_tv(en.empirical_distribution(h[1::2], 4), p2, n // 2, wrong=[p1])


@requires("bm_lateral_sweep")
def test_repeated_lateral_sweeps_with_new_epochs_converge_to_the_exact_conditional():
    model, below, start, a = _sweep_case()
    U = model[1][1]
    core = ref.as_core(model)
    B = np.ascontiguousarray(np.tile(below, (SWEEP_N, 1)))
    h = np.ascontiguousarray(np.tile(start, (SWEEP_N, 1)))
    n_sweeps = 30
    for epoch in range(n_sweeps):
        core_sweep(core, 1, B, h, 7, epoch)
    i = en.state_index(start[None])[0]
    T = ref.sweep_kernel(a, U)
    expected = np.linalg.matrix_power(T, n_sweeps)[i]
    pi = ref.lateral_conditional(a, U)
    assert en.tv_distance(expected, pi) < 1e-6  # mixed: the target is the exact conditional
    # reusing one epoch's random numbers every sweep would not mix like this
    assert_tv(en.empirical_distribution(h, 4), pi, SWEEP_N, wrong=[T[i]])


@requires("bm_lateral_sweep")
def test_lateral_sweep_is_deterministic_in_seed_and_epoch():
    model, below, start, a = _sweep_case()
    core = ref.as_core(model)
    B = np.ascontiguousarray(np.tile(below, (500, 1)))
    runs = {}
    for key in [(1, 0), (1, 0), (1, 1), (2, 0)]:
        h = np.ascontiguousarray(np.tile(start, (500, 1)))
        runs.setdefault(key, []).append(core_sweep(core, 1, B, h, *key))
    np.testing.assert_array_equal(runs[(1, 0)][0], runs[(1, 0)][1])
    assert not np.array_equal(runs[(1, 0)][0], runs[(1, 1)][0])
    assert not np.array_equal(runs[(1, 0)][0], runs[(2, 0)][0])


@requires("bm_lateral_sweep")
def test_lateral_sweep_rejects_a_layer_without_lateral_weights():
    sizes, lat = MIXED  # laterals in layers 0 and 2 only
    model = ref.as_core(ref.random_model(sizes, lat, seed=38))
    below = np.zeros((3, 5))
    h = np.zeros((3, 4))
    with pytest.raises((ValueError, TypeError)):
        core_sweep(model, 1, below, h, 0, 0)  # U_1 is None
    with pytest.raises((ValueError, TypeError)):
        core_sweep(model, 0, np.zeros((3, 5)), np.zeros((3, 5)), 0, 0)  # no layer below
    with pytest.raises((ValueError, TypeError)):
        core_sweep(model, 2, np.zeros((3, 5)), np.zeros((3, 3)), 0, 0)  # below has n_0 cols
    with pytest.raises((ValueError, TypeError)):
        core_sweep(model, 3, np.zeros((3, 3)), np.zeros((3, 3)), 0, 0)  # no such layer


# =============================================================================================
# 3. bm_infer: the E-step
# =============================================================================================
INFER_N = 4000


@requires("bm_infer")
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
def test_infer_of_an_rbm_draws_independent_units_with_sigmoid_means(dtype):
    sizes, lat = RBM
    model = ref.random_model(sizes, lat, scale=1.0, seed=40)
    core = ref.as_core(model, dtype)
    m64 = ref.to_float64(core)
    patterns = np.array([[1, 0, 1, 1, 0, 0], [0, 1, 1, 0, 1, 1], [1, 1, 1, 1, 1, 1.0]])
    X = np.ascontiguousarray(np.repeat(patterns, INFER_N, axis=0), dtype=dtype)
    (h,) = core_infer(core, X, 3, 0)
    assert h.shape == (len(X), 4) and h.dtype == dtype
    assert np.all((h == 0) | (h == 1))
    for r, x in enumerate(patterns):
        hs = h[r * INFER_N:(r + 1) * INFER_N].astype(np.float64)
        p = expit(m64[2][1] + m64[0][0] @ x)
        # 12 binomial frequencies within 5 standard errors (false alarm ~1e-5)
        np.testing.assert_array_less(np.abs(hs.mean(axis=0) - p),
                                     5 * np.sqrt(p * (1 - p) / INFER_N))
        # jointly independent units (the same uniform reused for two units would correlate)
        others = [ref.factorial_table(m64[2][1] + m64[0][0] @ y)
                  for y in patterns if not np.array_equal(y, x)]
        assert_tv(en.empirical_distribution(hs, 4), ref.factorial_table(
            m64[2][1] + m64[0][0] @ x), INFER_N, wrong=others)


@requires("bm_infer")
def test_infer_with_laterals_draws_bottom_up_then_sweeps_each_layer():
    model = ref.random_model((4, 3, 3), (1, 2), scale=1.0, lateral_scale=2.0, seed=13)
    x = np.array([1.0, 0.0, 1.0, 1.0])
    n = 20_000
    H = core_infer(ref.as_core(model), np.ascontiguousarray(np.tile(x, (n, 1))), 9, 2)
    emp = en.empirical_distribution(np.hstack(H), 6)
    p = ref.infer_distribution(model, x)
    no_laterals = ref.infer_distribution((model[0], [None] * 3, model[2]), x)
    only_first = ref.infer_distribution((model[0], [None, model[1][1], None], model[2]), x)
    assert_tv(emp, p, n, wrong=[no_laterals, only_first])


@requires("bm_infer")
def test_infer_is_a_function_of_seed_epoch_and_row_index_only():
    sizes, lat = MIXED
    core = ref.as_core(ref.random_model(sizes, lat, seed=41))
    rng = np.random.default_rng(42)
    X = (rng.random((1500, 5)) < 0.5).astype(np.float64)
    a = core_infer(core, X, 11, 4)
    b = core_infer(core, X, 11, 4)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
        assert np.all((u == 0) | (u == 1))
    # other rows do not matter: a prefix, and X with every other row replaced. (Not X[perm]:
    # the random numbers belong to the row INDEX, so a permuted X gives its rows other streams;
    # with this binding ~78% of un-permuted rows then differ, as the spec implies.)
    for u, v in zip(a, core_infer(core, np.ascontiguousarray(X[:37]), 11, 4)):
        np.testing.assert_array_equal(u[:37], v)
    keep = np.arange(0, len(X), 2)
    X2 = X.copy()
    X2[1::2] = 1.0 - X2[1::2]
    for u, v in zip(a, core_infer(core, X2, 11, 4)):
        np.testing.assert_array_equal(u[keep], v[keep])
    # another epoch or seed: other random numbers
    for key in [(11, 5), (12, 4)]:
        assert not all(np.array_equal(u, v) for u, v in zip(a, core_infer(core, X, *key)))


@requires("bm_infer")
def test_infer_rejects_malformed_arguments():
    sizes, lat = MIXED
    core = ref.as_core(ref.random_model(sizes, lat, seed=43))
    X = np.zeros((4, 5))
    good = [np.zeros((4, 4)), np.zeros((4, 3))]
    for bad_X, out in [(np.zeros((4, 6)), good),
                       (np.zeros((4, 5), np.float32), good),
                       (X, [np.zeros((4, 4))]),
                       (X, [np.zeros((4, 4)), np.zeros((3, 3))]),
                       (X, [np.zeros((4, 4)), np.zeros((4, 3), np.float32)])]:
        with pytest.raises((ValueError, TypeError)):
            _core.bm_infer(core, bad_X, 0, 0, out, True)


# =============================================================================================
# 4. vpf_epoch: E-step, minibatches and Adam
# =============================================================================================
def _state_as(state, dtype):
    return tuple([None if a is None else np.ascontiguousarray(a, dtype=dtype).copy()
                  for a in arrays] for arrays in state)


def _assert_models_close(got, expected, rtol, atol, what=""):
    for part, g_list, e_list in zip("WUb", got, expected):
        for k, (g, e) in enumerate(zip(g_list, e_list)):
            if e is None:
                assert g is None
                continue
            np.testing.assert_allclose(np.asarray(g, np.float64), e, rtol=rtol, atol=atol,
                                       err_msg=f"{what} {part}_{k}")


EXACT_CASES = {
    "full": (FULL, 0.01),
    "rbm": (RBM, 0.01),
    "deep": (((5, 4, 3), (1, 2)), 0.01),
    "mixed": (MIXED, 0.0),
}


@requires("vpf_epoch", "bm_infer")
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("name", list(EXACT_CASES))
def test_full_batch_epochs_are_the_e_step_then_one_adam_step_on_the_mpf_gradient(name, dtype):
    # batch_size >= rows: one minibatch per epoch, so the shuffle does not matter and each
    # epoch is: h = bm_infer(params at the start, same seed and epoch); K and its gradient at
    # (X, h) plus weight decay on W and U; one bias-corrected Adam step. Adam is invariant to
    # rescaling each gradient coordinate, so the second moments v (which carry the gradient's
    # scale) and weight decay (which competes with dK) are what pin the gradient down here.
    (sizes, lat), wd = EXACT_CASES[name]
    lr, b1, b2, eps = 0.01, 0.8, 0.99, 1e-8
    core = ref.as_core(ref.random_model(sizes, lat, scale=0.5, lateral_scale=0.5, seed=50),
                       dtype)
    mine = ref.to_float64(core)
    state = ref.adam_state(mine)
    core_state = _state_as(state, dtype)
    X = np.ascontiguousarray(ref.random_states(sizes[:1], 60, seed=52)[0], dtype=dtype)
    t = 0
    for epoch in range(4):
        H = core_infer(ref.as_core(mine, dtype), X, 13, epoch) if len(sizes) > 1 else []
        Y = [X.astype(np.float64)] + [h.astype(np.float64) for h in H]
        K_ref, t_ref = ref.vpf_full_batch_epoch(mine, Y, state, t, lr, b1, b2, eps, wd)
        K, t = core_epoch(core, X, core_state, t, lr, wd, 60 + 7 * epoch, 13, epoch,
                          beta1=b1, beta2=b2, eps=eps)
        assert t == t_ref
        if dtype == np.float64:
            assert K == pytest.approx(K_ref, rel=1e-11)
            _assert_models_close(core, mine, 1e-9, 1e-12, f"epoch {epoch}")
            for got, exp in zip(core_state[1::2], state[1::2]):  # vW, vU, vb
                _assert_models_close((got, [], []), (exp, [], []), 1e-9, 1e-16, "v")
        else:
            # float32: K to its rounding; each Adam step is lr * O(1), off by ~1e-6 of it
            # (plus the float32 rounding of the parameters, ~6e-8 relative)
            assert K == pytest.approx(K_ref, rel=1e-5)
            _assert_models_close(core, mine, 1e-5, 1e-6, f"epoch {epoch}")
            for got, exp in zip(core_state[1::2], state[1::2]):
                _assert_models_close((got, [], []), (exp, [], []), 1e-4, 1e-9, "v")
    for u in core[1]:
        if u is not None:
            np.testing.assert_array_equal(u, u.T)
            assert np.all(np.diag(u) == 0)
    # test power: the moved parameters differ from the start by many tolerances
    start = ref.as_core(ref.random_model(sizes, lat, scale=0.5, lateral_scale=0.5, seed=50))
    assert np.abs(ref.pack(ref.to_float64(core)) - ref.pack(start)).max() > 0.01


@requires("vpf_epoch")
def test_minibatches_are_consecutive_adam_steps_counted_in_t():
    # a fully observed BM trained on 30 copies of one state: whatever the shuffle, each of the
    # ceil(30 / 7) = 5 minibatches is that state, so the epoch is 5 Adam steps on its K
    sizes, lat = FULL
    model = ref.random_model(sizes, lat, scale=0.5, lateral_scale=0.5, seed=53)
    core = ref.as_core(model)
    mine = ref.to_float64(core)
    state = ref.adam_state(mine)
    core_state = _state_as(state, np.float64)
    x = np.array([[1.0, 0.0, 1.0, 1.0, 0.0, 1.0]])
    X = np.ascontiguousarray(np.tile(x, (30, 1)))
    t = 2  # as if two steps had been taken: the bias correction uses t = 3..7
    Ks = []
    for _ in range(5):
        Ks.append(ref.mpf_objective([x], mine))
        t = ref.adam_step(mine, ref.decayed_gradients([x], mine, 0.02), state, t, 0.03, 0.9,
                          0.999, 1e-8)
    K, t_core = core_epoch(core, X, core_state, 2, 0.03, 0.02, 7, 0, 0)
    assert t_core == t == 7
    assert K == pytest.approx(np.mean(Ks), rel=1e-11)
    _assert_models_close(core, mine, 1e-9, 1e-12)
    for got, exp in zip(core_state[1::2], state[1::2]):
        _assert_models_close((got, [], []), (exp, [], []), 1e-9, 1e-16, "v")
    assert np.ptp(Ks) > 1e-2  # the five K differ: the objective is an average, not the first


@requires("vpf_epoch", "bm_infer")
@pytest.mark.parametrize("name", ["rbm", "deep"])
def test_tiny_learning_rate_epoch_reports_k_of_the_e_step_samples(name):
    # equal minibatches at (nearly) fixed parameters: the mean of their K is K over all rows,
    # which holds only if the shuffle keeps each x with its own h; h as bm_infer draws it.
    # (The binding refuses learning_rate = 0; 1e-13 moves each parameter by <= 12 * 1e-13.)
    (sizes, lat), _ = EXACT_CASES[name]
    core = ref.as_core(ref.random_model(sizes, lat, scale=1.0, seed=55))
    before = ref.to_float64(core)
    X = np.ascontiguousarray(ref.random_states(sizes[:1], 120, seed=56)[0])
    H = core_infer(core, X, 21, 6)
    K, t = core_epoch(core, X, ref.adam_state(core), 0, 1e-13, 0.0, 10, 21, 6)
    assert t == 12
    Y = [X] + H
    assert K == pytest.approx(ref.mpf_objective(Y, before), rel=1e-10)
    _assert_models_close(core, before, 0, 1.3e-12)
    # test power: pairing x with another row's h changes K
    Y_bad = [X] + [h[np.roll(np.arange(120), 1)] for h in H]
    assert abs(ref.mpf_objective(Y_bad, before) - K) > 1e-3 * K


@requires("vpf_epoch", "bm_infer")
def test_adam_state_holds_the_moments_of_the_descent_direction():
    # The core's optimizer (csrc/core/optim_impl.h, shared with RBM/DBM training) keeps Adam's
    # moments of the update DIRECTION d = -(dK/dtheta + weight decay), and steps
    # theta += lr * mhat / (sqrt(vhat) + eps): Kingma & Ba's algorithm exactly, but its m is
    # the negative of their m (the moment of the gradient). From zero state the two train
    # identically; a state passed in from elsewhere must follow this convention. Pinned here
    # so a change of convention is deliberate.
    sizes, lat = ((5, 4, 3), (1, 2))
    core = ref.as_core(ref.random_model(sizes, lat, scale=0.5, lateral_scale=0.5, seed=62))
    mine = ref.to_float64(core)
    X = np.ascontiguousarray(ref.random_states(sizes[:1], 40, seed=63)[0])
    H = core_infer(core, X, 5, 0)
    g = ref.decayed_gradients([X] + H, mine, 0.01)
    state = ref.adam_state(core)
    core_epoch(core, X, state, 0, 0.01, 0.01, 40, 5, 0, beta1=0.9, beta2=0.999)
    for m_list, v_list, g_list in zip(state[0::2], state[1::2], g):
        for m, v, gg in zip(m_list, v_list, g_list):
            if gg is None:
                assert m is None and v is None
                continue
            np.testing.assert_allclose(v, 0.001 * gg * gg, rtol=1e-9, atol=1e-18)
            np.testing.assert_allclose(m, -0.1 * gg, rtol=1e-9, atol=1e-15)
    # and a warm start in that convention continues the same trajectory: two epochs in one
    # go equal one epoch, then one more from the returned state and t
    a = ref.as_core(mine)
    b = ref.as_core(mine)
    sa, sb = ref.adam_state(a), ref.adam_state(b)
    _, ta = core_epoch(a, X, sa, 0, 0.01, 0.01, 40, 5, 0)
    _, ta = core_epoch(a, X, sa, ta, 0.01, 0.01, 40, 5, 1)
    _, tb = core_epoch(b, X, sb, 0, 0.01, 0.01, 40, 5, 0)
    sb = _state_as(sb, np.float64)  # a copy, as if saved and restored
    _, tb = core_epoch(b, X, sb, tb, 0.01, 0.01, 40, 5, 1)
    assert ta == tb == 2
    _assert_models_close(a, ref.to_float64(b), 0, 0)


@requires("vpf_epoch")
def test_training_a_fully_observed_bm_decreases_the_objective():
    sizes, lat = FULL
    true = ref.random_model(sizes, lat, lateral_scale=1.0, seed=57)
    X = ref.sample_joint(true, 200, seed=58)[0]
    core = ref.as_core(ref.zero_model(sizes, lat))
    state = ref.adam_state(core)
    t, objs = 0, []
    for epoch in range(40):
        K, t = core_epoch(core, X, state, t, 0.05, 0.0, 20, 3, epoch)
        objs.append(K)
    assert t == 400
    assert objs[0] == pytest.approx(1.0, abs=1 / 6)  # K = 1 at zero parameters, then falls
    assert np.mean(objs[-5:]) < 0.85 * objs[0]
    # the end is near the minimum of K on these data (Newton on the reference objective)
    fit, _ = ref.mpf_minimiser([X], ref.zero_model(sizes, lat))
    K_min = ref.mpf_objective([X], fit)
    K_end = ref.mpf_objective([X], ref.to_float64(core))
    assert K_min <= K_end < K_min + 0.02 * K_min
    U = core[1][0]
    np.testing.assert_allclose(U, U.T, rtol=0, atol=1e-12)
    assert np.all(np.diag(U) == 0)


@requires("vpf_epoch")
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
def test_training_a_dbm_with_laterals_on_digits_decreases_the_objective(dtype):
    from pydbn.datasets import load_digits_binary
    X = np.ascontiguousarray(load_digits_binary()[0][:300], dtype=dtype)
    sizes, lat = (64, 16, 8), (1, 2)
    core = ref.as_core(ref.random_model(sizes, lat, scale=0.01, lateral_scale=0.01,
                                        bias_scale=0.0, seed=59), dtype)
    state = ref.adam_state(core)
    t, objs = 0, []
    for epoch in range(15):
        K, t = core_epoch(core, X, state, t, 0.01, 1e-4, 30, 4, epoch)
        objs.append(K)
    # at small random weights every unit has rate ~1: K ~ 1 (a mean over the 88 units)
    assert all(np.isfinite(objs))
    assert 75 / 88 < objs[0] < 90 / 88
    assert np.mean(objs[-3:]) < 0.8 * objs[0]
    assert all(b < a + 0.5 / 88 for a, b in zip(objs, objs[1:]))  # no blow-up along the way
    for u in core[1]:
        if u is not None:
            np.testing.assert_allclose(u, u.T, rtol=0,
                                       atol=1e-12 if dtype == np.float64 else 1e-6)
            assert np.all(np.diag(u) == 0)
            assert np.abs(u).max() > 0.02  # the laterals were trained


# ---------------------------------------------------------------------------------------------
# consistency of MPF through the binding's trainer
# ---------------------------------------------------------------------------------------------
CONS_SIZES, CONS_LAT = (5,), (0,)


def _fit_with_vpf_epoch(X):
    """Adam from zero, full batch (one step per epoch), learning rate 0.05, 0.01, 0.002 for
    300 epochs each."""
    core = ref.as_core(ref.zero_model(CONS_SIZES, CONS_LAT))
    state = ref.adam_state(core)
    t, epoch = 0, 0
    for lr, n in ((0.05, 300), (0.01, 300), (0.002, 300)):
        for _ in range(n):
            _, t = core_epoch(core, X, state, t, lr, 0.0, len(X), 0, epoch)
            epoch += 1
    return ref.to_float64(core)


@requires("vpf_epoch")
def test_mpf_fit_by_vpf_epoch_is_consistent():
    true = ref.random_model(CONS_SIZES, CONS_LAT, lateral_scale=0.8, bias_scale=0.5, seed=7)
    theta = ref.pack(true)
    # asymptotic covariance of the MPF estimator, A^-1 B A^-1 / N, exactly by enumeration:
    # A = E_p[Hessian of K(x)], B = Cov_p[grad K(x)] (E_p[grad] = 0 at the truth)
    Ys, P = ref.joint_distribution(true)
    A = ref.mpf_hessian(Ys, true, P)
    G = np.stack([ref.pack(ref.mpf_gradients([y[i:i + 1] for y in Ys], true))
                  for i in range(len(P))])
    B = (G * P[:, None]).T @ G
    Ainv = np.linalg.inv(A)
    sd1 = np.sqrt(np.diag(Ainv @ B @ Ainv))  # per-parameter sd times sqrt(N)
    errors = {}
    for N in (1000, 30_000):
        X = np.ascontiguousarray(ref.sample_joint(true, N, seed=60 + N)[0])
        fit = _fit_with_vpf_epoch(X)
        # the optimiser reaches the minimiser of K on these data (Newton on the reference)
        newton, _ = ref.mpf_minimiser(Ys, ref.zero_model(CONS_SIZES, CONS_LAT),
                                      en.empirical_distribution(X, CONS_SIZES[0]))
        np.testing.assert_allclose(ref.pack(fit), ref.pack(newton), rtol=0, atol=2e-3)
        err = ref.pack(fit) - theta
        errors[N] = np.linalg.norm(err)
        # each of the 15 parameters within 5 asymptotic standard deviations (normal tails:
        # P(some |Z| > 5) < 15 * 5.7e-7), plus the optimiser's 2e-3
        np.testing.assert_array_less(np.abs(err), 5 * sd1 / np.sqrt(N) + 2e-3)
    # the error shrinks with the sample size (expected ratio sqrt(30) ~ 5.5)
    assert errors[30_000] < 0.5 * errors[1000], errors
    # test power: 5 sd at N = 30000 is ~0.15, far below the parameters' own size
    assert np.abs(theta).max() > 4 * (5 * sd1 / np.sqrt(30_000)).max()


@requires("vpf_epoch")
def test_vpf_epoch_rejects_malformed_arguments():
    sizes, lat = MIXED
    core = ref.as_core(ref.random_model(sizes, lat, seed=61))
    X = np.zeros((10, 5))
    st = ref.adam_state(core)
    bad_state = (st[0], st[1], st[2], st[3], st[4], [np.zeros(5), np.zeros(4)])  # one short
    wrong_shape = (st[0], st[1], [np.zeros((4, 4)), None, st[2][2]], st[3], st[4], st[5])
    for args in [(X[:, :4], st, 10), (X.astype(np.float32), st, 10), (X, bad_state, 10),
                 (X, wrong_shape, 10), (X, st[:5], 10), (X, st, 0)]:
        with pytest.raises((ValueError, TypeError)):
            core_epoch(core, args[0], args[1], 0, 0.01, 0.0, args[2], 0, 0)


# =============================================================================================
# 5. bm_generate: Algorithm 2
# =============================================================================================
GEN_N = 20_000


def _identify_h1(out, model, tol):
    """The h_1 behind each output row p(h_0 = 1 | h_1) (the 2**n_1 rows are distinct)."""
    table = expit(model[2][0] + en.binary_states(len(model[2][1])) @ model[0][0])
    return match_rows(out.astype(np.float64), table, tol)


# (sizes, laterals, weight scale, seed, r, top prior, wrong alternatives for the power check).
# Weights of scale 3 make the chains mix slowly enough that the alternatives (a repetition
# count of 1 instead of r, or 2 instead of 1; another top prior; the sweeps left out) stay
# more than twice the TV bound away; seeds picked for that by a search over 40 seeds.
GEN_CASES = {
    "rbm_r1_prior": ((4, 3), (), 3.0, 21, 1, np.array([0.2, 0.7, 0.5]), ("r", "prior")),
    "rbm_r3_uniform": ((4, 3), (), 3.0, 13, 3, None, ("r", "prior")),
    "laterals_r2_prior": ((3, 3, 3), (1, 2), 3.0, 37, 2, np.array([0.8, 0.3, 0.5]),
                          ("r", "sweeps")),
}


def _gen_case(name):
    sizes, lat, scale, seed, r, prior, alternatives = GEN_CASES[name]
    model = ref.random_model(sizes, lat, scale=scale, lateral_scale=2.0, seed=seed)
    return sizes, model, r, prior, alternatives


def _gen_alternatives(model, r, prior, alternatives, fn):
    """fn(model, r, prior) for the wrong variants named in `alternatives`."""
    out = []
    if "r" in alternatives:
        out.append(fn(model, 2 if r == 1 else 1, prior))
    if "prior" in alternatives:
        out.append(fn(model, r, np.array([0.9, 0.1, 0.9]) if prior is None else None))
    if "sweeps" in alternatives:
        out.append(fn((model[0], [None] * len(model[1]), model[2]), r, prior))
    return out


@requires("bm_generate")
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("name", list(GEN_CASES))
def test_generate_means_follow_algorithm_2(name, dtype):
    sizes, model, r, prior, alternatives = _gen_case(name)
    core = ref.as_core(model, dtype)
    m64 = ref.to_float64(core)
    top = None if prior is None else np.ascontiguousarray(prior, dtype=dtype)
    out = core_generate(core, GEN_N, r, top, 17, 0, True)
    assert out.shape == (GEN_N, sizes[0]) and out.dtype == dtype
    assert np.all((out > 0) & (out < 1))
    # every output row is p(v = 1 | h_1) for some binary h_1; the h_1 follow Algorithm 2
    tol = 1e-12 if dtype == np.float64 else 1e-6
    h_idx = _identify_h1(out, m64, tol)
    d = ref.generate_h1_distribution(m64, r, prior)
    wrong = _gen_alternatives(m64, r, prior, alternatives, ref.generate_h1_distribution)
    assert_tv(np.bincount(h_idx, minlength=2 ** sizes[1]) / GEN_N, d, GEN_N, wrong=wrong)
    # the mean output: k means of values in (0, 1), within Hoeffding's bound
    t = hoeffding(GEN_N, sizes[0])
    np.testing.assert_array_less(np.abs(out.mean(axis=0, dtype=np.float64)
                                        - ref.generate_expected_means(m64, r, prior)), t)


@requires("bm_generate")
@pytest.mark.parametrize("name", list(GEN_CASES))
def test_generate_samples_follow_algorithm_2(name):
    sizes, model, r, prior, alternatives = _gen_case(name)
    out = core_generate(ref.as_core(model), GEN_N, r, prior, 18, 0, False)
    assert np.all((out == 0) | (out == 1))
    p = ref.generate_visible_distribution(model, r, prior)
    wrong = _gen_alternatives(model, r, prior, ("r",), ref.generate_visible_distribution)
    assert_tv(en.empirical_distribution(out, sizes[0]), p, GEN_N, wrong=wrong)
    # seeds and epochs
    again = core_generate(ref.as_core(model), GEN_N, r, prior, 18, 0, False)
    np.testing.assert_array_equal(out, again)
    assert not np.array_equal(out, core_generate(ref.as_core(model), GEN_N, r, prior, 18, 1,
                                                 False))


@requires("bm_generate")
def test_generate_rejects_malformed_arguments():
    core = ref.as_core(ref.random_model((4, 3), (), seed=71))
    for prior, out in [(np.full(4, 0.5), np.zeros((5, 4))), (None, np.zeros((5, 3))),
                       (None, np.zeros((6, 4))), (None, np.zeros((5, 4), np.float32))]:
        with pytest.raises((ValueError, TypeError)):
            _core.bm_generate(core, 5, 1, prior, 0, 0, True, out, True)


# =============================================================================================
# 6. bm_reconstruct
# =============================================================================================
REC_N = 20_000
REC_ROWS = np.array([[1.0, 0.0, 1.0, 1.0, 0.0, 1.0], [0.0, 1.0, 1.0, 0.0, 1.0, 1.0]])
REC_MASKS = np.array([[1, 0, 1, 0, 0, 1], [0, 1, 0, 1, 1, 0]], dtype=np.uint8)
# (sizes, laterals, weight scale, lateral scale, seed): strong weights, so that the chain has
# not forgotten its start after 3 iterations (seeds picked by a search over 60 for the power
# checks below)
REC_CASES = {"rbm": ((6, 3), (), 2.0, 2.0, 39), "laterals": ((6, 3), (1,), 2.0, 3.0, 29),
             "deep": ((6, 3, 2), (1, 2), 2.0, 3.0, 52)}


@requires("bm_reconstruct")
@pytest.mark.parametrize("n_gibbs", [1, 3])
@pytest.mark.parametrize("name", list(REC_CASES))
def test_reconstruct_keeps_known_entries_and_follows_the_gibbs_chain(name, n_gibbs):
    sizes, lat, scale, lateral_scale, seed = REC_CASES[name]
    model = ref.random_model(sizes, lat, scale=scale, lateral_scale=lateral_scale, seed=seed)
    core = ref.as_core(model)
    X = np.ascontiguousarray(np.repeat(REC_ROWS, REC_N, axis=0))
    mask = np.ascontiguousarray(np.repeat(REC_MASKS, REC_N, axis=0))
    out = core_reconstruct(core, X, mask, n_gibbs, 19, 0)
    known = mask == 0
    np.testing.assert_array_equal(out[known], X[known])
    assert np.all((out[~known] > 0) & (out[~known] < 1))
    for r, (x, m) in enumerate(zip(REC_ROWS, REC_MASKS)):
        o = out[r * REC_N:(r + 1) * REC_N][:, m == 1]
        # the unknown entries are p(v = 1 | h_1) for the last h_1 of the chain
        table = ref.reconstruct_means_table(model, m)
        h_idx = match_rows(o, table, 1e-12)
        d = ref.reconstruct_h1_distribution(model, x, m, n_gibbs)
        x0 = np.where(m == 1, 0.0, x)  # the unknown entries' values zeroed at the start
        wrong = [ref.reconstruct_h1_distribution(model, x0, m, n_gibbs),
                 ref.reconstruct_h1_distribution(model, x, m, 2 if n_gibbs == 1 else 1)]
        if model[1][1] is not None:  # the sweep of h_1 left out
            wrong.append(ref.reconstruct_h1_distribution(
                (model[0], [None] * len(model[1]), model[2]), x, m, n_gibbs))
        assert_tv(np.bincount(h_idx, minlength=8) / REC_N, d, REC_N, wrong=wrong)
        # the expected output over h_1 (3 means in (0, 1): Hoeffding)
        np.testing.assert_array_less(
            np.abs(o.mean(axis=0) - ref.reconstruct_expected(model, x, m, n_gibbs)),
            hoeffding(REC_N, 3))


@requires("bm_reconstruct")
def test_reconstruct_with_an_empty_mask_copies_the_data():
    core = ref.as_core(ref.random_model((6, 3), (1,), seed=73))
    X = np.ascontiguousarray(np.tile(REC_ROWS, (5, 1)))
    out = core_reconstruct(core, X, np.zeros(X.shape, np.uint8), 2, 0, 0)
    np.testing.assert_array_equal(out, X)


@requires("bm_reconstruct")
def test_reconstruct_rejects_malformed_arguments():
    core = ref.as_core(ref.random_model((6, 3), (), seed=74))
    X = np.zeros((4, 6))
    m = np.zeros((4, 6), np.uint8)
    for bad_X, bad_m, out in [(X, m[:3], np.zeros((4, 6))),
                              (X, m, np.zeros((4, 5))),
                              (X[:, :5], m[:, :5], np.zeros((4, 5))),
                              (X.astype(np.float32), m, np.zeros((4, 6), np.float32))]:
        with pytest.raises((ValueError, TypeError)):
            _core.bm_reconstruct(core, bad_X, bad_m, 1, 0, 0, out, True)


@requires("bm_reconstruct")
def test_reconstruct_reads_a_mask_of_another_dtype_as_its_values_or_refuses_it():
    # a float64 mask must not be read as raw uint8 bytes: either it is refused, or converted
    core = ref.as_core(ref.random_model((6, 3), (), seed=75))
    X = np.ascontiguousarray(np.repeat(REC_ROWS, 50, axis=0))
    mask = np.ascontiguousarray(np.repeat(REC_MASKS, 50, axis=0))
    expected = core_reconstruct(core, X, mask, 1, 3, 0)
    try:
        got = core_reconstruct(core, X, mask.astype(np.float64), 1, 3, 0)
    except (ValueError, TypeError):
        return
    np.testing.assert_array_equal(got, expected)
