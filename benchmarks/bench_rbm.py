"""Speed of one RBM training epoch: pydbn against scikit-learn, NumPy and PyTorch.

Everything is measured in one run on the same data and the same machine:

- data: Fashion-MNIST training images (60000 x 784) binarized at 0.5, loaded
  with ``pydbn.datasets.load_fashion_mnist`` (Debian package
  ``dataset-fashion-mnist``);
- one epoch (``n_iter=1``) of persistent contrastive divergence, PCD-1, with
  ``n_components`` hidden units and minibatches of ``batch_size`` rows, by
    * ``pydbn.RBM`` (``method='pcd', k=1``) in float32 and float64,
    * ``sklearn.neural_network.BernoulliRBM`` (also PCD-1) in float32 and float64,
    * a plain vectorised NumPy float32 PCD-1 epoch and CD-1 epoch written here,
    * a plain PyTorch float32 PCD-1 epoch written here, if ``import torch`` works;
- the GEMM-only bound: the five matrix products of a PCD-1 minibatch step
  (data -> hidden, hidden -> visible, visible -> hidden, and the two gradient
  products) for every minibatch of the epoch, with nothing else. It is timed
  by ``pydbn._core.gemm_bound_epoch`` in C with the same OpenBLAS that pydbn
  uses; if the extension has no such function, NumPy's matmul stands in (and
  the output says so: NumPy ships its own OpenBLAS build);
- ``transform`` and ``score_samples`` throughput of pydbn and scikit-learn on
  the whole data set, in rows per second.

The implementations run in rounds; each round runs every one of them once, in
an order rotated by one place from the round before, so slow drifts of the
machine (frequency, other load) fall on all of them alike. Medians over the
rounds are reported, with ratios and the project's speed targets.

Run ``python benchmarks/bench_rbm.py`` (about 2-4 minutes on 2 cores) or
``--quick`` for a smoke run on 6000 rows and one round.
"""

import argparse
import os
import platform
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # benchmarks/_common.py
from _common import cpu_model  # noqa: E402

TARGETS_NOTE = "targets from the project's design: pydbn should be bound by its GEMMs"


# ---------------------------------------------------------------------------
# reference implementations written here
# ---------------------------------------------------------------------------

def _expit(x):
    from scipy.special import expit

    return expit(x, out=x)


def numpy_epoch(X, n_hidden, batch_size, learning_rate, seed, persistent=True):
    """One epoch of CD-1 or PCD-1 in plain vectorised NumPy, in X's dtype.

    The same algorithm as scikit-learn's BernoulliRBM (and pydbn's
    ``method='pcd', k=1``): positive phase p(h|v_data); for PCD the negative
    chain continues from the persistent hidden states, for CD it starts from a
    sample of the positive hidden probabilities; then one Gibbs step
    h -> v -> p(h|v) and the gradient step.
    """
    rng = np.random.default_rng(seed)
    dtype = X.dtype
    n, n_visible = X.shape
    W = (0.01 * rng.standard_normal((n_hidden, n_visible))).astype(dtype)
    b = np.zeros(n_visible, dtype)
    c = np.zeros(n_hidden, dtype)
    chain = np.zeros((batch_size, n_hidden), dtype)
    step = dtype.type(learning_rate / batch_size)
    order = rng.permutation(n)
    for start in range(0, n, batch_size):
        v_pos = X[order[start : start + batch_size]]
        m = v_pos.shape[0]
        h_pos = _expit(v_pos @ W.T + c)
        if persistent:
            h_start = chain[:m]
        else:
            h_start = (rng.random(h_pos.shape, dtype=dtype) < h_pos).astype(dtype)
        v_neg = _expit(h_start @ W + b)
        v_neg = (rng.random(v_neg.shape, dtype=dtype) < v_neg).astype(dtype)
        h_neg = _expit(v_neg @ W.T + c)
        W += step * (h_pos.T @ v_pos - h_neg.T @ v_neg)
        b += step * (v_pos.sum(axis=0) - v_neg.sum(axis=0))
        c += step * (h_pos.sum(axis=0) - h_neg.sum(axis=0))
        if persistent:
            chain[:m] = rng.random(h_neg.shape, dtype=dtype) < h_neg
    return W


