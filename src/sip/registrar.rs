//! The registrar (RFC 3261 §10.3), sans-IO: REGISTER authenticated by digest (RFC 2617 qop=auth, RFC
//! 7616) against koe's accounts, and per user the contacts its phones registered, each with where its
//! REGISTER came from, so that koe calls a phone back through the same NAT mapping or TCP connection
//! (RFC 5626's idea of sending to the flow, without its Outbound extension).
//!
//! Answers: no credentials, credentials for another nonce or realm → 401 with a fresh challenge; a right
//! digest on an expired nonce → 401 `stale=true` (the phone retries by itself); a wrong password or an
//! unknown user on a live nonce → 403. 403 and not another 401 because a second 401 makes phones either
//! give up with a misleading "401" (baresip's libre does) or loop asking for credentials, while 403
//! tells the user plainly that the password is wrong; the same 403 for an unknown user keeps the account
//! names secret.

use super::core::Peer;
use super::digest::{self, Algorithm, Credentials, NonceSigner};
use super::message::{Message, StartLine, header_uri, param};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// A SIP account: the user part of its address (`sip:agent1@koe`) and its password, kept in memory
/// in clear because digest needs it (or its HA1 per realm and algorithm) to check a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub user: String,
    pub password: String,
}

pub const MIN_EXPIRES: u32 = 60;
pub const MAX_EXPIRES: u32 = 3600;
const DEFAULT_EXPIRES: u32 = 3600;
/// How long a nonce is accepted; then the phone gets `stale=true` and a new one.
pub const NONCE_LIFETIME: Duration = Duration::from_secs(300);
/// Contacts kept per user; a new one beyond this replaces the one expiring first.
const MAX_CONTACTS: usize = 8;

/// Where one of a user's phones can be reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The address-of-record (the REGISTER's To URI), koe's To when it calls the phone.
    pub aor: String,
    /// The phone's Contact URI, the Request-URI when koe calls it.
    pub contact: String,
    /// Where the REGISTER came from: where koe sends the INVITE.
    pub source: Peer,
    /// koe's address the REGISTER arrived on, for Via and Contact when koe calls back.
    pub local_sip: SocketAddr,
    pub expires_at: Instant,
    call_id: String,
    cseq: u32,
}

/// A binding that appeared, was refreshed, or went away (`expires_s` 0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub user: String,
    pub contact: String,
    pub source: Peer,
    pub expires_s: u32,
}

/// How to answer a REGISTER.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub code: u16,
    /// A reason phrase other than the code's usual one.
    pub reason: Option<String>,
    pub headers: Vec<(&'static str, String)>,
}

impl Answer {
    fn new(code: u16) -> Self {
        Answer {
            code,
            reason: None,
            headers: Vec::new(),
        }
    }

    fn because(code: u16, reason: String) -> Self {
        Answer {
            reason: Some(reason),
            ..Answer::new(code)
        }
    }
}

pub struct Registrar {
    realm: String,
    /// Offered in this order in 401s; MD5 alone by default (see `CoreConfig::digest_sha256`).
    algorithms: Vec<Algorithm>,
    /// user → password.
    accounts: HashMap<String, String>,
    signer: NonceSigner,
    /// The instant nonce times count from: the first one the registrar is given.
    epoch: Option<Instant>,
    /// Highest nonce-count accepted per live nonce, with the nonce's issue time (replay protection).
    seen_nc: HashMap<String, (u32, u64)>,
    bindings: HashMap<String, Vec<Binding>>,
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The user part of a SIP URI (`sip:agent1@host` → `agent1`).
fn uri_user(uri: &str) -> Option<&str> {
    let rest = uri.strip_prefix("sip:").or_else(|| uri.strip_prefix("sips:"))?;
    let (user, _) = rest.split_once('@')?;
    Some(user.split(';').next().unwrap_or(user))
}

impl Registrar {
    pub fn new(realm: String, algorithms: Vec<Algorithm>) -> Self {
        Registrar {
            realm,
            algorithms,
            accounts: HashMap::new(),
            signer: NonceSigner::new(rand::random()),
            epoch: None,
            seen_nc: HashMap::new(),
            bindings: HashMap::new(),
        }
    }

    /// Replaces the accounts; the bindings of users no longer there are removed (returned as changes).
    /// A user listed twice keeps the last password.
    pub fn set_accounts(&mut self, accounts: Vec<Account>) -> Vec<Change> {
        self.accounts = accounts.into_iter().map(|a| (a.user, a.password)).collect();
        let gone: Vec<String> = self
            .bindings
            .keys()
            .filter(|u| !self.accounts.contains_key(*u))
            .cloned()
            .collect();
        let mut changes = Vec::new();
        for user in gone {
            for b in self.bindings.remove(&user).unwrap_or_default() {
                changes.push(change(&user, &b, 0));
            }
        }
        changes
    }

    /// The phone to call for `user`: the binding registered or refreshed last.
    pub fn binding(&self, user: &str) -> Option<&Binding> {
        self.bindings.get(user).and_then(|v| v.last())
    }

