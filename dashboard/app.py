"""The served page: ``panel serve dashboard/app.py`` (or ``desa serve``).

Only assembles: the catalogue comes from ``load_catalog(survey_dir())`` (``DESA_DATA_DIR`` and
``DESA_SURVEY``, see data/settings.py), the state and views from their modules. Re-run for every
browser session, so nothing heavy happens here outside the cached loader.
"""

from __future__ import annotations

from typing import Any

import panel as pn

from dashboard.deferred import DeferredParts, when_shown
from dashboard.overlays import OverlaySettings
from dashboard.safe_text import code_markdown, escape_markdown
from dashboard.samp_web import SampWebView
from dashboard.similar import similar_for_survey
from dashboard.state import DashboardState
from dashboard.store import color_options, default_color, load_catalog, session_generation
from dashboard.urlstate import TextLocation, UrlSync, session_location
from dashboard.views.cmd_view import CmdView
from dashboard.views.controls import Controls
from dashboard.views.export_view import ExportView
from dashboard.views.free_view import FreeAxesView
from dashboard.views.histogram_view import HistogramView
from dashboard.views.hr_view import HrView
from dashboard.views.side_panel import SIDE_HEIGHT, SIDE_WIDTH, SidePanel, follow_up
from dashboard.views.star_card import StarCard
from dashboard.views.subsets_view import SubsetsView
from dashboard.views.table_view import TableView
from dashboard.views.templates_view import TemplatesView
from dashboard.views.umap_view import UmapView
from data.errors import DataError
from data.settings import survey_dir

TITLE = "DESA stellar embedding explorer"
#: Sidebar width in pixels: with two views side by side and the side panel, a 1600 px screen.
SIDEBAR_WIDTH = 290
#: A view's size while it is being built (its frame, 300 x 250, plus axes, title and toolbar).
VIEW_WIDTH, VIEW_HEIGHT = 400, 330
#: The views and the side panel are two Bokeh roots, side by side by CSS, not one ``Row``: when the
#: star card grows (its first star's figures and tables), the browser lays out again the root it is
#: in, and in one ``Row`` with the views that relaid and repainted all four views (a first star card
#: cost Chromium 0.7 s of CPU and took 0.56 s on an idle machine; as its own root 0.4 s and 0.18 s).
#: ``:has`` finds each root's place in the template's main column, whatever comes before it.
BESIDE_CSS = """
#main { display: flex; flex-wrap: wrap; align-items: stretch; }
#main > .card-margin { flex: 1 1 100%; min-width: 0; }
#main > .card-margin:has(.desa-views) { flex: 0 0 auto; }
#main > .card-margin:has(.desa-views) > .pn-wrapper {
  padding-right: 0; border-top-right-radius: 0; border-bottom-right-radius: 0;
}
#main > .card-margin:has(.desa-side) { flex: 1 1 0; min-width: 440px; }
#main > .card-margin:has(.desa-side) > .pn-wrapper {
  padding-left: 0; border-top-left-radius: 0; border-bottom-left-radius: 0; height: 100%;
}
"""


def _no_web_font() -> None:
    """Make every resource the page loads come from this server.

    Panel's Fast design otherwise links Open Sans from Google Fonts, which an offline observatory
    server cannot reach and which would tell a third party who opened the page. (A subclass of the
    design cannot do it: Panel resolves the design's own files by its class name.)
    """
    fast = pn.theme.fast.Fast
    fast._resources = {kind: res for kind, res in fast._resources.items() if kind != "font"}


_no_web_font()


