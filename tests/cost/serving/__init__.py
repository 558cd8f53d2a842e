"""Tests of the serving simulator (bench.cost.serving)."""
