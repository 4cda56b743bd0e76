/* pdbn_dbm.h - deep Boltzmann machines (Salakhutdinov & Hinton 2009; text 002 "Deep Boltzmann
 * Machines", Algorithm 20.1; survey text 004, Sec. 4, Eq. 25-28).
 *
 * Layers h_0 = v (binary), h_1, ..., h_L, all binary, with biases b_k and couplings between
 * neighbouring layers only:
 *     E(h) = - sum_k b_k . h_k - sum_{k<L} h_{k+1}' W_k h_k                    (Eq. 26 of 004)
 * weights[k] is W_k, sizes[k+1] x sizes[k], row-major (an RBM's components_ layout), so
 *     p(h_k = 1 | h_{k-1}, h_{k+1}) = sigmoid(b_k + h_{k-1} W_{k-1}' + h_{k+1} W_k)  (Eq. 27-28)
 * The layers split into two blocks, even (v, h_2, ...) and odd (h_1, h_3, ...), each
 * conditionally independent given the other. The struct is a view of caller-owned arrays.
 */
#ifndef PDBN_DBM_H
#define PDBN_DBM_H

#include <stddef.h>
#include <stdint.h>

#include "pdbn_matrix.h"
#include "pdbn_status.h"

enum { PDBN_DBM_MAX_LAYERS = 64 };

typedef struct pdbn_dbm_train {
    unsigned k;            /* Gibbs sweeps of the persistent chains per update, >= 1 */
    size_t batch_size;     /* data rows per update */
    size_t n_mean_field;   /* at most this many mean-field sweeps per minibatch, >= 1 */
    double mean_field_tol; /* ... stopping once no posterior mean moves more than this */
    double learning_rate;  /* > 0 */
    double momentum;       /* [0, 1) */
    double weight_decay;   /* L2 on the weights, >= 0 */
    uint32_t seed, epoch;  /* random stream address */
} pdbn_dbm_train;

/* Figures of one training epoch. */
typedef struct pdbn_dbm_stats {
    double mean_field_sweeps; /* mean sweeps per minibatch */
    double mean_field_seconds, gibbs_seconds, update_seconds;
} pdbn_dbm_stats;

#define PDBN_DBM_DECL(T, S)                                                                     \
    typedef struct pdbn_dbm_##S {                                                                \
        size_t n_hidden_layers;  /* L >= 1 */                                                    \
        const size_t *sizes;     /* L + 1 layer sizes, sizes[0] = n_visible */                   \
        T *const *weights;       /* L matrices, weights[k]: sizes[k+1] x sizes[k] */             \
        T *const *biases;        /* L + 1 vectors */                                            \
    } pdbn_dbm_##S;                                                                              \
                                                                                                 \
    /* Mean-field posterior of the hidden layers for every row of data: mu[k - 1] (rows x       \
     * sizes[k]) receives Q(h_k = 1 | v), the fixed point of                                    \
     *   mu_k = sigmoid(b_k + mu_{k-1} W_{k-1}' + mu_{k+1} W_k)      (text 002, mean field)     \
     * reached by sweeps over the layers in order from a bottom-up pass with doubled inputs,    \
     * stopping when no mean moves more than tol or after n_iter sweeps. sweeps (may be NULL)  \
     * receives the largest number of sweeps any block of rows needed. */                       \
    int pdbn_dbm_mean_field_##S(const pdbn_dbm_##S *m, const pdbn_source *data, size_t n_iter,   \
                                double tol, T *const *mu, size_t *sweeps,                        \
                                const pdbn_control *ctl, pdbn_error *err);                       \
    /* One epoch of variational stochastic maximum likelihood (Algorithm 20.1 of text 002 for   \
     * any depth): per minibatch, the mean-field positive phase, k block-Gibbs sweeps of the    \
     * n_chains persistent chains (chains[k]: n_chains x sizes[k], binary states, read and      \
     * written), and one update of every weight and bias. vel_w / vel_b (same shapes as the     \
     * parameters) are needed when momentum > 0. On interrupt or divergence every array is      \
     * restored to its state at entry. stats may be NULL. */                                     \
    int pdbn_dbm_epoch_##S(const pdbn_dbm_##S *m, const pdbn_dbm_train *cfg,                     \
                           const pdbn_source *data, T *const *chains, size_t n_chains,           \
                           T *const *vel_w, T *const *vel_b, pdbn_dbm_stats *stats,              \
                           const pdbn_control *ctl, pdbn_error *err);                            \
    /* The mean-field variational lower bound per row:                                          \
     *   log p(v) >= -E_Q[E(v, h)] + H(Q) - log_z                                               \
     * with Q the mean-field posterior (n_iter, tol as above). */                               \
    int pdbn_dbm_bound_##S(const pdbn_dbm_##S *m, const pdbn_source *data, size_t n_iter,         \
                           double tol, double log_z, double *out, const pdbn_control *ctl,       \
                           pdbn_error *err);                                                     \
    /* n_samples chains from uniformly random states, n_gibbs block-Gibbs sweeps (odd layers   \
     * given even, then even given odd); out (n_samples x sizes[0]) receives the visible        \
     * states, or p(v | h_1) of the last sweep when means. */                                   \
    int pdbn_dbm_sample_##S(const pdbn_dbm_##S *m, size_t n_samples, size_t n_gibbs,             \
                            uint32_t seed, uint32_t epoch, int means, T *out,                    \
                            const pdbn_control *ctl, pdbn_error *err);                           \
    /* log Z by enumerating the block (even or odd layers) with fewer units, at most max_bits, \
     * and summing the other analytically. */                                                   \
    int pdbn_dbm_log_partition_exact_##S(const pdbn_dbm_##S *m, unsigned max_bits,               \
                                         double *log_z, const pdbn_control *ctl,                 \
                                         pdbn_error *err);                                       \
    /* Exact log p(v_r) = log sum_h exp(-E(v_r, h)) - log_z, enumerating the smaller hidden     \
     * block (at most max_bits units). */                                                       \
    int pdbn_dbm_log_prob_exact_##S(const pdbn_dbm_##S *m, const pdbn_source *data,              \
                                    double log_z, unsigned max_bits, double *out,                \
                                    const pdbn_control *ctl, pdbn_error *err);                   \
    /* log Z by AIS (Salakhutdinov & Hinton 2009, Sec. 4) from a base model of independent     \
     * units with logits base_bias (every layer's, concatenated in layer order) to the DBM.    \
     * The chains anneal the layers of one parity (0: v, h2, ...; 1: h1, h3, ...) with the     \
     * other layers summed out; logw (n_chains) receives the log importance weights without   \
     * log Z_0 (log_z = log Z_0 + log mean exp(logw)). */                                      \
    int pdbn_dbm_log_partition_ais_##S(const pdbn_dbm_##S *m, const T *base_bias, int parity,   \
                                       size_t n_chains, size_t n_betas, uint32_t seed,           \
                                       uint32_t epoch, double *log_z, double *std_err,           \
                                       double *logw, const pdbn_control *ctl, pdbn_error *err);

PDBN_DBM_DECL(float, f)
PDBN_DBM_DECL(double, d)

#endif
