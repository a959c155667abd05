//! Transactional e-mails: what goes on the e-mail queue and how it renders. Rendering is pure;
//! the queue consumer at the edge delivers.

use crate::core::preferences::Preferences;
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
    AccountDeactivated,
    /// An administrator removed the account's second factors (the user asked for it, having
    /// lost them, or an intruder would rather the owner did not hear of it).
    SecondFactorsReset,
    /// An invitation to join a workspace; the link carries the single-use token.
    WorkspaceInvitation {
        token: String,
        workspace_name: String,
    },
}

/// Whether an address can receive mail at all: accounts made from an external identity without
/// a verified address carry a placeholder under the reserved `.invalid` TLD (RFC 2606), which
/// no provider can deliver to; a mail for it is dropped before the queue instead of failing
/// its retries into the dead letters.
pub fn deliverable(to: &str) -> bool {
    !to.to_ascii_lowercase().ends_with(".invalid")
}

/// Whether the recipient may switch a mail off. Security mails carry a link the account needs
/// (verification, reset, an e-mail change) or tell of something an intruder would hide (a new
/// password, a lockout, an e-mail change, a sign-up attempt on a taken address): they always
/// go out. Optional mails follow the recipient's
/// notification preferences, read when the mail is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailKind {
    Security,
    /// An account-activity alert: `email.security_alerts`.
    ActivityAlert,
}

impl Template {
    pub fn kind(&self) -> MailKind {
        match self {
            Self::VerifyEmail { .. }
            | Self::AlreadyRegistered
            | Self::PasswordReset { .. }
            | Self::PasswordChanged
            | Self::AccountLocked { .. }
            | Self::ConfirmEmailChange { .. }
            | Self::EmailChangeRequested { .. }
            | Self::SecondFactorsReset
            // Asked for by an admin on purpose, and the invitee has no preferences yet.
            | Self::WorkspaceInvitation { .. } => MailKind::Security,
            Self::AccountDeactivated => MailKind::ActivityAlert,
        }
    }
}

/// Whether a mail goes out to a recipient with these preferences (`None`: no account has the
/// address any more, which only optional mails care about).
pub fn wanted(kind: MailKind, prefs: Option<&Preferences>) -> bool {
    match kind {
        MailKind::Security => true,
        MailKind::ActivityAlert => prefs.is_some_and(|p| p.email.security_alerts),
    }
}

