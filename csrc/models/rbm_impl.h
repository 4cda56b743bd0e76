/* Type-generic RBM algorithms; instantiated by rbm.c through pdbn_tmpl.h.
 * Notation follows the lecture notes (text 002) and the survey (text 004): v visible,
 * h hidden, b = visible_bias, c = hidden_bias, W = weights (n_hidden x n_visible). */

static int PDBN_FN(rbm_check)(const PDBN_FN(pdbn_rbm) *m, pdbn_error *err)
{
    PDBN_RETURN_IF(m == NULL || m->weights == NULL || m->visible_bias == NULL ||
                       m->hidden_bias == NULL,
                   err, PDBN_ERR_VALUE, "RBM parameters are missing");
    PDBN_RETURN_IF(m->n_visible == 0 || m->n_hidden == 0, err, PDBN_ERR_VALUE,
                   "RBM layers must have at least one unit");
    PDBN_RETURN_IF(m->n_visible > INT32_MAX || m->n_hidden > INT32_MAX, err, PDBN_ERR_VALUE,
                   "RBM layers are too large for BLAS");
    PDBN_RETURN_IF(m->visible != PDBN_VISIBLE_BERNOULLI && m->visible != PDBN_VISIBLE_GAUSSIAN,
                   err, PDBN_ERR_VALUE, "unknown visible unit type %d", m->visible);
    PDBN_RETURN_IF(m->n_softmax > m->n_visible, err, PDBN_ERR_VALUE,
                   "the softmax group (%zu units) is larger than the visible layer (%zu)",
                   m->n_softmax, m->n_visible);
    return PDBN_OK;
}

/* Random words one visible row's sampler needs: two per unit (Gaussian) plus one for the
 * softmax group; also enough for a hidden row. */
static size_t PDBN_FN(rbm_n_words)(const PDBN_FN(pdbn_rbm) *m)
{
    return 2 * (m->n_visible > m->n_hidden ? m->n_visible : m->n_hidden) + 1;
}

/* The softmax group of row vr (ld-free: the last ns entries) set to one-hot k. */
static void PDBN_FN(rbm_set_label)(const PDBN_FN(pdbn_rbm) *m, real *vr, int64_t k)
{
    real *g = vr + (m->n_visible - m->n_softmax);
    for (size_t y = 0; y < m->n_softmax; y++) g[y] = (int64_t)y == k ? (real)1 : (real)0;
}

static int PDBN_FN(rbm_check_data)(const PDBN_FN(pdbn_rbm) *m, const pdbn_source *data,
                                   pdbn_error *err)
{
    PDBN_FORWARD(PDBN_FN(rbm_check)(m, err));
    PDBN_FORWARD(pdbn_source_check(data, err));
    PDBN_RETURN_IF(data->cols != m->n_visible, err, PDBN_ERR_VALUE,
                   "data has %zu features, the model %zu", data->cols, m->n_visible);
    return PDBN_OK;
}

/* h (rows x nh) = scale v W^T: hidden pre-activations without bias. */
static void PDBN_FN(rbm_hidden_pre_s)(const PDBN_FN(pdbn_rbm) *m, const real *v, size_t ldv,
                                      size_t rows, real *h, real scale)
{
    PDBN_FN(pdbn_gemm)(0, 1, rows, m->n_hidden, m->n_visible, scale, v, ldv, m->weights,
                       m->n_visible, (real)0, h, m->n_hidden);
}

static void PDBN_FN(rbm_hidden_pre)(const PDBN_FN(pdbn_rbm) *m, const real *v, size_t ldv,
                                    size_t rows, real *h)
{
    PDBN_FN(rbm_hidden_pre_s)(m, v, ldv, rows, h, (real)1);
}

/* v (rows x nv) = scale h W: visible pre-activations without bias. */
static void PDBN_FN(rbm_visible_pre_s)(const PDBN_FN(pdbn_rbm) *m, const real *h, size_t rows,
                                       real *v, real scale)
{
    PDBN_FN(pdbn_gemm)(0, 0, rows, m->n_visible, m->n_hidden, scale, h, m->n_hidden,
                       m->weights, m->n_visible, (real)0, v, m->n_visible);
}

static void PDBN_FN(rbm_visible_pre)(const PDBN_FN(pdbn_rbm) *m, const real *h, size_t rows,
                                     real *v)
{
    PDBN_FN(rbm_visible_pre_s)(m, h, rows, v, (real)1);
}

/* In place: logits (bias included) -> samples; the first nb units binary or Gaussian, the
 * last ns a softmax group. words has rbm_n_words entries; row r draws from stream row r. */
static void PDBN_FN(rbm_sample_visible_logits)(const PDBN_FN(pdbn_rbm) *m, const pdbn_stream *s,
                                               size_t rows, real *v, uint32_t *words)
{
    const size_t nv = m->n_visible, ns = m->n_softmax, nb = nv - ns;
    const size_t nw = (m->visible == PDBN_VISIBLE_GAUSSIAN ? 2 * nb : nb) + (ns ? 1 : 0);
    for (size_t r = 0; r < rows; r++) {
        real *vr = v + r * nv;
        pdbn_random_words(s, (uint32_t)r, nw, words);
        if (m->visible == PDBN_VISIBLE_GAUSSIAN) {
            PDBN_FN(pdbn_gaussian)(nb, vr, words, vr);
        } else {
            PDBN_FN(pdbn_sigmoid_rows)(1, nb, vr, nb, NULL, (real)1);
            PDBN_FN(pdbn_bernoulli)(nb, vr, words, vr);
        }
        if (ns) PDBN_FN(pdbn_softmax_sample)(1, ns, vr + nb, ns, words + nw - 1, vr + nb, ns);
    }
}

/* In place: pre-activations (bias not yet added) -> samples of p(v | h) (Eq. 18 of 004, or
 * N(b + W'h, I); a softmax over the label group). Row r uses stream row r. */
static void PDBN_FN(rbm_sample_visible)(const PDBN_FN(pdbn_rbm) *m, const pdbn_stream *s,
                                        size_t rows, real *v, uint32_t *words)
{
    PDBN_FN(pdbn_add_bias_rows)(rows, m->n_visible, v, m->n_visible, m->visible_bias);
    PDBN_FN(rbm_sample_visible_logits)(m, s, rows, v, words);
}

/* In place: pre-activations -> E[v | h] (the label group's class probabilities). */
static void PDBN_FN(rbm_visible_mean)(const PDBN_FN(pdbn_rbm) *m, size_t rows, real *v)
{
    const size_t nv = m->n_visible, ns = m->n_softmax, nb = nv - ns;
    if (m->visible == PDBN_VISIBLE_GAUSSIAN || ns)
        PDBN_FN(pdbn_add_bias_rows)(rows, nv, v, nv, m->visible_bias);
    if (m->visible == PDBN_VISIBLE_BERNOULLI)
        PDBN_FN(pdbn_sigmoid_rows)(rows, nb, v, nv, ns ? NULL : m->visible_bias, (real)1);
    if (ns) PDBN_FN(pdbn_softmax_sample)(rows, ns, v + nb, nv, NULL, NULL, 0);
}

