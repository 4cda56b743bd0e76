/* Type-generic layered Boltzmann machine kernels (MPF, VPF); instantiated by vpf.c through
 * pdbn_tmpl.h. Layer k is h_k (h_0 = x); see pdbn_vpf.h for the energy. */

static int PDBN_FN(bm_check)(const PDBN_FN(pdbn_bm) *m, pdbn_error *err)
{
    PDBN_RETURN_IF(m == NULL || m->sizes == NULL || m->biases == NULL || m->lateral == NULL ||
                       (m->n_hidden_layers > 0 && m->weights == NULL),
                   err, PDBN_ERR_VALUE, "Boltzmann machine parameters are missing");
    const size_t L = m->n_hidden_layers;
    PDBN_RETURN_IF(L >= PDBN_BM_MAX_LAYERS, err, PDBN_ERR_VALUE,
                   "at most %d hidden layers", (int)PDBN_BM_MAX_LAYERS - 1);
    for (size_t k = 0; k <= L; k++) {
        PDBN_RETURN_IF(m->sizes[k] == 0 || m->sizes[k] > INT32_MAX, err, PDBN_ERR_VALUE,
                       "layer %zu has an invalid size", k);
        PDBN_RETURN_IF(m->biases[k] == NULL || (k < L && m->weights[k] == NULL), err,
                       PDBN_ERR_VALUE, "layer %zu is missing", k);
        const real *U = m->lateral[k];
        if (U == NULL) continue;
        const size_t n = m->sizes[k];
        for (size_t i = 0; i < n; i++) {
            PDBN_RETURN_IF(U[i * n + i] != 0, err, PDBN_ERR_VALUE,
                           "lateral weights of layer %zu have a nonzero diagonal", k);
            for (size_t j = i + 1; j < n; j++)
                PDBN_RETURN_IF(U[i * n + j] != U[j * n + i], err, PDBN_ERR_VALUE,
                               "lateral weights of layer %zu are not symmetric", k);
        }
    }
    return PDBN_OK;
}

static size_t PDBN_FN(bm_max_width)(const PDBN_FN(pdbn_bm) *m)
{
    size_t w = 0;
    for (size_t k = 0; k <= m->n_hidden_layers; k++) w = m->sizes[k] > w ? m->sizes[k] : w;
    return w;
}

/* out (rows x sizes[k], ld sizes[k]) = b_k + below W_{k-1}' + above W_k + same U_k; any of
 * below / above / same may be NULL (not counted). Every state array has ld = its layer size. */
static void PDBN_FN(bm_input)(const PDBN_FN(pdbn_bm) *m, size_t k, const real *below,
                              const real *above, const real *same, size_t rows, real *out)
{
    const size_t n = m->sizes[k];
    real beta = 0;
    if (k > 0 && below != NULL) {
        PDBN_FN(pdbn_gemm)(0, 1, rows, n, m->sizes[k - 1], (real)1, below, m->sizes[k - 1],
                           m->weights[k - 1], m->sizes[k - 1], beta, out, n);
        beta = 1;
    }
    if (k < m->n_hidden_layers && above != NULL) {
        PDBN_FN(pdbn_gemm)(0, 0, rows, n, m->sizes[k + 1], (real)1, above, m->sizes[k + 1],
                           m->weights[k], n, beta, out, n);
        beta = 1;
    }
    if (m->lateral[k] != NULL && same != NULL) {
        PDBN_FN(pdbn_gemm)(0, 0, rows, n, n, (real)1, same, n, m->lateral[k], n, beta, out, n);
        beta = 1;
    }
    if (beta == 0)
        for (size_t i = 0; i < rows * n; i++) out[i] = 0;
    PDBN_FN(pdbn_add_bias_rows)(rows, n, out, n, m->biases[k]);
}

static uint32_t PDBN_FN(bm_row_id)(const int64_t *ids, size_t first, size_t r)
{
    return (uint32_t)(ids != NULL ? (uint64_t)ids[first + r] : (uint64_t)(first + r));
}

/* One asynchronous sweep (text 003, Eq. 5) over layer k, units in index order:
 *   p_j = sigmoid(ext_j + sum_{i != j} U_ij h_i),   h_j ~ Bernoulli(p_j)
 * ext (rows x n) holds b_k plus the input from outside the layer; z (rows x n) is scratch. After
 * a unit changes by d, the lateral input of every unit moves by d U_j. (U has a zero diagonal,
 * so unit j's own input is unaffected.) Stream (seed, LATERAL, k, epoch, batch), one row of
 * words per state row, addressed by its row id. */
