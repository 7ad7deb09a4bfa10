//! Web pages embedded in the binary (plain HTML, CSS and ES modules, no build step), so that koe serves
//! them from any directory: each page is a [`Bundle`] under a path prefix, served with one strict CSP.
//! The pages talk only to the JSON API; they hold no secret (the session is an HttpOnly cookie).

use super::AppState;
use super::error::ApiError;
use axum::Router;
use axum::extract::Path;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// Only this origin's scripts, styles, images, audio and connections (the API, the event WebSocket);
/// no inline code, no framing; and Trusted Types, so that no string can become HTML: the pages build
/// their DOM with `createElement` and `textContent`.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
    media-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'; \
    require-trusted-types-for 'script'; trusted-types 'none'";

pub const JS: &str = "text/javascript; charset=utf-8";
pub const CSS: &str = "text/css; charset=utf-8";
pub const HTML: &str = "text/html; charset=utf-8";
pub const SVG: &str = "image/svg+xml";

pub struct Asset {
    pub name: &'static str,
    pub content_type: &'static str,
    pub body: &'static [u8],
}

/// One page: `index` at `prefix` (with or without a trailing slash), the other files at `prefix/NAME`.
pub struct Bundle {
    pub prefix: &'static str,
    pub index: Asset,
    pub assets: &'static [Asset],
}

/// An [`Asset`] from the file `$dir/$name` next to the module that uses the macro.
macro_rules! embed {
    ($dir:literal, $name:literal, $type:expr) => {
        $crate::web::assets::Asset {
            name: $name,
            content_type: $type,
            body: include_bytes!(concat!($dir, "/", $name)),
        }
    };
}
pub(super) use embed;

/// The routes that serve `bundle`.
pub fn routes(bundle: &'static Bundle) -> Router<AppState> {
    let index = || async { serve(&bundle.index) };
    Router::new()
        .route(bundle.prefix, get(index))
        .route(&format!("{}/", bundle.prefix), get(index))
        .route(
            &format!("{}/{{asset}}", bundle.prefix),
            get(move |Path(name): Path<String>| async move { asset(bundle, &name) }),
        )
}

fn asset(bundle: &Bundle, name: &str) -> Result<Response, ApiError> {
    bundle
        .assets
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

/// Checks each page module runs on its bundles: mistakes that would otherwise only show as a broken
/// page in a browser.
#[cfg(test)]
pub mod check {
    use super::{Asset, Bundle, JS};
    use regex::Regex;

    fn text(asset: &Asset) -> &'static str {
        std::str::from_utf8(asset.body).expect("assets are UTF-8")
    }

    /// The bundle that serves the absolute path `path` (`/admin/ivr/api.js`), and the file's name.
    fn resolve<'a>(all: &[&'a Bundle], path: &'a str) -> Option<(&'a Bundle, &'a str)> {
        all.iter().find_map(|b| {
            let name = path.strip_prefix(b.prefix)?.strip_prefix('/')?;
            Some((*b, name))
        })
    }

    fn served(bundle: &Bundle, name: &str) -> bool {
        bundle.assets.iter().any(|a| a.name == name)
    }

    /// Every file `bundle`'s page links and every module its scripts import (`./x.js`, or `/prefix/x.js`
    /// of another bundle in `all`) is embedded; the page links at least `required`.
    pub fn links_and_imports(bundle: &Bundle, all: &[&Bundle], required: &[&str]) {
        let link = Regex::new(r#"(?:src|href)="(/[^"]+)""#).unwrap();
        let html = text(&bundle.index);
        let linked: Vec<&str> = link
            .captures_iter(html)
            .map(|c| c.get(1).unwrap().as_str())
            .collect();
        for name in required {
            let path = format!("{}/{name}", bundle.prefix);
            assert!(
                linked.contains(&path.as_str()),
                "{} does not link {path}",
                bundle.prefix
            );
        }
        for path in linked {
            let found = resolve(all, path).is_some_and(|(b, name)| served(b, name));
            assert!(found, "{} links {path}, which is not embedded", bundle.prefix);
        }
        let import = Regex::new(r#"(?m)^import .* from "([^"]+)";$"#).unwrap();
        for js in bundle.assets.iter().filter(|a| a.content_type == JS) {
            for c in import.captures_iter(text(js)) {
                let from = c.get(1).unwrap().as_str();
                let found = match from.strip_prefix("./") {
                    Some(name) => served(bundle, name),
                    None => resolve(all, from).is_some_and(|(b, name)| served(b, name)),
                };
                assert!(
                    found,
                    "{}/{} imports {from}, which is not embedded",
                    bundle.prefix, js.name
                );
            }
        }
    }

    /// The CSP forbids inline code and `innerHTML`; a page that used them would break in the browser.
    pub fn no_inline_code_or_html_strings(bundle: &Bundle) {
        let inline = Regex::new(r"<script>|<style|\sstyle=|\son[a-z]+=").unwrap();
        assert!(
            !inline.is_match(text(&bundle.index)),
            "inline script or style in {}",
            bundle.prefix
        );
        for js in bundle.assets.iter().filter(|a| a.content_type == JS) {
            for sink in [
                "innerHTML",
                "outerHTML",
                "insertAdjacentHTML",
                "document.write",
                "eval(",
            ] {
                assert!(
                    !text(js).contains(sink),
                    "{}/{} uses {sink}",
                    bundle.prefix,
                    js.name
                );
            }
        }
    }
}
