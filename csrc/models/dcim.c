#include "pdbn_dcim.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "pdbn_blas.h"
#include "pdbn_optim.h"
#include "pdbn_rng.h"
#include "pdbn_units.h"
#include "pdbn_vmath.h"

#define PDBN_TMPL_FILE "dcim_impl.h"
#include "pdbn_tmpl.h"
