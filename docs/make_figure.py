"""Draw docs/samples.png, the picture at the top of the README.

Trains an RBM (784-500, PCD-1) and a DBM (784-500-500, variational SML) briefly on 20000
binarized MNIST digits (``pydbn.datasets.load_mnist(binarized=True)``; scikit-learn's 8x8
digits if MNIST is not on the machine, or with ``--digits``) and shows training digits next to
each model's persistent Gibbs chains at the end of training: the 100 "fantasy particles" that
stood for the model's distribution in every update, shown as p(v | h1) of their last state.

Chains started afresh from random states and run on the final, briefly trained models mix
poorly: the RBM's fall into a few digit classes, and many of the DBM's stay in a grey state
that its training chains never visited. Longer training with a learning rate annealed to zero
fixes that (see the quality tables in the README), at far more than this script's budget of
one to two minutes on one core.

    python docs/make_figure.py            # writes docs/samples.png
"""
import argparse
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy.special import expit  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from pydbn import DBM, RBM  # noqa: E402
from pydbn.datasets import load_digits_binary, load_mnist  # noqa: E402
from pydbn.plotting import tile_images  # noqa: E402

N_SHOW = 36  # images per panel, 6 x 6


def load_data(n_rows, digits):
    """Training rows (float32), image shape and a name for the titles."""
    if not digits:
        try:
            X, _ = load_mnist(kind="train", binarized=True)
            return X[np.random.RandomState(0).permutation(len(X))[:n_rows]], (28, 28), "MNIST"
        except FileNotFoundError:
            pass
    X, _ = load_digits_binary()
    return X.astype(np.float32), (8, 8), "8x8 digits"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=Path(__file__).with_name("samples.png"))
    parser.add_argument("--n-rows", type=int, default=20000, help="MNIST training rows")
    parser.add_argument("--digits", action="store_true", help="use the 8x8 digits")
    args = parser.parse_args()
    # One BLAS thread: on a machine busy with other work a second one mostly waits.
    threadpool_limits(1)

    X, shape, data_name = load_data(args.n_rows, args.digits)
    mnist = shape == (28, 28)
    n_hidden = 500 if mnist else 100
    n_visible = X.shape[1]

    start = time.perf_counter()
    rbm = RBM(n_components=n_hidden, learning_rate=0.05 if mnist else 0.1,
              learning_rate_decay=0.2 if mnist else 0.02, momentum=0.5, batch_size=100,
              n_iter=20 if mnist else 500, random_state=0).fit(X)
    print(f"RBM {n_visible}-{n_hidden}: {time.perf_counter() - start:.1f} s")
    start = time.perf_counter()
    dbm = DBM(hidden_layer_sizes=(n_hidden, n_hidden), learning_rate=0.005 if mnist else 0.01,
              learning_rate_decay=0.2 if mnist else 0.05, batch_size=100 if mnist else 20,
              n_iter=5 if mnist else 100, pretrain_n_iter=5 if mnist else 50, n_mean_field=10,
              random_state=0).fit(X)
    print(f"DBM {n_visible}-{n_hidden}-{n_hidden}: {time.perf_counter() - start:.1f} s")

    # p(v | h1) of the chains' last states: the RBM keeps its chains' hidden states in
    # h_samples_, the DBM every layer's in chains_ (chains_[1] is h1).
    rbm_chains = expit(rbm.h_samples_ @ rbm.components_ + rbm.intercept_visible_)
    dbm_chains = expit(dbm.chains_[1] @ dbm.components_[0] + dbm.intercepts_[0])
    panels = {
        f"{data_name}: training digits": X[:N_SHOW],
        f"RBM {n_visible}-{n_hidden}: PCD chains": rbm_chains[:N_SHOW],
        f"DBM {n_visible}-{n_hidden}-{n_hidden}: SML chains": dbm_chains[:N_SHOW],
    }
    fig, axes = plt.subplots(1, len(panels), figsize=(9, 3.3))
    for ax, (title, images) in zip(axes, panels.items()):
        ax.imshow(tile_images(images, shape=shape, n_cols=6, pad=2, scale_each=False,
                              pad_value=1.0), cmap="gray", vmin=0, vmax=1)
        ax.set_title(title, fontsize=10)
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(args.output, dpi=72)
    print(f"wrote {args.output} ({args.output.stat().st_size / 1024:.0f} KB)")


if __name__ == "__main__":
    main()
