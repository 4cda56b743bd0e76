"""Command line of pydbn: ``python -m pydbn <command> ...``.

Commands
--------
demo
    Train an RBM on scikit-learn's 8x8 digits (the classic
    ``BernoulliRBM`` example: 1-pixel shifts make the training set 5 times
    larger), then print the fit time, the pseudo-log-likelihood per epoch, the
    accuracy of RBM features + logistic regression against logistic
    regression on raw pixels, and the test log-likelihood estimated by
    annealed importance sampling; write ``samples.png`` and ``filters.png``.

fit
    Train a model (rbm, dbn, dbm, vpf, adbn, dcim) on a named data set or a ``.npy`` file
    and save it (joblib).
sample
    Draw samples from a saved model and write them as a PNG grid.
evaluate
    Print what each model can say about data: log-likelihood (exact or AIS) for an RBM, the
    AIS bound for a DBN or DBM, the MPF objective for VPF, the Sec. 3.3 estimate for an
    AdversarialDBN, accuracy and reverse log-likelihood for a DCIM.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np


def _nudge(images, labels):
    """The training set and four copies shifted by one pixel (up, down, left, right).

    images : (n, 8, 8). Vacated pixels are 0, as in scikit-learn's RBM example.
    """
    h, w = images.shape[1:]

    def shifted(dy, dx):
        out = np.zeros_like(images)
        out[:, max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = images[
            :, max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)
        ]
        return out

    shifts = [(-1, 0), (1, 0), (0, -1), (0, 1)]
    X = np.concatenate([images] + [shifted(dy, dx) for dy, dx in shifts])
    y = np.concatenate([labels] * (1 + len(shifts)))
    return X, y


def _upscale(mosaic, factor):
    """Nearest-neighbour enlargement so 8x8 tiles are visible in an image viewer."""
    return np.kron(mosaic, np.ones((factor, factor)))


def _demo(args):
    from sklearn.datasets import load_digits
    from sklearn.frozen import FrozenEstimator
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import minmax_scale

    import pydbn
    from pydbn.plotting import save_png, tile_images

    quick = args.quick
    n_iter = args.n_iter if args.n_iter is not None else (5 if quick else 20)
    n_betas = 1000 if quick else 5000
    n_steps = 200 if quick else 1000
    t_start = time.perf_counter()

    digits = load_digits()
    images = digits.images.astype(np.float32)
    y = digits.target
    if not (quick or args.no_nudge):
        images, y = _nudge(images, y)
    X = minmax_scale(images.reshape(len(images), -1), feature_range=(0, 1)).astype(np.float32)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=0)
    print(
        f"pydbn {getattr(pydbn, '__version__', '?')} demo: 8x8 digits"
        f"{'' if quick or args.no_nudge else ' (x5 by 1-pixel shifts)'}, "
        f"{X_train.shape[0]} training / {X_test.shape[0]} test rows, float32"
    )

    rbm = pydbn.RBM(
        n_components=100,
        learning_rate=0.06,
        batch_size=10,
        n_iter=n_iter,
        random_state=0,
    )
    t0 = time.perf_counter()
    rbm.fit(X_train)
    fit_time = time.perf_counter() - t0
    print(f"\nRBM(n_components=100, learning_rate=0.06, batch_size=10, n_iter={n_iter}): "
          f"fit in {fit_time:.2f} s")

    history = getattr(rbm, "history_", None) or {}
    pl = history.get("pseudo_likelihood", [])
    if pl:
        epochs = history.get("epoch", list(range(1, len(pl) + 1)))
        times = history.get("time", [float("nan")] * len(pl))
        print("\n epoch | pseudo-log-likelihood | time (s)")
        print("-------|-----------------------|---------")
        for e, v, t in zip(epochs, pl, times):
            print(f" {int(e):5d} | {float(v):21.3f} | {float(t):7.3f}")

    # Logistic regression on the RBM's features (the RBM is already fitted:
    # FrozenEstimator keeps Pipeline.fit from training it again) vs raw pixels.
    rbm_logistic = Pipeline(
        [
            ("rbm", FrozenEstimator(rbm)),
            ("logistic", LogisticRegression(C=6000, max_iter=10000, tol=1e-3)),
        ]
    ).fit(X_train, y_train)
    raw_logistic = LogisticRegression(C=100, max_iter=10000, tol=1e-3).fit(X_train, y_train)
    acc_rbm = rbm_logistic.score(X_test, y_test)
    acc_raw = raw_logistic.score(X_test, y_test)
    print("\nclassifier                                   | test accuracy")
    print("---------------------------------------------|--------------")
    print(f"Pipeline(RBM, LogisticRegression(C=6000))    | {acc_rbm:.4f}")
    print(f"LogisticRegression(C=100) on raw pixels      | {acc_raw:.4f}")

    # log p(x) = -F(x) - log Z, log Z by AIS (100 hidden units: too many to enumerate).
    t0 = time.perf_counter()
    log_z, log_z_err = rbm.log_partition(
        method="ais", n_betas=n_betas, random_state=0, return_std=True
    )
    ais_time = time.perf_counter() - t0
    log_p = -rbm.free_energy(X_test) - log_z
    sem = float(np.std(log_p, ddof=1) / np.sqrt(log_p.size))
    print(
        f"\nlog Z (AIS, {n_betas} betas) = {log_z:.3f} +- {log_z_err:.3f}  ({ais_time:.2f} s)"
        f"\nmean test log p(x) = {float(np.mean(log_p)):.3f} +- {sem:.3f} (std err over rows)"
        f" +- {log_z_err:.3f} (AIS std err of log Z) nats"
        f"\n  (the pixels are grey levels in [0, 1], not binary: this is -F(x) - log Z"
        f" of a binary RBM evaluated at them, useful for comparing models, not a density)"
    )

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    # p(v | h) of the last Gibbs step of each chain: the same draws, easier on the eye
    samples = rbm.sample(n_samples=100, n_steps=n_steps, random_state=0, return_means=True)
    samples_png = save_png(
        out / "samples.png", _upscale(tile_images(samples, shape=(8, 8), n_cols=10), 4)
    )
    filters_png = save_png(
        out / "filters.png",
        _upscale(tile_images(rbm.components_, shape=(8, 8), n_cols=10), 4),
    )
    print(f"\n100 samples ({n_steps} Gibbs steps, p(v|h) of the last): {samples_png.resolve()}")
    print(f"100 filters (components_):             {filters_png.resolve()}")
    print(f"\ndemo finished in {time.perf_counter() - t_start:.1f} s")
    return 0


def _load_data(name, kind="train", labels=False):
    """X (and y when labels) for a data-set name (digits, mnist, mnist-binarized,
    fashion-mnist) or a .npy path (no labels)."""
    from . import datasets

    loaded = None
    if name == "digits":
        loaded = datasets.load_digits_binary()
    elif name == "mnist":
        loaded = datasets.load_mnist(kind=kind)
    elif name == "mnist-binarized":
        loaded = datasets.load_mnist(kind=kind, binarized=True)
    elif name == "fashion-mnist":
        loaded = datasets.load_fashion_mnist(kind=kind)
    elif name.endswith(".npy"):
        if labels:
            raise SystemExit("a .npy file has no labels: drop --labels")
        return np.load(name, mmap_mode="r")
    if loaded is not None:
        if labels and loaded[1] is None:
            raise SystemExit(f"{name!r} has no labels here: drop --labels")
        return loaded if labels else loaded[0]
    raise SystemExit(f"unknown data {name!r}: digits, mnist, mnist-binarized, fashion-mnist or a .npy file")


def _hidden_sizes(text):
    try:
        sizes = tuple(int(s) for s in text.split(","))
    except ValueError:
        raise SystemExit(f"--hidden must be comma-separated integers, got {text!r}") from None
    return sizes


_MODELS = ("rbm", "dbn", "dbm", "vpf", "adbn", "dcim")


def _build(args):
    """The estimator the fit command asks for; unset options keep the estimator's defaults."""
    from . import DBM, DBN, DCIM, RBM, VPF, AdversarialDBN

    cls = {"rbm": RBM, "dbn": DBN, "dbm": DBM, "vpf": VPF, "adbn": AdversarialDBN,
           "dcim": DCIM}[args.model]
    given = dict(learning_rate=args.learning_rate, batch_size=args.batch_size,
                 n_iter=args.n_iter, method=args.method, k=args.k, momentum=args.momentum,
                 weight_decay=args.weight_decay, random_state=args.random_state,
                 verbose=args.verbose, lateral=args.lateral or None, loss=args.loss,
                 objective=args.objective)
    accepted = cls().get_params()
    kwargs = {k: v for k, v in given.items() if v is not None and k in accepted}
    if args.model == "rbm":
        kwargs["n_components"] = args.n_components
    else:
        kwargs["hidden_layer_sizes"] = _hidden_sizes(args.hidden)
    if args.model == "dbn":
        kwargs.update(fine_tune="up-down" if args.n_iter_fine_tune > 0 else None,
                      n_iter_fine_tune=args.n_iter_fine_tune)
    return cls(**kwargs)


