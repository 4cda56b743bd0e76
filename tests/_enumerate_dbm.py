"""Independent brute-force references for tiny deep Boltzmann machines, in plain NumPy.

Nothing here imports pydbn. Every quantity is computed from the energy function of survey text
004, Sec. 4 (Eq. 25-28) and of pydbn.DBM's docstring, by enumerating states, so the tests
compare the C core against an obvious and slow computation rather than against itself.

The model: layers h_0 = v, h_1, ..., h_L, all binary; Ws[k] (n_{k+1} x n_k) joins h_k and
h_{k+1}; bs[k] is the bias of layer k:

    E(h_0, ..., h_L) = - sum_k bs[k] . h_k - sum_{k<L} h_{k+1}' Ws[k] h_k
    p(h_k = 1 | rest) = sigmoid(bs[k] + h_{k-1} Ws[k-1]' + h_{k+1} Ws[k])

A "configuration" of a set of layers is a list with one (n_cfg, n_k) array per layer of the
set. Configurations of several layers are enumerated as binary_states(total units) split into
the layers in order, so `en.state_index` of the concatenated layers is a configuration's index.
The even block is layers 0, 2, 4, ..., the odd block layers 1, 3, ...
"""

import numpy as np
from scipy.special import expit, logsumexp

try:  # tests/ may or may not be a package
    from . import _enumerate as en
except ImportError:  # pragma: no cover
    import _enumerate as en


# ---------------------------------------------------------------------------------------------
# models and states
# ---------------------------------------------------------------------------------------------
def random_dbm(sizes, *, scale=1.0, bias_scale=0.5, seed=0):
    """(Ws, bs) for layer sizes (n_0, ..., n_L): weights ~ N(0, scale^2), biases ~
    N(0, bias_scale^2), float64."""
    rng = np.random.default_rng(seed)
    Ws = [rng.normal(0.0, scale, (sizes[k + 1], sizes[k])) for k in range(len(sizes) - 1)]
    bs = [rng.normal(0.0, bias_scale, n) for n in sizes]
    return Ws, bs


def split_states(sizes):
    """Every joint configuration of layers with the given sizes: a list of (2**sum, n_k)."""
    S = en.binary_states(int(sum(sizes)))
    edges = np.cumsum((0,) + tuple(sizes))
    return [S[:, edges[i]:edges[i + 1]] for i in range(len(sizes))]


def all_states(Ws, bs):
    """Every joint configuration of all layers (v included)."""
    return split_states([len(b) for b in bs])


def block_layers(L, parity):
    """Indices of the layers of one block (parity 0: even, 1: odd) of a DBM with L hidden
    layers."""
    return list(range(parity, L + 1, 2))


def block_states(bs, parity):
    """(layers, configurations) of one block: configurations[i] belongs to layer layers[i]."""
    layers = block_layers(len(bs) - 1, parity)
    return layers, split_states([len(bs[k]) for k in layers])


def block_index(H, bs, parity):
    """Index into block_states(bs, parity) of the block's part of full configurations H (a
    list of one array per layer)."""
    layers = block_layers(len(bs) - 1, parity)
    return en.state_index(np.hstack([H[k] for k in layers]))


# ---------------------------------------------------------------------------------------------
# energy, partition function, marginals
# ---------------------------------------------------------------------------------------------
def energy(H, Ws, bs):
    """E of each configuration; H is a list of one (n_cfg, n_k) array per layer."""
    e = -sum(H[k] @ bs[k] for k in range(len(bs)))
    for k in range(len(Ws)):
        e = e - np.einsum("ci,ij,cj->c", H[k + 1], Ws[k], H[k])
    return e


def log_z(Ws, bs):
    """log Z = log sum over ALL joint states (v and every hidden layer) of exp(-E)."""
    return float(logsumexp(-energy(all_states(Ws, bs), Ws, bs)))


def joint_distribution(Ws, bs):
    """(H, P): every joint configuration and its probability."""
    H = all_states(Ws, bs)
    lp = -energy(H, Ws, bs)
    return H, np.exp(lp - logsumexp(lp))


def log_unnormalised_v(V, Ws, bs):
    """(rows, n_hidden_cfg) -E(v, h) for each row of V and every hidden configuration."""
    V = np.asarray(V, dtype=np.float64)
    Hh = split_states([len(b) for b in bs[1:]])
    out = np.empty((len(V), len(Hh[0])))
    for r, v in enumerate(V):
        out[r] = -energy([np.broadcast_to(v, (len(Hh[0]), len(v)))] + Hh, Ws, bs)
    return out