static void PDBN_FN(bm_sweep)(const PDBN_FN(pdbn_bm) *m, size_t k, const real *ext, real *h,
                              size_t rows, const int64_t *ids, size_t first, uint32_t seed,
                              uint32_t epoch, uint32_t batch, real *z, uint32_t *words)
{
    const size_t n = m->sizes[k];
    const real *U = m->lateral[k];
    memcpy(z, ext, rows * n * sizeof(real));
    PDBN_FN(pdbn_gemm)(0, 0, rows, n, n, (real)1, h, n, U, n, (real)1, z, n);
    const pdbn_stream s = pdbn_stream_at(seed, PDBN_RNG_LATERAL, (uint32_t)k, epoch, batch);
    for (size_t r = 0; r < rows; r++) {
        real *hr = h + r * n, *zr = z + r * n;
        pdbn_random_words(&s, PDBN_FN(bm_row_id)(ids, first, r), n, words);
        for (size_t j = 0; j < n; j++) {
            const real p = (real)1 / ((real)1 + PDBN_EXP(-zr[j]));
#if PDBN_IS_F32
            const real u = pdbn_uniform_f(words[j]);
#else
            const real u = pdbn_uniform_d(words[j]);
#endif
            const real v = u < p ? (real)1 : (real)0;
            const real d = v - hr[j];
            if (d != 0) {
                hr[j] = v;
                const real *Uj = U + j * n;
                for (size_t i = 0; i < n; i++) zr[i] += d * Uj[i];
            }
        }
    }
}

/* h (rows x n) ~ Bernoulli(sigmoid(pre)), pre kept; stream (seed, purpose, step, epoch, batch). */
static void PDBN_FN(bm_draw)(size_t rows, size_t n, const real *pre, real *h, const int64_t *ids,
                             size_t first, pdbn_stream s, uint32_t *words)
{
    memcpy(h, pre, rows * n * sizeof(real));
    PDBN_FN(pdbn_sigmoid_rows)(rows, n, h, n, NULL, (real)1);
    for (size_t r = 0; r < rows; r++) {
        pdbn_random_words(&s, PDBN_FN(bm_row_id)(ids, first, r), n, words);
        PDBN_FN(pdbn_bernoulli)(n, h + r * n, words, h + r * n);
    }
}

/* The E-step on a block: y[0] holds x (rows x n_0); y[k] (k >= 1) receive h_k ~ p(h_k | h_{k-1})
 * with no input from above, then one lateral sweep where U_k exists. ext and z: rows x max
 * width scratch. */
static void PDBN_FN(bm_upward)(const PDBN_FN(pdbn_bm) *m, real *const *y, size_t rows,
                               const int64_t *ids, size_t first, uint32_t seed, uint32_t epoch,
                               uint32_t batch, real *ext, real *z, uint32_t *words)
{
    for (size_t k = 1; k <= m->n_hidden_layers; k++) {
        const size_t n = m->sizes[k];
        PDBN_FN(bm_input)(m, k, y[k - 1], NULL, NULL, rows, ext);
        PDBN_FN(bm_draw)(rows, n, ext, y[k], ids, first,
                         pdbn_stream_at(seed, PDBN_RNG_HIDDEN, (uint32_t)k, epoch, batch), words);
        if (m->lateral[k] != NULL)
            PDBN_FN(bm_sweep)(m, k, ext, y[k], rows, ids, first, seed, epoch, batch, z, words);
    }
}

/* Units of all layers together, |V| of the text. The objective is the text's
 * K = (eps / N) sum_k sum_j delta_j^(k) with the free time constant eps = 1 / |V|: the mean flow
 * per unit. The choice sets how an L2 penalty weighs against the data; with it the text's
 * lambda = 1e-4 trains the text's MNIST networks well (with eps = 1 it lets DBM weights run
 * away). */
static size_t PDBN_FN(bm_units)(const PDBN_FN(pdbn_bm) *m)
{
    size_t u = 0;
    for (size_t k = 0; k <= m->n_hidden_layers; k++) u += m->sizes[k];
    return u;
}

/* MPF objective (sum over the block's rows, in double) and, when g != NULL, the gradient of the
 * summed objective into g[k] (rows x sizes[k]: alpha * delta) - the caller turns it into
 * parameter gradients. y: the block's states; g: scratch that receives z first. */
static double PDBN_FN(bm_flow)(const PDBN_FN(pdbn_bm) *m, real *const *y, size_t rows,
                               real *const *g)
{
    const size_t L = m->n_hidden_layers;
    double total = 0.0;
    for (size_t k = 0; k <= L; k++) {
        const size_t n = m->sizes[k];
        PDBN_FN(bm_input)(m, k, k > 0 ? y[k - 1] : NULL, k < L ? y[k + 1] : NULL, y[k], rows,
                          g[k]);
        real *gk = g[k];
        const real *yk = y[k];
        for (size_t r = 0; r < rows; r++) {
            real row = 0; /* one row in the element type (vectorizes), rows summed in double */
            for (size_t j = 0; j < n; j++) {
                const real a = (real)0.5 - yk[r * n + j];
                const real d = PDBN_EXP(a * gk[r * n + j]);
                row += d;
                gk[r * n + j] = a * d;
            }
            total += (double)row;
        }
    }
    return total;
}

