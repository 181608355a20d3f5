//! Keyset paging (AIP-158): page sizes, and page tokens a client cannot read or forge.
//!
//! A token carries the sort key of the last item returned and a fingerprint of the filters it
//! was issued for. The next page is read with `WHERE key > last ORDER BY key LIMIT n`, so a deep
//! page costs what the first one does. Tokens are encrypted and authenticated with a key the
//! service keeps in its own database (so every replica, and a restarted process, accepts the
//! tokens the others issued): a token the server did not issue, one changed by a single
//! character, or one issued for other filters is refused with INVALID_ARGUMENT on `page_token`.
//!
//! The token is `base64url(tag ‖ body XOR keystream)`: `tag` is the first 16 bytes of
//! HMAC-SHA256(key, "tag" ‖ body), the keystream is HMAC-SHA256(key, "enc" ‖ tag ‖ counter)
//! blocks (a synthetic-IV construction: deterministic, authenticated, opaque).

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::Sha256;

use crate::db::Db;
use crate::error::Problem;

/// Page size used when the request leaves it at 0.
pub const DEFAULT_PAGE_SIZE: u32 = 50;
/// Largest page served; bigger requests are capped to it.
pub const MAX_PAGE_SIZE: u32 = 1000;

/// Longest page token accepted (a longer one was not issued here).
const MAX_TOKEN_LEN: usize = 2048;

const TAG_LEN: usize = 16;

/// The name of the signing key in the `kit_secrets` table.
const KEY_NAME: &str = "page_tokens";

type HmacSha256 = Hmac<Sha256>;

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
struct Body<K> {
    k: K,
    f: u64,
}

/// Issues and reads a service's page tokens.
#[derive(Clone)]
pub struct PageTokens {
    key: Arc<[u8; 32]>,
}

impl std::fmt::Debug for PageTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PageTokens")
    }
}

