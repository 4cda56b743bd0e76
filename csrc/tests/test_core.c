/* test_core.c - unit tests of the pydbn C core, without Python.
 *
 * Built and run by tests/test_core_c.py (and by hand: see that file for the command).
 * Each check compares a core result with a slow, obvious computation or a known answer.
 * Prints one line per failed check and a closing "N passed, M failed" line; exit status 1 on
 * any failure.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pdbn_ais.h"
#include "pdbn_blas.h"
#include "pdbn_matrix.h"
#include "pdbn_optim.h"
#include "pdbn_rng.h"
#include "pdbn_status.h"
#include "pdbn_units.h"
#include "pdbn_vmath.h"

#include "check.h"

/* Known-answer vectors of Philox4x32-10 published with Random123 (kat_vectors). */
static void test_philox_known_answers(void)
{
    static const uint32_t ctr[3][4] = {{0, 0, 0, 0},
                                       {0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu},
                                       {0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}};
    static const uint32_t key[3][2] = {{0, 0}, {0xffffffffu, 0xffffffffu}, {0xa4093822u, 0x299f31d0u}};
    static const uint32_t want[3][4] = {{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u},
                                        {0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu},
                                        {0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}};
    for (int t = 0; t < 3; t++) {
        uint32_t out[4];
        pdbn_philox4x32(ctr[t], key[t], out);
        CHECK(memcmp(out, want[t], sizeof out) == 0, "philox KAT %d: %08x %08x %08x %08x", t,
              out[0], out[1], out[2], out[3]);
    }
    /* the vectorised row generator agrees with the scalar block function */
    pdbn_stream s = pdbn_stream_at(12345u, 7u, 3u, 11u, 5u);
    uint32_t words[203];
    pdbn_random_words(&s, 9u, 203, words);
    int same = 1;
    for (uint32_t b = 0; b < 51; b++) {
        uint32_t c[4] = {b, 9u, 5u, 11u}, out[4];
        pdbn_philox4x32(c, s.key, out);
        for (int j = 0; j < 4 && 4 * b + (uint32_t)j < 203; j++) same &= out[j] == words[4 * b + j];
    }
    CHECK(same, "pdbn_random_words disagrees with pdbn_philox4x32");
}

static double uniform_mean_of(const pdbn_stream *s, uint32_t row, size_t n, uint32_t *w)
{
    pdbn_random_words(s, row, n, w);
    double m = 0;
    for (size_t i = 0; i < n; i++) m += pdbn_uniform_d(w[i]);
    return m / (double)n;
}

