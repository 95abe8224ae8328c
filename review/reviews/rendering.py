"""Safe rendering of student-written Markdown with LaTeX math, for reviews and questions.

Students write reviews in Markdown (CommonMark plus tables and strikethrough) and may use
LaTeX math: ``$...$`` inline and ``$$...$$`` on its own lines for display math. Math is turned
into MathML on the server, so pages need no JavaScript (browsers render MathML natively).

Public API:
    render_markdown(text: str) -> markupsafe.Markup
        The sanitized HTML for ``text``; safe to drop into a Jinja template as is.
    stored_rendering(content, sha256) / usable_rendering(stored, sha256)
        A review's sections rendered once, at submit, and stored beside the source with the
        renderer version and content hash; shown only while both still match. A resubmit
        reuses the stored HTML of the sections it did not change (known_html).

What the reader gets, and why:
    - Raw HTML in the source is shown as text, never passed through.
    - A formula latex2mathml cannot parse is shown as its source in
      ``<code class="math-error">`` instead of failing the whole page.
    - Every link gets ``rel="noopener nofollow ugc"``; only absolute http, https and mailto URLs
      survive. Images become plain links to the image, so that a review cannot embed a tracking
      pixel that reports who read it.
    - The final HTML is cleaned by nh3 against an explicit allow-list (HTML from Markdown plus the
      MathML latex2mathml emits); no script, event handler, style attribute, or javascript:/data:
      URL survives, whatever the input.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any, Optional

from markupsafe import Markup

# The Markdown, MathML and sanitiser libraries are imported when the renderer is first built
# (``_renderer``), not at start-up: CLI commands never render, and a served worker builds it
# before its first request (app.warm_worker).
if TYPE_CHECKING:
    from xml.etree.ElementTree import Element

    import nh3
    from markdown_it import MarkdownIt
    from markdown_it.renderer import RendererHTML
    from markdown_it.token import Token
    from markdown_it.utils import EnvType, OptionsDict

MATH_ERROR_CLASS = "math-error"

# A formula this long in a review is a mistake or an attack on the converter's time, not math.
MAX_FORMULA_CHARS = 2000

LINK_REL = "noopener nofollow ugc"
ALLOWED_URL_SCHEMES = frozenset({"http", "https", "mailto"})

HTML_TAGS = frozenset(
    {
        "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6",
        "em", "strong", "s", "code", "pre", "blockquote",
        "ul", "ol", "li", "a",
        "table", "thead", "tbody", "tr", "th", "td",
        "span", "div",
    }
)

# Every element latex2mathml 3.81 can emit (checked against its converter), plus the
# semantics/annotation pair this module adds to carry the TeX source.
MATHML_TAGS = frozenset(
    {
        "math", "semantics", "annotation",
        "mrow", "mi", "mn", "mo", "mtext", "mspace",
        "msup", "msub", "msubsup", "mover", "munder", "munderover",
        "mfrac", "msqrt", "mroot",
        "mtable", "mtr", "mtd",
        "mstyle", "mpadded", "menclose", "mphantom",
    }
)

# Presentation attributes latex2mathml sets. Deliberately absent: href (latex2mathml copies
# \href{...} targets verbatim), style and class (from \style and \class), xmlns (implied by
# the HTML parser), and border-color.
MATHML_PRESENTATION_ATTRIBUTES = frozenset(
    {
        "mathvariant", "mathsize", "mathcolor", "mathbackground",
        "displaystyle", "scriptlevel", "stretchy", "fence", "form", "separator",
        "largeop", "movablelimits", "accent", "lspace", "rspace", "minsize", "maxsize",
        "width", "height", "depth", "voffset", "linethickness", "notation",
        "columnalign", "columnlines", "rowlines", "rowspacing", "columnspacing",
    }
)

# Values of presentation attributes are keywords, colour names, #hex colours and lengths.
# Refusing anything else (parentheses, colons, quotes) rules out url(...) and scheme tricks
# in mathcolor/mathbackground, which latex2mathml copies from \color{...} verbatim.
SAFE_MATHML_ATTRIBUTE_VALUE = re.compile(r"[A-Za-z0-9#.+\- ]*")

ALLOWED_ATTRIBUTES: dict[str, set[str]] = {
    "a": {"href"},
    "ol": {"start"},
    **{tag: set(MATHML_PRESENTATION_ATTRIBUTES) for tag in MATHML_TAGS - {"math", "annotation"}},
}
ALLOWED_ATTRIBUTE_VALUES: dict[str, dict[str, set[str]]] = {
    "math": {"display": {"inline", "block"}},
    "annotation": {"encoding": {"application/x-tex"}},
}
ALLOWED_CLASSES: dict[str, set[str]] = {
    "span": {"math", "inline"},
    "div": {"math", "block"},
    "code": {MATH_ERROR_CLASS},
}


#: Bumped whenever the output of the renderer changes (Markdown rules, allow-lists, MathML), so
#: HTML stored by an older renderer is made again instead of being shown.
RENDERER_VERSION = 1


def sanitizer_settings() -> dict[str, Any]:
    """The allow-list as nh3 keyword arguments (one definition for the cleaner and its tests)."""
    return dict(
        tags=set(HTML_TAGS | MATHML_TAGS),
        attributes=ALLOWED_ATTRIBUTES,
        tag_attribute_values=ALLOWED_ATTRIBUTE_VALUES,
        allowed_classes=ALLOWED_CLASSES,
        attribute_filter=_filter_mathml_attribute_value,
        url_schemes=set(ALLOWED_URL_SCHEMES),
        # Relative URLs would resolve against the platform itself; a review has no reason
        # to link into the application, so only absolute URLs with an allowed scheme stay.
        url_relative="deny",
        link_rel=LINK_REL,
        strip_comments=True,
    )


def render_markdown(text: str) -> Markup:
    """Render student Markdown with ``$``/``$$`` math to sanitized HTML."""
    markdown, cleaner = _renderer()
    made = _plain_prose_html(text)
    return _sanitized(cleaner.clean(markdown.render(text) if made is None else made))


# Plain prose, which most summaries and questions are, is paragraphs of escaped text whatever
# the Markdown rules. Telling it apart takes two regular expressions; markdown-it's parse takes
# about a third of a millisecond a section, most of a first submit's render (issue 14). Any
# character that starts Markdown, math or an entity anywhere, and a line that could open a
# block (indented, a list number or marker) or end in a hard break, go to markdown-it.
_MARKUP_CHARACTERS = re.compile(r"[\\`*_\[\]<>&#$~|=+\x00-\x09\x0b-\x1f\x7f]|[^\S \n]")
_BLOCK_LINE_EDGES = re.compile(r"^[ 0-9-]| $", re.MULTILINE)
_BLANK_LINES = re.compile(r"\n{2,}")


def _plain_prose_html(text: str) -> Optional[str]:
    """markdown-it's HTML for ``text`` when it is plain prose, else None (render it in full)."""
    if _MARKUP_CHARACTERS.search(text) or _BLOCK_LINE_EDGES.search(text):
        return None
    paragraphs = _BLANK_LINES.split(text.strip("\n"))
    # markdown-it escapes the double quote in text too (&, < and > never get here).
    return "".join("<p>" + paragraph.replace('"', "&quot;") + "</p>\n"
                   for paragraph in paragraphs if paragraph)


