{{/*
Helpers of autoscaling (autoscaling.*): a KEDA ScaledObject or a HorizontalPodAutoscaler on
vLLM's own metrics. The metric names are those vLLM 0.33.0 exposes
(schemas/vllm/0.33.0-metrics.json; the test suite checks them).
*/}}

{{/*
The workload the autoscaler scales: the Deployment, or the LeaderWorkerSet (its scale
subresource counts groups).
*/}}
{{- define "modelservice.scaleTarget" -}}
{{- if include "modelservice.multiNode" . }}
apiVersion: leaderworkerset.x-k8s.io/v1
kind: LeaderWorkerSet
name: {{ include "modelservice.groupName" . | quote }}
{{- else if include "modelservice.cachePerPod" . }}
apiVersion: apps/v1
kind: StatefulSet
name: {{ include "modelservice.groupName" . | quote }}
{{- else }}
apiVersion: apps/v1
kind: Deployment
name: {{ include "modelservice.fullname" . | quote }}
{{- end }}
{{- end }}

{{/*
Whether KEDA's HTTP add-on scales the release (an HTTPScaledObject instead of the ScaledObject).
*/}}
{{- define "modelservice.httpScaling" -}}
{{- $as := .Values.autoscaling }}
{{- if and $as.enabled (eq $as.engine "keda") $as.keda.http.enabled }}true{{ end }}
{{- end }}

{{/*
The hosts the HTTP add-on's interceptor routes to this release: the Ingress hosts, the HTTPRoute
hostnames and autoscaling.keda.http.hosts, once each (none: every host).
*/}}
{{- define "modelservice.httpScalingHosts" -}}
{{- $hosts := list }}
{{- if .Values.ingress.enabled }}
{{- range .Values.ingress.hosts }}
{{- $hosts = append $hosts .host }}
{{- end }}
{{- end }}
{{- if .Values.httpRoute.enabled }}
{{- range .Values.httpRoute.hostnames }}
{{- $hosts = append $hosts . }}
{{- end }}
{{- end }}
{{- range .Values.autoscaling.keda.http.hosts }}
{{- $hosts = append $hosts . }}
{{- end }}
{{- $hosts | uniq | toJson }}
{{- end }}

{{/*
Whether KEDA scales the service to zero when idle (minReplicas 0, or idleReplicaCount 0).
*/}}
{{- define "modelservice.scalesToZero" -}}
{{- $as := .Values.autoscaling }}
{{- if and (eq $as.engine "keda") (or (eq (int $as.minReplicas) 0) (not (kindIs "invalid" $as.keda.idleReplicaCount))) }}true{{ end }}
{{- end }}

{{/*
vLLM's metric for autoscaling.metric.
*/}}
{{- define "modelservice.scaleMetric" -}}
{{- get (dict "waitingRequests" "vllm:num_requests_waiting" "kvCacheUsage" "vllm:kv_cache_usage_perc") .Values.autoscaling.metric }}
{{- end }}

{{/*
The target per replica as a string: 5, 0.8 (never 5e+00).
*/}}
{{- define "modelservice.scaleTarget.value" -}}
{{- $t := .Values.autoscaling.target }}
{{- if eq (float64 $t) (float64 (int64 $t)) }}{{ int64 $t }}{{ else }}{{ $t }}{{ end }}
{{- end }}

