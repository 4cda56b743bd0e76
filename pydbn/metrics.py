"""Evaluation metrics for generative models of images.

- :func:`parzen_log_likelihood`: the Gaussian Parzen-window estimate of the test
  log-likelihood from model samples (Breuleux, Bengio and Vincent 2011; the protocol of
  Goodfellow et al. 2014, used for Table 2 of Liu, Quek and Lin's "Variational Probability
  Flow").
- :func:`corrupt` and :func:`reconstruction_error`: images with their Top / Bottom / Left /
  Right lines unknown, and the L1 error of a model's reconstruction of them (Table 1 of the
  same paper).
"""
import inspect
from numbers import Integral, Real
from typing import NamedTuple, Optional

import numpy as np
from sklearn.utils.validation import check_array

__all__ = [
    "ParzenResult",
    "ReconstructionResult",
    "parzen_log_likelihood",
    "corrupt",
    "reconstruction_error",
    "PATTERNS",
    "DEFAULT_SIGMAS",
]

# Goodfellow et al.'s parzen_ll.py cross-validates sigma over logspace(-1, 0, 10).
DEFAULT_SIGMAS = np.logspace(-1.0, 0.0, 10)

# float64 entries of one chunk's (rows of X, samples) distance matrix: 32 MB, and one
# work array of the same size for the exponentials.
_CHUNK_ENTRIES = 1 << 22

PATTERNS = ("top", "bottom", "left", "right")


class ParzenResult(NamedTuple):
    """Result of :func:`parzen_log_likelihood`.

    Attributes
    ----------
    mean : float
        Mean log-likelihood of the rows of X, in nats.
    std_err : float
        Standard error of the mean, ``std(log_likelihoods, ddof=1) / sqrt(n_rows)``
        (NaN for a single row).
    sigma : float
        The kernel width used (given, or chosen on the validation rows).
    log_likelihoods : ndarray of shape (n_rows,)
        log p(x) of each row of X.
    validation_means : ndarray of shape (n_sigmas,) or None
        Mean validation log-likelihood of each candidate in ``sigmas`` (in the order given),
        when sigma was chosen; None when it was given.
    """

    mean: float
    std_err: float
    sigma: float
    log_likelihoods: np.ndarray
    validation_means: Optional[np.ndarray]


class ReconstructionResult(NamedTuple):
    """Result of :func:`reconstruction_error`.

    Attributes
    ----------
    mean : float
        Mean over rows of the L1 error ``||x - x_hat||_1``.
    std_err : float
        Standard error of the mean, ``std(errors, ddof=1) / sqrt(n_rows)`` (NaN for a
        single row).
    errors : ndarray of shape (n_rows,)
        The L1 error of each row.
    """

    mean: float
    std_err: float
    errors: np.ndarray


# ---------------------------------------------------------------------------
# Parzen-window log-likelihood
# ---------------------------------------------------------------------------

