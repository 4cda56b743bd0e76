"""Independent brute-force references for small RBMs, in plain NumPy.

Nothing here imports pydbn: every quantity is computed from the energy function written out in
the API spec, by enumerating states, so the tests compare the C core against an obvious and slow
computation rather than against itself.

Conventions (the spec's):
    W : (n_hidden, n_visible)   b : (n_visible,) visible bias   c : (n_hidden,) hidden bias
    binary  E(v, h) = -b.v - c.h - h^T W v
    gaussian E(v, h) = ||v - b||^2 / 2 - c.h - h^T W v
States of n units are enumerated by `binary_states(n)`; `state_index` maps binary rows back to
their position in that enumeration.
"""

import numpy as np
from scipy.special import expit, logsumexp

__all__ = [
    "binary_states",
    "state_index",
    "random_model",
    "set_model",
    "model_arrays",
    "joint_energy",
    "log_partition_joint",
    "free_energy_enumerated",
    "free_energy_formula",
    "free_energy_gaussian_formula",
    "log_partition_gaussian",
    "log_unnormalised_gaussian_enumerated",
    "p_visible",
    "p_hidden",
    "conditional_hidden_table",
    "conditional_visible_table",
    "gibbs_kernel",
    "exact_gradient",
    "cd_k_expected_gradient",
    "sample_hidden_marginal",
    "tv_distance",
    "tv_bound",
    "tv_false_alarm_probability",
    "empirical_distribution",
    "pseudo_likelihood",
]


# ---------------------------------------------------------------------------------------------
# states and models
# ---------------------------------------------------------------------------------------------
def binary_states(n):
    """All 2**n binary vectors of length n as float64 rows; row i is the binary expansion of i
    with the first unit as the most significant bit."""
    idx = np.arange(2**n, dtype=np.int64)[:, None]
    shifts = np.arange(n - 1, -1, -1, dtype=np.int64)[None, :]
    return ((idx >> shifts) & 1).astype(np.float64)


def state_index(X):
    """Index into binary_states(n) of each binary row of X."""
    X = np.asarray(X)
    n = X.shape[1]
    weights = 2 ** np.arange(n - 1, -1, -1, dtype=np.int64)
    return (np.rint(X).astype(np.int64) * weights).sum(axis=1)


def random_model(n_visible, n_hidden, *, scale=1.0, bias_scale=0.5, seed=0):
    """W ~ N(0, scale^2), b, c ~ N(0, bias_scale^2), float64."""
    rng = np.random.default_rng(seed)
    W = rng.normal(0.0, scale, (n_hidden, n_visible))
    b = rng.normal(0.0, bias_scale, n_visible)
    c = rng.normal(0.0, bias_scale, n_hidden)
    return W, b, c


def set_model(est, W, b, c):
    """Overwrite the parameters of a fitted estimator in place, keeping its arrays and dtype."""
    for name, value in (
        ("components_", W),
        ("intercept_visible_", b),
        ("intercept_hidden_", c),
    ):
        target = getattr(est, name)
        assert target.shape == np.shape(value), (name, target.shape, np.shape(value))
        np.copyto(target, np.asarray(value, dtype=np.float64), casting="unsafe")
    return est


def model_arrays(est):
    """(W, b, c) of an estimator as float64 copies."""
    return (
        np.array(est.components_, dtype=np.float64),
        np.array(est.intercept_visible_, dtype=np.float64),
        np.array(est.intercept_hidden_, dtype=np.float64),
    )


# ---------------------------------------------------------------------------------------------
# binary-visible RBM by enumeration
# ---------------------------------------------------------------------------------------------
def joint_energy(V, H, W, b, c):
    """E(v, h) for every pair of rows: (len(V), len(H)) matrix."""
    return -(V @ b)[:, None] - (H @ c)[None, :] - V @ W.T @ H.T


def log_partition_joint(W, b, c):
    """log Z = log sum over ALL (v, h) joint states of exp(-E(v, h)); no marginalisation trick."""
    n_hidden, n_visible = W.shape
    E = joint_energy(binary_states(n_visible), binary_states(n_hidden), W, b, c)
    return float(logsumexp(-E))


