"""Decrypt the rendered objects that SOPS encrypted, in memory, as Flux's ``spec.decryption``.

After rendering (a plain walk or ``kustomize build``), every object with a top-level ``sops``
key (SOPS metadata) is serialised as JSON and piped to ``sops decrypt`` with the age identities
file given by ``--decryption-key-file``; what it prints replaces the encrypted object at the
same path:line. Why it is built the way it is:

- **Plaintext never touches disk.** The object goes in through stdin and comes back through
  stdout (captured in memory by :mod:`reloader.processes.running`); nothing is written but an
  empty private ``HOME``.
- **Plaintext never reaches a message.** A failure is a :class:`Problem` at the object's
  path:line carrying sops' own error (it names keys and recipients, never values), trimmed;
  stdout is never quoted.
- **Nothing of ours but the key.** sops runs with ``SOPS_AGE_KEY_FILE``, a private ``HOME``
  (so it finds no other identities), every proxy pointing at a closed port and no other
  variable of ours, under a time limit and an output cap. A few objects are decrypted at once.
- **The author's key order.** SOPS's MAC covers every value in the order it is written, and
  ``kustomize build`` sorts keys: before decrypting, a rendered object's keys are put back in
  the order of the document in its source file that carries the same MAC (parsed with the
  revision's limits). An object an overlay changed (a name prefix, a namespace) fails the MAC
  check: encrypted objects are applied as written.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from reloader.core.manifests import Manifest, Problem, load_documents, revision_budget
from reloader.processes.running import ProcessError, offline_environment, run

SOPS_KEY = "sops"
"""The top-level key that marks an object as encrypted by SOPS."""
CONCURRENCY = 4
OUTPUT_LIMIT = 16 * 1024 * 1024
_ERROR_LINES = 6
_ERROR_CHARS = 600
_SOURCE_LIMIT = 16 * 1024 * 1024


def is_encrypted(manifest: Manifest) -> bool:
    """Whether the object carries SOPS metadata."""
    return isinstance(manifest.obj.get(SOPS_KEY), dict)


async def decrypt_manifests(
    manifests: Sequence[Manifest],
    *,
    key_file: str | None,
    sops: str = "sops",
    time_limit: float = 30.0,
    require_key: bool = True,
    root: Path | None = None,
) -> tuple[list[Manifest], list[Problem]]:
    """``manifests`` with every encrypted object decrypted, and a problem for each that failed.

    Without ``key_file`` an encrypted object is a problem when ``require_key`` (the loop must
    not apply ciphertext), else it is kept as it is (``reloader validate`` without a key).
    ``root``: the checkout the manifests' paths are relative to (for the authors' key order).
    """
    encrypted = [i for i, m in enumerate(manifests) if is_encrypted(m)]
    if not encrypted:
        return list(manifests), []
    if key_file is None:
        if not require_key:
            return list(manifests), []
        return [], [
            _problem(manifests[i], "encrypted with SOPS, but no --decryption-key-file is set")
            for i in encrypted
        ]
    binary, key = await asyncio.to_thread(_paths, sops, key_file)
    if binary is None:
        return [], [
            _problem(manifests[i], f"encrypted with SOPS, but sops ({sops}) is not installed")
            for i in encrypted
        ]
    limit = asyncio.Semaphore(CONCURRENCY)
    with tempfile.TemporaryDirectory(prefix="reloader-sops-") as private:
        env = _environment(Path(private), key)

        async def one(manifest: Manifest) -> Manifest | Problem:
            async with limit:
                ordered = await asyncio.to_thread(_in_source_order, manifest, root)
                return await _decrypt(ordered, binary=binary, env=env, time_limit=time_limit)

        results = await asyncio.gather(*(one(manifests[i]) for i in encrypted))
    out = list(manifests)
    problems: list[Problem] = []
    for index, result in zip(encrypted, results, strict=True):
        if isinstance(result, Problem):
            problems.append(result)
        else:
            out[index] = result
    return ([], problems) if problems else (out, [])


async def _decrypt(
    manifest: Manifest, *, binary: str, env: dict[str, str], time_limit: float
) -> Manifest | Problem:
    argv = [binary, "decrypt", "--input-type", "json", "--output-type", "json", "/dev/stdin"]
    try:
        finished = await run(
            argv,
            time_limit=time_limit,
            cwd=Path(env["HOME"]),
            env=env,
            stdin=json.dumps(manifest.obj).encode(),
            output_limit=OUTPUT_LIMIT,
        )
    except ProcessError as exc:
        return _problem(manifest, f"cannot decrypt (SOPS): {exc}")
    if not finished.ok:
        lines = [line.lstrip("-| ").replace(env["HOME"], "~") for line in finished.stderr_lines()]
        said = " / ".join(lines[:_ERROR_LINES]) or finished.status
        if len(said) > _ERROR_CHARS:
            said = said[:_ERROR_CHARS] + " …"
        return _problem(manifest, f"cannot decrypt (SOPS): {said}")
    if finished.stdout_truncated:
        return _problem(manifest, f"cannot decrypt (SOPS): more than {OUTPUT_LIMIT >> 20} MiB")
    try:
        obj = json.loads(finished.stdout)
    except ValueError:
        obj = None  # the text is plaintext: never quoted
    if not isinstance(obj, dict):
        return _problem(manifest, "cannot decrypt (SOPS): sops did not print one JSON object")
    return Manifest(manifest.path, manifest.line, obj)


def _paths(sops: str, key_file: str) -> tuple[str | None, str]:
    """sops's absolute path (None: not installed) and the key file's."""
    found = shutil.which(sops)
    return (str(Path(found).resolve()) if found else None), str(Path(key_file).resolve())


def _in_source_order(manifest: Manifest, root: Path | None) -> Manifest:
    """The object with its keys in the order of its source document (the one with its MAC)."""
    mac = manifest.obj[SOPS_KEY].get("mac")
    if root is None or not isinstance(mac, str):
        return manifest
    try:
        with (root / manifest.path).open("rb") as file:
            text = file.read(_SOURCE_LIMIT + 1)
    except OSError:
        return manifest
    if len(text) > _SOURCE_LIMIT:
        return manifest
    found, _ = load_documents(manifest.path, text, budget=revision_budget())
    for source in found:
        written = source.obj.get(SOPS_KEY)
        if isinstance(written, dict) and written.get("mac") == mac:
            return Manifest(manifest.path, manifest.line, _ordered(manifest.obj, source.obj))
    return manifest


def _ordered(value: Any, like: Any) -> Any:
    """``value`` with its mappings' keys in the order ``like`` has them (others after)."""
    if isinstance(value, dict) and isinstance(like, dict):
        keys = [k for k in like if k in value] + [k for k in value if k not in like]
        return {k: _ordered(value[k], like.get(k)) for k in keys}
    if isinstance(value, list) and isinstance(like, list) and len(value) == len(like):
        return [_ordered(v, w) for v, w in zip(value, like, strict=True)]
    return value


def _problem(manifest: Manifest, message: str) -> Problem:
    return Problem(manifest.path, manifest.line, message)


def _environment(scratch: Path, key_file: str) -> dict[str, str]:
    """Only what sops needs: the identities file, a private HOME, no proxy that works."""
    return offline_environment(scratch / "home", SOPS_AGE_KEY_FILE=key_file)
