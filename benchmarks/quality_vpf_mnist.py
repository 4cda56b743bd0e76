"""Quality of VPF: Tables 1 and 2 of Liu, Quek & Lin, "Variational Probability Flow", redone.

The protocol of the text's Experiments section (shared text 003), on MNIST and Fashion-MNIST
(``--dataset mnist``, ``fashion`` or ``both``, the default). The script prints every setting it
used, our figures beside the text's, the training times and the load average at the start and
the end.

Data. MNIST: the 60000 / 10000 training / test images of ``pydbn.datasets.load_mnist`` (grey
levels / 255) binarized by thresholding at 0.5, as the text does (not the fixed binarization of
Larochelle & Murray). Fashion-MNIST: ``pydbn.datasets.load_fashion_mnist`` scaled to [0, 1],
then thresholded at 0.5. float32 (``--dtype``). The text reports figures for MNIST only; the
Fashion-MNIST rows have none beside them.

(a) Table 1, reconstruction of corrupted digits (``--part a``). RBMs with 196 hidden units
trained by

- CD-1, CD-10, PCD-1 and PCD-10 (``pydbn.RBM(method='cd' | 'pcd', k=1 | 10)``). The text took
  its CD / PCD code from the Theano tutorials and gives no learning rate for it; we use
  learning rate 0.05 with momentum 0.5 and the text's weight decay 1e-4, batch 40 (PCD: 40
  persistent chains) - Hinton's practical-guide values for binary RBMs (``--cd-learning-rate``,
  ``--cd-momentum``, ``--cd-weight-decay``);
- VPF (``pydbn.VPF((196,))``) with the text's settings: Adam (beta1 0.9, beta2 0.999),
  learning rate 1e-3, batch 40, weight decay 1e-4;

all for the same number of epochs (``--epochs``, default 30; the text's VPF training curves
flattened within 50 epochs). Then for each of the four patterns of the text - the Top, Bottom,
Left or Right 12 of the 28 pixel rows / columns unknown (set to 0) - the 10000 test images are
reconstructed by Gibbs sampling with the known pixels clamped, starting from the corrupted
image (``model.reconstruct(X, mask, n_gibbs)``), 1000 Gibbs steps for the CD / PCD models and 2
for VPF as the text did (``--gibbs-cd``, ``--gibbs-vpf``), and scored by
``pydbn.metrics.reconstruction_error``: the mean L1 distance between the original image and the
reconstructed probabilities over the unknown pixels, with its standard error over the test
rows. The text averaged over 3 independent runs (``--repeats 3``; default 1). As a fairness
check the script also reconstructs with the step counts swapped: VPF with 1000 steps, CD / PCD
with 2.

(b) Table 2, Parzen-window log-likelihood of samples (``--part b``). 1000 training rows are
held out as the validation set (``--n-valid``); on the rest, VPF (the same settings) trains an
RBM(196), DBM1 = ``VPF((196, 196, 64), lateral=False)`` and DBM2 = ``VPF((196, 196, 64),
lateral=True)`` - the text's 784-196-196-64 networks without and with intra-layer weights - for
``--epochs`` epochs each, without pre-training. Each model draws 10000 samples by the text's
Algorithm 2 (``model.sample(10000, prior=..., n_gibbs=5, binary=False)``: the visible
probabilities, which the text shows and scores) with the top layer started from the uniform
prior ('R' in the text) and from the mean feed-forward activation of the training rows ('P').
A Gaussian Parzen window centred on the samples (``pydbn.metrics.parzen_log_likelihood``)
scores the 10000 test rows, its width chosen on the validation rows from ``np.logspace(-1, 0,
10)`` plus 0.2 (the text's choice); the mean log-likelihood (nats) and its standard error are
printed beside the text's. The text does not say whether it scored binarized or grey-level
test images (the published figures it compares with, Goodfellow et al. 2014, score grey
levels), so both are printed, each with its own width chosen on the validation rows in the
same form. The reference row puts the kernels on 10000 training rows instead of samples (the
text quotes 239.88 for MNIST from Desjardins et al. 2010).

Run time on 2 idle cores: see benchmarks/README.md (about 45 minutes per data set with the
defaults, most of it the 1000-step reconstructions). ``--quick`` is a smoke run (a few hundred
rows, 1 epoch, a few Gibbs steps) that takes seconds.
"""

