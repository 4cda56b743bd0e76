"""Independent brute-force references for tiny deep belief networks, in plain NumPy.

Nothing here imports pydbn. Every quantity is computed from the model written out in survey
text 004, Sec. 3 (Eq. 19-24) and in the docstrings of pydbn.DBN, by enumerating every state of
the hidden layers, so the tests compare the C core against an obvious and slow computation.

The model (``Net``), with h_0 = v and D = number of directed layers (hidden_layer_sizes has
D + 1 entries):

    directed layer k (k = 0 .. D-1) joins h_k (below) and h_{k+1} (above):
        generative   p(h_k = 1 | h_{k+1}) = sigmoid(gen_b[k] + h_{k+1} @ gen_W[k])
                     (for k = 0 and Gaussian units: p(v | h_1) = N(gen_b[0] + h_1 @ gen_W[0], I))
        recognition  q(h_{k+1} = 1 | h_k) = sigmoid(rec_b[k] + h_k @ rec_W[k].T)
        gen_W[k], rec_W[k] : (n_{k+1}, n_k)
    top RBM over t = [h_D, onehot(y)] (labels optional, the LAST visible units) and hidden u:
        E(t, u) = -b.t - c.u - u @ W @ t,   W : (n_u, n_D + n_labels)
        p_top(h_D, y) = sum_u exp(-E) / Z,  Z summing h_D, the one-hot y and u.

    p(v) = sum_{h_1..h_D} p(v | h_1) prod_{k=1}^{D-1} p(h_k | h_{k+1}) sum_y p_top(h_D, y)

Hidden configurations (h_1, ..., h_D) are enumerated jointly by `hidden_configs`; index c of a
configuration is the same in every table returned below.
"""

import itertools
from dataclasses import dataclass

import numpy as np
from scipy.special import expit, log_expit, logsumexp

try:  # tests/ may or may not be a package
    from . import _enumerate as en
except ImportError:  # pragma: no cover
    import _enumerate as en

LOG_2PI = np.log(2.0 * np.pi)


@dataclass
class Net:
    sizes: tuple  # (n_0 = n_features, n_1, ..., n_D): the layers below the top RBM's hidden one
    gen_W: list
    gen_b: list
    rec_W: list
    rec_b: list
    W: np.ndarray  # top RBM weights (n_u, n_D + n_labels)
    b: np.ndarray  # top RBM visible bias (n_D + n_labels)
    c: np.ndarray  # top RBM hidden bias (n_u)
    n_labels: int = 0
    gaussian: bool = False

    @property
    def D(self):
        return len(self.sizes) - 1


def random_net(n_features, hidden, *, n_labels=0, gaussian=False, scale=1.0, bias_scale=0.5,
               tied=True, rec_scale=None, seed=0):
    """Random parameters of a DBN with hidden_layer_sizes `hidden` (the last entry is the top
    RBM's hidden layer). Weights ~ N(0, scale^2), biases ~ N(0, bias_scale^2). With tied=False
    the recognition parameters are drawn independently (scale rec_scale, default scale)."""
    rng = np.random.default_rng(seed)
    sizes = (n_features,) + tuple(hidden[:-1])
    gen_W, gen_b, rec_W, rec_b = [], [], [], []
    for k in range(len(sizes) - 1):
        n0, n1 = sizes[k], sizes[k + 1]
        gen_W.append(rng.normal(0, scale, (n1, n0)))
        gen_b.append(rng.normal(0, bias_scale, n0))
        if tied:
            rec_W.append(gen_W[-1].copy())
            rec_b.append(rng.normal(0, bias_scale, n1))
        else:
            rs = scale if rec_scale is None else rec_scale
            rec_W.append(rng.normal(0, rs, (n1, n0)))
            rec_b.append(rng.normal(0, bias_scale, n1))
    n_top_vis = sizes[-1] + n_labels
    W = rng.normal(0, scale, (hidden[-1], n_top_vis))
    b = rng.normal(0, bias_scale, n_top_vis)
    c = rng.normal(0, bias_scale, hidden[-1])
    return Net(sizes, gen_W, gen_b, rec_W, rec_b, W, b, c, n_labels, gaussian)


