//! Timing shared by the serve benchmarks.

use std::time::Instant;

/// Microseconds per call: the fastest of seven timed batches, each sized to take about 50 ms,
/// so that interruptions by the rest of the machine do not count.
pub fn time_per_call(mut f: impl FnMut()) -> f64 {
    let started = Instant::now();
    f();
    let once = started.elapsed().as_secs_f64().max(1e-7);
    let iterations = ((0.05 / once) as u32).clamp(3, 200_000);
    for _ in 0..iterations / 10 {
        f();
    }
    (0..7)
        .map(|_| {
            let started = Instant::now();
            for _ in 0..iterations {
                f();
            }
            started.elapsed().as_secs_f64() * 1e6 / f64::from(iterations)
        })
        .fold(f64::INFINITY, f64::min)
}
