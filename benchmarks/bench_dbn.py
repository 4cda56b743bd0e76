"""Speed and features of pydbn.DBN: greedy layers against pydbn.RBM and scikit-learn.

Everything is measured in one run, on the same data and the same machine.

Part 1 - greedy training time per layer
    data: Fashion-MNIST training images binarized at 0.5 (default the first
    20000 rows; ``--full``: all 60000), loaded with
    ``pydbn.datasets.load_fashion_mnist`` (Debian package
    ``dataset-fashion-mnist``). The same network, 784-500-500-2000 by
    default, trained greedily with the same settings (PCD-1, no momentum, no
    weight decay - scikit-learn's algorithm -, ``--epochs`` epochs per layer,
    minibatches of ``--batch-size`` rows, learning rate ``--learning-rate``) by

    * ``pydbn.DBN`` in float32 (``fit(X)``, no labels, ``propagate='mean'``);
    * the same layers as stand-alone ``pydbn.RBM`` s, float32: layer ``i`` is
      ``RBM(**dbn.rbms_[i].get_params())`` (identical settings, identical
      seed) fitted on exactly the input the DBN gave that layer (the mean
      activations of the DBN's layer below), then ``transform`` of that input
      for every layer but the top one, as a hand-made stack would do;
    * scikit-learn's alternative: a ``Pipeline`` of ``BernoulliRBM`` s of the
      same sizes (PCD-1 too), ``Pipeline.fit(X)``, in float32 and in float64
      (scikit-learn's BernoulliRBM keeps float32 input in float32);
    * ``pydbn.DBN`` in float64, against scikit-learn float64.

    A DBN layer's time is the wall time between the DBN starting that layer and
    starting the next one (or returning): the layer's ``RBM.fit`` plus, below
    the top, the up-pass of the whole data set into the next layer. It is read
    from the DBN's own ``verbose`` progress lines ("[DBN] Layer i"), which are
    time-stamped as they are printed and not shown. The stand-alone RBM's time
    is ``fit`` + ``transform``, and a Pipeline step's time is its ``fit`` +
    ``transform`` (``fit`` alone for the last step), so the three are measured
    alike. The C epoch times that pydbn records in ``history_['time']`` are
    also printed: they exclude everything but the training epochs.

    The implementations run in rounds (``--rounds``); each round runs every one
    of them once, in an order rotated by one place from the round before, so
    slow drifts of the machine (frequency, other load) fall on all of them
    alike. Tables report medians over the rounds and the ratios
    ``DBN layer / stand-alone RBM`` (a DBN layer must cost no more than the
    RBM: target <= 1.10, the margin being timing noise) and
    ``scikit-learn / pydbn`` (the speed-up). The run also checks that each
    DBN layer's weights equal the stand-alone RBM's bit for bit.

Part 2 - features for a linear classifier
    ``LogisticRegression`` on raw pixels, on ``pydbn.RBM`` features, on
    ``pydbn.DBN`` features (unsupervised: ``use_labels=False``, so the labels
    only reach the classifier), top layer and all layers concatenated, and on
    scikit-learn ``BernoulliRBM`` features for reference; each a ``Pipeline``
    fitted on the same training rows and scored on the same test rows:

    * digits: scikit-learn's 8x8 digits, pixels / 16 in [0, 1], a 75/25
      stratified split (``random_state=0``); 256 hidden units per layer, batch
      10, learning rate 0.06, ``--feature-epochs`` (20) epochs;
    * Fashion-MNIST: pixels / 255 in [0, 1] (grey levels used as Bernoulli
      probabilities), the first ``--fashion-train`` (10000) training rows and
      the first ``--fashion-test`` (10000) test rows; 500 hidden units per
      layer, batch 100, learning rate 0.05, the same epochs.

    The logistic regression is the same everywhere (lbfgs, ``C=1``,
    ``max_iter=--lr-max-iter``). It prints test accuracy, feature count and
    the wall time of ``Pipeline.fit`` (feature learning + classifier).

Run ``python benchmarks/bench_dbn.py`` (about 4 minutes on 2 idle cores, half
of it part 2), ``--full`` for all 60000 rows in part 1 (about 7 minutes), or
``--quick`` for a smoke run (1000 rows, one epoch, one round, small feature
sets; used by the test suite). ``--part speed`` or ``--part features`` runs
one part only.
"""

