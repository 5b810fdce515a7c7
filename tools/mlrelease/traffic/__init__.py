"""Traffic between model versions: the routing document, its schema, its operations, and the
readiness gate that keeps traffic off models that are not complete and verified."""
