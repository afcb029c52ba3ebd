#!/usr/bin/env python3
"""The PyTorch peer of outpost-bench: the same five workloads, timed the same way.

Each workload runs for --warmup seconds untimed, then for --seconds timed; the rate is the
units done (closure evaluations, iterations or samples) over the timed seconds. With --json
it prints one JSON object shaped like `outpost-bench --json`.

    python3 scripts/bench/torch_workloads.py --threads 2 --seconds 5 --only W1,W3 --json
"""
import argparse
import json
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


# --- Models (the same definitions as OutpostNN's Network.lenet, .resnet(.resnet18), .convNet) ---

class LeNet(nn.Module):
    """The LeNet of DLG: three 5x5 convolutions (12 channels, padding 2, strides 2, 2, 1),
    a sigmoid after each, one linear layer."""

    def __init__(self, channels=3, image_size=32, classes=10):
        super().__init__()
        side = ((image_size + 1) // 2 + 1) // 2
        self.body = nn.Sequential(
            nn.Conv2d(channels, 12, 5, padding=2, stride=2), nn.Sigmoid(),
            nn.Conv2d(12, 12, 5, padding=2, stride=2), nn.Sigmoid(),
            nn.Conv2d(12, 12, 5, padding=2, stride=1), nn.Sigmoid(),
        )
        self.fc = nn.Sequential(nn.Linear(12 * side * side, classes))

    def forward(self, x):
        return self.fc(self.body(x).flatten(1))


class BasicBlock(nn.Module):
    def __init__(self, in_planes, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or in_planes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        h = self.bn2(self.conv2(h))
        return F.relu(h + (x if self.downsample is None else self.downsample(x)))


class ResNet18(nn.Module):
    """CIFAR ResNet-18: 3x3 stride-1 stem, no max pool, BasicBlock stages 64-512."""

    def __init__(self, channels=3, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, 64, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        layers, in_planes = [], 64
        for stage, planes in enumerate([64, 128, 256, 512]):
            for i in range(2):
                layers.append(BasicBlock(in_planes, planes, 2 if i == 0 and stage > 0 else 1))
                in_planes = planes
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(512, classes)

    def forward(self, x):
        h = self.layers(F.relu(self.bn1(self.conv1(x))))
        return self.fc(F.adaptive_avg_pool2d(h, 1).flatten(1))


class ConvNet(nn.Module):
    """The ConvNet of Inverting Gradients: eight conv-BN-ReLU blocks, 3x3 max pools after the
    sixth and eighth, a linear layer on 36w features."""

    def __init__(self, width=64, channels=3, classes=10):
        super().__init__()
        widths = [width, 2 * width, 2 * width, 4 * width, 4 * width, 4 * width, 4 * width, 4 * width]
        layers, c = [], channels
        for i, w in enumerate(widths):
            layers += [nn.Conv2d(c, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU()]
            if i in (5, 7):
                layers.append(nn.MaxPool2d(3))
            c = w
        self.body = nn.Sequential(*layers)
        self.linear = nn.Linear(36 * width, classes)

    def forward(self, x):
        return self.linear(self.body(x).flatten(1))


# --- Shared pieces ---

def soft_cross_entropy(logits, targets):
    return -(targets * F.log_softmax(logits, dim=1)).sum() / logits.shape[0]


def squared_distance(a, b):
    return sum(((x - y) ** 2).sum() for x, y in zip(a, b))


def cosine_distance(a, b, observed_norm):
    """1 - cos(a, b) over all parameters, as 1 - a.b / (|a| |b|) with one torch.dot per
    tensor for each of a.b and a.a: the cheapest form in PyTorch (two single-pass BLAS
    reductions per layer). outpost-bench gets the same value and gradient from its fused
    `Tensor.cosineDistance`."""
    flat = [(x.reshape(-1), y.reshape(-1)) for x, y in zip(a, b)]
    norm = sum(torch.dot(x, x) for x, _ in flat)
    product = sum(torch.dot(x, y) for x, y in flat)
    return 1 - product / (norm.sqrt() * observed_norm)


def total_variation(x):
    return (x[:, :, 1:, :] - x[:, :, :-1, :]).abs().mean() + (x[:, :, :, 1:] - x[:, :, :, :-1]).abs().mean()


def shared_gradient(model, images, labels):
    loss = F.cross_entropy(model(images), labels)
    return [g.detach() for g in torch.autograd.grad(loss, list(model.parameters()))]


class LBFGSAttack:
    """L-BFGS (lr 1, 20 iterations a step, history 100, no line search) on [dummy images,
    dummy label logits]; trajectories restart from fresh dummy data every 10 steps and on
    divergence, as in outpost-bench."""

    trajectory_steps = 10

    def __init__(self, image_shape, classes, objective, seed):
        self.image_shape, self.classes, self.objective = image_shape, classes, objective
        self.generator = torch.Generator().manual_seed(seed)
        self.restart()

    def restart(self):
        x = torch.randn(self.image_shape, generator=self.generator).requires_grad_(True)
        y = torch.randn(self.image_shape[0], self.classes, generator=self.generator).requires_grad_(True)
        self.variables = [x, y]
        self.optimizer = torch.optim.LBFGS(self.variables, lr=1, max_iter=20, history_size=100, line_search_fn=None)
        self.steps = 0

    def step(self):
        if self.steps == self.trajectory_steps:
            self.restart()
        evaluations = 0

        def closure():
            nonlocal evaluations
            evaluations += 1
            self.optimizer.zero_grad()
            loss = self.objective(self.variables)
            loss.backward()
            return loss

        loss = self.optimizer.step(closure)
        self.steps += 1
        if not (torch.isfinite(loss) and all(torch.isfinite(v).all() for v in self.variables)):
            self.restart()
        return evaluations


def uniform_(model, low=-0.5, high=0.5):
    with torch.no_grad():
        for p in model.parameters():
            p.uniform_(low, high)


# --- Workloads ---

class DLGLeNet:
    id, name, unit = "W1", "dlg-lenet", "evals/s"

    def __init__(self):
        torch.manual_seed(1)
        self.model = LeNet(3, 32, 10)
        uniform_(self.model)
        params = list(self.model.parameters())
        truth = torch.rand(1, 3, 32, 32)
        target = shared_gradient(self.model, truth, torch.tensor([3]))

        def objective(v):
            loss = soft_cross_entropy(self.model(v[0]), F.softmax(v[1], dim=1))
            return squared_distance(torch.autograd.grad(loss, params, create_graph=True), target)

        self.attack = LBFGSAttack((1, 3, 32, 32), 10, objective, seed=3)

    def run(self):
        return self.attack.step()


def lenet_functional(x, p):
    """LeNet's forward with explicit parameters (what an unrolling attacker differentiates)."""
    h = torch.sigmoid(F.conv2d(x, p[0], p[1], stride=2, padding=2))
    h = torch.sigmoid(F.conv2d(h, p[2], p[3], stride=2, padding=2))
    h = torch.sigmoid(F.conv2d(h, p[4], p[5], stride=1, padding=2))
    return F.linear(h.flatten(1), p[6], p[7])


class DeltaLeNet:
    id, name, unit = "W4", "delta-lenet", "evals/s"

    def __init__(self):
        torch.manual_seed(1)
        model = LeNet(3, 32, 10)
        uniform_(model)
        start = [p.detach().clone() for p in model.parameters()]
        images, labels, lr = torch.rand(2, 3, 32, 32), [3, 7], 0.01
        # The client: two local SGD steps of one image each; it sends the model delta.
        params = start
        for i in range(2):
            p = [t.clone().requires_grad_(True) for t in params]
            g = torch.autograd.grad(F.cross_entropy(lenet_functional(images[i:i + 1], p), torch.tensor([labels[i]])), p)
            params = [(pi - lr * gi).detach() for pi, gi in zip(p, g)]
        delta = [(p - s).detach() for p, s in zip(params, start)]

        def objective(v):
            p0 = [s.clone().requires_grad_(True) for s in start]
            p = p0
            for i in range(2):
                loss = soft_cross_entropy(lenet_functional(v[0][i:i + 1], p), F.softmax(v[1][i:i + 1], dim=1))
                g = torch.autograd.grad(loss, p, create_graph=True)
                p = [pi - gi * lr for pi, gi in zip(p, g)]
            return squared_distance([a - b for a, b in zip(p, p0)], delta)

        self.attack = LBFGSAttack((2, 3, 32, 32), 10, objective, seed=5)

    def run(self):
        return self.attack.step()


class InvertingGradients:
    unit = "it/s"

    def __init__(self, id, name, model, batch):
        self.id, self.name = id, name
        torch.manual_seed(1)
        self.model = model.eval()
        self.params = list(self.model.parameters())
        self.labels = torch.arange(batch)
        truth = torch.rand(batch, 3, 32, 32)
        self.target = shared_gradient(self.model, truth, self.labels)
        self.target_norm = float(sum((t * t).sum() for t in self.target).sqrt())
        self.image = torch.randn(batch, 3, 32, 32).requires_grad_(True)
        self.optimizer = torch.optim.Adam([self.image], lr=0.1)

    def run(self):
        self.optimizer.zero_grad()
        ce = F.cross_entropy(self.model(self.image), self.labels)
        g = torch.autograd.grad(ce, self.params, create_graph=True)
        loss = cosine_distance(g, self.target, self.target_norm) + 1e-4 * total_variation(self.image)
        self.image.grad, = torch.autograd.grad(loss, [self.image])
        self.image.grad.sign_()
        self.optimizer.step()
        with torch.no_grad():
            self.image.clamp_(0, 1)
        return 1


class FedAvgLeNet:
    id, name, unit = "W3", "fedavg-lenet", "samples/s"
    batch = 32

    def __init__(self):
        torch.manual_seed(1)
        self.model = LeNet(1, 28, 10)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
        self.batches = [(torch.rand(self.batch, 1, 28, 28), torch.randint(0, 10, (self.batch,))) for _ in range(8)]
        self.next = 0

    def run(self):
        x, y = self.batches[self.next]
        self.next = (self.next + 1) % len(self.batches)
        self.optimizer.zero_grad()
        F.cross_entropy(self.model(x), y).backward()
        self.optimizer.step()
        return self.batch


WORKLOADS = {
    "W1": DLGLeNet,
    "W2": lambda: InvertingGradients("W2", "ig-resnet18", ResNet18(), 1),
    "W3": FedAvgLeNet,
    "W4": DeltaLeNet,
    "W5": lambda: InvertingGradients("W5", "ig-convnet", ConvNet(64), 8),
}


def measure(make, seconds, warmup):
    w = make()
    warm_end = time.perf_counter() + warmup
    while True:
        w.run()
        if time.perf_counter() >= warm_end:
            break
    units, start = 0, time.perf_counter()
    while True:
        units += w.run()
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            break
    return {"name": w.name, "unit": w.unit, "rate": units / elapsed, "units": units, "seconds": elapsed}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--warmup", type=float, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", default=",".join(WORKLOADS))
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--flush-denormal", action="store_true",
                    help="torch.set_flush_denormal(True): denormal floats read and written as zero (default: off, as in PyTorch)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    if a.flush_denormal and not torch.set_flush_denormal(True):
        sys.exit("torch_workloads.py: this CPU cannot flush denormals")
    results = {}
    for wid in [w.strip().upper() for w in a.only.split(",")]:
        results[wid] = measure(WORKLOADS[wid], a.seconds, a.warmup)
        if not a.json:
            m = results[wid]
            print(f"{wid} {m['name']:<13} {m['rate']:12.2f} {m['unit']}  ({m['units']} in {m['seconds']:.2f} s)", flush=True)
    if a.json:
        print(json.dumps({"engine": "torch", "version": torch.__version__, "threads": a.threads, "flush_denormal": a.flush_denormal,
                          "interop_threads": torch.get_num_interop_threads(), "workloads": results}))


if __name__ == "__main__":
    main()