import argparse
import io
import os
import platform
import statistics
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # benchmarks/_common.py
from _common import cpu_model  # noqa: E402

TARGET_DBN_VS_RBM = 1.10  # a DBN layer may cost at most this much of the stand-alone RBM


# ---------------------------------------------------------------------------
# timing helpers
# ---------------------------------------------------------------------------

class _LayerClock(io.TextIOBase):
    """A stand-in for sys.stdout that time-stamps the DBN's "[DBN] Layer" lines."""

    def __init__(self):
        self.marks = []

    def write(self, text):
        if "[DBN] Layer" in text:
            self.marks.append(time.perf_counter())
        return len(text)


def timed_dbn_fit(dbn, X):
    """Fit ``dbn`` (verbose) and return (total seconds, [seconds per layer])."""
    clock = _LayerClock()
    saved = sys.stdout
    sys.stdout = clock
    try:
        t0 = time.perf_counter()
        dbn.fit(X)
        end = time.perf_counter()
    finally:
        sys.stdout = saved
    marks = clock.marks + [end]
    if len(clock.marks) != len(dbn.rbms_):
        raise RuntimeError(
            f"expected one '[DBN] Layer' line per layer, got {len(clock.marks)} for "
            f"{len(dbn.rbms_)} layers: the DBN's verbose output changed"
        )
    return end - t0, [b - a for a, b in zip(marks[:-1], marks[1:])]


def _timed_bernoulli_rbm_class():
    from sklearn.neural_network import BernoulliRBM

    class TimedBernoulliRBM(BernoulliRBM):
        """BernoulliRBM that records the wall time of its last fit and transform."""

        def fit(self, X, y=None):
            t0 = time.perf_counter()
            out = super().fit(X, y)
            self.fit_seconds_ = time.perf_counter() - t0
            self.transform_seconds_ = 0.0
            return out

        def transform(self, X):
            t0 = time.perf_counter()
            out = super().transform(X)
            self.transform_seconds_ = time.perf_counter() - t0
            return out

    return TimedBernoulliRBM


# ---------------------------------------------------------------------------
# environment
# ---------------------------------------------------------------------------

def environment_lines():
    import sklearn
    import threadpoolctl

    lines = [
        f"- CPU: {cpu_model()}, {os.cpu_count()} logical CPUs; Python "
        f"{platform.python_version()}, NumPy {np.__version__}, scikit-learn {sklearn.__version__}",
    ]
    try:
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        lines.append(f"- load average at start (1, 5, 15 min): {load} "
                     "(other processes share the CPUs if this is well above 0)")
    except OSError:
        pass
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


# ---------------------------------------------------------------------------
# part 1: greedy training time per layer
# ---------------------------------------------------------------------------

