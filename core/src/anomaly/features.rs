//! Per-flow features: a small accumulator updated in O(1) per packet
//! (Welford's running mean and variance) and the feature vector read from it
//! when the flow finishes.

#[cfg(test)]
use crate::decode::tcp_flags;
use crate::flow::Flow;

pub use crate::flow::features::{FlowAcc, Welford};

/// How a feature is stored in the vector and shown to people.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scale {
    /// Stored as ln(1 + x): heavy-tailed counts, bytes, durations.
    Log1p,
    /// Stored as is.
    Linear,
    /// A category code (see [`FEATURES`] docs).
    Code,
}

/// One feature: name (CSV column and report), unit, storage scale.
#[derive(Clone, Copy, Debug)]
pub struct Feature {
    pub name: &'static str,
    pub unit: &'static str,
    pub scale: Scale,
}

const fn feat(name: &'static str, unit: &'static str, scale: Scale) -> Feature {
    Feature { name, unit, scale }
}

/// The feature vector, in order. Codes: `resp_port_class` 0 well-known
/// (< 1024), 1 registered (1024–49151), 2 ephemeral (≥ 49152), 3 no port;
/// `transport` 0 tcp, 1 udp, 2 icmp/icmpv6, 3 other; `conn_state_class`
/// see [`conn_state_class`].
pub const FEATURES: [Feature; DIMS] = [
    feat("duration", "s", Scale::Log1p),
    feat("orig_packets", "packets", Scale::Log1p),
    feat("resp_packets", "packets", Scale::Log1p),
    feat("orig_bytes", "bytes", Scale::Log1p),
    feat("resp_bytes", "bytes", Scale::Log1p),
    feat("orig_size_mean", "bytes", Scale::Linear),
    feat("orig_size_std", "bytes", Scale::Linear),
    feat("resp_size_mean", "bytes", Scale::Linear),
    feat("resp_size_std", "bytes", Scale::Linear),
    feat("orig_iat_mean", "ms", Scale::Log1p),
    feat("orig_iat_std", "ms", Scale::Log1p),
    feat("resp_iat_mean", "ms", Scale::Log1p),
    feat("resp_iat_std", "ms", Scale::Log1p),
    feat("syn_share", "share of packets", Scale::Linear),
    feat("fin_share", "share of packets", Scale::Linear),
    feat("rst_share", "share of packets", Scale::Linear),
    feat("psh_share", "share of packets", Scale::Linear),
    feat("ack_share", "share of packets", Scale::Linear),
    feat("retransmission_share", "share of packets", Scale::Linear),
    feat("resp_port_class", "code", Scale::Code),
    feat("transport", "code", Scale::Code),
    feat("conn_state_class", "code", Scale::Code),
];

/// Number of features.
pub const DIMS: usize = 22;

/// Zeek conn_state grouped by what it says about the exchange:
/// 0 established (SF, S1), 1 half-closed (S2, S3), 2 reset after
/// establishment (RSTO, RSTR), 3 rejected (REJ), 4 unanswered (S0),
/// 5 no handshake seen (SH, SHR, RSTOS0, RSTRH), 6 other (OTH).
pub fn conn_state_class(state: &str) -> u8 {
    match state {
        "SF" | "S1" => 0,
        "S2" | "S3" => 1,
        "RSTO" | "RSTR" => 2,
        "REJ" => 3,
        "S0" => 4,
        "SH" | "SHR" | "RSTOS0" | "RSTRH" => 5,
        _ => 6,
    }
}

/// Category names of the coded features (for explanations).
pub fn code_name(feature: &str, code: f64) -> &'static str {
    let c = code as i64;
    match feature {
        "resp_port_class" => ["well-known", "registered", "ephemeral", "none"]
            .get(c as usize)
            .copied()
            .unwrap_or("?"),
        "transport" => ["tcp", "udp", "icmp", "other"]
            .get(c as usize)
            .copied()
            .unwrap_or("?"),
        "conn_state_class" => [
            "established",
            "half-closed",
            "reset",
            "rejected",
            "unanswered",
            "no handshake",
            "other",
        ]
        .get(c as usize)
        .copied()
        .unwrap_or("?"),
        _ => "?",
    }
}

fn port_class(proto: u8, port: u16) -> f32 {
    if proto != 6 && proto != 17 && proto != 132 {
        3.0
    } else if port < 1024 {
        0.0
    } else if port < 49152 {
        1.0
    } else {
        2.0
    }
}

/// ln(1 + x) for x ≥ 0, from basic IEEE operations only (identical on every
/// platform), accurate to ~1e-15: far below the f32 the features are kept in.
pub fn log1p(x: f64) -> f32 {
    ln(1.0 + x.max(0.0)) as f32
}

