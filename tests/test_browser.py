"""The web app in a real browser: headless Chromium (Debian's) driven by Playwright.

The real app (``create_app``, keyword search, inline indexing) serves a small fixture store from
uvicorn on a free loopback port; every test opens fresh browser contexts against it and signs up
its own user, so tests do not depend on each other's order.  Every page also fails its test if
a script in the data ever runs (a dialog opens) or the page throws.  Screenshots of the main
pages go to ``tests/artifacts/screenshots/`` for a person to look at.

Playwright's own browser download is never used: the browser is ``/usr/bin/chromium``, which
``.ci/run`` installs; without it these tests are skipped.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.backend import fresh_url
from support.browser import chromium, needs_chromium
from support.servers import free_port, serving

needs_chromium()

from playwright.sync_api import Browser, BrowserContext, Page, expect  # noqa: E402

from paperboy.config import load_settings  # noqa: E402
from paperboy.services.accounts import Accounts  # noqa: E402
from paperboy.sources.base import finish  # noqa: E402
from paperboy.sources.record import PaperRecord  # noqa: E402
from paperboy.store import Store  # noqa: E402
from paperboy.web.app import create_app  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]
expect.set_options(timeout=10_000)  # a loaded two-core CI machine can be slow to answer

SHOTS = Path(__file__).resolve().parent / "artifacts" / "screenshots"
PASSWORD = "correct horse battery"

# -- the fixture store ------------------------------------------------------------------------
# Announcement days: Wed 24 June to Fri 3 July 2026, weekdays only (two ISO weeks, two months).
DAYS = ["2026-06-24", "2026-06-25", "2026-06-26", "2026-06-29", "2026-06-30", "2026-07-01", "2026-07-02", "2026-07-03"]
LATEST, PREVIOUS = DAYS[-1], DAYS[-2]
TOPICS = [
    ("Diffusion transformers for long video generation", "cs.CV", "video diffusion"),
    ("Scaling laws for mixture-of-experts language models", "cs.CL", "sparse expert routing"),
    ("Graph neural networks for molecule property prediction", "cs.LG", "message passing on molecules"),
    ("Reinforcement learning from human feedback without a reward model", "cs.LG", "preference optimization"),
    ("Protein structure prediction with equivariant diffusion", "q-bio.BM", "protein folding"),
    ("Speculative decoding on mobile phones", "cs.CL", "fast inference"),
    ("Self-supervised speech representations for low-resource languages", "cs.SD", "speech pretraining"),
    ("Robots that learn to grasp unseen objects by trial and error", "cs.RO", "robotic grasping"),
    ("Retrieval-augmented generation with learned sparse indices", "cs.IR", "retrieval augmentation"),
    ("Vision-language models that read charts", "cs.CV", "chart understanding"),
    ("Quantized attention kernels for edge accelerators", "cs.AR", "low-bit attention"),
    ("Causal discovery from interventional single-cell data", "stat.ML", "causal structure learning"),
    ("Neural radiance fields for city-scale scenes", "cs.CV", "3D scene reconstruction"),
    ("Tool use in language agents: a benchmark", "cs.AI", "agent benchmarks"),
    ("Federated learning under label noise", "cs.LG", "federated training"),
    ("Mechanistic interpretability of arithmetic circuits", "cs.LG", "interpretability"),
    ("Weather forecasting with graph transformers", "physics.ao-ph", "weather prediction"),
    ("Code generation models that write their own tests", "cs.SE", "program synthesis"),
    ("Contrastive pretraining for medical image segmentation", "eess.IV", "medical imaging"),
    ("Long-context memory for state space models", "cs.LG", "long sequences"),
    ("Differentially private fine-tuning of diffusion models", "cs.CR", "privacy"),
    ("Multilingual machine translation for 200 languages", "cs.CL", "translation"),
    ("Token merging for faster vision transformers", "cs.CV", "efficient vision"),
    ("World models for autonomous driving", "cs.RO", "driving simulation"),
    ("Synthetic data for mathematical reasoning", "cs.AI", "math reasoning"),
    ("Uncertainty estimation in deep ensembles", "stat.ML", "calibration"),
    ("Audio generation with latent flow matching", "cs.SD", "audio synthesis"),
    ("Sparse autoencoders find features in vision models", "cs.LG", "dictionary learning"),
    ("Efficient training of spiking neural networks", "cs.NE", "neuromorphic computing"),
    ("Benchmarking large language models on legal reasoning", "cs.CL", "legal NLP"),
    ("Point cloud completion with masked autoencoders", "cs.CV", "3D point clouds"),
    ("Offline reinforcement learning with diffusion policies", "cs.LG", "offline RL"),
    ("Knowledge distillation for small code models", "cs.SE", "model compression"),
    ("Curriculum learning for multi-agent coordination", "cs.MA", "multi-agent RL"),
]
FIRST_NAMES = ["Ada", "Alan", "Grace", "Yann", "Fei-Fei", "Geoffrey", "Yoshua", "Daphne", "Andrew", "Timnit", "Ilya"]
LAST_NAMES = ["Lovelace", "Turing", "Hopper", "LeCun", "Li", "Hinton", "Bengio", "Koller", "Ng", "Gebru", "Sutskever"]
HOSTILE_ID = "2607.00999"
HOSTILE_TITLE = r"Sparse $\alpha$-entmax attention keeps 40\% fewer tokens"
HOSTILE_ABSTRACT = (
    r"We replace softmax with $\alpha$-entmax in every attention layer and keep 40\% fewer tokens at the "
    r"same accuracy. Our sanitizer test string <script>alert(1)</script> must be shown as text. "
    r"Code and models are released."
)


def paper_id(day: str, n: int) -> str:
    return f"{day[2:4]}{day[5:7]}.{day[8:10]}{n:03d}"


def fixture_records() -> list[PaperRecord]:
    """About forty papers, four or five a day, a few with Hugging Face votes; one hostile abstract."""
    records = []
    for i, (title, category, theme) in enumerate(TOPICS):
        day = DAYS[i % len(DAYS)]
        authors = [
            f"{FIRST_NAMES[(i + k) % len(FIRST_NAMES)]} {LAST_NAMES[(3 * i + k) % len(LAST_NAMES)]}"
            for k in range(2 + i % 4)
        ]
        abstract = (
            f"We study {theme}. {title} is hard because data are scarce and evaluation is noisy. "
            f"We propose a simple method that improves on strong baselines by {5 + i % 20}% on three "
            f"benchmarks while using less compute. We release code and data to make {theme} research easier."
        )
        records.append(
            PaperRecord(
                id=paper_id(day, i),
                title=title,
                abstract=abstract,
                authors=authors,
                categories=[category, "cs.LG"] if category != "cs.LG" else [category, "stat.ML"],
                announced=day,
                published=f"{day}T17:00:00Z",
                upvotes=(i * 7) % 23 if i % 3 == 0 else None,
                comment="12 pages, 4 figures" if i % 2 else None,
                source="jsonl",
            )
        )
    records.append(
        PaperRecord(
            id=HOSTILE_ID,
            title=HOSTILE_TITLE,
            abstract=HOSTILE_ABSTRACT,
            authors=["Mallory Attacker", "Eve Listener"],
            categories=["cs.CL", "cs.LG"],
            announced=LATEST,
            published=f"{LATEST}T17:00:00Z",
            source="jsonl",
        )
    )
    return [finish(r) for r in records]


PAPERS = {r.id: r for r in fixture_records()}
#: Papers the tests vote for, submit or comment on: each test its own, so they can run in any order.
VOTE_JS, VOTE_NOJS, SUBMIT, TREND = (paper_id(DAYS[i], i) for i in (1, 2, 3, 4))


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real app over the fixture store, served by uvicorn in a thread; yields its base URL."""
    home = tmp_path_factory.mktemp("browser-home")
    port = free_port()
    settings = load_settings(
        home,
        base_url=f"http://127.0.0.1:{port}",
        submit_max_age_days=100_000,
        page_size=20,
        batch_size=500,
        database_url=fresh_url(),
    )
    with Store.open(settings) as store:
        store.ingest("jsonl", "browser-fixtures", list(PAPERS.values()))
        # the first account is the admin: make it here, so every user the tests sign up is an ordinary one
        Accounts(store, settings).register("editor", "editor@example.org", PASSWORD)
    app = create_app(settings, semantic=False, index_at_start=True)
    with serving(app, port) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as browser:
        yield browser


