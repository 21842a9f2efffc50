//! The catalog on the in-memory store, with a loader that reads a manifest from the bytes
//! (`name version type,type`) and a context whose limits and breakage a test sets.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::*;
use crate::runtime::backend::{LoadError, Turn, TurnOutcome};
use crate::store::MemoryStore;
use crate::types::InvokeError;

/// A backend the catalog only holds: these tests route turns, they never run one.
struct Idle;

impl ActorBackend for Idle {
    fn run_turn<'a>(&'a self, _turn: Turn<'a>) -> BackendFuture<'a, TurnOutcome> {
        Box::pin(async { TurnOutcome::unstaged(Err(InvokeError::BadRequest("idle".into()))) })
    }
}

/// Loads `name version type,type` as a component; anything else is refused. Remembers
/// the version of each backend it made, so a test sees which version serves an actor.
#[derive(Default)]
struct TextLoader {
    made: Mutex<Vec<(String, Arc<dyn ActorBackend>)>>,
}

impl TextLoader {
    /// The version `backend` was loaded from.
    fn version_of(&self, backend: &Arc<dyn ActorBackend>) -> String {
        let made = self.made.lock().unwrap();
        let found = made.iter().find(|(_, b)| Arc::ptr_eq(b, backend));
        found.expect("a backend this loader made").0.clone()
    }
}

impl ComponentLoader for TextLoader {
    fn load(
        self: Arc<Self>,
        wasm: Arc<Vec<u8>>,
    ) -> BackendFuture<'static, Result<LoadedComponent, LoadError>> {
        Box::pin(async move {
            let text = String::from_utf8_lossy(&wasm).into_owned();
            let mut words = text.split(' ');
            let (Some(name), Some(version), Some(types), None) =
                (words.next(), words.next(), words.next(), words.next())
            else {
                return Err(LoadError::Invalid(format!("not a component: {text:?}")));
            };
            let backend: Arc<dyn ActorBackend> = Arc::new(Idle);
            let made = (version.to_string(), backend.clone());
            self.made.lock().unwrap().push(made);
            let manifest = Manifest {
                name: name.to_string(),
                version: version.to_string(),
                actor_types: types
                    .split(',')
                    .map(|t| ActorTypeSpec::external(t, Duration::from_secs(60), None))
                    .collect(),
            };
            Ok(LoadedComponent {
                backend,
                manifest,
                sha256: format!("sha-of-{text}"),
                size: wasm.len(),
            })
        })
    }

    fn cache_counts(&self) -> (u64, u64) {
        (0, 0)
    }
}

/// Tenants and their component limits, and what a new version would break.
#[derive(Default)]
struct Context {
    tenants: HashMap<String, u64>,
    breaks: Mutex<Vec<String>>,
    loads: AtomicUsize,
}

impl Context {
    fn with_tenant(name: &str, max_components: u64) -> Self {
        let mut context = Context::default();
        context.tenants.insert(name.to_string(), max_components);
        context
    }
}

impl CatalogContext for Context {
    fn max_components(&self, tenant: &str) -> Option<u64> {
        self.tenants.get(tenant).copied()
    }

    fn breakage<'a>(
        &'a self,
        _tenant: &'a str,
        _name: &'a str,
        _manifest: &'a Manifest,
    ) -> BackendFuture<'a, Result<Breakage, StoreError>> {
        let broken = self.breaks.lock().unwrap().clone();
        Box::pin(async move { Ok(Breakage(broken)) })
    }

    fn loaded(&self, _took: Duration) {
        self.loads.fetch_add(1, Ordering::SeqCst);
    }
}

/// A catalog over `store`, with a loader of its own.
fn catalog(store: &Arc<MemoryStore>) -> (Catalog, Arc<TextLoader>) {
    let loader = Arc::new(TextLoader::default());
    (Catalog::new(store.clone(), loader.clone()), loader)
}

fn bytes(text: &str) -> Vec<u8> {
    text.as_bytes().to_vec()
}

/// The version that serves actor `id` of `actor_type` in tenant `t`.
fn serving(catalog: &Catalog, loader: &TextLoader, actor_type: &str, id: &str) -> String {
    let entry = catalog
        .registry()
        .actor_type("t", actor_type)
        .expect("type");
    loader.version_of(entry.backend_for(id))
}

async fn deploy(
    catalog: &Catalog,
    context: &Context,
    text: &str,
) -> Result<ComponentInfo, DeployError> {
    let options = DeployOptions {
        deployed_by: "test".into(),
        ..Default::default()
    };
    catalog
        .deploy(context, "t", None, bytes(text), options)
        .await
}

