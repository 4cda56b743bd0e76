/* Type-generic DBN algorithms; instantiated by dbn.c through pdbn_tmpl.h.
 * Layer k of the network is h_k (h_0 = v); directed layer k joins h_k (below) and h_{k+1}. */

static int PDBN_FN(dbn_check)(const PDBN_FN(pdbn_dbn) *m, pdbn_error *err)
{
    PDBN_RETURN_IF(m == NULL || m->sizes == NULL, err, PDBN_ERR_VALUE, "DBN is missing");
    const size_t L = m->n_directed;
    PDBN_RETURN_IF(L > PDBN_DBN_MAX_LAYERS, err, PDBN_ERR_VALUE, "at most %d directed layers",
                   (int)PDBN_DBN_MAX_LAYERS);
    PDBN_RETURN_IF(L > 0 && (m->gen_w == NULL || m->gen_b == NULL || m->rec_w == NULL ||
                             m->rec_b == NULL),
                   err, PDBN_ERR_VALUE, "DBN layers are missing");
    for (size_t k = 0; k <= L; k++)
        PDBN_RETURN_IF(m->sizes[k] == 0 || m->sizes[k] > INT32_MAX, err, PDBN_ERR_VALUE,
                       "layer %zu has an invalid size", k);
    for (size_t k = 0; k < L; k++)
        PDBN_RETURN_IF(m->gen_w[k] == NULL || m->gen_b[k] == NULL || m->rec_w[k] == NULL ||
                           m->rec_b[k] == NULL,
                       err, PDBN_ERR_VALUE, "DBN layer %zu is missing", k);
    PDBN_RETURN_IF(m->visible != PDBN_VISIBLE_BERNOULLI && m->visible != PDBN_VISIBLE_GAUSSIAN,
                   err, PDBN_ERR_VALUE, "unknown visible unit type %d", m->visible);
    PDBN_RETURN_IF(m->top.n_visible != m->sizes[L] + m->top.n_softmax, err, PDBN_ERR_VALUE,
                   "the top RBM does not match the layer below it");
    PDBN_RETURN_IF(L > 0 && m->top.visible != PDBN_VISIBLE_BERNOULLI, err, PDBN_ERR_VALUE,
                   "hidden layers are binary");
    PDBN_RETURN_IF(L == 0 && m->top.visible != m->visible, err, PDBN_ERR_VALUE,
                   "the top RBM's visible units must be the network's");
    PDBN_RETURN_IF(m->top.weights == NULL || m->top.visible_bias == NULL ||
                       m->top.hidden_bias == NULL,
                   err, PDBN_ERR_VALUE, "the top RBM's parameters are missing");
    PDBN_RETURN_IF(m->top.n_hidden == 0 || m->top.n_hidden > INT32_MAX ||
                       m->top.n_visible > INT32_MAX,
                   err, PDBN_ERR_VALUE, "the top RBM has an invalid size");
    return PDBN_OK;
}

static size_t PDBN_FN(dbn_max_width)(const PDBN_FN(pdbn_dbn) *m)
{
    size_t w = m->top.n_visible > m->top.n_hidden ? m->top.n_visible : m->top.n_hidden;
    for (size_t k = 0; k <= m->n_directed; k++) w = m->sizes[k] > w ? m->sizes[k] : w;
    return w;
}

static int PDBN_FN(dbn_gauss)(const PDBN_FN(pdbn_dbn) *m, size_t k)
{
    return k == 0 && m->visible == PDBN_VISIBLE_GAUSSIAN;
}

/* a (rows x sizes[k+1]) = x rec_w[k]' + rec_b[k]: recognition logits of h_{k+1} (Eq. 23-24). */
static void PDBN_FN(dbn_rec_logits)(const PDBN_FN(pdbn_dbn) *m, size_t k, const real *x,
                                    size_t ldx, size_t rows, real *a)
{
    const size_t n0 = m->sizes[k], n1 = m->sizes[k + 1];
    PDBN_FN(pdbn_gemm)(0, 1, rows, n1, n0, (real)1, x, ldx, m->rec_w[k], n0, (real)0, a, n1);
    PDBN_FN(pdbn_add_bias_rows)(rows, n1, a, n1, m->rec_b[k]);
}

/* a (rows x sizes[k]) = h gen_w[k] + gen_b[k]: generative logits of h_k (Eq. 20-21), the
 * means themselves for Gaussian units. */
static void PDBN_FN(dbn_gen_logits)(const PDBN_FN(pdbn_dbn) *m, size_t k, const real *h,
                                    size_t ldh, size_t rows, real *a)
{
    const size_t n0 = m->sizes[k], n1 = m->sizes[k + 1];
    PDBN_FN(pdbn_gemm)(0, 0, rows, n0, n1, (real)1, h, ldh, m->gen_w[k], n0, (real)0, a, n0);
    PDBN_FN(pdbn_add_bias_rows)(rows, n0, a, n0, m->gen_b[k]);
}

/* out (ld ldo) = samples of the means x (rows x n, contiguous); binary or Gaussian units. */
static void PDBN_FN(dbn_draw)(int gauss, const pdbn_stream *s, size_t rows, size_t n,
                              const real *x, real *out, size_t ldo, uint32_t *words)
{
    for (size_t r = 0; r < rows; r++) {
        pdbn_random_words(s, (uint32_t)r, gauss ? 2 * n : n, words);
        if (gauss)
            PDBN_FN(pdbn_gaussian)(n, x + r * n, words, out + r * ldo);
        else
            PDBN_FN(pdbn_bernoulli)(n, x + r * n, words, out + r * ldo);
    }
}

