"""pydbn.RBM against exact, independent computations on models small enough to enumerate.

Every reference value is computed here (or in tests/_enumerate.py) with plain NumPy from the
energy function in the API spec; nothing is copied from the implementation's output.
Statistical tests use fixed seeds and state how their tolerance follows from the sample size.
"""

import numpy as np
import pytest
from scipy import integrate
from scipy.special import expit, logsumexp
from sklearn.datasets import load_digits
from sklearn.neural_network import BernoulliRBM

from pydbn import RBM

try:  # tests/ may or may not be a package
    from . import _enumerate as en
except ImportError:  # pragma: no cover - depends on how pytest imports the tests
    import _enumerate as en


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
def fitted_rbm(n_visible, n_hidden, W=None, b=None, c=None, *, visible="bernoulli",
               n_rows=20, dtype=np.float64, seed=0, **params):
    """A fitted RBM of the given shape whose parameters are then overwritten with (W, b, c).

    The fit only creates the fitted arrays (one short epoch on random data); the test then sets
    the parameters it wants in place, keeping the estimator's own arrays and dtype.
    """
    rng = np.random.default_rng(seed)
    if visible == "bernoulli":
        X = (rng.random((n_rows, n_visible)) < 0.5).astype(dtype)
    else:
        X = rng.normal(size=(n_rows, n_visible)).astype(dtype)
    params.setdefault("n_iter", 1)
    params.setdefault("random_state", 0)
    params.setdefault("learning_rate", 0.01)
    params.setdefault("batch_size", min(10, n_rows))
    est = RBM(n_components=n_hidden, visible=visible, **params).fit(X)
    assert est.components_.dtype == dtype
    if W is not None:
        en.set_model(est, W, b, c)
    return est


def log_partition_by_hidden_enumeration(W, b, c):
    """log Z = log sum_h exp(c.h + sum_i softplus(b_i + (W^T h)_i)) (binary visible)."""
    H = en.binary_states(W.shape[0])
    return float(logsumexp(H @ c + np.logaddexp(0.0, H @ W + b).sum(axis=1)))


# ---------------------------------------------------------------------------------------------
# 1. exact log partition function
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "n_visible, n_hidden, scale",
    [
        (5, 4, 1.0),  # hidden is the smaller layer
        (4, 6, 1.0),  # visible is the smaller layer
        (4, 4, 1.0),  # equal sizes
        (5, 4, 60.0),  # energies of several hundred nats: exp() would overflow without log-sum-exp
        (4, 6, 60.0),
    ],
)
def test_log_partition_exact_equals_enumeration_over_all_joint_states(n_visible, n_hidden, scale):
    W, b, c = en.random_model(n_visible, n_hidden, scale=scale, seed=n_visible * 10 + n_hidden)
    est = fitted_rbm(n_visible, n_hidden, W, b, c)
    expected = en.log_partition_joint(W, b, c)  # sums exp(-E) over all 2^(V+H) pairs
    got = est.log_partition("exact")
    assert isinstance(got, float)
    # float64 log-sum-exp over <= 1024 terms: rounding error ~1e-15 relative.
    assert got == pytest.approx(expected, rel=1e-12, abs=1e-10)


def test_log_partition_exact_float32_model_is_close_to_enumeration():
    W, b, c = en.random_model(5, 4, scale=1.0, seed=1)
    est = fitted_rbm(5, 4, W, b, c, dtype=np.float32)
    W32, b32, c32 = en.model_arrays(est)  # the float32-rounded parameters
    expected = en.log_partition_joint(W32, b32, c32)
    # float32 arithmetic: relative error ~1e-7 per operation on values of a few units.
    assert est.log_partition("exact") == pytest.approx(expected, abs=1e-4)


def test_log_partition_exact_refuses_when_both_layers_exceed_24_units():
    est = fitted_rbm(25, 25, n_rows=10)
    with pytest.raises(ValueError):
        est.log_partition("exact")


def test_log_partition_exact_enumerates_the_smaller_layer_when_it_is_24_or_less():
    # 30 visible, 3 hidden: only 8 hidden states; exact must work although 2^30 visible states
    # would be far too many.  Reference: enumerate h and sum v analytically.
    W, b, c = en.random_model(30, 3, scale=0.5, seed=2)
    est = fitted_rbm(30, 3, W, b, c)
    assert est.log_partition("exact") == pytest.approx(
        log_partition_by_hidden_enumeration(W, b, c), rel=1e-12, abs=1e-10)


