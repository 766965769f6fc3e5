//! How long a deploy in waves can take at worst: what `deploy-tools deploy --dry-run` prints,
//! so that a user can size CodeBuild's timeout.

use std::time::Duration;

use serde::Serialize;

/// A deploy's worst case, wave by wave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Worst {
    /// Each wave's worst case: its targets in rounds of `max_parallel`, each round as long as
    /// one target's worst (its verify timeout and refresh timeout).
    pub waves: Vec<u64>,
    /// The bake times between waves, together.
    pub bakes: u64,
    /// Taking every target back, with --rollback-on-failure (in rounds of `max_parallel`).
    pub rollback: Option<u64>,
    /// All of it, in seconds.
    pub total: u64,
}

/// The worst case of waves of these sizes (in seconds): each wave in rounds of `max_parallel`
/// targets, `per_target` a round; `wave_bake` between two waves; then, if `rollback` is given
/// (one target's rollback at worst), every target taken back in rounds of `max_parallel`.
pub fn worst_case(sizes: &[usize], max_parallel: usize, per_target: Duration, wave_bake: Duration, rollback: Option<Duration>) -> Worst {
    let rounds = |n: usize| u64::try_from(n.div_ceil(max_parallel.max(1))).unwrap_or(u64::MAX);
    let waves: Vec<u64> = sizes.iter().map(|&n| rounds(n).saturating_mul(per_target.as_secs())).collect();
    let bakes = u64::try_from(sizes.len().saturating_sub(1)).unwrap_or(u64::MAX).saturating_mul(wave_bake.as_secs());
    let rollback = rollback.map(|r| rounds(sizes.iter().sum()).saturating_mul(r.as_secs()));
    let total = waves.iter().fold(bakes, |a, w| a.saturating_add(*w)).saturating_add(rollback.unwrap_or(0));
    Worst { waves, bakes, rollback, total }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waves_take_rounds_of_max_parallel_and_bakes_come_between() {
        let s = Duration::from_secs;
        // 1 + 4 + 9 targets, 4 at once, 1500 s a target, a 600 s bake between waves.
        let w = worst_case(&[1, 4, 9], 4, s(1500), s(600), None);
        assert_eq!(w.waves, [1500, 1500, 4500]);
        assert_eq!((w.bakes, w.rollback, w.total), (1200, None, 8700));
        // Taking all 14 back, 4 at once: 4 rounds of 3600 s.
        let w = worst_case(&[1, 4, 9], 4, s(1500), s(600), Some(s(3600)));
        assert_eq!((w.rollback, w.total), (Some(14400), 23100));
        // One target a wave (a file without waves): the sum, as one at a time.
        assert_eq!(worst_case(&[1, 1, 1], 8, s(100), s(0), None).total, 300);
    }
}
