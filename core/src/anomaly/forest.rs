//! Isolation Forest (Liu, Ting & Zhou, ICDM 2008), as scikit-learn builds it:
//! each tree sees a subsample of ψ = min(sample_size, n) rows drawn without
//! replacement, splits on a feature drawn uniformly among those not constant
//! in the node at a threshold uniform in [min, max), and stops at depth
//! ⌈log2 ψ⌉. A row's score is 2^(−E[h(x)] / c(ψ)), where h is the path length
//! plus c(leaf size) for the rows the leaf did not separate.
//!
//! Deterministic on every platform: our own PRNG, and only IEEE basic
//! operations in anything that reaches the output (own `ln` and `exp2`).

use crate::rng::{ln, Rng};

const EULER_GAMMA: f64 = 0.577_215_664_901_532_9;
const LEAF: u16 = u16::MAX;

/// Average path length of an unsuccessful BST search among `n` rows: the
/// normaliser c(n) of the paper (and of scikit-learn's `_average_path_length`).
pub fn average_path_length(n: usize) -> f64 {
    match n {
        0 | 1 => 0.0,
        2 => 1.0,
        _ => {
            let n = n as f64;
            2.0 * (ln(n - 1.0) + EULER_GAMMA) - 2.0 * (n - 1.0) / n
        }
    }
}

/// 2^x from basic operations only (platform-independent result).
pub fn exp2(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    let x = x.clamp(-1000.0, 1000.0);
    let k = x.floor();
    let f = (x - k) * std::f64::consts::LN_2; // in [0, ln 2)
    let mut term = 1.0;
    let mut sum = 1.0;
    for i in 1..24 {
        term *= f / i as f64;
        sum += term;
    }
    let k = k as i64;
    if k < -1022 {
        return 0.0;
    }
    sum * f64::from_bits(((1023 + k) as u64) << 52)
}

/// One node, preorder: the left child follows its parent.
#[derive(Clone, Copy, Debug)]
struct Node {
    /// Split feature, or [`LEAF`].
    feature: u16,
    threshold: f32,
    /// Index of the right child (split) or rows in the leaf (leaf).
    right_or_size: u32,
}

#[derive(Clone, Debug)]
struct Tree {
    nodes: Vec<Node>,
    /// The same tree as a complete binary tree, for small height limits.
    flat: Option<FlatTree>,
}

/// Deepest height limit scored through [`FlatTree`] (ψ ≤ 256, the default).
const FLAT_MAX_LEVELS: u32 = 8;
/// Slots of a [`FlatTree`]: fixed, so that masked indexing needs no bounds check.
const FLAT_SLOTS: usize = 1 << FLAT_MAX_LEVELS;
/// Most features a [`FlatTree`] row holds (padded to this length).
const FLAT_DIMS: usize = 32;

/// A tree padded to a complete binary tree of `levels` levels: every walk
/// takes exactly `levels` steps with no leaf test, and each leaf holds its
/// path length (depth + c(size)) precomputed. A leaf above the last level
/// fills every slot of its subtree, so the result equals the sparse walk.
#[derive(Clone, Debug)]
struct FlatTree {
    levels: u32,
    /// (threshold, feature) in breadth-first order; children of i: 2i+1, 2i+2.
    inner: Box<[(f32, u32); FLAT_SLOTS]>,
    leaves: Box<[f64; FLAT_SLOTS]>,
}

impl FlatTree {
    fn of(nodes: &[Node], levels: u32, leaf_c: &[f64]) -> FlatTree {
        debug_assert!(levels <= FLAT_MAX_LEVELS);
        let mut t = FlatTree {
            levels,
            inner: Box::new([(f32::INFINITY, 0); FLAT_SLOTS]),
            leaves: Box::new([0.0; FLAT_SLOTS]),
        };
        t.fill(nodes, 0, 0, 0, leaf_c);
        t
    }

    fn inner_len(&self) -> usize {
        (1 << self.levels) - 1
    }

