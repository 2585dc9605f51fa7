//! `cairn check [--repair]`: the store's fsck (see `cairn_store::Store::check`).

use crate::commands::images::StoreArgs;
use anyhow::{Result, bail};
use clap::Args;

#[derive(Args)]
pub struct CheckArgs {
    /// Fix what can safely be fixed: remove damaged blobs and cache records that point
    /// nowhere, re-derive unreadable layer records.
    #[arg(long)]
    pub repair: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

pub fn run(args: CheckArgs) -> Result<()> {
    let Some(store) = args.store.open_existing()? else {
        bail!("there is no store there (nothing to check)");
    };
    let r = store.check(args.repair)?;
    for p in &r.problems {
        outln!("{p}");
    }
    outln!(
        "checked {} blobs, {} layers, {} cache records, {} images: {} problem(s){}",
        r.blobs_checked,
        r.layers_checked,
        r.cache_records_checked,
        r.images_checked,
        r.problems.len(),
        if args.repair {
            format!(", {} repaired", r.repaired)
        } else {
            String::new()
        }
    );
    if r.problems.len() > r.repaired {
        bail!(
            "the store has problems{}",
            if args.repair {
                " that repair cannot fix (see above)"
            } else {
                ": run cairn check --repair"
            }
        );
    }
    Ok(())
}
