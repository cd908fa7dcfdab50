"""Child processes: every tool the controller runs (git now; kustomize, helm, sops next) is
started, fed, capped and ended in one place, ``reloader.processes.running``."""
