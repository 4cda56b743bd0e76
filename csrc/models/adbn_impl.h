/* Type-generic adversarial DBN kernels; instantiated by adbn.c through pdbn_tmpl.h.
 * Layer l (0-based) is h^{l+1} of the text; see pdbn_adbn.h. */

static int PDBN_FN(adbn_check)(const PDBN_FN(pdbn_adbn) *g, pdbn_error *err)
{
    PDBN_RETURN_IF(g == NULL || g->sizes == NULL || g->weights == NULL || g->biases == NULL, err,
                   PDBN_ERR_VALUE, "generator parameters are missing");
    PDBN_RETURN_IF(g->n_layers < 2 || g->n_layers > PDBN_ADBN_MAX_LAYERS, err, PDBN_ERR_VALUE,
                   "a generator has 2 to %d layers", (int)PDBN_ADBN_MAX_LAYERS);
    for (size_t l = 0; l < g->n_layers; l++) {
        PDBN_RETURN_IF(g->sizes[l] == 0 || g->sizes[l] > INT32_MAX, err, PDBN_ERR_VALUE,
                       "generator layer %zu has an invalid size", l);
        PDBN_RETURN_IF(g->biases[l] == NULL || (l + 1 < g->n_layers && g->weights[l] == NULL),
                       err, PDBN_ERR_VALUE, "generator layer %zu is missing", l);
    }
    return PDBN_OK;
}

/* the discriminator's input width for this generator */
static size_t PDBN_FN(adbn_dis_input)(const PDBN_FN(pdbn_adbn) *g)
{
    return g->sizes[g->n_layers - 1] + (g->conditional ? g->sizes[0] : 0);
}

static int PDBN_FN(adbn_check_dis)(const PDBN_FN(pdbn_adbn) *g, const PDBN_FN(pdbn_mlp) *d,
                                   int loss, pdbn_error *err)
{
    PDBN_RETURN_IF(d == NULL || d->sizes == NULL || d->weights == NULL || d->biases == NULL ||
                       d->activations == NULL,
                   err, PDBN_ERR_VALUE, "discriminator parameters are missing");
    PDBN_RETURN_IF(d->n_layers < 1 || d->n_layers > PDBN_MLP_MAX_LAYERS, err, PDBN_ERR_VALUE,
                   "a discriminator has 1 to %d layers", (int)PDBN_MLP_MAX_LAYERS);
    PDBN_RETURN_IF(d->sizes[0] != PDBN_FN(adbn_dis_input)(g), err, PDBN_ERR_VALUE,
                   "the discriminator takes %zu inputs, the generator gives %zu", d->sizes[0],
                   PDBN_FN(adbn_dis_input)(g));
    PDBN_RETURN_IF(d->sizes[d->n_layers] != 1, err, PDBN_ERR_VALUE,
                   "the discriminator must have one output");
    PDBN_RETURN_IF(d->activations[d->n_layers - 1] != PDBN_ACT_IDENTITY, err, PDBN_ERR_VALUE,
                   "the discriminator's last layer must be linear (the loss applies its head)");
    PDBN_RETURN_IF(loss < PDBN_LOSS_GAN || loss > PDBN_LOSS_MLE, err, PDBN_ERR_VALUE,
                   "unknown loss");
    return PDBN_OK;
}

static double PDBN_FN(adbn_softplus)(double x)
{
    return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x));
}

/* The head of the loss at the discriminator's output a: f, phi(f), psi(f) and their
 * derivatives with respect to a (Eq. 5 and the choices after it); adbn_head is in adbn.c. */
static adbn_head PDBN_FN(adbn_head_at)(int loss, double a)
{
    adbn_head h;
    switch (loss) {
    case PDBN_LOSS_GAN: { /* f = sigmoid(a), phi = log f, psi = log(1 - f) */
        const double s = 1.0 / (1.0 + exp(-a));
        h.f = s;
        h.phi = -PDBN_FN(adbn_softplus)(-a);
        h.psi = -PDBN_FN(adbn_softplus)(a);
        h.dphi = 1.0 - s;
        h.dpsi = -s;
        break;
    }
    case PDBN_LOSS_WGAN: /* f = a, phi = f, psi = -f */
        h.f = a;
        h.phi = a;
        h.psi = -a;
        h.dphi = 1.0;
        h.dpsi = -1.0;
        break;
    default: { /* 'mle': f = exp(a) > 0, phi = log f = a, psi = -f */
        const double e = exp(a < 80.0 ? a : 80.0);
        h.f = e;
        h.phi = a;
        h.psi = -e;
        h.dphi = 1.0;
        h.dpsi = -e;
        break;
    }
    }
    return h;
}

