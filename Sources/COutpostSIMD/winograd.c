#include "outpost_simd.h"
#include "cpu_features.h"

#include <stdlib.h>
#include <string.h>

// Transforms of Winograd F(2×2, 3×3) convolutions (Float32, 3×3 kernel, stride 1): the
// products between them are 16 matrix products, one per position ξ = 4i + j of a 4×4 tile,
// run by the caller through BLAS.
//
// One output tile is 2×2 pixels at (2ty, 2tx); it reads the 4×4 input patch at padded
// coordinates (2ty, 2tx), i.e. image rows 2ty - pad ..< 2ty - pad + 4. With
//   Bᵀ = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1], G = [1 0 0; ½ ½ ½; ½ -½ ½; 0 0 1],
//   Aᵀ = [1 1 1 0; 0 1 -1 -1]
// the tile is Y = Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A, summed over input channels (cross-correlation,
// as the engine's convolutions). The gradients are the adjoints of each step: the output
// transform's adjoint turns dY into P = A dY Aᵀ, the input transform's adjoint turns
// Q = Σ U ⊙ P back into B Q Bᵀ added into the (padded) input, and the weight transform's
// adjoint turns dU into Gᵀ dU G.
//
// Matrices between the steps are 16 matrices [channels][ld], xs elements apart (ξ-major,
// tiles contiguous; tile t = (image·th + ty)·tw + tx). The caller keeps xs off multiples
// of large powers of two: the transforms read or write the 16 matrices side by side, and
// 16 streams a power of two apart fall into the same cache sets (measured: the forward of a
// 512→512 layer on a 4×4 image took 21 ms with xs = 512·512, 4 ms with one line more).
// Every loop below runs along tx, unit stride in the tile matrices; the strided reads and
// writes of image rows go through a padded row buffer, so the compiler vectorizes them (the
// AVX2 builds of the same loops run where the CPU has it).

// One padded image row (image columns at pad.., zeros elsewhere), 2*tw + 2 wide.
static inline __attribute__((always_inline)) void padded_row(const float *src, long w, long pad, long width, float *row) {
    memset(row, 0, sizeof(float) * (size_t)width);
    if (!src) return;
    long count = w < width - pad ? w : width - pad;
    if (count > 0) memcpy(row + pad, src, sizeof(float) * (size_t)count);
}

// Input transform: V[ξ][c][t] = (Bᵀ d B)[ξ] for channels c0..<c1 and tile rows r0..<r1
// (r = image·th + ty; tile (r, tx) in column (r − r0)·tw + tx).
static inline __attribute__((always_inline)) void input_body(const outpost_wino_shape *s, const float *x, float *v, long ldv, long xs,
                                                             long c0, long c1, long r0, long r1, float *scratch) {
    const long tw = s->tw, width = 2 * tw + 2;
    float *row = scratch;            // width
    float *r = row + width;          // 16 * tw: row transforms of the tile row's 4 input rows
    for (long c = c0; c < c1; c++)
        for (long tr = r0; tr < r1; tr++) {
            long img = tr / s->th, ty = tr % s->th;
            const float *plane = x + (img * s->cin + c) * s->h * s->w;
            for (long k = 0; k < 4; k++) {
                long y = 2 * ty + k - s->pad;
                padded_row(y >= 0 && y < s->h ? plane + y * s->w : NULL, s->w, s->pad, width, row);
                float *q0 = r + (4 * k) * tw, *q1 = q0 + tw, *q2 = q1 + tw, *q3 = q2 + tw;
                for (long tx = 0; tx < tw; tx++) {
                    float d0 = row[2 * tx], d1 = row[2 * tx + 1], d2 = row[2 * tx + 2], d3 = row[2 * tx + 3];
                    q0[tx] = d0 - d2;
                    q1[tx] = d1 + d2;
                    q2[tx] = d2 - d1;
                    q3[tx] = d1 - d3;
                }
            }
            long t0 = (tr - r0) * tw;
            for (long j = 0; j < 4; j++) {
                const float *a = r + j * tw, *b = r + (4 + j) * tw, *cc = r + (8 + j) * tw, *d = r + (12 + j) * tw;
                float *v0 = v + (0 + j) * xs + c * ldv + t0;
                float *v1 = v + (4 + j) * xs + c * ldv + t0;
                float *v2 = v + (8 + j) * xs + c * ldv + t0;
                float *v3 = v + (12 + j) * xs + c * ldv + t0;
                for (long tx = 0; tx < tw; tx++) {
                    v0[tx] = a[tx] - cc[tx];
                    v1[tx] = b[tx] + cc[tx];
                    v2[tx] = cc[tx] - b[tx];
                    v3[tx] = b[tx] - d[tx];
                }
            }
        }
}

