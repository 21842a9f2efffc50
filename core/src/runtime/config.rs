//! Configuration values and secrets per tenant and component, which the component's
//! guests read through `wasi:config/store`. They are kept in the tenant's record, so they
//! live where the tenant lives (sled, or PostgreSQL in a cluster) and a change reaches
//! the next turn on every host without a redeploy.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Longest key, in bytes.
pub const MAX_KEY_BYTES: usize = 128;
/// Largest value, in bytes.
pub const MAX_VALUE_BYTES: usize = 64 << 10;
/// Most values one component may have.
pub const MAX_KEYS_PER_COMPONENT: usize = 256;
/// What a secret is replaced with in the guest output the host logs.
pub const REDACTED: &str = "[redacted]";

/// One value as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigEntry {
    /// The value.
    pub value: String,
    /// A secret is written and used, never read back through the admin API or the
    /// console, and is redacted from the guest output the host logs.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub secret: bool,
}

/// Every component's values of one tenant, by component and key.
pub type TenantConfig = BTreeMap<String, BTreeMap<String, ConfigEntry>>;

/// One value as the admin API shows it: a secret's value never.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ConfigView {
    /// The value's key.
    pub key: String,
    /// Whether it is a secret.
    pub secret: bool,
    /// The value; absent for a secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

impl ConfigView {
    /// How the admin API shows `entry` under `key`.
    pub fn of(key: &str, entry: &ConfigEntry) -> Self {
        ConfigView {
            key: key.to_string(),
            secret: entry.secret,
            value: (!entry.secret).then(|| entry.value.clone()),
        }
    }
}

/// What the turns of one component see: its values, and the secret ones among them to
/// keep out of the host's logs.
#[derive(Debug, Default)]
pub struct ComponentConfig {
    /// Every value by key, secrets included (the guest uses them).
    pub values: Vec<(String, String)>,
    /// The secret values, longest first (so a secret containing another is redacted
    /// whole).
    secrets: Vec<String>,
}

impl ComponentConfig {
    /// The values of one component as stored.
    pub fn of(entries: &BTreeMap<String, ConfigEntry>) -> Self {
        let values = entries
            .iter()
            .map(|(k, e)| (k.clone(), e.value.clone()))
            .collect();
        let mut secrets: Vec<String> = entries
            .values()
            .filter(|e| e.secret && !e.value.is_empty())
            .map(|e| e.value.clone())
            .collect();
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        ComponentConfig { values, secrets }
    }

    /// `text` with every secret value replaced by [`REDACTED`].
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut text = Cow::Borrowed(text);
        for secret in &self.secrets {
            if text.contains(secret.as_str()) {
                text = Cow::Owned(text.replace(secret.as_str(), REDACTED));
            }
        }
        text
    }
}

/// Why a configuration change was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The key is empty, too long, or has characters other than letters, digits, `_`,
    /// `.` and `-`.
    #[error("invalid key {0:?}: 1 to {MAX_KEY_BYTES} letters, digits, '_', '.' or '-'")]
    BadKey(String),
    /// The component name is not a valid name.
    #[error("invalid component name: {0}")]
    BadComponent(String),
    /// The value is larger than [`MAX_VALUE_BYTES`].
    #[error("the value is {0} bytes; at most {MAX_VALUE_BYTES} are allowed")]
    TooLarge(usize),
    /// The component has [`MAX_KEYS_PER_COMPONENT`] values already.
    #[error("component {0:?} has {MAX_KEYS_PER_COMPONENT} values already")]
    TooMany(String),
    /// No value under that key.
    #[error("component {component:?} has no value {key:?}")]
    NotFound {
        /// The component asked about.
        component: String,
        /// The key asked for.
        key: String,
    },
}

/// Whether `key` may name a value.
pub fn check_key(key: &str) -> Result<(), ConfigError> {
    let fits = !key.is_empty()
        && key.len() <= MAX_KEY_BYTES
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if fits {
        Ok(())
    } else {
        Err(ConfigError::BadKey(key.to_string()))
    }
}

/// Set `key` of `component` in `config`, within the limits.
pub fn set(
    config: &mut TenantConfig,
    component: &str,
    key: &str,
    entry: ConfigEntry,
) -> Result<ConfigView, ConfigError> {
    check_key(key)?;
    if entry.value.len() > MAX_VALUE_BYTES {
        return Err(ConfigError::TooLarge(entry.value.len()));
    }
    let values = config.entry(component.to_string()).or_default();
    if !values.contains_key(key) && values.len() >= MAX_KEYS_PER_COMPONENT {
        return Err(ConfigError::TooMany(component.to_string()));
    }
    let view = ConfigView::of(key, &entry);
    values.insert(key.to_string(), entry);
    Ok(view)
}

/// Remove `key` of `component` from `config`.
pub fn remove(config: &mut TenantConfig, component: &str, key: &str) -> Result<(), ConfigError> {
    let not_found = || ConfigError::NotFound {
        component: component.to_string(),
        key: key.to_string(),
    };
    let values = config.get_mut(component).ok_or_else(not_found)?;
    values.remove(key).ok_or_else(not_found)?;
    if values.is_empty() {
        config.remove(component);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(value: &str, secret: bool) -> ConfigEntry {
        ConfigEntry {
            value: value.into(),
            secret,
        }
    }

    #[test]
    fn a_secret_is_shown_without_its_value_and_redacted_from_text() {
        let mut config = TenantConfig::new();
        let shown = set(&mut config, "shop", "api_key", entry("sk-123456", true)).unwrap();
        assert_eq!(shown.value, None);
        set(
            &mut config,
            "shop",
            "url",
            entry("https://example.org", false),
        )
        .unwrap();
        let seen = ComponentConfig::of(&config["shop"]);
        assert_eq!(seen.values.len(), 2);
        assert_eq!(
            seen.redact("calling https://example.org with sk-123456"),
            "calling https://example.org with [redacted]"
        );
    }

    #[test]
    fn keys_sizes_and_counts_are_checked() {
        let mut config = TenantConfig::new();
        for bad in ["", "a b", "ключ", &"k".repeat(MAX_KEY_BYTES + 1)] {
            assert!(matches!(
                set(&mut config, "c", bad, entry("v", false)),
                Err(ConfigError::BadKey(_))
            ));
        }
        let big = "v".repeat(MAX_VALUE_BYTES + 1);
        assert!(matches!(
            set(&mut config, "c", "k", entry(&big, false)),
            Err(ConfigError::TooLarge(_))
        ));
        for i in 0..MAX_KEYS_PER_COMPONENT {
            set(&mut config, "c", &format!("k{i}"), entry("v", false)).unwrap();
        }
        assert!(matches!(
            set(&mut config, "c", "one.more", entry("v", false)),
            Err(ConfigError::TooMany(_))
        ));
        // Replacing a value is not one more.
        set(&mut config, "c", "k0", entry("w", false)).unwrap();
    }

    #[test]
    fn removing_the_last_value_removes_the_component() {
        let mut config = TenantConfig::new();
        set(&mut config, "c", "k", entry("v", false)).unwrap();
        assert!(matches!(
            remove(&mut config, "c", "other"),
            Err(ConfigError::NotFound { .. })
        ));
        remove(&mut config, "c", "k").unwrap();
        assert!(config.is_empty());
    }
}
