"""Check `pcaplens sanitize` on the live captures of sanitize_scenarios.py.

Usage: sanitize_check.py WORKDIR PCAPLENS [redact|keep|special ...]
For each capture listed in WORKDIR/scenario.json, sanitises it with two keys
under each variant (default: all three; `special` = --keep-special-ranges
--time-shift, on the first capture) and asserts, against tshark's decode of
input and output:
  (a) no identifier of the scenario survives in the output's bytes or in
      `tshark -V -x` (ASCII, URL-encoded, base64 and hex forms);
  (b) same frame count and per-frame lengths;
  (c) no bad IP/TCP/UDP/ICMP checksum that the input did not have;
  (d) same per-frame protocol stack, same DNS/HTTP/TLS message counts,
      no malformed frame or expert item introduced, same `io,phs`;
  (e) same key -> identical bytes, other key -> other bytes; one original ->
      one pseudonym (and vice versa) across frames, fields, protocols, payload
      policies and captures; the SNI is the DNS name's pseudonym, the A/AAAA
      answer the address connected to, a reverse name its address's, a Host
      address literal the address's wherever that fits;
  (g) `pcaplens analyze --json` gives the same failure and finding counts;
  and the CLI's own leak audit passes on the output (exit 0, audit JSON).
Prints what it checked; exits 1 with every problem found listed.
"""

import base64
import ipaddress
import json
import os
import subprocess
import sys
import urllib.parse

problems = []


def fail(msg):
    problems.append(msg)
    print("PROBLEM:", msg, flush=True)


CKSUM = ["-o", "ip.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE",
         "-o", "udp.check_checksum:TRUE"]


def tshark(*args, verify=True):
    r = subprocess.run(["tshark", "-n"] + (CKSUM if verify else []) + list(args), capture_output=True)
    if r.returncode != 0:
        raise RuntimeError("tshark %s: %s" % (" ".join(args), r.stderr.decode(errors="replace")))
    return r.stdout.decode("utf-8", errors="replace")


PER_FRAME = [
    "frame.len", "frame.protocols", "_ws.malformed", "_ws.expert.severity", "_ws.expert.message",
    "ip.checksum.status", "tcp.checksum.status", "udp.checksum.status",
    "icmp.checksum.status", "icmpv6.checksum.status",
    "dns.flags.response", "dns.count.queries", "dns.count.answers", "dns.flags.rcode",
    "dns.resp.type", "dns.resp.len", "dns.txt.length", "dns.soa.serial_number",
    "http.request.method", "http.response.code", "http.content_type", "http.content_length",
    "http.authbasic", "tls.handshake.type", "tls.record.content_type", "tls.record.length",
    "tcp.len", "tcp.seq_raw", "tcp.ack_raw",
    "x509ce.dNSName",
]


def per_frame(path):
    """Per-frame fields twice: checksum statuses with verification on; the
    decode with it off. With verification on, tshark does not reassemble a
    segment whose checksum is bad (TX offload: every segment the capturing
    host sends) and guesses what a mid-record segment is from its first
    bytes: random ciphertext reads as `data` or `tls` by chance."""
    args = ["-r", path, "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=|"]
    for f in PER_FRAME:
        args += ["-e", f]
    plain = [dict(zip(PER_FRAME, l.split("\t"))) for l in tshark(*args, verify=False).splitlines()]
    checked = [dict(zip(PER_FRAME, l.split("\t"))) for l in tshark(*args).splitlines()]
    for p, c in zip(plain, checked):
        for f in PER_FRAME:
            if f.endswith("checksum.status") or f == "_ws.malformed":
                p[f] = c[f] if f.endswith("status") else p[f] or c[f]
    return plain


# Fields holding identifiers, by class: their values must map 1:1 from input to output.
ID_FIELDS = {
    "name": ["dns.qry.name", "dns.resp.name", "dns.cname", "dns.ptr.domain_name",
             "dns.mx.mail_exchange", "dns.soa.mname", "dns.soa.rname", "dns.ns",
             "tls.handshake.extensions_server_name", "http.host", "x509ce.dNSName"],
    "ipv4": ["ip.src", "ip.dst", "arp.src.proto_ipv4", "arp.dst.proto_ipv4", "dns.a",
             "x509ce.iPAddress"],
    "ipv6": ["ipv6.src", "ipv6.dst", "dns.aaaa", "icmpv6.nd.ns.target_address",
             "icmpv6.nd.na.target_address"],
    "mac": ["eth.src", "eth.dst", "sll.src.eth", "arp.src.hw_mac", "arp.dst.hw_mac",
            "icmpv6.opt.linkaddr"],
}


