"""Helpers of the quality benchmark (``benchmarks/quality.py``): the frozen evaluation set,
metrics, the methods under test, comparison sheets, the real cases, speed and the report."""
