/* pdbn_optim.h - parameter updates shared by every model.
 *
 * Convention: `direction` is the ascent direction of the objective being maximised (for a
 * log-likelihood, its gradient estimate; for a loss, pass minus its gradient). Weight decay is
 * L2: the direction becomes direction - weight_decay * param. Updates are elementwise over
 * flat arrays, in place; nothing is allocated and nothing fails.
 */
#ifndef PDBN_OPTIM_H
#define PDBN_OPTIM_H

#include <stddef.h>
#include <stdint.h>

enum pdbn_optimizer { PDBN_OPT_SGD = 0, PDBN_OPT_ADAM = 1, PDBN_OPT_RMSPROP = 2 };

typedef struct pdbn_optim_config {
    int kind;             /* enum pdbn_optimizer */
    double learning_rate;
    double momentum;      /* SGD */
    double weight_decay;  /* L2, applied to every array passed (callers skip biases) */
    double beta1, beta2;  /* Adam */
    double rho;           /* RMSprop */
    double eps;           /* Adam, RMSprop */
} pdbn_optim_config;

#define PDBN_OPTIM_DECL(T, S)                                                                   \
    /* SGD: velocity = momentum * velocity + lr * d; param += velocity. velocity may be NULL     \
     * when momentum == 0 (param += lr * d). */                                                  \
    void pdbn_sgd_step_##S(size_t n, T *param, const T *direction, T *velocity, double lr,        \
                           double momentum, double weight_decay);                                \
    /* Adam (Kingma & Ba 2015) with bias correction; t is the 1-based step count. */             \
    void pdbn_adam_step_##S(size_t n, T *param, const T *direction, T *m, T *v, double lr,        \
                            double beta1, double beta2, double eps, double weight_decay,         \
                            uint64_t t);                                                         \
    /* RMSprop (Tieleman & Hinton 2012): s = rho s + (1 - rho) d^2; param += lr d/(sqrt(s)+eps) */ \
    void pdbn_rmsprop_step_##S(size_t n, T *param, const T *direction, T *s, double lr,           \
                               double rho, double eps, double weight_decay);                     \
    /* Dispatch on cfg->kind; state1/state2 are velocity, (m, v) or s as each needs. */          \
    void pdbn_optim_step_##S(const pdbn_optim_config *cfg, size_t n, T *param,                   \
                             const T *direction, T *state1, T *state2, uint64_t t);

PDBN_OPTIM_DECL(float, f)
PDBN_OPTIM_DECL(double, d)

#endif
