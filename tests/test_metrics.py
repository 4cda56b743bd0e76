"""Tests of pydbn.metrics: the Parzen estimate against a slow, obvious NumPy/SciPy
reference, sigma selection against brute force, corruption masks against explicit index
sets, and reconstruction errors of mock models."""
import warnings

import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import norm

from pydbn.metrics import (
    DEFAULT_SIGMAS,
    ParzenResult,
    ReconstructionResult,
    corrupt,
    parzen_log_likelihood,
    reconstruction_error,
)


def naive_parzen(samples, X, sigma):
    """log p(x) of each row from an explicit (n_rows, n_samples, d) difference tensor."""
    samples = np.asarray(samples, dtype=np.float64)
    X = np.asarray(X, dtype=np.float64)
    sq = ((X[:, None, :] - samples[None, :, :]) ** 2).sum(axis=2)
    d = X.shape[1]
    return (logsumexp(-sq / (2 * sigma**2), axis=1) - np.log(len(samples))
            - 0.5 * d * np.log(2 * np.pi * sigma**2))


@pytest.fixture
def data():
    rng = np.random.default_rng(1)
    samples = rng.random((37, 6))
    X = rng.random((23, 6))
    valid = rng.random((19, 6))
    return samples, X, valid


# ---------------------------------------------------------------------------
# Parzen log-likelihood
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("sigma", [0.05, 0.2, 1.0, 3.0])
@pytest.mark.parametrize("batch_size", [None, 1, 4, 23, 100])
def test_parzen_matches_naive_logsumexp(data, sigma, batch_size):
    samples, X, _ = data
    result = parzen_log_likelihood(samples, X, sigma, batch_size=batch_size)
    expected = naive_parzen(samples, X, sigma)
    np.testing.assert_allclose(result.log_likelihoods, expected, rtol=1e-12, atol=1e-10)
    assert result.mean == pytest.approx(expected.mean(), rel=1e-12)
    assert result.sigma == sigma
    assert result.validation_means is None
    assert isinstance(result, ParzenResult)


def test_parzen_one_dimensional_equals_normal_mixture_density():
    rng = np.random.default_rng(2)
    centres = rng.normal(size=15)
    x = np.linspace(-3, 3, 11)
    for sigma in (0.1, 0.7, 2.0):
        density = norm.pdf(x[:, None], loc=centres[None, :], scale=sigma).mean(axis=1)
        got = parzen_log_likelihood(centres[:, None], x[:, None], sigma).log_likelihoods
        np.testing.assert_allclose(got, np.log(density), rtol=1e-12)


def test_parzen_rows_far_from_all_samples_stay_finite():
    # exp(-|x - s|^2 / (2 sigma^2)) underflows to 0 for every sample: logsumexp must not
    samples = np.zeros((3, 2))
    X = np.array([[30.0, 0.0], [0.0, 50.0]])
    got = parzen_log_likelihood(samples, X, 0.1).log_likelihoods
    np.testing.assert_allclose(got, naive_parzen(samples, X, 0.1), rtol=1e-12)
    assert np.isfinite(got).all()


def test_parzen_rows_equal_to_samples_and_large_offsets_match_direct_differences():
    # rows equal to samples (distance exactly 0) and data far from the origin, where the
    # ||x||^2 + ||s||^2 - 2 x.s expansion would lose digits to cancellation
    rng = np.random.default_rng(3)
    samples = 1e5 + rng.random((20, 30))
    X = np.vstack([samples[:5], 1e5 + rng.random((5, 30))])
    for sigma in (0.05, 0.3):
        got = parzen_log_likelihood(samples, X, sigma, batch_size=3).log_likelihoods
        np.testing.assert_allclose(got, naive_parzen(samples, X, sigma), rtol=1e-9)


def test_parzen_std_err_is_std_ddof1_over_sqrt_n(data):
    samples, X, _ = data
    result = parzen_log_likelihood(samples, X, 0.3)
    per_row = result.log_likelihoods
    assert result.std_err == pytest.approx(per_row.std(ddof=1) / np.sqrt(len(per_row)),
                                           rel=1e-12)
    assert result.mean == pytest.approx(per_row.mean(), rel=1e-14)


def test_parzen_std_err_of_one_row_is_nan(data):
    samples, X, _ = data
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "Degrees of freedom <= 0" RuntimeWarning
        result = parzen_log_likelihood(samples, X[:1], 0.3)
    assert np.isnan(result.std_err)
    assert np.isfinite(result.mean)


