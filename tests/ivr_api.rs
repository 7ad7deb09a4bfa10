//! The IVR API and sign-in through the real binary over HTTP: the first admin account, roles, cookie and
//! bearer sessions, expiry, `koe users add`, body limits, and flows published, refused, rolled back and
//! diffed, kept across a restart, with the initial flow from `ivr.flow`.

mod common;

use common::*;
use serde_json::{Value, json};
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

const PASSWORD: &str = "correct horse battery";

/// The message the first start logs with a generated password.
const BOOTSTRAP_LOG: &str = "first start: created user admin with password ";

/// Signs in; the whole reply.
fn login(koe: &Koe, user: &str, password: &str) -> HttpResponse {
    koe.api(
        "POST",
        "/api/login",
        None,
        Some(&json!({"user": user, "password": password})),
    )
}

fn error(r: &HttpResponse) -> String {
    r.json()["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error in {}", r.body))
        .to_string()
}

fn start_with_password() -> Koe {
    Koe::start(&[("KOE_ADMIN_BOOTSTRAP_PASSWORD", PASSWORD)])
}

#[test]
fn sign_in_roles_cookie_bearer_and_logout() {
    let koe = start_with_password();

    let anonymous = koe.api("GET", "/api/ivr/flows", None, None);
    assert_eq!(anonymous.status, 401, "{}", anonymous.body);
    assert_eq!(error(&anonymous), "sign-in required");
    assert_eq!(anonymous.header("www-authenticate"), Some("Bearer"));
    let forged = koe.api("GET", "/api/ivr/flows", Some("not-a-token"), None);
    assert_eq!(forged.status, 401);

    // A wrong password and an unknown user get the same answer.
    let wrong = login(&koe, "admin", "wrong password");
    let unknown = login(&koe, "nobody", PASSWORD);
    assert_eq!((wrong.status, unknown.status), (401, 401));
    assert_eq!(error(&wrong), "wrong user name or password");
    assert_eq!(error(&wrong), error(&unknown));

    let ok = login(&koe, "admin", PASSWORD);
    assert_eq!(ok.status, 200, "{}", ok.body);
    let reply = ok.json();
    assert_eq!(
        (reply["user"].as_str(), reply["role"].as_str()),
        (Some("admin"), Some("admin"))
    );
    let bearer = reply["token"].as_str().unwrap().to_string();
    let expires = reply["expires_at_ms"].as_i64().unwrap();
    // session_hours = 12 by default.
    let hours = (expires - koe::store::now_ms()) as f64 / 3_600_000.0;
    assert!((11.9..=12.0).contains(&hours), "{hours} h");
    let cookie = ok.header("set-cookie").expect("a session cookie");
    assert!(
        cookie.starts_with(&format!("koe_session={bearer};"))
            && cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Strict")
            && cookie.contains("Path=/"),
        "{cookie}"
    );

    let flows = koe.api("GET", "/api/ivr/flows", Some(&bearer), None);
    assert_eq!((flows.status, flows.json()), (200, json!([])));
    let by_cookie = http_request(
        koe.http_addr(),
        "GET",
        "/api/me",
        &[("Cookie", &format!("theme=dark; koe_session={bearer}"))],
        &[],
    )
    .unwrap();
    assert_eq!(by_cookie.status, 200, "{}", by_cookie.body);
    assert_eq!(
        by_cookie.json(),
        json!({"user": "admin", "role": "admin", "expires_at_ms": expires})
    );

    // An agent account, made by the admin: signed in, but not allowed into the IVR API.
    let agent = json!({"name": "ann", "password": "agent password", "role": "agent"});
    let made = koe.api("POST", "/api/users", Some(&bearer), Some(&agent));
    assert_eq!(made.status, 201, "{}", made.body);
    assert_eq!(
        (made.json()["name"].as_str(), made.json()["role"].as_str()),
        (Some("ann"), Some("agent"))
    );
    let again = koe.api("POST", "/api/users", Some(&bearer), Some(&agent));
    assert_eq!(again.status, 409, "{}", again.body);
    let bad_role = json!({"name": "bob", "password": "long enough", "role": "root"});
    assert_eq!(
        koe.api("POST", "/api/users", Some(&bearer), Some(&bad_role))
            .status,
        400
    );
    let short = json!({"name": "bob", "password": "short", "role": "agent"});
    let short = koe.api("POST", "/api/users", Some(&bearer), Some(&short));
    assert_eq!(short.status, 400);
    assert!(error(&short).contains("at least 8"), "{}", short.body);

    let ann = koe.sign_in("ann", "agent password");
    let me = koe.api("GET", "/api/me", Some(&ann), None);
    assert_eq!(me.json()["role"], "agent");
    for (method, path) in [
        ("GET", "/api/ivr/flows"),
        ("GET", "/api/prompts"),
        ("POST", "/api/users"),
    ] {
        let r = koe.api(method, path, Some(&ann), Some(&agent));
        assert_eq!(r.status, 403, "{method} {path}: {}", r.body);
        assert!(error(&r).contains("admin role"), "{}", r.body);
    }

    // Logout ends the session (whichever way it was carried) and clears the cookie.
    let out = koe.api("POST", "/api/logout", Some(&bearer), None);
    assert_eq!(out.status, 204);
    assert!(out.header("set-cookie").unwrap().contains("Max-Age=0"));
    assert_eq!(koe.api("GET", "/api/me", Some(&bearer), None).status, 401);
    assert_eq!(koe.api("GET", "/api/me", Some(&ann), None).status, 200);
}