def _fit(args):
    from .persistence import save_model

    if args.labels and args.model not in ("dbn", "adbn", "dcim"):
        raise SystemExit("--labels needs --model dbn, adbn or dcim")
    if args.model == "dcim" and not args.labels:
        raise SystemExit("a DCIM is a classifier: pass --labels")
    loaded = _load_data(args.data, labels=args.labels)
    X, y = loaded if args.labels else (loaded, None)
    if args.binarize is not None:
        X = (np.asarray(X) > args.binarize).astype(np.float32)
    model = _build(args)
    start = time.perf_counter()
    model.fit(X, y)
    save_model(model, args.out)
    print(f"trained {model!r} on {X.shape[0]} x {X.shape[1]} in {time.perf_counter() - start:.1f} s")
    print(f"saved to {args.out}")
    return 0


def _label(model, label):
    """A --label as the model's class type ("3" -> 3 for integer classes)."""
    classes = getattr(model, "classes_", None)
    if label is None or classes is None:
        return label
    return np.asarray(label).astype(classes.dtype)


def _sample(args):
    from .persistence import load_model
    from .plotting import save_png, tile_images

    from . import DBM, DBN, DCIM, VPF, AdversarialDBN

    model = load_model(args.model)
    label = _label(model, args.label)
    labelled = isinstance(model, (DBN, AdversarialDBN, DCIM))
    if label is not None and not labelled:
        raise SystemExit("--label needs a DBN, AdversarialDBN or DCIM fitted with labels")
    n, steps, rs = args.n_samples, args.n_steps, args.random_state
    if isinstance(model, DBN):
        samples = model.sample(n, y=label, n_gibbs=1000 if steps is None else steps,
                               random_state=rs, return_means=not args.states)
    elif isinstance(model, DBM):
        samples = model.sample(n, n_gibbs=1000 if steps is None else steps, random_state=rs,
                               return_means=not args.states)
    elif isinstance(model, VPF):
        samples = model.sample(n, n_gibbs=steps, binary=args.states, random_state=rs)
    elif isinstance(model, AdversarialDBN):
        if model.classes_ is not None and label is None:
            label = np.resize(model.classes_, n)  # every class in turn
        samples = model.sample(n, y=label, return_probabilities=not args.states,
                               random_state=rs)
    elif isinstance(model, DCIM):
        labels = np.resize(model.classes_, n) if label is None else np.repeat(label, n)
        samples = model.sample(labels, random_state=rs)
    else:
        samples = model.sample(n, n_steps=1000 if steps is None else steps, random_state=rs,
                               return_means=not args.states)
    side = int(round(np.sqrt(samples.shape[1])))
    shape = (side, side) if side * side == samples.shape[1] else (1, samples.shape[1])
    save_png(args.out, tile_images(samples, shape=shape))
    print(f"{n} samples written to {args.out}")
    return 0


