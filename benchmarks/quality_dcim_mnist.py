"""Quality and speed of pydbn.DCIM: the dense MNIST experiment of Flach, Shekhovtsov & Fikar.

``pydbn.DCIM`` (text 001, "Generative learning for deep networks") recognizes with a sigmoid
network and generates with the same weights transposed: the forward model p(y | x) is a dense
network's forward pass (Eq. 14-15), the reverse model q(x | y) runs the same recursion down
(Eq. 20). The text's Sec. 3.1 trains a dense 784-512-512-10 network (sigmoid hidden units, a
softmax class layer, "a standard optimiser without drop-out and any other regularisers") on
MNIST discriminatively and generatively and reports, in figures only, that the generative
objective "imposes only a rather insignificant drop of the classification accuracy" (Fig. 1),
and shows 10 images sampled from the reverse model per class, each with the class and
probability the forward model gives it (Fig. 2: recursive sampling from the class layer down,
left; sampling one layer and then propagating probabilities, right).

For each data set (``--dataset mnist``, ``fashion`` or ``both``, the default):

- data: MNIST (``pydbn.datasets.load_mnist``) and Fashion-MNIST (``load_fashion_mnist``), 60000
  training and 10000 test images, grey levels / 255 in [0, 1] used as they are (the text's
  Keras setting: grey levels as the targets of the reverse model's Bernoulli outputs, so its
  "log-likelihood" of a grey image is the cross-entropy with the grey levels; ``--binarize``
  thresholds at 0.5 instead, which makes it a log-probability), float32;
- (a) three ``DCIM(hidden_layer_sizes=(512, 512))`` models, one per objective: 'discriminative'
  (log p(y | x): an ordinary sigmoid network), 'bidirectional' (Eq. 21: + log q(x | y)) and
  'sampled' (Eq. 22: + log q(x | x^{d-1}), x^{d-1} drawn from the forward model), each trained
  for the same ``--epochs`` (default 20) with Adam (learning rate 1e-3, batch 100, no weight
  decay: pydbn's defaults; the text gives no optimizer settings), one ``partial_fit`` epoch at a
  time so that the held-out figures can be recorded during training (every ``--eval-every``
  epochs; the evaluation is not counted in the training time). Reported per objective: test
  accuracy, its difference from the discriminative model (the text's claim), the training
  accuracy on ``--n-train-eval`` training rows, the test log p(y | x), the held-out reverse
  log-likelihood (the mean over the test rows of ``reverse_log_likelihood(X, y)``: log q(x | y)
  by the recursion of means, nats per image, with its standard error; per pixel too, the scale
  of Keras' ``binary_crossentropy``), the same on the training rows, Eq. 22's own reverse term on
  the test rows (log q(x | x^{d-1}) with one draw of x^{d-1} from the forward model per row; not
  public API: ``pydbn._core.dcim_objective``), and the training time (``partial_fit`` wall time
  and the C epochs of ``history_['time']``);
- class-conditional samples: ``--n-per-class`` (10) images per class from each model in both
  modes (``sample(y, mode='recursive' | 'one-layer')``, the probabilities q(x^0 = 1 | ...) the
  text shows), classified by the same model's forward part. Printed: a summary per model and
  mode (share classified as the class they were drawn for, the mean probability of that class,
  the spread within a class: the mean over pixels of the standard deviation across a class's
  samples, against the same figures for 10 real test images per class) and, for the generative
  objectives, the text's Fig. 2 annotation as a table (predicted class and probability of every
  sample). Figures in ``--out`` (default: a new temporary folder, printed):
  ``{dataset}_{objective}_{mode}.png`` (one row per class; ``pydbn.plotting``, no matplotlib
  needed), ``{dataset}_data.png``, and with matplotlib
  ``{dataset}_{objective}_{mode}_annotated.png`` (each sample with its predicted class and
  probability, as Fig. 2) and ``{dataset}_curves.png``
  (accuracy and reverse log-likelihood per epoch, as Fig. 1);
- (b) throughput: the discriminative DCIM of (a) against scikit-learn's ``MLPClassifier(
  hidden_layer_sizes=(512, 512), activation='logistic', solver='adam')`` - the same network
  class and objective - with the same batch size, learning rate, Adam parameters, no L2 penalty
  (``alpha=0``) and the same number of epochs (``max_iter``; ``early_stopping=False``,
  ``tol=0`` and a huge ``n_iter_no_change``, so it runs every epoch), on the same float32 data
  (scikit-learn keeps float32 in float32). Reported: seconds per epoch (DCIM: ``partial_fit``
  wall time per epoch, and its C epoch; MLP: ``fit`` wall time / ``n_iter_``), the ratio MLP /
  DCIM, both test accuracies and both final training losses. The initialisations differ
  (DCIM: Glorot uniform, sqrt(6 / fan sum); scikit-learn for logistic units: sqrt(2 / fan
  sum)), so the accuracies agree only up to that. ``--part b`` trains only the discriminative
  DCIM (no evaluation during training) and the MLP.

Threads: ``--threads`` (default 1) caps every BLAS pool with threadpoolctl after pydbn is
imported (pydbn's OpenBLAS and NumPy's are both capped, so DCIM and MLPClassifier run alike).
With minibatches of 100 rows, on a machine that other jobs load, two OpenBLAS threads spin-wait
for each other: in a measurement at load average 4 on 2 cores, a DCIM 'bidirectional' epoch on
12000 rows took 3.4 s at one thread and 35 s at two. On an idle machine ``--threads 2`` may be
faster; the time estimates below are for one thread.

Run time with the defaults (20 epochs, both data sets), from per-epoch costs measured at one
thread on 12000-row epochs at load average 4 on 2 cores (discriminative 1.5 s, bidirectional
3.4 s, sampled 4.3 s, MLPClassifier 4.0 s, i.e. about 65 s for the four 60000-row epochs) and
halved for an idle machine: about 33 s per epoch of all four models and data set; with the
held-out evaluations (about 2 s each, 30 in all) and the samples, about 25 minutes for both data
sets (20-30 depending on the machine), half of it for one; ``--part b`` about 9 minutes.
``--quick`` is a smoke run (2000 training / 500 test rows, 2 epochs) of a few seconds.
"""

