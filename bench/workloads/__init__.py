"""Workloads: a run's prompts and synthetic inputs, and the task -> pipeline call that its call plan describes."""

from bench.workloads.calls import StageHooks, prompts_for, run_workload

__all__ = ["StageHooks", "prompts_for", "run_workload"]