def _evaluate(args):
    from .persistence import load_model

    from . import DBM, DBN, DCIM, VPF, AdversarialDBN

    model = load_model(args.model)
    needs_y = isinstance(model, DCIM) or (
        isinstance(model, (DBN, AdversarialDBN)) and model.classes_ is not None)
    loaded = _load_data(args.data, kind=args.kind, labels=needs_y)
    X, y = loaded if needs_y else (loaded, None)
    if args.binarize is not None:
        X = (np.asarray(X) > args.binarize).astype(np.float32)
    if isinstance(model, DBN):
        return _evaluate_dbn(model, X, y, args)
    if isinstance(model, DBM):
        log_z, std = model.log_partition("ais", n_chains=args.n_chains, n_betas=args.n_betas,
                                         random_state=0, return_std=True)
        bound = model.lower_bound(X, log_z=log_z)
        print(f"log Z (ais): {log_z:.3f} +- {std:.3f}")
        print(f"mean lower bound on log p(x): {bound.mean():.3f} nats (+- {std:.3f} from log Z)")
        return 0
    if isinstance(model, VPF):
        print(f"MPF objective (flow out of the data, lower is better): "
              f"{model.objective(X, random_state=0):.4f}")
        return 0
    if isinstance(model, AdversarialDBN):
        ll = model.log_likelihood(X, y, n_samples=args.n_samples, random_state=0)
        print(f"mean log p(x) (Sec. 3.3 estimate, {args.n_samples} samples): {ll.mean():.3f} "
              "nats")
        return 0
    if isinstance(model, DCIM):
        print(f"accuracy: {model.score(X, y):.4f}")
        print(f"mean reverse log q(x | y): {model.reverse_log_likelihood(X, y).mean():.3f} nats")
        return 0
    print(f"pseudo-log-likelihood: {model.score_samples(X).mean():.3f}")
    log_z, std = model.log_partition(args.method, n_chains=args.n_chains, n_betas=args.n_betas,
                                     random_state=0, return_std=True)
    ll = model.log_likelihood(X, log_z=log_z)
    print(f"log Z ({args.method}): {log_z:.3f} +- {std:.3f}")
    print(f"mean log p(x): {ll.mean():.3f} nats (+- {std:.3f} from log Z)")
    return 0


