// Products with few columns (n ≤ 64 per panel): C = A·B with A read in place.
//
// A batch-1 convolution on a small image multiplies a large weight matrix (up to 512×4608)
// by a column matrix of only 16 or 64 columns. BLAS copies ("packs") all of A into its
// own layout on every call, and at these shapes the copy costs about as much as the
// arithmetic. Here each block of R rows of C (R·⌈n/16⌉ zmm accumulators) runs through the
// whole reduction at once: per step p it loads row p of B (⌈n/16⌉ vectors) and
// broadcasts R elements of A straight from memory, so A is read exactly once, in place,
// and B (k×n, at most a few hundred KB) stays in L2.
//
// A is row-major m×k, or k×m when transposed (op(A) = Aᵀ), which is how a convolution's
// input gradient reads its weight (Wᵀ·dY) without a transposed copy. In the transposed
// layout the R elements of one step are adjacent and successive steps lda apart, a stride
// the hardware prefetchers do not follow, so the kernel prefetches A a few steps ahead
// itself (see SKINNY_TCOLS).
//
// Blocks of one vector per row split the reduction into even and odd steps (two sets of
// accumulators, added at the end), and the transposed layout adds its passes' partial sums
// to C, so results differ from BLAS only by the order of the additions.

#include "include/outpost_simd.h"
#include "cpu_features.h"

#if defined(__x86_64__) || defined(_M_X64)
#define SKINNY_X86 1
#include <immintrin.h>
#define SK_AVX512 __attribute__((target("avx512f,avx512dq")))
#define SK_INLINE static inline __attribute__((always_inline))
#endif

#ifdef SKINNY_X86

/// The transposed layout runs over stripes of SKINNY_TCOLS columns of A (rows of C) in
/// passes of SKINNY_PREFETCH steps: each step reads 512 contiguous bytes of a row of A
/// instead of one cache line per row and page, and prefetches the same tile's line of the
/// next pass. C's stripe (at most 128×64 floats) stays in L1 between passes.
#define SKINNY_PREFETCH 32
#define SKINNY_TCOLS 128

/// Rows 0..<R and vectors 0..<NV of C (the last vector masked by `last`) from steps 0..<k:
/// A's element (i, p) at a[i·lda + p], or at a[p·lda + i] when T (transposed).
/// The lanes of a last vector holding `tail` (1...16) columns.
SK_INLINE __mmask16 tail_mask(int tail) { return (__mmask16)((1u << tail) - 1); }

/// Stores rows 0..<R and vectors 0..<NV of accumulated sums into C (adding to it when
/// `accumulate`), the last vector of each row under `last`: the end of every kernel block.
SK_INLINE SK_AVX512 void store_block(const int R, const int NV, __m512 s[][4], float *c, long ldc, __mmask16 last,
                                     int accumulate) {
    for (int r = 0; r < R; r++) {
        float *cr = c + r * ldc;
        for (int v = 0; v < NV; v++) {
            __mmask16 m = v == NV - 1 ? last : (__mmask16)0xFFFF;
            __m512 x = s[r][v];
            if (accumulate) x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(m, cr + 16 * v));
            _mm512_mask_storeu_ps(cr + 16 * v, m, x);
        }
    }
}

