"""The gateway's settings: one YAML file, every key overridable by TDSES_GATEWAY_<KEY> (nested: __).

    settings = load_settings("gateway.yaml")            # file, then environment on top
    settings = Settings(org="org1", msp_id="Org1MSP", ...)  # built directly in tests
"""

from __future__ import annotations

import base64
import ipaddress
import os
import stat
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, YamlConfigSettingsSource

from tdses.index.settings import IndexSettings
from tdses.serving import HttpProtocol

ENV_PREFIX = "TDSES_GATEWAY_"


class PeerSettings(BaseModel):
    """One gateway peer of the organization; the list order is the failover order."""

    model_config = ConfigDict(extra="forbid")

    address: str
    server_name: str | None = None  # the host name in the peer's TLS certificate
    tls_ca_file: Path


class CASettings(BaseModel):
    """The organization's fabric-ca-server and the registrar that registers users."""

    model_config = ConfigDict(extra="forbid")

    url: str
    name: str
    tls_ca_file: Path
    registrar: str = "admin"
    registrar_secret_file: Path


class WebSettings(BaseModel):
    """The organization's web pages (tdses.rest.web): sign-in sessions and invitations."""

    model_config = ConfigDict(extra="forbid")

    session_ttl_seconds: float = Field(default=8 * 3600.0, gt=0)
    invitation_ttl_seconds: float = Field(default=7 * 24 * 3600.0, gt=0)
    # Behind a TLS proxy: cookies only over HTTPS (they are Secure anyway when the request itself is HTTPS).
    secure_cookies: bool = False
    # Sign-in attempts allowed per minute from one client address, and for one name (in bursts of as many).
    signin_attempts_per_minute: int = Field(default=10, ge=1)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid")

    org: str
    msp_id: str
    channel: str
    chaincode: str
    listen: str = "127.0.0.1:8081"
    # The proxies in front of the gateway (addresses or networks: 10.0.0.0/8) whose X-Forwarded-For and
    # X-Forwarded-Proto are believed: the rate and sign-in limits then count the client a proxy names, and a request
    # the proxy received over HTTPS is one. Empty: every connection's own address is its client's.
    trusted_proxies: list[str] = []
    peers: list[PeerSettings] = Field(min_length=1)
    # Every peer of the channel; when set, a write is answered once each has committed it (read-your-writes).
    channel_peers: list[PeerSettings] = []
    consistency_timeout: float = Field(default=5.0, gt=0)
    ca: CASettings
    admin_msp_dir: Path
    admin_token_file: Path
    key_encryption_key_file: Path
    store: str  # a SQLite file's path, or a database URL (postgresql+psycopg://…) for replicas sharing one store
    index: IndexSettings = IndexSettings()  # the registry index, fed by the channel's blocks (tdses.index)
    web: WebSettings = WebSettings()

    # Limits and timeouts: defaults suit the local network.
    rate_limit_per_second: float = Field(default=50.0, gt=0)
    rate_limit_burst: int = Field(default=100, ge=1)
    # Every request asks who its token is: the answers are remembered. A change made through this gateway (rotation,
    # removal) applies at once; one made elsewhere (another replica sharing the store, an operator), within this
    # time, the longest between two reads of the users' version.
    token_cache_seconds: float = Field(default=1.0, ge=0, le=60)
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    open_registration: bool = False  # False: only the org admin creates users (each grant comes from the pool)
    connect_timeout: float = Field(default=2.0, gt=0)
    evaluate_timeout: float = Field(default=10.0, gt=0)
    endorse_timeout: float = Field(default=20.0, gt=0)
    submit_timeout: float = Field(default=10.0, gt=0)
    commit_timeout: float = Field(default=30.0, gt=0)
    conflict_retries: int = Field(default=5, ge=1, le=10)
    # An idle keep-alive connection is closed after this long: longer than clients keep theirs idle in a pool
    # (httpx 5 s, Go 90 s), so a client never reuses one the server is closing ("server disconnected").
    keep_alive_seconds: float = Field(default=120.0, gt=0, le=3600)
    prepared_ttl_seconds: float = Field(default=300.0, gt=0)
    event_streams_per_caller: int = Field(default=8, ge=1, le=1000)  # open at once: /v1/events, the web feed
    idempotency_ttl_seconds: float = Field(default=24 * 3600.0, gt=0)

    @field_validator("store", mode="before")
    @classmethod
    def _path_or_url(cls, value: object) -> object:
        return os.fspath(value) if isinstance(value, os.PathLike) else value

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"listen must be HOST:PORT, got {value!r}")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry)  # strict, as uvicorn reads it: 10.0.0.1/8 would never match
            except ValueError as error:
                raise ValueError(f"trusted_proxies: {entry!r} is not an IP address or network ({error})") from None
        return value

    def request_lease(self) -> float:
        """How long a request may hold its Idempotency-Key: its longest run, with every conflict retry."""
        one_attempt = self.endorse_timeout + self.submit_timeout + self.commit_timeout + self.consistency_timeout
        return one_attempt * self.conflict_retries + 10.0

    def server_options(self) -> dict[str, Any]:
        """How uvicorn serves the gateway (tdses gateway serve, and the tests' in-process gateways)."""
        # loop="asyncio": grpc.aio runs on asyncio's own event loop, not on uvloop.
        return {"host": self.host, "port": self.port, "loop": "asyncio", "http": HttpProtocol, "access_log": False,
                "proxy_headers": bool(self.trusted_proxies), "forwarded_allow_ips": self.trusted_proxies or None,
                "server_header": False, "timeout_keep_alive": self.keep_alive_seconds}

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0]

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])

    def admin_token(self) -> str:
        return read_secret(self.admin_token_file).decode().strip()

    def registrar_secret(self) -> str:
        return read_secret(self.ca.registrar_secret_file).decode().strip()

    def key_encryption_key(self) -> bytes:
        try:
            key = base64.b64decode(read_secret(self.key_encryption_key_file).strip(), validate=True)
        except ValueError as exc:
            raise ConfigError(f"{self.key_encryption_key_file}: not base64 ({exc})") from None
        if len(key) != 32:
            raise ConfigError(f"{self.key_encryption_key_file}: the key must be 32 bytes, got {len(key)}")
        return key


