"""charts/reloader through the real ``helm`` binary, and a release's objects compared and run.

Releases here get unique names and namespaces, so unlike the kustomize installs (fixed names,
see :mod:`tests.integration.addon.conftest`) they need no lock: a chart release's cluster-wide
objects are named after the release. Helm keeps its caches and settings in the test's own
directory, never the user's.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from typing import Any

import yaml

from reloader.kube.rest import JSONDict, Rest
from tests.integration.cluster import REPO
from tests.integration.gitops.test_rendering import tools_dir

CHART = REPO / "charts" / "reloader"
RBAC_KINDS = ("ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")


class Helm:
    """``helm`` against one kubeconfig, with a private HOME for its cache and config."""

    def __init__(self, *, kubeconfig: str, home: Path) -> None:
        self.kubeconfig, self.home = kubeconfig, home
        self.binary = str(tools_dir() / "helm")
        home.mkdir(parents=True, exist_ok=True)

    def _env(self) -> dict[str, str]:
        return {
            "HOME": str(self.home),
            "HELM_CACHE_HOME": str(self.home / "cache"),
            "HELM_CONFIG_HOME": str(self.home / "config"),
            "HELM_DATA_HOME": str(self.home / "data"),
            "PATH": "/usr/bin:/bin",
        }

    def run(self, *args: str, values: JSONDict | None = None) -> str:
        """``helm ARGS`` (with ``values`` as a values file); a failure fails the test."""
        command = [self.binary, *args, "--kubeconfig", self.kubeconfig]
        if values is not None:
            path = self.home / f"values-{len(list(self.home.glob('values-*')))}.yaml"
            path.write_text(yaml.safe_dump(values))
            command += ["--values", str(path)]
        done = subprocess.run(command, capture_output=True, text=True, env=self._env(), check=False)
        assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stderr}{done.stdout}"
        return done.stdout

    def fails(self, *args: str, values: JSONDict | None = None) -> str:
        """``helm ARGS`` that must fail; its error output."""
        command = [self.binary, *args]
        if values is not None:
            path = self.home / "refused-values.yaml"
            path.write_text(yaml.safe_dump(values))
            command += ["--values", str(path)]
        done = subprocess.run(command, capture_output=True, text=True, env=self._env(), check=False)
        assert done.returncode != 0, f"{' '.join(command)} succeeded:\n{done.stdout}"
        return done.stderr

    async def arun(self, *args: str, values: JSONDict | None = None) -> str:
        return await asyncio.to_thread(self.run, *args, values=values)

    def template(
        self, values: JSONDict, *, release: str = "reloader", namespace: str = "reloader"
    ) -> list[dict[str, Any]]:
        """The chart rendered offline (no cluster lookups) as a list of objects."""
        out = self.run("template", release, str(CHART), "--namespace", namespace, values=values)
        return [d for d in yaml.safe_load_all(out) if d]


def rbac_of(docs: list[dict[str, Any]]) -> dict[tuple[str, str, str], object]:
    """Every role's rules and every binding's roleRef and subjects, keyed by kind, namespace
    and name; each rule spelled out as single (group, resource, name, verb) grants, so that
    two ways of writing the same rights compare equal."""
    found: dict[tuple[str, str, str], object] = {}
    for doc in docs:
        if doc["kind"] not in RBAC_KINDS:
            continue
        meta = doc["metadata"]
        key = (doc["kind"], meta.get("namespace", ""), meta["name"])
        if doc["kind"].endswith("Binding"):
            subjects = sorted(json.dumps(s, sort_keys=True) for s in doc.get("subjects") or ())
            found[key] = (json.dumps(doc["roleRef"], sort_keys=True), subjects)
        else:
            found[key] = {
                (group, resource, name, verb)
                for rule in doc.get("rules") or ()
                for group in rule.get("apiGroups") or ()
                for resource in rule.get("resources") or ()
                for name in rule.get("resourceNames") or ("*",)
                for verb in rule["verbs"]
            }
    return found


async def objects_of_release(rest: Rest, release: str, namespaces: list[str]) -> list[str]:
    """Everything labelled as the release's, cluster-wide and in ``namespaces``, and Helm's
    own record of it: what an uninstall must leave nothing of."""
    selector = {"labelSelector": f"app.kubernetes.io/instance={release}"}
    rbac = "/apis/rbac.authorization.k8s.io/v1"
    found: list[str] = []
    for path in (f"{rbac}/clusterroles", f"{rbac}/clusterrolebindings"):
        found += [
            f"{path}/{o['metadata']['name']}" for o in (await rest.get(path, selector))["items"]
        ]
    collections = (
        "/api/v1/namespaces/{ns}/serviceaccounts",
        "/api/v1/namespaces/{ns}/services",
        "/api/v1/namespaces/{ns}/secrets",
        "/api/v1/namespaces/{ns}/configmaps",
        "/apis/apps/v1/namespaces/{ns}/deployments",
        "/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets",
        "/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies",
        f"{rbac}/namespaces/{{ns}}/roles",
        f"{rbac}/namespaces/{{ns}}/rolebindings",
    )
    for namespace in namespaces:
        for collection in collections:
            path = collection.format(ns=namespace)
            items = (await rest.get(path, selector))["items"]
            found += [f"{path}/{o['metadata']['name']}" for o in items]
        helm_records = await rest.get(
            f"/api/v1/namespaces/{namespace}/secrets",
            {"labelSelector": f"owner=helm,name={release}"},
        )
        found += [f"helm release {o['metadata']['name']}" for o in helm_records["items"]]
    return found
