/* pydbn._core - the CPython binding of the pydbn C core.
 *
 * The only file that includes Python.h and NumPy. It borrows arrays (never copies them),
 * checks their dtype, shape and flags once, releases the GIL around each core call, lets the
 * core poll for Ctrl-C, and turns status codes into exceptions. It holds no numerics.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#include <numpy/arrayobject.h>

#include <stdint.h>
#include <time.h>

#include "pdbn_adbn.h"
#include "pdbn_bench.h"
#include "pdbn_vpf.h"
#include "pdbn_dbm.h"
#include "pdbn_dcim.h"
#include "pdbn_dbn.h"
#include "pdbn_matrix.h"
#include "pdbn_mlp.h"
#include "pdbn_rbm.h"
#include "pdbn_rng.h"
#include "pdbn_status.h"

/* ------------------------------------------------------------------------------------------ */
/* Errors, the GIL and Ctrl-C                                                                  */

static PyObject *raise_status(int st, const pdbn_error *err)
{
    if (st == PDBN_OK) Py_RETURN_NONE;
    if (PyErr_Occurred()) return NULL; /* e.g. KeyboardInterrupt raised while polling */
    const char *msg = err->msg[0] ? err->msg : pdbn_strerror(st);
    switch (st) {
    case PDBN_ERR_VALUE: PyErr_SetString(PyExc_ValueError, msg); break;
    case PDBN_ERR_NOMEM: PyErr_SetString(PyExc_MemoryError, msg); break;
    case PDBN_ERR_INTERRUPTED: PyErr_SetNone(PyExc_KeyboardInterrupt); break;
    case PDBN_ERR_NUMERIC: PyErr_SetString(PyExc_FloatingPointError, msg); break;
    default: PyErr_SetString(PyExc_RuntimeError, msg); break;
    }
    return NULL;
}

typedef struct py_interrupt {
    PyThreadState *ts;
    int check;          /* poll signals (only meaningful on the main thread) */
    double last;        /* time of the last poll */
    PyObject *progress; /* a callable taking the fraction done, or NULL */
    double fraction;    /* the core's latest report (written without the GIL) */
    double shown;       /* the value last passed to progress */
} py_interrupt;

static double monotonic_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Called by the core with the GIL released: at most every 50 ms, take the GIL back briefly,
 * run Python's signal handlers and show progress; a pending KeyboardInterrupt (or an
 * exception raised by the progress callable) stops the core. */
static int py_interrupted(void *arg)
{
    py_interrupt *p = arg;
    if (!p->check && p->progress == NULL) return 0;
    double now = monotonic_seconds();
    if (now - p->last < 0.05) return 0;
    p->last = now;
    PyEval_RestoreThread(p->ts);
    int r = p->check ? PyErr_CheckSignals() : 0;
    if (r == 0 && p->progress != NULL && p->fraction != p->shown) {
        p->shown = p->fraction;
        PyObject *res = PyObject_CallFunction(p->progress, "d", p->fraction);
        if (res == NULL) r = -1;
        Py_XDECREF(res);
    }
    p->ts = PyEval_SaveThread();
    return r != 0;
}

static void py_progress(void *arg, double fraction) { ((py_interrupt *)arg)->fraction = fraction; }

/* Runs a core call with the GIL released; the core polls py_interrupted. CORE_CALL_PROGRESS
 * also passes a progress callable (or NULL). */
#define CORE_CALL_PROGRESS(pi, ctl, check_signals, progress_obj, st, call)                    \
    do {                                                                                      \
        py_interrupt pi = {NULL, (check_signals), monotonic_seconds(), (progress_obj), 0.0,    \
                           -1.0};                                                             \
        pdbn_control ctl = {py_interrupted, &pi, py_progress};                                 \
        pi.ts = PyEval_SaveThread();                                                           \
        st = (call);                                                                           \
        PyEval_RestoreThread(pi.ts);                                                           \
    } while (0)

#define CORE_CALL(pi, ctl, check_signals, st, call)                                           \
    CORE_CALL_PROGRESS(pi, ctl, check_signals, NULL, st, call)

/* ------------------------------------------------------------------------------------------ */
/* Argument converters                                                                          */

/* An unsigned int argument ("O&" with &unsigned): unlike the "I" format, which keeps the low
 * bits of any integer, a negative or too large value is an OverflowError. */
static int uint_conv(PyObject *obj, void *out)
{
    PyObject *index = PyNumber_Index(obj); /* ints and NumPy integers; TypeError otherwise */
    if (index == NULL) return 0;
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(index, &overflow);
    Py_DECREF(index);
    if (v == -1 && PyErr_Occurred()) return 0;
    if (overflow != 0 || v < 0 || (unsigned long long)v > UINT_MAX) {
        PyErr_SetString(PyExc_OverflowError, "an argument must be an integer in [0, 2^32)");
        return 0;
    }
    *(unsigned *)out = (unsigned)v;
    return 1;
}

static int array_typenum_ok(int t) { return t == NPY_FLOAT32 || t == NPY_FLOAT64; }

/* A float32/float64 C-contiguous, aligned array with the given number of dims. Inference only
 * reads parameters, so read-only arrays (a memory-mapped model) are fine there; training
 * checks writeability separately. */
static int check_param(PyArrayObject *a, int ndim, int typenum, const char *name)
{
    if (PyArray_NDIM(a) != ndim || PyArray_TYPE(a) != typenum || !PyArray_IS_C_CONTIGUOUS(a) ||
        !PyArray_ISALIGNED(a)) {
        PyErr_Format(PyExc_ValueError,
                     "%s must be an aligned, C-contiguous %d-D array of the model's dtype", name,
                     ndim);
        return 0;
    }
    return 1;
}

/* check_param for an object that should be an array: a ValueError (not a bare failure) when
 * it is not one. */
static int param_array(PyObject *obj, int ndim, int typenum, const char *name)
{
    if (!PyArray_Check(obj)) {
        PyErr_Format(PyExc_ValueError, "%s must be a NumPy array", name);
        return 0;
    }
    return check_param((PyArrayObject *)obj, ndim, typenum, name);
}

/* Model converters parse a tuple; anything else is a TypeError naming what was expected. */
static int model_tuple(PyObject *obj, const char *what)
{
    if (!PyTuple_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "%s must be a tuple", what);
        return 0;
    }
    return 1;
}

/* The parameter lists of a layered model: biases lb (one 1-D array per layer, whose lengths give
 * sizes) and weights lw (one fewer; lw[k] of shape (sizes[k+1], sizes[k])), all of one float
 * dtype. Fills *typenum, sizes, b, w and clears *writeable if any array is read-only; `what`
 * names the model in messages. The caller has checked the lists' lengths. */
static int layered_params(PyObject *lw, PyObject *lb, const char *what, int *typenum,
                          size_t *sizes, void **w, void **b, int *writeable)
{
    const Py_ssize_t n = PyList_GET_SIZE(lb);
    PyObject *first = PyList_GET_ITEM(lb, 0);
    if (!PyArray_Check(first) || !array_typenum_ok(PyArray_TYPE((PyArrayObject *)first))) {
        PyErr_Format(PyExc_ValueError, "%s arrays must be float32 or float64", what);
        return 0;
    }
    const int t = PyArray_TYPE((PyArrayObject *)first);
    *typenum = t;
    *writeable = 1;
    for (Py_ssize_t k = 0; k < n; k++) {
        PyObject *ob = PyList_GET_ITEM(lb, k);
        if (!param_array(ob, 1, t, "intercepts_")) return 0;
        sizes[k] = (size_t)PyArray_DIM((PyArrayObject *)ob, 0);
        b[k] = PyArray_DATA((PyArrayObject *)ob);
        *writeable = *writeable && PyArray_ISWRITEABLE((PyArrayObject *)ob);
    }
    for (Py_ssize_t k = 0; k + 1 < n; k++) {
        PyObject *ow = PyList_GET_ITEM(lw, k);
        if (!param_array(ow, 2, t, "components_")) return 0;
        PyArrayObject *a = (PyArrayObject *)ow;
        if ((size_t)PyArray_DIM(a, 0) != sizes[k + 1] || (size_t)PyArray_DIM(a, 1) != sizes[k]) {
            PyErr_Format(PyExc_ValueError, "%s weights %zd do not match the biases", what, k);
            return 0;
        }
        w[k] = PyArray_DATA(a);
        *writeable = *writeable && PyArray_ISWRITEABLE(a);
    }
    return 1;
}

typedef struct rbm_arg {
    int typenum;
    int writeable; /* all three parameter arrays can be written */
    pdbn_rbm_f f;
    pdbn_rbm_d d;
} rbm_arg;

/* (weights, visible_bias, hidden_bias, visible_kind[, n_softmax]) -> a model view */
static int rbm_conv(PyObject *obj, void *out)
{
    rbm_arg *m = out;
    PyArrayObject *w, *vb, *hb;
    int visible;
    Py_ssize_t n_softmax = 0;
    if (!model_tuple(obj, "the RBM model")) return 0;
    if (!PyArg_ParseTuple(obj, "O!O!O!i|n;model must be (W, b, c, visible[, n_softmax])",
                          &PyArray_Type, &w, &PyArray_Type, &vb, &PyArray_Type, &hb, &visible,
                          &n_softmax))
        return 0;
    int t = PyArray_TYPE(w);
    if (!array_typenum_ok(t)) {
        PyErr_SetString(PyExc_ValueError, "model arrays must be float32 or float64");
        return 0;
    }
    if (!check_param(w, 2, t, "components_") || !check_param(vb, 1, t, "intercept_visible_") ||
        !check_param(hb, 1, t, "intercept_hidden_"))
        return 0;
    npy_intp nh = PyArray_DIM(w, 0), nv = PyArray_DIM(w, 1);
    if (PyArray_DIM(vb, 0) != nv || PyArray_DIM(hb, 0) != nh) {
        PyErr_SetString(PyExc_ValueError, "bias shapes do not match components_");
        return 0;
    }
    if (n_softmax < 0 || n_softmax > nv) {
        PyErr_SetString(PyExc_ValueError, "n_softmax must be in [0, n_visible]");
        return 0;
    }
    m->f.n_softmax = m->d.n_softmax = (size_t)n_softmax;
    m->typenum = t;
    m->writeable = PyArray_ISWRITEABLE(w) && PyArray_ISWRITEABLE(vb) && PyArray_ISWRITEABLE(hb);
    m->f.n_visible = m->d.n_visible = (size_t)nv;
    m->f.n_hidden = m->d.n_hidden = (size_t)nh;
    m->f.visible = m->d.visible = visible;
    m->f.weights = PyArray_DATA(w);
    m->f.visible_bias = PyArray_DATA(vb);
    m->f.hidden_bias = PyArray_DATA(hb);
    m->d.weights = PyArray_DATA(w);
    m->d.visible_bias = PyArray_DATA(vb);
    m->d.hidden_bias = PyArray_DATA(hb);
    return 1;
}

typedef struct source_arg {
    int typenum;
    pdbn_source s;
} source_arg;

/* A 2-D float array with any strides, or ("csr", data, indices, indptr, n_rows, n_cols). */
static int source_conv(PyObject *obj, void *out)
{
    source_arg *a = out;
    memset(a, 0, sizeof *a);
    if (PyArray_Check(obj)) {
        PyArrayObject *x = (PyArrayObject *)obj;
        int t = PyArray_TYPE(x);
        if (PyArray_NDIM(x) != 2 || !array_typenum_ok(t) || !PyArray_ISALIGNED(x)) {
            PyErr_SetString(PyExc_ValueError, "X must be an aligned 2-D float32/float64 array");
            return 0;
        }
        npy_intp item = PyArray_ITEMSIZE(x);
        npy_intp rs = PyArray_STRIDE(x, 0), cs = PyArray_STRIDE(x, 1);
        if (rs % item != 0 || cs % item != 0) {
            PyErr_SetString(PyExc_ValueError, "X has strides that are not whole elements");
            return 0;
        }
        a->typenum = t;
        a->s.rows = (size_t)PyArray_DIM(x, 0);
        a->s.cols = (size_t)PyArray_DIM(x, 1);
        a->s.data = PyArray_DATA(x);
        a->s.row_stride = rs / item;
        a->s.col_stride = cs / item;
        return 1;
    }
    const char *tag;
    PyArrayObject *data, *ind, *ptr;
    Py_ssize_t rows, cols;
    if (!PyTuple_Check(obj)) {
        PyErr_SetString(PyExc_TypeError, "X must be an array or a CSR tuple");
        return 0;
    }
    if (!PyArg_ParseTuple(obj, "sO!O!O!nn;X must be an array or a CSR tuple", &tag,
                          &PyArray_Type, &data, &PyArray_Type, &ind, &PyArray_Type, &ptr, &rows,
                          &cols))
        return 0;
    if (strcmp(tag, "csr") != 0 || rows < 0 || cols < 0) {
        PyErr_SetString(PyExc_ValueError, "unknown sparse format");
        return 0;
    }
    int t = PyArray_TYPE(data), it = PyArray_TYPE(ind);
    if (!array_typenum_ok(t) || PyArray_NDIM(data) != 1 || !PyArray_IS_C_CONTIGUOUS(data) ||
        (it != NPY_INT32 && it != NPY_INT64) || PyArray_TYPE(ptr) != it ||
        PyArray_NDIM(ind) != 1 || PyArray_NDIM(ptr) != 1 || !PyArray_IS_C_CONTIGUOUS(ind) ||
        !PyArray_IS_C_CONTIGUOUS(ptr) || PyArray_DIM(ptr, 0) != rows + 1 ||
        PyArray_DIM(ind, 0) != PyArray_DIM(data, 0)) {
        PyErr_SetString(PyExc_ValueError, "inconsistent CSR arrays");
        return 0;
    }
    npy_intp nnz = PyArray_DIM(ind, 0);
    int64_t last = it == NPY_INT64 ? ((const int64_t *)PyArray_DATA(ptr))[rows]
                                   : ((const int32_t *)PyArray_DATA(ptr))[rows];
    if (last < 0 || last > nnz) {
        PyErr_SetString(PyExc_ValueError, "CSR indptr points past the end of indices");
        return 0;
    }
    a->typenum = t;
    a->s.rows = (size_t)rows;
    a->s.cols = (size_t)cols;
    a->s.sparse = 1;
    a->s.data = PyArray_DATA(data);
    a->s.indices = PyArray_DATA(ind);
    a->s.indptr = PyArray_DATA(ptr);
    a->s.index64 = it == NPY_INT64;
    return 1;
}

/* None, or a writeable C-contiguous array of the given dtype and size (shape-agnostic). */
static int opt_buffer(PyObject *obj, int typenum, npy_intp size, const char *name, void **out)
{
    *out = NULL;
    if (obj == Py_None) return 1;
    if (!PyArray_Check(obj) || PyArray_TYPE((PyArrayObject *)obj) != typenum ||
        !PyArray_IS_C_CONTIGUOUS((PyArrayObject *)obj) ||
        !PyArray_ISALIGNED((PyArrayObject *)obj) ||
        !PyArray_ISWRITEABLE((PyArrayObject *)obj) ||
        PyArray_SIZE((PyArrayObject *)obj) != size) {
        PyErr_Format(PyExc_ValueError, "%s must be a writeable, aligned C-contiguous array of %zd "
                     "elements of the model's dtype", name, (Py_ssize_t)size);
        return 0;
    }
    *out = PyArray_DATA((PyArrayObject *)obj);
    return 1;
}

