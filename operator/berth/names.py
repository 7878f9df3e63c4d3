"""Every name Berth writes into, or reads from, objects' metadata — defined once, here.

Label and annotation keys, their values where they are fixed, finalizers, the field
manager and the Event's reporter. They are part of Berth's contract with the cluster:
a renamed key orphans every object labelled with the old one, so the values are pinned
by ``tests/unit/test_names.py``. Each name says what it marks and who reads it.

Pure constants: every layer may import this module, and it imports nothing of Berth.
"""

from __future__ import annotations

from typing import Final

# -- labels Berth puts on what it makes -----------------------------------------------------

# The inventory label, value the Workload's name: on every child of a Workload (and on the
# objects of its unshared resources). kube/handlers list, watch and prune children by it.
WORKLOAD_LABEL: Final = "berth.dev/workload"
# Kubernetes' recommended label, value the Workload's name: for people and dashboards.
NAME_LABEL: Final = "app.kubernetes.io/name"
# Kubernetes' recommended label, value MANAGED_BY_VALUE: on everything Berth makes. The
# operator's watches and its ownership checks (kube.children) select on it.
MANAGED_BY_LABEL: Final = "app.kubernetes.io/managed-by"
# The value of MANAGED_BY_LABEL on everything Berth makes.
MANAGED_BY_VALUE: Final = "berth"
# The label selector of everything Berth makes (server-side filtering of watches and lists).
MANAGED_SELECTOR: Final = f"{MANAGED_BY_LABEL}={MANAGED_BY_VALUE}"
# On an Environment's Namespace, value the Environment's name: for people and policies
# that select an Environment's namespace (Berth itself finds it by spec.namespace).
ENVIRONMENT_LABEL: Final = "berth.dev/environment"
# On a provisioned resource's objects, value the resource's identity: handlers.resources
# finds, adopts and releases resource objects by it; watches skip them as children.
RESOURCE_LABEL: Final = "berth.dev/resource"
# On a provisioned resource's objects, value the Score resource type (postgres, route...).
RESOURCE_TYPE_LABEL: Final = "berth.dev/resource-type"
# On a shared resource's objects (an ``id``), value "true": they carry no WORKLOAD_LABEL.
SHARED_LABEL: Final = "berth.dev/shared"
SHARED_VALUE: Final = "true"

# On a preview's copy of a base Workload, value the base's namespace (the copy has the
# same name there): berth.preview.copies tells copies from the preview's own Workloads by
# it, and the SOURCE printer column of Workloads shows it.
COPY_OF_LABEL: Final = "berth.dev/copy-of"
# On a preview Environment and on its Namespace, value the base Environment's name: the
# ValidatingAdmissionPolicy refuses a Preview in a namespace that carries it (a preview
# cannot be a base), and people select a base's previews by it.
PREVIEW_OF_LABEL: Final = "berth.dev/preview-of"

# -- annotations Berth puts on what it makes -----------------------------------------------

# On the Pod template, value a hash of the files' ConfigMap: a change of files rolls Pods.
CHECKSUM_ANNOTATION: Final = "berth.dev/config-checksum"
# On every child, value the hash of the manifest last applied: kube.children skips an
# apply (and its dry run) when the desired manifest still has this hash.
APPLIED_HASH_ANNOTATION: Final = "berth.dev/applied-hash"
# On a resource's objects kept by deletionPolicy Retain, value the Workload that let them
# go: no later sweep takes them (kube.resources); removed when a Workload uses them again.
RETAINED_ANNOTATION: Final = "berth.dev/retained-from"
# On a shared resource's objects, value the Workload whose definition they hold
# (provision.sharing: only the definer writes them).
DEFINED_BY_ANNOTATION: Final = "berth.dev/defined-by"
# On a shared resource's objects, value the fingerprint of that definition
# (provision.sharing: a user with another fingerprint gets SharedResourceConflict).
DEFINITION_ANNOTATION: Final = "berth.dev/definition"

