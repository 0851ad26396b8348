//! Crypto-PAn (Xu, Fan, Ammar, Moon 2002): prefix-preserving address
//! pseudonymisation with AES-128, bit-compatible with the reference
//! implementation for IPv4 and, as the common Go/Python ports do, the same
//! construction over 128 bits for IPv6.
//!
//! Key: 32 bytes. The first 16 are the AES key; the second 16, encrypted,
//! are the pad whose bits fill the positions not taken from the address.

use aes::cipher::{generic_array::GenericArray, BlockEncrypt, KeyInit};
use aes::Aes128;

#[derive(Clone)]
pub struct CryptoPan {
    aes: Aes128,
    pad: [u8; 16],
}

impl std::fmt::Debug for CryptoPan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CryptoPan { .. }")
    }
}

impl CryptoPan {
    pub fn new(key: &[u8; 32]) -> Self {
        let aes = Aes128::new(GenericArray::from_slice(&key[..16]));
        let mut pad = GenericArray::clone_from_slice(&key[16..]);
        aes.encrypt_block(&mut pad);
        let mut p = [0u8; 16];
        p.copy_from_slice(&pad);
        CryptoPan { aes, pad: p }
    }

    /// Pseudonymise the top `bits` bits (32 or 128) of `addr` (left-aligned in a u128).
    fn anonymize_bits(&self, addr: u128, bits: u32) -> u128 {
        let pad = u128::from_be_bytes(self.pad);
        // The pad's first `bits` bits, aligned like the address.
        let pad_bits = if bits == 128 {
            pad
        } else {
            pad & !(u128::MAX >> bits)
        };
        let mut flips: u128 = 0;
        for pos in 0..bits {
            // Top `pos` bits from the address, the rest from the pad.
            let keep = if pos == 0 {
                0
            } else {
                u128::MAX << (128 - pos)
            };
            let input = (addr & keep) | (pad_bits & !keep);
            let mut block = self.pad;
            let n = (bits / 8) as usize;
            block[..n].copy_from_slice(&input.to_be_bytes()[..n]);
            let mut b = GenericArray::from(block);
            self.aes.encrypt_block(&mut b);
            flips |= ((b[0] >> 7) as u128) << (127 - pos);
        }
        addr ^ flips
    }

    pub fn anonymize_v4(&self, addr: [u8; 4]) -> [u8; 4] {
        let a = (u32::from_be_bytes(addr) as u128) << 96;
        let out = (self.anonymize_bits(a, 32) >> 96) as u32;
        out.to_be_bytes()
    }