def id_values(path):
    fields = [f for fs in ID_FIELDS.values() for f in fs]
    args = ["-r", path, "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=|"]
    for f in fields:
        args += ["-e", f]
    out = []
    for line in tshark(*args).splitlines():
        cols = line.split("\t")
        out.append({f: [v for v in c.split("|") if v] for f, c in zip(fields, cols)})
    return out


KEPT = {"<root>", "ff:ff:ff:ff:ff:ff", "00:00:00:00:00:00", "0.0.0.0", "255.255.255.255", "::"}


def kept_ok(cls, v):
    """Identifiers the sanitizer keeps on purpose (broadcast, multicast groups)."""
    if v in KEPT:
        return True
    if cls == "mac":
        return v.startswith(("33:33:", "01:00:5e:", "01:80:c2:"))
    if cls == "ipv6":
        return v.startswith("ff0")
    return False


def norm(cls, v):
    if cls == "name":
        v = v.lower()
        if v.count(":") == 1:  # http.host with a port
            v = v.split(":")[0]
    if cls == "ipv6":
        v = str(ipaddress.ip_address(v))
    return v


def host_address(h):
    """The address of a Host value `a.b.c.d[:port]` / `[v6][:port]` (octets
    may be zero-padded), else None."""
    if h.startswith("["):
        h = h[1:].split("]")[0]
    elif h.count(":") == 1:
        h = h.split(":")[0]
    parts = h.split(".")
    if len(parts) == 4 and all(p.isdigit() and len(p) <= 3 for p in parts):
        h = ".".join(str(int(p)) for p in parts)
    try:
        return ipaddress.ip_address(h)
    except ValueError:
        return None


def forms(s):
    """The forms one secret string can take in bytes or in tshark's text."""
    b = s.encode()
    fs = {b, urllib.parse.quote(s, safe="").encode(), b.hex().encode()}
    for shift in range(3):
        # base64 of the secret at any alignment: the stable middle part.
        enc = base64.b64encode(b"\0" * shift + b)
        lead = (shift * 4 + 2) // 3
        core = enc[lead + 1 : len(enc) - 4]
        if len(core) >= 8:
            fs.add(core)
    return fs


def mac_bytes(m):
    return bytes(int(x, 16) for x in m.split(":"))


def search_terms(scen):
    """(label, bytes) pairs searched case-insensitively in raw output and tshark text."""
    terms = []
    for s in scen["secrets"]:
        for f in forms(s):
            terms.append(("secret|" + s, f))
        if s.count(".") == 2 and s.startswith("eyJ"):  # each part of a JWT on its own
            for part in s.split(".")[1:]:
                terms.append(("jwt part|" + s, part.encode()))
        if "@" in s:
            terms.append(("email local part|" + s, s.split("@")[0].encode()))
    for n in scen["names"]:
        terms.append(("name|" + n, n.encode()))
        wire = b"".join(bytes([len(l)]) + l.encode() for l in n.split(".")) + b"\0"
        terms.append(("wire name|" + n, wire))
    for l in scen["labels"]:
        terms.append(("label|" + l, l.encode()))
    for a in scen["ipv4"]:
        terms.append(("ipv4|" + a, a.encode()))
        terms.append(("ipv4 bin|" + a, ipaddress.ip_address(a).packed))
        terms.append(("ipv4 rev|" + a, ".".join(reversed(a.split("."))).encode() + b".in-addr"))
    for a in scen["ipv6"]:
        ip = ipaddress.ip_address(a)
        terms.append(("ipv6|" + a, str(ip).encode()))
        terms.append(("ipv6 full|" + a, ip.exploded.encode()))
        terms.append(("ipv6 bin|" + a, ip.packed))
        terms.append(("ipv6 rev|" + a, ip.reverse_pointer.encode()[:40]))
        # The solicited-node group's MAC spells the address's last 24 bits.
        sn = b"\x33\x33\xff" + ip.packed[13:]
        terms.append(("ipv6 solicited-node mac|" + a, sn))
        terms.append(("ipv6 solicited-node mac text|" + a, ":".join("%02x" % c for c in sn).encode()))
    for m in scen["mac"]:
        mb = mac_bytes(m)
        terms.append(("mac|" + m, m.encode()))
        terms.append(("mac -|" + m, m.replace(":", "-").encode()))
        terms.append(("mac hex|" + m, mb.hex().encode()))
        terms.append(("mac bin|" + m, mb))
        eui = bytes([mb[0] ^ 2]) + mb[1:3] + b"\xff\xfe" + mb[3:]
        terms.append(("eui64 bin|" + m, eui))
    return terms


