"""pydbn.DBM against exact, independent computations on models small enough to enumerate.

Every reference value comes from tests/_enumerate_dbm.py (or is written out below) in plain
NumPy from the energy of survey text 004, Sec. 4 (Eq. 25-28):

    E(v, h_1, ..., h_L) = - sum_k b_k . h_k - sum_k h_{k+1}' W_k h_k,
    W_k = dbm.components_[k] (n_{k+1} x n_k),  b_k = dbm.intercepts_[k],

and from the mean-field / variational stochastic maximum likelihood procedure of lecture notes
002, Algorithm 20.1 (its negative statistic pairs the chains' states, V~' H~). Nothing is copied
from the implementation's output. Statistical tests use fixed seeds and state how their
tolerance follows from the sample size.

Parameters are set by fitting a tiny DBM for zero epochs (pretrain=False, which only creates the
fitted arrays) and overwriting its arrays in place with random values.
"""

import numpy as np
import pytest
from scipy.special import expit, logit
from threadpoolctl import threadpool_limits

from pydbn import DBM, _core

try:  # tests/ may or may not be a package
    from . import _enumerate as en
    from . import _enumerate_dbm as ref
except ImportError:  # pragma: no cover - depends on how pytest imports the tests
    import _enumerate as en
    import _enumerate_dbm as ref


@pytest.fixture(autouse=True)
def _one_blas_thread():
    # tiny GEMMs: OpenBLAS threads only add overhead (and stall on a loaded machine)
    with threadpool_limits(1):
        yield


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
def set_dbm(dbm, Ws, bs):
    """Overwrite the parameters of a fitted DBM in place (the core borrows the arrays)."""
    assert len(dbm.components_) == len(Ws) and len(dbm.intercepts_) == len(bs)
    for target, value in list(zip(dbm.components_, Ws)) + list(zip(dbm.intercepts_, bs)):
        assert target.shape == np.shape(value), (target.shape, np.shape(value))
        target[...] = value
    return dbm


def fitted_dbm(Ws, bs, *, dtype=np.float64, n_rows=40, seed=0, **params):
    """A DBM with the layer sizes of (Ws, bs), 'fitted' for zero epochs on random binary data
    (which sets visible_mean_, the AIS base rates), then given the parameters (Ws, bs)."""
    sizes = [len(b) for b in bs]
    X = (np.random.default_rng(seed).random((n_rows, sizes[0])) < 0.5).astype(dtype)
    params.setdefault("random_state", 0)
    params.setdefault("n_chains", 10)
    dbm = DBM(hidden_layer_sizes=tuple(sizes[1:]), n_iter=0, pretrain=False, **params).fit(X)
    assert dbm.components_[0].dtype == dtype
    return set_dbm(dbm, Ws, bs)


def params_of(dbm):
    return ([np.array(w, dtype=np.float64) for w in dbm.components_],
            [np.array(b, dtype=np.float64) for b in dbm.intercepts_])


# Layer sizes of the exact tests, with the blocks the core enumerates (it picks the block with
# fewer units; for log Z the even block includes v, for log p(v) v is clamped and not counted):
#   sizes          log Z: even / odd units  -> enumerates   log p(v): even / odd hidden -> enum.
#   (5, 4, 3)           8 / 4               odd                 3 / 4            even
#   (2, 5, 2)           4 / 5               even                2 / 5            even
#   (4, 2, 5)           9 / 2               odd                 5 / 2            odd (v next to
#                                                                                   enumerated h_1)
#   (3, 2, 3, 2)        6 / 4               odd                 3 / 4            even
#   (3, 2, 5, 2)        8 / 4               odd                 5 / 4            odd
#   (3, 4, 2, 3)        5 / 7               even                2 / 7            even
SIZES = [(5, 4, 3), (2, 5, 2), (4, 2, 5), (3, 2, 3, 2), (3, 2, 5, 2), (3, 4, 2, 3)]


def _blocks(sizes, clamped):
    even = sum(sizes[k] for k in range(0, len(sizes), 2)) - (sizes[0] if clamped else 0)
    odd = sum(sizes[k] for k in range(1, len(sizes), 2))
    return even, odd


def test_the_sizes_cover_both_enumeration_paths():
    # the table above, recomputed: each block is enumerated by some case, for log Z and log p(v)
    for clamped in (False, True):
        parities = {int(o < e) for e, o in (_blocks(s, clamped) for s in SIZES)}
        assert parities == {0, 1}
    assert {len(s) - 1 for s in SIZES} == {2, 3}


# ---------------------------------------------------------------------------------------------
# 1. exact log partition function
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("sizes", SIZES, ids=str)
@pytest.mark.parametrize("scale", [1.0, 8.0])
def test_log_partition_exact_equals_enumeration_over_all_joint_states(sizes, scale):
    # scale 8: energies of tens to hundreds of nats, so the sum needs log-sum-exp
    Ws, bs = ref.random_dbm(sizes, scale=scale, seed=sum(sizes))
    dbm = fitted_dbm(Ws, bs)
    expected = ref.log_z(Ws, bs)  # every (v, h_1, ..., h_L) summed, no marginalisation
    got = dbm.log_partition("exact")
    assert isinstance(got, float)
    assert got == pytest.approx(expected, rel=1e-12, abs=1e-10)
    lz, std = dbm.log_partition("exact", return_std=True)
    assert lz == got and std == 0.0
    # test power: dropping any one layer's bias changes log Z
    for k in range(len(bs)):
        bs2 = [b.copy() for b in bs]
        bs2[k][:] = 0.0
        assert abs(ref.log_z(Ws, bs2) - expected) > 1e-3


