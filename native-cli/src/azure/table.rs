//! A blocklist in an Azure Table: every entity's RowKey is one entry — an IP
//! address, a CIDR range written `ADDR_LEN` (a RowKey cannot hold `/`), or a
//! domain (see [`decode_row_key`] and `docs/azure-table.md`).
//!
//! The table is read with the Table service's REST API: `GET
//! {endpoint}/{table}()?$select=PartitionKey,RowKey`, signed with Shared Key
//! (HMAC-SHA256 of the canonical request with the account key) or
//! authorised by a SAS token, page by page (at most 1,000 entities each)
//! following the `x-ms-continuation-NextPartitionKey`/`-NextRowKey`
//! headers — a page may be empty and still carry a continuation.

use super::{connection_settings, describe_transport, encode_query, setting, Secret};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use pcaplens_core::detect::blocklist::{parse_entry, Indicator, IndicatorKind};
use serde_json::Value;
use sha2::Sha256;
use std::net::IpAddr;
use std::time::Duration;

/// The environment variable holding the storage connection string.
pub const CONNECTION_STRING_VAR: &str = "AZURE_STORAGE_CONNECTION_STRING";
/// The environment variables naming the table (the first one set wins).
pub const TABLE_VARS: [&str; 2] = ["AZURE_BLACKLIST_TABLE", "AZURE_BLOCKLIST_TABLE"];

/// The Table service REST version we speak.
const API_VERSION: &str = "2019-02-02";
/// Azurite's well-known development account (`UseDevelopmentStorage=true`).
const DEV_ACCOUNT: &str = "devstoreaccount1";
const DEV_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
const DEV_ENDPOINT: &str = "http://127.0.0.1:10002/devstoreaccount1";
/// Most pages read in one load (1,000 entities each at most): a guard
/// against a server that never stops sending continuations.
const MAX_PAGES: u32 = 100_000;

/// How requests are authorised.
pub enum Auth {
    /// Shared Key: the account key, decoded.
    SharedKey { key: Vec<u8>, text: Secret },
    /// A SAS token (the query string, without the leading `?`).
    Sas(Secret),
}

/// A storage account's table endpoint and credentials.
pub struct Account {
    pub name: String,
    /// `https://ACCOUNT.table.core.windows.net`, or a path-style endpoint
    /// such as Azurite's `http://127.0.0.1:10002/devstoreaccount1`; no
    /// trailing slash.
    pub endpoint: String,
    pub auth: Auth,
}

impl Account {
    /// Parse a storage connection string as the Azure SDKs do:
    /// `DefaultEndpointsProtocol`, `AccountName`, `AccountKey`,
    /// `SharedAccessSignature`, `TableEndpoint`, `EndpointSuffix`,
    /// `UseDevelopmentStorage=true`. Messages never quote the key.
    pub fn from_connection_string(s: &str) -> Result<Account, String> {
        let settings = connection_settings(s)?;
        let get = |k: &str| setting(&settings, k);
        let dev = get("usedevelopmentstorage").is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let name = get("accountname")
            .map(str::to_string)
            .or_else(|| dev.then(|| DEV_ACCOUNT.to_string()));
        let endpoint = match get("tableendpoint") {
            Some(e) => e.trim_end_matches('/').to_string(),
            None if dev => DEV_ENDPOINT.to_string(),
            None => {
                let name = name.as_deref().ok_or(
                    "it names neither AccountName nor TableEndpoint: give AccountName=…;AccountKey=… \
                     (or TableEndpoint=…;SharedAccessSignature=…)",
                )?;
                let proto = get("defaultendpointsprotocol").unwrap_or("https");
                let suffix = get("endpointsuffix").unwrap_or("core.windows.net");
                format!("{proto}://{name}.table.{suffix}")
            }
        };
        if !(endpoint.starts_with("https://") || endpoint.starts_with("http://")) {
            return Err(format!(
                "the table endpoint {endpoint} is not an http:// or https:// URL"
            ));
        }
        let auth = if let Some(sas) = get("sharedaccesssignature") {
            Auth::Sas(Secret::new(sas.trim_start_matches('?').to_string()))
        } else if let Some(k) = get("accountkey").or(dev.then_some(DEV_KEY)) {
            let key = base64::engine::general_purpose::STANDARD
                .decode(k)
                .map_err(|_| "its AccountKey is not valid base64".to_string())?;
            Auth::SharedKey {
                key,
                text: Secret::new(k.to_string()),
            }
        } else {
            return Err("it has neither AccountKey nor SharedAccessSignature".into());
        };
        let name = match (name, &auth) {
            (Some(n), _) => n,
            // A SAS needs no account name; take it from the endpoint (the
            // host's first label, or a path-style endpoint's first segment).
            (None, Auth::Sas(_)) => {
                let rest = endpoint.split("://").nth(1).unwrap_or("");
                let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
                let host = host.split(':').next().unwrap_or("");
                let path_style = host == "localhost" || host.parse::<IpAddr>().is_ok();
                match path.split('/').next() {
                    Some(seg) if path_style && !seg.is_empty() => seg.to_string(),
                    _ => host.split('.').next().unwrap_or("").to_string(),
                }
            }
            (None, Auth::SharedKey { .. }) => {
                return Err("Shared Key signing needs AccountName".into())
            }
        };
        Ok(Account {
            name,
            endpoint,
            auth,
        })
    }