/* log p(x | logits a) of one row: Bernoulli sum_i x_i a_i - softplus(a_i), or N(a, I). */
static double PDBN_FN(dbn_log_lik)(int gauss, size_t n, const real *x, const real *a)
{
    if (gauss)
        return -0.5 * PDBN_FN(pdbn_sqdist_acc)(n, x, a) -
               0.5 * (double)n * log(2.0 * 3.14159265358979323846);
    return PDBN_FN(pdbn_dot_acc)(n, x, a) - PDBN_FN(pdbn_softplus_sum)(n, a, NULL, 1.0);
}

/* Entropy of independent Bernoulli units with logits a: sum_i softplus(a_i) - sigmoid(a_i) a_i. */
static double PDBN_FN(dbn_entropy)(size_t n, const real *a)
{
    double h = PDBN_FN(pdbn_softplus_sum)(n, a, NULL, 1.0);
    for (size_t i = 0; i < n; i++) {
        const double x = (double)a[i];
        h -= x / (1.0 + exp(-x));
    }
    return h;
}

/* -F_top(x) of one row x (sizes[L] binary units) with the labels summed out:
 * b.x + log sum_y exp(b_y + sum_j softplus(pre_j + lab[y, j])), pre = x W' (the non-label
 * columns), lab[y] = U_y + c (lab = c alone when there are no labels); tmp holds n_hidden. */
static double PDBN_FN(dbn_top_neg_free)(const PDBN_FN(pdbn_dbn) *m, const real *x,
                                        const real *pre, const real *lab, real *tmp)
{
    const PDBN_FN(pdbn_rbm) *t = &m->top;
    const size_t nh = t->n_hidden, ns = t->n_softmax, nb = t->n_visible - ns;
    const double vis = PDBN_FN(pdbn_dot_acc)(nb, t->visible_bias, x);
    if (ns == 0) return vis + PDBN_FN(pdbn_softplus_sum)(nh, pre, lab, 1.0);
    double mx = -INFINITY, sum = 0.0;
    for (size_t y = 0; y < ns; y++) {
        for (size_t j = 0; j < nh; j++) tmp[j] = pre[j] + lab[y * nh + j];
        const double u = (double)t->visible_bias[nb + y] + PDBN_FN(pdbn_softplus_sum)(nh, tmp, NULL, 1.0);
        if (u > mx) {
            sum = sum * exp(mx - u) + 1.0;
            mx = u;
        } else {
            sum += exp(u - mx);
        }
    }
    return vis + mx + log(sum);
}

/* lab (max(ns, 1) x n_hidden): U_y + c per label, or c. */
static void PDBN_FN(dbn_top_labels)(const PDBN_FN(pdbn_dbn) *m, real *lab)
{
    const PDBN_FN(pdbn_rbm) *t = &m->top;
    const size_t nh = t->n_hidden, nv = t->n_visible, ns = t->n_softmax, nb = nv - ns;
    for (size_t y = 0; y < (ns ? ns : 1); y++)
        for (size_t j = 0; j < nh; j++)
            lab[y * nh + j] = t->hidden_bias[j] + (ns ? t->weights[j * nv + nb + y] : (real)0);
}

/* pre (rows x n_hidden) = x W_x' for the top RBM's non-label columns (x has ld ldx). */
static void PDBN_FN(dbn_top_pre)(const PDBN_FN(pdbn_dbn) *m, const real *x, size_t ldx,
                                 size_t rows, real *pre)
{
    const PDBN_FN(pdbn_rbm) *t = &m->top;
    const size_t nb = t->n_visible - t->n_softmax;
    PDBN_FN(pdbn_gemm)(0, 1, rows, t->n_hidden, nb, (real)1, x, ldx, t->weights, t->n_visible,
                       (real)0, pre, t->n_hidden);
}

