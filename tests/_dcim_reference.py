"""Independent NumPy reference for deep conditional independent models (DCIM).

Nothing here imports pydbn. Every quantity is written out from Flach, Shekhovtsov & Fikar,
"Generative learning for deep networks" (shared paper 001), Sec. 2:

  layers x^0 (input) .. x^d (class, categorical); W^k of shape (n_k, n_{k-1}); b^k of x^k.
  encodings (Example 1): 'binary' 0/1 units, mean = sigmoid (Eq. 6-7);
      'pm1' +-1 units, mean = tanh (Eq. 8-9); data v in [0, 1] enter the 'pm1' model as 2v - 1.
  forward model p(x^d | x^0) (Eq. 14-15): xbar^0 = x^0,
      xbar^k = act(W^k xbar^{k-1} + b^k)  (0 < k < d),  p(y | x^0) = softmax(W^d xbar^{d-1} + b^d).
  reverse model q(x^0 | x^s) (Eq. 18-20, V^{k-1} = (W^k)', every layer keeps its own bias):
      r^s = the given states of layer s,
      r^{j-1} = act((W^j)' r^j + b^{j-1})  (j = s .. 2; optionally replaced by a sampled state),
      a = (W^1)' r^1 + b^0, the input layer's natural parameters:
      'binary': log q(x^0 | .) = sum_i x_i a_i - log(1 + e^{a_i}),
      'pm1'   : log q(x^0 | .) = sum_i t_i a_i - log(2 cosh a_i), t = 2v - 1.
  objectives (means over rows):
      'discriminative' log p(y | x);
      'bidirectional'  log p(y | x) + log q(x | onehot(y))                      (Eq. 21);
      'sampled'        log p(y | x) + log q(x | s), s ~ p(x^{d-1} | x) held fixed (Eq. 22).
  gradients: written out by hand (backpropagation through both recursions), not by autodiff.

Parameters are (Ws, bs): lists of float64 arrays, Ws[k - 1] = W^k, bs[k] = b^k. Gradients are
returned in the same layout; flatten() orders them weights first, then biases (the binding's
state-list order).
"""

import numpy as np
from scipy.special import expit, logsumexp

BINARY, PM1 = 0, 1
DISCRIMINATIVE, BIDIRECTIONAL, SAMPLED = 0, 1, 2


# ---------------------------------------------------------------------------------------------
# elementwise pieces
# ---------------------------------------------------------------------------------------------
def encode(X, encoding):
    """Data v in [0, 1] as the model's input layer: v (0/1) or 2v - 1 (+-1)."""
    X = np.asarray(X, dtype=np.float64)
    return 2.0 * X - 1.0 if encoding == PM1 else X


def activation(z, encoding):
    """Mean of a unit with natural parameter z: sigmoid(z) (0/1) or tanh(z) (+-1)."""
    return np.tanh(z) if encoding == PM1 else expit(z)


def activation_slope(h, encoding):
    """d mean / d z expressed through the mean h."""
    return 1.0 - h * h if encoding == PM1 else h * (1.0 - h)


def softplus(a):
    return np.logaddexp(0.0, a)


def log2cosh(a):
    a = np.abs(a)
    return a + np.log1p(np.exp(-2.0 * a))


def log_softmax(z):
    return z - logsumexp(z, axis=1, keepdims=True)


def input_log_likelihood(a, target, encoding):
    """Per-row log q(x^0 | .) for natural parameters a and encoded targets (v or 2v - 1)."""
    if encoding == PM1:
        return (target * a - log2cosh(a)).sum(axis=1)
    return (target * a - softplus(a)).sum(axis=1)


def input_log_likelihood_slope(a, target, encoding):
    """d input_log_likelihood / d a."""
    return target - (np.tanh(a) if encoding == PM1 else expit(a))


def prob_on(a, encoding):
    """q(x^0_i = 1) (0/1) or q(x^0_i = +1) (+-1) from the natural parameters."""
    return expit(2.0 * a) if encoding == PM1 else expit(a)


def one_hot(labels, k):
    out = np.zeros((len(labels), k))
    out[np.arange(len(labels)), np.asarray(labels, dtype=np.int64)] = 1.0
    return out


