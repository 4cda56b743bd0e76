"""pydbn.DBN against exact, independent computations on networks small enough to enumerate.

Every reference value comes from tests/_enumerate_dbn.py (or is written out below) in plain
NumPy from the model of survey text 004, Sec. 3 (Eq. 19-24): the top two layers an RBM (with
an optional one-hot label group as its last visible units), every layer below a directed
sigmoid layer, recognition by the up-pass. Nothing is copied from the implementation's output.
Statistical tests use fixed seeds and state how their tolerance follows from the sample size.

Parameters are set by fitting a tiny network for one epoch (to create the fitted arrays) and
overwriting its arrays in place with random values.
"""

import numpy as np
import pytest
from scipy import stats
from scipy.special import expit, logsumexp, softmax

from pydbn import DBN, _core

try:  # tests/ may or may not be a package
    from . import _enumerate as en
    from . import _enumerate_dbn as ed
except ImportError:  # pragma: no cover - depends on how pytest imports the tests
    import _enumerate as en
    import _enumerate_dbn as ed


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
def _hidden_sizes(net):
    return tuple(net.sizes[1:]) + (len(net.c),)


def set_net(dbn, net):
    """Overwrite the parameters of a fitted DBN in place with those of `net` (keeping every
    array, its shape and dtype: the core borrows them)."""
    assert len(dbn.rbms_) == net.D + 1

    def put(target, value):
        assert target.shape == np.shape(value), (target.shape, np.shape(value))
        assert target.dtype == np.float64
        target[...] = value

    for k in range(net.D):
        r = dbn.rbms_[k]
        put(r.components_, net.gen_W[k])
        put(r.intercept_visible_, net.gen_b[k])
        put(dbn.recognition_weights_[k], net.rec_W[k])
        put(dbn.recognition_intercepts_[k], net.rec_b[k])
        # a directed layer's RBM hidden bias is not a parameter of the DBN: give it a decoy
        # value, so that using it instead of recognition_intercepts_ shows up
        put(r.intercept_hidden_, net.rec_b[k] + 3.0)
    top = dbn.rbms_[-1]
    assert top._n_labels == net.n_labels
    put(top.components_, net.W)
    put(top.intercept_visible_, net.b)
    put(top.intercept_hidden_, net.c)
    return dbn


def fitted_dbn(net, *, classes=None, n_rows=40, seed=0, **params):
    """A DBN with the structure of `net`, fitted for one epoch on random data (labels from
    `classes` when the net has label units), then given the parameters of `net`."""
    rng = np.random.default_rng(seed)
    n0 = net.sizes[0]
    if net.gaussian:
        X = rng.normal(size=(n_rows, n0))
    else:
        X = (rng.random((n_rows, n0)) < 0.5).astype(np.float64)
    y = None
    if net.n_labels:
        classes = np.arange(net.n_labels) if classes is None else np.asarray(classes)
        assert len(classes) == net.n_labels
        y = classes[rng.permutation(np.arange(n_rows) % net.n_labels)]
    params.setdefault("n_iter", 1)
    params.setdefault("random_state", 0)
    params.setdefault("learning_rate", 0.01)
    params.setdefault("batch_size", 10)
    dbn = DBN(hidden_layer_sizes=_hidden_sizes(net),
              visible="gaussian" if net.gaussian else "bernoulli", **params).fit(X, y)
    return set_net(dbn, net)


def binary_rows(n, n_features, seed):
    return (np.random.default_rng(seed).random((n, n_features)) < 0.5).astype(np.float64)


# Networks the exact tests run on: (n_features, hidden_layer_sizes, n_labels, gaussian).
# Two hidden layers = one directed layer under the top RBM; three = two directed layers.
NETS = [
    pytest.param(5, (3, 4), 0, False, id="2layers"),
    pytest.param(5, (3, 4), 3, False, id="2layers-labels"),
    pytest.param(4, (3, 2, 3), 0, False, id="3layers"),
    pytest.param(4, (3, 2, 3), 2, False, id="3layers-labels"),
    pytest.param(3, (2, 3), 0, True, id="2layers-gaussian"),
    pytest.param(3, (2, 2, 3), 2, True, id="3layers-labels-gaussian"),
]


def _test_inputs(net, seed):
    if net.gaussian:
        # rows around the model's means and in the tails
        return np.random.default_rng(seed).normal(size=(25, net.sizes[0])) * 2.0
    return en.binary_states(net.sizes[0])


# ---------------------------------------------------------------------------------------------
# 1. exact log-likelihood
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("n_features, hidden, n_labels, gaussian", NETS)
def test_exact_log_likelihood_equals_enumerated_marginal_and_normalises(n_features, hidden,
                                                                        n_labels, gaussian):
    # untied recognition weights: log p(v) is a property of the generative model alone, so the
    # recognition parameters must not enter it
    net = ed.random_net(n_features, hidden, n_labels=n_labels, gaussian=gaussian, scale=1.5,
                        tied=False, seed=len(hidden) * 10 + n_labels)
    dbn = fitted_dbn(net)
    V = _test_inputs(net, seed=1)
    expected = ed.log_p(V, net)  # sum over every (h_1..h_D) and every top-RBM state
    got = dbn.log_likelihood(V, method="exact")
    assert got.shape == (len(V),) and got.dtype == np.float64
    # float64 sums of <= 2^10 terms of size O(10): rounding error ~1e-13
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)
    if not gaussian:
        # a distribution over the 2^n binary vectors
        assert np.exp(got).sum() == pytest.approx(1.0, abs=1e-10)
    # log Z given explicitly gives the same values; a different log Z shifts them all
    log_z = ed.top_log_z(net)
    np.testing.assert_allclose(dbn.log_likelihood(V, method="exact", log_z=log_z), expected,
                               rtol=0, atol=1e-9)
    np.testing.assert_allclose(dbn.log_likelihood(V, method="exact", log_z=log_z + 1.0),
                               expected - 1.0, rtol=0, atol=1e-9)
    # test power: the recognition parameters (here untied) do not stand in for the generative
    # ones; with the generative weights replaced by the recognition ones log p changes
    swapped = ed.Net(net.sizes, net.rec_W, net.gen_b, net.rec_W, net.rec_b, net.W, net.b,
                     net.c, net.n_labels, net.gaussian)
    assert np.abs(ed.log_p(V, swapped) - expected).max() > 1e-2


