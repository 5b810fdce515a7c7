#!/usr/bin/env bash
# install_tools.sh: build the real tools the tests and the pipelines use, from their Go modules, at
# pinned versions, into one tool folder (default `.tools/` at the repository root):
#
#   helm           <tools>/bin/helm                   helm.sh/helm/v3/cmd/helm at the pipelines'
#                                                     helmVersion (azure-pipelines/variables.yml)
#   helm-unittest  <tools>/helm-plugins/unittest/     the plugin binary `untt` and its plugin.yaml,
#                                                     built through the wrapper module in
#                                                     tools/go/helm-unittest/ (which pins it)
#   istioctl       <tools>/bin/istioctl               istio.io/istio/istioctl/cmd/istioctl at
#                                                     ISTIO_VERSION below
#
# Usage: tools/install_tools.sh [--tools-dir DIR] [helm|helm-unittest|istioctl ...]
# With no tool named, all three are built. Every run builds what it is asked to: `make tools` is
# what skips a tool whose inputs have not changed. Sources come from the Go module proxy (GOPROXY)
# and build with the machine's Go (1.26 or newer on PATH); the module and build caches are Go's
# defaults (`go env GOMODCACHE GOCACHE`), so a fresh clone on the same machine rebuilds quickly.
# Run Helm with HELM_PLUGINS=<tools>/helm-plugins to get the plugin: `helm unittest CHART`.
# The binaries are static (CGO_ENABLED=0) and carry the version ldflags their release builds set.
set -euo pipefail

# istio.io/istio publishes no module tags: a pseudo-version pins one commit of its master branch.
ISTIO_VERSION=v0.0.0-20260827124520-eed52ebb66ad

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tools_dir=$repo/.tools
if [[ ${1:-} == --tools-dir ]]; then
    tools_dir=$(mkdir -p "$2" && cd "$2" && pwd)
    shift 2
fi
selected=("$@")
((${#selected[@]})) || selected=(helm helm-unittest istioctl)

command -v go >/dev/null || {
    echo "install_tools.sh: no \`go\` on PATH; install Go 1.26 or newer" >&2
    exit 2
}
export CGO_ENABLED=0

# The one owner of the Helm version is the pipelines' variables file (HELM_VERSION overrides it).
helm_version() {
    local version=${HELM_VERSION:-}
    if [[ -z $version ]]; then
        version=$(sed -n 's/^  helmVersion: *"\{0,1\}\([0-9][0-9.]*\)"\{0,1\} *$/\1/p' \
            "$repo/azure-pipelines/variables.yml")
    fi
    [[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || {
        echo "install_tools.sh: no helmVersion X.Y.Z in azure-pipelines/variables.yml" >&2
        exit 2
    }
    echo "$version"
}

install_helm() {
    local version client_go k8s_minor pkg=helm.sh/helm/v3
    version=$(helm_version)
    # Helm's release build sets its default Kubernetes version (`.Capabilities.KubeVersion` and
    # the deprecation checks of `helm lint`) from the client-go it links; without it they say 1.20.
    client_go=$(go mod download -json "$pkg@v$version" |
        sed -n 's/^\t"GoMod": "\(.*\)",$/\1/p' | xargs sed -n 's/^\tk8s.io\/client-go v0\.\([0-9]*\)\..*/\1/p')
    k8s_minor=${client_go:?cannot read the client-go version of $pkg@v$version}
    GOBIN=$tools_dir/bin go install -trimpath -ldflags "-s -w
        -X $pkg/internal/version.version=v$version -X $pkg/internal/version.gitTreeState=clean
        -X $pkg/pkg/lint/rules.k8sVersionMajor=1 -X $pkg/pkg/lint/rules.k8sVersionMinor=$k8s_minor
        -X $pkg/pkg/chartutil.k8sVersionMajor=1 -X $pkg/pkg/chartutil.k8sVersionMinor=$k8s_minor" \
        "$pkg/cmd/helm@v$version"
    echo "helm: $("$tools_dir/bin/helm" version --short)"
}

install_helm_unittest() {
    local module=github.com/helm-unittest/helm-unittest version plugin=$tools_dir/helm-plugins/unittest
    cd "$repo/tools/go/helm-unittest"
    version=$(go list -m -f '{{.Version}}' "$module")
    mkdir -p "$plugin"
    go build -trimpath -o "$plugin/untt" \
        -ldflags "-s -w -X $module/internal/build.version=$version" "$module/cmd/helm-unittest"
    # Upstream's plugin.yaml, less the hooks that download a release binary.
    cat >"$plugin/plugin.yaml" <<EOF
name: "unittest"
version: "${version#v}"
usage: "unittest for helm charts"
description: "Unit test for helm chart in YAML with ease to keep your chart functional and robust."
ignoreFlags: false
platformCommand:
  - command: "\$HELM_PLUGIN_DIR/untt"
EOF
    cd "$repo"
    echo "helm-unittest: $version in $plugin"
}

install_istioctl() {
    local pkg=istio.io/istio
    GOBIN=$tools_dir/bin go install -trimpath -ldflags "-s -w
        -X $pkg/pkg/version.buildVersion=$ISTIO_VERSION
        -X $pkg/pkg/version.buildGitRevision=${ISTIO_VERSION##*-} -X $pkg/pkg/version.buildStatus=Clean" \
        "$pkg/istioctl/cmd/istioctl@$ISTIO_VERSION"
    echo "istioctl: $("$tools_dir/bin/istioctl" version --remote=false --short 2>/dev/null || true)"
}

for tool in "${selected[@]}"; do
    case $tool in
    helm) install_helm ;;
    helm-unittest) install_helm_unittest ;;
    istioctl) install_istioctl ;;
    *)
        echo "install_tools.sh: unknown tool '$tool' (helm, helm-unittest or istioctl)" >&2
        exit 2
        ;;
    esac
done
