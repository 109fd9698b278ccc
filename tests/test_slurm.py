"""Sweeps on a real Slurm cluster through hydra/launcher=slurm (submitit). Needs the local
single-node cluster of scripts/slurm_cluster.sh: `make test-slurm` starts it and runs these."""

import csv
import os
import shutil
import subprocess
import sys
import time

import pytest

from tests.helpers import ROOT

pytestmark = [
    pytest.mark.slurm,
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("sbatch") is None or not os.environ.get("SLURM_CONF"),
                       reason="no Slurm here: run `make test-slurm`"),
]


def slurm_sweep(tiny_data, tmp_path, *overrides):
    return [sys.executable, "-m", "src.run", "-m", "hydra/launcher=slurm",
            "hydra.launcher.mem_gb=1", "hydra.launcher.cpus_per_task=1",
            "hydra.launcher.timeout_min=10", f"data.dir={tiny_data}", "trainer.verbose=0",
            f"hydra.sweep.dir={tmp_path / 'sweep'}", f"submission.dir={tmp_path / 'subs'}",
            *overrides]


def test_a_two_job_sweep_runs_on_slurm(tiny_data, tmp_path):
    result = subprocess.run(slurm_sweep(tiny_data, tmp_path, "model=logreg,nn",
                                        "trainer.epochs=1"),
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    with open(tmp_path / "sweep" / "summary.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert sorted(r["model"] for r in rows) == ["logreg", "nn"]
    assert all(r["status"] == "ok" for r in rows)
    assert list((tmp_path / "sweep" / ".submitit").iterdir()), "submitit's Slurm job folders"
    for row in rows:  # the thread budget follows the job's Slurm allocation
        metrics = (tmp_path / "sweep" / row["job"] / "metrics.json").read_text()
        assert '"threads": 1' in metrics


def our_running_job(sweep_dir):
    """The Slurm job id of this sweep once Slurm runs it, else None. Only ours: a job of an
    earlier test can still be RUNNING in squeue while its process exits."""
    folders = sweep_dir / ".submitit"
    ids = {d.name.split("_")[0] for d in folders.iterdir()} if folders.is_dir() else set()
    for job_id in ids:
        running = subprocess.run(["squeue", "-h", "-t", "RUNNING", "-j", job_id, "-o", "%i"],
                                 capture_output=True, text=True).stdout.split()
        if running:
            return job_id
    return None


def test_a_cancelled_job_is_a_failed_row_not_a_traceback_or_a_hang(tiny_data, tmp_path):
    # A job that would run for minutes, cancelled once Slurm starts it.
    proc = subprocess.Popen(slurm_sweep(tiny_data, tmp_path, "model=nn", "trainer.epochs=5000"),
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    job_id = None
    try:
        deadline = time.monotonic() + 120
        while job_id is None and time.monotonic() < deadline:
            time.sleep(1)
            job_id = our_running_job(tmp_path / "sweep")
        assert job_id, "the job never started"
        subprocess.run(["scancel", job_id], check=True)
        _, stderr = proc.communicate(timeout=180)  # a hang fails here
    finally:
        if proc.poll() is None:
            proc.kill()
        if job_id:  # never leave a 5000-epoch job on the cluster, nor one still completing
            subprocess.run(["scancel", job_id], capture_output=True)
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and subprocess.run(
                    ["squeue", "-h", "-j", job_id], capture_output=True, text=True).stdout.strip():
                time.sleep(1)
    assert proc.returncode == 1
    assert "Traceback" not in stderr, stderr[-3000:]
    assert "1 of 1 jobs failed" in stderr
    with open(tmp_path / "sweep" / "summary.csv", newline="") as fh:
        (row,) = list(csv.DictReader(fh))
    assert row["status"] == "failed"
    assert "ended without a result" in row["error"] and "CANCELLED" in row["error"]
