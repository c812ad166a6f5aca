{{/*
Chart name, truncated to 63 characters: Kubernetes names and label values stop there.
*/}}
{{- define "modelservice.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name: "<release>-<chart>", or the release name alone when it already
contains the chart name; fullnameOverride replaces it.

It names the Service, so it must be a DNS-1035 label (lowercase letters, digits and '-',
starting with a letter, at most 63 characters), while Helm accepts any DNS subdomain of up to
53 characters as a release name ("qwen2.5", "7b-chat"). So:
- '.' becomes '-' (a label has no dots);
- a name starting with a digit gets "m-" in front: the API server refuses a Service named
  "7b-chat-modelservice", and a prefix keeps the release name readable in the object name;
- it is cut at 63 characters (a label's limit, and the limit of every object name derived
  from it) and every trailing '-' left by the cut is dropped, not only one.
The app.kubernetes.io/instance label keeps the release name as is: label values allow dots.
*/}}
{{- define "modelservice.fullname" -}}
{{- $name := "" }}
{{- if .Values.fullnameOverride }}
{{- $name = .Values.fullnameOverride }}
{{- else }}
{{- $chart := default .Chart.Name .Values.nameOverride }}
{{- if contains $chart .Release.Name }}
{{- $name = .Release.Name }}
{{- else }}
{{- $name = printf "%s-%s" .Release.Name $chart }}
{{- end }}
{{- end }}
{{- $name = $name | lower | replace "." "-" }}
{{- if regexMatch "^[0-9]" $name }}
{{- $name = printf "m-%s" $name }}
{{- end }}
{{- regexReplaceAll "-+$" ($name | trunc 63) "" }}
{{- end }}

{{/*
A derived name "<fullname>-<suffix>". The full name is cut first so that the suffix always
survives and the result stays a 63-character DNS label: two objects of one release never
collide on a truncated name.
Usage: include "modelservice.componentName" (list . "cache")
*/}}
{{- define "modelservice.componentName" -}}
{{- $root := index . 0 }}
{{- $suffix := index . 1 }}
{{- $base := include "modelservice.fullname" $root | trunc (int (sub 62 (len $suffix))) }}
{{- $base = regexReplaceAll "-+$" $base "" }}
{{- printf "%s-%s" $base $suffix }}
{{- end }}

{{/*
Chart name and version, as used by the helm.sh/chart label (metadata only, never selectors).
*/}}
{{- define "modelservice.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Common labels: selector labels plus chart and version, on metadata only.
*/}}
{{- define "modelservice.labels" -}}
helm.sh/chart: {{ include "modelservice.chart" . | quote }}
{{ include "modelservice.selectorLabels" . }}
{{- with .Chart.AppVersion }}
app.kubernetes.io/version: {{ . | trunc 63 | trimSuffix "-" | quote }}
{{- end }}
app.kubernetes.io/component: model-server
app.kubernetes.io/part-of: modelservice
app.kubernetes.io/managed-by: {{ .Release.Service | quote }}
{{- end }}

{{/*
Selector labels: name and instance only, because selectors are immutable.
*/}}
{{- define "modelservice.selectorLabels" -}}
app.kubernetes.io/name: {{ include "modelservice.name" . | quote }}
app.kubernetes.io/instance: {{ .Release.Name | quote }}
{{- end }}

{{/*
The ServiceAccount the pod runs as.
*/}}
{{- define "modelservice.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "modelservice.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The server image, pinned by digest when one is given.
*/}}
{{- define "modelservice.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (required "modelservice: image.tag is required (pin a vLLM release such as v0.33.0)" .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
Refuse the values: fail with a message that names the values key at fault and the rule that
explains it, `modelservice: KEY: MESSAGE [RULE]`, so that `helm install` says what to change and
`modelservice validate` reports it at the line of KEY (the first of several keys "a|b" that the
values file sets) with `modelservice rules RULE` to explain it.
Usage: include "modelservice.fail" (list "model.path" "model-path-required" "MESSAGE")
*/}}
{{- define "modelservice.fail" -}}
{{- fail (printf "modelservice: %s: %s [%s]" (index . 0) (index . 2) (index . 1)) }}
{{- end }}