static int same_dtype(const rbm_arg *m, const source_arg *x)
{
    if (m->typenum != x->typenum) {
        PyErr_SetString(PyExc_ValueError, "X must have the model's dtype");
        return 0;
    }
    return 1;
}

#define DISPATCH(m, fn, ...) ((m).typenum == NPY_FLOAT32 ? fn##_f(&(m).f, __VA_ARGS__) : fn##_d(&(m).d, __VA_ARGS__))

/* ------------------------------------------------------------------------------------------ */
/* RBM                                                                                          */

/* guard.in_core is True exactly while the core runs, so that a Python SIGINT handler can tell
 * an interrupt the core will act on (raise) from one that arrives after the core finished its
 * work (defer to the end of the epoch's bookkeeping). */
static int set_in_core(PyObject *guard, int value)
{
    if (guard == Py_None) return 0;
    return PyObject_SetAttrString(guard, "in_core", value ? Py_True : Py_False);
}

static PyObject *py_rbm_epoch(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *names[] = {"model", "X", "vel_w", "vel_vb", "vel_hb", "chains", "method", "k",
                            "batch_size", "learning_rate", "momentum", "weight_decay", "seed",
                            "epoch", "check_signals", "guard", "sample_input", "up_scale",
                            "down_scale", NULL};
    rbm_arg m;
    source_arg x;
    PyObject *ovw, *ovb, *ovh, *och, *guard = Py_None;
    int method, check, sample_input = 0;
    double up_scale = 1.0, down_scale = 1.0;
    unsigned k;
    Py_ssize_t bs;
    double lr, mom, wd;
    unsigned long seed, epoch;
    (void)self;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O&O&OOOOiO&ndddkkp|Opdd", names, rbm_conv, &m,
                                     source_conv, &x, &ovw, &ovb, &ovh, &och, &method,
                                     uint_conv, &k, &bs,
                                     &lr, &mom, &wd, &seed, &epoch, &check, &guard,
                                     &sample_input, &up_scale, &down_scale))
        return NULL;
    if (!m.writeable) {
        PyErr_SetString(PyExc_ValueError, "the model's arrays are read-only; training needs to "
                                          "write them (copy the model first)");
        return NULL;
    }
    if (!same_dtype(&m, &x)) return NULL;
    if (bs < 1) return PyErr_Format(PyExc_ValueError, "batch_size must be positive");
    npy_intp nv = (npy_intp)m.f.n_visible, nh = (npy_intp)m.f.n_hidden;
    void *vw, *vvb, *vhb, *ch;
    if (!opt_buffer(ovw, m.typenum, nh * nv, "vel_w", &vw) ||
        !opt_buffer(ovb, m.typenum, nv, "vel_vb", &vvb) ||
        !opt_buffer(ovh, m.typenum, nh, "vel_hb", &vhb) ||
        !opt_buffer(och, m.typenum, (npy_intp)bs * nh, "chains", &ch))
        return NULL;
    pdbn_rbm_train cfg = {method,        k,   (size_t)bs,      lr,          mom,
                          wd,            (uint32_t)seed, (uint32_t)epoch, sample_input,
                          up_scale,      down_scale};
    pdbn_error err = {0, ""};
    int st;
    if (set_in_core(guard, 1) < 0) return NULL;
    CORE_CALL(pi, ctl, check, st,
              DISPATCH(m, pdbn_rbm_epoch, &cfg, &x.s, vw, vvb, vhb, ch, &ctl, &err));
    PyObject *et, *ev, *tb;
    PyErr_Fetch(&et, &ev, &tb); /* keep a pending KeyboardInterrupt across the attribute set */
    int guard_st = set_in_core(guard, 0);
    if (et != NULL) PyErr_Restore(et, ev, tb); /* replaces any error from set_in_core */
    if (guard_st < 0) {
        if (st == PDBN_OK) return NULL;
        if (et == NULL) PyErr_Clear(); /* report the core's error, not the setattr failure */
    }
    return raise_status(st, &err);
}

/* out must be a C-contiguous writeable array of typenum with rows x cols elements */
static int check_out(PyArrayObject *out, int typenum, size_t rows, size_t cols)
{
    if (PyArray_TYPE(out) != typenum || !PyArray_IS_C_CONTIGUOUS(out) ||
        !PyArray_ISWRITEABLE(out) || PyArray_SIZE(out) != (npy_intp)(rows * cols)) {
        PyErr_SetString(PyExc_ValueError, "output array has the wrong dtype, size or layout");
        return 0;
    }
    return 1;
}

/* transform / reconstruct: (model, X, out, check_signals) */
static PyObject *rbm_rows_to_rows(PyObject *args, int reconstruct)
{
    rbm_arg m;
    source_arg x;
    PyArrayObject *out;
    int check;
    if (!PyArg_ParseTuple(args, "O&O&O!p", rbm_conv, &m, source_conv, &x, &PyArray_Type, &out,
                          &check))
        return NULL;
    size_t cols = reconstruct ? m.f.n_visible : m.f.n_hidden;
    if (!same_dtype(&m, &x) || !check_out(out, m.typenum, x.s.rows, cols)) return NULL;
    void *o = PyArray_DATA(out);
    pdbn_error err = {0, ""};
    int st;
    if (reconstruct)
        CORE_CALL(pi, ctl, check, st, DISPATCH(m, pdbn_rbm_reconstruct, &x.s, o, &ctl, &err));
    else
        CORE_CALL(pi, ctl, check, st, DISPATCH(m, pdbn_rbm_hidden_probs, &x.s, o, &ctl, &err));
    return raise_status(st, &err);
}

static PyObject *py_rbm_hidden_probs(PyObject *self, PyObject *args)
{
    (void)self;
    return rbm_rows_to_rows(args, 0);
}

static PyObject *py_rbm_reconstruct(PyObject *self, PyObject *args)
{
    (void)self;
    return rbm_rows_to_rows(args, 1);
}

static PyObject *py_rbm_free_energy(PyObject *self, PyObject *args)
{
    rbm_arg m;
    source_arg x;
    PyArrayObject *out;
    int check;
    (void)self;
    if (!PyArg_ParseTuple(args, "O&O&O!p", rbm_conv, &m, source_conv, &x, &PyArray_Type, &out,
                          &check))
        return NULL;
    if (!same_dtype(&m, &x) || !check_out(out, NPY_FLOAT64, x.s.rows, 1)) return NULL;
    double *o = PyArray_DATA(out);
    pdbn_error err = {0, ""};
    int st;
    CORE_CALL(pi, ctl, check, st, DISPATCH(m, pdbn_rbm_free_energy, &x.s, o, &ctl, &err));
    return raise_status(st, &err);
}

static PyObject *py_rbm_pseudo_loglik(PyObject *self, PyObject *args)
{
    rbm_arg m;
    source_arg x;
    PyArrayObject *flip, *out;
    int check;
    (void)self;
    if (!PyArg_ParseTuple(args, "O&O&O!O!p", rbm_conv, &m, source_conv, &x, &PyArray_Type,
                          &flip, &PyArray_Type, &out, &check))
        return NULL;
    if (!same_dtype(&m, &x) || !check_out(out, NPY_FLOAT64, x.s.rows, 1)) return NULL;
    if (PyArray_TYPE(flip) != NPY_INT64 || !PyArray_IS_C_CONTIGUOUS(flip) ||
        PyArray_SIZE(flip) != (npy_intp)x.s.rows) {
        PyErr_SetString(PyExc_ValueError, "flip must be a contiguous int64 array, one per row");
        return NULL;
    }
    const int64_t *f = PyArray_DATA(flip);
    double *o = PyArray_DATA(out);
    pdbn_error err = {0, ""};
    int st;
    CORE_CALL(pi, ctl, check, st, DISPATCH(m, pdbn_rbm_pseudo_loglik, &x.s, f, o, &ctl, &err));
    return raise_status(st, &err);
}

static PyObject *py_rbm_gibbs(PyObject *self, PyObject *args)
{
    rbm_arg m;
    source_arg x;
    PyArrayObject *out;
    unsigned long seed, epoch;
    int check;
    (void)self;
    if (!PyArg_ParseTuple(args, "O&O&kkO!p", rbm_conv, &m, source_conv, &x, &seed, &epoch,
                          &PyArray_Type, &out, &check))
        return NULL;
    if (!same_dtype(&m, &x) || !check_out(out, m.typenum, x.s.rows, m.f.n_visible)) return NULL;
    void *o = PyArray_DATA(out);
    pdbn_error err = {0, ""};
    int st;
    CORE_CALL(pi, ctl, check, st,
              DISPATCH(m, pdbn_rbm_gibbs, &x.s, (uint32_t)seed, (uint32_t)epoch, o, &ctl, &err));
    return raise_status(st, &err);
}

/* A contiguous int64 array of n entries, or None (-> NULL). */
static int opt_index(PyObject *obj, size_t n, const char *name, const int64_t **out)
{
    *out = NULL;
    if (obj == Py_None) return 1;
    if (!PyArray_Check(obj) || PyArray_TYPE((PyArrayObject *)obj) != NPY_INT64 ||
        !PyArray_IS_C_CONTIGUOUS((PyArrayObject *)obj) ||
        PyArray_SIZE((PyArrayObject *)obj) != (npy_intp)n) {
        PyErr_Format(PyExc_ValueError, "%s must be a contiguous int64 array of %zd entries",
                     name, (Py_ssize_t)n);
        return 0;
    }
    *out = PyArray_DATA((PyArrayObject *)obj);
    return 1;
}

static PyObject *py_rbm_sample(PyObject *self, PyObject *args)
{
    rbm_arg m;
    Py_ssize_t n_steps;
    unsigned long seed, epoch;
    int means, check;
    PyArrayObject *out;
    PyObject *oclamp = Py_None;
    (void)self;
    if (!PyArg_ParseTuple(args, "O&nkkpO!p|O", rbm_conv, &m, &n_steps, &seed, &epoch, &means,
                          &PyArray_Type, &out, &check, &oclamp))
        return NULL;
    if (n_steps < 1) return PyErr_Format(PyExc_ValueError, "n_steps must be at least 1");
    if (PyArray_NDIM(out) != 2) {
        PyErr_SetString(PyExc_ValueError, "out must be a 2-D array");
        return NULL;
    }
    if (!check_out(out, m.typenum, (size_t)PyArray_DIM(out, 0), m.f.n_visible)) return NULL;
    size_t n = (size_t)PyArray_DIM(out, 0);
    const int64_t *clamp;
    if (!opt_index(oclamp, n, "labels", &clamp)) return NULL;
    void *o = PyArray_DATA(out);
    pdbn_error err = {0, ""};
    int st;
    CORE_CALL(pi, ctl, check, st,
              DISPATCH(m, pdbn_rbm_sample, n, (size_t)n_steps, (uint32_t)seed, (uint32_t)epoch,
                       means, clamp, o, &ctl, &err));
    return raise_status(st, &err);
}

static PyObject *py_rbm_log_partition_exact(PyObject *self, PyObject *args)
{
    rbm_arg m;
    unsigned max_units;
    int check;
    (void)self;
    if (!PyArg_ParseTuple(args, "O&O&p", rbm_conv, &m, uint_conv, &max_units, &check))
        return NULL;
    double log_z = 0.0;
    pdbn_error err = {0, ""};
    int st;
    CORE_CALL(pi, ctl, check, st,
              DISPATCH(m, pdbn_rbm_log_partition_exact, max_units, &log_z, &ctl, &err));
    if (st != PDBN_OK) return raise_status(st, &err);
    return PyFloat_FromDouble(log_z);
}

/* An optional progress argument: None or a callable taking the fraction done. */
static int progress_arg(PyObject *progress)
{
    if (progress != Py_None && !PyCallable_Check(progress)) {
        PyErr_SetString(PyExc_TypeError, "progress must be None or a callable");
        return 0;
    }
    return 1;
}

/* AIS arguments: the base model's visible biases (n_visible, the model's dtype) and the
 * log-weight output (1-D float64, one per chain). */
static int ais_arrays(PyArrayObject *base, PyArrayObject *logw, Py_ssize_t n_betas, int typenum,
                      size_t n_visible)
{
    if (!check_out(base, typenum, n_visible, 1)) return 0;
    if (PyArray_NDIM(logw) != 1) {
        PyErr_SetString(PyExc_ValueError, "logw must be a 1-D array");
        return 0;
    }
    if (!check_out(logw, NPY_FLOAT64, (size_t)PyArray_DIM(logw, 0), 1)) return 0;
    if (n_betas < 2) {
        PyErr_SetString(PyExc_ValueError, "n_betas must be at least 2");
        return 0;
    }
    return 1;
}

static PyObject *py_rbm_log_partition_ais(PyObject *self, PyObject *args)
{
    rbm_arg m;
    PyArrayObject *base, *logw;
    Py_ssize_t n_betas;
    unsigned long seed, epoch;
    int check;
    PyObject *progress = Py_None;
    (void)self;
    if (!PyArg_ParseTuple(args, "O&O!nkkO!p|O", rbm_conv, &m, &PyArray_Type, &base, &n_betas,
                          &seed, &epoch, &PyArray_Type, &logw, &check, &progress))
        return NULL;
    if (!progress_arg(progress)) return NULL;
    if (!ais_arrays(base, logw, n_betas, m.typenum, m.f.n_visible)) return NULL;
    size_t n_chains = (size_t)PyArray_DIM(logw, 0);
    const void *bb = PyArray_DATA(base);
    double *lw = PyArray_DATA(logw), log_z = 0.0, se = 0.0;
    pdbn_error err = {0, ""};
    int st;
    CORE_CALL_PROGRESS(pi, ctl, check, progress == Py_None ? NULL : progress, st,
              DISPATCH(m, pdbn_rbm_log_partition_ais, bb, n_chains, (size_t)n_betas,
                       (uint32_t)seed, (uint32_t)epoch, &log_z, &se, lw, &ctl, &err));
    if (st != PDBN_OK) return raise_status(st, &err);
    return Py_BuildValue("dd", log_z, se);
}

static PyObject *py_rbm_label_free_energy(PyObject *self, PyObject *args)
{
    rbm_arg m;
    source_arg x;
    PyArrayObject *out;
    PyObject *ohid;
    int check;
    (void)self;
    if (!PyArg_ParseTuple(args, "O&O&O!Op", rbm_conv, &m, source_conv, &x, &PyArray_Type, &out,
                          &ohid, &check))
        return NULL;
    if (!same_dtype(&m, &x) || !check_out(out, NPY_FLOAT64, x.s.rows, m.f.n_softmax)) return NULL;
    void *hid;
    if (!opt_buffer(ohid, m.typenum, (npy_intp)(x.s.rows * m.f.n_hidden), "hidden", &hid))
        return NULL;
    double *o = PyArray_DATA(out);
    pdbn_error err = {0, ""};
    int st;
    CORE_CALL(pi, ctl, check, st, DISPATCH(m, pdbn_rbm_label_free_energy, &x.s, o, hid, &ctl, &err));
    return raise_status(st, &err);
}

/* ------------------------------------------------------------------------------------------ */
/* DBN                                                                                          */

