//! Progress on stderr while the refresh runs.

use std::time::Duration;

use aws_sdk_autoscaling::types::InstanceRefresh;

use common::groups::refresh::{phase, Phase};

use crate::report::pct;

/// Progress on stderr. On a terminal: a live bar with the status, percentage, instances left,
/// elapsed time and AWS's status reason. Elsewhere (CodeBuild, a pipe): one plain line each
/// time the status or the percentage changes, not one per poll, so a log stays readable.
pub struct Progress {
    last: Option<(String, Option<i32>, String)>,
    bar: Option<indicatif::ProgressBar>,
}

impl Progress {
    pub fn new(quiet: bool) -> Self {
        use std::io::IsTerminal;
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = indicatif::ProgressBar::new(100);
            bar.set_style(
                indicatif::ProgressStyle::with_template("{spinner} [{elapsed_precise}] [{bar:30}] {pos:>3}% {msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Progress { last: None, bar }
    }

    pub fn show(&mut self, r: &InstanceRefresh) {
        let status = r.status().map(|s| s.as_str().to_owned()).unwrap_or_default();
        let left = r.instances_to_update().map(|n| format!(", {n} instances to update")).unwrap_or_default();
        let reason = r.status_reason().map(|s| format!(": {}", common::aws::error::one_line(s))).unwrap_or_default();
        if let Some(bar) = &self.bar {
            bar.set_position(r.percentage_complete().unwrap_or(0).clamp(0, 100) as u64);
            bar.set_message(format!("{status}{left}{reason}"));
            if r.status().map_or(Phase::Waiting, phase) != Phase::Waiting {
                bar.finish();
            }
            return;
        }
        // A change of status, percentage or AWS's reason (a checkpoint's pause) is a line.
        let now = (status.clone(), r.percentage_complete(), reason.clone());
        if self.last.as_ref() == Some(&now) {
            return;
        }
        tracing::info!("Instance refresh {status}{}{left}{reason}", pct(r.percentage_complete()));
        self.last = Some(now);
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            if !bar.is_finished() {
                bar.abandon();
            }
        }
    }
}
