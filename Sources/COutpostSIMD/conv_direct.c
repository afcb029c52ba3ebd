#include "outpost_simd.h"
#include "cpu_features.h"

#include <stdlib.h>
#include <string.h>

// Direct 2-D convolutions (groups = 1) for few channels, where im2col's column matrix and
// BLAS's packing move far more data than the few multiply-adds per element need.
//
// Each input channel is first rearranged into sh*sw "phase planes" of the zero-padded
// image: phase (a, b) holds the padded pixels at rows a, a+sh, ... and columns b, b+sw, ...
// Then the pixels under kernel tap (i, j) for output row oy and columns ox = 0, 1, 2, ...
// are one contiguous run of a phase plane, for every stride and dilation: the inner loops
// are unit-stride vector loads, and the input gradient (the adjoint) adds contiguous runs
// back into phase planes instead of scattering element by element as col2im does (with
// AVX-512 it is gathered instead, by forward convolutions of the cotangent: see "Input
// gradient as forward convolutions").
// Planes are wide enough that 8-lane vectors may run past the last output column; the
// lanes past it are discarded (forward) or multiply zeros (gradients).

typedef struct {
    long R, C;   // rows and columns of a phase plane
    long P;      // elements of one channel's phase planes: sh*sw*R*C
    long K;      // cin*kh*kw, the taps of one output channel
    long owr;    // ow rounded up to whole tiles: 8 lanes, or 16 for AVX-512's rows wider than 8
    long group;  // images the AVX-512 kernels take together, see group_images
    long grows;  // rows of one channel of a group's padded cotangent: group*oh, or even for
                 // two-row tiles
    long *off;   // per tap m = (ci*kh + i)*kw + j: where its run for oy = 0, ox = 0 starts
    long *ord;   // the taps ordered by (ci, j, i), see input_grad_f32_avx2
    long *rowplanes, *rowstart;  // per input row y: where its phase's planes start in one
                                 // channel's, and where its own row starts (two divisions
                                 // per row, taken once)
    long ys, yp, yi;  // where the AVX-512 forward kernel writes: output rows ys apart,
                      // channels yp apart, images yi apart (ow, oh*ow, cout*oh*ow, except
                      // for the gathered input gradient, which writes into phase planes)
} layout;

// The AVX-512 kernels fill 16 lanes with two output rows of up to 8 pixels. With an odd
// number of rows (LeNet's 7x7 layers in W3) an image's last tile would hold one row and
// eight empty lanes: a quarter of the multiply-adds of a 7x7 image wasted. Two images
// taken together are 14 rows, 7 full tiles, one of them a row of each image.
static long group_images(const outpost_conv_shape *s, int lanes) { return lanes == 16 && s->ow <= 8 && s->oh % 2 ? 2 : 1; }

static int make_layout(const outpost_conv_shape *s, layout *d, int lanes) {
    d->R = (s->h + 2 * s->ph + s->sh - 1) / s->sh;
    long cols = (s->w + 2 * s->pw + s->sw - 1) / s->sw;
    d->owr = lanes == 16 && s->ow > 8 ? (s->ow + 15) / 16 * 16 : (s->ow + 7) / 8 * 8;
    d->group = group_images(s, lanes);
    d->ys = s->ow; d->yp = s->oh * s->ow; d->yi = s->cout * s->oh * s->ow;
    d->grows = lanes == 16 && s->ow <= 8 ? (d->group * s->oh + 1) / 2 * 2 : s->oh;
    long need = d->owr + ((s->kw - 1) * s->dw) / s->sw;
    d->C = cols > need ? cols : need;
    d->P = s->sh * s->sw * d->R * d->C;
    d->K = s->cin * s->kh * s->kw;
    // One allocation for the taps' offsets and, after them, the row and column parts
    // (kh + kw divisions instead of two per tap).
    d->off = malloc(sizeof(long) * (size_t)(2 * d->K + s->kh + s->kw + 2 * s->h));
    if (!d->off) return 0;
    d->ord = d->off + d->K;
    long *rowpart = d->ord + d->K, *colpart = rowpart + s->kh;
    d->rowplanes = colpart + s->kw;
    d->rowstart = d->rowplanes + s->h;
    for (long y = 0; y < s->h; y++) {
        long yy = y + s->ph;
        d->rowplanes[y] = yy % s->sh * s->sw * d->R * d->C;
        d->rowstart[y] = d->rowplanes[y] + yy / s->sh * d->C;
    }
    long t = 0;
    for (long ci = 0; ci < s->cin; ci++)
        for (long j = 0; j < s->kw; j++)
            for (long i = 0; i < s->kh; i++) d->ord[t++] = (ci * s->kh + i) * s->kw + j;
    for (long i = 0; i < s->kh; i++) rowpart[i] = (i * s->dh) % s->sh * s->sw * d->R * d->C + (i * s->dh) / s->sh * d->C;
    for (long j = 0; j < s->kw; j++) colpart[j] = (j * s->dw) % s->sw * d->R * d->C + (j * s->dw) / s->sw;
    long m = 0;
    for (long ci = 0; ci < s->cin; ci++)
        for (long i = 0; i < s->kh; i++)
            for (long j = 0; j < s->kw; j++) d->off[m++] = ci * d->P + rowpart[i] + colpart[j];
    return 1;
}

// The layouts a thread used last, most recent first. An attack or a training loop runs the
// same few convolutions every iteration, and building a layout (its tap table, a malloc and
// a free) cost about 1.3% of W4's time. Per thread, so no lock; a worker's entries live as
// long as the worker. Callers read the tables and never free them.
#define LAYOUT_CACHE 8
typedef struct {
    outpost_conv_shape s;
    int lanes;
    layout d;
    void *planes[2];          // Float and Double phase planes, see zeroed_planes
    size_t planes_bytes[2];
} cached_layout;
static __thread cached_layout layout_cache[LAYOUT_CACHE];
static __thread int layout_cache_count;

static int same_geometry(const outpost_conv_shape *a, const outpost_conv_shape *b) {
    // Everything but the batch size, which the layout does not depend on.
    return a->cin == b->cin && a->h == b->h && a->w == b->w && a->cout == b->cout && a->kh == b->kh && a->kw == b->kw
        && a->oh == b->oh && a->ow == b->ow && a->sh == b->sh && a->sw == b->sw && a->ph == b->ph && a->pw == b->pw
        && a->dh == b->dh && a->dw == b->dw;
}

static int get_layout(const outpost_conv_shape *s, layout *d, int lanes) {
    for (int i = 0; i < layout_cache_count; i++) {
        if (layout_cache[i].lanes != lanes || !same_geometry(&layout_cache[i].s, s)) continue;
        cached_layout hit = layout_cache[i];
        for (int j = i; j > 0; j--) layout_cache[j] = layout_cache[j - 1];
        layout_cache[0] = hit;
        *d = hit.d;
        return 1;
    }
    if (!make_layout(s, d, lanes)) return 0;
    if (layout_cache_count == LAYOUT_CACHE) {
        layout_cache_count--;
        free(layout_cache[layout_cache_count].d.off);
        free(layout_cache[layout_cache_count].planes[0]);
        free(layout_cache[layout_cache_count].planes[1]);
    }
    for (int j = layout_cache_count; j > 0; j--) layout_cache[j] = layout_cache[j - 1];
    layout_cache[0] = (cached_layout){*s, lanes, *d, {NULL, NULL}, {0, 0}};
    layout_cache_count++;
    return 1;
}

// A zeroed buffer of at least `bytes` kept in *buffer (*have bytes): replaced by a fresh
// zeroed one when too small, else handed back as it is (its owner keeps it zero where it
// needs zeros). NULL when out of memory.
static void *grow_zeroed(void **buffer, size_t *have, size_t bytes) {
    if (*have < bytes) {
        free(*buffer);
        *buffer = calloc(bytes, 1);
        *have = *buffer ? bytes : 0;
    }
    return *buffer;
}

// Phase planes of `count` elements of `size` bytes (4 or 8) for the layout get_layout
// returned last, zero wherever to_phases writes no pixel (see DEFINE_PHASES). Kept with the
// cached layout, one set per element size, so that they are zeroed once, not per call:
// calloc'ed afresh per call they cost a page fault per 4 KB. Owned by the cache: not freed
// by the caller.
static void *zeroed_planes(long count, size_t size) {
    cached_layout *c = &layout_cache[0];
    int k = size == 8;
    return grow_zeroed(&c->planes[k], &c->planes_bytes[k], (size_t)count * size);
}