def torch_pcd_epoch(torch, X, n_hidden, batch_size, learning_rate, seed):
    """One PCD-1 epoch in plain PyTorch (CPU, float32), the same algorithm."""
    gen = torch.Generator().manual_seed(seed)
    n, n_visible = X.shape
    W = 0.01 * torch.randn(n_hidden, n_visible, generator=gen)
    b = torch.zeros(n_visible)
    c = torch.zeros(n_hidden)
    chain = torch.zeros(batch_size, n_hidden)
    step = learning_rate / batch_size
    order = torch.randperm(n, generator=gen)
    with torch.no_grad():
        for start in range(0, n, batch_size):
            v_pos = X[order[start : start + batch_size]]
            m = v_pos.shape[0]
            h_pos = torch.sigmoid(v_pos @ W.T + c)
            v_neg = torch.sigmoid(chain[:m] @ W + b)
            v_neg = (torch.rand(v_neg.shape, generator=gen) < v_neg).float()
            h_neg = torch.sigmoid(v_neg @ W.T + c)
            W += step * (h_pos.T @ v_pos - h_neg.T @ v_neg)
            b += step * (v_pos.sum(0) - v_neg.sum(0))
            c += step * (h_pos.sum(0) - h_neg.sum(0))
            chain[:m] = (torch.rand(h_neg.shape, generator=gen) < h_neg).float()
    return W