typedef struct dbn_arg {
    int typenum;
    int writeable;
    size_t sizes[PDBN_DBN_MAX_LAYERS + 1];
    void *gw[PDBN_DBN_MAX_LAYERS], *gb[PDBN_DBN_MAX_LAYERS];
    void *rw[PDBN_DBN_MAX_LAYERS], *rb[PDBN_DBN_MAX_LAYERS];
    rbm_arg top;
    pdbn_dbn_f f;
    pdbn_dbn_d d;
} dbn_arg;

/* (visible, [gen_w], [gen_b], [rec_w], [rec_b], top_rbm_tuple) -> a DBN view */
static int dbn_conv(PyObject *obj, void *out)
{
    dbn_arg *m = out;
    int visible;
    PyObject *lists[4], *otop;
    if (!model_tuple(obj, "the DBN model")) return 0;
    if (!PyArg_ParseTuple(obj, "iO!O!O!O!O;DBN must be (visible, gen_w, gen_b, rec_w, rec_b, top)",
                          &visible, &PyList_Type, &lists[0], &PyList_Type, &lists[1], &PyList_Type,
                          &lists[2], &PyList_Type, &lists[3], &otop))
        return 0;
    if (!rbm_conv(otop, &m->top)) return 0;
    const int t = m->top.typenum;
    Py_ssize_t L = PyList_GET_SIZE(lists[0]);
    for (int i = 1; i < 4; i++)
        if (PyList_GET_SIZE(lists[i]) != L) {
            PyErr_SetString(PyExc_ValueError, "the DBN's layer lists differ in length");
            return 0;
        }
    if (L > PDBN_DBN_MAX_LAYERS) {
        PyErr_SetString(PyExc_ValueError, "too many layers");
        return 0;
    }
    m->typenum = t;
    m->writeable = m->top.writeable;
    void **ptrs[4] = {m->gw, m->gb, m->rw, m->rb};
    static const char *names[4] = {"generative weights", "generative biases",
                                   "recognition weights", "recognition biases"};
    for (Py_ssize_t k = 0; k < L; k++) {
        for (int i = 0; i < 4; i++) {
            PyObject *o = PyList_GET_ITEM(lists[i], k);
            if (!PyArray_Check(o) || !check_param((PyArrayObject *)o, i % 2 == 0 ? 2 : 1, t, names[i]))
                return 0;
            ptrs[i][k] = PyArray_DATA((PyArrayObject *)o);
            m->writeable = m->writeable && PyArray_ISWRITEABLE((PyArrayObject *)o);
        }
        PyArrayObject *gw = (PyArrayObject *)PyList_GET_ITEM(lists[0], k);
        PyArrayObject *rw = (PyArrayObject *)PyList_GET_ITEM(lists[2], k);
        npy_intp n1 = PyArray_DIM(gw, 0), n0 = PyArray_DIM(gw, 1);
        if (PyArray_DIM(rw, 0) != n1 || PyArray_DIM(rw, 1) != n0 ||
            PyArray_DIM((PyArrayObject *)PyList_GET_ITEM(lists[1], k), 0) != n0 ||
            PyArray_DIM((PyArrayObject *)PyList_GET_ITEM(lists[3], k), 0) != n1 ||
            (k > 0 && (size_t)n0 != m->sizes[k])) {
            PyErr_Format(PyExc_ValueError, "DBN layer %zd has inconsistent shapes", k);
            return 0;
        }
        m->sizes[k] = (size_t)n0;
        m->sizes[k + 1] = (size_t)n1;
    }
    const size_t ntop = m->top.f.n_visible - m->top.f.n_softmax;
    if (L > 0 && m->sizes[L] != ntop) {
        PyErr_SetString(PyExc_ValueError, "the top RBM does not match the layer below it");
        return 0;
    }
    m->sizes[L] = ntop;
    m->f.n_directed = m->d.n_directed = (size_t)L;
    m->f.sizes = m->d.sizes = m->sizes;
    m->f.visible = m->d.visible = visible;
    m->f.gen_w = (float *const *)m->gw;
    m->f.gen_b = (float *const *)m->gb;
    m->f.rec_w = (float *const *)m->rw;
    m->f.rec_b = (float *const *)m->rb;
    m->d.gen_w = (double *const *)m->gw;
    m->d.gen_b = (double *const *)m->gb;
    m->d.rec_w = (double *const *)m->rw;
    m->d.rec_b = (double *const *)m->rb;
    m->f.top = m->top.f;
    m->d.top = m->top.d;
    return 1;
}

static int dbn_same_dtype(const dbn_arg *m, const source_arg *x)
{
    if (m->typenum != x->typenum) {
        PyErr_SetString(PyExc_ValueError, "X must have the model's dtype");
        return 0;
    }
    return 1;
}

static PyObject *py_dbn_sample(PyObject *self, PyObject *args)
{
    dbn_arg m;
    Py_ssize_t n_gibbs;
    unsigned long seed, epoch;
    int means, check;
    PyArrayObject *out;
    PyObject *oclamp = Py_None;
    (void)self;
    if (!PyArg_ParseTuple(args, "O&nkkpO!p|O", dbn_conv, &m, &n_gibbs, &seed, &epoch, &means,
                          &PyArray_Type, &out, &check, &oclamp))
        return NULL;
    if (n_gibbs < 1) return PyErr_Format(PyExc_ValueError, "n_gibbs must be at least 1");
    if (PyArray_NDIM(out) != 2)
        return PyErr_Format(PyExc_ValueError, "out must be a 2-D array");
    if (!check_out(out, m.typenum, (size_t)PyArray_DIM(out, 0), m.sizes[0])) return NULL;
    size_t n = (size_t)PyArray_DIM(out, 0);
    const int64_t *clamp;
    if (!opt_index(oclamp, n, "labels", &clamp)) return NULL;
    void *o = PyArray_DATA(out);
    pdbn_error err = {0, ""};
    int st;
    CORE_CALL(pi, ctl, check, st,
              DISPATCH(m, pdbn_dbn_sample, n, (size_t)n_gibbs, (uint32_t)seed, (uint32_t)epoch,
                       means, clamp, o, &ctl, &err));
    return raise_status(st, &err);
}

static PyObject *py_dbn_updown_epoch(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *names[] = {"model", "X", "labels", "k", "batch_size", "learning_rate",
                            "weight_decay", "seed", "epoch", "check_signals", "guard", NULL};
    dbn_arg m;
    source_arg x;
    PyObject *olab, *guard = Py_None;
    unsigned k;
    Py_ssize_t bs;
    double lr, wd;
    unsigned long seed, epoch;
    int check;
    (void)self;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O&O&OO&nddkkp|O", names, dbn_conv, &m,
                                     source_conv, &x, &olab, uint_conv, &k, &bs, &lr, &wd,
                                     &seed, &epoch,
                                     &check, &guard))
        return NULL;
    if (!m.writeable) {
        PyErr_SetString(PyExc_ValueError, "the model's arrays are read-only; training needs to "
                                          "write them (copy the model first)");
        return NULL;
    }
    if (!dbn_same_dtype(&m, &x)) return NULL;
    if (bs < 1) return PyErr_Format(PyExc_ValueError, "batch_size must be positive");
    const int64_t *labels;
    if (!opt_index(olab, x.s.rows, "labels", &labels)) return NULL;
    pdbn_dbn_train cfg = {k, (size_t)bs, lr, wd, (uint32_t)seed, (uint32_t)epoch};
    pdbn_error err = {0, ""};
    int st;
    if (set_in_core(guard, 1) < 0) return NULL;
    CORE_CALL(pi, ctl, check, st,
              DISPATCH(m, pdbn_dbn_updown_epoch, &cfg, &x.s, labels, &ctl, &err));
    PyObject *et, *ev, *tb;
    PyErr_Fetch(&et, &ev, &tb);
    int guard_st = set_in_core(guard, 0);
    if (et != NULL) PyErr_Restore(et, ev, tb);
    if (guard_st < 0) {
        if (st == PDBN_OK) return NULL;
        if (et == NULL) PyErr_Clear();
    }
    return raise_status(st, &err);
}

static PyObject *py_dbn_bound(PyObject *self, PyObject *args)
{
    dbn_arg m;
    source_arg x;
    Py_ssize_t n_samples;
    double log_z;
    unsigned long seed, epoch;
    PyArrayObject *out, *se;
    int check;
    (void)self;
    if (!PyArg_ParseTuple(args, "O&O&ndkkO!O!p", dbn_conv, &m, source_conv, &x, &n_samples,
                          &log_z, &seed, &epoch, &PyArray_Type, &out, &PyArray_Type, &se, &check))
        return NULL;
    if (!dbn_same_dtype(&m, &x) || !check_out(out, NPY_FLOAT64, x.s.rows, 1) ||
        !check_out(se, NPY_FLOAT64, x.s.rows, 1))
        return NULL;
    if (n_samples < 1) return PyErr_Format(PyExc_ValueError, "n_samples must be at least 1");
    pdbn_error err = {0, ""};
    int st;
    CORE_CALL(pi, ctl, check, st,
              DISPATCH(m, pdbn_dbn_bound, &x.s, (size_t)n_samples, log_z, (uint32_t)seed,
                       (uint32_t)epoch, PyArray_DATA(out), PyArray_DATA(se), &ctl, &err));
    return raise_status(st, &err);
}

static PyObject *py_dbn_exact(PyObject *self, PyObject *args)
{
    dbn_arg m;
    source_arg x;
    double log_z;
    unsigned max_bits;
    PyArrayObject *lp, *bd;
    int check;
    (void)self;
    if (!PyArg_ParseTuple(args, "O&O&dO&O!O!p", dbn_conv, &m, source_conv, &x, &log_z,
                          uint_conv, &max_bits, &PyArray_Type, &lp, &PyArray_Type, &bd, &check))
        return NULL;
    if (!dbn_same_dtype(&m, &x) || !check_out(lp, NPY_FLOAT64, x.s.rows, 1) ||
        !check_out(bd, NPY_FLOAT64, x.s.rows, 1))
        return NULL;
    pdbn_error err = {0, ""};
    int st;
    CORE_CALL(pi, ctl, check, st,
              DISPATCH(m, pdbn_dbn_exact, &x.s, log_z, max_bits, PyArray_DATA(lp),
                       PyArray_DATA(bd), &ctl, &err));
    return raise_status(st, &err);
}

/* ------------------------------------------------------------------------------------------ */
/* DBM                                                                                          */

typedef struct dbm_arg {
    int typenum;
    int writeable;
    size_t sizes[PDBN_DBM_MAX_LAYERS + 1];
    void *w[PDBN_DBM_MAX_LAYERS], *b[PDBN_DBM_MAX_LAYERS + 1];
    pdbn_dbm_f f;
    pdbn_dbm_d d;
} dbm_arg;

/* ([weights], [biases]) -> a DBM view: weights[k] of shape (sizes[k+1], sizes[k]). */
static int dbm_conv(PyObject *obj, void *out)
{
    dbm_arg *m = out;
    PyObject *lw, *lb;
    if (!model_tuple(obj, "the DBM model")) return 0;
    if (!PyArg_ParseTuple(obj, "O!O!;DBM must be (weights, biases)", &PyList_Type, &lw,
                          &PyList_Type, &lb))
        return 0;
    Py_ssize_t L = PyList_GET_SIZE(lw);
    if (L < 1 || L > PDBN_DBM_MAX_LAYERS || PyList_GET_SIZE(lb) != L + 1) {
        PyErr_SetString(PyExc_ValueError, "a DBM needs L weight matrices and L + 1 biases");
        return 0;
    }
    if (!layered_params(lw, lb, "DBM", &m->typenum, m->sizes, m->w, m->b, &m->writeable))
        return 0;
    m->f.n_hidden_layers = m->d.n_hidden_layers = (size_t)L;
    m->f.sizes = m->d.sizes = m->sizes;
    m->f.weights = (float *const *)m->w;
    m->f.biases = (float *const *)m->b;
    m->d.weights = (double *const *)m->w;
    m->d.biases = (double *const *)m->b;
    return 1;
}

/* A list of L_arrays writeable C-contiguous arrays of the model's dtype, rows x sizes[k + off]
 * each, into ptrs. */
static int dbm_layer_list(PyObject *obj, const dbm_arg *m, size_t count, size_t off, size_t rows,
                          const char *name, void **ptrs)
{
    if (!PyList_Check(obj) || (size_t)PyList_GET_SIZE(obj) != count) {
        PyErr_Format(PyExc_ValueError, "%s must be a list of %zu arrays", name, count);
        return 0;
    }
    for (size_t k = 0; k < count; k++) {
        char label[64];
        snprintf(label, sizeof label, "%s[%zu]", name, k);
        if (!opt_buffer(PyList_GET_ITEM(obj, k), m->typenum,
                        (npy_intp)(rows * m->sizes[k + off]), label, &ptrs[k]))
            return 0;
        if (ptrs[k] == NULL) {
            PyErr_Format(PyExc_ValueError, "%s is missing", label);
            return 0;
        }
    }
    return 1;
}

static PyObject *py_dbm_mean_field(PyObject *self, PyObject *args)
{
    dbm_arg m;
    source_arg x;
    Py_ssize_t n_iter;
    double tol;
    PyObject *omu;
    int check;
    (void)self;
    if (!PyArg_ParseTuple(args, "O&O&ndOp", dbm_conv, &m, source_conv, &x, &n_iter, &tol, &omu,
                          &check))
        return NULL;
    if (m.typenum != x.typenum) return PyErr_Format(PyExc_ValueError, "X must have the model's dtype");
    if (n_iter < 1) return PyErr_Format(PyExc_ValueError, "n_mean_field must be at least 1");
    void *mu[PDBN_DBM_MAX_LAYERS];
    if (!dbm_layer_list(omu, &m, m.f.n_hidden_layers, 1, x.s.rows, "mu", mu)) return NULL;
    size_t sweeps = 0;
    pdbn_error err = {0, ""};
    int st;
    if (m.typenum == NPY_FLOAT32)
        CORE_CALL(pi, ctl, check, st,
                  pdbn_dbm_mean_field_f(&m.f, &x.s, (size_t)n_iter, tol, (float *const *)mu,
                                        &sweeps, &ctl, &err));
    else
        CORE_CALL(pi, ctl, check, st,
                  pdbn_dbm_mean_field_d(&m.d, &x.s, (size_t)n_iter, tol, (double *const *)mu,
                                        &sweeps, &ctl, &err));
    if (st != PDBN_OK) return raise_status(st, &err);
    return PyLong_FromSize_t(sweeps);
}

