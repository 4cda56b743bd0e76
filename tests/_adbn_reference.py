"""Independent NumPy reference for adversarial deep belief networks, small enough to enumerate.

Nothing here imports pydbn. Every quantity is written out from Huang, Panahi, Krim, Yu & Smith,
"Deep Adversarial Belief Networks" (shared paper 000), Sec. 2:

  generator (Eq. 1-2, forward form): binary layers h^1 .. h^L,
      p_1(h^1_i = 1) = sigmoid(b^1_i),
      p_l(h^l_i = 1 | h^{l-1}) = sigmoid(b^l_i + W^{l-1}_i . h^{l-1})
      log p(h) = log p_1(h^1) + sum_{l >= 2} log p_l(h^l | h^{l-1});
      in conditional mode h^1 is a clamped one-hot label (no p_1 term, b^1 has no effect).
  objective (Eq. 5-6): E_X phi(f(X)) + E_Y psi(f(Y)), f = head(a) of a dense network's output a,
      'gan'  f = sigmoid(a), phi = log f, psi = log(1 - f)
      'wgan' f = a,          phi = f,     psi = -f
      'mle'  f = exp(a),     phi = log f, psi = -f
  generator gradient (Eq. 8): d E psi / d theta = sum_h p(h) psi(f(h^L)) d log p(h) / d theta,
      the discriminator seeing [one-hot label, h^L] in conditional mode, h^L otherwise;
  its score-function estimate (Eq. 9) from n samples, optionally with the leave-one-out
      baseline c_i = mean of psi over the other n - 1 samples.

Parameters of a generator are (Ws, bs): Ws[l] of shape (sizes[l+1], sizes[l]) maps layer l to
layer l+1 (0-based), bs[l] of shape (sizes[l],). Gradients are flattened in the order of the
binding's state lists: every W (row-major) first, then every b. A dense network is
(Ws, bs, activation codes) with Ws[k] of shape (n_out, n_in): a_k = act_k(a_{k-1} W_k' + b_k).

Distributions are computed by enumerating every configuration of the sampled layers, so the
tests compare the C core with an obvious, slow computation. Configurations are enumerated as
binary_states(total sampled units) split into the layers in order (first unit of the first
sampled layer most significant), so state_index of the concatenated sampled layers indexes them.
"""

import numpy as np
from scipy.special import expit

# activation and loss codes as documented in csrc/core/pdbn_mlp.h and csrc/models/pdbn_adbn.h
ACT_IDENTITY, ACT_SIGMOID, ACT_RELU, ACT_TANH, ACT_LEAKY_RELU = 0, 1, 2, 3, 4
LEAKY_SLOPE = 0.2
LOSS_GAN, LOSS_WGAN, LOSS_MLE = 0, 1, 2
ACTIVATIONS = (ACT_IDENTITY, ACT_SIGMOID, ACT_RELU, ACT_TANH, ACT_LEAKY_RELU)
LOSSES = (LOSS_GAN, LOSS_WGAN, LOSS_MLE)


# ---------------------------------------------------------------------------------------------
# states
# ---------------------------------------------------------------------------------------------
def binary_states(n):
    """All 2**n binary rows of length n (float64); row i is the binary expansion of i, first
    unit most significant."""
    idx = np.arange(2**n, dtype=np.int64)[:, None]
    shifts = np.arange(n - 1, -1, -1, dtype=np.int64)[None, :]
    return ((idx >> shifts) & 1).astype(np.float64)


def state_index(X):
    """Index into binary_states(n) of each binary row of X."""
    X = np.asarray(X)
    weights = 2 ** np.arange(X.shape[1] - 1, -1, -1, dtype=np.int64)
    return (np.rint(X).astype(np.int64) * weights).sum(axis=1)


def one_hot(labels, k):
    out = np.zeros((len(labels), k))
    out[np.arange(len(labels)), np.asarray(labels, dtype=np.int64)] = 1.0
    return out


def log_sigmoid(x):
    """log sigmoid(x) = -softplus(-x), stable for large |x|."""
    return -np.logaddexp(0.0, -np.asarray(x, dtype=np.float64))


# ---------------------------------------------------------------------------------------------
# dense networks and loss heads
# ---------------------------------------------------------------------------------------------
def activate(code, z):
    if code == ACT_IDENTITY:
        return z.copy()
    if code == ACT_SIGMOID:
        return expit(z)
    if code == ACT_RELU:
        return np.maximum(z, 0.0)
    if code == ACT_TANH:
        return np.tanh(z)
    if code == ACT_LEAKY_RELU:
        return np.where(z > 0, z, LEAKY_SLOPE * z)
    raise ValueError(code)


