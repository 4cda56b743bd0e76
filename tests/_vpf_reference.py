"""Independent NumPy reference for Variational Probability Flow (VPF) on layered Boltzmann
machines with optional lateral (intra-layer) weights.

Nothing here imports pydbn. Every quantity is written out from the energy function below and
from Liu, Quek & Lin, "Variational Probability Flow" (shared paper 003): MPF for fully observed
BMs (Eq. 1-2, the epsilon factor dropped), the VPF E-step (Algorithm 1), confabulations
(Algorithm 2) and the asynchronous intra-layer Gibbs sweep (Eq. 5). Distributions are obtained
by enumerating states, so the tests compare the C core with an obvious, slow computation.

The model is a tuple (Ws, Us, bs):
    Ws[k] (n_{k+1}, n_k) for k = 0..L-1 joins layers k and k+1,
    Us[k] (n_k, n_k) symmetric with zero diagonal, or None (no lateral weights in layer k),
    bs[k] (n_k,) the bias of layer k; layer 0 is observed.

    E(y) = - sum_k b_k.y_k - sum_k y_{k+1}' W_k y_k - (1/2) sum_k y_k' U_k y_k
    z_k  = -dE/dy_k = b_k + y_{k-1} W_{k-1}' + y_{k+1} W_k + y_k U_k        (row vectors)

Flipping unit j of layer k changes the energy by -(1 - 2 y_kj) z_kj = -2 alpha_kj z_kj, so the
MPF transition rate exp((E(y) - E(y'))/2) to that one-hop neighbour is delta = exp(alpha z),
alpha = 1/2 - y. K = mean over rows of the sum of delta over all units.

A configuration of several layers is a list of (rows, n_k) arrays; joint states of several
layers are enumerated as en.binary_states(total units) split into the layers in order (the
first unit of the first layer is the most significant bit), so en.state_index of the
concatenated layers is the index of a configuration.
"""

import numpy as np
from scipy.special import expit, logsumexp

try:  # tests/ may or may not be a package
    from . import _enumerate as en
except ImportError:  # pragma: no cover
    import _enumerate as en


# ---------------------------------------------------------------------------------------------
# models
# ---------------------------------------------------------------------------------------------
def random_symmetric(n, scale, rng):
    """A symmetric (n, n) matrix with zero diagonal, off-diagonal entries ~ N(0, scale^2)."""
    U = np.triu(rng.normal(0.0, scale, (n, n)), 1)
    return U + U.T


def random_model(sizes, laterals=(), *, scale=1.0, lateral_scale=1.0, bias_scale=0.5, seed=0):
    """(Ws, Us, bs) in float64 for layer sizes (n_0, ..., n_L), with lateral weights in the
    layers listed in `laterals`."""
    rng = np.random.default_rng(seed)
    L = len(sizes) - 1
    Ws = [rng.normal(0.0, scale, (sizes[k + 1], sizes[k])) for k in range(L)]
    Us = [random_symmetric(sizes[k], lateral_scale, rng) if k in laterals else None
          for k in range(L + 1)]
    bs = [rng.normal(0.0, bias_scale, n) for n in sizes]
    return Ws, Us, bs


def zero_model(sizes, laterals=()):
    """All-zero parameters of the given structure."""
    L = len(sizes) - 1
    return ([np.zeros((sizes[k + 1], sizes[k])) for k in range(L)],
            [np.zeros((sizes[k], sizes[k])) if k in laterals else None for k in range(L + 1)],
            [np.zeros(n) for n in sizes])


def sizes_of(model):
    return tuple(len(b) for b in model[2])


def as_core(model, dtype=np.float64):
    """Fresh C-contiguous copies of the parameters in `dtype`, as the binding's model tuple."""
    Ws, Us, bs = model
    conv = lambda a: None if a is None else np.ascontiguousarray(a, dtype=dtype).copy()  # noqa
    return ([conv(w) for w in Ws], [conv(u) for u in Us], [conv(b) for b in bs])


