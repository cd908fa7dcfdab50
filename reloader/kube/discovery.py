"""Whether the API server serves a resource now, from the discovery document of its group.

Kinds that a CRD brings (Argo Rollouts) may be missing, or installed and removed while the
reloader runs. Listing them to find out would fail loudly and retry forever; discovery
answers the question in one cheap request that every authenticated user may make, so it can
be asked again periodically without any extra rights.
"""

from __future__ import annotations

from reloader.kube.resources import Resource
from reloader.kube.rest import ApiError, Rest


async def served(rest: Rest, resource: Resource) -> bool:
    """True when ``resource``'s group version is served and lists it; raises on other errors."""
    try:
        listing = await rest.get(resource.api)
    except ApiError as exc:
        if exc.not_found:
            return False
        raise
    return any(r.get("name") == resource.plural for r in listing.get("resources") or ())
