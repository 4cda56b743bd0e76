"""Adversarial DBNs: the experiments of Huang et al., "Deep Adversarial Belief Networks" (text 000).

``pydbn.AdversarialDBN`` trains a DBN generator against a dense discriminator with the
score-function gradient of the text's Eq. 9 (no backpropagation through the DBN). The script
redoes the text's Sec. 3.1 and 3.3 experiments and measures the speed claims, in three parts
(``--part a|b|c``, default all). It prints Markdown tables with every setting, the load average
at the start and the end, and writes PNG figures to ``--out`` (default: a new temporary
folder, printed).

(a) 8x8 digits (Sec. 3.1). The 1797 digits of scikit-learn binarized as the text does
(``data / 16 > 0.5``, ``pydbn.datasets.load_digits_binary``), split 75 / 25 stratified
(``--seed``): the generator trains on the 1347 training digits, the log-likelihood is
estimated on the 450 held-out ones. Generator 64-64-64 (``hidden_layer_sizes=(64, 64)``, the
data layer last), discriminator 64-64-1 (``discriminator_layer_sizes=(64,)``, ReLU), batch 64,
leave-one-out baseline on (pydbn's default). Models:

- GAN: phi = log f, psi = log(1 - f); Adam (beta_1 0.5), generator learning rate 1e-2,
  discriminator 1e-3 (``--gan-lr``, ``--gan-dlr``);
- WGAN: phi = f, psi = -f, RMSprop, 5 critic steps per generator step, weights clipped to
  [-0.01, 0.01] (the text's settings, after Arjovsky et al.); generator learning rate 1e-3,
  critic 5e-5 (WGAN's own critic rate; ``--wgan-lr``, ``--wgan-dlr``);
- conditional GAN: the one-hot label prepended as the generator's first layer and fed to the
  discriminator with the image (the text's Fig. 1 bottom), the GAN's settings. The maintainer
  measured 0.876 for the accuracy below with n_iter=20000, learning_rate=1e-2,
  discriminator_learning_rate=1e-3, baseline=True, batch 64, random_state=0 (learning rate
  3e-2 collapsed);
- the optimizer comparison of the text's Fig. 2 (right): the GAN trained with SGD, RMSprop and
  Adam at the same learning rate for both players (``--opt-lr``, default 1e-3), its loss curves
  in ``optimizers_curves.png``.

Each trains for ``--n-iter`` generator updates (default 20000). For each: the training time,
the text's Sec. 3.3 log-likelihood estimate on the held-out digits (``log_likelihood``: log of
the mean over ``--ll-samples`` forward samples of the penultimate layer of p_L(x | h^{L-1}); in
expectation a lower bound on log p(x)), the same on the training digits, the mean pixel rate of
1000 binary samples against the data's, the mean absolute difference of the per-pixel rates,
the class shares of the samples (a ``LogisticRegression`` trained on the real training digits
labels them; a share near 0 is a missing mode) and the mean discriminator scores of the last
1000 updates. The independent-pixel model with the training marginals is the reference row.
A second table shows how the GAN's held-out estimate grows with the number of forward samples
(it is biased low; compare figures at one number of samples only).
For the conditional model, the ``LogisticRegression``'s accuracy on 100 class-conditional
samples per digit. Figures: sample grids (``*_samples.png``: the probabilities p_L(x | h^{L-1})
the text shows; ``*_binary.png``: binary samples), ``gan_curves.png`` (objectives and scores
over the updates, the text's Fig. 1 top right) and ``optimizers_curves.png``.

(b) spike trains (Sec. 3.3). The text's calcium-imaging data are not public;
``pydbn.datasets.make_spike_trains`` stands in: 50 neurons, about 1 spike per 100 frames (rates
0.005 to 0.015), 5 groups of 10 neurons with pairwise correlation 0.3 within a group through a
latent group event (its docstring has the model), ``--spike-frames`` frames (default 25000; the
last 20% held out). Generator 128-128-128-50 (``hidden_layer_sizes=(128, 128, 128)``),
discriminator 50-64-1, GAN loss; SGD with learning rate 0.1 for both players (``--spike-*``;
in a small sweep Adam at 1e-2 ... 1e-4 drifted further from the data's firing rates). Training
runs in ``--spike-chunks`` chunks of ``--spike-passes`` ``partial_fit`` passes over the
training frames (312 generator updates per pass); after each chunk the script estimates the
held-out log-likelihood (``--ll-samples`` samples), and compares ``--spike-samples`` samples with
the data: the per-neuron firing rates (Pearson correlation, mean absolute error), the mean rate,
the fraction of silent frames and the mean within-group pairwise correlation. Two starts: pydbn's
own initialisation, whose data-layer biases already give every neuron its training firing rate
(the independent model: log-likelihood and rates match the data at step 0), and 'zero', the same
model with the data-layer biases set to 0 (every neuron at rate 0.5, an uninformed start like
the text's, from which the log-likelihood must rise). References: the independent model with the
training rates, and the true generative model (its exact log-likelihood: the best possible).
Figure: ``spike_rates.png`` (per-neuron rates, data against the DBN, as the text's Fig. 3 left;
the log-likelihood over training, Fig. 3 right).

(c) speed and the baseline. Time per training iteration (a generator update with its
``n_critic`` discriminator updates, from ``fit`` wall time over ``--speed-iter`` updates)
against the time per minibatch update of a same-size CD-1 RBM (``pydbn.RBM``, 64 hidden units,
batch 64, on the same training digits; from its C epoch times ``history_['time']`` and from its
``fit`` wall time), in ``--rounds`` rounds in rotated order, medians. Then the variance of the
generator gradient estimate of Eq. 9: ``pydbn._core.adbn_generator_gradient`` (batch 64) called
``--grad-repeats`` times with fresh samples at the trained GAN and WGAN of part (a) (trained here
if (a) did not run), with and without the leave-one-out baseline on the same samples (the same
random stream): the total variance (sum over all generator parameters of the variance across
calls), the ratio without / with, the median per-parameter ratio, and an unbiasedness check
(squared norm of the mean difference of the paired estimates over its expected value if the
baseline adds no bias: about 1).

Threads. ``--threads`` caps every BLAS pool with threadpoolctl (pydbn is imported first so that
its OpenBLAS is among them). The default is 1: the products here are tiny (64 x 64 matrices,
batches of 64 rows), so a second OpenBLAS thread cannot pay for its hand-offs, and on a machine
loaded by other jobs the threads spin-wait for a descheduled partner and each update becomes
many times slower. Pass ``--threads 2`` to measure that.

Run time on 2 idle cores with the defaults: 3-4 minutes (see benchmarks/README.md).
``--quick`` is a smoke run of seconds.
"""

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # benchmarks/_common.py
from _common import cpu_model, load_average  # noqa: E402

