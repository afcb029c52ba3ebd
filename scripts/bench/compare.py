#!/usr/bin/env python3
"""Runs outpost-bench and its PyTorch peer (torch_workloads.py) interleaved, workload by
workload and round by round, on the same machine and thread count, and prints the rates and
the Outpost/PyTorch ratios (medians over the rounds).

    python3 scripts/bench/compare.py --bench .build/release/outpost-bench --rounds 3 --seconds 5

Each round runs every selected workload once in each engine, alternating which engine goes
first, so drift in the machine's load falls on both. PyTorch's OpenMP wait policy decides its
small workloads, and which one is faster depends on the machine's load: on a busy machine the
default spinning workers lose their time slices (seen here: W1 at 3-6 evals/s instead of about
120), on a quiet one PASSIVE's sleeping workers wake too slowly for ops of a few microseconds
(W1 at about 55 instead of 130). So by default (--torch-omp best) PyTorch runs under both in
every round and its faster figure counts; --torch-omp passive or default picks one.

Both engines run in the same floating-point mode: by default with denormal floats flushed to
zero (outpost-bench's default, as Outpost's attacks and local training run; PyTorch after
torch.set_flush_denormal(True)), with --denormals keep both keep them. Values drift into
denormals in the batch-1 attacks, where either engine then runs up to 1.6x slower.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
IDS = ["W1", "W2", "W3", "W4", "W5"]
TARGETS = {"W1": 10, "W2": 2, "W3": 3, "W4": 10, "W5": 2}


def run_json(cmd, env):
    out = subprocess.run(cmd, env=env, check=True, stdout=subprocess.PIPE, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", default=".build/release/outpost-bench", help="the outpost-bench executable")
    ap.add_argument("--torch-python", default=os.environ.get("TORCH_PYTHON", "python3"), help="a Python with torch")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--warmup", type=float, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", default=",".join(IDS))
    ap.add_argument("--torch-omp", choices=["best", "passive", "default"], default="best",
                    help="PyTorch's OpenMP wait policy: PASSIVE, the default (spinning), or both in every round "
                         "with the faster one counted (the default)")
    ap.add_argument("--denormals", choices=["flush", "keep"], default="flush",
                    help="both engines flush denormal floats to zero (the default) or both keep them")
    ap.add_argument("--baseline", help="an older outpost-bench to run in the same rounds (before/after figures; "
                                       "run as it is, whatever --denormals says)")
    ap.add_argument("--json", help="also write all rates and ratios to this file")
    a = ap.parse_args()

    ids = [w.strip().upper() for w in a.only.split(",")]
    env = dict(os.environ)
    env.update({"OMP_NUM_THREADS": str(a.threads), "MKL_NUM_THREADS": str(a.threads)})
    passive_env = dict(env, OMP_WAIT_POLICY="PASSIVE")
    policies = {"best": [("passive", passive_env), ("spin", env)], "passive": [("passive", passive_env)],
                "default": [("spin", env)]}[a.torch_omp]
    common = ["--seconds", str(a.seconds), "--warmup", str(a.warmup), "--threads", str(a.threads), "--json"]
    swift_cmd = [a.bench] + common + (["--keep-denormals"] if a.denormals == "keep" else [])
    torch_cmd = [a.torch_python, os.path.join(HERE, "torch_workloads.py")] + common + (["--flush-denormal"] if a.denormals == "flush" else [])

    rates = {w: {"outpost": [], "torch": [], "before": [], "torch-passive": [], "torch-spin": []} for w in ids}
    meta = {}
    round_trips = []
    for r in range(a.rounds):
        for i, w in enumerate(ids):
            order = [("outpost", swift_cmd, env)] + [("torch-" + name, torch_cmd, e) for name, e in policies]
            if a.baseline:
                order.append(("before", [a.baseline] + common, env))
            if (r + i) % 2:
                order.reverse()
            for engine, cmd, e in order:
                res = run_json(cmd + ["--only", w], e)
                m = res["workloads"][w]
                rates[w][engine].append(m["rate"])
                meta[w] = (m["name"], m["unit"])
                meta[engine.split("-")[0]] = {k: v for k, v in res.items() if k != "workloads"}
                trip = res.get("round_trip_ns")
                if engine == "outpost" and trip is not None:
                    round_trips.append(trip)
                note = f"  (cross-core round trip {trip} ns)" if engine == "outpost" and trip is not None else ""
                print(f"round {r + 1} {w} {engine:13} {m['rate']:12.2f} {m['unit']}{note}", file=sys.stderr, flush=True)
            # PyTorch's figure for the round: its faster wait policy in that round.
            rates[w]["torch"].append(max(rates[w]["torch-" + name][-1] for name, _ in policies))

    print(f"machine: {cpu_model()}, {os.cpu_count()} CPUs; threads {a.threads}; {a.rounds} rounds of {a.seconds:g} s "
          f"(+{a.warmup:g} s warm-up) per workload and engine")
    policy = {"best": "per round the faster of OMP_WAIT_POLICY=PASSIVE and the default", "passive": "OMP_WAIT_POLICY=PASSIVE",
              "default": "OpenMP's default wait policy"}[a.torch_omp]
    print(f"outpost: BLAS kernels {meta['outpost'].get('blas', '?')}, allocator {meta['outpost'].get('allocator', '?')}; torch {meta['torch'].get('version', '?')} ({policy}); "
          f"denormals {'flushed to zero' if a.denormals == 'flush' else 'kept'} in both")
    if round_trips:
        # Above 200 ns the engine keeps batch-1 work on one core (see WorkerPool.swift).
        print(f"outpost's cross-core round trip at the end of its runs: {min(round_trips)}-{max(round_trips)} ns "
              f"(median {sorted(round_trips)[len(round_trips) // 2]})")
    print()
    before = " Outpost before (median) | after/before |" if a.baseline else ""
    print("| workload | unit | Outpost (median) | PyTorch (median) | ratio of medians | median of round ratios | target |" + before)
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |" + (" ---: | ---: |" if a.baseline else ""))
    summary = {}
    for w in ids:
        o, t = rates[w]["outpost"], rates[w]["torch"]
        mo, mt = statistics.median(o), statistics.median(t)
        pair = statistics.median([x / y for x, y in zip(o, t)])
        name, unit = meta[w]
        summary[w] = {"name": name, "unit": unit, "outpost": o, "torch": t, "ratio": mo / mt, "pair_ratio": pair,
                      "torch_passive": rates[w]["torch-passive"], "torch_spin": rates[w]["torch-spin"]}
        extra = ""
        if a.baseline:
            mb = statistics.median(rates[w]["before"])
            summary[w]["before"] = rates[w]["before"]
            extra = f" {mb:,.2f} | {mo / mb:.2f}x |"
        print(f"| {w} {name} | {unit} | {mo:,.2f} | {mt:,.2f} | {mo / mt:.2f}x | {pair:.2f}x | {TARGETS.get(w, 0)}x |" + extra)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"machine": cpu_model(), "threads": a.threads, "rounds": a.rounds, "seconds": a.seconds, "denormals": a.denormals,
                       "outpost": meta.get("outpost"), "torch": meta.get("torch"), "workloads": summary}, f, indent=1)


if __name__ == "__main__":
    main()