def parzen_log_likelihood(
    samples, X, sigma=None, *, sigmas=None, X_validation=None, batch_size=None
):
    """Gaussian Parzen-window estimate of the mean log-likelihood of X.

    A mixture of isotropic Gaussians of width ``sigma``, one centred on each model sample
    ``s_i``, is the density estimate (Breuleux, Bengio and Vincent 2011); each row x of X
    scores

    ``log p(x) = logsumexp_i(-||x - s_i||^2 / (2 sigma^2)) - log n_samples
    - (d / 2) log(2 pi sigma^2)``.

    With ``sigma=None`` the width is chosen as in Goodfellow et al. (2014): the candidate in
    ``sigmas`` that maximises the mean log-likelihood of ``X_validation``.

    Parameters
    ----------
    samples : array-like of shape (n_samples, n_features)
        Samples drawn from the model: the centres of the kernels.
    X : array-like of shape (n_rows, n_features)
        Rows to score (a test set).
    sigma : float, default=None
        Kernel width (> 0). None chooses it on ``X_validation``.
    sigmas : array-like of shape (n_sigmas,), default=None
        Candidate widths (> 0) when ``sigma`` is None. None means ``DEFAULT_SIGMAS``,
        ``np.logspace(-1, 0, 10)``, the grid of Goodfellow et al.'s ``parzen_ll.py``.
    X_validation : array-like of shape (n_validation, n_features), default=None
        Rows that choose sigma; required when ``sigma`` is None, not allowed otherwise.
    batch_size : int, default=None
        Rows of X scored per chunk. None picks enough rows that a chunk's
        (rows, n_samples) distance matrix holds about 4 million float64 (32 MB).

    Returns
    -------
    result : ParzenResult
        A named tuple ``(mean, std_err, sigma, log_likelihoods, validation_means)``; see
        :class:`ParzenResult`.

    Raises
    ------
    ValueError
        If an array is not 2-D, is empty or holds NaN or infinity; if the arrays have
        different numbers of columns; if a width is not > 0 and finite; if ``sigma`` and
        ``X_validation`` are both given or both missing.

    Notes
    -----
    Everything is computed in float64. Squared distances come from
    ``||x||^2 + ||s||^2 - 2 x.s`` (one GEMM per chunk) after both arrays are centred on
    the samples' mean, which leaves the distances unchanged and limits cancellation;
    rounding can still leave tiny negative values, clipped at 0. The kernel matrix is
    never formed beyond one chunk of rows, so memory is O(batch_size * n_samples) beyond
    the inputs.

    Goodfellow et al.'s script divides by ``std(ddof=0)``; ``std_err`` here uses
    ``ddof=1``. The two differ by a factor ``sqrt(n / (n - 1))``.

    The estimate is known to be biased and high-variance in high dimension (Theis, van
    den Oord and Bethge 2016); it is reported for comparison with published tables.

    Examples
    --------
    >>> import numpy as np
    >>> from pydbn.metrics import parzen_log_likelihood
    >>> rng = np.random.default_rng(0)
    >>> samples, X = rng.normal(size=(200, 2)), rng.normal(size=(50, 2))
    >>> result = parzen_log_likelihood(samples, X, sigma=0.5)
    >>> result.log_likelihoods.shape
    (50,)
    >>> valid = rng.normal(size=(50, 2))
    >>> parzen_log_likelihood(samples, X, sigmas=[0.1, 0.3, 1.0], X_validation=valid).sigma
    0.3
    """
    samples = check_array(samples, dtype=np.float64, input_name="samples")
    X = check_array(X, dtype=np.float64, input_name="X")
    _check_same_features(X, samples, "X")
    batch_size = _check_batch_size(batch_size, samples.shape[0])

    if sigma is None:
        if X_validation is None:
            raise ValueError(
                "X_validation is required when sigma is None: sigma is chosen as the "
                "candidate in sigmas with the highest mean validation log-likelihood"
            )
        X_validation = check_array(X_validation, dtype=np.float64, input_name="X_validation")
        _check_same_features(X_validation, samples, "X_validation")
        grid = DEFAULT_SIGMAS if sigmas is None else _check_sigmas(sigmas)
    else:
        if X_validation is not None:
            raise ValueError(
                "pass either sigma (a fixed width) or X_validation (to choose it), not both"
            )
        if sigmas is not None:
            raise ValueError("sigmas is only used when sigma is None; pass one or the other")
        sigma = _check_sigma(sigma, "sigma")

    # Distances do not change when both sides move by the same vector; centring on the
    # samples' mean keeps the norms small, so the expansion loses less to cancellation.
    center = samples.mean(axis=0)
    centred = samples - center
    if sigma is None:
        scores = _parzen_rows(centred, X_validation, center, grid, batch_size)
        validation_means = scores.mean(axis=0)
        # first maximum: ties go to the earlier candidate
        sigma = float(grid[np.argmax(validation_means)])
    else:
        validation_means = None
    log_p = _parzen_rows(centred, X, center, np.array([sigma]), batch_size)[:, 0]
    mean, std_err = _mean_and_std_err(log_p)
    return ParzenResult(mean, std_err, sigma, log_p, validation_means)