#[test]
fn expired_sessions_are_refused() {
    let koe = start_with_password();
    let fresh = koe.sign_in("admin", PASSWORD);
    // A session that ended a second ago, written where koe keeps them (koe only keeps token hashes, so
    // the test makes its own token).
    let stale = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = koe::store::Store::open(koe.data_dir()).await.unwrap();
        let now = koe::store::now_ms();
        store
            .add_session(
                &koe::web::auth::password::token_hash(stale),
                "admin",
                now - 1_000,
                now - 60_000,
            )
            .await
            .unwrap();
    });
    let r = koe.api("GET", "/api/me", Some(stale), None);
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(error(&r).contains("expired"), "{}", r.body);
    assert_eq!(koe.api("GET", "/api/me", Some(&fresh), None).status, 200);
}

#[test]
fn random_bootstrap_password_is_logged_once_and_works() {
    let mut koe = Koe::start(&[("KOE_ADMIN_BOOTSTRAP_PASSWORD", "")]);
    let log = koe.log_text();
    let line = log
        .lines()
        .find(|l| l.contains(BOOTSTRAP_LOG))
        .unwrap_or_else(|| panic!("no bootstrap line in:\n{log}"));
    assert!(line.contains("WARN"), "{line}");
    let rest = &line[line.find(BOOTSTRAP_LOG).unwrap() + BOOTSTRAP_LOG.len()..];
    let password = rest.split(',').next().unwrap();
    assert_eq!(password.len(), 20, "{line}");
    assert!(password.chars().all(|c| c.is_ascii_alphanumeric()), "{line}");
    assert!(rest.contains("change it"), "{line}");
    koe.sign_in("admin", password);

    // The next start finds the account and says nothing more about it.
    koe.stop_gracefully();
    koe.wait_exit(Duration::from_secs(15));
    koe.restart();
    assert_eq!(koe.log_text().matches(BOOTSTRAP_LOG).count(), 1);
    koe.sign_in("admin", password);
}

#[test]
fn users_add_reads_the_password_from_stdin() {
    let koe = start_with_password();
    let add = |name: &str, role: &str, password: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_koe"))
            .args(["users", "add", name, "--role", role])
            .current_dir(repo_path(""))
            .env("KOE_DATA_DIR", koe.data_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // koe may refuse the arguments and exit before it reads stdin: then the pipe is closed.
        let _ = writeln!(child.stdin.take().unwrap(), "{password}");
        child.wait_with_output().unwrap()
    };
    let out = add("sue", "supervisor", "supervisor pass");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("created user sue (supervisor)"));
    let sue = koe.sign_in("sue", "supervisor pass");
    assert_eq!(
        koe.api("GET", "/api/me", Some(&sue), None).json()["role"],
        "supervisor"
    );
    assert_eq!(koe.api("GET", "/api/ivr/flows", Some(&sue), None).status, 403);

    let taken = add("sue", "admin", "another pass");
    assert!(!taken.status.success());
    assert!(String::from_utf8_lossy(&taken.stderr).contains("already exists"));
    let bad = add("eve", "root", "whatever pass");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("expected admin, agent or supervisor"));
}