/// What a dead-letter row keeps of a queue message: all of it but its secrets. An e-mail
/// message carries the plaintext link token (the consumer renders the link from it); the kept
/// copy must not, so every `token` (or `*_token`) field is replaced, at any depth.
pub fn redact_secrets(body: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match body {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let secret = k == "token" || k.ends_with("_token");
                    let v = if secret {
                        Value::String("[redacted]".into())
                    } else {
                        redact_secrets(v)
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(redact_secrets).collect()),
        other => other.clone(),
    }
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
        Template::WorkspaceInvitation {
            token,
            workspace_name,
        } => link_mail(
            "You are invited to a workspace",
            &format!("You are invited to join the workspace \"{workspace_name}\" on Edgeward. Sign in (or sign up and verify this address first), then accept."),
            "Accept the invitation",
            &format!("{base_url}/accept-invitation?token={token}"),
            &format!("The link works once and expires in {ttl_hint}. If you do not know this workspace, ignore this message."),
        ),
        Template::AlreadyRegistered => Rendered {
            subject: "You already have an account".into(),
            text: "Someone tried to sign up with this address, which already has an Edgeward account.\n\nIf it was you, sign in, or reset your password if you forgot it. If not, you can ignore this message.\n".into(),
            html: "<p>Someone tried to sign up with this address, which already has an Edgeward account.</p><p>If it was you, sign in, or reset your password if you forgot it. If not, you can ignore this message.</p>".into(),
        },
        Template::AccountDeactivated => Rendered {
            subject: "Your account was deactivated".into(),
            text: "Your Edgeward account was deactivated and every session signed out. Sign in through reactivation to use it again.\n\nIf this was not you, reactivate it and change your password now.\n".into(),
            html: "<p>Your Edgeward account was deactivated and every session signed out. Sign in through reactivation to use it again.</p><p>If this was not you, reactivate it and change your password now.</p>".into(),
        },
        Template::SecondFactorsReset => Rendered {
            subject: "Your second factors were reset".into(),
            text: "An administrator removed the second factors of your Edgeward account (authenticator app, recovery codes and passkeys). Signing in now needs your password alone; set up a second factor again in your account settings.\n\nIf you did not ask for this, contact your administrator and change your password now.\n".into(),
            html: "<p>An administrator removed the second factors of your Edgeward account (authenticator app, recovery codes and passkeys). Signing in now needs your password alone; set up a second factor again in your account settings.</p><p>If you did not ask for this, contact your administrator and change your password now.</p>".into(),
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

/// How often and how patiently the e-mail consumer tries a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base_s: u32,
}

/// Exponential backoff after attempt `n` (1-based): base, 2 x base, 4 x base, ... capped at
/// 10 minutes.
pub fn backoff_s(base_s: u32, attempt: u32) -> u32 {
    base_s
        .saturating_mul(1 << attempt.saturating_sub(1).min(16))
        .min(600)
}

/// A failed attempt that may succeed later: retried with backoff, dead-lettered after the last.
pub fn retry_or_give_up(attempt: u32, policy: &RetryPolicy) -> QueueOutcome {
    if attempt >= policy.max_attempts {
        QueueOutcome::DeadLetter
    } else {
        QueueOutcome::Retry {
            delay_s: backoff_s(policy.base_s, attempt),
        }
    }
}

/// Outcome for a provider's HTTP status: 2xx delivered; 408, 429 and 5xx are worth retrying;
/// any other 4xx will never succeed.
pub fn outcome_for_status(status: u16, attempt: u32, policy: &RetryPolicy) -> QueueOutcome {
    match status {
        200..=299 => QueueOutcome::Ack,
        408 | 429 | 500..=599 => retry_or_give_up(attempt, policy),
        _ => QueueOutcome::DeadLetter,
    }
}

/// "24 hours", "1 hour", "30 minutes" for a lifetime in seconds.
pub fn describe_ttl(seconds: i64) -> String {
    let plural = |n: i64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    // Beyond a day, whole days (an invitation's week); a day itself reads as 24 hours.
    if seconds > 86_400 && seconds % 86_400 == 0 {
        plural(seconds / 86_400, "day")
    } else if seconds % 3600 == 0 {
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
    fn the_invitation_mail_carries_the_token_link_and_the_escaped_workspace_name() {
        let r = render(
            &Template::WorkspaceInvitation {
                token: "tok123".into(),
                workspace_name: "<Acme>".into(),
            },
            "https://app.example",
            "7 days",
        );
        assert!(r
            .text
            .contains("https://app.example/accept-invitation?token=tok123"));
        assert!(r.text.contains("7 days"));
        assert!(r.html.contains("&lt;Acme&gt;") && !r.html.contains("<Acme>"));
        assert_eq!(
            Template::WorkspaceInvitation {
                token: "t".into(),
                workspace_name: "w".into()
            }
            .kind(),
            MailKind::Security
        );
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

    const POLICY: RetryPolicy = RetryPolicy {
        max_attempts: 3,
        base_s: 10,
    };

    #[test]
    fn backoff_doubles_up_to_ten_minutes() {
        assert_eq!(backoff_s(10, 1), 10);
        assert_eq!(backoff_s(10, 2), 20);
        assert_eq!(backoff_s(10, 3), 40);
        assert_eq!(backoff_s(10, 30), 600);
        assert_eq!(backoff_s(1, 2), 2);
    }

    #[test]
    fn provider_statuses_map_to_outcomes() {
        assert_eq!(outcome_for_status(200, 1, &POLICY), QueueOutcome::Ack);
        assert_eq!(
            outcome_for_status(429, 2, &POLICY),
            QueueOutcome::Retry { delay_s: 20 }
        );
        assert_eq!(
            outcome_for_status(503, 1, &POLICY),
            QueueOutcome::Retry { delay_s: 10 }
        );
        assert_eq!(
            outcome_for_status(422, 1, &POLICY),
            QueueOutcome::DeadLetter
        );
    }

    #[test]
    fn the_last_failed_attempt_is_dead_lettered() {
        assert_eq!(
            outcome_for_status(503, 3, &POLICY),
            QueueOutcome::DeadLetter
        );
        assert_eq!(retry_or_give_up(3, &POLICY), QueueOutcome::DeadLetter);
        assert_eq!(
            retry_or_give_up(2, &POLICY),
            QueueOutcome::Retry { delay_s: 20 }
        );
    }

    #[test]
    fn placeholder_addresses_of_external_accounts_get_no_mail() {
        let placeholder = crate::core::idp::link::placeholder_email("github", "42");
        assert!(!deliverable(&placeholder));
        assert!(!deliverable("x@Example.INVALID"));
        assert!(deliverable("ada@example.com"));
        assert!(deliverable("ada@invalid.example"));
    }

    #[test]
    fn security_mails_go_out_whatever_the_preferences_and_alerts_follow_them() {
        let mut off = Preferences::default();
        off.email.security_alerts = false;
        for t in [
            Template::VerifyEmail { token: "t".into() },
            Template::AlreadyRegistered,
            Template::PasswordReset { token: "t".into() },
            Template::PasswordChanged,
            Template::SecondFactorsReset,
        ] {
            assert!(wanted(t.kind(), Some(&off)), "{t:?}");
            assert!(wanted(t.kind(), None), "{t:?}");
        }
        let alert = Template::AccountDeactivated.kind();
        assert!(!wanted(alert, Some(&off)));
        assert!(wanted(alert, Some(&Preferences::default())));
        assert!(!wanted(alert, None));
    }

    #[test]
    fn a_dead_letter_keeps_no_token() {
        let job = EmailJob {
            id: "m1".into(),
            to: "a@example.test".into(),
            template: Template::PasswordReset {
                token: "s3cr3t-link-token".into(),
            },
            created_at: 1,
        };
        let kept = redact_secrets(&serde_json::to_value(&job).unwrap());
        assert!(!kept.to_string().contains("s3cr3t"), "{kept}");
        assert_eq!(kept["template"]["kind"], "password_reset");
        assert_eq!(kept["to"], "a@example.test");
        let nested = serde_json::json!({"a": [{"refresh_token": "r"}], "job_id": "j"});
        assert_eq!(
            redact_secrets(&nested),
            serde_json::json!({"a": [{"refresh_token": "[redacted]"}], "job_id": "j"})
        );
    }

    #[test]
    fn lifetimes_read_naturally() {
        assert_eq!(describe_ttl(86_400), "24 hours");
        assert_eq!(describe_ttl(3_600), "1 hour");
        assert_eq!(describe_ttl(1_800), "30 minutes");
        assert_eq!(describe_ttl(7 * 86_400), "7 days");
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
