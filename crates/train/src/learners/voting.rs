//! Soft voting over the other families (the mean of the members' probabilities), and what both
//! ensembles share: their members' parameters, checks and fitting (stacking: `stacking.rs`).
//!
//! Both take their members from the run (`stages::cross_validate`: the best single families by
//! the ranking metric, each with the parameters it would ship with) and are then
//! cross-validated like any family: every outer fold fits the members (and, for stacking, the
//! inner folds behind the meta-learner) on that fold's training rows only, so the leaderboard
//! compares them honestly with the single models. Members share the fold's preprocessing.

use model::Classifier;

use super::space::Space;
use super::{FamilyInfo, FitData, FitError, Learner, ModelKind, ModelParams};
use crate::seeds::derive_seed;

/// Soft voting over the members.
pub struct SoftVoting;

/// An ensemble's members: families with their parameters, best first.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MemberParams {
    /// The members.
    pub members: Vec<ModelParams>,
}

/// The parameters of an ensemble family `kind` with these members.
pub fn ensemble_params(kind: ModelKind, members: Vec<ModelParams>) -> ModelParams {
    ModelParams::new::<SoftVoting>(kind, MemberParams { members })
}

/// Checks shared by both ensembles: at least two members, none itself an ensemble.
pub(super) fn check_members(params: &MemberParams) -> Result<(), String> {
    if params.members.len() < 2 {
        return Err(format!(
            "`members` needs at least two families, found {}",
            params.members.len()
        ));
    }
    if let Some(nested) = params
        .members
        .iter()
        .find(|member| member.kind().info().combines_others)
    {
        return Err(format!(
            "`members` may not hold another ensemble (`{}`)",
            nested.kind().name()
        ));
    }
    Ok(())
}

pub(super) fn describe_members(params: &MemberParams) -> String {
    let names: Vec<&str> = params
        .members
        .iter()
        .map(|member| member.kind().name())
        .collect();
    if names.is_empty() {
        "the run's best families".to_owned()
    } else {
        names.join("+")
    }
}

/// Fits every member on `data`, each with its own seed.
pub(super) fn fit_members(
    params: &MemberParams,
    data: &FitData<'_>,
    seed: u64,
) -> Result<Vec<Classifier>, FitError> {
    params
        .members
        .iter()
        .enumerate()
        .map(|(member_idx, member)| {
            member
                .kind()
                .fit(member, data, derive_seed(seed, &[member_idx as u64]))
        })
        .collect()
}

impl Learner for SoftVoting {
    type Params = MemberParams;

    fn info(&self) -> FamilyInfo {
        FamilyInfo {
            short: "vote",
            name: "soft_voting",
            description: "soft voting: the mean probability of the run's best families",
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
        vec![("members", describe_members(params))]
    }

    fn fit(
        &self,
        params: &MemberParams,
        data: &FitData<'_>,
        seed: u64,
    ) -> Result<Classifier, FitError> {
        Ok(Classifier::SoftVote(fit_members(params, data, seed)?))
    }
}

