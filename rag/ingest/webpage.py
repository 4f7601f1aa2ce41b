"""A saved web page's article through trafilatura: the main text without menus, related links, scripts or
comments, and the page's title, publication date (htmldate) and author or site.

A page fetched by `rag add URL` (rag/ingest/fetch.py) is saved with the link and the fetch time in comments
at its top (`<!-- saved from url=(0042)https://... -->`, the comment browsers write when they save a page), so
that a rebuild reads it again without the network; the link names the site when the page does not.
"""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit

from rag.errors import CorpusError
from rag.ingest.cleaning import Extracted

_SAVED_FROM = re.compile(r"\A\s*<!-- saved from url=\(\d{4}\)(?P<url>\S+) -->")
_FETCHED = re.compile(r"<!-- fetched (?P<when>\S+) -->")
_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")


def saved_copy(page: str, url: str, fetched_at: str) -> str:
    """The page with its link and fetch time (ISO 8601) recorded at the top, as read_html reads them back."""
    url = quote(url, safe=":/?#[]@!$&'()*+,;=%~")  # no space or '>' can end the comment early
    return f"<!-- saved from url=({len(url):04d}){url} -->\n<!-- fetched {fetched_at} -->\n{page}"


def saved_from(page: str) -> tuple[str | None, str | None]:
    """(link, fetch time) recorded at the top of a saved page, each None when absent."""
    m = _SAVED_FROM.match(page)
    if m is None:
        return None, None
    fetched = _FETCHED.match(page, m.end() + 1)
    return m.group("url"), fetched.group("when") if fetched else None


def _day_month_year(date: str | None) -> str | None:
    """trafilatura's 2025-07-26 as the articles write dates (26/07/2025)."""
    m = _ISO_DATE.match(date or "")
    return f"{m.group(3)}/{m.group(2)}/{m.group(1)}" if m else date


def read_html(page: str) -> Extracted:
    """The article of a web page: its text, one paragraph a line, and its title, date and site or author."""
    import trafilatura

    url, _ = saved_from(page)
    # Precision over recall: a home or list page gives nothing rather than its menus and headlines; the date is
    # the page's own (its markup and metadata, publication before modification), never a guess from its text.
    found = trafilatura.bare_extraction(page, url=url, with_metadata=True, include_comments=False,
                                        include_tables=True, include_images=False, deduplicate=False,
                                        favor_precision=True,
                                        date_extraction_params={"original_date": True, "extensive_search": False})
    if found is None or not (found.text or "").strip():
        raise CorpusError("trafilatura found no article text in the page: save the article's own page (not a "
                          "home or list page), or paste its text into a .txt file")
    site = found.sitename
    if site and found.title and found.title in site:  # trafilatura's guess from the <title>, not a site's name
        site = None
    site = site or (urlsplit(url).hostname if url else None)
    return Extracted(found.text, title=found.title, date=_day_month_year(found.date), source=site or found.author)
