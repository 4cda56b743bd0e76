"""Smoke test of the speed benchmark: it runs end to end and prints its tables."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks" / "bench_rbm.py"


def _fashion_mnist_available():
    try:
        from pydbn.datasets import load_fashion_mnist

        load_fashion_mnist(kind="test", as_float=False)
    except (FileNotFoundError, ValueError):
        return False
    return True


@pytest.mark.slow
@pytest.mark.skipif(not _fashion_mnist_available(),
                    reason="Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
def test_bench_rbm_quick_exits_0_and_prints_ratio_table():
    import pydbn

    # The subprocess imports the same pydbn as this test process (installed or in-tree).
    env = dict(os.environ)
    pkg_parent = str(Path(pydbn.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [pkg_parent, env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--no-torch"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    assert "| implementation | median (s)" in out
    assert "ratio: time / pydbn f32" in out
    assert "| pydbn RBM float32 (PCD-1) |" in out
    assert "| sklearn BernoulliRBM float64 |" in out
    assert "| transform | float32 |" in out
    assert "| target | measured ratio | required | met |" in out
    assert "targets met" in out
