//! Wireshark-style TCP sequence analysis, one state per TCP flow.
//!
//! This follows `tcp_analyze_sequence_number` and the surrounding
//! conversation handling of `dissect_tcp` in Wireshark 4.0's `packet-tcp.c`
//! with the preferences of the conformance oracle (sequence analysis on,
//! relative sequence numbers, no out-of-order reassembly, "fast
//! retransmission supersedes out-of-order" on). tshark runs the analysis in
//! its first pass, in frame order, so one forward pass gives the same flags
//! even with `-2`.
//!
//! Wireshark keeps a list of unacknowledged segments per direction; none of
//! the flags depends on it (it only feeds RTO, ACK RTT and bytes in flight),
//! so this state is fixed-size: no list, no allocation per packet.
//!
//! Quirks kept on purpose because tshark has them: a sequence number, ACK
//! number or timestamp of exactly 0 means "not known yet"; time differences
//! are compared as unsigned 64-bit numbers, so a timestamp going backwards
//! never counts as "within" a time window.

/// Analysis flags of one packet (bit values as Wireshark's `TCP_A_*`).
pub mod flags {
    pub const RETRANSMISSION: u32 = 0x0001;
    pub const LOST_PACKET: u32 = 0x0002;
    pub const ACK_LOST_PACKET: u32 = 0x0004;
    pub const KEEP_ALIVE: u32 = 0x0008;
    pub const DUPLICATE_ACK: u32 = 0x0010;
    pub const ZERO_WINDOW: u32 = 0x0020;
    pub const ZERO_WINDOW_PROBE: u32 = 0x0040;
    pub const ZERO_WINDOW_PROBE_ACK: u32 = 0x0080;
    pub const KEEP_ALIVE_ACK: u32 = 0x0100;
    pub const OUT_OF_ORDER: u32 = 0x0200;
    pub const FAST_RETRANSMISSION: u32 = 0x0400;
    pub const WINDOW_UPDATE: u32 = 0x0800;
    pub const WINDOW_FULL: u32 = 0x1000;
    pub const REUSED_PORTS: u32 = 0x2000;
    pub const SPURIOUS_RETRANSMISSION: u32 = 0x4000;
}

use crate::decode::tcp_flags::{ACK, FIN, RST, SYN};

/// What the analysis says about one packet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpPacketAnalysis {
    /// `flags::*` bits as Wireshark stores them (a fast or spurious
    /// retransmission does not carry the plain bit; see [`Self::is_retransmission`]).
    pub flags: u32,
    /// Duplicate ACK number (1, 2, …) when `DUPLICATE_ACK` is set.
    pub dup_ack_num: u32,
    /// Frame of the ACK this one duplicates.
    pub dup_ack_frame: u64,
    /// The analysis ran on this packet (false for fragments and unusable headers).
    pub analysed: bool,
}

impl TcpPacketAnalysis {
    pub fn has(&self, flag: u32) -> bool {
        self.flags & flag != 0
    }

    /// tshark's `tcp.analysis.retransmission`: fast and spurious retransmissions included.
    pub fn is_retransmission(&self) -> bool {
        self.has(
            flags::RETRANSMISSION | flags::FAST_RETRANSMISSION | flags::SPURIOUS_RETRANSMISSION,
        )
    }
}

/// One TCP segment as the analysis needs it.
#[derive(Clone, Copy, Debug, Default)]
pub struct Segment {
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    /// Raw window field (unscaled).
    pub window: u16,
    /// Payload length from the IP length; `None` when unknown (IP fragment,
    /// header longer than the packet): then only conversation state moves.
    pub seglen: Option<u32>,
    /// Window scale option, if present.
    pub wscale: Option<u8>,
    pub ts: i64,
    pub frame: u64,
}

const BASE_SEQ_SET: u8 = 0x01;
const SAW_SYN: u8 = 0x02;
const SAW_SYNACK: u8 = 0x04;