size_t PDBN_FN(pdbn_rbm_n_words)(const PDBN_FN(pdbn_rbm) *m) { return PDBN_FN(rbm_n_words)(m); }

void PDBN_FN(pdbn_rbm_visible_given_hidden)(const PDBN_FN(pdbn_rbm) *m, const real *h, size_t rows,
                                            const pdbn_stream *s, real *v, uint32_t *words)
{
    PDBN_FN(rbm_visible_pre)(m, h, rows, v);
    if (s == NULL)
        PDBN_FN(rbm_visible_mean)(m, rows, v);
    else
        PDBN_FN(rbm_sample_visible)(m, s, rows, v, words);
}

/* -log f(v) without the hidden term: b.v (binary) or -|v - b|^2 / 2 (Gaussian) over the first
 * nb units, plus b.v over the label group; in double. */
static double PDBN_FN(rbm_visible_term)(const PDBN_FN(pdbn_rbm) *m, const real *v, const real *b)
{
    const size_t nv = m->n_visible, nb = nv - m->n_softmax;
    if (m->visible == PDBN_VISIBLE_BERNOULLI) return PDBN_FN(pdbn_dot_acc)(nv, b, v);
    return -0.5 * PDBN_FN(pdbn_sqdist_acc)(nb, v, b) +
           PDBN_FN(pdbn_dot_acc)(nv - nb, b + nb, v + nb);
}

/* out (rows x nh, ld nh) = Bernoulli samples of the probabilities p (ld nh). */
static void PDBN_FN(rbm_sample_hidden)(size_t nh, const pdbn_stream *s, size_t rows,
                                       const real *p, real *out, uint32_t *words)
{
    for (size_t r = 0; r < rows; r++) {
        pdbn_random_words(s, (uint32_t)r, nh, words);
        PDBN_FN(pdbn_bernoulli)(nh, p + r * nh, words, out + r * nh);
    }
}

/* The parameter update from the statistics of one minibatch. vb holds b data rows then P
 * negative visible rows; hb the matching hidden probabilities (overwritten: scaled by 1/b
 * and -1/P). The ascent direction is <v h>_data - <v h>_model (text 002, "Log-Likelihood
 * Gradient"); one GEMM over the stacked rows forms both terms. */
static void PDBN_FN(rbm_update)(const PDBN_FN(pdbn_rbm) *m, const pdbn_rbm_train *cfg, real *vb,
                                real *hb, size_t b, size_t P, real *gvb, real *ghb, real *vel_w,
                                real *vel_vb, real *vel_hb)
{
    const size_t nv = m->n_visible, nh = m->n_hidden, rows = b + P;
    const real pos = (real)1 / (real)b, neg = -(real)1 / (real)P;
    for (size_t i = 0; i < nv; i++) gvb[i] = 0;
    for (size_t j = 0; j < nh; j++) ghb[j] = 0;
    for (size_t r = 0; r < rows; r++) {
        const real s = r < b ? pos : neg;
        real *hr = hb + r * nh;
        const real *vr = vb + r * nv;
        for (size_t j = 0; j < nh; j++) {
            hr[j] *= s;
            ghb[j] += hr[j];
        }
        for (size_t i = 0; i < nv; i++) gvb[i] += s * vr[i];
    }
    const double lr = cfg->learning_rate;
    if (cfg->momentum == 0.0) {
        /* W <- (1 - lr wd) W + lr (h_data' v_data / b - h_model' v_model / P) */
        PDBN_FN(pdbn_gemm)(1, 0, nh, nv, rows, (real)lr, hb, nh, vb, nv,
                           (real)(1.0 - lr * cfg->weight_decay), m->weights, nv);
        PDBN_FN(pdbn_sgd_step)(nv, m->visible_bias, gvb, NULL, lr, 0.0, 0.0);
        PDBN_FN(pdbn_sgd_step)(nh, m->hidden_bias, ghb, NULL, lr, 0.0, 0.0);
        return;
    }
    /* velocity <- momentum velocity + lr (direction - wd W); W <- W + velocity, as
     * pdbn_sgd_step does, with the direction's GEMM accumulated straight into the velocity. */
    const size_t nw = nh * nv;
    const real mu = (real)cfg->momentum, decay = (real)(lr * cfg->weight_decay);
    real *w = m->weights;
    for (size_t i = 0; i < nw; i++) vel_w[i] = mu * vel_w[i] - decay * w[i];
    PDBN_FN(pdbn_gemm)(1, 0, nh, nv, rows, (real)lr, hb, nh, vb, nv, (real)1, vel_w, nv);
    for (size_t i = 0; i < nw; i++) w[i] += vel_w[i];
    PDBN_FN(pdbn_sgd_step)(nv, m->visible_bias, gvb, vel_vb, lr, cfg->momentum, 0.0);
    PDBN_FN(pdbn_sgd_step)(nh, m->hidden_bias, ghb, vel_hb, lr, cfg->momentum, 0.0);
}