import argparse
import os
import platform
import sys
import tempfile
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # benchmarks/_common.py
from _common import cpu_model, load_average  # noqa: E402

OBJECTIVES = ("discriminative", "bidirectional", "sampled")
MODES = ("recursive", "one-layer")
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                   "Sneaker", "Bag", "Ankle boot")
TEXT_CLAIM = "\"only a rather insignificant drop\" (Fig. 1; no number in the text)"
TEXT_CNN = ("Sec. 3.2 (a CNN, not this network): 0.989 validation accuracy and 0.23 reverse "
            "loss per pixel with Eq. 21; 0.990 and 0.14 with Eq. 22")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", choices=["both", "mnist", "fashion"], default="both",
                   help="MNIST, Fashion-MNIST, or both (default)")
    p.add_argument("--part", choices=["both", "a", "b"], default="both",
                   help="(a) objectives, samples; (b) throughput against MLPClassifier")
    p.add_argument("--mnist-data", default=None, help="MNIST folder (default: pydbn.datasets')")
    p.add_argument("--fashion-data", default=None,
                   help="Fashion-MNIST folder (default: pydbn.datasets')")
    p.add_argument("--objectives", default=",".join(OBJECTIVES),
                   help="comma-separated subset of " + ", ".join(OBJECTIVES) + " (default all)")
    p.add_argument("--layers", default="512,512", help="hidden layer sizes (default 512,512)")
    p.add_argument("--epochs", type=int, default=20, help="epochs of every model (default 20)")
    p.add_argument("--batch-size", type=int, default=100, help="minibatch rows (default 100)")
    p.add_argument("--learning-rate", type=float, default=1e-3, help="Adam step (default 1e-3)")
    p.add_argument("--binarize", action="store_true",
                   help="threshold the images at 0.5 (default: grey levels / 255, as the text)")
    p.add_argument("--n-train", type=int, default=None, help="training rows (default all 60000)")
    p.add_argument("--n-test", type=int, default=None, help="test rows (default all 10000)")
    p.add_argument("--n-train-eval", type=int, default=10000,
                   help="training rows scored for the training accuracy / reverse "
                        "log-likelihood (default 10000)")
    p.add_argument("--eval-every", type=int, default=5,
                   help="held-out evaluation after epoch 1, every N epochs and the last (5)")
    p.add_argument("--n-per-class", type=int, default=10,
                   help="samples per class and mode (default 10, as the text's Fig. 2)")
    p.add_argument("--out", default=None, help="folder for the PNG figures (default: a new "
                                               "temporary folder)")
    p.add_argument("--threads", type=int, default=1,
                   help="BLAS threads via threadpoolctl (default 1: see the docstring)")
    p.add_argument("--seed", type=int, default=0, help="random_state of every model (0)")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 2000 training / 500 test rows, 2 epochs")
    args = p.parse_args(argv)
    try:
        args.layers = tuple(int(s) for s in args.layers.split(",") if s.strip())
    except ValueError:
        p.error(f"--layers must be comma-separated integers, got {args.layers!r}")
    if not args.layers or min(args.layers) < 1:
        p.error("--layers needs at least one positive size ('sampled' needs a hidden layer)")
    args.objectives = tuple(s.strip() for s in args.objectives.split(",") if s.strip())
    bad = [s for s in args.objectives if s not in OBJECTIVES]
    if bad or not args.objectives:
        p.error(f"--objectives: unknown {bad}; choose from {', '.join(OBJECTIVES)}")
    if args.epochs < 1 or args.eval_every < 1 or args.n_per_class < 1:
        p.error("--epochs, --eval-every and --n-per-class must be >= 1")
    if args.quick:
        args.n_train = args.n_train or 2000
        args.n_test = args.n_test or 500
        args.n_train_eval = min(args.n_train_eval, 500)
        args.epochs = 2
        args.eval_every = 1
    return args