import argparse
import os
import platform
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # benchmarks/_common.py
from _common import load_average  # noqa: E402

PATTERNS = ("top", "bottom", "left", "right")
# Table 1 of the text: mean L1 error of 10000 corrupted MNIST test digits (Top, Bottom, Left,
# Right); averaged over 3 runs
TEXT_TABLE1 = {
    "CD-1": (57.8, 74.7, 59.2, 69.9),
    "CD-10": (55.7, 54.5, 58.2, 55.4),
    "PCD-1": (57.6, 58.2, 46.2, 53.6),
    "PCD-10": (47.9, 48.9, 39.1, 43.7),
    "VPF": (32.9, 46.9, 36.7, 44.1),
}
# method key -> (label, pydbn.RBM method, k)
METHODS = {
    "cd1": ("CD-1", "cd", 1),
    "cd10": ("CD-10", "cd", 10),
    "pcd1": ("PCD-1", "pcd", 1),
    "pcd10": ("PCD-10", "pcd", 10),
    "vpf": ("VPF", "vpf", None),
}
# Table 2 of the text: Parzen log-likelihood (nats) of 10000 MNIST test digits
TEXT_TABLE2 = {
    ("RBM", "uniform"): "78 +- 5.9 (prior not stated)",
    ("RBM", "data"): "78 +- 5.9 (prior not stated)",
    ("DBM1", "uniform"): "183 +- 1.1",
    ("DBM1", "data"): "210 +- 0.8",
    ("DBM2", "uniform"): "222 +- 0.5",
    ("DBM2", "data"): "222 +- 0.4",
}
TEXT_TABLE2_VALUE = {"RBM": {"uniform": 78.0, "data": 78.0},
                     "DBM1": {"uniform": 183.0, "data": 210.0},
                     "DBM2": {"uniform": 222.0, "data": 222.0}}
TEXT_REFERENCE = "239.88 +- 2.3 (Desjardins et al. 2010)"
TEXT_OTHERS = ("DBM 32 +- 2, DBN 138 +- 2, Stacked-CAE 121 +- 1.6, Deep GSN 214 +- 1.1, "
               "GAN 225 +- 2, Bengio et al. 2015 236")