# ---------------------------------------------------------------------------------------------
# random draws (the core's conventions, pdbn_rng.h; the words themselves come from the caller)
# ---------------------------------------------------------------------------------------------
def uniform_from_words(words, dtype=np.float64):
    """The core's uniforms in (0, 1) of 32-bit words: double uses all 32 bits, float the top
    23 (pdbn_uniform_d / pdbn_uniform_f)."""
    words = np.asarray(words, dtype=np.uint32)
    if np.dtype(dtype) == np.float32:
        return (((words >> np.uint32(9)).astype(np.float32) + np.float32(0.5))
                * np.float32(1.1920928955078125e-7))
    return (words.astype(np.float64) + 0.5) * 2.0**-32


def on_probability(mean, encoding):
    """P(unit on) from its mean: the mean itself (0/1) or (1 + mean) / 2 (+-1)."""
    return 0.5 * (1.0 + mean) if encoding == PM1 else mean


def draw(mean, uniforms, encoding):
    """States from means and uniforms: on iff u < P(on); on = 1, off = 0 (0/1) or -1 (+-1)."""
    on = np.asarray(uniforms) < on_probability(np.asarray(mean), encoding)
    off = -1.0 if encoding == PM1 else 0.0
    return np.where(on, 1.0, off)


def permutation_from_words(n, words):
    """The core's Fisher-Yates shuffle (pdbn_permutation) for n <= 4097 from the first chunk of
    words: for i = n-1 .. 1, j = (w * (i + 1)) >> 32, swap perm[i], perm[j]."""
    perm = np.arange(n, dtype=np.int64)
    words = np.asarray(words, dtype=np.uint64)
    used = 0
    for i in range(n - 1, 0, -1):
        j = int((int(words[used]) * (i + 1)) >> 32)
        used += 1
        perm[i], perm[j] = perm[j], perm[i]
    return perm


# ---------------------------------------------------------------------------------------------
# models
# ---------------------------------------------------------------------------------------------
def random_model(sizes, scale=1.0, seed=0):
    """(Ws, bs) float64 with Ws[k-1] of shape (sizes[k], sizes[k-1])."""
    rng = np.random.default_rng(seed)
    Ws = [scale * rng.standard_normal((sizes[k], sizes[k - 1])) for k in range(1, len(sizes))]
    bs = [scale * rng.standard_normal(n) for n in sizes]
    return Ws, bs


def flatten(gw, gb):
    return np.concatenate([np.ravel(a) for a in list(gw) + list(gb)])


def forward(Ws, bs, X, encoding):
    """Forward recursion (Eq. 14-15) on data X. Returns (inputs, hidden means xbar^1..xbar^{d-1},
    class logits, class probabilities)."""
    d = len(Ws)
    x = encode(X, encoding)
    hidden = []
    h = x
    for k in range(1, d):
        h = activation(h @ Ws[k - 1].T + bs[k], encoding)
        hidden.append(h)
    logits = h @ Ws[d - 1].T + bs[d]
    return x, hidden, logits, np.exp(log_softmax(logits))


def reverse(Ws, bs, start, states, encoding, uniforms=None):
    """Reverse recursion from layer `start` with the given states (rows x n_start).

    uniforms: None (all means) or a dict {layer index j-1: uniforms (rows x n_{j-1})} for the
    layers below `start` that are sampled (draw(means, uniforms)); the other layers take means.
    Returns (layers, a): layers[j] = the state or mean used for layer j (j = 1 .. start; index
    0 unused, None) and the input layer's natural parameters a."""
    uniforms = uniforms or {}
    layers = [None] * (start + 1)
    layers[start] = np.asarray(states, dtype=np.float64)
    r = layers[start]
    for j in range(start, 1, -1):
        r = activation(r @ Ws[j - 1] + bs[j - 1], encoding)
        if j - 1 in uniforms:
            r = draw(r, uniforms[j - 1], encoding)
        layers[j - 1] = r
    a = r @ Ws[0] + bs[0]
    return layers, a


def _reverse_backward(Ws, bs, layers, a, target, encoding, inv, gw, gb):
    """Adds the gradient of inv * sum_rows log q(target | layers[start]) to gw, gb; the states
    of layers[start] are constants and the recursion below uses means."""
    start = len(layers) - 1
    da = input_log_likelihood_slope(a, target, encoding) * inv  # d / d a
    for j in range(1, start + 1):
        # a^{j-1} = r^j W^j + b^{j-1}
        gw[j - 1] += layers[j].T @ da
        gb[j - 1] += da.sum(axis=0)
        if j == start:
            break
        dr = da @ Ws[j - 1].T
        da = dr * activation_slope(layers[j], encoding)
    return gw, gb


