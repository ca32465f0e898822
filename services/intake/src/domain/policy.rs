//! The approval policy: data (YAML), evaluated when a request is submitted
//! (which approvals it needs, whether a rule approves it at once) and when
//! an approval arrives (is the policy satisfied now).

use super::spec::{BucketPurpose, Environment, ResourceSpec, Risk, Size};
use anyhow::Context as _;
use serde::Deserialize;

/// A rule's filters and what it asks for.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Rule {
    name: String,
    kind: RuleKind,
    #[serde(default)]
    environments: Vec<Environment>,
    #[serde(default)]
    sizes: Vec<Size>,
    #[serde(default)]
    risks: Vec<Risk>,
    #[serde(default)]
    purposes: Vec<BucketPurpose>,
    /// Approval clauses; absent on auto-approve rules.
    #[serde(default)]
    require: Vec<Vec<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum RuleKind {
    Database,
    Bucket,
}

/// The approval policy.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    rules: Vec<Rule>,
    #[serde(default)]
    auto_approve: Vec<Rule>,
}

/// What the policy says about a new request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyOutcome {
    /// Approval clauses: one approver from any group of each, all distinct.
    pub required: Vec<Vec<String>>,
    /// The auto-approve rule that approved it at once, if any.
    pub auto_approved_by: Option<String>,
}

/// The default policy shipped with Gantry.
const BUILT_IN: &str = include_str!("../../policy.yaml");

impl Policy {
    /// Returns the built-in policy.
    pub fn built_in() -> Self {
        Self::parse(BUILT_IN).expect("the built-in policy is valid")
    }

    /// Parses and checks a policy document.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let policy: Self = serde_yaml_ng::from_str(text).context("parsing the approval policy")?;
        for rule in &policy.rules {
            anyhow::ensure!(!rule.require.is_empty(), "policy rule {} requires no approval", rule.name);
            anyhow::ensure!(
                rule.require.iter().all(|clause| !clause.is_empty()),
                "policy rule {} has an empty clause",
                rule.name
            );
        }
        Ok(policy)
    }

    /// Evaluates a new request; `None` when no rule covers it.
    pub fn evaluate(&self, spec: &ResourceSpec) -> Option<PolicyOutcome> {
        let rule = self.rules.iter().find(|rule| rule.matches(spec))?;
        let auto_approved_by = self.auto_approve.iter().find(|rule| rule.matches(spec)).map(|rule| rule.name.clone());
        Some(PolicyOutcome { required: rule.require.clone(), auto_approved_by })
    }
}

impl Rule {
    fn matches(&self, spec: &ResourceSpec) -> bool {
        match spec {
            ResourceSpec::Database(database) => {
                self.kind == RuleKind::Database
                    && allows(&self.environments, database.environment)
                    && allows(&self.sizes, database.size)
                    && allows(&self.risks, database.risk)
            }
            ResourceSpec::Bucket(bucket) => {
                self.kind == RuleKind::Bucket
                    && allows(&self.environments, bucket.environment)
                    && allows(&self.purposes, bucket.purpose)
            }
        }
    }
}

/// An empty filter allows everything.
fn allows<T: PartialEq>(filter: &[T], value: T) -> bool {
    filter.is_empty() || filter.contains(&value)
}

/// Returns true when `approvers` (each with their groups) satisfy every
/// clause, each clause by a different approver.
pub fn is_satisfied(required: &[Vec<String>], approvers: &[&[String]]) -> bool {
    outstanding(required, approvers).is_empty()
}

/// Returns the clauses still open: approvers are matched to clauses, each
/// to at most one clause of one of their groups, covering as many clauses
/// as can be covered (a maximum matching, by augmenting paths); one more
/// approver from any group of each clause returned completes the request.
pub fn outstanding(required: &[Vec<String>], approvers: &[&[String]]) -> Vec<Vec<String>> {
    fn covers(clause: &[String], groups: &[String]) -> bool {
        groups.iter().any(|group| clause.contains(group))
    }
    /// Finds an approver for `clause`, moving others to other clauses if need be.
    fn augment(
        clause: usize,
        required: &[Vec<String>],
        approvers: &[&[String]],
        seen: &mut [bool],
        clause_of: &mut [Option<usize>],
    ) -> bool {
        for approver in 0..approvers.len() {
            if seen[approver] || !covers(&required[clause], approvers[approver]) {
                continue;
            }
            seen[approver] = true;
            let free = match clause_of[approver] {
                None => true,
                Some(other) => augment(other, required, approvers, seen, clause_of),
            };
            if free {
                clause_of[approver] = Some(clause);
                return true;
            }
        }
        false
    }
    let mut clause_of = vec![None; approvers.len()];
    let mut open = Vec::new();
    for clause in 0..required.len() {
        let mut seen = vec![false; approvers.len()];
        if !augment(clause, required, approvers, &mut seen, &mut clause_of) {
            open.push(required[clause].clone());
        }
    }
    open
}

