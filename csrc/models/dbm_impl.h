/* Type-generic DBM algorithms; instantiated by dbm.c through pdbn_tmpl.h.
 * Layer k is h_k (h_0 = v); W_k joins h_k and h_{k+1}. Mean-field arrays mu[k - 1] hold the
 * hidden layers k = 1..L. */

static int PDBN_FN(dbm_check)(const PDBN_FN(pdbn_dbm) *m, pdbn_error *err)
{
    PDBN_RETURN_IF(m == NULL || m->sizes == NULL || m->weights == NULL || m->biases == NULL,
                   err, PDBN_ERR_VALUE, "DBM parameters are missing");
    const size_t L = m->n_hidden_layers;
    PDBN_RETURN_IF(L < 1 || L > PDBN_DBM_MAX_LAYERS, err, PDBN_ERR_VALUE,
                   "a DBM has 1 to %d hidden layers", (int)PDBN_DBM_MAX_LAYERS);
    for (size_t k = 0; k <= L; k++) {
        PDBN_RETURN_IF(m->sizes[k] == 0 || m->sizes[k] > INT32_MAX, err, PDBN_ERR_VALUE,
                       "layer %zu has an invalid size", k);
        PDBN_RETURN_IF(m->biases[k] == NULL || (k < L && m->weights[k] == NULL), err,
                       PDBN_ERR_VALUE, "DBM layer %zu is missing", k);
    }
    return PDBN_OK;
}

static size_t PDBN_FN(dbm_max_width)(const PDBN_FN(pdbn_dbm) *m)
{
    size_t w = 0;
    for (size_t k = 0; k <= m->n_hidden_layers; k++) w = m->sizes[k] > w ? m->sizes[k] : w;
    return w;
}

/* out (rows x sizes[k]) = b_k + sb * below W_{k-1}' + sa * above W_k, either neighbour may
 * be NULL (absent, or not counted); below / above have leading dimensions ldb / lda. */
static void PDBN_FN(dbm_input)(const PDBN_FN(pdbn_dbm) *m, size_t k, const real *below,
                               size_t ldb, real sb, const real *above, size_t lda, real sa,
                               size_t rows, real *out)
{
    const size_t n = m->sizes[k];
    real beta = 0;
    if (k > 0 && below != NULL) {
        PDBN_FN(pdbn_gemm)(0, 1, rows, n, m->sizes[k - 1], sb, below, ldb, m->weights[k - 1],
                           m->sizes[k - 1], beta, out, n);
        beta = 1;
    }
    if (k < m->n_hidden_layers && above != NULL) {
        PDBN_FN(pdbn_gemm)(0, 0, rows, n, m->sizes[k + 1], sa, above, lda, m->weights[k], n, beta,
                           out, n);
        beta = 1;
    }
    if (beta == 0)
        for (size_t i = 0; i < rows * n; i++) out[i] = 0;
    PDBN_FN(pdbn_add_bias_rows)(rows, n, out, n, m->biases[k]);
}

/* Mean field for one block of rows (v with leading dimension ldv); tmp holds rows x max
 * width. Returns the sweeps taken. */
static size_t PDBN_FN(dbm_mf_block)(const PDBN_FN(pdbn_dbm) *m, const real *v, size_t ldv,
                                    size_t rows, real *const *mu, size_t n_iter, double tol,
                                    real *tmp)
{
    const size_t L = m->n_hidden_layers;
    /* start: a bottom-up pass, doubling the input of every layer that also has a layer above
     * (it stands in for the missing top-down input; Salakhutdinov & Hinton 2009, Sec. 3.1) */
    for (size_t k = 1; k <= L; k++) {
        const real *below = k == 1 ? v : mu[k - 2];
        PDBN_FN(dbm_input)(m, k, below, k == 1 ? ldv : m->sizes[k - 1], (real)(k < L ? 2 : 1),
                           NULL, 0, 0, rows, mu[k - 1]);
        PDBN_FN(pdbn_sigmoid_rows)(rows, m->sizes[k], mu[k - 1], m->sizes[k], NULL, (real)1);
    }
    size_t sweeps = 0;
    while (sweeps < n_iter) {
        double delta = 0.0;
        for (size_t k = 1; k <= L; k++) {
            const size_t n = m->sizes[k];
            const real *below = k == 1 ? v : mu[k - 2];
            PDBN_FN(dbm_input)(m, k, below, k == 1 ? ldv : m->sizes[k - 1], (real)1,
                               k < L ? mu[k] : NULL, k < L ? m->sizes[k + 1] : 0, (real)1, rows,
                               tmp);
            PDBN_FN(pdbn_sigmoid_rows)(rows, n, tmp, n, NULL, (real)1);
            real *mk = mu[k - 1];
            for (size_t i = 0; i < rows * n; i++) {
                const double d = fabs((double)tmp[i] - (double)mk[i]);
                delta = d > delta ? d : delta;
                mk[i] = tmp[i];
            }
        }
        sweeps++;
        if (delta < tol) break;
    }
    return sweeps;
}