MAINTAINER_COND_ACCURACY = 0.876


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--part", choices=["all", "a", "b", "c"], default="all",
                   help="(a) digits, (b) spike trains, (c) speed and baseline variance, or all")
    p.add_argument("--out", default=None,
                   help="folder for the PNG figures (default: a new temporary folder)")
    p.add_argument("--n-iter", type=int, default=20000,
                   help="generator updates of every part (a) model (default 20000)")
    p.add_argument("--batch-size", type=int, default=64, help="minibatch rows (default 64)")
    p.add_argument("--gan-lr", type=float, default=1e-2,
                   help="GAN / conditional GAN generator learning rate (default 1e-2)")
    p.add_argument("--gan-dlr", type=float, default=1e-3,
                   help="GAN / conditional GAN discriminator learning rate (default 1e-3)")
    p.add_argument("--wgan-lr", type=float, default=1e-3,
                   help="WGAN generator learning rate (default 1e-3)")
    p.add_argument("--wgan-dlr", type=float, default=5e-5,
                   help="WGAN critic learning rate (default 5e-5)")
    p.add_argument("--n-critic", type=int, default=5, help="WGAN critic steps (default 5)")
    p.add_argument("--clip", type=float, default=0.01, help="WGAN weight clip (default 0.01)")
    p.add_argument("--opt-lr", type=float, default=1e-3,
                   help="learning rate of both players in the optimizer comparison (1e-3)")
    p.add_argument("--no-baseline", action="store_true",
                   help="train without the leave-one-out baseline (the text's estimator)")
    p.add_argument("--ll-samples", type=int, default=10000,
                   help="forward samples of the log-likelihood estimate (default 10000)")
    p.add_argument("--spike-frames", type=int, default=25000,
                   help="frames of synthetic spike trains, 20%% held out (default 25000)")
    p.add_argument("--spike-optimizer", choices=["sgd", "rmsprop", "adam"], default="sgd",
                   help="optimizer of both players in part (b) (default sgd)")
    p.add_argument("--spike-lr", type=float, default=0.1,
                   help="part (b) generator learning rate (default 0.1)")
    p.add_argument("--spike-dlr", type=float, default=0.1,
                   help="part (b) discriminator learning rate (default 0.1)")
    p.add_argument("--spike-chunks", type=int, default=8,
                   help="part (b): evaluations during training (default 8)")
    p.add_argument("--spike-passes", type=int, default=4,
                   help="part (b): partial_fit passes per chunk (default 4)")
    p.add_argument("--spike-samples", type=int, default=20000,
                   help="part (b): model samples for the firing rates (default 20000)")
    p.add_argument("--spike-starts", default="pydbn,zero",
                   help="part (b) starts, from pydbn,zero (default both)")
    p.add_argument("--speed-iter", type=int, default=3000,
                   help="part (c): generator updates timed per model and round (default 3000)")
    p.add_argument("--rbm-epochs", type=int, default=20,
                   help="part (c): CD-1 RBM epochs timed per round (default 20)")
    p.add_argument("--rounds", type=int, default=3, help="part (c) timing rounds (default 3)")
    p.add_argument("--grad-repeats", type=int, default=500,
                   help="part (c): gradient estimates per baseline setting (default 500)")
    p.add_argument("--threads", type=int, default=1,
                   help="BLAS threads via threadpoolctl (default 1: see the docstring)")
    p.add_argument("--seed", type=int, default=0, help="random_state of models and splits")
    p.add_argument("--verbose", type=int, default=0, help="estimators' verbose level")
    p.add_argument("--quick", action="store_true", help="smoke run: seconds, meaningless figures")
    args = p.parse_args(argv)
    args.spike_starts = [s.strip() for s in args.spike_starts.split(",") if s.strip()]
    if not args.spike_starts or any(s not in ("pydbn", "zero") for s in args.spike_starts):
        p.error("--spike-starts must come from pydbn,zero")
    if args.quick:
        args.n_iter = min(args.n_iter, 300)
        args.ll_samples = min(args.ll_samples, 500)
        args.spike_frames = min(args.spike_frames, 3000)
        args.spike_chunks = min(args.spike_chunks, 2)
        args.spike_passes = 1
        args.spike_samples = min(args.spike_samples, 2000)
        args.speed_iter = min(args.speed_iter, 200)
        args.rbm_epochs = min(args.rbm_epochs, 2)
        args.rounds = 1
        args.grad_repeats = min(args.grad_repeats, 30)
    for name in ("n_iter", "batch_size", "n_critic", "ll_samples", "spike_frames",
                 "spike_chunks", "spike_passes", "spike_samples", "speed_iter", "rbm_epochs",
                 "rounds", "grad_repeats", "threads"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.batch_size < 2:
        p.error("--batch-size must be at least 2 (the baseline needs 2 samples)")
    if args.grad_repeats < 2:
        p.error("--grad-repeats must be at least 2")
    return args


# ---------------------------------------------------------------------------
# environment and small helpers
# ---------------------------------------------------------------------------

def _pm(values, digits=2):
    """'mean +- standard error' of the values."""
    values = np.asarray(values, dtype=float)
    se = values.std(ddof=1) / np.sqrt(values.size) if values.size > 1 else float("nan")
    return f"{values.mean():.{digits}f} +- {se:.{digits}f}"


def _num(value, digits=3):
    return "-" if not np.isfinite(value) else f"{value:.{digits}f}"


def _moving_average(values, window):
    values = np.asarray(values, dtype=float)
    window = max(1, min(window, values.size))
    kernel = np.ones(window) / window
    return np.convolve(values, kernel, mode="valid")


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


def save_grid(path, images, n_cols=10, scale=4):
    """Tile 8x8 images and write them, enlarged `scale` times, as a grayscale PNG."""
    from pydbn.plotting import save_png, tile_images

    mosaic = tile_images(images, shape=(8, 8), n_cols=n_cols, scale_each=False, pad_value=0.5)
    save_png(path, np.kron(mosaic, np.ones((scale, scale))))
    return path


def independent_log_likelihood(X_train, X):
    """log p(x) of each row of X under independent Bernoullis with X_train's marginals."""
    p = np.clip(X_train.mean(axis=0), 1e-3, 1 - 1e-3)
    return X @ np.log(p) + (1 - X) @ np.log1p(-p)


def estimate_log_likelihood(model, X, y=None, n_samples=1000, seed=0):
    """model.log_likelihood over row blocks (the same forward samples for every block: the
    estimator materialises an (n_rows, n_samples) matrix, 400 MB for 5000 rows and 10000
    samples); blocks of at most 1e7 entries (80 MB)."""
    block = max(1, min(1000, int(1e7 // n_samples)))
    out = [model.log_likelihood(X[i:i + block], None if y is None else y[i:i + block],
                                n_samples=n_samples, random_state=seed)
           for i in range(0, X.shape[0], block)]
    return np.concatenate(out)


# ---------------------------------------------------------------------------
# (a) digits
# ---------------------------------------------------------------------------

def digits_split(seed):
    from sklearn.model_selection import train_test_split

    from pydbn.datasets import load_digits_binary

    X, y = load_digits_binary(threshold=0.5)  # data / 16 > 0.5, as the text
    return train_test_split(X, y, test_size=0.25, stratify=y, random_state=seed)


def digits_models(args):
    """name -> (description, AdversarialDBN keyword arguments, conditional)."""
    common = dict(hidden_layer_sizes=(64, 64), discriminator_layer_sizes=(64,),
                  batch_size=args.batch_size, n_iter=args.n_iter,
                  baseline=not args.no_baseline, random_state=args.seed, verbose=args.verbose)
    gan = dict(common, loss="gan", optimizer="adam", learning_rate=args.gan_lr,
               discriminator_learning_rate=args.gan_dlr)
    models = {
        "GAN": ("GAN", gan, False),
        "WGAN": ("WGAN", dict(common, loss="wgan", optimizer="rmsprop", n_critic=args.n_critic,
                              clip=args.clip, learning_rate=args.wgan_lr,
                              discriminator_learning_rate=args.wgan_dlr), False),
        "conditional GAN": ("conditional GAN", gan, True),
    }
    for opt in ("sgd", "rmsprop", "adam"):
        name = f"GAN {opt} lr {args.opt_lr:g}"
        models[name] = (name, dict(common, loss="gan", optimizer=opt, learning_rate=args.opt_lr,
                                   discriminator_learning_rate=args.opt_lr), False)
    return models


def part_a(args, out_dir):
    import pydbn
    from sklearn.linear_model import LogisticRegression

    X_train, X_test, y_train, y_test = digits_split(args.seed)
    print("## (a) 8x8 digits: GAN, WGAN, conditional GAN, optimizers (text Sec. 3.1)\n")
    print(f"- data: scikit-learn's 8x8 digits, `data / 16 > 0.5`; {len(X_train)} training / "
          f"{len(X_test)} held-out digits (stratified split, seed {args.seed}); float64")
    print(f"- generator 64-64-64 (`hidden_layer_sizes=(64, 64)`; conditional: 10-64-64-64), "
          f"discriminator 64-64-1 (conditional: 74-64-1), ReLU; batch {args.batch_size}; "
          f"{args.n_iter} generator updates each; baseline "
          f"{'off' if args.no_baseline else 'on (leave-one-out)'}; random_state {args.seed}")
    print(f"- log-likelihood: `log_likelihood(n_samples={args.ll_samples})` (text Sec. 3.3; "
          "mean over rows +- standard error over rows, nats per digit), the same forward "
          "samples for every row")
    clf = LogisticRegression(max_iter=5000).fit(X_train, y_train)
    clf_acc = clf.score(X_test, y_test)
    print(f"- classifier for the class shares and the conditional accuracy: "
          f"`LogisticRegression(max_iter=5000)` on the real training digits, held-out accuracy "
          f"{clf_acc:.3f}\n", flush=True)

    models = digits_models(args)
    rows, fitted = [], {}
    save_grid(os.path.join(out_dir, "data.png"), X_train[:100])
    for key, (name, kwargs, conditional) in models.items():
        model = pydbn.AdversarialDBN(**kwargs)
        t0 = time.perf_counter()
        model.fit(X_train, y_train if conditional else None)
        fit_time = time.perf_counter() - t0
        fitted[key] = model
        if conditional:
            labels = np.repeat(np.arange(10), 100)
            samples = model.sample(len(labels), y=labels, random_state=args.seed + 1)
            probs = model.sample(len(labels), y=labels, return_probabilities=True,
                                 random_state=args.seed + 1)
            ll_test = estimate_log_likelihood(model, X_test, y_test, args.ll_samples, args.seed)
            ll_train = estimate_log_likelihood(model, X_train, y_train, args.ll_samples,
                                               args.seed)
        else:
            labels = None
            samples = model.sample(1000, random_state=args.seed + 1)
            probs = model.sample(1000, return_probabilities=True, random_state=args.seed + 1)
            ll_test = estimate_log_likelihood(model, X_test, None, args.ll_samples, args.seed)
            ll_train = estimate_log_likelihood(model, X_train, None, args.ll_samples, args.seed)
        predicted = clf.predict(samples)
        shares = np.bincount(predicted, minlength=10) / len(predicted)
        accuracy = float(np.mean(predicted == labels)) if conditional else None
        accuracy_probs = (float(np.mean(clf.predict(probs) == labels)) if conditional else None)
        h = model.history_
        tail = slice(-min(1000, len(h["real_score"])), None)
        slug = key.lower().replace(" ", "_").replace(".", "")
        if conditional:
            order = np.concatenate([np.arange(d * 100, d * 100 + 10) for d in range(10)])
            save_grid(os.path.join(out_dir, f"{slug}_samples.png"), probs[order])
            save_grid(os.path.join(out_dir, f"{slug}_binary.png"), samples[order])
        else:
            save_grid(os.path.join(out_dir, f"{slug}_samples.png"), probs[:100])
            save_grid(os.path.join(out_dir, f"{slug}_binary.png"), samples[:100])
        row = dict(name=name, kwargs=kwargs, conditional=conditional, fit_time=fit_time,
                   ll_test=ll_test, ll_train=ll_train, rate=float(samples.mean()),
                   pixel_mae=float(np.abs(samples.mean(0) - X_train.mean(0)).mean()),
                   shares=shares, accuracy=accuracy, accuracy_probs=accuracy_probs,
                   real=float(np.mean(h["real_score"][tail])),
                   fake=float(np.mean(h["fake_score"][tail])))
        rows.append(row)
        print(f"{name}: fit {fit_time:.1f} s, held-out log-likelihood {_pm(ll_test)}, sample "
              f"pixel rate {row['rate']:.3f}"
              + (f", conditional accuracy {accuracy:.3f}" if conditional else
                 f", class shares {shares.min():.3f}-{shares.max():.3f}"), flush=True)

    ind_test = independent_log_likelihood(X_train, X_test)
    ind_train = independent_log_likelihood(X_train, X_train)
    print(f"\n### Digits: training time, held-out log-likelihood, samples ({args.n_iter} "
          "updates each)\n")
    print("| model | loss | optimizer | lr generator / discriminator | n_critic | train time (s) "
          "| ms / update | held-out log-lik (nats) | training log-lik (nats) "
          "| sample pixel rate | data pixel rate | mean abs pixel-rate diff "
          "| class shares (min-max) | real score | fake score |")
    print("|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|")
    data_rate = float(X_train.mean())
    for r in rows:
        kw = r["kwargs"]
        print(f"| {r['name']} | {kw['loss']} | {kw['optimizer']} "
              f"| {kw['learning_rate']:g} / {kw['discriminator_learning_rate']:g} "
              f"| {kw.get('n_critic', 1)} | {r['fit_time']:.1f} "
              f"| {1e3 * r['fit_time'] / args.n_iter:.3f} | {_pm(r['ll_test'])} "
              f"| {_pm(r['ll_train'])} | {r['rate']:.3f} | {data_rate:.3f} "
              f"| {r['pixel_mae']:.3f} | {r['shares'].min():.3f}-{r['shares'].max():.3f} "
              f"| {r['real']:.3f} | {r['fake']:.3f} |")
    print(f"| reference: independent pixels (training marginals) | - | - | - | - | - | - "
          f"| {_pm(ind_test)} | {_pm(ind_train)} | {data_rate:.3f} | {data_rate:.3f} | 0 "
          "| - | - | - |")
    print("\nLog-likelihoods of the conditional model are log p(x | y) (given the true label). "
          "Class shares: the fraction of 1000 unconditional samples (100 per digit for the "
          "conditional model) that the classifier puts in its rarest and its commonest class; "
          "0.1 each for a model that covers every digit evenly, near 0 for a lost mode. Real / "
          "fake score: mean discriminator output f on real and generated rows over the last "
          "1000 updates (GAN: probabilities; WGAN: the critic's value).")

    sizes = sorted({max(1, args.ll_samples // 10), args.ll_samples, 5 * args.ll_samples})
    print(f"\n### The Sec. 3.3 estimate against its number of forward samples (GAN, "
          f"{len(X_test)} held-out digits)\n")
    print("| forward samples | held-out log-lik (nats), seed 0 | seed 1 | time (s) |")
    print("|---:|---:|---:|---:|")
    for n_samples in sizes:
        t0 = time.perf_counter()
        a = estimate_log_likelihood(fitted["GAN"], X_test, None, n_samples, 0)
        b = estimate_log_likelihood(fitted["GAN"], X_test, None, n_samples, 1)
        print(f"| {n_samples} | {a.mean():.2f} | {b.mean():.2f} "
              f"| {(time.perf_counter() - t0) / 2:.1f} |")
    print("\nThe estimate is the log of a Monte Carlo mean: its expectation lies below log p(x) "
          "and rises towards it with the number of samples, so only figures with the same "
          "number of samples compare (`score` uses 1000).")

    cond = next(r for r in rows if r["conditional"])
    print("\n### Conditional GAN: class-conditional samples judged by a classifier of real "
          "digits\n")
    print("| samples | accuracy of the classifier | maintainer's figure |")
    print("|---|---:|---:|")
    print(f"| binary samples, 100 per digit | {cond['accuracy']:.3f} "
          f"| {MAINTAINER_COND_ACCURACY} |")
    print(f"| probabilities p_L(x given h), 100 per digit | {cond['accuracy_probs']:.3f} | - |")
    print(f"| real held-out digits (the classifier's own accuracy) | {clf_acc:.3f} | - |")
    print(f"\nThe maintainer's {MAINTAINER_COND_ACCURACY} was measured with n_iter=20000, "
          "learning_rate=1e-2, discriminator_learning_rate=1e-3, baseline=True, batch 64, "
          "random_state=0 (learning rate 3e-2 collapsed); this run: "
          f"n_iter={args.n_iter}, learning_rate={args.gan_lr:g}, "
          f"discriminator_learning_rate={args.gan_dlr:g}, baseline={not args.no_baseline}, "
          f"batch {args.batch_size}, random_state={args.seed}.")

    figures = plot_digit_curves(args, rows, fitted, out_dir)
    print("\nFigures: " + ", ".join(sorted(
        f for f in os.listdir(out_dir) if f.endswith(".png") and not f.startswith("spike")))
        + f" in {out_dir}" + ("" if figures else " (curves skipped: matplotlib missing)"))
    print(flush=True)
    return fitted, (X_train, X_test, y_train, y_test)


def plot_digit_curves(args, rows, fitted, out_dir):
    plt = _pyplot()
    if plt is None:
        return False
    window = max(1, min(200, args.n_iter // 20))
    gan = fitted["GAN"].history_
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    x = np.arange(window, len(gan["real_score"]) + 1)
    axes[0].plot(x, _moving_average(gan["discriminator_objective"], window),
                 label="discriminator objective E log f(X) + E log(1 - f(Y))")
    axes[0].plot(x, _moving_average(gan["generator_objective"], window),
                 label="generator objective E log(1 - f(Y))")
    axes[0].set(xlabel="generator update", ylabel="objective (nats)",
                title=f"GAN on digits (moving average of {window})")
    axes[0].legend(fontsize=7)
    axes[1].plot(x, _moving_average(gan["real_score"], window), label="real f(X)")
    axes[1].plot(x, _moving_average(gan["fake_score"], window), label="generated f(Y)")
    axes[1].set(xlabel="generator update", ylabel="discriminator score", ylim=(0, 1),
                title="discriminator scores")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "gan_curves.png"), dpi=100)
    plt.close(fig)

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    for r in rows:
        if not r["name"].startswith("GAN ") or r["name"] == "GAN":
            continue
        h = fitted[r["name"]].history_
        x = np.arange(window, len(h["discriminator_objective"]) + 1)
        label = r["kwargs"]["optimizer"]
        axes[0].plot(x, _moving_average(h["discriminator_objective"], window), label=label)
        axes[1].plot(x, _moving_average(h["generator_objective"], window), label=label)
    axes[0].set(xlabel="generator update", ylabel="E log f(X) + E log(1 - f(Y))",
                title=f"discriminator objective, lr {args.opt_lr:g} (moving average {window})")
    axes[1].set(xlabel="generator update", ylabel="E log(1 - f(Y))",
                title="generator objective")
    for ax in axes:
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "optimizers_curves.png"), dpi=100)
    plt.close(fig)
    return True


# ---------------------------------------------------------------------------
# (b) spike trains
# ---------------------------------------------------------------------------

def true_log_likelihood(X, params):
    """Exact log p(x) of each row under make_spike_trains' model (see its docstring)."""
    q, groups = params["event_rate"], params["groups"]
    out = np.zeros(X.shape[0])
    for g in np.unique(groups):
        m = groups == g
        x = X[:, m]
        on = x @ np.log(params["p_on"][m]) + (1 - x) @ np.log1p(-params["p_on"][m])
        with np.errstate(divide="ignore"):
            off = x @ np.log(params["p_off"][m]) + (1 - x) @ np.log1p(-params["p_off"][m])
        if q > 0:
            out += np.logaddexp(np.log(q) + on, np.log1p(-q) + off)
        else:
            out += off
    return out


def within_group_correlation(X, groups):
    """Mean Pearson correlation over pairs of distinct neurons of the same group (pairs with a
    silent neuron left out)."""
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        C = np.corrcoef(X.T)
    same = (groups[:, None] == groups[None, :]) & ~np.eye(len(groups), dtype=bool)
    values = C[same]
    values = values[np.isfinite(values)]
    return float(values.mean()) if values.size else float("nan")


def spike_stats(model, X_train, X_test, params, args, seed):
    ll = estimate_log_likelihood(model, X_test, None, args.ll_samples, seed)
    samples = model.sample(args.spike_samples, random_state=seed + 1)
    rates, data = samples.mean(axis=0), X_train.mean(axis=0)
    with np.errstate(invalid="ignore"):
        corr = (float(np.corrcoef(rates, data)[0, 1]) if rates.std() > 0 else float("nan"))
    h = model.history_
    n = len(h["real_score"])
    tail = slice(-min(300, n), None) if n else None
    return dict(ll=ll, rates=rates, corr=corr, mae=float(np.abs(rates - data).mean()),
                mean_rate=float(samples.mean()),
                silent=float(np.mean(samples.sum(axis=1) == 0)),
                within=within_group_correlation(samples, params["groups"]),
                real=float(np.mean(h["real_score"][tail])) if n else float("nan"),
                fake=float(np.mean(h["fake_score"][tail])) if n else float("nan"))


def part_b(args, out_dir):
    import pydbn
    from pydbn.datasets import make_spike_trains

    X, params = make_spike_trains(n_frames=args.spike_frames, n_neurons=50, rate=0.01,
                                  n_groups=5, group_correlation=0.3, random_state=args.seed,
                                  return_params=True)
    n_train = int(round(0.8 * len(X)))
    X_train, X_test = X[:n_train], X[n_train:]
    groups = params["groups"]
    per_pass = max(1, n_train // args.batch_size)
    print("## (b) Spike trains: firing rates and held-out log-likelihood (text Sec. 3.3)\n")
    print(f"- data: `make_spike_trains(n_frames={args.spike_frames}, n_neurons=50, rate=0.01, "
          f"n_groups=5, group_correlation=0.3, random_state={args.seed})` (the text's recordings "
          f"are not public): {n_train} training / {len(X_test)} held-out frames; "
          f"{X_train.mean():.4f} spikes per neuron and frame in the training frames, rates "
          f"{params['rates'].min():.4f}-{params['rates'].max():.4f}, group event rate "
          f"{params['event_rate']:.4f}")
    print(f"- generator 128-128-128-50 (`hidden_layer_sizes=(128, 128, 128)`), discriminator "
          f"50-64-1; GAN loss, {args.spike_optimizer} for both players, learning rate "
          f"{args.spike_lr:g} / {args.spike_dlr:g}, batch {args.batch_size}, baseline "
          f"{'off' if args.no_baseline else 'on'}; {args.spike_chunks} chunks of "
          f"{args.spike_passes} `partial_fit` passes ({per_pass} updates each)")
    print(f"- after each chunk: held-out log-likelihood (`log_likelihood(n_samples="
          f"{args.ll_samples})`, nats per frame, +- standard error over frames) and "
          f"{args.spike_samples} samples against the training frames")
    print("- starts: 'pydbn' = the estimator's initialisation (data-layer biases at the "
          "training firing rates: the independent model); 'zero' = the same with the data-layer "
          "biases set to 0 (every neuron at rate 0.5)\n", flush=True)

    ind = independent_log_likelihood(X_train, X_test)
    true = true_log_likelihood(X_test, params)
    data_within = within_group_correlation(X_train, groups)
    data_silent = float(np.mean(X_train.sum(axis=1) == 0))
    heldout_rates = X_test.mean(axis=0)
    data_rates = X_train.mean(axis=0)
    noise_corr = float(np.corrcoef(heldout_rates, data_rates)[0, 1])
    noise_mae = float(np.abs(heldout_rates - data_rates).mean())

    results = {}
    for start in args.spike_starts:
        model = pydbn.AdversarialDBN(
            hidden_layer_sizes=(128, 128, 128), discriminator_layer_sizes=(64,), loss="gan",
            optimizer=args.spike_optimizer, learning_rate=args.spike_lr,
            discriminator_learning_rate=args.spike_dlr, batch_size=args.batch_size,
            baseline=not args.no_baseline, n_iter=0, random_state=args.seed,
            verbose=args.verbose)
        model.fit(X_train)  # initialisation only (n_iter=0)
        if start == "zero":
            model.intercepts_[-1][...] = 0.0
        table = [(0, 0.0, spike_stats(model, X_train, X_test, params, args, args.seed))]
        train_time = 0.0
        for chunk in range(args.spike_chunks):
            t0 = time.perf_counter()
            for _ in range(args.spike_passes):
                model.partial_fit(X_train)
            train_time += time.perf_counter() - t0
            table.append((model.n_iter_, train_time,
                          spike_stats(model, X_train, X_test, params, args, args.seed)))
            s = table[-1][2]
            print(f"start {start}: {model.n_iter_} updates, {train_time:.1f} s, held-out "
                  f"log-likelihood {_pm(s['ll'], 3)}, rate correlation {s['corr']:.3f}",
                  flush=True)
        results[start] = table

    for start, table in results.items():
        print(f"\n### Spike trains, start '{start}': held-out log-likelihood during training\n")
        print("| updates | train time (s) | held-out log-lik (nats / frame) "
              "| minus independent model | rate correlation | rate MAE | mean rate "
              "| silent frames | within-group correlation | real score | fake score |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for n_updates, train_time, s in table:
            print(f"| {n_updates} | {train_time:.1f} | {_pm(s['ll'], 3)} "
                  f"| {s['ll'].mean() - ind.mean():+.3f} | {s['corr']:.3f} | {s['mae']:.4f} "
                  f"| {s['mean_rate']:.4f} | {s['silent']:.3f} | {s['within']:.3f} "
                  f"| {_num(s['real'])} | {_num(s['fake'])} |")
        first, last = table[0][2]["ll"].mean(), table[-1][2]["ll"].mean()
        best = max(t[2]["ll"].mean() for t in table)
        print(f"\nHeld-out log-likelihood from {first:.3f} to {last:.3f} nats / frame "
              f"(best {best:.3f}): {'rose' if last > first else 'did not rise'} during training.")

    print("\n### Spike trains: references\n")
    print("| model | held-out log-lik (nats / frame) | rate correlation | rate MAE | mean rate "
          "| silent frames | within-group correlation |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    print(f"| true generative model | {_pm(true, 3)} | - | - | {params['rates'].mean():.4f} "
          "| - | 0.300 |")
    print(f"| independent neurons at the training rates | {_pm(ind, 3)} | 1 | 0 "
          f"| {data_rates.mean():.4f} | {float(np.prod(1 - data_rates)):.3f} | 0 |")
    print(f"| held-out frames against the training frames (sampling noise) | - "
          f"| {noise_corr:.3f} | {noise_mae:.4f} | {heldout_rates.mean():.4f} "
          f"| {float(np.mean(X_test.sum(axis=1) == 0)):.3f} "
          f"| {within_group_correlation(X_test, groups):.3f} |")
    print(f"| training frames | - | - | - | {data_rates.mean():.4f} | {data_silent:.3f} "
          f"| {data_within:.3f} |")
    print("\nRate correlation / MAE: per-neuron firing rates of the samples against those of "
          "the training frames (Pearson correlation, mean absolute error); the 'sampling noise' "
          "row compares two data sets of the true model. The true model's log-likelihood is the "
          "best any model can reach; the gap from the independent model to it is what the "
          "within-group correlations are worth.")

    if plot_spikes(args, results, data_rates, ind.mean(), true.mean(), out_dir):
        print(f"\nFigure: spike_rates.png in {out_dir}")
    else:
        print("\n(spike_rates.png skipped: matplotlib missing)")
    print(flush=True)
    return results


def plot_spikes(args, results, data_rates, ind_ll, true_ll, out_dir):
    plt = _pyplot()
    if plt is None:
        return False
    fig, axes = plt.subplots(1, 3, figsize=(15, 3.6))
    idx = np.arange(len(data_rates))
    axes[0].bar(idx, data_rates, width=0.8, color="0.7", label="data (training frames)")
    for k, (start, table) in enumerate(results.items()):
        axes[0].plot(idx, table[-1][2]["rates"], "o", ms=3, color=f"C{k}",
                     label=f"DBN, start '{start}'")
        x = [t[0] for t in table]
        for ax in axes[1:]:
            ax.plot(x, [t[2]["ll"].mean() for t in table], marker="o", ms=3, color=f"C{k}",
                    label=f"DBN, start '{start}'")
    axes[0].set(xlabel="neuron", ylabel="firing probability per frame",
                title="firing rates after training")
    axes[0].legend(fontsize=7)
    for ax in axes[1:]:
        ax.axhline(ind_ll, color="0.5", ls="--", label="independent neurons")
        ax.axhline(true_ll, color="k", ls=":", label="true model")
        ax.set(xlabel="generator update", ylabel="held-out log-likelihood (nats / frame)")
    axes[1].set_title("log-likelihood during training")
    axes[2].set_ylim(ind_ll - 0.4, true_ll + 0.2)
    axes[2].set_title("the same, near the references")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "spike_rates.png"), dpi=100)
    plt.close(fig)
    return True


# ---------------------------------------------------------------------------
# (c) speed and the baseline
# ---------------------------------------------------------------------------

def time_adbn(kwargs, X, y, n_iter):
    import pydbn

    model = pydbn.AdversarialDBN(**dict(kwargs, n_iter=n_iter, verbose=0))
    t0 = time.perf_counter()
    model.fit(X, y)
    return (time.perf_counter() - t0) / n_iter


def time_rbm(X, epochs, batch_size, seed):
    """(C epoch time per minibatch, fit wall time per minibatch) of a CD-1 RBM, 64 hidden."""
    import pydbn

    rbm = pydbn.RBM(n_components=64, method="cd", k=1, learning_rate=0.05,
                    batch_size=batch_size, n_iter=epochs, random_state=seed)
    t0 = time.perf_counter()
    rbm.fit(X)
    wall = time.perf_counter() - t0
    n_batches = epochs * -(-X.shape[0] // batch_size)
    return sum(rbm.history_["time"]) / n_batches, wall / n_batches


def gradient_estimates(model, n, repeats, baseline, seed):
    """(repeats, n_params) matrix of Eq. 9 estimates, each from n fresh generator samples; the
    same (seed, epoch) streams for either baseline setting, so the samples are shared."""
    from pydbn import _core
    from pydbn.adbn import _LOSS

    gen, dis = model._generator(), model._discriminator()
    gw = [np.empty_like(w) for w in model.components_]
    gb = [np.empty_like(b) for b in model.intercepts_]
    out = np.empty((repeats, sum(a.size for a in gw + gb)))
    t0 = time.perf_counter()
    for k in range(repeats):
        _core.adbn_generator_gradient(gen, dis, _LOSS[model.loss], n, baseline, None, seed, k,
                                      gw, gb, True)
        out[k] = np.concatenate([a.ravel() for a in gw + gb])
    return out, (time.perf_counter() - t0) / repeats


def part_c(args, out_dir, fitted=None, split=None):
    import pydbn

    X_train, _, y_train, _ = split if split is not None else digits_split(args.seed)
    models = digits_models(args)
    print("## (c) Speed per training iteration, and the baseline's effect on the gradient "
          "variance\n")
    print(f"- data: the {len(X_train)} training digits of part (a); batch {args.batch_size}; "
          f"{args.speed_iter} generator updates timed per model and round (`fit` wall time / "
          f"updates); RBM: `pydbn.RBM(n_components=64, method='cd', k=1)`, {args.rbm_epochs} "
          f"epochs per round, time per minibatch update from its C epoch times and from its "
          f"`fit` wall time; {args.rounds} round(s) in rotated order, medians\n", flush=True)

    spike_X = None
    jobs = {
        "RBM 64-64 CD-1 (minibatch update)": ("rbm", None),
        "AdversarialDBN GAN 64-64-64, n_critic 1": ("adbn", ("GAN", False)),
        f"AdversarialDBN WGAN 64-64-64, n_critic {args.n_critic}": ("adbn", ("WGAN", False)),
        "AdversarialDBN conditional GAN 10-64-64-64": ("adbn", ("conditional GAN", True)),
        "AdversarialDBN GAN 128-128-128-50 (spike trains)": ("spike", None),
    }
    names = list(jobs)
    times = {n: [] for n in names}
    rbm_wall = []
    for r in range(args.rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            kind, spec = jobs[name]
            if kind == "rbm":
                c_time, wall = time_rbm(X_train, args.rbm_epochs, args.batch_size, args.seed)
                times[name].append(c_time)
                rbm_wall.append(wall)
            elif kind == "adbn":
                key, conditional = spec
                times[name].append(time_adbn(models[key][1], X_train,
                                             y_train if conditional else None, args.speed_iter))
            else:
                if spike_X is None:
                    from pydbn.datasets import make_spike_trains

                    spike_X = make_spike_trains(n_frames=5000, random_state=args.seed)
                kwargs = dict(models["GAN"][1], hidden_layer_sizes=(128, 128, 128))
                times[name].append(time_adbn(kwargs, spike_X, None, args.speed_iter))
        print(f"round {r + 1}: load average {load_average()}", flush=True)

    rbm = statistics.median(times[names[0]])
    rbm_w = statistics.median(rbm_wall)
    print("\n### Time per training iteration against a CD-1 RBM minibatch update\n")
    print("| model | ms per iteration (median) | min | max | ratio to the RBM's C update "
          "| ratio to the RBM's fit-wall update |")
    print("|---|---:|---:|---:|---:|---:|")
    for name in names:
        t = times[name]
        med = statistics.median(t)
        print(f"| {name} | {1e3 * med:.3f} | {1e3 * min(t):.3f} | {1e3 * max(t):.3f} "
              f"| {med / rbm:.2f} | {med / rbm_w:.2f} |")
    print(f"\nThe RBM row is its C epoch time per minibatch; per minibatch from its `fit` wall "
          f"time: {1e3 * rbm_w:.3f} ms. An AdversarialDBN iteration is `n_critic` "
          "discriminator steps (forward and backward passes on a real and a generated minibatch) "
          "plus one generator step (forward sampling, the discriminator's scores, the "
          "layer-local score-function gradient) and the optimizer updates; the AdversarialDBN "
          "times are `fit` wall times (the estimator calls the core in chunks of 100 updates).")

    # ---- gradient variance with and without the baseline
    if fitted is None:
        fitted = {}
    print(f"\n### Variance of the generator gradient estimate (Eq. 9), batch {args.batch_size}, "
          f"{args.grad_repeats} estimates per setting\n")
    rows = []
    for key in ("GAN", "WGAN"):
        model = fitted.get(key)
        trained_here = model is None
        if model is None:
            model = pydbn.AdversarialDBN(**models[key][1]).fit(X_train)
        g0, t0 = gradient_estimates(model, args.batch_size, args.grad_repeats, False,
                                    args.seed + 7)
        g1, t1 = gradient_estimates(model, args.batch_size, args.grad_repeats, True,
                                    args.seed + 7)
        var0, var1 = g0.var(axis=0, ddof=1), g1.var(axis=0, ddof=1)
        diff = g0 - g1
        expected = diff.var(axis=0, ddof=1).sum() / args.grad_repeats
        bias_ratio = float((diff.mean(axis=0) ** 2).sum() / expected) if expected > 0 else \
            float("nan")
        keep = var1 > 0
        rows.append((key, model.n_iter_, trained_here, var0.sum(), var1.sum(),
                     float(np.median(var0[keep] / var1[keep])),
                     float((g1.mean(axis=0) ** 2).sum()), bias_ratio, t0, t1))
    print("| model | updates trained | total variance, no baseline | total variance, baseline "
          "| ratio no baseline / baseline | median per-parameter ratio "
          "| squared norm of the mean gradient | unbiasedness check (about 1) "
          "| us per estimate, no baseline | us per estimate, baseline |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for key, n_iter, here, v0, v1, med, norm2, bias, t0, t1 in rows:
        print(f"| {key}{' (trained here)' if here else ' (part a)'} | {n_iter} | {v0:.4g} "
              f"| {v1:.4g} | {v0 / v1:.1f} | {med:.1f} | {norm2:.4g} | {bias:.2f} "
              f"| {1e6 * t0:.0f} | {1e6 * t1:.0f} |")
    print("\nTotal variance: the sum over the generator's parameters of the variance of the "
          "estimate across calls (the trace of its covariance), each call drawing fresh "
          "samples; both settings see the same samples. The unbiasedness check is the squared "
          "norm of the mean difference of the paired estimates divided by its expected value "
          "when the baseline adds no bias (trace of the difference's covariance / number of "
          "estimates): about 1 (chi-square-like spread) for an unbiased baseline, far above 1 "
          "for a biased one.")
    print(flush=True)


def main(argv=None):
    args = parse_args(argv)
    import threadpoolctl

    import pydbn  # loads pydbn's OpenBLAS first, so that --threads reaches it too

    limiter = threadpoolctl.threadpool_limits(args.threads)
    out_dir = args.out or tempfile.mkdtemp(prefix="pydbn_adbn_")
    os.makedirs(out_dir, exist_ok=True)
    t_start = time.perf_counter()
    print("# Adversarial DBNs: the experiments of Huang et al., 'Deep Adversarial Belief "
          "Networks'\n")
    import sklearn

    print(f"- CPU: {cpu_model()}, {os.cpu_count()} logical CPUs; pydbn "
          f"{getattr(pydbn, '__version__', '?')}, Python {platform.python_version()}, NumPy "
          f"{np.__version__}, scikit-learn {sklearn.__version__}")
    blas = ", ".join(f"{i.get('internal_api')} {i.get('version')} x{i.get('num_threads')}"
                     for i in threadpoolctl.threadpool_info())
    print(f"- BLAS: {blas} (--threads {args.threads}; 1 by default: the products are 64 wide, "
          "and a second OpenBLAS thread only adds hand-offs, badly so on a loaded machine)")
    print(f"- load average at start (1, 5, 15 min): {load_average()} (well above 0 means other "
          "processes share the CPUs: times inflate)")
    print(f"- command line: {' '.join(sys.argv[1:]) if argv is None else ' '.join(argv)} "
          f"(part {args.part}, seed {args.seed}); figures in {out_dir}\n", flush=True)
    fitted, split = None, None
    if args.part in ("all", "a"):
        fitted, split = part_a(args, out_dir)
    if args.part in ("all", "b"):
        part_b(args, out_dir)
    if args.part in ("all", "c"):
        part_c(args, out_dir, fitted, split)
    print(f"total run time {time.perf_counter() - t_start:.1f} s; load average at the end: "
          f"{load_average()}")
    if args.quick:
        print("\n(quick run: far too little training for the figures to mean anything)")
    limiter.restore_original_limits()
    return 0


if __name__ == "__main__":
    sys.exit(main())