int PDBN_FN(pdbn_rbm_epoch)(const PDBN_FN(pdbn_rbm) *m, const pdbn_rbm_train *cfg,
                            const pdbn_source *data, real *vel_w, real *vel_vb, real *vel_hb,
                            real *chains, const pdbn_control *ctl, pdbn_error *err)
{
    PDBN_FORWARD(PDBN_FN(rbm_check_data)(m, data, err));
    PDBN_RETURN_IF(cfg->k < 1, err, PDBN_ERR_VALUE, "k must be at least 1");
    PDBN_RETURN_IF(cfg->batch_size < 1 || cfg->batch_size > INT32_MAX / 2, err, PDBN_ERR_VALUE,
                   "batch_size must be in [1, 2^30)");
    PDBN_RETURN_IF(!(cfg->learning_rate > 0.0) || !isfinite(cfg->learning_rate), err,
                   PDBN_ERR_VALUE, "learning_rate must be positive and finite");
    PDBN_RETURN_IF(!(cfg->momentum >= 0.0 && cfg->momentum < 1.0), err, PDBN_ERR_VALUE,
                   "momentum must be in [0, 1)");
    PDBN_RETURN_IF(!(cfg->weight_decay >= 0.0) || !isfinite(cfg->weight_decay), err,
                   PDBN_ERR_VALUE, "weight_decay must be non-negative");
    PDBN_RETURN_IF(!(cfg->up_scale > 0.0 && cfg->down_scale > 0.0 && isfinite(cfg->up_scale) &&
                     isfinite(cfg->down_scale)),
                   err, PDBN_ERR_VALUE, "input scales must be positive");
    PDBN_RETURN_IF(cfg->method != PDBN_RBM_PCD && cfg->method != PDBN_RBM_CD, err,
                   PDBN_ERR_VALUE, "unknown training method %d", cfg->method);
    PDBN_RETURN_IF(cfg->method == PDBN_RBM_PCD && chains == NULL, err, PDBN_ERR_VALUE,
                   "PCD needs the persistent chains");
    PDBN_RETURN_IF(cfg->momentum > 0.0 && (vel_w == NULL || vel_vb == NULL || vel_hb == NULL),
                   err, PDBN_ERR_VALUE, "momentum needs the velocity arrays");
    const size_t n = data->rows, nv = m->n_visible, nh = m->n_hidden;
    if (n == 0) return PDBN_OK;
    const int pcd = cfg->method == PDBN_RBM_PCD;
    /* input scales of the two layers' conditionals: 1 for an RBM; 2 for a layer a DBM's
     * pre-training doubles (Salakhutdinov & Hinton 2009, Sec. 3.1) */
    const real up = (real)cfg->up_scale, down = (real)cfg->down_scale;
    const size_t n_batches = (n + cfg->batch_size - 1) / cfg->batch_size;
    const size_t bmax = (n + n_batches - 1) / n_batches;  /* even slices: sizes differ by <= 1 */
    const size_t pmax = pcd ? cfg->batch_size : bmax;
    const size_t nw = nh * nv;
    const int mom = cfg->momentum > 0.0;
    const size_t n_snap = nw + nv + nh + (mom ? nw + nv + nh : 0) + (pcd ? pmax * nh : 0);
    const size_t n_words = PDBN_FN(rbm_n_words)(m);
    PDBN_RETURN_IF(cfg->sample_input && m->visible != PDBN_VISIBLE_BERNOULLI, err,
                   PDBN_ERR_VALUE, "sampled inputs need binary visible units");

    size_t need = 0;
    pdbn_ws_add(&need, pdbn_ws_piece(n, sizeof(int64_t)));
    pdbn_ws_add(&need, pdbn_ws_piece(4096, sizeof(uint32_t)));
    pdbn_ws_add(&need, pdbn_ws_piece(n_words, sizeof(uint32_t)));
    pdbn_ws_add(&need, pdbn_ws_piece((bmax + pmax) * nv, sizeof(real)));
    pdbn_ws_add(&need, pdbn_ws_piece((bmax + pmax) * nh, sizeof(real)));
    pdbn_ws_add(&need, pdbn_ws_piece(pcd ? 0 : bmax * nh, sizeof(real)));
    pdbn_ws_add(&need, pdbn_ws_piece(nv + nh, sizeof(real)));
    pdbn_ws_add(&need, pdbn_ws_piece(n_snap, sizeof(real)));
    pdbn_ws ws;
    PDBN_FORWARD(pdbn_ws_alloc(&ws, need, err));
    int64_t *perm = pdbn_ws_take(&ws, n, sizeof(int64_t));
    uint32_t *pwords = pdbn_ws_take(&ws, 4096, sizeof(uint32_t));
    uint32_t *words = pdbn_ws_take(&ws, n_words, sizeof(uint32_t));
    real *vb = pdbn_ws_take(&ws, (bmax + pmax) * nv, sizeof(real));
    real *hb = pdbn_ws_take(&ws, (bmax + pmax) * nh, sizeof(real));
    real *hs = pcd ? NULL : pdbn_ws_take(&ws, bmax * nh, sizeof(real));
    real *gvb = pdbn_ws_take(&ws, nv + nh, sizeof(real));
    real *ghb = gvb + nv;
    real *snap = pdbn_ws_take(&ws, n_snap, sizeof(real));

    /* Snapshot every array the epoch writes, to restore on interrupt or divergence. */
    real *arrays[8];
    size_t sizes[8], n_arrays = 0;
    arrays[n_arrays] = m->weights; sizes[n_arrays++] = nw;
    arrays[n_arrays] = m->visible_bias; sizes[n_arrays++] = nv;
    arrays[n_arrays] = m->hidden_bias; sizes[n_arrays++] = nh;
    if (mom) {
        arrays[n_arrays] = vel_w; sizes[n_arrays++] = nw;
        arrays[n_arrays] = vel_vb; sizes[n_arrays++] = nv;
        arrays[n_arrays] = vel_hb; sizes[n_arrays++] = nh;
    }
    if (pcd) {
        arrays[n_arrays] = chains; sizes[n_arrays++] = pmax * nh;
    }
    PDBN_FN(pdbn_arrays_save)(n_arrays, arrays, sizes, snap);

    pdbn_stream shuffle = pdbn_stream_at(cfg->seed, PDBN_RNG_SHUFFLE, 0, cfg->epoch, 0);
    pdbn_permutation(&shuffle, n, perm, pwords);

    int st = PDBN_OK;
    for (size_t bi = 0; bi < n_batches; bi++) {
        const size_t lo = bi * n / n_batches, hi = (bi + 1) * n / n_batches, b = hi - lo;
        const uint32_t batch = (uint32_t)bi;
        PDBN_FN(pdbn_source_gather)(data, perm, lo, b, vb, nv);
        if (cfg->sample_input) {
            /* a fresh binary sample of each row's probabilities (the label group is one-hot
             * already, which a Bernoulli draw leaves as it is) */
            pdbn_stream sd = pdbn_stream_at(cfg->seed, PDBN_RNG_DATA, 0, cfg->epoch, batch);
            for (size_t r = 0; r < b; r++) {
                pdbn_random_words(&sd, (uint32_t)r, nv, words);
                PDBN_FN(pdbn_bernoulli)(nv, vb + r * nv, words, vb + r * nv);
            }
        }
        size_t P;
        if (pcd) {
            /* PCD-k (Tieleman 2008; text 002 "SML"): the negative phase continues the
             * persistent chains; their last visible states join the data rows so one GEMM
             * gives both phases' hidden probabilities. */
            P = pmax;
            real *negv = vb + b * nv, *negh = hb + b * nh;
            for (unsigned s = 1; s <= cfg->k; s++) {
                pdbn_stream sv = pdbn_stream_at(cfg->seed, PDBN_RNG_VISIBLE, s - 1, cfg->epoch, batch);
                PDBN_FN(rbm_visible_pre_s)(m, chains, P, negv, down);
                PDBN_FN(rbm_sample_visible)(m, &sv, P, negv, words);
                if (s < cfg->k) {
                    pdbn_stream sh = pdbn_stream_at(cfg->seed, PDBN_RNG_HIDDEN, s - 1, cfg->epoch, batch);
                    PDBN_FN(rbm_hidden_pre_s)(m, negv, nv, P, negh, up);
                    PDBN_FN(pdbn_sigmoid_rows)(P, nh, negh, nh, m->hidden_bias, (real)1);
                    PDBN_FN(rbm_sample_hidden)(nh, &sh, P, negh, chains, words);
                }
            }
            PDBN_FN(rbm_hidden_pre_s)(m, vb, nv, b + P, hb, up);
            PDBN_FN(pdbn_sigmoid_rows)(b + P, nh, hb, nh, m->hidden_bias, (real)1);
            pdbn_stream sh = pdbn_stream_at(cfg->seed, PDBN_RNG_HIDDEN, cfg->k - 1, cfg->epoch, batch);
            PDBN_FN(rbm_sample_hidden)(nh, &sh, P, negh, chains, words);
        } else {
            /* CD-k (Algorithm 18.2 of text 002): chains start at the data. */
            P = b;
            real *negv = vb + b * nv, *negh = hb + b * nh;
            PDBN_FN(rbm_hidden_pre_s)(m, vb, nv, b, hb, up);
            PDBN_FN(pdbn_sigmoid_rows)(b, nh, hb, nh, m->hidden_bias, (real)1);
            pdbn_stream sh0 = pdbn_stream_at(cfg->seed, PDBN_RNG_HIDDEN, 0, cfg->epoch, batch);
            PDBN_FN(rbm_sample_hidden)(nh, &sh0, b, hb, hs, words);
            for (unsigned s = 1; s <= cfg->k; s++) {
                pdbn_stream sv = pdbn_stream_at(cfg->seed, PDBN_RNG_VISIBLE, s - 1, cfg->epoch, batch);
                PDBN_FN(rbm_visible_pre_s)(m, hs, b, negv, down);
                PDBN_FN(rbm_sample_visible)(m, &sv, b, negv, words);
                PDBN_FN(rbm_hidden_pre_s)(m, negv, nv, b, negh, up);
                PDBN_FN(pdbn_sigmoid_rows)(b, nh, negh, nh, m->hidden_bias, (real)1);
                if (s < cfg->k) {
                    pdbn_stream sh = pdbn_stream_at(cfg->seed, PDBN_RNG_HIDDEN, s, cfg->epoch, batch);
                    PDBN_FN(rbm_sample_hidden)(nh, &sh, b, negh, hs, words);
                }
            }
        }
        PDBN_FN(rbm_update)(m, cfg, vb, hb, b, P, gvb, ghb, vel_w, vel_vb, vel_hb);
        st = pdbn_poll(ctl, err);
        if (st != PDBN_OK) break;
    }
    if (st == PDBN_OK && !PDBN_FN(pdbn_arrays_finite)(3, arrays, sizes)) /* W, b, c */
        st = pdbn_fail(err, PDBN_ERR_NUMERIC,
                       "training diverged (non-finite parameters); the model was restored to "
                       "its state before this epoch: lower learning_rate");
    if (st != PDBN_OK) PDBN_FN(pdbn_arrays_restore)(n_arrays, arrays, sizes, snap);
    pdbn_ws_free(&ws);
    return st;
}

