/* pdbn_dcim.h - deep conditional independent models (Flach, Shekhovtsov & Fikar, text 001).
 *
 * Layers x^0 (input) .. x^d (class, categorical), hidden layers binary in the 0/1 encoding
 * (sigmoid, Eq. 6-7) or the +-1 encoding (tanh, Eq. 8-9). weights[k-1] is W^k (sizes[k] x
 * sizes[k-1], row-major); biases[k] belongs to x^k. The forward model p(x^d | x^0) is the
 * approximate inference recursion (Eq. 14-15): xbar^k = act(W^k xbar^{k-1} + b^k), a softmax
 * on the class layer - a dense network's forward pass. The reverse model q(x^0 | x^d) runs the
 * same recursion down with the transposed weights (V^{k-1} = (W^k)', Eq. 20), a Bernoulli (0/1)
 * or +-1 output over the inputs. Bias tying: Eq. 20's exponents cancel, apart from terms in x^0
 * and x^d alone, when every hidden layer x^k (0 < k < d) has one bias in both directions (the
 * extracted text reads "b^k = a^{k-1}"; deriving Eq. 20 again gives the same-layer tie), so
 * biases[0] only serves q and biases[d] only p: one parameter set for both models.
 */
#ifndef PDBN_DCIM_H
#define PDBN_DCIM_H

#include <stddef.h>
#include <stdint.h>

#include "pdbn_matrix.h"
#include "pdbn_mlp.h"
#include "pdbn_optim.h"
#include "pdbn_status.h"

enum pdbn_dcim_encoding { PDBN_DCIM_BINARY = 0, PDBN_DCIM_PM1 = 1 };
enum pdbn_dcim_objective {
    PDBN_DCIM_DISCRIMINATIVE = 0, /* log p(x^d | x^0) */
    PDBN_DCIM_BIDIRECTIONAL = 1,  /* + log q(x^0 | x^d), Eq. 21 */
    PDBN_DCIM_SAMPLED = 2         /* + log q(x^0 | x^{d-1}), x^{d-1} ~ p(x^{d-1} | x^0), Eq. 22 */
};
enum { PDBN_DCIM_MAX_LAYERS = 16 };

typedef struct pdbn_dcim_train {
    int objective;         /* enum pdbn_dcim_objective */
    double reverse_weight; /* the reverse term's weight in the gradient (1: Eq. 21/22 as
                              written, log q summed over the inputs) */
    size_t batch_size;
    pdbn_optim_config opt; /* weight decay on the weights only */
    uint32_t seed, epoch;
} pdbn_dcim_train;

#define PDBN_DCIM_DECL(T, S)                                                                    \
    typedef struct pdbn_dcim_##S {                                                               \
        size_t n_layers;   /* d >= 1 weight layers */                                            \
        const size_t *sizes; /* d + 1 widths, x^0 first, the classes last */                     \
        T *const *weights; /* d matrices, weights[k-1] = W^k */                                  \
        T *const *biases;  /* d + 1 vectors */                                                   \
        int encoding;      /* enum pdbn_dcim_encoding */                                         \
    } pdbn_dcim_##S;                                                                             \
                                                                                                 \
    /* The forward model on data (values in [0, 1]; the +-1 encoding maps v to 2v - 1):        \
     * proba (rows x sizes[d], may be NULL) = p(x^d | x^0); hidden (may be NULL, else d - 1    \
     * arrays rows x sizes[k]) = the means xbar^k of the hidden layers. */                     \
    int pdbn_dcim_forward_##S(const pdbn_dcim_##S *m, const pdbn_source *data, T *proba,         \
                              T *const *hidden, const pdbn_control *ctl, pdbn_error *err);       \
    /* The reverse model from layer `start` (1..d) given its states (rows x sizes[start], a    \
     * one-hot class for start = d): the first n_sampled layers below it are sampled (0/1 or   \
     * +-1 states from their means), the rest take the recursion's means; logits (rows x       \
     * sizes[0]) receives the input layer's pre-activations a (q(x^0_i = 1) = sigmoid(a) for   \
     * 0/1, q(x^0_i = +1) = sigmoid(2a) for +-1). */                                            \
    int pdbn_dcim_reverse_##S(const pdbn_dcim_##S *m, size_t start, const T *states,            \
                              size_t rows, size_t n_sampled, uint32_t seed, uint32_t epoch,      \
                              T *logits, const pdbn_control *ctl, pdbn_error *err);              \
    /* The objective on rows of data with class labels (int64 in [0, sizes[d])), as a mean     \
     * over rows: *fwd = mean log p(y | x), *rev = mean log q(x | y) (bidirectional) or        \
     * log q(x | x^{d-1}) (sampled; 0 when discriminative); with gw / gb not NULL, their       \
     * gradients (of fwd + rev) w.r.t. every weight and bias. The sampled objective draws     \
     * x^{d-1} from stream (seed, epoch) and treats the draw as fixed. The gradient is of    \
     * fwd + rweight * rev (*rev itself is reported unweighted). */                            \
    int pdbn_dcim_objective_##S(const pdbn_dcim_##S *m, int objective, double rweight,          \
                                const pdbn_source *data,                                         \
                                const int64_t *labels, uint32_t seed, uint32_t epoch,            \
                                double *fwd, double *rev, T *const *gw, T *const *gb,            \
                                const pdbn_control *ctl, pdbn_error *err);                       \
    /* One epoch of shuffled minibatches, each an optimizer step up the objective.            \
     * state1 / state2: the optimizer's arrays for weights[0..d-1] then biases[0..d]; *t its  \
     * step count. *fwd, *rev: means over the epoch's minibatches before each step. On        \
     * interrupt or divergence everything is restored. */                                      \
    int pdbn_dcim_epoch_##S(const pdbn_dcim_##S *m, const pdbn_dcim_train *cfg,                  \
                            const pdbn_source *data, const int64_t *labels, T *const *state1,    \
                            T *const *state2, uint64_t *t, double *fwd, double *rev,             \
                            const pdbn_control *ctl, pdbn_error *err);

PDBN_DCIM_DECL(float, f)
PDBN_DCIM_DECL(double, d)

#endif
