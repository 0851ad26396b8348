//! Zeek-style connection state (`conn_state`) and `history` letters.
//!
//! A re-implementation of the behaviour of Zeek's TCP session adapter: the
//! per-endpoint state machine (INACTIVE, SYN_SENT, SYN_ACK_SENT, PARTIAL,
//! ESTABLISHED, CLOSED, RESET), the history letters (`S H A D F R I Q` once
//! per kind and side, `T W G` on a 1, 10, 100, … scale), the sequence
//! bookkeeping they depend on, and `conn_state()` of
//! `base/protocols/conn/main.zeek`. Letters are upper case for the
//! originator and lower case for the responder.
//!
//! Sequence numbers are kept relative to each side's initial sequence number
//! in 32-bit wrapping arithmetic: a single connection would need to move
//! 4 GiB in one direction before that differs from Zeek's 64-bit counters.

use crate::decode::tcp_flags::{ACK, FIN, RST, SYN};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum EndpointState {
    #[default]
    Inactive,
    SynSent,
    SynAckSent,
    Partial,
    Established,
    Closed,
    Reset,
}

use EndpointState::*;

// Kinds of history letters that are recorded only the first time per side.
const HIST_SYN: u8 = 0x01;
const HIST_FIN: u8 = 0x02;
const HIST_RST: u8 = 0x04;
const HIST_FIN_RST: u8 = 0x08;
const HIST_ACK: u8 = 0x10;
const HIST_DATA: u8 = 0x20;
const HIST_MULTI: u8 = 0x40;

/// Zeek ignores sequence jumps of SYNs/RSTs larger than this (likely bogus).
const TOO_LARGE_SEQ_DELTA: i32 = 1_048_576;

/// Longest history kept; Zeek's letters are bounded in practice, this only
/// guards memory against adversarial retransmission storms.
const MAX_HISTORY: usize = 256;

/// Out-of-order data blocks remembered per side for gap ('G') detection.
const MAX_BLOCKS: usize = 4;

/// Signed distance between two sequence numbers (modulo 2^32).
#[inline]
fn seq_delta(a: u32, b: u32) -> i32 {
    a.wrapping_sub(b) as i32
}

/// A counter that yields a history letter at 1, 10, 100, … occurrences.
#[derive(Clone, Copy, Debug)]
struct Scaled {
    count: u32,
    threshold: u32,
}

impl Default for Scaled {
    fn default() -> Self {
        Scaled {
            count: 0,
            threshold: 1,
        }
    }
}

impl Scaled {
    /// Count one event; true when it crosses the next power of ten.
    fn bump(&mut self) -> bool {
        self.count = self.count.saturating_add(1);
        if self.count == self.threshold {
            self.threshold = self.threshold.saturating_mul(10);
            true
        } else {
            false
        }
    }
}

/// What Zeek's reassembler knows about one side's byte stream, reduced to
/// what gap detection needs: the contiguous prefix seen and a few blocks
/// beyond a hole (relative data sequence numbers, data starts at 1).
#[derive(Clone, Copy, Debug)]
struct StreamCoverage {
    /// Everything below this was seen (or declared missing).
    contiguous_end: u32,
    /// Blocks seen beyond `contiguous_end`, as [start, end); unsorted.
    blocks: [(u32, u32); MAX_BLOCKS],
    n_blocks: u8,
}

impl Default for StreamCoverage {
    fn default() -> Self {
        StreamCoverage {
            contiguous_end: 1,
            blocks: [(0, 0); MAX_BLOCKS],
            n_blocks: 0,
        }
    }
}

impl StreamCoverage {
    fn data(&mut self, start: u32, len: u32) {
        let end = start.wrapping_add(len);
        if seq_delta(end, self.contiguous_end) <= 0 {
            return; // already seen: a retransmission
        }
        if seq_delta(start, self.contiguous_end) <= 0 {
            self.contiguous_end = end;
            self.absorb_blocks();
        } else if (self.n_blocks as usize) < MAX_BLOCKS {
            self.blocks[self.n_blocks as usize] = (start, end);
            self.n_blocks += 1;
        } else {
            // Too fragmented to track: treat the newest block as the hole's
            // end, as the data in between is most likely in flight.
            self.contiguous_end = end;
            self.absorb_blocks();
        }
    }

