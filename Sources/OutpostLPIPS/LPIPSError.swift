import Foundation
import OutpostSafetensors

/// The errors of OutpostLPIPS. Each describes itself in a sentence (see ``description``).
public enum LPIPSError: Error, Equatable, Sendable, CustomStringConvertible, LocalizedError {
    /// No weights file is configured for the backbone, so LPIPS cannot be computed. Outpost
    /// never substitutes another distance under LPIPS's name: callers report the metric as
    /// unavailable. `reason` says what was looked at.
    case unavailable(backbone: LPIPSBackbone, reason: String)
    /// The weights file could not be read, is not a valid safetensors file, or does not hold
    /// exactly the tensors the backbone needs (every missing, unexpected or misshapen key is
    /// listed by the underlying error).
    case unreadableWeights(backbone: LPIPSBackbone, underlying: SafetensorsError)
    /// The file is well formed but unusable: a non-finite weight, scaling-layer constants
    /// that differ from the package's, or metadata naming another backbone.
    case invalidWeights(file: String, key: String, reason: String)
    /// An image side is below ``LPIPSBackbone/minimumImageSide``.
    case imageTooSmall(backbone: LPIPSBackbone, height: Int, width: Int, minimumSide: Int)
    /// An image has a channel count other than 1 (grayscale) or 3 (RGB).
    case unsupportedChannels(Int)
    /// Two images (or batches) that must have the same shape do not.
    case shapeMismatch(first: String, second: String)
    /// Two batches that must have the same number of images do not.
    case countMismatch(first: Int, second: Int)
    /// A batch that must hold images is empty.
    case emptyBatch

    /// A sentence naming the backbone, file, key or shapes concerned.
    public var description: String {
        switch self {
        case let .unavailable(backbone, reason):
            return "LPIPS (\(backbone)) is unavailable: \(reason). Convert the weights with "
                + "scripts/lpips/convert_weights.py --net \(backbone) and pass the file, or set "
                + "\(backbone.environmentVariable) to its path"
        case let .unreadableWeights(backbone, underlying):
            return "LPIPS (\(backbone)) weights: \(underlying.description)"
                + "\n(expected the file written by scripts/lpips/convert_weights.py --net \(backbone))"
        case let .invalidWeights(file, key, reason):
            return "\(file): LPIPS weight '\(key)' is unusable: \(reason)"
        case let .imageTooSmall(backbone, height, width, minimumSide):
            return "image \(height)x\(width) is too small for LPIPS (\(backbone)): both sides must be at least "
                + "\(minimumSide) pixels for every pooling window of the backbone to fit"
        case let .unsupportedChannels(channels):
            return "LPIPS takes images with 1 (grayscale, replicated to RGB) or 3 (RGB) channels, got \(channels)"
        case let .shapeMismatch(first, second):
            return "LPIPS needs images of one shape: \(first) vs \(second)"
        case let .countMismatch(first, second):
            return "LPIPS compares batches image by image: \(first) vs \(second) images"
        case .emptyBatch:
            return "LPIPS was given an empty batch"
        }
    }

    /// The same text as ``description``.
    public var errorDescription: String? { description }
}