int PDBN_FN(pdbn_rbm_hidden_probs)(const PDBN_FN(pdbn_rbm) *m, const pdbn_source *data,
                                   real *out, const pdbn_control *ctl, pdbn_error *err)
{
    PDBN_FORWARD(PDBN_FN(rbm_check_data)(m, data, err));
    const size_t nv = m->n_visible, nh = m->n_hidden;
    pdbn_ws ws;
    PDBN_FORWARD(pdbn_ws_alloc(&ws, pdbn_ws_piece(PDBN_RBM_CHUNK * nv, sizeof(real)), err));
    real *scratch = pdbn_ws_take(&ws, PDBN_RBM_CHUNK * nv, sizeof(real));
    int st = PDBN_OK;
    for (size_t r0 = 0; r0 < data->rows && st == PDBN_OK; r0 += PDBN_RBM_CHUNK) {
        size_t rows = data->rows - r0 < PDBN_RBM_CHUNK ? data->rows - r0 : PDBN_RBM_CHUNK, ld;
        const real *v = PDBN_FN(pdbn_source_block)(data, r0, rows, scratch, &ld);
        PDBN_FN(rbm_hidden_pre)(m, v, ld, rows, out + r0 * nh);
        /* Eq. 16 of text 004: p(h_j = 1 | v) = sigmoid(c_j + v' W_{:,j}) */
        PDBN_FN(pdbn_sigmoid_rows)(rows, nh, out + r0 * nh, nh, m->hidden_bias, (real)1);
        st = pdbn_poll(ctl, err);
    }
    pdbn_ws_free(&ws);
    return st;
}

int PDBN_FN(pdbn_rbm_reconstruct)(const PDBN_FN(pdbn_rbm) *m, const pdbn_source *data, real *out,
                                  const pdbn_control *ctl, pdbn_error *err)
{
    PDBN_FORWARD(PDBN_FN(rbm_check_data)(m, data, err));
    const size_t nv = m->n_visible, nh = m->n_hidden;
    size_t need = 0;
    pdbn_ws_add(&need, pdbn_ws_piece(PDBN_RBM_CHUNK * nv, sizeof(real)));
    pdbn_ws_add(&need, pdbn_ws_piece(PDBN_RBM_CHUNK * nh, sizeof(real)));
    pdbn_ws ws;
    PDBN_FORWARD(pdbn_ws_alloc(&ws, need, err));
    real *scratch = pdbn_ws_take(&ws, PDBN_RBM_CHUNK * nv, sizeof(real));
    real *h = pdbn_ws_take(&ws, PDBN_RBM_CHUNK * nh, sizeof(real));
    int st = PDBN_OK;
    for (size_t r0 = 0; r0 < data->rows && st == PDBN_OK; r0 += PDBN_RBM_CHUNK) {
        size_t rows = data->rows - r0 < PDBN_RBM_CHUNK ? data->rows - r0 : PDBN_RBM_CHUNK, ld;
        const real *v = PDBN_FN(pdbn_source_block)(data, r0, rows, scratch, &ld);
        PDBN_FN(rbm_hidden_pre)(m, v, ld, rows, h);
        PDBN_FN(pdbn_sigmoid_rows)(rows, nh, h, nh, m->hidden_bias, (real)1);
        PDBN_FN(rbm_visible_pre)(m, h, rows, out + r0 * nv);
        PDBN_FN(rbm_visible_mean)(m, rows, out + r0 * nv);
        st = pdbn_poll(ctl, err);
    }
    pdbn_ws_free(&ws);
    return st;
}

