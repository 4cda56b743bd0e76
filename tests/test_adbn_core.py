"""The adversarial-DBN kernels of pydbn._core (dense networks, generator sampling, the Eq. 9
score-function gradient, training steps) against an independent NumPy reference
(tests/_adbn_reference.py) on generators small enough to enumerate.

Source: Huang, Panahi, Krim, Yu & Smith, "Deep Adversarial Belief Networks" (shared paper 000),
Sec. 2: forward sampling (Eq. 2), the objective (Eq. 5-6), the exact generator gradient (Eq. 8)
and its score-function estimate (Eq. 9), here optionally with a leave-one-out baseline.

Statistical bounds (fixed seeds, so each test is deterministic; the bounds say how unlikely a
false alarm would have been under a correct kernel):
  * gradient estimates: every component within Z = 5.5 standard deviations of the exact value,
    the standard deviation computed EXACTLY by enumeration (ref.estimator_moments, itself
    checked against brute-force enumeration of all n-tuples). Two-sided normal tail 3.8e-8
    per component; the ~550 components checked this way give a family-wise rate ~2e-5;
  * empirical variances of repeated calls: within 6 estimated standard errors of the exact
    variance (self-normalised; R >= 4000 calls);
  * sampled distributions: total variation within en.tv_bound (McDiarmid false alarm < 1e-4,
    asserted).
Every statistical test also checks its power: a plausible wrong implementation (the score of
the last layer only, mean-field propagation instead of sampling, another label's distribution)
is at least twice the bound away from the truth. Deterministic checks complement them: Eq. 9
recomputed in NumPy on the very samples adbn_sample draws, and training steps replayed in
NumPy on the same random words.
"""

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from pydbn import _core

try:  # tests/ may or may not be a package
    from . import _adbn_reference as ref
    from . import _enumerate as en
except ImportError:  # pragma: no cover - depends on how pytest imports the tests
    import _adbn_reference as ref
    import _enumerate as en

Z = 5.5  # standard deviations allowed for a gradient component (normal tail 3.8e-8)
Z_VAR = 6.0  # estimated standard errors allowed for an empirical variance

LOSS_NAMES = {ref.LOSS_GAN: "gan", ref.LOSS_WGAN: "wgan", ref.LOSS_MLE: "mle"}
ACT_NAMES = {ref.ACT_IDENTITY: "identity", ref.ACT_SIGMOID: "sigmoid", ref.ACT_RELU: "relu",
             ref.ACT_TANH: "tanh", ref.ACT_LEAKY_RELU: "leaky_relu"}

# stream purposes of pdbn_rng.h used by the training step (for its exact reproduction)
PURPOSE_DATA, PURPOSE_GENERATIVE = 8, 10
TRAIN_EPOCH_SALT = 0x5BD1E995  # adbn_train's generated rows use epoch ^ this (adbn_impl.h)


@pytest.fixture(autouse=True)
def _one_blas_thread():
    # tiny GEMMs: OpenBLAS threads only add overhead (and stall on a loaded machine)
    with threadpool_limits(1):
        yield


def test_the_binding_exports_the_adbn_functions_and_codes():
    for name in ("mlp_forward", "mlp_backward", "adbn_sample", "adbn_generator_gradient",
                 "adbn_train", "random_words"):
        assert hasattr(_core, name), name
    assert (_core.ACT_IDENTITY, _core.ACT_SIGMOID, _core.ACT_RELU, _core.ACT_TANH,
            _core.ACT_LEAKY_RELU) == ref.ACTIVATIONS
    assert (_core.LOSS_GAN, _core.LOSS_WGAN, _core.LOSS_MLE) == ref.LOSSES


# ---------------------------------------------------------------------------------------------
# models and calls into the binding
# ---------------------------------------------------------------------------------------------
# added to the discriminator's output bias: E psi well away from 0 for every loss (psi < 0 for
# 'gan' and 'mle' anyway), the regime a baseline is for
DIS_OFFSET = 1.0


def model(conditional):
    """(Ws, bs, dis) float64: unconditional sizes (2, 2, 3), 2^7 = 128 configurations;
    conditional sizes (3, 2, 3), 3 labels x 2^5 configurations. Discriminator: one hidden
    layer of 4 (leaky ReLU / tanh), linear output. Weights large enough that psi depends
    clearly on every layer (so the power checks below have something to see)."""
    if conditional:
        Ws, bs = ref.random_generator((3, 2, 3), scale=3.0, seed=11)
        dis = ref.random_network((6, 4, 1), (ref.ACT_TANH, ref.ACT_IDENTITY), scale=3.0,
                                 seed=12)
    else:
        Ws, bs = ref.random_generator((2, 2, 3), scale=3.0, seed=9)
        dis = ref.random_network((3, 4, 1), (ref.ACT_LEAKY_RELU, ref.ACT_IDENTITY), scale=3.0,
                                 seed=10)
    dis[1][-1] = dis[1][-1] + DIS_OFFSET
    return Ws, bs, dis


def gen_arrays(Ws, bs, conditional, dtype=np.float64):
    return ([np.array(w, dtype=dtype, order="C") for w in Ws],
            [np.array(b, dtype=dtype, order="C") for b in bs], bool(conditional))


def dis_arrays(dis, dtype=np.float64):
    return ([np.array(w, dtype=dtype, order="C") for w in dis[0]],
            [np.array(b, dtype=dtype, order="C") for b in dis[1]], [int(a) for a in dis[2]])


def as_float64(net):
    """float64 copies of the weights and biases of a generator or network tuple."""
    return ([np.array(a, dtype=np.float64) for a in net[0]],
            [np.array(a, dtype=np.float64) for a in net[1]])


def core_gradient(gen, dis, loss, n, baseline, labels, seed, epoch=0):
    """(flattened Eq. 9 estimate, mean psi) from adbn_generator_gradient."""
    dtype = gen[1][0].dtype
    gw = [np.full(w.shape, np.nan, dtype=dtype) for w in gen[0]]
    gb = [np.full(b.shape, np.nan, dtype=dtype) for b in gen[1]]
    obj = _core.adbn_generator_gradient(gen, dis, loss, n, baseline, labels, seed, epoch, gw, gb,
                                        False)
    return ref.flatten(gw, gb).astype(np.float64), obj


def core_sample(gen, n, labels, seed, epoch, with_probs=True):
    dtype = gen[1][0].dtype
    states = [np.full((n, len(b)), np.nan, dtype=dtype) for b in gen[1]]
    probs = np.full((n, len(gen[1][-1])), np.nan, dtype=dtype) if with_probs else None
    _core.adbn_sample(gen, n, labels, seed, epoch, states, probs, False)
    return states, probs


def sgd(lr, wd=0.0, momentum=0.0):
    return ("sgd", float(lr), float(momentum), 0.9, 0.999, 0.9, 1e-8, float(wd))


def adam(lr):
    return ("adam", float(lr), 0.0, 0.9, 0.999, 0.9, 1e-8, 0.0)


def zero_states(gen, dis):
    gp = list(gen[0]) + list(gen[1])
    dp = list(dis[0]) + list(dis[1])
    return (([np.zeros_like(a) for a in gp], [np.zeros_like(a) for a in gp]),
            ([np.zeros_like(a) for a in dp], [np.zeros_like(a) for a in dp]))


def core_train(gen, dis, X, labels, n_steps, *, loss, batch_size, n_critic=1, clip=0.1,
               baseline=True, gen_optimizer=None, dis_optimizer=None, seed=0, epoch=0,
               states=None, t=(0, 0), stats=True):
    """One adbn_train call (arrays updated in place); returns (t_gen, t_dis, states, stats)."""
    if states is None:
        states = zero_states(gen, dis)
    st = tuple(np.full(n_steps, np.nan) for _ in range(4)) if stats else None
    t_gen, t_dis = _core.adbn_train(
        gen, dis, X, labels, n_steps, states[0], states[1], t[0], t[1], st, loss=loss,
        batch_size=batch_size, n_critic=n_critic, clip=clip, baseline=baseline,
        gen_optimizer=gen_optimizer or sgd(0.1), dis_optimizer=dis_optimizer or sgd(0.1),
        seed=seed, epoch=epoch, check_signals=False)
    return t_gen, t_dis, states, st


