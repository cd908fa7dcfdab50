"""An immutable-field change is refused with the way out; ``reloader.dev/force`` recreates."""

from __future__ import annotations

from functools import partial

from reloader.core import names
from reloader.kube.rest import JSONDict, Rest
from tests.integration.cluster import deployment, eventually, path_of
from tests.integration.gitops.conftest import StartLoop
from tests.integration.gitops.support import GitRepo, event_with, is_applied, reloader_status


def web(selector: str, annotations: dict[str, str] | None = None) -> JSONDict:
    obj = deployment("web", annotations=annotations)
    obj["spec"]["selector"] = {"matchLabels": {"app": selector}}
    obj["spec"]["template"]["metadata"]["labels"] = {"app": selector}
    return obj


async def test_an_immutable_change_names_the_field_and_the_way_out_then_force_recreates(
    rest: Rest, namespace: str, kubeconfig: str, repo: GitRepo, start_loop: StartLoop
) -> None:
    repo.put("web.yaml", web("web"))
    first = repo.commit("web")
    await start_loop()
    await eventually(partial(is_applied, rest, namespace, first), within=15, what="applied")
    uid = (await rest.get(path_of("Deployment", namespace, "web")))["metadata"]["uid"]

    repo.put("web.yaml", web("web-v2"))
    refused = repo.commit("a new selector")
    event = await eventually(
        partial(event_with, rest, namespace, "RevisionInvalid", refused[:12]),
        within=15,
        what="the refusal",
    )
    message = event["message"]
    assert "web.yaml:1:" in message, message
    assert "spec.selector" in message, message
    assert names.FORCE in message, message
    code, out = await reloader_status(kubeconfig, namespace)
    assert code == 1
    assert "spec.selector" in out
    live = await rest.get(path_of("Deployment", namespace, "web"))
    assert live["metadata"]["uid"] == uid
    assert live["spec"]["selector"] == {"matchLabels": {"app": "web"}}

    repo.put("web.yaml", web("web-v2", {names.FORCE: "true"}))
    forced = repo.commit("a new selector, forced")
    await eventually(partial(is_applied, rest, namespace, forced), within=30, what="recreated")
    live = await rest.get(path_of("Deployment", namespace, "web"))
    assert live["metadata"]["uid"] != uid
    assert live["spec"]["selector"] == {"matchLabels": {"app": "web-v2"}}
    synced = await event_with(rest, namespace, "Synced", forced[:12])
    assert synced is not None
    assert "1 recreated" in synced["message"], synced["message"]
    assert "Deployment/web" in synced["message"]
