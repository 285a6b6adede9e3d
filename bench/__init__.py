"""Benchmarks of the three services on embedded MongoDB and Kafka: `python -m bench` (or `make bench`).

Prints one JSON document of figures to stdout and writes it under bench/results/. See docs/bench.md.
"""