SK_INLINE SK_AVX512 void skinny_block(const int T, const int R, const int NV, long k, const float *a, long lda,
                                      const float *b, long ldb, float *c, long ldc, __mmask16 last, int accumulate) {
    __m512 s[16][4];
    for (int r = 0; r < R; r++)
        for (int v = 0; v < 4; v++) s[r][v] = _mm512_setzero_ps();
    const float *bp = b;
    if (!T) {
        // One pointer per row of A, all indexed by p (the compiler would otherwise derive
        // each row's address from the previous one's, a serial chain of additions per step).
        const float *ar[16];
        for (int r = 0; r < R; r++) {
            ar[r] = a + r * lda;
            __asm__("" : "+r"(ar[r]));
        }
        long p = 0;
        if (NV == 1) {
            // One vector per row: R accumulators are too few to cover the latency of the
            // fused multiply-adds, so even and odd steps go to two sets, added at the end.
            for (; p + 2 <= k; p += 2, bp += 2 * ldb) {
                __m512 b0 = _mm512_maskz_loadu_ps(last, bp), b1 = _mm512_maskz_loadu_ps(last, bp + ldb);
                for (int r = 0; r < R; r++) {
                    s[r][0] = _mm512_fmadd_ps(_mm512_set1_ps(ar[r][p]), b0, s[r][0]);
                    s[r][1] = _mm512_fmadd_ps(_mm512_set1_ps(ar[r][p + 1]), b1, s[r][1]);
                }
            }
            for (int r = 0; r < R; r++) {
                s[r][0] = _mm512_add_ps(s[r][0], s[r][1]);
                s[r][1] = _mm512_setzero_ps();
            }
        }
        for (; p < k; p++, bp += ldb) {
            __m512 bv[4];
            for (int v = 0; v < NV; v++)
                bv[v] = v == NV - 1 ? _mm512_maskz_loadu_ps(last, bp + 16 * v) : _mm512_loadu_ps(bp + 16 * v);
            for (int r = 0; r < R; r++) {
                __m512 av = _mm512_set1_ps(ar[r][p]);
                for (int v = 0; v < NV; v++) s[r][v] = _mm512_fmadd_ps(av, bv[v], s[r][v]);
            }
        }
    } else {
        const float *ap = a;
        for (long p = 0; p < k; p++, ap += lda, bp += ldb) {
            _mm_prefetch((const char *)(ap + SKINNY_PREFETCH * lda), _MM_HINT_T0);
            if (R > 1) _mm_prefetch((const char *)(ap + SKINNY_PREFETCH * lda + R - 1), _MM_HINT_T0);
            __m512 bv[4];
            for (int v = 0; v < NV; v++)
                bv[v] = v == NV - 1 ? _mm512_maskz_loadu_ps(last, bp + 16 * v) : _mm512_loadu_ps(bp + 16 * v);
            for (int r = 0; r < R; r++) {
                __m512 av = _mm512_set1_ps(ap[r]);
                for (int v = 0; v < NV; v++) s[r][v] = _mm512_fmadd_ps(av, bv[v], s[r][v]);
            }
        }
    }
    store_block(R, NV, s, c, ldc, last, accumulate);
}

/// All m rows of one panel of NV vectors: blocks of RMAX rows, the rest in blocks of
/// halving size.
#define SKINNY_PANEL(T, NV, RMAX)                                                                                  \
    SK_AVX512 static void skinny_panel_##T##_##NV(long m, long k, const float *a, long lda, const float *b, long ldb, \
                                                  float *c, long ldc, __mmask16 last, int acc) {                   \
        long rs = T ? 1 : lda, i = 0;                                                                              \
        for (; i + RMAX <= m; i += RMAX)                                                                           \
            skinny_block(T, RMAX, NV, k, a + i * rs, lda, b, ldb, c + i * ldc, ldc, last, acc);                    \
        if (RMAX > 8 && i + 8 <= m) {                                                                              \
            skinny_block(T, 8, NV, k, a + i * rs, lda, b, ldb, c + i * ldc, ldc, last, acc);                       \
            i += 8;                                                                                                \
        }                                                                                                          \
        if (RMAX > 4 && i + 4 <= m) {                                                                              \
            skinny_block(T, 4, NV, k, a + i * rs, lda, b, ldb, c + i * ldc, ldc, last, acc);                       \
            i += 4;                                                                                                \
        }                                                                                                          \
        if (RMAX > 2 && i + 2 <= m) {                                                                              \
            skinny_block(T, 2, NV, k, a + i * rs, lda, b, ldb, c + i * ldc, ldc, last, acc);                       \
            i += 2;                                                                                                \
        }                                                                                                          \
        if (i < m) skinny_block(T, 1, NV, k, a + i * rs, lda, b, ldb, c + i * ldc, ldc, last, acc);                \
    }

