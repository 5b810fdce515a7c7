{{/*
Helpers, following `helm create`:
  training.name / training.fullname  names (fullname is the release name when it already
                                     contains the chart name, e.g. `training-<version id>`)
  training.labels                    every label: the selector labels, standard and provenance ones
  training.selectorLabels            name + instance only
  training.annotations               provenance annotations + the raw build number
  training.checkovSkips              `checkov.io/skipN` annotations for one object
  training.serviceAccountName        the ServiceAccount the pods run as
  training.modelUri                  the model version folder (mlrelease.store.artifact.version_uri)
*/}}

{{- define "training.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "training.fullname" -}}
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

{{- define "training.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "training.selectorLabels" -}}
app.kubernetes.io/name: {{ include "training.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Standard labels win over provenance labels of the same name. The app version is the build
number once packaged, which may hold characters a label value cannot.
*/}}
{{- define "training.labels" -}}
{{- $labels := merge (fromYaml (include "training.selectorLabels" .)) (dict
  "helm.sh/chart" (include "training.chart" .)
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

{{- define "training.annotations" -}}
{{- toYaml (merge (dict "mlrelease.io/build-number" (toString .Values.buildNumber)) (deepCopy .Values.provenance.annotations)) }}
{{- end }}

{{/* Call with (list $ "<object key in .Values.checkovSkips>"). */}}
{{- define "training.checkovSkips" -}}
{{- $root := index . 0 }}
{{- $skips := index $root.Values.checkovSkips (index . 1) | default dict }}
{{- range $i, $check := keys $skips | sortAlpha }}
checkov.io/skip{{ add1 $i }}: {{ printf "%s=%s" $check (index $skips $check) | quote }}
{{- end }}
{{- end }}

{{- define "training.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "training.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Storage credentials: only a secretKeyRef or workload identity, so no credential value can
ever be written into values or a manifest.
*/}}
{{- define "training.storageEnv" -}}
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
{{- define "training.modelUri" -}}
{{- printf "%s/%s/%s" (trimSuffix "/" .Values.model.modelsUri) .Values.model.name .Values.versionId }}
{{- end }}