// Writes one segment's accumulated rows (`rows` padded rows `width` wide, the first at padded
// row `top`) into one channel's plane of dx. Rows the segment alone covers are written. When
// `shares_top`, its first two rows belong also to the tile row before the segment: they are
// added to dx, or written to `edge` (two rows of w) when given, for the caller to add later.
static inline __attribute__((always_inline)) void store_segment(const outpost_wino_shape *s, const float *acc, long width, long rows,
                                                                long top, int shares_top, float *edge, float *plane) {
    long count = s->w < width - s->pad ? s->w : width - s->pad;
    for (long k = 0; k < rows; k++) {
        long y = top + k - s->pad;
        if (y < 0 || y >= s->h) continue;
        const float *src = acc + k * width + s->pad;
        float *dst = plane + y * s->w;
        if (k < 2 && shares_top) {
            if (edge) {
                float *e = edge + k * s->w;
                memcpy(e, src, sizeof(float) * (size_t)count);
                if (count < s->w) memset(e + count, 0, sizeof(float) * (size_t)(s->w - count));
            } else {
                for (long i = 0; i < count; i++) dst[i] += src[i];
            }
        } else {
            memcpy(dst, src, sizeof(float) * (size_t)count);
            if (count < s->w) memset(dst + count, 0, sizeof(float) * (size_t)(s->w - count));
        }
    }
}

// Adjoint of the input transform for channels c0..<c1 and tile rows r0..<r1, from Q[ξ][c][t]
// (columns as in the input transform). Tile rows ty and ty + 1 of an image share two input
// rows. Rows this call's tiles alone cover are written; the two rows a segment of tile rows
// shares with the tile row before it (ty0 > 0) are added to dx, so calls on consecutive row
// ranges must run in order, except that when `edge` is not NULL the shared rows of the first
// segment go to edge[(c − c0)·2·w ...] instead (written), for the caller to add after calls
// on other threads have finished.
static inline __attribute__((always_inline)) void input_adjoint_body(const outpost_wino_shape *s, const float *q, long ldq, long xs, float *dx,
                                                                     long c0, long c1, long r0, long r1, float *edge, float *scratch) {
    const long tw = s->tw, width = 2 * tw + 2;
    float *r = scratch;                // 16 * tw
    float *acc = r + 16 * tw;          // (2 * th + 2) * width: padded rows of one segment
    for (long c = c0; c < c1; c++)
        for (long seg = r0; seg < r1;) {
            long img = seg / s->th, ty0 = seg % s->th;
            long ty1 = s->th < ty0 + (r1 - seg) ? s->th : ty0 + (r1 - seg);
            long rows = 2 * (ty1 - ty0) + 2;
            memset(acc, 0, sizeof(float) * (size_t)(rows * width));
            for (long ty = ty0; ty < ty1; ty++) {
                long t0 = (img * s->th + ty - r0) * tw;
                // Adjoint of the column step: row k's row-transform cotangents, per j.
                for (long j = 0; j < 4; j++) {
                    const float *q0 = q + (0 + j) * xs + c * ldq + t0;
                    const float *q1 = q + (4 + j) * xs + c * ldq + t0;
                    const float *q2 = q + (8 + j) * xs + c * ldq + t0;
                    const float *q3 = q + (12 + j) * xs + c * ldq + t0;
                    float *a = r + j * tw, *b = r + (4 + j) * tw, *cc = r + (8 + j) * tw, *d = r + (12 + j) * tw;
                    for (long tx = 0; tx < tw; tx++) {
                        a[tx] = q0[tx];
                        b[tx] = q1[tx] - q2[tx] + q3[tx];
                        cc[tx] = q2[tx] + q1[tx] - q0[tx];
                        d[tx] = -q3[tx];
                    }
                }
                // Adjoint of the row step, added into the segment's rows 2(ty − ty0) + k; the
                // two halves of a tile's columns go in two passes so no pass reads its own stores.
                for (long k = 0; k < 4; k++) {
                    float *row = acc + (2 * (ty - ty0) + k) * width;
                    const float *p0 = r + (4 * k) * tw, *p1 = p0 + tw, *p2 = p1 + tw, *p3 = p2 + tw;
                    for (long tx = 0; tx < tw; tx++) {
                        row[2 * tx] += p0[tx];
                        row[2 * tx + 1] += p1[tx] - p2[tx] + p3[tx];
                    }
                    for (long tx = 0; tx < tw; tx++) {
                        row[2 * tx + 2] += p2[tx] + p1[tx] - p0[tx];
                        row[2 * tx + 3] -= p3[tx];
                    }
                }
            }
            store_segment(s, acc, width, rows, 2 * ty0, ty0 > 0, edge && seg == r0 ? edge + (c - c0) * 2 * s->w : NULL,
                          dx + (img * s->cin + c) * s->h * s->w);
            seg += ty1 - ty0;
        }
}

