//! What a flow carries for anomaly scoring: a small accumulator updated in
//! O(1) per packet (Welford's running mean and variance). The anomaly module
//! reads the feature vector from it when the flow ends.

use crate::decode::tcp_flags;

/// Running mean and variance (Welford), numerically stable in one pass.
#[derive(Clone, Copy, Debug, Default)]
pub struct Welford {
    /// Count as f64: no integer conversion on the per-packet path.
    n: f64,
    mean: f64,
    m2: f64,
}

impl Welford {
    #[inline(always)]
    pub fn push(&mut self, x: f64) {
        self.n += 1.0;
        let d = x - self.mean;
        self.mean += d / self.n;
        self.m2 += d * (x - self.mean);
    }
    pub fn mean(&self) -> f64 {
        self.mean
    }
    /// Population standard deviation (0 below two values).
    pub fn std(&self) -> f64 {
        if self.n < 2.0 {
            0.0
        } else {
            (self.m2 / self.n).max(0.0).sqrt()
        }
    }
}

/// What a flow carries for anomaly scoring: per direction, packet size and
/// inter-arrival time statistics; TCP flag and retransmission counts.
#[derive(Clone, Copy, Debug, Default)]
pub struct FlowAcc {
    pub(crate) size: [Welford; 2],
    /// Inter-arrival times in seconds, per direction.
    pub(crate) iat: [Welford; 2],
    /// Timestamp of the direction's previous packet (0 = none yet).
    last_ts: [i64; 2],
    /// TCP segments with FIN, SYN, RST, PSH, ACK (both directions), as five
    /// 12-bit lanes added in one step per packet; folded into `flags` before
    /// a lane can overflow.
    lanes: u64,
    pending: u16,
    flags: [u32; 5],
    pub(crate) retransmissions: u32,
}

/// FIN, SYN, RST, PSH and ACK are the low five bits of the flags byte.
const FLAG_MASK: u8 =
    tcp_flags::FIN | tcp_flags::SYN | tcp_flags::RST | tcp_flags::PSH | tcp_flags::ACK;
const LANE_BITS: u32 = 12;
const LANE_MAX: u16 = (1 << LANE_BITS) - 1;

/// Lane increments for each combination of the five flags.
const LANE_INC: [u64; 32] = {
    let mut t = [0u64; 32];
    let mut f = 0;
    while f < 32 {
        let mut b = 0;
        while b < 5 {
            if f & (1 << b) != 0 {
                t[f] += 1 << (LANE_BITS * b);
            }
            b += 1;
        }
        f += 1;
    }
    t
};

impl FlowAcc {
    /// Nanoseconds since the previous packet in direction `d`, if any.
    #[inline]
    pub fn gap(&self, d: usize, ts: i64) -> Option<i64> {
        (self.last_ts[d] != 0).then(|| (ts - self.last_ts[d]).max(0))
    }

    /// Account one packet: direction `d` (0 = from the originator), wire
    /// length, TCP flags (0 for other transports), whether TCP analysis
    /// called it a retransmission.
    #[inline(always)]
    pub fn on_packet(&mut self, d: usize, ts: i64, wire_len: u32, flags: u8, retransmission: bool) {
        let d = d & 1;
        self.size[d].push(wire_len as f64);
        if let Some(g) = self.gap(d, ts) {
            self.iat[d].push(g as f64 * 1e-9);
        }
        // 0 marks "none yet"; a capture at the epoch loses one gap, harmlessly.
        self.last_ts[d] = ts;
        self.lanes += LANE_INC[(flags & FLAG_MASK) as usize];
        self.pending += 1;
        if self.pending == LANE_MAX {
            self.fold_lanes();
        }
        self.retransmissions += retransmission as u32;
    }

    #[cold]
    fn fold_lanes(&mut self) {
        for (b, c) in self.flags.iter_mut().enumerate() {
            *c += ((self.lanes >> (LANE_BITS as usize * b)) & LANE_MAX as u64) as u32;
        }
        self.lanes = 0;
        self.pending = 0;
    }

    /// Packets with FIN, SYN, RST, PSH, ACK.
    pub fn flag_counts(&self) -> [u32; 5] {
        let mut c = self.flags;
        for (b, c) in c.iter_mut().enumerate() {
            *c += ((self.lanes >> (LANE_BITS as usize * b)) & LANE_MAX as u64) as u32;
        }
        c
    }
}
