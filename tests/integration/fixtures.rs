//! The fixtures are exactly what the generator makes (see fixtures/README.md).

use pcaplens_core::generate::{generate, GenerateOptions, Scenario};
use pcaplens_tests::fixture_files;

#[test]
fn fixtures_are_reproducible_from_the_generator() {
    let files = fixture_files();
    assert_eq!(files.len(), Scenario::ALL.len(), "one fixture per scenario");
    for scenario in Scenario::ALL {
        let path = pcaplens_tests::repo_root()
            .join("fixtures")
            .join(format!("{}.pcap", scenario.name()));
        let on_disk = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let opts = GenerateOptions {
            packets: 300,
            seed: 1,
            ..GenerateOptions::default()
        };
        let made = generate(*scenario, &opts).unwrap();
        assert!(
            made.bytes == on_disk,
            "{} differs from the generator's output: regenerate (fixtures/README.md)",
            path.display()
        );
    }
}
