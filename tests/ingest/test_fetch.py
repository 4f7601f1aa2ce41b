"""Links fetched from local HTTP servers (127.0.0.1 and 127.0.0.2, in threads): pages and redirects with private
addresses allowed; every refusal with them refused, checked before any connection (the servers log every request,
and tests/conftest.py blocks any connection beyond loopback). Private, link-local and metadata addresses are
checked on the address check itself: resolved (by a stand-in resolver) and refused, no connection made."""

from __future__ import annotations

import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from rag.errors import FetchError
from rag.indexing.store import IndexStore
from rag.ingest.fetch import PageFetcher, check_host, refusal
from rag.ingest.library import Library
from rag.settings import FetchSettings

from .documents import html_page

ARTICLE = html_page()


class Handler(BaseHTTPRequestHandler):
    routes: dict = {}

    def do_GET(self):  # noqa: N802 - http.server's name
        self.server.log.append(self.path)
        status, headers, body, delay = self.server.routes.get(self.path, (404, {}, b"not found", 0))
        if delay:
            time.sleep(delay)
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        if "Content-Length" not in headers and body is not None:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def log_message(self, *args):
        pass


def start(host: str, routes: dict):
    server = ThreadingHTTPServer((host, 0), Handler)
    server.log, server.routes = [], routes
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    server.base = f"http://{host}:{server.server_address[1]}"
    return server


@pytest.fixture
def servers():
    """Two servers: `home` (127.0.0.1) with the article, `relay` (127.0.0.2) with redirects and odd answers."""
    home = start("127.0.0.1", {})
    relay = start("127.0.0.2", {})
    html = {"Content-Type": "text/html; charset=utf-8"}
    home.routes.update({"/tin/le-hoi-sen.html": (200, html, ARTICLE, 0)})
    relay.routes.update({
        "/tin/le-hoi-sen.html": (200, html, ARTICLE, 0),
        "/moved": (301, {"Location": "/tin/le-hoi-sen.html"}, b"", 0),
        "/loop": (302, {"Location": "/loop"}, b"", 0),
        "/to-home": (302, {"Location": f"{home.base}/tin/le-hoi-sen.html"}, b"", 0),
        "/to-localhost": (302, {"Location": f"http://localhost:{home.server_address[1]}/"}, b"", 0),
        "/to-private": (307, {"Location": "http://10.0.0.7/admin"}, b"", 0),
        "/to-metadata": (302, {"Location": "http://169.254.169.254/latest/meta-data/"}, b"", 0),
        "/to-file": (302, {"Location": "file:///etc/passwd"}, b"", 0),
        "/report.pdf": (200, {"Content-Type": "application/pdf"}, b"%PDF-1.4", 0),
        "/untyped": (200, {}, ARTICLE, 0),
        "/big": (200, {**html, "Content-Length": "9000000"}, None, 0),
        "/slow": (200, html, ARTICLE, 2.0),
        "/gone": (410, {}, b"", 0),
        "/latin": (200, {"Content-Type": "text/html; charset=iso-8859-1"},
                   "<html><body><article><p>Caf\xe9 au lait, cr\xe8me br\xfbl\xe9e.</p></article></body></html>"
                   .encode("latin-1"), 0),
    })
    yield home, relay
    for server in (home, relay):
        server.shutdown()
        server.server_close()


def fetcher(allow_private: bool, max_bytes: int = 5_000_000, timeout_s: float = 10.0, through: str | None = None):
    """A fetcher; `through`: the one address let through while private addresses are refused."""
    vet = (lambda a: None if a == through else refusal(a)) if through else refusal
    return PageFetcher(FetchSettings(allow_private=allow_private, timeout_s=timeout_s), max_bytes, vet=vet)


def test_a_page_from_a_local_server_with_private_links_allowed(servers):
    home, _ = servers
    page = fetcher(True).fetch(f"{home.base}/tin/le-hoi-sen.html")
    assert page.final_url == page.url == f"{home.base}/tin/le-hoi-sen.html"
    assert page.html == ARTICLE.decode("utf-8") and page.name == "127.0.0.1-le-hoi-sen.html"
    saved = page.saved().decode("utf-8")
    assert saved.startswith(f"<!-- saved from url=({len(page.url):04d}){page.url} -->\n<!-- fetched {page.fetched_at} -->")
    assert home.log == ["/tin/le-hoi-sen.html"]


def test_redirects_are_followed_and_counted(servers):
    _, relay = servers
    page = fetcher(True).fetch(f"{relay.base}/moved")
    assert page.final_url == f"{relay.base}/tin/le-hoi-sen.html"
    with pytest.raises(FetchError, match=r"/loop redirects more than 5 times: link to the article's own page"):
        fetcher(True).fetch(f"{relay.base}/loop")
    assert relay.log.count("/loop") == 6


@pytest.mark.parametrize("path, says", [
    ("/report.pdf", "is application/pdf, not a web page: download the file and upload it"),
    ("/untyped", "is no Content-Type, not a web page"),
    ("/big", "the page has 9,000,000 bytes, over the 5,000,000-byte limit"),
    ("/gone", "answered 410 Gone: check the link"),
])
def test_what_is_not_a_page_is_refused(servers, path, says):
    _, relay = servers
    with pytest.raises(FetchError, match=says):
        fetcher(True).fetch(relay.base + path)


def test_a_page_over_the_limit_is_cut_off_and_a_slow_one_times_out(servers):
    _, relay = servers
    with pytest.raises(FetchError, match="over the 1,000-byte limit"):
        fetcher(True, max_bytes=1000).fetch(f"{relay.base}/tin/le-hoi-sen.html")
    with pytest.raises(FetchError, match=r"did not answer within 0.5 s: try again later"):
        fetcher(True, timeout_s=0.5).fetch(f"{relay.base}/slow")


