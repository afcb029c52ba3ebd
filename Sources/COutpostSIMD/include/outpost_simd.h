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
/// output n×cout×oh×ow), for the direct kernels below, and which of their Float kernels
/// run: max_lanes 0 picks (AVX-512 for calls with enough work, else AVX2 + FMA, else the
/// portable loops, as the CPU has them); otherwise the widest the CPU has up to that many
/// lanes (16: AVX-512, 8: AVX2 + FMA, 1: the portable loops), a cross-check.
typedef struct {
    long n, cin, h, w, cout, kh, kw, oh, ow;
    long sh, sw, ph, pw, dh, dw;
    long max_lanes;
} outpost_conv_shape;

/// The widest Float kernels the direct convolutions run on this CPU under `max_lanes` (as
/// in outpost_conv_shape): "avx512", "avx2" or "portable".
const char *outpost_conv2d_direct_kernels(long max_lanes);

/// Whether the CPU is AMD's (checked once; 0 on non-x86 machines): the direct convolutions
/// run AVX-512 for every call there (see float_lanes in conv_direct.c).
int outpost_cpu_is_amd(void);

/// The Float kernels a direct convolution with the least work (one 1x1 output pixel of a
/// 1x1 kernel) runs by default (max_lanes 0): "avx2" where AVX-512 is kept for batches,
/// else as outpost_conv2d_direct_kernels(0).
const char *outpost_conv2d_direct_kernels_for_least_work(void);

/// Direct convolutions (no im2col) of images n0..<n1, for few channels: the forward
/// y = conv(x, w), the input gradient dx = convᵀ(g, w) (written, not added) and the weight
/// gradient dw = Σ over those images (written). Return 0 when scratch memory could not be
/// allocated (nothing useful written then), 1 otherwise.
int outpost_conv2d_direct_f32(const outpost_conv_shape *s, const float *x, const float *w, float *y, long n0, long n1);
int outpost_conv2d_direct_f64(const outpost_conv_shape *s, const double *x, const double *w, double *y, long n0, long n1);
int outpost_conv2d_input_grad_direct_f32(const outpost_conv_shape *s, const float *g, const float *w, float *dx, long n0, long n1);
int outpost_conv2d_input_grad_direct_f64(const outpost_conv_shape *s, const double *g, const double *w, double *dx, long n0, long n1);
int outpost_conv2d_weight_grad_direct_f32(const outpost_conv_shape *s, const float *x, const float *g, float *dw, long n0, long n1);

/// One image on two threads, for the shapes the 16-lane (AVX-512) kernels run: the number of
/// output tiles of one image (0 where those kernels do not run it, or on other CPUs); the
/// forward convolution of image 0 (s->n ignored) restricted to tiles [t0, t1); and the
/// weight gradient over all s->n images restricted to taps [m0, m1) of every output channel
/// (m0, m1 multiples of four, or m1 = cin·kh·kw), writing only those entries of dw. Each
/// element is computed exactly as by the whole call. Return 0 where the 16-lane kernels do
/// not run the shape, or when scratch memory could not be allocated.
long outpost_conv2d_single_image_tiles(const outpost_conv_shape *s);
int outpost_conv2d_direct_tiles_f32(const outpost_conv_shape *s, const float *x, const float *w, float *y, long t0, long t1);
int outpost_conv2d_weight_grad_taps_f32(const outpost_conv_shape *s, const float *x, const float *g, float *dw, long m0, long m1);
int outpost_conv2d_weight_grad_direct_f64(const outpost_conv_shape *s, const double *x, const double *g, double *dw, long n0, long n1);

/// Sizes of a Winograd F(2×2, 3×3) convolution (3×3 kernel, stride 1, dilation 1, groups 1,
/// Float32): input n×cin×h×w, output n×cout×oh×ow with oh = h + 2·pad − 2 (likewise ow),
/// th = ⌈oh/2⌉ × tw = ⌈ow/2⌉ tiles of 2×2 output pixels per image. The matrices between the
/// transforms are 16 matrices [channels][ld] (ld ≥ n·th·tw), xs elements apart, tile
/// t = (image·th + ty)·tw + tx in column t.
typedef struct {
    long n, cin, h, w, cout, oh, ow, pad, th, tw;
} outpost_wino_shape;