/* Parameter gradients of (scale x the summed objective) from y and g = alpha * delta:
 *   dK/db_k = sum_rows g_k,  dK/dW_k = g_{k+1}' y_k + y_{k+1}' g_k,
 *   dK/dU_k = g_k' y_k + y_k' g_k with a zero diagonal. */
static void PDBN_FN(bm_param_grads)(const PDBN_FN(pdbn_bm) *m, real *const *y, real *const *g,
                                    size_t rows, real scale, real *const *gw, real *const *gl,
                                    real *const *gb)
{
    const size_t L = m->n_hidden_layers;
    for (size_t k = 0; k <= L; k++) {
        const size_t n = m->sizes[k];
        if (gb != NULL && gb[k] != NULL) {
            for (size_t j = 0; j < n; j++) gb[k][j] = 0;
            for (size_t r = 0; r < rows; r++)
                for (size_t j = 0; j < n; j++) gb[k][j] += g[k][r * n + j];
            for (size_t j = 0; j < n; j++) gb[k][j] *= scale;
        }
        if (m->lateral[k] != NULL && gl != NULL && gl[k] != NULL) {
            real *G = gl[k];
            PDBN_FN(pdbn_gemm)(1, 0, n, n, rows, scale, g[k], n, y[k], n, (real)0, G, n);
            for (size_t i = 0; i < n; i++) {
                G[i * n + i] = 0;
                for (size_t j = i + 1; j < n; j++) {
                    const real s = G[i * n + j] + G[j * n + i];
                    G[i * n + j] = s;
                    G[j * n + i] = s;
                }
            }
        }
        if (k < L && gw != NULL && gw[k] != NULL) {
            const size_t n1 = m->sizes[k + 1];
            PDBN_FN(pdbn_gemm)(1, 0, n1, n, rows, scale, g[k + 1], n1, y[k], n, (real)0, gw[k], n);
            PDBN_FN(pdbn_gemm)(1, 0, n1, n, rows, scale, y[k + 1], n1, g[k], n, (real)1, gw[k], n);
        }
    }
}

int PDBN_FN(pdbn_mpf)(const PDBN_FN(pdbn_bm) *m, real *const *states, size_t rows,
                      double *objective, real *const *grad_w, real *const *grad_lat,
                      real *const *grad_b, const pdbn_control *ctl, pdbn_error *err)
{
    PDBN_FORWARD(PDBN_FN(bm_check)(m, err));
    PDBN_RETURN_IF(states == NULL, err, PDBN_ERR_VALUE, "states are missing");
    const size_t L = m->n_hidden_layers;
    for (size_t k = 0; k <= L; k++)
        PDBN_RETURN_IF(states[k] == NULL, err, PDBN_ERR_VALUE, "states of layer %zu missing", k);
    PDBN_RETURN_IF(rows == 0, err, PDBN_ERR_VALUE, "MPF needs at least one row");
    size_t elems = 0;
    for (size_t k = 0; k <= L; k++) elems += rows * m->sizes[k];
    pdbn_ws ws;
    PDBN_FORWARD(pdbn_ws_alloc(&ws, pdbn_ws_piece(elems, sizeof(real)), err));
    real *g[PDBN_BM_MAX_LAYERS];
    real *mem = pdbn_ws_take(&ws, elems, sizeof(real));
    for (size_t k = 0, at = 0; k <= L; at += rows * m->sizes[k], k++) g[k] = mem + at;
    const double total = PDBN_FN(bm_flow)(m, states, rows, g);
    const double per = (double)rows * (double)PDBN_FN(bm_units)(m);
    *objective = total / per;
    PDBN_FN(bm_param_grads)(m, states, g, rows, (real)(1.0 / per), grad_w, grad_lat, grad_b);
    pdbn_ws_free(&ws);
    return pdbn_poll(ctl, err);
}