# On a Namespace Berth created for an Environment, value the Environment's name: only such
# a namespace is deleted when its Environment goes under deletionPolicy Delete
# (berth.preview.teardown); a namespace that was there before Berth is never deleted.
CREATED_BY_ANNOTATION: Final = "berth.dev/created-by"
# On a preview Environment made from a Preview, value "<namespace>/<name>" of that
# Preview: the Preview's reconciler finds its Environment by it, and an Environment of
# that name made for another Preview is not taken over.
PREVIEW_REQUEST_ANNOTATION: Final = "berth.dev/preview-request"

# -- annotations people put on Berth's objects -----------------------------------------------

# On a preview Environment or a Preview, value "true": the preview never expires
# (berth.preview.expiry). Any other value, or none, lets the TTL run.
KEEP_ANNOTATION: Final = "berth.dev/keep"

# -- annotations on the entities Berth gives Backstage (berth.backstage) -----------------------

# On a Resource entity, value the names of the outputs Workloads read from it (never values).
OUTPUTS_ANNOTATION: Final = "berth.dev/outputs"

# -- annotations Berth reads on its inputs -------------------------------------------------

# A Score annotation on a Workload, or an annotation on an Environment: the owner of the
# entities Berth gives Backstage (a Backstage entity reference such as group:payments).
OWNER_ANNOTATION: Final = "berth.dev/owner"

# -- promotion (berth.promotion, handlers.promotion, cli.promote) ----------------------------

# On a Workload a Promotion wrote, value "<namespace>/<name>" of that Promotion: the
# revision recorded when the Workload becomes Ready names it in its history.
PROMOTION_ANNOTATION: Final = "berth.dev/promotion"
# On a Workload a Promotion (or `berth promote --write`) wrote, value
# "<namespace>/<name>" of the WorkloadRevision it came from.
PROMOTED_REVISION_ANNOTATION: Final = "berth.dev/promoted-revision"
# The field manager of a Promotion's writes to its target Workload (not FIELD_MANAGER:
# the Workload's spec is the user's, and managedFields say a promotion wrote it).
PROMOTION_FIELD_MANAGER: Final = "berth-promotion"
# The field manager of a Workload's status.revision and status.history: apart from the
# rest of its status, which the Workload's reconcile applies whole (FIELD_MANAGER).
REVISION_FIELD_MANAGER: Final = "berth-revisions"

# -- labels of the sharding Leases (coordination.sharding) ---------------------------------------

# On every Lease of sharded replicas, value "shard" or "member": the replicas list their
# Leases by it (coordination.sharding).
SHARD_LEASE_LABEL: Final = "berth.dev/shard-lease"
# On a shard's Lease, value the shard's number.
SHARD_LABEL: Final = "berth.dev/shard"
# On a replica's member Lease, value its --shards: replicas that disagree hold nothing.
SHARD_COUNT_LABEL: Final = "berth.dev/shards"
# On everything Berth renders for a Workload (the Pod template too) and on the namespace
# of an Environment, value the namespace's bucket (render.labels.shard_bucket, 0-63): a
# function of the namespace alone, so it never changes. With --shards, the Workloads get
# it too (the shard's owner adds it), and each replica lists and watches only the buckets
# of the shards it holds (handlers.informers).
SHARD_BUCKET_LABEL: Final = "berth.dev/shard-bucket"

# -- names others define, which Berth writes or reads ----------------------------------------

