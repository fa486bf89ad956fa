"""Service settings: defaults, overridden by ``[service]`` / ``[policy]`` in $FORENSICS_HOME/config.toml,
overridden by explicit keyword arguments (the CLI's options, tests).

Example config.toml::

    [service]
    public_verify = true        # false: /v1/verify needs a key with the "verify" scope
    public_resolve = true       # false: manifest lookup + Soft Binding Resolution need a "verify" key
    max_upload_mb = 50
    verify_workers = 2
    verify_isolation = "process"   # uploads are parsed in spawned worker processes (recycled)
    queue_size = 4              # waiting generation jobs (one more runs); full -> 429 + Retry-After
    generate_timeout_s = 300
    rate_per_minute = 10        # per API key, token bucket
    burst = 5
    daily_quota = 500           # per API key, persisted
    cors_origins = []           # CORS is off unless origins are listed
    signing_cert = "/etc/newsroom/c2pa-chain.pem"   # default: the `forensics keys init` identity
    signing_key = "/etc/newsroom/c2pa-key.pem"      # or env FORENSICS_SIGNING_KEY_PEM / _CERT_PEM
    signer_callback = "mypkg.kms:sign"              # KMS/HSM: callable(bytes) -> signature bytes

    [policy]
    deny_patterns = ["(?i)\\bbeheading\\b"]
    deny_people = ["Jane Example"]
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields

from .. import config, configfile

SECTIONS = ("service", "policy")  # the config.toml tables ServiceSettings reads


@dataclass
class ServiceSettings:
    model: str = "stabilityai/sd-turbo"
    device: str | None = None
    generate: bool = True  # False: a verification-only server (no model, no signing key loaded)
    database_url: str | None = None  # keys + audit log; None: the manifest repository's database
    registry_url: str | None = None  # None: $FORENSICS_REGISTRY or $FORENSICS_HOME/registry.sqlite
    trust_anchors: list[str] = field(default_factory=list)
    detector: bool = True
    public_verify: bool = True
    public_resolve: bool = True
    max_upload_mb: float = 50
    verify_workers: int = 2
    verify_isolation: str = "process"  # "process": spawned workers, recycled; "thread": in-process
    verify_max_tasks_per_worker: int = 250  # a process worker is replaced after this many files
    verify_max_pixels: int = 50_000_000  # per upload, checked in the file header before any decode
    verify_memory_mb: int = 2048  # address-space budget of a verify worker process beyond its warmed-up size; 0 = none
    max_pending_verify: int = 64  # uploads being verified or waiting; more -> 429
    verify_timeout_s: float = 120
    queue_size: int = 4
    generate_timeout_s: float = 300
    max_steps: int = 50
    max_side: int = 1024
    min_side: int = 16
    rate_per_minute: float = 10
    burst: int = 5
    daily_quota: int = 500
    private_prompt: bool = False  # newsroom default: store only the prompt's SHA-256 in manifests
    cors_origins: list[str] = field(default_factory=list)
    signing_cert: str | None = None
    signing_key: str | None = None
    signer_callback: str | None = None  # "module:function" for a KMS/HSM signer
    signing_alg: str = "es256"
    deny_patterns: list[str] = field(default_factory=list)
    deny_people: list[str] = field(default_factory=list)
    audit_checkpoint: str | None = None  # signed head of the audit log; default $FORENSICS_HOME/audit-checkpoints/

    def __post_init__(self):
        """Every value, from config.toml or from an override, is checked against configfile.SCHEMA."""
        from ..errors import ConfigError

        for f in fields(self):
            option = _OPTIONS.get(f.name)
            value = getattr(self, f.name)
            if option is None or value is None:
                continue
            try:
                setattr(self, f.name, option.check(value))
            except ValueError as exc:
                raise ConfigError(f"service setting {f.name} {exc}") from None
        if self.min_side > self.max_side:
            raise ConfigError(f"service setting min_side ({self.min_side}) is larger than max_side ({self.max_side})")

    def generation_limits(self):
        """The request limits /v1/generate enforces: the generator's hard limits, narrowed by these settings."""
        from ..generate.limits import HARD_LIMITS

        return HARD_LIMITS.narrowed(max_steps=self.max_steps, min_side=self.min_side, max_side=self.max_side)

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    def resolved_registry_url(self) -> str:
        return config.registry_url(self.registry_url)

    def resolved_database_url(self) -> str:
        return config.registry_url(self.database_url or self.registry_url)

    @classmethod
    def load(cls, **overrides) -> "ServiceSettings":
        """Defaults <- config.toml ([service], [policy]) <- explicit overrides (None means "not given")."""
        s = config.settings()  # validated: a bad config.toml raises ConfigFileError here
        names = {f.name for f in fields(cls)}
        values: dict = {}
        for section in SECTIONS:
            values.update(s.get(section, {}) or {})
        unknown = set(overrides) - names
        if unknown:
            raise TypeError(f"unknown service settings: {', '.join(sorted(unknown))}")
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def replace(self, **changes) -> "ServiceSettings":
        return dataclasses.replace(self, **changes)


# Values a config.toml may set, with their types and bounds: the one schema in forensics.config.
_OPTIONS = {k: v for section in SECTIONS for k, v in configfile.SCHEMA[section].items()}