def test_gaussian_exact_density_integrates_to_one():
    # one Gaussian visible unit under two hidden layers: p(v) is a mixture of 2^2 unit
    # Gaussians with means within a few units of 0; a Riemann sum with step 0.01 on [-40, 40]
    # integrates such a smooth density to ~1e-12 (error ~ exp(-2 pi^2 / step^2) + tails)
    net = ed.random_net(1, (2, 2, 3), gaussian=True, scale=1.0, seed=3)
    dbn = fitted_dbn(net)
    step = 0.01
    grid = np.arange(-40.0, 40.0 + step / 2, step)[:, None]
    log_p = dbn.log_likelihood(grid, method="exact")
    np.testing.assert_allclose(log_p, ed.log_p(grid, net), rtol=0, atol=1e-9)
    assert logsumexp(log_p) + np.log(step) == pytest.approx(0.0, abs=1e-9)


def test_exact_refuses_more_hidden_states_than_max_bits():
    net = ed.random_net(4, (3, 2, 3), seed=4)
    dbn = fitted_dbn(net)
    V = en.binary_states(4)
    # 5 directed hidden units: 2^5 configurations
    np.testing.assert_allclose(dbn.log_likelihood(V, "exact", max_bits=5), ed.log_p(V, net),
                               rtol=0, atol=1e-9)
    with pytest.raises(ValueError):
        dbn.log_likelihood(V, "exact", max_bits=4)
    with pytest.raises(ValueError):
        dbn.lower_bound(V, "exact", max_bits=4)


@pytest.mark.parametrize("n_labels", [0, 3])
def test_single_layer_dbn_is_its_rbm_with_labels_summed_out(n_labels):
    # hidden_layer_sizes=(4,): no directed layer, p(v) = sum_y p_top(v, y); the bound is log p
    net = ed.random_net(5, (4,), n_labels=n_labels, scale=1.5, seed=15)
    dbn = fitted_dbn(net)
    V = en.binary_states(5)
    expected = logsumexp(ed.top_log_unnormalised_by_label(V, net), axis=1) - ed.top_log_z(net)
    got = dbn.log_likelihood(V, method="exact")
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)
    assert np.exp(got).sum() == pytest.approx(1.0, abs=1e-10)
    np.testing.assert_allclose(dbn.lower_bound(V, method="exact"), expected, rtol=0, atol=1e-9)


# ---------------------------------------------------------------------------------------------
# 2. exact variational bound
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("n_features, hidden, n_labels, gaussian", NETS)
def test_exact_lower_bound_gap_equals_kl_of_recognition_to_true_posterior(n_features, hidden,
                                                                          n_labels, gaussian):
    # untied recognition: q(h | v) is far from p(h | v), so the gap log p - bound is large
    net = ed.random_net(n_features, hidden, n_labels=n_labels, gaussian=gaussian, scale=1.5,
                        tied=False, seed=len(hidden) * 10 + n_labels + 1)
    dbn = fitted_dbn(net)
    V = _test_inputs(net, seed=2)
    log_p = dbn.log_likelihood(V, method="exact")
    bound = dbn.lower_bound(V, method="exact")
    assert bound.shape == (len(V),) and bound.dtype == np.float64
    kl = ed.kl_q_posterior(V, net)  # sum_h q log(q / p(h|v)), q the product up the stack
    np.testing.assert_allclose(bound, ed.variational_bound(V, net), rtol=0, atol=1e-9)
    np.testing.assert_allclose(log_p - bound, kl, rtol=0, atol=1e-9)
    assert np.all(bound <= log_p + 1e-12)
    assert kl.min() > 1e-3 and kl.mean() > 0.1  # the gap is clearly there
    # return_std gives zeros for the exact bound
    b2, se = dbn.lower_bound(V, method="exact", return_std=True)
    np.testing.assert_array_equal(b2, bound)
    np.testing.assert_array_equal(se, np.zeros(len(V)))


def test_exact_lower_bound_with_tied_weights_is_below_log_p_by_the_kl():
    # greedy (tied) recognition: still only a bound, the gap still the KL
    net = ed.random_net(5, (3, 2, 3), n_labels=2, scale=1.5, tied=True, seed=5)
    dbn = fitted_dbn(net)
    V = en.binary_states(5)
    log_p = dbn.log_likelihood(V, method="exact")
    bound = dbn.lower_bound(V, method="exact")
    np.testing.assert_allclose(log_p - bound, ed.kl_q_posterior(V, net), rtol=0, atol=1e-9)
    assert np.all(bound <= log_p + 1e-12)