# Pod Security admission's labels, on an Environment's Namespace (render.namespace).
POD_SECURITY_ENFORCE_LABEL: Final = "pod-security.kubernetes.io/enforce"
POD_SECURITY_ENFORCE_VERSION_LABEL: Final = "pod-security.kubernetes.io/enforce-version"
POD_SECURITY_WARN_LABEL: Final = "pod-security.kubernetes.io/warn"
# Score's annotations on a Workload (its input): the kind to run it as (Deployment only)
# and its Service's name (api.workload validates them; provision.services reads the name).
SCORE_KIND_ANNOTATION: Final = "k8s.score.dev/kind"
SCORE_SERVICE_NAME_ANNOTATION: Final = "k8s.score.dev/service-name"
# The domain an image reference that names no registry is read with ("nginx:1.27" is
# "<DEFAULT_IMAGE_DOMAIN>/library/nginx:1.27"): the container image reference grammar's
# default, which container runtimes apply. Berth never contacts it; the Environment
# policy's allowedRegistries compares images in this full form (render.images), so a
# prefix list cannot be dodged by leaving the registry out.
DEFAULT_IMAGE_DOMAIN: Final = "docker.io"
# The path an image reference with neither registry nor namespace is read under.
DEFAULT_IMAGE_NAMESPACE: Final = "library"
# Backstage's Kubernetes plugin finds an entity's objects by this label, value the
# component's id (render.labels.component_id): on every child of a Workload, its Pod
# template included. The same key, as a Score annotation, names another component, and
# as an entity annotation (berth.backstage) says which label value to look for.
BACKSTAGE_KUBERNETES_ID: Final = "backstage.io/kubernetes-id"
# Backstage's entity annotations: only look in this namespace (the Environment's), and
# find the objects by this label selector instead (a provisioned resource's).
BACKSTAGE_KUBERNETES_NAMESPACE: Final = "backstage.io/kubernetes-namespace"
BACKSTAGE_LABEL_SELECTOR: Final = "backstage.io/kubernetes-label-selector"
# Argo CD's marks on an object it syncs from git: the tracking annotation (its default
# tracking method) and the instance label (its label tracking method; Helm sets it too).
# A Promotion does not write a Workload that carries either (berth.promotion.preflight);
# a preview's copy of a base Workload never takes the label, or Argo CD would count the
# copy as the base's (preview.copies).
ARGOCD_TRACKING_ANNOTATION: Final = "argocd.argoproj.io/tracking-id"
ARGOCD_INSTANCE_LABEL: Final = "app.kubernetes.io/instance"
# kubectl's copy of the last applied object: the watch cache drops it (handlers.cache).
LAST_APPLIED_ANNOTATION: Final = "kubectl.kubernetes.io/last-applied-configuration"

# -- finalizers, field manager, Events -------------------------------------------------------

# Berth's finalizer on Workloads and Environments (kube.finalizers): held while a
# Workload has resources to release, or an Environment's deletion policy has work to do.
FINALIZER: Final = "berth.dev/cleanup"
# The finalizer kopf would put on objects if it ever needed one (handlers.watch sets it;
# Berth registers no handler that makes kopf add it).
KOPF_FINALIZER: Final = "berth.dev/kopf"
# The server-side apply field manager of every child and every status Berth writes;
# kube.children tells drift (someone else wrote after us) by the managedFields entries.
FIELD_MANAGER: Final = "berth"
# The field manager of the Workloads Berth copies into a preview from its base: a manager
# of their own, so that another writer of a copy's spec is told apart from Berth, and
# Berth can give up its fields of a copy (berth.preview.copies) without touching its
# finalizer or status.
PREVIEW_FIELD_MANAGER: Final = "berth-preview"
# The ClusterRoles the chart defines for whoever makes previews, and the RoleBindings by
# which Berth binds a base's previews.creators to them (berth.preview.access): in the
# base's namespace, to make Previews; in each preview's namespace, to edit its Workloads.
# Cluster-wide names, one Berth per cluster: the operator's RBAC names them (bind, and
# get/patch/delete of the bindings).
PREVIEW_REQUESTER_ROLE: Final = "berth-preview-requester"
PREVIEW_EDITOR_ROLE: Final = "berth-preview-editor"
PREVIEW_REQUESTERS_BINDING: Final = "berth-preview-requesters"
PREVIEW_EDITORS_BINDING: Final = "berth-preview-editors"
# An Event's source.component (what `kubectl describe` shows under From).
EVENT_SOURCE_COMPONENT: Final = "berth"
# An Event's reportingComponent (events.k8s.io readers group Events by it).
EVENT_REPORTING_COMPONENT: Final = "berth.dev/operator"
