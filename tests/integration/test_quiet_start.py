"""A newcomer's first run: the first step comes quickly, and the console shows the run, not library chatter."""

import os
import subprocess
import sys
import time

from harness import ROOT

NOISE = (
    "💡 Tip",  # Lightning's litlogger advertisement
    "anonymous setting has no effect",  # W&B, provoked by Lightning's WandbLogger
    "LeafSpec",  # Lightning's use of a deprecated torch pytree API
    "INFO: ",  # Lightning's own console handler beside Hydra's log: every line twice
)


def test_a_debug_run_starts_within_15_s_and_prints_no_library_noise(tmp_path):
    env = {**os.environ, "WANDB_MODE": "offline", "OMP_NUM_THREADS": "1"}
    args = ["model=enhancenet_e", "debug=default", "logger=wandb", f"hydra.run.dir={tmp_path / 'run'}"]
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "tools/train.py", *args], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    seen, first_step = b"", None
    while chunk := proc.stdout.read1(4096):
        seen += chunk
        if first_step is None and b"| 1/3 [" in seen:  # the training bar after step 1
            first_step = time.perf_counter() - start
    assert proc.wait(timeout=300) == 0, seen.decode(errors="replace")[-3000:]
    text = seen.decode(errors="replace")
    assert first_step is not None and first_step < 15, (first_step, text[-2000:])
    assert [n for n in NOISE if n in text] == [], text[-3000:]
    assert list((tmp_path / "run").glob("wandb/offline-run-*"))  # W&B really ran (offline)
