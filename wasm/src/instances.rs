//! The optional `instances` export: each actor type's instance strategy as the component
//! chooses it, and what the host's flags make of that choice.

use std::collections::HashMap;

use wasmtime::component::{ComponentType, Lift};

use super::WasmConfig;
use warren_core::types::manifest::{InstanceStrategy, Manifest};

/// The interface of the export.
pub(super) const INTERFACE: &str = "warren:actor/instances@0.1.0";
/// Its one function.
pub(super) const FUNCTION: &str = "instance-strategies";

/// WIT `instance-strategy`. Only `Lift` builds its values (from the guest's answer), which
/// the dead-code lint cannot see.
#[allow(dead_code)]
#[derive(ComponentType, Lift, Clone, Copy, Debug)]
#[component(enum)]
#[repr(u8)]
pub(super) enum WitStrategy {
    #[component(name = "fresh")]
    Fresh,
    #[component(name = "kept")]
    Kept,
    #[component(name = "reused")]
    Reused,
}

/// WIT `type-instances`.
#[derive(ComponentType, Lift, Clone, Debug)]
#[component(record)]
pub(super) struct TypeInstances {
    #[component(name = "actor-type")]
    actor_type: String,
    strategy: WitStrategy,
}

/// The signature of `instance-strategies`.
pub(super) type InstanceStrategies = wasmtime::component::TypedFunc<(), (Vec<TypeInstances>,)>;

/// Record each choice in the type's spec; a choice for a type the manifest lacks is an
/// error.
pub(super) fn apply(manifest: &mut Manifest, chosen: Vec<TypeInstances>) -> Result<(), String> {
    for choice in chosen {
        let spec = manifest
            .actor_types
            .iter_mut()
            .find(|t| t.name == choice.actor_type)
            .ok_or_else(|| {
                format!(
                    "it chooses an instance strategy for actor type {:?}, which it does not describe",
                    choice.actor_type
                )
            })?;
        spec.instances = Some(match choice.strategy {
            WitStrategy::Fresh => InstanceStrategy::Fresh,
            WitStrategy::Kept => InstanceStrategy::Kept,
            WitStrategy::Reused => InstanceStrategy::Reused,
        });
    }
    Ok(())
}

/// The strategy a type gets on this host: its choice, else the host's default, within
/// what the host allows (reuse only with `--reuse-instances`, keeping only while actors
/// may keep instances at all).
pub(super) fn effective(chosen: Option<InstanceStrategy>, config: &WasmConfig) -> InstanceStrategy {
    let keeps = config.pinned_instances > 0 && config.kept_memory_bytes > 0;
    let default = if config.reuse_instances {
        InstanceStrategy::Reused
    } else if keeps {
        InstanceStrategy::Kept
    } else {
        InstanceStrategy::Fresh
    };
    match chosen.unwrap_or(default) {
        InstanceStrategy::Reused if config.reuse_instances => InstanceStrategy::Reused,
        InstanceStrategy::Reused | InstanceStrategy::Kept if keeps => InstanceStrategy::Kept,
        InstanceStrategy::Reused | InstanceStrategy::Kept | InstanceStrategy::Fresh => {
            InstanceStrategy::Fresh
        }
    }
}

/// The strategy of each type of `manifest` on this host, logging the choices it caps.
pub(super) fn strategies(
    manifest: &Manifest,
    config: &WasmConfig,
) -> HashMap<String, InstanceStrategy> {
    manifest
        .actor_types
        .iter()
        .map(|t| {
            let strategy = effective(t.instances, config);
            if let Some(chosen) = t.instances
                && chosen != strategy
            {
                tracing::info!(
                    actor_type = %t.name,
                    ?chosen,
                    ?strategy,
                    "instance strategy capped by the host's flags (--reuse-instances, --pinned-instances, --kept-memory-mib)"
                );
            }
            (t.name.clone(), strategy)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use InstanceStrategy::{Fresh, Kept, Reused};

    fn config(reuse: bool, pinned: usize) -> WasmConfig {
        WasmConfig {
            reuse_instances: reuse,
            pinned_instances: pinned,
            ..WasmConfig::default()
        }
    }

    #[test]
    fn a_choice_for_a_type_the_manifest_lacks_is_refused() {
        let mut manifest = Manifest {
            name: "c".into(),
            version: "1".into(),
            actor_types: vec![warren_core::types::manifest::ActorTypeSpec::external(
                "known",
                std::time::Duration::from_secs(1),
                None,
            )],
        };
        let choice = |name: &str, strategy| TypeInstances {
            actor_type: name.into(),
            strategy,
        };
        apply(&mut manifest, vec![choice("known", WitStrategy::Reused)]).unwrap();
        assert_eq!(manifest.actor_types[0].instances, Some(Reused));
        let err = apply(&mut manifest, vec![choice("ghost", WitStrategy::Fresh)]).unwrap_err();
        assert!(err.contains("\"ghost\""), "{err}");
    }

    #[test]
    fn the_host_flags_give_the_default_and_cap_the_choice() {
        // (reuse, pinned) -> what no choice, fresh, kept and reused become.
        let cases = [
            ((false, 500), [Kept, Fresh, Kept, Kept]),
            ((true, 500), [Reused, Fresh, Kept, Reused]),
            ((false, 0), [Fresh, Fresh, Fresh, Fresh]),
            ((true, 0), [Reused, Fresh, Fresh, Reused]),
        ];
        for ((reuse, pinned), expected) in cases {
            let config = config(reuse, pinned);
            let got = [None, Some(Fresh), Some(Kept), Some(Reused)].map(|c| effective(c, &config));
            assert_eq!(got, expected, "reuse {reuse}, pinned {pinned}");
        }
    }
}
