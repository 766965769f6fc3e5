//! `--targets`: what the deploy's other accounts still launch. The build account owns the AMIs
//! and their tags; the workload accounts launch them through launch permissions, and only a
//! lookup in each of those accounts sees their instances, templates, groups, launch
//! configurations and SSM parameters. Each target with a role, in a Region being pruned, is
//! looked up through its role, all at once; any that fails stops the prune before anything is
//! retired.

use std::collections::BTreeMap;

use anyhow::{Context as _, Result};
use common::aws::ids::RoleArn;
use common::deploy::targets::Target;
use common::images::inuse::{self, InUse};
use common::Context;

/// What the other accounts use in one Region, and which accounts were looked at there.
#[derive(Debug, Default, Clone)]
pub struct Elsewhere {
    pub in_use: InUse,
    /// The accounts whose uses in this Region are in `in_use`: an AMI shared only with these
    /// is retired by the usual rules.
    pub checked: Vec<String>,
    /// This account's own uses, when they were looked up beside the others'.
    pub here: Option<InUse>,
}

/// The targets to look up: each with a role, in one of `regions`, with its number in the file
/// and its role.
pub fn to_check<'a>(targets: &'a [Target], regions: &[String]) -> Vec<(usize, &'a Target, &'a RoleArn)> {
    targets
        .iter()
        .enumerate()
        .filter(|(_, t)| regions.iter().any(|r| r == t.region.as_str()))
        .filter_map(|(i, t)| Some((i + 1, t, t.role_arn.as_ref()?)))
        .collect()
}

/// One target's account, reached through its role, with what it launches from there.
pub struct Reached<'a> {
    n: usize,
    target: &'a Target,
    ctx: Context,
    in_use: InUse,
}

/// Assumes each target's role in its Region and looks up its uses there ([`inuse::find`], as
/// in this account), all at once: these need no AMI IDs, so they run beside the listing.
pub async fn reach<'a>(ctx: &Context, targets: Vec<(usize, &'a Target, &'a RoleArn)>) -> Result<Vec<Reached<'a>>> {
    let reaches = targets.into_iter().map(|(n, target, role)| async move {
        let (there, in_use) = async {
            let there = ctx
                .in_region(target.region.as_str())
                .assuming(<crate::Args as common::Tool>::NAME, role, target.external_id.as_ref())
                .await?;
            let in_use = inuse::find(&there.ec2(), &there.autoscaling()).await?;
            Ok::<_, anyhow::Error>((there, in_use))
        }
        .await
        .with_context(|| target.describe(n))?;
        Ok::<_, anyhow::Error>(Reached { n, target, ctx: there, in_use })
    });
    futures::future::try_join_all(reaches).await
}

/// Adds, in each reached account, the SSM parameters and Image Builder recipes that name any of
/// its Region's `older` AMIs (those the rules may retire: `Pruning::retirable`), all at once;
/// then what every account uses, by Region.
pub async fn look(reached: Vec<Reached<'_>>, older: &BTreeMap<String, Vec<String>>) -> Result<BTreeMap<String, Elsewhere>> {
    let looks = reached.into_iter().map(|mut r| async move {
        if let Some(ids) = older.get(r.target.region.as_str()).filter(|ids| !ids.is_empty()) {
            inuse::references(&r.ctx.ec2(), ids, &mut r.in_use).await.with_context(|| r.target.describe(r.n))?;
        }
        Ok::<_, anyhow::Error>(r)
    });
    let found = futures::future::try_join_all(looks).await?;
    let mut by_region: BTreeMap<String, Elsewhere> = BTreeMap::new();
    for r in found {
        let account = r.target.account();
        let here = by_region.entry(r.target.region.to_string()).or_default();
        here.in_use.merge(r.in_use.in_account(&account));
        if !here.checked.contains(&account) {
            here.checked.push(account);
        }
    }
    Ok(by_region)
}
