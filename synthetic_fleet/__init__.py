"""A synthetic but realistic fleet: topology, telemetry and the truth behind them.

Not domain analytics: nothing in production reads it. It exists so that the demo, the tests,
the backtest and the benchmarks run on a fleet whose true availabilities are known (the
generator writes them to `truth.json`), and so that a claim such as "the bound bounds what
services delivered" can be checked against that truth. Kept apart from `analytics/` so the
domain stays what the product runs, and a newcomer does not mistake a generator for a model.
"""
