//! Opaque keyset page tokens (AIP-158).
//!
//! A token carries the sort key of the last item returned and a fingerprint of the filters it was
//! issued for. The next page is read with `WHERE key > last ORDER BY key LIMIT n`, so a deep page
//! costs what the first one does; reusing a token with other filters is refused.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::Problem;

/// Page size used when the request leaves it at 0.
pub const DEFAULT_PAGE_SIZE: u32 = 50;
/// Largest page served; bigger requests are capped to it.
pub const MAX_PAGE_SIZE: u32 = 1000;

/// The page size to serve for a request's `page_size`.
///
/// # Errors
/// INVALID_ARGUMENT on `page_size` when negative.
pub fn page_size(requested: i32) -> Result<u32, Problem> {
    match requested {
        n if n < 0 => Err(Problem::invalid("page_size", "must not be negative")),
        0 => Ok(DEFAULT_PAGE_SIZE),
        n => Ok((n as u32).min(MAX_PAGE_SIZE)),
    }
}

/// A stable fingerprint of the filters a listing was asked for (FNV-1a over the parts).
pub fn fingerprint(parts: &[&str]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in part.bytes().chain(std::iter::once(0xff)) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

#[derive(Serialize, serde::Deserialize)]
struct Token<K> {
    k: K,
    f: u64,
}

/// Encodes the key of the last item of a page.
pub fn encode<K: Serialize>(last_key: &K, filter_fingerprint: u64) -> String {
    let json = serde_json::to_vec(&Token {
        k: last_key,
        f: filter_fingerprint,
    })
    .expect("page keys serialise");
    URL_SAFE_NO_PAD.encode(json)
}

/// Decodes a request's `page_token`: `None` for the first page.
///
/// # Errors
/// INVALID_ARGUMENT on `page_token` when it is not one this service issued, or was issued for
/// other filters.
pub fn decode<K: DeserializeOwned>(
    token: &str,
    filter_fingerprint: u64,
) -> Result<Option<K>, Problem> {
    if token.is_empty() {
        return Ok(None);
    }
    let invalid = || Problem::invalid("page_token", "not a page token issued by this listing");
    let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
    let token: Token<K> = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    if token.f != filter_fingerprint {
        return Err(Problem::invalid(
            "page_token",
            "issued for different filters; start again without a page token",
        ));
    }
    Ok(Some(token.k))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_refuse_other_filters() {
        let f = fingerprint(&["owner=alice"]);
        let t = encode(&"0190-abc".to_string(), f);
        assert_eq!(
            decode::<String>(&t, f).unwrap().as_deref(),
            Some("0190-abc")
        );
        assert!(decode::<String>(&t, fingerprint(&["owner=bob"])).is_err());
        assert!(decode::<String>("garbage!", f).is_err());
        assert_eq!(decode::<String>("", f).unwrap(), None);
    }

    #[test]
    fn page_sizes_default_cap_and_refuse_negative() {
        assert_eq!(page_size(0).unwrap(), DEFAULT_PAGE_SIZE);
        assert_eq!(page_size(5000).unwrap(), MAX_PAGE_SIZE);
        assert_eq!(page_size(7).unwrap(), 7);
        assert!(page_size(-1).is_err());
    }

    #[test]
    fn fingerprint_separates_parts() {
        assert_ne!(fingerprint(&["ab", "c"]), fingerprint(&["a", "bc"]));
    }
}
