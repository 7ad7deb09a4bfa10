//! Rules about what callers hear and say: every prompt in every language of the flow, texts that a TTS
//! voice can speak, uploaded recordings that exist, and languages the flow lists.

use super::{Context, Issue, NodeIssues};
use crate::ivr::flow::{Flow, Node, Prompt, PromptSource};

/// The flow's own languages: at least one, none twice, and agent phrases only in them.
pub(super) fn flow_languages(flow: &Flow) -> Vec<Issue> {
    let mut issues = Vec::new();
    if flow.languages.is_empty() {
        issues.push(Issue::flow("languages", "the flow lists no language"));
    }
    for (i, language) in flow.languages.iter().enumerate() {
        if flow.languages[..i].contains(language) {
            issues.push(Issue::flow(
                format!("languages[{i}]"),
                format!("\"{language}\" is listed twice"),
            ));
        }
    }
    for language in flow.agent_phrases.keys() {
        if !flow.languages.contains(language) {
            issues.push(Issue::flow(
                format!("agent_phrases.{language}"),
                not_listed(flow, language),
            ));
        }
    }
    issues
}

pub(super) fn check(flow: &Flow, ctx: &Context, node: &Node, found: &mut NodeIssues) {
    for (slot, prompt) in node.prompts() {
        self::prompt(flow, ctx, slot, prompt, found);
    }
    match node {
        Node::Menu(m) => {
            for (i, option) in m.options.iter().enumerate() {
                for language in option.phrases.keys() {
                    if !flow.languages.contains(language) {
                        found.add(
                            &format!("options[{i}].phrases.{language}"),
                            not_listed(flow, language),
                        );
                    }
                }
            }
        }
        Node::Language { language, .. } if !flow.languages.contains(language) => {
            let message = format!(
                "the node switches to \"{language}\", which is not one of the flow's languages ({})",
                flow.languages.join(", ")
            );
            found.add("language", message);
        }
        _ => {}
    }
}

fn prompt(flow: &Flow, ctx: &Context, slot: &str, prompt: &Prompt, found: &mut NodeIssues) {
    for language in &flow.languages {
        if !prompt.contains_key(language) {
            let message = format!(
                "the prompt has no \"{language}\" version (every prompt covers the flow's languages: {})",
                flow.languages.join(", ")
            );
            found.add(slot, message);
        }
    }
    for (language, source) in prompt {
        let at = format!("{slot}.{language}");
        let listed = flow.languages.contains(language);
        if !listed {
            found.add(&at, not_listed(flow, language));
        }
        match source {
            PromptSource::Text(text) if text.trim().is_empty() => {
                found.add(&at, format!("the \"{language}\" text is empty"));
            }
            // A voice for a language the flow does not speak is beside the point.
            PromptSource::Text(_) if listed && !ctx.tts_languages.contains(language) => {
                let voices: Vec<&str> = ctx.tts_languages.iter().map(String::as_str).collect();
                let voices = if voices.is_empty() {
                    "none".to_string()
                } else {
                    voices.join(", ")
                };
                let message = format!(
                    "there is no TTS voice for \"{language}\" (voices: {voices}), so this text cannot be \
                     spoken: configure a voice, or upload a recording and use {{\"wav\": \"name\"}}"
                );
                found.add(&at, message);
            }
            PromptSource::Wav { wav } if !ctx.wav_prompts.contains(wav) => {
                found.add(&at, format!("there is no uploaded prompt named \"{wav}\""));
            }
            PromptSource::Text(_) | PromptSource::Wav { .. } => {}
        }
    }
}

fn not_listed(flow: &Flow, language: &str) -> String {
    format!(
        "\"{language}\" is not one of the flow's languages ({})",
        flow.languages.join(", ")
    )
}