int PDBN_FN(pdbn_dbn_sample)(const PDBN_FN(pdbn_dbn) *m, size_t n_samples, size_t n_gibbs,
                             uint32_t seed, uint32_t epoch, int means, const int64_t *clamp,
                             real *out, const pdbn_control *ctl, pdbn_error *err)
{
    PDBN_FORWARD(PDBN_FN(dbn_check)(m, err));
    PDBN_RETURN_IF(n_samples > INT32_MAX, err, PDBN_ERR_VALUE, "too many samples");
    if (n_samples == 0) return PDBN_OK;
    const size_t L = m->n_directed, nvt = m->top.n_visible, nb = m->sizes[L];
    const size_t wmax = PDBN_FN(dbn_max_width)(m);
    size_t need = 0;
    pdbn_ws_add(&need, pdbn_ws_piece(n_samples * nvt, sizeof(real)));
    pdbn_ws_add(&need, pdbn_ws_piece(L > 1 ? 2 * n_samples * wmax : 0, sizeof(real)));
    pdbn_ws_add(&need, pdbn_ws_piece(2 * wmax + 1, sizeof(uint32_t)));
    pdbn_ws ws;
    PDBN_FORWARD(pdbn_ws_alloc(&ws, need, err));
    real *tv = pdbn_ws_take(&ws, n_samples * nvt, sizeof(real));
    real *buf = pdbn_ws_take(&ws, L > 1 ? 2 * n_samples * wmax : 0, sizeof(real));
    uint32_t *words = pdbn_ws_take(&ws, 2 * wmax + 1, sizeof(uint32_t));
    /* Gibbs in the top RBM (004, Sec. 3: "several steps of Gibbs sampling on the top two
     * hidden layers"), then a single ancestral pass down. */
    int st = PDBN_FN(pdbn_rbm_sample)(&m->top, n_samples, n_gibbs, seed, epoch, L == 0 && means,
                                      clamp, tv, ctl, err);
    if (st == PDBN_OK && L == 0) {
        for (size_t r = 0; r < n_samples; r++) memcpy(out + r * nb, tv + r * nvt, nb * sizeof(real));
    }
    const real *h = tv;
    size_t ldh = nvt;
    for (size_t k = L; k-- > 0 && st == PDBN_OK;) {
        const size_t n0 = m->sizes[k];
        /* h_k goes to one of two scratch blocks by parity (never the one holding h_{k+1}),
         * h_0 to out */
        real *a = k == 0 ? out : buf + (k % 2) * n_samples * wmax;
        PDBN_FN(dbn_gen_logits)(m, k, h, ldh, n_samples, a);
        if (!PDBN_FN(dbn_gauss)(m, k)) PDBN_FN(pdbn_sigmoid_rows)(n_samples, n0, a, n0, NULL, (real)1);
        if (k > 0 || !means) {
            pdbn_stream s = pdbn_stream_at(seed, PDBN_RNG_GENERATIVE, (uint32_t)k, epoch, 0);
            PDBN_FN(dbn_draw)(PDBN_FN(dbn_gauss)(m, k), &s, n_samples, n0, a, a, n0, words);
        }
        h = a;
        ldh = n0;
        st = pdbn_poll(ctl, err);
    }
    pdbn_ws_free(&ws);
    return st;
}

/* Adds scale * sum over rows of x (rows x n, ld ldx) to bias. */
static void PDBN_FN(dbn_bias_step)(size_t rows, size_t n, const real *x, size_t ldx, real scale,
                                   real *bias)
{
    for (size_t r = 0; r < rows; r++)
        for (size_t j = 0; j < n; j++) bias[j] += scale * x[r * ldx + j];
}

