// `outpost-bench --conv`: the wide 3×3 convolutions of W2 and W5 timed kernel by kernel on
// the Winograd F(2×2, 3×3) and F(4×4, 3×3) paths and on the im2col path, for the shape rule in
// OutpostTensor/Backend/CPU/WinogradConvolution.swift (docs/performance.md).
import Foundation
import OutpostTensor

extension Benchmarks {
    /// (name, batch, cin, cout, size) of the convolutions timed by `--conv`.
    static let convolutionShapes: [(String, Int, Int, Int, Int)] = [
        ("W2 64->64 32x32", 1, 64, 64, 32), ("W2 128->128 16x16", 1, 128, 128, 16),
        ("W2 256->256 8x8", 1, 256, 256, 8), ("W2 512->512 4x4", 1, 512, 512, 4),
        ("W5 64->128 32x32", 8, 64, 128, 32), ("W5 128->128 32x32", 8, 128, 128, 32),
        ("W5 128->256 32x32", 8, 128, 256, 32), ("W5 256->256 32x32", 8, 256, 256, 32),
        ("W5 256->256 10x10", 8, 256, 256, 10),
        ("32->32 32x32 b1", 1, 32, 32, 32), ("32->32 8x8 b1", 1, 32, 32, 8), ("64->64 4x4 b1", 1, 64, 64, 4),
        ("256->256 4x4 b1", 1, 256, 256, 4), ("512->512 2x2 b1", 1, 512, 512, 2),
    ]

    /// Prints milliseconds per call of the forward, input-gradient and weight-gradient
    /// kernels (padding 1) with Winograd F(2,3), Winograd F(4,3) and im2col, and the speedups
    /// of both Winograd tiles over im2col.
    /// `only`: names starting with one of these (case-insensitive), or all.
    public static func convolutionTiming(seconds: Double, only: [String]? = nil) {
        print("shape                  fwd F23/F43/im2col ms  F23x  F43x   dgrad F23/F43/im2col ms F23x  F43x   wgrad F23/F43/im2col ms F23x  F43x")
        for (name, n, cin, cout, size) in convolutionShapes where only?.contains(where: { name.uppercased().hasPrefix($0) }) ?? true {
            var rng = RandomGenerator(seed: 3)
            let x = Tensor.normal([n, cin, size, size], using: &rng)
            let w = Tensor.normal([cout, cin, 3, 3], std: 0.05, using: &rng)
            let g = Tensor.normal([n, cout, size, size], using: &rng)
            let wVar = w.requiringGrad()
            // Each call gets fresh copies of x and g: both paths keep transforms (im2col's
            // column matrix, Winograd's V and P) with their buffers, which a loop over one
            // buffer would reuse for free. The weight gradient is timed after an untimed
            // forward on the same copy of x, as in an attack step (where the forward has
            // already unfolded or transformed x). The weight is the same in every call, as a
            // model's weights are across an attack's steps.
            func time(_ policy: Engine.WinogradPolicy, _ kernel: Int) -> Double {
                Engine.winograd = policy
                defer { Engine.winograd = .shapeRule }
                var total = 0.0, calls = 0
                while total < seconds || calls < 2 {
                    let xc = x + 0, gc = g + 0
                    let y = kernel == 2 ? xc.conv2d(wVar, padding: 1) : nil
                    let start = now()
                    switch kernel {
                    case 0: _ = withoutGrad { xc.conv2d(w, padding: 1) }
                    case 1: _ = withoutGrad { gc.convTranspose2d(w, padding: 1) }
                    default: _ = grad(of: y!, wrt: [wVar], seed: gc)
                    }
                    if calls > 0 { total += now() - start }
                    calls += 1
                }
                return total / Double(calls - 1) * 1000
            }
            var cells: [String] = []
            for kernel in 0..<3 {
                let t = [Engine.WinogradPolicy.wherePossible, .wherePossibleF4x4, .off].map { time($0, kernel) }
                cells.append(String(format: "%7.2f/%7.2f/%7.2f %5.2f %5.2f", t[0], t[1], t[2], t[2] / t[0], t[2] / t[1]))
            }
            print(name.padding(toLength: 22, withPad: " ", startingAt: 0), cells.joined(separator: "  "))
        }
    }
}
