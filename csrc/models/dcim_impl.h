/* Type-generic DCIM kernels; instantiated by dcim.c through pdbn_tmpl.h. See pdbn_dcim.h. */

static int PDBN_FN(dcim_check)(const PDBN_FN(pdbn_dcim) *m, pdbn_error *err)
{
    PDBN_RETURN_IF(m == NULL || m->sizes == NULL || m->weights == NULL || m->biases == NULL, err,
                   PDBN_ERR_VALUE, "DCIM parameters are missing");
    PDBN_RETURN_IF(m->n_layers < 1 || m->n_layers >= PDBN_DCIM_MAX_LAYERS, err, PDBN_ERR_VALUE,
                   "a DCIM has 1 to %d weight layers", (int)PDBN_DCIM_MAX_LAYERS - 1);
    PDBN_RETURN_IF(m->encoding != PDBN_DCIM_BINARY && m->encoding != PDBN_DCIM_PM1, err,
                   PDBN_ERR_VALUE, "unknown encoding");
    for (size_t k = 0; k <= m->n_layers; k++) {
        PDBN_RETURN_IF(m->sizes[k] == 0 || m->sizes[k] > INT32_MAX, err, PDBN_ERR_VALUE,
                       "layer %zu has an invalid size", k);
        PDBN_RETURN_IF(m->biases[k] == NULL || (k < m->n_layers && m->weights[k] == NULL), err,
                       PDBN_ERR_VALUE, "layer %zu is missing", k);
    }
    PDBN_RETURN_IF(m->sizes[m->n_layers] < 2, err, PDBN_ERR_VALUE, "the class layer needs >= 2 "
                   "classes");
    return PDBN_OK;
}

static int PDBN_FN(dcim_act)(const PDBN_FN(pdbn_dcim) *m)
{
    return m->encoding == PDBN_DCIM_PM1 ? PDBN_ACT_TANH : PDBN_ACT_SIGMOID;
}

/* The forward model as a dense network: W^1..W^d, biases b^1..b^d, the hidden activation, a
 * linear last layer (the softmax is applied by the caller). */
static void PDBN_FN(dcim_forward_net)(const PDBN_FN(pdbn_dcim) *m, int *acts,
                                      PDBN_FN(pdbn_mlp) *net)
{
    const size_t d = m->n_layers;
    for (size_t k = 0; k < d; k++) acts[k] = k + 1 < d ? PDBN_FN(dcim_act)(m) : PDBN_ACT_IDENTITY;
    net->n_layers = d;
    net->sizes = m->sizes;
    net->weights = m->weights;
    net->biases = m->biases + 1;
    net->activations = acts;
    net->transposed = 0;
}

/* The reverse model from layer `start` down to x^0: the same weights transposed (W^start ..
 * W^1 stored as they are, read as n_in x n_out), biases b^{start-1} .. b^0. sizes, w, b are
 * caller storage of PDBN_DCIM_MAX_LAYERS + 1 entries. */
static void PDBN_FN(dcim_reverse_net)(const PDBN_FN(pdbn_dcim) *m, size_t start, size_t *sizes,
                                      real **w, real **b, int *acts, PDBN_FN(pdbn_mlp) *net)
{
    for (size_t j = 0; j <= start; j++) sizes[j] = m->sizes[start - j];
    for (size_t j = 0; j < start; j++) {
        w[j] = m->weights[start - 1 - j]; /* W^{start - j} */
        b[j] = m->biases[start - 1 - j];  /* b^{start - j - 1} */
        acts[j] = j + 1 < start ? PDBN_FN(dcim_act)(m) : PDBN_ACT_IDENTITY;
    }
    net->n_layers = start;
    net->sizes = sizes;
    net->weights = (real *const *)w;
    net->biases = (real *const *)b;
    net->activations = acts;
    net->transposed = 1;
}

