/// Gradients of `y` with respect to each tensor in `wrt`, like `torch.autograd.grad`.
///
/// - Parameters:
///   - y: the tensor to differentiate; with no `seed` it must have one element.
///   - wrt: variables (`requiringGrad()`) or any intermediate tensors of `y`'s graph.
///   - seed: the cotangent of `y` (same shape), for vector-Jacobian products of non-scalars.
///   - createGraph: when true the returned gradients are part of the graph and can be
///     differentiated again (double backward); when false they are constants.
/// - Returns: one gradient per entry of `wrt`, zeros where `y` does not depend on it.
public func grad(of y: Tensor, wrt: [Tensor], seed: Tensor? = nil, createGraph: Bool = false) -> [Tensor] {
    for (i, x) in wrt.enumerated() {
        precondition(x.node != nil, "grad(of:wrt:): wrt[\(i)] (shape \(x.shape)) does not require grad; make it a variable with requiringGrad()")
    }
    if let seed {
        precondition(seed.shape == y.shape, "grad(of:wrt:): seed shape \(seed.shape) differs from output shape \(y.shape)")
    } else {
        precondition(y.count == 1, "grad(of:wrt:): output of shape \(y.shape) is not a scalar; pass a seed")
    }
    guard let root = y.node else { return wrt.map { $0.zerosLike() } }

    // Nodes are numbered by their position in the topological order; per-node state lives in
    // arrays indexed by that number (no hashing of nodes after the ordering).
    let (order, index) = topologicalOrder(from: root)
    var isTarget = [Bool](repeating: false, count: order.count)
    for x in wrt { if let i = index[x.node!] { isTarget[i] = true } }

    // A node is relevant when some target is reachable from it through its inputs; only
    // relevant inputs get cotangents, so e.g. the weights of a model are skipped when the
    // gradient is taken with respect to the input alone. Inputs come before their users in
    // `order`, so one forward sweep decides it.
    // Each node's inputs' positions, one after another (node k's from inputStart[k]), in
    // two arrays: one array per node cost an allocation per node and pass.
    var relevant = isTarget
    var inputIndex: [Int] = []
    var inputStart = [Int](repeating: 0, count: order.count + 1)
    inputIndex.reserveCapacity(2 * order.count)
    for (k, node) in order.enumerated() {
        var leadsToTarget = relevant[k]
        for input in node.inputs {
            let j = input.node.flatMap { index[$0] } ?? -1
            inputIndex.append(j)
            if j >= 0 && relevant[j] { leadsToTarget = true }
        }
        relevant[k] = leadsToTarget
        inputStart[k + 1] = inputIndex.count
    }

    return withGradEnabled(createGraph) {
        var cotangents = [Tensor?](repeating: nil, count: order.count)
        cotangents[order.count - 1] = seed ?? Tensor.ones(y.shape, dtype: y.dtype)
        for k in stride(from: order.count - 1, through: 0, by: -1) {
            let node = order[k]
            guard relevant[k], let vjp = node.vjp, let g = cotangents[k] else { continue }
            if !isTarget[k] { cotangents[k] = nil }
            let ids = inputIndex[inputStart[k] ..< inputStart[k + 1]]
            let needs = NeedsMasks.mask(ids.count) { ids[ids.startIndex + $0] >= 0 && relevant[ids[ids.startIndex + $0]] }
            let out = Tensor(shape: node.outputShape, buffer: node.outputBuffer!, node: node)
            let inputGrads = vjp(g, out, needs)
            for (i, input) in node.inputs.enumerated() where needs[i] {
                guard let ig = inputGrads[i] else { continue }
                assert(ig.shape == input.shape, "\(node.op): vjp gave shape \(ig.shape) for input of shape \(input.shape)")
                let j = ids[ids.startIndex + i]
                if let existing = cotangents[j] {
                    cotangents[j] = existing + ig
                } else {
                    cotangents[j] = ig
                }
            }
        }
        return wrt.map { x in index[x.node!].flatMap { cotangents[$0] } ?? x.zerosLike() }
    }
}

/// Which inputs of a node need a cotangent, as the `[Bool]` a rule takes: shared arrays for
/// nodes of one or two inputs (nearly all), so that the backward pass allocates none for them.
private enum NeedsMasks {
    static let one: [[Bool]] = [[false], [true]]
    static let two: [[Bool]] = [[false, false], [false, true], [true, false], [true, true]]