// Row-major A: R row pointers live in general registers, so at most 8 rows per block.
SKINNY_PANEL(0, 1, 8)
SKINNY_PANEL(0, 2, 8)
SKINNY_PANEL(0, 3, 8)
SKINNY_PANEL(0, 4, 4)
// Transposed A: one pointer, R adjacent elements per step.
SKINNY_PANEL(1, 1, 16)
SKINNY_PANEL(1, 2, 8)
SKINNY_PANEL(1, 3, 8)
SKINNY_PANEL(1, 4, 4)

typedef void (*skinny_panel_fn)(long, long, const float *, long, const float *, long, float *, long, __mmask16, int);

SK_AVX512 static void skinny_sgemm_avx512(int transposed, long m, long n, long k, const float *a, long lda, const float *b,
                                          long ldb, float *c, long ldc, int accumulate) {
    static const skinny_panel_fn panels[2][4] = {
        {skinny_panel_0_1, skinny_panel_0_2, skinny_panel_0_3, skinny_panel_0_4},
        {skinny_panel_1_1, skinny_panel_1_2, skinny_panel_1_3, skinny_panel_1_4},
    };
    for (long c0 = 0; c0 < n; c0 += 64) {
        long w = n - c0 < 64 ? n - c0 : 64;
        int nv = (int)((w + 15) / 16);
        int tail = (int)(w - 16 * (nv - 1));
        __mmask16 last = tail_mask(tail);
        skinny_panel_fn panel = panels[transposed ? 1 : 0][nv - 1];
        if (transposed) {
            for (long i0 = 0; i0 < m; i0 += SKINNY_TCOLS) {
                long mm = m - i0 < SKINNY_TCOLS ? m - i0 : SKINNY_TCOLS;
                for (long p0 = 0; p0 < k || p0 == 0; p0 += SKINNY_PREFETCH) {
                    long kk = k - p0 < SKINNY_PREFETCH ? k - p0 : SKINNY_PREFETCH;
                    panel(mm, kk, a + p0 * lda + i0, lda, b + p0 * ldb + c0, ldb, c + i0 * ldc + c0, ldc, last,
                          accumulate || p0 > 0);
                }
            }
            continue;
        }
        panel(m, k, a, lda, b + c0, ldb, c + c0, ldc, last, accumulate);
    }
}

#endif

int outpost_skinny_sgemm_available(void) {
#ifdef SKINNY_X86
    return outpost_cpu_has_avx512();
#else
    return 0;
#endif
}

int outpost_skinny_sgemm(int transa, long m, long n, long k, const float *a, long lda, const float *b, long ldb, float *c,
                         long ldc, int accumulate) {
#ifdef SKINNY_X86
    if (!outpost_cpu_has_avx512()) return 0;
    if (m <= 0 || n <= 0) return 1;
    skinny_sgemm_avx512(transa != 0, m, n, k, a, lda, b, ldb, c, ldc, accumulate);
    return 1;
#else
    (void)transa; (void)m; (void)n; (void)k; (void)a; (void)lda; (void)b; (void)ldb; (void)c; (void)ldc; (void)accumulate;
    return 0;
#endif
}

// Products with a short reduction and long rows, against a transposed right matrix:
// C = A·Bᵀ, A m×k and B n×k row-major, k at most WIDE_KMAX.
//
// The weight gradient of a batch-1 convolution on a small image, dW = dY·colᵀ, reduces
// over only 16 or 64 output positions but writes a large C (512×4608 floats, 9.4 MB, for
// ResNet-18's 512-channel 3×3 layer). BLAS clears C first (or is given beta 1 after a
// memset, BLAS.gemm), packs both operands, and its kernel reads C back to add to it; with
// 16 steps per element the traffic on C costs more than the arithmetic. Here C is
// written once: B is transposed, a stripe of columns at a time, into a k×w tile that stays
// in L1, and each block of R rows × NV vectors of C runs through all k steps in registers
// (broadcasting A's elements from memory, loading the tile's rows) and is stored once,
// without reading C unless accumulating.

