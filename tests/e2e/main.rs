//! The tools, run as users run them, against the local AWS. One test binary for all of them,
//! so the workspace links one large executable instead of one for each tool.

mod accounts;
mod bench;
mod bump_launch_template;
mod calls;
mod cli;
mod consistency;
mod delete_ami;
mod deploy;
mod every_use;
mod faults;
mod iam;
mod instance_refresh;
mod json;
mod latest_ami;
mod lifecycle;
mod pace;
mod package;
mod pipeline;
mod prune_amis;
mod real_account;
mod regions;
mod rollback;
mod safety;
mod stack;
mod usage;
mod verify_ami;
