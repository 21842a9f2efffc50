//! Reading the credentials a request carries: a bearer token or Dapr's `dapr-api-token`
//! header, the console's session cookie, and OPACA's HS256 JWTs (subject and expiry).

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// The token of an `Authorization` header value, when it is a bearer token.
pub fn bearer(authorization: &str) -> Option<&str> {
    authorization.strip_prefix("Bearer ")
}

/// The non-empty value of cookie `name` in `Cookie` header values.
pub fn cookie<'a>(values: impl IntoIterator<Item = &'a str>, name: &str) -> Option<&'a str> {
    values
        .into_iter()
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value)
        .filter(|value| !value.is_empty())
}

/// What an OPACA token says: whose it is and until when (seconds since the Unix epoch).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The JWT's `sub`: the user name, container id or platform URL the token was issued to.
    pub sub: String,
    /// The JWT's `exp`: when the token expires, in seconds since the Unix epoch.
    pub exp: u64,
}

/// Sign `claims` with HS256.
pub fn sign(claims: &Claims, key: &EncodingKey) -> String {
    // Signing with an HMAC key cannot fail.
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, key).unwrap_or_default()
}

/// The claims of `token`, if it is an HS256 JWT signed with `key` and not expired.
pub fn verify(token: &str, key: &DecodingKey) -> Option<Claims> {
    jsonwebtoken::decode::<Claims>(token, key, &Validation::new(Algorithm::HS256))
        .ok()
        .map(|data| data.claims)
}
