import OutpostTensor
import XCTest

final class AutodiffTests: XCTestCase {
    func testThirdOrderDerivative() {
        // f(x) = x^4: f' = 4x^3, f'' = 12x^2, f''' = 24x.
        let x = Tensor([1.5] as [Double], shape: [1]).requiringGrad()
        let y = x.pow(4).sum()
        let d1 = grad(of: y, wrt: [x], createGraph: true)[0]
        let d2 = grad(of: d1.sum(), wrt: [x], createGraph: true)[0]
        let d3 = grad(of: d2.sum(), wrt: [x])[0]
        XCTAssertEqual(d1.item, 4 * 1.5 * 1.5 * 1.5, accuracy: 1e-12)
        XCTAssertEqual(d2.item, 12 * 1.5 * 1.5, accuracy: 1e-12)
        XCTAssertEqual(d3.item, 24 * 1.5, accuracy: 1e-12)
        XCTAssertFalse(d3.requiresGrad, "without createGraph the result is a constant")
    }

    func testFanOutAccumulatesAndUnusedIsZero() {
        let x = Tensor([2, 3] as [Double], shape: [2]).requiringGrad()
        let unused = Tensor([1] as [Double], shape: [1]).requiringGrad()
        let y = (x * x + x * 3).sum()
        let g = grad(of: y, wrt: [x, unused])
        assertClose(g[0].doubles, [7, 9])
        assertClose(g[1].doubles, [0])
    }

    func testGradientWithRespectToIntermediate() {
        let x = Tensor([1, 2] as [Double], shape: [2]).requiringGrad()
        let h = x * 3
        let y = (h * h).sum()
        assertClose(grad(of: y, wrt: [h])[0].doubles, [6, 12])
        assertClose(grad(of: y, wrt: [x, h])[0].doubles, [18, 36])
    }

    func testSeedGivesVectorJacobianProduct() {
        let x = Tensor([1, 2, 3] as [Double], shape: [3]).requiringGrad()
        let y = x.squared()
        assertClose(grad(of: y, wrt: [x], seed: Tensor([1, 0, 2] as [Double], shape: [3]))[0].doubles, [2, 0, 12])
    }

    func testNoGradScopeAndDetach() {
        let x = Tensor([1] as [Double], shape: [1]).requiringGrad()
        XCTAssertFalse(withoutGrad { x * 2 }.requiresGrad)
        XCTAssertTrue((x * 2).requiresGrad)
        XCTAssertFalse((x.detached * 2).requiresGrad)
        XCTAssertTrue(isGradEnabled)
        XCTAssertEqual(grad(of: (x.detached * x).sum(), wrt: [x])[0].item, 1)
    }

    func testNoGradIsPerThread() {
        let x = Tensor([1] as [Double], shape: [1]).requiringGrad()
        let other = DispatchSemaphore(value: 0), done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var recordedOnOtherThread = false
        Thread.detachNewThread {
            other.wait()
            recordedOnOtherThread = (x * 2).requiresGrad
            done.signal()
        }
        withoutGrad {
            other.signal()
            done.wait()
        }
        XCTAssertTrue(recordedOnOtherThread, "another thread's grad mode must not change")
    }

    func testGraphIsFreedAfterEachIteration() {
        weak var firstResult: AnyObject?
        var x = Tensor([0.5] as [Double], shape: [1])
        for i in 0..<50 {
            let v = x.requiringGrad()
            let loss = ((v.exp() - 2).squared()).sum()
            let g = grad(of: loss, wrt: [v], createGraph: true)[0]
            if i == 0 { firstResult = g.graphNode }
            x = (v - g * 0.1).detached
        }
        XCTAssertNil(firstResult, "a finished iteration's graph must be released")
        XCTAssertEqual(x.item, log(2), accuracy: 1e-3, "gradient descent converges to log 2")
    }

    func testAnomalyDetectionFindsFirstNonFiniteOp() {
        let x = Tensor([1, -1] as [Double], shape: [2]).requiringGrad()
        let (result, anomaly) = detectingAnomalies { (x.log() * 2).sum() }
        XCTAssertFalse(result.isFinite)
        XCTAssertEqual(anomaly?.op, "log")
        XCTAssertEqual(anomaly?.inputsWereFinite, true)
        XCTAssertNil(detectingAnomalies { (x * 2).sum() }.anomaly)
    }

    func testRandomGeneratorsAreReproducibleAndDistributed() {
        var a = RandomGenerator(seed: 42), b = RandomGenerator(seed: 42)
        XCTAssertEqual(Tensor.normal([100], using: &a).scalars, Tensor.normal([100], using: &b).scalars)
        var rng = RandomGenerator(seed: 1)
        let n = Tensor.normal([20000], mean: 1, std: 2, dtype: .float64, using: &rng)
        XCTAssertEqual(n.mean().item, 1, accuracy: 0.05)
        XCTAssertEqual(n.variance().item, 4, accuracy: 0.15)
        let u = Tensor.uniform([20000], low: -1, high: 3, dtype: .float64, using: &rng)
        XCTAssertEqual(u.mean().item, 1, accuracy: 0.05)
        XCTAssertGreaterThanOrEqual(u.min().item, -1)
        XCTAssertLessThan(u.max().item, 3)
        let l = Tensor.laplace([20000], scale: 0.5, dtype: .float64, using: &rng)
        XCTAssertEqual(l.variance().item, 2 * 0.25, accuracy: 0.04)
        XCTAssertEqual(Tensor.bernoulli([20000], probability: 0.3, dtype: .float64, using: &rng).mean().item, 0.3, accuracy: 0.02)
    }
}
