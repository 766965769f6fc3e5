//! What every deploy tool shares, in rooms by concern:
//! - [`cli`]: the process (one `main`, the flag groups, logging, the report, exit statuses);
//! - [`aws`]: the boundary to AWS (config and clients, HTTP, roles, pacing, errors, typed IDs);
//! - [`images`]: a branch's AMIs (listing, builds, verdicts, uses, keep rules, retiring, deleting);
//! - [`groups`]: Auto Scaling groups, their launch templates, instance refresh phases;
//! - [`deploy`]: Region lists and the targets file.
//!
//! Data flows one way: arguments -> [`Context`] (config, clients) -> the tool's `run` -> a
//! [`Report`] -> stdout and an exit code. Nothing below `run` prints results.

/// The version every tool reports: the workspace's, and the git commit it was built from.
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("DEPLOY_TOOLS_COMMIT"), ")");

pub mod aws;
pub mod cli;
pub mod deploy;
pub mod groups;
pub mod images;

pub use aws::error::{aws_error, AwsError, Usage};
pub use aws::pace::Pacer;
pub use aws::Context;
pub use cli::flags::GlobalArgs;
pub use cli::output::{OutputFormat, Report};
pub use cli::status::Status;
pub use cli::{Plan, Tool};
pub use deploy::regions::{RegionList, RegionsArgs};
pub use images::ami::{list_amis, sort_oldest_first, Ami};
pub use images::inuse::{InUse, Uses};
pub use images::scope::{Scope, TagArgs, TagFilter};
