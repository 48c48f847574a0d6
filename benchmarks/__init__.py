"""Side-by-side throughput and latency of kgraph against its peers (see README.md).

Never part of the test suite: `python benchmarks/run.py --help`.
"""