static PyObject *py_dbm_epoch(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *names[] = {"model", "X", "chains", "vel_w", "vel_b", "k", "batch_size",
                            "n_mean_field", "mean_field_tol", "learning_rate", "momentum",
                            "weight_decay", "seed", "epoch", "check_signals", "guard", NULL};
    dbm_arg m;
    source_arg x;
    PyObject *och, *ovw, *ovb, *guard = Py_None;
    unsigned k;
    Py_ssize_t bs, nmf;
    double tol, lr, mom, wd;
    unsigned long seed, epoch;
    int check;
    (void)self;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O&O&OOOO&nnddddkkp|O", names, dbm_conv, &m,
                                     source_conv, &x, &och, &ovw, &ovb, uint_conv, &k, &bs,
                                     &nmf, &tol, &lr,
                                     &mom, &wd, &seed, &epoch, &check, &guard))
        return NULL;
    if (!m.writeable) {
        PyErr_SetString(PyExc_ValueError, "the model's arrays are read-only; training needs to "
                                          "write them (copy the model first)");
        return NULL;
    }
    if (m.typenum != x.typenum) return PyErr_Format(PyExc_ValueError, "X must have the model's dtype");
    if (bs < 1 || nmf < 1)
        return PyErr_Format(PyExc_ValueError, "batch_size and n_mean_field must be positive");
    const size_t L = m.f.n_hidden_layers;
    if (!PyList_Check(och) || PyList_GET_SIZE(och) != (Py_ssize_t)(L + 1) ||
        !PyArray_Check(PyList_GET_ITEM(och, 0)))
        return PyErr_Format(PyExc_ValueError, "chains must be a list of %zu arrays", L + 1);
    size_t n_chains = (size_t)PyArray_DIM((PyArrayObject *)PyList_GET_ITEM(och, 0), 0);
    void *ch[PDBN_DBM_MAX_LAYERS + 1], *vw[PDBN_DBM_MAX_LAYERS], *vb[PDBN_DBM_MAX_LAYERS + 1];
    if (!dbm_layer_list(och, &m, L + 1, 0, n_chains, "chains", ch)) return NULL;
    int mom_on = mom > 0.0;
    if (mom_on) {
        if (!PyList_Check(ovw) || PyList_GET_SIZE(ovw) != (Py_ssize_t)L)
            return PyErr_Format(PyExc_ValueError, "vel_w must be a list of %zu arrays", L);
        for (size_t i = 0; i < L; i++)
            if (!opt_buffer(PyList_GET_ITEM(ovw, i), m.typenum,
                            (npy_intp)(m.sizes[i] * m.sizes[i + 1]), "vel_w", &vw[i]) || vw[i] == NULL)
                return PyErr_Occurred() ? NULL : PyErr_Format(PyExc_ValueError, "vel_w missing");
        if (!dbm_layer_list(ovb, &m, L + 1, 0, 1, "vel_b", vb)) return NULL;
    }
    pdbn_dbm_train cfg = {k, (size_t)bs, (size_t)nmf, tol, lr, mom, wd, (uint32_t)seed,
                          (uint32_t)epoch};
    pdbn_dbm_stats stats = {0, 0, 0, 0};
    pdbn_error err = {0, ""};
    int st;
    if (set_in_core(guard, 1) < 0) return NULL;
    if (m.typenum == NPY_FLOAT32)
        CORE_CALL(pi, ctl, check, st,
                  pdbn_dbm_epoch_f(&m.f, &cfg, &x.s, (float *const *)ch, n_chains,
                                   mom_on ? (float *const *)vw : NULL,
                                   mom_on ? (float *const *)vb : NULL, &stats, &ctl, &err));
    else
        CORE_CALL(pi, ctl, check, st,
                  pdbn_dbm_epoch_d(&m.d, &cfg, &x.s, (double *const *)ch, n_chains,
                                   mom_on ? (double *const *)vw : NULL,
                                   mom_on ? (double *const *)vb : NULL, &stats, &ctl, &err));
    PyObject *et, *ev, *tb;
    PyErr_Fetch(&et, &ev, &tb);
    int guard_st = set_in_core(guard, 0);
    if (et != NULL) PyErr_Restore(et, ev, tb);
    if (guard_st < 0) {
        if (st == PDBN_OK) return NULL;
        if (et == NULL) PyErr_Clear();
    }
    if (st != PDBN_OK) return raise_status(st, &err);
    return Py_BuildValue("dddd", stats.mean_field_sweeps, stats.mean_field_seconds,
                         stats.gibbs_seconds, stats.update_seconds);
}

static PyObject *py_dbm_bound(PyObject *self, PyObject *args)
{
    dbm_arg m;
    source_arg x;
    Py_ssize_t n_iter;
    double tol, log_z;
    PyArrayObject *out;
    int check;
    (void)self;
    if (!PyArg_ParseTuple(args, "O&O&nddO!p", dbm_conv, &m, source_conv, &x, &n_iter, &tol,
                          &log_z, &PyArray_Type, &out, &check))
        return NULL;
    if (m.typenum != x.typenum) return PyErr_Format(PyExc_ValueError, "X must have the model's dtype");
    if (!check_out(out, NPY_FLOAT64, x.s.rows, 1)) return NULL;
    if (n_iter < 1) return PyErr_Format(PyExc_ValueError, "n_mean_field must be at least 1");
    pdbn_error err = {0, ""};
    int st;
    CORE_CALL(pi, ctl, check, st,
              DISPATCH(m, pdbn_dbm_bound, &x.s, (size_t)n_iter, tol, log_z, PyArray_DATA(out),
                       &ctl, &err));
    return raise_status(st, &err);
}

static PyObject *py_dbm_sample(PyObject *self, PyObject *args)
{
    dbm_arg m;
    Py_ssize_t n_gibbs;
    unsigned long seed, epoch;
    int means, check;
    PyArrayObject *out;
    (void)self;
    if (!PyArg_ParseTuple(args, "O&nkkpO!p", dbm_conv, &m, &n_gibbs, &seed, &epoch, &means,
                          &PyArray_Type, &out, &check))
        return NULL;
    if (n_gibbs < 1) return PyErr_Format(PyExc_ValueError, "n_gibbs must be at least 1");
    if (PyArray_NDIM(out) != 2) return PyErr_Format(PyExc_ValueError, "out must be a 2-D array");
    if (!check_out(out, m.typenum, (size_t)PyArray_DIM(out, 0), m.sizes[0])) return NULL;
    pdbn_error err = {0, ""};
    int st;
    CORE_CALL(pi, ctl, check, st,
              DISPATCH(m, pdbn_dbm_sample, (size_t)PyArray_DIM(out, 0), (size_t)n_gibbs,
                       (uint32_t)seed, (uint32_t)epoch, means, PyArray_DATA(out), &ctl, &err));
    return raise_status(st, &err);
}

static PyObject *py_dbm_log_partition_exact(PyObject *self, PyObject *args)
{
    dbm_arg m;
    unsigned max_bits;
    int check;
    (void)self;
    if (!PyArg_ParseTuple(args, "O&O&p", dbm_conv, &m, uint_conv, &max_bits, &check))
        return NULL;
    double log_z = 0.0;
    pdbn_error err = {0, ""};
    int st;
    CORE_CALL(pi, ctl, check, st,
              DISPATCH(m, pdbn_dbm_log_partition_exact, max_bits, &log_z, &ctl, &err));
    if (st != PDBN_OK) return raise_status(st, &err);
    return PyFloat_FromDouble(log_z);
}

static PyObject *py_dbm_log_prob_exact(PyObject *self, PyObject *args)
{
    dbm_arg m;
    source_arg x;
    double log_z;
    unsigned max_bits;
    PyArrayObject *out;
    int check;
    (void)self;
    if (!PyArg_ParseTuple(args, "O&O&dO&O!p", dbm_conv, &m, source_conv, &x, &log_z,
                          uint_conv, &max_bits, &PyArray_Type, &out, &check))
        return NULL;
    if (m.typenum != x.typenum) return PyErr_Format(PyExc_ValueError, "X must have the model's dtype");
    if (!check_out(out, NPY_FLOAT64, x.s.rows, 1)) return NULL;
    pdbn_error err = {0, ""};
    int st;
    CORE_CALL(pi, ctl, check, st,
              DISPATCH(m, pdbn_dbm_log_prob_exact, &x.s, log_z, max_bits, PyArray_DATA(out),
                       &ctl, &err));
    return raise_status(st, &err);
}

static PyObject *py_dbm_log_partition_ais(PyObject *self, PyObject *args)
{
    dbm_arg m;
    PyArrayObject *base, *logw;
    int parity;
    Py_ssize_t n_betas;
    unsigned long seed, epoch;
    int check;
    PyObject *progress = Py_None;
    (void)self;
    if (!PyArg_ParseTuple(args, "O&O!inkkO!p|O", dbm_conv, &m, &PyArray_Type, &base, &parity,
                          &n_betas, &seed, &epoch, &PyArray_Type, &logw, &check, &progress))
        return NULL;
    if (!progress_arg(progress)) return NULL;
    size_t n_base = 0;
    for (size_t k = 0; k <= m.f.n_hidden_layers; k++) n_base += m.sizes[k];
    if (!ais_arrays(base, logw, n_betas, m.typenum, n_base)) return NULL;
    double log_z = 0.0, se = 0.0;
    pdbn_error err = {0, ""};
    int st;
    CORE_CALL_PROGRESS(pi, ctl, check, progress == Py_None ? NULL : progress, st,
              DISPATCH(m, pdbn_dbm_log_partition_ais, PyArray_DATA(base), parity,
                       (size_t)PyArray_DIM(logw, 0), (size_t)n_betas, (uint32_t)seed,
                       (uint32_t)epoch, &log_z, &se, PyArray_DATA(logw), &ctl, &err));
    if (st != PDBN_OK) return raise_status(st, &err);
    return Py_BuildValue("dd", log_z, se);
}

/* ------------------------------------------------------------------------------------------ */
/* Layered Boltzmann machines: MPF and VPF                                                      */

typedef struct bm_arg {
    int typenum;
    int writeable;
    size_t sizes[PDBN_BM_MAX_LAYERS];
    void *w[PDBN_BM_MAX_LAYERS], *lat[PDBN_BM_MAX_LAYERS], *b[PDBN_BM_MAX_LAYERS];
    pdbn_bm_f f;
    pdbn_bm_d d;
} bm_arg;

/* ([weights], [laterals: None or array], [biases]) -> a view; weights[k] of shape
 * (sizes[k+1], sizes[k]), laterals[k] of shape (sizes[k], sizes[k]). */
static int bm_conv(PyObject *obj, void *out)
{
    bm_arg *m = out;
    PyObject *lw, *ll, *lb;
    memset(m, 0, sizeof *m);
    if (!model_tuple(obj, "the model")) return 0;
    if (!PyArg_ParseTuple(obj, "O!O!O!;the model must be (weights, laterals, biases)",
                          &PyList_Type, &lw, &PyList_Type, &ll, &PyList_Type, &lb))
        return 0;
    Py_ssize_t L = PyList_GET_SIZE(lw);
    if (L >= PDBN_BM_MAX_LAYERS || PyList_GET_SIZE(lb) != L + 1 || PyList_GET_SIZE(ll) != L + 1) {
        PyErr_SetString(PyExc_ValueError,
                        "a Boltzmann machine needs L weight matrices, L + 1 laterals and biases");
        return 0;
    }
    if (!layered_params(lw, lb, "the model's", &m->typenum, m->sizes, m->w, m->b,
                        &m->writeable))
        return 0;
    const int t = m->typenum;
    for (Py_ssize_t k = 0; k <= L; k++) {
        PyObject *ol = PyList_GET_ITEM(ll, k);
        if (ol == Py_None) continue;
        if (!param_array(ol, 2, t, "lateral_")) return 0;
        PyArrayObject *a = (PyArrayObject *)ol;
        if ((size_t)PyArray_DIM(a, 0) != m->sizes[k] || (size_t)PyArray_DIM(a, 1) != m->sizes[k]) {
            PyErr_Format(PyExc_ValueError, "lateral weights %zd must be %zu x %zu", k,
                         m->sizes[k], m->sizes[k]);
            return 0;
        }
        m->lat[k] = PyArray_DATA(a);
        m->writeable = m->writeable && PyArray_ISWRITEABLE(a);
    }
    m->f.n_hidden_layers = m->d.n_hidden_layers = (size_t)L;
    m->f.sizes = m->d.sizes = m->sizes;
    m->f.weights = (float *const *)m->w;
    m->f.lateral = (float *const *)m->lat;
    m->f.biases = (float *const *)m->b;
    m->d.weights = (double *const *)m->w;
    m->d.lateral = (double *const *)m->lat;
    m->d.biases = (double *const *)m->b;
    return 1;
}

/* A list of count entries, entry k a writeable C-contiguous array of the model's dtype with
 * rows x sizes[k + off] elements (rows = 0: sizes[k + off] x sizes[k + off + 1] for weights,
 * see elems). None is accepted where allow_none[k] (NULL stored). */
static int bm_list(PyObject *obj, const bm_arg *m, size_t count, const size_t *elems,
                   const int *allow_none, const char *name, void **ptrs)
{
    if (!PyList_Check(obj) || (size_t)PyList_GET_SIZE(obj) != count) {
        PyErr_Format(PyExc_ValueError, "%s must be a list of %zu entries", name, count);
        return 0;
    }
    for (size_t k = 0; k < count; k++) {
        char label[64];
        snprintf(label, sizeof label, "%s[%zu]", name, k);
        PyObject *item = PyList_GET_ITEM(obj, k);
        if (item == Py_None && !allow_none[k]) {
            PyErr_Format(PyExc_ValueError, "%s is missing", label);
            return 0;
        }
        if (item != Py_None && allow_none[k] == 2) {
            PyErr_Format(PyExc_ValueError, "%s must be None (the model has no such array)", label);
            return 0;
        }
        if (!opt_buffer(item, m->typenum, (npy_intp)elems[k], label, &ptrs[k])) return 0;
    }
    return 1;
}

/* element counts and None rules of the parameter lists: weights, laterals, biases */
static void bm_param_shapes(const bm_arg *m, size_t *ew, size_t *el, size_t *eb, int *nw,
                            int *nl, int *nb)
{
    const size_t L = m->f.n_hidden_layers;
    for (size_t k = 0; k <= L; k++) {
        eb[k] = m->sizes[k];
        nb[k] = 0;
        el[k] = m->sizes[k] * m->sizes[k];
        nl[k] = m->lat[k] != NULL ? 0 : 2;
        if (k < L) {
            ew[k] = m->sizes[k + 1] * m->sizes[k];
            nw[k] = 0;
        }
    }
}

