"""The A2A 1.0 agent card and its security schemes (proto ``lf.a2a.v1``) as msgspec Structs.

Same conventions as ``_v1``: proto names, proto3 JSON (camelCase, zeros left out), REQUIRED
scalars without defaults, oneofs (``SecurityScheme``, ``OAuthFlows``) validated. Repeated
fields the proto marks REQUIRED still default to empty, because a proto3 peer's card
leaves empty lists out and the card of a peer must still decode.
"""

from __future__ import annotations

from typing import Any

from ._base import Wire, exactly_one

__all__ = [
    "APIKeySecurityScheme",
    "AgentCapabilities",
    "AgentCard",
    "AgentCardSignature",
    "AgentExtension",
    "AgentInterface",
    "AgentProvider",
    "AgentSkill",
    "AuthorizationCodeOAuthFlow",
    "ClientCredentialsOAuthFlow",
    "DeviceCodeOAuthFlow",
    "HTTPAuthSecurityScheme",
    "ImplicitOAuthFlow",
    "MutualTlsSecurityScheme",
    "OAuth2SecurityScheme",
    "OAuthFlows",
    "OpenIdConnectSecurityScheme",
    "PasswordOAuthFlow",
    "SecurityRequirement",
    "SecurityScheme",
    "StringList",
]

# The proto field of StringList is called ``list``, which shadows the builtin inside the
# class body; the annotation goes through this alias.
_Strings = list[str]


class StringList(Wire, kw_only=True):
    """A list of strings (the scopes a security requirement asks of one scheme)."""

    list: _Strings = []


class SecurityRequirement(Wire, kw_only=True):
    """Scheme name → required scopes; all schemes of one requirement apply together."""

    schemes: dict[str, StringList] = {}


class APIKeySecurityScheme(Wire, kw_only=True):
    """An API key in a header, query parameter or cookie (``location``)."""

    description: str = ""
    location: str
    name: str


class HTTPAuthSecurityScheme(Wire, kw_only=True):
    """HTTP authentication (RFC 7235), e.g. ``scheme="Bearer"``."""

    description: str = ""
    scheme: str
    bearer_format: str = ""


class AuthorizationCodeOAuthFlow(Wire, kw_only=True):
    """OAuth 2.0 authorization code flow."""

    authorization_url: str
    token_url: str
    refresh_url: str = ""
    scopes: dict[str, str] = {}
    pkce_required: bool = False


class ClientCredentialsOAuthFlow(Wire, kw_only=True):
    """OAuth 2.0 client credentials flow."""

    token_url: str
    refresh_url: str = ""
    scopes: dict[str, str] = {}


class ImplicitOAuthFlow(Wire, kw_only=True):
    """OAuth 2.0 implicit flow (deprecated)."""

    authorization_url: str = ""
    refresh_url: str = ""
    scopes: dict[str, str] = {}


class PasswordOAuthFlow(Wire, kw_only=True):
    """OAuth 2.0 resource owner password flow (deprecated)."""

    token_url: str = ""
    refresh_url: str = ""
    scopes: dict[str, str] = {}


class DeviceCodeOAuthFlow(Wire, kw_only=True):
    """OAuth 2.0 device authorization flow (RFC 8628)."""

    device_authorization_url: str
    token_url: str
    refresh_url: str = ""
    scopes: dict[str, str] = {}


class OAuthFlows(Wire, kw_only=True):
    """Exactly one OAuth 2.0 flow."""

    authorization_code: AuthorizationCodeOAuthFlow | None = None
    client_credentials: ClientCredentialsOAuthFlow | None = None
    implicit: ImplicitOAuthFlow | None = None
    password: PasswordOAuthFlow | None = None
    device_code: DeviceCodeOAuthFlow | None = None

    def __post_init__(self) -> None:
        exactly_one(
            self,
            ("authorization_code", "client_credentials", "implicit", "password", "device_code"),
        )


class OAuth2SecurityScheme(Wire, kw_only=True):
    """OAuth 2.0."""

    description: str = ""
    flows: OAuthFlows
    oauth2_metadata_url: str = ""


class OpenIdConnectSecurityScheme(Wire, kw_only=True):
    """OpenID Connect discovery."""

    description: str = ""
    open_id_connect_url: str


class MutualTlsSecurityScheme(Wire, kw_only=True):
    """Mutual TLS."""

    description: str = ""


class SecurityScheme(Wire, kw_only=True):
    """Exactly one security scheme."""

    api_key_security_scheme: APIKeySecurityScheme | None = None
    http_auth_security_scheme: HTTPAuthSecurityScheme | None = None
    oauth2_security_scheme: OAuth2SecurityScheme | None = None
    open_id_connect_security_scheme: OpenIdConnectSecurityScheme | None = None
    mtls_security_scheme: MutualTlsSecurityScheme | None = None

    def __post_init__(self) -> None:
        exactly_one(
            self,
            (
                "api_key_security_scheme",
                "http_auth_security_scheme",
                "oauth2_security_scheme",
                "open_id_connect_security_scheme",
                "mtls_security_scheme",
            ),
        )


class AgentInterface(Wire, kw_only=True):
    """One endpoint of the agent: URL, binding (``JSONRPC``, ``GRPC``, ``HTTP+JSON``), version."""

    url: str
    protocol_binding: str
    tenant: str = ""
    protocol_version: str


class AgentProvider(Wire, kw_only=True):
    """Who runs the agent."""

    url: str
    organization: str


class AgentExtension(Wire, kw_only=True):
    """A protocol extension the agent supports."""

    uri: str = ""
    description: str = ""
    required: bool = False
    params: dict[str, Any] | None = None


class AgentCapabilities(Wire, kw_only=True):
    """Optional features of the agent."""

    streaming: bool | None = None
    push_notifications: bool | None = None
    extensions: list[AgentExtension] = []
    extended_agent_card: bool | None = None


class AgentSkill(Wire, kw_only=True):
    """One thing the agent can do."""

    id: str
    name: str
    description: str
    tags: list[str] = []
    examples: list[str] = []
    input_modes: list[str] = []
    output_modes: list[str] = []
    security_requirements: list[SecurityRequirement] = []


class AgentCardSignature(Wire, kw_only=True):
    """A JWS signature of the card (RFC 7515, detached payload)."""

    protected: str
    signature: str
    header: dict[str, Any] | None = None


class AgentCard(Wire, kw_only=True):
    """The agent's self-description, served at ``/.well-known/agent-card.json``."""

    name: str
    description: str
    supported_interfaces: list[AgentInterface] = []
    provider: AgentProvider | None = None
    version: str
    documentation_url: str | None = None
    capabilities: AgentCapabilities
    security_schemes: dict[str, SecurityScheme] = {}
    security_requirements: list[SecurityRequirement] = []
    default_input_modes: list[str] = []
    default_output_modes: list[str] = []
    skills: list[AgentSkill] = []
    signatures: list[AgentCardSignature] = []
    icon_url: str | None = None
