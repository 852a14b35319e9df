"""The A2A 0.3 agent card, for ``agent/getAuthenticatedExtendedCard`` asked by a 0.3 client.

0.3 keeps one primary ``url`` + ``preferredTransport`` (the rest in ``additionalInterfaces``),
tags security schemes by ``type``, writes security requirements as plain
``{scheme: [scopes]}`` maps and moves ``extendedAgentCard`` to the top level
(``supportsAuthenticatedExtendedCard``). OAuth flows keep their 1.0 shape (0.3 has no
device-code flow and no PKCE flag; both are dropped).
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from .. import _card as v1
from ._types import Wire03

__all__ = [
    "APIKeySecurityScheme",
    "AgentCapabilities",
    "AgentCard",
    "AgentInterface",
    "AgentSkill",
    "HTTPAuthSecurityScheme",
    "MutualTLSSecurityScheme",
    "OAuth2SecurityScheme",
    "OAuthFlows",
    "OpenIdConnectSecurityScheme",
    "SecurityScheme",
    "from_v1_agent_card",
]

_Requirement = dict[str, list[str]]


class APIKeySecurityScheme(Wire03, kw_only=True, tag_field="type", tag="apiKey"):
    """``{"type": "apiKey", "in": ..., "name": ...}``"""

    in_: Literal["header", "query", "cookie"] = msgspec.field(name="in")
    name: str
    description: str | None = None


class HTTPAuthSecurityScheme(Wire03, kw_only=True, tag_field="type", tag="http"):
    """``{"type": "http", "scheme": "bearer"}``"""

    scheme: str
    bearer_format: str | None = None
    description: str | None = None


class OAuthFlows(Wire03, kw_only=True):
    """0.3 OAuth flows (any of them, not a oneof)."""

    authorization_code: v1.AuthorizationCodeOAuthFlow | None = None
    client_credentials: v1.ClientCredentialsOAuthFlow | None = None
    implicit: v1.ImplicitOAuthFlow | None = None
    password: v1.PasswordOAuthFlow | None = None


class OAuth2SecurityScheme(Wire03, kw_only=True, tag_field="type", tag="oauth2"):
    """``{"type": "oauth2", "flows": {...}}``"""

    flows: OAuthFlows
    oauth2_metadata_url: str | None = None
    description: str | None = None


class OpenIdConnectSecurityScheme(Wire03, kw_only=True, tag_field="type", tag="openIdConnect"):
    """``{"type": "openIdConnect", "openIdConnectUrl": ...}``"""

    open_id_connect_url: str
    description: str | None = None


class MutualTLSSecurityScheme(Wire03, kw_only=True, tag_field="type", tag="mutualTLS"):
    """``{"type": "mutualTLS"}``"""

    description: str | None = None


SecurityScheme = (
    APIKeySecurityScheme
    | HTTPAuthSecurityScheme
    | OAuth2SecurityScheme
    | OpenIdConnectSecurityScheme
    | MutualTLSSecurityScheme
)


class AgentInterface(Wire03, kw_only=True):
    """An extra endpoint: URL and transport (``JSONRPC``, ``GRPC``, ``HTTP+JSON``)."""

    url: str
    transport: str


class AgentCapabilities(Wire03, kw_only=True):
    """0.3 capabilities."""

    streaming: bool | None = None
    push_notifications: bool | None = None
    state_transition_history: bool | None = None
    extensions: list[v1.AgentExtension] = []


class AgentSkill(Wire03, kw_only=True):
    """A 0.3 skill (security requirements as plain maps)."""

    id: str
    name: str
    description: str
    tags: list[str]
    examples: list[str] = []
    input_modes: list[str] = []
    output_modes: list[str] = []
    security: list[_Requirement] = []


class AgentCard(Wire03, kw_only=True):
    """The 0.3 agent card."""

    protocol_version: str = "0.3.0"
    name: str
    description: str
    url: str
    preferred_transport: str | None = None
    additional_interfaces: list[AgentInterface] = []
    icon_url: str | None = None
    provider: v1.AgentProvider | None = None
    version: str
    documentation_url: str | None = None
    capabilities: AgentCapabilities
    security_schemes: dict[str, SecurityScheme] = {}
    security: list[_Requirement] = []
    default_input_modes: list[str]
    default_output_modes: list[str]
    skills: list[AgentSkill]
    supports_authenticated_extended_card: bool | None = None
    signatures: list[v1.AgentCardSignature] = []


def _requirement(req: v1.SecurityRequirement) -> _Requirement:
    return {name: list(scopes.list) for name, scopes in req.schemes.items()}


def _scheme(scheme: v1.SecurityScheme) -> SecurityScheme:
    if (key := scheme.api_key_security_scheme) is not None:
        location: Any = key.location.lower()
        return APIKeySecurityScheme(in_=location, name=key.name, description=key.description or None)
    if (http := scheme.http_auth_security_scheme) is not None:
        return HTTPAuthSecurityScheme(
            scheme=http.scheme, bearer_format=http.bearer_format or None, description=http.description or None
        )
    if (oauth := scheme.oauth2_security_scheme) is not None:
        f = oauth.flows
        code = f.authorization_code
        if code is not None and code.pkce_required:
            code = msgspec.structs.replace(code, pkce_required=False)
        return OAuth2SecurityScheme(
            flows=OAuthFlows(
                authorization_code=code,
                client_credentials=f.client_credentials,
                implicit=f.implicit,
                password=f.password,
            ),
            oauth2_metadata_url=oauth.oauth2_metadata_url or None,
            description=oauth.description or None,
        )
    if (oidc := scheme.open_id_connect_security_scheme) is not None:
        return OpenIdConnectSecurityScheme(
            open_id_connect_url=oidc.open_id_connect_url, description=oidc.description or None
        )
    mtls = scheme.mtls_security_scheme
    return MutualTLSSecurityScheme(description=mtls.description or None if mtls else None)


def from_v1_agent_card(card: v1.AgentCard) -> AgentCard:
    """A 1.0 card as a 0.3 card. The first interface (a 0.3 one if any, else the first)
    is the primary; this agent answers 0.3 on the same endpoints as 1.0."""
    interfaces = sorted(card.supported_interfaces, key=lambda i: not i.protocol_version.startswith("0.3"))
    primary = interfaces[0] if interfaces else None
    caps = card.capabilities
    return AgentCard(
        name=card.name,
        description=card.description,
        url=primary.url if primary else "",
        preferred_transport=primary.protocol_binding if primary else None,
        additional_interfaces=[
            AgentInterface(url=i.url, transport=i.protocol_binding) for i in interfaces[1:]
        ],
        icon_url=card.icon_url,
        provider=card.provider,
        version=card.version,
        documentation_url=card.documentation_url,
        capabilities=AgentCapabilities(
            streaming=caps.streaming,
            push_notifications=caps.push_notifications,
            extensions=list(caps.extensions),
        ),
        security_schemes={name: _scheme(s) for name, s in card.security_schemes.items()},
        security=[_requirement(r) for r in card.security_requirements],
        default_input_modes=list(card.default_input_modes),
        default_output_modes=list(card.default_output_modes),
        skills=[
            AgentSkill(
                id=s.id,
                name=s.name,
                description=s.description,
                tags=list(s.tags),
                examples=list(s.examples),
                input_modes=list(s.input_modes),
                output_modes=list(s.output_modes),
                security=[_requirement(r) for r in s.security_requirements],
            )
            for s in card.skills
        ],
        supports_authenticated_extended_card=caps.extended_agent_card,
        signatures=list(card.signatures),
    )