/* states of a layer from its means: 0/1 ~ Bernoulli(mean), or +-1 with P(+1) = (1 + mean) / 2 */
static void PDBN_FN(dcim_draw)(const PDBN_FN(pdbn_dcim) *m, size_t rows, size_t n,
                               const real *mean, real *out, pdbn_stream s, uint32_t first,
                               uint32_t *words)
{
    for (size_t r = 0; r < rows; r++) {
        pdbn_random_words(&s, first + (uint32_t)r, n, words);
        for (size_t i = 0; i < n; i++) {
            const real p = m->encoding == PDBN_DCIM_PM1 ? (real)0.5 * ((real)1 + mean[r * n + i])
                                                        : mean[r * n + i];
#if PDBN_IS_F32
            const int on = pdbn_uniform_f(words[i]) < p;
#else
            const int on = pdbn_uniform_d(words[i]) < p;
#endif
            out[r * n + i] = on ? (real)1 : (m->encoding == PDBN_DCIM_PM1 ? (real)-1 : (real)0);
        }
    }
}

/* log(1 + exp(x)) and log(2 cosh x), stable */
static double PDBN_FN(dcim_softplus)(double x) { return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)); }
static double PDBN_FN(dcim_log2cosh)(double x)
{
    const double a = fabs(x);
    return a + log1p(exp(-2.0 * a));
}

/* Workspace of one batch of up to B rows. */
typedef struct PDBN_FN(dcim_ws) {
    real *xin, *target, *state, *actsF, *actsR, *dout, *scratch, *gF, *gR;
    uint32_t *words;
} PDBN_FN(dcim_ws);

static size_t PDBN_FN(dcim_n_params)(const PDBN_FN(pdbn_dcim) *m)
{
    size_t n = 0;
    for (size_t k = 0; k < m->n_layers; k++) n += m->sizes[k + 1] * m->sizes[k];
    for (size_t k = 0; k <= m->n_layers; k++) n += m->sizes[k];
    return n;
}

static size_t PDBN_FN(dcim_width)(const PDBN_FN(pdbn_dcim) *m)
{
    size_t w = 0;
    for (size_t k = 0; k <= m->n_layers; k++) w = m->sizes[k] > w ? m->sizes[k] : w;
    return w;
}

static void PDBN_FN(dcim_ws_need)(const PDBN_FN(pdbn_dcim) *m, size_t B, size_t *need)
{
    const size_t w = PDBN_FN(dcim_width)(m), d = m->n_layers;
    size_t actsF = 0, actsR = 0; /* outputs of layers 1..d forward, d-1..0 backward */
    for (size_t k = 1; k <= d; k++) actsF += B * m->sizes[k];
    for (size_t k = 0; k < d; k++) actsR += B * m->sizes[k];
    const size_t np = PDBN_FN(dcim_n_params)(m);
    pdbn_ws_add(need, pdbn_ws_piece(3 * B * w + actsF + actsR + B * w + 2 * B * w + 2 * np,
                                    sizeof(real)));
    pdbn_ws_add(need, pdbn_ws_piece(w, sizeof(uint32_t)));
}

static void PDBN_FN(dcim_ws_take)(const PDBN_FN(pdbn_dcim) *m, size_t B, pdbn_ws *ws,
                                  PDBN_FN(dcim_ws) *c)
{
    const size_t w = PDBN_FN(dcim_width)(m), d = m->n_layers;
    size_t actsF = 0, actsR = 0;
    for (size_t k = 1; k <= d; k++) actsF += B * m->sizes[k];
    for (size_t k = 0; k < d; k++) actsR += B * m->sizes[k];
    const size_t np = PDBN_FN(dcim_n_params)(m);
    real *p = pdbn_ws_take(ws, 3 * B * w + actsF + actsR + B * w + 2 * B * w + 2 * np,
                           sizeof(real));
    c->xin = p; p += B * w;
    c->target = p; p += B * w;
    c->state = p; p += B * w;
    c->actsF = p; p += actsF;
    c->actsR = p; p += actsR;
    c->dout = p; p += B * w;
    c->scratch = p; p += 2 * B * w;
    c->gF = p; p += np;
    c->gR = p;
    c->words = pdbn_ws_take(ws, w, sizeof(uint32_t));
}

/* Objective (sums over the rows) and, with grads, the gradient of the row mean into
 * gw / gb. x: rows of raw data (rows x n0, leading dimension n0). */
