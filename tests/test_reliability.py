"""Reliability of the estimators over many calls and across threads, files and pickles.

- memory: process RSS over 1000 fit / transform / sample cycles of every estimator (slow
  tier; the growth of each is printed at the end of the run), 100 RBM cycles in the fast tier;
- reference counts: the caller's arrays hold as many references after every public call -
  including calls that raise - as before (a binding that forgets a Py_DECREF leaks them);
- threads: four fits in four Python threads at once give bitwise the fitted state of the same
  fits run one after the other; the shared OpenBLAS thread limit survives overlapping blocks;
- persistence: save_model / load_model and plain pickles record pydbn's model format and
  refuse other formats (and truncated or foreign files) with a clear ModelFormatError.

Ctrl-C during fit is covered for every estimator in its own test module (test_*_estimator.py).
"""
import copy
import gc
import os
import pickle
import sys
import threading
import time

import joblib
import numpy as np
import pytest
import threadpoolctl
from sklearn.base import BaseEstimator

import pydbn
from pydbn import AdversarialDBN, DBM, DBN, DCIM, RBM, VPF, _core, persistence
from pydbn.persistence import FORMAT_VERSION, ModelFormatError

NAMES = ("RBM", "DBN", "DBM", "VPF", "AdversarialDBN", "DCIM")


def data(n=20, n_features=6, seed=0):
    rng = np.random.RandomState(seed)
    return (rng.rand(n, n_features) < 0.5).astype(np.float64), np.arange(n) % 2


def make(name, seed=0, size=4, n_iter=2):
    """A small estimator of each kind (``size`` units per layer)."""
    return {
        "RBM": lambda: RBM(size, n_iter=n_iter, batch_size=5, random_state=seed),
        "DBN": lambda: DBN((size, size), n_iter=n_iter, batch_size=5, random_state=seed),
        "DBM": lambda: DBM((size, size), n_iter=n_iter, batch_size=5, n_chains=5,
                           n_mean_field=5, k=1, pretrain_n_iter=1, random_state=seed),
        "VPF": lambda: VPF((size,), n_iter=n_iter, batch_size=5, random_state=seed),
        "AdversarialDBN": lambda: AdversarialDBN((size,), discriminator_layer_sizes=(size,),
                                                 n_iter=5 * n_iter, batch_size=4,
                                                 random_state=seed),
        "DCIM": lambda: DCIM((size,), n_iter=n_iter, batch_size=5, random_state=seed),
    }[name]()


def calls(name, X, y):
    """(label, call(estimator)) of every public method of an estimator, fit first."""
    mask = np.zeros(X.shape, dtype=bool)
    mask[:, 0] = True
    common = {
        "RBM": [("fit", lambda e: e.fit(X)), ("partial_fit", lambda e: e.partial_fit(X)),
                ("transform", lambda e: e.transform(X)),
                ("sample", lambda e: e.sample(3, n_steps=2)),
                ("score_samples", lambda e: e.score_samples(X)),
                ("gibbs", lambda e: e.gibbs(X)), ("reconstruct", lambda e: e.reconstruct(X)),
                ("reconstruct_mask", lambda e: e.reconstruct(X, mask)),
                ("log_likelihood", lambda e: e.log_likelihood(X))],
        "DBN": [("fit", lambda e: e.fit(X, y)), ("transform", lambda e: e.transform(X)),
                ("predict_proba", lambda e: e.predict_proba(X)),
                ("score", lambda e: e.score(X, y)),
                ("sample", lambda e: e.sample(3, n_gibbs=2)),
                ("lower_bound", lambda e: e.lower_bound(X, method="exact"))],
        "DBM": [("fit", lambda e: e.fit(X)), ("partial_fit", lambda e: e.partial_fit(X)),
                ("transform", lambda e: e.transform(X)),
                ("sample", lambda e: e.sample(3, n_gibbs=2)),
                ("log_likelihood", lambda e: e.log_likelihood(X, method="exact"))],
        "VPF": [("fit", lambda e: e.fit(X)), ("partial_fit", lambda e: e.partial_fit(X)),
                ("transform", lambda e: e.transform(X)), ("sample", lambda e: e.sample(3)),
                ("score", lambda e: e.score(X)),
                ("reconstruct", lambda e: e.reconstruct(X, mask))],
        "AdversarialDBN": [("fit", lambda e: e.fit(X)), ("partial_fit", lambda e: e.partial_fit(X)),
                           ("sample", lambda e: e.sample(3)),
                           ("log_likelihood", lambda e: e.log_likelihood(X, n_samples=20)),
                           ("discriminate", lambda e: e.discriminate(X))],
        "DCIM": [("fit", lambda e: e.fit(X, y)), ("partial_fit", lambda e: e.partial_fit(X, y)),
                 ("transform", lambda e: e.transform(X)), ("predict", lambda e: e.predict(X)),
                 ("score", lambda e: e.score(X, y)), ("sample", lambda e: e.sample([0, 1])),
                 ("reverse_log_likelihood", lambda e: e.reverse_log_likelihood(X, y))],
    }
    return common[name]