def test_the_page_is_decoded_by_its_charset(servers):
    _, relay = servers
    assert "Café au lait, crème brûlée." in fetcher(True).fetch(f"{relay.base}/latin").html


def test_a_link_to_this_machine_is_refused_before_any_connection(servers):
    home, _ = servers
    for url in (f"{home.base}/tin/le-hoi-sen.html", f"http://localhost:{home.server_address[1]}/tin/le-hoi-sen.html",
                f"http://[::1]:{home.server_address[1]}/", f"http://0.0.0.0:{home.server_address[1]}/"):
        with pytest.raises(FetchError) as caught:
            fetcher(False).fetch(url)
        message = str(caught.value)
        assert "links to this machine or its private network are refused (set RAG_ALLOW_PRIVATE_URLS=1" in message
        assert "\n" not in message
    assert home.log == []


@pytest.mark.parametrize("path, says", [
    ("/to-home", "127.0.0.1 is a loopback address (this machine)"),
    ("/to-localhost", "a loopback address (this machine)"),
    ("/to-private", "10.0.0.7 is a private-network address"),
    ("/to-metadata", "169.254.169.254 is a cloud metadata address"),
    ("/to-file", "only http:// and https:// links can be added"),
])
def test_a_redirect_to_a_refused_address_is_refused_before_following_it(servers, path, says):
    home, relay = servers
    with pytest.raises(FetchError, match=re.escape(says)):
        fetcher(False, through="127.0.0.2").fetch(relay.base + path)
    assert relay.log == [path] and home.log == []


@pytest.mark.parametrize("url, says", [
    ("ftp://example.com/tin.html", "only http:// and https:// links can be added"),
    ("file:///etc/passwd", "only http:// and https:// links can be added"),
    ("javascript:alert(1)", "only http:// and https:// links can be added"),
    ("http://admin:secret@example.com/", "a link with a user name or password is refused"),
    ("http://example.com:99999/", "the port is not a number"),
    ("http:///tin.html", "the link has no host name"),
])
def test_links_that_are_not_plain_web_links_are_refused(url, says):
    with pytest.raises(FetchError, match=says):
        fetcher(False).fetch(url)


@pytest.mark.parametrize("addresses, says", [
    (["10.1.2.3"], "10.1.2.3, which is a private-network address"),
    (["172.16.0.9"], "a private-network address"),
    (["192.168.1.20"], "a private-network address"),
    (["169.254.10.20"], "a link-local address"),
    (["169.254.169.254"], "a cloud metadata address"),
    (["fd00:ec2::254"], "a cloud metadata address"),
    (["fe80::1"], "a link-local address"),
    (["fc00::5"], "a private-network address"),
    (["::ffff:192.168.0.1"], "a private-network address inside an IPv6 address"),
    (["::ffff:127.0.0.1"], "a loopback address (this machine) inside an IPv6 address"),
    (["64:ff9b::a00:1"], "a private-network address inside an IPv6 address"),
    (["2002:a9fe:a9fe::"], "a cloud metadata address inside an IPv6 address"),
    (["100.64.0.1"], "not a public address"),
    (["224.0.0.251"], "a multicast address"),
    (["0.0.0.0"], "an unspecified address"),
    (["93.184.216.34", "10.0.0.1"], "10.0.0.1, which is a private-network address"),  # one bad address is enough
])
def test_private_and_link_local_addresses_are_refused_after_resolution(addresses, says):
    resolved = []

    def resolver(host, port):
        resolved.append((host, port))
        return addresses

    with pytest.raises(FetchError, match=re.escape(says)):
        check_host("tin.example", 80, False, resolver)
    assert resolved == [("tin.example", 80)]
    assert check_host("tin.example", 80, True, resolver) == addresses[0]  # the setting allows them


def test_a_public_address_passes_the_check():
    assert check_host("tin.example", 443, False, lambda h, p: ["93.184.216.34", "2606:2800:220:1::"]) == "93.184.216.34"
    with pytest.raises(FetchError, match="tin.example resolves to no address"):
        check_host("tin.example", 443, False, lambda h, p: [])


def test_a_name_that_does_not_resolve_is_one_line():
    with pytest.raises(FetchError, match=r"no-such-host\.invalid could not be found \(.*\): check the link"):
        check_host("no-such-host.invalid", 80, False)


def test_a_link_is_added_as_an_upload_and_a_refusal_writes_nothing(servers, settings):
    home, _ = servers
    files = lambda: sorted(p.name for p in settings.corpus_dir.rglob("*"))  # noqa: E731
    before = files()
    refusing = Library(settings.corpus_dir, IndexStore(settings.index_dir), 5_000_000, fetcher(False))
    with pytest.raises(FetchError, match="loopback"):
        refusing.add_url(f"{home.base}/tin/le-hoi-sen.html")
    assert files() == before and home.log == []

    library = Library(settings.corpus_dir, IndexStore(settings.index_dir), 5_000_000, fetcher(True))
    added = library.add_url(f"{home.base}/tin/le-hoi-sen.html")
    assert added.path.name == "127.0.0.1-le-hoi-sen.html" and added.title == "Đồng Tháp khai mạc lễ hội hoa sen lần thứ ba"
    assert files() == sorted(before + [added.path.name])
    doc = {d.doc_id: d for d in library.documents()}[added.doc_id]
    assert (doc.date, doc.source, doc.state) == ("12/06/2025", "Báo Tin Tức Miền Tây", "new")
    with pytest.raises(Exception, match="already in the corpus"):
        library.add_url(f"{home.base}/tin/le-hoi-sen.html")
    assert files() == sorted(before + [added.path.name])
