//! A TCP segment walked from the state its direction stands in (see
//! `stream`): TLS records, HTTP messages, DNS-over-TCP, SSH banners, or
//! unknown payload under the run's policy.

use super::dns::dns_tcp;
use super::http::{http_body, http_headers, redacted_json_body, request_line};
use super::rewrite::FrameRewrite;
use super::stream::{Body, DirectionKey, Handshake, StreamState};
use super::text::{scrub_address_text, scrub_text};
use super::tls::{tls, walk_handshake};
use crate::decode::app::{looks_like_http_request, looks_like_http_response, looks_like_tls};

use crate::decode::{IpLayer, Tcp};
use std::ops::Range;

/// Whether `b` starts an HTTP/1.x request or response.
fn starts_http_message(b: &[u8]) -> bool {
    looks_like_http_request(b) || looks_like_http_response(b)
}

/// One TCP segment's payload `r`: walked from where its direction stands,
/// which is updated for the next segment.
pub(super) fn segment(f: &mut FrameRewrite<'_>, t: &Tcp<'_>, r: Range<usize>, layer: &IpLayer<'_>) {
    if r.is_empty() {
        return;
    }
    let key = DirectionKey {
        src: layer.src,
        dst: layer.dst,
        src_port: t.src_port,
        dst_port: t.dst_port,
    };
    f.streams.enter_segment(key, t.seq, r.start);
    let before = f.streams.state_for(&key, t.seq);
    let after = tcp_stream(f, t, r.clone(), before);
    f.streams.update(key, t.seq, r.len() as u32, before, after);
}

/// Walk one segment from the stream state it starts in; returns the state
/// at its end.
fn tcp_stream(
    f: &mut FrameRewrite<'_>,
    t: &Tcp<'_>,
    r: Range<usize>,
    mut st: StreamState,
) -> StreamState {
    let ports = [t.src_port, t.dst_port];
    let mut p = r.start;
    // A Content-Length body that starts in this segment: (start, length).
    let mut body_here: Option<(usize, u64)> = None;
    {
        // A new message where a body was expected (a HEAD response, a
        // body shorter than announced): trust the message start.
        let rest = &f.orig[p..r.end];
        if matches!(st, StreamState::Body(_)) && starts_http_message(rest) {
            st = StreamState::Unknown;
        }
    }
    while p < r.end {
        match st {
            StreamState::Tls {
                remaining,
                rtype,
                mut handshake,
                ..
            } if remaining > 0 => {
                let e = (p + remaining as usize).min(r.end);
                match rtype {
                    22 => handshake = walk_handshake(f, p..e, handshake),
                    23 | 24 => f.policy(p..e),
                    _ => {}
                }
                st = StreamState::Tls {
                    remaining: remaining - (e - p) as u32,
                    rtype,
                    handshake,
                    head: [0; 4],
                    head_len: 0,
                };
                p = e;
            }
            StreamState::Tls {
                handshake,
                head,
                head_len,
                ..
            } if head_len > 0 => {
                // The rest of a record header the previous segment cut.
                let mut h = [0u8; 5];
                h[..head_len as usize].copy_from_slice(&head[..head_len as usize]);
                let take = (5 - head_len as usize).min(r.end - p);
                h[head_len as usize..head_len as usize + take]
                    .copy_from_slice(&f.orig[p..p + take]);
                if head_len as usize + take < 5 {
                    let mut head = [0u8; 4];
                    head.copy_from_slice(&h[..4]);
                    return StreamState::Tls {
                        remaining: 0,
                        rtype: 0,
                        handshake,
                        head,
                        head_len: head_len + take as u8,
                    };
                }
                if !(20..=24).contains(&h[0]) || h[1] != 3 {
                    f.policy(p..r.end);
                    return StreamState::Unknown;
                }
                p += take;
                st = StreamState::Tls {
                    remaining: u16::from_be_bytes([h[3], h[4]]) as u32,
                    rtype: h[0],
                    handshake,
                    head: [0; 4],
                    head_len: 0,
                };
            }
            StreamState::DnsTcp { remaining } => {
                // The rest of a DNS message an earlier segment began: its
                // names cannot be read without the beginning (fail closed).
                let e = (p + remaining as usize).min(r.end);
                f.fail_closed(p..e);
                let left = remaining - (e - p) as u32;
                st = if left > 0 {
                    StreamState::DnsTcp { remaining: left }
                } else {
                    StreamState::Unknown
                };
                p = e;
            }
            StreamState::HttpHeaders { mid_line, next } => {
                let (np, nst) = http_headers(f, p, r.end, mid_line, next);
                if let StreamState::Body(Body::Length(n)) = nst {
                    body_here = Some((np, n));
                }
                p = np;
                st = nst;
            }
            StreamState::Body(b) => {
                let (np, nst) = http_body(f, p, r.end, b);
                if let Some((at, n)) = body_here.take() {
                    if at == p {
                        redacted_json_body(f, p, n, r.end);
                    }
                }
                p = np;
                st = nst;
            }
            StreamState::Unknown | StreamState::Tls { .. } => {
                let rest = &f.orig[p..r.end];
                if looks_like_tls(rest) {
                    let handshake = match st {
                        StreamState::Tls { handshake, .. } => handshake,
                        _ => Handshake::default(),
                    };
                    st = tls(f, p..r.end, handshake);
                    p = r.end;
                } else if starts_http_message(rest) {
                    let le = rest
                        .iter()
                        .position(|&c| c == b'\n')
                        .map_or(r.end, |i| p + i);
                    let line_end = if le > p && f.orig[le - 1] == b'\r' {
                        le - 1
                    } else {
                        le
                    };
                    let next = request_line(f, p, line_end);
                    if le >= r.end {
                        return StreamState::HttpHeaders {
                            mid_line: true,
                            next,
                        };
                    }
                    st = StreamState::HttpHeaders {
                        mid_line: false,
                        next,
                    };
                    p = le + 1;
                } else if rest.starts_with(b"SSH-") || ports.contains(&22) {
                    // SSH: banner and key exchange hold no identifiers, the
                    // rest is ciphertext; zeroing it would break its framing.
                    // The banner's comment is text; after it, an address
                    // written as text (planted in ciphertext) is still
                    // replaced, but not the algorithm lists' public names.
                    f.out[p..r.end].copy_from_slice(&f.orig[p..r.end]);
                    let le = rest
                        .iter()
                        .position(|&c| c == b'\n')
                        .map_or(r.end, |i| p + i + 1);
                    let after = if rest.starts_with(b"SSH-") {
                        scrub_text(f.pseudonymizer, &mut f.out[p..le]);
                        le
                    } else {
                        f.counters.bytes_kept += (r.end - p) as u64;
                        p
                    };
                    scrub_address_text(f.pseudonymizer, &mut f.out[after..r.end]);
                    return StreamState::Unknown;
                } else if ports.contains(&53) && rest.len() >= 14 {
                    return dns_tcp(f, p..r.end);
                } else {
                    f.policy(p..r.end);
                    return StreamState::Unknown;
                }
            }
        }
    }
    st
}