#[tokio::test]
async fn every_deploy_is_kept_and_any_kept_version_can_serve_again() {
    let store = Arc::new(MemoryStore::new());
    let context = Context::with_tenant("t", 10);
    let (catalog, loader) = catalog(&store);
    assert_eq!(
        deploy(&catalog, &context, "shop 1.0 cart")
            .await
            .unwrap()
            .number,
        1
    );
    let second = deploy(&catalog, &context, "shop 2.0 cart,order")
        .await
        .unwrap();
    assert_eq!((second.number, second.version.as_str()), (2, "2.0"));
    assert_eq!(serving(&catalog, &loader, "cart", "a"), "2.0");

    let versions = catalog.versions("t", "shop").await.unwrap();
    let marks: Vec<_> = versions.iter().map(|v| (v.number, v.current)).collect();
    assert_eq!(marks, [(1, false), (2, true)]);
    assert_eq!(versions[0].deployed_by, "test");

    // A rollback serves version 1 again, and its types only.
    let back = catalog
        .use_version(&context, "t", "shop", 1, false)
        .await
        .unwrap();
    assert_eq!(back.version, "1.0");
    assert_eq!(serving(&catalog, &loader, "cart", "a"), "1.0");
    assert!(catalog.registry().actor_type("t", "order").is_none());

    // The current version cannot be deleted; another can, once.
    let current = catalog.delete_version("t", "shop", 1).await;
    assert!(matches!(
        current,
        Err(DeployError::Version(VersionError::InUse {
            role: "current",
            ..
        }))
    ));
    catalog.delete_version("t", "shop", 2).await.unwrap();
    let gone = catalog.delete_version("t", "shop", 2).await;
    assert!(matches!(
        gone,
        Err(DeployError::Version(VersionError::NoVersion {
            number: 2,
            ..
        }))
    ));
    let missing = catalog.use_version(&context, "t", "shop", 7, false).await;
    assert!(matches!(
        missing,
        Err(DeployError::Version(VersionError::NoVersion {
            number: 7,
            ..
        }))
    ));
}

#[tokio::test]
async fn a_canary_serves_its_share_until_it_is_stopped() {
    let store = Arc::new(MemoryStore::new());
    let context = Context::with_tenant("t", 10);
    let (catalog, loader) = catalog(&store);
    let canary = |percent| DeployOptions {
        canary_percent: Some(percent),
        ..Default::default()
    };
    let first = catalog
        .deploy(&context, "t", None, bytes("shop 1.0 cart"), canary(10))
        .await;
    assert!(matches!(
        first,
        Err(DeployError::Version(VersionError::NothingToCanary(_)))
    ));
    deploy(&catalog, &context, "shop 1.0 cart").await.unwrap();
    let too_much = catalog
        .deploy(&context, "t", None, bytes("shop 2.0 cart"), canary(100))
        .await;
    assert!(matches!(
        too_much,
        Err(DeployError::Version(VersionError::CanaryShare(100)))
    ));

    let info = catalog
        .deploy(&context, "t", None, bytes("shop 2.0 cart"), canary(30))
        .await
        .unwrap();
    assert_eq!(
        (info.number, info.canary.as_ref().map(|c| c.percent)),
        (1, Some(30))
    );
    let mut on_canary = 0;
    for i in 0..200 {
        let id = format!("actor-{i}");
        let version = serving(&catalog, &loader, "cart", &id);
        let in_share = canary_bucket("cart", &id) < 30;
        assert_eq!(version == "2.0", in_share, "{id}");
        on_canary += usize::from(in_share);
    }
    assert!(
        (30..=90).contains(&on_canary),
        "{on_canary} of 200 on a 30% canary"
    );
    let marks: Vec<_> = (catalog.versions("t", "shop").await.unwrap())
        .iter()
        .map(|v| (v.number, v.current, v.canary_percent))
        .collect();
    assert_eq!(marks, [(1, true, None), (2, false, Some(30))]);
    let busy = catalog.delete_version("t", "shop", 2).await;
    assert!(matches!(
        busy,
        Err(DeployError::Version(VersionError::InUse { .. }))
    ));

    catalog.stop_canary("t", "shop").await.unwrap();
    assert!(
        catalog
            .registry()
            .component("t", "shop")
            .unwrap()
            .canary
            .is_none()
    );
    assert_eq!(serving(&catalog, &loader, "cart", "actor-0"), "1.0");
    let again = catalog.stop_canary("t", "shop").await;
    assert!(matches!(
        again,
        Err(DeployError::Version(VersionError::NoCanary(_)))
    ));
}

