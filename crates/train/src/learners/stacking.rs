//! Stacking: a logistic regression over the members' probabilities, fitted on out-of-fold
//! predictions from inner folds of the rows it is given, so that the meta-learner never learns
//! from a member scoring rows it was fitted on. Members and checks are shared with soft voting
//! (`voting.rs`).

use model::Classifier;
use model::classifier::{Stacking as StackedModel, stacking_inputs};
use ndarray::{Array2, Axis};

use super::logistic::Logistic;
use super::space::Space;
use super::voting::{MemberParams, check_members, describe_members, fit_members};
use super::{FamilyInfo, FitData, FitError, Learner};
use crate::seeds::derive_seed;

/// Stacking: a logistic regression over the members' out-of-fold probabilities.
pub struct Stacking;

/// Inner folds behind the stacking meta-learner's training rows.
pub const INNER_FOLDS: usize = 5;

impl Learner for Stacking {
    type Params = MemberParams;

    fn info(&self) -> FamilyInfo {
        FamilyInfo {
            short: "stack",
            name: "stacking",
            description: "stacking: a logistic regression over the out-of-fold probabilities of the run's best families",
            supports_weights: false,
            in_default_run: false,
            native_missing: false,
            combines_others: true,
        }
    }

    fn default_params(&self) -> MemberParams {
        MemberParams::default()
    }

    fn search_space(&self) -> Space<MemberParams> {
        Space::new()
    }

    fn check(&self, params: &MemberParams) -> Result<(), String> {
        check_members(params)
    }

    fn describe(&self, params: &MemberParams) -> Vec<(&'static str, String)> {
        vec![
            ("members", describe_members(params)),
            (
                "meta",
                format!("logistic regression on {INNER_FOLDS}-fold out-of-fold probabilities"),
            ),
        ]
    }

    fn fit(
        &self,
        params: &MemberParams,
        data: &FitData<'_>,
        seed: u64,
    ) -> Result<Classifier, FitError> {
        let model = self.info().name;
        data.require_two_classes(model)?;
        let meta_x = out_of_fold_member_inputs(params, data, seed)?;
        let meta_data = FitData::new(
            meta_x.view(),
            data.y,
            data.weights,
            data.n_classes,
            data.positive_class,
        );
        let Classifier::Logistic(meta) =
            Logistic.fit(&Logistic.default_params(), &meta_data, derive_seed(seed, &[98]))?
        else {
            return Err(FitError::Library {
                model,
                reason: "the meta-learner is not a linear model".into(),
            });
        };
        let members = fit_members(params, data, seed)?;
        Ok(Classifier::Stacked(StackedModel { members, meta }))
    }
}

/// The meta-learner's training inputs: for every row, the members' probabilities from members
/// fitted on the other inner folds (so no row is scored by a model that saw it).
fn out_of_fold_member_inputs(
    params: &MemberParams,
    data: &FitData<'_>,
    seed: u64,
) -> Result<Array2<f64>, FitError> {
    let model = "stacking";
    let n_rows = data.y.len();
    let per_member = if data.n_classes == 2 {
        1
    } else {
        data.n_classes
    };
    let folds = preprocess::stratified_folds(
        data.y,
        data.n_classes,
        INNER_FOLDS.min(n_rows),
        1,
        derive_seed(seed, &[97]),
    )
    .map_err(|error| FitError::Library {
        model,
        reason: error.to_string(),
    })?;
    let mut meta_x = Array2::zeros((n_rows, params.members.len() * per_member));
    for fold in &folds {
        let train = fold.train();
        let x = data.x().select(Axis(0), &train);
        let y: Vec<usize> = train.iter().map(|row| data.y[*row]).collect();
        let weights: Option<Vec<f64>> = data
            .weights
            .map(|weights| train.iter().map(|row| weights[*row]).collect());
        let inner = FitData::new(
            x.view(),
            &y,
            weights.as_deref(),
            data.n_classes,
            data.positive_class,
        );
        let members = fit_members(params, &inner, derive_seed(seed, &[96, fold.fold as u64]))?;
        // The fold's validation rows, scored together as prediction scores them.
        let validation: Vec<f64> = data
            .x()
            .select(Axis(0), &fold.validation)
            .iter()
            .copied()
            .collect();
        let meta_rows = stacking_inputs(
            &members,
            &validation,
            data.x().ncols(),
            fold.validation.len(),
            data.n_classes,
            data.positive_class,
        );
        let width = meta_x.ncols().max(1);
        for (row, meta_row) in fold.validation.iter().zip(meta_rows.chunks(width)) {
            for (cell, value) in meta_x.row_mut(*row).iter_mut().zip(meta_row) {
                *cell = *value;
            }
        }
    }
    Ok(meta_x)
}
