/// Shape arithmetic shared by the ops: element counts, strides, broadcasting, axis checks.
enum Shapes {
    @inline(__always) static func count(_ shape: [Int]) -> Int { shape.reduce(1, *) }

    /// Row-major strides of a shape.
    static func strides(_ shape: [Int]) -> [Int] {
        var s = [Int](repeating: 1, count: shape.count)
        var acc = 1
        for i in stride(from: shape.count - 1, through: 0, by: -1) {
            s[i] = acc
            acc *= shape[i]
        }
        return s
    }

    /// Positions of a window `extent` elements long that slides by `stride` over `size`
    /// elements padded by `padding` on each side, by PyTorch's floor rule: 0 when the window
    /// does not fit even once (Swift's division, which truncates toward zero, would give 1
    /// for a window up to `stride` elements too long, and the kernels would read past the input).
    static func windowPositions(size: Int, padding: Int, extent: Int, stride: Int) -> Int {
        let room = size + 2 * padding - extent
        return room < 0 ? 0 : room / stride + 1
    }

    /// NumPy broadcasting of two shapes; nil when they are incompatible.
    static func broadcast(_ a: [Int], _ b: [Int]) -> [Int]? {
        // Equal shapes (most calls) share `a`'s storage: no array to allocate.
        if a == b { return a }
        let n = max(a.count, b.count)
        var out = [Int](repeating: 1, count: n)
        for i in 0..<n {
            let da = i < n - a.count ? 1 : a[i - (n - a.count)]
            let db = i < n - b.count ? 1 : b[i - (n - b.count)]
            if da == db || db == 1 { out[i] = da } else if da == 1 { out[i] = db } else { return nil }
        }
        return out
    }

    /// Strides that read a tensor of `shape` as if it had the (broadcast) shape `target`:
    /// broadcast dimensions get stride 0.
    static func broadcastStrides(_ shape: [Int], to target: [Int]) -> [Int] {
        let own = strides(shape)
        let offset = target.count - shape.count
        return (0..<target.count).map { i in
            i < offset || shape[i - offset] == 1 ? 0 : own[i - offset]
        }
    }

    /// Normalizes possibly negative axes against a rank, with a clear failure naming the op.
    static func normalizeAxes(_ axes: [Int], rank: Int, op: String) -> [Int] {
        let out = axes.map { a -> Int in
            let n = a < 0 ? a + rank : a
            precondition(n >= 0 && n < rank, "\(op): axis \(a) is out of range for a tensor of rank \(rank)")
            return n
        }
        precondition(Set(out).count == out.count, "\(op): repeated axis in \(axes)")
        return out.sorted()
    }

    static func normalizeAxis(_ axis: Int, rank: Int, op: String) -> Int {
        normalizeAxes([axis], rank: rank, op: op)[0]
    }
}