    /// Move blocks that now touch the contiguous prefix into it.
    fn absorb_blocks(&mut self) {
        loop {
            let mut grew = false;
            let mut i = 0;
            while i < self.n_blocks as usize {
                let (s, e) = self.blocks[i];
                if seq_delta(s, self.contiguous_end) <= 0 {
                    if seq_delta(e, self.contiguous_end) > 0 {
                        self.contiguous_end = e;
                        grew = true;
                    }
                    self.n_blocks -= 1;
                    self.blocks[i] = self.blocks[self.n_blocks as usize];
                } else {
                    i += 1;
                }
            }
            if !grew {
                return;
            }
        }
    }

    /// The peer acknowledged everything below `ack`: bytes never seen in
    /// between are a content gap. Returns whether there was one.
    #[inline]
    fn acked(&mut self, ack: u32) -> bool {
        // Mostly an ack of data already seen: nothing to do.
        seq_delta(ack, self.contiguous_end) > 0 && self.acked_beyond(ack)
    }

    /// [`Self::acked`] for an ack beyond the contiguous prefix.
    fn acked_beyond(&mut self, ack: u32) -> bool {
        // The hole is what lies between the prefix and the first block (or the ack).
        let first_block = self.blocks[..self.n_blocks as usize]
            .iter()
            .map(|b| b.0)
            .min_by_key(|s| seq_delta(*s, self.contiguous_end));
        let missing = match first_block {
            Some(s) if seq_delta(s, ack) < 0 => seq_delta(s, self.contiguous_end) > 0,
            _ => true,
        };
        self.contiguous_end = ack;
        self.absorb_blocks();
        missing
    }
}

/// One side of a connection as Zeek tracks it.
#[derive(Clone, Debug, Default)]
pub struct Endpoint {
    pub state: EndpointState,
    prev_state: EndpointState,
    hist_seen: u8,
    start_seq: u32,
    last_seq: u32,
    ack_seq: u32,
    hist_last_syn: u32,
    hist_last_fin: u32,
    hist_last_rst: u32,
    fin_seen: bool,
    /// Relative sequence number just past the FIN.
    fin_seq: u32,
    rxmit: Scaled,
    zero_window: Scaled,
    gap: Scaled,
    stream: StreamCoverage,
}

impl Endpoint {
    fn set_state(&mut self, s: EndpointState) {
        if s != self.state {
            self.prev_state = self.state;
            self.state = s;
        }
    }

    fn init_seqs(&mut self, start: u32, last: u32) {
        self.start_seq = start;
        self.ack_seq = start;
        self.last_seq = last;
    }

    /// Bytes this side sent, from sequence numbers (Zeek's endpoint `size`).
    pub fn size(&self, peer_state: EndpointState) -> u64 {
        if self.prev_state == SynSent && self.state == Reset && peer_state == Inactive {
            // A half-open connection that was discovered and aborted.
            return 0;
        }
        let last = self.last_seq.wrapping_sub(self.start_seq);
        let acked = self.ack_seq.wrapping_sub(self.start_seq);
        let mut size = last.max(acked) as u64;
        // Neither the SYN nor the FIN octet is data.
        size = size.saturating_sub(1);
        if self.fin_seen {
            size = size.saturating_sub(1);
        }
        size
    }
}

/// One TCP segment as the state machine needs it.
#[derive(Clone, Copy, Debug)]
pub struct TcpSegment {
    pub is_orig: bool,
    pub flags: u8,
    pub seq: u32,
    pub ack: u32,
    /// Payload length on the wire.
    pub len: u32,
    /// The whole payload was captured (Zeek only reassembles complete segments).
    pub captured: bool,
    pub window: u16,
}

/// Zeek state for one connection.
#[derive(Clone, Debug, Default)]
pub struct ZeekConn {
    pub orig: Endpoint,
    pub resp: Endpoint,
    history: String,
}

impl ZeekConn {
    /// `flipped`: the originator is the receiver of the first packet
    /// (history starts with '^', as in Zeek).
    pub fn new(flipped: bool) -> Self {
        let mut z = ZeekConn::default();
        if flipped {
            z.history.push('^');
        }
        z
    }

    fn eps(&mut self, is_orig: bool) -> (&mut Endpoint, &mut Endpoint) {
        if is_orig {
            (&mut self.orig, &mut self.resp)
        } else {
            (&mut self.resp, &mut self.orig)
        }
    }