/// Window scale not known yet.
const WS_UNKNOWN: i8 = -1;
/// Known not to be used.
const WS_NONE: i8 = -2;

/// Per-direction state (Wireshark's `tcp_flow_t` + `tcp_analyze_seq_flow_info_t`).
#[derive(Clone, Copy, Debug)]
pub struct DirState {
    pub base_seq: u32,
    static_flags: u8,
    win_scale: i8,
    is_first_ack: bool,
    dupacknum: i32,
    window: u32,
    nextseq: u32,
    maxseqtobeacked: u32,
    lastack: u32,
    lastsegmentflags: u32,
    nextseqtime: i64,
    lastacktime: i64,
    lastnondupack: u64,
}

impl Default for DirState {
    fn default() -> Self {
        DirState {
            base_seq: 0,
            static_flags: 0,
            win_scale: WS_UNKNOWN,
            is_first_ack: false,
            dupacknum: 0,
            window: u32::MAX,
            nextseq: 0,
            maxseqtobeacked: 0,
            lastack: 0,
            lastsegmentflags: 0,
            nextseqtime: 0,
            lastacktime: 0,
            lastnondupack: 0,
        }
    }
}

impl DirState {
    /// The other side ACKed beyond this side's highest contiguous sequence
    /// number ("ACKed unseen segment"), as tshark 4.0 decides it (pinned by
    /// crafted captures run through tshark 4.0.17, see the tests below): when
    /// this side has sent past the boundary (a gap), the boundary moves up to
    /// `nextseq` and the ACK is flagged; otherwise the boundary stays and the
    /// gap is flagged again only if this side sent a new ACK number since
    /// (`dupacknum` back at 0). pcaplens used to move the boundary and apply
    /// the `dupacknum` rule every time, which missed the report after a gap
    /// (live regression: tests/traffic scenario midstream).
    fn ack_beyond_max_seq_to_be_acked(&mut self) -> u32 {
        if lt_seq(self.maxseqtobeacked, self.nextseq) {
            self.maxseqtobeacked = self.nextseq;
            return flags::ACK_LOST_PACKET;
        }
        let ta = if self.dupacknum == 0 {
            flags::ACK_LOST_PACKET
        } else {
            0
        };
        self.dupacknum = -1;
        ta
    }

    /// The first sequence number of this side, once known (Wireshark's base_seq).
    pub fn base_seq(&self) -> Option<u32> {
        (self.static_flags & BASE_SEQ_SET != 0).then_some(self.base_seq)
    }
    pub fn saw_syn(&self) -> bool {
        self.static_flags & SAW_SYN != 0
    }
    pub fn saw_synack(&self) -> bool {
        self.static_flags & SAW_SYNACK != 0
    }

    /// Whether a segment of the other side, `seglen` bytes from `seq`, ends
    /// exactly at the right edge of the window this side advertised
    /// (Wireshark's window-full; never while the scale is unknown).
    #[inline]
    fn window_filled_by(&self, seq: u32, seglen: u32) -> bool {
        if self.win_scale == WS_UNKNOWN {
            return false;
        }
        let shift = if self.is_first_ack || self.win_scale == WS_NONE {
            0
        } else {
            self.win_scale as u32
        };
        let edge = self.lastack.wrapping_add(self.window.wrapping_shl(shift));
        seq.wrapping_add(seglen) == edge
    }
}

/// Analysis state of one TCP connection: [originator side, responder side].
#[derive(Clone, Debug, Default)]
pub struct TcpAnalysis {
    pub dir: [DirState; 2],
    /// Time of the most recent SYN (0 = none), for the initial RTT.
    ts_mru_syn: i64,
    /// Initial RTT, SYN → first pure ACK (0 = not measured yet).
    ts_first_rtt: i64,
}