int PDBN_FN(pdbn_bm_lateral_sweep)(const PDBN_FN(pdbn_bm) *m, size_t k, const real *below,
                                   real *h, size_t rows, uint32_t seed, uint32_t epoch,
                                   const pdbn_control *ctl, pdbn_error *err)
{
    PDBN_FORWARD(PDBN_FN(bm_check)(m, err));
    PDBN_RETURN_IF(k < 1 || k > m->n_hidden_layers || m->lateral[k] == NULL, err,
                   PDBN_ERR_VALUE, "layer %zu has no lateral weights", k);
    if (rows == 0) return PDBN_OK;
    const size_t n = m->sizes[k];
    size_t need = 0;
    pdbn_ws_add(&need, pdbn_ws_piece(2 * rows * n, sizeof(real)));
    pdbn_ws_add(&need, pdbn_ws_piece(n, sizeof(uint32_t)));
    pdbn_ws ws;
    PDBN_FORWARD(pdbn_ws_alloc(&ws, need, err));
    real *ext = pdbn_ws_take(&ws, 2 * rows * n, sizeof(real)), *z = ext + rows * n;
    uint32_t *words = pdbn_ws_take(&ws, n, sizeof(uint32_t));
    PDBN_FN(bm_input)(m, k, below, NULL, NULL, rows, ext);
    PDBN_FN(bm_sweep)(m, k, ext, h, rows, NULL, 0, seed, epoch, 0, z, words);
    pdbn_ws_free(&ws);
    return pdbn_poll(ctl, err);
}

int PDBN_FN(pdbn_bm_infer)(const PDBN_FN(pdbn_bm) *m, const pdbn_source *data, uint32_t seed,
                           uint32_t epoch, real *const *out, const pdbn_control *ctl,
                           pdbn_error *err)
{
    PDBN_FORWARD(PDBN_FN(bm_check)(m, err));
    PDBN_FORWARD(pdbn_source_check(data, err));
    const size_t L = m->n_hidden_layers, n0 = m->sizes[0], wmax = PDBN_FN(bm_max_width)(m);
    PDBN_RETURN_IF(data->cols != n0, err, PDBN_ERR_VALUE, "data has %zu features, the model %zu",
                   data->cols, n0);
    PDBN_RETURN_IF(L < 1, err, PDBN_ERR_VALUE, "the E-step needs a hidden layer");
    const size_t B = PDBN_BM_BLOCK;
    size_t need = 0;
    pdbn_ws_add(&need, pdbn_ws_piece(B * n0, sizeof(real)));
    pdbn_ws_add(&need, pdbn_ws_piece(2 * B * wmax, sizeof(real)));
    pdbn_ws_add(&need, pdbn_ws_piece(wmax, sizeof(uint32_t)));
    pdbn_ws ws;
    PDBN_FORWARD(pdbn_ws_alloc(&ws, need, err));
    real *x = pdbn_ws_take(&ws, B * n0, sizeof(real));
    real *ext = pdbn_ws_take(&ws, 2 * B * wmax, sizeof(real)), *z = ext + B * wmax;
    uint32_t *words = pdbn_ws_take(&ws, wmax, sizeof(uint32_t));
    int st = PDBN_OK;
    for (size_t lo = 0; lo < data->rows && st == PDBN_OK; lo += B) {
        const size_t rows = data->rows - lo < B ? data->rows - lo : B;
        PDBN_FN(pdbn_source_gather)(data, NULL, lo, rows, x, n0);
        real *y[PDBN_BM_MAX_LAYERS];
        y[0] = x;
        for (size_t k = 1; k <= L; k++) y[k] = out[k - 1] + lo * m->sizes[k];
        PDBN_FN(bm_upward)(m, y, rows, NULL, lo, seed, epoch, 0, ext, z, words);
        st = pdbn_poll(ctl, err);
    }
    pdbn_ws_free(&ws);
    return st;
}