static PyObject *py_bm_mpf(PyObject *self, PyObject *args)
{
    bm_arg m;
    PyObject *ostates, *ograds;
    int check;
    (void)self;
    if (!PyArg_ParseTuple(args, "O&OOp", bm_conv, &m, &ostates, &ograds, &check)) return NULL;
    const size_t L = m.f.n_hidden_layers;
    if (!PyList_Check(ostates) || (size_t)PyList_GET_SIZE(ostates) != L + 1 ||
        !PyArray_Check(PyList_GET_ITEM(ostates, 0)) ||
        PyArray_NDIM((PyArrayObject *)PyList_GET_ITEM(ostates, 0)) != 2)
        return PyErr_Format(PyExc_ValueError, "states must be a list of %zu 2-D arrays", L + 1);
    const size_t rows = (size_t)PyArray_DIM((PyArrayObject *)PyList_GET_ITEM(ostates, 0), 0);
    size_t es[PDBN_BM_MAX_LAYERS], ew[PDBN_BM_MAX_LAYERS], el[PDBN_BM_MAX_LAYERS],
        eb[PDBN_BM_MAX_LAYERS];
    int ns[PDBN_BM_MAX_LAYERS], nw[PDBN_BM_MAX_LAYERS], nl[PDBN_BM_MAX_LAYERS],
        nb[PDBN_BM_MAX_LAYERS];
    for (size_t k = 0; k <= L; k++) {
        es[k] = rows * m.sizes[k];
        ns[k] = 0;
        PyObject *s = PyList_GET_ITEM(ostates, k);
        if (!PyArray_Check(s) || PyArray_NDIM((PyArrayObject *)s) != 2 ||
            (size_t)PyArray_DIM((PyArrayObject *)s, 1) != m.sizes[k])
            return PyErr_Format(PyExc_ValueError, "states[%zu] must have %zu columns", k,
                                m.sizes[k]);
    }
    void *st_[PDBN_BM_MAX_LAYERS], *gw[PDBN_BM_MAX_LAYERS] = {0}, *gl[PDBN_BM_MAX_LAYERS] = {0},
                                   *gb[PDBN_BM_MAX_LAYERS] = {0};
    if (!bm_list(ostates, &m, L + 1, es, ns, "states", st_)) return NULL;
    int grads = ograds != Py_None;
    if (grads) {
        PyObject *ow, *ol, *ob;
        if (!PyArg_ParseTuple(ograds, "OOO;grads must be (weights, laterals, biases) lists", &ow,
                              &ol, &ob))
            return NULL;
        bm_param_shapes(&m, ew, el, eb, nw, nl, nb);
        if (!bm_list(ow, &m, L, ew, nw, "grad weights", gw) ||
            !bm_list(ol, &m, L + 1, el, nl, "grad laterals", gl) ||
            !bm_list(ob, &m, L + 1, eb, nb, "grad biases", gb))
            return NULL;
    }
    double objective = 0.0;
    pdbn_error err = {0, ""};
    int st;
    if (m.typenum == NPY_FLOAT32)
        CORE_CALL(pi, ctl, check, st,
                  pdbn_mpf_f(&m.f, (float *const *)st_, rows, &objective,
                             grads ? (float *const *)gw : NULL, grads ? (float *const *)gl : NULL,
                             grads ? (float *const *)gb : NULL, &ctl, &err));
    else
        CORE_CALL(pi, ctl, check, st,
                  pdbn_mpf_d(&m.d, (double *const *)st_, rows, &objective,
                             grads ? (double *const *)gw : NULL,
                             grads ? (double *const *)gl : NULL,
                             grads ? (double *const *)gb : NULL, &ctl, &err));
    if (st != PDBN_OK) return raise_status(st, &err);
    return PyFloat_FromDouble(objective);
}

/* out: a list of L arrays (rows x sizes[k], k = 1..L) */
static int bm_hidden_out(PyObject *obj, const bm_arg *m, size_t rows, void **ptrs)
{
    const size_t L = m->f.n_hidden_layers;
    size_t e[PDBN_BM_MAX_LAYERS];
    int nn[PDBN_BM_MAX_LAYERS];
    for (size_t k = 1; k <= L; k++) {
        e[k - 1] = rows * m->sizes[k];
        nn[k - 1] = 0;
    }
    return bm_list(obj, m, L, e, nn, "out", ptrs);
}

static PyObject *py_bm_infer(PyObject *self, PyObject *args)
{
    bm_arg m;
    source_arg x;
    unsigned long seed, epoch;
    PyObject *oout;
    int check;
    (void)self;
    if (!PyArg_ParseTuple(args, "O&O&kkOp", bm_conv, &m, source_conv, &x, &seed, &epoch, &oout,
                          &check))
        return NULL;
    if (m.typenum != x.typenum) return PyErr_Format(PyExc_ValueError, "X must have the model's dtype");
    if (m.f.n_hidden_layers < 1) return PyErr_Format(PyExc_ValueError, "the model has no hidden layer");
    void *out[PDBN_BM_MAX_LAYERS];
    if (!bm_hidden_out(oout, &m, x.s.rows, out)) return NULL;
    pdbn_error err = {0, ""};
    int st;
    CORE_CALL(pi, ctl, check, st,
              m.typenum == NPY_FLOAT32
                  ? pdbn_bm_infer_f(&m.f, &x.s, (uint32_t)seed, (uint32_t)epoch,
                                    (float *const *)out, &ctl, &err)
                  : pdbn_bm_infer_d(&m.d, &x.s, (uint32_t)seed, (uint32_t)epoch,
                                    (double *const *)out, &ctl, &err));
    if (st != PDBN_OK) return raise_status(st, &err);
    Py_RETURN_NONE;
}

static PyObject *py_bm_lateral_sweep(PyObject *self, PyObject *args)
{
    bm_arg m;
    Py_ssize_t k;
    PyArrayObject *below, *h;
    unsigned long seed, epoch;
    int check;
    (void)self;
    if (!PyArg_ParseTuple(args, "O&nO!O!kkp", bm_conv, &m, &k, &PyArray_Type, &below,
                          &PyArray_Type, &h, &seed, &epoch, &check))
        return NULL;
    if (k < 1 || (size_t)k > m.f.n_hidden_layers || m.lat[k] == NULL)
        return PyErr_Format(PyExc_ValueError, "layer %zd has no lateral weights", k);
    if (PyArray_NDIM(h) != 2 || (size_t)PyArray_DIM(h, 1) != m.sizes[k])
        return PyErr_Format(PyExc_ValueError, "h must have %zu columns", m.sizes[k]);
    const size_t rows = (size_t)PyArray_DIM(h, 0);
    if (!check_out(h, m.typenum, rows, m.sizes[k])) return NULL;
    if (PyArray_TYPE(below) != m.typenum || !PyArray_IS_C_CONTIGUOUS(below) ||
        PyArray_SIZE(below) != (npy_intp)(rows * m.sizes[k - 1]))
        return PyErr_Format(PyExc_ValueError, "below must be a C-contiguous %zu x %zu array of "
                            "the model's dtype", rows, m.sizes[k - 1]);
    pdbn_error err = {0, ""};
    int st;
    CORE_CALL(pi, ctl, check, st,
              DISPATCH(m, pdbn_bm_lateral_sweep, (size_t)k, PyArray_DATA(below), PyArray_DATA(h),
                       rows, (uint32_t)seed, (uint32_t)epoch, &ctl, &err));
    if (st != PDBN_OK) return raise_status(st, &err);
    Py_RETURN_NONE;
}

static PyObject *py_vpf_epoch(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *names[] = {"model", "X", "state", "t", "learning_rate", "beta1", "beta2", "eps",
                            "weight_decay", "batch_size", "seed", "epoch", "check_signals",
                            "guard", "optimizer", "momentum", "rho", NULL};
    bm_arg m;
    source_arg x;
    PyObject *ostate, *guard = Py_None;
    unsigned long long t;
    double lr, b1, b2, eps, wd, mom = 0.0, rho = 0.9;
    Py_ssize_t bs;
    unsigned long seed, epoch;
    int check;
    const char *kind = "adam";
    (void)self;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O&O&OKdddddnkkp|Osdd", names, bm_conv, &m,
                                     source_conv, &x, &ostate, &t, &lr, &b1, &b2, &eps, &wd, &bs,
                                     &seed, &epoch, &check, &guard, &kind, &mom, &rho))
        return NULL;
    int opt_kind;
    if (strcmp(kind, "adam") == 0) opt_kind = PDBN_OPT_ADAM;
    else if (strcmp(kind, "sgd") == 0) opt_kind = PDBN_OPT_SGD;
    else if (strcmp(kind, "rmsprop") == 0) opt_kind = PDBN_OPT_RMSPROP;
    else return PyErr_Format(PyExc_ValueError, "optimizer must be 'adam', 'sgd' or 'rmsprop'");
    if (!(mom >= 0.0 && mom < 1.0) || !(rho >= 0.0 && rho < 1.0))
        return PyErr_Format(PyExc_ValueError, "momentum and rho must be in [0, 1)");
    if (!m.writeable)
        return PyErr_Format(PyExc_ValueError, "the model's arrays are read-only; training needs "
                            "to write them (copy the model first)");
    if (m.typenum != x.typenum) return PyErr_Format(PyExc_ValueError, "X must have the model's dtype");
    if (bs < 1) return PyErr_Format(PyExc_ValueError, "batch_size must be positive");
    if (!(b1 >= 0.0 && b1 < 1.0) || !(b2 >= 0.0 && b2 < 1.0) || !(eps > 0.0))
        return PyErr_Format(PyExc_ValueError, "Adam needs 0 <= beta1, beta2 < 1 and eps > 0");
    const size_t L = m.f.n_hidden_layers;
    PyObject *mw, *vw, *ml, *vl, *mb, *vb;
    if (!PyArg_ParseTuple(ostate, "OOOOOO;state must be 6 lists (mW, vW, mU, vU, mb, vb)", &mw,
                          &vw, &ml, &vl, &mb, &vb))
        return NULL;
    size_t ew[PDBN_BM_MAX_LAYERS], el[PDBN_BM_MAX_LAYERS], eb[PDBN_BM_MAX_LAYERS];
    int nw[PDBN_BM_MAX_LAYERS], nl[PDBN_BM_MAX_LAYERS], nb[PDBN_BM_MAX_LAYERS];
    bm_param_shapes(&m, ew, el, eb, nw, nl, nb);
    void *pmw[PDBN_BM_MAX_LAYERS] = {0}, *pvw[PDBN_BM_MAX_LAYERS] = {0},
         *pml[PDBN_BM_MAX_LAYERS] = {0}, *pvl[PDBN_BM_MAX_LAYERS] = {0},
         *pmb[PDBN_BM_MAX_LAYERS] = {0}, *pvb[PDBN_BM_MAX_LAYERS] = {0};
    if (!bm_list(mw, &m, L, ew, nw, "state mW", pmw) || !bm_list(vw, &m, L, ew, nw, "state vW", pvw) ||
        !bm_list(ml, &m, L + 1, el, nl, "state mU", pml) ||
        !bm_list(vl, &m, L + 1, el, nl, "state vU", pvl) ||
        !bm_list(mb, &m, L + 1, eb, nb, "state mb", pmb) ||
        !bm_list(vb, &m, L + 1, eb, nb, "state vb", pvb))
        return NULL;
    pdbn_vpf_train cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.batch_size = (size_t)bs;
    cfg.opt.kind = opt_kind;
    cfg.opt.momentum = mom;
    cfg.opt.rho = rho;
    cfg.opt.learning_rate = lr;
    cfg.opt.beta1 = b1;
    cfg.opt.beta2 = b2;
    cfg.opt.eps = eps;
    cfg.opt.weight_decay = wd;
    cfg.seed = (uint32_t)seed;
    cfg.epoch = (uint32_t)epoch;
    uint64_t steps = (uint64_t)t;
    double objective = 0.0;
    pdbn_error err = {0, ""};
    int st;
    if (set_in_core(guard, 1) < 0) return NULL;
    if (m.typenum == NPY_FLOAT32)
        CORE_CALL(pi, ctl, check, st,
                  pdbn_vpf_epoch_f(&m.f, &cfg, &x.s, (float *const *)pmw, (float *const *)pvw,
                                   (float *const *)pml, (float *const *)pvl, (float *const *)pmb,
                                   (float *const *)pvb, &steps, &objective, &ctl, &err));
    else
        CORE_CALL(pi, ctl, check, st,
                  pdbn_vpf_epoch_d(&m.d, &cfg, &x.s, (double *const *)pmw, (double *const *)pvw,
                                   (double *const *)pml, (double *const *)pvl,
                                   (double *const *)pmb, (double *const *)pvb, &steps, &objective,
                                   &ctl, &err));
    PyObject *et, *ev, *tb;
    PyErr_Fetch(&et, &ev, &tb); /* keep a pending KeyboardInterrupt across the attribute set */
    int guard_st = set_in_core(guard, 0);
    if (et != NULL) PyErr_Restore(et, ev, tb);
    if (guard_st < 0) {
        if (st == PDBN_OK) return NULL;
        if (et == NULL) PyErr_Clear();
    }
    if (st != PDBN_OK) return raise_status(st, &err);
    return Py_BuildValue("dK", objective, (unsigned long long)steps);
}

static PyObject *py_bm_generate(PyObject *self, PyObject *args)
{
    bm_arg m;
    Py_ssize_t n, r;
    PyObject *oprior;
    unsigned long seed, epoch;
    int means, check;
    PyArrayObject *out;
    (void)self;
    if (!PyArg_ParseTuple(args, "O&nnOkkpO!p", bm_conv, &m, &n, &r, &oprior, &seed, &epoch,
                          &means, &PyArray_Type, &out, &check))
        return NULL;
    const size_t L = m.f.n_hidden_layers;
    if (L < 1) return PyErr_Format(PyExc_ValueError, "the model has no hidden layer");
    if (n < 0 || r < 1) return PyErr_Format(PyExc_ValueError, "n_samples >= 0 and r >= 1 needed");
    const void *prior = NULL;
    if (oprior != Py_None) {
        if (!PyArray_Check(oprior) || !check_param((PyArrayObject *)oprior, 1, m.typenum, "top_prior"))
            return NULL;
        if ((size_t)PyArray_DIM((PyArrayObject *)oprior, 0) != m.sizes[L])
            return PyErr_Format(PyExc_ValueError, "top_prior must have %zu entries", m.sizes[L]);
        prior = PyArray_DATA((PyArrayObject *)oprior);
    }
    if (!check_out(out, m.typenum, (size_t)n, m.sizes[0])) return NULL;
    pdbn_error err = {0, ""};
    int st;
    CORE_CALL(pi, ctl, check, st,
              DISPATCH(m, pdbn_bm_generate, (size_t)n, (size_t)r, prior, (uint32_t)seed,
                       (uint32_t)epoch, means, PyArray_DATA(out), &ctl, &err));
    if (st != PDBN_OK) return raise_status(st, &err);
    Py_RETURN_NONE;
}