def test_log_partition_exact_float32_model_is_close_to_enumeration():
    Ws, bs = ref.random_dbm((5, 4, 3), scale=1.5, seed=2)
    dbm = fitted_dbm(Ws, bs, dtype=np.float32)
    W32, b32 = params_of(dbm)  # the float32-rounded parameters, as float64
    expected = ref.log_z(W32, b32)
    # float32 energies of ~20 nats carry rounding ~1e-5 each; log-sum-exp keeps that size
    assert dbm.log_partition("exact") == pytest.approx(expected, abs=2e-4)


def test_log_partition_exact_refuses_more_states_than_max_bits():
    sizes = (5, 4, 3)  # the odd block (4 units) is the smaller one
    Ws, bs = ref.random_dbm(sizes, seed=3)
    dbm = fitted_dbm(Ws, bs)
    assert dbm.log_partition("exact", max_bits=4) == pytest.approx(ref.log_z(Ws, bs), abs=1e-10)
    with pytest.raises(ValueError):
        dbm.log_partition("exact", max_bits=3)
    V = en.binary_states(5)
    # log p(v): the even hidden block (h_2, 3 units) is the smaller one
    lz = ref.log_z(Ws, bs)  # given: log Z itself would enumerate 4 units
    np.testing.assert_allclose(dbm.log_likelihood(V, "exact", max_bits=3, log_z=lz),
                               ref.log_p_v(V, Ws, bs), rtol=0, atol=1e-10)
    with pytest.raises(ValueError):
        dbm.log_likelihood(V, "exact", max_bits=2, log_z=lz)


# ---------------------------------------------------------------------------------------------
# 2. exact log-likelihood
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("sizes", SIZES, ids=str)
def test_exact_log_likelihood_equals_enumerated_marginal_and_normalises(sizes):
    Ws, bs = ref.random_dbm(sizes, scale=1.5, seed=10 + sum(sizes))
    dbm = fitted_dbm(Ws, bs)
    V = en.binary_states(sizes[0])
    expected = ref.log_p_v(V, Ws, bs)  # every hidden configuration summed, minus log Z
    got = dbm.log_likelihood(V, method="exact")
    assert got.shape == (len(V),) and got.dtype == np.float64
    # float64 sums of <= 2^12 terms of size O(10): rounding error ~1e-13
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)
    # a distribution over the 2^n_0 binary vectors
    assert np.exp(got).sum() == pytest.approx(1.0, abs=1e-10)
    # p(v) is the joint summed over the hidden layers
    np.testing.assert_allclose(np.exp(got), ref.p_visible(Ws, bs), rtol=1e-9, atol=0)
    # a given log Z is used as it is
    lz = ref.log_z(Ws, bs)
    np.testing.assert_allclose(dbm.log_likelihood(V, "exact", log_z=lz + 1.0), expected - 1.0,
                               rtol=0, atol=1e-9)
    # test power: the distribution is far from uniform
    assert np.ptp(expected) > 1.0


# ---------------------------------------------------------------------------------------------
# 3. AIS log partition function
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("parity", ["even", "odd", "both"])
def test_ais_log_partition_is_within_0_05_nats_of_exact_and_its_std_error_is_calibrated(parity):
    Ws, bs = ref.random_dbm((5, 4, 3), scale=1.0, seed=4)
    dbm = fitted_dbm(Ws, bs)
    exact = ref.log_z(Ws, bs)
    runs = [dbm.log_partition("ais", n_chains=100, n_betas=3000, random_state=s, return_std=True,
                              parity=parity)
            for s in range(6)]
    est = np.array([r[0] for r in runs])
    std = np.array([r[1] for r in runs])
    # the base model has data-informed rates on every layer; dropping a layer's share of
    # log Z_0 (e.g. the summed-out layers') would be off by nats, a wrong sign of the
    # importance weights by far more
    assert np.all(np.abs(est - exact) < 0.05), est - exact
    assert np.all((std > 0) & (std < 0.05))
    # each estimate within 4 of its own reported standard errors (plus 0.002 nats for the
    # downward bias of log-mean-exp, ~var / 2)
    assert np.all(np.abs(est - exact) < 4 * std + 0.002), ((est - exact) / std)
    # the spread over seeds agrees with the reported errors: 6 runs give the sample std within
    # a factor ~3 of the truth with probability > 0.999 (chi^2 with 5 dof)
    ratio = est.std(ddof=1) / np.sqrt(np.mean(std**2))
    assert 1 / 3.5 < ratio < 3.5, ratio
    # distinct seeds give distinct runs
    assert len(np.unique(est)) == len(est)


@pytest.mark.parametrize("parity", ["even", "odd", "both"])
def test_ais_log_partition_of_a_three_layer_dbm_is_within_0_05_nats(parity):
    Ws, bs = ref.random_dbm((3, 4, 2, 3), scale=1.0, seed=5)
    dbm = fitted_dbm(Ws, bs)
    log_z, std = dbm.log_partition("ais", n_chains=100, n_betas=3000, random_state=0,
                                   return_std=True, parity=parity)
    exact = ref.log_z(Ws, bs)
    assert abs(log_z - exact) < 0.05
    assert abs(log_z - exact) < 4 * std + 0.002


