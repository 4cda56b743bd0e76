"""pydbn.datasets.make_spike_trains: sparse correlated binary spike trains (the stand-in for the
calcium-imaging data of the adversarial DBN text, Sec. 3.3)."""
import numpy as np
import pytest

from pydbn.datasets import make_spike_trains

# A bound this many standard deviations wide fails by chance with probability < 1e-5.
Z = 4.5


def _pairs(groups):
    same = (groups[:, None] == groups[None, :]) & ~np.eye(len(groups), dtype=bool)
    between = groups[:, None] != groups[None, :]
    return same, between


def _sd_of_total(params, n_frames, c):
    """Standard deviation of the total spike count under the model: frames are independent and
    the per-frame count has variance sum_i s_i^2 + c sum_{i != j, same group} s_i s_j."""
    s = np.sqrt(params["rates"] * (1 - params["rates"]))
    var = 0.0
    for g in np.unique(params["groups"]):
        sg = s[params["groups"] == g]
        var += (sg ** 2).sum() + c * (sg.sum() ** 2 - (sg ** 2).sum())
    return np.sqrt(n_frames * var)


def test_shape_dtype_and_binary_values():
    X = make_spike_trains(n_frames=1234, n_neurons=17, n_groups=3, random_state=0)
    assert X.shape == (1234, 17)
    assert X.dtype == np.float64
    assert set(np.unique(X)) <= {0.0, 1.0}
    assert X.sum() > 0


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("rate", [0.01, 0.05])
def test_mean_rate_of_independent_neurons_is_within_binomial_bounds(seed, rate):
    # group_correlation=0: the count of spikes is a sum of independent Bernoulli draws whose
    # mean probability is `rate`, so its spread is at most the Binomial(n, rate) one
    n_frames, n_neurons = 20000, 50
    X = make_spike_trains(n_frames=n_frames, n_neurons=n_neurons, rate=rate,
                          group_correlation=0.0, random_state=seed)
    n = n_frames * n_neurons
    sd = np.sqrt(n * rate * (1 - rate))
    assert abs(X.sum() - n * rate) < Z * sd


@pytest.mark.parametrize("seed", range(4))
def test_mean_rate_of_correlated_groups_is_within_the_model_bounds(seed):
    # with correlated groups the binomial bound widens by the within-group covariances
    n_frames, c, rate = 20000, 0.3, 0.01
    X, params = make_spike_trains(n_frames=n_frames, rate=rate, group_correlation=c,
                                  random_state=seed, return_params=True)
    assert np.mean(params["rates"]) == pytest.approx(rate, rel=1e-12)
    sd = _sd_of_total(params, n_frames, c)
    binomial_sd = np.sqrt(X.size * rate * (1 - rate))
    assert sd > 1.5 * binomial_sd  # the correlations matter for the bound ...
    assert abs(X.sum() - X.size * rate) < Z * sd
    assert abs(X.mean() - rate) < 0.1 * rate  # ... which is still tight: about 1 spike / 100


def test_every_neuron_fires_at_its_rate_within_binomial_bounds():
    n_frames = 30000
    X, params = make_spike_trains(n_frames=n_frames, random_state=1, return_params=True)
    r = params["rates"]
    counts = X.sum(axis=0)
    assert np.all(np.abs(counts - n_frames * r) < Z * np.sqrt(n_frames * r * (1 - r)))
    # the rates spread around `rate` (default rate_spread=0.5: from 0.005 to 0.015)
    assert r.min() == pytest.approx(0.005) and r.max() == pytest.approx(0.015)
    assert np.corrcoef(counts, r)[0, 1] > 0.9


def test_within_group_correlation_is_clearly_above_between_group_correlation():
    c = 0.3
    X, params = make_spike_trains(n_frames=50000, n_neurons=50, n_groups=5,
                                  group_correlation=c, random_state=2, return_params=True)
    C = np.corrcoef(X.T)
    same, between = _pairs(params["groups"])
    # every within-group pair above every between-group pair, the means near c and 0
    assert C[same].min() > C[between].max()
    assert C[same].mean() == pytest.approx(c, abs=0.03)
    assert abs(C[between].mean()) < 0.01
    assert np.abs(C[between]).max() < 0.05


def test_group_correlation_zero_gives_uncorrelated_neurons():
    X, params = make_spike_trains(n_frames=50000, group_correlation=0.0, random_state=3,
                                  return_params=True)
    assert params["event_rate"] == 0.0
    np.testing.assert_array_equal(params["p_on"], params["p_off"])
    C = np.corrcoef(X.T)
    off = ~np.eye(X.shape[1], dtype=bool)
    assert abs(C[off].mean()) < 0.01
    assert np.abs(C[off]).max() < 0.05


