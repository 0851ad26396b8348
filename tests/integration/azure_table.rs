//! Blocklists in an Azure Table (issue 22), against the real Table service
//! API: Azurite's table service from npm, on 127.0.0.1 (installed once into
//! `target/azurite/`, started per test with `--disableTelemetry`), seeded by
//! `tests/azure/azurite_table.py` (standard-library Python, SharedKeyLite: a
//! second implementation of the signing). Only the empty page with a
//! continuation, which Azurite never sends, is played by an in-test server.

use pcaplens_tests::{pcaplens_bin, python, repo_root, temp_dir};
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

pub const ACCOUNT: &str = "devstoreaccount1";
pub const KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
/// The Azurite release the tests run (its table service's entry point).
const AZURITE: &str = "azurite@3.35.0";

/// `target/azurite/…/table/main.js`, installed with npm on first use.
fn azurite_main() -> PathBuf {
    static MAIN: OnceLock<PathBuf> = OnceLock::new();
    MAIN.get_or_init(|| {
        let prefix = repo_root().join("target/azurite");
        let main = prefix.join("node_modules/azurite/dist/src/table/main.js");
        if !main.exists() {
            std::fs::create_dir_all(&prefix).unwrap();
            let st = Command::new("npm")
                .args(["install", "--no-audit", "--no-fund", "--silent", "--prefix"])
                .arg(&prefix)
                .arg(AZURITE)
                .status()
                .expect("run npm (Node.js is needed for Azurite)");
            assert!(st.success(), "npm install {AZURITE} failed");
        }
        assert!(
            main.exists(),
            "{} missing after npm install",
            main.display()
        );
        main
    })
    .clone()
}

/// An Azurite table service on 127.0.0.1, killed on drop.
pub struct Azurite {
    child: Child,
    pub endpoint: String,
}

