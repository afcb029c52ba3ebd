#include "outpost_simd.h"
#include "cpu_features.h"

#include <math.h>
#include <string.h>

// Products and sums are rounded separately, as in the Swift loops these replace: no
// contraction into fused multiply-adds unless written explicitly.
#pragma clang fp contract(off)

// MARK: Portable loops

static double dot_f32_scalar(const float *a, const float *b, long n) {
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    long j = 0;
    for (; j + 4 <= n; j += 4) {
        s0 += (double)a[j] * (double)b[j];
        s1 += (double)a[j + 1] * (double)b[j + 1];
        s2 += (double)a[j + 2] * (double)b[j + 2];
        s3 += (double)a[j + 3] * (double)b[j + 3];
    }
    for (; j < n; j++) s0 += (double)a[j] * (double)b[j];
    return (s0 + s1) + (s2 + s3);
}

static double dot_f64_scalar(const double *a, const double *b, long n) {
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    long j = 0;
    for (; j + 4 <= n; j += 4) {
        s0 += a[j] * b[j];
        s1 += a[j + 1] * b[j + 1];
        s2 += a[j + 2] * b[j + 2];
        s3 += a[j + 3] * b[j + 3];
    }
    for (; j < n; j++) s0 += a[j] * b[j];
    return (s0 + s1) + (s2 + s3);
}

static double scaled_sqdist_f32_scalar(const float *a, double sa, const float *b, double sb, long n) {
    double s0 = 0, s1 = 0;
    long j = 0;
    for (; j + 2 <= n; j += 2) {
        double d0 = sa * (double)a[j] - sb * (double)b[j], d1 = sa * (double)a[j + 1] - sb * (double)b[j + 1];
        s0 += d0 * d0;
        s1 += d1 * d1;
    }
    for (; j < n; j++) { double d = sa * (double)a[j] - sb * (double)b[j]; s0 += d * d; }
    return s0 + s1;
}

static double scaled_sqdist_f64_scalar(const double *a, double sa, const double *b, double sb, long n) {
    double s0 = 0, s1 = 0;
    long j = 0;
    for (; j + 2 <= n; j += 2) {
        double d0 = sa * a[j] - sb * b[j], d1 = sa * a[j + 1] - sb * b[j + 1];
        s0 += d0 * d0;
        s1 += d1 * d1;
    }
    for (; j < n; j++) { double d = sa * a[j] - sb * b[j]; s0 += d * d; }
    return s0 + s1;
}

static void dot2_f32_scalar(const float *a, const float *b, long n, double *aa, double *ab) {
    double s0 = 0, s1 = 0, p0 = 0, p1 = 0;
    long j = 0;
    for (; j + 2 <= n; j += 2) {
        double a0 = a[j], a1 = a[j + 1];
        s0 += a0 * a0; s1 += a1 * a1;
        p0 += a0 * (double)b[j]; p1 += a1 * (double)b[j + 1];
    }
    for (; j < n; j++) { double v = a[j]; s0 += v * v; p0 += v * (double)b[j]; }
    *aa = s0 + s1;
    *ab = p0 + p1;
}

static void dot2_f64_scalar(const double *a, const double *b, long n, double *aa, double *ab) {
    double s0 = 0, s1 = 0, p0 = 0, p1 = 0;
    long j = 0;
    for (; j + 2 <= n; j += 2) {
        s0 += a[j] * a[j]; s1 += a[j + 1] * a[j + 1];
        p0 += a[j] * b[j]; p1 += a[j + 1] * b[j + 1];
    }
    for (; j < n; j++) { s0 += a[j] * a[j]; p0 += a[j] * b[j]; }
    *aa = s0 + s1;
    *ab = p0 + p1;
}

static void axpby_f32_scalar(float alpha, const float *a, float beta, const float *b, float *y, long n) {
    for (long j = 0; j < n; j++) y[j] = alpha * a[j] + beta * b[j];
}

static void axpby_f64_scalar(double alpha, const double *a, double beta, const double *b, double *y, long n) {
    for (long j = 0; j < n; j++) y[j] = alpha * a[j] + beta * b[j];
}

static void axpy_f32_scalar(float alpha, const float *x, float *y, long n) {
    for (long j = 0; j < n; j++) y[j] = y[j] + alpha * x[j];
}

static void axpy_f64_scalar(double alpha, const double *x, double *y, long n) {
    for (long j = 0; j < n; j++) y[j] = y[j] + alpha * x[j];
}

static inline float sigmoid1(float v) {
    if (v >= 0) return 1.0f / (1.0f + expf(-v));
    float e = expf(v);
    return e / (1.0f + e);
}

static void sigmoid_f32_scalar(const float *x, float *y, long n) {
    for (long j = 0; j < n; j++) y[j] = sigmoid1(x[j]);
}

// MARK: Denormals

#if defined(__x86_64__) || defined(_M_X64)
#include <xmmintrin.h>
// FTZ (bit 15) writes denormal results as zero; DAZ (bit 6) reads denormal inputs as zero.
// Every x86-64 CPU with SSE2 has both.
#define OUTPOST_DENORMAL_BITS 0x8040u
int outpost_flushing_denormals(void) { return (_mm_getcsr() & OUTPOST_DENORMAL_BITS) == OUTPOST_DENORMAL_BITS; }
int outpost_flush_denormals(int on) {
    unsigned int csr = _mm_getcsr();
    int previous = (csr & OUTPOST_DENORMAL_BITS) == OUTPOST_DENORMAL_BITS;
    unsigned int wanted = on ? (csr | OUTPOST_DENORMAL_BITS) : (csr & ~OUTPOST_DENORMAL_BITS);
    if (wanted != csr) _mm_setcsr(wanted);
    return previous;
}
#else
int outpost_flushing_denormals(void) { return -1; }
int outpost_flush_denormals(int on) { (void)on; return -1; }
#endif

// MARK: AVX2 + FMA

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define OUTPOST_X86 1
#define AVX2 __attribute__((target("avx2,fma")))

AVX2 static double hsum256d(__m256d v) {
    __m128d lo = _mm256_castpd256_pd128(v), hi = _mm256_extractf128_pd(v, 1);
    lo = _mm_add_pd(lo, hi);
    return _mm_cvtsd_f64(_mm_add_sd(lo, _mm_unpackhi_pd(lo, lo)));
}

AVX2 static double dot_f32_avx2(const float *a, const float *b, long n) {
    // Products of two floats are exact in double, so a fused multiply-add in double
    // rounds once, like the scalar loop's multiply then add.
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd(), s2 = _mm256_setzero_pd(), s3 = _mm256_setzero_pd();
    long j = 0;
    for (; j + 16 <= n; j += 16) {
        __m256 va = _mm256_loadu_ps(a + j), vb = _mm256_loadu_ps(b + j);
        __m256 wa = _mm256_loadu_ps(a + j + 8), wb = _mm256_loadu_ps(b + j + 8);
        s0 = _mm256_fmadd_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(va)), _mm256_cvtps_pd(_mm256_castps256_ps128(vb)), s0);
        s1 = _mm256_fmadd_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(va, 1)), _mm256_cvtps_pd(_mm256_extractf128_ps(vb, 1)), s1);
        s2 = _mm256_fmadd_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(wa)), _mm256_cvtps_pd(_mm256_castps256_ps128(wb)), s2);
        s3 = _mm256_fmadd_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(wa, 1)), _mm256_cvtps_pd(_mm256_extractf128_ps(wb, 1)), s3);
    }
    for (; j + 4 <= n; j += 4)
        s0 = _mm256_fmadd_pd(_mm256_cvtps_pd(_mm_loadu_ps(a + j)), _mm256_cvtps_pd(_mm_loadu_ps(b + j)), s0);
    double s = hsum256d(_mm256_add_pd(_mm256_add_pd(s0, s1), _mm256_add_pd(s2, s3)));
    for (; j < n; j++) s += (double)a[j] * (double)b[j];
    return s;
}

