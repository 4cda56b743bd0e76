"""The binding's argument checks: every malformed call is a clear exception, never a crash."""
import numpy as np
import pytest

import pydbn
from pydbn import _core


@pytest.fixture
def model():
    X = (np.random.RandomState(0).rand(50, 6) > 0.5).astype(np.float64)
    return pydbn.RBM(n_components=4, n_iter=2, random_state=0).fit(X)


def test_broadcast_rows_with_zero_stride_are_read_like_a_copy(model):
    x = np.array([1.0, 0.0, 1.0, 1.0, 0.0, 1.0])
    broadcast = np.broadcast_to(x, (5, 6))
    assert broadcast.strides[0] == 0
    np.testing.assert_array_equal(model.transform(broadcast), model.transform(np.tile(x, (5, 1))))


def test_reversed_rows_with_negative_stride_are_read_in_place(model):
    X = (np.random.RandomState(1).rand(20, 6) > 0.5).astype(np.float64)
    np.testing.assert_array_equal(model.transform(X[::-1]), model.transform(X[::-1].copy()))


def test_wrong_output_rank_is_a_value_error_not_a_system_error(model):
    with pytest.raises(ValueError, match="2-D"):
        _core.rbm_sample(model._model(), 1, 0, 0, False, np.empty(6), False)
    base = np.zeros(6)
    with pytest.raises(ValueError, match="1-D"):
        _core.rbm_log_partition_ais(model._model(), base, 10, 0, 0, np.empty((2, 2)), False)


def test_csr_tuple_whose_indptr_overruns_indices_is_rejected(model):
    data = np.ones(2)
    indices = np.array([0, 1], dtype=np.int32)
    indptr = np.array([0, 1, 5], dtype=np.int32)  # claims 5 stored values, there are 2
    out = np.empty((2, 4))
    with pytest.raises(ValueError, match="past the end"):
        _core.rbm_hidden_probs(model._model(), ("csr", data, indices, indptr, 2, 6), out, False)


def test_training_refuses_read_only_parameters(model):
    model.components_.setflags(write=False)
    before = model.components_.copy()
    with pytest.raises(ValueError, match="read-only"):
        model.partial_fit(np.ones((3, 6)))
    np.testing.assert_array_equal(model.components_, before)


@pytest.mark.parametrize("value", [-1, 2**32, 2**32 + 2, 2**64])
def test_unsigned_arguments_out_of_range_are_overflow_errors_not_wrapped(model, value):
    # the "I" format would keep the low 32 bits: 2**32 + 2 would silently become 2
    with pytest.raises(OverflowError, match=r"\[0, 2\^32\)"):
        _core.rbm_log_partition_exact(model._model(), value, False)
    X = np.zeros((4, 6))
    with pytest.raises(OverflowError, match=r"\[0, 2\^32\)"):
        _core.rbm_epoch(model._model(), X, None, None, None, None, method=1, k=value,
                        batch_size=2, learning_rate=0.1, momentum=0.0, weight_decay=0.0,
                        seed=0, epoch=0, check_signals=False)


def test_unsigned_arguments_take_numpy_integers(model):
    assert _core.rbm_log_partition_exact(model._model(), np.int64(10), False) == \
        _core.rbm_log_partition_exact(model._model(), 10, False)
    with pytest.raises(TypeError):
        _core.rbm_log_partition_exact(model._model(), 10.0, False)


def test_unaligned_state_buffers_are_refused():
    # found by UBSan: an unaligned states[0] reached the MPF kernel's double loads
    W, b0, b1 = np.zeros((3, 4)), np.zeros(4), np.zeros(3)
    model = ([W], [None, None], [b0, b1])
    raw = np.zeros(2 * 4 * 8 + 1, dtype=np.uint8)
    unaligned = raw[1:].view(np.float64).reshape(2, 4)
    assert not unaligned.flags.aligned
    with pytest.raises(ValueError, match="aligned"):
        _core.bm_mpf(model, [unaligned, np.zeros((2, 3))], None, False)
    assert _core.bm_mpf(model, [np.zeros((2, 4)), np.zeros((2, 3))], None, False) > 0
