/* Type-generic dense networks; instantiated by mlp.c through pdbn_tmpl.h. */

size_t PDBN_FN(pdbn_mlp_storage)(const PDBN_FN(pdbn_mlp) *m, size_t rows)
{
    size_t n = 0;
    for (size_t k = 0; k < m->n_layers; k++) n += rows * m->sizes[k + 1];
    return n;
}

size_t PDBN_FN(pdbn_mlp_max_width)(const PDBN_FN(pdbn_mlp) *m)
{
    size_t w = 0;
    for (size_t k = 0; k <= m->n_layers; k++) w = m->sizes[k] > w ? m->sizes[k] : w;
    return w;
}

static void PDBN_FN(mlp_activate)(int act, size_t n, real *x)
{
    switch (act) {
    case PDBN_ACT_SIGMOID:
        for (size_t i = 0; i < n; i++) x[i] = (real)1 / ((real)1 + PDBN_EXP(-x[i]));
        break;
    case PDBN_ACT_RELU:
        for (size_t i = 0; i < n; i++) x[i] = x[i] > 0 ? x[i] : (real)0;
        break;
    case PDBN_ACT_TANH:
        for (size_t i = 0; i < n; i++) x[i] = (real)tanh((double)x[i]);
        break;
    case PDBN_ACT_LEAKY_RELU:
        for (size_t i = 0; i < n; i++) x[i] = x[i] > 0 ? x[i] : (real)0.2 * x[i];
        break;
    default:
        break;
    }
}

/* d[i] *= act'(z) written through the output a = act(z) */
static void PDBN_FN(mlp_derivative)(int act, size_t n, const real *a, real *d)
{
    switch (act) {
    case PDBN_ACT_SIGMOID:
        for (size_t i = 0; i < n; i++) d[i] *= a[i] * ((real)1 - a[i]);
        break;
    case PDBN_ACT_RELU:
        for (size_t i = 0; i < n; i++) d[i] = a[i] > 0 ? d[i] : (real)0;
        break;
    case PDBN_ACT_TANH:
        for (size_t i = 0; i < n; i++) d[i] *= (real)1 - a[i] * a[i];
        break;
    case PDBN_ACT_LEAKY_RELU:
        for (size_t i = 0; i < n; i++) d[i] = a[i] > 0 ? d[i] : (real)0.2 * d[i];
        break;
    default:
        break;
    }
}

real *PDBN_FN(pdbn_mlp_forward)(const PDBN_FN(pdbn_mlp) *m, const real *x, size_t ldx,
                                size_t rows, real *acts)
{
    const real *in = x;
    size_t ld = ldx;
    real *out = acts;
    for (size_t k = 0; k < m->n_layers; k++) {
        const size_t n_in = m->sizes[k], n_out = m->sizes[k + 1];
        if (m->transposed)
            PDBN_FN(pdbn_gemm)(0, 0, rows, n_out, n_in, (real)1, in, ld, m->weights[k], n_out,
                               (real)0, out, n_out);
        else
            PDBN_FN(pdbn_gemm)(0, 1, rows, n_out, n_in, (real)1, in, ld, m->weights[k], n_in,
                               (real)0, out, n_out);
        PDBN_FN(pdbn_add_bias_rows)(rows, n_out, out, n_out, m->biases[k]);
        PDBN_FN(mlp_activate)(m->activations[k], rows * n_out, out);
        in = out;
        ld = n_out;
        if (k + 1 < m->n_layers) out += rows * n_out;
    }
    return out;
}

void PDBN_FN(pdbn_mlp_backward)(const PDBN_FN(pdbn_mlp) *m, const real *x, size_t ldx,
                                size_t rows, const real *acts, const real *dout,
                                real *const *gw, real *const *gb, real *scratch)
{
    const size_t L = m->n_layers, wmax = PDBN_FN(pdbn_mlp_max_width)(m);
    const real *a[PDBN_MLP_MAX_LAYERS];
    for (size_t k = 0, at = 0; k < L; at += rows * m->sizes[k + 1], k++) a[k] = acts + at;
    real *delta = scratch, *prev = scratch + rows * wmax;
    memcpy(delta, dout, rows * m->sizes[L] * sizeof(real));
    for (size_t k = L; k-- > 0;) {
        const size_t n_in = m->sizes[k], n_out = m->sizes[k + 1];
        PDBN_FN(mlp_derivative)(m->activations[k], rows * n_out, a[k], delta);
        const real *in = k > 0 ? a[k - 1] : x;
        const size_t ld = k > 0 ? n_in : ldx;
        if (m->transposed) /* gw[k] (n_in x n_out) = in' delta */
            PDBN_FN(pdbn_gemm)(1, 0, n_in, n_out, rows, (real)1, in, ld, delta, n_out, (real)0,
                               gw[k], n_out);
        else
            PDBN_FN(pdbn_gemm)(1, 0, n_out, n_in, rows, (real)1, delta, n_out, in, ld, (real)0,
                               gw[k], n_in);
        for (size_t j = 0; j < n_out; j++) gb[k][j] = 0;
        for (size_t r = 0; r < rows; r++)
            for (size_t j = 0; j < n_out; j++) gb[k][j] += delta[r * n_out + j];
        if (k == 0) break;
        if (m->transposed)
            PDBN_FN(pdbn_gemm)(0, 1, rows, n_in, n_out, (real)1, delta, n_out, m->weights[k], n_out,
                               (real)0, prev, n_in);
        else
            PDBN_FN(pdbn_gemm)(0, 0, rows, n_in, n_out, (real)1, delta, n_out, m->weights[k], n_in,
                               (real)0, prev, n_in);
        real *t = delta;
        delta = prev;
        prev = t;
    }
}
