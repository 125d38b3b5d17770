//! k-nearest neighbours: the preprocessed training rows are the model; prediction is an exact
//! search with uniform or inverse-distance weights.

use model::Classifier;
use model::classifier::Knn;

use super::space::{ParamValue, Space};
use super::{FamilyInfo, FitData, FitError, Learner};

/// k-nearest neighbours.
pub struct KNearestNeighbours;

/// Hyperparameters of [`KNearestNeighbours`].
#[derive(Debug, Clone, PartialEq)]
pub struct KnnParams {
    /// Neighbours consulted.
    pub k: usize,
    /// Weight neighbours by inverse distance (otherwise uniformly).
    pub distance_weighted: bool,
}

impl Learner for KNearestNeighbours {
    type Params = KnnParams;

    fn info(&self) -> FamilyInfo {
        FamilyInfo {
            short: "knn",
            name: "k_nearest_neighbours",
            description: "k-nearest neighbours (exact search, inverse-distance weights)",
            supports_weights: false,
            in_default_run: true,
            native_missing: false,
            combines_others: false,
        }
    }

    fn default_params(&self) -> KnnParams {
        KnnParams {
            k: 15,
            distance_weighted: true,
        }
    }

    fn search_space(&self) -> Space<KnnParams> {
        Space::<KnnParams>::new()
            .int_range("k", 3, 50, |p| &mut p.k)
            .choice("distance_weighted", &[true, false], |p| &mut p.distance_weighted)
    }

    fn check(&self, params: &KnnParams) -> Result<(), String> {
        if params.k == 0 {
            return Err("`k` must be at least 1".into());
        }
        Ok(())
    }

    fn describe(&self, params: &KnnParams) -> Vec<(&'static str, String)> {
        let weights = if params.distance_weighted {
            "distance"
        } else {
            "uniform"
        };
        vec![("k", params.k.show()), ("weights", weights.to_owned())]
    }

    fn fit(
        &self,
        params: &KnnParams,
        data: &FitData<'_>,
        _seed: u64,
    ) -> Result<Classifier, FitError> {
        Ok(Classifier::Knn(Knn {
            points: data.x().iter().copied().collect(),
            labels: data.y.iter().map(|class_idx| *class_idx as u32).collect(),
            n_inputs: data.x().ncols(),
            k: params.k,
            distance_weighted: params.distance_weighted,
        }))
    }
}