# ---------------------------------------------------------------------------
# environment and small helpers
# ---------------------------------------------------------------------------

def _pyplot():
    """matplotlib.pyplot with a file backend, or None if matplotlib is missing."""
    try:
        import matplotlib

        if not os.environ.get("MPLBACKEND"):
            matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def _num(value, digits=3):
    return "-" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def _subset(X, y, n, seed):
    if n is None or n >= len(X):
        return X, y
    rows = np.sort(np.random.default_rng(seed).permutation(len(X))[:n])
    return np.ascontiguousarray(X[rows]), y[rows]


def load(args, name):
    """(label, X_train, y_train, X_test, y_test, class names)."""
    from pydbn.datasets import load_fashion_mnist, load_mnist

    if name == "mnist":
        X, y = load_mnist(args.mnist_data, kind="train")
        Xt, yt = load_mnist(args.mnist_data, kind="test")
        label, names = "MNIST", [str(c) for c in range(10)]
    else:
        X, y = load_fashion_mnist(args.fashion_data, kind="train")
        Xt, yt = load_fashion_mnist(args.fashion_data, kind="test")
        label, names = "Fashion-MNIST", list(FASHION_CLASSES)
    if args.binarize:
        X, Xt = (X > 0.5).astype(np.float32), (Xt > 0.5).astype(np.float32)
    X, y = _subset(np.asarray(X, np.float32), y, args.n_train, args.seed)
    Xt, yt = _subset(np.asarray(Xt, np.float32), yt, args.n_test, args.seed + 1)
    return label, np.ascontiguousarray(X), y, np.ascontiguousarray(Xt), yt, names


# ---------------------------------------------------------------------------
# (a) the three objectives
# ---------------------------------------------------------------------------

def sampled_reverse_term(model, X, y, seed):
    """Mean over the rows of Eq. 22's reverse term log q(x | x^{d-1}), x^{d-1} drawn once per
    row from the forward model: the 'sampled' objective's own reverse term (the public
    ``reverse_log_likelihood`` gives log q(x | y) only). NaN if the private core call is not
    available."""
    try:
        from pydbn import _core
        from pydbn._base import as_source

        labels = np.searchsorted(model.classes_, y).astype(np.int64)
        X = np.ascontiguousarray(X, dtype=model.intercepts_[0].dtype)
        _, rev = _core.dcim_objective(model._model(), _core.DCIM_SAMPLED,
                                      as_source(X, X.dtype), labels, int(seed), 0, None, None,
                                      True)
        return float(rev)
    except (AttributeError, TypeError, ImportError):
        return float("nan")


