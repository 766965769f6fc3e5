//! What every deploy tool shares: the flag groups and typed arguments, loading AWS config once
//! from the standard chain, one exit-status model, turning errors into one `<tool>: message`
//! line, writing results as text or JSON, listing a branch's AMIs, the in-use lookups, and
//! deleting an AMI with its snapshots.
//!
//! Data flows one way: arguments -> [`Context`] (config, clients) -> the tool's `run` -> a
//! [`Report`] -> stdout and an exit code. Nothing below `run` prints results.

/// The version every tool reports: the workspace's, and the git commit it was built from.
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("DEPLOY_TOOLS_COMMIT"), ")");

pub mod ami;
mod assume;
pub mod aws;
pub mod builds;
pub mod calllog;
pub mod cli;
pub mod delete;
pub mod error;
pub mod flags;
mod http;
pub mod ids;
pub mod inuse;
pub mod keep;
pub mod launches;
mod logging;
pub mod output;
pub mod pace;
pub mod refresh;
pub mod regions;
pub mod requirements;
pub mod retire;
pub mod scope;
pub mod signal;
pub mod status;
pub mod targets;
pub mod templates;
pub mod verdict;

pub use ami::{list_amis, sort_oldest_first, Ami};
pub use aws::Context;
pub use cli::{Plan, Prepared, Tool};
pub use error::{aws_error, AwsError, Usage};
pub use flags::GlobalArgs;
pub use inuse::{InUse, Uses};
pub use output::{OutputFormat, Report};
pub use pace::Pacer;
pub use regions::{RegionList, RegionsArgs};
pub use scope::{Scope, TagArgs, TagFilter};
pub use status::Status;