#ifdef SKINNY_X86

#define WIDE_KMAX 96
/// Floats of the transposed tile of B: 24 KB, half of L1, so A's rows (R·k floats per
/// block) and C's stores keep the rest.
#define WIDE_TILE 6144

/// Rows 0..<R and vectors 0..<NV of C from the tile (k rows of ldt floats, zero beyond the
/// stripe): c[r, 16v + l] = Σ_p a[r·lda + p] · t[p·ldt + 16v + l], the last vector stored
/// under `last`.
SK_INLINE SK_AVX512 void wide_block(const int R, const int NV, long k, const float *a, long lda, const float *t, long ldt,
                                    float *c, long ldc, __mmask16 last, int accumulate) {
    __m512 s[8][4];
    for (int r = 0; r < R; r++)
        for (int v = 0; v < NV; v++) s[r][v] = _mm512_setzero_ps();
    const float *ar[8];
    for (int r = 0; r < R; r++) {
        ar[r] = a + r * lda;
        __asm__("" : "+r"(ar[r]));
    }
    const float *tp = t;
    for (long p = 0; p < k; p++, tp += ldt) {
        __m512 tv[4];
        for (int v = 0; v < NV; v++) tv[v] = _mm512_load_ps(tp + 16 * v);
        for (int r = 0; r < R; r++) {
            __m512 av = _mm512_set1_ps(ar[r][p]);
            for (int v = 0; v < NV; v++) s[r][v] = _mm512_fmadd_ps(av, tv[v], s[r][v]);
        }
    }
    store_block(R, NV, s, c, ldc, last, accumulate);
}

/// Rows of R (R·NV accumulators) over one row block: whole groups of 4 vectors, then the
/// stripe's last group of nv vectors.
#define WIDE_ROWS(R)                                                                                                \
    SK_AVX512 static void wide_rows_##R(long k, const float *a, long lda, const float *t, long ldt, long w, float *c, \
                                        long ldc, __mmask16 last, int acc) {                                        \
        long j = 0;                                                                                                 \
        for (; j + 64 <= w; j += 64)                                                                \
            wide_block(R, 4, k, a, lda, t + j, ldt, c + j, ldc, (__mmask16)0xFFFF, acc);                            \
        if (j >= w) return;                                                                                         \
        switch ((int)((w - j + 15) / 16)) {                                                                         \
        case 1: wide_block(R, 1, k, a, lda, t + j, ldt, c + j, ldc, last, acc); break;                              \
        case 2: wide_block(R, 2, k, a, lda, t + j, ldt, c + j, ldc, last, acc); break;                              \
        case 3: wide_block(R, 3, k, a, lda, t + j, ldt, c + j, ldc, last, acc); break;                              \
        default: wide_block(R, 4, k, a, lda, t + j, ldt, c + j, ldc, last, acc); break;                             \
        }                                                                                                           \
    }

WIDE_ROWS(4)
WIDE_ROWS(2)
WIDE_ROWS(1)

