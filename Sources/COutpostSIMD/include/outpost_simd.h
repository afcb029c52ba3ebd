#ifndef OUTPOST_SIMD_H
#define OUTPOST_SIMD_H

// Vector loops the Swift compiler cannot emit for the package's generic x86-64 target:
// each function picks AVX-512 or AVX2+FMA code at run time where the CPU has it (and a
// plain C loop elsewhere, including non-x86 machines). Results do not depend on which path runs beyond
// the order of Double additions in the dot products.

#ifdef __cplusplus
extern "C" {
#endif

/// A spin-wait hint to the CPU (x86 `pause`; nothing elsewhere), for the engine's worker
/// threads while they wait for work without sleeping.
static inline void outpost_cpu_relax(void) {
#if defined(__x86_64__) || defined(_M_X64)
    __builtin_ia32_pause();
#endif
}

/// Σ a[i]·b[i], accumulated in double (each Float product is exact in double).
double outpost_dot_f32(const float *a, const float *b, long n);
double outpost_dot_f64(const double *a, const double *b, long n);

/// Σ a[i]² and Σ a[i]·b[i] in one pass, accumulated in double.
void outpost_dot2_f32(const float *a, const float *b, long n, double *aa, double *ab);
void outpost_dot2_f64(const double *a, const double *b, long n, double *aa, double *ab);

/// y[i] = alpha·a[i] + beta·b[i], rounded after each product and after the sum.
void outpost_axpby_f32(float alpha, const float *a, float beta, const float *b, float *y, long n);
void outpost_axpby_f64(double alpha, const double *a, double beta, const double *b, double *y, long n);

/// Σ (sa·a[i] − sb·b[i])², each term formed and accumulated in double.
double outpost_scaled_sqdist_f32(const float *a, double sa, const float *b, double sb, long n);
double outpost_scaled_sqdist_f64(const double *a, double sa, const double *b, double sb, long n);

/// y[i] = y[i] + alpha·x[i], rounded after the product and after the sum (no fused
/// multiply-add), as the scalar Swift loop it replaces.
void outpost_axpy_f32(float alpha, const float *x, float *y, long n);
void outpost_axpy_f64(double alpha, const double *x, double *y, long n);

/// y[i] = 1 / (1 + exp(-x[i])) for x >= 0 and exp(x) / (1 + exp(x)) otherwise, with a
/// vectorized exp (Cephes' polynomial, within 2 ulp of expf); lanes outside the
/// polynomial's range, and NaN, go through libm.
void outpost_sigmoid_f32(const float *x, float *y, long n);

/// Sizes of a 2-D convolution with groups = 1 (input n×cin×h×w, weight cout×cin×kh×kw,
/// output n×cout×oh×ow), for the direct kernels below.
typedef struct {
    long n, cin, h, w, cout, kh, kw, oh, ow;
    long sh, sw, ph, pw, dh, dw;
} outpost_conv_shape;

/// Direct convolutions (no im2col) of images n0..<n1, for few channels: the forward
/// y = conv(x, w), the input gradient dx = convᵀ(g, w) (written, not added) and the weight
/// gradient dw = Σ over those images (written). Return 0 when scratch memory could not be
/// allocated (nothing useful written then), 1 otherwise.
int outpost_conv2d_direct_f32(const outpost_conv_shape *s, const float *x, const float *w, float *y, long n0, long n1);
int outpost_conv2d_direct_f64(const outpost_conv_shape *s, const double *x, const double *w, double *y, long n0, long n1);
int outpost_conv2d_input_grad_direct_f32(const outpost_conv_shape *s, const float *g, const float *w, float *dx, long n0, long n1);
int outpost_conv2d_input_grad_direct_f64(const outpost_conv_shape *s, const double *g, const double *w, double *dx, long n0, long n1);
int outpost_conv2d_weight_grad_direct_f32(const outpost_conv_shape *s, const float *x, const float *g, float *dw, long n0, long n1);
int outpost_conv2d_weight_grad_direct_f64(const outpost_conv_shape *s, const double *x, const double *g, double *dw, long n0, long n1);

/// Which code path the functions above take: "avx2" or "scalar".
const char *outpost_simd_path(void);

#ifdef __cplusplus
}
#endif

#endif
