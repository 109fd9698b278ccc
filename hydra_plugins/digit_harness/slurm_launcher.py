"""`hydra/launcher=slurm`: submitit's Slurm launcher, where a job Slurm ends without a result
(cancelled, out of time or memory, node lost) is that job's failed row in the sweep summary,
with Slurm's reason, instead of an UncompletedJobError traceback that drops every other
job's result. The launch steps are submitit's own (hydra-submitit-launcher 1.2.0)."""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, filter_overrides
from hydra_plugins.hydra_submitit_launcher import submitit_launcher
from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
from omegaconf import OmegaConf, open_dict

log = submitit_launcher.log


class SlurmLauncher(submitit_launcher.SlurmLauncher):
    def launch(self, job_overrides: Sequence[Sequence[str]],
               initial_job_idx: int) -> Sequence[JobReturn]:
        import submitit

        assert self.config is not None and len(job_overrides) > 0
        init_keys = {"max_num_timeout", "submitit_folder"}
        executor = submitit.AutoExecutor(
            cluster=self._EXECUTOR, folder=self.params["submitit_folder"],
            **{f"{self._EXECUTOR}_max_num_timeout": self.params[k]
               for k in ("max_num_timeout",) if k in self.params})
        baseparams = set(OmegaConf.structured(BaseQueueConf).keys())
        executor.update_parameters(**{
            k if k in baseparams else f"{self._EXECUTOR}_{k}": v
            for k, v in self.params.items() if k not in init_keys})
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        log.info(f"Submitit '{self._EXECUTOR}' sweep output dir : {sweep_dir}")
        numbers = range(initial_job_idx, initial_job_idx + len(job_overrides))
        for idx, overrides in zip(numbers, job_overrides, strict=True):
            log.info(f"\t#{idx} : {' '.join(filter_overrides(overrides))}")
        state = Singleton.get_state()
        jobs = executor.map_array(  # one array job; each task calls self(...) on the cluster
            self, [list(o) for o in job_overrides], ["hydra.sweep.dir"] * len(numbers),
            list(numbers), [f"job_id_for_{idx}" for idx in numbers], [state] * len(numbers))
        return [self._result(job, list(overrides), idx)
                for job, overrides, idx in zip(jobs, job_overrides, numbers, strict=True)]

    def _result(self, job: Any, overrides: list[str], idx: int) -> JobReturn:
        from submitit.core.utils import UncompletedJobError

        from src.runs.run_dir import RunDir

        try:
            return job.results()[0]
        except UncompletedJobError:
            reason = f"Slurm job {job.job_id} ended without a result (state {job.state})"
            log.error(f"#{idx}: {reason}")
            RunDir(self._job_dir(overrides, idx)).record_lost_job(overrides, reason)
            # a completed job with no value: the sweep goes on, the summary shows the row
            return JobReturn(overrides=overrides, status=JobStatus.COMPLETED)

    def _job_dir(self, overrides: list[str], idx: int) -> Path:
        cfg = self.hydra_context.config_loader.load_sweep_config(self.config, overrides)
        with open_dict(cfg.hydra.job):
            cfg.hydra.job.num = idx
        return Path(str(cfg.hydra.sweep.dir)) / str(cfg.hydra.sweep.subdir)