def test_gaussian_log_partition_equals_one_dimensional_quadrature():
    # 1 gaussian visible unit, 4 hidden: Z = integral over v of sum_h exp(-E(v, h)).
    W, b, c = en.random_model(1, 4, scale=1.0, seed=3)
    est = fitted_rbm(1, 4, W, b, c, visible="gaussian")
    H = en.binary_states(4)

    def unnormalised_density(v):
        neg_E = -0.5 * (v - b[0]) ** 2 + H @ c + v * (H @ W[:, 0])
        return np.exp(neg_E).sum()

    Z, abserr = integrate.quad(unnormalised_density, -np.inf, np.inf, epsabs=0, epsrel=1e-12,
                               limit=200)
    assert abserr < 1e-9 * Z
    assert est.log_partition("exact") == pytest.approx(np.log(Z), abs=1e-8)


def test_gaussian_log_partition_and_likelihood_match_two_dimensional_grid_integral():
    # 2 gaussian visible units, 3 hidden. A Riemann sum of a smooth Gaussian mixture on a fine
    # grid converges exponentially fast in 1/step (error ~ exp(-2 pi^2 / step^2)): the grid
    # [-20, 20]^2 with step 0.05 leaves only the far tails (> 10 standard deviations) out.
    W, b, c = en.random_model(2, 3, scale=1.0, seed=4)
    est = fitted_rbm(2, 3, W, b, c, visible="gaussian")
    step = 0.05
    axis = np.arange(-20.0, 20.0 + step / 2, step)
    G = np.stack(np.meshgrid(axis, axis, indexing="ij"), axis=-1).reshape(-1, 2)
    log_Z_grid = logsumexp(en.log_unnormalised_gaussian_enumerated(G, W, b, c)) + 2 * np.log(step)
    assert est.log_partition("exact") == pytest.approx(log_Z_grid, abs=1e-8)
    # and the normalised density the estimator reports integrates to one
    log_p = est.log_likelihood(G, method="exact")
    assert log_p.shape == (len(G),)
    assert logsumexp(log_p) + 2 * np.log(step) == pytest.approx(0.0, abs=1e-8)


@pytest.mark.parametrize("n_visible, n_hidden", [(5, 4), (3, 7)])
def test_gaussian_log_partition_equals_enumerated_hidden_sum_of_gaussian_integrals(n_visible,
                                                                                   n_hidden):
    W, b, c = en.random_model(n_visible, n_hidden, scale=0.7, seed=5)
    est = fitted_rbm(n_visible, n_hidden, W, b, c, visible="gaussian")
    assert est.log_partition("exact") == pytest.approx(en.log_partition_gaussian(W, b, c),
                                                       rel=1e-12, abs=1e-10)


