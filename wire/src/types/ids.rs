//! Identities: which actor, in which tenant, and what names are acceptable.

use std::fmt;
use std::sync::Arc;

use serde::Serialize;

/// The name of the tenant used when a caller does not name one.
pub const DEFAULT_TENANT: &str = "default";

/// One actor: tenant, actor type and id. Cheap to clone.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ActorId {
    /// The tenant the actor belongs to ([`DEFAULT_TENANT`] when the caller names none).
    pub tenant: Arc<str>,
    /// The actor's type, as a manifest declares it.
    pub actor_type: Arc<str>,
    /// The actor's id, unique within its type and tenant.
    pub id: Arc<str>,
}

impl ActorId {
    /// An actor id from its parts. Callers validate names first (see [`check_name`]).
    pub fn new(tenant: &str, actor_type: &str, id: &str) -> Self {
        ActorId {
            tenant: tenant.into(),
            actor_type: actor_type.into(),
            id: id.into(),
        }
    }
}

impl fmt::Display for ActorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if &*self.tenant == DEFAULT_TENANT {
            write!(f, "{}/{}", self.actor_type, self.id)
        } else {
            write!(f, "{}:{}/{}", self.tenant, self.actor_type, self.id)
        }
    }
}

/// Check a tenant, actor type, actor id, timer or reminder name. The rules are Dapr's
/// (no `#`, `?`, `/`, `\`, NUL or control characters, not `.` or `..`, not empty), so
/// a name valid here is valid in every protocol Warren speaks. A leading `$` is Warren's
/// own: the host keeps its records under such names, outside fencing and routing.
pub fn check_name(what: &str, name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err(format!("{what} must not be empty"));
    }
    if name == "." || name == ".." {
        return Err(format!("{what} must not be {name:?}"));
    }
    if name.starts_with('$') {
        return Err(format!(
            "{what} {name:?} starts with '$', which is reserved for the host's own records"
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| matches!(c, '#' | '?' | '/' | '\\') || c.is_control())
    {
        return Err(format!(
            "{what} {name:?} contains the forbidden character {c:?}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_dapr_rules() {
        assert!(check_name("id", "alice-1.b_c").is_ok());
        for bad in [
            "", ".", "..", "a/b", "a#b", "a?b", "a\\b", "a\0b", "a\nb", "$system", "$spawned",
        ] {
            assert!(check_name("id", bad).is_err(), "{bad:?} accepted");
        }
    }
}
