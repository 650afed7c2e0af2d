from __future__ import annotations

from datetime import UTC, datetime
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from intake.models import Article, Submission
from intake.services import slug_from_url
from tests.factories import ArticleFactory

pytestmark = pytest.mark.django_db

FEEDS = Path(__file__).parent / "feeds"


def run(source: str | Path) -> str:
    out = StringIO()
    call_command("import_articles", str(source), stdout=out)
    return out.getvalue()


def test_a_sitemap_creates_unlisted_articles_with_slug_title_and_date():
    output = run(FEEDS / "sitemap.xml")

    assert output.strip() == "2 created, 0 updated, 1 skipped"
    tms = Article.objects.get(slug="what-is-tms-therapy")
    assert tms.title == "What Is TMS Therapy?"
    assert tms.published_at == datetime(2024, 4, 1, 8, 0, tzinfo=UTC)
    assert tms.source_url == "https://www.clinic.example/blog/what-is-tms-therapy.html"
    assert tms.is_listed is False
    plain = Article.objects.get(slug="science-behind-antidepressants")
    assert plain.title == "Science behind antidepressants"
    assert plain.published_at == datetime(2024, 3, 5, tzinfo=UTC)


def test_an_rss_feed_creates_articles():
    run(FEEDS / "rss.xml")

    ketamine = Article.objects.get(slug="ketamine-for-depression")
    assert ketamine.title == "Ketamine for Depression: What to Expect"
    assert ketamine.published_at == datetime(2024, 5, 14, 14, 0, tzinfo=UTC)
    assert Article.objects.get(slug="sleep-and-anxiety").title == "Sleep & Anxiety"


def test_an_atom_feed_creates_articles_from_their_alternate_links():
    run(FEEDS / "atom.xml")

    ocd = Article.objects.get(slug="ocd-intrusive-thoughts")
    assert ocd.title == "OCD & Intrusive Thoughts"  # type="html": unescaped
    assert ocd.published_at == datetime(2024, 7, 1, 9, 0, tzinfo=UTC)
    trauma = Article.objects.get(slug="trauma-informed-care")
    assert trauma.published_at == datetime(2024, 8, 15, 14, 45, tzinfo=UTC)


def test_importing_again_updates_and_never_duplicates():
    run(FEEDS / "rss.xml")
    output = run(FEEDS / "rss.xml")

    assert output.strip() == "0 created, 2 updated, 0 skipped"
    assert Article.objects.count() == 2


def test_a_submission_after_the_import_names_the_article_the_one_before_did_not(api_client):
    def submit():
        response = api_client.post(
            "/api/v1/leads/",
            {"first_name": "Maria", "email": "m@example.org", "article": "ketamine-for-depression"},
            format="json",
        )
        return Submission.objects.get(reference=response.json()["reference"])

    before = submit()  # the slug is unknown, and now remembered as unknown

    run(FEEDS / "rss.xml")

    article = Article.objects.get(slug="ketamine-for-depression")
    assert before.article_id is None
    assert submit().article_id == article.pk


def test_a_listed_article_keeps_its_body_and_stays_listed():
    ArticleFactory(slug="sleep-and-anxiety", title="Old title", is_listed=True)

    run(FEEDS / "rss.xml")

    article = Article.objects.get(slug="sleep-and-anxiety")
    assert article.is_listed is True
    assert article.body.startswith("A paragraph")
    assert article.title == "Sleep & Anxiety"


def test_entity_expansion_is_refused():
    with pytest.raises(CommandError, match="Not a readable XML document"):
        run(FEEDS / "billion-laughs.xml")
    assert Article.objects.count() == 0


def test_a_document_that_is_not_a_feed_is_refused(tmp_path):
    page = tmp_path / "page.xml"
    page.write_text("<html><body>hello</body></html>")

    with pytest.raises(CommandError, match="Not a sitemap, RSS or Atom"):
        run(page)


def test_a_missing_file_is_refused():
    with pytest.raises(CommandError, match="No such file"):
        run(FEEDS / "nope.xml")


def test_a_url_and_the_sitemaps_it_indexes_are_fetched(local_server):
    index = (
        '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"<sitemap><loc>{local_server.url}/posts.xml</loc></sitemap>"
        "</sitemapindex>"
    ).encode()
    files = {"/sitemap.xml": index, "/posts.xml": (FEEDS / "sitemap.xml").read_bytes()}
    local_server.respond = lambda path, form: (200, "application/xml", files[path])

    output = run(f"{local_server.url}/sitemap.xml")

    assert output.strip() == "2 created, 0 updated, 1 skipped"
    assert [path for path, _ in local_server.requests] == ["/sitemap.xml", "/posts.xml"]


def test_a_url_that_fails_is_a_command_error(local_server):
    with pytest.raises(CommandError, match="Could not fetch"):
        run(f"{local_server.url}/missing.xml")


@pytest.mark.parametrize(
    ("url", "slug"),
    [
        (
            "https://clinic.example/blog/science-behind-antidepressants/",
            "science-behind-antidepressants",
        ),
        ("https://clinic.example/blog/what-is-tms.html?ref=x#top", "what-is-tms"),
        ("https://clinic.example/blog/my-post/index.html", "my-post"),
        ("https://clinic.example/blog/Caf%C3%A9-Talk", "cafe-talk"),
        ("https://clinic.example/", ""),
    ],
)
def test_the_slug_is_the_last_part_of_the_url_path(url, slug):
    assert slug_from_url(url) == slug