{{/*
Whether the model comes from a hub (huggingface or modelscope).
*/}}
{{- define "modelservice.isHub" -}}
{{- if has .Values.model.source (list "huggingface" "modelscope") }}true{{ end }}
{{- end }}

{{/*
The model argument of `vllm serve`: the hub repository id, the local path, or the folder of an
OCI model (pulled into the cache, or an image volume's mount).
Fails early, with the key to set, when the source lacks it.
*/}}
{{- define "modelservice.model" -}}
{{- if include "modelservice.isOCI" . }}
{{- include "modelservice.ociModelPath" . }}
{{- else if eq .Values.model.source "local" }}
{{- if not .Values.model.path }}
{{- include "modelservice.fail" (list "model.path" "model-path-required" "model.source local needs model.path, the model directory inside the container (mounted from persistence or extraVolumes)") }}
{{- end }}
{{- .Values.model.path }}
{{- else }}
{{- if not .Values.model.name }}
{{- include "modelservice.fail" (list "model.name" "model-name-required" (printf "model.source %s needs model.name, the repository id such as Qwen/Qwen2.5-0.5B-Instruct%s" .Values.model.source (ternary " (model.path is only read with model.source: local)" "" (not (empty .Values.model.path))))) }}
{{- end }}
{{- .Values.model.name }}
{{- end }}
{{- end }}

{{/*
The name clients send as `model`: servedModelName, else the hub id, else the last path segment
(of the local path, or of an OCI model's repository unless model.name is set).
*/}}
{{- define "modelservice.servedModelName" -}}
{{- if .Values.model.servedModelName }}
{{- .Values.model.servedModelName }}
{{- else if include "modelservice.isOCI" . }}
{{- include "modelservice.ociServedName" . }}
{{- else if eq .Values.model.source "local" }}
{{- include "modelservice.model" . | trimSuffix "/" | base }}
{{- else }}
{{- include "modelservice.model" . }}
{{- end }}
{{- end }}

{{/*
GPUs of the pod (whole GPUs or vGPU slices).
*/}}
{{- define "modelservice.gpuCount" -}}
{{- int .Values.gpu.count }}
{{- end }}

{{/*
Tensor parallel size: engine.tensorParallelSize, else the GPUs of the pod (at least 1).
*/}}
{{- define "modelservice.tensorParallelSize" -}}
{{- if .Values.engine.tensorParallelSize }}
{{- int .Values.engine.tensorParallelSize }}
{{- else }}
{{- max 1 (int .Values.gpu.count) }}
{{- end }}
{{- end }}

{{/*
Extended resources of the server container, as YAML "name: count" lines. Rendered under
limits only: Kubernetes sets requests equal to limits for extended resources, and rejects
any other combination.
*/}}
{{- define "modelservice.gpuResources" -}}
{{- $count := int .Values.gpu.count }}
{{- if and .Values.vgpu.enabled (gt $count 0) }}
{{- $names := dict }}
{{- if eq .Values.vgpu.provider "volcano" }}
{{- $names = dict "count" "volcano.sh/vgpu-number" "memory" "volcano.sh/vgpu-memory" "cores" "volcano.sh/vgpu-cores" }}
{{- else }}
{{- $names = dict "count" "nvidia.com/gpu" "memory" "nvidia.com/gpumem" "cores" "nvidia.com/gpucores" }}
{{- end }}
{{- $over := .Values.vgpu.resourceNames | default dict }}
{{ default $names.count $over.count }}: {{ $count | quote }}
{{- if gt (int .Values.vgpu.memoryMiB) 0 }}
{{ default $names.memory $over.memory }}: {{ int .Values.vgpu.memoryMiB | quote }}
{{- end }}
{{ default $names.cores $over.cores }}: {{ int .Values.vgpu.coresPercent | quote }}
{{- else if gt $count 0 }}
{{ .Values.gpu.resourceName }}: {{ $count | quote }}
{{- end }}
{{- end }}

