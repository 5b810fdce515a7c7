"""Canary analysis: judge one canary step from Prometheus, and compare what two models answer.

`document` reads the analysis document (thresholds, interval), `checks` declares each check
and its PromQL, `prometheus` talks to Prometheus's HTTP API, `verdict` judges and renders,
`compare` measures how far a candidate's answers are from the baseline's.
"""
