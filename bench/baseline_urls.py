"""The project's URLs plus the two baselines the benchmark compares against.

Both are bare Django views behind the same middleware as the API: one parses the
JSON body and inserts it as one row (into ``bench_baseline_row``, a table that
bench/intake.py creates with raw SQL in the throwaway bench database,
BASELINE_TABLE_SQL there), the other
answers 204 and does nothing.
"""

from __future__ import annotations

import json

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from config.urls import urlpatterns as project_urlpatterns

INSERT_SQL = "INSERT INTO bench_baseline_row (body) VALUES (%s) RETURNING id"


# A benchmark endpoint with no session or cookie: nothing for CSRF to protect.
@csrf_exempt
@require_POST
def baseline_insert(request: HttpRequest) -> HttpResponse:
    payload = json.loads(request.body)
    with connection.cursor() as cursor:
        cursor.execute(INSERT_SQL, [json.dumps(payload)])
        (row_id,) = cursor.fetchone()
    return JsonResponse({"id": row_id}, status=201)


@csrf_exempt
@require_POST
def baseline_no_content(request: HttpRequest) -> HttpResponse:
    return HttpResponse(status=204)


urlpatterns = [
    *project_urlpatterns,
    path("bench/baseline/insert/", baseline_insert),
    path("bench/baseline/no-content/", baseline_no_content),
]
