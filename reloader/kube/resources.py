"""The API resources reloader reads and writes, and their REST paths."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Resource:
    """A namespaced resource: enough to build its list, watch and item paths."""

    kind: str
    api: str
    """``/api/v1`` or ``/apis/<group>/<version>``."""
    plural: str

    @property
    def api_version(self) -> str:
        return self.api.removeprefix("/apis/").removeprefix("/api/")

    def collection(self, namespace: str | None) -> str:
        """The list/watch path in one namespace, or across all when ``namespace`` is None."""
        if namespace is None:
            return f"{self.api}/{self.plural}"
        return f"{self.api}/namespaces/{namespace}/{self.plural}"

    def item(self, namespace: str, name: str) -> str:
        return f"{self.collection(namespace)}/{name}"


CONFIGMAPS = Resource("ConfigMap", "/api/v1", "configmaps")
SECRETS = Resource("Secret", "/api/v1", "secrets")
DEPLOYMENTS = Resource("Deployment", "/apis/apps/v1", "deployments")
STATEFULSETS = Resource("StatefulSet", "/apis/apps/v1", "statefulsets")
DAEMONSETS = Resource("DaemonSet", "/apis/apps/v1", "daemonsets")
CRONJOBS = Resource("CronJob", "/apis/batch/v1", "cronjobs")
JOBS = Resource("Job", "/apis/batch/v1", "jobs")
ROLLOUTS = Resource("Rollout", "/apis/argoproj.io/v1alpha1", "rollouts")
"""Argo Rollouts: served only where its CRD is installed, so watched only once discovered."""
EVENTS = Resource("Event", "/api/v1", "events")

WORKLOADS = (DEPLOYMENTS, STATEFULSETS, DAEMONSETS, CRONJOBS, JOBS)
"""The workload kinds every cluster serves."""
OPTIONAL_WORKLOADS = (ROLLOUTS,)
"""Workload kinds a CRD brings: watched while their API is served."""
WORKLOAD_BY_KIND = {r.kind: r for r in (*WORKLOADS, *OPTIONAL_WORKLOADS)}


@dataclass(frozen=True)
class ClusterResource(Resource):
    """A cluster-scoped resource: its collection path ignores the namespace."""

    def collection(self, namespace: str | None) -> str:
        return f"{self.api}/{self.plural}"


NAMESPACES = ClusterResource("Namespace", "/api/v1", "namespaces")