int PDBN_FN(pdbn_dbm_mean_field)(const PDBN_FN(pdbn_dbm) *m, const pdbn_source *data,
                                 size_t n_iter, double tol, real *const *mu, size_t *sweeps,
                                 const pdbn_control *ctl, pdbn_error *err)
{
    enum { CH = 512 };
    PDBN_FORWARD(PDBN_FN(dbm_check)(m, err));
    PDBN_FORWARD(pdbn_source_check(data, err));
    const size_t L = m->n_hidden_layers, n0 = m->sizes[0], wmax = PDBN_FN(dbm_max_width)(m);
    PDBN_RETURN_IF(data->cols != n0, err, PDBN_ERR_VALUE, "data has %zu features, the model %zu",
                   data->cols, n0);
    PDBN_RETURN_IF(n_iter < 1, err, PDBN_ERR_VALUE, "at least one mean-field sweep is needed");
    PDBN_RETURN_IF(!(tol >= 0.0), err, PDBN_ERR_VALUE, "mean_field_tol must be non-negative");
    size_t need = 0;
    pdbn_ws_add(&need, pdbn_ws_piece(CH * n0, sizeof(real)));
    pdbn_ws_add(&need, pdbn_ws_piece(CH * wmax, sizeof(real)));
    pdbn_ws ws;
    PDBN_FORWARD(pdbn_ws_alloc(&ws, need, err));
    real *scratch = pdbn_ws_take(&ws, CH * n0, sizeof(real));
    real *tmp = pdbn_ws_take(&ws, CH * wmax, sizeof(real));
    real *block[PDBN_DBM_MAX_LAYERS];
    size_t most = 0;
    int st = PDBN_OK;
    for (size_t r0 = 0; r0 < data->rows && st == PDBN_OK; r0 += CH) {
        size_t rows = data->rows - r0 < CH ? data->rows - r0 : CH, ld;
        const real *v = PDBN_FN(pdbn_source_block)(data, r0, rows, scratch, &ld);
        for (size_t k = 1; k <= L; k++) block[k - 1] = mu[k - 1] + r0 * m->sizes[k];
        size_t s = PDBN_FN(dbm_mf_block)(m, v, ld, rows, block, n_iter, tol, tmp);
        most = s > most ? s : most;
        st = pdbn_poll(ctl, err);
    }
    if (sweeps != NULL) *sweeps = most;
    pdbn_ws_free(&ws);
    return st;
}

/* Samples layer k of every chain from its neighbours' states (rows x sizes[k]); words holds
 * sizes[k] entries. Row r uses stream row r. */
static void PDBN_FN(dbm_gibbs_layer)(const PDBN_FN(pdbn_dbm) *m, size_t k, real *const *h,
                                     size_t rows, const pdbn_stream *s, real *pre,
                                     uint32_t *words)
{
    const size_t L = m->n_hidden_layers, n = m->sizes[k];
    PDBN_FN(dbm_input)(m, k, k > 0 ? h[k - 1] : NULL, k > 0 ? m->sizes[k - 1] : 0, (real)1,
                       k < L ? h[k + 1] : NULL, k < L ? m->sizes[k + 1] : 0, (real)1, rows, pre);
    PDBN_FN(pdbn_sigmoid_rows)(rows, n, pre, n, NULL, (real)1);
    for (size_t r = 0; r < rows; r++) {
        pdbn_random_words(s, (uint32_t)r, n, words);
        PDBN_FN(pdbn_bernoulli)(n, pre + r * n, words, h[k] + r * n);
    }
}

/* One block-Gibbs sweep of every chain: the odd layers given the even ones, then the even
 * layers given the odd ones (text 002: "Gibbs sampling can be divided into two blocks"). */
static void PDBN_FN(dbm_sweep)(const PDBN_FN(pdbn_dbm) *m, real *const *h, size_t rows,
                               uint32_t seed, uint32_t step, uint32_t epoch, uint32_t batch,
                               real *pre, uint32_t *words)
{
    const size_t L = m->n_hidden_layers;
    for (size_t parity = 1; parity <= 2; parity++)
        for (size_t k = parity % 2; k <= L; k += 2) {
            pdbn_stream s = pdbn_stream_at(seed, PDBN_RNG_HIDDEN, step * (uint32_t)(L + 1) + (uint32_t)k,
                                           epoch, batch);
            PDBN_FN(dbm_gibbs_layer)(m, k, h, rows, &s, pre, words);
        }
}