    fn fill(&mut self, nodes: &[Node], at: usize, pos: usize, depth: u32, leaf_c: &[f64]) {
        let n = nodes[at];
        if n.feature == LEAF || depth >= self.levels {
            let size = n.right_or_size as usize;
            let value = depth as f64 + leaf_c.get(size).copied().unwrap_or(0.0);
            // Leaves under `pos` at the last level: a contiguous range.
            let span = 1usize << (self.levels - depth);
            let first = ((pos + 1) << (self.levels - depth)) - 1 - self.inner_len();
            self.leaves[first..first + span].fill(value);
            return;
        }
        self.inner[pos] = (n.threshold, n.feature as u32);
        self.fill(nodes, at + 1, 2 * pos + 1, depth + 1, leaf_c);
        self.fill(
            nodes,
            n.right_or_size as usize,
            2 * pos + 2,
            depth + 1,
            leaf_c,
        );
    }

    #[inline]
    fn path_length(&self, row: &[f32; FLAT_DIMS]) -> f64 {
        if self.levels == FLAT_MAX_LEVELS {
            // The default ψ = 256: a constant trip count, unrolled.
            return self.walk(row, FLAT_MAX_LEVELS);
        }
        self.walk(row, self.levels)
    }

    #[inline(always)]
    fn walk(&self, row: &[f32; FLAT_DIMS], levels: u32) -> f64 {
        let mut i = 0usize;
        for _ in 0..levels {
            let (threshold, feature) = self.inner[i & (FLAT_SLOTS - 1)];
            i = 2 * i + 1 + (row[feature as usize & (FLAT_DIMS - 1)] > threshold) as usize;
        }
        self.leaves[(i + 1 - (1 << levels)) & (FLAT_SLOTS - 1)]
    }
}

/// Trees walked between two checks of [`Forest::score_if_at_least`]'s bound.
const CHECK_EVERY: usize = 10;

impl Tree {
    /// The shortest path length a row can get from this tree.
    fn min_path_length(&self, leaf_c: &[f64]) -> f64 {
        if let Some(f) = &self.flat {
            let leaves = 1usize << f.levels;
            return f.leaves[..leaves]
                .iter()
                .copied()
                .fold(f64::INFINITY, f64::min);
        }
        let mut least = f64::INFINITY;
        let mut stack = vec![(0usize, 0u32)];
        while let Some((i, depth)) = stack.pop() {
            let n = self.nodes[i];
            if n.feature == LEAF {
                let size = n.right_or_size as usize;
                let c = leaf_c
                    .get(size)
                    .copied()
                    .unwrap_or_else(|| average_path_length(size));
                least = least.min(depth as f64 + c);
            } else {
                stack.push((i + 1, depth + 1));
                stack.push((n.right_or_size as usize, depth + 1));
            }
        }
        least
    }
}

/// A trained forest over rows of `dims` f32 features.
#[derive(Clone, Debug)]
pub struct Forest {
    trees: Vec<Tree>,
    dims: usize,
    /// c(ψ), the score's normaliser.
    norm: f64,
    /// c(k) for leaf sizes k ≤ ψ (a leaf never holds more than ψ rows):
    /// scoring then needs no logarithm.
    leaf_c: Vec<f64>,
    /// Every tree has its [`FlatTree`]: known once, not asked per row.
    all_flat: bool,
    /// `min_rest[k]`: the least total path length trees k.. can add (each
    /// tree's shallowest leaf), a bound that lets a low score stop early.
    min_rest: Vec<f64>,
}

