import Foundation
import OutpostSafetensors
import OutpostTensor

/// Problems loading weights into a network.
public enum WeightsError: Error, CustomStringConvertible, Equatable {
    /// The file itself is unreadable or malformed, or does not fit the network.
    case file(SafetensorsError)
    /// A tensor holds NaN or infinity.
    case nonFinite(key: String, source: String)
    /// The number of tensors handed over differs from the network's parameters.
    case countMismatch(expected: Int, actual: Int)

    public var description: String {
        switch self {
        case .file(let e): return e.description
        case let .nonFinite(key, source): return "\(source): tensor \(key) contains NaN or infinity"
        case let .countMismatch(expected, actual): return "expected \(expected) tensors (one per parameter), got \(actual)"
        }
    }
}

extension Network {
    /// The tensors a PyTorch `state_dict` of this network holds: every parameter and buffer
    /// (`num_batches_tracked` as an integer).
    public var stateDictEntries: [ExpectedTensor] {
        parameterSpecs.map { ExpectedTensor($0.name, shape: $0.shape) }
            + bufferSpecs.map { ExpectedTensor($0.name, shape: $0.shape, kind: $0.isInteger ? .integer : .floatingPoint) }
    }

    /// Loads a `state_dict` saved with `safetensors.torch.save_file(model.state_dict(), path)`.
    ///
    /// Every key is checked before anything is loaded; all problems are reported at once
    /// (missing and unexpected keys, shape and dtype mismatches, each naming the key and
    /// both shapes). With `requireBuffers` false, a file without batch-norm statistics
    /// (parameters only) loads with PyTorch's initial statistics.
    public func loadState(from url: URL, dtype: DType = .float32, requireBuffers: Bool = true) throws -> ModelState {
        let file: SafetensorsFile
        do { file = try SafetensorsFile.read(from: url) } catch { throw WeightsError.file(error) }
        return try loadState(from: file, dtype: dtype, requireBuffers: requireBuffers)
    }

    public func loadState(from file: SafetensorsFile, dtype: DType = .float32, requireBuffers: Bool = true) throws -> ModelState {
        let buffersPresent = bufferSpecs.contains { file.contains($0.name) }
        let ignoreBuffers = !requireBuffers && !buffersPresent
        let expected = ignoreBuffers ? parameterSpecs.map { ExpectedTensor($0.name, shape: $0.shape) } : stateDictEntries
        do { try file.requireConformance(to: expected) } catch { throw WeightsError.file(error) }
        let parameters = try parameterSpecs.map { try Self.tensor(file, $0.name, $0.shape, dtype) }
        let buffers = try bufferSpecs.map { spec -> Tensor in
            if ignoreBuffers { return Tensor.full(spec.shape, spec.initialValue, dtype: dtype) }
            if spec.isInteger {
                let counts: [Int64]
                do throws(SafetensorsError) { counts = try file.integers(spec.name) } catch { throw WeightsError.file(error) }
                return Tensor(counts.map(Double.init), shape: spec.shape, dtype: dtype)
            }
            return try Self.tensor(file, spec.name, spec.shape, dtype)
        }
        return ModelState(parameters: parameters, buffers: buffers)
    }

    /// Loads parameter-shaped tensors (a captured gradient or model update, keyed by
    /// parameter names as in PyTorch's `named_parameters()`), in parameter order. Buffer
    /// keys in the file are ignored; any other difference is an error.
    public func loadParameterTensors(from file: SafetensorsFile, dtype: DType = .float32) throws -> [Tensor] {
        let expected = parameterSpecs.map { ExpectedTensor($0.name, shape: $0.shape) }
        do { try file.requireConformance(to: expected, ignoring: bufferSpecs.map { .exact($0.name) }) } catch { throw WeightsError.file(error) }
        return try parameterSpecs.map { try Self.tensor(file, $0.name, $0.shape, dtype) }
    }

    public func loadParameterTensors(from url: URL, dtype: DType = .float32) throws -> [Tensor] {
        let file: SafetensorsFile
        do { file = try SafetensorsFile.read(from: url) } catch { throw WeightsError.file(error) }
        return try loadParameterTensors(from: file, dtype: dtype)
    }

    /// The state as a PyTorch-compatible `state_dict` file (F32, `num_batches_tracked` as I64).
    public func stateDictFile(_ state: ModelState, metadata: [String: String] = [:]) throws -> SafetensorsBuilder {
        var builder = SafetensorsBuilder(metadata: metadata)
        do {
            for (spec, t) in zip(parameterSpecs, state.parameters) { try builder.add(spec.name, shape: spec.shape, floats: t.scalars) }
            for (spec, t) in zip(bufferSpecs, state.buffers) {
                if spec.isInteger {
                    try builder.add(spec.name, shape: spec.shape, int64s: t.doubles.map { Int64($0) })
                } else {
                    try builder.add(spec.name, shape: spec.shape, floats: t.scalars)
                }
            }
        } catch { throw WeightsError.file(error) }
        return builder
    }

    /// Writes parameter-shaped tensors (gradients, updates) keyed by parameter names.
    public func parameterFile(_ tensors: [Tensor], metadata: [String: String] = [:]) throws -> SafetensorsBuilder {
        guard tensors.count == parameterSpecs.count else { throw WeightsError.countMismatch(expected: parameterSpecs.count, actual: tensors.count) }
        var builder = SafetensorsBuilder(metadata: metadata)
        do {
            for (spec, t) in zip(parameterSpecs, tensors) { try builder.add(spec.name, shape: spec.shape, floats: t.scalars) }
        } catch { throw WeightsError.file(error) }
        return builder
    }

    private static func tensor(_ file: SafetensorsFile, _ name: String, _ shape: [Int], _ dtype: DType) throws -> Tensor {
        let values: [Double]
        do { values = try file.doubles(name) } catch { throw WeightsError.file(error) }
        guard values.allSatisfy(\.isFinite) else { throw WeightsError.nonFinite(key: name, source: file.source) }
        return Tensor(values, shape: shape, dtype: dtype)
    }
}