    /// Remove the credentials from a message.
    pub fn scrub(&self, msg: &str) -> String {
        match &self.auth {
            Auth::SharedKey { text, .. } => text.scrub(msg),
            Auth::Sas(s) => s.scrub(msg),
        }
    }
}

/// The `Authorization` header of a Shared Key request (Table service):
/// `SharedKey ACCOUNT:base64(HMAC-SHA256(key, StringToSign))` with
/// `StringToSign = VERB\nContent-MD5\nContent-Type\nDate\nCanonicalizedResource`
/// and `CanonicalizedResource = /ACCOUNT/URL-path` (a path-style endpoint
/// such as Azurite's puts the account in the path too: it appears twice).
pub fn shared_key_authorization(
    account: &str,
    key: &[u8],
    verb: &str,
    content_type: &str,
    date: &str,
    url_path: &str,
) -> String {
    let string_to_sign = format!("{verb}\n\n{content_type}\n{date}\n/{account}{url_path}");
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(string_to_sign.as_bytes());
    let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    format!("SharedKey {account}:{sig}")
}

/// The path of a URL (`http://h:1/a/b?x` → `/a/b`).
fn url_path(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let path = rest.find('/').map_or("/", |i| &rest[i..]);
    path.split('?').next().unwrap_or(path)
}

/// A table name as the service allows it: 3–63 letters and digits, a
/// letter first.
pub fn check_table_name(name: &str) -> Result<(), String> {
    let ok = (3..=63).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "'{name}' is not a valid table name (3 to 63 letters and digits, a letter first)"
        ))
    }
}

/// A RowKey as a blocklist entry. RowKeys cannot contain `/`, `\`, `#` or
/// `?`, so a CIDR range is written with `_` for the slash (`10.0.0.0_8`,
/// `2001:db8::_32`); `%2F` is accepted too. IP addresses and domains (with
/// an optional `*.`) are written as they are.
pub fn decode_row_key(row_key: &str) -> Result<IndicatorKind, String> {
    let t = row_key.trim();
    let split = t.split_once('_').or_else(|| {
        let i = t.to_ascii_lowercase().find("%2f")?;
        Some((&t[..i], &t[i + 3..]))
    });
    let text = match split {
        Some((addr, len))
            if addr.parse::<IpAddr>().is_ok()
                && !len.is_empty()
                && len.bytes().all(|b| b.is_ascii_digit()) =>
        {
            format!("{addr}/{len}")
        }
        _ => t.to_string(),
    };
    match parse_entry(&text) {
        Ok(Some(kind)) => Ok(kind),
        Ok(None) => Err("empty".into()),
        Err(reason) => Err(reason),
    }
}

/// A RowKey for a blocklist entry (the inverse of [`decode_row_key`]).
#[cfg(test)]
pub fn encode_row_key(kind: &IndicatorKind) -> String {
    match kind {
        IndicatorKind::Ip(a) => a.to_string(),
        IndicatorKind::Net(a, l) => format!("{a}_{l}"),
        IndicatorKind::Domain(d) => d.clone(),
    }
}

