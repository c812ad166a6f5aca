{{/*
Helpers of the weight loader (loader.*): vLLM's --load-format, its --model-loader-extra-config
and --safetensors-load-strategy. The chart renders what the values ask; `modelservice validate`
checks the rendered flags against the loaders of the image's vLLM release (its own verdicts,
schemas/vllm/<version>-loaders.json).
*/}}

{{/*
The --model-loader-extra-config mapping as JSON, from the loader keys set (the Run:ai streamer's
`concurrency`, `memory_limit`, `distributed`); empty when none is.
*/}}
{{- define "modelservice.loaderExtraConfig" -}}
{{- $config := dict }}
{{- $loader := .Values.loader }}
{{- if not (kindIs "invalid" $loader.concurrency) }}
{{- $_ := set $config "concurrency" (int64 $loader.concurrency) }}
{{- end }}
{{- if not (kindIs "invalid" $loader.memoryLimit) }}
{{- $_ := set $config "memory_limit" (int64 $loader.memoryLimit) }}
{{- end }}
{{- if not (kindIs "invalid" $loader.distributed) }}
{{- $_ := set $config "distributed" $loader.distributed }}
{{- end }}
{{- if $config }}
{{- toJson $config }}
{{- end }}
{{- end }}

{{/*
The loader's arguments of `vllm serve` (list items at column 0).
*/}}
{{- define "modelservice.loaderArgs" -}}
{{- with .Values.loader.format }}
- --load-format
- {{ . | quote }}
{{- end }}
{{- with include "modelservice.loaderExtraConfig" . }}
- --model-loader-extra-config
- {{ . | quote }}
{{- end }}
{{- with .Values.loader.safetensorsLoadStrategy }}
- --safetensors-load-strategy
- {{ . | quote }}
{{- end }}
{{- end }}
