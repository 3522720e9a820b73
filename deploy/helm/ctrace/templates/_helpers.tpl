{{- define "ctrace.name" -}}
{{- .Chart.Name -}}
{{- end -}}

{{- define "ctrace.labels" -}}
app.kubernetes.io/name: {{ include "ctrace.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "ctrace.selector" -}}
app.kubernetes.io/name: {{ include "ctrace.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* a volume name for a host path: /run/containerd/runc -> state-run-containerd-runc */}}
{{- define "ctrace.stateVolume" -}}
{{- printf "state%s" (. | replace "/" "-") | trunc 63 | trimSuffix "-" -}}
{{- end -}}
