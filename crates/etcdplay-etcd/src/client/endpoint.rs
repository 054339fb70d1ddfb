//! One etcd client URL (`http://host:2379` or `https://host:2379`), checked before use so
//! that a typo or a scheme that does not match the TLS settings fails early with the
//! endpoint named.

use crate::client::error::ClientError;

/// A checked endpoint URL without a trailing slash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EndpointUrl {
    /// The URL as given, normalised (no trailing `/`).
    pub(crate) url: String,
    /// Whether the scheme is `https`.
    pub(crate) https: bool,
}

impl EndpointUrl {
    /// Parses `text`; `tls` says whether TLS material was given.
    pub(crate) fn parse(text: &str, tls: bool) -> Result<Self, ClientError> {
        let bad = |reason: &str| ClientError::BadEndpoint {
            endpoint: text.to_string(),
            reason: reason.to_string(),
        };
        let trimmed = text.trim().trim_end_matches('/');
        let (https, rest) = if let Some(rest) = trimmed.strip_prefix("https://") {
            (true, rest)
        } else if let Some(rest) = trimmed.strip_prefix("http://") {
            (false, rest)
        } else {
            return Err(bad("expected http://HOST:PORT or https://HOST:PORT"));
        };
        if rest.is_empty() || rest.contains('/') || rest.contains(char::is_whitespace) {
            return Err(bad("expected http://HOST:PORT or https://HOST:PORT"));
        }
        if https && !tls {
            return Err(bad(
                "https:// needs the CA, client certificate and client key",
            ));
        }
        if !https && tls {
            return Err(bad("TLS material given but the endpoint is plain http://"));
        }
        if let Err(reason) = check_authority(rest) {
            return Err(bad(&reason.to_string()));
        }
        // The URI parser has the last word on everything else.
        tonic::transport::Endpoint::from_shared(trimmed.to_string())
            .map_err(|e| bad(&format!("not a valid URL ({e})")))?;
        Ok(Self {
            url: trimmed.to_string(),
            https,
        })
    }

    /// Whether `client_url` (from etcd's member list) names this endpoint.
    pub(crate) fn matches(&self, client_url: &str) -> bool {
        client_url.trim_end_matches('/') == self.url
    }
}

/// What is wrong with an endpoint's `host:port`.
#[derive(Debug, thiserror::Error)]
enum AuthorityError {
    #[error("unclosed '[' in the host")]
    UnclosedBracket,
    #[error("expected ':PORT' after ']'")]
    AfterBracket,
    #[error("an IPv6 address needs brackets: [ADDR]:PORT")]
    UnbracketedV6,
    #[error("missing host")]
    MissingHost,
    #[error("port '{0}' is not a number from 1 to 65535")]
    BadPort(String),
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`, with a numeric port (the URI parser accepts
/// `host:port` with any text as port).
fn check_authority(authority: &str) -> Result<(), AuthorityError> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or(AuthorityError::UnclosedBracket)?;
        match after {
            "" => (host, None),
            _ => (
                host,
                Some(
                    after
                        .strip_prefix(':')
                        .ok_or(AuthorityError::AfterBracket)?,
                ),
            ),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) if !host.contains(':') => (host, Some(port)),
            Some(_) => return Err(AuthorityError::UnbracketedV6),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(AuthorityError::MissingHost);
    }
    if let Some(port) = port {
        if port.parse::<u16>().map_or(true, |p| p == 0) {
            return Err(AuthorityError::BadPort(port.to_string()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_must_match_tls() {
        assert!(EndpointUrl::parse("http://10.0.0.1:2379/", false)
            .is_ok_and(|e| e.url == "http://10.0.0.1:2379"));
        assert!(EndpointUrl::parse("https://[::1]:2379", true).is_ok_and(|e| e.https));
        for (text, tls) in [
            ("https://a:2379", false),
            ("http://a:2379", true),
            ("a:2379", false),
            ("http://", false),
            ("http://a:2379/x", false),
            ("http://a:port", false),
            ("http://a:70000", false),
            ("http://::1:2379", false),
        ] {
            let e = EndpointUrl::parse(text, tls).unwrap_err();
            assert!(matches!(e, ClientError::BadEndpoint { .. }), "{text}: {e}");
        }
    }
}
