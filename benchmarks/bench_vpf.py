"""Speed of VPF training: pydbn's VPF epoch against CD-1 / PCD-1 and against a NumPy VPF epoch.

Variational probability flow (Liu, Quek & Lin, shared text 003) trains a Boltzmann machine
without Gibbs confabulations: at the start of each epoch one E-step sample of the hidden
layers of every training row (bottom-up, with one asynchronous sweep of the lateral weights
where a layer has them, Eq. 5), then per minibatch one Adam step down the minimum probability
flow objective of the completed rows (Eq. 1-2). Everything below is measured in one run on the
same data and the same machine:

- data: the 60000 MNIST training images (``pydbn.datasets.load_mnist``, grey levels / 255)
  binarized by thresholding at 0.5, as the text does; ``--n-rows`` takes the first N;
- (i) one training epoch of an RBM 784-196 by ``pydbn.RBM`` with ``method='vpf'`` (Adam,
  learning rate 1e-3, weight decay 1e-4: the text's settings), ``method='cd', k=1`` and
  ``method='pcd', k=1`` (learning rate 0.05, momentum 0.5, weight decay 1e-4), batch 40, in
  float32 and float64; ratios VPF / CD-1 and VPF / PCD-1. The figure is the C epoch the
  estimator records in ``history_['time']``; the ``fit`` wall time is printed beside it;
- (ii) one VPF epoch by ``pydbn.VPF`` (``partial_fit`` on a copy of the same start state, the
  random initialization) against a vectorised NumPy implementation of the same epoch written
  here (the E-step over all rows with the start-of-epoch parameters, shuffled minibatches
  split as pydbn splits them, the MPF objective and gradient of Eq. 1-2, Adam with the same
  bias-corrected arithmetic and weight decay on the weights only), for the RBM 784-196 and the
  DBM 784-196-196-64 without and with lateral weights (the text's DBM1 and DBM2), in float32
  and float64; ratio NumPy / pydbn. The NumPy lateral sweep loops over the units of a layer
  (each unit's update needs the new states of the units before it) and is vectorised over
  blocks of rows. The NumPy epoch's E-step, MPF and Adam times are printed, and for pydbn an
  approximate split (its E-step kernel ``_core.bm_infer`` and its MPF kernel ``_core.bm_mpf``
  timed alone);
- the MPF objective + gradient kernel alone on one minibatch of 40 rows:
  ``pydbn._core.bm_mpf`` against the NumPy function, for each model and dtype.

Before timing, the script checks that the NumPy epoch computes what pydbn computes: from the
same parameters, given pydbn's own E-step samples (``_core.bm_infer`` with the epoch's seed)
and pydbn's minibatch order (its Philox shuffle, regenerated from ``_core.random_words``),
one NumPy epoch over ``--check-rows`` rows must give pydbn's parameters up to rounding (the
difference is printed). There is no other VPF implementation to compare with: the text's code
(Theano) is not public, and neither scikit-learn nor any other library we know of has MPF or
VPF, so the NumPy epoch is the reference.

The implementations run in rounds; each round runs every one of them once, in an order
rotated by one place from the round before, so drifts of the machine fall on all of them
alike. Medians over the rounds are reported. The load average is printed at the start, after
every round and at the end: other processes on the machine inflate every time, multi-threaded
OpenBLAS far more than in proportion (``--threads 1`` avoids the worst of it).

Run ``python benchmarks/bench_vpf.py`` (60000 rows, 3 rounds; about 6-9 minutes on 2 idle
cores) or ``--quick`` for a smoke run (400 rows, 1 round).
"""

import argparse
import copy
import math
import os
import platform
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # benchmarks/_common.py
from _common import cpu_model, load_average  # noqa: E402

# the text's figures are for these networks (RBM(196); DBM 784-196-196-64)
RBM_HIDDEN = (196,)
DBM_HIDDEN = (196, 196, 64)
SHUFFLE_PURPOSE = 1  # PDBN_RNG_SHUFFLE in csrc/core/pdbn_rng.h
PERMUTATION_CHUNK = 4096  # words per row of the shuffle stream (csrc/core/rng.c)


