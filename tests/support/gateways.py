"""REST gateways in-process for the tests: settings from a local network, uvicorn in a thread.

    settings = settings_for(network, "org1", tmp_path)
    with GatewayServer(app(settings)) as server:
        httpx.get(server.url + "/readyz")
"""

from __future__ import annotations

import base64
import os
import secrets
import socket
import threading
import time
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from tdses.fabric import gateways
from tdses.rest.config import Settings
from tests.support.ports import free_port


def secret_file(path: Path, content: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(content)
    return path


def settings_for(network, org_name: str, directory: Path, **overrides) -> Settings:
    """Settings of org's gateway on a tdses.local.network.Network, with fresh secrets in directory."""
    org = network.topology.org(org_name)
    state = network.state
    directory.mkdir(parents=True, exist_ok=True)
    values = gateways.settings(
        network.topology, org,
        tls_root=state.tls_ca_cert,
        registrar_secret_file=state.registrar_secret(org),
        admin_msp_dir=state.admin_msp(org),
        admin_token_file=secret_file(directory / "admin-token", secrets.token_urlsafe(32)),
        key_encryption_key_file=secret_file(directory / "kek", base64.b64encode(secrets.token_bytes(32)).decode()),
        store=directory / "gateway.db",
        listen=f"127.0.0.1:{free_port()}",
    )
    values.update(overrides)
    return Settings(**values)


class GatewayServer:
    """uvicorn serving an app on a loopback port from a background thread. The port is bound here and handed to
    uvicorn: a port only chosen here could be taken, before uvicorn binds it, by any outgoing connection (the kernel
    hands out the same ephemeral range)."""

    def __init__(self, application: FastAPI, port: int | None = None) -> None:
        self.socket = socket.socket()
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(("127.0.0.1", port or 0))
        self.port = self.socket.getsockname()[1]
        # A gateway's context; another app (an upstream, a meter in front of it) has none.
        context = getattr(getattr(application, "state", None), "context", None)
        options = context.settings.server_options() if context is not None else {"loop": "asyncio",
                                                                                  "access_log": False}
        config = uvicorn.Config(application, log_level="warning", lifespan="on",  # as tdses gateway serve
                                **{**options, "host": "127.0.0.1", "port": self.port})
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, args=([self.socket],), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> GatewayServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the gateway did not start")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        if self.thread.is_alive():
            self.thread.join(timeout=15)
        self.socket.close()  # uvicorn closes it when it ran; a server never started still holds it

    def __enter__(self) -> GatewayServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class Gateways:
    """One in-process gateway per organization of a network, with the admin token of each."""

    def __init__(self, network, directory: Path, orgs: tuple[str, ...] = ("org1", "org2", "org3"), **overrides):
        from tdses.rest.main import app

        self.settings = {org: settings_for(network, org, directory / org, **overrides) for org in orgs}
        self.servers = {org: GatewayServer(app(s)) for org, s in self.settings.items()}

    def start(self) -> Gateways:
        try:
            for server in self.servers.values():
                server.start()
        except BaseException:
            self.stop()  # the ones that started would outlive the failed fixture
            raise
        return self

    def stop(self) -> None:
        for server in self.servers.values():
            server.stop()

    def url(self, org: str) -> str:
        return self.servers[org].url

    def context(self, org: str):
        """The running gateway's tdses.rest.services.context.Context (its ledger, store and index)."""
        return self.servers[org].server.config.app.state.context

    def admin_token(self, org: str) -> str:
        return self.settings[org].admin_token()

    def client(self, org: str, token: str | None = None, timeout: float = 90.0):
        import httpx

        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url(org), headers=headers, timeout=timeout)

    def register(self, org: str, name: str, introduction: str = "") -> str:
        """Create a custodial user through org's gateway; returns its token."""
        with self.client(org, self.admin_token(org)) as http:
            response = http.post("/v1/users", json={"name": name, "introduction": introduction})
            if response.status_code != 201:
                raise AssertionError(f"creating {name}: {response.status_code} {response.text}")
            return response.json()["token"]