# ---------------------------------------------------------------------------------------------
# 3. the sampled bound
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("n_labels, gaussian", [(0, False), (2, False), (2, True)])
def test_sampled_lower_bound_is_unbiased_with_calibrated_standard_errors(n_labels, gaussian):
    net = ed.random_net(5, (3, 2, 3), n_labels=n_labels, gaussian=gaussian, scale=1.5,
                        tied=False, seed=6)
    dbn = fitted_dbn(net)
    V = (np.random.default_rng(5).normal(size=(32, 5)) * 1.5 if gaussian
         else en.binary_states(5))  # 32 rows
    log_z = ed.top_log_z(net)
    exact = ed.variational_bound(V, net)
    # the estimator averages N draws of a term whose q-mean is the bound (each layer's entropy
    # exact given the sampled layer below); its exact q-variance gives the true standard error
    term = ed.sampled_bound_term(V, net)
    q = np.exp(ed.log_q(V, net))
    mean = (q * term).sum(axis=1)
    np.testing.assert_allclose(mean, exact, rtol=0, atol=1e-9)
    var = (q * (term - mean[:, None]) ** 2).sum(axis=1)
    kurt = (q * (term - mean[:, None]) ** 4).sum(axis=1) / var**2
    # test power: the bound is distinguishable from log p(v) at these sample sizes
    gap = ed.log_p(V, net) - exact
    assert np.all(gap > 4 * np.sqrt(var / 400))
    chi2_limit = stats.chi2.ppf(1 - 1e-4, df=len(V))
    for N, seed in [(400, 0), (1600, 1)]:
        est, se = dbn.lower_bound(V, "ais", log_z=log_z, n_samples=N, random_state=seed,
                                  return_std=True)
        assert est.shape == se.shape == (len(V),)
        true_se = np.sqrt(var / N)
        z = (est - exact) / true_se
        # every row within 4 standard errors, and jointly: sum z^2 ~ chi^2(32)
        assert np.abs(z).max() < 4.0, z
        assert (z**2).sum() < chi2_limit
        # the reported error is the sample std / sqrt(N): relative error of a sample std is
        # ~ sqrt((kurtosis - 1) / (4 N)); allow 5 of those (so it scales as 1 / sqrt(N))
        rel_tol = 5 * np.sqrt((kurt - 1) / (4 * N))
        np.testing.assert_array_less(np.abs(se / true_se - 1), rel_tol)
    # log_likelihood(method='ais') is this bound
    a = dbn.log_likelihood(V, "ais", log_z=log_z, n_samples=50, random_state=3)
    b = dbn.lower_bound(V, "ais", log_z=log_z, n_samples=50, random_state=3)
    np.testing.assert_array_equal(a, b)


def test_sampled_lower_bound_with_one_draw_per_row_averages_to_the_bound():
    # n_samples=1 and many copies of one row: each estimate is a single term; their average
    # has standard error sqrt(var / copies)
    net = ed.random_net(4, (3, 2, 3), scale=1.5, tied=False, seed=7)
    dbn = fitted_dbn(net)
    v = en.binary_states(4)[[6]]
    copies = 20_000
    est = dbn.lower_bound(np.repeat(v, copies, axis=0), "ais", log_z=ed.top_log_z(net),
                          n_samples=1, random_state=0)
    term = ed.sampled_bound_term(v, net)[0]
    q = np.exp(ed.log_q(v, net))[0]
    mean = q @ term
    sd = np.sqrt(q @ (term - mean) ** 2)
    kurt = q @ (term - mean) ** 4 / sd**4
    assert len(np.unique(est)) > 4  # independent draws, not one draw repeated
    assert abs(est.mean() - mean) < 4 * sd / np.sqrt(copies)
    # relative error of a sample std ~ sqrt((kurtosis - 1) / (4 n)); 5 of those
    assert est.std() == pytest.approx(sd, rel=5 * np.sqrt((kurt - 1) / (4 * copies)))


# ---------------------------------------------------------------------------------------------
# 4. log partition function
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("hidden, n_labels", [((3, 4), 0), ((3, 4), 3), ((4, 2, 5), 2)])
def test_log_partition_exact_enumerates_the_top_rbm_with_its_label_group(hidden, n_labels):
    net = ed.random_net(5, hidden, n_labels=n_labels, scale=1.5, seed=8)
    dbn = fitted_dbn(net)
    expected = ed.top_log_z(net)  # all (h_{L-1}, one-hot y, u) joint states
    got = dbn.log_partition("exact")
    assert isinstance(got, float)
    assert got == pytest.approx(expected, rel=1e-12, abs=1e-10)
    if n_labels:
        # test power: the label group counts only one-hot states (2^n_labels would differ)
        W, b, c = net.W, net.b, net.c
        all_states = en.log_partition_joint(W, b, c)
        assert abs(all_states - expected) > 0.1


def test_log_partition_ais_is_close_to_exact():
    net = ed.random_net(5, (3, 6), n_labels=3, scale=1.0, seed=9)
    dbn = fitted_dbn(net)
    exact = ed.top_log_z(net)
    log_z, std = dbn.log_partition("ais", n_chains=100, n_betas=5000, random_state=0,
                                   return_std=True)
    # a 4 + 3-unit visible layer, 6 hidden: AIS with 100 chains and 5000 temperatures lands
    # within ~0.005 nats (its reported standard error ~0.006 on this model, over seeds). Within
    # 0.05 nats and 4 reported standard errors: a base-model log Z that mishandled the label
    # group (log 3 = 1.1 nats for the softmax vs 3 free units) would be far off.
    assert 0 < std < 0.05
    assert abs(log_z - exact) < 0.05
    assert abs(log_z - exact) < 4 * std