def to_float64(model):
    """float64 copies of a model (e.g. of the binding's arrays after an update)."""
    return as_core(model, np.float64)


def zeros_like_model(model, fill=0.0):
    """Arrays shaped like the parameters (None where the model has no lateral weights)."""
    Ws, Us, bs = model
    f = lambda a: None if a is None else np.full_like(a, fill)  # noqa: E731
    return ([f(w) for w in Ws], [f(u) for u in Us], [f(b) for b in bs])


def pack(model):
    """The free parameters as one vector: every W entry, the strict upper triangle of each U
    (the shared u_ij = u_ji), every bias."""
    Ws, Us, bs = model
    parts = [w.ravel() for w in Ws]
    parts += [u[np.triu_indices(len(u), 1)] for u in Us if u is not None]
    parts += [b.ravel() for b in bs]
    return np.concatenate(parts)


def unpack(theta, template):
    """Inverse of pack, with the structure of `template`; U is filled symmetrically."""
    Ws, Us, bs = template
    theta = np.asarray(theta, dtype=np.float64)
    i = 0
    newW, newU, newb = [], [], []
    for w in Ws:
        newW.append(theta[i:i + w.size].reshape(w.shape))
        i += w.size
    for u in Us:
        if u is None:
            newU.append(None)
            continue
        n = len(u)
        iu = np.triu_indices(n, 1)
        m = np.zeros((n, n))
        m[iu] = theta[i:i + len(iu[0])]
        newU.append(m + m.T)
        i += len(iu[0])
    for b in bs:
        newb.append(theta[i:i + b.size].copy())
        i += b.size
    assert i == len(theta)
    return newW, newU, newb


def random_states(sizes, rows, seed, p=0.5):
    """A list of (rows, n_k) float64 arrays of random 0/1 values."""
    rng = np.random.default_rng(seed)
    return [(rng.random((rows, n)) < p).astype(np.float64) for n in sizes]


# ---------------------------------------------------------------------------------------------
# energy, inputs, MPF
# ---------------------------------------------------------------------------------------------
def energy(Y, model):
    """E(y) of each row of a configuration Y (a list of (rows, n_k) arrays)."""
    Ws, Us, bs = model
    e = -sum(Y[k] @ bs[k] for k in range(len(bs)))
    for k, w in enumerate(Ws):
        e = e - np.einsum("ri,ij,rj->r", Y[k + 1], w, Y[k])
    for k, u in enumerate(Us):
        if u is not None:
            e = e - 0.5 * np.einsum("ri,ij,rj->r", Y[k], u, Y[k])
    return e


def inputs(Y, model):
    """z_k = b_k + y_{k-1} W_{k-1}' + y_{k+1} W_k + y_k U_k for every layer (rows, n_k)."""
    Ws, Us, bs = model
    L = len(bs) - 1
    Z = []
    for k in range(L + 1):
        z = np.broadcast_to(bs[k], Y[k].shape).astype(np.float64).copy()
        if k > 0:
            z += Y[k - 1] @ Ws[k - 1].T
        if k < L:
            z += Y[k + 1] @ Ws[k]
        if Us[k] is not None:
            z += Y[k] @ Us[k]
        Z.append(z)
    return Z


def flip_energy_differences(Y, model):
    """E(y with unit j of layer k flipped) - E(y), by evaluating the energy of each flipped
    configuration (no use of the formula for z); a list of (rows, n_k)."""
    base = energy(Y, model)
    out = []
    for k, y in enumerate(Y):
        d = np.empty_like(y, dtype=np.float64)
        for j in range(y.shape[1]):
            Yf = [a.copy() for a in Y]
            Yf[k][:, j] = 1.0 - Yf[k][:, j]
            d[:, j] = energy(Yf, model) - base
        out.append(d)
    return out


def _weights(rows, weights):
    if weights is None:
        return np.full(rows, 1.0 / rows)
    w = np.asarray(weights, dtype=np.float64)
    return w / w.sum()