PRIOR_LABEL = {"uniform": "R (uniform)", "data": "P (data mean)"}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", choices=["both", "mnist", "fashion"], default="both",
                   help="MNIST, Fashion-MNIST (each binarized at 0.5) or both (default)")
    p.add_argument("--part", choices=["both", "a", "b"], default="both",
                   help="(a) Table 1 reconstructions, (b) Table 2 Parzen, or both (default)")
    p.add_argument("--mnist-data", default=None, help="MNIST folder (default: pydbn.datasets')")
    p.add_argument("--fashion-data", default=None,
                   help="Fashion-MNIST folder (default: pydbn.datasets')")
    p.add_argument("--epochs", type=int, default=30,
                   help="training epochs of every model (default 30)")
    p.add_argument("--batch-size", type=int, default=40, help="minibatch rows (default 40)")
    p.add_argument("--n-hidden", type=int, default=196, help="RBM hidden units (default 196)")
    p.add_argument("--dbm-layers", default="196,196,64",
                   help="hidden layer sizes of DBM1 / DBM2 (default 196,196,64)")
    p.add_argument("--learning-rate", type=float, default=1e-3,
                   help="VPF's Adam learning rate (default 1e-3, the text's)")
    p.add_argument("--weight-decay", type=float, default=1e-4,
                   help="VPF weight decay (default 1e-4, the text's)")
    p.add_argument("--cd-learning-rate", type=float, default=0.05,
                   help="CD / PCD learning rate (default 0.05)")
    p.add_argument("--cd-momentum", type=float, default=0.5, help="CD / PCD momentum (0.5)")
    p.add_argument("--cd-weight-decay", type=float, default=1e-4,
                   help="CD / PCD weight decay (default 1e-4, the text's lambda)")
    p.add_argument("--methods", default="cd1,cd10,pcd1,pcd10,vpf",
                   help="Table 1 methods, from cd1,cd10,pcd1,pcd10,vpf (default all)")
    p.add_argument("--gibbs-cd", type=int, default=1000,
                   help="reconstruction Gibbs steps of the CD / PCD models (default 1000)")
    p.add_argument("--gibbs-vpf", type=int, default=2,
                   help="reconstruction Gibbs steps of the VPF model (default 2)")
    p.add_argument("--no-swap", action="store_true",
                   help="skip the fairness check with the step counts swapped")
    p.add_argument("--repeats", type=int, default=1,
                   help="independent trainings per Table 1 method, averaged (the text: 3; "
                        "default 1)")
    p.add_argument("--n-lines", type=int, default=12, help="corrupted rows / columns (12)")
    p.add_argument("--n-train", type=int, default=None, help="training rows (default all)")
    p.add_argument("--n-test", type=int, default=None, help="test rows (default all 10000)")
    p.add_argument("--n-valid", type=int, default=1000,
                   help="training rows held out to choose the Parzen width (default 1000)")
    p.add_argument("--n-samples", type=int, default=10000,
                   help="model samples for the Parzen window (default 10000)")
    p.add_argument("--sample-gibbs", type=int, default=5,
                   help="Gibbs steps per pair of layers when sampling (default 5, the text's r)")
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32",
                   help="dtype of the data and the models (default float32)")
    p.add_argument("--threads", type=int, default=None,
                   help="limit every BLAS / OpenMP pool to this many threads (threadpoolctl)")
    p.add_argument("--seed", type=int, default=0, help="random_state of the models and samplers")
    p.add_argument("--verbose", type=int, default=0, help="estimators' verbose level")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 500 training / 200 test rows, 1 epoch, 5 Gibbs steps")
    args = p.parse_args(argv)
    try:
        args.dbm_layers = tuple(int(s) for s in args.dbm_layers.split(",") if s.strip())
    except ValueError:
        p.error(f"--dbm-layers must be comma-separated integers, got {args.dbm_layers!r}")
    if len(args.dbm_layers) < 2 or min(args.dbm_layers) < 1:
        p.error("--dbm-layers needs at least two positive sizes")
    args.methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    bad = [m for m in args.methods if m not in METHODS]
    if bad or not args.methods:
        p.error(f"--methods must come from {','.join(METHODS)}, got {bad or 'nothing'}")
    if args.quick:
        args.n_train = args.n_train or 500
        args.n_test = args.n_test or 200
        args.n_valid = min(args.n_valid, 100)
        args.n_samples = min(args.n_samples, 300)
        args.epochs = 1
        args.gibbs_cd = min(args.gibbs_cd, 5)
    for name in ("epochs", "batch_size", "gibbs_cd", "gibbs_vpf", "repeats", "n_samples",
                 "sample_gibbs", "n_valid"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


def load(args, name):
    """(label, grey train, grey test): images in [0, 1], float32."""
    from pydbn.datasets import load_fashion_mnist, load_mnist

    if name == "mnist":
        X, _ = load_mnist(args.mnist_data, kind="train")
        X_test, _ = load_mnist(args.mnist_data, kind="test")
        label = "MNIST binarized at 0.5"
    else:
        X, _ = load_fashion_mnist(args.fashion_data, kind="train")
        X_test, _ = load_fashion_mnist(args.fashion_data, kind="test")
        label = "Fashion-MNIST binarized at 0.5"
    if args.n_test is not None:
        X_test = X_test[: args.n_test]
    return label, X, X_test


def binarize(X, dtype):
    return np.ascontiguousarray(X > 0.5, dtype=dtype)


def _subset(X, n, seed):
    if n is None or n >= len(X):
        return X
    rows = np.sort(np.random.default_rng(seed).permutation(len(X))[:n])
    return np.ascontiguousarray(X[rows])


def _cell(value, se=None, digits=1):
    if value is None or not np.isfinite(value):
        return "-"
    if se is None or not np.isfinite(se):
        return f"{value:.{digits}f}"
    return f"{value:.{digits}f} +- {se:.{digits}f}"


# ---------------------------------------------------------------------------
# (a) Table 1
# ---------------------------------------------------------------------------

def make_rbm(args, key, seed):
    import pydbn

    _, method, k = METHODS[key]
    if method == "vpf":
        return pydbn.VPF((args.n_hidden,), learning_rate=args.learning_rate,
                         batch_size=args.batch_size, n_iter=args.epochs,
                         weight_decay=args.weight_decay, random_state=seed,
                         verbose=args.verbose)
    return pydbn.RBM(n_components=args.n_hidden, method=method, k=k,
                     learning_rate=args.cd_learning_rate, momentum=args.cd_momentum,
                     weight_decay=args.cd_weight_decay, batch_size=args.batch_size,
                     n_iter=args.epochs, random_state=seed, verbose=args.verbose)


def _monitor(model):
    """Last-epoch training monitor: pseudo-likelihood (CD / PCD) or MPF objective (VPF)."""
    h = model.history_
    if "objective" in h:
        return f"MPF objective {h['objective'][-1]:.4f}" if h["objective"] else "-"
    return (f"pseudo-likelihood {h['pseudo_likelihood'][-1]:.2f}"
            if h["pseudo_likelihood"] else "-")


def part_a(args, label, X_train, X_test, is_mnist):
    from pydbn.metrics import reconstruction_error

    print(f"### (a) Table 1: reconstruction of corrupted images, {label}\n")
    print(f"- {len(X_train)} training / {len(X_test)} test rows, {args.dtype}; RBM "
          f"{X_train.shape[1]}-{args.n_hidden}; {args.epochs} epochs each, batch "
          f"{args.batch_size}; {args.repeats} independent run(s) per method (seeds "
          f"{args.seed}..{args.seed + args.repeats - 1})")
    print(f"- CD / PCD: learning rate {args.cd_learning_rate}, momentum {args.cd_momentum}, "
          f"weight decay {args.cd_weight_decay} (PCD: {args.batch_size} persistent chains); "
          f"VPF: Adam (0.9, 0.999, eps 1e-8), learning rate {args.learning_rate}, weight decay "
          f"{args.weight_decay}")
    print(f"- corruption: the {args.n_lines} top / bottom rows or left / right columns of each "
          f"28 x 28 image unknown (set to 0), reconstructed by clamped Gibbs sampling from the "
          f"corrupted image: {args.gibbs_cd} steps for CD / PCD, {args.gibbs_vpf} for VPF (the "
          "text's protocol)"
          + ("" if args.no_swap else f"; fairness check with the counts swapped "
             f"({args.gibbs_vpf} for CD / PCD, {args.gibbs_cd} for VPF)"))
    print("- error: mean over test rows of the L1 distance between the original binary image "
          "and the reconstructed probabilities on the unknown pixels "
          "(`pydbn.metrics.reconstruction_error`), +- its standard error over rows\n",
          flush=True)

    train, recon, swapped = {}, {}, {}
    for key in args.methods:
        name = METHODS[key][0]
        is_vpf = key == "vpf"
        steps = args.gibbs_vpf if is_vpf else args.gibbs_cd
        swap_steps = args.gibbs_cd if is_vpf else args.gibbs_vpf
        train[name], recon[name], swapped[name] = [], {p: [] for p in PATTERNS}, \
            {p: [] for p in PATTERNS}
        for r in range(args.repeats):
            seed = args.seed + r
            model = make_rbm(args, key, seed)
            t0 = time.perf_counter()
            model.fit(X_train)
            fit_time = time.perf_counter() - t0
            epochs = model.history_["time"]
            train[name].append((fit_time, sum(epochs), len(epochs), _monitor(model)))
            print(f"{name} run {r + 1}: fit {fit_time:.1f} s ({sum(epochs):.1f} s in "
                  f"{len(epochs)} epochs), {_monitor(model)}", flush=True)
            for which, n_steps, store in (("text", steps, recon), ("swapped", swap_steps,
                                                                      swapped)):
                if which == "swapped" and args.no_swap:
                    continue
                for pattern in PATTERNS:
                    t0 = time.perf_counter()
                    res = reconstruction_error(model, X_test, pattern, n_lines=args.n_lines,
                                               n_gibbs=n_steps, random_state=seed)
                    elapsed = time.perf_counter() - t0
                    store[name][pattern].append((res.errors, elapsed, n_steps))
                    print(f"  {pattern:6s} {n_steps:5d} Gibbs steps: {res.mean:7.2f} +- "
                          f"{res.std_err:.2f} ({elapsed:.1f} s)", flush=True)

    def summary(store, name, pattern):
        runs = store[name][pattern]
        if not runs:
            return float("nan"), float("nan"), 0.0, 0, []
        pooled = np.concatenate([e for e, _, _ in runs])
        means = [float(e.mean()) for e, _, _ in runs]
        se = float(pooled.std(ddof=1) / np.sqrt(len(pooled))) if len(pooled) > 1 else \
            float("nan")
        return float(pooled.mean()), se, sum(t for _, t, _ in runs), runs[0][2], means

    names = [METHODS[k][0] for k in args.methods]
    print(f"\n#### {label}: Table 1, mean L1 reconstruction error of {len(X_test)} corrupted "
          "test images (ours +- s.e. over rows; the text's figure beside)\n")
    head = " | ".join(f"{n} (ours) | {n} (text)" for n in names)
    print(f"| corruption | {head} |")
    print("|---|" + "---:|" * (2 * len(names)))
    for i, pattern in enumerate(PATTERNS):
        cells = []
        for n in names:
            m, se, _, _, _ = summary(recon, n, pattern)
            text = TEXT_TABLE1[n][i] if is_mnist else None
            cells += [_cell(m, se), "-" if text is None else f"{text:.1f}"]
        print(f"| {pattern.capitalize()} | {' | '.join(cells)} |")
    ratio_cells, steps_cells, recon_cells, train_cells, epoch_cells = [], [], [], [], []
    for n in names:
        ours = [summary(recon, n, p)[0] for p in PATTERNS]
        if is_mnist:
            ratio = np.mean([o / t for o, t in zip(ours, TEXT_TABLE1[n])])
            ratio_cells += [f"{ratio:.2f}", ""]
        else:
            ratio_cells += ["-", ""]
        steps_cells += [str(summary(recon, n, PATTERNS[0])[3]), "1000" if n != "VPF" else "2"]
        recon_cells += [f"{sum(summary(recon, n, p)[2] for p in PATTERNS):.1f}", ""]
        fits = train[n]
        train_cells += [f"{np.mean([f[0] for f in fits]):.1f}", ""]
        epoch_cells += [f"{np.mean([f[1] / max(f[2], 1) for f in fits]):.2f}", ""]
    print(f"| mean ratio ours / text | {' | '.join(ratio_cells)} |")
    print(f"| Gibbs steps | {' | '.join(steps_cells)} |")
    print(f"| train time, fit (s) | {' | '.join(train_cells)} |")
    print(f"| s per epoch (C epochs) | {' | '.join(epoch_cells)} |")
    print(f"| reconstruction time, 4 patterns (s) | {' | '.join(recon_cells)} |")
    if args.repeats > 1:
        print("\nPer-run means (Top, Bottom, Left, Right):\n")
        print("| method | " + " | ".join(f"run {r + 1}" for r in range(args.repeats)) + " |")
        print("|---|" + "---|" * args.repeats)
        for n in names:
            per = [summary(recon, n, p)[4] for p in PATTERNS]
            print(f"| {n} | " + " | ".join(", ".join(f"{per[i][r]:.1f}" for i in range(4))
                                           for r in range(args.repeats)) + " |")

    print(f"\n#### {label}: training\n")
    print("| method | run | epochs | fit wall (s) | C epochs (s) | s per epoch | last epoch |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for n in names:
        for r, (fit_time, epoch_time, n_epochs, monitor) in enumerate(train[n]):
            print(f"| {n} | {r + 1} | {n_epochs} | {fit_time:.1f} | {epoch_time:.1f} "
                  f"| {epoch_time / max(n_epochs, 1):.2f} | {monitor} |")

    if not args.no_swap:
        print(f"\n#### {label}: fairness check, the Gibbs step counts swapped (mean L1 error "
              "+- s.e.; the text's protocol beside)\n")
        head = " | ".join(f"{n}, {summary(swapped, n, PATTERNS[0])[3]} steps | {n}, "
                          f"{summary(recon, n, PATTERNS[0])[3]} steps" for n in names)
        print(f"| corruption | {head} |")
        print("|---|" + "---:|" * (2 * len(names)))
        for pattern in PATTERNS:
            cells = []
            for n in names:
                m, se, _, _, _ = summary(swapped, n, pattern)
                m0, se0, _, _, _ = summary(recon, n, pattern)
                cells += [_cell(m, se), _cell(m0, se0)]
            print(f"| {pattern.capitalize()} | {' | '.join(cells)} |")
        cells = []
        for n in names:
            cells += [f"{sum(summary(swapped, n, p)[2] for p in PATTERNS):.1f}",
                      f"{sum(summary(recon, n, p)[2] for p in PATTERNS):.1f}"]
        print(f"| reconstruction time, 4 patterns (s) | {' | '.join(cells)} |")
    print(flush=True)
    return {n: [summary(recon, n, p)[0] for p in PATTERNS] for n in names}


# ---------------------------------------------------------------------------
# (b) Table 2
# ---------------------------------------------------------------------------

def part_b(args, label, X_grey, X_test_grey, is_mnist):
    import pydbn
    from pydbn.metrics import DEFAULT_SIGMAS, parzen_log_likelihood

    dtype = np.dtype(args.dtype)
    n_all = len(X_grey)
    perm = np.random.default_rng(args.seed).permutation(n_all)
    n_valid = min(args.n_valid, n_all // 2)
    valid_rows, train_rows = np.sort(perm[:n_valid]), np.sort(perm[n_valid:])
    if args.n_train is not None:
        train_rows = train_rows[: args.n_train]
    Xv_grey = np.ascontiguousarray(X_grey[valid_rows])
    Xtr_grey = np.ascontiguousarray(X_grey[train_rows])
    X_train, X_valid = binarize(Xtr_grey, dtype), binarize(Xv_grey, dtype)
    X_test = binarize(X_test_grey, dtype)
    sigmas = np.unique(np.concatenate([DEFAULT_SIGMAS, [0.2]]))
    n_samples = args.n_samples

    nets = {"RBM": ((args.n_hidden,), False), "DBM1": (args.dbm_layers, False),
            "DBM2": (args.dbm_layers, True)}
    arch = {k: f"{X_train.shape[1]}-" + "-".join(map(str, s)) for k, (s, _) in nets.items()}
    print(f"### (b) Table 2: Parzen-window log-likelihood of samples, {label}\n")
    print(f"- {len(X_train)} training rows, {n_valid} validation rows held out of the training "
          f"set (not trained on), {len(X_test)} test rows; {args.dtype}")
    print(f"- VPF for every model: {args.epochs} epochs, Adam learning rate {args.learning_rate}, "
          f"batch {args.batch_size}, weight decay {args.weight_decay}, no pre-training: RBM "
          f"{arch['RBM']}, DBM1 {arch['DBM1']} (no laterals), DBM2 {arch['DBM2']} (lateral "
          "weights in every hidden layer)")
    print(f"- {n_samples} samples per model and prior by Algorithm 2 (`sample(prior=..., n_gibbs="
          f"{args.sample_gibbs}, binary=False)`: visible probabilities); priors R = uniform, "
          "P = mean feed-forward activation of the training rows (`top_prior_`)")
    print("- Parzen width chosen on the validation rows from "
          + ", ".join(f"{s:.3g}" for s in sigmas)
          + "; log-likelihood in nats, +- standard error over the test rows; scored on the "
          "binarized test images and, separately (width chosen on the grey-level validation "
          "rows), on the grey-level test images")
    print(f"- other published figures quoted by the text (MNIST): {TEXT_OTHERS}\n", flush=True)

    def parzen(centres, centres_grey=None):
        """(binarized-test result, grey-level-test result, seconds); the grey-level test
        images are scored with ``centres_grey`` when given (the reference), else ``centres``."""
        t0 = time.perf_counter()
        binary = parzen_log_likelihood(centres, X_test, sigmas=sigmas, X_validation=X_valid)
        grey = parzen_log_likelihood(centres if centres_grey is None else centres_grey,
                                     X_test_grey, sigmas=sigmas, X_validation=Xv_grey)
        return binary, grey, time.perf_counter() - t0

    rows = []
    ref_rows = np.sort(np.random.default_rng(args.seed + 1).permutation(len(X_train))[
        :min(n_samples, len(X_train))])
    binary, grey, ptime = parzen(X_train[ref_rows], Xtr_grey[ref_rows])
    print(f"reference (training rows as kernel centres): binarized {binary.mean:.2f} (sigma "
          f"{binary.sigma:.3g}), grey-level {grey.mean:.2f} (sigma {grey.sigma:.3g}) "
          f"({ptime:.1f} s)", flush=True)
    reference = (binary, grey)

    for name, (sizes, lateral) in nets.items():
        model = pydbn.VPF(sizes, lateral=lateral, learning_rate=args.learning_rate,
                          batch_size=args.batch_size, n_iter=args.epochs,
                          weight_decay=args.weight_decay, n_gibbs_generate=args.sample_gibbs,
                          random_state=args.seed, verbose=args.verbose)
        t0 = time.perf_counter()
        model.fit(X_train)
        fit_time = time.perf_counter() - t0
        epochs = model.history_["time"]
        print(f"{name} {arch[name]}: fit {fit_time:.1f} s ({sum(epochs):.1f} s in {len(epochs)} "
              f"epochs), MPF objective {model.history_['objective'][-1]:.4f}, mean top prior "
              f"{float(np.mean(model.top_prior_)):.3f}", flush=True)
        drawn = {}
        for prior in ("uniform", "data"):
            t0 = time.perf_counter()
            # the same random numbers for both priors: their difference is the prior's alone
            samples = model.sample(n_samples, prior=prior, n_gibbs=args.sample_gibbs,
                                   binary=False, random_state=args.seed)
            sample_time = time.perf_counter() - t0
            drawn[prior] = samples
            same = (float(np.mean(np.all(samples == drawn["uniform"], axis=1)))
                    if prior == "data" else None)
            binary, grey, ptime = parzen(samples)
            rows.append((name, prior, fit_time, sum(epochs), len(epochs), sample_time, ptime,
                         binary, grey, same))
            print(f"  prior {prior:7s}: binarized {binary.mean:8.2f} +- {binary.std_err:.2f} "
                  f"(sigma {binary.sigma:.3g}), grey-level {grey.mean:8.2f} +- "
                  f"{grey.std_err:.2f} (sigma {grey.sigma:.3g}); sampling {sample_time:.1f} s, "
                  f"Parzen {ptime:.1f} s"
                  + ("" if same is None else f"; {100 * same:.1f}% of the samples equal to "
                     "the uniform prior's"), flush=True)

    print(f"\n#### {label}: Table 2, Parzen-window log-likelihood (nats) of {len(X_test)} test "
          f"images, {n_samples} samples per model\n")
    print("| model | top prior | sigma (binarized) | ours, binarized test | sigma (grey) "
          "| ours, grey-level test | text (MNIST) | ratio ours binarized / text "
          "| ratio ours grey / text | train time (s) | s per epoch | sampling (s) "
          "| samples equal to R's |")
    print("|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|")
    for name, prior, fit_time, epoch_time, n_epochs, sample_time, _, binary, grey, same in rows:
        text = TEXT_TABLE2[name, prior] if is_mnist else "-"
        tv = TEXT_TABLE2_VALUE[name][prior] if is_mnist else None
        r_b = f"{binary.mean / tv:.2f}" if tv else "-"
        r_g = f"{grey.mean / tv:.2f}" if tv else "-"
        print(f"| {name} {arch[name]} | {PRIOR_LABEL[prior]} | {binary.sigma:.3g} "
              f"| {_cell(binary.mean, binary.std_err)} | {grey.sigma:.3g} "
              f"| {_cell(grey.mean, grey.std_err)} | {text} | {r_b} | {r_g} | {fit_time:.1f} "
              f"| {epoch_time / max(n_epochs, 1):.2f} | {sample_time:.1f} "
              f"| {'-' if same is None else f'{100 * same:.1f}%'} |")
    binary, grey = reference
    text = TEXT_REFERENCE if is_mnist else "-"
    r_b = f"{binary.mean / 239.88:.2f}" if is_mnist else "-"
    r_g = f"{grey.mean / 239.88:.2f}" if is_mnist else "-"
    print(f"| reference: {len(ref_rows)} training rows as centres | - | {binary.sigma:.3g} "
          f"| {_cell(binary.mean, binary.std_err)} | {grey.sigma:.3g} "
          f"| {_cell(grey.mean, grey.std_err)} | {text} | {r_b} | {r_g} | - | - | - | - |")
    print("\nR and P draw with the same random numbers (`random_state`), so their difference is "
          "due to the prior alone; 'samples equal to R's' counts P samples identical to the R "
          "sample of the same index: the chains forgot their top-layer start within the "
          f"{args.sample_gibbs} Gibbs steps per layer (they coalesced), and the prior had no "
          "effect on them.")
    print("\nThe reference's grey-level column puts the kernels on the grey-level training "
          "images; every other row puts them on the models' sample probabilities. Parzen "
          "estimates are biased and high-variance in 784 dimensions (Theis et al. 2016): compare "
          "rows with each other, not with likelihoods.")
    print(flush=True)
    return rows


def main(argv=None):
    args = parse_args(argv)
    import threadpoolctl

    import pydbn  # loads pydbn's OpenBLAS first, so that --threads reaches it too

    limiter = None
    if args.threads is not None:
        limiter = threadpoolctl.threadpool_limits(args.threads)
    t_start = time.perf_counter()
    print("# VPF quality: Tables 1 and 2 of Liu, Quek & Lin (reconstruction of corrupted "
          "images, Parzen log-likelihood of samples)\n")
    blas = ", ".join(f"{i.get('internal_api')} {i.get('version')} x{i.get('num_threads')}"
                     for i in threadpoolctl.threadpool_info())
    print(f"- pydbn {getattr(pydbn, '__version__', '?')}, Python {platform.python_version()}, "
          f"NumPy {np.__version__}, {os.cpu_count()} CPUs, BLAS: {blas}")
    print(f"- load average at start (1, 5, 15 min): {load_average()} (well above 0 means other "
          "processes share the CPUs: times inflate)")
    print(f"- command line: {' '.join(sys.argv[1:]) if argv is None else ' '.join(argv)}"
          f" (parts: {args.part}, data sets: {args.dataset}, seed {args.seed})\n", flush=True)
    names = ["mnist", "fashion"] if args.dataset == "both" else [args.dataset]
    for name in names:
        try:
            label, X_grey, X_test_grey = load(args, name)
        except FileNotFoundError as exc:
            print(f"{name}: skipped, data not found ({exc})\n", flush=True)
            continue
        print(f"## {label}\n", flush=True)
        dtype = np.dtype(args.dtype)
        if args.part in ("both", "a"):
            X_train = binarize(_subset(X_grey, args.n_train, args.seed), dtype)
            part_a(args, label, X_train, binarize(X_test_grey, dtype), name == "mnist")
        if args.part in ("both", "b"):
            part_b(args, label, X_grey, np.ascontiguousarray(X_test_grey, dtype=dtype),
                   name == "mnist")
    print(f"total run time {time.perf_counter() - t_start:.1f} s; load average at the end: "
          f"{load_average()}")
    if args.quick:
        print("\n(quick run: far too little training for the figures to mean anything)")
    if limiter is not None:
        limiter.restore_original_limits()
    return 0


if __name__ == "__main__":
    sys.exit(main())