// Output transform: y for output channels o0..<o1 and tile rows r0..<r1 from M[ξ][o][t].
static inline __attribute__((always_inline)) void output_body(const outpost_wino_shape *s, const float *m, long ldm, long xs, float *y,
                                                              long o0, long o1, long r0, long r1, float *scratch) {
    const long tw = s->tw;
    float *s0 = scratch, *s1 = s0 + 4 * tw;   // Aᵀ M, rows 0 and 1, per j
    float *out = s1 + 4 * tw;                 // one output row, 2*tw wide
    for (long o = o0; o < o1; o++)
        for (long tr = r0; tr < r1; tr++) {
            long img = tr / s->th, ty = tr % s->th;
            float *plane = y + (img * s->cout + o) * s->oh * s->ow;
            long t0 = (tr - r0) * tw;
            for (long j = 0; j < 4; j++) {
                const float *m0 = m + (0 + j) * xs + o * ldm + t0;
                const float *m1 = m + (4 + j) * xs + o * ldm + t0;
                const float *m2 = m + (8 + j) * xs + o * ldm + t0;
                const float *m3 = m + (12 + j) * xs + o * ldm + t0;
                float *a = s0 + j * tw, *b = s1 + j * tw;
                for (long tx = 0; tx < tw; tx++) {
                    a[tx] = m0[tx] + m1[tx] + m2[tx];
                    b[tx] = m1[tx] - m2[tx] - m3[tx];
                }
            }
            for (long a = 0; a < 2; a++) {
                long yy = 2 * ty + a;
                if (yy >= s->oh) break;
                const float *z = a == 0 ? s0 : s1;
                const float *z0 = z, *z1 = z + tw, *z2 = z + 2 * tw, *z3 = z + 3 * tw;
                for (long tx = 0; tx < tw; tx++) {
                    out[2 * tx] = z0[tx] + z1[tx] + z2[tx];
                    out[2 * tx + 1] = z1[tx] - z2[tx] - z3[tx];
                }
                memcpy(plane + yy * s->ow, out, sizeof(float) * (size_t)s->ow);
            }
        }
}

// Adjoint of the output transform: P[ξ][o][t] = (A dY Aᵀ)[ξ] for output channels o0..<o1 and
// tile rows r0..<r1 (pixels past the output's last row or column count as zero).
static inline __attribute__((always_inline)) void output_adjoint_body(const outpost_wino_shape *s, const float *gy, float *p, long ldp, long xs,
                                                                      long o0, long o1, long r0, long r1, float *scratch) {
    const long tw = s->tw;
    float *in = scratch;                      // one cotangent row, 2*tw wide (zero padded)
    float *z = in + 2 * tw;                   // 8 * tw: rows a = 0, 1 of dY Aᵀ, per j
    for (long o = o0; o < o1; o++)
        for (long tr = r0; tr < r1; tr++) {
            long img = tr / s->th, ty = tr % s->th;
            const float *plane = gy + (img * s->cout + o) * s->oh * s->ow;
            for (long a = 0; a < 2; a++) {
                long yy = 2 * ty + a;
                if (yy < s->oh) {
                    memcpy(in, plane + yy * s->ow, sizeof(float) * (size_t)s->ow);
                    if (s->ow < 2 * tw) in[s->ow] = 0;
                } else {
                    memset(in, 0, sizeof(float) * (size_t)(2 * tw));
                }
                float *z0 = z + (4 * a) * tw, *z1 = z0 + tw, *z2 = z1 + tw, *z3 = z2 + tw;
                for (long tx = 0; tx < tw; tx++) {
                    float e = in[2 * tx], f = in[2 * tx + 1];
                    z0[tx] = e;
                    z1[tx] = e + f;
                    z2[tx] = e - f;
                    z3[tx] = -f;
                }
            }
            long t0 = (tr - r0) * tw;
            for (long j = 0; j < 4; j++) {
                const float *e = z + j * tw, *f = z + (4 + j) * tw;
                float *p0 = p + (0 + j) * xs + o * ldp + t0;
                float *p1 = p + (4 + j) * xs + o * ldp + t0;
                float *p2 = p + (8 + j) * xs + o * ldp + t0;
                float *p3 = p + (12 + j) * xs + o * ldp + t0;
                for (long tx = 0; tx < tw; tx++) {
                    p0[tx] = e[tx];
                    p1[tx] = e[tx] + f[tx];
                    p2[tx] = e[tx] - f[tx];
                    p3[tx] = -f[tx];
                }
            }
        }
}

// Weight transform: U[ξ][o][c] = (G g Gᵀ)[ξ] for output channels o0..<o1.
static inline __attribute__((always_inline)) void weight_body(const outpost_wino_shape *s, const float *w, float *u, long xs, long o0, long o1) {
    const long stride = xs;
    for (long o = o0; o < o1; o++)
        for (long c = 0; c < s->cin; c++) {
            const float *g = w + (o * s->cin + c) * 9;
            float t[4][3];
            for (long j = 0; j < 3; j++) {
                float g0 = g[j], g1 = g[3 + j], g2 = g[6 + j];
                t[0][j] = g0;
                t[1][j] = 0.5f * (g0 + g1 + g2);
                t[2][j] = 0.5f * (g0 - g1 + g2);
                t[3][j] = g2;
            }
            float *dst = u + o * s->cin + c;
            for (long i = 0; i < 4; i++) {
                float g0 = t[i][0], g1 = t[i][1], g2 = t[i][2];
                dst[(4 * i + 0) * stride] = g0;
                dst[(4 * i + 1) * stride] = 0.5f * (g0 + g1 + g2);
                dst[(4 * i + 2) * stride] = 0.5f * (g0 - g1 + g2);
                dst[(4 * i + 3) * stride] = g2;
            }
        }
}

