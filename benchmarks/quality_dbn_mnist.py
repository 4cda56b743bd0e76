"""Quality of pydbn.DBN on MNIST: classification error and a test log-likelihood bound.

Two experiments, each printed as a table beside the published figure it follows.
Neither reproduces the compute of the papers; epochs and sampler settings are
options, and the table prints what was actually run.

(a) Generative classifier, after Hinton, Osindero & Teh (2006), "A fast
    learning algorithm for deep belief nets". A 784-500-500-2000 DBN whose top
    RBM also sees 10 softmax label units (``DBN(hidden_layer_sizes=(500, 500,
    2000)).fit(X, y)``), trained greedily and then fine-tuned with the up-down
    algorithm (``fine_tune='up-down'``); ``predict`` takes the label of lowest
    free energy given the up-pass (exact, no sampling). Data: the original
    MNIST IDX files (``pydbn.datasets.load_mnist``), all 60000 training images,
    10000 test images, grey levels divided by 255 and used as the probabilities
    of the binary visible units (mean-field input, as in Hinton's MNIST code;
    no binarization). Hinton et al. report 1.25% test error after greedy
    training (30 sweeps per layer) and a long up-down fine-tuning (roughly 300
    sweeps on 44000 images with a validation set, then more on all 60000;
    about a week of computing in 2006); the default here runs 30 greedy epochs
    per layer (CD-1) and 20 up-down epochs. The
    error of the greedy network alone comes from a separate ``fit`` with
    ``fine_tune=None`` and the same ``random_state`` (its greedy phase is
    identical to the fine-tuned one's): pydbn has no public way to fine-tune an
    already fitted DBN. ``--no-greedy-eval`` skips that extra fit.

(b) Test log-likelihood, after Salakhutdinov & Murray (2008), "On the
    quantitative analysis of deep belief networks". An unsupervised 784-500-2000
    DBN on the standard binarized MNIST of Larochelle & Murray
    (``load_mnist(binarized=True)``: train + valid = 60000 training rows, 10000
    test rows). The first layer is trained with CD-25, as S&M's first layer
    (their CD25(500) RBM); the 2000-unit top RBM with PCD-1 by default (in a
    short trial on 20000 rows, a CD-1 top RBM gave a bound about 100 nats
    worse than PCD-1; see ``--b-method``), trained on binary samples of
    q(h1 | v) (``propagate='sample'``: the term of the variational bound that
    greedy training improves; ``--b-propagate mean`` trains it on the
    probabilities). The score is the variational lower bound
    ``dbn.lower_bound(X_test, 'ais', n_samples=S)`` averaged over the test
    rows: S draws of the factorial recognition distribution q(h1 | v) per row,
    and log Z of the top RBM by AIS with S&M's settings (100 chains, 14500
    inverse temperatures) run on both layers of the RBM, the importance weights
    pooled (``side='auto'``): on this top RBM, S&M's visible-side AIS alone
    came out about 50 nats too low, the hidden side found that mass. Beside it: log p(v) of the first layer alone as an
    RBM (its own AIS log Z), the model the DBN is meant to improve on. S&M
    report -86.22 nats for their DBN's bound and -86.34 for the CD25(500) RBM.

    AIS can underestimate log Z badly while reporting a small standard error,
    when its chains miss modes of the model; the figures are then too high.
    So the script also computes a certified lower bound on each log Z without
    sampling the model: the log of the sum of exp(-F) over distinct binary
    states (draws of q(h1 | v) on the training rows for the top RBM, the
    training images for layer 1). It prints the figure with log Z replaced by
    max(AIS, certified bound) - an upper limit on the true figure - and says
    when AIS fell below the certified bound.

Training settings (both parts, configurable): minibatches of 100 rows, weight
decay 2e-4, momentum 0.5, a constant learning rate (0.1 in (a), 0.05 in (b));
In (b), ``--b-learning-rate`` and ``--b-momentum`` take one value per layer,
``--b-learning-rate-decay`` sets DBN's per-layer 1 / (1 + decay t) schedule,
``--b-learning-rate-schedule linear`` the RBM's hold-then-anneal schedule, and
``--b-layer-init transpose`` starts the top RBM as layer 1 turned upside down
(``DBN(layer_init='transpose')``: the bound then starts at layer 1's log p).

Default run time: about 25-35 minutes on 2 otherwise idle cores (estimated
from per-epoch times; part (a) a little more than half, most of it the two
greedy fits and the up-down epochs; part (b) most of it CD-25 and the two AIS
runs). ``--part a`` or ``--part b`` runs one
part; ``--quick`` is a smoke run (a few thousand rows, 1 epoch, short AIS).
On a machine that other processes keep busy, ``--threads 1`` can be many
times faster: OpenBLAS threads that wait for a descheduled partner spin. On
2 cores at a load average of about 5, an RBM epoch with 2 threads took 10-40x
its idle time, with 1 thread about 4x.
"""

