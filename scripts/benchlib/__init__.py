"""Benchmarks of the contact center against a real (sandbox) Asterisk. `scripts/bench-inbound` runs
inbound.py."""