static void test_rng_moments_and_independence(void)
{
    enum { N = 1 << 20 };
    uint32_t *a = malloc(N * sizeof *a), *b = malloc(N * sizeof *b);
    pdbn_stream s = pdbn_stream_at(1u, PDBN_RNG_TEST, 0, 0, 0);
    pdbn_random_words(&s, 0, N, a);
    double m = 0, v = 0, m3 = 0;
    for (size_t i = 0; i < N; i++) {
        double u = pdbn_uniform_d(a[i]);
        m += u;
    }
    m /= N;
    for (size_t i = 0; i < N; i++) {
        double d = pdbn_uniform_d(a[i]) - m;
        v += d * d;
        m3 += d * d * d;
    }
    v /= N;
    m3 /= N;
    /* standard errors: mean sqrt(1/12/N) = 2.8e-4; variance ~ 1.1e-4; third moment ~ 3e-5 */
    CHECK(fabs(m - 0.5) < 5 * 2.8e-4, "uniform mean %g", m);
    CHECK(fabs(v - 1.0 / 12.0) < 5 * 8.3e-5, "uniform variance %g", v);
    CHECK(fabs(m3) < 5 * 3e-5, "uniform third central moment %g", m3);
    /* float uniforms stay inside (0, 1) at the extremes */
    CHECK(pdbn_uniform_f(0u) > 0.0f && pdbn_uniform_f(0xffffffffu) < 1.0f, "float uniform range");
    CHECK(pdbn_uniform_d(0u) > 0.0 && pdbn_uniform_d(0xffffffffu) < 1.0, "double uniform range");

    /* streams that differ in one address component are uncorrelated */
    const pdbn_stream others[6] = {
        pdbn_stream_at(2u, PDBN_RNG_TEST, 0, 0, 0), pdbn_stream_at(1u, PDBN_RNG_HIDDEN, 0, 0, 0),
        pdbn_stream_at(1u, PDBN_RNG_TEST, 1, 0, 0), pdbn_stream_at(1u, PDBN_RNG_TEST, 0, 1, 0),
        pdbn_stream_at(1u, PDBN_RNG_TEST, 0, 0, 1), pdbn_stream_at(1u, PDBN_RNG_TEST, 0, 0, 0)};
    for (int o = 0; o < 6; o++) {
        pdbn_random_words(&others[o], o == 5 ? 1u : 0u, N, b);
        double c = 0;
        size_t equal = 0;
        for (size_t i = 0; i < N; i++) {
            c += (pdbn_uniform_d(a[i]) - 0.5) * (pdbn_uniform_d(b[i]) - 0.5);
            equal += a[i] == b[i];
        }
        c = c / N * 12.0; /* correlation; sd 1/sqrt(N) ~ 1e-3 */
        CHECK(fabs(c) < 5e-3, "streams %d correlated: %g", o, c);
        CHECK(equal < 4, "streams %d share %zu words", o, equal);
    }
    /* the same address gives the same words */
    pdbn_random_words(&s, 0, N, b);
    CHECK(memcmp(a, b, N * sizeof *a) == 0, "stream not reproducible");
    /* row means over many rows: their spread matches 1/sqrt(12 n) */
    double ss = 0;
    for (uint32_t r = 0; r < 200; r++) {
        double d = uniform_mean_of(&s, r, 4096, b) - 0.5;
        ss += d * d;
    }
    double sd = sqrt(ss / 200), want = sqrt(1.0 / 12.0 / 4096);
    CHECK(sd > 0.8 * want && sd < 1.2 * want, "row means spread %g, expected %g", sd, want);
    free(a);
    free(b);
}

static void test_permutation(void)
{
    enum { N = 10, R = 20000 };
    int64_t perm[N];
    uint32_t words[4096];
    long count[N] = {0}; /* where element 0 lands */
    for (uint32_t r = 0; r < R; r++) {
        pdbn_stream s = pdbn_stream_at(3u, PDBN_RNG_SHUFFLE, 0, r, 0);
        pdbn_permutation(&s, N, perm, words);
        int seen[N] = {0}, ok = 1;
        for (int i = 0; i < N; i++) {
            if (perm[i] < 0 || perm[i] >= N || seen[perm[i]]++) ok = 0;
            if (perm[i] == 0) count[i]++;
        }
        if (!ok) {
            CHECK(0, "not a permutation");
            return;
        }
    }
    double chi2 = 0;
    for (int i = 0; i < N; i++) chi2 += pow(count[i] - R / (double)N, 2) / (R / (double)N);
    CHECK(chi2 < 27.9, "position of element 0 not uniform: chi2 %g (9 dof, p=0.001 at 27.9)", chi2);
    /* a large permutation is a permutation too */
    enum { M = 100003 };
    int64_t *big = malloc(M * sizeof *big);
    char *seen = calloc(M, 1);
    pdbn_stream s = pdbn_stream_at(4u, PDBN_RNG_SHUFFLE, 0, 0, 0);
    pdbn_permutation(&s, M, big, words);
    int ok = 1;
    for (int i = 0; i < M; i++) {
        if (big[i] < 0 || big[i] >= M || seen[big[i]]++) ok = 0;
    }
    CHECK(ok, "large permutation invalid");
    free(big);
    free(seen);
}

