#include "outpost_simd.h"
#include "cpu_features.h"

#include <stddef.h>

// Inner products of one L-BFGS history vector against two Double vectors (the gradient and
// the newest gradient change, converted once per iteration), for the inner-product form of
// the two-loop recursion (OutpostNN/Optimizers/LBFGSInnerProducts.swift). A Float history
// vector is converted to Double once per element for both products; products and sums are
// in Double.

static void dots_against_f32_scalar(const float *v, const double *a, const double *b, long n, double *va, double *vb) {
    double s0 = 0, s1 = 0, t0 = 0, t1 = 0;
    long j = 0;
    for (; j + 2 <= n; j += 2) {
        double x0 = v[j], x1 = v[j + 1];
        s0 += x0 * a[j]; s1 += x1 * a[j + 1];
        if (b) { t0 += x0 * b[j]; t1 += x1 * b[j + 1]; }
    }
    for (; j < n; j++) {
        s0 += (double)v[j] * a[j];
        if (b) t0 += (double)v[j] * b[j];
    }
    *va = s0 + s1;
    if (b) *vb = t0 + t1;
}

static void dots_against_f64_scalar(const double *v, const double *a, const double *b, long n, double *va, double *vb) {
    double s0 = 0, s1 = 0, t0 = 0, t1 = 0;
    long j = 0;
    for (; j + 2 <= n; j += 2) {
        s0 += v[j] * a[j]; s1 += v[j + 1] * a[j + 1];
        if (b) { t0 += v[j] * b[j]; t1 += v[j + 1] * b[j + 1]; }
    }
    for (; j < n; j++) {
        s0 += v[j] * a[j];
        if (b) t0 += v[j] * b[j];
    }
    *va = s0 + s1;
    if (b) *vb = t0 + t1;
}

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define AVX512 __attribute__((target("avx512f,avx512dq")))

AVX512 static void dots_against_f32_avx512(const float *v, const double *a, const double *b, long n, double *va, double *vb) {
    __m512d s0 = _mm512_setzero_pd(), s1 = s0, t0 = s0, t1 = s0;
    long j = 0;
    if (b) {
        for (; j + 16 <= n; j += 16) {
            __m512 x = _mm512_loadu_ps(v + j);
            __m512d x0 = _mm512_cvtps_pd(_mm512_castps512_ps256(x)), x1 = _mm512_cvtps_pd(_mm512_extractf32x8_ps(x, 1));
            s0 = _mm512_fmadd_pd(x0, _mm512_loadu_pd(a + j), s0);
            s1 = _mm512_fmadd_pd(x1, _mm512_loadu_pd(a + j + 8), s1);
            t0 = _mm512_fmadd_pd(x0, _mm512_loadu_pd(b + j), t0);
            t1 = _mm512_fmadd_pd(x1, _mm512_loadu_pd(b + j + 8), t1);
        }
    } else {
        for (; j + 16 <= n; j += 16) {
            __m512 x = _mm512_loadu_ps(v + j);
            s0 = _mm512_fmadd_pd(_mm512_cvtps_pd(_mm512_castps512_ps256(x)), _mm512_loadu_pd(a + j), s0);
            s1 = _mm512_fmadd_pd(_mm512_cvtps_pd(_mm512_extractf32x8_ps(x, 1)), _mm512_loadu_pd(a + j + 8), s1);
        }
    }
    double s = _mm512_reduce_add_pd(_mm512_add_pd(s0, s1)), t = _mm512_reduce_add_pd(_mm512_add_pd(t0, t1));
    for (; j < n; j++) {
        s += (double)v[j] * a[j];
        if (b) t += (double)v[j] * b[j];
    }
    *va = s;
    if (b) *vb = t;
}

AVX512 static void dots_against_f64_avx512(const double *v, const double *a, const double *b, long n, double *va, double *vb) {
    __m512d s0 = _mm512_setzero_pd(), s1 = s0, t0 = s0, t1 = s0;
    long j = 0;
    for (; j + 16 <= n; j += 16) {
        __m512d x0 = _mm512_loadu_pd(v + j), x1 = _mm512_loadu_pd(v + j + 8);
        s0 = _mm512_fmadd_pd(x0, _mm512_loadu_pd(a + j), s0);
        s1 = _mm512_fmadd_pd(x1, _mm512_loadu_pd(a + j + 8), s1);
        if (b) {
            t0 = _mm512_fmadd_pd(x0, _mm512_loadu_pd(b + j), t0);
            t1 = _mm512_fmadd_pd(x1, _mm512_loadu_pd(b + j + 8), t1);
        }
    }
    double s = _mm512_reduce_add_pd(_mm512_add_pd(s0, s1)), t = _mm512_reduce_add_pd(_mm512_add_pd(t0, t1));
    for (; j < n; j++) {
        s += v[j] * a[j];
        if (b) t += v[j] * b[j];
    }
    *va = s;
    if (b) *vb = t;
}
#define AVX2 __attribute__((target("avx2,fma")))

