"""Progress bars for fits and AIS runs, and pydbn's configuration (``set_config``).

A bar is shown (with tqdm, when it is installed) only where someone is watching: in a Jupyter
kernel or when standard error is a terminal. ``PYDBN_PROGRESS=0`` / ``=1`` in the environment
turns bars off / on everywhere; ``pydbn.set_config(progress=...)`` or
``pydbn.config_context(progress=...)`` decides per thread and overrides the environment.
"""

import contextlib
import os
import sys
import threading

_DEFAULTS = {"progress": None}
_local = threading.local()


def _config():
    if not hasattr(_local, "config"):
        _local.config = dict(_DEFAULTS)
    return _local.config


def get_config():
    """pydbn's settings for the current thread.

    Returns
    -------
    config : dict
        ``{"progress": None | bool}``; see :func:`set_config`.
    """
    return dict(_config())


def set_config(progress=None):
    """Set pydbn's settings for the current thread (as :func:`sklearn.set_config` does).

    Parameters
    ----------
    progress : bool or None, default=None
        Show a progress bar (tqdm) during ``fit``, ``partial_fit`` and AIS runs. None (the
        default) decides by itself: on in a Jupyter kernel or when standard error is a
        terminal, unless the environment variable ``PYDBN_PROGRESS`` says ``0`` (or ``1``,
        to force bars on); off in scripts, pipes and CI logs. Bars need tqdm installed
        (``pip install pydbn[progress]``); without it nothing is shown.
    """
    if progress is not None and not isinstance(progress, bool):
        raise TypeError(f"progress must be True, False or None, got {progress!r}")
    _config()["progress"] = progress


@contextlib.contextmanager
def config_context(**settings):
    """Temporarily change pydbn's settings (see :func:`set_config`) within a ``with`` block."""
    old = get_config()
    set_config(**{**old, **settings})
    try:
        yield
    finally:
        set_config(**old)


def _interactive():
    if "ipykernel" in sys.modules:  # a Jupyter kernel: its stderr is not a terminal
        try:
            from IPython import get_ipython

            shell = get_ipython()
            if shell is not None and hasattr(shell, "kernel"):
                return True
        except ImportError:  # pragma: no cover - ipykernel always brings IPython
            pass
    stream = sys.stderr
    try:
        return stream is not None and stream.isatty()
    except (AttributeError, ValueError):  # replaced or closed stream
        return False


def progress_enabled():
    """Whether a progress bar would be shown now (setting, environment, terminal)."""
    setting = _config()["progress"]
    if setting is None:
        env = os.environ.get("PYDBN_PROGRESS", "").strip().lower()
        if env in ("0", "false", "no", "off"):
            return False
        setting = env in ("1", "true", "yes", "on") or _interactive()
    if not setting:
        return False
    try:
        import tqdm  # noqa: F401
    except ImportError:
        return False
    return True


def _tqdm_class():
    if "ipykernel" in sys.modules:
        try:
            import ipywidgets  # noqa: F401

            from tqdm.notebook import tqdm
            return tqdm
        except ImportError:
            pass
    from tqdm import tqdm
    return tqdm


class Progress:
    """A tqdm bar when :func:`progress_enabled`, otherwise nothing; a context manager.

    ``update()`` advances by one step (an epoch or a chunk); ``fraction(f)`` sets the bar
    to a fraction of its total (the binding calls it during AIS); ``write(line)`` prints a
    verbose line without breaking the bar.
    """

    def __init__(self, total, desc, unit="epoch", absorb=False):
        # absorb: the bars of work done inside this one (e.g. one partial_fit per block of a
        # dask array) are not shown; this bar counts that work instead
        self.bar = None
        self.absorb = absorb
        if total > 0 and not any(p.absorb for p in _active()) and progress_enabled():
            self.bar = _tqdm_class()(total=total, desc=desc, unit=unit, leave=False,
                                     dynamic_ncols=True)

    def __enter__(self):
        _active().append(self)
        return self

    def __exit__(self, *exc):
        stack = _active()
        if stack and stack[-1] is self:
            stack.pop()
        if self.bar is not None:
            self.bar.close()
        return False

    def update(self, n=1):
        if self.bar is not None:
            self.bar.update(n)

    def fraction(self, value, offset=0, scale=1):
        """Set the bar to ``offset + value * scale`` steps (``value`` in [0, 1])."""
        if self.bar is not None:
            self.bar.n = min(self.bar.total, offset + int(round(value * scale)))
            self.bar.refresh()

    def callback(self, offset=0, scale=1):
        """A callable for the binding's progress argument (the fraction of one run done),
        or None when no bar is shown."""
        if self.bar is None:
            return None
        return lambda value: self.fraction(value, offset, scale)

    def write(self, line):
        if self.bar is not None:
            self.bar.write(line, file=sys.stdout)
        else:
            print(line)
            sys.stdout.flush()


def _active():
    if not hasattr(_local, "active"):
        _local.active = []
    return _local.active


def say(line):
    """Print a verbose line; through the innermost bar of this thread when one is shown."""
    stack = _active()
    if stack:
        stack[-1].write(line)
    else:
        print(line)
        sys.stdout.flush()