    pub fn next_expiry(&self) -> Option<Instant> {
        self.bindings.values().flatten().map(|b| b.expires_at).min()
    }

    /// Removes the bindings whose time is up.
    pub fn expire(&mut self, now: Instant) -> Vec<Change> {
        let mut changes = Vec::new();
        for (user, list) in self.bindings.iter_mut() {
            list.retain(|b| {
                let alive = b.expires_at > now;
                if !alive {
                    changes.push(change(user, b, 0));
                }
                alive
            });
        }
        self.bindings.retain(|_, list| !list.is_empty());
        changes
    }

    fn seconds(&mut self, now: Instant) -> u64 {
        let epoch = *self.epoch.get_or_insert(now);
        now.saturating_duration_since(epoch).as_secs()
    }

    fn challenge(&mut self, stale: bool, now: Instant) -> Answer {
        let issued = self.seconds(now);
        let nonce = self.signer.issue(issued, rand::random());
        let stale = if stale { ", stale=true" } else { "" };
        let mut a = Answer::new(401);
        for alg in &self.algorithms {
            let value = format!(
                "Digest realm={}, nonce=\"{nonce}\", qop=\"auth\", algorithm={}{stale}",
                quote(&self.realm),
                alg.name()
            );
            a.headers.push(("WWW-Authenticate", value));
        }
        a
    }

    /// Handles one REGISTER: the answer, and the bindings it changed.
    pub fn register(
        &mut self,
        req: &Message,
        from: Peer,
        local_sip: SocketAddr,
        now: Instant,
    ) -> (Answer, Vec<Change>) {
        let user = match self.authenticate(req, now) {
            Ok(user) => user,
            Err(answer) => return (answer, Vec::new()),
        };
        let aor = req.header_uri("To").unwrap_or_default().to_string();
        if uri_user(&aor) != Some(user.as_str()) {
            let why = "Forbidden (the credentials are not those of the To address)";
            return (Answer::because(403, why.into()), Vec::new());
        }
        let wanted = match requested(req) {
            Ok(w) => w,
            Err(answer) => return (answer, Vec::new()),
        };
        let changes = match self.apply(&user, &aor, wanted, req, from, local_sip, now) {
            Ok(changes) => changes,
            Err(answer) => return (answer, Vec::new()),
        };
        let mut ok = Answer::new(200);
        for b in self.bindings.get(&user).into_iter().flatten() {
            let left = b.expires_at.saturating_duration_since(now).as_secs();
            ok.headers
                .push(("Contact", format!("<{}>;expires={left}", b.contact)));
        }
        (ok, changes)
    }