impl Forest {
    /// Train on `rows` (row-major, `rows.len() / dims` rows). `trees` ≥ 1.
    pub fn train(rows: &[f32], dims: usize, trees: usize, sample_size: usize, seed: u64) -> Forest {
        let n = rows.len().checked_div(dims).unwrap_or(0);
        let psi = sample_size.max(1).min(n);
        let height_limit = ceil_log2(psi.max(2));
        let mut rng = Rng::derive(seed, 0x150F_0AE5, 0);
        let mut perm: Vec<u32> = (0..n as u32).collect();
        let mut sample = Vec::with_capacity(psi);
        let mut forest = Forest {
            trees: Vec::with_capacity(trees),
            dims,
            norm: average_path_length(psi),
            leaf_c: (0..=psi).map(average_path_length).collect(),
            all_flat: height_limit <= FLAT_MAX_LEVELS && dims <= FLAT_DIMS,
            min_rest: Vec::new(),
        };
        for _ in 0..trees.max(1) {
            // Partial Fisher–Yates: ψ distinct rows in O(ψ).
            for i in 0..psi {
                let j = i + rng.below((n - i) as u64) as usize;
                perm.swap(i, j);
            }
            sample.clear();
            sample.extend_from_slice(&perm[..psi]);
            let mut tree = Tree {
                nodes: Vec::new(),
                flat: None,
            };
            build(
                &mut tree.nodes,
                rows,
                dims,
                &mut sample,
                0,
                height_limit,
                &mut rng,
            );
            if forest.all_flat {
                tree.flat = Some(FlatTree::of(&tree.nodes, height_limit, &forest.leaf_c));
            }
            forest.trees.push(tree);
        }
        let mins: Vec<f64> = forest
            .trees
            .iter()
            .map(|t| t.min_path_length(&forest.leaf_c))
            .collect();
        forest.min_rest = vec![0.0; mins.len() + 1];
        for k in (0..mins.len()).rev() {
            forest.min_rest[k] = forest.min_rest[k + 1] + mins[k];
        }
        forest
    }

    /// The score of `row` if it is at least `floor`; `None` when it is
    /// certainly below (then not every tree was walked). A returned score
    /// equals [`Self::score`] bit for bit: the trees are summed in the same
    /// order. Ordinary flows, far below the best candidates, stop early.
    pub fn score_if_at_least(&self, row: &[f32], floor: f64) -> Option<f64> {
        debug_assert_eq!(row.len(), self.dims);
        if self.norm == 0.0 || !self.all_flat {
            return Some(self.score(row)).filter(|&s| s >= floor);
        }
        let mut padded = [0f32; FLAT_DIMS];
        padded[..row.len()].copy_from_slice(row);
        let n = self.trees.len();
        // A margin far above the rounding of a sum of a hundred path lengths.
        let floor_with_margin = floor * (1.0 - 1e-9);
        // The score falls as the total path length grows: a total above this
        // cannot reach the floor. Compared in path lengths, the bound needs
        // no exp2 per check; it only prunes (the score itself is computed as
        // before), and its own rounding is covered by a further margin.
        let longest = if floor_with_margin > 0.0 {
            -floor_with_margin.log2() * self.norm * n as f64 * (1.0 + 1e-9)
        } else {
            f64::INFINITY
        };
        let mut total = 0.0;
        for (k, t) in self.trees.iter().enumerate() {
            total += t.flat.as_ref().map_or(0.0, |f| f.path_length(&padded));
            if (k + 1) % CHECK_EVERY == 0 && k + 1 < n && total + self.min_rest[k + 1] > longest {
                return None;
            }
        }
        let score = exp2(-(total / n as f64) / self.norm);
        Some(score).filter(|&s| s >= floor)
    }

    /// Anomaly score in (0, 1]: near 1 isolates fast (odd), ≤ 0.5 ordinary.
    pub fn score(&self, row: &[f32]) -> f64 {
        self.score_first(row, self.trees.len())
    }