def _parzen_rows(centred, X, center, sigmas, batch_size):
    """log p(x) of each row of X (minus ``center``) for each width: (n_rows, n_sigmas)."""
    n_samples, n_features = centred.shape
    sq_samples = np.einsum("ij,ij->i", centred, centred)
    # log of the normalizer n_samples * (2 pi sigma^2)^(d / 2) of each width
    log_norm = np.log(n_samples) + 0.5 * n_features * np.log(2.0 * np.pi * sigmas**2)
    out = np.empty((X.shape[0], len(sigmas)))
    for start in range(0, X.shape[0], batch_size):
        rows = X[start:start + batch_size] - center
        sq = rows @ centred.T
        sq *= -2.0
        sq += np.einsum("ij,ij->i", rows, rows)[:, None]
        sq += sq_samples[None, :]
        np.maximum(sq, 0.0, out=sq)
        # The smallest distance of a row gives the largest exponent for every width.
        sq_min = sq.min(axis=1)
        sq -= sq_min[:, None]
        work = np.empty_like(sq)
        for j, s in enumerate(sigmas):
            scale = -0.5 / s**2
            np.multiply(sq, scale, out=work)
            np.exp(work, out=work)
            out[start:start + len(rows), j] = (
                np.log(work.sum(axis=1)) + scale * sq_min - log_norm[j]
            )
    return out


# ---------------------------------------------------------------------------
# corruption patterns and reconstruction error
# ---------------------------------------------------------------------------

def corrupt(X, pattern, n_lines=12, image_shape=(28, 28), fill=0.0):
    """Images with their first or last lines (rows or columns) made unknown.

    The Top / Bottom / Left / Right patterns of Liu, Quek and Lin ("Variational
    Probability Flow", Table 1): the first (``'top'``) or last (``'bottom'``) ``n_lines``
    pixel rows of each image, or its first (``'left'``) or last (``'right'``) ``n_lines``
    pixel columns, are unknown.

    Parameters
    ----------
    X : array-like of shape (n_images, height * width)
        Images, each flattened in row-major (C) order, as MNIST's 784 columns are.
    pattern : {'top', 'bottom', 'left', 'right'}
        Which lines are unknown (case-insensitive).
    n_lines : int, default=12
        How many rows (top, bottom) or columns (left, right), between 1 and the image's
        height or width.
    image_shape : tuple of int (height, width), default=(28, 28)
        Shape of one image.
    fill : float, default=0.0
        Value written into the unknown pixels. The paper shows corrupted images but does
        not state what value the unknown pixels hold; 0 (a black MNIST pixel) is our
        choice. NaN is allowed, to make any use of an unknown pixel visible.

    Returns
    -------
    X_corrupted : ndarray of shape (n_images, height * width)
        A copy of X (float32 stays float32, other input becomes float64) with the unknown
        pixels set to ``fill``. X itself is not modified.
    mask : ndarray of bool, shape (n_images, height * width)
        True where a pixel is unknown.

    Raises
    ------
    ValueError
        For an unknown pattern, ``n_lines`` out of range, a bad ``image_shape``, a
        non-numeric ``fill``, or X that is not 2-D and finite or whose number of columns is
        not ``height * width``.

    Examples
    --------
    >>> import numpy as np
    >>> from pydbn.metrics import corrupt
    >>> X_corrupted, mask = corrupt(np.ones((1, 6)), "top", n_lines=1, image_shape=(2, 3))
    >>> mask.astype(int)
    array([[1, 1, 1, 0, 0, 0]])
    >>> X_corrupted
    array([[0., 0., 0., 1., 1., 1.]])
    """
    X = check_array(X, dtype=(np.float64, np.float32), input_name="X")
    image_mask = _image_mask(pattern, n_lines, image_shape)
    if X.shape[1] != image_mask.size:
        raise ValueError(
            f"X has {X.shape[1]} columns but image_shape {tuple(image_shape)} has "
            f"{image_mask.size} pixels"
        )
    if isinstance(fill, (bool, np.bool_)) or not isinstance(fill, Real):
        raise ValueError(f"fill must be a real number, got {fill!r}")
    mask = np.tile(image_mask.ravel(), (X.shape[0], 1))
    X_corrupted = X.copy()
    X_corrupted[mask] = fill
    return X_corrupted, mask