static void PDBN_FN(dcim_batch)(const PDBN_FN(pdbn_dcim) *m, int objective, double rweight,
                                const real *x, const int64_t *labels, size_t rows,
                                uint32_t seed, uint32_t epoch, uint32_t first_row,
                                PDBN_FN(dcim_ws) *c, real *const *gw, real *const *gb,
                                double *fwd, double *rev)
{
    const size_t d = m->n_layers, n0 = m->sizes[0], nd = m->sizes[d];
    const int pm1 = m->encoding == PDBN_DCIM_PM1, grads = gw != NULL;
    for (size_t i = 0; i < rows * n0; i++) {
        c->xin[i] = pm1 ? (real)2 * x[i] - (real)1 : x[i];
        c->target[i] = c->xin[i];
    }
    int acts[PDBN_DCIM_MAX_LAYERS];
    PDBN_FN(pdbn_mlp) F;
    PDBN_FN(dcim_forward_net)(m, acts, &F);
    const real *logit = PDBN_FN(pdbn_mlp_forward)(&F, c->xin, n0, rows, c->actsF);
    const real inv = (real)(1.0 / (double)rows);
    double sf = 0.0;
    for (size_t r = 0; r < rows; r++) {
        const real *z = logit + r * nd;
        double mx = z[0];
        for (size_t j = 1; j < nd; j++) mx = z[j] > mx ? z[j] : mx;
        double se = 0.0;
        for (size_t j = 0; j < nd; j++) se += exp((double)z[j] - mx);
        const double lse = mx + log(se);
        sf += (double)z[labels[r]] - lse;
        for (size_t j = 0; j < nd; j++)
            c->dout[r * nd + j] = (real)(((j == (size_t)labels[r]) ? 1.0 : 0.0) -
                                         exp((double)z[j] - lse)) * inv;
    }
    *fwd += sf;
    /* parameter layout of gw / gb: W^k = gw[k-1], b^k = gb[k] */
    real *gwF[PDBN_DCIM_MAX_LAYERS], *gbF[PDBN_DCIM_MAX_LAYERS];
    real *gwR[PDBN_DCIM_MAX_LAYERS], *gbR[PDBN_DCIM_MAX_LAYERS];
    {
        real *pf = c->gF, *pr = c->gR;
        for (size_t k = 0; k < d; k++) {
            gwF[k] = pf; pf += m->sizes[k + 1] * m->sizes[k];
            gwR[k] = pr; pr += m->sizes[k + 1] * m->sizes[k];
        }
        for (size_t k = 0; k <= d; k++) {
            gbF[k] = pf; pf += m->sizes[k];
            gbR[k] = pr; pr += m->sizes[k];
        }
    }
    if (grads) {
        PDBN_FN(pdbn_mlp_backward)(&F, c->xin, n0, rows, c->actsF, c->dout, gwF, gbF + 1,
                                   c->scratch);
        for (size_t i = 0; i < n0; i++) gbF[0][i] = 0;
    }
    size_t start = 0;
    if (objective == PDBN_DCIM_BIDIRECTIONAL) {
        start = d;
        for (size_t r = 0; r < rows; r++)
            for (size_t j = 0; j < nd; j++)
                c->state[r * nd + j] = j == (size_t)labels[r] ? (real)1 : (real)0;
    } else if (objective == PDBN_DCIM_SAMPLED) {
        start = d - 1; /* x^{d-1} ~ p(x^{d-1} | x^0): the forward means of layer d - 1 */
        const real *mean = c->actsF;
        for (size_t k = 1; k < d - 1; k++) mean += rows * m->sizes[k];
        PDBN_FN(dcim_draw)(m, rows, m->sizes[d - 1], mean, c->state,
                           pdbn_stream_at(seed, PDBN_RNG_HIDDEN, (uint32_t)(d - 1), epoch, 0),
                           first_row, c->words);
    }
    if (start > 0) {
        size_t rs[PDBN_DCIM_MAX_LAYERS + 1];
        real *rw[PDBN_DCIM_MAX_LAYERS], *rb[PDBN_DCIM_MAX_LAYERS];
        int racts[PDBN_DCIM_MAX_LAYERS];
        PDBN_FN(pdbn_mlp) R;
        PDBN_FN(dcim_reverse_net)(m, start, rs, rw, rb, racts, &R);
        const real *a = PDBN_FN(pdbn_mlp_forward)(&R, c->state, m->sizes[start], rows, c->actsR);
        double sr = 0.0;
        const real rinv = (real)(rweight / (double)rows);
        for (size_t i = 0; i < rows * n0; i++) {
            const double ai = (double)a[i], t = (double)c->target[i];
            if (pm1) {
                sr += t * ai - PDBN_FN(dcim_log2cosh)(ai);
                c->dout[i] = (real)(t - tanh(ai)) * rinv;
            } else {
                sr += t * ai - PDBN_FN(dcim_softplus)(ai);
                c->dout[i] = (real)(t - 1.0 / (1.0 + exp(-ai))) * rinv;
            }
        }
        *rev += sr;
        if (grads) {
            real *w2[PDBN_DCIM_MAX_LAYERS], *b2[PDBN_DCIM_MAX_LAYERS];
            for (size_t j = 0; j < start; j++) {
                w2[j] = gwR[start - 1 - j];
                b2[j] = gbR[start - 1 - j];
            }
            PDBN_FN(pdbn_mlp_backward)(&R, c->state, m->sizes[start], rows, c->actsR, c->dout,
                                       w2, b2, c->scratch);
        }
    }
    if (!grads) return;
    /* sum the two models' gradients on the shared parameters */
    for (size_t k = 0; k < d; k++) {
        const size_t n = m->sizes[k + 1] * m->sizes[k];
        const int in_r = start > 0 && k < start;
        for (size_t i = 0; i < n; i++) gw[k][i] = gwF[k][i] + (in_r ? gwR[k][i] : (real)0);
    }
    for (size_t k = 0; k <= d; k++) {
        const int in_r = start > 0 && k < start;
        for (size_t i = 0; i < m->sizes[k]; i++)
            gb[k][i] = gbF[k][i] + (in_r ? gbR[k][i] : (real)0);
    }
}