def _sanitized(html: str) -> Markup:
    """Marks HTML safe for templates: only ever nh3's allow-list output, made now or stored."""
    return Markup(html)  # nosec B704


def render_content(content: Mapping[str, Any],
                   known: Optional[Mapping[str, str]] = None) -> dict[str, Any]:
    """Every text section of a review's content rendered: strings to HTML, lists item by item.

    Plain ``str`` values (not Markup) so the result can be stored as JSON; wrap with
    :func:`as_markup` to show it. ``known`` maps texts to the HTML this renderer already made
    of them (``known_html``), reused instead of rendered again."""
    known = known or {}

    def render(text: str) -> str:
        made = known.get(text)
        return made if made is not None else str(render_markdown(text))

    return {key: [render(item) for item in value] if isinstance(value, list) else render(value)
            for key, value in content.items() if isinstance(value, (str, list))}


def stored_rendering(content: Mapping[str, Any], sha256: str,
                     known: Optional[Mapping[str, str]] = None) -> dict[str, Any]:
    """The rendered content as stored beside its source, with what it was made from."""
    return {"renderer": RENDERER_VERSION, "sha256": sha256, "html": render_content(content, known)}


def known_html(content: Optional[Mapping[str, Any]], stored: Optional[Mapping[str, Any]],
               sha256: Optional[str]) -> dict[str, str]:
    """Each text of ``content`` with the HTML stored for it, when ``stored`` was made from this
    very content (hash ``sha256``) by this renderer; else nothing. A resubmit that changes one
    section renders only that one: the HTML of a text depends on nothing but the text."""
    if not content or usable_rendering(stored, sha256) is None:
        return {}
    html_of = stored["html"]  # type: ignore[index]
    pairs: dict[str, str] = {}
    for key, value in content.items():
        made = html_of.get(key)
        if isinstance(value, str) and isinstance(made, str):
            pairs[value] = made
        elif (isinstance(value, list) and isinstance(made, list) and len(value) == len(made)
              and all(isinstance(x, str) for x in (*value, *made))):
            pairs.update(zip(value, made))
    return pairs


def as_markup(rendered: Mapping[str, Any]) -> dict[str, Any]:
    """Stored HTML (sanitised when it was stored) marked safe for the templates."""
    return {key: [_sanitized(item) for item in value] if isinstance(value, list)
            else _sanitized(value) for key, value in rendered.items()}


def usable_rendering(stored: Optional[Mapping[str, Any]], sha256: Optional[str]) -> Optional[dict[str, Any]]:
    """The stored HTML if it was made from this very content by this renderer, else None."""
    if (stored and sha256 and stored.get("renderer") == RENDERER_VERSION
            and stored.get("sha256") == sha256 and isinstance(stored.get("html"), dict)):
        return as_markup(stored["html"])
    return None


