import OutpostTensor

extension Network {
    /// Whether every layer is per-sample in this mode (``Layer/isPerSample(training:)``):
    /// no batch norm in training mode, no dropout drawing masks.
    public func isPerSample(training: Bool) -> Bool {
        body.isPerSample(training: training) && head.isPerSample(training: training)
    }

    /// The mean cross-entropy of the logits of `x` against `labels`, and its gradient with
    /// respect to `ctx.parameters`: one training step's loss and gradient. The context's
    /// buffers and random stream advance as after `forward(_:_:)`.
    ///
    /// When every layer is per-sample in the context's mode and the batch has at least 8
    /// samples a thread, it is cut into one shard per thread (`Engine.shardCount`), each is
    /// differentiated on its own thread, and the gradients are added in shard order. Each
    /// shard's mean loss is weighted by its share of the batch, so the sum is the batch's
    /// gradient; it differs from the unsharded one only in the order of the floating-point
    /// additions over the batch, as the engine's per-thread partial sums already do.
    public func crossEntropyGradient(_ x: Tensor, labels: [Int], _ ctx: inout ForwardContext) -> (loss: Double, gradient: [Tensor]) {
        precondition(x.rank >= 1 && x.shape[0] == labels.count,
                     "\(architecture): \(labels.count) labels for a batch of \(x.rank >= 1 ? x.shape[0] : 0)")
        let n = labels.count
        let shards = isPerSample(training: ctx.training) ? Engine.shardCount(samples: n) : 1
        guard shards > 1 else {
            let given = ctx.parameters
            ctx.parameters = given.map { $0.requiringGrad() }
            defer { ctx.parameters = given }
            let loss = Loss.crossEntropy(forward(x, &ctx), labels: labels)
            return (loss.item, grad(of: loss, wrt: ctx.parameters))
        }
        // Per-sample layers read nothing of the context but the parameters and buffers, and
        // change neither, so every shard can start from the same context.
        let start = ctx
        let bounds = (0...shards).map { $0 * n / shards }
        // One slot per shard, each written by the thread that runs it.
        let results = UnsafeMutableBufferPointer<(loss: Double, gradient: [Tensor])>.allocate(capacity: shards)
        results.initialize(repeating: (0, []))
        defer { results.deinitialize().deallocate() }
        Engine.runShards(shards) { s in
            let rows = bounds[s]..<bounds[s + 1]
            var shardContext = start
            shardContext.parameters = start.parameters.map { $0.requiringGrad() }
            let share = Double(rows.count) / Double(n)
            let loss = Loss.crossEntropy(forward(x.slice(axis: 0, rows), &shardContext), labels: Array(labels[rows])) * share
            results[s] = (loss.item, grad(of: loss, wrt: shardContext.parameters))
        }
        let gradient = withoutGrad {
            (0..<results[0].gradient.count).map { i in results.dropFirst().reduce(results[0].gradient[i]) { $0 + $1.gradient[i] } }
        }
        return (results.reduce(0) { $0 + $1.loss }, gradient)
    }
}
