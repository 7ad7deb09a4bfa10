//! The knowledge base: intents (what a caller may want and what the agent should do), alert rules, the
//! sentiment lexicon and the summary's cues. The default is embedded in the binary so that koe runs from
//! any directory; a directory with the same four files replaces it. Everything is validated on load and
//! every problem is reported at once, each naming its intent or rule.

use super::alerts::AlertRules;
use super::retrieve::{RetrievalOptions, Retriever};
use super::sentiment::Lexicon;
use super::summary::SummaryCues;
use super::text::{JaTokens, normalize, tokens};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::path::Path;
use std::sync::Arc;

/// Text per language code (`en`, `ja`).
pub type PerLanguage<T> = BTreeMap<String, T>;

/// The entry for `language`, else English, else any: a missing translation shows English, not nothing.
pub fn localized<'a, T>(map: &'a PerLanguage<T>, language: &str) -> Option<&'a T> {
    map.get(language)
        .or_else(|| map.get("en"))
        .or_else(|| map.values().next())
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Intent {
    pub id: String,
    pub title: PerLanguage<String>,
    /// Example caller phrases: what retrieval matches against.
    pub phrases: PerLanguage<Vec<String>>,
    pub next_steps: PerLanguage<Vec<String>>,
    /// A short script for the agent to say.
    pub script: PerLanguage<String>,
    pub article: String,
    /// IVR variables (`order_number`) or customer fields (`customer.email`) to check.
    #[serde(default)]
    pub data_to_check: Vec<String>,
    /// IVR intents or queues (`orders`, `billing`) under which this intent is more likely.
    #[serde(default)]
    pub ivr_intents: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IntentsFile {
    languages: Vec<String>,
    #[serde(rename = "intent", default)]
    intents: Vec<Intent>,
}

/// A knowledge base that did not load: the file and everything wrong with it.
#[derive(Debug, Clone, PartialEq)]
pub struct KnowledgeError {
    pub file: String,
    pub problems: Vec<String>,
}

impl KnowledgeError {
    pub fn new(file: &str, problem: impl Into<String>) -> KnowledgeError {
        KnowledgeError {
            file: file.to_string(),
            problems: vec![problem.into()],
        }
    }

    /// `Err` with `problems` if there are any.
    pub fn check(file: &str, problems: Vec<String>) -> Result<(), KnowledgeError> {
        if problems.is_empty() {
            Ok(())
        } else {
            Err(KnowledgeError {
                file: file.to_string(),
                problems,
            })
        }
    }
}

impl fmt::Display for KnowledgeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.file, self.problems.join("; "))
    }
}

impl std::error::Error for KnowledgeError {}

/// The four files' contents.
#[derive(Debug, Clone, Copy)]
pub struct Sources<'a> {
    pub intents: &'a str,
    pub alerts: &'a str,
    pub sentiment: &'a str,
    pub summary: &'a str,
}

pub const INTENTS_FILE: &str = "intents.toml";
pub const ALERTS_FILE: &str = "alerts.toml";
pub const SENTIMENT_FILE: &str = "sentiment.toml";
pub const SUMMARY_FILE: &str = "summary.toml";

impl Sources<'static> {
    pub const EMBEDDED: Sources<'static> = Sources {
        intents: include_str!("../../sip-config/knowledge/intents.toml"),
        alerts: include_str!("../../sip-config/knowledge/alerts.toml"),
        sentiment: include_str!("../../sip-config/knowledge/sentiment.toml"),
        summary: include_str!("../../sip-config/knowledge/summary.toml"),
    };
}

#[derive(Debug)]
pub struct Knowledge {
    languages: Vec<String>,
    intents: Vec<Intent>,
    retriever: Retriever,
    pub(super) alerts: AlertRules,
    pub(super) sentiment: Lexicon,
    pub(super) summary: SummaryCues,
}

impl Knowledge {
    /// The knowledge base built into the binary (sip-config/knowledge/).
    pub fn embedded() -> Result<Arc<Knowledge>, KnowledgeError> {
        Knowledge::parse(Sources::EMBEDDED).map(Arc::new)
    }