class Watched:
    """Opens browser contexts whose pages record every dialog, uncaught script error and
    Content-Security-Policy violation (an inline script, style or handler the policy blocked)."""

    def __init__(self, browser: Browser, base_url: str) -> None:
        self.browser, self.base_url = browser, base_url
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        self.csp: list[str] = []
        self.accepted: list[str] = []
        self.contexts: list[BrowserContext] = []

    def page(self, javascript: bool = True, expected_dialogs: tuple[str, ...] = ()) -> Page:
        """A page in a fresh context; dialogs with a message in ``expected_dialogs`` are accepted
        (the site's own questions), every other dialog is dismissed and recorded."""
        context = self.browser.new_context(
            base_url=self.base_url, java_script_enabled=javascript, viewport={"width": 1280, "height": 900}
        )
        context.set_default_timeout(10_000)
        self.contexts.append(context)
        page = context.new_page()

        def on_dialog(dialog) -> None:
            if dialog.message in expected_dialogs:
                self.accepted.append(dialog.message)
                dialog.accept()
                return
            self.dialogs.append(f"{dialog.type}: {dialog.message} on {page.url}")
            dialog.dismiss()

        def on_console(message) -> None:
            if "Content Security Policy" in message.text:
                self.csp.append(f"{message.text} on {page.url}")

        page.on("dialog", on_dialog)
        page.on("pageerror", lambda exc: self.errors.append(f"{exc} on {page.url}"))
        page.on("console", on_console)
        return page

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture
def web(browser: Browser, site: str) -> Iterator[Watched]:
    watched = Watched(browser, site)
    yield watched
    watched.close()
    assert not watched.dialogs, f"a script from the page's data ran: {watched.dialogs}"
    assert not watched.errors, f"uncaught script errors: {watched.errors}"
    assert not watched.csp, f"the Content-Security-Policy blocked something: {watched.csp}"


