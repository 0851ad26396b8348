//! TLS 1.3 key log (NSS `SSLKEYLOGFILE` text, as carried in a pcapng
//! Decryption Secrets Block): the traffic secrets of each session, by the
//! ClientHello random. Only what QUIC decryption needs is kept, and the store
//! is bounded: lines past [`MAX_SESSIONS`] sessions are ignored.

use arrayvec::ArrayVec;
use std::collections::BTreeMap;

/// Most sessions kept (about 250 bytes each).
pub const MAX_SESSIONS: usize = 16_384;

/// A secret of up to SHA-384 length.
pub type Secret = ArrayVec<u8, 48>;

/// The secrets of one session.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionSecrets {
    pub client_handshake: Option<Secret>,
    pub server_handshake: Option<Secret>,
    pub client_traffic_0: Option<Secret>,
    pub server_traffic_0: Option<Secret>,
}

impl SessionSecrets {
    /// (handshake, 1-RTT) secret of one side.
    pub fn of(&self, server: bool, handshake: bool) -> Option<&Secret> {
        match (server, handshake) {
            (false, true) => self.client_handshake.as_ref(),
            (true, true) => self.server_handshake.as_ref(),
            (false, false) => self.client_traffic_0.as_ref(),
            (true, false) => self.server_traffic_0.as_ref(),
        }
    }
}

/// Secrets by client random.
#[derive(Clone, Debug, Default)]
pub struct KeyLog {
    sessions: BTreeMap<[u8; 32], SessionSecrets>,
}

fn hex_into<const N: usize>(s: &[u8], out: &mut ArrayVec<u8, N>) -> Option<()> {
    if s.len() % 2 != 0 || s.len() / 2 > N {
        return None;
    }
    let nib = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    for p in s.chunks_exact(2) {
        out.push((nib(p[0])? << 4) | nib(p[1])?);
    }
    Some(())
}

impl KeyLog {
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn get(&self, client_random: &[u8; 32]) -> Option<&SessionSecrets> {
        self.sessions.get(client_random)
    }

    /// Add the lines of a key log. Unknown labels, comments and malformed
    /// lines are skipped. Returns the lines taken.
    pub fn add_text(&mut self, text: &[u8]) -> usize {
        let mut taken = 0;
        for line in text.split(|&b| b == b'\n') {
            let mut parts = line
                .split(|&b| b == b' ' || b == b'\t' || b == b'\r')
                .filter(|p| !p.is_empty());
            let (Some(label), Some(random), Some(secret)) =
                (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            let mut cr: ArrayVec<u8, 32> = ArrayVec::new();
            let mut sec = Secret::new();
            if hex_into(random, &mut cr).is_none()
                || cr.len() != 32
                || hex_into(secret, &mut sec).is_none()
                || sec.len() < 32
            {
                continue;
            }
            let Ok(cr) = cr.into_inner() else { continue };
            if !self.sessions.contains_key(&cr) && self.sessions.len() >= MAX_SESSIONS {
                continue;
            }
            let slot: fn(&mut SessionSecrets) -> &mut Option<Secret> = match label {
                b"CLIENT_HANDSHAKE_TRAFFIC_SECRET" => {
                    |s: &mut SessionSecrets| &mut s.client_handshake
                }
                b"SERVER_HANDSHAKE_TRAFFIC_SECRET" => {
                    |s: &mut SessionSecrets| &mut s.server_handshake
                }
                b"CLIENT_TRAFFIC_SECRET_0" => |s: &mut SessionSecrets| &mut s.client_traffic_0,
                b"SERVER_TRAFFIC_SECRET_0" => |s: &mut SessionSecrets| &mut s.server_traffic_0,
                _ => continue,
            };
            *slot(self.sessions.entry(cr).or_default()) = Some(sec);
            taken += 1;
        }
        taken
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nss_lines_by_client_random_and_junk_skipped() {
        let cr = "b649f57b1017cbf625988cadb8ca5807406ceaa7392a454f9c0291b2be0c5ca0";
        let text = format!(
            "# comment\nCLIENT_EARLY_TRAFFIC_SECRET {cr} {s}\nSERVER_TRAFFIC_SECRET_0 {cr} {s}\r\n\
             CLIENT_TRAFFIC_SECRET_0 {cr} {l}\nCLIENT_TRAFFIC_SECRET_0 zz {s}\nCLIENT_RANDOM {cr}\n",
            s = "65".repeat(32),
            l = "ab".repeat(48),
        );
        let mut k = KeyLog::default();
        assert_eq!(k.add_text(text.as_bytes()), 2);
        let mut key = [0u8; 32];
        for (i, b) in key.iter_mut().enumerate() {
            *b = u8::from_str_radix(&cr[2 * i..2 * i + 2], 16).unwrap();
        }
        let s = k.get(&key).unwrap();
        assert_eq!(s.of(true, false).unwrap().as_slice(), &[0x65; 32]);
        assert_eq!(s.of(false, false).unwrap().len(), 48);
        assert!(s.of(false, true).is_none());
        // A secret longer than SHA-384 is refused, not truncated.
        let long = format!("SERVER_HANDSHAKE_TRAFFIC_SECRET {cr} {}\n", "00".repeat(49));
        assert_eq!(k.add_text(long.as_bytes()), 0);
    }
}