def _render_formula(latex: str, options: dict[str, Any]) -> str:
    """Convert one formula to MathML, or show its source as code when it does not parse."""
    display = "block" if options.get("display_mode") else "inline"
    if len(latex) > MAX_FORMULA_CHARS:
        return _formula_source_as_code(latex, display)
    from latex2mathml.converter import Converter

    try:
        math = Converter(display=display).convert_to_element(latex)
    # latex2mathml reports malformed input with a dozen exception types of its own and also
    # leaks built-ins (IndexError, StopIteration, ValueError, RecursionError) on some inputs;
    # any failure means "not renderable", and one bad formula must not break the page.
    except Exception:
        return _formula_source_as_code(latex, display)
    return _serialize_mathml(math, latex)


def _formula_source_as_code(latex: str, display: str) -> str:
    from markdown_it.common.utils import escapeHtml

    delimiter = "$$" if display == "block" else "$"
    return f'<code class="{MATH_ERROR_CLASS}">{escapeHtml(delimiter + latex + delimiter)}</code>'


def _serialize_mathml(math: Element, latex: str) -> str:
    """Serialize latex2mathml's tree ourselves, with correct escaping.

    latex2mathml's own ``convert`` un-escapes its whole output so that the character
    references it stores as text (``&#x02211;``) come out right, and in doing so lets
    ``\\text{<b>}`` or ``\\color{"><x>}`` through as live markup. Decoding the references in
    each text and attribute first and letting ElementTree escape afterwards gives the same
    characters without that hole.
    """
    from xml.etree import ElementTree

    for element in math.iter():
        if element.text:
            element.text = html.unescape(element.text)
        if element.tail:
            element.tail = html.unescape(element.tail)
        for name, value in element.attrib.items():
            element.attrib[name] = html.unescape(value)
    # Keep the TeX source alongside the MathML: screen readers and copy-paste can use it.
    content = list(math)
    for child in content:
        math.remove(child)
    semantics = ElementTree.SubElement(math, "semantics")
    semantics.extend(content)
    annotation = ElementTree.SubElement(semantics, "annotation", encoding="application/x-tex")
    annotation.text = latex
    return ElementTree.tostring(math, encoding="unicode")


def _render_display_math_in_paragraph(
    renderer: RendererHTML,
    tokens: Sequence[Token],
    index: int,
    options: OptionsDict,
    env: EnvType,
) -> str:
    # The plugin wraps ``$$...$$`` written inside a paragraph in a <div>, which is invalid
    # inside <p> and makes the HTML parser split the paragraph; a <span> keeps it whole while
    # the MathML itself still says display="block".
    formula = _render_formula(tokens[index].content.strip(), {"display_mode": True})
    return f'<span class="math inline">{formula}</span>'


def _render_image_as_link(
    renderer: RendererHTML,
    tokens: Sequence[Token],
    index: int,
    options: OptionsDict,
    env: EnvType,
) -> str:
    from markdown_it.common.utils import escapeHtml

    image = tokens[index]
    source = str(image.attrGet("src") or "")
    alt_text = renderer.renderInlineAsText(image.children or [], options, env)
    return f'<a href="{escapeHtml(source)}">{escapeHtml(alt_text or source)}</a>'


def _filter_mathml_attribute_value(tag: str, attribute: str, value: str) -> str | None:
    if tag in MATHML_TAGS and attribute in MATHML_PRESENTATION_ATTRIBUTES:
        return value if SAFE_MATHML_ATTRIBUTE_VALUE.fullmatch(value) else None
    return value


def _build_markdown() -> MarkdownIt:
    from markdown_it import MarkdownIt
    from mdit_py_plugins.dollarmath import dollarmath_plugin

    markdown = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])
    markdown.use(
        dollarmath_plugin,
        # Labels would emit id attributes chosen by students; ids could clash with the page's.
        allow_labels=False,
        # Students write prices and counts ("costs $5 and $10"); requiring no space inside the
        # dollars and no digit right outside them, as Pandoc does, keeps those as text.
        allow_space=False,
        allow_digits=False,
        double_inline=True,
        renderer=_render_formula,
    )
    markdown.add_render_rule("math_inline_double", _render_display_math_in_paragraph)
    markdown.add_render_rule("image", _render_image_as_link)
    return markdown


@cache
def _renderer() -> tuple[MarkdownIt, nh3.Cleaner]:
    """The Markdown parser and the sanitiser, built once per process, on first use."""
    import nh3

    # One Cleaner: nh3.clean() rebuilds the allow-list on every call (177-246 us a call
    # against 3-6 us).
    return _build_markdown(), nh3.Cleaner(**sanitizer_settings())


def warm_up() -> None:
    """Build the renderer now (a served worker, before its first request): the imports and
    the build take about 0.1 s, which a student's first submit or reading would otherwise wait
    for, with every request queued behind it."""
    render_markdown("*warm* $x$")
