//! `cairn build --explain` and `cairn explain`: why each step ran, against the last build of
//! the same target (see `cairn_build::explain`).

use crate::commands::images::StoreArgs;
use crate::commands::progress::text::sanitize;
use anyhow::Result;
use cairn_build::explain::Explanation;
use clap::Args;

#[derive(Args)]
pub struct ExplainArgs {
    /// Print JSON: {"earlier": bool, "steps": [{"step", "reasons": [...]}]}.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// The explanation as lines for a person (a step's text and paths are the Dockerfile's and
/// the context's: shown with their control characters made visible).
pub fn lines(e: &Explanation) -> Vec<String> {
    if e.steps.is_empty() {
        return vec!["Nothing ran: every step came from the cache.".into()];
    }
    let mut out = vec![if e.earlier {
        "Why steps ran (against the last build of this target):".to_string()
    } else {
        "Why steps ran (no earlier build of this target to compare with):".to_string()
    }];
    for s in &e.steps {
        out.push(format!(" => {}", sanitize(&s.step, false)));
        for r in &s.reasons {
            out.push(format!("    - {}", sanitize(r, false)));
        }
    }
    out
}

/// `cairn explain`: the last build's explanation.
pub fn run(args: ExplainArgs) -> Result<()> {
    let last = match args.store.open_existing()? {
        Some(store) => cairn_build::explain::last(&store)?,
        None => None,
    };
    let Some(e) = last else {
        anyhow::bail!("no build to explain yet: run cairn build first");
    };
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&e)?);
    } else {
        for l in lines(&e) {
            outln!("{l}");
        }
    }
    Ok(())
}