_users = iter(range(1, 1000))


def register(page: Page) -> str:
    """Sign up a new user through the form; returns the user name."""
    name = f"reader{next(_users)}"
    page.goto("/register")
    page.get_by_label("User name").fill(name)
    page.get_by_label("Email").fill(f"{name}@example.org")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.locator("header a.who")).to_have_text(name)
    return name


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")  # else the sticky header is drawn where the page was scrolled to
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def card(page: Page, pid: str):
    return page.locator(f'article.card[id="p-{pid}"]')


def count_of(scope) -> int:
    return int(scope.locator("form.vote .count").first.inner_text())


# -- the tests --------------------------------------------------------------------------------
def test_register_sign_out_sign_in_and_account(web: Watched) -> None:
    page = web.page()
    page.goto("/")
    page.get_by_role("link", name="Sign up").click()
    expect(page).to_have_url(re.compile(r"/register"))
    name = register(page)
    expect(page.get_by_role("link", name="Sign in")).to_have_count(0)

    page.get_by_role("button", name="Sign out").click()
    expect(page.locator("header a.who")).to_have_count(0)
    page.get_by_role("link", name="Sign in").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    shot(page, "sign-in")

    page.get_by_label("User name or email").fill(name)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_be_visible()
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("header a.who")).to_have_text(name)

    page.get_by_role("link", name="Account").click()
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    expect(page.locator("main")).to_contain_text(f"{name}@example.org")
    page.get_by_label("Token name").fill("laptop script")
    page.get_by_role("button", name="Create token").click()
    expect(page.locator("code.token")).to_contain_text("pb_")
    shot(page, "account")