static void test_vmath(void)
{
    double worst_f = 0, worst_d = 0, worst_sp = 0;
    for (int i = -20000; i <= 20000; i++) {
        double x = i * 0.0043; /* [-86, 86] */
        double ef = pdbn_vexp_f((float)x), rf = exp((double)(float)x);
        double ed = pdbn_vexp_d(x), rd = exp(x);
        worst_f = fmax(worst_f, fabs(ef - rf) / rf);
        worst_d = fmax(worst_d, fabs(ed - rd) / rd);
    }
    CHECK(worst_f < 3e-7, "float exp relative error %g", worst_f);
    CHECK(worst_d < 5e-15, "double exp relative error %g", worst_d);
    for (int i = -4000; i <= 4000; i++) {
        double x = i * 0.01;
        double sp;
        pdbn_softplus_d(1, &x, &sp);
        double ref = x > 0 ? x + log1p(exp(-x)) : log1p(exp(x));
        worst_sp = fmax(worst_sp, fabs(sp - ref) / fmax(ref, 1e-300));
    }
    CHECK(worst_sp < 1e-14, "double softplus relative error %g", worst_sp);
    float xf[3] = {-100.0f, 0.0f, 100.0f};
    pdbn_sigmoid_rows_f(1, 3, xf, 3, NULL, 1.0f);
    CHECK(xf[0] >= 0.0f && xf[0] < 1e-30f && xf[1] == 0.5f && xf[2] == 1.0f,
          "sigmoid saturation %g %g %g", xf[0], xf[1], xf[2]);
    double diff = pdbn_softplus_diff_sum_d(1, (double[]){3.0}, NULL, 0.7, 0.2);
    double want = log1p(exp(2.1)) - log1p(exp(0.6));
    CHECK(fabs(diff - want) < 1e-14, "softplus difference %g vs %g", diff, want);
}

static void test_sampling_frequencies(void)
{
    enum { N = 200000 };
    uint32_t *w = malloc(2 * N * sizeof *w);
    float *p = malloc(N * sizeof *p), *out = malloc(N * sizeof *out);
    double *pd = malloc(N * sizeof *pd), *od = malloc(N * sizeof *od);
    pdbn_stream s = pdbn_stream_at(5u, PDBN_RNG_TEST, 0, 0, 0);
    const double probs[4] = {0.0, 0.03, 0.5, 0.9};
    for (int t = 0; t < 4; t++) {
        for (int i = 0; i < N; i++) p[i] = (float)probs[t], pd[i] = probs[t];
        pdbn_random_words(&s, (uint32_t)t, N, w);
        pdbn_bernoulli_f(N, p, w, out);
        pdbn_bernoulli_d(N, pd, w, od);
        double mf = 0, md = 0;
        for (int i = 0; i < N; i++) mf += out[i], md += od[i];
        mf /= N;
        md /= N;
        double se = sqrt(probs[t] * (1 - probs[t]) / N) + 1e-12;
        CHECK(fabs(mf - probs[t]) <= 5 * se, "bernoulli_f p=%g freq %g", probs[t], mf);
        CHECK(fabs(md - probs[t]) <= 5 * se, "bernoulli_d p=%g freq %g", probs[t], md);
    }
    /* Gaussian: mean, variance, P(z < 1) */
    for (int i = 0; i < N; i++) pd[i] = 2.0;
    pdbn_random_words(&s, 10, 2 * N, w);
    pdbn_gaussian_d(N, pd, w, od);
    double m = 0, v = 0, below = 0;
    for (int i = 0; i < N; i++) m += od[i];
    m /= N;
    for (int i = 0; i < N; i++) v += (od[i] - m) * (od[i] - m), below += od[i] < 3.0;
    v /= N;
    below /= N;
    CHECK(fabs(m - 2.0) < 5 / sqrt((double)N), "gaussian mean %g", m);
    CHECK(fabs(v - 1.0) < 5 * sqrt(2.0 / N), "gaussian variance %g", v);
    CHECK(fabs(below - 0.8413447460685429) < 5 * sqrt(0.84 * 0.16 / N), "gaussian cdf(1) %g", below);
    /* softmax: probabilities and one-hot frequencies */
    enum { R = 50000, C = 3 };
    double *logits = malloc(R * C * sizeof *logits), *onehot = malloc(R * C * sizeof *onehot);
    const double l[C] = {0.0, 1.0, -0.5};
    for (int r = 0; r < R; r++) memcpy(logits + r * C, l, sizeof l);
    pdbn_random_words(&s, 11, R, w);
    pdbn_softmax_sample_d(R, C, logits, C, w, onehot, C);
    double z = exp(0.0) + exp(1.0) + exp(-0.5);
    for (int j = 0; j < C; j++) {
        double want = exp(l[j]) / z, freq = 0;
        for (int r = 0; r < R; r++) freq += onehot[r * C + j];
        freq /= R;
        CHECK(fabs(logits[j] - want) < 1e-12, "softmax probability %d", j);
        CHECK(fabs(freq - want) < 5 * sqrt(want * (1 - want) / R), "softmax freq %d: %g vs %g", j,
              freq, want);
    }
    free(logits);
    free(onehot);
    free(w);
    free(p);
    free(out);
    free(pd);
    free(od);
}

