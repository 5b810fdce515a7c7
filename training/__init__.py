"""The training Job: read the interaction export, fit LightFM, gate on quality, publish.

Run it as `python -m training`; it is configured by environment variables only (see
`training.config`). LightFM is imported only here and in `scoring`, so the CLI and
the pipeline tools install without it.
"""