#[inline]
fn lt_seq(x: u32, y: u32) -> bool {
    (x.wrapping_sub(y) as i32) < 0
}
#[inline]
fn le_seq(x: u32, y: u32) -> bool {
    (x.wrapping_sub(y) as i32) <= 0
}
#[inline]
fn gt_seq(x: u32, y: u32) -> bool {
    (y.wrapping_sub(x) as i32) < 0
}
/// Unsigned nanosecond difference, as tshark's `guint64` arithmetic.
#[inline]
fn since(now: i64, then: i64) -> u64 {
    now.wrapping_sub(then) as u64
}

impl TcpAnalysis {
    /// Initial RTT in nanoseconds, once measured.
    pub fn initial_rtt(&self) -> Option<i64> {
        (self.ts_first_rtt != 0).then_some(self.ts_first_rtt)
    }

    /// A SYN/ACK whose sequence number differs from the side's base makes
    /// Wireshark flag reused ports and adopt the new base (no new stream).
    fn synack_reuse(&mut self, d: usize, seg: &Segment) -> bool {
        let fwd = &mut self.dir[d];
        if seg.flags & (SYN | ACK) == (SYN | ACK)
            && fwd.static_flags & BASE_SEQ_SET != 0
            && seg.seq != fwd.base_seq
        {
            fwd.base_seq = seg.seq;
            return true;
        }
        false
    }

    /// Analyse one segment travelling in direction `d` (0 = from the
    /// originator). `new_reuse` says the flow table just started this
    /// connection because a SYN reused the ports of an older one.
    pub fn on_segment(&mut self, d: usize, seg: &Segment, new_reuse: bool) -> TcpPacketAnalysis {
        if !new_reuse {
            if let Some(out) = self.on_next_in_order(d, seg) {
                return out;
            }
        }
        self.on_any_segment(d, seg, new_reuse)
    }

    /// [`Self::on_segment`] for every kind of segment.
    fn on_any_segment(&mut self, d: usize, seg: &Segment, new_reuse: bool) -> TcpPacketAnalysis {
        let mut out = TcpPacketAnalysis::default();
        if new_reuse || self.synack_reuse(d, seg) {
            out.flags |= flags::REUSED_PORTS;
        }
        if let Some(seglen) = seg.seglen {
            out.analysed = true;
            self.analyze_sequence_number(d, seg, seglen, &mut out);
        }
        let r = 1 - d;
        let f = seg.flags;
        if f & SYN != 0 {
            if f & ACK == 0 {
                self.ts_mru_syn = seg.ts;
            }
            self.dir[d].is_first_ack = true;
        }
        if f & (SYN | ACK) == ACK && self.ts_mru_syn != 0 && self.ts_first_rtt == 0 {
            self.ts_first_rtt = seg.ts.wrapping_sub(self.ts_mru_syn);
        }
        if f & (SYN | ACK) == ACK {
            self.dir[d].is_first_ack = false;
        }
        if let Some(ws) = seg.wscale {
            // RFC 7323: a shift above 14 is used as 14 (and so does Wireshark).
            self.dir[d].win_scale = ws.min(14) as i8;
        }
        if f & SYN != 0 {
            // verify_tcp_window_scaling
            if self.dir[d].win_scale == WS_UNKNOWN {
                self.dir[d].win_scale = WS_NONE;
                self.dir[r].win_scale = WS_NONE;
            } else if f & ACK != 0 && self.dir[r].win_scale == WS_NONE {
                self.dir[d].win_scale = WS_NONE;
            }
        }
        out
    }

