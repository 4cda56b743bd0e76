"""Smoke test of the adversarial DBN benchmark: it runs end to end (--quick), prints its tables
and writes its figures."""

import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pydbn.plotting import read_png

ROOT = Path(__file__).resolve().parent.parent
QUALITY = ROOT / "benchmarks" / "quality_adbn.py"

_NUMBER = re.compile(r"^[-+]?\d+(\.\d+)?(e[-+]?\d+)?( \+- \d+(\.\d+)?)?$")


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


def _row(out, start):
    rows = _rows(out, start)
    assert rows, f"no table row starts with {start!r}"
    return rows[0]


def _finite(cells, skip=0):
    """Every cell after the first `skip` is '-' or a finite number (possibly '+- se', or a
    'min-max' range)."""
    for cell in cells[skip:]:
        if cell == "-":
            continue
        parts = [cell] if _NUMBER.match(cell) else cell.split("-", 1) if "+-" not in cell \
            else [cell]
        for part in parts:
            assert _NUMBER.match(part), f"not a number: {cell!r} in {cells}"
            assert math.isfinite(float(part.split(" ")[0])), cells


@pytest.mark.slow
def test_quality_adbn_quick_exits_0_prints_tables_and_writes_figures(tmp_path):
    # one BLAS thread, the script's default, given explicitly as the other smoke tests do
    out = _run("--threads", "1", "--out", str(tmp_path))
    assert "load average at start" in out and "load average at the end" in out
    assert "total run time" in out
    assert f"figures in {tmp_path}" in out

    # (a) digits: every model, the reference row, the conditional accuracy
    assert "## (a) 8x8 digits" in out
    assert "`data / 16 > 0.5`" in out
    head = ("| model | loss | optimizer | lr generator / discriminator | n_critic | train time (s) "
            "| ms / update | held-out log-lik (nats) | training log-lik (nats) ")
    assert head in out
    for name, loss, opt in (("GAN", "gan", "adam"), ("WGAN", "wgan", "rmsprop"),
                            ("conditional GAN", "gan", "adam"), ("GAN sgd lr 0.001", "gan", "sgd"),
                            ("GAN rmsprop lr 0.001", "gan", "rmsprop"),
                            ("GAN adam lr 0.001", "gan", "adam")):
        cells = _row(out, f"| {name} | {loss} | {opt} |")
        assert len(cells) == 15, cells
        _finite(cells[4:])
        assert "+-" in cells[7] and float(cells[7].split()[0]) < 0  # a log-likelihood
        assert 0 <= float(cells[9]) <= 1 and 0 <= float(cells[10]) <= 1  # pixel rates
    assert _row(out, "| WGAN | wgan | rmsprop |")[4] == "5"
    ref = _row(out, "| reference: independent pixels (training marginals) |")
    _finite(ref[1:])
    assert "### The Sec. 3.3 estimate against its number of forward samples" in out
    for n_samples in ("50", "500", "2500"):  # --quick: --ll-samples 500, / 10 and x 5
        _finite(_row(out, f"| {n_samples} | "))
    cond = _row(out, "| binary samples, 100 per digit |")
    assert 0 <= float(cond[1]) <= 1 and cond[2] == "0.876"
    assert 0.8 < float(_row(out, "| real held-out digits (the classifier's own accuracy) |")[1])

    # (b) spike trains: the log-likelihood table of each start, the references
    assert "## (b) Spike trains" in out
    assert "make_spike_trains(n_frames=3000, n_neurons=50, rate=0.01" in out
    for start in ("pydbn", "zero"):
        assert f"### Spike trains, start '{start}': held-out log-likelihood during training" in out
    table_rows = [r for r in _rows(out, "| ") if len(r) == 11 and r[0].isdigit()]
    assert len(table_rows) == 2 * 3  # steps 0, 1 and 2 chunks, for each start
    for cells in table_rows:
        _finite(cells)
    assert out.count("Held-out log-likelihood from") == 2
    true = _row(out, "| true generative model |")
    ind = _row(out, "| independent neurons at the training rates |")
    _finite(true[1:])
    _finite(ind[1:])
    assert float(true[1].split()[0]) > float(ind[1].split()[0])  # correlations are worth nats

    # (c) speed against the RBM, and the baseline's variance reduction
    assert "### Time per training iteration against a CD-1 RBM minibatch update" in out
    rbm = _row(out, "| RBM 64-64 CD-1 (minibatch update) |")
    _finite(rbm[1:])
    assert rbm[4] == "1.00"
    for name in ("AdversarialDBN GAN 64-64-64, n_critic 1", "AdversarialDBN WGAN 64-64-64, "
                 "n_critic 5", "AdversarialDBN conditional GAN 10-64-64-64",
                 "AdversarialDBN GAN 128-128-128-50 (spike trains)"):
        cells = _row(out, f"| {name} |")
        _finite(cells[1:])
        assert float(cells[1]) > 0
    assert "### Variance of the generator gradient estimate (Eq. 9)" in out
    for model in ("GAN (part a)", "WGAN (part a)"):
        cells = _row(out, f"| {model} |")
        _finite(cells[1:])
    gan = _row(out, "| GAN (part a) |")
    assert float(gan[4]) > 2  # the baseline cuts the GAN's gradient variance
    assert 0.2 < float(gan[7]) < 5  # and adds no bias

    # figures: grids without matplotlib, curves with it
    for name in ("data", "gan_samples", "gan_binary", "wgan_samples", "conditional_gan_samples",
                 "conditional_gan_binary"):
        pixels = read_png(tmp_path / f"{name}.png")
        assert pixels.shape == (10 * 36 - 4, 10 * 36 - 4)
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return
    for name in ("gan_curves", "optimizers_curves", "spike_rates"):
        path = tmp_path / f"{name}.png"
        assert path.stat().st_size > 1000
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