# ---------------------------------------------------------------------------------------------
# 5. sampling
# ---------------------------------------------------------------------------------------------
SAMPLE_N = 20_000
N_GIBBS = 30


def _assert_mixed(kernel, n_steps, target):
    """Every start state's distribution after n_steps sweeps is within 1e-6 of target."""
    T = np.linalg.matrix_power(kernel, n_steps)
    assert 0.5 * np.abs(T - target).sum(axis=1).max() < 1e-6


@pytest.mark.parametrize("hidden, n_labels", [((3, 4), 0), ((3, 2, 3), 0), ((3, 2, 3), 3)])
def test_sample_draws_from_the_enumerated_network_distribution(hidden, n_labels):
    net = ed.random_net(5, hidden, n_labels=n_labels, scale=1.0, tied=False, seed=10)
    dbn = fitted_dbn(net)
    p = np.exp(ed.log_p(en.binary_states(5), net))
    assert p.sum() == pytest.approx(1.0, abs=1e-12)
    # the top RBM's Gibbs chain (labels free) reaches its stationary distribution p_top from any
    # start within N_GIBBS sweeps, so the ancestral pass below then draws from p(v) exactly
    Ttop, _, _ = ed.top_visible_states(net.sizes[-1], n_labels)
    p_top = np.exp(ed.top_log_unnormalised(Ttop, net) - ed.top_log_z(net))
    _assert_mixed(ed.top_gibbs_kernel(net), N_GIBBS, p_top)
    S = dbn.sample(SAMPLE_N, n_gibbs=N_GIBBS, random_state=0)
    assert S.shape == (SAMPLE_N, 5) and S.dtype == np.float64
    emp = en.empirical_distribution(S, 5)  # also asserts 0/1 rows
    assert en.tv_false_alarm_probability(p, SAMPLE_N) < 1e-4
    assert en.tv_distance(emp, p) < en.tv_bound(p, SAMPLE_N)
    # test power: using the recognition weights generatively gives a distribution far outside
    # the bound (these tiny networks mix within a few sweeps and their p(v) is fairly flat, so
    # an ancestral pass with too few Gibbs steps or mean-field layers would not be told apart)
    swapped = ed.Net(net.sizes, net.rec_W, net.gen_b, net.rec_W, net.rec_b, net.W, net.b,
                     net.c, net.n_labels)
    p_swapped = np.exp(ed.log_p(en.binary_states(5), swapped))
    assert en.tv_distance(p_swapped, p) > 2 * en.tv_bound(p, SAMPLE_N)
    # return_means: p(v | h_1) of the final pass, averaging to the marginals E[v]
    M = dbn.sample(SAMPLE_N, n_gibbs=N_GIBBS, random_state=1, return_means=True)
    assert np.all((M > 0) & (M < 1)) and not np.all((M == 0) | (M == 1))
    # each mean lies in [0, 1]: standard error of the average <= 0.5 / sqrt(N); 5 sigma
    np.testing.assert_allclose(M.mean(axis=0), p @ en.binary_states(5), rtol=0,
                               atol=5 * 0.5 / np.sqrt(SAMPLE_N))


@pytest.mark.parametrize("hidden, check_power", [((4, 4), True), ((3, 2, 3), False)])
def test_class_conditional_sampling_draws_from_enumerated_p_v_given_y(hidden, check_power):
    classes = np.array(["ant", "bee", "cat"])
    net = ed.random_net(5, hidden, n_labels=3, scale=1.5, tied=False, seed=11)
    net.W[:, net.sizes[-1]:] *= 3.0  # strong label weights: distinct class distributions
    dbn = fitted_dbn(net, classes=classes)
    np.testing.assert_array_equal(dbn.classes_, classes)
    V = en.binary_states(5)
    cond = [np.exp(ed.log_p_given_label(V, net, y)) for y in range(3)]
    for y in range(3):
        assert cond[y].sum() == pytest.approx(1.0, abs=1e-12)
        # with the label clamped at y, the chain over h_{L-1} mixes within N_GIBBS sweeps
        Xs = en.binary_states(net.sizes[-1])
        lp = ed.top_log_unnormalised(ed.with_label(Xs, y, 3), net)
        _assert_mixed(ed.top_gibbs_kernel(net, clamp=y), N_GIBBS, np.exp(lp - logsumexp(lp)))
    for y, name in enumerate(classes):
        S = dbn.sample(SAMPLE_N, y=name, n_gibbs=N_GIBBS, random_state=y)
        emp = en.empirical_distribution(S, 5)
        assert en.tv_distance(emp, cond[y]) < en.tv_bound(cond[y], SAMPLE_N)
        if check_power:
            # each class's distribution is outside the others' bounds (through two directed
            # layers the class distributions of these tiny nets are too alike to tell apart)
            for other in range(3):
                if other != y:
                    assert en.tv_distance(cond[other], cond[y]) > 2 * en.tv_bound(cond[y],
                                                                                  SAMPLE_N)
    # one label per sample: the rows with label y follow p(v | y)
    labels = classes[np.arange(3 * SAMPLE_N) % 3]
    S = dbn.sample(3 * SAMPLE_N, y=labels, n_gibbs=N_GIBBS, random_state=7)
    for y, name in enumerate(classes):
        emp = en.empirical_distribution(S[labels == name], 5)
        assert en.tv_distance(emp, cond[y]) < en.tv_bound(cond[y], SAMPLE_N)