// Phase planes of one image (forward) and their fold back (adjoint: only real pixels are
// read back; padding accumulates whatever falls on it and is dropped). Per row and phase
// the destination column advances by one, so no division runs per element.
// to_phases writes the pixels and nothing but zeros elsewhere, so planes zeroed once (the
// callers take them from zeroed_planes) stay zero in their padding while image after image
// goes through them: a memset per image was about 2% of W3's time.
#define DEFINE_PHASES(T, SUF)                                                                          \
    static void to_phases_##SUF(const outpost_conv_shape *s, const layout *d, const T *x, T *xt) {      \
        for (long ci = 0; ci < s->cin; ci++)                                                           \
            for (long y = 0; y < s->h; y++) {                                                          \
                long yy = y + s->ph;                                                                   \
                const T *src = x + (ci * s->h + y) * s->w;                                             \
                for (long b = 0; b < s->sw; b++) {                                                     \
                    long x0 = ((b - s->pw) % s->sw + s->sw) % s->sw;                                   \
                    T *dst = xt + ci * d->P + ((yy % s->sh) * s->sw + b) * d->R * d->C + yy / s->sh * d->C \
                             + (x0 + s->pw) / s->sw;                                                   \
                    for (long xx = x0, c = 0; xx < s->w; xx += s->sw, c++) dst[c] = src[xx];            \
                }                                                                                      \
            }                                                                                          \
    }                                                                                                  \
    static void from_phases_##SUF(const outpost_conv_shape *s, const layout *d, const T *xt, T *x) {    \
        for (long ci = 0; ci < s->cin; ci++)                                                           \
            for (long y = 0; y < s->h; y++) {                                                          \
                long yy = y + s->ph;                                                                   \
                T *dst = x + (ci * s->h + y) * s->w;                                                   \
                for (long b = 0; b < s->sw; b++) {                                                     \
                    long x0 = ((b - s->pw) % s->sw + s->sw) % s->sw;                                   \
                    const T *src = xt + ci * d->P + ((yy % s->sh) * s->sw + b) * d->R * d->C           \
                                   + yy / s->sh * d->C + (x0 + s->pw) / s->sw;                         \
                    for (long xx = x0, c = 0; xx < s->w; xx += s->sw, c++) dst[xx] = src[c];            \
                }                                                                                      \
            }                                                                                          \
    }

DEFINE_PHASES(float, f32)
DEFINE_PHASES(double, f64)

// MARK: Portable loops (all of Double, and Float without AVX2)

#define DEFINE_PORTABLE(T, SUF)                                                                        \
    static void forward_##SUF##_portable(const outpost_conv_shape *s, const layout *d, const T *xt,     \
                                         const T *w, T *y, T *acc) {                                   \
        for (long co = 0; co < s->cout; co++)                                                          \
            for (long oy = 0; oy < s->oh; oy++) {                                                      \
                for (long ox = 0; ox < s->ow; ox++) acc[ox] = 0;                                       \
                for (long m = 0; m < d->K; m++) {                                                      \
                    T wv = w[co * d->K + m];                                                           \
                    const T *src = xt + d->off[m] + oy * d->C;                                         \
                    for (long ox = 0; ox < s->ow; ox++) acc[ox] += wv * src[ox];                       \
                }                                                                                      \
                memcpy(y + (co * s->oh + oy) * s->ow, acc, sizeof(T) * (size_t)s->ow);                 \
            }                                                                                          \
    }                                                                                                  \
    static void input_grad_##SUF##_portable(const outpost_conv_shape *s, const layout *d, const T *g,   \
                                            const T *w, T *dxt) {                                      \
        for (long co = 0; co < s->cout; co++)                                                          \
            for (long oy = 0; oy < s->oh; oy++) {                                                      \
                const T *gr = g + (co * s->oh + oy) * s->ow;                                           \
                for (long m = 0; m < d->K; m++) {                                                      \
                    T wv = w[co * d->K + m];                                                           \
                    T *dst = dxt + d->off[m] + oy * d->C;                                              \
                    for (long ox = 0; ox < s->ow; ox++) dst[ox] += wv * gr[ox];                        \
                }                                                                                      \
            }                                                                                          \
    }                                                                                                  \
    static void weight_grad_##SUF##_portable(const outpost_conv_shape *s, const layout *d, const T *xt, \
                                             const T *g, T *dw) {                                      \
        for (long co = 0; co < s->cout; co++)                                                          \
            for (long m = 0; m < d->K; m++) {                                                          \
                T sum = 0;                                                                             \
                for (long oy = 0; oy < s->oh; oy++) {                                                  \
                    const T *xr = xt + d->off[m] + oy * d->C, *gr = g + (co * s->oh + oy) * s->ow;     \
                    for (long ox = 0; ox < s->ow; ox++) sum += gr[ox] * xr[ox];                        \
                }                                                                                      \
                dw[co * d->K + m] += sum;                                                              \
            }                                                                                          \
    }

DEFINE_PORTABLE(float, f32)
DEFINE_PORTABLE(double, f64)

// MARK: AVX2 + FMA (Float)

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define OUTPOST_X86 1
#define AVX2 __attribute__((target("avx2,fma")))
#define AVX2_INLINE __attribute__((target("avx2,fma"), always_inline)) static inline

// The unit of work is a tile: 8 consecutive output columns of one output row (rows of
// LeNet's layers are 7 to 16 wide, so one or two tiles). Kernels take tiles two at a time,
// from the same row or the next, so that eight independent multiply-add chains hide the
// FMA latency even when a row is a single tile.
typedef struct { long in, out, valid; } tile;

static tile tile_at(const outpost_conv_shape *s, const layout *d, long index) {
    long tiles = d->owr / 8, oy = index / tiles, t = index % tiles;
    tile r = { oy * d->C + t * 8, oy * s->ow + t * 8, s->ow - t * 8 < 8 ? s->ow - t * 8 : 8 };
    return r;
}

AVX2_INLINE void store_tile(float *dst, __m256 v, long valid) {
    if (valid >= 8) { _mm256_storeu_ps(dst, v); return; }
    float tmp[8];
    _mm256_storeu_ps(tmp, v);
    memcpy(dst, tmp, sizeof(float) * (size_t)valid);
}

// Four output channels by two tiles: per tap, two loads of input runs and four weight
// broadcasts feed eight multiply-adds. Channels past cout repeat the last one (their sums
// are not stored), so the weights are read in place.
AVX2_INLINE void forward_pair(const outpost_conv_shape *s, const layout *d, const float *xt, const float *w, long c0, tile a,
                              tile b, const int two, float *y) {
    long last = s->cout - 1;
    const float *w0 = w + c0 * d->K, *w1 = w + (c0 + 1 < last ? c0 + 1 : last) * d->K,
                *w2 = w + (c0 + 2 < last ? c0 + 2 : last) * d->K, *w3 = w + (c0 + 3 < last ? c0 + 3 : last) * d->K;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
    for (long m = 0; m < d->K; m++) {
        const float *src = xt + d->off[m];
        __m256 va = _mm256_loadu_ps(src + a.in), vb = two ? _mm256_loadu_ps(src + b.in) : va;
        __m256 k0 = _mm256_broadcast_ss(w0 + m), k1 = _mm256_broadcast_ss(w1 + m);
        __m256 k2 = _mm256_broadcast_ss(w2 + m), k3 = _mm256_broadcast_ss(w3 + m);
        a0 = _mm256_fmadd_ps(k0, va, a0); a1 = _mm256_fmadd_ps(k1, va, a1);
        a2 = _mm256_fmadd_ps(k2, va, a2); a3 = _mm256_fmadd_ps(k3, va, a3);
        if (two) {
            b0 = _mm256_fmadd_ps(k0, vb, b0); b1 = _mm256_fmadd_ps(k1, vb, b1);
            b2 = _mm256_fmadd_ps(k2, vb, b2); b3 = _mm256_fmadd_ps(k3, vb, b3);
        }
    }
    __m256 acc[2][4] = {{a0, a1, a2, a3}, {b0, b1, b2, b3}};
    long plane = s->oh * s->ow, qn = s->cout - c0 < 4 ? s->cout - c0 : 4;
    for (long q = 0; q < qn; q++) {
        store_tile(y + (c0 + q) * plane + a.out, acc[0][q], a.valid);
        if (two) store_tile(y + (c0 + q) * plane + b.out, acc[1][q], b.valid);
    }
}

AVX2 static void forward_f32_avx2(const outpost_conv_shape *s, const layout *d, const float *xt, const float *w, float *y) {
    long count = s->oh * (d->owr / 8);
    for (long c0 = 0; c0 < s->cout; c0 += 4)
        for (long t = 0; t < count; t += 2) {
            tile a = tile_at(s, d, t);
            if (t + 1 < count) forward_pair(s, d, xt, w, c0, a, tile_at(s, d, t + 1), 1, y);
            else forward_pair(s, d, xt, w, c0, a, a, 0, y);
        }
}

