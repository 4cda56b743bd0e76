#include "pdbn_vpf.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "pdbn_blas.h"
#include "pdbn_optim.h"
#include "pdbn_rng.h"
#include "pdbn_units.h"
#include "pdbn_vmath.h"

enum { PDBN_BM_BLOCK = 256 }; /* rows per block outside training */

#define PDBN_TMPL_FILE "vpf_impl.h"
#include "pdbn_tmpl.h"
