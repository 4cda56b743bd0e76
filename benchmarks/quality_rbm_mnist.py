"""Test log-likelihood of RBMs on binarized MNIST, after Salakhutdinov & Murray (2008).

R. Salakhutdinov and I. Murray, "On the quantitative analysis of deep belief
networks", ICML 2008, estimated the log partition function of RBMs with
annealed importance sampling (AIS) and reported the average test
log-probability of binarized MNIST under RBMs with 500 hidden units: about
-86.3 nats when trained with CD-25 ("CD25(500)": -86.34) and about -125 nats
with CD-1. This script trains the same model size with CD-25, PCD-1 and CD-1
and measures it the same way, on the standard fixed binarization of Larochelle
and Murray (2011) (``pydbn.datasets.load_mnist(binarized=True)``).

What it does, for each training method:

1. trains ``pydbn.RBM(n_components=500, batch_size=100, method=..., k=...)``
   in float32 on the training rows (default: the 50000 ``train`` rows plus the
   10000 ``valid`` rows, i.e. the 60000 MNIST training images S&M used);
2. estimates log Z once by AIS with S&M's settings, 100 chains and 14500
   inverse temperatures (``model.log_partition('ais', n_chains=100,
   n_betas=14500, return_std=True)``) from the base-rate model built from the
   training-data marginals;
3. reports the mean test log p(x) = -F(x) - log Z over the 10000 test rows, with
   the AIS standard error of log Z (shared by every row) and the standard error
   over rows, and the same on 10000 training rows (the gap shows over-fitting).

Training schedule (the same for every method, so only the sampler differs).
The values are the classic ones of Hinton's "A practical guide to training
restricted Boltzmann machines" (2010) and of the code of Hinton &
Salakhutdinov (2006) for MNIST: minibatches of 100 rows, weight decay 2e-4 on
the weights, momentum 0.5 for the first 5 epochs and 0.9 after them, and a
learning rate of 0.05. The learning rate is held for the first half of the
epochs and then decays linearly to zero, as Tieleman (2008) did for PCD: a
persistent chain needs a small final learning rate to give a good model, and
annealing also helps CD's final estimate. S&M additionally raised the number of
CD steps gradually from 1 to 25 during learning and trained for longer; this
script keeps k fixed, so its figures are a reproduction of the setting, not of
every detail, and CD-25 is expected to land a few nats from -86.34.

The schedule is driven from Python with one ``partial_fit`` call (one shuffled
pass) per epoch, changing ``learning_rate`` and ``momentum`` between epochs
with ``set_params``; use ``--schedule constant`` to train with a single
``fit`` call at the initial learning rate and momentum 0.9 instead.

Run time on 2 cores, default settings: CD-1 and PCD-1 take a few minutes,
CD-25 about ten times as long per epoch; each AIS estimate takes about half a
minute. ``--quick`` is a smoke run (2000 rows, 1 epoch, short AIS).
"""

import argparse
import os
import platform
import sys
import time

import numpy as np

# Salakhutdinov & Murray (2008), Table 1: average test log-probabilities (nats).
REFERENCE = {"cd25": "-86.34", "cd1": "about -125 (CD1(500): -125.53)", "pcd1": "-"}

METHODS = {
    "cd25": ("cd", 25, "CD-25"),
    "pcd1": ("pcd", 1, "PCD-1"),
    "cd1": ("cd", 1, "CD-1"),
    "cd3": ("cd", 3, "CD-3"),
    "pcd5": ("pcd", 5, "PCD-5"),
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--methods", default="cd25,pcd1,cd1",
                   help=f"comma-separated, from {','.join(METHODS)} (default cd25,pcd1,cd1)")
    p.add_argument("--epochs", type=int, default=50, help="training epochs (default 50)")
    p.add_argument("--n-train", type=int, default=None,
                   help="training rows (default all 60000 of train + valid)")
    p.add_argument("--no-valid", action="store_true",
                   help="train on the 50000 'train' rows only, leaving 'valid' out")
    p.add_argument("--n-components", type=int, default=500, help="hidden units (default 500)")
    p.add_argument("--learning-rate", type=float, default=0.05, help="initial learning rate (default 0.05)")
    p.add_argument("--weight-decay", type=float, default=2e-4, help="L2 weight decay (default 2e-4)")
    p.add_argument("--batch-size", type=int, default=100, help="minibatch rows (default 100)")
    p.add_argument("--schedule", choices=["anneal", "constant"], default="anneal",
                   help="'anneal' (default): momentum 0.5 -> 0.9, learning rate held then linearly "
                        "to 0, one partial_fit per epoch; 'constant': one fit() call")
    p.add_argument("--n-chains", type=int, default=100, help="AIS chains (default 100)")
    p.add_argument("--n-betas", type=int, default=14500, help="AIS inverse temperatures (default 14500)")
    p.add_argument("--n-test", type=int, default=None, help="test rows to score (default all 10000)")
    p.add_argument("--data", default=None, help="MNIST folder (default: pydbn.datasets' default)")
    p.add_argument("--seed", type=int, default=0, help="random_state of training and AIS")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 2000 training rows, 1 epoch, 1000 test rows, 1000 betas, 20 chains")
    args = p.parse_args(argv)
    if args.quick:
        args.n_train = args.n_train or 2000
        args.epochs = 1
        args.n_test = args.n_test or 1000
        args.n_betas = 1000
        args.n_chains = 20
    args.methods = [m.strip().lower().replace("-", "") for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in args.methods if m not in METHODS]
    if unknown:
        p.error(f"unknown method(s) {unknown}; choose from {list(METHODS)}")
    return args