def evaluate(model, X_test, y_test, X_tr, y_tr, seed):
    proba = model.predict_proba(X_test)
    idx = np.searchsorted(model.classes_, y_test)
    rll = model.reverse_log_likelihood(X_test, y_test)
    return {
        "test_acc": float(np.mean(model.classes_[np.argmax(proba, axis=1)] == y_test)),
        "test_logp": float(np.mean(np.log(np.maximum(proba[np.arange(len(idx)), idx],
                                                     np.finfo(proba.dtype).tiny)))),
        "test_rll": float(rll.mean()),
        "test_rll_sem": float(rll.std(ddof=1) / np.sqrt(len(rll))) if len(rll) > 1 else 0.0,
        "train_acc": float(model.score(X_tr, y_tr)),
        "train_rll": float(model.reverse_log_likelihood(X_tr, y_tr).mean()),
        "test_sampled": sampled_reverse_term(model, X_test, y_test, seed),
    }


def train(args, objective, X, y, X_test, y_test, X_tr, y_tr, evaluate_during=True):
    """Train one DCIM epoch by epoch; returns a dict with the model, times and curves."""
    import pydbn

    model = pydbn.DCIM(hidden_layer_sizes=args.layers, objective=objective,
                       learning_rate=args.learning_rate, batch_size=args.batch_size,
                       random_state=args.seed)
    classes = np.unique(y)
    walls, curve = [], []
    for epoch in range(1, args.epochs + 1):
        t0 = time.perf_counter()
        model.partial_fit(X, y, classes=classes)
        walls.append(time.perf_counter() - t0)
        h = model.history_
        line = (f"  {objective:14s} epoch {epoch:3d}: training log p(y|x) "
                f"{h['forward_log_likelihood'][-1]:8.4f}, reverse term "
                f"{h['reverse_log_likelihood'][-1]:9.2f}, {walls[-1]:6.2f} s")
        last = epoch == args.epochs
        if evaluate_during and (epoch == 1 or epoch % args.eval_every == 0 or last):
            t0 = time.perf_counter()
            ev = evaluate(model, X_test, y_test, X_tr, y_tr, args.seed)
            ev["epoch"] = epoch
            curve.append(ev)
            line += (f"; test accuracy {ev['test_acc']:.4f}, held-out log q(x|y) "
                     f"{ev['test_rll']:.2f} (evaluated in {time.perf_counter() - t0:.1f} s)")
        print(line + f" (load {load_average()})", flush=True)
    final = curve[-1] if curve else None
    if final is None:  # part (b) alone: the accuracy only
        final = {"test_acc": float(model.score(X_test, y_test))}
    return {"model": model, "objective": objective, "wall": float(sum(walls)),
            "c_time": float(sum(model.history_["time"])), "epochs": len(walls), "curve": curve,
            "final": final}


def sample_stats(images, pred, prob, p_cond, cond):
    """Summary of a set of class-conditional images (rows grouped by class, in order)."""
    classes = np.unique(cond)
    spread = np.mean([images[cond == c].std(axis=0).mean() for c in classes])
    return {"share": float(np.mean(pred == cond)), "p_cond": float(np.mean(p_cond)),
            "top": float(np.mean(prob)), "spread": float(spread),
            "mean_pixel": float(images.mean())}


def classify(model, images, cond):
    proba = model.predict_proba(images)
    pred = model.classes_[np.argmax(proba, axis=1)]
    idx = np.searchsorted(model.classes_, cond)
    return pred, proba.max(axis=1), proba[np.arange(len(cond)), idx]


def save_grid(path, images, n_cols):
    from pydbn.plotting import save_png, tile_images

    save_png(path, tile_images(images, shape=(28, 28), n_cols=n_cols, pad=2, scale_each=False,
                               pad_value=0.5))


