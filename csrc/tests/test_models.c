/* test_models.c - the model kernels (RBM, DBM) run without Python, for valgrind and by hand.
 *
 * Built and run by tests/test_core_c.py. Each check compares a kernel's result with a brute
 * force enumeration written here, or checks a contract of the kernels: an interrupted epoch
 * leaves every parameter bit-identical to its value at entry; AIS reports its progress in
 * order and ends at 1. Prints one line per failed check and "N passed, M failed".
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pdbn_dbm.h"
#include "pdbn_matrix.h"
#include "pdbn_rbm.h"
#include "pdbn_status.h"

#include "check.h"

/* A fixed pseudo-random number in [-1, 1) (parameters and data need no statistics here). */
static double det_uniform(unsigned *state)
{
    *state = *state * 1103515245u + 12345u;
    return (double)((*state >> 8) & 0xFFFF) / 32768.0 - 1.0;
}

static double log_add(double a, double b)
{
    double m = a > b ? a : b;
    if (m == -INFINITY) return m;
    return m + log(exp(a - m) + exp(b - m));
}

/* ---------------------------------------------------------------- control hooks */

typedef struct hook {
    int polls;         /* polls seen */
    int stop_at;       /* interrupt at this poll (0: never) */
    int n_reports;     /* progress reports seen */
    double last;       /* the last reported fraction */
    int out_of_order;  /* a report smaller than the one before */
} hook;

static int hook_interrupted(void *arg)
{
    hook *h = arg;
    h->polls++;
    return h->stop_at > 0 && h->polls >= h->stop_at;
}

static void hook_progress(void *arg, double fraction)
{
    hook *h = arg;
    if (fraction < h->last || fraction < 0.0 || fraction > 1.0) h->out_of_order = 1;
    h->last = fraction;
    h->n_reports++;
}

/* ---------------------------------------------------------------- RBM */

enum { RV = 5, RH = 4, RN = 12 };

/* E(v, h) = -b.v - c.h - h'Wv, W: RH x RV row-major. */
static double rbm_energy(const double *w, const double *b, const double *c, unsigned v,
                         unsigned h)
{
    double e = 0.0;
    for (int i = 0; i < RV; i++)
        if (v >> i & 1) e -= b[i];
    for (int j = 0; j < RH; j++) {
        if (!(h >> j & 1)) continue;
        e -= c[j];
        for (int i = 0; i < RV; i++)
            if (v >> i & 1) e -= w[j * RV + i];
    }
    return e;
}

