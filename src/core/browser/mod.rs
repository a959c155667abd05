//! What a browser client needs from the API, as pure rules: which origins CORS answers and with
//! which headers, the security headers of every response, the auth cookies, the choice between
//! a bearer token and the access cookie, and the CSRF token of a cookie session. The edge reads
//! the request's headers and hands them here; nothing here touches a request or a response.

pub mod cookies;
pub mod cors;
pub mod csrf;
pub mod headers;