def test_daily_pages_days_weeks_and_months(web: Watched) -> None:
    page = web.page()
    page.goto("/")
    expect(page.get_by_role("heading", name="Daily papers")).to_be_visible()
    expect(page.locator(".hero .sub")).to_contain_text("Friday, 3 July 2026")
    on_latest = [p for p in PAPERS.values() if p.announced == LATEST]
    expect(page.locator("article.card")).to_have_count(len(on_latest))
    shot(page, "daily")

    page.locator(".daynav a[rel=prev]").click()
    expect(page).to_have_url(re.compile(f"/papers/date/{PREVIOUS}$"))
    expect(page.locator(".hero .sub")).to_contain_text("Thursday, 2 July 2026")
    page.locator(".daynav a[rel=next]").click()
    expect(page).to_have_url(re.compile(f"/papers/date/{LATEST}$"))
    expect(page.locator(".daynav a[rel=next]")).to_have_count(0)  # nothing after the newest day

    # the day picker; a weekend has no papers and says so, with the way to the nearest days
    page.get_by_label("Go to day").fill("2026-06-25")
    page.get_by_role("button", name="Go").click()
    expect(page).to_have_url(re.compile(r"/papers/date/2026-06-25$"))
    expect(page.locator("article.card").first).to_be_visible()
    page.get_by_label("Go to day").fill("2026-06-27")
    page.get_by_role("button", name="Go").click()
    expect(page.locator(".empty")).to_contain_text("No papers on Saturday, 27 June 2026")
    expect(page.locator(".daynav a[rel=next]")).to_have_attribute("href", "/papers/date/2026-06-29")

    page.goto(f"/papers/date/{LATEST}")
    page.locator(".seg").get_by_role("link", name="Week").click()
    expect(page).to_have_url(re.compile(r"/papers/week/2026-W27$"))
    expect(page.get_by_role("heading", name="Papers of the week")).to_be_visible()
    in_week = [p for p in PAPERS.values() if p.announced >= "2026-06-29"]
    expect(page.locator(".hero .sub")).to_contain_text(f"{len(in_week)} papers")
    expect(page.locator(".calendar a")).to_have_count(5)
    page.locator(".daynav a[rel=prev]").click()
    expect(page).to_have_url(re.compile(r"/papers/week/2026-W26$"))
    expect(page.locator(".calendar a")).to_have_count(3)

    page.locator(".seg").get_by_role("link", name="Month").click()
    expect(page).to_have_url(re.compile(r"/papers/month/2026-06$"))
    expect(page.get_by_role("heading", name="Papers of the month")).to_be_visible()
    in_june = [p for p in PAPERS.values() if p.announced < "2026-07-01"]
    expect(page.locator(".hero .sub")).to_contain_text(f"{len(in_june)} papers")
    expect(page.locator("article.card")).to_have_count(20)  # a page; the rest on the next one
    page.locator(".pager a[rel=next]").click()
    expect(page.locator("article.card")).to_have_count(len(in_june) - 20)
    expect(page.locator(".pager")).to_contain_text("page 2 of 2")
    page.locator(".daynav a[rel=next]").click()
    expect(page).to_have_url(re.compile(r"/papers/month/2026-07$"))
    page.locator(".calendar a", has_text="2 Jul 2026").click()
    expect(page).to_have_url(re.compile(r"/papers/date/2026-07-02$"))


def test_search_highlights_matches(web: Watched) -> None:
    page = web.page()
    page.goto("/")
    box = page.locator("header").get_by_placeholder("Search papers…")
    box.fill("diffusion")
    box.press("Enter")
    expect(page).to_have_url(re.compile(r"/search\?q=diffusion"))
    cards = page.locator("article.card")
    expect(cards.first).to_be_visible()
    diffusion = [p for p in PAPERS.values() if "diffusion" in (p.title + p.abstract).lower()]
    expect(cards).to_have_count(len(diffusion))
    expect(cards.first.locator("mark").first).to_have_text(re.compile("diffusion", re.I))
    shot(page, "search")

    # the search page's own box, with a filter, and a query nothing matches
    query = page.get_by_label("Query")
    query.fill("diffusion cat:q-bio.BM")
    query.press("Enter")
    expect(cards).to_have_count(1)
    expect(cards.first.locator("h3")).to_contain_text("Protein structure prediction")
    query.fill("zzyzx quokka")
    query.press("Enter")
    expect(page.locator(".empty")).to_contain_text("No papers found")