{{/*
Whether the pod uses a GPU runtime (any GPU or vGPU).
*/}}
{{- define "modelservice.usesGPU" -}}
{{- if gt (int .Values.gpu.count) 0 }}true{{ end }}
{{- end }}

{{/*
Whether the model cache is a ReadWriteOnce claim (created or existing).
*/}}
{{- define "modelservice.cacheIsRWO" -}}
{{- if and .Values.persistence.enabled (or (has "ReadWriteOnce" .Values.persistence.accessModes) (has "ReadWriteOncePod" .Values.persistence.accessModes)) }}true{{ end }}
{{- end }}

{{/*
Whether the user's strategy is a rolling update that starts a new pod before the old one stops
(maxSurge above 0; Kubernetes' default is 25%, at least one pod) while the cache is a
ReadWriteOnce claim: the new pod waits forever for the volume the old pod holds. NOTES.txt warns.
*/}}
{{- define "modelservice.rollingUpdateWaitsForCache" -}}
{{- $strategy := .Values.strategy | default dict }}
{{- if and $strategy (ne ($strategy.type | default "RollingUpdate") "Recreate") (include "modelservice.cacheIsRWO" .) }}
{{- $surge := "25%" }}
{{- with $strategy.rollingUpdate }}
{{- if hasKey . "maxSurge" }}
{{- $surge = toString .maxSurge }}
{{- end }}
{{- end }}
{{- if not (has $surge (list "0" "0%")) }}true{{ end }}
{{- end }}
{{- end }}

{{/*
Name of the cache claim: the existing one, or the one this release creates.
*/}}
{{- define "modelservice.cacheClaimName" -}}
{{- if .Values.persistence.existingClaim }}
{{- .Values.persistence.existingClaim }}
{{- else }}
{{- include "modelservice.componentName" (list . "cache") }}
{{- end }}
{{- end }}

{{/*
Environment shared by the server and the download container: cache locations, hub access
(tokens only through secretKeyRef), and the user's env last so that it can override.
*/}}
{{- define "modelservice.env" -}}
{{- $cache := .Values.persistence.mountPath }}
- name: HF_HOME
  value: {{ printf "%s/huggingface" $cache | quote }}
- name: MODELSCOPE_CACHE
  value: {{ printf "%s/modelscope" $cache | quote }}
- name: VLLM_CACHE_ROOT
  value: {{ printf "%s/vllm" $cache | quote }}
{{- with .Values.huggingface.endpoint }}
- name: HF_ENDPOINT
  value: {{ . | quote }}
{{- end }}
{{- with .Values.huggingface.token.secretName }}
- name: HF_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ . | quote }}
      key: {{ $.Values.huggingface.token.secretKey | default "token" | quote }}
{{- end }}
{{- if eq .Values.model.source "modelscope" }}
- name: VLLM_USE_MODELSCOPE
  value: "True"
{{- end }}
{{- if include "modelservice.usesModelscope" . }}
{{- with .Values.modelscope.endpoint }}
- name: MODELSCOPE_ENDPOINT
  value: {{ . | trimSuffix "/" | quote }}
{{- end }}
{{- with .Values.modelscope.token.secretName }}
- name: MODELSCOPE_API_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ . | quote }}
      key: {{ $.Values.modelscope.token.secretKey | default "token" | quote }}
{{- end }}
{{- end }}
{{- with .Values.env }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Volume mounts shared by the server and the download container.
*/}}
{{- define "modelservice.volumeMounts" -}}
- name: cache
  mountPath: {{ .Values.persistence.mountPath | quote }}
{{- if .Values.shm.enabled }}
- name: dshm
  mountPath: /dev/shm
{{- end }}
{{- with .Values.extraVolumeMounts }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Timings of a probe from probes.<name>. successThreshold is rendered by the caller: Kubernetes
accepts a value other than 1 on a readiness probe only.
*/}}
{{- define "modelservice.probeTimings" -}}
initialDelaySeconds: {{ int (.initialDelaySeconds | default 0) }}
periodSeconds: {{ int (.periodSeconds | default 10) }}
timeoutSeconds: {{ int (.timeoutSeconds | default 1) }}
failureThreshold: {{ int (.failureThreshold | default 3) }}
{{- end }}
