"""Fixtures of the image-bump tests: a real Gitea for the session (tests/integration/forge.py)."""

from __future__ import annotations

from tests.integration.forge import gitea

__all__ = ["gitea"]
