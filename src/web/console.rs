//! The people's screens of the support line: the agent console at `/agent` and the supervisor's view at
//! `/supervisor` (plain HTML, CSS and ES modules under `agent/` and `supervisor/`), embedded and served
//! by [`super::assets`]. They share the agent's modules (the transcript, the event stream, sign-in) and
//! the admin editor's base style and request helper, and talk only to the JSON API and `/api/events`.

use super::AppState;
use super::assets::{self, Bundle, CSS, HTML, JS, embed};
use axum::Router;

pub(super) const AGENT: Bundle = Bundle {
    prefix: "/agent",
    index: embed!("agent", "index.html", HTML),
    assets: &[
        embed!("agent", "app.js", JS),
        embed!("agent", "api.js", JS),
        embed!("agent", "assist.js", JS),
        embed!("agent", "callstate.js", JS),
        embed!("agent", "context.js", JS),
        embed!("agent", "dom.js", JS),
        embed!("agent", "format.js", JS),
        embed!("agent", "signin.js", JS),
        embed!("agent", "stream.js", JS),
        embed!("agent", "transcript.js", JS),
        embed!("agent", "transcript-model.js", JS),
        embed!("agent", "transfer.js", JS),
        embed!("agent", "wrapup.js", JS),
        embed!("agent", "console.css", CSS),
        embed!("agent", "style.css", CSS),
    ],
};

pub(super) const SUPERVISOR: Bundle = Bundle {
    prefix: "/supervisor",
    index: embed!("supervisor", "index.html", HTML),
    assets: &[
        embed!("supervisor", "app.js", JS),
        embed!("supervisor", "overview.js", JS),
        embed!("supervisor", "style.css", CSS),
    ],
};

pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(assets::routes(&AGENT))
        .merge(assets::routes(&SUPERVISOR))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use std::process::Command;

    /// The pages use the admin editor's base style, icon and request helper.
    const ALL: &[&Bundle] = &[&AGENT, &SUPERVISOR, &super::super::admin::PAGE];

    #[test]
    fn every_referenced_asset_is_embedded() {
        assets::check::links_and_imports(&AGENT, ALL, &["app.js", "console.css", "style.css"]);
        assets::check::links_and_imports(&SUPERVISOR, ALL, &["app.js", "style.css"]);
    }

    #[test]
    fn assets_use_no_inline_code_or_html_strings() {
        assets::check::no_inline_code_or_html_strings(&AGENT);
        assets::check::no_inline_code_or_html_strings(&SUPERVISOR);
    }

    /// Every module in the asset folders is served: one left out would be dead code or a broken page.
    #[test]
    fn every_file_of_the_folders_is_embedded() {
        for bundle in [&AGENT, &SUPERVISOR] {
            let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("src/web")
                .join(bundle.prefix.trim_start_matches('/'));
            for entry in std::fs::read_dir(&dir).expect("the asset folder") {
                let name = entry.expect("a folder entry").file_name();
                let name = name.to_str().expect("UTF-8 names");
                if name.ends_with(".js") || name.ends_with(".css") {
                    assert!(
                        bundle.assets.iter().any(|a| a.name == name),
                        "{}/{name} is not embedded",
                        dir.display()
                    );
                }
            }
        }
    }

    /// The pure modules (transcript model, call state, event-stream bookkeeping, the supervisor's
    /// overview) under Node's own test runner: `src/web/agent/test/*.test.js`.
    #[test]
    fn javascript_unit_tests_pass_in_node() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/web/agent/test");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .expect("src/web/agent/test")
            .map(|e| e.expect("a folder entry").path())
            .filter(|p| p.to_str().is_some_and(|s| s.ends_with(".test.js")))
            .collect();
        files.sort();
        assert!(!files.is_empty(), "no *.test.js in {}", dir.display());
        let out = Command::new("node")
            .arg("--test")
            .args(&files)
            .output()
            .unwrap_or_else(|e| {
                panic!("cannot run node ({e}): apt-get install nodejs (scripts/test.sh does)")
            });
        assert!(
            out.status.success(),
            "node --test failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
