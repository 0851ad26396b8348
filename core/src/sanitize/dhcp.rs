//! DHCP (BOOTP): addresses, the client's hardware address, host and domain
//! names in options; free text and unknown options zeroed. The client-FQDN
//! option holds a DNS wire-format name, walked by the DNS walker.

use super::dns::dns_name;
use super::rewrite::FrameRewrite;
use std::ops::Range;

pub(super) fn dhcp(f: &mut FrameRewrite<'_>, r: Range<usize>) {
    let s = r.start;
    let e = r.end;
    for k in 0..4 {
        f.v4(s + 12 + 4 * k);
    }
    if f.orig[s + 1] == 1 && f.orig[s + 2] == 6 {
        f.mac(s + 28);
        f.redact(s + 34..s + 44);
    } else {
        f.redact(s + 28..s + 44);
    }
    if f.orig[s + 44..s + 236].iter().any(|&b| b != 0) {
        f.redact(s + 44..s + 236); // server name, boot file: free text
    }
    let mut p = s + 240;
    while p < e {
        let code = f.orig[p];
        if code == 0 {
            p += 1;
            continue;
        }
        if code == 255 {
            return;
        }
        let Some(&len) = f.orig.get(p + 1) else {
            f.fail_closed(p..e);
            return;
        };
        let d = p + 2;
        let de = d + len as usize;
        if de > e {
            f.fail_closed(p..e);
            return;
        }
        match code {
            1 | 2 | 13 | 19..=27 | 51 | 52 | 53 | 55 | 57 | 58 | 59 | 60 | 80 | 93 | 94 | 116 => {}
            3..=11 | 16 | 28 | 32 | 41 | 42 | 44 | 45 | 48 | 49 | 50 | 54 | 65 | 68..=76 | 118
                if len % 4 == 0 =>
            {
                let mut a = d;
                while a + 4 <= de {
                    f.v4(a);
                    a += 4;
                }
            }
            12 | 14 | 15 | 40 | 64 | 66 | 67 => f.dns_text(d..de),
            81 if len >= 3 => {
                if f.orig[d] & 0x04 != 0 {
                    // Wire-format name; no compression inside an option.
                    if dns_name(f, d + 3, de, d + 3).is_none() {
                        f.fail_closed(d + 3..de);
                    }
                } else {
                    f.dns_text(d + 3..de);
                }
            }
            61 if len == 7 && f.orig[d] == 1 => f.mac(d + 1),
            _ => f.redact(d..de),
        }
        p = de;
    }
}
