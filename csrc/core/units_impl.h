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

PDBN_HOT double PDBN_FN(pdbn_softplus_sum)(size_t n, const real *x, const real *bias, double scale)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++) {
        double a = scale * ((double)x[i] + (bias != NULL ? (double)bias[i] : 0.0));
        double m = a > 0 ? a : 0.0;
        double na = a > 0 ? -a : a;
        s += m + pdbn_vlog1p_unit_d(pdbn_vexp_d(na));
    }
    return s;
}

PDBN_HOT double PDBN_FN(pdbn_softplus_diff_sum)(size_t n, const real *x, const real *bias,
                                                 double s1, double s0)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++) {
        double a = (double)x[i] + (bias != NULL ? (double)bias[i] : 0.0);
        double a1 = s1 * a, a0 = s0 * a;
        double m1 = a1 > 0 ? a1 : 0.0, n1 = a1 > 0 ? -a1 : a1;
        double m0 = a0 > 0 ? a0 : 0.0, n0 = a0 > 0 ? -a0 : a0;
        s += (m1 - m0) + (pdbn_vlog1p_unit_d(pdbn_vexp_d(n1)) - pdbn_vlog1p_unit_d(pdbn_vexp_d(n0)));
    }
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