def find_leaks(what, data, terms):
    low = data.lower()
    for label, t in terms:
        if t.lower() in low:
            fail("%s: %s survives (%r)" % (what, label, t[:40]))


def sanitize(pcaplens, inp, out, key, extra=()):
    audit = out + ".audit.json"
    r = subprocess.run([pcaplens, "sanitize", inp, "-o", out, "--key-file", key,
                        "--audit-json", audit] + list(extra), capture_output=True, text=True)
    if r.returncode != 0:
        fail("sanitize %s exited %d: %s" % (os.path.basename(inp), r.returncode, r.stderr.strip()))
    doc = json.load(open(audit))
    if not doc["audit"]["passed"]:
        fail("own audit on %s: %s" % (out, doc["audit"]["hits_by_form"]))
    return doc


def counts(tree, path="", out=None):
    """Every number in a report subtree (lists by length): the comparable shape.
    Keys that are names or addresses (pseudonymised) become `*`: their values
    are compared as a sorted list."""
    out = {} if out is None else out
    if isinstance(tree, dict):
        for k, v in tree.items():
            counts(v, path + "/" + ("*" if "." in k or ":" in k else k), out)
    elif isinstance(tree, list):
        out.setdefault(path + "[len]", []).append(len(tree))
    elif isinstance(tree, (int, float)) and not isinstance(tree, bool):
        out.setdefault(path, []).append(tree)
    return out


def analyze(pcaplens, path):
    r = subprocess.run([pcaplens, "analyze", "--json", path], capture_output=True, text=True)
    d = json.loads(r.stdout)
    keep = {k: d[k] for k in ("failures", "findings", "quality")}
    keep["summary"] = {k: d["summary"][k] for k in ("packets", "bytes", "captured_bytes")}
    keep["flows"] = sorted((f["transport"], f.get("conn_state") or "", f.get("service") or "")
                           for f in d["flows"])
    return keep


found_in_input = set()


