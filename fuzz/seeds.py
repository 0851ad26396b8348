"""Build the fuzz seed corpora (fuzz/corpus/<target>/) from fixtures/ and
tests/corpus/: nothing large is committed, this script makes them.

    python3 fuzz/seeds.py            # needs tshark for the app_walkers seeds

capture_chunks, sanitize: whole captures under 64 KB (a chunk-size byte first
for capture_chunks). decode_frames, engine_records: the frames of each pcap
in the targets' record formats. app_walkers: TCP/UDP payloads (tshark), a
selector byte first (0 DNS, 1 HTTP, 2 TLS, 3 QUIC).
"""
import glob
import hashlib
import os
import struct
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "fuzz", "corpus")
DEC_LINKS = [1, 0, 101, 228, 229, 113, 276, 9, 105, 127, 192, 239, 12, 14, 108, 147]
ENG_LINKS = [1, 101, 113, 276, 0, 228, 229, 127]
MAX = 64 * 1024


def put(target, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()), "wb") as f:
        f.write(data)


def pcap_frames(data):
    """(link type, frame) of a classic pcap, else []."""
    if len(data) < 24:
        return []
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        e = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = ">"
    else:
        return []
    link = struct.unpack(e + "I", data[20:24])[0] & 0xFFFF
    out, at = [], 24
    while at + 16 <= len(data):
        incl = struct.unpack(e + "I", data[at + 8:at + 12])[0]
        frame = data[at + 16:at + 16 + incl]
        if len(frame) < incl:
            break
        out.append((link, frame))
        at += 16 + incl
    return out


def main():
    files = sorted(glob.glob(os.path.join(ROOT, "fixtures", "*.pcap*")) +
                   glob.glob(os.path.join(ROOT, "tests", "corpus", "*.pcap*")))
    for path in files:
        data = open(path, "rb").read()
        if len(data) <= MAX:
            put("sanitize", data)
            put("capture_chunks", bytes([len(data) % 251]) + data)
        frames = pcap_frames(data)
        for lo in range(0, len(frames), 16):
            group = frames[lo:lo + 16]
            dec, eng = b"", b""
            for link, f in group:
                f = f[:4096]
                if link in DEC_LINKS:
                    dec += bytes([DEC_LINKS.index(link)]) + struct.pack(">H", len(f)) + f
                if link in ENG_LINKS:
                    eng += bytes([ENG_LINKS.index(link), 1]) + struct.pack(">H", len(f)) + f
            if dec:
                put("decode_frames", dec)
            if eng:
                put("engine_records", eng)
        try:
            fields = subprocess.run(
                ["tshark", "-r", path, "-T", "fields", "-e", "udp.payload", "-e", "tcp.payload"],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=60).stdout.decode()
        except (OSError, subprocess.TimeoutExpired):
            continue
        seen = 0
        for line in fields.splitlines():
            for i, hexes in enumerate(line.split("\t")):
                h = hexes.split(",")[0].replace(":", "")
                if not h or seen > 64:
                    continue
                p = bytes.fromhex(h)[:4096]
                if p[:1] in (b"\x14", b"\x15", b"\x16", b"\x17"):
                    sel = 2
                elif i == 0 and p[:1] and p[0] & 0x80:
                    sel = 3
                elif p[:4].isalpha():
                    sel = 1
                else:
                    sel = 0
                put("app_walkers", bytes([sel]) + p)
                seen += 1
    for t in sorted(os.listdir(OUT)):
        print(t, len(os.listdir(os.path.join(OUT, t))))


if __name__ == "__main__":
    main()
