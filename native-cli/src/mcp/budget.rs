//! Keeping every tool result small enough for an assistant: tokens counted
//! with the real tokenizers, lists paged with opaque cursors, and any other
//! result cut (largest list first) with a note saying what was cut.

use crate::llm::pricing::Tokenizer;
use base64::Engine as _;
use pcaplens_core::evidence::TokenCounter;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

/// Assistants reject a tool result over 25,000 tokens. A result carries its
/// JSON twice (`structuredContent` and the text copy), so one copy gets less
/// than half, with room for the JSON-RPC envelope and the notes.
pub const MAX_RESULT_TOKENS: usize = 11_500;

/// Tokens of `text`: the larger count of the two tokenizers assistants use
/// (o200k_base for GPT-4o and later, cl100k_base for older models; Claude's
/// own tokenizer is not public, and counts JSON within a few percent of these).
pub fn tokens(text: &str) -> usize {
    let a = Tokenizer::for_model("gpt-4o").count(text);
    let b = Tokenizer::for_model("gpt-4").count(text);
    a.max(b)
}

/// Cheaper estimate for one list item while a page is filled (o200k only;
/// the whole page is then measured with [`tokens`]).
fn item_tokens(v: &impl Serialize) -> usize {
    let s = serde_json::to_string(v).unwrap_or_default();
    Tokenizer::for_model("gpt-4o").count(&s) + 1
}

/// A page cursor: the offset and a fingerprint of the query it continues
/// (the capture's identity and the filters), so a cursor cannot be reused
/// for another query or an edited file. Opaque to the client.
pub fn encode_cursor(offset: usize, fingerprint: u64) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(format!("v1:{offset}:{fingerprint:016x}"))
}

pub fn decode_cursor(cursor: &str, fingerprint: u64) -> Result<usize, String> {
    let bad = || {
        "invalid cursor: pass the `next_cursor` of the previous page unchanged, with the same path and filters"
            .to_string()
    };
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor.trim())
        .map_err(|_| bad())?;
    let text = String::from_utf8(raw).map_err(|_| bad())?;
    let mut parts = text.split(':');
    let (Some("v1"), Some(off), Some(fp), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    let off: usize = off.parse().map_err(|_| bad())?;
    if u64::from_str_radix(fp, 16).ok() != Some(fingerprint) {
        return Err(
            "cursor belongs to another query (other filters, or the capture changed): start again without a cursor"
                .into(),
        );
    }
    Ok(off)
}

