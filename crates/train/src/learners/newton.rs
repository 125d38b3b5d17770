//! Binary L2-penalised logistic regression by Newton's method, the solver behind the
//! logistic-regression family for two classes.
//!
//! linfa-logistic minimises the same objective with L-BFGS through argmin, whose per-iteration
//! bookkeeping (element-wise `ndarray` temporaries, a More-Thuente line search that evaluates
//! the loss and gradient many times) made a 100,000-row fit several times slower than
//! scikit-learn's lbfgs. With tens of model inputs the Hessian is small: one pass over the rows
//! builds it with a matrix product, a Cholesky factorisation gives the Newton step, and a
//! handful of steps reach the optimum to a relative precision of about 1e-10, where L-BFGS
//! stops at a gradient tolerance. Every pass reads the rows block by block
//! ([`FitData::for_each_block`]), so a fold's rows of the raw table never become a whole
//! matrix; as each block is preprocessed again in every pass, a step takes one pass, which
//! gives a candidate's objective and, for the next step, its gradient and Hessian.
//! linfa-logistic stays the multinomial solver, and the binary solver's tests check this one
//! against it.

use ndarray::{Array1, Array2, Axis, Slice};

use model::classifier::sigmoid;

use super::FitData;

/// The fitted coefficients.
#[derive(Debug, Clone, PartialEq)]
pub struct NewtonFit {
    /// One weight per model input.
    pub weights: Vec<f64>,
    /// The (unpenalised) intercept.
    pub intercept: f64,
    /// Newton steps taken.
    pub iterations: usize,
    /// Whether the Newton decrement fell below the tolerance before `max_iterations` (for
    /// separable classes without a penalty, once the loss itself is negligible).
    pub converged: bool,
}

/// Minimises `Σ log(1 + exp(-s_i z_i)) + alpha/2 · |w|²` over `w` and the intercept `b`, where
/// `z_i = x_i · w + b` and `s_i` is +1 for positive rows and -1 otherwise: the objective of
/// linfa-logistic and of scikit-learn's `LogisticRegression(C = 1/alpha)`.
///
/// Starts from zero weights and the prior log-odds, and takes damped Newton steps (halved
/// until the objective decreases enough) until half the Newton decrement is at most `1e-10`
/// of the objective. An error names what went wrong: no rows, a non-finite input, or
/// coefficients that stopped being finite.
pub fn fit_binary(
    x: &FitData<'_>,
    positive: &[bool],
    alpha: f64,
    max_iterations: usize,
) -> Result<NewtonFit, String> {
    let (n_rows, n_inputs) = (x.n_rows(), x.n_inputs());
    if n_rows == 0 || positive.len() != n_rows {
        return Err(format!(
            "expected one label per row, found {n_rows} rows and {} labels",
            positive.len()
        ));
    }
    let mut all_finite = true;
    x.for_each_block(&mut |_, block| all_finite &= block.iter().all(|value| value.is_finite()));
    if !all_finite {
        return Err("model inputs must be finite".to_string());
    }
    let targets: Array1<f64> = positive.iter().map(|p| f64::from(u8::from(*p))).collect();
    let n_positive = targets.sum();
    // The prior log-odds, kept finite when one class is absent.
    let prior = ((n_positive + 0.5) / (n_rows as f64 - n_positive + 0.5)).ln();
    let mut coefficients = Coefficients {
        weights: Array1::zeros(n_inputs),
        intercept: prior,
    };
    let mut current = coefficients.evaluate(x, &targets, alpha, true);
    for iteration in 1..=max_iterations {
        let (gradient, hessian) = current
            .derivatives
            .take()
            .ok_or_else(|| "the derivatives were not computed".to_string())?;
        let step = solve_positive_definite(hessian, &gradient)
            .ok_or_else(|| "the Hessian is not positive definite".to_string())?;
        let decrement: f64 = gradient.iter().zip(&step).map(|(g, d)| g * d).sum();
        let converged = decrement / 2.0 <= 1e-10 * current.objective.max(1.0);
        // The pass that evaluates a candidate also takes its derivatives, which the next
        // step needs if it is accepted: one pass over the rows per step instead of three.
        let next_step_needed = !converged && iteration < max_iterations;
        // Backtracking (Armijo) on the step length; a full step is almost always accepted.
        let mut length = 1.0;
        let (candidate, evaluated) = loop {
            let candidate = coefficients.stepped(&step, length);
            let evaluated = candidate.evaluate(x, &targets, alpha, next_step_needed);
            if evaluated.objective <= current.objective - 1e-4 * length * decrement
                || length < 1e-10
            {
                break (candidate, evaluated);
            }
            length /= 2.0;
        };
        if !(evaluated.objective.is_finite() && candidate.is_finite()) {
            return Err(format!(
                "coefficients stopped being finite at Newton step {iteration}"
            ));
        }
        coefficients = candidate;
        current = evaluated;
        if converged {
            return Ok(coefficients.into_fit(iteration, true));
        }
    }
    Ok(coefficients.into_fit(max_iterations, false))
}