/* Scratch of one forward sample of n rows. */
typedef struct PDBN_FN(adbn_buf) {
    real *h[PDBN_ADBN_MAX_LAYERS]; /* n x sizes[l] states */
    real *p[PDBN_ADBN_MAX_LAYERS]; /* n x sizes[l] probabilities (l >= 1) */
    real *p0;                      /* sizes[0]: sigmoid(b^1) */
    uint32_t *words;
} PDBN_FN(adbn_buf);

static size_t PDBN_FN(adbn_buf_elems)(const PDBN_FN(pdbn_adbn) *g, size_t n)
{
    size_t e = g->sizes[0];
    for (size_t l = 0; l < g->n_layers; l++) e += 2 * n * g->sizes[l];
    return e;
}

static void PDBN_FN(adbn_buf_carve)(const PDBN_FN(pdbn_adbn) *g, size_t n, real *mem,
                                    uint32_t *words, PDBN_FN(adbn_buf) *b)
{
    b->p0 = mem;
    mem += g->sizes[0];
    for (size_t l = 0; l < g->n_layers; l++) {
        b->h[l] = mem;
        b->p[l] = mem + n * g->sizes[l];
        mem += 2 * n * g->sizes[l];
    }
    b->words = words;
}

/* Forward sampling (Eq. 2): h^1 from sigmoid(b^1) or the labels, then each layer given the
 * previous one. Stream (seed, GENERATIVE, layer, epoch, batch), one row of words per sample. */
static void PDBN_FN(adbn_forward)(const PDBN_FN(pdbn_adbn) *g, size_t n, const int64_t *labels,
                                  uint32_t seed, uint32_t epoch, uint32_t batch,
                                  PDBN_FN(adbn_buf) *b)
{
    const size_t n0 = g->sizes[0];
    if (g->conditional) {
        for (size_t r = 0; r < n; r++) {
            real *x = b->h[0] + r * n0;
            for (size_t i = 0; i < n0; i++) x[i] = 0;
            x[labels[r]] = 1;
        }
    } else {
        memcpy(b->p0, g->biases[0], n0 * sizeof(real));
        PDBN_FN(pdbn_sigmoid_rows)(1, n0, b->p0, n0, NULL, (real)1);
        pdbn_stream s = pdbn_stream_at(seed, PDBN_RNG_GENERATIVE, 0, epoch, batch);
        for (size_t r = 0; r < n; r++) {
            pdbn_random_words(&s, (uint32_t)r, n0, b->words);
            PDBN_FN(pdbn_bernoulli)(n0, b->p0, b->words, b->h[0] + r * n0);
        }
    }
    for (size_t l = 1; l < g->n_layers; l++) {
        const size_t nl = g->sizes[l], np = g->sizes[l - 1];
        PDBN_FN(pdbn_gemm)(0, 1, n, nl, np, (real)1, b->h[l - 1], np, g->weights[l - 1], np,
                           (real)0, b->p[l], nl);
        PDBN_FN(pdbn_sigmoid_rows)(n, nl, b->p[l], nl, g->biases[l], (real)1);
        pdbn_stream s = pdbn_stream_at(seed, PDBN_RNG_GENERATIVE, (uint32_t)l, epoch, batch);
        for (size_t r = 0; r < n; r++) {
            pdbn_random_words(&s, (uint32_t)r, nl, b->words);
            PDBN_FN(pdbn_bernoulli)(nl, b->p[l] + r * nl, b->words, b->h[l] + r * nl);
        }
    }
}

/* The discriminator's input rows from generated states: [one-hot label, h^L] or h^L. */
static void PDBN_FN(adbn_dis_rows)(const PDBN_FN(pdbn_adbn) *g, size_t n,
                                   const PDBN_FN(adbn_buf) *b, real *out)
{
    const size_t nL = g->sizes[g->n_layers - 1], n0 = g->sizes[0];
    const size_t w = PDBN_FN(adbn_dis_input)(g);
    for (size_t r = 0; r < n; r++) {
        real *o = out + r * w;
        if (g->conditional) {
            memcpy(o, b->h[0] + r * n0, n0 * sizeof(real));
            o += n0;
        }
        memcpy(o, b->h[g->n_layers - 1] + r * nL, nL * sizeof(real));
    }
}