AVX2 static double dot_f64_avx2(const double *a, const double *b, long n) {
    // Double products are not exact: multiply, then add, as the scalar loop does.
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd(), s2 = _mm256_setzero_pd(), s3 = _mm256_setzero_pd();
    long j = 0;
    for (; j + 16 <= n; j += 16) {
        s0 = _mm256_add_pd(s0, _mm256_mul_pd(_mm256_loadu_pd(a + j), _mm256_loadu_pd(b + j)));
        s1 = _mm256_add_pd(s1, _mm256_mul_pd(_mm256_loadu_pd(a + j + 4), _mm256_loadu_pd(b + j + 4)));
        s2 = _mm256_add_pd(s2, _mm256_mul_pd(_mm256_loadu_pd(a + j + 8), _mm256_loadu_pd(b + j + 8)));
        s3 = _mm256_add_pd(s3, _mm256_mul_pd(_mm256_loadu_pd(a + j + 12), _mm256_loadu_pd(b + j + 12)));
    }
    for (; j + 4 <= n; j += 4) s0 = _mm256_add_pd(s0, _mm256_mul_pd(_mm256_loadu_pd(a + j), _mm256_loadu_pd(b + j)));
    double s = hsum256d(_mm256_add_pd(_mm256_add_pd(s0, s1), _mm256_add_pd(s2, s3)));
    for (; j < n; j++) s += a[j] * b[j];
    return s;
}

AVX2 static inline __m256d sqdist_step(__m128 a, __m128 b, __m256d sa, __m256d sb, __m256d acc) {
    __m256d d = _mm256_sub_pd(_mm256_mul_pd(sa, _mm256_cvtps_pd(a)), _mm256_mul_pd(sb, _mm256_cvtps_pd(b)));
    return _mm256_add_pd(acc, _mm256_mul_pd(d, d));
}

AVX2 static double scaled_sqdist_f32_avx2(const float *a, double sa, const float *b, double sb, long n) {
    const __m256d va = _mm256_set1_pd(sa), vb = _mm256_set1_pd(sb);
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd(), s2 = _mm256_setzero_pd(), s3 = _mm256_setzero_pd();
    long j = 0;
    for (; j + 16 <= n; j += 16) {
        __m256 xa = _mm256_loadu_ps(a + j), xb = _mm256_loadu_ps(b + j);
        __m256 ya = _mm256_loadu_ps(a + j + 8), yb = _mm256_loadu_ps(b + j + 8);
        s0 = sqdist_step(_mm256_castps256_ps128(xa), _mm256_castps256_ps128(xb), va, vb, s0);
        s1 = sqdist_step(_mm256_extractf128_ps(xa, 1), _mm256_extractf128_ps(xb, 1), va, vb, s1);
        s2 = sqdist_step(_mm256_castps256_ps128(ya), _mm256_castps256_ps128(yb), va, vb, s2);
        s3 = sqdist_step(_mm256_extractf128_ps(ya, 1), _mm256_extractf128_ps(yb, 1), va, vb, s3);
    }
    for (; j + 4 <= n; j += 4) s0 = sqdist_step(_mm_loadu_ps(a + j), _mm_loadu_ps(b + j), va, vb, s0);
    double s = hsum256d(_mm256_add_pd(_mm256_add_pd(s0, s1), _mm256_add_pd(s2, s3)));
    for (; j < n; j++) { double d = sa * (double)a[j] - sb * (double)b[j]; s += d * d; }
    return s;
}

AVX2 static void dot2_f32_avx2(const float *a, const float *b, long n, double *aa, double *ab) {
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd(), p0 = _mm256_setzero_pd(), p1 = _mm256_setzero_pd();
    long j = 0;
    for (; j + 8 <= n; j += 8) {
        __m256 va = _mm256_loadu_ps(a + j), vb = _mm256_loadu_ps(b + j);
        __m256d a0 = _mm256_cvtps_pd(_mm256_castps256_ps128(va)), a1 = _mm256_cvtps_pd(_mm256_extractf128_ps(va, 1));
        __m256d b0 = _mm256_cvtps_pd(_mm256_castps256_ps128(vb)), b1 = _mm256_cvtps_pd(_mm256_extractf128_ps(vb, 1));
        s0 = _mm256_fmadd_pd(a0, a0, s0); s1 = _mm256_fmadd_pd(a1, a1, s1);
        p0 = _mm256_fmadd_pd(a0, b0, p0); p1 = _mm256_fmadd_pd(a1, b1, p1);
    }
    double s = hsum256d(_mm256_add_pd(s0, s1)), p = hsum256d(_mm256_add_pd(p0, p1));
    for (; j < n; j++) { double v = a[j]; s += v * v; p += v * (double)b[j]; }
    *aa = s;
    *ab = p;
}

AVX2 static void axpby_f32_avx2(float alpha, const float *a, float beta, const float *b, float *y, long n) {
    const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
    long j = 0;
    for (; j + 8 <= n; j += 8)
        _mm256_storeu_ps(y + j, _mm256_add_ps(_mm256_mul_ps(va, _mm256_loadu_ps(a + j)), _mm256_mul_ps(vb, _mm256_loadu_ps(b + j))));
    for (; j < n; j++) y[j] = alpha * a[j] + beta * b[j];
}

AVX2 static void axpy_f32_avx2(float alpha, const float *x, float *y, long n) {
    __m256 va = _mm256_set1_ps(alpha);
    long j = 0;
    for (; j + 16 <= n; j += 16) {
        __m256 p0 = _mm256_mul_ps(va, _mm256_loadu_ps(x + j)), p1 = _mm256_mul_ps(va, _mm256_loadu_ps(x + j + 8));
        _mm256_storeu_ps(y + j, _mm256_add_ps(_mm256_loadu_ps(y + j), p0));
        _mm256_storeu_ps(y + j + 8, _mm256_add_ps(_mm256_loadu_ps(y + j + 8), p1));
    }
    for (; j + 8 <= n; j += 8) _mm256_storeu_ps(y + j, _mm256_add_ps(_mm256_loadu_ps(y + j), _mm256_mul_ps(va, _mm256_loadu_ps(x + j))));
    for (; j < n; j++) y[j] = y[j] + alpha * x[j];
}

AVX2 static void axpy_f64_avx2(double alpha, const double *x, double *y, long n) {
    __m256d va = _mm256_set1_pd(alpha);
    long j = 0;
    for (; j + 4 <= n; j += 4) _mm256_storeu_pd(y + j, _mm256_add_pd(_mm256_loadu_pd(y + j), _mm256_mul_pd(va, _mm256_loadu_pd(x + j))));
    for (; j < n; j++) y[j] = y[j] + alpha * x[j];
}

