"""Slow tier: the extension built with AddressSanitizer + UndefinedBehaviorSanitizer runs the
whole default test suite with no report (ASan aborts on the first error, UBSan is set to halt).

Tests that cannot run under the sanitizers' runtime skip themselves when ``PYDBN_SANITIZE`` is
set in the environment (e.g. those that cap a subprocess's address space: ASan reserves
terabytes of virtual memory for its shadow)."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_whole_suite_is_clean_under_asan_and_ubsan(tmp_path):
    cc = shutil.which("gcc")
    if cc is None:
        pytest.skip("gcc needed for the sanitizer runtime")
    runtimes = [
        subprocess.run([cc, f"-print-file-name={lib}"], capture_output=True, text=True).stdout.strip()
        for lib in ("libasan.so", "libubsan.so")
    ]
    if not all(os.path.isabs(r) and os.path.exists(r) for r in runtimes):
        pytest.skip("sanitizer runtimes not installed")
    tree = tmp_path / "pydbn-asan"
    shutil.copytree(ROOT, tree, ignore=shutil.ignore_patterns("build", "*.so", ".git", "__pycache__"))
    env = {**os.environ, "PYDBN_SANITIZE": "1"}
    subprocess.run([sys.executable, "setup.py", "-q", "build_ext", "--inplace"], cwd=tree,
                   env=env, check=True, capture_output=True)
    env.update(
        LD_PRELOAD=" ".join(runtimes),
        # CPython itself keeps allocations alive at exit; a refused huge allocation must come
        # back as NULL (MemoryError), as without the sanitizer
        ASAN_OPTIONS="detect_leaks=0:allocator_may_return_null=1",
        UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1",
    )
    # the whole default suite (not the slow tier, which this test belongs to)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "tests",
         "-m", "not slow"],
        cwd=tree, env={**env, "PYDBN_SLOW": ""}, capture_output=True, text=True, timeout=2400,
    )
    # the first sanitizer report (its stack follows), else the end of the output
    start = max(0, min((i for i in (run.stderr.find("runtime error"),
                                     run.stderr.find("ERROR: AddressSanitizer")) if i >= 0),
                       default=len(run.stderr) - 3000) - 500)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[start:start + 4000]
    assert "ERROR: AddressSanitizer" not in run.stderr and "runtime error" not in run.stderr
