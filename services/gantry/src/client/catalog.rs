//! `gantry catalog export`: intake's catalog of requests (`rds`,
//! `backstage`), or with `--from provisioner` the provisioner's catalog of
//! what exists (`platform`, `backstage`). A format the source does not
//! have is refused before anything is sent.

use super::{environment_number, intake, provisioner};
use crate::cli::{CatalogCommand, CatalogFormat, CatalogSource, ClientArgs};
use crate::failure::{EXIT_USAGE, Failure, Violation};
use crate::output::Printer;
use gantry_proto::intake as intake_pb;
use gantry_proto::provisioner as provisioner_pb;

/// Runs `gantry catalog export`.
pub(crate) async fn catalog(args: &ClientArgs, command: CatalogCommand) -> anyhow::Result<()> {
    let CatalogCommand::Export { from, format, environment, min_sequence } = command;
    let format = resolve_format(from, format)?;
    let (environment, min_sequence) = (environment_number(environment), min_sequence.unwrap_or(0));
    let content = match from {
        CatalogSource::Intake => {
            let format = match format {
                CatalogFormat::Backstage => intake_pb::CatalogFormat::Backstage,
                _ => intake_pb::CatalogFormat::RdsCatalog,
            };
            let message = intake_pb::ExportCatalogRequest { format: format as i32, environment, min_sequence };
            intake(args).await?.export_catalog(message).await?.into_inner().content
        }
        CatalogSource::Provisioner => {
            let format = match format {
                CatalogFormat::Backstage => provisioner_pb::CatalogFormat::Backstage,
                _ => provisioner_pb::CatalogFormat::Platform,
            };
            let message = provisioner_pb::ExportCatalogRequest { format: format as i32, environment, min_sequence };
            provisioner(args).await?.export_catalog(message).await?.into_inner().content
        }
    };
    Printer::new(args.output).catalog(&content, format)
}

/// Returns the format to export: the one asked for when the source has
/// it, else the source's own document (rds from intake, platform from the
/// provisioner) when none was asked for.
fn resolve_format(from: CatalogSource, format: Option<CatalogFormat>) -> anyhow::Result<CatalogFormat> {
    match (from, format) {
        (CatalogSource::Intake, None) => Ok(CatalogFormat::Rds),
        (CatalogSource::Provisioner, None) => Ok(CatalogFormat::Platform),
        (CatalogSource::Intake, Some(CatalogFormat::Platform)) => {
            Err(usage("--format platform is the provisioner's catalog", "add --from provisioner").into())
        }
        (CatalogSource::Provisioner, Some(CatalogFormat::Rds)) => Err(usage(
            "--format rds is intake's catalog of requests",
            "leave out --from provisioner, or use --format platform",
        )
        .into()),
        (_, Some(format)) => Ok(format),
    }
}

/// A flag combination the parser cannot refuse, reported as the parser
/// would: exit status 2, the flag in `field_violations`.
fn usage(message: &str, hint: &str) -> Failure {
    let violation = Violation { field: "--format".into(), description: message.into() };
    Failure { violations: vec![violation], exit: EXIT_USAGE, ..Failure::new("INVALID_ARGUMENT", message) }
        .with_hint(hint)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_source_has_its_own_document_and_both_have_backstage() {
        use CatalogFormat::{Backstage, Platform, Rds};
        use CatalogSource::{Intake, Provisioner};
        assert_eq!(resolve_format(Intake, None).unwrap(), Rds);
        assert_eq!(resolve_format(Provisioner, None).unwrap(), Platform);
        assert_eq!(resolve_format(Provisioner, Some(Backstage)).unwrap(), Backstage);
        assert_eq!(resolve_format(Intake, Some(Backstage)).unwrap(), Backstage);
        let refused = crate::failure::from_error(resolve_format(Intake, Some(Platform)).unwrap_err());
        assert_eq!((refused.code, refused.exit), ("INVALID_ARGUMENT", EXIT_USAGE));
        assert!(refused.to_text().contains("--from provisioner"), "{}", refused.to_text());
        let refused = crate::failure::from_error(resolve_format(Provisioner, Some(Rds)).unwrap_err());
        assert_eq!(refused.violations[0].field, "--format");
    }
}
