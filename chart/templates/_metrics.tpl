{{/*
A PromQL string literal: the value in double quotes, with backslashes and double quotes
escaped (a served model name may hold either).
*/}}
{{- define "modelservice.promqlString" -}}
{{- . | replace "\\" "\\\\" | replace "\"" "\\\"" | printf "\"%s\"" }}
{{- end }}

{{/*
A YAML single-quoted scalar (only a single quote needs escaping there, by doubling it), so
that PromQL expressions with their double-quoted strings read as written.
*/}}
{{- define "modelservice.singleQuoted" -}}
{{- . | replace "'" "''" | printf "'%s'" }}
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