import argparse
import os
import platform
import sys
import time

import numpy as np

HINTON_2006_ERROR = 1.25  # percent
SM_2008_DBN = -86.22
SM_2008_RBM = -86.34  # CD25(500)


def _int_list(text):
    return tuple(int(s) for s in str(text).split(",") if s.strip())


def _float_list(text):
    return tuple(float(s) for s in str(text).split(",") if s.strip())


def _per_layer(values, n_layers, name):
    values = list(values)
    if len(values) == 1:
        return values * n_layers
    if len(values) != n_layers:
        raise SystemExit(f"{name}: {len(values)} values for {n_layers} layers")
    return values


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--part", choices=["all", "a", "b"], default="all",
                   help="(a) classifier, (b) log-likelihood bound, or both (default)")
    p.add_argument("--data", default=None, help="MNIST folder (default: pydbn.datasets' default)")
    p.add_argument("--seed", type=int, default=0, help="random_state of every model and of AIS")
    p.add_argument("--batch-size", type=int, default=100, help="minibatch rows (default 100)")
    p.add_argument("--weight-decay", type=float, default=2e-4, help="L2 weight decay (default 2e-4)")
    p.add_argument("--momentum", type=float, default=0.5, help="momentum (default 0.5)")
    p.add_argument("--b-momentum", default=None,
                   help="(b) momentum, one value or one per layer (default: --momentum)")
    p.add_argument("--verbose", action="store_true", help="print a line per training epoch")
    p.add_argument("--threads", type=int, default=None,
                   help="limit every BLAS / OpenMP pool to this many threads (threadpoolctl); "
                        "1 is much faster on a machine that other processes keep busy")
    g = p.add_argument_group("(a) classifier")
    g.add_argument("--a-layers", default="500,500,2000", help="hidden layers (default 500,500,2000)")
    g.add_argument("--a-epochs", default="30", help="greedy epochs, one value or one per layer (30)")
    g.add_argument("--a-method", default="cd", help="'cd' or 'pcd', one or per layer (default cd)")
    g.add_argument("--a-k", default="1", help="Gibbs steps, one or per layer (default 1)")
    g.add_argument("--a-learning-rate", type=float, default=0.1, help="greedy learning rate (0.1)")
    g.add_argument("--fine-tune-epochs", type=int, default=20,
                   help="up-down epochs, 0 for none (default 20)")
    g.add_argument("--fine-tune-learning-rate", type=float, default=0.01,
                   help="up-down learning rate (default 0.01)")
    g.add_argument("--fine-tune-k", type=int, default=3,
                   help="Gibbs steps in the top RBM per up-down update (default 3)")
    g.add_argument("--no-greedy-eval", action="store_true",
                   help="skip the separate greedy-only fit that gives the error before fine-tuning")
    g.add_argument("--a-n-train", type=int, default=None, help="training rows (default all 60000)")
    g.add_argument("--a-n-test", type=int, default=None, help="test rows (default all 10000)")
    g = p.add_argument_group("(b) log-likelihood bound")
    g.add_argument("--b-layers", default="500,2000", help="hidden layers (default 500,2000)")
    g.add_argument("--b-epochs", default="15,20", help="epochs, one or per layer (default 15,20)")
    g.add_argument("--b-method", default="cd,pcd", help="'cd'/'pcd', one or per layer (default cd,pcd)")
    g.add_argument("--b-k", default="25,1", help="Gibbs steps, one or per layer (default 25,1)")
    g.add_argument("--b-learning-rate", default="0.05",
                   help="learning rate, one value or one per layer (0.05)")
    g.add_argument("--b-learning-rate-decay", default="0",
                   help="per layer, one value or one per layer: epoch t uses learning_rate / "
                        "(1 + decay * t) (default 0, constant)")
    g.add_argument("--b-learning-rate-schedule", default="inverse",
                   help="'inverse' (learning_rate / (1 + decay * t)) or 'linear' (held for half "
                        "the epochs, then linearly down), one or per layer (default inverse)")
    g.add_argument("--b-layer-init", choices=["random", "transpose"], default="random",
                   help="start of the top RBM: random, or layer 1 turned upside down (its first "
                        "784 hidden units; DBN(layer_init=...))")
    g.add_argument("--b-propagate", choices=["sample", "mean"], default="sample",
                   help="what the top RBM is trained on: binary samples of q(h1 | v) (default) "
                        "or its probabilities")
    g.add_argument("--b-n-train", type=int, default=None,
                   help="training rows (default all 60000 of train + valid)")
    g.add_argument("--b-n-test", type=int, default=None, help="test rows (default all 10000)")
    g.add_argument("--n-samples", type=int, default=100,
                   help="draws of q(h | v) per test row for the bound (default 100)")
    g.add_argument("--n-chains", type=int, default=100, help="AIS chains (default 100)")
    g.add_argument("--n-betas", type=int, default=14500, help="AIS inverse temperatures (default 14500)")
    g.add_argument("--certify-draws", type=int, default=3,
                   help="draws of q(h1 | v) per training row for the certified lower bound "
                        "on the top RBM's log Z (default 3)")
    g.add_argument("--n-train-eval", type=int, default=2000,
                   help="training rows also scored, to show over-fitting (default 2000)")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 2000 training rows, 1 epoch, 1 up-down epoch, "
                        "500 test rows, short AIS")
    args = p.parse_args(argv)
    if args.quick:
        args.a_n_train = args.a_n_train or 2000
        args.a_n_test = args.a_n_test or 500
        args.a_epochs = "1"
        args.fine_tune_epochs = min(args.fine_tune_epochs, 1)
        args.b_n_train = args.b_n_train or 2000
        args.b_n_test = args.b_n_test or 500
        args.b_epochs = "1"
        args.b_k = "1"
        args.n_samples = min(args.n_samples, 10)
        args.n_chains = min(args.n_chains, 20)
        args.n_betas = min(args.n_betas, 200)
        args.n_train_eval = min(args.n_train_eval, 500)
    try:
        args.a_layers = _int_list(args.a_layers)
        args.b_layers = _int_list(args.b_layers)
        args.a_epochs = _per_layer(_int_list(args.a_epochs), len(args.a_layers), "--a-epochs")
        args.a_k = _per_layer(_int_list(args.a_k), len(args.a_layers), "--a-k")
        args.b_epochs = _per_layer(_int_list(args.b_epochs), len(args.b_layers), "--b-epochs")
        args.b_k = _per_layer(_int_list(args.b_k), len(args.b_layers), "--b-k")
        args.b_momentum = _per_layer(
            _float_list(args.momentum if args.b_momentum is None else args.b_momentum),
            len(args.b_layers), "--b-momentum")
        args.b_learning_rate = _per_layer(
            _float_list(args.b_learning_rate),
            len(args.b_layers), "--b-learning-rate")
        args.b_learning_rate_schedule = _per_layer(
            [s.strip() for s in args.b_learning_rate_schedule.split(",") if s.strip()],
            len(args.b_layers), "--b-learning-rate-schedule")
        args.b_learning_rate_decay = _per_layer(
            _float_list(args.b_learning_rate_decay),
            len(args.b_layers), "--b-learning-rate-decay")
    except ValueError as exc:
        p.error(f"layer sizes, epochs and k are comma-separated integers, learning rates, "
                f"decays and momenta comma-separated numbers ({exc})")
    args.a_method = _per_layer(args.a_method.split(","), len(args.a_layers), "--a-method")
    args.b_method = _per_layer(args.b_method.split(","), len(args.b_layers), "--b-method")
    for m in args.a_method + args.b_method:
        if m not in ("cd", "pcd"):
            p.error(f"unknown method {m!r}: use 'cd' or 'pcd'")
    for s in args.b_learning_rate_schedule:
        if s not in ("inverse", "linear"):
            p.error(f"unknown learning-rate schedule {s!r}: use 'inverse' or 'linear'")
    if len(args.b_layers) < 2:
        p.error("--b-layers needs at least two layers (a DBN, not an RBM)")
    return args