static double PDBN_FN(dbm_now)(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int PDBN_FN(pdbn_dbm_epoch)(const PDBN_FN(pdbn_dbm) *m, const pdbn_dbm_train *cfg,
                            const pdbn_source *data, real *const *chains, size_t n_chains,
                            real *const *vel_w, real *const *vel_b, pdbn_dbm_stats *stats,
                            const pdbn_control *ctl, pdbn_error *err)
{
    PDBN_FORWARD(PDBN_FN(dbm_check)(m, err));
    PDBN_FORWARD(pdbn_source_check(data, err));
    const size_t L = m->n_hidden_layers, n0 = m->sizes[0], wmax = PDBN_FN(dbm_max_width)(m);
    PDBN_RETURN_IF(data->cols != n0, err, PDBN_ERR_VALUE, "data has %zu features, the model %zu",
                   data->cols, n0);
    PDBN_RETURN_IF(cfg->k < 1, err, PDBN_ERR_VALUE, "k must be at least 1");
    PDBN_RETURN_IF(cfg->batch_size < 1 || cfg->batch_size > INT32_MAX / 2, err, PDBN_ERR_VALUE,
                   "batch_size must be in [1, 2^30)");
    PDBN_RETURN_IF(n_chains < 1 || n_chains > INT32_MAX / 2, err, PDBN_ERR_VALUE,
                   "n_chains must be in [1, 2^30)");
    PDBN_RETURN_IF(cfg->n_mean_field < 1, err, PDBN_ERR_VALUE, "n_mean_field must be >= 1");
    PDBN_RETURN_IF(!(cfg->mean_field_tol >= 0.0), err, PDBN_ERR_VALUE,
                   "mean_field_tol must be non-negative");
    PDBN_RETURN_IF(!(cfg->learning_rate > 0.0) || !isfinite(cfg->learning_rate), err,
                   PDBN_ERR_VALUE, "learning_rate must be positive and finite");
    PDBN_RETURN_IF(!(cfg->momentum >= 0.0 && cfg->momentum < 1.0), err, PDBN_ERR_VALUE,
                   "momentum must be in [0, 1)");
    PDBN_RETURN_IF(!(cfg->weight_decay >= 0.0) || !isfinite(cfg->weight_decay), err,
                   PDBN_ERR_VALUE, "weight_decay must be non-negative");
    const int mom = cfg->momentum > 0.0;
    PDBN_RETURN_IF(chains == NULL, err, PDBN_ERR_VALUE, "the persistent chains are missing");
    for (size_t k = 0; k <= L; k++) {
        PDBN_RETURN_IF(chains[k] == NULL, err, PDBN_ERR_VALUE, "chains of layer %zu missing", k);
        PDBN_RETURN_IF(mom && (vel_w == NULL || vel_b == NULL || vel_b[k] == NULL ||
                               (k < L && vel_w[k] == NULL)),
                       err, PDBN_ERR_VALUE, "momentum needs the velocity arrays");
    }
    const size_t n = data->rows;
    if (n == 0) return PDBN_OK;
    const size_t n_batches = (n + cfg->batch_size - 1) / cfg->batch_size;
    const size_t bmax = (n + n_batches - 1) / n_batches;
    const size_t M = n_chains;

    real *arrays[4 * PDBN_DBM_MAX_LAYERS + 4];
    size_t sizes[4 * PDBN_DBM_MAX_LAYERS + 4], n_arrays = 0, n_snap = 0, mu_elems = 0;
    for (size_t k = 0; k <= L; k++) {
        const size_t nk = m->sizes[k];
        arrays[n_arrays] = m->biases[k]; sizes[n_arrays++] = nk;
        arrays[n_arrays] = chains[k]; sizes[n_arrays++] = M * nk;
        if (mom) { arrays[n_arrays] = vel_b[k]; sizes[n_arrays++] = nk; }
        if (k < L) {
            arrays[n_arrays] = m->weights[k]; sizes[n_arrays++] = m->sizes[k + 1] * nk;
            if (mom) { arrays[n_arrays] = vel_w[k]; sizes[n_arrays++] = m->sizes[k + 1] * nk; }
        }
        if (k > 0) mu_elems += bmax * nk;
    }
    for (size_t a = 0; a < n_arrays; a++) n_snap += sizes[a];

    size_t need = 0;
    pdbn_ws_add(&need, pdbn_ws_piece(n, sizeof(int64_t)));
    pdbn_ws_add(&need, pdbn_ws_piece(4096, sizeof(uint32_t)));
    pdbn_ws_add(&need, pdbn_ws_piece(wmax, sizeof(uint32_t)));
    pdbn_ws_add(&need, pdbn_ws_piece(bmax * n0, sizeof(real)));
    pdbn_ws_add(&need, pdbn_ws_piece(mu_elems, sizeof(real)));
    pdbn_ws_add(&need, pdbn_ws_piece((bmax > M ? bmax : M) * wmax, sizeof(real)));
    pdbn_ws_add(&need, pdbn_ws_piece(2 * wmax, sizeof(real)));
    pdbn_ws_add(&need, pdbn_ws_piece(n_snap, sizeof(real)));
    pdbn_ws ws;
    PDBN_FORWARD(pdbn_ws_alloc(&ws, need, err));
    int64_t *perm = pdbn_ws_take(&ws, n, sizeof(int64_t));
    uint32_t *pwords = pdbn_ws_take(&ws, 4096, sizeof(uint32_t));
    uint32_t *words = pdbn_ws_take(&ws, wmax, sizeof(uint32_t));
    real *v = pdbn_ws_take(&ws, bmax * n0, sizeof(real));
    real *mu_mem = pdbn_ws_take(&ws, mu_elems, sizeof(real));
    real *tmp = pdbn_ws_take(&ws, (bmax > M ? bmax : M) * wmax, sizeof(real));
    real *gpos = pdbn_ws_take(&ws, 2 * wmax, sizeof(real)), *gneg = gpos + wmax;
    real *snap = pdbn_ws_take(&ws, n_snap, sizeof(real));
    real *mu[PDBN_DBM_MAX_LAYERS + 1], *pos[PDBN_DBM_MAX_LAYERS + 1];
    for (size_t k = 1, at = 0; k <= L; at += bmax * m->sizes[k], k++) mu[k - 1] = mu_mem + at;
    PDBN_FN(pdbn_arrays_save)(n_arrays, arrays, sizes, snap);

    pdbn_stream shuffle = pdbn_stream_at(cfg->seed, PDBN_RNG_SHUFFLE, 0, cfg->epoch, 0);
    pdbn_permutation(&shuffle, n, perm, pwords);
    const double lr = cfg->learning_rate;
    const real keep = (real)(1.0 - lr * cfg->weight_decay);
    double t_mf = 0.0, t_gibbs = 0.0, t_upd = 0.0, total_sweeps = 0.0;
    int st = PDBN_OK;
    for (size_t bi = 0; bi < n_batches && st == PDBN_OK; bi++) {
        const size_t lo = bi * n / n_batches, hi = (bi + 1) * n / n_batches, b = hi - lo;
        const double t0 = PDBN_FN(dbm_now)();
        PDBN_FN(pdbn_source_gather)(data, perm, lo, b, v, n0);
        /* positive phase: the mean-field posterior of the minibatch */
        total_sweeps += (double)PDBN_FN(dbm_mf_block)(m, v, n0, b, mu, cfg->n_mean_field,
                                                      cfg->mean_field_tol, tmp);
        const double t1 = PDBN_FN(dbm_now)();
        /* negative phase: k sweeps of the persistent chains */
        for (unsigned s = 0; s < cfg->k; s++)
            PDBN_FN(dbm_sweep)(m, chains, M, cfg->seed, s, cfg->epoch, (uint32_t)bi, tmp, words);
        const double t2 = PDBN_FN(dbm_now)();
        /* W_k += lr (mu_{k+1}' mu_k / b - h~_{k+1}' h~_k / M) - lr wd W_k (Algorithm 20.1; its
         * negative statistic pairs the chains' states, V~' H~, where the extracted text shows V) */
        pos[0] = v;
        for (size_t k = 1; k <= L; k++) pos[k] = mu[k - 1];
        for (size_t k = 0; k <= L; k++) {
            const size_t nk = m->sizes[k];
            for (size_t i = 0; i < nk; i++) gpos[i] = gneg[i] = 0;
            for (size_t r = 0; r < b; r++)
                for (size_t i = 0; i < nk; i++) gpos[i] += pos[k][r * nk + i];
            for (size_t r = 0; r < M; r++)
                for (size_t i = 0; i < nk; i++) gneg[i] += chains[k][r * nk + i];
            for (size_t i = 0; i < nk; i++)
                gpos[i] = gpos[i] / (real)b - gneg[i] / (real)M;
            PDBN_FN(pdbn_sgd_step)(nk, m->biases[k], gpos, mom ? vel_b[k] : NULL, lr,
                                   cfg->momentum, 0.0);
            if (k == L) break;
            const size_t n1 = m->sizes[k + 1];
            real *target = mom ? vel_w[k] : m->weights[k];
            if (mom) {
                const real mu_ = (real)cfg->momentum, decay = (real)(lr * cfg->weight_decay);
                for (size_t i = 0; i < n1 * nk; i++) target[i] = mu_ * target[i] - decay * m->weights[k][i];
            }
            PDBN_FN(pdbn_gemm)(1, 0, n1, nk, b, (real)(lr / (double)b), pos[k + 1], n1, pos[k], nk,
                               mom ? (real)1 : keep, target, nk);
            PDBN_FN(pdbn_gemm)(1, 0, n1, nk, M, (real)(-lr / (double)M), chains[k + 1], n1,
                               chains[k], nk, (real)1, target, nk);
            if (mom)
                for (size_t i = 0; i < n1 * nk; i++) m->weights[k][i] += target[i];
        }
        t_mf += t1 - t0;
        t_gibbs += t2 - t1;
        t_upd += PDBN_FN(dbm_now)() - t2;
        st = pdbn_poll(ctl, err);
    }
    if (st == PDBN_OK && !PDBN_FN(pdbn_arrays_finite)(n_arrays, arrays, sizes))
        st = pdbn_fail(err, PDBN_ERR_NUMERIC,
                       "training diverged (non-finite parameters); the model was restored to "
                       "its state before this epoch: lower learning_rate");
    if (st != PDBN_OK) {
        PDBN_FN(pdbn_arrays_restore)(n_arrays, arrays, sizes, snap);
    } else if (stats != NULL) {
        stats->mean_field_sweeps = total_sweeps / (double)n_batches;
        stats->mean_field_seconds = t_mf;
        stats->gibbs_seconds = t_gibbs;
        stats->update_seconds = t_upd;
    }
    pdbn_ws_free(&ws);
    return st;
}

int PDBN_FN(pdbn_dbm_bound)(const PDBN_FN(pdbn_dbm) *m, const pdbn_source *data, size_t n_iter,
                            double tol, double log_z, double *out, const pdbn_control *ctl,
                            pdbn_error *err)
{
    enum { CH = 512 };
    PDBN_FORWARD(PDBN_FN(dbm_check)(m, err));
    PDBN_FORWARD(pdbn_source_check(data, err));
    const size_t L = m->n_hidden_layers, n0 = m->sizes[0], wmax = PDBN_FN(dbm_max_width)(m);
    PDBN_RETURN_IF(data->cols != n0, err, PDBN_ERR_VALUE, "data has %zu features, the model %zu",
                   data->cols, n0);
    PDBN_RETURN_IF(n_iter < 1, err, PDBN_ERR_VALUE, "at least one mean-field sweep is needed");
    PDBN_RETURN_IF(!(tol >= 0.0), err, PDBN_ERR_VALUE, "mean_field_tol must be non-negative");
    PDBN_RETURN_IF(!isfinite(log_z), err, PDBN_ERR_VALUE, "log_z must be finite");
    size_t need = 0, mu_elems = 0;
    for (size_t k = 1; k <= L; k++) mu_elems += CH * m->sizes[k];
    pdbn_ws_add(&need, pdbn_ws_piece(CH * n0, sizeof(real)));
    pdbn_ws_add(&need, pdbn_ws_piece(CH * wmax, sizeof(real)));
    pdbn_ws_add(&need, pdbn_ws_piece(mu_elems, sizeof(real)));
    pdbn_ws ws;
    PDBN_FORWARD(pdbn_ws_alloc(&ws, need, err));
    real *scratch = pdbn_ws_take(&ws, CH * n0, sizeof(real));
    real *tmp = pdbn_ws_take(&ws, CH * wmax, sizeof(real));
    real *mem = pdbn_ws_take(&ws, mu_elems, sizeof(real));
    real *mu[PDBN_DBM_MAX_LAYERS];
    for (size_t k = 1, at = 0; k <= L; at += CH * m->sizes[k], k++) mu[k - 1] = mem + at;
    int st = PDBN_OK;
    for (size_t r0 = 0; r0 < data->rows && st == PDBN_OK; r0 += CH) {
        size_t rows = data->rows - r0 < CH ? data->rows - r0 : CH, ld;
        const real *v = PDBN_FN(pdbn_source_block)(data, r0, rows, scratch, &ld);
        PDBN_FN(dbm_mf_block)(m, v, ld, rows, mu, n_iter, tol, tmp);
        for (size_t r = 0; r < rows; r++) out[r0 + r] = PDBN_FN(pdbn_dot_acc)(n0, m->biases[0], v + r * ld);
        /* -E_Q[E] = sum_k b_k.mu_k + sum_k mu_{k+1}' W_k mu_k; then H(Q) */
        for (size_t k = 0; k < L; k++) {
            const size_t nk = m->sizes[k], n1 = m->sizes[k + 1];
            const real *lower = k == 0 ? v : mu[k - 1];
            const size_t ldl = k == 0 ? ld : nk;
            PDBN_FN(pdbn_gemm)(0, 1, rows, n1, nk, (real)1, lower, ldl, m->weights[k], nk, (real)0, tmp, n1);
            for (size_t r = 0; r < rows; r++) {
                const real *u = mu[k] + r * n1;
                double t = PDBN_FN(pdbn_dot_acc)(n1, u, tmp + r * n1) +
                           PDBN_FN(pdbn_dot_acc)(n1, u, m->biases[k + 1]);
                for (size_t j = 0; j < n1; j++) {
                    const double p = (double)u[j];
                    if (p > 0.0) t -= p * log(p);
                    if (p < 1.0) t -= (1.0 - p) * log1p(-p);
                }
                out[r0 + r] += t;
            }
        }
        for (size_t r = 0; r < rows; r++) out[r0 + r] -= log_z;
        st = pdbn_poll(ctl, err);
    }
    pdbn_ws_free(&ws);
    return st;
}

int PDBN_FN(pdbn_dbm_sample)(const PDBN_FN(pdbn_dbm) *m, size_t n_samples, size_t n_gibbs,
                             uint32_t seed, uint32_t epoch, int means, real *out,
                             const pdbn_control *ctl, pdbn_error *err)
{
    enum { CH = 256 };
    PDBN_FORWARD(PDBN_FN(dbm_check)(m, err));
    PDBN_RETURN_IF(n_gibbs < 1 || n_gibbs > (1u << 20), err, PDBN_ERR_VALUE,
                   "n_gibbs must be in [1, 2^20]");
    const size_t L = m->n_hidden_layers, n0 = m->sizes[0], wmax = PDBN_FN(dbm_max_width)(m);
    size_t need = 0, elems = 0;
    for (size_t k = 1; k <= L; k++) elems += CH * m->sizes[k];
    pdbn_ws_add(&need, pdbn_ws_piece(elems, sizeof(real)));
    pdbn_ws_add(&need, pdbn_ws_piece(CH * wmax, sizeof(real)));
    pdbn_ws_add(&need, pdbn_ws_piece(wmax, sizeof(uint32_t)));
    pdbn_ws ws;
    PDBN_FORWARD(pdbn_ws_alloc(&ws, need, err));
    real *mem = pdbn_ws_take(&ws, elems, sizeof(real));
    real *pre = pdbn_ws_take(&ws, CH * wmax, sizeof(real));
    uint32_t *words = pdbn_ws_take(&ws, wmax, sizeof(uint32_t));
    real *h[PDBN_DBM_MAX_LAYERS + 1];
    int st = PDBN_OK;
    for (size_t r0 = 0; r0 < n_samples && st == PDBN_OK; r0 += CH) {
        const size_t rows = n_samples - r0 < CH ? n_samples - r0 : CH;
        const uint32_t chunk = (uint32_t)(r0 / CH);
        h[0] = out + r0 * n0;
        for (size_t k = 1, at = 0; k <= L; at += CH * m->sizes[k], k++) h[k] = mem + at;
        /* start: every layer uniformly random */
        for (size_t k = 0; k <= L; k++) {
            pdbn_stream s0 = pdbn_stream_at(seed, PDBN_RNG_INIT, (uint32_t)k, epoch, chunk);
            for (size_t r = 0; r < rows; r++) {
                pdbn_random_words(&s0, (uint32_t)r, m->sizes[k], words);
                for (size_t i = 0; i < m->sizes[k]; i++) h[k][r * m->sizes[k] + i] = (real)(words[i] >> 31);
            }
        }
        for (size_t s = 0; s < n_gibbs && st == PDBN_OK; s++) {
            PDBN_FN(dbm_sweep)(m, h, rows, seed, (uint32_t)s, epoch, chunk, pre, words);
            if ((s & 15) == 15) st = pdbn_poll(ctl, err);
        }
        if (means && st == PDBN_OK) {
            /* p(v | h_1) of the final state */
            PDBN_FN(dbm_input)(m, 0, NULL, 0, (real)0, h[1], m->sizes[1], (real)1, rows, h[0]);
            PDBN_FN(pdbn_sigmoid_rows)(rows, n0, h[0], n0, NULL, (real)1);
        }
    }
    pdbn_ws_free(&ws);
    return st;
}

/* log sum over the free states of exp(-E) with the layers of parity `parity` enumerated and
 * the others summed analytically (given their neighbours they are independent Bernoulli
 * layers); the visible layer is clamped to v when v is not NULL. h holds one row per layer
 * (sizes[k] each) and pre max-width scratch. */
static double PDBN_FN(dbm_enum_lse)(const PDBN_FN(pdbn_dbm) *m, size_t parity, const real *v,
                                    real *const *h, real *pre)
{
    const size_t L = m->n_hidden_layers;
    size_t bits = 0;
    for (size_t k = parity; k <= L; k += 2)
        if (!(k == 0 && v != NULL)) bits += m->sizes[k];
    if (v != NULL && v != h[0]) memcpy(h[0], v, m->sizes[0] * sizeof(real));
    double mx = -INFINITY, sum = 0.0;
    for (uint64_t c = 0; c < ((uint64_t)1 << bits); c++) {
        unsigned bit = 0;
        for (size_t k = parity; k <= L; k += 2) {
            if (k == 0 && v != NULL) continue;
            for (size_t i = 0; i < m->sizes[k]; i++, bit++) h[k][i] = (real)((c >> bit) & 1u);
        }
        double t = 0.0;
        for (size_t k = 0; k <= L; k++) {
            const int known = (k % 2 == parity) || (k == 0 && v != NULL);
            if (known) {
                t += PDBN_FN(pdbn_dot_acc)(m->sizes[k], m->biases[k], h[k]);
                if (k == 0 && v != NULL && parity == 1 && L >= 1) {
                    /* clamped v next to the enumerated h_1: their coupling is known */
                    PDBN_FN(pdbn_gemm)(0, 1, 1, m->sizes[1], m->sizes[0], (real)1, h[0], m->sizes[0],
                                       m->weights[0], m->sizes[0], (real)0, pre, m->sizes[1]);
                    t += PDBN_FN(pdbn_dot_acc)(m->sizes[1], pre, h[1]);
                }
            } else {
                PDBN_FN(dbm_input)(m, k, k > 0 ? h[k - 1] : NULL, k > 0 ? m->sizes[k - 1] : 0,
                                   (real)1, k < L ? h[k + 1] : NULL, k < L ? m->sizes[k + 1] : 0,
                                   (real)1, 1, pre);
                t += PDBN_FN(pdbn_softplus_sum)(m->sizes[k], pre, NULL, 1.0);
            }
        }
        if (t > mx) {
            sum = sum * exp(mx - t) + 1.0;
            mx = t;
        } else {
            sum += exp(t - mx);
        }
    }
    return mx + log(sum);
}

/* Units of the layers of one parity (the visible layer excluded when clamped). */
static size_t PDBN_FN(dbm_parity_bits)(const PDBN_FN(pdbn_dbm) *m, size_t parity, int clamped)
{
    size_t bits = 0;
    for (size_t k = parity; k <= m->n_hidden_layers; k += 2)
        if (!(k == 0 && clamped)) bits += m->sizes[k];
    return bits;
}

static int PDBN_FN(dbm_enum_ws)(const PDBN_FN(pdbn_dbm) *m, pdbn_ws *ws, real **h, real **pre,
                                pdbn_error *err)
{
    size_t need = 0, elems = 0;
    for (size_t k = 0; k <= m->n_hidden_layers; k++) elems += m->sizes[k];
    pdbn_ws_add(&need, pdbn_ws_piece(elems, sizeof(real)));
    pdbn_ws_add(&need, pdbn_ws_piece(PDBN_FN(dbm_max_width)(m), sizeof(real)));
    PDBN_FORWARD(pdbn_ws_alloc(ws, need, err));
    real *mem = pdbn_ws_take(ws, elems, sizeof(real));
    for (size_t k = 0, at = 0; k <= m->n_hidden_layers; at += m->sizes[k], k++) h[k] = mem + at;
    *pre = pdbn_ws_take(ws, PDBN_FN(dbm_max_width)(m), sizeof(real));
    return PDBN_OK;
}

int PDBN_FN(pdbn_dbm_log_partition_exact)(const PDBN_FN(pdbn_dbm) *m, unsigned max_bits,
                                          double *log_z, const pdbn_control *ctl,
                                          pdbn_error *err)
{
    PDBN_FORWARD(PDBN_FN(dbm_check)(m, err));
    const size_t e = PDBN_FN(dbm_parity_bits)(m, 0, 0), o = PDBN_FN(dbm_parity_bits)(m, 1, 0);
    const size_t parity = o < e ? 1 : 0, bits = o < e ? o : e;
    PDBN_RETURN_IF(bits > max_bits || bits > 40, err, PDBN_ERR_VALUE,
                   "exact log Z enumerates 2^%zu states, more than the limit of 2^%u; use "
                   "method='ais'", bits, max_bits);
    real *h[PDBN_DBM_MAX_LAYERS + 1], *pre;
    pdbn_ws ws;
    PDBN_FORWARD(PDBN_FN(dbm_enum_ws)(m, &ws, h, &pre, err));
    *log_z = PDBN_FN(dbm_enum_lse)(m, parity, NULL, h, pre);
    pdbn_ws_free(&ws);
    return pdbn_poll(ctl, err);
}

int PDBN_FN(pdbn_dbm_log_prob_exact)(const PDBN_FN(pdbn_dbm) *m, const pdbn_source *data,
                                     double log_z, unsigned max_bits, double *out,
                                     const pdbn_control *ctl, pdbn_error *err)
{
    PDBN_FORWARD(PDBN_FN(dbm_check)(m, err));
    PDBN_FORWARD(pdbn_source_check(data, err));
    const size_t n0 = m->sizes[0];
    PDBN_RETURN_IF(data->cols != n0, err, PDBN_ERR_VALUE, "data has %zu features, the model %zu",
                   data->cols, n0);
    PDBN_RETURN_IF(!isfinite(log_z), err, PDBN_ERR_VALUE, "log_z must be finite");
    const size_t e = PDBN_FN(dbm_parity_bits)(m, 0, 1), o = PDBN_FN(dbm_parity_bits)(m, 1, 1);
    const size_t parity = o < e ? 1 : 0, bits = o < e ? o : e;
    PDBN_RETURN_IF(bits > max_bits || bits > 40, err, PDBN_ERR_VALUE,
                   "exact log p(v) enumerates 2^%zu hidden states per row, more than the limit "
                   "of 2^%u; use the mean-field bound", bits, max_bits);
    real *h[PDBN_DBM_MAX_LAYERS + 1], *pre;
    pdbn_ws ws;
    PDBN_FORWARD(PDBN_FN(dbm_enum_ws)(m, &ws, h, &pre, err));
    int st = PDBN_OK;
    for (size_t r = 0; r < data->rows && st == PDBN_OK; r++) {
        PDBN_FN(pdbn_source_gather)(data, NULL, r, 1, h[0], n0);
        out[r] = PDBN_FN(dbm_enum_lse)(m, parity, h[0], h, pre) - log_z;
        if ((r & 63) == 63) st = pdbn_poll(ctl, err);
    }
    pdbn_ws_free(&ws);
    return st;
}

/* AIS (Salakhutdinov & Hinton 2009, Sec. 4; Salakhutdinov & Murray 2008). The intermediate
 * model at inverse temperature beta has weights beta W_k and biases (1 - beta) a_k + beta b_k in
 * every layer k, where a_k are the base logits (base_bias, every layer in order); at beta = 0
 * all units are independent with logits a_k, log Z_0 = sum_k sum_i softplus(a_ki), and the base
 * is sampled exactly. The chains' state is the layers of one parity (0: v, h2, ...; 1: h1, h3,
 * ...) with the other layers summed out:
 *   log f_beta(x) = sum_{k in state} ((1 - beta) a_k + beta b_k) . h_k
 *                   + sum_{k not in state} sum_j softplus((1 - beta) a_kj + beta (b_k + in_k)_j)
 * where in_k = h_{k-1} W_{k-1}' + h_{k+1} W_k comes from the state layers. The transition at beta
 * is one block Gibbs sweep of the intermediate model: the summed-out layers, then the state.
 * Any base and either parity give an unbiased estimate of Z; they decide where the chains start
 * and which landscape they cross. With uniform hidden base rates (a_k = 0) the chains of a
 * trained 784-500-1000 MNIST DBM settle in a basin with h1 all off and underestimate log Z by
 * ~150 nats with a small standard error; with data-informed rates the two parities still differ
 * by 7 nats on that model, which is why the estimator pools both (pydbn/dbm.py). */
struct PDBN_FN(dbm_ais) {
    const PDBN_FN(pdbn_dbm) *m;
    const real *base[PDBN_DBM_MAX_LAYERS + 1];
    size_t parity;
    size_t n_chains;
    real *h[PDBN_DBM_MAX_LAYERS + 1];
    real *pre;
    uint32_t *words;
    uint32_t seed, epoch;
};

/* b_k plus the input of layer k from its neighbours, for every chain, into a->pre */
static void PDBN_FN(dbm_ais_input)(struct PDBN_FN(dbm_ais) *a, size_t k)
{
    const PDBN_FN(pdbn_dbm) *m = a->m;
    const size_t L = m->n_hidden_layers;
    PDBN_FN(dbm_input)(m, k, k > 0 ? a->h[k - 1] : NULL, k > 0 ? m->sizes[k - 1] : 0, (real)1,
                       k < L ? a->h[k + 1] : NULL, k < L ? m->sizes[k + 1] : 0, (real)1,
                       a->n_chains, a->pre);
}

static double PDBN_FN(dbm_ais_softplus)(double x)
{
    return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x));
}