/// Returns true when someone with `groups` can count towards some clause.
pub fn is_reviewer(required: &[Vec<String>], groups: &[String]) -> bool {
    required.iter().any(|clause| groups.iter().any(|group| clause.contains(group)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::spec::{BucketSpec, DatabaseSpec};

    fn database(environment: Environment, size: Size) -> ResourceSpec {
        ResourceSpec::Database(DatabaseSpec {
            database_name: "orders".into(),
            username: "orders_user".into(),
            owner: "team".into(),
            requester: "alice".into(),
            environment,
            domain: "d".into(),
            risk: Risk::Low,
            size,
        })
    }

    fn groups(names: &[&str]) -> Vec<String> {
        names.iter().map(|name| name.to_string()).collect()
    }

    #[test]
    fn built_in_policy_follows_the_tier_table() {
        let policy = Policy::built_in();
        let small = policy.evaluate(&database(Environment::Prod, Size::Medium)).unwrap();
        assert_eq!(small.required, vec![groups(&["databases-rds"])]);
        assert_eq!(small.auto_approved_by, None);
        let large = policy.evaluate(&database(Environment::Prod, Size::Xlarge)).unwrap();
        assert_eq!(large.required, vec![groups(&["platform-team"]), groups(&["security", "database-team"])]);
    }

    #[test]
    fn dev_small_is_auto_approved_but_dev_large_is_not() {
        let policy = Policy::built_in();
        let outcome = policy.evaluate(&database(Environment::Dev, Size::Small)).unwrap();
        assert_eq!(outcome.auto_approved_by.as_deref(), Some("dev-small-databases"));
        assert_eq!(policy.evaluate(&database(Environment::Dev, Size::Large)).unwrap().auto_approved_by, None);
    }

    #[test]
    fn buckets_have_their_own_rules() {
        let bucket = ResourceSpec::Bucket(BucketSpec {
            bucket_name: "b-logs-prod".into(),
            purpose: BucketPurpose::Logs,
            environment: Environment::Prod,
            region: "eu-west-1".into(),
            owner: "b".into(),
            requester: "alice".into(),
            retention_days: 30,
            kms_key_id: None,
            replication_target: None,
        });
        let outcome = Policy::built_in().evaluate(&bucket).unwrap();
        assert_eq!(outcome.required, vec![groups(&["platform-team"])]);
    }

    #[test]
    fn each_clause_needs_a_distinct_approver() {
        let required = vec![groups(&["platform-team"]), groups(&["security", "database-team"])];
        let both = groups(&["platform-team", "security"]);
        assert!(!is_satisfied(&required, &[&both]), "one person cannot fill two clauses");
        let platform = groups(&["platform-team"]);
        let database_team = groups(&["database-team"]);
        assert!(is_satisfied(&required, &[&both, &database_team]));
        assert!(is_satisfied(&required, &[&platform, &both]));
        assert!(!is_satisfied(&required, &[&platform, &platform]));
    }

    #[test]
    fn outstanding_names_the_clauses_one_more_approver_must_close() {
        let required = vec![groups(&["platform-team"]), groups(&["security", "database-team"])];
        assert_eq!(outstanding(&required, &[]), required);
        let security = groups(&["security"]);
        assert_eq!(outstanding(&required, &[&security]), vec![groups(&["platform-team"])]);
        // An approver in both clauses' groups counts once, wherever it helps most.
        let both = groups(&["platform-team", "security"]);
        assert_eq!(outstanding(&required, &[&both]).len(), 1);
        let platform = groups(&["platform-team"]);
        assert!(outstanding(&required, &[&both, &platform]).is_empty());
    }

    #[test]
    fn a_policy_without_approvals_is_refused() {
        assert!(Policy::parse("rules:\n  - name: x\n    kind: database\n").is_err());
        assert!(Policy::parse("rules: []\nbogus: 1\n").is_err());
    }
}
