//! `gantry rotation ...`: rotation's view of every credential, rotation on
//! demand, a credential's own policy, and the daily report, which exits 6
//! when anything is overdue so a CI job can warn or gate on it.

use super::{environment_number, every_page, rotation_client};
use crate::cli::{ClientArgs, Output, PolicyArgs, ReportArgs, ReportFormat, RotationCommand};
use crate::failure::{EXIT_OVERDUE, Failure};
use crate::output::{Printer, Report};
use gantry_proto::rotation::{self as pb, RotationState};
use std::time::SystemTime;

/// Runs a `gantry rotation` command.
pub(crate) async fn rotation(args: &ClientArgs, command: RotationCommand) -> anyhow::Result<()> {
    let mut client = rotation_client(args).await?;
    let printer = Printer::new(args.output);
    match command {
        RotationCommand::Status { secret_name, min_sequence } => {
            let message = pb::GetRotationStatusRequest { secret_name, min_sequence: min_sequence.unwrap_or(0) };
            let rotation = client.get_rotation_status(message).await?.into_inner().rotation.unwrap_or_default();
            printer.rotation(&rotation, None);
        }
        RotationCommand::List { state, environment, min_sequence } => {
            let message = pb::ListRotationsRequest {
                state: state.map_or(0, |state| RotationState::from(state) as i32),
                environment: environment_number(environment),
                min_sequence: min_sequence.unwrap_or(0),
                ..Default::default()
            };
            printer.rotations(&list(&client, message).await?);
        }
        RotationCommand::Rotate { secret_name, reason, min_sequence } => {
            let reason = reason.unwrap_or_default();
            let message = pb::RotateNowRequest { secret_name, reason, min_sequence: min_sequence.unwrap_or(0) };
            let answer = client.rotate_now(message).await?.into_inner();
            printer.rotation(&answer.rotation.unwrap_or_default(), Some(answer.sequence));
        }
        RotationCommand::Policy(policy) => {
            let answer = client.set_rotation_policy(policy_message(policy)).await?.into_inner();
            printer.rotation(&answer.rotation.unwrap_or_default(), Some(answer.sequence));
        }
        RotationCommand::Report(report) => return run_report(&client, args.output, report).await,
    }
    Ok(())
}

/// Every credential of a listing, page by page (500 a page).
async fn list(client: &super::RotationClient, message: pb::ListRotationsRequest) -> anyhow::Result<Vec<pb::Rotation>> {
    every_page(|page_token| {
        let (mut client, message) =
            (client.clone(), pb::ListRotationsRequest { page_token, page_size: 500, ..message.clone() });
        async move {
            let page = client.list_rotations(message).await?.into_inner();
            Ok((page.rotations, page.next_page_token))
        }
    })
    .await
}

fn policy_message(policy: PolicyArgs) -> pb::SetRotationPolicyRequest {
    pb::SetRotationPolicyRequest {
        secret_name: policy.secret_name,
        period_days: policy.period_days,
        strategy: policy.strategy.map_or(0, |strategy| gantry_proto::events::RotationStrategy::from(strategy) as i32),
        reason: policy.reason.unwrap_or_default(),
        min_sequence: policy.min_sequence.unwrap_or(0),
    }
}

/// `gantry rotation report`: lists what is due within the window (and
/// what is overdue), prints it, and fails with exit status 6 when anything
/// is overdue.
async fn run_report(client: &super::RotationClient, output: Output, args: ReportArgs) -> anyhow::Result<()> {
    let now = SystemTime::now();
    let message = pb::ListRotationsRequest {
        environment: environment_number(args.environment),
        deadline_before: Some((now + args.within).into()),
        ..Default::default()
    };
    let report = Report::new(list(client, message).await?, now, args.within);
    let format = if output == Output::Json { ReportFormat::Json } else { args.format };
    print!("{}", report.render(format));
    match report.overdue().len() {
        0 => Ok(()),
        overdue => {
            let message = match overdue {
                1 => "1 credential is overdue".to_owned(),
                many => format!("{many} credentials are overdue"),
            };
            let hint = "rotate it with `gantry rotation rotate <SECRET>`, or see why it failed with `gantry rotation status <SECRET>`";
            Err(Failure { exit: EXIT_OVERDUE, ..Failure::new("OVERDUE", message) }.with_hint(hint).into())
        }
    }
}
