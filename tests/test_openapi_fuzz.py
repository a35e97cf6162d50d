"""Schemathesis against the app: every operation of the OpenAPI document, with generated valid and
invalid requests, anonymous and with an API token, checked by every Schemathesis check (no 5xx,
only documented statuses, bodies and content types as documented, invalid data refused, valid
data accepted).  Bounded: a fixed number of examples per operation and phase, derandomized, so
the run is the same every time and takes about a minute.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.config import SchemathesisConfig
from support.backend import fresh_url
from support.servers import free_port
from support.web import api_token, cheap_hashes, register, running_app

#: Examples per operation (and per generation mode); enough to find the problems the attack found.
EXAMPLES = 30
#: Every check on, as configured by default, but one: a request that fits the document's types may
#: still be refused with the documented 400 when a value does not mean anything (``since:
#: 0000-00-00``), which "schema-valid data accepted" counts as a failure unless 400 is expected.
CONFIG = SchemathesisConfig.from_str(
    """
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "3xx", "400", "401", "403", "404", "409", "429"]
"""
)


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from paperboy.config import load_settings

    mp = pytest.MonkeyPatch()
    cheap_hashes(mp)
    home = tmp_path_factory.mktemp("fuzz") / "home"
    tuned = load_settings(
        home,
        arxiv_api_url=f"http://127.0.0.1:{free_port()}/api/query",  # arXiv "down": submissions fail fast
        arxiv_min_interval=0.0,
        http_backoff=0.01,
        page_cache_seconds=0,
        database_url=fresh_url(),
    )
    with running_app(tuned) as running:
        register(running.client, "fuzzer")
        running.token = api_token(running.client)
        yield running
    mp.undo()


def _fuzz(web: Any, mode: Any, headers: dict[str, str]) -> list[str]:
    """Run every operation's generated cases; the failures, one line each (the first per operation)."""
    api = schemathesis.openapi.from_asgi("/openapi.json", web.app, config=CONFIG)
    failures = []
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) >= 16
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
            phases=[Phase.explicit, Phase.generate],  # no shrinking: report the first failure as found
        )
        def run(case: Any) -> None:
            web.client.cookies.clear()
            case.call_and_validate(headers=headers)

        try:
            run()
        except KeyboardInterrupt:
            raise
        except Unsatisfiable:  # nothing of this operation can be made invalid (a bare path string)
            continue
        except BaseException as exc:  # noqa: BLE001 - Schemathesis's failure groups; report all operations
            failures.append(f"{operation.label} ({mode.name}): {str(exc)[:1500]}")
    return failures


@pytest.mark.parametrize("mode", ["positive", "negative"])
@pytest.mark.parametrize("who", ["anonymous", "token"])
def test_the_api_keeps_its_document(web: Any, mode: str, who: str) -> None:
    headers = {"Authorization": f"Bearer {web.token}"} if who == "token" else {}
    failures = _fuzz(web, GenerationMode(mode), headers)
    assert not failures, "\n\n".join(failures)


def test_every_json_route_is_in_the_document(web: Any) -> None:
    """Every ``/api`` route is documented (so the checks above reach it), the lab's included."""
    documented = set(web.client.get("/openapi.json").json()["paths"])
    included = [route for r in web.app.routes for route in getattr(getattr(r, "original_router", r), "routes", [r])]
    routes = {r.path.replace(":path", "") for r in included if getattr(r, "path", "").startswith("/api/")}
    assert {"/api/following", "/api/follows", "/api/groups/{group_id}/week", "/api/papers/{paper_id}/note"} <= routes
    assert routes <= documented, sorted(routes - documented)
