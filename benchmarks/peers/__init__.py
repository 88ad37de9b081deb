"""The benchmarks' peer contenders (other consumers run as their own processes) and helpers."""