int PDBN_FN(pdbn_rbm_free_energy)(const PDBN_FN(pdbn_rbm) *m, const pdbn_source *data,
                                  double *out, const pdbn_control *ctl, pdbn_error *err)
{
    PDBN_FORWARD(PDBN_FN(rbm_check_data)(m, data, err));
    const size_t nv = m->n_visible, nh = m->n_hidden;
    size_t need = 0;
    pdbn_ws_add(&need, pdbn_ws_piece(PDBN_RBM_CHUNK * nv, sizeof(real)));
    pdbn_ws_add(&need, pdbn_ws_piece(PDBN_RBM_CHUNK * nh, sizeof(real)));
    pdbn_ws ws;
    PDBN_FORWARD(pdbn_ws_alloc(&ws, need, err));
    real *scratch = pdbn_ws_take(&ws, PDBN_RBM_CHUNK * nv, sizeof(real));
    real *h = pdbn_ws_take(&ws, PDBN_RBM_CHUNK * nh, sizeof(real));
    const real *b = m->visible_bias;
    int st = PDBN_OK;
    for (size_t r0 = 0; r0 < data->rows && st == PDBN_OK; r0 += PDBN_RBM_CHUNK) {
        size_t rows = data->rows - r0 < PDBN_RBM_CHUNK ? data->rows - r0 : PDBN_RBM_CHUNK, ld;
        const real *v = PDBN_FN(pdbn_source_block)(data, r0, rows, scratch, &ld);
        PDBN_FN(rbm_hidden_pre)(m, v, ld, rows, h);
        for (size_t r = 0; r < rows; r++) {
            const real *vr = v + r * ld;
            out[r0 + r] = -PDBN_FN(rbm_visible_term)(m, vr, b) -
                          PDBN_FN(pdbn_softplus_sum)(nh, h + r * nh, m->hidden_bias, 1.0);
        }
        st = pdbn_poll(ctl, err);
    }
    pdbn_ws_free(&ws);
    return st;
}

int PDBN_FN(pdbn_rbm_pseudo_loglik)(const PDBN_FN(pdbn_rbm) *m, const pdbn_source *data,
                                    const int64_t *flip, double *out, const pdbn_control *ctl,
                                    pdbn_error *err)
{
    PDBN_FORWARD(PDBN_FN(rbm_check_data)(m, data, err));
    const size_t nv = m->n_visible, nh = m->n_hidden;
    /* only binary units are flipped: a flipped label unit would leave the group's states */
    for (size_t r = 0; r < data->rows; r++)
        PDBN_RETURN_IF(flip[r] < 0 || (uint64_t)flip[r] >= nv - m->n_softmax, err,
                       PDBN_ERR_VALUE, "flip index %lld out of range", (long long)flip[r]);
    size_t need = 0;
    pdbn_ws_add(&need, pdbn_ws_piece(PDBN_RBM_CHUNK * nv, sizeof(real)));
    pdbn_ws_add(&need, pdbn_ws_piece(PDBN_RBM_CHUNK * nh, sizeof(real)));
    pdbn_ws_add(&need, pdbn_ws_piece(nv * nh, sizeof(real)));
    pdbn_ws_add(&need, pdbn_ws_piece(nh, sizeof(real)));
    pdbn_ws ws;
    PDBN_FORWARD(pdbn_ws_alloc(&ws, need, err));
    real *scratch = pdbn_ws_take(&ws, PDBN_RBM_CHUNK * nv, sizeof(real));
    real *h = pdbn_ws_take(&ws, PDBN_RBM_CHUNK * nh, sizeof(real));
    real *wt = pdbn_ws_take(&ws, nv * nh, sizeof(real));
    real *hf = pdbn_ws_take(&ws, nh, sizeof(real));
    /* W' so that the column of one visible unit is contiguous */
    for (size_t j = 0; j < nh; j++)
        for (size_t i = 0; i < nv; i++) wt[i * nh + j] = m->weights[j * nv + i];
    int st = PDBN_OK;
    for (size_t r0 = 0; r0 < data->rows && st == PDBN_OK; r0 += PDBN_RBM_CHUNK) {
        size_t rows = data->rows - r0 < PDBN_RBM_CHUNK ? data->rows - r0 : PDBN_RBM_CHUNK, ld;
        const real *v = PDBN_FN(pdbn_source_block)(data, r0, rows, scratch, &ld);
        PDBN_FN(rbm_hidden_pre)(m, v, ld, rows, h);
        PDBN_FN(pdbn_add_bias_rows)(rows, nh, h, nh, m->hidden_bias);
        for (size_t r = 0; r < rows; r++) {
            const size_t i = (size_t)flip[r0 + r];
            const real *hr = h + r * nh, *wi = wt + i * nh;
            /* v'_i = 1 - v_i: the flipped row's pre-activations are one row update away,
             * no second GEMM. F(v) - F(v') = b_i d + sum softplus(h') - sum softplus(h). */
            const real d = (real)1 - (real)2 * v[r * ld + i];
            for (size_t j = 0; j < nh; j++) hf[j] = hr[j] + d * wi[j];
            double diff = (double)m->visible_bias[i] * (double)d +
                          PDBN_FN(pdbn_softplus_sum)(nh, hf, NULL, 1.0) -
                          PDBN_FN(pdbn_softplus_sum)(nh, hr, NULL, 1.0);
            out[r0 + r] = -(double)nv * pdbn_softplus_scalar(diff);
        }
        st = pdbn_poll(ctl, err);
    }
    pdbn_ws_free(&ws);
    return st;
}

int PDBN_FN(pdbn_rbm_gibbs)(const PDBN_FN(pdbn_rbm) *m, const pdbn_source *data, uint32_t seed,
                            uint32_t epoch, real *out, const pdbn_control *ctl, pdbn_error *err)
{
    PDBN_FORWARD(PDBN_FN(rbm_check_data)(m, data, err));
    const size_t nv = m->n_visible, nh = m->n_hidden;
    const size_t n_words = PDBN_FN(rbm_n_words)(m);
    size_t need = 0;
    pdbn_ws_add(&need, pdbn_ws_piece(PDBN_RBM_CHUNK * nv, sizeof(real)));
    pdbn_ws_add(&need, pdbn_ws_piece(PDBN_RBM_CHUNK * nh, sizeof(real)));
    pdbn_ws_add(&need, pdbn_ws_piece(n_words, sizeof(uint32_t)));
    pdbn_ws ws;
    PDBN_FORWARD(pdbn_ws_alloc(&ws, need, err));
    real *scratch = pdbn_ws_take(&ws, PDBN_RBM_CHUNK * nv, sizeof(real));
    real *h = pdbn_ws_take(&ws, PDBN_RBM_CHUNK * nh, sizeof(real));
    uint32_t *words = pdbn_ws_take(&ws, n_words, sizeof(uint32_t));
    int st = PDBN_OK;
    for (size_t r0 = 0; r0 < data->rows && st == PDBN_OK; r0 += PDBN_RBM_CHUNK) {
        size_t rows = data->rows - r0 < PDBN_RBM_CHUNK ? data->rows - r0 : PDBN_RBM_CHUNK, ld;
        const uint32_t chunk = (uint32_t)(r0 / PDBN_RBM_CHUNK);
        pdbn_stream sh = pdbn_stream_at(seed, PDBN_RNG_HIDDEN, 0, epoch, chunk);
        pdbn_stream sv = pdbn_stream_at(seed, PDBN_RNG_VISIBLE, 0, epoch, chunk);
        const real *v = PDBN_FN(pdbn_source_block)(data, r0, rows, scratch, &ld);
        PDBN_FN(rbm_hidden_pre)(m, v, ld, rows, h);
        PDBN_FN(pdbn_sigmoid_rows)(rows, nh, h, nh, m->hidden_bias, (real)1);
        PDBN_FN(rbm_sample_hidden)(nh, &sh, rows, h, h, words);
        PDBN_FN(rbm_visible_pre)(m, h, rows, out + r0 * nv);
        PDBN_FN(rbm_sample_visible)(m, &sv, rows, out + r0 * nv, words);
        st = pdbn_poll(ctl, err);
    }
    pdbn_ws_free(&ws);
    return st;
}

