#include "pdbn_adbn.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "pdbn_blas.h"
#include "pdbn_optim.h"
#include "pdbn_rng.h"
#include "pdbn_units.h"
#include "pdbn_vmath.h"

/* f, phi(f), psi(f) and d phi / da, d psi / da at a discriminator output a */
typedef struct adbn_head {
    double f, phi, psi, dphi, dpsi;
} adbn_head;

#define PDBN_TMPL_FILE "adbn_impl.h"
#include "pdbn_tmpl.h"
