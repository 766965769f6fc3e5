//! The boundary to AWS: loading config once from the standard chain and building clients
//! ([`Context`]), the HTTP client, assuming a role, pacing EC2's calls, watching each attempt,
//! the typed IDs the tools take, and AWS's errors as users see them.

mod assume;
pub mod calllog;
pub mod consistency;
mod context;
pub mod error;
mod http;
pub mod ids;
pub mod pace;

pub use context::Context;
