{{/*
Helpers of the download: everything the server reads from a hub is fetched by the init
container into the cache the server then reads offline (HF_HUB_OFFLINE=1): the model at its
revision, a different tokenizer, and LoRA adapters.
*/}}

{{/*
Whether the init container downloads the model (a hub model with model.download.enabled).
The server then runs offline: HF_HUB_OFFLINE=1, which vLLM also reads for ModelScope
(local_files_only).
*/}}
{{- define "modelservice.downloadsModel" -}}
{{- if and (include "modelservice.isHub" .) .Values.model.download.enabled }}true{{ end }}
{{- end }}

{{/*
The hub tool of a source: `hf` for huggingface, `modelscope` for modelscope.
*/}}
{{- define "modelservice.hubTool" -}}
{{- eq . "modelscope" | ternary "modelscope" "hf" }}
{{- end }}

{{/*
The source of LoRA adapter (a dict): its own `source`, else the model's when that is a hub,
else huggingface.
*/}}
{{- define "modelservice.loraSource" -}}
{{- $root := index . 0 }}
{{- $adapter := index . 1 }}
{{- if $adapter.source }}
{{- $adapter.source }}
{{- else if include "modelservice.isHub" $root }}
{{- $root.Values.model.source }}
{{- else }}
{{- "huggingface" }}
{{- end }}
{{- end }}

{{/*
Where an adapter is served from: its `path`, or for a hub adapter the folder under the cache
the init container downloads it to (`<persistence.mountPath>/lora/<name>`): a local path,
so vLLM never asks a hub for it.
*/}}
{{- define "modelservice.loraPath" -}}
{{- $root := index . 0 }}
{{- $adapter := index . 1 }}
{{- if $adapter.path }}
{{- $adapter.path }}
{{- else }}
{{- printf "%s/lora/%s" (trimSuffix "/" $root.Values.persistence.mountPath) $adapter.name }}
{{- end }}
{{- end }}

{{/*
The `--lora-modules` values of the server, one `name=path` each.
*/}}
{{- define "modelservice.loraModules" -}}
{{- range .Values.lora.adapters }}
- {{ printf "%s=%s" .name (include "modelservice.loraPath" (list $ .)) | quote }}
{{- end }}
{{- end }}

{{/*
Whether LoRA is enabled on the server (adapters listed, or runtime updates allowed).
*/}}
{{- define "modelservice.loraEnabled" -}}
{{- if or .Values.lora.adapters .Values.lora.runtimeUpdates }}true{{ end }}
{{- end }}

{{/*
The downloads as one list of command lines, each ended by ";" (the script of the init
container runs them one by one). The values are words of the command, never spliced into
the script, so a repository id is data, not shell.
*/}}
{{- define "modelservice.downloadArgs" -}}
{{- $download := .Values.model.download }}
{{- if include "modelservice.downloadsModel" . }}
- {{ include "modelservice.hubTool" .Values.model.source }}
- download
- {{ .Values.model.name | quote }}
{{- with .Values.model.revision }}
- --revision
- {{ . | quote }}
{{- end }}
{{- range $download.include }}
- --include
- {{ . | quote }}
{{- end }}
{{- range $download.exclude }}
- --exclude
- {{ . | quote }}
{{- end }}
- --max-workers
- {{ int $download.workers | quote }}
- ";"
{{- with .Values.model.tokenizer.name }}
{{- /* Only what a tokenizer is made of: no weights. */}}
- {{ include "modelservice.hubTool" $.Values.model.source }}
- download
- {{ . | quote }}
{{- with $.Values.model.tokenizer.revision }}
- --revision
- {{ . | quote }}
{{- end }}
{{- range list "*.safetensors" "*.bin" "*.pt" "*.pth" "*.gguf" "*.h5" "*.msgpack" "*.onnx" }}
- --exclude
- {{ . | quote }}
{{- end }}
- ";"
{{- end }}
{{- with .Values.speculative.model }}
- {{ include "modelservice.hubTool" $.Values.model.source }}
- download
- {{ . | quote }}
{{- with $.Values.speculative.revision }}
- --revision
- {{ . | quote }}
{{- end }}
{{- range $download.exclude }}
- --exclude
- {{ . | quote }}
{{- end }}
- --local-dir
- {{ include "modelservice.draftPath" $ | quote }}
- ";"
{{- end }}
{{- end }}
{{- range .Values.lora.adapters }}
{{- if not .path }}
- {{ include "modelservice.hubTool" (include "modelservice.loraSource" (list $ .)) }}
- download
- {{ .repo | quote }}
{{- with .revision }}
- --revision
- {{ . | quote }}
{{- end }}
- --local-dir
- {{ include "modelservice.loraPath" (list $ .) | quote }}
- ";"
{{- end }}
{{- end }}
{{- end }}

{{/*
Refuse model.tokenizer.revision without model.tokenizer.name: the revision is the tokenizer
repository's, and without a repository of its own the tokenizer is the model's, at
model.revision. The chart would drop it (`modelservice validate` says the same at the line).
*/}}
{{- define "modelservice.checkTokenizer" -}}
{{- if and .Values.model.tokenizer.revision (not .Values.model.tokenizer.name) }}
{{- include "modelservice.fail" (list "model.tokenizer.revision" "tokenizer-revision-without-name" (printf "model.tokenizer.revision %s pins the repository of model.tokenizer.name, which is empty: the tokenizer is the model's own, at model.revision, and the chart would drop this revision; set model.revision to pin the model and its tokenizer, or model.tokenizer.name to the repository whose tokenizer you want" .Values.model.tokenizer.revision)) }}
{{- end }}
{{- end }}