def test_ais_base_model_and_parity_errors():
    Ws, bs = ref.random_dbm((5, 4, 3), scale=1.0, seed=4)
    dbm = fitted_dbm(Ws, bs)
    with pytest.raises(ValueError, match="parity must be"):
        dbm.log_partition("ais", parity="all")
    # the base logits: v from the smoothed marginals, each hidden layer from its mean-field
    # posterior at v = those marginals
    base = dbm._ais_base()
    n = max(dbm.n_samples_seen_, 1)
    p = np.clip((dbm.visible_mean_ * n + 0.5) / (n + 1.0), 1e-7, 1 - 1e-7)
    mu = dbm.mean_field(p[None, :])
    expected = np.concatenate([np.log(p / (1 - p))] + [np.log(m[0] / (1 - m[0])) for m in mu])
    np.testing.assert_allclose(base, expected, rtol=1e-9, atol=1e-9)
    assert base.shape == (5 + 4 + 3,)


# ---------------------------------------------------------------------------------------------
# 4. mean field and the variational bound
# ---------------------------------------------------------------------------------------------
MF_TOL = 1e-10


@pytest.mark.parametrize("sizes", [(5, 4, 3), (3, 2, 3, 2), (3, 4, 2, 3)], ids=str)
def test_mean_field_returns_a_fixed_point_of_the_mean_field_equations(sizes):
    Ws, bs = ref.random_dbm(sizes, scale=1.0, seed=20 + sum(sizes))
    dbm = fitted_dbm(Ws, bs, n_mean_field=10_000, mean_field_tol=MF_TOL)
    # every binary row, then fractional rows: 1100 rows in all, more than one 512-row block
    rng = np.random.default_rng(1)
    V = np.vstack([en.binary_states(sizes[0]), rng.random((1100 - 2 ** sizes[0], sizes[0]))])
    mu = dbm.mean_field(V)
    assert len(mu) == len(sizes) - 1
    for k, m in enumerate(mu, start=1):
        assert m.shape == (len(V), sizes[k]) and m.dtype == np.float64
        # mu_k = sigmoid(b_k + mu_{k-1} W_{k-1}' + mu_{k+1} W_k): after the last sweep layer k
        # saw its upper neighbour before that one moved by < tol, so the residual is at most
        # tol * max_i ||column i of W_k||_1 / 4 (sigmoid' <= 1/4), plus rounding; the top
        # layer, updated last, has no neighbour that moved after it
        resid = np.abs(m - expit(ref.mf_inputs(k, V, mu, Ws, bs))).max()
        bound = MF_TOL * (np.abs(Ws[k]).sum(axis=0).max() / 4 if k < len(Ws) else 0) + 1e-14
        assert resid <= bound, (k, resid, bound)
    # the same fixed point as an independent iteration run to 1e-14 from the same start
    mine, _ = ref.mean_field(V, Ws, bs, tol=1e-14)
    for a, b in zip(mu, mine):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-8)
    # test power: the posterior depends on the layers above (top-down feedback), so the plain
    # bottom-up pass is not a fixed point
    up, _ = ref.mean_field(V, Ws, bs, n_iter=0, doubled_start=False)
    assert max(np.abs(a - b).max() for a, b in zip(mu, up)) > 1e-2


@pytest.mark.parametrize("sizes", [(5, 4, 3), (3, 2, 3, 2)], ids=str)
def test_mean_field_starts_from_a_bottom_up_pass_with_doubled_inputs(sizes):
    # one sweep only: the result depends on the documented start (every layer below the top
    # gets twice its bottom-up input), then one sweep over layers 1..L in order
    Ws, bs = ref.random_dbm(sizes, scale=1.0, seed=30 + sum(sizes))
    dbm = fitted_dbm(Ws, bs, n_mean_field=1, mean_field_tol=0.0)
    V = en.binary_states(sizes[0])
    mu = dbm.mean_field(V)
    expected, sweeps = ref.mean_field(V, Ws, bs, n_iter=1, tol=0.0)
    assert sweeps == 1
    for a, b in zip(mu, expected):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-13)
    # test power: an undoubled start gives other values after one sweep
    plain, _ = ref.mean_field(V, Ws, bs, n_iter=1, tol=0.0, doubled_start=False)
    assert max(np.abs(a - b).max() for a, b in zip(mu, plain)) > 1e-3


@pytest.mark.parametrize("sizes", [(5, 4, 3), (4, 2, 5), (3, 2, 3, 2)], ids=str)
def test_mean_field_bound_is_the_functional_at_mu_below_log_p_by_the_kl(sizes):
    Ws, bs = ref.random_dbm(sizes, scale=1.0, seed=40 + sum(sizes))
    dbm = fitted_dbm(Ws, bs, n_mean_field=10_000, mean_field_tol=1e-13)
    V = en.binary_states(sizes[0])
    lz = ref.log_z(Ws, bs)
    bound = dbm.lower_bound(V, log_z=lz)
    assert bound.shape == (len(V),) and bound.dtype == np.float64
    mu = dbm.mean_field(V)
    # -E_Q[E] + H(Q) - log Z at the returned posteriors, written out in NumPy
    np.testing.assert_allclose(bound, ref.mf_functional(V, mu, Ws, bs) - lz, rtol=0, atol=1e-10)
    log_p = ref.log_p_v(V, Ws, bs)
    assert np.all(bound <= log_p + 1e-12)
    # the gap is exactly KL(Q || p(h | v)), enumerated over every hidden configuration
    kl = ref.kl_q_posterior(V, mu, Ws, bs)
    np.testing.assert_allclose(log_p - bound, kl, rtol=0, atol=1e-9)
    assert kl.max() > 1e-2  # the bound is not trivially tight on these models
    # a given log Z is subtracted as it is; method='exact' computes the exact one itself
    np.testing.assert_allclose(dbm.lower_bound(V, log_z=lz + 2.0), bound - 2.0, rtol=0,
                               atol=1e-12)
    np.testing.assert_allclose(dbm.lower_bound(V, method="exact"), bound, rtol=0, atol=1e-10)


