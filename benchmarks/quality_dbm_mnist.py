"""Quality of pydbn.DBM: test log-likelihood bound and feature quality, MNIST and Fashion-MNIST.

Follows the protocol of R. Salakhutdinov and G. Hinton, "Deep Boltzmann
machines", AISTATS 2009, for their two-layer DBM on MNIST, with far less
compute; epochs and sampler settings are options and the script prints what
was actually run.

For each data set (``--dataset mnist``, ``fashion`` or ``both``, the default):

1. data: binarized MNIST, the fixed binarization of Larochelle & Murray
   (``pydbn.datasets.load_mnist(binarized=True)``; ``train`` + ``valid`` =
   60000 training rows as in S&H, 10000 ``test`` rows); Fashion-MNIST
   (``load_fashion_mnist``) binarized at 0.5, 60000 / 10000 rows. float32.
2. model: ``pydbn.DBM(hidden_layer_sizes=(500, 1000))`` - S&H's 784-500-1000
   network - with greedy pre-training (``pretrain=True``: RBMs with the
   weight-doubling correction of S&H, ``--pretrain-epochs`` epochs each, PCD-1,
   learning rate 0.05; default 20 epochs) and then ``--epochs`` (default 12)
   epochs of joint training (variational SML: mean-field positive phase, 100
   persistent chains advanced by k = 5 block-Gibbs sweeps per update;
   learning rate 0.005 decaying as 0.005 / (1 + 0.2 * epoch), momentum 0.5,
   weight decay 2e-4). During training the mean field runs at most
   ``--train-mean-field`` (10) sweeps per minibatch, to save time; for the
   evaluation it runs to tolerance 1e-4 or ``--eval-mean-field`` (30) sweeps.
   On 20000 rows, 15 pre-training epochs instead of 5 improved the final bound
   by about 10 nats, and learning rates 0.002 and 0.005 did about equally well.
3. training time: the wall time of ``fit``, split into the pre-training
   RBMs' C epochs (``rbms_[i].history_['time']``), the joint epochs
   (``history_['time']``, with their mean-field / Gibbs split) and the rest
   (propagating the data between the pre-training layers, the per-epoch
   reconstruction error, validation).
4. log Z by annealed importance sampling (``dbm.log_partition('ais',
   n_chains=100, n_betas=14500, return_std=True)``: S&H's AIS for DBMs, the
   odd layer summed out, from a base model with the training marginals on v),
   with its standard error;
5. the mean-field variational lower bound on log p(v) of every test row
   (``dbm.lower_bound(X_test, log_z=log_z)``): mean, standard error of the mean
   over the rows, and the AIS standard error of log Z that shifts every row
   alike; the same bound on ``--n-train-eval`` training rows shows
   over-fitting. A certified lower bound on log Z, computed without sampling
   from the scored rows, checks the AIS estimate. pydbn's AIS pools two runs
   (the even layers annealed with the odd ones summed out, and the reverse)
   from a base model with data-informed rates on every layer; with uniform
   hidden base rates, the chains of a trained 784-500-1000 DBM settled in a
   basin with h1 all off and underestimated log Z by ~150 nats with a tiny
   standard error. S&H 2009 report -84.62
   nats for this bound on MNIST after far longer pre-training and joint
   training on 60000 rows (learning rate 0.005 decreased gradually to 0) than
   the default here.
6. features: ``LogisticRegression`` on the DBM's mean-field posteriors
   (``transform_layers='all'``, both hidden layers concatenated; ``--features
   top`` for h2 only) against ``LogisticRegression`` on the pixels, test error
   of each. The binarized MNIST ships without labels (and its training rows
   are not in MNIST order), so for MNIST the classifier is trained and tested
   on the labelled MNIST IDX images, grey levels / 255 fed to the DBM's mean
   field as Bernoulli probabilities (the same images the fixed binarization
   was sampled from); for Fashion-MNIST it uses the binarized images the DBM
   was trained on. S&H's 0.95% MNIST error comes from discriminative
   fine-tuning of the whole network, which pydbn does not do; it is printed
   for context only.

Fashion-MNIST has no published DBM figure; this script's output is the
reference for it.

Default run time: about 25-35 minutes for both data sets on 2 otherwise idle
cores (per data set: pre-training about 2 min, joint epochs about 6-8 min,
AIS about 2 min, bound and features 1-2 min). ``--quick`` is a smoke run (1000
rows, 1 epoch, short AIS) that finishes in well under a minute.
"""

import argparse
import os
import platform
import sys
import time
import warnings

import numpy as np