    /// The bulk of a connection, in fewer steps: a segment with ACK and no
    /// SYN, FIN or RST, no window-scale option and an open window, that
    /// starts exactly at the next expected sequence number of a side whose
    /// base is known, carries no single byte (probe or keep-alive) and, if
    /// it carries nothing, is no duplicate ACK. Then only window-full,
    /// window-update, ACKed-unseen and spurious-retransmission can apply, as
    /// the full analysis would find; anything else returns None untouched.
    #[inline]
    fn on_next_in_order(&mut self, d: usize, seg: &Segment) -> Option<TcpPacketAnalysis> {
        let seglen = seg.seglen?;
        let (seq, ack, fl) = (seg.seq, seg.ack, seg.flags);
        let window = seg.window as u32;
        let [a, b] = &mut self.dir;
        let (fwd, rev) = if d == 0 { (a, b) } else { (b, a) };
        let repeats = seglen == 0 && window == fwd.window && ack == fwd.lastack;
        if fl & (SYN | FIN | RST | ACK) != ACK
            || seg.wscale.is_some()
            || window == 0
            || fwd.static_flags & rev.static_flags & BASE_SEQ_SET == 0
            || fwd.nextseq == 0
            || seq != fwd.nextseq
            || seglen == 1
            || repeats
        {
            return None;
        }
        let mut ta = 0;
        if seglen == 0 && window != fwd.window && ack == fwd.lastack {
            ta |= flags::WINDOW_UPDATE;
        }
        if seglen > 0 && rev.window_filled_by(seq, seglen) {
            ta |= flags::WINDOW_FULL;
        }
        if ack != fwd.lastack {
            fwd.lastnondupack = seg.frame;
            fwd.dupacknum = 0;
        }
        if rev.maxseqtobeacked != 0 && gt_seq(ack, rev.maxseqtobeacked) {
            ta |= rev.ack_beyond_max_seq_to_be_acked();
        }
        if seglen > 0 && rev.lastack != 0 && le_seq(seq.wrapping_add(seglen), rev.lastack) {
            ta |= flags::SPURIOUS_RETRANSMISSION;
        }
        let nextseq = seq.wrapping_add(seglen);
        if gt_seq(nextseq, fwd.nextseq) {
            fwd.nextseq = nextseq;
            fwd.nextseqtime = seg.ts;
        }
        if seq == fwd.maxseqtobeacked || fwd.maxseqtobeacked == 0 {
            fwd.maxseqtobeacked = fwd.nextseq;
        }
        fwd.window = window;
        fwd.lastack = ack;
        fwd.lastacktime = seg.ts;
        fwd.lastsegmentflags = ta;
        fwd.is_first_ack = false;
        if self.ts_mru_syn != 0 && self.ts_first_rtt == 0 {
            self.ts_first_rtt = seg.ts.wrapping_sub(self.ts_mru_syn);
        }
        Some(TcpPacketAnalysis {
            flags: ta,
            analysed: true,
            ..Default::default()
        })
    }

