//! [`ComponentStore`] on PostgreSQL: deployed components with their bytes, and their
//! kept versions.

use warren_store::{ComponentRecord, ComponentStore, ComponentVersion, StoreError, StoreFuture};

use crate::{PostgresStore, io};

impl ComponentStore for PostgresStore {
    fn put_component(&self, record: &ComponentRecord, wasm: Option<&[u8]>) -> StoreFuture<'_, ()> {
        let (record, wasm) = (record.clone(), wasm.map(<[u8]>::to_vec));
        Box::pin(async move {
            let deployed_at = record.deployed_at as i64;
            let number = record.number as i64;
            let canary = match &record.canary {
                Some(c) => {
                    Some(serde_json::to_string(c).map_err(|e| StoreError::Corrupt(e.to_string()))?)
                }
                None => None,
            };
            let client = self.client().await?;
            let updated = match &wasm {
                Some(wasm) => {
                    client
                        .execute(
                            "INSERT INTO warren_components
                             (tenant, name, sha256, deployed_at, wasm, version, canary)
                         VALUES ($1, $2, $3, $4, $5, $6, $7)
                         ON CONFLICT (tenant, name) DO UPDATE SET sha256 = EXCLUDED.sha256,
                             deployed_at = EXCLUDED.deployed_at, wasm = EXCLUDED.wasm,
                             version = EXCLUDED.version, canary = EXCLUDED.canary",
                            &[
                                &record.tenant,
                                &record.name,
                                &record.sha256,
                                &deployed_at,
                                wasm,
                                &number,
                                &canary,
                            ],
                        )
                        .await
                }
                None => {
                    client
                        .execute(
                            "UPDATE warren_components SET sha256 = $3, deployed_at = $4,
                             version = $5, canary = $6
                         WHERE tenant = $1 AND name = $2",
                            &[
                                &record.tenant,
                                &record.name,
                                &record.sha256,
                                &deployed_at,
                                &number,
                                &canary,
                            ],
                        )
                        .await
                }
            };
            updated.map_err(io)?;
            Ok(())
        })
    }

    fn components(&self) -> StoreFuture<'_, Vec<ComponentRecord>> {
        Box::pin(async move {
            let rows = self
                .client()
                .await?
                .query(
                    "SELECT tenant, name, sha256, deployed_at, version, canary
                     FROM warren_components ORDER BY tenant, name",
                    &[],
                )
                .await
                .map_err(io)?;
            rows.iter()
                .map(|row| {
                    let canary = row
                        .get::<_, Option<String>>(5)
                        .map(|c| serde_json::from_str(&c))
                        .transpose()
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                    Ok(ComponentRecord {
                        tenant: row.get(0),
                        name: row.get(1),
                        sha256: row.get(2),
                        deployed_at: row.get::<_, i64>(3).max(0) as u64,
                        number: row.get::<_, i64>(4).max(0) as u64,
                        canary,
                    })
                })
                .collect()
        })
    }

    fn component_wasm(&self, tenant: &str, name: &str) -> StoreFuture<'_, Option<Vec<u8>>> {
        let (tenant, name) = (tenant.to_string(), name.to_string());
        Box::pin(async move {
            let row = self
                .client()
                .await?
                .query_opt(
                    "SELECT wasm FROM warren_components WHERE tenant = $1 AND name = $2",
                    &[&tenant, &name],
                )
                .await
                .map_err(io)?;
            Ok(row.map(|row| row.get(0)))
        })
    }

    fn remove_component(&self, tenant: &str, name: &str) -> StoreFuture<'_, bool> {
        let (tenant, name) = (tenant.to_string(), name.to_string());
        Box::pin(async move {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(io)?;
            let removed = tx
                .execute(
                    "DELETE FROM warren_components WHERE tenant = $1 AND name = $2",
                    &[&tenant, &name],
                )
                .await
                .map_err(io)?;
            tx.execute(
                "DELETE FROM warren_component_versions WHERE tenant = $1 AND name = $2",
                &[&tenant, &name],
            )
            .await
            .map_err(io)?;
            tx.commit().await.map_err(io)?;
            Ok(removed > 0)
        })
    }

    fn put_component_version(
        &self,
        version: &ComponentVersion,
        wasm: &[u8],
    ) -> StoreFuture<'_, ()> {
        let (v, wasm) = (version.clone(), wasm.to_vec());
        Box::pin(async move {
            let (number, deployed_at) = (v.number as i64, v.deployed_at as i64);
            self.client()
                .await?
                .execute(
                    "INSERT INTO warren_component_versions
                         (tenant, name, version, label, sha256, deployed_at, deployed_by,
                          manifest, wasm)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                     ON CONFLICT (tenant, name, version) DO UPDATE SET label = EXCLUDED.label,
                         sha256 = EXCLUDED.sha256, deployed_at = EXCLUDED.deployed_at,
                         deployed_by = EXCLUDED.deployed_by, manifest = EXCLUDED.manifest,
                         wasm = EXCLUDED.wasm",
                    &[
                        &v.tenant,
                        &v.name,
                        &number,
                        &v.version,
                        &v.sha256,
                        &deployed_at,
                        &v.deployed_by,
                        &v.manifest,
                        &wasm,
                    ],
                )
                .await
                .map_err(io)?;
            Ok(())
        })
    }

    fn component_versions(
        &self,
        tenant: &str,
        name: &str,
    ) -> StoreFuture<'_, Vec<ComponentVersion>> {
        let (tenant, name) = (tenant.to_string(), name.to_string());
        Box::pin(async move {
            let rows = self
                .client()
                .await?
                .query(
                    "SELECT tenant, name, version, label, sha256, deployed_at, deployed_by,
                         manifest
                     FROM warren_component_versions WHERE tenant = $1 AND name = $2
                     ORDER BY version",
                    &[&tenant, &name],
                )
                .await
                .map_err(io)?;
            Ok(rows
                .iter()
                .map(|row| ComponentVersion {
                    tenant: row.get(0),
                    name: row.get(1),
                    number: row.get::<_, i64>(2).max(0) as u64,
                    version: row.get(3),
                    sha256: row.get(4),
                    deployed_at: row.get::<_, i64>(5).max(0) as u64,
                    deployed_by: row.get(6),
                    manifest: row.get(7),
                })
                .collect())
        })
    }

    fn component_version_wasm(
        &self,
        tenant: &str,
        name: &str,
        number: u64,
    ) -> StoreFuture<'_, Option<Vec<u8>>> {
        let (tenant, name, version) = (tenant.to_string(), name.to_string(), number as i64);
        Box::pin(async move {
            let row = self
                .client()
                .await?
                .query_opt(
                    "SELECT wasm FROM warren_component_versions
                     WHERE tenant = $1 AND name = $2 AND version = $3",
                    &[&tenant, &name, &version],
                )
                .await
                .map_err(io)?;
            Ok(row.map(|row| row.get(0)))
        })
    }

    fn remove_component_version(
        &self,
        tenant: &str,
        name: &str,
        number: u64,
    ) -> StoreFuture<'_, bool> {
        let (tenant, name, version) = (tenant.to_string(), name.to_string(), number as i64);
        Box::pin(async move {
            let removed = self
                .client()
                .await?
                .execute(
                    "DELETE FROM warren_component_versions
                     WHERE tenant = $1 AND name = $2 AND version = $3",
                    &[&tenant, &name, &version],
                )
                .await
                .map_err(io)?;
            Ok(removed > 0)
        })
    }
}
