/* Type-generic body of pdbn_bench_gemm_epoch; instantiated by bench.c. */

static int PDBN_FN(bench_gemm_epoch)(size_t n_rows, size_t nv, size_t nh, size_t bs,
                                     double *seconds, pdbn_error *err)
{
    size_t need = 0;
    pdbn_ws_add(&need, pdbn_ws_piece(nh * nv, sizeof(real)));      /* W */
    pdbn_ws_add(&need, pdbn_ws_piece(nh * nv, sizeof(real)));      /* gradient */
    pdbn_ws_add(&need, pdbn_ws_piece(2 * bs * nv, sizeof(real)));  /* v_pos, v_neg */
    pdbn_ws_add(&need, pdbn_ws_piece(3 * bs * nh, sizeof(real)));  /* h_pos, h_chain, h_neg */
    pdbn_ws ws;
    PDBN_FORWARD(pdbn_ws_alloc(&ws, need, err));
    real *w = pdbn_ws_take(&ws, nh * nv, sizeof(real));
    real *g = pdbn_ws_take(&ws, nh * nv, sizeof(real));
    real *v = pdbn_ws_take(&ws, 2 * bs * nv, sizeof(real));
    real *h = pdbn_ws_take(&ws, 3 * bs * nh, sizeof(real));
    for (size_t i = 0; i < nh * nv; i++) w[i] = (real)(0.01 * ((double)((i * 7919u) % 201u) - 100.0) / 100.0);
    for (size_t i = 0; i < 2 * bs * nv; i++) v[i] = (real)((i * 31u) % 2u);
    for (size_t i = 0; i < 3 * bs * nh; i++) h[i] = (real)0.5;
    real *vpos = v, *vneg = v + bs * nv, *hpos = h, *hch = h + bs * nh, *hneg = h + 2 * bs * nh;
    const size_t n_batches = (n_rows + bs - 1) / bs;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (size_t b = 0; b < n_batches; b++) {
        PDBN_FN(pdbn_gemm)(0, 1, bs, nh, nv, 1, vpos, nv, w, nv, 0, hpos, nh);
        PDBN_FN(pdbn_gemm)(0, 0, bs, nv, nh, 1, hch, nh, w, nv, 0, vneg, nv);
        PDBN_FN(pdbn_gemm)(0, 1, bs, nh, nv, 1, vneg, nv, w, nv, 0, hneg, nh);
        PDBN_FN(pdbn_gemm)(1, 0, nh, nv, bs, 1, hpos, nh, vpos, nv, 0, g, nv);
        PDBN_FN(pdbn_gemm)(1, 0, nh, nv, bs, -1, hneg, nh, vneg, nv, 1, g, nv);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    *seconds = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    pdbn_ws_free(&ws);
    return PDBN_OK;
}
