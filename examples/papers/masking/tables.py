#!/usr/bin/env python3
"""Tables of docs/results/masking.md from the outputs of examples/papers/masking/run.sh.

Reads out/papers/masking/threshold-*/results.json and fedavg-*/series.json, copies
the results (JSON, tables, grids, per-round histories) to docs/results/masking/ with paths
made relative to the repository, and rewrites the blocks between
<!-- BEGIN GENERATED: name --> and <!-- END GENERATED: name --> in docs/results/masking.md.
No number in those blocks is typed by hand. Standard library only.
"""
import json
import os
import re
import shutil
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
OUT = os.path.join(ROOT, "out", "papers", "masking")
DOCS = os.path.join(ROOT, "docs", "results")
COPY = os.path.join(DOCS, "masking")
DOC = os.path.join(DOCS, "masking.md")

DATASETS = [("mnist", "MNIST"), ("photos32", "photos32 (for CIFAR-10)"), ("lfw", "LFW subset")]
DEFENSES = ["masking", "clipping", "pruning", "noising"]
FEDAVG = [("iid-mean", "IID, mean"), ("iid-median", "IID, median"), ("noniid-mean", "non-IID, mean"), ("noniid-median", "non-IID, median")]
FEDAVG_DATA = [("photos32", "120 held-out photos32 images"), ("mnist", "2,000 MNIST test images")]
EXTRA = "mnist-csdlg-clipping"


def fmt(v):
    if v is None:
        return "—"
    if v == 0:
        return "0"
    a = abs(v)
    if 0.01 <= a < 10000:
        return "%.4g" % v
    return "%.3e" % v


