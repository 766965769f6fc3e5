//! What every deploy tool shares: the global flags, loading AWS config once from the standard
//! chain, turning errors into one `<tool>: message` line and an exit code, writing results as
//! text or JSON, and listing a branch's AMIs.
//!
//! Data flows one way: arguments -> [`Context`] (config, clients) -> the tool's `run` -> a
//! [`Report`] -> stdout and an exit code. Nothing below `run` prints results.

pub mod ami;
pub mod aws;
pub mod calllog;
pub mod cli;
pub mod error;
mod http;
pub mod inuse;
pub mod output;
pub mod pace;
pub mod scope;

pub use ami::{list_amis, sort_oldest_first, validate_ami_id, Ami};
pub use aws::Context;
pub use cli::{GlobalArgs, Tool};
pub use error::{aws_error, AwsError, Usage};
pub use inuse::{InUse, Uses};
pub use output::{OutputFormat, Report};
pub use pace::Pacer;
pub use scope::{Scope, TagArgs, TagFilter};