AVX2 static void dots_against_f32_avx2(const float *v, const double *a, const double *b, long n, double *va, double *vb) {
    __m256d s0 = _mm256_setzero_pd(), s1 = s0, t0 = s0, t1 = s0;
    long j = 0;
    for (; j + 8 <= n; j += 8) {
        __m256 x = _mm256_loadu_ps(v + j);
        __m256d x0 = _mm256_cvtps_pd(_mm256_castps256_ps128(x)), x1 = _mm256_cvtps_pd(_mm256_extractf128_ps(x, 1));
        s0 = _mm256_fmadd_pd(x0, _mm256_loadu_pd(a + j), s0);
        s1 = _mm256_fmadd_pd(x1, _mm256_loadu_pd(a + j + 4), s1);
        if (b) {
            t0 = _mm256_fmadd_pd(x0, _mm256_loadu_pd(b + j), t0);
            t1 = _mm256_fmadd_pd(x1, _mm256_loadu_pd(b + j + 4), t1);
        }
    }
    double sl[4], tl[4];
    _mm256_storeu_pd(sl, _mm256_add_pd(s0, s1));
    _mm256_storeu_pd(tl, _mm256_add_pd(t0, t1));
    double s = (sl[0] + sl[1]) + (sl[2] + sl[3]), t = (tl[0] + tl[1]) + (tl[2] + tl[3]);
    for (; j < n; j++) {
        s += (double)v[j] * a[j];
        if (b) t += (double)v[j] * b[j];
    }
    *va = s;
    if (b) *vb = t;
}

AVX2 static void dots_against_f64_avx2(const double *v, const double *a, const double *b, long n, double *va, double *vb) {
    __m256d s0 = _mm256_setzero_pd(), s1 = s0, t0 = s0, t1 = s0;
    long j = 0;
    for (; j + 8 <= n; j += 8) {
        __m256d x0 = _mm256_loadu_pd(v + j), x1 = _mm256_loadu_pd(v + j + 4);
        s0 = _mm256_fmadd_pd(x0, _mm256_loadu_pd(a + j), s0);
        s1 = _mm256_fmadd_pd(x1, _mm256_loadu_pd(a + j + 4), s1);
        if (b) {
            t0 = _mm256_fmadd_pd(x0, _mm256_loadu_pd(b + j), t0);
            t1 = _mm256_fmadd_pd(x1, _mm256_loadu_pd(b + j + 4), t1);
        }
    }
    double sl[4], tl[4];
    _mm256_storeu_pd(sl, _mm256_add_pd(s0, s1));
    _mm256_storeu_pd(tl, _mm256_add_pd(t0, t1));
    double s = (sl[0] + sl[1]) + (sl[2] + sl[3]), t = (tl[0] + tl[1]) + (tl[2] + tl[3]);
    for (; j < n; j++) {
        s += v[j] * a[j];
        if (b) t += v[j] * b[j];
    }
    *va = s;
    if (b) *vb = t;
}
#define OUTPOST_X86 1
#endif

void outpost_dots_against_f32(const float *v, const double *a, const double *b, long n, double *va, double *vb) {
#ifdef OUTPOST_X86
    if (outpost_cpu_has_avx512()) { dots_against_f32_avx512(v, a, b, n, va, vb); return; }
    if (outpost_cpu_has_avx2_fma()) { dots_against_f32_avx2(v, a, b, n, va, vb); return; }
#endif
    dots_against_f32_scalar(v, a, b, n, va, vb);
}

void outpost_dots_against_f64(const double *v, const double *a, const double *b, long n, double *va, double *vb) {
#ifdef OUTPOST_X86
    if (outpost_cpu_has_avx512()) { dots_against_f64_avx512(v, a, b, n, va, vb); return; }
    if (outpost_cpu_has_avx2_fma()) { dots_against_f64_avx2(v, a, b, n, va, vb); return; }
#endif
    dots_against_f64_scalar(v, a, b, n, va, vb);
}