/// The objective at some coefficients and, when asked for, its gradient and Hessian.
struct Evaluation {
    objective: f64,
    /// The gradient and Hessian over `(w, b)`, the intercept last.
    derivatives: Option<(Vec<f64>, Array2<f64>)>,
}

/// Weights and intercept during the iterations.
struct Coefficients {
    weights: Array1<f64>,
    intercept: f64,
}

impl Coefficients {
    /// The penalised negative log-likelihood and, if `with_derivatives`, its gradient and
    /// Hessian, in one pass over the rows block by block (the blocks of
    /// [`FitData::for_each_block`]), so the fold's whole matrix is never needed at once.
    /// Sums over every row (the loss, the intercept's gradient and curvature) are taken over
    /// the whole vector of per-row terms after the pass, so they do not depend on the blocks.
    fn evaluate(
        &self,
        x: &FitData<'_>,
        targets: &Array1<f64>,
        alpha: f64,
        with_derivatives: bool,
    ) -> Evaluation {
        let (n_rows, n_inputs) = (x.n_rows(), x.n_inputs());
        let mut scores = Vec::with_capacity(n_rows);
        let mut residuals = Vec::with_capacity(if with_derivatives { n_rows } else { 0 });
        let mut curvatures = Vec::with_capacity(residuals.capacity());
        let mut gradient = &self.weights * alpha;
        let mut cross = Array1::<f64>::zeros(n_inputs);
        let mut gram = Array2::<f64>::zeros((n_inputs, n_inputs));
        x.for_each_block(&mut |first_row, block| {
            let block_scores = block
                .dot(&self.weights)
                .mapv(|score| score + self.intercept);
            scores.extend(block_scores.iter().copied());
            if !with_derivatives {
                return;
            }
            let block_targets =
                targets.slice_axis(Axis(0), Slice::from(first_row..first_row + block.nrows()));
            let probabilities = block_scores.mapv(sigmoid);
            let block_residuals = &probabilities - &block_targets;
            // The curvature per row, floored so that the Hessian stays positive definite when
            // the fitted probabilities round to 0 or 1.
            let block_curvatures = probabilities.mapv(|p| (p * (1.0 - p)).max(1e-12));
            gradient += &block.t().dot(&block_residuals);
            cross += &block.t().dot(&block_curvatures);
            // `Xᵀ S X` from a scaled copy of the block.
            let mut scaled = block.to_owned();
            for (mut row, curvature) in scaled.axis_iter_mut(Axis(0)).zip(&block_curvatures) {
                row *= curvature.sqrt();
            }
            gram += &scaled.t().dot(&scaled);
            residuals.extend(block_residuals.iter().copied());
            curvatures.extend(block_curvatures.iter().copied());
        });
        let loss: f64 = scores
            .iter()
            .zip(targets)
            // log(1 + e^z) - t·z, with log(1 + e^z) computed without overflow.
            .map(|(z, t)| z.max(0.0) + (-z.abs()).exp().ln_1p() - t * z)
            .sum();
        let objective = loss + 0.5 * alpha * self.weights.dot(&self.weights);
        let derivatives = with_derivatives.then(|| {
            let mut hessian = Array2::zeros((n_inputs + 1, n_inputs + 1));
            for input in 0..n_inputs {
                for other in 0..n_inputs {
                    hessian[[input, other]] = gram[[input, other]];
                }
                hessian[[input, input]] += alpha;
                hessian[[input, n_inputs]] = cross[input];
                hessian[[n_inputs, input]] = cross[input];
            }
            hessian[[n_inputs, n_inputs]] = Array1::from(curvatures).sum();
            let mut gradient = gradient.to_vec();
            gradient.push(Array1::from(residuals).sum());
            (gradient, hessian)
        });
        Evaluation {
            objective,
            derivatives,
        }
    }

