#include "pdbn_dbn.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "pdbn_blas.h"
#include "pdbn_rng.h"
#include "pdbn_units.h"

#define PDBN_TMPL_FILE "dbn_impl.h"
#include "pdbn_tmpl.h"
