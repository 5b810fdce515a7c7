#!/usr/bin/env bash
# Builds the training and scoring images: the one build behind `make images`, the container tests
# and the pipeline's image job.
#
# The script owns the build context. It writes build/images/ and .dockerignore lets nothing else
# reach the Docker build:
#   build/images/mlrelease-<version>-py3-none-any.whl  the project (pure Python, built here)
#   build/images/<image>/requirements.txt              the pinned requirements of that extra
#   build/images/ca-certificates.crt                   the authorities this host's TLS trusts
# Compiled dependencies (LightFM) are never built here: each Dockerfile compiles them in a `wheels`
# stage on the runtime base, so they link against the glibc the image runs with. That stage
# installs the base's compilers with apt-get and fetches the requirements from PyPI, so builds run
# with `--network host` (never Docker's default bridge); the CA bundle lets pip inside the build
# trust what pip here trusts (a TLS-inspecting proxy, for one). Nothing of it reaches the image.
#
# Docker: a daemon that already answers (DOCKER_HOST, or the default socket, as on a pipeline
# agent) is used as it is. Where none answers, the script starts a private dockerd as root
# (Debian's docker.io; no bridge network, no iptables rules, its own socket and data root) and
# stops it when done. Without BASE_IMAGE, it makes a Debian bookworm base image with debootstrap
# and `docker import`, for machines that cannot reach Docker Hub.
#
# Usage:
#   build_images.sh [build [DOCKERFILE]]  build every image, or the one of DOCKERFILE; an image is
#                                         reused when its sources have not changed
#   build_images.sh push                  push the image tagged IMAGE
#   build_images.sh context [ROOT]        write the build context under ROOT/build/images (ROOT
#                                         defaults to the repository); `build` does this itself
#   build_images.sh images                list the images: Dockerfile and default tag
#   build_images.sh base                  make the local bookworm base image and print its tag
#   build_images.sh start-daemon          start the private dockerd and print its DOCKER_HOST
#   build_images.sh stop-daemon           stop the dockerd that start-daemon started
#
# Environment:
#   IMAGE                  the tag of the one image `build DOCKERFILE` builds, or that `push` pushes;
#                          default tags are mlrelease-<folder>:dev (mlrelease-training:dev, ...)
#   BASE_IMAGE             base image for every Dockerfile; unset or empty = the local bookworm base
#   DOCKER_HOST            the daemon to use; it must answer (the script never starts one for it)
#   MLRELEASE_IMAGE_CACHE  cache folder: debootstrap tarball, build logs, private daemon's data root
#                          (default ~/.cache/mlrelease-images)
#   PYTHON                 Python whose pip builds the project's wheel (default .venv/bin/python,
#                          else python3)
#   BUILD_CA_BUNDLE        CA certificates pip trusts inside the build (default: this host's
#                          OpenSSL bundle, as Python finds it)
#   DEBIAN_MIRROR          Debian mirror for debootstrap (default: the one apt is configured with)
#   FORCE=1                rebuild the images even when their source digest is unchanged
#
# Exit codes: 0 done, 1 failed, 3 Docker cannot run on this machine (the reason on stderr).
set -Eeuo pipefail
trap 'log "error: line ${LINENO}: ${BASH_COMMAND} failed"' ERR

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly REPO
readonly CACHE="${MLRELEASE_IMAGE_CACHE:-${HOME}/.cache/mlrelease-images}"
# The images. A Dockerfile's folder names the project extra it installs, its requirements folder in
# the context and its default tag. The pipeline builds each of these (tests/containers/
# test_build_contract.py checks that, and that the Dockerfiles COPY only what this script writes).
readonly IMAGES=(training/Dockerfile scoring/Dockerfile)
readonly CONTEXT_DIR="build/images"
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

# --- the image list -----------------------------------------------------------------------------

name_of() { dirname "$1"; }
default_tag() { echo "mlrelease-$(name_of "$1"):dev"; }

list_images() {
    local dockerfile
    for dockerfile in "${IMAGES[@]}"; do
        printf '%s %s\n' "${dockerfile}" "$(default_tag "${dockerfile}")"
    done
}

# --- prerequisites ------------------------------------------------------------------------------

