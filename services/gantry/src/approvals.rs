//! Which approvals a request still needs, in words: intake says which
//! clauses of its policy no approval covers yet (`outstanding_approvals`).

use gantry_proto::intake as pb;

/// Returns the clauses (each a list of groups, any one of which will do)
/// that no approval so far covers, as intake matched them.
pub(crate) fn still_needed(request: &pb::Request) -> Vec<Vec<String>> {
    request.outstanding_approvals.iter().map(|clause| clause.any_of_groups.clone()).collect()
}

/// Says in words what the clauses need: `databases-rds` or
/// `platform-team, and one of security or database-team`.
pub(crate) fn describe(clauses: &[Vec<String>]) -> String {
    let words: Vec<String> = clauses
        .iter()
        .map(|groups| match groups.as_slice() {
            [single] => single.clone(),
            [rest @ .., last] => format!("one of {} or {last}", rest.join(", ")),
            [] => "anyone".into(),
        })
        .collect();
    words.join(", and ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clauses_read_as_words() {
        let large = vec![vec!["platform-team".to_string()], vec!["security".into(), "database-team".into()]];
        assert_eq!(describe(&large), "platform-team, and one of security or database-team");
    }
}
