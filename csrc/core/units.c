#include "pdbn_units.h"

#include <math.h>

#include "pdbn_rng.h"
#include "pdbn_vmath.h"

#define PDBN_TMPL_FILE "units_impl.h"
#include "pdbn_tmpl.h"
