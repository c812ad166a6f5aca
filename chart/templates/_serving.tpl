{{/*
Helpers of the serving surface: API-key auth, the API kind of the model, the helm test pod.
*/}}

{{/*
Name of the Secret holding the API key: auth.apiKey.secretName, else the Secret the chart
creates when auth.apiKey.create is true, else empty (the API is open).
*/}}
{{- define "modelservice.apiKeySecretName" -}}
{{- if .Values.auth.apiKey.secretName }}
{{- .Values.auth.apiKey.secretName }}
{{- else if .Values.auth.apiKey.create }}
{{- include "modelservice.componentName" (list . "api-key") }}
{{- end }}
{{- end }}

{{/*
Key of the API key inside its Secret.
*/}}
{{- define "modelservice.apiKeySecretKey" -}}
{{- .Values.auth.apiKey.secretKey | default "api-key" }}
{{- end }}

{{/*
The API the model serves, from the engine.args that choose the model's runner: "classify"
for a classification model (--convert=classify, the older --task=classify), "embeddings" for
a pooling or embedding model (--runner=pooling, --convert=embed, --task=embed), "score" for
the older --task=score, else "chat". "=" or a space, in one item or two: the args are joined
with spaces so both spellings look alike. A reranker or a base model without a chat template
is not visible in the arguments: tests.endpoint says so (rerank, score, completions).
*/}}
{{- define "modelservice.apiKind" -}}
{{- $args := printf " %s " (join " " (.Values.engine.args | default list)) }}
{{- if regexMatch " --(convert|task)[= ]classif(y|ication) " $args }}
{{- "classify" }}
{{- else if regexMatch " --task[= ]score " $args }}
{{- "score" }}
{{- else if regexMatch " --(runner[= ]pooling|convert[= ]embed|task[= ]embed(ding)?) " $args }}
{{- "embeddings" }}
{{- else }}
{{- "chat" }}
{{- end }}
{{- end }}

{{/*
The API the helm test calls: tests.endpoint, else the model's API kind.
*/}}
{{- define "modelservice.testEndpoint" -}}
{{- .Values.tests.endpoint | default (include "modelservice.apiKind" .) }}
{{- end }}

{{/*
Path of an API kind (chat, completions, embeddings, score, rerank, classify), as vLLM serves it.
*/}}
{{- define "modelservice.apiPath" -}}
{{- get (dict "chat" "/v1/chat/completions" "completions" "/v1/completions" "embeddings" "/v1/embeddings" "score" "/v1/score" "rerank" "/v1/rerank" "classify" "/classify") . }}
{{- end }}

{{/*
The smallest request of an API kind, as JSON: one generated token, one short embedding, one
pair to score or rerank, one text to classify.
Usage: include "modelservice.apiRequest" (list . "chat")
*/}}
{{- define "modelservice.apiRequest" -}}
{{- $root := index . 0 }}
{{- $kind := index . 1 }}
{{- $model := include "modelservice.servedModelName" $root }}
{{- if eq $kind "embeddings" }}
{{- dict "model" $model "input" "Hello" | toJson }}
{{- else if eq $kind "classify" }}
{{- dict "model" $model "input" "Hello" | toJson }}
{{- else if eq $kind "score" }}
{{- dict "model" $model "queries" "Hello" "documents" "Hello world" | toJson }}
{{- else if eq $kind "rerank" }}
{{- dict "model" $model "query" "Hello" "documents" (list "Hello world") | toJson }}
{{- else if eq $kind "completions" }}
{{- dict "model" $model "prompt" "Hello" "max_tokens" 1 | toJson }}
{{- else }}
{{- dict "model" $model "messages" (list (dict "role" "user" "content" "Hello")) "max_tokens" 1 | toJson }}
{{- end }}
{{- end }}

{{/*
Labels of the helm test pod. It carries the instance label (so a NetworkPolicy can admit it)
but not app.kubernetes.io/name: with both selector labels the Service would send API traffic
to it and the PodDisruptionBudget would count it.
*/}}
{{- define "modelservice.testLabels" -}}
helm.sh/chart: {{ include "modelservice.chart" . | quote }}
app.kubernetes.io/instance: {{ .Release.Name | quote }}
app.kubernetes.io/component: helm-test
app.kubernetes.io/part-of: modelservice
app.kubernetes.io/managed-by: {{ .Release.Service | quote }}
{{- end }}

{{/*
Names of the LoRA adapters the server must list on /v1/models, separated by spaces.
*/}}
{{- define "modelservice.adapterNames" -}}
{{- $names := list }}
{{- range .Values.lora.adapters }}
{{- $names = append $names .name }}
{{- end }}
{{- join " " $names }}
{{- end }}
