//! Sign-in: the app-only client-credentials grant, the device-code sign-in for the
//! management service, the Entra identity it yields, and the session that holds the tokens.

pub mod auth;
pub mod device_code;
pub mod entra;
pub(crate) mod session;