def test_mean_field_posterior_maximises_the_bound_over_nearby_factorized_q():
    sizes = (5, 4, 3)
    Ws, bs = ref.random_dbm(sizes, scale=1.0, seed=50)
    dbm = fitted_dbm(Ws, bs, n_mean_field=10_000, mean_field_tol=1e-13)
    V = en.binary_states(5)
    mu = dbm.mean_field(V)
    F0 = ref.mf_functional(V, mu, Ws, bs)
    rng = np.random.default_rng(0)
    eps = 1e-3
    for _ in range(50):
        # a random direction in logit space moves every mean by O(eps), staying in (0, 1)
        pert = [expit(logit(m) + eps * rng.normal(size=m.shape)) for m in mu]
        F = ref.mf_functional(V, pert, Ws, bs)
        # second order: the drop is ~eps^2 (>> rounding of ~1e-14)
        assert np.all(F < F0 - 1e-10), (F - F0).max()
    # one layer at a time as well (the bound is strictly concave in each layer's means)
    for k in range(len(mu)):
        pert = list(mu)
        pert[k] = expit(logit(mu[k]) + eps * rng.normal(size=mu[k].shape))
        assert np.all(ref.mf_functional(V, pert, Ws, bs) < F0 - 1e-12)
    # test power: the first (bottom-up) posteriors give a clearly lower bound
    start, _ = ref.mean_field(V, Ws, bs, n_iter=0)
    assert np.all(ref.mf_functional(V, start, Ws, bs) <= F0 + 1e-12)
    assert (F0 - ref.mf_functional(V, start, Ws, bs)).max() > 1e-3


# ---------------------------------------------------------------------------------------------
# 5. block Gibbs sampling
# ---------------------------------------------------------------------------------------------
SAMPLE_N = 20_000


@pytest.mark.parametrize("sizes", [(5, 4, 3), (3, 2, 3, 2)], ids=str)
def test_sample_draws_from_the_enumerated_model_distribution(sizes):
    Ws, bs = ref.random_dbm(sizes, scale=1.0, seed=60 + sum(sizes))
    dbm = fitted_dbm(Ws, bs)
    p = ref.p_visible(Ws, bs)
    # the even-block chain (odd layers given even, even given odd) reaches the model's even
    # marginal from any start within n_gibbs sweeps, so the final v follows p(v) exactly
    K = ref.even_chain_kernel(Ws, bs)
    _, ev = ref.block_states(bs, 0)
    H, P = ref.joint_distribution(Ws, bs)
    target = np.bincount(ref.block_index(H, bs, 0), weights=P, minlength=len(ev[0]))
    n_gibbs = 40
    Tn = np.linalg.matrix_power(K, n_gibbs)
    assert 0.5 * np.abs(Tn - target).sum(axis=1).max() < 1e-6
    S = dbm.sample(SAMPLE_N, n_gibbs=n_gibbs, random_state=0)
    assert S.shape == (SAMPLE_N, sizes[0]) and S.dtype == np.float64
    emp = en.empirical_distribution(S, sizes[0])  # also asserts 0/1 rows
    assert en.tv_false_alarm_probability(p, SAMPLE_N) < 1e-4
    assert en.tv_distance(emp, p) < en.tv_bound(p, SAMPLE_N)
    # test power: the visible layer alone (biases only) is far outside the bound
    p_indep = np.prod(np.where(en.binary_states(sizes[0]) == 1, expit(bs[0]), expit(-bs[0])),
                      axis=1)
    assert en.tv_distance(p_indep, p) > 2 * en.tv_bound(p, SAMPLE_N)
    # return_means: p(v | h_1) of the final state, averaging to the marginals E[v]; each mean
    # lies in [0, 1], so the average has standard error <= 0.5 / sqrt(N); 5 sigma
    M = dbm.sample(SAMPLE_N, n_gibbs=n_gibbs, random_state=1, return_means=True)
    assert M.shape == (SAMPLE_N, sizes[0])
    assert np.all((M > 0) & (M < 1)) and not np.all((M == 0) | (M == 1))
    np.testing.assert_allclose(M.mean(axis=0), p @ en.binary_states(sizes[0]), rtol=0,
                               atol=5 * 0.5 / np.sqrt(SAMPLE_N))
    # each row is exactly sigmoid(b_0 + h_1 W_0) for some state h_1
    H1 = en.binary_states(sizes[1])
    cand = expit(bs[0] + H1 @ Ws[0])
    dist = np.abs(M[:, None, :] - cand[None, :, :]).max(axis=2).min(axis=1)
    assert dist.max() < 1e-12