def free_energy_enumerated(X, W, b, c):
    """F(x) = -log sum_h exp(-E(x, h)), summing over all hidden states explicitly."""
    X = np.asarray(X, dtype=np.float64)
    H = binary_states(W.shape[0])
    return -logsumexp(-joint_energy(X, H, W, b, c), axis=1)


def free_energy_formula(X, W, b, c):
    """F(x) = -b.x - sum_j softplus(c_j + W_j.x), evaluated stably with logaddexp."""
    X = np.asarray(X, dtype=np.float64)
    return -(X @ b) - np.logaddexp(0.0, X @ W.T + c).sum(axis=1)


def p_visible(W, b, c):
    """p(v) over binary_states(n_visible), by summing the joint table over h."""
    n_hidden, n_visible = W.shape
    logp = -joint_energy(binary_states(n_visible), binary_states(n_hidden), W, b, c)
    logp -= logsumexp(logp)
    return np.exp(logp).sum(axis=1)


def p_hidden(W, b, c):
    """p(h) over binary_states(n_hidden), by summing the joint table over v."""
    n_hidden, n_visible = W.shape
    logp = -joint_energy(binary_states(n_visible), binary_states(n_hidden), W, b, c)
    logp -= logsumexp(logp)
    return np.exp(logp).sum(axis=0)


def _bernoulli_table(mean, states):
    """P(states | mean): rows of `mean` (n, d) against every row of `states` (S, d)."""
    # product over units of mean^s (1-mean)^(1-s)
    log_on = np.log(np.clip(mean, 1e-300, None))
    log_off = np.log(np.clip(1.0 - mean, 1e-300, None))
    return np.exp(log_on @ states.T + log_off @ (1.0 - states).T)


def conditional_hidden_table(W, b, c, V=None):
    """P(h | v) as a (len(V), 2**n_hidden) table; V defaults to all visible states."""
    if V is None:
        V = binary_states(W.shape[1])
    return _bernoulli_table(expit(V @ W.T + c), binary_states(W.shape[0]))


def conditional_visible_table(W, b, c):
    """P(v | h) as a (2**n_hidden, 2**n_visible) table."""
    H = binary_states(W.shape[0])
    return _bernoulli_table(expit(H @ W + b), binary_states(W.shape[1]))


def gibbs_kernel(W, b, c):
    """One Gibbs sweep v -> h -> v' as a (2**V, 2**V) row-stochastic matrix."""
    return conditional_hidden_table(W, b, c) @ conditional_visible_table(W, b, c)


def exact_gradient(X, W, b, c):
    """Exact gradient of the mean log-likelihood of the rows of X.

    dW = mean_data[p(h|v) v^T] - E_model[h v^T]; db = mean_data[v] - E_model[v];
    dc = mean_data[p(h|v)] - E_model[h].  The model expectations sum the joint table.
    """
    X = np.asarray(X, dtype=np.float64)
    n_hidden, n_visible = W.shape
    Vs, Hs = binary_states(n_visible), binary_states(n_hidden)
    logp = -joint_energy(Vs, Hs, W, b, c)
    P = np.exp(logp - logsumexp(logp))  # p(v, h)
    ph_data = expit(X @ W.T + c)
    dW = ph_data.T @ X / len(X) - Hs.T @ P.T @ Vs
    db = X.mean(axis=0) - P.sum(axis=1) @ Vs
    dc = ph_data.mean(axis=0) - P.sum(axis=0) @ Hs
    return dW, db, dc


def cd_k_expected_gradient(X, W, b, c, k):
    """Expected CD-k update direction (per unit learning rate).

    Chains start at the data rows v0, run k Gibbs sweeps v -> h -> v, and the negative statistics
    are p(h|v_k) v_k^T.  The distribution of v_k is the data distribution times kernel^k.
    """
    X = np.asarray(X, dtype=np.float64)
    n_visible = W.shape[1]
    Vs = binary_states(n_visible)
    start = np.bincount(state_index(X), minlength=2**n_visible) / len(X)
    dist = start @ np.linalg.matrix_power(gibbs_kernel(W, b, c), k)
    ph_states = expit(Vs @ W.T + c)
    ph_data = expit(X @ W.T + c)
    dW = ph_data.T @ X / len(X) - (ph_states * dist[:, None]).T @ Vs
    db = X.mean(axis=0) - dist @ Vs
    dc = ph_data.mean(axis=0) - dist @ ph_states
    return dW, db, dc