/// exp(v) for v in [-87, 0] (Cephes expf: v = n·ln2 + r, |r| <= ln2/2, degree-7 polynomial),
/// for the vector width W (256 or 512 bits). One definition for both widths: the 16-lane
/// sigmoid and the 8-lane one must agree bit for bit, so the two share every operation and
/// constant; ROUND is the width's round-to-integer (round_ps / roundscale_ps, same mode).
#define DEFINE_EXP_NONPOSITIVE(TARGET, W, ROUND)                                                        \
    TARGET static inline __m##W exp_nonpositive_##W(__m##W v) {                                           \
        const __m##W log2e = _mm##W##_set1_ps(1.44269504088896341f);                                      \
        const __m##W c1 = _mm##W##_set1_ps(0.693359375f), c2 = _mm##W##_set1_ps(-2.12194440e-4f);          \
        __m##W fx = ROUND(_mm##W##_mul_ps(v, log2e), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);       \
        __m##W r = _mm##W##_sub_ps(v, _mm##W##_mul_ps(fx, c1));                                            \
        r = _mm##W##_sub_ps(r, _mm##W##_mul_ps(fx, c2));                                                   \
        __m##W p = _mm##W##_set1_ps(1.9875691500e-4f);                                                     \
        p = _mm##W##_fmadd_ps(p, r, _mm##W##_set1_ps(1.3981999507e-3f));                                  \
        p = _mm##W##_fmadd_ps(p, r, _mm##W##_set1_ps(8.3334519073e-3f));                                  \
        p = _mm##W##_fmadd_ps(p, r, _mm##W##_set1_ps(4.1665795894e-2f));                                  \
        p = _mm##W##_fmadd_ps(p, r, _mm##W##_set1_ps(1.6666665459e-1f));                                  \
        p = _mm##W##_fmadd_ps(p, r, _mm##W##_set1_ps(5.0000001201e-1f));                                  \
        p = _mm##W##_fmadd_ps(p, _mm##W##_mul_ps(r, r), _mm##W##_add_ps(r, _mm##W##_set1_ps(1.0f)));       \
        __m##W##i e = _mm##W##_slli_epi32(_mm##W##_add_epi32(_mm##W##_cvtps_epi32(fx), _mm##W##_set1_epi32(127)), 23); \
        return _mm##W##_mul_ps(p, _mm##W##_castsi##W##_ps(e));                                             \
    }

DEFINE_EXP_NONPOSITIVE(AVX2, 256, _mm256_round_ps)

// Eight elements: the vector formula where |x| <= 87, sigmoid1 (libm's expf) elsewhere and
// for NaN, decided lane by lane, so that an element's result depends on its value alone and
// not on its neighbours or on where a thread's share of the array begins. (A whole block
// used to go to sigmoid1 when one lane was out of range, and a call's last n mod 8 elements
// always did: a loop split across threads at other offsets gave other bits.)
AVX2 static inline void sigmoid8_avx2(const float *x, float *y) {
    const __m256 absMask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    const __m256 limit = _mm256_set1_ps(87.0f), one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
    __m256 v = _mm256_loadu_ps(x);
    __m256 a = _mm256_and_ps(v, absMask);
    // Ordered compare: NaN lanes fail it. min(a, limit) is limit for NaN (minps returns its
    // second operand when either is NaN), which keeps every lane's exp in its domain.
    int inRange = _mm256_movemask_ps(_mm256_cmp_ps(a, limit, _CMP_LE_OQ));
    __m256 e = exp_nonpositive_256(_mm256_sub_ps(zero, _mm256_min_ps(a, limit)));      // exp(-|x|)
    __m256 num = _mm256_blendv_ps(e, one, _mm256_cmp_ps(v, zero, _CMP_GE_OQ));
    _mm256_storeu_ps(y, _mm256_div_ps(num, _mm256_add_ps(one, e)));
    if (inRange != 0xff)
        for (int k = 0; k < 8; k++)
            if (!(inRange >> k & 1)) y[k] = sigmoid1(x[k]);
}

AVX2 static void sigmoid_f32_avx2(const float *x, float *y, long n) {
    long j = 0;
    for (; j + 8 <= n; j += 8) sigmoid8_avx2(x + j, y + j);
    if (j < n) {
        float tx[8] = {0}, ty[8];
        memcpy(tx, x + j, sizeof(float) * (size_t)(n - j));
        sigmoid8_avx2(tx, ty);
        memcpy(y + j, ty, sizeof(float) * (size_t)(n - j));
    }
}

// MARK: AVX-512 (F and DQ)
//
// The double-accumulating reductions are bound by float-to-double conversions; 512-bit
// conversions halve their count. Same arithmetic per element as the AVX2 loops (exact
// products, fused or separate as there), a different split of the partial sums.

#define AVX512 __attribute__((target("avx512f,avx512dq")))

DEFINE_EXP_NONPOSITIVE(AVX512, 512, _mm512_roundscale_ps)

// sigmoid8_avx2 on sixteen lanes (same arithmetic, same fallback per lane); the last n mod
// 16 elements go through the AVX2 loop. Half the instructions per element: the sigmoid was
// 5% of W3's time.
AVX512 static void sigmoid_f32_avx512(const float *x, float *y, long n) {
    const __m512 limit = _mm512_set1_ps(87.0f), one = _mm512_set1_ps(1.0f), zero = _mm512_setzero_ps();
    long j = 0;
    for (; j + 16 <= n; j += 16) {
        __m512 v = _mm512_loadu_ps(x + j);
        __m512 a = _mm512_abs_ps(v);
        __mmask16 inRange = _mm512_cmp_ps_mask(a, limit, _CMP_LE_OQ);
        __m512 e = exp_nonpositive_512(_mm512_sub_ps(zero, _mm512_min_ps(a, limit)));
        __m512 num = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(v, zero, _CMP_GE_OQ), e, one);
        _mm512_storeu_ps(y + j, _mm512_div_ps(num, _mm512_add_ps(one, e)));
        if (inRange != 0xffff)
            for (int k = 0; k < 16; k++)
                if (!(inRange >> k & 1)) y[j + k] = sigmoid1(x[j + k]);
    }
    if (j < n) sigmoid_f32_avx2(x + j, y + j, n - j);
}

AVX512 static inline __m512d lo8(__m512 v) { return _mm512_cvtps_pd(_mm512_castps512_ps256(v)); }
AVX512 static inline __m512d hi8(__m512 v) { return _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1)); }

AVX512 static double dot_f32_avx512(const float *a, const float *b, long n) {
    __m512d s0 = _mm512_setzero_pd(), s1 = _mm512_setzero_pd(), s2 = _mm512_setzero_pd(), s3 = _mm512_setzero_pd();
    long j = 0;
    for (; j + 32 <= n; j += 32) {
        __m512 va = _mm512_loadu_ps(a + j), vb = _mm512_loadu_ps(b + j);
        __m512 wa = _mm512_loadu_ps(a + j + 16), wb = _mm512_loadu_ps(b + j + 16);
        s0 = _mm512_fmadd_pd(lo8(va), lo8(vb), s0);
        s1 = _mm512_fmadd_pd(hi8(va), hi8(vb), s1);
        s2 = _mm512_fmadd_pd(lo8(wa), lo8(wb), s2);
        s3 = _mm512_fmadd_pd(hi8(wa), hi8(wb), s3);
    }
    for (; j + 8 <= n; j += 8)
        s0 = _mm512_fmadd_pd(_mm512_cvtps_pd(_mm256_loadu_ps(a + j)), _mm512_cvtps_pd(_mm256_loadu_ps(b + j)), s0);
    double s = _mm512_reduce_add_pd(_mm512_add_pd(_mm512_add_pd(s0, s1), _mm512_add_pd(s2, s3)));
    for (; j < n; j++) s += (double)a[j] * (double)b[j];
    return s;
}

AVX512 static inline __m512d sqdist_step512(__m256 a, __m256 b, __m512d sa, __m512d sb, __m512d acc) {
    __m512d d = _mm512_sub_pd(_mm512_mul_pd(sa, _mm512_cvtps_pd(a)), _mm512_mul_pd(sb, _mm512_cvtps_pd(b)));
    return _mm512_add_pd(acc, _mm512_mul_pd(d, d));
}

