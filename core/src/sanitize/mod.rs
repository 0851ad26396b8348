//! Sanitisation you can prove: a keyed, consistent, length-preserving
//! rewrite of a capture, and a leak audit of the result.
//!
//! ```text
//! bytes ─► capture::Reader ─► record copied as is ─► packet: FrameRewrite in place
//!                                                      (link, IP, ICMP, protocol walkers,
//!                                                       checksums innermost first)
//!            metadata blocks ─► options blanked / pseudonymised
//! output ─► audit::LeakAudit (re-parse + search for every original)
//! ```
//!
//! * Same container out as in: pcap stays pcap, pcapng stays pcapng, every
//!   record keeps its length (unless the `truncate` policy cuts payload, and
//!   then only the captured length shrinks; the original length is kept).
//! * Keyed and consistent: one [`Pseudonymizer`] per key (see `pseudo`).
//! * Fail closed: bytes a walker cannot parse are zeroed and the frame counted.
//! * Streaming and sans-IO: `feed` chunks of any size, get output bytes back.
//!
//! ## Layout
//!
//! Layers, each using only those below it (no import cycle; CI runs
//! `tests/check_module_cycles.py`):
//!
//! ```text
//! mod, audit        the Sanitizer (records in, records out), the leak audit
//! packet            one frame: link, IP, ICMP, UDP by port → the walkers
//! tcp               one segment, from where its direction's stream stands
//! tls, der, dns,    one walker per protocol; tls hands certificate messages
//! dhcp, http,       to der, DHCP's client-FQDN option is a DNS wire name
//! quic_initial
//! cut               text a segment boundary cuts (server names, DER strings)
//! rewrite           the frame rewrite: original and output bytes, the
//!                   pseudonymizer, policy, counters, checksums, URIs
//! stream            what is remembered between frames (state, no walking)
//! text, pseudo      secrets in free text; the keyed pseudonymizer
//! ```

pub mod audit;
pub mod cryptopan;
mod cut;
mod der;
mod dhcp;
mod dns;
mod http;
mod packet;
pub mod pseudo;
mod quic_initial;
mod rewrite;
mod stream;
mod tcp;
pub mod text;
mod tls;

pub use audit::{AuditReport, LeakAudit};
pub use pseudo::{Originals, Pseudonymizer};
pub use stream::{CutNames, QuicHellos};

use crate::capture::{Event, MetaKind, Reader, LINK_PCAPNG_CUSTOM_BLOCK, LINK_SYSTEMD_JOURNAL};
use crate::error::{CaptureError, ErrorInfo};
use serde::Serialize;

/// What happens to payload no walker understands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PayloadPolicy {
    /// Zero it (default).
    #[default]
    Redact,
    /// Keep it, with identifiers and secrets found in it replaced.
    Keep,
    /// Cut it from the record (captured length shrinks; wire length kept).
    Truncate,
}

impl std::str::FromStr for PayloadPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "redact" => Ok(Self::Redact),
            "keep" => Ok(Self::Keep),
            "truncate" => Ok(Self::Truncate),
            other => Err(format!(
                "unknown payload policy {other:?} (redact, keep, truncate)"
            )),
        }
    }
}

#[derive(Clone, Debug)]
pub struct SanitizeConfig {
    /// Secret key (≥ 16 bytes; 32 recommended — used as the Crypto-PAn key as is).
    pub key: Vec<u8>,
    pub payload_policy: PayloadPolicy,
    /// Keep private, loopback, link-local, CGNAT and multicast prefixes recognisable.
    pub keep_special_ranges: bool,
    /// Shift every timestamp by one keyed offset (whole seconds; intervals kept).
    pub time_shift: bool,
    /// Keep the pseudonym → original table (for `--map` / `unmask`).
    pub collect_map: bool,
    /// QUIC ClientHellos learned by an earlier pass over the same capture
    /// ([`Sanitizer::second_pass`]).
    pub quic_hellos: QuicHellos,
    /// TLS server names cut by TCP segments, learned likewise.
    pub tls_cut_names: CutNames,
}

