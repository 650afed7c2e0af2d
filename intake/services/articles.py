"""Articles: the pages whose calls to action bring leads, and how they get here."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from posixpath import splitext
from urllib.parse import unquote, urlsplit

from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from intake.feeds import FeedEntry
from intake.models import Article

logger = logging.getLogger(__name__)


# Slug -> article id (or None), per process. A public POST names its article by
# slug; reading it once per process keeps the request to its insert. An article's
# save or delete in this process clears the cache (see ``apps``), and entries are
# forgotten after ``_SLUG_CACHE_SECONDS`` so other processes see changes soon.
_SLUG_CACHE_SECONDS = 60.0
_SLUG_CACHE_SIZE = 2000
_slug_cache: dict[str, tuple[float, int | None]] = {}


def article_id_for_slug(*, slug: str) -> int | None:
    """The id of the article a CTA named, or None. A public request never creates an
    article: an unknown slug (anyone can send one, an email address in it too) is
    stored without an article, and the lead is still taken."""
    slug = slugify(slug)[:200]
    if not slug:
        return None
    now = time.monotonic()
    cached = _slug_cache.get(slug)
    if cached is not None and now - cached[0] < _SLUG_CACHE_SECONDS:
        return cached[1]
    article_id = Article.objects.filter(slug=slug).values_list("pk", flat=True).first()
    if len(_slug_cache) >= _SLUG_CACHE_SIZE:
        _slug_cache.clear()  # a flood of made-up slugs cannot grow it without bound
    _slug_cache[slug] = (now, article_id)
    return article_id


def article_slug_cache_clear(**kwargs: object) -> None:
    _slug_cache.clear()


# Lines of a pasted web page that are navigation or image captions, not article text.
_PAGE_CHROME_PREFIXES = ("Call:", "Table of Contents", "Screenshot ")
_PAGE_CHROME_ENDINGS = ("Start your path to healing today!", "Other Deep Dive Articles")


def article_import_text(*, slug: str, text: str, topic: str = "") -> Article:
    """Create or update an article from plain text copied off the clinic's site: the
    first line is the title; navigation, captions and the old phone-number call to
    action are dropped (the CTA form replaces them)."""
    lines = [line.rstrip() for line in text.splitlines()]
    title = lines[0].strip().rstrip(":").strip()
    body: list[str] = []
    for line in lines[1:]:
        if line.strip().startswith(_PAGE_CHROME_ENDINGS):
            break
        if line.strip().startswith(_PAGE_CHROME_PREFIXES):
            continue
        body.append(line)
    # The page's own lead-in to its phone number is replaced by the form's heading.
    while body and (not body[-1].strip() or body[-1].startswith("Transform your")):
        body.pop()
    article, _ = Article.objects.update_or_create(
        slug=slug,
        defaults={
            "title": title,
            "topic": topic,
            "body": "\n".join(body).strip(),
            "is_listed": True,
            "needs_review": False,
            "published_at": timezone.now(),
        },
    )
    return article


_PAGE_EXTENSIONS = {".html", ".htm", ".shtml", ".php", ".asp", ".aspx", ".jsp"}


def slug_from_url(url: str) -> str:
    """The article's slug: the last segment of the URL's path, without an extension
    (``https://clinic.example/blog/science-behind-antidepressants.html``)."""
    segments = [segment for segment in unquote(urlsplit(url.strip()).path).split("/") if segment]
    if not segments:
        return ""
    last = segments[-1]
    stem, extension = splitext(last)
    if extension.lower() in _PAGE_EXTENSIONS:
        last = stem
    if last.lower() in {"index", "default"} and len(segments) > 1:
        last = segments[-2]
    return slugify(last)[:200]


@dataclass(frozen=True)
class ArticleImportResult:
    created: int
    updated: int
    skipped: int


def articles_import(*, entries: list[FeedEntry]) -> ArticleImportResult:
    """Create or update an article for each entry of a sitemap or feed, by the slug of
    its URL. New articles are unlisted (they live on the clinic's site; the CTA embed
    brings their leads). A known article gets the entry's title, date and URL, and
    stops being flagged for review; a title made up from its slug never replaces one."""
    created = updated = skipped = 0
    seen: set[str] = set()
    with transaction.atomic():
        for entry in entries:
            slug = slug_from_url(entry.url)
            if not slug or slug in seen:
                skipped += 1
                continue
            seen.add(slug)
            title = entry.title[:300]
            article = Article.objects.select_for_update().filter(slug=slug).first()
            if article is None:
                Article.objects.create(
                    slug=slug,
                    title=title or slug.replace("-", " ").capitalize(),
                    source_url=entry.url[:500],
                    published_at=entry.published_at,
                    is_listed=False,
                )
                created += 1
                continue
            article.source_url = entry.url[:500]
            article.needs_review = False
            if title:
                article.title = title
            if entry.published_at:
                article.published_at = entry.published_at
            article.save(update_fields=["source_url", "needs_review", "title", "published_at"])
            updated += 1
    logger.info(
        "intake.articles.imported",
        extra={"articles_created": created, "articles_updated": updated, "skipped": skipped},
    )
    return ArticleImportResult(created=created, updated=updated, skipped=skipped)