    fn analyze_sequence_number(
        &mut self,
        d: usize,
        seg: &Segment,
        seglen: u32,
        out: &mut TcpPacketAnalysis,
    ) {
        let (seq, ack, fl) = (seg.seq, seg.ack, seg.flags);
        let window = seg.window as u32;
        let ts = seg.ts;
        let r = 1 - d;
        let [a, b] = &mut self.dir;
        let (fwd, rev) = if d == 0 { (a, b) } else { (b, a) };
        let first_rtt = self.ts_first_rtt;
        let mut ta = out.flags;

        if fwd.static_flags & BASE_SEQ_SET == 0 {
            if fl & SYN != 0 {
                fwd.base_seq = seq;
                fwd.static_flags |= if fl & ACK != 0 { SAW_SYNACK } else { SAW_SYN };
            } else {
                fwd.base_seq = seq.wrapping_sub(1);
            }
            fwd.static_flags |= BASE_SEQ_SET;
        }
        if rev.static_flags & BASE_SEQ_SET == 0 && fl & ACK != 0 {
            rev.base_seq = ack.wrapping_sub(1);
            rev.static_flags |= BASE_SEQ_SET;
        }
        let _ = r;

        'fwd: {
            // Zero-window probe: exactly one byte at the next expected
            // sequence number while the other side advertises 0.
            if seglen == 1 && seq == fwd.nextseq && rev.window == 0 {
                ta |= flags::ZERO_WINDOW_PROBE;
                break 'fwd;
            }
            if window == 0 && fl & (RST | FIN | SYN) == 0 {
                ta |= flags::ZERO_WINDOW;
            }
            // Beyond the highest sequence seen: a segment is missing.
            if fwd.nextseq != 0 && gt_seq(seq, fwd.nextseq) && fl & RST == 0 {
                ta |= flags::LOST_PACKET;
            }
            if (seglen == 0 || seglen == 1)
                && seq == fwd.nextseq.wrapping_sub(1)
                && fl & (SYN | FIN | RST) == 0
            {
                ta |= flags::KEEP_ALIVE;
            }
            if seglen == 0
                && window != 0
                && window != fwd.window
                && seq == fwd.nextseq
                && ack == fwd.lastack
                && fl & (SYN | FIN | RST) == 0
            {
                ta |= flags::WINDOW_UPDATE;
            }
            if seglen > 0 && fl & (SYN | FIN | RST) == 0 && rev.window_filled_by(seq, seglen) {
                ta |= flags::WINDOW_FULL;
            }
            let repeats = seglen == 0
                && window == fwd.window
                && seq == fwd.nextseq
                && ack == fwd.lastack
                && fl & (SYN | FIN | RST) == 0;
            if repeats && window != 0 && rev.lastsegmentflags & flags::KEEP_ALIVE != 0 {
                ta |= flags::KEEP_ALIVE_ACK;
                break 'fwd;
            }
            if repeats && window == 0 && rev.lastsegmentflags & flags::ZERO_WINDOW_PROBE != 0 {
                ta |= flags::ZERO_WINDOW_PROBE_ACK;
                break 'fwd;
            }
            if repeats && window != 0 {
                // -1 (after an "ACKed unseen segment") restarts the count at 1.
                fwd.dupacknum = if fwd.dupacknum == -1 {
                    1
                } else {
                    fwd.dupacknum + 1
                };
                ta |= flags::DUPLICATE_ACK;
                out.dup_ack_num = fwd.dupacknum as u32;
                out.dup_ack_frame = fwd.lastnondupack;
            }
        }

        if ack != fwd.lastack {
            fwd.lastnondupack = seg.frame;
            fwd.dupacknum = 0;
        }

        // ACKs data the other side never showed us.
        if rev.maxseqtobeacked != 0 && gt_seq(ack, rev.maxseqtobeacked) && fl & ACK != 0 {
            ta |= rev.ack_beyond_max_seq_to_be_acked();
        }

        'retrans: {
            if !(seglen > 0 || fl & (SYN | FIN) != 0) {
                break 'retrans;
            }
            let mut seq_not_advanced = fwd.nextseq != 0 && lt_seq(seq, fwd.nextseq);
            if ta & flags::KEEP_ALIVE != 0 {
                break 'retrans;
            }
            // One byte short of nextseq with new data: after a zero-window probe.
            if seglen > 1 && fwd.nextseq.wrapping_sub(1) == seq {
                seq_not_advanced = false;
            }
            if seglen > 0 && rev.lastack != 0 && le_seq(seq.wrapping_add(seglen), rev.lastack) {
                ta |= flags::SPURIOUS_RETRANSMISSION;
                break 'retrans;
            }
            // Fast retransmission (checked first: it supersedes out-of-order).
            if seq_not_advanced
                && rev.dupacknum >= 2
                && rev.lastack == seq
                && since(ts, rev.lastacktime) < 20_000_000
            {
                ta |= flags::FAST_RETRANSMISSION;
                break 'retrans;
            }
            let ooo_thres: u64 = if first_rtt == 0 {
                3_000_000
            } else {
                first_rtt as u64
            };
            let syn_fin = u32::from(fl & (SYN | FIN) != 0);
            if seq_not_advanced
                && since(ts, fwd.nextseqtime) < ooo_thres
                && fwd.nextseq != seq.wrapping_add(seglen).wrapping_add(syn_fin)
            {
                ta |= flags::OUT_OF_ORDER;
                break 'retrans;
            }
            if seq_not_advanced {
                ta |= flags::RETRANSMISSION;
            }
        }

        // SYN and FIN take one sequence number. (Wireshark skips this once
        // 10000 segments are unacknowledged; that limit is not modelled.)
        let mut nextseq = seq.wrapping_add(seglen);
        if fl & (SYN | FIN) != 0 {
            nextseq = nextseq.wrapping_add(1);
        }
        if (gt_seq(nextseq, fwd.nextseq) || fwd.nextseq == 0) && ta & flags::ZERO_WINDOW_PROBE == 0
        {
            fwd.nextseq = nextseq;
            fwd.nextseqtime = ts;
        }
        if (seq == fwd.maxseqtobeacked || fwd.maxseqtobeacked == 0)
            && ta & flags::ZERO_WINDOW_PROBE == 0
        {
            fwd.maxseqtobeacked = fwd.nextseq;
        }
        fwd.window = window;
        fwd.lastack = ack;
        fwd.lastacktime = ts;
        fwd.lastsegmentflags = ta;
        out.flags = ta;
    }
}