int PDBN_FN(pdbn_dbn_updown_epoch)(const PDBN_FN(pdbn_dbn) *m, const pdbn_dbn_train *cfg,
                                   const pdbn_source *data, const int64_t *labels,
                                   const pdbn_control *ctl, pdbn_error *err)
{
    PDBN_FORWARD(PDBN_FN(dbn_check)(m, err));
    PDBN_FORWARD(pdbn_source_check(data, err));
    const PDBN_FN(pdbn_rbm) *t = &m->top;
    const size_t L = m->n_directed, nvt = t->n_visible, nht = t->n_hidden, ns = t->n_softmax;
    const size_t nb = nvt - ns;
    PDBN_RETURN_IF(data->cols != m->sizes[0], err, PDBN_ERR_VALUE,
                   "data has %zu features, the model %zu", data->cols, m->sizes[0]);
    PDBN_RETURN_IF(cfg->k < 1, err, PDBN_ERR_VALUE, "k must be at least 1");
    PDBN_RETURN_IF(cfg->batch_size < 1 || cfg->batch_size > INT32_MAX / 2, err, PDBN_ERR_VALUE,
                   "batch_size must be in [1, 2^30)");
    PDBN_RETURN_IF(!(cfg->learning_rate > 0.0) || !isfinite(cfg->learning_rate), err,
                   PDBN_ERR_VALUE, "learning_rate must be positive and finite");
    PDBN_RETURN_IF(!(cfg->weight_decay >= 0.0) || !isfinite(cfg->weight_decay), err,
                   PDBN_ERR_VALUE, "weight_decay must be non-negative");
    PDBN_RETURN_IF((ns > 0) != (labels != NULL), err, PDBN_ERR_VALUE,
                   ns > 0 ? "the model has label units: labels are needed"
                          : "the model has no label units");
    const size_t n = data->rows;
    for (size_t r = 0; labels != NULL && r < n; r++)
        PDBN_RETURN_IF(labels[r] < 0 || (uint64_t)labels[r] >= ns, err, PDBN_ERR_VALUE,
                       "label %lld out of range", (long long)labels[r]);
    if (n == 0) return PDBN_OK;
    const size_t n_batches = (n + cfg->batch_size - 1) / cfg->batch_size;
    const size_t bmax = (n + n_batches - 1) / n_batches;
    const size_t wmax = PDBN_FN(dbn_max_width)(m);
    const size_t n_words = 2 * wmax + 1;

    /* every array the epoch writes, for the snapshot */
    real *arrays[4 * PDBN_DBN_MAX_LAYERS + 3];
    size_t sizes[4 * PDBN_DBN_MAX_LAYERS + 3], n_arrays = 0, n_snap = 0;
    for (size_t k = 0; k < L; k++) {
        const size_t n0 = m->sizes[k], n1 = m->sizes[k + 1];
        arrays[n_arrays] = m->gen_w[k]; sizes[n_arrays++] = n1 * n0;
        arrays[n_arrays] = m->gen_b[k]; sizes[n_arrays++] = n0;
        arrays[n_arrays] = m->rec_w[k]; sizes[n_arrays++] = n1 * n0;
        arrays[n_arrays] = m->rec_b[k]; sizes[n_arrays++] = n1;
    }
    arrays[n_arrays] = t->weights; sizes[n_arrays++] = nht * nvt;
    arrays[n_arrays] = t->visible_bias; sizes[n_arrays++] = nvt;
    arrays[n_arrays] = t->hidden_bias; sizes[n_arrays++] = nht;
    for (size_t a = 0; a < n_arrays; a++) n_snap += sizes[a];

    size_t need = 0, layer_elems = 0;
    for (size_t k = 0; k < L; k++) layer_elems += 2 * bmax * m->sizes[k];
    pdbn_ws_add(&need, pdbn_ws_piece(n, sizeof(int64_t)));
    pdbn_ws_add(&need, pdbn_ws_piece(4096, sizeof(uint32_t)));
    pdbn_ws_add(&need, pdbn_ws_piece(n_words, sizeof(uint32_t)));
    pdbn_ws_add(&need, pdbn_ws_piece(layer_elems, sizeof(real)));
    pdbn_ws_add(&need, pdbn_ws_piece(2 * bmax * nvt, sizeof(real)));
    pdbn_ws_add(&need, pdbn_ws_piece(2 * bmax * nht, sizeof(real)));
    pdbn_ws_add(&need, pdbn_ws_piece(bmax * nht, sizeof(real)));
    pdbn_ws_add(&need, pdbn_ws_piece(bmax * wmax, sizeof(real)));
    pdbn_ws_add(&need, pdbn_ws_piece(n_snap, sizeof(real)));
    pdbn_ws ws;
    PDBN_FORWARD(pdbn_ws_alloc(&ws, need, err));
    int64_t *perm = pdbn_ws_take(&ws, n, sizeof(int64_t));
    uint32_t *pwords = pdbn_ws_take(&ws, 4096, sizeof(uint32_t));
    uint32_t *words = pdbn_ws_take(&ws, n_words, sizeof(uint32_t));
    real *layer_mem = pdbn_ws_take(&ws, layer_elems, sizeof(real));
    real *tv = pdbn_ws_take(&ws, 2 * bmax * nvt, sizeof(real)); /* [wake top visible; negative] */
    real *th = pdbn_ws_take(&ws, 2 * bmax * nht, sizeof(real)); /* their hidden probabilities */
    real *hs = pdbn_ws_take(&ws, bmax * nht, sizeof(real));
    real *pred = pdbn_ws_take(&ws, bmax * wmax, sizeof(real));
    real *snap = pdbn_ws_take(&ws, n_snap, sizeof(real));
    real *wake[PDBN_DBN_MAX_LAYERS + 1], *sleep[PDBN_DBN_MAX_LAYERS + 1];
    size_t ld[PDBN_DBN_MAX_LAYERS + 1];
    for (size_t k = 0, at = 0; k < L; k++) {
        wake[k] = layer_mem + at;
        sleep[k] = wake[k] + bmax * m->sizes[k];
        ld[k] = m->sizes[k];
        at += 2 * bmax * m->sizes[k];
    }
    /* the top RBM's visible layer (h_{L-1} and the labels) lives in tv: wake rows first, the
     * negative phase's after them; the sleep pass starts from the negative states */
    wake[L] = tv;
    ld[L] = nvt;
    PDBN_FN(pdbn_arrays_save)(n_arrays, arrays, sizes, snap);

    pdbn_stream shuffle = pdbn_stream_at(cfg->seed, PDBN_RNG_SHUFFLE, 0, cfg->epoch, 0);
    pdbn_permutation(&shuffle, n, perm, pwords);
    const real keep = (real)(1.0 - cfg->learning_rate * cfg->weight_decay);
    int st = PDBN_OK;
    for (size_t bi = 0; bi < n_batches && st == PDBN_OK; bi++) {
        const size_t lo = bi * n / n_batches, hi = (bi + 1) * n / n_batches, b = hi - lo;
        const uint32_t batch = (uint32_t)bi;
        const real lr = (real)(cfg->learning_rate / (double)b);
        real *negv = tv + b * nvt, *negh = th + b * nht;
        sleep[L] = negv;

        /* 1. wake (up) pass: sample every layer from the recognition layers */
        PDBN_FN(pdbn_source_gather)(data, perm, lo, b, wake[0], ld[0]);
        for (size_t k = 0; k < L; k++) {
            pdbn_stream s = pdbn_stream_at(cfg->seed, PDBN_RNG_RECOGNITION, (uint32_t)k, cfg->epoch, batch);
            PDBN_FN(dbn_rec_logits)(m, k, wake[k], ld[k], b, pred);
            PDBN_FN(pdbn_sigmoid_rows)(b, m->sizes[k + 1], pred, m->sizes[k + 1], NULL, (real)1);
            PDBN_FN(dbn_draw)(0, &s, b, m->sizes[k + 1], pred, wake[k + 1], ld[k + 1], words);
        }
        for (size_t r = 0; r < b && ns; r++) {
            real *g = tv + r * nvt + nb;
            for (size_t y = 0; y < ns; y++) g[y] = (int64_t)y == labels[perm[lo + r]] ? (real)1 : (real)0;
        }

        /* 2. the top RBM: positive statistics at the wake states, then k steps of Gibbs
         * from there (contrastive divergence in the associative memory) */
        PDBN_FN(pdbn_gemm)(0, 1, b, nht, nvt, (real)1, tv, nvt, t->weights, nvt, (real)0, th, nht);
        PDBN_FN(pdbn_sigmoid_rows)(b, nht, th, nht, t->hidden_bias, (real)1);
        pdbn_stream sh0 = pdbn_stream_at(cfg->seed, PDBN_RNG_HIDDEN, 0, cfg->epoch, batch);
        PDBN_FN(dbn_draw)(0, &sh0, b, nht, th, hs, nht, words);
        for (unsigned it = 1; it <= cfg->k; it++) {
            pdbn_stream sv = pdbn_stream_at(cfg->seed, PDBN_RNG_VISIBLE, it - 1, cfg->epoch, batch);
            PDBN_FN(pdbn_rbm_visible_given_hidden)(t, hs, b, &sv, negv, words);
            PDBN_FN(pdbn_gemm)(0, 1, b, nht, nvt, (real)1, negv, nvt, t->weights, nvt, (real)0, negh, nht);
            PDBN_FN(pdbn_sigmoid_rows)(b, nht, negh, nht, t->hidden_bias, (real)1);
            if (it < cfg->k) {
                pdbn_stream sh = pdbn_stream_at(cfg->seed, PDBN_RNG_HIDDEN, it, cfg->epoch, batch);
                PDBN_FN(dbn_draw)(0, &sh, b, nht, negh, hs, nht, words);
            }
        }

        /* 3. sleep (down) pass from the negative states: sample each layer from the generative
         * layers; the data layer keeps its means (Hinton et al. 2006, App. B) */
        for (size_t k = L; k-- > 0;) {
            const size_t n0 = m->sizes[k];
            PDBN_FN(dbn_gen_logits)(m, k, sleep[k + 1], ld[k + 1], b, sleep[k]);
            if (!PDBN_FN(dbn_gauss)(m, k)) PDBN_FN(pdbn_sigmoid_rows)(b, n0, sleep[k], n0, NULL, (real)1);
            if (k > 0) {
                pdbn_stream s = pdbn_stream_at(cfg->seed, PDBN_RNG_GENERATIVE, (uint32_t)k, cfg->epoch, batch);
                PDBN_FN(dbn_draw)(0, &s, b, n0, sleep[k], sleep[k], n0, words);
            }
        }

        /* 4. updates. Top RBM: <v h>_wake - <v h>_negative over the stacked rows (one GEMM). */
        for (size_t r = 0; r < b; r++)
            for (size_t j = 0; j < nht; j++) negh[r * nht + j] = -negh[r * nht + j];
        PDBN_FN(dbn_bias_step)(b, nvt, tv, nvt, lr, t->visible_bias);
        PDBN_FN(dbn_bias_step)(b, nvt, negv, nvt, -lr, t->visible_bias);
        PDBN_FN(dbn_bias_step)(2 * b, nht, th, nht, lr, t->hidden_bias);
        PDBN_FN(pdbn_gemm)(1, 0, nht, nvt, 2 * b, lr, th, nht, tv, nvt, keep, t->weights, nvt);
        /* Generative layers (wake phase): gen_w[k] += lr h_{k+1}' (h_k - p(h_k | h_{k+1})),
         * the delta rule of text 002 ("Wake-sleep fine tuning"). */
        for (size_t k = 0; k < L; k++) {
            const size_t n0 = m->sizes[k], n1 = m->sizes[k + 1];
            PDBN_FN(dbn_gen_logits)(m, k, wake[k + 1], ld[k + 1], b, pred);
            if (!PDBN_FN(dbn_gauss)(m, k)) PDBN_FN(pdbn_sigmoid_rows)(b, n0, pred, n0, NULL, (real)1);
            for (size_t r = 0; r < b; r++)
                for (size_t i = 0; i < n0; i++) pred[r * n0 + i] = wake[k][r * ld[k] + i] - pred[r * n0 + i];
            PDBN_FN(dbn_bias_step)(b, n0, pred, n0, lr, m->gen_b[k]);
            PDBN_FN(pdbn_gemm)(1, 0, n1, n0, b, lr, wake[k + 1], ld[k + 1], pred, n0, keep, m->gen_w[k], n0);
        }
        /* Recognition layers (sleep phase): rec_w[k] += lr (h_{k+1} - q(h_{k+1} | h_k))' h_k. */
        for (size_t k = 0; k < L; k++) {
            const size_t n0 = m->sizes[k], n1 = m->sizes[k + 1];
            PDBN_FN(dbn_rec_logits)(m, k, sleep[k], ld[k], b, pred);
            PDBN_FN(pdbn_sigmoid_rows)(b, n1, pred, n1, NULL, (real)1);
            for (size_t r = 0; r < b; r++)
                for (size_t j = 0; j < n1; j++) pred[r * n1 + j] = sleep[k + 1][r * ld[k + 1] + j] - pred[r * n1 + j];
            PDBN_FN(dbn_bias_step)(b, n1, pred, n1, lr, m->rec_b[k]);
            PDBN_FN(pdbn_gemm)(1, 0, n1, n0, b, lr, pred, n1, sleep[k], ld[k], keep, m->rec_w[k], n0);
        }
        st = pdbn_poll(ctl, err);
    }
    if (st == PDBN_OK && !PDBN_FN(pdbn_arrays_finite)(n_arrays, arrays, sizes))
        st = pdbn_fail(err, PDBN_ERR_NUMERIC,
                       "fine-tuning diverged (non-finite parameters); the model was restored "
                       "to its state before this epoch: lower learning_rate_fine_tune");
    if (st != PDBN_OK) PDBN_FN(pdbn_arrays_restore)(n_arrays, arrays, sizes, snap);
    pdbn_ws_free(&ws);
    return st;
}

