"""``manage.py import_articles <file-or-url>``: articles from a sitemap, RSS or Atom."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from intake.feeds import FeedEntry, FeedError, feed_fetch, feed_parse, is_url
from intake.services import articles_import

# A sitemap index names child sitemaps; follow at most this many.
MAX_CHILD_SITEMAPS = 50


class Command(BaseCommand):
    help = (
        "Create or update articles from a sitemap (or sitemap index), RSS or Atom "
        "document, given as a file path or an http(s) URL. The slug is the last part "
        "of each URL's path; new articles are unlisted."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("source", help="A file path or an http(s) URL.")

    def handle(self, *args: Any, source: str, **options: Any) -> None:
        try:
            entries = self._entries(source)
        except FeedError as error:
            raise CommandError(str(error)) from None
        result = articles_import(entries=entries)
        self.stdout.write(
            f"{result.created} created, {result.updated} updated, {result.skipped} skipped"
        )

    def _read(self, source: str) -> bytes:
        if is_url(source):
            return feed_fetch(source)
        path = Path(source)
        if not path.is_file():
            raise FeedError(f"No such file: {source}")
        return path.read_bytes()

    def _entries(self, source: str) -> list[FeedEntry]:
        document = feed_parse(self._read(source))
        entries = list(document.entries)
        for child in document.sitemaps[:MAX_CHILD_SITEMAPS]:
            child_document = feed_parse(feed_fetch(child))
            entries.extend(child_document.entries)
        if len(document.sitemaps) > MAX_CHILD_SITEMAPS:
            self.stderr.write(f"Only the first {MAX_CHILD_SITEMAPS} child sitemaps were read.")
        return entries