def speed_part(args):
    from sklearn.pipeline import Pipeline

    import pydbn
    from pydbn.datasets import load_fashion_mnist

    TimedBernoulliRBM = _timed_bernoulli_rbm_class()

    t0 = time.perf_counter()
    X_raw, _ = load_fashion_mnist(args.data, kind="train")
    if args.n_rows is not None:
        X_raw = X_raw[: args.n_rows]
    X32 = (X_raw > 0.5).astype(np.float32)
    X64 = X32.astype(np.float64)
    del X_raw
    load_time = time.perf_counter() - t0
    n_rows, n_visible = X32.shape
    sizes = args.layers
    E, B, lr = args.epochs, args.batch_size, args.learning_rate
    n_layers = len(sizes)
    units = [n_visible] + list(sizes)

    def make_dbn():
        return pydbn.DBN(hidden_layer_sizes=sizes, learning_rate=lr, batch_size=B, n_iter=E,
                         method="pcd", k=1, momentum=0.0, weight_decay=0.0,
                         random_state=args.seed, verbose=1)

    def make_pipeline():
        return Pipeline([(f"rbm{i + 1}", TimedBernoulliRBM(
            n_components=h, learning_rate=lr, batch_size=B, n_iter=E, random_state=args.seed))
            for i, h in enumerate(sizes)])

    state = {}  # fitted models and the DBN's per-layer inputs

    def run_dbn(X, key):
        def run(n, record=False):
            dbn = make_dbn()
            total, layers = timed_dbn_fit(dbn, X[:n])
            state[key] = dbn
            return total, layers, [sum(r.history_["time"]) for r in dbn.rbms_]
        return run

    def run_rbms(n, record=False):
        # the input of each layer as the float32 DBN computed it
        dbn = state["dbn32"]
        inputs = state["inputs"] if record else _layer_inputs(dbn, X32[:n])
        layer_times, epoch_times = [], []
        for i, layer in enumerate(dbn.rbms_):
            rbm = pydbn.RBM(**dict(layer.get_params(), verbose=0))
            t = time.perf_counter()
            rbm.fit(inputs[i])
            if i < n_layers - 1:
                rbm.transform(inputs[i])
            layer_times.append(time.perf_counter() - t)
            epoch_times.append(sum(rbm.history_["time"]))
            if record:
                same = bool(np.array_equal(rbm.components_, layer.components_))
                state["identical"][i] = state["identical"].get(i, True) and same
        return sum(layer_times), layer_times, epoch_times

    def run_sklearn(X, key):
        def run(n, record=False):
            pipe = make_pipeline()
            t = time.perf_counter()
            pipe.fit(X[:n])
            total = time.perf_counter() - t
            state[key] = pipe
            return total, [s.fit_seconds_ + s.transform_seconds_ for _, s in pipe.steps], None
        return run

    impls = {
        "pydbn DBN float32": run_dbn(X32, "dbn32"),
        "pydbn RBMs float32 (stand-alone)": run_rbms,
        "sklearn Pipeline float32": run_sklearn(X32, "sk32"),
        "sklearn Pipeline float64": run_sklearn(X64, "sk64"),
        "pydbn DBN float64": run_dbn(X64, "dbn64"),
    }
    names = list(impls)

    print(f"## Part 1: greedy training, {n_rows} x {n_visible} binarized Fashion-MNIST, "
          f"layers {'-'.join(map(str, units))}\n")
    print(f"PCD-1, {E} epoch(s) per layer, batch {B}, learning rate {lr}, no momentum or weight "
          f"decay; {args.rounds} round(s); data loaded in {load_time:.1f} s\n", flush=True)

    # Warm-up, not timed: imports, page faults, thread start-up.
    n_warm = min(n_rows, (2 if args.quick else 10) * B)
    for name in names:
        impls[name](n_warm)
    # Rounds. Round 1 runs the float32 DBN first: the stand-alone RBMs train on its layers'
    # inputs (the same seed every round, so every round's DBN is the same network).
    state["identical"] = {}
    totals = {name: [] for name in names}
    layers = {name: [] for name in names}
    epochs = {name: [] for name in names}
    for r in range(args.rounds):
        order = names[r % len(names):] + names[: r % len(names)]
        for name in order:
            total, per_layer, per_epoch = impls[name](n_rows, record=True)
            if name == "pydbn DBN float32" and "inputs" not in state:
                state["inputs"] = _layer_inputs(state["dbn32"], X32)
            totals[name].append(total)
            layers[name].append(per_layer)
            epochs[name].append(per_epoch)
        print(f"round {r + 1}/{args.rounds}: " + ", ".join(
            f"{name} {totals[name][-1]:.2f}s" for name in names), flush=True)

    def med_layer(name, i, source=layers):
        return statistics.median(v[i] for v in source[name])

    med = {name: statistics.median(v) for name, v in totals.items()}
    dbn32, rbm32 = "pydbn DBN float32", "pydbn RBMs float32 (stand-alone)"
    sk32, sk64, dbn64 = "sklearn Pipeline float32", "sklearn Pipeline float64", "pydbn DBN float64"

    print("\n### Time per layer, float32 (median seconds over rounds)\n")
    print("| layer | units | pydbn DBN layer (s) | stand-alone pydbn RBM (s) "
          "| ratio DBN / RBM | C epochs, DBN / RBM history_ (s) | sklearn f32 (s) "
          "| ratio sklearn f32 / pydbn DBN | sklearn f64 (s) | ratio sklearn f64 / pydbn DBN f32 |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    dbn_vs_rbm = []
    for i in range(n_layers):
        d, rb = med_layer(dbn32, i), med_layer(rbm32, i)
        s32, s64 = med_layer(sk32, i), med_layer(sk64, i)
        hd, hr = med_layer(dbn32, i, epochs), med_layer(rbm32, i, epochs)
        dbn_vs_rbm.append(d / rb)
        print(f"| {i + 1} | {units[i]} -> {units[i + 1]} | {d:.3f} | {rb:.3f} | {_fmt_ratio(d / rb)} "
              f"| {hd:.3f} / {hr:.3f} | {s32:.3f} | {_fmt_ratio(s32 / d)} | {s64:.3f} "
              f"| {_fmt_ratio(s64 / d)} |")
    print(f"| all (fit) | {'-'.join(map(str, units))} | {med[dbn32]:.3f} | {med[rbm32]:.3f} "
          f"| {_fmt_ratio(med[dbn32] / med[rbm32])} | - | {med[sk32]:.3f} "
          f"| {_fmt_ratio(med[sk32] / med[dbn32])} | {med[sk64]:.3f} "
          f"| {_fmt_ratio(med[sk64] / med[dbn32])} |")
    print("\n'all (fit)': DBN.fit and Pipeline.fit wall time; for the stand-alone RBMs the sum "
          "of their fit + transform.")

    print("\n### Time per layer, float64 (median seconds over rounds)\n")
    print("| layer | units | pydbn DBN f64 (s) | sklearn f64 (s) | ratio sklearn f64 / pydbn f64 "
          "| pydbn f64 / pydbn f32 |")
    print("|---|---|---:|---:|---:|---:|")
    for i in range(n_layers):
        d64, s64, d32 = med_layer(dbn64, i), med_layer(sk64, i), med_layer(dbn32, i)
        print(f"| {i + 1} | {units[i]} -> {units[i + 1]} | {d64:.3f} | {s64:.3f} "
              f"| {_fmt_ratio(s64 / d64)} | {_fmt_ratio(d64 / d32)} |")
    print(f"| all (fit) | {'-'.join(map(str, units))} | {med[dbn64]:.3f} | {med[sk64]:.3f} "
          f"| {_fmt_ratio(med[sk64] / med[dbn64])} | {_fmt_ratio(med[dbn64] / med[dbn32])} |")

    n_same = sum(state["identical"].get(i, False) for i in range(n_layers))
    print(f"\nDBN layer weights equal to the stand-alone RBM's (same settings, same seed, same "
          f"input): {n_same} of {n_layers} layers"
          + ("" if n_same == n_layers else "  <-- the DBN trains its layers differently"))
    dtypes = {k: state[k].steps[0][1].components_.dtype for k in ("sk32", "sk64")}
    print(f"scikit-learn weights dtype: float32 run {dtypes['sk32']}, float64 run {dtypes['sk64']}")

    print(f"\n### Target: a DBN layer costs no more than the stand-alone RBM "
          f"(ratio <= {TARGET_DBN_VS_RBM:.2f}, allowing for timing noise)\n")
    print("| layer | ratio DBN / RBM | met |")
    print("|---|---:|---|")
    missed = 0
    for i, ratio in enumerate(dbn_vs_rbm):
        ok = ratio <= TARGET_DBN_VS_RBM
        missed += not ok
        print(f"| {i + 1} | {ratio:.2f} | {'yes' if ok else 'NO'} |")
    print(f"\n{n_layers - missed} of {n_layers} layers met the target"
          + (" (quick run: too small to judge)" if args.quick else ""))
    return missed + (n_layers - n_same)


def _layer_inputs(dbn, X):
    """The input of every layer of a fitted DBN: X, then each layer's mean activations."""
    inputs = [X]
    for rbm in dbn.rbms_[:-1]:
        inputs.append(rbm.transform(inputs[-1]))
    return inputs


# ---------------------------------------------------------------------------
# part 2: features for a linear classifier
# ---------------------------------------------------------------------------

def _feature_models(n_units, batch_size, learning_rate, n_iter, seed):
    from sklearn.neural_network import BernoulliRBM

    import pydbn

    common = dict(learning_rate=learning_rate, batch_size=batch_size, n_iter=n_iter,
                  random_state=seed)
    sizes = (n_units, n_units)
    return [
        ("raw pixels", None),
        (f"pydbn RBM({n_units})", pydbn.RBM(n_components=n_units, **common)),
        (f"pydbn DBN{sizes}, top layer",
         pydbn.DBN(hidden_layer_sizes=sizes, use_labels=False, **common)),
        (f"pydbn DBN{sizes}, all layers",
         pydbn.DBN(hidden_layer_sizes=sizes, use_labels=False, transform_layers="all", **common)),
        (f"sklearn BernoulliRBM({n_units})", BernoulliRBM(n_components=n_units, **common)),
    ]


def features_part(args):
    from sklearn.datasets import load_digits
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline

    from pydbn.datasets import load_fashion_mnist

    datasets = []
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, stratify=y,
                                              random_state=0)
    n_digits = 64 if args.quick else 256
    datasets.append(("digits 8x8 (X / 16)", X_tr, X_te, y_tr, y_te,
                     _feature_models(n_digits, 10, 0.06, args.feature_epochs, args.seed)))
    try:
        Xf, yf = load_fashion_mnist(args.data, kind="train")
        Xft, yft = load_fashion_mnist(args.data, kind="test")
    except FileNotFoundError as exc:
        print(f"Fashion-MNIST skipped: {exc}\n")
    else:
        n_fashion = 100 if args.quick else 500
        datasets.append((
            "Fashion-MNIST (pixels / 255)",
            Xf[: args.fashion_train], Xft[: args.fashion_test],
            yf[: args.fashion_train], yft[: args.fashion_test],
            _feature_models(n_fashion, 100, 0.05, args.feature_epochs, args.seed),
        ))

    print("\n## Part 2: features for LogisticRegression (same split for every row)\n")
    print(f"{args.feature_epochs} epoch(s) of PCD-1 per layer; DBNs unsupervised "
          f"(use_labels=False); LogisticRegression(C=1, max_iter={args.lr_max_iter}); "
          "fit time = Pipeline.fit wall time\n", flush=True)
    print("| data | features | n features | test accuracy | fit time (s) "
          "| ratio accuracy / raw pixels |")
    print("|---|---|---:|---:|---:|---:|")
    n_unconverged = 0
    for data_name, X_tr, X_te, y_tr, y_te, models in datasets:
        raw_acc = None
        for name, extractor in models:
            steps = [] if extractor is None else [extractor]
            pipe = make_pipeline(*steps, LogisticRegression(max_iter=args.lr_max_iter))
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", ConvergenceWarning)
                t = time.perf_counter()
                pipe.fit(X_tr, y_tr)
                fit_time = time.perf_counter() - t
            unconverged = any(issubclass(w.category, ConvergenceWarning) for w in caught)
            n_unconverged += unconverged
            acc = pipe.score(X_te, y_te)
            raw_acc = acc if raw_acc is None else raw_acc
            n_feat = pipe[:-1].transform(X_te[:1]).shape[1] if steps else X_tr.shape[1]
            print(f"| {data_name} ({len(y_tr)} train / {len(y_te)} test) | {name}"
                  f"{' (*)' if unconverged else ''} | {n_feat} | {acc:.4f} | {fit_time:.2f} "
                  f"| {_fmt_ratio(acc / raw_acc)} |", flush=True)
    if n_unconverged:
        print("\n(*) the logistic regression stopped at max_iter before converging")
    return 0


