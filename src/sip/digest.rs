//! HTTP digest authentication as SIP uses it (RFC 2617 with qop=auth, RFC 7616/8760 for SHA-256): the
//! `Authorization` header's parameters, the response computation, stateless nonces and a constant-time
//! comparison. No clock here: nonces carry the time they were issued, given by the caller in seconds.

// md-5 and sha2 share one `digest` version: one trait for both.
use md5::Digest as _;
use std::fmt::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Md5,
    Sha256,
}

impl Algorithm {
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha256 => "SHA-256",
        }
    }

    fn parse(name: &str) -> Option<Algorithm> {
        match name.to_ascii_uppercase().as_str() {
            "MD5" => Some(Algorithm::Md5),
            "SHA-256" => Some(Algorithm::Sha256),
            _ => None,
        }
    }

    /// The lower-case hex hash of `data` (RFC 7616 §3.4.1: H(data)).
    pub fn hex(self, data: &str) -> String {
        match self {
            Algorithm::Md5 => hex(&md5::Md5::digest(data.as_bytes())),
            Algorithm::Sha256 => hex(&sha2::Sha256::digest(data.as_bytes())),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// What a client sent in `Authorization: Digest ...` (the parameters koe checks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub realm: String,
    pub nonce: String,
    pub uri: String,
    pub response: String,
    pub algorithm: Algorithm,
    pub qop: Option<String>,
    pub nc: Option<String>,
    pub cnonce: Option<String>,
}

impl Credentials {
    /// Parses an `Authorization` value; an error says what is wrong, for a 400's reason.
    pub fn parse(value: &str) -> Result<Credentials, String> {
        let value = value.trim();
        let (scheme, rest) = value.split_once(char::is_whitespace).unwrap_or((value, ""));
        if !scheme.eq_ignore_ascii_case("Digest") {
            return Err(format!("authorization scheme {scheme:?} is not Digest"));
        }
        let params = auth_params(rest)?;
        let get = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        let required = |name: &str| get(name).ok_or_else(|| format!("digest credentials lack {name}"));
        let algorithm = match get("algorithm") {
            None => Algorithm::Md5,
            Some(a) => {
                Algorithm::parse(&a).ok_or_else(|| format!("digest algorithm {a:?} is not supported"))?
            }
        };
        Ok(Credentials {
            username: required("username")?,
            realm: required("realm")?,
            nonce: required("nonce")?,
            uri: required("uri")?,
            response: required("response")?,
            algorithm,
            qop: get("qop"),
            nc: get("nc"),
            cnonce: get("cnonce"),
        })
    }
}

/// `name=token` or `name="quoted string"` pairs separated by commas (RFC 7235 auth-param).
fn auth_params(s: &str) -> Result<Vec<(String, String)>, String> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut rest = s.trim_start();
    while !rest.is_empty() {
        let eq = rest.find('=').ok_or("digest parameter without '='")?;
        let name = rest[..eq].trim().to_string();
        if name.is_empty() || name.contains([',', '"', ' ']) {
            return Err(format!("invalid digest parameter name {name:?}"));
        }
        rest = rest[eq + 1..].trim_start();
        let value = if let Some(quoted) = rest.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let end = loop {
                match chars.next() {
                    Some((i, '"')) => break i,
                    Some((_, '\\')) => match chars.next() {
                        Some((_, c)) => value.push(c),
                        None => return Err("unterminated quoted digest parameter".into()),
                    },
                    Some((_, c)) => value.push(c),
                    None => return Err("unterminated quoted digest parameter".into()),
                }
            };
            rest = &quoted[end + 1..];
            value
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            let value = rest[..end].trim().to_string();
            rest = &rest[end..];
            value
        };
        if out.iter().any(|(k, _)| k.eq_ignore_ascii_case(&name)) {
            return Err(format!("digest parameter {name} given twice"));
        }
        out.push((name, value));
        rest = rest.trim_start();
        match rest.strip_prefix(',') {
            Some(r) => rest = r.trim_start(),
            None if rest.is_empty() => {}
            None => return Err("digest parameters must be separated by commas".into()),
        }
    }
    Ok(out)
}

