{{/*
Helpers of routing through the Gateway API Inference Extension (routing.*): an InferencePool
of the release's server pods, the endpoint picker (EPP, llm-d-router) that scores them for
every request, InferenceObjectives, and vLLM's KV events to the picker.

The pool selects pods by one label, modelservice/inference-pool: <pool name>, put on the pods
that serve the API (a Deployment's or StatefulSet's pods, a LeaderWorkerSet's leaders; never a
group's workers, which serve nothing). A release that joins another release's pool
(routing.inferencePool.join) puts the same label on its own pods: the pool then spans both
releases, which is the point (two GPU types behind one model name, a canary of a new engine).
The release's own selector labels are not used: they would tie the pool to one release, and a
joining release carrying them would be taken for the other release's pods by its Deployment and
its Service.
*/}}

{{/*
The label the pool selects.
*/}}
{{- define "modelservice.poolLabelKey" -}}
modelservice/inference-pool
{{- end }}

{{/*
Whether this release creates a pool, joins one, or neither.
*/}}
{{- define "modelservice.poolEnabled" -}}
{{- if .Values.routing.inferencePool.enabled }}true{{ end }}
{{- end }}

{{- define "modelservice.poolJoined" -}}
{{- if .Values.routing.inferencePool.join }}true{{ end }}
{{- end }}

{{/*
The pool this release's pods belong to: the one it creates (routing.inferencePool.name, else
the release's full name), or the one it joins. Empty without either. Refuses both at once,
and either with KEDA's HTTP add-on (autoscaling.keda.http).
*/}}
{{- define "modelservice.poolName" -}}
{{- $pool := .Values.routing.inferencePool }}
{{- if and $pool.enabled $pool.join }}
{{- include "modelservice.fail" (list "routing.inferencePool.join|routing.inferencePool.enabled" "routing-pool-join-and-enabled" (printf "routing.inferencePool.join (%s) and routing.inferencePool.enabled are exclusive: a release either creates a pool (enabled: true, with its endpoint picker) or joins another release's pool (join: NAME, without a picker of its own); drop one of the two" $pool.join)) }}
{{- end }}
{{- if and (or $pool.enabled $pool.join) (include "modelservice.httpScaling" .) }}
{{- include "modelservice.fail" (list "autoscaling.keda.http.enabled|routing.inferencePool.enabled|routing.inferencePool.join" "routing-pool-with-http-scaling" "autoscaling.keda.http and an InferencePool are exclusive: the HTTPRoute sends each request to the pod the pool's endpoint picker chooses, so KEDA's HTTP interceptor never sees a request and never scales the release up from zero; scale the pool's pods with the ScaledObject on vLLM's metrics (drop autoscaling.keda.http), or serve without the pool") }}
{{- end }}
{{- if $pool.enabled }}
{{- $pool.name | default (include "modelservice.fullname" .) }}
{{- else if $pool.join }}
{{- $pool.join }}
{{- end }}
{{- end }}

{{/*
The pool label of a pod that serves the API (role server or leader), as a YAML line; nothing
for a group's worker, the helm test pod, or a release outside any pool.
Usage: include "modelservice.poolPodLabel" (the pod template's context, with .role)
*/}}
{{- define "modelservice.poolPodLabel" -}}
{{- $role := .role | default "server" }}
{{- if and (has $role (list "server" "leader")) (include "modelservice.poolName" .) }}
{{ include "modelservice.poolLabelKey" . }}: {{ include "modelservice.poolName" . | quote }}
{{- end }}
{{- end }}

{{/*
The ports the pool sends requests to: routing.inferencePool.targetPorts, else the server's
port (engine.port).
*/}}
{{- define "modelservice.poolTargetPorts" -}}
{{- $ports := .Values.routing.inferencePool.targetPorts | default (list .Values.engine.port) }}
{{- range $ports }}
- number: {{ int . }}
{{- end }}
{{- end }}

{{/*
Name of the endpoint picker's objects (Deployment, Service, ServiceAccount, ConfigMap, Role):
"<pool>-epp", the pool's name cut so that the suffix survives in 63 characters. Named after the
pool, not the release: a release that joins the pool knows the pool's name only, and sends its
KV events to this Service.
*/}}
{{- define "modelservice.pickerNameOf" -}}
{{- printf "%s-epp" (regexReplaceAll "-+$" (trunc 59 .) "") }}
{{- end }}

{{- define "modelservice.pickerName" -}}
{{- include "modelservice.pickerNameOf" (include "modelservice.poolName" .) }}
{{- end }}

{{/*
Name of a cluster-scoped object of the picker (ClusterRoleBinding, ClusterRole): the
namespace in front, since two releases of one name in two namespaces must not share one.
*/}}
{{- define "modelservice.pickerClusterName" -}}
{{- $root := index . 0 }}
{{- $suffix := index . 1 }}
{{- printf "%s-%s-%s" $root.Release.Namespace (include "modelservice.poolName" $root) $suffix }}
{{- end }}

