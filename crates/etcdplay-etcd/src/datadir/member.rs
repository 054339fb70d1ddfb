//! The member model shared by all three sources (WAL, `.snap`, bbolt), and the JSON shapes
//! etcd stores members in. Ids are parsed as `u64` by serde_json, never through `f64`: etcd
//! ids exceed 2^53.

use serde::Deserialize;

/// One cluster member as the data dir remembers it.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Member {
    pub id: u64,
    pub name: String,
    pub peer_urls: Vec<String>,
    pub client_urls: Vec<String>,
    pub is_learner: bool,
}

/// A member as serialised in ConfChange contexts and bbolt's `members` bucket; also the
/// shape of `raftAttributes` (`peerURLs`, `isLearner`) and `attributes` (`name`,
/// `clientURLs`) values in the v2 store. Every field may be absent: etcd omits empty ones.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub(crate) struct MemberJson {
    #[serde(default)]
    pub(crate) id: Option<u64>,
    #[serde(default)]
    pub(crate) name: Option<String>,
    #[serde(default, rename = "peerURLs")]
    pub(crate) peer_urls: Option<Vec<String>>,
    #[serde(default, rename = "clientURLs")]
    pub(crate) client_urls: Option<Vec<String>>,
    #[serde(default, rename = "isLearner")]
    pub(crate) is_learner: Option<bool>,
}

impl MemberJson {
    /// Parses member JSON bytes.
    pub(crate) fn parse(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

/// Formats an id the way etcd names it in paths and bucket keys: lowercase hex, no padding.
pub(crate) fn hex_id(id: u64) -> String {
    format!("{id:x}")
}

/// Parses a hex member id as used in v2 store paths and bbolt keys.
pub(crate) fn parse_hex_id(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 16 {
        return None;
    }
    u64::from_str_radix(s, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ids_above_2_pow_53_exactly() {
        let m = MemberJson::parse(
            br#"{"id":18446744073709551557,"peerURLs":["http://a:2380"],"name":"n"}"#,
        )
        .unwrap();
        assert_eq!(m.id, Some(18_446_744_073_709_551_557));
        assert_eq!(m.client_urls, None);
        assert_eq!(parse_hex_id(&hex_id(u64::MAX - 58)), Some(u64::MAX - 58));
        assert_eq!(parse_hex_id("xyz"), None);
    }
}
