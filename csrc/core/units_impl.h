/* Type-generic unit kernels; instantiated by units.c through pdbn_tmpl.h. */

PDBN_HOT void PDBN_FN(pdbn_sigmoid_rows)(size_t rows, size_t cols, real *x, size_t ld,
                                          const real *bias, real scale)
{
    for (size_t r = 0; r < rows; r++) {
        real *xr = x + r * ld;
        if (bias != NULL) {
            for (size_t j = 0; j < cols; j++)
                xr[j] = (real)1 / ((real)1 + PDBN_EXP(-scale * (xr[j] + bias[j])));
        } else {
            for (size_t j = 0; j < cols; j++)
                xr[j] = (real)1 / ((real)1 + PDBN_EXP(-scale * xr[j]));
        }
    }
}

PDBN_HOT void PDBN_FN(pdbn_add_bias_rows)(size_t rows, size_t cols, real *x, size_t ld,
                                           const real *bias)
{
    for (size_t r = 0; r < rows; r++) {
        real *xr = x + r * ld;
        for (size_t j = 0; j < cols; j++) xr[j] += bias[j];
    }
}

/* softplus(a) = max(a, 0) + log(1 + exp(-|a|)) */
static inline real PDBN_FN(softplus1)(real a)
{
    real m = a > 0 ? a : (real)0;
    real na = a > 0 ? -a : a;
    return m + PDBN_LOG1P_UNIT(PDBN_EXP(na));
}

PDBN_HOT void PDBN_FN(pdbn_softplus)(size_t n, const real *x, real *y)
{
    for (size_t i = 0; i < n; i++) y[i] = PDBN_FN(softplus1)(x[i]);
}

/* The sums below evaluate their terms block by block into a small array (an elementwise loop,
 * which vectorises) and add the block up afterwards: a floating-point reduction written as one
 * loop would stay scalar without -ffast-math, and the terms dominate the cost. */
#ifndef PDBN_SUM_BLOCK
#define PDBN_SUM_BLOCK 64
#define PDBN_LANES 8
static inline double pdbn_softplus_d1(double a)
{
    double m = a > 0 ? a : 0.0;
    double na = a > 0 ? -a : a;
    return m + pdbn_vlog1p_unit_d(pdbn_vexp_d(na));
}
static inline double pdbn_block_sum(const double *t, size_t m)
{
    double s = 0.0;
    for (size_t j = 0; j < m; j++) s += t[j];
    return s;
}
#endif

PDBN_HOT double PDBN_FN(pdbn_softplus_sum)(size_t n, const real *x, const real *bias, double scale)
{
    double t[PDBN_SUM_BLOCK], s = 0.0;
    for (size_t i0 = 0; i0 < n; i0 += PDBN_SUM_BLOCK) {
        const size_t m = n - i0 < PDBN_SUM_BLOCK ? n - i0 : PDBN_SUM_BLOCK;
        const real *xb = x + i0;
        if (bias != NULL) {
            const real *bb = bias + i0;
            for (size_t j = 0; j < m; j++) t[j] = pdbn_softplus_d1(scale * ((double)xb[j] + (double)bb[j]));
        } else {
            for (size_t j = 0; j < m; j++) t[j] = pdbn_softplus_d1(scale * (double)xb[j]);
        }
        s += pdbn_block_sum(t, m);
    }
    return s;
}

PDBN_HOT double PDBN_FN(pdbn_softplus_diff_sum)(size_t n, const real *x, const real *bias,
                                                 double s1, double s0)
{
    double t[PDBN_SUM_BLOCK], s = 0.0;
    for (size_t i0 = 0; i0 < n; i0 += PDBN_SUM_BLOCK) {
        const size_t m = n - i0 < PDBN_SUM_BLOCK ? n - i0 : PDBN_SUM_BLOCK;
        const real *xb = x + i0;
        if (bias != NULL) {
            const real *bb = bias + i0;
            for (size_t j = 0; j < m; j++) {
                double a = (double)xb[j] + (double)bb[j];
                t[j] = pdbn_softplus_d1(s1 * a) - pdbn_softplus_d1(s0 * a);
            }
        } else {
            for (size_t j = 0; j < m; j++) {
                double a = (double)xb[j];
                t[j] = pdbn_softplus_d1(s1 * a) - pdbn_softplus_d1(s0 * a);
            }
        }
        s += pdbn_block_sum(t, m);
    }
    return s;
}

/* sum_i x[i] * y[i] in double, vectorised like the sums above. */
PDBN_HOT double PDBN_FN(pdbn_dot_acc)(size_t n, const real *x, const real *y)
{
    double acc[PDBN_LANES] = {0};
    size_t i = 0;
    for (; i + PDBN_LANES <= n; i += PDBN_LANES)
        for (int l = 0; l < PDBN_LANES; l++) acc[l] += (double)x[i + l] * (double)y[i + l];
    for (; i < n; i++) acc[0] += (double)x[i] * (double)y[i];
    double s = 0.0;
    for (int l = 0; l < PDBN_LANES; l++) s += acc[l];
    return s;
}

/* sum_i (x[i] - y[i])^2 in double. */
PDBN_HOT double PDBN_FN(pdbn_sqdist_acc)(size_t n, const real *x, const real *y)
{
    double acc[PDBN_LANES] = {0};
    size_t i = 0;
    for (; i + PDBN_LANES <= n; i += PDBN_LANES)
        for (int l = 0; l < PDBN_LANES; l++) {
            double d = (double)x[i + l] - (double)y[i + l];
            acc[l] += d * d;
        }
    for (; i < n; i++) {
        double d = (double)x[i] - (double)y[i];
        acc[0] += d * d;
    }
    double s = 0.0;
    for (int l = 0; l < PDBN_LANES; l++) s += acc[l];
    return s;
}

PDBN_HOT void PDBN_FN(pdbn_bernoulli)(size_t n, const real *p, const uint32_t *words, real *out)
{
    for (size_t i = 0; i < n; i++) {
#if PDBN_IS_F32
        real u = pdbn_uniform_f(words[i]);
#else
        real u = pdbn_uniform_d(words[i]);
#endif
        out[i] = u < p[i] ? (real)1 : (real)0;
    }
}

void PDBN_FN(pdbn_gaussian)(size_t n, const real *mean, const uint32_t *words, real *out)
{
    for (size_t i = 0; i < n; i++) {
        double u1 = pdbn_uniform_d(words[2 * i]);
        double u2 = pdbn_uniform_d(words[2 * i + 1]);
        double z = sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
        out[i] = mean[i] + (real)z;
    }
}

void PDBN_FN(pdbn_softmax_sample)(size_t rows, size_t cols, real *logits, size_t ld,
                                  const uint32_t *words, real *onehot, size_t ldo)
{
    for (size_t r = 0; r < rows; r++) {
        real *x = logits + r * ld;
        real mx = x[0];
        for (size_t j = 1; j < cols; j++) mx = x[j] > mx ? x[j] : mx;
        real total = 0;
        for (size_t j = 0; j < cols; j++) {
            x[j] = PDBN_EXP(x[j] - mx);
            total += x[j];
        }
        for (size_t j = 0; j < cols; j++) x[j] /= total;
        if (onehot == NULL) continue;
        real *o = onehot + r * ldo;
        double u = pdbn_uniform_d(words[r]), acc = 0.0;
        size_t pick = cols - 1;
        for (size_t j = 0; j < cols; j++) {
            acc += (double)x[j];
            if (u < acc) {
                pick = j;
                break;
            }
        }
        for (size_t j = 0; j < cols; j++) o[j] = j == pick ? (real)1 : (real)0;
    }
}