static void naive_gemm(int ta, int tb, size_t m, size_t n, size_t k, double alpha,
                       const double *a, size_t lda, const double *b, size_t ldb, double beta,
                       double *c, size_t ldc)
{
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < n; j++) {
            double s = 0;
            for (size_t p = 0; p < k; p++) {
                double x = ta ? a[p * lda + i] : a[i * lda + p];
                double y = tb ? b[j * ldb + p] : b[p * ldb + j];
                s += x * y;
            }
            c[i * ldc + j] = alpha * s + beta * c[i * ldc + j];
        }
}

static void test_gemm(void)
{
    const size_t m = 37, n = 53, k = 29;
    double *a = malloc(64 * 64 * sizeof *a), *b = malloc(64 * 64 * sizeof *b);
    double *c = malloc(64 * 64 * sizeof *c), *r = malloc(64 * 64 * sizeof *r);
    float *af = malloc(64 * 64 * sizeof *af), *bf = malloc(64 * 64 * sizeof *bf);
    float *cf = malloc(64 * 64 * sizeof *cf);
    uint32_t w[64 * 64];
    pdbn_stream s = pdbn_stream_at(6u, PDBN_RNG_TEST, 0, 0, 0);
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            pdbn_random_words(&s, (uint32_t)(ta * 2 + tb), 64 * 64, w);
            for (int i = 0; i < 64 * 64; i++) {
                a[i] = pdbn_uniform_d(w[i]) - 0.5;
                b[i] = pdbn_uniform_d(w[(i * 7) % (64 * 64)]) - 0.3;
                c[i] = r[i] = pdbn_uniform_d(w[(i * 13) % (64 * 64)]);
                af[i] = (float)a[i];
                bf[i] = (float)b[i];
                cf[i] = (float)c[i];
            }
            size_t lda = 64, ldb = 64, ldc = 60;
            pdbn_gemm_d(ta, tb, m, n, k, 0.7, a, lda, b, ldb, 0.3, c, ldc);
            pdbn_gemm_f(ta, tb, m, n, k, 0.7f, af, lda, bf, ldb, 0.3f, cf, ldc);
            naive_gemm(ta, tb, m, n, k, 0.7, a, lda, b, ldb, 0.3, r, ldc);
            double ed = 0, ef = 0;
            for (size_t i = 0; i < m; i++)
                for (size_t j = 0; j < n; j++) {
                    ed = fmax(ed, fabs(c[i * ldc + j] - r[i * ldc + j]));
                    ef = fmax(ef, fabs(cf[i * ldc + j] - r[i * ldc + j]));
                }
            CHECK(ed < 1e-12, "dgemm ta=%d tb=%d error %g", ta, tb, ed);
            CHECK(ef < 1e-5, "sgemm ta=%d tb=%d error %g", ta, tb, ef);
        }
    /* gemv: y = A' x */
    double x[29], y[37], yr[37];
    for (int i = 0; i < 29; i++) x[i] = 0.1 * i;
    for (int i = 0; i < 37; i++) y[i] = yr[i] = 1.0;
    pdbn_gemv_d(1, 29, 37, 2.0, a, 64, x, 0.5, y);
    for (int j = 0; j < 37; j++) {
        double sum = 0;
        for (int i = 0; i < 29; i++) sum += a[i * 64 + j] * x[i];
        yr[j] = 2.0 * sum + 0.5 * yr[j];
    }
    double e = 0;
    for (int j = 0; j < 37; j++) e = fmax(e, fabs(y[j] - yr[j]));
    CHECK(e < 1e-12, "dgemv error %g", e);
    free(a);
    free(b);
    free(c);
    free(r);
    free(af);
    free(bf);
    free(cf);
}

