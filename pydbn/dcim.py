"""Deep conditional independent models (Flach, Shekhovtsov & Fikar): one network that
recognizes (forward) and generates (reverse, transposed weights)."""
import time
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from . import _core
from .persistence import FormatVersionMixin
from ._progress import say
from ._base import InterruptGuard, StreamMixin, as_source, keep_input_attributes_on_failure
from ._base import is_dask_collection, layer_sizes, partial_fit_dask
from ._base import on_main_thread
from .rbm import _check_positive_int, _label_array

_ENC = {"binary": _core.DCIM_BINARY, "pm1": _core.DCIM_PM1}
_OBJ = {"discriminative": _core.DCIM_DISCRIMINATIVE, "bidirectional": _core.DCIM_BIDIRECTIONAL,
        "sampled": _core.DCIM_SAMPLED}


class DCIM(FormatVersionMixin, StreamMixin, ClassifierMixin, TransformerMixin, BaseEstimator):
    """Deep conditional independent model: a classifier whose transposed weights generate.

    A DCIM (text 001, Definition 1) is a Markov chain x^0 -> x^1 -> ... -> x^d whose forward
    conditionals factorize over both layers' units. The approximate inference recursion of
    Eq. 14-15 (sigmoid units for the 0/1 encoding, Eq. 6-7; tanh for +-1, Eq. 8-9) with a
    softmax class layer is exactly a dense network's forward pass: the forward model
    p(x^d | x^0). The reverse model q(x^0 | x^d) runs the same recursion down with the
    transposed weights (Eq. 20), ending in a Bernoulli distribution over the inputs; the two
    share one parameter set (each hidden layer keeps one bias; the input layer's bias serves
    only q, the class layer's only p). Training maximizes, by backpropagation in C:

    - 'discriminative': mean log p(y | x) (an ordinary sigmoid network);
    - 'bidirectional': mean log p(y | x) + log q(x | y) (Eq. 21, the generative objective);
    - 'sampled': mean log p(y | x) + log q(x | x^{d-1}) with x^{d-1} drawn from the forward
      model (Eq. 22; the draw is held fixed when differentiating).

    Parameters
    ----------
    hidden_layer_sizes : int or sequence of int, default=(512, 512)
        Hidden layers between the input and the class layer (the text: 512-512-10).
    encoding : {'binary', 'pm1'}, default='binary'
        0/1 units with sigmoid means, or +-1 units with tanh means (inputs v in [0, 1] enter
        as 2v - 1).
    objective : {'bidirectional', 'sampled', 'discriminative'}, default='bidirectional'
    reverse_weight : float or None, default=None
        Weight of the reverse term log q(x | .) in the objective. None uses 1 / n_features:
        the reverse log-likelihood averaged over the inputs, as the text's Keras setting
        evidently did (its reverse-model loss of 0.23 is per pixel) - with the sum over 784
        pixels (``reverse_weight=1``, Eq. 21 and 22 as written) the reverse term is ~100x the
        classification term and the forward model trains far more slowly.
    learning_rate : float, default=1e-3
    batch_size : int, default=100
    n_iter : int, default=10
        Epochs.
    optimizer : {'adam', 'rmsprop', 'sgd'}, default='adam'
    beta_1, beta_2, epsilon : float, default=0.9, 0.999, 1e-8
        Adam's parameters; RMSprop uses ``beta_2`` as its decay rate.
    momentum : float, default=0.0
        SGD momentum.
    weight_decay : float, default=0.0
        L2 penalty on the weights.
    random_state : int, RandomState instance or None, default=None
    verbose : int, default=0

    Attributes
    ----------
    components_ : list of ndarray
        ``components_[k - 1]`` is W^k of shape (n_k, n_{k-1}), input side first.
    intercepts_ : list of ndarray
        Biases of x^0 (used by the reverse model only), the hidden layers (shared), and the
        class layer (forward model only).
    classes_ : ndarray
    history_ : dict of lists
        Per epoch: ``'forward_log_likelihood'`` (mean log p(y | x) over the epoch's
        minibatches), ``'reverse_log_likelihood'`` (mean log q of the objective's reverse
        term; 0 for 'discriminative'), ``'time'``.
    n_iter_ : int
    n_features_in_ : int
    feature_names_in_ : ndarray

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from pydbn import DCIM
    >>> X, y = load_digits(return_X_y=True)
    >>> model = DCIM(hidden_layer_sizes=(32,), n_iter=5, random_state=0).fit(X / 16, y)
    >>> model.sample([3, 7]).shape
    (2, 64)
    """

    _parameter_constraints: dict = {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "encoding": [StrOptions({"binary", "pm1"})],
        "objective": [StrOptions({"bidirectional", "sampled", "discriminative"})],
        "reverse_weight": [None, Interval(Real, 0, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "batch_size": [Interval(Integral, 1, 2**30 - 1, closed="both")],  # the core's limit
        "n_iter": [Interval(Integral, 0, None, closed="left")],
        "optimizer": [StrOptions({"adam", "rmsprop", "sgd"})],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "momentum": [Interval(Real, 0, 1, closed="left")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        hidden_layer_sizes=(512, 512),
        *,
        encoding="binary",
        objective="bidirectional",
        reverse_weight=None,
        learning_rate=1e-3,
        batch_size=100,
        n_iter=10,
        optimizer="adam",
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        momentum=0.0,
        weight_decay=0.0,
        random_state=None,
        verbose=0,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.encoding = encoding
        self.objective = objective
        self.reverse_weight = reverse_weight
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.n_iter = n_iter
        self.optimizer = optimizer
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ plumbing

    def _hidden(self):
        sizes = layer_sizes(self.hidden_layer_sizes, "hidden_layer_sizes must hold positive "
                            "integers", minimum=0)
        if self.objective == "sampled" and not sizes:
            raise ValueError("objective='sampled' needs at least one hidden layer")
        return sizes

    def _dtype(self):
        return self.intercepts_[0].dtype

    def _reverse_weight(self):
        if self.reverse_weight is None:
            return 1.0 / self.intercepts_[0].shape[0]
        return float(self.reverse_weight)

    def _model(self):
        return (list(self.components_), list(self.intercepts_), _ENC[self.encoding])

    def _optim(self):
        return (self.optimizer, float(self.learning_rate), float(self.momentum),
                float(self.beta_1), float(self.beta_2), float(self.beta_2), float(self.epsilon),
                float(self.weight_decay))

    # ------------------------------------------------------------------ training

    def _validate_xy(self, X, y, reset):
        dtype = (np.float64, np.float32) if reset else self._dtype()
        X = validate_data(self, X, accept_sparse="csr", dtype=dtype, reset=reset)
        y = column_or_1d(y, warn=True)
        if y.shape[0] != X.shape[0]:
            raise ValueError(f"y must hold one label per row of X: {y.shape[0]} labels, "
                             f"{X.shape[0]} rows")
        check_classification_targets(y)
        if reset:
            classes, labels = np.unique(y, return_inverse=True)
            if len(classes) < 2:
                raise ValueError(f"DCIM needs at least 2 classes, got {len(classes)} class")
            return X, labels.astype(np.int64), classes
        known = np.isin(y, self.classes_)
        if not known.all():
            raise ValueError(f"y holds labels not seen by fit: {np.unique(y[~known])}")
        return X, np.searchsorted(self.classes_, y).astype(np.int64), self.classes_

    def _initialize(self, X, classes, rng):
        sizes = (X.shape[1],) + self._hidden() + (len(classes),)
        dtype = X.dtype
        weights = []
        for k in range(1, len(sizes)):
            bound = np.sqrt(6.0 / (sizes[k] + sizes[k - 1]))  # Glorot uniform
            weights.append(np.ascontiguousarray(
                rng.uniform(-bound, bound, (sizes[k], sizes[k - 1])), dtype=dtype))
        biases = [np.zeros(n, dtype=dtype) for n in sizes]
        # the reverse model's input layer starts at the data's marginals
        p = np.clip(np.asarray(X.mean(axis=0)).ravel(), 1e-3, 1 - 1e-3)
        logit = np.log(p) - np.log1p(-p)
        biases[0][...] = logit / 2 if self.encoding == "pm1" else logit
        self.components_ = weights
        self.intercepts_ = biases
        self.classes_ = classes
        self.n_iter_ = 0
        self.history_ = {"forward_log_likelihood": [], "reverse_log_likelihood": [], "time": []}
        params = weights + biases
        self._state = ([np.zeros_like(a) for a in params], [np.zeros_like(a) for a in params])
        self._t = 0
        self._reset_stream(rng)

    def _train(self, source, labels, n_epochs):
        with InterruptGuard(n_epochs, "DCIM") as guard:
            for _ in range(n_epochs):
                seed, epoch = self._next_stream()
                begin = time.perf_counter()
                fwd, rev, self._t = _core.dcim_epoch(
                    self._model(), source, labels, self._state, int(self._t),
                    objective=_OBJ[self.objective],
                    reverse_weight=self._reverse_weight(),
                    batch_size=int(self.batch_size),
                    optimizer=self._optim(),
                    seed=seed,
                    epoch=epoch,
                    check_signals=on_main_thread(),
                    guard=guard,
                )
                elapsed = time.perf_counter() - begin
                self.n_iter_ += 1
                h = self.history_
                h["forward_log_likelihood"].append(fwd)
                h["reverse_log_likelihood"].append(rev)
                h["time"].append(elapsed)
                if self.verbose:
                    say("[DCIM] Iteration %d, forward log-likelihood = %.4f, reverse "
                          "log-likelihood = %.4f, time = %.2fs" % (self.n_iter_, fwd, rev,
                                                                   elapsed))
                guard.check()

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Train for ``n_iter`` epochs from a fresh model.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Inputs with values in [0, 1] (binary images, or grey levels as probabilities).
        y : array-like of shape (n_samples,)
            Class labels.

        Returns
        -------
        self : DCIM
        """
        self._hidden()
        with keep_input_attributes_on_failure(self):
            X, labels, classes = self._validate_xy(X, y, reset=True)
            self._initialize(X, classes, check_random_state(self.random_state))
        self._train(as_source(X, X.dtype), labels, self.n_iter)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, classes=None):
        """One epoch over X (the first call initializes the model).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            A ``numpy.memmap`` is read in place; a dask array or dataframe is computed one row
            block at a time, in order, each block passed to ``partial_fit`` in turn with its
            rows of y (blocks before a failing one have already trained the model).
        y : array-like of shape (n_samples,)
        classes : array-like, default=None
            Every class label, required on the first call when a chunk may lack some
            (scikit-learn's convention); ignored afterwards.

        Returns
        -------
        self : DCIM
        """
        if is_dask_collection(X):
            return partial_fit_dask(self, X, y, classes=classes)
        self._validate_params()
        self._hidden()
        first = not hasattr(self, "components_")
        with keep_input_attributes_on_failure(self):
            if first:
                X = validate_data(self, X, accept_sparse="csr", dtype=(np.float64, np.float32))
                y = column_or_1d(y, warn=True)
                check_classification_targets(y)
                all_classes = np.unique(y if classes is None else np.asarray(classes))
                if len(all_classes) < 2:
                    raise ValueError(
                        f"DCIM needs at least 2 classes, got {len(all_classes)} class")
                # check y before the model is created: a failed first call leaves no model
                if y.shape[0] != X.shape[0]:
                    raise ValueError(f"y must hold one label per row of X: {y.shape[0]} labels, "
                                     f"{X.shape[0]} rows")
                unknown = ~np.isin(y, all_classes)
                if unknown.any():
                    raise ValueError(f"y holds labels not in classes: {np.unique(y[unknown])}")
                self._initialize(X, all_classes, check_random_state(self.random_state))
            X, labels, _ = self._validate_xy(X, y, reset=False)
        self._train(as_source(X, self._dtype()), labels, 1)
        return self

    # ------------------------------------------------------------------ inference

    def _forward(self, X, hidden=False):
        check_is_fitted(self)
        X = validate_data(self, X, accept_sparse="csr", dtype=self._dtype(), reset=False)
        n = X.shape[0]
        proba = np.empty((n, len(self.classes_)), dtype=self._dtype())
        layers = None
        if hidden:
            layers = [np.empty((n, b.shape[0]), dtype=self._dtype())
                      for b in self.intercepts_[1:-1]]
        _core.dcim_forward(self._model(), as_source(X, self._dtype()), proba, layers,
                           on_main_thread())
        return proba, layers

    def predict_proba(self, X):
        """p(y | x) by the forward model (Eq. 14-15).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        return self._forward(X)[0]

    def predict(self, X):
        """The most probable class of each row.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray of shape (n_samples,)
        """
        proba = self.predict_proba(X)  # checks the fit before classes_ is read
        return self.classes_[np.argmax(proba, axis=1)]

    def transform(self, X):
        """Means of the last hidden layer under the forward model (the class probabilities
        when there is no hidden layer).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        H : ndarray of shape (n_samples, n_last_hidden)
        """
        proba, layers = self._forward(X, hidden=True)
        return layers[-1] if layers else proba

    def _reverse(self, y, n_sampled, random_state):
        y = _label_array(y)
        if y.ndim == 0:
            y = y[None]
        if y.ndim != 1:
            raise ValueError("y must be a label or a 1-D array of labels")
        known = np.isin(y, self.classes_)
        if not known.all():
            raise ValueError(f"unknown labels: {np.unique(y[~known])}")
        idx = np.searchsorted(self.classes_, y)
        onehot = np.zeros((len(y), len(self.classes_)), dtype=self._dtype())
        onehot[np.arange(len(y)), idx] = 1
        logits = np.empty((len(y), self.intercepts_[0].shape[0]), dtype=self._dtype())
        # only draws take a value of the model's stream (a recursion of means draws none)
        seed, epoch = self._next_stream(random_state) if n_sampled else (0, 0)
        _core.dcim_reverse(self._model(), len(self.components_), onehot, n_sampled, seed, epoch,
                           logits, on_main_thread())
        return logits.astype(np.float64)

    def _input_probability(self, logits):
        scale = 2.0 if self.encoding == "pm1" else 1.0
        return 0.5 * (1.0 + np.tanh(0.5 * scale * logits))

    def sample(self, y, mode="recursive", random_state=None):
        """Images from the reverse model, one per label.

        Parameters
        ----------
        y : label or array-like of labels
        mode : {'recursive', 'one-layer'}, default='recursive'
            'recursive' samples every hidden layer on the way down from the one-hot class
            (the left tableau of the text's Fig. 2); 'one-layer' samples the layer below the
            class only and then propagates means (the right tableau, and Fig. 3).
        random_state : int, RandomState instance or None, default=None

        Returns
        -------
        images : ndarray of shape (n_labels, n_features)
            q(x^0_i = 1 | the sampled layer above): probabilities, as the text shows them.
        """
        check_is_fitted(self)
        if mode not in ("recursive", "one-layer"):
            raise ValueError(f"mode must be 'recursive' or 'one-layer', got {mode!r}")
        n_hidden = len(self.components_) - 1
        n_sampled = n_hidden if mode == "recursive" else min(1, n_hidden)
        return self._input_probability(self._reverse(y, n_sampled, random_state)).astype(
            self._dtype())

    def reverse_log_likelihood(self, X, y):
        """log q(x | y) of each row under the reverse model (its recursion of means).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Values in [0, 1] (binary rows give a log-probability; grey levels the
            cross-entropy with them as targets).
        y : array-like of shape (n_samples,)

        Returns
        -------
        log_q : ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        X = validate_data(self, X, accept_sparse="csr", dtype=self._dtype(), reset=False)
        y = column_or_1d(y)
        if y.shape[0] != X.shape[0]:
            raise ValueError("y must hold one label per row of X")
        V = np.asarray(X.toarray() if hasattr(X, "toarray") else X, dtype=np.float64)
        a = self._reverse(y, 0, None)
        if self.encoding == "pm1":
            t = 2.0 * V - 1.0
            return (t * a - (np.abs(a) + np.log1p(np.exp(-2.0 * np.abs(a))))).sum(axis=1)
        return (V * a - np.logaddexp(0.0, a)).sum(axis=1)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
