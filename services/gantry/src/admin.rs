//! `gantry admin`: bearer tokens and view rebuilds, which act on this
//! machine (the tokens file, the views' database); `reconcile` (the
//! provisioner) and `verify` (ingest) are calls like the other client commands.

use crate::cli::{AdminCommand, ClientArgs, TokenCommand};
use anyhow::Context as _;
use gantry_runtime::Config;
use gantry_runtime::auth::{TokenEntry, TokensFile, hash_token};
use rand::RngCore as _;
use std::path::Path;
use std::time::Instant;

/// Runs a `gantry admin` command.
pub(crate) async fn run(config_path: Option<&Path>, client: &ClientArgs, command: AdminCommand) -> anyhow::Result<()> {
    match command {
        AdminCommand::Reconcile(reconcile) => crate::client::reconcile(client, reconcile).await,
        AdminCommand::Verify(verify) => crate::client::verify(client, verify).await,
        AdminCommand::Token(TokenCommand::Create { subject, groups, tokens_file }) => {
            let groups = groups.into_iter().filter(|group| !group.is_empty()).collect();
            let token = create_token(&tokens_file, subject, groups)?;
            println!("{token}");
            Ok(())
        }
        AdminCommand::Rebuild { service } => {
            let config = Config::load(config_path)?;
            for service in crate::serve::resolve(&[service])? {
                let started = Instant::now();
                for view in (service.rebuild)(config.clone()).await? {
                    let seconds = started.elapsed().as_secs_f64();
                    let note =
                        if view.replayed_here { "" } else { "; a running service leads the view and replays it" };
                    println!(
                        "rebuilt {}/{}: checkpoint {} ({seconds:.1}s){note}",
                        service.name, view.view, view.checkpoint
                    );
                }
            }
            Ok(())
        }
    }
}

/// Creates a random token, appends its hash to the tokens file (atomically)
/// and returns the clear token, which is shown once and stored nowhere.
fn create_token(path: &Path, subject: String, groups: Vec<String>) -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = format!("gty_{}", hex::encode(bytes));
    let mut file: TokensFile = if path.exists() {
        serde_yaml_ng::from_str(&std::fs::read_to_string(path)?)
            .with_context(|| format!("parsing {}", path.display()))?
    } else {
        TokensFile::default()
    };
    file.tokens.push(TokenEntry { subject, groups, sha256: hash_token(&token) });
    if let Some(parent) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let temporary = path.with_extension("yaml.tmp");
    let header = "# Gantry bearer tokens: SHA-256 hashes only (gantry admin token create).\n";
    std::fs::write(&temporary, format!("{header}{}", serde_yaml_ng::to_string(&file)?))?;
    std::fs::rename(&temporary, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(token)
}