// Four taps by two tiles: per output channel, two loads of cotangent runs and four weight
// broadcasts feed eight multiply-adds; each tap's sums then go into its phase-plane runs.
// Taps of one block may overlap there, so they are added one after another. Taps past K
// repeat the last one and are not added. w: the weights packed by pack_taps.
AVX2_INLINE void input_grad_pair(const outpost_conv_shape *s, const layout *d, const float *gp, const float *w, long k0,
                                 long ga, long gb, long xa, long xb, const int two, float *dxt) {
    long last = d->K - 1, gstride = s->oh * d->owr;
    long m0 = d->ord[k0], m1 = d->ord[k0 + 1 < last ? k0 + 1 : last], m2 = d->ord[k0 + 2 < last ? k0 + 2 : last],
         m3 = d->ord[k0 + 3 < last ? k0 + 3 : last];
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
    const float *wk = w + (k0 / 4) * s->cout * 4;
    for (long co = 0; co < s->cout; co++) {
        const float *gr = gp + co * gstride, *wr = wk + co * 4;
        __m256 va = _mm256_loadu_ps(gr + ga), vb = two ? _mm256_loadu_ps(gr + gb) : va;
        __m256 k0 = _mm256_broadcast_ss(wr), k1 = _mm256_broadcast_ss(wr + 1);
        __m256 k2 = _mm256_broadcast_ss(wr + 2), k3 = _mm256_broadcast_ss(wr + 3);
        a0 = _mm256_fmadd_ps(k0, va, a0); a1 = _mm256_fmadd_ps(k1, va, a1);
        a2 = _mm256_fmadd_ps(k2, va, a2); a3 = _mm256_fmadd_ps(k3, va, a3);
        if (two) {
            b0 = _mm256_fmadd_ps(k0, vb, b0); b1 = _mm256_fmadd_ps(k1, vb, b1);
            b2 = _mm256_fmadd_ps(k2, vb, b2); b3 = _mm256_fmadd_ps(k3, vb, b3);
        }
    }
    __m256 acc[2][4] = {{a0, a1, a2, a3}, {b0, b1, b2, b3}};
    long mq = d->K - k0 < 4 ? d->K - k0 : 4, ms[4] = {m0, m1, m2, m3};
    for (long q = 0; q < mq; q++) {
        float *dst = dxt + d->off[ms[q]];
        _mm256_storeu_ps(dst + xa, _mm256_add_ps(_mm256_loadu_ps(dst + xa), acc[0][q]));
        if (two) _mm256_storeu_ps(dst + xb, _mm256_add_ps(_mm256_loadu_ps(dst + xb), acc[1][q]));
    }
}

// gp: the cotangent with rows padded to owr with zeros. Taps go in (ci, j, i) order: runs of
// taps one column apart overlap by all but one lane, and adding one right after the other
// makes the load wait for the previous store (a failed store-to-load forward); taps one row
// apart are a whole plane row apart.
AVX2 static void input_grad_f32_avx2(const outpost_conv_shape *s, const layout *d, const float *gp, const float *w, float *dxt) {
    long tiles = d->owr / 8, count = s->oh * tiles;
    for (long t = 0; t < count; t += 2) {
        long oa = t / tiles, ta = t % tiles, ob = (t + 1) / tiles, tb = (t + 1) % tiles;
        long ga = oa * d->owr + ta * 8, xa = oa * d->C + ta * 8, gb = ob * d->owr + tb * 8, xb = ob * d->C + tb * 8;
        for (long k0 = 0; k0 < d->K; k0 += 4) {
            if (t + 1 < count) input_grad_pair(s, d, gp, w, k0, ga, gb, xa, xb, 1, dxt);
            else input_grad_pair(s, d, gp, w, k0, ga, ga, xa, xa, 0, dxt);
        }
    }
}

AVX2_INLINE float hsum8(__m256 v) {
    __m128 a = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    a = _mm_add_ps(a, _mm_movehl_ps(a, a));
    return _mm_cvtss_f32(_mm_add_ss(a, _mm_movehdup_ps(a)));
}

// Per pair of taps and block of four output channels, lane-wise sums over every tile of
// every image (xrows/grows list them), reduced once at the end: per tile, two input loads
// and four cotangent loads feed eight multiply-adds. gp is padded with zero channels to a
// multiple of four and with zero columns to owr, so channels and lanes past the ends add
// nothing; an odd last tap repeats its neighbour and is not stored. One call covers one
// chunk of images (whose planes fit in L1) through every tap and channel block; the
// lane-wise sums are parked in `partial` between chunks (loaded unless `first`, reduced
// into dw when `last`).
AVX2 static void weight_grad_f32_avx2(const outpost_conv_shape *s, const layout *d, const float *xt, const float *gp,
                                      const long *xrows, const long *grows, long nrows, int first, int last, float *partial,
                                      float *dw) {
    long gstride = s->oh * d->owr, blocks = (s->cout + 3) / 4;
    {
        for (long m = 0; m < d->K; m += 2) {
            const float *xa = xt + d->off[m], *xb = xt + d->off[m + 1 < d->K ? m + 1 : m];
            for (long c0 = 0; c0 < s->cout; c0 += 4) {
                const float *gb = gp + c0 * gstride;
                float *park = partial + ((m / 2) * blocks + c0 / 4) * 64;
                __m256 a0, a1, a2, a3, b0, b1, b2, b3;
                if (first) {
                    a0 = a1 = a2 = a3 = b0 = b1 = b2 = b3 = _mm256_setzero_ps();
                } else {
                    a0 = _mm256_loadu_ps(park); a1 = _mm256_loadu_ps(park + 8); a2 = _mm256_loadu_ps(park + 16);
                    a3 = _mm256_loadu_ps(park + 24); b0 = _mm256_loadu_ps(park + 32); b1 = _mm256_loadu_ps(park + 40);
                    b2 = _mm256_loadu_ps(park + 48); b3 = _mm256_loadu_ps(park + 56);
                }
                for (long r = 0; r < nrows; r++) {
                    __m256 va = _mm256_loadu_ps(xa + xrows[r]), vb = _mm256_loadu_ps(xb + xrows[r]);
                    const float *g = gb + grows[r];
                    __m256 g0 = _mm256_loadu_ps(g), g1 = _mm256_loadu_ps(g + gstride);
                    __m256 g2 = _mm256_loadu_ps(g + 2 * gstride), g3 = _mm256_loadu_ps(g + 3 * gstride);
                    a0 = _mm256_fmadd_ps(g0, va, a0); a1 = _mm256_fmadd_ps(g1, va, a1);
                    a2 = _mm256_fmadd_ps(g2, va, a2); a3 = _mm256_fmadd_ps(g3, va, a3);
                    b0 = _mm256_fmadd_ps(g0, vb, b0); b1 = _mm256_fmadd_ps(g1, vb, b1);
                    b2 = _mm256_fmadd_ps(g2, vb, b2); b3 = _mm256_fmadd_ps(g3, vb, b3);
                }
                if (!last) {
                    _mm256_storeu_ps(park, a0); _mm256_storeu_ps(park + 8, a1); _mm256_storeu_ps(park + 16, a2);
                    _mm256_storeu_ps(park + 24, a3); _mm256_storeu_ps(park + 32, b0); _mm256_storeu_ps(park + 40, b1);
                    _mm256_storeu_ps(park + 48, b2); _mm256_storeu_ps(park + 56, b3);
                    continue;
                }
                __m256 acc[2][4] = {{a0, a1, a2, a3}, {b0, b1, b2, b3}};
                long qn = s->cout - c0 < 4 ? s->cout - c0 : 4, mq = d->K - m < 2 ? 1 : 2;
                for (long k = 0; k < mq; k++)
                    for (long q = 0; q < qn; q++) dw[(c0 + q) * d->K + m + k] += hsum8(acc[k][q]);
            }
        }
    }
}

// Phase planes for Float with AVX2: stride 1 copies rows whole, stride 2 splits each row's
// even and odd pixels with two shuffles per 16 pixels (the scalar loop moves one pixel per
// iteration, which cost as much as a third of the convolution on LeNet's layers). A row's
// last partial block goes through the same shuffles with masked loads and stores: LeNet's
// rows are 28, 14 and 32 pixels wide, so a scalar tail moved most of their pixels.
// Those tails are stored whole wherever the vector's extra lanes land on memory that is
// rewritten or must be zero anyway: a vmaskmovps store costs about 13 cycles on AMD Zen 4
// (a masked load and store pair measured 3.9 ns, against 0.4 ns unmasked), and every row
// of W3's two strided layers ended in two of them. (AVX-512 VL's k-masked stores did as
// well in place, 0.93 of W3's time against 0.92, but need AVX-512.)

// The first n lanes (none for n <= 0, all for n >= 8) as a mask for maskload/maskstore.
AVX2_INLINE __m256i first_lanes(long n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n < 0 ? 0 : n > 8 ? 8 : n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// Pixels 0, 2, ..., 14 and 1, 3, ..., 15 of the 16 in a and b, in order.
AVX2_INLINE __m256 even_lanes(__m256 a, __m256 b) {
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0x88)), 0xD8));
}
AVX2_INLINE __m256 odd_lanes(__m256 a, __m256 b) {
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0xDD)), 0xD8));
}

// The first n lanes of v at dst, or all eight in one plain store when they stay below
// `limit`: the caller vouches that what lies past the n lanes up to there is padding the
// lanes leave zero, or is written after this store.
AVX2_INLINE void store_first_lanes(float *dst, __m256 v, long n, const float *limit) {
    if (dst + 8 <= limit) _mm256_storeu_ps(dst, v);
    else _mm256_maskstore_ps(dst, first_lanes(n), v);
}