def check_capture(work, pcaplens, name, scen, mapping, policy):
    inp = os.path.join(work, name)
    base = os.path.join(work, "out-%s-%s" % (policy, name))
    # "special": addresses keep their private prefixes, time moves.
    pol = {"special": ["--payload", "redact", "--keep-special-ranges", "--time-shift"]}.get(
        policy, ["--payload", policy])
    out = base.replace(".pcap", ".k1.pcap")
    sanitize(pcaplens, inp, out, os.path.join(work, "k1.key"), pol + ["--map", out + ".map.json"])
    again = base.replace(".pcap", ".k1b.pcap")
    sanitize(pcaplens, inp, again, os.path.join(work, "k1.key"), pol)
    other = base.replace(".pcap", ".k2.pcap")
    sanitize(pcaplens, inp, other, os.path.join(work, "k2.key"), pol)
    name = "%s[%s]" % (name, policy)
    raw_in, raw_out = open(inp, "rb").read(), open(out, "rb").read()
    if raw_out != open(again, "rb").read():
        fail("%s: same key gave different output" % name)
    if raw_out == open(other, "rb").read():
        fail("%s: another key gave the same output" % name)
    if len(raw_out) != len(raw_in):
        fail("%s: output %d bytes, input %d" % (name, len(raw_out), len(raw_in)))

    terms = search_terms(scen)
    # The search must be able to fail: it finds identifiers in the input.
    low_in = raw_in.lower()
    text_in = tshark("-r", inp, "-V", "-x").encode().lower()
    for l, t in terms:
        if t.lower() in low_in or t.lower() in text_in:
            found_in_input.add(l.split("|", 1)[1])
    find_leaks(name + " bytes", raw_out, terms)
    for o in (out, other):
        find_leaks(name + " tshark -V -x", tshark("-r", o, "-V", "-x").encode(), terms)

    fin, fout = per_frame(inp), per_frame(out)
    if len(fin) != len(fout):
        fail("%s: %d frames in, %d out" % (name, len(fin), len(fout)))
    for i, (a, b) in enumerate(zip(fin, fout), 1):
        for f in PER_FRAME:
            if f.endswith("checksum.status"):
                # Wireshark: 0 = Bad, 1 = Good, 2 = Unverified. A frame may
                # only be bad where the input was bad, and stays verifiable.
                if "0" in b[f].split("|") and "0" not in a[f].split("|"):
                    fail("%s frame %d: %s became Bad" % (name, i, f))
                if a[f].count("1") != b[f].count("1") and "0" not in a[f].split("|"):
                    fail("%s frame %d: %s lost its Good status" % (name, i, f))
            elif f == "_ws.expert.message":
                pass  # holds URIs and names: compared through the severities
            elif f == "http.authbasic":
                # Basic credentials still decode to user:password, same shape.
                if [(len(x), x.find(":")) for x in a[f].split("|")] != [
                        (len(x), x.find(":")) for x in b[f].split("|")]:
                    fail("%s frame %d: Basic credentials %r -> %r" % (name, i, a[f], b[f]))
            elif f == "x509ce.dNSName":
                if len(a[f].split("|")) != len(b[f].split("|")):
                    fail("%s frame %d: certificate dNSName count differs" % (name, i))
            elif a[f] != b[f]:
                fail("%s frame %d: %s %r -> %r" % (name, i, f, a[f], b[f]))
    if tshark("-r", inp, "-q", "-z", "io,phs", verify=False) != tshark("-r", out, "-q", "-z", "io,phs", verify=False):
        fail("%s: io,phs differs" % name)

    vin, vout = id_values(inp), id_values(out)
    for a, b in zip(vin, vout):
        for cls, fields in ID_FIELDS.items():
            for f in fields:
                if len(a[f]) != len(b[f]):
                    fail("%s: %s occurrences differ (%d vs %d)" % (name, f, len(a[f]), len(b[f])))
                for x, y in zip(a[f], b[f]):
                    x, y, c = norm(cls, x), norm(cls, y), cls
                    if f == "http.host" and host_address(x) is not None:
                        # An address literal must stay an address of the same
                        # version (text keeps its length, so it equals the
                        # binary pseudonym only where that one fits).
                        ip, py = host_address(x), host_address(y)
                        if py is None or py.version != ip.version:
                            fail("%s: Host %s became %s, not an IPv%d address" % (name, x, y, ip.version))
                        c, x, y = "host-ipv%d" % ip.version, str(ip), str(py)
                    mapping.setdefault(c, {}).setdefault(x, set()).add((y, f))
                    if len(x) != len(y) and c == "name":
                        fail("%s: %s %s -> %s changes length" % (name, f, x, y))

    ain, aout = analyze(pcaplens, inp), analyze(pcaplens, out)
    cin, cout = counts(ain), counts(aout)
    for k in sorted(set(cin) | set(cout)):
        if sorted(cin.get(k, [])) != sorted(cout.get(k, [])) and not k.endswith(("_ts", "seed")):
            fail("%s: analyze %s: %r -> %r" % (name, k, cin.get(k), cout.get(k)))
    if ain["flows"] != aout["flows"]:
        fail("%s: flow states differ" % name)
    print("checked %s: %d frames, %d terms searched" % (name, len(fin), len(terms)), flush=True)


