"""Build and run the C test programs (csrc/tests/test_core.c, test_models.c), without Python.

The program checks the core against known answers and slow reference computations: Philox
known-answer vectors, RNG moments and independence across stream addresses, sampling
frequencies, GEMM against a naive product, optimizer steps, AIS helpers, workspaces and
data sources. test_models.c checks the RBM and DBM kernels against brute-force enumeration
(log Z, free energies, log p(v), AIS), that an interrupted epoch restores every array bit for
bit, and the AIS progress hook. Each prints "N passed, M failed" and exits non-zero on any
failure; the slow tier runs both under valgrind memcheck.
"""
import os
import shutil
import subprocess
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _compiler():
    cc = os.environ.get("CC") or (sysconfig.get_config_var("CC") or "cc").split()[0]
    return shutil.which(cc) or shutil.which("cc") or shutil.which("gcc")


def build_core_tests(out_dir, extra_flags=(), program="test_core"):
    """Compile a test program (csrc/tests/<program>.c) against the core, the model kernels
    and scipy-openblas32; return its path."""
    import scipy_openblas32

    cc = _compiler()
    if cc is None:
        pytest.skip("no C compiler found")
    lib_dir = scipy_openblas32.get_lib_dir()
    exe = Path(out_dir) / program
    cmd = [
        cc, "-std=c11", "-O2", "-Wall", "-Wextra", "-Werror",
        "-D_POSIX_C_SOURCE=200809L", "-DBLAS_SYMBOL_PREFIX=scipy_",
        f"-I{ROOT / 'csrc' / 'core'}", f"-I{ROOT / 'csrc' / 'models'}",
        f"-I{scipy_openblas32.get_include_dir()}",
        *extra_flags,
        str(ROOT / "csrc" / "tests" / f"{program}.c"),
        *sorted(str(p) for p in (ROOT / "csrc" / "core").glob("*.c")),
        *sorted(str(p) for p in (ROOT / "csrc" / "models").glob("*.c")),
        f"-L{lib_dir}", f"-l{scipy_openblas32.get_library()}", f"-Wl,-rpath,{lib_dir}",
        "-lm", "-o", str(exe),
    ]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return exe


# each program and the least number of checks it runs
PROGRAMS = {"test_core": 70, "test_models": 14}


@pytest.mark.parametrize("program", sorted(PROGRAMS))
def test_c_program_passes(tmp_path, program):
    exe = build_core_tests(tmp_path, program=program)
    run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=300)
    last = run.stdout.strip().splitlines()[-1]
    assert run.returncode == 0, run.stdout
    passed, failed = (int(part.split()[0]) for part in last.split(","))
    assert failed == 0 and passed >= PROGRAMS[program], last


@pytest.mark.slow
@pytest.mark.parametrize("program", sorted(PROGRAMS))
def test_c_program_is_valgrind_clean(tmp_path, program):
    if shutil.which("valgrind") is None:
        pytest.skip("valgrind not installed")
    exe = build_core_tests(tmp_path, extra_flags=["-g"], program=program)
    run = subprocess.run(
        ["valgrind", "--error-exitcode=3", "--leak-check=full", "--errors-for-leak-kinds=definite",
         str(exe)],
        capture_output=True, text=True, timeout=1800,
        env={**os.environ, "OPENBLAS_NUM_THREADS": "1"},
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "ERROR SUMMARY: 0 errors" in run.stderr


def test_all_c_sources_compile_without_warnings():
    """Every C file of the extension is clean under -Wall -Wextra (-Werror here)."""
    import numpy
    import scipy_openblas32

    cc = _compiler()
    if cc is None:
        pytest.skip("no C compiler found")
    sources = sorted(str(p) for p in (ROOT / "csrc").glob("*/*.c"))
    flags = [
        "-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", "-fsyntax-only",
        "-D_POSIX_C_SOURCE=200809L", "-DBLAS_SYMBOL_PREFIX=scipy_",
        f"-I{ROOT / 'csrc' / 'core'}", f"-I{ROOT / 'csrc' / 'models'}",
        f"-I{scipy_openblas32.get_include_dir()}", f"-I{numpy.get_include()}",
        f"-I{sysconfig.get_paths()['include']}",
    ]
    for src in sources:
        run = subprocess.run([cc, *flags, src], capture_output=True, text=True)
        assert run.returncode == 0, f"{src}:\n{run.stderr}"
