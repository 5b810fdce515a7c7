"""mlrelease: ship machine-learning models to Kubernetes the way good software ships.

This package holds the `mlrelease` command line and the library that the training Job,
the scoring service and the Azure Pipelines steps share: version ids, provenance,
values files, traffic documents and the model store.
"""

__version__ = "0.1.0"
