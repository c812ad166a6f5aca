{{/*
A PromQL string literal: the value in double quotes, with backslashes and double quotes
escaped (a served model name may hold either).
*/}}
{{- define "modelservice.promqlString" -}}
{{- . | replace "\\" "\\\\" | replace "\"" "\\\"" | printf "\"%s\"" }}
{{- end }}

{{/*
A PromQL expression as a YAML scalar: a JSON string, which YAML reads as a double-quoted
scalar with every character (quotes, control characters) escaped.
*/}}
{{- define "modelservice.singleQuoted" -}}
{{- . | toJson }}
{{- end }}

{{/*
Labels of a metrics object: the chart's labels, then the user's extra labels over them; a
user's null removes a label (e.g. the default Grafana sidecar label).
Usage: include "modelservice.metricsLabels" (list . .Values.metrics.dashboard.labels)
*/}}
{{- define "modelservice.metricsLabels" -}}
{{- $root := index . 0 }}
{{- $labels := include "modelservice.labels" $root | fromYaml }}
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
Labels of one alert: its severity, then metrics.prometheusRule.additionalLabels over it.
Usage: include "modelservice.alertLabels" (list $rule .severity)
*/}}
{{- define "modelservice.alertLabels" -}}
{{- $labels := dict "severity" (index . 1) }}
{{- range $key, $value := ((index . 0).additionalLabels | default dict) }}
{{- $_ := set $labels $key $value }}
{{- end }}
{{- toYaml $labels }}
{{- end }}

{{/*
A Prometheus duration ("1m30s", the schema checks its form) in milliseconds.
*/}}
{{- define "modelservice.durationMs" -}}
{{- $units := dict "ms" 1 "s" 1000 "m" 60000 "h" 3600000 "d" 86400000 "w" 604800000 "y" 31536000000 }}
{{- $total := 0 }}
{{- range regexFindAll "[0-9]+(ms|s|m|h|d|w|y)" (toString .) -1 }}
{{- $number := regexFind "^[0-9]+" . }}
{{- $total = add $total (mul (int64 $number) (index $units (trimPrefix $number .))) }}
{{- end }}
{{- $total }}
{{- end }}