// Adjoint of the weight transform: dw (written) for output channels o0..<o1 from dU[ξ][o][c].
static inline __attribute__((always_inline)) void weight_adjoint_body(const outpost_wino_shape *s, const float *du, long xs, float *dw, long o0, long o1) {
    const long stride = xs;
    for (long o = o0; o < o1; o++)
        for (long c = 0; c < s->cin; c++) {
            const float *src = du + o * s->cin + c;
            float t[4][3];
            for (long i = 0; i < 4; i++) {
                float d0 = src[(4 * i + 0) * stride], d1 = src[(4 * i + 1) * stride];
                float d2 = src[(4 * i + 2) * stride], d3 = src[(4 * i + 3) * stride];
                t[i][0] = d0 + 0.5f * (d1 + d2);
                t[i][1] = 0.5f * (d1 - d2);
                t[i][2] = 0.5f * (d1 + d2) + d3;
            }
            float *g = dw + (o * s->cin + c) * 9;
            for (long j = 0; j < 3; j++) {
                float d0 = t[0][j], d1 = t[1][j], d2 = t[2][j], d3 = t[3][j];
                g[j] = d0 + 0.5f * (d1 + d2);
                g[3 + j] = 0.5f * (d1 - d2);
                g[6 + j] = 0.5f * (d1 + d2) + d3;
            }
        }
}

// Transforms of Winograd F(4×4, 3×3), the same contracts as the F(2×2, 3×3) ones above with
// 6×6 input tiles, 4×4 output tiles and 36 matrices ξ = 6i + j. Interpolation points
// 0, ±2/3, ±3/2, ∞ (not Lavin & Gray's 0, ±1, ±2, ∞): with the polynomials' values at
// 2/3 and 3/2 the transforms rescale terms by less before they cancel, and Float32 results
// land 4x closer to exact ones: worst relative error over WinogradConvolutionTests' F(4,3)
// shapes 3.6e-6, against 1.42e-5 with 0, ±1, ±2, ∞ and 9.8e-7 for F(2,3). Chosen by
// simulating the three kernels in Float32 for the 10,626 sets of four nonzero points from
// ±{1/4, 1/3, 1/2, 2/3, 3/4, 1, 5/4, 4/3, 3/2, 2, 5/2, 3}: the sets of the form ±c, ±1/c
// around c = 3/2 came first (within the simulation's noise of each other), 2.5x below
// Lavin & Gray's on average; ±1/2, ±2 or 1, −1, 2, −1/2 gained 1.5–1.8x. Most of what is
// left is the rounding of the products' long sums (BLAS), which the output transform
// amplifies; the transforms' own roundings are a tenth of it, so the order of their sums
// matters little. Rows and columns are scaled so that Aᵀ and Bᵀ hold Float32 numbers
// exactly, G takes the rest:
//   Bᵀ = [36 0 -97 0 36 0; 0 -18 -27 8 12 0; 0 18 -27 -8 12 0; 0 -12 -8 27 18 0;
//         0 12 -8 -27 18 0; 0 36 0 -97 0 36],
//   G  = [1/36 0 0; -9/585 -6/585 -4/585; -9/585 6/585 -4/585; 4/585 6/585 9/585;
//         4/585 -6/585 9/585; 0 0 1/36],
//   Aᵀ = [1 27/8 27/8 1 1 0; 0 9/4 -9/4 3/2 -3/2 0; 0 3/2 3/2 9/4 9/4 0; 0 1 -1 27/8 -27/8 1]
// (columns 1, 2 of Aᵀ are the powers of ∓2/3 times 27/8; Bᵀ's rows are 36, 12, 12, 18, 18,
// 36 times those of the unscaled construction, G's rows divided to match). Checked in
// Python with exact rationals: Aᵀ[(G g) ⊙ (Bᵀ d)] is the correlation of d with g.
// Output tile (ty, tx) is 4×4 pixels at (4ty, 4tx) and reads the 6×6 input patch at padded
// coordinates (4ty, 4tx); consecutive tiles share two input rows (and columns). 36 products
// per 16 outputs where F(2,3) has 64.

// The 1-D steps, each applied along rows and then along columns: Bᵀ d, its adjoint B p,
// Aᵀ m, its adjoint A e, G g and its adjoint Gᵀ d. Shared terms are formed once.
static inline __attribute__((always_inline)) void bt6(float d0, float d1, float d2, float d3, float d4, float d5, float o[6]) {
    float a = 12.0f * d4 - 27.0f * d2, b = 8.0f * d3 - 18.0f * d1;
    float c = 18.0f * d4 - 8.0f * d2, e = 27.0f * d3 - 12.0f * d1;
    o[0] = 36.0f * (d0 + d4) - 97.0f * d2;
    o[1] = a + b;
    o[2] = a - b;
    o[3] = c + e;
    o[4] = c - e;
    o[5] = 36.0f * (d1 + d5) - 97.0f * d3;
}

static inline __attribute__((always_inline)) void b6(float p0, float p1, float p2, float p3, float p4, float p5, float o[6]) {
    float s12 = p1 + p2, d21 = p2 - p1, s34 = p3 + p4, d43 = p4 - p3;
    o[0] = 36.0f * p0;
    o[1] = 18.0f * d21 + 12.0f * d43 + 36.0f * p5;
    o[2] = -97.0f * p0 - 27.0f * s12 - 8.0f * s34;
    o[3] = -8.0f * d21 - 27.0f * d43 - 97.0f * p5;
    o[4] = 36.0f * p0 + 12.0f * s12 + 18.0f * s34;
    o[5] = 36.0f * p5;
}