    /// The four files of `dir` (intents.toml, alerts.toml, sentiment.toml, summary.toml).
    pub fn load_dir(dir: &Path) -> Result<Arc<Knowledge>, KnowledgeError> {
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read_to_string(&path)
                .map_err(|e| KnowledgeError::new(&path.display().to_string(), e.to_string()))
        };
        let (intents, alerts) = (read(INTENTS_FILE)?, read(ALERTS_FILE)?);
        let (sentiment, summary) = (read(SENTIMENT_FILE)?, read(SUMMARY_FILE)?);
        Knowledge::parse(Sources {
            intents: &intents,
            alerts: &alerts,
            sentiment: &sentiment,
            summary: &summary,
        })
        .map(Arc::new)
    }

    pub fn parse(sources: Sources<'_>) -> Result<Knowledge, KnowledgeError> {
        let file: IntentsFile =
            toml::from_str(sources.intents).map_err(|e| KnowledgeError::new(INTENTS_FILE, e.to_string()))?;
        KnowledgeError::check(INTENTS_FILE, validate(&file))?;
        Ok(Knowledge {
            retriever: Retriever::build(&file.intents, RetrievalOptions::default()),
            alerts: AlertRules::parse(sources.alerts)?,
            sentiment: Lexicon::parse(sources.sentiment)?,
            summary: SummaryCues::parse(sources.summary)?,
            languages: file.languages,
            intents: file.intents,
        })
    }

    pub fn languages(&self) -> &[String] {
        &self.languages
    }

    pub fn intents(&self) -> &[Intent] {
        &self.intents
    }

    pub fn intent(&self, id: &str) -> Option<&Intent> {
        self.intents.iter().find(|i| i.id == id)
    }

    pub fn retriever(&self) -> &Retriever {
        &self.retriever
    }

    /// `language` if the knowledge base has it (`en-US` counts as `en`), else English.
    pub fn language_for(&self, language: &str) -> String {
        let base = language
            .split(['-', '_'])
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        if self.languages.contains(&base) {
            base
        } else {
            "en".to_string()
        }
    }
}

fn is_name(s: &str, extra: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || extra.contains(c))
}