SH_2009_BOUND = "-84.62"
SH_2009_ERROR = "0.95% (discriminative fine-tuning)"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", choices=["both", "mnist", "fashion"], default="both",
                   help="binarized MNIST, Fashion-MNIST binarized at 0.5, or both (default)")
    p.add_argument("--mnist-data", default=None, help="MNIST folder (default: pydbn.datasets')")
    p.add_argument("--fashion-data", default=None,
                   help="Fashion-MNIST folder (default: pydbn.datasets')")
    p.add_argument("--layers", default="500,1000", help="hidden layer sizes (default 500,1000)")
    p.add_argument("--n-train", type=int, default=None,
                   help="training rows (default all 60000)")
    p.add_argument("--n-test", type=int, default=None, help="test rows (default all 10000)")
    p.add_argument("--pretrain-epochs", type=int, default=20,
                   help="epochs of each pre-training RBM (default 20)")
    p.add_argument("--pretrain-learning-rate", type=float, default=0.05,
                   help="pre-training learning rate (default 0.05)")
    p.add_argument("--epochs", type=int, default=12, help="joint-training epochs (default 12)")
    p.add_argument("--learning-rate", type=float, default=0.005,
                   help="joint-training learning rate of the first epoch (default 0.005)")
    p.add_argument("--learning-rate-decay", type=float, default=0.2,
                   help="epoch t (from 0) runs at lr / (1 + decay * t) (default 0.2: the last of "
                        "12 epochs at about lr / 3)")
    p.add_argument("--momentum", type=float, default=0.5, help="momentum (default 0.5)")
    p.add_argument("--weight-decay", type=float, default=2e-4, help="L2 weight decay (2e-4)")
    p.add_argument("--batch-size", type=int, default=100, help="minibatch rows (default 100)")
    p.add_argument("--fantasy", type=int, default=100,
                   help="persistent chains of the joint training (default 100)")
    p.add_argument("--k", type=int, default=5, help="Gibbs sweeps per update (default 5)")
    p.add_argument("--train-mean-field", type=int, default=10,
                   help="most mean-field sweeps per minibatch in training (default 10)")
    p.add_argument("--eval-mean-field", type=int, default=30,
                   help="most mean-field sweeps for the bound and the features (default 30)")
    p.add_argument("--mean-field-tol", type=float, default=1e-4,
                   help="mean-field tolerance (default 1e-4)")
    p.add_argument("--n-chains", type=int, default=100, help="AIS chains (default 100)")
    p.add_argument("--n-betas", type=int, default=14500,
                   help="AIS inverse temperatures (default 14500)")
    p.add_argument("--save-dir", default=None,
                   help="save each fitted DBM there (pydbn.save_model) for later analysis")
    p.add_argument("--n-train-eval", type=int, default=2000,
                   help="training rows also scored with the bound (default 2000)")
    p.add_argument("--features", choices=["all", "top"], default="all",
                   help="transform_layers of the features (default all)")
    p.add_argument("--clf-max-iter", type=int, default=200,
                   help="max_iter of the logistic regressions (default 200)")
    p.add_argument("--no-features", action="store_true", help="skip the classifiers")
    p.add_argument("--threads", type=int, default=None,
                   help="limit every BLAS / OpenMP pool to this many threads (threadpoolctl)")
    p.add_argument("--seed", type=int, default=0, help="random_state of the models and of AIS")
    p.add_argument("--verbose", type=int, default=1,
                   help="DBM verbose level: 1 prints every epoch (default 1)")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 1000 training / 500 test rows, 1 epoch each, short AIS")
    args = p.parse_args(argv)
    try:
        args.layers = tuple(int(s) for s in args.layers.split(",") if s.strip())
    except ValueError:
        p.error(f"--layers must be comma-separated integers, got {args.layers!r}")
    if len(args.layers) < 2 or min(args.layers) < 1:
        p.error("--layers needs at least two positive sizes (a DBM, not an RBM)")
    if args.quick:
        args.n_train = args.n_train or 1000
        args.n_test = args.n_test or 500
        args.pretrain_epochs = 1
        args.epochs = 1
        args.n_chains = min(args.n_chains, 20)
        args.n_betas = min(args.n_betas, 300)
        args.n_train_eval = min(args.n_train_eval, 500)
        args.clf_max_iter = min(args.clf_max_iter, 50)
        args.verbose = 0
    return args


def _subset(X, y, n, seed):
    if n is None or n >= len(X):
        return X, y
    rows = np.sort(np.random.default_rng(seed).permutation(len(X))[:n])
    return np.ascontiguousarray(X[rows]), (None if y is None else y[rows])