static void test_optimizers(void)
{
    double p[3] = {1.0, -2.0, 0.5}, d[3] = {0.3, -0.1, 2.0}, vel[3] = {0.1, 0.0, -0.2};
    double want[3], wv[3];
    for (int i = 0; i < 3; i++) {
        wv[i] = 0.9 * vel[i] + 0.05 * (d[i] - 0.01 * p[i]);
        want[i] = p[i] + wv[i];
    }
    pdbn_sgd_step_d(3, p, d, vel, 0.05, 0.9, 0.01);
    for (int i = 0; i < 3; i++)
        CHECK(fabs(p[i] - want[i]) < 1e-15 && fabs(vel[i] - wv[i]) < 1e-15, "sgd step %d", i);
    /* Adam, two steps, against the textbook form with explicit bias correction */
    double q[2] = {0.2, -0.4}, m[2] = {0}, v[2] = {0}, qr[2] = {0.2, -0.4}, mr[2] = {0}, vr[2] = {0};
    const double g1[2] = {0.5, -1.0}, g2[2] = {-0.2, 0.3};
    for (int t = 1; t <= 2; t++) {
        const double *g = t == 1 ? g1 : g2;
        pdbn_adam_step_d(2, q, g, m, v, 0.01, 0.9, 0.999, 1e-8, 0.0, (uint64_t)t);
        for (int i = 0; i < 2; i++) {
            mr[i] = 0.9 * mr[i] + 0.1 * g[i];
            vr[i] = 0.999 * vr[i] + 0.001 * g[i] * g[i];
            double mh = mr[i] / (1 - pow(0.9, t)), vh = vr[i] / (1 - pow(0.999, t));
            qr[i] += 0.01 * mh / (sqrt(vh) + 1e-8);
        }
    }
    for (int i = 0; i < 2; i++) CHECK(fabs(q[i] - qr[i]) < 1e-12, "adam %d: %g vs %g", i, q[i], qr[i]);
    /* RMSprop one step */
    float pf[1] = {1.0f}, df[1] = {0.5f}, sf[1] = {0.0f};
    pdbn_rmsprop_step_f(1, pf, df, sf, 0.1, 0.9, 1e-8, 0.0);
    double sr = 0.1 * 0.25, pr = 1.0 + 0.1 * 0.5 / (sqrt(sr) + 1e-8);
    CHECK(fabs(pf[0] - pr) < 1e-6, "rmsprop %g vs %g", pf[0], pr);
}

