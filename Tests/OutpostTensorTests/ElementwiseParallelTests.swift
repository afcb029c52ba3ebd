import COutpostSIMD
@testable import OutpostTensor
import XCTest

/// Elementwise kernels split across threads: every unary and binary op, on flat, scalar and
/// broadcast operands large enough to be split (with chunks that start mid-row and mid-plane),
/// gives exactly the elements of the same op on one thread, and those are the op's values.
final class ElementwiseParallelTests: XCTestCase {
    private static let unaryOps: [UnaryOp] = [
        .neg, .exp, .log, .sqrt, .abs, .sign, .sigmoid, .tanh, .relu, .erf, .softplus, .square, .reciprocal,
        .addScalar(0.5), .mulScalar(-1.5), .powScalar(2), .powScalar(3), .rsubScalar(2), .rdivScalar(3),
        .clamp(-0.5, 0.75), .inRange(-0.25, 0.5), .leakyRelu(0.1), .positiveMask(slope: 0.2),
        .greaterThan(0.1), .lessThan(-0.1), .isNaNMask,
    ]
    private static let binaryOps: [BinaryOp] = [.add, .sub, .mul, .div, .pow, .maximum, .minimum, .equal, .greater, .sigmoidBackward]

    private func buffer(_ count: Int, dtype: DType, seed: Int, positive: Bool = false) -> Buffer {
        let b = Buffer(count: count, dtype: dtype)
        var state = UInt64(truncatingIfNeeded: seed) &* 0x9E37_79B9_7F4A_7C15 | 1
        for i in 0..<count {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let u = Double(state >> 11) / Double(1 << 53)
            // A few exact ties and zeros, so `equal`, `sign` and the masks see both outcomes.
            let v = i % 97 == 0 ? 0 : (positive ? 0.1 + 2 * u : 4 * u - 2)
            switch dtype {
            case .float32: b.pointer(Float.self)[i] = Float(v)
            case .float64: b.pointer(Double.self)[i] = v
            }
        }
        return b
    }

    private func elements(_ b: Buffer) -> [Double] {
        switch b.dtype {
        case .float32: return (0..<b.count).map { Double(b.pointer(Float.self)[$0]) }
        case .float64: return (0..<b.count).map { b.pointer(Double.self)[$0] }
        }
    }

    /// `body` on one thread and on three; both results, which must agree bit for bit.
    private func onOneAndThreeThreads(_ body: () -> Buffer, file: StaticString = #filePath, line: UInt = #line) -> [Double] {
        let saved = Engine.threads
        defer { Engine.threads = saved }
        Engine.threads = 1
        let serial = elements(body())
        Engine.threads = 3
        let split = elements(body())
        XCTAssertEqual(serial.count, split.count, file: file, line: line)
        let mismatch = serial.indices.first { serial[$0].bitPattern != split[$0].bitPattern && !(serial[$0].isNaN && split[$0].isNaN) }
        XCTAssertNil(mismatch, "split result differs from one thread's at element \(mismatch ?? -1)", file: file, line: line)
        return serial
    }

    /// The vectorized Float sigmoid gives each element the same bits wherever it sits: at any
    /// offset from the start of a call (a thread's share begins anywhere), in a call's last
    /// partial vector, and beside out-of-range (|x| > 87) or NaN neighbours, which take the
    /// scalar formula for themselves alone.
    func testFloatSigmoidDependsOnlyOnEachElement() {
        var values: [Float] = (0..<203).map { i in Float(i % 41) * 4.5 - 90 + Float(i) * 0.013 }
        values[17] = .nan
        values[50] = .infinity
        values[51] = -.infinity
        let reference = values.map { v -> Float in
            var y: Float = 0
            withUnsafePointer(to: v) { x in outpost_sigmoid_f32(x, &y, 1) }
            return y
        }
        for offset in 0..<17 {
            let n = values.count - offset
            var out = [Float](repeating: 0, count: n)
            values.withUnsafeBufferPointer { x in outpost_sigmoid_f32(x.baseAddress! + offset, &out, n) }
            for i in 0..<n where out[i].bitPattern != reference[i + offset].bitPattern && !(out[i].isNaN && reference[i + offset].isNaN) {
                XCTFail("sigmoid(\(values[i + offset])) at offset \(offset): \(out[i]) against \(reference[i + offset]) alone")
                return
            }
        }
        XCTAssertEqual(reference[50], 1)
        XCTAssertEqual(reference[51], 0)
        XCTAssertTrue(reference[17].isNaN)
    }

