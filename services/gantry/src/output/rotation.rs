//! Rotation as the client prints it: one credential (every field, one a
//! line; JSON: one object), a listing (a table; JSON: `{"rotations":
//! [...]}`), and the daily report, as a table, GitHub Markdown or JSON.

use super::fields::{environment_word, risk_word, rotation_state_word, strategy_word, time};
use super::{Printer, plain_table};
use crate::cli::{ReportFormat, format_duration};
use gantry_proto::rotation::{self as pb, RotationState};
use serde_json::{Value, json};
use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

/// A credential's fields, by the API's names, in the order they print.
fn rotation_fields(rotation: &pb::Rotation) -> Vec<(&'static str, Value)> {
    vec![
        ("secret_name", json!(rotation.secret_name)),
        ("state", json!(rotation_state_word(rotation.state))),
        ("environment", json!(environment_word(rotation.environment))),
        ("database_name", json!(rotation.database_name)),
        ("role", json!(rotation.role)),
        ("current_user", json!(rotation.current_user)),
        ("owner", json!(rotation.owner)),
        ("risk", json!(risk_word(rotation.risk))),
        ("period_days", json!(rotation.period_days)),
        ("tier_period_days", json!(rotation.tier_period_days)),
        ("strategy", json!(strategy_word(rotation.strategy))),
        ("last_rotated_at", json!(time(rotation.last_rotated_at))),
        ("deadline", json!(time(rotation.deadline))),
        ("next_rotation_at", json!(time(rotation.next_rotation_at))),
        ("rotations", json!(rotation.rotations)),
        ("version_id", json!(rotation.version_id)),
        ("reason", json!(rotation.reason)),
        ("request_id", json!(rotation.request_id)),
        ("sequence", json!(rotation.sequence)),
    ]
}

impl Printer {
    /// Prints one credential; `sequence` is the write a command made.
    pub(crate) fn rotation(&self, rotation: &pb::Rotation, sequence: Option<u64>) {
        let mut fields = rotation_fields(rotation);
        if let Some(sequence) = sequence {
            fields.push(("write_sequence", json!(sequence)));
        }
        self.one(fields);
    }

    /// Prints credentials: a table, or `{"rotations": [...]}`.
    pub(crate) fn rotations(&self, rotations: &[pb::Rotation]) {
        let header = ["SECRET", "ENV", "OWNER", "RISK", "PERIOD", "STATE", "DEADLINE", "NEXT ROTATION"];
        let row = |rotation: &pb::Rotation| {
            [
                rotation.secret_name.clone(),
                environment_word(rotation.environment),
                rotation.owner.clone(),
                risk_word(rotation.risk),
                format!("{}d", rotation.period_days),
                rotation_state_word(rotation.state),
                time(rotation.deadline),
                time(rotation.next_rotation_at),
            ]
        };
        self.many("rotations", &header, rotations.iter().map(|rotation| (rotation_fields(rotation), row(rotation))));
    }
}

/// The daily report: what is overdue and what is due within a window.
#[derive(Debug)]
pub(crate) struct Report {
    rotations: Vec<pb::Rotation>,
    now: SystemTime,
    within: Duration,
}

fn seconds(timestamp: Option<prost_types::Timestamp>) -> i64 {
    timestamp.map_or(0, |timestamp| timestamp.seconds)
}

/// `3d 4h`, `5h 10m`, `40m`: how far a deadline is, roughly.
fn span(seconds: i64) -> String {
    let seconds = seconds.unsigned_abs();
    let (days, hours, minutes) = (seconds / 86_400, seconds / 3600 % 24, seconds / 60 % 60);
    match (days, hours) {
        (0, 0) => format!("{minutes}m"),
        (0, _) => format!("{hours}h {minutes}m"),
        _ => format!("{days}d {hours}h"),
    }
}

impl Report {
    /// The report of `rotations` (those due before `now + within`).
    pub(crate) fn new(mut rotations: Vec<pb::Rotation>, now: SystemTime, within: Duration) -> Self {
        rotations.sort_by(|a, b| (seconds(a.deadline), &a.secret_name).cmp(&(seconds(b.deadline), &b.secret_name)));
        Self { rotations, now, within }
    }

