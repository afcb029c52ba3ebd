#!/usr/bin/env python3
"""Runs outpost-bench and its PyTorch peer (torch_workloads.py) interleaved, workload by
workload and round by round, on the same machine and thread count, and prints the rates and
the Outpost/PyTorch ratios (medians over the rounds).

    python3 scripts/bench/compare.py --bench .build/release/outpost-bench --rounds 3 --seconds 5

Each round runs every selected workload once in each engine, alternating which engine goes
first, so drift in the machine's load falls on both. PyTorch runs with OMP_WAIT_POLICY=PASSIVE
unless --torch-omp-default is given: on a shared machine, OpenMP's default spinning workers
lose most of their time slices to other processes (seen here: W1 at 3-6 evals/s instead of
about 120), which would flatter the ratios.
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
    ap.add_argument("--torch-omp-default", action="store_true", help="leave OpenMP's wait policy at its default")
    ap.add_argument("--baseline", help="an older outpost-bench to run in the same rounds (before/after figures)")
    ap.add_argument("--json", help="also write all rates and ratios to this file")
    a = ap.parse_args()

    ids = [w.strip().upper() for w in a.only.split(",")]
    env = dict(os.environ)
    env.update({"OMP_NUM_THREADS": str(a.threads), "MKL_NUM_THREADS": str(a.threads)})
    torch_env = dict(env)
    if not a.torch_omp_default:
        torch_env["OMP_WAIT_POLICY"] = "PASSIVE"
    common = ["--seconds", str(a.seconds), "--warmup", str(a.warmup), "--threads", str(a.threads), "--json"]
    swift_cmd = [a.bench] + common
    torch_cmd = [a.torch_python, os.path.join(HERE, "torch_workloads.py")] + common

    rates = {w: {"outpost": [], "torch": [], "before": []} for w in ids}
    meta = {}
    for r in range(a.rounds):
        for i, w in enumerate(ids):
            order = [("outpost", swift_cmd, env), ("torch", torch_cmd, torch_env)]
            if a.baseline:
                order.append(("before", [a.baseline] + common, env))
            if (r + i) % 2:
                order.reverse()
            for engine, cmd, e in order:
                res = run_json(cmd + ["--only", w], e)
                m = res["workloads"][w]
                rates[w][engine].append(m["rate"])
                meta[w] = (m["name"], m["unit"])
                meta[engine] = {k: v for k, v in res.items() if k != "workloads"}
                print(f"round {r + 1} {w} {engine:7} {m['rate']:12.2f} {m['unit']}", file=sys.stderr, flush=True)

    print(f"machine: {cpu_model()}, {os.cpu_count()} CPUs; threads {a.threads}; {a.rounds} rounds of {a.seconds:g} s "
          f"(+{a.warmup:g} s warm-up) per workload and engine")
    print(f"outpost: BLAS kernels {meta['outpost'].get('blas', '?')}; torch {meta['torch'].get('version', '?')}"
          f"{'' if a.torch_omp_default else ' (OMP_WAIT_POLICY=PASSIVE)'}")
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
        summary[w] = {"name": name, "unit": unit, "outpost": o, "torch": t, "ratio": mo / mt, "pair_ratio": pair}
        extra = ""
        if a.baseline:
            mb = statistics.median(rates[w]["before"])
            summary[w]["before"] = rates[w]["before"]
            extra = f" {mb:,.2f} | {mo / mb:.2f}x |"
        print(f"| {w} {name} | {unit} | {mo:,.2f} | {mt:,.2f} | {mo / mt:.2f}x | {pair:.2f}x | {TARGETS.get(w, 0)}x |" + extra)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"machine": cpu_model(), "threads": a.threads, "rounds": a.rounds, "seconds": a.seconds,
                       "outpost": meta.get("outpost"), "torch": meta.get("torch"), "workloads": summary}, f, indent=1)


if __name__ == "__main__":
    main()