/* gw, gb = (1/n) sum_r s_r d log p(h_r) / d theta (Eq. 9's per-layer derivatives of Eq. 2):
 *   d/db^1 = h^1 - sigmoid(b^1) (not in conditional mode), d/dW^{l-1} = (h^l - p^l) h^{l-1}',
 *   d/db^l = h^l - p^l. The p arrays are overwritten. */
static void PDBN_FN(adbn_score_gradient)(const PDBN_FN(pdbn_adbn) *g, size_t n, const double *s,
                                         PDBN_FN(adbn_buf) *b, real *const *gw, real *const *gb)
{
    const size_t n0 = g->sizes[0];
    for (size_t i = 0; i < n0; i++) gb[0][i] = 0;
    if (!g->conditional)
        for (size_t r = 0; r < n; r++) {
            const real w = (real)(s[r] / (double)n);
            for (size_t i = 0; i < n0; i++) gb[0][i] += w * (b->h[0][r * n0 + i] - b->p0[i]);
        }
    for (size_t l = 1; l < g->n_layers; l++) {
        const size_t nl = g->sizes[l], np = g->sizes[l - 1];
        real *D = b->p[l];
        for (size_t r = 0; r < n; r++) {
            const real w = (real)(s[r] / (double)n);
            for (size_t i = 0; i < nl; i++) D[r * nl + i] = w * (b->h[l][r * nl + i] - D[r * nl + i]);
        }
        PDBN_FN(pdbn_gemm)(1, 0, nl, np, n, (real)1, D, nl, b->h[l - 1], np, (real)0, gw[l - 1], np);
        for (size_t i = 0; i < nl; i++) gb[l][i] = 0;
        for (size_t r = 0; r < n; r++)
            for (size_t i = 0; i < nl; i++) gb[l][i] += D[r * nl + i];
    }
}

/* s_r = psi_r - c_r with the leave-one-out baseline c_r = (sum psi - psi_r) / (n - 1): each
 * c_r is independent of sample r, so the estimate stays unbiased (E d log p = 0). */
static void PDBN_FN(adbn_baseline)(size_t n, double *s, int baseline)
{
    if (!baseline || n < 2) return;
    double sum = 0.0;
    for (size_t r = 0; r < n; r++) sum += s[r];
    double *tmp = s;
    for (size_t r = 0; r < n; r++) tmp[r] = s[r] - (sum - s[r]) / (double)(n - 1);
}

int PDBN_FN(pdbn_adbn_sample)(const PDBN_FN(pdbn_adbn) *g, size_t n, const int64_t *labels,
                              uint32_t seed, uint32_t epoch, real *const *states, real *probs,
                              const pdbn_control *ctl, pdbn_error *err)
{
    PDBN_FORWARD(PDBN_FN(adbn_check)(g, err));
    PDBN_RETURN_IF(states == NULL, err, PDBN_ERR_VALUE, "the output arrays are missing");
    const size_t L = g->n_layers, n0 = g->sizes[0];
    if (g->conditional) {
        PDBN_RETURN_IF(labels == NULL && n > 0, err, PDBN_ERR_VALUE,
                       "a conditional generator needs labels");
        for (size_t r = 0; r < n; r++)
            PDBN_RETURN_IF(labels[r] < 0 || (uint64_t)labels[r] >= n0, err, PDBN_ERR_VALUE,
                           "label %lld out of range", (long long)labels[r]);
    }
    if (n == 0) return PDBN_OK;
    size_t wmax = 0;
    for (size_t l = 0; l < L; l++) wmax = g->sizes[l] > wmax ? g->sizes[l] : wmax;
    /* one block of rows at a time: the caller's arrays are the states; p in scratch */
    enum { BLOCK = 256 };
    size_t pe = n0;
    for (size_t l = 0; l < L; l++) pe += BLOCK * g->sizes[l];
    size_t need = 0;
    pdbn_ws_add(&need, pdbn_ws_piece(pe, sizeof(real)));
    pdbn_ws_add(&need, pdbn_ws_piece(wmax, sizeof(uint32_t)));
    pdbn_ws ws;
    PDBN_FORWARD(pdbn_ws_alloc(&ws, need, err));
    real *pm = pdbn_ws_take(&ws, pe, sizeof(real));
    uint32_t *words = pdbn_ws_take(&ws, wmax, sizeof(uint32_t));
    int st = PDBN_OK;
    for (size_t lo = 0; lo < n && st == PDBN_OK; lo += BLOCK) {
        const size_t rows = n - lo < BLOCK ? n - lo : BLOCK;
        PDBN_FN(adbn_buf) b;
        b.p0 = pm;
        b.words = words;
        real *at = pm + n0;
        for (size_t l = 0; l < L; l++) {
            b.h[l] = states[l] + lo * g->sizes[l];
            b.p[l] = at;
            at += BLOCK * g->sizes[l];
        }
        /* the rows of this block draw words rows lo.. of the streams: shift by using the
         * block index as the stream's batch word */
        PDBN_FN(adbn_forward)(g, rows, labels != NULL ? labels + lo : NULL, seed, epoch,
                              (uint32_t)(lo / BLOCK), &b);
        if (probs != NULL) {
            const size_t nL = g->sizes[L - 1];
            memcpy(probs + lo * nL, b.p[L - 1], rows * nL * sizeof(real));
        }
        st = pdbn_poll(ctl, err);
    }
    pdbn_ws_free(&ws);
    return st;
}

