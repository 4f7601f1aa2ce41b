"""Who may do what on a served app: readers ask questions and read the articles; editors also change the corpus
(upload, delete, rebuild). No Gradio here: the app asks `can_edit(username)` in every corpus-changing handler,
so the browser and the HTTP API obey the same rule.

With logins (ServerSettings.logins), the editors are the logins RAG_UI_EDITORS names. Without a login there is
no one to tell apart: the corpus can be changed only when the server listens on loopback (this machine), and a
bind beyond loopback is refused unless the user says so (`--open-to-network-without-login`), read-only then.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from rag.errors import AccessError
from rag.settings import ServerSettings

OPEN_FLAG = "--open-to-network-without-login"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Access:
    logins: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    editors: frozenset[str] = frozenset()
    loopback: bool = True

    @classmethod
    def for_server(cls, server: ServerSettings, host: str = "127.0.0.1", open_without_login: bool = False) -> "Access":
        """The rules for serving on `host`; raises AccessError for a bind beyond loopback with no login and no
        explicit `open_without_login`, RagError for a malformed login setting."""
        logins = server.logins()
        loopback = is_loopback(host)
        if not logins and not loopback and not open_without_login:
            raise AccessError(f"--host {host} without a login would let anyone who can reach it read every article and "
                              "use the model: set RAG_UI_USER and RAG_UI_PASSWORD (RAG_UI_EDITORS for who may change "
                              f"the corpus), or pass {OPEN_FLAG} to serve it read-only to everyone")
        return cls(logins, frozenset(server.editors), loopback)

    @property
    def auth(self) -> list[tuple[str, str]] | None:
        """The logins as Gradio's launch(auth=...) takes them; None for no login."""
        return list(self.logins) or None

    def can_edit(self, username: str | None) -> bool:
        if self.logins:
            return username is not None and username in self.editors
        return self.loopback

    def edit_refusal(self, username: str | None) -> str:
        """One line: why this caller may not change the corpus, and what to do."""
        if self.logins:
            who = repr(username) if username else "this login"
            return (f"{who} may ask questions but not change the corpus: an editor login can (the server's owner "
                    "lists editors in RAG_UI_EDITORS)")
        return ("the corpus cannot be changed on a server open to the network without a login: restart it with "
                "RAG_UI_USER, RAG_UI_PASSWORD and RAG_UI_EDITORS set, or on 127.0.0.1")

    def check_edit(self, username: str | None) -> None:
        if not self.can_edit(username):
            raise AccessError(self.edit_refusal(username))