#[tokio::test]
async fn a_refused_deploy_keeps_nothing_and_changes_nothing() {
    let store = Arc::new(MemoryStore::new());
    let context = Context::with_tenant("t", 1);
    let (catalog, loader) = catalog(&store);
    deploy(&catalog, &context, "shop 1.0 cart").await.unwrap();

    let invalid = deploy(&catalog, &context, "not a component at all").await;
    assert!(matches!(invalid, Err(DeployError::Invalid(_))));
    let over = deploy(&catalog, &context, "blog 1.0 post").await;
    assert!(matches!(over, Err(DeployError::TooMany { max: 1, .. })));
    let nobody = catalog
        .deploy(
            &context,
            "nobody",
            None,
            bytes("shop 1.0 cart"),
            DeployOptions::default(),
        )
        .await;
    assert!(matches!(nobody, Err(DeployError::NoTenant(_))));
    *context.breaks.lock().unwrap() =
        vec!["actor type \"cart\" is dropped but has 1 reminder".into()];
    let breaking = deploy(&catalog, &context, "shop 2.0 basket").await;
    let Err(DeployError::Breaking { breakage, .. }) = breaking else {
        panic!("a breaking deploy went through: {breaking:?}");
    };
    assert!(breakage.to_string().contains("1 reminder"), "{breakage}");

    // Nothing of the refused deploys was kept or registered.
    assert_eq!(catalog.versions("t", "shop").await.unwrap().len(), 1);
    assert_eq!(serving(&catalog, &loader, "cart", "a"), "1.0");
    assert!(catalog.registry().actor_type("t", "basket").is_none());

    // Forced, the breaking version replaces the running one (at the limit, since it
    // replaces a component rather than adding one).
    let forced = DeployOptions {
        force: true,
        ..Default::default()
    };
    let info = catalog
        .deploy(&context, "t", None, bytes("shop 2.0 basket"), forced)
        .await
        .unwrap();
    assert_eq!(info.number, 2);
    assert!(catalog.registry().actor_type("t", "cart").is_none());
}

#[tokio::test]
async fn two_components_never_share_an_actor_type() {
    let store = Arc::new(MemoryStore::new());
    let context = Context::with_tenant("t", 10);
    let (catalog, loader) = catalog(&store);
    deploy(&catalog, &context, "shop 1.0 cart").await.unwrap();
    let taken = deploy(&catalog, &context, "other 1.0 cart").await;
    let Err(DeployError::Conflict(conflict)) = taken else {
        panic!("a taken type was deployed: {taken:?}");
    };
    assert_eq!(conflict.component, "shop");
    // Refused before it was kept.
    let kept = catalog
        .store
        .component_versions("t", "other")
        .await
        .unwrap();
    assert!(kept.is_empty());
    assert!(catalog.remove("t", "shop").await.unwrap());
    deploy(&catalog, &context, "other 1.1 cart").await.unwrap();
    assert_eq!(serving(&catalog, &loader, "cart", "a"), "1.1");
}

#[tokio::test]
async fn another_catalog_on_the_same_store_loads_and_follows_what_was_deployed() {
    let store = Arc::new(MemoryStore::new());
    let context = Context::with_tenant("t", 10);
    let (here, _) = catalog(&store);
    deploy(&here, &context, "shop 1.0 cart").await.unwrap();
    let canary = DeployOptions {
        canary_percent: Some(50),
        ..Default::default()
    };
    here.deploy(&context, "t", None, bytes("shop 2.0 cart"), canary)
        .await
        .unwrap();

    // A host starting on that store serves the same versions and canary.
    let (there, there_loader) = catalog(&store);
    there.load_stored_components(&context).await.unwrap();
    let info = there.registry().component("t", "shop").unwrap();
    assert_eq!(
        (info.number, info.canary.map(|c| (c.number, c.percent))),
        (1, Some((2, 50)))
    );

    // It follows a promotion, a new component and a removal made here.
    here.use_version(&context, "t", "shop", 2, false)
        .await
        .unwrap();
    deploy(&here, &context, "blog 1.0 post").await.unwrap();
    assert_eq!(there.follow(&context).await.unwrap(), 2);
    let info = there.registry().component("t", "shop").unwrap();
    assert_eq!((info.number, info.canary.is_some()), (2, false));
    assert_eq!(serving(&there, &there_loader, "post", "a"), "1.0");
    here.remove("t", "blog").await.unwrap();
    assert_eq!(there.follow(&context).await.unwrap(), 1);
    assert!(there.registry().actor_type("t", "post").is_none());
    // Nothing changed since: a follow changes nothing.
    assert_eq!(there.follow(&context).await.unwrap(), 0);
    assert!(context.loads.load(Ordering::SeqCst) >= 6);
}