int PDBN_FN(pdbn_dcim_objective)(const PDBN_FN(pdbn_dcim) *m, int objective, double rweight,
                                 const pdbn_source *data, const int64_t *labels, uint32_t seed,
                                 uint32_t epoch, double *fwd, double *rev, real *const *gw,
                                 real *const *gb, const pdbn_control *ctl, pdbn_error *err)
{
    PDBN_FORWARD(PDBN_FN(dcim_check)(m, err));
    PDBN_FORWARD(pdbn_source_check(data, err));
    const size_t d = m->n_layers, n = data->rows;
    PDBN_RETURN_IF(data->cols != m->sizes[0], err, PDBN_ERR_VALUE,
                   "data has %zu features, the model %zu", data->cols, m->sizes[0]);
    PDBN_RETURN_IF(objective < 0 || objective > PDBN_DCIM_SAMPLED, err, PDBN_ERR_VALUE,
                   "unknown objective");
    PDBN_RETURN_IF(!(rweight >= 0.0) || !isfinite(rweight), err, PDBN_ERR_VALUE,
                   "reverse_weight must be non-negative and finite");
    PDBN_RETURN_IF(objective == PDBN_DCIM_SAMPLED && d < 2, err, PDBN_ERR_VALUE,
                   "the sampled objective needs a hidden layer");
    PDBN_RETURN_IF(n == 0 || n > INT32_MAX, err, PDBN_ERR_VALUE, "need 1 to 2^31 rows");
    for (size_t r = 0; r < n; r++)
        PDBN_RETURN_IF(labels[r] < 0 || (uint64_t)labels[r] >= m->sizes[d], err, PDBN_ERR_VALUE,
                       "label %lld out of range", (long long)labels[r]);
    size_t need = 0;
    PDBN_FN(dcim_ws_need)(m, n, &need);
    pdbn_ws_add(&need, pdbn_ws_piece(n * m->sizes[0], sizeof(real)));
    pdbn_ws ws;
    PDBN_FORWARD(pdbn_ws_alloc(&ws, need, err));
    PDBN_FN(dcim_ws) c;
    PDBN_FN(dcim_ws_take)(m, n, &ws, &c);
    real *x = pdbn_ws_take(&ws, n * m->sizes[0], sizeof(real));
    PDBN_FN(pdbn_source_gather)(data, NULL, 0, n, x, m->sizes[0]);
    double f = 0.0, r = 0.0;
    PDBN_FN(dcim_batch)(m, objective, rweight, x, labels, n, seed, epoch, 0, &c, gw, gb, &f, &r);
    *fwd = f / (double)n;
    *rev = r / (double)n;
    pdbn_ws_free(&ws);
    return pdbn_poll(ctl, err);
}