def _describe_layers(layers, epochs, methods, ks):
    return ", ".join(f"{h} units {m.upper()}-{k} x {e} epochs"
                     for h, e, m, k in zip(layers, epochs, methods, ks))


def _sigmoid(x):
    from scipy.special import expit

    return expit(x, out=x)


def certified_log_z(rbm, state_sets):
    """A lower bound on an RBM's log Z: log sum of exp(-F(v)) over distinct binary states v.

    ``state_sets``: boolean arrays of shape (n, n_visible); duplicates are counted once.
    Returns (bound, number of distinct states).
    """
    from scipy.special import logsumexp

    n_visible = state_sets[0].shape[1]
    packed = np.unique(np.concatenate([np.packbits(s, axis=1) for s in state_sets]), axis=0)
    dtype = rbm.components_.dtype
    free = []
    for start in range(0, len(packed), 20000):
        chunk = np.unpackbits(packed[start:start + 20000], axis=1, count=n_visible)
        free.append(np.asarray(rbm.free_energy(chunk.astype(dtype)), dtype=np.float64))
    return float(logsumexp(-np.concatenate(free))), len(packed)


def _subset(X, y, n, seed):
    if n is None or n >= len(X):
        return X, y
    rows = np.sort(np.random.default_rng(seed).permutation(len(X))[:n])
    return np.ascontiguousarray(X[rows]), (None if y is None else y[rows])


