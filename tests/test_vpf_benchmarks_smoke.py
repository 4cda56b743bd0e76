"""Smoke tests of the VPF benchmarks: they run end to end (--quick) and print their tables, and
the NumPy VPF epoch that bench_vpf.py times against pydbn computes what pydbn computes."""

import importlib.util
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks" / "bench_vpf.py"
QUALITY = ROOT / "benchmarks" / "quality_vpf_mnist.py"


def _mnist_available():
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


needs_mnist = pytest.mark.skipif(
    not _mnist_available(),
    reason="MNIST IDX files not found; see pydbn.datasets.load_mnist",
)


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


def _bench_module():
    spec = importlib.util.spec_from_file_location("bench_vpf", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_NUMBER = re.compile(r"^-?\d+(\.\d+)?(e[-+]?\d+)?x?( \(-?\d+%\))?( \+- \d+(\.\d+)?)?%?$")


def _table_row(out, start):
    """The cells of the first table row that starts with `start` (e.g. '| VPF | float32 |')."""
    for line in out.splitlines():
        if line.startswith(start):
            return [c.strip() for c in line.strip().strip("|").split("|")]
    raise AssertionError(f"no table row starts with {start!r}")


def _assert_finite_numbers(cells, skip=0):
    """Every cell after the first `skip` is a finite number (possibly 'x', '%', '+- se')."""
    for cell in cells[skip:]:
        if cell in ("", "-"):
            continue
        assert _NUMBER.match(cell), f"not a number: {cell!r} in {cells}"
        value = float(cell.split(" ")[0].rstrip("x%"))
        assert math.isfinite(value), cells


# ---------------------------------------------------------------------------------------------
# the scripts run and print their tables
# ---------------------------------------------------------------------------------------------
@pytest.mark.slow
@needs_mnist
def test_bench_vpf_quick_exits_0_and_prints_ratio_tables():
    out = _run(BENCH, "--threads", "1")
    assert "load average at start" in out and "load average at the end" in out
    assert "the text's Theano code is not public" in out
    # the check of the NumPy epoch against pydbn's: rounding-level differences
    assert "## Check: the NumPy VPF epoch against pydbn's" in out
    for net in ("RBM 784-196", "DBM1 784-196-196-64", "DBM2 784-196-196-64 with laterals"):
        for dt, tol in (("float32", 1e-5), ("float64", 1e-12)):
            cells = _table_row(out, f"| {net} | {dt} |")
            assert float(cells[2]) < tol, cells
            assert float(cells[3]) > 1e-4, cells  # the epoch moved the parameters
            assert cells[6] == "yes"
    # (i) VPF against CD-1 and PCD-1
    assert "## (i) One RBM 784-196 epoch: VPF against CD-1 and PCD-1" in out
    assert "| ratio VPF / this | ratio this / CD-1 |" in out
    for method in ("VPF", "CD-1", "PCD-1"):
        for dt in ("float32", "float64"):
            _assert_finite_numbers(_table_row(out, f"| {method} | {dt} |"), skip=2)
    _assert_finite_numbers(_table_row(out, "| float64 epoch / float32 epoch | "), skip=1)
    # (ii) pydbn against NumPy, and the MPF kernel alone
    assert "## (ii) One VPF epoch: pydbn.VPF against the NumPy VPF epoch" in out
    assert "| ratio NumPy / pydbn | NumPy E-step (s) | NumPy MPF (s) | NumPy Adam (s) |" in out
    assert "## The MPF objective + gradient kernel alone" in out
    assert "| _core.bm_mpf (us) | NumPy (us) | ratio NumPy / pydbn |" in out
    for net in ("RBM 784-196", "DBM1 784-196-196-64", "DBM2 784-196-196-64 with laterals"):
        for dt in ("float32", "float64"):
            rows = [line for line in out.splitlines() if line.startswith(f"| {net} | {dt} |")]
            assert len(rows) == 3, rows  # check, (ii), kernel tables
            for line in rows[1:]:
                cells = [c.strip() for c in line.strip().strip("|").split("|")]
                # the approximate "rest" of a tiny quick-run epoch can come out negative
                _assert_finite_numbers(cells, skip=2)


@pytest.mark.slow
@needs_mnist
def test_quality_vpf_quick_exits_0_and_prints_tables():
    both = _fashion_mnist_available()
    # one BLAS thread: the tiny quick-run products only lose time to thread hand-offs
    out = _run(QUALITY, "--threads", "1", "--dataset", "both" if both else "mnist")
    assert "load average at start" in out and "load average at the end" in out
    assert "total run time" in out
    # Table 1: our figures beside the text's
    assert "#### MNIST binarized at 0.5: Table 1, mean L1 reconstruction error" in out
    head = ("| corruption | CD-1 (ours) | CD-1 (text) | CD-10 (ours) | CD-10 (text) | PCD-1 (ours) "
            "| PCD-1 (text) | PCD-10 (ours) | PCD-10 (text) | VPF (ours) | VPF (text) |")
    assert head in out
    text = {"Top": ("57.8", "55.7", "57.6", "47.9", "32.9"),
            "Bottom": ("74.7", "54.5", "58.2", "48.9", "46.9"),
            "Left": ("59.2", "58.2", "46.2", "39.1", "36.7"),
            "Right": ("69.9", "55.4", "53.6", "43.7", "44.1")}
    for pattern, figures in text.items():
        cells = _table_row(out, f"| {pattern} |")  # the first such row is MNIST's Table 1
        assert tuple(cells[2::2]) == figures, cells
        _assert_finite_numbers(cells[1::2])
        for cell in cells[1::2]:
            assert "+-" in cell  # with its standard error
    _assert_finite_numbers(_table_row(out, "| mean ratio ours / text |"), skip=1)
    _assert_finite_numbers(_table_row(out, "| train time, fit (s) |"), skip=1)
    assert "| Gibbs steps | 5 | 1000 | 5 | 1000 | 5 | 1000 | 5 | 1000 | 2 | 2 |" in out
    # the fairness check with the step counts swapped
    assert "fairness check, the Gibbs step counts swapped" in out
    assert "| VPF, 5 steps | VPF, 2 steps |" in out
    # Table 2
    assert "#### MNIST binarized at 0.5: Table 2, Parzen-window log-likelihood" in out
    for model, prior, figure in (("RBM 784-196", "R (uniform)", "78 +- 5.9"),
                                 ("DBM1 784-196-196-64", "R (uniform)", "183 +- 1.1"),
                                 ("DBM1 784-196-196-64", "P (data mean)", "210 +- 0.8"),
                                 ("DBM2 784-196-196-64", "R (uniform)", "222 +- 0.5"),
                                 ("DBM2 784-196-196-64", "P (data mean)", "222 +- 0.4")):
        cells = _table_row(out, f"| {model} | {prior} |")
        assert cells[6].startswith(figure), cells
        _assert_finite_numbers(cells[2:6])
        _assert_finite_numbers(cells[7:])
    assert "239.88" in out
    assert "| sigma (binarized) | ours, binarized test | sigma (grey) | ours, grey-level test |" \
        in out
    if both:
        assert "## Fashion-MNIST binarized at 0.5" in out
        assert out.count("Parzen-window log-likelihood (nats)") == 2
        assert out.count("mean L1 reconstruction error of") == 2


# ---------------------------------------------------------------------------------------------
# the NumPy reference of bench_vpf.py computes what pydbn computes
# ---------------------------------------------------------------------------------------------
NETWORKS = {
    "rbm": ((20, 8), False),
    "dbm": ((20, 8, 6, 4), False),
    "dbm-lateral": ((20, 8, 6, 4), True),
}
TOL = {np.float64: 1e-12, np.float32: 2e-6}


def _random_model(sizes, lateral, dtype, seed):
    rng = np.random.default_rng(seed)
    W = [rng.normal(0, 0.5, (sizes[k + 1], sizes[k])).astype(dtype)
         for k in range(len(sizes) - 1)]
    U = [None]
    for n in sizes[1:]:
        if lateral:
            a = np.triu(rng.normal(0, 0.5, (n, n)), 1)
            U.append((a + a.T).astype(dtype))
        else:
            U.append(None)
    b = [rng.normal(0, 0.3, n).astype(dtype) for n in sizes]
    return W, U, b


@pytest.mark.slow
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("name", list(NETWORKS))
def test_numpy_mpf_gradient_equals_core_bm_mpf(name, dtype):
    from pydbn import _core

    bench = _bench_module()
    sizes, lateral = NETWORKS[name]
    model = _random_model(sizes, lateral, dtype, seed=1)
    rng = np.random.default_rng(2)
    states = [(rng.random((37, n)) < 0.5).astype(dtype) for n in sizes]
    grads = ([np.full_like(w, np.nan) for w in model[0]],
             [None if u is None else np.full_like(u, np.nan) for u in model[1]],
             [np.full_like(x, np.nan) for x in model[2]])
    K_core = _core.bm_mpf(model, states, grads, False)
    K_ref, ref = bench.numpy_mpf(model, states)
    tol = TOL[dtype]
    assert K_ref == pytest.approx(K_core, rel=10 * tol)
    scale = max(float(np.abs(g).max()) for g in ref[0] + ref[2])
    assert scale > 1e-2  # test power: the gradients are far from zero
    for got_list, ref_list in zip(grads, ref):
        for got, exp in zip(got_list, ref_list):
            if exp is None:
                assert got is None
                continue
            assert exp.dtype == dtype
            np.testing.assert_allclose(exp, got, rtol=10 * tol, atol=10 * tol * scale)


@pytest.mark.slow
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("name", list(NETWORKS))
def test_numpy_epoch_equals_core_epoch_given_the_same_samples_and_order(name, dtype):
    # 103 rows in minibatches of at most 10: 11 Adam steps of unequal minibatches
    bench = _bench_module()
    sizes, lateral = NETWORKS[name]
    model = _random_model(sizes, lateral, dtype, seed=3)
    X = (np.random.default_rng(4).random((103, sizes[0])) < 0.4).astype(dtype)
    kw = dict(seed=11, epoch=5, learning_rate=0.01, weight_decay=1e-3, batch_size=10)
    core, ref, (K_core, t_core), (K_ref, t_ref) = bench.compare_epochs(model, X, **kw)
    assert t_core == t_ref == 11
    tol = TOL[dtype]
    assert K_ref == pytest.approx(K_core, rel=10 * tol)
    moved = bench.max_difference(core, model)
    assert moved > 1e-2  # the epoch moved the parameters (Adam: about lr per step)
    assert bench.max_difference(core, ref) < 10 * tol * max(1.0, moved)
    for u in ref[1]:
        if u is not None:
            np.testing.assert_array_equal(u, u.T)
            assert np.all(np.diag(u) == 0)
    # test power: the same epoch with another minibatch order, or other E-step samples, ends
    # far from pydbn's
    copy = lambda m: ([w.copy() for w in m[0]],  # noqa: E731
                      [None if u is None else u.copy() for u in m[1]], [x.copy() for x in m[2]])
    hidden = bench.core_e_step(model, X, 11, 5)
    order = bench.core_permutation(11, 5, len(X))
    for other_hidden, other_order in ((hidden, order[::-1].copy()),
                                      (bench.core_e_step(model, X, 12, 5), order)):
        m = copy(model)
        bench.numpy_vpf_epoch(m, bench.zero_state(m), 0, X, learning_rate=0.01,
                              weight_decay=1e-3, batch_size=10, hidden=other_hidden,
                              order=other_order)
        assert bench.max_difference(core, m) > 1e-2


@pytest.mark.slow
def test_core_permutation_is_the_order_of_the_core_epoch():
    # the regenerated Philox shuffle is a permutation that depends on the seed and the epoch
    bench = _bench_module()
    perm = bench.core_permutation(7, 3, 5000)
    assert sorted(perm.tolist()) == list(range(5000))
    assert not np.array_equal(perm, bench.core_permutation(7, 4, 5000))
    assert not np.array_equal(perm, bench.core_permutation(8, 3, 5000))
    # minibatches of one row: the NumPy epoch ends where pydbn's does only if it visits the
    # rows in pydbn's order
    model = _random_model((6, 3), False, np.float64, seed=5)
    X = (np.random.default_rng(6).random((9, 6)) < 0.5).astype(np.float64)
    core, ref, _, _ = bench.compare_epochs(model, X, seed=7, epoch=3, learning_rate=0.05,
                                           weight_decay=0.0, batch_size=1)
    assert bench.max_difference(core, ref) < 1e-12