def test_hostile_abstract_is_text_and_latex_is_readable(web: Watched) -> None:
    page = web.page()
    page.goto("/")
    hostile = card(page, HOSTILE_ID)
    expect(hostile.locator(".abstract")).to_contain_text("<script>alert(1)</script>")
    expect(hostile.locator("h3")).to_have_text("Sparse α-entmax attention keeps 40% fewer tokens")
    hostile.locator("h3 a").click()
    expect(page).to_have_url(re.compile(f"/papers/{HOSTILE_ID}$"))
    abstract = page.locator(".abstract-full p")
    expect(abstract).to_contain_text("α-entmax")
    expect(abstract).to_contain_text("40% fewer tokens")
    expect(abstract).to_contain_text("<script>alert(1)</script> must be shown as text")
    assert page.locator("main script").count() == 0
    # the paper's page has its links, facts and a way to comment
    expect(page.get_by_role("link", name="arXiv", exact=True)).to_have_attribute(
        "href", f"https://arxiv.org/abs/{HOSTILE_ID}"
    )
    expect(page.get_by_role("link", name="Sign in", exact=True).last).to_be_visible()
    page.reload()  # a second rendering (cached LaTeX) is as safe


def test_vote_with_javascript_without_reload(web: Watched) -> None:
    page = web.page()
    # signed out, the vote button leads to the sign-in page and back
    page.goto(f"/papers/{VOTE_JS}")
    page.locator("form.vote button").click()
    expect(page).to_have_url(re.compile(r"/login\?next="))
    register(page)
    page.goto(f"/papers/date/{DAYS[1]}")
    target = card(page, VOTE_JS)
    before = count_of(target)
    page.evaluate("window.stillHere = 'same page'")
    target.locator("form.vote button").click()
    expect(target.locator(".count")).to_have_text(str(before + 1))
    expect(target.locator("form.vote button")).to_have_class(re.compile("voted"))
    assert page.evaluate("window.stillHere") == "same page", "voting reloaded the page"

    page.reload()
    expect(card(page, VOTE_JS).locator(".count")).to_have_text(str(before + 1))
    expect(card(page, VOTE_JS).locator("form.vote button")).to_have_attribute("aria-pressed", "true")
    page.goto(f"/papers/{VOTE_JS}")
    expect(page.locator(".paper-head .count")).to_have_text(str(before + 1))

    page.locator(".paper-head form.vote button").click()  # withdraw
    expect(page.locator(".paper-head .count")).to_have_text(str(before))
    page.reload()
    expect(page.locator(".paper-head .count")).to_have_text(str(before))
    expect(page.locator(".paper-head form.vote button")).to_have_attribute("aria-pressed", "false")


def test_vote_without_javascript(web: Watched) -> None:
    page = web.page(javascript=False)
    register(page)
    page.goto(f"/papers/date/{DAYS[2]}")
    target = card(page, VOTE_NOJS)
    before = count_of(target)
    target.locator("form.vote button").click()  # a plain form post, then back to the same page
    expect(page).to_have_url(re.compile(f"/papers/date/{DAYS[2]}$"))
    expect(card(page, VOTE_NOJS).locator(".count")).to_have_text(str(before + 1))
    expect(card(page, VOTE_NOJS).locator("form.vote button")).to_have_class(re.compile("voted"))
    card(page, VOTE_NOJS).locator("form.vote button").click()
    expect(card(page, VOTE_NOJS).locator(".count")).to_have_text(str(before))


def test_comment_appears_escaped(web: Watched) -> None:
    page = web.page()
    name = register(page)
    page.goto(f"/papers/{HOSTILE_ID}")
    page.get_by_label("Add a comment").fill("**Nice** result. <img src=x onerror=alert(2)> <script>alert(3)</script>")
    page.get_by_role("button", name="Comment").click()
    expect(page).to_have_url(re.compile(rf"/papers/{HOSTILE_ID}#c-\d+$"))
    comment = page.locator(".comment").last
    expect(comment).to_contain_text(name)
    expect(comment.locator("strong")).to_have_text("Nice")
    expect(comment.locator(".text")).to_contain_text("<img src=x onerror=alert(2)> <script>alert(3)</script>")
    assert comment.locator("img, script").count() == 0
    expect(page.locator("#comments h2")).to_contain_text("1 comment")
    shot(page, "paper")