def _units(Y):
    """|V|: the units of all layers (the objective is a mean over them, epsilon = 1 / |V|)."""
    return sum(y.shape[1] for y in Y)


def mpf_objective(Y, model, weights=None):
    """K = mean over rows (or the weighted mean, weights normalised) of the mean over all units
    of exp(alpha z)."""
    w = _weights(len(Y[0]), weights) / _units(Y)
    Z = inputs(Y, model)
    return float(sum(w @ np.exp((0.5 - y) * z).sum(axis=1) for y, z in zip(Y, Z)))


def mpf_gradients(Y, model, weights=None):
    """(gW, gU, gb): dK/dW_k = (G_{k+1}' Y_k + Y_{k+1}' G_k), dK/db_k = sum_r w_r G_k[r],
    dK/du_ij = the (i, j) entry of G_k' Y_k + Y_k' G_k (zero diagonal: the derivative with
    respect to the shared u_ij = u_ji), G = alpha * delta, rows weighted by w (1/m each by
    default) and divided by the number of units."""
    Ws, Us, bs = model
    w = _weights(len(Y[0]), weights)[:, None] / _units(Y)
    Z = inputs(Y, model)
    G = [(0.5 - y) * np.exp((0.5 - y) * z) for y, z in zip(Y, Z)]
    gW = [(w * G[k + 1]).T @ Y[k] + (w * Y[k + 1]).T @ G[k] for k in range(len(Ws))]
    gU = []
    for k, u in enumerate(Us):
        if u is None:
            gU.append(None)
            continue
        g = (w * G[k]).T @ Y[k]
        g = g + g.T
        np.fill_diagonal(g, 0.0)
        gU.append(g)
    gb = [(w * g).sum(axis=0) for g in G]
    return gW, gU, gb


def mpf_objective_vector(theta, Y, template, weights=None):
    return mpf_objective(Y, unpack(theta, template), weights)


def mpf_gradient_vector(theta, Y, template, weights=None):
    return pack(mpf_gradients(Y, unpack(theta, template), weights))


def finite_difference_gradient(f, theta, step=1e-6):
    """Central differences of a scalar function of a parameter vector."""
    theta = np.asarray(theta, dtype=np.float64)
    g = np.empty_like(theta)
    for i in range(len(theta)):
        tp, tm = theta.copy(), theta.copy()
        tp[i] += step
        tm[i] -= step
        g[i] = (f(tp) - f(tm)) / (2 * step)
    return g


def mpf_hessian(Y, model, weights=None):
    """Exact Hessian of K in the packed parameters: K = sum_r w_r sum_units exp(alpha z) with
    z linear in theta, so H = sum_r w_r sum_units alpha^2 delta phi phi' = (1/4) sum ... where
    phi = dz/dtheta, obtained column by column from unit vectors (z is linear)."""
    theta0 = pack(model)
    template = model
    zero = unpack(np.zeros_like(theta0), template)
    Z0 = np.hstack(inputs(Y, zero))  # the part of z that does not depend on theta (= 0 here)
    cols = []
    for i in range(len(theta0)):
        e = np.zeros_like(theta0)
        e[i] = 1.0
        cols.append(np.hstack(inputs(Y, unpack(e, template))) - Z0)
    Phi = np.stack(cols, axis=-1)  # (rows, units, params)
    y = np.hstack(Y)
    z = np.hstack(inputs(Y, model))
    a = 0.5 - y
    c = _weights(len(y), weights)[:, None] / y.shape[1] * a * a * np.exp(a * z)
    return np.einsum("ru,rup,ruq->pq", c, Phi, Phi)


