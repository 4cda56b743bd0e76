/* pdbn_ais.h - annealed importance sampling (Neal 2001), model-agnostic driver.
 *
 * Salakhutdinov & Murray (2008), "On the quantitative analysis of deep belief networks":
 * a sequence of distributions p_k ∝ f_k, k = 0..K, from a tractable base (beta = 0) to the
 * model (beta = 1). Each chain starts from an exact sample of the base; the importance weight
 * is w = prod_k f_k(x_{k-1}) / f_{k-1}(x_{k-1}) with x_k drawn by a transition that leaves
 * p_k invariant, and Z_K / Z_0 is estimated by the mean of w. The model supplies the two
 * operations below; the driver owns the schedule and the weights.
 */
#ifndef PDBN_AIS_H
#define PDBN_AIS_H

#include <stddef.h>
#include <stdint.h>

#include "pdbn_status.h"

typedef struct pdbn_ais_model {
    /* logw[c] += log f_beta(x_c) - log f_beta_prev(x_c) for every chain's current state. */
    int (*log_ratio)(void *ctx, double beta_prev, double beta, double *logw, pdbn_error *err);
    /* One transition of every chain that leaves p_beta invariant; step numbers the stage. */
    int (*transition)(void *ctx, double beta, uint32_t step, pdbn_error *err);
    void *ctx;
} pdbn_ais_model;

/* The schedule of Salakhutdinov & Murray (2008): n_betas points from 0 to 1, spaced evenly
 * on [0, 0.5], [0.5, 0.9] and [0.9, 1] in the proportions 500 : 4000 : 10000. n_betas >= 2. */
void pdbn_ais_schedule(size_t n_betas, double *betas);

/* Runs the chains through the schedule; logw (n_chains) receives the log importance
 * weights. The chains must already hold samples of the base. Polls ctl between stages. */
int pdbn_ais_run(const pdbn_ais_model *model, const double *betas, size_t n_betas,
                 size_t n_chains, double *logw, const pdbn_control *ctl, pdbn_error *err);

/* Argument checks shared by the models' AIS entry points: n_chains >= 1, n_betas >= 2. */
int pdbn_ais_check(size_t n_chains, size_t n_betas, pdbn_error *err);

/* Fills betas with the schedule, runs the chains (already holding exact base samples) and
 * on success sets *log_z = log_z0 + log mean(w) and *std_err. */
int pdbn_ais_estimate(const pdbn_ais_model *model, double *betas, size_t n_betas,
                      size_t n_chains, double log_z0, double *logw, double *log_z,
                      double *std_err, const pdbn_control *ctl, pdbn_error *err);

/* log of the mean of exp(logw) and its standard error (delta method:
 * std(w) / (sqrt(n) mean(w)), computed on weights scaled by their maximum). */
void pdbn_log_mean_exp(const double *logw, size_t n, double *log_mean, double *std_err);

#endif
