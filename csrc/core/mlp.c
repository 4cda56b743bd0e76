#include "pdbn_mlp.h"

#include <math.h>
#include <string.h>

#include "pdbn_blas.h"
#include "pdbn_units.h"
#include "pdbn_vmath.h"

#define PDBN_TMPL_FILE "mlp_impl.h"
#include "pdbn_tmpl.h"
