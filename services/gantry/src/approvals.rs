//! Which approvals a request still needs: each clause of its policy needs
//! its own approver from one of the clause's groups, so the approvals so far
//! are matched to clauses (as intake's policy does) and the unmatched
//! clauses are what remains.

use gantry_proto::intake as pb;

/// Returns the clauses (each a list of groups, any one of which will do)
/// that no approval so far covers.
pub(crate) fn still_needed(request: &pb::Request) -> Vec<Vec<String>> {
    let clauses: Vec<&[String]> =
        request.required_approvals.iter().map(|clause| clause.any_of_groups.as_slice()).collect();
    let approvers: Vec<&[String]> = request
        .approvals
        .iter()
        .map(|approval| approval.approver.as_ref().map_or(&[][..], |principal| principal.groups.as_slice()))
        .collect();
    let matched = match_clauses(&clauses, &approvers);
    clauses.iter().zip(matched).filter(|(_, approver)| approver.is_none()).map(|(clause, _)| clause.to_vec()).collect()
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

/// Matches approvers to clauses, one each (augmenting paths); returns, per
/// clause, the index of its approver if any.
fn match_clauses(clauses: &[&[String]], approvers: &[&[String]]) -> Vec<Option<usize>> {
    fn covers(clause: &[String], groups: &[String]) -> bool {
        groups.iter().any(|group| clause.contains(group))
    }
    fn augment(
        clause: usize,
        clauses: &[&[String]],
        approvers: &[&[String]],
        seen: &mut [bool],
        clause_of: &mut [Option<usize>],
    ) -> bool {
        for approver in 0..approvers.len() {
            if seen[approver] || !covers(clauses[clause], approvers[approver]) {
                continue;
            }
            seen[approver] = true;
            let free = match clause_of[approver] {
                None => true,
                Some(other) => augment(other, clauses, approvers, seen, clause_of),
            };
            if free {
                clause_of[approver] = Some(clause);
                return true;
            }
        }
        false
    }
    let mut clause_of = vec![None; approvers.len()];
    for clause in 0..clauses.len() {
        let mut seen = vec![false; approvers.len()];
        augment(clause, clauses, approvers, &mut seen, &mut clause_of);
    }
    (0..clauses.len()).map(|clause| clause_of.iter().position(|matched| *matched == Some(clause))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use gantry_proto::types::{ApprovalClause, Principal};

    fn request(clauses: &[&[&str]], approvers: &[&[&str]]) -> pb::Request {
        let strings = |groups: &[&str]| groups.iter().map(|group| group.to_string()).collect::<Vec<_>>();
        pb::Request {
            required_approvals: clauses
                .iter()
                .map(|groups| ApprovalClause { any_of_groups: strings(groups) })
                .collect(),
            approvals: approvers
                .iter()
                .map(|groups| pb::Approval {
                    approver: Some(Principal { subject: "someone".into(), groups: strings(groups) }),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn an_approval_closes_the_clause_it_covers() {
        let large: &[&[&str]] = &[&["platform-team"], &["security", "database-team"]];
        assert_eq!(
            describe(&still_needed(&request(large, &[]))),
            "platform-team, and one of security or database-team"
        );
        assert_eq!(still_needed(&request(large, &[&["security"]])), vec![vec!["platform-team".to_string()]]);
        assert!(still_needed(&request(large, &[&["security"], &["platform-team"]])).is_empty());
    }

    #[test]
    fn one_approver_in_two_groups_closes_one_clause_only() {
        let large: &[&[&str]] = &[&["platform-team"], &["security", "database-team"]];
        assert_eq!(still_needed(&request(large, &[&["platform-team", "security"]])).len(), 1);
        // Moving the first approver to the other clause frees one for the second.
        let both = request(large, &[&["platform-team", "security"], &["platform-team"]]);
        assert!(still_needed(&both).is_empty());
    }
}
