"""Who is asking, from what an entry point knows of the request: a trusted proxy's headers, an
OIDC login's claims, or nothing.

``auth`` (settings) decides:

* ``none``: nobody signs in. Without ``access_rules`` that is single-user mode (unrestricted,
  today's default); with rules, every caller is ``anonymous`` and reads only the documents no rule
  restricts, and may not upload or delete.
* ``proxy``: a reverse proxy that signed the user in (oauth2-proxy, Authelia, a company gateway)
  sends ``X-Forwarded-User`` and ``X-Forwarded-Groups`` (comma-separated). They are believed only
  from the addresses in ``trusted_proxies``; anything else is :class:`NotSignedIn`.
* ``oidc``: the chat signs people in itself with Streamlit's ``st.login`` (see the README); their
  groups are the ``oidc_groups_claim`` claim of the ID token (:func:`from_claims`). The HTTP API
  has no browser login: in this mode it takes the proxy headers, as in ``proxy``.

Example::

    user = identify(settings, {"X-Forwarded-User": "ann", "X-Forwarded-Groups": "hr,staff"}, "10.0.0.5")
    user = from_claims(settings, {"email": "ann@example.com", "groups": ["hr"]})
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

from rag.core.access import User
from rag.core.errors import AccessDenied
from rag.core.settings import Settings

USER_HEADER = "x-forwarded-user"
GROUPS_HEADER = "x-forwarded-groups"
ANONYMOUS = User("anonymous")


class NotSignedIn(AccessDenied):
    """The request carries no identity this deployment believes (HTTP 401)."""


def identify(settings: Settings, headers: Mapping[str, str], client: str | None) -> User | None:
    """The user a request comes from (None: unrestricted single-user mode); :class:`NotSignedIn`
    when ``auth`` needs a trusted proxy's headers and the request has none."""
    if settings.auth == "none":
        return ANONYMOUS if settings.access_rules else None
    lowered = {key.lower(): value for key, value in headers.items()}
    name = lowered.get(USER_HEADER, "").strip()
    if not trusted(settings, client):
        raise NotSignedIn(
            f"requests must come through the signing-in proxy (auth: {settings.auth}); "
            f"{client or 'this address'} is not in trusted_proxies"
        )
    if not name:
        raise NotSignedIn(f"no {USER_HEADER} header from the proxy: sign in first")
    return User.of(name, lowered.get(GROUPS_HEADER, "").split(","))


def trusted(settings: Settings, client: str | None) -> bool:
    """Whether ``client`` (an IP address) is one of ``trusted_proxies``."""
    if not client:
        return False
    try:
        address = ipaddress.ip_address(client)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(item, strict=False) for item in settings.trusted_proxies)


def from_claims(settings: Settings, claims: Mapping[str, Any]) -> User:
    """The user an OIDC login's claims describe: email (or preferred_username, or sub) and the
    groups in ``oidc_groups_claim`` (a list, or a comma-separated string)."""
    name = str(claims.get("email") or claims.get("preferred_username") or claims.get("sub") or "")
    if not name:
        raise NotSignedIn("the login gave no email, preferred_username or sub claim")
    groups = claims.get(settings.oidc_groups_claim) or []
    if isinstance(groups, str):
        groups = groups.split(",")
    return User.of(name, [str(group) for group in groups])
