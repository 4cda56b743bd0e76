#include "pdbn_dbm.h"

#include <math.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "pdbn_ais.h"
#include "pdbn_blas.h"
#include "pdbn_optim.h"
#include "pdbn_rng.h"
#include "pdbn_units.h"

#define PDBN_TMPL_FILE "dbm_impl.h"
#include "pdbn_tmpl.h"
