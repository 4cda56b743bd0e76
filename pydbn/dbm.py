"""Deep Boltzmann machines: variational stochastic maximum likelihood, pre-training, AIS."""
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
from sklearn.utils.validation import check_is_fitted, validate_data

from . import _core
from .persistence import FormatVersionMixin
from ._progress import Progress, say
from ._base import (
    InterruptGuard,
    StreamMixin,
    as_source,
    is_dask_collection,
    keep_input_attributes_on_failure,
    layer_sizes,
    log_mean_exp,
    on_main_thread,
    partial_fit_dask,
    update_visible_mean,
)
from .rbm import RBM, _MAX_STEPS, _check_positive_int, _enumeration_limit

_HISTORY_ROWS = 1000


class DBM(FormatVersionMixin, StreamMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin,
          BaseEstimator):
    """Deep Boltzmann machine with binary units (Salakhutdinov & Hinton 2009).

    An undirected network of layers v, h_1, ..., h_L with couplings between neighbouring
    layers only: ``E = -sum_k b_k.h_k - sum_k h_{k+1}' W_k h_k`` (survey text 004, Eq. 26).
    Training is variational stochastic maximum likelihood (lecture notes 002, Algorithm 20.1,
    for any depth): the data term uses the mean-field posterior of each minibatch, iterated
    to tolerance; the model term uses persistent chains advanced by block Gibbs sampling
    (odd layers given even, then even given odd); all layers are updated together.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(500, 1000)
        Units in each hidden layer, bottom to top; at least two layers.
    learning_rate : float, default=0.005
        Step size of the first epoch.
    learning_rate_decay : float, default=0.0
        Epoch t (from 0) uses ``learning_rate / (1 + learning_rate_decay * t)``.
    batch_size : int, default=100
        Data rows per update.
    n_iter : int, default=10
        Epochs of joint training.
    n_mean_field : int, default=30
        Most mean-field sweeps per minibatch.
    mean_field_tol : float, default=1e-4
        Mean field stops once no posterior mean moves more than this in a sweep.
    n_chains : int, default=100
        Persistent chains (fantasy particles) of the model term.
    k : int, default=5
        Block-Gibbs sweeps of the chains per update.
    pretrain : bool, default=True
        Greedy RBM pre-training with the weight-doubling correction of Salakhutdinov &
        Hinton (2009): each layer's RBM doubles the input of a unit layer that has two
        neighbours in the DBM (the first RBM's hidden side, the last RBM's visible side,
        both sides of the middle ones), standing in for the input the DBM's other neighbour
        will give. The RBMs' weights then become the DBM's; a middle layer's bias is the
        mean of its two RBMs' biases.
    pretrain_n_iter : int, default=10
        Epochs of each pre-training RBM.
    pretrain_learning_rate : float, default=0.05
        Step size of the pre-training RBMs (PCD-1, minibatches of ``batch_size``).
    momentum : float in [0, 1), default=0.5
        Momentum of the joint training.
    weight_decay : float, default=0.0
        L2 penalty on the weights during joint training.
    transform_layers : {'top', 'all'}, default='top'
        ``transform`` returns the top layer's mean-field posterior, or every hidden layer's,
        concatenated bottom to top.
    random_state : int, RandomState instance or None, default=None
    verbose : int, default=0

    Attributes
    ----------
    components_ : list of ndarray
        ``components_[k]`` is W_k, shape (n_units_{k+1}, n_units_k), joining layer k (0 is
        the visible layer) to layer k + 1.
    intercepts_ : list of ndarray
        Biases of every layer, visible first.
    chains_ : list of ndarray
        States of the persistent chains, one (n_chains, n_units_k) array per layer.
    rbms_ : list of RBM or None
        The pre-training RBMs (None without pre-training).
    visible_mean_ : ndarray of shape (n_features,)
        Mean of the training rows, the AIS base rates.
    history_ : dict of lists
        Per epoch: ``epoch``, ``reconstruction_error`` (mean squared error of
        E[v | mean-field h_1] on a training subset), ``mean_field_sweeps`` (mean per
        minibatch), ``mean_field_time``, ``gibbs_time``, ``time``.
    n_features_in_ : int
    feature_names_in_ : ndarray

    Examples
    --------
    >>> import numpy as np
    >>> from pydbn import DBM
    >>> X = (np.random.RandomState(0).rand(200, 16) > 0.5).astype(float)
    >>> dbm = DBM(hidden_layer_sizes=(8, 4), n_iter=2, random_state=0).fit(X)
    >>> dbm.transform(X).shape
    (200, 4)
    """

    _parameter_constraints: dict = {
        "hidden_layer_sizes": ["array-like"],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "learning_rate_decay": [Interval(Real, 0, None, closed="left")],
        # the core's limits: batch_size and n_chains below 2^30, k a 32-bit unsigned int
        "batch_size": [Interval(Integral, 1, 2**30 - 1, closed="both")],
        "n_iter": [Interval(Integral, 0, None, closed="left")],
        "n_mean_field": [Interval(Integral, 1, 2**63 - 1, closed="both")],
        "mean_field_tol": [Interval(Real, 0, None, closed="left")],
        "n_chains": [Interval(Integral, 1, 2**30 - 1, closed="both")],
        "k": [Interval(Integral, 1, 2**32 - 1, closed="both")],
        "pretrain": ["boolean"],
        "pretrain_n_iter": [Interval(Integral, 0, None, closed="left")],
        "pretrain_learning_rate": [Interval(Real, 0, None, closed="neither")],
        "momentum": [Interval(Real, 0, 1, closed="left")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "transform_layers": [StrOptions({"top", "all"})],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        hidden_layer_sizes=(500, 1000),
        *,
        learning_rate=0.005,
        learning_rate_decay=0.0,
        batch_size=100,
        n_iter=10,
        n_mean_field=30,
        mean_field_tol=1e-4,
        n_chains=100,
        k=5,
        pretrain=True,
        pretrain_n_iter=10,
        pretrain_learning_rate=0.05,
        momentum=0.5,
        weight_decay=0.0,
        transform_layers="top",
        random_state=None,
        verbose=0,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.learning_rate = learning_rate
        self.learning_rate_decay = learning_rate_decay
        self.batch_size = batch_size
        self.n_iter = n_iter
        self.n_mean_field = n_mean_field
        self.mean_field_tol = mean_field_tol
        self.n_chains = n_chains
        self.k = k
        self.pretrain = pretrain
        self.pretrain_n_iter = pretrain_n_iter
        self.pretrain_learning_rate = pretrain_learning_rate
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.transform_layers = transform_layers
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ plumbing

    def _sizes(self):
        return layer_sizes(self.hidden_layer_sizes, "hidden_layer_sizes must hold at least two "
                           "positive integers (a single hidden layer is an RBM)", minimum=2)

    @property
    def _n_features_out(self):
        sizes = [b.shape[0] for b in self.intercepts_[1:]]
        return sum(sizes) if self.transform_layers == "all" else sizes[-1]

    def _model(self):
        return (list(self.components_), list(self.intercepts_))

    def _dtype(self):
        return self.components_[0].dtype

    def _validate_input(self, X, reset=False):
        X = validate_data(self, X, accept_sparse="csr", dtype=self._dtype(), reset=reset)
        return X, as_source(X, self._dtype())

    # ------------------------------------------------------------------ training

    def _initialize(self, X, rng, pretrain):
        sizes = (X.shape[1],) + self._sizes()
        dtype = X.dtype
        L = len(sizes) - 1
        rbms = None
        if pretrain:
            rbms = self._pretrain(X, sizes, rng)
            weights = [r.components_ for r in rbms]
            biases = [rbms[0].intercept_visible_]
            for k in range(1, L):
                biases.append(((rbms[k - 1].intercept_hidden_ + rbms[k].intercept_visible_) / 2
                               ).astype(dtype))
            biases.append(rbms[-1].intercept_hidden_)
        else:
            weights = [rng.normal(0, 0.01, (sizes[k + 1], sizes[k])) for k in range(L)]
            biases = [np.zeros(n) for n in sizes]
        state = {
            # copies: joint training must not rewrite the pre-training RBMs
            "components_": [np.array(w, dtype=dtype, order="C", copy=True) for w in weights],
            "intercepts_": [np.array(b, dtype=dtype) for b in biases],
            "chains_": [
                (rng.rand(self.n_chains, n) < 0.5).astype(dtype) for n in sizes
            ],
            "rbms_": rbms,
            "visible_mean_": np.zeros(X.shape[1]),
            "n_samples_seen_": 0,
            "history_": {"epoch": [], "reconstruction_error": [], "mean_field_sweeps": [],
                         "mean_field_time": [], "gibbs_time": [], "time": []},
            "_velocity": None,
            "_epochs_done": 0,
        }
        self.__dict__.update(state)
        self._reset_stream(rng)

    def _pretrain(self, X, sizes, rng):
        L = len(sizes) - 1
        data = X
        rbms = []
        for k in range(L):
            rbm = RBM(
                sizes[k + 1],
                learning_rate=self.pretrain_learning_rate,
                batch_size=self.batch_size,
                n_iter=self.pretrain_n_iter,
                random_state=int(rng.randint(2**32, dtype=np.uint64)),
                verbose=self.verbose,
            )
            # double the input of a layer with two neighbours in the DBM
            rbm._up_scale = 2.0 if k + 1 < L else 1.0
            rbm._down_scale = 2.0 if k > 0 else 1.0
            rbm._progress_desc = "DBM pre-training %d/%d" % (k + 1, L)
            if self.verbose:
                say("[DBM] Pre-training layer %d: %d units" % (k + 1, sizes[k + 1]))
            rbm.fit(data)
            rbms.append(rbm)
            if k + 1 < L:
                # W (2 v) == (2 W) v exactly: scale the weights, not a copy of the data
                model = (rbm.components_ * rbm._up_scale,) + rbm._model()[1:]
                out = np.empty((X.shape[0], sizes[k + 1]), dtype=X.dtype)
                _core.rbm_hidden_probs(model, as_source(data, X.dtype), out, on_main_thread())
                data = out
        return rbms

    def _velocities(self):
        if self.momentum == 0:
            return None, None
        if self._velocity is None:
            self._velocity = ([np.zeros_like(w) for w in self.components_],
                              [np.zeros_like(b) for b in self.intercepts_])
        return self._velocity

    def _update_mean(self, X):
        update_visible_mean(self, X)

    def _chains(self):
        if self.chains_[0].shape[0] != self.n_chains:  # n_chains changed between calls
            rng = check_random_state(self._seed)
            self.chains_ = [(rng.rand(self.n_chains, b.shape[0]) < 0.5).astype(self._dtype())
                            for b in self.intercepts_]
        return self.chains_

    def _train(self, X, source, n_epochs):
        rng = check_random_state(self._seed)
        n = X.shape[0]
        rows = np.sort(rng.permutation(n)[:_HISTORY_ROWS]) if n > _HISTORY_ROWS else None
        subset = X if rows is None else X[rows]
        vel_w, vel_b = self._velocities()
        with InterruptGuard(n_epochs, "DBM") as guard:
            for _ in range(n_epochs):
                seed, epoch = self._next_stream()
                lr = self.learning_rate / (1.0 + self.learning_rate_decay * self._epochs_done)
                begin = time.perf_counter()
                sweeps, t_mf, t_gibbs, _ = _core.dbm_epoch(
                    self._model(), source, self._chains(), vel_w, vel_b,
                    k=int(self.k),
                    batch_size=int(self.batch_size),
                    n_mean_field=int(self.n_mean_field),
                    mean_field_tol=float(self.mean_field_tol),
                    learning_rate=float(lr),
                    momentum=float(self.momentum),
                    weight_decay=float(self.weight_decay),
                    seed=seed,
                    epoch=epoch,
                    check_signals=on_main_thread(),
                    guard=guard,
                )
                elapsed = time.perf_counter() - begin
                self._epochs_done += 1
                err = self._reconstruction_error(subset)
                h = self.history_
                h["epoch"].append(len(h["epoch"]) + 1)
                h["reconstruction_error"].append(err)
                h["mean_field_sweeps"].append(sweeps)
                h["mean_field_time"].append(t_mf)
                h["gibbs_time"].append(t_gibbs)
                h["time"].append(elapsed)
                if self.verbose:
                    say("[DBM] Iteration %d, reconstruction error = %.4f, mean-field sweeps = "
                          "%.1f, time = %.2fs" % (h["epoch"][-1], err, sweeps, elapsed))
                guard.check()

    def _reconstruction_error(self, X):
        mu = self._mean_field(as_source(X, self._dtype()), X.shape[0])
        W0, b0 = self.components_[0], self.intercepts_[0]
        recon = 1.0 / (1.0 + np.exp(-(mu[0] @ W0 + b0)))
        dense = X.toarray() if hasattr(X, "toarray") else np.asarray(X)
        return float(np.mean((dense - recon) ** 2))

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Pre-train (optionally), then train all layers jointly.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data with values in [0, 1].
        y : None
            Ignored.

        Returns
        -------
        self : DBM
        """
        self._sizes()  # refuse bad layer sizes before anything is touched
        with keep_input_attributes_on_failure(self):
            X = validate_data(self, X, accept_sparse="csr", dtype=(np.float64, np.float32))
            self._initialize(X, check_random_state(self.random_state), self.pretrain)
        self._update_mean(X)
        self._train(X, as_source(X, X.dtype), self.n_iter)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None):
        """One epoch of joint training over X (the first call initializes the model, with
        pre-training on this chunk when ``pretrain`` is True).

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
        self : DBM
        """
        if is_dask_collection(X):
            return partial_fit_dask(self, X, y)
        # scikit-learn skips parameter validation for partial_fit once fitted: do it here
        self._validate_params()
        self._sizes()
        first = not hasattr(self, "components_")
        with keep_input_attributes_on_failure(self):
            X = validate_data(self, X, accept_sparse="csr",
                              dtype=(np.float64, np.float32) if first else self._dtype(),
                              reset=first)
            if first:
                self._initialize(X, check_random_state(self.random_state), self.pretrain)
        self._train(X, as_source(X, self._dtype()), 1)
        self._update_mean(X)
        return self

    # ------------------------------------------------------------------ inference

    def _mean_field(self, source, n_rows):
        dtype = self._dtype()
        mu = [np.empty((n_rows, b.shape[0]), dtype=dtype) for b in self.intercepts_[1:]]
        _core.dbm_mean_field(self._model(), source, int(self.n_mean_field),
                             float(self.mean_field_tol), mu, on_main_thread())
        return mu

    def mean_field(self, X):
        """Mean-field posterior Q(h_k = 1 | x) of every hidden layer.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        mu : list of ndarray
            One (n_samples, n_units_k) array per hidden layer, bottom to top; they satisfy
            ``mu_k = sigmoid(b_k + mu_{k-1} W_{k-1}' + mu_{k+1} W_k)`` to about
            ``mean_field_tol`` (within ``n_mean_field`` sweeps).
        """
        check_is_fitted(self)
        X, source = self._validate_input(X)
        return self._mean_field(source, X.shape[0])

    def transform(self, X):
        """Mean-field posterior of the top hidden layer (or of all, see ``transform_layers``).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        H : ndarray of shape (n_samples, n_features_out)
        """
        mu = self.mean_field(X)
        return np.hstack(mu) if self.transform_layers == "all" else mu[-1]

    def sample(self, n_samples=100, n_gibbs=1000, random_state=None, return_means=False):
        """Draw visible states by block Gibbs sampling from uniformly random states.

        Parameters
        ----------
        n_samples : int, default=100
        n_gibbs : int, default=1000
            Sweeps (odd layers, then even layers) per chain.
        random_state : int, RandomState instance or None, default=None
            None continues the model's own stream.
        return_means : bool, default=False
            Return p(v | h_1) of the final state instead of binary states.

        Returns
        -------
        samples : ndarray of shape (n_samples, n_features)
        """
        check_is_fitted(self)
        n_samples = _check_positive_int(n_samples, "n_samples", minimum=0)
        n_gibbs = _check_positive_int(n_gibbs, "n_gibbs", maximum=2**20)  # the core's limit
        out = np.empty((n_samples, self.n_features_in_), dtype=self._dtype())
        seed, epoch = self._next_stream(random_state)
        _core.dbm_sample(self._model(), n_gibbs, seed, epoch, bool(return_means), out,
                         on_main_thread())
        return out

    # ------------------------------------------------------------------ likelihoods

    def log_partition(self, method="ais", *, n_chains=100, n_betas=14500, random_state=None,
                      return_std=False, max_bits=24, parity="both"):
        """Log partition function log Z.

        Parameters
        ----------
        method : {'ais', 'exact'}, default='ais'
            'exact' enumerates the block of layers (even or odd) with fewer units, at most
            ``max_bits``; 'ais' runs annealed importance sampling (Salakhutdinov & Hinton
            2009) from a base model of independent units: on v the training marginals
            (``visible_mean_``), on every hidden layer its mean-field posterior given v = those
            marginals. (Uniform hidden base rates, the other common choice, start the chains
            of a trained MNIST DBM in a basin they never leave and underestimate log Z by over
            100 nats with a small standard error.)
        n_chains, n_betas : int
            AIS runs and temperatures (Salakhutdinov & Murray's schedule).
        random_state : int, RandomState instance or None, default=None
        return_std : bool, default=False
            Also return the AIS standard error (0 for 'exact').
        max_bits : int, default=24
        parity : {'both', 'even', 'odd'}, default='both'
            AIS state: the even layers (v, h2, ...) with the odd ones summed out, as
            Salakhutdinov & Hinton; the odd layers with the even ones summed out; or both,
            ``n_chains`` chains each, their importance weights pooled (each chain's weight is
            an unbiased estimate of Z, so the pooled mean is too). Each run can miss mass the
            other finds: on a 784-500-1000 MNIST DBM the odd run gave log Z 7 nats higher.

        Returns
        -------
        log_z : float (and its standard error with ``return_std``)
        """
        check_is_fitted(self)
        if method == "exact":
            max_bits = _enumeration_limit(max_bits, "max_bits")
            log_z = _core.dbm_log_partition_exact(self._model(), max_bits, on_main_thread())
            return (log_z, 0.0) if return_std else log_z
        if method != "ais":
            raise ValueError(f"method must be 'ais' or 'exact', got {method!r}")
        n_chains = _check_positive_int(n_chains, "n_chains")
        n_betas = _check_positive_int(n_betas, "n_betas", minimum=2, maximum=_MAX_STEPS)
        parities = {"even": (0,), "odd": (1,), "both": (0, 1)}.get(parity)
        if parities is None:
            raise ValueError(f"parity must be 'both', 'even' or 'odd', got {parity!r}")
        base = self._ais_base()
        logws = [np.empty(n_chains, dtype=np.float64) for _ in parities]  # may fail: stream unused
        seed, epoch = self._next_stream(random_state)
        weights = []
        with Progress(len(parities) * (n_betas - 1), "AIS", unit="temperature") as bar:
            for i, par in enumerate(parities):
                logw = logws[i]
                log_z, std = _core.dbm_log_partition_ais(
                    self._model(), base, par, n_betas, seed, (epoch + i) % 2**32, logw,
                    on_main_thread(), bar.callback(i * (n_betas - 1), n_betas - 1))
                bar.fraction(1.0, i * (n_betas - 1), n_betas - 1)
                weights.append(logw + (log_z - log_mean_exp(logw)[0]))  # + log Z_0
        if len(parities) > 1:
            log_z, std = log_mean_exp(np.concatenate(weights))
        return (log_z, std) if return_std else log_z

    def _ais_base(self):
        """Logits of the AIS base model, every layer's concatenated (v, h1, h2, ...).

        v: the smoothed training marginals; each hidden layer: its mean-field posterior given
        v = those marginals - data-informed rates that cost one mean-field solve and need no
        stored statistics.
        """
        n = max(self.n_samples_seen_, 1)
        p = np.clip((self.visible_mean_ * n + 0.5) / (n + 1.0), 1e-7, 1 - 1e-7)
        parts = [np.log(p) - np.log1p(-p)]
        for mu in self.mean_field(p[None, :].astype(self._dtype())):
            q = np.clip(np.asarray(mu[0], dtype=np.float64), 1e-6, 1 - 1e-6)
            parts.append(np.log(q) - np.log1p(-q))
        return np.ascontiguousarray(np.concatenate(parts), dtype=self._dtype())

    def lower_bound(self, X, *, log_z=None, method="ais", **kwargs):
        """Mean-field variational lower bound ``-E_Q[E(x, h)] + H(Q) - log Z`` per row.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        log_z : float, optional
            log Z computed earlier.
        method : {'ais', 'exact'}, default='ais'
            How log Z is computed when not given.
        **kwargs
            Passed to :meth:`log_partition`.

        Returns
        -------
        bound : ndarray of shape (n_samples,), float64
        """
        check_is_fitted(self)
        X, source = self._validate_input(X)
        if log_z is None:
            log_z = self.log_partition(method, **kwargs)
        out = np.empty(X.shape[0], dtype=np.float64)
        _core.dbm_bound(self._model(), source, int(self.n_mean_field),
                        float(self.mean_field_tol), float(log_z), out, on_main_thread())
        return out

    def log_likelihood(self, X, method="ais", *, log_z=None, max_bits=24, **kwargs):
        """log p(x) per row: exact by enumeration, or the mean-field lower bound with AIS.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        method : {'ais', 'exact'}, default='ais'
            'exact' sums every hidden state (the smaller block of hidden layers, at most
            ``max_bits`` units) with the exact log Z. 'ais' returns :meth:`lower_bound` with
            an AIS log Z (Salakhutdinov & Hinton's estimate, a lower bound up to AIS error).
        log_z : float, optional
        max_bits : int, default=24
            Limit of both enumerations: the hidden block per row and, when ``log_z`` is not
            given, the block enumerated for log Z.
        **kwargs
            Passed to :meth:`log_partition`.

        Returns
        -------
        log_p : ndarray of shape (n_samples,), float64
        """
        check_is_fitted(self)
        if method == "ais":
            return self.lower_bound(X, log_z=log_z, method="ais", **kwargs)
        if method != "exact":
            raise ValueError(f"method must be 'ais' or 'exact', got {method!r}")
        X, source = self._validate_input(X)
        max_bits = _enumeration_limit(max_bits, "max_bits")
        if log_z is None:
            log_z = self.log_partition("exact", max_bits=max_bits)
        out = np.empty(X.shape[0], dtype=np.float64)
        _core.dbm_log_prob_exact(self._model(), source, float(log_z), max_bits, out,
                                 on_main_thread())
        return out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