def activation_derivative(code, z):
    """d act / d z at the pre-activation z (elementwise)."""
    if code == ACT_IDENTITY:
        return np.ones_like(z)
    if code == ACT_SIGMOID:
        s = expit(z)
        return s * (1.0 - s)
    if code == ACT_RELU:
        return (z > 0).astype(z.dtype)
    if code == ACT_TANH:
        return 1.0 - np.tanh(z) ** 2
    if code == ACT_LEAKY_RELU:
        return np.where(z > 0, 1.0, LEAKY_SLOPE).astype(z.dtype)
    raise ValueError(code)


def mlp_forward(net, X, *, return_all=False):
    """Output (rows, n_out) of the dense network; with return_all also the list of
    (pre-activation, activation) of every layer."""
    Ws, bs, acts = net
    a = np.asarray(X, dtype=np.float64)
    layers = []
    for W, b, code in zip(Ws, bs, acts):
        z = a @ np.asarray(W, dtype=np.float64).T + np.asarray(b, dtype=np.float64)
        a = activate(code, z)
        layers.append((z, a))
    return (a, layers) if return_all else a


def mlp_backward(net, X, dout):
    """Gradients (gW list, gb list) of sum(dout * mlp_forward(net, X)) by backpropagation."""
    Ws, _, acts = net
    X = np.asarray(X, dtype=np.float64)
    _, layers = mlp_forward(net, X, return_all=True)
    delta = np.asarray(dout, dtype=np.float64).reshape(layers[-1][1].shape)
    gW, gb = [None] * len(Ws), [None] * len(Ws)
    for k in range(len(Ws) - 1, -1, -1):
        z, _ = layers[k]
        delta = delta * activation_derivative(acts[k], z)
        inp = layers[k - 1][1] if k > 0 else X
        gW[k] = delta.T @ inp
        gb[k] = delta.sum(axis=0)
        delta = delta @ np.asarray(Ws[k], dtype=np.float64)
    return gW, gb


def head(loss, a):
    """(f, phi(f), psi(f), dphi/da, dpsi/da) at the discriminator's raw output a."""
    a = np.asarray(a, dtype=np.float64)
    if loss == LOSS_GAN:
        s = expit(a)
        return s, log_sigmoid(a), log_sigmoid(-a), 1.0 - s, -s
    if loss == LOSS_WGAN:
        one = np.ones_like(a)
        return a.copy(), a.copy(), -a, one, -one
    if loss == LOSS_MLE:
        e = np.exp(a)
        return e, a.copy(), -e, np.ones_like(a), -e
    raise ValueError(loss)


def dis_rows(states, conditional):
    """The discriminator's input from the layers of generated rows."""
    return np.hstack([states[0], states[-1]]) if conditional else states[-1]


def psi_of(dis, loss, X):
    """psi(f(x)) for each row of the discriminator's input X."""
    return head(loss, mlp_forward(dis, X)[:, 0])[2]


# ---------------------------------------------------------------------------------------------
# the generator
# ---------------------------------------------------------------------------------------------
def random_generator(sizes, *, scale=1.0, bias_scale=0.5, seed=0):
    rng = np.random.default_rng(seed)
    Ws = [rng.normal(0.0, scale, (sizes[l + 1], sizes[l])) for l in range(len(sizes) - 1)]
    bs = [rng.normal(0.0, bias_scale, n) for n in sizes]
    return Ws, bs


def random_network(sizes, activations, *, scale=1.0, bias_scale=0.5, seed=0):
    rng = np.random.default_rng(seed)
    Ws = [rng.normal(0.0, scale / np.sqrt(sizes[k]), (sizes[k + 1], sizes[k]))
          for k in range(len(sizes) - 1)]
    bs = [rng.normal(0.0, bias_scale, sizes[k + 1]) for k in range(len(sizes) - 1)]
    return Ws, bs, list(activations)


def flatten(gW, gb):
    return np.concatenate([np.ravel(w) for w in gW] + [np.ravel(b) for b in gb])


def unflatten(flat, sizes):
    flat = np.asarray(flat)
    out_w, out_b, at = [], [], 0
    for l in range(len(sizes) - 1):
        k = sizes[l + 1] * sizes[l]
        out_w.append(flat[at:at + k].reshape(sizes[l + 1], sizes[l]))
        at += k
    for n in sizes:
        out_b.append(flat[at:at + n])
        at += n
    return out_w, out_b