    /// The coefficients moved by `-length · step` (intercept last in `step`).
    fn stepped(&self, step: &[f64], length: f64) -> Coefficients {
        let n_inputs = self.weights.len();
        Coefficients {
            weights: self
                .weights
                .iter()
                .zip(step)
                .map(|(w, d)| w - length * d)
                .collect(),
            intercept: self.intercept - length * step[n_inputs],
        }
    }

    fn is_finite(&self) -> bool {
        self.intercept.is_finite() && self.weights.iter().all(|w| w.is_finite())
    }

    fn into_fit(self, iterations: usize, converged: bool) -> NewtonFit {
        NewtonFit {
            weights: self.weights.to_vec(),
            intercept: self.intercept,
            iterations,
            converged,
        }
    }
}

/// Solves `matrix · solution = rhs` for a symmetric positive definite matrix by Cholesky
/// factorisation. A matrix that is singular to working precision (collinear inputs without a
/// penalty) gets a growing multiple of its mean diagonal added until it factorises; `None` if
/// even that fails (a non-finite entry).
fn solve_positive_definite(matrix: Array2<f64>, rhs: &[f64]) -> Option<Vec<f64>> {
    let size = rhs.len();
    let mean_diagonal = matrix.diag().sum() / size.max(1) as f64;
    let mut jitter = 0.0;
    for _ in 0..12 {
        let mut shifted = matrix.clone();
        shifted
            .diag_mut()
            .iter_mut()
            .for_each(|value| *value += jitter);
        if let Some(factor) = cholesky(shifted) {
            return Some(cholesky_solve(&factor, rhs));
        }
        jitter = if jitter == 0.0 {
            1e-12 * mean_diagonal.max(1e-300)
        } else {
            jitter * 100.0
        };
    }
    None
}

/// The lower-triangular factor `L` with `L · Lᵀ = matrix`, or `None` if a pivot is not positive.
fn cholesky(mut matrix: Array2<f64>) -> Option<Array2<f64>> {
    let size = matrix.nrows();
    for column in 0..size {
        let mut pivot = matrix[[column, column]];
        for k in 0..column {
            pivot -= matrix[[column, k]] * matrix[[column, k]];
        }
        if !(pivot > 0.0 && pivot.is_finite()) {
            return None;
        }
        let pivot = pivot.sqrt();
        matrix[[column, column]] = pivot;
        for row in column + 1..size {
            let mut value = matrix[[row, column]];
            for k in 0..column {
                value -= matrix[[row, k]] * matrix[[column, k]];
            }
            matrix[[row, column]] = value / pivot;
        }
    }
    Some(matrix)
}

/// Solves `L · Lᵀ · solution = rhs` by forward and back substitution.
fn cholesky_solve(factor: &Array2<f64>, rhs: &[f64]) -> Vec<f64> {
    let size = rhs.len();
    let mut solution = rhs.to_vec();
    for row in 0..size {
        for k in 0..row {
            solution[row] -= factor[[row, k]] * solution[k];
        }
        solution[row] /= factor[[row, row]];
    }
    for row in (0..size).rev() {
        for k in row + 1..size {
            solution[row] -= factor[[k, row]] * solution[k];
        }
        solution[row] /= factor[[row, row]];
    }
    solution
}

#[cfg(test)]
mod tests {
    use linfa::prelude::*;
    use rand::{Rng, SeedableRng};

    use super::*;