static inline __attribute__((always_inline)) void at6(float m0, float m1, float m2, float m3, float m4, float m5, float o[4]) {
    float s12 = m1 + m2, d12 = m1 - m2, s34 = m3 + m4, d34 = m3 - m4;
    o[0] = m0 + 3.375f * s12 + s34;
    o[1] = 2.25f * d12 + 1.5f * d34;
    o[2] = 1.5f * s12 + 2.25f * s34;
    o[3] = d12 + 3.375f * d34 + m5;
}

static inline __attribute__((always_inline)) void a6(float e0, float e1, float e2, float e3, float o[6]) {
    float p = 3.375f * e0 + 1.5f * e2, q = 2.25f * e1 + e3;
    float r = e0 + 2.25f * e2, t = 1.5f * e1 + 3.375f * e3;
    o[0] = e0;
    o[1] = p + q;
    o[2] = p - q;
    o[3] = r + t;
    o[4] = r - t;
    o[5] = e3;
}

// G and Gᵀ in Float64 (their entries 1/36, 1/65, 2/195, 4/585 are not Float32 numbers, and
// the weight transforms are a small part of the work): U and dw round once, when stored.
// Multiplying by the reciprocals (rounded in Float64) instead of dividing keeps the scalar
// loops short; the difference is far below Float32's rounding.
static const double r36 = 1.0 / 36.0, r585 = 1.0 / 585.0;

static inline __attribute__((always_inline)) void g6(double g0, double g1, double g2, double o[6]) {
    double p = 9.0 * g0 + 4.0 * g2, q = 4.0 * g0 + 9.0 * g2, h = 6.0 * g1;
    o[0] = g0 * r36;
    o[1] = -(p + h) * r585;
    o[2] = -(p - h) * r585;
    o[3] = (q + h) * r585;
    o[4] = (q - h) * r585;
    o[5] = g2 * r36;
}

static inline __attribute__((always_inline)) void gt6(const double d[6], double o[3]) {
    double s12 = d[1] + d[2], s34 = d[3] + d[4];
    o[0] = d[0] * r36 + (4.0 * s34 - 9.0 * s12) * r585;
    o[1] = 6.0 * ((d[2] - d[1]) + (d[3] - d[4])) * r585;
    o[2] = (9.0 * s34 - 4.0 * s12) * r585 + d[5] * r36;
}

// Input transform: V[ξ][c][t] = (Bᵀ d B)[ξ] for channels c0..<c1 and tile rows r0..<r1.
static inline __attribute__((always_inline)) void input43_body(const outpost_wino_shape *s, const float *x, float *v, long ldv, long xs,
                                                               long c0, long c1, long r0, long r1, float *scratch) {
    const long tw = s->tw, width = 4 * tw + 2;
    float *row = scratch;            // width
    float *r = row + width;          // 36 * tw: Bᵀ along each of the tile row's 6 input rows
    for (long c = c0; c < c1; c++)
        for (long tr = r0; tr < r1; tr++) {
            long img = tr / s->th, ty = tr % s->th;
            const float *plane = x + (img * s->cin + c) * s->h * s->w;
            for (long k = 0; k < 6; k++) {
                long y = 4 * ty + k - s->pad;
                padded_row(y >= 0 && y < s->h ? plane + y * s->w : NULL, s->w, s->pad, width, row);
                float *q = r + 6 * k * tw;
                for (long tx = 0; tx < tw; tx++) {
                    const float *d = row + 4 * tx;
                    float o[6];
                    bt6(d[0], d[1], d[2], d[3], d[4], d[5], o);
                    for (long j = 0; j < 6; j++) q[j * tw + tx] = o[j];
                }
            }
            long t0 = (tr - r0) * tw;
            for (long j = 0; j < 6; j++) {
                const float *q = r + j * tw;
                float *dst = v + j * xs + c * ldv + t0;
                for (long tx = 0; tx < tw; tx++) {
                    float o[6];
                    bt6(q[tx], q[6 * tw + tx], q[12 * tw + tx], q[18 * tw + tx], q[24 * tw + tx], q[30 * tw + tx], o);
                    for (long i = 0; i < 6; i++) dst[6 * i * xs + tx] = o[i];
                }
            }
        }
}