AVX2 static void to_phases_f32_avx2(const outpost_conv_shape *s, const layout *d, const float *x, float *xt) {
    if (s->sw > 2) { to_phases_f32(s, d, x, xt); return; }
    long rc = d->R * d->C, w = s->w, pw = s->pw;
    for (long ci = 0; ci < s->cin; ci++)
        for (long y = 0; y < s->h; y++) {
            const float *src = x + (ci * s->h + y) * w;
            // The planes of this row's phase, one per column phase, rc floats each.
            float *planes = xt + ci * d->P + d->rowplanes[y], *base = xt + ci * d->P + d->rowstart[y];
            // The masked loads leave zeros in the lanes past the row, so a whole store writes
            // zeros past its pixels: padding, or a later row of the same plane, written after
            // this one. Only the plane's end must not be passed.
            if (s->sw == 1) {
                for (long k = 0; k < w; k += 8)
                    store_first_lanes(base + pw + k, _mm256_maskload_ps(src + k, first_lanes(w - k)), w - k, planes + rc);
                continue;
            }
            float *ev = base + (pw & 1) * rc + pw / 2, *od = base + ((pw + 1) & 1) * rc + (pw + 1) / 2;
            long k = 0;
            for (; 2 * k + 16 <= w; k += 8) {
                __m256 a = _mm256_loadu_ps(src + 2 * k), b = _mm256_loadu_ps(src + 2 * k + 8);
                _mm256_storeu_ps(ev + k, even_lanes(a, b));
                _mm256_storeu_ps(od + k, odd_lanes(a, b));
            }
            long rest = w - 2 * k;
            if (rest > 0) {
                __m256 a = _mm256_maskload_ps(src + 2 * k, first_lanes(rest)), b = _mm256_maskload_ps(src + 2 * k + 8, first_lanes(rest - 8));
                store_first_lanes(ev + k, even_lanes(a, b), (rest + 1) / 2, planes + ((pw & 1) + 1) * rc);
                store_first_lanes(od + k, odd_lanes(a, b), rest / 2, planes + (((pw + 1) & 1) + 1) * rc);
            }
        }
}

AVX2 static void from_phases_f32_avx2(const outpost_conv_shape *s, const layout *d, const float *xt, float *x) {
    if (s->sw > 2) { from_phases_f32(s, d, xt, x); return; }
    long rc = d->R * d->C, w = s->w, pw = s->pw;
    const float *end = x + s->cin * s->h * w;
    for (long ci = 0; ci < s->cin; ci++)
        for (long y = 0; y < s->h; y++) {
            float *dst = x + (ci * s->h + y) * w;
            const float *base = xt + ci * d->P + d->rowstart[y];
            // Past this row lie the image's later rows, written after it; only the image's
            // end must not be passed (another thread may own what follows).
            if (s->sw == 1) {
                for (long k = 0; k < w; k += 8)
                    store_first_lanes(dst + k, _mm256_maskload_ps(base + pw + k, first_lanes(w - k)), w - k, end);
                continue;
            }
            const float *ev = base + (pw & 1) * rc + pw / 2, *od = base + ((pw + 1) & 1) * rc + (pw + 1) / 2;
            long k = 0;
            for (; 2 * k + 16 <= w; k += 8) {
                __m256 e = _mm256_loadu_ps(ev + k), o = _mm256_loadu_ps(od + k);
                __m256 lo = _mm256_unpacklo_ps(e, o), hi = _mm256_unpackhi_ps(e, o);
                _mm256_storeu_ps(dst + 2 * k, _mm256_permute2f128_ps(lo, hi, 0x20));
                _mm256_storeu_ps(dst + 2 * k + 8, _mm256_permute2f128_ps(lo, hi, 0x31));
            }
            long rest = w - 2 * k;
            if (rest > 0) {
                __m256 e = _mm256_maskload_ps(ev + k, first_lanes((rest + 1) / 2)), o = _mm256_maskload_ps(od + k, first_lanes(rest / 2));
                __m256 lo = _mm256_unpacklo_ps(e, o), hi = _mm256_unpackhi_ps(e, o);
                store_first_lanes(dst + 2 * k, _mm256_permute2f128_ps(lo, hi, 0x20), rest, end);
                store_first_lanes(dst + 2 * k + 8, _mm256_permute2f128_ps(lo, hi, 0x31), rest - 8, end);
            }
        }
}

// MARK: AVX-512 (Float)
//
// Sixteen lanes against rows 7 to 16 wide. A row wider than 8 is cut into 16-lane tiles
// (LeNet's 16- and 14-wide rows: one tile each); rows of 8 or fewer go two to a tile, the
// lower 8 lanes one row and the upper 8 the next, so 8x8 and 7x7 outputs fill the lanes
// as 8-lane tiles do, not half as a 16-lane tile per row would. Phase-plane rows are C
// apart, not 8, so a two-row tile's input is two 8-lane loads joined (one shuffle); its
// cotangent, with rows padded to 8, is contiguous. Kernels take up to four tiles at a time.
// Phase planes as for AVX2, rows padded to whole 16-lane tiles where they are wider than 8.

#define AVX512 __attribute__((target("avx512f,avx512dq,avx2,fma")))
#define AVX512_INLINE __attribute__((target("avx512f,avx512dq,avx2,fma"), always_inline)) static inline

AVX512_INLINE __mmask16 lanes_below(long n) { return n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1); }

// in0, in1: where the lower and upper 8 lanes' input runs start in a plane (in1 = in0 + 8
// for a one-row tile); g: where the tile's cotangent starts in one channel of the padded
// cotangent; out0, out1, valid0, valid1: where the lower and upper rows go in one output
// channel and how many pixels each has (one-row tiles: all in out0, valid0 up to 16; a
// two-row tile without a second row (oh odd): valid1 = 0, in1 = in0).
typedef struct { long in0, in1, g, out0, out1, valid0, valid1; } tile16;

// The tiles of `images` consecutive images (at most d->group) taken together: their rows
// one after another, so that a two-row tile may hold one image's last row and the next
// image's first. Offsets are from the first image's phase planes, output and cotangent
// (a group's cotangent is one block per channel, see pad_cotangent).
static long tiles16(const outpost_conv_shape *s, const layout *d, long images) {
    return s->ow <= 8 ? (images * s->oh + 1) / 2 : images * s->oh * (d->owr / 16);
}

static tile16 tile16_at(const outpost_conv_shape *s, const layout *d, long images, long t) {
    tile16 r;
    long planes = s->cin * d->P, out = d->yi;
    if (s->ow <= 8) {
        long r0 = 2 * t, r1 = r0 + 1, two = r1 < images * s->oh;
        r.in0 = r0 / s->oh * planes + r0 % s->oh * d->C;
        r.out0 = r0 / s->oh * out + r0 % s->oh * d->ys;
        r.in1 = two ? r1 / s->oh * planes + r1 % s->oh * d->C : r.in0;
        r.out1 = two ? r1 / s->oh * out + r1 % s->oh * d->ys : r.out0 + d->ys;
        r.g = r0 * d->owr;
        r.valid0 = s->ow; r.valid1 = two ? s->ow : 0;
    } else {
        long per = d->owr / 16, row = t / per, c = t % per * 16;
        r.in0 = row / s->oh * planes + row % s->oh * d->C + c; r.in1 = r.in0 + 8;
        r.g = row * d->owr + c;
        r.out0 = row / s->oh * out + row % s->oh * d->ys + c; r.out1 = r.out0;
        r.valid0 = s->ow - c < 16 ? s->ow - c : 16; r.valid1 = 0;
    }
    return r;
}

// acc[q][v] += k_q · x[v] for four broadcast scalars and V vectors: the inner step of the
// forward and input-gradient blocks (4·V independent multiply-add chains).
AVX512_INLINE void fma_4_by_v(__m512 acc[4][4], float k0, float k1, float k2, float k3, const __m512 *x, const int V) {
    __m512 b0 = _mm512_set1_ps(k0), b1 = _mm512_set1_ps(k1), b2 = _mm512_set1_ps(k2), b3 = _mm512_set1_ps(k3);
    for (int v = 0; v < V; v++) {
        acc[0][v] = _mm512_fmadd_ps(b0, x[v], acc[0][v]);
        acc[1][v] = _mm512_fmadd_ps(b1, x[v], acc[1][v]);
        acc[2][v] = _mm512_fmadd_ps(b2, x[v], acc[2][v]);
        acc[3][v] = _mm512_fmadd_ps(b3, x[v], acc[3][v]);
    }
}

// One tile's input for a tap whose runs start at src.
AVX512_INLINE __m512 load_tile(const float *src, long in0, long in1, const int split) {
    if (!split) return _mm512_loadu_ps(src + in0);
    return _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_loadu_ps(src + in0)), _mm256_loadu_ps(src + in1), 1);
}

AVX512_INLINE void store_tile16(float *y, const tile16 *t, __m512 v, const int split) {
    if (split && (t->valid0 < 8 || t->out1 != t->out0 + 8)) {
        _mm512_mask_storeu_ps(y + t->out0, lanes_below(t->valid0), v);
        if (t->valid1) _mm512_mask_storeu_ps(y + t->out1, lanes_below(t->valid1), _mm512_castps256_ps512(_mm512_extractf32x8_ps(v, 1)));
        return;
    }
    // One-row tiles, and two rows of 8 of one image (contiguous in y).
    _mm512_mask_storeu_ps(y + t->out0, lanes_below(t->valid0 + t->valid1), v);
}

