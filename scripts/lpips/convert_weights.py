#!/usr/bin/env python3
"""Converts the LPIPS weights of the `lpips` package into the safetensors file OutpostLPIPS reads.

Run on a machine with internet access (torchvision downloads its ImageNet weights), in an
environment with PyTorch, torchvision, the `lpips` package and `safetensors`:

    python3 -m venv --system-site-packages /tmp/lpipsvenv        # sees Debian's torch/torchvision
    /tmp/lpipsvenv/bin/pip install lpips==0.1.4 safetensors
    /tmp/lpipsvenv/bin/python scripts/lpips/convert_weights.py --net alex --out lpips_alex.safetensors
    /tmp/lpipsvenv/bin/python scripts/lpips/convert_weights.py --net vgg  --out lpips_vgg.safetensors

then point Outpost at the files (or pass them to `LPIPS(backbone:weightsFile:)`):

    export OUTPOST_LPIPS_ALEX_WEIGHTS=$PWD/lpips_alex.safetensors
    export OUTPOST_LPIPS_VGG_WEIGHTS=$PWD/lpips_vgg.safetensors

Without internet, download torchvision's checkpoint elsewhere (AlexNet: alexnet-owt-7be5be79.pth,
VGG-16: vgg16-397923af.pth, from https://download.pytorch.org/models/) and pass it with
--trunk-weights FILE; or put it in torch's hub cache (~/.cache/torch/hub/checkpoints/).

What it does:
  1. builds `lpips.LPIPS(net=NET, version='0.1')`: torchvision's ImageNet-trained AlexNet or
     VGG-16 `features` (cut into the package's five slices) and the calibrated linear layers
     lin0..lin4 that ship inside the package (lpips/weights/v0.1/NET.pth);
  2. takes its state_dict without the `lins.*` aliases of `lin*` and without the constant
     `scaling_layer` buffers, and checks that the keys and shapes are exactly these
     (float32, shapes Cout x Cin x k x k for convolution weights):

       alex: net.slice1.0.{weight [64,3,11,11], bias [64]}    net.slice2.3.{weight [192,64,5,5], bias [192]}
             net.slice3.6.{weight [384,192,3,3], bias [384]}  net.slice4.8.{weight [256,384,3,3], bias [256]}
             net.slice5.10.{weight [256,256,3,3], bias [256]}
             lin{0..4}.model.1.weight [1,C,1,1], C = 64, 192, 384, 256, 256
       vgg:  net.slice1.{0,2}  net.slice2.{5,7}  net.slice3.{10,12,14}  net.slice4.{17,19,21}
             net.slice5.{24,26,28}, each .weight [Cout,Cin,3,3] and .bias [Cout], channels
             64 64 | 128 128 | 256 256 256 | 512 512 512 | 512 512 512 (Cin = previous Cout, 3 first)
             lin{0..4}.model.1.weight [1,C,1,1], C = 64, 128, 256, 512, 512

  3. computes the package's float32 distance between Outpost's two probe images
     (`LPIPS.probeImages()`: 3x64x64, first[i] = (1 + h(1000, i)) / 2,
     second[i] = clip(first[i] + 0.25 h(1001, i), 0, 1), h the SplitMix64 formula below) with
     `model(x0, x1, normalize=True)`;
  4. writes the tensors with `safetensors.torch.save_file` and the metadata
       outpost.lpips.net             "alex" or "vgg" (OutpostLPIPS checks it)
       outpost.lpips.probe_distance  the distance of step 3 (`LPIPS.checkEmbeddedReference()`
                                     recomputes it in Swift and compares)
       outpost.lpips.trunk           where the backbone weights came from
       outpost.lpips.versions        lpips / torch / torchvision versions
     and reads the file back to check it.

h(k, i), uniform in [-1, 1), in wrapping 64-bit arithmetic:
  z = (i + 1) * 0x9E3779B97F4A7C15 + (k + 1) * 0xD1B54A32D192ED03;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9; z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
  z = z ^ (z >> 31); h = (z >> 11) * 2^-53 * 2 - 1
"""
import argparse
import importlib.metadata
import os
import sys

import numpy as np
import torch
import torchvision

import lpips

EXPECTED = {
    "alex": [("net.slice1.0", 64, 3, 11), ("net.slice2.3", 192, 64, 5), ("net.slice3.6", 384, 192, 3),
             ("net.slice4.8", 256, 384, 3), ("net.slice5.10", 256, 256, 3)],
    "vgg": [("net.slice1.0", 64, 3, 3), ("net.slice1.2", 64, 64, 3),
            ("net.slice2.5", 128, 64, 3), ("net.slice2.7", 128, 128, 3),
            ("net.slice3.10", 256, 128, 3), ("net.slice3.12", 256, 256, 3), ("net.slice3.14", 256, 256, 3),
            ("net.slice4.17", 512, 256, 3), ("net.slice4.19", 512, 512, 3), ("net.slice4.21", 512, 512, 3),
            ("net.slice5.24", 512, 512, 3), ("net.slice5.26", 512, 512, 3), ("net.slice5.28", 512, 512, 3)],
}
LINEAR_CHANNELS = {"alex": [64, 192, 384, 256, 256], "vgg": [64, 128, 256, 512, 512]}