/// What one read of the table gave.
#[derive(Debug, Default)]
pub struct Loaded {
    pub entries: Vec<Indicator>,
    /// Entities read, pages fetched (empty ones included).
    pub rows: u64,
    pub pages: u32,
    /// RowKeys that are not entries, with why (the first 20).
    pub bad: Vec<(String, String)>,
    pub bad_total: u64,
}

/// Why a table could not be read.
#[derive(Debug)]
pub struct TableError(pub String);

impl std::fmt::Display for TableError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A blocklist table: the account and the table's name.
pub struct BlocklistTable {
    pub account: Account,
    pub table: String,
}

impl BlocklistTable {
    /// From `--blocklist-table` (or `AZURE_BLACKLIST_TABLE`) and
    /// `AZURE_STORAGE_CONNECTION_STRING`. `Ok(None)`: no table asked for;
    /// `Err`: a usage error (no or a malformed connection string).
    pub fn from_args(flag: Option<&str>) -> Result<Option<BlocklistTable>, String> {
        let table = match flag {
            Some(t) => t.to_string(),
            None => match TABLE_VARS
                .iter()
                .find_map(|v| std::env::var(v).ok().filter(|t| !t.trim().is_empty()))
            {
                Some(t) => t.trim().to_string(),
                None => return Ok(None),
            },
        };
        check_table_name(&table).map_err(|e| format!("blocklist table: {e}"))?;
        let conn = std::env::var(CONNECTION_STRING_VAR).map_err(|_| {
            format!(
                "blocklist table '{table}': set {CONNECTION_STRING_VAR} to the storage account's \
                 connection string (AccountName=…;AccountKey=… or …;SharedAccessSignature=…)"
            )
        })?;
        let account = Account::from_connection_string(&conn)
            .map_err(|e| format!("{CONNECTION_STRING_VAR}: {e}"))?;
        Ok(Some(BlocklistTable { account, table }))
    }

    /// `table 'NAME' at ENDPOINT` (no credentials).
    pub fn label(&self) -> String {
        format!(
            "blocklist table '{}' at {}",
            self.table, self.account.endpoint
        )
    }

    /// Read every entity (blocking; its own runtime).
    pub fn load_blocking(&self) -> Result<Loaded, TableError> {
        let rt = super::runtime().map_err(TableError)?;
        rt.block_on(self.load())
    }

    /// Read every entity, page by page.
    pub async fn load(&self) -> Result<Loaded, TableError> {
        let client = super::http_client(Duration::from_secs(30)).map_err(TableError)?;
        let mut out = Loaded::default();
        let mut next: Option<(String, String)> = None;
        loop {
            let page = self.page(&client, next.as_ref()).await?;
            out.pages += 1;
            for (pk, rk) in page.rows {
                out.rows += 1;
                match decode_row_key(&rk) {
                    Ok(kind) => out.entries.push(Indicator {
                        kind,
                        source: format!("azure-table:{}:{pk}", self.table),
                    }),
                    Err(reason) => {
                        out.bad_total += 1;
                        if out.bad.len() < 20 {
                            out.bad.push((rk, reason));
                        }
                    }
                }
            }
            match page.next {
                Some(n) if out.pages < MAX_PAGES => next = Some(n),
                Some(_) => {
                    return Err(TableError(format!(
                        "{}: more than {MAX_PAGES} pages; giving up",
                        self.label()
                    )))
                }
                None => break,
            }
        }
        Ok(out)
    }

