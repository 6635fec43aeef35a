{{/* The name of the chart's objects: the release's, unless it already says pathway. */}}
{{- define "pathway.fullname" -}}
{{- if contains "pathway" .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-pathway" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "pathway.selectorLabels" -}}
app.kubernetes.io/name: pathway
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "pathway.labels" -}}
{{ include "pathway.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}
