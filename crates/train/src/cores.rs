//! How many of the run's cores are busy fitting or predicting, so that a fit left running
//! alone (the last fold of five on two cores, a final fit whose neighbour has finished) can
//! borrow the idle core for its heaviest loops.
//!
//! Cross-validation runs folds on rayon's pool; a learner that used rayon inside a fold would
//! let a thread waiting on its half start another fold's whole fit meanwhile (rayon's join
//! keeps a waiting thread busy with any queued work), holding more folds in memory at once.
//! So a learner shares work only through scoped threads of its own, and only while this count
//! says a core is idle. What is shared must not change the result: the work is split by
//! feature, never by summation order, so the model is the same to the bit either way.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Fits and predictions running now.
static BUSY: AtomicUsize = AtomicUsize::new(0);

/// A core held by one fit or prediction, for as long as this lives.
#[must_use = "the core is released when this is dropped"]
pub struct Occupied(());

impl Occupied {
    /// Counts the caller's core as busy until the result is dropped.
    pub fn take() -> Occupied {
        BUSY.fetch_add(1, Ordering::Relaxed);
        Occupied(())
    }
}

impl Drop for Occupied {
    fn drop(&mut self) {
        BUSY.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Whether a core of the pool the caller runs in (rayon's global pool outside one) is idle:
/// fewer fits and predictions are running than the pool has threads.
pub fn idle() -> bool {
    BUSY.load(Ordering::Relaxed) < rayon::current_num_threads()
}

/// Runs `here` on the calling thread and `beside` on a scoped thread of its own, both to the
/// end; when no thread can be started (a container's process limit), `beside` runs here after
/// `here`, so sharing work never turns a resource limit into a failed fit.
pub fn both(here: impl FnOnce(), beside: impl FnOnce() + Send) {
    let beside = std::sync::Mutex::new(Some(beside));
    // Taken from its slot by whichever thread runs it: the helper, or this one when no helper
    // could be started.
    let run_beside = || {
        let work = beside.lock().ok().and_then(|mut slot| slot.take());
        if let Some(work) = work {
            work();
        }
    };
    std::thread::scope(|scope| {
        let started = std::thread::Builder::new()
            .name("vigil-helper".to_owned())
            .spawn_scoped(scope, run_beside)
            .is_ok();
        here();
        if !started {
            run_beside();
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_one_thread_pool_never_has_an_idle_core_while_it_works() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        pool.install(|| {
            let _working = Occupied::take();
            assert!(!idle());
        });
        // Other tests in this process hold a core or two at most.
        let wide = rayon::ThreadPoolBuilder::new()
            .num_threads(64)
            .build()
            .unwrap();
        wide.install(|| assert!(idle()));
    }

    #[test]
    fn both_halves_run_once_each() {
        let (mut first, mut second) = (0, 0);
        both(|| first += 1, || second += 1);
        assert_eq!((first, second), (1, 1));
    }
}