def test_gaussian_samples_follow_the_enumerated_mixture():
    # 2 Gaussian visible units: p(v) = sum_{h_1} p(h_1) N(b + h_1 G, I), p(h_1) enumerated
    net = ed.random_net(2, (2, 3), gaussian=True, scale=1.5, seed=16)
    dbn = fitted_dbn(net)
    Ttop, _, _ = ed.top_visible_states(2, 0)
    p_h1 = np.exp(ed.top_log_unnormalised(Ttop, net) - ed.top_log_z(net))
    _assert_mixed(ed.top_gibbs_kernel(net), N_GIBBS, p_h1)
    mu = Ttop @ net.gen_W[0] + net.gen_b[0]  # the mixture's component means
    S = dbn.sample(SAMPLE_N, n_gibbs=N_GIBBS, random_state=0)
    # return_means gives b + h_1 G: the components' means, drawn with the mixture's weights
    M = dbn.sample(SAMPLE_N, n_gibbs=N_GIBBS, random_state=1, return_means=True)
    idx = np.argmin(((M[:, None, :] - mu[None, :, :]) ** 2).sum(axis=2), axis=1)
    np.testing.assert_allclose(M, mu[idx], rtol=0, atol=1e-12)
    freq = np.bincount(idx, minlength=len(mu)) / SAMPLE_N
    assert en.tv_distance(freq, p_h1) < en.tv_bound(p_h1, SAMPLE_N)
    # each coordinate's distribution against the mixture's CDF (Kolmogorov-Smirnov, level 1e-4)
    for i in range(2):
        def cdf(x, i=i):
            return stats.norm.cdf(np.subtract.outer(x, mu[:, i])) @ p_h1
        assert stats.kstest(S[:, i], cdf).pvalue > 1e-4
        # test power: the means without the unit-variance noise are far from it
        assert stats.kstest(M[:, i], cdf).pvalue < 1e-6
    # mixture covariance: I + Cov(h_1 G); a sample covariance entry has sd ~ sqrt(2) var /
    # sqrt(N) for Gaussian data, 2 var / sqrt(N) leaves room for the mixture's tails; 5 sd
    mean = p_h1 @ mu
    cov = np.eye(2) + (mu - mean).T @ ((mu - mean) * p_h1[:, None])
    np.testing.assert_allclose(np.cov(S.T), cov, rtol=0,
                               atol=5 * 2 * cov.max() / np.sqrt(SAMPLE_N))


# ---------------------------------------------------------------------------------------------
# 6. classification and features
# ---------------------------------------------------------------------------------------------
def top_free_energy_by_label(X, net):
    """F(x, y) = -b_x.x - b_y - sum_j softplus(c_j + W_j.x + U_jy), (rows, n_labels)."""
    n_x = net.sizes[-1]
    Wx, U = net.W[:, :n_x], net.W[:, n_x:]
    pre = X @ Wx.T + net.c  # (rows, n_u)
    return np.stack([-(X @ net.b[:n_x]) - net.b[n_x + y]
                     - np.logaddexp(0.0, pre + U[:, y]).sum(axis=1)
                     for y in range(net.n_labels)], axis=1)


@pytest.mark.parametrize("hidden", [(4,), (3, 4), (3, 2, 4)])
def test_predict_proba_is_the_softmax_of_top_free_energies_of_the_up_pass(hidden):
    classes = np.array(["north", "east", "south"])  # sorted: east, north, south
    net = ed.random_net(5, hidden, n_labels=3, scale=3.0, tied=False, seed=12)
    n_x = net.sizes[-1]
    net.W[:, n_x:] *= 0.5  # the label's own weights and biases smaller than the input's, so
    net.b[n_x:] = 0.0  # that the predicted class depends on x
    dbn = fitted_dbn(net, classes=classes)
    sorted_classes = np.array(sorted(classes))
    np.testing.assert_array_equal(dbn.classes_, sorted_classes)
    X = np.vstack([en.binary_states(5), np.random.default_rng(3).random((20, 5))])
    means = ed.up_pass_means(X, net)
    x = means[-1] if means else X  # deterministic up-pass of recognition probabilities
    F = top_free_energy_by_label(x, net)
    # the formula is the free energy: minus log of the enumerated sum over the top hidden units
    np.testing.assert_allclose(-F, ed.top_log_unnormalised_by_label(x, net), rtol=0, atol=1e-10)
    expected = softmax(-F, axis=1)
    proba = dbn.predict_proba(X)
    assert proba.shape == (len(X), 3) and proba.dtype == np.float64
    np.testing.assert_allclose(proba, expected, rtol=1e-10, atol=1e-13)
    pred = dbn.predict(X)
    np.testing.assert_array_equal(pred, sorted_classes[np.argmax(expected, axis=1)])
    assert len(set(pred)) > 1  # the test distinguishes the classes
    assert dbn.score(X, pred) == 1.0
    assert dbn.score(X, sorted_classes[(np.argmax(expected, axis=1) + 1) % 3]) == 0.0
    # test power: with the generative weights in the up-pass the probabilities differ
    if means:
        gen = ed.Net(net.sizes, net.gen_W, net.gen_b, net.gen_W, net.rec_b, net.W, net.b, net.c,
                     net.n_labels)
        alt = softmax(-top_free_energy_by_label(ed.up_pass_means(X, gen)[-1], net), axis=1)
        assert np.abs(alt - expected).max() > 1e-2


