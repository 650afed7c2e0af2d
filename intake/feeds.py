"""Reading the clinic's article list from a sitemap, an RSS or an Atom document.

Parsed with defusedxml: no DTDs, no entity expansion, no external entities. Only
reading is done here; ``intake.services.articles_import`` stores what was read.
"""

from __future__ import annotations

import html
import re
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

from defusedxml import ElementTree
from django.conf import settings

MAX_DOCUMENT_BYTES = 20 * 1024 * 1024


class FeedError(Exception):
    """The document could not be fetched or is not a sitemap, RSS or Atom."""


@dataclass(frozen=True)
class FeedEntry:
    url: str
    title: str = ""
    published_at: datetime | None = None


@dataclass
class FeedDocument:
    kind: str  # "sitemap", "sitemapindex", "rss" or "atom"
    entries: list[FeedEntry] = field(default_factory=list)
    #: Child sitemaps named by a sitemap index.
    sitemaps: list[str] = field(default_factory=list)


def _local(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _children(element: Any, name: str) -> Iterator[Any]:
    return (child for child in element if _local(child.tag) == name)


def _child(element: Any, name: str) -> Any | None:
    return next(_children(element, name), None)


def _text(element: Any | None) -> str:
    if element is None:
        return ""
    return " ".join("".join(element.itertext()).split())


def _title(element: Any | None) -> str:
    """A title as text; Atom's escaped-HTML titles are unescaped and untagged."""
    text = _text(element)
    if element is not None and element.get("type") == "html":
        text = " ".join(re.sub(r"<[^>]*>", " ", html.unescape(text)).split())
    return text


def parse_date(value: str) -> datetime | None:
    """RFC 822 (RSS) or ISO 8601 / W3C (Atom, sitemaps), as an aware datetime."""
    value = value.strip()
    if not value:
        return None
    parsed: datetime | None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        try:
            parsed = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def _sitemap(root: Any) -> FeedDocument:
    document = FeedDocument(kind="sitemap")
    for url in _children(root, "url"):
        loc = _text(_child(url, "loc"))
        if not loc:
            continue
        news = _child(url, "news")  # Google News sitemaps carry a title
        document.entries.append(
            FeedEntry(
                url=loc,
                title=_text(_child(news, "title")) if news is not None else "",
                published_at=parse_date(
                    _text(_child(news, "publication_date")) if news is not None else ""
                )
                or parse_date(_text(_child(url, "lastmod"))),
            )
        )
    return document


def _sitemap_index(root: Any) -> FeedDocument:
    document = FeedDocument(kind="sitemapindex")
    for sitemap in _children(root, "sitemap"):
        loc = _text(_child(sitemap, "loc"))
        if loc:
            document.sitemaps.append(loc)
    return document


def _rss_items(items: Iterator[Any]) -> FeedDocument:
    document = FeedDocument(kind="rss")
    for item in items:
        link = _text(_child(item, "link")) or _text(_child(item, "guid"))
        if not link:
            continue
        date = _text(_child(item, "pubDate")) or _text(_child(item, "date"))  # dc:date
        document.entries.append(
            FeedEntry(url=link, title=_text(_child(item, "title")), published_at=parse_date(date))
        )
    return document


def _atom(root: Any) -> FeedDocument:
    document = FeedDocument(kind="atom")
    for entry in _children(root, "entry"):
        links = list(_children(entry, "link"))
        href = next(
            (
                link.get("href", "")
                for link in links
                if link.get("rel", "alternate") == "alternate" and link.get("href")
            ),
            "",
        )
        if not href:
            continue
        date = _text(_child(entry, "published")) or _text(_child(entry, "updated"))
        document.entries.append(
            FeedEntry(url=href, title=_title(_child(entry, "title")), published_at=parse_date(date))
        )
    return document


def feed_parse(content: bytes) -> FeedDocument:
    """Read a sitemap, sitemap index, RSS 2.0, RSS 1.0 (RDF) or Atom document."""
    try:
        root = ElementTree.fromstring(content)
    except Exception as error:  # ParseError and defusedxml's refusals (DTDs, entities)
        raise FeedError(f"Not a readable XML document ({type(error).__name__}: {error})") from None
    kind = _local(root.tag)
    if kind == "urlset":
        return _sitemap(root)
    if kind == "sitemapindex":
        return _sitemap_index(root)
    if kind == "rss":
        channel = _child(root, "channel")
        return _rss_items(_children(channel, "item") if channel is not None else iter(()))
    if kind == "RDF":
        return _rss_items(_children(root, "item"))
    if kind == "feed":
        return _atom(root)
    raise FeedError(f"Not a sitemap, RSS or Atom document (root element <{kind}>).")


def is_url(source: str) -> bool:
    return urlsplit(source).scheme in {"http", "https"}


def feed_fetch(url: str) -> bytes:
    """GET an http(s) URL with the import timeout, at most 20 MB."""
    if not is_url(url):
        raise FeedError(f"Only http and https URLs are fetched, not {url!r}.")
    request = urllib.request.Request(  # noqa: S310 (scheme checked above)
        url, headers={"User-Agent": "clinic-intake import_articles"}
    )
    try:
        with urllib.request.urlopen(  # noqa: S310
            request, timeout=settings.ARTICLE_IMPORT_TIMEOUT_SECONDS
        ) as response:
            content = response.read(MAX_DOCUMENT_BYTES + 1)
    except (OSError, ValueError) as error:
        raise FeedError(f"Could not fetch {url}: {error}") from None
    if len(content) > MAX_DOCUMENT_BYTES:
        raise FeedError(f"{url} is larger than {MAX_DOCUMENT_BYTES} bytes.")
    return content