# ---------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------

def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--part", choices=["all", "speed", "features"], default="all",
                   help="which part to run (default all)")
    p.add_argument("--n-rows", type=int, default=None,
                   help="Fashion-MNIST training rows for part 1 (default 20000; --full: 60000)")
    p.add_argument("--full", action="store_true",
                   help="part 1 on all 60000 rows (the default uses 20000)")
    p.add_argument("--layers", default="500,500,2000",
                   help="hidden layer sizes of part 1, bottom to top (default 500,500,2000)")
    p.add_argument("--epochs", type=int, default=1, help="epochs per layer in part 1 (default 1)")
    p.add_argument("--rounds", type=int, default=3, help="rounds of part 1 (default 3)")
    p.add_argument("--batch-size", type=int, default=100, help="minibatch rows of part 1 (default 100)")
    p.add_argument("--learning-rate", type=float, default=0.05, help="learning rate of part 1")
    p.add_argument("--feature-epochs", type=int, default=20,
                   help="epochs per layer of the feature extractors in part 2 (default 20)")
    p.add_argument("--fashion-train", type=int, default=10000,
                   help="Fashion-MNIST training rows of part 2 (default 10000)")
    p.add_argument("--fashion-test", type=int, default=10000,
                   help="Fashion-MNIST test rows of part 2 (default 10000)")
    p.add_argument("--lr-max-iter", type=int, default=1000,
                   help="max_iter of the logistic regression (default 1000)")
    p.add_argument("--data", default=None, help="Fashion-MNIST folder (default: pydbn.datasets' default)")
    p.add_argument("--threads", type=int, default=None,
                   help="limit every BLAS / OpenMP pool to this many threads (threadpoolctl)")
    p.add_argument("--seed", type=int, default=0, help="random_state of every model")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 1000 rows, 1 epoch, 1 round, small feature sets")
    p.add_argument("--fail-on-miss", action="store_true",
                   help="exit with status 1 if a DBN layer costs more than its RBM")
    args = p.parse_args(argv)
    try:
        args.layers = tuple(int(s) for s in args.layers.split(",") if s.strip())
    except ValueError:
        p.error(f"--layers must be comma-separated integers, got {args.layers!r}")
    if not args.layers or min(args.layers) < 1:
        p.error("--layers needs at least one positive size")
    if args.quick:
        args.n_rows = args.n_rows or 1000
        args.epochs = 1
        args.rounds = 1
        args.feature_epochs = 1
        args.fashion_train = min(args.fashion_train, 500)
        args.fashion_test = min(args.fashion_test, 500)
        args.lr_max_iter = min(args.lr_max_iter, 100)
    elif args.n_rows is None:
        args.n_rows = 60000 if args.full else 20000
    return args


def main(argv=None):
    args = parse_args(argv)
    # load every BLAS / OpenMP library first: threadpoolctl limits only loaded ones
    import sklearn.linear_model  # noqa: F401
    import sklearn.neural_network  # noqa: F401

    import pydbn  # noqa: F401

    limiter = None
    if args.threads is not None:
        import threadpoolctl

        limiter = threadpoolctl.threadpool_limits(args.threads)

    print("# DBN benchmark: pydbn.DBN against pydbn.RBM and scikit-learn\n")
    print("Environment:")
    for line in environment_lines():
        print(line)
    print(flush=True)
    status = 0
    if args.part in ("all", "speed"):
        status += speed_part(args)
    if args.part in ("all", "features"):
        status += features_part(args)
    if args.quick:
        print("\n(quick run: far too small for the timings or accuracies to mean anything)")
    if limiter is not None:
        limiter.restore_original_limits()
    return 1 if (status and args.fail_on_miss) else 0


if __name__ == "__main__":
    sys.exit(main())
