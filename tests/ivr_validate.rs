//! `koe ivr validate` end to end: the real binary on the flows in tests/ivr/, with the default
//! configuration but for its TTS voices (en and ja, and a French one whose program is not installed)
//! and a data directory holding two uploaded prompts.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/ivr");

/// A configuration directory and the data directory it names, whose prompts/ holds `welcome_ja.wav`
/// and `hold_music.wav` (and a file that is not a WAV, which is not a prompt).
fn installation() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let prompts = dir.path().join("data/prompts");
    std::fs::create_dir_all(&prompts).unwrap();
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    for name in ["welcome_ja", "hold_music"] {
        let mut wav = hound::WavWriter::create(prompts.join(format!("{name}.wav")), spec).unwrap();
        (0..800).for_each(|_| wav.write_sample(0i16).unwrap());
        wav.finalize().unwrap();
    }
    std::fs::write(prompts.join("welcome_en.txt"), "not a recording").unwrap();
    let mut config: toml::Table = toml::from_str(koe::config::EMBEDDED).unwrap();
    config["data"]["dir"] = dir.path().join("data").to_str().unwrap().into();
    // Voices whose program exists everywhere: validation asks only which languages have a working
    // voice (each is probed), it renders nothing.
    let voices: toml::Table = toml::from_str(
        r#"
        en = "sh -c : {text} {out}"
        ja = "sh -c : {text} {out}"
        fr = "no-such-tts-engine {text} {out}"
        "#,
    )
    .unwrap();
    config["tts"]["voices"] = voices.into();
    std::fs::write(dir.path().join("koe.toml"), toml::to_string(&config).unwrap()).unwrap();
    dir
}

fn koe_validate(file: &Path, extra: &[&str]) -> Output {
    let installation = installation();
    let mut command = Command::new(env!("CARGO_BIN_EXE_koe"));
    // The configuration is the file's, whatever the environment of the test run says.
    for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("KOE_")) {
        command.env_remove(name);
    }
    command
        .arg("--config")
        .arg(installation.path().join("koe.toml"))
        .args(["ivr", "validate"])
        .arg(file)
        .args(extra)
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    command.output().expect("koe runs")
}

fn fixture(name: &str) -> PathBuf {
    Path::new(FIXTURES).join(name)
}

/// The fixture is invalid: exit 1, and stdout is exactly `lines` (one per problem, in order).
#[track_caller]
fn rejects(name: &str, lines: &[&str]) {
    let out = koe_validate(&fixture(name), &[]);
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{name}: {stdout}{stderr}");
    let got: Vec<&str> = stdout.lines().collect();
    assert_eq!(got, lines, "{name}; stderr: {stderr}");
    assert!(
        stderr.contains(&format!("{} problem(s)", lines.len())),
        "{stderr}"
    );
}

#[test]
fn the_valid_flow_passes() {
    let out = koe_validate(&fixture("valid.json"), &[]);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout,
        format!("{}: valid (14 nodes)\n", fixture("valid.json").display())
    );
}

#[test]
fn the_demo_flow_passes() {
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("sip-config/ivr/support.json");
    let out = koe_validate(&demo, &[]);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.ends_with("support.json: valid (16 nodes)\n"), "{stdout}");
}

#[test]
fn schema_errors_in_every_node() {
    rejects(
        "schema.json",
        &[
            "agent: nodes.agent.prompt.en: a prompt is a text, or {\"wav\": \"name\"} for an uploaded recording",
            "main: nodes.main.options[1].key: invalid value: string \"12\", expected a character",
            "main: nodes.main.timeout_s: invalid type: string \"five\", expected u32",
            "wait: nodes.wait.type: unknown node type \"hold\" (one of play, menu, collect, branch, set, lookup, \
             queue, voicemail, transfer, language, hangup)",
            "welcome: nodes.welcome.volume: unknown field \"volume\" (expected one of prompt, barge_in, all_languages, next)",
        ],
    );
}

#[test]
fn dangling_reference() {
    rejects(
        "dangling.json",
        &["main: nodes.main.options[1].next: option 2 leads to \"billing2\", which is not a node"],
    );
}

#[test]
fn unreachable_node() {
    rejects(
        "unreachable.json",
        &["old_promo: nodes.old_promo: no path from the start (\"welcome\") reaches this node"],
    );
}

#[test]
fn path_with_no_end() {
    rejects(
        "no_end.json",
        &[
            "again: nodes.again: the loop of \"again\" and \"thanks\" has no way out: no path from it reaches \
             a queue, voicemail, transfer or hangup",
            "hours: nodes.hours: no path from this node reaches a queue, voicemail, transfer or hangup",
        ],
    );
}

#[test]
fn loop_with_no_way_out() {
    rejects(
        "loop.json",
        &[
            // The menu has the agent key off and fails over to the loop, so nothing reaches the agent.
            "agent: nodes.agent: no path from the start (\"ask\") reaches this node",
            "ask: nodes.ask: the loop of \"ask\" and \"sorry\" has no way out: no path from it reaches a queue, \
             voicemail, transfer or hangup",
        ],
    );
}

#[test]
fn menu_keys() {
    rejects(
        "menu.json",
        &[
            "main: nodes.main.options[1].key: key 1 is also the key of options[0]",
            "main: nodes.main.options[2].key: key 0 is the flow's agent key, which this menu also listens for: \
             choose another key, or set \"agent\": false on the menu",
            "main: nodes.main.options[3]: the option has neither a key nor phrases, so no caller can choose it",
        ],
    );
}

