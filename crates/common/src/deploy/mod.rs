//! A deploy beyond one Region: `--regions` lists and the targets file (a Region, account, role,
//! template and group per target).

pub mod regions;
pub mod resume;
pub mod targets;
pub mod waves;