def schedule(epoch, n_epochs, lr0):
    """(learning_rate, momentum) for 0-based ``epoch``: hold lr0 for the first
    half, then decay linearly so the last epoch runs at lr0 / (n_decay)."""
    momentum = 0.5 if epoch < 5 else 0.9
    hold = n_epochs // 2
    if epoch < hold:
        return lr0, momentum
    n_decay = n_epochs - hold
    return lr0 * (n_epochs - epoch) / n_decay, momentum


def train(args, X_train, method, k):
    import pydbn

    lr0 = args.learning_rate
    model = pydbn.RBM(
        n_components=args.n_components,
        learning_rate=lr0,
        batch_size=args.batch_size,
        n_iter=args.epochs,
        method=method,
        k=k,
        momentum=0.9,
        weight_decay=args.weight_decay,
        random_state=args.seed,
    )
    t0 = time.perf_counter()
    if args.schedule == "constant":
        model.fit(X_train)
    else:
        for epoch in range(args.epochs):
            lr, momentum = schedule(epoch, args.epochs, lr0)
            model.set_params(learning_rate=lr, momentum=momentum)
            model.partial_fit(X_train)
    return model, time.perf_counter() - t0


def main(argv=None):
    args = parse_args(argv)
    import threadpoolctl

    import pydbn
    from pydbn.datasets import load_mnist

    X_train, _ = load_mnist(args.data, kind="train", binarized=True)
    if not args.no_valid:
        X_valid, _ = load_mnist(args.data, kind="valid", binarized=True)
        X_train = np.concatenate([X_train, X_valid])
    X_test, _ = load_mnist(args.data, kind="test", binarized=True)
    if args.n_train is not None:
        # a fixed random subset, so that every method sees the same rows
        rows = np.random.default_rng(args.seed).permutation(len(X_train))[: args.n_train]
        X_train = np.ascontiguousarray(X_train[np.sort(rows)])
    if args.n_test is not None:
        X_test = X_test[: args.n_test]
    X_train_eval = X_train[:10000]

    print(f"# RBM log-likelihood on binarized MNIST (Salakhutdinov & Murray 2008 setting)\n")
    print(f"- {X_train.shape[0]} training rows, {X_test.shape[0]} test rows, float32, "
          f"{args.n_components} hidden units, batch {args.batch_size}, {args.epochs} epochs, "
          f"schedule '{args.schedule}' (lr {args.learning_rate}, weight decay {args.weight_decay})")
    print(f"- AIS: {args.n_chains} chains, {args.n_betas} inverse temperatures, base rates from "
          f"the training data")
    blas = ", ".join(f"{i.get('internal_api')} {i.get('version')} x{i.get('num_threads')}"
                     for i in threadpoolctl.threadpool_info())
    print(f"- pydbn {getattr(pydbn, '__version__', '?')}, Python {platform.python_version()}, "
          f"{os.cpu_count()} CPUs, BLAS: {blas}\n", flush=True)

    rows = []
    for name in args.methods:
        method, k, label = METHODS[name]
        model, train_time = train(args, X_train, method, k)
        t0 = time.perf_counter()
        log_z, log_z_err = model.log_partition(
            method="ais", n_chains=args.n_chains, n_betas=args.n_betas,
            random_state=args.seed, return_std=True,
        )
        ais_time = time.perf_counter() - t0
        log_p_test = -np.asarray(model.free_energy(X_test), dtype=np.float64) - log_z
        log_p_train = -np.asarray(model.free_energy(X_train_eval), dtype=np.float64) - log_z
        sem = np.std(log_p_test, ddof=1) / np.sqrt(log_p_test.size)
        row = (label, train_time, ais_time, log_z, log_z_err, log_p_test.mean(), sem,
               log_p_train.mean(), REFERENCE.get(name, "-"))
        rows.append(row)
        print(f"{label}: trained in {train_time:.1f} s; log Z = {log_z:.2f} +- {log_z_err:.2f} "
              f"(AIS {ais_time:.1f} s); test log p = {log_p_test.mean():.2f}; "
              f"train log p = {log_p_train.mean():.2f}", flush=True)

    print("\n| method | train time (s) | AIS time (s) | log Z (AIS +- std err) "
          "| mean test log p(x) (+- AIS std err) | std err over test rows "
          "| mean train log p(x) | S&M 2008 test |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for label, tt, at, lz, lze, lp, sem, lptr, ref in rows:
        print(f"| {label} | {tt:.1f} | {at:.1f} | {lz:.2f} +- {lze:.2f} | {lp:.2f} +- {lze:.2f} "
              f"| {sem:.2f} | {lptr:.2f} | {ref} |")
    if args.quick:
        print("\n(quick run: far too little training for the figures to mean anything)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