def save_annotated(plt, path, images, pred, prob, cond, n_cols, title):
    """The text's Fig. 2: every sample with the forward model's class and probability above."""
    from pydbn.plotting import tile_images

    mosaic = tile_images(images, shape=(28, 28), n_cols=n_cols, pad=10, scale_each=False,
                         pad_value=1.0)
    n_rows = -(-len(images) // n_cols)
    fig, ax = plt.subplots(figsize=(0.75 * n_cols + 0.5, 0.8 * n_rows + 0.6))
    ax.imshow(np.vstack([np.ones((10, mosaic.shape[1])), mosaic]), cmap="gray", vmin=0, vmax=1)
    for i in range(len(images)):
        r, c = divmod(i, n_cols)
        ok = pred[i] == cond[i]
        ax.text(c * 38 + 14, r * 38 + 8, f"{pred[i]} {prob[i]:.2f}", ha="center", va="bottom",
                fontsize=6, color="green" if ok else "red")
    ax.set_title(title, fontsize=8)
    ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def save_curves(plt, path, runs, label):
    """The text's Fig. 1: accuracy (dashed training, solid held-out) and the reverse model's
    log-likelihood per epoch."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    for i, run in enumerate(runs):
        color = f"C{i}"
        ep = [c["epoch"] for c in run["curve"]]
        axes[0].plot(ep, [c["test_acc"] for c in run["curve"]], "-o", color=color,
                     label=f"{run['objective']} (test)")
        axes[0].plot(ep, [c["train_acc"] for c in run["curve"]], "--", color=color)
        if run["objective"] != "discriminative":
            h = run["model"].history_["reverse_log_likelihood"]
            axes[1].plot(np.arange(1, len(h) + 1), h, "--", color=color,
                         label=f"{run['objective']}: training term (minibatch mean)")
            axes[1].plot(ep, [c["test_rll"] for c in run["curve"]], "-o", color=color,
                         label=f"{run['objective']}: held-out log q(x|y)")
            if run["objective"] == "sampled":
                axes[1].plot(ep, [c["test_sampled"] for c in run["curve"]], ":s", color=color,
                             label="sampled: held-out Eq. 22 term")
    axes[0].set(xlabel="epoch", ylabel="accuracy", title=f"{label}: accuracy "
                "(dashed: training rows)")
    axes[1].set(xlabel="epoch", ylabel="nats per image", title=f"{label}: reverse model")
    for ax in axes:
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def report_samples(args, runs, name, label, names, X_test, y_test, out_dir, plt):
    n = args.n_per_class
    classes = runs[0]["model"].classes_
    cond = np.repeat(classes, n)
    # reference: the first n test images of every class
    real = np.vstack([X_test[y_test == c][:n] for c in classes])
    real_cond = np.concatenate([np.full(min(n, int(np.sum(y_test == c))), c) for c in classes])
    save_grid(os.path.join(out_dir, f"{name}_data.png"), real, n)
    rows, tables = [], []
    for run in runs:
        model = run["model"]
        if run["objective"] == "discriminative":  # its forward model classifies the real images
            pred, prob, p_cond = classify(model, real, real_cond)
            rows.append((f"{n} real test images per class (classified by the discriminative "
                         "model)", "-", sample_stats(real, pred, prob, p_cond, real_cond)))
        for mode in MODES:
            images = model.sample(cond, mode=mode, random_state=args.seed)
            pred, prob, p_cond = classify(model, images, cond)
            rows.append((run["objective"], mode, sample_stats(images, pred, prob, p_cond, cond)))
            base = os.path.join(out_dir, f"{name}_{run['objective']}_{mode}")
            save_grid(base + ".png", images, n)
            if plt is not None:
                save_annotated(plt, base + "_annotated.png", images, pred, prob, cond, n,
                               f"{label}, {run['objective']}, {mode}: forward model's class "
                               "and probability")
            if run["objective"] != "discriminative":
                tables.append((run["objective"], mode, pred, prob))

    print(f"\n### {label}: class-conditional samples ({n} per class), classified by the same "
          "model's forward part\n")
    print("| model | sampling | classified as the class drawn for | mean p(that class) "
          "| mean top probability | spread within a class | mean pixel |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for what, mode, s in rows:
        print(f"| {what} | {mode} | {s['share']:.2f} | {s['p_cond']:.3f} | {s['top']:.3f} "
              f"| {s['spread']:.3f} | {s['mean_pixel']:.3f} |")
    print("\nrecursive: every hidden layer sampled on the way down from the one-hot class (the "
          "text's Fig. 2 left); one-layer: the layer below the class sampled, then probabilities "
          "propagated (Fig. 2 right, Fig. 3). The images are the probabilities q(x^0 = 1 | ...). "
          "Spread within a class: mean over pixels of the standard deviation across a class's "
          "images (0 if the model draws one mean shape per class).")
    if name == "fashion":
        print("Classes: " + ", ".join(f"{i} {c}" for i, c in enumerate(names)) + ".")
    for objective, mode, pred, prob in tables:
        print(f"\n#### {label}, {objective}, {mode}: the forward model's class and probability "
              "of each sample (the text's Fig. 2)\n")
        print("| drawn for | " + " | ".join(str(j + 1) for j in range(n)) + " |")
        print("|---|" + "---:|" * n)
        for i, c in enumerate(classes):
            cells = [f"{pred[k]} {prob[k]:.2f}" for k in range(i * n, (i + 1) * n)]
            print(f"| {c} | " + " | ".join(cells) + " |")
    return rows


def part_a(args, name, data, out_dir, plt):
    label, X, y, X_test, y_test, names = data
    X_tr, y_tr = X[: args.n_train_eval], y[: args.n_train_eval]
    runs = []
    for objective in args.objectives:
        runs.append(train(args, objective, X, y, X_test, y_test, X_tr, y_tr))
    by = {r["objective"]: r for r in runs}
    disc = by.get("discriminative")
    n_pix = X.shape[1]

    print(f"\n### {label}: (a) test accuracy, held-out reverse log-likelihood, training time\n")
    print(f"Held-out: {len(X_test)} test rows; training figures on {len(X_tr)} training rows. "
          "Reverse log-likelihoods in nats per image (per pixel: divided by "
          f"{n_pix}, the scale of Keras' binary_crossentropy); "
          + ("binary images: log-probabilities." if args.binarize else
             "grey-level images: the cross-entropy with the grey levels as Bernoulli "
             "targets (not the log-probability of a discrete event).") + "\n")
    print("| objective | epochs | test accuracy | accuracy - discriminative (points) "
          "| training accuracy | test log p(y\\|x) | held-out log q(x\\|y) (nats / image) "
          "| per pixel | training log q(x\\|y) | held-out Eq. 22 term log q(x\\|x^{d-1}) "
          "| fit time (s) | C epochs (s) | s / epoch |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in runs:
        f = r["final"]
        diff = (100 * (f["test_acc"] - disc["final"]["test_acc"]) if disc is not None
                else float("nan"))
        print(f"| {r['objective']} | {r['epochs']} | {f['test_acc']:.4f} | {_num(diff, 2)} "
              f"| {f['train_acc']:.4f} | {f['test_logp']:.4f} "
              f"| {f['test_rll']:.2f} +- {f['test_rll_sem']:.2f} | {f['test_rll'] / n_pix:.4f} "
              f"| {f['train_rll']:.2f} | {_num(f['test_sampled'], 2)} | {r['wall']:.1f} "
              f"| {r['c_time']:.1f} | {r['wall'] / r['epochs']:.2f} |")
    print("\nThe discriminative model never trains its reverse part: its reverse figures show "
          "what the untrained transposed network gives. 'sampled' trains Eq. 22's term, not log "
          "q(x | y). fit time: the sum of the partial_fit calls (evaluations excluded).")

    print(f"\n### {label}: the text's claim - the generative objective costs little accuracy\n")
    if disc is None:
        print("(needs the discriminative model: not among --objectives)")
    print("| comparison | test accuracy | discriminative | difference (points) | the text |")
    print("|---|---:|---:|---:|---|")
    for objective in ("bidirectional", "sampled"):
        if objective in by and disc is not None:
            a, b = by[objective]["final"]["test_acc"], disc["final"]["test_acc"]
            print(f"| {objective} - discriminative | {a:.4f} | {b:.4f} | {100 * (a - b):+.2f} "
                  f"| {TEXT_CLAIM if objective == 'bidirectional' else '-'} |")
    print(f"\nFor context only, {TEXT_CNN}.")

    curve_rows = [(r["objective"], c) for r in runs for c in r["curve"]]
    if curve_rows:
        print(f"\n### {label}: held-out figures during training (the text's Fig. 1)\n")
        print("| objective | epoch | training log p(y\\|x) (epoch mean) | training reverse term "
              "(epoch mean) | training accuracy | test accuracy | held-out log q(x\\|y) "
              "| held-out Eq. 22 term |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for objective, c in curve_rows:
            h = by[objective]["model"].history_
            e = c["epoch"] - 1
            print(f"| {objective} | {c['epoch']} | {h['forward_log_likelihood'][e]:.4f} "
                  f"| {h['reverse_log_likelihood'][e]:.2f} | {c['train_acc']:.4f} "
                  f"| {c['test_acc']:.4f} | {c['test_rll']:.2f} | {_num(c['test_sampled'], 2)} |")
    if plt is not None and curve_rows:
        save_curves(plt, os.path.join(out_dir, f"{name}_curves.png"), runs, label)
    report_samples(args, runs, name, label, names, X_test, y_test, out_dir, plt)
    return disc


# ---------------------------------------------------------------------------
# (b) throughput against scikit-learn's MLPClassifier
# ---------------------------------------------------------------------------

def part_b(args, name, data, disc):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    label, X, y, X_test, y_test, _ = data
    if disc is None:
        print(f"\n{label}: training the discriminative DCIM for (b)", flush=True)
        disc = train(args, "discriminative", X, y, X_test, y_test, None, None,
                     evaluate_during=False)
    mlp = MLPClassifier(hidden_layer_sizes=args.layers, activation="logistic", solver="adam",
                        alpha=0.0, batch_size=args.batch_size,
                        learning_rate_init=args.learning_rate, max_iter=args.epochs,
                        shuffle=True, tol=0.0, n_iter_no_change=10**9, early_stopping=False,
                        beta_1=0.9, beta_2=0.999, epsilon=1e-8, random_state=args.seed)
    load_before = load_average()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter is reached on purpose
        t0 = time.perf_counter()
        mlp.fit(X, y)
        mlp_wall = time.perf_counter() - t0
    mlp_acc = float(mlp.score(X_test, y_test))
    print(f"  MLPClassifier: {mlp.n_iter_} epochs in {mlp_wall:.1f} s, test accuracy "
          f"{mlp_acc:.4f} (load {load_before} before, {load_average()} after)", flush=True)
    d_epoch = disc["wall"] / disc["epochs"]
    d_c = disc["c_time"] / disc["epochs"]
    m_epoch = mlp_wall / max(mlp.n_iter_, 1)
    d_loss = -disc["model"].history_["forward_log_likelihood"][-1]
    print(f"\n### {label}: (b) throughput, DCIM 'discriminative' against scikit-learn's "
          "MLPClassifier (the same network and objective)\n")
    print(f"{X.shape[0]} training rows, {X.shape[1]}-{'-'.join(map(str, args.layers))}-10, "
          f"logistic hidden units, softmax output, Adam (learning rate {args.learning_rate}, "
          f"0.9, 0.999, 1e-8), batch {args.batch_size}, no L2 penalty, {args.epochs} epochs, "
          f"float32, {args.threads} BLAS thread(s).\n")
    print("| implementation | epochs run | fit time (s) | s / epoch (wall) | s / epoch (C epoch) "
          "| ratio s / epoch: MLPClassifier / DCIM | test accuracy | final training loss "
          "(epoch mean -log p(y\\|x)) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| pydbn.DCIM(objective='discriminative') | {disc['epochs']} | {disc['wall']:.1f} "
          f"| {d_epoch:.3f} | {d_c:.3f} | 1.00 | {disc['final']['test_acc']:.4f} "
          f"| {d_loss:.4f} |")
    print(f"| sklearn MLPClassifier(activation='logistic', solver='adam') | {mlp.n_iter_} "
          f"| {mlp_wall:.1f} | {m_epoch:.3f} | - | {m_epoch / d_epoch:.2f} | {mlp_acc:.4f} "
          f"| {mlp.loss_:.4f} |")
    print("\nDCIM wall time: its partial_fit calls (one epoch each, input validation included); "
          "the C epoch is `history_['time']`. MLPClassifier: fit wall time / n_iter_. The two "
          "start from different random weights (Glorot uniform with sqrt(6 / fan sum) against "
          "scikit-learn's sqrt(2 / fan sum) for logistic units) and shuffle differently.")
    return m_epoch / d_epoch


def run(args, name, out_dir, plt):
    data = load(args, name)
    label, X, y, X_test, y_test, _ = data
    arch = f"{X.shape[1]}-{'-'.join(map(str, args.layers))}-{len(np.unique(y))}"
    print(f"## {label}: DCIM {arch}\n")
    print(f"- {len(X)} training / {len(X_test)} test rows, float32, "
          + ("binarized at 0.5" if args.binarize else
             "grey levels / 255 in [0, 1] (the text's Keras setting)"))
    print(f"- every model: {args.epochs} epochs, Adam (learning rate {args.learning_rate}, "
          f"0.9, 0.999, 1e-8), batch {args.batch_size}, no weight decay, random_state "
          f"{args.seed}; objectives {', '.join(args.objectives)}")
    print(f"- evaluation after epoch 1, every {args.eval_every} epochs and the last; "
          f"{args.n_per_class} samples per class and mode\n", flush=True)
    disc = None
    if args.part in ("both", "a"):
        disc = part_a(args, name, data, out_dir, plt)
    ratio = None
    if args.part in ("both", "b"):
        ratio = part_b(args, name, data, disc)
    print(flush=True)
    return ratio


def main(argv=None):
    args = parse_args(argv)
    import pydbn  # loads pydbn's OpenBLAS first, so that --threads reaches it too
    import sklearn
    import threadpoolctl

    limiter = threadpoolctl.threadpool_limits(args.threads)
    out_dir = args.out or tempfile.mkdtemp(prefix="pydbn_dcim_")
    os.makedirs(out_dir, exist_ok=True)
    plt = _pyplot()
    t_start = time.perf_counter()
    print("# pydbn.DCIM: discriminative, bidirectional (Eq. 21) and sampled (Eq. 22) learning "
          "(Flach, Shekhovtsov & Fikar, Sec. 3.1)\n")
    print(f"- CPU: {cpu_model()}, {os.cpu_count()} logical CPUs; pydbn "
          f"{getattr(pydbn, '__version__', '?')}, Python {platform.python_version()}, NumPy "
          f"{np.__version__}, scikit-learn {sklearn.__version__}")
    blas = ", ".join(f"{i.get('internal_api')} {i.get('version')} x{i.get('num_threads')}"
                     for i in threadpoolctl.threadpool_info())
    print(f"- BLAS: {blas} (--threads {args.threads})")
    print(f"- load average at start (1, 5, 15 min): {load_average()} (well above 0 means other "
          "processes share the CPUs: times inflate)")
    print(f"- command line: {' '.join(sys.argv[1:]) if argv is None else ' '.join(argv)} "
          f"(part {args.part}); figures in {out_dir}"
          + ("" if plt is not None else " (no matplotlib: sample grids only)") + "\n",
          flush=True)
    names = ["mnist", "fashion"] if args.dataset == "both" else [args.dataset]
    ratios = {}
    for name in names:
        try:
            ratios[name] = run(args, name, out_dir, plt)
        except FileNotFoundError as exc:
            print(f"{name}: skipped, data not found ({exc})\n", flush=True)
    print(f"total run time {time.perf_counter() - t_start:.1f} s; load average at the end: "
          f"{load_average()}")
    if args.quick:
        print("\n(quick run: far too little training for the figures to mean anything)")
    limiter.restore_original_limits()
    return 0


if __name__ == "__main__":
    sys.exit(main())
