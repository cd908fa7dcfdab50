"""The key of the keyed workload hashes: kept in a Secret that only the controller reads.

Created on first start with 32 random bytes. Replicas race to create it safely: the loser of a
create reads the winner's key. If the Secret is lost, a new key is made; workloads hashed with
the old key are then re-recorded without rolling (see ``deciding.Action.REKEY``), with a
Warning Event, because rolling every workload in the cluster at once is the worse failure.
"""

from __future__ import annotations

import base64
import secrets

from reloader.core.hashing import Hasher
from reloader.kube.resources import SECRETS
from reloader.kube.rest import ApiError, Rest
from reloader.telemetry.logging import get_logger

log = get_logger("hashkey")
FIELD = "key"


async def load_or_create(rest: Rest, namespace: str, name: str) -> Hasher:
    """The hasher for the key in ``namespace/name``, creating the Secret if it is missing."""
    path = SECRETS.item(namespace, name)
    for _ in range(3):
        try:
            secret = await rest.get(path)
            return Hasher(base64.b64decode(secret["data"][FIELD]))
        except ApiError as exc:
            if not exc.not_found:
                raise
        except (KeyError, ValueError) as exc:
            raise RuntimeError(
                f"Secret {namespace}/{name} has no valid '{FIELD}' field; delete it to let "
                "reloader create a new key (workloads are then re-recorded, not rolled)"
            ) from exc
        body = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": {"app.kubernetes.io/managed-by": "reloader"},
            },
            "type": "Opaque",
            "data": {FIELD: base64.b64encode(secrets.token_bytes(32)).decode()},
        }
        try:
            await rest.request("POST", SECRETS.collection(namespace), body=body)
            log.info("created hash key secret", secret=f"{namespace}/{name}")
        except ApiError as exc:
            if not exc.conflict:  # 409: another replica created it first; read theirs
                raise
    raise RuntimeError(f"could not read or create the hash key Secret {namespace}/{name}")