def forward_objective(Ws, bs, X, labels, encoding, grads=True):
    """(mean log p(y | x), gw, gb, forward hidden means)."""
    d = len(Ws)
    n = X.shape[0]
    x, hidden, logits, _ = forward(Ws, bs, X, encoding)
    logp = log_softmax(logits)
    labels = np.asarray(labels, dtype=np.int64)
    fwd = logp[np.arange(n), labels].mean()
    gw = [np.zeros_like(w) for w in Ws]
    gb = [np.zeros_like(b) for b in bs]
    if grads:
        dz = (one_hot(labels, Ws[-1].shape[0]) - np.exp(logp)) / n
        acts = [x] + hidden
        for k in range(d, 0, -1):
            # z^k = acts[k-1] W^k' + b^k
            gw[k - 1] += dz.T @ acts[k - 1]
            gb[k] += dz.sum(axis=0)
            if k == 1:
                break
            dh = dz @ Ws[k - 1]
            dz = dh * activation_slope(acts[k - 1], encoding)
    return fwd, gw, gb, hidden


def objective(Ws, bs, X, labels, encoding, which, sample=None):
    """(fwd, rev, gw, gb) of an objective as means over rows; gradients of fwd + rev.

    which = DISCRIMINATIVE / BIDIRECTIONAL / SAMPLED; for SAMPLED, `sample` holds the states of
    x^{d-1} (rows x n_{d-1}) drawn from the forward means (see sampled_states)."""
    d = len(Ws)
    n = X.shape[0]
    fwd, gw, gb, hidden = forward_objective(Ws, bs, X, labels, encoding)
    rev = 0.0
    if which == DISCRIMINATIVE:
        return fwd, rev, gw, gb
    if which == BIDIRECTIONAL:
        start, states = d, one_hot(labels, Ws[-1].shape[0])
    elif which == SAMPLED:
        if d < 2:
            raise ValueError("the sampled objective needs a hidden layer")
        start, states = d - 1, np.asarray(sample, dtype=np.float64)
    else:
        raise ValueError("unknown objective")
    target = encode(X, encoding)
    layers, a = reverse(Ws, bs, start, states, encoding)
    rev = input_log_likelihood(a, target, encoding).mean()
    _reverse_backward(Ws, bs, layers, a, target, encoding, 1.0 / n, gw, gb)
    return fwd, rev, gw, gb


def sampled_states(Ws, bs, X, encoding, uniforms):
    """x^{d-1} ~ p(x^{d-1} | x): the forward means of layer d-1 drawn with the given uniforms.
    Also returns the means (to check how far each draw is from flipping)."""
    hidden = forward(Ws, bs, X, encoding)[1]
    mean = hidden[-1]
    return draw(mean, uniforms, encoding), mean


# ---------------------------------------------------------------------------------------------
# d = 1: the joint model of Remark 2
# ---------------------------------------------------------------------------------------------
def input_states(n, encoding):
    """All 2**n input states, first unit most significant: 0/1 or +-1 rows."""
    idx = np.arange(2**n, dtype=np.int64)[:, None]
    bits = ((idx >> np.arange(n - 1, -1, -1, dtype=np.int64)[None, :]) & 1).astype(np.float64)
    return 2.0 * bits - 1.0 if encoding == PM1 else bits


def joint_log_potential(W, b0, b1, encoding):
    """E[s, y] = <b^0, x_s> + b^1_y + <W_y, x_s> over every input state x_s (input_states) and
    class y: the unnormalised log-probability of an RBM whose 'hidden' layer is one softmax
    unit (the class), p(x, y) = exp(E) / Z. Returns (states, E)."""
    X = input_states(W.shape[1], encoding)
    E = (X @ b0)[:, None] + b1[None, :] + X @ W.T
    return X, E


def joint_conditionals(W, b0, b1, encoding):
    """Exact conditionals of that joint by enumeration: (states, log p(y | x) and
    log p(x | y), each of shape (2**n0, n_classes))."""
    X, E = joint_log_potential(W, b0, b1, encoding)
    log_y_given_x = E - logsumexp(E, axis=1, keepdims=True)
    log_x_given_y = E - logsumexp(E, axis=0, keepdims=True)
    return X, log_y_given_x, log_x_given_y