AVX512 static double scaled_sqdist_f32_avx512(const float *a, double sa, const float *b, double sb, long n) {
    const __m512d va = _mm512_set1_pd(sa), vb = _mm512_set1_pd(sb);
    __m512d s0 = _mm512_setzero_pd(), s1 = _mm512_setzero_pd(), s2 = _mm512_setzero_pd(), s3 = _mm512_setzero_pd();
    long j = 0;
    for (; j + 32 <= n; j += 32) {
        __m512 xa = _mm512_loadu_ps(a + j), xb = _mm512_loadu_ps(b + j);
        __m512 ya = _mm512_loadu_ps(a + j + 16), yb = _mm512_loadu_ps(b + j + 16);
        s0 = sqdist_step512(_mm512_castps512_ps256(xa), _mm512_castps512_ps256(xb), va, vb, s0);
        s1 = sqdist_step512(_mm512_extractf32x8_ps(xa, 1), _mm512_extractf32x8_ps(xb, 1), va, vb, s1);
        s2 = sqdist_step512(_mm512_castps512_ps256(ya), _mm512_castps512_ps256(yb), va, vb, s2);
        s3 = sqdist_step512(_mm512_extractf32x8_ps(ya, 1), _mm512_extractf32x8_ps(yb, 1), va, vb, s3);
    }
    for (; j + 8 <= n; j += 8) s0 = sqdist_step512(_mm256_loadu_ps(a + j), _mm256_loadu_ps(b + j), va, vb, s0);
    double s = _mm512_reduce_add_pd(_mm512_add_pd(_mm512_add_pd(s0, s1), _mm512_add_pd(s2, s3)));
    for (; j < n; j++) { double d = sa * (double)a[j] - sb * (double)b[j]; s += d * d; }
    return s;
}

AVX512 static void dot2_f32_avx512(const float *a, const float *b, long n, double *aa, double *ab) {
    __m512d s0 = _mm512_setzero_pd(), s1 = _mm512_setzero_pd(), p0 = _mm512_setzero_pd(), p1 = _mm512_setzero_pd();
    long j = 0;
    for (; j + 16 <= n; j += 16) {
        __m512 va = _mm512_loadu_ps(a + j), vb = _mm512_loadu_ps(b + j);
        __m512d a0 = lo8(va), a1 = hi8(va), b0 = lo8(vb), b1 = hi8(vb);
        s0 = _mm512_fmadd_pd(a0, a0, s0); s1 = _mm512_fmadd_pd(a1, a1, s1);
        p0 = _mm512_fmadd_pd(a0, b0, p0); p1 = _mm512_fmadd_pd(a1, b1, p1);
    }
    double s = _mm512_reduce_add_pd(_mm512_add_pd(s0, s1)), p = _mm512_reduce_add_pd(_mm512_add_pd(p0, p1));
    for (; j < n; j++) { double v = a[j]; s += v * v; p += v * (double)b[j]; }
    *aa = s;
    *ab = p;
}

AVX512 static void axpy_f32_avx512(float alpha, const float *x, float *y, long n) {
    const __m512 va = _mm512_set1_ps(alpha);
    long j = 0;
    for (; j + 16 <= n; j += 16)
        _mm512_storeu_ps(y + j, _mm512_add_ps(_mm512_loadu_ps(y + j), _mm512_mul_ps(va, _mm512_loadu_ps(x + j))));
    for (; j < n; j++) y[j] = y[j] + alpha * x[j];
}

AVX512 static void axpby_f32_avx512(float alpha, const float *a, float beta, const float *b, float *y, long n) {
    const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    long j = 0;
    for (; j + 16 <= n; j += 16)
        _mm512_storeu_ps(y + j, _mm512_add_ps(_mm512_mul_ps(va, _mm512_loadu_ps(a + j)), _mm512_mul_ps(vb, _mm512_loadu_ps(b + j))));
    for (; j < n; j++) y[j] = alpha * a[j] + beta * b[j];
}

#endif

// MARK: Dispatch

// A CPU property, computed once (racing first calls compute the same value).
#ifdef OUTPOST_X86
#define CACHED_CPU_CHECK(EXPR)                                  \
    static int cached = -1;                                     \
    int c = __atomic_load_n(&cached, __ATOMIC_RELAXED);         \
    if (c < 0) {                                                \
        __builtin_cpu_init();                                   \
        c = (EXPR);                                             \
        __atomic_store_n(&cached, c, __ATOMIC_RELAXED);         \
    }                                                           \
    return c;
#else
#define CACHED_CPU_CHECK(EXPR) return 0;
#endif

int outpost_cpu_has_avx2_fma(void) { CACHED_CPU_CHECK(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) }