/// V = Bᵀ d B of input channels c0..<c1 and tile rows r0..<r1 (r = image·th + ty; tile
/// (r, tx) in column (r − r0)·tw + tx) into v (16 × [cin][ldv], xs apart).
int outpost_wino_input_f32(const outpost_wino_shape *s, const float *x, float *v, long ldv, long xs, long c0, long c1, long r0, long r1);
/// The adjoint of the input transform: input channels c0..<c1 of dx from q (tile rows r0..<r1,
/// columns as above). The input rows that only these tile rows reach are written; the two a
/// tile row shares with the one before it are added (calls on consecutive row ranges run in
/// order), or, for the first tile row when `edge` is not NULL, written to
/// edge[((c − c0)·2 + k)·w ...] (k = 0, 1) for the caller to add to dx rows 2ty − pad + k.
int outpost_wino_input_adjoint_f32(const outpost_wino_shape *s, const float *q, long ldq, long xs, float *dx, long c0, long c1,
                                   long r0, long r1, float *edge);
/// Y = Aᵀ M A: output channels o0..<o1 and tile rows r0..<r1 of y (written) from m (16 × [cout][ldm]).
int outpost_wino_output_f32(const outpost_wino_shape *s, const float *m, long ldm, long xs, float *y, long o0, long o1, long r0, long r1);
/// The adjoint of the output transform, P = A dY Aᵀ: output channels o0..<o1 and tile rows
/// r0..<r1 of gy into p (16 × [cout][ldp]).
int outpost_wino_output_adjoint_f32(const outpost_wino_shape *s, const float *gy, float *p, long ldp, long xs, long o0, long o1,
                                    long r0, long r1);
/// U = G g Gᵀ of output channels o0..<o1 of the cout×cin×3×3 weight w into u (16 × [cout][cin], xs apart).
void outpost_wino_weight_f32(const outpost_wino_shape *s, const float *w, float *u, long xs, long o0, long o1);
/// The adjoint of the weight transform: output channels o0..<o1 of dw (written) from du (16 × [cout][cin], xs apart).
void outpost_wino_weight_adjoint_f32(const outpost_wino_shape *s, const float *du, long xs, float *dw, long o0, long o1);

/// The same six transforms for Winograd F(4×4, 3×3): the same shape with th = ⌈oh/4⌉ ×
/// tw = ⌈ow/4⌉ tiles of 4×4 output pixels, 36 matrices ξ = 6i + j (6×6 input tiles) where
/// F(2×2, 3×3) has 16, input rows 4ty − pad + k (k = 0, 1) in the edge buffer, and the same
/// contracts otherwise.
int outpost_wino43_input_f32(const outpost_wino_shape *s, const float *x, float *v, long ldv, long xs, long c0, long c1, long r0, long r1);
int outpost_wino43_input_adjoint_f32(const outpost_wino_shape *s, const float *q, long ldq, long xs, float *dx, long c0, long c1,
                                     long r0, long r1, float *edge);
int outpost_wino43_output_f32(const outpost_wino_shape *s, const float *m, long ldm, long xs, float *y, long o0, long o1, long r0, long r1);
int outpost_wino43_output_adjoint_f32(const outpost_wino_shape *s, const float *gy, float *p, long ldp, long xs, long o0, long o1,
                                      long r0, long r1);
void outpost_wino43_weight_f32(const outpost_wino_shape *s, const float *w, float *u, long xs, long o0, long o1);
void outpost_wino43_weight_adjoint_f32(const outpost_wino_shape *s, const float *du, long xs, float *dw, long o0, long o1);

/// C = op(A)·B (accumulate = 0) or C += op(A)·B (accumulate = 1) for products with few
/// columns, reading A in place instead of packing it (skinny_gemm.c). Row-major: C is m×n
/// (row stride ldc), B is k×n (row stride ldb), A is m×k, or k×m when transa (op(A) = Aᵀ),
/// with row stride lda. Returns 0, touching nothing, where the CPU lacks AVX-512 (the
/// caller then uses BLAS), else 1.
int outpost_skinny_sgemm(int transa, long m, long n, long k, const float *a, long lda, const float *b, long ldb, float *c,
                         long ldc, int accumulate);
/// Whether `outpost_skinny_sgemm` runs on this CPU.
int outpost_skinny_sgemm_available(void);

/// C = A·Bᵀ (accumulate = 0, C only written) or C += A·Bᵀ (accumulate = 1) for a short
/// reduction (skinny_gemm.c): A is m×k, B is n×k, C is m×n, all row-major with row strides
/// lda, ldb, ldc. Returns 0, touching nothing, where the CPU lacks AVX-512 or k is outside
/// 1...96 (the caller then uses BLAS), else 1.
int outpost_wide_sgemm_nt(long m, long n, long k, const float *a, long lda, const float *b, long ldb, float *c, long ldc,
                          int accumulate);

/// Which code path the functions above take: "avx2" or "scalar".
const char *outpost_simd_path(void);

