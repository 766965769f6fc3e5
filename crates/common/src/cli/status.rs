//! How a tool's process ends: the one place exit statuses are decided.

use std::process::ExitCode;

use crate::aws::error::Usage;

/// A tool's exit status. Every path out of a tool maps through this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// 0: the operation did what was asked.
    Done,
    /// 1: the operation failed (an AWS error, a refresh that did not succeed, an AMI that could
    /// not be deleted). `bump-launch-template`'s "Must keep at least 2 versions" is one too, as
    /// the script it replaces exited 1 there.
    Failed,
    /// 2: bad usage, found before any request: a missing or malformed argument, an unreadable
    /// or invalid refresh config, a bad AWS_* setting.
    Usage,
    /// 130: interrupted by Ctrl-C or SIGTERM (128 + SIGINT, as shells report it).
    Interrupted,
}

impl Status {
    pub fn code(self) -> u8 {
        match self {
            Status::Done => 0,
            Status::Failed => 1,
            Status::Usage => 2,
            Status::Interrupted => 130,
        }
    }

    /// The status for an error: usage when any cause in its chain is [`Usage`].
    pub fn of(err: &anyhow::Error) -> Status {
        if err.chain().any(|e| e.is::<Usage>()) {
            Status::Usage
        } else {
            Status::Failed
        }
    }
}

impl From<Status> for ExitCode {
    fn from(status: Status) -> ExitCode {
        ExitCode::from(status.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        let codes: Vec<u8> = [Status::Done, Status::Failed, Status::Usage, Status::Interrupted].iter().map(|s| s.code()).collect();
        assert_eq!(codes, [0, 1, 2, 130]);
    }

    #[test]
    fn usage_anywhere_in_the_chain_is_usage() {
        let usage = anyhow::Error::new(Usage("bad".into())).context("reading config");
        assert_eq!(Status::of(&usage), Status::Usage);
        assert_eq!(Status::of(&anyhow::anyhow!("failed")), Status::Failed);
    }
}