int PDBN_FN(pdbn_rbm_sample)(const PDBN_FN(pdbn_rbm) *m, size_t n_samples, size_t n_steps,
                             uint32_t seed, uint32_t epoch, int means, const int64_t *clamp,
                             real *out, const pdbn_control *ctl, pdbn_error *err)
{
    enum { CH = 256 };
    PDBN_FORWARD(PDBN_FN(rbm_check)(m, err));
    PDBN_RETURN_IF(n_steps < 1 || n_steps > (1u << 23), err, PDBN_ERR_VALUE,
                   "n_steps must be in [1, 2^23]");
    const size_t nv = m->n_visible, nh = m->n_hidden, ns = m->n_softmax, nb = nv - ns;
    PDBN_RETURN_IF(clamp != NULL && ns == 0, err, PDBN_ERR_VALUE,
                   "clamped labels need a softmax group");
    for (size_t r = 0; clamp != NULL && r < n_samples; r++)
        PDBN_RETURN_IF(clamp[r] < 0 || (uint64_t)clamp[r] >= ns, err, PDBN_ERR_VALUE,
                       "label %lld out of range", (long long)clamp[r]);
    const size_t n_words = PDBN_FN(rbm_n_words)(m);
    size_t need = 0;
    pdbn_ws_add(&need, pdbn_ws_piece(CH * nh, sizeof(real)));
    pdbn_ws_add(&need, pdbn_ws_piece(n_words, sizeof(uint32_t)));
    pdbn_ws ws;
    PDBN_FORWARD(pdbn_ws_alloc(&ws, need, err));
    real *h = pdbn_ws_take(&ws, CH * nh, sizeof(real));
    uint32_t *words = pdbn_ws_take(&ws, n_words, sizeof(uint32_t));
    int st = PDBN_OK;
    for (size_t r0 = 0; r0 < n_samples && st == PDBN_OK; r0 += CH) {
        const size_t rows = n_samples - r0 < CH ? n_samples - r0 : CH;
        const uint32_t chunk = (uint32_t)(r0 / CH);
        real *v = out + r0 * nv;
        /* start: uniformly random binary states, or N(b, I) for Gaussian units; a uniformly
         * random (or the clamped) label */
        pdbn_stream s0 = pdbn_stream_at(seed, PDBN_RNG_INIT, 0, epoch, chunk);
        for (size_t r = 0; r < rows; r++) {
            real *vr = v + r * nv;
            pdbn_random_words(&s0, (uint32_t)r, 2 * nv + 1, words);
            if (m->visible == PDBN_VISIBLE_GAUSSIAN)
                PDBN_FN(pdbn_gaussian)(nb, m->visible_bias, words, vr);
            else
                for (size_t i = 0; i < nb; i++) vr[i] = (real)(words[i] >> 31);
            if (ns)
                PDBN_FN(rbm_set_label)(m, vr, clamp ? clamp[r0 + r]
                                                    : (int64_t)(((uint64_t)words[2 * nv] * ns) >> 32));
        }
        for (size_t s = 0; s < n_steps && st == PDBN_OK; s++) {
            pdbn_stream sh = pdbn_stream_at(seed, PDBN_RNG_HIDDEN, (uint32_t)s, epoch, chunk);
            pdbn_stream sv = pdbn_stream_at(seed, PDBN_RNG_VISIBLE, (uint32_t)s, epoch, chunk);
            PDBN_FN(rbm_hidden_pre)(m, v, nv, rows, h);
            PDBN_FN(pdbn_sigmoid_rows)(rows, nh, h, nh, m->hidden_bias, (real)1);
            PDBN_FN(rbm_sample_hidden)(nh, &sh, rows, h, h, words);
            PDBN_FN(rbm_visible_pre)(m, h, rows, v);
            if (means && s + 1 == n_steps)
                PDBN_FN(rbm_visible_mean)(m, rows, v);
            else
                PDBN_FN(rbm_sample_visible)(m, &sv, rows, v, words);
            for (size_t r = 0; clamp != NULL && r < rows; r++)
                PDBN_FN(rbm_set_label)(m, v + r * nv, clamp[r0 + r]);
            if ((s & 15) == 15) st = pdbn_poll(ctl, err);
        }
    }
    pdbn_ws_free(&ws);
    return st;
}

int PDBN_FN(pdbn_rbm_label_free_energy)(const PDBN_FN(pdbn_rbm) *m, const pdbn_source *data,
                                        double *free, real *hidden, const pdbn_control *ctl,
                                        pdbn_error *err)
{
    enum { CH = 256 };
    PDBN_FORWARD(PDBN_FN(rbm_check)(m, err));
    PDBN_FORWARD(pdbn_source_check(data, err));
    const size_t nv = m->n_visible, nh = m->n_hidden, ns = m->n_softmax, nb = nv - ns;
    PDBN_RETURN_IF(ns == 0, err, PDBN_ERR_VALUE, "the model has no label units");
    PDBN_RETURN_IF(data->cols != nb, err, PDBN_ERR_VALUE,
                   "data has %zu features, the model %zu besides its labels", data->cols, nb);
    size_t need = 0;
    pdbn_ws_add(&need, pdbn_ws_piece(CH * nv, sizeof(real)));
    pdbn_ws_add(&need, pdbn_ws_piece(CH * nh, sizeof(real)));
    pdbn_ws_add(&need, pdbn_ws_piece((ns + 1) * nh, sizeof(real)));
    pdbn_ws_add(&need, pdbn_ws_piece(ns, sizeof(double)));
    pdbn_ws ws;
    PDBN_FORWARD(pdbn_ws_alloc(&ws, need, err));
    real *v = pdbn_ws_take(&ws, CH * nv, sizeof(real)); /* zeroed: the label columns stay 0 */
    real *pre = pdbn_ws_take(&ws, CH * nh, sizeof(real));
    real *wlab = pdbn_ws_take(&ws, (ns + 1) * nh, sizeof(real)), *t = wlab + ns * nh;
    double *fy = pdbn_ws_take(&ws, ns, sizeof(double));
    for (size_t y = 0; y < ns; y++)
        for (size_t j = 0; j < nh; j++)
            wlab[y * nh + j] = m->weights[j * nv + nb + y] + m->hidden_bias[j];
    int st = PDBN_OK;
    for (size_t r0 = 0; r0 < data->rows && st == PDBN_OK; r0 += CH) {
        const size_t rows = data->rows - r0 < CH ? data->rows - r0 : CH;
        PDBN_FN(pdbn_source_gather)(data, NULL, r0, rows, v, nv);
        PDBN_FN(rbm_hidden_pre)(m, v, nv, rows, pre);
        for (size_t r = 0; r < rows; r++) {
            const real *pr = pre + r * nh;
            const double vis = PDBN_FN(rbm_visible_term)(m, v + r * nv, m->visible_bias);
            double mx = -INFINITY;
            for (size_t y = 0; y < ns; y++) {
                /* F(x, y) = -vis(x) - b_y - sum_j softplus(c_j + W_j x + U_jy) (Eq. 7 of 004
                 * with the one-hot label as part of v) */
                for (size_t j = 0; j < nh; j++) t[j] = pr[j] + wlab[y * nh + j];
                fy[y] = -vis - (double)m->visible_bias[nb + y] -
                        PDBN_FN(pdbn_softplus_sum)(nh, t, NULL, 1.0);
                if (free != NULL) free[(r0 + r) * ns + y] = fy[y];
                mx = -fy[y] > mx ? -fy[y] : mx;
            }
            if (hidden == NULL) continue;
            double tot = 0.0;
            for (size_t y = 0; y < ns; y++) tot += (fy[y] = exp(-fy[y] - mx));
            real *hr = hidden + (r0 + r) * nh;
            for (size_t j = 0; j < nh; j++) hr[j] = 0;
            for (size_t y = 0; y < ns; y++) {
                for (size_t j = 0; j < nh; j++) t[j] = pr[j] + wlab[y * nh + j];
                PDBN_FN(pdbn_sigmoid_rows)(1, nh, t, nh, NULL, (real)1);
                const real py = (real)(fy[y] / tot);
                for (size_t j = 0; j < nh; j++) hr[j] += py * t[j];
            }
        }
        st = pdbn_poll(ctl, err);
    }
    pdbn_ws_free(&ws);
    return st;
}