int PDBN_FN(pdbn_vpf_epoch)(const PDBN_FN(pdbn_bm) *m, const pdbn_vpf_train *cfg,
                            const pdbn_source *data, real *const *opt_w1, real *const *opt_w2,
                            real *const *opt_l1, real *const *opt_l2, real *const *opt_b1,
                            real *const *opt_b2, uint64_t *t, double *objective,
                            const pdbn_control *ctl, pdbn_error *err)
{
    PDBN_FORWARD(PDBN_FN(bm_check)(m, err));
    PDBN_FORWARD(pdbn_source_check(data, err));
    const size_t L = m->n_hidden_layers, n0 = m->sizes[0], wmax = PDBN_FN(bm_max_width)(m);
    PDBN_RETURN_IF(data->cols != n0, err, PDBN_ERR_VALUE, "data has %zu features, the model %zu",
                   data->cols, n0);
    PDBN_RETURN_IF(cfg->batch_size < 1 || cfg->batch_size > INT32_MAX / 2, err, PDBN_ERR_VALUE,
                   "batch_size must be in [1, 2^30)");
    PDBN_RETURN_IF(!(cfg->opt.learning_rate > 0.0) || !isfinite(cfg->opt.learning_rate), err,
                   PDBN_ERR_VALUE, "learning_rate must be positive and finite");
    PDBN_RETURN_IF(!(cfg->opt.weight_decay >= 0.0) || !isfinite(cfg->opt.weight_decay), err,
                   PDBN_ERR_VALUE, "weight_decay must be non-negative");
    for (size_t k = 0; k <= L; k++) {
        PDBN_RETURN_IF(opt_b1 == NULL || opt_b2 == NULL || opt_b1[k] == NULL || opt_b2[k] == NULL,
                       err, PDBN_ERR_VALUE, "optimizer state of the biases is missing");
        PDBN_RETURN_IF(k < L && (opt_w1 == NULL || opt_w2 == NULL || opt_w1[k] == NULL ||
                                 opt_w2[k] == NULL),
                       err, PDBN_ERR_VALUE, "optimizer state of the weights is missing");
        PDBN_RETURN_IF(m->lateral[k] != NULL && (opt_l1 == NULL || opt_l2 == NULL ||
                                                 opt_l1[k] == NULL || opt_l2[k] == NULL),
                       err, PDBN_ERR_VALUE, "optimizer state of the lateral weights is missing");
    }
    const size_t n = data->rows;
    *objective = 0.0;
    if (n == 0) return PDBN_OK;
    const size_t n_batches = (n + cfg->batch_size - 1) / cfg->batch_size;
    const size_t units = PDBN_FN(bm_units)(m);
    const size_t bmax = (n + n_batches - 1) / n_batches;

    /* every array the epoch writes, parameters first (their snapshot is also the E-step's
     * model: the parameters at the start of the epoch) */
    real *arrays[9 * PDBN_BM_MAX_LAYERS];
    size_t sizes[9 * PDBN_BM_MAX_LAYERS], n_arrays = 0, n_snap = 0, n_param = 0;
    size_t at_b[PDBN_BM_MAX_LAYERS], at_w[PDBN_BM_MAX_LAYERS], at_l[PDBN_BM_MAX_LAYERS];
    size_t state_elems = 0, grad_elems = 0;
    for (size_t k = 0; k <= L; k++) {
        const size_t nk = m->sizes[k];
        at_b[k] = n_param; n_param += nk;
        arrays[n_arrays] = m->biases[k]; sizes[n_arrays++] = nk;
        if (m->lateral[k] != NULL) {
            at_l[k] = n_param; n_param += nk * nk;
            arrays[n_arrays] = m->lateral[k]; sizes[n_arrays++] = nk * nk;
        }
        if (k < L) {
            at_w[k] = n_param; n_param += m->sizes[k + 1] * nk;
            arrays[n_arrays] = m->weights[k]; sizes[n_arrays++] = m->sizes[k + 1] * nk;
        }
        state_elems += bmax * nk;
    }
    grad_elems = n_param;
    for (size_t k = 0; k <= L; k++) {
        const size_t nk = m->sizes[k];
        arrays[n_arrays] = opt_b1[k]; sizes[n_arrays++] = nk;
        arrays[n_arrays] = opt_b2[k]; sizes[n_arrays++] = nk;
        if (m->lateral[k] != NULL) {
            arrays[n_arrays] = opt_l1[k]; sizes[n_arrays++] = nk * nk;
            arrays[n_arrays] = opt_l2[k]; sizes[n_arrays++] = nk * nk;
        }
        if (k < L) {
            arrays[n_arrays] = opt_w1[k]; sizes[n_arrays++] = m->sizes[k + 1] * nk;
            arrays[n_arrays] = opt_w2[k]; sizes[n_arrays++] = m->sizes[k + 1] * nk;
        }
    }
    for (size_t a = 0; a < n_arrays; a++) n_snap += sizes[a];

    size_t need = 0;
    pdbn_ws_add(&need, pdbn_ws_piece(n, sizeof(int64_t)));
    pdbn_ws_add(&need, pdbn_ws_piece(4096, sizeof(uint32_t)));
    pdbn_ws_add(&need, pdbn_ws_piece(wmax, sizeof(uint32_t)));
    pdbn_ws_add(&need, pdbn_ws_piece(2 * state_elems, sizeof(real)));
    pdbn_ws_add(&need, pdbn_ws_piece(2 * bmax * wmax, sizeof(real)));
    pdbn_ws_add(&need, pdbn_ws_piece(grad_elems, sizeof(real)));
    pdbn_ws_add(&need, pdbn_ws_piece(n_snap, sizeof(real)));
    pdbn_ws ws;
    PDBN_FORWARD(pdbn_ws_alloc(&ws, need, err));
    int64_t *perm = pdbn_ws_take(&ws, n, sizeof(int64_t));
    uint32_t *pwords = pdbn_ws_take(&ws, 4096, sizeof(uint32_t));
    uint32_t *words = pdbn_ws_take(&ws, wmax, sizeof(uint32_t));
    real *smem = pdbn_ws_take(&ws, 2 * state_elems, sizeof(real));
    real *ext = pdbn_ws_take(&ws, 2 * bmax * wmax, sizeof(real)), *z = ext + bmax * wmax;
    real *gmem = pdbn_ws_take(&ws, grad_elems, sizeof(real));
    real *snap = pdbn_ws_take(&ws, n_snap, sizeof(real));
    real *y[PDBN_BM_MAX_LAYERS], *g[PDBN_BM_MAX_LAYERS];
    real *gw[PDBN_BM_MAX_LAYERS], *gl[PDBN_BM_MAX_LAYERS], *gb[PDBN_BM_MAX_LAYERS];
    real *old_w[PDBN_BM_MAX_LAYERS], *old_l[PDBN_BM_MAX_LAYERS], *old_b[PDBN_BM_MAX_LAYERS];
    for (size_t k = 0, at = 0; k <= L; k++) {
        y[k] = smem + at;
        g[k] = smem + state_elems + at;
        at += bmax * m->sizes[k];
        gb[k] = gmem + at_b[k];
        old_b[k] = snap + at_b[k];
        gl[k] = m->lateral[k] != NULL ? gmem + at_l[k] : NULL;
        old_l[k] = m->lateral[k] != NULL ? snap + at_l[k] : NULL;
        gw[k] = k < L ? gmem + at_w[k] : NULL;
        old_w[k] = k < L ? snap + at_w[k] : NULL;
    }
    PDBN_FN(pdbn_arrays_save)(n_arrays, arrays, sizes, snap);
    const PDBN_FN(pdbn_bm) old = {L, m->sizes, old_w, old_l, old_b};
    const uint64_t t0 = *t;

    pdbn_stream shuffle = pdbn_stream_at(cfg->seed, PDBN_RNG_SHUFFLE, 0, cfg->epoch, 0);
    pdbn_permutation(&shuffle, n, perm, pwords);
    pdbn_optim_config bias_cfg = cfg->opt;
    bias_cfg.weight_decay = 0.0;
    double total = 0.0;
    int st = PDBN_OK;
    for (size_t bi = 0; bi < n_batches && st == PDBN_OK; bi++) {
        const size_t lo = bi * n / n_batches, hi = (bi + 1) * n / n_batches, b = hi - lo;
        PDBN_FN(pdbn_source_gather)(data, perm, lo, b, y[0], n0);
        /* E-step with the epoch's starting parameters, each row from its own random stream:
         * the same samples as an E-step over the whole data set before the epoch */
        PDBN_FN(bm_upward)(&old, y, b, perm, lo, cfg->seed, cfg->epoch, 0, ext, z, words);
        /* M-step: one optimizer step down the flow of (x, h) (the ascent direction is -grad) */
        const double per = (double)b * (double)units;
        total += PDBN_FN(bm_flow)(m, y, b, g) / per;
        PDBN_FN(bm_param_grads)(m, y, g, b, (real)(-1.0 / per), gw, gl, gb);
        *t += 1;
        for (size_t k = 0; k <= L; k++) {
            const size_t nk = m->sizes[k];
            PDBN_FN(pdbn_optim_step)(&bias_cfg, nk, m->biases[k], gb[k], opt_b1[k], opt_b2[k], *t);
            if (m->lateral[k] != NULL) {
                PDBN_FN(pdbn_optim_step)(&cfg->opt, nk * nk, m->lateral[k], gl[k], opt_l1[k],
                                         opt_l2[k], *t);
                for (size_t j = 0; j < nk; j++) m->lateral[k][j * nk + j] = 0;
            }
            if (k < L)
                PDBN_FN(pdbn_optim_step)(&cfg->opt, m->sizes[k + 1] * nk, m->weights[k], gw[k],
                                         opt_w1[k], opt_w2[k], *t);
        }
        if ((bi & 15) == 15 || bi + 1 == n_batches) {
            st = pdbn_poll(ctl, err);
            if (st == PDBN_OK && !PDBN_FN(pdbn_arrays_finite)(n_arrays, arrays, sizes)) {
                st = pdbn_fail(err, PDBN_ERR_NUMERIC,
                               "training diverged (non-finite parameters); the model was "
                               "restored to its state before this epoch: lower learning_rate");
            }
        }
    }
    if (st != PDBN_OK) {
        PDBN_FN(pdbn_arrays_restore)(n_arrays, arrays, sizes, snap);
        *t = t0;
    } else {
        *objective = total / (double)n_batches;
    }
    pdbn_ws_free(&ws);
    return st;
}

