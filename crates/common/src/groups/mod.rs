//! Auto Scaling groups and their launch templates: what a group launches from, a template as a
//! group names it, where an instance refresh's status leaves a deploy, and where a rollback goes.

pub mod launches;
pub mod refresh;
pub mod rollback;
pub mod templates;
