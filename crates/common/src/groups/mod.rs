//! Auto Scaling groups and their launch templates: what a group launches from, a template as a
//! group names it, and where an instance refresh's status leaves a deploy.

pub mod launches;
pub mod refresh;
pub mod templates;