// Blocks of up to four tiles, as even as possible (13 tiles: 4, 3, 3, 3), so that no block
// is left with one tile, where the loads per multiply-add would double. BODY sees the
// block's first tile t0, its size V (a constant) and whether tiles hold two rows (split).
#define FOR_TILE_BLOCKS(s, count, BODY)                                                              \
    {                                                                                                \
        long nb_ = ((count) + 3) / 4, t0 = 0;                                                        \
        const int sp_ = (s)->ow <= 8;                                                                \
        for (long b_ = 0; b_ < nb_; b_++) {                                                          \
            long V_ = ((count) - t0) / (nb_ - b_) + (((count) - t0) % (nb_ - b_) != 0);              \
            switch (V_ * 2 + sp_) {                                                                  \
            case 8: { const int V = 4, split = 0; BODY; } break;                                     \
            case 9: { const int V = 4, split = 1; BODY; } break;                                     \
            case 6: { const int V = 3, split = 0; BODY; } break;                                     \
            case 7: { const int V = 3, split = 1; BODY; } break;                                     \
            case 4: { const int V = 2, split = 0; BODY; } break;                                     \
            case 5: { const int V = 2, split = 1; BODY; } break;                                     \
            case 2: { const int V = 1, split = 0; BODY; } break;                                     \
            default: { const int V = 1, split = 1; BODY; } break;                                    \
            }                                                                                        \
            t0 += V_;                                                                                \
        }                                                                                            \
    }

// Four output channels by up to four tiles: per tap, the tiles' input (V loads, or 2*V
// loads and V shuffles for two-row tiles) and four weight broadcasts feed 4*V multiply-
// adds. Channels past cout repeat the last one (not stored). Each output element is one
// chain of multiply-adds over the taps in order, as in the AVX2 kernel.
AVX512_INLINE void forward_block_512(const outpost_conv_shape *s, const layout *d, const float *xt, const float *w, long c0,
                                     const tile16 *tl, const int V, const int split, float *y) {
    long last = s->cout - 1, K = d->K;
    const float *w0 = w + c0 * K, *w1 = w + (c0 + 1 < last ? c0 + 1 : last) * K,
                *w2 = w + (c0 + 2 < last ? c0 + 2 : last) * K, *w3 = w + (c0 + 3 < last ? c0 + 3 : last) * K;
    __m512 acc[4][4];
    for (int q = 0; q < 4; q++)
        for (int v = 0; v < V; v++) acc[q][v] = _mm512_setzero_ps();
    for (long m = 0; m < K; m++) {
        const float *src = xt + d->off[m];
        __m512 x[4];
        for (int v = 0; v < V; v++) x[v] = load_tile(src, tl[v].in0, tl[v].in1, split);
        fma_4_by_v(acc, w0[m], w1[m], w2[m], w3[m], x, V);
    }
    long plane = d->yp, qn = s->cout - c0 < 4 ? s->cout - c0 : 4;
    for (long q = 0; q < qn; q++)
        for (int v = 0; v < V; v++) store_tile16(y + (c0 + q) * plane, &tl[v], acc[q][v], split);
}

// xt: the phase planes of `images` consecutive images (at most d->group), one after another;
// y: the first one's output. Tiles [tlo, thi) of tiles16(s, d, images) only (each output
// element is the same chain of multiply-adds however the tiles are blocked).
AVX512 static void forward_f32_avx512(const outpost_conv_shape *s, const layout *d, const float *xt, const float *w, float *y,
                                      long images, long tlo, long thi) {
    long count = thi - tlo;
    FOR_TILE_BLOCKS(s, count, {
        tile16 tl[4];
        for (int v = 0; v < V; v++) tl[v] = tile16_at(s, d, images, tlo + t0 + v);
        for (long c0 = 0; c0 < s->cout; c0 += 4) forward_block_512(s, d, xt, w, c0, tl, V, split, y);
    })
}

// Per block of four taps and four output channels, lane-wise sums over every tile of every
// image (rows lists each tile's in0, in1 and cotangent offset), reduced once at the end:
// per tile, four inputs and four cotangent loads feed sixteen multiply-adds. gp is padded
// with zero channels to a multiple of four, with zero columns to owr and zero rows to
// grows, so whatever lies past the ends adds nothing; taps past K repeat the last one and
// are not stored. As in the AVX2 kernel, one call covers one chunk of images, the sums
// parked in `partial` between chunks.
AVX512_INLINE void weight_grad_block_512(const outpost_conv_shape *s, const layout *d, const float *xt, const float *gp,
                                         const long *rows, long nrows, long m0, long c0, const int split, int first, int last,
                                         float *park, float *dw) {
    long K = d->K, gstride = d->grows * d->owr;
    const float *x0 = xt + d->off[m0], *x1 = xt + d->off[m0 + 1 < K ? m0 + 1 : K - 1],
                *x2 = xt + d->off[m0 + 2 < K ? m0 + 2 : K - 1], *x3 = xt + d->off[m0 + 3 < K ? m0 + 3 : K - 1];
    const float *gb = gp + c0 * gstride;
    __m512 acc[4][4];
    for (int t = 0; t < 4; t++)
        for (int c = 0; c < 4; c++) acc[t][c] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(park + (t * 4 + c) * 16);
    for (long r = 0; r < nrows; r++) {
        long in0 = rows[3 * r], in1 = rows[3 * r + 1];
        const float *g = gb + rows[3 * r + 2];
        __m512 xv[4] = {load_tile(x0, in0, in1, split), load_tile(x1, in0, in1, split), load_tile(x2, in0, in1, split),
                        load_tile(x3, in0, in1, split)};
        __m512 gv[4] = {_mm512_loadu_ps(g), _mm512_loadu_ps(g + gstride), _mm512_loadu_ps(g + 2 * gstride), _mm512_loadu_ps(g + 3 * gstride)};
        for (int c = 0; c < 4; c++)
            for (int t = 0; t < 4; t++) acc[t][c] = _mm512_fmadd_ps(gv[c], xv[t], acc[t][c]);
    }
    if (!last) {
        for (int t = 0; t < 4; t++)
            for (int c = 0; c < 4; c++) _mm512_storeu_ps(park + (t * 4 + c) * 16, acc[t][c]);
        return;
    }
    // The sixteen lane-wise sums reduced together, four rounds of shuffles and adds, into one
    // vector whose 128-bit lane c holds channel c0 + c's sums for taps m0 .. m0 + 3.
    __m512 r1[8], r2[4], r3[2];
    for (int c = 0; c < 4; c++)
        for (int t = 0; t < 4; t += 2)
            r1[c * 2 + t / 2] = _mm512_add_ps(_mm512_unpacklo_ps(acc[t][c], acc[t + 1][c]), _mm512_unpackhi_ps(acc[t][c], acc[t + 1][c]));
    for (int i = 0; i < 4; i++)
        r2[i] = _mm512_add_ps(_mm512_shuffle_ps(r1[2 * i], r1[2 * i + 1], 0x44), _mm512_shuffle_ps(r1[2 * i], r1[2 * i + 1], 0xEE));
    for (int i = 0; i < 2; i++)
        r3[i] = _mm512_add_ps(_mm512_shuffle_f32x4(r2[2 * i], r2[2 * i + 1], 0x44), _mm512_shuffle_f32x4(r2[2 * i], r2[2 * i + 1], 0xEE));
    __m512 sums = _mm512_add_ps(_mm512_shuffle_f32x4(r3[0], r3[1], 0x88), _mm512_shuffle_f32x4(r3[0], r3[1], 0xDD));
    long qn = s->cout - c0 < 4 ? s->cout - c0 : 4, mq = K - m0 < 4 ? K - m0 : 4;
    if (mq == 4) {
        float *d0 = dw + c0 * K + m0;
        _mm_storeu_ps(d0, _mm_add_ps(_mm_loadu_ps(d0), _mm512_castps512_ps128(sums)));
        if (qn > 1) _mm_storeu_ps(d0 + K, _mm_add_ps(_mm_loadu_ps(d0 + K), _mm512_extractf32x4_ps(sums, 1)));
        if (qn > 2) _mm_storeu_ps(d0 + 2 * K, _mm_add_ps(_mm_loadu_ps(d0 + 2 * K), _mm512_extractf32x4_ps(sums, 2)));
        if (qn > 3) _mm_storeu_ps(d0 + 3 * K, _mm_add_ps(_mm_loadu_ps(d0 + 3 * K), _mm512_extractf32x4_ps(sums, 3)));
        return;
    }
    float out[16];
    _mm512_storeu_ps(out, sums);
    for (long c = 0; c < qn; c++)
        for (long t = 0; t < mq; t++) dw[(c0 + c) * K + m0 + t] += out[c * 4 + t];
}

AVX512 static void weight_grad_f32_avx512(const outpost_conv_shape *s, const layout *d, const float *xt, const float *gp,
                                          const long *rows, long nrows, int first, int last, float *partial, float *dw,
                                          long mlo, long mhi) {
    long blocks = (s->cout + 3) / 4;
    for (long m0 = mlo; m0 < mhi; m0 += 4)
        for (long c0 = 0; c0 < s->cout; c0 += 4) {
            float *park = partial + ((m0 / 4) * blocks + c0 / 4) * 256;
            if (s->ow <= 8) weight_grad_block_512(s, d, xt, gp, rows, nrows, m0, c0, 1, first, last, park, dw);
            else weight_grad_block_512(s, d, xt, gp, rows, nrows, m0, c0, 0, first, last, park, dw);
        }
}
#endif