#[test]
fn bodies_over_the_limit_get_413() {
    let koe = start_with_password();
    let admin = koe.sign_in("admin", PASSWORD);
    let auth = format!("Bearer {admin}");
    let big = format!("{{\"id\": \"{}\"}}", "x".repeat(1 << 20));
    let r = http_request(
        koe.http_addr(),
        "POST",
        "/api/ivr/validate",
        &[("Authorization", &auth), ("Content-Type", "application/json")],
        big.as_bytes(),
    )
    .unwrap();
    assert_eq!(r.status, 413, "{}", r.body);
    assert_eq!(error(&r), "the request body is larger than 1 MiB");

    let wav = vec![0u8; 21 << 20];
    let r = http_request(
        koe.http_addr(),
        "PUT",
        "/api/prompts/huge",
        &[("Authorization", &auth), ("Content-Type", "audio/wav")],
        &wav,
    )
    .unwrap();
    assert_eq!(r.status, 413, "{}", r.body);
    assert_eq!(error(&r), "the request body is larger than 20 MiB");

    let not_json = http_request(
        koe.http_addr(),
        "POST",
        "/api/ivr/validate",
        &[("Authorization", &auth)],
        b"{nope",
    )
    .unwrap();
    assert_eq!(not_json.status, 400);
    assert!(error(&not_json).contains("invalid JSON"), "{}", not_json.body);
}

/// A small valid flow in English, spoken by espeak-ng.
fn flow(welcome: &str) -> Value {
    json!({
        "id": "support",
        "name": "Support line",
        "start": "welcome",
        "languages": ["en"],
        "agent_node": "agent",
        "nodes": {
            "welcome": {"type": "play", "prompt": {"en": welcome}, "next": "main"},
            "main": {
                "type": "menu",
                "prompt": {"en": "Press 1 for an agent, 2 to end the call."},
                "options": [{"key": "1", "next": "agent"}, {"key": "2", "next": "bye"}]
            },
            "agent": {"type": "queue", "queue": "support"},
            "bye": {"type": "hangup", "prompt": {"en": "Goodbye."}}
        }
    })
}

