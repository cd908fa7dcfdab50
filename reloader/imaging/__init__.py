"""Image bumps in a GitOps repository: edit image references in place, commit, push, PR."""