@pytest.mark.parametrize("sizes, seed", [((5, 4, 3), 85), ((3, 2, 3, 2), 82)], ids=str)
def test_sample_with_one_sweep_follows_the_enumerated_sweep_from_uniform_states(sizes, seed):
    # n_gibbs=1 from uniformly random states: v ~ sum_even U(even) p(odd | even) p(v | odd),
    # a distribution the chain has not mixed to; it checks the sweep order and the start
    # (seeds chosen so that the power checks below hold with margin 2.5)
    Ws, bs = ref.random_dbm(sizes, scale=2.0, seed=seed)
    dbm = fitted_dbm(Ws, bs)
    _, ev = ref.block_states(bs, 0)
    d0 = np.full(len(ev[0]), 1.0 / len(ev[0]))
    q = ref.visible_marginal_of_even(bs, d0 @ ref.even_chain_kernel(Ws, bs))
    S = dbm.sample(SAMPLE_N, n_gibbs=1, random_state=2)
    emp = en.empirical_distribution(S, sizes[0])
    assert en.tv_distance(emp, q) < en.tv_bound(q, SAMPLE_N)
    # test power: one sweep is far from p(v), and from the wrong order (even first: v given
    # the uniform h_1, then the odd layers), which would leave v uniform-driven
    p = ref.p_visible(Ws, bs)
    assert en.tv_distance(q, p) > 2 * en.tv_bound(q, SAMPLE_N)
    _, od = ref.block_states(bs, 1)
    Hr, Pr = ref.after_reversed_sweep(Ws, bs, np.full(len(od[0]), 1.0 / len(od[0])))
    q_rev = np.bincount(en.state_index(Hr[0]), weights=Pr, minlength=2 ** sizes[0])
    assert en.tv_distance(q_rev, q) > 2 * en.tv_bound(q, SAMPLE_N)


# ---------------------------------------------------------------------------------------------
# 6-7. the training update: mean-field data term minus the chains' term
# ---------------------------------------------------------------------------------------------
# One dbm_epoch call over UPD_ROWS in a single minibatch, M chains, one update with learning rate
# UPD_LR and no momentum or weight decay: (after - before) / lr is the mean-field data term
# (deterministic, to 1e-12) minus the average over M chains of a product of binary units. For
# independent chains whose final states follow a distribution P, each such average has variance
# p (1 - p) / M, p its expectation under P; each entry must be within 5 of those standard
# errors (44 entries: false-failure probability ~3e-5), plus 1e-8 for the rounding of
# (after - before) / lr.
UPD_M = 40_000
UPD_LR = 1e-3
UPD_SIZES = (5, 4, 3)
UPD_ROWS = np.array([[1, 1, 0, 0, 1], [1, 0, 1, 0, 0], [0, 0, 1, 1, 1], [1, 1, 1, 0, 0],
                     [0, 1, 0, 1, 1], [0, 0, 0, 0, 1], [1, 0, 0, 1, 0]], dtype=np.float64)
UPD_START = [np.array([1, 0, 1, 1, 0.0]), np.array([0, 1, 1, 0.0]), np.array([1, 0, 1.0])]


def _update_model():
    return ref.random_dbm(UPD_SIZES, scale=1.0, seed=80)


def _epoch(dbm, X, chains, *, k=1, seed=1):
    """One dbm_epoch over X in one minibatch; returns (dW list, db list) per unit learning
    rate and the core's figures (mean-field sweeps, seconds...)."""
    W0, b0 = params_of(dbm)
    out = _core.dbm_epoch(dbm._model(), X, chains, None, None, k=k, batch_size=len(X),
                          n_mean_field=200, mean_field_tol=1e-12, learning_rate=UPD_LR,
                          momentum=0.0, weight_decay=0.0, seed=seed, epoch=0,
                          check_signals=False)
    W1, b1 = params_of(dbm)
    return ([(a - b) / UPD_LR for a, b in zip(W1, W0)],
            [(a - b) / UPD_LR for a, b in zip(b1, b0)], out)


def _difference(pos, neg):
    return ([p - n for p, n in zip(pos[0], neg[0])], [p - n for p, n in zip(pos[1], neg[1])])


def _assert_update(got, expected, neg, n_chains):
    """Each entry of got within 5 standard errors sqrt(p (1 - p) / M) of expected."""
    for g, e, p in zip(got[0] + got[1], expected[0] + expected[1], neg[0] + neg[1]):
        tol = 5 * np.sqrt(p * (1 - p) / n_chains) + 1e-8
        np.testing.assert_array_less(np.abs(g - e), tol)


def _max_diff(a, b):
    return max(float(np.abs(x - y).max()) for x, y in zip(a[0] + a[1], b[0] + b[1]))


def _tol(neg, n_chains):
    return max(float((5 * np.sqrt(p * (1 - p) / n_chains)).max()) for p in neg[0] + neg[1])