def mpf_minimiser(Y, template, weights=None, *, start=None, tol=1e-13, max_iter=100):
    """The minimiser of K over the packed parameters, by Newton's method with exact Hessian
    (K is convex in theta: a positive sum of exponentials of linear functions), with step
    halving. Returns (model, gradient norm at the end)."""
    theta = pack(template) if start is None else np.array(start, dtype=np.float64)
    f = lambda t: mpf_objective(Y, unpack(t, template), weights)  # noqa: E731
    for _ in range(max_iter):
        m = unpack(theta, template)
        g = pack(mpf_gradients(Y, m, weights))
        if np.abs(g).max() < tol:
            break
        H = mpf_hessian(Y, m, weights)
        step = np.linalg.solve(H, g)
        f0, s = f(theta), 1.0
        while f(theta - s * step) > f0 and s > 1e-10:
            s *= 0.5
        theta = theta - s * step
    m = unpack(theta, template)
    return m, float(np.abs(pack(mpf_gradients(Y, m, weights))).max())


# ---------------------------------------------------------------------------------------------
# joint distribution of a fully observed BM (L = 0) or any small model
# ---------------------------------------------------------------------------------------------
def split_states(sizes):
    """Every joint configuration of layers with the given sizes: a list of (2**sum, n_k)."""
    S = en.binary_states(int(sum(sizes)))
    edges = np.cumsum((0,) + tuple(sizes))
    return [S[:, edges[i]:edges[i + 1]] for i in range(len(sizes))]


def joint_distribution(model):
    """(Y, P): every joint configuration of all layers and its probability exp(-E)/Z."""
    Y = split_states(sizes_of(model))
    lp = -energy(Y, model)
    return Y, np.exp(lp - logsumexp(lp))


def sample_joint(model, n, seed):
    """n exact independent draws from the joint distribution, a list of (n, n_k)."""
    Y, P = joint_distribution(model)
    idx = np.random.default_rng(seed).choice(len(P), size=n, p=P / P.sum())
    return [np.ascontiguousarray(y[idx]) for y in Y]


# ---------------------------------------------------------------------------------------------
# one layer given the layer below: factorial step, asynchronous sweep, exact conditional
# ---------------------------------------------------------------------------------------------
def factorial_table(a):
    """P(h | independent units with logits a) over en.binary_states(len(a)); a 1-D vector."""
    a = np.asarray(a, dtype=np.float64)
    return en._bernoulli_table(expit(a)[None, :], en.binary_states(len(a)))[0]


def factorial_tables(A):
    """factorial_table of each row of A: (rows, 2**n)."""
    A = np.asarray(A, dtype=np.float64)
    return en._bernoulli_table(expit(A), en.binary_states(A.shape[1]))


def lateral_conditional(a, U):
    """Exact p(h | below) over en.binary_states(n) for a layer with input a = b + below W'
    from below and lateral weights U: proportional to exp(a.h + (1/2) h'Uh)."""
    S = en.binary_states(len(a))
    lp = S @ a
    if U is not None:
        lp = lp + 0.5 * np.einsum("si,ij,sj->s", S, U, S)
    return np.exp(lp - logsumexp(lp))


def unit_update_kernel(a, U, j):
    """Resampling unit j from p(h_j = 1 | others) = sigmoid(a_j + sum_{i != j} U[i, j] h_i):
    a (2**n, 2**n) row-stochastic matrix that only moves bit j."""
    n = len(a)
    S = en.binary_states(n)
    p1 = expit(a[j] + S @ U[:, j] - S[:, j] * U[j, j])  # U[j, j] = 0; excluded regardless
    bit = 1 << (n - 1 - j)  # bit of unit j in the state index
    idx = np.arange(2 ** n)
    K = np.zeros((2 ** n, 2 ** n))
    K[idx, idx | bit] = p1
    K[idx, idx & ~bit] = 1.0 - p1
    return K


def sweep_kernel(a, U, order=None):
    """One asynchronous sweep over the units in `order` (default 0..n-1): the product of the
    sequential single-unit kernels, (2**n, 2**n); row s is the distribution after one sweep
    started in state s."""
    n = len(a)
    T = np.eye(2 ** n)
    for j in (range(n) if order is None else order):
        T = T @ unit_update_kernel(a, U, j)
    return T


