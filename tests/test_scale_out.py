"""Data beyond memory: ``partial_fit`` reads a ``numpy.memmap`` in place and streams a dask
array one row block at a time, and the estimators run on a dask cluster (dask-ml's
``Incremental``, joblib's dask backend for a hyperparameter search).

Peak memory is measured with tracemalloc, which sees NumPy's allocations (not the core's own
C workspace, which is sized by ``batch_size``, not by the number of rows).
"""
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest
from sklearn.base import BaseEstimator
from sklearn.datasets import load_digits
from sklearn.utils.validation import check_array

import pydbn
from pydbn._base import as_source

N_FEATURES = 64

# one small model of each estimator with partial_fit; True where it takes labels
MODELS = {
    "RBM": (lambda: pydbn.RBM(16, batch_size=50, random_state=0), False),
    "DBM": (lambda: pydbn.DBM((8, 8), batch_size=50, n_chains=20, n_mean_field=10,
                              pretrain_n_iter=1, random_state=0), False),
    "VPF": (lambda: pydbn.VPF((16,), batch_size=50, random_state=0), False),
    "AdversarialDBN": (lambda: pydbn.AdversarialDBN((16, 8), discriminator_layer_sizes=(8,),
                                                    batch_size=50, random_state=0), False),
    "AdversarialDBN-conditional": (
        lambda: pydbn.AdversarialDBN((16, 8), discriminator_layer_sizes=(8,), batch_size=50,
                                     random_state=0), True),
    "DCIM": (lambda: pydbn.DCIM((16,), batch_size=50, random_state=0), True),
}


def labels_of(X):
    """Two classes from the first columns (works on NumPy and dask arrays alike)."""
    return (X[:, :8].sum(axis=1) > 2).astype(np.int64)


def fit_args(name, y):
    """The label arguments of ``partial_fit`` for the named model."""
    if not MODELS[name][1]:
        return (), {}
    return (y,), ({"classes": [0, 1]} if name == "DCIM" else {})


def fitted_state(estimator):
    """Every fitted attribute but the timings in ``history_``."""
    return {k: v for k, v in vars(estimator).items()
            if k.endswith("_") and not k.startswith("_") and k != "history_"}


