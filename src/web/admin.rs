//! The admin's IVR editor at `/admin/ivr`: a page and its assets (plain HTML, CSS and ES modules under
//! `admin/`), embedded in the binary so that koe serves it from anywhere. The page talks only to the
//! JSON API (`/api/login`, `/api/ivr/...`); it holds no secret: the session is an HttpOnly cookie.

use super::AppState;
use super::error::ApiError;
use axum::Router;
use axum::extract::Path;
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

/// Only this origin's scripts, styles, images and audio (the recorded prompts); no inline code, no
/// framing; and Trusted Types, so that no string can become HTML: the page builds its DOM with
/// `createElement` and `textContent`.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
    media-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'; \
    require-trusted-types-for 'script'; trusted-types 'none'";

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const JS: &str = "text/javascript; charset=utf-8";

macro_rules! asset {
    ($name:literal, $type:expr) => {
        Asset {
            name: $name,
            content_type: $type,
            body: include_bytes!(concat!("admin/", $name)),
        }
    };
}

const INDEX: Asset = asset!("index.html", "text/html; charset=utf-8");

const ASSETS: &[Asset] = &[
    asset!("app.js", JS),
    asset!("api.js", JS),
    asset!("editor.js", JS),
    asset!("graph.js", JS),
    asset!("inspector.js", JS),
    asset!("issues.js", JS),
    asset!("jsonmap.js", JS),
    asset!("model.js", JS),
    asset!("prompts.js", JS),
    asset!("schema.js", JS),
    asset!("simulator.js", JS),
    asset!("versions.js", JS),
    asset!("style.css", "text/css; charset=utf-8"),
    asset!("icon.svg", "image/svg+xml"),
    // The flow format, from which the page builds its node forms.
    Asset {
        name: "flow.schema.json",
        content_type: "application/schema+json",
        body: include_bytes!("../../sip-config/ivr/flow.schema.json"),
    },
];

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin", get(|| async { Redirect::to("/admin/ivr") }))
        .route("/admin/ivr", get(|| async { serve(&INDEX) }))
        .route("/admin/ivr/", get(|| async { serve(&INDEX) }))
        .route("/admin/ivr/{asset}", get(asset))
}

async fn asset(Path(name): Path<String>) -> Result<Response, ApiError> {
    ASSETS
        .iter()
        .find(|a| a.name == name)
        .map(serve)
        .ok_or_else(|| ApiError::NotFound(format!("asset {name}")))
}

fn serve(asset: &Asset) -> Response {
    (
        [
            (header::CONTENT_TYPE, asset.content_type),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::X_FRAME_OPTIONS, "DENY"),
            // The assets change with the binary; the browser asks again rather than run an old page.
            (header::CACHE_CONTROL, "no-cache"),
        ],
        asset.body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex::Regex;

    fn text(asset: &Asset) -> &'static str {
        std::str::from_utf8(asset.body).expect("assets are UTF-8")
    }

    fn served(name: &str) -> bool {
        ASSETS.iter().any(|a| a.name == name)
    }

    /// A module or stylesheet that the page names but the binary does not carry would only show up as
    /// a broken page in a browser; this finds it at `cargo test`.
    #[test]
    fn every_referenced_asset_is_embedded() {
        let link = Regex::new(r#"(?:src|href)="/admin/ivr/([^"]+)""#).unwrap();
        let html = text(&INDEX);
        let linked: Vec<&str> = link
            .captures_iter(html)
            .map(|c| c.get(1).unwrap().as_str())
            .collect();
        assert!(
            linked.contains(&"app.js") && linked.contains(&"style.css"),
            "{linked:?}"
        );
        for name in linked {
            assert!(served(name), "index.html links {name}, which is not embedded");
        }
        let import = Regex::new(r#"(?m)^import .* from "\./([^"]+)";$"#).unwrap();
        for js in ASSETS.iter().filter(|a| a.content_type == JS) {
            for c in import.captures_iter(text(js)) {
                let name = c.get(1).unwrap().as_str();
                assert!(served(name), "{} imports {name}, which is not embedded", js.name);
            }
        }
    }

    /// The CSP forbids inline code and `innerHTML`; a page that used them would break in the browser.
    #[test]
    fn assets_use_no_inline_code_or_html_strings() {
        let inline = Regex::new(r"<script>|<style|\sstyle=|\son[a-z]+=").unwrap();
        assert!(
            !inline.is_match(text(&INDEX)),
            "inline script or style in index.html"
        );
        for js in ASSETS.iter().filter(|a| a.content_type == JS) {
            for sink in [
                "innerHTML",
                "outerHTML",
                "insertAdjacentHTML",
                "document.write",
                "eval(",
            ] {
                assert!(!text(js).contains(sink), "{} uses {sink}", js.name);
            }
        }
    }
}
