/// OutpostSafetensors: reading and writing the safetensors weight format.
///
/// - ``SafetensorsFile`` reads and validates a file (memory-mapped), gives its
///   ordered ``SafetensorsEntry`` tensors and metadata, converts tensors to
///   `Float`/`Double`/integers, and serializes it back.
/// - ``SafetensorsBuilder`` assembles tensors from plain arrays and writes
///   files byte-identical to `safetensors.torch.save_file`.
/// - ``SafetensorsFile/validate(against:ignoring:)`` checks a file against the
///   tensors a model expects, reporting every problem.
/// - ``HalfPrecision`` converts between `Float` and `F16`/`BF16` bits.
/// - Every failure is a ``SafetensorsError``.
