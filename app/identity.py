"""Who is using the chat (UI only): the OIDC login Streamlit provides (``st.login``, ``auth:
oidc``), a trusted proxy's headers (``auth: proxy``), or nobody (``auth: none``).

Example::

    user = current_user(settings)     # stops the page with a sign-in prompt when needed
"""

from __future__ import annotations

import streamlit as st

from rag import NotSignedIn, Settings, User, from_claims, identify


def current_user(settings: Settings) -> User | None:
    """The signed-in user (None: single-user mode); the page stops with a prompt otherwise."""
    if settings.auth == "oidc":
        if not st.user.is_logged_in:
            st.title("Ask your documents")
            st.info("Sign in to ask questions about the documents you may read.")
            st.button("Sign in", on_click=st.login, type="primary")
            st.stop()
        try:
            user = from_claims(settings, st.user.to_dict())
        except NotSignedIn as error:
            st.error(str(error))
            st.stop()
        with st.sidebar:
            st.caption(f"Signed in as **{user.id}** ({', '.join(sorted(user.groups)) or 'no groups'})")
            st.button("Sign out", on_click=st.logout)
        return user
    client = st.context.ip_address or "127.0.0.1"  # Streamlit gives None for a localhost connection
    try:
        found = identify(settings, dict(st.context.headers.items()), client)
    except NotSignedIn as error:
        st.error(f"Not signed in: {error}")
        st.stop()
    if found is not None:
        with st.sidebar:
            st.caption(f"Signed in as **{found.id}** ({', '.join(sorted(found.groups)) or 'no groups'})")
    return found