static PyObject *py_bm_reconstruct(PyObject *self, PyObject *args)
{
    bm_arg m;
    source_arg x;
    PyArrayObject *mask, *out;
    Py_ssize_t n_gibbs;
    unsigned long seed, epoch;
    int check;
    (void)self;
    if (!PyArg_ParseTuple(args, "O&O&O!nkkO!p", bm_conv, &m, source_conv, &x, &PyArray_Type,
                          &mask, &n_gibbs, &seed, &epoch, &PyArray_Type, &out, &check))
        return NULL;
    if (m.typenum != x.typenum) return PyErr_Format(PyExc_ValueError, "X must have the model's dtype");
    if (m.f.n_hidden_layers < 1) return PyErr_Format(PyExc_ValueError, "the model has no hidden layer");
    if (n_gibbs < 1) return PyErr_Format(PyExc_ValueError, "n_gibbs must be at least 1");
    if (PyArray_TYPE(mask) != NPY_UINT8 || !PyArray_IS_C_CONTIGUOUS(mask) ||
        PyArray_SIZE(mask) != (npy_intp)(x.s.rows * x.s.cols))
        return PyErr_Format(PyExc_ValueError, "mask must be a C-contiguous uint8 array of X's shape");
    if (!check_out(out, m.typenum, x.s.rows, m.sizes[0])) return NULL;
    pdbn_error err = {0, ""};
    int st;
    CORE_CALL(pi, ctl, check, st,
              DISPATCH(m, pdbn_bm_reconstruct, &x.s, (const uint8_t *)PyArray_DATA(mask),
                       (size_t)n_gibbs, (uint32_t)seed, (uint32_t)epoch, PyArray_DATA(out), &ctl,
                       &err));
    if (st != PDBN_OK) return raise_status(st, &err);
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------------------------------ */
/* Dense networks and adversarial DBNs                                                          */

typedef struct mlp_arg {
    int typenum;
    int writeable;
    size_t sizes[PDBN_MLP_MAX_LAYERS + 1];
    int acts[PDBN_MLP_MAX_LAYERS];
    void *w[PDBN_MLP_MAX_LAYERS], *b[PDBN_MLP_MAX_LAYERS];
    pdbn_mlp_f f;
    pdbn_mlp_d d;
} mlp_arg;

/* ([weights], [biases], [activation codes]) -> a dense network view */
static int mlp_conv(PyObject *obj, void *out)
{
    mlp_arg *m = out;
    PyObject *lw, *lb, *la;
    memset(m, 0, sizeof *m);
    if (!model_tuple(obj, "the network")) return 0;
    if (!PyArg_ParseTuple(obj, "O!O!O!;a network must be (weights, biases, activations)",
                          &PyList_Type, &lw, &PyList_Type, &lb, &PyList_Type, &la))
        return 0;
    Py_ssize_t L = PyList_GET_SIZE(lw);
    if (L < 1 || L > PDBN_MLP_MAX_LAYERS || PyList_GET_SIZE(lb) != L || PyList_GET_SIZE(la) != L) {
        PyErr_SetString(PyExc_ValueError, "a network needs 1 to 16 layers of weights, biases "
                                          "and activations");
        return 0;
    }
    PyObject *first = PyList_GET_ITEM(lw, 0);
    if (!PyArray_Check(first) || !array_typenum_ok(PyArray_TYPE((PyArrayObject *)first))) {
        PyErr_SetString(PyExc_ValueError, "network arrays must be float32 or float64");
        return 0;
    }
    const int t = PyArray_TYPE((PyArrayObject *)first);
    m->typenum = t;
    m->writeable = 1;
    for (Py_ssize_t k = 0; k < L; k++) {
        PyObject *ow = PyList_GET_ITEM(lw, k), *ob = PyList_GET_ITEM(lb, k);
        if (!param_array(ow, 2, t, "weights")) return 0;
        if (!param_array(ob, 1, t, "biases")) return 0;
        PyArrayObject *aw = (PyArrayObject *)ow, *ab = (PyArrayObject *)ob;
        const size_t n_out = (size_t)PyArray_DIM(aw, 0), n_in = (size_t)PyArray_DIM(aw, 1);
        if (k == 0) m->sizes[0] = n_in;
        if (n_in != m->sizes[k] || (size_t)PyArray_DIM(ab, 0) != n_out || n_out == 0) {
            PyErr_Format(PyExc_ValueError, "network layer %zd has inconsistent shapes", k);
            return 0;
        }
        m->sizes[k + 1] = n_out;
        m->w[k] = PyArray_DATA(aw);
        m->b[k] = PyArray_DATA(ab);
        m->writeable = m->writeable && PyArray_ISWRITEABLE(aw) && PyArray_ISWRITEABLE(ab);
        long code = PyLong_AsLong(PyList_GET_ITEM(la, k));
        if (code == -1 && PyErr_Occurred()) return 0;
        if (code < PDBN_ACT_IDENTITY || code > PDBN_ACT_LEAKY_RELU) {
            PyErr_Format(PyExc_ValueError, "unknown activation code %ld", code);
            return 0;
        }
        m->acts[k] = (int)code;
    }
    m->f.n_layers = m->d.n_layers = (size_t)L;
    m->f.sizes = m->d.sizes = m->sizes;
    m->f.activations = m->d.activations = m->acts;
    m->f.weights = (float *const *)m->w;
    m->f.biases = (float *const *)m->b;
    m->d.weights = (double *const *)m->w;
    m->d.biases = (double *const *)m->b;
    return 1;
}

typedef struct adbn_arg {
    int typenum;
    int writeable;
    size_t sizes[PDBN_ADBN_MAX_LAYERS];
    void *w[PDBN_ADBN_MAX_LAYERS], *b[PDBN_ADBN_MAX_LAYERS];
    pdbn_adbn_f f;
    pdbn_adbn_d d;
} adbn_arg;

/* ([weights], [biases], conditional) -> a generator view; weights[l]: (sizes[l+1], sizes[l]) */
static int adbn_conv(PyObject *obj, void *out)
{
    adbn_arg *m = out;
    PyObject *lw, *lb;
    int cond;
    memset(m, 0, sizeof *m);
    if (!model_tuple(obj, "the generator")) return 0;
    if (!PyArg_ParseTuple(obj, "O!O!p;a generator must be (weights, biases, conditional)",
                          &PyList_Type, &lw, &PyList_Type, &lb, &cond))
        return 0;
    Py_ssize_t L = PyList_GET_SIZE(lb);
    if (L < 2 || L > PDBN_ADBN_MAX_LAYERS || PyList_GET_SIZE(lw) != L - 1) {
        PyErr_SetString(PyExc_ValueError, "a generator needs L >= 2 biases and L - 1 weights");
        return 0;
    }
    if (!layered_params(lw, lb, "generator", &m->typenum, m->sizes, m->w, m->b,
                        &m->writeable))
        return 0;
    m->f.n_layers = m->d.n_layers = (size_t)L;
    m->f.sizes = m->d.sizes = m->sizes;
    m->f.conditional = m->d.conditional = cond;
    m->f.weights = (float *const *)m->w;
    m->f.biases = (float *const *)m->b;
    m->d.weights = (double *const *)m->w;
    m->d.biases = (double *const *)m->b;
    return 1;
}

/* a list of n writeable arrays of the given dtype and element counts into ptrs */
static int array_list(PyObject *obj, int typenum, size_t n, const size_t *elems, const char *name,
                      void **ptrs)
{
    if (!PyList_Check(obj) || (size_t)PyList_GET_SIZE(obj) != n) {
        PyErr_Format(PyExc_ValueError, "%s must be a list of %zu arrays", name, n);
        return 0;
    }
    for (size_t k = 0; k < n; k++) {
        char label[64];
        snprintf(label, sizeof label, "%s[%zu]", name, k);
        if (PyList_GET_ITEM(obj, k) == Py_None) {
            PyErr_Format(PyExc_ValueError, "%s is missing", label);
            return 0;
        }
        if (!opt_buffer(PyList_GET_ITEM(obj, k), typenum, (npy_intp)elems[k], label, &ptrs[k]))
            return 0;
    }
    return 1;
}

static void mlp_param_elems(const mlp_arg *m, size_t *ew, size_t *eb)
{
    for (size_t k = 0; k < m->f.n_layers; k++) {
        ew[k] = m->sizes[k + 1] * m->sizes[k];
        eb[k] = m->sizes[k + 1];
    }
}

static void adbn_param_elems(const adbn_arg *g, size_t *ew, size_t *eb)
{
    for (size_t l = 0; l < g->f.n_layers; l++) {
        eb[l] = g->sizes[l];
        if (l + 1 < g->f.n_layers) ew[l] = g->sizes[l + 1] * g->sizes[l];
    }
}

static PyObject *py_mlp_forward(PyObject *self, PyObject *args)
{
    mlp_arg m;
    PyArrayObject *x, *out;
    int check;
    (void)self;
    if (!PyArg_ParseTuple(args, "O&O!O!p", mlp_conv, &m, &PyArray_Type, &x, &PyArray_Type, &out,
                          &check))
        return NULL;
    if (PyArray_NDIM(x) != 2 || PyArray_TYPE(x) != m.typenum || !PyArray_IS_C_CONTIGUOUS(x) ||
        (size_t)PyArray_DIM(x, 1) != m.sizes[0])
        return PyErr_Format(PyExc_ValueError, "X must be a C-contiguous (n, %zu) array of the "
                            "network's dtype", m.sizes[0]);
    const size_t rows = (size_t)PyArray_DIM(x, 0), L = m.f.n_layers;
    if (!check_out(out, m.typenum, rows, m.sizes[L])) return NULL;
    const size_t elem = m.typenum == NPY_FLOAT32 ? sizeof(float) : sizeof(double);
    const size_t n_acts = m.typenum == NPY_FLOAT32 ? pdbn_mlp_storage_f(&m.f, rows)
                                                   : pdbn_mlp_storage_d(&m.d, rows);
    void *acts = PyMem_RawMalloc(n_acts * elem + 1);
    if (acts == NULL) return PyErr_NoMemory();
    Py_BEGIN_ALLOW_THREADS
    if (m.typenum == NPY_FLOAT32) {
        float *o = pdbn_mlp_forward_f(&m.f, PyArray_DATA(x), m.sizes[0], rows, acts);
        memcpy(PyArray_DATA(out), o, rows * m.sizes[L] * elem);
    } else {
        double *o = pdbn_mlp_forward_d(&m.d, PyArray_DATA(x), m.sizes[0], rows, acts);
        memcpy(PyArray_DATA(out), o, rows * m.sizes[L] * elem);
    }
    Py_END_ALLOW_THREADS
    PyMem_RawFree(acts);
    (void)check;
    Py_RETURN_NONE;
}

static PyObject *py_mlp_backward(PyObject *self, PyObject *args)
{
    mlp_arg m;
    PyArrayObject *x, *dout;
    PyObject *ogw, *ogb;
    int check;
    (void)self;
    if (!PyArg_ParseTuple(args, "O&O!O!OOp", mlp_conv, &m, &PyArray_Type, &x, &PyArray_Type,
                          &dout, &ogw, &ogb, &check))
        return NULL;
    if (PyArray_NDIM(x) != 2 || PyArray_TYPE(x) != m.typenum || !PyArray_IS_C_CONTIGUOUS(x) ||
        (size_t)PyArray_DIM(x, 1) != m.sizes[0])
        return PyErr_Format(PyExc_ValueError, "X must be a C-contiguous (n, %zu) array of the "
                            "network's dtype", m.sizes[0]);
    const size_t rows = (size_t)PyArray_DIM(x, 0), L = m.f.n_layers;
    if (PyArray_TYPE(dout) != m.typenum || !PyArray_IS_C_CONTIGUOUS(dout) ||
        PyArray_SIZE(dout) != (npy_intp)(rows * m.sizes[L]))
        return PyErr_Format(PyExc_ValueError, "dout must be a C-contiguous (n, %zu) array",
                            m.sizes[L]);
    size_t ew[PDBN_MLP_MAX_LAYERS], eb[PDBN_MLP_MAX_LAYERS];
    mlp_param_elems(&m, ew, eb);
    void *gw[PDBN_MLP_MAX_LAYERS], *gb[PDBN_MLP_MAX_LAYERS];
    if (!array_list(ogw, m.typenum, L, ew, "gw", gw) || !array_list(ogb, m.typenum, L, eb, "gb", gb))
        return NULL;
    const size_t elem = m.typenum == NPY_FLOAT32 ? sizeof(float) : sizeof(double);
    const size_t n_acts = m.typenum == NPY_FLOAT32 ? pdbn_mlp_storage_f(&m.f, rows)
                                                   : pdbn_mlp_storage_d(&m.d, rows);
    const size_t wmax = m.typenum == NPY_FLOAT32 ? pdbn_mlp_max_width_f(&m.f)
                                                 : pdbn_mlp_max_width_d(&m.d);
    void *mem = PyMem_RawMalloc((n_acts + 2 * rows * wmax) * elem + 1);
    if (mem == NULL) return PyErr_NoMemory();
    Py_BEGIN_ALLOW_THREADS
    if (m.typenum == NPY_FLOAT32) {
        float *acts = mem;
        pdbn_mlp_forward_f(&m.f, PyArray_DATA(x), m.sizes[0], rows, acts);
        pdbn_mlp_backward_f(&m.f, PyArray_DATA(x), m.sizes[0], rows, acts, PyArray_DATA(dout),
                            (float *const *)gw, (float *const *)gb, acts + n_acts);
    } else {
        double *acts = mem;
        pdbn_mlp_forward_d(&m.d, PyArray_DATA(x), m.sizes[0], rows, acts);
        pdbn_mlp_backward_d(&m.d, PyArray_DATA(x), m.sizes[0], rows, acts, PyArray_DATA(dout),
                            (double *const *)gw, (double *const *)gb, acts + n_acts);
    }
    Py_END_ALLOW_THREADS
    PyMem_RawFree(mem);
    (void)check;
    Py_RETURN_NONE;
}

/* None or a C-contiguous int64 array of n entries */
static int opt_labels(PyObject *obj, size_t n, const int64_t **out)
{
    *out = NULL;
    if (obj == Py_None) return 1;
    if (!PyArray_Check(obj) || PyArray_TYPE((PyArrayObject *)obj) != NPY_INT64 ||
        !PyArray_IS_C_CONTIGUOUS((PyArrayObject *)obj) ||
        PyArray_SIZE((PyArrayObject *)obj) != (npy_intp)n) {
        PyErr_Format(PyExc_ValueError, "labels must be a C-contiguous int64 array of %zu entries",
                     n);
        return 0;
    }
    *out = PyArray_DATA((PyArrayObject *)obj);
    return 1;
}

static PyObject *py_adbn_sample(PyObject *self, PyObject *args)
{
    adbn_arg g;
    Py_ssize_t n;
    PyObject *olab, *ostates, *oprobs;
    unsigned long seed, epoch;
    int check;
    (void)self;
    if (!PyArg_ParseTuple(args, "O&nOkkOOp", adbn_conv, &g, &n, &olab, &seed, &epoch, &ostates,
                          &oprobs, &check))
        return NULL;
    if (n < 0) return PyErr_Format(PyExc_ValueError, "n_samples must be >= 0");
    const int64_t *labels;
    if (!opt_labels(olab, (size_t)n, &labels)) return NULL;
    const size_t L = g.f.n_layers;
    size_t e[PDBN_ADBN_MAX_LAYERS];
    for (size_t l = 0; l < L; l++) e[l] = (size_t)n * g.sizes[l];
    void *states[PDBN_ADBN_MAX_LAYERS], *probs = NULL;
    if (!array_list(ostates, g.typenum, L, e, "states", states)) return NULL;
    if (!opt_buffer(oprobs, g.typenum, (npy_intp)e[L - 1], "probs", &probs)) return NULL;
    pdbn_error err = {0, ""};
    int st;
    if (g.typenum == NPY_FLOAT32)
        CORE_CALL(pi, ctl, check, st,
                  pdbn_adbn_sample_f(&g.f, (size_t)n, labels, (uint32_t)seed, (uint32_t)epoch,
                                     (float *const *)states, probs, &ctl, &err));
    else
        CORE_CALL(pi, ctl, check, st,
                  pdbn_adbn_sample_d(&g.d, (size_t)n, labels, (uint32_t)seed, (uint32_t)epoch,
                                     (double *const *)states, probs, &ctl, &err));
    if (st != PDBN_OK) return raise_status(st, &err);
    Py_RETURN_NONE;
}

static PyObject *py_adbn_generator_gradient(PyObject *self, PyObject *args)
{
    adbn_arg g;
    mlp_arg d;
    int loss, baseline, check;
    Py_ssize_t n;
    PyObject *olab, *ogw, *ogb;
    unsigned long seed, epoch;
    (void)self;
    if (!PyArg_ParseTuple(args, "O&O&inpOkkOOp", adbn_conv, &g, mlp_conv, &d, &loss, &n,
                          &baseline, &olab, &seed, &epoch, &ogw, &ogb, &check))
        return NULL;
    if (g.typenum != d.typenum)
        return PyErr_Format(PyExc_ValueError, "generator and discriminator dtypes differ");
    if (n < 1) return PyErr_Format(PyExc_ValueError, "n_samples must be >= 1");
    const int64_t *labels;
    if (!opt_labels(olab, (size_t)n, &labels)) return NULL;
    const size_t L = g.f.n_layers;
    size_t ew[PDBN_ADBN_MAX_LAYERS], eb[PDBN_ADBN_MAX_LAYERS];
    adbn_param_elems(&g, ew, eb);
    void *gw[PDBN_ADBN_MAX_LAYERS], *gb[PDBN_ADBN_MAX_LAYERS];
    if (!array_list(ogw, g.typenum, L - 1, ew, "gw", gw) ||
        !array_list(ogb, g.typenum, L, eb, "gb", gb))
        return NULL;
    double objective = 0.0;
    pdbn_error err = {0, ""};
    int st;
    if (g.typenum == NPY_FLOAT32)
        CORE_CALL(pi, ctl, check, st,
                  pdbn_adbn_generator_gradient_f(&g.f, &d.f, loss, (size_t)n, baseline, labels,
                                                 (uint32_t)seed, (uint32_t)epoch,
                                                 (float *const *)gw, (float *const *)gb,
                                                 &objective, &ctl, &err));
    else
        CORE_CALL(pi, ctl, check, st,
                  pdbn_adbn_generator_gradient_d(&g.d, &d.d, loss, (size_t)n, baseline, labels,
                                                 (uint32_t)seed, (uint32_t)epoch,
                                                 (double *const *)gw, (double *const *)gb,
                                                 &objective, &ctl, &err));
    if (st != PDBN_OK) return raise_status(st, &err);
    return PyFloat_FromDouble(objective);
}

/* (kind, learning_rate, momentum, beta1, beta2, rho, eps, weight_decay) -> an optimizer */
static int optim_conv(PyObject *obj, void *out)
{
    pdbn_optim_config *c = out;
    const char *kind;
    memset(c, 0, sizeof *c);
    if (!PyArg_ParseTuple(obj, "sddddddd;an optimizer is (kind, lr, momentum, beta1, beta2, rho, "
                               "eps, weight_decay)",
                          &kind, &c->learning_rate, &c->momentum, &c->beta1, &c->beta2, &c->rho,
                          &c->eps, &c->weight_decay))
        return 0;
    if (strcmp(kind, "adam") == 0) c->kind = PDBN_OPT_ADAM;
    else if (strcmp(kind, "sgd") == 0) c->kind = PDBN_OPT_SGD;
    else if (strcmp(kind, "rmsprop") == 0) c->kind = PDBN_OPT_RMSPROP;
    else {
        PyErr_SetString(PyExc_ValueError, "optimizer must be 'adam', 'sgd' or 'rmsprop'");
        return 0;
    }
    if (!(c->learning_rate > 0.0) || !(c->momentum >= 0.0 && c->momentum < 1.0) ||
        !(c->beta1 >= 0.0 && c->beta1 < 1.0) || !(c->beta2 >= 0.0 && c->beta2 < 1.0) ||
        !(c->rho >= 0.0 && c->rho < 1.0) || !(c->eps > 0.0) || !(c->weight_decay >= 0.0)) {
        PyErr_SetString(PyExc_ValueError, "optimizer settings out of range");
        return 0;
    }
    return 1;
}

static PyObject *py_adbn_train(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *names[] = {"generator", "discriminator", "X", "labels", "n_steps", "g_state",
                            "d_state", "t_gen", "t_dis", "stats", "loss", "batch_size",
                            "n_critic", "clip", "baseline", "gen_optimizer", "dis_optimizer",
                            "seed", "epoch", "check_signals", "guard", NULL};
    adbn_arg g;
    mlp_arg d;
    source_arg x;
    PyObject *olab, *ogs, *ods, *ostats, *guard = Py_None;
    Py_ssize_t n_steps, bs, n_critic;
    unsigned long long tg, td;
    int loss, baseline, check;
    double clip;
    pdbn_adbn_train cfg;
    unsigned long seed, epoch;
    (void)self;
    memset(&cfg, 0, sizeof cfg);
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O&O&O&OnOOKKOinndpO&O&kkp|O", names, adbn_conv, &g,
                                     mlp_conv, &d, source_conv, &x, &olab, &n_steps, &ogs, &ods,
                                     &tg, &td, &ostats, &loss, &bs, &n_critic, &clip, &baseline,
                                     optim_conv, &cfg.gen_opt, optim_conv, &cfg.dis_opt, &seed,
                                     &epoch, &check, &guard))
        return NULL;
    if (!g.writeable || !d.writeable)
        return PyErr_Format(PyExc_ValueError, "the model's arrays are read-only; training needs "
                            "to write them (copy the model first)");
    if (g.typenum != d.typenum || g.typenum != x.typenum)
        return PyErr_Format(PyExc_ValueError, "X, generator and discriminator dtypes differ");
    if (n_steps < 0 || bs < 2 || n_critic < 1)
        return PyErr_Format(PyExc_ValueError, "n_steps >= 0, batch_size >= 2, n_critic >= 1");
    const int64_t *labels;
    if (!opt_labels(olab, x.s.rows, &labels)) return NULL;
    const size_t L = g.f.n_layers, DL = d.f.n_layers;
    size_t ge[2 * PDBN_ADBN_MAX_LAYERS], de[2 * PDBN_MLP_MAX_LAYERS];
    {
        size_t ew[PDBN_ADBN_MAX_LAYERS], eb[PDBN_ADBN_MAX_LAYERS];
        adbn_param_elems(&g, ew, eb);
        for (size_t l = 0; l + 1 < L; l++) ge[l] = ew[l];
        for (size_t l = 0; l < L; l++) ge[L - 1 + l] = eb[l];
        size_t mw[PDBN_MLP_MAX_LAYERS], mb[PDBN_MLP_MAX_LAYERS];
        mlp_param_elems(&d, mw, mb);
        for (size_t k = 0; k < DL; k++) {
            de[k] = mw[k];
            de[DL + k] = mb[k];
        }
    }
    PyObject *g1, *g2, *d1, *d2;
    if (!PyArg_ParseTuple(ogs, "OO;g_state must be two lists", &g1, &g2) ||
        !PyArg_ParseTuple(ods, "OO;d_state must be two lists", &d1, &d2))
        return NULL;
    void *pg1[2 * PDBN_ADBN_MAX_LAYERS], *pg2[2 * PDBN_ADBN_MAX_LAYERS],
        *pd1[2 * PDBN_MLP_MAX_LAYERS], *pd2[2 * PDBN_MLP_MAX_LAYERS];
    if (!array_list(g1, g.typenum, 2 * L - 1, ge, "g_state[0]", pg1) ||
        !array_list(g2, g.typenum, 2 * L - 1, ge, "g_state[1]", pg2) ||
        !array_list(d1, g.typenum, 2 * DL, de, "d_state[0]", pd1) ||
        !array_list(d2, g.typenum, 2 * DL, de, "d_state[1]", pd2))
        return NULL;
    pdbn_adbn_step_stats stats = {NULL, NULL, NULL, NULL};
    if (ostats != Py_None) {
        PyObject *s[4];
        if (!PyArg_ParseTuple(ostats, "OOOO;stats must be 4 float64 arrays", &s[0], &s[1], &s[2],
                              &s[3]))
            return NULL;
        void *p[4];
        for (int i = 0; i < 4; i++)
            if (!opt_buffer(s[i], NPY_FLOAT64, n_steps, "stats", &p[i])) return NULL;
        stats.dis_objective = p[0];
        stats.gen_objective = p[1];
        stats.real_score = p[2];
        stats.fake_score = p[3];
    }
    cfg.loss = loss;
    cfg.batch_size = (size_t)bs;
    cfg.n_critic = (size_t)n_critic;
    cfg.clip = clip;
    cfg.baseline = baseline;
    cfg.seed = (uint32_t)seed;
    cfg.epoch = (uint32_t)epoch;
    uint64_t t_gen = (uint64_t)tg, t_dis = (uint64_t)td;
    pdbn_error err = {0, ""};
    int st;
    if (set_in_core(guard, 1) < 0) return NULL;
    if (g.typenum == NPY_FLOAT32)
        CORE_CALL(pi, ctl, check, st,
                  pdbn_adbn_train_f(&g.f, &d.f, &cfg, &x.s, labels, (size_t)n_steps,
                                    (float *const *)pg1, (float *const *)pg2, (float *const *)pd1,
                                    (float *const *)pd2, &t_gen, &t_dis, &stats, &ctl, &err));
    else
        CORE_CALL(pi, ctl, check, st,
                  pdbn_adbn_train_d(&g.d, &d.d, &cfg, &x.s, labels, (size_t)n_steps,
                                    (double *const *)pg1, (double *const *)pg2,
                                    (double *const *)pd1, (double *const *)pd2, &t_gen, &t_dis,
                                    &stats, &ctl, &err));
    PyObject *et, *ev, *tb;
    PyErr_Fetch(&et, &ev, &tb);
    int guard_st = set_in_core(guard, 0);
    if (et != NULL) PyErr_Restore(et, ev, tb);
    if (guard_st < 0) {
        if (st == PDBN_OK) return NULL;
        if (et == NULL) PyErr_Clear();
    }
    if (st != PDBN_OK) return raise_status(st, &err);
    return Py_BuildValue("KK", (unsigned long long)t_gen, (unsigned long long)t_dis);
}

