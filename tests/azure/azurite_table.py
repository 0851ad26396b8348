#!/usr/bin/env python3
"""Seed an Azure Table (Azurite in the tests) with the Table REST API, standard
library only, signed with SharedKeyLite (a second, independent implementation
of the signing pcaplens does with Shared Key).

    azurite_table.py ENDPOINT ACCOUNT KEY create TABLE
    azurite_table.py ENDPOINT ACCOUNT KEY insert TABLE PK RK [PK RK ...]
    azurite_table.py ENDPOINT ACCOUNT KEY fill TABLE PREFIX N     # N fillers, RowKey 10.x.y.z
    azurite_table.py ENDPOINT ACCOUNT KEY sas                      # an account SAS (read/list tables)

ENDPOINT is the table endpoint, e.g. http://127.0.0.1:PORT/devstoreaccount1.
"""
import base64
import hashlib
import hmac
import http.client
import json
import sys
import urllib.parse
from email.utils import formatdate


class Table:
    def __init__(self, endpoint, account, key):
        u = urllib.parse.urlsplit(endpoint)
        self.host, self.port = u.hostname, u.port
        self.base = u.path.rstrip("/")
        self.account, self.key = account, base64.b64decode(key)
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)

    def request(self, method, path, body=None):
        full = self.base + path
        date = formatdate(usegmt=True)
        resource = f"/{self.account}{full.split('?')[0]}"
        sig = base64.b64encode(
            hmac.new(self.key, f"{date}\n{resource}".encode(), hashlib.sha256).digest()
        ).decode()
        headers = {
            "x-ms-date": date,
            "x-ms-version": "2019-02-02",
            "Accept": "application/json;odata=nometadata",
            "Authorization": f"SharedKeyLite {self.account}:{sig}",
            "DataServiceVersion": "3.0;NetFx",
        }
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
            headers["Prefer"] = "return-no-content"
        self.conn.request(method, full, body=data, headers=headers)
        r = self.conn.getresponse()
        text = r.read()
        if r.status >= 300:
            sys.exit(f"{method} {full}: HTTP {r.status}: {text[:300]!r}")
        return text

    def create(self, table):
        self.request("POST", "/Tables", {"TableName": table})

    def insert(self, table, pk, rk):
        self.request("POST", f"/{table}", {"PartitionKey": pk, "RowKey": rk})


def account_sas(account, key):
    """An account SAS (version 2019-02-02): table service, service/container/object
    resource types, read and list, valid for an hour."""
    import datetime

    now = datetime.datetime.now(datetime.timezone.utc)
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    st = (now - datetime.timedelta(minutes=5)).strftime(fmt)
    se = (now + datetime.timedelta(hours=1)).strftime(fmt)
    sp, ss, srt, sv, spr = "rl", "t", "sco", "2019-02-02", "http,https"
    to_sign = "\n".join([account, sp, ss, srt, st, se, "", spr, sv, ""])
    sig = base64.b64encode(
        hmac.new(base64.b64decode(key), to_sign.encode(), hashlib.sha256).digest()
    ).decode()
    q = {"sv": sv, "ss": ss, "srt": srt, "sp": sp, "st": st, "se": se, "spr": spr, "sig": sig}
    return urllib.parse.urlencode(q)


def main(argv):
    endpoint, account, key, cmd, *rest = argv
    if cmd == "sas":
        print(account_sas(account, key))
        return
    t = Table(endpoint, account, key)
    if cmd == "create":
        t.create(rest[0])
    elif cmd == "insert":
        table, pairs = rest[0], rest[1:]
        for pk, rk in zip(pairs[0::2], pairs[1::2]):
            t.insert(table, pk, rk)
    elif cmd == "fill":
        table, prefix, n = rest[0], rest[1], int(rest[2])
        for i in range(n):
            t.insert(table, prefix, f"10.{200 + i // 65536}.{(i // 256) % 256}.{i % 256}")
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main(sys.argv[1:])