fn validate(file: &IntentsFile) -> Vec<String> {
    let mut problems = Vec::new();
    if file.languages.is_empty() {
        problems.push("`languages` is empty".to_string());
    }
    if !file.languages.iter().any(|l| l == "en") {
        problems.push("`languages` must include `en` (the fallback)".to_string());
    }
    if file.intents.is_empty() {
        problems.push("no [[intent]]".to_string());
    }
    let mut ids = BTreeSet::new();
    // A phrase in two intents makes them tie on it: it says nothing about either.
    let mut owner: HashMap<(String, String), String> = HashMap::new();
    for (n, intent) in file.intents.iter().enumerate() {
        let name = if intent.id.is_empty() {
            format!("#{}", n + 1)
        } else {
            intent.id.clone()
        };
        let mut bad = |what: String| problems.push(format!("intent `{name}`: {what}"));
        if !is_name(&intent.id, "") {
            bad("`id` must be lower-case letters, digits and `_`".into());
        } else if !ids.insert(intent.id.clone()) {
            bad("duplicate `id`".into());
        }
        if !(intent.article.starts_with("https://") || intent.article.starts_with("http://")) {
            bad(format!(
                "`article` must be an http(s) link, got {:?}",
                intent.article
            ));
        }
        let mut names = BTreeSet::new();
        for d in &intent.data_to_check {
            if !is_name(d, ".") {
                bad(format!(
                    "`data_to_check` entry {d:?} must be a lower-case name such as `order_number`"
                ));
            } else if !names.insert(d) {
                bad(format!("`data_to_check` lists {d:?} twice"));
            }
        }
        if intent.ivr_intents.iter().any(|i| i.trim().is_empty()) {
            bad("`ivr_intents` has an empty entry".into());
        }
        let fields: [(&str, Vec<&String>); 4] = [
            ("title", intent.title.keys().collect()),
            ("script", intent.script.keys().collect()),
            ("next_steps", intent.next_steps.keys().collect()),
            ("phrases", intent.phrases.keys().collect()),
        ];
        for (field, langs) in fields {
            for l in langs.iter().filter(|l| !file.languages.contains(l)) {
                bad(format!("`{field}.{l}`: `{l}` is not in `languages`"));
            }
        }
        for lang in &file.languages {
            if intent.title.get(lang).is_none_or(|t| t.trim().is_empty()) {
                bad(format!("`title.{lang}` is missing or empty"));
            }
            if intent.script.get(lang).is_none_or(|t| t.trim().is_empty()) {
                bad(format!("`script.{lang}` is missing or empty"));
            }
            match intent.next_steps.get(lang) {
                Some(steps) if !steps.is_empty() && steps.iter().all(|s| !s.trim().is_empty()) => {}
                _ => bad(format!(
                    "`next_steps.{lang}` is missing, empty or has an empty step"
                )),
            }
            let phrases = intent.phrases.get(lang).map(Vec::as_slice).unwrap_or_default();
            if phrases.is_empty() {
                bad(format!("`phrases.{lang}` is missing or empty"));
            }
            for p in phrases {
                let norm = normalize(p);
                if tokens(&norm, JaTokens::default()).is_empty() {
                    bad(format!(
                        "phrase {p:?} has no searchable words (empty, or only stop words)"
                    ));
                } else if let Some(other) = owner.insert((lang.clone(), norm), name.clone()) {
                    if other == name {
                        bad(format!("phrase {p:?} appears twice"));
                    } else {
                        bad(format!("phrase {p:?} is also a phrase of intent `{other}`"));
                    }
                }
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_knowledge_loads_and_is_complete() {
        let kb = Knowledge::embedded().unwrap();
        assert!(kb.intents().len() >= 15, "{} intents", kb.intents().len());
        for intent in kb.intents() {
            for lang in ["en", "ja"] {
                let n = intent.phrases[lang].len();
                assert!(n >= 8, "intent {} has {n} {lang} phrases", intent.id);
            }
        }
        assert_eq!(kb.languages(), ["en", "ja"]);
        assert_eq!(kb.language_for("ja-JP"), "ja");
        assert_eq!(kb.language_for("fr"), "en");
        assert!(kb.intent("order_tracking").is_some());
    }

    fn with_intents(intents: &str) -> KnowledgeError {
        let src = format!("languages = [\"en\"]\n{intents}");
        Knowledge::parse(Sources {
            intents: &src,
            ..Sources::EMBEDDED
        })
        .unwrap_err()
    }

    const GOOD: &str = r#"
[[intent]]
id = "a"
title = { en = "A" }
script = { en = "Say A." }
next_steps = { en = ["Do A"] }
phrases = { en = ["where is my order"] }
article = "https://support.example.com/a"
"#;

    #[test]
    fn problems_name_the_intent_and_all_are_reported() {
        let bad = format!(
            "{GOOD}{}",
            r#"
[[intent]]
id = "a"
title = { en = "" }
script = { en = "Say B.", fr = "Dites B." }
next_steps = { en = [] }
phrases = { en = ["Where is my order?", "the", "refund"] }
article = "support.example.com/b"
data_to_check = ["Order Number"]
"#
        );
        let err = with_intents(&bad);
        assert_eq!(err.file, "intents.toml");
        let all = err.problems.join("\n");
        for expected in [
            "intent `a`: duplicate `id`",
            "intent `a`: `article` must be an http(s) link",
            "`data_to_check` entry \"Order Number\"",
            "`script.fr`: `fr` is not in `languages`",
            "`title.en` is missing or empty",
            "`next_steps.en` is missing, empty",
            "phrase \"the\" has no searchable words",
            "phrase \"Where is my order?\" appears twice",
        ] {
            assert!(all.contains(expected), "missing {expected:?} in:\n{all}");
        }
    }

    #[test]
    fn syntax_errors_and_unknown_fields_are_clear() {
        let err = with_intents("[[intent]]\nid = \"a\"\ncolour = 1\n");
        assert!(err.to_string().contains("colour"), "{err}");
        let err = with_intents("[[intent]\n");
        assert!(err.to_string().starts_with("intents.toml: "), "{err}");
        assert!(with_intents("").problems.contains(&"no [[intent]]".to_string()));
    }

    #[test]
    fn a_directory_replaces_the_embedded_files_and_a_missing_one_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let src = Sources::EMBEDDED;
        let files = [
            (INTENTS_FILE, format!("languages = [\"en\"]\n{GOOD}")),
            (ALERTS_FILE, src.alerts.to_string()),
            (SENTIMENT_FILE, src.sentiment.to_string()),
        ];
        for (name, text) in &files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        let err = Knowledge::load_dir(dir.path()).unwrap_err();
        assert!(err.file.ends_with("summary.toml"), "{err}");
        std::fs::write(dir.path().join(SUMMARY_FILE), src.summary).unwrap();
        let kb = Knowledge::load_dir(dir.path()).unwrap();
        assert_eq!(kb.intents().len(), 1);
    }
}