@pytest.mark.parametrize("k", [1, 3])
def test_update_is_mean_field_term_minus_chains_term_after_k_sweeps_from_a_known_state(k):
    Ws, bs = _update_model()
    dbm = fitted_dbm(Ws, bs)
    X = UPD_ROWS
    # every chain starts in the same known state; k sweeps (odd layers given even, then even
    # given odd) make the final states' distribution enumerable
    chains = [np.ascontiguousarray(np.tile(s, (UPD_M, 1))) for s in UPD_START]
    _, ev = ref.block_states(bs, 0)
    d = np.zeros(len(ev[0]))
    d[ref.block_index([s[None, :] for s in UPD_START], bs, 0)[0]] = 1.0
    d = d @ np.linalg.matrix_power(ref.even_chain_kernel(Ws, bs), k - 1)
    H, P = ref.after_one_sweep(Ws, bs, d)
    neg = ref.moments(H, P)
    mus, sweeps = ref.mean_field(X, Ws, bs, n_iter=200, tol=1e-12)
    pos = ref.mf_positive_term(X, mus)
    expected = _difference(pos, neg)
    # test power: the expected update differs from using the model's exact statistics, from the
    # wrong sweep order (even block first), and from the chains' states before the sweeps
    tol = _tol(neg, UPD_M)
    assert _max_diff(expected, _difference(pos, ref.model_moments(Ws, bs))) > 3 * tol
    _, od = ref.block_states(bs, 1)
    d_odd = np.zeros(len(od[0]))
    d_odd[ref.block_index([s[None, :] for s in UPD_START], bs, 1)[0]] = 1.0
    if k == 1:
        rev = ref.moments(*ref.after_reversed_sweep(Ws, bs, d_odd))
        assert _max_diff(expected, _difference(pos, rev)) > 3 * tol
    start = ([np.outer(UPD_START[j + 1], UPD_START[j]) for j in range(2)], UPD_START)
    assert _max_diff(expected, _difference(pos, start)) > 3 * tol

    dW, db, figures = _epoch(dbm, X, chains, k=k)
    _assert_update((dW, db), expected, neg, UPD_M)
    # one minibatch: the reported mean-field sweeps are those of the same stopping rule
    assert figures[0] == sweeps
    # the chains were advanced in place, and their states follow P
    idx = ref.block_index(chains, bs, 1) * len(ev[0]) + ref.block_index(chains, bs, 0)
    emp = np.bincount(idx, minlength=len(P)) / UPD_M
    assert en.tv_distance(emp, P) < en.tv_bound(P, UPD_M)


def test_mean_field_data_term_is_the_gradient_of_the_bound_at_fixed_posteriors():
    # d/dW_k [-E_Q[E] + H(Q)] at fixed mu is mean_r mu_{k+1} mu_k' (mu_0 = v) and d/db_k is
    # mean_r mu_k: central differences of the NumPy functional (step 1e-5, error ~1e-10)
    Ws, bs = _update_model()
    X = UPD_ROWS
    mus, _ = ref.mean_field(X, Ws, bs, tol=1e-14)
    pos = ref.mf_positive_term(X, mus)
    h = 1e-5

    def F(Ws_, bs_):
        return ref.mf_functional(X, mus, Ws_, bs_).mean()

    for k, W in enumerate(Ws):
        fd = np.zeros_like(W)
        for idx in np.ndindex(W.shape):
            Wp = [w.copy() for w in Ws]
            Wm = [w.copy() for w in Ws]
            Wp[k][idx] += h
            Wm[k][idx] -= h
            fd[idx] = (F(Wp, bs) - F(Wm, bs)) / (2 * h)
        np.testing.assert_allclose(pos[0][k], fd, rtol=0, atol=1e-8)
    for k, b in enumerate(bs):
        fd = np.zeros_like(b)
        for i in range(len(b)):
            bp = [x.copy() for x in bs]
            bm = [x.copy() for x in bs]
            bp[k][i] += h
            bm[k][i] -= h
            fd[i] = (F(Ws, bp) - F(Ws, bm)) / (2 * h)
        np.testing.assert_allclose(pos[1][k], fd, rtol=0, atol=1e-8)

    # the same from pydbn's own bound (log Z held at 0): at a fixed point of mean field, the
    # posteriors' own change does not enter to first order (they maximise the functional), so
    # d lower_bound / dW_k is the data term too
    dbm = fitted_dbm(Ws, bs, n_mean_field=10_000, mean_field_tol=1e-14)
    for k in range(len(Ws)):
        W = dbm.components_[k]
        for idx in [(0, 0), (W.shape[0] - 1, W.shape[1] - 1), (1, 2)]:
            old = W[idx]
            W[idx] = old + h
            up = dbm.lower_bound(X, log_z=0.0).mean()
            W[idx] = old - h
            down = dbm.lower_bound(X, log_z=0.0).mean()
            W[idx] = old
            assert (up - down) / (2 * h) == pytest.approx(pos[0][k][idx], abs=1e-6)
    # and pydbn's data term is this gradient: two epochs with the same seed and the same
    # chain states but different data advance the chains identically (the sweeps run before
    # the update, with the same parameters and random streams), so their updates differ by
    # exactly the difference of the two data terms
    chains_a = [np.ascontiguousarray(np.tile(s, (1000, 1))) for s in UPD_START]
    chains_b = [c.copy() for c in chains_a]
    d1 = fitted_dbm(Ws, bs)
    d2 = fitted_dbm(Ws, bs)
    X2 = UPD_ROWS[[0, 0, 1, 2, 2, 2, 5]]
    ga = _epoch(d1, X, chains_a)
    gb = _epoch(d2, X2, chains_b)
    mus2, _ = ref.mean_field(X2, Ws, bs, n_iter=200, tol=1e-12)
    pos2 = ref.mf_positive_term(X2, mus2)
    for a, b, p1, p2 in zip(ga[0] + ga[1], gb[0] + gb[1], pos[0] + pos[1], pos2[0] + pos2[1]):
        np.testing.assert_allclose(a - b, p1 - p2, rtol=0, atol=1e-8)
    assert _max_diff(pos, pos2) > 1e-2