#[test]
fn missing_prompts() {
    rejects(
        "prompts.json",
        &[
            "agent: nodes.agent.prompt.ja: the \"ja\" text is empty",
            "goodbye: nodes.goodbye.prompt: the prompt has no \"ja\" version (every prompt covers the flow's \
             languages: en, ja)",
            "goodbye: nodes.goodbye: no path from the start (\"welcome\") reaches this node",
            // welcome_en.txt in the prompts directory is not a WAV prompt.
            "welcome: nodes.welcome.prompt.en: there is no uploaded prompt named \"welcome_en\"",
        ],
    );
}

#[test]
fn languages_without_a_voice() {
    rejects(
        "languages.json",
        &[
            "german: nodes.german.language: the node switches to \"de\", which is not one of the flow's \
             languages (en, fr)",
            "welcome: nodes.welcome.prompt.fr: there is no TTS voice for \"fr\" (voices: en, ja), so this text \
             cannot be spoken: configure a voice, or upload a recording and use {\"wav\": \"name\"}",
        ],
    );
}

#[test]
fn settings_that_cannot_work() {
    rejects(
        "settings.json",
        &[
            "(flow): schedules.office.timezone: unknown time zone \"Asia/Tokio\": use an IANA name such as \
             Asia/Tokyo or Europe/London",
            "(flow): schedules.office.hours.friday: unknown day \"friday\" (use mon, tue, wed, thu, fri, sat, \
             sun)",
            "(flow): schedules.office.hours.mon[0]: interval \"9-18\" is not HH:MM-HH:MM with the start before \
             the end",
            "(flow): schedules.office.holidays[0]: holiday \"2025-13-01\" is not a date YYYY-MM-DD",
            "account: nodes.account.var: \"Account-Number\" is not a variable name: use lower-case letters, \
             digits and _, not starting with a digit",
            "account: nodes.account.min_digits: min_digits (8) is more than max_digits (6)",
            "account: nodes.account.terminator: \"A\" is not a phone key (0-9, * or #): the terminator is * or #",
            "account: nodes.account.pattern: the pattern is not a valid regular expression: unclosed character \
             class",
            "account: nodes.account.timeout_s: timeout_s is 0: the caller would have no time to answer",
            "agent: nodes.agent.queue: the queue name is empty",
            "desk: nodes.desk.target: \"desk@pbx.example.com\" is not a SIP URI: it starts with sip: or sips: \
             (sip:desk@pbx.example.com)",
            "find: nodes.find.url: \"https://crm.example.com/{account}\" is not an http:// URL",
            "find: nodes.find.timeout_ms: timeout_ms is 45000: it must be between 1 and 30000 (30 s)",
            "hours: nodes.hours.cases[0].when.open: there is no schedule named \"shop\" (the flow has \
             \"office\")",
            "hours: nodes.hours.cases[1].when.matches.pattern: the pattern is not a valid regular expression: \
             unclosed group",
            "tag: nodes.tag.vars.Topic: \"Topic\" is not a variable name: use lower-case letters, digits and _, \
             not starting with a digit",
        ],
    );
}

#[test]
fn several_problems_are_all_listed() {
    rejects(
        "several.json",
        &[
            "agent: nodes.agent.prompt.fr: \"fr\" is not one of the flow's languages (en)",
            "box: nodes.box.max_s: max_s is 0: the caller could not leave a message",
            "box: nodes.box.prompt.en: the \"en\" text is empty",
            "box: nodes.box: no path from the start (\"welcome\") reaches this node",
            "forgotten: nodes.forgotten: no path from the start (\"welcome\") reaches this node",
            "main: nodes.main.options[1].key: key 1 is also the key of options[0]",
            "main: nodes.main.options[0].next: option 1 leads to \"billing2\", which is not a node",
            "welcome: nodes.welcome.prompt.en: there is no uploaded prompt named \"no_such_recording\"",
        ],
    );
}

#[test]
fn json_output() {
    let out = koe_validate(&fixture("settings.json"), &["--json"]);
    assert_eq!(out.status.code(), Some(1));
    let issues: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    let issues = issues.as_array().unwrap();
    assert_eq!(issues.len(), 16);
    assert_eq!(
        issues[0],
        serde_json::json!({
            "node": null,
            "path": "schedules.office.timezone",
            "message": "unknown time zone \"Asia/Tokio\": use an IANA name such as Asia/Tokyo or Europe/London"
        })
    );
    assert!(issues.contains(&serde_json::json!({
        "node": "agent", "path": "nodes.agent.queue", "message": "the queue name is empty"
    })));
    let out = koe_validate(&fixture("valid.json"), &["--json"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8(out.stdout).unwrap().trim(), "[]");
}

#[test]
fn a_file_that_is_not_json() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("broken.json");
    std::fs::write(&file, "{\n  \"id\": \"broken\",\n  start: \"welcome\"\n}\n").unwrap();
    let out = koe_validate(&file, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("broken.json is not JSON: key must be a string at line 3 column 3"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
    let out = koe_validate(&dir.path().join("absent.json"), &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read"));
}

#[test]
fn every_fixture_is_tested() {
    let tested = [
        "valid.json",
        "schema.json",
        "dangling.json",
        "unreachable.json",
        "no_end.json",
        "loop.json",
        "menu.json",
        "prompts.json",
        "languages.json",
        "settings.json",
        "several.json",
    ];
    for entry in std::fs::read_dir(FIXTURES).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(tested.contains(&name.as_str()), "tests/ivr/{name} has no test");
    }
}
