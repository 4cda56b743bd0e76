/* Type-generic optimizer steps; instantiated by optim.c through pdbn_tmpl.h. */

PDBN_HOT void PDBN_FN(pdbn_sgd_step)(size_t n, real *param, const real *direction, real *velocity,
                                      double lr, double momentum, double weight_decay)
{
    const real a = (real)lr, mu = (real)momentum, wd = (real)weight_decay;
    if (velocity == NULL) {
        for (size_t i = 0; i < n; i++) param[i] += a * (direction[i] - wd * param[i]);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        velocity[i] = mu * velocity[i] + a * (direction[i] - wd * param[i]);
        param[i] += velocity[i];
    }
}

PDBN_HOT void PDBN_FN(pdbn_adam_step)(size_t n, real *param, const real *direction, real *m,
                                       real *v, double lr, double beta1, double beta2, double eps,
                                       double weight_decay, uint64_t t)
{
    const double c1 = 1.0 - pow(beta1, (double)t), c2 = 1.0 - pow(beta2, (double)t);
    const real step = (real)(lr * sqrt(c2) / c1); /* folds both bias corrections */
    const real b1 = (real)beta1, b2 = (real)beta2, wd = (real)weight_decay;
    const real e = (real)(eps * sqrt(c2));
    for (size_t i = 0; i < n; i++) {
        real d = direction[i] - wd * param[i];
        m[i] = b1 * m[i] + ((real)1 - b1) * d;
        v[i] = b2 * v[i] + ((real)1 - b2) * d * d;
        param[i] += step * m[i] / (PDBN_SQRT(v[i]) + e);
    }
}

PDBN_HOT void PDBN_FN(pdbn_rmsprop_step)(size_t n, real *param, const real *direction, real *s,
                                          double lr, double rho, double eps, double weight_decay)
{
    const real a = (real)lr, r = (real)rho, e = (real)eps, wd = (real)weight_decay;
    for (size_t i = 0; i < n; i++) {
        real d = direction[i] - wd * param[i];
        s[i] = r * s[i] + ((real)1 - r) * d * d;
        param[i] += a * d / (PDBN_SQRT(s[i]) + e);
    }
}

void PDBN_FN(pdbn_optim_step)(const pdbn_optim_config *cfg, size_t n, real *param,
                              const real *direction, real *state1, real *state2, uint64_t t)
{
    switch (cfg->kind) {
    case PDBN_OPT_ADAM:
        PDBN_FN(pdbn_adam_step)(n, param, direction, state1, state2, cfg->learning_rate,
                                cfg->beta1, cfg->beta2, cfg->eps, cfg->weight_decay, t);
        break;
    case PDBN_OPT_RMSPROP:
        PDBN_FN(pdbn_rmsprop_step)(n, param, direction, state1, cfg->learning_rate, cfg->rho,
                                   cfg->eps, cfg->weight_decay);
        break;
    default:
        PDBN_FN(pdbn_sgd_step)(n, param, direction, cfg->momentum != 0.0 ? state1 : NULL,
                               cfg->learning_rate, cfg->momentum, cfg->weight_decay);
        break;
    }
}
