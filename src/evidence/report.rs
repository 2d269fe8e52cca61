//! The verifier's answer: a list of checks, each pass, fail or cannot-check with its reason,
//! and the warnings a reader must see (such as trusting keys that came inside the bundle).

use serde::Serialize;

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// The check ran and the evidence holds.
    Pass,
    /// The check ran and the evidence does not hold: something was altered or is invalid.
    Fail,
    /// The check could not run (a missing piece or missing trust input).
    CannotCheck,
}

impl Status {
    /// `PASS`, `FAIL` or `CANNOT-CHECK`, for one-line output.
    pub fn label(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::CannotCheck => "CANNOT-CHECK",
        }
    }
}

/// One check of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// Stable identifier, e.g. `entries/0/timestamp`.
    pub id: String,
    /// The part of the bundle checked: `bundle`, `manifest`, `document`, `entry`, `signature`,
    /// `certificate`, `revocation`, `timestamp`, `checkpoint`, `inclusion`, `witnesses`,
    /// `consistency`.
    pub part: String,
    /// The entry the check is about, when it is about one.
    pub entry: Option<usize>,
    /// The outcome.
    pub status: Status,
    /// Why, in one sentence.
    pub reason: String,
}

/// What the whole report says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Every check passed.
    Verified,
    /// At least one check failed.
    Tampered,
    /// No check failed, but some could not run.
    Incomplete,
}

impl Verdict {
    /// The `notarium verify` exit code: 0 verified, 1 tampered, 2 cannot check.
    pub fn exit_code(self) -> u8 {
        match self {
            Verdict::Verified => 0,
            Verdict::Tampered => 1,
            Verdict::Incomplete => 2,
        }
    }
}

/// The verifier's report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Warnings to show before and after the checks (e.g. trust taken from the bundle).
    pub warnings: Vec<String>,
    /// Every check, in the order run.
    pub checks: Vec<Check>,
}

impl Report {
    /// Adds a check.
    pub fn push(
        &mut self,
        id: impl Into<String>,
        part: &str,
        entry: Option<usize>,
        status: Status,
        reason: impl Into<String>,
    ) {
        self.checks.push(Check {
            id: id.into(),
            part: part.to_owned(),
            entry,
            status,
            reason: reason.into(),
        });
    }

    /// The verdict: tampered if any check failed, incomplete if any could not run (or there
    /// were none), verified otherwise.
    pub fn verdict(&self) -> Verdict {
        if self.checks.iter().any(|c| c.status == Status::Fail) {
            Verdict::Tampered
        } else if self.checks.is_empty()
            || self.checks.iter().any(|c| c.status == Status::CannotCheck)
        {
            Verdict::Incomplete
        } else {
            Verdict::Verified
        }
    }

    /// The checks with a given status.
    pub fn with_status(&self, status: Status) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(move |c| c.status == status)
    }

    /// The report as JSON: `{verdict, warnings, checks}`.
    pub fn to_json(&self) -> String {
        #[derive(Serialize)]
        struct Out<'a> {
            verdict: Verdict,
            warnings: &'a [String],
            checks: &'a [Check],
        }
        serde_json::to_string_pretty(&Out {
            verdict: self.verdict(),
            warnings: &self.warnings,
            checks: &self.checks,
        })
        .unwrap_or_else(|e| format!("{{\"error\": {:?}}}", e.to_string()))
    }

    /// One line per check: `STATUS  part  reason`, warnings first.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for w in &self.warnings {
            out.push_str(&format!("WARNING  {w}\n"));
        }
        for c in &self.checks {
            out.push_str(&format!(
                "{:<12} {:<28} {}\n",
                c.status.label(),
                c.id,
                c.reason
            ));
        }
        let verdict = match self.verdict() {
            Verdict::Verified => "VERIFIED: every check passed",
            Verdict::Tampered => "TAMPERED OR INVALID: at least one check failed",
            Verdict::Incomplete => "NOT VERIFIED: some checks could not be made",
        };
        out.push_str(verdict);
        out.push('\n');
        for w in &self.warnings {
            out.push_str(&format!("WARNING  {w}\n"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdict_and_exit_codes() {
        let mut r = Report::default();
        assert_eq!(r.verdict(), Verdict::Incomplete);
        r.push("a", "manifest", None, Status::Pass, "ok");
        assert_eq!(r.verdict(), Verdict::Verified);
        assert_eq!(r.verdict().exit_code(), 0);
        r.push("b", "timestamp", Some(0), Status::CannotCheck, "no roots");
        assert_eq!(r.verdict().exit_code(), 2);
        r.push("c", "entry", Some(0), Status::Fail, "bad");
        assert_eq!(r.verdict().exit_code(), 1);
        let text = r.to_text();
        assert!(text.contains("CANNOT-CHECK"));
        assert!(text.contains("FAIL"));
        assert!(text.contains("TAMPERED"));
        let v: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(v["verdict"], "tampered");
        assert_eq!(v["checks"][1]["status"], "cannot-check");
        assert_eq!(v["checks"][1]["entry"], 0);
    }
}