@pytest.mark.parametrize("c", [0.1, 0.3, 0.5])
def test_parameters_give_the_requested_rates_and_correlation_exactly(c):
    _, params = make_spike_trains(n_frames=1, group_correlation=c, random_state=4,
                                  return_params=True)
    q, p_on, p_off, r = (params[k] for k in ("event_rate", "p_on", "p_off", "rates"))
    assert 0 < q < 1
    assert np.all((0 <= p_off) & (p_off < p_on) & (p_on <= 1))
    np.testing.assert_allclose(q * p_on + (1 - q) * p_off, r, rtol=1e-12)
    d = p_on - p_off
    s = np.sqrt(r * (1 - r))
    corr = q * (1 - q) * np.outer(d, d) / np.outer(s, s)
    same, _ = _pairs(params["groups"])
    np.testing.assert_allclose(corr[same], c, rtol=1e-9)


def test_groups_are_consecutive_blocks_of_near_equal_size():
    _, params = make_spike_trains(n_frames=1, n_neurons=23, n_groups=4, random_state=0,
                                  return_params=True)
    g = params["groups"]
    assert np.all(np.diff(g) >= 0)
    assert sorted(np.bincount(g).tolist()) == [5, 6, 6, 6]


def test_explicit_event_rate_is_used():
    _, params = make_spike_trains(n_frames=1, event_rate=0.01, random_state=0,
                                  return_params=True)
    assert params["event_rate"] == 0.01


def test_rate_spread_zero_gives_equal_rates_and_one_neuron_works():
    _, params = make_spike_trains(n_frames=1, rate=0.02, rate_spread=0.0, random_state=0,
                                  return_params=True)
    np.testing.assert_allclose(params["rates"], 0.02)
    X = make_spike_trains(n_frames=500, n_neurons=1, n_groups=1, rate=0.1, random_state=0)
    assert X.shape == (500, 1)


def test_reproducible_from_an_int_seed_and_fresh_from_a_random_state():
    a = make_spike_trains(n_frames=3000, random_state=7)
    b = make_spike_trains(n_frames=3000, random_state=7)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, make_spike_trains(n_frames=3000, random_state=8))
    rng = np.random.RandomState(7)
    first = make_spike_trains(n_frames=3000, random_state=rng)
    np.testing.assert_array_equal(first, a)  # an int seeds a RandomState the same way
    assert not np.array_equal(first, make_spike_trains(n_frames=3000, random_state=rng))


@pytest.mark.parametrize("kwargs, error", [
    (dict(n_frames=0), ValueError),
    (dict(n_frames=-5), ValueError),
    (dict(n_frames=10.0), TypeError),
    (dict(n_frames=True), TypeError),
    (dict(n_neurons=0), ValueError),
    (dict(n_neurons="50"), TypeError),
    (dict(rate=0.0), ValueError),
    (dict(rate=1.0), ValueError),
    (dict(rate=-0.1), ValueError),
    (dict(rate=float("nan")), ValueError),
    (dict(rate="0.01"), TypeError),
    (dict(n_groups=0), ValueError),
    (dict(n_groups=51), ValueError),
    (dict(n_groups=2.5), TypeError),
    (dict(group_correlation=-0.1), ValueError),
    (dict(group_correlation=1.0), ValueError),
    (dict(rate_spread=1.0), ValueError),
    (dict(rate_spread=-0.5), ValueError),
    (dict(rate=0.7, rate_spread=0.5), ValueError),   # the top rate would reach 1.05
    (dict(event_rate=0.0), ValueError),
    (dict(event_rate=1.0), ValueError),
    (dict(event_rate=0.5), ValueError),               # outside the feasible interval
    (dict(event_rate=1e-4), ValueError),
    (dict(group_correlation=0.9), ValueError),        # no event rate reaches it
])
def test_argument_errors(kwargs, error):
    with pytest.raises(error):
        make_spike_trains(**{"n_frames": 10, "random_state": 0, **kwargs})


def test_infeasible_correlation_message_names_the_bounds():
    with pytest.raises(ValueError, match="lower group_correlation or rate_spread"):
        make_spike_trains(n_frames=10, group_correlation=0.9)
    # the same correlation is possible with equal rates
    X = make_spike_trains(n_frames=10, group_correlation=0.9, rate_spread=0.0, random_state=0)
    assert X.shape == (10, 50)