impl SanitizeConfig {
    pub fn new(key: Vec<u8>) -> Self {
        SanitizeConfig {
            key,
            payload_policy: PayloadPolicy::Redact,
            keep_special_ranges: false,
            time_shift: false,
            collect_map: false,
            quic_hellos: QuicHellos::default(),
            tls_cut_names: CutNames::default(),
        }
    }
}

/// Occurrence counters (how many rewrites of each kind were made).
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct Counters {
    pub frames: u64,
    pub ip_rewrites: u64,
    pub mac_rewrites: u64,
    pub dns_names: u64,
    pub dns_rdata_by_policy: u64,
    pub http_headers: u64,
    pub secrets: u64,
    pub tls_names: u64,
    pub quic_initials_redacted: u64,
    /// Client Initials decrypted, SNI rewritten and protected again.
    pub quic_initials_rewritten: u64,
    pub checksums_updated: u64,
    pub bytes_redacted: u64,
    pub bytes_kept: u64,
    pub non_ip_frames: u64,
    pub unknown_link_frames: u64,
    /// Frames with bytes zeroed because they could not be parsed (fail closed).
    pub frames_failed_closed: u64,
    pub frames_truncated: u64,
    /// Frames with non-zero bytes after the IP packet (trailers), zeroed.
    pub trailers_redacted: u64,
    pub metadata_options_blanked: u64,
    pub metadata_blocks_redacted: u64,
    pub timestamps_shifted: u64,
}

/// Distinct originals replaced, per identifier class.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct ClassCounts {
    pub ipv4: usize,
    pub ipv6: usize,
    pub mac: usize,
    pub dns_name: usize,
    pub secret: usize,
}