# ---------------------------------------------------------------------------------------------
# states
# ---------------------------------------------------------------------------------------------
def hidden_configs(sizes):
    """[H_1, ..., H_D]: H_k (n_cfg, n_k) holds layer k of every joint configuration of the
    directed hidden layers; the configurations are the Cartesian product of the layers' states."""
    layers = [en.binary_states(n) for n in sizes[1:]]
    idx = np.array(list(itertools.product(*[range(len(s)) for s in layers])), dtype=np.int64)
    if idx.ndim == 1:
        idx = idx[:, None]
    return [s[idx[:, k]] for k, s in enumerate(layers)]


def top_visible_states(n_x, n_labels):
    """All top-RBM visible states [x, onehot(y)] (x-major, y-minor) and the x index of each."""
    X = en.binary_states(n_x)
    if not n_labels:
        return X, np.arange(len(X)), None
    rows, xi, yi = [], [], []
    for i, x in enumerate(X):
        for y in range(n_labels):
            oh = np.zeros(n_labels)
            oh[y] = 1.0
            rows.append(np.concatenate([x, oh]))
            xi.append(i)
            yi.append(y)
    return np.array(rows), np.array(xi), np.array(yi)


def with_label(X, y, n_labels):
    oh = np.zeros((len(X), n_labels))
    oh[:, y] = 1.0
    return np.hstack([X, oh])


# ---------------------------------------------------------------------------------------------
# the top RBM
# ---------------------------------------------------------------------------------------------
def top_log_unnormalised(T, net):
    """log sum_u exp(-E(t, u)) for every top-visible row t (hidden units enumerated)."""
    U = en.binary_states(len(net.c))
    return logsumexp(-en.joint_energy(np.atleast_2d(T), U, net.W, net.b, net.c), axis=1)


def top_log_unnormalised_by_label(X, net):
    """(rows, n_labels) log sum_u exp(-E([x, onehot(y)], u)); (rows, 1) without labels."""
    if not net.n_labels:
        return top_log_unnormalised(X, net)[:, None]
    return np.stack([top_log_unnormalised(with_label(X, y, net.n_labels), net)
                     for y in range(net.n_labels)], axis=1)


def top_log_z(net):
    """log Z of the top RBM: every (h_D, one-hot y, u) joint state summed."""
    T, _, _ = top_visible_states(net.sizes[-1], net.n_labels)
    U = en.binary_states(len(net.c))
    return float(logsumexp(-en.joint_energy(T, U, net.W, net.b, net.c)))


def top_gibbs_kernel(net, clamp=None):
    """One Gibbs sweep t -> u -> t' of the top RBM over top_visible_states, as a row-stochastic
    matrix. The label group is a softmax (one-hot) group. With clamp=y, the chain's label is
    held at y and the states are those of h_D only."""
    n_x, ns = net.sizes[-1], net.n_labels
    U = en.binary_states(len(net.c))
    Xs = en.binary_states(n_x)
    if clamp is None:
        T, xi, yi = top_visible_states(n_x, ns)
    else:
        T, xi, yi = with_label(Xs, clamp, ns), np.arange(len(Xs)), np.full(len(Xs), clamp)
    pu = en._bernoulli_table(expit(T @ net.W.T + net.c), U)  # (n_T, n_U)
    act = U @ net.W + net.b  # (n_U, n_x + ns)
    px = en._bernoulli_table(expit(act[:, :n_x]), Xs)  # (n_U, 2^n_x)
    if ns:
        py = np.exp(act[:, n_x:] - logsumexp(act[:, n_x:], axis=1, keepdims=True))
        pt = px[:, xi] * (py[:, yi] if clamp is None else 1.0)
    else:
        pt = px
    return pu @ pt


# ---------------------------------------------------------------------------------------------
# the network
# ---------------------------------------------------------------------------------------------
def bernoulli_log_prob(H, logits):
    """sum_i log Bern(H_i | sigmoid(logits_i)), row-wise (broadcasting)."""
    return (H * log_expit(logits) + (1.0 - H) * log_expit(-logits)).sum(axis=-1)


def log_p_visible_given_h1(V, H1, net):
    """(rows, n_cfg) log p(v | h_1)."""
    V = np.asarray(V, dtype=np.float64)
    mean = H1 @ net.gen_W[0] + net.gen_b[0]  # (n_cfg, n_0): logits or Gaussian means
    if net.gaussian:
        sq = ((V[:, None, :] - mean[None, :, :]) ** 2).sum(axis=2)
        return -0.5 * sq - 0.5 * V.shape[1] * LOG_2PI
    return V @ log_expit(mean).T + (1.0 - V) @ log_expit(-mean).T