#[cfg(test)]
mod tests {
    use super::flags::*;
    use super::*;

    const S: u8 = SYN;
    const A: u8 = ACK;
    const MS: i64 = 1_000_000;

    /// Drive a connection: (dir, seq, ack, flags, len, window, ts_ms).
    fn run(segs: &[(usize, u32, u32, u8, u32, u16, i64)]) -> Vec<TcpPacketAnalysis> {
        let mut t = TcpAnalysis::default();
        segs.iter()
            .enumerate()
            .map(|(i, &(d, seq, ack, fl, len, win, ms))| {
                t.on_segment(
                    d,
                    &Segment {
                        seq,
                        ack,
                        flags: fl,
                        window: win,
                        seglen: Some(len),
                        wscale: None,
                        ts: 1_000_000_000_000 + ms * MS,
                        frame: i as u64 + 1,
                    },
                    false,
                )
            })
            .collect()
    }

    fn handshake() -> Vec<(usize, u32, u32, u8, u32, u16, i64)> {
        vec![
            (0, 1000, 0, S, 0, 65535, 0),
            (1, 5000, 1001, S | A, 0, 65535, 10),
            (0, 1001, 5001, A, 0, 65535, 20),
        ]
    }

    #[test]
    fn clean_handshake_and_data_have_no_flags() {
        let mut s = handshake();
        s.push((0, 1001, 5001, A, 100, 65535, 30));
        s.push((1, 5001, 1101, A, 0, 65535, 40));
        let r = run(&s);
        assert!(r.iter().all(|a| a.flags == 0), "{r:?}");
    }

    #[test]
    fn retransmission_after_rto_and_out_of_order_within_rtt() {
        let mut s = handshake();
        s.push((0, 1001, 5001, A, 100, 65535, 30));
        s.push((0, 1101, 5001, A, 100, 65535, 31));
        // Same data again long after: plain retransmission.
        s.push((0, 1001, 5001, A, 100, 65535, 500));
        let r = run(&s);
        assert!(r[5].has(RETRANSMISSION) && r[5].is_retransmission());
        // Older segment right after a newer one (within the 20 ms iRTT): out of order.
        let mut s = handshake();
        s.push((0, 1101, 5001, A, 100, 65535, 30));
        s.push((0, 1001, 5001, A, 100, 65535, 31));
        let r = run(&s);
        assert!(r[3].has(LOST_PACKET), "{:?}", r[3]);
        assert!(r[4].has(OUT_OF_ORDER) && !r[4].is_retransmission());
    }

