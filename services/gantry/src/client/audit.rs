//! `gantry audit export`: the provisioner's audit CSV of an environment,
//! written byte for byte to stdout or to a file.

use super::provisioner;
use crate::cli::{AuditCommand, ClientArgs};
use crate::failure::Failure;
use crate::output::Printer;
use gantry_proto::provisioner as pb;
use gantry_proto::types;
use std::io::Write as _;
use std::path::Path;

/// Runs `gantry audit export`.
pub(crate) async fn audit(args: &ClientArgs, command: AuditCommand) -> anyhow::Result<()> {
    let AuditCommand::Export(export) = command;
    let message = pb::ExportAuditRequest {
        environment: types::Environment::from(export.environment) as i32,
        format: pb::AuditFormat::from(export.format) as i32,
        min_sequence: export.min_sequence.unwrap_or(0),
    };
    let answer = provisioner(args).await?.export_audit(message).await?.into_inner();
    if export.out_file == Path::new("-") {
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(answer.content.as_bytes())?;
        stdout.flush()?;
        return Ok(());
    }
    write_replacing(&export.out_file, answer.content.as_bytes())?;
    Printer::new(args.output).export_written(&export.out_file, answer.rows);
    Ok(())
}

/// Writes a file whole: to a temporary file beside it, then renamed over
/// it, so a reader never sees half an export.
fn write_replacing(path: &Path, content: &[u8]) -> anyhow::Result<()> {
    let cannot = |error: std::io::Error| Failure::new("UNKNOWN", format!("cannot write {}: {error}", path.display()));
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".partial");
    std::fs::write(&temporary, content).map_err(cannot)?;
    Ok(std::fs::rename(&temporary, path).map_err(cannot)?)
}