int PDBN_FN(pdbn_dcim_epoch)(const PDBN_FN(pdbn_dcim) *m, const pdbn_dcim_train *cfg,
                             const pdbn_source *data, const int64_t *labels, real *const *state1,
                             real *const *state2, uint64_t *t, double *fwd, double *rev,
                             const pdbn_control *ctl, pdbn_error *err)
{
    PDBN_FORWARD(PDBN_FN(dcim_check)(m, err));
    PDBN_FORWARD(pdbn_source_check(data, err));
    const size_t d = m->n_layers, n = data->rows, n0 = m->sizes[0];
    PDBN_RETURN_IF(data->cols != n0, err, PDBN_ERR_VALUE, "data has %zu features, the model %zu",
                   data->cols, n0);
    PDBN_RETURN_IF(cfg->objective < 0 || cfg->objective > PDBN_DCIM_SAMPLED, err, PDBN_ERR_VALUE,
                   "unknown objective");
    PDBN_RETURN_IF(cfg->objective == PDBN_DCIM_SAMPLED && d < 2, err, PDBN_ERR_VALUE,
                   "the sampled objective needs a hidden layer");
    PDBN_RETURN_IF(!(cfg->reverse_weight >= 0.0) || !isfinite(cfg->reverse_weight), err,
                   PDBN_ERR_VALUE, "reverse_weight must be non-negative and finite");
    PDBN_RETURN_IF(cfg->batch_size < 1 || cfg->batch_size > INT32_MAX / 2, err, PDBN_ERR_VALUE,
                   "batch_size must be in [1, 2^30)");
    PDBN_RETURN_IF(!(cfg->opt.learning_rate > 0.0), err, PDBN_ERR_VALUE,
                   "learning_rate must be positive");
    PDBN_RETURN_IF(n > INT32_MAX, err, PDBN_ERR_VALUE, "too many rows");
    for (size_t r = 0; r < n; r++)
        PDBN_RETURN_IF(labels[r] < 0 || (uint64_t)labels[r] >= m->sizes[d], err, PDBN_ERR_VALUE,
                       "label %lld out of range", (long long)labels[r]);
    for (size_t a = 0; a < 2 * d + 1; a++)
        PDBN_RETURN_IF(state1 == NULL || state2 == NULL || state1[a] == NULL || state2[a] == NULL,
                       err, PDBN_ERR_VALUE, "optimizer state is missing");
    *fwd = *rev = 0.0;
    if (n == 0) return PDBN_OK;
    const size_t n_batches = (n + cfg->batch_size - 1) / cfg->batch_size;
    const size_t bmax = (n + n_batches - 1) / n_batches;
    real *arrays[6 * PDBN_DCIM_MAX_LAYERS], *par[2 * PDBN_DCIM_MAX_LAYERS];
    size_t sizes[6 * PDBN_DCIM_MAX_LAYERS], psz[2 * PDBN_DCIM_MAX_LAYERS], n_arrays = 0, n_snap = 0;
    for (size_t k = 0; k < d; k++) {
        par[k] = m->weights[k];
        psz[k] = m->sizes[k + 1] * m->sizes[k];
    }
    for (size_t k = 0; k <= d; k++) {
        par[d + k] = m->biases[k];
        psz[d + k] = m->sizes[k];
    }
    for (size_t a = 0; a < 2 * d + 1; a++) {
        arrays[n_arrays] = par[a]; sizes[n_arrays++] = psz[a];
        arrays[n_arrays] = state1[a]; sizes[n_arrays++] = psz[a];
        arrays[n_arrays] = state2[a]; sizes[n_arrays++] = psz[a];
    }
    for (size_t a = 0; a < n_arrays; a++) n_snap += sizes[a];
    size_t need = 0;
    PDBN_FN(dcim_ws_need)(m, bmax, &need);
    pdbn_ws_add(&need, pdbn_ws_piece(bmax * n0 + PDBN_FN(dcim_n_params)(m) + n_snap, sizeof(real)));
    pdbn_ws_add(&need, pdbn_ws_piece(n + bmax, sizeof(int64_t)));
    pdbn_ws_add(&need, pdbn_ws_piece(4096, sizeof(uint32_t)));
    pdbn_ws ws;
    PDBN_FORWARD(pdbn_ws_alloc(&ws, need, err));
    PDBN_FN(dcim_ws) c;
    PDBN_FN(dcim_ws_take)(m, bmax, &ws, &c);
    real *x = pdbn_ws_take(&ws, bmax * n0 + PDBN_FN(dcim_n_params)(m) + n_snap, sizeof(real));
    real *gmem = x + bmax * n0, *snap = gmem + PDBN_FN(dcim_n_params)(m);
    int64_t *perm = pdbn_ws_take(&ws, n + bmax, sizeof(int64_t)), *lab = perm + n;
    uint32_t *pwords = pdbn_ws_take(&ws, 4096, sizeof(uint32_t));
    real *gw[PDBN_DCIM_MAX_LAYERS], *gb[PDBN_DCIM_MAX_LAYERS], *g[2 * PDBN_DCIM_MAX_LAYERS];
    {
        real *p = gmem;
        for (size_t a = 0; a < 2 * d + 1; a++) { g[a] = p; p += psz[a]; }
        for (size_t k = 0; k < d; k++) gw[k] = g[k];
        for (size_t k = 0; k <= d; k++) gb[k] = g[d + k];
    }
    PDBN_FN(pdbn_arrays_save)(n_arrays, arrays, sizes, snap);
    const uint64_t t0 = *t;
    pdbn_stream shuffle = pdbn_stream_at(cfg->seed, PDBN_RNG_SHUFFLE, 0, cfg->epoch, 0);
    pdbn_permutation(&shuffle, n, perm, pwords);
    pdbn_optim_config bias_cfg = cfg->opt;
    bias_cfg.weight_decay = 0.0;
    double f = 0.0, r = 0.0;
    int st = PDBN_OK;
    for (size_t bi = 0; bi < n_batches && st == PDBN_OK; bi++) {
        const size_t lo = bi * n / n_batches, hi = (bi + 1) * n / n_batches, b = hi - lo;
        PDBN_FN(pdbn_source_gather)(data, perm, lo, b, x, n0);
        for (size_t q = 0; q < b; q++) lab[q] = labels[perm[lo + q]];
        double bf = 0.0, br = 0.0;
        PDBN_FN(dcim_batch)(m, cfg->objective, cfg->reverse_weight, x, lab, b, cfg->seed,
                            cfg->epoch, (uint32_t)lo, &c, gw, gb, &bf, &br);
        f += bf / (double)b;
        r += br / (double)b;
        *t += 1;
        for (size_t a = 0; a < 2 * d + 1; a++)
            PDBN_FN(pdbn_optim_step)(a < d ? &cfg->opt : &bias_cfg, psz[a], par[a], g[a],
                                     state1[a], state2[a], *t);
        if ((bi & 15) == 15 || bi + 1 == n_batches) {
            st = pdbn_poll(ctl, err);
            if (st == PDBN_OK && !PDBN_FN(pdbn_arrays_finite)(n_arrays, arrays, sizes))
                st = pdbn_fail(err, PDBN_ERR_NUMERIC,
                               "training diverged (non-finite parameters); the model was "
                               "restored to its state before this epoch: lower learning_rate");
        }
    }
    if (st != PDBN_OK) {
        PDBN_FN(pdbn_arrays_restore)(n_arrays, arrays, sizes, snap);
        *t = t0;
    } else {
        *fwd = f / (double)n_batches;
        *rev = r / (double)n_batches;
    }
    pdbn_ws_free(&ws);
    return st;
}