{{/*
Selector labels of the picker's pods. Not the release's own name label: the release's Service,
PodDisruptionBudget and ServiceMonitor select that one, and must never reach the picker.
*/}}
{{- define "modelservice.pickerSelectorLabels" -}}
app.kubernetes.io/name: {{ printf "%s-epp" (include "modelservice.name" .) | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/instance: {{ .Release.Name | quote }}
{{- end }}

{{/*
Labels of the picker's objects: its selector labels, the chart and version, the component
endpoint-picker (chart/values-map.yaml maps these objects' fields to routing.endpointPicker.*).
*/}}
{{- define "modelservice.pickerLabels" -}}
helm.sh/chart: {{ include "modelservice.chart" . | quote }}
{{ include "modelservice.pickerSelectorLabels" . }}
app.kubernetes.io/version: {{ .Values.routing.endpointPicker.image.tag | default "" | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/component: endpoint-picker
app.kubernetes.io/part-of: modelservice
app.kubernetes.io/managed-by: {{ .Release.Service | quote }}
{{- end }}

{{/*
The label that marks the picker pods of a pool, for the NetworkPolicy of every release in the
pool (the picker reads the servers' /metrics on the API port). A label of its own: the pool
label itself on the picker would put the picker into the pool.
*/}}
{{- define "modelservice.pickerOfLabelKey" -}}
modelservice/endpoint-picker-of
{{- end }}

{{/*
The picker image, pinned by tag or digest.
*/}}
{{- define "modelservice.pickerImage" -}}
{{- $image := .Values.routing.endpointPicker.image }}
{{- if $image.digest }}
{{- printf "%s@%s" $image.repository $image.digest }}
{{- else }}
{{- printf "%s:%s" $image.repository $image.tag }}
{{- end }}
{{- end }}

{{/*
The picker's ports (the picker's own defaults, made explicit on its command line): the
ext-proc gRPC port the gateway calls, the gRPC health port of the probes, the metrics port.
*/}}
{{- define "modelservice.pickerGrpcPort" -}}9002{{- end }}
{{- define "modelservice.pickerHealthPort" -}}9003{{- end }}
{{- define "modelservice.pickerMetricsPort" -}}9090{{- end }}
{{/* The port of the vLLM render server beside the picker (its tokenizer, with kvEvents). */}}
{{- define "modelservice.pickerTokenizerPort" -}}8200{{- end }}

{{/*
Where a server sends its KV events: the picker's Service in the pool's namespace. A release
that joins a pool sends them to that pool's picker, "<pool>-epp" by the same naming (check
compares it with the live pool's endpointPickerRef).
*/}}
{{- define "modelservice.kvEventsEndpoint" -}}
{{- $service := include "modelservice.pickerName" . }}
{{- printf "tcp://%s.%s.svc:%d" $service .Release.Namespace (int .Values.routing.kvEvents.port) }}
{{- end }}

{{/*
Whether the servers publish KV events (a pool of their own or a joined one).
*/}}
{{- define "modelservice.kvEvents" -}}
{{- if and .Values.routing.kvEvents.enabled (include "modelservice.poolName" .) }}true{{ end }}
{{- end }}

{{/*
vLLM's --kv-events-config (its KVEventsConfig as JSON): ZMQ to the picker's Service, the topic
"kv@<pod IP>:<port>@<served model name>" that the picker reads as the endpoint (IP:port, as it
names the pool's endpoints) and the model. $(POD_IP) is expanded by the kubelet from the
container's env.
*/}}
{{- define "modelservice.kvEventsConfig" -}}
{{- $topic := printf "kv@$(POD_IP):%d@%s" (int .Values.engine.port) (include "modelservice.servedModelName" .) }}
{{- dict "enable_kv_cache_events" true "publisher" "zmq" "endpoint" (include "modelservice.kvEventsEndpoint" .) "topic" $topic | toJson }}
{{- end }}

{{/*
Flags of `vllm serve` for KV events: the events to the picker, the block size the picker
hashes prompts with, prefix caching on (vLLM's default, stated: the picker routes by it).
*/}}
{{- define "modelservice.kvEventsArgs" -}}
{{- if include "modelservice.kvEvents" . }}
- --kv-events-config
- {{ include "modelservice.kvEventsConfig" . | quote }}
- --block-size
- {{ int .Values.routing.kvEvents.blockSize | quote }}
- --enable-prefix-caching
{{- end }}
{{- end }}

{{/*
Where the picker's tokenizer (the vLLM render server beside it, with kvEvents) reads the
model's tokenizer from; never the public hub, and always with the hub offline:
- "cache": the release's own cache claim, mounted read-only (a ReadWriteMany or ReadOnlyMany
  cache, declared so in persistence.accessModes): the servers downloaded it there;
- "mirror": downloaded by an init container from huggingface.endpoint (the values' mirror);
- "modelscope": downloaded by an init container from ModelScope (modelscope.endpoint or its
  default).
Refuses a release whose only source of the tokenizer would be the public Hugging Face hub.
*/}}
{{- define "modelservice.pickerTokenizerSource" -}}
{{- $persistence := .Values.persistence }}
{{- $shared := and $persistence.enabled (not (include "modelservice.cachePerPod" .)) (or (has "ReadWriteMany" $persistence.accessModes) (has "ReadOnlyMany" $persistence.accessModes)) }}
{{- $source := .Values.model.source }}
{{- if and $shared (or (ne $source "local") (hasPrefix (printf "%s/" (trimSuffix "/" $persistence.mountPath)) (.Values.model.path | default ""))) }}
{{- "cache" }}
{{- else if and (eq $source "huggingface") .Values.huggingface.endpoint }}
{{- "mirror" }}
{{- else if eq $source "modelscope" }}
{{- "modelscope" }}
{{- else }}
{{- include "modelservice.fail" (list "routing.kvEvents.enabled|model.source" "routing-tokenizer-source" (printf "routing.kvEvents needs the picker to tokenize prompts as the servers do, and the picker reads the tokenizer from the release's cache (shared: persistence.accessModes [ReadWriteMany]), the values' mirror (huggingface.endpoint) or ModelScope, never the public hub; model.source %s offers none of them: set huggingface.endpoint to your mirror, or make the cache ReadWriteMany, or turn kvEvents off (the prefix-cache scorer then estimates prefixes without a tokenizer)" $source)) }}
{{- end }}
{{- end }}

{{/*
The picker's configuration (llm-d-router's EndpointPickerConfig), as YAML. Every scorer with a
weight above 0 in routing.endpointPicker.scorers runs in the one scheduling profile; the
metrics it reads from each server are named explicitly (routing.endpointPicker.metrics, which
validate checks against the metrics the vLLM release of the image exports). With kvEvents the
prefix-cache scorer reads the precise index the servers' KV events build (prompts tokenized by
the render server beside the picker), else the picker's own estimate of each server's prefixes.
*/}}
{{- define "modelservice.pickerConfig" -}}
{{- $picker := .Values.routing.endpointPicker }}
{{- $scorers := $picker.scorers }}
{{- $metrics := $picker.metrics }}
{{- $kv := include "modelservice.kvEvents" . }}
{{- $profile := list }}
apiVersion: llm-d.ai/v1alpha1
kind: EndpointPickerConfig
plugins:
  - type: metrics-data-source
  - type: core-metrics-extractor
    parameters:
      engineConfigs:
        - name: vllm
          queuedRequestsSpec: {{ $metrics.queuedRequests | quote }}
          runningRequestsSpec: {{ $metrics.runningRequests | quote }}
          kvUsageSpec: {{ $metrics.kvCacheUsage | quote }}
          loraSpec: {{ $metrics.loraInfo | quote }}
          cacheInfoSpec: {{ $metrics.cacheInfo | quote }}
  {{- if gt (float64 $scorers.queue) 0.0 }}
  - type: queue-scorer
  {{- $profile = append $profile (list "queue-scorer" $scorers.queue) }}
  {{- end }}
  {{- if gt (float64 $scorers.kvCacheUsage) 0.0 }}
  - type: kv-cache-utilization-scorer
  {{- $profile = append $profile (list "kv-cache-utilization-scorer" $scorers.kvCacheUsage) }}
  {{- end }}
  {{- if gt (float64 $scorers.loraAffinity) 0.0 }}
  - type: lora-affinity-scorer
  {{- $profile = append $profile (list "lora-affinity-scorer" $scorers.loraAffinity) }}
  {{- end }}
  {{- if gt (float64 $scorers.prefixCache) 0.0 }}
  {{- if $kv }}
  - type: token-producer
    parameters:
      modelName: {{ include "modelservice.servedModelName" . | quote }}
      vllm:
        url: {{ printf "http://localhost:%s" (include "modelservice.pickerTokenizerPort" .) | quote }}
  - type: precise-prefix-cache-producer
    parameters:
      tokenProcessorConfig:
        blockSizeTokens: {{ int .Values.routing.kvEvents.blockSize }}
      kvEventsConfig:
        zmqEndpoint: {{ printf "tcp://*:%d" (int .Values.routing.kvEvents.port) | quote }}
        topicFilter: "kv@"
        engineType: vllm
        discoverPods: false
  - type: prefix-cache-scorer
    parameters:
      prefixMatchInfoProducerName: precise-prefix-cache-producer
  {{- else }}
  - type: prefix-cache-scorer
  {{- end }}
  {{- $profile = append $profile (list "prefix-cache-scorer" $scorers.prefixCache) }}
  {{- end }}
  - type: max-score-picker
dataLayer:
  sources:
    - pluginRef: metrics-data-source
      extractors:
        - pluginRef: core-metrics-extractor
schedulingProfiles:
  - name: default
    plugins:
      {{- range $profile }}
      - pluginRef: {{ index . 0 }}
        weight: {{ index . 1 }}
      {{- end }}
      - pluginRef: max-score-picker
{{- end }}

{{/*
The picker's command line: its pool, its configuration, its ports, leader election with more
than one replica (only the leader serves; readiness tells the Service which one).
*/}}
{{- define "modelservice.pickerArgs" -}}
- --pool-name
- {{ include "modelservice.poolName" . | quote }}
- --pool-namespace
- {{ .Release.Namespace | quote }}
- --pool-group
- inference.networking.k8s.io
- --config-file
- /config/config.yaml
- --grpc-port
- {{ include "modelservice.pickerGrpcPort" . | quote }}
- --grpc-health-port
- {{ include "modelservice.pickerHealthPort" . | quote }}
- --metrics-port
- {{ include "modelservice.pickerMetricsPort" . | quote }}
{{- /* Traces go to an OTLP collector the chart knows nothing of: off, not a stream of
       export errors. */}}
- --tracing=false
{{- if gt (int .Values.routing.endpointPicker.replicas) 1 }}
- --ha-enable-leader-election
{{- end }}
{{- end }}

{{/*
What the picker's tokenizer reads of the model: what a tokenizer and a model config are made
of, never weights.
*/}}
{{- define "modelservice.tokenizerFiles" -}}
{{- range list "*.json" "*.jinja" "*.model" "*.tiktoken" "*.txt" "tokenizer*" }}
- --include
- {{ . | quote }}
{{- end }}
{{- end }}

{{/*
The downloads of the picker's tokenizer init container (the mirror or ModelScope): the model
repository's tokenizer and config files, and a separate tokenizer's (model.tokenizer.name).
*/}}
{{- define "modelservice.tokenizerDownloadArgs" -}}
{{- $tool := include "modelservice.hubTool" .Values.model.source }}
- {{ $tool }}
- download
- {{ .Values.model.name | quote }}
{{- with .Values.model.revision }}
- --revision
- {{ . | quote }}
{{- end }}
{{- include "modelservice.tokenizerFiles" . }}
- ";"
{{- with .Values.model.tokenizer.name }}
- {{ $tool }}
- download
- {{ . | quote }}
{{- with $.Values.model.tokenizer.revision }}
- --revision
- {{ . | quote }}
{{- end }}
{{- include "modelservice.tokenizerFiles" $ }}
- ";"
{{- end }}
{{- end }}

{{/*
The render server's command line: the model as the servers name it, and only the flags that
choose its tokenizer.
*/}}
{{- define "modelservice.tokenizerArgs" -}}
- {{ include "modelservice.model" . | quote }}
- --served-model-name
- {{ include "modelservice.servedModelName" . | quote }}
{{- if and (include "modelservice.isHub" .) .Values.model.revision }}
- --revision
- {{ .Values.model.revision | quote }}
{{- end }}
{{- with .Values.model.tokenizer.name }}
- --tokenizer
- {{ . | quote }}
{{- with $.Values.model.tokenizer.revision }}
- --tokenizer-revision
- {{ . | quote }}
{{- end }}
{{- end }}
{{- if has "--trust-remote-code" (.Values.engine.args | default list) }}
- --trust-remote-code
{{- end }}
- --port
- {{ include "modelservice.pickerTokenizerPort" . | quote }}
{{- end }}

{{/*
Labels of the picker's monitoring objects: the picker's labels, then the user's extra labels
of metrics.serviceMonitor over them (as modelservice.metricsLabels does for the server's).
*/}}
{{- define "modelservice.pickerMetricsLabels" -}}
{{- $root := index . 0 }}
{{- $labels := include "modelservice.pickerLabels" $root | fromYaml }}
{{- range $key, $value := (index . 1 | default dict) }}
{{- if kindIs "invalid" $value }}
{{- $_ := unset $labels $key }}
{{- else }}
{{- $_ := set $labels $key $value }}
{{- end }}
{{- end }}
{{- toYaml $labels }}
{{- end }}

{{/*
Name of the ServiceAccount (and its token Secret) that Prometheus scrapes the picker as.
*/}}
{{- define "modelservice.pickerMetricsReader" -}}
{{- printf "%s-epp-metrics" (regexReplaceAll "-+$" (trunc 51 (include "modelservice.poolName" .)) "") }}
{{- end }}
