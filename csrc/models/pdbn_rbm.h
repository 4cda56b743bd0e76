/* pdbn_rbm.h - restricted Boltzmann machines (binary hidden units; binary or unit-variance
 * Gaussian visible units).
 *
 * Energy (survey text 004, Eq. 7; Gaussian visible units as in its Sec. 5.1, Eq. 29-30 with
 * unit precision):
 *   binary:    E(v, h) = -b.v - c.h - h' W v
 *   gaussian:  E(v, h) = |v - b|^2 / 2 - c.h - h' W v
 * W is n_hidden x n_visible, row-major (scikit-learn's components_). The model struct is a
 * view of caller-owned arrays; every function reads it, and the training functions update the
 * arrays in place. All workspaces are allocated once per call and freed before returning.
 */
#ifndef PDBN_RBM_H
#define PDBN_RBM_H

#include <stddef.h>
#include <stdint.h>

#include "pdbn_matrix.h"
#include "pdbn_rng.h"
#include "pdbn_status.h"

enum pdbn_visible { PDBN_VISIBLE_BERNOULLI = 0, PDBN_VISIBLE_GAUSSIAN = 1 };
enum pdbn_rbm_method { PDBN_RBM_PCD = 0, PDBN_RBM_CD = 1 };

typedef struct pdbn_rbm_train {
    int method;           /* enum pdbn_rbm_method */
    unsigned k;           /* Gibbs steps per update, >= 1 */
    size_t batch_size;    /* rows per minibatch; also the number of persistent chains */
    double learning_rate; /* > 0 */
    double momentum;      /* [0, 1) */
    double weight_decay;  /* L2 on the weights, >= 0 */
    uint32_t seed;        /* random stream address: key */
    uint32_t epoch;       /* random stream address: a counter the caller advances per call */
    int sample_input;     /* 1: each gathered data row is replaced by a Bernoulli sample of
                             itself (binary units only) - training on samples of a layer's
                             probabilities, as greedy DBN training may */
    double up_scale;      /* p(h | v) = sigmoid(c + up_scale W v); 1 for an RBM */
    double down_scale;    /* p(v | h) uses down_scale W'h; 1 for an RBM */
} pdbn_rbm_train;