# ---------------------------------------------------------------------------------------------
# 2. free energy and exact log-likelihood
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("n_visible, n_hidden", [(5, 4), (4, 6)])
def test_free_energy_equals_minus_log_sum_over_hidden_states(n_visible, n_hidden):
    W, b, c = en.random_model(n_visible, n_hidden, scale=1.5, seed=6)
    est = fitted_rbm(n_visible, n_hidden, W, b, c)
    V = en.binary_states(n_visible)
    got = est.free_energy(V)
    assert got.shape == (len(V),)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, en.free_energy_enumerated(V, W, b, c), rtol=1e-12, atol=1e-12)
    # non-binary input follows the same formula
    X = np.random.default_rng(0).normal(size=(7, n_visible))
    np.testing.assert_allclose(est.free_energy(X), en.free_energy_enumerated(X, W, b, c),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("n_visible, n_hidden", [(5, 4), (4, 6)])
def test_exact_log_likelihood_equals_enumerated_marginal_and_normalises(n_visible, n_hidden):
    W, b, c = en.random_model(n_visible, n_hidden, scale=1.5, seed=7)
    est = fitted_rbm(n_visible, n_hidden, W, b, c)
    V = en.binary_states(n_visible)
    log_p = est.log_likelihood(V, method="exact")
    assert log_p.shape == (len(V),)
    # p(v) by summing the joint table over h, independent of any free-energy formula
    np.testing.assert_allclose(log_p, np.log(en.p_visible(W, b, c)), rtol=1e-12, atol=1e-12)
    assert np.exp(log_p).sum() == pytest.approx(1.0, abs=1e-12)
    # default method is 'exact'
    np.testing.assert_allclose(est.log_likelihood(V), log_p, rtol=0, atol=1e-14)


def test_gaussian_free_energy_equals_minus_log_sum_over_hidden_states():
    W, b, c = en.random_model(3, 5, scale=1.0, seed=8)
    est = fitted_rbm(3, 5, W, b, c, visible="gaussian")
    X = np.random.default_rng(1).normal(size=(11, 3)) * 2
    np.testing.assert_allclose(est.free_energy(X),
                               -en.log_unnormalised_gaussian_enumerated(X, W, b, c),
                               rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# 3. the CD / PCD update equals the (expected) log-likelihood gradient
# ---------------------------------------------------------------------------------------------
# A tiny 4 x 3 model, one minibatch holding all N rows, one partial_fit call: the change of each
# parameter divided by the learning rate is an average over N independent chains of a quantity
# in [0, 1] (h_j v_i, v_i or h_j, possibly minus a mean-field term), so its Monte-Carlo standard
# error is <= 0.5 / sqrt(N) for the negative phase, and at most the same again if the positive
# phase samples h instead of using p(h|v).  Tolerance: 5 * sqrt(2) * 0.5 / sqrt(N) per entry
# (5 sigma, 19 entries: false-failure probability < 1e-5).
GRAD_N = 50_000
GRAD_LR = 1e-3
GRAD_TOL = 5 * np.sqrt(2) * 0.5 / np.sqrt(GRAD_N)
GRAD_DATA = np.array(
    [[1, 1, 0, 0], [1, 0, 1, 0], [0, 0, 1, 1], [1, 1, 1, 0], [0, 1, 0, 1]], dtype=np.float64)


def _one_update(method, k, W, b, c, h_chains=None):
    """Apply one partial_fit pass over GRAD_N rows in a single minibatch; return the update per
    unit learning rate and the estimator."""
    X = np.repeat(GRAD_DATA, GRAD_N // len(GRAD_DATA), axis=0)
    assert len(X) == GRAD_N
    est = RBM(n_components=3, method=method, k=k, batch_size=GRAD_N, learning_rate=GRAD_LR,
              n_iter=1, random_state=0).fit(X)
    en.set_model(est, W, b, c)
    if h_chains is not None:
        assert est.h_samples_.shape == h_chains.shape
        np.copyto(est.h_samples_, h_chains)
    result = est.partial_fit(X)
    assert result is est
    W1, b1, c1 = en.model_arrays(est)
    return (W1 - W) / GRAD_LR, (b1 - b) / GRAD_LR, (c1 - c) / GRAD_LR, est


def _max_abs_diff(g1, g2):
    return max(float(np.abs(x - y).max()) for x, y in zip(g1, g2))


@pytest.mark.parametrize("k", [1, 5])
def test_pcd_update_from_stationary_chains_equals_exact_log_likelihood_gradient(k):
    W, b, c = en.random_model(4, 3, scale=1.0, seed=11)
    X = GRAD_DATA
    exact = en.exact_gradient(X, W, b, c)
    # the test can tell PCD from CD-1 from data and from the positive phase alone:
    assert _max_abs_diff(exact, en.cd_k_expected_gradient(X, W, b, c, 1)) > 3 * GRAD_TOL
    pos_only = (expit(X @ W.T + c).T @ X / len(X), X.mean(0), expit(X @ W.T + c).mean(0))
    assert _max_abs_diff(exact, pos_only) > 3 * GRAD_TOL

    # persistent chains start at exact draws from p(h): any number of Gibbs steps keeps them
    # distributed as the model, so the negative statistics are unbiased for E_model[.]
    h0 = en.sample_hidden_marginal(W, b, c, GRAD_N, seed=100 + k)
    dW, db, dc, est = _one_update("pcd", k, W, b, c, h_chains=h0)
    np.testing.assert_allclose(dW, exact[0], rtol=0, atol=GRAD_TOL)
    np.testing.assert_allclose(db, exact[1], rtol=0, atol=GRAD_TOL)
    np.testing.assert_allclose(dc, exact[2], rtol=0, atol=GRAD_TOL)

    # the chains were advanced and are still distributed as p(h) (the parameters moved by
    # lr * gradient ~ 1e-3, far below the sampling bound)
    h1 = est.h_samples_
    assert h1.shape == (GRAD_N, 3)
    assert not np.array_equal(h1, h0)
    p_h = en.p_hidden(W, b, c)
    assert en.tv_false_alarm_probability(p_h, GRAD_N) < 1e-4
    assert en.tv_distance(en.empirical_distribution(h1, 3), p_h) < en.tv_bound(p_h, GRAD_N)


@pytest.mark.parametrize("k", [1, 2, 50])
def test_cd_k_update_equals_enumerated_expected_cd_k_update(k):
    W, b, c = en.random_model(4, 3, scale=1.0, seed=12)
    X = GRAD_DATA
    expected = en.cd_k_expected_gradient(X, W, b, c, k)
    exact = en.exact_gradient(X, W, b, c)
    if k == 1:
        # CD-1 is measurably biased on this model, so the test tells k=1 from k=large
        assert _max_abs_diff(expected, exact) > 3 * GRAD_TOL
    if k == 50:
        # the 4 x 3 model mixes fast: CD-50 is the log-likelihood gradient to 1e-6
        assert _max_abs_diff(expected, exact) < 1e-6
    dW, db, dc, _ = _one_update("cd", k, W, b, c)
    np.testing.assert_allclose(dW, expected[0], rtol=0, atol=GRAD_TOL)
    np.testing.assert_allclose(db, expected[1], rtol=0, atol=GRAD_TOL)
    np.testing.assert_allclose(dc, expected[2], rtol=0, atol=GRAD_TOL)


# ---------------------------------------------------------------------------------------------
# 4. the samplers
# ---------------------------------------------------------------------------------------------
SAMPLER_N = 20_000


def _sampler_model():
    W, b, c = en.random_model(5, 4, scale=1.0, seed=21)
    return W, b, c, fitted_rbm(5, 4, W, b, c)


def test_sample_draws_from_the_enumerated_model_distribution():
    W, b, c, est = _sampler_model()
    p = en.p_visible(W, b, c)
    # 200 Gibbs sweeps reach the stationary distribution from ANY start (exact kernel power),
    # so the only discrepancy left is sampling noise
    T200 = np.linalg.matrix_power(en.gibbs_kernel(W, b, c), 200)
    assert 0.5 * np.abs(T200 - p).sum(axis=1).max() < 1e-6
    S = est.sample(n_samples=SAMPLER_N, n_steps=200, random_state=0)
    assert S.shape == (SAMPLER_N, 5)
    assert S.dtype == np.float64
    emp = en.empirical_distribution(S, 5)  # also asserts the rows are 0/1 states
    assert en.tv_false_alarm_probability(p, SAMPLER_N) < 1e-4
    assert en.tv_distance(emp, p) < en.tv_bound(p, SAMPLER_N)
    # test power: the uniform distribution (random starts, no mixing) is far outside the bound
    assert en.tv_distance(np.full(32, 1 / 32), p) > 3 * en.tv_bound(p, SAMPLER_N)


def test_sample_return_means_averages_to_model_visible_marginals():
    W, b, c, est = _sampler_model()
    p = en.p_visible(W, b, c)
    M = est.sample(n_samples=SAMPLER_N, n_steps=200, random_state=1, return_means=True)
    assert M.shape == (SAMPLER_N, 5)
    assert np.all((M > 0) & (M < 1))
    assert not np.all((M == 0) | (M == 1))  # means, not states
    # each mean p(v_i=1|h) lies in [0, 1]: standard error of the average <= 0.5/sqrt(N); 5 sigma
    np.testing.assert_allclose(M.mean(axis=0), p @ en.binary_states(5), rtol=0,
                               atol=5 * 0.5 / np.sqrt(SAMPLER_N))


@pytest.mark.parametrize("start", [0, 13, 31])
def test_gibbs_one_step_follows_enumerated_two_step_transition_kernel(start):
    W, b, c, est = _sampler_model()
    T = en.gibbs_kernel(W, b, c)  # T[v, v'] = sum_h p(h|v) p(v'|h)
    v0 = en.binary_states(5)[start]
    V = np.repeat(v0[None, :], SAMPLER_N, axis=0)
    out = est.gibbs(V)
    assert out.shape == V.shape
    np.testing.assert_array_equal(V, np.repeat(v0[None, :], SAMPLER_N, axis=0))  # input intact
    emp = en.empirical_distribution(out, 5)
    assert en.tv_false_alarm_probability(T[start], SAMPLER_N) < 1e-4
    assert en.tv_distance(emp, T[start]) < en.tv_bound(T[start], SAMPLER_N)
    # test power: one step from this start is distinguishable from the stationary distribution
    assert en.tv_distance(T[start], en.p_visible(W, b, c)) > 2 * en.tv_bound(T[start], SAMPLER_N)


# ---------------------------------------------------------------------------------------------
# 5. annealed importance sampling
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def digits_rbm():
    X = (load_digits().data / 16 > 0.5).astype(np.float64)
    est = RBM(n_components=12, learning_rate=0.05, batch_size=20, n_iter=10, random_state=0)
    return X, est.fit(X)


@pytest.mark.parametrize("side", ["visible", "hidden", "both", "auto"])
def test_ais_log_partition_is_within_0_05_nats_of_exact_on_digits(digits_rbm, side):
    X, est = digits_rbm
    W, b, c = en.model_arrays(est)
    exact = log_partition_by_hidden_enumeration(W, b, c)  # 2^12 hidden states
    assert est.log_partition("exact") == pytest.approx(exact, rel=1e-12, abs=1e-9)
    # 10000 intermediate distributions and 100 chains: a NumPy AIS of the same model lands within
    # ~0.002 nats; 0.05 leaves a wide margin and still catches a wrong base-rate Z or weight
    # (on either side: the hidden side runs the kernel on the RBM with its layers swapped, and
    # 'both' pools the importance weights of the two runs, each shifted by its base log Z).
    log_Z, std = est.log_partition("ais", n_chains=100, n_betas=10_000, random_state=0,
                                   return_std=True, side=side)
    assert abs(log_Z - exact) < 0.05
    assert 0 < std < 0.05
    # the plain call returns a float
    assert isinstance(est.log_partition("ais", n_chains=20, n_betas=1000, random_state=0), float)


def test_ais_sides_pool_the_two_runs(digits_rbm):
    _, est = digits_rbm
    kw = dict(n_chains=50, n_betas=500, random_state=3)
    # 'both' = visible run (stream epoch 0, as side='visible' alone) + hidden run (epoch 1):
    # its estimate lies between the two runs' and above the smaller one plus log(1/2)
    vis = est.log_partition("ais", side="visible", **kw)
    both = est.log_partition("ais", side="both", **kw)
    assert both != vis
    assert both > vis + np.log(0.5)
    assert est.log_partition("ais", side="auto", **kw) == both


def test_ais_side_errors(digits_rbm):
    X, est = digits_rbm
    with pytest.raises(ValueError, match="side must be"):
        est.log_partition("ais", side="top")
    gauss = RBM(n_components=3, visible="gaussian", n_iter=1, random_state=0).fit(X[:40])
    with pytest.raises(ValueError, match="binary visible units"):
        gauss.log_partition("ais", side="hidden", n_chains=2, n_betas=10)
    # 'auto' falls back to the visible side for Gaussian units
    a = gauss.log_partition("ais", n_chains=5, n_betas=50, random_state=0)
    v = gauss.log_partition("ais", n_chains=5, n_betas=50, random_state=0, side="visible")
    assert a == v


def test_ais_log_likelihood_is_close_to_exact_log_likelihood_on_digits(digits_rbm):
    X, est = digits_rbm
    W, b, c = en.model_arrays(est)
    exact = -en.free_energy_formula(X[:50], W, b, c) - log_partition_by_hidden_enumeration(W, b, c)
    np.testing.assert_allclose(est.log_likelihood(X[:50], method="exact"), exact, rtol=0,
                               atol=1e-9)
    got = est.log_likelihood(X[:50], method="ais", n_chains=100, n_betas=10_000, random_state=0)
    # log p(x) = -F(x) - log Z: every row shares the same AIS error on log Z
    np.testing.assert_allclose(got, exact, rtol=0, atol=0.05)


# ---------------------------------------------------------------------------------------------
# 6. score_samples: scikit-learn's pseudo-likelihood
# ---------------------------------------------------------------------------------------------
def _binary_rows(n, n_visible, seed):
    return (np.random.default_rng(seed).random((n, n_visible)) < 0.5).astype(np.float64)


def test_score_samples_equals_sklearn_pseudo_likelihood_definition():
    W, b, c = en.random_model(6, 4, scale=1.0, seed=31)
    est = fitted_rbm(6, 4, W, b, c)
    est.set_params(random_state=7)
    X = _binary_rows(300, 6, seed=1)
    expected = en.pseudo_likelihood(X, W, b, c, random_state=7)
    got = est.score_samples(X)
    assert got.shape == (300,) and got.dtype == np.float64
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    # an int random_state makes it deterministic; another seed flips other bits
    np.testing.assert_array_equal(est.score_samples(X), got)
    est.set_params(random_state=8)
    np.testing.assert_allclose(est.score_samples(X),
                               en.pseudo_likelihood(X, W, b, c, random_state=8),
                               rtol=1e-12, atol=1e-12)
    assert not np.allclose(est.score_samples(X), got)


@pytest.mark.parametrize("factor", [1e3, -1e3])
def test_score_samples_stays_finite_and_exact_for_extreme_inputs(factor):
    W, b, c = en.random_model(6, 4, scale=1.0, seed=32)
    est = fitted_rbm(6, 4, W, b, c)
    est.set_params(random_state=3)
    X = _binary_rows(100, 6, seed=2) * factor
    got = est.score_samples(X)
    assert np.all(np.isfinite(got))
    # free energies of ~1e3-1e4: their difference carries absolute rounding error ~1e-12
    np.testing.assert_allclose(got, en.pseudo_likelihood(X, W, b, c, random_state=3),
                               rtol=1e-9, atol=1e-8)


def test_score_samples_of_float32_model_is_float32_and_correct():
    W, b, c = en.random_model(6, 4, scale=1.0, seed=33)
    est = fitted_rbm(6, 4, W, b, c, dtype=np.float32)
    est.set_params(random_state=5)
    W32, b32, c32 = en.model_arrays(est)
    X = _binary_rows(200, 6, seed=3).astype(np.float32)
    got = est.score_samples(X)
    assert got.dtype == np.float32
    # float32 free energies of magnitude ~5 carry ~1e-6 absolute error; times V=6
    np.testing.assert_allclose(got, en.pseudo_likelihood(X, W32, b32, c32, random_state=5),
                               rtol=1e-5, atol=1e-4)


def test_score_samples_of_gaussian_model_is_minus_free_energy():
    W, b, c = en.random_model(3, 4, scale=1.0, seed=34)
    est = fitted_rbm(3, 4, W, b, c, visible="gaussian")
    X = np.random.default_rng(4).normal(size=(20, 3))
    np.testing.assert_allclose(est.score_samples(X),
                               en.log_unnormalised_gaussian_enumerated(X, W, b, c),
                               rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# 7. transform and reconstruct
# ---------------------------------------------------------------------------------------------
def test_transform_equals_hidden_conditional_means():
    W, b, c = en.random_model(7, 5, scale=1.0, seed=41)
    est = fitted_rbm(7, 5, W, b, c)
    X = np.random.default_rng(5).normal(size=(30, 7))
    got = est.transform(X)
    assert got.shape == (30, 5) and got.dtype == np.float64
    np.testing.assert_allclose(got, 1.0 / (1.0 + np.exp(-(X @ W.T + c))), rtol=1e-12, atol=1e-15)


def test_reconstruct_equals_mean_field_formula_binary():
    W, b, c = en.random_model(7, 5, scale=1.0, seed=42)
    est = fitted_rbm(7, 5, W, b, c)
    X = _binary_rows(30, 7, seed=6)
    ph = 1.0 / (1.0 + np.exp(-(X @ W.T + c)))
    expected = 1.0 / (1.0 + np.exp(-(ph @ W + b)))  # sigmoid(b + W^T sigmoid(c + W x))
    got = est.reconstruct(X)
    assert got.shape == X.shape
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)


def test_reconstruct_and_transform_of_gaussian_model():
    W, b, c = en.random_model(4, 5, scale=1.0, seed=43)
    est = fitted_rbm(4, 5, W, b, c, visible="gaussian")
    X = np.random.default_rng(7).normal(size=(25, 4))
    ph = 1.0 / (1.0 + np.exp(-(X @ W.T + c)))
    np.testing.assert_allclose(est.transform(X), ph, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(est.reconstruct(X), ph @ W + b, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# 8. agreement with scikit-learn's BernoulliRBM
# ---------------------------------------------------------------------------------------------
def test_matches_sklearn_bernoulli_rbm_with_the_same_parameters():
    W, b, c = en.random_model(10, 6, scale=1.0, seed=51)
    X = _binary_rows(150, 10, seed=8)
    ours = fitted_rbm(10, 6, W, b, c)
    theirs = BernoulliRBM(n_components=6, n_iter=1, random_state=0).fit(X)
    theirs.components_ = W.copy()
    theirs.intercept_visible_ = b.copy()
    theirs.intercept_hidden_ = c.copy()
    ours.set_params(random_state=13)
    theirs.set_params(random_state=13)
    np.testing.assert_allclose(ours.transform(X), theirs.transform(X), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(ours.score_samples(X), theirs.score_samples(X), rtol=1e-12,
                               atol=1e-12)
    np.testing.assert_allclose(ours.free_energy(X), theirs._free_energy(X), rtol=1e-12,
                               atol=1e-12)
