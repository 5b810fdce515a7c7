{{/*
Helpers, following `helm create`:
  routing.name / routing.fullname  names
  routing.labels                   every label: standard + provenance (never used in selectors)
  routing.selectorLabels           name + instance only
  routing.annotations              provenance annotations
  routing.checkovSkips             `checkov.io/skipN` annotations for one object
  routing.validate                 the traffic rules the values schema cannot express
*/}}

{{- define "routing.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "routing.fullname" -}}
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

{{- define "routing.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "routing.selectorLabels" -}}
app.kubernetes.io/name: {{ include "routing.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "routing.labels" -}}
{{- $labels := merge (fromYaml (include "routing.selectorLabels" .)) (dict
  "helm.sh/chart" (include "routing.chart" .)
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

{{- define "routing.annotations" -}}
{{- with .Values.provenance.annotations }}
{{- toYaml . }}
{{- end }}
{{- end }}

{{/* Call with (list $ "<object key in .Values.checkovSkips>"). */}}
{{- define "routing.checkovSkips" -}}
{{- $root := index . 0 }}
{{- $skips := index $root.Values.checkovSkips (index . 1) | default dict }}
{{- range $i, $check := keys $skips | sortAlpha }}
checkov.io/skip{{ add1 $i }}: {{ printf "%s=%s" $check (index $skips $check) | quote }}
{{- end }}
{{- end }}

{{/*
Rules the JSON schema cannot express, repeated here so that `helm template | kubectl apply`
users get the same protection as `helm install`: weights sum to 100, version names are
unique, and every A/B rule and the mirror name a live version.
*/}}
{{- define "routing.validate" -}}
{{- $names := list }}
{{- $total := 0 }}
{{- range $i, $v := .Values.versions }}
{{- if has $v.name $names }}
{{- fail (printf "versions[%d].name: version %q is listed twice; each version may appear once" $i $v.name) }}
{{- end }}
{{- $names = append $names $v.name }}
{{- $total = add $total $v.weight }}
{{- end }}
{{- if ne (int $total) 100 }}
{{- fail (printf "versions: weights must sum to 100, got %d; adjust versions[].weight" (int $total)) }}
{{- end }}
{{- range $i, $rule := .Values.abRules }}
{{- if not (has $rule.version $names) }}
{{- fail (printf "abRules[%d].version: %q is not in versions (%s); add it to versions (weight 0 keeps it out of the split)" $i $rule.version (join ", " $names)) }}
{{- end }}
{{- end }}
{{- with .Values.mirror }}
{{- if not (has .version $names) }}
{{- fail (printf "mirror.version: %q is not in versions (%s); add it to versions (weight 0 keeps it out of the split)" .version (join ", " $names)) }}
{{- end }}
{{- end }}
{{- /* A host listed twice (`scoring` and `scoring.<namespace>.svc.cluster.local` are one host)
is undefined behaviour for Istio (istioctl analyze IST0109); the schema cannot see the namespace. */}}
{{- $ns := .Release.Namespace }}
{{- $seen := dict (include "routing.fqdn" (dict "host" .Values.host "namespace" $ns)) (printf "host %q" .Values.host) }}
{{- $lists := dict "virtualService.hosts" .Values.virtualService.hosts "gateway.hosts" (list) }}
{{- if .Values.gateway.enabled }}
{{- $_ := set $lists "gateway.hosts" .Values.gateway.hosts }}
{{- end }}
{{- range $key := list "virtualService.hosts" "gateway.hosts" }}
{{- range $i, $host := get $lists $key }}
{{- $fqdn := include "routing.fqdn" (dict "host" $host "namespace" $ns) }}
{{- with get $seen $fqdn }}
{{- fail (printf "%s[%d]: %q is the host that %s names in namespace %s; list each host once" $key $i $host . $ns) }}
{{- end }}
{{- $_ := set $seen $fqdn (printf "%s[%d] %q" $key $i $host) }}
{{- end }}
{{- end }}
{{- end }}

{{/* The host Istio reads: a short name is a Service in the release's namespace. */}}
{{- define "routing.fqdn" -}}
{{- if contains "." .host }}{{ .host }}{{ else }}{{ printf "%s.%s.svc.cluster.local" .host .namespace }}{{ end }}
{{- end }}

{{/* The destination for one version subset. */}}
{{- define "routing.destination" -}}
host: {{ .root.Values.host }}
subset: {{ .version }}
port:
  number: {{ .root.Values.service.port }}
{{- end }}

{{/* Timeout and retries shared by every HTTP route. */}}
{{- define "routing.httpOptions" -}}
{{- with .Values.virtualService.timeout }}
timeout: {{ . }}
{{- end }}
{{- with .Values.virtualService.retries }}
retries:
  attempts: {{ .attempts }}
  {{- if gt (int .attempts) 0 }}
  perTryTimeout: {{ .perTryTimeout }}
  retryOn: {{ .retryOn }}
  {{- end }}
{{- end }}
{{- end }}