def test_enumerated_model_statistics_are_the_gradient_of_log_z():
    # E_model[h_{k+1} h_k'] = d log Z / dW_k and E_model[h_k] = d log Z / db_k: central
    # differences of the enumerated log Z and of pydbn's exact log Z (step 1e-5, error ~1e-10)
    Ws, bs = _update_model()
    neg = ref.model_moments(Ws, bs)
    dbm = fitted_dbm(Ws, bs)
    h = 1e-5
    for k, W in enumerate(Ws):
        for idx in np.ndindex(W.shape):
            Wp = [w.copy() for w in Ws]
            Wm = [w.copy() for w in Ws]
            Wp[k][idx] += h
            Wm[k][idx] -= h
            fd = (ref.log_z(Wp, bs) - ref.log_z(Wm, bs)) / (2 * h)
            assert neg[0][k][idx] == pytest.approx(fd, abs=1e-8)
        target = dbm.components_[k]
        for idx in [(0, 0), (1, 2)]:
            old = target[idx]
            target[idx] = old + h
            up = dbm.log_partition("exact")
            target[idx] = old - h
            down = dbm.log_partition("exact")
            target[idx] = old
            assert neg[0][k][idx] == pytest.approx((up - down) / (2 * h), abs=1e-8)
    for k, b in enumerate(bs):
        for i in range(len(b)):
            bp = [x.copy() for x in bs]
            bm = [x.copy() for x in bs]
            bp[k][i] += h
            bm[k][i] -= h
            fd = (ref.log_z(Ws, bp) - ref.log_z(Ws, bm)) / (2 * h)
            assert neg[1][k][i] == pytest.approx(fd, abs=1e-8)


def test_update_from_chains_at_the_model_distribution_is_the_gradient_of_the_bound():
    # the check: with exact posteriors (mean field to 1e-12) and chains drawn exactly
    # from the enumerated joint (a sweep leaves that distribution invariant), the expected
    # update is mu-term - E_model = the gradient of (functional at fixed mu - log Z), here by
    # central differences of that enumerated objective
    Ws, bs = _update_model()
    X = UPD_ROWS
    mus, _ = ref.mean_field(X, Ws, bs, tol=1e-14)
    h = 1e-5

    def objective(Ws_, bs_):
        return ref.mf_functional(X, mus, Ws_, bs_).mean() - ref.log_z(Ws_, bs_)

    grad_W, grad_b = [], []
    for k, W in enumerate(Ws):
        g = np.zeros_like(W)
        for idx in np.ndindex(W.shape):
            Wp = [w.copy() for w in Ws]
            Wm = [w.copy() for w in Ws]
            Wp[k][idx] += h
            Wm[k][idx] -= h
            g[idx] = (objective(Wp, bs) - objective(Wm, bs)) / (2 * h)
        grad_W.append(g)
    for k, b in enumerate(bs):
        g = np.zeros_like(b)
        for i in range(len(b)):
            bp = [x.copy() for x in bs]
            bm = [x.copy() for x in bs]
            bp[k][i] += h
            bm[k][i] -= h
            g[i] = (objective(Ws, bp) - objective(Ws, bm)) / (2 * h)
        grad_b.append(g)
    neg = ref.model_moments(Ws, bs)
    pos = ref.mf_positive_term(X, mus)
    # the reference's two terms are that gradient
    assert _max_diff((grad_W, grad_b), _difference(pos, neg)) < 1e-7
    tol = _tol(neg, UPD_M)
    # test power: the data term alone, or the chains' term of one sweep from a fixed state
    # (a chain that has not reached the model), are far from it
    assert _max_diff((grad_W, grad_b), (pos[0], pos[1])) > 3 * tol

    dbm = fitted_dbm(Ws, bs)
    chains = ref.sample_joint(Ws, bs, UPD_M, seed=7)
    dW, db, _ = _epoch(dbm, X, chains, seed=3)
    _assert_update((dW, db), (grad_W, grad_b), neg, UPD_M)
    # the chains are still distributed as the model (the parameters moved by ~1e-3)
    _, P = ref.joint_distribution(Ws, bs)
    # all_states order: the layers' units concatenated, v first
    emp = en.empirical_distribution(np.hstack(chains), sum(UPD_SIZES))
    assert en.tv_distance(emp, P) < en.tv_bound(P, UPD_M)


# ---------------------------------------------------------------------------------------------
# 8. greedy pre-training with the weight-doubling correction
# ---------------------------------------------------------------------------------------------
PRE_X = (np.random.default_rng(9).random((60, 6)) < 0.4).astype(np.float64)


@pytest.mark.parametrize("hidden", [(4, 3), (4, 3, 2)], ids=str)
def test_pretraining_composes_the_rbms_by_the_documented_rule(hidden):
    dbm = DBM(hidden_layer_sizes=hidden, pretrain=True, pretrain_n_iter=3, n_iter=0,
              batch_size=10, random_state=0).fit(PRE_X)
    rbms = dbm.rbms_
    L = len(hidden)
    assert len(rbms) == L
    # a layer with two neighbours in the DBM gets doubled input in its RBM: the first RBM's
    # hidden side, the last RBM's visible side, both sides of the middle ones
    for k, r in enumerate(rbms):
        assert r._up_scale == (2.0 if k + 1 < L else 1.0), k
        assert r._down_scale == (2.0 if k > 0 else 1.0), k
        np.testing.assert_array_equal(dbm.components_[k], r.components_)
    np.testing.assert_array_equal(dbm.intercepts_[0], rbms[0].intercept_visible_)
    np.testing.assert_array_equal(dbm.intercepts_[L], rbms[-1].intercept_hidden_)
    for k in range(1, L):
        np.testing.assert_allclose(
            dbm.intercepts_[k], (rbms[k - 1].intercept_hidden_ + rbms[k].intercept_visible_) / 2,
            rtol=0, atol=1e-15)
        # test power: the two biases being averaged differ
        assert np.abs(rbms[k - 1].intercept_hidden_ - rbms[k].intercept_visible_).max() > 1e-3
    # each RBM above the first was trained on the layer below's hidden probabilities with the
    # doubled input, sigmoid(c + 2 W x): its visible_mean_ is the column mean of that data
    data = PRE_X
    np.testing.assert_allclose(rbms[0].visible_mean_, data.mean(axis=0), rtol=0, atol=1e-12)
    for k in range(L - 1):
        W, c = rbms[k].components_, rbms[k].intercept_hidden_
        doubled = expit(c + 2.0 * data @ W.T)
        np.testing.assert_allclose(rbms[k + 1].visible_mean_, doubled.mean(axis=0), rtol=0,
                                   atol=1e-12)
        # test power: the undoubled propagation gives other means
        assert np.abs(expit(c + data @ W.T).mean(axis=0) - doubled.mean(axis=0)).max() > 1e-3
        data = doubled