{{/*
Refuse an autoscaler that can never act (`modelservice validate` says the same at the line):
- a KV-cache usage target above 1: vLLM reports the usage as a fraction from 0 to 1, so 50 (a
  percentage) is never reached and the autoscaler never adds a replica;
- the chart's KEDA query without the ServiceMonitor: the query selects the series by the
  `service` label, which the Prometheus Operator adds only to what it scrapes through the
  ServiceMonitor, so it finds nothing.
A query or metric of the user's own (keda.query, hpa.metricName) is the user's to judge.
*/}}
{{- define "modelservice.checkAutoscaling" -}}
{{- $as := .Values.autoscaling }}
{{- $own := ternary $as.keda.query $as.hpa.metricName (eq $as.engine "keda") }}
{{- if and (eq $as.metric "kvCacheUsage") (not $own) (gt (float64 $as.target) 1.0) }}
{{- $hint := "" }}
{{- if le (float64 $as.target) 100.0 }}
{{- $hint = printf " (%s%% is %s)" (include "modelservice.scaleTarget.value" .) (divf (float64 $as.target) 100.0 | toString) }}
{{- end }}
{{- include "modelservice.fail" (list "autoscaling.target" "autoscaling-kv-target-not-a-fraction" (printf "autoscaling.target %s with metric kvCacheUsage: vLLM reports vllm:kv_cache_usage_perc as a fraction from 0 to 1, so the target is never reached and no replica is ever added; give the usage per replica as a fraction%s" (include "modelservice.scaleTarget.value" .) $hint)) }}
{{- end }}
{{- if and (eq $as.engine "keda") (not $as.keda.query) (not .Values.metrics.serviceMonitor.enabled) }}
{{- include "modelservice.fail" (list "autoscaling.engine|autoscaling.enabled" "autoscaling-keda-without-service-monitor" "the chart's KEDA query selects vLLM's series by the `service` label, which the Prometheus Operator adds only to what it scrapes through the ServiceMonitor, so without it the query finds nothing and nothing ever scales: set metrics.serviceMonitor.enabled: true, or give autoscaling.keda.query in the labels your Prometheus puts on the pods' series") }}
{{- end }}
{{- end }}

{{/*
The chart's PromQL for the KEDA trigger: the metric summed over this service's pods (the
Prometheus Operator labels what it scrapes through the ServiceMonitor with namespace and
service; vLLM adds model_name). With a LeaderWorkerSet only the leaders are scraped (the
Service selects them), one per group.
*/}}
{{- define "modelservice.scaleQuery" -}}
{{- $selector := printf "namespace=%s, service=%s, model_name=%s" (include "modelservice.promqlString" .Release.Namespace) (include "modelservice.promqlString" (include "modelservice.fullname" .)) (include "modelservice.promqlString" (include "modelservice.servedModelName" .)) }}
{{- printf "sum(%s{%s})" (include "modelservice.scaleMetric" .) $selector }}
{{- end }}

{{/*
HPA scaling behaviour: scale up at once, scale down only after the stabilisation window and
one replica at a time (a replica costs minutes to bring back).
*/}}
{{- define "modelservice.scaleBehavior" -}}
scaleUp:
  stabilizationWindowSeconds: 0
scaleDown:
  stabilizationWindowSeconds: {{ int .Values.autoscaling.scaleDownStabilizationSeconds }}
  policies:
    - type: Pods
      value: 1
      periodSeconds: 300
{{- end }}

{{/*
NOTES.txt: how scaling behaves.
*/}}
{{- define "modelservice.notes.autoscaling" -}}
{{- $as := .Values.autoscaling }}
{{- $svc := include "modelservice.fullname" . }}
{{- $ns := .Release.Namespace }}
{{- $what := ternary "groups" "replicas" (.Values.multiNode.enabled | default false) }}

Autoscaling ({{ eq $as.engine "keda" | ternary "KEDA ScaledObject" "HorizontalPodAutoscaler" }} {{ $svc }}): {{ int $as.minReplicas }} to {{ int $as.maxReplicas }} {{ $what }}, holding
{{ include "modelservice.scaleMetric" . }} at {{ include "modelservice.scaleTarget.value" . }} per replica. New {{ $what }} take minutes to start
(scheduling, image pull, download, model load); {{ $what }} are removed one at a time, after the
metric has stayed low for {{ int $as.scaleDownStabilizationSeconds }} s.
{{- if include "modelservice.scalesToZero" . }}
{{ if eq (int $as.minReplicas) 0 }}With minReplicas 0{{ else }}With idleReplicaCount 0{{ end }} the service scales to zero after {{ int $as.keda.cooldownPeriod }} s without activity. Then the
next request finds no pod: it fails or waits (as your gateway decides) for a full cold start,
and only autoscaling.keda.extraTriggers can wake the service (a pod that does not exist
reports no vLLM metrics).
{{- end }}
Watch it:
  kubectl get {{ eq $as.engine "keda" | ternary "scaledobject" "hpa" }} {{ $svc }} -n {{ $ns }} -w
{{- end }}
