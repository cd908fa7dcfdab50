"""Every annotation, label, field-manager and Event name reloader reads or writes, in one place.

Stakater Reloader's annotation names are accepted unchanged so that users can swap controllers
without touching their workloads; reloader's own names live under ``reloader.dev/``.
"""

from __future__ import annotations

from typing import Final

STAKATER: Final = "reloader.stakater.com"

# --- read from workloads (Stakater-compatible) ---
AUTO: Final = f"{STAKATER}/auto"
CONFIGMAP_AUTO: Final = "configmap.reloader.stakater.com/auto"
SECRET_AUTO: Final = "secret.reloader.stakater.com/auto"
CONFIGMAP_RELOAD: Final = "configmap.reloader.stakater.com/reload"
SECRET_RELOAD: Final = "secret.reloader.stakater.com/reload"
SEARCH: Final = f"{STAKATER}/search"
CONFIGMAP_EXCLUDE: Final = "configmaps.exclude.reloader.stakater.com/reload"
SECRET_EXCLUDE: Final = "secrets.exclude.reloader.stakater.com/reload"
#: A Go duration (``5m``): after a reload, further changes wait until the period has passed and
#: then roll once. Stakater pauses the Deployment for it; reloader only delays its own write.
PAUSE_PERIOD: Final = "deployment.reloader.stakater.com/pause-period"
#: Left by Stakater on a Deployment it paused (with ``spec.paused: true``); reloader never
#: writes it and never unpauses anything (see the README).
STAKATER_PAUSED_AT: Final = "deployment.reloader.stakater.com/paused-at"
#: On an Argo Rollout: ``rollout`` (default) writes the template hash, so a new revision goes
#: through the Rollout's steps; ``restart`` sets ``spec.restartAt``, restarting pods in place.
ROLLOUT_STRATEGY: Final = f"{STAKATER}/rollout-strategy"

# --- read from ConfigMaps and Secrets (Stakater-compatible) ---
MATCH: Final = f"{STAKATER}/match"
IGNORE: Final = f"{STAKATER}/ignore"

# --- written by reloader ---
DOMAIN: Final = "reloader.dev"
#: On the pod template: the keyed hash of the content the pods were started with. Changing it
#: is what rolls the workload; it is a pure function of content, so re-writing it is a no-op.
CONFIG_HASH: Final = f"{DOMAIN}/config-hash"
#: On the workload's own metadata (never rolls anything): the hash reloader last saw in force,
#: with the key id and a short hash per referenced object, so that a workload opted in while
#: running is not restarted and the object that changed can be named in the Event.
OBSERVED: Final = f"{DOMAIN}/observed"

#: On the workload (or its pod template): ``keys`` (default) rolls only for the keys the pods
#: read by key (``configMapKeyRef``, volume ``items``); ``object`` rolls for any change of a
#: referenced object, as Stakater Reloader does. ``--reload-on`` sets the default.
RELOAD_ON: Final = f"{DOMAIN}/reload-on"

FIELD_MANAGER: Final = "reloader"
COMPONENT: Final = "reloader"

# --- Event reasons ---
REASON_RELOADED: Final = "Reloaded"
#: Stakater Reloader's reason, so alerts and dashboards keyed on it keep matching.
REASON_RELOAD_FAILED: Final = "ReloadFail"
REASON_BAD_ANNOTATION: Final = "InvalidAnnotation"
REASON_KEY_CHANGED: Final = "HashKeyChanged"

# --- the GitOps loop: written on what it applies, read from git and from live objects ---
#: Label on every object the loop applies; its value is the loop's state namespace. Prune
#: deletes only live objects that carry it with our value (checked right before the DELETE),
#: so a tampered inventory cannot point the loop at anything it did not apply.
GITOPS_OWNER: Final = f"{DOMAIN}/gitops-owner"
#: Annotation on objects that existed before git declared them: the loop took them over, and
#: does not delete them when git drops them unless they carry ``PRUNE: "enabled"``.
GITOPS_ADOPTED: Final = f"{DOMAIN}/adopted"
#: ``disabled``: never prune this object; ``enabled``: an adopted object may be pruned.
PRUNE: Final = f"{DOMAIN}/prune"
FLUX_PRUNE: Final = "kustomize.toolkit.fluxcd.io/prune"
#: ``"true"``: an immutable-field change is applied by deleting and creating the object.
FORCE: Final = f"{DOMAIN}/force"
FLUX_FORCE: Final = "kustomize.toolkit.fluxcd.io/force"
#: ``"true"``: a custom resource whose CRD is not served yet waits (pending) instead of
#: refusing the revision, and is applied once the CRD appears.
SKIP_DRY_RUN_ON_MISSING: Final = f"{DOMAIN}/skip-dry-run-on-missing-resource"
ARGO_SYNC_OPTIONS: Final = "argocd.argoproj.io/sync-options"

# --- between replicas of the GitOps loop (``--leader-elect``) ---
#: Annotation on the loop's Lease, written by its holder in the same write that renews it: the
#: URL of the holder's webhook receiver, where a standby forwards the deliveries it receives.
WEBHOOK_URL: Final = f"{DOMAIN}/webhook-url"
#: Request header a standby adds when it forwards a delivery to the leader, so that a delivery
#: is forwarded at most once (a receiver that is not the leader refuses a forwarded one).
WEBHOOK_FORWARDED: Final = "X-Reloader-Forwarded"

# --- the GitOps loop's suspension: annotations on its state ConfigMap ---
#: Set by ``reloader suspend`` (a JSON merge patch under its own field manager) and removed by
#: ``reloader resume``; the loop only reads them, so its own server-side-apply save of the
#: state never clears them. Whoever may write the loop's state may pause it, nobody else.
GITOPS_SUSPENDED_BY: Final = f"{DOMAIN}/suspended-by"
GITOPS_SUSPENDED_AT: Final = f"{DOMAIN}/suspended-at"
GITOPS_SUSPENDED_REASON: Final = f"{DOMAIN}/suspended-reason"
#: Field manager of ``reloader suspend`` and ``resume`` on the state ConfigMap.
SUSPEND_FIELD_MANAGER: Final = "reloader-suspend"
