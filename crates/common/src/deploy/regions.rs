//! Several Regions: `--regions R1,R2,...`, checked twice before anything changes.
//!
//! First by clap, with no request: a list of one or more well-formed Region names, none twice.
//! Then, as the run's first request, against EC2's DescribeRegions (every Region, enabled or
//! not): a name AWS does not know (a typo such as `eu-wset-1`) or a Region this account has
//! not enabled is a usage error (exit 2), found before any Region is listed or touched. A
//! built-in list of names would refuse every Region AWS opens after the release; AWS's own
//! answer does not go stale.

use std::fmt;
use std::future::Future;
use std::io::{self, Write};
use std::str::FromStr;

use anyhow::Result;
use serde::Serialize;
use tracing::Instrument;

use crate::aws::error::{aws_error, render, Usage};
use crate::aws::Context;
use crate::cli::output::Report;
use crate::images::ami::{list_amis, Ami};
use crate::images::scope::Scope;

/// A Region name as AWS spells them: `us-east-1`, `eu-central-2`, `us-gov-west-1`.
pub fn check_region_name(name: &str) -> Result<(), String> {
    let parts: Vec<&str> = name.split('-').collect();
    let ok = parts.len() >= 3
        && parts[0].len() == 2
        && parts[..parts.len() - 1].iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1].bytes().all(|b| b.is_ascii_digit())
        && !parts[parts.len() - 1].is_empty();
    if ok {
        Ok(())
    } else {
        Err(format!("{name:?} is not a Region name (such as us-east-1)"))
    }
}

/// One or more Regions, in the order given, none twice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionList(Vec<String>);

impl RegionList {
    /// Checks a list from another source (a targets file) by the same rules as `--regions`.
    pub fn new(names: Vec<String>) -> Result<Self, String> {
        if names.is_empty() {
            return Err("no Region given: name one or more, separated by commas".into());
        }
        for (i, name) in names.iter().enumerate() {
            check_region_name(name)?;
            if names[..i].contains(name) {
                return Err(format!("Region {name} is named twice"));
            }
        }
        Ok(RegionList(names))
    }

    /// Regions already checked, none twice, at least one (a targets file's).
    pub(crate) fn of(regions: Vec<crate::aws::ids::Region>) -> Self {
        debug_assert!(!regions.is_empty());
        RegionList(regions.into_iter().map(|r| r.to_string()).collect())
    }

    pub fn names(&self) -> &[String] {
        &self.0
    }

    /// The first Region listed (a list is never empty).
    pub fn first(&self) -> &str {
        &self.0[0]
    }

    /// The Regions as `--regions` takes them.
    pub fn joined(&self) -> String {
        self.0.join(",")
    }
}

impl FromStr for RegionList {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if s.trim().is_empty() {
            return Err("the Region list is empty: name one or more, separated by commas".into());
        }
        let names: Vec<String> = s.split(',').map(|n| n.trim().to_owned()).collect();
        if names.iter().any(String::is_empty) {
            return Err(format!("{s:?} has an empty Region name (two commas, or one at an end)"));
        }
        RegionList::new(names)
    }
}

impl fmt::Display for RegionList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.joined())
    }
}

/// `--regions`, for the tools that work across Regions.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct RegionsArgs {
    /// Work in each of these Regions (comma-separated, none twice), instead of the one Region
    /// of --region or the standard chain.
    #[arg(long, value_name = "R1,R2,...", help_heading = "Regions")]
    pub regions: Option<RegionList>,
}

/// How DescribeRegions reports a Region this account may use.
fn enabled(opt_in_status: Option<&str>) -> bool {
    matches!(opt_in_status, None | Some("opt-in-not-required" | "opted-in"))
}

