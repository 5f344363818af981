"""The hostile bodies in headless Chromium: nothing runs, nothing leaves the machine.

A small HTTP server on 127.0.0.1 serves, for each way of showing bodies (a
:class:`Mode`), one outer page with iframes. The outer page is the test harness,
not our app: its inline script collects the canary messages (``xss:NAME``) the
payloads post when they run. The browser fixture records and aborts every
request to another host.

- ``production`` is what the web view does: each body sanitized, sent with
  ``body_csp`` and shown in ``<iframe sandbox>`` without ``allow-scripts``.
- ``sanitizer_only`` drops the CSP and the sandbox, so the sanitizer alone must
  hold; all sanitized bodies share one plain same-origin document, which the test
  also inspects (tags, attributes and URLs of the DOM the browser built).
- ``csp_and_sandbox_only`` drops the sanitizer: the other two layers alone must
  stop every script and every request.
- ``unsanitized`` is the negative control: with no layer, the harness must see
  every vector of ``LIVE_IN_CHROMIUM`` fire, or the tests above prove nothing.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Frame

from tests.servers.browser import BrowserPage
from tests.web.hostile_bodies import CANARY_PREFIX, HOSTILE_BODIES, LIVE_IN_CHROMIUM, REMOTE_HOSTS
from web.safehtml import TAGS, body_csp, sanitize_mail_html, wrap_document

OUTER_TITLE = "xss harness"
SANDBOX = "allow-popups allow-popups-to-escape-sandbox"
GRACE_MS = 400  # for media errors, refreshes and other late events
PIXEL = bytes.fromhex(  # a 1x1 PNG, what every attachment URL answers
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63f8cfc0f01f0005000201a5a6c6b40000000049454e44ae426082"
)
LIVE_BODIES = [(name, html) for name, html in HOSTILE_BODIES if name in LIVE_IN_CHROMIUM]
CID_BODY = (
    "cid_and_remote",
    '<p>Logo:</p><img src="cid:logo@mail.example" alt="logo">'
    '<img src="https://evil.example/allowed_image" alt="remote">',
)


@dataclass(frozen=True)
class Mode:
    """One way of showing bodies: which layers are on, and one iframe per body or one in all."""

    name: str
    sanitize: bool
    csp: bool
    sandbox: bool
    bodies: tuple[tuple[str, str], ...] = tuple(HOSTILE_BODIES)
    one_document: bool = False
    remote_images: bool = False

    def frames(self) -> list[tuple[str, str]]:
        """(iframe name, body path) of each iframe of the outer page."""
        if self.one_document:
            return [("all", f"/body/{self.name}/all")]
        return [(name, f"/body/{self.name}/{i}") for i, (name, _) in enumerate(self.bodies)]

    def documents(self) -> dict[str, bytes]:
        """The body documents by path."""
        html = [self._clean(body) for _, body in self.bodies]
        if self.one_document:
            return {f"/body/{self.name}/all": wrap_document("\n<hr>\n".join(html)).encode()}
        return {
            path: wrap_document(h).encode()
            for (_, path), h in zip(self.frames(), html, strict=True)
        }

    def _clean(self, body: str) -> str:
        if not self.sanitize:
            return body
        return sanitize_mail_html(body, remote_images=self.remote_images, cid_url=_cid).html

    def outer_page(self) -> bytes:
        """The harness page: the canary and the iframes."""
        sandbox = f' sandbox="{SANDBOX}"' if self.sandbox else ""
        frames = "".join(
            f'<iframe name="{name}"{sandbox} src="{path}"></iframe>\n'
            for name, path in self.frames()
        )
        return (_HARNESS + frames + "</body></html>").encode()


def _cid(content_id: str) -> str | None:
    return "/attachments/logo" if content_id == "logo@mail.example" else None


MODES = {
    mode.name: mode
    for mode in (
        Mode("production", sanitize=True, csp=True, sandbox=True),
        Mode("sanitizer_only", sanitize=True, csp=False, sandbox=False, one_document=True),
        Mode("csp_and_sandbox_only", False, csp=True, sandbox=True, bodies=tuple(LIVE_BODIES)),
        Mode("unsanitized", sanitize=False, csp=False, sandbox=False, bodies=tuple(LIVE_BODIES)),
        Mode("images_blocked", sanitize=True, csp=True, sandbox=True, bodies=(CID_BODY,)),
        Mode("images_loaded", True, csp=True, sandbox=True, bodies=(CID_BODY,), remote_images=True),
    )
}

_HARNESS = f"""<!DOCTYPE html><html><head><meta charset="utf-8"><title>{OUTER_TITLE}</title>
<script>
window.__fired = [];
window.__xss = name => window.__fired.push(String(name));
addEventListener("message", event => {{
  const data = String(event.data);
  if (data.startsWith("{CANARY_PREFIX}")) window.__xss(data.slice({len(CANARY_PREFIX)}));
}});
</script></head><body>
"""

# Fires what a user could trigger: hover, focus and click on every element, except on
# links to a real site (following those is the user's choice, and not script).
_INTERACT = """() => {
  for (const el of document.querySelectorAll("*")) {
    el.dispatchEvent(new MouseEvent("mouseover", {bubbles: true}));
    el.dispatchEvent(new FocusEvent("focus"));
    const link = el.href && (el.href.baseVal ?? el.href);
    if (link && /^(https?|mailto):$/.test(new URL(link, document.baseURI).protocol)) continue;
    el.dispatchEvent(new MouseEvent("click", {bubbles: true, cancelable: true}));
  }
}"""

# What a sanitized body may contain, checked on the DOM the browser built from it.
_SCAN = r"""(allowed) => {
  allowed = new Set(allowed);
  const fetching = ["background-image", "list-style-image", "border-image-source", "content",
    "cursor", "mask-image", "filter", "clip-path", "shape-outside"];
  const bad = [];
  const head = [...document.head.children].map(e => e.localName).join(",");
  if (head !== "meta,meta,style") bad.push("head:" + head);
  if (document.title) bad.push("title:" + document.title);
  for (const el of document.body.querySelectorAll("*")) {
    if (!allowed.has(el.localName) || el.namespaceURI !== "http://www.w3.org/1999/xhtml")
      bad.push("tag:" + el.localName);
    const style = getComputedStyle(el);
    for (const p of fetching) {
      if (style.getPropertyValue(p).includes("url(")) bad.push(p + ":" + style.getPropertyValue(p));
    }
    for (const a of el.attributes) {
      if (a.name.startsWith("on")) bad.push("attribute:" + a.name);
      const fetches = /url\s*\(|expression|\\/i.test(a.value);
      if (a.name === "style" && fetches) bad.push("style:" + a.value);
      if (a.name === "href" || a.name === "src") {
        const url = new URL(a.value, document.baseURI);
        const ok = a.name === "href" ? /^(https?|mailto):$/.test(url.protocol)
          : url.origin === location.origin;
        if (!ok) bad.push(a.name + ":" + a.value);
      }
    }
  }
  return bad;
}"""


@dataclass
class Site:
    """The harness server: its base URL and the paths it was asked for."""

    url: str
    local_paths: list[str]


def _routes() -> dict[str, tuple[bytes, dict[str, str]]]:
    html = "text/html; charset=utf-8"
    found: dict[str, tuple[bytes, dict[str, str]]] = {}
    for mode in MODES.values():
        found[f"/outer/{mode.name}"] = (mode.outer_page(), {"Content-Type": html})
        headers = {"Content-Type": html}
        if mode.csp:
            headers["Content-Security-Policy"] = body_csp(mode.remote_images)
        found |= {path: (body, headers) for path, body in mode.documents().items()}
    found["/attachments/logo"] = (PIXEL, {"Content-Type": "image/png"})
    return found


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    """A threaded HTTP server on a free loopback port that answers the harness pages."""
    routes = _routes()
    local_paths: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            local_paths.append(self.path)
            body, headers = routes.get(urlsplit(self.path).path, (b"", {}))
            self.send_response(200 if headers else 404)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: the test reads ``local_paths`` instead."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Site(f"http://127.0.0.1:{server.server_address[1]}", local_paths)
    server.shutdown()
    server.server_close()
    thread.join()


@dataclass
class Outcome:
    """What the bodies managed in one mode, by vector name (or iframe name)."""

    fired: set[str]
    titles: set[str]
    remote: set[str]
    navigated: set[str]
    dom: dict[str, list[str]]

    def detected(self) -> set[str]:
        """Every vector that did anything the harness can see."""
        return self.fired | self.titles | self.remote | self.navigated | set(self.dom)


@dataclass
class Rendering:
    """A mode's outer page, loaded and poked; :meth:`outcome` reads what happened so far."""

    page: BrowserPage
    expected: dict[str, str]
    frames: list[Frame]
    dom: dict[str, list[str]]

    def outcome(self) -> Outcome:
        """Canaries, titles, remote requests and navigations, by vector name."""
        return Outcome(
            fired=set(self.page.page.evaluate("window.__fired")),
            titles={f.name for f in self.frames if _title(f).startswith(CANARY_PREFIX)},
            remote={_vector(url) for url in self.page.remote_attempts},
            navigated={
                f.name for f in self.frames if f.is_detached() or f.url != self.expected[f.name]
            },
            dom=self.dom,
        )


def render(page: BrowserPage, site: Site, mode: Mode) -> Rendering:
    """Load the mode's outer page, scan and poke every body, and let late events happen."""
    page.page.goto(f"{site.url}/outer/{mode.name}", wait_until="load")
    frames = page.page.main_frame.child_frames
    expected = {name: site.url + path for name, path in mode.frames()}
    assert [frame.name for frame in frames] == list(expected)
    dom: dict[str, list[str]] = {}
    for frame in frames:
        scan = mode.sanitize and not mode.sandbox
        if scan and (offences := frame.evaluate(_SCAN, sorted(TAGS))):
            dom[frame.name] = offences
        _interact(frame, must_succeed=mode.sanitize)
    page.page.wait_for_timeout(GRACE_MS)
    return Rendering(page, expected, frames, dom)


def _interact(frame: Frame, *, must_succeed: bool) -> None:
    try:
        frame.evaluate(_INTERACT)
    except PlaywrightError:
        if must_succeed:
            raise  # a sanitized body has nothing that could navigate away meanwhile


def _title(frame: Frame) -> str:
    return "" if frame.is_detached() else frame.title()


def _vector(url: str) -> str:
    """The vector a remote URL names: the first segment of its path, or the name in it."""
    parts = urlsplit(url)
    if parts.hostname in REMOTE_HOSTS:
        return parts.path.strip("/").split("/")[0]
    return next((name for name, _ in HOSTILE_BODIES if f"{CANARY_PREFIX}{name}" in url), url)


def test_production_nothing_runs_nothing_leaves(browser_page: BrowserPage, site: Site) -> None:
    outcome = render(browser_page, site, MODES["production"]).outcome()
    assert outcome.fired == outcome.titles == outcome.navigated == set()
    assert browser_page.remote_attempts == []
    assert browser_page.remote_requests == []
    assert browser_page.page.title() == OUTER_TITLE


def test_sanitizer_alone_holds(browser_page: BrowserPage, site: Site) -> None:
    outcome = render(browser_page, site, MODES["sanitizer_only"]).outcome()
    assert outcome.dom == {}
    assert outcome.fired == outcome.titles == outcome.navigated == set()
    assert browser_page.remote_attempts == []
    assert browser_page.remote_requests == []
    assert browser_page.page.title() == OUTER_TITLE


def test_csp_and_sandbox_alone_stop_scripts_and_requests(
    browser_page: BrowserPage, site: Site
) -> None:
    outcome = render(browser_page, site, MODES["csp_and_sandbox_only"]).outcome()
    assert outcome.fired == outcome.titles == set()
    assert browser_page.remote_attempts  # the bodies tried; the CSP refused them all
    assert browser_page.remote_requests == []
    assert browser_page.page.title() == OUTER_TITLE


def test_harness_catches_live_vectors_unsanitized(browser_page: BrowserPage, site: Site) -> None:
    """The negative control: with no layer on, the harness sees every live vector fire."""
    rendering = render(browser_page, site, MODES["unsanitized"])
    deadline = time.monotonic() + 5  # slow machines: wait for the late ones, not for nothing
    while LIVE_IN_CHROMIUM - (outcome := rendering.outcome()).detected():
        if time.monotonic() > deadline:
            break
        browser_page.page.wait_for_timeout(100)
    assert "img_onerror" in outcome.fired
    assert "https://evil.example/img_remote" in browser_page.remote_requests
    assert "img_onerror_title" in outcome.titles
    missed = LIVE_IN_CHROMIUM - outcome.detected()
    assert not missed, json.dumps(sorted(missed))


def test_cid_images_load_under_the_csp_and_remote_ones_only_when_asked(
    browser_page: BrowserPage, site: Site
) -> None:
    render(browser_page, site, MODES["images_blocked"])
    assert "/attachments/logo" in site.local_paths  # 'self' holds in the opaque-origin sandbox
    assert browser_page.remote_attempts == []
    render(browser_page, site, MODES["images_loaded"])
    assert browser_page.remote_requests == ["https://evil.example/allowed_image"]
