use super::split::{plan, plan_even, slice_reader};
use super::*;
use crate::AnalyzerConfig;

fn capture() -> Vec<u8> {
    let opts = crate::generate::GenerateOptions {
        packets: 3000,
        seed: 7,
        ..Default::default()
    };
    crate::generate::generate(crate::generate::Scenario::Mixed, &opts)
        .unwrap()
        .bytes
}

fn pieces_of(data: &[u8], every: usize) -> Vec<Partial> {
    let mut i = 0usize;
    let specs = plan(data.len() as u64, &mut slice_reader(data), &mut |_| {
        i += 1;
        i % every == 0
    })
    .unwrap();
    specs
        .iter()
        .map(|s| analyze_piece(data, s, "x", AnalyzerConfig::default()).unwrap())
        .collect()
}

fn fold(ps: &[Partial]) -> Partial {
    ps.iter()
        .try_fold(Partial::empty(), |acc, p| merge(&acc, p))
        .unwrap()
}

#[test]
fn merge_is_associative_with_empty_as_identity() {
    let data = capture();
    let ps = pieces_of(&data, 700);
    assert!(ps.len() >= 4);
    let (a, b, c) = (&ps[0], &ps[1], &ps[2]);
    let left = merge(&merge(a, b).unwrap(), c).unwrap();
    let right = merge(a, &merge(b, c).unwrap()).unwrap();
    assert_eq!(left, right);
    assert_eq!(merge(&Partial::empty(), a).unwrap(), *a);
    assert_eq!(merge(a, &Partial::empty()).unwrap(), *a);
    assert_ne!(left, *a);
}

#[test]
fn merged_pieces_give_the_whole_summary() {
    let data = capture();
    let whole = crate::analyze_bytes(&data, AnalyzerConfig::default()).unwrap();
    for every in [97, 999, 1500] {
        let merged = finish(&fold(&pieces_of(&data, every)));
        assert_eq!(merged.capture, whole.capture, "every {every}");
        assert_eq!(merged.status, whole.status);
        let (mut m, mut w) = (merged.summary.clone(), whole.summary.clone());
        for s in [&mut m, &mut w] {
            s.flows = Default::default();
            s.conversations = Default::default();
            s.top_talkers = Default::default();
            s.top_conversations = Default::default();
        }
        assert_eq!(m, w, "every {every}");
        assert!(w.packets > 0 && !w.protocol_hierarchy.is_empty());
    }
}

#[test]
fn pieces_out_of_order_are_refused() {
    let data = capture();
    let ps = pieces_of(&data, 1000);
    assert!(matches!(
        merge(&ps[1], &ps[0]),
        Err(PartialError::OutOfOrder(_))
    ));
    assert!(matches!(
        merge(&ps[0], &ps[2]),
        Err(PartialError::OutOfOrder(_))
    ));
    // Without spans (separate files) the timestamps decide.
    let strip = |p: &Partial| Partial {
        span: None,
        ..p.clone()
    };
    assert!(merge(&strip(&ps[0]), &strip(&ps[1])).is_ok());
    assert!(matches!(
        merge(&strip(&ps[1]), &strip(&ps[0])),
        Err(PartialError::OutOfOrder(_))
    ));
}

#[test]
fn bytes_round_trip_and_bad_values_are_errors() {
    let data = capture();
    let p = fold(&pieces_of(&data, 800));
    let bytes = p.to_bytes();
    assert_eq!(Partial::from_bytes(&bytes).unwrap(), p);
    assert_eq!(
        Partial::from_bytes(&Partial::empty().to_bytes()).unwrap(),
        Partial::empty()
    );
    assert_eq!(
        Partial::from_bytes(b"hello").unwrap_err(),
        PartialError::NotAPartial
    );
    let mut v = bytes.clone();
    v[8] = 9;
    assert_eq!(
        Partial::from_bytes(&v).unwrap_err(),
        PartialError::Version(9)
    );
    for cut in [10, bytes.len() / 2, bytes.len() - 1] {
        assert!(matches!(
            Partial::from_bytes(&bytes[..cut]),
            Err(PartialError::Damaged(_))
        ));
    }
    let mut extra = bytes.clone();
    extra.push(0);
    assert!(Partial::from_bytes(&extra).is_err());
    // Every one-byte change either reads back as some valid value or is an error: no panic.
    for i in 10..bytes.len() {
        let mut v = bytes.clone();
        v[i] ^= 0xff;
        if let Ok(q) = Partial::from_bytes(&v) {
            let _ = merge(&q, &p).map(|m| finish(&m));
            let _ = finish(&q);
        }
    }
}

#[test]
fn even_plan_covers_the_file() {
    let data = capture();
    let specs = plan_even(data.len() as u64, 5, &mut slice_reader(&data)).unwrap();
    assert_eq!(specs.len(), 5);
    assert_eq!(specs[0].start, 0);
    for w in specs.windows(2) {
        assert_eq!(w[0].end, w[1].start);
        assert_eq!(w[1].prefix, vec![(0, 24)]);
    }
    assert_eq!(specs[4].end, data.len() as u64);
}
