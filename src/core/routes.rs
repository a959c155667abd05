//! The route table: every (method, path template) the Worker serves. The edge router matches
//! against it and `openapi/openapi.json` must describe exactly these operations (tested here).

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Patch,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "GET" | "HEAD" => Self::Get,
            "POST" => Self::Post,
            "PATCH" => Self::Patch,
            "DELETE" => Self::Delete,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Health,
    Ready,
    Jwks,
    OpenApi,
    Register,
    VerifyEmail,
    ResendVerification,
    Login,
    Refresh,
    Logout,
    ListSessions,
    RevokeSession,
    RevokeSessions,
    RenameSession,
    ChangeEmail,
    ForgotPassword,
    ResetPassword,
    ChangePassword,
    Me,
    PatchMe,
    DeleteMe,
    Deactivate,
    Reactivate,
    Restore,
    GetPreferences,
    PatchPreferences,
    ResetPreferences,
    Audit,
    Credits,
    DevCredits,
    AdminCredits,
    CreateStream,
    ListStreams,
    GetStream,
    PatchStream,
    EndStream,
    StreamChat,
    Tip,
    ListTips,
    RealtimeTicket,
    RealtimeMe,
    SubmitJob,
    ListJobs,
    GetJob,
    RedeliverJob,
    JobStats,
    DevMailbox,
    CreateWorkspace,
    ListWorkspaces,
    GetWorkspace,
    PatchWorkspace,
    DeleteWorkspace,
    JoinWorkspace,
    ListMembers,
    PatchMember,
    RemoveMember,
    CreateInvitation,
    ListInvitations,
    RevokeInvitation,
    AcceptInvitation,
    CheckReferralKey,
    AdminListUsers,
    AdminGetUser,
    AdminDeactivate,
    AdminActivate,
    AdminUnlock,
    AdminPromote,
    AdminDemote,
    AdminUserSessions,
    AdminRevokeUserSessions,
    AdminUserAudit,
    AdminResetSecondFactors,
    AdminStats,
    AdminRotateKeys,
    AdminCreateApiKey,
    AdminListApiKeys,
    AdminRevokeApiKey,
    AdminCreateReferralKeys,
    AdminListReferralKeys,
    AuthProviders,
    OAuthStart,
    OAuthCallback,
    OAuthToken,
    ListIdentities,
    UnlinkIdentity,
    Exchange,
    SiweNonce,
    SiweVerify,
    LinkWallet,
    ListWallets,
    UnlinkWallet,
    MfaVerify,
    PasskeyRegistrationOptions,
    RegisterPasskey,
    ListPasskeys,
    RenamePasskey,
    RemovePasskey,
    PasskeyAuthenticationOptions,
    PasskeySignIn,
    Reauthenticate,
    StartTotp,
    ConfirmTotp,
    RemoveTotp,
}

use Method::*;