def load(args, name):
    """(label, X_train, X_test, (clf_X_train, clf_y_train, clf_X_test, clf_y_test), notes)."""
    from pydbn.datasets import load_fashion_mnist, load_mnist

    if name == "mnist":
        X_train, _ = load_mnist(args.mnist_data, kind="train", binarized=True)
        X_valid, _ = load_mnist(args.mnist_data, kind="valid", binarized=True)
        X_train = np.concatenate([X_train, X_valid])
        X_test, _ = load_mnist(args.mnist_data, kind="test", binarized=True)
        clf = None
        if not args.no_features:
            Xc, yc = load_mnist(args.mnist_data, kind="train")
            Xct, yct = load_mnist(args.mnist_data, kind="test")
            Xc, yc = _subset(Xc, yc, args.n_train, args.seed)
            if args.n_test is not None:
                Xct, yct = Xct[: args.n_test], yct[: args.n_test]
            clf = (Xc, yc, Xct, yct)
        label = "binarized MNIST (Larochelle & Murray)"
        clf_note = ("labelled MNIST IDX images, grey levels / 255 as Bernoulli probabilities "
                    "(the binarized set has no labels)")
    else:
        Xf, yf = load_fashion_mnist(args.fashion_data, kind="train")
        Xft, yft = load_fashion_mnist(args.fashion_data, kind="test")
        X_train = (Xf > 0.5).astype(np.float32)
        X_test = (Xft > 0.5).astype(np.float32)
        X_train, yf = _subset(X_train, yf, args.n_train, args.seed)
        if args.n_test is not None:
            X_test, yft = X_test[: args.n_test], yft[: args.n_test]
        clf = None if args.no_features else (X_train, yf, X_test, yft)
        label = "Fashion-MNIST binarized at 0.5"
        clf_note = "the same binarized images the DBM sees"
        return label, X_train, X_test, clf, clf_note
    X_train, _ = _subset(X_train, None, args.n_train, args.seed)
    if args.n_test is not None:
        X_test = X_test[: args.n_test]
    return label, X_train, X_test, clf, clf_note


def certified_log_z(X_a, X_b, bound_a, bound_b, log_z):
    """A guaranteed lower bound on log Z from the scored rows, without sampling.

    For every visible vector v, -E_Q[E(v, h)] + H(Q) <= log sum_h exp(-E(v, h)), and Z sums
    exp(-E) over every v and h, so log Z >= logsumexp over distinct rows of the unnormalised
    bounds (``bound + log_z``).
    """
    from scipy.special import logsumexp

    rows = np.concatenate([np.asarray(X_a), np.asarray(X_b)])
    unnorm = np.concatenate([bound_a, bound_b]) + log_z
    _, first = np.unique(rows, axis=0, return_index=True)
    return float(logsumexp(unnorm[first]))


