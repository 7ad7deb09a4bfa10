//! A real softphone registers to a real `koe serve` with digest authentication (RFC 2617, qop=auth,
//! MD5): baresip with its agent's password gets 200 OK and the agent shows as registered; with a wrong
//! password, or as a user koe does not know, it gets 403 and nothing is bound; quitting unregisters
//! (REGISTER with Expires: 0).

mod common;

use common::*;
use serde_json::json;
use std::time::Duration;

const ADMIN_PW: &str = "admin-password-1";
const WAIT: Duration = Duration::from_secs(10);

fn registered(koe: &Koe, admin: &str, id: &str) -> bool {
    let agents = koe.api("GET", "/api/agents", Some(admin), None).json();
    agents
        .as_array()
        .expect("a list of agents")
        .iter()
        .any(|a| a["id"] == id && a["registered"] == true)
}

/// koe's log lines about registrations of `user`.
fn registrations(koe: &Koe, user: &str) -> Vec<String> {
    koe.log_text()
        .lines()
        .filter(|l| l.contains("koe::sip::core: registration ") && l.contains(&format!("user={user} ")))
        .map(str::to_string)
        .collect()
}

#[test]
fn baresip_registers_with_the_right_password_only() {
    let koe = Koe::start(&[
        ("KOE_ADMIN_BOOTSTRAP_PASSWORD", ADMIN_PW),
        ("KOE_ROUTING_AGENTS", ""),
    ]);
    let admin = koe.sign_in("admin", ADMIN_PW);
    for id in ["agent1", "agent2"] {
        let body = json!({"id": id, "name": id, "password": format!("{id}-secret-pw")});
        let r = koe.api("POST", "/api/agents", Some(&admin), Some(&body));
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let audio = repo_path("sip-config/prompts/welcome.wav");

    let mut good = Baresip::agent(&audio, koe.sip_addr(), "agent1", "agent1-secret-pw", false);
    good.wait_output("200 OK", WAIT);
    wait_for(WAIT, "agent1 registered", || {
        registered(&koe, &admin, "agent1").then_some(())
    });
    let bound = registrations(&koe, "agent1");
    assert_eq!(bound.len(), 1, "{bound:?}");
    let source = format!("source=127.0.0.1:{} ", good.port);
    assert!(
        bound[0].contains(&source),
        "bound to where baresip sent from: {}",
        bound[0]
    );
    assert!(bound[0].contains("expires_s=600"), "{}", bound[0]);

    let wrong = Baresip::agent(&audio, koe.sip_addr(), "agent2", "not-the-password", false);
    wrong.wait_output("403 Forbidden", WAIT);
    let ghost = Baresip::agent(&audio, koe.sip_addr(), "ghost", "agent1-secret-pw", false);
    ghost.wait_output("403 Forbidden", WAIT);
    assert!(!registered(&koe, &admin, "agent2"));
    assert!(registrations(&koe, "agent2").is_empty());
    assert!(registrations(&koe, "ghost").is_empty());
    assert!(
        !wrong.output().contains("200 OK") && !ghost.output().contains("200 OK"),
        "refused phones never saw a 200"
    );

    // baresip unregisters on quit: the binding goes at once, not at its expiry.
    good.quit();
    wait_for(WAIT, "agent1 unregistered", || {
        (!registered(&koe, &admin, "agent1")).then_some(())
    });
    let log = registrations(&koe, "agent1");
    assert!(log.last().is_some_and(|l| l.contains("expires_s=0")), "{log:?}");
}
