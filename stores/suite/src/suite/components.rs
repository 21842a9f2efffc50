//! The catalog: a component's record, its bytes and its kept versions.

use warren_store::{Canary, ComponentRecord};

use super::{stores, version};

/// A component's versions are kept in order with their bytes, apart from its record;
/// the record changes alone when no bytes are given.
#[tokio::test]
async fn component_versions_are_kept_listed_and_deleted() {
    for (name, store, _dir) in stores().await {
        store.put_tenant("t", b"{}".to_vec()).await.unwrap();
        // Numbers past 255 sort after the small ones (big-endian keys).
        for number in [2, 1, 300] {
            store
                .put_component_version(&version(number), format!("wasm{number}").as_bytes())
                .await
                .unwrap();
        }
        let kept = store.component_versions("t", "c").await.unwrap();
        let numbers: Vec<u64> = kept.iter().map(|v| v.number).collect();
        assert_eq!(numbers, [1, 2, 300], "{name}");
        assert_eq!(kept[1], version(2), "{name}");
        assert!(
            store
                .component_versions("t", "other")
                .await
                .unwrap()
                .is_empty(),
            "{name}"
        );
        let bytes = store.component_version_wasm("t", "c", 300).await.unwrap();
        assert_eq!(bytes.as_deref(), Some(&b"wasm300"[..]), "{name}");
        assert_eq!(
            store.component_version_wasm("t", "c", 7).await.unwrap(),
            None,
            "{name}"
        );
        assert!(
            store.remove_component_version("t", "c", 2).await.unwrap(),
            "{name}"
        );
        assert!(
            !store.remove_component_version("t", "c", 2).await.unwrap(),
            "{name}"
        );
        assert_eq!(
            store.component_versions("t", "c").await.unwrap().len(),
            2,
            "{name}"
        );

        let mut record = ComponentRecord {
            tenant: "t".into(),
            name: "c".into(),
            sha256: "01".into(),
            deployed_at: 1,
            number: 1,
            canary: None,
        };
        store.put_component(&record, Some(b"wasm1")).await.unwrap();
        record.canary = Some(Canary {
            number: 300,
            sha256: "300".into(),
            percent: 25,
        });
        store.put_component(&record, None).await.unwrap();
        let stored = store.components().await.unwrap();
        assert_eq!(stored.len(), 1, "{name}");
        assert_eq!(stored[0].canary, record.canary, "{name}");
        assert_eq!(stored[0].number, 1, "{name}");
        let wasm = store.component_wasm("t", "c").await.unwrap();
        assert_eq!(wasm.as_deref(), Some(&b"wasm1"[..]), "{name}");

        store.delete_tenant("t").await.unwrap();
        assert!(
            store.component_versions("t", "c").await.unwrap().is_empty(),
            "{name}"
        );
    }
}
