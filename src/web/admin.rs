//! The admin's IVR editor at `/admin/ivr`: a page and its assets (plain HTML, CSS and ES modules under
//! `admin/`), embedded and served by [`super::assets`]. The page talks only to the JSON API
//! (`/api/login`, `/api/ivr/...`).

use super::AppState;
use super::assets::{self, Asset, Bundle, CSS, HTML, JS, SVG, embed};
use axum::Router;
use axum::response::Redirect;
use axum::routing::get;

pub(super) const PAGE: Bundle = Bundle {
    prefix: "/admin/ivr",
    index: embed!("admin", "index.html", HTML),
    assets: &[
        embed!("admin", "app.js", JS),
        embed!("admin", "api.js", JS),
        embed!("admin", "editor.js", JS),
        embed!("admin", "graph.js", JS),
        embed!("admin", "inspector.js", JS),
        embed!("admin", "issues.js", JS),
        embed!("admin", "jsonmap.js", JS),
        embed!("admin", "model.js", JS),
        embed!("admin", "prompts.js", JS),
        embed!("admin", "schema.js", JS),
        embed!("admin", "simulator.js", JS),
        embed!("admin", "versions.js", JS),
        embed!("admin", "style.css", CSS),
        embed!("admin", "icon.svg", SVG),
        // The flow format, from which the page builds its node forms.
        Asset {
            name: "flow.schema.json",
            content_type: "application/schema+json",
            body: include_bytes!("../../sip-config/ivr/flow.schema.json"),
        },
    ],
};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin", get(|| async { Redirect::to("/admin/ivr") }))
        .merge(assets::routes(&PAGE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_referenced_asset_is_embedded() {
        assets::check::links_and_imports(&PAGE, &[&PAGE], &["app.js", "style.css"]);
    }

    #[test]
    fn assets_use_no_inline_code_or_html_strings() {
        assets::check::no_inline_code_or_html_strings(&PAGE);
    }
}