def log_prior(net, by_label=False, top=None):
    """log p(h_1, ..., h_D) for every configuration (n_cfg,), or log p(h, y) (n_cfg, n_labels)
    with by_label. `top` replaces log p_top(h_D) (indexed by the state of h_D) if given."""
    H = hidden_configs(net.sizes)
    lp = np.zeros(len(H[0]))
    for k in range(1, net.D):
        lp += bernoulli_log_prob(H[k - 1], H[k] @ net.gen_W[k] + net.gen_b[k])
    if top is not None:
        return lp + top[en.state_index(H[-1])]
    ltop = top_log_unnormalised_by_label(H[-1], net) - top_log_z(net)
    if by_label:
        return lp[:, None] + ltop
    return lp + logsumexp(ltop, axis=1)


def log_joint(V, net, prior=None):
    """(rows, n_cfg) log p(v, h_1..h_D)."""
    H = hidden_configs(net.sizes)
    if prior is None:
        prior = log_prior(net)
    return log_p_visible_given_h1(V, H[0], net) + prior[None, :]


def log_p(V, net):
    """log p(v) of every row, summing every hidden configuration."""
    return logsumexp(log_joint(V, net), axis=1)


def log_p_given_label(V, net, y):
    """log p(v | y)."""
    H = hidden_configs(net.sizes)
    lpy = log_prior(net, by_label=True)  # log p(h, y)
    joint = log_p_visible_given_h1(V, H[0], net) + lpy[None, :, y]
    return logsumexp(joint, axis=1) - logsumexp(lpy[:, y])


def log_q(V, net):
    """(rows, n_cfg) log q(h_1..h_D | v) = sum_k log q(h_{k+1} | h_k), the recognition
    distribution of the up-pass."""
    V = np.asarray(V, dtype=np.float64)
    H = hidden_configs(net.sizes)
    out = bernoulli_log_prob(H[0][None, :, :], (V @ net.rec_W[0].T + net.rec_b[0])[:, None, :])
    for k in range(1, net.D):
        out = out + bernoulli_log_prob(H[k], H[k - 1] @ net.rec_W[k].T + net.rec_b[k])[None, :]
    return out


def variational_bound(V, net):
    """sum_h q(h | v) (log p(v, h) - log q(h | v)) of every row."""
    lj, lq = log_joint(V, net), log_q(V, net)
    q = np.exp(lq)
    return (q * (lj - lq)).sum(axis=1)


def kl_q_posterior(V, net):
    """KL(q(h | v) || p(h | v)) of every row."""
    lj, lq = log_joint(V, net), log_q(V, net)
    log_post = lj - logsumexp(lj, axis=1, keepdims=True)
    q = np.exp(lq)
    return (q * (lq - log_post)).sum(axis=1)


def bernoulli_entropy(logits):
    p = expit(logits)
    return -(p * log_expit(logits) + (1 - p) * log_expit(-logits)).sum(axis=-1)


def sampled_bound_term(V, net):
    """(rows, n_cfg) the per-draw term of the sampled bound for a draw h ~ q(h | v):
    sum_k H(q(h_{k+1} | h_k)) (each layer's entropy exact given the sampled layer below) +
    log p(v, h). Its q-mean is the variational bound; its q-variance sets the Monte-Carlo
    error of the estimate."""
    V = np.asarray(V, dtype=np.float64)
    H = hidden_configs(net.sizes)
    ent = bernoulli_entropy(V @ net.rec_W[0].T + net.rec_b[0])[:, None]
    for k in range(1, net.D):
        ent = ent + bernoulli_entropy(H[k - 1] @ net.rec_W[k].T + net.rec_b[k])[None, :]
    return ent + log_joint(V, net)


def up_pass_means(X, net):
    """Deterministic up-pass: m_{k+1} = sigmoid(rec_b[k] + m_k @ rec_W[k].T), [m_1..m_D]."""
    m = np.asarray(X, dtype=np.float64)
    out = []
    for k in range(net.D):
        m = expit(m @ net.rec_W[k].T + net.rec_b[k])
        out.append(m)
    return out