def log_p_v(V, Ws, bs):
    """Exact log p(v) of each row: log sum_h exp(-E(v, h)) - log Z, every hidden state summed."""
    return logsumexp(log_unnormalised_v(V, Ws, bs), axis=1) - log_z(Ws, bs)


def p_visible(Ws, bs):
    """p(v) over en.binary_states(n_0), by summing the joint table over the hidden layers."""
    H, P = joint_distribution(Ws, bs)
    return np.bincount(en.state_index(H[0]), weights=P, minlength=2 ** len(bs[0]))


def moments(H, P):
    """Expectations under the distribution P over configurations H:
    ([E h_{k+1} h_k'] for k < L, [E h_k] for every k)."""
    L = len(H) - 1
    pair = [np.einsum("c,ci,cj->ij", P, H[k + 1], H[k]) for k in range(L)]
    single = [P @ H[k] for k in range(L + 1)]
    return pair, single


def model_moments(Ws, bs):
    """Exact model expectations <h_{k+1} h_k'> and <h_k> by enumeration of the joint."""
    return moments(*joint_distribution(Ws, bs))


def sample_joint(Ws, bs, n, seed):
    """n exact independent draws from the joint p(v, h_1, ..., h_L): a list of (n, n_k)."""
    H, P = joint_distribution(Ws, bs)
    idx = np.random.default_rng(seed).choice(len(P), size=n, p=P / P.sum())
    return [np.ascontiguousarray(h[idx]) for h in H]


# ---------------------------------------------------------------------------------------------
# block Gibbs sampling
# ---------------------------------------------------------------------------------------------
def layer_input(k, H, Ws, bs):
    """b_k + h_{k-1} W_{k-1}' + h_{k+1} W_k for configurations H (neighbours of k filled)."""
    L = len(bs) - 1
    x = np.broadcast_to(bs[k], (len(H[k - 1] if k > 0 else H[k + 1]), len(bs[k]))).copy()
    if k > 0:
        x += H[k - 1] @ Ws[k - 1].T
    if k < L:
        x += H[k + 1] @ Ws[k]
    return x


def block_conditional(Ws, bs, parity):
    """p(block `parity` | other block) as a (n_other_cfg, n_block_cfg) table: the layers of a
    block are independent Bernoulli layers given the other block (Eq. 27-28 of text 004)."""
    L = len(bs) - 1
    other_layers, other = block_states(bs, 1 - parity)
    layers, states = block_states(bs, parity)
    H = [None] * (L + 1)
    for k, s in zip(other_layers, other):
        H[k] = s
    table = np.ones((len(other[0]), len(states[0])))
    for k, s in zip(layers, states):
        table *= en._bernoulli_table(expit(layer_input(k, H, Ws, bs)), s)
    return table


def even_chain_kernel(Ws, bs):
    """One sweep (odd block given even, then even given odd) as a Markov kernel on the even
    block's configurations."""
    return block_conditional(Ws, bs, 1) @ block_conditional(Ws, bs, 0)


def joint_from_blocks(bs, q_odd_even):
    """(H, P) over every joint configuration from a table P[odd index, even index]."""
    L = len(bs) - 1
    ev_layers, ev = block_states(bs, 0)
    od_layers, od = block_states(bs, 1)
    n_od, n_ev = len(od[0]), len(ev[0])
    H = [None] * (L + 1)
    for k, s in zip(od_layers, od):
        H[k] = np.repeat(s, n_ev, axis=0)
    for k, s in zip(ev_layers, ev):
        H[k] = np.tile(s, (n_od, 1))
    return H, q_odd_even.reshape(-1)


def after_one_sweep(Ws, bs, d_even):
    """(H, P): the joint distribution after one block-Gibbs sweep, odd layers drawn given the
    even ones, then the even layers given the new odd ones, from even-block states distributed
    as d_even (the start's odd layers are overwritten and do not matter)."""
    q_odd = d_even @ block_conditional(Ws, bs, 1)
    return joint_from_blocks(bs, q_odd[:, None] * block_conditional(Ws, bs, 0))


