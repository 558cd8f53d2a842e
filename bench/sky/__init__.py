"""Measure before you rent: SkyPilot task files per candidate GPU (``plan``) and merging what they return
(``collect``). Reads the cost room's projections; never imports SkyPilot (the user runs ``sky`` itself)."""