    fn add_history(&mut self, is_orig: bool, c: char) {
        if self.history.len() < MAX_HISTORY {
            self.history
                .push(if is_orig { c } else { c.to_ascii_lowercase() });
        }
    }

    /// Record `c` the first time this kind appears from this side; true if
    /// it had been seen before.
    fn check_history(&mut self, is_orig: bool, mask: u8, c: char) -> bool {
        let ep = self.eps(is_orig).0;
        if ep.hist_seen & mask == 0 {
            ep.hist_seen |= mask;
            self.add_history(is_orig, c);
            false
        } else {
            true
        }
    }

    /// Account one TCP segment (after checksum validation, which pcaplens does not do).
    pub fn on_tcp(&mut self, s: TcpSegment) {
        if !self.on_established_ack(&s) {
            self.on_any_tcp(s);
        }
    }

    /// The bulk of a connection, done in a few steps: a segment with ACK and
    /// no SYN, FIN or RST and an open window, between two endpoints both past
    /// Inactive. Then neither endpoint changes state and only the history
    /// letter ('D' or 'A') and the sequence bookkeeping of
    /// [`Self::on_any_tcp`] move; anything else returns false untouched for
    /// the full path.
    #[inline]
    fn on_established_ack(&mut self, s: &TcpSegment) -> bool {
        let is_orig = s.is_orig;
        let (ep, peer) = self.eps(is_orig);
        if s.flags & (SYN | FIN | RST | ACK) != ACK
            || s.window == 0
            || ep.state == Inactive
            || peer.state == Inactive
        {
            return false;
        }
        let (letter, code) = if s.len > 0 {
            (HIST_DATA, 'D')
        } else {
            (HIST_ACK, 'A')
        };
        if ep.hist_seen & letter == 0 {
            self.check_history(is_orig, letter, code);
        }
        let (ep, peer) = self.eps(is_orig);
        let rel_seq = s.seq.wrapping_sub(ep.start_seq);
        let seq_underflow = seq_delta(s.seq, ep.start_seq) < 0;

        let mut rel_ack = 0u32;
        if seq_delta(s.ack, peer.start_seq) >= 0 {
            rel_ack = s.ack.wrapping_sub(peer.start_seq);
            let delta = seq_delta(s.ack, peer.ack_seq);
            let broken = s.ack == 0 && delta > TOO_LARGE_SEQ_DELTA;
            if delta > 0 && !broken {
                peer.ack_seq = s.ack;
            }
        }

        // update_last_seq without SYN, FIN or RST.
        let one_past = s.seq.wrapping_add(s.len);
        let rxmit = if ep.state == Reset {
            false
        } else if seq_delta(one_past, ep.last_seq) > 0 {
            ep.last_seq = one_past;
            false
        } else {
            s.len > 0
        };
        if rxmit && ep.rxmit.bump() {
            self.add_history(is_orig, 'T');
        }

        if rel_ack != 0 {
            self.ack_received(!is_orig, rel_ack);
        }
        if s.len > 0 && s.captured && !seq_underflow {
            self.eps(is_orig).0.stream.data(rel_seq, s.len);
        }
        true
    }

