from __future__ import annotations

from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class IntakeConfig(AppConfig):
    name = "intake"
    verbose_name = "Intake"

    def ready(self) -> None:
        from intake.models import Article
        from intake.services.articles import article_slug_cache_clear

        # The public POST reads articles by slug from a per-process cache.
        for signal in (post_save, post_delete):
            signal.connect(
                article_slug_cache_clear, sender=Article, dispatch_uid=f"article-slugs-{signal}"
            )