/* ------------------------------------------------------------------------------------------ */
/* Deep conditional independent models                                                          */

typedef struct dcim_arg {
    int typenum;
    int writeable;
    size_t sizes[PDBN_DCIM_MAX_LAYERS + 1];
    void *w[PDBN_DCIM_MAX_LAYERS], *b[PDBN_DCIM_MAX_LAYERS + 1];
    pdbn_dcim_f f;
    pdbn_dcim_d d;
} dcim_arg;

/* ([W^1..W^d], [b^0..b^d], encoding) -> a view; W^k of shape (sizes[k], sizes[k-1]) */
static int dcim_conv(PyObject *obj, void *out)
{
    dcim_arg *m = out;
    PyObject *lw, *lb;
    int enc;
    memset(m, 0, sizeof *m);
    if (!model_tuple(obj, "the DCIM model")) return 0;
    if (!PyArg_ParseTuple(obj, "O!O!i;a DCIM must be (weights, biases, encoding)", &PyList_Type,
                          &lw, &PyList_Type, &lb, &enc))
        return 0;
    Py_ssize_t d = PyList_GET_SIZE(lw);
    if (d < 1 || d >= PDBN_DCIM_MAX_LAYERS || PyList_GET_SIZE(lb) != d + 1) {
        PyErr_SetString(PyExc_ValueError, "a DCIM needs d weight matrices and d + 1 biases");
        return 0;
    }
    if (!layered_params(lw, lb, "DCIM", &m->typenum, m->sizes, m->w, m->b, &m->writeable))
        return 0;
    m->f.n_layers = m->d.n_layers = (size_t)d;
    m->f.sizes = m->d.sizes = m->sizes;
    m->f.encoding = m->d.encoding = enc;
    m->f.weights = (float *const *)m->w;
    m->f.biases = (float *const *)m->b;
    m->d.weights = (double *const *)m->w;
    m->d.biases = (double *const *)m->b;
    return 1;
}

static void dcim_param_elems(const dcim_arg *m, size_t *ew, size_t *eb)
{
    for (size_t k = 0; k <= m->f.n_layers; k++) {
        eb[k] = m->sizes[k];
        if (k < m->f.n_layers) ew[k] = m->sizes[k + 1] * m->sizes[k];
    }
}

static PyObject *py_dcim_forward(PyObject *self, PyObject *args)
{
    dcim_arg m;
    source_arg x;
    PyObject *oproba, *ohidden;
    int check;
    (void)self;
    if (!PyArg_ParseTuple(args, "O&O&OOp", dcim_conv, &m, source_conv, &x, &oproba, &ohidden,
                          &check))
        return NULL;
    if (m.typenum != x.typenum) return PyErr_Format(PyExc_ValueError, "X must have the model's dtype");
    const size_t d = m.f.n_layers;
    void *proba = NULL, *hidden[PDBN_DCIM_MAX_LAYERS];
    if (!opt_buffer(oproba, m.typenum, (npy_intp)(x.s.rows * m.sizes[d]), "proba", &proba))
        return NULL;
    int have_hidden = ohidden != Py_None;
    if (have_hidden) {
        size_t e[PDBN_DCIM_MAX_LAYERS];
        for (size_t k = 1; k < d; k++) e[k - 1] = x.s.rows * m.sizes[k];
        if (d > 1 && !array_list(ohidden, m.typenum, d - 1, e, "hidden", hidden)) return NULL;
    }
    pdbn_error err = {0, ""};
    int st;
    if (m.typenum == NPY_FLOAT32)
        CORE_CALL(pi, ctl, check, st,
                  pdbn_dcim_forward_f(&m.f, &x.s, proba, have_hidden ? (float *const *)hidden : NULL,
                                      &ctl, &err));
    else
        CORE_CALL(pi, ctl, check, st,
                  pdbn_dcim_forward_d(&m.d, &x.s, proba,
                                      have_hidden ? (double *const *)hidden : NULL, &ctl, &err));
    if (st != PDBN_OK) return raise_status(st, &err);
    Py_RETURN_NONE;
}

static PyObject *py_dcim_reverse(PyObject *self, PyObject *args)
{
    dcim_arg m;
    Py_ssize_t start, n_sampled;
    PyArrayObject *states, *logits;
    unsigned long seed, epoch;
    int check;
    (void)self;
    if (!PyArg_ParseTuple(args, "O&nO!nkkO!p", dcim_conv, &m, &start, &PyArray_Type, &states,
                          &n_sampled, &seed, &epoch, &PyArray_Type, &logits, &check))
        return NULL;
    if (start < 1 || (size_t)start > m.f.n_layers || n_sampled < 0)
        return PyErr_Format(PyExc_ValueError, "start must be in 1..%zu and n_sampled >= 0",
                            m.f.n_layers);
    if (PyArray_NDIM(states) != 2 || PyArray_TYPE(states) != m.typenum ||
        !PyArray_IS_C_CONTIGUOUS(states) || (size_t)PyArray_DIM(states, 1) != m.sizes[start])
        return PyErr_Format(PyExc_ValueError, "states must be a C-contiguous (n, %zu) array of "
                            "the model's dtype", m.sizes[start]);
    const size_t rows = (size_t)PyArray_DIM(states, 0);
    if (!check_out(logits, m.typenum, rows, m.sizes[0])) return NULL;
    pdbn_error err = {0, ""};
    int st;
    CORE_CALL(pi, ctl, check, st,
              DISPATCH(m, pdbn_dcim_reverse, (size_t)start, PyArray_DATA(states), rows,
                       (size_t)n_sampled, (uint32_t)seed, (uint32_t)epoch, PyArray_DATA(logits),
                       &ctl, &err));
    if (st != PDBN_OK) return raise_status(st, &err);
    Py_RETURN_NONE;
}