    fn on_any_tcp(&mut self, s: TcpSegment) {
        let syn = s.flags & SYN != 0;
        let fin = s.flags & FIN != 0;
        let rst = s.flags & RST != 0;
        let ack = s.flags & ACK != 0;
        let is_orig = s.is_orig;

        // Sequence space the segment occupies: SYN and FIN take one octet,
        // data carried by a RST is not part of the stream.
        let seg_len = if rst { 0 } else { s.len } + syn as u32 + fin as u32;
        let one_past = s.seq.wrapping_add(seg_len);

        self.init_endpoint(is_orig, syn, s.seq, one_past);
        let (ep, _) = self.eps(is_orig);
        let rel_seq = s.seq.wrapping_sub(ep.start_seq);
        let seq_underflow = seq_delta(s.seq, ep.start_seq) < 0;

        self.update_history(is_orig, syn, fin, rst, ack, rel_seq, s.len);

        // Zero windows matter unless they come with/after a RST or after the
        // peer's FIN (no window is relevant then).
        let (ep, peer) = self.eps(is_orig);
        if s.window == 0
            && !rst
            && peer.state != Closed
            && ep.state != Reset
            && ep.zero_window.bump()
        {
            self.add_history(is_orig, 'W');
        }

        let (ep, peer) = self.eps(is_orig);
        if fin {
            ep.fin_seen = true;
            ep.fin_seq = rel_seq.wrapping_add(seg_len);
        }

        let mut rel_ack = 0u32;
        if ack {
            if peer.state == Inactive {
                // Number the silent peer as if we had seen its SYN.
                rel_ack = 1;
                let base = s.ack.wrapping_sub(1);
                peer.init_seqs(base, base);
            } else if seq_delta(s.ack, peer.start_seq) < 0 {
                rel_ack = 0; // ack below the peer's ISN: untrustworthy
            } else {
                rel_ack = s.ack.wrapping_sub(peer.start_seq);
                let delta = seq_delta(s.ack, peer.ack_seq);
                let broken = s.ack == 0 && delta > TOO_LARGE_SEQ_DELTA;
                if !rst && delta > 0 && !broken {
                    peer.ack_seq = s.ack;
                }
            }
        }

        let delta_last = self.update_last_seq(is_orig, one_past, syn, fin, rst, s.len);
        self.update_state_machine(is_orig, syn, fin, rst, ack, s.seq, s.ack, s.len, delta_last);

        if ack && rel_ack != 0 {
            self.ack_received(!is_orig, rel_ack);
        }

        if s.len > 0 && s.captured && !rst && !seq_underflow {
            let data_seq = if syn {
                rel_seq.wrapping_add(1)
            } else {
                rel_seq
            };
            self.eps(is_orig).0.stream.data(data_seq, s.len);
        }
    }