def test_submit_by_arxiv_id(web: Watched) -> None:
    page = web.page()
    page.goto("/submit")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fsubmit"))
    name = register(page)
    page.goto("/submit")
    page.get_by_label("arXiv id or URL").fill("not an id")
    page.get_by_role("button", name="Submit").click()
    expect(page.get_by_role("alert")).to_contain_text("Give an arXiv id")

    page.get_by_label("arXiv id or URL").fill(f"https://arxiv.org/abs/{SUBMIT}v1")
    page.get_by_role("button", name="Submit").click()
    expect(page).to_have_url(re.compile(f"/papers/{SUBMIT}$"))
    expect(page.locator(".paper-head")).to_contain_text(f"Submitted by {name}")
    expect(page.locator(".paper-head form.vote button")).to_have_attribute("aria-pressed", "true")

    page.goto("/submit")
    page.get_by_label("arXiv id or URL").fill(SUBMIT)
    page.get_by_role("button", name="Submit").click()
    expect(page.get_by_role("alert")).to_contain_text(f"already submitted by {name}")
    shot(page, "submit")


def test_trending(web: Watched) -> None:
    page = web.page()
    register(page)
    page.goto(f"/papers/{TREND}")
    page.locator(".paper-head form.vote button").click()
    expect(page.locator(".paper-head form.vote button")).to_have_attribute("aria-pressed", "true")
    page.get_by_role("link", name="Trending").click()
    expect(page.get_by_role("heading", name="Trending papers")).to_be_visible()
    page.get_by_role("link", name="This month").click()
    expect(page).to_have_url(re.compile(r"/trending\?window=month$"))
    cards = page.locator("article.card")
    expect(cards.first).to_be_visible()
    voted = page.locator(f'article.card[id="p-{TREND}"]')
    expect(voted).to_be_visible()
    # papers with votes of this site come before the newest unvoted ones
    divider = page.locator(".divider")
    expect(divider).to_have_count(1)  # the month also has papers nobody voted for
    assert voted.bounding_box()["y"] < divider.bounding_box()["y"]
    shot(page, "trending")


def test_every_kind_of_page_passes_the_content_security_policy(web: Watched, site: str) -> None:
    """Each kind of page, signed in and out, loads its styles and script with nothing blocked; the
    one confirmation dialog (deleting a collection) comes from app.js, not an inline handler."""
    question = "Delete this collection? Its papers stay on the site."
    page = web.page(expected_dialogs=(question,))
    anonymous = ["/", f"/papers/date/{LATEST}", "/papers/week/2026-W27", "/trending", "/search?q=diffusion"]
    anonymous += [f"/papers/{HOSTILE_ID}", "/authors/Ada Lovelace", "/status", "/login", "/register", "/forgot"]
    anonymous += ["/subscribe", "/nonexistent-page", "/docs", "/redoc"]
    for url in anonymous:
        response = page.goto(url)
        assert response is not None and "default-src 'self'" in response.headers["content-security-policy"]
        assert response.headers["x-frame-options"] == "DENY" and response.headers["x-content-type-options"] == "nosniff"
        if url not in ("/docs", "/redoc"):  # the API docs are Swagger UI's and ReDoc's own pages
            assert page.evaluate("getComputedStyle(document.querySelector('header.top')).position") != "static"
        else:
            page.wait_for_load_state("networkidle")
    name = register(page)
    for url in ["/account", "/submit", "/for-you", "/library", f"/users/{name}", f"/papers/{TREND}/save"]:
        page.goto(url)
        assert page.locator("main").count() == 1
    page.goto("/library")
    page.get_by_placeholder("New collection").fill("to delete")
    page.get_by_role("button", name="Create").click()
    page.get_by_role("button", name="Delete", exact=True).click()
    expect(page.get_by_text("to delete")).to_have_count(0)
    assert web.accepted == [question]