    @inline(__always)
    static func mask(_ count: Int, _ needs: (Int) -> Bool) -> [Bool] {
        switch count {
        case 1: return one[needs(0) ? 1 : 0]
        case 2: return two[(needs(0) ? 2 : 0) + (needs(1) ? 1 : 0)]
        default: return (0..<count).map(needs)
        }
    }
}

/// The value and gradients of a scalar function at `inputs`, which are made variables.
public func valueAndGrad(at inputs: [Tensor], createGraph: Bool = false,
                         _ f: ([Tensor]) -> Tensor) -> (value: Tensor, grads: [Tensor]) {
    let vars = inputs.map { $0.requiresGrad ? $0 : $0.requiringGrad() }
    let y = f(vars)
    return (y, grad(of: y, wrt: vars, createGraph: createGraph))
}

/// Nodes reachable from `root`, every node after all of its inputs (so `root` is last), and
/// each node's position in that order. Iterative, so graphs thousands of ops deep (double
/// backward through a ResNet) cannot overflow the stack.
func topologicalOrder(from root: Node) -> (order: [Node], index: NodeIndex) {
    var order: [Node] = []
    var index = NodeIndex()
    // -1 marks a node on the stack (visited, not yet placed).
    index[root] = -1
    var stack: [(node: Node, nextInput: Int)] = [(root, 0)]
    while !stack.isEmpty {
        let (node, next) = stack[stack.count - 1]
        if next < node.inputs.count {
            stack[stack.count - 1].nextInput += 1
            if let child = node.inputs[next].node, index.insertIfAbsent(child, -1) {
                stack.append((child, 0))
            }
        } else {
            index[node] = order.count
            order.append(node)
            stack.removeLast()
        }
    }
    return (order, index)
}

/// A map from nodes (by identity) to integers: open addressing on the object's address with
/// a multiplicative hash, much cheaper than `Dictionary<ObjectIdentifier, Int>`'s SipHash
/// for the thousands of lookups of one backward pass.
struct NodeIndex {
    private var keys: [UInt]
    private var values: [Int]
    private var count = 0

    init() {
        keys = [UInt](repeating: 0, count: 64)
        values = [Int](repeating: 0, count: 64)
    }

    @inline(__always)
    private func slot(_ key: UInt, _ mask: Int) -> Int {
        Int(truncatingIfNeeded: ((key >> 4) &* 0x9E37_79B9_7F4A_7C15) >> 32) & mask
    }

    @inline(__always)
    private static func key(_ node: Node) -> UInt { UInt(bitPattern: ObjectIdentifier(node)) }

    subscript(_ node: Node) -> Int? {
        get {
            let k = Self.key(node), mask = keys.count - 1
            var i = slot(k, mask)
            while true {
                let stored = keys[i]
                if stored == k { return values[i] }
                if stored == 0 { return nil }
                i = (i + 1) & mask
            }
        }
        set {
            guard let v = newValue else { preconditionFailure("NodeIndex: removal is not supported") }
            _ = put(Self.key(node), v, overwrite: true)
        }
    }

    /// Inserts `value` for `node` unless present; true when it was inserted.
    @inline(__always)
    mutating func insertIfAbsent(_ node: Node, _ value: Int) -> Bool {
        put(Self.key(node), value, overwrite: false)
    }

    private mutating func put(_ k: UInt, _ v: Int, overwrite: Bool) -> Bool {
        if (count + 1) * 2 > keys.count { grow() }
        let mask = keys.count - 1
        var i = slot(k, mask)
        while true {
            let stored = keys[i]
            if stored == k {
                if overwrite { values[i] = v }
                return false
            }
            if stored == 0 {
                keys[i] = k
                values[i] = v
                count += 1
                return true
            }
            i = (i + 1) & mask
        }
    }

    private mutating func grow() {
        let oldKeys = keys, oldValues = values
        keys = [UInt](repeating: 0, count: oldKeys.count * 2)
        values = [Int](repeating: 0, count: oldKeys.count * 2)
        count = 0
        for (k, v) in zip(oldKeys, oldValues) where k != 0 { _ = put(k, v, overwrite: true) }
    }
}

extension Tensor {
    /// Elements held by the autodiff graph behind this tensor: the outputs of every node it
    /// depends on, itself included (0 for a constant). A measure of what a forward pass keeps
    /// alive, for callers that size batches to a memory budget.
    public var graphElementCount: Int {
        guard let root = node else { return 0 }
        return topologicalOrder(from: root).order.reduce(0) { $0 + ($1.outputBuffer?.count ?? Shapes.count($1.outputShape)) }
    }
}