def failing_calls(name, X, y, X_nan, X_wide, y_short):
    """(label, call) that must raise ValueError on a fitted estimator: NaN input, a wrong
    number of features, one label too few."""
    infer = "discriminate" if name == "AdversarialDBN" else "transform"
    labelled = name in ("DBN", "DCIM")
    out = [(f"{infer}_nan", lambda e: getattr(e, infer)(X_nan)),
           (f"{infer}_wide", lambda e: getattr(e, infer)(X_wide)),
           ("fit_nan", lambda e: e.fit(X_nan, y) if labelled else e.fit(X_nan))]
    if hasattr(make(name), "partial_fit"):
        out.append(("partial_fit_wide", lambda e: e.partial_fit(X_wide, y) if name == "DCIM"
                    else e.partial_fit(X_wide)))
    if labelled:
        out.append(("fit_y_short", lambda e: e.fit(X, y_short)))
    return out


TRAINING = ("fit", "partial_fit", "fit_nan", "partial_fit_wide", "fit_y_short")


def state(obj, prefix="", out=None):
    """Every array and number an estimator holds (fitted attributes and private state, nested
    estimators and lists included; history entries without wall-clock times)."""
    out = {} if out is None else out
    if isinstance(obj, np.ndarray):
        out[prefix] = obj
    elif isinstance(obj, (bool, int, float, np.number)):
        out[prefix] = obj
    elif isinstance(obj, (list, tuple)):
        for i, item in enumerate(obj):
            state(item, f"{prefix}[{i}]", out)
    elif isinstance(obj, dict):
        for k, v in obj.items():
            if "time" not in str(k):
                state(v, f"{prefix}[{k!r}]", out)
    elif isinstance(obj, BaseEstimator):
        for k, v in vars(obj).items():
            if k.endswith("_") or k.startswith("_"):
                state(v, f"{prefix}.{k}", out)
    return out


def assert_same_state(a, b):
    sa, sb = state(a), state(b)
    assert sorted(sa) == sorted(sb)
    different = [k for k in sa if not np.array_equal(sa[k], sb[k])]
    assert not different, different


# ---------------------------------------------------------------------------------------------
# memory: resident set size over many cycles
# ---------------------------------------------------------------------------------------------
RSS_GROWTH = {}  # what was measured -> MiB, printed when the module's tests are done
RSS_BOUND_MIB = 4.0  # the worst seen: a 0.6 MiB plateau (DBN) that no longer grows


@pytest.fixture(scope="module", autouse=True)
def _print_memory_growth(request):
    yield
    plugins = request.config.pluginmanager
    reporter, capture = plugins.get_plugin("terminalreporter"), plugins.get_plugin("capturemanager")
    if RSS_GROWTH and reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():  # shown without -s
            reporter.write_line("")
            reporter.write_line("RSS growth after warm-up (MiB):")
            for label, growth in RSS_GROWTH.items():
                reporter.write_line(f"  {label:28s} {growth:+8.3f}")


def rss_mib():
    if os.environ.get("PYDBN_SANITIZE"):
        # AddressSanitizer holds freed memory in quarantine: RSS then measures nothing
        pytest.skip("RSS growth is not meaningful under AddressSanitizer")
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def cycle(name, X, y, bad):
    """One fit / every method / failing calls cycle on a fresh estimator."""
    est = make(name)
    for _, call in calls(name, X, y):
        call(est)
    for _, call in bad:
        try:
            call(est)
        except ValueError:
            pass


def rss_growth(name, warm_up, cycles):
    X, y = data()
    X_nan = X.copy()
    X_nan[0, 0] = np.nan
    bad = failing_calls(name, X, y, X_nan, np.hstack([X, X[:, :1]]), y[:-1])
    with threadpoolctl.threadpool_limits(1):
        for _ in range(warm_up):
            cycle(name, X, y, bad)
        gc.collect()
        before = rss_mib()
        for _ in range(cycles):
            cycle(name, X, y, bad)
        gc.collect()
        return rss_mib() - before


