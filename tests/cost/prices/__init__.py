"""Tests of bench.cost.prices: gpuhunt offers, the price cache and the price policy."""
