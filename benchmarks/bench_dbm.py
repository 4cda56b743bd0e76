"""Speed of one DBM training epoch: pydbn.DBM against pydbn.RBM and a NumPy reference.

Everything is measured in one run on the same data and the same machine:

- data: the binarized MNIST of Larochelle & Murray (``--dataset mnist``, the
  default: the 50000 ``train`` rows of ``pydbn.datasets.load_mnist(binarized=
  True)``), or Fashion-MNIST training images binarized at 0.5
  (``--dataset fashion``, 60000 rows). The epochs run over the first
  ``--n-rows`` rows (default 10000, i.e. 100 minibatches; ``--full``: all);
  the time of an epoch over the whole set is extrapolated from the time per
  minibatch (the work per minibatch does not depend on the number of rows);
- the network: a DBM 784-500-1000 (``--layers``), minibatches of 100 rows,
  100 persistent chains, k = 5 block-Gibbs sweeps per update, at most 30
  mean-field sweeps per minibatch stopping at tolerance 1e-4 (pydbn's
  defaults), learning rate 0.005, momentum 0.5;
- the start state: a DBM pre-trained for one epoch per layer (``--init
  pretrained``, the default; not timed) or the random initialisation without
  pre-training (``--init random``). Every timed epoch starts from a copy of the
  same state (``partial_fit`` on a deep copy), so the rounds do the same work.
  The number of mean-field sweeps per minibatch - the main cost driver -
  depends on the state and is printed;
- one joint-training epoch by
    * ``pydbn.DBM`` (``partial_fit``) in float32 and float64, with the split of
      its epoch into mean field, Gibbs sampling and the parameter updates read
      from ``history_['mean_field_time']``, ``history_['gibbs_time']`` and
      ``history_['time']`` (updates = time - mean field - Gibbs);
    * one epoch of ``pydbn.RBM`` with the DBM's first layer (784-500), PCD-1,
      the same minibatches, no momentum (the ratio DBM / RBM says what the
      second layer, the mean field and the k = 5 sweeps cost);
    * a plain vectorised NumPy implementation of the same DBM epoch (the same
      mean-field schedule and stopping rule, the same Gibbs blocks, the same
      update with momentum), written here, in float32 and float64, started
      from the same parameters and chains as pydbn. There is no DBM in
      scikit-learn (only ``BernoulliRBM``), so this is the reference; it also
      checks that its mean field agrees with ``pydbn.DBM.mean_field``.

The GEMM work of a DBM minibatch against an RBM minibatch is counted from the
measured mean-field sweeps, so the time ratio DBM / RBM can be read against
the work ratio.

The implementations run in rounds; each round runs every one of them once, in
an order rotated by one place from the round before, so slow drifts of the
machine (frequency, other load) fall on all of them alike. Medians over the
rounds are reported. The load average is printed at the start and the end:
OpenBLAS threads are slow on a loaded machine, so compare timings taken at a
low load only.

Run ``python benchmarks/bench_dbm.py`` (about 5-10 minutes on 2 idle cores; ``--full``
for epochs over the whole training set, about 5 times longer) or
``--quick`` for a smoke run (500 rows, one round).
"""

import argparse
import copy
import os
import platform
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # benchmarks/_common.py
from _common import cpu_model, load_average  # noqa: E402


# ---------------------------------------------------------------------------
# the NumPy reference: one DBM epoch, the same algorithm as pydbn's C core
# ---------------------------------------------------------------------------

def _expit(x):
    from scipy.special import expit

    return expit(x, out=x)


def _layer_input(W, b, k, below, above, sb=1.0, sa=1.0):
    """b_k + sb * below @ W_{k-1}' + sa * above @ W_k (either neighbour may be None)."""
    out = None
    if below is not None:
        out = below @ W[k - 1].T
        if sb != 1.0:
            out *= out.dtype.type(sb)
    if above is not None:
        t = above @ W[k]
        if sa != 1.0:
            t *= t.dtype.type(sa)
        out = t if out is None else out + t
    out += b[k]
    return out


