/* pdbn_units.h - unit activations and sampling, elementwise and single-threaded.
 *
 * BLAS carries the parallelism; these loops are written to vectorise (see pdbn_vmath.h) and
 * are compiled for several x86-64 levels. Random words come from pdbn_rng.h; every sampler
 * takes them as input, so the caller decides which stream each row uses.
 * None of these functions allocates or fails.
 */
#ifndef PDBN_UNITS_H
#define PDBN_UNITS_H

#include <stddef.h>
#include <stdint.h>

#define PDBN_UNITS_DECL(T, S)                                                                     \
    /* x[r*ld + j] = sigmoid(scale * (x[r*ld + j] + bias[j])); bias may be NULL. */               \
    void pdbn_sigmoid_rows_##S(size_t rows, size_t cols, T *x, size_t ld, const T *bias,          \
                               T scale);                                                          \
    /* x[r*ld + j] += bias[j] */                                                                  \
    void pdbn_add_bias_rows_##S(size_t rows, size_t cols, T *x, size_t ld, const T *bias);        \
    /* y[i] = softplus(x[i]) = log(1 + exp(x[i])), stable for any x (x and y may alias). */       \
    void pdbn_softplus_##S(size_t n, const T *x, T *y);                                           \
    /* sum_i softplus(scale * (x[i] + bias[i])) accumulated in double; bias may be NULL. */       \
    double pdbn_softplus_sum_##S(size_t n, const T *x, const T *bias, double scale);              \
    /* sum_i softplus(s1 * (x[i] + bias[i])) - softplus(s0 * (x[i] + bias[i])), in double. */     \
    double pdbn_softplus_diff_sum_##S(size_t n, const T *x, const T *bias, double s1, double s0); \
    /* sum_i x[i] y[i] and sum_i (x[i] - y[i])^2, accumulated in double. */                     \
    double pdbn_dot_acc_##S(size_t n, const T *x, const T *y);                                    \
    double pdbn_sqdist_acc_##S(size_t n, const T *x, const T *y);                                 \
    /* out[i] = (uniform(words[i]) < p[i]) ? 1 : 0; out may alias p. */                           \
    void pdbn_bernoulli_##S(size_t n, const T *p, const uint32_t *words, T *out);                 \
    /* out[i] = mean[i] + N(0, 1) by Box-Muller from words[2i], words[2i+1]; may alias. */        \
    void pdbn_gaussian_##S(size_t n, const T *mean, const uint32_t *words, T *out);               \
    /* Row-wise softmax of logits in place (probabilities), then one category per row drawn     \
     * with words[r] and written one-hot into onehot[r*ldo ...] (may be NULL: no sample). */      \
    void pdbn_softmax_sample_##S(size_t rows, size_t cols, T *logits, size_t ld,                  \
                                 const uint32_t *words, T *onehot, size_t ldo);

PDBN_UNITS_DECL(float, f)
PDBN_UNITS_DECL(double, d)

#endif
