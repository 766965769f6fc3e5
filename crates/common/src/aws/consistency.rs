//! EC2's eventual consistency: an ID a tool has just made (an instance, a launch template
//! version) may be unknown, for a while, to the calls that follow and name it. AWS's "Eventual
//! consistency in the Amazon EC2 API" page asks callers to ask again with exponential backoff,
//! from a second or two up to a few minutes, and warns that a `TerminateInstances` refused with
//! `InvalidInstanceID.NotFound` has not terminated anything: the instance may be running.
//!
//! [`CatchUp`] is that backoff, for a call about an ID the tool made itself: the caller asks
//! again while AWS says it does not know the ID and the bound allows. An ID the user gave that
//! AWS does not know stays the error it is; no caller waits for one.

use std::time::{Duration, Instant};

/// The first wait, and the longest.
const FIRST: Duration = Duration::from_millis(500);
const LONGEST: Duration = Duration::from_secs(15);
/// How long a tool waits for AWS to know an ID it made, by default: a few minutes, as AWS's
/// page says. `DEPLOY_TOOLS_CATCH_UP_SECONDS` changes it.
pub const BOUND: Duration = Duration::from_secs(180);

/// Backoff while AWS catches up with an ID the tool made.
#[derive(Debug)]
pub struct CatchUp {
    started: Instant,
    bound: Duration,
    next: Duration,
}

impl Default for CatchUp {
    fn default() -> Self {
        let bound = std::env::var("DEPLOY_TOOLS_CATCH_UP_SECONDS")
            .ok()
            .and_then(|s| s.parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map_or(BOUND, Duration::from_secs_f64);
        CatchUp { started: Instant::now(), bound, next: FIRST }
    }
}

impl CatchUp {
    /// AWS does not know `what` yet (`why`: its error code): waits, and says whether to ask
    /// again; false once the bound would be passed (the caller's error then stands).
    pub async fn again(&mut self, what: &str, why: &str) -> bool {
        let Some(wait) = self.wait_after(self.started.elapsed()) else {
            tracing::warn!("AWS still does not know {what} after {:.0} s ({why}); giving up", self.started.elapsed().as_secs_f64());
            return false;
        };
        tracing::info!("AWS does not know {what} yet ({why}: eventual consistency); asking again in {:.1} s", wait.as_secs_f64());
        tokio::time::sleep(wait).await;
        true
    }

    /// The next wait, `elapsed` into the catching up, or none past the bound.
    fn wait_after(&mut self, elapsed: Duration) -> Option<Duration> {
        let wait = self.next;
        if elapsed + wait > self.bound {
            return None;
        }
        self.next = (self.next * 2).min(LONGEST);
        Some(wait)
    }

    /// How long it has waited.
    pub fn waited(&self) -> Duration {
        self.started.elapsed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_backs_off_doubling_up_to_its_longest_and_stops_at_the_bound() {
        let mut c = CatchUp { started: Instant::now(), bound: Duration::from_secs(60), next: FIRST };
        let (mut elapsed, mut waits) = (Duration::ZERO, Vec::new());
        while let Some(wait) = c.wait_after(elapsed) {
            waits.push(wait.as_secs_f64());
            elapsed += wait;
        }
        assert_eq!(waits, [0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 15.0], "each wait twice the last, at most 15 s, within the bound");
    }
}