    /// The Float ops that run as C loops at the CPU's vector width (`outpost_binary_f32`,
    /// `outpost_unary_f32`) give each element the bits of the scalar Float formula, for
    /// every length up to two vectors and more (tails), flat and scalar operands.
    func testVectorizedFloatLoopsEqualTheScalarFormula() {
        let binary: [(BinaryOp, (Float, Float) -> Float)] = [
            (.add, { $0 + $1 }), (.sub, { $0 - $1 }), (.mul, { $0 * $1 }), (.div, { $0 / $1 }), (.sigmoidBackward, { $0 * $1 * (1 - $1) }),
        ]
        let unary: [(UnaryOp, (Float) -> Float)] = [
            (.neg, { -$0 }), (.addScalar(0.3), { $0 + Float(0.3) }), (.mulScalar(-1.7), { $0 * Float(-1.7) }),
            (.rsubScalar(2.1), { Float(2.1) - $0 }), (.square, { $0 * $0 }),
        ]
        for n in Array(1...40) + [3072, 3077] {
            let a = buffer(n, dtype: .float32, seed: 11 + n), b = buffer(n, dtype: .float32, seed: 12 + n, positive: true)
            let s = buffer(1, dtype: .float32, seed: 13, positive: true)
            let (av, bv, sv) = (elements(a).map(Float.init), elements(b).map(Float.init), Float(elements(s)[0]))
            for (op, f) in binary {
                let cases: [(Buffer, [Int], Buffer, [Int], (Int) -> Float)] = [
                    (a, [n], b, [n], { f(av[$0], bv[$0]) }), (a, [n], s, [], { f(av[$0], sv) }), (s, [], b, [n], { f(sv, bv[$0]) }),
                ]
                for (x, xs, y, ys, expected) in cases {
                    let out = elements(Kernels.binary(x, xs, y, ys, op, outShape: [n])).map(Float.init)
                    XCTAssertNil((0..<n).first { out[$0].bitPattern != expected($0).bitPattern }, "\(op), \(n) elements")
                }
            }
            for (op, f) in unary {
                let out = elements(Kernels.unary(a, op)).map(Float.init)
                XCTAssertNil((0..<n).first { out[$0].bitPattern != f(av[$0]).bitPattern }, "\(op), \(n) elements")
            }
        }
    }

    func testUnaryOpsSplitAcrossThreadsMatchOneThread() {
        let n = 3 * Kernels.elementwiseGrain + 17
        for dtype in [DType.float32, .float64] {
            let x = buffer(n, dtype: dtype, seed: 1)
            let positive = buffer(n, dtype: dtype, seed: 2, positive: true)
            for op in Self.unaryOps {
                let input: Buffer
                switch op {
                case .log, .sqrt, .reciprocal, .rdivScalar: input = positive
                default: input = x
                }
                let y = onOneAndThreeThreads { Kernels.unary(input, op) }
                if case .square = op {
                    let xs = elements(input)
                    XCTAssertTrue((0..<n).allSatisfy { i in
                        dtype == .float64 ? y[i] == xs[i] * xs[i] : Float(y[i]) == Float(xs[i]) * Float(xs[i])
                    })
                }
            }
        }
    }

    func testBinaryOpsOnFlatAndScalarOperandsSplitAcrossThreadsMatchOneThread() {
        let n = 3 * Kernels.elementwiseGrain + 5
        for dtype in [DType.float32, .float64] {
            let a = buffer(n, dtype: dtype, seed: 3, positive: true)
            let b = buffer(n, dtype: dtype, seed: 4)
            let s = buffer(1, dtype: dtype, seed: 5, positive: true)
            for op in Self.binaryOps {
                let sum = onOneAndThreeThreads { Kernels.binary(a, [n], b, [n], op, outShape: [n]) }
                _ = onOneAndThreeThreads { Kernels.binary(a, [n], s, [], op, outShape: [n]) }
                _ = onOneAndThreeThreads { Kernels.binary(s, [], b, [n], op, outShape: [n]) }
                if op == .sub {
                    let (av, bv) = (elements(a), elements(b))
                    XCTAssertTrue((0..<n).allSatisfy { i in
                        dtype == .float64 ? sum[i] == av[i] - bv[i] : Float(sum[i]) == Float(av[i]) - Float(bv[i])
                    })
                }
            }
        }
    }

    func testBroadcastBinaryOpsSplitAcrossThreadsMatchOneThreadAndTheirValues() {
        // (a shape, b shape): a row vector, a column, a middle axis (rank 3 after
        // coalescing, so chunks start inside a plane), and a short inner dimension.
        let cases: [([Int], [Int])] = [
            ([300, 1000], [1, 1000]), ([300, 1000], [300, 1]), ([40, 30, 300], [40, 1, 300]),
            ([1, 30, 300], [70, 30, 1]), ([90_000, 5], [1, 5]),
        ]
        for dtype in [DType.float32, .float64] {
            for (aShape, bShape) in cases {
                let outShape = zip(aShape, bShape).map { Swift.max($0, $1) }
                let a = buffer(Shapes.count(aShape), dtype: dtype, seed: 6, positive: true)
                let b = buffer(Shapes.count(bShape), dtype: dtype, seed: 7)
                for op in Self.binaryOps {
                    let y = onOneAndThreeThreads { Kernels.binary(a, aShape, b, bShape, op, outShape: outShape) }
                    guard op == .mul else { continue }
                    // Values: each output element is a[broadcast index] * b[broadcast index].
                    let (av, bv) = (elements(a), elements(b))
                    let (sa, sb) = (Shapes.broadcastStrides(aShape, to: outShape), Shapes.broadcastStrides(bShape, to: outShape))
                    let outStrides = Shapes.strides(outShape)
                    let wrong = (0..<y.count).first { i in
                        var (ia, ib, rem) = (0, 0, i)
                        for d in 0..<outShape.count {
                            let k = rem / outStrides[d]
                            rem %= outStrides[d]
                            ia += k * sa[d]
                            ib += k * sb[d]
                        }
                        return dtype == .float64 ? y[i] != av[ia] * bv[ib] : Float(y[i]) != Float(av[ia]) * Float(bv[ib])
                    }
                    XCTAssertNil(wrong, "\(aShape) * \(bShape) (\(dtype)): wrong element \(wrong ?? -1)")
                }
            }
        }
    }
}
