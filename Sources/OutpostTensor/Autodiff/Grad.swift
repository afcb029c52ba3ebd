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

    let order = topologicalOrder(from: root)
    let targets = Set(wrt.compactMap { $0.node.map(ObjectIdentifier.init) })

    // A node is relevant when some target is reachable from it through its inputs; only
    // relevant inputs get cotangents, so e.g. the weights of a model are skipped when the
    // gradient is taken with respect to the input alone.
    var relevant = Set<ObjectIdentifier>()
    for node in order {
        let id = ObjectIdentifier(node)
        if targets.contains(id) || node.inputs.contains(where: { $0.node.map { relevant.contains(ObjectIdentifier($0)) } ?? false }) {
            relevant.insert(id)
        }
    }

    return withGradEnabled(createGraph) {
        var cotangents: [ObjectIdentifier: Tensor] = [:]
        cotangents[ObjectIdentifier(root)] = seed ?? Tensor.ones(y.shape, dtype: y.dtype)
        for node in order.reversed() {
            let id = ObjectIdentifier(node)
            guard relevant.contains(id), let vjp = node.vjp, let g = cotangents[id] else { continue }
            if !targets.contains(id) { cotangents[id] = nil }
            let needs = node.inputs.map { $0.node.map { relevant.contains(ObjectIdentifier($0)) } ?? false }
            let out = Tensor(shape: node.outputShape, buffer: node.outputBuffer!, node: node)
            let inputGrads = vjp(g, out, needs)
            for (i, input) in node.inputs.enumerated() where needs[i] {
                guard let ig = inputGrads[i], let inputNode = input.node else { continue }
                assert(ig.shape == input.shape, "\(node.op): vjp gave shape \(ig.shape) for input of shape \(input.shape)")
                let inputID = ObjectIdentifier(inputNode)
                if let existing = cotangents[inputID] {
                    cotangents[inputID] = existing + ig
                } else {
                    cotangents[inputID] = ig
                }
            }
        }
        return wrt.map { x in cotangents[ObjectIdentifier(x.node!)] ?? x.zerosLike() }
    }
}

/// The value and gradients of a scalar function at `inputs`, which are made variables.
public func valueAndGrad(at inputs: [Tensor], createGraph: Bool = false,
                         _ f: ([Tensor]) -> Tensor) -> (value: Tensor, grads: [Tensor]) {
    let vars = inputs.map { $0.requiresGrad ? $0 : $0.requiringGrad() }
    let y = f(vars)
    return (y, grad(of: y, wrt: vars, createGraph: createGraph))
}

/// Nodes reachable from `root`, every node after all of its inputs. Iterative, so graphs
/// thousands of ops deep (double backward through a ResNet) cannot overflow the stack.
func topologicalOrder(from root: Node) -> [Node] {
    var order: [Node] = []
    var visited = Set<ObjectIdentifier>()
    var stack: [(node: Node, nextInput: Int)] = [(root, 0)]
    visited.insert(ObjectIdentifier(root))
    while !stack.isEmpty {
        let (node, next) = stack[stack.count - 1]
        if next < node.inputs.count {
            stack[stack.count - 1].nextInput += 1
            if let child = node.inputs[next].node, visited.insert(ObjectIdentifier(child)).inserted {
                stack.append((child, 0))
            }
        } else {
            order.append(node)
            stack.removeLast()
        }
    }
    return order
}