impl PageTokens {
    /// The tokens of the service whose database is `db`: its key is made on first use and kept
    /// in the database.
    ///
    /// # Errors
    /// Database errors.
    pub async fn load(db: &Db) -> Result<PageTokens, Problem> {
        let mut fresh = [0u8; 32];
        getrandom::fill(&mut fresh).map_err(|e| Problem::internal(e.to_string()))?;
        sqlx::query(
            "INSERT INTO kit_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(KEY_NAME)
        .bind(hex(&fresh))
        .execute(db.writes())
        .await?;
        let (value,): (String,) = sqlx::query_as("SELECT value FROM kit_secrets WHERE name = $1")
            .bind(KEY_NAME)
            .fetch_one(db.reads())
            .await?;
        let key = unhex(&value)
            .ok_or_else(|| Problem::internal("the stored page token key is malformed"))?;
        Ok(PageTokens::with_key(key))
    }

    /// Tokens under a given key (tools and tests).
    pub fn with_key(key: [u8; 32]) -> PageTokens {
        PageTokens { key: Arc::new(key) }
    }

    fn mac(&self) -> HmacSha256 {
        <HmacSha256 as Mac>::new_from_slice(self.key.as_slice())
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"))
    }

    fn tag(&self, body: &[u8]) -> [u8; TAG_LEN] {
        let mut mac = self.mac();
        mac.update(b"tag");
        mac.update(body);
        let full = mac.finalize().into_bytes();
        let mut tag = [0u8; TAG_LEN];
        tag.copy_from_slice(&full[..TAG_LEN]);
        tag
    }

    fn xor_keystream(&self, tag: &[u8; TAG_LEN], data: &mut [u8]) {
        for (counter, block) in data.chunks_mut(32).enumerate() {
            let mut mac = self.mac();
            mac.update(b"enc");
            mac.update(tag);
            mac.update(&(counter as u64).to_be_bytes());
            let stream = mac.finalize().into_bytes();
            for (b, s) in block.iter_mut().zip(stream.iter()) {
                *b ^= s;
            }
        }
    }

    /// The token of the page after the item whose sort key is `last_key`, under the filters
    /// whose [`fingerprint`] is `filters`.
    pub fn encode<K: Serialize>(&self, last_key: &K, filters: u64) -> String {
        // A key that does not serialise (none of closeloop's do) gives an empty token: the
        // listing then ends, which is safe.
        let Ok(mut body) = serde_json::to_vec(&Body {
            k: last_key,
            f: filters,
        }) else {
            return String::new();
        };
        let tag = self.tag(&body);
        self.xor_keystream(&tag, &mut body);
        let mut token = Vec::with_capacity(TAG_LEN + body.len());
        token.extend_from_slice(&tag);
        token.extend_from_slice(&body);
        URL_SAFE_NO_PAD.encode(token)
    }

    /// Reads a request's `page_token`: `None` for the first page.
    ///
    /// # Errors
    /// INVALID_ARGUMENT on `page_token` when it was not issued here, was changed, or was issued
    /// for other filters.
    pub fn decode<K: DeserializeOwned>(
        &self,
        token: &str,
        filters: u64,
    ) -> Result<Option<K>, Problem> {
        if token.is_empty() {
            return Ok(None);
        }
        let invalid = || Problem::invalid("page_token", "not a page token issued by this listing");
        if token.len() > MAX_TOKEN_LEN {
            return Err(invalid());
        }
        let raw = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
        if raw.len() <= TAG_LEN {
            return Err(invalid());
        }
        let (tag, sealed) = raw.split_at(TAG_LEN);
        let tag: [u8; TAG_LEN] = tag.try_into().map_err(|_| invalid())?;
        let mut body = sealed.to_vec();
        self.xor_keystream(&tag, &mut body);
        let mut check = self.mac();
        check.update(b"tag");
        check.update(&body);
        check.verify_truncated_left(&tag).map_err(|_| invalid())?;
        let body: Body<K> = serde_json::from_slice(&body).map_err(|_| invalid())?;
        if body.f != filters {
            return Err(Problem::invalid(
                "page_token",
                "issued for different filters; start again without a page token",
            ));
        }
        Ok(Some(body.k))
    }

    /// Reads the page a list request asks for: its size and where it starts.
    ///
    /// # Errors
    /// INVALID_ARGUMENT on `page_size` or `page_token`.
    pub fn page<K: DeserializeOwned>(
        &self,
        page_size: i32,
        page_token: &str,
        filters: u64,
    ) -> Result<Page<K>, Problem> {
        Ok(Page {
            size: self::page_size(page_size)?,
            after: self.decode(page_token, filters)?,
            filters,
            tokens: self.clone(),
        })
    }
}

/// One page of a keyset listing being read: how many items, after which key.
#[derive(Debug)]
pub struct Page<K> {
    /// Items the page holds at most.
    pub size: u32,
    /// The sort key the page starts after; `None` for the first page.
    pub after: Option<K>,
    filters: u64,
    tokens: PageTokens,
}

impl<K: Serialize> Page<K> {
    /// How many items to read: one more than the page holds, so that whether another page
    /// follows is known without a second query.
    pub fn overfetch(&self) -> u32 {
        self.size.saturating_add(1)
    }

