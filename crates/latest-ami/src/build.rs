//! `latest-ami --regions`: the build picked for every Region (`common::images::builds` picks it), as
//! text lines and JSON.

use std::collections::BTreeMap;
use std::io::{self, Write};

use common::images::builds::PassedOver;
use common::Report;
use serde::Serialize;

/// What `latest-ami --regions` found: one build, its AMI in each Region.
#[derive(Debug, Serialize)]
pub struct Build {
    /// The AMI name the build's copies share.
    pub name: String,
    /// When the build's first AMI was made.
    pub creation_date: String,
    pub branch: String,
    pub tags: BTreeMap<String, String>,
    /// Region -> AMI ID.
    pub images: BTreeMap<String, String>,
    /// Newer builds not ready in every Region, newest first, and why.
    pub passed_over: Vec<PassedOver>,
    /// The Regions in the order given (the order of the text lines).
    #[serde(skip)]
    pub order: Vec<(String, String)>,
}

impl Build {
    /// `REGION AMI_ID`, one line per Region, in the order given.
    pub fn lines(&self) -> String {
        self.order.iter().map(|(region, id)| format!("{region} {id}\n")).collect()
    }
}

impl Report for Build {
    fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        out.write_all(self.lines().as_bytes())
    }
}
