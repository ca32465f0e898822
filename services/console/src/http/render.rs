//! The page's HTML, rendered on the server: the summary tables (so the
//! page reads without JavaScript), the page around them and the login form.

use crate::lag::ConsumerLag;
use crate::view::{CredentialRow, RequestRow, Summary};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use gantry_proto::types::Principal;
use std::fmt::Write as _;
use std::time::SystemTime;

/// Escapes text for HTML.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |since| since.as_millis() as i64)
}

/// A span of time for people: `45s`, `3m 12s`, `2h 5m`, `3d 4h`.
fn span(milliseconds: i64) -> String {
    let seconds = milliseconds.max(0) / 1000;
    match seconds {
        0..60 => format!("{seconds}s"),
        60..3600 => format!("{}m {}s", seconds / 60, seconds % 60),
        3600..86_400 => format!("{}h {}m", seconds / 3600, seconds % 3600 / 60),
        _ => format!("{}d {}h", seconds / 86_400, seconds % 86_400 / 3600),
    }
}

/// Answers with a page, its security and caching headers set.
pub(crate) fn page_response(status: StatusCode, html: String) -> Response {
    let mut response = (status, Html(html)).into_response();
    let policy = "default-src 'self'; frame-ancestors 'none'";
    response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(policy));
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The document's head.
fn head(title: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><link rel=\"stylesheet\" href=\"/static/console.css\"></head>\n",
        escape(title)
    )
}

/// The login form (`401`), with a message when a login failed.
pub(crate) fn login_page(message: &str) -> Response {
    let mut html = head("Gantry console — log in");
    html.push_str("<body><main class=\"login\"><h1>Gantry console</h1>");
    if !message.is_empty() {
        let _ = write!(html, "<p class=\"error\">{}</p>", escape(message));
    }
    html.push_str(
        "<form method=\"post\" action=\"/login\"><label>Token <input type=\"password\" name=\"token\" \
         autocomplete=\"current-password\" required></label> <button>Log in</button></form>\
         <p>A bearer token of the mesh (<code>gantry admin token create</code>); the page keeps it in an \
         HTTP-only cookie.</p></main></body></html>\n",
    );
    page_response(StatusCode::UNAUTHORIZED, html)
}

fn request_rows(html: &mut String, id: &str, rows: &[RequestRow], with_reason: bool, now: i64) {
    let _ = write!(
        html,
        "<table id=\"{id}\"><thead><tr><th>Request</th><th>Kind</th><th>Name</th><th>Env</th>\
         <th>Requester</th><th>Status</th><th>For</th>{}</tr></thead><tbody>",
        if with_reason { "<th>Reason</th>" } else { "" }
    );
    for row in rows {
        let _ = write!(
            html,
            "<tr data-request-id=\"{id}\"><td><code>{id}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td class=\"age\" data-since=\"{}\">{}</td>",
            escape(&row.kind),
            escape(&row.name),
            escape(&row.environment),
            escape(&row.requester),
            escape(&row.status),
            row.since_ms,
            span(now - row.since_ms),
            id = row.request_id,
        );
        if with_reason {
            let _ = write!(html, "<td>{}</td>", escape(&row.reason));
        }
        html.push_str("</tr>");
    }
    if rows.is_empty() {
        html.push_str("<tr class=\"none\"><td colspan=\"8\">none</td></tr>");
    }
    html.push_str("</tbody></table>");
}

fn credential_rows(html: &mut String, rows: &[CredentialRow], now: i64) {
    html.push_str(
        "<table id=\"credentials\"><thead><tr><th>Secret</th><th>Env</th><th>State</th><th>Deadline</th>\
         <th>Reason</th></tr></thead><tbody>",
    );
    for row in rows {
        let deadline = match row.deadline_ms {
            Some(deadline) if deadline >= now => format!("in {}", span(deadline - now)),
            Some(deadline) => format!("{} ago", span(now - deadline)),
            None => String::new(),
        };
        let _ = write!(
            html,
            "<tr data-request-id=\"{}\" class=\"{}\"><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            row.request_id,
            escape(&row.state),
            escape(&row.secret_name),
            escape(&row.environment),
            escape(&row.state),
            escape(&deadline),
            escape(&row.reason),
        );
    }
    if rows.is_empty() {
        html.push_str("<tr class=\"none\"><td colspan=\"5\">none</td></tr>");
    }
    html.push_str("</tbody></table>");
}

