/* pdbn_adbn.h - adversarial deep belief networks (Huang, Panahi, Krim, Yu & Smith, text 000).
 *
 * Generator: a DBN in its forward form (Eq. 1-2): layers h^1 .. h^L, binary,
 *     p_1(h^1_i = 1) = sigmoid(b^1_i),   p_l(h^l_i = 1 | h^{l-1}) = sigmoid(b^l_i + W^{l-1}_i . h^{l-1})
 * weights[l] (sizes[l+1] x sizes[l], row-major) maps h^{l+1} from h^l (0-based l); the last layer
 * lives in data space. In conditional mode h^1 is a clamped one-hot label, not sampled.
 * Discriminator: a pdbn_mlp whose last layer is linear; its output a passes through the head of
 * the loss: 'gan' f = sigmoid(a) with phi = log f, psi = log(1 - f); 'wgan' f = a with phi = f,
 * psi = -f (weights clipped to [-clip, clip]); 'mle' f = exp(a) with phi = log f, psi = -f
 * (Eq. 5 and the choices listed after it). Training solves Eq. 6: the discriminator ascends
 * E phi(f(X)) + E psi(f(Y)) by backprop (Eq. 7), the generator descends E psi(f(Y)) by the
 * score-function estimate of Eq. 9, layer by layer (no backprop through the DBN).
 */
#ifndef PDBN_ADBN_H
#define PDBN_ADBN_H

#include <stddef.h>
#include <stdint.h>

#include "pdbn_matrix.h"
#include "pdbn_mlp.h"
#include "pdbn_optim.h"
#include "pdbn_status.h"

enum pdbn_adbn_loss { PDBN_LOSS_GAN = 0, PDBN_LOSS_WGAN = 1, PDBN_LOSS_MLE = 2 };
enum { PDBN_ADBN_MAX_LAYERS = 32 };

typedef struct pdbn_adbn_train {
    int loss;                  /* enum pdbn_adbn_loss */
    size_t batch_size;         /* real and generated rows per step */
    size_t n_critic;           /* discriminator steps per generator step, >= 1 */
    double clip;               /* 'wgan': weights and biases of the discriminator clipped */
    int baseline;              /* 1: leave-one-out baseline in the score-function estimate */
    pdbn_optim_config gen_opt; /* generator optimizer */
    pdbn_optim_config dis_opt; /* discriminator optimizer */
    uint32_t seed, epoch;      /* random stream address of this call */
} pdbn_adbn_train;

/* Figures of each generator step. */
typedef struct pdbn_adbn_step_stats {
    double *dis_objective; /* E phi(f(X)) + E psi(f(Y)) of the last critic step's batches */
    double *gen_objective; /* E psi(f(Y)) of the generator step's samples */
    double *real_score;    /* mean f(X) on the last critic step's real rows */
    double *fake_score;    /* mean f(Y) on the generator step's samples */
} pdbn_adbn_step_stats;

#define PDBN_ADBN_DECL(T, S)                                                                    \
    typedef struct pdbn_adbn_##S {                                                               \
        size_t n_layers;      /* L >= 2 */                                                       \
        const size_t *sizes;  /* L layer widths, h^1 first */                                   \
        T *const *weights;    /* L - 1 matrices */                                               \
        T *const *biases;     /* L vectors */                                                    \
        int conditional;      /* h^1 is a clamped one-hot label */                              \
    } pdbn_adbn_##S;                                                                             \
                                                                                                 \
    /* n forward samples: states[l] (n x sizes[l]) receives h^{l+1} for every layer, and        \
     * probs (may be NULL) p_L(h^L = 1 | h^{L-1}). labels (n class indices in [0, sizes[0])) is \
     * needed in conditional mode and ignored otherwise. */                                     \
    int pdbn_adbn_sample_##S(const pdbn_adbn_##S *g, size_t n, const int64_t *labels,            \
                             uint32_t seed, uint32_t epoch, T *const *states, T *probs,          \
                             const pdbn_control *ctl, pdbn_error *err);                          \
    /* The generator gradient of Eq. 9 from n fresh samples, for a fixed discriminator d (its  \
     * last layer linear, the head of `loss` applied here): gw[l], gb[l] receive              \
     *   (1/n) sum_i (psi(f(y_i)) - c_i) d log p(h_i) / d theta                              \
     * with c_i = 0, or with baseline the mean of psi over the other n - 1 samples (n >= 2).   \
     * In conditional mode the labels of the samples are `labels` and gb[0] receives 0. */     \
    int pdbn_adbn_generator_gradient_##S(const pdbn_adbn_##S *g, const pdbn_mlp_##S *d,          \
                                         int loss, size_t n, int baseline,                       \
                                         const int64_t *labels, uint32_t seed, uint32_t epoch,   \
                                         T *const *gw, T *const *gb, double *objective,          \
                                         const pdbn_control *ctl, pdbn_error *err);              \
    /* n_steps steps of adversarial training: per step, n_critic discriminator updates (a     \
     * minibatch of data rows drawn with replacement and one of generated rows; in conditional \
     * mode the generated rows take the labels of another minibatch of data rows) and one     \
     * generator update. data_labels: class indices of the data rows (conditional mode).     \
     * g_state1/2, d_state1/2 (per weight and bias array, weights first then biases) are the  \
     * optimizers' state; *t_gen, *t_dis count their steps. stats arrays hold n_steps entries \
     * (any may be NULL). On interrupt or divergence every array is restored and nothing is   \
     * reported. */                                                                           \
    int pdbn_adbn_train_##S(const pdbn_adbn_##S *g, const pdbn_mlp_##S *d,                       \
                            const pdbn_adbn_train *cfg, const pdbn_source *data,                 \
                            const int64_t *data_labels, size_t n_steps, T *const *g_state1,      \
                            T *const *g_state2, T *const *d_state1, T *const *d_state2,          \
                            uint64_t *t_gen, uint64_t *t_dis, const pdbn_adbn_step_stats *stats, \
                            const pdbn_control *ctl, pdbn_error *err);

PDBN_ADBN_DECL(float, f)
PDBN_ADBN_DECL(double, d)

#endif
