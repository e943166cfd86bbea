"""A guarded service's docs page in a real browser: Swagger UI renders from the service's
own files, and the page asks nothing of any other host (mlkit.api_guard, module 02)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from mlkit.serving import serve_in_background

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(300)]

SERVICE = """
import bentoml
from pydantic import BaseModel, ConfigDict, Field

from mlkit.api_guard import guard_api


class Row(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    x: float = Field(ge=0, le=10)


@bentoml.service
class Docs:
    @bentoml.api
    def score(self, rows: list[Row]) -> list[float]:
        return [row.x for row in rows]


guard_api(Docs)
"""


def test_docs_page_renders_and_loads_only_from_the_service(chromium_page, tmp_path):
    (tmp_path / "service.py").write_text(SERVICE)
    with serve_in_background(tmp_path / "service.py", log_dir=tmp_path) as running:
        hosts: set[str] = set()
        chromium_page.on("request", lambda request: hosts.add(urlsplit(request.url).netloc))
        chromium_page.goto(f"{running.url}/")
        chromium_page.get_by_text("/score").first.wait_for()  # Swagger UI read /docs.json
        chromium_page.wait_for_load_state("networkidle")
    assert hosts == {f"127.0.0.1:{running.port}"}