    pub fn anonymize_v6(&self, addr: [u8; 16]) -> [u8; 16] {
        self.anonymize_bits(u128::from_be_bytes(addr), 128)
            .to_be_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    /// The key of the Crypto-PAn reference distribution's sample.
    const REFERENCE_KEY: [u8; 32] = [
        21, 34, 23, 141, 51, 164, 207, 128, 19, 10, 91, 22, 73, 144, 125, 16, 216, 152, 143, 131,
        121, 121, 101, 39, 98, 87, 76, 45, 42, 132, 34, 2,
    ];

    /// From the reference `sample_trace_raw.dat` / `sample_trace_sanitized.dat`.
    const V4: &[(&str, &str)] = &[
        ("128.11.68.132", "135.242.180.132"),
        ("129.118.74.4", "134.136.186.123"),
        ("130.132.252.244", "133.68.164.234"),
        ("141.223.7.43", "141.167.8.160"),
        ("141.233.145.108", "141.129.237.235"),
        ("152.163.225.39", "151.140.114.167"),
        ("156.29.3.236", "147.225.12.42"),
        ("165.247.96.84", "162.9.99.234"),
        ("166.107.77.190", "160.132.178.185"),
        ("192.102.249.13", "252.138.62.131"),
        ("192.215.32.125", "252.43.47.189"),
        ("192.233.80.103", "252.25.108.8"),
        ("192.41.57.43", "252.222.221.184"),
        ("193.150.244.223", "253.169.52.216"),
        ("195.205.63.100", "255.186.223.5"),
        ("198.200.171.101", "249.199.68.213"),
        ("198.26.132.101", "249.36.123.202"),
        ("198.36.213.5", "249.7.21.132"),
        ("198.51.77.238", "249.18.186.254"),
        ("199.217.79.101", "248.38.184.213"),
        ("202.49.198.20", "245.206.7.234"),
        ("203.12.160.252", "244.248.163.4"),
        ("204.184.162.189", "243.192.77.90"),
        ("204.202.136.230", "243.178.4.198"),
        ("204.29.20.4", "243.33.20.123"),
        ("205.178.38.67", "242.108.198.51"),
        ("205.188.147.153", "242.96.16.101"),
        ("205.188.248.25", "242.96.88.27"),
        ("205.245.121.43", "242.21.121.163"),
        ("207.105.49.5", "241.118.205.138"),
        ("207.135.65.238", "241.202.129.222"),
        ("207.155.9.214", "241.220.250.22"),
        ("207.188.7.45", "241.255.249.220"),
        ("207.25.71.27", "241.33.119.156"),
        ("207.33.151.131", "241.1.233.131"),
        ("208.147.89.59", "227.237.98.191"),
        ("208.234.120.210", "227.154.67.17"),
        ("208.28.185.184", "227.39.94.90"),
        ("208.52.56.122", "227.8.63.165"),
        ("209.12.231.7", "226.243.167.8"),
        ("209.238.72.3", "226.6.119.243"),
        ("209.246.74.109", "226.22.124.76"),
        ("209.68.60.238", "226.184.220.233"),
        ("209.85.249.6", "226.170.70.6"),
        ("212.120.124.31", "228.135.163.231"),
        ("212.146.8.236", "228.19.4.234"),
        ("212.186.227.154", "228.59.98.98"),
        ("212.204.172.118", "228.71.195.169"),
        ("212.206.130.201", "228.69.242.193"),
        ("216.148.237.145", "235.84.194.111"),
        ("216.157.30.252", "235.89.31.26"),
        ("216.184.159.48", "235.96.225.78"),
        ("216.227.10.221", "235.28.253.36"),
        ("216.254.18.172", "235.7.16.162"),
        ("216.32.132.250", "235.192.139.38"),
        ("216.35.217.178", "235.195.157.81"),
        ("24.0.250.221", "100.15.198.226"),
        ("24.13.62.231", "100.2.192.247"),
        ("24.14.213.138", "100.1.42.141"),
        ("24.5.0.80", "100.9.15.210"),
        ("24.7.198.88", "100.10.6.25"),
        ("24.94.26.44", "100.88.228.35"),
        ("38.15.67.68", "64.3.66.187"),
        ("4.3.88.225", "124.60.155.63"),
        ("63.14.55.111", "95.9.215.7"),
        ("63.195.241.44", "95.179.238.44"),
        ("63.97.7.140", "95.97.9.123"),
        ("64.14.118.196", "0.255.183.58"),
        ("64.34.154.117", "0.221.154.117"),
        ("64.39.15.238", "0.219.7.41"),
        ("10.185.25.118", "117.161.29.118"),
    ];

    #[test]
    fn reference_ipv4_vectors_reproduce() {
        let c = CryptoPan::new(&REFERENCE_KEY);
        for (orig, want) in V4 {
            let o: Ipv4Addr = orig.parse().unwrap();
            let got = Ipv4Addr::from(c.anonymize_v4(o.octets()));
            assert_eq!(got.to_string(), *want, "{orig}");
        }
    }

    /// The 128-bit construction as in the Go port (Yawning Angel's cryptopan).
    #[test]
    fn ipv6_vectors_of_the_go_port_reproduce() {
        let c = CryptoPan::new(&REFERENCE_KEY);
        for (orig, want) in [
            ("::1", "78ff:f001:9fc0:20df:8380:b1f1:704:ed"),
            ("::2", "78ff:f001:9fc0:20df:8380:b1f1:704:ef"),
            ("::ffff", "78ff:f001:9fc0:20df:8380:b1f1:704:f838"),
            ("2001:db8::1", "4401:2bc:603f:d91d:27f:ff8e:e6f1:dc1e"),
            ("2001:db8::2", "4401:2bc:603f:d91d:27f:ff8e:e6f1:dc1c"),
        ] {
            let o: Ipv6Addr = orig.parse().unwrap();
            let got = Ipv6Addr::from(c.anonymize_v6(o.octets()));
            assert_eq!(got.to_string(), want, "{orig}");
        }
    }

    #[test]
    fn prefixes_are_preserved() {
        let c = CryptoPan::new(&REFERENCE_KEY);
        let a = c.anonymize_v4([10, 1, 2, 3]);
        let b = c.anonymize_v4([10, 1, 2, 200]);
        let d = c.anonymize_v4([10, 1, 9, 3]);
        assert_eq!(a[..3], b[..3]);
        assert_eq!(a[..2], d[..2]);
        assert_ne!(a[2], d[2]);
    }
}