def test_rbm_hundred_cycles_do_not_grow_memory():
    growth = rss_growth("RBM", warm_up=20, cycles=100)
    RSS_GROWTH.setdefault("RBM (100 cycles)", growth)
    assert growth < RSS_BOUND_MIB / 2, f"RSS grew by {growth:.2f} MiB over 100 RBM cycles"


def test_binding_error_paths_do_not_grow_memory():
    W, b, c = np.ones((3, 4)), np.zeros(4), np.zeros(3)
    model = (W, b, c, _core.VISIBLE_BERNOULLI, 0)
    X = np.ones((5, 4))
    good, wrong_out = np.empty((5, 3)), np.empty((5, 2))

    def once():
        _core.rbm_hidden_probs(model, X, good, False)
        for args in [(model, X, wrong_out, False), (model, X.astype(np.float32), good, False),
                     ((W, b, c, 7, 0), X, good, False), ((W.T, b, c, 0, 0), X, good, False),
                     (model, ("csr", X, X, X, 5, 4), good, False)]:
            try:
                _core.rbm_hidden_probs(*args)
            except (ValueError, TypeError):
                pass

    for _ in range(200):
        once()
    gc.collect()
    before = rss_mib()
    for _ in range(20000):
        once()
    gc.collect()
    growth = rss_mib() - before
    RSS_GROWTH.setdefault("binding calls (20000 x 6)", growth)
    assert growth < 2.0, f"RSS grew by {growth:.2f} MiB over 120000 binding calls"


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_thousand_cycles_do_not_grow_memory(name):
    growth = rss_growth(name, warm_up=50, cycles=1000)
    RSS_GROWTH[f"{name} (1000 cycles)"] = growth
    assert growth < RSS_BOUND_MIB, f"RSS grew by {growth:.2f} MiB over 1000 {name} cycles"


# ---------------------------------------------------------------------------------------------
# reference counts of the caller's arrays
# ---------------------------------------------------------------------------------------------
def array_counts(est):
    return {k: sys.getrefcount(a) for k, a in state(est).items() if isinstance(a, np.ndarray)}


@pytest.mark.parametrize("name", NAMES)
def test_calls_leave_the_reference_counts_of_their_arrays_unchanged(name):
    X, y = data()
    X_nan = X.copy()
    X_nan[0, 0] = np.nan
    X_wide, y_short = np.hstack([X, X[:, :1]]), y[:-1].copy()
    tracked = {"X": X, "y": y, "X_nan": X_nan, "X_wide": X_wide, "y_short": y_short}
    good = calls(name, X, y)
    bad = failing_calls(name, X, y, X_nan, X_wide, y_short)
    est = make(name)
    with threadpoolctl.threadpool_limits(1):
        for label, call in good + bad:
            before = {k: sys.getrefcount(a) for k, a in tracked.items()}
            # inference borrows the model's arrays for the core call and must give them back
            model_before = None if label in TRAINING else array_counts(est)
            try:
                call(est)
            except ValueError:
                assert label in dict(bad), label
            else:
                assert label in dict(good), label
            after = {k: sys.getrefcount(a) for k, a in tracked.items()}
            if after != before:  # a reference cycle (a traceback) may hold them until collected
                gc.collect()
                after = {k: sys.getrefcount(a) for k, a in tracked.items()}
            assert after == before, label
            if model_before is not None:
                assert array_counts(est) == model_before, label


def test_core_calls_leave_reference_counts_unchanged_when_they_fail():
    W, b, c = np.ones((3, 4)), np.zeros(4), np.zeros(3)
    X, out, bad_out = np.ones((5, 4)), np.empty((5, 3)), np.empty((5, 2))
    arrays = (W, b, c, X, out, bad_out)
    model = (W, b, c, _core.VISIBLE_BERNOULLI, 0)

    def calls():  # the argument tuples die with this frame
        for args in [(model, X, out, False), (model, X, bad_out, False),
                     ((W, b, c, 7, 0), X, out, False), ((W, c, b, 0, 0), X, out, False),
                     (model, X.T, out, False), ((W, b, c, 0, 9), X, out, False),
                     (model, ("csr", X, X, X, 5, 4), out, False)]:
            try:
                _core.rbm_hidden_probs(*args)
            except (ValueError, TypeError):
                pass

    calls()
    before = [sys.getrefcount(a) for a in arrays]
    for _ in range(10):
        calls()
    assert [sys.getrefcount(a) for a in arrays] == before


