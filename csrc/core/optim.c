#include "pdbn_optim.h"

#include <math.h>

#include "pdbn_vmath.h"

#define PDBN_TMPL_FILE "optim_impl.h"
#include "pdbn_tmpl.h"