    /// Ends the page over `items` read with [`Page::overfetch`]: keeps at most `size` and
    /// returns them with the token of the next page (empty when there is none). `key` gives an
    /// item's sort key.
    pub fn finish<T>(&self, mut items: Vec<T>, key: impl Fn(&T) -> K) -> (Vec<T>, String) {
        if items.len() <= self.size as usize {
            return (items, String::new());
        }
        items.truncate(self.size as usize);
        let token = items
            .last()
            .map(|last| self.tokens.encode(&key(last), self.filters))
            .unwrap_or_default();
        (items, token)
    }
}

impl<K: Serialize> Page<K> {
    /// Like [`Page::finish`], converting each item with `convert` and stopping early, with a
    /// token, before the converted items' `size` passes `budget` bytes: a page of large items
    /// still fits the message limit, and paging on reaches the rest. The first item is always
    /// kept (an item alone fits the limit by the bounds on what one resource holds).
    pub fn finish_within<T, U>(
        &self,
        items: Vec<T>,
        key: impl Fn(&T) -> K,
        convert: impl Fn(T) -> U,
        size: impl Fn(&U) -> usize,
        budget: usize,
    ) -> (Vec<U>, String) {
        let more = items.len() > self.size as usize;
        let mut out = Vec::with_capacity(items.len().min(self.size as usize));
        let mut used = 0usize;
        let mut last_key = None;
        let mut stopped_early = false;
        for item in items.into_iter().take(self.size as usize) {
            let k = key(&item);
            let converted = convert(item);
            let n = size(&converted);
            if !out.is_empty() && used + n > budget {
                stopped_early = true;
                break;
            }
            used += n;
            out.push(converted);
            last_key = Some(k);
        }
        let token = match last_key {
            Some(k) if more || stopped_early => self.tokens.encode(&k, self.filters),
            _ => String::new(),
        };
        (out, token)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    if s.len() != 64 {
        return None;
    }
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> PageTokens {
        PageTokens::with_key([7; 32])
    }

    #[test]
    fn tokens_round_trip_and_refuse_other_filters() {
        let f = fingerprint(&["owner=alice"]);
        let t = tokens().encode(&"0190-abc".to_string(), f);
        assert_eq!(
            tokens().decode::<String>(&t, f).unwrap().as_deref(),
            Some("0190-abc")
        );
        assert!(
            tokens()
                .decode::<String>(&t, fingerprint(&["owner=bob"]))
                .is_err()
        );
        assert!(tokens().decode::<String>("garbage!", f).is_err());
        assert_eq!(tokens().decode::<String>("", f).unwrap(), None);
        let other_key = PageTokens::with_key([8; 32]);
        assert!(other_key.decode::<String>(&t, f).is_err());
    }

    #[test]
    fn tokens_do_not_show_their_key() {
        let t = tokens().encode(&"0190-secret-id".to_string(), 1);
        let raw = URL_SAFE_NO_PAD.decode(&t).unwrap();
        assert!(!String::from_utf8_lossy(&raw).contains("secret"));
    }

    #[test]
    fn every_one_character_change_is_refused() {
        let f = fingerprint(&[""]);
        let t = tokens().encode(&"0190abcd-0000-7000-8000-000000000042".to_string(), f);
        let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        for i in 0..t.len() {
            for c in alphabet.chars() {
                if t[i..].starts_with(c) {
                    continue;
                }
                let mut changed = t.clone();
                changed.replace_range(i..i + 1, &c.to_string());
                assert!(
                    tokens().decode::<String>(&changed, f).is_err(),
                    "position {i} changed to {c} was accepted"
                );
            }
        }
    }

    #[test]
    fn page_sizes_default_cap_and_refuse_negative() {
        assert_eq!(page_size(0).unwrap(), DEFAULT_PAGE_SIZE);
        assert_eq!(page_size(5000).unwrap(), MAX_PAGE_SIZE);
        assert_eq!(page_size(7).unwrap(), 7);
        assert!(page_size(-1).is_err());
    }

    #[test]
    fn a_page_overfetches_by_one_and_ends_with_the_next_token() {
        let page = tokens().page::<u32>(2, "", 9).unwrap();
        assert_eq!(page.overfetch(), 3);
        let (items, token) = page.finish(vec![1, 2, 3], |i| *i);
        assert_eq!(items, [1, 2]);
        assert_eq!(tokens().decode::<u32>(&token, 9).unwrap(), Some(2));
        let (items, token) = page.finish(vec![1], |i| *i);
        assert_eq!((items, token.as_str()), (vec![1], ""));
    }

    #[test]
    fn a_page_stops_before_its_byte_budget_and_says_where_to_go_on() {
        let page = tokens().page::<u32>(10, "", 9).unwrap();
        let items: Vec<u32> = (1..=5).collect();
        let (kept, token) = page.finish_within(items, |i| *i, |i| i * 10, |_| 40, 100);
        assert_eq!(kept, [10, 20]);
        assert_eq!(tokens().decode::<u32>(&token, 9).unwrap(), Some(2));
        // Within budget and no more items: no token.
        let (kept, token) = page.finish_within(vec![1, 2], |i| *i, |i| i, |_| 1, 100);
        assert_eq!((kept, token.as_str()), (vec![1, 2], ""));
        // One item over the budget alone is still answered.
        let (kept, _) = page.finish_within(vec![7], |i| *i, |i| i, |_| 1000, 100);
        assert_eq!(kept, [7]);
    }

    #[test]
    fn fingerprint_separates_parts() {
        assert_ne!(fingerprint(&["ab", "c"]), fingerprint(&["a", "bc"]));
    }
}