/// (method, path template, route). A `{name}` segment matches one non-empty path segment: the
/// first is the route's `param`, a second one its `sub` (`/v1/workspaces/{id}/members/{user_id}`).
pub const ROUTES: &[(Method, &str, Route)] = &[
    (Get, "/health", Route::Health),
    (Get, "/ready", Route::Ready),
    (Get, "/.well-known/jwks.json", Route::Jwks),
    (Get, "/openapi.json", Route::OpenApi),
    (Post, "/v1/auth/register", Route::Register),
    (Post, "/v1/auth/verify-email", Route::VerifyEmail),
    (
        Post,
        "/v1/auth/resend-verification",
        Route::ResendVerification,
    ),
    (Post, "/v1/auth/login", Route::Login),
    (Post, "/v1/auth/refresh", Route::Refresh),
    (Post, "/v1/auth/logout", Route::Logout),
    (Post, "/v1/auth/mfa/verify", Route::MfaVerify),
    (
        Post,
        "/v1/auth/passkeys/options",
        Route::PasskeyAuthenticationOptions,
    ),
    (Post, "/v1/auth/passkeys/verify", Route::PasskeySignIn),
    (
        Post,
        "/v1/me/passkeys/options",
        Route::PasskeyRegistrationOptions,
    ),
    (Post, "/v1/me/passkeys", Route::RegisterPasskey),
    (Get, "/v1/me/passkeys", Route::ListPasskeys),
    (Patch, "/v1/me/passkeys/{id}", Route::RenamePasskey),
    (Delete, "/v1/me/passkeys/{id}", Route::RemovePasskey),
    (Post, "/v1/auth/reauthenticate", Route::Reauthenticate),
    (Post, "/v1/me/mfa/totp", Route::StartTotp),
    (Delete, "/v1/me/mfa/totp", Route::RemoveTotp),
    (Post, "/v1/me/mfa/totp/confirm", Route::ConfirmTotp),
    (Get, "/v1/auth/sessions", Route::ListSessions),
    (Delete, "/v1/auth/sessions", Route::RevokeSessions),
    (Delete, "/v1/auth/sessions/{id}", Route::RevokeSession),
    (Patch, "/v1/auth/sessions/{id}", Route::RenameSession),
    (Post, "/v1/auth/password/forgot", Route::ForgotPassword),
    (Post, "/v1/auth/password/reset", Route::ResetPassword),
    (Post, "/v1/auth/password/change", Route::ChangePassword),
    (Get, "/v1/me", Route::Me),
    (Patch, "/v1/me", Route::PatchMe),
    (Delete, "/v1/me", Route::DeleteMe),
    (Post, "/v1/me/deactivate", Route::Deactivate),
    (Post, "/v1/me/email", Route::ChangeEmail),
    (Post, "/v1/auth/reactivate", Route::Reactivate),
    (Post, "/v1/auth/restore", Route::Restore),
    (
        Get,
        "/v1/me/notification-preferences",
        Route::GetPreferences,
    ),
    (
        Patch,
        "/v1/me/notification-preferences",
        Route::PatchPreferences,
    ),
    (
        Delete,
        "/v1/me/notification-preferences",
        Route::ResetPreferences,
    ),
    (Get, "/v1/me/audit", Route::Audit),
    (Get, "/v1/credits", Route::Credits),
    (Post, "/v1/dev/credits", Route::DevCredits),
    (Post, "/v1/admin/credits", Route::AdminCredits),
    (Post, "/v1/streams", Route::CreateStream),
    (Get, "/v1/streams", Route::ListStreams),
    (Get, "/v1/streams/{id}", Route::GetStream),
    (Patch, "/v1/streams/{id}", Route::PatchStream),
    (Post, "/v1/streams/{id}/end", Route::EndStream),
    (Get, "/v1/streams/{id}/chat", Route::StreamChat),
    (Post, "/v1/streams/{id}/tips", Route::Tip),
    (Get, "/v1/tips", Route::ListTips),
    (Post, "/v1/realtime/tickets", Route::RealtimeTicket),
    (Get, "/v1/realtime/me", Route::RealtimeMe),
    (Post, "/v1/jobs", Route::SubmitJob),
    (Get, "/v1/jobs", Route::ListJobs),
    (Get, "/v1/jobs/{id}", Route::GetJob),
    (Post, "/v1/dev/jobs/{id}/redeliver", Route::RedeliverJob),
    (Get, "/v1/admin/jobs/stats", Route::JobStats),
    (Get, "/v1/dev/mailbox", Route::DevMailbox),
    (Post, "/v1/workspaces", Route::CreateWorkspace),
    (Get, "/v1/workspaces", Route::ListWorkspaces),
    (Get, "/v1/workspaces/{id}", Route::GetWorkspace),
    (Patch, "/v1/workspaces/{id}", Route::PatchWorkspace),
    (Delete, "/v1/workspaces/{id}", Route::DeleteWorkspace),
    (Post, "/v1/workspaces/{id}/join", Route::JoinWorkspace),
    (Get, "/v1/workspaces/{id}/members", Route::ListMembers),
    (
        Patch,
        "/v1/workspaces/{id}/members/{user_id}",
        Route::PatchMember,
    ),
    (
        Delete,
        "/v1/workspaces/{id}/members/{user_id}",
        Route::RemoveMember,
    ),
    (
        Post,
        "/v1/workspaces/{id}/invitations",
        Route::CreateInvitation,
    ),
    (
        Get,
        "/v1/workspaces/{id}/invitations",
        Route::ListInvitations,
    ),
    (
        Delete,
        "/v1/workspaces/{id}/invitations/{invitation_id}",
        Route::RevokeInvitation,
    ),
    (Post, "/v1/invitations/accept", Route::AcceptInvitation),
    (
        Post,
        "/v1/auth/referral-keys/check",
        Route::CheckReferralKey,
    ),
    (Get, "/v1/admin/users", Route::AdminListUsers),
    (Get, "/v1/admin/users/{id}", Route::AdminGetUser),
    (
        Post,
        "/v1/admin/users/{id}/deactivate",
        Route::AdminDeactivate,
    ),
    (Post, "/v1/admin/users/{id}/activate", Route::AdminActivate),
    (Post, "/v1/admin/users/{id}/unlock", Route::AdminUnlock),
    (Post, "/v1/admin/users/{id}/promote", Route::AdminPromote),
    (Post, "/v1/admin/users/{id}/demote", Route::AdminDemote),
    (
        Get,
        "/v1/admin/users/{id}/sessions",
        Route::AdminUserSessions,
    ),
    (
        Delete,
        "/v1/admin/users/{id}/sessions",
        Route::AdminRevokeUserSessions,
    ),
    (Get, "/v1/admin/users/{id}/audit", Route::AdminUserAudit),
    (
        Delete,
        "/v1/admin/users/{id}/mfa",
        Route::AdminResetSecondFactors,
    ),
    (Get, "/v1/admin/stats", Route::AdminStats),
    (Post, "/v1/admin/keys/rotate", Route::AdminRotateKeys),
    (Post, "/v1/admin/api-keys", Route::AdminCreateApiKey),
    (Get, "/v1/admin/api-keys", Route::AdminListApiKeys),
    (Delete, "/v1/admin/api-keys/{id}", Route::AdminRevokeApiKey),
    (
        Post,
        "/v1/admin/referral-keys",
        Route::AdminCreateReferralKeys,
    ),
    (Get, "/v1/admin/referral-keys", Route::AdminListReferralKeys),
    (Get, "/v1/auth/providers", Route::AuthProviders),
    (Get, "/v1/auth/oauth/{provider}/start", Route::OAuthStart),
    (
        Get,
        "/v1/auth/oauth/{provider}/callback",
        Route::OAuthCallback,
    ),
    (Post, "/v1/auth/oauth/token", Route::OAuthToken),
    (Get, "/v1/me/identities", Route::ListIdentities),
    (Delete, "/v1/me/identities/{id}", Route::UnlinkIdentity),
    (Post, "/v1/auth/exchange", Route::Exchange),
    (Post, "/v1/auth/siwe/nonce", Route::SiweNonce),
    (Post, "/v1/auth/siwe/verify", Route::SiweVerify),
    (Post, "/v1/me/wallets", Route::LinkWallet),
    (Get, "/v1/me/wallets", Route::ListWallets),
    (Delete, "/v1/me/wallets/{address}", Route::UnlinkWallet),
];