static long image_in(const outpost_conv_shape *s) { return s->cin * s->h * s->w; }
static long image_out(const outpost_conv_shape *s) { return s->cout * s->oh * s->ow; }

// MARK: Input gradient as forward convolutions (AVX-512)
//
// The scattering input gradient (AVX2's above; AVX-512 had one of the same design) adds
// every tap's sums into the phase planes with a load, an add and a store, and taps one row
// apart hit the same addresses one after another: with the loads removed (a wrong result,
// as a measurement) the AVX-512 kernel took 27% less time. Gathered instead, each input pixel is one chain of multiply-adds kept in a
// register: for input phase (a, b), the pixels Y = sh*q + a - ph, X = sw*p + b - pw take
//     dx[ci][Y][X] = sum over co, taps i = (i*dh) % sh == a, j = (j*dw) % sw == b of
//                    g[co][q - (i*dh)/sh][p - (j*dw)/sw] * w[co][ci][i][j],
// a stride-1 convolution of the cotangent (channels co, zero-padded by T rows and L
// columns) with those taps, computed by the forward kernel. Stride 1 has one phase, whose
// output is dx itself; with other strides each phase writes its pixels into the layer's
// phase planes (where they lie in the same order), and from_phases puts them in place.

typedef struct {
    outpost_conv_shape s;  // the phase's convolution: cin = cout of the layer, cout = cin, oh x ow pixels
    layout d;              // its taps' offsets into the padded cotangent, with its P and C
    long a, b, q0, p0;     // the phase, and its first pixel's q and p
    long *widx;            // per output channel ci and tap m: the index into w
} gather_phase;

typedef struct {
    outpost_conv_shape s;  // the layer (batch size ignored)
    long phases, Rg, Cg, T, L;
    gather_phase *ph;
    void *gq;         // padded cotangent planes, zero outside the pixels (as zeroed_planes)
    size_t gq_bytes;
} gather_plan;

static void free_gather_plan(gather_plan *g) {
    for (long k = 0; k < g->phases; k++) { free(g->ph[k].d.off); free(g->ph[k].widx); }
    free(g->ph);
    free(g->gq);
}

static int make_gather_plan(const outpost_conv_shape *s, gather_plan *g) {
    g->s = *s;
    g->gq = NULL;
    g->gq_bytes = 0;
    g->phases = s->sh * s->sw;
    g->T = (s->kh - 1) * s->dh / s->sh;
    g->L = (s->kw - 1) * s->dw / s->sw;
    g->ph = calloc((size_t)g->phases, sizeof(gather_phase));
    if (!g->ph) return 0;
    long Rg = g->T + s->oh, Cg = g->L + s->ow;
    for (long k = 0; k < g->phases; k++) {
        gather_phase *f = &g->ph[k];
        f->a = k / s->sw; f->b = k % s->sw;
        // q0: the first q with Y = sh*q + a - ph >= 0; the last with Y < h.
        f->q0 = s->ph >= f->a ? (s->ph - f->a + s->sh - 1) / s->sh : 0;
        f->p0 = s->pw >= f->b ? (s->pw - f->b + s->sw - 1) / s->sw : 0;
        long q1 = (s->h - 1 + s->ph - f->a) / s->sh, p1 = (s->w - 1 + s->pw - f->b) / s->sw;
        if (s->h - 1 + s->ph < f->a) q1 = f->q0 - 1;
        if (s->w - 1 + s->pw < f->b) p1 = f->p0 - 1;
        outpost_conv_shape t = {0};
        t.n = s->n; t.cin = s->cout; t.cout = s->cin;
        t.oh = q1 - f->q0 + 1 > 0 ? q1 - f->q0 + 1 : 0;
        t.ow = p1 - f->p0 + 1 > 0 ? p1 - f->p0 + 1 : 0;
        f->s = t;
        long ni = 0, nj = 0;
        for (long i = 0; i < s->kh; i++) ni += (i * s->dh) % s->sh == f->a;
        for (long j = 0; j < s->kw; j++) nj += (j * s->dw) % s->sw == f->b;
        layout *d = &f->d;
        d->K = s->cout * ni * nj;
        d->owr = t.ow > 8 ? (t.ow + 15) / 16 * 16 : 8;
        d->group = group_images(&t, 16);
        d->grows = 0;
        d->rowplanes = d->rowstart = NULL;  // the phases never go through to_phases
        d->ord = NULL;
        d->ys = t.ow; d->yp = t.oh * t.ow; d->yi = t.cout * t.oh * t.ow;
        d->off = malloc(sizeof(long) * (size_t)(d->K > 0 ? d->K : 1));
        f->widx = malloc(sizeof(long) * (size_t)(d->K > 0 ? d->K : 1) * (size_t)s->cin);
        if (!d->off || !f->widx) { g->phases = k + 1; free_gather_plan(g); return 0; }
        // The plane must hold every row and column a tile reads: rows q0 + r - ti + T and
        // columns p0 + c - tj + L for c up to owr (two-row tiles read 8 columns a row).
        long rows = f->q0 + (t.oh > 0 ? t.oh : 1) + g->T + 1, cols = f->p0 + d->owr + g->L;
        if (rows > Rg) Rg = rows;
        if (cols > Cg) Cg = cols;
    }
    g->Rg = Rg; g->Cg = Cg;
    // With more than one phase, each writes its pixels into the layer's phase planes: rows C
    // apart, channels P apart, images cin*P apart.
    layout dl;
    if (g->phases > 1) {
        if (!make_layout(s, &dl, 16)) { free_gather_plan(g); return 0; }
        free(dl.off);
    }
    for (long k = 0; k < g->phases; k++) {
        gather_phase *f = &g->ph[k];
        layout *d = &f->d;
        d->R = Rg; d->C = Cg; d->P = Rg * Cg;
        if (g->phases > 1) { d->ys = dl.C; d->yp = dl.P; d->yi = s->cin * dl.P; }
        long m = 0;
        for (long co = 0; co < s->cout; co++)
            for (long i = 0; i < s->kh; i++) {
                if ((i * s->dh) % s->sh != f->a) continue;
                for (long j = 0; j < s->kw; j++) {
                    if ((j * s->dw) % s->sw != f->b) continue;
                    long ti = i * s->dh / s->sh, tj = j * s->dw / s->sw;
                    d->off[m] = co * d->P + (f->q0 - ti + g->T) * Cg + (f->p0 - tj + g->L);
                    for (long ci = 0; ci < s->cin; ci++) f->widx[ci * d->K + m] = ((co * s->cin + ci) * s->kh + i) * s->kw + j;
                    m++;
                }
            }
    }
    return 1;
}

// The plans a thread used last, most recent first (as the layouts above).
#define GATHER_CACHE 4
static __thread gather_plan gather_cache[GATHER_CACHE];
static __thread int gather_cache_count;

static gather_plan *get_gather_plan(const outpost_conv_shape *s) {
    for (int i = 0; i < gather_cache_count; i++) {
        if (!same_geometry(&gather_cache[i].s, s)) continue;
        gather_plan hit = gather_cache[i];
        for (int j = i; j > 0; j--) gather_cache[j] = gather_cache[j - 1];
        gather_cache[0] = hit;
        return &gather_cache[0];
    }
    gather_plan made;
    if (!make_gather_plan(s, &made)) return NULL;
    if (gather_cache_count == GATHER_CACHE) free_gather_plan(&gather_cache[--gather_cache_count]);
    for (int j = gather_cache_count; j > 0; j--) gather_cache[j] = gather_cache[j - 1];
    gather_cache[0] = made;
    gather_cache_count++;
    return &gather_cache[0];
}

#ifdef OUTPOST_X86
// The cotangent of one image in planes of Rg x Cg with its pixels at row T, column L, zeros
// around them (planes zeroed once: only the pixels are written, as in to_phases).
AVX2 static void pad_into_planes(const outpost_conv_shape *s, const gather_plan *g, const float *gy, float *gq) {
    for (long co = 0; co < s->cout; co++)
        for (long y = 0; y < s->oh; y++) {
            const float *src = gy + (co * s->oh + y) * s->ow;
            float *dst = gq + (co * g->Rg + g->T + y) * g->Cg + g->L;
            long k = 0;
            for (; k + 8 <= s->ow; k += 8) _mm256_storeu_ps(dst + k, _mm256_loadu_ps(src + k));
            // The extra lanes are zeros, over padding or pixels written after this row.
            if (k < s->ow)
                store_first_lanes(dst + k, _mm256_maskload_ps(src + k, first_lanes(s->ow - k)), s->ow - k, gq + s->cout * g->Rg * g->Cg);
        }
}