    async fn page(
        &self,
        client: &reqwest::Client,
        next: Option<&(String, String)>,
    ) -> Result<Page, TableError> {
        let a = &self.account;
        let base = format!("{}/{}()", a.endpoint, self.table);
        let mut query = vec!["$select=PartitionKey,RowKey".to_string()];
        if let Some((pk, rk)) = next {
            query.push(format!("NextPartitionKey={}", encode_query(pk)));
            if !rk.is_empty() {
                query.push(format!("NextRowKey={}", encode_query(rk)));
            }
        }
        if let Auth::Sas(sas) = &a.auth {
            query.push(sas.expose().to_string());
        }
        let url = format!("{base}?{}", query.join("&"));
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let date = pcaplens_core::time::http_date(super::now_nanos());
            let mut req = client
                .get(&url)
                .header("x-ms-date", &date)
                .header("x-ms-version", API_VERSION)
                .header("Accept", "application/json;odata=nometadata")
                .header("DataServiceVersion", "3.0;NetFx")
                .header("MaxDataServiceVersion", "3.0;NetFx");
            if let Auth::SharedKey { key, .. } = &a.auth {
                let auth =
                    shared_key_authorization(&a.name, key, "GET", "", &date, url_path(&base));
                req = req.header("Authorization", auth);
            }
            let resp = match req.send().await {
                Ok(r) => r,
                Err(e) => {
                    return Err(TableError(a.scrub(&format!(
                        "{}: {}",
                        self.label(),
                        describe_transport(&e)
                    ))))
                }
            };
            let status = resp.status().as_u16();
            if status == 200 {
                let h = resp.headers();
                let header = |k: &str| {
                    h.get(k)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string)
                        .filter(|v| !v.is_empty())
                };
                let next = header("x-ms-continuation-nextpartitionkey").map(|pk| {
                    (
                        pk,
                        header("x-ms-continuation-nextrowkey").unwrap_or_default(),
                    )
                });
                let body: Value = resp.json().await.map_err(|e| {
                    TableError(format!(
                        "{}: the response is not the JSON of a query: {}",
                        self.label(),
                        describe_transport(&e)
                    ))
                })?;
                let rows = body["value"]
                    .as_array()
                    .ok_or_else(|| {
                        TableError(format!(
                            "{}: the response has no `value` list",
                            self.label()
                        ))
                    })?
                    .iter()
                    .map(|e| {
                        let s = |k: &str| e[k].as_str().unwrap_or("").to_string();
                        (s("PartitionKey"), s("RowKey"))
                    })
                    .collect();
                return Ok(Page { rows, next });
            }
            let transient = matches!(status, 408 | 429 | 500 | 502 | 503 | 504);
            if transient && attempt < 3 {
                let wait = super::retry_after(resp.headers(), Duration::from_secs(10))
                    .unwrap_or(Duration::from_millis(500 << attempt));
                tokio::time::sleep(wait).await;
                continue;
            }
            let header_code = resp
                .headers()
                .get("x-ms-error-code")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            let text = resp.text().await.unwrap_or_default();
            return Err(TableError(a.scrub(&self.explain(
                status,
                &header_code,
                &text,
            ))));
        }
    }

    /// A failed request in words: what went wrong and what to change.
    fn explain(&self, status: u16, header_code: &str, body: &str) -> String {
        // JSON (`odata.error`) or XML (`<Error><Code>…<Message>…`).
        let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
        let err = &v["odata.error"];
        let xml = |tag: &str| {
            let open = format!("<{tag}>");
            let start = body.find(&open)? + open.len();
            let end = body[start..].find(&format!("</{tag}>"))? + start;
            Some(&body[start..end])
        };
        let code = err["code"]
            .as_str()
            .or_else(|| xml("Code"))
            .filter(|c| !c.is_empty())
            .unwrap_or(header_code);
        let message = err["message"]["value"]
            .as_str()
            .or(err["message"].as_str())
            .or_else(|| xml("Message"))
            .unwrap_or("")
            .lines()
            .next()
            .unwrap_or("")
            .to_string();
        let server = if code.is_empty() {
            format!("HTTP {status}")
        } else {
            format!("HTTP {status} {code}: {message}")
        };
        let label = self.label();
        match (status, code) {
            (403, _) | (_, "AuthenticationFailed" | "AuthorizationFailure") => {
                let what = match self.account.auth {
                    Auth::SharedKey { .. } => "the account key (AccountKey)",
                    Auth::Sas(_) => "the SAS token (SharedAccessSignature: expired, or without read/list permission on tables?)",
                };
                format!(
                    "{label}: authentication failed ({server}): check {what} in {CONNECTION_STRING_VAR} \
                     (account '{}')",
                    self.account.name
                )
            }
            (404, _) | (_, "TableNotFound" | "ResourceNotFound") => format!(
                "{label}: the table does not exist in account '{}' ({server})",
                self.account.name
            ),
            _ => format!("{label}: the query failed ({server})"),
        }
    }
}

