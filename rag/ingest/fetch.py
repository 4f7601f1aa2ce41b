"""Fetch one web page by its link, for the corpus, without letting the link reach what the server can reach.

A server that fetches links for its users is a way in for anyone who can reach it (server-side request forgery):
a link to 127.0.0.1, to the private network or to a cloud's metadata address (169.254.169.254) would read what
only the server may read. So: http and https only, no user name or password in the link; the host is resolved
once and every address it resolves to must be public (not loopback, private, link-local, shared, reserved,
multicast or unspecified, IPv4 inside IPv6 included) unless FetchSettings.allow_private; the connection goes to
that checked address (the name is not resolved again, so a DNS answer cannot change between check and
connection); redirects are followed by hand, each checked the same way, at most max_redirects; one deadline for
the whole fetch; at most max_bytes read; only an HTML page (text/html, application/xhtml+xml) is taken.
Environment proxies are not used (a proxy would connect on our behalf, past the check).
"""

from __future__ import annotations

import http.client
import ipaddress
import re
import socket
import ssl
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable
from urllib.parse import urljoin, urlsplit

from rag.errors import FetchError
from rag.ingest.webpage import saved_copy
from rag.settings import FetchSettings

PAGE_TYPES = ("text/html", "application/xhtml+xml")
_REDIRECTS = (301, 302, 303, 307, 308)
_ALLOW_HINT = "set RAG_ALLOW_PRIVATE_URLS=1 only on a server no one else can reach"
_METADATA = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([\w-]+)""", re.I)

Resolver = Callable[[str, int], list[str]]
Vet = Callable[[str], "str | None"]  # an address -> why it is refused, or None


def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (socket.getaddrinfo), as text."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchError(f"{host} could not be found ({exc}): check the link") from None
    return list(dict.fromkeys(info[4][0] for info in infos))


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (IPv4-mapped, 6to4, NAT64), if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def refusal(address: str) -> str | None:
    """Why a connection to `address` is refused (e.g. "a loopback address"), or None for a public address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and (inner := _embedded_ipv4(ip)) is not None:
        why = refusal(str(inner))
        return f"{why} inside an IPv6 address" if why else None
    if ip in _METADATA:
        return "a cloud metadata address"
    for test, what in (("is_loopback", "a loopback address (this machine)"),
                       ("is_unspecified", "an unspecified address"), ("is_link_local", "a link-local address"),
                       ("is_multicast", "a multicast address"), ("is_private", "a private-network address"),
                       ("is_reserved", "a reserved address")):
        if getattr(ip, test):
            return what
    return None if ip.is_global else "not a public address"


def check_host(host: str, port: int, allow_private: bool, resolver: Resolver = resolve, vet: Vet = refusal) -> str:
    """The address to connect to for `host`: resolved, and every address it resolves to checked by `vet` (one
    refused address refuses the host: which one a connection would use is not ours to choose). Raises FetchError."""
    addresses = resolver(host, port)
    if not addresses:
        raise FetchError(f"{host} resolves to no address: check the link")
    if not allow_private:
        for address in addresses:
            why = vet(address)
            if why:
                shown = host if host == address else f"{host} resolves to {address}, which"
                raise FetchError(f"{shown} is {why}: links to this machine or its private network are refused "
                                 f"({_ALLOW_HINT})")
    return addresses[0]


@dataclass(frozen=True)
class Page:
    """A fetched page: the link asked for, the one that answered (after redirects), and the page as text."""

    url: str
    final_url: str
    html: str
    fetched_at: str  # ISO 8601, UTC

    def saved(self) -> bytes:
        """The page as the corpus keeps it: UTF-8, with the link and fetch time recorded at its top."""
        return saved_copy(self.html, self.final_url, self.fetched_at).encode("utf-8")

    @property
    def name(self) -> str:
        """A file name for the page: its site and the last part of its path (.html)."""
        parts = urlsplit(self.final_url)
        last = [p for p in parts.path.split("/") if p]
        stem = re.sub(r"\.(?:s?html?|php|aspx?|jsp)$", "", last[-1], flags=re.I) if last else "index"
        return f"{parts.hostname}-{stem}.html"


class _PinnedHTTP(http.client.HTTPConnection):
    """An HTTP connection to a checked address, sending the link's own host name."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.address = address

    def connect(self) -> None:
        self.sock = self.pinned = socket.create_connection((self.address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    """An HTTPS connection to a checked address; the certificate is checked against the link's host name."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self.address = address

    def connect(self) -> None:
        sock = socket.create_connection((self.address, self.port), self.timeout)
        self.sock = self.pinned = self._context.wrap_socket(sock, server_hostname=self.host)


