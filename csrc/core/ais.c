#include "pdbn_ais.h"

#include <math.h>

void pdbn_ais_schedule(size_t n_betas, double *betas)
{
    size_t steps = n_betas - 1;
    if (steps < 3) {
        for (size_t i = 0; i < n_betas; i++) betas[i] = (double)i / (double)steps;
        return;
    }
    size_t s1 = (size_t)llround((double)steps * 500.0 / 14500.0);
    size_t s2 = (size_t)llround((double)steps * 4000.0 / 14500.0);
    if (s1 < 1) s1 = 1;
    if (s2 < 1) s2 = 1;
    size_t s3 = steps - s1 - s2;
    size_t at = 0;
    for (size_t i = 0; i < s1; i++) betas[at++] = 0.5 * (double)i / (double)s1;
    for (size_t i = 0; i < s2; i++) betas[at++] = 0.5 + 0.4 * (double)i / (double)s2;
    for (size_t i = 0; i < s3; i++) betas[at++] = 0.9 + 0.1 * (double)i / (double)s3;
    betas[at] = 1.0;
}

int pdbn_ais_run(const pdbn_ais_model *model, const double *betas, size_t n_betas,
                 size_t n_chains, double *logw, const pdbn_control *ctl, pdbn_error *err)
{
    PDBN_RETURN_IF(n_betas < 2, err, PDBN_ERR_VALUE, "AIS needs at least 2 temperatures");
    PDBN_RETURN_IF(betas[0] != 0.0 || betas[n_betas - 1] != 1.0, err, PDBN_ERR_VALUE,
                   "AIS schedule must run from 0 to 1");
    for (size_t c = 0; c < n_chains; c++) logw[c] = 0.0;
    for (size_t k = 1; k < n_betas; k++) {
        PDBN_FORWARD(model->log_ratio(model->ctx, betas[k - 1], betas[k], logw, err));
        if (k + 1 < n_betas)
            PDBN_FORWARD(model->transition(model->ctx, betas[k], (uint32_t)k, err));
        if ((k & 63) == 0) {
            pdbn_report(ctl, (double)k / (double)(n_betas - 1));
            PDBN_FORWARD(pdbn_poll(ctl, err));
        }
    }
    pdbn_report(ctl, 1.0);
    for (size_t c = 0; c < n_chains; c++)
        PDBN_RETURN_IF(!isfinite(logw[c]), err, PDBN_ERR_NUMERIC,
                       "AIS produced a non-finite importance weight");
    return PDBN_OK;
}

void pdbn_log_mean_exp(const double *logw, size_t n, double *log_mean, double *std_err)
{
    double mx = -INFINITY;
    for (size_t i = 0; i < n; i++) mx = logw[i] > mx ? logw[i] : mx;
    double s = 0.0, s2 = 0.0;
    for (size_t i = 0; i < n; i++) {
        double w = exp(logw[i] - mx);
        s += w;
        s2 += w * w;
    }
    double mean = s / (double)n;
    *log_mean = mx + log(mean);
    if (n < 2) {
        *std_err = INFINITY;
        return;
    }
    double var = (s2 - (double)n * mean * mean) / (double)(n - 1);
    if (var < 0) var = 0;
    *std_err = sqrt(var / (double)n) / mean;
}

int pdbn_ais_check(size_t n_chains, size_t n_betas, pdbn_error *err)
{
    PDBN_RETURN_IF(n_chains < 1 || n_chains > INT32_MAX, err, PDBN_ERR_VALUE,
                   "n_chains must be at least 1");
    PDBN_RETURN_IF(n_betas < 2 || n_betas > (1u << 23), err, PDBN_ERR_VALUE,
                   "n_betas must be in [2, 2^23]");
    return PDBN_OK;
}

int pdbn_ais_estimate(const pdbn_ais_model *model, double *betas, size_t n_betas,
                      size_t n_chains, double log_z0, double *logw, double *log_z,
                      double *std_err, const pdbn_control *ctl, pdbn_error *err)
{
    pdbn_ais_schedule(n_betas, betas);
    int st = pdbn_ais_run(model, betas, n_betas, n_chains, logw, ctl, err);
    if (st != PDBN_OK) return st;
    double lme;
    pdbn_log_mean_exp(logw, n_chains, &lme, std_err);
    *log_z = log_z0 + lme;
    return PDBN_OK;
}
