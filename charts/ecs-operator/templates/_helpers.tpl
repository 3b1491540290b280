{{/* Chart name. */}}
{{- define "ecs-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: <release>-<chart>, or the release name when it already contains the chart name. */}}
{{- define "ecs-operator.fullname" -}}
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

{{- define "ecs-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "ecs-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ecs-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "ecs-operator.labels" -}}
helm.sh/chart: {{ include "ecs-operator.chart" . }}
{{ include "ecs-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: ecs-operator
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "ecs-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "ecs-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "ecs-operator.leaseName" -}}
{{- default (printf "%s-leader" (include "ecs-operator.fullname" .)) .Values.leaderElection.leaseName }}
{{- end }}

{{/*
A duration value as the operator's flag takes it: strings as they are, numbers (plain
seconds) without float formatting (values files give 1000000 as a float: not 1e+06).
*/}}
{{- define "ecs-operator.duration" -}}
{{- if kindIs "string" . }}{{ . }}{{ else }}{{ int64 . }}{{ end }}
{{- end }}

{{/*
A duration value (values.schema.json's definitions.duration: <n>ms|s|m|h or plain
seconds) in milliseconds, as the operator's parse_duration reads it.
*/}}
{{- define "ecs-operator.durationMs" -}}
{{- $s := include "ecs-operator.duration" . | trim }}
{{- $digits := regexFind "^[0-9]+" $s }}
{{- $n := int64 (atoi $digits) }}
{{- $unit := trimPrefix $digits $s }}
{{- if eq $unit "ms" }}{{ $n }}
{{- else if eq $unit "m" }}{{ mul $n 60000 }}
{{- else if eq $unit "h" }}{{ mul $n 3600000 }}
{{- else }}{{ mul $n 1000 }}
{{- end }}
{{- end }}

{{/*
Leader election timing, checked as the operator checks it at start (it would exit).
*/}}
{{- define "ecs-operator.checkLeaderElection" -}}
{{- $le := .Values.leaderElection }}
{{- if $le.enabled }}
{{- $lease := include "ecs-operator.durationMs" $le.leaseDuration | int64 }}
{{- $renew := include "ecs-operator.durationMs" $le.renewDeadline | int64 }}
{{- $retry := include "ecs-operator.durationMs" $le.retryPeriod | int64 }}
{{- if ge $renew $lease }}
{{- fail (printf "leaderElection.renewDeadline (%v) must be shorter than leaderElection.leaseDuration (%v)" $le.renewDeadline $le.leaseDuration) }}
{{- end }}
{{- if ge $retry $renew }}
{{- fail (printf "leaderElection.retryPeriod (%v) must be shorter than leaderElection.renewDeadline (%v)" $le.retryPeriod $le.renewDeadline) }}
{{- end }}
{{- end }}
{{- end }}

{{- define "ecs-operator.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/*
What the operator does with the Kubernetes API, per watched scope (all namespaces via the
ClusterRole, or each watched namespace via a Role):
- its three kinds: get (the service controller reads its EcsCluster / EcsTaskDef), list
  and watch (controllers; the task definition controller lists EcsServices), patch (JSON
  patch of metadata.finalizers). No create, update or delete.
- their status subresource: server-side apply (patch); get for kubectl/SSA symmetry.
- their finalizers subresource: update (the usual grant of a controller that manages
  finalizers; admission plugins such as OwnerReferencesPermissionEnforcement check it).
- events.k8s.io/v1 Events (kube-runtime's Recorder) in the object's namespace: create,
  and patch for repeated events (series).
Keep config/rbac/role.yaml in step: tests/packaging/run.sh compares both as sets.
*/}}
{{- define "ecs-operator.managerRules" -}}
- apiGroups: ["ecsoperator.io"]
  resources: ["ecsclusters", "ecstaskdefs", "ecsservices"]
  verbs: ["get", "list", "watch", "patch"]
- apiGroups: ["ecsoperator.io"]
  resources: ["ecsclusters/status", "ecstaskdefs/status", "ecsservices/status"]
  verbs: ["get", "patch"]
- apiGroups: ["ecsoperator.io"]
  resources: ["ecsclusters/finalizers", "ecstaskdefs/finalizers", "ecsservices/finalizers"]
  verbs: ["update"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end }}

{{/*
Leader election (src/reconciler/leader.rs): get the Lease, create it when missing,
update (replace) it to acquire, renew and release. Only in the release namespace, and
get/update only on the Lease of this release (create cannot be limited by name). With
shards > 1, get/list/update/delete on the release namespace's Leases.
*/}}
{{- define "ecs-operator.leaderElectionRules" -}}
- apiGroups: ["coordination.k8s.io"]
  resources: ["leases"]
  verbs: ["create"]
{{- if gt (int .Values.shards) 1 }}
{{- /* Shards (src/reconciler/shards.rs): the shard Leases and one membership Lease per
pod (named after it, deleted when the pod stops or is long gone), listed by label every
retry period; list and pod-named Leases cannot be limited by resourceNames. */}}
- apiGroups: ["coordination.k8s.io"]
  resources: ["leases"]
  verbs: ["get", "list", "update", "delete"]
{{- else }}
- apiGroups: ["coordination.k8s.io"]
  resources: ["leases"]
  resourceNames: [{{ include "ecs-operator.leaseName" . | quote }}]
  verbs: ["get", "update"]
{{- end }}
{{- end }}

{{/*
Default cluster id (clusterId empty; src/main.rs): the operator reads the UID of the
kube-system Namespace once at start. Cluster-scoped (namespaces are), so a ClusterRole in
every mode, limited to that one object and to get.
*/}}
{{- define "ecs-operator.clusterIdRules" -}}
- apiGroups: [""]
  resources: ["namespaces"]
  resourceNames: ["kube-system"]
  verbs: ["get"]
{{- end }}