// Adjoint of the input transform, as input_adjoint_body: tile rows ty and ty + 1 share two
// input rows, which go to dx (added) or to `edge` (written) by the same rule.
static inline __attribute__((always_inline)) void input_adjoint43_body(const outpost_wino_shape *s, const float *q, long ldq, long xs, float *dx,
                                                                       long c0, long c1, long r0, long r1, float *edge, float *scratch) {
    const long tw = s->tw, width = 4 * tw + 2;
    float *r = scratch;                // 36 * tw
    float *acc = r + 36 * tw;          // (4 * th + 2) * width: padded rows of one segment
    for (long c = c0; c < c1; c++)
        for (long seg = r0; seg < r1;) {
            long img = seg / s->th, ty0 = seg % s->th;
            long ty1 = s->th < ty0 + (r1 - seg) ? s->th : ty0 + (r1 - seg);
            long rows = 4 * (ty1 - ty0) + 2;
            memset(acc, 0, sizeof(float) * (size_t)(rows * width));
            for (long ty = ty0; ty < ty1; ty++) {
                long t0 = (img * s->th + ty - r0) * tw;
                // Adjoint of the column step: r[(6k + j)·tw + tx] is row k's cotangent at j.
                for (long j = 0; j < 6; j++) {
                    const float *src = q + j * xs + c * ldq + t0;
                    float *dst = r + j * tw;
                    for (long tx = 0; tx < tw; tx++) {
                        float o[6];
                        b6(src[tx], src[6 * xs + tx], src[12 * xs + tx], src[18 * xs + tx], src[24 * xs + tx], src[30 * xs + tx], o);
                        for (long k = 0; k < 6; k++) dst[6 * k * tw + tx] = o[k];
                    }
                }
                // Adjoint of the row step into the segment's rows 4(ty − ty0) + k: columns
                // 4tx..4tx+3 first, then the two each tile shares with the next, so no pass
                // reads its own stores. The first pass parks those two in the slots of p it
                // has just read (p4, p5: each tx reads its own column before writing it).
                for (long k = 0; k < 6; k++) {
                    float *row = acc + (4 * (ty - ty0) + k) * width;
                    float *p = r + 6 * k * tw, *p4 = p + 4 * tw, *p5 = p + 5 * tw;
                    for (long tx = 0; tx < tw; tx++) {
                        float o[6];
                        b6(p[tx], p[tw + tx], p[2 * tw + tx], p[3 * tw + tx], p4[tx], p5[tx], o);
                        for (long l = 0; l < 4; l++) row[4 * tx + l] += o[l];
                        p4[tx] = o[4];
                        p5[tx] = o[5];
                    }
                    for (long tx = 0; tx < tw; tx++) {
                        row[4 * tx + 4] += p4[tx];
                        row[4 * tx + 5] += p5[tx];
                    }
                }
            }
            store_segment(s, acc, width, rows, 4 * ty0, ty0 > 0, edge && seg == r0 ? edge + (c - c0) * 2 * s->w : NULL,
                          dx + (img * s->cin + c) * s->h * s->w);
            seg += ty1 - ty0;
        }
}

// Output transform: y for output channels o0..<o1 and tile rows r0..<r1 from M[ξ][o][t].
static inline __attribute__((always_inline)) void output43_body(const outpost_wino_shape *s, const float *m, long ldm, long xs, float *y,
                                                                long o0, long o1, long r0, long r1, float *scratch) {
    const long tw = s->tw;
    float *z = scratch;               // 24 * tw: Aᵀ M, z[(6a + j)·tw + tx]
    float *out = z + 24 * tw;         // one output row, 4*tw wide
    for (long o = o0; o < o1; o++)
        for (long tr = r0; tr < r1; tr++) {
            long img = tr / s->th, ty = tr % s->th;
            float *plane = y + (img * s->cout + o) * s->oh * s->ow;
            long t0 = (tr - r0) * tw;
            for (long j = 0; j < 6; j++) {
                const float *src = m + j * xs + o * ldm + t0;
                float *dst = z + j * tw;
                for (long tx = 0; tx < tw; tx++) {
                    float e[4];
                    at6(src[tx], src[6 * xs + tx], src[12 * xs + tx], src[18 * xs + tx], src[24 * xs + tx], src[30 * xs + tx], e);
                    for (long a = 0; a < 4; a++) dst[6 * a * tw + tx] = e[a];
                }
            }
            for (long a = 0; a < 4; a++) {
                long yy = 4 * ty + a;
                if (yy >= s->oh) break;
                const float *za = z + 6 * a * tw;
                for (long tx = 0; tx < tw; tx++) {
                    float e[4];
                    at6(za[tx], za[tw + tx], za[2 * tw + tx], za[3 * tw + tx], za[4 * tw + tx], za[5 * tw + tx], e);
                    for (long b = 0; b < 4; b++) out[4 * tx + b] = e[b];
                }
                memcpy(plane + yy * s->ow, out, sizeof(float) * (size_t)s->ow);
            }
        }
}

// Adjoint of the output transform: P[ξ][o][t] = (A dY Aᵀ)[ξ] for output channels o0..<o1 and
// tile rows r0..<r1 (pixels past the output's last row or column count as zero).
static inline __attribute__((always_inline)) void output_adjoint43_body(const outpost_wino_shape *s, const float *gy, float *p, long ldp, long xs,
                                                                        long o0, long o1, long r0, long r1, float *scratch) {
    const long tw = s->tw;
    float *in = scratch;              // one cotangent row, 4*tw wide (zero padded)
    float *z = in + 4 * tw;           // 24 * tw: dY A along rows a = 0..3, z[(6a + j)·tw + tx]
    for (long o = o0; o < o1; o++)
        for (long tr = r0; tr < r1; tr++) {
            long img = tr / s->th, ty = tr % s->th;
            const float *plane = gy + (img * s->cout + o) * s->oh * s->ow;
            for (long a = 0; a < 4; a++) {
                long yy = 4 * ty + a;
                if (yy < s->oh) {
                    memcpy(in, plane + yy * s->ow, sizeof(float) * (size_t)s->ow);
                    if (s->ow < 4 * tw) memset(in + s->ow, 0, sizeof(float) * (size_t)(4 * tw - s->ow));
                } else {
                    memset(in, 0, sizeof(float) * (size_t)(4 * tw));
                }
                float *za = z + 6 * a * tw;
                for (long tx = 0; tx < tw; tx++) {
                    const float *e = in + 4 * tx;
                    float o6[6];
                    a6(e[0], e[1], e[2], e[3], o6);
                    for (long j = 0; j < 6; j++) za[j * tw + tx] = o6[j];
                }
            }
            long t0 = (tr - r0) * tw;
            for (long j = 0; j < 6; j++) {
                const float *zj = z + j * tw;
                float *dst = p + j * xs + o * ldp + t0;
                for (long tx = 0; tx < tw; tx++) {
                    float o6[6];
                    a6(zj[tx], zj[6 * tw + tx], zj[12 * tw + tx], zj[18 * tw + tx], o6);
                    for (long i = 0; i < 6; i++) dst[6 * i * xs + tx] = o6[i];
                }
            }
        }
}

