"""Adversarial deep belief networks (Huang, Panahi, Krim, Yu & Smith): a DBN as the generator of
a GAN, trained by score-function gradients - no backpropagation through the DBN."""
import time
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from . import _core
from .persistence import FormatVersionMixin
from ._progress import say
from ._base import InterruptGuard, StreamMixin, as_source, keep_input_attributes_on_failure
from ._base import is_dask_collection, layer_sizes, partial_fit_dask
from ._base import blas_threads_for, on_main_thread
from .rbm import _check_positive_int, _label_array

_LOSS = {"gan": _core.LOSS_GAN, "wgan": _core.LOSS_WGAN, "mle": _core.LOSS_MLE}
_ACT = {"relu": _core.ACT_RELU, "leaky_relu": _core.ACT_LEAKY_RELU, "tanh": _core.ACT_TANH,
        "sigmoid": _core.ACT_SIGMOID, "identity": _core.ACT_IDENTITY}
# generator steps per core call: history, verbose output and Ctrl-C between chunks
_CHUNK = 100


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))


class AdversarialDBN(FormatVersionMixin, StreamMixin, BaseEstimator):
    """Deep belief network trained as the generator of a GAN, without backpropagation.

    The generator is a DBN in its forward form (text 000, Eq. 1-2): the first layer h^1 has
    independent units with p(h^1_i = 1) = sigmoid(b^1_i), each next layer is Bernoulli with
    p(h^l_i = 1 | h^{l-1}) = sigmoid(b^l_i + W^{l-1}_i . h^{l-1}), and the last layer lives in
    data space. A dense discriminator f scores real and generated rows; training solves the
    min-max problem of Eq. 6, ``min_theta max_rho E phi(f(X)) + E psi(f(Y))``: the
    discriminator ascends by backpropagation (Eq. 7), the generator descends by the
    score-function estimate of Eq. 9, ``mean_i psi(f(y_i)) d log p(h_i) / d theta``, whose
    per-layer terms need only the sampled states of two neighbouring layers.

    Parameters
    ----------
    hidden_layer_sizes : int or sequence of int, default=(64, 64)
        Widths of the generator's layers before the data layer, h^1 first (the text's digits
        model is 64-64-64: ``(64, 64)`` for 64 pixels). With labels (``fit(X, y)``) a one-hot
        label layer is prepended as h^1 (conditional mode, as in the text).
    discriminator_layer_sizes : int or sequence of int, default=(64,)
        Hidden widths of the discriminator (the text: 64-64-1, i.e. ``(64,)``).
    discriminator_activation : {'relu', 'leaky_relu', 'tanh', 'sigmoid'}, default='relu'
        Activation of the discriminator's hidden layers (its output layer is linear; the loss
        applies its head).
    loss : {'gan', 'wgan', 'mle'}, default='gan'
        (phi, psi) of Eq. 5: 'gan' phi = log f, psi = log(1 - f) with f = sigmoid(a); 'wgan'
        phi = f, psi = -f with f = a and the discriminator's weights clipped to ``[-clip,
        clip]`` after every step; 'mle' phi = log f, psi = -f with f = exp(a) > 0 (at the
        optimum f is the density ratio and the objective KL(data || model) - 1).
    n_iter : int, default=1000
        Generator updates of ``fit`` (each after ``n_critic`` discriminator updates).
    batch_size : int, default=64
        Real and generated rows per update.
    n_critic : int, default=1
        Discriminator updates per generator update (WGAN commonly uses 5).
    learning_rate : float, default=1e-3
        Generator step size.
    discriminator_learning_rate : float, default=1e-3
        Discriminator step size.
    optimizer : {'adam', 'rmsprop', 'sgd'}, default='adam'
        Optimizer of both players (the text compares the three).
    beta_1, beta_2, epsilon : float, default=0.5, 0.999, 1e-8
        Adam's parameters (0.5 is the common GAN choice for beta_1).
    rho : float, default=0.9
        RMSprop's decay rate.
    momentum : float, default=0.0
        SGD momentum.
    clip : float, default=0.01
        WGAN weight clipping bound.
    baseline : bool, default=True
        Subtract from psi(f(y_i)) in Eq. 9 the mean of psi over the other samples of the
        minibatch (a leave-one-out baseline: independent of sample i, so the estimate stays
        unbiased, with far lower variance). False reproduces the text's estimator.
    weight_decay : float, default=0.0
        L2 penalty on both players' weights.
    random_state : int, RandomState instance or None, default=None
    verbose : int, default=0
        Print the objectives every 100 generator updates.

    Attributes
    ----------
    components_ : list of ndarray
        Generator weights, ``components_[l]`` of shape (n_{l+1}, n_l), the data layer last.
    intercepts_ : list of ndarray
        Generator biases of every layer, h^1 first.
    discriminator_weights_, discriminator_intercepts_ : list of ndarray
        Discriminator layers, weights of shape (n_out, n_in).
    classes_ : ndarray or None
        Class labels in conditional mode.
    history_ : dict of lists
        Per generator update: ``'discriminator_objective'`` (E phi(f(X)) + E psi(f(Y)) on the
        last critic step's minibatches), ``'generator_objective'`` (E psi(f(Y))),
        ``'real_score'`` and ``'fake_score'`` (mean f on real and generated rows).
    n_iter_ : int
        Generator updates made.
    n_features_in_ : int
    feature_names_in_ : ndarray

    Examples
    --------
    >>> import numpy as np
    >>> from pydbn import AdversarialDBN
    >>> X = (np.random.RandomState(0).rand(200, 16) > 0.5).astype(float)
    >>> gan = AdversarialDBN(hidden_layer_sizes=(8,), n_iter=20, random_state=0).fit(X)
    >>> gan.sample(3).shape
    (3, 16)
    """

    _parameter_constraints: dict = {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "discriminator_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "discriminator_activation": [StrOptions({"relu", "leaky_relu", "tanh", "sigmoid"})],
        "loss": [StrOptions({"gan", "wgan", "mle"})],
        "n_iter": [Interval(Integral, 0, None, closed="left")],
        "batch_size": [Interval(Integral, 2, 2**29 - 1, closed="both")],  # the core's limit
        "n_critic": [Interval(Integral, 1, 2**63 - 1, closed="both")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "discriminator_learning_rate": [Interval(Real, 0, None, closed="neither")],
        "optimizer": [StrOptions({"adam", "rmsprop", "sgd"})],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "rho": [Interval(Real, 0, 1, closed="left")],
        "momentum": [Interval(Real, 0, 1, closed="left")],
        "clip": [Interval(Real, 0, None, closed="neither")],
        "baseline": ["boolean"],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        hidden_layer_sizes=(64, 64),
        *,
        discriminator_layer_sizes=(64,),
        discriminator_activation="relu",
        loss="gan",
        n_iter=1000,
        batch_size=64,
        n_critic=1,
        learning_rate=1e-3,
        discriminator_learning_rate=1e-3,
        optimizer="adam",
        beta_1=0.5,
        beta_2=0.999,
        epsilon=1e-8,
        rho=0.9,
        momentum=0.0,
        clip=0.01,
        baseline=True,
        weight_decay=0.0,
        random_state=None,
        verbose=0,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.discriminator_layer_sizes = discriminator_layer_sizes
        self.discriminator_activation = discriminator_activation
        self.loss = loss
        self.n_iter = n_iter
        self.batch_size = batch_size
        self.n_critic = n_critic
        self.learning_rate = learning_rate
        self.discriminator_learning_rate = discriminator_learning_rate
        self.optimizer = optimizer
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.rho = rho
        self.momentum = momentum
        self.clip = clip
        self.baseline = baseline
        self.weight_decay = weight_decay
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ plumbing

    @staticmethod
    def _widths(value, name, allow_empty):
        return layer_sizes(value, f"{name} must hold positive integers",
                           minimum=0 if allow_empty else 1)

    def _dtype(self):
        return self.intercepts_[0].dtype

    @property
    def _conditional(self):
        return self.classes_ is not None

    def _generator(self):
        return (list(self.components_), list(self.intercepts_), self._conditional)

    def _discriminator(self):
        act = _ACT[self.discriminator_activation]
        n = len(self.discriminator_weights_)
        return (list(self.discriminator_weights_), list(self.discriminator_intercepts_),
                [act] * (n - 1) + [_core.ACT_IDENTITY])

    def _optim(self, lr):
        return (self.optimizer, float(lr), float(self.momentum), float(self.beta_1),
                float(self.beta_2), float(self.rho), float(self.epsilon),
                float(self.weight_decay))

    # ------------------------------------------------------------------ training

    def _validate_xy(self, X, y, reset):
        dtype = (np.float64, np.float32) if reset else self._dtype()
        X = validate_data(self, X, accept_sparse="csr", dtype=dtype, reset=reset)
        if X.shape[0] < 2:
            raise ValueError(f"at least 2 training rows are needed, got n_samples={X.shape[0]}")
        labels = None
        if y is not None:
            y = column_or_1d(y, warn=True)
            if y.shape[0] != X.shape[0]:
                raise ValueError(f"y must hold one label per row of X: {y.shape[0]} labels, "
                                 f"{X.shape[0]} rows")
            check_classification_targets(y)
            if reset:
                classes, labels = np.unique(y, return_inverse=True)
                return X, labels.astype(np.int64), classes
            if not self._conditional:
                raise ValueError("this model was fitted without labels; partial_fit cannot add "
                                 "them")
            known = np.isin(y, self.classes_)
            if not known.all():
                raise ValueError(f"y holds labels not seen by fit: {np.unique(y[~known])}")
            labels = np.searchsorted(self.classes_, y).astype(np.int64)
            return X, labels, self.classes_
        if not reset and self._conditional:
            raise ValueError("this model was fitted with labels; pass y")
        return X, None, None

    def _initialize(self, X, classes, rng):
        hidden = self._widths(self.hidden_layer_sizes, "hidden_layer_sizes", allow_empty=True)
        dhidden = self._widths(self.discriminator_layer_sizes, "discriminator_layer_sizes",
                               allow_empty=True)
        n_features = X.shape[1]
        dtype = X.dtype
        head = (len(classes),) if classes is not None else ()
        sizes = head + hidden + (n_features,)
        if len(sizes) < 2:
            raise ValueError("the generator needs at least one layer before the data layer "
                             "(hidden_layer_sizes, or labels)")
        weights = [np.ascontiguousarray(rng.normal(0, 0.01, (sizes[l + 1], sizes[l])),
                                        dtype=dtype) for l in range(len(sizes) - 1)]
        biases = [np.zeros(n, dtype=dtype) for n in sizes]
        # the data layer starts at the data's marginals
        mean = np.asarray(X.mean(axis=0)).ravel()
        p = np.clip(mean, 1e-3, 1 - 1e-3)
        biases[-1][...] = np.log(p) - np.log1p(-p)
        dsizes = (n_features + (len(classes) if classes is not None else 0),) + dhidden + (1,)
        dweights, dbiases = [], []
        for k in range(len(dsizes) - 1):
            bound = np.sqrt(6.0 / (dsizes[k] + dsizes[k + 1]))  # Glorot uniform
            dweights.append(np.ascontiguousarray(
                rng.uniform(-bound, bound, (dsizes[k + 1], dsizes[k])), dtype=dtype))
            dbiases.append(np.zeros(dsizes[k + 1], dtype=dtype))
        if self.loss == "wgan":
            for w in dweights:
                np.clip(w, -self.clip, self.clip, out=w)
        self.components_ = weights
        self.intercepts_ = biases
        self.discriminator_weights_ = dweights
        self.discriminator_intercepts_ = dbiases
        self.classes_ = classes
        self.n_iter_ = 0
        self.history_ = {"discriminator_objective": [], "generator_objective": [],
                         "real_score": [], "fake_score": []}
        gen = weights + biases
        dis = dweights + dbiases
        self._g_state = ([np.zeros_like(a) for a in gen], [np.zeros_like(a) for a in gen])
        self._d_state = ([np.zeros_like(a) for a in dis], [np.zeros_like(a) for a in dis])
        self._t = [0, 0]
        self._reset_stream(rng)

    def _train(self, source, labels, n_steps):
        width = max(w.shape[0] for w in self.intercepts_ + self.discriminator_intercepts_)
        width = max(width, self.discriminator_weights_[0].shape[1])
        with blas_threads_for(2 * int(self.batch_size), width), InterruptGuard(
                n_steps, "AdversarialDBN", unit="step") as guard:
            done = 0
            while done < n_steps:
                chunk = min(_CHUNK, n_steps - done)
                stats = tuple(np.zeros(chunk) for _ in range(4))
                seed, epoch = self._next_stream()
                begin = time.perf_counter()
                self._t[0], self._t[1] = _core.adbn_train(
                    self._generator(), self._discriminator(), source, labels, chunk,
                    self._g_state, self._d_state, int(self._t[0]), int(self._t[1]), stats,
                    loss=_LOSS[self.loss],
                    batch_size=int(self.batch_size),
                    n_critic=int(self.n_critic),
                    clip=float(self.clip),
                    baseline=bool(self.baseline),
                    gen_optimizer=self._optim(self.learning_rate),
                    dis_optimizer=self._optim(self.discriminator_learning_rate),
                    seed=seed,
                    epoch=epoch,
                    check_signals=on_main_thread(),
                    guard=guard,
                )
                elapsed = time.perf_counter() - begin
                for key, values in zip(("discriminator_objective", "generator_objective",
                                        "real_score", "fake_score"), stats):
                    self.history_[key].extend(values.tolist())
                self.n_iter_ += chunk
                done += chunk
                if self.verbose:
                    say("[AdversarialDBN] Iteration %d, discriminator objective = %.4f, "
                          "generator objective = %.4f, real score = %.3f, fake score = %.3f, "
                          "time = %.2fs" % (self.n_iter_, stats[0][-1], stats[1][-1],
                                            stats[2][-1], stats[3][-1], elapsed))
                guard.check(chunk)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Adversarial training for ``n_iter`` generator updates from a fresh model.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Binary data (values in [0, 1] are shown to the discriminator as they are).
        y : array-like of shape (n_samples,), default=None
            Labels: train a conditional generator whose first layer is the one-hot label and
            whose discriminator sees (label, row) pairs (the text's conditional DBN).

        Returns
        -------
        self : AdversarialDBN
        """
        self._widths(self.hidden_layer_sizes, "hidden_layer_sizes", allow_empty=True)
        self._widths(self.discriminator_layer_sizes, "discriminator_layer_sizes",
                     allow_empty=True)
        with keep_input_attributes_on_failure(self):
            X, labels, classes = self._validate_xy(X, y, reset=True)
            self._initialize(X, classes, check_random_state(self.random_state))
        self._train(as_source(X, X.dtype), labels, self.n_iter)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None):
        """About one pass over X: ``max(1, n_samples // batch_size)`` generator updates (the
        first call initializes the model).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            A ``numpy.memmap`` is read in place; a dask array or dataframe is computed one row
            block at a time, in order, each block passed to ``partial_fit`` in turn with its
            rows of y (blocks before a failing one have already trained the model).
        y : array-like of shape (n_samples,), default=None
            Labels, required in conditional mode (and only then).

        Returns
        -------
        self : AdversarialDBN
        """
        if is_dask_collection(X):
            return partial_fit_dask(self, X, y)
        self._validate_params()  # skipped by scikit-learn for partial_fit once fitted
        self._widths(self.hidden_layer_sizes, "hidden_layer_sizes", allow_empty=True)
        self._widths(self.discriminator_layer_sizes, "discriminator_layer_sizes",
                     allow_empty=True)
        first = not hasattr(self, "components_")
        with keep_input_attributes_on_failure(self):
            X, labels, classes = self._validate_xy(X, y, reset=first)
            if first:
                self._initialize(X, classes, check_random_state(self.random_state))
        steps = max(1, X.shape[0] // int(self.batch_size))
        self._train(as_source(X, self._dtype()), labels, steps)
        return self

    # ------------------------------------------------------------------ generation

    def _labels_for(self, n_samples, y):
        if not self._conditional:
            if y is not None:
                raise ValueError("this model was fitted without labels; y must be None")
            return None
        if y is None:
            raise ValueError("this model is conditional: pass y (one label, or one per sample)")
        y = _label_array(y)
        if y.ndim == 0:
            y = np.repeat(y, n_samples)
        if y.shape != (n_samples,):
            raise ValueError(f"y must be one label or {n_samples} labels, got shape {y.shape}")
        known = np.isin(y, self.classes_)
        if not known.all():
            raise ValueError(f"unknown labels: {np.unique(y[~known])}")
        return np.ascontiguousarray(np.searchsorted(self.classes_, y), dtype=np.int64)

    def _forward(self, n_samples, y, random_state):
        labels = self._labels_for(n_samples, y)
        states = [np.empty((n_samples, b.shape[0]), dtype=self._dtype())
                  for b in self.intercepts_]
        probs = np.empty((n_samples, self.intercepts_[-1].shape[0]), dtype=self._dtype())
        seed, epoch = self._next_stream(random_state)
        _core.adbn_sample(self._generator(), n_samples, labels, seed, epoch, states, probs,
                          on_main_thread())
        return states, probs

    def sample(self, n_samples=1, y=None, *, return_probabilities=False, random_state=None):
        """Forward samples of the generator.

        Parameters
        ----------
        n_samples : int, default=1
        y : label or array-like of shape (n_samples,), default=None
            Labels of the samples in conditional mode (required then).
        return_probabilities : bool, default=False
            Return p(h^L = 1 | h^{L-1}) - the grey-scale images of the text's figures -
            instead of binary states.
        random_state : int, RandomState instance or None, default=None

        Returns
        -------
        samples : ndarray of shape (n_samples, n_features)
        """
        check_is_fitted(self)
        n_samples = _check_positive_int(n_samples, "n_samples", minimum=0)
        states, probs = self._forward(n_samples, y, random_state)
        return probs if return_probabilities else states[-1]

    def log_likelihood(self, X, y=None, *, n_samples=1000, random_state=None):
        """The total-probability estimate of log p(x) (text 000, Sec. 3.3).

        ``log (1/S) sum_s p_L(x | h^{L-1}_s)`` over S forward samples of the layer below the
        data (for each row's label in conditional mode). Its expectation is below log p(x)
        (Jensen) and it converges to it as S grows.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_rows, n_features)
            Binary rows.
        y : array-like of shape (n_rows,), default=None
            Labels, required in conditional mode (and only then): the estimate is of
            log p(x | y).
        n_samples : int, default=1000
        random_state : int, RandomState instance or None, default=None

        Returns
        -------
        log_p : ndarray of shape (n_rows,)
        """
        check_is_fitted(self)
        X = validate_data(self, X, accept_sparse="csr", dtype=self._dtype(), reset=False)
        n_samples = _check_positive_int(n_samples, "n_samples")
        Xd = np.asarray(X.toarray() if hasattr(X, "toarray") else X, dtype=np.float64)
        W, b = self.components_[-1].astype(np.float64), self.intercepts_[-1].astype(np.float64)
        if not self._conditional:
            if y is not None:
                raise ValueError("this model was fitted without labels; y must be None")
            states, _ = self._forward(n_samples, None, random_state)
            return self._log_mean_p(Xd, states[-2].astype(np.float64), W, b)
        if y is None:
            raise ValueError("this model is conditional: pass y")
        y = column_or_1d(y)
        if y.shape[0] != Xd.shape[0]:
            raise ValueError("y must hold one label per row of X")
        self._labels_for(y.shape[0], y)  # every label known before the first draw
        out = np.empty(Xd.shape[0])
        seed = int(check_random_state(random_state).randint(2**31)) if random_state is not None \
            else None
        for label in np.unique(y):
            rows = y == label
            states, _ = self._forward(n_samples, np.repeat(label, n_samples), seed)
            out[rows] = self._log_mean_p(Xd[rows], states[-2].astype(np.float64), W, b)
        return out

    @staticmethod
    def _log_mean_p(X, H, W, b):
        A = H @ W.T + b                                   # (S, d) pre-activations
        log_norm = np.logaddexp(0.0, A).sum(axis=1)       # sum_j softplus(a_j)
        L = X @ A.T - log_norm                            # log p_L(x | h_s), (n, S)
        top = L.max(axis=1, keepdims=True)
        return (top + np.log(np.mean(np.exp(L - top), axis=1, keepdims=True))).ravel()

    def score(self, X, y=None):
        """Mean of :meth:`log_likelihood` over the rows (1000 samples, a fixed stream).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_rows, n_features)
        y : array-like of shape (n_rows,), default=None
            Labels in conditional mode.

        Returns
        -------
        score : float
        """
        check_is_fitted(self)
        return float(np.mean(self.log_likelihood(X, y, random_state=self._seed)))

    def discriminate(self, X, y=None):
        """The discriminator's score f(x) of each row (its head applied: a probability for
        'gan', a real number for 'wgan', a positive one for 'mle').

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_rows, n_features)
        y : array-like of shape (n_rows,), default=None
            Labels in conditional mode.

        Returns
        -------
        f : ndarray of shape (n_rows,)
        """
        check_is_fitted(self)
        X = validate_data(self, X, accept_sparse="csr", dtype=self._dtype(), reset=False)
        Xd = np.asarray(X.toarray() if hasattr(X, "toarray") else X, dtype=self._dtype())
        if self._conditional:
            labels = self._labels_for(Xd.shape[0], y)
            onehot = np.zeros((Xd.shape[0], len(self.classes_)), dtype=self._dtype())
            onehot[np.arange(Xd.shape[0]), labels] = 1
            Xd = np.hstack([onehot, Xd])
        elif y is not None:
            raise ValueError("this model was fitted without labels; y must be None")
        out = np.empty((Xd.shape[0], 1), dtype=self._dtype())
        _core.mlp_forward(self._discriminator(), np.ascontiguousarray(Xd), out,
                          on_main_thread())
        a = out[:, 0].astype(np.float64)
        if self.loss == "gan":
            return _sigmoid(a)
        if self.loss == "mle":
            return np.exp(np.minimum(a, 80.0))
        return a

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.target_tags.required = False
        return tags