static void test_ais_helpers(void)
{
    double betas[14500];
    pdbn_ais_schedule(14500, betas);
    int mono = 1;
    for (int i = 1; i < 14500; i++) mono &= betas[i] > betas[i - 1];
    CHECK(mono && betas[0] == 0.0 && betas[14499] == 1.0, "schedule not increasing 0..1");
    CHECK(fabs(betas[500] - 0.5) < 1e-3 && fabs(betas[4500] - 0.9) < 1e-3, "schedule breakpoints %g %g",
          betas[500], betas[4500]);
    double lw[4] = {1.0, 2.0, 3.0, 1000.0}, lm, se;
    pdbn_log_mean_exp(lw, 3, &lm, &se);
    double direct = log((exp(1.0) + exp(2.0) + exp(3.0)) / 3);
    CHECK(fabs(lm - direct) < 1e-12, "log mean exp %g vs %g", lm, direct);
    double w[3] = {exp(1.0), exp(2.0), exp(3.0)}, mean = (w[0] + w[1] + w[2]) / 3, var = 0;
    for (int i = 0; i < 3; i++) var += (w[i] - mean) * (w[i] - mean);
    var /= 2;
    CHECK(fabs(se - sqrt(var / 3) / mean) < 1e-12, "log mean exp std err %g", se);
    pdbn_log_mean_exp(lw, 4, &lm, &se); /* no overflow with a huge weight */
    CHECK(isfinite(lm) && fabs(lm - (1000.0 - log(4.0))) < 1e-9, "log mean exp overflow %g", lm);
}

static void test_workspace_and_errors(void)
{
    pdbn_ws ws;
    pdbn_error err = {0, ""};
    int st = pdbn_ws_alloc(&ws, pdbn_ws_piece((size_t)1 << 62, 8), &err);
    CHECK(st == PDBN_ERR_NOMEM && ws.base == NULL && strlen(err.msg) > 0, "huge workspace: %d", st);
    pdbn_ws_free(&ws);
    pdbn_ws_free(&ws); /* twice is harmless */
    st = pdbn_ws_alloc(&ws, 1000, &err);
    CHECK(st == PDBN_OK, "small workspace");
    void *p1 = pdbn_ws_take(&ws, 10, 8), *p2 = pdbn_ws_take(&ws, 10, 8);
    CHECK(((uintptr_t)p1 % 64) == 0 && ((uintptr_t)p2 % 64) == 0 && p2 != p1, "alignment");
    CHECK(pdbn_ws_take(&ws, 1000, 8) == NULL, "overdrawn workspace must give NULL");
    pdbn_ws_free(&ws);
    CHECK(strcmp(pdbn_strerror(PDBN_ERR_NOMEM), "out of memory") == 0, "strerror");
    /* CSR validation */
    const int32_t ptr[3] = {0, 2, 1}, ind[2] = {0, 5};
    const double val[2] = {1, 1};
    pdbn_source src = {2, 3, 1, val, 0, 0, ind, ptr, 0};
    CHECK(pdbn_source_check(&src, &err) == PDBN_ERR_VALUE, "decreasing indptr accepted");
    const int32_t ptr2[3] = {0, 1, 2};
    src.indptr = ptr2;
    CHECK(pdbn_source_check(&src, &err) == PDBN_ERR_VALUE, "column index out of range accepted");
    /* gather from CSR and from a strided dense array */
    const int32_t ind3[2] = {2, 0};
    src.indices = ind3;
    CHECK(pdbn_source_check(&src, &err) == PDBN_OK, "valid CSR rejected: %s", err.msg);
    double out[6];
    const int64_t rows[2] = {1, 0};
    pdbn_source_gather_d(&src, rows, 0, 2, out, 3);
    const double want[6] = {1, 0, 0, 0, 0, 1};
    CHECK(memcmp(out, want, sizeof want) == 0, "CSR gather");
    const double fortran[6] = {1, 2, 3, 4, 5, 6}; /* 2 x 3 in column-major order */
    pdbn_source dense = {2, 3, 0, fortran, 1, 2, NULL, NULL, 0};
    pdbn_source_gather_d(&dense, NULL, 0, 2, out, 3);
    const double want2[6] = {1, 3, 5, 2, 4, 6};
    CHECK(memcmp(out, want2, sizeof want2) == 0, "strided gather");
}

int main(void)
{
    test_philox_known_answers();
    test_rng_moments_and_independence();
    test_permutation();
    test_vmath();
    test_sampling_frequencies();
    test_gemm();
    test_optimizers();
    test_ais_helpers();
    test_workspace_and_errors();
    printf("%d passed, %d failed\n", n_pass, n_fail);
    return n_fail ? 1 : 0;
}
