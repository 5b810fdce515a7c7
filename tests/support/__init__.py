"""Helpers the test suites share: the repository's paths, the CLI as a subprocess, chart
rendering, pipeline parsing, containers, Azurite. Importable as `support` (pytest's
`pythonpath`), so test files import them by name, not by folder position.
"""
