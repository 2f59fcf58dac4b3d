"""Who may call the service: trusted CDS clients, their signed JWTs, and their FHIR servers.

CDS Hooks 2.0 §Security and Safety: the client signs a JWT per call; the service "SHOULD
limit the CDS Clients they trust by maintaining an allowlist of `iss` and `jku` urls".
Nothing here imports Flask; `cds_service.web.auth` applies it to requests.
"""

from cds_service.auth.config import AuthConfigError, TrustConfig, TrustedIssuer, load_trust_config
from cds_service.auth.keys import InlineKeys, KeySource, RemoteKeys
from cds_service.auth.replay import ReplayGuard
from cds_service.auth.verify import JwtVerifier, TokenRejected, build_verifier
from cds_service.fhir.base_url import is_within_base

__all__ = [
    "AuthConfigError",
    "InlineKeys",
    "JwtVerifier",
    "KeySource",
    "RemoteKeys",
    "ReplayGuard",
    "TokenRejected",
    "TrustConfig",
    "TrustedIssuer",
    "build_verifier",
    "is_within_base",
    "load_trust_config",
]
