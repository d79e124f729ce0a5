//! Talking to the identity provider: which addresses may be trusted, and reading its answers
//! without letting it make us buffer without bound.
//!
//! Keys, discovery documents and tokens decide who gets in, so they come over `https://` only.
//! A development issuer may serve them over plain `http://` on this machine's loopback, or keep
//! its keys in a `file:`, and only when `auth.allow_development_issuer = true` says this is a
//! local run.

use std::net::IpAddr;
use std::time::Duration;

use crate::AuthError;

/// Key sets and discovery documents are a few kilobytes, token responses a few more; anything
/// past this is not an answer we want, whoever sends it.
pub(crate) const MAX_RESPONSE_BYTES: usize = 256 * 1024;

/// How long one request to the provider may take, connecting included.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Why `url` may not be used to reach the identity provider, if it may not.
pub(crate) fn refuse_url(url: &str, allow_development: bool) -> Option<String> {
    const HOW: &str = "keys and tokens come over https:// only (http:// on loopback, and file:, \
                       only for a local run with auth.allow_development_issuer = true)";
    if url.starts_with("file:") {
        return (!allow_development).then(|| format!("a file: key set is refused: {HOW}"));
    }
    let Ok(parsed) = reqwest::Url::parse(url) else {
        return Some("not a URL".to_owned());
    };
    match parsed.scheme() {
        "https" => None,
        "http" if allow_development && is_loopback(&parsed) => None,
        "http" if allow_development => Some(format!(
            "plain http:// is refused for a host other than this machine's loopback: {HOW}"
        )),
        "http" => Some(format!("plain http:// is refused: {HOW}")),
        scheme => Some(format!("the scheme {scheme}: is refused: {HOW}")),
    }
}

/// Whether the URL's host is this machine: `localhost`, 127.0.0.0/8 or `::1`.
fn is_loopback(url: &reqwest::Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    // An IPv6 host is written in brackets.
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}

/// The one HTTP client for the provider: a timeout on every request, no redirects (a redirect
/// could lead an `https://` address to a plain one).
pub(crate) fn client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
}

/// GETs `url`, a successful answer of at most [`MAX_RESPONSE_BYTES`].
pub(crate) async fn get(url: &str) -> Result<Vec<u8>, AuthError> {
    let response = client()
        .map_err(|e| AuthError::key_set(url, e))?
        .get(url)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| AuthError::key_set(url, e))?;
    read_capped(response)
        .await
        .map_err(|reason| AuthError::key_set(url, reason))
}

/// The body of `response`, refused once it passes [`MAX_RESPONSE_BYTES`] (whatever its
/// `Content-Length` claims).
pub(crate) async fn read_capped(mut response: reqwest::Response) -> Result<Vec<u8>, String> {
    let too_large = || format!("the answer is larger than {MAX_RESPONSE_BYTES} bytes");
    if response
        .content_length()
        .is_some_and(|length| length > MAX_RESPONSE_BYTES as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_anywhere_plain_http_and_files_only_on_a_local_run() {
        let keys = "https://login.hospital.example/realms/staff/certs";
        assert_eq!(refuse_url(keys, false), None);
        for local in [
            "http://127.0.0.1:8090/jwks.json",
            "http://localhost:8090/jwks.json",
            "http://[::1]:8090/jwks.json",
            "file:/home/dev/.dev-issuer/jwks.json",
        ] {
            assert_eq!(refuse_url(local, true), None, "{local}");
            let refused = refuse_url(local, false).expect(local);
            assert!(
                refused.contains("auth.allow_development_issuer"),
                "{refused}"
            );
        }
        for remote in [
            "http://login.hospital.example/certs",
            "http://10.0.0.7/certs",
            "http://127.0.0.1.attacker.example/certs",
        ] {
            assert!(refuse_url(remote, true).is_some(), "{remote}");
        }
        assert!(refuse_url("ftp://login.hospital.example/certs", true).is_some());
        assert!(refuse_url("not a url", true).is_some());
    }
}