/// Asks EC2 (in the Region the config names) which Regions exist and which this account has
/// enabled; a listed Region that is neither known nor enabled is a usage error.
pub async fn check_known(ec2: &aws_sdk_ec2::Client, regions: &RegionList) -> Result<()> {
    let out =
        ec2.describe_regions().all_regions(true).send().await.map_err(|e| aws_error("listing the Regions (to check --regions)", e))?;
    let known: Vec<(&str, Option<&str>)> = out.regions().iter().filter_map(|r| Some((r.region_name()?, r.opt_in_status()))).collect();
    for name in regions.names() {
        match known.iter().find(|(k, _)| k == name) {
            None => {
                let mut names: Vec<&str> = known.iter().map(|(k, _)| *k).collect();
                names.sort_unstable();
                return Err(Usage(format!("unknown Region {name} (AWS knows: {})", names.join(", "))).into());
            }
            Some((_, status)) if !enabled(*status) => {
                return Err(Usage(format!(
                    "Region {name} is not enabled for this account (opt-in status {}): enable it, or leave it out",
                    status.unwrap_or("unknown")
                ))
                .into());
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// Runs `work` in each Region at once, each with a context of its own; one Region's error does
/// not stop the others. The results come in the list's order. (Check the Regions first, with
/// [`check_known`].)
pub async fn each<T, F, Fut>(ctx: &Context, regions: &RegionList, mut work: F) -> PerRegion<T>
where
    F: FnMut(Context) -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let runs = regions.names().iter().map(|region| {
        let run = work(ctx.in_region(region));
        let span = tracing::info_span!("region", region = %region);
        async move {
            let outcome = run.await;
            if let Err(e) = &outcome {
                tracing::error!("{}", render(e));
            }
            match outcome {
                Ok(report) => InRegion { region: region.clone(), report: Some(report), error: None },
                Err(e) => InRegion { region: region.clone(), report: None, error: Some(render(&e)) },
            }
        }
        .instrument(span)
    });
    PerRegion { regions: futures::future::join_all(runs).await }
}

/// The AMIs in scope in each Region (`list_amis`, any state), listed at once; each Region's
/// outcome on its own, in the list's order.
pub async fn list_in_each(ctx: &Context, regions: &RegionList, scope: &Scope) -> Vec<(String, Result<Vec<Ami>>)> {
    let lists = regions.names().iter().map(|region| {
        let ec2 = ctx.in_region(region).ec2();
        async move { (region.clone(), list_amis(&ec2, scope, false).await) }
    });
    futures::future::join_all(lists).await
}

/// One Region's outcome: its report, or the error that stopped it.
#[derive(Debug, Serialize)]
pub struct InRegion<T> {
    pub region: String,
    #[serde(flatten)]
    pub report: Option<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A tool's reports, one for each Region, in the order the Regions were given.
#[derive(Debug, Serialize)]
pub struct PerRegion<T> {
    pub regions: Vec<InRegion<T>>,
}

impl<T: Report> Report for PerRegion<T> {
    /// Each Region's lines, each line led by the Region's name.
    fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        for r in &self.regions {
            match (&r.report, &r.error) {
                (Some(report), _) => {
                    let mut text = Vec::new();
                    report.write_text(&mut text)?;
                    for line in String::from_utf8_lossy(&text).lines() {
                        writeln!(out, "{}: {line}", r.region)?;
                    }
                }
                (None, error) => writeln!(out, "{}: failed: {}", r.region, error.as_deref().unwrap_or("unknown error"))?,
            }
        }
        Ok(())
    }

    fn failure(&self) -> Option<String> {
        let failed: Vec<String> = self
            .regions
            .iter()
            .filter_map(|r| match (&r.report, &r.error) {
                (Some(report), _) => report.failure().map(|why| format!("{}: {why}", r.region)),
                (None, error) => Some(format!("{}: {}", r.region, error.as_deref().unwrap_or("unknown error"))),
            })
            .collect();
        (!failed.is_empty()).then(|| format!("{} of {} Regions failed: {}", failed.len(), self.regions.len(), failed.join("; ")))
    }
}

/// A tool's report for one Region (without --regions: the shape of old) or for several.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum OneOrMany<T> {
    One(T),
    Many(PerRegion<T>),
}

impl<T: Report> Report for OneOrMany<T> {
    fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        match self {
            OneOrMany::One(r) => r.write_text(out),
            OneOrMany::Many(r) => r.write_text(out),
        }
    }

    fn failure(&self) -> Option<String> {
        match self {
            OneOrMany::One(r) => r.failure(),
            OneOrMany::Many(r) => r.failure(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_names() {
        for good in ["us-east-1", "eu-central-2", "us-gov-west-1", "ap-southeast-7", "us-isob-east-1"] {
            assert!(check_region_name(good).is_ok(), "{good}");
        }
        for bad in ["", "us-east", "US-EAST-1", "us_east_1", "useast1", "us-east-1a", "-east-1", "usa-east-1", "us--1"] {
            assert!(check_region_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn lists() {
        let list: RegionList = "us-east-1, eu-west-1".parse().unwrap();
        assert_eq!(list.names(), ["us-east-1", "eu-west-1"]);
        assert_eq!(list.joined(), "us-east-1,eu-west-1");
        assert!("".parse::<RegionList>().unwrap_err().contains("empty"));
        assert!(" ".parse::<RegionList>().unwrap_err().contains("empty"));
        assert!("us-east-1,,eu-west-1".parse::<RegionList>().unwrap_err().contains("empty Region name"));
        assert!("us-east-1,".parse::<RegionList>().unwrap_err().contains("empty Region name"));
        assert!("us-east-1,eu-west-1,us-east-1".parse::<RegionList>().unwrap_err().contains("us-east-1 is named twice"));
        assert!("us-east-1,eu_west_1".parse::<RegionList>().unwrap_err().contains("not a Region name"));
    }

    #[test]
    fn opt_in() {
        assert!(enabled(Some("opt-in-not-required")));
        assert!(enabled(Some("opted-in")));
        assert!(!enabled(Some("not-opted-in")));
    }
}