    #[test]
    fn dup_acks_then_fast_retransmission() {
        let mut s = handshake();
        s.push((0, 1001, 5001, A, 100, 65535, 30)); // 4
        s.push((0, 1201, 5001, A, 100, 65535, 31)); // 5: 1101 lost
        s.push((1, 5001, 1101, A, 0, 65535, 40)); // 6 ack
        s.push((1, 5001, 1101, A, 0, 65535, 41)); // 7 dup 1
        s.push((1, 5001, 1101, A, 0, 65535, 42)); // 8 dup 2
        s.push((0, 1101, 5001, A, 100, 65535, 45)); // 9 fast retransmission
        let r = run(&s);
        assert!(r[4].has(LOST_PACKET));
        assert!(r[6].has(DUPLICATE_ACK) && r[6].dup_ack_num == 1 && r[6].dup_ack_frame == 6);
        assert_eq!(r[7].dup_ack_num, 2);
        assert!(r[8].has(FAST_RETRANSMISSION) && r[8].is_retransmission());
    }

    #[test]
    fn spurious_retransmission_of_acked_data() {
        let mut s = handshake();
        s.push((0, 1001, 5001, A, 100, 65535, 30));
        s.push((1, 5001, 1101, A, 0, 65535, 40));
        s.push((0, 1001, 5001, A, 100, 65535, 900));
        let r = run(&s);
        assert!(r[5].has(SPURIOUS_RETRANSMISSION) && r[5].is_retransmission());
        assert!(!r[5].has(RETRANSMISSION));
    }

    #[test]
    fn zero_window_probe_and_keep_alive() {
        let mut s = handshake();
        s.push((1, 5001, 1001, A, 0, 0, 30)); // 4 zero window
        s.push((0, 1001, 5001, A, 1, 65535, 40)); // 5 probe
        s.push((1, 5001, 1001, A, 0, 0, 50)); // 6 probe ack
        s.push((0, 1000, 5001, A, 0, 65535, 9000)); // 7 keep-alive (seq = next - 1)
        s.push((1, 5001, 1001, A, 0, 0, 9010)); // 8 not keep-alive ACK: window 0
        let r = run(&s);
        assert!(r[3].has(ZERO_WINDOW));
        assert!(r[4].has(ZERO_WINDOW_PROBE));
        assert!(r[5].has(ZERO_WINDOW_PROBE_ACK) && r[5].has(ZERO_WINDOW));
        assert!(r[6].has(KEEP_ALIVE) && !r[6].is_retransmission());
    }

    #[test]
    fn ack_of_unseen_segment_and_window_update() {
        let mut s = handshake();
        s.push((1, 5001, 1501, A, 0, 65535, 30)); // acks 500 bytes never seen
        s.push((1, 5001, 1501, A, 0, 30000, 31)); // same ack, new window
        let r = run(&s);
        assert!(r[3].has(ACK_LOST_PACKET), "{:?}", r[3]);
        assert!(r[4].has(WINDOW_UPDATE));
    }

    proptest::proptest! {
        /// The short path for in-order segments finds what the full analysis finds.
        #[test]
        fn in_order_short_path_agrees_with_the_full_analysis(
            segs in proptest::collection::vec(
                (
                    0usize..2,
                    0u32..6,
                    0u32..6,
                    proptest::sample::select(vec![A, A, A | 0x08, A, S, S | A, A | 0x01, 0x04, 0]),
                    0u32..4,
                    0u16..3,
                    0i64..40,
                ),
                1..40,
            ),
        ) {
            let mut short = TcpAnalysis::default();
            let mut full = TcpAnalysis::default();
            for (i, &(d, seq, ack, fl, len, win, ms)) in segs.iter().enumerate() {
                let seg = Segment {
                    // Small steps around a base, so that segments meet at the next sequence number.
                    seq: 1000 + seq * 100,
                    ack: 5000 + ack * 100,
                    flags: fl,
                    window: win * 1000,
                    seglen: Some([0, 1, 100, 200][len as usize]),
                    wscale: None,
                    ts: 1_000_000_000 + ms * MS,
                    frame: i as u64 + 1,
                };
                let a = short.on_segment(d, &seg, false);
                let b = full.on_any_segment(d, &seg, false);
                proptest::prop_assert_eq!(a, b);
                proptest::prop_assert_eq!(format!("{short:?}"), format!("{full:?}"));
            }
        }
    }

