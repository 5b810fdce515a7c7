#!/usr/bin/env bash
# Builds the training and scoring images on a machine without a container registry.
#
# The pipeline builds the same Dockerfiles against a public Python base image; here no registry is
# reachable, so this script makes everything the build needs from package registries alone:
# Debian's docker.io and debootstrap, a private dockerd (no bridge network, no iptables rules, its
# own socket and data root), a Debian bookworm base image made with debootstrap and `docker import`,
# and a wheelhouse built on the host with pip. Images are built with `--network none`.
#
# Usage:
#   build_images.sh [build]      build both images (reused when the sources have not changed)
#   build_images.sh start-daemon start the private dockerd and print its DOCKER_HOST on stdout
#   build_images.sh stop-daemon  stop the dockerd that start-daemon started
#
# Environment:
#   MLRELEASE_IMAGE_CACHE  cache folder: debootstrap tarball, wheels, daemon data root
#                          (default ~/.cache/mlrelease-images)
#   DOCKER_HOST            use this running daemon instead of starting one (it is left running)
#   BASE_IMAGE             base image for both Dockerfiles; unset = the local debootstrap image
#   TRAINING_IMAGE         training image tag (default mlrelease-training:dev)
#   SCORING_IMAGE          scoring image tag (default mlrelease-scoring:dev)
#   PYTHON                 Python 3.11 whose pip builds the wheelhouse (default .venv/bin/python)
#   DEBIAN_MIRROR          Debian mirror for debootstrap (default: the one apt is configured with)
#   FORCE=1                rebuild the images even when their source digest is unchanged
#
# Exit codes: 0 built, 1 build failed, 3 Docker cannot run on this machine (message on stderr).
set -Eeuo pipefail
trap 'log "error: line ${LINENO}: ${BASH_COMMAND} failed"' ERR

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly REPO
readonly CACHE="${MLRELEASE_IMAGE_CACHE:-${HOME}/.cache/mlrelease-images}"
readonly TRAINING_IMAGE="${TRAINING_IMAGE:-mlrelease-training:dev}"
readonly SCORING_IMAGE="${SCORING_IMAGE:-mlrelease-scoring:dev}"
readonly LOCAL_BASE="mlrelease-base:bookworm"
# The base holds what python:3.11-slim holds that the workloads use: Python 3.11 with venv support,
# CA certificates for Azure Blob Storage over HTTPS, and netbase (/etc/services, /etc/protocols).
readonly BASE_PACKAGES="python3,python3-venv,ca-certificates,netbase"
readonly DIGEST_LABEL="io.mlrelease.source-digest"
readonly BASE_LABEL="io.mlrelease.base-digest"
readonly DAEMON_PIDFILE="${CACHE}/dockerd.pid"
readonly DAEMON_RUNFILE="${CACHE}/dockerd.run"

log() { printf 'build_images: [%4ds] %s\n' "${SECONDS}" "$*" >&2; }
die() { log "error: $*"; exit 1; }
cannot_run() { log "Docker cannot run here: $*"; exit 3; }

# --- prerequisites ------------------------------------------------------------------------------