    /// The score by the first `k` trees only (a cheaper estimate).
    pub fn score_first(&self, row: &[f32], k: usize) -> f64 {
        debug_assert_eq!(row.len(), self.dims);
        if self.norm == 0.0 {
            return 0.5;
        }
        let k = k.clamp(1, self.trees.len().max(1));
        let mut total = 0.0;
        if self.all_flat {
            let mut padded = [0f32; FLAT_DIMS];
            padded[..row.len()].copy_from_slice(row);
            for t in self.trees.iter().take(k) {
                total += t.flat.as_ref().map_or(0.0, |f| f.path_length(&padded));
            }
        } else {
            for t in self.trees.iter().take(k) {
                total += path_length(&t.nodes, &self.leaf_c, row);
            }
        }
        exp2(-(total / k as f64) / self.norm)
    }
}

fn ceil_log2(n: usize) -> u32 {
    usize::BITS - (n - 1).leading_zeros()
}

fn path_length(nodes: &[Node], leaf_c: &[f64], row: &[f32]) -> f64 {
    let mut i = 0usize;
    let mut depth = 0u32;
    loop {
        let n = nodes[i];
        if n.feature == LEAF {
            let size = n.right_or_size as usize;
            return depth as f64
                + leaf_c
                    .get(size)
                    .copied()
                    .unwrap_or_else(|| average_path_length(size));
        }
        depth += 1;
        // NaN never occurs in our features; it would go right.
        i = if row[n.feature as usize] <= n.threshold {
            i + 1
        } else {
            n.right_or_size as usize
        };
    }
}

