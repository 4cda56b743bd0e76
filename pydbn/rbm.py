"""Restricted Boltzmann machines: a drop-in replacement for scikit-learn's BernoulliRBM."""
import time
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
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
    log_mean_exp,
    on_main_thread,
    partial_fit_dask,
    update_visible_mean,
)

_VISIBLE = {"bernoulli": _core.VISIBLE_BERNOULLI, "gaussian": _core.VISIBLE_GAUSSIAN}
_METHOD = {"pcd": _core.METHOD_PCD, "cd": _core.METHOD_CD}
_HISTORY_ROWS = 1000


class RBM(FormatVersionMixin, StreamMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin,
          BaseEstimator):
    """Restricted Boltzmann machine with binary hidden units.

    A drop-in replacement for :class:`sklearn.neural_network.BernoulliRBM` (same parameters,
    defaults, fitted attributes and methods) that trains with CD-k or PCD-k in a C core over
    OpenBLAS, and adds Gaussian visible units, momentum, weight decay, sampling, free energies
    and log-likelihoods (exact for small models, annealed importance sampling otherwise).

    The energy of a joint state is ``E(v, h) = -b.v - c.h - h' W v`` for binary visible units
    and ``E(v, h) = |v - b|^2 / 2 - c.h - h' W v`` for unit-variance Gaussian ones, with
    ``W = components_``, ``b = intercept_visible_``, ``c = intercept_hidden_``.

    Parameters
    ----------
    n_components : int, default=256
        Number of binary hidden units.
    learning_rate : float, default=0.1
        Step size of the parameter updates. Gaussian visible units usually need a much
        smaller one (1e-3 to 1e-2) on standardized data.
    learning_rate_decay : float, default=0.0
        Epoch t (counted from 0 over every fit / partial_fit pass) uses
        ``learning_rate / (1 + learning_rate_decay * t)`` (as :class:`pydbn.DBM`); 0 keeps the
        rate constant, as scikit-learn's BernoulliRBM does.
    learning_rate_schedule : {'inverse', 'linear'}, default='inverse'
        'inverse' is the decay above. 'linear' holds ``learning_rate`` for the first half of
        ``n_iter`` epochs, then lowers it linearly so that epoch t of the second half runs
        at ``learning_rate * (n_iter - t) / (n_iter - n_iter // 2)``. The last epoch then
        runs at ``learning_rate / (n_iter - n_iter // 2)``, and ``partial_fit`` calls
        beyond ``n_iter`` keep that step. (Epoch ``n_iter // 2`` also runs at the full
        rate; ``n_iter <= 2`` never anneals.) This annealing of the final iterate gave the
        best CD-25 RBM on MNIST (``benchmarks/quality_rbm_mnist.py``) and the DBN bound of
        Salakhutdinov & Murray. ``learning_rate_decay`` is ignored.
    batch_size : int, default=10
        Examples per minibatch, and the number of persistent chains for ``method='pcd'``.
    n_iter : int, default=10
        Passes over the training data (epochs).
    verbose : int, default=0
        Print a line per epoch in scikit-learn's format.
    random_state : int, RandomState instance or None, default=None
        Seeds the initial weights and every random number the model draws (minibatch
        order, Gibbs sampling). An int makes the whole sequence of calls reproducible.
    method : {'pcd', 'cd', 'vpf'}, default='pcd'
        Persistent contrastive divergence (stochastic maximum likelihood, scikit-learn's
        choice), contrastive divergence with chains started at the data, or variational
        probability flow (Liu, Quek & Lin; the kernel of :class:`pydbn.VPF`): at the start of
        each epoch one sample of h given every training row, then Adam steps down the minimum
        probability flow objective of the (v, h) pairs - no Gibbs chains. With 'vpf',
        ``learning_rate`` is Adam's step size (the text uses 1e-3; the default 0.1 is far too
        large), ``k`` and ``momentum`` are not used, and the visible units must be binary.
        The flow objective is a mean over rows and units, so ``weight_decay`` weighs about
        (n_features + n_components) times more against it than against CD's gradient.
    k : int, default=1
        Gibbs steps per parameter update.
    momentum : float in [0, 1), default=0.0
        Momentum of the parameter velocities.
    weight_decay : float, default=0.0
        L2 penalty on the weights (not the biases).
    visible : {'bernoulli', 'gaussian'}, default='bernoulli'
        Binary visible units, or real-valued units with unit variance (for standardized
        data; survey text 004, Sec. 5.1).

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The weight matrix W (C-contiguous).
    intercept_hidden_ : ndarray of shape (n_components,)
        Hidden biases c.
    intercept_visible_ : ndarray of shape (n_features,)
        Visible biases b.
    h_samples_ : ndarray of shape (batch_size, n_components)
        Hidden states of the persistent chains (PCD); zeros for CD.
    visible_mean_ : ndarray of shape (n_features,)
        Mean of the training rows (float64), the base rate for AIS.
    n_samples_seen_ : int
        Training rows seen by ``fit`` / ``partial_fit``.
    history_ : dict of lists
        Per epoch: ``epoch``, ``pseudo_likelihood`` (mean score_samples on a fixed subset of at
        most 1000 training rows of the last ``fit`` / ``partial_fit`` call) and ``time``
        (seconds of training).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when X has string feature names.

    Notes
    -----
    float32 input gives a float32 model and float32 outputs; float64, integer and boolean input
    a float64 model. Dense input of the model's dtype is used in place whatever its memory
    order or strides; sparse input is read one minibatch at a time.

    ``fit`` runs one C call per epoch with the GIL released. Ctrl-C during ``fit`` keeps the
    parameters of the last finished epoch and raises ``KeyboardInterrupt``. An epoch that
    diverges (non-finite parameters) is undone and raises ``FloatingPointError``.

    ``gibbs`` returns 0/1 floats rather than scikit-learn's booleans, so that its output can be
    fed back in.

    Examples
    --------
    >>> import numpy as np
    >>> from pydbn import RBM
    >>> X = np.array([[0, 0, 0], [0, 1, 1], [1, 0, 1], [1, 1, 1]])
    >>> model = RBM(n_components=2, random_state=0).fit(X)
    >>> model.transform(X).shape
    (4, 2)
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "learning_rate_decay": [Interval(Real, 0, None, closed="left")],
        "learning_rate_schedule": [StrOptions({"inverse", "linear"})],
        # the core's limits: batch_size below 2^30, k a 32-bit unsigned int
        "batch_size": [Interval(Integral, 1, 2**30 - 1, closed="both")],
        "n_iter": [Interval(Integral, 0, None, closed="left")],
        "verbose": ["verbose"],
        "random_state": ["random_state"],
        "method": [StrOptions({"pcd", "cd", "vpf"})],
        "k": [Interval(Integral, 1, 2**32 - 1, closed="both")],
        "momentum": [Interval(Real, 0, 1, closed="left")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "visible": [StrOptions({"bernoulli", "gaussian"})],
    }

    def __init__(
        self,
        n_components=256,
        *,
        learning_rate=0.1,
        learning_rate_decay=0.0,
        learning_rate_schedule="inverse",
        batch_size=10,
        n_iter=10,
        verbose=0,
        random_state=None,
        method="pcd",
        k=1,
        momentum=0.0,
        weight_decay=0.0,
        visible="bernoulli",
    ):
        self.n_components = n_components
        self.learning_rate = learning_rate
        self.learning_rate_decay = learning_rate_decay
        self.learning_rate_schedule = learning_rate_schedule
        self.batch_size = batch_size
        self.n_iter = n_iter
        self.verbose = verbose
        self.random_state = random_state
        self.method = method
        self.k = k
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.visible = visible

    # ------------------------------------------------------------------ plumbing

    @property
    def _n_features_out(self):
        return self.components_.shape[0]

    def _model(self):
        return (
            self.components_,
            self.intercept_visible_,
            self.intercept_hidden_,
            _VISIBLE[self.visible],
            self._n_labels,
        )

    # A DBN's top layer models (h, one-hot label): its last _n_labels visible units form a
    # softmax group. _sample_input trains on Bernoulli samples of each minibatch's rows (a
    # DBN's greedy training with propagate='sample'). _start_parameters (weights, visible
    # biases, hidden biases) overwrite the leading block of a fresh random initialization
    # (DBN(layer_init='transpose'); views of the lower RBM's arrays, consumed by
    # _initialize). All are set by pydbn.DBN, never by users.
    _n_labels = 0
    _sample_input = False
    _start_parameters = None
    # a parameter added after models of this format were first saved: its value for them
    learning_rate_schedule = "inverse"
    # a DBM's pre-training doubles the input of a layer that has two neighbours in the DBM
    _up_scale = 1.0
    _down_scale = 1.0

    def _n_flippable(self, n_features):
        return n_features - self._n_labels

    def _validate_input(self, X, reset=False):
        """Validated X for the model (reset=False) and its description for the core."""
        X = validate_data(
            self, X, accept_sparse="csr", dtype=(np.float64, np.float32), reset=reset
        )
        return X, as_source(X, self.components_.dtype)

    def _initialize(self, X, rng):
        """Fresh parameters (scikit-learn's initialization), assigned only once all exist."""
        n_features = X.shape[1]
        dtype = X.dtype
        state = {
            "components_": np.ascontiguousarray(
                rng.normal(0, 0.01, (self.n_components, n_features)), dtype=dtype
            ),
            "intercept_hidden_": np.zeros(self.n_components, dtype=dtype),
            "intercept_visible_": np.zeros(n_features, dtype=dtype),
            "h_samples_": np.zeros((self.batch_size, self.n_components), dtype=dtype),
            "visible_mean_": np.zeros(n_features),
            "n_samples_seen_": 0,
            "history_": {"epoch": [], "pseudo_likelihood": [], "time": []},
            "_velocity": None,
            "_vpf_state": None,
            "_vpf_steps": 0,
        }
        start = self._start_parameters
        if start is not None:
            weights, visible, hidden = start
            m, nv = weights.shape
            state["components_"][:m, :nv] = weights
            state["intercept_visible_"][:nv] = visible
            state["intercept_hidden_"][:m] = hidden
            del self._start_parameters  # used once: a pickled DBN does not carry the copy
        self.__dict__.update(state)
        self._reset_stream(rng)

    def _velocities(self):
        if self.momentum == 0:
            return None, None, None
        if self._velocity is None or self._velocity[0].dtype != self.components_.dtype:
            self._velocity = tuple(
                np.zeros_like(a)
                for a in (self.components_, self.intercept_visible_, self.intercept_hidden_)
            )
        return self._velocity

    def _chains(self):
        if self.method != "pcd":
            return None
        # the fitted width: a changed n_components only takes effect at the next fit
        shape = (self.batch_size, self.components_.shape[0])
        if self.h_samples_.shape != shape:
            # batch_size changed between partial_fit calls: start fresh chains
            self.h_samples_ = np.zeros(shape, dtype=self.components_.dtype)
        return self.h_samples_

    def _update_mean(self, X):
        update_visible_mean(self, X)

    def _train(self, X, source, n_epochs):
        """Run n_epochs passes; one C call each, history and verbose output in Python."""
        rng = check_random_state(self._seed)
        n = X.shape[0]
        rows = np.sort(rng.permutation(n)[:_HISTORY_ROWS]) if n > _HISTORY_ROWS else None
        subset = X if rows is None else X[rows]
        flips = rng.randint(0, self._n_flippable(X.shape[1]), subset.shape[0]).astype(np.int64)
        sub_source = as_source(subset, self.components_.dtype)
        vel = self._velocities()
        desc = getattr(self, "_progress_desc", type(self).__name__)
        with InterruptGuard(n_epochs, desc) as guard:
            for _ in range(n_epochs):
                seed, epoch = self._next_stream()
                begin = time.perf_counter()
                if self.method == "vpf":
                    self._vpf_epoch(source, seed, epoch, guard)
                else:
                    self._cd_epoch(source, vel, seed, epoch, guard)
                elapsed = time.perf_counter() - begin
                score = float(np.mean(self._score(sub_source, flips)))
                self._record_epoch(score, elapsed)
                guard.check()

    def _epoch_learning_rate(self):
        done = len(self.history_["epoch"])
        if self.learning_rate_schedule == "linear":
            n = max(int(self.n_iter), 1)
            hold = n // 2
            t = min(done, n - 1)
            return float(self.learning_rate) * (1.0 if t < hold else (n - t) / (n - hold))
        return float(self.learning_rate) / (1.0 + float(self.learning_rate_decay) * done)

    def _check_vpf(self):
        if self.visible != "bernoulli" or self._n_labels or self._sample_input or \
                self._up_scale != 1.0 or self._down_scale != 1.0:
            raise ValueError("method='vpf' needs binary visible units (visible='bernoulli')")

    def _vpf_epoch(self, source, seed, epoch, guard):
        """One VPF epoch through the layered-Boltzmann-machine kernel (Adam)."""
        params = ([self.components_], [None, None],
                  [self.intercept_visible_, self.intercept_hidden_])
        if self._vpf_state is None or self._vpf_state[0][0].dtype != self.components_.dtype:
            def zeros(arrays):
                return [None if a is None else np.zeros_like(a) for a in arrays]
            self._vpf_state = (zeros(params[0]), zeros(params[0]), [None, None], [None, None],
                               zeros(params[2]), zeros(params[2]))
            self._vpf_steps = 0
        _, self._vpf_steps = _core.vpf_epoch(
            params, source, self._vpf_state, int(self._vpf_steps),
            learning_rate=self._epoch_learning_rate(),
            beta1=0.9,
            beta2=0.999,
            eps=1e-8,
            weight_decay=float(self.weight_decay),
            batch_size=int(self.batch_size),
            seed=seed,
            epoch=epoch,
            check_signals=on_main_thread(),
            guard=guard,
        )

    def _cd_epoch(self, source, vel, seed, epoch, guard):
        """One CD-k / PCD-k epoch in the RBM kernel."""
        _core.rbm_epoch(
            self._model(),
            source,
            vel[0],
            vel[1],
            vel[2],
            self._chains(),
            method=_METHOD[self.method],
            k=int(self.k),
            batch_size=int(self.batch_size),
            learning_rate=self._epoch_learning_rate(),
            momentum=float(self.momentum),
            weight_decay=float(self.weight_decay),
            seed=seed,
            epoch=epoch,
            check_signals=on_main_thread(),
            guard=guard,
            sample_input=bool(self._sample_input),
            up_scale=float(self._up_scale),
            down_scale=float(self._down_scale),
        )

    def _record_epoch(self, score, elapsed):
        history = self.history_
        history["epoch"].append(len(history["epoch"]) + 1)
        history["pseudo_likelihood"].append(score)
        history["time"].append(elapsed)
        if self.verbose:
            say(
                "[%s] Iteration %d, pseudo-likelihood = %.2f, time = %.2fs"
                % (type(self).__name__, history["epoch"][-1], score, elapsed)
            )

    # ------------------------------------------------------------------ training

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Fit the model to X.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data: values in [0, 1] for binary units (probabilities are accepted),
            standardized real values for Gaussian ones.
        y : None
            Ignored.

        Returns
        -------
        self : RBM
            The fitted model.
        """
        if self.method == "vpf":
            self._check_vpf()  # before anything is touched
        with keep_input_attributes_on_failure(self):  # e.g. no memory for the model
            X = validate_data(self, X, accept_sparse="csr", dtype=(np.float64, np.float32))
            self._initialize(X, check_random_state(self.random_state))
        self._update_mean(X)
        self._train(X, as_source(X, X.dtype), self.n_iter)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None):
        """One pass over X in shuffled minibatches (initializes the model on first call).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            A chunk of training data. A ``numpy.memmap`` is read in place; a dask array or
            dataframe is computed one row block at a time, in order, each block passed to
            ``partial_fit`` in turn (blocks before a failing one have already trained the model).
        y : None
            Ignored.

        Returns
        -------
        self : RBM
            The updated model.
        """
        if is_dask_collection(X):
            return partial_fit_dask(self, X, y)
        self._validate_params()  # skipped by scikit-learn for partial_fit once fitted
        if self.method == "vpf":
            self._check_vpf()  # before anything is touched
        first = not hasattr(self, "components_")
        with keep_input_attributes_on_failure(self):
            X = validate_data(
                self,
                X,
                accept_sparse="csr",
                dtype=(np.float64, np.float32) if first else self.components_.dtype,
                reset=first,
            )
            if first:
                self._initialize(X, check_random_state(self.random_state))
        self._train(X, as_source(X, self.components_.dtype), 1)
        self._update_mean(X)  # only rows of a finished pass count
        return self

    # ------------------------------------------------------------------ inference

    def transform(self, X):
        """Hidden unit probabilities p(h = 1 | v), the features of X.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Data.

        Returns
        -------
        h : ndarray of shape (n_samples, n_components)
            In the model's dtype.
        """
        check_is_fitted(self)
        X, source = self._validate_input(X)
        out = np.empty((X.shape[0], self.components_.shape[0]), dtype=self.components_.dtype)
        _core.rbm_hidden_probs(self._model(), source, out, on_main_thread())
        return out

    def reconstruct(self, X, mask=None, n_gibbs=1, random_state=None):
        """Mean-field reconstruction of X, or the unknown entries of X filled in.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Data.
        mask : array-like of bool, shape (n_samples, n_features), default=None
            None: the mean-field reconstruction ``E[v | h = p(h | X)]``. Given: True marks
            unknown entries (a corrupted image's missing pixels), filled by ``n_gibbs`` Gibbs
            steps with the known entries clamped - h ~ p(h | v), then the unknown entries of v
            ~ p(v | h) - starting from X; the unknown entries receive p(v = 1 | h) of the last
            step (binary visible units without label units only). This is the procedure of
            Liu, Quek & Lin's Table 1, and :func:`pydbn.metrics.reconstruction_error`'s
            contract.
        n_gibbs : int, default=1
            Gibbs steps with a mask (the text runs 1000 for CD / PCD models, 2 for VPF).
        random_state : int, RandomState instance or None, default=None
            Randomness of the Gibbs steps; None continues the model's own stream.

        Returns
        -------
        v : ndarray of shape (n_samples, n_features)
            Without a mask: ``sigmoid(b + W' p(h | x))`` for binary units, ``b + W' p(h | x)``
            for Gaussian. With a mask: X on the known entries, probabilities on the others.
        """
        check_is_fitted(self)
        X, source = self._validate_input(X)
        out = np.empty((X.shape[0], X.shape[1]), dtype=self.components_.dtype)
        if mask is None:
            _core.rbm_reconstruct(self._model(), source, out, on_main_thread())
            return out
        if self.visible != "bernoulli" or self._n_labels:
            raise ValueError("reconstruct with a mask needs binary visible units")
        mask = _dense_mask(mask, X.shape)
        n_gibbs = _check_positive_int(n_gibbs, "n_gibbs", maximum=_MAX_GIBBS)
        seed, epoch = self._next_stream(random_state)
        model = ([self.components_], [None, None],
                 [self.intercept_visible_, self.intercept_hidden_])
        _core.bm_reconstruct(model, source, np.ascontiguousarray(mask, dtype=np.uint8), n_gibbs,
                             seed, epoch, out, on_main_thread())
        return out

    def free_energy(self, X):
        """Free energy F(v) = -log sum_h exp(-E(v, h)) of each row.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Data.

        Returns
        -------
        F : ndarray of shape (n_samples,)
            Computed in float64, returned in the model's dtype.
        """
        check_is_fitted(self)
        X, source = self._validate_input(X)
        out = np.empty(X.shape[0], dtype=np.float64)
        _core.rbm_free_energy(self._model(), source, out, on_main_thread())
        return out.astype(self.components_.dtype, copy=False)

    def _score(self, source, flips):
        out = np.empty(len(flips), dtype=np.float64)
        _core.rbm_pseudo_loglik(self._model(), source, flips, out, on_main_thread())
        return out

    def score_samples(self, X):
        """Pseudo-log-likelihood of each row, as scikit-learn's BernoulliRBM computes it.

        One randomly chosen visible unit per row is flipped (``v_i -> 1 - v_i``), with the
        indices drawn from ``check_random_state(self.random_state)``, and the score is
        ``n_features * log sigmoid(F(v') - F(v))``. The flipped free energy is a row update
        of the first, so the cost is one GEMM. For Gaussian visible units this returns
        ``-F(v)``, the log density up to the constant log Z.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Data.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            In the model's dtype.
        """
        check_is_fitted(self)
        X, source = self._validate_input(X)
        dtype = self.components_.dtype
        if self.visible == "gaussian":
            out = np.empty(X.shape[0], dtype=np.float64)
            _core.rbm_free_energy(self._model(), source, out, on_main_thread())
            return (-out).astype(dtype, copy=False)
        rng = check_random_state(self.random_state)
        flips = rng.randint(0, self._n_flippable(X.shape[1]), X.shape[0]).astype(np.int64)
        return self._score(source, flips).astype(dtype, copy=False)

    # ------------------------------------------------------------------ sampling

    def gibbs(self, v):
        """One Gibbs step from each row: h ~ p(h | v), then v' ~ p(v | h).

        Parameters
        ----------
        v : {array-like, sparse matrix} of shape (n_samples, n_features)
            Start states.

        Returns
        -------
        v_new : ndarray of shape (n_samples, n_features)
            Sampled visible states (0/1 floats for binary units), in the model's dtype.
        """
        check_is_fitted(self)
        v, source = self._validate_input(v)
        out = np.empty((v.shape[0], v.shape[1]), dtype=self.components_.dtype)
        seed, epoch = self._next_stream()
        _core.rbm_gibbs(self._model(), source, seed, epoch, out, on_main_thread())
        return out

    def sample(self, n_samples=100, n_steps=1000, random_state=None, return_means=False):
        """Draw from the model by free-running block Gibbs chains.

        Each chain starts from uniformly random binary states (``N(b, I)`` for Gaussian units)
        and runs ``n_steps`` steps of h ~ p(h | v), v ~ p(v | h).

        Parameters
        ----------
        n_samples : int, default=100
            Number of independent chains.
        n_steps : int, default=1000
            Gibbs steps per chain.
        random_state : int, RandomState instance or None, default=None
            None continues the model's own stream (fresh draws each call, reproducible from
            the model's ``random_state``); otherwise the draws depend only on this value.
        return_means : bool, default=False
            Return p(v | h) of the last step (E[v | h] for Gaussian units) instead of states.

        Returns
        -------
        samples : ndarray of shape (n_samples, n_features)
        """
        check_is_fitted(self)
        n_samples = _check_positive_int(n_samples, "n_samples", minimum=0)
        n_steps = _check_positive_int(n_steps, "n_steps", maximum=_MAX_STEPS)
        out = np.empty((n_samples, self.components_.shape[1]), dtype=self.components_.dtype)
        seed, epoch = self._next_stream(random_state)
        _core.rbm_sample(
            self._model(), n_steps, seed, epoch, bool(return_means), out, on_main_thread()
        )
        return out

    # ------------------------------------------------------------------ likelihoods

    def log_partition(
        self,
        method="exact",
        *,
        n_chains=100,
        n_betas=14500,
        random_state=None,
        return_std=False,
        max_units=24,
        side="auto",
    ):
        """Log partition function log Z of the model.

        Parameters
        ----------
        method : {'exact', 'ais'}, default='exact'
            'exact' enumerates the smaller layer (the hidden one for Gaussian visible units),
            at most ``max_units`` units. 'ais' runs annealed importance sampling (Salakhutdinov
            & Murray 2008) from a base-rate model whose visible biases match the training
            marginals (``visible_mean_``), with their schedule of ``n_betas`` temperatures.
        n_chains : int, default=100
            AIS runs.
        n_betas : int, default=14500
            AIS temperatures, from 0 to 1 (500 : 4000 : 10000 on [0, .5], [.5, .9], [.9, 1]).
        random_state : int, RandomState instance or None, default=None
            AIS randomness; None continues the model's own stream.
        return_std : bool, default=False
            Also return the standard error of the estimate (0 for 'exact'; for AIS the delta
            method's std(w) / (sqrt(n_chains) mean(w)) on the importance weights).
        max_units : int, default=24
            Largest layer 'exact' will enumerate.
        side : {'auto', 'visible', 'hidden', 'both'}, default='auto'
            Which layer the AIS chains anneal, the other one summed out. 'visible' is
            Salakhutdinov & Murray's choice. 'hidden' anneals the hidden units (binary visible
            units without labels only) from a base model with the hidden probabilities at the
            mean training vector, ``sigmoid(c + W visible_mean_)``. 'both' runs
            ``n_chains`` chains on each side and pools their importance weights: every chain's
            weight is an unbiased estimate of Z, so the pooled mean is too, and it holds
            whichever side found the model's mass. This matters: for a 500-2000 RBM trained on
            MNIST features the visible side underestimated log Z by 50 nats with a standard
            error below 1, while for a 784-500 RBM the hidden side fell 7 nats short. 'auto'
            is 'both' where 'hidden' applies and 'visible' otherwise.

        Returns
        -------
        log_z : float
        std_err : float
            Only when ``return_std`` is True (over the pooled chains with ``side='both'``).
        """
        check_is_fitted(self)
        if method == "exact":
            max_units = _enumeration_limit(max_units, "max_units")
            log_z = _core.rbm_log_partition_exact(self._model(), max_units, on_main_thread())
            return (log_z, 0.0) if return_std else log_z
        if method != "ais":
            raise ValueError(f"method must be 'exact' or 'ais', got {method!r}")
        n_chains = _check_positive_int(n_chains, "n_chains")
        n_betas = _check_positive_int(n_betas, "n_betas", minimum=2, maximum=_MAX_STEPS)
        sides = self._ais_sides(side)
        logws = [np.empty(n_chains, dtype=np.float64) for _ in sides]  # may fail: stream unused
        seed, epoch = self._next_stream(random_state)
        weights = []
        with Progress(len(sides) * (n_betas - 1), "AIS", unit="temperature") as bar:
            for i, which in enumerate(sides):
                model, base = self._ais_problem(which)
                logw = logws[i]
                log_z, std = _core.rbm_log_partition_ais(
                    model, base, n_betas, seed, (epoch + i) % 2**32, logw, on_main_thread(),
                    bar.callback(i * (n_betas - 1), n_betas - 1),
                )
                bar.fraction(1.0, i * (n_betas - 1), n_betas - 1)
                if len(sides) == 1:
                    return (log_z, std) if return_std else log_z
                # the chains' weights for Z itself: log w + log Z_0 of their base model
                weights.append(logw + (log_z - log_mean_exp(logw)[0]))
        log_z, std = log_mean_exp(np.concatenate(weights))
        return (log_z, std) if return_std else log_z

    def _ais_sides(self, side):
        hidden_ok = self.visible == "bernoulli" and not self._n_labels
        if side not in ("auto", "visible", "hidden", "both"):
            raise ValueError(
                f"side must be 'auto', 'visible', 'hidden' or 'both', got {side!r}"
            )
        if side in ("hidden", "both") and not hidden_ok:
            raise ValueError(
                f"side={side!r} needs binary visible units without label units; "
                "use side='visible'"
            )
        if side == "auto":
            side = "both" if hidden_ok else "visible"
        return ("visible", "hidden") if side == "both" else (side,)

    def _ais_problem(self, side):
        """(model, base logits) whose 'visible' layer the AIS kernel anneals.

        For the hidden side: the same RBM with its layers swapped (the energy is symmetric in
        v and h for binary units, so log Z is the same), base rates sigmoid(c + W p) at the
        smoothed training marginals p.
        """
        dtype = self.components_.dtype
        if side == "visible":
            return self._model(), np.ascontiguousarray(self._base_bias(), dtype=dtype)
        n = max(self.n_samples_seen_, 1)
        p = np.clip((self.visible_mean_ * n + 0.5) / (n + 1.0), 1e-7, 1 - 1e-7)
        logits = np.clip(self.components_ @ p.astype(dtype) + self.intercept_hidden_, -16, 16)
        swapped = (
            np.ascontiguousarray(self.components_.T),
            self.intercept_hidden_,
            self.intercept_visible_,
            _VISIBLE["bernoulli"],
            0,
        )
        return swapped, np.ascontiguousarray(logits, dtype=dtype)

    def _base_bias(self):
        """Visible biases of the AIS base model: logits of the smoothed data marginals."""
        n = max(self.n_samples_seen_, 1)
        p = (self.visible_mean_ * n + 0.5) / (n + 1.0)  # keeps the logits finite
        p = np.clip(p, 1e-7, 1 - 1e-7)
        base = self.visible_mean_.copy() if self.visible == "gaussian" else np.log(p) - np.log1p(-p)
        if self._n_labels:  # a softmax group's base model: log class frequencies
            base[-self._n_labels:] = np.log(p[-self._n_labels:])
        return base

    def log_likelihood(self, X, method="exact", *, log_z=None, **kwargs):
        """Log-probability log p(x) = -F(x) - log Z of each row.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Data.
        method : {'exact', 'ais'}, default='exact'
            How log Z is computed, see :meth:`log_partition`.
        log_z : float, optional
            A log Z computed earlier (skips computing it again).
        **kwargs
            Passed to :meth:`log_partition` (``n_chains``, ``n_betas``, ``random_state``,
            ``max_units``).

        Returns
        -------
        log_p : ndarray of shape (n_samples,)
            In the model's dtype (computed in float64). For Gaussian units, a log density.
        """
        check_is_fitted(self)
        X, source = self._validate_input(X)
        free = np.empty(X.shape[0], dtype=np.float64)
        _core.rbm_free_energy(self._model(), source, free, on_main_thread())
        if log_z is None:
            log_z = self.log_partition(method, **kwargs)
        return (-free - float(log_z)).astype(self.components_.dtype, copy=False)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags


# Largest counts the core takes: sizes are ssize_t; Gibbs steps of rbm_sample / AIS temperatures
# 2^23; Gibbs steps of bm_generate / bm_reconstruct below 2^32 - 2. Checked here, before a
# method draws from the model's stream, so that a refused call leaves the model as it was.
_MAX_SIZE = 2**63 - 1
_MAX_STEPS = 2**23
_MAX_GIBBS = 2**32 - 3


def _check_positive_int(value, name, minimum=1, maximum=_MAX_SIZE):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value > maximum:
        raise ValueError(f"{name} must be an integer <= {maximum}, got {value!r}")
    return int(value)


def _enumeration_limit(value, name, cap=40):
    """A max_units / max_bits limit for the core: at most its own cap (2^40 states; 2^30 for a
    DBN), so that a larger limit neither wraps in its 32-bit argument nor appears in its error
    message as a limit that was not the one applied."""
    return min(_check_positive_int(value, name), cap)


def _label_array(y):
    """Labels given to a method as an array (a scalar stays 0-d); sparse matrices refused."""
    if sp.issparse(y):
        raise TypeError("y must be a label or a dense array of labels, got a sparse matrix")
    return np.asarray(y)


def _dense_mask(mask, shape):
    """A reconstruct mask checked against X's shape: dense, 0/1 or boolean."""
    if sp.issparse(mask):
        raise TypeError("mask must be a dense array (True where an entry is unknown), got a "
                        "sparse matrix; use mask.toarray()")
    mask = np.asarray(mask)
    if mask.shape != shape:
        raise ValueError(f"mask must have X's shape {shape}, got {mask.shape}")
    if mask.dtype != bool and not np.all((mask == 0) | (mask == 1)):
        raise ValueError("mask must be boolean (True where an entry is unknown)")
    return mask
