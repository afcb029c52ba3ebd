/// A vector-Jacobian product rule: given the cotangent of an op's output (`g`), the output
/// itself (`out`, still attached to the graph) and which inputs need a cotangent, return one
/// cotangent per input (nil where not needed or identically zero).
///
/// Rules are written in the engine's own differentiable ops, so when the backward pass runs
/// with `createGraph: true` the cotangents it produces are themselves part of a graph and can
/// be differentiated again: that is all higher-order differentiation takes.
typealias VJP = (_ g: Tensor, _ out: Tensor, _ needs: [Bool]) -> [Tensor?]

/// One node of the autodiff graph: the op that produced a tensor and its inputs.
///
/// Nodes point only backwards (to their inputs' nodes, through the input tensors), so the
/// graph is acyclic and reference counting frees it as soon as the last tensor of an
/// iteration goes away: no tape to clear between optimization steps. The node keeps the
/// output's buffer (not the output tensor, which would point back at the node) and rebuilds
/// the output tensor on demand for rules such as `exp` that use it.
final class Node: @unchecked Sendable {
    let op: String
    let inputs: [Tensor]
    let vjp: VJP?
    let outputShape: [Int]
    let outputBuffer: Buffer?

    init(op: String, inputs: [Tensor], vjp: @escaping VJP, outputShape: [Int], outputBuffer: Buffer) {
        self.op = op
        self.inputs = inputs
        self.vjp = vjp
        self.outputShape = outputShape
        self.outputBuffer = outputBuffer
    }

    init(leafShape: [Int]) {
        op = "leaf"
        inputs = []
        vjp = nil
        outputShape = leafShape
        outputBuffer = nil
    }

    var isLeaf: Bool { vjp == nil }
}

extension Tensor {
    /// Attaches a node to a freshly computed result when grad mode is on and any input
    /// requires grad. Every differentiable op goes through here.
    ///
    /// The inputs and the rule are built only when a node is recorded: with grad mode off
    /// (the last backward pass of an attack, about half of W4's ops) a small op otherwise
    /// allocated its input array and the rule's closure context, retaining every captured
    /// tensor, only to free them again.
    @inline(__always)
    static func record(_ op: String, _ result: Tensor, _ inputs: @autoclosure () -> [Tensor], _ vjp: @autoclosure () -> VJP) -> Tensor {
        let state = ThreadState.current
        if state.detectAnomalies { state.check(result, op: op, inputs: inputs()) }
        guard state.gradEnabled else { return result }
        let inputs = inputs()
        guard inputs.contains(where: { $0.node != nil }) else { return result }
        return Tensor(shape: result.shape, buffer: result.buffer,
                      node: Node(op: op, inputs: inputs, vjp: vjp(), outputShape: result.shape, outputBuffer: result.buffer))
    }
}