def reconstruction_error(
    model, X, pattern, *, n_lines=12, image_shape=(28, 28), **reconstruct_params
):
    """Mean L1 error of a model's reconstruction of the unknown part of images.

    X is corrupted with :func:`corrupt` (unknown pixels set to 0), the model fills them
    in, and each row scores ``||x - x_hat||_1``, the L1 norm of the pixel differences
    between the original image x and the reconstructed image x_hat (Liu, Quek and Lin,
    "Variational Probability Flow", Table 1).

    Parameters
    ----------
    model : object
        Anything with a method ``reconstruct(X_corrupted, mask, **reconstruct_params)``
        that returns an array of X's shape: the reconstructed images, as probabilities or
        binary states. Whether it keeps the known pixels does not matter (see Notes).
    X : array-like of shape (n_images, height * width)
        Original images, flattened row-major.
    pattern : {'top', 'bottom', 'left', 'right'}
        Which lines are unknown, see :func:`corrupt`.
    n_lines : int, default=12
        How many rows or columns are unknown.
    image_shape : tuple of int (height, width), default=(28, 28)
        Shape of one image.
    **reconstruct_params
        Passed to ``model.reconstruct`` (for example a number of sampling steps).

    Returns
    -------
    result : ReconstructionResult
        A named tuple ``(mean, std_err, errors)``; see :class:`ReconstructionResult`.

    Raises
    ------
    TypeError
        If the model has no ``reconstruct`` method or it does not accept
        ``(X_corrupted, mask, **reconstruct_params)``.
    ValueError
        For bad ``pattern``, ``n_lines``, ``image_shape`` or X (see :func:`corrupt`), or
        when the reconstruction has the wrong shape or non-finite values in the unknown
        pixels.

    Notes
    -----
    The error is taken over the whole image with the known pixels taken from X, so only
    the unknown pixels contribute: ``sum_{j in mask} |x_j - x_hat_j|``. A model is thus
    neither rewarded nor penalized for what it does with pixels it was given. With
    binary images and binary reconstructions this counts the wrong pixels; with
    probabilities it is the expected count under independent pixels. Computed in float64.

    Examples
    --------
    >>> import numpy as np
    >>> from pydbn.metrics import reconstruction_error
    >>> class Zeros:
    ...     def reconstruct(self, X, mask):
    ...         return np.zeros_like(X)
    >>> X = np.ones((2, 6))
    >>> reconstruction_error(Zeros(), X, "left", n_lines=1, image_shape=(2, 3)).mean
    2.0
    """
    reconstruct = getattr(model, "reconstruct", None)
    if not callable(reconstruct):
        raise TypeError(
            f"model must have a method reconstruct(X_corrupted, mask, **params); "
            f"{type(model).__name__} has none"
        )
    X_corrupted, mask = corrupt(X, pattern, n_lines=n_lines, image_shape=image_shape)
    _check_signature(reconstruct, X_corrupted, mask, reconstruct_params, model)
    X_hat = np.asarray(reconstruct(X_corrupted, mask, **reconstruct_params))
    if X_hat.shape != X_corrupted.shape:
        raise ValueError(
            f"{type(model).__name__}.reconstruct returned shape {X_hat.shape}, expected "
            f"{X_corrupted.shape} (the shape of X)"
        )
    if X_hat.dtype.kind not in "biuf":
        raise ValueError(
            f"{type(model).__name__}.reconstruct returned dtype {X_hat.dtype}, expected "
            "real numbers"
        )
    X_hat = X_hat.astype(np.float64, copy=False)
    if not np.isfinite(X_hat[mask]).all():
        raise ValueError(
            f"{type(model).__name__}.reconstruct returned NaN or infinity in unknown pixels"
        )
    X = check_array(X, dtype=np.float64, input_name="X")
    # Known pixels are taken from X: only the unknown ones count.
    errors = np.where(mask, np.abs(X - X_hat), 0.0).sum(axis=1)
    mean, std_err = _mean_and_std_err(errors)
    return ReconstructionResult(mean, std_err, errors)


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------