int outpost_cpu_has_avx512(void) {
    CACHED_CPU_CHECK(__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq"))
}

int outpost_cpu_is_amd(void) { CACHED_CPU_CHECK(__builtin_cpu_is("amd")) }

double outpost_dot_f32(const float *a, const float *b, long n) {
#ifdef OUTPOST_X86
    if (outpost_cpu_has_avx512()) return dot_f32_avx512(a, b, n);
    if (outpost_cpu_has_avx2_fma()) return dot_f32_avx2(a, b, n);
#endif
    return dot_f32_scalar(a, b, n);
}

double outpost_dot_f64(const double *a, const double *b, long n) {
#ifdef OUTPOST_X86
    if (outpost_cpu_has_avx2_fma()) return dot_f64_avx2(a, b, n);
#endif
    return dot_f64_scalar(a, b, n);
}

double outpost_scaled_sqdist_f32(const float *a, double sa, const float *b, double sb, long n) {
#ifdef OUTPOST_X86
    if (outpost_cpu_has_avx512()) return scaled_sqdist_f32_avx512(a, sa, b, sb, n);
    if (outpost_cpu_has_avx2_fma()) return scaled_sqdist_f32_avx2(a, sa, b, sb, n);
#endif
    return scaled_sqdist_f32_scalar(a, sa, b, sb, n);
}

double outpost_scaled_sqdist_f64(const double *a, double sa, const double *b, double sb, long n) {
    return scaled_sqdist_f64_scalar(a, sa, b, sb, n);
}

void outpost_dot2_f32(const float *a, const float *b, long n, double *aa, double *ab) {
#ifdef OUTPOST_X86
    if (outpost_cpu_has_avx512()) { dot2_f32_avx512(a, b, n, aa, ab); return; }
    if (outpost_cpu_has_avx2_fma()) { dot2_f32_avx2(a, b, n, aa, ab); return; }
#endif
    dot2_f32_scalar(a, b, n, aa, ab);
}

void outpost_dot2_f64(const double *a, const double *b, long n, double *aa, double *ab) {
    dot2_f64_scalar(a, b, n, aa, ab);
}

void outpost_axpby_f32(float alpha, const float *a, float beta, const float *b, float *y, long n) {
#ifdef OUTPOST_X86
    if (outpost_cpu_has_avx512()) { axpby_f32_avx512(alpha, a, beta, b, y, n); return; }
    if (outpost_cpu_has_avx2_fma()) { axpby_f32_avx2(alpha, a, beta, b, y, n); return; }
#endif
    axpby_f32_scalar(alpha, a, beta, b, y, n);
}

void outpost_axpby_f64(double alpha, const double *a, double beta, const double *b, double *y, long n) {
    axpby_f64_scalar(alpha, a, beta, b, y, n);
}

void outpost_axpy_f32(float alpha, const float *x, float *y, long n) {
#ifdef OUTPOST_X86
    if (outpost_cpu_has_avx512()) { axpy_f32_avx512(alpha, x, y, n); return; }
    if (outpost_cpu_has_avx2_fma()) { axpy_f32_avx2(alpha, x, y, n); return; }
#endif
    axpy_f32_scalar(alpha, x, y, n);
}

void outpost_axpy_f64(double alpha, const double *x, double *y, long n) {
#ifdef OUTPOST_X86
    if (outpost_cpu_has_avx2_fma()) { axpy_f64_avx2(alpha, x, y, n); return; }
#endif
    axpy_f64_scalar(alpha, x, y, n);
}

void outpost_sigmoid_f32(const float *x, float *y, long n) {
#ifdef OUTPOST_X86
    if (outpost_cpu_has_avx512()) { sigmoid_f32_avx512(x, y, n); return; }
    if (outpost_cpu_has_avx2_fma()) { sigmoid_f32_avx2(x, y, n); return; }
#endif
    sigmoid_f32_scalar(x, y, n);
}

const char *outpost_simd_path(void) { return outpost_cpu_has_avx512() ? "avx512" : outpost_cpu_has_avx2_fma() ? "avx2" : "scalar"; }

// MARK: L-BFGS history passes
//
// One generic body per pass, written on 8-double vectors (one zmm register under AVX-512,
// two ymm under AVX2, four xmm elsewhere) and instantiated per instruction set with a
// constant group size and fused or separate multiply-adds. Each pair's dot products take
// the same operations in the same order whatever group it is processed in, and the
// combination is element-wise, so only the element range of a call decides the rounding
// of a dot product (the caller fixes those ranges) and nothing decides that of a
// combined element but the pair order.

// The helpers pass 8-double vectors by value; all are inlined, so no call ever uses the
// ABI that -Wpsabi warns about.
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wpsabi"

typedef float lb_f8 __attribute__((ext_vector_type(8)));
typedef double lb_d8 __attribute__((ext_vector_type(8)));

#define LB_INLINE static inline __attribute__((always_inline))

LB_INLINE lb_d8 lb_load(const void *p, long j, int f64) {
    if (f64) { lb_d8 v; __builtin_memcpy(&v, (const double *)p + j, sizeof v); return v; }
    lb_f8 v;
    __builtin_memcpy(&v, (const float *)p + j, sizeof v);
    return __builtin_convertvector(v, lb_d8);
}

LB_INLINE double lb_elem(const void *p, long j, int f64) { return f64 ? ((const double *)p)[j] : (double)((const float *)p)[j]; }

LB_INLINE lb_d8 lb_madd(lb_d8 a, lb_d8 b, lb_d8 c, int fused) { return fused ? __builtin_elementwise_fma(a, b, c) : a * b + c; }
LB_INLINE double lb_madd1(double a, double b, double c, int fused) { return fused ? __builtin_fma(a, b, c) : a * b + c; }

LB_INLINE double lb_hsum(lb_d8 v) { return ((v[0] + v[4]) + (v[2] + v[6])) + ((v[1] + v[5]) + (v[3] + v[7])); }

LB_INLINE const void *lb_row(const void *base, long slot, long stride, int f64) {
    return f64 ? (const void *)((const double *)base + slot * stride) : (const void *)((const float *)base + slot * stride);
}

// `np` pairs (`np` at most 4) of the list, over [lo, hi).
LB_INLINE void lb_dots_group(const void *const *sp, const void *const *yp, int np, const void *g, const void *yn,
                             long lo, long hi, double *out, int f64, int fused, int full) {
    lb_d8 acc[4][4];
    for (int p = 0; p < 4; p++) for (int q = 0; q < 4; q++) acc[p][q] = (lb_d8)0;
    long j = lo;
    for (; j + 8 <= hi; j += 8) {
        lb_d8 gv = lb_load(g, j, f64);
        lb_d8 nv = full ? lb_load(yn, j, f64) : gv;
        for (int p = 0; p < np; p++) {
            lb_d8 sv = lb_load(sp[p], j, f64), yv = lb_load(yp[p], j, f64);
            acc[p][0] = lb_madd(sv, gv, acc[p][0], fused);
            acc[p][1] = lb_madd(yv, gv, acc[p][1], fused);
            if (full) {
                acc[p][2] = lb_madd(sv, nv, acc[p][2], fused);
                acc[p][3] = lb_madd(yv, nv, acc[p][3], fused);
            }
        }
    }
    for (int p = 0; p < np; p++) {
        double r0 = lb_hsum(acc[p][0]), r1 = lb_hsum(acc[p][1]), r2 = lb_hsum(acc[p][2]), r3 = lb_hsum(acc[p][3]);
        for (long k = j; k < hi; k++) {
            double sv = lb_elem(sp[p], k, f64), yv = lb_elem(yp[p], k, f64), gv = lb_elem(g, k, f64);
            r0 = lb_madd1(sv, gv, r0, fused);
            r1 = lb_madd1(yv, gv, r1, fused);
            if (full) {
                double nv = lb_elem(yn, k, f64);
                r2 = lb_madd1(sv, nv, r2, fused);
                r3 = lb_madd1(yv, nv, r3, fused);
            }
        }
        out[4 * p] = r0;
        out[4 * p + 1] = r1;
        if (full) { out[4 * p + 2] = r2; out[4 * p + 3] = r3; }
    }
}

typedef float lb_f16 __attribute__((ext_vector_type(16)));
typedef double lb_d16 __attribute__((ext_vector_type(16)));

// Float pairs: each product is fused into a float running sum over a run of LB_DOT_RUN
// vectors of 16 (so each lane sums at most LB_DOT_RUN products, rounding to about 1e-6 of
// their magnitudes at worst), and the run's sums are added to double accumulators. Half the
// instructions of converting every element to double, with the same accuracy where it
// matters: the long sums over thousands of elements are in double.
#define LB_DOT_RUN 32

LB_INLINE lb_d8 lb_low8(lb_f16 v) { return __builtin_convertvector(__builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7), lb_d8); }
LB_INLINE lb_d8 lb_high8(lb_f16 v) {
    return __builtin_convertvector(__builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15), lb_d8);
}

LB_INLINE void lb_dots_group_f32(const float *const *sp, const float *const *yp, int np, const float *g, const float *yn,
                                 long lo, long hi, double *out, int fused, int full) {
    lb_d8 dacc[4][4];
    for (int p = 0; p < 4; p++) for (int q = 0; q < 4; q++) dacc[p][q] = (lb_d8)0;
    long j = lo;
    while (j + 16 <= hi) {
        long end = j + 16 * LB_DOT_RUN;
        if (end > hi) end = j + (hi - j) / 16 * 16;
        lb_f16 acc[4][4];
        for (int p = 0; p < 4; p++) for (int q = 0; q < 4; q++) acc[p][q] = (lb_f16)0;
        for (; j < end; j += 16) {
            lb_f16 gv, nv, sv, yv;
            __builtin_memcpy(&gv, g + j, sizeof gv);
            if (full) __builtin_memcpy(&nv, yn + j, sizeof nv); else nv = gv;
            for (int p = 0; p < np; p++) {
                __builtin_memcpy(&sv, sp[p] + j, sizeof sv);
                __builtin_memcpy(&yv, yp[p] + j, sizeof yv);
                acc[p][0] = fused ? __builtin_elementwise_fma(sv, gv, acc[p][0]) : sv * gv + acc[p][0];
                acc[p][1] = fused ? __builtin_elementwise_fma(yv, gv, acc[p][1]) : yv * gv + acc[p][1];
                if (full) {
                    acc[p][2] = fused ? __builtin_elementwise_fma(sv, nv, acc[p][2]) : sv * nv + acc[p][2];
                    acc[p][3] = fused ? __builtin_elementwise_fma(yv, nv, acc[p][3]) : yv * nv + acc[p][3];
                }
            }
        }
        for (int p = 0; p < np; p++)
            for (int q = 0; q < (full ? 4 : 2); q++) dacc[p][q] = dacc[p][q] + (lb_low8(acc[p][q]) + lb_high8(acc[p][q]));
    }
    for (int p = 0; p < np; p++) {
        double r[4];
        for (int q = 0; q < 4; q++) r[q] = lb_hsum(dacc[p][q]);
        for (long k = j; k < hi; k++) {
            double sv = sp[p][k], yv = yp[p][k], gv = g[k];
            r[0] = lb_madd1(sv, gv, r[0], fused);
            r[1] = lb_madd1(yv, gv, r[1], fused);
            if (full) {
                double nv = yn[k];
                r[2] = lb_madd1(sv, nv, r[2], fused);
                r[3] = lb_madd1(yv, nv, r[3], fused);
            }
        }
        out[4 * p] = r[0];
        out[4 * p + 1] = r[1];
        if (full) { out[4 * p + 2] = r[2]; out[4 * p + 3] = r[3]; }
    }
}

