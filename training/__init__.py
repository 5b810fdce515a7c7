"""The training Job: read the interaction export, fit LightFM, gate on quality, publish.

Run it as `python -m training`; it is configured by environment variables only (see
`training.config`). LightFM is imported only by `training.model`: the CLI, the pipeline
tools and the scoring service install and run without it.
"""