@pytest.mark.parametrize("hidden, n_labels", [((4,), 3), ((3, 4), 0), ((3, 4), 3),
                                              ((3, 2, 4), 0), ((3, 2, 4), 2)])
def test_transform_is_the_up_pass_with_labels_summed_out(hidden, n_labels):
    net = ed.random_net(5, hidden, n_labels=n_labels, scale=2.0, tied=False, seed=13)
    dbn = fitted_dbn(net)
    X = np.vstack([en.binary_states(5), np.random.default_rng(4).random((20, 5))])
    means = ed.up_pass_means(X, net)
    x = means[-1] if means else X
    n_x = net.sizes[-1]
    pre = x @ net.W[:, :n_x].T + net.c
    if n_labels:
        p_y = softmax(-top_free_energy_by_label(x, net), axis=1)
        top = sum(p_y[:, [y]] * expit(pre + net.W[:, n_x + y]) for y in range(n_labels))
        # test power: the label-free means differ
        assert np.abs(top - expit(pre)).max() > 1e-2
    else:
        top = expit(pre)
    got = dbn.transform(X)
    assert got.shape == top.shape and got.dtype == np.float64
    np.testing.assert_allclose(got, top, rtol=1e-10, atol=1e-13)
    dbn.set_params(transform_layers="all")
    got_all = dbn.transform(X)
    np.testing.assert_allclose(got_all, np.hstack(means + [top]), rtol=1e-10, atol=1e-13)
    assert got_all.shape == (len(X), sum(hidden))


# ---------------------------------------------------------------------------------------------
# 7. greedy training (Hinton, Osindero & Teh 2006)
# ---------------------------------------------------------------------------------------------
def _prototype_data(n, seed=0):
    """Noisy copies of 4 prototypes over 6 binary units."""
    rng = np.random.default_rng(seed)
    protos = np.array([[1, 1, 1, 0, 0, 0], [0, 0, 0, 1, 1, 1], [1, 0, 1, 0, 1, 0],
                       [0, 1, 0, 1, 0, 1]], dtype=np.float64)
    X = protos[rng.integers(0, 4, n)]
    return np.abs(X - (rng.random(X.shape) < 0.1))


GREEDY_X = _prototype_data(200)
GREEDY_LAYER1 = dict(learning_rate=0.1, n_iter=30, batch_size=10)


def _rbm_params(r):
    return (np.array(r.components_), np.array(r.intercept_visible_),
            np.array(r.intercept_hidden_))


def test_adding_the_transposed_rbm_on_top_keeps_the_likelihood_exactly():
    X = GREEDY_X
    rbm1 = DBN((2,), random_state=0, **GREEDY_LAYER1).fit(X)
    W1, b1, c1 = _rbm_params(rbm1.rbms_[0])
    ll1 = rbm1.log_likelihood(X, "exact")  # a one-layer DBN is the RBM
    np.testing.assert_allclose(ll1, -en.free_energy_formula(X, W1, b1, c1)
                               - en.log_partition_joint(W1, b1, c1), rtol=0, atol=1e-10)
    # a 2-layer DBN whose top RBM is the first RBM turned upside down: W2 = W1', b2 = c1,
    # c2 = b1; tied recognition (W1, c1) is then the exact posterior of the first RBM, and the
    # top RBM's marginal over h_1 is the first RBM's p(h_1): the bound equals log p_RBM(v)
    net = ed.Net((6, 2), [W1], [b1], [W1.copy()], [c1.copy()], W1.T.copy(), c1.copy(),
                 b1.copy())
    dbn = fitted_dbn(net)
    assert dbn.log_partition("exact") == pytest.approx(rbm1.log_partition("exact"), abs=1e-10)
    np.testing.assert_allclose(dbn.lower_bound(X, "exact"), ll1, rtol=0, atol=1e-10)
    np.testing.assert_allclose(dbn.log_likelihood(X, "exact"), ll1, rtol=0, atol=1e-10)
    # test power: the gap is not trivially zero once the recognition weights are perturbed
    dbn.recognition_weights_[0][...] += 0.5
    assert np.all(dbn.lower_bound(X, "exact") < ll1 - 1e-4)


@pytest.mark.parametrize("seed", [0, 2])
def test_greedy_second_layer_raises_the_bound_above_the_rbm_likelihood(seed):
    X = GREEDY_X
    rbm1 = DBN((2,), random_state=seed, **GREEDY_LAYER1).fit(X)
    dbn = DBN((2, 4), learning_rate=[0.1, 0.02], n_iter=[30, 800], batch_size=10,
              propagate="sample", random_state=seed).fit(X)
    # the same first layer (same random_state, same layer-1 settings)
    for a, b in zip(_rbm_params(rbm1.rbms_[0]), _rbm_params(dbn.rbms_[0])):
        np.testing.assert_array_equal(a, b)
    W1, b1, c1 = _rbm_params(rbm1.rbms_[0])
    ll1 = rbm1.log_likelihood(X, "exact")
    bound = dbn.lower_bound(X, "exact")
    # with tied recognition, bound2(v) - log p1(v) = E_{p1(h|v)}[log p2(h) - log p1(h)]; over
    # the data: KL(agg || p1) - KL(agg || p2), agg the aggregated posterior of the first RBM,
    # p1 its marginal over h_1, p2 the top RBM's marginal. An identity, whatever the training
    top = dbn.rbms_[1]
    agg = en.conditional_hidden_table(W1, b1, c1, X).mean(axis=0)
    p1 = en.p_hidden(W1, b1, c1)
    p2 = en.p_visible(*_rbm_params(top))
    kl1 = float(agg @ np.log(agg / p1))
    kl2 = float(agg @ np.log(agg / p2))
    assert bound.mean() - ll1.mean() == pytest.approx(kl1 - kl2, abs=1e-10)
    # the guarantee: training the second RBM on samples of q(h_1 | v) maximizes -KL(agg || p2),
    # and the transposed first RBM (KL(agg || p1)) is one candidate, so a well-trained second
    # layer raises the bound above the RBM's log-likelihood. 800 PCD epochs at lr 0.02 bring
    # KL(agg || p2) to ~0.005 nats on this data (noise of the final PCD iterate); the
    # available improvement kl1 is 0.1 / 0.09 nats for these seeds.
    assert kl1 > 0.05
    assert bound.mean() >= ll1.mean() - 0.01
    assert kl2 < 0.02