static int input_grad_gather_f32(const outpost_conv_shape *s, const float *g, const float *w, float *dx, long n0, long n1) {
    gather_plan *plan = get_gather_plan(s);
    if (!plan) return 0;
    int direct = plan->phases == 1;
    layout dl;  // the layer's phase planes, where the phases write when not direct
    if (!direct && !get_layout(s, &dl, 16)) return 0;
    long planes = s->cout * plan->Rg * plan->Cg, group = 1, wsize = 0;
    for (long k = 0; k < plan->phases; k++) {
        gather_phase *f = &plan->ph[k];
        if (f->d.group > group) group = f->d.group;
        if (f->d.K * s->cin > wsize) wsize = f->d.K * s->cin;
    }
    float *gq = grow_zeroed(&plan->gq, &plan->gq_bytes, sizeof(float) * (size_t)(group * planes));
    float *wp = malloc(sizeof(float) * (size_t)(plan->phases * (wsize > 0 ? wsize : 1)));
    float *dxt = direct ? NULL : malloc(sizeof(float) * (size_t)(group * s->cin * dl.P));
    if (!gq || !wp || (!direct && !dxt)) { free(wp); free(dxt); return 0; }
    for (long k = 0; k < plan->phases; k++) {
        gather_phase *f = &plan->ph[k];
        for (long e = 0; e < f->d.K * s->cin; e++) wp[k * wsize + e] = w[f->widx[e]];
    }
    for (long n = n0; n < n1;) {
        long images = n1 - n < group ? n1 - n : group;
        for (long i = 0; i < images; i++) pad_into_planes(s, plan, g + (n + i) * image_out(s), gq + i * planes);
        for (long k = 0; k < plan->phases; k++) {
            gather_phase *f = &plan->ph[k];
            if (f->s.oh == 0 || f->s.ow == 0) continue;
            float *y = direct ? dx + n * image_in(s) : dxt + (f->a * s->sw + f->b) * dl.R * dl.C + f->q0 * dl.C + f->p0;
            for (long done = 0; done < images; done += f->d.group) {
                long now = images - done < f->d.group ? images - done : f->d.group;
                forward_f32_avx512(&f->s, &f->d, gq + done * planes, wp + k * wsize, y + done * f->d.yi, now, 0,
                                   tiles16(&f->s, &f->d, now));
            }
        }
        if (!direct)
            for (long i = 0; i < images; i++) from_phases_f32_avx2(s, &dl, dxt + i * s->cin * dl.P, dx + (n + i) * image_in(s));
        n += images;
    }
    free(wp); free(dxt);
    return 1;
}
#endif

// MARK: Entry points

// Lanes of the Float kernels to run: 16 (AVX-512, which also uses AVX2's phase planes), 8
// (AVX2 + FMA) or 1 (portable): the widest the CPU has within s->max_lanes, except that
// by default (max_lanes 0) a call with little work takes AVX2. Measured on a Xeon
// (Emerald Rapids), the AVX-512 kernels are 1.3 to 2 times as fast as AVX2 called back to
// back, but in W4 (batch-1 calls of a few microseconds between stretches of scalar code)
// they took as long as AVX2 in place and the whole process ran about 5% slower; in a
// microbenchmark, scalar code right after an AVX-512 call ran 2 to 7% slower than after an
// AVX2 one (a lower clock after 512-bit multiply-adds, presumably). In W3 (16 images per
// thread) the three kernels took 30% less time in place.
// AMD's Zen 4 runs 512-bit operations as two 256-bit halves at its full clock: there the
// AVX-512 kernels took 5 to 6% less time of W1 and W4 (batch 1) in place, so every call
// takes them.
// The measure of work leaves out the channel counts, so that every part of a single image
// split by channels takes the same kernels and the split stays exact.
#define AVX512_MIN_WORK 16384

static int float_lanes(const outpost_conv_shape *s, long images) {
    int lanes = 1;
#ifdef OUTPOST_X86
    if (outpost_cpu_has_avx2_fma()) lanes = outpost_cpu_has_avx512() ? 16 : 8;
#endif
    long max = s->max_lanes;
    if (max == 0 && lanes == 16 && !outpost_cpu_is_amd() && images * s->oh * s->ow * s->kh * s->kw < AVX512_MIN_WORK)
        lanes = 8;
    if (max > 0 && lanes > max) lanes = max >= 16 ? 16 : max >= 8 ? 8 : 1;
    return lanes;
}

static const char *lanes_name(int lanes) { return lanes == 16 ? "avx512" : lanes == 8 ? "avx2" : "portable"; }

const char *outpost_conv2d_direct_kernels(long max_lanes) {
    // The widest allowed (max_lanes 0: also what a call with enough work takes).
    outpost_conv_shape s = {0};
    s.oh = s.ow = s.kh = s.kw = 1;
    s.max_lanes = max_lanes;
    return lanes_name(float_lanes(&s, 1L << 40));
}

const char *outpost_conv2d_direct_kernels_for_least_work(void) {
    outpost_conv_shape s = {0};
    s.oh = s.ow = s.kh = s.kw = 1;
    return lanes_name(float_lanes(&s, 1));
}

// The weights as the AVX2 input-gradient kernel reads them: per block of four taps (in
// d->ord order, the last tap repeated past K), per output channel, the four taps' weights
// side by side. In place, a block's weights lie K apart per channel and in an order the
// prefetcher cannot follow; when another core has just updated them (an optimizer step,
// or the other shard of a batch) each of those reads waited for a cross-core transfer.
static void pack_taps(const outpost_conv_shape *s, const layout *d, const float *w, float *wt) {
    for (long b = 0; b < (d->K + 3) / 4; b++)
        for (long co = 0; co < s->cout; co++)
            for (long q = 0; q < 4; q++) {
                long k = b * 4 + q < d->K ? b * 4 + q : d->K - 1;
                wt[(b * s->cout + co) * 4 + q] = w[co * d->K + d->ord[k]];
            }
}

#ifdef OUTPOST_X86
// The cotangent of `images` consecutive images (at most d->group) with each channel's rows of
// all of them one after another: rows padded to owr, rows per channel to grows, channels to
// `channels`, zeros in the padding.
// Rows are short (7 to 16 pixels) and owr is whole vectors: one masked load and one plain
// store per 8 pixels. (Plain C loops here were compiled into a memcpy and a memset call per
// row, about 6% of W3's time.)
AVX2 static void pad_cotangent(const outpost_conv_shape *s, const layout *d, const float *g, float *gp, long channels, long images) {
    long filled = images * s->oh;
    for (long co = 0; co < channels; co++) {
        float *dst = gp + co * d->grows * d->owr;
        if (co < s->cout)
            for (long n = 0; n < images; n++)
                for (long y = 0; y < s->oh; y++, dst += d->owr) {
                    const float *src = g + n * image_out(s) + (co * s->oh + y) * s->ow;
                    for (long k = 0; k < d->owr; k += 8) _mm256_storeu_ps(dst + k, _mm256_maskload_ps(src + k, first_lanes(s->ow - k)));
                }
        for (long row = co < s->cout ? filled : 0; row < d->grows; row++, dst += d->owr)
            for (long k = 0; k < d->owr; k += 8) _mm256_storeu_ps(dst + k, _mm256_setzero_ps());
    }
}
#endif

int outpost_conv2d_direct_f32(const outpost_conv_shape *s, const float *x, const float *w, float *y, long n0, long n1) {
    int lanes = float_lanes(s, n1 - n0);
    layout d;
    if (!get_layout(s, &d, lanes)) return 0;
    float *xt = zeroed_planes(d.group * s->cin * d.P, sizeof(float));
    float *acc = malloc(sizeof(float) * (size_t)s->ow);
    if (!xt || !acc) { free(acc); return 0; }
    for (long n = n0; n < n1; n++) {
#ifdef OUTPOST_X86
        if (lanes == 16) {
            long images = n1 - n < d.group ? n1 - n : d.group;
            for (long k = 0; k < images; k++) to_phases_f32_avx2(s, &d, x + (n + k) * image_in(s), xt + k * s->cin * d.P);
            forward_f32_avx512(s, &d, xt, w, y + n * image_out(s), images, 0, tiles16(s, &d, images));
            n += images - 1;
            continue;
        }
        if (lanes == 8) {
            to_phases_f32_avx2(s, &d, x + n * image_in(s), xt);
            forward_f32_avx2(s, &d, xt, w, y + n * image_out(s));
            continue;
        }
#endif
        to_phases_f32(s, &d, x + n * image_in(s), xt);
        forward_f32_portable(s, &d, xt, w, y + n * image_out(s), acc);
    }
    free(acc);
    return 1;
}

int outpost_conv2d_direct_f64(const outpost_conv_shape *s, const double *x, const double *w, double *y, long n0, long n1) {
    layout d;
    if (!get_layout(s, &d, 1)) return 0;
    double *xt = zeroed_planes(s->cin * d.P, sizeof(double));
    double *acc = malloc(sizeof(double) * (size_t)s->ow);
    if (!xt || !acc) { free(acc); return 0; }
    for (long n = n0; n < n1; n++) {
        to_phases_f64(s, &d, x + n * image_in(s), xt);
        forward_f64_portable(s, &d, xt, w, y + n * image_out(s), acc);
    }
    free(acc);
    return 1;
}