/// Natural log of x ≥ 1 (or any normal x > 0): mantissa reduced to
/// [√½, √2), then the atanh series to z^17 (|z| ≤ 0.172).
fn ln(x: f64) -> f64 {
    if !x.is_finite() || x <= 0.0 {
        return if x == f64::INFINITY { x } else { 0.0 };
    }
    let bits = x.to_bits();
    let mut e = ((bits >> 52) & 0x7ff) as i64 - 1023;
    let mut m = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000);
    if m > std::f64::consts::SQRT_2 {
        m *= 0.5;
        e += 1;
    }
    let z = (m - 1.0) / (m + 1.0);
    let z2 = z * z;
    let mut p = 1.0 / 17.0;
    for k in [15.0, 13.0, 11.0, 9.0, 7.0, 5.0, 3.0, 1.0] {
        p = p * z2 + 1.0 / k;
    }
    e as f64 * std::f64::consts::LN_2 + 2.0 * z * p
}

/// The feature vector of a finished flow (see [`FEATURES`]).
pub fn extract(f: &Flow) -> [f32; DIMS] {
    let a = &f.anomaly;
    let packets = f.packets().max(1) as f64;
    let share = |c: u32| (c as f64 / packets) as f32;
    let ms = |s: f64| log1p(s * 1e3);
    let [fin, syn, rst, psh, ack] = a.flag_counts();
    [
        log1p((f.last_ts - f.first_ts).max(0) as f64 / 1e9),
        log1p(f.dir[0].packets as f64),
        log1p(f.dir[1].packets as f64),
        log1p(f.dir[0].bytes as f64),
        log1p(f.dir[1].bytes as f64),
        a.size[0].mean() as f32,
        a.size[0].std() as f32,
        a.size[1].mean() as f32,
        a.size[1].std() as f32,
        ms(a.iat[0].mean()),
        ms(a.iat[0].std()),
        ms(a.iat[1].mean()),
        ms(a.iat[1].std()),
        share(syn),
        share(fin),
        share(rst),
        share(psh),
        share(ack),
        share(a.retransmissions),
        port_class(f.proto, f.resp_port),
        match f.proto {
            6 => 0.0,
            17 => 1.0,
            1 | 58 => 2.0,
            _ => 3.0,
        },
        conn_state_class(f.conn_state()) as f32,
    ]
}

/// A stored value back in the feature's own unit (seconds, bytes, ms, …).
pub fn natural(feature: &Feature, stored: f32) -> f64 {
    match feature.scale {
        Scale::Log1p => exp_m1(stored as f64),
        Scale::Linear | Scale::Code => stored as f64,
    }
}

/// e^x − 1 from basic operations (via the forest's exp2).
fn exp_m1(x: f64) -> f64 {
    super::forest::exp2(x / std::f64::consts::LN_2) - 1.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn welford_matches_two_pass() {
        let xs = [60.0, 1514.0, 60.0, 590.0, 1514.0, 1514.0, 66.0];
        let mut w = Welford::default();
        for &x in &xs {
            w.push(x);
        }
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / xs.len() as f64;
        assert!((w.mean() - mean).abs() < 1e-9);
        assert!((w.std() - var.sqrt()).abs() < 1e-9);
    }

    #[test]
    fn accumulator_counts_gaps_and_flags() {
        let mut a = FlowAcc::default();
        a.on_packet(0, 1_000_000_000, 74, tcp_flags::SYN, false);
        a.on_packet(1, 1_010_000_000, 74, tcp_flags::SYN | tcp_flags::ACK, false);
        a.on_packet(0, 1_020_000_000, 66, tcp_flags::ACK, false);
        a.on_packet(0, 1_040_000_000, 66, tcp_flags::ACK, true);
        assert_eq!(a.flag_counts(), [0, 2, 0, 0, 3]);
        assert_eq!(a.retransmissions, 1);
        // Gaps from the originator: 20 ms and 20 ms.
        assert!((a.iat[0].mean() - 0.02).abs() < 1e-12);
        assert_eq!(a.iat[0].std(), 0.0);
        assert_eq!(a.iat[1].mean(), 0.0);
        // Lanes fold before they overflow.
        for _ in 0..10_000 {
            a.on_packet(1, 2_000_000_000, 60, tcp_flags::ACK | tcp_flags::FIN, false);
        }
        assert_eq!(a.flag_counts(), [10_000, 2, 0, 0, 10_003]);
    }

    #[test]
    fn own_log_matches_std() {
        for &x in &[0.0, 1e-9, 0.3, 1.0, 59.0, 1514.0, 3.7e6, 1e12] {
            let ours = super::ln(1.0 + x);
            let std = (1.0f64 + x).ln();
            assert!(
                (ours - std).abs() <= 1e-14 * std.max(1.0),
                "{x}: {ours} vs {std}"
            );
        }
    }

    #[test]
    fn names_are_unique() {
        let mut names: Vec<&str> = FEATURES.iter().map(|f| f.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), DIMS);
    }
}
