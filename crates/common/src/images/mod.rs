//! A branch's AMIs and what becomes of them: listing them in scope, one build across Regions,
//! verify-ami's verdict, what keeps an AMI (its uses, the keep rules), and retiring or deleting
//! one with its snapshots.

pub mod ami;
pub mod builds;
pub mod delete;
pub mod inuse;
pub mod keep;
pub mod retire;
pub mod scope;
pub mod verdict;