impl Drop for Azurite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Azurite {
    pub fn start(tag: &str) -> Azurite {
        let main = azurite_main();
        // An empty working directory: Azurite writes its debug log there.
        let dir = temp_dir(&format!("azurite-{tag}"));
        let port = free_port();
        let child = Command::new("node")
            .arg(&main)
            .args(["--tableHost", "127.0.0.1", "--tablePort"])
            .arg(port.to_string())
            .args(["--inMemoryPersistence", "--disableTelemetry", "--silent"])
            .current_dir(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start Azurite with node");
        let az = Azurite {
            child,
            endpoint: format!("http://127.0.0.1:{port}/{ACCOUNT}"),
        };
        let until = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < until, "Azurite did not listen on {port}");
            std::thread::sleep(Duration::from_millis(100));
        }
        az
    }

    /// A connection string with this account key.
    pub fn conn(&self, key: &str) -> String {
        format!(
            "DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={key};TableEndpoint={}/;",
            self.endpoint
        )
    }

    /// Run the seeding script.
    pub fn seed(&self, args: &[&str]) -> String {
        let out = Command::new(python())
            .arg(repo_root().join("tests/azure/azurite_table.py"))
            .args([self.endpoint.as_str(), ACCOUNT, KEY])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "azurite_table.py {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

/// The generator's blocklisted scenario and the three indicators in it: an
/// IP address (a TLS server outside the CIDR), the CIDR range and the domain.
fn capture(dir: &Path) -> (PathBuf, String) {
    let capture = dir.join("blocklisted.pcap");
    let st = Command::new(pcaplens_bin())
        .args([
            "generate",
            "--scenario",
            "blocklisted",
            "--packets",
            "300",
            "-o",
        ])
        .arg(&capture)
        .status()
        .unwrap();
    assert!(st.success());
    let out = Command::new(pcaplens_bin())
        .args(["analyze", "--json"])
        .arg(&capture)
        .output()
        .unwrap();
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    let ip = r["flows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["resp_addr"].as_str().unwrap().to_string())
        .find(|a| !a.starts_with("10.") && !a.starts_with("198.51.100."))
        .expect("a server outside 10/8 and the CIDR");
    (capture, ip)
}

const CIDR_ROW: &str = "198.51.100.0_24";
const DOMAIN: &str = "malware.example.net";

fn analyze(conn: Option<&str>, env: &[(&str, &str)], args: &[&str], capture: &Path) -> Output {
    let mut cmd = Command::new(pcaplens_bin());
    cmd.arg("analyze").args(args).arg(capture);
    for v in [
        "AZURE_STORAGE_CONNECTION_STRING",
        "AZURE_BLACKLIST_TABLE",
        "AZURE_BLOCKLIST_TABLE",
        "AZURE_MONITOR_CONNECTION_STRING",
        "APPLICATIONINSIGHTS_CONNECTION_STRING",
    ] {
        cmd.env_remove(v);
    }
    if let Some(c) = conn {
        cmd.env("AZURE_STORAGE_CONNECTION_STRING", c);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// (indicator, indicator_source) of every blocklist hit of a report.
fn hits(o: &Output) -> Vec<(String, String)> {
    let r: Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("report: {e}; stderr: {}", stderr(o)));
    let mut v: Vec<(String, String)> = r["findings"]["blocklist"]["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["indicator"].as_str().unwrap().to_string(),
                h["indicator_source"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    v.sort();
    v.dedup();
    v
}

fn has(h: &[(String, String)], indicator: &str, source: &str) -> bool {
    h.iter().any(|(i, s)| i == indicator && s == source)
}

#[test]
fn azure_table_blocklist_flags_an_ip_a_cidr_and_a_domain() {
    let dir = temp_dir("azure-table");
    let (capture, ip) = capture(&dir);
    let az = Azurite::start("flags");
    az.seed(&["create", "blocklist"]);
    az.seed(&[
        "insert",
        "blocklist",
        "ip",
        &ip,
        "cidr",
        CIDR_ROW,
        "domain",
        DOMAIN,
        "bad",
        "300.1.2.3",
    ]);
    let file = dir.join("file-list.txt");
    std::fs::write(&file, "10.0.0.53\n").unwrap();
    let conn = az.conn(KEY);

    // --blocklist-table, merged with a --blocklist file.
    let o = analyze(
        Some(&conn),
        &[],
        &[
            "--json",
            "--blocklist-table",
            "blocklist",
            "--blocklist",
            file.to_str().unwrap(),
        ],
        &capture,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let h = hits(&o);
    assert!(has(&h, &ip, "azure-table:blocklist:ip"), "{h:?}");
    assert!(
        has(&h, "198.51.100.0/24", "azure-table:blocklist:cidr"),
        "{h:?}"
    );
    assert!(has(&h, DOMAIN, "azure-table:blocklist:domain"), "{h:?}");
    let file_source = format!("{}:1", file.display());
    assert!(has(&h, "10.0.0.53", &file_source), "{h:?}");
    let err = stderr(&o);
    assert!(err.contains("3 entries (1 pages)"), "{err}");
    assert!(
        err.contains("1 RowKeys are not blocklist entries") && err.contains("'300.1.2.3'"),
        "{err}"
    );
    assert!(!err.contains(KEY), "the key was printed: {err}");
    // --strict refuses a table with a RowKey that is not an entry.
    let strict = analyze(
        Some(&conn),
        &[],
        &["--json", "--strict", "--blocklist-table", "blocklist"],
        &capture,
    );
    assert_eq!(strict.status.code(), Some(2), "{}", stderr(&strict));

    // The table named by AZURE_BLACKLIST_TABLE, EVE alerts for each indicator.
    let o = analyze(
        Some(&conn),
        &[("AZURE_BLACKLIST_TABLE", "blocklist")],
        &["--format", "eve"],
        &capture,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let alerts: Vec<Value> = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["event_type"] == "alert")
        .collect();
    for (sid, dest) in [(9000011, ip.as_str()), (9000011, "198.51.100.66")] {
        assert!(
            alerts
                .iter()
                .any(|a| a["alert"]["signature_id"] == sid && a["dest_ip"] == dest),
            "no alert {sid} for {dest}"
        );
    }
    assert!(alerts.iter().any(|a| a["alert"]["signature_id"] == 9000014));

    // A SAS (an account SAS the script signs) instead of the key.
    let sas = az.seed(&["sas"]);
    let sas_conn = format!(
        "TableEndpoint={};SharedAccessSignature={}",
        az.endpoint,
        sas.trim()
    );
    let o = analyze(
        Some(&sas_conn),
        &[],
        &["--json", "--blocklist-table", "blocklist"],
        &capture,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let h = hits(&o);
    assert!(has(&h, &ip, "azure-table:blocklist:ip"), "SAS: {h:?}");
    assert!(!stderr(&o).contains("sig="), "the SAS was printed");

    // live: the table's entries alert while replaying.
    let live = Command::new(pcaplens_bin())
        .args(["live", "-r"])
        .arg(&capture)
        .args(["--alerts", "-", "--blocklist-table", "blocklist"])
        .env("AZURE_STORAGE_CONNECTION_STRING", &conn)
        .env_remove("AZURE_MONITOR_CONNECTION_STRING")
        .output()
        .unwrap();
    assert_eq!(live.status.code(), Some(0), "{}", stderr(&live));
    let text = String::from_utf8_lossy(&live.stdout);
    assert!(
        text.lines()
            .any(|l| l.contains("\"signature_id\":9000011") && l.contains(&ip)),
        "live: no alert for {ip}"
    );
}

/// Over 1,000 entities: two pages (Azurite's page is 1,000), and the
/// indicators sit on the second one.
#[test]
fn azure_table_paging_over_1000_entities() {
    let dir = temp_dir("azure-table-paging");
    let (capture, ip) = capture(&dir);
    let az = Azurite::start("paging");
    az.seed(&["create", "big"]);
    az.seed(&["fill", "big", "a", "1500"]);
    az.seed(&["insert", "big", "z", &ip, "z", CIDR_ROW, "z", DOMAIN]);
    let o = analyze(
        Some(&az.conn(KEY)),
        &[],
        &["--json", "--blocklist-table", "big"],
        &capture,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("1503 entries (2 pages)"), "{err}");
    let h = hits(&o);
    assert!(has(&h, &ip, "azure-table:big:z"), "{h:?}");
    assert!(has(&h, "198.51.100.0/24", "azure-table:big:z"), "{h:?}");
    assert!(has(&h, DOMAIN, "azure-table:big:z"), "{h:?}");
}

/// A wrong key, a missing table, an unreachable endpoint, no connection
/// string: clear messages; a file analysis goes on (exit 0, the file
/// blocklist still applies) unless --strict (exit 2).
#[test]
fn azure_table_errors_are_clear() {
    let dir = temp_dir("azure-table-errors");
    let (capture, _) = capture(&dir);
    let file = dir.join("file-list.txt");
    std::fs::write(&file, "10.0.0.53\n").unwrap();
    let az = Azurite::start("errors");
    az.seed(&["create", "blocklist"]);
    let wrong_key =
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==";
    let closed = format!(
        "DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};TableEndpoint=http://127.0.0.1:{}/{ACCOUNT}",
        free_port()
    );
    let cases: [(String, &str, &[&str]); 3] = [
        (
            az.conn(wrong_key),
            "blocklist",
            &[
                "authentication failed",
                "AuthorizationFailure",
                "AccountKey",
                "AZURE_STORAGE_CONNECTION_STRING",
            ],
        ),
        (
            az.conn(KEY),
            "nosuchtable",
            &["'nosuchtable'", "does not exist", "TableNotFound"],
        ),
        (closed, "blocklist", &["cannot connect"]),
    ];
    for (conn, table, words) in &cases {
        let o = analyze(
            Some(conn),
            &[],
            &[
                "--json",
                "--blocklist",
                file.to_str().unwrap(),
                "--blocklist-table",
                table,
            ],
            &capture,
        );
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(0), "{err}");
        assert!(
            err.contains("warning:") && err.contains("--strict"),
            "{err}"
        );
        for w in *words {
            assert!(err.contains(w), "{w:?} not in: {err}");
        }
        assert!(
            !err.contains(KEY) && !err.contains(wrong_key),
            "key printed: {err}"
        );
        // The analysis went on, with the file's entries.
        assert!(has(
            &hits(&o),
            "10.0.0.53",
            &format!("{}:1", file.display())
        ));
        let strict = analyze(
            Some(conn),
            &[],
            &["--json", "--strict", "--blocklist-table", table],
            &capture,
        );
        assert_eq!(strict.status.code(), Some(2), "{}", stderr(&strict));
        assert!(stderr(&strict).contains("error:"), "{}", stderr(&strict));
        assert!(strict.stdout.is_empty());
    }
    // No connection string: a usage error naming the variable.
    let o = analyze(None, &[], &["--blocklist-table", "blocklist"], &capture);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("AZURE_STORAGE_CONNECTION_STRING"),
        "{}",
        stderr(&o)
    );
    // A bad table name: a usage error.
    let o = analyze(
        Some(&az.conn(KEY)),
        &[],
        &["--blocklist-table", "no-dash"],
        &capture,
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("not a valid table name"),
        "{}",
        stderr(&o)
    );
}

/// A request as the in-test table server saw it.
#[derive(Clone, Debug)]
struct Seen {
    target: String,
    headers: Vec<(String, String)>,
}

/// The continuation protocol, including a page with no entities that still
/// carries a continuation (the service may send one; Azurite never does).
#[test]
fn azure_table_follows_continuations_across_empty_pages() {
    let dir = temp_dir("azure-table-pages");
    let (capture, ip) = capture(&dir);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::<Seen>::new()));
    let seen2 = Arc::clone(&seen);
    let pages: Vec<(Value, Option<(&str, &str)>)> = vec![
        (
            serde_json::json!({"value": [{"PartitionKey": "p", "RowKey": ip}]}),
            Some(("p", "m 1")),
        ),
        (serde_json::json!({"value": []}), Some(("q", ""))),
        (
            serde_json::json!({"value": [{"PartitionKey": "q", "RowKey": DOMAIN}]}),
            None,
        ),
    ];
    std::thread::spawn(move || {
        for (i, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { break };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let mut headers = Vec::new();
            loop {
                let mut l = String::new();
                reader.read_line(&mut l).unwrap();
                let l = l.trim_end();
                if l.is_empty() {
                    break;
                }
                if let Some((k, v)) = l.split_once(':') {
                    headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
                }
            }
            let target = line.split_whitespace().nth(1).unwrap_or("").to_string();
            seen2.lock().unwrap().push(Seen { target, headers });
            let (body, next) = pages[i.min(pages.len() - 1)].clone();
            let body = body.to_string();
            let mut resp = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json;odata=nometadata\r\nContent-Length: {}\r\nConnection: close\r\n",
                body.len()
            );
            if let Some((pk, rk)) = next {
                resp.push_str(&format!("x-ms-continuation-NextPartitionKey: {pk}\r\n"));
                if !rk.is_empty() {
                    resp.push_str(&format!("x-ms-continuation-NextRowKey: {rk}\r\n"));
                }
            }
            resp.push_str("\r\n");
            resp.push_str(&body);
            let _ = stream.write_all(resp.as_bytes());
        }
    });
    let conn =
        format!("AccountName=acct;AccountKey={KEY};TableEndpoint=http://127.0.0.1:{port}/acct");
    let o = analyze(
        Some(&conn),
        &[],
        &["--json", "--blocklist-table", "pages"],
        &capture,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("2 entries (3 pages)"), "{}", stderr(&o));
    let h = hits(&o);
    assert!(has(&h, &ip, "azure-table:pages:p") && has(&h, DOMAIN, "azure-table:pages:q"));
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[0].target, "/acct/pages()?$select=PartitionKey,RowKey");
    assert_eq!(
        seen[1].target,
        "/acct/pages()?$select=PartitionKey,RowKey&NextPartitionKey=p&NextRowKey=m%201"
    );
    assert_eq!(
        seen[2].target,
        "/acct/pages()?$select=PartitionKey,RowKey&NextPartitionKey=q"
    );
    for s in &seen {
        let h = |k: &str| {
            s.headers
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.as_str())
                .unwrap_or("")
        };
        assert!(h("authorization").starts_with("SharedKey acct:"), "{s:?}");
        assert_eq!(h("x-ms-version"), "2019-02-02");
        assert!(h("x-ms-date").ends_with(" GMT"));
        assert_eq!(h("accept"), "application/json;odata=nometadata");
    }
}

