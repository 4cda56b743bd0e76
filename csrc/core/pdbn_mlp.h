/* pdbn_mlp.h - small dense feed-forward networks (the discriminators of adversarial training).
 *
 * Layer k maps a_{k-1} (rows x sizes[k]) to a_k = act_k(a_{k-1} W_k' + b_k), W_k of shape
 * sizes[k+1] x sizes[k] row-major, a_{-1} = the input. With `transposed` set every W_k is stored
 * as sizes[k] x sizes[k+1] instead and the layer computes a_{k-1} W_k: a network run backwards
 * through another network's weights (DCIM's reverse model) without copying them. The struct is a view of caller-owned
 * arrays. Forward keeps every layer's output in caller-provided storage so that backward can
 * compute the gradient of sum_rows dout . a_last with respect to every weight and bias.
 * Nothing is allocated; nothing fails once the shapes are right.
 */
#ifndef PDBN_MLP_H
#define PDBN_MLP_H

#include <stddef.h>

enum pdbn_activation {
    PDBN_ACT_IDENTITY = 0,
    PDBN_ACT_SIGMOID = 1,
    PDBN_ACT_RELU = 2,
    PDBN_ACT_TANH = 3,
    PDBN_ACT_LEAKY_RELU = 4 /* slope 0.2 below zero */
};

enum { PDBN_MLP_MAX_LAYERS = 16 };

#define PDBN_MLP_DECL(T, S)                                                                     \
    typedef struct pdbn_mlp_##S {                                                                \
        size_t n_layers;        /* weight layers, 1..PDBN_MLP_MAX_LAYERS */                      \
        const size_t *sizes;    /* n_layers + 1: input width .. output width */                  \
        T *const *weights;      /* weights[k]: sizes[k+1] x sizes[k] */                          \
        T *const *biases;       /* biases[k]: sizes[k+1] */                                      \
        const int *activations; /* n_layers entries, enum pdbn_activation */                     \
        int transposed;         /* weights[k] stored sizes[k] x sizes[k+1] (see above) */        \
    } pdbn_mlp_##S;                                                                              \
                                                                                                 \
    /* Elements of the storage forward needs for `rows` rows: sum_k rows * sizes[k+1]. */        \
    size_t pdbn_mlp_storage_##S(const pdbn_mlp_##S *m, size_t rows);                             \
    /* Largest layer width (scratch for backward needs 2 * rows * width elements). */           \
    size_t pdbn_mlp_max_width_##S(const pdbn_mlp_##S *m);                                        \
    /* Forward pass of x (rows x sizes[0], leading dimension ldx); acts receives every layer's \
     * output back to back (layer k at offset rows * sum_{j<k} sizes[j+1]). Returns a pointer  \
     * to the last layer's output (rows x sizes[n_layers]) inside acts. */                     \
    T *pdbn_mlp_forward_##S(const pdbn_mlp_##S *m, const T *x, size_t ldx, size_t rows, T *acts); \
    /* Backward pass after forward on the same x: gw[k], gb[k] receive the gradient of        \
     * sum_rows dout . a_last (dout: rows x sizes[n_layers]) with respect to W_k, b_k.        \
     * scratch: 2 * rows * pdbn_mlp_max_width elements. dout may alias scratch's first half   \
     * only if the caller copies it there; it is not modified otherwise. */                    \
    void pdbn_mlp_backward_##S(const pdbn_mlp_##S *m, const T *x, size_t ldx, size_t rows,        \
                               const T *acts, const T *dout, T *const *gw, T *const *gb,         \
                               T *scratch);

PDBN_MLP_DECL(float, f)
PDBN_MLP_DECL(double, d)

#endif
