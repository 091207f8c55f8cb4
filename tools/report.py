#!/usr/bin/env python
"""Summarise a sweep of tools/train.py runs as the thesis reports them.

    python tools/report.py logs/train/multiruns/<time> [--layout seeds|rae] [--metric val/fid] [--mode min]
        [--plot curves.png] [--markdown table.md] [--csv table.csv] [--overwrite]

``--layout seeds`` (default; Sec. 4.4): runs that differ only in their seed form one configuration (e.g.
``model=tan_dcgan``). Per configuration the table gives the seeds, the best and worst *final* value over seeds
("the best run ..., the worst run ..."), their mean, and the best value any run reached at any evaluation.
``--plot`` draws every run's curve, one colour per configuration (Figures 4.6 and 4.9).

``--layout rae`` (Sec. 6.8): Table 6.2 (FID of Rec., N, GMM, Int. samples) and Table 6.3 (precision / recall =
PRD F_1/8 / F_8 of the N and GMM samples) from each run's test metrics, averaged over seeds.

Reads ``metrics.jsonl`` and ``.hydra/`` of each run folder; writes nothing unless asked, never over an existing
file without ``--overwrite``.
"""

import argparse
import csv
import io
import os
import statistics
import sys
from pathlib import Path

from gen_common.files import atomic_output
from gen_common.runs import Run, load_runs


def seed_table(runs: list[Run], metric: str, mode: str) -> list[dict]:
    """One row per configuration: seeds, best / worst / mean final value, best value reached during training."""
    best = min if mode == "min" else max
    worst = max if mode == "min" else min
    rows = []
    for label in dict.fromkeys(r.label for r in runs):
        group = [r for r in runs if r.label == label]
        finals = {r.seed: r.final(metric) for r in group if r.final(metric) is not None}
        if not finals:
            continue
        ever = [v for r in group for v in r.curve(metric)[1]]
        rows.append(
            {
                "configuration": label,
                "seeds": ",".join(str(s) for s in sorted(finals)),
                "final_best": best(finals.values()),
                "final_worst": worst(finals.values()),
                "final_mean": statistics.fmean(finals.values()),
                "best_during_training": best(ever),
                "steps": max(r.curve(metric)[0][-1] for r in group if r.curve(metric)[0]),
            }
        )
    return rows


def to_markdown(rows: list[dict], metric: str) -> str:
    head = f"| configuration | seeds | final {metric}: best | worst | mean | best during training | steps |"
    lines = [head, "|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(
            f"| {r['configuration']} | {r['seeds']} | {r['final_best']:.1f} | {r['final_worst']:.1f} | "
            f"{r['final_mean']:.1f} | {r['best_during_training']:.1f} | {r['steps']} |"
        )
    return "\n".join(lines)


def to_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


PLOT_SUFFIXES = (".png", ".pdf", ".svg", ".jpg")


def plot_curves(runs: list[Run], metric: str, path: Path) -> None:
    """Every run's curve of ``metric`` against training steps; one colour per configuration, log scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(dict.fromkeys(r.label for r in runs))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    fig, ax = plt.subplots(figsize=(6, 4))
    for r in runs:
        steps, values = r.curve(metric)
        if steps:
            i = labels.index(r.label)
            first = r is next(x for x in runs if x.label == r.label)
            ax.plot(steps, values, color=colours[i % len(colours)], label=r.label if first else None, lw=1.2)
    ax.set_xlabel("generator steps")
    ax.set_ylabel(metric)
    ax.set_yscale("log")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)


RAE_FID = {"Rec.": "test/fid_rec", "N": "test/fid_n", "GMM": "test/fid_gmm", "Int.": "test/fid_int"}
RAE_PRD = {"N": ("test/prd_n_f1_8", "test/prd_n_f8"), "GMM": ("test/prd_gmm_f1_8", "test/prd_gmm_f8")}


def rae_tables(runs: list[Run]) -> list[dict]:
    """Per configuration the Table 6.2 FIDs and Table 6.3 precision / recall, means over the seeds' test rows."""
    rows = []
    for label in dict.fromkeys(r.label for r in runs):
        group = [r for r in runs if r.label == label and r.final("test/fid_gmm", stage="test") is not None]
        if not group:
            continue

        def mean(key: str, group: list[Run] = group) -> float:
            values = [r.final(key, stage="test") for r in group]
            return statistics.fmean(values) if None not in values else float("nan")  # a run without this key

        row = {"configuration": label, "seeds": ",".join(str(r.seed) for r in group)}
        row |= {f"fid_{name}": mean(key) for name, key in RAE_FID.items()}
        for name, (precision, recall) in RAE_PRD.items():
            row[f"precision_{name}"], row[f"recall_{name}"] = mean(precision), mean(recall)
        rows.append(row)
    order = ("vae", "cv_vae", "wae", "rae_gp", "rae_l2", "rae_sn", "rae", "ae")  # the rows of Tables 6.2 / 6.3

    def rank(row: dict) -> tuple:
        model = next((o.split("=", 1)[1] for o in row["configuration"].split() if o.startswith("model=")), "")
        return (order.index(model) if model in order else len(order), row["configuration"])

    return sorted(rows, key=rank)


