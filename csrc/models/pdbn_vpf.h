/* pdbn_vpf.h - layered Boltzmann machines with optional intra-layer (lateral) weights, trained by
 * minimum probability flow (Sohl-Dickstein, Battaglino & DeWeese 2011) and its variational
 * extension VPF (Liu, Quek & Lin, text 003).
 *
 * Layers h_0 (observed) .. h_L, all binary; W_k (sizes[k+1] x sizes[k], row-major) joins h_k and
 * h_{k+1}; U_k (sizes[k] x sizes[k], symmetric, zero diagonal) joins the units of layer k, or
 * is absent (NULL); b_k are the biases:
 *     E(y) = - sum_k b_k . y_k - sum_k y_{k+1}' W_k y_k - 1/2 sum_k y_k' U_k y_k
 * (text 003, "Boltzmann Machines": E(x) = - sum_{ij in edges} w_ij x_i x_j - sum_i b_i x_i).
 * The input of layer k is z_k = b_k + y_{k-1} W_{k-1}' + y_{k+1} W_k + y_k U_k. L = 0 with U_0
 * is a fully observed Boltzmann machine on n_0 units; L = 1 without laterals an RBM; L >= 2 a
 * DBM, with lateral weights in any layer. The struct is a view of caller-owned arrays.
 */
#ifndef PDBN_VPF_H
#define PDBN_VPF_H

#include <stddef.h>
#include <stdint.h>

#include "pdbn_matrix.h"
#include "pdbn_optim.h"
#include "pdbn_status.h"

enum { PDBN_BM_MAX_LAYERS = 64 };

typedef struct pdbn_vpf_train {
    size_t batch_size;      /* rows per update */
    pdbn_optim_config opt;  /* the optimizer (Adam in text 003); weight decay on W and U only */
    uint32_t seed, epoch;   /* random stream address */
} pdbn_vpf_train;

#define PDBN_BM_DECL(T, S)                                                                      \
    typedef struct pdbn_bm_##S {                                                                 \
        size_t n_hidden_layers;  /* L >= 0 */                                                    \
        const size_t *sizes;     /* L + 1 layer sizes */                                        \
        T *const *weights;       /* L matrices, weights[k]: sizes[k+1] x sizes[k] */             \
        T *const *lateral;       /* L + 1 entries: NULL or sizes[k] x sizes[k] */                \
        T *const *biases;        /* L + 1 vectors */                                            \
    } pdbn_bm_##S;                                                                               \
                                                                                                 \
    /* Minimum probability flow with one-bit-flip connectivity (text 003, Eq. 1-2): for the     \
     * full states y (states[k]: rows x sizes[k], 0/1), alpha = 1/2 - y, delta = exp(alpha z),  \
     *     K = (1 / (rows |V|)) sum_rows sum_k sum_j delta_kj,  |V| = sum_k sizes[k]          \
     * (the text's flow out of the data at time epsilon with epsilon = 1 / |V|: the mean flow   \
     * per unit, against which the text's lambda = 1e-4 trains its networks). When grad_w /    \
     * grad_lat / grad_b are not NULL they receive dK/dW_k, dK/dU_k (per shared symmetric      \
     * weight, zero diagonal; an entry may be NULL where U_k is) and dK/db_k. */               \
    int pdbn_mpf_##S(const pdbn_bm_##S *m, T *const *states, size_t rows, double *objective,     \
                     T *const *grad_w, T *const *grad_lat, T *const *grad_b,                     \
                     const pdbn_control *ctl, pdbn_error *err);                                  \
    /* The E-step of VPF (text 003, Algorithm 1 lines 4-9): for k = 1..L, h_k ~ p(h_k | h_{k-1}) \
     * with the input from h_{k+1} zeroed, then with U_k one asynchronous sweep over the units \
     * of layer k in index order (Eq. 5). out[k - 1] (rows x sizes[k]) receives h_k; row r's   \
     * randomness depends only on (seed, epoch, r). */                                          \
    int pdbn_bm_infer_##S(const pdbn_bm_##S *m, const pdbn_source *data, uint32_t seed,          \
                          uint32_t epoch, T *const *out, const pdbn_control *ctl,                \
                          pdbn_error *err);                                                      \
    /* One asynchronous sweep (Eq. 5) over layer k >= 1 (needs U_k) given below = h_{k-1},       \
     * in place on h (rows x sizes[k]). */                                                       \
    int pdbn_bm_lateral_sweep_##S(const pdbn_bm_##S *m, size_t k, const T *below, T *h,          \
                                  size_t rows, uint32_t seed, uint32_t epoch,                    \
                                  const pdbn_control *ctl, pdbn_error *err);                     \
    /* One epoch of VPF (text 003, Algorithm 1): the E-step samples of every row, drawn with   \
     * the parameters at the start of the epoch, in shuffled minibatches; per minibatch one    \
     * optimizer step down the MPF gradient of (x, h). opt_w1/opt_w2, opt_l1/opt_l2,           \
     * opt_b1/opt_b2 are the optimizer's state arrays (Adam's m and v) shaped like the        \
     * parameters; *t counts the steps taken (Adam's bias correction). *objective receives the \
     * mean over minibatches of K before each update. On interrupt or a non-finite parameter  \
     * every array is restored to its state at entry. */                                        \
    int pdbn_vpf_epoch_##S(const pdbn_bm_##S *m, const pdbn_vpf_train *cfg,                      \
                           const pdbn_source *data, T *const *opt_w1, T *const *opt_w2,          \
                           T *const *opt_l1, T *const *opt_l2, T *const *opt_b1,                 \
                           T *const *opt_b2, uint64_t *t, double *objective,                     \
                           const pdbn_control *ctl, pdbn_error *err);                            \
    /* Confabulations by text 003, Algorithm 2: h_L ~ Bernoulli(top_prior) (NULL: 1/2 each);    \
     * for i = L..1, r times: h_{i-1} ~ p(h_{i-1} | h_i) from h_i alone, h_i ~ p(h_i | h_{i-1})  \
     * from h_{i-1} alone, and with U_i one asynchronous sweep of h_i. out (n x sizes[0])     \
     * receives p(h_0 = 1 | h_1), or a sample of it when means is 0. Needs L >= 1. */          \
    int pdbn_bm_generate_##S(const pdbn_bm_##S *m, size_t n, size_t r, const T *top_prior,       \
                             uint32_t seed, uint32_t epoch, int means, T *out,                   \
                             const pdbn_control *ctl, pdbn_error *err);                          \
    /* Fills the unknown entries of data (mask[r * cols + i] != 0): from v = data, n_gibbs      \
     * times the E-step on v then v_unknown ~ p(v | h_1); out receives data on the known       \
     * entries and p(v = 1 | h_1) of the last iteration on the unknown ones. Needs L >= 1. */  \
    int pdbn_bm_reconstruct_##S(const pdbn_bm_##S *m, const pdbn_source *data,                   \
                                const uint8_t *mask, size_t n_gibbs, uint32_t seed,              \
                                uint32_t epoch, T *out, const pdbn_control *ctl,                 \
                                pdbn_error *err);

PDBN_BM_DECL(float, f)
PDBN_BM_DECL(double, d)

#endif