def sample_hidden_marginal(W, b, c, n, seed):
    """n exact independent draws of h from the model's marginal p(h), as float64 0/1 rows."""
    p = p_hidden(W, b, c)
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(p), size=n, p=p / p.sum())
    return binary_states(W.shape[0])[idx]


def pseudo_likelihood(X, W, b, c, random_state):
    """scikit-learn's BernoulliRBM.score_samples, written out: flip one bit per row chosen by
    np.random.RandomState(random_state).randint(0, V, n); return -V * softplus(-(F(v') - F(v)))."""
    X = np.asarray(X, dtype=np.float64)
    n, n_visible = X.shape
    flip = np.random.RandomState(random_state).randint(0, n_visible, n)
    Xf = X.copy()
    rows = np.arange(n)
    Xf[rows, flip] = 1.0 - Xf[rows, flip]
    dF = free_energy_formula(Xf, W, b, c) - free_energy_formula(X, W, b, c)
    return -n_visible * np.logaddexp(0.0, -dF)


# ---------------------------------------------------------------------------------------------
# gaussian-visible RBM (unit variance)
# ---------------------------------------------------------------------------------------------
def free_energy_gaussian_formula(X, W, b, c):
    """F(x) = ||x - b||^2 / 2 - sum_j softplus(c_j + W_j.x)."""
    X = np.asarray(X, dtype=np.float64)
    return 0.5 * ((X - b) ** 2).sum(axis=1) - np.logaddexp(0.0, X @ W.T + c).sum(axis=1)


def log_partition_gaussian(W, b, c):
    """log Z by enumerating h and integrating v in closed form.

    For fixed h, with a = W^T h:  -||v-b||^2/2 + a.v = -||v-(b+a)||^2/2 + (||b+a||^2-||b||^2)/2,
    so the v-integral is (2 pi)^(V/2) exp((||b+a||^2 - ||b||^2)/2).
    """
    n_hidden, n_visible = W.shape
    H = binary_states(n_hidden)
    A = H @ W + b
    log_terms = H @ c + 0.5 * ((A**2).sum(axis=1) - b @ b)
    return float(0.5 * n_visible * np.log(2 * np.pi) + logsumexp(log_terms))


def log_unnormalised_gaussian_enumerated(X, W, b, c):
    """log sum_h exp(-E(x, h)) for the gaussian model, summing h explicitly."""
    X = np.asarray(X, dtype=np.float64)
    H = binary_states(W.shape[0])
    neg_E = -0.5 * ((X - b) ** 2).sum(axis=1)[:, None] + (H @ c)[None, :] + X @ W.T @ H.T
    return logsumexp(neg_E, axis=1)


# ---------------------------------------------------------------------------------------------
# statistics
# ---------------------------------------------------------------------------------------------
def empirical_distribution(samples, n_units):
    """Frequencies of the binary rows of `samples` over binary_states(n_units)."""
    samples = np.asarray(samples)
    assert np.all((samples == 0) | (samples == 1)), "samples are not binary states"
    return np.bincount(state_index(samples), minlength=2**n_units) / len(samples)


def tv_distance(p, q):
    return 0.5 * float(np.abs(np.asarray(p) - np.asarray(q)).sum())


def tv_bound(p, n, factor=4.0):
    """Bound for the total-variation distance between p and the empirical distribution of n iid
    draws from p.  E[TV] <= B0 = 0.5 * sum_i sqrt(p_i (1 - p_i) / n) (Jensen on each
    |count_i/n - p_i|); the bound is factor * B0.  TV changes by at most 1/n when one draw
    changes, so by McDiarmid P(TV > factor * B0) <= exp(-2 n ((factor - 1) B0)^2), which
    `tv_false_alarm_probability` evaluates so a test can assert its own bound is safe."""
    p = np.asarray(p, dtype=np.float64)
    return factor * 0.5 * float(np.sqrt(p * (1.0 - p) / n).sum())


def tv_false_alarm_probability(p, n, factor=4.0):
    """McDiarmid bound on P(TV(empirical, p) > tv_bound(p, n, factor)) for n iid draws."""
    b0 = tv_bound(p, n, factor=1.0)
    return float(np.exp(-2.0 * n * ((factor - 1.0) * b0) ** 2))
