{{/* The chart's name, overridable. */}}
{{- define "kruntimes.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's full name: the prefix of every object name. */}}
{{- define "kruntimes.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* The controller's object name. */}}
{{- define "kruntimes.controllerName" -}}
{{- printf "%s-controller" (include "kruntimes.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "kruntimes.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "kruntimes.labels" -}}
helm.sh/chart: {{ include "kruntimes.chart" . }}
{{ include "kruntimes.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: kruntimes
{{- end }}

{{/* Labels that select the controller's Pods; never change them after a release exists. */}}
{{- define "kruntimes.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kruntimes.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: controller
{{- end }}

{{- define "kruntimes.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "kruntimes.controllerName" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "kruntimes.controllerImage" -}}
{{- printf "%s:%s" .Values.image.controller.repository (default .Chart.AppVersion .Values.image.controller.tag) }}
{{- end }}

{{- define "kruntimes.agentImage" -}}
{{- printf "%s:%s" .Values.image.agent.repository (default .Chart.AppVersion .Values.image.agent.tag) }}
{{- end }}

{{/* Settings that cannot work together fail the render with a reason. */}}
{{- define "kruntimes.validate" -}}
{{- if and (gt (int .Values.replicas) 1) (not .Values.leaderElection.enabled) }}
{{- fail "replicas > 1 needs leaderElection.enabled=true: two active controllers would race" }}
{{- end }}
{{- if not (has .Values.logFormat (list "json" "console")) }}
{{- fail (printf "logFormat must be json or console, not %q" .Values.logFormat) }}
{{- end }}
{{- end }}