def classify(args, dbm, clf_data):
    """[(features, n_features, test error, fit seconds)] for pixels and DBM features."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    X_tr, y_tr, X_te, y_te = clf_data
    rows = []
    t0 = time.perf_counter()
    dbm.set_params(transform_layers=args.features)
    F_tr, F_te = dbm.transform(X_tr), dbm.transform(X_te)
    transform_time = time.perf_counter() - t0
    what = "h1 + h2 mean-field posteriors" if args.features == "all" else "h2 mean-field posterior"
    for label, A, B in (("pixels", X_tr, X_te), (f"DBM features ({what})", F_tr, F_te)):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            t0 = time.perf_counter()
            model = LogisticRegression(max_iter=args.clf_max_iter).fit(A, y_tr)
            fit_time = time.perf_counter() - t0
        unconverged = any(issubclass(w.category, ConvergenceWarning) for w in caught)
        err = 1.0 - model.score(B, y_te)
        rows.append((label + (" (*)" if unconverged else ""), A.shape[1], err, fit_time))
        print(f"LogisticRegression on {label}: test error {100 * err:.2f}% "
              f"(fit {fit_time:.1f} s)", flush=True)
    return rows, transform_time


def run(args, name):
    import pydbn

    label, X_train, X_test, clf_data, clf_note = load(args, name)
    layers = args.layers
    arch = "784-" + "-".join(map(str, layers))
    print(f"## {label}: DBM {arch}\n")
    print(f"- {len(X_train)} training / {len(X_test)} test rows, float32, no labels in training")
    print(f"- pre-training: {args.pretrain_epochs} epochs per RBM (PCD-1, learning rate "
          f"{args.pretrain_learning_rate}, batch {args.batch_size}, weight doubling)")
    print(f"- joint training: {args.epochs} epochs, batch {args.batch_size}, learning rate "
          f"{args.learning_rate} (decay {args.learning_rate_decay}), momentum {args.momentum}, "
          f"weight decay {args.weight_decay}, {args.fantasy} persistent chains, k = {args.k}, "
          f"at most {args.train_mean_field} mean-field sweeps (tolerance {args.mean_field_tol})")
    print(f"- evaluation: mean field up to {args.eval_mean_field} sweeps; AIS {args.n_chains} "
          f"chains, {args.n_betas} inverse temperatures; seed {args.seed}")
    print("- S&H 2009: the same network and sampler (100 fantasy particles, 5 Gibbs updates), "
          "trained far longer (learning rate 0.005 decreased gradually to 0)\n", flush=True)

    dbm = pydbn.DBM(
        hidden_layer_sizes=layers, learning_rate=args.learning_rate,
        learning_rate_decay=args.learning_rate_decay, batch_size=args.batch_size,
        n_iter=args.epochs, n_mean_field=args.train_mean_field,
        mean_field_tol=args.mean_field_tol, n_chains=args.fantasy, k=args.k, pretrain=True,
        pretrain_n_iter=args.pretrain_epochs,
        pretrain_learning_rate=args.pretrain_learning_rate, momentum=args.momentum,
        weight_decay=args.weight_decay, random_state=args.seed, verbose=args.verbose)
    t0 = time.perf_counter()
    dbm.fit(X_train)
    fit_time = time.perf_counter() - t0
    sys.stdout.flush()
    h = dbm.history_
    pre = sum(sum(r.history_["time"]) for r in dbm.rbms_) if dbm.rbms_ else 0.0
    joint = sum(h["time"])
    mf, gibbs = sum(h["mean_field_time"]), sum(h["gibbs_time"])
    sweeps = float(np.mean(h["mean_field_sweeps"])) if h["mean_field_sweeps"] else float("nan")
    recon = ", ".join(f"{e:.4f}" for e in h["reconstruction_error"])
    print(f"fit {fit_time:.1f} s: pre-training RBM epochs {pre:.1f} s, joint epochs {joint:.1f} s "
          f"(mean field {mf:.1f} s, Gibbs {gibbs:.1f} s, {sweeps:.1f} mean-field sweeps per "
          f"minibatch), other {fit_time - pre - joint:.1f} s; reconstruction error per joint "
          f"epoch: {recon}", flush=True)

    dbm.set_params(n_mean_field=args.eval_mean_field, verbose=0)
    t0 = time.perf_counter()
    log_z, log_z_se = dbm.log_partition("ais", n_chains=args.n_chains, n_betas=args.n_betas,
                                        random_state=args.seed, return_std=True)
    ais_time = time.perf_counter() - t0
    print(f"AIS: log Z = {log_z:.2f} +- {log_z_se:.2f} ({ais_time:.1f} s)", flush=True)
    t0 = time.perf_counter()
    bound = dbm.lower_bound(X_test, log_z=log_z)
    bound_time = time.perf_counter() - t0
    bound_train = dbm.lower_bound(X_train[: args.n_train_eval], log_z=log_z)
    sem = float(np.std(bound, ddof=1) / np.sqrt(len(bound)))
    certified = certified_log_z(X_test, X_train[: args.n_train_eval], bound, bound_train, log_z)
    ais_ok = log_z >= certified
    print(f"test lower bound {bound.mean():.2f} +- {sem:.2f} (s.e.m. over rows) +- {log_z_se:.2f} "
          f"(AIS) ({bound_time:.1f} s); train ({len(bound_train)} rows) {bound_train.mean():.2f}; "
          f"certified log Z >= {certified:.2f} (AIS {'consistent' if ais_ok else 'FAILED'})",
          flush=True)

    if args.save_dir:
        os.makedirs(args.save_dir, exist_ok=True)
        path = os.path.join(args.save_dir, f"dbm_{name}.joblib")
        pydbn.save_model(dbm, path)
        print(f"model saved to {path}")

    clf_rows, transform_time = [], 0.0
    if clf_data is not None:
        clf_rows, transform_time = classify(args, dbm, clf_data)

    ref_bound = SH_2009_BOUND if name == "mnist" else "- (no published figure: this is the reference)"
    print(f"\n### {label}: training time\n")
    print("| fit total (s) | pre-training RBM epochs (s) | joint epochs (s) | of which mean field (s) "
          "| of which Gibbs (s) | other (s) | joint epochs | s per joint epoch "
          "| mean-field sweeps / minibatch |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    per_epoch = joint / max(len(h["time"]), 1)
    print(f"| {fit_time:.1f} | {pre:.1f} | {joint:.1f} | {mf:.1f} | {gibbs:.1f} "
          f"| {fit_time - pre - joint:.1f} | {len(h['time'])} | {per_epoch:.1f} | {sweeps:.2f} |")

    print(f"\n### {label}: test log-likelihood, mean-field lower bound (nats)\n")
    print("| model | mean test bound | s.e.m. over test rows | AIS std err of log Z | log Z (AIS) "
          "| certified log Z >= | AIS time (s) "
          f"| mean train bound ({len(bound_train)} rows) | ratio bound / S&H 2009 | S&H 2009 |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    ratio = (f"{bound.mean() / float(SH_2009_BOUND):.3f}" if name == "mnist" else "-")
    print(f"| DBM {arch}, {args.epochs} joint epochs | {bound.mean():.2f} | {sem:.2f} "
          f"| {log_z_se:.2f} | {log_z:.2f} | {certified:.2f} | {ais_time:.1f} "
          f"| {bound_train.mean():.2f} | {ratio} | {ref_bound} |")
    print("\n'certified log Z >=': log of the sum over the distinct scored rows (test and train) of "
          "exp(-E_Q[E] + H(Q)), a guaranteed lower bound on the true log Z (no sampling); an AIS "
          "estimate below it has failed.")
    if not ais_ok:
        print(f"\nWARNING: pydbn's AIS log Z is {certified - log_z:.1f} nats below a certified "
              "lower bound on log Z: its chains missed the model's main mode, and the bound in "
              "that row is too high by at least that much (not a valid figure).")
    if log_z_se > 0.5:
        print("\nwarning: an AIS standard error above 0.5 means a few chains dominate; log Z is "
              "then likely underestimated and the bound too high. Raise --n-betas.")

    if clf_rows:
        print(f"\n### {label}: LogisticRegression test error ({clf_note})\n")
        print(f"DBM transform of {len(clf_data[0])} + {len(clf_data[2])} rows: "
              f"{transform_time:.1f} s; LogisticRegression(max_iter={args.clf_max_iter})\n")
        print("| features | n features | test error | fit time (s) | ratio error / pixels "
              "| S&H 2009 |")
        print("|---|---:|---:|---:|---:|---|")
        raw_err = clf_rows[0][2]
        for i, (what, n_feat, err, ft) in enumerate(clf_rows):
            ref = SH_2009_ERROR if (name == "mnist" and i == 1) else "-"
            ratio = f"{err / raw_err:.2f}" if raw_err > 0 else "-"
            print(f"| {what} | {n_feat} | {100 * err:.2f}% | {ft:.1f} | {ratio} | {ref} |")
        if any("(*)" in r[0] for r in clf_rows):
            print("\n(*) stopped at max_iter before converging")
    print(flush=True)
    return bound.mean()


def main(argv=None):
    args = parse_args(argv)
    import threadpoolctl

    import pydbn

    limiter = None
    if args.threads is not None:
        limiter = threadpoolctl.threadpool_limits(args.threads)
    t_start = time.perf_counter()
    print("# pydbn.DBM: test log-likelihood bound and features (Salakhutdinov & Hinton 2009 "
          "setting)\n")
    blas = ", ".join(f"{i.get('internal_api')} {i.get('version')} x{i.get('num_threads')}"
                     for i in threadpoolctl.threadpool_info())
    print(f"- pydbn {getattr(pydbn, '__version__', '?')}, Python {platform.python_version()}, "
          f"{os.cpu_count()} CPUs, BLAS: {blas}")
    try:
        print("- load average at start (1, 5, 15 min): "
              + ", ".join(f"{x:.2f}" for x in os.getloadavg())
              + " (well above 0 means other processes share the CPUs: times inflate)")
    except OSError:
        pass
    print(f"- command line: {' '.join(sys.argv[1:]) or '(defaults)'}\n", flush=True)
    names = ["mnist", "fashion"] if args.dataset == "both" else [args.dataset]
    for name in names:
        try:
            run(args, name)
        except FileNotFoundError as exc:
            print(f"{name}: skipped, data not found ({exc})\n", flush=True)
    try:
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = "?"
    print(f"total run time {time.perf_counter() - t_start:.1f} s; load average at the end: {load}")
    if args.quick:
        print("\n(quick run: far too little training for the figures to mean anything)")
    if limiter is not None:
        limiter.restore_original_limits()
    return 0


if __name__ == "__main__":
    sys.exit(main())