@pytest.mark.parametrize("batch_size", [None, 2])
def test_sigma_selection_picks_grid_value_maximising_validation_likelihood(data, batch_size):
    samples, X, valid = data
    grid = np.array([0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0])
    result = parzen_log_likelihood(samples, X, sigmas=grid, X_validation=valid,
                                   batch_size=batch_size)
    brute = np.array([naive_parzen(samples, valid, s).mean() for s in grid])
    np.testing.assert_allclose(result.validation_means, brute, rtol=1e-12)
    best = grid[np.argmax(brute)]
    # the data make an interior choice, so the test would notice an argmin or an edge
    assert best not in (grid[0], grid[-1])
    assert result.sigma == best
    np.testing.assert_allclose(result.log_likelihoods, naive_parzen(samples, X, best),
                               rtol=1e-12)


def test_sigma_selection_uses_validation_rows_not_test_rows():
    # validation rows sit on the samples (small sigma best), test rows far away (large
    # sigma best for them): the chosen sigma must follow the validation rows
    rng = np.random.default_rng(4)
    samples = rng.random((30, 3))
    valid = samples[:10] + 1e-3
    X = samples[:10] + 2.0
    grid = [0.01, 0.1, 1.0, 10.0]
    result = parzen_log_likelihood(samples, X, sigmas=grid, X_validation=valid)
    assert result.sigma == 0.01
    assert parzen_log_likelihood(samples, valid, sigmas=grid, X_validation=X).sigma != 0.01


def test_sigma_selection_default_grid_is_logspace_minus1_to_0(data):
    samples, X, valid = data
    np.testing.assert_allclose(DEFAULT_SIGMAS, np.logspace(-1, 0, 10))
    result = parzen_log_likelihood(samples, X, X_validation=valid)
    assert result.validation_means.shape == (10,)
    assert result.sigma in DEFAULT_SIGMAS


def test_sigma_selection_validation_means_follow_the_given_grid_order(data):
    samples, X, valid = data
    grid = np.array([0.05, 0.1, 0.2, 0.5, 1.0])
    order = np.array([3, 0, 4, 2, 1])
    a = parzen_log_likelihood(samples, X, sigmas=grid, X_validation=valid)
    b = parzen_log_likelihood(samples, X, sigmas=grid[order], X_validation=valid)
    assert a.sigma == b.sigma
    np.testing.assert_allclose(b.validation_means, a.validation_means[order], rtol=1e-14)


def test_parzen_accepts_float32_and_integer_input_and_leaves_it_unchanged():
    rng = np.random.default_rng(5)
    samples = (rng.random((12, 4)) > 0.5).astype(np.uint8)
    X = rng.random((6, 4)).astype(np.float32)
    samples_copy, X_copy = samples.copy(), X.copy()
    got = parzen_log_likelihood(samples, X, 0.4).log_likelihoods
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, naive_parzen(samples, X.astype(np.float64), 0.4),
                               rtol=1e-12)
    np.testing.assert_array_equal(samples, samples_copy)
    np.testing.assert_array_equal(X, X_copy)


@pytest.mark.parametrize("sigma", [0, -1.0, np.nan, np.inf, "0.2", True])
def test_parzen_rejects_bad_sigma(data, sigma):
    samples, X, _ = data
    with pytest.raises(ValueError, match="sigma must be"):
        parzen_log_likelihood(samples, X, sigma)


@pytest.mark.parametrize("sigmas, message", [
    ([], "non-empty 1-D"),
    ([[0.1, 0.2]], "non-empty 1-D"),
    ([0.1, 0.0], "positive and finite"),
    ([0.1, np.nan], "positive and finite"),
    (["a", "b"], "real numbers"),
])
def test_parzen_rejects_bad_sigma_grid(data, sigmas, message):
    samples, X, valid = data
    with pytest.raises(ValueError, match=message):
        parzen_log_likelihood(samples, X, sigmas=sigmas, X_validation=valid)


def test_parzen_requires_validation_rows_without_sigma(data):
    samples, X, _ = data
    with pytest.raises(ValueError, match="X_validation is required when sigma is None"):
        parzen_log_likelihood(samples, X)


def test_parzen_rejects_sigma_with_validation_rows_or_grid(data):
    samples, X, valid = data
    with pytest.raises(ValueError, match="not both"):
        parzen_log_likelihood(samples, X, 0.2, X_validation=valid)
    with pytest.raises(ValueError, match="sigmas is only used when sigma is None"):
        parzen_log_likelihood(samples, X, 0.2, sigmas=[0.1, 0.2])