def _evaluate_dbn(model, X, y, args):
    if model.classes_ is not None:
        print(f"accuracy: {model.score(X, y):.4f}")
    log_z, std = model.log_partition(args.method, n_chains=args.n_chains, n_betas=args.n_betas,
                                     random_state=0, return_std=True)
    bound = model.lower_bound(X, args.method, log_z=log_z, random_state=0)
    print(f"log Z ({args.method}): {log_z:.3f} +- {std:.3f}")
    print(f"mean lower bound on log p(x): {bound.mean():.3f} nats (+- {std:.3f} from log Z)")
    return 0


def build_parser():
    """The argument parser, one sub-parser per command."""
    parser = argparse.ArgumentParser(
        prog="python -m pydbn",
        description="pydbn: Boltzmann machines with a scikit-learn API.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    demo = commands.add_parser(
        "demo",
        help="train an RBM on 8x8 digits and report what it learned",
        description=(
            "Train pydbn.RBM(n_components=100, learning_rate=0.06, batch_size=10) on "
            "scikit-learn's 8x8 digits scaled to [0, 1], print fit time, pseudo-"
            "log-likelihood per epoch, classification accuracy of RBM features vs raw "
            "pixels and the AIS test log-likelihood, and write samples.png and filters.png."
        ),
    )
    demo.add_argument("--out", default=".", help="folder for samples.png and filters.png (default: .)")
    demo.add_argument("--n-iter", type=int, default=None, help="training epochs (default 20; 5 with --quick)")
    demo.add_argument("--quick", action="store_true",
                      help="smoke run: no shifted copies, 5 epochs, shorter AIS and sampling")
    demo.add_argument("--no-nudge", action="store_true",
                      help="train on the 1797 digits only, without the 1-pixel shifted copies")
    demo.set_defaults(func=_demo)

    fit = commands.add_parser("fit", help="train a model and save it (joblib)")
    fit.add_argument("--model", choices=_MODELS, default="rbm")
    fit.add_argument("--hidden", default="500,500",
                     help="hidden layer sizes of every model but the RBM, comma-separated "
                          "(default 500,500)")
    fit.add_argument("--labels", action="store_true",
                     help="train with the data set's labels (DBN label units, conditional "
                          "AdversarialDBN; required by DCIM)")
    fit.add_argument("--lateral", action="store_true", help="VPF: lateral weights")
    fit.add_argument("--loss", choices=["gan", "wgan", "mle"], default=None,
                     help="AdversarialDBN loss (default gan)")
    fit.add_argument("--objective", choices=["bidirectional", "sampled", "discriminative"],
                     default=None, help="DCIM objective (default bidirectional)")
    fit.add_argument("--n-iter-fine-tune", type=int, default=0,
                     help="DBN: up-down fine-tuning epochs (default 0: none)")
    fit.add_argument("--data", default="digits",
                     help="digits, mnist, mnist-binarized, fashion-mnist or a .npy file")
    fit.add_argument("--binarize", type=float, default=None, help="threshold the data at this value")
    fit.add_argument("--out", default="model.joblib", help="output file (default model.joblib)")
    fit.add_argument("--n-components", type=int, default=256, help="RBM hidden units")
    fit.add_argument("--learning-rate", type=float, default=None,
                     help="default: the model's own (RBM/DBN 0.1)")
    fit.add_argument("--batch-size", type=int, default=None, help="default: the model's own")
    fit.add_argument("--n-iter", type=int, default=None, help="default: the model's own")
    fit.add_argument("--method", choices=["pcd", "cd", "vpf"], default=None,
                     help="RBM/DBN training method (default pcd)")
    fit.add_argument("--k", type=int, default=None)
    fit.add_argument("--momentum", type=float, default=None)
    fit.add_argument("--weight-decay", type=float, default=None)
    fit.add_argument("--random-state", type=int, default=0)
    fit.add_argument("--verbose", type=int, default=1)
    fit.set_defaults(func=_fit)

    sample = commands.add_parser("sample", help="draw samples from a saved model into a PNG")
    sample.add_argument("model", help="a file written by 'fit' (pydbn.save_model)")
    sample.add_argument("--out", default="samples.png")
    sample.add_argument("--n-samples", type=int, default=100)
    sample.add_argument("--n-steps", type=int, default=None,
                        help="Gibbs steps (RBM, DBM, DBN top RBM: default 1000; VPF: per pair "
                             "of layers, default the model's)")
    sample.add_argument("--label", default=None,
                        help="models fitted with labels: the class to generate (a label as in "
                             "the data; default every class in turn)")
    sample.add_argument("--random-state", type=int, default=0)
    sample.add_argument("--states", action="store_true",
                        help="binary states instead of p(v | h) of the last step")
    sample.set_defaults(func=_sample)

    evaluate = commands.add_parser("evaluate", help="likelihoods of data under a saved model")
    evaluate.add_argument("model")
    evaluate.add_argument("--data", default="digits")
    evaluate.add_argument("--kind", default="test", help="train/test (valid for mnist-binarized)")
    evaluate.add_argument("--binarize", type=float, default=None)
    evaluate.add_argument("--method", choices=["exact", "ais"], default="ais")
    evaluate.add_argument("--n-chains", type=int, default=100)
    evaluate.add_argument("--n-betas", type=int, default=14500)
    evaluate.add_argument("--n-samples", type=int, default=10000,
                          help="AdversarialDBN: forward samples of the Sec. 3.3 estimate")
    evaluate.set_defaults(func=_evaluate)
    return parser


def main(argv=None):
    """Run the command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ValueError as exc:  # bad settings or data: a message, not a traceback
        raise SystemExit(f"error: {exc}") from None


if __name__ == "__main__":
    sys.exit(main())
