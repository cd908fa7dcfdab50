"""Real git servers on loopback for the remote tests: https with a token, and ssh with a key.

https: aiohttp over TLS (a self-signed certificate for 127.0.0.1) in front of git's own
``git http-backend`` CGI, refusing any request without the expected Basic credentials.
ssh: an asyncssh server that runs ``git-upload-pack`` for the repository a client asks for,
accepting one client key. Both serve the bare repositories under one directory and record
who fetched, so a test can tell the credential was actually used.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import ipaddress
import os
import shlex
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.integration.controller import free_port

USER = "x-access-token"


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 that is its own CA (PEM), and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "reloader test git server")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "server.crt", directory / "server.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@dataclass
class HttpsGitServer:
    root: Path
    port: int
    ca_file: Path
    token: str
    fetched_by: list[str] = field(default_factory=list)
    """The user of each authenticated request."""
    refused: int = 0

    def url(self, repository: str) -> str:
        return f"https://127.0.0.1:{self.port}/{repository}"


def _cgi_answer(out: bytes) -> web.Response:
    head, _, body = out.partition(b"\r\n\r\n")
    if not body and b"\n\n" in out:
        head, _, body = out.partition(b"\n\n")
    status, headers = 200, {}
    for line in head.decode().splitlines():
        name, _, value = line.partition(":")
        if name.lower() == "status":
            status = int(value.split()[0])
        elif name:
            headers[name] = value.strip()
    return web.Response(status=status, headers=headers, body=body)


@asynccontextmanager
async def https_git_server(root: Path, token: str) -> AsyncIterator[HttpsGitServer]:
    """Serve the bare repositories under ``root`` over https to ``x-access-token:<token>``."""
    cert, key = self_signed(root)
    server = HttpsGitServer(root=root, port=free_port(), ca_file=cert, token=token)
    expected = "Basic " + base64.b64encode(f"{USER}:{token}".encode()).decode()

    async def backend(request: web.Request) -> web.StreamResponse:
        if request.headers.get("Authorization") != expected:
            server.refused += 1
            return web.Response(status=401, headers={"WWW-Authenticate": 'Basic realm="git"'})
        server.fetched_by.append(USER)
        body = await request.read()
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": str(root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "PATH_INFO": request.path,
            "QUERY_STRING": request.query_string,
            "REQUEST_METHOD": request.method,
            "CONTENT_TYPE": request.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "HTTP_CONTENT_ENCODING": request.headers.get("Content-Encoding", ""),
            "GIT_PROTOCOL": request.headers.get("Git-Protocol", ""),
            "REMOTE_USER": USER,
            "REMOTE_ADDR": "127.0.0.1",
        }
        proc = await asyncio.create_subprocess_exec(
            "git",
            "http-backend",
            env=env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate(body)
        if proc.returncode != 0:
            return web.Response(status=500, text=err.decode(errors="replace"))
        return _cgi_answer(out)

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", backend)
    runner = web.AppRunner(app)
    await runner.setup()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    site = web.TCPSite(runner, "127.0.0.1", server.port, ssl_context=context)
    await site.start()
    try:
        yield server
    finally:
        await runner.cleanup()


@dataclass
class SshGitServer:
    root: Path
    port: int
    host_key: asyncssh.SSHKey
    client_key_file: Path
    fetched: list[str] = field(default_factory=list)
    """The command of each session, as the client sent it."""

    def url(self, repository: str) -> str:
        return f"ssh://git@127.0.0.1:{self.port}/{repository}"

    def known_hosts_line(self, key: asyncssh.SSHKey | None = None) -> str:
        public = (key or self.host_key).export_public_key("openssh").decode().strip()
        return f"[127.0.0.1]:{self.port} {public}\n"


@asynccontextmanager
async def ssh_git_server(root: Path) -> AsyncIterator[SshGitServer]:
    """Serve ``git-upload-pack`` for the bare repositories under ``root`` to one client key.

    The client's private key is written as a Secret volume would mount it (mode 0644),
    which ssh refuses to use as it is."""
    host_key = asyncssh.generate_private_key("ssh-ed25519")
    client_key = asyncssh.generate_private_key("ssh-ed25519")
    client_key_file = root / "client-key"
    client_key_file.write_bytes(client_key.export_private_key("openssh"))
    client_key_file.chmod(0o644)
    authorized = asyncssh.import_authorized_keys(client_key.export_public_key("openssh").decode())
    server = SshGitServer(
        root=root, port=free_port(), host_key=host_key, client_key_file=client_key_file
    )

    async def session(process: asyncssh.SSHServerProcess[bytes]) -> None:
        command = process.command or ""
        server.fetched.append(command)
        words = shlex.split(command)
        if len(words) != 2 or words[0] != "git-upload-pack":
            process.stderr.write(b"only git-upload-pack is served here\n")
            process.exit(1)
            return
        repository = root / words[1].lstrip("/")
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        protocol = (process.env or {}).get("GIT_PROTOCOL")
        if isinstance(protocol, str):
            env["GIT_PROTOCOL"] = protocol
        upload = await asyncio.create_subprocess_exec(
            "git-upload-pack",
            "--strict",
            str(repository),
            env=env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        await process.redirect(stdin=upload.stdin, stdout=upload.stdout, stderr=upload.stderr)
        code = await upload.wait()
        await process.stdout.drain()
        process.exit(code)
        await process.wait_closed()  # runs the redirections' clean-up

    listener = await asyncssh.create_server(
        asyncssh.SSHServer,
        "127.0.0.1",
        server.port,
        server_host_keys=[host_key],
        authorized_client_keys=authorized,
        process_factory=session,
        encoding=None,
    )
    try:
        yield server
    finally:
        listener.close()
        await listener.wait_closed()