/// FNV-1a over the parts of a query: stable across runs and platforms.
pub fn fingerprint(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in p.bytes().chain([0xff]) {
            h ^= b as u64;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

/// Default and largest page sizes.
pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 1000;

/// How many of `items[start..]` fit in a page of at most `limit` items and
/// `room` tokens.
pub fn page_len<T: Serialize>(items: &[T], start: usize, limit: usize, room: usize) -> usize {
    let mut used = 0;
    let mut n = 0;
    for item in items.iter().skip(start).take(limit) {
        used += item_tokens(item);
        if used > room && n > 0 {
            break;
        }
        n += 1;
    }
    n
}

/// Check a finished result against the budget; when it is over, cut its
/// largest lists (halving them, largest first) until it fits, and say so in
/// its `notes`. Paged results are filled to fit, so this is the net under
/// everything else.
pub fn bounded<T: Serialize + DeserializeOwned>(t: T) -> Result<T, String> {
    let mut v = serde_json::to_value(&t).map_err(|e| format!("internal error: {e}"))?;
    if tokens(&v.to_string()) <= MAX_RESULT_TOKENS {
        return Ok(t);
    }
    let cuts = fit(&mut v, MAX_RESULT_TOKENS);
    if cuts.is_empty() {
        return Ok(t);
    }
    if let Some(Value::Array(notes)) = v.get_mut("notes") {
        for c in cuts {
            notes.push(Value::String(c));
        }
    }
    serde_json::from_value(v).map_err(|e| format!("internal error: {e}"))
}

/// Cut `v` until its JSON is at most `budget` tokens; returns what was cut.
pub fn fit(v: &mut Value, budget: usize) -> Vec<String> {
    let mut cuts: Vec<(String, usize, usize)> = Vec::new();
    // Leave room for the notes this adds.
    let budget = budget.saturating_sub(400);
    for _ in 0..64 {
        let text = serde_json::to_string(v).unwrap_or_default();
        if tokens(&text) <= budget {
            break;
        }
        let mut best: Option<(String, usize)> = None;
        largest_array(v, String::new(), &mut best);
        let Some((path, _)) = best else {
            // No list left to cut: shorten the longest strings.
            shorten_strings(v, 256);
            continue;
        };
        if let Some(Value::Array(a)) = pointer_mut(v, &path) {
            let total = a.len();
            a.truncate(total / 2);
            match cuts.iter_mut().find(|c| c.0 == path) {
                Some(c) => c.1 = a.len(),
                None => cuts.push((path, a.len(), total)),
            }
        }
    }
    cuts.into_iter()
        .map(|(path, kept, total)| {
            format!(
                "cut to fit the {MAX_RESULT_TOKENS}-token result limit: {} keeps {kept} of {total} items; \
                 ask for less (filters, a smaller limit) or use the paged tools (get_flows, get_failures, get_findings) for the rest",
                if path.is_empty() { "the result".to_string() } else { path.clone() }
            )
        })
        .collect()
}

fn largest_array(v: &Value, path: String, best: &mut Option<(String, usize)>) {
    match v {
        Value::Array(a) => {
            if a.len() > 1 {
                let size = serde_json::to_string(v).map(|s| s.len()).unwrap_or(0);
                if best.as_ref().is_none_or(|b| size > b.1) {
                    *best = Some((path.clone(), size));
                }
            }
            for (i, x) in a.iter().enumerate() {
                largest_array(x, format!("{path}/{i}"), best);
            }
        }
        Value::Object(m) => {
            for (k, x) in m {
                // The notes are ours: never cut them.
                if path.is_empty() && k == "notes" {
                    continue;
                }
                let key = k.replace('~', "~0").replace('/', "~1");
                largest_array(x, format!("{path}/{key}"), best);
            }
        }
        _ => {}
    }
}

fn pointer_mut<'a>(v: &'a mut Value, path: &str) -> Option<&'a mut Value> {
    if path.is_empty() {
        Some(v)
    } else {
        v.pointer_mut(path)
    }
}

fn shorten_strings(v: &mut Value, max: usize) {
    match v {
        Value::String(s) if s.chars().count() > max => {
            *s = s.chars().take(max).collect::<String>() + "…";
        }
        Value::Array(a) => a.iter_mut().for_each(|x| shorten_strings(x, max)),
        Value::Object(m) => m.values_mut().for_each(|x| shorten_strings(x, max)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trip_and_mismatch() {
        let fp = fingerprint(&["get_flows", "a.pcap", "tcp"]);
        let c = encode_cursor(300, fp);
        assert_eq!(decode_cursor(&c, fp), Ok(300));
        let other = fingerprint(&["get_flows", "a.pcap", "udp"]);
        assert!(decode_cursor(&c, other)
            .unwrap_err()
            .contains("another query"));
        assert!(decode_cursor("garbage!", fp)
            .unwrap_err()
            .contains("invalid cursor"));
    }

    #[test]
    fn fit_cuts_the_largest_list_and_says_so() {
        let big: Vec<String> = (0..20_000).map(|i| format!("item number {i}")).collect();
        let mut v = serde_json::json!({"small": [1, 2, 3], "big": big, "notes": []});
        let cuts = fit(&mut v, 2_000);
        assert!(tokens(&v.to_string()) <= 2_000);
        assert_eq!(v["small"].as_array().unwrap().len(), 3);
        assert_eq!(cuts.len(), 1, "{cuts:?}");
        assert!(cuts[0].contains("/big keeps"), "{cuts:?}");
    }
}