def e_step_layer(a, U):
    """Distribution of one layer in the E-step given its input a from below: a factorial
    Bernoulli draw with logits a, then (if U is not None) one asynchronous sweep."""
    d = factorial_table(a)
    return d if U is None else d @ sweep_kernel(a, U)


def e_step_tables(model, k, below_states):
    """(rows of below_states, 2**n_k): the E-step distribution of layer k (>= 1) given each
    row of below_states (the states of layer k-1)."""
    Ws, Us, bs = model
    A = bs[k] + below_states @ Ws[k - 1].T
    return np.stack([e_step_layer(a, Us[k]) for a in A])


def infer_distribution(model, x):
    """Joint distribution of (h_1, ..., h_L) produced by the E-step (bm_infer) for the
    observed row x, over split_states(n_1, ..., n_L) (concatenated index)."""
    sizes = sizes_of(model)
    L = len(sizes) - 1
    d = e_step_tables(model, 1, np.asarray(x, dtype=np.float64)[None, :])[0]
    for k in range(2, L + 1):
        C = e_step_tables(model, k, en.binary_states(sizes[k - 1]))  # (2**n_{k-1}, 2**n_k)
        # d is indexed by (h_1..h_{k-1}) with h_{k-1} the least significant block
        d = (d.reshape(-1, 2 ** sizes[k - 1])[:, :, None] * C[None, :, :]).reshape(-1)
    return d


# ---------------------------------------------------------------------------------------------
# Algorithm 2 (confabulations) and reconstruction
# ---------------------------------------------------------------------------------------------
def down_table(model, i):
    """P(h_{i-1} | h_i) using only the input from h_i (b_{i-1} + h_i W_{i-1}), rows indexed
    by the states of h_i: (2**n_i, 2**n_{i-1})."""
    Ws, Us, bs = model
    return factorial_tables(bs[i - 1] + en.binary_states(len(bs[i])) @ Ws[i - 1])


def generate_h1_distribution(model, r, top_prior=None):
    """Distribution of the final h_1 of Algorithm 2 (h_L ~ Bernoulli(top_prior); for
    i = L..1, r times: h_{i-1} | h_i, h_i | h_{i-1}, sweep of h_i if U_i)."""
    Ws, Us, bs = model
    L = len(bs) - 1
    assert L >= 1
    prior = np.full(len(bs[L]), 0.5) if top_prior is None else np.asarray(top_prior, float)
    d = en._bernoulli_table(prior[None, :], en.binary_states(len(bs[L])))[0]
    for i in range(L, 0, -1):
        down = down_table(model, i)
        up = e_step_tables(model, i, en.binary_states(len(bs[i - 1])))
        for _ in range(r):
            d_below = d @ down
            d = d_below @ up
        if i > 1:
            d = d_below  # the next level starts from the last h_{i-1}
    return d


def generate_expected_means(model, r, top_prior=None):
    """E[p(h_0 = 1 | h_1)] over Algorithm 2's final h_1 (bm_generate with means=True)."""
    d = generate_h1_distribution(model, r, top_prior)
    Ws, Us, bs = model
    return d @ expit(bs[0] + en.binary_states(len(bs[1])) @ Ws[0])


def generate_visible_distribution(model, r, top_prior=None):
    """Distribution of v ~ Bernoulli(p(h_0 | h_1)) over en.binary_states(n_0) (means=False)."""
    return generate_h1_distribution(model, r, top_prior) @ down_table(model, 1)


