{{- define "kruntimes-runtimes.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "kruntimes-runtimes.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on the Runtime objects. Expects (dict "root" $). */}}
{{- define "kruntimes-runtimes.labels" -}}
helm.sh/chart: {{ include "kruntimes-runtimes.chart" .root }}
{{ include "kruntimes-runtimes.podLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- end }}

{{/* Labels on the Runtime Pods (the controller adds runtime=<name> itself). */}}
{{- define "kruntimes-runtimes.podLabels" -}}
app.kubernetes.io/name: {{ include "kruntimes-runtimes.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: runtime
app.kubernetes.io/part-of: kruntimes
{{- end }}

{{/* The Runtime Server command for a built-in server, or the entry's own. */}}
{{- define "kruntimes-runtimes.command" -}}
{{- $rt := . }}
{{- if $rt.command }}
{{- toYaml $rt.command }}
{{- else if eq $rt.server "bash" }}
{{- toYaml (list "python" "-m" "kruntimes.runtimes.bash_server") }}
{{- else if eq $rt.server "python" }}
{{- toYaml (list "python" "-m" "kruntimes.runtimes.python_server") }}
{{- end }}
{{- end }}

{{/*
Arguments of a built-in server. $(KRUNTIMES_CAPACITY) is expanded by Kubernetes from the
container's env, so the capacity is set in one place.
*/}}
{{- define "kruntimes-runtimes.args" -}}
{{- $rt := . }}
{{- if $rt.args }}
{{- toYaml $rt.args }}
{{- else if has $rt.server (list "bash" "python") }}
{{- $args := list "--socket" "/run/kruntimes/runtime.sock" "--capacity" "$(KRUNTIMES_CAPACITY)" }}
{{- if and (eq $rt.server "python") $rt.preload }}
{{- $args = concat $args (list "--preload" (join "," $rt.preload)) }}
{{- end }}
{{- toYaml $args }}
{{- end }}
{{- end }}

{{/* Fails the render, with a reason, for a runtime entry that cannot work. */}}
{{- define "kruntimes-runtimes.validate" -}}
{{- $rt := . }}
{{- if not $rt.name }}
{{- fail "every entry of runtimes needs a name" }}
{{- end }}
{{- if or (gt (len $rt.name) 63) (not (regexMatch "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$" $rt.name)) }}
{{- fail (printf "runtime name %q must be a DNS label: lower-case letters, digits and '-', at most 63" $rt.name) }}
{{- end }}
{{- if not (has $rt.server (list "bash" "python" "custom")) }}
{{- fail (printf "runtime %q: server must be bash, python or custom, not %q" $rt.name (toString $rt.server)) }}
{{- end }}
{{- if and (eq $rt.server "custom") (not $rt.command) }}
{{- fail (printf "runtime %q: a custom server needs command" $rt.name) }}
{{- end }}
{{- if and $rt.preload (ne $rt.server "python") }}
{{- fail (printf "runtime %q: preload is for the python server only" $rt.name) }}
{{- end }}
{{- if not (and $rt.image $rt.image.repository) }}
{{- fail (printf "runtime %q needs image.repository" $rt.name) }}
{{- end }}
{{- if lt (int $rt.capacity.runs) 1 }}
{{- fail (printf "runtime %q: capacity.runs must be a whole number >= 1" $rt.name) }}
{{- end }}
{{- if lt (int $rt.replicas) 0 }}
{{- fail (printf "runtime %q: replicas must be >= 0" $rt.name) }}
{{- end }}
{{- end }}

{{/*
Sets every key of .src into .dst, descending into maps present in both, so an entry's
zero values (replicas: 0) are kept and its maps refine the defaults' key by key.
*/}}
{{- define "kruntimes-runtimes.overlay" -}}
{{- $dst := .dst }}
{{- range $key, $value := .src }}
{{- $current := get $dst $key }}
{{- if and (kindIs "map" $value) (kindIs "map" $current) }}
{{- include "kruntimes-runtimes.overlay" (dict "dst" $current "src" $value) }}
{{- else }}
{{- $_ := set $dst $key $value }}
{{- end }}
{{- end }}
{{- end }}