static PyObject *py_dcim_objective(PyObject *self, PyObject *args)
{
    dcim_arg m;
    source_arg x;
    int objective, check;
    PyObject *olab, *ogw, *ogb;
    unsigned long seed, epoch;
    double rweight = 1.0;
    (void)self;
    if (!PyArg_ParseTuple(args, "O&iO&OkkOOp|d", dcim_conv, &m, &objective, source_conv, &x,
                          &olab, &seed, &epoch, &ogw, &ogb, &check, &rweight))
        return NULL;
    if (m.typenum != x.typenum) return PyErr_Format(PyExc_ValueError, "X must have the model's dtype");
    const int64_t *labels;
    if (!opt_labels(olab, x.s.rows, &labels)) return NULL;
    if (labels == NULL) return PyErr_Format(PyExc_ValueError, "labels are required");
    const size_t d = m.f.n_layers;
    int grads = ogw != Py_None;
    void *gw[PDBN_DCIM_MAX_LAYERS], *gb[PDBN_DCIM_MAX_LAYERS + 1];
    if (grads) {
        size_t ew[PDBN_DCIM_MAX_LAYERS], eb[PDBN_DCIM_MAX_LAYERS + 1];
        dcim_param_elems(&m, ew, eb);
        if (!array_list(ogw, m.typenum, d, ew, "gw", gw) ||
            !array_list(ogb, m.typenum, d + 1, eb, "gb", gb))
            return NULL;
    }
    double fwd = 0.0, rev = 0.0;
    pdbn_error err = {0, ""};
    int st;
    if (m.typenum == NPY_FLOAT32)
        CORE_CALL(pi, ctl, check, st,
                  pdbn_dcim_objective_f(&m.f, objective, rweight, &x.s, labels, (uint32_t)seed,
                                        (uint32_t)epoch, &fwd, &rev,
                                        grads ? (float *const *)gw : NULL,
                                        grads ? (float *const *)gb : NULL, &ctl, &err));
    else
        CORE_CALL(pi, ctl, check, st,
                  pdbn_dcim_objective_d(&m.d, objective, rweight, &x.s, labels, (uint32_t)seed,
                                        (uint32_t)epoch, &fwd, &rev,
                                        grads ? (double *const *)gw : NULL,
                                        grads ? (double *const *)gb : NULL, &ctl, &err));
    if (st != PDBN_OK) return raise_status(st, &err);
    return Py_BuildValue("dd", fwd, rev);
}

static PyObject *py_dcim_epoch(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *names[] = {"model", "X", "labels", "state", "t", "objective", "batch_size",
                            "optimizer", "seed", "epoch", "check_signals", "guard",
                            "reverse_weight", NULL};
    dcim_arg m;
    source_arg x;
    PyObject *olab, *ostate, *guard = Py_None;
    unsigned long long t;
    int objective, check;
    Py_ssize_t bs;
    pdbn_dcim_train cfg;
    unsigned long seed, epoch;
    (void)self;
    memset(&cfg, 0, sizeof cfg);
    cfg.reverse_weight = 1.0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O&O&OOKinO&kkp|Od", names, dcim_conv, &m,
                                     source_conv, &x, &olab, &ostate, &t, &objective, &bs,
                                     optim_conv, &cfg.opt, &seed, &epoch, &check, &guard,
                                     &cfg.reverse_weight))
        return NULL;
    if (!m.writeable)
        return PyErr_Format(PyExc_ValueError, "the model's arrays are read-only; training needs "
                            "to write them (copy the model first)");
    if (m.typenum != x.typenum) return PyErr_Format(PyExc_ValueError, "X must have the model's dtype");
    if (bs < 1) return PyErr_Format(PyExc_ValueError, "batch_size must be positive");
    const int64_t *labels;
    if (!opt_labels(olab, x.s.rows, &labels)) return NULL;
    if (labels == NULL) return PyErr_Format(PyExc_ValueError, "labels are required");
    const size_t d = m.f.n_layers;
    size_t e[2 * PDBN_DCIM_MAX_LAYERS + 1];
    {
        size_t ew[PDBN_DCIM_MAX_LAYERS], eb[PDBN_DCIM_MAX_LAYERS + 1];
        dcim_param_elems(&m, ew, eb);
        for (size_t k = 0; k < d; k++) e[k] = ew[k];
        for (size_t k = 0; k <= d; k++) e[d + k] = eb[k];
    }
    PyObject *s1, *s2;
    if (!PyArg_ParseTuple(ostate, "OO;state must be two lists", &s1, &s2)) return NULL;
    void *p1[2 * PDBN_DCIM_MAX_LAYERS + 1], *p2[2 * PDBN_DCIM_MAX_LAYERS + 1];
    if (!array_list(s1, m.typenum, 2 * d + 1, e, "state[0]", p1) ||
        !array_list(s2, m.typenum, 2 * d + 1, e, "state[1]", p2))
        return NULL;
    cfg.objective = objective;
    cfg.batch_size = (size_t)bs;
    cfg.seed = (uint32_t)seed;
    cfg.epoch = (uint32_t)epoch;
    uint64_t steps = (uint64_t)t;
    double fwd = 0.0, rev = 0.0;
    pdbn_error err = {0, ""};
    int st;
    if (set_in_core(guard, 1) < 0) return NULL;
    if (m.typenum == NPY_FLOAT32)
        CORE_CALL(pi, ctl, check, st,
                  pdbn_dcim_epoch_f(&m.f, &cfg, &x.s, labels, (float *const *)p1,
                                    (float *const *)p2, &steps, &fwd, &rev, &ctl, &err));
    else
        CORE_CALL(pi, ctl, check, st,
                  pdbn_dcim_epoch_d(&m.d, &cfg, &x.s, labels, (double *const *)p1,
                                    (double *const *)p2, &steps, &fwd, &rev, &ctl, &err));
    PyObject *et, *ev, *tb;
    PyErr_Fetch(&et, &ev, &tb);
    int guard_st = set_in_core(guard, 0);
    if (et != NULL) PyErr_Restore(et, ev, tb);
    if (guard_st < 0) {
        if (st == PDBN_OK) return NULL;
        if (et == NULL) PyErr_Clear();
    }
    if (st != PDBN_OK) return raise_status(st, &err);
    return Py_BuildValue("ddK", fwd, rev, (unsigned long long)steps);
}

/* ------------------------------------------------------------------------------------------ */
/* Core utilities exposed for tests and benchmarks                                             */

static PyObject *py_random_words(PyObject *self, PyObject *args)
{
    unsigned long seed, purpose, step, epoch, batch, row;
    Py_ssize_t n;
    (void)self;
    if (!PyArg_ParseTuple(args, "kkkkkkn", &seed, &purpose, &step, &epoch, &batch, &row, &n))
        return NULL;
    if (n < 0) return PyErr_Format(PyExc_ValueError, "n must be non-negative");
    npy_intp dims[1] = {n};
    PyObject *out = PyArray_SimpleNew(1, dims, NPY_UINT32);
    if (out == NULL) return NULL;
    pdbn_stream s = pdbn_stream_at((uint32_t)seed, (uint32_t)purpose, (uint32_t)step,
                                   (uint32_t)epoch, (uint32_t)batch);
    pdbn_random_words(&s, (uint32_t)row, (size_t)n, PyArray_DATA((PyArrayObject *)out));
    return out;
}

static PyObject *py_gemm_bound_epoch(PyObject *self, PyObject *args)
{
    Py_ssize_t n_rows, nv, nh, bs;
    int dbl;
    (void)self;
    if (!PyArg_ParseTuple(args, "nnnnp", &n_rows, &nv, &nh, &bs, &dbl)) return NULL;
    if (n_rows < 1 || nv < 1 || nh < 1 || bs < 1)
        return PyErr_Format(PyExc_ValueError, "all sizes must be positive");
    double secs = 0.0;
    pdbn_error err = {0, ""};
    int st;
    Py_BEGIN_ALLOW_THREADS
    st = pdbn_bench_gemm_epoch((size_t)n_rows, (size_t)nv, (size_t)nh, (size_t)bs, dbl, &secs,
                               &err);
    Py_END_ALLOW_THREADS
    if (st != PDBN_OK) return raise_status(st, &err);
    return PyFloat_FromDouble(secs);
}

static PyMethodDef methods[] = {
    {"rbm_epoch", (PyCFunction)(void (*)(void))py_rbm_epoch, METH_VARARGS | METH_KEYWORDS,
     "One CD-k / PCD-k pass over X, updating the model in place."},
    {"rbm_hidden_probs", py_rbm_hidden_probs, METH_VARARGS, "p(h = 1 | v) into out."},
    {"rbm_reconstruct", py_rbm_reconstruct, METH_VARARGS, "Mean-field reconstruction into out."},
    {"rbm_free_energy", py_rbm_free_energy, METH_VARARGS, "Free energy per row into out."},
    {"rbm_pseudo_loglik", py_rbm_pseudo_loglik, METH_VARARGS, "Pseudo-log-likelihood per row."},
    {"rbm_gibbs", py_rbm_gibbs, METH_VARARGS, "One Gibbs step per row into out."},
    {"rbm_sample", py_rbm_sample, METH_VARARGS, "Free-running Gibbs chains into out."},
    {"rbm_log_partition_exact", py_rbm_log_partition_exact, METH_VARARGS, "Exact log Z."},
    {"rbm_log_partition_ais", py_rbm_log_partition_ais, METH_VARARGS, "AIS estimate of log Z."},
    {"rbm_label_free_energy", py_rbm_label_free_energy, METH_VARARGS,
     "Free energy of every label per row; optionally hidden means with labels summed out."},
    {"dbn_sample", py_dbn_sample, METH_VARARGS, "DBN samples: top Gibbs, then ancestral."},
    {"dbn_updown_epoch", (PyCFunction)(void (*)(void))py_dbn_updown_epoch,
     METH_VARARGS | METH_KEYWORDS, "One pass of the up-down algorithm."},
    {"dbn_bound", py_dbn_bound, METH_VARARGS, "Sampled variational bound per row."},
    {"dbn_exact", py_dbn_exact, METH_VARARGS, "Exact log p(v) and exact bound per row."},
    {"dbm_mean_field", py_dbm_mean_field, METH_VARARGS, "DBM mean-field posteriors."},
    {"dbm_epoch", (PyCFunction)(void (*)(void))py_dbm_epoch, METH_VARARGS | METH_KEYWORDS,
     "One epoch of variational SML for a DBM."},
    {"dbm_bound", py_dbm_bound, METH_VARARGS, "Mean-field lower bound per row."},
    {"dbm_sample", py_dbm_sample, METH_VARARGS, "DBM block-Gibbs samples."},
    {"dbm_log_partition_exact", py_dbm_log_partition_exact, METH_VARARGS, "Exact DBM log Z."},
    {"dbm_log_prob_exact", py_dbm_log_prob_exact, METH_VARARGS, "Exact DBM log p(v)."},
    {"dbm_log_partition_ais", py_dbm_log_partition_ais, METH_VARARGS, "AIS DBM log Z."},
    {"bm_mpf", py_bm_mpf, METH_VARARGS, "MPF objective (and gradients) of full states."},
    {"bm_infer", py_bm_infer, METH_VARARGS, "VPF E-step: bottom-up hidden samples."},
    {"bm_lateral_sweep", py_bm_lateral_sweep, METH_VARARGS, "One asynchronous lateral sweep."},
    {"vpf_epoch", (PyCFunction)(void (*)(void))py_vpf_epoch, METH_VARARGS | METH_KEYWORDS,
     "One VPF epoch with Adam."},
    {"bm_generate", py_bm_generate, METH_VARARGS, "Confabulations (Algorithm 2)."},
    {"bm_reconstruct", py_bm_reconstruct, METH_VARARGS, "Fill masked entries."},
    {"mlp_forward", py_mlp_forward, METH_VARARGS, "Dense network forward pass."},
    {"mlp_backward", py_mlp_backward, METH_VARARGS, "Dense network parameter gradients."},
    {"adbn_sample", py_adbn_sample, METH_VARARGS, "Forward samples of a DBN generator."},
    {"adbn_generator_gradient", py_adbn_generator_gradient, METH_VARARGS,
     "Score-function generator gradient (Eq. 9)."},
    {"adbn_train", (PyCFunction)(void (*)(void))py_adbn_train, METH_VARARGS | METH_KEYWORDS,
     "Adversarial training steps."},
    {"dcim_forward", py_dcim_forward, METH_VARARGS, "DCIM forward model."},
    {"dcim_reverse", py_dcim_reverse, METH_VARARGS, "DCIM reverse model."},
    {"dcim_objective", py_dcim_objective, METH_VARARGS, "DCIM objective and gradients."},
    {"dcim_epoch", (PyCFunction)(void (*)(void))py_dcim_epoch, METH_VARARGS | METH_KEYWORDS,
     "One DCIM training epoch."},
    {"random_words", py_random_words, METH_VARARGS, "Philox words of one stream row."},
    {"gemm_bound_epoch", py_gemm_bound_epoch, METH_VARARGS,
     "Seconds taken by an RBM epoch's five GEMMs alone."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_core",
                                    "The C core of pydbn (private).", -1, methods,
                                    NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__core(void)
{
    import_array();
    PyObject *mod = PyModule_Create(&module);
    if (mod == NULL) return NULL;
    if (PyModule_AddIntConstant(mod, "VISIBLE_BERNOULLI", PDBN_VISIBLE_BERNOULLI) < 0 ||
        PyModule_AddIntConstant(mod, "VISIBLE_GAUSSIAN", PDBN_VISIBLE_GAUSSIAN) < 0 ||
        PyModule_AddIntConstant(mod, "METHOD_PCD", PDBN_RBM_PCD) < 0 ||
        PyModule_AddIntConstant(mod, "METHOD_CD", PDBN_RBM_CD) < 0 ||
        PyModule_AddIntConstant(mod, "ACT_IDENTITY", PDBN_ACT_IDENTITY) < 0 ||
        PyModule_AddIntConstant(mod, "ACT_SIGMOID", PDBN_ACT_SIGMOID) < 0 ||
        PyModule_AddIntConstant(mod, "ACT_RELU", PDBN_ACT_RELU) < 0 ||
        PyModule_AddIntConstant(mod, "ACT_TANH", PDBN_ACT_TANH) < 0 ||
        PyModule_AddIntConstant(mod, "ACT_LEAKY_RELU", PDBN_ACT_LEAKY_RELU) < 0 ||
        PyModule_AddIntConstant(mod, "LOSS_GAN", PDBN_LOSS_GAN) < 0 ||
        PyModule_AddIntConstant(mod, "LOSS_WGAN", PDBN_LOSS_WGAN) < 0 ||
        PyModule_AddIntConstant(mod, "LOSS_MLE", PDBN_LOSS_MLE) < 0 ||
        PyModule_AddIntConstant(mod, "DCIM_BINARY", PDBN_DCIM_BINARY) < 0 ||
        PyModule_AddIntConstant(mod, "DCIM_PM1", PDBN_DCIM_PM1) < 0 ||
        PyModule_AddIntConstant(mod, "DCIM_DISCRIMINATIVE", PDBN_DCIM_DISCRIMINATIVE) < 0 ||
        PyModule_AddIntConstant(mod, "DCIM_BIDIRECTIONAL", PDBN_DCIM_BIDIRECTIONAL) < 0 ||
        PyModule_AddIntConstant(mod, "DCIM_SAMPLED", PDBN_DCIM_SAMPLED) < 0) {
        Py_DECREF(mod);
        return NULL;
    }
    return mod;
}