def reconstruct_h1_distribution(model, x, mask, n_gibbs):
    """Distribution over en.binary_states(n_1) of the h_1 of the last iteration of
    bm_reconstruct for one row x with unknown entries where mask == 1.

    v starts at x (its unknown entries included); each iteration draws h_1 by the E-step of
    layer 1 given v (the layers above do not feed back into v), then the unknown entries from
    p(v | h_1) with the known ones kept; the output is p(v = 1 | h_1) of the last iteration.
    """
    Ws, Us, bs = model
    x = np.asarray(x, dtype=np.float64)
    unknown = np.flatnonzero(np.asarray(mask))
    nu = len(unknown)
    Su = en.binary_states(nu)
    V = np.tile(x, (2 ** nu, 1))
    V[:, unknown] = Su  # v for each configuration of the unknown entries
    Q = e_step_tables(model, 1, V)  # (2**nu, 2**n_1): h_1 given v(u)
    means = reconstruct_means_table(model, mask)
    d = np.zeros(2 ** nu)
    d[en.state_index(x[None, unknown])[0]] = 1.0
    for it in range(n_gibbs):
        dh = d @ Q
        if it == n_gibbs - 1:
            return dh
        d = dh @ en._bernoulli_table(means, Su)
    raise ValueError("n_gibbs must be >= 1")


def reconstruct_means_table(model, mask):
    """p(v = 1 | h_1) on the unknown entries for every h_1 in en.binary_states(n_1)."""
    Ws, Us, bs = model
    unknown = np.flatnonzero(np.asarray(mask))
    return expit(bs[0] + en.binary_states(len(bs[1])) @ Ws[0])[:, unknown]


def reconstruct_expected(model, x, mask, n_gibbs):
    """Expected output of bm_reconstruct on the unknown entries of one row x:
    E[p(v = 1 | h_1)] over the last iteration's h_1."""
    return (reconstruct_h1_distribution(model, x, mask, n_gibbs)
            @ reconstruct_means_table(model, mask))


# ---------------------------------------------------------------------------------------------
# the M-step optimiser
# ---------------------------------------------------------------------------------------------
def decayed_gradients(Y, model, weight_decay, weights=None):
    """Gradient of K + (weight_decay / 2) * (sum of squared W entries + sum over the shared
    lateral parameters u_ij, i < j, of u_ij^2): W and U get + weight_decay * parameter."""
    gW, gU, gb = mpf_gradients(Y, model, weights)
    Ws, Us, bs = model
    gW = [g + weight_decay * w for g, w in zip(gW, Ws)]
    gU = [None if g is None else g + weight_decay * u for g, u in zip(gU, Us)]
    return gW, gU, gb


def adam_step(model, grads, state, t, lr, beta1, beta2, eps):
    """One Adam step (Kingma & Ba 2015, Algorithm 1, with bias correction) in place on model
    and state = (mW, vW, mU, vU, mb, vb); t is the step count BEFORE the step. Returns t+1.
    theta -= lr * mhat / (sqrt(vhat) + eps), mhat = m / (1 - beta1^t), vhat = v / (1 - beta2^t).
    """
    t = t + 1
    mW, vW, mU, vU, mb, vb = state
    groups = [(model[0], grads[0], mW, vW), (model[1], grads[1], mU, vU),
              (model[2], grads[2], mb, vb)]
    for params, gs, ms, vs in groups:
        for p, g, m, v in zip(params, gs, ms, vs):
            if p is None:
                continue
            m *= beta1
            m += (1 - beta1) * g
            v *= beta2
            v += (1 - beta2) * g * g
            mhat = m / (1 - beta1 ** t)
            vhat = v / (1 - beta2 ** t)
            p -= lr * mhat / (np.sqrt(vhat) + eps)
    return t


def vpf_full_batch_epoch(model, Y, state, t, lr, beta1, beta2, eps, weight_decay):
    """One VPF epoch in one minibatch given the E-step's completed states Y: returns
    (K before the update, t + 1); model and state are updated in place."""
    K = mpf_objective(Y, model)
    g = decayed_gradients(Y, model, weight_decay)
    return K, adam_step(model, g, state, t, lr, beta1, beta2, eps)