ensure_packages() {
    local missing=()
    command -v dockerd >/dev/null || missing+=(docker.io)
    command -v debootstrap >/dev/null || missing+=(debootstrap)
    [[ ${#missing[@]} -eq 0 ]] && return 0
    if [[ $(id -u) -ne 0 ]]; then
        cannot_run "missing ${missing[*]}; install them as root: apt-get install ${missing[*]}"
    fi
    log "installing ${missing[*]} from Debian"
    apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2 \
        || cannot_run "apt-get install ${missing[*]} failed"
}

# --- the private daemon -------------------------------------------------------------------------

daemon_answers() { docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

start_daemon() {
    [[ $(id -u) -eq 0 ]] || cannot_run "dockerd needs root; run as root or set DOCKER_HOST"
    ensure_packages
    mkdir -p "${CACHE}"
    if [[ -f ${DAEMON_PIDFILE} ]] && kill -0 "$(cat "${DAEMON_PIDFILE}")" 2>/dev/null; then
        die "a dockerd (pid $(cat "${DAEMON_PIDFILE}")) already uses ${CACHE}; stop it with" \
            "'$0 stop-daemon' or set MLRELEASE_IMAGE_CACHE to another folder"
    fi
    # Socket and exec root live under a short /tmp path: unix socket paths are limited to 108 bytes.
    local run
    run="$(mktemp -d /tmp/mlrelease-dockerd.XXXXXX)"
    echo "${run}" >"${DAEMON_RUNFILE}"
    # Never Docker's default bridge: no bridge, no iptables rules; containers use host or none.
    setsid dockerd --bridge=none --iptables=false --ip6tables=false \
        --host "unix://${run}/docker.sock" --data-root "${CACHE}/docker" \
        --exec-root "${run}/exec" --pidfile "${DAEMON_PIDFILE}" \
        </dev/null >"${run}/dockerd.log" 2>&1 &
    export DOCKER_HOST="unix://${run}/docker.sock"
    local _
    for _ in $(seq 1 60); do
        daemon_answers && return 0
        if ! kill -0 $! 2>/dev/null; then
            tail -n 5 "${run}/dockerd.log" >&2
            remove_tree "${run}"
            cannot_run "dockerd exited at start (log above)"
        fi
        sleep 0.5
    done
    stop_daemon
    cannot_run "dockerd did not answer within 30 s"
}

stop_daemon() {
    local pid run _
    [[ -f ${DAEMON_PIDFILE} ]] || return 0
    pid="$(cat "${DAEMON_PIDFILE}")"
    run="$(cat "${DAEMON_RUNFILE}" 2>/dev/null || true)"
    # A pidfile left by a daemon that died may name a process that is not ours by now.
    if [[ "$(cat "/proc/${pid}/comm" 2>/dev/null || true)" == dockerd ]]; then
        kill -TERM "${pid}"
        for _ in $(seq 1 60); do
            kill -0 "${pid}" 2>/dev/null || break
            sleep 0.5
        done
        kill -0 "${pid}" 2>/dev/null && kill -KILL "${pid}"
    fi
    rm -f "${DAEMON_PIDFILE}" "${DAEMON_RUNFILE}"
    # Only the folder start_daemon made; dockerd leaves its netns bind mount in there.
    [[ ${run} == /tmp/mlrelease-dockerd.* ]] && remove_tree "${run}"
    return 0
}

# --- base image ---------------------------------------------------------------------------------

# The Debian mirror apt already uses (deb822 .sources or one-line .list entries), not a fixed host.
debian_mirror() {
    if [[ -n ${DEBIAN_MIRROR:-} ]]; then
        echo "${DEBIAN_MIRROR}"
        return
    fi
    local uri
    uri="$({
        sed -nE 's/^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?([^[:space:]]+)[[:space:]].*/\2/p' \
            /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true
        sed -nE 's/^URIs:[[:space:]]*//p' /etc/apt/sources.list.d/*.sources 2>/dev/null \
            | tr ' ' '\n' || true
    } | grep -E '^https?://.*/debian/?$' | head -n 1 || true)"
    [[ -n ${uri} ]] || die "no Debian mirror in /etc/apt/sources.list*; set DEBIAN_MIRROR"
    echo "${uri}"
}

# debootstrap mounts /proc and /sys inside the target; a failed run can leave them mounted, so
# unmount whatever is below the folder and never let rm cross into another file system.
remove_tree() {
    local dir="$1" mnt
    awk -v d="${dir}/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r \
        | while read -r mnt; do umount -l "${mnt}" || true; done
    rm -rf --one-file-system "${dir}"
}

make_base_tarball() {
    local tarball="$1" work
    local mirror
    mirror="$(debian_mirror)"
    work="$(mktemp -d "${CACHE}/debootstrap.XXXXXX")"
    log "debootstrap bookworm (minbase + ${BASE_PACKAGES}) from ${mirror}"
    if ! debootstrap --variant=minbase --include="${BASE_PACKAGES}" bookworm "${work}/root" \
        "${mirror}" >"${work}/debootstrap.log" 2>&1; then
        tail -n 20 "${work}/debootstrap.log" >&2
        remove_tree "${work}"
        die "debootstrap failed (log above)"
    fi
    # Package caches, apt lists, man pages and logs only make the image bigger.
    rm -rf "${work}/root/var/cache/apt/archives/"*.deb "${work}/root/var/lib/apt/lists/"* \
        "${work}/root/usr/share/man" "${work}/root/usr/share/info" "${work}/root/var/log/"*
    tar --numeric-owner --one-file-system -C "${work}/root" -cf "${tarball}.part" .
    mv "${tarball}.part" "${tarball}"
    remove_tree "${work}"
}

ensure_local_base() {
    local tarball="${CACHE}/base/bookworm-minbase.tar"
    local want
    mkdir -p "${CACHE}/base"
    [[ -f ${tarball} ]] || make_base_tarball "${tarball}"
    want="$(sha256sum "${tarball}" | cut -c1-64)"
    if [[ "$(docker image inspect -f "{{ index .Config.Labels \"${BASE_LABEL}\" }}" \
        "${LOCAL_BASE}" 2>/dev/null || true)" == "${want}" ]]; then
        return 0
    fi
    local previous
    previous="$(docker image inspect -f '{{.Id}}' "${LOCAL_BASE}" 2>/dev/null || true)"
    log "importing ${tarball} as ${LOCAL_BASE}"
    # An imported image has no config: give it the PATH and locale python:3.11-slim has.
    docker import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' \
        --change "LABEL ${BASE_LABEL}=${want}" \
        --change 'CMD ["python3"]' \
        "${tarball}" "${LOCAL_BASE}" >/dev/null
    [[ -z ${previous} ]] || docker image rm "${previous}" >/dev/null 2>&1 || true
}

# --- wheelhouse ---------------------------------------------------------------------------------

# build/wheelhouse/mlrelease-*.whl is the project; build/wheelhouse/<extra>/ holds the third-party
# wheels that extra needs. The Dockerfiles install the two in separate layers, so a change to the
# project's code reuses the slow third-party layer.
build_wheelhouse() {
    local python="${PYTHON:-${REPO}/.venv/bin/python}"
    [[ -x ${python} ]] || python="python3"
    local version
    version="$("${python}" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
    # Compiled wheels (lightfm, numpy) must match the images' Python.
    [[ ${version} == 3.11 ]] || die "${python} is Python ${version}; set PYTHON to a Python 3.11"
    local wheelhouse="${REPO}/build/wheelhouse" wheels="${CACHE}/wheels" project extra
    rm -rf "${wheelhouse}"
    mkdir -p "${wheelhouse}" "${wheels}"
    log "building the wheelhouse with ${python}"
    "${python}" -m pip wheel --quiet --no-deps --wheel-dir "${wheelhouse}" "${REPO}" >&2
    project="$(ls "${wheelhouse}"/mlrelease-*.whl)"
    for extra in training scoring; do
        # The wheel cache first (offline, and lightfm compiles slowly), the package index after.
        if ! "${python}" -m pip wheel --quiet --no-index --find-links "${wheels}" \
            --wheel-dir "${wheelhouse}/${extra}" "${project}[${extra}]" >/dev/null 2>&1; then
            "${python}" -m pip wheel -qq --prefer-binary --find-links "${wheels}" \
                --wheel-dir "${wheelhouse}/${extra}" "${project}[${extra}]" >&2
        fi
        rm -f "${wheelhouse}/${extra}"/mlrelease-*.whl
        cp -n "${wheelhouse}/${extra}"/*.whl "${wheels}/"
    done
}

# --- images -------------------------------------------------------------------------------------

# Everything that ends up in an image, so an unchanged tree reuses the images it built before.
source_digest() {
    local base_id="$1"
    (
        cd "${REPO}"
        echo "${base_id}"
        local inputs=() path
        for path in .dockerignore setup.cfg pyproject.toml README.md tools training scoring \
            tests/containers/build_images.sh; do
            [[ -e ${path} ]] && inputs+=("${path}")
        done
        find "${inputs[@]}" -type f ! -path '*/__pycache__/*' ! -name '*.pyc' \
            | LC_ALL=C sort | xargs sha256sum
    ) | sha256sum | cut -c1-64
}

build_image() {
    local dockerfile="$1" tag="$2" base="$3" digest="$4"
    if [[ ${FORCE:-0} != 1 ]] && [[ "$(docker image inspect \
        -f "{{ index .Config.Labels \"${DIGEST_LABEL}\" }}" "${tag}" 2>/dev/null || true)" == "${digest}" ]]; then
        log "${tag} is up to date (source digest ${digest:0:12})"
        return 0
    fi
    local previous
    previous="$(docker image inspect -f '{{.Id}}' "${tag}" 2>/dev/null || true)"
    log "building ${tag} from ${dockerfile} on ${base}"
    # The legacy builder: the Debian daemon has no buildx, and it honours --network none.
    local output
    if ! output="$(DOCKER_BUILDKIT=0 docker build --network none --pull=false \
        --build-arg "BASE_IMAGE=${base}" --label "${DIGEST_LABEL}=${digest}" \
        --file "${REPO}/${dockerfile}" --tag "${tag}" "${REPO}" 2>&1)"; then
        tail -n 40 <<<"${output}" >&2
        die "docker build of ${dockerfile} failed (output above)"
    fi
    # The image this one replaced would otherwise pile up in the data root, build after build.
    # Not a prune: that would also drop the cached dependency stages that make rebuilds fast.
    if [[ -n ${previous} && ${previous} != "$(docker image inspect -f '{{.Id}}' "${tag}")" ]]; then
        docker image rm "${previous}" >/dev/null 2>&1 || true
    fi
}

build() {
    local started=0 base digest
    if [[ -z ${DOCKER_HOST:-} ]] || ! daemon_answers; then
        [[ -n ${DOCKER_HOST:-} ]] && cannot_run "DOCKER_HOST=${DOCKER_HOST} does not answer"
        start_daemon
        started=1
        trap stop_daemon EXIT
    fi
    if [[ -n ${BASE_IMAGE:-} ]]; then
        base="${BASE_IMAGE}"
        docker image inspect "${base}" >/dev/null 2>&1 || docker pull "${base}" >&2
    else
        command -v debootstrap >/dev/null || ensure_packages
        ensure_local_base
        base="${LOCAL_BASE}"
    fi
    digest="$(source_digest "$(docker image inspect -f '{{.Id}}' "${base}")")"
    local need=0 tag
    for tag in "${TRAINING_IMAGE}" "${SCORING_IMAGE}"; do
        [[ "$(docker image inspect -f "{{ index .Config.Labels \"${DIGEST_LABEL}\" }}" "${tag}" \
            2>/dev/null || true)" == "${digest}" ]] || need=1
    done
    [[ ${FORCE:-0} == 1 ]] && need=1
    if [[ ${need} == 1 ]]; then
        build_wheelhouse
        build_image training/Dockerfile "${TRAINING_IMAGE}" "${base}" "${digest}"
        build_image scoring/Dockerfile "${SCORING_IMAGE}" "${base}" "${digest}"
    else
        log "${TRAINING_IMAGE} and ${SCORING_IMAGE} are up to date (source digest ${digest:0:12})"
    fi
    log "done"
    docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' \
        | grep -E "^(${TRAINING_IMAGE}|${SCORING_IMAGE}) " >&2 || true
    if [[ ${started} == 1 ]]; then
        stop_daemon
        trap - EXIT
    fi
}

case "${1:-build}" in
    build) build ;;
    start-daemon)
        start_daemon
        echo "${DOCKER_HOST}"
        ;;
    stop-daemon) stop_daemon ;;
    -h | --help) sed -n '2,/^# Exit codes/p' "$0" | sed 's/^# \{0,1\}//' ;;
    *) die "unknown command '$1'; use build, start-daemon or stop-daemon" ;;
esac
