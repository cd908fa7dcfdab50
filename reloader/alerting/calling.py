"""``--webhook-url``: tell a URL about a change instead of rolling the workload.

The call is the reload itself, so it happens inline in the reconcile, with one attempt of a
short deadline: the reconciler writes the ``observed`` record only once the URL accepted the
call (2xx) and otherwise comes back later, like any failed patch. A restart, a refusal or an
outage therefore retries until the URL has heard of the change, and an accepted change is
never sent twice (the record says it was delivered). The pod template is not touched.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from reloader.alerting.messages import Reload, webhook_body
from reloader.alerting.posting import describe, post_json, session


class CallFailed(Exception):
    """The URL did not accept the call; the message is safe to log (the URL is redacted)."""


@dataclass(frozen=True)
class ReloadWebhook:
    url: str = field(repr=False)
    timeout: float = 5.0

    async def call(self, reload: Reload) -> None:
        """POST the change; raise ``CallFailed`` unless the URL answered 2xx."""
        async with session() as http:
            answer = await post_json(http, self.url, webhook_body(reload), within=self.timeout)
        if not answer.accepted:
            raise CallFailed(describe(answer, self.url))