fn lag_rows(html: &mut String, lags: &anyhow::Result<Vec<ConsumerLag>>) {
    let lags = match lags {
        Ok(lags) => lags,
        Err(_) => {
            html.push_str("<p class=\"error\">the log's consumers cannot be read now</p>");
            return;
        }
    };
    html.push_str(
        "<table id=\"lag\"><thead><tr><th>View or reactor</th><th>Filter</th><th>Behind</th>\
         <th>Unacknowledged</th><th>At sequence</th></tr></thead><tbody>",
    );
    for lag in lags {
        let _ = write!(
            html,
            "<tr class=\"{}\"><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
            if lag.pending > 0 { "behind" } else { "" },
            escape(&lag.name),
            escape(&lag.filter_subject),
            lag.pending,
            lag.unacknowledged,
            lag.acknowledged_sequence,
        );
    }
    html.push_str("</tbody></table>");
}

/// Renders the summary section's content.
pub(crate) fn render_summary(summary: &Summary, lags: &anyhow::Result<Vec<ConsumerLag>>) -> String {
    let now = now_ms();
    let mut html = format!("<div id=\"summary-body\" data-checkpoint=\"{}\">", summary.checkpoint);
    let _ = write!(html, "<h2>Pending approval <span class=\"count\">{}</span></h2>", summary.pending.len());
    request_rows(&mut html, "pending", &summary.pending, false, now);
    let _ = write!(html, "<h2>Provisioning in flight <span class=\"count\">{}</span></h2>", summary.in_flight.len());
    request_rows(&mut html, "in-flight", &summary.in_flight, false, now);
    let _ = write!(html, "<h2>Provisioning failed <span class=\"count\">{}</span></h2>", summary.failed.len());
    request_rows(&mut html, "failed", &summary.failed, true, now);
    let _ = write!(
        html,
        "<h2>Credentials due soon, overdue, rotating or failed <span class=\"count\">{}</span></h2>",
        summary.credentials.len()
    );
    credential_rows(&mut html, &summary.credentials, now);
    html.push_str("<h2>Views' and reactors' lag behind the log</h2>");
    lag_rows(&mut html, lags);
    html.push_str("</div>");
    html
}

/// Renders the whole page around the summary; its script follows the log
/// from `from` (from now when `None`).
pub(crate) fn body_of(principal: &Principal, summary: &str, from: Option<u64>) -> String {
    let from = from.map(|from| from.to_string()).unwrap_or_default();
    let mut html = head("Gantry console");
    let _ = writeln!(
        html,
        "<body data-from=\"{from}\"><header><h1>Gantry console</h1>\
         <span id=\"connection\" class=\"offline\">static view (live updates need JavaScript)</span>\
         <form method=\"post\" action=\"/logout\"><span class=\"who\">{}</span> <button>Log out</button></form></header>\
         <main><section id=\"summary\">{summary}</section>\
         <section><h2>Live events</h2><table id=\"events\"><thead><tr><th>Sequence</th><th>Time</th><th>Type</th>\
         <th>Aggregate</th><th>Env</th><th>Actor</th></tr></thead><tbody></tbody></table>\
         <noscript><p>Live events need JavaScript; reload for the summary, or read the stream with \
         <code>curl -N -H \"Authorization: Bearer $TOKEN\" …/v1/events</code>.</p></noscript></section></main>\
         <script src=\"/static/console.js\"></script></body></html>",
        escape(&principal.subject)
    );
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_spans_read_well() {
        assert_eq!(escape("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
        assert_eq!(span(45_000), "45s");
        assert_eq!(span(192_000), "3m 12s");
        assert_eq!(span(7_500_000), "2h 5m");
        assert_eq!(span(3 * 86_400_000 + 4 * 3_600_000), "3d 4h");
        assert_eq!(span(-5), "0s");
    }
}