/* log sum_y exp(x[y] + bias[y]) over a softmax group, in double. */
static double PDBN_FN(rbm_group_lse)(size_t ns, const real *x, const real *bias)
{
    double mx = -INFINITY, sum = 0.0;
    for (size_t y = 0; y < ns; y++) pdbn_lse_push((double)x[y] + (double)bias[y], &mx, &sum);
    return mx + log(sum);
}

int PDBN_FN(pdbn_rbm_log_partition_exact)(const PDBN_FN(pdbn_rbm) *m, unsigned max_units,
                                          double *log_z, const pdbn_control *ctl,
                                          pdbn_error *err)
{
    enum { CH = 1024 };
    PDBN_FORWARD(PDBN_FN(rbm_check)(m, err));
    const size_t nv = m->n_visible, nh = m->n_hidden, ns = m->n_softmax, nb = nv - ns;
    const int gauss = m->visible == PDBN_VISIBLE_GAUSSIAN;
    /* Sum out the larger layer analytically, enumerate the smaller one (the visible layer's
     * binary units, each state with every label). */
    const int enum_hidden = gauss || nh <= nb;
    const size_t units = enum_hidden ? nh : nb, width = enum_hidden ? nh : nv;
    const size_t other = enum_hidden ? nv : nh;
    PDBN_RETURN_IF(units > max_units || units > 40, err, PDBN_ERR_VALUE,
                   "exact log Z enumerates 2^%zu states of the %s layer, more than the limit of "
                   "2^%u; use method='ais'",
                   units, enum_hidden ? "hidden" : "visible", max_units);
    size_t need = 0;
    pdbn_ws_add(&need, pdbn_ws_piece(CH * width, sizeof(real)));
    pdbn_ws_add(&need, pdbn_ws_piece(CH * other, sizeof(real)));
    pdbn_ws_add(&need, pdbn_ws_piece(ns * nh + nh, sizeof(real)));
    pdbn_ws ws;
    PDBN_FORWARD(pdbn_ws_alloc(&ws, need, err));
    real *states = pdbn_ws_take(&ws, CH * width, sizeof(real)); /* zeroed: labels stay 0 */
    real *prod = pdbn_ws_take(&ws, CH * other, sizeof(real));
    real *wlab = pdbn_ws_take(&ws, ns * nh + nh, sizeof(real)), *tmp = wlab + ns * nh;
    for (size_t y = 0; y < ns; y++)
        for (size_t j = 0; j < nh; j++) wlab[y * nh + j] = m->weights[j * nv + nb + y];
    const real *b = m->visible_bias, *c = m->hidden_bias;
    const uint64_t total = (uint64_t)1 << units;
    double mx = -INFINITY, sum = 0.0, bb = 0.0;
    for (size_t i = 0; i < nb; i++) bb += (double)b[i] * (double)b[i];
    int st = PDBN_OK;
    for (uint64_t s0 = 0; s0 < total && st == PDBN_OK; s0 += CH) {
        const size_t rows = total - s0 < CH ? (size_t)(total - s0) : CH;
        for (size_t r = 0; r < rows; r++)
            for (size_t j = 0; j < units; j++)
                states[r * width + j] = (real)(((s0 + r) >> j) & 1u);
        if (enum_hidden)
            PDBN_FN(rbm_visible_pre)(m, states, rows, prod);
        else
            PDBN_FN(rbm_hidden_pre)(m, states, nv, rows, prod);
        for (size_t r = 0; r < rows; r++) {
            const real *x = states + r * width, *p = prod + r * other;
            if (enum_hidden) {
                double t = 0.0;
                for (size_t j = 0; j < nh; j++) t += (double)c[j] * (double)x[j];
                if (gauss) {
                    /* sum_h int dv exp(-E) = sum_h (2 pi)^(nb/2) exp(c.h + (|b + W'h|^2 - |b|^2)/2) */
                    double uu = 0.0;
                    for (size_t i = 0; i < nb; i++) {
                        double u = (double)b[i] + (double)p[i];
                        uu += u * u;
                    }
                    t += 0.5 * (uu - bb);
                } else {
                    t += PDBN_FN(pdbn_softplus_sum)(nb, p, b, 1.0);
                }
                if (ns) t += PDBN_FN(rbm_group_lse)(ns, p + nb, b + nb);
                pdbn_lse_push(t, &mx, &sum);
            } else {
                double t = 0.0;
                for (size_t i = 0; i < nb; i++) t += (double)b[i] * (double)x[i];
                if (ns == 0) {
                    pdbn_lse_push(t + PDBN_FN(pdbn_softplus_sum)(nh, p, c, 1.0), &mx, &sum);
                    continue;
                }
                for (size_t y = 0; y < ns; y++) {
                    for (size_t j = 0; j < nh; j++) tmp[j] = p[j] + wlab[y * nh + j];
                    pdbn_lse_push(t + (double)b[nb + y] + PDBN_FN(pdbn_softplus_sum)(nh, tmp, c, 1.0),
                                  &mx, &sum);
                }
            }
        }
        st = pdbn_poll(ctl, err);
    }
    pdbn_ws_free(&ws);
    if (st != PDBN_OK) return st;
    *log_z = mx + log(sum) + (gauss ? 0.5 * (double)nb * log(2.0 * 3.14159265358979323846) : 0.0);
    return PDBN_OK;
}

