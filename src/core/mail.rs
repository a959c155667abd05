//! Transactional e-mails: what goes on the e-mail queue and how it renders. Rendering is pure;
//! the queue consumer at the edge delivers.

use serde::{Deserialize, Serialize};

/// The message on the `EMAIL` queue. `id` makes delivery idempotent where the provider allows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailJob {
    pub id: String,
    pub to: String,
    pub template: Template,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Template {
    VerifyEmail {
        token: String,
    },
    AlreadyRegistered,
    PasswordReset {
        token: String,
    },
    PasswordChanged,
    /// Security notice: repeated wrong passwords locked the account; the link resets the
    /// password, which also lifts the lock.
    AccountLocked {
        token: String,
    },
    /// To the new address of an e-mail change: confirming switches the account to it.
    ConfirmEmailChange {
        token: String,
    },
    /// To the old address of an e-mail change.
    EmailChangeRequested {
        new_email_hint: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn link_mail(subject: &str, intro: &str, action: &str, url: &str, outro: &str) -> Rendered {
    Rendered {
        subject: subject.into(),
        text: format!("{intro}\n\n{action}: {url}\n\n{outro}\n"),
        html: format!(
            "<p>{}</p><p><a href=\"{}\">{}</a></p><p>{}</p>",
            escape_html(intro),
            escape_html(url),
            escape_html(action),
            escape_html(outro)
        ),
    }
}

/// Renders `template` with links under `base_url` (no trailing slash).
pub fn render(template: &Template, base_url: &str, ttl_hint: &str) -> Rendered {
    match template {
        Template::VerifyEmail { token } => link_mail(
            "Verify your e-mail address",
            "Welcome to Edgeward. Confirm that this address is yours.",
            "Verify your e-mail",
            &format!("{base_url}/verify-email?token={token}"),
            &format!("The link works once and expires in {ttl_hint}. If you did not sign up, ignore this message."),
        ),
        Template::PasswordReset { token } => link_mail(
            "Reset your password",
            "Someone asked to reset the password of the Edgeward account for this address.",
            "Choose a new password",
            &format!("{base_url}/reset-password?token={token}"),
            &format!("The link works once and expires in {ttl_hint}. If it was not you, ignore this message: your password stays as it is."),
        ),
        Template::AccountLocked { token } => link_mail(
            "Your account was locked after failed sign-ins",
            "Several wrong passwords were tried on the Edgeward account for this address, so sign-in is paused for a while. If that was you, wait a little or choose a new password now; choosing one lifts the lock at once.",
            "Choose a new password",
            &format!("{base_url}/reset-password?token={token}"),
            &format!("The link works once and expires in {ttl_hint}. If it was not you, someone may be guessing your password: choosing a new one is a good idea."),
        ),
        Template::ConfirmEmailChange { token } => link_mail(
            "Confirm your new e-mail address",
            "Someone asked to move an Edgeward account to this address. Confirm that it is yours to complete the change.",
            "Confirm this address",
            &format!("{base_url}/verify-email?token={token}"),
            &format!("The link works once and expires in {ttl_hint}. If you did not ask for this, ignore this message."),
        ),
        Template::EmailChangeRequested { new_email_hint } => {
            let line = format!("Someone signed in to your Edgeward account asked to move it to a new e-mail address ({new_email_hint}). Nothing changes until the new address is confirmed.");
            let outro = "If this was not you, reset your password now and sign out your other sessions.";
            Rendered {
                subject: "Your e-mail address is about to change".into(),
                text: format!("{line}\n\n{outro}\n"),
                html: format!("<p>{}</p><p>{}</p>", escape_html(&line), escape_html(outro)),
            }
        }
        Template::AlreadyRegistered => Rendered {
            subject: "You already have an account".into(),
            text: "Someone tried to sign up with this address, which already has an Edgeward account.\n\nIf it was you, sign in, or reset your password if you forgot it. If not, you can ignore this message.\n".into(),
            html: "<p>Someone tried to sign up with this address, which already has an Edgeward account.</p><p>If it was you, sign in, or reset your password if you forgot it. If not, you can ignore this message.</p>".into(),
        },
        Template::PasswordChanged => Rendered {
            subject: "Your password was changed".into(),
            text: "The password of your Edgeward account was just changed, and your other sessions were signed out.\n\nIf this was not you, reset your password now.\n".into(),
            html: "<p>The password of your Edgeward account was just changed, and your other sessions were signed out.</p><p>If this was not you, reset your password now.</p>".into(),
        },
    }
}

/// What the e-mail consumer does with a message after a delivery attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueOutcome {
    Ack,
    Retry {
        delay_s: u32,
    },
    /// A permanent failure: keep it for inspection, do not retry.
    DeadLetter,
}

/// Exponential backoff for attempt `n` (1-based): 10 s, 20 s, 40 s, ... capped at 10 min.
pub fn backoff_s(attempt: u32) -> u32 {
    10u32
        .saturating_mul(1 << attempt.saturating_sub(1).min(6))
        .min(600)
}

/// Outcome for a provider's HTTP status: 2xx delivered; 408, 429 and 5xx are worth retrying
/// (the queue dead-letters after its last retry); any other 4xx will never succeed.
pub fn outcome_for_status(status: u16, attempt: u32) -> QueueOutcome {
    match status {
        200..=299 => QueueOutcome::Ack,
        408 | 429 | 500..=599 => QueueOutcome::Retry {
            delay_s: backoff_s(attempt),
        },
        _ => QueueOutcome::DeadLetter,
    }
}

/// "24 hours", "1 hour", "30 minutes" for a lifetime in seconds.
pub fn describe_ttl(seconds: i64) -> String {
    let plural = |n: i64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    if seconds % 3600 == 0 {
        plural(seconds / 3600, "hour")
    } else {
        plural((seconds + 59) / 60, "minute")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_verification_mail_carries_the_token_link() {
        let r = render(
            &Template::VerifyEmail {
                token: "abc_-1".into(),
            },
            "https://app.example",
            "24 hours",
        );
        assert!(r.subject.contains("Verify"));
        assert!(r
            .text
            .contains("https://app.example/verify-email?token=abc_-1"));
        assert!(r
            .html
            .contains("href=\"https://app.example/verify-email?token=abc_-1\""));
    }

    #[test]
    fn the_lockout_notice_carries_a_reset_link() {
        let r = render(
            &Template::AccountLocked {
                token: "tok".into(),
            },
            "https://app.example",
            "1 hour",
        );
        assert!(r.subject.contains("locked"));
        assert!(r
            .text
            .contains("https://app.example/reset-password?token=tok"));
    }

    #[test]
    fn the_email_change_notice_names_only_a_hint_of_the_new_address() {
        let r = render(
            &Template::EmailChangeRequested {
                new_email_hint: "n***@<b>.test".into(),
            },
            "https://x",
            "",
        );
        assert!(r.text.contains("n***@<b>.test"));
        assert!(!r.html.contains("<b>"), "escaped in html");
        assert!(!r.text.contains("token="));
    }

    #[test]
    fn the_notice_for_a_taken_address_differs_from_verification() {
        let r = render(&Template::AlreadyRegistered, "https://x", "");
        assert!(r.subject.contains("already"));
        assert!(!r.text.contains("token="));
    }

    #[test]
    fn html_is_escaped() {
        let r = render(
            &Template::PasswordReset { token: "t".into() },
            "https://x/\"><script>",
            "1 hour",
        );
        assert!(!r.html.contains("<script>"));
    }

    #[test]
    fn backoff_doubles_up_to_ten_minutes() {
        assert_eq!(backoff_s(1), 10);
        assert_eq!(backoff_s(2), 20);
        assert_eq!(backoff_s(3), 40);
        assert_eq!(backoff_s(30), 600);
    }

    #[test]
    fn provider_statuses_map_to_outcomes() {
        assert_eq!(outcome_for_status(200, 1), QueueOutcome::Ack);
        assert_eq!(
            outcome_for_status(429, 2),
            QueueOutcome::Retry { delay_s: 20 }
        );
        assert_eq!(
            outcome_for_status(503, 1),
            QueueOutcome::Retry { delay_s: 10 }
        );
        assert_eq!(outcome_for_status(422, 1), QueueOutcome::DeadLetter);
    }

    #[test]
    fn lifetimes_read_naturally() {
        assert_eq!(describe_ttl(86_400), "24 hours");
        assert_eq!(describe_ttl(3_600), "1 hour");
        assert_eq!(describe_ttl(1_800), "30 minutes");
    }

    #[test]
    fn jobs_round_trip_through_json() {
        let job = EmailJob {
            id: "m1".into(),
            to: "a@example.test".into(),
            template: Template::PasswordReset { token: "t".into() },
            created_at: 1,
        };
        let text = serde_json::to_string(&job).unwrap();
        assert!(text.contains(r#""kind":"password_reset""#));
        assert_eq!(serde_json::from_str::<EmailJob>(&text).unwrap(), job);
    }
}