// Pairs in groups, and for each group the blocks one after another (`bounds[b] ..<
// bounds[b + 1]`, results at out + 4·count·b), so that each of the group's vectors is read
// as one stream over the whole range: block by block over all pairs, the pass read 2 KB
// pieces of 200 vectors in turn, which the hardware prefetchers follow poorly.
LB_INLINE void lb_dots(const void *s, const void *y, long stride, const long *slots, long count, const void *g,
                       const void *yn, const long *bounds, long blocks, double *out, int f64, int fused, int group) {
    for (long k = 0; k < count; k += group) {
        int np = count - k < group ? (int)(count - k) : group;
        if (!f64) {
            const float *sp[4], *yp[4];
            for (int p = 0; p < np; p++) {
                sp[p] = (const float *)s + slots[k + p] * stride;
                yp[p] = (const float *)y + slots[k + p] * stride;
            }
            const float *gf = (const float *)g, *nf = (const float *)yn;
            for (long b = 0; b < blocks; b++) {
                long lo = bounds[b], hi = bounds[b + 1];
                double *o = out + 4 * count * b + 4 * k;
                switch (np * 2 + (yn != 0)) {
                case 9: lb_dots_group_f32(sp, yp, 4, gf, nf, lo, hi, o, fused, 1); break;
                case 8: lb_dots_group_f32(sp, yp, 4, gf, nf, lo, hi, o, fused, 0); break;
                case 7: lb_dots_group_f32(sp, yp, 3, gf, nf, lo, hi, o, fused, 1); break;
                case 6: lb_dots_group_f32(sp, yp, 3, gf, nf, lo, hi, o, fused, 0); break;
                case 5: lb_dots_group_f32(sp, yp, 2, gf, nf, lo, hi, o, fused, 1); break;
                case 4: lb_dots_group_f32(sp, yp, 2, gf, nf, lo, hi, o, fused, 0); break;
                case 3: lb_dots_group_f32(sp, yp, 1, gf, nf, lo, hi, o, fused, 1); break;
                default: lb_dots_group_f32(sp, yp, 1, gf, nf, lo, hi, o, fused, 0); break;
                }
            }
            continue;
        }
        const void *sp[4], *yp[4];
        for (int p = 0; p < np; p++) {
            sp[p] = lb_row(s, slots[k + p], stride, f64);
            yp[p] = lb_row(y, slots[k + p], stride, f64);
        }
        for (long b = 0; b < blocks; b++) {
            long lo = bounds[b], hi = bounds[b + 1];
            // Constant group sizes, so that each instance keeps its accumulators in registers.
            double *o = out + 4 * count * b + 4 * k;
            if (yn) {
                switch (np) {
                case 4: lb_dots_group(sp, yp, 4, g, yn, lo, hi, o, f64, fused, 1); break;
                case 3: lb_dots_group(sp, yp, 3, g, yn, lo, hi, o, f64, fused, 1); break;
                case 2: lb_dots_group(sp, yp, 2, g, yn, lo, hi, o, f64, fused, 1); break;
                default: lb_dots_group(sp, yp, 1, g, yn, lo, hi, o, f64, fused, 1); break;
                }
            } else {
                switch (np) {
                case 4: lb_dots_group(sp, yp, 4, g, yn, lo, hi, o, f64, fused, 0); break;
                case 3: lb_dots_group(sp, yp, 3, g, yn, lo, hi, o, f64, fused, 0); break;
                case 2: lb_dots_group(sp, yp, 2, g, yn, lo, hi, o, f64, fused, 0); break;
                default: lb_dots_group(sp, yp, 1, g, yn, lo, hi, o, f64, fused, 0); break;
                }
            }
        }
    }
}

// Elements per piece of the combination: the piece's Double sums (16 KB) stay in L1 while
// every pair's vectors stream past in runs of 8 KB (512: 2 KB runs, about 8% slower on W4's
// history, which the prefetchers follow less well).
#define LB_BLOCK 2048

LB_INLINE void lb_combine(const void *s, const void *y, long stride, const long *slots, long count, const double *cs,
                          const double *cy, const void *g, double cg, void *d, long lo, long hi, int f64, int fused) {
    double acc[LB_BLOCK] __attribute__((aligned(64)));
    // Pieces from the last to the first, so that a pass that follows one over the same
    // range in ascending order starts on what that one left in the cache.
    for (long b = lo + (hi - lo - 1) / LB_BLOCK * LB_BLOCK; b >= lo && hi > lo; b -= LB_BLOCK) {
        long len = hi - b < LB_BLOCK ? hi - b : LB_BLOCK;
        long j = 0;
        const lb_d8 vcg = (lb_d8)cg;
        for (; j + 8 <= len; j += 8) { lb_d8 v = vcg * lb_load(g, b + j, f64); __builtin_memcpy(acc + j, &v, sizeof v); }
        for (; j < len; j++) acc[j] = cg * lb_elem(g, b + j, f64);
        // Two pairs (four vectors) per sweep over the block, in list order, y before s.
        for (long k = 0; k < count; k += 2) {
            int two = k + 1 < count;
            const void *s0 = lb_row(s, slots[k], stride, f64), *y0 = lb_row(y, slots[k], stride, f64);
            const void *s1 = two ? lb_row(s, slots[k + 1], stride, f64) : s0;
            const void *y1 = two ? lb_row(y, slots[k + 1], stride, f64) : y0;
            const double a0 = cy[k], b0 = cs[k], a1 = two ? cy[k + 1] : 0, b1 = two ? cs[k + 1] : 0;
            const lb_d8 va0 = (lb_d8)a0, vb0 = (lb_d8)b0, va1 = (lb_d8)a1, vb1 = (lb_d8)b1;
            j = 0;
            if (two) {
                for (; j + 8 <= len; j += 8) {
                    lb_d8 v;
                    __builtin_memcpy(&v, acc + j, sizeof v);
                    v = lb_madd(va0, lb_load(y0, b + j, f64), v, fused);
                    v = lb_madd(vb0, lb_load(s0, b + j, f64), v, fused);
                    v = lb_madd(va1, lb_load(y1, b + j, f64), v, fused);
                    v = lb_madd(vb1, lb_load(s1, b + j, f64), v, fused);
                    __builtin_memcpy(acc + j, &v, sizeof v);
                }
                for (; j < len; j++) {
                    double v = acc[j];
                    v = lb_madd1(a0, lb_elem(y0, b + j, f64), v, fused);
                    v = lb_madd1(b0, lb_elem(s0, b + j, f64), v, fused);
                    v = lb_madd1(a1, lb_elem(y1, b + j, f64), v, fused);
                    acc[j] = lb_madd1(b1, lb_elem(s1, b + j, f64), v, fused);
                }
            } else {
                for (; j + 8 <= len; j += 8) {
                    lb_d8 v;
                    __builtin_memcpy(&v, acc + j, sizeof v);
                    v = lb_madd(va0, lb_load(y0, b + j, f64), v, fused);
                    v = lb_madd(vb0, lb_load(s0, b + j, f64), v, fused);
                    __builtin_memcpy(acc + j, &v, sizeof v);
                }
                for (; j < len; j++) {
                    double v = acc[j];
                    v = lb_madd1(a0, lb_elem(y0, b + j, f64), v, fused);
                    acc[j] = lb_madd1(b0, lb_elem(s0, b + j, f64), v, fused);
                }
            }
        }
        if (f64) {
            __builtin_memcpy((double *)d + b, acc, (size_t)len * sizeof(double));
        } else {
            float *out = (float *)d + b;
            j = 0;
            for (; j + 8 <= len; j += 8) {
                lb_d8 v;
                __builtin_memcpy(&v, acc + j, sizeof v);
                lb_f8 f = __builtin_convertvector(v, lb_f8);
                __builtin_memcpy(out + j, &f, sizeof f);
            }
            for (; j < len; j++) out[j] = (float)acc[j];
        }
    }
}