// Weight transform: U[ξ][o][c] = (G g Gᵀ)[ξ] for output channels o0..<o1.
static inline __attribute__((always_inline)) void weight43_body(const outpost_wino_shape *s, const float *w, float *u, long xs, long o0, long o1) {
    for (long o = o0; o < o1; o++)
        for (long c = 0; c < s->cin; c++) {
            const float *g = w + (o * s->cin + c) * 9;
            double t[3][6];   // G g, column j of g in t[j]
            for (long j = 0; j < 3; j++) g6(g[j], g[3 + j], g[6 + j], t[j]);
            float *dst = u + o * s->cin + c;
            for (long i = 0; i < 6; i++) {
                double row[6];
                g6(t[0][i], t[1][i], t[2][i], row);
                for (long j = 0; j < 6; j++) dst[(6 * i + j) * xs] = (float)row[j];
            }
        }
}

// Adjoint of the weight transform: dw (written) for output channels o0..<o1 from dU[ξ][o][c].
static inline __attribute__((always_inline)) void weight_adjoint43_body(const outpost_wino_shape *s, const float *du, long xs, float *dw, long o0, long o1) {
    for (long o = o0; o < o1; o++)
        for (long c = 0; c < s->cin; c++) {
            const float *src = du + o * s->cin + c;
            double t[6][3];   // dU G, per row i
            for (long i = 0; i < 6; i++) {
                double d[6];
                for (long j = 0; j < 6; j++) d[j] = src[(6 * i + j) * xs];
                gt6(d, t[i]);
            }
            float *g = dw + (o * s->cin + c) * 9;
            for (long j = 0; j < 3; j++) {
                double d[6] = {t[0][j], t[1][j], t[2][j], t[3][j], t[4][j], t[5][j]}, col[3];
                gt6(d, col);
                g[j] = (float)col[0];
                g[3 + j] = (float)col[1];
                g[6 + j] = (float)col[2];
            }
        }
}

#if defined(__x86_64__) || defined(_M_X64)
#define WINO_X86 1
#define WINO_AVX2 __attribute__((target("avx2,fma")))
#endif

// Each transform compiled twice: generic (SSE2 on x86-64) and AVX2, chosen at run time.
#ifdef WINO_X86
#define DISPATCH(name, params, args)                                                  \
    static void name##_generic params { name##_body args; }                           \
    WINO_AVX2 static void name##_avx2 params { name##_body args; }                    \
    static void name##_run params {                                                   \
        if (outpost_cpu_has_avx2_fma()) name##_avx2 args; else name##_generic args;   \
    }
#else
#define DISPATCH(name, params, args) \
    static void name##_run params { name##_body args; }
#endif

DISPATCH(input, (const outpost_wino_shape *s, const float *x, float *v, long ldv, long xs, long c0, long c1, long r0, long r1, float *scratch),
         (s, x, v, ldv, xs, c0, c1, r0, r1, scratch))
DISPATCH(input_adjoint, (const outpost_wino_shape *s, const float *q, long ldq, long xs, float *dx, long c0, long c1, long r0, long r1,
                         float *edge, float *scratch),
         (s, q, ldq, xs, dx, c0, c1, r0, r1, edge, scratch))
DISPATCH(output, (const outpost_wino_shape *s, const float *m, long ldm, long xs, float *y, long o0, long o1, long r0, long r1, float *scratch),
         (s, m, ldm, xs, y, o0, o1, r0, r1, scratch))
DISPATCH(output_adjoint, (const outpost_wino_shape *s, const float *gy, float *p, long ldp, long xs, long o0, long o1, long r0, long r1,
                          float *scratch),
         (s, gy, p, ldp, xs, o0, o1, r0, r1, scratch))
DISPATCH(weight, (const outpost_wino_shape *s, const float *w, float *u, long xs, long o0, long o1), (s, w, u, xs, o0, o1))
DISPATCH(weight_adjoint, (const outpost_wino_shape *s, const float *du, long xs, float *dw, long o0, long o1), (s, du, xs, dw, o0, o1))
DISPATCH(input43, (const outpost_wino_shape *s, const float *x, float *v, long ldv, long xs, long c0, long c1, long r0, long r1, float *scratch),
         (s, x, v, ldv, xs, c0, c1, r0, r1, scratch))
