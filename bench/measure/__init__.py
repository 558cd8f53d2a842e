"""Measurement engine: the per-run child process, stage timing, device samplers and environment capture."""
