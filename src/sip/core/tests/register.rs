//! The registrar: digest challenge and response (the digest computed here, apart from koe's code),
//! wrong passwords, stale nonces, replays, expiry limits, expiry in virtual time, removal.

use super::*;
use crate::sip::registrar::Account;

pub(super) const PHONE: &str = "127.0.0.1:5062";

fn md5_hex(s: &str) -> String {
    use md5::Digest as _;
    md5::Md5::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A `name="value"` parameter of a challenge.
fn quoted_param(header: &str, name: &str) -> String {
    let key = format!("{name}=\"");
    let start = header.find(&key).map(|i| i + key.len()).expect(name);
    header[start..].split('"').next().unwrap().to_string()
}

/// The Authorization a phone sends for `challenge` (RFC 2617 §3.2.2, qop=auth, MD5).
fn authorization(challenge: &str, user: &str, password: &str, uri: &str, nc: u32) -> String {
    let (realm, nonce) = (quoted_param(challenge, "realm"), quoted_param(challenge, "nonce"));
    let cnonce = "0a4f113b";
    let ha1 = md5_hex(&format!("{user}:{realm}:{password}"));
    let ha2 = md5_hex(&format!("REGISTER:{uri}"));
    let nc = format!("{nc:08x}");
    let response = md5_hex(&format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}"));
    format!(
        "Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", \
         response=\"{response}\", cnonce=\"{cnonce}\", qop=auth, nc={nc}, algorithm=MD5"
    )
}

/// Every WWW-Authenticate header (their values have commas: not a list to split).
fn challenges(r: &Message) -> Vec<String> {
    r.headers
        .iter()
        .filter(|(n, _)| n == "WWW-Authenticate")
        .map(|(_, v)| v.clone())
        .collect()
}

pub(super) fn accounts() -> Vec<Account> {
    vec![
        Account {
            user: "agent1".into(),
            password: "secret".into(),
        },
        Account {
            user: "agent2".into(),
            password: "pw2".into(),
        },
    ]
}

/// A SIP phone registering to koe from `addr`, as baresip does: one Call-ID, CSeq counting up, the
/// last challenge's nonce reused with the nonce-count counting up.
pub(super) struct Phone {
    pub user: &'static str,
    pub password: &'static str,
    pub addr: SocketAddr,
    call_id: String,
    cseq: u32,
    pub challenge: Option<String>,
    pub nc: u32,
}

pub(super) const REGISTRAR_URI: &str = "sip:127.0.0.1:5060";

impl Phone {
    pub fn new(user: &'static str, password: &'static str, addr: &str) -> Phone {
        Phone {
            user,
            password,
            addr: addr.parse().unwrap(),
            call_id: format!("reg-{user}-{addr}"),
            cseq: 0,
            challenge: None,
            nc: 0,
        }
    }

    pub fn peer(&self) -> Peer {
        Peer {
            transport: Transport::Udp,
            addr: self.addr,
        }
    }

    pub fn contact(&self) -> String {
        format!("sip:{}@{}", self.user, self.addr)
    }

    /// The next REGISTER, with credentials for the last challenge if there was one.
    pub fn request(&mut self, contact: &str, expires: Option<u32>) -> Message {
        // Every request a new transaction, across phones too (else koe answers from its cache).
        static BRANCH: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let branch = BRANCH.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.cseq += 1;
        let (user, addr, cseq) = (self.user, self.addr, self.cseq);
        let mut raw = format!(
            "REGISTER {REGISTRAR_URI} SIP/2.0\r\nVia: SIP/2.0/UDP {addr};branch=z9hG4bKr{branch}\r\n\
From: <sip:{user}@127.0.0.1>;tag=p{user}\r\nTo: <sip:{user}@127.0.0.1>\r\nCall-ID: {}\r\n\
CSeq: {cseq} REGISTER\r\nMax-Forwards: 70\r\n",
            self.call_id
        );
        if !contact.is_empty() {
            raw.push_str(&format!("Contact: {contact}\r\n"));
        }
        if let Some(e) = expires {
            raw.push_str(&format!("Expires: {e}\r\n"));
        }
        if let Some(challenge) = &self.challenge {
            self.nc += 1;
            let auth = authorization(challenge, user, self.password, REGISTRAR_URI, self.nc);
            raw.push_str(&format!("Authorization: {auth}\r\n"));
        }
        raw.push_str("Content-Length: 0\r\n\r\n");
        Message::parse(raw.as_bytes()).unwrap()
    }

    /// Sends one REGISTER; a 401's challenge is kept for the next.
    pub fn send(&mut self, h: &mut Harness, contact: &str, expires: Option<u32>) -> Vec<Output> {
        let req = self.request(contact, expires);
        let out = h.input_from(req, self.peer());
        if let Some(r) = sent(&out).iter().find(|m| m.status() == Some(401)) {
            self.challenge = r.header("WWW-Authenticate").map(str::to_string);
            self.nc = 0;
        }
        out
    }

    /// Registers its contact for `expires` seconds, answering a challenge if one comes; the 200's outputs.
    pub fn register(&mut self, h: &mut Harness, expires: u32) -> Vec<Output> {
        let contact = format!("<{}>", self.contact());
        let out = self.send(h, &contact, Some(expires));
        if codes(&out) != vec![401] {
            return out;
        }
        self.send(h, &contact, Some(expires))
    }
}

fn registered_harness() -> Harness {
    let mut h = Harness::new();
    h.core.set_accounts(accounts());
    h
}

fn registration(out: &[Output]) -> Vec<(String, String, u32)> {
    events(out)
        .into_iter()
        .filter_map(|e| match e {
            CallEvent::Registration {
                user,
                contact,
                expires_s,
                ..
            } => Some((user, contact, expires_s)),
            _ => None,
        })
        .collect()
}

#[test]
fn challenge_then_credentials_register_the_phone() {
    let mut h = registered_harness();
    let mut phone = Phone::new("agent1", "secret", PHONE);
    let out = phone.send(&mut h, &format!("<{}>", phone.contact()), Some(120));
    let challenge = sent(&out).remove(0);
    assert_eq!(challenge.status(), Some(401));
    let www = challenge.header("WWW-Authenticate").unwrap();
    assert!(www.starts_with("Digest realm=\"koe\", nonce=\""), "{www}");
    assert!(
        www.contains("qop=\"auth\"") && www.contains("algorithm=MD5"),
        "{www}"
    );
    assert!(!www.contains("stale"), "{www}");
    assert_eq!(challenges(&challenge).len(), 1, "MD5 only by default");
    assert!(registration(&out).is_empty());

    let out = phone.send(&mut h, &format!("<{}>", phone.contact()), Some(120));
    let ok = sent(&out).remove(0);
    assert_eq!(ok.status(), Some(200));
    assert_eq!(
        ok.header("Contact"),
        Some("<sip:agent1@127.0.0.1:5062>;expires=120")
    );
    assert_eq!(
        events(&out),
        vec![CallEvent::Registration {
            user: "agent1".into(),
            contact: phone.contact(),
            source: phone.peer(),
            expires_s: 120
        }]
    );
    let b = h.core.binding("agent1").expect("bound");
    assert_eq!((b.source, b.local_sip), (phone.peer(), local()));
    assert_eq!(b.aor, "sip:agent1@127.0.0.1");

    // The refresh reuses the nonce with the next nonce-count, as phones do: no new challenge.
    h.advance(Duration::from_secs(60));
    let out = phone.send(&mut h, &format!("<{}>", phone.contact()), Some(120));
    assert_eq!(codes(&out), vec![200]);
    assert_eq!(phone.nc, 2);
    assert_eq!(registration(&out), vec![("agent1".into(), phone.contact(), 120)]);
}

#[test]
fn wrong_password_and_unknown_user_are_forbidden() {
    let mut h = registered_harness();
    let mut wrong = Phone::new("agent1", "guess", PHONE);
    let out = wrong.register(&mut h, 120);
    assert_eq!(codes(&out), vec![403]);
    assert!(registration(&out).is_empty());
    assert!(h.core.binding("agent1").is_none());

    let mut stranger = Phone::new("mallory", "secret", "127.0.0.1:5070");
    assert_eq!(codes(&stranger.register(&mut h, 120)), vec![403]);

    // agent2's right password does not register agent1's address.
    let mut agent2 = Phone::new("agent2", "pw2", PHONE);
    agent2.send(&mut h, "", None);
    let mut req = agent2.request("<sip:agent1@127.0.0.1:5062>", Some(120));
    req.set_header("To", "<sip:agent1@127.0.0.1>");
    assert_eq!(codes(&h.input_from(req, agent2.peer())), vec![403]);
    assert!(h.core.binding("agent1").is_none());
}

#[test]
fn stale_nonce_is_rechallenged_and_replays_refused() {
    let mut h = registered_harness();
    let mut phone = Phone::new("agent1", "secret", PHONE);
    assert_eq!(codes(&phone.register(&mut h, 3600)), vec![200]);

    // The same request again (a replay: same nonce-count, new branch) is not accepted.
    phone.nc -= 1;
    phone.cseq += 1;
    let out = phone.send(&mut h, &format!("<{}>", phone.contact()), Some(3600));
    let r = sent(&out).remove(0);
    assert_eq!(r.status(), Some(401));
    assert!(r.header("WWW-Authenticate").unwrap().contains("stale=true"));

    // After the nonce's lifetime, the right password on the old nonce gets stale=true and a new nonce.
    let old = phone.challenge.clone();
    assert_eq!(codes(&phone.register(&mut h, 3600)), vec![200]);
    h.advance(crate::sip::registrar::NONCE_LIFETIME + Duration::from_secs(1));
    let out = phone.send(&mut h, &format!("<{}>", phone.contact()), Some(3600));
    let r = sent(&out).remove(0);
    assert_eq!(r.status(), Some(401));
    let www = r.header("WWW-Authenticate").unwrap();
    assert!(www.contains("stale=true"), "{www}");
    assert_ne!(Some(www), old.as_deref());
    assert_eq!(
        codes(&phone.send(&mut h, &format!("<{}>", phone.contact()), Some(3600))),
        vec![200]
    );

    // A nonce koe never issued (another process's, or forged) with a wrong password: a plain challenge.
    let mut forged = Phone::new("agent1", "guess", PHONE);
    forged.challenge = Some("Digest realm=\"koe\", nonce=\"5-1.0123456789abcdef\"".into());
    let out = forged.send(&mut h, &format!("<{}>", forged.contact()), Some(3600));
    let r = sent(&out).remove(0);
    assert_eq!(r.status(), Some(401));
    assert!(!r.header("WWW-Authenticate").unwrap().contains("stale"));
}

#[test]
fn malformed_credentials_are_bad_requests() {
    let mut h = registered_harness();
    let mut phone = Phone::new("agent1", "secret", PHONE);
    phone.send(&mut h, "", None);
    let www = phone.challenge.clone().unwrap();
    let base = phone.request(&format!("<{}>", phone.contact()), Some(60));
    let with_auth = |auth: String, n: usize| {
        let mut m = base.clone();
        m.set_header("Authorization", auth);
        m.set_header("Via", format!("SIP/2.0/UDP {PHONE};branch=z9hG4bKbad{n}"));
        m
    };
    let right = authorization(&www, "agent1", "secret", REGISTRAR_URI, 1);
    let cases = [
        (right.replace(REGISTRAR_URI, "sip:elsewhere"), "uri"),
        (right.replace(", qop=auth", ""), "qop"),
        (right.replace("nc=00000001", "nc=1"), "nc"),
        ("Digest username=\"agent1\"".to_string(), "lack"),
        ("Basic YWdlbnQxOnNlY3JldA==".to_string(), "scheme"),
    ];
    for (n, (auth, why)) in cases.into_iter().enumerate() {
        let out = h.input_from(with_auth(auth, n), phone.peer());
        let r = sent(&out).remove(0);
        assert_eq!(r.status(), Some(400), "{why}");
        assert!(
            matches!(&r.start, StartLine::Response { reason, .. } if reason.contains(why)),
            "{:?}",
            r.start
        );
    }
    assert!(h.core.binding("agent1").is_none());
}

#[test]
fn expiry_limits_and_removal() {
    let mut h = registered_harness();
    let mut phone = Phone::new("agent1", "secret", PHONE);
    let out = phone.register(&mut h, 30);
    let r = sent(&out).remove(0);
    assert_eq!(r.status(), Some(423));
    assert_eq!(r.header("Min-Expires"), Some("60"));
    assert!(h.core.binding("agent1").is_none());

    // Longer than an hour is cut to an hour; a contact's own expires parameter wins over the header.
    let out = phone.send(&mut h, &format!("<{}>", phone.contact()), Some(7200));
    assert_eq!(registration(&out), vec![("agent1".into(), phone.contact(), 3600)]);
    let second = "<sip:agent1@127.0.0.1:5064>;expires=90";
    let out = phone.send(&mut h, second, Some(600));
    let ok = sent(&out).remove(0);
    assert_eq!(
        ok.header_values("Contact"),
        vec![
            "<sip:agent1@127.0.0.1:5062>;expires=3600",
            "<sip:agent1@127.0.0.1:5064>;expires=90"
        ]
    );
    assert_eq!(
        h.core.binding("agent1").unwrap().contact,
        "sip:agent1@127.0.0.1:5064"
    );

    // Expires: 0 removes one contact; a query (no Contact) lists the rest.
    let out = phone.send(&mut h, "<sip:agent1@127.0.0.1:5064>", Some(0));
    assert_eq!(
        registration(&out),
        vec![("agent1".into(), "sip:agent1@127.0.0.1:5064".into(), 0)]
    );
    let out = phone.send(&mut h, "", None);
    assert_eq!(
        sent(&out)[0].header_values("Contact"),
        vec!["<sip:agent1@127.0.0.1:5062>;expires=3600"]
    );

    // Contact: * needs Expires: 0; then it removes everything.
    let out = phone.send(&mut h, "*", Some(60));
    assert_eq!(codes(&out), vec![400]);
    phone.send(&mut h, "<sip:agent1@127.0.0.1:5064>", Some(300));
    let out = phone.send(&mut h, "*", Some(0));
    assert_eq!(codes(&out), vec![200]);
    let mut gone: Vec<_> = registration(&out).into_iter().map(|(_, c, e)| (c, e)).collect();
    gone.sort();
    assert_eq!(
        gone,
        vec![
            ("sip:agent1@127.0.0.1:5062".to_string(), 0),
            ("sip:agent1@127.0.0.1:5064".to_string(), 0)
        ]
    );
    assert!(h.core.binding("agent1").is_none());
    assert_eq!(codes(&phone.send(&mut h, "<mailto:x@y>", Some(60))), vec![400]);
}

#[test]
fn bindings_expire_in_virtual_time() {
    let mut h = registered_harness();
    let mut phone = Phone::new("agent1", "secret", PHONE);
    phone.register(&mut h, 60);
    let start = h.now;
    assert!(h.core.poll_timeout().unwrap() <= start + Duration::from_secs(60));
    assert!(registration(&h.advance(Duration::from_secs(59))).is_empty());
    assert!(h.core.binding("agent1").is_some());
    let out = h.advance(Duration::from_secs(2));
    assert_eq!(registration(&out), vec![("agent1".into(), phone.contact(), 0)]);
    assert!(h.core.binding("agent1").is_none());
    assert_eq!(h.core.poll_timeout(), None, "nothing left to wait for");
}

#[test]
fn retransmitted_register_gets_the_same_answer_once() {
    let mut h = registered_harness();
    let mut phone = Phone::new("agent1", "secret", PHONE);
    phone.send(&mut h, "", None);
    let req = phone.request(&format!("<{}>", phone.contact()), Some(300));
    let first = h.input_from(req.clone(), phone.peer());
    assert_eq!(registration(&first).len(), 1);
    let again = h.input_from(req, phone.peer());
    assert_eq!(sent(&again), sent(&first), "the same 200");
    assert!(events(&again).is_empty());
}

#[test]
fn removing_an_account_removes_its_phone() {
    let mut h = registered_harness();
    Phone::new("agent1", "secret", PHONE).register(&mut h, 300);
    Phone::new("agent2", "pw2", "127.0.0.1:5064").register(&mut h, 300);
    h.core.set_accounts(accounts().split_off(1));
    let out = h.drain();
    assert_eq!(
        registration(&out),
        vec![("agent1".into(), "sip:agent1@127.0.0.1:5062".into(), 0)]
    );
    assert!(h.core.binding("agent1").is_none() && h.core.binding("agent2").is_some());
    // The removed account can no longer register.
    assert_eq!(
        codes(&Phone::new("agent1", "secret", PHONE).register(&mut h, 300)),
        vec![403]
    );
}

#[test]
fn sha_256_is_offered_first_when_enabled() {
    let mut h = Harness::new();
    h.core = SipCore::new(CoreConfig {
        digest_sha256: true,
        ..CoreConfig::default()
    });
    h.core.set_accounts(accounts());
    let mut phone = Phone::new("agent1", "secret", PHONE);
    let out = phone.send(&mut h, "", None);
    let r = sent(&out).remove(0);
    let offered = challenges(&r);
    assert_eq!(offered.len(), 2);
    assert!(offered[0].contains("algorithm=SHA-256") && offered[1].contains("algorithm=MD5"));
    // An RFC 7616 SHA-256 response for the first challenge registers.
    let nonce = quoted_param(&offered[0], "nonce");
    let sha = |s: String| crate::sip::digest::Algorithm::Sha256.hex(&s);
    let ha1 = sha("agent1:koe:secret".into());
    let ha2 = sha(format!("REGISTER:{REGISTRAR_URI}"));
    let response = sha(format!("{ha1}:{nonce}:00000001:c1:auth:{ha2}"));
    let mut req = phone.request(&format!("<{}>", phone.contact()), Some(60));
    req.set_header(
        "Authorization",
        format!(
            "Digest username=\"agent1\", realm=\"koe\", nonce=\"{nonce}\", uri=\"{REGISTRAR_URI}\", \
             response=\"{response}\", cnonce=\"c1\", qop=auth, nc=00000001, algorithm=SHA-256"
        ),
    );
    assert_eq!(codes(&h.input_from(req, phone.peer())), vec![200]);
}