int PDBN_FN(pdbn_dcim_forward)(const PDBN_FN(pdbn_dcim) *m, const pdbn_source *data, real *proba,
                               real *const *hidden, const pdbn_control *ctl, pdbn_error *err)
{
    PDBN_FORWARD(PDBN_FN(dcim_check)(m, err));
    PDBN_FORWARD(pdbn_source_check(data, err));
    const size_t d = m->n_layers, n0 = m->sizes[0], nd = m->sizes[d];
    PDBN_RETURN_IF(data->cols != n0, err, PDBN_ERR_VALUE, "data has %zu features, the model %zu",
                   data->cols, n0);
    enum { B = 256 };
    size_t acts = 0;
    for (size_t k = 1; k <= d; k++) acts += B * m->sizes[k];
    pdbn_ws ws;
    PDBN_FORWARD(pdbn_ws_alloc(&ws, pdbn_ws_piece(B * n0 + acts, sizeof(real)), err));
    real *x = pdbn_ws_take(&ws, B * n0 + acts, sizeof(real)), *a = x + B * n0;
    int actv[PDBN_DCIM_MAX_LAYERS];
    PDBN_FN(pdbn_mlp) F;
    PDBN_FN(dcim_forward_net)(m, actv, &F);
    int st = PDBN_OK;
    for (size_t lo = 0; lo < data->rows && st == PDBN_OK; lo += B) {
        const size_t rows = data->rows - lo < B ? data->rows - lo : B;
        PDBN_FN(pdbn_source_gather)(data, NULL, lo, rows, x, n0);
        if (m->encoding == PDBN_DCIM_PM1)
            for (size_t i = 0; i < rows * n0; i++) x[i] = (real)2 * x[i] - (real)1;
        const real *z = PDBN_FN(pdbn_mlp_forward)(&F, x, n0, rows, a);
        if (hidden != NULL) {
            const real *h = a;
            for (size_t k = 1; k < d; k++) {
                memcpy(hidden[k - 1] + lo * m->sizes[k], h, rows * m->sizes[k] * sizeof(real));
                h += rows * m->sizes[k];
            }
        }
        if (proba != NULL)
            for (size_t r = 0; r < rows; r++) {
                const real *zr = z + r * nd;
                real *pr = proba + (lo + r) * nd;
                double mx = zr[0], s = 0.0;
                for (size_t j = 1; j < nd; j++) mx = zr[j] > mx ? zr[j] : mx;
                for (size_t j = 0; j < nd; j++) s += exp((double)zr[j] - mx);
                for (size_t j = 0; j < nd; j++) pr[j] = (real)(exp((double)zr[j] - mx) / s);
            }
        st = pdbn_poll(ctl, err);
    }
    pdbn_ws_free(&ws);
    return st;
}