def numpy_gemm_bound(n_rows, n_visible, n_hidden, batch_size, dtype, seed=0):
    """Seconds for the five GEMMs of a PCD-1 epoch, by NumPy's matmul (its own BLAS)."""
    rng = np.random.default_rng(seed)
    W = rng.random((n_hidden, n_visible), dtype=dtype)
    sizes = [batch_size] * (n_rows // batch_size)
    if n_rows % batch_size:
        sizes.append(n_rows % batch_size)
    bufs = {}
    for m in set(sizes):
        bufs[m] = (
            rng.random((m, n_visible), dtype=dtype),  # v_pos
            np.empty((m, n_hidden), dtype),  # h_pos
            np.empty((m, n_visible), dtype),  # v_neg
            np.empty((m, n_hidden), dtype),  # h_neg
        )
    grad_pos = np.empty((n_hidden, n_visible), dtype)
    grad_neg = np.empty((n_hidden, n_visible), dtype)
    t0 = time.perf_counter()
    for m in sizes:
        v_pos, h_pos, v_neg, h_neg = bufs[m]
        np.matmul(v_pos, W.T, out=h_pos)
        np.matmul(h_pos, W, out=v_neg)
        np.matmul(v_neg, W.T, out=h_neg)
        np.matmul(h_pos.T, v_pos, out=grad_pos)
        np.matmul(h_neg.T, v_neg, out=grad_neg)
    return time.perf_counter() - t0


# ---------------------------------------------------------------------------
# environment
# ---------------------------------------------------------------------------

def environment_lines():
    import threadpoolctl

    lines = [
        f"- CPU: {cpu_model()}, {os.cpu_count()} logical CPUs; Python {platform.python_version()}, "
        f"NumPy {np.__version__}",
        f"- OPENBLAS_CORETYPE: {os.environ.get('OPENBLAS_CORETYPE', '(not set)')}",
    ]
    for info in threadpoolctl.threadpool_info():
        lines.append(
            "- {user_api} {internal_api} {version}: {num_threads} threads, "
            "architecture {arch}, threading {layer}, {file}".format(
                user_api=info.get("user_api"),
                internal_api=info.get("internal_api"),
                version=info.get("version"),
                num_threads=info.get("num_threads"),
                arch=info.get("architecture", "?"),
                layer=info.get("threading_layer", "?"),
                file=os.path.basename(info.get("filepath", "?")),
            )
        )
    return lines


# ---------------------------------------------------------------------------
# the benchmark
# ---------------------------------------------------------------------------

def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n-rows", type=int, default=None, help="rows of Fashion-MNIST train to use (default all 60000)")
    p.add_argument("--rounds", type=int, default=3, help="rounds of every implementation (default 3)")
    p.add_argument("--n-components", type=int, default=500, help="hidden units (default 500)")
    p.add_argument("--batch-size", type=int, default=100, help="minibatch rows (default 100)")
    p.add_argument("--learning-rate", type=float, default=0.05, help="learning rate for every implementation")
    p.add_argument("--data", default=None, help="Fashion-MNIST folder (default: pydbn.datasets' default)")
    p.add_argument("--threads", type=int, default=None,
                   help="limit every BLAS / OpenMP pool to this many threads (threadpoolctl)")
    p.add_argument("--no-torch", action="store_true", help="leave PyTorch out even if it is installed")
    p.add_argument("--quick", action="store_true", help="smoke run: 6000 rows, 1 round")
    p.add_argument("--fail-on-miss", action="store_true", help="exit with status 1 if a target is missed")
    args = p.parse_args(argv)
    if args.quick:
        args.n_rows = args.n_rows or 6000
        args.rounds = 1
    return args


def _gemm_bound_callable(n_visible, n_hidden, batch_size):
    """(function(n_rows, dtype) -> seconds, description)."""
    try:
        from pydbn import _core

        core_fn = getattr(_core, "gemm_bound_epoch", None)
    except ImportError:
        core_fn = None
    if core_fn is not None:
        def bound(n_rows, dtype):
            # the last argument selects double precision (a flag, not a dtype)
            double = np.dtype(dtype) == np.float64
            return float(core_fn(n_rows, n_visible, n_hidden, batch_size, double))

        return bound, "pydbn._core.gemm_bound_epoch (C, the same OpenBLAS as pydbn)"

    def bound(n_rows, dtype):
        return numpy_gemm_bound(n_rows, n_visible, n_hidden, batch_size, dtype)

    return bound, (
        "NumPy matmul FALLBACK: pydbn._core.gemm_bound_epoch is missing, and NumPy "
        "uses its own OpenBLAS build, so this bound is only indicative"
    )


def _fmt_ratio(x):
    return "-" if x is None or not np.isfinite(x) else f"{x:.2f}x"


def main(argv=None):
    args = parse_args(argv)

    from sklearn.neural_network import BernoulliRBM

    import pydbn
    from pydbn.datasets import load_fashion_mnist

    torch = None
    torch_note = "PyTorch: not benchmarked (--no-torch)"
    if not args.no_torch:
        try:
            import torch  # noqa: F811

            torch.set_num_threads(2)
            torch_note = f"PyTorch {torch.__version__}: {torch.get_num_threads()} threads"
        except ImportError:
            torch = None
            torch_note = "PyTorch: `import torch` failed, so its row is skipped"

    limiter = None
    if args.threads is not None:
        import threadpoolctl

        limiter = threadpoolctl.threadpool_limits(args.threads)
        if torch is not None:
            torch.set_num_threads(args.threads)

    t0 = time.perf_counter()
    X_raw, _ = load_fashion_mnist(args.data, kind="train")
    if args.n_rows is not None:
        X_raw = X_raw[: args.n_rows]
    X32 = (X_raw > 0.5).astype(np.float32)
    X64 = X32.astype(np.float64)
    del X_raw
    n_rows, n_visible = X32.shape
    H, B, lr = args.n_components, args.batch_size, args.learning_rate
    load_time = time.perf_counter() - t0
    X_torch = torch.from_numpy(X32) if torch is not None else None

    gemm_bound, gemm_note = _gemm_bound_callable(n_visible, H, B)

    models = {}

    def pydbn_fit(X, key):
        def run(seed, n):
            m = pydbn.RBM(n_components=H, learning_rate=lr, batch_size=B, n_iter=1,
                          random_state=seed, method="pcd", k=1).fit(X[:n])
            models[key] = m
        return run

    def sklearn_fit(X, key):
        def run(seed, n):
            m = BernoulliRBM(n_components=H, learning_rate=lr, batch_size=B, n_iter=1,
                             random_state=seed).fit(X[:n])
            models[key] = m
        return run

    # name -> callable(seed, n_rows); a callable may return its own measured seconds.
    epoch_impls = {
        "pydbn RBM float32 (PCD-1)": pydbn_fit(X32, "pydbn32"),
        "pydbn RBM float64 (PCD-1)": pydbn_fit(X64, "pydbn64"),
        "sklearn BernoulliRBM float32": sklearn_fit(X32, "sklearn32"),
        "sklearn BernoulliRBM float64": sklearn_fit(X64, "sklearn64"),
        "NumPy float32 PCD-1": lambda seed, n: numpy_epoch(X32[:n], H, B, lr, seed, persistent=True),
        "NumPy float32 CD-1": lambda seed, n: numpy_epoch(X32[:n], H, B, lr, seed, persistent=False),
        "GEMM-only bound float32": lambda seed, n: gemm_bound(n, np.float32),
        "GEMM-only bound float64": lambda seed, n: gemm_bound(n, np.float64),
    }
    if torch is not None:
        epoch_impls["PyTorch float32 PCD-1"] = (
            lambda seed, n: torch_pcd_epoch(torch, X_torch[:n], H, B, lr, seed))

    print(f"# RBM epoch benchmark: {n_rows} x {n_visible} binarized Fashion-MNIST, "
          f"{H} hidden units, batch {B}, {args.rounds} round(s)\n")
    print("Environment:")
    for line in environment_lines():
        print(line)
    print(f"- {torch_note}")
    print(f"- GEMM bound: {gemm_note}")
    print(f"- data loaded in {load_time:.1f} s\n")
    sys.stdout.flush()

    names = list(epoch_impls)
    # Warm-up, not timed: first calls pay for imports, page faults, thread start-up.
    n_warm = min(n_rows, 10 * B)
    for name in names:
        epoch_impls[name](0, n_warm)
    times = {name: [] for name in names}
    pydbn_inner = {"pydbn32": [], "pydbn64": []}
    for r in range(args.rounds):
        order = names[r % len(names):] + names[: r % len(names)]
        for name in order:
            t0 = time.perf_counter()
            own = epoch_impls[name](r, n_rows)
            wall = time.perf_counter() - t0
            times[name].append(own if isinstance(own, float) else wall)
        for key in pydbn_inner:
            hist = getattr(models.get(key), "history_", None) or {}
            if hist.get("time"):
                pydbn_inner[key].append(float(hist["time"][-1]))
        print(f"round {r + 1}/{args.rounds}: " + ", ".join(
            f"{name.split(' (')[0]} {times[name][-1]:.2f}s" for name in names), flush=True)

    med = {name: statistics.median(v) for name, v in times.items()}
    ref32 = med["pydbn RBM float32 (PCD-1)"]
    ref64 = med["pydbn RBM float64 (PCD-1)"]

    print("\n## One training epoch (median seconds over rounds)\n")
    print("| implementation | median (s) | min (s) | max (s) | ratio: time / pydbn f32 | ratio: time / pydbn f64 |")
    print("|---|---:|---:|---:|---:|---:|")
    for name in names:
        v = times[name]
        print(f"| {name} | {med[name]:.3f} | {min(v):.3f} | {max(v):.3f} | "
              f"{_fmt_ratio(med[name] / ref32)} | {_fmt_ratio(med[name] / ref64)} |")
    if torch is None:
        print("| PyTorch float32 PCD-1 | skipped: `import torch` failed | | | | |"
              if not args.no_torch else "| PyTorch float32 PCD-1 | skipped (--no-torch) | | | | |")
    for key, label in (("pydbn32", "float32"), ("pydbn64", "float64")):
        if pydbn_inner[key]:
            print(f"\npydbn {label}: history_['time'] of the epoch (median) "
                  f"{statistics.median(pydbn_inner[key]):.3f} s vs fit() wall time "
                  f"{med[f'pydbn RBM {label} (PCD-1)']:.3f} s", end="")
    print()

    # transform and score_samples on all rows, with the last fitted models
    ops = []
    for dtype_name, X, pk, sk in (("float32", X32, "pydbn32", "sklearn32"),
                                  ("float64", X64, "pydbn64", "sklearn64")):
        for op in ("transform", "score_samples"):
            ops.append((op, dtype_name, X, models[pk], models[sk]))
    tp_times = {(op, dt, who): [] for op, dt, _, _, _ in ops for who in ("pydbn", "sklearn")}
    jobs = [(op, dt, who, X, model)
            for op, dt, X, pm, sm in ops
            for who, model in (("pydbn", pm), ("sklearn", sm))]
    for op, dt, who, X, model in jobs:  # warm-up, not timed
        getattr(model, op)(X[:n_warm])
    for r in range(args.rounds):
        for op, dt, who, X, model in jobs[r % len(jobs):] + jobs[: r % len(jobs)]:
            t0 = time.perf_counter()
            getattr(model, op)(X)
            tp_times[(op, dt, who)].append(time.perf_counter() - t0)
    print(f"\n## transform and score_samples on {n_rows} rows (median over rounds)\n")
    print("| method | dtype | pydbn rows/s | sklearn rows/s | ratio (pydbn speed-up) |")
    print("|---|---|---:|---:|---:|")
    tp_ratio = {}
    for op, dt, _, _, _ in ops:
        tp = statistics.median(tp_times[(op, dt, "pydbn")])
        ts = statistics.median(tp_times[(op, dt, "sklearn")])
        tp_ratio[(op, dt)] = ts / tp
        print(f"| {op} | {dt} | {n_rows / tp:,.0f} | {n_rows / ts:,.0f} | {_fmt_ratio(ts / tp)} |")

    bound32 = med["GEMM-only bound float32"]
    checks = [
        ("pydbn f32 epoch / GEMM-only bound f32", ref32 / bound32, "<=", 1.15),
        ("sklearn f64 epoch / pydbn f32 epoch", med["sklearn BernoulliRBM float64"] / ref32, ">=", 3.0),
        ("sklearn f32 epoch / pydbn f32 epoch", med["sklearn BernoulliRBM float32"] / ref32, ">=", 1.8),
        ("NumPy f32 PCD-1 epoch / pydbn f32 epoch", med["NumPy float32 PCD-1"] / ref32, ">=", 1.3),
        ("sklearn f64 epoch / pydbn f64 epoch", med["sklearn BernoulliRBM float64"] / ref64, ">=", 1.5),
    ]
    for (op, dt), ratio in tp_ratio.items():
        checks.append((f"{op} {dt}: sklearn time / pydbn time", ratio, ">=", 2.0))
    print(f"\n## Targets ({TARGETS_NOTE})\n")
    print("| target | measured ratio | required | met |")
    print("|---|---:|---:|---|")
    missed = 0
    for label, value, op, req in checks:
        ok = value <= req if op == "<=" else value >= req
        missed += not ok
        print(f"| {label} | {value:.2f} | {op} {req:.2f} | {'yes' if ok else 'NO'} |")
    print(f"\n{len(checks) - missed} of {len(checks)} targets met"
          + (" (quick run: too small to judge the targets)" if args.quick else ""))
    if "FALLBACK" in gemm_note:
        print("note: the GEMM bound used NumPy's matmul, not pydbn's OpenBLAS (see Environment)")
    if limiter is not None:
        limiter.restore_original_limits()
    return 1 if (missed and args.fail_on_miss) else 0


if __name__ == "__main__":
    sys.exit(main())
