"""pydbn: Boltzmann machines for the scientific Python stack.

Estimators follow scikit-learn's API; the numerical work runs in a C core over OpenBLAS.
"""
# The BLAS library ships in the scipy-openblas32 wheel; importing it loads the shared library
# into the process before the extension that links against it.
import scipy_openblas32 as _scipy_openblas32  # noqa: F401

from . import _core  # noqa: F401
from .adbn import AdversarialDBN
from .dbm import DBM
from .dbn import DBN
from .dcim import DCIM
from ._progress import config_context, get_config, set_config
from .persistence import ModelFormatError, load_model, save_model
from .rbm import RBM
from .vpf import VPF

__version__ = "0.1.0"
__all__ = [
    "AdversarialDBN", "DBM", "DBN", "DCIM", "RBM", "VPF", "config_context", "get_config",
    "ModelFormatError", "load_model", "save_model", "set_config", "__version__",
]
