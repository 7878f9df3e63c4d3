{{/* The chart's name, overridable. */}}
{{- define "berth.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The release's full name: the release name alone when it already contains the chart's
name (a release called "berth" makes objects called "berth", not "berth-berth").
*/}}
{{- define "berth.fullname" -}}
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

{{- define "berth.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels that select the operator's Pods; never change them after a release exists. */}}
{{- define "berth.selectorLabels" -}}
app.kubernetes.io/name: {{ include "berth.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels on every object of the release. */}}
{{- define "berth.labels" -}}
helm.sh/chart: {{ include "berth.chart" . }}
{{ include "berth.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: berth
{{- end }}

{{- define "berth.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "berth.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "berth.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/*
Checks a schema cannot express; they fail the render with a message that says what to do.
*/}}
{{- define "berth.validate" -}}
{{- if and (gt (int .Values.replicas) 1) (not (or .Values.ha.enabled .Values.sharding.enabled)) }}
{{- fail "replicas > 1 needs ha.enabled=true or sharding.enabled=true: standalone replicas would all reconcile the same objects" }}
{{- end }}
{{- if and .Values.ha.enabled .Values.sharding.enabled }}
{{- fail "ha.enabled and sharding.enabled exclude each other: with sharding every replica works, on its own shards, and takes over a dead one's" }}
{{- end }}
{{- if eq (int .Values.operator.metricsPort) (int .Values.operator.healthPort) }}
{{- fail "operator.metricsPort and operator.healthPort must differ" }}
{{- end }}
{{- if and .Values.backstage.catalog.enabled (has (int .Values.backstage.catalog.port) (list (int .Values.operator.metricsPort) (int .Values.operator.healthPort))) }}
{{- fail "backstage.catalog.port must differ from operator.metricsPort and operator.healthPort" }}
{{- end }}
{{- end }}

{{/*
Checks of the RBAC values a schema cannot express well; they fail the render with a
message that says why.
*/}}
{{- define "berth.validateRbac" -}}
{{- range $key := list "claims" "templateResources" }}
{{- range (index $.Values.rbac $key) }}
{{- if and (eq .apiGroup "") (has "secrets" .resources) }}
{{- fail (printf "rbac.%s must not list secrets: Berth reads a Secret's keys by name (get) and never writes Secrets" $key) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/*
RBAC rules for what lives in a Workload's namespace: cluster-wide by default, bound
per namespace when operator.namespaces is set.
*/}}
{{- define "berth.namespacedRules" -}}
# Berth's informers list and watch Workloads (with --shards, only its shards' buckets
# and the unlabelled ones) and wake their reconciler.
- apiGroups: ["berth.dev"]
  resources: ["workloads"]
  verbs: ["get", "list", "watch"]
# Berth's finalizer (berth.dev/cleanup), held while a Workload has resources, is added
# and removed by server-side apply of metadata.finalizers alone, under a field manager
# of its own: "patch" on the Workload itself.
- apiGroups: ["berth.dev"]
  resources: ["workloads"]
  verbs: ["patch"]
# A Promotion writes its target Workload's spec, as a person applying it would, and only
# that one: "create" where it is missing, else "update" (a replace conditional on the
# resourceVersion its pre-flight checks saw). Nothing else of Berth writes a spec.
- apiGroups: ["berth.dev"]
  resources: ["workloads"]
  verbs: ["create", "update"]
# Revisions: recorded ("create") when a Workload's generation becomes Ready, listed by
# the Workload's label, read by name, and the oldest collected ("delete"). Never changed:
# the API server keeps them immutable.
- apiGroups: ["berth.dev"]
  resources: ["workloadrevisions"]
  verbs: ["get", "list", "create", "delete"]
# Promotions and their approvals: listed and watched by Berth's informers; a
# Promotion's status is Berth's.
- apiGroups: ["berth.dev"]
  resources: ["promotions", "promotionapprovals"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["berth.dev"]
  resources: ["promotions/status"]
  verbs: ["patch"]
# Previews: Berth's informers watch them and wake their reconciler; Berth holds its
# finalizer on each ("patch"), writes its status, and deletes one whose preview expired. Where Berth
# watches only some namespaces, it makes no previews, and says so on their status.
- apiGroups: ["berth.dev"]
  resources: ["previews"]
  verbs: ["get", "list", "watch", "patch", "delete"]
- apiGroups: ["berth.dev"]
  resources: ["previews/status"]
  verbs: ["patch"]
# A Workload's ServiceAccount, read by name for its imagePullSecrets: the Secrets Berth
# resolves the Workload's image tags to digests with (a Pod that reports its digest needs
# none of this).
- apiGroups: [""]
  resources: ["serviceaccounts"]
  verbs: ["get"]
# An Environment deleted under deletionPolicy Delete takes its Workloads with it: Berth
# deletes them (each then releases its resources) before the Environment goes.
- apiGroups: ["berth.dev"]
  resources: ["workloads"]
  verbs: ["delete"]
# Berth writes a Workload's status (server-side apply on the status subresource).
- apiGroups: ["berth.dev"]
  resources: ["workloads/status"]
  verbs: ["patch"]
# Children carry an owner reference to their Workload with blockOwnerDeletion. Where
# the OwnerReferencesPermissionEnforcement admission plugin is on (OpenShift, among
# others), setting it needs "update" on the owner's finalizers subresource. A custom
# resource serves no such endpoint: this grants that check and nothing else.
- apiGroups: ["berth.dev"]
  resources: ["workloads/finalizers"]
  verbs: ["update"]
# A Workload's children. Berth's informers list and watch them (by Berth's labels) to
# wake their owner; Berth server-side applies them ("patch", and "create" for an
# apply that creates), dry-runs applies to detect drift, and prunes ("delete") the
# ones no longer desired.
- apiGroups: ["apps"]
  resources: ["deployments"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: [""]
  resources: ["services", "configmaps"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
# The Pods of a Workload's Deployment (filtered by Berth's labels): listed and watched
# to say on the Workload why they are not Ready (ImagePullBackOff, CrashLoopBackOff,
# Unschedulable...). Never get, create, delete, exec or logs.
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["list", "watch"]
# A connection Secret (a claim's, or an existing one a provisioner names): Berth reads
# which keys it has, by name, to know which outputs exist. Values never leave that read
# (containers get secretKeyRefs). Never list or watch: no Secret comes down unasked;
# never any write.
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get"]
{{- with .Values.rbac.templateResources }}
# Objects that template provisioners render (rbac.templateResources; their Deployments,
# Services and ConfigMaps fall under the rules above): read by name, server-side
# applied ("create" for an apply that creates, "patch", dry-run applies), deleted or
# unlabelled (a merge patch) as the deletion policy says, and listed by Berth's labels
# to find what a crash left behind (the sweep). Never watched.
{{- range . }}
- apiGroups: [{{ .apiGroup | quote }}]
  resources: {{ toJson .resources }}
  verbs: ["get", "list", "create", "patch", "delete"]
{{- end }}
{{- end }}
{{- with .Values.rbac.claims }}
# Crossplane claims that crossplane provisioners create (rbac.claims): read by name,
# server-side applied, deleted or unlabelled (a merge patch) as the deletion policy
# says, and listed and watched by Berth's managed-by label: a claim's change wakes its
# Workloads (no polling), and the sweep finds what a crash left behind.
{{- range . }}
- apiGroups: [{{ .apiGroup | quote }}]
  resources: {{ toJson .resources }}
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
{{- end }}
{{- end }}
{{- end }}

{{/*
What previews need of the operator, cluster-wide (previews need a cluster-wide operator:
their namespaces are made as they come).
*/}}
{{- define "berth.previewRules" -}}
# A Preview's preview Environment: made and kept by server-side apply ("create" for the
# apply that creates it; "patch" is granted above), deleted when its Preview goes and
# when it expires.
- apiGroups: ["berth.dev"]
  resources: ["environments"]
  verbs: ["create", "delete"]
# Copies of a base's Workloads in its previews: created by server-side apply (the
# "patch" and "delete" on Workloads are granted above).
- apiGroups: ["berth.dev"]
  resources: ["workloads"]
  verbs: ["create"]
# A teardown deletes, last, the namespace Berth created for the Environment that goes
# (only one it created: annotated berth.dev/created-by).
- apiGroups: [""]
  resources: ["namespaces"]
  verbs: ["delete"]
# The RoleBindings of a base's previews.creators: in its namespace and in each preview's,
# by their two names ("create" cannot be limited by name; what a binding may grant is,
# by the rule below).
- apiGroups: ["rbac.authorization.k8s.io"]
  resources: ["rolebindings"]
  verbs: ["create"]
- apiGroups: ["rbac.authorization.k8s.io"]
  resources: ["rolebindings"]
  verbs: ["get", "patch", "delete"]
  resourceNames: ["berth-preview-requesters", "berth-preview-editors"]
# Binding those two ClusterRoles, and no other: "bind" lets Berth grant what they hold
# without holding it (it never edits Workloads on anyone's behalf), and names them.
- apiGroups: ["rbac.authorization.k8s.io"]
  resources: ["clusterroles"]
  verbs: ["bind"]
  resourceNames: ["berth-preview-editor", "berth-preview-requester"]
{{- end }}