def numpy_mean_field(W, b, v, n_iter, tol):
    """Mean-field posterior of every hidden layer for the rows of v, and the sweeps taken.

    A bottom-up pass with doubled input into every layer that has a layer above, then
    sweeps over the layers in order (each layer uses the newest means of its neighbours),
    stopping once no mean moves more than ``tol`` or after ``n_iter`` sweeps.
    """
    L = len(W)
    mu = []
    below = v
    for k in range(1, L + 1):
        below = _expit(_layer_input(W, b, k, below, None, sb=2.0 if k < L else 1.0))
        mu.append(below)
    sweeps = 0
    while sweeps < n_iter:
        delta = 0.0
        for k in range(1, L + 1):
            new = _expit(_layer_input(W, b, k, v if k == 1 else mu[k - 2],
                                      mu[k] if k < L else None))
            delta = max(delta, float(np.max(np.abs(new - mu[k - 1]))))
            mu[k - 1] = new
        sweeps += 1
        if delta < tol:
            break
    return mu, sweeps


def numpy_dbm_epoch(state, X, *, batch_size, n_mean_field, tol, k, learning_rate, momentum,
                    weight_decay, seed):
    """One epoch of variational SML in plain NumPy, in place on ``state``.

    state: dict with W (list, W[k] of shape (n_{k+1}, n_k)), b (list), chains (list),
    vW, vb (velocities). Returns (mean sweeps per minibatch, seconds in mean field, in
    Gibbs, in updates).
    """
    rng = np.random.default_rng(seed)
    W, b, chains, vW, vb = state["W"], state["b"], state["chains"], state["vW"], state["vb"]
    L = len(W)
    dtype = X.dtype
    n = X.shape[0]
    M = chains[0].shape[0]
    n_batches = -(-n // batch_size)
    order = rng.permutation(n)
    lr = dtype.type(learning_rate)
    mom = dtype.type(momentum)
    decay = dtype.type(learning_rate * weight_decay)
    t_mf = t_gibbs = t_upd = 0.0
    total_sweeps = 0
    for bi in range(n_batches):
        lo, hi = bi * n // n_batches, (bi + 1) * n // n_batches
        t0 = time.perf_counter()
        v = X[order[lo:hi]]
        m = v.shape[0]
        mu, sweeps = numpy_mean_field(W, b, v, n_mean_field, tol)
        total_sweeps += sweeps
        t1 = time.perf_counter()
        for _ in range(k):
            for parity in (1, 0):  # odd layers given even, then even given odd
                for j in range(parity, L + 1, 2):
                    p = _expit(_layer_input(W, b, j, chains[j - 1] if j > 0 else None,
                                            chains[j + 1] if j < L else None))
                    chains[j] = (rng.random(p.shape, dtype=dtype) < p).astype(dtype)
        t2 = time.perf_counter()
        pos = [v] + mu
        for j in range(L + 1):
            grad = pos[j].mean(axis=0) - chains[j].mean(axis=0)
            vb[j] *= mom
            vb[j] += lr * grad
            b[j] += vb[j]
            if j == L:
                break
            vW[j] *= mom
            vW[j] -= decay * W[j]
            vW[j] += (lr / m) * (pos[j + 1].T @ pos[j])
            vW[j] -= (lr / M) * (chains[j + 1].T @ chains[j])
            W[j] += vW[j]
        t3 = time.perf_counter()
        t_mf += t1 - t0
        t_gibbs += t2 - t1
        t_upd += t3 - t2
    return total_sweeps / n_batches, t_mf, t_gibbs, t_upd


def numpy_state_from(dbm):
    """A NumPy-reference state holding copies of a pydbn.DBM's parameters and chains."""
    return {
        "W": [w.copy() for w in dbm.components_],
        "b": [x.copy() for x in dbm.intercepts_],
        "chains": [c.copy() for c in dbm.chains_],
        "vW": [np.zeros_like(w) for w in dbm.components_],
        "vb": [np.zeros_like(x) for x in dbm.intercepts_],
    }


# ---------------------------------------------------------------------------
# GEMM work (multiply-adds) of one minibatch
# ---------------------------------------------------------------------------

def dbm_minibatch_macs(sizes, batch, chains, sweeps, k):
    """Multiply-adds of the GEMMs of one DBM minibatch with ``sweeps`` mean-field sweeps."""
    L = len(sizes) - 1
    pair = [sizes[j] * sizes[j + 1] for j in range(L)]  # one product through W_j
    init = batch * sum(pair)
    per_sweep = batch * sum(pair[j - 1] + (pair[j] if j < L else 0) for j in range(1, L + 1))
    gibbs = chains * sum((pair[j - 1] if j > 0 else 0) + (pair[j] if j < L else 0)
                         for j in range(L + 1))
    update = (batch + chains) * sum(pair)
    return init + sweeps * per_sweep + k * gibbs + update


def rbm_pcd1_minibatch_macs(n_visible, n_hidden, batch):
    """Five products of a PCD-1 minibatch: v->h, h->v, v->h, and the two gradients."""
    return 5 * batch * n_visible * n_hidden


# ---------------------------------------------------------------------------
# environment
# ---------------------------------------------------------------------------

def environment_lines():
    import sklearn
    import threadpoolctl

    lines = [
        f"- CPU: {cpu_model()}, {os.cpu_count()} logical CPUs; Python "
        f"{platform.python_version()}, NumPy {np.__version__}, scikit-learn {sklearn.__version__}",
        f"- load average at start (1, 5, 15 min): {load_average()} (well above 0 means other "
        "processes share the CPUs and the timings inflate)",
    ]
    for info in threadpoolctl.threadpool_info():
        lines.append(
            "- {user_api} {internal_api} {version}: {num_threads} threads, {file}".format(
                user_api=info.get("user_api"),
                internal_api=info.get("internal_api"),
                version=info.get("version"),
                num_threads=info.get("num_threads"),
                file=os.path.basename(info.get("filepath", "?")),
            )
        )
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
    p.add_argument("--dataset", choices=["mnist", "fashion"], default="mnist",
                   help="binarized MNIST (Larochelle & Murray, 50000 train rows; default) or "
                        "Fashion-MNIST binarized at 0.5 (60000 rows)")
    p.add_argument("--data", default=None, help="data folder (default: pydbn.datasets' default)")
    p.add_argument("--n-rows", type=int, default=10000,
                   help="use the first N training rows (default 10000; the per-epoch time of "
                        "the whole set is extrapolated from the time per minibatch)")
    p.add_argument("--full", action="store_true",
                   help="time epochs over the whole training set (50000 / 60000 rows; "
                        "about 5 times longer)")
    p.add_argument("--layers", default="500,1000", help="hidden layer sizes (default 500,1000)")
    p.add_argument("--batch-size", type=int, default=100, help="minibatch rows (default 100)")
    p.add_argument("--n-chains", type=int, default=100, help="persistent chains (default 100)")
    p.add_argument("--k", type=int, default=5, help="Gibbs sweeps per update (default 5)")
    p.add_argument("--n-mean-field", type=int, default=30,
                   help="most mean-field sweeps per minibatch (default 30)")
    p.add_argument("--mean-field-tol", type=float, default=1e-4,
                   help="mean-field tolerance (default 1e-4)")
    p.add_argument("--learning-rate", type=float, default=0.005,
                   help="DBM learning rate (default 0.005)")
    p.add_argument("--momentum", type=float, default=0.5, help="DBM momentum (default 0.5)")
    p.add_argument("--rbm-learning-rate", type=float, default=0.05,
                   help="learning rate of the RBM epoch (default 0.05)")
    p.add_argument("--init", choices=["pretrained", "random"], default="pretrained",
                   help="start state of the timed epochs: DBM pre-trained 1 epoch per layer "
                        "(default), or random weights")
    p.add_argument("--rounds", type=int, default=3, help="rounds of every implementation (3)")
    p.add_argument("--no-numpy", action="store_true", help="leave the NumPy reference out")
    p.add_argument("--threads", type=int, default=None,
                   help="limit every BLAS / OpenMP pool to this many threads (threadpoolctl)")
    p.add_argument("--seed", type=int, default=0, help="random_state of every model")
    p.add_argument("--quick", action="store_true", help="smoke run: 500 rows, 1 round")
    args = p.parse_args(argv)
    try:
        args.layers = tuple(int(s) for s in args.layers.split(",") if s.strip())
    except ValueError:
        p.error(f"--layers must be comma-separated integers, got {args.layers!r}")
    if len(args.layers) < 2 or min(args.layers) < 1:
        p.error("--layers needs at least two positive sizes (a DBM, not an RBM)")
    if args.full:
        args.n_rows = None
    if args.quick:
        args.n_rows = 500
        args.rounds = 1
    return args


def load_data(args):
    from pydbn.datasets import load_fashion_mnist, load_mnist

    if args.dataset == "mnist":
        X, _ = load_mnist(args.data, kind="train", binarized=True)
        name = "binarized MNIST (Larochelle & Murray) train"
    else:
        X, _ = load_fashion_mnist(args.data, kind="train")
        X = (X > 0.5).astype(np.float32)
        name = "Fashion-MNIST train, binarized at 0.5"
    n_all = X.shape[0]
    if args.n_rows is not None:
        X = X[: args.n_rows]
    return np.ascontiguousarray(X, dtype=np.float32), name, n_all


def main(argv=None):
    args = parse_args(argv)
    import pydbn  # loads pydbn's OpenBLAS first, so that --threads reaches it too

    limiter = None
    if args.threads is not None:
        import threadpoolctl

        limiter = threadpoolctl.threadpool_limits(args.threads)

    t0 = time.perf_counter()
    X32, data_name, n_all = load_data(args)
    X64 = X32.astype(np.float64)
    load_time = time.perf_counter() - t0
    n_rows, n_visible = X32.shape
    sizes = (n_visible,) + args.layers
    B, M, K = args.batch_size, args.n_chains, args.k
    arch = "-".join(map(str, sizes))

    print(f"# DBM epoch benchmark: {arch} on {n_rows} rows of {data_name}\n")
    print("Environment:")
    for line in environment_lines():
        print(line)
    print(f"- data loaded in {load_time:.1f} s\n")
    print(f"Settings: batch {B}, {M} persistent chains, k = {K} Gibbs sweeps per update, at most "
          f"{args.n_mean_field} mean-field sweeps (tolerance {args.mean_field_tol}), learning rate "
          f"{args.learning_rate}, momentum {args.momentum}; start state '{args.init}'"
          + (" (1 pre-training epoch per layer, not timed)" if args.init == "pretrained" else "")
          + f"; RBM {n_visible}-{args.layers[0]}: PCD-1, batch {B}, learning rate "
          f"{args.rbm_learning_rate}, no momentum; {args.rounds} round(s)\n", flush=True)

    def make_dbm(n_iter):
        return pydbn.DBM(
            hidden_layer_sizes=args.layers, learning_rate=args.learning_rate,
            batch_size=B, n_iter=n_iter, n_mean_field=args.n_mean_field,
            mean_field_tol=args.mean_field_tol, n_chains=M, k=K,
            pretrain=args.init == "pretrained", pretrain_n_iter=1, momentum=args.momentum,
            random_state=args.seed)

    # the start states (not timed): n_iter=0 runs only the initialisation / pre-training
    t0 = time.perf_counter()
    base = {"float32": make_dbm(0).fit(X32), "float64": make_dbm(0).fit(X64)}
    print(f"start states built in {time.perf_counter() - t0:.1f} s (not timed)")
    data = {"float32": X32, "float64": X64}

    # the NumPy reference's mean field against pydbn's, on the start state
    check_rows = min(n_rows, 500)
    mf_check = {}
    for dt, model in base.items():
        ref, _ = numpy_mean_field(model.components_, model.intercepts_, data[dt][:check_rows],
                                  args.n_mean_field, args.mean_field_tol)
        got = model.mean_field(data[dt][:check_rows])
        mf_check[dt] = max(float(np.max(np.abs(r - g))) for r, g in zip(ref, got))
    print("NumPy reference mean field vs pydbn.DBM.mean_field on the start state, "
          f"{check_rows} rows: max |difference| "
          + ", ".join(f"{dt} {d:.1e}" for dt, d in mf_check.items()), flush=True)

    results = {}  # name -> list of dicts (one per round)

    def pydbn_dbm(dt):
        def run(X):
            model = copy.deepcopy(base[dt])
            t = time.perf_counter()
            model.partial_fit(X)
            wall = time.perf_counter() - t
            h = model.history_
            return {"time": h["time"][-1], "wall": wall, "mf": h["mean_field_time"][-1],
                    "gibbs": h["gibbs_time"][-1], "sweeps": h["mean_field_sweeps"][-1]}
        return run

    def pydbn_rbm(dt):
        def run(X):
            model = pydbn.RBM(n_components=args.layers[0], learning_rate=args.rbm_learning_rate,
                              batch_size=B, n_iter=1, method="pcd", k=1,
                              random_state=args.seed)
            t = time.perf_counter()
            model.fit(X)
            wall = time.perf_counter() - t
            return {"time": model.history_["time"][-1], "wall": wall}
        return run

    def numpy_dbm(dt):
        def run(X):
            state = numpy_state_from(base[dt])
            t = time.perf_counter()
            sweeps, t_mf, t_gibbs, t_upd = numpy_dbm_epoch(
                state, X, batch_size=B, n_mean_field=args.n_mean_field,
                tol=args.mean_field_tol, k=K, learning_rate=args.learning_rate,
                momentum=args.momentum, weight_decay=0.0, seed=args.seed)
            wall = time.perf_counter() - t
            return {"time": wall, "wall": wall, "mf": t_mf, "gibbs": t_gibbs, "sweeps": sweeps}
        return run

    impls = {}
    for dt in ("float32", "float64"):
        impls[f"pydbn DBM {dt}"] = (dt, pydbn_dbm(dt))
        impls[f"pydbn RBM {dt}"] = (dt, pydbn_rbm(dt))
        if not args.no_numpy:
            impls[f"NumPy DBM {dt}"] = (dt, numpy_dbm(dt))
    names = list(impls)

    # warm-up, not timed: imports, page faults, thread start-up
    n_warm = min(n_rows, (1 if args.quick else 5) * B)
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

    def med(name, key):
        vals = [x[key] for x in results[name] if key in x]
        return statistics.median(vals) if vals else float("nan")

    print(f"\n## One training epoch, {n_rows} rows (median seconds over rounds)\n")
    print("pydbn rows: the epoch time the estimator records in `history_['time']` (the C epoch); "
          "`partial_fit` / `fit` wall time beside it. NumPy rows: wall time of the epoch.\n")
    n_batches = -(-n_rows // B)
    n_batches_all = -(-n_all // B)
    print("| implementation | median (s) | min (s) | max (s) | wall (s) | ms per minibatch "
          f"| extrapolated epoch of all {n_all} rows (s) "
          "| mean-field sweeps / minibatch | ratio: time / pydbn DBM same dtype |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name in names:
        dt = impls[name][0]
        v = [x["time"] for x in results[name]]
        sweeps = med(name, "sweeps")
        print(f"| {name} | {med(name, 'time'):.3f} | {min(v):.3f} | {max(v):.3f} "
              f"| {med(name, 'wall'):.3f} | {1000 * med(name, 'time') / n_batches:.2f} "
              f"| {med(name, 'time') * n_batches_all / n_batches:.1f} "
              f"| {'-' if not np.isfinite(sweeps) else f'{sweeps:.2f}'} "
              f"| {_fmt_ratio(med(name, 'time') / med(f'pydbn DBM {dt}', 'time'))} |")

    print(f"\n## DBM {arch} epoch against an RBM {n_visible}-{args.layers[0]} PCD-1 epoch\n")
    print("| dtype | DBM epoch (s) | RBM epoch (s) | ratio DBM / RBM | GEMM work ratio "
          "DBM / RBM (from the measured sweeps) | ratio time / work |")
    print("|---|---:|---:|---:|---:|---:|")
    for dt in ("float32", "float64"):
        d, rb = med(f"pydbn DBM {dt}", "time"), med(f"pydbn RBM {dt}", "time")
        work = (dbm_minibatch_macs(sizes, B, M, med(f"pydbn DBM {dt}", "sweeps"), K)
                / rbm_pcd1_minibatch_macs(n_visible, args.layers[0], B))
        print(f"| {dt} | {d:.3f} | {rb:.3f} | {_fmt_ratio(d / rb)} | {work:.1f} "
              f"| {(d / rb) / work:.2f} |")

    print("\n## Where the DBM epoch goes (median seconds, share of the epoch)\n")
    print("| implementation | epoch (s) | mean field (s) | Gibbs, k sweeps of the chains (s) "
          "| updates (s) | mean-field sweeps / minibatch |")
    print("|---|---:|---:|---:|---:|---:|")
    for name in names:
        if "RBM" in name:
            continue
        tot, mf, gb = med(name, "time"), med(name, "mf"), med(name, "gibbs")
        upd = statistics.median(x["time"] - x["mf"] - x["gibbs"] for x in results[name])
        print(f"| {name} | {tot:.3f} | {_pct(mf, tot)} | {_pct(gb, tot)} | {_pct(upd, tot)} "
              f"| {med(name, 'sweeps'):.2f} |")
    print("\npydbn: from `history_['mean_field_time']`, `history_['gibbs_time']` and "
          "`history_['time']`; updates = time - mean field - Gibbs (it also holds the "
          "minibatch gather).")

    if not args.no_numpy:
        print("\n## NumPy reference against pydbn (there is no DBM in scikit-learn)\n")
        print("| dtype | NumPy DBM epoch (s) | pydbn DBM epoch (s) | ratio NumPy / pydbn "
              "| NumPy mean field / pydbn mean field | NumPy Gibbs / pydbn Gibbs "
              "| sweeps NumPy / pydbn |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for dt in ("float32", "float64"):
            nn, pn = f"NumPy DBM {dt}", f"pydbn DBM {dt}"
            print(f"| {dt} | {med(nn, 'time'):.3f} | {med(pn, 'time'):.3f} "
                  f"| {_fmt_ratio(med(nn, 'time') / med(pn, 'time'))} "
                  f"| {_fmt_ratio(med(nn, 'mf') / med(pn, 'mf'))} "
                  f"| {_fmt_ratio(med(nn, 'gibbs') / med(pn, 'gibbs'))} "
                  f"| {med(nn, 'sweeps'):.2f} / {med(pn, 'sweeps'):.2f} |")
        print("\nThe NumPy epoch uses NumPy's own OpenBLAS build and NumPy's random generator; "
              "its mean-field sweep count can differ slightly from pydbn's (another random "
              "order of the minibatches, rounding), so the sweeps are printed beside it.")

    print("\n## float64 against float32\n")
    print("| ratio | pydbn DBM | pydbn RBM | NumPy DBM |")
    print("|---|---:|---:|---:|")
    f64_32 = [_fmt_ratio(med(f"{who} float64", "time") / med(f"{who} float32", "time"))
              if f"{who} float32" in results else "-"
              for who in ("pydbn DBM", "pydbn RBM", "NumPy DBM")]
    print(f"| float64 epoch / float32 epoch | {' | '.join(f64_32)} |")

    print(f"\nload average at the end (1, 5, 15 min): {load_average()}")
    if args.quick:
        print("\n(quick run: far too small for the timings to mean anything)")
    if limiter is not None:
        limiter.restore_original_limits()
    return 0


if __name__ == "__main__":
    sys.exit(main())
