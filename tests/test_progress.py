"""Progress bars (issue 8): when they show, what they count, and the AIS progress hook."""
import sys
import threading

import numpy as np
import pytest

import pydbn
from pydbn import _progress

X = (np.random.default_rng(0).random((60, 12)) < 0.3).astype(np.float64)
Y = np.arange(60) % 3


class FakeBar:
    """Records what a tqdm bar would be told."""

    made = []

    def __init__(self, total, desc, unit, leave, dynamic_ncols):
        self.total, self.desc, self.unit, self.n = total, desc, unit, 0
        self.values, self.lines, self.closed = [], [], False
        FakeBar.made.append(self)

    def update(self, n):
        self.n += n
        self.values.append(self.n)

    def refresh(self):
        self.values.append(self.n)

    def write(self, line, file=None):
        self.lines.append(line)

    def close(self):
        self.closed = True


@pytest.fixture
def bars(monkeypatch):
    pytest.importorskip("tqdm")
    FakeBar.made = []
    monkeypatch.setattr(_progress, "_tqdm_class", lambda: FakeBar)
    with pydbn.config_context(progress=True):
        yield FakeBar.made


# --------------------------------------------------------------------- when bars are shown

def test_config_is_validated_restored_and_per_thread():
    assert pydbn.get_config() == {"progress": None}
    with pytest.raises(TypeError, match="progress must be"):
        pydbn.set_config(progress="yes")
    with pydbn.config_context(progress=False):
        assert pydbn.get_config()["progress"] is False
        seen = []
        t = threading.Thread(target=lambda: seen.append(pydbn.get_config()["progress"]))
        t.start()
        t.join()
        assert seen == [None]  # another thread keeps its own setting
    assert pydbn.get_config()["progress"] is None


def test_auto_is_off_when_not_interactive_and_the_environment_decides(monkeypatch):
    pytest.importorskip("tqdm")
    monkeypatch.delenv("PYDBN_PROGRESS", raising=False)
    monkeypatch.setattr(_progress, "_interactive", lambda: False)
    assert not _progress.progress_enabled()
    monkeypatch.setattr(_progress, "_interactive", lambda: True)
    assert _progress.progress_enabled()
    monkeypatch.setenv("PYDBN_PROGRESS", "0")
    assert not _progress.progress_enabled()
    monkeypatch.setattr(_progress, "_interactive", lambda: False)
    monkeypatch.setenv("PYDBN_PROGRESS", "1")
    assert _progress.progress_enabled()
    with pydbn.config_context(progress=False):  # the setting overrides the environment
        assert not _progress.progress_enabled()


def test_a_stream_that_is_not_a_terminal_is_not_interactive(monkeypatch):
    import io

    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert not _progress._interactive()  # no Jupyter kernel runs the tests either


def test_no_tqdm_means_no_bar(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)  # import tqdm now raises ImportError
    with pydbn.config_context(progress=True):
        assert not _progress.progress_enabled()
        rbm = pydbn.RBM(4, n_iter=2, random_state=0).fit(X)
    assert len(rbm.history_["epoch"]) == 2


def test_bars_off_by_default_when_not_interactive(monkeypatch):
    monkeypatch.delenv("PYDBN_PROGRESS", raising=False)
    monkeypatch.setattr(_progress, "_interactive", lambda: False)
    FakeBar.made = []
    monkeypatch.setattr(_progress, "_tqdm_class", lambda: FakeBar)
    pydbn.RBM(4, n_iter=2, random_state=0).fit(X)
    assert FakeBar.made == []


# --------------------------------------------------------------------- what the bars count

ESTIMATORS = {
    "RBM": (lambda: pydbn.RBM(5, n_iter=3, random_state=0), 3, "epoch"),
    "DBM": (lambda: pydbn.DBM((5, 4), n_iter=3, pretrain_n_iter=2, random_state=0), 3, "epoch"),
    "VPF": (lambda: pydbn.VPF((5,), n_iter=3, random_state=0), 3, "epoch"),
    "DCIM": (lambda: pydbn.DCIM((6,), n_iter=3, random_state=0), 3, "epoch"),
    "AdversarialDBN": (lambda: pydbn.AdversarialDBN((5,), n_iter=250, random_state=0), 250,
                       "step"),
}


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_fit_bar_counts_every_epoch_and_closes(bars, name):
    make, total, unit = ESTIMATORS[name]
    model = make()
    model.fit(X, Y) if name == "DCIM" else model.fit(X)
    main = [b for b in bars if b.desc == name]
    assert len(main) == 1
    bar = main[0]
    assert (bar.total, bar.n, bar.unit) == (total, total, unit)
    assert bar.closed
    assert all(b.closed for b in bars)


