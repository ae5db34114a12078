"""Benchmarks: speed against Telegram's limits, each with a reference measured in the same run."""