#[test]
fn publish_refuse_rollback_diff_and_restart() {
    let mut koe = start_with_password();
    let admin = koe.sign_in("admin", PASSWORD);
    let t = Some(admin.as_str());
    let publish = |koe: &Koe, body: Value| koe.api("POST", "/api/ivr/flows/support/publish", t, Some(&body));

    assert_eq!(koe.api("GET", "/api/ivr/flows/support", t, None).status, 404);
    let v1 = publish(&koe, json!({"flow": flow("Welcome to koe."), "comment": "first"}));
    assert_eq!(
        (v1.status, v1.json()),
        (201, json!({"version": 1})),
        "{}",
        v1.body
    );
    let v2 = publish(
        &koe,
        json!({"flow": flow("Thanks for calling koe."), "comment": "warmer"}),
    );
    assert_eq!(
        (v2.status, v2.json()),
        (201, json!({"version": 2})),
        "{}",
        v2.body
    );

    // Refused: a dangling reference. The issues say where; version 2 stays active.
    let mut broken = flow("Broken.");
    broken["nodes"]["main"]["options"][1]["next"] = json!("nowhere");
    let refused = publish(&koe, json!({"flow": broken, "comment": "oops"}));
    assert_eq!(refused.status, 422, "{}", refused.body);
    let body = refused.json();
    assert!(!error(&refused).is_empty());
    let issues = body["issues"].as_array().unwrap();
    assert!(
        issues
            .iter()
            .any(|i| i["node"] == "main" && i["message"].as_str().unwrap().contains("nowhere")),
        "{}",
        refused.body
    );
    // The flow's id must be the one in the URL.
    let mut other = flow("Other.");
    other["id"] = json!("sales");
    let wrong_id = publish(&koe, json!({"flow": other}));
    assert_eq!(wrong_id.status, 422, "{}", wrong_id.body);
    assert_eq!(wrong_id.json()["issues"][0]["path"], "id");

    let active = koe.api("GET", "/api/ivr/flows/support", t, None).json();
    assert_eq!(active["active_version"], 2);
    assert_eq!(active["flow"], flow("Thanks for calling koe."));

    // Validation alone stores nothing.
    let checked = koe
        .api("POST", "/api/ivr/validate", t, Some(&flow("Fine.")))
        .json();
    assert_eq!(checked, json!({"valid": true, "issues": []}));
    let mut bad = flow("x");
    bad["nodes"]["main"]["options"][1]["next"] = json!("nowhere");
    let checked = koe.api("POST", "/api/ivr/validate", t, Some(&bad)).json();
    assert_eq!(checked["valid"], false);
    assert!(!checked["issues"].as_array().unwrap().is_empty());

    // Rollback to 1 is version 3 with version 1's body.
    let rb = koe.api(
        "POST",
        "/api/ivr/flows/support/rollback",
        t,
        Some(&json!({"version": 1, "comment": "the old greeting tested better"})),
    );
    assert_eq!(
        (rb.status, rb.json()),
        (201, json!({"version": 3})),
        "{}",
        rb.body
    );
    let missing = koe.api(
        "POST",
        "/api/ivr/flows/support/rollback",
        t,
        Some(&json!({"version": 9})),
    );
    assert_eq!(missing.status, 404, "{}", missing.body);

    let check_history = |koe: &Koe| {
        let v3 = koe
            .api("GET", "/api/ivr/flows/support/versions/3", t, None)
            .json();
        assert_eq!(v3["flow"], flow("Welcome to koe."));
        assert_eq!(v3["author"], "admin");
        assert_eq!(
            v3["comment"],
            "rollback to version 1: the old greeting tested better"
        );
        let versions = koe.api("GET", "/api/ivr/flows/support/versions", t, None).json();
        let summary: Vec<(i64, bool, &str)> = versions
            .as_array()
            .unwrap()
            .iter()
            .map(|v| {
                (
                    v["version"].as_i64().unwrap(),
                    v["active"].as_bool().unwrap(),
                    v["comment"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                (3, true, "rollback to version 1: the old greeting tested better"),
                (2, false, "warmer"),
                (1, false, "first")
            ]
        );
        let flows = koe.api("GET", "/api/ivr/flows", t, None).json();
        assert_eq!(flows.as_array().unwrap().len(), 1, "{flows}");
        assert_eq!(
            (
                &flows[0]["id"],
                &flows[0]["name"],
                &flows[0]["active_version"],
                &flows[0]["versions"]
            ),
            (&json!("support"), &json!("Support line"), &json!(3), &json!(3))
        );
        assert!(flows[0]["updated_at_ms"].as_i64().unwrap() > 0);
    };
    check_history(&koe);

    let d = koe
        .api("GET", "/api/ivr/flows/support/diff?from=1&to=2", t, None)
        .json();
    assert_eq!(
        d,
        json!({"from": 1, "to": 2, "changes": [{
            "node": "welcome",
            "path": "nodes.welcome.prompt.en",
            "kind": "changed",
            "before": "Welcome to koe.",
            "after": "Thanks for calling koe."
        }]})
    );
    let same = koe
        .api("GET", "/api/ivr/flows/support/diff?from=1&to=3", t, None)
        .json();
    assert_eq!(same["changes"], json!([]));
    assert_eq!(
        koe.api("GET", "/api/ivr/flows/support/diff?from=1", t, None)
            .status,
        400
    );
    assert_eq!(
        koe.api("GET", "/api/ivr/flows/support/diff?from=1&to=7", t, None)
            .status,
        404
    );
    assert_eq!(
        koe.api("GET", "/api/ivr/flows/support/versions/x", t, None)
            .status,
        400
    );

    // A restart keeps every version and the active one; the session too.
    koe.stop_gracefully();
    koe.wait_exit(Duration::from_secs(15));
    koe.restart();
    check_history(&koe);
    assert!(koe.log_text().contains("active flow loaded from the database"));
}

#[test]
fn initial_flow_from_config_is_version_one() {
    let koe = Koe::start(&[
        ("KOE_IVR_FLOW", "ivr/support.json"),
        ("KOE_ADMIN_BOOTSTRAP_PASSWORD", PASSWORD),
    ]);
    let admin = koe.sign_in("admin", PASSWORD);
    let flows = koe.api("GET", "/api/ivr/flows", Some(&admin), None).json();
    let id = flows[0]["id"].as_str().expect("the initial flow").to_string();
    assert_eq!(flows[0]["active_version"], 1);
    let v1 = koe
        .api(
            "GET",
            &format!("/api/ivr/flows/{id}/versions/1"),
            Some(&admin),
            None,
        )
        .json();
    assert_eq!(v1["author"], "system");
    assert_eq!(v1["comment"], "initial flow from ivr/support.json");
    let on_disk: Value =
        serde_json::from_str(&std::fs::read_to_string(repo_path("sip-config/ivr/support.json")).unwrap())
            .unwrap();
    assert_eq!(v1["flow"], on_disk);
}

#[test]
fn an_invalid_initial_flow_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut broken = flow("Hello.");
    broken["start"] = json!("missing");
    std::fs::write(dir.path().join("broken.json"), broken.to_string()).unwrap();
    let log = dir.path().join("koe.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_koe"))
        .arg("serve")
        .current_dir(repo_path(""))
        .env("KOE_IVR_FLOW", dir.path().join("broken.json"))
        .env("KOE_DATA_DIR", dir.path().join("data"))
        .env("KOE_SIP_BIND", format!("127.0.0.1:{}", free_port()))
        .env("KOE_HTTP_BIND", format!("127.0.0.1:{}", free_port()))
        .env("KOE_ASR_ENABLED", "false")
        .env("KOE_ADMIN_BOOTSTRAP_PASSWORD", PASSWORD)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "koe started with an invalid flow:\n{}",
                std::fs::read_to_string(&log).unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(!status.success());
    let stderr = std::fs::read_to_string(&log).unwrap();
    assert!(
        stderr.contains("is not valid") && stderr.contains("missing"),
        "{stderr}"
    );
}

