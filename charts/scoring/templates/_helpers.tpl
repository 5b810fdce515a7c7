{{/*
Helpers, following `helm create`:
  scoring.name / scoring.fullname  names (fullname is the release name when it already
                                     contains the chart name, e.g. `scoring-<version id>`)
  scoring.labels                    every label: the selector labels, standard and provenance ones
  scoring.selectorLabels            name + instance only
  scoring.annotations               provenance annotations + the raw build number
  scoring.checkovSkips              `checkov.io/skipN` annotations for one object
  scoring.serviceAccountName        the ServiceAccount the pods run as
  scoring.modelUri                  the model version folder (mlrelease.store.artifact.version_uri)
  scoring.scrapeEndpoint            the /metrics endpoint of the ServiceMonitor or PodMonitor
  scoring.scrapeAnnotations         `prometheus.io/*` pod annotations, when switched on
  scoring.compareCommand            the `mlrelease compare` argv of the compare test pod
  scoring.localModelDir             the pod-local copy of the model version, which the server maps
*/}}

{{- define "scoring.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "scoring.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "scoring.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "scoring.selectorLabels" -}}
app.kubernetes.io/name: {{ include "scoring.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Standard labels win over provenance labels of the same name. The app version is the build
number once packaged, which may hold characters a label value cannot.
*/}}
{{- define "scoring.labels" -}}
{{- $labels := merge (fromYaml (include "scoring.selectorLabels" .)) (dict
  "helm.sh/chart" (include "scoring.chart" .)
  "app.kubernetes.io/managed-by" .Release.Service
  "app.kubernetes.io/component" .Chart.Name
  "app.kubernetes.io/part-of" "mlrelease") }}
{{- with .Values.versionId }}
{{- $_ := set $labels "mlrelease.io/version" . }}
{{- end }}
{{- $appVersion := regexReplaceAll "[^-A-Za-z0-9_.]+" (toString .Chart.AppVersion) "_" | trunc 63 | trimAll "-_." }}
{{- if $appVersion }}
{{- $_ := set $labels "app.kubernetes.io/version" $appVersion }}
{{- end }}
{{- toYaml (merge $labels (deepCopy .Values.provenance.labels)) }}
{{- end }}

{{- define "scoring.annotations" -}}
{{- toYaml (merge (dict "mlrelease.io/build-number" (toString .Values.buildNumber)) (deepCopy .Values.provenance.annotations)) }}
{{- end }}

{{/* Call with (list $ "<object key in .Values.checkovSkips>"). */}}
{{- define "scoring.checkovSkips" -}}
{{- $root := index . 0 }}
{{- $skips := index $root.Values.checkovSkips (index . 1) | default dict }}
{{- range $i, $check := keys $skips | sortAlpha }}
checkov.io/skip{{ add1 $i }}: {{ printf "%s=%s" $check (index $skips $check) | quote }}
{{- end }}
{{- end }}

{{- define "scoring.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "scoring.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Storage credentials: only a secretKeyRef or workload identity, so no credential value can
ever be written into values or a manifest.
*/}}
{{- define "scoring.storageEnv" -}}
{{- with .Values.storage.connectionStringSecret }}
{{- if .name }}
- name: AZURE_STORAGE_CONNECTION_STRING
  valueFrom:
    secretKeyRef:
      name: {{ .name }}
      key: {{ .key }}
{{- end }}
{{- end }}
{{- with .Values.storage.workloadIdentity }}
{{- if .enabled }}
- name: AZURE_STORAGE_ACCOUNT_URL
  value: {{ required "storage.workloadIdentity.accountUrl is required when storage.workloadIdentity.enabled is true" .accountUrl | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The model version folder, the same path `mlrelease.store.artifact.version_uri` builds
(tests/charts/test_helpers.py holds the two to each other).
*/}}
{{- define "scoring.modelUri" -}}
{{- printf "%s/%s/%s" (trimSuffix "/" .Values.model.modelsUri) .Values.model.name .Values.versionId }}
{{- end }}

{{/*
Where the init container puts the pod's one copy of the model, named after the version so
the server's default version (the folder name) is the version id.
*/}}
{{- define "scoring.localModelDir" -}}
{{- printf "%s/%s" (trimSuffix "/" .Values.modelVolume.mountPath) .Values.versionId }}
{{- end }}

{{/*
Pod labels: `app` (shared by every version, selected by the routing chart's Service) and
`version` (selected by the DestinationRule subset) on top of the standard labels.
*/}}
{{- define "scoring.podLabels" -}}
{{- $labels := fromYaml (include "scoring.labels" .) }}
{{- $_ := set $labels "app" .Values.appName }}
{{- $_ := set $labels "version" .Values.versionId }}
{{- /* Istio's telemetry names versions from these (before app.kubernetes.io/version, the build
number): without them destination_version would not match the routing subsets. */}}
{{- $_ := set $labels "service.istio.io/canonical-name" .Values.appName }}
{{- $_ := set $labels "service.istio.io/canonical-revision" .Values.versionId }}
{{- if .Values.storage.workloadIdentity.enabled }}
{{- $_ := set $labels "azure.workload.identity/use" "true" }}
{{- end }}
{{- toYaml (merge $labels (deepCopy .Values.podLabels)) }}
{{- end }}

{{- define "scoring.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "scoring.securityContext" -}}
allowPrivilegeEscalation: false
privileged: false
readOnlyRootFilesystem: true
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
capabilities:
  drop: ["ALL"]
{{- end }}

{{- define "scoring.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if .Values.storage.localVolume.enabled }}
- name: models
  mountPath: {{ .Values.storage.localVolume.mountPath }}
  readOnly: true
{{- end }}
{{- end }}

{{/*
The scrape of this version's /metrics, shared by the ServiceMonitor and the PodMonitor.
Both at once would store every sample twice and double every sum in the alert rules; the
schema cannot say "not both", so the templates refuse it here.
Call with (list $ <.Values.monitoring.serviceMonitor or .podMonitor>).
*/}}
{{- define "scoring.scrapeEndpoint" -}}
{{- $root := index . 0 }}
{{- $monitor := index . 1 }}
{{- if and $root.Values.monitoring.serviceMonitor.enabled $root.Values.monitoring.podMonitor.enabled }}
{{- fail "monitoring.serviceMonitor and monitoring.podMonitor scrape the same pods; enable only one" }}
{{- end }}
- port: http
  path: /metrics
  {{- with $monitor.interval }}
  interval: {{ . }}
  {{- end }}
  {{- with $monitor.scrapeTimeout }}
  scrapeTimeout: {{ . }}
  {{- end }}
  {{- with $monitor.relabelings }}
  relabelings:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $monitor.metricRelabelings }}
  metricRelabelings:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}

{{/* Pod annotations for annotation-based discovery; explicit podAnnotations win. */}}
{{- define "scoring.scrapeAnnotations" -}}
{{- if .Values.monitoring.scrapeAnnotations }}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .Values.server.port | quote }}
prometheus.io/path: /metrics
{{- end }}
{{- end }}

{{/*
`mlrelease compare` against the baseline's Service, as one JSON list (a container command).
*/}}
{{- define "scoring.compareCommand" -}}
{{- $c := .Values.compare }}
{{- $port := .Values.service.port | toString }}
{{- /* The baseline's model folder: the one path definition, given the baseline's id. */}}
{{- $baselineUri := include "scoring.modelUri" (dict "Values" (merge (dict "versionId" $c.baseline) .Values)) }}
{{- $argv := list "mlrelease" "compare"
  "--candidate-url" (printf "http://%s:%s" (include "scoring.fullname" .) $port)
  "--baseline-url" (printf "http://%s-%s:%s" (include "scoring.name" .) $c.baseline $port)
  "--users-from" $baselineUri
  "--sample" ($c.sample | toString) "--k" ($c.k | toString)
  "--timeout" ($c.timeoutSeconds | toString) }}
{{- range $flag, $key := dict "--min-overlap" "minOverlap" "--min-rank-correlation" "minRankCorrelation" "--max-fallback-increase" "maxFallbackIncrease" }}
{{- if not (kindIs "invalid" (index $c $key)) }}
{{- $argv = concat $argv (list $flag (index $c $key | toString)) }}
{{- end }}
{{- end }}
{{- toJson $argv }}
{{- end }}
