"""The MCP server through the official SDK's own client: streamable HTTP inside the real app under
uvicorn (token-authenticated) and stdio (``paperboy mcp`` as a subprocess)."""

from __future__ import annotations

import asyncio
import json
import sys
import tomllib
from pathlib import Path

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from support.backend import fresh_url
from support.servers import free_port, serving
from support.web import corpus

from paperboy.config import load_settings
from paperboy.services.accounts import Accounts
from paperboy.store import Store
from paperboy.web.app import create_app

pytestmark = pytest.mark.timeout(180)
TOOLS = {
    "search",
    "get_paper",
    "similar_papers",
    "daily_papers",
    "trending",
    "for_you",
    "library",
    "save_paper",
    "set_note",
}


def _data(result) -> object:
    assert not result.is_error, result
    if result.structured_content is not None:
        value = result.structured_content
        return value.get("result", value) if isinstance(value, dict) and set(value) == {"result"} else value
    return json.loads(result.content[0].text)


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("mcp-home")
    url = fresh_url()
    if url:  # for `paperboy mcp` too, which the SDK starts without our environment
        (home / "settings.toml").write_text(f'database_url = "{url}"\n')
    settings = load_settings(home, database_url=url)
    with Store.open(settings) as store:
        store.ingest("jsonl", "fixture", corpus())
        accounts = Accounts(store, settings)
        ada = accounts.register("ada", "ada@example.org", "correct horse battery")
        (home / "token").write_text(accounts.create_api_token(ada, "agent"))
    from paperboy.services.indexing import index_once

    with Store.open(settings) as store:
        index_once(settings, store, semantic=False)
    return home


def _database_of(home: Path) -> str:
    """The store ``home`` names in its settings file (its PostgreSQL database), else its SQLite file."""
    toml = home / "settings.toml"
    return tomllib.loads(toml.read_text()).get("database_url", "") if toml.exists() else ""


@pytest.fixture(scope="module")
def site(home):
    port = free_port()
    settings = load_settings(home, base_url=f"http://127.0.0.1:{port}", database_url=_database_of(home))
    app = create_app(settings, semantic=False)
    with serving(app, port) as url:
        yield url


async def _session(client: Client) -> dict:
    tools = {t.name for t in (await client.list_tools()).tools}
    found = _data(await client.call_tool("search", {"query": "quantum error correction", "limit": 3}))
    paper = _data(await client.call_tool("get_paper", {"paper_id": found[0]["id"]}))
    day = _data(await client.call_tool("daily_papers", {"date": "2026-07-01", "limit": 5}))
    bad_day = await client.call_tool("daily_papers", {"date": "July first"})
    saved = _data(await client.call_tool("save_paper", {"paper_id": paper["id"], "collection": "Agent picks"}))
    noted = _data(await client.call_tool("set_note", {"paper_id": paper["id"], "text": "read *section 4*"}))
    shelf = _data(await client.call_tool("library", {"collection": "Agent picks"}))
    markdown = await client.read_resource(f"paper://{paper['id']}")
    trending = _data(await client.call_tool("trending", {"window": "all", "limit": 3}))
    return {
        "tools": tools,
        "found": found,
        "paper": paper,
        "day": day,
        "bad_day": bad_day,
        "saved": saved,
        "noted": noted,
        "shelf": shelf,
        "markdown": markdown.contents[0].text,
        "trending": trending,
    }


def _check(out: dict) -> None:
    assert TOOLS <= out["tools"]
    assert "Quantum error correction" in out["found"][0]["title"] and out["paper"]["abstract"]
    assert out["day"] and all(p["announced"] == "2026-07-01" for p in out["day"])
    assert out["bad_day"].is_error
    assert out["saved"]["collection"] == "Agent picks" and out["noted"]["note"] == "read *section 4*"
    assert out["shelf"]["papers"][0]["note"] == "read *section 4*"
    assert out["markdown"].startswith("# Quantum error correction") and "## Your note" in out["markdown"]
    assert len(out["trending"]) == 3


def test_streamable_http_with_a_token(home, site):
    token = (home / "token").read_text()

    async def run() -> dict:
        async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http:
            async with Client(streamable_http_client(f"{site}/mcp/", http_client=http)) as client:
                return await _session(client)

    _check(asyncio.run(run()))
    # no token, a wrong token: 401 before the MCP server sees anything
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    assert httpx.post(f"{site}/mcp/", json=body).status_code == 401
    wrong = httpx.post(f"{site}/mcp/", json=body, headers={"Authorization": "Bearer pb_wrong"})
    assert wrong.status_code == 401 and "token" in wrong.json()["error"]


def test_stdio(home):
    exe = str(Path(sys.executable).with_name("paperboy"))
    params = StdioServerParameters(command=exe, args=["--home", str(home), "mcp", "--user", "ada", "--no-semantic"])

    async def run() -> dict:
        async with Client(params) as client:
            out = await _session(client)
            me = await client.call_tool("for_you", {"limit": 5})
            out["for_you"] = me
            return out

    out = asyncio.run(run())
    _check(out)
    assert not out["for_you"].is_error
