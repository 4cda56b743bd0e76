"""Smoke tests of the DBN benchmarks: each runs end to end (--quick) and prints its tables."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks" / "bench_dbn.py"
QUALITY = ROOT / "benchmarks" / "quality_dbn_mnist.py"


def _available(load):
    try:
        load()
    except (FileNotFoundError, ValueError):
        return False
    return True


def _fashion_mnist():
    from pydbn.datasets import load_fashion_mnist

    load_fashion_mnist(kind="test", as_float=False)


def _mnist():
    from pydbn.datasets import load_mnist

    load_mnist(kind="test", as_float=False)
    load_mnist(kind="test", binarized=True)


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


@pytest.mark.slow
@pytest.mark.skipif(not _available(_fashion_mnist),
                    reason="Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
def test_bench_dbn_quick_exits_0_and_prints_ratio_tables():
    out = _run(BENCH)
    # part 1: per-layer times, DBN against stand-alone RBMs and scikit-learn
    assert "### Time per layer, float32" in out
    assert "| ratio DBN / RBM |" in out
    assert "| ratio sklearn f32 / pydbn DBN |" in out
    assert "| ratio sklearn f64 / pydbn DBN f32 |" in out
    assert "| ratio sklearn f64 / pydbn f64 |" in out
    for layer in ("| 1 | 784 -> 500 |", "| 2 | 500 -> 500 |", "| 3 | 500 -> 2000 |",
                  "| all (fit) |"):
        assert layer in out
    assert "3 of 3 layers" in out  # every DBN layer equals its stand-alone RBM
    assert "| layer | ratio DBN / RBM | met |" in out
    # part 2: features for a logistic regression, both data sets
    assert "| ratio accuracy / raw pixels |" in out
    for name in ("| raw pixels", "| pydbn RBM(", "| pydbn DBN(", ", top layer", ", all layers",
                 "| sklearn BernoulliRBM("):
        assert out.count(name) >= 2, name  # one row per data set
    assert "| digits 8x8" in out and "| Fashion-MNIST" in out


@pytest.mark.slow
@pytest.mark.skipif(not _available(_mnist),
                    reason="MNIST / binarized MNIST not found (see pydbn.datasets.load_mnist)")
def test_quality_dbn_mnist_quick_exits_0_and_prints_tables():
    out = _run(QUALITY)
    assert "## (a) MNIST generative classifier" in out
    assert "| ratio to Hinton et al.'s 1.25% |" in out
    assert "| greedy only |" in out
    assert "| greedy + 1 up-down epochs |" in out
    assert "## (b) Binarized MNIST test log-likelihood" in out
    assert "| difference to S&M (nats) |" in out
    assert "| DBN 784-500-2000, variational lower bound |" in out
    assert "| layer 1 alone: RBM 784-500, log p(x) |" in out
    assert "total run time" in out