int PDBN_FN(pdbn_bm_generate)(const PDBN_FN(pdbn_bm) *m, size_t n, size_t r,
                              const real *top_prior, uint32_t seed, uint32_t epoch, int means,
                              real *out, const pdbn_control *ctl, pdbn_error *err)
{
    PDBN_FORWARD(PDBN_FN(bm_check)(m, err));
    const size_t L = m->n_hidden_layers, wmax = PDBN_FN(bm_max_width)(m);
    PDBN_RETURN_IF(L < 1, err, PDBN_ERR_VALUE, "generation needs a hidden layer");
    PDBN_RETURN_IF(r < 1 || r > UINT32_MAX - 2, err, PDBN_ERR_VALUE, "r must be at least 1");
    if (top_prior != NULL)
        for (size_t j = 0; j < m->sizes[L]; j++)
            PDBN_RETURN_IF(!(top_prior[j] >= 0 && top_prior[j] <= 1), err, PDBN_ERR_VALUE,
                           "the top prior must hold probabilities");
    const size_t B = PDBN_BM_BLOCK;
    size_t elems = 0;
    for (size_t k = 0; k <= L; k++) elems += B * m->sizes[k];
    size_t need = 0;
    pdbn_ws_add(&need, pdbn_ws_piece(elems, sizeof(real)));
    pdbn_ws_add(&need, pdbn_ws_piece(2 * B * wmax, sizeof(real)));
    pdbn_ws_add(&need, pdbn_ws_piece(wmax, sizeof(uint32_t)));
    pdbn_ws ws;
    PDBN_FORWARD(pdbn_ws_alloc(&ws, need, err));
    real *mem = pdbn_ws_take(&ws, elems, sizeof(real));
    real *ext = pdbn_ws_take(&ws, 2 * B * wmax, sizeof(real)), *z = ext + B * wmax;
    uint32_t *words = pdbn_ws_take(&ws, wmax, sizeof(uint32_t));
    real *h[PDBN_BM_MAX_LAYERS];
    for (size_t k = 0, at = 0; k <= L; at += B * m->sizes[k], k++) h[k] = mem + at;
    int st = PDBN_OK;
    for (size_t lo = 0; lo < n && st == PDBN_OK; lo += B) {
        const size_t rows = n - lo < B ? n - lo : B;
        /* h_L from the prior (Algorithm 2, line 1) */
        const size_t nL = m->sizes[L];
        for (size_t q = 0; q < rows; q++)
            for (size_t j = 0; j < nL; j++)
                ext[q * nL + j] = top_prior != NULL ? top_prior[j] : (real)0.5;
        {
            pdbn_stream s = pdbn_stream_at(seed, PDBN_RNG_INIT, (uint32_t)L, epoch, 0);
            for (size_t q = 0; q < rows; q++) {
                pdbn_random_words(&s, (uint32_t)(lo + q), nL, words);
                PDBN_FN(pdbn_bernoulli)(nL, ext + q * nL, words, h[L] + q * nL);
            }
        }
        for (size_t i = L; i >= 1; i--) {
            for (size_t step = 0; step < r; step++) {
                const uint32_t batch = (uint32_t)step + 1;
                /* h_{i-1} given h_i alone, h_i given h_{i-1} alone, then the lateral sweep */
                PDBN_FN(bm_input)(m, i - 1, NULL, h[i], NULL, rows, ext);
                PDBN_FN(bm_draw)(rows, m->sizes[i - 1], ext, h[i - 1], NULL, lo,
                                 pdbn_stream_at(seed, PDBN_RNG_GENERATIVE, (uint32_t)i, epoch,
                                                batch),
                                 words);
                PDBN_FN(bm_input)(m, i, h[i - 1], NULL, NULL, rows, ext);
                PDBN_FN(bm_draw)(rows, m->sizes[i], ext, h[i], NULL, lo,
                                 pdbn_stream_at(seed, PDBN_RNG_RECOGNITION, (uint32_t)i, epoch,
                                                batch),
                                 words);
                if (m->lateral[i] != NULL)
                    PDBN_FN(bm_sweep)(m, i, ext, h[i], rows, NULL, lo, seed, epoch, batch, z,
                                      words);
            }
            st = pdbn_poll(ctl, err);
            if (st != PDBN_OK) break;
        }
        if (st != PDBN_OK) break;
        /* the visible probabilities given the final h_1 (Algorithm 2, line 11) */
        const size_t n0 = m->sizes[0];
        real *o = out + lo * n0;
        PDBN_FN(bm_input)(m, 0, NULL, h[1], NULL, rows, o);
        PDBN_FN(pdbn_sigmoid_rows)(rows, n0, o, n0, NULL, (real)1);
        if (!means) {
            pdbn_stream s = pdbn_stream_at(seed, PDBN_RNG_VISIBLE, 0, epoch, 0);
            for (size_t q = 0; q < rows; q++) {
                pdbn_random_words(&s, (uint32_t)(lo + q), n0, words);
                PDBN_FN(pdbn_bernoulli)(n0, o + q * n0, words, o + q * n0);
            }
        }
    }
    pdbn_ws_free(&ws);
    return st;
}