def layer_probabilities(Ws, bs, states):
    """p^l = P(h^l = 1 | h^{l-1}) of every layer l >= 1 given the rows' states (Eq. 2)."""
    return [expit(states[l - 1] @ Ws[l - 1].T + bs[l]) for l in range(1, len(bs))]


def log_prob(Ws, bs, states, conditional):
    """log p(h) of each row (Eq. 1-2 in forward form); without the p_1 term in conditional
    mode (h^1 is clamped)."""
    n = len(states[0])
    lp = np.zeros(n)
    if not conditional:
        lp += states[0] @ log_sigmoid(bs[0]) + (1.0 - states[0]) @ log_sigmoid(-bs[0])
    for l in range(1, len(bs)):
        z = states[l - 1] @ Ws[l - 1].T + bs[l]
        lp += (states[l] * log_sigmoid(z) + (1.0 - states[l]) * log_sigmoid(-z)).sum(axis=1)
    return lp


def score(Ws, bs, states, conditional):
    """d log p(h) / d theta of each row, flattened (rows, n_params): d/dW^{l-1} = (h^l - p^l)
    h^{l-1}', d/db^l = h^l - p^l, d/db^1 = h^1 - sigmoid(b^1) (0 in conditional mode)."""
    n = len(states[0])
    probs = layer_probabilities(Ws, bs, states)
    parts_w, parts_b = [], []
    for l in range(1, len(bs)):
        d = states[l] - probs[l - 1]
        parts_w.append((d[:, :, None] * states[l - 1][:, None, :]).reshape(n, -1))
    if conditional:
        parts_b.append(np.zeros((n, len(bs[0]))))
    else:
        parts_b.append(states[0] - expit(bs[0])[None, :])
    for l in range(1, len(bs)):
        parts_b.append(states[l] - probs[l - 1])
    return np.hstack(parts_w + parts_b)


def configurations(sizes, conditional, label=None):
    """Every configuration of the sampled layers as a list of per-layer (S, sizes[l]) arrays;
    in conditional mode layer 0 is one_hot(label) on every row."""
    sampled = sizes[1:] if conditional else sizes
    allbits = binary_states(int(sum(sampled)))
    cuts = np.cumsum(sampled)[:-1]
    layers = np.split(allbits, cuts, axis=1)
    if conditional:
        layers = [one_hot(np.full(len(allbits), label), sizes[0])] + layers
    return layers


def joint_table(Ws, bs, conditional, label=None):
    """(states, p): every configuration of the sampled layers and its probability (given the
    label in conditional mode), ordered as in `configurations`."""
    sizes = [len(b) for b in bs]
    states = configurations(sizes, conditional, label)
    p = np.exp(log_prob(Ws, bs, states, conditional))
    assert abs(p.sum() - 1.0) < 1e-12, p.sum()
    return states, p


def mean_field_table(Ws, bs, conditional, label=None):
    """A deliberately WRONG sampler's distribution, for test power: each layer drawn from
    sigmoid(b^l + W mu^{l-1}) of the previous layer's MEAN mu instead of its sample."""
    sizes = [len(b) for b in bs]
    states = configurations(sizes, conditional, label)
    mu = states[0][0] if conditional else expit(bs[0])
    logq = np.zeros(len(states[0]))
    if not conditional:
        logq += states[0] @ np.log(mu) + (1.0 - states[0]) @ np.log1p(-mu)
    for l in range(1, len(bs)):
        mu = expit(Ws[l - 1] @ mu + bs[l])
        logq += states[l] @ np.log(mu) + (1.0 - states[l]) @ np.log1p(-mu)
    return np.exp(logq)


def sampled_bits(states, conditional):
    """Concatenated sampled layers (the rows state_index maps to the joint table)."""
    return np.hstack(states[1:] if conditional else states)


# ---------------------------------------------------------------------------------------------
# the exact objective, its exact gradient and the estimator's exact moments
# ---------------------------------------------------------------------------------------------
def label_groups(Ws, bs, conditional, dis, loss, labels=None, *, last_layer_only=False):
    """Per distinct label (one group unconditionally): (count, p, psi, score) over every
    configuration. `labels` are the n samples' labels (their counts weight the groups).
    last_layer_only: a deliberately WRONG score keeping only the last layer's terms."""
    if not conditional:
        keys, counts = [None], [1 if labels is None else len(labels)]
    else:
        keys, counts = np.unique(np.asarray(labels, dtype=np.int64), return_counts=True)
    out = []
    for key, count in zip(keys, counts):
        states, p = joint_table(Ws, bs, conditional, key)
        psi = psi_of(dis, loss, dis_rows(states, conditional))
        s = score(Ws, bs, states, conditional)
        if last_layer_only:
            sizes = [len(b) for b in bs]
            mask = np.zeros(s.shape[1], dtype=bool)
            gw_mask, gb_mask = unflatten(mask, sizes)
            gw_mask[-1][...] = True
            gb_mask[-1][...] = True
            mask = flatten(gw_mask, gb_mask)
            s = s * mask[None, :]
        out.append((int(count), p, psi, s))
    return out