def main():
    work, pcaplens = sys.argv[1], sys.argv[2]
    scen = json.load(open(os.path.join(work, "scenario.json")))
    for k, v in (("k1.key", "11" * 32), ("k2.key", "22" * 32)):
        with open(os.path.join(work, k), "w") as f:
            f.write(v + "\n")
    mappings = {}
    policies = sys.argv[3:] or ["redact", "keep", "special"]
    for policy in policies:
        for name in scen["captures"]:
            if policy == "special" and name != scen["captures"][0]:
                continue  # one capture is enough for the option variant
            # The same key gives the same pseudonyms whatever the payload
            # policy; the option variant is its own mapping.
            variant = "special" if policy == "special" else "default"
            check_capture(work, pcaplens, name, scen, mappings.setdefault(variant, {}), policy)
    for policy, mapping in sorted(mappings.items()):
        # One original -> one pseudonym, across fields, protocols and both captures.
        for cls, m in sorted(mapping.items()):
            seen = {}
            for orig, outs in sorted(m.items()):
                pseud = {p for p, _ in outs}
                if len(pseud) != 1:
                    fail("%s %s has several pseudonyms: %s" % (cls, orig, sorted(outs)))
                for p in pseud:
                    if p == orig and not kept_ok(cls, orig):
                        fail("%s %s was not replaced (%s)" % (cls, orig, sorted(f for _, f in outs)))
                    if p in seen and seen[p] != orig:
                        fail("%s pseudonym %s stands for %s and %s" % (cls, p, seen[p], orig))
                    seen[p] = orig
            print("consistent %s %s: %d originals" % (policy, cls, len(m)), flush=True)
        # A reverse name stands for its address: 53.57.213.10.in-addr.arpa becomes
        # the reverse name of the address's pseudonym (same for ip6.arpa).
        for orig, outs in mapping["name"].items():
            if not orig.endswith((".in-addr.arpa", ".ip6.arpa")):
                continue
            labels = orig.split(".")[:-2]
            if orig.endswith("in-addr.arpa") and len(labels) == 4:
                addr, v = ".".join(reversed(labels)), 4
            elif orig.endswith("ip6.arpa") and len(labels) == 32:
                h = "".join(reversed(labels))
                addr, v = str(ipaddress.ip_address(":".join(h[i:i + 4] for i in range(0, 32, 4)))), 6
            else:
                continue
            binary = {p for p, _ in mapping["ipv%d" % v].get(addr, set())}
            for p, f in outs:
                want = {ipaddress.ip_address(b).reverse_pointer for b in binary}
                if v == 4:  # octets may be zero-padded to keep the length
                    p = ".".join(str(int(x)) if x.isdigit() else x for x in p.split("."))
                if binary and p not in want:
                    fail("reverse name %s -> %s (%s), but %s -> %s" % (orig, p, f, addr, binary))
        # A Host address literal is the binary pseudonym wherever that fits.
        for v in (4, 6):
            for orig, outs in mapping.get("host-ipv%d" % v, {}).items():
                binary = {p for p, _ in mapping["ipv%d" % v].get(orig, set())}
                for p, _ in outs:
                    for b in binary:
                        if len(b) <= len(orig) and p != b:
                            fail("Host %s -> %s but the address -> %s (which fits)" % (orig, p, b))
        # The consistency the scenario fixes: names and addresses that were equal stay equal.
        names = mapping["name"]
        sni = "secure." + scen["domain"]
        fields = {f for _, f in names.get(sni, set())}
        for need in ("dns.qry.name", "tls.handshake.extensions_server_name", "x509ce.dNSName"):
            if need not in fields:
                fail("%s never seen in %s: the consistency check proves nothing" % (sni, need))
        for cls, addr, need in (("ipv4", scen["server4"], "dns.a"), ("ipv6", scen["server6"], "dns.aaaa")):
            fields = {f for _, f in mapping[cls].get(addr, set())}
            if need not in fields or not fields & {"ip.dst", "ipv6.dst"}:
                fail("%s %s not seen both in %s and as a destination" % (cls, addr, need))
    idents = {l.split("|", 1)[1] for l, _ in search_terms(scen)}
    if idents - found_in_input:
        fail("identifiers never found in any input (the search is broken?): %s"
             % sorted(idents - found_in_input))
    if problems:
        print("%d problems" % len(problems))
        sys.exit(1)
    print("all sanitizer checks passed")


if __name__ == "__main__":
    main()
