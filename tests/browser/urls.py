"""Test-only URLs: the project's, plus a plain page on "another site" that embeds the
CTA the way a marketer would, with the script from the clinic's origin."""

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


urlpatterns = [*project_urlpatterns, path("test-embed/", embed_page)]