{{/*
Whether the pod has an init container (anything to download).
*/}}
{{- define "modelservice.downloads" -}}
{{- if include "modelservice.downloadArgs" . | trim }}true{{ end }}
{{- end }}

{{/*
The script of the init container. Each download is tried DOWNLOAD_ATTEMPTS times, waiting
DOWNLOAD_RETRY_DELAY seconds after the first failure and twice as long after each next one,
so a hub hiccup costs a retry, not a pod in Init:Error. A download that succeeded leaves a
mark (named by a hash of its command line) under DOWNLOAD_MARKS on the cache volume: when
every attempt fails (the hub is down) and this exact download finished before, the cache holds
what it fetched and the pod goes on, as `hf download` does by itself when a revision is
cached. `modelscope download` fails offline even with a full cache; this makes both sources
start while the hub is down.
*/}}
{{- define "modelservice.downloadScript" -}}
run() {
  mark="${DOWNLOAD_MARKS}/$(printf '%s\n' "$@" | sha256sum | cut -d' ' -f1)"
  delay="${DOWNLOAD_RETRY_DELAY}"
  attempt=1
  echo "download: $*" >&2
  until "$@"; do
    if [ "$attempt" -ge "${DOWNLOAD_ATTEMPTS}" ]; then
      if [ -f "$mark" ]; then
        echo "download: the hub did not answer; the cache holds this download from an earlier run" >&2
        return 0
      fi
      echo "download: failed $attempt times: $*" >&2
      return 1
    fi
    echo "download: attempt $attempt failed; next in ${delay}s" >&2
    sleep "$delay"
    attempt=$((attempt + 1))
    delay=$((delay * 2))
  done
  mkdir -p "${DOWNLOAD_MARKS}"
  touch "$mark"
}
cmd=()
for word in "$@"; do
  if [ "$word" = ";" ]; then
    run "${cmd[@]}"
    cmd=()
  else
    cmd+=("$word")
  fi
done
{{- end }}

{{/*
Environment of the init container's script (before the shared env, so `env` may override).
*/}}
{{- define "modelservice.downloadEnv" -}}
- name: DOWNLOAD_ATTEMPTS
  value: {{ int .Values.model.download.attempts | quote }}
- name: DOWNLOAD_RETRY_DELAY
  value: {{ int .Values.model.download.retryDelaySeconds | quote }}
- name: DOWNLOAD_MARKS
  value: {{ printf "%s/modelservice/downloads" (trimSuffix "/" .Values.persistence.mountPath) | quote }}
{{- /* `hf` asks the hub for a newer release of itself once a day (a request no mirror
       answers, and a line in the log); the image's version is the one that runs. */}}
- name: HF_HUB_DISABLE_UPDATE_CHECK
  value: "1"
{{- if .Values.model.download.xetHighPerformance }}
{{- /* Xet (most files of the Hub): more concurrent range requests per file, bigger buffers. */}}
- name: HF_XET_HIGH_PERFORMANCE
  value: "1"
{{- end }}
{{- end }}

{{/*
Where the init container puts the draft model: a folder of the cache, given to vLLM as a path.
vLLM 0.33 resolves a draft model named by its hub id through ModelScope's hub API even with
HF_HUB_OFFLINE=1 (the main model and the tokenizer it finds in the cache), so the draft is
always served from a local folder, for both hubs.
*/}}
{{- define "modelservice.draftPath" -}}
{{- printf "%s/speculative/draft" (trimSuffix "/" .Values.persistence.mountPath) }}
{{- end }}

{{/*
The `--speculative-config` JSON: speculative.config with the downloaded draft model; empty when
there is neither.
*/}}
{{- define "modelservice.speculativeConfig" -}}
{{- $config := deepCopy (.Values.speculative.config | default dict) }}
{{- if .Values.speculative.model }}
{{- if include "modelservice.downloadsModel" . }}
{{- $_ := set $config "model" (include "modelservice.draftPath" .) }}
{{- else }}
{{- /* No init container: the server fetches the draft itself, online. */}}
{{- $_ := set $config "model" .Values.speculative.model }}
{{- with .Values.speculative.revision }}
{{- $_ := set $config "revision" . }}
{{- end }}
{{- end }}
{{- end }}
{{- if $config }}
{{- toJson $config }}
{{- end }}
{{- end }}

{{/*
Whether anything comes from ModelScope (the model, or an adapter): its endpoint and token then
reach the containers.
*/}}
{{- define "modelservice.usesModelscope" -}}
{{- $uses := eq .Values.model.source "modelscope" }}
{{- range .Values.lora.adapters }}
{{- if and (not .path) (eq (include "modelservice.loraSource" (list $ .)) "modelscope") }}
{{- $uses = true }}
{{- end }}
{{- end }}
{{- if $uses }}true{{ end }}
{{- end }}