# ---------------------------------------------------------------------------------------------
# the up-down (contrastive wake-sleep) update, in expectation
# ---------------------------------------------------------------------------------------------
def updown_expected_update(V, labels, net, k):
    """Expected parameter change per unit learning rate of one up-down step on a minibatch
    holding each row of V once (with class indices `labels`, or None), and the variance of
    that change for one row, Hinton et al. 2006, App. B:

    wake: h ~ q(h | v) layer by layer (samples); generative layers
        d gen_W[k] = h_{k+1}^T (h_k - p(h_k = 1 | h_{k+1})),  d gen_b[k] = h_k - p
    top RBM: positive statistics at t = [h_D, onehot(y)] with the u-probabilities
        sigmoid(c + W t); negative ones at t' after k Gibbs sweeps t -> u -> t' started at t
        (labels free), with the u-probabilities at t'
    sleep: from t', h_{D-1} .. h_1 sampled from the generative layers, h_0 the means
        p(v | h_1); recognition layers
        d rec_W[k] = (h_{k+1} - q(h_{k+1} = 1 | h_k))^T h_k,  d rec_b[k] = h_{k+1} - q

    Returns (mean, var): dicts keyed gen_W, gen_b, rec_W, rec_b (lists over layers), W, b, c.
    mean is the expected change averaged over the rows; var the average over the rows of each
    row's variance, so that the average of N independent rows in these proportions has
    variance var / N."""
    V = np.asarray(V, dtype=np.float64)
    n = len(V)
    H = hidden_configs(net.sizes)
    D, ns, n_x = net.D, net.n_labels, net.sizes[-1]
    Q = np.exp(log_q(V, net))  # (rows, n_cfg)
    T, xi, _ = top_visible_states(n_x, ns)
    Kk = np.linalg.matrix_power(top_gibbs_kernel(net), k)
    PU = expit(T @ net.W.T + net.c)
    top_idx = en.state_index(H[-1])  # the state of h_D in each configuration
    stats = {"W": PU[:, :, None] * T[:, None, :], "b": T, "c": PU}
    mean, var = {}, {}

    def add(name, layer, e, e2):
        m, v = e / n, (e2 - e**2) / n
        if layer is None:
            mean[name] = mean.get(name, 0.0) + m
            var[name] = var.get(name, 0.0) + v
        else:
            mean.setdefault(name, [0.0] * D)
            var.setdefault(name, [0.0] * D)
            mean[name][layer] = mean[name][layer] + m
            var[name][layer] = var[name][layer] + v

    for r in range(n):
        q = Q[r]
        # wake phase, generative layers
        for layer in range(D):
            above = H[layer]  # h_{layer+1}
            p = expit(above @ net.gen_W[layer] + net.gen_b[layer])
            below = V[r][None, :] if layer == 0 else H[layer - 1]
            err = below - p  # (n_cfg, n_layer)
            X = above[:, :, None] * err[:, None, :]
            add("gen_W", layer, np.einsum("c,cji->ji", q, X), np.einsum("c,cji->ji", q, X**2))
            add("gen_b", layer, q @ err, q @ err**2)
        # top RBM: wake states t ~ d0, negative states t' | t ~ Kk[t]
        pos = top_idx * ns + labels[r] if ns else top_idx
        d0 = np.bincount(pos, weights=q, minlength=len(T))
        dk = d0 @ Kk
        for name, f in stats.items():
            f2 = f.reshape(len(T), -1)
            e = d0 @ f2 - dk @ f2
            e2 = d0 @ f2**2 - 2 * (d0[:, None] * f2 * (Kk @ f2)).sum(axis=0) + dk @ f2**2
            add(name, None, e.reshape(f.shape[1:]), e2.reshape(f.shape[1:]))
        # sleep phase: h_D from t', then down the network
        d_top_x = np.bincount(xi, weights=dk, minlength=2**n_x)
        with np.errstate(divide="ignore"):
            s = np.exp(log_prior(net, top=np.log(d_top_x)))
        mean0 = H[0] @ net.gen_W[0] + net.gen_b[0]
        below0 = mean0 if net.gaussian else expit(mean0)  # h_0 = the means p(v | h_1)
        for layer in range(D):
            below = below0 if layer == 0 else H[layer - 1]
            above = H[layer]
            err = above - expit(below @ net.rec_W[layer].T + net.rec_b[layer])
            X = err[:, :, None] * below[:, None, :]
            add("rec_W", layer, np.einsum("c,cji->ji", s, X), np.einsum("c,cji->ji", s, X**2))
            add("rec_b", layer, s @ err, s @ err**2)
    return mean, var

