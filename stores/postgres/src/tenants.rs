//! [`TenantStore`] on PostgreSQL: tenants' records, and deleting a tenant with every row
//! it owns in one transaction.

use warren_store::{StoreFuture, TenantStore};

use crate::{PostgresStore, io};

impl TenantStore for PostgresStore {
    fn put_tenant(&self, name: &str, record: Vec<u8>) -> StoreFuture<'_, ()> {
        let name = name.to_string();
        Box::pin(async move {
            self.client()
                .await?
                .execute(
                    "INSERT INTO warren_tenants VALUES ($1, $2)
                     ON CONFLICT (name) DO UPDATE SET record = EXCLUDED.record",
                    &[&name, &record],
                )
                .await
                .map_err(io)?;
            Ok(())
        })
    }

    fn tenants(&self) -> StoreFuture<'_, Vec<Vec<u8>>> {
        Box::pin(async move {
            let rows = self
                .client()
                .await?
                .query("SELECT record FROM warren_tenants ORDER BY name", &[])
                .await
                .map_err(io)?;
            Ok(rows.iter().map(|row| row.get(0)).collect())
        })
    }

    fn delete_tenant(&self, name: &str) -> StoreFuture<'_, ()> {
        let name = name.to_string();
        Box::pin(async move {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(io)?;
            for table in [
                "warren_state",
                "warren_actors",
                "warren_reminders",
                "warren_tenant_usage",
                "warren_components",
                "warren_component_versions",
            ] {
                tx.execute(&format!("DELETE FROM {table} WHERE tenant = $1"), &[&name])
                    .await
                    .map_err(io)?;
            }
            tx.execute("DELETE FROM warren_tenants WHERE name = $1", &[&name])
                .await
                .map_err(io)?;
            tx.commit().await.map_err(io)
        })
    }
}