static void test_rbm(void)
{
    double w[RH * RV], b[RV], c[RH], data[RN * RV];
    unsigned s = 7;
    for (int i = 0; i < RH * RV; i++) w[i] = 1.5 * det_uniform(&s);
    for (int i = 0; i < RV; i++) b[i] = 0.5 * det_uniform(&s);
    for (int j = 0; j < RH; j++) c[j] = 0.5 * det_uniform(&s);
    for (int i = 0; i < RN * RV; i++) data[i] = det_uniform(&s) > 0.0 ? 1.0 : 0.0;
    pdbn_rbm_d m = {RV, RH, PDBN_VISIBLE_BERNOULLI, 0, w, b, c};
    pdbn_error err = {0, ""};

    /* brute-force log Z over every (v, h) */
    double log_z = -INFINITY;
    for (unsigned v = 0; v < (1u << RV); v++)
        for (unsigned h = 0; h < (1u << RH); h++) log_z = log_add(log_z, -rbm_energy(w, b, c, v, h));

    double exact = 0.0;
    int st = pdbn_rbm_log_partition_exact_d(&m, 24, &exact, NULL, &err);
    CHECK(st == PDBN_OK && fabs(exact - log_z) < 1e-10, "RBM exact log Z %.12f vs %.12f", exact,
          log_z);

    /* free energies of the data rows against sums over h */
    pdbn_source src = {RN, RV, 0, data, RV, 1, NULL, NULL, 0};
    double free[RN];
    st = pdbn_rbm_free_energy_d(&m, &src, free, NULL, &err);
    double worst = 0.0;
    for (int r = 0; r < RN; r++) {
        unsigned v = 0;
        for (int i = 0; i < RV; i++) v |= (data[r * RV + i] > 0.5) << i;
        double f = -INFINITY;
        for (unsigned h = 0; h < (1u << RH); h++) f = log_add(f, -rbm_energy(w, b, c, v, h));
        worst = fmax(worst, fabs(free[r] + f));
    }
    CHECK(st == PDBN_OK && worst < 1e-10, "RBM free energy off by %g", worst);

    /* AIS: close to the exact value, progress reported in order and ending at 1 */
    double base[RV] = {0}, logw[64], ais = 0.0, se = 0.0;
    hook hk = {0, 0, 0, 0.0, 0};
    pdbn_control ctl = {hook_interrupted, &hk, hook_progress};
    st = pdbn_rbm_log_partition_ais_d(&m, base, 64, 2000, 3, 0, &ais, &se, logw, &ctl, &err);
    CHECK(st == PDBN_OK && fabs(ais - log_z) < 0.1, "RBM AIS %.4f +- %.4f vs exact %.4f", ais, se,
          log_z);
    CHECK(hk.n_reports >= 10 && !hk.out_of_order && hk.last == 1.0 && hk.polls >= 10,
          "AIS progress: %d reports, last %g, out of order %d, %d polls", hk.n_reports, hk.last,
          hk.out_of_order, hk.polls);

    /* a PCD epoch changes the parameters and keeps them finite ... */
    double chains[3 * RH] = {0}, vw[RH * RV] = {0}, vb[RV] = {0}, vc[RH] = {0};
    double w0[RH * RV], b0[RV], c0[RH];
    memcpy(w0, w, sizeof w);
    memcpy(b0, b, sizeof b);
    memcpy(c0, c, sizeof c);
    pdbn_rbm_train cfg = {PDBN_RBM_PCD, 2, 3, 0.1, 0.5, 1e-3, 11, 0, 0, 1.0, 1.0};
    st = pdbn_rbm_epoch_d(&m, &cfg, &src, vw, vb, vc, chains, NULL, &err);
    int finite = 1;
    for (int i = 0; i < RH * RV; i++) finite &= isfinite(w[i]);
    CHECK(st == PDBN_OK && finite && memcmp(w, w0, sizeof w) != 0, "RBM epoch: status %d", st);

    /* ... and an interrupted one restores every array it writes, bit for bit */
    double w1[RH * RV], b1[RV], c1[RH], ch1[3 * RH], vw1[RH * RV];
    memcpy(w1, w, sizeof w);
    memcpy(b1, b, sizeof b);
    memcpy(c1, c, sizeof c);
    memcpy(ch1, chains, sizeof chains);
    memcpy(vw1, vw, sizeof vw);
    hook stop = {0, 3, 0, 0.0, 0};
    pdbn_control ctl_stop = {hook_interrupted, &stop, NULL};
    cfg.batch_size = 1; /* one poll per minibatch: the third poll falls inside the epoch */
    cfg.epoch = 1;
    double chains1[RH] = {0};
    memcpy(chains1, chains, sizeof chains1);
    st = pdbn_rbm_epoch_d(&m, &cfg, &src, vw, vb, vc, chains1, &ctl_stop, &err);
    CHECK(st == PDBN_ERR_INTERRUPTED, "RBM epoch interrupt status %d", st);
    CHECK(memcmp(w, w1, sizeof w) == 0 && memcmp(b, b1, sizeof b) == 0 &&
              memcmp(c, c1, sizeof c) == 0 && memcmp(vw, vw1, sizeof vw) == 0 &&
              memcmp(chains1, ch1, sizeof chains1) == 0,
          "RBM epoch interrupted after %d polls changed its arrays", stop.polls);
}

