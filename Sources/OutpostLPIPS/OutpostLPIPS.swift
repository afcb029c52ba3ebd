/// OutpostLPIPS: the LPIPS perceptual distance (Zhang et al., CVPR 2018) with the AlexNet and
/// VGG-16 backbones, computed on Outpost's tensor engine exactly as the `lpips` Python package
/// (0.1.4, version 0.1 of the metric) computes it.
///
/// - ``LPIPS``: the network; distances between ``OutpostMetrics/Image``s or tensors, per-layer
///   terms, a distance matrix, and ``LPIPS/pairingCost`` for the Hungarian pairing.
/// - ``LPIPSBackbone``: the two backbones, their key names and minimum image sizes.
/// - ``LPIPSWeights``: the weights, read from a safetensors file and checked.
/// - ``LPIPSError``: every failure, including ``LPIPSError/unavailable(backbone:reason:)`` when
///   no weights file is configured — LPIPS is then reported as unavailable, never replaced by
///   another distance.
///
/// ## The weights file
///
/// A safetensors file holding the `state_dict` of `lpips.LPIPS(net='alex')` or
/// `lpips.LPIPS(net='vgg')` — torchvision's ImageNet-trained `features` plus the package's
/// calibrated linear layers — written by `scripts/lpips/convert_weights.py` on a machine with
/// internet access. Keys (any floating-point dtype; shapes are Cout×Cin×k×k for weights):
///
/// AlexNet (`--net alex`):
///
///     net.slice1.0.weight   [64, 3, 11, 11]    net.slice1.0.bias   [64]
///     net.slice2.3.weight   [192, 64, 5, 5]    net.slice2.3.bias   [192]
///     net.slice3.6.weight   [384, 192, 3, 3]   net.slice3.6.bias   [384]
///     net.slice4.8.weight   [256, 384, 3, 3]   net.slice4.8.bias   [256]
///     net.slice5.10.weight  [256, 256, 3, 3]   net.slice5.10.bias  [256]
///     lin0.model.1.weight [1, 64, 1, 1]    lin1.model.1.weight [1, 192, 1, 1]
///     lin2.model.1.weight [1, 384, 1, 1]   lin3.model.1.weight [1, 256, 1, 1]
///     lin4.model.1.weight [1, 256, 1, 1]
///
/// VGG-16 (`--net vgg`): `net.slice{s}.{i}.weight` / `.bias` for the thirteen convolutions
///
///     slice1: i = 0 [64, 3, 3, 3], 2 [64, 64, 3, 3]
///     slice2: i = 5 [128, 64, 3, 3], 7 [128, 128, 3, 3]
///     slice3: i = 10 [256, 128, 3, 3], 12, 14 [256, 256, 3, 3]
///     slice4: i = 17 [512, 256, 3, 3], 19, 21 [512, 512, 3, 3]
///     slice5: i = 24, 26, 28 [512, 512, 3, 3]
///     lin0..lin4.model.1.weight [1, C, 1, 1], C = 64, 128, 256, 512, 512
///
/// Optional: `scaling_layer.shift` and `scaling_layer.scale` ([1, 3, 1, 1], must equal the
/// package's constants); metadata `outpost.lpips.net` (`alex`/`vgg`, must match) and
/// `outpost.lpips.probe_distance` (see ``LPIPS/checkEmbeddedReference(tolerance:)``). Any
/// other key is an error. ``LPIPSBackbone/expectedTensors`` lists the keys in code.
