"""The GitOps loop: pull a git repository, validate, apply, prune and correct drift."""