def expected_psi(Ws, bs, conditional, dis, loss, labels=None):
    """E psi(f(Y)) averaged over the samples' labels, by enumeration (no score function)."""
    total, n = 0.0, 0
    for count, p, psi, _ in label_groups(Ws, bs, conditional, dis, loss, labels):
        total += count * float(p @ psi)
        n += count
    return total / n


def exact_gradient(Ws, bs, conditional, dis, loss, labels=None, *, last_layer_only=False):
    """Eq. 8 by enumeration: sum_h p(h) psi(f(h^L)) d log p(h)/d theta, averaged over the
    samples' labels; flattened."""
    groups = label_groups(Ws, bs, conditional, dis, loss, labels, last_layer_only=last_layer_only)
    n = sum(g[0] for g in groups)
    return sum(count * ((p * psi) @ s) for count, p, psi, s in groups) / n


def finite_difference_gradient(Ws, bs, conditional, dis, loss, labels=None, eps=1e-5):
    """Central differences of expected_psi with respect to every generator parameter."""
    sizes = [len(b) for b in bs]
    theta = flatten(Ws, bs)
    out = np.zeros_like(theta)
    for k in range(len(theta)):
        vals = []
        for sign in (1.0, -1.0):
            t = theta.copy()
            t[k] += sign * eps
            W2, b2 = unflatten(t, sizes)
            vals.append(expected_psi(W2, b2, conditional, dis, loss, labels))
        out[k] = (vals[0] - vals[1]) / (2.0 * eps)
    return out


def estimator_moments(groups, baseline):
    """Exact mean and per-component variance of the Eq. 9 estimate
        g = (1/n) sum_i (psi_i - c_i) score_i
    from n independent samples, count_g of them drawn from group g (a label), c_i = 0 or, with
    the baseline, the mean psi of the other n - 1 samples.

    Without baseline the terms are independent: Var = (1/n^2) sum_i Var(psi_i s_i).
    With it, write m_j = E psi_j, cbar_i = sum_{j != i} m_j / (n - 1), Q_ij = (psi_j - m_j) s_i:
        g = (1/n) sum_i (psi_i - cbar_i) s_i - 1/(n (n-1)) sum_{i != j} Q_ij,
    the Q_ij are uncorrelated with the first sum and with each other except Q_ij with Q_ji
    (E s = 0), so
        Var = (1/n^2) sum_i Var((psi_i - cbar_i) s_i)
              + 1/(n (n-1))^2 sum_{i != j} [Var(psi_j) E s_i^2 + E(psi_i s_i) E(psi_j s_j)].
    (Checked against brute-force enumeration of all n-tuples by the tests.)"""
    n = sum(g[0] for g in groups)
    a = [(p * psi) @ s for _, p, psi, s in groups]  # E psi s per group
    mean = sum(c * ai for (c, *_), ai in zip(groups, a)) / n
    if not baseline:
        var = sum(c * ((p * psi**2) @ s**2 - ai**2) for (c, p, psi, s), ai in zip(groups, a))
        return mean, var / n**2
    assert n >= 2
    m = [float(p @ psi) for _, p, psi, _ in groups]
    v = [float(p @ psi**2) - mi**2 for (_, p, psi, _), mi in zip(groups, m)]
    e2 = [p @ s**2 for _, p, _, s in groups]
    M = sum(c * mi for (c, *_), mi in zip(groups, m))
    first = 0.0
    for (c, p, psi, s), mi, ai in zip(groups, m, a):
        cbar = (M - mi) / (n - 1)
        first = first + c * ((p * (psi - cbar) ** 2) @ s**2 - ai**2)
    pair = 0.0
    for g, (cg, *_), in enumerate(groups):
        for h, (ch, *_), in enumerate(groups):
            pairs = cg * (ch - (1 if g == h else 0))
            pair = pair + pairs * (v[h] * e2[g] + a[g] * a[h])
    return mean, first / n**2 + pair / (n * (n - 1)) ** 2


