"""Smoke test of the DCIM benchmark: it runs end to end (--quick), prints its tables and writes
its figures."""

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pydbn.plotting import read_png

ROOT = Path(__file__).resolve().parent.parent
QUALITY = ROOT / "benchmarks" / "quality_dcim_mnist.py"
OBJECTIVES = ("discriminative", "bidirectional", "sampled")


def _mnist_idx_available():
    try:
        from pydbn.datasets import load_mnist

        load_mnist(kind="test", as_float=False)
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


def _run(*args):
    import pydbn

    # The subprocess imports the same pydbn as this test process (installed or in-tree).
    env = dict(os.environ)
    pkg_parent = str(Path(pydbn.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [pkg_parent, env.get("PYTHONPATH")]))
    env["MPLBACKEND"] = "Agg"
    proc = subprocess.run(
        [sys.executable, str(QUALITY), "--quick", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def _rows(out, start):
    """The cells of every table row that starts with `start`."""
    return [[c.strip() for c in line.strip().strip("|").split("|")]
            for line in out.splitlines() if line.startswith(start)]


def _number(cell):
    value = float(cell.split(" +- ")[0])
    assert math.isfinite(value), cell
    return value


MNIST = _mnist_idx_available()
FASHION = _fashion_mnist_available()


@pytest.mark.slow
@pytest.mark.skipif(not (MNIST or FASHION), reason="neither MNIST (IDX) nor Fashion-MNIST found; "
                    "see pydbn.datasets")
def test_quality_dcim_quick_exits_0_prints_tables_and_writes_figures(tmp_path):
    dataset = "both" if MNIST and FASHION else "mnist" if MNIST else "fashion"
    # one BLAS thread, the script's default, given explicitly as the other smoke tests do
    out = _run("--threads", "1", "--dataset", dataset, "--out", str(tmp_path))
    names = [n for n, ok in (("mnist", MNIST), ("fashion", FASHION)) if ok]
    labels = {"mnist": "MNIST", "fashion": "Fashion-MNIST"}
    assert "load average at start" in out and "load average at the end" in out
    assert "total run time" in out
    assert f"figures in {tmp_path}" in out
    assert "grey levels / 255 in [0, 1]" in out

    # (a) one row per objective and data set, with finite figures
    head = ("| objective | epochs | test accuracy | accuracy - discriminative (points) "
            "| training accuracy | test log p(y\\|x) | held-out log q(x\\|y) (nats / image) ")
    assert out.count(head) == len(names)
    for objective in OBJECTIVES:
        rows = [r for r in _rows(out, f"| {objective} | 2 |") if len(r) == 13]
        assert len(rows) == len(names), (objective, rows)
        for cells in rows:
            values = [_number(c) for c in cells[1:]]
            assert 0 <= values[1] <= 1 and 0 <= values[3] <= 1  # accuracies
            assert values[4] <= 0  # test log p(y | x)
            assert values[5] < 0 and "+-" in cells[6]  # held-out log q(x | y), nats per image
            assert values[5] / 784 == pytest.approx(values[6], abs=1e-3)  # and per pixel
            assert values[9] > 0 and values[10] > 0  # fit time, C epochs
            if objective == "discriminative":
                assert values[2] == 0  # its own difference
    # the claim: accuracy differences of the generative objectives
    for objective in ("bidirectional", "sampled"):
        rows = _rows(out, f"| {objective} - discriminative |")
        assert len(rows) == len(names)
        for cells in rows:
            a, b, diff = _number(cells[1]), _number(cells[2]), _number(cells[3])
            assert diff == pytest.approx(100 * (a - b), abs=0.01)
    assert "rather insignificant drop" in out
    # the training curves: epochs 1 and 2 of every objective
    curve = [r for r in _rows(out, "| ") if len(r) == 8 and r[0] in OBJECTIVES]
    assert len(curve) == 2 * len(OBJECTIVES) * len(names)

    # samples: the summary (both modes of every objective, and the real images) and the
    # Fig. 2 tables of the generative objectives
    for name in names:
        assert f"### {labels[name]}: class-conditional samples (10 per class)" in out
        for objective in ("bidirectional", "sampled"):
            for mode in ("recursive", "one-layer"):
                assert (f"#### {labels[name]}, {objective}, {mode}: the forward model's class "
                        "and probability of each sample") in out
    for objective in OBJECTIVES:
        for mode in ("recursive", "one-layer"):
            rows = _rows(out, f"| {objective} | {mode} |")
            assert len(rows) == len(names)
            for cells in rows:
                share, p_cond, top, spread, pixel = (_number(c) for c in cells[2:])
                assert 0 <= share <= 1 and 0 <= p_cond <= top <= 1
                assert spread >= 0 and 0 < pixel < 1
    assert len(_rows(out, "| 10 real test images per class")) == len(names)
    fig2 = [r for r in _rows(out, "| ") if len(r) == 11 and r[0].isdigit()]
    assert len(fig2) == 10 * 4 * len(names)  # 10 classes x 2 objectives x 2 modes
    for cells in fig2:
        for cell in cells[1:]:
            label, prob = cell.split()
            assert label.isdigit() and 0 < float(prob) <= 1

    # (b) throughput against MLPClassifier
    assert out.count("| ratio s / epoch: MLPClassifier / DCIM |") == len(names)
    dcim = _rows(out, "| pydbn.DCIM(objective='discriminative') |")
    mlp = _rows(out, "| sklearn MLPClassifier(activation='logistic', solver='adam') |")
    assert len(dcim) == len(mlp) == len(names)
    for d, m in zip(dcim, mlp):
        assert d[1] == m[1] == "2"  # the same epochs
        assert _number(d[5]) == 1.0 and _number(m[5]) > 0  # the ratio
        assert _number(m[5]) == pytest.approx(_number(m[3]) / _number(d[3]), rel=0.05)
        for cells in (d, m):
            assert 0 <= _number(cells[6]) <= 1 and _number(cells[7]) > 0

    # figures: the sample grids need no matplotlib (10 x 10 tiles of 28 + 2 pixels, no border)
    for name in names:
        assert read_png(tmp_path / f"{name}_data.png").shape == (298, 298)
        for objective in OBJECTIVES:
            for mode in ("recursive", "one-layer"):
                assert read_png(tmp_path / f"{name}_{objective}_{mode}.png").shape == (298, 298)
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return
    for name in names:
        for path in [tmp_path / f"{name}_curves.png"] + [
                tmp_path / f"{name}_{o}_{m}_annotated.png" for o in OBJECTIVES
                for m in ("recursive", "one-layer")]:
            assert path.stat().st_size > 1000
            assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
