//! Zeek-style connection state (`conn_state`) and `history` letters.
//!
//! Modelled on Zeek's TCP endpoint state machine (TCP_Endpoint states
//! INACTIVE, SYN_SENT, SYN_ACK_SENT, PARTIAL, ESTABLISHED, CLOSED, RESET)
//! and `conn_state()` in `base/protocols/conn/main.zeek`. Letters are upper
//! case for the originator and lower case for the responder.

use crate::decode::tcp_flags::*;

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

const HIST_SYN: u16 = 0x1;
const HIST_FIN: u16 = 0x2;
const HIST_RST: u16 = 0x4;
const HIST_FIN_RST: u16 = 0x8;
const HIST_ACK: u16 = 0x10;
const HIST_DATA: u16 = 0x20;
const HIST_MULTI: u16 = 0x40;

/// One side of a connection as Zeek tracks it.
#[derive(Clone, Debug, Default)]
pub struct Endpoint {
    pub state: EndpointState,
    hist_seen: u16,
    start_seq: Option<u32>,
    last_syn: Option<u32>,
    last_fin: Option<u32>,
    last_rst: Option<u32>,
    /// Payload bytes seen (for the REJ decision, as Zeek's `size`).
    pub size: u64,
    zero_windows: u64,
    retrans: u64,
}

/// Zeek state for one connection.
#[derive(Clone, Debug, Default)]
pub struct ZeekConn {
    pub orig: Endpoint,
    pub resp: Endpoint,
    history: String,
    /// The first packet came from the responder (history starts with '^').
    flipped: bool,
}

impl ZeekConn {
    pub fn new(flipped: bool) -> Self {
        let mut z = ZeekConn::default();
        if flipped {
            z.flipped = true;
            z.history.push('^');
        }
        z
    }

    fn add(&mut self, is_orig: bool, c: char) {
        if self.history.len() < 64 {
            self.history
                .push(if is_orig { c } else { c.to_ascii_lowercase() });
        }
    }

    fn check(&mut self, is_orig: bool, mask: u16, c: char) -> bool {
        let ep = if is_orig {
            &mut self.orig
        } else {
            &mut self.resp
        };
        if ep.hist_seen & mask == 0 {
            ep.hist_seen |= mask;
            self.add(is_orig, c);
            false
        } else {
            true
        }
    }

    /// Account one TCP segment.
    pub fn on_tcp(&mut self, is_orig: bool, flags: u8, seq: u32, payload_len: u32, window: u16) {
        let syn = flags & SYN != 0;
        let fin = flags & FIN != 0;
        let rst = flags & RST != 0;
        let ack = flags & ACK != 0;
        {
            let ep = if is_orig {
                &mut self.orig
            } else {
                &mut self.resp
            };
            if ep.start_seq.is_none() {
                ep.start_seq = Some(if syn { seq } else { seq.wrapping_sub(1) });
            }
        }
        let rel = {
            let ep = if is_orig { &self.orig } else { &self.resp };
            seq.wrapping_sub(ep.start_seq.unwrap_or(seq))
        };
        let bits = syn as u8 + fin as u8 + rst as u8;
        if bits > 1 {
            if fin && rst {
                self.check(is_orig, HIST_FIN_RST, 'I');
            } else {
                self.check(is_orig, HIST_MULTI, 'Q');
            }
        } else if bits == 1 {
            if syn {
                let code = if ack { 'H' } else { 'S' };
                let last = if is_orig {
                    self.orig.last_syn
                } else {
                    self.resp.last_syn
                };
                if self.check(is_orig, HIST_SYN, code) && last != Some(rel) {
                    self.add(is_orig, code);
                }
                self.ep(is_orig).last_syn = Some(rel);
            }
            if fin {
                let end = rel.wrapping_add(payload_len);
                let last = self.ep(is_orig).last_fin;
                if self.check(is_orig, HIST_FIN, 'F') && last != Some(end) {
                    self.add(is_orig, 'F');
                }
                self.ep(is_orig).last_fin = Some(end);
            }
            if rst {
                let last = self.ep(is_orig).last_rst;
                if self.check(is_orig, HIST_RST, 'R') && last != Some(rel) {
                    self.add(is_orig, 'R');
                }
                self.ep(is_orig).last_rst = Some(rel);
            }
        } else if payload_len > 0 {
            self.check(is_orig, HIST_DATA, 'D');
        } else if ack {
            self.check(is_orig, HIST_ACK, 'A');
        }
        if window == 0 && !rst && !syn {
            let peer_closed = self.ep(!is_orig).state == EndpointState::Closed;
            if !peer_closed && self.ep(is_orig).state != EndpointState::Reset {
                self.scaled(is_orig, 'W');
            }
        }
        if !rst {
            self.ep(is_orig).size += payload_len as u64;
        }
        self.update_state(is_orig, syn, ack, fin, rst, payload_len);
    }