class ConfigError(Exception):
    """The configuration cannot be used (missing file, secret readable by others, malformed key)."""


def read_secret(path: Path) -> bytes:
    """A secret file's bytes; refused when others than its owner may read it. One exception: a Secret as
    Kubernetes mounts it for a pod that runs as another user than root: root's, in a volume's ..data directory,
    readable by the pod's group only (defaultMode 0440; fsGroup = runAsGroup, this process's group)."""
    try:
        found = os.stat(path)
        pod_secret = (found.st_uid == 0 != os.getuid() and found.st_gid == os.getegid()
                      and not found.st_mode & (stat.S_IWGRP | stat.S_IXGRP | stat.S_IRWXO)
                      and (path.parent / "..data").is_symlink())
        if found.st_mode & (stat.S_IRWXG | stat.S_IRWXO) and not pod_secret:
            raise ConfigError(f"{path} is accessible by group or others: chmod 600 it")
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    if not data.strip():
        raise ConfigError(f"{path} is empty")
    return data


def load_settings(path: str | os.PathLike[str]) -> Settings:
    """Settings from a YAML file with the environment (TDSES_GATEWAY_*) taking precedence."""
    yaml_path = Path(path)
    if not yaml_path.is_file():
        raise ConfigError(f"no configuration file {yaml_path}")

    class FileSettings(Settings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            return init_settings, env_settings, YamlConfigSettingsSource(settings_cls, yaml_file=yaml_path)

    try:
        return FileSettings()
    except yaml.YAMLError as exc:
        raise ConfigError(f"{yaml_path} is not valid YAML: {exc}") from None
