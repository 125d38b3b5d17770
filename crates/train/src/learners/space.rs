//! Declared hyperparameter search spaces: what `--tune` may draw for a family, in a form that
//! can be sampled, described (`train models`) and checked (a tuned choice lies inside it).
//!
//! A space is a list of dimensions, each tied to one field of the family's typed parameters.
//! Sampling starts from the defaults and draws every dimension in declaration order, so the
//! same generator state always gives the same candidate.

use std::fmt::Debug;

use rand::Rng;
use rand_xoshiro::Xoshiro256PlusPlus;

/// A hyperparameter value type that a space can hold and show.
pub trait ParamValue: Clone + PartialEq + Debug + Send + Sync + 'static {
    /// The value as the leaderboard and `train models` print it.
    fn show(&self) -> String;
}

impl ParamValue for usize {
    fn show(&self) -> String {
        self.to_string()
    }
}

impl ParamValue for f64 {
    fn show(&self) -> String {
        show_float(*self)
    }
}

impl ParamValue for f32 {
    fn show(&self) -> String {
        show_float(f64::from(*self))
    }
}

impl ParamValue for bool {
    fn show(&self) -> String {
        self.to_string()
    }
}

impl ParamValue for Option<usize> {
    fn show(&self) -> String {
        self.map_or_else(|| "none".to_owned(), |value| value.to_string())
    }
}

/// A float with at most six decimals and no trailing zeros (`0.1`, `1`, `0.000123`).
pub fn show_float(value: f64) -> String {
    let text = format!("{value:.6}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// One searchable field of the parameters `P`.
trait Dimension<P>: Send + Sync {
    fn name(&self) -> &'static str;
    fn sample(&self, params: &mut P, rng: &mut Xoshiro256PlusPlus);
    fn contains(&self, params: &P) -> bool;
    fn describe(&self) -> String;
}

/// Where a dimension's value lives in the parameters.
type Field<P, T> = fn(&mut P) -> &mut T;

/// Reads a field through its accessor (which needs `&mut`, hence the copy).
fn read<P: Clone, T: Clone>(params: &P, field: Field<P, T>) -> T {
    let mut copy = params.clone();
    field(&mut copy).clone()
}

struct LogUniform<P> {
    name: &'static str,
    low: f64,
    high: f64,
    field: Field<P, f64>,
}

impl<P: Clone + Send + Sync> Dimension<P> for LogUniform<P> {
    fn name(&self) -> &'static str {
        self.name
    }
    fn sample(&self, params: &mut P, rng: &mut Xoshiro256PlusPlus) {
        *(self.field)(params) = rng.gen_range(self.low.ln()..self.high.ln()).exp();
    }
    fn contains(&self, params: &P) -> bool {
        let value = read(params, self.field);
        // exp(ln(x)) may land a rounding step outside the bounds.
        let slack = 1e-12 * self.high.abs().max(self.low.abs());
        value >= self.low - slack && value <= self.high + slack
    }
    fn describe(&self) -> String {
        format!(
            "log-uniform from {} to {}",
            show_float(self.low),
            show_float(self.high)
        )
    }
}

struct IntRange<P> {
    name: &'static str,
    low: usize,
    high: usize,
    field: Field<P, usize>,
}

impl<P: Clone + Send + Sync> Dimension<P> for IntRange<P> {
    fn name(&self) -> &'static str {
        self.name
    }
    fn sample(&self, params: &mut P, rng: &mut Xoshiro256PlusPlus) {
        *(self.field)(params) = rng.gen_range(self.low..=self.high);
    }
    fn contains(&self, params: &P) -> bool {
        (self.low..=self.high).contains(&read(params, self.field))
    }
    fn describe(&self) -> String {
        format!("integer from {} to {}", self.low, self.high)
    }
}

struct Choice<P, T> {
    name: &'static str,
    options: Vec<T>,
    field: Field<P, T>,
}