def test_joint_training_leaves_the_pretraining_rbms_unchanged():
    params = dict(hidden_layer_sizes=(4, 3), pretrain=True, pretrain_n_iter=3, batch_size=10,
                  random_state=0, learning_rate=0.05)
    before = DBM(n_iter=0, **params).fit(PRE_X)  # same random_state: the same pre-training
    after = DBM(n_iter=2, **params).fit(PRE_X)
    for a, b in zip(before.rbms_, after.rbms_):
        np.testing.assert_array_equal(a.intercept_hidden_, b.intercept_hidden_)
        np.testing.assert_array_equal(a.components_, b.components_)
    # joint training did move the DBM's weights
    assert np.abs(after.components_[0] - before.components_[0]).max() > 1e-4


# One CD-1 epoch of an RBM on N copies of one vector v in a single minibatch: (after - before) /
# lr is an average over N independent chains v -> h0 -> v1; the enumeration of (h0, v1) gives
# its mean and the exact per-chain variance of each entry; 5 standard errors per entry
# (19 entries), plus 1e-8 for rounding.
RBM_N = 40_000
RBM_LR = 1e-4
RBM_V = np.array([1.0, 0.0, 1.0, 1.0])


def _cd1_expected(v, W, b, c, up, down):
    """Mean and per-chain sd of the CD-1 update direction with p(h | v) = sigmoid(c + up W v)
    and p(v | h) = sigmoid(b + down W' h), from a data row v: positive statistics p0 v', v,
    p0; negative p1(v1) v1', v1, p1(v1) with h0 ~ p(h | v), v1 ~ p(v | h0)."""
    nh, nv = W.shape
    Hs, Vs = en.binary_states(nh), en.binary_states(nv)
    p0 = expit(c + up * W @ v)
    p_h0 = en._bernoulli_table(p0[None, :], Hs)[0]
    p_v1 = p_h0 @ en._bernoulli_table(expit(b + down * Hs @ W), Vs)
    p1 = expit(c + up * Vs @ W.T)
    stats = {"W": p1[:, :, None] * Vs[:, None, :], "b": Vs, "c": p1}
    pos = {"W": np.outer(p0, v), "b": v, "c": p0}
    mean, sd = {}, {}
    for name, f in stats.items():
        e = np.tensordot(p_v1, f, axes=1)
        mean[name] = pos[name] - e
        sd[name] = np.sqrt(np.maximum(np.tensordot(p_v1, f**2, axes=1) - e**2, 0.0))
    return mean, sd


@pytest.mark.parametrize("up, down", [(2.0, 1.0), (1.0, 2.0), (2.0, 2.0)])
def test_rbm_epoch_with_scaled_inputs_uses_the_scaled_conditionals(up, down):
    # the pre-training RBMs' conditionals: up_scale=2 gives p(h | v) = sigmoid(c + 2 W v) in
    # both phases; down_scale=2 gives p(v | h) = sigmoid(b + 2 W' h)
    W, b, c = en.random_model(4, 3, scale=1.0, seed=7)
    X = np.tile(RBM_V, (RBM_N, 1))
    mean, sd = _cd1_expected(RBM_V, W, b, c, up, down)
    W1, b1, c1 = W.copy(), b.copy(), c.copy()
    _core.rbm_epoch((W1, b1, c1, _core.VISIBLE_BERNOULLI, 0), X, None, None, None, None,
                    method=_core.METHOD_CD, k=1, batch_size=RBM_N, learning_rate=RBM_LR,
                    momentum=0.0, weight_decay=0.0, seed=1, epoch=0, check_signals=False,
                    up_scale=up, down_scale=down)
    got = {"W": (W1 - W) / RBM_LR, "b": (b1 - b) / RBM_LR, "c": (c1 - c) / RBM_LR}
    for name in got:
        np.testing.assert_array_less(np.abs(got[name] - mean[name]),
                                     5 * sd[name] / np.sqrt(RBM_N) + 1e-8)
    # test power: the unscaled RBM's (and the other scalings') expected updates are far off
    for other in [(1.0, 1.0), (2.0, 1.0), (1.0, 2.0), (2.0, 2.0)]:
        if other == (up, down):
            continue
        m2, _ = _cd1_expected(RBM_V, W, b, c, *other)
        worst = max(float((np.abs(m2[n] - mean[n]) / (sd[n] / np.sqrt(RBM_N) + 1e-8)).max())
                    for n in mean)
        assert worst > 15, other