int PDBN_FN(pdbn_adbn_generator_gradient)(const PDBN_FN(pdbn_adbn) *g,
                                          const PDBN_FN(pdbn_mlp) *d, int loss, size_t n,
                                          int baseline, const int64_t *labels, uint32_t seed,
                                          uint32_t epoch, real *const *gw, real *const *gb,
                                          double *objective, const pdbn_control *ctl,
                                          pdbn_error *err)
{
    PDBN_FORWARD(PDBN_FN(adbn_check)(g, err));
    PDBN_FORWARD(PDBN_FN(adbn_check_dis)(g, d, loss, err));
    PDBN_RETURN_IF(n < 1 || (baseline && n < 2), err, PDBN_ERR_VALUE,
                   "the estimate needs at least %d samples", baseline ? 2 : 1);
    const size_t L = g->n_layers, n0 = g->sizes[0];
    if (g->conditional) {
        PDBN_RETURN_IF(labels == NULL, err, PDBN_ERR_VALUE, "a conditional generator needs labels");
        for (size_t r = 0; r < n; r++)
            PDBN_RETURN_IF(labels[r] < 0 || (uint64_t)labels[r] >= n0, err, PDBN_ERR_VALUE,
                           "label %lld out of range", (long long)labels[r]);
    }
    size_t wmax = PDBN_FN(pdbn_mlp_max_width)(d);
    for (size_t l = 0; l < L; l++) wmax = g->sizes[l] > wmax ? g->sizes[l] : wmax;
    const size_t din = PDBN_FN(adbn_dis_input)(g);
    size_t need = 0;
    pdbn_ws_add(&need, pdbn_ws_piece(PDBN_FN(adbn_buf_elems)(g, n), sizeof(real)));
    pdbn_ws_add(&need, pdbn_ws_piece(n * din + PDBN_FN(pdbn_mlp_storage)(d, n), sizeof(real)));
    pdbn_ws_add(&need, pdbn_ws_piece(n, sizeof(double)));
    pdbn_ws_add(&need, pdbn_ws_piece(wmax, sizeof(uint32_t)));
    pdbn_ws ws;
    PDBN_FORWARD(pdbn_ws_alloc(&ws, need, err));
    real *bm = pdbn_ws_take(&ws, PDBN_FN(adbn_buf_elems)(g, n), sizeof(real));
    real *xin = pdbn_ws_take(&ws, n * din + PDBN_FN(pdbn_mlp_storage)(d, n), sizeof(real));
    real *acts = xin + n * din;
    double *s = pdbn_ws_take(&ws, n, sizeof(double));
    uint32_t *words = pdbn_ws_take(&ws, wmax, sizeof(uint32_t));
    PDBN_FN(adbn_buf) b;
    PDBN_FN(adbn_buf_carve)(g, n, bm, words, &b);
    PDBN_FN(adbn_forward)(g, n, labels, seed, epoch, 0, &b);
    PDBN_FN(adbn_dis_rows)(g, n, &b, xin);
    const real *a = PDBN_FN(pdbn_mlp_forward)(d, xin, din, n, acts);
    double total = 0.0;
    for (size_t r = 0; r < n; r++) {
        s[r] = PDBN_FN(adbn_head_at)(loss, (double)a[r]).psi;
        total += s[r];
    }
    if (objective != NULL) *objective = total / (double)n;
    PDBN_FN(adbn_baseline)(n, s, baseline);
    PDBN_FN(adbn_score_gradient)(g, n, s, &b, gw, gb);
    pdbn_ws_free(&ws);
    return pdbn_poll(ctl, err);
}