// Float input: the `nv` vectors (at most 8: four pairs' y and s) are summed in float, each
// product fused into the running sum (the first rounded on its own), and that group sum is
// added to the element's double accumulator.
LB_INLINE void lb_combine_group_f32(const float *const *vp, const float *c, int nv, double *acc, long b, long len, int fused) {
    long j = 0;
    for (; j + 16 <= len; j += 16) {
        lb_f16 v, t;
        __builtin_memcpy(&v, vp[0] + b + j, sizeof v);
        t = (lb_f16)c[0] * v;
        for (int q = 1; q < nv; q++) {
            __builtin_memcpy(&v, vp[q] + b + j, sizeof v);
            t = fused ? __builtin_elementwise_fma((lb_f16)c[q], v, t) : (lb_f16)c[q] * v + t;
        }
        lb_d16 a;
        __builtin_memcpy(&a, acc + j, sizeof a);
        a = a + __builtin_convertvector(t, lb_d16);
        __builtin_memcpy(acc + j, &a, sizeof a);
    }
    for (; j < len; j++) {
        float t = c[0] * vp[0][b + j];
        for (int q = 1; q < nv; q++) t = fused ? __builtin_fmaf(c[q], vp[q][b + j], t) : c[q] * vp[q][b + j] + t;
        acc[j] = acc[j] + (double)t;
    }
}

LB_INLINE void lb_combine_f32g(const float *s, const float *y, long stride, const long *slots, long count, const double *cs,
                               const double *cy, const float *g, double cg, float *d, long lo, long hi, int fused) {
    double acc[LB_BLOCK] __attribute__((aligned(64)));
    // Pieces from the last to the first, so that a pass that follows one over the same
    // range in ascending order starts on what that one left in the cache.
    for (long b = lo + (hi - lo - 1) / LB_BLOCK * LB_BLOCK; b >= lo && hi > lo; b -= LB_BLOCK) {
        long len = hi - b < LB_BLOCK ? hi - b : LB_BLOCK;
        long j = 0;
        const lb_d8 vcg = (lb_d8)cg;
        for (; j + 8 <= len; j += 8) { lb_d8 v = vcg * lb_load(g, b + j, 0); __builtin_memcpy(acc + j, &v, sizeof v); }
        for (; j < len; j++) acc[j] = cg * (double)g[b + j];
        for (long k = 0; k < count; k += 4) {
            int np = count - k < 4 ? (int)(count - k) : 4;
            const float *vp[8];
            float c[8];
            for (int p = 0; p < np; p++) {
                vp[2 * p] = y + slots[k + p] * stride;
                c[2 * p] = (float)cy[k + p];
                vp[2 * p + 1] = s + slots[k + p] * stride;
                c[2 * p + 1] = (float)cs[k + p];
            }
            switch (np) {
            case 4: lb_combine_group_f32(vp, c, 8, acc, b, len, fused); break;
            case 3: lb_combine_group_f32(vp, c, 6, acc, b, len, fused); break;
            case 2: lb_combine_group_f32(vp, c, 4, acc, b, len, fused); break;
            default: lb_combine_group_f32(vp, c, 2, acc, b, len, fused); break;
            }
        }
        j = 0;
        for (; j + 8 <= len; j += 8) {
            lb_d8 v;
            __builtin_memcpy(&v, acc + j, sizeof v);
            lb_f8 f = __builtin_convertvector(v, lb_f8);
            __builtin_memcpy(d + b + j, &f, sizeof f);
        }
        for (; j < len; j++) d[b + j] = (float)acc[j];
    }
}

// One instance per instruction set and precision (suffix _f32 or _f64), all constants known.
#define LB_INSTANCES(ATTR, ISA, F64, FUSED, GROUP, SFX)                                                            \
    ATTR static void lb_dots_##ISA##SFX(const void *s, const void *y, long stride, const long *slots, long count,   \
                                        const void *g, const void *yn, const long *bounds, long blocks, double *out) { \
        lb_dots(s, y, stride, slots, count, g, yn, bounds, blocks, out, F64, FUSED, GROUP);                         \
    }                                                                                                               \
    ATTR static void lb_combine_##ISA##SFX(const void *s, const void *y, long stride, const long *slots, long count, \
                                           const double *cs, const double *cy, const void *g, double cg, void *d,   \
                                           long lo, long hi) {                                                      \
        if (F64) lb_combine(s, y, stride, slots, count, cs, cy, g, cg, d, lo, hi, 1, FUSED);                        \
        else lb_combine_f32g(s, y, stride, slots, count, cs, cy, g, cg, d, lo, hi, FUSED);                           \
    }