    /// The authenticated user, or the answer that refuses the request.
    fn authenticate(&mut self, req: &Message, now: Instant) -> Result<String, Answer> {
        let StartLine::Request { method, uri } = &req.start else {
            return Err(Answer::new(400));
        };
        // Credentials for another realm (a proxy's) are not koe's to check.
        let creds = req
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("Authorization"))
            .map(|(_, v)| Credentials::parse(v))
            .find(|c| c.as_ref().map_or(true, |c| c.realm == self.realm));
        let c = match creds {
            None => return Err(self.challenge(false, now)),
            Some(Err(why)) => return Err(Answer::because(400, format!("Bad Request ({why})"))),
            Some(Ok(c)) => c,
        };
        if c.uri != *uri {
            let why = "Bad Request (the digest uri is not the Request-URI)";
            return Err(Answer::because(400, why.into()));
        }
        let (Some("auth"), Some(nc), Some(cnonce)) = (c.qop.as_deref(), c.nc.as_deref(), c.cnonce.as_deref())
        else {
            let why = "Bad Request (digest needs qop=auth with nc and cnonce)";
            return Err(Answer::because(400, why.into()));
        };
        let count = (nc.len() == 8)
            .then(|| u32::from_str_radix(nc, 16).ok())
            .flatten()
            .ok_or_else(|| Answer::because(400, format!("Bad Request (invalid nc {nc:?})")))?;
        if !self.algorithms.contains(&c.algorithm) {
            return Err(self.challenge(false, now));
        }
        let password = self.accounts.get(&c.username);
        let expected = digest::response(
            c.algorithm,
            &c.username,
            &self.realm,
            password.map_or("", |p| p.as_str()),
            method,
            uri,
            &c.nonce,
            Some((nc, cnonce)),
        );
        let right = password.is_some()
            && digest::ct_eq(expected.as_bytes(), c.response.to_ascii_lowercase().as_bytes());
        let now_s = self.seconds(now);
        let issued = self
            .signer
            .check(&c.nonce)
            .filter(|t| *t <= now_s && now_s - t <= NONCE_LIFETIME.as_secs());
        match (issued, right) {
            (Some(issued), true) => {
                // A nonce-count not above the last one seen is a replayed request.
                let last = self.seen_nc.get(&c.nonce).map_or(0, |(n, _)| *n);
                if count <= last {
                    return Err(self.challenge(true, now));
                }
                self.seen_nc
                    .retain(|_, (_, t)| now_s - *t <= NONCE_LIFETIME.as_secs());
                self.seen_nc.insert(c.nonce, (count, issued));
                Ok(c.username)
            }
            (Some(_), false) => Err(Answer::new(403)),
            (None, right) => Err(self.challenge(right, now)),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn apply(
        &mut self,
        user: &str,
        aor: &str,
        wanted: Wanted,
        req: &Message,
        from: Peer,
        local_sip: SocketAddr,
        now: Instant,
    ) -> Result<Vec<Change>, Answer> {
        let call_id = req.call_id().to_string();
        let cseq = req.cseq().map_or(0, |(n, _)| n);
        let remove_all = matches!(wanted, Wanted::RemoveAll);
        let contacts = match wanted {
            Wanted::Contacts(c) => c,
            Wanted::Query | Wanted::RemoveAll => Vec::new(),
        };
        // RFC 3261 §10.3 step 7: the same Call-ID with a CSeq not above the binding's is out of order.
        let stale = self.bindings.get(user).is_some_and(|list| {
            list.iter().any(|b| {
                b.call_id == call_id && cseq <= b.cseq && contacts.iter().any(|(uri, _)| *uri == b.contact)
            })
        });
        if stale {
            let why = "Server Internal Error (REGISTER CSeq out of order)";
            return Err(Answer::because(500, why.into()));
        }
        let list = self.bindings.entry(user.to_string()).or_default();
        let mut changes = Vec::new();
        if remove_all {
            changes.extend(list.drain(..).map(|b| change(user, &b, 0)));
        }
        for (uri, expires) in contacts {
            let old = list.iter().position(|b| b.contact == uri).map(|i| list.remove(i));
            if expires == 0 {
                if let Some(b) = old {
                    changes.push(change(user, &b, 0));
                }
                continue;
            }
            let b = Binding {
                aor: aor.to_string(),
                contact: uri,
                source: from,
                local_sip,
                expires_at: now + Duration::from_secs(expires.into()),
                call_id: call_id.clone(),
                cseq,
            };
            changes.push(change(user, &b, expires));
            list.push(b);
            if list.len() > MAX_CONTACTS
                && let Some(i) = (0..list.len() - 1).min_by_key(|&i| list[i].expires_at)
            {
                let evicted = list.remove(i);
                changes.push(change(user, &evicted, 0));
            }
        }
        if list.is_empty() {
            self.bindings.remove(user);
        }
        Ok(changes)
    }
}

fn change(user: &str, b: &Binding, expires_s: u32) -> Change {
    Change {
        user: user.to_string(),
        contact: b.contact.clone(),
        source: b.source,
        expires_s,
    }
}

/// What a REGISTER asks for.
enum Wanted {
    /// No Contact: list the bindings.
    Query,
    /// `Contact: *` with `Expires: 0`.
    RemoveAll,
    /// Contact URIs with their expiry in seconds (0: remove), already capped.
    Contacts(Vec<(String, u32)>),
}

fn requested(req: &Message) -> Result<Wanted, Answer> {
    let bad = |why: &str| Answer::because(400, format!("Bad Request ({why})"));
    let expires = req
        .header("Expires")
        .map(|v| v.trim().parse::<u32>().map_err(|_| bad("invalid Expires")))
        .transpose()?;
    let contacts = req.header_values("Contact");
    if contacts.contains(&"*") {
        return if contacts.len() == 1 && expires == Some(0) {
            Ok(Wanted::RemoveAll)
        } else {
            Err(bad("Contact: * needs Expires: 0 and no other contact"))
        };
    }
    if contacts.is_empty() {
        return Ok(Wanted::Query);
    }
    let mut out = Vec::new();
    for c in contacts {
        let uri = header_uri(c)
            .filter(|u| u.starts_with("sip:") || u.starts_with("sips:"))
            .filter(|u| !u.contains(['<', '>', '"', ' ']))
            .ok_or_else(|| bad("a Contact is not a SIP URI"))?;
        let e = match param(c, "expires") {
            Some(v) => v.parse::<u32>().map_err(|_| bad("invalid expires parameter"))?,
            None => expires.unwrap_or(DEFAULT_EXPIRES),
        };
        if e != 0 && e < MIN_EXPIRES {
            return Err(Answer {
                code: 423,
                reason: None,
                headers: vec![("Min-Expires", MIN_EXPIRES.to_string())],
            });
        }
        out.push((uri.to_string(), e.min(MAX_EXPIRES)));
    }
    Ok(Wanted::Contacts(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_of_a_uri() {
        assert_eq!(uri_user("sip:agent1@127.0.0.1:5060"), Some("agent1"));
        assert_eq!(uri_user("sips:a;x=1@h"), Some("a"));
        assert_eq!(uri_user("sip:127.0.0.1"), None);
        assert_eq!(uri_user("tel:+81"), None);
    }
}
