#include "pdbn_rbm.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "pdbn_ais.h"
#include "pdbn_blas.h"
#include "pdbn_optim.h"
#include "pdbn_rng.h"
#include "pdbn_units.h"
#include "pdbn_vmath.h"

/* Rows per chunk for the functions that stream over data. */
enum { PDBN_RBM_CHUNK = 1024 };

static double pdbn_softplus_scalar(double x) { return (x > 0 ? x : 0.0) + log1p(exp(-fabs(x))); }

/* Streaming log-sum-exp: adds exp(t) to exp(mx) * sum. */
static inline void pdbn_lse_push(double t, double *mx, double *sum)
{
    if (t > *mx) {
        *sum = *sum * exp(*mx - t) + 1.0;
        *mx = t;
    } else {
        *sum += exp(t - *mx);
    }
}

#define PDBN_TMPL_FILE "rbm_impl.h"
#include "pdbn_tmpl.h"