DISPATCH(input_adjoint43, (const outpost_wino_shape *s, const float *q, long ldq, long xs, float *dx, long c0, long c1, long r0, long r1,
                           float *edge, float *scratch),
         (s, q, ldq, xs, dx, c0, c1, r0, r1, edge, scratch))
DISPATCH(output43, (const outpost_wino_shape *s, const float *m, long ldm, long xs, float *y, long o0, long o1, long r0, long r1, float *scratch),
         (s, m, ldm, xs, y, o0, o1, r0, r1, scratch))
DISPATCH(output_adjoint43, (const outpost_wino_shape *s, const float *gy, float *p, long ldp, long xs, long o0, long o1, long r0, long r1,
                            float *scratch),
         (s, gy, p, ldp, xs, o0, o1, r0, r1, scratch))
DISPATCH(weight43, (const outpost_wino_shape *s, const float *w, float *u, long xs, long o0, long o1), (s, w, u, xs, o0, o1))
DISPATCH(weight_adjoint43, (const outpost_wino_shape *s, const float *du, long xs, float *dw, long o0, long o1), (s, du, xs, dw, o0, o1))

// The entry points below run a transform with `count` floats of scratch, returning 0 when
// they cannot be allocated and 1 when the transform ran.
#define WITH_SCRATCH(count, call)                                   \
    do {                                                            \
        float *scratch = malloc(sizeof(float) * (size_t)(count));   \
        if (!scratch) return 0;                                     \
        call;                                                       \
        free(scratch);                                              \
        return 1;                                                   \
    } while (0)

int outpost_wino_input_f32(const outpost_wino_shape *s, const float *x, float *v, long ldv, long xs, long c0, long c1, long r0, long r1) {
    WITH_SCRATCH(2 * s->tw + 2 + 16 * s->tw, input_run(s, x, v, ldv, xs, c0, c1, r0, r1, scratch));
}

int outpost_wino_input_adjoint_f32(const outpost_wino_shape *s, const float *q, long ldq, long xs, float *dx, long c0, long c1,
                                   long r0, long r1, float *edge) {
    WITH_SCRATCH((2 * s->th + 2) * (2 * s->tw + 2) + 16 * s->tw, input_adjoint_run(s, q, ldq, xs, dx, c0, c1, r0, r1, edge, scratch));
}

int outpost_wino_output_f32(const outpost_wino_shape *s, const float *m, long ldm, long xs, float *y, long o0, long o1, long r0, long r1) {
    WITH_SCRATCH(10 * s->tw, output_run(s, m, ldm, xs, y, o0, o1, r0, r1, scratch));
}

int outpost_wino_output_adjoint_f32(const outpost_wino_shape *s, const float *gy, float *p, long ldp, long xs, long o0, long o1,
                                    long r0, long r1) {
    WITH_SCRATCH(10 * s->tw, output_adjoint_run(s, gy, p, ldp, xs, o0, o1, r0, r1, scratch));
}

void outpost_wino_weight_f32(const outpost_wino_shape *s, const float *w, float *u, long xs, long o0, long o1) {
    weight_run(s, w, u, xs, o0, o1);
}

void outpost_wino_weight_adjoint_f32(const outpost_wino_shape *s, const float *du, long xs, float *dw, long o0, long o1) {
    weight_adjoint_run(s, du, xs, dw, o0, o1);
}

int outpost_wino43_input_f32(const outpost_wino_shape *s, const float *x, float *v, long ldv, long xs, long c0, long c1, long r0, long r1) {
    WITH_SCRATCH(4 * s->tw + 2 + 36 * s->tw, input43_run(s, x, v, ldv, xs, c0, c1, r0, r1, scratch));
}

int outpost_wino43_input_adjoint_f32(const outpost_wino_shape *s, const float *q, long ldq, long xs, float *dx, long c0, long c1,
                                     long r0, long r1, float *edge) {
    WITH_SCRATCH((4 * s->th + 2) * (4 * s->tw + 2) + 36 * s->tw, input_adjoint43_run(s, q, ldq, xs, dx, c0, c1, r0, r1, edge, scratch));
}

int outpost_wino43_output_f32(const outpost_wino_shape *s, const float *m, long ldm, long xs, float *y, long o0, long o1, long r0, long r1) {
    WITH_SCRATCH(28 * s->tw, output43_run(s, m, ldm, xs, y, o0, o1, r0, r1, scratch));
}

int outpost_wino43_output_adjoint_f32(const outpost_wino_shape *s, const float *gy, float *p, long ldp, long xs, long o0, long o1,
                                      long r0, long r1) {
    WITH_SCRATCH(28 * s->tw, output_adjoint43_run(s, gy, p, ldp, xs, o0, o1, r0, r1, scratch));
}

void outpost_wino43_weight_f32(const outpost_wino_shape *s, const float *w, float *u, long xs, long o0, long o1) {
    weight43_run(s, w, u, xs, o0, o1);
}

void outpost_wino43_weight_adjoint_f32(const outpost_wino_shape *s, const float *du, long xs, float *dw, long o0, long o1) {
    weight_adjoint43_run(s, du, xs, dw, o0, o1);
}