/// A WAV as a phone would never send it: 16 kHz stereo, half a second of a 440 Hz tone.
fn wideband_wav() -> Vec<u8> {
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 16_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut bytes = std::io::Cursor::new(Vec::new());
    let mut w = hound::WavWriter::new(&mut bytes, spec).unwrap();
    for n in 0..8_000 {
        let s = ((n as f32 * 440.0 * std::f32::consts::TAU / 16_000.0).sin() * 10_000.0) as i16;
        w.write_sample(s).unwrap();
        w.write_sample(s).unwrap();
    }
    w.finalize().unwrap();
    bytes.into_inner()
}

#[test]
fn prompts_upload_list_download_and_publish() {
    let koe = start_with_password();
    let admin = koe.sign_in("admin", PASSWORD);
    let auth = format!("Bearer {admin}");
    let put = |name: &str, body: &[u8]| {
        http_request(
            koe.http_addr(),
            "PUT",
            &format!("/api/prompts/{name}"),
            &[("Authorization", &auth), ("Content-Type", "audio/wav")],
            body,
        )
        .unwrap()
    };
    let r = put("greeting", &wideband_wav());
    assert_eq!(
        (r.status, r.json()),
        (201, json!({"name": "greeting"})),
        "{}",
        r.body
    );
    assert_eq!(
        koe.api("GET", "/api/prompts", Some(&admin), None).json(),
        json!(["greeting"])
    );

    let back = koe.api("GET", "/api/prompts/greeting", Some(&admin), None);
    assert_eq!(back.status, 200);
    assert_eq!(back.header("content-type"), Some("audio/wav"));
    let wav = hound::WavReader::new(std::io::Cursor::new(&back.bytes)).unwrap();
    assert_eq!((wav.spec().sample_rate, wav.spec().channels), (8_000, 1));
    let seconds = wav.duration() as f64 / 8_000.0;
    assert!((0.45..=0.55).contains(&seconds), "{seconds} s");

    assert_eq!(put("bad", b"RIFF not really").status, 400);
    assert_eq!(put("dots.in.name", &wideband_wav()).status, 400);
    assert_eq!(
        koe.api("GET", "/api/prompts/nope", Some(&admin), None).status,
        404
    );

    let mut f = flow("unused");
    f["nodes"]["welcome"]["prompt"]["en"] = json!({"wav": "greeting"});
    let r = koe.api(
        "POST",
        "/api/ivr/flows/support/publish",
        Some(&admin),
        Some(&json!({"flow": f})),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    f["nodes"]["welcome"]["prompt"]["en"] = json!({"wav": "missing"});
    let r = koe.api(
        "POST",
        "/api/ivr/flows/support/publish",
        Some(&admin),
        Some(&json!({"flow": f})),
    );
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.json()["issues"][0]["node"], "welcome", "{}", r.body);
}