/* AIS for an RBM (Salakhutdinov & Murray 2008, Sec. 4.1): the visible chains anneal from the
 * base-rate model (couplings zero, visible biases b_A) to the RBM with the hidden units summed
 * out:  log f_beta(v) = (1 - beta) b_A.v + beta b.v + sum_j softplus(beta (c_j + W_j v))
 * (Gaussian: -(1 - beta)|v - b_A|^2/2 - beta |v - b|^2/2 + the same hidden term). */
struct PDBN_FN(rbm_ais) {
    const PDBN_FN(pdbn_rbm) *m;
    const real *base;
    size_t n_chains;
    real *v, *pre, *h;
    uint32_t *words;
    uint32_t seed, epoch;
};

static int PDBN_FN(rbm_ais_log_ratio)(void *ctx, double beta_prev, double beta, double *logw,
                                      pdbn_error *err)
{
    struct PDBN_FN(rbm_ais) *a = ctx;
    const PDBN_FN(pdbn_rbm) *m = a->m;
    const size_t nv = m->n_visible, nh = m->n_hidden;
    const real *b = m->visible_bias, *bA = a->base;
    (void)err;
    PDBN_FN(rbm_hidden_pre)(m, a->v, nv, a->n_chains, a->pre);
    for (size_t r = 0; r < a->n_chains; r++) {
        const real *v = a->v + r * nv;
        double vis = PDBN_FN(rbm_visible_term)(m, v, b) - PDBN_FN(rbm_visible_term)(m, v, bA);
        logw[r] += (beta - beta_prev) * vis +
                   PDBN_FN(pdbn_softplus_diff_sum)(nh, a->pre + r * nh, m->hidden_bias, beta,
                                                   beta_prev);
    }
    return PDBN_OK;
}

/* Gibbs at inverse temperature beta, from the pre-activations of the current states. */
static int PDBN_FN(rbm_ais_transition)(void *ctx, double beta, uint32_t step, pdbn_error *err)
{
    struct PDBN_FN(rbm_ais) *a = ctx;
    const PDBN_FN(pdbn_rbm) *m = a->m;
    const size_t nv = m->n_visible, nh = m->n_hidden, n = a->n_chains;
    const real *b = m->visible_bias, *bA = a->base;
    (void)err;
    pdbn_stream sh = pdbn_stream_at(a->seed, PDBN_RNG_AIS_HIDDEN, step, a->epoch, 0);
    pdbn_stream sv = pdbn_stream_at(a->seed, PDBN_RNG_AIS_VISIBLE, step, a->epoch, 0);
    PDBN_FN(pdbn_sigmoid_rows)(n, nh, a->pre, nh, m->hidden_bias, (real)beta);
    PDBN_FN(rbm_sample_hidden)(nh, &sh, n, a->pre, a->h, a->words);
    PDBN_FN(rbm_visible_pre)(m, a->h, n, a->v);
    const real w1 = (real)beta, w0 = (real)(1.0 - beta);
    for (size_t r = 0; r < n; r++) {
        real *v = a->v + r * nv;
        for (size_t i = 0; i < nv; i++) v[i] = w0 * bA[i] + w1 * (b[i] + v[i]);
    }
    PDBN_FN(rbm_sample_visible_logits)(m, &sv, n, a->v, a->words);
    return PDBN_OK;
}

int PDBN_FN(pdbn_rbm_log_partition_ais)(const PDBN_FN(pdbn_rbm) *m, const real *base_bias,
                                        size_t n_chains, size_t n_betas, uint32_t seed,
                                        uint32_t epoch, double *log_z, double *std_err,
                                        double *logw, const pdbn_control *ctl, pdbn_error *err)
{
    PDBN_FORWARD(PDBN_FN(rbm_check)(m, err));
    PDBN_FORWARD(pdbn_ais_check(n_chains, n_betas, err));
    const size_t nv = m->n_visible, nh = m->n_hidden, ns = m->n_softmax, nb = nv - ns;
    for (size_t i = 0; i < nv; i++)
        PDBN_RETURN_IF(!isfinite(base_bias[i]), err, PDBN_ERR_VALUE, "base model is not finite");
    const size_t n_words = PDBN_FN(rbm_n_words)(m);
    size_t need = 0;
    pdbn_ws_add(&need, pdbn_ws_piece(n_chains * nv, sizeof(real)));
    pdbn_ws_add(&need, pdbn_ws_piece(n_chains * nh, sizeof(real)));
    pdbn_ws_add(&need, pdbn_ws_piece(n_chains * nh, sizeof(real)));
    pdbn_ws_add(&need, pdbn_ws_piece(n_words, sizeof(uint32_t)));
    pdbn_ws_add(&need, pdbn_ws_piece(n_betas, sizeof(double)));
    pdbn_ws ws;
    PDBN_FORWARD(pdbn_ws_alloc(&ws, need, err));
    struct PDBN_FN(rbm_ais) a;
    a.m = m;
    a.base = base_bias;
    a.n_chains = n_chains;
    a.v = pdbn_ws_take(&ws, n_chains * nv, sizeof(real));
    a.pre = pdbn_ws_take(&ws, n_chains * nh, sizeof(real));
    a.h = pdbn_ws_take(&ws, n_chains * nh, sizeof(real));
    a.words = pdbn_ws_take(&ws, n_words, sizeof(uint32_t));
    a.seed = seed;
    a.epoch = epoch;
    double *betas = pdbn_ws_take(&ws, n_betas, sizeof(double));

    /* exact samples of the base model, and its log partition function (the hidden units
     * are present with zero couplings, contributing nh log 2) */
    pdbn_stream s0 = pdbn_stream_at(seed, PDBN_RNG_AIS_VISIBLE, 0, epoch, 1);
    double log_z0 = (double)nh * log(2.0);
    for (size_t r = 0; r < n_chains; r++) memcpy(a.v + r * nv, base_bias, nv * sizeof(real));
    PDBN_FN(rbm_sample_visible_logits)(m, &s0, n_chains, a.v, a.words);
    if (m->visible == PDBN_VISIBLE_GAUSSIAN)
        log_z0 += 0.5 * (double)nb * log(2.0 * 3.14159265358979323846);
    else
        log_z0 += PDBN_FN(pdbn_softplus_sum)(nb, base_bias, NULL, 1.0);
    if (ns) {
        double mx = -INFINITY, sum = 0.0;
        for (size_t y = 0; y < ns; y++) pdbn_lse_push((double)base_bias[nb + y], &mx, &sum);
        log_z0 += mx + log(sum);
    }

    pdbn_ais_model model = {PDBN_FN(rbm_ais_log_ratio), PDBN_FN(rbm_ais_transition), &a};
    int st = pdbn_ais_estimate(&model, betas, n_betas, n_chains, log_z0, logw, log_z, std_err,
                               ctl, err);
    pdbn_ws_free(&ws);
    return st;
}