/* n row indices uniformly from [0, n_rows), from stream (seed, DATA, step, epoch, batch) */
static void PDBN_FN(adbn_draw_rows)(size_t n, size_t n_rows, uint32_t seed, uint32_t step,
                                    uint32_t epoch, uint32_t batch, int64_t *idx, uint32_t *words)
{
    pdbn_stream s = pdbn_stream_at(seed, PDBN_RNG_DATA, step, epoch, batch);
    pdbn_random_words(&s, 0, n, words);
    for (size_t r = 0; r < n; r++)
        idx[r] = (int64_t)(((uint64_t)words[r] * (uint64_t)n_rows) >> 32);
}

int PDBN_FN(pdbn_adbn_train)(const PDBN_FN(pdbn_adbn) *g, const PDBN_FN(pdbn_mlp) *d,
                             const pdbn_adbn_train *cfg, const pdbn_source *data,
                             const int64_t *data_labels, size_t n_steps, real *const *g_state1,
                             real *const *g_state2, real *const *d_state1,
                             real *const *d_state2, uint64_t *t_gen, uint64_t *t_dis,
                             const pdbn_adbn_step_stats *stats, const pdbn_control *ctl,
                             pdbn_error *err)
{
    PDBN_FORWARD(PDBN_FN(adbn_check)(g, err));
    PDBN_FORWARD(PDBN_FN(adbn_check_dis)(g, d, cfg->loss, err));
    PDBN_FORWARD(pdbn_source_check(data, err));
    const size_t L = g->n_layers, DL = d->n_layers, n0 = g->sizes[0], nL = g->sizes[L - 1];
    const size_t b = cfg->batch_size, din = PDBN_FN(adbn_dis_input)(g);
    PDBN_RETURN_IF(data->cols != nL, err, PDBN_ERR_VALUE, "data has %zu features, the model %zu",
                   data->cols, nL);
    PDBN_RETURN_IF(data->rows == 0, err, PDBN_ERR_VALUE, "no training rows");
    PDBN_RETURN_IF(b < 2 || b > INT32_MAX / 4, err, PDBN_ERR_VALUE,
                   "batch_size must be in [2, 2^29)");
    PDBN_RETURN_IF(cfg->n_critic < 1, err, PDBN_ERR_VALUE, "n_critic must be at least 1");
    PDBN_RETURN_IF(cfg->loss == PDBN_LOSS_WGAN && !(cfg->clip > 0.0), err, PDBN_ERR_VALUE,
                   "'wgan' needs a positive clip");
    PDBN_RETURN_IF(!(cfg->gen_opt.learning_rate > 0.0) || !(cfg->dis_opt.learning_rate > 0.0),
                   err, PDBN_ERR_VALUE, "learning rates must be positive");
    if (g->conditional) {
        PDBN_RETURN_IF(data_labels == NULL, err, PDBN_ERR_VALUE,
                       "a conditional generator needs the data's labels");
        for (size_t r = 0; r < data->rows; r++)
            PDBN_RETURN_IF(data_labels[r] < 0 || (uint64_t)data_labels[r] >= n0, err,
                           PDBN_ERR_VALUE, "label %lld out of range", (long long)data_labels[r]);
    }
    for (size_t a = 0; a < 2 * L - 1; a++)
        PDBN_RETURN_IF(g_state1 == NULL || g_state2 == NULL || g_state1[a] == NULL ||
                           g_state2[a] == NULL,
                       err, PDBN_ERR_VALUE, "generator optimizer state is missing");
    for (size_t a = 0; a < 2 * DL; a++)
        PDBN_RETURN_IF(d_state1 == NULL || d_state2 == NULL || d_state1[a] == NULL ||
                           d_state2[a] == NULL,
                       err, PDBN_ERR_VALUE, "discriminator optimizer state is missing");
    if (n_steps == 0) return PDBN_OK;

    /* parameters and optimizer states, for the snapshot; sizes of each parameter array */
    real *arrays[6 * (PDBN_ADBN_MAX_LAYERS + PDBN_MLP_MAX_LAYERS)];
    size_t sizes[6 * (PDBN_ADBN_MAX_LAYERS + PDBN_MLP_MAX_LAYERS)], n_arrays = 0, n_snap = 0;
    size_t gsz[2 * PDBN_ADBN_MAX_LAYERS], dsz[2 * PDBN_MLP_MAX_LAYERS];
    real *gpar[2 * PDBN_ADBN_MAX_LAYERS], *dpar[2 * PDBN_MLP_MAX_LAYERS];
    for (size_t l = 0; l + 1 < L; l++) {
        gpar[l] = g->weights[l];
        gsz[l] = g->sizes[l + 1] * g->sizes[l];
    }
    for (size_t l = 0; l < L; l++) {
        gpar[L - 1 + l] = g->biases[l];
        gsz[L - 1 + l] = g->sizes[l];
    }
    for (size_t k = 0; k < DL; k++) {
        dpar[k] = d->weights[k];
        dsz[k] = d->sizes[k + 1] * d->sizes[k];
        dpar[DL + k] = d->biases[k];
        dsz[DL + k] = d->sizes[k + 1];
    }
    size_t ggrad = 0, dgrad = 0;
    for (size_t a = 0; a < 2 * L - 1; a++) {
        arrays[n_arrays] = gpar[a]; sizes[n_arrays++] = gsz[a];
        arrays[n_arrays] = g_state1[a]; sizes[n_arrays++] = gsz[a];
        arrays[n_arrays] = g_state2[a]; sizes[n_arrays++] = gsz[a];
        ggrad += gsz[a];
    }
    for (size_t a = 0; a < 2 * DL; a++) {
        arrays[n_arrays] = dpar[a]; sizes[n_arrays++] = dsz[a];
        arrays[n_arrays] = d_state1[a]; sizes[n_arrays++] = dsz[a];
        arrays[n_arrays] = d_state2[a]; sizes[n_arrays++] = dsz[a];
        dgrad += dsz[a];
    }
    for (size_t a = 0; a < n_arrays; a++) n_snap += sizes[a];

    size_t wmax = PDBN_FN(pdbn_mlp_max_width)(d);
    for (size_t l = 0; l < L; l++) wmax = g->sizes[l] > wmax ? g->sizes[l] : wmax;
    wmax = wmax > 2 * b ? wmax : 2 * b;
    size_t need = 0;
    pdbn_ws_add(&need, pdbn_ws_piece(PDBN_FN(adbn_buf_elems)(g, b), sizeof(real)));
    pdbn_ws_add(&need, pdbn_ws_piece(2 * b * din + PDBN_FN(pdbn_mlp_storage)(d, 2 * b),
                                     sizeof(real)));
    pdbn_ws_add(&need, pdbn_ws_piece(2 * 2 * b * PDBN_FN(pdbn_mlp_max_width)(d) + 2 * b,
                                     sizeof(real)));
    pdbn_ws_add(&need, pdbn_ws_piece(ggrad + dgrad, sizeof(real)));
    pdbn_ws_add(&need, pdbn_ws_piece(n_snap, sizeof(real)));
    pdbn_ws_add(&need, pdbn_ws_piece(2 * b, sizeof(double)));
    pdbn_ws_add(&need, pdbn_ws_piece(3 * b, sizeof(int64_t)));
    pdbn_ws_add(&need, pdbn_ws_piece(wmax, sizeof(uint32_t)));
    pdbn_ws_add(&need, pdbn_ws_piece(4 * n_steps, sizeof(double)));
    pdbn_ws ws;
    PDBN_FORWARD(pdbn_ws_alloc(&ws, need, err));
    real *bm = pdbn_ws_take(&ws, PDBN_FN(adbn_buf_elems)(g, b), sizeof(real));
    real *xin = pdbn_ws_take(&ws, 2 * b * din + PDBN_FN(pdbn_mlp_storage)(d, 2 * b), sizeof(real));
    real *acts = xin + 2 * b * din;
    real *scratch = pdbn_ws_take(&ws, 2 * 2 * b * PDBN_FN(pdbn_mlp_max_width)(d) + 2 * b,
                                 sizeof(real));
    real *dout = scratch + 2 * 2 * b * PDBN_FN(pdbn_mlp_max_width)(d);
    real *gmem = pdbn_ws_take(&ws, ggrad + dgrad, sizeof(real));
    real *snap = pdbn_ws_take(&ws, n_snap, sizeof(real));
    double *s = pdbn_ws_take(&ws, 2 * b, sizeof(double));
    int64_t *idx = pdbn_ws_take(&ws, 3 * b, sizeof(int64_t));
    int64_t *lab = idx + b, *lab_idx = idx + 2 * b;
    uint32_t *words = pdbn_ws_take(&ws, wmax, sizeof(uint32_t));
    /* the figures of each step, copied to the caller only if every step succeeds */
    double *fig = pdbn_ws_take(&ws, 4 * n_steps, sizeof(double));
    real *gg[2 * PDBN_ADBN_MAX_LAYERS], *dg[2 * PDBN_MLP_MAX_LAYERS];
    {
        real *at = gmem;
        for (size_t a = 0; a < 2 * L - 1; a++) { gg[a] = at; at += gsz[a]; }
        for (size_t a = 0; a < 2 * DL; a++) { dg[a] = at; at += dsz[a]; }
    }
    PDBN_FN(adbn_buf) buf;
    PDBN_FN(adbn_buf_carve)(g, b, bm, words, &buf);
    PDBN_FN(pdbn_arrays_save)(n_arrays, arrays, sizes, snap);
    const uint64_t tg0 = *t_gen, td0 = *t_dis;
    pdbn_optim_config gbias = cfg->gen_opt, dbias = cfg->dis_opt;
    gbias.weight_decay = 0.0;
    dbias.weight_decay = 0.0;
    const size_t n_rows = data->rows;
    int st = PDBN_OK;
    for (size_t step = 0; step < n_steps && st == PDBN_OK; step++) {
        const uint32_t sid = (uint32_t)step;
        double dis_obj = 0.0, real_score = 0.0;
        for (size_t c = 0; c < cfg->n_critic; c++) {
            const uint32_t batch = (uint32_t)(2 * c + 1);
            /* real rows (and their labels), then generated rows with the labels of other
             * data rows: the stacked 2b-row input of one discriminator pass */
            PDBN_FN(adbn_draw_rows)(b, n_rows, cfg->seed, sid, cfg->epoch, batch, idx, words);
            const size_t off = g->conditional ? n0 : 0;
            PDBN_FN(pdbn_source_gather)(data, idx, 0, b, xin + off, din);
            if (g->conditional) {
                for (size_t r = 0; r < b; r++) {
                    real *o = xin + r * din;
                    for (size_t i = 0; i < n0; i++) o[i] = 0;
                    o[data_labels[idx[r]]] = 1;
                }
                PDBN_FN(adbn_draw_rows)(b, n_rows, cfg->seed, sid, cfg->epoch, batch + 1, lab_idx,
                                        words);
                for (size_t r = 0; r < b; r++) lab[r] = data_labels[lab_idx[r]];
            }
            PDBN_FN(adbn_forward)(g, b, g->conditional ? lab : NULL, cfg->seed,
                                  cfg->epoch ^ 0x5bd1e995u, (uint32_t)(step * 2 * cfg->n_critic + c),
                                  &buf);
            PDBN_FN(adbn_dis_rows)(g, b, &buf, xin + b * din);
            const real *a = PDBN_FN(pdbn_mlp_forward)(d, xin, din, 2 * b, acts);
            double jr = 0.0, jf = 0.0, fr = 0.0;
            for (size_t r = 0; r < 2 * b; r++) {
                adbn_head h = PDBN_FN(adbn_head_at)(cfg->loss, (double)a[r]);
                if (r < b) {
                    jr += h.phi;
                    fr += h.f;
                    dout[r] = (real)(h.dphi / (double)b);
                } else {
                    jf += h.psi;
                    dout[r] = (real)(h.dpsi / (double)b);
                }
            }
            dis_obj = (jr + jf) / (double)b;
            real_score = fr / (double)b;
            /* ascend E phi(f(X)) + E psi(f(Y)) (Eq. 7 for the real rows; the discriminator's
             * part of Eq. 9 for the generated ones) */
            PDBN_FN(pdbn_mlp_backward)(d, xin, din, 2 * b, acts, dout, dg, dg + DL, scratch);
            *t_dis += 1;
            for (size_t k = 0; k < DL; k++) {
                PDBN_FN(pdbn_optim_step)(&cfg->dis_opt, dsz[k], dpar[k], dg[k], d_state1[k],
                                         d_state2[k], *t_dis);
                PDBN_FN(pdbn_optim_step)(&dbias, dsz[DL + k], dpar[DL + k], dg[DL + k],
                                         d_state1[DL + k], d_state2[DL + k], *t_dis);
            }
            if (cfg->loss == PDBN_LOSS_WGAN) {
                const real cl = (real)cfg->clip;
                for (size_t a2 = 0; a2 < 2 * DL; a2++)
                    for (size_t i = 0; i < dsz[a2]; i++) {
                        real v = dpar[a2][i];
                        dpar[a2][i] = v > cl ? cl : (v < -cl ? -cl : v);
                    }
            }
        }
        /* generator: fresh samples, psi(f(y)) as the score-function weight (Eq. 9), descend */
        if (g->conditional) {
            PDBN_FN(adbn_draw_rows)(b, n_rows, cfg->seed, sid, cfg->epoch, 0, lab_idx, words);
            for (size_t r = 0; r < b; r++) lab[r] = data_labels[lab_idx[r]];
        }
        PDBN_FN(adbn_forward)(g, b, g->conditional ? lab : NULL, cfg->seed, cfg->epoch ^ 0x5bd1e995u,
                              (uint32_t)(step * 2 * cfg->n_critic + cfg->n_critic), &buf);
        PDBN_FN(adbn_dis_rows)(g, b, &buf, xin);
        const real *a = PDBN_FN(pdbn_mlp_forward)(d, xin, din, b, acts);
        double gen_obj = 0.0, fake_score = 0.0;
        for (size_t r = 0; r < b; r++) {
            adbn_head h = PDBN_FN(adbn_head_at)(cfg->loss, (double)a[r]);
            s[r] = h.psi;
            gen_obj += h.psi;
            fake_score += h.f;
        }
        PDBN_FN(adbn_baseline)(b, s, cfg->baseline);
        PDBN_FN(adbn_score_gradient)(g, b, s, &buf, gg, gg + (L - 1));
        *t_gen += 1;
        for (size_t a2 = 0; a2 < 2 * L - 1; a2++) {
            real *gr = gg[a2];
            for (size_t i = 0; i < gsz[a2]; i++) gr[i] = -gr[i]; /* descent on E psi */
            if (g->conditional && a2 == L - 1) continue;          /* b^1 of a clamped layer */
            PDBN_FN(pdbn_optim_step)(a2 < L - 1 ? &cfg->gen_opt : &gbias, gsz[a2], gpar[a2], gr,
                                     g_state1[a2], g_state2[a2], *t_gen);
        }
        fig[step] = dis_obj;
        fig[n_steps + step] = gen_obj / (double)b;
        fig[2 * n_steps + step] = real_score;
        fig[3 * n_steps + step] = fake_score / (double)b;
        if ((step & 15) == 15 || step + 1 == n_steps) {
            st = pdbn_poll(ctl, err);
            if (st == PDBN_OK && !PDBN_FN(pdbn_arrays_finite)(n_arrays, arrays, sizes))
                st = pdbn_fail(err, PDBN_ERR_NUMERIC,
                               "training diverged (non-finite parameters); the model was "
                               "restored to its state before this call: lower the learning "
                               "rates");
        }
    }
    if (st != PDBN_OK) {
        PDBN_FN(pdbn_arrays_restore)(n_arrays, arrays, sizes, snap);
        *t_gen = tg0;
        *t_dis = td0;
    } else if (stats != NULL) {
        double *const out[4] = {stats->dis_objective, stats->gen_objective, stats->real_score,
                                stats->fake_score};
        for (size_t q = 0; q < 4; q++)
            if (out[q] != NULL) memcpy(out[q], fig + q * n_steps, n_steps * sizeof(double));
    }
    pdbn_ws_free(&ws);
    return st;
}
