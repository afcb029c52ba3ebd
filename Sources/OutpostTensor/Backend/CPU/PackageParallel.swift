extension Engine {
    /// Runs `body(0) ... body(parts - 1)` concurrently on the engine's worker threads (inline,
    /// in order, when `parts` is 1), for the other modules of this package: the caller picks
    /// `parts`, usually at most ``threads``, and what each part computes.
    package static func runParts(_ parts: Int, _ body: (Int) -> Void) {
        parallelChunks(parts, body)
    }
}