# ---------------------------------------------------------------------------
# the NumPy reference: one VPF epoch, the same algorithm and arithmetic as pydbn's C core
# ---------------------------------------------------------------------------
#
# A model is (W, U, b): W[k] (n_{k+1}, n_k) joins layers k and k + 1, U[k] (n_k, n_k)
# symmetric with zero diagonal or None, b[k] the biases; layer 0 is visible. The energy is
#     E(y) = - sum_k b_k.y_k - sum_k y_{k+1}' W_k y_k - 1/2 sum_k y_k' U_k y_k,
# the input of unit j of layer k is z = b_k + y_{k-1} W_{k-1}' + y_{k+1} W_k + y_k U_k, and
# MPF with one-bit-flip connectivity gives K = mean over rows and over all |V| units of
# exp(alpha z), alpha = 1/2 - y (text 003, Eq. 1-2 with epsilon = 1/|V|, as pydbn's core).

def _expit(x):
    from scipy.special import expit

    return expit(x, out=x)


def numpy_inputs(model, Y, k):
    """z_k for the rows of the configuration Y (a list of (rows, n_k) arrays)."""
    W, U, b = model
    L = len(W)
    parts = []  # the order of pydbn's core: from below, from above, from the same layer
    if k > 0:
        parts.append((Y[k - 1], W[k - 1].T))
    if k < L:
        parts.append((Y[k + 1], W[k]))
    if U[k] is not None:
        parts.append((Y[k], U[k]))
    if not parts:
        z = np.zeros_like(Y[k])
    else:
        z = parts[0][0] @ parts[0][1]
        for y, w in parts[1:]:
            z += y @ w
    z += b[k]
    return z


def numpy_mpf(model, Y, with_gradients=True):
    """K and, optionally, its gradients (gW, gU, gb) for the completed rows Y (Eq. 1-2).

    K is the mean over rows and over all |V| units of exp(alpha z) (the text's epsilon = 1/|V|);
    dK/db_k = sum_rows G_k / n, dK/dW_k = (G_{k+1}' Y_k + Y_{k+1}' G_k) / n,
    dK/dU_k = (G_k' Y_k + Y_k' G_k) / n with a zero diagonal, G = alpha * exp(alpha z) and
    n = rows * |V|. K is summed in float64, like pydbn's core (which keeps one row's sum in
    the element type).
    """
    W, U, b = model
    L = len(W)
    rows = Y[0].shape[0]
    dt = Y[0].dtype.type
    half = dt(0.5)
    total = 0.0
    G = []
    for k in range(L + 1):
        z = numpy_inputs(model, Y, k)
        a = half - Y[k]
        z *= a
        np.exp(z, out=z)
        total += float(z.sum(axis=1).sum(dtype=np.float64))
        z *= a
        G.append(z)
    per = rows * sum(y.shape[1] for y in Y)
    K = total / per
    if not with_gradients:
        return K, None
    scale = dt(1.0 / per)
    gW = []
    for k in range(L):
        g = G[k + 1].T @ Y[k]
        g += Y[k + 1].T @ G[k]
        g *= scale
        gW.append(g)
    gU = []
    for k in range(L + 1):
        if U[k] is None:
            gU.append(None)
            continue
        g = G[k].T @ Y[k]
        g *= scale
        g = g + g.T
        np.fill_diagonal(g, 0)
        gU.append(g)
    gb = [g.sum(axis=0) * scale for g in G]
    return K, (gW, gU, gb)


def numpy_e_step(model, X, rng, block=1024):
    """The E-step of Algorithm 1 for every row of X: h_k ~ p(h_k | h_{k-1}) with the input
    from above zeroed, then (where U_k exists) one asynchronous sweep over the units of layer
    k in index order (Eq. 5). Vectorised over blocks of rows; the sweep loops over units."""
    W, U, b = model
    dtype = X.dtype
    n = X.shape[0]
    L = len(W)
    H = [np.empty((n, len(b[k])), dtype=dtype) for k in range(1, L + 1)]
    for lo in range(0, n, block):
        below = X[lo:lo + block]
        rows = below.shape[0]
        for k in range(1, L + 1):
            ext = below @ W[k - 1].T
            ext += b[k]
            p = _expit(ext.copy())
            h = (rng.random(p.shape, dtype=dtype) < p).astype(dtype)
            if U[k] is not None:
                Uk = U[k]
                for j in range(h.shape[1]):  # Eq. 5: each unit sees the new states before it
                    pj = _expit(ext[:, j] + h @ Uk[j])  # U symmetric: row j is column j
                    h[:, j] = rng.random(rows, dtype=dtype) < pj
            H[k - 1][lo:lo + rows] = h
            below = h
    return H