def mixed_labels(n):
    """n labels over 3 classes in unequal proportions (1/2, 1/3, 1/6), interleaved."""
    pattern = np.array([0, 1, 0, 2, 0, 1], dtype=np.int64)
    return np.ascontiguousarray(np.resize(pattern, n))


def labels_for(conditional, n):
    return mixed_labels(n) if conditional else None


def group_moments(Ws, bs, conditional, dis, loss, labels, n, baseline):
    groups = ref.label_groups(Ws, bs, conditional, dis, loss,
                              labels if conditional else np.zeros(n))
    return groups, ref.estimator_moments(groups, baseline)


CASES = [(loss, cond) for cond in (False, True) for loss in ref.LOSSES]
CASE_IDS = [f"{LOSS_NAMES[l]}-{'cond' if c else 'uncond'}" for l, c in CASES]


# =============================================================================================
# 0. the reference itself (no binding)
# =============================================================================================
@pytest.mark.parametrize("loss,conditional", CASES, ids=CASE_IDS)
def test_reference_exact_gradient_equals_finite_differences_of_the_exact_objective(loss,
                                                                                   conditional):
    # Eq. 8 by enumeration (score function) against central differences of
    # E psi = sum_h p_theta(h) psi(f(h^L)) evaluated by enumeration without any score formula
    Ws, bs, dis = model(conditional)
    labels = labels_for(conditional, 12)
    g = ref.exact_gradient(Ws, bs, conditional, dis, loss, labels)
    fd = ref.finite_difference_gradient(Ws, bs, conditional, dis, loss, labels)
    np.testing.assert_allclose(g, fd, rtol=1e-7, atol=1e-9)
    assert np.abs(g).max() > 1e-2  # not trivially zero
    if conditional:  # b^1 of a clamped layer has no effect
        assert np.all(ref.unflatten(g, [len(b) for b in bs])[1][0] == 0)