int outpost_conv2d_input_grad_direct_f32(const outpost_conv_shape *s, const float *g, const float *w, float *dx, long n0, long n1) {
    int lanes = float_lanes(s, n1 - n0);
#ifdef OUTPOST_X86
    if (lanes == 16) return input_grad_gather_f32(s, g, w, dx, n0, n1);
#endif
    layout d;
    if (!get_layout(s, &d, lanes)) return 0;
    // AVX2 and the portable loops scatter, one image at a time.
    float *dxt = malloc(sizeof(float) * (size_t)(s->cin * d.P));
    float *gp = malloc(sizeof(float) * (size_t)(s->cout * d.grows * d.owr));
    float *wt = malloc(sizeof(float) * (size_t)((d.K + 3) / 4 * s->cout * 4));
    if (!dxt || !gp || !wt) { free(dxt); free(gp); free(wt); return 0; }
    pack_taps(s, &d, w, wt);
    for (long n = n0; n < n1; n++) {
        memset(dxt, 0, sizeof(float) * (size_t)(s->cin * d.P));
#ifdef OUTPOST_X86
        if (lanes == 8) {
            pad_cotangent(s, &d, g + n * image_out(s), gp, s->cout, 1);
            input_grad_f32_avx2(s, &d, gp, wt, dxt);
            from_phases_f32_avx2(s, &d, dxt, dx + n * image_in(s));
            continue;
        }
#endif
        input_grad_f32_portable(s, &d, g + n * image_out(s), w, dxt);
        from_phases_f32(s, &d, dxt, dx + n * image_in(s));
    }
    free(dxt); free(gp); free(wt);
    return 1;
}

int outpost_conv2d_input_grad_direct_f64(const outpost_conv_shape *s, const double *g, const double *w, double *dx, long n0, long n1) {
    layout d;
    if (!get_layout(s, &d, 1)) return 0;
    double *dxt = malloc(sizeof(double) * (size_t)(s->cin * d.P));
    if (!dxt) { return 0; }
    for (long n = n0; n < n1; n++) {
        memset(dxt, 0, sizeof(double) * (size_t)(s->cin * d.P));
        input_grad_f64_portable(s, &d, g + n * image_out(s), w, dxt);
        from_phases_f64(s, &d, dxt, dx + n * image_in(s));
    }
    free(dxt);
    return 1;
}

// Taps [mlo, mhi) (multiples of four, or up to K) of every output channel; the 16-lane
// kernels only, unless the range is all taps.
static int weight_grad_f32(const outpost_conv_shape *s, const float *x, const float *g, float *dw, long n0, long n1,
                           long mlo, long mhi) {
    int lanes = float_lanes(s, n1 - n0), avx = lanes > 1;
    layout d;
    if (!get_layout(s, &d, lanes)) return 0;
    if (mhi < 0) mhi = d.K;
    if (lanes != 16 && (mlo != 0 || mhi != d.K)) return 0;
    if (mlo == 0 && mhi == d.K) memset(dw, 0, sizeof(float) * (size_t)(s->cout * d.K));
    else
        for (long c = 0; c < s->cout; c++) memset(dw + c * d.K + mlo, 0, sizeof(float) * (size_t)(mhi - mlo));
    long count = n1 > n0 ? n1 - n0 : 0, coutr = (s->cout + 3) / 4 * 4;
    // Units of d.group images (one, except for the AVX-512 kernels' odd-row pairs), each with
    // its own block of padded cotangent.
    long G = d.group, groups = (count + G - 1) / G;
#ifdef OUTPOST_X86
    long tiles = lanes == 16 ? tiles16(s, &d, G) : s->oh * (d.owr / 8), per = lanes == 16 ? 3 : 2;
#else
    long tiles = s->oh * (d.owr / 8), per = 2;
#endif
    long gsize = coutr * d.grows * d.owr;
    // The SIMD kernels take whole images in chunks, and sum over all chunks before reducing:
    // AVX2 as many as keep their phase planes and cotangent within 24 KB (L1); AVX-512
    // within 96 KB (L2), since it parks four times as many sums per block between chunks
    // (16 vectors of 16 lanes against 8 of 8) and with one 7x7 image (four tiles) a chunk
    // moved more sums than it multiplied.
    long budget = lanes == 16 ? 98304 : 24576;
    long perGroup = (G * s->cin * d.P + gsize) * (long)sizeof(float), chunk = budget / perGroup > 1 ? budget / perGroup : 1;
    if (chunk > groups) chunk = groups > 0 ? groups : 1;
    long held = avx ? chunk : 1, nrows = chunk * tiles;
    long parkSize = lanes == 16 ? ((d.K + 3) / 4) * (coutr / 4) * 256 : ((d.K + 1) / 2) * (coutr / 4) * 64;
    float *xt = zeroed_planes(held * G * s->cin * d.P, sizeof(float));
    float *gp = avx ? malloc(sizeof(float) * (size_t)(held * gsize)) : NULL;
    long *rows = avx ? malloc(sizeof(long) * (size_t)(per * nrows)) : NULL;
    float *partial = avx && groups > chunk ? malloc(sizeof(float) * (size_t)parkSize) : NULL;
    if (!xt || (avx && (!gp || !rows)) || (avx && groups > chunk && !partial)) {
        free(gp); free(rows); free(partial);
        return 0;
    }
#ifdef OUTPOST_X86
    if (avx) {
        for (long c0 = 0; c0 < groups; c0 += chunk) {
            long units = groups - c0 < chunk ? groups - c0 : chunk, r = 0;
            for (long k = 0; k < units; k++) {
                long first = n0 + (c0 + k) * G, images = n1 - first < G ? n1 - first : G;
                float *planes = xt + k * G * s->cin * d.P;
                for (long i = 0; i < images; i++) to_phases_f32_avx2(s, &d, x + (first + i) * image_in(s), planes + i * s->cin * d.P);
                pad_cotangent(s, &d, g + first * image_out(s), gp + k * gsize, coutr, images);
                if (lanes == 16) {
                    for (long t = 0; t < tiles16(s, &d, images); t++, r++) {
                        tile16 tl = tile16_at(s, &d, images, t);
                        rows[3 * r] = k * G * s->cin * d.P + tl.in0;
                        rows[3 * r + 1] = k * G * s->cin * d.P + tl.in1;
                        rows[3 * r + 2] = k * gsize + tl.g;
                    }
                    continue;
                }
                for (long oy = 0; oy < s->oh; oy++)
                    for (long t = 0; t < d.owr / 8; t++, r++) {
                        rows[r] = k * s->cin * d.P + oy * d.C + t * 8;
                        rows[nrows + r] = k * gsize + oy * d.owr + t * 8;
                    }
            }
            if (lanes == 16) weight_grad_f32_avx512(s, &d, xt, gp, rows, r, c0 == 0, c0 + units >= groups, partial, dw, mlo, mhi);
            else weight_grad_f32_avx2(s, &d, xt, gp, rows, rows + nrows, r, c0 == 0, c0 + units >= groups, partial, dw);
        }
    } else
#endif
    {
        for (long n = n0; n < n1; n++) {
            to_phases_f32(s, &d, x + n * image_in(s), xt);
            weight_grad_f32_portable(s, &d, xt, g + n * image_out(s), dw);
        }
    }
    free(gp); free(rows); free(partial);
    return 1;
}

int outpost_conv2d_weight_grad_direct_f32(const outpost_conv_shape *s, const float *x, const float *g, float *dw, long n0, long n1) {
    return weight_grad_f32(s, x, g, dw, n0, n1, 0, -1);
}

int outpost_conv2d_weight_grad_taps_f32(const outpost_conv_shape *s, const float *x, const float *g, float *dw, long m0, long m1) {
    return weight_grad_f32(s, x, g, dw, 0, s->n, m0, m1);
}

long outpost_conv2d_single_image_tiles(const outpost_conv_shape *s) {
#ifdef OUTPOST_X86
    layout d;
    if (float_lanes(s, 1) != 16 || !get_layout(s, &d, 16)) return 0;
    return tiles16(s, &d, 1);
#else
    (void)s;
    return 0;
#endif
}

int outpost_conv2d_direct_tiles_f32(const outpost_conv_shape *s, const float *x, const float *w, float *y, long t0, long t1) {
#ifdef OUTPOST_X86
    layout d;
    if (float_lanes(s, 1) != 16 || !get_layout(s, &d, 16)) return 0;
    float *xt = zeroed_planes(d.group * s->cin * d.P, sizeof(float));
    if (!xt) return 0;
    to_phases_f32_avx2(s, &d, x, xt);
    forward_f32_avx512(s, &d, xt, w, y, 1, t0, t1);
    return 1;
#else
    (void)s; (void)x; (void)w; (void)y; (void)t0; (void)t1;
    return 0;
#endif
}

int outpost_conv2d_weight_grad_direct_f64(const outpost_conv_shape *s, const double *x, const double *g, double *dw, long n0, long n1) {
    layout d;
    if (!get_layout(s, &d, 1)) return 0;
    memset(dw, 0, sizeof(double) * (size_t)(s->cout * d.K));
    double *xt = zeroed_planes(s->cin * d.P, sizeof(double));
    if (!xt) { return 0; }
    for (long n = n0; n < n1; n++) {
        to_phases_f64(s, &d, x + n * image_in(s), xt);
        weight_grad_f64_portable(s, &d, xt, g + n * image_out(s), dw);
    }
    return 1;
}