impl ClassCounts {
    pub fn of(o: &Originals) -> Self {
        ClassCounts {
            ipv4: o.ipv4.len(),
            ipv6: o.ipv6.len(),
            mac: o.mac.len(),
            dns_name: o.dns_names.len(),
            secret: o.secrets.len(),
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct SanitizeSummary {
    pub format: Option<crate::capture::Format>,
    pub payload_policy: PayloadPolicy,
    pub keep_special_ranges: bool,
    pub time_shifted: bool,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub distinct_identifiers: ClassCounts,
    pub counters: Counters,
    /// Set when the input was damaged: the output covers everything before it.
    pub error: Option<ErrorInfo>,
}

#[derive(Clone, Copy, Debug)]
struct PcapHdr {
    big: bool,
}

struct Rewriter {
    pseudonymizer: Pseudonymizer,
    policy: PayloadPolicy,
    counters: Counters,
    pcap: Option<PcapHdr>,
    ng_big: bool,
    /// Timestamp units per second of each interface of the current section.
    ng_units: Vec<u64>,
    shift_secs: i64,
    bytes_out: u64,
    streams: stream::Streams,
    quic: stream::QuicState,
    /// The leak audit's re-scan only collects identifiers: no checksums.
    collect_only: bool,
}

/// Streaming sanitiser. See the module documentation.
pub struct Sanitizer {
    reader: Reader,
    rw: Rewriter,
    cfg: SanitizeConfig,
    bytes_in: u64,
    error: Option<CaptureError>,
}

/// The key is too short to be a key.
#[derive(Clone, Debug, thiserror::Error)]
#[error("sanitize key must be at least 16 bytes, got {0}")]
pub struct KeyTooShort(pub usize);

impl Sanitizer {
    pub fn new(cfg: SanitizeConfig) -> Result<Self, KeyTooShort> {
        if cfg.key.len() < 16 {
            return Err(KeyTooShort(cfg.key.len()));
        }
        let ps = Pseudonymizer::new(&cfg.key, cfg.keep_special_ranges, cfg.collect_map);
        let shift_secs = if cfg.time_shift {
            ps.time_shift_secs()
        } else {
            0
        };
        Ok(Sanitizer {
            reader: Reader::new(),
            rw: Rewriter {
                pseudonymizer: ps,
                policy: cfg.payload_policy,
                counters: Counters::default(),
                pcap: None,
                ng_big: false,
                ng_units: Vec::new(),
                shift_secs,
                bytes_out: 0,
                streams: stream::Streams::new(cfg.tls_cut_names.clone()),
                quic: stream::QuicState::new(cfg.quic_hellos.clone()),
                collect_only: false,
            },
            cfg,
            bytes_in: 0,
            error: None,
        })
    }

    /// Feed the next chunk; sanitised bytes are appended to `out`.
    /// After a capture error, further input is ignored and the error kept.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<u8>) -> Result<(), CaptureError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        self.bytes_in += chunk.len() as u64;
        let rw = &mut self.rw;
        let before = out.len();
        let r = self.reader.push(chunk, &mut |ev| rw.on_event(ev, out));
        rw.bytes_out += (out.len() - before) as u64;
        if let Err(e) = &r {
            self.error = Some(e.clone());
        }
        r
    }

    /// End of input. The summary carries the error if the capture was damaged.
    pub fn finish(&mut self) -> SanitizeSummary {
        if self.error.is_none() {
            if let Err(e) = self.reader.finish() {
                self.error = Some(e);
            }
        }
        SanitizeSummary {
            format: self.reader.info().format,
            payload_policy: self.cfg.payload_policy,
            keep_special_ranges: self.cfg.keep_special_ranges,
            time_shifted: self.cfg.time_shift,
            bytes_in: self.bytes_in,
            bytes_out: self.rw.bytes_out,
            distinct_identifiers: ClassCounts::of(self.rw.pseudonymizer.originals()),
            counters: self.rw.counters.clone(),
            error: self
                .error
                .as_ref()
                .map(|e| ErrorInfo::new(e, self.reader.frames() + 1)),
        }
    }

    /// The pseudonymiser (originals seen, the map, the mapping functions).
    /// Walk only to collect identifiers (the leak audit's re-scan): the
    /// output's checksums are not maintained.
    pub(crate) fn collect_only(&mut self) {
        self.rw.collect_only = true;
    }

    /// After [`Sanitizer::finish`]: the configuration of a second pass over
    /// the same capture, when this one zeroed QUIC Initials, or pieces of
    /// TLS server names, that a second pass can rewrite. A browser spreads
    /// its ClientHello over two Initials and shuffles the pieces: the SNI's
    /// place is only known from the last one, after the earlier packets were
    /// written; over TCP, a segment boundary may cut the name itself. The
    /// second pass, told where each such name is, rewrites it in every
    /// packet. None: one pass was enough.
    pub fn second_pass(&self) -> Option<SanitizeConfig> {
        let hellos = self.rw.quic.for_second_pass();
        let cuts = self.rw.streams.cuts.for_second_pass();
        if hellos.is_none() && cuts.is_none() {
            return None;
        }
        let mut cfg = self.cfg.clone();
        cfg.quic_hellos.extend(hellos.unwrap_or_default());
        cfg.tls_cut_names.extend(cuts.unwrap_or_default());
        Some(cfg)
    }

    pub fn pseudonymizer(&self) -> &Pseudonymizer {
        &self.rw.pseudonymizer
    }

    pub fn into_pseudonymizer(self) -> Pseudonymizer {
        self.rw.pseudonymizer
    }
}

/// Sanitise a whole capture in memory.
pub fn sanitize_bytes(
    input: &[u8],
    cfg: SanitizeConfig,
) -> Result<(Vec<u8>, SanitizeSummary, Pseudonymizer), KeyTooShort> {
    let mut s = Sanitizer::new(cfg)?;
    let mut out = Vec::with_capacity(input.len());
    let _ = s.feed(input, &mut out);
    let mut summary = s.finish();
    if let Some(cfg) = s.second_pass() {
        s = Sanitizer::new(cfg)?;
        out.clear();
        let _ = s.feed(input, &mut out);
        summary = s.finish();
    }
    Ok((out, summary, s.into_pseudonymizer()))
}

fn rd16(b: &[u8], at: usize, big: bool) -> u16 {
    let a = [b[at], b[at + 1]];
    if big {
        u16::from_be_bytes(a)
    } else {
        u16::from_le_bytes(a)
    }
}

fn rd32(b: &[u8], at: usize, big: bool) -> u32 {
    let a = [b[at], b[at + 1], b[at + 2], b[at + 3]];
    if big {
        u32::from_be_bytes(a)
    } else {
        u32::from_le_bytes(a)
    }
}

fn wr32(b: &mut [u8], at: usize, v: u32, big: bool) {
    let a = if big {
        v.to_be_bytes()
    } else {
        v.to_le_bytes()
    };
    b[at..at + 4].copy_from_slice(&a);
}

const CUSTOM_OPTS: [u16; 4] = [2988, 2989, 19372, 19373];

impl Rewriter {
    fn on_event(&mut self, ev: Event<'_>, out: &mut Vec<u8>) {
        match ev {
            Event::Meta { kind, raw, .. } => self.on_meta(kind, raw, out),
            // The block itself was handled (scrubbed) as metadata.
            Event::Secrets { .. } => {}
            // Custom blocks and journal entries are reported as frames (so the
            // analysis counts them), but the record is the whole block: scrub
            // it as metadata, keeping its type and lengths.
            Event::Record(rec)
                if matches!(
                    rec.link_type,
                    LINK_PCAPNG_CUSTOM_BLOCK | LINK_SYSTEMD_JOURNAL
                ) =>
            {
                self.counters.frames += 1;
                let kind = if rec.link_type == LINK_PCAPNG_CUSTOM_BLOCK {
                    MetaKind::Custom
                } else {
                    MetaKind::Other
                };
                self.on_meta(kind, rec.raw, out);
            }
            Event::Record(rec) => {
                let start = out.len();
                out.extend_from_slice(rec.raw);
                let doff = (rec.data.as_ptr() as usize).saturating_sub(rec.raw.as_ptr() as usize);
                let dlen = rec.data.len();
                self.counters.frames += 1;
                let keep = {
                    let out_data = &mut out[start + doff..start + doff + dlen];
                    let mut f = rewrite::FrameRewrite::new(
                        rec.data,
                        out_data,
                        &mut self.pseudonymizer,
                        self.policy,
                        &mut self.counters,
                        &mut self.streams,
                        &mut self.quic,
                    );
                    f.skip_checksums = self.collect_only;
                    f.run(rec.link_type)
                };
                match self.pcap {
                    Some(h) => self.pcap_record(out, start, keep, dlen, h),
                    None => self.ng_record(out, start, doff, keep, dlen),
                }
            }
        }
    }

    fn shift_pcap_ts(&mut self, rec: &mut [u8], big: bool) {
        if self.shift_secs == 0 {
            return;
        }
        let ts = rd32(rec, 0, big) as i64 + self.shift_secs;
        if let Ok(t) = u32::try_from(ts) {
            wr32(rec, 0, t, big);
            self.counters.timestamps_shifted += 1;
        }
    }

    fn pcap_record(
        &mut self,
        out: &mut Vec<u8>,
        start: usize,
        keep: usize,
        dlen: usize,
        h: PcapHdr,
    ) {
        self.shift_pcap_ts(&mut out[start..], h.big);
        if keep < dlen {
            wr32(&mut out[start..], 8, keep as u32, h.big);
            let hdr = out.len() - start - dlen;
            out.truncate(start + hdr + keep);
            self.counters.frames_truncated += 1;
        }
    }

    fn ng_record(
        &mut self,
        out: &mut Vec<u8>,
        start: usize,
        doff: usize,
        keep: usize,
        dlen: usize,
    ) {
        let big = self.ng_big;
        let block_type = rd32(out, start, big);
        let block_len = out.len() - start;
        if block_type == 6 && block_len >= 32 {
            let if_id = rd32(out, start + 8, big) as usize;
            if self.shift_secs != 0 {
                let units = self.ng_units.get(if_id).copied().unwrap_or(1_000_000);
                let ts =
                    ((rd32(out, start + 12, big) as u64) << 32) | rd32(out, start + 16, big) as u64;
                if let Some(t) = (self.shift_secs as u64)
                    .checked_mul(units)
                    .and_then(|d| ts.checked_add(d))
                {
                    wr32(&mut out[start..], 12, (t >> 32) as u32, big);
                    wr32(&mut out[start..], 16, t as u32, big);
                    self.counters.timestamps_shifted += 1;
                }
            }
            let opt_start = start + doff + ((dlen + 3) & !3);
            let opt_end = out.len() - 4;
            self.options(out, opt_start, opt_end, |rw, code, v| match code {
                1 => rw.blank(v),
                3 => v.fill(0),
                2 | 4..=7 => {}
                _ => v.fill(0),
            });
            if keep < dlen {
                // Rebuild: header, shortened data, padding, the options, trailer.
                let opts: Vec<u8> = out[opt_start..opt_end].to_vec();
                out.truncate(start + doff + keep);
                out.resize(start + doff + ((keep + 3) & !3), 0);
                out.extend_from_slice(&opts);
                let total = out.len() - start + 4;
                out.extend_from_slice(&[0; 4]);
                wr32(&mut out[start..], 4, total as u32, big);
                wr32(&mut out[start..], 20, keep as u32, big);
                let end = out.len();
                wr32(out, end - 4, total as u32, big);
                self.counters.frames_truncated += 1;
            }
        } else if block_type == 3 && keep < dlen {
            out.truncate(start + doff + keep);
            out.resize(start + doff + ((keep + 3) & !3), 0);
            let total = out.len() - start + 4;
            out.extend_from_slice(&[0; 4]);
            wr32(&mut out[start..], 4, total as u32, big);
            let end = out.len();
            wr32(out, end - 4, total as u32, big);
            self.counters.frames_truncated += 1;
        }
    }

    fn blank(&mut self, v: &mut [u8]) {
        v.fill(b' ');
        self.counters.metadata_options_blanked += 1;
    }

    /// Walk pcapng options in `out[start..end]`, handing each value to `f`.
    fn options<F: FnMut(&mut Self, u16, &mut [u8])>(
        &mut self,
        out: &mut [u8],
        start: usize,
        end: usize,
        mut f: F,
    ) {
        let big = self.ng_big;
        let mut p = start;
        while p + 4 <= end {
            let code = rd16(out, p, big);
            let len = rd16(out, p + 2, big) as usize;
            if code == 0 {
                return;
            }
            let v = p + 4;
            let ve = v + len;
            if ve > end {
                out[p..end].fill(0);
                self.counters.metadata_options_blanked += 1;
                return;
            }
            if CUSTOM_OPTS.contains(&code) {
                out[v..ve].fill(0);
                self.counters.metadata_options_blanked += 1;
            } else {
                f(self, code, &mut out[v..ve]);
            }
            p = v + ((len + 3) & !3);
        }
    }

    fn on_meta(&mut self, kind: MetaKind, raw: &[u8], out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(raw);
        let end = out.len();
        match kind {
            MetaKind::PcapHeader => {
                let magic = u32::from_le_bytes(raw[..4].try_into().unwrap());
                self.pcap = Some(PcapHdr {
                    big: matches!(magic, 0xd4c3_b2a1 | 0x4d3c_b2a1),
                });
            }
            MetaKind::SectionHeader => {
                self.ng_big = raw[8..12] == [0x1a, 0x2b, 0x3c, 0x4d];
                self.ng_units.clear();
                self.options(out, start + 24, end - 4, |rw, code, v| match code {
                    1..=4 => rw.blank(v),
                    _ => v.fill(0),
                });
            }
            MetaKind::InterfaceDescription => {
                let mut units = 1_000_000u64;
                self.options(out, start + 16, end - 4, |rw, code, v| match code {
                    1 | 2 | 3 | 11 | 12 | 15 => rw.blank(v),
                    4 if v.len() == 8 => {
                        let p = rw
                            .pseudonymizer
                            .pseudonymize_ipv4(v[..4].try_into().unwrap());
                        v[..4].copy_from_slice(&p);
                    }
                    5 if v.len() == 17 => {
                        let p = rw
                            .pseudonymizer
                            .pseudonymize_ipv6(v[..16].try_into().unwrap());
                        v[..16].copy_from_slice(&p);
                    }
                    6 if v.len() == 6 => {
                        let p = rw
                            .pseudonymizer
                            .pseudonymize_mac(v[..6].try_into().unwrap());
                        v.copy_from_slice(&p);
                    }
                    9 if v.len() == 1 => {
                        let r = v[0];
                        units = if r & 0x80 != 0 {
                            1u64.checked_shl((r & 0x7f) as u32).unwrap_or(0)
                        } else {
                            10u64.checked_pow(r as u32).unwrap_or(0)
                        };
                    }
                    10 | 13 | 14 => {}
                    _ => v.fill(0),
                });
                self.ng_units.push(units);
            }
            MetaKind::NameResolution => self.nrb(out, start, end),
            MetaKind::InterfaceStatistics => {
                let big = self.ng_big;
                let if_id = if end - start >= 24 {
                    rd32(out, start + 8, big) as usize
                } else {
                    0
                };
                let units = self.ng_units.get(if_id).copied().unwrap_or(1_000_000);
                let shift = (self.shift_secs as u64).checked_mul(units).unwrap_or(0);
                let shift_ts = |b: &mut [u8], at: usize, big: bool| {
                    let ts = ((rd32(b, at, big) as u64) << 32) | rd32(b, at + 4, big) as u64;
                    if let Some(t) = ts.checked_add(shift) {
                        wr32(b, at, (t >> 32) as u32, big);
                        wr32(b, at + 4, t as u32, big);
                    }
                };
                if end - start >= 24 && shift != 0 {
                    shift_ts(out, start + 12, big);
                }
                self.options(out, start + 20, end - 4, |rw, code, v| match code {
                    1 => rw.blank(v),
                    2 | 3 if v.len() == 8 && shift != 0 => shift_ts(v, 0, big),
                    2..=8 => {}
                    _ => v.fill(0),
                });
            }
            MetaKind::DecryptionSecrets | MetaKind::Custom | MetaKind::Other => {
                // Secrets, vendor data, journals: nothing in them is safe to keep.
                let keep_head = if kind == MetaKind::Custom { 12 } else { 8 };
                if end - start > keep_head + 4 {
                    out[start + keep_head..end - 4].fill(0);
                }
                self.counters.metadata_blocks_redacted += 1;
            }
        }
    }

    /// Name resolution block: addresses and names pseudonymised in place.
    fn nrb(&mut self, out: &mut [u8], start: usize, end: usize) {
        let big = self.ng_big;
        let body_end = end - 4;
        let mut p = start + 8;
        while p + 4 <= body_end {
            let ty = rd16(out, p, big);
            let len = rd16(out, p + 2, big) as usize;
            let v = p + 4;
            let ve = v + len;
            if ve > body_end {
                out[p..body_end].fill(0);
                return;
            }
            let alen = match ty {
                0 => {
                    let next = v + ((len + 3) & !3);
                    self.options(out, next, body_end, |rw, code, val| match code {
                        1 => rw.blank(val),
                        2 => rw.pseudonymizer.pseudonymize_dns_name_in_place(val),
                        3 if val.len() == 4 => {
                            let a = rw
                                .pseudonymizer
                                .pseudonymize_ipv4(val[..4].try_into().unwrap());
                            val.copy_from_slice(&a);
                        }
                        4 if val.len() == 16 => {
                            let a = rw
                                .pseudonymizer
                                .pseudonymize_ipv6(val[..16].try_into().unwrap());
                            val.copy_from_slice(&a);
                        }
                        _ => val.fill(0),
                    });
                    return;
                }
                1 => 4,
                2 => 16,
                _ => {
                    out[v..ve].fill(0);
                    p = v + ((len + 3) & !3);
                    continue;
                }
            };
            if len < alen {
                out[v..ve].fill(0);
            } else {
                if alen == 4 {
                    let a = self
                        .pseudonymizer
                        .pseudonymize_ipv4(out[v..v + 4].try_into().unwrap());
                    out[v..v + 4].copy_from_slice(&a);
                } else {
                    let a = self
                        .pseudonymizer
                        .pseudonymize_ipv6(out[v..v + 16].try_into().unwrap());
                    out[v..v + 16].copy_from_slice(&a);
                }
                // NUL-terminated names follow.
                let mut n = v + alen;
                while n < ve {
                    let e = out[n..ve]
                        .iter()
                        .position(|&c| c == 0)
                        .map_or(ve, |i| n + i);
                    self.pseudonymizer
                        .pseudonymize_dns_name_in_place(&mut out[n..e]);
                    n = e + 1;
                }
            }
            self.counters.metadata_options_blanked += 1;
            p = v + ((len + 3) & !3);
        }
    }
}

#[cfg(test)]
mod tests;