/// A menu that waits long enough for a silent caller to stay in it for the whole call.
fn waiting_menu(prompt: &str) -> Value {
    json!({
        "id": "quick", "start": "menu", "languages": ["en"], "agent_node": "agent",
        "nodes": {
            "menu": {"type": "menu", "prompt": {"en": prompt}, "timeout_s": 30, "retries": 0,
                "options": [{"key": "1", "next": "agent"}]},
            "agent": {"type": "queue", "queue": "general"}
        }
    })
}

/// The call in progress keeps the version it started with; the next call, placed as soon as the
/// publish answers, gets the new one. No restart in between.
#[test]
fn a_publish_reaches_the_next_call_and_spares_the_current_one() {
    std::fs::create_dir_all(repo_path("tests/.cache")).unwrap();
    let koe = start_with_password();
    let admin = koe.sign_in("admin", PASSWORD);
    let publish = |flow: Value| {
        let r = koe.api(
            "POST",
            "/api/ivr/flows/quick/publish",
            Some(&admin),
            Some(&json!({"flow": flow})),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        r.json()["version"].as_i64().unwrap()
    };
    assert_eq!(publish(waiting_menu("Press 1 for sales.")), 1);

    let first = Sipp::new("ivr_silent.xml", koe.sip_addr()).timeout(40).spawn();
    let first_id = wait_for(Duration::from_secs(10), "the first call to be answered", || {
        koe.calls()
            .into_iter()
            .find(|c| c.status == koe::store::CallStatus::Answered)
            .map(|c| c.id)
    });
    assert_eq!(publish(waiting_menu("Press 1 for our new sales team.")), 2);
    let second = Sipp::new("ivr_silent.xml", koe.sip_addr()).timeout(40).spawn();

    second.wait().assert_success();
    first.wait().assert_success();
    let records = wait_for(Duration::from_secs(10), "both calls to be closed", || {
        let calls = koe.calls();
        (calls.len() == 2 && calls.iter().all(|c| c.status == koe::store::CallStatus::Ended)).then_some(calls)
    });
    let version_of = |id: &str| {
        let record = records.iter().find(|c| c.id == id).unwrap();
        let ivr = record
            .ivr
            .as_ref()
            .unwrap_or_else(|| panic!("no IVR record: {record:#?}"));
        (ivr.flow_id.clone(), ivr.version)
    };
    let second_id = records.iter().find(|c| c.id != first_id).unwrap().id.clone();
    assert_eq!(version_of(&first_id), ("quick".to_string(), 1));
    assert_eq!(version_of(&second_id), ("quick".to_string(), 2));
}
