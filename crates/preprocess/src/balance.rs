//! Class balancing for training folds: random oversampling, SMOTE and class weights.
//!
//! Balancing changes what a model sees, never what it is evaluated on: callers apply it to a
//! training fold after fitting preprocessing on that fold, and never to validation rows.

use ndarray::{Array2, ArrayView2, Axis};
use rand::Rng;
use rand::seq::SliceRandom;

/// How training folds are balanced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Balance {
    /// Train on the rows as they are.
    None,
    /// Repeat random minority rows until every class matches the largest.
    Oversample,
    /// Synthesise minority rows between a row and one of its `k` nearest same-class neighbours.
    Smote {
        /// Neighbours considered.
        k: usize,
    },
    /// Weight rows inversely to their class frequency, in models that accept weights.
    ClassWeight,
}

impl Balance {
    /// The command-line spelling.
    pub fn as_str(&self) -> &'static str {
        match self {
            Balance::None => "none",
            Balance::Oversample => "oversample",
            Balance::Smote { .. } => "smote",
            Balance::ClassWeight => "class-weight",
        }
    }
}

impl std::str::FromStr for Balance {
    type Err = String;

    /// Parses the command-line spelling (`none`, `oversample`, `smote`, `class-weight`).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim() {
            "none" => Ok(Balance::None),
            "oversample" => Ok(Balance::Oversample),
            "smote" => Ok(Balance::Smote { k: 5 }),
            "class-weight" | "class_weight" => Ok(Balance::ClassWeight),
            other => Err(format!(
                "unknown balance `{other}`, expected `none`, `oversample`, `smote` or `class-weight`"
            )),
        }
    }
}

/// Per-class weights `n_rows / (n_present_classes * count)`; absent classes get 0.
pub fn class_weights(y: &[usize], n_classes: usize) -> Vec<f64> {
    let mut counts = vec![0usize; n_classes];
    for class_idx in y {
        counts[*class_idx] += 1;
    }
    let present = counts.iter().filter(|count| **count > 0).count().max(1);
    counts
        .iter()
        .map(|count| {
            if *count == 0 {
                0.0
            } else {
                y.len() as f64 / (present * count) as f64
            }
        })
        .collect()
}

fn class_rows(y: &[usize], n_classes: usize) -> Vec<Vec<usize>> {
    let mut rows = vec![Vec::new(); n_classes];
    for (row_idx, class_idx) in y.iter().enumerate() {
        rows[*class_idx].push(row_idx);
    }
    rows
}

/// Random oversampling to the majority count. Returns the new rows and labels.
pub fn oversample<R: Rng>(
    x: ArrayView2<'_, f64>,
    y: &[usize],
    n_classes: usize,
    rng: &mut R,
) -> (Array2<f64>, Vec<usize>) {
    let by_class = class_rows(y, n_classes);
    let target = by_class.iter().map(Vec::len).max().unwrap_or(0);
    let mut selected: Vec<usize> = (0..y.len()).collect();
    for rows in &by_class {
        if rows.is_empty() {
            continue;
        }
        for _ in rows.len()..target {
            selected.push(rows[rng.gen_range(0..rows.len())]);
        }
    }
    let labels = selected.iter().map(|row_idx| y[*row_idx]).collect();
    (x.select(Axis(0), &selected), labels)
}

/// SMOTE: each synthetic row lies on the segment between a minority row and one of its `k`
/// nearest same-class neighbours. Classes with a single row fall back to repetition.
///
/// Inputs should be scaled (distances are Euclidean). One-hot columns are interpolated like
/// any other, giving fractional codes between categories; with the datasets here the only
/// categorical feature (a two-valued type) is usually shared by near neighbours, so this rarely
/// matters.
pub fn smote<R: Rng>(
    x: ArrayView2<'_, f64>,
    y: &[usize],
    n_classes: usize,
    k: usize,
    rng: &mut R,
) -> (Array2<f64>, Vec<usize>) {
    let by_class = class_rows(y, n_classes);
    let target = by_class.iter().map(Vec::len).max().unwrap_or(0);
    let n_columns = x.ncols();
    let mut synthetic: Vec<f64> = Vec::new();
    let mut labels: Vec<usize> = y.to_vec();
    for (class_idx, rows) in by_class.iter().enumerate() {
        if rows.is_empty() || rows.len() >= target {
            continue;
        }
        // Neighbour lists within the class, computed once per class.
        let neighbours: Vec<Vec<usize>> = rows
            .iter()
            .map(|row_idx| {
                let mut distances: Vec<(f64, usize)> = rows
                    .iter()
                    .filter(|other| *other != row_idx)
                    .map(|other| {
                        let distance: f64 = x
                            .row(*row_idx)
                            .iter()
                            .zip(x.row(*other).iter())
                            .map(|(a, b)| (a - b) * (a - b))
                            .sum();
                        (distance, *other)
                    })
                    .collect();
                distances.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                distances.truncate(k.max(1));
                distances.into_iter().map(|(_, other)| other).collect()
            })
            .collect();
        for _ in rows.len()..target {
            let pick = rng.gen_range(0..rows.len());
            let base = x.row(rows[pick]);
            match neighbours[pick].choose(rng) {
                Some(neighbour) => {
                    let gap: f64 = rng.r#gen();
                    let other = x.row(*neighbour);
                    synthetic.extend(
                        base.iter()
                            .zip(other.iter())
                            .map(|(a, b)| a + gap * (b - a)),
                    );
                }
                None => synthetic.extend(base.iter().copied()),
            }
            labels.push(class_idx);
        }
    }
    let n_new = synthetic.len() / n_columns.max(1);
    let extra = Array2::from_shape_vec((n_new, n_columns), synthetic)
        .unwrap_or_else(|_| Array2::zeros((0, n_columns)));
    let extra_view = extra.view();
    let combined = match ndarray::concatenate(Axis(0), &[x.view(), extra_view]) {
        Ok(combined) => combined,
        Err(_) => x.to_owned(),
    };
    (combined, labels)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;
    use rand::SeedableRng;
    use rand_xoshiro::Xoshiro256PlusPlus;

    #[test]
    fn weights_are_inverse_frequency() {
        assert_eq!(class_weights(&[0, 0, 0, 1], 3), vec![4.0 / 6.0, 2.0, 0.0]);
    }

    #[test]
    fn oversampling_and_smote_balance_classes_reproducibly() {
        let x = array![
            [0.0, 0.0],
            [1.0, 1.0],
            [2.0, 2.0],
            [10.0, 10.0],
            [11.0, 11.0]
        ];
        let y = [0, 0, 0, 1, 1];
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
        let (xo, yo) = oversample(x.view(), &y, 2, &mut rng);
        assert_eq!(yo.iter().filter(|c| **c == 1).count(), 3);
        assert_eq!(xo.nrows(), 6);
        let run = |seed| {
            smote(
                x.view(),
                &y,
                2,
                5,
                &mut Xoshiro256PlusPlus::seed_from_u64(seed),
            )
        };
        let (xs, ys) = run(3);
        assert_eq!(ys, vec![0, 0, 0, 1, 1, 1]);
        let new = xs.row(5);
        assert!(
            new[0] >= 10.0 && new[0] <= 11.0 && new[0] == new[1],
            "on the segment"
        );
        assert_eq!(run(3).0, xs, "same seed, same rows");
    }
}