    fn now_seconds(&self) -> i64 {
        self.now.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |since| since.as_secs() as i64)
    }

    /// Credentials whose deadline passed.
    pub(crate) fn overdue(&self) -> Vec<&pb::Rotation> {
        let now = self.now_seconds();
        self.rotations.iter().filter(|rotation| seconds(rotation.deadline) <= now).collect()
    }

    /// Credentials due within the window, not yet overdue.
    pub(crate) fn due(&self) -> Vec<&pb::Rotation> {
        let now = self.now_seconds();
        self.rotations.iter().filter(|rotation| seconds(rotation.deadline) > now).collect()
    }

    /// When a deadline is, from now: `in 3d 4h` or `overdue by 2h 5m`.
    fn when(&self, rotation: &pb::Rotation) -> String {
        let left = seconds(rotation.deadline) - self.now_seconds();
        if left > 0 { format!("in {}", span(left)) } else { format!("overdue by {}", span(left)) }
    }

    /// What a row says about where the credential stands (its last failure).
    fn note(rotation: &pb::Rotation) -> String {
        match RotationState::try_from(rotation.state) {
            Ok(RotationState::Failed) => format!("last rotation failed: {}", rotation.reason),
            Ok(RotationState::Rotating) => "rotating now".into(),
            _ => String::new(),
        }
    }

    fn window(&self) -> String {
        let text = format_duration(self.within);
        // Whole days read as days (`7d`), the way the flag is usually written.
        let days = self.within.as_secs() / 86_400;
        if days > 0 && self.within.as_secs().is_multiple_of(86_400) { format!("{days}d") } else { text }
    }

    /// The report in `format`.
    pub(crate) fn render(&self, format: ReportFormat) -> String {
        match format {
            ReportFormat::Table => self.table(),
            ReportFormat::Markdown => self.markdown(),
            ReportFormat::Json => format!("{}\n", self.json()),
        }
    }

    fn headline(&self) -> String {
        let (overdue, due) = (self.overdue().len(), self.due().len());
        format!("{overdue} overdue, {due} due within {}", self.window())
    }

    fn table(&self) -> String {
        let mut text = format!("Credential rotation: {}\n", self.headline());
        for (title, rows) in [("Overdue", self.overdue()), (&*format!("Due within {}", self.window()), self.due())] {
            if rows.is_empty() {
                continue;
            }
            let mut table = plain_table(&["SECRET", "ENV", "OWNER", "RISK", "STATE", "DEADLINE", "WHEN", "NOTE"]);
            for rotation in rows {
                table.add_row([
                    rotation.secret_name.clone(),
                    environment_word(rotation.environment),
                    rotation.owner.clone(),
                    risk_word(rotation.risk),
                    rotation_state_word(rotation.state),
                    time(rotation.deadline),
                    self.when(rotation),
                    Self::note(rotation),
                ]);
            }
            let _ = write!(text, "\n{title}:\n{table}\n");
        }
        text
    }

    fn markdown(&self) -> String {
        let now = time(Some(self.now.into()));
        let mut text = format!("## Credential rotation: {}\n\n_As of {now}._\n", self.headline());
        if self.rotations.is_empty() {
            let _ = writeln!(text, "\nNothing is overdue or due within {}. :white_check_mark:", self.window());
            return text;
        }
        for (title, rows) in [("Overdue", self.overdue()), (&*format!("Due within {}", self.window()), self.due())] {
            if rows.is_empty() {
                continue;
            }
            let _ = write!(
                text,
                "\n### {title}\n\n| Secret | Env | Owner | Risk | State | Deadline | When | Note |\n|---|---|---|---|---|---|---|---|\n"
            );
            for rotation in rows {
                let state = rotation_state_word(rotation.state);
                let state = if state == "overdue" || state == "failed" { format!("**{state}**") } else { state };
                let _ = writeln!(
                    text,
                    "| `{}` | {} | {} | {} | {} | {} | {} | {} |",
                    rotation.secret_name,
                    environment_word(rotation.environment),
                    markdown_cell(&rotation.owner),
                    risk_word(rotation.risk),
                    state,
                    time(rotation.deadline),
                    self.when(rotation),
                    markdown_cell(&Self::note(rotation)),
                );
            }
        }
        text
    }

    fn json(&self) -> Value {
        let object = |rotation: &&pb::Rotation| {
            let mut fields = serde_json::Map::new();
            for (field, value) in rotation_fields(rotation) {
                fields.insert(field.to_owned(), value);
            }
            fields.insert("when".into(), json!(self.when(rotation)));
            Value::Object(fields)
        };
        json!({
            "as_of": time(Some(self.now.into())),
            "within_seconds": self.within.as_secs(),
            "overdue": self.overdue().iter().map(object).collect::<Vec<_>>(),
            "due": self.due().iter().map(object).collect::<Vec<_>>(),
        })
    }
}

/// Text safe inside a Markdown table cell: no pipes, no line breaks.
fn markdown_cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credential(name: &str, deadline: SystemTime, state: RotationState) -> pb::Rotation {
        pb::Rotation {
            secret_name: name.into(),
            environment: gantry_proto::types::Environment::Prod as i32,
            owner: "team-orders".into(),
            risk: gantry_proto::types::Risk::High as i32,
            state: state as i32,
            deadline: Some(deadline.into()),
            reason: "role \"x\" is not this request's | never changed".into(),
            ..Default::default()
        }
    }

    #[test]
    fn the_report_splits_overdue_from_due_and_says_when() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let report = Report::new(
            vec![
                credential("b/due", now + Duration::from_secs(3 * 86_400 + 7200), RotationState::DueSoon),
                credential("a/late", now - Duration::from_secs(2 * 3600 + 300), RotationState::Failed),
            ],
            now,
            Duration::from_secs(7 * 86_400),
        );
        assert_eq!(report.overdue().len(), 1);
        assert_eq!(report.due().len(), 1);
        let markdown = report.render(ReportFormat::Markdown);
        assert!(markdown.starts_with("## Credential rotation: 1 overdue, 1 due within 7d\n"), "{markdown}");
        assert!(markdown.contains("| `a/late` | prod | team-orders | high | **failed** |"), "{markdown}");
        assert!(markdown.contains("overdue by 2h 5m"), "{markdown}");
        assert!(markdown.contains("in 3d 2h"), "{markdown}");
        assert!(markdown.contains("\\| never changed"), "pipes are escaped: {markdown}");
        let json: Value = serde_json::from_str(&report.render(ReportFormat::Json)).unwrap();
        assert_eq!(json["overdue"][0]["secret_name"], "a/late");
        assert_eq!(json["due"][0]["state"], "due-soon");
        assert_eq!(json["within_seconds"], 604_800);
        let table = report.render(ReportFormat::Table);
        assert!(table.contains("Overdue:") && table.contains("Due within 7d:"), "{table}");
    }

    #[test]
    fn an_empty_report_says_all_is_well() {
        let report = Report::new(Vec::new(), SystemTime::now(), Duration::from_secs(36 * 3600));
        let markdown = report.render(ReportFormat::Markdown);
        assert!(markdown.contains("0 overdue, 0 due within 36h"), "{markdown}");
        assert!(markdown.contains("Nothing is overdue"), "{markdown}");
    }
}