/// Grow a subtree over `idx` (row numbers), preorder into `nodes`. Depth is
/// bounded by `limit` (⌈log2 ψ⌉ ≤ 64), so the recursion is shallow.
fn build(
    nodes: &mut Vec<Node>,
    rows: &[f32],
    dims: usize,
    idx: &mut [u32],
    depth: u32,
    limit: u32,
    rng: &mut Rng,
) {
    let me = nodes.len();
    nodes.push(Node {
        feature: LEAF,
        threshold: 0.0,
        right_or_size: idx.len() as u32,
    });
    if depth >= limit || idx.len() <= 1 {
        return;
    }
    // Draw features without replacement until one is not constant in this
    // node: uniform among the non-constant ones, as scikit-learn's random
    // splitter, and usually one scan of the rows instead of one per feature.
    let nfeat = dims.min(64);
    let mut order: [u8; 64] = [0; 64];
    for (i, o) in order.iter_mut().enumerate().take(nfeat) {
        *o = i as u8;
    }
    let mut chosen = None;
    for k in 0..nfeat {
        let pick = k + rng.below((nfeat - k) as u64) as usize;
        order.swap(k, pick);
        let f = order[k] as usize;
        let mut lo = f32::INFINITY;
        let mut hi = f32::NEG_INFINITY;
        // Plain comparisons rather than `min`/`max`: the same bounds for
        // our NaN-free features, without the NaN handling per row.
        for &r in idx.iter() {
            let v = rows[r as usize * dims + f];
            if v < lo {
                lo = v;
            }
            if v > hi {
                hi = v;
            }
        }
        if hi > lo {
            chosen = Some((f as u16, lo, hi));
            break;
        }
    }
    let Some((feature, lo, hi)) = chosen else {
        return;
    };
    let mut threshold = (lo as f64 + rng.f64() * (hi as f64 - lo as f64)) as f32;
    if threshold >= hi {
        // Rounded up to the maximum: both children must get rows.
        threshold = lo;
    }
    // Partition: rows ≤ threshold first.
    let mut split = 0;
    for i in 0..idx.len() {
        if rows[idx[i] as usize * dims + feature as usize] <= threshold {
            idx.swap(i, split);
            split += 1;
        }
    }
    let (left, right) = idx.split_at_mut(split);
    build(nodes, rows, dims, left, depth + 1, limit, rng);
    let right_at = nodes.len() as u32;
    build(nodes, rows, dims, right, depth + 1, limit, rng);
    nodes[me] = Node {
        feature,
        threshold,
        right_or_size: right_at,
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp2_matches_std() {
        for &x in &[-30.0f64, -3.7, -1.0, -0.5, -0.123, 0.0, 0.7, 5.25] {
            let a = exp2(x);
            let b = x.exp2();
            assert!((a - b).abs() <= 1e-14 * b.max(1.0), "{x}: {a} vs {b}");
        }
    }

    #[test]
    fn path_length_normaliser_known_values() {
        assert_eq!(average_path_length(1), 0.0);
        assert_eq!(average_path_length(2), 1.0);
        // 2(H(255)) − 2·255/256 with H(i) ≈ ln i + γ.
        let c256 = 2.0 * (255f64.ln() + EULER_GAMMA) - 2.0 * 255.0 / 256.0;
        assert!((average_path_length(256) - c256).abs() < 1e-12);
    }

    #[test]
    fn outlier_scores_highest_and_training_is_deterministic() {
        // A 2-D cloud on a grid with one far point.
        let mut rows = Vec::new();
        for i in 0..500 {
            rows.push((i % 25) as f32);
            rows.push((i / 25) as f32);
        }
        rows.extend_from_slice(&[200.0, -150.0]);
        let f = Forest::train(&rows, 2, 100, 256, 7);
        let scores: Vec<f64> = rows.chunks(2).map(|r| f.score(r)).collect();
        let best = scores
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .unwrap()
            .0;
        assert_eq!(best, 500);
        assert!(scores[500] > 0.7, "{}", scores[500]);
        let centre = f.score(&[12.0, 10.0]);
        assert!(centre < 0.5, "{centre}");
        // The padded layout walks to the same leaves as the sparse one.
        for r in rows.chunks(2).step_by(7) {
            let mut padded = [0f32; FLAT_DIMS];
            padded[..2].copy_from_slice(r);
            for t in &f.trees {
                let flat = t
                    .flat
                    .as_ref()
                    .expect("height 8 is flat")
                    .path_length(&padded);
                assert_eq!(flat, path_length(&t.nodes, &f.leaf_c, r));
            }
        }
        let again = Forest::train(&rows, 2, 100, 256, 7);
        let scores2: Vec<f64> = rows.chunks(2).map(|r| again.score(r)).collect();
        assert_eq!(scores, scores2);
    }

    #[test]
    fn a_score_above_the_floor_is_exact_and_one_below_is_dropped() {
        let mut rows = Vec::new();
        for i in 0..600 {
            rows.push((i % 30) as f32);
            rows.push((i / 30) as f32 * 1.5);
            rows.push(((i * 7) % 11) as f32);
        }
        rows.extend_from_slice(&[300.0, -40.0, 5.0, 29.0, 100.0, 0.0]);
        for (trees, psi) in [(100, 256), (37, 256), (20, 600)] {
            let f = Forest::train(&rows, 3, trees, psi, 3);
            let mut dropped = 0;
            for r in rows.chunks(3) {
                let exact = f.score(r);
                for floor in [0.0, 0.4, 0.5, exact, 0.6, 0.75, 0.9] {
                    match f.score_if_at_least(r, floor) {
                        Some(s) => {
                            assert_eq!(s.to_bits(), exact.to_bits());
                            assert!(exact >= floor);
                        }
                        None => {
                            assert!(exact < floor, "{exact} dropped at {floor}");
                            dropped += 1;
                        }
                    }
                }
            }
            assert!(dropped > 0);
        }
    }

    #[test]
    fn tiny_and_constant_inputs_do_not_panic() {
        let f = Forest::train(&[], 3, 10, 256, 1);
        assert_eq!(f.score(&[1.0, 2.0, 3.0]), 0.5);
        let f = Forest::train(&[1.0, 1.0, 1.0, 1.0], 2, 10, 256, 1);
        let s = f.score(&[1.0, 1.0]);
        assert!(s > 0.0 && s <= 1.0);
        let f = Forest::train(&[5.0; 30], 3, 10, 256, 1);
        assert!(f.score(&[5.0, 5.0, 5.0]).is_finite());
    }
}