# Installs the Debian packages that provide the given commands (command=package pairs).
ensure_commands() {
    local pair missing=()
    for pair in "$@"; do
        command -v "${pair%%=*}" >/dev/null || missing+=("${pair##*=}")
    done
    [[ ${#missing[@]} -eq 0 ]] && return 0
    if [[ $(id -u) -ne 0 ]]; then
        cannot_run "missing ${missing[*]}; install them as root: apt-get install ${missing[*]}"
    fi
    log "installing ${missing[*]} from Debian"
    apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2 \
        || cannot_run "apt-get install ${missing[*]} failed"
}

# --- the daemon ---------------------------------------------------------------------------------

daemon_answers() { docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

start_daemon() {
    [[ $(id -u) -eq 0 ]] || cannot_run "dockerd needs root; run as root or set DOCKER_HOST"
    ensure_commands dockerd=docker.io docker=docker.io
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
            rm -f "${DAEMON_PIDFILE}" "${DAEMON_RUNFILE}"
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

# A daemon that answers (DOCKER_HOST or the default socket) is used; otherwise a private one is
# started and stopped when the script exits.
use_daemon() {
    if daemon_answers; then
        log "using the Docker daemon at ${DOCKER_HOST:-the default socket}"
        return 0
    fi
    [[ -z ${DOCKER_HOST:-} ]] || cannot_run "DOCKER_HOST=${DOCKER_HOST} does not answer"
    start_daemon
    trap stop_daemon EXIT
    log "started a private dockerd at ${DOCKER_HOST}"
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
    # Package caches, apt lists, man pages and logs only make the image bigger. The apt sources
    # stay: the Dockerfiles' `wheels` stage installs compilers from them.
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
    if [[ ! -f ${tarball} ]]; then
        [[ $(id -u) -eq 0 ]] || cannot_run "debootstrap needs root; run as root or set BASE_IMAGE"
        ensure_commands debootstrap=debootstrap
        make_base_tarball "${tarball}"
    fi
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

# --- the build context --------------------------------------------------------------------------

build_python() {
    local python="${PYTHON:-}"
    if [[ -z ${python} ]]; then
        python="${REPO}/.venv/bin/python"
        [[ -x ${python} ]] || python="python3"
    fi
    command -v "${python}" >/dev/null || die "no Python at '${python}'; set PYTHON"
    echo "${python}"
}

# The CA bundle this host's Python (and so its pip) verifies TLS with.
ca_bundle() {
    local python="$1" bundle="${BUILD_CA_BUNDLE:-}"
    if [[ -z ${bundle} ]]; then
        bundle="$("${python}" -c 'import ssl; print(ssl.get_default_verify_paths().cafile or "")')"
    fi
    if [[ -z ${bundle} ]]; then
        bundle="$("${python}" -c 'from pip._vendor import certifi; print(certifi.where())')"
    fi
    [[ -f ${bundle} ]] || die "no CA bundle at '${bundle}'; set BUILD_CA_BUNDLE"
    echo "${bundle}"
}

# Writes ROOT/build/images: every file the Dockerfiles COPY from the build context.
write_context() {
    local root="$1" python out image names=()
    [[ -n ${root} ]] || die "write_context needs a root folder"
    mkdir -p "${root}"
    root="$(cd "${root}" && pwd)"
    python="$(build_python)"
    out="${root}/${CONTEXT_DIR}"
    rm -rf "${out}"
    mkdir -p "${out}"
    log "building the project's wheel with ${python}"
    "${python}" -m pip wheel --quiet --disable-pip-version-check --no-deps --wheel-dir "${out}" \
        "${REPO}" >&2
    for image in "${IMAGES[@]}"; do names+=("$(name_of "${image}")"); done
    # One requirements file per image, from the wheel's own metadata: the project's requirements
    # plus those of the extra the image installs, each pinned with ==.
    "${python}" - "${out}" "${names[@]}" <<'PY'
import pathlib
import re
import sys
import zipfile

out, *extras = sys.argv[1:]
(wheel,) = pathlib.Path(out).glob("mlrelease-*.whl")
with zipfile.ZipFile(wheel) as archive:
    (metadata,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
    lines = archive.read(metadata).decode("utf-8").splitlines()
pinned = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*==[A-Za-z0-9.+!-]+")
required: dict[str, list[str]] = {"": []}
for line in lines:
    if not line.startswith("Requires-Dist:"):
        continue
    requirement, _, marker = line.removeprefix("Requires-Dist:").partition(";")
    requirement, marker = requirement.strip(), marker.strip()
    if not pinned.fullmatch(requirement):
        sys.exit(f"{wheel.name}: {requirement!r} is not pinned with ==")
    extra = re.fullmatch(r"extra\s*==\s*[\"']([^\"']+)[\"']", marker)
    if marker and not extra:
        sys.exit(f"{wheel.name}: unexpected marker in {line!r}")
    required.setdefault(extra.group(1) if extra else "", []).append(requirement)
for name in extras:
    if name not in required:
        sys.exit(f"{wheel.name} has no extra {name!r} for {name}/Dockerfile")
    folder = pathlib.Path(out, name)
    folder.mkdir()
    (folder / "requirements.txt").write_text(
        f"# The pinned requirements of mlrelease[{name}], written by tools/build_images.sh.\n"
        + "".join(f"{r}\n" for r in sorted(required[""] + required[name], key=str.lower)),
        encoding="utf-8",
    )
PY
    cp -L "$(ca_bundle "${python}")" "${out}/ca-certificates.crt"
}

# --- images -------------------------------------------------------------------------------------

# Everything that ends up in an image, so an unchanged tree reuses the images it built before.
source_digest() {
    local base_id="$1"
    (
        cd "${REPO}"
        echo "${base_id}"
        local inputs=() path
        for path in .dockerignore setup.cfg pyproject.toml README.md tools training scoring; do
            [[ -e ${path} ]] && inputs+=("${path}")
        done
        find "${inputs[@]}" -type f ! -path '*/__pycache__/*' ! -name '*.pyc' \
            ! -path '*.egg-info/*' | LC_ALL=C sort | xargs sha256sum
    ) | sha256sum | cut -c1-64
}

image_digest() {
    docker image inspect -f "{{ index .Config.Labels \"${DIGEST_LABEL}\" }}" "$1" 2>/dev/null || true
}

build_image() {
    local dockerfile="$1" tag="$2" base="$3" digest="$4"
    local previous build_log
    previous="$(docker image inspect -f '{{.Id}}' "${tag}" 2>/dev/null || true)"
    mkdir -p "${CACHE}/logs"
    build_log="${CACHE}/logs/$(dirname "${dockerfile}").log"
    log "building ${tag} from ${dockerfile} on ${base} (full log: ${build_log})"
    # The legacy builder: Debian's docker.io has no buildx, and it takes --network host without
    # BuildKit's entitlements. Host network, never Docker's default bridge. Not --network none
    # with everything fetched beforehand: the `wheels` stage installs the compilers of whatever
    # Debian release BASE_IMAGE is, which only apt-get inside that base can choose, and pip there
    # resolves the requirements for the base's own Python.
    if ! DOCKER_BUILDKIT=0 docker build --network host --pull=false \
        --build-arg "BASE_IMAGE=${base}" --label "${DIGEST_LABEL}=${digest}" \
        --file "${REPO}/${dockerfile}" --tag "${tag}" "${REPO}" >"${build_log}" 2>&1; then
        tail -n 40 "${build_log}" >&2
        die "docker build of ${dockerfile} failed (output above)"
    fi
    grep -E '^Step [0-9]+/[0-9]+ : (FROM|RUN)' "${build_log}" | cut -c1-100 >&2 || true
    # The image this one replaced would otherwise pile up in the data root, build after build.
    # Not a prune: that would also drop the cached dependency stages that make rebuilds fast.
    if [[ -n ${previous} && ${previous} != "$(docker image inspect -f '{{.Id}}' "${tag}")" ]]; then
        docker image rm "${previous}" >/dev/null 2>&1 || true
    fi
}

# build [DOCKERFILE]: every image with its default tag, or DOCKERFILE's image tagged IMAGE.
build() {
    local base digest dockerfile need=0 selected=() tags=()
    if [[ $# -eq 0 ]]; then
        [[ -z ${IMAGE:-} ]] || die "IMAGE tags one image; name its Dockerfile: $0 build DOCKERFILE"
        for dockerfile in "${IMAGES[@]}"; do
            selected+=("${dockerfile}")
            tags+=("$(default_tag "${dockerfile}")")
        done
    else
        [[ $# -eq 1 ]] || die "build takes one Dockerfile at most"
        [[ " ${IMAGES[*]} " == *" $1 "* ]] || die "$1 is not one of the images: ${IMAGES[*]}"
        selected=("$1")
        tags=("${IMAGE:-$(default_tag "$1")}")
    fi
    use_daemon
    if [[ -n ${BASE_IMAGE:-} ]]; then
        base="${BASE_IMAGE}"
        docker image inspect "${base}" >/dev/null 2>&1 || docker pull "${base}" >&2
    else
        ensure_local_base
        base="${LOCAL_BASE}"
    fi
    digest="$(source_digest "$(docker image inspect -f '{{.Id}}' "${base}")")"
    local i
    for i in "${!selected[@]}"; do
        [[ "$(image_digest "${tags[i]}")" == "${digest}" ]] || need=1
    done
    [[ ${FORCE:-0} == 1 ]] && need=1
    if [[ ${need} == 0 ]]; then
        log "${tags[*]}: up to date (source digest ${digest:0:12})"
    else
        write_context "${REPO}"
        for i in "${!selected[@]}"; do
            build_image "${selected[i]}" "${tags[i]}" "${base}" "${digest}"
        done
    fi
    for i in "${!tags[@]}"; do
        log "${tags[i]}: $(docker image inspect -f '{{.Size}}' "${tags[i]}" \
            | awk '{ printf "%.0f MB", $1 / 1e6 }')"
    done
}

push() {
    [[ -n ${IMAGE:-} ]] || die "set IMAGE to the registry tag to push"
    use_daemon
    log "pushing ${IMAGE}"
    docker push "${IMAGE}" >&2
}

case "${1:-build}" in
    build) build "${@:2}" ;;
    push) push ;;
    context) write_context "${2:-${REPO}}" ;;
    images) list_images ;;
    base)
        use_daemon
        ensure_local_base
        echo "${LOCAL_BASE}"
        ;;
    start-daemon)
        start_daemon
        echo "${DOCKER_HOST}"
        ;;
    stop-daemon) stop_daemon ;;
    -h | --help) sed -n '2,/^# Exit codes/p' "$0" | sed 's/^# \{0,1\}//' ;;
    *) die "unknown command '$1'; see '$0 --help'" ;;
esac
