//! The pseudonymisation key file, one format for `sanitize`, `prepare` and
//! `ask`: 64 hex digits (surrounding whitespace ignored; what `sanitize`
//! writes when it creates a key) or exactly 32 raw bytes. The same file gives
//! the same pseudonyms in every command.

use anyhow::{bail, Context, Result};
use std::path::Path;

pub const KEY_LEN: usize = 32;

/// Parse a key file's content.
pub fn decode(raw: &[u8]) -> Option<[u8; KEY_LEN]> {
    let t = raw.trim_ascii();
    let mut key = [0u8; KEY_LEN];
    if t.len() == 2 * KEY_LEN && t.iter().all(u8::is_ascii_hexdigit) {
        for (k, pair) in key.iter_mut().zip(t.chunks(2)) {
            *k = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
        }
        return Some(key);
    }
    if raw.len() == KEY_LEN {
        key.copy_from_slice(raw);
        return Some(key);
    }
    None
}

pub fn read(path: &Path) -> Result<[u8; KEY_LEN]> {
    let raw =
        std::fs::read(path).with_context(|| format!("cannot read key file {}", path.display()))?;
    match decode(&raw) {
        Some(k) => Ok(k),
        None => bail!(
            "key file {}: expected 64 hex digits or exactly 32 raw bytes, found {} bytes",
            path.display(),
            raw.len()
        ),
    }
}

/// A fresh random key from the OS generator.
pub fn fresh() -> Result<[u8; KEY_LEN]> {
    let mut key = [0u8; KEY_LEN];
    getrandom::fill(&mut key)
        .map_err(|e| anyhow::anyhow!("no system randomness for a key: {e}"))?;
    Ok(key)
}

pub fn to_hex(key: &[u8; KEY_LEN]) -> String {
    key.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_and_raw_forms() {
        let key: [u8; 32] = std::array::from_fn(|i| i as u8 * 7);
        assert_eq!(decode(format!("{}\n", to_hex(&key)).as_bytes()), Some(key));
        assert_eq!(decode(to_hex(&key).to_uppercase().as_bytes()), Some(key));
        assert_eq!(decode(&key), Some(key));
        assert_eq!(decode(b"too short"), None);
        assert_eq!(decode(&[1u8; 33]), None);
        assert_eq!(decode(&to_hex(&key).as_bytes()[..62]), None);
    }
}
