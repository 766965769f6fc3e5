//! What a bump did: the report on stdout (text: the new version's number; JSON: every kept
//! version with why it stays, the deleted and failed ones, what the fit could not check).

use std::io::{self, Write};

use common::Report;
use serde::Serialize;

/// What a bump did.
#[derive(Debug, Serialize)]
pub struct Bumped {
    pub launch_template_id: String,
    pub image_id: String,
    /// The new version's number (in a dry run: the number it would most likely get).
    pub version: i64,
    pub source_version: i64,
    pub default_version: i64,
    pub kept_versions: Vec<i64>,
    /// Every kept version with why it stays.
    pub kept: Vec<Kept>,
    pub deleted_versions: Vec<i64>,
    pub failed_versions: Vec<FailedVersion>,
    /// What the AMI's fit could not be checked against (types chosen by attributes, ...).
    pub not_checked: Vec<String>,
    pub dry_run: bool,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Kept {
    pub version: i64,
    pub reason: String,
}

#[derive(Debug, Serialize)]
pub struct FailedVersion {
    pub version: i64,
    pub code: String,
    pub message: String,
}

impl Report for Bumped {
    fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        writeln!(out, "{}", self.version)
    }

    fn failure(&self) -> Option<String> {
        (!self.failed_versions.is_empty()).then(|| {
            let list: Vec<String> = self.failed_versions.iter().map(|f| format!("{} ({}: {})", f.version, f.code, f.message)).collect();
            format!("could not delete launch template versions: {}", list.join(", "))
        })
    }
}