@pytest.mark.parametrize("baseline", [False, True])
@pytest.mark.parametrize("conditional", [False, True])
def test_reference_estimator_moments_equal_brute_force_enumeration_of_n_tuples(conditional,
                                                                               baseline):
    if conditional:
        Ws, bs = ref.random_generator((2, 1, 2), seed=7)
        dis = ref.random_network((4, 3, 1), (ref.ACT_TANH, ref.ACT_IDENTITY), seed=8)
        labels = np.array([0, 1, 1])
    else:
        Ws, bs = ref.random_generator((2, 1, 2), seed=5)
        dis = ref.random_network((2, 3, 1), (ref.ACT_TANH, ref.ACT_IDENTITY), seed=6)
        labels = np.zeros(3)
    for loss in ref.LOSSES:
        groups = ref.label_groups(Ws, bs, conditional, dis, loss, labels)
        by_key = {}
        keys = np.unique(labels) if conditional else [0]
        for key, g in zip(keys, groups):
            by_key[key] = g[1:]
        per_sample = [by_key[k if conditional else 0] for k in labels]
        mean, var = ref.estimator_moments(groups, baseline)
        bmean, bvar = ref.brute_force_moments(per_sample, baseline)
        np.testing.assert_allclose(mean, bmean, rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(var, bvar, rtol=1e-9, atol=1e-14)
        # both are unbiased for Eq. 8
        np.testing.assert_allclose(
            mean, ref.exact_gradient(Ws, bs, conditional, dis, loss, labels), atol=1e-14)


def test_reference_sampler_from_uniforms_follows_the_joint_table():
    Ws, bs, _ = model(False)
    n = 20000
    rng = np.random.default_rng(11)
    U = [rng.random((n, len(b))) for b in bs]
    states, probs = ref.forward_from_uniforms(Ws, bs, False, None, U)
    _, p = ref.joint_table(Ws, bs, False)
    emp = np.bincount(ref.state_index(ref.sampled_bits(states, False)), minlength=len(p)) / n
    assert_tv(emp, p, n)
    np.testing.assert_allclose(probs[-1], ref.layer_probabilities(Ws, bs, states)[-1])


@pytest.mark.parametrize("act", ref.ACTIVATIONS, ids=lambda a: ACT_NAMES[a])
def test_reference_backprop_equals_finite_differences(act):
    net = ref.random_network((4, 5, 2), (act, ref.ACT_IDENTITY), seed=12)
    X = np.random.default_rng(13).normal(size=(6, 4))
    dout = np.random.default_rng(14).normal(size=(6, 2))
    gW, gb = ref.mlp_backward(net, X, dout)
    theta = ref.flatten(net[0], net[1])
    sizes_w = [w.shape for w in net[0]]

    def objective(t):
        Ws, bs, at = [], [], 0
        for s in sizes_w:
            Ws.append(t[at:at + s[0] * s[1]].reshape(s))
            at += s[0] * s[1]
        for s in sizes_w:
            bs.append(t[at:at + s[0]])
            at += s[0]
        return float((dout * ref.mlp_forward((Ws, bs, net[2]), X)).sum())

    fd = np.array([(objective(theta + e) - objective(theta - e)) / 2e-6
                   for e in np.eye(len(theta)) * 1e-6])
    np.testing.assert_allclose(ref.flatten(gW, gb), fd, rtol=1e-6, atol=1e-7)


# ---------------------------------------------------------------------------------------------
# statistical helpers
# ---------------------------------------------------------------------------------------------
def assert_tv(empirical, p, n, *, wrong=(), factor=4.0):
    """empirical within the TV bound of p; every wrong alternative at least twice as far."""
    assert en.tv_false_alarm_probability(p, n, factor) < 1e-4  # the bound itself is safe
    bound = en.tv_bound(p, n, factor)
    tv = en.tv_distance(empirical, p)
    assert tv < bound, (tv, bound)
    for q in wrong:
        assert en.tv_distance(q, p) > 2 * bound, (en.tv_distance(q, p), bound)


def assert_within(estimate, exact, sd, what, *, atol=1e-12):
    """Every component within Z standard deviations (plus rounding); zero-variance
    components must match to rounding."""
    bound = Z * sd + atol
    dev = np.abs(estimate - exact)
    worst = int(np.argmax(dev / bound))
    off = f"{dev[worst] / sd[worst]:.2f} sd" if sd[worst] > 0 else "a zero-variance value"
    assert np.all(dev <= bound), (
        f"{what}: component {worst} is off by {off} "
        f"(estimate {estimate[worst]:.6g}, exact {exact[worst]:.6g}, sd {sd[worst]:.3g})")
    return bound


def assert_power(wrong_mean, exact, bound, what):
    """A plausible wrong estimator's expectation misses the bound by a factor 2 somewhere."""
    ratio = np.max(np.abs(wrong_mean - exact) / bound)
    assert ratio > 2.0, f"the test cannot tell {what} apart: {ratio:.2f} bounds"


# =============================================================================================
# 1. the Eq. 9 generator gradient
# =============================================================================================
N_BIG = 200_000


@pytest.mark.parametrize("baseline", [False, True], ids=["plain", "baseline"])
@pytest.mark.parametrize("loss,conditional", CASES, ids=CASE_IDS)
def test_generator_gradient_is_unbiased_for_the_exact_gradient(loss, conditional, baseline):
    Ws, bs, dis = model(conditional)
    labels = labels_for(conditional, N_BIG)
    groups, (mean, var) = group_moments(Ws, bs, conditional, dis, loss, labels, N_BIG, baseline)
    exact = ref.exact_gradient(Ws, bs, conditional, dis, loss, labels)
    np.testing.assert_allclose(mean, exact, rtol=1e-12, atol=1e-15)  # unbiased in theory
    est, obj = core_gradient(gen_arrays(Ws, bs, conditional), dis_arrays(dis), loss, N_BIG,
                             baseline, labels, seed=2024 + loss, epoch=3)
    bound = assert_within(est, exact, np.sqrt(var), f"{LOSS_NAMES[loss]} gradient")
    # test power: psi times the score of the last layer only (a plausible bug) fails the bound
    wrong = ref.exact_gradient(Ws, bs, conditional, dis, loss, labels, last_layer_only=True)
    assert_power(wrong, exact, bound, "the last-layer-only score")
    if conditional:  # gb[0] (the clamped layer's bias) is exactly 0
        assert np.all(ref.unflatten(est, [len(b) for b in bs])[1][0] == 0)
    # the returned objective is the mean psi of the same samples (before the baseline)
    var_psi = sum(c * (float(p @ psi**2) - float(p @ psi) ** 2) for c, p, psi, _ in groups)
    e_psi = ref.expected_psi(Ws, bs, conditional, dis, loss, labels)
    assert abs(obj - e_psi) <= Z * np.sqrt(var_psi) / N_BIG + 1e-12, (obj, e_psi)


@pytest.mark.parametrize("loss,conditional,baseline",
                         [(ref.LOSS_GAN, False, True), (ref.LOSS_MLE, True, False)])
def test_generator_gradient_in_float32_is_unbiased(loss, conditional, baseline):
    n = 20_000
    Ws, bs, dis = model(conditional)
    labels = labels_for(conditional, n)
    _, (_, var) = group_moments(Ws, bs, conditional, dis, loss, labels, n, baseline)
    exact = ref.exact_gradient(Ws, bs, conditional, dis, loss, labels)
    est, _ = core_gradient(gen_arrays(Ws, bs, conditional, np.float32),
                           dis_arrays(dis, np.float32), loss, n, baseline, labels, seed=77)
    # float32 parameters are the float64 ones rounded (relative 6e-8): negligible next to the
    # sd; rounding of the float32 sums of n terms ~ sqrt(n) * 6e-8 * |term| < 1e-4
    assert_within(est, exact, np.sqrt(var), "float32 gradient", atol=1e-4)


N_SMALL, R_SMALL = 8, 4000


@pytest.mark.parametrize("loss,conditional", CASES, ids=CASE_IDS)
def test_repeated_small_estimates_have_the_exact_mean_and_variance_and_the_baseline_lowers_it(
        loss, conditional):
    """R independent calls with n = 8 samples each: their mean is the exact gradient, their
    variance the exact variance of the n-sample estimator (so the bounds above are honest),
    and the leave-one-out baseline's variance reduction is measured against its exact value.
    (A baseline that wrongly includes the sample's own psi scales the estimate by 1 - 1/n;
    the exact replay on adbn_sample's draws below catches that deterministically.)"""
    Ws, bs, dis = model(conditional)
    gen, d = gen_arrays(Ws, bs, conditional), dis_arrays(dis)
    labels = labels_for(conditional, N_SMALL)
    exact = ref.exact_gradient(Ws, bs, conditional, dis, loss, labels)
    total = {}
    for baseline in (False, True):
        _, (mean, var) = group_moments(Ws, bs, conditional, dis, loss, labels, N_SMALL,
                                       baseline)
        ests = np.array([core_gradient(gen, d, loss, N_SMALL, baseline, labels, seed=5000 + r,
                                       epoch=9)[0] for r in range(R_SMALL)])
        bound = assert_within(ests.mean(axis=0), exact, np.sqrt(var / R_SMALL),
                              f"mean of {R_SMALL} estimates (baseline={baseline})")
        wrong_groups = ref.label_groups(Ws, bs, conditional, dis, loss,
                                        labels if conditional else np.zeros(N_SMALL),
                                        last_layer_only=True)
        assert_power(ref.estimator_moments(wrong_groups, baseline)[0], exact, bound,
                     "the last-layer-only score")
        sq = ((ests - exact) ** 2).sum(axis=1)  # E sq = trace of the exact covariance
        se = sq.std(ddof=1) / np.sqrt(R_SMALL)
        assert abs(sq.mean() - var.sum()) <= Z_VAR * se, (baseline, sq.mean(), var.sum(), se)
        total[baseline] = (sq.mean(), var.sum(), se)
    (emp0, ex0, se0), (emp1, ex1, se1) = total[False], total[True]
    # the measured effect: exact ratio of total variances and its empirical estimate
    assert ex1 < 0.8 * ex0, (ex1 / ex0)  # the setting is one where the baseline should help
    assert ex1 + Z_VAR * se1 < ex0 - Z_VAR * se0  # ... by more than the statistical slack
    assert emp1 < emp0, (emp1 / emp0, ex1 / ex0)


def test_generator_gradient_is_a_function_of_seed_and_epoch():
    Ws, bs, dis = model(True)
    gen, d = gen_arrays(Ws, bs, True), dis_arrays(dis)
    labels = mixed_labels(50)
    a = core_gradient(gen, d, ref.LOSS_GAN, 50, True, labels, seed=1, epoch=2)
    b = core_gradient(gen, d, ref.LOSS_GAN, 50, True, labels, seed=1, epoch=2)
    np.testing.assert_array_equal(a[0], b[0])
    assert a[1] == b[1]
    for seed, epoch in ((2, 2), (1, 3)):
        c = core_gradient(gen, d, ref.LOSS_GAN, 50, True, labels, seed=seed, epoch=epoch)
        assert not np.array_equal(a[0], c[0])


STRUCTURES = {  # generator sizes, conditional
    "uncond-3": ((2, 2, 3), False),
    "cond-3": ((3, 2, 3), True),
    "uncond-2": ((2, 3), False),
    "cond-2": ((3, 3), True),
    "uncond-4": ((1, 2, 2, 2), False),
    "cond-5": ((2, 1, 2, 1, 2), True),
}


def structure_model(name, seed=0):
    sizes, conditional = STRUCTURES[name]
    Ws, bs = ref.random_generator(sizes, scale=2.0, seed=60 + seed)
    d_in = sizes[-1] + (sizes[0] if conditional else 0)
    dis = ref.random_network((d_in, 3, 1), (ref.ACT_TANH, ref.ACT_IDENTITY), scale=2.0,
                             seed=70 + seed)
    return Ws, bs, dis, conditional


@pytest.mark.parametrize("name", list(STRUCTURES))
def test_generator_gradient_equals_eq9_on_the_samples_adbn_sample_draws(name):
    # both kernels draw sample r of (seed, epoch) from the same stream rows (n <= 256, one
    # block), so the estimate is Eq. 9 evaluated exactly on adbn_sample's states: this pins
    # the per-layer score terms and the leave-one-out baseline deterministically (a baseline
    # including the sample's own psi, or a mis-indexed layer, is off by far more than 1e-11)
    Ws, bs, dis, conditional = structure_model(name)
    gen, d = gen_arrays(Ws, bs, conditional), dis_arrays(dis)
    n = 40
    labels = np.ascontiguousarray(np.arange(n) % bs[0].size) if conditional else None
    states, _ = core_sample(gen, n, labels, seed=8, epoch=4)
    for loss in ref.LOSSES:
        for baseline in (False, True):
            est, obj = core_gradient(gen, d, loss, n, baseline, labels, seed=8, epoch=4)
            want, want_obj = ref.estimate_from_states(Ws, bs, conditional, dis, loss, states,
                                                      baseline)
            np.testing.assert_allclose(est, want, rtol=1e-11, atol=1e-13)
            assert obj == pytest.approx(want_obj, rel=1e-12, abs=1e-13)


def _gradient_call(gen, dis, *, loss=ref.LOSS_GAN, n=4, baseline=True, labels=None, gw=None,
                   gb=None):
    gw = gw if gw is not None else [np.zeros(w.shape, dtype=w.dtype) for w in gen[0]]
    gb = gb if gb is not None else [np.zeros(b.shape, dtype=b.dtype) for b in gen[1]]
    return _core.adbn_generator_gradient(gen, dis, loss, n, baseline, labels, 0, 0, gw, gb,
                                         False)


def test_generator_gradient_rejects_malformed_arguments():
    Ws, bs, dis = model(False)
    gen, d = gen_arrays(Ws, bs, False), dis_arrays(dis)
    Wc, bc, disc = model(True)
    genc, dc = gen_arrays(Wc, bc, True), dis_arrays(disc)
    ok = np.array([0, 1, 2, 0], dtype=np.int64)
    _gradient_call(gen, d)  # the well-formed call works
    _gradient_call(genc, dc, labels=ok)
    sig = (d[0], d[1], [ref.ACT_LEAKY_RELU, ref.ACT_SIGMOID])
    wide = dis_arrays(ref.random_network((4, 4, 1), (ref.ACT_TANH, ref.ACT_IDENTITY)))
    two_out = dis_arrays(ref.random_network((3, 4, 2), (ref.ACT_TANH, ref.ACT_IDENTITY)))
    bad = {
        "baseline with one sample": lambda: _gradient_call(gen, d, n=1, baseline=True),
        "no samples": lambda: _gradient_call(gen, d, n=0, baseline=False),
        "last layer not linear": lambda: _gradient_call(gen, sig),
        "discriminator input width": lambda: _gradient_call(gen, wide),
        "discriminator output width": lambda: _gradient_call(gen, two_out),
        "unknown loss": lambda: _gradient_call(gen, d, loss=3),
        "conditional without labels": lambda: _gradient_call(genc, dc, labels=None),
        "unconditional discriminator for a conditional generator":
            lambda: _gradient_call(genc, d, labels=ok),
        "label too large": lambda: _gradient_call(genc, dc, labels=np.array([0, 1, 3, 0])),
        "negative label": lambda: _gradient_call(genc, dc, labels=np.array([0, -1, 2, 0])),
        "int32 labels": lambda: _gradient_call(genc, dc, labels=ok.astype(np.int32)),
        "too few labels": lambda: _gradient_call(genc, dc, labels=ok[:3]),
        "dtypes differ": lambda: _gradient_call(gen_arrays(Ws, bs, False, np.float32), d),
        "gradient shape": lambda: _gradient_call(
            gen, d, gw=[np.zeros(w.size + 1) for w in gen[0]]),
        "gradient dtype": lambda: _gradient_call(
            gen, d, gb=[np.zeros(b.shape, np.float32) for b in gen[1]]),
    }
    for what, call in bad.items():
        with pytest.raises(ValueError):
            call()
            pytest.fail(what)


# =============================================================================================
# 2. dense networks
# =============================================================================================
def _net(act, dtype, seed=21):
    """sizes (5, 6, 4, 3); every layer uses `act`, or 'mixed' a different one per layer."""
    acts = ((ref.ACT_TANH, ref.ACT_RELU, ref.ACT_LEAKY_RELU) if act == "mixed"
            else (act, act, act))
    net = ref.random_network((5, 6, 4, 3), acts, scale=1.5, seed=seed)
    return dis_arrays(net, dtype)


def _net_cases():
    return list(ref.ACTIVATIONS) + ["mixed", "sigmoid-identity", "single-layer", "deep-wide"]


def _net_for(case, dtype):
    if case == "sigmoid-identity":
        net = ref.random_network((5, 6, 4, 3), (ref.ACT_SIGMOID, ref.ACT_IDENTITY,
                                                ref.ACT_SIGMOID), scale=1.5, seed=22)
    elif case == "single-layer":
        net = ref.random_network((5, 3), (ref.ACT_TANH,), scale=1.5, seed=25)
    elif case == "deep-wide":  # widths above and below the input's, five layers
        net = ref.random_network((5, 12, 2, 9, 7, 3), (ref.ACT_LEAKY_RELU, ref.ACT_SIGMOID,
                                                       ref.ACT_RELU, ref.ACT_TANH,
                                                       ref.ACT_IDENTITY), scale=1.5, seed=26)
    else:
        return _net(case, dtype)
    return dis_arrays(net, dtype)


NET_IDS = lambda c: ACT_NAMES.get(c, str(c))  # noqa: E731


def _X(rows=7, dtype=np.float64, seed=23):
    return np.random.default_rng(seed).normal(size=(rows, 5)).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", _net_cases(), ids=NET_IDS)
def test_mlp_forward_equals_numpy(case, dtype):
    net = _net_for(case, dtype)
    X = _X(dtype=dtype)
    out = np.full((len(X), 3), np.nan, dtype=dtype)
    _core.mlp_forward(net, X, out, False)
    want = ref.mlp_forward(net, X)
    tol = dict(rtol=1e-12, atol=1e-13) if dtype == np.float64 else dict(rtol=3e-5, atol=3e-6)
    np.testing.assert_allclose(out, want, **tol)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", _net_cases(), ids=NET_IDS)
def test_mlp_backward_equals_numpy_backprop(case, dtype):
    net = _net_for(case, dtype)
    X = _X(dtype=dtype)
    dout = np.random.default_rng(24).normal(size=(len(X), 3)).astype(dtype)
    gw = [np.full(w.shape, np.nan, dtype=dtype) for w in net[0]]
    gb = [np.full(b.shape, np.nan, dtype=dtype) for b in net[1]]
    _core.mlp_backward(net, X, dout, gw, gb, False)
    want = ref.flatten(*ref.mlp_backward(net, X, dout))
    got = ref.flatten(gw, gb)
    scale = np.abs(want).max()
    if dtype == np.float64:
        np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-12 * scale)
    else:  # float32 forward and backward through three layers: a few hundred ulps at most
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=3e-5 * scale)
    assert scale > 0.1


