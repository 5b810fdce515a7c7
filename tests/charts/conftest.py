"""Fixtures for the chart tests; helpers live in support.charts."""

import pytest
from support.charts import CHART_NAMES, CHARTS


@pytest.fixture(scope="session")
def charts():
    """Each chart loaded once on the Helm engine."""
    from mlrelease.values import helm

    return {name: helm.load_chart(CHARTS / name) for name in CHART_NAMES}