static int PDBN_FN(dbm_ais_log_ratio)(void *ctx, double beta_prev, double beta, double *logw,
                                      pdbn_error *err)
{
    struct PDBN_FN(dbm_ais) *a = ctx;
    const PDBN_FN(pdbn_dbm) *m = a->m;
    const size_t L = m->n_hidden_layers, n = a->n_chains;
    (void)err;
    for (size_t k = 0; k <= L; k++) {
        const size_t nk = m->sizes[k];
        const real *base = a->base[k];
        if (k % 2 == a->parity) {
            /* (beta - beta_prev) (b_k - a_k) . h_k */
            for (size_t r = 0; r < n; r++) {
                double t = PDBN_FN(pdbn_dot_acc)(nk, m->biases[k], a->h[k] + r * nk);
                t -= PDBN_FN(pdbn_dot_acc)(nk, base, a->h[k] + r * nk);
                logw[r] += (beta - beta_prev) * t;
            }
        } else {
            PDBN_FN(dbm_ais_input)(a, k);
            for (size_t r = 0; r < n; r++) {
                const real *x = a->pre + r * nk;
                double t = 0.0;
                for (size_t i = 0; i < nk; i++) {
                    const double d = (double)x[i] - (double)base[i];
                    t += PDBN_FN(dbm_ais_softplus)((double)base[i] + beta * d) -
                         PDBN_FN(dbm_ais_softplus)((double)base[i] + beta_prev * d);
                }
                logw[r] += t;
            }
        }
    }
    return PDBN_OK;
}