def relative(obj):
    """Absolute paths under the repository become repository-relative."""
    if isinstance(obj, dict):
        return {k: relative(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [relative(v) for v in obj]
    if isinstance(obj, str) and obj.startswith(ROOT + os.sep):
        return os.path.relpath(obj, ROOT)
    return obj


def load(path):
    with open(path) as f:
        return json.load(f)


def copy_outputs():
    if os.path.isdir(COPY):
        shutil.rmtree(COPY)
    for key in [k for k, _ in DATASETS] + [EXTRA]:
        src = os.path.join(OUT, "threshold-" + key)
        dst = os.path.join(COPY, "threshold-" + key)
        os.makedirs(dst)
        with open(os.path.join(dst, "results.json"), "w") as f:
            json.dump(relative(load(os.path.join(src, "results.json"))), f, indent=1, sort_keys=True)
            f.write("\n")
        for name in ["thresholds.md", "defenses.json", "grid.png"] + [d + "-grid.png" for d in DEFENSES]:
            if os.path.exists(os.path.join(src, name)):
                shutil.copy(os.path.join(src, name), dst)
    for key in [data + "-" + k for data, _ in FEDAVG_DATA for k, _ in FEDAVG]:
        src = os.path.join(OUT, "fedavg-" + key)
        dst = os.path.join(COPY, "fedavg-" + key)
        os.makedirs(dst)
        for name in ["series.json", "fig3.md"]:
            shutil.copy(os.path.join(src, name), dst)
        for d in sorted(os.listdir(src)):
            history = os.path.join(src, d, "history.csv")
            if os.path.exists(history):
                shutil.copy(history, os.path.join(dst, d + "-history.csv"))


def thresholds_block(results):
    r0 = results[DATASETS[0][0]]
    lines = [
        "Attack %s, %d restarts of %s L-BFGS steps, on %d client image(s); defeated when every image's best restart scores %s < %s."
        % (r0["attack"], r0["attackTrials"], r0["attackIterations"], len(r0["targets"]), r0["metric"], fmt(r0["threshold"])),
        "Each cell: the threshold (the weakest probed setting that defeated the attack), in brackets the strongest probed setting that still leaked, then the number of probes.",
        "",
        "| defense (parameter, stronger when) | " + " | ".join(title for _, title in DATASETS) + " |",
        "| --- |" + " ---: |" * len(DATASETS),
    ]
    for d in DEFENSES:
        first = next(s for s in r0["searches"] if s["defense"] == d)
        row = []
        for key, _ in DATASETS:
            s = next(s for s in results[key]["searches"] if s["defense"] == d)
            cell = "**%s** (%s), %d probes" % (fmt(s.get("threshold")), fmt(s.get("strongestUndefeated")), len(s["probes"]))
            if s["status"] != "found":
                cell += ", " + s["status"].replace("_", " ")
            elif not s["converged"]:
                cell += ", step limit"
            row.append(cell)
        lines.append("| %s (%s, %s) | %s |" % (d, first["parameter"], "larger" if first["strongerWhenLarger"] else "smaller", " | ".join(row)))
    lines += ["", "Ranges searched (weakest → strongest) and the undefended gradient's L2 norm per client image (the scale of clipping bounds):", "",
              "| data | " + " | ".join(DEFENSES) + " | gradient norms |", "| --- |" + " --- |" * (len(DEFENSES) + 1)]
    for key, title in DATASETS:
        r = results[key]
        ranges = []
        for d in DEFENSES:
            s = next(s for s in r["searches"] if s["defense"] == d)
            ranges.append("%s → %s (%s, tol. %s)" % (fmt(s["weakest"]), fmt(s["strongest"]), s["scale"], fmt(s["tolerance"])))
        norms = ", ".join("%.4g" % t["gradientNorm"] for t in r["targets"])
        lines.append("| %s | %s | %s |" % (title, " | ".join(ranges), norms))
    return "\n".join(lines)


def probes_block(results):
    lines = []
    for key, title in DATASETS:
        r = results[key]
        images = ", ".join("#%s (label %s)" % (t["indices"][0], t["labels"][0]) for t in r["targets"])
        lines += ["<details><summary>%s: every probe (images %s)</summary>" % (title, images), ""]
        for s in r["searches"]:
            lines += ["**%s** (%s), in the order probed; per image and restart: SSIM / brightness-adjusted SSIM / MSE / PSNR dB" % (s["defense"], s["parameter"]), "",
                      "| # | %s | defeated | worst %s | per image and restart |" % (s["parameter"], r["metric"]), "| ---: | ---: | --- | ---: | --- |"]
            for p in s["probes"]:
                cells = []
                for t in p["targets"]:
                    trials = []
                    for m in t["trials"]:
                        if m is None:
                            trials.append("—")
                        else:
                            trials.append("%.3f / %.3f / %.4f / %s" % (m["ssim"], m["brightnessAdjustedSSIM"], m["mse"], "inf" if m["psnr"] is None else "%.1f" % m["psnr"]))
                    cells.append("img %d: %s" % (t["target"], "; ".join(trials)))
                lines.append("| %d | %s | %s | %.4f | %s |" % (p["order"], fmt(p["value"]), "yes" if p["defeated"] else "no", p["worst"], "<br>".join(cells)))
            lines.append("")
        lines += ["</details>", ""]
    return "\n".join(lines).rstrip()


def test_losses(data, key, defense):
    with open(os.path.join(OUT, "fedavg-%s-%s" % (data, key), defense, "history.csv")) as f:
        rows = [line.strip().split(",") for line in f][1:]
    return [r[2] for r in rows]


def extra_block(r):
    s = r["searches"][0]
    lines = ["| # | bound | defeated | worst %s | per image and restart: SSIM / MSE |" % r["metric"], "| ---: | ---: | --- | ---: | --- |"]
    for p in s["probes"]:
        cells = "<br>".join("img %d: %s" % (t["target"], "; ".join("%.3f / %.2e" % (m["ssim"], m["mse"]) for m in t["trials"] if m)) for t in p["targets"])
        lines.append("| %d | %s | %s | %.4f | %s |" % (p["order"], fmt(p["value"]), "yes" if p["defeated"] else "no", p["worst"], cells))
    lines += ["", "Status: %s; threshold %s." % (s["status"].replace("_", " "), fmt(s.get("threshold")))]
    return "\n".join(lines)


def fedavg_block(data, test_set, series, thresholds):
    defenses = [s["defense"] for s in series[FEDAVG[0][0]]]
    setting = {d["defense"]: d for d in thresholds}
    param = {"masking": "probability", "clipping": "bound", "pruning": "percent", "noising": "sigma"}
    lines = ["Final test accuracy (%s) after the last round; in brackets the change against no defense in points." % test_set, "",
             "| defense at its %s threshold | " % data + " | ".join(t for _, t in FEDAVG) + " |", "| --- |" + " ---: |" * len(FEDAVG)]
    for d in defenses:
        label = d if d == "none" else "%s, %s = %s" % (d, param[d], fmt(setting[d][param[d]]))
        row = []
        for key, _ in FEDAVG:
            s = next(x for x in series[key] if x["defense"] == d)
            base = next(x for x in series[key] if x["defense"] == "none")["finalAccuracy"]
            acc = s["finalAccuracy"]
            row.append("%.4f" % acc if d == "none" else "%.4f (%+.1f)" % (acc, (acc - base) * 100))
        lines.append("| %s | %s |" % (label, " | ".join(row)))
    lines += ["", "Best accuracy over the rounds (training can oscillate, most of all under median aggregation and noise):", "",
              "| defense | " + " | ".join(t for _, t in FEDAVG) + " |", "| --- |" + " ---: |" * len(FEDAVG)]
    for d in defenses:
        row = []
        for key, _ in FEDAVG:
            s = next(x for x in series[key] if x["defense"] == d)
            row.append("%.4f" % max(a for a in s["accuracy"] if a is not None))
        lines.append("| %s | %s |" % (d, " | ".join(row)))
    lines += ["", "Rounds (of %d) whose test loss differs from the undefended run's: 0 means the defense never changed the model." % len(series[FEDAVG[0][0]][0]["accuracy"]), "",
              "| defense | " + " | ".join(t for _, t in FEDAVG) + " |", "| --- |" + " ---: |" * len(FEDAVG)]
    for d in defenses[1:]:
        row = []
        for key, _ in FEDAVG:
            base, mine = test_losses(data, key, "none"), test_losses(data, key, d)
            row.append("%d" % sum(1 for a, b in zip(base[1:], mine[1:]) if a != b))
        lines.append("| %s | %s |" % (d, " | ".join(row)))
    lines += ["", "Seconds per round (one thread, shared machine: indicative only), training / defense / aggregation:", "",
              "| defense | " + " | ".join(t for _, t in FEDAVG) + " |", "| --- |" + " ---: |" * len(FEDAVG)]
    for d in defenses:
        row = []
        for key, _ in FEDAVG:
            s = next(x for x in series[key] if x["defense"] == d)
            row.append("%.3f / %.3f / %.4f" % (s["trainingSecondsPerRound"], s["defenseSecondsPerRound"], s["aggregationSecondsPerRound"]))
        lines.append("| %s | %s |" % (d, " | ".join(row)))
    for key, title in FEDAVG:
        rounds = len(series[key][0]["accuracy"])
        lines += ["", "<details><summary>%s: accuracy after every round</summary>" % title, "",
                  "| round | " + " | ".join(defenses) + " |", "| ---: |" + " ---: |" * len(defenses)]
        for i in range(rounds):
            row = []
            for d in defenses:
                a = next(x for x in series[key] if x["defense"] == d)["accuracy"][i]
                row.append("—" if a is None else "%.4f" % a)
            lines.append("| %d | %s |" % (i + 1, " | ".join(row)))
        lines += ["", "</details>"]
    return "\n".join(lines)


def replace_block(text, name, body):
    pattern = re.compile(r"(<!-- BEGIN GENERATED: %s -->\n).*?(<!-- END GENERATED: %s -->)" % (name, name), re.S)
    if not pattern.search(text):
        sys.exit("docs/results/masking.md has no block '%s'" % name)
    return pattern.sub(lambda m: m.group(1) + body + "\n" + m.group(2), text)


def main():
    results = {key: load(os.path.join(OUT, "threshold-" + key, "results.json")) for key, _ in DATASETS}
    extra = load(os.path.join(OUT, "threshold-" + EXTRA, "results.json"))
    copy_outputs()
    with open(DOC) as f:
        text = f.read()
    text = replace_block(text, "thresholds", thresholds_block(results))
    text = replace_block(text, "probes", probes_block(results))
    text = replace_block(text, "csdlg", extra_block(extra))
    for data, test_set in FEDAVG_DATA:
        series = {key: load(os.path.join(OUT, "fedavg-%s-%s" % (data, key), "series.json")) for key, _ in FEDAVG}
        thresholds = load(os.path.join(OUT, "threshold-" + data, "defenses.json"))
        text = replace_block(text, "fedavg-" + data, fedavg_block(data, test_set, series, thresholds))
    with open(DOC, "w") as f:
        f.write(text)
    print("wrote", os.path.relpath(DOC, ROOT), "and", os.path.relpath(COPY, ROOT))


if __name__ == "__main__":
    main()