    fn init_endpoint(&mut self, is_orig: bool, syn: bool, seq: u32, one_past: u32) {
        let ep = self.eps(is_orig).0;
        match ep.state {
            Inactive => {
                if syn {
                    ep.init_seqs(seq, one_past);
                } else {
                    // Partial connection: number as though a SYN preceded, and
                    // keep this first segment from looking like a retransmission.
                    ep.init_seqs(seq.wrapping_sub(1), seq);
                }
            }
            SynSent | SynAckSent => {
                // A SYN with a new ISN restarts the numbering.
                if syn && seq != ep.start_seq {
                    ep.init_seqs(seq, one_past);
                }
            }
            Established | Partial => {
                // A SYN inside a connection: guess it is the real start.
                if syn {
                    ep.init_seqs(seq, one_past);
                }
            }
            Reset => {
                // Seq numbers set by a (maybe spoofed) RST yield to a real SYN.
                if syn && ep.prev_state == Inactive {
                    ep.init_seqs(seq, one_past);
                }
            }
            Closed => {}
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn update_history(
        &mut self,
        is_orig: bool,
        syn: bool,
        fin: bool,
        rst: bool,
        ack: bool,
        rel_seq: u32,
        len: u32,
    ) {
        let bits = syn as u8 + fin as u8 + rst as u8;
        if bits > 1 {
            if fin && rst {
                self.check_history(is_orig, HIST_FIN_RST, 'I');
            } else {
                self.check_history(is_orig, HIST_MULTI, 'Q');
            }
            return;
        }
        if syn {
            let code = if ack { 'H' } else { 'S' };
            // A repeated SYN counts again only with a different sequence number.
            let last = self.eps(is_orig).0.hist_last_syn;
            if self.check_history(is_orig, HIST_SYN, code) && rel_seq != last {
                self.add_history(is_orig, code);
            }
            self.eps(is_orig).0.hist_last_syn = rel_seq;
        } else if fin {
            // A FIN's sequence number is the one after its data.
            let end = rel_seq.wrapping_add(len);
            let last = self.eps(is_orig).0.hist_last_fin;
            if self.check_history(is_orig, HIST_FIN, 'F') && end != last {
                self.add_history(is_orig, 'F');
            }
            self.eps(is_orig).0.hist_last_fin = end;
        } else if rst {
            let last = self.eps(is_orig).0.hist_last_rst;
            if self.check_history(is_orig, HIST_RST, 'R') && rel_seq != last {
                self.add_history(is_orig, 'R');
            }
            self.eps(is_orig).0.hist_last_rst = rel_seq;
        } else if len > 0 {
            self.check_history(is_orig, HIST_DATA, 'D');
        } else if ack {
            self.check_history(is_orig, HIST_ACK, 'A');
        }
    }

    /// Advance the highest sequence number seen; data that does not advance
    /// it is a retransmission ('T'). Returns the advance (may be negative).
    fn update_last_seq(
        &mut self,
        is_orig: bool,
        one_past: u32,
        syn: bool,
        fin: bool,
        rst: bool,
        len: u32,
    ) -> i32 {
        let ep = self.eps(is_orig).0;
        let delta = seq_delta(one_past, ep.last_seq);
        let mut rxmit = false;
        if (syn || rst) && !(-TOO_LARGE_SEQ_DELTA..=TOO_LARGE_SEQ_DELTA).contains(&delta) {
            // Implausible jump: keep the old value.
        } else if fin && ep.last_seq == ep.start_seq.wrapping_add(1) {
            // Only SYN and FIN seen (e.g. > 2 GiB apart): trust the FIN.
            ep.last_seq = one_past;
        } else if ep.state == Reset {
            // Nothing after a RST is trusted.
        } else if delta > 0 {
            ep.last_seq = one_past;
        } else if len > 0 {
            rxmit = true;
        }
        if rxmit && ep.rxmit.bump() {
            self.add_history(is_orig, 'T');
        }
        delta
    }

    /// `side` received an acknowledgement up to `rel_ack` from its peer.
    #[inline]
    fn ack_received(&mut self, side: bool, rel_ack: u32) {
        let (ep, peer) = self.eps(side);
        // The FIN octet is not data.
        let ack = if ep.fin_seen && seq_delta(rel_ack, ep.fin_seq) >= 0 {
            ep.fin_seq.wrapping_sub(1)
        } else {
            rel_ack
        };
        // Gaps are reported only mid-connection: acks in FINs/RSTs and of
        // partial connections are unreliable.
        let active = ep.state == Established && peer.state == Established;
        if ep.stream.acked(ack) && active && ep.gap.bump() {
            self.add_history(side, 'G');
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn update_state_machine(
        &mut self,
        is_orig: bool,
        syn: bool,
        fin: bool,
        rst: bool,
        ack: bool,
        seq: u32,
        _ack_seq: u32,
        len: u32,
        _delta_last: i32,
    ) {
        let state = self.eps(is_orig).0.state;
        match state {
            Inactive => self.update_inactive(is_orig, syn, fin, rst, ack, seq, len),
            SynSent | SynAckSent => {
                let (ep, _) = self.eps(is_orig);
                if fin {
                    ep.set_state(Closed);
                }
                if rst {
                    ep.set_state(Reset);
                }
            }
            Established | Partial => {
                let (ep, peer) = self.eps(is_orig);
                if syn && ep.state == Partial && peer.state == Inactive && !ack {
                    // A SYN after partial traffic: start over as an attempt.
                    ep.set_state(SynSent);
                }
                if fin && !rst {
                    ep.set_state(Closed);
                    // FIN after the peer's FIN+RST: normal termination after all.
                    if peer.state == Reset && peer.prev_state == Closed {
                        peer.set_state(Closed);
                    }
                }
                if rst {
                    ep.set_state(Reset);
                }
            }
            Closed => {
                let (ep, peer) = self.eps(is_orig);
                // After a full FIN exchange a RST changes nothing.
                if rst && peer.state != Closed {
                    ep.set_state(Reset);
                }
            }
            Reset => {}
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn update_inactive(
        &mut self,
        is_orig: bool,
        syn: bool,
        fin: bool,
        rst: bool,
        ack: bool,
        seq: u32,
        len: u32,
    ) {
        if syn {
            if is_orig {
                self.orig.set_state(if ack { SynAckSent } else { SynSent });
            } else {
                let reversal = !ack && self.orig.state == SynAckSent && seq == self.resp.start_seq;
                if reversal {
                    // SYN-ACK seen before its SYN: Zeek swaps the roles here.
                    // pcaplens keeps orientation from the first packet; the
                    // states still end up established on both sides.
                    self.orig.set_state(Established);
                }
                if self.orig.state == SynSent {
                    self.orig.set_state(Established);
                }
                self.resp.set_state(Established);
            }
        }
        let (ep, _) = self.eps(is_orig);
        if fin {
            ep.set_state(Closed);
        }
        if rst {
            ep.set_state(Reset);
        }
        let (ep, peer) = self.eps(is_orig);
        if ep.state == Inactive {
            let early_ack = !is_orig && len == 0 && peer.state == SynSent;
            if early_ack {
                // Some stacks ack a SYN before answering it: not a partial connection.
            } else if ack && peer.state == Established {
                // SYN-ACK seen, SYN missed, now an ACK: established, not partial.
                ep.set_state(Established);
            } else {
                ep.set_state(Partial);
            }
        }
    }

    pub fn history(&self) -> &str {
        &self.history
    }

    /// Zeek's `conn_state` for a TCP connection.
    pub fn tcp_conn_state(&self) -> &'static str {
        let os = self.orig.state;
        let rs = self.resp.state;
        let o_inactive = os == Inactive || os == Partial;
        let r_inactive = rs == Inactive || rs == Partial;
        if rs == Reset {
            let no_data = self.orig.size(rs) == 0 && self.resp.size(os) == 0;
            if os == SynSent || os == SynAckSent || (os == Reset && no_data) {
                "REJ"
            } else if o_inactive {
                "RSTRH"
            } else {
                "RSTR"
            }
        } else if os == Reset {
            if r_inactive {
                if self.syn_then_rst_history() {
                    "RSTOS0"
                } else {
                    "OTH"
                }
            } else {
                "RSTO"
            }
        } else if rs == Closed && os == Closed {
            "SF"
        } else if os == Closed {
            if r_inactive {
                "SH"
            } else {
                "S2"
            }
        } else if rs == Closed {
            if o_inactive {
                "SHR"
            } else {
                "S3"
            }
        } else if os == SynSent && rs == Inactive {
            "S0"
        } else if os == Established && rs == Established {
            "S1"
        } else {
            "OTH"
        }
    }

    /// History matches `^?S[^HAFGIQ]*R.*`: a SYN, then a RST before any
    /// handshake, ack, FIN, gap or odd flags.
    fn syn_then_rst_history(&self) -> bool {
        let h = self.history.strip_prefix('^').unwrap_or(&self.history);
        let Some(rest) = h.strip_prefix('S') else {
            return false;
        };
        for c in rest.chars() {
            match c {
                'R' => return true,
                'H' | 'A' | 'F' | 'G' | 'I' | 'Q' => return false,
                _ => {}
            }
        }
        false
    }
}

/// Ports that Zeek's base protocol scripts add to `likely_server_ports`
/// (each `redef likely_server_ports += { ports }`), for TCP.
fn likely_tcp_server_port(p: u16) -> bool {
    matches!(
        p,
        21 | 22
            | 25
            | 80
            | 81
            | 88
            | 110
            | 135
            | 139
            | 143
            | 389
            | 443
            | 445
            | 502
            | 563
            | 585
            | 587
            | 614
            | 631
            | 636
            | 989
            | 990
            | 992
            | 993
            | 995
            | 1080
            | 1434
            | 1883
            | 2811
            | 3128
            | 3268
            | 3306
            | 3389
            | 5222
            | 5223
            | 5269
            | 5432
            | 6666..=6669 | 8000 | 8080 | 8888 | 20000
    )
}

/// The same for UDP (DNS, DHCP, Kerberos, NTP, SNMP, syslog, RADIUS, SIP,
/// QUIC/DTLS and the UDP tunnels). DHCP adds 67 only (68 is the client's
/// port), so a server's reply seen first is flipped to the client.
fn likely_udp_server_port(p: u16) -> bool {
    matches!(
        p,
        53 | 67
            | 88
            | 123
            | 137
            | 161
            | 162
            | 389
            | 443
            | 514
            | 1812
            | 2123
            | 2152
            | 3544
            | 4789
            | 5060
            | 5072
            | 5353
            | 5355
            | 6081
            | 20000
    )
}

/// Whether Zeek makes the receiver of a connection's first packet its
/// originator. TCP: only when that packet is not a plain SYN (a partial
/// connection or a SYN-ACK) and its source port looks like a server's; if
/// both ports do, only a non-SYN towards a higher port flips (stealth scans
/// send SYN-ACKs). UDP: when the source port looks like a server's and the
/// destination port does not.
pub fn flip_roles(transport: &crate::decode::Transport<'_>) -> bool {
    use crate::decode::Transport;
    match transport {
        Transport::Tcp(t) => {
            if t.flags & SYN != 0 && t.flags & ACK == 0 {
                return false;
            }
            if !likely_tcp_server_port(t.src_port) {
                return false;
            }
            if likely_tcp_server_port(t.dst_port) {
                t.flags & SYN == 0 && t.src_port < t.dst_port
            } else {
                true
            }
        }
        Transport::Udp(u) => {
            likely_udp_server_port(u.src_port) && !likely_udp_server_port(u.dst_port)
        }
        _ => false,
    }
}

/// Zeek's `conn_state` for connectionless flows: UDP from which sides sent;
/// every other transport (ICMP included) is "OTH".
pub fn connless_conn_state(proto: u8, orig_sent: bool, resp_sent: bool) -> &'static str {
    if proto != 17 {
        return "OTH";
    }
    match (orig_sent, resp_sent) {
        (true, true) => "SF",
        (true, false) => "S0",
        (false, true) => "SHR",
        (false, false) => "OTH",
    }
}

/// History for UDP flows: 'D'/'d' once per side that sent, '^' first when
/// the roles were flipped.
pub fn connless_history(orig_data: bool, resp_data: bool, flipped: bool) -> String {
    let mut s = String::new();
    if flipped {
        s.push('^');
    }
    if orig_data {
        s.push('D');
    }
    if resp_data {
        s.push('d');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(is_orig: bool, flags: u8, seq: u32, ack: u32, len: u32) -> TcpSegment {
        TcpSegment {
            is_orig,
            flags,
            seq,
            ack,
            len,
            captured: true,
            window: 1000,
        }
    }

    #[test]
    fn full_handshake_data_and_close_is_sf() {
        let mut z = ZeekConn::new(false);
        z.on_tcp(seg(true, SYN, 100, 0, 0));
        z.on_tcp(seg(false, SYN | ACK, 500, 101, 0));
        z.on_tcp(seg(true, ACK, 101, 501, 0));
        z.on_tcp(seg(true, ACK, 101, 501, 10));
        z.on_tcp(seg(false, ACK, 501, 111, 20));
        z.on_tcp(seg(true, FIN | ACK, 111, 521, 0));
        z.on_tcp(seg(false, FIN | ACK, 521, 112, 0));
        z.on_tcp(seg(true, ACK, 112, 522, 0));
        assert_eq!(z.history(), "ShADdFf");
        assert_eq!(z.tcp_conn_state(), "SF");
    }

    #[test]
    fn syn_answered_by_rst_is_rej() {
        let mut z = ZeekConn::new(false);
        z.on_tcp(seg(true, SYN, 7, 0, 0));
        z.on_tcp(seg(false, RST | ACK, 0, 8, 0));
        assert_eq!(z.history(), "Sr");
        assert_eq!(z.tcp_conn_state(), "REJ");
    }

    #[test]
    fn retransmitted_data_marks_t_and_ack_beyond_data_marks_g() {
        let mut z = ZeekConn::new(false);
        z.on_tcp(seg(true, SYN, 0, 0, 0));
        z.on_tcp(seg(false, SYN | ACK, 1000, 1, 0));
        z.on_tcp(seg(true, ACK, 1, 1001, 0));
        z.on_tcp(seg(false, ACK, 1001, 1, 100));
        z.on_tcp(seg(false, ACK, 1001, 1, 100)); // retransmission
                                                 // Ack of bytes never seen from the responder: a gap on its side.
        z.on_tcp(seg(true, ACK, 1, 1301, 0));
        assert_eq!(z.history(), "ShAdtg");
        assert_eq!(z.tcp_conn_state(), "S1");
    }

    #[test]
    fn syn_without_answer_then_orig_rst_is_rstos0() {
        let mut z = ZeekConn::new(false);
        z.on_tcp(seg(true, SYN, 0, 0, 0));
        z.on_tcp(seg(true, RST, 1, 0, 0));
        assert_eq!(z.tcp_conn_state(), "RSTOS0");
    }

    fn tcp(src_port: u16, dst_port: u16, flags: u8) -> crate::decode::Transport<'static> {
        crate::decode::Transport::Tcp(crate::decode::Tcp {
            src_port,
            dst_port,
            seq: 0,
            ack: 0,
            flags,
            window: 0,
            header_len: 20,
            payload_len: 0,
            payload: &[],
            options: Default::default(),
        })
    }

    #[test]
    fn originator_is_flipped_as_zeek_does() {
        // A plain SYN never flips, whatever the ports.
        assert!(!flip_roles(&tcp(80, 40000, SYN)));
        // SYN-ACK or mid-stream from a server port: the receiver is the client.
        assert!(flip_roles(&tcp(22, 51880, SYN | ACK)));
        assert!(flip_roles(&tcp(80, 40000, ACK)));
        // ... but not from an unknown port (stealth scans, peer-to-peer).
        assert!(!flip_roles(&tcp(40000, 41000, SYN | ACK)));
        // Both ports plausible: only a non-SYN towards the higher port flips.
        assert!(flip_roles(&tcp(80, 443, ACK)));
        assert!(!flip_roles(&tcp(80, 443, SYN | ACK)));
        assert!(!flip_roles(&tcp(443, 80, ACK)));
    }

    fn udp(src_port: u16, dst_port: u16) -> crate::decode::Transport<'static> {
        crate::decode::Transport::Udp(crate::decode::Udp {
            src_port,
            dst_port,
            payload_len: 0,
            payload: &[],
        })
    }

    #[test]
    fn udp_server_answering_first_is_flipped_as_zeek_does() {
        // A DHCP server's offer or ack seen before the request: the client
        // (port 68, not a server port in Zeek) is the originator.
        assert!(flip_roles(&udp(67, 68)));
        assert!(!flip_roles(&udp(68, 67)));
        // A DNS answer first; but not between two server ports.
        assert!(flip_roles(&udp(53, 41000)));
        assert!(!flip_roles(&udp(41000, 53)));
        assert!(!flip_roles(&udp(53, 5353)));
        // History of a flipped UDP flow starts with '^'.
        assert_eq!(connless_history(false, true, true), "^d");
    }

    #[test]
    fn zero_window_counts_until_the_peer_closes() {
        let mut z = ZeekConn::new(false);
        z.on_tcp(seg(true, SYN, 0, 0, 0));
        z.on_tcp(seg(false, SYN | ACK, 50, 1, 0));
        let mut zero = seg(true, ACK, 1, 51, 0);
        zero.window = 0;
        z.on_tcp(zero);
        z.on_tcp(seg(false, FIN | ACK, 51, 1, 0));
        z.on_tcp(zero); // after the peer's FIN: not interesting
        assert_eq!(z.history(), "ShAWf");
        assert_eq!(z.tcp_conn_state(), "S3");
    }

    #[test]
    fn no_gap_for_acks_of_data_seen_out_of_order() {
        let mut z = ZeekConn::new(false);
        z.on_tcp(seg(true, SYN, 0, 0, 0));
        z.on_tcp(seg(false, SYN | ACK, 1000, 1, 0));
        z.on_tcp(seg(true, ACK, 1, 1001, 0));
        z.on_tcp(seg(false, ACK, 1101, 1, 100)); // second segment first
        z.on_tcp(seg(false, ACK, 1001, 1, 100));
        z.on_tcp(seg(true, ACK, 1, 1201, 0));
        // Zeek calls reordered data a retransmission ('t'), but nothing is missing.
        assert_eq!(z.history(), "ShAdt");
    }

    proptest::proptest! {
        /// The short path for ACK segments leaves the state the full path leaves.
        #[test]
        fn ack_short_path_agrees_with_the_full_path(
            segs in proptest::collection::vec(
                (
                    proptest::prelude::any::<bool>(),
                    proptest::sample::select(vec![ACK, ACK, ACK | 0x08, ACK, SYN, SYN | ACK, FIN | ACK, RST, 0]),
                    0u32..6,
                    0u32..6,
                    0u32..3,
                    0u16..3,
                    proptest::prelude::any::<bool>(),
                ),
                1..40,
            ),
        ) {
            let mut short = ZeekConn::new(false);
            let mut full = ZeekConn::new(false);
            for &(is_orig, flags, seq, ack, len, window, captured) in &segs {
                let base = if is_orig { (1000, 5000) } else { (5000, 1000) };
                let seg = TcpSegment {
                    is_orig,
                    flags,
                    seq: base.0 + seq * 100,
                    ack: base.1 + ack * 100,
                    len: [0, 100, 200][len as usize],
                    captured,
                    window,
                };
                short.on_tcp(seg);
                full.on_any_tcp(seg);
                proptest::prop_assert_eq!(format!("{short:?}"), format!("{full:?}"));
            }
        }
    }

    #[test]
    fn scaled_letters_at_powers_of_ten() {
        let mut s = Scaled::default();
        let hits: Vec<u32> = (1..=120).filter(|_| s.bump()).collect::<Vec<_>>();
        assert_eq!(hits.len(), 3);
    }
}