impl<P: Clone + Send + Sync, T: ParamValue> Dimension<P> for Choice<P, T> {
    fn name(&self) -> &'static str {
        self.name
    }
    fn sample(&self, params: &mut P, rng: &mut Xoshiro256PlusPlus) {
        if !self.options.is_empty() {
            *(self.field)(params) = self.options[rng.gen_range(0..self.options.len())].clone();
        }
    }
    fn contains(&self, params: &P) -> bool {
        self.options.contains(&read(params, self.field))
    }
    fn describe(&self) -> String {
        let options: Vec<String> = self.options.iter().map(ParamValue::show).collect();
        format!("one of {}", options.join(", "))
    }
}

/// The search space of a family whose parameters are `P`.
pub struct Space<P> {
    dimensions: Vec<Box<dyn Dimension<P>>>,
}

impl<P: Clone + Send + Sync + 'static> Space<P> {
    /// An empty space: tuning keeps the defaults.
    pub fn new() -> Self {
        Space {
            dimensions: Vec::new(),
        }
    }

    /// A positive real drawn uniformly on a log scale between `low` and `high`.
    pub fn log_uniform(
        mut self,
        name: &'static str,
        low: f64,
        high: f64,
        field: Field<P, f64>,
    ) -> Self {
        self.dimensions.push(Box::new(LogUniform {
            name,
            low,
            high,
            field,
        }));
        self
    }

    /// A whole number drawn uniformly from `low..=high`.
    pub fn int_range(
        mut self,
        name: &'static str,
        low: usize,
        high: usize,
        field: Field<P, usize>,
    ) -> Self {
        self.dimensions.push(Box::new(IntRange {
            name,
            low,
            high,
            field,
        }));
        self
    }

    /// One of `options`, each equally likely.
    pub fn choice<T: ParamValue>(
        mut self,
        name: &'static str,
        options: &[T],
        field: Field<P, T>,
    ) -> Self {
        self.dimensions.push(Box::new(Choice {
            name,
            options: options.to_vec(),
            field,
        }));
        self
    }

    /// A candidate: `start` with every dimension drawn, in declaration order.
    pub fn sample(&self, start: &P, rng: &mut Xoshiro256PlusPlus) -> P {
        let mut params = start.clone();
        for dimension in &self.dimensions {
            dimension.sample(&mut params, rng);
        }
        params
    }

    /// Whether every searched field of `params` lies inside its dimension.
    pub fn contains(&self, params: &P) -> bool {
        self.dimensions
            .iter()
            .all(|dimension| dimension.contains(params))
    }

    /// Each dimension's name and range, for people.
    pub fn describe(&self) -> Vec<(&'static str, String)> {
        self.dimensions
            .iter()
            .map(|dimension| (dimension.name(), dimension.describe()))
            .collect()
    }
}

impl<P: Clone + Send + Sync + 'static> Default for Space<P> {
    fn default() -> Self {
        Space::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[derive(Debug, Clone, PartialEq)]
    struct Toy {
        rate: f64,
        depth: Option<usize>,
        k: usize,
    }

    fn space() -> Space<Toy> {
        Space::<Toy>::new()
            .log_uniform("rate", 0.01, 1.0, |p| &mut p.rate)
            .choice("depth", &[Some(2), None], |p| &mut p.depth)
            .int_range("k", 3, 9, |p| &mut p.k)
    }

    #[test]
    fn samples_lie_inside_and_are_reproducible() {
        let start = Toy {
            rate: 5.0,
            depth: Some(7),
            k: 100,
        };
        let space = space();
        assert!(!space.contains(&start));
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
        let drawn: Vec<Toy> = (0..200).map(|_| space.sample(&start, &mut rng)).collect();
        assert!(drawn.iter().all(|params| space.contains(params)));
        assert!(drawn.iter().any(|params| params.depth.is_none()));
        assert!(
            drawn.iter().any(|params| params.k == 3) && drawn.iter().any(|params| params.k == 9)
        );
        let mut again = Xoshiro256PlusPlus::seed_from_u64(3);
        assert_eq!(space.sample(&start, &mut again), drawn[0]);
        assert_eq!(
            space.describe(),
            vec![
                ("rate", "log-uniform from 0.01 to 1".to_owned()),
                ("depth", "one of 2, none".to_owned()),
                ("k", "integer from 3 to 9".to_owned()),
            ]
        );
    }
}
