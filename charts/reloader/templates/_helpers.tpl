{{/* Names, labels and the pieces several templates share. */}}

{{- define "reloader.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "reloader.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "reloader.selectorLabels" -}}
app.kubernetes.io/name: {{ include "reloader.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "reloader.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "reloader.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: reloader
{{- end -}}

{{- define "reloader.serviceAccountName" -}}
{{- if .Values.reloader.serviceAccount.create -}}
{{- default (include "reloader.fullname" .) .Values.reloader.serviceAccount.name -}}
{{- else -}}
{{- required "reloader.serviceAccount.name is required when serviceAccount.create is false" .Values.reloader.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "reloader.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* The Secret holding the hash key, and the leader election Lease: the release's own. */}}
{{- define "reloader.hashKeySecret" -}}
{{- printf "%s-hash-key" (include "reloader.fullname" .) -}}
{{- end -}}

{{- define "reloader.leaseName" -}}
{{- printf "%s-leader" (include "reloader.fullname" .) -}}
{{- end -}}

{{/* The namespaces watched when reloader.watchGlobally is false, as a JSON list. */}}
{{- define "reloader.watchNamespaces" -}}
{{- $namespaces := .Values.reloader.watchNamespaces | default (list .Release.Namespace) -}}
{{- toJson (uniq $namespaces) -}}
{{- end -}}

{{/*
What watching and rolling takes, the same cluster-wide (ClusterRole) or per namespace (Role):
read ConfigMaps and Secrets, read and patch the workloads it rolls (the patch touches only
reloader's two annotations, or an Argo Rollout's restartAt), delete and create Jobs (a Job's
template is immutable: that is the only way to reload one), create Events. Nothing else.
*/}}
{{- define "reloader.watchRules" -}}
- apiGroups: [""]
  resources: [configmaps, secrets]
  verbs: [get, list, watch]
- apiGroups: [apps]
  resources: [deployments, statefulsets, daemonsets]
  verbs: [get, list, watch, patch]
- apiGroups: [batch]
  resources: [cronjobs]
  verbs: [get, list, watch, patch]
- apiGroups: [batch]
  resources: [jobs]
  verbs: [get, list, watch, patch, delete, create]
- apiGroups: [argoproj.io]
  resources: [rollouts]
  verbs: [get, list, watch, patch]
- apiGroups: [""]
  resources: [events]
  verbs: [create]
{{- end -}}

{{/* Values that cannot work together fail the render, naming the value. */}}
{{- define "reloader.validate" -}}
{{- $r := .Values.reloader -}}
{{- if and $r.ignoreSecrets $r.ignoreConfigMaps -}}
{{- fail "reloader.ignoreSecrets and reloader.ignoreConfigMaps cannot both be true: nothing would be watched" -}}
{{- end -}}
{{- if and (gt (int $r.deployment.replicas) 1) (not $r.enableHA) -}}
{{- fail "reloader.deployment.replicas > 1 needs reloader.enableHA: true (leader election), or every replica would act" -}}
{{- end -}}
{{- if and $r.namespaceSelector (not $r.watchGlobally) -}}
{{- fail "reloader.namespaceSelector needs reloader.watchGlobally: true (it selects among all namespaces)" -}}
{{- end -}}
{{- if and .Values.gitops.enabled (not .Values.gitops.gitUrl) -}}
{{- fail "gitops.enabled needs gitops.gitUrl" -}}
{{- end -}}
{{- if regexMatch "^[A-Za-z][A-Za-z0-9+.-]*://[^/@]*:[^/@]*@" .Values.gitops.gitUrl -}}
{{- fail "gitops.gitUrl must not carry a password or token: put it in the Secret gitops.secretName (key token)" -}}
{{- end -}}
{{- if and .Values.gitops.enabled .Values.gitops.webhook.enabled (not .Values.gitops.secretName) -}}
{{- fail "gitops.webhook.enabled needs gitops.secretName (a Secret with the key webhook-secret)" -}}
{{- end -}}
{{- end -}}