def _decode(body: bytes, content_type: str) -> str:
    """The page as text: the charset the server or the page names, else UTF-8, else the best guess."""
    m = re.search(r"charset=([\w-]+)", content_type, re.I) or _CHARSET.search(body[:4096])
    declared = m.group(1) if m else None
    if isinstance(declared, bytes):
        declared = declared.decode("ascii", "replace")
    for charset in filter(None, (declared, "utf-8")):
        try:
            return body.decode(charset)
        except (LookupError, UnicodeDecodeError):
            continue
    from charset_normalizer import from_bytes

    best = from_bytes(body).best()
    if best is None:
        raise FetchError("the page's text encoding could not be read: save the page from a browser and upload it")
    return str(best)


class PageFetcher:
    def __init__(self, settings: FetchSettings, max_bytes: int, resolver: Resolver = resolve,
                 vet: Vet = refusal) -> None:
        """`max_bytes`: the corpus's size limit (Settings.max_file_bytes); `resolver` (host, port) -> addresses and
        `vet` (address -> why it is refused, or None) are the checks' parts (tests pass a vet that lets one loopback
        test server through, to see redirects from it refused)."""
        self.settings = settings
        self.max_bytes = max_bytes
        self.resolver = resolver
        self.vet = vet

    def fetch(self, url: str) -> Page:
        """The page at `url`; raises FetchError, having connected nowhere it should not, when it is refused."""
        url = url.strip()
        deadline = time.monotonic() + self.settings.timeout_s
        current = url
        for _ in range(self.settings.max_redirects + 1):
            status, location, content_type, body = self._get(current, deadline)
            if status in _REDIRECTS:
                if not location:
                    raise FetchError(f"{current} answered {status} (a redirect) without saying where to")
                current = urljoin(current, location)
                continue
            if status != 200:
                raise FetchError(f"{current} answered {status} {http.client.responses.get(status, '')}".rstrip()
                                 + ": check the link")
            html = _decode(body, content_type)
            fetched = datetime.now(timezone.utc).replace(microsecond=0).isoformat()
            return Page(url, current, html, fetched)
        raise FetchError(f"{url} redirects more than {self.settings.max_redirects} times: link to the article's "
                         "own page")

    def _target(self, url: str) -> tuple[str, int, str, str]:
        """(host, port, address, path) for a link, checked: scheme, no credentials, a public address."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise FetchError(f"{url[:200]}: only http:// and https:// links can be added")
        if parts.username is not None or parts.password is not None:
            raise FetchError("a link with a user name or password is refused: give the page's public link")
        try:
            host, port = parts.hostname, parts.port or (443 if scheme == "https" else 80)
        except ValueError:
            raise FetchError(f"{url[:200]}: the port is not a number: check the link") from None
        if not host:
            raise FetchError(f"{url[:200]}: the link has no host name: check it")
        address = check_host(host, port, self.settings.allow_private, self.resolver, self.vet)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return host, port, address, path

    def _get(self, url: str, deadline: float) -> tuple[int, str | None, str, bytes]:
        """One GET: (status, Location, Content-Type, body); the body is read only for a 200 HTML page."""
        host, port, address, path = self._target(url)
        left = deadline - time.monotonic()
        if left <= 0:
            raise FetchError(f"{url} did not answer within {self.settings.timeout_s:g} s: try again later")
        kind = _PinnedHTTPS if urlsplit(url).scheme.lower() == "https" else _PinnedHTTP
        conn = kind(host, port, address, timeout=left)
        try:
            conn.request("GET", path, headers={"User-Agent": self.settings.user_agent, "Accept-Encoding": "identity",
                                               "Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.1"})
            response = conn.getresponse()
            content_type = response.getheader("Content-Type", "")
            if response.status != 200:
                return response.status, response.getheader("Location"), content_type, b""
            media = content_type.split(";", 1)[0].strip().lower()
            if media not in PAGE_TYPES:
                what = media or "no Content-Type"
                raise FetchError(f"{url} is {what}, not a web page: download the file and upload it "
                                 "(.pdf, .docx, .txt)")
            length = response.getheader("Content-Length")
            if length and length.isdigit() and int(length) > self.max_bytes:
                raise FetchError(f"{url}: the page has {int(length):,} bytes, over the {self.max_bytes:,}-byte limit: "
                                 "save the article's text and upload it")
            body = bytearray()
            while not response.isclosed():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError()
                conn.pinned.settimeout(left)  # the response reads from it after conn.sock is let go
                chunk = response.read(65536)
                if not chunk:
                    break
                body += chunk
                if len(body) > self.max_bytes:
                    raise FetchError(f"{url}: the page is over the {self.max_bytes:,}-byte limit: save the "
                                     "article's text and upload it")
            return 200, None, content_type, bytes(body)
        except FetchError:
            raise
        except TimeoutError:
            raise FetchError(f"{url} did not answer within {self.settings.timeout_s:g} s: try again later") from None
        except ssl.SSLError as exc:
            raise FetchError(f"the secure connection to {host} failed ({exc.reason or exc}): check the link") from None
        except (OSError, http.client.HTTPException) as exc:
            raise FetchError(f"could not fetch {url} ({type(exc).__name__}: {exc}): check the link or try again "
                             "later") from None
        finally:
            conn.close()