def expected_shapes(net):
    shapes = {}
    for prefix, cout, cin, k in EXPECTED[net]:
        shapes[prefix + ".weight"] = [cout, cin, k, k]
        shapes[prefix + ".bias"] = [cout]
    for l, c in enumerate(LINEAR_CHANNELS[net]):
        shapes["lin%d.model.1.weight" % l] = [1, c, 1, 1]
    return shapes


def formula(n, k):
    with np.errstate(over="ignore"):
        i = np.arange(n, dtype=np.uint64)
        z = (i + np.uint64(1)) * np.uint64(0x9E3779B97F4A7C15) + np.uint64(k + 1) * np.uint64(0xD1B54A32D192ED03)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * 2.0 ** -53 * 2 - 1


def probe_images():
    n = 3 * 64 * 64
    first = (1 + formula(n, 1000)) / 2
    second = np.clip(first + 0.25 * formula(n, 1001), 0, 1)
    return (torch.from_numpy(first).reshape(1, 3, 64, 64), torch.from_numpy(second).reshape(1, 3, 64, 64))


def load_trunk(model, path):
    """Copies torchvision's `features.{i}.*` tensors from a checkpoint into the slices."""
    state = torch.load(path, map_location="cpu")
    if "state_dict" in state:
        state = state["state_dict"]
    copied = 0
    with torch.no_grad():
        for s in range(1, 6):
            for index, module in getattr(model.net, "slice%d" % s).named_children():
                if isinstance(module, torch.nn.Conv2d):
                    for p in ("weight", "bias"):
                        key = "features.%s.%s" % (index, p)
                        if key not in state:
                            sys.exit("%s: no tensor %s; expected a torchvision %s checkpoint" % (path, key, model.pnet_type))
                        getattr(module, p).copy_(state[key])
                        copied += 1
    return copied


def main():
    parser = argparse.ArgumentParser(description="Convert lpips weights to OutpostLPIPS's safetensors file.")
    parser.add_argument("--net", choices=["alex", "vgg"], required=True, help="the backbone")
    parser.add_argument("--out", required=True, help="the safetensors file to write")
    parser.add_argument("--trunk-weights", metavar="FILE",
                        help="a torchvision checkpoint of AlexNet/VGG-16 to use instead of downloading it")
    args = parser.parse_args()

    if args.trunk_weights:
        # Random trunk first (nothing downloaded), then every convolution overwritten from the file.
        model = lpips.LPIPS(net=args.net, version="0.1", pretrained=True, pnet_rand=True, verbose=False)
        copied = load_trunk(model, args.trunk_weights)
        if copied != 2 * len(EXPECTED[args.net]):
            sys.exit("copied %d backbone tensors, expected %d" % (copied, 2 * len(EXPECTED[args.net])))
        trunk = "torchvision checkpoint " + os.path.basename(args.trunk_weights)
    else:
        model = lpips.LPIPS(net=args.net, version="0.1", pretrained=True, pnet_rand=False, verbose=False)
        trunk = "torchvision ImageNet weights (%s pretrained=True)" % ("alexnet" if args.net == "alex" else "vgg16")
    model.eval()

    state = {k: v.detach().float().contiguous() for k, v in model.state_dict().items()
             if not k.startswith("lins.") and not k.startswith("scaling_layer.")}
    shapes = expected_shapes(args.net)
    found = {k: list(v.shape) for k, v in state.items()}
    if found != shapes:
        missing = sorted(set(shapes) - set(found))
        extra = sorted(set(found) - set(shapes))
        wrong = sorted(k for k in set(shapes) & set(found) if shapes[k] != found[k])
        sys.exit("unexpected LPIPS state_dict: missing %s, unexpected %s, misshapen %s" % (missing, extra, wrong))
    for k, v in state.items():
        if not torch.isfinite(v).all():
            sys.exit("tensor %s holds non-finite values" % k)

    x0, x1 = probe_images()
    with torch.no_grad():
        probe = float(model(x0.float(), x1.float(), normalize=True).item())

    versions = "lpips %s, torch %s, torchvision %s" % (
        importlib.metadata.version("lpips"), torch.__version__, torchvision.__version__)
    metadata = {
        "format": "pt",
        "outpost.lpips.net": args.net,
        "outpost.lpips.probe_distance": repr(probe),
        "outpost.lpips.trunk": trunk,
        "outpost.lpips.versions": versions,
    }
    from safetensors.torch import save_file, load_file
    save_file(state, args.out, metadata=metadata)
    back = load_file(args.out)
    if set(back) != set(state) or any(not torch.equal(back[k], state[k]) for k in state):
        sys.exit("%s does not read back as written" % args.out)
    print("wrote %s: %d tensors, %d parameters (%s)" % (args.out, len(state), sum(v.numel() for v in state.values()), trunk))
    print("probe distance (lpips package, float32): %r" % probe)
    print("use it with: export OUTPOST_LPIPS_%s_WEIGHTS=%s" % (args.net.upper(), os.path.abspath(args.out)))


if __name__ == "__main__":
    main()