LB_INSTANCES(, portable, 0, 0, 1, _f32)
LB_INSTANCES(, portable, 1, 0, 1, _f64)
#ifdef OUTPOST_X86
LB_INSTANCES(AVX512, avx512, 0, 1, 4, _f32)
LB_INSTANCES(AVX512, avx512, 1, 1, 4, _f64)
LB_INSTANCES(AVX2, avx2, 0, 1, 1, _f32)
LB_INSTANCES(AVX2, avx2, 1, 1, 1, _f64)
#define LB_DISPATCH(NAME, SFX, ...)                                                       \
    do {                                                                                   \
        if (outpost_cpu_has_avx512()) { NAME##_avx512##SFX(__VA_ARGS__); return; }         \
        if (outpost_cpu_has_avx2_fma()) { NAME##_avx2##SFX(__VA_ARGS__); return; }         \
        NAME##_portable##SFX(__VA_ARGS__);                                                 \
    } while (0)
#else
#define LB_DISPATCH(NAME, SFX, ...) NAME##_portable##SFX(__VA_ARGS__)
#endif

void outpost_lbfgs_dots_f32(const float *s, const float *y, long stride, const long *slots, long count, const float *g,
                            const float *ynew, const long *bounds, long blocks, double *out) {
    LB_DISPATCH(lb_dots, _f32, s, y, stride, slots, count, g, ynew, bounds, blocks, out);
}

void outpost_lbfgs_dots_f64(const double *s, const double *y, long stride, const long *slots, long count, const double *g,
                            const double *ynew, const long *bounds, long blocks, double *out) {
    LB_DISPATCH(lb_dots, _f64, s, y, stride, slots, count, g, ynew, bounds, blocks, out);
}

void outpost_lbfgs_combine_f32(const float *s, const float *y, long stride, const long *slots, long count, const double *cs,
                               const double *cy, const float *g, double cg, float *d, long lo, long hi) {
    LB_DISPATCH(lb_combine, _f32, s, y, stride, slots, count, cs, cy, g, cg, d, lo, hi);
}

void outpost_lbfgs_combine_f64(const double *s, const double *y, long stride, const long *slots, long count, const double *cs,
                               const double *cy, const double *g, double cg, double *d, long lo, long hi) {
    LB_DISPATCH(lb_combine, _f64, s, y, stride, slots, count, cs, cy, g, cg, d, lo, hi);
}

// u[l] -= a·row[slot(l)] (sign -1) or u[l] += a·row[slot(l)] (sign 1) for logical l in [l0, l1).
static void lb_axpy_logical(double *u, long l0, long l1, double a, const double *row, long head, long slots, int sign) {
    long wrap = slots - head;   // logical index of slot 0
    long e1 = l1 < wrap ? l1 : wrap;
    for (int seg = 0; seg < 2; seg++) {
        long from = seg == 0 ? l0 : (l0 > wrap ? l0 : wrap), to = seg == 0 ? e1 : l1;
        if (from >= to) continue;
        const double *r = row + (seg == 0 ? head : -wrap);
        if (sign < 0) { for (long l = from; l < to; l++) u[l] = u[l] - a * r[l]; }
        else { for (long l = from; l < to; l++) u[l] = u[l] + a * r[l]; }
    }
}

void outpost_lbfgs_coefficients(long m, long head, long slots, const double *ro, const double *sy_by_newer,
                                const double *sy_by_older, const double *yy, const double *dots, double hdiag,
                                double *cs, double *cy, double *work) {
    double *alpha = work, *u = work + m, *w = work + 2 * m;
    for (long i = 0; i < m; i++) { u[i] = -dots[4 * i]; w[i] = -dots[4 * i + 1]; }
    for (long i = m - 1; i >= 0; i--) {
        long k = (head + i) % slots;
        double a = ro[k] * u[i];
        alpha[i] = a;
        lb_axpy_logical(u, 0, i, a, sy_by_newer + k * slots, head, slots, -1);
    }
    for (long j = 0; j < m; j++) lb_axpy_logical(w, 0, m, alpha[j], yy + ((head + j) % slots) * slots, head, slots, -1);
    for (long i = 0; i < m; i++) w[i] = w[i] * hdiag;
    for (long i = 0; i < m; i++) {
        long k = (head + i) % slots;
        double c = alpha[i] - ro[k] * w[i];
        cs[i] = c;
        cy[i] = -hdiag * alpha[i];
        lb_axpy_logical(w, i + 1, m, c, sy_by_older + k * slots, head, slots, 1);
    }
}

#pragma clang diagnostic pop

// MARK: Element-wise Float loops
//
// The engine's element-wise loops are Swift, which compiles for baseline x86-64: four-lane
// SSE. The commonest ops of a batch-1 attack run here instead, at the CPU's width. Each
// element is the same single IEEE operation (or, for the sigmoid's derivative, the same
// two products and one subtraction in the same order; contraction is off in this file), so
// results equal the Swift loops'.

#define EW_BINARY(EXPR)                                                                   \
    do {                                                                                  \
        if (a_scalar && b_scalar) {                                                       \
            float x = a[0], z = b[0], v = (EXPR);                                         \
            for (long i = 0; i < n; i++) y[i] = v;                                        \
        } else if (b_scalar) {                                                            \
            float z = b[0];                                                               \
            for (long i = 0; i < n; i++) { float x = a[i]; y[i] = (EXPR); }               \
        } else if (a_scalar) {                                                            \
            float x = a[0];                                                               \
            for (long i = 0; i < n; i++) { float z = b[i]; y[i] = (EXPR); }               \
        } else {                                                                          \
            for (long i = 0; i < n; i++) { float x = a[i], z = b[i]; y[i] = (EXPR); }     \
        }                                                                                 \
    } while (0)

LB_INLINE void ew_binary_body(int op, const float *a, int a_scalar, const float *b, int b_scalar, float *y, long n) {
    switch (op) {
    case OUTPOST_EW_ADD: EW_BINARY(x + z); break;
    case OUTPOST_EW_SUB: EW_BINARY(x - z); break;
    case OUTPOST_EW_MUL: EW_BINARY(x * z); break;
    case OUTPOST_EW_DIV: EW_BINARY(x / z); break;
    default: EW_BINARY(x * z * (1 - z)); break;
    }
}

LB_INLINE void ew_unary_body(int op, float c, const float *x, float *y, long n) {
    switch (op) {
    case OUTPOST_EW_NEG: for (long i = 0; i < n; i++) y[i] = -x[i]; break;
    case OUTPOST_EW_ADD_SCALAR: for (long i = 0; i < n; i++) y[i] = x[i] + c; break;
    case OUTPOST_EW_MUL_SCALAR: for (long i = 0; i < n; i++) y[i] = x[i] * c; break;
    case OUTPOST_EW_RSUB_SCALAR: for (long i = 0; i < n; i++) y[i] = c - x[i]; break;
    default: for (long i = 0; i < n; i++) y[i] = x[i] * x[i]; break;
    }
}

// One instance of NAME##_body per instruction set (NAME##_portable, _avx512, _avx2), for
// LB_DISPATCH to pick at run time.
#ifdef OUTPOST_X86
#define WIDTH_INSTANCES(NAME, PARAMS, ARGS)                          \
    static void NAME##_portable PARAMS { NAME##_body ARGS; }         \
    AVX512 static void NAME##_avx512 PARAMS { NAME##_body ARGS; }    \
    AVX2 static void NAME##_avx2 PARAMS { NAME##_body ARGS; }
#else
#define WIDTH_INSTANCES(NAME, PARAMS, ARGS) static void NAME##_portable PARAMS { NAME##_body ARGS; }
#endif

WIDTH_INSTANCES(ew_binary, (int op, const float *a, int as, const float *b, int bs, float *y, long n), (op, a, as, b, bs, y, n))
WIDTH_INSTANCES(ew_unary, (int op, float c, const float *x, float *y, long n), (op, c, x, y, n))

void outpost_binary_f32(int op, const float *a, int a_scalar, const float *b, int b_scalar, float *y, long n) {
    LB_DISPATCH(ew_binary, , op, a, a_scalar, b, b_scalar, y, n);
}

void outpost_unary_f32(int op, float c, const float *x, float *y, long n) {
    LB_DISPATCH(ew_unary, , op, c, x, y, n);
}

// MARK: SGD with momentum, one pass
//
// PyTorch's single-tensor SGD step, element by element in its order (d = g + wd·p;
// b = b·m + keep·d; p = p − lr·b), in place on p and b: the same operations as three
// separate loops (contraction is off in this file), in one pass at the CPU's width.
LB_INLINE void sgd_momentum_body(float *p, const float *g, float *b, float wd, int decays, float m, float keep, float neg_lr, long n) {
    for (long j = 0; j < n; j++) {
        float d = decays ? g[j] + wd * p[j] : g[j];
        float v = b[j] * m + keep * d;
        b[j] = v;
        p[j] = p[j] + neg_lr * v;
    }
}
WIDTH_INSTANCES(sgd_momentum, (float *p, const float *g, float *b, float wd, int decays, float m, float keep, float neg_lr, long n),
                (p, g, b, wd, decays, m, keep, neg_lr, n))

void outpost_sgd_momentum_f32(float *p, const float *g, float *b, float wd, int decays, float m, float keep, float neg_lr, long n) {
    LB_DISPATCH(sgd_momentum, , p, g, b, wd, decays, m, keep, neg_lr, n);
}
