// The floor any flow analyzer stands on, for bench.py: read a little-endian
// Ethernet pcap in 256 KiB preads (the CLI's read size), parse
// Ethernet/IPv4/IPv6/TCP/UDP, and count packets and bytes per direction of
// each canonical 5-tuple in an open-addressing table, with first/last
// timestamp and TCP flags. Nothing else: no TCP analysis, no application
// protocols, no detectors, no report. What it costs bounds how far ahead of
// tshark any tool with flows can get on this machine.
//
// Build: cc -O2 -o flow_floor flow_floor.c     Run: ./flow_floor FILE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHUNK (256 << 10)
#define TABLE (1 << 20) // slots; the benchmark capture has ~50,000 flows

typedef struct {
    uint8_t a[16], b[16];
    uint16_t port_a, port_b;
    uint8_t proto, used;
    uint64_t packets[2], bytes[2];
    uint32_t first_ts, last_ts, flags;
} Flow;

static Flow *table;
static uint64_t flows;

static uint64_t mix(const uint8_t *p, int n, uint64_t h) {
    for (int i = 0; i < n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = (h ^ w) * 0x9E3779B97F4A7C15ull;
        h ^= h >> 29;
    }
    return h;
}

static void account(const uint8_t *d, uint32_t len, uint32_t ts) {
    if (len < 14) return;
    uint16_t ethertype = (d[12] << 8) | d[13];
    const uint8_t *ip = d + 14, *l4;
    uint32_t left = len - 14, l4_len;
    uint8_t src[16] = {0}, dst[16] = {0}, proto;
    if (ethertype == 0x0800) {
        if (left < 20) return;
        int ihl = (ip[0] & 15) * 4;
        if (ihl < 20 || (uint32_t)ihl > left) return;
        proto = ip[9];
        memcpy(src, ip + 12, 4);
        memcpy(dst, ip + 16, 4);
        l4 = ip + ihl;
        l4_len = left - ihl;
    } else if (ethertype == 0x86dd) {
        if (left < 40) return;
        proto = ip[6];
        memcpy(src, ip + 8, 16);
        memcpy(dst, ip + 24, 16);
        l4 = ip + 40;
        l4_len = left - 40;
    } else {
        return;
    }
    uint16_t sport = 0, dport = 0;
    uint8_t tcp_flags = 0;
    if ((proto == 6 || proto == 17) && l4_len >= 4) {
        sport = (l4[0] << 8) | l4[1];
        dport = (l4[2] << 8) | l4[3];
        if (proto == 6 && l4_len >= 14) tcp_flags = l4[13];
    }
    int cmp = memcmp(src, dst, 16);
    int swap = cmp > 0 || (cmp == 0 && sport > dport);
    const uint8_t *a = swap ? dst : src, *b = swap ? src : dst;
    uint16_t port_a = swap ? dport : sport, port_b = swap ? sport : dport;
    uint64_t h = mix(a, 16, mix(b, 16, ((uint64_t)port_a << 24) | ((uint64_t)port_b << 8) | proto));
    for (uint64_t i = h & (TABLE - 1);; i = (i + 1) & (TABLE - 1)) {
        Flow *f = &table[i];
        if (!f->used) {
            f->used = 1;
            memcpy(f->a, a, 16);
            memcpy(f->b, b, 16);
            f->port_a = port_a;
            f->port_b = port_b;
            f->proto = proto;
            f->first_ts = ts;
            flows++;
        } else if (f->port_a != port_a || f->port_b != port_b || f->proto != proto ||
                   memcmp(f->a, a, 16) || memcmp(f->b, b, 16)) {
            continue;
        }
        f->packets[swap]++;
        f->bytes[swap] += len;
        f->last_ts = ts;
        f->flags |= tcp_flags << (swap * 8);
        return;
    }
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: flow_floor FILE.pcap\n");
        return 2;
    }
    int fd = open(argv[1], O_RDONLY);
    if (fd < 0) {
        perror(argv[1]);
        return 2;
    }
    table = calloc(TABLE, sizeof(Flow));
    // Room for a chunk plus the unparsed tail of the previous one (a record
    // is at most 256 KiB here; larger ones end the walk).
    uint8_t *buf = malloc(2 * CHUNK + 16);
    if (!table || !buf) return 2;
    uint64_t offset = 0, packets = 0;
    size_t have = 0, pos = 0;
    int header = 1;
    for (;;) {
        memmove(buf, buf + pos, have - pos);
        have -= pos;
        pos = 0;
        ssize_t n = pread(fd, buf + have, CHUNK, offset);
        if (n <= 0) break;
        offset += n;
        have += n;
        if (header) {
            uint32_t magic, link;
            if (have < 24 || (memcpy(&magic, buf, 4), magic != 0xa1b2c3d4) ||
                (memcpy(&link, buf + 20, 4), link != 1)) {
                fprintf(stderr, "%s: not a little-endian Ethernet pcap\n", argv[1]);
                return 2;
            }
            pos = 24;
            header = 0;
        }
        while (pos + 16 <= have) {
            uint32_t ts, caplen;
            memcpy(&ts, buf + pos, 4);
            memcpy(&caplen, buf + pos + 8, 4);
            if (caplen > CHUNK) {
                fprintf(stderr, "record of %u bytes at offset %llu\n", caplen,
                        (unsigned long long)(offset - have + pos));
                return 2;
            }
            if (pos + 16 + caplen > have) break;
            account(buf + pos + 16, caplen, ts);
            packets++;
            pos += 16 + caplen;
        }
    }
    printf("%llu packets, %llu flows\n", (unsigned long long)packets, (unsigned long long)flows);
    return 0;
}