# ---------------------------------------------------------------------------------------------
# threads
# ---------------------------------------------------------------------------------------------
THREAD_DATA = data(n=200, n_features=24, seed=3)
# epochs for a fit of 0.1-0.2 s on an idle machine, so that the threads' fits overlap
THREAD_EPOCHS = {"RBM": 200, "DBN": 100, "DBM": 60, "VPF": 200, "AdversarialDBN": 200,
                 "DCIM": 160}


def fit_one(name, seed):
    X, y = THREAD_DATA
    est = make(name, seed=seed, size=24, n_iter=THREAD_EPOCHS[name])
    return est.fit(X, y) if name in ("DBN", "DCIM") else est.fit(X)


def fit_in_threads(jobs):
    """Fit (name, seed) jobs in one Python thread each, started together; checks that the
    fits did run at the same time."""
    barrier = threading.Barrier(len(jobs))
    results, errors, spans = [None] * len(jobs), [], [None] * len(jobs)

    def work(i, name, seed):
        try:
            barrier.wait()
            begin = time.perf_counter()
            results[i] = fit_one(name, seed)
            spans[i] = (begin, time.perf_counter())
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i, *job)) for i, job in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert max(b for b, _ in spans) < min(e for _, e in spans), "the fits did not overlap"
    return results


THREAD_GROUPS = {
    "RBM-DBN-DBM-VPF": [("RBM", 0), ("DBN", 1), ("DBM", 2), ("VPF", 3)],
    "AdversarialDBN-DCIM-RBM-DBM": [("AdversarialDBN", 0), ("DCIM", 1), ("RBM", 2), ("DBM", 3)],
    **{f"4x{name}": [(name, seed) for seed in range(4)] for name in NAMES},
}


@pytest.mark.parametrize("group", sorted(THREAD_GROUPS))
def test_fits_in_four_threads_at_once_equal_the_same_fits_in_sequence(group):
    jobs = THREAD_GROUPS[group]
    serial = [fit_one(name, seed) for name, seed in jobs]
    threaded = fit_in_threads(jobs)
    for a, b in zip(serial, threaded):
        assert_same_state(a, b)
    X = THREAD_DATA[0][:5]
    for a, b in zip(serial, threaded):
        if hasattr(a, "transform"):
            np.testing.assert_array_equal(a.transform(X), b.transform(X))


def openblas_threads():
    return [lib.num_threads for lib in threadpoolctl.ThreadpoolController().lib_controllers
            if "scipy_openblas32" in (lib.filepath or "")]


def test_overlapping_small_gemm_blocks_in_two_threads_restore_the_blas_threads():
    # pydbn/_base.py blas_threads_for: each block used to set one thread and put back what it
    # found; with A in, B in, A out, B out, B found 1 and put 1 back: the process was left at
    # one OpenBLAS thread for good (and B ran with two inside its block after A left).
    from pydbn._base import blas_threads_for

    if not openblas_threads():
        pytest.skip("pydbn is linked against another BLAS")
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    seen = {}

    def first():
        with blas_threads_for(8, 8):
            a_in.set()
            b_in.wait(5)
        a_out.set()

    def second():
        a_in.wait(5)
        with blas_threads_for(8, 8):
            b_in.set()
            a_out.wait(5)
            seen["inside after the first left"] = openblas_threads()

    # (no threadpool_limits around this: threadpoolctl lets only the thread that set a limit
    # change OpenBLAS's count until it lets go, so the worker threads could set nothing)
    before = openblas_threads()
    if before == [1]:
        pytest.skip("OpenBLAS runs one thread already")
    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen["inside after the first left"] == [1]
    assert openblas_threads() == before


def test_adversarial_fits_in_threads_leave_the_blas_threads_as_they_were():
    before = openblas_threads()
    if before in ([], [1]):
        pytest.skip("needs pydbn's OpenBLAS with more than one thread")
    for _ in range(3):
        fit_in_threads([("AdversarialDBN", seed) for seed in range(4)])
        assert openblas_threads() == before


# ---------------------------------------------------------------------------------------------
# persistence: save_model / load_model and plain pickles
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fitted():
    X, y = data()
    with threadpoolctl.threadpool_limits(1):
        return {name: calls(name, X, y)[0][1](make(name)) for name in NAMES}


def outputs(est, X):
    """Deterministic outputs of a fitted estimator (sampling with a fixed random_state)."""
    out = {"sample": est.sample([0, 1], random_state=0) if isinstance(est, DCIM)
           else est.sample(2, random_state=0)}
    for method in ("transform", "predict_proba", "discriminate"):
        if hasattr(est, method):
            try:
                out[method] = getattr(est, method)(X)
            except AttributeError:  # e.g. predict_proba of a DBN fitted without labels
                pass
    return out