/* ---------------------------------------------------------------- DBM */

enum { D0 = 4, D1 = 3, D2 = 2, DN = 10 };

static double dbm_energy(const double *w0, const double *w1, const double *b0, const double *b1,
                         const double *b2, unsigned v, unsigned h1, unsigned h2)
{
    double e = 0.0;
    for (int i = 0; i < D0; i++)
        if (v >> i & 1) e -= b0[i];
    for (int j = 0; j < D1; j++) {
        if (!(h1 >> j & 1)) continue;
        e -= b1[j];
        for (int i = 0; i < D0; i++)
            if (v >> i & 1) e -= w0[j * D0 + i];
    }
    for (int k = 0; k < D2; k++) {
        if (!(h2 >> k & 1)) continue;
        e -= b2[k];
        for (int j = 0; j < D1; j++)
            if (h1 >> j & 1) e -= w1[k * D1 + j];
    }
    return e;
}

static void test_dbm(void)
{
    double w0[D1 * D0], w1[D2 * D1], b0[D0], b1[D1], b2[D2], data[DN * D0];
    unsigned s = 99;
    for (int i = 0; i < D1 * D0; i++) w0[i] = 1.2 * det_uniform(&s);
    for (int i = 0; i < D2 * D1; i++) w1[i] = 1.2 * det_uniform(&s);
    for (int i = 0; i < D0; i++) b0[i] = 0.4 * det_uniform(&s);
    for (int i = 0; i < D1; i++) b1[i] = 0.4 * det_uniform(&s);
    for (int i = 0; i < D2; i++) b2[i] = 0.4 * det_uniform(&s);
    for (int i = 0; i < DN * D0; i++) data[i] = det_uniform(&s) > 0.0 ? 1.0 : 0.0;
    size_t sizes[3] = {D0, D1, D2};
    double *weights[2] = {w0, w1}, *biases[3] = {b0, b1, b2};
    pdbn_dbm_d m = {2, sizes, weights, biases};
    pdbn_error err = {0, ""};

    double log_z = -INFINITY;
    for (unsigned v = 0; v < (1u << D0); v++)
        for (unsigned h1 = 0; h1 < (1u << D1); h1++)
            for (unsigned h2 = 0; h2 < (1u << D2); h2++)
                log_z = log_add(log_z, -dbm_energy(w0, w1, b0, b1, b2, v, h1, h2));
    double exact = 0.0;
    int st = pdbn_dbm_log_partition_exact_d(&m, 24, &exact, NULL, &err);
    CHECK(st == PDBN_OK && fabs(exact - log_z) < 1e-10, "DBM exact log Z %.12f vs %.12f", exact,
          log_z);

    /* exact log p(v) per data row */
    pdbn_source src = {DN, D0, 0, data, D0, 1, NULL, NULL, 0};
    double lp[DN], worst = 0.0;
    st = pdbn_dbm_log_prob_exact_d(&m, &src, log_z, 24, lp, NULL, &err);
    for (int r = 0; r < DN; r++) {
        unsigned v = 0;
        for (int i = 0; i < D0; i++) v |= (data[r * D0 + i] > 0.5) << i;
        double f = -INFINITY;
        for (unsigned h1 = 0; h1 < (1u << D1); h1++)
            for (unsigned h2 = 0; h2 < (1u << D2); h2++)
                f = log_add(f, -dbm_energy(w0, w1, b0, b1, b2, v, h1, h2));
        worst = fmax(worst, fabs(lp[r] - (f - log_z)));
    }
    CHECK(st == PDBN_OK && worst < 1e-10, "DBM log p(v) off by %g", worst);

    /* AIS of either parity, with the progress hook */
    double base[D0 + D1 + D2] = {0}, logw[64];
    for (int parity = 0; parity < 2; parity++) {
        double ais = 0.0, se = 0.0;
        hook hk = {0, 0, 0, 0.0, 0};
        pdbn_control ctl = {hook_interrupted, &hk, hook_progress};
        st = pdbn_dbm_log_partition_ais_d(&m, base, parity, 64, 2000, 5, (uint32_t)parity, &ais,
                                          &se, logw, &ctl, &err);
        CHECK(st == PDBN_OK && fabs(ais - log_z) < 0.1, "DBM AIS parity %d: %.4f vs %.4f",
              parity, ais, log_z);
        CHECK(!hk.out_of_order && hk.last == 1.0, "DBM AIS progress parity %d", parity);
    }

    /* an interrupted epoch restores every array, bit for bit */
    double ch0[2 * D0] = {0}, ch1[2 * D1] = {0}, ch2[2 * D2] = {0};
    double *chains[3] = {ch0, ch1, ch2};
    double vw0[D1 * D0] = {0}, vw1[D2 * D1] = {0}, vb0[D0] = {0}, vb1[D1] = {0}, vb2[D2] = {0};
    double *vel_w[2] = {vw0, vw1}, *vel_b[3] = {vb0, vb1, vb2};
    pdbn_dbm_train cfg = {2, 2, 10, 1e-6, 0.05, 0.5, 1e-4, 17, 0};
    st = pdbn_dbm_epoch_d(&m, &cfg, &src, chains, 2, vel_w, vel_b, NULL, NULL, &err);
    CHECK(st == PDBN_OK, "DBM epoch status %d (%s)", st, err.msg);
    double snap[D1 * D0 + D2 * D1 + D0 + D1 + D2];
    double *at = snap;
    memcpy(at, w0, sizeof w0), at += D1 * D0;
    memcpy(at, w1, sizeof w1), at += D2 * D1;
    memcpy(at, b0, sizeof b0), at += D0;
    memcpy(at, b1, sizeof b1), at += D1;
    memcpy(at, b2, sizeof b2);
    double vsnap[D1 * D0], csnap[2 * (D0 + D1 + D2)];
    memcpy(vsnap, vw0, sizeof vw0);
    memcpy(csnap, ch0, sizeof ch0);
    memcpy(csnap + 2 * D0, ch1, sizeof ch1);
    memcpy(csnap + 2 * (D0 + D1), ch2, sizeof ch2);
    hook stop = {0, 2, 0, 0.0, 0};
    pdbn_control ctl_stop = {hook_interrupted, &stop, NULL};
    cfg.batch_size = 1;
    cfg.epoch = 1;
    st = pdbn_dbm_epoch_d(&m, &cfg, &src, chains, 2, vel_w, vel_b, NULL, &ctl_stop, &err);
    CHECK(st == PDBN_ERR_INTERRUPTED, "DBM epoch interrupt status %d", st);
    at = snap;
    int same = memcmp(at, w0, sizeof w0) == 0;
    at += D1 * D0;
    same &= memcmp(at, w1, sizeof w1) == 0;
    at += D2 * D1;
    same &= memcmp(at, b0, sizeof b0) == 0;
    at += D0;
    same &= memcmp(at, b1, sizeof b1) == 0;
    at += D1;
    same &= memcmp(at, b2, sizeof b2) == 0;
    same &= memcmp(vsnap, vw0, sizeof vw0) == 0;
    same &= memcmp(csnap, ch0, sizeof ch0) == 0 && memcmp(csnap + 2 * D0, ch1, sizeof ch1) == 0 &&
            memcmp(csnap + 2 * (D0 + D1), ch2, sizeof ch2) == 0;
    CHECK(same, "DBM epoch interrupted after %d polls changed its arrays", stop.polls);
}

int main(void)
{
    test_rbm();
    test_dbm();
    printf("%d passed, %d failed\n", n_pass, n_fail);
    return n_fail ? 1 : 0;
}
