#!/usr/bin/env bash
# install_control_plane.sh: build a Kubernetes control plane from its Go modules, at pinned
# versions, into the tool folder (default `.tools/` at the repository root), for the tests in
# tests/cluster/ that run the pipelines' helm and kubectl steps against a live API server:
#
#   etcd                     <tools>/bin/etcd          go.etcd.io/etcd/server/v3 (etcdmain), through
#                                                      the wrapper module tools/go/etcd/
#   kube-apiserver           <tools>/bin/...           k8s.io/kubernetes/cmd/..., through the wrapper
#   kube-controller-manager                            module tools/go/kubernetes/, which pins
#   kube-scheduler                                     k8s.io/kubernetes and replaces each staging
#   kubectl                                            module with its published v0.X.Y version
#   kwok                     <tools>/bin/kwok          sigs.k8s.io/kwok/cmd/kwok, through the wrapper
#                                                      module tools/go/kwok/ (simulated nodes and pods)
#
# The Helm 3 CLI the tests drive comes from tools/install_tools.sh (`make tools`).
#
# Usage: tools/install_control_plane.sh [--tools-dir DIR] [--force] [etcd|kubernetes|kwok ...]
# With none named, all are built. A binary is rebuilt only when its wrapper module's go.mod or
# go.sum is newer than it (or --force is given first). Sources come from the Go module proxy
# (GOPROXY) and build with the machine's Go (1.26 or newer); the module and build caches are Go's
# defaults (`go env GOMODCACHE GOCACHE`), so a second clone on the same machine links in seconds.
# The binaries are static (CGO_ENABLED=0) and carry the version ldflags their release builds set.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tools_dir=$repo/.tools
force=0
while (($#)); do
    case $1 in
    --tools-dir)
        tools_dir=$(mkdir -p "$2" && cd "$2" && pwd)
        shift 2
        ;;
    --force)
        force=1
        shift
        ;;
    *) break ;;
    esac
done
selected=("$@")
((${#selected[@]})) || selected=(etcd kubernetes kwok)

command -v go >/dev/null || {
    echo "install_control_plane.sh: no \`go\` on PATH; install Go 1.26 or newer" >&2
    exit 2
}
export CGO_ENABLED=0
mkdir -p "$tools_dir/bin"

# up_to_date BINARY MODULE_DIR: the binary exists and is newer than the module's go.mod and go.sum.
up_to_date() {
    ((force == 0)) && [[ -x $1 && $1 -nt $2/go.mod && $1 -nt $2/go.sum ]]
}

# build MODULE_DIR PACKAGE BINARY LDFLAGS: go build one command of a wrapper module.
build() {
    local dir=$1 pkg=$2 out=$3 ldflags=$4 start=$SECONDS
    if up_to_date "$out" "$dir"; then
        echo "$(basename "$out"): up to date"
        return
    fi
    (cd "$dir" && go build -trimpath -ldflags "-s -w $ldflags" -o "$out.tmp" "$pkg")
    mv -f "$out.tmp" "$out"
    echo "$(basename "$out"): built in $((SECONDS - start))s"
}

module_version() {
    (cd "$1" && go list -m -f '{{.Version}}' "$2")
}

install_etcd() {
    local dir=$repo/tools/go/etcd version
    version=$(module_version "$dir" go.etcd.io/etcd/server/v3)
    build "$dir" . "$tools_dir/bin/etcd" \
        "-X go.etcd.io/etcd/api/v3/version.GitSHA=$version"
}

install_kubernetes() {
    local dir=$repo/tools/go/kubernetes version major minor ldflags cmd
    version=$(module_version "$dir" k8s.io/kubernetes)
    major=${version#v}
    minor=${major#*.}
    major=${major%%.*}
    minor=${minor%%.*}
    ldflags=""
    for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
        ldflags+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
        ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
    done
    for cmd in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
        build "$dir" "k8s.io/kubernetes/cmd/$cmd" "$tools_dir/bin/$cmd" "$ldflags"
    done
}

install_kwok() {
    local dir=$repo/tools/go/kwok version
    version=$(module_version "$dir" sigs.k8s.io/kwok)
    build "$dir" sigs.k8s.io/kwok/cmd/kwok "$tools_dir/bin/kwok" \
        "-X sigs.k8s.io/kwok/pkg/consts.Version=$version"
}

for part in "${selected[@]}"; do
    case $part in
    etcd) install_etcd ;;
    kubernetes) install_kubernetes ;;
    kwok) install_kwok ;;
    *)
        echo "install_control_plane.sh: unknown part '$part' (etcd, kubernetes or kwok)" >&2
        exit 2
        ;;
    esac
done
