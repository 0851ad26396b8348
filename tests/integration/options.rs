//! Analysis options through the CLI (issue 17): a `--config` file and the
//! same settings as flags give the same report; the file's mistakes are usage
//! errors naming the file and the key; `config --print-defaults` documents
//! every key and parses back to the defaults.

use pcaplens_core::options::OPTION_DOCS;
use pcaplens_core::AnalyzerConfig;
use pcaplens_tests::{pcaplens_bin, repo_root, temp_dir};
use std::process::{Command, Output};

fn mixed() -> std::path::PathBuf {
    repo_root().join("fixtures/mixed.pcap")
}

fn run(args: &[&str]) -> Output {
    Command::new(pcaplens_bin()).args(args).output().unwrap()
}

fn analyze_json(extra: &[&str]) -> Vec<u8> {
    let capture = mixed();
    let mut args = vec!["analyze", "--json"];
    args.extend_from_slice(extra);
    args.push(capture.to_str().unwrap());
    let out = run(&args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn report(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes).unwrap()
}

const CONFIG: &str = r#"
top_n = 3

[detect.long_lived]
min_duration_secs = 60

[detect.ports]
max_ordinary_port = 20000

[detect.scan]
vertical_min_ports = 5
"#;

#[test]
fn a_config_file_and_the_same_flags_give_the_same_report() {
    let dir = temp_dir("options-same");
    let config = dir.join("pcaplens.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let from_file = analyze_json(&["--config", config.to_str().unwrap()]);
    let from_flags = analyze_json(&[
        "--top",
        "3",
        "--long-conn-threshold",
        "60",
        "--unusual-port-threshold",
        "20000",
        "--set",
        "detect.scan.vertical_min_ports=5",
    ]);
    assert!(
        from_file == from_flags,
        "the config file and the flags disagree"
    );
    let default = analyze_json(&[]);
    assert!(from_file != default);
    let (changed, default) = (report(&from_file), report(&default));
    let findings = |r: &serde_json::Value, s: &str| r["findings"][s].clone();
    assert_eq!(findings(&default, "long_lived")["threshold_secs"], 3600);
    assert_eq!(findings(&changed, "long_lived")["threshold_secs"], 60);
    // The default flags a server on 8081; above 20000 only, nothing.
    assert_eq!(findings(&default, "unusual_ports")["total_servers"], 1);
    assert_eq!(findings(&changed, "unusual_ports")["total_servers"], 0);
    assert!(changed["summary"]["top_talkers"].as_array().unwrap().len() <= 3);
}

#[test]
fn flags_override_the_file_and_only_the_flags_given() {
    let dir = temp_dir("options-precedence");
    let config = dir.join("pcaplens.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let c = config.to_str().unwrap();
    let both = report(&analyze_json(&[
        "--config",
        c,
        "--long-conn-threshold",
        "120",
    ]));
    assert_eq!(both["findings"]["long_lived"]["threshold_secs"], 120);
    // Not given on the command line: the file's values stand.
    assert_eq!(both["findings"]["unusual_ports"]["total_servers"], 0);
    assert!(both["summary"]["top_talkers"].as_array().unwrap().len() <= 3);
    // --set comes last.
    let set = report(&analyze_json(&[
        "--config",
        c,
        "--long-conn-threshold",
        "120",
        "--set",
        "detect.long_lived.min_duration_secs=7",
    ]));
    assert_eq!(set["findings"]["long_lived"]["threshold_secs"], 7);
}

#[test]
fn config_file_mistakes_exit_2_naming_the_file_and_the_key() {
    let dir = temp_dir("options-bad");
    let capture = mixed();
    let cases = [
        (
            "unknown.toml",
            "[detect.scan]\nvertical_min_portz = 3\n",
            "unknown option 'detect.scan.vertical_min_portz'; expected one of: vertical_min_ports,",
        ),
        (
            "value.toml",
            "[detect.long_lived]\nmin_duration_secs = \"an hour\"\n",
            "option detect.long_lived.min_duration_secs must be a non-negative integer",
        ),
        (
            "range.toml",
            "[flow]\nmax_flows = 0\n",
            "invalid option flow.max_flows: must be at least 1",
        ),
        (
            "syntax.toml",
            "[detect.scan\n",
            "not a valid TOML config file",
        ),
        (
            "blocklist.toml",
            "[detect.blocklist]\nentries = [\"10.0.0.0/33\"]\n",
            "bad blocklist entry '10.0.0.0/33'",
        ),
    ];
    for (name, text, expected) in cases {
        let config = dir.join(name);
        std::fs::write(&config, text).unwrap();
        let out = run(&[
            "analyze",
            "--config",
            config.to_str().unwrap(),
            capture.to_str().unwrap(),
        ]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {err}");
        assert!(err.contains(config.to_str().unwrap()), "{name}: {err}");
        assert!(err.contains(expected), "{name}: {err}");
        assert!(out.stdout.is_empty(), "{name}");
    }
    let out = run(&[
        "analyze",
        "--set",
        "detect.scan.nope=1",
        capture.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("'detect.scan.nope'"));
    let out = run(&[
        "analyze",
        "--config",
        "/nonexistent/pcaplens.toml",
        capture.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read config file"));
}

#[test]
fn printed_defaults_document_every_key_and_parse_back_to_the_defaults() {
    let out = run(&["config", "--print-defaults"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    let table: toml::Table = toml::from_str(&text).unwrap();
    let value = serde_json::to_value(table).unwrap();
    assert_eq!(
        AnalyzerConfig::from_json(&value).unwrap(),
        AnalyzerConfig::default()
    );
    let docs = std::fs::read_to_string(repo_root().join("docs/options.md")).unwrap();
    for (key, meaning) in OPTION_DOCS {
        assert!(text.contains(&format!("# {meaning}\n")), "{key}");
        assert!(
            docs.contains(&format!("`{key}`")),
            "docs/options.md lacks {key}"
        );
    }
    // A file of the printed defaults gives the default report.
    let dir = temp_dir("options-defaults");
    let config = dir.join("defaults.toml");
    std::fs::write(&config, &text).unwrap();
    assert!(analyze_json(&["--config", config.to_str().unwrap()]) == analyze_json(&[]));
}
