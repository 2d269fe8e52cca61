//! Schema migrations: the plain files `sql/NNNN_name.sql`, applied in order at start-up.
//!
//! Each file runs in its own transaction and is recorded in `schema_migrations` with the
//! SHA-256 of its text. A file that was applied and has since changed stops start-up: the
//! database no longer matches the code, and guessing would be worse than stopping. Several
//! processes starting at once serialise on a PostgreSQL advisory lock.

use sha2::{Digest, Sha256};

use super::StoreError;

/// One migration file compiled into the binary.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// The file name, e.g. `0001_init.sql`.
    pub name: &'static str,
    /// The SQL text.
    pub sql: &'static str,
}

/// Every migration, in order. A unit test checks this list against the `sql/` directory.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        name: "0001_foundation.sql",
        sql: include_str!("../../sql/0001_foundation.sql"),
    },
    Migration {
        name: "0002_timestamp.sql",
        sql: include_str!("../../sql/0002_timestamp.sql"),
    },
    Migration {
        name: "0003_ledger.sql",
        sql: include_str!("../../sql/0003_ledger.sql"),
    },
    Migration {
        name: "0004_records.sql",
        sql: include_str!("../../sql/0004_records.sql"),
    },
];

/// Advisory lock key for migrations ("notarium" + "mig").
const MIGRATION_LOCK: i64 = 0x6e6f_7461_6d69_6701;

/// The SHA-256 (hex) of a migration's text.
pub fn checksum(sql: &str) -> String {
    hex::encode(Sha256::digest(sql.as_bytes()))
}

/// Applies every pending migration from `migrations`; returns the names applied now.
pub async fn apply(
    client: &mut tokio_postgres::Client,
    migrations: &[Migration],
) -> Result<Vec<String>, StoreError> {
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    let result = apply_locked(client, migrations).await;
    // Unlock even on failure; the session ends soon anyway, which also releases it.
    let _ = client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await;
    result
}

async fn apply_locked(
    client: &mut tokio_postgres::Client,
    migrations: &[Migration],
) -> Result<Vec<String>, StoreError> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                name text PRIMARY KEY,
                checksum text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )",
        )
        .await?;
    let rows = client
        .query("SELECT name, checksum FROM schema_migrations", &[])
        .await?;
    let applied: std::collections::HashMap<String, String> = rows
        .iter()
        .map(|r| (r.get::<_, String>(0), r.get::<_, String>(1)))
        .collect();
    let mut done = Vec::new();
    for m in migrations {
        let sum = checksum(m.sql);
        match applied.get(m.name) {
            Some(stored) if *stored == sum => continue,
            Some(stored) => {
                return Err(StoreError::MigrationChanged {
                    name: m.name.to_string(),
                    stored: stored.clone(),
                    current: sum,
                });
            }
            None => {}
        }
        let tx = client.transaction().await?;
        tx.batch_execute(m.sql)
            .await
            .map_err(|e| StoreError::MigrationFailed {
                name: m.name.to_string(),
                source: e,
            })?;
        tx.execute(
            "INSERT INTO schema_migrations (name, checksum) VALUES ($1, $2)",
            &[&m.name, &sum],
        )
        .await?;
        tx.commit().await?;
        tracing::info!(migration = m.name, "applied migration");
        done.push(m.name.to_string());
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sql_file_is_listed_in_order() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/sql");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .expect("sql/ exists")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".sql"))
            .collect();
        files.sort();
        let listed: Vec<&str> = MIGRATIONS.iter().map(|m| m.name).collect();
        assert_eq!(files, listed, "sql/ and MIGRATIONS must agree");
        for (i, name) in listed.iter().enumerate() {
            let n: usize = name[..4].parse().expect("NNNN_ prefix");
            assert_eq!(n, i + 1, "{name} is out of sequence");
        }
    }

    #[test]
    fn checksum_changes_with_text() {
        assert_ne!(checksum("SELECT 1;"), checksum("SELECT 2;"));
        assert_eq!(checksum("x").len(), 64);
    }
}