@pytest.mark.parametrize("extra", [0, 3])
def test_transposed_layer_init_starts_the_bound_at_the_rbm_likelihood(extra):
    # layer_init='transpose' starts the second RBM as the first one upside down (its first
    # n_features hidden units; any further ones random): before it trains, its marginal over
    # h_1 is the first RBM's own p(h_1), so the bound equals log p_RBM(v) (exactly without
    # extra units; with them, up to their N(0, 0.01) weights)
    X = GREEDY_X
    n = X.shape[1]
    dbn = DBN((2, n + extra), learning_rate=0.1, n_iter=[30, 0], batch_size=10,
              layer_init="transpose", random_state=0).fit(X)
    W1, b1, c1 = _rbm_params(dbn.rbms_[0])
    W2, b2, c2 = _rbm_params(dbn.rbms_[1])
    np.testing.assert_array_equal(W2[:n], W1.T)
    np.testing.assert_array_equal(c2[:n], b1)
    np.testing.assert_array_equal(b2, c1)
    assert np.all(c2[n:] == 0) and (extra == 0 or 0 < np.abs(W2[n:]).max() < 0.1)
    ll1 = DBN((2,), random_state=0, **GREEDY_LAYER1).fit(X).log_likelihood(X, "exact")
    bound = dbn.lower_bound(X, "exact")
    # (3 extra units with weights ~0.01 on 2 binary units: log p2(h) - log p1(h) varies with
    # h by at most sum |W| / 2 ~ 0.03)
    np.testing.assert_allclose(bound, ll1, rtol=0, atol=1e-10 if extra == 0 else 0.03)
    # the random start is not the transposed RBM: its bound is lower, by the KL term
    random = DBN((2, n + extra), learning_rate=0.1, n_iter=[30, 0], batch_size=10,
                 random_state=0).fit(X)
    assert random.lower_bound(X, "exact").mean() < ll1.mean() - 0.05


@pytest.mark.parametrize("seed", [0, 2])
def test_transposed_layer_init_keeps_the_greedy_guarantee_with_short_training(seed):
    # from the transposed start the bound begins at log p_RBM(v) and PCD training of the top
    # RBM on samples of q(h_1 | v) can only climb (up to the noise of its final iterate):
    # 100 epochs suffice where the random start needs 800 (the test above)
    X = GREEDY_X
    rbm1 = DBN((2,), random_state=seed, **GREEDY_LAYER1).fit(X)
    ll1 = rbm1.log_likelihood(X, "exact").mean()
    fits = {init: DBN((2, X.shape[1]), learning_rate=[0.1, 0.02], n_iter=[30, 100],
                      batch_size=10, propagate="sample", layer_init=init,
                      random_state=seed).fit(X) for init in ("random", "transpose")}
    transposed = fits["transpose"].lower_bound(X, "exact").mean()
    assert transposed >= ll1 - 0.01
    assert transposed > fits["random"].lower_bound(X, "exact").mean() + 0.01


@pytest.mark.parametrize("case", ["narrower", "gaussian"])
def test_transposed_layer_init_falls_back_to_random_where_the_prior_is_no_rbm(case):
    X = GREEDY_X
    n = X.shape[1]
    sizes, visible = ((2, n - 1), "bernoulli") if case == "narrower" else ((2, n), "gaussian")
    Xs = X if visible == "bernoulli" else (X - X.mean(0)) / (X.std(0) + 0.1)
    fits = [DBN(sizes, n_iter=[3, 2], batch_size=10, visible=visible, layer_init=init,
                random_state=0).fit(Xs) for init in ("random", "transpose")]
    for a, b in zip(_rbm_params(fits[0].rbms_[1]), _rbm_params(fits[1].rbms_[1])):
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------------------------------
# 8. up-down fine-tuning
# ---------------------------------------------------------------------------------------------
# One up-down epoch over N rows in a single minibatch (N / 6 copies of each of 6 distinct rows).
# The change of each parameter divided by the learning rate is an average over N independent
# wake / top-Gibbs / sleep passes; the enumeration gives its mean and its exact variance, so
# each entry must be within 5 of its own standard errors (~75 entries: false-failure
# probability ~5e-5), plus 1e-9 for the rounding of (after - before) / lr.
UPDOWN_N = 60_000
UPDOWN_LR = 1e-3
UPDOWN_ROWS = np.array([[1, 1, 0, 0, 1], [1, 0, 1, 0, 0], [0, 0, 1, 1, 1], [1, 1, 1, 0, 0],
                        [0, 1, 0, 1, 1], [0, 0, 0, 0, 1]], dtype=np.float64)
UPDOWN_LABELS = np.array([0, 1, 1, 0, 1, 1])


