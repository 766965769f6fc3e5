//! What a verification found: the verdict on stdout (text: the verdict, then a line a check;
//! JSON: the instances, each check with its result and time, the verdict).

use std::io::{self, Write};
use std::time::Instant;

use common::images::verdict::{self, Verdict};
use common::{Report, Status};
use serde::Serialize;

use crate::launch::Prepared;
use crate::Verification;
use common::images::retire::Retirement;

/// How much of a failed command's output is kept (its end: where the error usually is).
pub const OUTPUT_TAIL: usize = 4000;

/// How the run ended (the report's `verdict`): with a verdict recorded on the AMI
/// ([`Ending::recorded`]), or with none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Ending {
    Passed,
    Failed,
    /// Ctrl-C or SIGTERM: the instances were terminated, no verdict was recorded.
    Interrupted,
    DryRun,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Passed,
    Failed,
    TimedOut,
}

/// An instance the run launched.
#[derive(Debug, Clone, Serialize)]
pub struct Launched {
    pub instance_id: String,
    pub instance_type: String,
    pub subnet_id: Option<String>,
    /// Whether its termination was asked for (and accepted).
    pub terminated: bool,
}

/// A failed SSM command's exit code and the end of its output.
#[derive(Debug, Clone, Serialize)]
pub struct CommandOutput {
    pub exit_code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// One check on one instance (or on all, for a timeout), and how it went.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// `status-checks`, `ssm-command` or `target-health`.
    pub check: &'static str,
    pub instance_id: Option<String>,
    pub result: Outcome,
    /// From the check's start to its answer.
    pub seconds: f64,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<CommandOutput>,
}

fn tenths(secs: f64) -> f64 {
    (secs * 10.0).round() / 10.0
}

impl Check {
    pub fn new(check: &'static str, instance: Option<&str>, result: Outcome, started: Instant, detail: String) -> Check {
        Check::at(check, instance, result, started.elapsed().as_secs_f64(), detail)
    }

    pub fn at(check: &'static str, instance: Option<&str>, result: Outcome, seconds: f64, detail: String) -> Check {
        Check { check, instance_id: instance.map(str::to_owned), result, seconds: tenths(seconds), detail, output: None }
    }
}

/// The last [`OUTPUT_TAIL`] characters of `text` (a cut is marked with "...").
pub fn tail(text: &str) -> String {
    let count = text.chars().count();
    if count <= OUTPUT_TAIL {
        return text.to_owned();
    }
    let cut: String = text.chars().skip(count - OUTPUT_TAIL).collect();
    format!("...{cut}")
}

/// What a run did and found.
#[derive(Debug, Serialize)]
pub struct Verified {
    pub image_id: String,
    pub launch_template_id: String,
    /// The version launched, as asked (`1`, `$Latest`), and its number.
    pub source_version: String,
    pub version_number: i64,
    /// This run's ID, on its instances' `verify-ami:run` tag.
    pub run_id: String,
    pub verdict: Ending,
    pub reason: Option<String>,
    pub instances: Vec<Launched>,
    pub checks: Vec<Check>,
    /// Instances an earlier, killed run left for this AMI, terminated first.
    pub left_over: Vec<String>,
    /// Whether the verdict was recorded on the AMI as tags.
    pub recorded: bool,
    /// What --on-failure did to the failed AMI.
    pub retired: Option<Retirement>,
    /// Looks at the instances (each a fixed number of calls).
    pub looks: u32,
    pub duration_seconds: f64,
    pub dry_run: bool,
}

impl Verified {
    pub fn new(args: &Verification, run: &str, prepared: &Prepared) -> Verified {
        Verified {
            image_id: args.ami_id.to_string(),
            launch_template_id: args.launch_template_id.to_string(),
            source_version: prepared.version.clone(),
            version_number: prepared.version_number,
            run_id: run.to_owned(),
            verdict: Ending::Interrupted,
            reason: None,
            instances: Vec::new(),
            checks: Vec::new(),
            left_over: Vec::new(),
            recorded: false,
            retired: None,
            looks: 0,
            duration_seconds: 0.0,
            dry_run: args.dry_run,
        }
    }

    pub fn failed(&mut self, reason: String) {
        self.verdict = Ending::Failed;
        self.reason = Some(reason);
    }

    pub fn interrupted(&mut self) {
        self.verdict = Ending::Interrupted;
        self.reason = Some("interrupted".into());
    }

    pub fn finish(mut self, started: Instant) -> Verified {
        self.duration_seconds = tenths(started.elapsed().as_secs_f64());
        self
    }
}

impl Verified {
    /// The verdict to record on the AMI: a pass or a failure with its reason; none for a
    /// dry run or an interrupted run.
    pub fn recorded(&self) -> Option<Verdict> {
        match self.verdict {
            Ending::Passed => Some(Verdict::Passed { at: None }),
            Ending::Failed => Some(Verdict::Failed { reason: self.reason.clone().unwrap_or_else(|| "no reason".into()) }),
            Ending::Interrupted | Ending::DryRun => None,
        }
    }
}

impl Report for Verified {
    fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        let verdict = match self.verdict {
            Ending::Passed => verdict::PASSED,
            Ending::Failed => verdict::FAILED,
            Ending::Interrupted => "interrupted",
            Ending::DryRun => "dry-run",
        };
        let instances: Vec<&str> = self.instances.iter().map(|i| i.instance_id.as_str()).collect();
        let on = if instances.is_empty() { String::new() } else { format!(", {}", instances.join(", ")) };
        writeln!(out, "{verdict} {} (launch template {} version {}{on})", self.image_id, self.launch_template_id, self.version_number)?;
        for c in &self.checks {
            let result = match c.result {
                Outcome::Passed => "passed",
                Outcome::Failed => "failed",
                Outcome::TimedOut => "timed out",
            };
            writeln!(
                out,
                "  {} {}{result} after {:.1} s: {}",
                c.check,
                c.instance_id.as_deref().map(|i| format!("{i} ")).unwrap_or_default(),
                c.seconds,
                c.detail
            )?;
            if let Some(output) = &c.output {
                for (name, text) in [("stdout", &output.stdout), ("stderr", &output.stderr)] {
                    if text.is_empty() {
                        continue;
                    }
                    writeln!(out, "  --- {name} of the command (exit code {}) ---", output.exit_code)?;
                    for line in text.lines() {
                        writeln!(out, "  {line}")?;
                    }
                }
            }
        }
        Ok(())
    }

    fn failure(&self) -> Option<String> {
        match self.verdict {
            Ending::Passed | Ending::DryRun => None,
            Ending::Failed => Some(format!("{} failed verification: {}", self.image_id, self.reason.as_deref().unwrap_or("no reason"))),
            Ending::Interrupted => Some("interrupted: the instances launched were terminated; no verdict recorded".into()),
        }
    }

    fn failure_status(&self) -> Status {
        match self.verdict {
            Ending::Interrupted => Status::Interrupted,
            _ => Status::Failed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tail_keeps_the_end() {
        assert_eq!(tail("short"), "short");
        let long = format!("{}END", "x".repeat(OUTPUT_TAIL * 2));
        let t = tail(&long);
        assert!(t.starts_with("...") && t.ends_with("END"));
        assert_eq!(t.chars().count(), OUTPUT_TAIL + 3);
        let wide = "é".repeat(OUTPUT_TAIL + 1);
        assert_eq!(tail(&wide).chars().count(), OUTPUT_TAIL + 3, "cut on characters, not bytes");
    }
}