static int PDBN_FN(dbm_ais_transition)(void *ctx, double beta, uint32_t step, pdbn_error *err)
{
    struct PDBN_FN(dbm_ais) *a = ctx;
    const PDBN_FN(pdbn_dbm) *m = a->m;
    const size_t L = m->n_hidden_layers, n = a->n_chains;
    (void)err;
    for (size_t pass = 0; pass < 2; pass++)
        for (size_t k = pass == 0 ? 1 - a->parity : a->parity; k <= L; k += 2) {
            const size_t nk = m->sizes[k];
            pdbn_stream s = pdbn_stream_at(a->seed, PDBN_RNG_AIS_HIDDEN, step, a->epoch, (uint32_t)k);
            PDBN_FN(dbm_ais_input)(a, k);
            const real w1 = (real)beta, w0 = (real)(1.0 - beta);
            for (size_t r = 0; r < n; r++) {
                real *x = a->pre + r * nk;
                for (size_t i = 0; i < nk; i++) x[i] = w0 * a->base[k][i] + w1 * x[i];
            }
            PDBN_FN(pdbn_sigmoid_rows)(n, nk, a->pre, nk, NULL, (real)1);
            for (size_t r = 0; r < n; r++) {
                pdbn_random_words(&s, (uint32_t)r, nk, a->words);
                PDBN_FN(pdbn_bernoulli)(nk, a->pre + r * nk, a->words, a->h[k] + r * nk);
            }
        }
    return PDBN_OK;
}