struct Page {
    rows: Vec<(String, String)>,
    next: Option<(String, String)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_keys() {
        let ip: IpAddr = "203.0.113.66".parse().unwrap();
        assert_eq!(decode_row_key("203.0.113.66"), Ok(IndicatorKind::Ip(ip)));
        assert_eq!(
            decode_row_key("198.51.100.7_24"),
            Ok(IndicatorKind::Net("198.51.100.0".parse().unwrap(), 24))
        );
        assert_eq!(
            decode_row_key("198.51.100.0%2f24"),
            Ok(IndicatorKind::Net("198.51.100.0".parse().unwrap(), 24))
        );
        assert_eq!(
            decode_row_key("2001:db8::_32"),
            Ok(IndicatorKind::Net("2001:db8::".parse().unwrap(), 32))
        );
        assert_eq!(
            decode_row_key("Malware.Example.NET"),
            Ok(IndicatorKind::Domain("malware.example.net".into()))
        );
        assert_eq!(
            decode_row_key("under_score.example"),
            Ok(IndicatorKind::Domain("under_score.example".into()))
        );
        assert!(decode_row_key("10.0.0.0_40").is_err());
        assert!(decode_row_key("not a name").is_err());
        for k in [
            IndicatorKind::Ip(ip),
            IndicatorKind::Net("2001:db8::".parse().unwrap(), 32),
            IndicatorKind::Domain("a.example".into()),
        ] {
            let rk = encode_row_key(&k);
            assert!(!rk.contains(['/', '\\', '#', '?']));
            assert_eq!(decode_row_key(&rk), Ok(k));
        }
    }

    #[test]
    fn connection_strings() {
        let a = Account::from_connection_string(
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;TableEndpoint=http://127.0.0.1:10002/devstoreaccount1/;",
        )
        .unwrap();
        assert_eq!(a.endpoint, "http://127.0.0.1:10002/devstoreaccount1");
        assert_eq!(a.name, "devstoreaccount1");
        let b = Account::from_connection_string("AccountName=acct;AccountKey=AAAA").unwrap();
        assert_eq!(b.endpoint, "https://acct.table.core.windows.net");
        let c = Account::from_connection_string(
            "AccountName=acct;SharedAccessSignature=?sv=2019-02-02&sig=abc%3D;EndpointSuffix=core.chinacloudapi.cn",
        )
        .unwrap();
        assert_eq!(c.endpoint, "https://acct.table.core.chinacloudapi.cn");
        assert!(matches!(c.auth, Auth::Sas(ref s) if s.expose() == "sv=2019-02-02&sig=abc%3D"));
        let s = Account::from_connection_string(
            "TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;SharedAccessSignature=sv=1&sig=x",
        )
        .unwrap();
        assert_eq!(s.name, "devstoreaccount1");
        let s = Account::from_connection_string(
            "TableEndpoint=https://acct2.table.core.windows.net;SharedAccessSignature=sv=1&sig=x",
        )
        .unwrap();
        assert_eq!(s.name, "acct2");
        let d = Account::from_connection_string("UseDevelopmentStorage=true").unwrap();
        assert_eq!(d.endpoint, DEV_ENDPOINT);
        let e = Account::from_connection_string("AccountName=a;AccountKey=not*base64!")
            .err()
            .unwrap();
        assert!(!e.contains("not*base64"), "{e}");
        assert!(Account::from_connection_string("AccountKey=AAAA").is_err());
    }

    #[test]
    fn shared_key_string_to_sign() {
        // The canonicalized resource of a path-style (emulator) URL holds
        // the account twice.
        assert_eq!(
            url_path("http://127.0.0.1:1/devstoreaccount1/t()?x=1"),
            "/devstoreaccount1/t()"
        );
        assert_eq!(url_path("https://a.table.core.windows.net/t()"), "/t()");
        let auth = shared_key_authorization(
            "acct",
            b"key",
            "GET",
            "",
            "Mon, 07 Dec 2026 11:50:38 GMT",
            "/t()",
        );
        // HMAC-SHA256("key", "GET\n\n\nMon, 07 Dec 2026 11:50:38 GMT\n/acct/t()").
        let mut mac = Hmac::<Sha256>::new_from_slice(b"key").unwrap();
        mac.update(b"GET\n\n\nMon, 07 Dec 2026 11:50:38 GMT\n/acct/t()");
        let want = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        assert_eq!(auth, format!("SharedKey acct:{want}"));
    }
}