def test_dbn_has_a_bar_per_layer_and_for_up_down(bars):
    pydbn.DBN((5, 4), n_iter=[2, 3], fine_tune="up-down", n_iter_fine_tune=2,
              random_state=0).fit(X)
    got = [(b.desc, b.total, b.n) for b in bars]
    assert got == [("DBN layer 1/2", 2, 2), ("DBN layer 2/2", 3, 3), ("DBN up-down", 2, 2)]


def test_dbm_pretraining_bars_are_named(bars):
    pydbn.DBM((5, 4), n_iter=1, pretrain_n_iter=2, random_state=0).fit(X)
    assert [b.desc for b in bars] == ["DBM pre-training 1/2", "DBM pre-training 2/2", "DBM"]


def test_verbose_lines_go_through_the_bar(bars, capsys):
    pydbn.RBM(5, n_iter=2, verbose=1, random_state=0).fit(X)
    assert capsys.readouterr().out == ""
    assert len(bars[0].lines) == 2 and bars[0].lines[1].startswith("[RBM] Iteration 2,")


def test_verbose_lines_print_without_a_bar(capsys):
    with pydbn.config_context(progress=False):
        pydbn.RBM(5, n_iter=2, verbose=1, random_state=0).fit(X)
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and out[0].startswith("[RBM] Iteration 1,")


# --------------------------------------------------------------------- AIS from inside the core

@pytest.mark.parametrize("side, runs", [("visible", 1), ("both", 2)])
def test_rbm_ais_reports_progress_from_the_core(bars, side, runs):
    rbm = pydbn.RBM(6, n_iter=2, random_state=0).fit(X)
    bars.clear()
    n_betas = 400000  # far longer than the binding's 50 ms display interval
    with pydbn.config_context(progress=False):
        expected = rbm.log_partition("ais", n_betas=n_betas, n_chains=2, side=side,
                                     random_state=1)
    got = rbm.log_partition("ais", n_betas=n_betas, n_chains=2, side=side, random_state=1)
    assert got == expected  # the hook changes nothing in the computation
    (bar,) = bars
    assert bar.total == runs * (n_betas - 1) and bar.desc == "AIS" and bar.closed
    # values only ever increase, end at the total, and some came from inside the core
    assert bar.values == sorted(bar.values) and bar.values[-1] == bar.total
    assert any(0 < v < n_betas - 1 for v in bar.values)


def test_dbm_ais_reports_progress(bars):
    dbm = pydbn.DBM((5, 4), n_iter=1, pretrain_n_iter=1, random_state=0).fit(X)
    bars.clear()
    dbm.log_partition("ais", n_betas=3000, n_chains=20, random_state=1)
    (bar,) = bars
    assert bar.total == 2 * 2999 and bar.values == sorted(bar.values) and bar.closed
    assert bar.values[-1] == bar.total and 2999 in bar.values  # each run ends at its share


def test_an_exception_in_the_progress_callable_stops_the_core():
    from pydbn import _core

    rbm = pydbn.RBM(6, n_iter=1, random_state=0).fit(X)
    base = np.zeros(12)
    logw = np.empty(10)

    calls = []

    def boom(fraction):
        calls.append(fraction)
        raise RuntimeError("stop here")

    with pytest.raises(RuntimeError, match="stop here"):
        _core.rbm_log_partition_ais(rbm._model(), base, 2**23, 0, 0, logw, False, boom)
    assert len(calls) == 1 and 0 < calls[0] < 1
    with pytest.raises(TypeError, match="progress must be None or a callable"):
        _core.rbm_log_partition_ais(rbm._model(), base, 10, 0, 0, logw, False, 3)


def test_a_dask_array_gets_one_bar_over_its_blocks(bars):
    da = pytest.importorskip("dask.array")
    X_lazy = da.from_array(X, chunks=(20, 12))
    pydbn.RBM(5, random_state=0).partial_fit(X_lazy)
    assert [(b.desc, b.unit, b.total, b.n) for b in bars] == [("RBM", "block", 3, 3)]