def _snapshot(dbn):
    top = dbn.rbms_[-1]
    return {
        "gen_W": [r.components_.copy() for r in dbn.rbms_[:-1]],
        "gen_b": [r.intercept_visible_.copy() for r in dbn.rbms_[:-1]],
        "rec_W": [w.copy() for w in dbn.recognition_weights_],
        "rec_b": [b.copy() for b in dbn.recognition_intercepts_],
        "W": top.components_.copy(),
        "b": top.intercept_visible_.copy(),
        "c": top.intercept_hidden_.copy(),
    }


def _flat(d):
    """(name, layer) -> array, for dicts of arrays or of lists of arrays."""
    out = {}
    for name, value in d.items():
        for layer, arr in enumerate(value if isinstance(value, list) else [value]):
            out[name, layer] = np.asarray(arr)
    return out


def _updown_step(dbn, X, labels, k, weight_decay):
    before = _flat(_snapshot(dbn))
    _core.dbn_updown_epoch(dbn._model(), X, labels, k=k, batch_size=len(X),
                           learning_rate=UPDOWN_LR, weight_decay=weight_decay, seed=1, epoch=0,
                           check_signals=False)
    after = _flat(_snapshot(dbn))
    return {key: (after[key] - before[key]) / UPDOWN_LR for key in before}, before


def _detectable(alternative, expected, tol):
    """An implementation computing `alternative` would fail: some entry is more than twice
    the tolerance away from the expected value."""
    return bool(np.any(np.abs(alternative - expected) > 2 * tol))


@pytest.mark.parametrize("n_labels, k, weight_decay", [(0, 1, 0.0), (2, 1, 0.0), (2, 3, 0.5)])
def test_updown_update_equals_enumerated_expected_wake_sleep_update(n_labels, k, weight_decay):
    net = ed.random_net(5, (3, 2, 3), n_labels=n_labels, scale=1.0, tied=False, seed=14)
    dbn = fitted_dbn(net)
    reps = UPDOWN_N // len(UPDOWN_ROWS)
    X = np.repeat(UPDOWN_ROWS, reps, axis=0)
    row_labels = UPDOWN_LABELS if n_labels else None
    labels = np.repeat(row_labels, reps).astype(np.int64) if n_labels else None
    mean, var = ed.updown_expected_update(UPDOWN_ROWS, row_labels, net, k)
    mean, var = _flat(mean), _flat(var)
    # the bottom generative layer's expected update written out on its own: the average over
    # the rows of E_{q(h_1 | v)}[h_1^T (v - sigmoid(g + h_1 G))], q factorial over h_1
    H1 = en.binary_states(3)
    q1 = en._bernoulli_table(expit(UPDOWN_ROWS @ net.rec_W[0].T + net.rec_b[0]), H1)
    pred = expit(H1 @ net.gen_W[0] + net.gen_b[0])
    bottom = sum(q1[r, s] * np.outer(H1[s], UPDOWN_ROWS[r] - pred[s])
                 for r in range(len(UPDOWN_ROWS)) for s in range(len(H1))) / len(UPDOWN_ROWS)
    np.testing.assert_allclose(mean["gen_W", 0], bottom, rtol=0, atol=1e-12)
    got, before = _updown_step(dbn, X, labels, k, weight_decay)
    assert set(got) == set(mean)
    # weight decay: the L2 penalty's gradient -weight_decay * W on every weight matrix (not on
    # the biases)
    stat = dict(mean)  # the wake-sleep statistics alone
    for key in mean:
        if key[0] in ("gen_W", "rec_W", "W"):
            mean[key] = stat[key] - weight_decay * before[key]
    tol = {key: 5 * np.sqrt(var[key] / len(X)) + 1e-9 for key in mean}
    for key in mean:
        assert got[key].shape == mean[key].shape
        bad = np.abs(got[key] - mean[key]) > tol[key]
        assert not bad.any(), (key, got[key], mean[key], tol[key])
    # test power. (a) The wake phase samples h ~ q: its mean-field version (h = q's means)
    # gives another bottom generative update.
    m1 = ed.up_pass_means(UPDOWN_ROWS, net)[0]
    mf = m1.T @ (UPDOWN_ROWS - expit(m1 @ net.gen_W[0] + net.gen_b[0])) / len(UPDOWN_ROWS)
    assert _detectable(mf, stat["gen_W", 0], tol["gen_W", 0])
    # (b) the sleep pass starts from the negative-phase states (not from the wake states)
    alt0, _ = ed.updown_expected_update(UPDOWN_ROWS, row_labels, net, 0)
    alt0 = _flat(alt0)
    assert _detectable(alt0["rec_W", 1], stat["rec_W", 1], tol["rec_W", 1])
    # (c) the top RBM's negative phase runs k sweeps: without labels, one more sweep than k = 1
    # would be told apart (with free labels the chain is nearly mixed after one sweep)
    if k == 1 and not n_labels:
        alt2 = _flat(ed.updown_expected_update(UPDOWN_ROWS, row_labels, net, 2)[0])
        assert _detectable(alt2["W", 0], stat["W", 0], tol["W", 0])
    # (e) each row's own label is clamped in the positive phase
    if n_labels:
        alt = _flat(ed.updown_expected_update(UPDOWN_ROWS, 1 - row_labels, net, k)[0])
        assert _detectable(alt["W", 0], stat["W", 0], tol["W", 0])
    # (d) the weight decay is applied
    if weight_decay:
        assert _detectable(stat["rec_W", 0], mean["rec_W", 0], tol["rec_W", 0])