def brute_force_moments(groups_per_sample, baseline):
    """Mean and variance of the estimate by enumerating every n-tuple of configurations
    (groups_per_sample: one (p, psi, score) per sample). Exponential: tiny cases only."""
    n = len(groups_per_sample)
    grids = np.meshgrid(*[np.arange(len(g[0])) for g in groups_per_sample], indexing="ij")
    idx = [g.ravel() for g in grids]  # one index array per sample, over all tuples
    prob = np.ones(len(idx[0]))
    for k, (p, _, _) in zip(idx, groups_per_sample):
        prob = prob * p[k]
    psis = np.stack([psi[k] for k, (_, psi, _) in zip(idx, groups_per_sample)], axis=1)
    w = psis - (psis.sum(axis=1, keepdims=True) - psis) / (n - 1) if baseline else psis
    est = sum(w[:, i:i + 1] * s[k] for i, (k, (_, _, s)) in enumerate(zip(idx, groups_per_sample)))
    est = est / n
    assert abs(prob.sum() - 1.0) < 1e-12
    mean = prob @ est
    return mean, prob @ (est - mean) ** 2


# ---------------------------------------------------------------------------------------------
# sampling from uniforms (the core's convention: h = 1 when u < p)
# ---------------------------------------------------------------------------------------------
def uniform_from_words(words):
    """The core's double-precision uniform in (0, 1) of 32-bit words (pdbn_rng.h)."""
    return (np.asarray(words, dtype=np.float64) + 0.5) * 2.0**-32


def forward_from_uniforms(Ws, bs, conditional, labels, uniforms):
    """Forward (ancestral) sampling of Eq. 2 with given uniforms: uniforms[l] (n, sizes[l])
    (uniforms[0] unused in conditional mode). Returns (states, probs of every layer >= 1)."""
    n = len(uniforms[-1])
    if conditional:
        h = [one_hot(labels, len(bs[0]))]
    else:
        h = [(uniforms[0] < expit(bs[0])[None, :]).astype(np.float64)]
    probs = []
    for l in range(1, len(bs)):
        p = expit(h[-1] @ Ws[l - 1].T + bs[l])
        probs.append(p)
        h.append((uniforms[l] < p).astype(np.float64))
    assert all(len(x) == n for x in h)
    return h, probs


def estimate_from_states(Ws, bs, conditional, dis, loss, states, baseline):
    """The Eq. 9 estimate (flattened) and mean psi from given samples."""
    psi = psi_of(dis, loss, dis_rows(states, conditional))
    n = len(psi)
    w = psi - (psi.sum() - psi) / (n - 1) if baseline else psi
    return (w[:, None] * score(Ws, bs, states, conditional)).mean(axis=0), float(psi.mean())


# ---------------------------------------------------------------------------------------------
# optimizers (textbook forms; `direction` is an ascent direction, as in pdbn_optim.h)
# ---------------------------------------------------------------------------------------------
def optimizer_step(cfg, param, direction, state1, state2, t, *, decay=True):
    """One update of `param` along `direction` with cfg = (kind, lr, momentum, beta1, beta2, rho,
    eps, weight_decay) (the binding's tuple); t is the 1-based step count; weight decay (L2,
    direction - wd * param) only where decay is True. Returns new (param, state1, state2):
      sgd      v = momentum v + lr d; param + v          (state1 = v; param + lr d if momentum 0)
      adam     m = b1 m + (1-b1) d, v = b2 v + (1-b2) d^2; param + lr mhat / (sqrt(vhat) + eps),
               mhat = m / (1 - b1^t), vhat = v / (1 - b2^t)  (Kingma & Ba 2015)
      rmsprop  s = rho s + (1-rho) d^2; param + lr d / (sqrt(s) + eps)"""
    kind, lr, momentum, beta1, beta2, rho, eps, wd = cfg
    d = direction - (wd * param if decay else 0.0)
    if kind == "sgd":
        if momentum == 0.0:
            return param + lr * d, state1, state2
        v = momentum * state1 + lr * d
        return param + v, v, state2
    if kind == "adam":
        m = beta1 * state1 + (1 - beta1) * d
        v = beta2 * state2 + (1 - beta2) * d**2
        mhat, vhat = m / (1 - beta1**t), v / (1 - beta2**t)
        return param + lr * mhat / (np.sqrt(vhat) + eps), m, v
    if kind == "rmsprop":
        s2 = rho * state1 + (1 - rho) * d**2
        return param + lr * d / (np.sqrt(s2) + eps), s2, state2
    raise ValueError(kind)
