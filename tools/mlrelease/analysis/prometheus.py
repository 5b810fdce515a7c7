"""A small client for Prometheus's HTTP query API (`/api/v1/query`), standard library only.

`mlrelease analyze` runs on the pipeline agent with the base install, so this uses urllib
rather than requests. Every call has a timeout; any failure to get an answer raises
`PrometheusError` (exit 1), because a canary that cannot be judged must not be promoted.
"""

import json
import math
import urllib.error
import urllib.parse
import urllib.request

from mlrelease.errors import MlreleaseError


class PrometheusError(MlreleaseError):
    """Prometheus could not be reached or did not answer a query; the step fails safe."""


class Prometheus:
    """Instant queries against one Prometheus server."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise MlreleaseError(
                f"--prometheus-url {url!r} is not an http(s) URL, e.g. http://prometheus:9090"
            )
        self.url = url.rstrip("/")
        self.timeout = timeout

    def query(self, promql: str) -> list[tuple[dict[str, str], float]]:
        """The instant vector `promql` evaluates to now, as (labels, value) pairs."""
        data = self._get("/api/v1/query", {"query": promql})
        result_type, result = data.get("resultType"), data.get("result")
        if result_type == "scalar":
            return [({}, float(result[1]))]
        if result_type != "vector" or not isinstance(result, list):
            raise PrometheusError(f"Prometheus answered a {result_type} for {promql!r}")
        return [(sample.get("metric", {}), float(sample["value"][1])) for sample in result]

    def value(self, promql: str) -> float | None:
        """The single value of `promql`, or None when there is no data (or NaN/Inf)."""
        samples = self.query(promql)
        if not samples:
            return None
        if len(samples) > 1:
            raise PrometheusError(f"{promql!r} returned {len(samples)} series; expected one")
        value = samples[0][1]
        return value if math.isfinite(value) else None

    def _get(self, path: str, params: dict[str, str]) -> dict:
        url = f"{self.url}{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=self.timeout) as response:
                body = json.loads(response.read())
        except urllib.error.HTTPError as error:
            body = _error_body(error)
            if body is None:
                raise PrometheusError(
                    f"Prometheus at {self.url} answered HTTP {error.code}; the canary cannot be "
                    "judged, so it fails safe"
                ) from None
        except (TimeoutError, urllib.error.URLError, ConnectionError) as error:
            reason = getattr(error, "reason", error)
            raise PrometheusError(
                f"Prometheus at {self.url} is unreachable ({reason}); the canary cannot be "
                "judged, so it fails safe. Check --prometheus-url and that Prometheus is up"
            ) from None
        except ValueError:
            raise PrometheusError(f"Prometheus at {self.url} did not answer JSON") from None
        if body.get("status") != "success":
            raise PrometheusError(
                f"Prometheus rejected a query: {body.get('errorType')}: {body.get('error')}"
            )
        return body.get("data", {})


def _error_body(error: urllib.error.HTTPError) -> dict | None:
    """Prometheus answers a bad query with 400/422 and a JSON error; keep that message."""
    try:
        body = json.loads(error.read())
    except ValueError:
        return None
    return body if isinstance(body, dict) and "status" in body else None
