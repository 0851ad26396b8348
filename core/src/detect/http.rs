//! HTTP/1.x: request/response pairing per connection (pipelining order),
//! status codes, 4xx/5xx with method, host and URI, response times.
//!
//! A connection is HTTP when a port is in tshark 4.0's HTTP port table or
//! when a segment starts like an HTTP message (tshark's heuristic), so the
//! numbers match `http.response.code`. Message heads split across segments
//! are reassembled (bounded); bodies (Content-Length or chunked) are skipped
//! so pipelined messages in one segment are all seen. As tshark reassembles
//! bodies (`http.desegment_body`), a message counts in the frame that
//! completes its body, and not at all when the body never completes.

use super::dns::ResponseTimes;
use super::stream::{HalfStream, Input, Step};
use super::{Counted, DetectConfig, Detector, Evidence, Failures, PacketCtx, Segment};
use crate::decode::app::{looks_like_http_request, looks_like_http_response};
use crate::decode::http::{parse_head, StartLine};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};

/// tshark 4.0's default TCP ports for HTTP (`tshark -G decodes`).
pub const HTTP_PORTS: &[u16] = &[
    80, 631, 1900, 2710, 2869, 3128, 3132, 3689, 5985, 8080, 8088, 11371,
];

/// `HTTP_PORTS.contains(&p)` as a jump table: it runs for every TCP segment.
pub fn is_http_port(p: u16) -> bool {
    matches!(
        p,
        80 | 631 | 1900 | 2710 | 2869 | 3128 | 3132 | 3689 | 5985 | 8080 | 8088 | 11371
    )
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Longest message head reassembled across segments.
    pub max_head_bytes: usize,
    /// Most outstanding requests kept per connection (pipelining depth).
    pub max_outstanding: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            max_head_bytes: 65_536,
            max_outstanding: 64,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HttpError {
    #[serde(flatten)]
    pub evidence: Evidence,
    pub code: u16,
    pub reason: String,
    pub method: Option<String>,
    pub host: Option<String>,
    pub uri: Option<String>,
    pub request_frame: Option<u64>,
    pub response_ms: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HttpExchange {
    #[serde(flatten)]
    pub evidence: Evidence,
    pub code: u16,
    pub method: String,
    pub host: Option<String>,
    pub uri: String,
    pub request_frame: u64,
    pub response_ms: f64,
}

fn string_keys<S: serde::Serializer>(map: &BTreeMap<u16, u64>, s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut m = s.serialize_map(Some(map.len()))?;
    for (k, v) in map {
        m.serialize_entry(&k.to_string(), v)?;
    }
    m.end()
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub struct HttpReport {
    pub requests: u64,
    pub responses: u64,
    /// Status code → responses. Keys are written as strings in numeric order
    /// (what JSON does anyway), so every front sees the same plain object.
    #[serde(serialize_with = "string_keys")]
    pub status_codes: BTreeMap<u16, u64>,
    /// Responses with code >= 400 (one per message).
    pub error_responses: Counted<HttpError>,
    /// Frames holding at least one response with code >= 400 (tshark's count).
    pub error_response_frames: u64,
    pub client_errors: u64,
    pub server_errors: u64,
    /// Responses with no request seen before them on the connection.
    pub unmatched_responses: u64,
    /// Requests still waiting for a response when their connection ended.
    pub unanswered_requests: u64,
    pub response_times: ResponseTimes,
    /// Responses slower than `perf.slow_http_ms`.
    pub slow_responses: Counted<HttpExchange>,
}

#[derive(Clone)]
struct Request {
    frame: u64,
    ts: i64,
    method: Box<str>,
    uri: Box<str>,
    host: Option<Box<str>>,
}

#[derive(Clone, Default)]
pub(crate) struct Conn {
    streams: [HalfStream; 2],
    outstanding: VecDeque<Request>,
    /// Per direction: the message whose body is still being skipped.
    body: [Body; 2],
}

/// A message waiting for the end of its body.
#[derive(Clone, Default)]
enum Body {
    #[default]
    None,
    /// Content-Length bytes run past the segment: done at `Input::SkipDone`.
    Length(Msg),
    /// Chunked: done at the last chunk and its trailer.
    Chunked(Msg),
    /// A response with neither: its body runs to the sender's FIN.
    UntilFin(Msg),
}

/// One step of a chunked body at a chunk-size line.
enum Chunk {
    /// A chunk: its size line, data and CRLF.
    Skip(u64),
    NeedMore,
    /// The last chunk and trailer end after this many bytes.
    End(usize),
    Bad,
}

/// Longest chunk-size line or trailer kept while waiting for its end.
const MAX_CHUNK_LINE: usize = 8192;

fn chunk_step(b: &[u8]) -> Chunk {
    let Some(lf) = b.iter().take(MAX_CHUNK_LINE).position(|&c| c == b'\n') else {
        return if b.len() >= MAX_CHUNK_LINE {
            Chunk::Bad
        } else {
            Chunk::NeedMore
        };
    };
    let line = &b[..lf];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let digits = line.split(|&c| c == b';').next().unwrap_or(&[]);
    let digits = digits.trim_ascii();
    if digits.is_empty() || digits.len() > 15 || !digits.iter().all(u8::is_ascii_hexdigit) {
        return Chunk::Bad;
    }
    let size = digits.iter().fold(0u64, |a, &c| {
        a * 16 + (c as char).to_digit(16).unwrap_or(0) as u64
    });
    if size > 0 {
        return Chunk::Skip(lf as u64 + 1 + size + 2);
    }
    // The last chunk: trailer lines up to an empty one.
    let mut pos = lf + 1;
    loop {
        let Some(rel) = b[pos..].iter().position(|&c| c == b'\n') else {
            return if b.len() - pos > MAX_CHUNK_LINE {
                Chunk::Bad
            } else {
                Chunk::NeedMore
            };
        };
        let empty = rel == 0 || (rel == 1 && b[pos] == b'\r');
        pos += rel + 1;
        if empty {
            return Chunk::End(pos);
        }
    }
}

#[derive(Clone)]
pub struct HttpDetector {
    /// What this detector decided, for the engine's events.
    out: super::outbox::Outbox,
    cfg: HttpConfig,
    cap: usize,
    slow_ms: f64,
    report: HttpReport,
    last_error_frame: u64,
    /// With a blocklist: Host headers of the requests the current segment
    /// completed (reassembled), for the blocklist to match.
    pub(crate) collect_hosts: bool,
    pub(crate) segment_hosts: Vec<Box<str>>,
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A parsed head, copied out of the stream buffer.
#[derive(Clone)]
enum Msg {
    Request(Request),
    Response { code: u16, reason: String },
}

impl HttpDetector {
    pub fn new(cfg: &DetectConfig) -> Self {
        HttpDetector {
            out: Default::default(),
            cfg: cfg.http.clone(),
            cap: cfg.max_instances,
            slow_ms: cfg.perf.slow_http_ms,
            report: HttpReport::default(),
            last_error_frame: 0,
            collect_hosts: !cfg.blocklist.entries.is_empty(),
            segment_hosts: Vec::new(),
        }
    }

    fn on_response(
        &mut self,
        ctx: &PacketCtx<'_, '_>,
        outstanding: &mut VecDeque<Request>,
        code: u16,
        reason: String,
    ) {
        let frame = ctx.frame();
        let ts = ctx.ts();
        self.report.responses += 1;
        *self.report.status_codes.entry(code).or_default() += 1;
        // Interim responses do not answer the request.
        let req = if (100..200).contains(&code) {
            None
        } else {
            outstanding.pop_front()
        };
        if req.is_none() && !(100..200).contains(&code) {
            self.report.unmatched_responses += 1;
        }
        let ms = req.as_ref().map(|r| (ts - r.ts) as f64 / 1e6);
        if let (Some(r), Some(ms)) = (&req, ms) {
            self.report.response_times.add(ms);
            if ms > self.slow_ms {
                self.out.count(
                    "http.slow_responses",
                    &mut self.report.slow_responses,
                    self.cap,
                    || HttpExchange {
                        evidence: Evidence::new(frame, ts, &ctx.community_id()),
                        code,
                        method: r.method.to_string(),
                        host: r.host.as_ref().map(|h| h.to_string()),
                        uri: r.uri.to_string(),
                        request_frame: r.frame,
                        response_ms: ms,
                    },
                );
            }
        }
        if code < 400 {
            return;
        }
        if code < 500 {
            self.report.client_errors += 1;
        } else {
            self.report.server_errors += 1;
        }
        if self.last_error_frame != frame {
            self.last_error_frame = frame;
            self.report.error_response_frames += 1;
        }
        self.out.count(
            "http.error_responses",
            &mut self.report.error_responses,
            self.cap,
            || HttpError {
                evidence: Evidence::new(frame, ts, &ctx.community_id()),
                code,
                reason,
                method: req.as_ref().map(|r| r.method.to_string()),
                host: req
                    .as_ref()
                    .and_then(|r| r.host.as_ref().map(|h| h.to_string())),
                uri: req.as_ref().map(|r| r.uri.to_string()),
                request_frame: req.as_ref().map(|r| r.frame),
                response_ms: ms,
            },
        );
    }
}

impl HttpDetector {
    /// A segment of a live TCP flow, with the flow's HTTP state (None until
    /// the flow looks like HTTP).
    ///
    /// Inlined: segments of flows that are not HTTP, and bare ACKs, stop here.
    #[inline]
    pub(crate) fn on_segment(
        &mut self,
        ctx: &PacketCtx<'_, '_>,
        seg: &Segment<'_, '_>,
        conn: &mut Option<Box<Conn>>,
    ) {
        let t = seg.tcp;
        if conn.is_none()
            && (is_http_port(t.src_port)
                || is_http_port(t.dst_port)
                || looks_like_http_request(t.payload)
                || looks_like_http_response(t.payload))
        {
            *conn = Some(Box::default());
        }
        if let Some(conn) = conn.as_deref_mut() {
            use crate::decode::tcp_flags::{FIN, SYN};
            if t.payload_len > 0 || t.flags & (SYN | FIN) != 0 {
                self.read_messages(ctx, seg, conn);
            }
        }
    }

    /// The message heads a segment completes, in order.
    fn read_messages(&mut self, ctx: &PacketCtx<'_, '_>, seg: &Segment<'_, '_>, conn: &mut Conn) {
        let (f, t) = (seg.flow, seg.tcp);
        let dir = usize::from(!f.from_orig);
        let mut msgs: Vec<Msg> = Vec::new();
        let max_head = self.cfg.max_head_bytes;
        // HEAD responses carry no body even with a Content-Length.
        let head_first = conn
            .outstanding
            .front()
            .is_some_and(|r| &*r.method == "HEAD");
        let connect_first = conn
            .outstanding
            .front()
            .is_some_and(|r| &*r.method == "CONNECT");
        // tshark does not wait for a body that starts in the sender's last
        // segment (`end_of_stream` in packet-http.c).
        let fin = t.flags & crate::decode::tcp_flags::FIN != 0;
        let mut responses_seen = 0usize;
        let Conn {
            streams,
            outstanding,
            body,
        } = conn;
        let body = &mut body[dir];
        streams[dir].feed_events(t, max_head, |input| {
            let b = match input {
                Input::Data(b) => b,
                Input::SkipDone => {
                    // (A chunk's data ending is not the body's end.)
                    if matches!(body, Body::Length(_)) {
                        if let Body::Length(m) = std::mem::take(body) {
                            msgs.push(m);
                        }
                    }
                    return Step::Consumed(0);
                }
                Input::Reset => {
                    // The body will never complete: tshark shows no message.
                    *body = Body::None;
                    return Step::Consumed(0);
                }
            };
            if matches!(body, Body::UntilFin(_)) {
                return Step::Skip(b.len() as u64);
            }
            if matches!(body, Body::Chunked(_)) {
                return match chunk_step(b) {
                    Chunk::Skip(n) => Step::Skip(n),
                    Chunk::NeedMore => Step::NeedMore,
                    Chunk::End(n) => {
                        if let Body::Chunked(m) = std::mem::take(body) {
                            msgs.push(m);
                        }
                        Step::Consumed(n)
                    }
                    Chunk::Bad => {
                        *body = Body::None;
                        Step::Desync
                    }
                };
            }
            let Some(h) = parse_head(b) else {
                return Step::Desync;
            };
            if !h.complete {
                return Step::NeedMore;
            }
            let (msg, has_body) = match &h.start {
                StartLine::Request { method, uri } => {
                    let m = &b[method.clone()];
                    let msg = Msg::Request(Request {
                        frame: 0,
                        ts: 0,
                        method: text(m).into(),
                        uri: text(&b[uri.clone()]).into(),
                        host: h.host.clone().map(|r| text(&b[r]).into()),
                    });
                    (msg, true)
                }
                StartLine::Response { code, reason } => {
                    let code = *code;
                    // The reason phrase is only reported with an error.
                    let reason = if code >= 400 {
                        text(&b[reason.clone()])
                    } else {
                        String::new()
                    };
                    let first = responses_seen == 0;
                    let no_body = (100..200).contains(&code)
                        || code == 204
                        || code == 304
                        || (first && head_first)
                        || (first && connect_first && (200..300).contains(&code));
                    if !(100..200).contains(&code) {
                        responses_seen += 1;
                    }
                    (Msg::Response { code, reason }, !no_body)
                }
            };
            let is_response = matches!(msg, Msg::Response { .. });
            if has_body && !fin && h.chunked {
                *body = Body::Chunked(msg);
                return Step::Skip(h.head_len as u64);
            }
            if has_body && !fin && is_response && h.content_length.is_none() {
                // RFC 7230 §3.3.3 case 7; tshark: DESEGMENT_UNTIL_FIN.
                *body = Body::UntilFin(msg);
                return Step::Skip(b.len() as u64);
            }
            let len = h.head_len as u64
                + if has_body {
                    h.content_length.unwrap_or(0)
                } else {
                    0
                };
            if len > b.len() as u64 && !fin {
                *body = Body::Length(msg);
            } else {
                msgs.push(msg);
            }
            Step::Skip(len)
        });
        if fin && matches!(body, Body::UntilFin(_)) {
            if let Body::UntilFin(m) = std::mem::take(body) {
                msgs.push(m);
            }
        }
        for m in msgs {
            match m {
                Msg::Request(mut r) => {
                    self.report.requests += 1;
                    if let (true, Some(h)) = (self.collect_hosts, &r.host) {
                        self.segment_hosts.push(h.clone());
                    }
                    r.frame = ctx.frame();
                    r.ts = ctx.ts();
                    if outstanding.len() < self.cfg.max_outstanding {
                        outstanding.push_back(r);
                    }
                }
                Msg::Response { code, reason } => self.on_response(ctx, outstanding, code, reason),
            }
        }
    }

    /// The connection of a flow that ended, or was still open at the end.
    pub(crate) fn end_conn(&mut self, c: Conn) {
        self.report.unanswered_requests += c.outstanding.len() as u64;
    }
}

impl Detector for HttpDetector {
    fn outbox(&mut self) -> Option<&mut super::outbox::Outbox> {
        Some(&mut self.out)
    }

    fn finish(&mut self, out: &mut Failures) {
        out.http = std::mem::take(&mut self.report);
    }
}

#[cfg(test)]
mod tests {
    use super::super::testpcap::*;

    #[test]
    fn pipelined_requests_pair_in_order_with_errors() {
        let reqs = b"HEAD /x HTTP/1.1\r\nHost: h.example\r\n\r\nGET /missing HTTP/1.1\r\nHost: h.example\r\n\r\nPOST /api HTTP/1.1\r\nHost: h.example\r\nContent-Length: 4\r\n\r\nbody";
        // The HEAD response has a Content-Length but no body.
        let resp1 = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n";
        let resp23 = b"HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nnopHTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n";
        let mut p = Pcap::new();
        p.push(0, &tcp(C, 6000, S, 8080, 1, 0, 0x02, &[]));
        p.push(5, &tcp(S, 8080, C, 6000, 50, 2, 0x12, &[]));
        p.push(10, &tcp(C, 6000, S, 8080, 2, 51, 0x18, reqs));
        p.push(
            20,
            &tcp(S, 8080, C, 6000, 51, 2 + reqs.len() as u32, 0x18, resp1),
        );
        let seq = 51 + resp1.len() as u32;
        p.push(
            1500,
            &tcp(S, 8080, C, 6000, seq, 2 + reqs.len() as u32, 0x18, resp23),
        );
        let f = p.failures().http;
        assert_eq!((f.requests, f.responses), (3, 3));
        assert_eq!(f.status_codes.get(&404), Some(&1));
        assert_eq!((f.client_errors, f.server_errors), (1, 1));
        // Both errors are in one frame: tshark counts that frame once.
        assert_eq!(f.error_response_frames, 1);
        assert_eq!(f.error_responses.total, 2);
        let e = &f.error_responses.instances[0];
        assert_eq!(e.code, 404);
        assert_eq!(e.method.as_deref(), Some("GET"));
        assert_eq!(e.uri.as_deref(), Some("/missing"));
        assert_eq!(e.host.as_deref(), Some("h.example"));
        assert_eq!(e.request_frame, Some(3));
        assert_eq!(
            f.error_responses.instances[1].method.as_deref(),
            Some("POST")
        );
        assert_eq!(f.response_times.count, 3);
        assert_eq!(f.slow_responses.total, 2);
        assert_eq!(f.unanswered_requests, 0);
    }

    #[test]
    fn head_split_across_segments_and_other_ports_ignored() {
        // (Content-Length 0: without it the body would run to the FIN.)
        let resp = b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n";
        let (a, b) = resp.split_at(20);
        let mut p = Pcap::new();
        p.push(
            0,
            &tcp(C, 6001, S, 80, 1, 0, 0x18, b"GET / HTTP/1.1\r\n\r\n"),
        );
        p.push(1, &tcp(S, 80, C, 6001, 10, 19, 0x18, a));
        p.push(2, &tcp(S, 80, C, 6001, 10 + a.len() as u32, 19, 0x18, b));
        // Port 22 and no HTTP start: not HTTP.
        p.push(
            3,
            &tcp(
                S,
                22,
                C,
                6002,
                1,
                1,
                0x18,
                b"garbage HTTP/1.1 500 x\r\n\r\n",
            ),
        );
        let f = p.failures().http;
        assert_eq!(f.error_response_frames, 1);
        assert_eq!(f.error_responses.instances[0].evidence.frame, 3);
        assert_eq!(f.responses, 1);
    }
}

#[cfg(test)]
mod port_table_tests {
    #[test]
    fn jump_table_equals_the_list() {
        for p in 0..=u16::MAX {
            assert_eq!(
                super::is_http_port(p),
                super::HTTP_PORTS.contains(&p),
                "{p}"
            );
        }
    }
}