def part_a(args):
    import pydbn
    from pydbn.datasets import load_mnist

    X_train, y_train = load_mnist(args.data, kind="train")
    X_test, y_test = load_mnist(args.data, kind="test")
    X_train, y_train = _subset(X_train, y_train, args.a_n_train, args.seed)
    if args.a_n_test is not None:
        X_test, y_test = X_test[: args.a_n_test], y_test[: args.a_n_test]
    layers = args.a_layers
    print("## (a) MNIST generative classifier (Hinton, Osindero & Teh 2006 setting)\n")
    print(f"- {len(X_train)} training / {len(X_test)} test rows, pixels / 255 as Bernoulli "
          f"probabilities, float32")
    print(f"- layers 784-{'-'.join(map(str, layers))} + 10 label units in the top RBM: "
          f"{_describe_layers(layers, args.a_epochs, args.a_method, args.a_k)}; batch "
          f"{args.batch_size}, learning rate {args.a_learning_rate}, momentum {args.momentum}, "
          f"weight decay {args.weight_decay}")
    print(f"- up-down fine-tuning: {args.fine_tune_epochs} epochs, learning rate "
          f"{args.fine_tune_learning_rate}, k = {args.fine_tune_k}\n", flush=True)

    def make(fine_tune):
        return pydbn.DBN(
            hidden_layer_sizes=layers, learning_rate=args.a_learning_rate,
            batch_size=args.batch_size, n_iter=list(args.a_epochs), method=list(args.a_method),
            k=list(args.a_k), momentum=args.momentum, weight_decay=args.weight_decay,
            fine_tune="up-down" if fine_tune else None,
            n_iter_fine_tune=args.fine_tune_epochs,
            learning_rate_fine_tune=args.fine_tune_learning_rate, k_fine_tune=args.fine_tune_k,
            random_state=args.seed, verbose=int(args.verbose))

    rows = []

    def evaluate(label, dbn, fit_time):
        t0 = time.perf_counter()
        test_err = 1.0 - dbn.score(X_test, y_test)
        pred_time = time.perf_counter() - t0
        n_eval = min(len(X_train), 10000)
        train_err = 1.0 - dbn.score(X_train[:n_eval], y_train[:n_eval])
        h = dbn.history_
        greedy = sum(t for l, t in zip(h["layer"], h["time"]) if l != "up-down")
        updown = sum(t for l, t in zip(h["layer"], h["time"]) if l == "up-down")
        rows.append((label, test_err, train_err, fit_time, greedy, updown, pred_time))
        print(f"{label}: test error {100 * test_err:.2f}%, training error ({n_eval} rows) "
              f"{100 * train_err:.2f}%, fit {fit_time:.1f} s (greedy epochs {greedy:.1f} s, "
              f"up-down epochs {updown:.1f} s)", flush=True)
        return h

    if not args.no_greedy_eval or args.fine_tune_epochs == 0:
        dbn = make(False)
        t0 = time.perf_counter()
        dbn.fit(X_train, y_train)
        evaluate("greedy only", dbn, time.perf_counter() - t0)
    if args.fine_tune_epochs > 0:
        dbn = make(True)
        t0 = time.perf_counter()
        dbn.fit(X_train, y_train)
        h = evaluate(f"greedy + {args.fine_tune_epochs} up-down epochs", dbn,
                     time.perf_counter() - t0)
        acc = [s for l, s in zip(h["layer"], h["score"]) if l == "up-down"]
        if acc:
            shown = ", ".join(f"{a:.3f}" for a in acc[:: max(1, len(acc) // 10)])
            print(f"up-down training-subset accuracy per epoch (history_, every "
                  f"{max(1, len(acc) // 10)}): {shown}; last {acc[-1]:.3f}")

    print("\n| model | test error | ratio to Hinton et al.'s 1.25% | training error "
          "| fit time (s) | greedy epochs (s) | up-down epochs (s) | predict 10000 rows (s) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for label, te, tr, ft, gt, ut, pt in rows:
        print(f"| {label} | {100 * te:.2f}% | {100 * te / HINTON_2006_ERROR:.2f}x "
              f"| {100 * tr:.2f}% | {ft:.1f} | {gt:.1f} | {ut:.1f} "
              f"| {pt * 10000 / len(X_test):.2f} |")
    print(f"\nHinton et al. (2006): {HINTON_2006_ERROR:.2f}% test error after greedy training "
          "and about a week of up-down fine-tuning.")
    print(flush=True)
    return rows


def part_b(args):
    import pydbn
    from pydbn.datasets import load_mnist

    X_train, _ = load_mnist(args.data, kind="train", binarized=True)
    X_valid, _ = load_mnist(args.data, kind="valid", binarized=True)
    X_train = np.concatenate([X_train, X_valid])
    del X_valid
    X_test, _ = load_mnist(args.data, kind="test", binarized=True)
    X_train, _ = _subset(X_train, None, args.b_n_train, args.seed)
    if args.b_n_test is not None:
        X_test = X_test[: args.b_n_test]
    X_train_eval = X_train[: args.n_train_eval]
    layers = args.b_layers
    print("## (b) Binarized MNIST test log-likelihood (Salakhutdinov & Murray 2008 setting)\n")
    print(f"- {len(X_train)} training / {len(X_test)} test rows (fixed binarization of "
          f"Larochelle & Murray), float32, no labels")
    print(f"- layers 784-{'-'.join(map(str, layers))}: "
          f"{_describe_layers(layers, args.b_epochs, args.b_method, args.b_k)}; batch "
          f"{args.batch_size}, learning rate {', '.join(map(str, args.b_learning_rate))} per layer, "
          f"schedule {', '.join(args.b_learning_rate_schedule)} (inverse: / (1 + decay * epoch)) "
          f"with decay "
          f"{', '.join(map(str, args.b_learning_rate_decay))} per layer, momentum "
          f"{', '.join(map(str, args.b_momentum))} per layer, "
          f"weight decay {args.weight_decay}; top RBM trained on propagate='{args.b_propagate}', "
          f"layer_init='{args.b_layer_init}'")
    print(f"- bound: {args.n_samples} draws of q per row; AIS: {args.n_chains} chains, "
          f"{args.n_betas} inverse temperatures, base rates from the training data\n", flush=True)

    dbn = pydbn.DBN(
        hidden_layer_sizes=layers, learning_rate=list(args.b_learning_rate),
        learning_rate_decay=list(args.b_learning_rate_decay),
        learning_rate_schedule=list(args.b_learning_rate_schedule),
        batch_size=args.batch_size, n_iter=list(args.b_epochs), method=list(args.b_method),
        k=list(args.b_k), momentum=list(args.b_momentum), weight_decay=args.weight_decay,
        propagate=args.b_propagate, layer_init=args.b_layer_init, use_labels=False, random_state=args.seed,
        verbose=int(args.verbose))
    t0 = time.perf_counter()
    dbn.fit(X_train)
    fit_time = time.perf_counter() - t0
    h = dbn.history_
    layer_times = [sum(t for l, t in zip(h["layer"], h["time"]) if l == i + 1)
                   for i in range(len(layers))]
    print(f"trained in {fit_time:.1f} s (epochs per layer: "
          + ", ".join(f"{t:.1f} s" for t in layer_times) + ")", flush=True)

    # the top RBM's log Z, then the bound on test and (a few) training rows
    t0 = time.perf_counter()
    log_z, log_z_se = dbn.log_partition("ais", n_chains=args.n_chains, n_betas=args.n_betas,
                                        random_state=args.seed, return_std=True)
    ais_top = time.perf_counter() - t0
    t0 = time.perf_counter()
    bound, bound_se = dbn.lower_bound(X_test, "ais", n_samples=args.n_samples, log_z=log_z,
                                      random_state=args.seed, return_std=True)
    bound_time = time.perf_counter() - t0
    bound_train = dbn.lower_bound(X_train_eval, "ais", n_samples=args.n_samples, log_z=log_z,
                                  random_state=args.seed + 1)
    print(f"DBN: top RBM log Z = {log_z:.2f} +- {log_z_se:.2f} (AIS {ais_top:.1f} s); "
          f"test bound {bound.mean():.2f} ({bound_time:.1f} s); "
          f"train bound {bound_train.mean():.2f}", flush=True)

    # the first layer alone, as an RBM
    rbm = dbn.rbms_[0]
    t0 = time.perf_counter()
    rbm_log_z, rbm_log_z_se = rbm.log_partition("ais", n_chains=args.n_chains,
                                                n_betas=args.n_betas, random_state=args.seed,
                                                return_std=True)
    ais_rbm = time.perf_counter() - t0
    rbm_test = np.asarray(rbm.log_likelihood(X_test, log_z=rbm_log_z), dtype=np.float64)
    rbm_train = np.asarray(rbm.log_likelihood(X_train_eval, log_z=rbm_log_z), dtype=np.float64)
    print(f"layer-1 RBM: log Z = {rbm_log_z:.2f} +- {rbm_log_z_se:.2f} (AIS {ais_rbm:.1f} s); "
          f"test log p {rbm_test.mean():.2f}; train log p {rbm_train.mean():.2f}", flush=True)

    # Certified lower bounds on both log Z, without sampling the model: the log of the sum of
    # exp(-free energy) over distinct binary states. For the top RBM the states are draws of
    # the recognition distribution q(h1 | v) on the training rows; for layer 1 the distinct
    # training images. AIS below such a bound has missed probability mass.
    t0 = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    probs = _sigmoid(X_train @ dbn.recognition_weights_[0].T + dbn.recognition_intercepts_[0])
    states = [probs > 0.5] + [rng.random(probs.shape, dtype=np.float32) < probs
                              for _ in range(args.certify_draws)]
    del probs
    cert_top, n_top = certified_log_z(dbn.rbms_[1], states)
    cert_rbm, n_rbm = certified_log_z(rbm, [X_train > 0.5])
    del states
    print(f"certified lower bounds on log Z ({time.perf_counter() - t0:.1f} s): top RBM "
          f">= {cert_top:.2f} from {n_top} distinct states of h1; layer-1 RBM >= {cert_rbm:.2f} "
          f"from {n_rbm} distinct training images", flush=True)

    n = len(X_test)
    sem_rows = np.std(bound, ddof=1) / np.sqrt(n)
    sem_mc = np.sqrt(np.sum(bound_se ** 2)) / n
    rbm_sem = np.std(rbm_test, ddof=1) / np.sqrt(n)
    # with log Z >= the certified bound, the figure is at most its value at that bound
    bound_max = bound.mean() + log_z - max(log_z, cert_top)
    rbm_max = rbm_test.mean() + rbm_log_z - max(rbm_log_z, cert_rbm)
    print("\n| model | mean test log p(x) with AIS log Z (nats) | +- AIS std err of log Z "
          "| std err over test rows | Monte Carlo std err of q draws | mean train log p(x) "
          f"({len(X_train_eval)} rows) | log Z (AIS) | certified log Z >= "
          "| test figure is at most | AIS time (s) | S&M 2008 test | difference to S&M (nats) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| DBN 784-{'-'.join(map(str, layers))}, variational lower bound | {bound.mean():.2f} "
          f"| {log_z_se:.2f} | {sem_rows:.2f} | {sem_mc:.3f} | {bound_train.mean():.2f} "
          f"| {log_z:.2f} | {cert_top:.2f} | {bound_max:.2f} | {ais_top:.1f} "
          f"| {SM_2008_DBN:.2f} (bound) | {bound.mean() - SM_2008_DBN:+.2f} |")
    print(f"| layer 1 alone: RBM 784-{layers[0]}, log p(x) | {rbm_test.mean():.2f} "
          f"| {rbm_log_z_se:.2f} | {rbm_sem:.2f} | - | {rbm_train.mean():.2f} "
          f"| {rbm_log_z:.2f} | {cert_rbm:.2f} | {rbm_max:.2f} | {ais_rbm:.1f} "
          f"| {SM_2008_RBM:.2f} (CD25(500)) | {rbm_test.mean() - SM_2008_RBM:+.2f} |")
    print("\n'test figure is at most': the mean with log Z replaced by max(AIS, certified bound); "
          "it equals the AIS figure unless AIS fell below the certified bound.")
    for name, ais, se, cert in (("top RBM", log_z, log_z_se, cert_top),
                                ("layer-1 RBM", rbm_log_z, rbm_log_z_se, cert_rbm)):
        if cert > ais:
            print(f"AIS FAILED for the {name}: its log Z estimate {ais:.2f} +- {se:.2f} is "
                  f"{cert - ais:.2f} nats below a certified lower bound, so the AIS figure "
                  "is too high by at least that much (a small AIS standard error does not "
                  "detect chains that miss the model's modes).")
    n_positive = int(np.sum(bound > 0))
    if n_positive:
        print(f"IMPOSSIBLE VALUES: {n_positive} test rows have a bound above 0 nats (p(x) > 1, "
              f"largest {bound.max():+.2f}): the top RBM's AIS log Z is too low by at least "
              f"{bound.max():.2f} nats.")
    gain = bound_max - rbm_test.mean()
    print(f"DBN bound (at most) - RBM log p (AIS) on the test rows: {gain:+.2f} nats (S&M 2008: "
          f"{SM_2008_DBN - SM_2008_RBM:+.2f}; the "
          f"bound can only add to the RBM's figure when the top RBM models q(h1 | v) "
          f"better than layer 1's own prior does)")
    if max(log_z_se, rbm_log_z_se) > 0.5:
        print("warning: an AIS standard error above 0.5 means a few chains dominate the "
              "estimate; log Z is then likely underestimated (the figures too high). Raise "
              "--n-betas or --n-chains.")
    print(flush=True)
    return bound.mean(), rbm_test.mean()


def main(argv=None):
    args = parse_args(argv)
    import threadpoolctl

    import pydbn

    limiter = None
    if args.threads is not None:
        limiter = threadpoolctl.threadpool_limits(args.threads)
    t_start = time.perf_counter()
    print("# pydbn.DBN on MNIST: classification error and test log-likelihood bound\n")
    blas = ", ".join(f"{i.get('internal_api')} {i.get('version')} x{i.get('num_threads')}"
                     for i in threadpoolctl.threadpool_info())
    print(f"- pydbn {getattr(pydbn, '__version__', '?')}, Python {platform.python_version()}, "
          f"{os.cpu_count()} CPUs, BLAS: {blas}")
    try:
        print("- load average at start (1, 5, 15 min): "
              + ", ".join(f"{x:.2f}" for x in os.getloadavg())
              + " (other processes share the CPUs if this is well above 0: times inflate)")
    except OSError:
        pass
    print(f"- seed {args.seed}\n", flush=True)
    if args.part in ("all", "a"):
        part_a(args)
    if args.part in ("all", "b"):
        part_b(args)
    print(f"total run time {time.perf_counter() - t_start:.1f} s")
    if args.quick:
        print("\n(quick run: far too little training for the figures to mean anything)")
    if limiter is not None:
        limiter.restore_original_limits()
    return 0


if __name__ == "__main__":
    sys.exit(main())
