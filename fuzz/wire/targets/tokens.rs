//! Credentials: any string is a bearer header, a cookie header or a JWT that is read or
//! refused, never a panic; and a token Warren signs reads back as the claims it signed,
//! while the same token under another key is refused.
#![no_main]

use jsonwebtoken::{DecodingKey, EncodingKey};
use libfuzzer_sys::fuzz_target;
use warren_wire::tokens::{Claims, bearer, cookie, sign, verify};

const KEY: &[u8] = b"a-secret-of-at-least-32-bytes-for-hs256";

fuzz_target!(|input: (&str, &str, u64)| {
    let (text, subject, ttl) = input;
    let _ = bearer(text);
    let _ = cookie(text.split('\n'), "warren-console");
    let decoding = DecodingKey::from_secret(KEY);
    let _ = verify(text, &decoding);

    let exp = (chrono::Utc::now().timestamp() as u64).saturating_add(60 + ttl % 86_400);
    let claims = Claims {
        sub: subject.to_string(),
        exp,
    };
    let token = sign(&claims, &EncodingKey::from_secret(KEY));
    assert_eq!(verify(&token, &decoding), Some(claims));
    assert_eq!(
        verify(&token, &DecodingKey::from_secret(b"another key")),
        None
    );
});