    /// Letters that Zeek repeats at 1, 10, 100, … occurrences.
    fn scaled(&mut self, is_orig: bool, c: char) {
        let ep = self.ep(is_orig);
        let n = if c == 'W' {
            ep.zero_windows += 1;
            ep.zero_windows
        } else {
            ep.retrans += 1;
            ep.retrans
        };
        let mut t = 1u64;
        while t < n {
            t *= 10;
        }
        if t == n {
            self.add(is_orig, c);
        }
    }

    /// Mark a retransmitted payload ('T').
    pub fn on_retransmission(&mut self, is_orig: bool) {
        self.scaled(is_orig, 'T');
    }

    fn ep(&mut self, is_orig: bool) -> &mut Endpoint {
        if is_orig {
            &mut self.orig
        } else {
            &mut self.resp
        }
    }

    fn update_state(
        &mut self,
        is_orig: bool,
        syn: bool,
        ack: bool,
        fin: bool,
        rst: bool,
        len: u32,
    ) {
        use EndpointState::*;
        let peer_state = self.ep(!is_orig).state;
        let state = self.ep(is_orig).state;
        if rst {
            self.ep(is_orig).state = Reset;
            return;
        }
        if syn {
            match state {
                Inactive => {
                    if is_orig {
                        self.ep(true).state = if ack { SynAckSent } else { SynSent };
                    } else {
                        if peer_state == SynSent || peer_state == SynAckSent {
                            self.ep(false).state = Established;
                            self.orig.state = Established;
                        } else {
                            self.ep(false).state = if ack { SynAckSent } else { SynSent };
                        }
                    }
                }
                _ => {}
            }
        } else if state == Inactive {
            self.ep(is_orig).state = Partial;
        } else if (state == SynSent || state == SynAckSent)
            && ack
            && (peer_state == Established || peer_state == SynAckSent)
        {
            self.ep(is_orig).state = Established;
            if peer_state == SynAckSent {
                self.ep(!is_orig).state = Established;
            }
        }
        let _ = len;
        if fin {
            self.ep(is_orig).state = Closed;
        }
    }

    pub fn history(&self) -> &str {
        &self.history
    }

    /// Zeek's `conn_state` for a TCP connection.
    pub fn tcp_conn_state(&self) -> &'static str {
        use EndpointState::*;
        let os = self.orig.state;
        let rs = self.resp.state;
        let o_inactive = os == Inactive || os == Partial;
        let r_inactive = rs == Inactive || rs == Partial;
        if rs == Reset {
            if os == SynSent
                || os == SynAckSent
                || (os == Reset && self.orig.size == 0 && self.resp.size == 0)
            {
                "REJ"
            } else if o_inactive {
                "RSTRH"
            } else {
                "RSTR"
            }
        } else if os == Reset {
            if r_inactive {
                "RSTOS0"
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
}

/// Zeek's `conn_state` for UDP and other connectionless protocols, from which sides sent.
pub fn connless_conn_state(orig_sent: bool, resp_sent: bool) -> &'static str {
    match (orig_sent, resp_sent) {
        (true, true) => "SF",
        (true, false) => "S0",
        (false, true) => "SHR",
        (false, false) => "OTH",
    }
}

/// History for connectionless flows: 'D'/'d' once per side with payload.
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