@pytest.mark.parametrize("case", _net_cases(), ids=NET_IDS)
def test_mlp_backward_equals_finite_differences_of_mlp_forward(case):
    # the binding against itself, float64: d sum(dout * out) / d theta by central differences
    # of mlp_forward; the inputs keep every pre-activation > 1e-3 away from the kinks of
    # (leaky) ReLU, so a step of 1e-6 never crosses one
    net = _net_for(case, np.float64)
    X = _X()
    dout = np.random.default_rng(24).normal(size=(len(X), 3))
    _, layers = ref.mlp_forward(net, X, return_all=True)
    kinked = [z for (z, _), a in zip(layers, net[2]) if a in (ref.ACT_RELU, ref.ACT_LEAKY_RELU)]
    assert all(np.abs(z).min() > 1e-3 for z in kinked)
    gw = [np.zeros_like(w) for w in net[0]]
    gb = [np.zeros_like(b) for b in net[1]]
    _core.mlp_backward(net, X, dout, gw, gb, False)
    out = np.empty((len(X), 3))

    def objective():
        _core.mlp_forward(net, X, out, False)
        return float((dout * out).sum())

    fd = []
    for arr in list(net[0]) + list(net[1]):
        flat = arr.reshape(-1)
        for i in range(flat.size):
            keep = flat[i]
            flat[i] = keep + 1e-6
            up = objective()
            flat[i] = keep - 1e-6
            down = objective()
            flat[i] = keep
            fd.append((up - down) / 2e-6)
    np.testing.assert_allclose(ref.flatten(gw, gb), np.array(fd), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_mlp_on_many_rows_equals_numpy(dtype):
    net = _net_for("deep-wide", dtype)
    X = _X(rows=1000, dtype=dtype, seed=27)
    dout = np.random.default_rng(28).normal(size=(len(X), 3)).astype(dtype)
    out = np.empty((len(X), 3), dtype=dtype)
    _core.mlp_forward(net, X, out, False)
    gw = [np.empty_like(w) for w in net[0]]
    gb = [np.empty_like(b) for b in net[1]]
    _core.mlp_backward(net, X, dout, gw, gb, False)
    want_out = ref.mlp_forward(net, X)
    want = ref.flatten(*ref.mlp_backward(net, X, dout))
    scale = np.abs(want).max()
    if dtype == np.float64:
        np.testing.assert_allclose(out, want_out, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(ref.flatten(gw, gb), want, rtol=1e-10, atol=1e-12 * scale)
    else:  # sums over 1000 rows in float32
        np.testing.assert_allclose(out, want_out, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(ref.flatten(gw, gb), want, rtol=1e-3, atol=1e-4 * scale)


def test_mlp_rejects_malformed_arguments():
    net = _net(ref.ACT_TANH, np.float64)
    X = _X()
    out = np.zeros((len(X), 3))
    gw = [np.zeros_like(w) for w in net[0]]
    gb = [np.zeros_like(b) for b in net[1]]
    bad = {
        "activation code": lambda: _core.mlp_forward((net[0], net[1], [0, 1, 5]), X, out,
                                                     False),
        "inconsistent layers": lambda: _core.mlp_forward(
            ([net[0][0], net[0][2], net[0][1]], net[1], net[2]), X, out, False),
        "X width": lambda: _core.mlp_forward(net, X[:, :4].copy(), out, False),
        "X dtype": lambda: _core.mlp_forward(net, X.astype(np.float32), out, False),
        "out size": lambda: _core.mlp_forward(net, X, out[:-1], False),
        "dout size": lambda: _core.mlp_backward(net, X, out[:-1], gw, gb, False),
        "gw count": lambda: _core.mlp_backward(net, X, out, gw[:2], gb, False),
        "gb size": lambda: _core.mlp_backward(net, X, out, gw, [np.zeros(2)] * 3, False),
    }
    for what, call in bad.items():
        with pytest.raises(ValueError):
            call()
            pytest.fail(what)


# =============================================================================================
# 3. forward sampling of the generator
# =============================================================================================
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", ["model", "uncond-2", "uncond-4"])
def test_samples_of_every_layer_follow_the_enumerated_joint_distribution(name, dtype):
    if name == "model":
        Ws, bs, _ = model(False)
    else:
        Ws, bs, _, _ = structure_model(name)
    n = 20_000  # > 256: several blocks of rows
    gen = gen_arrays(Ws, bs, False, dtype)
    states, probs = core_sample(gen, n, None, seed=31, epoch=1)
    bits = ref.sampled_bits([s.astype(np.float64) for s in states], False)
    Wd, bd = as_float64(gen)  # the parameters actually used (float32-rounded or not)
    _, p = ref.joint_table(Wd, bd, False)
    emp = np.bincount(ref.state_index(bits), minlength=len(p)) / n
    # wrong alternative (power): mean-field propagation (for L = 2 it equals the truth)
    assert_tv(emp, p, n, wrong=[ref.mean_field_table(Wd, bd, False)] if len(bs) > 2 else [])
    # the blocks of rows use different streams
    assert not np.array_equal(np.hstack(states)[:256], np.hstack(states)[256:512])
    # probs = p(h^L = 1 | h^{L-1}) of the returned states, to rounding
    want = ref.layer_probabilities(Wd, bd, [s.astype(np.float64) for s in states])[-1]
    tol = dict(rtol=1e-14, atol=1e-15) if dtype == np.float64 else dict(rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(probs, want, **tol)


def test_conditional_samples_clamp_the_one_hot_label_and_follow_the_conditional_table():
    Ws, bs, _ = model(True)
    n = 30_000
    labels = mixed_labels(n)
    states, probs = core_sample(gen_arrays(Ws, bs, True), n, labels, seed=32, epoch=2)
    np.testing.assert_array_equal(states[0], ref.one_hot(labels, 3))
    for k in range(3):
        rows = labels == k
        sub = [s[rows] for s in states]
        _, p = ref.joint_table(Ws, bs, True, k)
        emp = np.bincount(ref.state_index(ref.sampled_bits(sub, True)),
                          minlength=len(p)) / rows.sum()
        # wrong alternatives: mean-field propagation; another label's distribution
        other = ref.joint_table(Ws, bs, True, (k + 1) % 3)[1]
        assert_tv(emp, p, int(rows.sum()), wrong=[ref.mean_field_table(Ws, bs, True, k), other])
    want = ref.layer_probabilities(Ws, bs, states)[-1]
    np.testing.assert_allclose(probs, want, rtol=1e-14, atol=1e-15)


def test_sampling_is_a_function_of_seed_and_epoch():
    Ws, bs, _ = model(False)
    gen = gen_arrays(Ws, bs, False)
    a, pa = core_sample(gen, 300, None, seed=5, epoch=6)
    b, pb = core_sample(gen, 300, None, seed=5, epoch=6)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(pa, pb)
    for seed, epoch in ((6, 6), (5, 7)):
        c, _ = core_sample(gen, 300, None, seed=seed, epoch=epoch)
        assert not np.array_equal(np.hstack(a), np.hstack(c))
    # probs may be None; the states do not depend on it
    c, _ = core_sample(gen, 300, None, seed=5, epoch=6, with_probs=False)
    for x, y in zip(a, c):
        np.testing.assert_array_equal(x, y)


def test_sampling_rejects_bad_labels_and_outputs():
    Ws, bs, _ = model(True)
    gen = gen_arrays(Ws, bs, True)
    states = [np.zeros((4, len(b))) for b in bs]
    ok = np.array([0, 1, 2, 0], dtype=np.int64)
    _core.adbn_sample(gen, 4, ok, 0, 0, states, None, False)
    bad = {
        "label too large": np.array([0, 1, 3, 0], dtype=np.int64),
        "negative label": np.array([0, -1, 2, 0], dtype=np.int64),
        "int32 labels": ok.astype(np.int32),
        "too few labels": ok[:3].copy(),
        "no labels": None,
    }
    for what, labels in bad.items():
        with pytest.raises(ValueError):
            _core.adbn_sample(gen, 4, labels, 0, 0, states, None, False)
            pytest.fail(what)
    with pytest.raises(ValueError):  # a state array of the wrong size
        _core.adbn_sample(gen, 4, ok, 0, 0, [states[0], states[1][:3], states[2]], None, False)
    with pytest.raises(ValueError):  # probs of the wrong size
        _core.adbn_sample(gen, 4, ok, 0, 0, states, np.zeros((4, 2)), False)
    with pytest.raises(ValueError):  # weights that do not match the biases
        _core.adbn_sample((gen[0][::-1], gen[1], True), 4, ok, 0, 0, states, None, False)


# =============================================================================================
# 4. training steps
# =============================================================================================
def _data(conditional, n_rows=23, seed=41):
    rng = np.random.default_rng(seed)
    X = (rng.random((n_rows, 3)) < np.array([0.2, 0.5, 0.8])).astype(np.float64)
    y = np.ascontiguousarray(rng.integers(0, 3, n_rows), dtype=np.int64) if conditional else None
    return X, y


def _uniforms(sizes, n, seed, epoch, batch):
    """The uniforms adbn_train's forward pass uses: stream (seed, GENERATIVE, layer l, epoch,
    batch), one row of words per sample (adbn_impl.h, adbn_forward)."""
    return [np.stack([ref.uniform_from_words(_core.random_words(seed, PURPOSE_GENERATIVE, l,
                                                                 epoch, batch, r, sizes[l]))
                      for r in range(n)]) for l in range(len(sizes))]


def _draw_rows(n, n_rows, seed, step, epoch, batch):
    """Data row indices: stream (seed, DATA, step, epoch, batch) row 0, (word * n_rows) >> 32."""
    w = _core.random_words(seed, PURPOSE_DATA, step, epoch, batch, 0, n).astype(np.uint64)
    return ((w * np.uint64(n_rows)) >> np.uint64(32)).astype(np.int64)


def numpy_training(Ws, bs, conditional, dis, X, y, n_steps, *, loss, b, n_critic, clip,
                   baseline, gen_opt, dis_opt, states, t, seed, epoch):
    """adbn_train in NumPy on the same random draws: per step, n_critic discriminator ascents
    of mean phi(f(real)) + mean psi(f(fake)) (Eq. 7 and the discriminator half of Eq. 9), each
    counted in t_dis, then one generator descent along the Eq. 9 estimate of d E psi / d theta,
    counted in t_gen. Weight decay on weights only; the clamped b^1 of a conditional generator
    is never stepped. Returns (Ws, bs, dis, states, t, stats)."""
    Ws, bs = [w.copy() for w in Ws], [x.copy() for x in bs]
    dW, db = [w.copy() for w in dis[0]], [x.copy() for x in dis[1]]
    (g1, g2), (d1, d2) = [[[a.astype(np.float64) for a in lst] for lst in pair]
                          for pair in states]
    t_gen, t_dis = t
    sizes = [len(x) for x in bs]
    L, DL = len(sizes), len(dW)
    n_rows = len(X)
    gepoch = epoch ^ TRAIN_EPOCH_SALT
    stats = np.zeros((4, n_steps))
    for step in range(n_steps):
        for c in range(n_critic):
            idx = _draw_rows(b, n_rows, seed, step, epoch, 2 * c + 1)
            real = X[idx]
            lab = None
            if conditional:
                real = np.hstack([ref.one_hot(y[idx], sizes[0]), real])
                lab = y[_draw_rows(b, n_rows, seed, step, epoch, 2 * c + 2)]
            U = _uniforms(sizes, b, seed, gepoch, step * 2 * n_critic + c)
            hs, _ = ref.forward_from_uniforms(Ws, bs, conditional, lab, U)
            Xd = np.vstack([real, ref.dis_rows(hs, conditional)])
            net = (dW, db, dis[2])
            a = ref.mlp_forward(net, Xd)[:, 0]
            f, phi, psi, dphi, dpsi = ref.head(loss, a)
            dout = np.concatenate([dphi[:b], dpsi[b:]])[:, None] / b
            gW, gB = ref.mlp_backward(net, Xd, dout)
            t_dis += 1
            params = dW + db
            for k, g in enumerate(gW + gB):
                params[k], d1[k], d2[k] = ref.optimizer_step(dis_opt, params[k], g, d1[k], d2[k],
                                                             t_dis, decay=k < DL)
            dW, db = params[:DL], params[DL:]
            if loss == ref.LOSS_WGAN:
                dW = [np.clip(w, -clip, clip) for w in dW]
                db = [np.clip(x, -clip, clip) for x in db]
            stats[0, step] = (phi[:b].sum() + psi[b:].sum()) / b
            stats[2, step] = f[:b].mean()
        lab = y[_draw_rows(b, n_rows, seed, step, epoch, 0)] if conditional else None
        U = _uniforms(sizes, b, seed, gepoch, step * 2 * n_critic + n_critic)
        hs, _ = ref.forward_from_uniforms(Ws, bs, conditional, lab, U)
        net = (dW, db, dis[2])
        est, gen_obj = ref.estimate_from_states(Ws, bs, conditional, net, loss, hs, baseline)
        gW, gB = ref.unflatten(-est, sizes)  # descent on E psi
        t_gen += 1
        params = Ws + bs
        for k, g in enumerate(gW + gB):
            if conditional and k == L - 1:
                continue  # b^1 of the clamped label layer
            params[k], g1[k], g2[k] = ref.optimizer_step(gen_opt, params[k], g, g1[k], g2[k],
                                                         t_gen, decay=k < L - 1)
        Ws, bs = params[:L - 1], params[L - 1:]
        f = ref.head(loss, ref.mlp_forward(net, ref.dis_rows(hs, conditional))[:, 0])[0]
        stats[1, step] = gen_obj
        stats[3, step] = f.mean()
    return Ws, bs, (dW, db, dis[2]), ((g1, g2), (d1, d2)), (t_gen, t_dis), stats


def _random_states(gen, dis, kind, seed):
    """Optimizer states as if after earlier steps: velocities and first moments of any sign,
    second moments (Adam's v, RMSprop's s in the first array) >= 0."""
    rng = np.random.default_rng(seed)
    (g1, g2), (d1, d2) = zero_states(gen, dis)
    first_positive = kind == "rmsprop"
    for lst, positive in ((g1, first_positive), (g2, True), (d1, first_positive), (d2, True)):
        for a in lst:
            v = rng.normal(0.0, 0.05, a.shape)
            a[...] = np.abs(v) * 0.1 if positive else v
    return (g1, g2), (d1, d2)


TRAIN_CASES = [  # loss, conditional, n_critic, n_steps, weight decay, baseline, optimizer, t0
    (ref.LOSS_GAN, False, 1, 1, 0.0, True, "sgd", (0, 0)),
    (ref.LOSS_WGAN, True, 1, 1, 0.0, True, "sgd", (0, 0)),
    (ref.LOSS_MLE, False, 2, 2, 0.1, True, "sgd", (0, 0)),
    (ref.LOSS_GAN, True, 2, 3, 0.1, False, "sgd", (0, 0)),
    (ref.LOSS_WGAN, False, 3, 2, 0.0, False, "sgd", (0, 0)),
    (ref.LOSS_GAN, True, 2, 2, 0.05, True, "momentum", (4, 9)),
    (ref.LOSS_MLE, True, 2, 2, 0.05, True, "adam", (3, 7)),
    (ref.LOSS_WGAN, False, 1, 3, 0.0, True, "rmsprop", (5, 5)),
]


def _optimizer(kind, lr, wd):
    return {"sgd": ("sgd", lr, 0.0, 0.9, 0.999, 0.9, 1e-8, wd),
            "momentum": ("sgd", lr, 0.7, 0.9, 0.999, 0.9, 1e-8, wd),
            "adam": ("adam", lr * 0.1, 0.0, 0.8, 0.95, 0.9, 1e-8, wd),
            "rmsprop": ("rmsprop", lr * 0.1, 0.0, 0.9, 0.999, 0.8, 1e-6, wd)}[kind]


@pytest.mark.parametrize("loss,conditional,n_critic,n_steps,wd,baseline,opt,t0", TRAIN_CASES,
                         ids=[f"{LOSS_NAMES[c[0]]}-{'cond' if c[1] else 'uncond'}-critic{c[2]}-"
                              f"steps{c[3]}-wd{c[4]}-{'baseline' if c[5] else 'plain'}-{c[6]}"
                              for c in TRAIN_CASES])
def test_training_steps_equal_a_numpy_replay_on_the_same_random_draws(
        loss, conditional, n_critic, n_steps, wd, baseline, opt, t0):
    """Exact check of the update rules: the draws are regenerated through _core.random_words
    at the stream addresses adbn_impl.h uses (data rows (DATA, step, epoch, 2c+1), fake labels
    (.., 2c+2), generator labels (.., 0); generated rows (GENERATIVE, layer, epoch ^ salt,
    2 n_critic step + c)), everything else is NumPy. A failure here with the statistical
    one-step test below passing means the stream layout changed, not the mathematics."""
    Ws, bs, dis = model(conditional)
    X, y = _data(conditional)
    b, lr_g, lr_d, clip = 6, 0.3, 0.2, 0.5
    gen, d = gen_arrays(Ws, bs, conditional), dis_arrays(dis)
    states = zero_states(gen, d) if t0 == (0, 0) else _random_states(gen, d, opt, sum(t0))
    start = [[[a.copy() for a in lst] for lst in pair] for pair in states]
    gen_opt, dis_opt = _optimizer(opt, lr_g, wd), _optimizer(opt, lr_d, wd)
    t_gen, t_dis, states, stats = core_train(
        gen, d, X, y, n_steps, loss=loss, batch_size=b, n_critic=n_critic, clip=clip,
        baseline=baseline, gen_optimizer=gen_opt, dis_optimizer=dis_opt, seed=17, epoch=5,
        states=states, t=t0)
    Wn, bn, dn, sn, tn, statn = numpy_training(
        Ws, bs, conditional, dis, X, y, n_steps, loss=loss, b=b, n_critic=n_critic, clip=clip,
        baseline=baseline, gen_opt=gen_opt, dis_opt=dis_opt, states=start, t=t0, seed=17,
        epoch=5)
    assert (t_gen, t_dis) == tn == (t0[0] + n_steps, t0[1] + n_steps * n_critic)
    tol = dict(rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ref.flatten(d[0], d[1]), ref.flatten(dn[0], dn[1]), **tol)
    np.testing.assert_allclose(ref.flatten(gen[0], gen[1]), ref.flatten(Wn, bn), **tol)
    for got_pair, want_pair in zip(states, sn):
        for got, want in zip(got_pair, want_pair):
            np.testing.assert_allclose(np.concatenate([a.ravel() for a in got]),
                                       np.concatenate([a.ravel() for a in want]), **tol)
    np.testing.assert_allclose(np.array(stats), statn, **tol)
    # the generator did move; a clamped first layer's bias did not
    assert np.abs(ref.flatten(gen[0], gen[1]) - ref.flatten(Ws, bs)).max() > 1e-4
    if conditional:
        np.testing.assert_array_equal(gen[1][0], bs[0])


@pytest.mark.parametrize("loss,conditional,baseline",
                         [(ref.LOSS_GAN, False, True), (ref.LOSS_MLE, True, False),
                          (ref.LOSS_WGAN, True, True)])
def test_one_training_step_moves_the_generator_by_minus_lr_times_an_unbiased_eq9_estimate(
        loss, conditional, baseline):
    """Implementation-agnostic version of the exact replay: with a discriminator learning rate
    of 1e-12 the discriminator stays put, so one step changes the generator by -lr times an
    Eq. 9 estimate from b fresh samples; averaged over R seeds it is -lr times the exact
    gradient, within Z sd of the exact variance of a b-sample estimate. Generated rows take
    the labels of random data rows: b iid draws from the label mixture."""
    Ws, bs, dis = model(conditional)
    X, y = _data(conditional)
    b, lr, R = 8, 0.5, 3000
    freq = np.bincount(y, minlength=3) / len(y) if conditional else None

    def groups(last_layer_only=False):
        if not conditional:
            return ref.label_groups(Ws, bs, False, dis, loss, np.zeros(b),
                                    last_layer_only=last_layer_only)
        tables = [ref.label_groups(Ws, bs, True, dis, loss, np.array([k]),
                                   last_layer_only=last_layer_only)[0] for k in range(3)]
        return [(b, np.concatenate([f * t[1] for f, t in zip(freq, tables)]),
                 np.concatenate([t[2] for t in tables]), np.vstack([t[3] for t in tables]))]

    mean, var = ref.estimator_moments(groups(), baseline)
    wrong, _ = ref.estimator_moments(groups(last_layer_only=True), baseline)
    theta0 = ref.flatten(Ws, bs)
    dis0 = ref.flatten(dis[0], dis[1])
    steps = np.empty((R, len(theta0)))
    dis_moves = 0.0
    for r in range(R):
        gen, d = gen_arrays(Ws, bs, conditional), dis_arrays(dis)
        core_train(gen, d, X, y, 1, loss=loss, batch_size=b, clip=10.0, baseline=baseline,
                   gen_optimizer=sgd(lr), dis_optimizer=sgd(1e-12), seed=100 + r, epoch=1,
                   stats=False)
        steps[r] = (ref.flatten(gen[0], gen[1]) - theta0) / -lr
        dis_moves = max(dis_moves, np.abs(ref.flatten(d[0], d[1]) - dis0).max())
    assert dis_moves < 1e-10  # the discriminator barely moved (gradients are O(1))
    bound = assert_within(steps.mean(axis=0), mean, np.sqrt(var / R), "mean one-step change",
                          atol=1e-9)
    assert_power(wrong, mean, bound, "the last-layer-only score")
    assert_power(-mean, mean, bound, "ascent instead of descent")


def test_wgan_training_clips_every_discriminator_weight_and_bias():
    Ws, bs, dis = model(False)
    X, _ = _data(False)
    clip = 0.05
    d = dis_arrays(dis)
    assert max(np.abs(a).max() for a in d[0] + d[1]) > 10 * clip  # starts far outside
    gen = gen_arrays(Ws, bs, False)
    core_train(gen, d, X, None, 20, loss=ref.LOSS_WGAN, batch_size=8, n_critic=2, clip=clip,
               dis_optimizer=sgd(0.5), seed=3)
    params = np.concatenate([a.ravel() for a in d[0] + d[1]])
    assert np.all(np.abs(params) <= clip)
    assert np.any(np.abs(params) == clip)  # the clip was active
    assert np.all(np.isfinite(ref.flatten(gen[0], gen[1])))


@pytest.mark.parametrize("loss", ref.LOSSES, ids=lambda l: LOSS_NAMES[l])
def test_training_reports_finite_statistics_and_gan_scores_are_probabilities(loss):
    for conditional in (False, True):
        Ws, bs, dis = model(conditional)
        X, y = _data(conditional)
        gen, d = gen_arrays(Ws, bs, conditional), dis_arrays(dis)
        _, _, _, stats = core_train(gen, d, X, y, 30, loss=loss, batch_size=8, n_critic=2,
                                    clip=0.5, gen_optimizer=adam(0.01),
                                    dis_optimizer=adam(0.01), seed=4)
        dis_obj, gen_obj, real_score, fake_score = stats
        for s in stats:
            assert np.all(np.isfinite(s))
        if loss == ref.LOSS_GAN:
            assert np.all((real_score > 0) & (real_score < 1))
            assert np.all((fake_score > 0) & (fake_score < 1))
            assert np.all(dis_obj < 0) and np.all(gen_obj < 0)  # sums of logs of probabilities
            # psi = log(1 - f) is concave: the mean psi is at most log(1 - mean f)
            assert np.all(gen_obj <= np.log1p(-fake_score) + 1e-12)
        if loss == ref.LOSS_MLE:
            assert np.all(real_score > 0) and np.all(fake_score > 0)
            np.testing.assert_allclose(gen_obj, -fake_score, rtol=1e-12)  # psi = -f
        if loss == ref.LOSS_WGAN:
            np.testing.assert_allclose(gen_obj, -fake_score, rtol=1e-12)  # psi = -f


def test_optimizer_states_and_step_counters_advance():
    Ws, bs, dis = model(True)
    X, y = _data(True)
    gen, d = gen_arrays(Ws, bs, True), dis_arrays(dis)
    states = zero_states(gen, d)
    t_gen, t_dis, states, _ = core_train(gen, d, X, y, 5, loss=ref.LOSS_GAN, batch_size=8,
                                         n_critic=3, gen_optimizer=adam(0.01),
                                         dis_optimizer=adam(0.01), seed=2, states=states,
                                         t=(10, 20))
    assert (t_gen, t_dis) == (15, 35)
    # zero steps: nothing moves, the counters stay
    frozen = [a.copy() for a in gen[0] + gen[1] + d[0] + d[1]]
    assert core_train(gen, d, X, y, 0, loss=ref.LOSS_GAN, batch_size=8, states=states,
                      t=(15, 35))[:2] == (15, 35)
    for a, b in zip(gen[0] + gen[1] + d[0] + d[1], frozen):
        np.testing.assert_array_equal(a, b)
    (g1, g2), (d1, d2) = states
    L = len(bs)
    for k, (m, v) in enumerate(zip(g1, g2)):
        if k == L - 1:  # b^1 of the clamped label layer: never stepped
            assert not m.any() and not v.any()
            np.testing.assert_array_equal(gen[1][0], bs[0])
        else:
            assert np.abs(m).max() > 0 and v.max() > 0 and v.min() >= 0, k
    for m, v in zip(d1, d2):
        assert np.abs(m).max() > 0 and v.max() > 0 and v.min() >= 0
    # SGD with momentum keeps its velocity in the first state array only
    gen, d = gen_arrays(Ws, bs, True), dis_arrays(dis)
    _, _, (gs, ds), _ = core_train(gen, d, X, y, 3, loss=ref.LOSS_GAN, batch_size=8,
                                   gen_optimizer=sgd(0.1, momentum=0.5),
                                   dis_optimizer=sgd(0.1, momentum=0.5), seed=2)
    assert all(np.abs(v).max() > 0 for v in gs[0][:L - 1] + ds[0])
    assert not any(v.any() for v in gs[1] + ds[1])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_divergence_raises_and_restores_every_array(dtype):
    Ws, bs, dis = model(False)
    X, _ = _data(False)
    X = X.astype(dtype)
    gen, d = gen_arrays(Ws, bs, False, dtype), dis_arrays(dis, dtype)
    # a few ordinary steps first, so the optimizer states are not trivially zero
    t_gen, t_dis, states, _ = core_train(gen, d, X, None, 3, loss=ref.LOSS_MLE, batch_size=8,
                                         gen_optimizer=adam(0.01), dis_optimizer=adam(0.01),
                                         seed=1)
    arrays = list(gen[0]) + list(gen[1]) + list(d[0]) + list(d[1]) + \
        [a for pair in states for lst in pair for a in lst]
    before = [a.copy() for a in arrays]
    with pytest.raises(FloatingPointError):
        core_train(gen, d, X, None, 40, loss=ref.LOSS_MLE, batch_size=8,
                   gen_optimizer=sgd(1e6), dis_optimizer=sgd(1e6), seed=2, states=states,
                   t=(t_gen, t_dis))
    for a, b in zip(arrays, before):
        np.testing.assert_array_equal(a, b)  # bitwise (NaN-free) restore
    # ... and the restored model trains normally afterwards
    t = core_train(gen, d, X, None, 2, loss=ref.LOSS_MLE, batch_size=8,
                   gen_optimizer=adam(0.01), dis_optimizer=adam(0.01), seed=3, states=states,
                   t=(t_gen, t_dis))[:2]
    assert t == (t_gen + 2, t_dis + 2)


def test_divergence_reports_no_statistics():
    # pdbn_adbn.h: "On interrupt or divergence every array is restored and nothing is
    # reported" -- the caller's stats arrays must not be left with the diverging steps' values
    Ws, bs, dis = model(False)
    X, _ = _data(False)
    gen, d = gen_arrays(Ws, bs, False), dis_arrays(dis)
    states = zero_states(gen, d)
    stats = tuple(np.full(40, -123.0) for _ in range(4))
    with pytest.raises(FloatingPointError):
        _core.adbn_train(gen, d, X, None, 40, states[0], states[1], 0, 0, stats,
                         loss=ref.LOSS_MLE, batch_size=8, n_critic=1, clip=0.1, baseline=True,
                         gen_optimizer=sgd(1e6), dis_optimizer=sgd(1e6), seed=2, epoch=0,
                         check_signals=False)
    for s in stats:
        np.testing.assert_array_equal(s, -123.0)


@pytest.mark.parametrize("conditional", [False, True])
def test_training_reads_sparse_and_strided_data_like_dense_rows(conditional):
    Ws, bs, dis = model(conditional)
    X, y = _data(conditional)
    wide = np.zeros((2 * len(X), 7))
    wide[::2, 1::2] = X
    nz = np.nonzero(X)
    variants = {  # the same values in other layouts
        "fortran": np.asfortranarray(X),
        "strided": wide[::2, 1::2],  # row stride 14, column stride 2 elements
        "reversed columns": np.ascontiguousarray(X[:, ::-1])[:, ::-1],  # negative stride
    }
    for index in (np.int32, np.int64):
        indptr = np.concatenate([[0], np.cumsum(np.count_nonzero(X, axis=1))]).astype(index)
        variants[f"csr-{np.dtype(index).name}"] = (
            "csr", np.ascontiguousarray(X[nz]), nz[1].astype(index), indptr, X.shape[0],
            X.shape[1])
    outs = {}
    for name, data in [("dense", X)] + list(variants.items()):
        gen, d = gen_arrays(Ws, bs, conditional), dis_arrays(dis)
        core_train(gen, d, data, y, 3, loss=ref.LOSS_GAN, batch_size=8, n_critic=2, seed=6)
        outs[name] = np.concatenate([ref.flatten(gen[0], gen[1]), ref.flatten(d[0], d[1])])
    for name in ("fortran", "strided", "reversed columns"):
        np.testing.assert_array_equal(variants[name], X)
    assert not variants["strided"].flags.c_contiguous
    for name, out in outs.items():
        np.testing.assert_array_equal(out, outs["dense"], err_msg=name)


def test_training_rejects_malformed_arguments():
    Wc, bc, disc = model(True)
    X, y = _data(True)
    Ws, bs, dis = model(False)

    def call(*, gen=None, d=None, X_=X, y_=y, **kw):
        gen = gen if gen is not None else gen_arrays(Wc, bc, True)
        d = d if d is not None else dis_arrays(disc)
        args = dict(loss=ref.LOSS_GAN, batch_size=4)
        args.update(kw)
        return core_train(gen, d, X_, y_, 2, **args)

    call()  # the well-formed call works
    gen0, d0 = gen_arrays(Wc, bc, True), dis_arrays(disc)
    frozen = [a.copy() for a in gen0[0] + gen0[1] + d0[0] + d0[1]]
    sig = dis_arrays(disc)
    sig = (sig[0], sig[1], [ref.ACT_TANH, ref.ACT_SIGMOID])
    ro = gen_arrays(Wc, bc, True)
    ro[0][0].flags.writeable = False
    good_states = zero_states(gen0, d0)
    short_states = ((good_states[0][0][:-1], good_states[0][1]), good_states[1])
    bad_shape = ((good_states[0][0][:-1] + [np.zeros(7)], good_states[0][1]), good_states[1])
    bad = {
        "X dtype": lambda: call(X_=X.astype(np.float32)),
        "X width": lambda: call(X_=X[:, :2].copy()),
        "labels dtype": lambda: call(y_=y.astype(np.int32)),
        "labels length": lambda: call(y_=y[:-1].copy()),
        "label out of range": lambda: call(y_=np.where(y == 2, 3, y)),
        "negative label": lambda: call(y_=np.where(y == 2, -1, y)),
        "no labels for a conditional generator": lambda: call(y_=None),
        "batch_size 1": lambda: call(batch_size=1),
        "n_critic 0": lambda: call(n_critic=0),
        "last discriminator layer not linear": lambda: call(d=sig),
        "discriminator input width": lambda: call(d=dis_arrays(dis)),
        "unknown loss": lambda: call(loss=5),
        "wgan without a positive clip": lambda: call(loss=ref.LOSS_WGAN, clip=0.0),
        "state list too short": lambda: call(gen=gen0, d=d0, states=short_states),
        "state array size": lambda: call(gen=gen0, d=d0, states=bad_shape),
        "optimizer kind": lambda: call(gen_optimizer=("lbfgs", 0.1, 0, 0.9, 0.999, 0.9, 1e-8,
                                                      0)),
        "zero learning rate": lambda: call(dis_optimizer=sgd(0.0)),
        "read-only parameters": lambda: call(gen=ro),
        "dtypes differ": lambda: call(gen=gen_arrays(Wc, bc, True, np.float32)),
        "unconditional data for a generator of 3 features": lambda: call(
            gen=gen_arrays(Ws, bs, False), d=dis_arrays(dis), X_=np.zeros((5, 4)), y_=None),
    }
    for what, bad_call in bad.items():
        with pytest.raises(ValueError):
            bad_call()
            pytest.fail(what)
    for a, b in zip(gen0[0] + gen0[1] + d0[0] + d0[1], frozen):
        np.testing.assert_array_equal(a, b)  # rejected calls wrote nothing
