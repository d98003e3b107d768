{{/*
Names and labels of the example workload. The library templates in
_library.tpl use only nodowntime.values, nodowntime.configName and the
duration helpers below, so that they work from another chart's context too.
*/}}

{{- define "nodowntime.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "nodowntime.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "nodowntime.selectorLabels" -}}
app.kubernetes.io/name: {{ include "nodowntime.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "nodowntime.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "nodowntime.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/*
nodowntime.image: "repository:tag" or "repository@digest" of an image dict.
Argument: (list IMAGE-DICT DEFAULT-TAG).
*/}}
{{- define "nodowntime.image" -}}
{{- $img := index . 0 -}}
{{- if $img.digest -}}
{{- printf "%s@%s" $img.repository $img.digest -}}
{{- else -}}
{{- printf "%s:%s" $img.repository (toString (default (index . 1) $img.tag)) -}}
{{- end -}}
{{- end -}}

{{/*
nodowntime.durationMs: a duration string (250ms, 5s, 1m, 1h30m; the agent's
syntax, DESIGN §3) as an integer number of milliseconds. values.schema.json
has already checked the syntax; this fails on anything else all the same.
*/}}
{{- define "nodowntime.durationMs" -}}
{{- $d := toString . -}}
{{- if not (regexMatch "^([0-9]+(ms|h|m|s))+$" $d) -}}
{{- fail (printf "nodowntime: %q is not a duration (250ms, 5s, 1m, 1h30m)" $d) -}}
{{- end -}}
{{- $ms := 0 -}}
{{- range regexFindAll "[0-9]+(ms|h|m|s)" $d -1 -}}
{{- $n := regexFind "^[0-9]+" . -}}
{{- $unit := trimPrefix $n . -}}
{{- $mult := get (dict "ms" 1 "s" 1000 "m" 60000 "h" 3600000) $unit -}}
{{- $ms = add $ms (mul (atoi $n) $mult) -}}
{{- end -}}
{{- $ms -}}
{{- end -}}

{{/* nodowntime.durationSeconds: the same, rounded up to whole seconds */}}
{{- define "nodowntime.durationSeconds" -}}
{{- div (add (include "nodowntime.durationMs" . | atoi) 999) 1000 -}}
{{- end -}}