def test_parzen_rejects_mismatched_columns(data):
    samples, X, valid = data
    with pytest.raises(ValueError, match="X has 5 features but samples has 6"):
        parzen_log_likelihood(samples, X[:, :5], 0.2)
    with pytest.raises(ValueError, match="X_validation has 4 features but samples has 6"):
        parzen_log_likelihood(samples, X, X_validation=valid[:, :4])


def test_parzen_rejects_non_2d_and_non_finite_input(data):
    samples, X, _ = data
    with pytest.raises(ValueError, match="2D array"):
        parzen_log_likelihood(samples[0], X, 0.2)
    with pytest.raises(ValueError, match="2D array"):
        parzen_log_likelihood(samples, X[0], 0.2)
    bad = X.copy()
    bad[2, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        parzen_log_likelihood(samples, bad, 0.2)
    bad[2, 3] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        parzen_log_likelihood(bad, X, 0.2)


@pytest.mark.parametrize("batch_size", [0, -3, 2.5, True])
def test_parzen_rejects_bad_batch_size(data, batch_size):
    samples, X, _ = data
    with pytest.raises(ValueError, match="batch_size must be None or an integer >= 1"):
        parzen_log_likelihood(samples, X, 0.2, batch_size=batch_size)


# ---------------------------------------------------------------------------
# corruption patterns
# ---------------------------------------------------------------------------

HEIGHT, WIDTH = 4, 5


def expected_indices(pattern, n_lines):
    """Flat (row-major) pixel indices of the unknown lines of a HEIGHT x WIDTH image."""
    rows, cols = range(HEIGHT), range(WIDTH)
    if pattern == "top":
        rows = range(n_lines)
    elif pattern == "bottom":
        rows = range(HEIGHT - n_lines, HEIGHT)
    elif pattern == "left":
        cols = range(n_lines)
    else:
        cols = range(WIDTH - n_lines, WIDTH)
    return sorted(r * WIDTH + c for r in rows for c in cols)


CASES = [(p, k) for p in ("top", "bottom") for k in range(1, HEIGHT + 1)] + \
        [(p, k) for p in ("left", "right") for k in range(1, WIDTH + 1)]


@pytest.mark.parametrize("pattern, n_lines", CASES)
def test_corrupt_masks_exactly_the_pattern_pixels(pattern, n_lines):
    rng = np.random.default_rng(6)
    X = rng.random((3, HEIGHT * WIDTH)) + 1.0  # no pixel equals the fill value
    X_copy = X.copy()
    X_corrupted, mask = corrupt(X, pattern, n_lines, (HEIGHT, WIDTH), fill=-7.0)
    indices = expected_indices(pattern, n_lines)
    lines = HEIGHT if pattern in ("left", "right") else WIDTH
    assert len(indices) == n_lines * lines
    assert mask.dtype == np.bool_ and mask.shape == X.shape
    for row in mask:
        assert np.flatnonzero(row).tolist() == indices
    assert mask.sum() == 3 * n_lines * lines
    np.testing.assert_array_equal(X_corrupted[mask], -7.0)
    np.testing.assert_array_equal(X_corrupted[~mask], X[~mask])
    np.testing.assert_array_equal(X, X_copy)


def test_corrupt_patterns_are_the_lines_of_the_image():
    # the same, stated on the (height, width) image rather than flat indices
    X = np.arange(HEIGHT * WIDTH, dtype=float)[None, :]
    image = lambda m: m.reshape(HEIGHT, WIDTH)  # noqa: E731
    assert image(corrupt(X, "top", 1, (HEIGHT, WIDTH))[1])[0].all()
    assert not image(corrupt(X, "top", 1, (HEIGHT, WIDTH))[1])[1:].any()
    assert image(corrupt(X, "bottom", 1, (HEIGHT, WIDTH))[1])[-1].all()
    assert image(corrupt(X, "left", 2, (HEIGHT, WIDTH))[1])[:, :2].all()
    assert not image(corrupt(X, "left", 2, (HEIGHT, WIDTH))[1])[:, 2:].any()
    assert image(corrupt(X, "right", 2, (HEIGHT, WIDTH))[1])[:, 3:].all()
    assert not image(corrupt(X, "right", 2, (HEIGHT, WIDTH))[1])[:, :3].any()


def test_corrupt_default_fill_is_zero_and_mnist_default_shape():
    X = np.ones((2, 784))
    X_corrupted, mask = corrupt(X, "bottom")
    assert mask.sum() == 2 * 12 * 28
    assert mask[:, -12 * 28:].all() and not mask[:, :-12 * 28].any()
    np.testing.assert_array_equal(X_corrupted[mask], 0.0)


def test_corrupt_keeps_float32_and_converts_integers_to_float64():
    X32 = np.ones((2, 20), dtype=np.float32)
    assert corrupt(X32, "top", 1, (4, 5))[0].dtype == np.float32
    X8 = np.ones((2, 20), dtype=np.uint8)
    assert corrupt(X8, "top", 1, (4, 5))[0].dtype == np.float64


def test_corrupt_pattern_is_case_insensitive():
    X = np.ones((1, 20))
    np.testing.assert_array_equal(corrupt(X, "Top", 2, (4, 5))[1],
                                  corrupt(X, "top", 2, (4, 5))[1])


def test_corrupt_nan_fill_is_allowed():
    X_corrupted, mask = corrupt(np.ones((1, 20)), "left", 1, (4, 5), fill=np.nan)
    assert np.isnan(X_corrupted[mask]).all() and not np.isnan(X_corrupted[~mask]).any()


@pytest.mark.parametrize("kwargs, message", [
    (dict(pattern="middle"), "pattern must be one of"),
    (dict(pattern=None), "pattern must be one of"),
    (dict(pattern="top", n_lines=0), "n_lines must be an integer between 1 and the image "
                                     "height 4"),
    (dict(pattern="bottom", n_lines=5), "height 4"),
    (dict(pattern="left", n_lines=6), "width 5"),
    (dict(pattern="right", n_lines=2.0), "n_lines must be an integer"),
    (dict(pattern="top", n_lines=True), "n_lines must be an integer"),
    (dict(pattern="top", image_shape=(20,)), "image_shape must be a pair"),
    (dict(pattern="top", image_shape=(4, 0)), "image_shape must be a pair"),
    (dict(pattern="top", image_shape=(2, 10.0)), "image_shape must be a pair"),
    (dict(pattern="top", image_shape=(5, 5)), "X has 20 columns but image_shape"),
    (dict(pattern="top", fill="0"), "fill must be a real number"),
])
def test_corrupt_rejects_bad_arguments(kwargs, message):
    kwargs = {"n_lines": 1, "image_shape": (4, 5), **kwargs}
    with pytest.raises(ValueError, match=message):
        corrupt(np.ones((2, 20)), **kwargs)


def test_corrupt_rejects_non_2d_and_non_finite_input():
    with pytest.raises(ValueError, match="2D array"):
        corrupt(np.ones(20), "top", 1, (4, 5))
    X = np.ones((2, 20))
    X[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        corrupt(X, "top", 1, (4, 5))


# ---------------------------------------------------------------------------
# reconstruction error
# ---------------------------------------------------------------------------

@pytest.fixture
def binary_images():
    rng = np.random.default_rng(7)
    return (rng.random((9, HEIGHT * WIDTH)) > 0.4).astype(np.float64)


class Oracle:
    """Fills the unknown pixels with the truth; known pixels with garbage or the input."""

    def __init__(self, truth, garbage_known=False):
        self.truth = truth
        self.garbage_known = garbage_known
        self.calls = []

    def reconstruct(self, X_corrupted, mask, **params):
        self.calls.append((X_corrupted.copy(), mask.copy(), params))
        known = np.full_like(X_corrupted, 123.0) if self.garbage_known else X_corrupted
        return np.where(mask, self.truth, known)


class Constant:
    def __init__(self, value):
        self.value = value

    def reconstruct(self, X_corrupted, mask):
        return np.full_like(X_corrupted, self.value)


@pytest.mark.parametrize("pattern", ["top", "bottom", "left", "right"])
@pytest.mark.parametrize("garbage_known", [False, True])
def test_reconstruction_error_of_the_truth_is_zero(binary_images, pattern, garbage_known):
    model = Oracle(binary_images, garbage_known)
    result = reconstruction_error(model, binary_images, pattern, n_lines=2,
                                  image_shape=(HEIGHT, WIDTH))
    assert isinstance(result, ReconstructionResult)
    assert result.mean == 0.0 and result.std_err == 0.0
    np.testing.assert_array_equal(result.errors, 0.0)


@pytest.mark.parametrize("pattern, n_lines", CASES)
def test_reconstruction_error_of_zeros_counts_ones_in_unknown_region(binary_images, pattern,
                                                                      n_lines):
    result = reconstruction_error(Constant(0.0), binary_images, pattern, n_lines=n_lines,
                                  image_shape=(HEIGHT, WIDTH))
    indices = expected_indices(pattern, n_lines)
    counts = binary_images[:, indices].sum(axis=1)
    np.testing.assert_array_equal(result.errors, counts)
    assert result.mean == pytest.approx(counts.mean(), rel=1e-14)
    assert result.std_err == pytest.approx(counts.std(ddof=1) / np.sqrt(len(counts)),
                                           rel=1e-12)


def test_reconstruction_error_of_probabilities_is_l1_over_unknown_pixels(binary_images):
    # a constant probability p: |1 - p| per unknown one and p per unknown zero
    p = 0.3
    result = reconstruction_error(Constant(p), binary_images, "right", n_lines=2,
                                  image_shape=(HEIGHT, WIDTH))
    unknown = binary_images[:, expected_indices("right", 2)]
    expected = np.abs(unknown - p).sum(axis=1)
    np.testing.assert_allclose(result.errors, expected, rtol=1e-14)


def test_reconstruction_error_calls_model_with_corrupted_images_mask_and_params(
        binary_images):
    model = Oracle(binary_images)
    X_copy = binary_images.copy()
    reconstruction_error(model, binary_images, "top", n_lines=3, image_shape=(HEIGHT, WIDTH),
                         n_steps=5, random_state=0)
    (X_seen, mask_seen, params), = model.calls
    X_expected, mask_expected = corrupt(binary_images, "top", 3, (HEIGHT, WIDTH))
    np.testing.assert_array_equal(X_seen, X_expected)
    np.testing.assert_array_equal(mask_seen, mask_expected)
    assert params == {"n_steps": 5, "random_state": 0}
    np.testing.assert_array_equal(binary_images, X_copy)


def test_reconstruction_error_needs_a_reconstruct_method(binary_images):
    with pytest.raises(TypeError, match="model must have a method reconstruct"):
        reconstruction_error(object(), binary_images, "top", image_shape=(HEIGHT, WIDTH))

    class NotCallable:
        reconstruct = 3

    with pytest.raises(TypeError, match="NotCallable has none"):
        reconstruction_error(NotCallable(), binary_images, "top",
                             image_shape=(HEIGHT, WIDTH))


def test_reconstruction_error_names_the_contract_for_a_wrong_signature(binary_images):
    class WithoutMask:  # the signature of RBM.reconstruct(X)
        def reconstruct(self, X):
            return X

    with pytest.raises(TypeError, match=r"cannot be called as reconstruct\(X_corrupted, mask"):
        reconstruction_error(WithoutMask(), binary_images, "top", n_lines=1,
                             image_shape=(HEIGHT, WIDTH))
    with pytest.raises(TypeError, match="n_steps"):
        reconstruction_error(Constant(0.0), binary_images, "top", n_lines=1,
                             image_shape=(HEIGHT, WIDTH), n_steps=3)


def test_reconstruction_error_does_not_mask_type_errors_raised_by_the_model(binary_images):
    class Broken:
        def reconstruct(self, X, mask):
            raise TypeError("inside the model")

    with pytest.raises(TypeError, match="^inside the model$"):
        reconstruction_error(Broken(), binary_images, "top", n_lines=1,
                             image_shape=(HEIGHT, WIDTH))


def test_reconstruction_error_rejects_bad_reconstructions(binary_images):
    class Returns:
        def __init__(self, value):
            self.value = value

        def reconstruct(self, X, mask):
            return self.value(X, mask)

    kw = dict(n_lines=1, image_shape=(HEIGHT, WIDTH))
    with pytest.raises(ValueError, match=r"returned shape \(9, 19\), expected \(9, 20\)"):
        reconstruction_error(Returns(lambda X, m: X[:, 1:]), binary_images, "top", **kw)
    with pytest.raises(ValueError, match="NaN or infinity in unknown pixels"):
        reconstruction_error(Returns(lambda X, m: np.where(m, np.nan, X)), binary_images,
                             "top", **kw)
    with pytest.raises(ValueError, match="expected real numbers"):
        reconstruction_error(Returns(lambda X, m: X.astype(str)), binary_images, "top", **kw)
    # non-finite known pixels are ignored: they are taken from X
    result = reconstruction_error(Returns(lambda X, m: np.where(m, 0.0, np.inf)),
                                  binary_images, "top", **kw)
    assert np.isfinite(result.errors).all()


def test_reconstruction_error_validates_pattern_and_shape(binary_images):
    model = Constant(0.0)
    with pytest.raises(ValueError, match="pattern must be one of"):
        reconstruction_error(model, binary_images, "diagonal", image_shape=(HEIGHT, WIDTH))
    with pytest.raises(ValueError, match="X has 20 columns but image_shape"):
        reconstruction_error(model, binary_images, "top")  # default 28 x 28
    with pytest.raises(ValueError, match="n_lines must be an integer between 1"):
        reconstruction_error(model, binary_images, "top", n_lines=12,
                             image_shape=(HEIGHT, WIDTH))