int PDBN_FN(pdbn_dbn_bound)(const PDBN_FN(pdbn_dbn) *m, const pdbn_source *data, size_t n_samples,
                            double log_z, uint32_t seed, uint32_t epoch, double *out,
                            double *std_err, const pdbn_control *ctl, pdbn_error *err)
{
    PDBN_FORWARD(PDBN_FN(dbn_check)(m, err));
    PDBN_FORWARD(pdbn_source_check(data, err));
    const size_t L = m->n_directed, n0 = m->sizes[0];
    const PDBN_FN(pdbn_rbm) *t = &m->top;
    const size_t nht = t->n_hidden, ns = t->n_softmax;
    PDBN_RETURN_IF(L < 1, err, PDBN_ERR_VALUE, "the bound needs a directed layer");
    PDBN_RETURN_IF(data->cols != n0, err, PDBN_ERR_VALUE, "data has %zu features, the model %zu",
                   data->cols, n0);
    PDBN_RETURN_IF(n_samples < 1 || n_samples > (1u << 20), err, PDBN_ERR_VALUE,
                   "n_samples must be in [1, 2^20]");
    PDBN_RETURN_IF(!isfinite(log_z), err, PDBN_ERR_VALUE, "log_z must be finite");
    /* R data rows x S draws per block; beyond 1024 draws a row's draws go in blocks of SB */
    const size_t S = n_samples, SB = S > 1024 ? 1024 : S, R = 1024 / SB, M = R * SB;
    const size_t wmax = PDBN_FN(dbn_max_width)(m);
    size_t need = 0, layer_elems = 0;
    for (size_t k = 0; k <= L; k++) layer_elems += M * m->sizes[k];
    pdbn_ws_add(&need, pdbn_ws_piece(layer_elems, sizeof(real)));
    pdbn_ws_add(&need, pdbn_ws_piece(M * wmax, sizeof(real)));
    pdbn_ws_add(&need, pdbn_ws_piece(((ns ? ns : 1) + 1) * nht, sizeof(real)));
    pdbn_ws_add(&need, pdbn_ws_piece(M, sizeof(double)));
    pdbn_ws_add(&need, pdbn_ws_piece(2 * wmax + 1, sizeof(uint32_t)));
    pdbn_ws ws;
    PDBN_FORWARD(pdbn_ws_alloc(&ws, need, err));
    real *x[PDBN_DBN_MAX_LAYERS + 1];
    real *mem = pdbn_ws_take(&ws, layer_elems, sizeof(real));
    for (size_t k = 0, at = 0; k <= L; at += M * m->sizes[k], k++) x[k] = mem + at;
    real *a = pdbn_ws_take(&ws, M * wmax, sizeof(real));
    real *lab = pdbn_ws_take(&ws, ((ns ? ns : 1) + 1) * nht, sizeof(real));
    real *tmp = lab + (ns ? ns : 1) * nht;
    double *term = pdbn_ws_take(&ws, M, sizeof(double));
    uint32_t *words = pdbn_ws_take(&ws, 2 * wmax + 1, sizeof(uint32_t));
    PDBN_FN(dbn_top_labels)(m, lab);
    int st = PDBN_OK;
    for (size_t r0 = 0; r0 < data->rows && st == PDBN_OK; r0 += R) {
        const size_t rows = data->rows - r0 < R ? data->rows - r0 : R;
        double sum[1024], sum2[1024], shift[1024];
        PDBN_FN(pdbn_source_gather)(data, NULL, r0, rows, a, n0);
        for (size_t i = 0; i < rows; i++) {
            for (size_t s = 0; s < SB; s++) memcpy(x[0] + (i * SB + s) * n0, a + i * n0, n0 * sizeof(real));
            sum[i] = sum2[i] = 0.0;
        }
        for (size_t s0 = 0; s0 < S && st == PDBN_OK; s0 += SB) {
            /* each data row repeated: SB draws of h ~ q(h | v) side by side */
            const size_t sb = S - s0 < SB ? S - s0 : SB, Mr = rows * SB;
            const uint32_t chunk = (uint32_t)(r0 / R), step = (uint32_t)(s0 / SB);
            for (size_t i = 0; i < Mr; i++) term[i] = 0.0;
            for (size_t k = 0; k < L; k++) {
                const size_t n1 = m->sizes[k + 1];
                pdbn_stream s = pdbn_stream_at(seed, PDBN_RNG_RECOGNITION,
                                               step * (uint32_t)L + (uint32_t)k, epoch, chunk);
                PDBN_FN(dbn_rec_logits)(m, k, x[k], m->sizes[k], Mr, a);
                /* H(q(h_{k+1} | h_k)) analytically: a Rao-Blackwellised -E[log q] */
                for (size_t i = 0; i < Mr; i++) term[i] += PDBN_FN(dbn_entropy)(n1, a + i * n1);
                PDBN_FN(pdbn_sigmoid_rows)(Mr, n1, a, n1, NULL, (real)1);
                PDBN_FN(dbn_draw)(0, &s, Mr, n1, a, x[k + 1], n1, words);
            }
            for (size_t k = 0; k < L; k++) {
                const size_t nk = m->sizes[k];
                PDBN_FN(dbn_gen_logits)(m, k, x[k + 1], m->sizes[k + 1], Mr, a);
                for (size_t i = 0; i < Mr; i++)
                    term[i] += PDBN_FN(dbn_log_lik)(PDBN_FN(dbn_gauss)(m, k), nk, x[k] + i * nk, a + i * nk);
            }
            PDBN_FN(dbn_top_pre)(m, x[L], m->sizes[L], Mr, a);
            for (size_t i = 0; i < Mr; i++)
                term[i] += PDBN_FN(dbn_top_neg_free)(m, x[L] + i * m->sizes[L], a + i * nht, lab, tmp);
            for (size_t i = 0; i < rows; i++) {
                if (s0 == 0) shift[i] = term[i * SB]; /* sums of shifted terms: stable variance */
                for (size_t s = 0; s < sb; s++) {
                    const double d = term[i * SB + s] - shift[i];
                    sum[i] += d;
                    sum2[i] += d * d;
                }
            }
            st = pdbn_poll(ctl, err);
        }
        for (size_t i = 0; i < rows && st == PDBN_OK; i++) {
            const double mean = sum[i] / (double)S;
            const double var = S > 1 ? (sum2[i] - (double)S * mean * mean) / ((double)S - 1.0) : NAN;
            out[r0 + i] = shift[i] + mean - log_z;
            if (std_err != NULL) std_err[r0 + i] = S > 1 ? sqrt((var > 0 ? var : 0.0) / (double)S) : NAN;
        }
    }
    pdbn_ws_free(&ws);
    return st;
}