    /// The matrix `x` as a fit's inputs (the solver reads only the inputs).
    fn inputs(x: &Array2<f64>) -> FitData<'_> {
        FitData::new(x.view(), &[], None, 2, 1)
    }

    /// Rows from a known logistic model, two of the inputs correlated.
    fn sample(n_rows: usize, seed: u64) -> (Array2<f64>, Vec<bool>) {
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed);
        let mut x = Array2::zeros((n_rows, 4));
        let mut positive = Vec::with_capacity(n_rows);
        for mut row in x.axis_iter_mut(Axis(0)) {
            let a: f64 = rng.gen_range(-2.0..2.0);
            row[0] = a;
            row[1] = 0.8 * a + rng.gen_range(-0.5..0.5);
            row[2] = rng.gen_range(-1.0..1.0);
            row[3] = rng.gen_range(0.0..3.0);
            let z = -0.5 + 1.5 * row[0] - 0.7 * row[1] + 0.3 * row[3];
            positive.push(rng.gen_bool(sigmoid(z)));
        }
        (x, positive)
    }

    fn objective(x: &Array2<f64>, positive: &[bool], alpha: f64, w: &[f64], b: f64) -> f64 {
        let coefficients = Coefficients {
            weights: Array1::from(w.to_vec()),
            intercept: b,
        };
        let targets: Array1<f64> = positive.iter().map(|p| f64::from(u8::from(*p))).collect();
        coefficients
            .evaluate(&inputs(x), &targets, alpha, false)
            .objective
    }

    #[test]
    fn newton_reaches_linfa_logistics_optimum() {
        // 9,000 rows: the Hessian is summed over three blocks.
        for (alpha, seed, n_rows) in [(1.0, 1, 9_000), (0.01, 2, 2_000), (30.0, 3, 2_000)] {
            let (x, positive) = sample(n_rows, seed);
            let fit = fit_binary(&inputs(&x), &positive, alpha, 100).unwrap();
            assert!(fit.converged && fit.iterations < 15, "{fit:?}");
            let labels: Array1<usize> = positive.iter().map(|p| usize::from(*p)).collect();
            let linfa_fit = linfa_logistic::LogisticRegression::default()
                .alpha(alpha)
                .max_iterations(1_000)
                .gradient_tolerance(1e-8)
                .fit(&Dataset::new(x.clone(), labels))
                .unwrap();
            // linfa calls its majority class positive: bring it onto ours.
            let sign = if linfa_fit.labels().pos.class == 1 {
                1.0
            } else {
                -1.0
            };
            let linfa_weights: Vec<f64> = linfa_fit.params().iter().map(|w| sign * w).collect();
            let linfa_intercept = sign * linfa_fit.intercept();
            for (ours, theirs) in fit.weights.iter().zip(&linfa_weights) {
                assert!(
                    (ours - theirs).abs() < 1e-4,
                    "alpha {alpha}: {ours} vs {theirs}"
                );
            }
            assert!((fit.intercept - linfa_intercept).abs() < 1e-4);
            // And never a worse objective than the library's.
            let ours = objective(&x, &positive, alpha, &fit.weights, fit.intercept);
            let theirs = objective(&x, &positive, alpha, &linfa_weights, linfa_intercept);
            assert!(ours <= theirs + 1e-9, "{ours} > {theirs}");
        }
    }

    #[test]
    fn separable_rows_without_penalty_stay_finite() {
        let x = Array2::from_shape_vec((4, 1), vec![-2.0, -1.0, 1.0, 2.0]).unwrap();
        let positive = [false, false, true, true];
        // Without a penalty the optimum is at infinity: the steps stop once the loss is
        // negligible, with large but finite coefficients that separate the rows.
        let fit = fit_binary(&inputs(&x), &positive, 0.0, 100).unwrap();
        assert!(
            fit.weights[0] > 5.0 && fit.weights[0].is_finite(),
            "{fit:?}"
        );
        assert!(sigmoid(fit.weights[0] + fit.intercept) > 0.999);
        // With a penalty the weight stays moderate.
        let penalised = fit_binary(&inputs(&x), &positive, 1.0, 100).unwrap();
        assert!(
            penalised.converged && penalised.weights[0] < 3.0,
            "{penalised:?}"
        );
    }

    #[test]
    fn collinear_inputs_and_bad_rows_are_handled() {
        let (x, positive) = sample(500, 4);
        // A duplicated column: singular without a penalty, yet the fit predicts as well.
        let doubled = Array2::from_shape_fn((500, 5), |(row, column)| x[[row, column % 4]]);
        let fit = fit_binary(&inputs(&doubled), &positive, 0.0, 100).unwrap();
        let plain = fit_binary(&inputs(&x), &positive, 0.0, 100).unwrap();
        assert!((fit.weights[0] + fit.weights[4] - plain.weights[0]).abs() < 1e-4);
        let mut with_nan = x.clone();
        with_nan[[3, 1]] = f64::NAN;
        assert!(fit_binary(&inputs(&with_nan), &positive, 1.0, 100).is_err());
        assert!(fit_binary(&inputs(&x), &positive[..10], 1.0, 100).is_err());
    }
}
