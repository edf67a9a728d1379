{{/* The labels of every object: those deploy/kubernetes gives, and Helm's. */}}
{{- define "shoal.labels" -}}
app.kubernetes.io/name: shoal
app.kubernetes.io/part-of: shoal
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end }}

{{/* The image of both containers. */}}
{{- define "shoal.image" -}}
{{ printf "%s:%s" .Values.image.repository (toString .Values.image.tag) }}
{{- end }}

{{/* The registries containerd sends through the node. */}}
{{- define "shoal.registries" -}}
{{- if .Values.containerd.registries }}
{{- toYaml .Values.containerd.registries }}
{{- else }}
{{- range .Values.upstreams }}
- {{ .name }}
{{- end }}
{{- end }}
{{- end }}