/* Writes the binary units of configuration c, layer by layer (h_1 in the lowest bits). */
static void PDBN_FN(dbn_decode)(const PDBN_FN(pdbn_dbn) *m, uint64_t c, size_t row, real *const *h)
{
    unsigned bit = 0;
    for (size_t k = 1; k <= m->n_directed; k++) {
        const size_t nk = m->sizes[k];
        for (size_t j = 0; j < nk; j++, bit++) h[k][row * nk + j] = (real)((c >> bit) & 1u);
    }
}

int PDBN_FN(pdbn_dbn_exact)(const PDBN_FN(pdbn_dbn) *m, const pdbn_source *data, double log_z,
                            unsigned max_bits, double *log_p, double *bound,
                            const pdbn_control *ctl, pdbn_error *err)
{
    enum { CH = 1024 };
    PDBN_FORWARD(PDBN_FN(dbn_check)(m, err));
    PDBN_FORWARD(pdbn_source_check(data, err));
    const size_t L = m->n_directed, n0 = m->sizes[0];
    const PDBN_FN(pdbn_rbm) *t = &m->top;
    const size_t nht = t->n_hidden, ns = t->n_softmax;
    PDBN_RETURN_IF(L < 1, err, PDBN_ERR_VALUE, "enumeration needs a directed layer");
    PDBN_RETURN_IF(data->cols != n0, err, PDBN_ERR_VALUE, "data has %zu features, the model %zu",
                   data->cols, n0);
    PDBN_RETURN_IF(!isfinite(log_z), err, PDBN_ERR_VALUE, "log_z must be finite");
    size_t bits = 0;
    for (size_t k = 1; k <= L; k++) bits += m->sizes[k];
    const size_t n1 = m->sizes[1];
    PDBN_RETURN_IF(bits > max_bits || bits > 30, err, PDBN_ERR_VALUE,
                   "exact enumeration covers 2^%zu hidden states, more than the limit of 2^%u; "
                   "use method='ais'", bits, max_bits);
    const uint64_t n_cfg = (uint64_t)1 << bits, n_h1 = (uint64_t)1 << n1;
    PDBN_RETURN_IF(n_h1 * n0 > ((uint64_t)1 << 28), err, PDBN_ERR_VALUE,
                   "the first hidden layer is too wide to enumerate");
    const size_t wmax = PDBN_FN(dbn_max_width)(m);
    size_t need = 0, layer_elems = 0;
    for (size_t k = 1; k <= L; k++) layer_elems += CH * m->sizes[k];
    pdbn_ws_add(&need, pdbn_ws_piece(layer_elems, sizeof(real)));
    pdbn_ws_add(&need, pdbn_ws_piece(CH * wmax, sizeof(real)));
    pdbn_ws_add(&need, pdbn_ws_piece(((ns ? ns : 1) + 1) * nht, sizeof(real)));
    pdbn_ws_add(&need, pdbn_ws_piece(2 * n_cfg, sizeof(double)));
    pdbn_ws_add(&need, pdbn_ws_piece(n_h1 * n0, sizeof(real)));
    pdbn_ws_add(&need, pdbn_ws_piece(2 * n_h1, sizeof(double)));
    pdbn_ws_add(&need, pdbn_ws_piece(n0 + n1, sizeof(real)));
    pdbn_ws ws;
    PDBN_FORWARD(pdbn_ws_alloc(&ws, need, err));
    real *h[PDBN_DBN_MAX_LAYERS + 1];
    real *mem = pdbn_ws_take(&ws, layer_elems, sizeof(real));
    h[0] = NULL;
    for (size_t k = 1, at = 0; k <= L; at += CH * m->sizes[k], k++) h[k] = mem + at;
    real *a = pdbn_ws_take(&ws, CH * wmax, sizeof(real));
    real *lab = pdbn_ws_take(&ws, ((ns ? ns : 1) + 1) * nht, sizeof(real));
    real *tmp = lab + (ns ? ns : 1) * nht;
    double *prior = pdbn_ws_take(&ws, 2 * n_cfg, sizeof(double)), *qup = prior + n_cfg;
    real *gen0 = pdbn_ws_take(&ws, n_h1 * n0, sizeof(real));
    double *lpv = pdbn_ws_take(&ws, 2 * n_h1, sizeof(double)), *lq1 = lpv + n_h1;
    real *v = pdbn_ws_take(&ws, n0 + n1, sizeof(real)), *a1 = v + n0;
    PDBN_FN(dbn_top_labels)(m, lab);

    /* Per configuration of h_1..h_{L-1}, independent of v:
     *   prior[c] = sum_{k>=1} log p(h_k | h_{k+1}) - F_top(h_{L-1})   (log p(h) + log Z)
     *   qup[c]   = sum_{k>=1} log q(h_{k+1} | h_k)                   (log q(h | v) - log q(h_1 | v))
     * and for every h_1 the generative logits of v. */
    int st = PDBN_OK;
    for (uint64_t c0 = 0; c0 < n_cfg && st == PDBN_OK; c0 += CH) {
        const size_t rows = n_cfg - c0 < CH ? (size_t)(n_cfg - c0) : CH;
        for (size_t r = 0; r < rows; r++) {
            PDBN_FN(dbn_decode)(m, c0 + r, r, h);
            prior[c0 + r] = 0.0;
            qup[c0 + r] = 0.0;
        }
        for (size_t k = 1; k < L; k++) {
            const size_t nk = m->sizes[k], nk1 = m->sizes[k + 1];
            PDBN_FN(dbn_gen_logits)(m, k, h[k + 1], nk1, rows, a);
            for (size_t r = 0; r < rows; r++)
                prior[c0 + r] += PDBN_FN(dbn_log_lik)(0, nk, h[k] + r * nk, a + r * nk);
            PDBN_FN(dbn_rec_logits)(m, k, h[k], nk, rows, a);
            for (size_t r = 0; r < rows; r++)
                qup[c0 + r] += PDBN_FN(dbn_log_lik)(0, nk1, h[k + 1] + r * nk1, a + r * nk1);
        }
        PDBN_FN(dbn_top_pre)(m, h[L], m->sizes[L], rows, a);
        for (size_t r = 0; r < rows; r++)
            prior[c0 + r] += PDBN_FN(dbn_top_neg_free)(m, h[L] + r * m->sizes[L], a + r * nht, lab, tmp);
        if (c0 < n_h1) /* h_1 = the low n1 bits of c: these rows cover every h_1 */
            PDBN_FN(dbn_gen_logits)(m, 0, h[1], n1, rows < n_h1 - c0 ? rows : (size_t)(n_h1 - c0),
                                    gen0 + c0 * n0);
        st = pdbn_poll(ctl, err);
    }
    const int gauss = PDBN_FN(dbn_gauss)(m, 0);
    for (size_t r = 0; r < data->rows && st == PDBN_OK; r++) {
        PDBN_FN(pdbn_source_gather)(data, NULL, r, 1, v, n0);
        PDBN_FN(dbn_rec_logits)(m, 0, v, n0, 1, a1);
        const double sp1 = PDBN_FN(pdbn_softplus_sum)(n1, a1, NULL, 1.0);
        for (uint64_t c = 0; c < n_h1; c++) {
            double dot = 0.0;
            for (size_t j = 0; j < n1; j++) dot += ((c >> j) & 1u) ? (double)a1[j] : 0.0;
            lq1[c] = dot - sp1;
            lpv[c] = PDBN_FN(dbn_log_lik)(gauss, n0, v, gen0 + c * n0);
        }
        double mx = -INFINITY, sum = 0.0, bnd = 0.0;
        for (uint64_t c = 0; c < n_cfg; c++) {
            const uint64_t c1 = c & (n_h1 - 1);
            const double lj = lpv[c1] + prior[c], lq = lq1[c1] + qup[c];
            if (lj > mx) {
                sum = sum * exp(mx - lj) + 1.0;
                mx = lj;
            } else {
                sum += exp(lj - mx);
            }
            const double q = exp(lq);
            if (q > 0.0) bnd += q * (lj - lq);
        }
        if (log_p != NULL) log_p[r] = mx + log(sum) - log_z;
        if (bound != NULL) bound[r] = bnd - log_z;
        if ((r & 63) == 63) st = pdbn_poll(ctl, err);
    }
    pdbn_ws_free(&ws);
    return st;
}
