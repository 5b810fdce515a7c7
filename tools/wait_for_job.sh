#!/usr/bin/env bash
# Waits for a Kubernetes Job to finish, whichever way it ends first.
#
# `kubectl wait --for=condition=complete` alone waits out its whole timeout when the Job fails;
# this waits for `complete` and `failed` side by side and returns as soon as either holds.
#
# Usage: wait_for_job.sh JOB NAMESPACE TIMEOUT     (TIMEOUT as kubectl takes it, e.g. 7500s)
# Exit codes: 0 the Job completed; 1 it failed, the wait timed out or kubectl could not ask.
set -Eeuo pipefail

if [[ $# -ne 3 ]]; then
    echo "usage: $0 JOB NAMESPACE TIMEOUT" >&2
    exit 2
fi
readonly job="$1" namespace="$2" timeout="$3"

kubectl wait --for=condition=complete "job/${job}" --namespace "${namespace}" \
    --timeout="${timeout}" >/dev/null &
readonly complete=$!
kubectl wait --for=condition=failed "job/${job}" --namespace "${namespace}" \
    --timeout="${timeout}" >/dev/null &
readonly failed=$!
trap 'kill "${complete}" "${failed}" 2>/dev/null || true' EXIT

status=0
wait -n -p finished "${complete}" "${failed}" || status=$?
if [[ ${finished} == "${complete}" && ${status} -eq 0 ]]; then
    echo "job/${job} completed"
    exit 0
fi
if [[ ${finished} == "${failed}" && ${status} -eq 0 ]]; then
    echo "job/${job} failed; its logs follow in the next step" >&2
    exit 1
fi
echo "job/${job}: kubectl wait ended with status ${status} (timed out or could not ask)" >&2
exit 1
