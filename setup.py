"""Build script for pydbn's C extension (``pydbn._core``).

OpenBLAS comes from the PyPI wheel ``scipy-openblas32`` by default, so ``pip install .``
needs only Python and a C compiler. Environment variables:

PYDBN_BLAS=system     link a system OpenBLAS found with pkg-config instead
PYDBN_SANITIZE=1      build with AddressSanitizer + UndefinedBehaviorSanitizer
PYDBN_DEBUG=1         -O0 -g
"""
import glob
import os
import shlex
import subprocess
import sys

import numpy
from setuptools import Extension, setup


def blas_flags():
    if os.environ.get("PYDBN_BLAS", "").lower() == "system":
        try:
            cflags = subprocess.check_output(["pkg-config", "--cflags", "openblas"], text=True)
            libs = subprocess.check_output(["pkg-config", "--libs", "openblas"], text=True)
        except (OSError, subprocess.CalledProcessError) as exc:
            sys.exit(f"PYDBN_BLAS=system: pkg-config could not find openblas ({exc})")
        return dict(extra_compile_args=shlex.split(cflags), extra_link_args=shlex.split(libs))
    import scipy_openblas32

    lib_dir = scipy_openblas32.get_lib_dir()
    return dict(
        include_dirs=[scipy_openblas32.get_include_dir()],
        library_dirs=[lib_dir],
        libraries=[scipy_openblas32.get_library()],
        define_macros=[("BLAS_SYMBOL_PREFIX", "scipy_")],
        # pydbn/__init__.py imports scipy_openblas32 first, which loads the library; the
        # rpath finds it next to an installed pydbn as well.
        extra_link_args=["-Wl,-rpath,$ORIGIN/../scipy_openblas32/lib"],
    )


def extension():
    blas = blas_flags()
    sources = sorted(
        glob.glob("csrc/core/*.c") + glob.glob("csrc/models/*.c") + glob.glob("csrc/binding/*.c")
    )
    compile_args = ["-std=c11", "-Wall", "-Wextra", "-fvisibility=hidden"]
    link_args = []
    if os.environ.get("PYDBN_DEBUG"):
        compile_args += ["-O0", "-g"]
    else:
        # -fno-math-errno: the core never reads errno, and errno-setting sqrt cannot vectorize
        compile_args += ["-O3", "-fno-math-errno"]
    defines = [("_POSIX_C_SOURCE", "200809L")]
    if os.environ.get("PYDBN_SANITIZE"):
        san = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-g"]
        compile_args += san + ["-fno-sanitize-recover=undefined"]
        link_args += san
        defines.append(("PDBN_NO_CLONES", "1"))
    return Extension(
        "pydbn._core",
        sources=sources,
        include_dirs=["csrc/core", "csrc/models", numpy.get_include()]
        + blas.get("include_dirs", []),
        library_dirs=blas.get("library_dirs", []),
        libraries=blas.get("libraries", []) + ["m"],
        define_macros=defines + blas.get("define_macros", []),
        extra_compile_args=compile_args + blas.get("extra_compile_args", []),
        extra_link_args=link_args + blas.get("extra_link_args", []),
    )


setup(ext_modules=[extension()])