#[derive(Debug, PartialEq, Eq)]
pub enum Match<'a> {
    Found {
        route: Route,
        template: &'static str,
        param: Option<&'a str>,
        sub: Option<&'a str>,
    },
    /// The path exists with other methods (for `Allow`).
    WrongMethod {
        allow: String,
    },
    NotFound,
}

type Params<'a> = (Option<&'a str>, Option<&'a str>);

fn matches<'a>(template: &str, path: &'a str) -> Option<Params<'a>> {
    let mut params: Params<'a> = (None, None);
    let mut t = template.split('/');
    let mut p = path.split('/');
    loop {
        match (t.next(), p.next()) {
            (None, None) => return Some(params),
            (Some(name), Some(seg))
                if name.starts_with('{') && name.ends_with('}') && !seg.is_empty() =>
            {
                if params.0.is_none() {
                    params.0 = Some(seg);
                } else {
                    params.1 = Some(seg);
                }
            }
            (Some(a), Some(b)) if a == b => {}
            _ => return None,
        }
    }
}

pub fn resolve<'a>(method: &str, path: &'a str) -> Match<'a> {
    let method = Method::parse(method);
    let mut allow: Vec<&str> = vec![];
    for (m, template, route) in ROUTES {
        if let Some((param, sub)) = matches(template, path) {
            if Some(*m) == method {
                return Match::Found {
                    route: *route,
                    template,
                    param,
                    sub,
                };
            }
            allow.push(m.as_str());
            if *m == Get {
                allow.push("HEAD");
            }
        }
    }
    if allow.is_empty() {
        Match::NotFound
    } else {
        Match::WrongMethod {
            allow: allow.join(", "),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn paths_resolve_with_their_parameter() {
        assert_eq!(
            resolve("DELETE", "/v1/auth/sessions/abc"),
            Match::Found {
                route: Route::RevokeSession,
                template: "/v1/auth/sessions/{id}",
                param: Some("abc"),
                sub: None
            }
        );
        assert_eq!(
            resolve("HEAD", "/health"),
            Match::Found {
                route: Route::Health,
                template: "/health",
                param: None,
                sub: None
            }
        );
        assert_eq!(
            resolve("PATCH", "/v1/workspaces/w1/members/u2"),
            Match::Found {
                route: Route::PatchMember,
                template: "/v1/workspaces/{id}/members/{user_id}",
                param: Some("w1"),
                sub: Some("u2")
            }
        );
    }

    #[test]
    fn a_named_parameter_matches_one_segment_like_id() {
        assert_eq!(
            resolve("GET", "/v1/auth/oauth/corp/callback"),
            Match::Found {
                route: Route::OAuthCallback,
                template: "/v1/auth/oauth/{provider}/callback",
                param: Some("corp"),
                sub: None
            }
        );
        assert_eq!(resolve("GET", "/v1/auth/oauth//callback"), Match::NotFound);
    }

    #[test]
    fn a_known_path_with_another_method_is_405_with_allow() {
        let allow = |a: &str| Match::WrongMethod { allow: a.into() };
        assert_eq!(resolve("GET", "/v1/auth/login"), allow("POST"));
        assert_eq!(resolve("PUT", "/v1/me"), allow("GET, HEAD, PATCH, DELETE"));
        assert_eq!(
            resolve("POST", "/v1/auth/sessions/x"),
            allow("DELETE, PATCH")
        );
    }

    #[test]
    fn unknown_paths_and_empty_parameters_are_not_found() {
        assert_eq!(resolve("GET", "/nope"), Match::NotFound);
        assert_eq!(resolve("DELETE", "/v1/auth/sessions/"), Match::NotFound);
        assert_eq!(resolve("GET", "/v1/me/"), Match::NotFound);
        assert_eq!(
            resolve("DELETE", "/v1/workspaces/w1/members/"),
            Match::NotFound
        );
    }

    #[test]
    fn the_openapi_document_describes_exactly_the_routes() {
        let doc: serde_json::Value =
            serde_json::from_str(include_str!("../../openapi/openapi.json")).unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
        let mut documented = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                if ["get", "post", "patch", "delete", "put"].contains(&method.as_str()) {
                    documented.insert((method.to_uppercase(), path.clone()));
                    let op = &item[method];
                    assert!(
                        op["operationId"].is_string(),
                        "{method} {path} has an operationId"
                    );
                    assert!(op["responses"].is_object(), "{method} {path} has responses");
                }
            }
        }
        let routed: BTreeSet<_> = ROUTES
            .iter()
            .map(|(m, p, _)| (m.as_str().to_owned(), (*p).to_owned()))
            .collect();
        assert_eq!(documented, routed);
    }

    #[test]
    fn every_component_of_the_openapi_document_is_referenced() {
        let text = include_str!("../../openapi/openapi.json");
        let doc: serde_json::Value = serde_json::from_str(text).unwrap();
        let mut unused = Vec::new();
        for (section, entries) in doc["components"].as_object().unwrap() {
            if section == "securitySchemes" {
                continue; // named by `security`, not by `$ref`
            }
            for name in entries.as_object().unwrap().keys() {
                let reference = format!("\"#/components/{section}/{name}\"");
                if !text.contains(&reference) {
                    unused.push(format!("{section}/{name}"));
                }
            }
        }
        assert!(unused.is_empty(), "unreferenced components: {unused:?}");
    }
}
