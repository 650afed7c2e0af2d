"""Test-only URLs: the project's, plus a plain page on "another site" that embeds the
CTA the way a marketer would, with the script from the clinic's origin, and one that
posts a plain form to the clinic the way a hostile site would."""

from __future__ import annotations

from csp.decorators import csp_exempt
from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.utils.html import escape

from config.urls import urlpatterns as project_urlpatterns

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>A partner article</title></head>
<body><main>
<h1>Living with anxiety</h1>
<p>An article on another site, written by someone who has never heard of Django.</p>
<div data-cta data-article="{article}"></div>
<script src="{clinic}/static/intake/cta.js" defer></script>
</main></body></html>
"""


# Another site: none of the clinic's headers (its Content-Security-Policy included).
@csp_exempt()
def embed_page(request: HttpRequest) -> HttpResponse:
    clinic = request.GET.get("clinic", "")
    if not clinic.startswith(("http://localhost:", "http://127.0.0.1:")):
        return HttpResponse("clinic must be the live server", status=400)
    return HttpResponse(
        PAGE.format(article=escape(request.GET.get("article", "")), clinic=escape(clinic))
    )


FOREIGN_FORM = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Win a prize</title>
<meta name="referrer" content="{referrer}"></head>
<body><main>
<h1>Enter the draw</h1>
<form method="post" action="{clinic}/articles/{article}/request/">
<label for="n">Name</label><input id="n" name="first_name" value="Maria">
<label for="p">Phone</label><input id="p" name="phone" value="202-555-0143">
<button type="submit">Enter</button>
</form>
</main></body></html>
"""


@csp_exempt()
def foreign_form_page(request: HttpRequest) -> HttpResponse:
    """A hostile page: its form posts a request to the clinic in its visitor's name
    (``?referrer=no-referrer`` hides its origin from the clinic)."""
    clinic = request.GET.get("clinic", "")
    if not clinic.startswith(("http://localhost:", "http://127.0.0.1:")):
        return HttpResponse("clinic must be the live server", status=400)
    referrer = request.GET.get("referrer", "strict-origin-when-cross-origin")
    return HttpResponse(
        FOREIGN_FORM.format(
            article=escape(request.GET.get("article", "")),
            clinic=escape(clinic),
            referrer=escape(referrer),
        )
    )


urlpatterns = [
    *project_urlpatterns,
    path("test-embed/", embed_page),
    path("test-foreign-form/", foreign_form_page),
]