def rae_markdown(rows: list[dict]) -> str:
    fid = ["| model | seeds | Rec. | N | GMM | Int. |", "|---|---|---:|---:|---:|---:|"]
    prd = ["| model | N: precision / recall | GMM: precision / recall |", "|---|---|---|"]
    for r in rows:
        fid.append(
            f"| {r['configuration']} | {r['seeds']} | " + " | ".join(f"{r[f'fid_{k}']:.1f}" for k in RAE_FID) + " |"
        )
        pr = [f"{r[f'precision_{k}']:.2f} / {r[f'recall_{k}']:.2f}" for k in RAE_PRD]
        prd.append(f"| {r['configuration']} | {pr[0]} | {pr[1]} |")
    return (
        "FID (Table 6.2 layout; lower is better)\n\n"
        + "\n".join(fid)
        + ("\n\nPRD F_1/8 / F_8 (Table 6.3 layout; higher is better)\n\n" + "\n".join(prd))
    )


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("sweep", help="a sweep folder (logs/train/multiruns/<time>) or any folder holding run folders")
    p.add_argument("--layout", choices=["seeds", "rae"], default="seeds", help="seeds: Sec. 4.4; rae: Tables 6.2/6.3")
    p.add_argument("--metric", default="val/fid", help="metric key of metrics.jsonl (default val/fid)")
    p.add_argument("--mode", choices=["min", "max"], default="min", help="min: lower is better (FID)")
    p.add_argument("--plot", type=Path, help="write the curves of every run to this PNG")
    p.add_argument("--markdown", type=Path, help="write the table as markdown")
    p.add_argument("--csv", type=Path, help="write the table as CSV")
    p.add_argument("--overwrite", action="store_true", help="overwrite existing output files")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.plot is not None and args.plot.suffix.lower() not in PLOT_SUFFIXES:
            raise ValueError(f"--plot {args.plot}: choose a picture name ending in {', '.join(PLOT_SUFFIXES)}")
        for out in (args.plot, args.markdown, args.csv):
            if out is None:
                continue
            if out.exists() and not args.overwrite:
                raise FileExistsError(f"{out} exists; pass --overwrite to overwrite it or choose another path")
            folder = out.parent if str(out.parent) else Path(".")
            if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
                raise FileNotFoundError(f"output folder {folder} ({out}) does not exist or is not writable")
        runs = load_runs(args.sweep)
        rows = rae_tables(runs) if args.layout == "rae" else seed_table(runs, args.metric, args.mode)
        if not rows:
            wanted = "test/fid_* (a tools/train.py run with test=true)" if args.layout == "rae" else args.metric
            keys = sorted({k for r in runs for row in r.history for k in row if "/" in k})
            raise ValueError(f"no run logged {wanted}; keys found: {', '.join(keys) or 'none'}")
    except (FileNotFoundError, FileExistsError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    table = rae_markdown(rows) if args.layout == "rae" else to_markdown(rows, args.metric)
    print(f"{len(runs)} runs under {args.sweep}\n\n{table}")
    for what, out, write in (
        ("markdown", args.markdown, lambda p: p.write_text(table + "\n")),
        ("csv", args.csv, lambda p: p.write_text(to_csv(rows))),
        ("curves", args.plot, lambda p: plot_curves(runs, args.metric, p)),
    ):
        if out:
            with atomic_output(out) as tmp:  # all or nothing
                write(tmp)
            print(f"{what}: {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