/// The request-digest (RFC 2617 §3.2.2.1, RFC 7616 §3.4.1) for qop=auth, or the RFC 2069 form when
/// `qop` is None.
#[allow(clippy::too_many_arguments)]
pub fn response(
    alg: Algorithm,
    username: &str,
    realm: &str,
    password: &str,
    method: &str,
    uri: &str,
    nonce: &str,
    qop: Option<(&str, &str)>,
) -> String {
    let ha1 = alg.hex(&format!("{username}:{realm}:{password}"));
    let ha2 = alg.hex(&format!("{method}:{uri}"));
    match qop {
        Some((nc, cnonce)) => alg.hex(&format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")),
        None => alg.hex(&format!("{ha1}:{nonce}:{ha2}")),
    }
}

/// Equal bytes, in time that depends only on the length (a response compared byte by byte would leak
/// how much of a guess is right).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// HMAC-SHA-256 (RFC 2104), for nonces only.
fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        k[..32].copy_from_slice(&sha2::Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| k.map(|b| b ^ byte);
    let inner = sha2::Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(msg)
        .finalize();
    sha2::Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

/// Issues and checks stateless nonces: `<issued>-<unique>.<HMAC(key, issued-unique)>`, in hex. The
/// unique part keeps two nonces of the same second apart (each nonce has its own nonce-counts); a nonce
/// from another process (another key) or a forged one does not check.
pub struct NonceSigner {
    key: [u8; 32],
}

impl NonceSigner {
    pub fn new(key: [u8; 32]) -> Self {
        NonceSigner { key }
    }

    pub fn issue(&self, issued_s: u64, unique: u64) -> String {
        let stamp = format!("{issued_s:x}-{unique:x}");
        format!("{stamp}.{}", self.mac(&stamp))
    }

    /// When the nonce was issued, if this signer issued it.
    pub fn check(&self, nonce: &str) -> Option<u64> {
        let (stamp, mac) = nonce.split_once('.')?;
        if !ct_eq(self.mac(stamp).as_bytes(), mac.as_bytes()) {
            return None;
        }
        u64::from_str_radix(stamp.split_once('-')?.0, 16).ok()
    }

    fn mac(&self, stamp: &str) -> String {
        hex(&hmac_sha256(&self.key, stamp.as_bytes())[..16])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_2617_example() {
        // RFC 2617 §3.5: the digest for GET /dir/index.html by Mufasa.
        let r = response(
            Algorithm::Md5,
            "Mufasa",
            "testrealm@host.com",
            "Circle Of Life",
            "GET",
            "/dir/index.html",
            "dcd98b7102dd2f0e8b11d0f600bfb0c093",
            Some(("00000001", "0a4f113b")),
        );
        assert_eq!(r, "6629fae49393a05397450978507c4ef1");
    }

    #[test]
    fn rfc_7616_examples() {
        // RFC 7616 §3.9.1, the same request with MD5 and with SHA-256.
        let digest = |alg| {
            response(
                alg,
                "Mufasa",
                "http-auth@example.org",
                "Circle of Life",
                "GET",
                "/dir/index.html",
                "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
                Some(("00000001", "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ")),
            )
        };
        assert_eq!(digest(Algorithm::Md5), "8ca523f5e9506fed4657c9700eebdbec");
        assert_eq!(
            digest(Algorithm::Sha256),
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
    }

    #[test]
    fn hmac_rfc_4231_case_2() {
        assert_eq!(
            hex(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // A key longer than the block is hashed first (RFC 4231 case 6).
        let key = [0xaau8; 131];
        assert_eq!(
            hex(&hmac_sha256(
                &key,
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn parses_credentials_as_phones_send_them() {
        let c = Credentials::parse(
            "Digest username=\"agent1\", realm=\"koe\", nonce=\"5.ab\", uri=\"sip:127.0.0.1:5060\", \
             response=\"0123\", cnonce=\"9f\", qop=auth, nc=00000001, algorithm=MD5",
        )
        .unwrap();
        assert_eq!(c.username, "agent1");
        assert_eq!(c.uri, "sip:127.0.0.1:5060");
        assert_eq!(c.algorithm, Algorithm::Md5);
        assert_eq!(
            (c.qop.as_deref(), c.nc.as_deref(), c.cnonce.as_deref()),
            (Some("auth"), Some("00000001"), Some("9f"))
        );
        // Escapes inside quotes, no algorithm (MD5), SHA-256 by name.
        let c = Credentials::parse(
            r#"digest username="a\"b",realm="r",nonce="n",uri="u",response="x",algorithm=sha-256"#,
        )
        .unwrap();
        assert_eq!((c.username.as_str(), c.algorithm), ("a\"b", Algorithm::Sha256));
        assert_eq!(
            Credentials::parse(r#"Digest username="a",realm="r",nonce="n",uri="u",response="x""#)
                .unwrap()
                .algorithm,
            Algorithm::Md5
        );
    }

    #[test]
    fn bad_credentials_are_errors_not_panics() {
        for bad in [
            "",
            "Basic YWxhZGRpbjpvcGVuc2VzYW1l",
            "Digest username=\"a",
            "Digest username=\"a\" realm=\"r\"",
            "Digest username=\"a\", username=\"b\", realm=r, nonce=n, uri=u, response=x",
            "Digest realm=r, nonce=n, uri=u, response=x",
            "Digest username=a, realm=r, nonce=n, uri=u, response=x, algorithm=SHA-512-256",
            "Digest =x",
            "Digest \u{e9}\u{e9}\u{e9}",
        ] {
            assert!(Credentials::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn nonces_check_only_with_their_key() {
        let signer = NonceSigner::new([7; 32]);
        let nonce = signer.issue(1234, 1);
        assert_eq!(signer.check(&nonce), Some(1234));
        assert_ne!(signer.issue(1234, 2), nonce, "unique within a second");
        assert_eq!(NonceSigner::new([8; 32]).check(&nonce), None);
        let (stamp, mac) = nonce.split_once('.').unwrap();
        assert_eq!(
            signer.check(&format!("{:x}-1.{mac}", 1235)),
            None,
            "a changed time"
        );
        assert_eq!(signer.check(stamp), None);
        assert_eq!(signer.check("zz.zz"), None);
    }

    #[test]
    fn constant_time_equality() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
    }
}