/// Denormal Float and Double values read and written as zero on the calling thread (x86's
/// MXCSR flush-to-zero and denormals-are-zero bits): set to `on` (0 or 1), returning the
/// previous setting. Returns -1 and changes nothing where the CPU has no such mode.
int outpost_flush_denormals(int on);
/// The calling thread's setting: 1 flushing, 0 not, -1 where the CPU has no such mode.
int outpost_flushing_denormals(void);

/// L-BFGS's pass over the history of (s, y) pairs, per block of elements (block b:
/// [bounds[b], bounds[b+1]), for b < blocks): the pairs are the rows slots[0..<count] of s
/// and y (row r starts at r·stride); for pair k in block b, with o = out + 4·count·b,
/// o[4k] = sₖ·g and o[4k+1] = yₖ·g, and where ynew is not NULL o[4k+2] = sₖ·ynew and
/// o[4k+3] = yₖ·ynew, each accumulated in double (float input: products summed in float
/// over runs of 32 vectors of 16, then in double). A pair's sums in a block do not depend on
/// the other pairs or blocks in the call, only on the block's range.
void outpost_lbfgs_dots_f32(const float *s, const float *y, long stride, const long *slots, long count, const float *g,
                            const float *ynew, const long *bounds, long blocks, double *out);
void outpost_lbfgs_dots_f64(const double *s, const double *y, long stride, const long *slots, long count, const double *g,
                            const double *ynew, const long *bounds, long blocks, double *out);

/// d[i] = cg·g[i] + Σₖ (cy[k]·yₖ[i] + cs[k]·sₖ[i]) for i in [lo, hi), the pairs as in
/// outpost_lbfgs_dots_*, accumulated in double in that order (g, then each pair's y and s in
/// list order) and rounded once. Float input: each run of four pairs (eight terms, the
/// coefficients rounded to float) is summed in float with fused multiply-adds where the CPU
/// has them, and that sum added in double. An element's value does not depend on [lo, hi).
/// The range is swept from its end to its start.
void outpost_lbfgs_combine_f32(const float *s, const float *y, long stride, const long *slots, long count, const double *cs,
                               const double *cy, const float *g, double cg, float *d, long lo, long hi);
void outpost_lbfgs_combine_f64(const double *s, const double *y, long stride, const long *slots, long count, const double *cs,
                               const double *cy, const double *g, double cg, double *d, long lo, long hi);

/// The two-loop recursion of L-BFGS on its Gram matrices, for the m pairs in slots
/// (head + i) mod slots (i = 0: oldest): ro, 1/(yᵀs) by slot; sy_by_newer[b·slots + a] =
/// sy_by_older[a·slots + b] = s_aᵀy_b for a older than b, yy[a·slots + b] = y_aᵀy_b (slots);
/// dots[4i] = s_iᵀg, dots[4i+1] = y_iᵀg (i logical). Writes the coefficients of
/// d = −hdiag·g + Σ (cy[i]·y_i + cs[i]·s_i); work holds 3m doubles.
void outpost_lbfgs_coefficients(long m, long head, long slots, const double *ro, const double *sy_by_newer,
                                const double *sy_by_older, const double *yy, const double *dots, double hdiag,
                                double *cs, double *cy, double *work);

/// Element-wise Float loops at the CPU's vector width, each element the same IEEE
/// operations as a scalar loop: y = a op b over n elements (a scalar operand, flagged, is
/// read at index 0 throughout; sigmoid backward is a·b·(1 − b)), and y = op(x) with the
/// constant c where the op takes one.
enum { OUTPOST_EW_ADD = 0, OUTPOST_EW_SUB = 1, OUTPOST_EW_MUL = 2, OUTPOST_EW_DIV = 3, OUTPOST_EW_SIGMOID_BACKWARD = 4 };
enum { OUTPOST_EW_NEG = 0, OUTPOST_EW_ADD_SCALAR = 1, OUTPOST_EW_MUL_SCALAR = 2, OUTPOST_EW_RSUB_SCALAR = 3, OUTPOST_EW_SQUARE = 4 };
void outpost_binary_f32(int op, const float *a, int a_scalar, const float *b, int b_scalar, float *y, long n);
void outpost_unary_f32(int op, float c, const float *x, float *y, long n);

/// One SGD-with-momentum step in place, in PyTorch's order per element: d = g + wd·p (d = g
/// when decays is 0), b = b·m + keep·d, p = p + neg_lr·b.
void outpost_sgd_momentum_f32(float *p, const float *g, float *b, float wd, int decays, float m, float keep, float neg_lr, long n);

#ifdef __cplusplus
}
#endif

#endif
