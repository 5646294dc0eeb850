//! Group-commit pacing: how many commands a batch of the commit loop
//! (`writer`) takes, and how long it waits for them.

use std::time::Duration;

/// Largest batch committed at once: bounds the latency a batch adds and the
/// memory it holds, while being far above what a sync's worth of concurrent
/// writers usually queues.
pub(crate) const MAX_BATCH: usize = 4096;

/// The group-commit policy: how many commands a batch waits for, and how
/// long at most.
///
/// Committing as soon as one command waits splits N concurrent writers
/// into cohorts that alternate, each paying a whole sync: while cohort A
/// commits, cohort B queues; B then commits alone while A's writers come
/// back. Aiming only at the previous batch's size keeps that split forever
/// (each cohort meets its own size). So the target is the number of
/// writers seen around the last commit — its batch plus the commands that
/// queued behind it — which merges the cohorts into one batch per sync.
/// It decays by an eighth per commit rather than dropping at once, so one
/// short batch (a writer slow to come back) does not split them again,
/// while a real drop in load is followed within a few commits.
///
/// The wait is bounded by a quarter of the work of the previous commit
/// (at most [`MAX_WAIT`]; the time it spent waiting is not counted): when
/// the writers do come back it costs far less than the extra sync a split
/// costs them, and when they don't, a write waits at most 1.25 commits. A
/// lone writer (batch 1, nothing behind) has target 1 and never waits.
/// The batch is applied while it waits (see `Writer::apply`): the wait
/// delays its writers only by what is left of it once they are applied.
#[derive(Debug)]
pub(crate) struct Pace {
    target: usize,
    last_commit: Duration,
}

/// Upper bound of the group-commit wait, whatever a commit costs.
const MAX_WAIT: Duration = Duration::from_millis(2);

impl Default for Pace {
    fn default() -> Self {
        Pace {
            target: 1,
            last_commit: Duration::ZERO,
        }
    }
}

impl Pace {
    /// Records a commit of `size` commands that worked for `worked` (the
    /// time it spent waiting for writers excluded), with `behind` commands
    /// queued during it.
    pub(crate) fn committed(&mut self, size: usize, behind: usize, worked: Duration) {
        let seen = size.saturating_add(behind).min(MAX_BATCH);
        // Decay by at least one, so the target always falls back to `seen`.
        let decayed = self.target - self.target.div_ceil(8);
        self.target = seen.max(decayed).max(1);
        self.last_commit = worked;
    }

    /// How many commands a batch waits for (see [`Pace`]).
    pub(crate) fn target(&self) -> usize {
        self.target
    }

    /// The longest a batch short of the target waits for it.
    pub(crate) fn wait(&self) -> Duration {
        (self.last_commit / 4).min(MAX_WAIT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMMIT: Duration = Duration::from_millis(4);

    #[test]
    fn a_lone_writer_never_waits() {
        let mut pace = Pace::default();
        for _ in 0..100 {
            // A batch of one always meets the target: `top_up` is skipped.
            assert!(1 >= pace.target, "target {}", pace.target);
            pace.committed(1, 0, COMMIT);
        }
        assert_eq!(pace.target, 1);
    }

    #[test]
    fn two_alternating_cohorts_are_aimed_at_together() {
        let mut pace = Pace::default();
        // Cohort A (32) commits while cohort B (32) queues behind it.
        pace.committed(32, 32, COMMIT);
        assert_eq!(pace.target, 64);
        // The old policy aimed at 32 here, which B alone meets.
    }

    #[test]
    fn one_short_batch_does_not_split_the_writers_again() {
        let mut pace = Pace::default();
        pace.committed(64, 0, COMMIT);
        // A few writers were slow to come back: the target stays close.
        pace.committed(40, 0, COMMIT);
        assert_eq!(pace.target, 56);
        pace.committed(64, 0, COMMIT);
        assert_eq!(pace.target, 64);
    }

    #[test]
    fn a_drop_in_load_is_followed_within_a_few_commits() {
        let mut pace = Pace::default();
        pace.committed(64, 0, COMMIT);
        let mut commits = 0;
        while pace.target > 1 {
            let before = pace.target;
            pace.committed(1, 0, COMMIT);
            assert!(pace.target < before, "the target must fall at every commit");
            commits += 1;
        }
        assert!(commits <= 32, "{commits} commits to forget 64 writers");
        pace.committed(10, 0, COMMIT);
        assert_eq!(pace.target, 10);
    }

    #[test]
    fn the_target_never_exceeds_a_batch() {
        let mut pace = Pace::default();
        pace.committed(MAX_BATCH, MAX_BATCH, COMMIT);
        assert_eq!(pace.target, MAX_BATCH);
    }

    #[test]
    fn the_wait_is_a_quarter_of_a_commit_and_bounded() {
        let mut pace = Pace::default();
        assert_eq!(pace.wait(), Duration::ZERO, "no commit yet, no wait");
        pace.committed(64, 0, COMMIT);
        assert_eq!(pace.wait(), Duration::from_millis(1));
        pace.committed(64, 0, Duration::from_secs(1));
        assert_eq!(pace.wait(), MAX_WAIT);
    }
}
