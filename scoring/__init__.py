"""The scoring service: serves one immutable model version over HTTP (`python -m scoring`)."""