/// `live`: the table is read again every --blocklist-refresh seconds; an
/// entry added while capturing alerts on the packets after it.
#[test]
fn azure_table_live_refresh_picks_up_new_entries() {
    let dir = temp_dir("azure-table-refresh");
    let (capture, _) = capture(&dir);
    let az = Azurite::start("refresh");
    az.seed(&["create", "live"]);
    az.seed(&["insert", "live", "x", "192.0.2.1"]);
    // The scenario's last connections to 198.51.100.66 are 3.9 s and 5.9 s
    // into the capture, replayed at its own pace.
    let child = Command::new(pcaplens_bin())
        .args(["live", "-r"])
        .arg(&capture)
        .args([
            "--realtime",
            "--alerts",
            "-",
            "--blocklist-table",
            "live",
            "--blocklist-refresh",
            "1",
        ])
        .env("AZURE_STORAGE_CONNECTION_STRING", az.conn(KEY))
        .env_remove("AZURE_MONITOR_CONNECTION_STRING")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    az.seed(&["insert", "live", "cidr", CIDR_ROW]);
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("read: 1 entries"), "{err}");
    assert!(err.contains("read again: 2 entries"), "{err}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines()
            .any(|l| l.contains("\"signature_id\":9000011") && l.contains("198.51.100.66")),
        "no alert after the refresh:\n{text}\n{err}"
    );
}