def after_reversed_sweep(Ws, bs, d_odd):
    """(H, P) after the wrong-order sweep (even given odd, then odd given the new even) from
    odd-block states distributed as d_odd; for the tests' power checks."""
    q_even = d_odd @ block_conditional(Ws, bs, 0)
    t = q_even[:, None] * block_conditional(Ws, bs, 1)  # (even, odd)
    return joint_from_blocks(bs, t.T)


def visible_marginal_of_even(bs, d_even):
    """Distribution of v over en.binary_states(n_0) from one over even-block configurations."""
    _, ev = block_states(bs, 0)
    return np.bincount(en.state_index(ev[0]), weights=d_even, minlength=2 ** len(bs[0]))


# ---------------------------------------------------------------------------------------------
# mean field
# ---------------------------------------------------------------------------------------------
def mf_inputs(k, V, mus, Ws, bs):
    """b_k + mu_{k-1} W_{k-1}' + mu_{k+1} W_k with mu_0 = V."""
    H = [np.asarray(V, dtype=np.float64)] + list(mus)
    return layer_input(k, H, Ws, bs)


def mean_field(V, Ws, bs, *, n_iter=10_000, tol=1e-14, doubled_start=True):
    """Mean-field posteriors [mu_1, ..., mu_L]: a bottom-up pass (each layer below the top with
    doubled input when doubled_start, else plain), then sequential sweeps over layers 1..L of
    mu_k = sigmoid(b_k + mu_{k-1} W_{k-1}' + mu_{k+1} W_k) until no mean moves more than tol
    in a sweep (or n_iter sweeps). Returns (mus, sweeps)."""
    V = np.asarray(V, dtype=np.float64)
    L = len(bs) - 1
    mus, below = [], V
    for k in range(1, L + 1):
        s = 2.0 if (doubled_start and k < L) else 1.0
        mus.append(expit(bs[k] + s * below @ Ws[k - 1].T))
        below = mus[-1]
    sweeps = 0
    while sweeps < n_iter:
        delta = 0.0
        for k in range(1, L + 1):
            new = expit(mf_inputs(k, V, mus, Ws, bs))
            delta = max(delta, float(np.abs(new - mus[k - 1]).max()))
            mus[k - 1] = new
        sweeps += 1
        if delta < tol:
            break
    return mus, sweeps


def entropy(mu):
    """Entropy of independent Bernoulli units with means mu, summed over the last axis."""
    mu = np.asarray(mu, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (np.where(mu > 0, -mu * np.log(mu), 0.0)
             + np.where(mu < 1, -(1 - mu) * np.log1p(-mu), 0.0))
    return t.sum(axis=-1)


def mf_functional(V, mus, Ws, bs):
    """-E_Q[E(v, h)] + H(Q) per row for the factorized Q with means mus (log Z excluded):
    sum_k b_k.mu_k + sum_k mu_{k+1}' W_k mu_k (mu_0 = v) + sum_k H(mu_k)."""
    H = [np.asarray(V, dtype=np.float64)] + [np.asarray(m, dtype=np.float64) for m in mus]
    t = sum(H[k] @ bs[k] for k in range(len(bs)))
    for k in range(len(Ws)):
        t = t + np.einsum("ri,ij,rj->r", H[k + 1], Ws[k], H[k])
    return t + sum(entropy(m) for m in H[1:])


def kl_q_posterior(V, mus, Ws, bs):
    """KL(Q || p(h | v)) per row, Q the product of Bernoulli layers with means mus, p(h | v)
    the exact posterior over every hidden configuration."""
    V = np.asarray(V, dtype=np.float64)
    Hh = split_states([len(b) for b in bs[1:]])
    lu = log_unnormalised_v(V, Ws, bs)
    log_post = lu - logsumexp(lu, axis=1, keepdims=True)
    log_q = np.zeros_like(lu)
    for k, m in enumerate(mus):
        m = np.asarray(m, dtype=np.float64)
        log_q += np.log(m) @ Hh[k].T + np.log1p(-m) @ (1 - Hh[k]).T
    q = np.exp(log_q)
    return (q * (log_q - log_post)).sum(axis=1)


def mf_positive_term(V, mus):
    """The data term of the update: ([mean_r mu_{k+1} mu_k'], [mean_r mu_k]), mu_0 = v."""
    H = [np.asarray(V, dtype=np.float64)] + list(mus)
    n = len(H[0])
    pair = [H[k + 1].T @ H[k] / n for k in range(len(H) - 1)]
    single = [h.mean(axis=0) for h in H]
    return pair, single
