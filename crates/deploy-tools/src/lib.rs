//! The commands of the release package's binary beyond the tools it carries: `targets` checks
//! a targets file, `deploy` deploys a build to its targets in waves, `status` shows what each
//! target runs. `main.rs` dispatches to them and to the tools.

pub mod deploy;
pub mod status;
pub mod targets;