    #[test]
    fn syn_retransmission_and_synack_reuse() {
        let s = vec![
            (0, 1000, 0, S, 0, 65535, 0),
            (0, 1000, 0, S, 0, 65535, 1000),
            (1, 7000, 1001, S | A, 0, 65535, 1010),
        ];
        let r = run(&s);
        assert!(r[1].has(RETRANSMISSION));
        assert_eq!(r[2].flags, 0);
        let mut t = TcpAnalysis::default();
        let mut seg = Segment {
            seq: 7000,
            ack: 1001,
            flags: S | A,
            seglen: Some(0),
            ts: 5,
            ..Default::default()
        };
        t.on_segment(1, &seg, false);
        seg.seq = 9000;
        assert!(t.on_segment(1, &seg, false).has(REUSED_PORTS));
        assert_eq!(t.dir[1].base_seq(), Some(9000));
    }

    /// A capture that starts mid-stream at a zero window (tests/traffic
    /// scenario midstream; frames and flags as tshark 4.0.17 gives them on
    /// the same segments): the gap after the window opens re-arms "ACKed
    /// unseen segment", repeated ACKs without one do not.
    #[test]
    fn acked_unseen_segment_is_reported_again_after_a_gap() {
        const X: u32 = 2_353_072_494;
        const Y: u32 = 2_808_180_870;
        let r = run(&[
            (1, Y, X + 1, A, 0, 0, 0),      // 1: B's zero window, A's base X
            (0, X, Y, A, 0, 64, 1),         // 2: A's probe at seq X
            (1, Y, X + 1, A, 0, 0, 2),      // 3: ACKed unseen
            (1, Y, X + 1, A, 0, 2896, 3),   // 4: window update, not again
            (0, X + 1, Y, A, 100, 64, 4),   // 5: previous segment not captured
            (0, X + 101, Y, A, 100, 64, 5), // 6
            (1, Y, X + 1, A, 0, 7240, 6),   // 7: ACKed unseen again (gap)
            (1, Y, X + 1, A, 0, 15928, 7),  // 8: not again
        ]);
        let flagged: Vec<usize> = (0..r.len())
            .filter(|&i| r[i].has(ACK_LOST_PACKET))
            .map(|i| i + 1)
            .collect();
        assert_eq!(flagged, vec![3, 7]);
        assert!(r[4].has(LOST_PACKET));
    }

    /// After the boundary moved up, only a new ACK number from the side
    /// re-arms the report (tshark 4.0.17 on the same segments flags 3 and 5).
    #[test]
    fn acked_unseen_segment_after_the_boundary_moved() {
        const X: u32 = 0xFFFF_FF00; // the gap wraps the sequence space
        const Y: u32 = 2_808_180_870;
        let r = run(&[
            (1, Y, X.wrapping_add(1), A, 0, 0, 0),
            (0, X, Y, A, 0, 64, 1),
            (1, Y, X.wrapping_add(1), A, 0, 0, 2), // 3
            (0, X.wrapping_add(1), Y, A, 0x200, 64, 3),
            (1, Y, X.wrapping_add(1), A, 0, 2896, 4), // 5
            (1, Y, X.wrapping_add(1), A, 0, 5000, 5),
        ]);
        let flagged: Vec<usize> = (0..r.len())
            .filter(|&i| r[i].has(ACK_LOST_PACKET))
            .map(|i| i + 1)
            .collect();
        assert_eq!(flagged, vec![3, 5]);
    }
}