def build_app(location: TextLocation | None = None) -> pn.viewable.Viewable:
    """The page for one session: the explorer, or one clear message if there is no catalogue.

    With ``location`` (the session's URL) a shared link's selection is restored and the URL then
    follows the selection.
    """
    folder = survey_dir()
    try:
        # One store generation for the whole session: a new one (desa ingest / embed) reaches the
        # next session, never half of this one (data/generations.py).
        generation = session_generation(folder)
        catalog = load_catalog(folder, generation)
    except DataError as exc:
        message = (
            f"**No catalogue at {code_markdown(exc.path)}**; run `make demo` or `desa ingest`, or point "
            f"`DESA_DATA_DIR` / `DESA_SURVEY` at a survey folder."
        )
        return pn.Column(f"# {TITLE}", pn.pane.Alert(message, alert_type="warning"))
    state = DashboardState(
        catalog=catalog,
        color_options=color_options(catalog),
        color_by=default_color(catalog),
        similar=similar_for_survey(folder, len(catalog), generation=generation),
        generation=generation,
    )
    url = None if location is None else UrlSync(state, location)
    overlays = OverlaySettings()
    # The heavy parts arrive after the page has loaded, when the loop is idle (dashboard/deferred.py).
    later = DeferredParts()
    view = {"min_width": VIEW_WIDTH, "min_height": VIEW_HEIGHT}
    views = pn.GridBox(
        later.part(lambda: UmapView(state=state, overlays=overlays), "the UMAP view", first=True, **view),
        later.part(
            lambda: CmdView(state=state, overlays=overlays),
            "the colour-magnitude diagram",
            first=True,
            **view,
        ),
        later.part(lambda: HrView(state=state, overlays=overlays), "the HR diagram", first=True, **view),
        # Only the shown tab is rendered (dynamic): a hidden figure would still cost the page.
        later.part(
            lambda: pn.Tabs(
                ("Histogram", HistogramView(state=state)),
                # Made only when its tab is first shown (``lazy``), like the rendering itself.
                ("Any two columns", when_shown(lambda: FreeAxesView(state=state, overlays=overlays))),
                dynamic=True,
            ),
            "the histogram",
            first=True,
            **view,
        ),
        ncols=2,
        css_classes=["desa-views"],
    )

    def side_panel() -> SidePanel:
        followup_parts, followup_list = follow_up(state, folder)
        # The card beside the views, where the eye already is, scrolling on its own so the views
        # stay in sight (issue 18, item 0: below the table it appeared 1,500 pixels down).
        return SidePanel(
            state=state,
            star=[*followup_parts, StarCard(state=state, survey_dir=folder)],
            tabs=[
                ("Follow-up list", followup_list),
                ("Subsets", when_shown(lambda: SubsetsView(state=state))),
            ],
        )

    side = later.part(
        side_panel, "the star card", min_width=SIDE_WIDTH, min_height=SIDE_HEIGHT, css_classes=["desa-side"]
    )
    table = later.part(
        lambda: TableView(state=state), "the selected-stars table", sizing_mode="stretch_width"
    )
    templates = later.part(lambda: TemplatesView(state=state), "the population templates")
    template = pn.template.FastListTemplate(
        title=TITLE,
        sidebar=[
            Controls(state=state),
            overlays.controls(),
            ExportView(state=state, survey_dir=folder),
            SampWebView(state=state, survey_dir=folder),
            *([] if url is None else [url.writer]),  # the address bar follows the state
        ],
        sidebar_width=SIDEBAR_WIDTH,
        main=[views, side, table, templates],  # the views and the card beside them: BESIDE_CSS
        accent="#0072B2",
        # Panel's busy spinner is one flag for the whole server process: every event of any user
        # turned on the spinner of every open page, one message to each (8 % of the server's CPU
        # with 20 users in ``make soak``; py-spy, issue 16 item 7), and it told nobody whether
        # their own request was running. The parts still loading say so themselves.
        busy_indicator=None,
    )
    template.config.raw_css.append(BESIDE_CSS)
    if url is not None and url.problems:
        # The problems quote the link's values: escaped, they show as text, never as HTML.
        problems = "\n\n".join(escape_markdown(problem) for problem in url.problems)
        template.main.insert(0, pn.pane.Alert(problems, alert_type="warning", css_classes=["url-problems"]))
    template.main.append(pn.pane.Markdown(f"Survey: {code_markdown(folder)} · {len(catalog):,} stars"))
    later.start()
    return template


def serve_page() -> None:
    """Add the page to this session's document, recomputing Bokeh's model graph once, not per part.

    Bokeh re-walks every model of the document each time a component is added; frozen, it walks
    once when the page is complete (about 0.5 s less per new session at 10^6 stars).
    """
    doc = pn.state.curdoc
    if doc is None:
        build_app().servable(title=TITLE)
        return
    location = session_location()  # Panel's own would fail on some links (see TextLocation)
    with doc.models.freeze():
        build_app(location).servable(title=TITLE, location=True if location is None else location)
    local_stylesheets(doc)


def local_stylesheets(doc: Any) -> None:
    """Point every stylesheet of the page's models at this server, never at Panel's CDN.

    Panel writes its components' stylesheets with CDN addresses and rewrites them to the server's
    own copies only when it serves the page's HTML. A session opened by a websocket alone is
    never rewritten: with ``desa serve --num-procs`` > 1 a browser's websocket often reaches
    another worker than its page request did, which then builds the page again from the
    websocket (docs/DEPLOY.md §4), and the browser asked cdn.holoviz.org for 15 stylesheets,
    which an offline observatory server cannot reach and which tells a third party who opened
    the page. The models made later in the session (the deferred parts, dashboard/deferred.py,
    and any widget made on an event) take their address from the document's ``dist_url`` when
    they are made, as after Panel's HTML path; set here, it is this server's too.
    """
    from panel.io.resources import LOCAL_DIST, patch_model_css

    dist_url = f"{pn.state.rel_path}/{LOCAL_DIST}" if pn.state.rel_path else LOCAL_DIST
    doc._template_variables["dist_url"] = dist_url
    for root in doc.roots:
        patch_model_css(root, dist_url=dist_url)


if __name__.startswith("bokeh"):
    serve_page()