def assert_same_model(a, b):
    if isinstance(a, BaseEstimator):
        assert type(a) is type(b)
        assert_same_model(fitted_state(a), fitted_state(b))
    elif isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            assert_same_model(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for u, v in zip(a, b):
            assert_same_model(u, v)
    elif a is None:
        assert b is None
    else:
        np.testing.assert_array_equal(a, b)


def peak_bytes(call):
    """Peak NumPy / Python allocation (bytes) traced while ``call()`` runs."""
    tracemalloc.start()
    try:
        call()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# ------------------------------------------------------------------ numpy.memmap


@pytest.fixture(scope="module")
def memmap_file(tmp_path_factory):
    """50000 x 64 random binary float32 rows in a file, opened read-only (12.8 MB)."""
    rng = np.random.default_rng(0)
    data = (rng.random((50_000, N_FEATURES)) < 0.3).astype(np.float32)
    path = tmp_path_factory.mktemp("memmap") / "rows.f32"
    data.tofile(path)
    return np.memmap(path, dtype=np.float32, mode="r", shape=data.shape), data


def test_memmap_reaches_the_core_without_a_copy(memmap_file):
    M, _ = memmap_file
    validated = check_array(M, accept_sparse="csr", dtype=(np.float64, np.float32))
    assert np.shares_memory(as_source(validated, np.float32), M)


@pytest.mark.parametrize("name", MODELS)
def test_partial_fit_of_memmap_reads_in_place_and_matches_in_memory(name, memmap_file):
    M, data = memmap_file
    make, _ = MODELS[name]
    args, kwargs = fit_args(name, labels_of(data))
    # a first call elsewhere imports what the estimator imports lazily
    make().partial_fit(data[:500], *(a[:500] for a in args), **kwargs)

    from_file = make()
    peak = peak_bytes(lambda: from_file.partial_fit(M, *args, **kwargs))
    # what remains is bounded bookkeeping (a few thousand monitoring rows, index arrays,
    # a DBM's first-layer activations for pre-training), never a copy of the rows
    assert peak < M.nbytes / 4, f"peak {peak / 1e6:.2f} MB for a {M.nbytes / 1e6:.1f} MB file"
    assert_same_model(from_file, make().partial_fit(data, *args, **kwargs))


# ------------------------------------------------------------------ dask arrays

CHUNK_ROWS, N_CHUNKS = 1000, 24


def lazy_rows(n_rows=CHUNK_ROWS * N_CHUNKS, chunk_rows=CHUNK_ROWS, seed=0):
    """Random binary float32 rows, generated chunk by chunk when computed."""
    da = pytest.importorskip("dask.array")
    uniform = da.random.default_rng(seed).random((n_rows, N_FEATURES), chunks=(chunk_rows, -1),
                                                 dtype=np.float32)
    return (uniform < 0.3).astype(np.float32)


def by_hand(make, name, X, y):
    """partial_fit on each computed NumPy block of X in turn."""
    model = make()
    for i in range(X.numblocks[0]):
        args, kwargs = fit_args(name, None if y is None else y.blocks[i].compute())
        model.partial_fit(X.blocks[i].compute(), *args, **kwargs)
    return model


@pytest.mark.parametrize("name", MODELS)
def test_partial_fit_of_dask_array_equals_partial_fit_of_each_block(name):
    X = lazy_rows()
    y = labels_of(X)
    make, _ = MODELS[name]
    args, kwargs = fit_args(name, y)
    make().partial_fit(X.blocks[0].compute(), *fit_args(name, y.blocks[0].compute())[0],
                       **kwargs)  # imports, dask's first compute

    streamed = make()
    peak = peak_bytes(lambda: streamed.partial_fit(X, *args, **kwargs))
    chunk = CHUNK_ROWS * N_FEATURES * 4
    # generating a chunk and training on it costs about 5 chunks; the whole array is 24
    assert peak < 10 * chunk, f"peak {peak / chunk:.1f} chunks of {N_CHUNKS}"
    assert_same_model(streamed, by_hand(make, name, X, y if MODELS[name][1] else None))


def test_labels_chunked_differently_from_the_rows_are_aligned_to_them():
    X = lazy_rows(6000, 1000)
    y = labels_of(X).rechunk(1500)
    make, _ = MODELS["DCIM"]
    streamed = make().partial_fit(X, y, classes=[0, 1])
    assert_same_model(streamed, by_hand(make, "DCIM", X, labels_of(X)))
    # labels held in memory are cut to each block's rows
    streamed = make().partial_fit(X, y.compute(), classes=[0, 1])
    assert_same_model(streamed, by_hand(make, "DCIM", X, labels_of(X)))


def test_wrong_number_of_labels_is_refused_before_any_training():
    X = lazy_rows(3000, 1000)
    model = pydbn.DCIM((8,), random_state=0)
    with pytest.raises(ValueError, match="one label per row"):
        model.partial_fit(X, np.zeros(2999, dtype=int), classes=[0, 1])
    with pytest.raises(ValueError, match="one label per row"):
        model.partial_fit(X, labels_of(X).rechunk(1000)[:2000], classes=[0, 1])
    # as many blocks as X, one label short: refused before the first block trains
    with pytest.raises(ValueError, match="2999 labels, 3000 rows"):
        model.partial_fit(X, labels_of(X)[:2999].rechunk(1000), classes=[0, 1])
    assert not hasattr(model, "components_")


def test_other_dask_collections_are_refused_with_advice():
    dask = pytest.importorskip("dask")
    model = pydbn.RBM(4, random_state=0)
    with pytest.raises(TypeError, match="compute it first"):
        model.partial_fit(dask.delayed(np.ones)((10, 3)))
    assert not hasattr(model, "components_")


def test_bad_block_raises_with_its_index_after_the_blocks_before_it_have_trained():
    da = pytest.importorskip("dask.array")
    good = lazy_rows(3000, 1000)
    bad = da.full((1000, N_FEATURES), np.nan, dtype=np.float32, chunks=(1000, -1))
    X = da.concatenate([good, bad, lazy_rows(1000, 1000, seed=1)])
    model = pydbn.RBM(8, batch_size=50, random_state=0)
    with pytest.raises(ValueError, match="NaN") as raised:
        model.partial_fit(X)
    if sys.version_info >= (3, 11):  # exception notes
        assert any("row block 3" in note and "blocks 0 to 2" in note
                   for note in raised.value.__notes__)
    # the model is the one trained on the three good blocks, as separate calls would leave it
    assert_same_model(model, by_hand(lambda: pydbn.RBM(8, batch_size=50, random_state=0),
                                     "RBM", good, None))


def test_dask_dataframe_is_streamed_by_partition_with_its_column_names():
    dd = pytest.importorskip("dask.dataframe")
    pd = pytest.importorskip("pandas")
    rows = lazy_rows(3000, 1000).compute()
    frame = pd.DataFrame(rows, columns=[f"pixel{j}" for j in range(N_FEATURES)])
    streamed = pydbn.RBM(8, random_state=0).partial_fit(dd.from_pandas(frame, npartitions=3))
    model = pydbn.RBM(8, random_state=0)
    for part in np.array_split(np.arange(3000), 3):
        model.partial_fit(frame.iloc[part])
    assert_same_model(streamed, model)
    assert list(streamed.feature_names_in_) == list(frame.columns)


def test_numpy_input_does_not_import_dask():
    code = ("import sys, numpy as np, pydbn\n"
            "pydbn.RBM(4, random_state=0).partial_fit(np.ones((20, 5)))\n"
            "assert not any(m == 'dask' or m.startswith('dask.') for m in sys.modules)\n")
    subprocess.run([sys.executable, "-c", code], check=True)


# ------------------------------------------------------------------ dask clusters


def binary_digits():
    X, y = load_digits(return_X_y=True)
    return (X > 7).astype(np.float64), y


def test_dask_ml_incremental_trains_an_rbm_on_a_local_cluster():
    da = pytest.importorskip("dask.array")
    distributed = pytest.importorskip("distributed")
    wrappers = pytest.importorskip("dask_ml.wrappers")
    X, _ = binary_digits()
    blocks = da.from_array(X, chunks=(300, -1))

    def pseudo_likelihood(estimator, X, y=None):
        return float(np.mean(estimator.score_samples(X)))

    def rbm(**extra):
        return pydbn.RBM(32, batch_size=20, learning_rate=0.05, random_state=0, **extra)

    # separate worker processes: the model travels to the worker and back by pickle.
    # Incremental insists on a scorer (sklearn's check_scoring) and the RBM, like
    # BernoulliRBM, has no score method: pass one.
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        with distributed.get_task_stream(client) as tasks:
            search = wrappers.Incremental(rbm(), scoring=pseudo_likelihood,
                                          shuffle_blocks=False).fit(blocks)
            features = search.transform(blocks).compute()
    assert len(tasks.data) > 0  # the work ran on the cluster
    assert features.shape == (X.shape[0], 32)
    trained = search.estimator_
    assert_same_model(trained, by_hand(rbm, "RBM", blocks, None))
    untrained = rbm(n_iter=0).fit(X)
    assert pseudo_likelihood(trained, X) > pseudo_likelihood(untrained, X) + 5


def test_grid_search_on_the_joblib_dask_backend_matches_the_serial_search():
    distributed = pytest.importorskip("distributed")
    joblib = pytest.importorskip("joblib")
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import Pipeline

    X, y = binary_digits()
    X, y = X[:500], y[:500]
    grid = {"rbm__n_components": [8, 16], "rbm__learning_rate": [0.02, 0.1]}

    def search():
        pipe = Pipeline([("rbm", pydbn.RBM(batch_size=10, n_iter=10, random_state=0)),
                         ("clf", LogisticRegression(tol=1e-3))])
        return GridSearchCV(pipe, grid, cv=2)

    serial = search().fit(X, y)
    # two worker threads: with one in all, joblib sees n_jobs == 1 and runs the search
    # serially in this process, never touching the cluster
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        with distributed.get_task_stream(client) as tasks, joblib.parallel_backend("dask"):
            parallel = search().fit(X, y)
    assert len(tasks.data) > 0  # the fits ran on the cluster
    assert parallel.best_params_["rbm__n_components"] in grid["rbm__n_components"]
    assert parallel.best_params_["rbm__learning_rate"] in grid["rbm__learning_rate"]
    assert parallel.best_params_ == serial.best_params_
    np.testing.assert_array_equal(parallel.cv_results_["mean_test_score"],
                                  serial.cv_results_["mean_test_score"])
    assert serial.best_score_ > 0.5  # a search over features that do something