def sample_e_step(model, X, rng):
    """A NumPy E-step (Algorithm 1, lines 4-9) with its own random numbers: a list of
    (rows, n_k) for k = 1..L."""
    Ws, Us, bs = model
    below, out = np.asarray(X, dtype=np.float64), []
    for k in range(1, len(bs)):
        a = bs[k] + below @ Ws[k - 1].T
        h = (rng.random(a.shape) < expit(a)).astype(np.float64)
        if Us[k] is not None:
            for j in range(h.shape[1]):
                p = expit(a[:, j] + h @ Us[k][:, j])  # U[j, j] = 0
                h[:, j] = (rng.random(len(h)) < p).astype(np.float64)
        out.append(h)
        below = h
    return out


def vpf_epoch_numpy(model, X, state, t, lr, beta1, beta2, eps, weight_decay, batch_size, rng):
    """A NumPy VPF epoch (E-step with the start-of-epoch parameters, shuffled minibatches,
    Adam); returns (mean over minibatches of K before each update, t)."""
    H = sample_e_step(model, X, rng)
    Y = [np.asarray(X, dtype=np.float64)] + H
    perm = rng.permutation(len(X))
    Ks = []
    for s in range(0, len(X), batch_size):
        idx = perm[s:s + batch_size]
        Yb = [y[idx] for y in Y]
        Ks.append(mpf_objective(Yb, model))
        t = adam_step(model, decayed_gradients(Yb, model, weight_decay), state, t, lr, beta1,
                      beta2, eps)
    return float(np.mean(Ks)), t


def adam_state(model, fill=0.0):
    """(mW, vW, mU, vU, mb, vb) filled with `fill`, None where U is None."""
    W, U, b = zeros_like_model(model, fill)
    W2, U2, b2 = zeros_like_model(model, fill)
    return (W, W2, U, U2, b, b2)


# ---------------------------------------------------------------------------------------------
# Monte Carlo versions of Algorithm 2 and of reconstruction (to cross-check the enumerations)
# ---------------------------------------------------------------------------------------------
def _bernoulli(p, rng):
    return (rng.random(np.shape(p)) < p).astype(np.float64)


def _sweep_numpy(a, h, U, rng):
    """One asynchronous sweep in place on the rows of h, inputs from below a (rows, n)."""
    for j in range(h.shape[1]):
        h[:, j] = _bernoulli(expit(a[:, j] + h @ U[:, j]), rng)
    return h


def simulate_generate(model, n, r, top_prior, rng):
    """n runs of Algorithm 2 in NumPy: (p(h_0 = 1 | h_1) rows, final h_1 rows)."""
    Ws, Us, bs = model
    L = len(bs) - 1
    prior = np.full(len(bs[L]), 0.5) if top_prior is None else np.asarray(top_prior, float)
    h = _bernoulli(np.broadcast_to(prior, (n, len(prior))), rng)
    for i in range(L, 0, -1):
        for _ in range(r):
            below = _bernoulli(expit(bs[i - 1] + h @ Ws[i - 1]), rng)
            a = bs[i] + below @ Ws[i - 1].T
            h = _bernoulli(expit(a), rng)
            if Us[i] is not None:
                _sweep_numpy(a, h, Us[i], rng)
        if i > 1:
            h = below
    return expit(bs[0] + h @ Ws[0]), h


def simulate_reconstruct(model, X, mask, n_gibbs, rng):
    """bm_reconstruct in NumPy (only h_1 matters for v)."""
    Ws, Us, bs = model
    X = np.asarray(X, dtype=np.float64)
    unknown = np.asarray(mask).astype(bool)
    v = X.copy()
    for _ in range(n_gibbs):
        a = bs[1] + v @ Ws[0].T
        h = _bernoulli(expit(a), rng)
        if Us[1] is not None:
            _sweep_numpy(a, h, Us[1], rng)
        p = expit(bs[0] + h @ Ws[0])
        v = np.where(unknown, _bernoulli(p, rng), X)
    return np.where(unknown, p, X)
