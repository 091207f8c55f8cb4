"""tools/report.py on a real two-configuration, two-seed sweep of tools/train.py -m (Sec. 4.4's report)."""

import csv
import importlib.util
import json
import os
import subprocess
import sys

import pytest
from harness import ROOT, TINY_GAN, TINY_RAE


def _report_tool():
    spec = importlib.util.spec_from_file_location("report_tool", ROOT / "tools" / "report.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sweep")
    # Model keys in a sweep over models need "++": Hydra checks plain overrides against the default model first.
    tiny = [o if o.startswith(("trainer=", "callbacks.")) else "++" + o for o in TINY_GAN]
    args = ["-m", "model=dcgan,tan_dcgan", "seed=0,1", *tiny, "trainer.max_steps=4", "trainer.val_check_interval=2"]
    args += ["logger=none", "test=false", f"hydra.sweep.dir={tmp / 'sweep'}"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "tools/train.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return tmp / "sweep"


def test_report_table_curves_and_files(sweep, tmp_path, capsys):
    report = _report_tool()
    out = tmp_path / "out"
    assert report.main([str(sweep), "--plot", f"{out}.png", "--markdown", f"{out}.md", "--csv", f"{out}.csv"]) == 0
    captured = capsys.readouterr()
    printed = captured.out
    assert captured.err.splitlines() == [f"markdown: {out}.md", f"csv: {out}.csv", f"curves: {out}.png"]
    assert "4 runs" in printed and "| model=dcgan | 0,1 |" in printed and "| model=tan_dcgan | 0,1 |" in printed
    # Independent of the tool: the final FID of every run read straight from its metrics.jsonl.
    finals = {}
    for job in sorted(sweep.iterdir()):
        if (job / "metrics.jsonl").is_file():
            rows = [json.loads(line) for line in (job / "metrics.jsonl").read_text().splitlines()]
            assert [r["step"] for r in rows] == [2, 4]
            model = next(o for o in (job / ".hydra" / "overrides.yaml").read_text().split() if o.startswith("model="))
            finals.setdefault(model, []).append(rows[-1]["val/fid"])
    rows = list(csv.DictReader((tmp_path / "out.csv").open()))
    assert len(rows) == 2
    for row in rows:
        assert float(row["final_best"]) == pytest.approx(min(finals[row["configuration"]]))
        assert float(row["final_worst"]) == pytest.approx(max(finals[row["configuration"]]))
    assert (tmp_path / "out.png").stat().st_size > 10_000 and "| configuration |" in (tmp_path / "out.md").read_text()
    # Nothing is overwritten without --overwrite.
    assert report.main([str(sweep), "--csv", f"{out}.csv"]) == 2
    assert "--overwrite" in capsys.readouterr().err


def test_report_errors_name_the_problem(tmp_path, capsys):
    report = _report_tool()
    assert report.main([str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert report.main([str(tmp_path)]) == 2
    assert "metrics.jsonl" in capsys.readouterr().err
    # Output names and folders are checked before the runs are read (they were found wrong after the table).
    assert report.main([str(tmp_path), "--plot", str(tmp_path / "curves.xyz")]) == 2
    assert "--plot" in capsys.readouterr().err
    assert report.main([str(tmp_path), "--csv", str(tmp_path / "no" / "t.csv")]) == 2
    assert "does not exist or is not writable" in capsys.readouterr().err


def test_a_damaged_metrics_file_is_named(sweep, tmp_path, capsys):
    """A run killed while writing leaves half a line: the error names the file and the line, no traceback."""
    import shutil

    copy = tmp_path / "sweep"
    shutil.copytree(sweep, copy)
    damaged = sorted(copy.rglob("metrics.jsonl"))[1]
    damaged.write_text(damaged.read_text() + '{"stage": "val", "step": 6, "val/fi')
    assert _report_tool().main([str(copy)]) == 2
    err = capsys.readouterr().err
    assert f"{damaged}, line 3, is not a JSON row" in err and "Traceback" not in err


def test_report_rae_tables_from_a_real_sweep(tmp_path, capsys):
    tiny = [o if o.startswith(("trainer=", "callbacks.")) else "++" + o for o in TINY_RAE]
    args = ["-m", "model=rae_l2,ae", *tiny, "logger=none", f"hydra.sweep.dir={tmp_path / 'sweep'}"]
    proc = subprocess.run(
        [sys.executable, "tools/train.py", *args],
        cwd=ROOT,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = _report_tool()
    assert report.main([str(tmp_path / "sweep"), "--layout", "rae", "--csv", str(tmp_path / "t.csv")]) == 0
    printed = capsys.readouterr().out
    assert "Table 6.2" in printed and "Table 6.3" in printed and "| model=ae | 0 |" in printed
    rows = {r["configuration"]: r for r in csv.DictReader((tmp_path / "t.csv").open())}
    for job in (tmp_path / "sweep").iterdir():
        if (job / "metrics.jsonl").is_file():  # the test row of each run, read independently
            test_row = json.loads((job / "metrics.jsonl").read_text().splitlines()[-1])
            label = "model=ae" if "model=ae" in (job / ".hydra" / "overrides.yaml").read_text() else "model=rae_l2"
            assert float(rows[label]["fid_GMM"]) == pytest.approx(test_row["test/fid_gmm"])
            assert float(rows[label]["recall_N"]) == pytest.approx(test_row["test/prd_n_f8"])