int PDBN_FN(pdbn_dbm_log_partition_ais)(const PDBN_FN(pdbn_dbm) *m, const real *base_bias,
                                        int parity, size_t n_chains, size_t n_betas,
                                        uint32_t seed, uint32_t epoch, double *log_z,
                                        double *std_err, double *logw, const pdbn_control *ctl,
                                        pdbn_error *err)
{
    PDBN_FORWARD(PDBN_FN(dbm_check)(m, err));
    PDBN_FORWARD(pdbn_ais_check(n_chains, n_betas, err));
    PDBN_RETURN_IF(parity != 0 && parity != 1, err, PDBN_ERR_VALUE, "parity must be 0 or 1");
    const size_t L = m->n_hidden_layers, wmax = PDBN_FN(dbm_max_width)(m);
    PDBN_RETURN_IF(parity == 1 && L < 1, err, PDBN_ERR_VALUE, "parity 1 needs a hidden layer");
    size_t elems = 0, n_base = 0;
    for (size_t k = 0; k <= L; k++) {
        elems += n_chains * m->sizes[k];
        n_base += m->sizes[k];
    }
    for (size_t i = 0; i < n_base; i++)
        PDBN_RETURN_IF(!isfinite(base_bias[i]), err, PDBN_ERR_VALUE, "base model is not finite");
    size_t need = 0;
    pdbn_ws_add(&need, pdbn_ws_piece(elems, sizeof(real)));
    pdbn_ws_add(&need, pdbn_ws_piece(n_chains * wmax, sizeof(real)));
    pdbn_ws_add(&need, pdbn_ws_piece(wmax, sizeof(uint32_t)));
    pdbn_ws_add(&need, pdbn_ws_piece(n_betas, sizeof(double)));
    pdbn_ws ws;
    PDBN_FORWARD(pdbn_ws_alloc(&ws, need, err));
    struct PDBN_FN(dbm_ais) a;
    a.m = m;
    a.parity = (size_t)parity;
    a.n_chains = n_chains;
    real *mem = pdbn_ws_take(&ws, elems, sizeof(real));
    for (size_t k = 0, at = 0, bt = 0; k <= L; k++) {
        a.h[k] = mem + at;
        a.base[k] = base_bias + bt;
        at += n_chains * m->sizes[k];
        bt += m->sizes[k];
    }
    a.pre = pdbn_ws_take(&ws, n_chains * wmax, sizeof(real));
    a.words = pdbn_ws_take(&ws, wmax, sizeof(uint32_t));
    a.seed = seed;
    a.epoch = epoch;
    double *betas = pdbn_ws_take(&ws, n_betas, sizeof(double));

    /* exact samples of the base model's state layers (the first transition draws the others)
     * and its log partition function over every layer */
    double log_z0 = 0.0;
    for (size_t k = 0; k <= L; k++) {
        const size_t nk = m->sizes[k];
        log_z0 += PDBN_FN(pdbn_softplus_sum)(nk, a.base[k], NULL, 1.0);
        if (k % 2 != a.parity) continue;
        pdbn_stream s0 = pdbn_stream_at(seed, PDBN_RNG_AIS_VISIBLE, (uint32_t)k, epoch, 1);
        for (size_t r = 0; r < n_chains; r++) {
            real *x = a.h[k] + r * nk;
            pdbn_random_words(&s0, (uint32_t)r, nk, a.words);
            memcpy(x, a.base[k], nk * sizeof(real));
            PDBN_FN(pdbn_sigmoid_rows)(1, nk, x, nk, NULL, (real)1);
            PDBN_FN(pdbn_bernoulli)(nk, x, a.words, x);
        }
    }
    pdbn_ais_model model = {PDBN_FN(dbm_ais_log_ratio), PDBN_FN(dbm_ais_transition), &a};
    int st = pdbn_ais_estimate(&model, betas, n_betas, n_chains, log_z0, logw, log_z, std_err,
                               ctl, err);
    pdbn_ws_free(&ws);
    return st;
}