@pytest.mark.parametrize("name", NAMES)
def test_pickle_joblib_and_deepcopy_round_trips_give_identical_models(name, fitted, tmp_path):
    est = fitted[name]
    X = data()[0][:6]
    pydbn.save_model(est, tmp_path / "m.joblib")
    joblib.dump(est, tmp_path / "plain.joblib")
    copies = {"pickle": pickle.loads(pickle.dumps(est)),
              "save_model": pydbn.load_model(tmp_path / "m.joblib"),
              "joblib": joblib.load(tmp_path / "plain.joblib"),
              "deepcopy": copy.deepcopy(est)}
    want = outputs(est, X)  # sampling with a random_state leaves the model's stream alone
    for how, other in copies.items():
        assert type(other) is type(est), how
        assert_same_state(est, other)
        got = outputs(other, X)
        assert sorted(got) == sorted(want), how
        for key in want:
            np.testing.assert_array_equal(got[key], want[key], err_msg=f"{how}: {key}")
    assert "_pydbn_format" not in vars(est)  # pickling does not touch the estimator


@pytest.mark.parametrize("name", NAMES)
def test_a_pickle_of_another_model_format_is_refused_naming_both_formats(name, fitted,
                                                                         monkeypatch, tmp_path):
    est = fitted[name]
    with monkeypatch.context() as m:
        m.setattr(persistence, "FORMAT_VERSION", FORMAT_VERSION + 1)  # a future pydbn
        future = pickle.dumps(est)
        pydbn.save_model(est, tmp_path / "future.joblib")
    message = f"format {FORMAT_VERSION + 1} .*reads format {FORMAT_VERSION}"
    with pytest.raises(ModelFormatError, match=message):
        pickle.loads(future)
    with pytest.raises(ModelFormatError, match=message):
        pydbn.load_model(tmp_path / "future.joblib")
    assert issubclass(ModelFormatError, ValueError)


def test_a_pickle_without_a_recorded_format_loads_as_format_one(fitted, monkeypatch):
    est = fitted["DBN"]  # nested estimators (its RBMs) too
    with monkeypatch.context() as m:  # what pydbn pickled before formats were recorded
        m.setattr(persistence.FormatVersionMixin, "__getstate__", BaseEstimator.__getstate__)
        old = pickle.dumps(est)
    assert b"_pydbn_format" not in old and b"_pydbn_format" in pickle.dumps(est)
    assert_same_state(est, pickle.loads(old))
    # the recorded state is scikit-learn's plus the format, and leaves the estimator alone
    assert set(est.__getstate__()) == set(vars(est)) | {"_pydbn_format", "_pydbn_version"}
    assert "_pydbn_format" not in vars(est)


def test_load_model_refuses_a_file_of_a_newer_format_naming_both_versions(tmp_path, fitted):
    path = tmp_path / "future.joblib"
    joblib.dump({"pydbn_format": FORMAT_VERSION + 1, "pydbn_version": "9.0",
                 "model": fitted["RBM"]}, path)
    with pytest.raises(ModelFormatError,
                       match=rf"model format {FORMAT_VERSION + 1} \(pydbn 9.0\); this pydbn "
                             rf"reads format {FORMAT_VERSION}"):
        pydbn.load_model(path)


@pytest.mark.parametrize("payload", ["estimator", "list"])
def test_load_model_refuses_a_joblib_file_that_is_not_a_pydbn_payload(tmp_path, fitted, payload):
    path = tmp_path / "foreign.joblib"
    joblib.dump(fitted["RBM"] if payload == "estimator" else [1, 2], path)
    with pytest.raises(ModelFormatError, match="is not a pydbn model file"):
        pydbn.load_model(path)


@pytest.mark.parametrize("compress", [0, 3])
@pytest.mark.parametrize("keep", [0.0, 0.1, 0.5, 0.9])
def test_load_model_refuses_a_truncated_file_clearly(tmp_path, fitted, compress, keep):
    path = tmp_path / "m.joblib"
    pydbn.save_model(fitted["DBM"], path, compress=compress)
    content = path.read_bytes()
    path.write_bytes(content[:int(keep * len(content))])
    with pytest.raises(ModelFormatError, match="truncated or corrupt"):
        pydbn.load_model(path)


def test_load_model_refuses_a_text_file_clearly(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("not a model\n")
    with pytest.raises(ModelFormatError, match="could not be read as a pydbn model file"):
        pydbn.load_model(path)