int PDBN_FN(pdbn_bm_reconstruct)(const PDBN_FN(pdbn_bm) *m, const pdbn_source *data,
                                 const uint8_t *mask, size_t n_gibbs, uint32_t seed,
                                 uint32_t epoch, real *out, const pdbn_control *ctl,
                                 pdbn_error *err)
{
    PDBN_FORWARD(PDBN_FN(bm_check)(m, err));
    PDBN_FORWARD(pdbn_source_check(data, err));
    const size_t L = m->n_hidden_layers, n0 = m->sizes[0], wmax = PDBN_FN(bm_max_width)(m);
    PDBN_RETURN_IF(L < 1, err, PDBN_ERR_VALUE, "reconstruction needs a hidden layer");
    PDBN_RETURN_IF(data->cols != n0, err, PDBN_ERR_VALUE, "data has %zu features, the model %zu",
                   data->cols, n0);
    PDBN_RETURN_IF(n_gibbs < 1 || n_gibbs > UINT32_MAX - 2, err, PDBN_ERR_VALUE,
                   "n_gibbs must be at least 1");
    const size_t B = PDBN_BM_BLOCK;
    size_t elems = 0;
    for (size_t k = 0; k <= L; k++) elems += B * m->sizes[k];
    size_t need = 0;
    pdbn_ws_add(&need, pdbn_ws_piece(elems + B * n0, sizeof(real)));
    pdbn_ws_add(&need, pdbn_ws_piece(2 * B * wmax, sizeof(real)));
    pdbn_ws_add(&need, pdbn_ws_piece(wmax, sizeof(uint32_t)));
    pdbn_ws ws;
    PDBN_FORWARD(pdbn_ws_alloc(&ws, need, err));
    real *mem = pdbn_ws_take(&ws, elems + B * n0, sizeof(real));
    real *ext = pdbn_ws_take(&ws, 2 * B * wmax, sizeof(real)), *z = ext + B * wmax;
    uint32_t *words = pdbn_ws_take(&ws, wmax, sizeof(uint32_t));
    real *y[PDBN_BM_MAX_LAYERS];
    for (size_t k = 0, at = 0; k <= L; at += B * m->sizes[k], k++) y[k] = mem + at;
    real *prob = mem + elems;
    int st = PDBN_OK;
    for (size_t lo = 0; lo < data->rows && st == PDBN_OK; lo += B) {
        const size_t rows = data->rows - lo < B ? data->rows - lo : B;
        real *o = out + lo * n0;
        PDBN_FN(pdbn_source_gather)(data, NULL, lo, rows, o, n0); /* the known entries */
        memcpy(y[0], o, rows * n0 * sizeof(real));
        for (size_t it = 0; it < n_gibbs; it++) {
            const uint32_t batch = (uint32_t)it + 1;
            PDBN_FN(bm_upward)(m, y, rows, NULL, lo, seed, epoch, batch, ext, z, words);
            /* p(v | h_1) (the input from h_1 alone: v has no layer below) */
            PDBN_FN(bm_input)(m, 0, NULL, y[1], NULL, rows, prob);
            PDBN_FN(pdbn_sigmoid_rows)(rows, n0, prob, n0, NULL, (real)1);
            pdbn_stream s = pdbn_stream_at(seed, PDBN_RNG_VISIBLE, 0, epoch, batch);
            for (size_t q = 0; q < rows; q++) {
                const uint8_t *mq = mask + (lo + q) * n0;
                real *yq = y[0] + q * n0;
                const real *pq = prob + q * n0;
                pdbn_random_words(&s, (uint32_t)(lo + q), n0, words);
                for (size_t i = 0; i < n0; i++) {
                    if (!mq[i]) continue;
#if PDBN_IS_F32
                    yq[i] = pdbn_uniform_f(words[i]) < pq[i] ? (real)1 : (real)0;
#else
                    yq[i] = pdbn_uniform_d(words[i]) < pq[i] ? (real)1 : (real)0;
#endif
                }
            }
        }
        for (size_t q = 0; q < rows; q++)
            for (size_t i = 0; i < n0; i++)
                if (mask[(lo + q) * n0 + i]) o[q * n0 + i] = prob[q * n0 + i];
        st = pdbn_poll(ctl, err);
    }
    pdbn_ws_free(&ws);
    return st;
}
