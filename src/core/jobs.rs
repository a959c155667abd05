//! Async jobs: the kinds registry (input validation, cost, execution) and the retry rules.
//! Exactly-once charging and refunding is enforced in SQL (`sql::jobs`); this module decides.

use crate::core::api::rfc3339;
use crate::core::domain::{JobId, UserId, ValidationError};
use crate::core::error::AppError;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Where a job is in its life: queued → running → succeeded | failed (running → queued on a
/// retry). Every move is one conditional statement in `sql::jobs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
}

impl JobStatus {
    pub const ALL: [Self; 4] = [Self::Queued, Self::Running, Self::Succeeded, Self::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// The `status` filter of `GET /v1/jobs`.
    pub fn parse_filter(s: &str) -> Result<Self, AppError> {
        Self::parse(s).ok_or_else(|| {
            AppError::InvalidRequest("status is queued, running, succeeded or failed".into())
        })
    }
}

/// A job as stored. Built by `edge::d1::jobs` from its row.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: JobId,
    pub user_id: UserId,
    pub kind: String,
    pub input: Value,
    pub status: JobStatus,
    pub attempts: i64,
    pub max_attempts: i64,
    pub cost: i64,
    pub charged: bool,
    pub refunded: bool,
    pub result: Option<Value>,
    pub error: Option<String>,
    /// The fingerprint of the submission that created it, for idempotent resubmission.
    pub request_hash: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub finished_at: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct JobView {
    pub id: String,
    pub kind: String,
    pub status: JobStatus,
    pub input: Value,
    pub result: Option<Value>,
    pub error: Option<String>,
    pub attempts: i64,
    pub cost: i64,
    pub charged: bool,
    pub refunded: bool,
    pub created_at: String,
    pub updated_at: String,
    pub finished_at: Option<String>,
}

impl Job {
    pub fn view(&self) -> JobView {
        JobView {
            id: self.id.to_string(),
            kind: self.kind.clone(),
            status: self.status,
            input: self.input.clone(),
            result: self.result.clone(),
            error: self.error.clone(),
            attempts: self.attempts,
            cost: self.cost,
            charged: self.charged,
            refunded: self.refunded,
            created_at: rfc3339(self.created_at),
            updated_at: rfc3339(self.updated_at),
            finished_at: self.finished_at.map(rfc3339),
        }
    }
}

/// How a submission with an `Idempotency-Key` ends when the conditional insert wrote nothing.
#[derive(Debug, Clone, PartialEq)]
pub enum Resubmission {
    /// The key's job, created by an earlier submission of the same request: 200 with it.
    Same(Box<Job>),
    /// The key was used for another request body: 422.
    KeyMismatch,
    /// No job has the key: the insert was refused because the user has the most unfinished jobs.
    OverCap,
}

/// Decides a submission whose insert wrote nothing, from the job holding the key (if any).
pub fn resubmission(by_key: Option<Job>, request_hash: &str) -> Resubmission {
    match by_key {
        None => Resubmission::OverCap,
        Some(job) if job.request_hash != request_hash => Resubmission::KeyMismatch,
        Some(job) => Resubmission::Same(Box::new(job)),
    }
}

/// A validated job request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobSpec {
    RenderSvg(RenderSvg),
    /// Development only: fails its first `fail_attempts` attempts.
    DevFail {
        fail_attempts: u32,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenderSvg {
    pub text: String,
    #[serde(default)]
    pub palette: Palette,
    #[serde(default)]
    pub shape: Shape,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Palette {
    #[default]
    Slate,
    Sunset,
    Forest,
    Ocean,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Shape {
    #[default]
    Rounded,
    Pill,
    Square,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DevFailInput {
    #[serde(deserialize_with = "crate::core::domain::whole_u32")]
    fail_attempts: u32,
}

fn invalid(why: &'static str) -> ValidationError {
    ValidationError::Invalid {
        field: "input",
        why,
    }
}

impl JobSpec {
    /// Parses `{kind, input}`; `dev_fail` exists only when `development` is true.
    pub fn parse(kind: &str, input: &Value, development: bool) -> Result<Self, ValidationError> {
        match kind {
            "render_svg" => {
                let spec: RenderSvg = serde_json::from_value(input.clone())
                    .map_err(|_| invalid("for render_svg is {text, palette?, shape?}"))?;
                let n = spec.text.chars().count();
                if !(1..=64).contains(&n) || spec.text.trim().is_empty() {
                    return Err(invalid("text must be 1-64 characters"));
                }
                if spec.text.chars().any(char::is_control) {
                    return Err(invalid("text must not contain control characters"));
                }
                Ok(Self::RenderSvg(spec))
            }
            "dev_fail" if development => {
                let d: DevFailInput = serde_json::from_value(input.clone())
                    .map_err(|_| invalid("for dev_fail is {fail_attempts}"))?;
                if d.fail_attempts > 10 {
                    return Err(invalid("fail_attempts must be 0-10"));
                }
                Ok(Self::DevFail {
                    fail_attempts: d.fail_attempts,
                })
            }
            _ => Err(ValidationError::Invalid {
                field: "kind",
                why: "is not a known job kind",
            }),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Self::RenderSvg(_) => "render_svg",
            Self::DevFail { .. } => "dev_fail",
        }
    }

    /// Credits charged once per job.
    pub fn cost(&self) -> i64 {
        1
    }

    /// The canonical input (defaults filled in), as stored.
    pub fn input(&self) -> Value {
        match self {
            Self::RenderSvg(r) => serde_json::to_value(r).expect("serializable"),
            Self::DevFail { fail_attempts } => json!({ "fail_attempts": fail_attempts }),
        }
    }

    /// Runs attempt number `attempt` (1-based). Pure and deterministic.
    pub fn run(&self, attempt: u32) -> Result<Value, String> {
        match self {
            Self::RenderSvg(r) => Ok(render_svg(r)),
            Self::DevFail { fail_attempts } if attempt <= *fail_attempts => Err(format!(
                "dev_fail: attempt {attempt} of {fail_attempts} set to fail"
            )),
            Self::DevFail { .. } => Ok(json!({ "ok": true, "attempt": attempt })),
        }
    }
}

fn escape_xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A badge: the text on a coloured shape. Only our own markup and escaped text: no scripts,
/// no external references, no user-chosen attributes.
pub fn render_svg(r: &RenderSvg) -> Value {
    let (bg, fg) = match r.palette {
        Palette::Slate => ("#334155", "#f8fafc"),
        Palette::Sunset => ("#f97316", "#1c1917"),
        Palette::Forest => ("#166534", "#f0fdf4"),
        Palette::Ocean => ("#0e7490", "#ecfeff"),
    };
    let chars = r.text.chars().count() as u32;
    let width = 24 + chars * 9;
    let height = 32;
    let radius = match r.shape {
        Shape::Rounded => 6,
        Shape::Pill => height / 2,
        Shape::Square => 0,
    };
    let svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\">\
<rect width=\"{width}\" height=\"{height}\" rx=\"{radius}\" fill=\"{bg}\"/>\
<text x=\"{x}\" y=\"21\" fill=\"{fg}\" font-family=\"Verdana,DejaVu Sans,sans-serif\" font-size=\"14\" text-anchor=\"middle\">{text}</text></svg>",
        x = width / 2,
        text = escape_xml(&r.text),
    );
    json!({ "svg": svg, "width": width, "height": height })
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    Retry {
        delay_s: u32,
    },
    /// The last attempt failed: mark failed, refund once, dead-letter the message.
    GiveUp,
}

pub fn after_failure(attempt: u32, max_attempts: u32, base_delay_s: u32) -> AfterFailure {
    if attempt >= max_attempts {
        AfterFailure::GiveUp
    } else {
        AfterFailure::Retry {
            delay_s: base_delay_s
                .saturating_mul(1 << attempt.saturating_sub(1).min(10))
                .min(3_600),
        }
    }
}

/// The message on the `JOBS` queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobMessage {
    pub job_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(hash: &str) -> Job {
        Job {
            id: JobId::new([5; 16]),
            user_id: UserId::new([6; 16]),
            kind: "render_svg".into(),
            input: json!({"text": "hi"}),
            status: JobStatus::Queued,
            attempts: 0,
            max_attempts: 3,
            cost: 1,
            charged: false,
            refunded: false,
            result: None,
            error: None,
            request_hash: hash.into(),
            created_at: 0,
            updated_at: 0,
            finished_at: None,
        }
    }

    #[test]
    fn a_resubmission_is_the_same_job_only_for_the_same_request() {
        assert_eq!(resubmission(None, "h"), Resubmission::OverCap);
        assert_eq!(
            resubmission(Some(job("h")), "other"),
            Resubmission::KeyMismatch
        );
        assert!(
            matches!(resubmission(Some(job("h")), "h"), Resubmission::Same(j) if j.request_hash == "h")
        );
    }

    #[test]
    fn statuses_round_trip_and_a_bad_filter_is_a_400() {
        for st in JobStatus::ALL {
            assert_eq!(JobStatus::parse(st.as_str()), Some(st));
            assert_eq!(serde_json::to_value(st).unwrap(), st.as_str());
        }
        assert_eq!(JobStatus::parse_filter("done").unwrap_err().status(), 400);
        assert_eq!(job("h").view().status, JobStatus::Queued);
    }

    #[test]
    fn render_svg_takes_text_and_known_options_only() {
        assert!(JobSpec::parse("render_svg", &json!({"text": "hi"}), false).is_ok());
        assert!(JobSpec::parse(
            "render_svg",
            &json!({"text": "hi", "palette": "ocean", "shape": "pill"}),
            false
        )
        .is_ok());
        for bad in [
            json!({}),
            json!({"text": ""}),
            json!({"text": "x".repeat(65)}),
            json!({"text": "hi", "palette": "neon"}),
            json!({"text": "hi", "font": "comic"}),
            json!({"text": 5}),
            json!("hi"),
        ] {
            assert!(JobSpec::parse("render_svg", &bad, false).is_err(), "{bad}");
        }
        assert!(JobSpec::parse("nope", &json!({}), true).is_err());
    }

    #[test]
    fn dev_fail_exists_only_in_development() {
        assert!(JobSpec::parse("dev_fail", &json!({"fail_attempts": 2}), true).is_ok());
        assert!(JobSpec::parse("dev_fail", &json!({"fail_attempts": 2}), false).is_err());
    }

    #[test]
    fn svg_output_is_deterministic_and_escaped() {
        let spec = JobSpec::parse(
            "render_svg",
            &json!({"text": "<script>alert(1)</script>"}),
            false,
        )
        .unwrap();
        let a = spec.run(1).unwrap();
        assert_eq!(a, spec.run(2).unwrap());
        let svg = a["svg"].as_str().unwrap();
        assert!(svg.starts_with("<svg ") && svg.ends_with("</svg>"));
        assert!(!svg.contains("<script>"));
        assert!(svg.contains("&lt;script&gt;"));
    }

    #[test]
    fn defaults_are_part_of_the_stored_input() {
        let spec = JobSpec::parse("render_svg", &json!({"text": "hi"}), false).unwrap();
        assert_eq!(
            spec.input(),
            json!({"text": "hi", "palette": "slate", "shape": "rounded"})
        );
    }

    #[test]
    fn dev_fail_fails_its_first_n_attempts() {
        let spec = JobSpec::DevFail { fail_attempts: 2 };
        assert!(spec.run(1).is_err());
        assert!(spec.run(2).is_err());
        assert!(spec.run(3).is_ok());
    }

    #[test]
    fn retries_back_off_exponentially_then_give_up() {
        assert_eq!(after_failure(1, 3, 5), AfterFailure::Retry { delay_s: 5 });
        assert_eq!(after_failure(2, 3, 5), AfterFailure::Retry { delay_s: 10 });
        assert_eq!(after_failure(3, 3, 5), AfterFailure::GiveUp);
    }
}
