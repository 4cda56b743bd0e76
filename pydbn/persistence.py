"""Saving and loading fitted models with joblib, with a format version checked on load."""
import joblib

FORMAT_VERSION = 1


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
    ValueError
        If the file was not written by :func:`save_model`, or with a format version this
        pydbn cannot read.
    """
    payload = joblib.load(path)
    if not isinstance(payload, dict) or "pydbn_format" not in payload:
        raise ValueError(f"{path} is not a pydbn model file (written by pydbn.save_model)")
    if payload["pydbn_format"] != FORMAT_VERSION:
        raise ValueError(
            f"{path} has model format {payload['pydbn_format']} (pydbn "
            f"{payload.get('pydbn_version', '?')}); this pydbn reads format {FORMAT_VERSION}"
        )
    return payload["model"]
