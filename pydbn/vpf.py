"""Variational probability flow (Liu, Quek & Lin): RBMs and DBMs, optionally with lateral
(intra-layer) weights, trained without Gibbs confabulations."""
import time
from numbers import Integral, Real

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from . import _core
from .persistence import FormatVersionMixin
from ._progress import say
from ._base import (
    InterruptGuard,
    StreamMixin,
    as_source,
    column_mean,
    is_dask_collection,
    keep_input_attributes_on_failure,
    layer_sizes,
    on_main_thread,
    partial_fit_dask,
)
from .rbm import _MAX_GIBBS, _check_positive_int, _dense_mask

# in-layer mean-field of transform() for layers with lateral weights: damped iterations until
# no activation of a row moves by more than _LATERAL_TOL (each row stops on its own, so a row's
# output does not depend on the others), at most _LATERAL_MEAN_FIELD of them. Trained lateral
# weights can make the iteration slow: a fixed count of 50 left residuals of ~1e-2.
_LATERAL_MEAN_FIELD = 1000
_LATERAL_TOL = 1e-10
# rows of a chunk that enter top_prior_ (evenly spaced)
_PRIOR_ROWS = 2000


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))


class VPF(FormatVersionMixin, StreamMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin,
          BaseEstimator):
    """Boltzmann machine trained by variational probability flow (VPF).

    Minimum probability flow (Sohl-Dickstein, Battaglino & DeWeese 2011) fits an energy-based
    model by minimising the rate at which probability flows out of the data under a
    continuous-time Markov chain that connects states one bit-flip apart; its objective and
    gradients are explicit and need no samples from the model. VPF (Liu, Quek & Lin, text 003)
    extends it to hidden units by variational EM (Algorithm 1): at the start of each epoch the
    E-step samples every hidden layer of every training row bottom-up, from the layer below
    only (the input from above zeroed), with one asynchronous sweep of the lateral weights
    where a layer has them (Eq. 5); the M-step then takes the MPF gradient (Eq. 1-2) of the
    completed (x, h) rows minibatch by minibatch. One hidden layer is an RBM; more make a DBM
    trained with all layers at once, without greedy pre-training.

    Parameters
    ----------
    hidden_layer_sizes : int or sequence of int, default=(196,)
        Units of each hidden layer, bottom to top.
    lateral : bool, default=False
        Symmetric intra-layer weights (zero diagonal) in every hidden layer ("DBM2" in the
        text). Their units are sampled by an asynchronous sweep in index order.
    learning_rate : float, default=1e-3
        Step size of the optimizer (the text: Adam with 0.001).
    batch_size : int, default=40
        Rows per update (the text uses 40).
    n_iter : int, default=10
        Epochs (E-step plus a pass of M-step updates) of ``fit``.
    weight_decay : float, default=1e-4
        L2 penalty ``weight_decay / 2 * sum(w ** 2)`` on the weights (not the biases) added to
        the objective, which is a mean over rows and units (see Notes): for a network of |V|
        units it weighs as ``weight_decay * |V|`` would against the objective summed over
        units. The text's lambda = 1e-4 read this way is what trains its 784-196(-196-64)
        MNIST networks well.
    optimizer : {'adam', 'sgd'}, default='adam'
        The M-step's optimizer: Adam (the text's) or SGD with ``momentum``.
    beta_1, beta_2, epsilon : float, default=0.9, 0.999, 1e-8
        Adam's moment decay rates and its epsilon (scikit-learn's MLP names).
    momentum : float, default=0.0
        SGD momentum.
    prior : {'data', 'uniform'}, default='data'
        Default top-layer prior of :meth:`sample`: 'data' is the mean feed-forward activation
        of the top layer on the training rows (``top_prior_``, "DBM-P" in the text), 'uniform'
        sets every top unit on with probability 1/2 ("DBM-R").
    n_gibbs_generate : int, default=5
        Default ``r`` of :meth:`sample`: Gibbs steps per pair of layers (Algorithm 2; the text
        found 5 enough).
    transform_layers : {'top', 'all'}, default='top'
        :meth:`transform` returns the top layer's activations, or every hidden layer's.
    random_state : int, RandomState instance or None, default=None
        Initial weights and every random stream.
    verbose : int, default=0
        Print the objective after every epoch.

    Attributes
    ----------
    components_ : list of ndarray
        ``components_[k]`` of shape (n_{k+1}, n_k) joins layer k to layer k + 1 (layer 0 is the
        visible layer; ``components_[0]`` is an RBM's ``components_``).
    lateral_components_ : list of ndarray or None
        ``lateral_components_[k - 1]`` (n_k, n_k), symmetric with a zero diagonal, joins the
        units of hidden layer k; None without lateral weights.
    intercepts_ : list of ndarray
        Biases of every layer, visible first.
    top_prior_ : ndarray of shape (n_top,)
        Mean feed-forward activation of the top layer on the rows seen (``prior='data'``).
    visible_mean_ : ndarray of shape (n_features,)
        Mean of the rows seen (AIS base rates of :meth:`log_partition`).
    history_ : dict of lists
        ``'epoch'``, ``'objective'`` (the mean MPF objective K of the epoch's minibatches,
        before each update) and ``'time'`` (seconds).
    n_iter_ : int
        Epochs run.
    n_samples_seen_ : int
        Rows that have entered ``top_prior_`` and ``visible_mean_``.
    n_features_in_ : int
    feature_names_in_ : ndarray

    Notes
    -----
    The energy is ``E(y) = -sum_k b_k.y_k - sum_k y_{k+1}' W_k y_k - 1/2 sum_k y_k' U_k y_k``.
    The objective in ``history_`` is ``K = mean over rows and over all units (visible and
    hidden) of exp((1/2 - y_j) z_j)``, where z_j is unit j's input: the text's flow out of the
    data (Eq. 1) with its free time constant epsilon set to 1 / (number of units). Lower is
    better; it is 1 for a model that ignores the data. The choice of epsilon sets how the
    weight decay weighs against the data: with the sum over units (epsilon = 1), the text's
    lambda = 1e-4 lets the weights of a 784-196-196-64 DBM grow until every hidden unit is
    off on the data, while with the mean it gives the best Parzen scores measured on MNIST
    (see the README). The optimizer's steps follow the per-unit scale too: with
    ``optimizer='sgd'`` the learning rate must be about |V| times what the summed objective
    would need (Adam is invariant to the scale).

    Examples
    --------
    >>> import numpy as np
    >>> from pydbn import VPF
    >>> X = (np.random.RandomState(0).rand(200, 16) > 0.5).astype(float)
    >>> vpf = VPF(hidden_layer_sizes=(8,), n_iter=2, random_state=0).fit(X)
    >>> vpf.transform(X).shape
    (200, 8)
    """

    _parameter_constraints: dict = {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "lateral": ["boolean"],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "batch_size": [Interval(Integral, 1, 2**30 - 1, closed="both")],  # the core's limit
        "n_iter": [Interval(Integral, 0, None, closed="left")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "optimizer": [StrOptions({"adam", "sgd"})],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "momentum": [Interval(Real, 0, 1, closed="left")],
        "prior": [StrOptions({"data", "uniform"})],
        "n_gibbs_generate": [Interval(Integral, 1, None, closed="left")],
        "transform_layers": [StrOptions({"top", "all"})],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        hidden_layer_sizes=(196,),
        *,
        lateral=False,
        learning_rate=1e-3,
        batch_size=40,
        n_iter=10,
        weight_decay=1e-4,
        optimizer="adam",
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        momentum=0.0,
        prior="data",
        n_gibbs_generate=5,
        transform_layers="top",
        random_state=None,
        verbose=0,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.lateral = lateral
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.n_iter = n_iter
        self.weight_decay = weight_decay
        self.optimizer = optimizer
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.momentum = momentum
        self.prior = prior
        self.n_gibbs_generate = n_gibbs_generate
        self.transform_layers = transform_layers
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ plumbing

    def _sizes(self):
        return layer_sizes(self.hidden_layer_sizes,
                           "hidden_layer_sizes must hold at least one positive integer")

    @property
    def _n_features_out(self):
        sizes = [b.shape[0] for b in self.intercepts_[1:]]
        return sum(sizes) if self.transform_layers == "all" else sizes[-1]

    def _dtype(self):
        return self.components_[0].dtype

    def _lateral(self):
        """One entry per hidden layer: its lateral weights or None."""
        if self.lateral_components_ is None:
            return [None] * len(self.components_)
        return list(self.lateral_components_)

    def _model(self):
        return (list(self.components_), [None] + self._lateral(), list(self.intercepts_))

    def _validate_input(self, X, reset=False):
        X = validate_data(self, X, accept_sparse="csr", dtype=self._dtype(), reset=reset)
        return X, as_source(X, self._dtype())

    # ------------------------------------------------------------------ training

    def _initialize(self, X, rng):
        sizes = (X.shape[1],) + self._sizes()
        dtype = X.dtype
        L = len(sizes) - 1
        weights = [np.ascontiguousarray(rng.normal(0, 0.01, (sizes[k + 1], sizes[k])),
                                        dtype=dtype) for k in range(L)]
        lateral = [np.zeros((n, n), dtype=dtype) if self.lateral else None for n in sizes[1:]]
        self.components_ = weights
        self.lateral_components_ = lateral if self.lateral else None
        self.intercepts_ = [np.zeros(n, dtype=dtype) for n in sizes]
        self.top_prior_ = np.full(sizes[-1], 0.5)
        self.visible_mean_ = np.zeros(sizes[0])
        self.n_samples_seen_ = 0
        self.n_iter_ = 0
        self.history_ = {"epoch": [], "objective": [], "time": []}

        def zeros_like(arrays):
            return [None if a is None else np.zeros_like(a) for a in arrays]

        lat = [None] + lateral
        self._opt_state = (zeros_like(weights), zeros_like(weights), zeros_like(lat),
                           zeros_like(lat), zeros_like(self.intercepts_),
                           zeros_like(self.intercepts_))
        self._opt_steps = 0
        self._reset_stream(rng)

    def _train(self, source, n_epochs):
        with InterruptGuard(n_epochs, "VPF") as guard:
            for _ in range(n_epochs):
                seed, epoch = self._next_stream()
                begin = time.perf_counter()
                objective, self._opt_steps = _core.vpf_epoch(
                    self._model(), source, self._opt_state, int(self._opt_steps),
                    learning_rate=float(self.learning_rate),
                    beta1=float(self.beta_1),
                    beta2=float(self.beta_2),
                    eps=float(self.epsilon),
                    weight_decay=float(self.weight_decay),
                    batch_size=int(self.batch_size),
                    seed=seed,
                    epoch=epoch,
                    check_signals=on_main_thread(),
                    guard=guard,
                    optimizer=self.optimizer,
                    momentum=float(self.momentum),
                )
                elapsed = time.perf_counter() - begin
                self.n_iter_ += 1
                h = self.history_
                h["epoch"].append(self.n_iter_)
                h["objective"].append(objective)
                h["time"].append(elapsed)
                if self.verbose:
                    say("[VPF] Iteration %d, objective = %.4f, time = %.2fs"
                          % (self.n_iter_, objective, elapsed))
                guard.check()

    def _update_top_prior(self, X):
        """Fold the mean feed-forward activation of the top layer on X into ``top_prior_``.

        The activations are :meth:`transform`'s (deterministic; the text's "mean feedforward
        activations of the training dataset"), so the prior draws no random numbers. A chunk
        of more than ``_PRIOR_ROWS`` rows contributes the mean over evenly spaced rows of it
        (standard error below 0.012 per unit), weighted by its row count: the prior costs at
        most one transform of that many rows per call.
        """
        n = X.shape[0]
        if n == 0:
            return
        rows = X if n <= _PRIOR_ROWS else X[np.linspace(0, n - 1, _PRIOR_ROWS).astype(np.intp)]
        act = self._feed_forward(rows)[-1]
        seen = self.n_samples_seen_
        chunk_sum = act.mean(axis=0, dtype=np.float64) * n
        self.top_prior_ = (self.top_prior_ * seen + chunk_sum) / (seen + n)
        if hasattr(self, "visible_mean_"):
            self.visible_mean_ = (self.visible_mean_ * seen + column_mean(X) * n) / (seen + n)
        else:  # a model saved before visible_mean_ existed: the rows seen from now on
            self.visible_mean_ = column_mean(X)
        self.n_samples_seen_ = seen + n

    def _infer(self, source, n, seed, epoch):
        out = [np.empty((n, b.shape[0]), dtype=self._dtype()) for b in self.intercepts_[1:]]
        _core.bm_infer(self._model(), source, seed, epoch, out, on_main_thread())
        return out

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Train by VPF for ``n_iter`` epochs from a random initialization.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Binary training data (values in [0, 1] are used as they are by the E-step; the
            text binarizes MNIST at 0.5).
        y : None
            Ignored.

        Returns
        -------
        self : VPF
        """
        self._sizes()  # refuse bad layer sizes before anything is touched
        with keep_input_attributes_on_failure(self):
            X = validate_data(self, X, accept_sparse="csr", dtype=(np.float64, np.float32))
            self._initialize(X, check_random_state(self.random_state))
        source = as_source(X, X.dtype)
        try:
            self._train(source, self.n_iter)
        finally:  # an interrupted fit still gets the prior of the epochs it kept
            self._update_top_prior(X)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None):
        """One VPF epoch over X (the first call initializes the model).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            A ``numpy.memmap`` is read in place; a dask array or dataframe is computed one row
            block at a time, in order, each block passed to ``partial_fit`` in turn (blocks
            before a failing one have already trained the model).
        y : None
            Ignored.

        Returns
        -------
        self : VPF
        """
        if is_dask_collection(X):
            return partial_fit_dask(self, X, y)
        self._validate_params()  # skipped by scikit-learn for partial_fit once fitted
        self._sizes()
        first = not hasattr(self, "components_")
        with keep_input_attributes_on_failure(self):
            X = validate_data(self, X, accept_sparse="csr",
                              dtype=(np.float64, np.float32) if first else self._dtype(),
                              reset=first)
            if first:
                self._initialize(X, check_random_state(self.random_state))
        source = as_source(X, self._dtype())
        self._train(source, 1)
        self._update_top_prior(X)
        return self

    # ------------------------------------------------------------------ inference

    def transform(self, X):
        """Feed-forward activations of the hidden layers.

        Layer k gets ``sigmoid(b_k + a_{k-1} W_{k-1}')`` from the activations a_{k-1} of the
        layer below (the E-step's bottom-up conditional, in expectation). With lateral
        weights, a layer's activations are the fixed point of the in-layer mean-field
        equations ``a = sigmoid(b_k + a_{k-1} W_{k-1}' + a U_k)`` (damped iterations).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        H : ndarray of shape (n_samples, n_top) or (n_samples, sum of hidden sizes)
        """
        check_is_fitted(self)
        X, _ = self._validate_input(X)
        layers = self._feed_forward(X)
        out = np.hstack(layers) if self.transform_layers == "all" else layers[-1]
        return np.ascontiguousarray(out, dtype=self._dtype())

    def _feed_forward(self, X):
        below = X
        layers = []
        for W, U, b in zip(self.components_, self._lateral(), self.intercepts_[1:]):
            ext = np.asarray(below @ W.T, dtype=np.float64) + b
            a = _sigmoid(ext)
            if U is not None:
                U64 = U.astype(np.float64)
                rows = np.arange(a.shape[0])
                for _ in range(_LATERAL_MEAN_FIELD):
                    if rows.size == 0:
                        break
                    old = a[rows]
                    new = 0.5 * old + 0.5 * _sigmoid(ext[rows] + old @ U64)
                    a[rows] = new
                    rows = rows[np.abs(new - old).max(axis=1) > _LATERAL_TOL]
            layers.append(a.astype(self._dtype()))
            below = layers[-1]
        return layers

    def objective(self, X, random_state=None):
        """The MPF objective K of X completed by one E-step sample of its hidden layers.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        random_state : int, RandomState instance or None, default=None
            The E-step's randomness; None uses a fixed stream of this model, so repeated
            calls agree.

        Returns
        -------
        K : float
            Mean over rows and units of the flow out of each completed row (lower is
            better; 1 for a model that ignores the data).
        """
        check_is_fitted(self)
        X, source = self._validate_input(X)
        seed, epoch = (self._seed, 2**32 - 1) if random_state is None else \
            self._next_stream(random_state)
        hidden = self._infer(source, X.shape[0], seed, epoch)
        dense = X.toarray() if hasattr(X, "toarray") else X
        # the binding takes writeable, aligned states (it only reads them): a read-only or
        # unaligned X is copied
        states = [np.require(dense, self._dtype(), ["C", "W", "A"])] + hidden
        return _core.bm_mpf(self._model(), states, None, on_main_thread())

    def score(self, X, y=None):
        """Minus :meth:`objective` (higher is better), for model selection.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : None
            Ignored.

        Returns
        -------
        score : float
        """
        return -self.objective(X)

    def sample(self, n_samples=1, *, prior=None, n_gibbs=None, binary=False,
               random_state=None):
        """Confabulations by Algorithm 2 of the text.

        The top layer starts from the prior; then for each pair of layers from the top down,
        ``n_gibbs`` alternating samples of the lower layer given the upper one and of the upper
        given the lower (with a lateral sweep where the layer has lateral weights); the result
        is p(v = 1 | h_1), as the text shows it, or a binary sample of it.

        Parameters
        ----------
        n_samples : int, default=1
        prior : {'data', 'uniform'} or array-like of shape (n_top,), default=None
            Top-layer probabilities; None uses the estimator's ``prior``.
        n_gibbs : int, default=None
            Gibbs steps per pair of layers; None uses ``n_gibbs_generate``.
        binary : bool, default=False
            Return binary states instead of probabilities.
        random_state : int, RandomState instance or None, default=None

        Returns
        -------
        samples : ndarray of shape (n_samples, n_features)
        """
        check_is_fitted(self)
        n_samples = _check_positive_int(n_samples, "n_samples", minimum=0)
        n_gibbs = _check_positive_int(
            self.n_gibbs_generate if n_gibbs is None else n_gibbs, "n_gibbs", maximum=_MAX_GIBBS)
        prior = self.prior if prior is None else prior
        n_top = self.intercepts_[-1].shape[0]
        if isinstance(prior, str):
            if prior not in ("data", "uniform"):
                raise ValueError(f"prior must be 'data', 'uniform' or an array, got {prior!r}")
            top = None if prior == "uniform" else self.top_prior_
        else:
            top = check_array(prior, ensure_2d=False, dtype=np.float64)
            if top.shape != (n_top,) or np.any((top < 0) | (top > 1)):
                raise ValueError(f"prior must hold {n_top} probabilities")
        if top is not None:
            top = np.ascontiguousarray(top, dtype=self._dtype())
        out = np.empty((n_samples, self.intercepts_[0].shape[0]), dtype=self._dtype())
        seed, epoch = self._next_stream(random_state)
        _core.bm_generate(self._model(), n_samples, n_gibbs, top, seed, epoch, not binary, out,
                          on_main_thread())
        return out

    def _visible_mean(self):
        # models saved before visible_mean_ existed: uniform AIS base rates
        return getattr(self, "visible_mean_", np.full(self.intercepts_[0].shape[0], 0.5))

    def as_boltzmann_machine(self):
        """The same model as a fitted :class:`pydbn.RBM` (one hidden layer) or
        :class:`pydbn.DBM` (more), sharing no arrays with this estimator.

        Both have this model's energy, so their log-likelihood tools apply: log Z by AIS or
        enumeration, exact or AIS log p(x), free energies, Gibbs sampling. Their AIS base
        rates come from the training rows' visible means (``visible_mean_``).

        Returns
        -------
        model : RBM or DBM

        Raises
        ------
        NotImplementedError
            With lateral weights: neither estimator has intra-layer weights.
        """
        check_is_fitted(self)
        return self._equivalent_machine(check_random_state(self._seed), names=True)

    def _equivalent_machine(self, rng, names):
        check_is_fitted(self)
        if self.lateral:
            raise NotImplementedError(
                "a VPF model with lateral weights has no RBM or DBM equivalent (their AIS and "
                "enumeration have no intra-layer weights)")
        from .dbm import DBM
        from .rbm import RBM

        dtype = self._dtype()
        W, b = self.components_, self.intercepts_
        probe = np.zeros((1, b[0].shape[0]), dtype=dtype)
        if len(W) == 1:
            model = RBM(W[0].shape[0], random_state=self.random_state)
            model._initialize(probe, rng)
            model.components_[...] = W[0]
            model.intercept_visible_[...] = b[0]
            model.intercept_hidden_[...] = b[1]
        else:
            model = DBM(tuple(w.shape[0] for w in W), pretrain=False,
                        random_state=self.random_state)
            model._initialize(probe, rng, pretrain=False)
            for target, value in zip(model.components_ + model.intercepts_, W + b):
                target[...] = value
        model.visible_mean_ = self._visible_mean().copy()
        model.n_samples_seen_ = self.n_samples_seen_
        model.n_features_in_ = self.n_features_in_
        if names and hasattr(self, "feature_names_in_"):
            model.feature_names_in_ = self.feature_names_in_.copy()
        return model

    def _on_machine(self, call, kwargs):
        """call(equivalent RBM / DBM, kwargs); without a random_state its AIS continues this
        model's own stream (a new estimate on every call), advanced only if the call
        succeeds."""
        check_is_fitted(self)
        machine = self._equivalent_machine(check_random_state(self._seed), names=False)
        own = kwargs.get("random_state") is None
        if own:
            kwargs["random_state"] = np.random.RandomState([self._seed, self._calls % 2**32])
        result = call(machine, kwargs)
        if own:
            self._next_stream()
        return result

    def log_partition(self, method="ais", **kwargs):
        """log Z of the model (no lateral weights), by AIS or enumeration.

        Parameters
        ----------
        method : {'ais', 'exact'}, default='ais'
        **kwargs
            Passed to :meth:`pydbn.RBM.log_partition` (one hidden layer: ``n_chains``,
            ``n_betas``, ``random_state``, ``return_std``, ``max_units``, ``side``) or
            :meth:`pydbn.DBM.log_partition` (more: the same with ``max_bits`` and
            ``parity``). Without ``random_state`` AIS continues this model's own random
            stream.

        Returns
        -------
        log_z : float (and its standard error with ``return_std=True``)
        """
        if method not in ("ais", "exact"):
            raise ValueError(f"method must be 'ais' or 'exact', got {method!r}")
        return self._on_machine(lambda m, kw: m.log_partition(method, **kw), kwargs)

    def log_likelihood(self, X, method="ais", *, log_z=None, **kwargs):
        """log p(x) per row (no lateral weights).

        One hidden layer: ``-F(x) - log Z``, exact given log Z. More: the DBM's exact sum over
        hidden states ('exact') or its mean-field lower bound with AIS log Z ('ais').

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        method : {'ais', 'exact'}, default='ais'
            How log Z (and, for a DBM, the sum over hidden states) is computed.
        log_z : float, optional
            A log Z computed earlier.
        **kwargs
            Passed to the equivalent model's ``log_likelihood``.

        Returns
        -------
        log_p : ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        if method not in ("ais", "exact"):
            raise ValueError(f"method must be 'ais' or 'exact', got {method!r}")
        X = validate_data(self, X, accept_sparse="csr", dtype=self._dtype(), reset=False)
        return self._on_machine(
            lambda m, kw: m.log_likelihood(X, method, log_z=log_z, **kw), kwargs)

    def reconstruct(self, X, mask, n_gibbs=2, random_state=None):
        """Fill the unknown entries of X (a corrupted image's missing pixels).

        From v = X, ``n_gibbs`` times: the E-step's bottom-up sample of the hidden layers
        given v, then a sample of the unknown entries of v given h_1; the unknown entries
        receive p(v = 1 | h_1) of the last step (the text found 2 steps enough for an RBM).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data. The chains start from X as it is (the text starts them from the corrupted
            images), so the values of the unknown entries enter the first E-step;
            :func:`pydbn.metrics.corrupt` sets them to 0.
        mask : array-like of bool, shape (n_samples, n_features)
            True where an entry is unknown.
        n_gibbs : int, default=2
        random_state : int, RandomState instance or None, default=None

        Returns
        -------
        X_filled : ndarray of shape (n_samples, n_features)
            X on the known entries, probabilities on the unknown ones.
        """
        check_is_fitted(self)
        X, source = self._validate_input(X)
        mask = np.ascontiguousarray(_dense_mask(mask, X.shape), dtype=np.uint8)
        n_gibbs = _check_positive_int(n_gibbs, "n_gibbs", maximum=_MAX_GIBBS)
        out = np.empty(X.shape, dtype=self._dtype())
        seed, epoch = self._next_stream(random_state)
        _core.bm_reconstruct(self._model(), source, mask, n_gibbs, seed, epoch, out,
                             on_main_thread())
        return out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
