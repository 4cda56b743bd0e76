"""Smoke tests of the DBM benchmarks: they run end to end (--quick) and print their tables."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks" / "bench_dbm.py"
QUALITY = ROOT / "benchmarks" / "quality_dbm_mnist.py"


def _binarized_mnist_available():
    try:
        from pydbn.datasets import load_mnist

        load_mnist(kind="test", binarized=True)
    except (FileNotFoundError, ValueError):
        return False
    return True


def _fashion_mnist_available():
    try:
        from pydbn.datasets import load_fashion_mnist

        load_fashion_mnist(kind="test", as_float=False)
    except (FileNotFoundError, ValueError):
        return False
    return True


def _mnist_idx_available():
    try:
        from pydbn.datasets import load_mnist

        load_mnist(kind="test", as_float=False)
    except (FileNotFoundError, ValueError):
        return False
    return True


def _run(script, *args):
    import pydbn

    # The subprocess imports the same pydbn as this test process (installed or in-tree).
    env = dict(os.environ)
    pkg_parent = str(Path(pydbn.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [pkg_parent, env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, str(script), "--quick", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


needs_binarized_mnist = pytest.mark.skipif(
    not _binarized_mnist_available(),
    reason="binarized MNIST (binarized_mnist_*.amat) not found; see pydbn.datasets.load_mnist",
)


@pytest.mark.slow
@needs_binarized_mnist
def test_bench_dbm_quick_exits_0_and_prints_ratio_tables():
    out = _run(BENCH, "--threads", "1")
    assert "## One training epoch" in out
    assert "| ratio: time / pydbn DBM same dtype |" in out
    assert "| pydbn DBM float32 |" in out
    assert "| pydbn DBM float64 |" in out
    assert "| NumPy DBM float32 |" in out
    # DBM against RBM, the split of the epoch, NumPy against pydbn
    assert "| ratio DBM / RBM |" in out
    assert "| mean field (s) | Gibbs, k sweeps of the chains (s) | updates (s) |" in out
    assert "| ratio NumPy / pydbn |" in out
    assert "there is no DBM in scikit-learn" in out
    assert "load average at start" in out


@pytest.mark.slow
@needs_binarized_mnist
def test_quality_dbm_quick_exits_0_and_prints_tables():
    both = _fashion_mnist_available() and _mnist_idx_available()
    # one BLAS thread: the tiny quick-run products (and the logistic regressions) only lose
    # time to thread hand-offs, badly so when other jobs share the cores
    out = _run(QUALITY, "--threads", "1", "--dataset", "both" if both else "mnist",
               *([] if _mnist_idx_available() else ["--no-features"]))
    assert "-84.62" in out  # Salakhutdinov & Hinton's figure, printed beside ours
    assert "| mean test bound | s.e.m. over test rows | AIS std err of log Z |" in out
    assert "| ratio bound / S&H 2009 |" in out
    assert "| fit total (s) | pre-training RBM epochs (s) | joint epochs (s) |" in out
    if _mnist_idx_available():
        assert "| ratio error / pixels |" in out
    if both:
        assert "## Fashion-MNIST binarized at 0.5" in out
        assert out.count("mean-field lower bound (nats)") == 2
    assert "total run time" in out