/// Rows 0..<16 of B (k floats each, ldb apart) into columns 0..<16 of the tile's rows
/// 0..<k: per 16 steps, 16 masked row loads, a 16×16 transpose (pairs of floats, then of
/// doubles, then 128-bit lanes twice), 16 stores (those of rows below k).
SK_AVX512 static void wide_transpose(const float *b, long ldb, long k, float *t, long ldt) {
    for (long p0 = 0; p0 < k; p0 += 16) {
        int kk = k - p0 < 16 ? (int)(k - p0) : 16;
        __mmask16 mk = (__mmask16)(kk == 16 ? 0xFFFF : (1u << kk) - 1);
        __m512 r[16], u[16];
        for (int i = 0; i < 16; i++) r[i] = _mm512_maskz_loadu_ps(mk, b + i * ldb + p0);
        for (int i = 0; i < 16; i += 2) {
            u[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
            u[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
        }
        // r[4g + q], lane L: column 4L + q of rows 4g..<4g+4.
        for (int g = 0; g < 16; g += 4) {
            __m512d t0 = _mm512_castps_pd(u[g]), t1 = _mm512_castps_pd(u[g + 1]);
            __m512d t2 = _mm512_castps_pd(u[g + 2]), t3 = _mm512_castps_pd(u[g + 3]);
            r[g] = _mm512_castpd_ps(_mm512_unpacklo_pd(t0, t2));
            r[g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(t0, t2));
            r[g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(t1, t3));
            r[g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(t1, t3));
        }
        for (int q = 0; q < 4; q++) {
            __m512 a0 = _mm512_shuffle_f32x4(r[q], r[4 + q], 0x88), b0 = _mm512_shuffle_f32x4(r[q], r[4 + q], 0xDD);
            __m512 c0 = _mm512_shuffle_f32x4(r[8 + q], r[12 + q], 0x88), d0 = _mm512_shuffle_f32x4(r[8 + q], r[12 + q], 0xDD);
            u[q] = _mm512_shuffle_f32x4(a0, c0, 0x88);
            u[8 + q] = _mm512_shuffle_f32x4(a0, c0, 0xDD);
            u[4 + q] = _mm512_shuffle_f32x4(b0, d0, 0x88);
            u[12 + q] = _mm512_shuffle_f32x4(b0, d0, 0xDD);
        }
        for (int c = 0; c < kk; c++) _mm512_store_ps(t + (p0 + c) * ldt, u[c]);
    }
}

SK_AVX512 static void wide_sgemm_nt_avx512(long m, long n, long k, const float *a, long lda, const float *b, long ldb,
                                           float *c, long ldc, int accumulate) {
    _Alignas(64) float tile[WIDE_TILE];
    // Stripe width: a multiple of 64 columns whose k×w tile fits.
    long stripe = (WIDE_TILE / k) / 64 * 64;
    if (stripe < 64) stripe = 64;
    for (long j0 = 0; j0 < n; j0 += stripe) {
        long w = n - j0 < stripe ? n - j0 : stripe;
        long ldt = (w + 15) / 16 * 16;
        // Transpose B's rows j0..<j0+w into the tile, 16×16 blocks in registers, the rest
        // element by element; zero-fill the last vector's tail.
        long jf = w / 16 * 16;
        for (long j = 0; j < jf; j += 16) wide_transpose(b + (j0 + j) * ldb, ldb, k, tile + j, ldt);
        for (long j = jf; j < w; j++) {
            const float *br = b + (j0 + j) * ldb;
            for (long p = 0; p < k; p++) tile[p * ldt + j] = br[p];
        }
        for (long j = w; j < ldt; j++)
            for (long p = 0; p < k; p++) tile[p * ldt + j] = 0;
        int tail = (int)(w - (ldt - 16));
        __mmask16 last = tail_mask(tail);
        long i = 0;
        for (; i + 4 <= m; i += 4) wide_rows_4(k, a + i * lda, lda, tile, ldt, w, c + i * ldc + j0, ldc, last, accumulate);
        if (i + 2 <= m) {
            wide_rows_2(k, a + i * lda, lda, tile, ldt, w, c + i * ldc + j0, ldc, last, accumulate);
            i += 2;
        }
        if (i < m) wide_rows_1(k, a + i * lda, lda, tile, ldt, w, c + i * ldc + j0, ldc, last, accumulate);
    }
}

#endif

int outpost_wide_sgemm_nt(long m, long n, long k, const float *a, long lda, const float *b, long ldb, float *c, long ldc,
                          int accumulate) {
#ifdef SKINNY_X86
    if (!outpost_cpu_has_avx512() || k < 1 || k > WIDE_KMAX) return 0;
    if (m <= 0 || n <= 0) return 1;
    wide_sgemm_nt_avx512(m, n, k, a, lda, b, ldb, c, ldc, accumulate);
    return 1;
#else
    (void)m; (void)n; (void)k; (void)a; (void)lda; (void)b; (void)ldb; (void)c; (void)ldc; (void)accumulate;
    return 0;
#endif
}