def _mean_and_std_err(values):
    """Mean and standard error std(ddof=1) / sqrt(n) (NaN for one value)."""
    n = values.shape[0]
    mean = float(values.mean())
    std_err = float(values.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
    return mean, std_err


def _check_same_features(X, samples, name):
    if X.shape[1] != samples.shape[1]:
        raise ValueError(
            f"{name} has {X.shape[1]} features but samples has {samples.shape[1]}"
        )


def _check_sigma(value, name):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Real):
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be positive and finite, got {value!r}")
    return float(value)


def _check_sigmas(sigmas):
    grid = np.asarray(sigmas)
    if grid.ndim != 1 or grid.size == 0:
        raise ValueError(
            f"sigmas must be a non-empty 1-D sequence of widths, got shape {grid.shape}"
        )
    if grid.dtype.kind not in "iuf":
        raise ValueError(f"sigmas must hold real numbers, got dtype {grid.dtype}")
    grid = grid.astype(np.float64)
    bad = ~(np.isfinite(grid) & (grid > 0))
    if bad.any():
        raise ValueError(
            f"sigmas must all be positive and finite, got {grid[bad].tolist()}"
        )
    return grid


def _check_batch_size(batch_size, n_samples):
    if batch_size is None:
        return max(1, _CHUNK_ENTRIES // max(n_samples, 1))
    if isinstance(batch_size, (bool, np.bool_)) or not isinstance(batch_size, Integral) \
            or batch_size < 1:
        raise ValueError(f"batch_size must be None or an integer >= 1, got {batch_size!r}")
    return int(batch_size)


def _image_mask(pattern, n_lines, image_shape):
    """Boolean (height, width) mask of the unknown pixels of one image."""
    if not isinstance(pattern, str) or pattern.lower() not in PATTERNS:
        raise ValueError(f"pattern must be one of {PATTERNS}, got {pattern!r}")
    pattern = pattern.lower()
    shape = tuple(image_shape) if isinstance(image_shape, (tuple, list)) else None
    if shape is None or len(shape) != 2 or not all(
        isinstance(n, Integral) and not isinstance(n, (bool, np.bool_)) and n >= 1
        for n in shape
    ):
        raise ValueError(
            f"image_shape must be a pair of positive integers (height, width), "
            f"got {image_shape!r}"
        )
    height, width = (int(n) for n in shape)
    limit, what = (height, "height") if pattern in ("top", "bottom") else (width, "width")
    if isinstance(n_lines, (bool, np.bool_)) or not isinstance(n_lines, Integral) \
            or not 1 <= n_lines <= limit:
        raise ValueError(
            f"n_lines must be an integer between 1 and the image {what} {limit} for "
            f"pattern {pattern!r}, got {n_lines!r}"
        )
    n_lines = int(n_lines)
    mask = np.zeros((height, width), dtype=bool)
    if pattern == "top":
        mask[:n_lines, :] = True
    elif pattern == "bottom":
        mask[height - n_lines:, :] = True
    elif pattern == "left":
        mask[:, :n_lines] = True
    else:
        mask[:, width - n_lines:] = True
    return mask


def _check_signature(reconstruct, X_corrupted, mask, params, model):
    """TypeError naming the contract when reconstruct cannot take (X, mask, **params).

    Checked before the call so that a TypeError raised inside the model is not mistaken
    for a wrong signature.
    """
    try:
        signature = inspect.signature(reconstruct)
    except (TypeError, ValueError):  # builtins without a signature: let the call decide
        return
    try:
        signature.bind(X_corrupted, mask, **params)
    except TypeError as exc:
        raise TypeError(
            f"{type(model).__name__}.reconstruct{signature} cannot be called as "
            f"reconstruct(X_corrupted, mask, **reconstruct_params) with "
            f"reconstruct_params={sorted(params)}: {exc}"
        ) from None
