//! `gantry admin reconcile`: asks the provisioner to compare what it made
//! with what exists, prints each difference and a summary, and exits 5
//! when a difference remains unrepaired, so cron and CI can alert.

use super::{environment_number, provisioner};
use crate::cli::{ClientArgs, ReconcileArgs};
use crate::failure::{EXIT_DRIFT, Failure};
use crate::output::{Printer, remaining_drifts};
use gantry_proto::provisioner as pb;

/// Runs `gantry admin reconcile`.
pub(crate) async fn reconcile(args: &ClientArgs, reconcile: ReconcileArgs) -> anyhow::Result<()> {
    let message =
        pb::ReconcileRequest { environment: environment_number(reconcile.environment), repair: reconcile.repair };
    let response = provisioner(args).await?.reconcile(message).await?.into_inner();
    Printer::new(args.output).reconciliation(&response);
    match remaining_drifts(&response) {
        0 => Ok(()),
        remaining => Err(unrepaired(remaining, reconcile.repair).into()),
    }
}

/// The failure of a reconcile that left differences: exit status 5.
fn unrepaired(remaining: usize, repair_asked: bool) -> Failure {
    let message = match remaining {
        1 => "1 drift remains unrepaired".to_owned(),
        many => format!("{many} drifts remain unrepaired"),
    };
    let hint = match repair_asked {
        true => "the provisioner could not repair these; see its log, and the drift events on each request",
        false => "run again with --repair to set them back to what was provisioned",
    };
    Failure { exit: EXIT_DRIFT, ..Failure::new("DRIFT", message) }.with_hint(hint)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drift_left_unrepaired_exits_5_and_says_what_to_do() {
        let failure = unrepaired(2, false);
        assert_eq!((failure.code, failure.exit, failure.message.as_str()), ("DRIFT", 5, "2 drifts remain unrepaired"));
        assert!(failure.to_text().contains("--repair"), "{}", failure.to_text());
        assert!(!unrepaired(1, true).to_text().contains("run again with --repair"));
    }
}