def numpy_adam_step(param, grad, m, v, t, lr, beta1, beta2, eps, weight_decay):
    """pydbn's Adam step (csrc/core/optim_impl.h): Kingma & Ba with bias correction, on the
    descent direction d = -(grad + weight_decay * param); both corrections folded into the
    step and epsilon: param += lr sqrt(c2) / c1 * m / (sqrt(v) + eps sqrt(c2))."""
    dt = param.dtype.type
    c1 = 1.0 - beta1 ** t
    c2 = 1.0 - beta2 ** t
    step = dt(lr * math.sqrt(c2) / c1)
    e = dt(eps * math.sqrt(c2))
    b1, b2 = dt(beta1), dt(beta2)
    d = -grad
    if weight_decay:
        d -= dt(weight_decay) * param
    m *= b1
    m += (dt(1) - b1) * d
    v *= b2
    d *= d
    d *= dt(1) - b2
    v += d
    upd = np.sqrt(v)
    upd += e
    np.divide(m, upd, out=upd)
    upd *= step
    param += upd


def numpy_vpf_epoch(model, state, t, X, *, learning_rate, beta1=0.9, beta2=0.999, eps=1e-8,
                    weight_decay=0.0, batch_size=40, rng=None, hidden=None, order=None,
                    timings=None):
    """One VPF epoch in plain NumPy, in place on ``model`` and ``state``.

    state = (mW, vW, mU, vU, mb, vb), Adam's moments in pydbn's convention (m of the descent
    direction); t counts the steps taken before. The E-step samples all rows with the
    parameters at the start of the epoch (``hidden`` passes given samples instead); the rows
    are visited in ``order`` (default: a permutation from ``rng``) in minibatches split as
    pydbn splits them (minibatch i holds rows [i n / B, (i + 1) n / B) of the order,
    B = ceil(n / batch_size)). Returns (mean over minibatches of K before each update, t).
    ``timings``, a dict, receives the seconds of the E-step, the MPF and the Adam steps.
    """
    W, U, b = model
    mW, vW, mU, vU, mb, vb = state
    L = len(W)
    n = X.shape[0]
    t0 = time.perf_counter()
    if hidden is None:
        hidden = numpy_e_step(model, X, rng)
    if order is None:
        order = rng.permutation(n)
    t1 = time.perf_counter()
    Y_all = [X] + list(hidden)
    n_batches = -(-n // batch_size)
    t_mpf = t_adam = 0.0
    total = 0.0
    for bi in range(n_batches):
        ta = time.perf_counter()
        rows = order[bi * n // n_batches:(bi + 1) * n // n_batches]
        Y = [y[rows] for y in Y_all]
        K, (gW, gU, gb) = numpy_mpf(model, Y)
        total += K
        tb = time.perf_counter()
        t += 1
        for k in range(L + 1):
            numpy_adam_step(b[k], gb[k], mb[k], vb[k], t, learning_rate, beta1, beta2, eps, 0.0)
            if U[k] is not None:
                numpy_adam_step(U[k], gU[k], mU[k], vU[k], t, learning_rate, beta1, beta2, eps,
                                weight_decay)
                np.fill_diagonal(U[k], 0)
            if k < L:
                numpy_adam_step(W[k], gW[k], mW[k], vW[k], t, learning_rate, beta1, beta2, eps,
                                weight_decay)
        tc = time.perf_counter()
        t_mpf += tb - ta
        t_adam += tc - tb
    if timings is not None:
        timings.update(e_step=t1 - t0, mpf=t_mpf, adam=t_adam)
    return total / n_batches, t


def model_of(vpf):
    """(W, U, b) copies of a fitted pydbn.VPF's parameters."""
    W = [w.copy() for w in vpf.components_]
    lat = vpf.lateral_components_
    U = [None] + ([None] * len(W) if lat is None else [u.copy() for u in lat])
    b = [x.copy() for x in vpf.intercepts_]
    return W, U, b


def zero_state(model):
    """Adam state (mW, vW, mU, vU, mb, vb) of zeros, None where U is None."""
    W, U, b = model

    def z(arrays):
        return [None if a is None else np.zeros_like(a) for a in arrays]

    return (z(W), z(W), z(U), z(U), z(b), z(b))


def core_permutation(seed, epoch, n):
    """The minibatch order of pydbn's VPF epoch (``pdbn_permutation`` in csrc/core/rng.c):
    Fisher-Yates from the Philox stream (seed, shuffle, epoch), j = (w (i + 1)) >> 32, the
    words taken 4096 per stream row. Regenerated from ``_core.random_words``."""
    from pydbn import _core

    perm = np.arange(n, dtype=np.int64)
    words, used, chunk = None, PERMUTATION_CHUNK, 0
    for i in range(n - 1, 0, -1):
        if used == PERMUTATION_CHUNK:
            words = _core.random_words(seed, SHUFFLE_PURPOSE, 0, epoch, 0, chunk,
                                       PERMUTATION_CHUNK)
            chunk += 1
            used = 0
        j = (int(words[used]) * (i + 1)) >> 32
        used += 1
        perm[i], perm[j] = perm[j], perm[i]
    return perm


def core_e_step(model, X, seed, epoch):
    """pydbn's E-step samples of the rows of X for the stream (seed, epoch) (_core.bm_infer)."""
    from pydbn import _core

    W, U, b = model
    out = [np.empty((X.shape[0], len(x)), dtype=X.dtype) for x in b[1:]]
    _core.bm_infer((W, U, b), X, seed, epoch, out, False)
    return out


def compare_epochs(model, X, *, seed, epoch, learning_rate, weight_decay, batch_size,
                   beta1=0.9, beta2=0.999, eps=1e-8, t=0):
    """One pydbn epoch (``_core.vpf_epoch``) and one NumPy epoch from copies of ``model``
    with zero Adam state, the NumPy epoch given pydbn's E-step samples and minibatch order.
    Returns (pydbn model, NumPy model, (K, t) of pydbn, (K, t) of NumPy)."""
    from pydbn import _core

    def fresh():
        W, U, b = model
        return ([w.copy() for w in W], [None if u is None else u.copy() for u in U],
                [x.copy() for x in b])

    core_model, ref_model = fresh(), fresh()
    hidden = core_e_step(model, X, seed, epoch)
    order = core_permutation(seed, epoch, X.shape[0])
    core_state, ref_state = zero_state(core_model), zero_state(ref_model)
    core_out = _core.vpf_epoch(core_model, X, core_state, t, learning_rate, beta1, beta2, eps,
                               weight_decay, batch_size, seed, epoch, False)
    ref_out = numpy_vpf_epoch(ref_model, ref_state, t, X, learning_rate=learning_rate,
                              beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay,
                              batch_size=batch_size, hidden=hidden, order=order)
    return core_model, ref_model, core_out, ref_out


def max_difference(a, c):
    """Largest absolute difference between the parameters of two models."""
    return max(float(np.max(np.abs(x.astype(np.float64) - y.astype(np.float64))))
               for xs, ys in zip(a, c) for x, y in zip(xs, ys) if x is not None)


# ---------------------------------------------------------------------------
# environment
# ---------------------------------------------------------------------------

def environment_lines():
    import sklearn
    import threadpoolctl

    import pydbn

    lines = [
        f"- CPU: {cpu_model()}, {os.cpu_count()} logical CPUs; Python "
        f"{platform.python_version()}, NumPy {np.__version__}, scikit-learn {sklearn.__version__}, "
        f"pydbn {getattr(pydbn, '__version__', '?')}",
        f"- load average at start (1, 5, 15 min): {load_average()} (well above 0 means other "
        "processes share the CPUs and the timings inflate)",
    ]
    for info in threadpoolctl.threadpool_info():
        lines.append(
            "- {user_api} {internal_api} {version}: {num_threads} threads, {file}".format(
                user_api=info.get("user_api"), internal_api=info.get("internal_api"),
                version=info.get("version"), num_threads=info.get("num_threads"),
                file=os.path.basename(info.get("filepath", "?"))))
    return lines


def _fmt_ratio(x):
    return "-" if x is None or not np.isfinite(x) else f"{x:.2f}x"


def _pct(part, whole):
    return f"{part:.3f} ({100 * part / whole:.0f}%)" if whole > 0 else f"{part:.3f}"


# ---------------------------------------------------------------------------
# the benchmark
# ---------------------------------------------------------------------------

def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=None, help="MNIST folder (default: pydbn.datasets')")
    p.add_argument("--n-rows", type=int, default=None,
                   help="use the first N training rows (default all 60000)")
    p.add_argument("--batch-size", type=int, default=40, help="minibatch rows (default 40)")
    p.add_argument("--learning-rate", type=float, default=1e-3,
                   help="VPF's Adam step size (default 1e-3, the text's)")
    p.add_argument("--weight-decay", type=float, default=1e-4,
                   help="weight decay of every model (default 1e-4, the text's)")
    p.add_argument("--cd-learning-rate", type=float, default=0.05,
                   help="CD-1 / PCD-1 learning rate (default 0.05)")
    p.add_argument("--cd-momentum", type=float, default=0.5,
                   help="CD-1 / PCD-1 momentum (default 0.5)")
    p.add_argument("--rounds", type=int, default=3, help="rounds of every implementation (3)")
    p.add_argument("--no-numpy", action="store_true", help="leave the NumPy reference out")
    p.add_argument("--check-rows", type=int, default=400,
                   help="rows of the NumPy-against-pydbn epoch check (default 400)")
    p.add_argument("--threads", type=int, default=None,
                   help="limit every BLAS / OpenMP pool to this many threads (threadpoolctl)")
    p.add_argument("--seed", type=int, default=0, help="random_state of every model")
    p.add_argument("--quick", action="store_true", help="smoke run: 400 rows, 1 round")
    args = p.parse_args(argv)
    if args.quick:
        args.n_rows = min(args.n_rows or 400, 400)
        args.rounds = 1
        args.check_rows = min(args.check_rows, 200)
    return args


def load_data(args):
    from pydbn.datasets import load_mnist

    X, _ = load_mnist(args.data, kind="train")
    X = (X > 0.5).astype(np.float32)
    n_all = X.shape[0]
    if args.n_rows is not None:
        X = X[: args.n_rows]
    return np.ascontiguousarray(X), n_all


def time_per_call(fn, min_time=0.2, blocks=5):
    """Median over ``blocks`` blocks of the seconds per call, each block long enough to
    last about min_time / blocks."""
    fn()
    t = time.perf_counter()
    fn()
    once = max(time.perf_counter() - t, 1e-7)
    reps = max(1, int(min_time / blocks / once))
    per = []
    for _ in range(blocks):
        t = time.perf_counter()
        for _ in range(reps):
            fn()
        per.append((time.perf_counter() - t) / reps)
    return statistics.median(per)


def main(argv=None):
    args = parse_args(argv)
    import pydbn  # loads pydbn's OpenBLAS first, so that --threads reaches it too
    from pydbn import _core

    limiter = None
    if args.threads is not None:
        import threadpoolctl

        limiter = threadpoolctl.threadpool_limits(args.threads)

    t0 = time.perf_counter()
    X32, n_all = load_data(args)
    X64 = X32.astype(np.float64)
    data = {"float32": X32, "float64": X64}
    load_time = time.perf_counter() - t0
    n_rows, n_visible = X32.shape
    B = args.batch_size
    n_batches = -(-n_rows // B)
    n_batches_all = -(-n_all // B)
    networks = {
        "RBM": (RBM_HIDDEN, False),
        "DBM1": (DBM_HIDDEN, False),
        "DBM2": (DBM_HIDDEN, True),
    }

    def arch(name):
        sizes, lateral = networks[name]
        return f"{n_visible}-" + "-".join(map(str, sizes)) + (" with laterals" if lateral else "")

    print(f"# VPF speed: pydbn against CD-1 / PCD-1 and a NumPy VPF epoch, {n_rows} rows of "
          "MNIST binarized at 0.5\n")
    print("Environment:")
    for line in environment_lines():
        print(line)
    print(f"- data loaded in {load_time:.1f} s")
    print(f"- command line: {' '.join(sys.argv[1:]) or '(defaults)'}\n")
    print(f"Settings: batch {B} ({n_batches} minibatches per epoch); VPF: Adam, learning rate "
          f"{args.learning_rate}, beta1 0.9, beta2 0.999, eps 1e-8, weight decay "
          f"{args.weight_decay}; CD-1 / PCD-1: learning rate {args.cd_learning_rate}, momentum "
          f"{args.cd_momentum}, weight decay {args.weight_decay} (PCD: {B} persistent chains); "
          f"networks: RBM {arch('RBM')}, DBM1 {arch('DBM1')}, DBM2 {arch('DBM2')}; every timed "
          f"epoch starts from the random initialization of random_state={args.seed}; "
          f"{args.rounds} round(s)\n")
    print("There is no other VPF implementation to compare with: the text's Theano code is not "
          "public, and scikit-learn has no MPF / VPF. The NumPy epoch written in this script is "
          "the reference.\n", flush=True)

    # start states (not timed): the VPF estimators' random initialization (n_iter=0 only
    # initializes; one minibatch of rows keeps fit's top_prior_ pass short)
    base = {}
    for name, (sizes, lateral) in networks.items():
        for dt in data:
            base[name, dt] = pydbn.VPF(sizes, lateral=lateral, n_iter=0, batch_size=B,
                                       learning_rate=args.learning_rate,
                                       weight_decay=args.weight_decay,
                                       random_state=args.seed).fit(data[dt][:B])

    # the NumPy reference against pydbn on a few rows: same E-step samples, same order
    n_check = min(args.check_rows, n_rows)
    check = {}
    if not args.no_numpy:
        rng = np.random.default_rng(args.seed)
        for name in networks:
            for dt in data:
                # a trained-looking state: the start state moved by a few epochs of NumPy VPF
                model = model_of(base[name, dt])
                st = zero_state(model)
                tt = 0
                for _ in range(2):
                    _, tt = numpy_vpf_epoch(model, st, tt, data[dt][:n_check],
                                            learning_rate=10 * args.learning_rate,
                                            weight_decay=args.weight_decay, batch_size=B, rng=rng)
                core_m, ref_m, (k_core, t_core), (k_ref, t_ref) = compare_epochs(
                    model, data[dt][:n_check], seed=12345, epoch=7,
                    learning_rate=args.learning_rate, weight_decay=args.weight_decay,
                    batch_size=B)
                moved = max_difference(core_m, model)
                check[name, dt] = (max_difference(core_m, ref_m), moved, k_core, k_ref,
                                   t_core == t_ref)
        print(f"## Check: the NumPy VPF epoch against pydbn's (`_core.vpf_epoch`), {n_check} rows, "
              f"{-(-n_check // B)} minibatches\n")
        print("Same start parameters, pydbn's E-step samples (`_core.bm_infer`, same seed and "
              "epoch) and pydbn's minibatch order (its Philox shuffle regenerated from "
              "`_core.random_words`).\n")
        print("| network | dtype | max abs parameter difference | max parameter change in the "
              "epoch | objective pydbn | objective NumPy | same step count |")
        print("|---|---|---:|---:|---:|---:|---|")
        for (name, dt), (diff, moved, kc, kr, same_t) in check.items():
            print(f"| {name} {arch(name)} | {dt} | {diff:.2e} | {moved:.2e} | {kc:.6f} "
                  f"| {kr:.6f} | {'yes' if same_t else 'NO'} |")
        print(flush=True)

    results = {}

    def rbm_epoch(method, dt):
        def run(X):
            if method == "vpf":
                model = pydbn.RBM(n_components=RBM_HIDDEN[0], method="vpf", batch_size=B,
                                  learning_rate=args.learning_rate,
                                  weight_decay=args.weight_decay, n_iter=1,
                                  random_state=args.seed)
            else:
                model = pydbn.RBM(n_components=RBM_HIDDEN[0], method=method, k=1, batch_size=B,
                                  learning_rate=args.cd_learning_rate,
                                  momentum=args.cd_momentum, weight_decay=args.weight_decay,
                                  n_iter=1, random_state=args.seed)
            t = time.perf_counter()
            model.fit(X)
            wall = time.perf_counter() - t
            return {"time": model.history_["time"][-1], "wall": wall}
        return run

    def pydbn_vpf(name, dt):
        def run(X):
            model = copy.deepcopy(base[name, dt])
            t = time.perf_counter()
            model.partial_fit(X)
            wall = time.perf_counter() - t
            return {"time": model.history_["time"][-1], "wall": wall}
        return run

    def numpy_vpf(name, dt):
        def run(X):
            model = model_of(base[name, dt])
            state = zero_state(model)
            timings = {}
            t = time.perf_counter()
            numpy_vpf_epoch(model, state, 0, X, learning_rate=args.learning_rate,
                            weight_decay=args.weight_decay, batch_size=B,
                            rng=np.random.default_rng(args.seed), timings=timings)
            wall = time.perf_counter() - t
            return {"time": wall, "wall": wall, **timings}
        return run

    impls = {}
    for dt in data:
        for method, label in (("vpf", "VPF"), ("cd", "CD-1"), ("pcd", "PCD-1")):
            impls[f"pydbn RBM {label} {dt}"] = (dt, rbm_epoch(method, dt))
    for name in networks:
        for dt in data:
            impls[f"pydbn VPF {name} {dt}"] = (dt, pydbn_vpf(name, dt))
            if not args.no_numpy:
                impls[f"NumPy VPF {name} {dt}"] = (dt, numpy_vpf(name, dt))
    names = list(impls)

    # warm-up, not timed: imports, page faults, thread start-up
    n_warm = min(n_rows, 5 * B)
    for name in names:
        dt, fn = impls[name]
        fn(data[dt][:n_warm])

    for name in names:
        results[name] = []
    for r in range(args.rounds):
        order = names[r % len(names):] + names[: r % len(names)]
        for name in order:
            dt, fn = impls[name]
            results[name].append(fn(data[dt]))
        print(f"round {r + 1}/{args.rounds}: " + ", ".join(
            f"{name} {results[name][-1]['time']:.2f}s" for name in names)
            + f" (load {load_average()})", flush=True)

    def med(name, key="time"):
        vals = [x[key] for x in results.get(name, []) if key in x]
        return statistics.median(vals) if vals else float("nan")

    # ------------------------------------------------------------------ (i)
    print(f"\n## (i) One RBM {arch('RBM')} epoch: VPF against CD-1 and PCD-1 (pydbn.RBM, "
          f"batch {B}, {n_rows} rows; median seconds over rounds)\n")
    print("The time is the C epoch the estimator records in `history_['time']`; `fit` wall time "
          "beside it (it adds input checks and the per-epoch pseudo-likelihood on 1000 rows).\n")
    print(f"| method | dtype | median (s) | min (s) | max (s) | fit wall (s) | ms per minibatch "
          f"| extrapolated epoch of all {n_all} rows (s) | ratio VPF / this | ratio this / CD-1 |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for dt in data:
        vpf = med(f"pydbn RBM VPF {dt}")
        cd = med(f"pydbn RBM CD-1 {dt}")
        for label in ("VPF", "CD-1", "PCD-1"):
            name = f"pydbn RBM {label} {dt}"
            v = [x["time"] for x in results[name]]
            m = med(name)
            print(f"| {label} | {dt} | {m:.3f} | {min(v):.3f} | {max(v):.3f} "
                  f"| {med(name, 'wall'):.3f} | {1000 * m / n_batches:.3f} "
                  f"| {m * n_batches_all / n_batches:.2f} | {_fmt_ratio(vpf / m)} "
                  f"| {_fmt_ratio(m / cd)} |")
    print("\n| ratio | VPF | CD-1 | PCD-1 |")
    print("|---|---:|---:|---:|")
    print("| float64 epoch / float32 epoch | " + " | ".join(
        _fmt_ratio(med(f"pydbn RBM {label} float64") / med(f"pydbn RBM {label} float32"))
        for label in ("VPF", "CD-1", "PCD-1")) + " |")

    # ------------------------------------------------------------------ (ii)
    print(f"\n## (ii) One VPF epoch: pydbn.VPF against the NumPy VPF epoch ({n_rows} rows, "
          "median seconds over rounds)\n")
    print("pydbn: the C epoch of `partial_fit` (`history_['time']`); the `partial_fit` wall time "
          "adds `top_prior_` (the feed-forward activations of every row: with lateral weights a "
          "damped in-layer mean-field iteration in NumPy). NumPy: the wall time of the epoch, "
          "split into its E-step, MPF objective + gradients and Adam steps.\n")
    print("| network | dtype | pydbn epoch (s) | pydbn partial_fit wall (s) | NumPy epoch (s) "
          "| ratio NumPy / pydbn | NumPy E-step (s) | NumPy MPF (s) | NumPy Adam (s) "
          f"| pydbn extrapolated to {n_all} rows (s) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name in networks:
        for dt in data:
            pn, nn = f"pydbn VPF {name} {dt}", f"NumPy VPF {name} {dt}"
            p, q = med(pn), med(nn)
            if args.no_numpy:
                cells = "- | - | - | - | -"
            else:
                cells = (f"{q:.3f} | {_fmt_ratio(q / p)} | {_pct(med(nn, 'e_step'), q)} "
                         f"| {_pct(med(nn, 'mpf'), q)} | {_pct(med(nn, 'adam'), q)}")
            print(f"| {name} {arch(name)} | {dt} | {p:.3f} | {med(pn, 'wall'):.3f} | {cells} "
                  f"| {p * n_batches_all / n_batches:.2f} |")

    # ------------------------------------------------------------------ kernels alone
    print(f"\n## The MPF objective + gradient kernel alone, one minibatch of {B} rows\n")
    print("`_core.bm_mpf(model, states, grads)` against `numpy_mpf` (this script) on the same "
          "states: the visible rows of the first minibatch and pydbn's E-step samples for them, "
          "at the start parameters; median of 5 timed blocks. The approximate split of pydbn's "
          "epoch times its kernels alone: the E-step as `_core.bm_infer` over every row (in "
          "blocks larger than a minibatch, so slightly cheaper than inside the epoch) and the "
          "MPF kernel times the number of minibatches; the rest is the Adam steps, the "
          "minibatch gathers and the epoch's snapshot of the parameters.\n")
    print("| network | dtype | _core.bm_mpf (us) | NumPy (us) | ratio NumPy / pydbn "
          "| pydbn epoch (s) | of which E-step (s) | of which MPF (s) | rest (s) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for name in networks:
        for dt in data:
            model = model_of(base[name, dt])
            Xb = np.ascontiguousarray(data[dt][:min(B, n_rows)])
            states = [Xb] + core_e_step(model, Xb, 1, 0)
            grads = ([np.empty_like(w) for w in model[0]],
                     [None if u is None else np.empty_like(u) for u in model[1]],
                     [np.empty_like(x) for x in model[2]])
            t_core = time_per_call(lambda: _core.bm_mpf(model, states, grads, False))
            t_np = time_per_call(lambda: numpy_mpf(model, states))
            t_infer = time_per_call(lambda: core_e_step(model, data[dt], 1, 0),
                                    min_time=0.0, blocks=1)
            epoch = med(f"pydbn VPF {name} {dt}")
            mpf_total = t_core * n_batches
            rest = epoch - t_infer - mpf_total
            print(f"| {name} {arch(name)} | {dt} | {1e6 * t_core:.1f} | {1e6 * t_np:.1f} "
                  f"| {_fmt_ratio(t_np / t_core)} | {epoch:.3f} | {_pct(t_infer, epoch)} "
                  f"| {_pct(mpf_total, epoch)} | {_pct(rest, epoch)} |")

    print("\n## float64 against float32\n")
    print("| ratio | pydbn RBM | pydbn DBM1 | pydbn DBM2 | NumPy RBM | NumPy DBM1 | NumPy DBM2 |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    cells = [_fmt_ratio(med(f"{who} VPF {name} float64") / med(f"{who} VPF {name} float32"))
             for who in ("pydbn", "NumPy") for name in networks]
    print(f"| float64 epoch / float32 epoch | {' | '.join(cells)} |")

    print(f"\nload average at the end (1, 5, 15 min): {load_average()}")
    if args.quick:
        print("\n(quick run: far too small for the timings to mean anything)")
    if limiter is not None:
        limiter.restore_original_limits()
    return 0


if __name__ == "__main__":
    sys.exit(main())