int PDBN_FN(pdbn_dcim_reverse)(const PDBN_FN(pdbn_dcim) *m, size_t start, const real *states,
                               size_t rows, size_t n_sampled, uint32_t seed, uint32_t epoch,
                               real *logits, const pdbn_control *ctl, pdbn_error *err)
{
    PDBN_FORWARD(PDBN_FN(dcim_check)(m, err));
    PDBN_RETURN_IF(start < 1 || start > m->n_layers, err, PDBN_ERR_VALUE,
                   "start must be a layer in 1..%zu", m->n_layers);
    if (rows == 0) return PDBN_OK;
    const size_t w = PDBN_FN(dcim_width)(m);
    pdbn_ws ws;
    size_t need = 0;
    pdbn_ws_add(&need, pdbn_ws_piece(2 * rows * w, sizeof(real)));
    pdbn_ws_add(&need, pdbn_ws_piece(w, sizeof(uint32_t)));
    PDBN_FORWARD(pdbn_ws_alloc(&ws, need, err));
    real *cur = pdbn_ws_take(&ws, 2 * rows * w, sizeof(real)), *nxt = cur + rows * w;
    uint32_t *words = pdbn_ws_take(&ws, w, sizeof(uint32_t));
    memcpy(cur, states, rows * m->sizes[start] * sizeof(real));
    for (size_t j = start; j >= 1; j--) {
        const size_t n_in = m->sizes[j], n_out = m->sizes[j - 1];
        real *out = j == 1 ? logits : nxt;
        /* x^{j-1}: W^j' x^j + b^{j-1} (the reverse model's transposed weights) */
        PDBN_FN(pdbn_gemm)(0, 0, rows, n_out, n_in, (real)1, cur, n_in, m->weights[j - 1], n_out,
                           (real)0, out, n_out);
        PDBN_FN(pdbn_add_bias_rows)(rows, n_out, out, n_out, m->biases[j - 1]);
        if (j == 1) break;
        if (m->encoding == PDBN_DCIM_PM1)
            for (size_t i = 0; i < rows * n_out; i++) out[i] = (real)tanh((double)out[i]);
        else
            PDBN_FN(pdbn_sigmoid_rows)(rows, n_out, out, n_out, NULL, (real)1);
        if (start - j < n_sampled)
            PDBN_FN(dcim_draw)(m, rows, n_out, out, out,
                               pdbn_stream_at(seed, PDBN_RNG_GENERATIVE, (uint32_t)j, epoch, 0), 0,
                               words);
        real *tmp = cur;
        cur = nxt;
        nxt = tmp;
    }
    pdbn_ws_free(&ws);
    return pdbn_poll(ctl, err);
}
