"""Simulators of the SaaS services PolicyArc connects to, for the demo, the tests and the benchmarks."""
