"""Saving and loading fitted models with joblib, with a format version checked on load."""
import pickle
import struct
import zlib

import joblib

FORMAT_VERSION = 1


class ModelFormatError(ValueError):
    """A saved or pickled model that this pydbn cannot read: another model format, or a file
    that is not a (complete) pydbn model file."""


class FormatVersionMixin:
    """Pickles of an estimator record pydbn's model format (as scikit-learn's record
    ``_sklearn_version``, which it only does for its own classes); unpickling one of another
    format raises :class:`ModelFormatError` rather than building an estimator whose arrays the
    core would misread. Goes before ``BaseEstimator`` in the bases, so that its state is
    scikit-learn's plus the format."""

    def __getstate__(self):
        from . import __version__

        # a copy: BaseEstimator returns the instance's own __dict__ for non-sklearn classes
        state = dict(super().__getstate__())
        state["_pydbn_format"] = FORMAT_VERSION
        state["_pydbn_version"] = __version__
        return state

    def __setstate__(self, state):
        state = dict(state)
        found = state.pop("_pydbn_format", 1)  # pickles from before formats were recorded
        written_by = state.pop("_pydbn_version", "?")
        if found != FORMAT_VERSION:
            raise ModelFormatError(
                f"this {type(self).__name__} was pickled with model format {found} (pydbn "
                f"{written_by}); this pydbn reads format {FORMAT_VERSION}"
            )
        super().__setstate__(state)


def save_model(model, path, compress=3):
    """Write a fitted estimator to ``path`` (joblib), with pydbn's version and format.

    Parameters
    ----------
    model : estimator
        Any fitted pydbn estimator.
    path : str or path-like
        Destination file.
    compress : int, default=3
        joblib compression level.
    """
    from . import __version__

    joblib.dump(
        {"pydbn_format": FORMAT_VERSION, "pydbn_version": __version__, "model": model},
        path,
        compress=compress,
    )


def load_model(path):
    """Read a model written by :func:`save_model`.

    Raises
    ------
    ModelFormatError (a ValueError)
        If the file was not written by :func:`save_model` (or is truncated or corrupt), or
        with a format version this pydbn cannot read.
    """
    try:
        payload = joblib.load(path)
    except ModelFormatError:  # an estimator inside, pickled with another format
        raise
    except (EOFError, IndexError, KeyError, ValueError, pickle.UnpicklingError, struct.error,
            zlib.error) as exc:
        raise ModelFormatError(
            f"{path} could not be read as a pydbn model file (truncated or corrupt, or "
            f"written with NumPy / scikit-learn versions this environment cannot read): "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    if not isinstance(payload, dict) or "pydbn_format" not in payload:
        raise ModelFormatError(f"{path} is not a pydbn model file (written by pydbn.save_model)")
    if payload["pydbn_format"] != FORMAT_VERSION:
        raise ModelFormatError(
            f"{path} has model format {payload['pydbn_format']} (pydbn "
            f"{payload.get('pydbn_version', '?')}); this pydbn reads format {FORMAT_VERSION}"
        )
    return payload["model"]