#define PDBN_RBM_DECL(T, S)                                                                     \
    typedef struct pdbn_rbm_##S {                                                                \
        size_t n_visible, n_hidden;                                                              \
        int visible;        /* enum pdbn_visible: the unit type of the first                     \
                               n_visible - n_softmax visible units */                            \
        size_t n_softmax;   /* 0, or the size of one softmax group (label units, Hinton,         \
                               Osindero & Teh 2006) formed by the last n_softmax visible units */\
        T *weights;         /* n_hidden x n_visible */                                           \
        T *visible_bias;    /* n_visible */                                                      \
        T *hidden_bias;     /* n_hidden */                                                       \
    } pdbn_rbm_##S;                                                                              \
                                                                                                 \
    /* Kernels for the models built on RBMs (DBN, DBM). v (rows x n_visible) = samples of      \
     * p(v | h) for h (rows x n_hidden), row r from stream s row r, or E[v | h] when s is NULL;  \
     * words is scratch of pdbn_rbm_n_words entries. */                                        \
    size_t pdbn_rbm_n_words_##S(const pdbn_rbm_##S *m);                                          \
    void pdbn_rbm_visible_given_hidden_##S(const pdbn_rbm_##S *m, const T *h, size_t rows,        \
                                           const pdbn_stream *s, T *v, uint32_t *words);          \
    /* One pass of CD-k or PCD-k over `data` in shuffled minibatches (one permutation per call).  \
     * Updates weights and biases; with momentum > 0 also the velocities (same shapes, caller    \
     * owned; may be NULL when momentum == 0); PCD reads and writes `chains`                     \
     * (batch_size x n_hidden hidden states). On interrupt or a non-finite parameter, every     \
     * array is restored to its state at entry. */                                               \
    int pdbn_rbm_epoch_##S(const pdbn_rbm_##S *m, const pdbn_rbm_train *cfg,                     \
                           const pdbn_source *data, T *vel_w, T *vel_vb, T *vel_hb, T *chains,    \
                           const pdbn_control *ctl, pdbn_error *err);                            \
    /* out (rows x n_hidden) = p(h = 1 | v) for every row of data. */                            \
    int pdbn_rbm_hidden_probs_##S(const pdbn_rbm_##S *m, const pdbn_source *data, T *out,         \
                                  const pdbn_control *ctl, pdbn_error *err);                     \
    /* out (rows x n_visible) = E[v | h = p(h | v)]: the mean-field reconstruction. */          \
    int pdbn_rbm_reconstruct_##S(const pdbn_rbm_##S *m, const pdbn_source *data, T *out,          \
                                 const pdbn_control *ctl, pdbn_error *err);                      \
    /* out[r] = F(v_r) = -log sum_h exp(-E(v_r, h)), computed in double. */                      \
    int pdbn_rbm_free_energy_##S(const pdbn_rbm_##S *m, const pdbn_source *data, double *out,     \
                                 const pdbn_control *ctl, pdbn_error *err);                      \
    /* Pseudo-log-likelihood as scikit-learn defines it: row r with bit flip[r] set to          \
     * 1 - v gives v'; out[r] = -n_visible * softplus(F(v) - F(v')). */                          \
    int pdbn_rbm_pseudo_loglik_##S(const pdbn_rbm_##S *m, const pdbn_source *data,                \
                                   const int64_t *flip, double *out, const pdbn_control *ctl,    \
                                   pdbn_error *err);                                             \
    /* One Gibbs step from each row: h ~ p(h | v), then out ~ p(v | h). */                       \
    int pdbn_rbm_gibbs_##S(const pdbn_rbm_##S *m, const pdbn_source *data, uint32_t seed,         \
                           uint32_t epoch, T *out, const pdbn_control *ctl, pdbn_error *err);    \
    /* n_samples free-running chains from random visible states, n_steps >= 1 Gibbs steps;      \
     * out receives the final visible states, or p(v | h) of the last step when means. With     \
     * clamp (n_samples class indices; needs a softmax group) the group of chain r is held at   \
     * one-hot clamp[r]: samples of p(v | label). */                                           \
    int pdbn_rbm_sample_##S(const pdbn_rbm_##S *m, size_t n_samples, size_t n_steps,             \
                            uint32_t seed, uint32_t epoch, int means, const int64_t *clamp,      \
                            T *out, const pdbn_control *ctl, pdbn_error *err);                   \
    /* With a softmax group (label units): data holds the n_visible - n_softmax other units.   \
     * free[r*ns + y] = F(x_r, y), the free energy with label y (computed in double); when     \
     * hidden is not NULL it receives p(h = 1 | x_r) = sum_y p(y | x_r) p(h = 1 | x_r, y)     \
     * (rows x n_hidden), the hidden means with the label summed out. */                        \
    int pdbn_rbm_label_free_energy_##S(const pdbn_rbm_##S *m, const pdbn_source *data,          \
                                       double *free, T *hidden, const pdbn_control *ctl,         \
                                       pdbn_error *err);                                         \
    /* log Z by enumerating the smaller layer (the hidden one for Gaussian visible units; a     \
     * softmax group is summed over its n_softmax states);                                    \
     * at most max_units units are enumerated. */                                                \
    int pdbn_rbm_log_partition_exact_##S(const pdbn_rbm_##S *m, unsigned max_units,              \
                                         double *log_z, const pdbn_control *ctl,                 \
                                         pdbn_error *err);                                       \
    /* log Z by AIS from a base-rate model: no couplings, visible biases base_bias (logits of  \
     * the data marginals for binary units, the data means for Gaussian ones, log class        \
     * frequencies for a softmax group), zero hidden                                            \
     * biases. logw (n_chains) receives the log importance weights. */                         \
    int pdbn_rbm_log_partition_ais_##S(const pdbn_rbm_##S *m, const T *base_bias,                \
                                       size_t n_chains, size_t n_betas, uint32_t seed,           \
                                       uint32_t epoch, double *log_z, double *std_err,           \
                                       double *logw, const pdbn_control *ctl, pdbn_error *err);

PDBN_RBM_DECL(float, f)
PDBN_RBM_DECL(double, d)

#endif
