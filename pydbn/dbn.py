"""Deep belief networks: greedy stacking of RBMs, label units, up-down fine-tuning."""
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
from sklearn.utils import ClassifierTags, check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from . import _core
from .persistence import FormatVersionMixin
from ._progress import say
from ._base import InterruptGuard, StreamMixin, as_source, layer_sizes, on_main_thread
from ._base import keep_input_attributes_on_failure
from .rbm import RBM, _MAX_STEPS, _VISIBLE, _check_positive_int, _enumeration_limit, _label_array

_HISTORY_ROWS = 1000
_LAYER_PARAMS = ("learning_rate", "learning_rate_decay", "learning_rate_schedule", "batch_size",
                 "n_iter", "method", "k", "momentum", "weight_decay")


def _scalar_or_sequence(kind, low, closed="left"):
    return [Interval(kind, low, None, closed=closed), "array-like"]


class DBN(FormatVersionMixin, StreamMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin,
          BaseEstimator):
    """Deep belief network (Hinton, Osindero & Teh 2006).

    The top two layers form an RBM; every layer below is a directed sigmoid layer that
    generates the one beneath it (survey text 004, Sec. 3, Eq. 19-21). ``fit`` trains the
    layers greedily, each an :class:`pydbn.RBM` on the activations of the layer below
    (Eq. 22); with labels, a softmax group of label units joins the visible side of the top
    RBM, which makes the network a generative classifier. ``fine_tune='up-down'`` then
    unties the recognition weights from the generative ones and trains both with the
    contrastive wake-sleep (up-down) algorithm.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(500, 500)
        Units in each hidden layer, bottom to top; the last two layers form the top RBM.
    learning_rate : float or sequence of float, default=0.1
        Greedy training step size, one value or one per layer.
    learning_rate_decay : float or sequence of float, default=0.0
        Per layer: its RBM's epoch t uses ``learning_rate / (1 + learning_rate_decay * t)``.
    learning_rate_schedule : {'inverse', 'linear'} or sequence, default='inverse'
        Per layer: the decay above, or the RBM's 'linear' annealing (held for half the
        epochs, then linearly down; see :class:`pydbn.RBM`).
    batch_size : int or sequence of int, default=10
        Minibatch size (and PCD chains) of each layer's RBM.
    n_iter : int or sequence of int, default=10
        Greedy epochs of each layer.
    method : {'pcd', 'cd'} or sequence, default='pcd'
        RBM training method of each layer.
    k : int or sequence of int, default=1
        Gibbs steps per update of each layer.
    momentum : float or sequence of float, default=0.0
        Momentum of each layer's RBM.
    weight_decay : float or sequence of float, default=0.0
        L2 penalty on each layer's weights (also used by up-down fine-tuning, top layer's
        value).
    visible : {'bernoulli', 'gaussian'}, default='bernoulli'
        Unit type of the data layer (Gaussian: unit variance, for standardized data).
    propagate : {'mean', 'sample'}, default='mean'
        What each layer is trained on: the probabilities q(h = 1 | layer below) of the layer
        below ('mean', Hinton & Salakhutdinov's practice: lower-variance updates), or a fresh
        binary sample of them in every minibatch ('sample': the RBM then maximizes exactly
        the term of the variational bound that greedy training improves, text 004 Eq. 22).
    layer_init : {'random', 'transpose'}, default='random'
        Starting point of each layer above the first: small random weights
        (scikit-learn's RBM initialization), or the layer below turned upside down
        ('transpose', Hinton, Osindero & Teh 2006, Section 4): with m the number of visible
        units of the RBM directly below, the new RBM's first m hidden units take that RBM's
        transposed weights and visible biases, its visible biases take that RBM's hidden
        biases, and any further hidden units start random. The new RBM then begins as the
        prior over h that the RBM below already defines, so the variational bound starts
        equal to that RBM's log-likelihood (up to the small random weights of extra units and
        of label units); training on samples of q(h | v) (``propagate='sample'``) then
        maximizes the bound's term from there. Applies to a layer with at least m hidden
        units (else it starts random; also above Gaussian visible units, whose prior over h
        is not an RBM's).
    fine_tune : {None, 'up-down'}, default=None
        After greedy training, run ``n_iter_fine_tune`` epochs of the up-down algorithm
        (Hinton et al. 2006, Appendix B), with labels when ``fit`` was given ``y``.
    n_iter_fine_tune : int, default=10
        Up-down epochs, in minibatches of the top layer's ``batch_size``.
    learning_rate_fine_tune : float, default=0.01
        Up-down step size.
    k_fine_tune : int, default=3
        Gibbs steps in the top RBM per up-down update.
    use_labels : bool, default=True
        Whether ``fit(X, y)`` trains label units. False ignores ``y`` (unsupervised features
        inside a supervised Pipeline).
    transform_layers : {'top', 'all'}, default='top'
        ``transform`` returns the top layer's mean activations, or every hidden layer's,
        concatenated bottom to top.
    random_state : int, RandomState instance or None, default=None
        Seeds every layer's initialization and every random number the model draws.
    verbose : int, default=0
        Print a line per epoch.

    Attributes
    ----------
    rbms_ : list of RBM
        The layers, bottom to top. Layer ``i``'s ``components_`` (n_units_i x n_units_{i-1})
        and ``intercept_visible_`` are the generative weights and biases of the layer below
        it; the top one is the top RBM, whose visible layer, when the network has labels,
        ends with ``len(classes_)`` label units.
    recognition_weights_ : list of ndarray
        Recognition weights of the directed layers (all but the top RBM); copies of the
        greedy weights, untied by fine-tuning.
    recognition_intercepts_ : list of ndarray
        Recognition (up-pass) biases of the directed layers.
    classes_ : ndarray of shape (n_classes,) or None
        Class labels when the network has label units.
    history_ : dict of lists
        Per epoch: ``layer`` (1-based, or ``'up-down'``), ``epoch``, ``score`` (the layer's
        pseudo-likelihood on a training subset; for up-down epochs the training-subset
        accuracy with labels, NaN without) and ``time``.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)

    Notes
    -----
    ``predict_proba`` computes p(y | v) exactly from the free energy of each label
    configuration in the top RBM, given the up-pass probabilities of the layer below it
    (no sampling). ``transform`` with labels returns the top layer's means with the label
    summed out under its exact posterior.

    Ctrl-C during greedy training leaves a network of the layers trained so far (the
    interrupted one at its last finished epoch); during fine-tuning, the parameters of the
    last finished up-down epoch. Then ``KeyboardInterrupt`` is raised.

    Examples
    --------
    >>> import numpy as np
    >>> from pydbn import DBN
    >>> X = (np.random.RandomState(0).rand(100, 16) > 0.5).astype(float)
    >>> dbn = DBN(hidden_layer_sizes=(8, 4), n_iter=2, random_state=0).fit(X)
    >>> dbn.transform(X).shape
    (100, 4)
    """

    # parameters added after models of this format were first saved: their values for them
    layer_init = "random"
    learning_rate_schedule = "inverse"

    _parameter_constraints: dict = {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "learning_rate": _scalar_or_sequence(Real, 0, "neither"),
        "learning_rate_decay": _scalar_or_sequence(Real, 0),
        "learning_rate_schedule": [StrOptions({"inverse", "linear"}), "array-like"],
        "batch_size": _scalar_or_sequence(Integral, 1),
        "n_iter": _scalar_or_sequence(Integral, 0),
        "method": [StrOptions({"pcd", "cd"}), "array-like"],
        "k": _scalar_or_sequence(Integral, 1),
        "momentum": [Interval(Real, 0, 1, closed="left"), "array-like"],
        "weight_decay": _scalar_or_sequence(Real, 0),
        "visible": [StrOptions({"bernoulli", "gaussian"})],
        "propagate": [StrOptions({"mean", "sample"})],
        "layer_init": [StrOptions({"random", "transpose"})],
        "fine_tune": [StrOptions({"up-down"}), None],
        "n_iter_fine_tune": [Interval(Integral, 0, None, closed="left")],
        "learning_rate_fine_tune": [Interval(Real, 0, None, closed="neither")],
        "k_fine_tune": [Interval(Integral, 1, 2**32 - 1, closed="both")],  # C unsigned int
        "use_labels": ["boolean"],
        "transform_layers": [StrOptions({"top", "all"})],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        hidden_layer_sizes=(500, 500),
        *,
        learning_rate=0.1,
        learning_rate_decay=0.0,
        learning_rate_schedule="inverse",
        batch_size=10,
        n_iter=10,
        method="pcd",
        k=1,
        momentum=0.0,
        weight_decay=0.0,
        visible="bernoulli",
        propagate="mean",
        layer_init="random",
        fine_tune=None,
        n_iter_fine_tune=10,
        learning_rate_fine_tune=0.01,
        k_fine_tune=3,
        use_labels=True,
        transform_layers="top",
        random_state=None,
        verbose=0,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.learning_rate = learning_rate
        self.learning_rate_decay = learning_rate_decay
        self.learning_rate_schedule = learning_rate_schedule
        self.batch_size = batch_size
        self.n_iter = n_iter
        self.method = method
        self.k = k
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.visible = visible
        self.propagate = propagate
        self.layer_init = layer_init
        self.fine_tune = fine_tune
        self.n_iter_fine_tune = n_iter_fine_tune
        self.learning_rate_fine_tune = learning_rate_fine_tune
        self.k_fine_tune = k_fine_tune
        self.use_labels = use_labels
        self.transform_layers = transform_layers
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ plumbing

    def _sizes(self):
        return layer_sizes(self.hidden_layer_sizes, "hidden_layer_sizes must be positive integers")

    def _layer_settings(self, n_layers):
        """Per-layer RBM keyword arguments, from scalars or sequences of length n_layers."""
        per_layer = [{} for _ in range(n_layers)]
        for name in _LAYER_PARAMS:
            value = getattr(self, name)
            if isinstance(value, str) or np.ndim(value) == 0:
                values = [value] * n_layers
            else:
                values = list(value)
                if len(values) != n_layers:
                    raise ValueError(
                        f"{name} has {len(values)} values for {n_layers} layers"
                    )
            for i, v in enumerate(values):
                per_layer[i][name] = v
        for settings in per_layer:  # each value checked by RBM's own constraints
            RBM(**settings)._validate_params()
        return per_layer

    @property
    def _n_features_out(self):
        sizes = [r.components_.shape[0] for r in self.rbms_]
        return sum(sizes) if self.transform_layers == "all" else sizes[-1]

    @property
    def _n_labels(self):
        return 0 if self.classes_ is None else len(self.classes_)

    def _model(self):
        rbms = self.rbms_
        return (
            _VISIBLE[self.visible],
            [r.components_ for r in rbms[:-1]],
            [r.intercept_visible_ for r in rbms[:-1]],
            list(self.recognition_weights_),
            list(self.recognition_intercepts_),
            rbms[-1]._model(),
        )

    def _recognition_layer(self, i):
        """Layer i's recognition weights as an RBM view (for the up-pass kernel)."""
        vis = _VISIBLE[self.visible] if i == 0 else _core.VISIBLE_BERNOULLI
        return (
            self.recognition_weights_[i],
            self.rbms_[i].intercept_visible_,
            self.recognition_intercepts_[i],
            vis,
        )

    def _validate_input(self, X):
        return validate_data(
            self, X, accept_sparse="csr", dtype=self.rbms_[0].components_.dtype, reset=False
        )

    def _up(self, X):
        """Up-pass probabilities of every directed layer, bottom to top (h_1 .. h_{L-1})."""
        dtype = self.rbms_[0].components_.dtype
        source = as_source(X, dtype)
        layers = []
        for i in range(len(self.rbms_) - 1):
            out = np.empty((X.shape[0], self.recognition_weights_[i].shape[0]), dtype=dtype)
            _core.rbm_hidden_probs(self._recognition_layer(i), source, out, on_main_thread())
            layers.append(out)
            source = out
        return source, layers

    # ------------------------------------------------------------------ training

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Greedy layer-wise training, then optional up-down fine-tuning.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data: values in [0, 1] for binary units, standardized values for
            Gaussian ones.
        y : array-like of shape (n_samples,), default=None
            Class labels: with ``use_labels=True`` they train label units in the top RBM.

        Returns
        -------
        self : DBN
        """
        sizes = self._sizes()  # refuse bad settings before anything is touched
        settings = self._layer_settings(len(sizes))
        previous = dict(vars(self))  # kept by a fit that fails before it trains any layer
        labels = None
        classes = None
        with keep_input_attributes_on_failure(self):
            X = validate_data(self, X, accept_sparse="csr", dtype=(np.float64, np.float32))
            if y is not None and self.use_labels:
                y = column_or_1d(y, warn=True)
                if y.shape[0] != X.shape[0]:
                    raise ValueError(f"y must hold one label per row of X: {y.shape[0]} labels, "
                                     f"{X.shape[0]} rows")
                check_classification_targets(y)
                classes, labels = np.unique(y, return_inverse=True)
                labels = labels.astype(np.int64)
        rng = check_random_state(self.random_state)
        self._reset_stream(rng)
        self.rbms_ = []
        self.recognition_weights_ = []
        self.recognition_intercepts_ = []
        self.classes_ = None
        self.history_ = {"layer": [], "epoch": [], "score": [], "time": []}
        dtype = X.dtype
        data = X
        for i, n_units in enumerate(sizes):
            top = i == len(sizes) - 1
            rbm = RBM(
                n_units,
                visible=self.visible if i == 0 else "bernoulli",
                random_state=int(rng.randint(2**32, dtype=np.uint64)),
                verbose=self.verbose,
                **settings[i],
            )
            rbm._progress_desc = "DBN layer %d/%d" % (i + 1, len(sizes))
            if self.verbose:
                say("[DBN] Layer %d: %d units" % (i + 1, n_units))
            if i > 0 and self.propagate == "sample":
                rbm._sample_input = True
            if i > 0 and self.layer_init == "transpose":
                start = self._transposed_start(i)
                if start is not None:
                    rbm._start_parameters = start
            train = data
            if top and labels is not None:
                rbm._n_labels = len(classes)
                onehot = np.zeros((X.shape[0], len(classes)), dtype=dtype)
                onehot[np.arange(X.shape[0]), labels] = 1
                train = (sp.hstack([data, onehot], format="csr") if sp.issparse(data)
                         else np.hstack([data, onehot]))
            try:
                rbm.fit(train)
            except BaseException:
                # interrupted (or failed): keep the layers trained so far, this one included
                # as the top at its last finished epoch
                self._add_layer(rbm, i, top=True)
                if not self.rbms_:  # none (the first layer could not be created)
                    vars(self).clear()
                    vars(self).update(previous)
                    raise
                if top and labels is not None and hasattr(rbm, "components_"):
                    self.classes_ = classes
                # the last kept layer is the top RBM: it has no recognition copy
                del self.recognition_weights_[len(self.rbms_) - 1:]
                del self.recognition_intercepts_[len(self.rbms_) - 1:]
                raise
            self._add_layer(rbm, i, top)
            if top and labels is not None:
                self.classes_ = classes
            if not top:
                out = np.empty((X.shape[0], n_units), dtype=dtype)
                _core.rbm_hidden_probs(rbm._model(), as_source(data, dtype), out,
                                       on_main_thread())
                data = out
        if self.fine_tune == "up-down":
            self._fine_tune(X, labels)
        return self

    def _transposed_start(self, i):
        """(weights, visible biases, hidden biases) that make layer i start as the prior over
        its visible units defined by layer i - 1 (None where that prior is not an RBM's)."""
        below = self.rbms_[i - 1]
        n_units = self._sizes()[i]
        if (i == 1 and self.visible != "bernoulli") or n_units < below.components_.shape[1]:
            return None
        # p(h) = sum_v exp(-E(v, h)) / Z = exp(c.h) prod_j (1 + exp(a_j + W_j.h)) / Z: an RBM
        # over h whose hidden unit j has the weights W[:, j] and bias a_j
        return (below.components_.T, below.intercept_hidden_, below.intercept_visible_)

    def _add_layer(self, rbm, i, top):
        """Record a trained (or interrupted) layer and its history."""
        if not hasattr(rbm, "components_"):
            return
        self.rbms_.append(rbm)
        if not top:
            self.recognition_weights_.append(rbm.components_.copy())
            self.recognition_intercepts_.append(rbm.intercept_hidden_.copy())
        h = rbm.history_
        self.history_["layer"].extend([i + 1] * len(h["epoch"]))
        self.history_["epoch"].extend(h["epoch"])
        self.history_["score"].extend(h["pseudo_likelihood"])
        self.history_["time"].extend(h["time"])

    def _fine_tune(self, X, labels):
        dtype = self.rbms_[0].components_.dtype
        source = as_source(X, dtype)
        rng = check_random_state(self._seed)
        n = X.shape[0]
        rows = np.sort(rng.permutation(n)[:_HISTORY_ROWS]) if n > _HISTORY_ROWS else slice(None)
        top = self.rbms_[-1]
        wd = float(top.weight_decay)
        with InterruptGuard(self.n_iter_fine_tune, "DBN up-down") as guard:
            for e in range(self.n_iter_fine_tune):
                seed, epoch = self._next_stream()
                begin = time.perf_counter()
                _core.dbn_updown_epoch(
                    self._model(), source, labels,
                    k=int(self.k_fine_tune),
                    batch_size=int(top.batch_size),
                    learning_rate=float(self.learning_rate_fine_tune),
                    weight_decay=wd,
                    seed=seed,
                    epoch=epoch,
                    check_signals=on_main_thread(),
                    guard=guard,
                )
                elapsed = time.perf_counter() - begin
                score = np.nan
                if labels is not None:
                    pred = np.argmax(self._log_proba(X[rows]), axis=1)
                    score = float(np.mean(pred == labels[rows]))
                h = self.history_
                h["layer"].append("up-down")
                h["epoch"].append(e + 1)
                h["score"].append(score)
                h["time"].append(elapsed)
                if self.verbose:
                    say("[DBN] Up-down iteration %d, training accuracy = %.4f, time = %.2fs"
                          % (e + 1, score, elapsed))
                guard.check()

    # ------------------------------------------------------------------ inference

    def transform(self, X):
        """Mean activations of the top hidden layer (or of all layers) by the up-pass.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        H : ndarray of shape (n_samples, n_features_out)
            In the model's dtype. With label units, the top layer's means have the label
            summed out under its exact posterior p(y | h_{L-1}).
        """
        check_is_fitted(self)
        X = self._validate_input(X)
        below, layers = self._up(X)
        top = self.rbms_[-1]
        dtype = top.components_.dtype
        out = np.empty((X.shape[0], top.components_.shape[0]), dtype=dtype)
        src = below  # the up-pass's last output, or X itself described for the core
        if self._n_labels:
            free = np.empty((X.shape[0], self._n_labels), dtype=np.float64)
            _core.rbm_label_free_energy(top._model(), src, free, out, on_main_thread())
        else:
            _core.rbm_hidden_probs(top._model(), src, out, on_main_thread())
        if self.transform_layers == "all":
            return np.hstack(layers + [out])
        return out

    def _log_proba(self, X):
        if not self._n_labels:
            raise AttributeError(
                "this DBN has no label units: fit it with y (and use_labels=True) to predict"
            )
        below, layers = self._up(X)
        src = below
        free = np.empty((X.shape[0], self._n_labels), dtype=np.float64)
        _core.rbm_label_free_energy(self.rbms_[-1]._model(), src, free, None, on_main_thread())
        logits = -free
        logits -= logits.max(axis=1, keepdims=True)
        return logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))

    def predict_proba(self, X):
        """p(y | x) from the free energy of each label configuration (exact, no sampling).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Columns in the order of ``classes_``; float64.
        """
        check_is_fitted(self)
        X = self._validate_input(X)
        return np.exp(self._log_proba(X))

    def predict(self, X):
        """The most probable class of each row (argmin of the label free energies).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        X = self._validate_input(X)
        return self.classes_[np.argmax(self._log_proba(X), axis=1)]

    def score(self, X, y, sample_weight=None):
        """Mean accuracy of ``predict`` on (X, y), as scikit-learn's classifiers define it.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        accuracy : float
        """
        from sklearn.metrics import accuracy_score

        return float(accuracy_score(y, self.predict(X), sample_weight=sample_weight))

    # ------------------------------------------------------------------ sampling

    def sample(self, n_samples=100, y=None, n_gibbs=1000, random_state=None,
               return_means=False):
        """Draw from the network: Gibbs in the top RBM, then one ancestral pass down.

        Parameters
        ----------
        n_samples : int, default=100
            Number of independent draws.
        y : array-like of shape (n_samples,) or a single label, default=None
            Class labels to clamp in the top RBM (class-conditional generation); needs
            label units.
        n_gibbs : int, default=1000
            Gibbs steps in the top RBM, from random states.
        random_state : int, RandomState instance or None, default=None
            None continues the model's own stream; otherwise the draws depend only on it.
        return_means : bool, default=False
            Return p(v | h_1) of the final pass instead of binary states.

        Returns
        -------
        samples : ndarray of shape (n_samples, n_features)
        """
        check_is_fitted(self)
        n_samples = _check_positive_int(n_samples, "n_samples", minimum=0)
        n_gibbs = _check_positive_int(n_gibbs, "n_gibbs", maximum=_MAX_STEPS)
        clamp = None
        if y is not None:
            if not self._n_labels:
                raise ValueError("this DBN has no label units: fit it with y to sample by class")
            y = _label_array(y)
            y = np.full(n_samples, y) if y.ndim == 0 else y
            if y.shape != (n_samples,):
                raise ValueError(f"y must hold one label per sample, got shape {y.shape}")
            idx = np.searchsorted(self.classes_, y)
            idx = np.clip(idx, 0, len(self.classes_) - 1)
            if not np.all(self.classes_[idx] == y):
                raise ValueError(f"unknown labels {sorted(set(y) - set(self.classes_))}")
            clamp = np.ascontiguousarray(idx, dtype=np.int64)
        dtype = self.rbms_[0].components_.dtype
        out = np.empty((n_samples, self.n_features_in_), dtype=dtype)
        seed, epoch = self._next_stream(random_state)
        _core.dbn_sample(self._model(), n_gibbs, seed, epoch, bool(return_means), out,
                         on_main_thread(), clamp)
        return out

    # ------------------------------------------------------------------ likelihoods

    def log_partition(self, method="ais", **kwargs):
        """Log partition function of the top RBM (label units summed over), the one
        intractable term of the DBN's likelihood.

        Parameters
        ----------
        method : {'ais', 'exact'}, default='ais'
        **kwargs
            Passed to :meth:`pydbn.RBM.log_partition` (``n_chains``, ``n_betas``,
            ``random_state``, ``return_std``, ``max_units``).

        Returns
        -------
        log_z : float (and its standard error with ``return_std=True``)
        """
        check_is_fitted(self)
        return self.rbms_[-1].log_partition(method, **kwargs)

    def lower_bound(self, X, method="ais", *, n_samples=100, log_z=None, random_state=None,
                    return_std=False, max_bits=20, **kwargs):
        """Variational lower bound on log p(x) for each row (Hinton et al. 2006, Eq. 2).

        ``log p(v) >= E_q[log p(v, h)] + H(q)`` with q the factorial recognition
        distribution of the up-pass. With ``method='ais'`` the expectation is estimated with
        ``n_samples`` draws of q per row (each layer's entropy summed exactly given the layer
        below) and log Z by AIS, as Salakhutdinov & Murray (2008) estimate a DBN's
        likelihood; with ``method='exact'`` both are computed by enumeration.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        method : {'ais', 'exact'}, default='ais'
        n_samples : int, default=100
            Draws of q per row ('ais').
        log_z : float, optional
            The top RBM's log Z computed earlier.
        random_state : int, RandomState instance or None, default=None
            Randomness of the draws of q; None continues the model's own stream.
        return_std : bool, default=False
            Also return each row's Monte Carlo standard error (0 for 'exact'; it does not
            include the error of log Z).
        max_bits : int, default=20
            Largest number of hidden units of the directed layers 'exact' enumerates.
        **kwargs
            Passed to :meth:`log_partition` when ``log_z`` is not given.

        Returns
        -------
        bound : ndarray of shape (n_samples,), float64
        std_err : ndarray of shape (n_samples,)
            Only with ``return_std``.
        """
        check_is_fitted(self)
        if method not in ("ais", "exact"):
            raise ValueError(f"method must be 'ais' or 'exact', got {method!r}")
        X = self._validate_input(X)
        dtype = self.rbms_[0].components_.dtype
        if log_z is None:
            log_z = self.log_partition(method, **kwargs)
        if len(self.rbms_) == 1:  # a single RBM: the bound is log p(v) itself
            lp = self._single_layer_log_p(X, log_z)
            return (lp, np.zeros_like(lp)) if return_std else lp
        out = np.empty(X.shape[0], dtype=np.float64)
        se = np.zeros(X.shape[0], dtype=np.float64)
        if method == "exact":
            lp = np.empty(X.shape[0], dtype=np.float64)
            max_bits = _enumeration_limit(max_bits, "max_bits", cap=30)
            _core.dbn_exact(self._model(), as_source(X, dtype), float(log_z), max_bits, lp, out,
                            on_main_thread())
        else:
            n_samples = _check_positive_int(n_samples, "n_samples", maximum=2**20)  # the core's
            seed, epoch = self._next_stream(random_state)
            _core.dbn_bound(self._model(), as_source(X, dtype), n_samples, float(log_z), seed,
                            epoch, out, se, on_main_thread())
        return (out, se) if return_std else out

    def _single_layer_log_p(self, X, log_z):
        top = self.rbms_[-1]
        if not self._n_labels:
            return top.log_likelihood(X, log_z=log_z).astype(np.float64)
        free = np.empty((X.shape[0], self._n_labels), dtype=np.float64)
        _core.rbm_label_free_energy(top._model(), as_source(X, top.components_.dtype), free,
                                    None, on_main_thread())
        m = (-free).max(axis=1)
        return m + np.log(np.exp(-free - m[:, None]).sum(axis=1)) - float(log_z)

    def log_likelihood(self, X, method="ais", *, log_z=None, max_bits=20, **kwargs):
        """log p(x) of each row: exact by enumeration, or its AIS lower bound.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        method : {'ais', 'exact'}, default='ais'
            'exact' sums over every state of the directed hidden layers (at most
            ``max_bits`` units) with the exact log Z of the top RBM. 'ais' returns
            :meth:`lower_bound` with an AIS log Z: the standard estimate for DBNs, a lower
            bound on log p(x) up to the AIS error.
        log_z : float, optional
            The top RBM's log Z computed earlier.
        max_bits : int, default=20
        **kwargs
            Passed to :meth:`lower_bound` ('ais') or :meth:`log_partition`.

        Returns
        -------
        log_p : ndarray of shape (n_samples,), float64
        """
        check_is_fitted(self)
        if method == "ais":
            return self.lower_bound(X, "ais", log_z=log_z, **kwargs)
        if method != "exact":
            raise ValueError(f"method must be 'ais' or 'exact', got {method!r}")
        X = self._validate_input(X)
        if log_z is None:
            log_z = self.log_partition("exact", **kwargs)
        if len(self.rbms_) == 1:
            return self._single_layer_log_p(X, log_z)
        dtype = self.rbms_[0].components_.dtype
        lp = np.empty(X.shape[0], dtype=np.float64)
        bound = np.empty(X.shape[0], dtype=np.float64)
        max_bits = _enumeration_limit(max_bits, "max_bits", cap=30)
        _core.dbn_exact(self._model(), as_source(X, dtype), float(log_z), max_bits, lp, bound,
                        on_main_thread())
        return lp

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        # a transformer that is also a generative classifier when fitted with labels
        tags.classifier_tags = ClassifierTags(multi_class=True)
        return tags
